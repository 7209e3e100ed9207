/**
 * A device's DWORD write on the bus, from the point where it leaves the function to
 * its outcome (DESIGN.md §1): outside the interrupt window it is DMA (src/platform/
 * dma-access.ts: translated when the unit translates); inside 0xFEEx_xxxx it is an
 * interrupt request that goes to the remapping unit covering the device, and ends
 * delivered to local APICs or blocked with a fault. Exactly one outcome event.
 *
 * Pure and immer-free: it takes a state and returns the state after the write (the
 * same object when nothing changed), copying only what changes. This is the MSI read
 * path, so it reads plain objects rather than immer drafts (reading through a draft
 * cost tens of microseconds per remap; see BENCHMARKS.md). New objects are left
 * unfrozen for the caller to freeze.
 */
import { unitWith } from './unit-copy.ts';
import type { PlatformEvent } from './events.ts';
import type { PlatformState, PciFunction, IommuUnit, InterruptEntryCache } from './state.ts';
import { isInterruptAddress, decodeCompatibilityAddress, decodeMsiData, compatibilityDestination } from '../x86/msi.ts';
import { acceptingCpus, arbitrationWinner, picksOne } from '../x86/apic.ts';
import { remapInterrupt, latchedEime } from '../vtd/interrupt-remapping.ts';
import { recordInterruptFault } from '../vtd/fault-recording.ts';
import { planPosting } from '../vtd/posting.ts';
import { postToPid, postToPidExtension } from '../vtd/pid-memory.ts';
import { directPostRequest, lookupDirectPost } from '../hypothetical/direct-post/lookup.ts';
import { notifyPcpu, ownPidProcessor, type RaisedInterrupt } from './notification.ts';
import { msiPairKey } from './msi-validation.ts';
import { postAndProcessPir } from '../x86/posted-processing.ts';
import { withVcpu } from './vcpu-table.ts';
import { PhysicalMemory } from '../memory/physical-memory.ts';
import { deviceDma } from './dma-access.ts';
import { VENDOR_PATHS } from './vendor.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Emit = (event: DistributiveOmit<PlatformEvent, 'step'>) => void;
/** Who wrote what: the fields every outcome event starts with. */
interface Source {
  readonly device: string;
  readonly rid: number;
  readonly address: bigint;
  readonly data: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * A shallow copy of `s`, field by field in PlatformState's order (buildPlatform's).
 * Not `{ ...s }`: V8 copies a frozen object (every state is) by spread about 5× slower
 * than by an explicit literal, and this runs on every MSI remap. The type annotation
 * makes a new PlatformState field (optional ones too) a compile error here until it is
 * copied.
 */
export function copyState(s: PlatformState): Mutable<PlatformState> {
  const copy: { -readonly [K in keyof PlatformState]-?: PlatformState[K] } = {
    memory: s.memory,
    hostAddressWidth: s.hostAddressWidth,
    interrupts: s.interrupts,
    cpus: s.cpus,
    iommus: s.iommus,
    devices: s.devices,
    fabric: s.fabric,
    domains: s.domains,
    vcpus: s.vcpus,
    hypervisor: s.hypervisor,
    intent: s.intent,
    vmm: s.vmm,
    amdvi: s.amdvi,
  };
  return copy;
}

/** A shallow copy of `u` with its IEC replaced, field by field for the reason given at {@link copyState}. */
function withIec(u: IommuUnit, iec: InterruptEntryCache): IommuUnit {
  return unitWith(u, iec, u.dma, u.directPost);
}

/** A shallow copy of `u` with its (hypothetical) direct-post state replaced, as {@link withIec}. */
function withDirectPost(u: IommuUnit, directPost: IommuUnit['directPost']): IommuUnit {
  return unitWith(u, u.iec, u.dma, directPost);
}


/** `state` with remapping unit `index` replaced by `unit`. */
function withUnit(state: PlatformState, index: number, unit: IommuUnit): PlatformState {
  const iommus = state.iommus.slice();
  iommus[index] = unit;
  const next = copyState(state);
  next.iommus = iommus;
  return next;
}

/**
 * Deliver a device write of `data` at `address` that reaches the root complex with
 * requester ID `rid` (after the fabric: src/platform/bus.ts). `fn` is the function that
 * really issued it (its location picks the remapping unit). Returns the state after the
 * write (`state` itself when nothing changed).
 */
export function deliverDeviceWrite(
  state: PlatformState,
  fn: PciFunction,
  rid: number,
  address: bigint,
  data: number,
  emit: Emit,
  raised: RaisedInterrupt[] = [],
): PlatformState {
  // Outside the interrupt window a dword write is ordinary DMA: translated when the unit translates.
  if (!isInterruptAddress(address)) return deviceDma(state, { fn, rid, address, size: 4, write: true, value: BigInt(data >>> 0) }, emit, raised);
  // Host-bridge MSI validation (POWER PHB, seed thread 003), before any IOMMU: one field test when off.
  if (state.interrupts.msiValidation !== undefined && !msiPairAssigned(state, rid, address, data, emit, fn)) return state;

  const iommu = fn.iommu;
  if (iommu === undefined) return compatibility(state, sourceOf(fn, rid, address, data), undefined, emit, raised);
  // The vendor seam (src/platform/vendor.ts): an AMD-Vi platform's units are elsewhere. One field test.
  if (state.amdvi !== undefined) return VENDOR_PATHS.amdvi.interrupt(state, fn, rid, address, data, emit, raised);
  const unit = state.iommus[iommu]!;
  // HYPOTHETICAL direct-post hardware (src/hypothetical/direct-post): with DPTA.DPE = 1 a
  // compatibility-format request (address bit 4 = 0) is looked up there instead. One field
  // test when the platform has none.
  if (unit.directPost !== undefined && (unit.directPost.dpta & 1n) === 1n && (address & 0x10n) === 0n) return directPost(state, fn, rid, address, data, iommu, unit, emit, raised);
  const { outcome, iec } = remapInterrupt(unit, state.memory, state.hostAddressWidth, { rid, address, data });
  if (iec !== unit.iec) state = withUnit(state, iommu, withIec(unit, iec));

  switch (outcome.kind) {
    case 'passthrough':
      return compatibility(state, sourceOf(fn, rid, address, data), iommu, emit, raised);
    case 'remapped': {
      const irte = outcome.irte;
      const candidates = acceptingCpus(state.cpus, state.interrupts.apicMode, outcome.apicId, irte.destinationModeLogical, state.interrupts.xapicLogicalModel);
      emit({
        kind: 'interrupt-delivered',
        // `...source` spelt out: a spread inside a literal is slow, and this is the hot path.
        device: fn.key,
        rid,
        address,
        data,
        path: 'remapped',
        iommu,
        irteIndex: outcome.irteIndex,
        iecHit: outcome.iecHit,
        destination: outcome.apicId,
        destinationMode: irte.destinationModeLogical ? 'logical' : 'physical',
        vector: irte.vector,
        deliveryMode: irte.deliveryMode,
        triggerMode: irte.triggerLevel ? 'level' : 'edge',
        redirectionHint: irte.redirectionHint,
        targets: arbitrationWinner(candidates, picksOne(irte.deliveryMode, irte.redirectionHint, irte.destinationModeLogical)),
        candidates,
      });
      if (state.hypervisor.softwareRoutes !== undefined || state.vmm !== undefined) raiseRouted(state, candidates, irte.deliveryMode, irte.vector, picksOne(irte.deliveryMode, irte.redirectionHint, irte.destinationModeLogical), raised);
      return state;
    }
    case 'posted': {
      const irte = outcome.irte;
      const posted = planPosting(state.memory, state.hostAddressWidth, irte, latchedEime(unit.regs.irtaLatched));
      if (posted.kind === 'fault') {
        return recordFault(state, sourceOf(fn, rid, address, data), emit, withIec(unit, iec), iommu, { reason: posted.reason, irteIndex: outcome.irteIndex, qualified: true, fpd: irte.fpd });
      }
      const n = posted.notification;
      const targets = n === undefined ? [] : acceptingCpus(state.cpus, state.interrupts.apicMode, n.apicId, false);
      emit({
        kind: 'interrupt-posted',
        // `...source` and `...n` spelt out: a spread inside a literal is slow, and this is the hot path.
        device: fn.key,
        rid,
        address,
        data,
        iommu,
        irteIndex: outcome.irteIndex,
        iecHit: outcome.iecHit,
        pda: posted.pda,
        virtualVector: posted.virtualVector,
        urgent: irte.urgent,
        snSet: posted.snSet,
        notification: n === undefined ? undefined : { vector: n.vector, apicId: n.apicId, targets },
        suppressed: posted.suppressed,
      });
      const copy = copyState(state);
      // The common case: one target pCPU, running the very vCPU whose PID was posted to, in
      // guest mode. Posting and processing are then one update of the PID (same memory, vCPU
      // and events as postToPid then notifyPcpu). On direct memory only: the explorer's
      // reference counting (a proxy around the memory) keeps seeing the two separate updates.
      if (targets.length === 1 && PhysicalMemory.isDirect(state.memory)) {
        const pcpu = targets[0]!;
        const own = ownPidProcessor(state, pcpu, n!.vector, posted.pda);
        if (own !== undefined) {
          const r = postAndProcessPir(state.memory, own, posted.virtualVector);
          emit({ kind: 'pir-processed', vcpu: own.id, pcpu, vectors: r.vectors, by: 'notification' });
          copy.memory = r.memory;
          copy.vcpus = withVcpu(state.vcpus, r.vcpu);
          return copy;
        }
      }
      copy.memory = postToPid(state.memory, irte.pda, irte.virtualVector, n !== undefined);
      let next: PlatformState = copy;
      for (const pcpu of targets) next = notifyPcpu(next, pcpu, n!.vector, emit, raised);
      return next;
    }
    case 'fault':
      return recordFault(state, sourceOf(fn, rid, address, data), emit, withIec(unit, iec), iommu, outcome);
  }
}

/**
 * Whether the host bridge accepts the interrupt write `address`/`data` arriving with requester
 * ID `rid`: the pair must be one the hypervisor assigned (`msi-assign`) to the partitionable
 * endpoint `rid` names — every function whose requester ID at the root is `rid` (functions
 * aliased behind a PCIe-to-PCI bridge are one endpoint). Otherwise emits `msi-validation`
 * (the bridge blocks the write and records an error) and returns false.
 */
function msiPairAssigned(state: PlatformState, rid: number, address: bigint, data: number, emit: Emit, fn: PciFunction): boolean {
  const pairs = state.interrupts.msiValidation!.byRequester?.[rid];
  if (pairs !== undefined && (pairs[msiPairKey(address, data)] ?? 0) > 0) return true;
  emit({ kind: 'msi-validation', device: fn.key, rid, address, data, assigned: pairs === undefined ? 0 : Object.values(pairs).reduce((n, c) => n + c, 0) });
  return false;
}

/** The Source of a write, built only on the paths that pass it on (the remapped and posted events spell it out). */
function sourceOf(fn: PciFunction, rid: number, address: bigint, data: number): Source {
  return { device: fn.key, rid, address, data };
}

// The helpers below are module-level functions rather than closures inside
// deliverDeviceWrite: creating closures on every device write was measurable on the
// MSI read path (tsx also wraps each one to keep its name).

/** The request passes unremapped (no unit, IR off, or CFI pass-through): deliver it in compatibility format. */
export function compatibility(state: PlatformState, source: Source, iommu: number | undefined, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  const a = decodeCompatibilityAddress(source.address);
  const d = decodeMsiData(source.data);
  const destination = compatibilityDestination(a, state.interrupts.extendedDestinationId);
  const candidates = acceptingCpus(state.cpus, state.interrupts.apicMode, destination, a.destinationModeLogical, state.interrupts.xapicLogicalModel);
  emit({
    kind: 'interrupt-delivered',
    ...source,
    path: 'compatibility',
    iommu,
    irteIndex: undefined,
    iecHit: undefined,
    destination,
    destinationMode: a.destinationModeLogical ? 'logical' : 'physical',
    vector: d.vector,
    deliveryMode: d.deliveryMode,
    triggerMode: d.triggerLevel ? 'level' : 'edge',
    redirectionHint: a.redirectionHint,
    targets: arbitrationWinner(candidates, picksOne(d.deliveryMode, a.redirectionHint, a.destinationModeLogical)),
    candidates,
  });
  if (state.hypervisor.softwareRoutes !== undefined || state.vmm !== undefined) raiseRouted(state, candidates, d.deliveryMode, d.vector, picksOne(d.deliveryMode, a.redirectionHint, a.destinationModeLogical), raised);
  return state;
}

/**
 * A delivered vectored interrupt whose vector the hypervisor routes in software is taken by
 * the hypervisor on the pCPU that accepts it (in guest mode an external interrupt exits the
 * VM): it becomes a `host-interrupt` request, which the policy answers by injecting the
 * guest interrupt (KVM: vfio_msihandler → eventfd → irqfd). One pCPU for a one-of-the-set
 * message (the model's arbitration winner), each for a multicast. The VMM's host vectors
 * (VFIO's eventfd, Xen's pirq: src/vmm) are taken the same way.
 */
export function raiseRouted(state: PlatformState, candidates: readonly number[], deliveryMode: number, vector: number, oneOf: boolean, raised: RaisedInterrupt[]): void {
  if ((deliveryMode !== 0 && deliveryMode !== 1) || (state.hypervisor.softwareRoutes?.[vector] === undefined && state.vmm?.hostVectors[vector] === undefined)) return;
  for (const pcpu of oneOf ? candidates.slice(0, 1) : candidates) raised.push({ pcpu, vector });
}

/** Record a fault at unit `index` (`current` is the unit with its IEC after the lookup) unless FPD suppresses it. */
function recordFault(
  state: PlatformState,
  source: Source,
  emit: Emit,
  current: IommuUnit,
  index: number,
  f: { reason: number; irteIndex: number | undefined; qualified: boolean; fpd: boolean },
): PlatformState {
  let frcd: number | undefined;
  let next = state;
  if (!(f.qualified && f.fpd)) {
    const r = recordInterruptFault(current, { reason: f.reason, sid: source.rid, index: f.irteIndex ?? 0 });
    next = withUnit(state, index, r.unit);
    frcd = r.record;
  }
  emit({ kind: 'interrupt-fault', ...source, iommu: index, reason: f.reason, irteIndex: f.irteIndex, qualified: f.qualified, frcd });
  return next;
}

/**
 * HYPOTHETICAL direct posting (src/hypothetical/direct-post; no specification has it): the
 * compatibility-format request from `rid` names vAPIC ID + vector; the unit looks the pair
 * up through its direct-post cache and tables and posts the vector into the PID the vAPIC
 * entry names, exactly as VT-d posting does (src/vtd/posting.ts planPosting: PIR bit, and if
 * ON was clear and SN clear or URG, ON set and NV sent to NDST). NDST is read as an x2APIC ID
 * when the platform's APIC mode is x2APIC (how the policies write it, src/policy/common.ts).
 * Wide vectors (≥ 256) go into the PIR extension (src/vtd/pid-memory.ts postToPidExtension).
 * A fault (0xD0–0xD5, or VT-d's 0x28 for PID reserved bits) is recorded in FRCD with
 * FI = the vAPIC ID; none is qualified.
 */
function directPost(state: PlatformState, fn: PciFunction, rid: number, address: bigint, data: number, iommu: number, unit: IommuUnit, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  const config = state.interrupts.directPost;
  const dp = unit.directPost!;
  if (config === undefined) return state; // a unit cannot have the extension without the platform's
  const req = directPostRequest(address, data, config.vectorBits, state.interrupts.extendedDestinationId);
  if (req.kind === 'fault') return directPostFault(state, sourceOf(fn, rid, address, data), emit, unit, iommu, req.reason, req.vapicId);
  const { outcome, cache } = lookupDirectPost(dp, state.memory, state.hostAddressWidth, config, rid, req.vapicId);
  let current = unit;
  if (cache !== dp.cache) {
    current = withDirectPost(unit, { dpta: dp.dpta, cache });
    state = withUnit(state, iommu, current);
  }
  if (outcome.kind === 'fault') return directPostFault(state, sourceOf(fn, rid, address, data), emit, current, iommu, outcome.reason, req.vapicId);
  const entry = outcome.entry;
  const x2apic = state.interrupts.apicMode === 'x2apic';
  const posted = planPosting(state.memory, state.hostAddressWidth, { mode: 'posted', present: true, fpd: false, avail: 0, urgent: entry.urgent, virtualVector: req.vector, pda: entry.pda, sid: rid, sq: 0, svt: 0 }, x2apic);
  if (posted.kind === 'fault') return directPostFault(state, sourceOf(fn, rid, address, data), emit, current, iommu, posted.reason, req.vapicId);
  const n = posted.notification;
  const targets = n === undefined ? [] : acceptingCpus(state.cpus, state.interrupts.apicMode, n.apicId, false);
  emit({
    kind: 'interrupt-posted',
    device: fn.key,
    rid,
    address,
    data,
    iommu,
    irteIndex: undefined,
    iecHit: false,
    pda: entry.pda,
    virtualVector: req.vector,
    urgent: entry.urgent,
    snSet: posted.snSet,
    notification: n === undefined ? undefined : { vector: n.vector, apicId: n.apicId, targets },
    suppressed: posted.suppressed,
    directPost: { vapicId: req.vapicId, cacheHit: outcome.cacheHit },
  });
  const copy = copyState(state);
  // The running-vCPU fast path of the VT-d posted case; 8-bit vectors only (the PIR extension is not fused).
  if (targets.length === 1 && config.vectorBits <= 8 && PhysicalMemory.isDirect(state.memory)) {
    const pcpu = targets[0]!;
    const own = ownPidProcessor(state, pcpu, n!.vector, entry.pda);
    if (own !== undefined) {
      const r = postAndProcessPir(state.memory, own, req.vector);
      emit({ kind: 'pir-processed', vcpu: own.id, pcpu, vectors: r.vectors, by: 'notification' });
      copy.memory = r.memory;
      copy.vcpus = withVcpu(state.vcpus, r.vcpu);
      return copy;
    }
  }
  copy.memory = req.vector >= 256 ? postToPidExtension(state.memory, entry.pda, req.vector, n !== undefined) : postToPid(state.memory, entry.pda, req.vector, n !== undefined);
  let next: PlatformState = copy;
  for (const pcpu of targets) next = notifyPcpu(next, pcpu, n!.vector, emit, raised);
  return next;
}

/** Record a (hypothetical) direct-post fault at unit `index`: FRCD with SID = requester ID, FI[63:48] = the vAPIC ID; never suppressed. */
function directPostFault(state: PlatformState, source: Source, emit: Emit, current: IommuUnit, index: number, reason: number, vapicId: number): PlatformState {
  const r = recordInterruptFault(current, { reason, sid: source.rid, index: vapicId & 0xffff });
  emit({ kind: 'interrupt-fault', ...source, iommu: index, reason, irteIndex: undefined, qualified: false, frcd: r.record, directPost: { vapicId } });
  return withUnit(state, index, r.unit);
}
