/**
 * A device's DWORD write on the bus, from the point where it leaves the function to
 * its outcome (DESIGN.md §1): outside the interrupt window it reaches memory (DMA
 * translation is not modelled yet, so untranslated); inside 0xFEEx_xxxx it is an
 * interrupt request that goes to the remapping unit covering the device, and ends
 * delivered to local APICs or blocked with a fault. Exactly one outcome event.
 *
 * Pure and immer-free: it takes a state and returns the state after the write (the
 * same object when nothing changed), copying only what changes. This is the MSI read
 * path, so it reads plain objects rather than immer drafts (reading through a draft
 * cost tens of microseconds per remap; see BENCHMARKS.md). New objects are left
 * unfrozen for the caller to freeze.
 */
import type { PlatformEvent } from './events.ts';
import type { PlatformState, PciFunction, IommuUnit } from './state.ts';
import { unitFor } from './topology.ts';
import { isInterruptAddress, decodeCompatibilityAddress, decodeMsiData, compatibilityDestination } from '../x86/msi.ts';
import { acceptingCpus } from '../x86/apic.ts';
import { remapInterrupt } from '../vtd/interrupt-remapping.ts';
import { recordInterruptFault } from '../vtd/fault-recording.ts';
import { postInterrupt } from '../vtd/posting.ts';
import { decodeIrta } from '../vtd/registers.ts';

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
 * makes a new required PlatformState field a compile error here until it is copied.
 */
export function copyState(s: PlatformState): Mutable<PlatformState> {
  const copy: Mutable<PlatformState> = {
    step: s.step,
    memory: s.memory,
    hostAddressWidth: s.hostAddressWidth,
    interrupts: s.interrupts,
    cpus: s.cpus,
    iommus: s.iommus,
    devices: s.devices,
    domains: s.domains,
    intent: s.intent,
  };
  return copy;
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
 * Deliver a device write of `data` at `address` with requester ID `rid` on the bus.
 * `fn` is the function that really issued it (its location picks the remapping unit).
 * Returns the state after the write; `step` is left as it is.
 */
export function deliverDeviceWrite(
  state: PlatformState,
  fn: PciFunction,
  rid: number,
  address: bigint,
  data: number,
  emit: Emit,
): PlatformState {
  const source = { device: fn.key, rid, address, data };
  if (!isInterruptAddress(address)) {
    const memory = state.memory.writeLE(address, 4, BigInt(data >>> 0));
    emit({ kind: 'dma-write', ...source });
    const next = copyState(state);
    next.memory = memory;
    return next;
  }

  const iommu = unitFor(state, fn.segment, fn.rid, fn.upstream);
  if (iommu === undefined) return compatibility(state, source, undefined, emit);
  const unit = state.iommus[iommu]!;
  const { outcome, iec } = remapInterrupt(unit, state.memory, state.hostAddressWidth, { rid, address, data });
  if (iec !== unit.iec) state = withUnit(state, iommu, { ...unit, iec });

  switch (outcome.kind) {
    case 'passthrough':
      return compatibility(state, source, iommu, emit);
    case 'remapped': {
      const irte = outcome.irte;
      emit({
        kind: 'interrupt-delivered',
        ...source,
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
        targets: acceptingCpus(state.cpus, state.interrupts.apicMode, outcome.apicId, irte.destinationModeLogical, irte.deliveryMode, irte.redirectionHint),
      });
      return state;
    }
    case 'posted': {
      const eime = decodeIrta(unit.regs.irtaLatched).eime;
      const posted = postInterrupt(state.memory, state.hostAddressWidth, outcome.irte, eime);
      if (posted.outcome.kind === 'fault') {
        return recordFault(state, source, emit, { ...unit, iec }, iommu, { reason: posted.outcome.reason, irteIndex: outcome.irteIndex, qualified: true, fpd: outcome.irte.fpd });
      }
      const n = posted.outcome.notification;
      emit({
        kind: 'interrupt-posted',
        ...source,
        iommu,
        irteIndex: outcome.irteIndex,
        iecHit: outcome.iecHit,
        pda: posted.outcome.pda,
        virtualVector: posted.outcome.virtualVector,
        urgent: outcome.irte.urgent,
        notification: n === undefined ? undefined : { ...n, targets: acceptingCpus(state.cpus, state.interrupts.apicMode, n.apicId, false, 0, false) },
        suppressed: posted.outcome.suppressed,
      });
      const next = copyState(state);
      next.memory = posted.memory;
      return next;
    }
    case 'fault':
      return recordFault(state, source, emit, { ...unit, iec }, iommu, outcome);
  }
}

// The two helpers below are module-level functions rather than closures inside
// deliverDeviceWrite: creating closures on every device write was measurable on the
// MSI read path (tsx also wraps each one to keep its name).

/** The request passes unremapped (no unit, IR off, or CFI pass-through): deliver it in compatibility format. */
function compatibility(state: PlatformState, source: Source, iommu: number | undefined, emit: Emit): PlatformState {
  const a = decodeCompatibilityAddress(source.address);
  const d = decodeMsiData(source.data);
  const destination = compatibilityDestination(a, state.interrupts.extendedDestinationId);
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
    targets: acceptingCpus(state.cpus, state.interrupts.apicMode, destination, a.destinationModeLogical, d.deliveryMode, a.redirectionHint),
  });
  return state;
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
