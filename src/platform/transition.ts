/**
 * The platform's transition function: `(state, action) -> { state, events }`, pure,
 * built with immer. Each action kind has one handler in a table; a handler mutates
 * the draft and emits events. Hardware handlers are total: any input, however
 * malformed, yields a defined outcome event; an action naming something that does
 * not exist yields an `action-rejected` event instead of throwing.
 *
 * Device writes (the messages an action makes a function send) are not performed in
 * the draft: a handler returns them and they are delivered after `produce`, in order,
 * by the pure `deliverDeviceWrite`. After every primitive, a remapping unit's own event
 * interrupts it made due (a fault event or an invalidation-completion event, pending with IM =
 * 0) are sent (src/platform/event-interrupts.ts). An `msi-write` changes nothing before its
 * delivery, so it skips immer altogether; this is the MSI read path, and immer's
 * drafts cost tens of microseconds per remap there (BENCHMARKS.md). Kinds whose handlers
 * only assign whole root fields ({@link ROOT_FIELD_KINDS}) get a plain copy of the root as
 * their "draft", without immer, for the same reason. Either way the
 * result is a new state sharing everything it did not change with the one before; a transition
 * that changes no hardware state (an IEC-hit remap, a rejected action) returns the very state it
 * was given. The step number is not part of the state: the caller passes it and it stamps the
 * events (a step counter in the state made every transition a new root). States are immutable by contract and deeply frozen (as immer's auto-freeze
 * would leave them) only in the debug mode REMAPSIM_FREEZE=1 (src/platform/freeze-mode.ts),
 * which the tests run in.
 */
import { unitsWith } from './unit-copy.ts';
import { produce, type Draft } from 'immer';
import { FREEZE_STATES } from './freeze-mode.ts';
import type { Action, ActionKind, ActionOf } from './actions.ts';
import type { PlatformEvent } from './events.ts';
import type { PlatformState, IommuUnit, PciFunction } from './state.ts';
import { writeGcmd, writeIrta } from '../vtd/ir-registers.ts';
import { decodeIrta } from '../vtd/registers.ts';
import { IRTE_BYTES } from '../vtd/irte.ts';
import { clearFaultRecord } from '../vtd/fault-recording.ts';
import { releasePending, signal, type Message } from '../pci/msi-capability.ts';
import { deliverDeviceWrite, copyState } from './device-write.ts';
import { hexDigits } from '../bits/bits.ts';
import { notifyPcpu, type RaisedInterrupt } from './notification.ts';
import { processPir, highestVector } from '../x86/posted-processing.ts';
import { updatePid } from '../vtd/pid-memory.ts';
import { pirVectors } from '../vtd/pid.ts';
import { isPolicyRequest, type PolicyRequest } from '../policy/policy.ts';
import { policyNamed } from '../policy/index.ts';
import { grantCoversVector, type HypervisorIntent, type IntendedRoute, type SoftwareRoute, type Vcpu } from './state.ts';
import { dmaHandlers } from './dma-handlers.ts';
import { directInvalidation, registerHandlers } from './register-handlers.ts';
import { sendEventInterrupts } from './event-interrupts.ts';
import { deviceDma, dmaActionCarriable, MAX_U64 } from './dma-access.ts';
import { malformedField } from './action-fields.ts';
import { withEntry } from '../util/keyed-record.ts';
import { grantsWithout } from './grants.ts';
import { traverseFabric } from './bus.ts';
import { runningVcpu, vcpuAt, withVcpu, type VcpuTable } from './vcpu-table.ts';
import { avicTakeIrr } from '../x86/avic.ts';
import { vmmHandlers, type VmmKind } from './vmm-handlers.ts';
import { directPostHandlers, type DirectPostKind } from './direct-post-handlers.ts';
import { amdviHandlers } from './amdvi-handlers.ts';
import { isVmmRequest, vmmRefusal, vmmRespond, type VmmRequest } from '../vmm/respond.ts';

export interface TransitionResult {
  readonly state: PlatformState;
  readonly events: readonly PlatformEvent[];
}

export type Emit = (event: DistributiveOmit<PlatformEvent, 'step'>) => void;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A write a function puts on the bus, delivered after the handler's draft is finalised. */
export interface DeviceWrite {
  readonly fn: PciFunction;
  /** The requester ID the function emits (the fabric decides what reaches the IOMMU). */
  readonly rid: number;
  readonly address: bigint;
  readonly data: number;
}
export type Handler<K extends ActionKind> = (
  draft: Draft<PlatformState>,
  action: ActionOf<K>,
  emit: Emit,
  before: PlatformState,
  raised: RaisedInterrupt[],
) => readonly DeviceWrite[] | void;

/** Primitive actions: everything but the requests a policy or the VMM layer answers. */
type PrimitiveKind = Exclude<ActionKind, PolicyRequest['kind'] | VmmRequest['kind']>;

function vcpuOrReject(state: PlatformState, id: number, emit: Emit): Vcpu | undefined {
  const v = vcpuAt(state.vcpus, id);
  if (v === undefined) emit({ kind: 'action-rejected', why: `no vCPU ${id} (the platform has ${state.vcpus.count})` });
  return v;
}

/** Copy the fields a pure helper changed into the draft. */
function assignState(draft: Draft<PlatformState>, next: PlatformState, before: PlatformState): void {
  if (next.memory !== before.memory) draft.memory = next.memory;
  if (next.vcpus !== before.vcpus) draft.vcpus = next.vcpus as Draft<VcpuTable>;
}

export function unitOrReject(state: PlatformState, iommu: number, emit: Emit): IommuUnit | undefined {
  const unit = state.iommus[iommu];
  if (unit === undefined) emit({ kind: 'action-rejected', why: `no remapping unit ${iommu} (the platform has ${state.iommus.length})` });
  return unit;
}

export function deviceOrReject(state: PlatformState, key: string, emit: Emit): PciFunction | undefined {
  // Own keys only: `__proto__` or `constructor` names no function.
  const fn = Object.hasOwn(state.devices, key) ? state.devices[key] : undefined;
  if (fn === undefined) emit({ kind: 'action-rejected', why: `no PCI function ${key}` });
  return fn;
}

/**
 * Set function `key` of `before` to `fn` in the draft: a new `devices` record set at the
 * root, built outside immer (src/util/keyed-record.ts: immer's copy of the record through
 * `draft.devices[key]` was most of the cost of an MSI programming action with 256 devices).
 * When `fn` is the function `before` already holds (a signal that sends its message, a
 * programming that writes what is there), nothing is set, so the transition returns `before`.
 */
function setDevice(draft: Draft<PlatformState>, before: PlatformState, key: string, fn: PciFunction): void {
  if (before.devices[key] === fn) return;
  draft.devices = withEntry(before.devices, key, fn) as Draft<Record<string, PciFunction>>;
}

/** The messages a function released, in order, as device writes. */
function sendAll(fn: PciFunction, messages: readonly Message[]): DeviceWrite[] {
  return messages.map((m) => ({ fn, rid: fn.rid, address: m.address, data: m.data }));
}

/**
 * Freeze a state built from `base` without immer, as immer's auto-freeze would leave
 * it. A frozen `base` is one this module produced, hence frozen throughout, so only the
 * fields that differ from it are walked (Object.isFrozen on every field costs more than
 * the rest of an IEC-hit remap); an unfrozen one (fresh from buildPlatform) is walked
 * whole, once.
 */
function freezeResult(next: PlatformState, base: PlatformState): void {
  // Debug mode only (src/platform/freeze-mode.ts): off, states are immutable by contract.
  if (!FREEZE_STATES) return;
  if (!Object.isFrozen(base)) return freezeNew(next);
  // The root's fields are compared one by one, by name (rather than by freezeDiff or a
  // for-in loop, whose keyed loads cost a quarter of an IEC-hit remap): on an IEC hit
  // nothing below the root is new. STATE_FIELDS makes a new field a compile error until
  // it is listed here.
  Object.freeze(next);
  if (next.memory !== base.memory) freezeDiff(next.memory, base.memory);
  if (next.hostAddressWidth !== base.hostAddressWidth) freezeDiff(next.hostAddressWidth, base.hostAddressWidth);
  if (next.interrupts !== base.interrupts) freezeDiff(next.interrupts, base.interrupts);
  if (next.cpus !== base.cpus) freezeDiff(next.cpus, base.cpus);
  if (next.iommus !== base.iommus) freezeDiff(next.iommus, base.iommus);
  if (next.devices !== base.devices) freezeDiff(next.devices, base.devices);
  if (next.fabric !== base.fabric) freezeDiff(next.fabric, base.fabric);
  if (next.domains !== base.domains) freezeDiff(next.domains, base.domains);
  if (next.vcpus !== base.vcpus) freezeDiff(next.vcpus, base.vcpus);
  if (next.hypervisor !== base.hypervisor) freezeDiff(next.hypervisor, base.hypervisor);
  if (next.intent !== base.intent) freezeDiff(next.intent, base.intent);
  if (next.vmm !== base.vmm && next.vmm !== undefined) freezeDiff(next.vmm, base.vmm);
  if (next.amdvi !== base.amdvi && next.amdvi !== undefined) freezeDiff(next.amdvi, base.amdvi);
}

/** Every PlatformState field: a new one is a compile error here, a reminder to compare it in freezeResult too. */
const STATE_FIELDS: { readonly [K in keyof PlatformState]-?: true } = {
  vmm: true,
  amdvi: true,
  memory: true,
  hostAddressWidth: true,
  interrupts: true,
  cpus: true,
  iommus: true,
  devices: true,
  fabric: true,
  domains: true,
  vcpus: true,
  hypervisor: true,
  intent: true,
};
void STATE_FIELDS;

/**
 * Freeze what `next` does not share with the frozen `base` at the same place: shared
 * values are skipped by identity, changed plain objects and arrays are compared key by
 * key with their old versions, and values with no old version are frozen whole.
 */
function freezeDiff(next: unknown, base: unknown): void {
  if (next === base || typeof next !== 'object' || next === null || Object.isFrozen(next)) return;
  if (typeof base !== 'object' || base === null || Array.isArray(next) !== Array.isArray(base)) return freezeNew(next);
  if (Array.isArray(next)) {
    const old = base as readonly unknown[];
    Object.freeze(next);
    for (let i = 0; i < next.length; i++) freezeDiff(next[i], old[i]);
    return;
  }
  const proto: unknown = Object.getPrototypeOf(next);
  if (proto !== Object.prototype && proto !== null) return;
  const old = base as Record<string, unknown>;
  Object.freeze(next);
  for (const k in next) freezeDiff((next as Record<string, unknown>)[k], old[k]);
}

/**
 * Freeze `value` and every plain object or array under it that is not frozen yet (what
 * immer's auto-freeze does to a produced state): new objects are unfrozen, shared ones
 * already frozen, so only the copied path is walked. Class instances (PhysicalMemory)
 * are left alone, as immer leaves non-draftable values.
 */
function freezeNew(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  if (Array.isArray(value)) {
    Object.freeze(value);
    for (const v of value) freezeNew(v);
    return;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return;
  Object.freeze(value);
  for (const k in value) freezeNew((value as Record<string, unknown>)[k]);
}

type DmaKind = 'write-rtaddr' | 'invalidate-dma' | 'invalidation-wait' | 'dma-root' | 'map-dma' | 'unmap-dma' | 'dma';
/** Handled in src/platform/register-handlers.ts. */
type RegisterKind = 'write-iqt' | 'write-register';
type VcpuKind = 'pid-write' | 'vcpu-set' | 'sync-pir' | 'blocked-list' | 'ndst-stale' | 'irte-allocated' | 'self-ipi' | 'guest-ack' | 'guest-eoi' | 'software-route' | 'inject-interrupt' | 'intend-route';

const handlers: { [K in Exclude<PrimitiveKind, VcpuKind | DmaKind | RegisterKind | VmmKind | DirectPostKind | 'amdvi-write-register'>]: Handler<K> } = {
  'write-irta'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const r = writeIrta(unit, a.value);
    draft.iommus = unitsWith(before.iommus, a.iommu, r.unit) as Draft<IommuUnit[]>;
    emit({ kind: 'register-write', iommu: a.iommu, register: 'IRTA', value: a.value, gsts: r.unit.regs.gsts, changed: r.changed, note: r.note });
  },

  'write-gcmd'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const r = writeGcmd(unit, a.value >>> 0);
    draft.iommus = unitsWith(before.iommus, a.iommu, r.unit) as Draft<IommuUnit[]>;
    emit({ kind: 'register-write', iommu: a.iommu, register: 'GCMD', value: BigInt(a.value >>> 0), gsts: r.unit.regs.gsts, changed: r.changed, note: r.note });
  },

  'write-memory'(draft, a, emit, before) {
    try {
      draft.memory = before.memory.writeLE(a.address, a.bytes, a.value);
    } catch (e) {
      return void emit({ kind: 'action-rejected', why: (e as Error).message });
    }
    emit({ kind: 'memory-write', address: a.address, bytes: a.bytes, value: a.value, what: a.what });
  },

  'write-irte'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const address = decodeIrta(unit.regs.irta).base + BigInt(a.index * IRTE_BYTES);
    // Software's store to the table: beyond 64 bits (or a negative index) there is no such memory.
    if (a.index < 0 || address + BigInt(IRTE_BYTES) > 1n << 64n) return void emit({ kind: 'action-rejected', why: `IRTE ${a.index} of ${unit.name} at 0x${address.toString(16)} is outside 64-bit physical memory` });
    draft.memory = before.memory.writeLE(address, IRTE_BYTES, a.value);
    emit({ kind: 'memory-write', address, bytes: IRTE_BYTES, value: a.value, what: `IRTE ${a.index} of ${unit.name}` });
  },

  'invalidate-iec'(draft, a, emit, before) {
    // "The queue processes this descriptor now" (src/vtd/invalidation-queue.ts `processDirect`).
    directInvalidation(draft, before, a.iommu, a.descriptor, emit);
  },

  'clear-fault'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const next = clearFaultRecord(unit, a.record);
    draft.iommus = unitsWith(before.iommus, a.iommu, next) as Draft<IommuUnit[]>;
    emit({ kind: 'register-write', iommu: a.iommu, register: 'FRCD', value: BigInt(a.record), gsts: next.regs.gsts, changed: [], note: undefined });
  },

  'msi-write'(_draft, a, emit, before) {
    return msiWrite(before, a, emit);
  },

  'program-msi'(draft, a, emit, before) {
    const fn = deviceOrReject(before, a.device, emit);
    if (!fn) return;
    if (fn.msi === undefined) return void emit({ kind: 'action-rejected', why: `${a.device} has no MSI capability` });
    const mme = a.mme === undefined ? fn.msi.mme : Math.min(a.mme, fn.msi.mmc);
    const old = fn.msi;
    const msi = {
      ...old,
      enabled: a.enabled ?? old.enabled,
      address: a.address ?? old.address,
      data: a.data === undefined ? old.data : a.data & 0xffff,
      mme,
      mask: a.mask ?? old.mask,
    };
    // Writing what the capability already holds changes nothing (the function stays the same object).
    const same = msi.enabled === old.enabled && msi.address === old.address && msi.data === old.data && msi.mme === old.mme && msi.mask === old.mask;
    const released = releasePending(same ? fn : { ...fn, msi });
    setDevice(draft, before, a.device, released.fn);
    emit({ kind: 'msi-config', device: a.device, change: `MSI ${msi.enabled ? 'enabled' : 'disabled'} address ${hexDigits(msi.address, 8)} data ${hexDigits(msi.data, 4)} vectors ${1 << msi.mme} mask ${hexDigits(msi.mask, 8)}` });
    return sendAll(released.fn, released.messages);
  },

  'program-msix'(draft, a, emit, before) {
    const fn = deviceOrReject(before, a.device, emit);
    if (!fn) return;
    const entry = fn.msix?.table[a.entry];
    if (fn.msix === undefined || entry === undefined) {
      return void emit({ kind: 'action-rejected', why: `${a.device} has no MSI-X table entry ${a.entry}` });
    }
    const e = { address: a.address ?? entry.address, data: a.data ?? entry.data, masked: a.masked ?? entry.masked };
    // Writing what the entry already holds changes nothing (the function stays the same object).
    let programmed: PciFunction = fn;
    if (e.address !== entry.address || e.data !== entry.data || e.masked !== entry.masked) {
      const table = fn.msix.table.slice();
      table[a.entry] = e;
      programmed = { ...fn, msix: { ...fn.msix, table } };
    }
    const released = releasePending(programmed);
    setDevice(draft, before, a.device, released.fn);
    emit({ kind: 'msi-config', device: a.device, change: `MSI-X entry ${a.entry} ← address ${hexDigits(e.address, 8)} data ${hexDigits(e.data, 8)} ${e.masked ? 'masked' : 'unmasked'}` });
    return sendAll(released.fn, released.messages);
  },

  'msix-control'(draft, a, emit, before) {
    const fn = deviceOrReject(before, a.device, emit);
    if (!fn) return;
    if (fn.msix === undefined) return void emit({ kind: 'action-rejected', why: `${a.device} has no MSI-X capability` });
    const msix = { ...fn.msix, enabled: a.enabled ?? fn.msix.enabled, functionMask: a.functionMask ?? fn.msix.functionMask };
    const same = msix.enabled === fn.msix.enabled && msix.functionMask === fn.msix.functionMask;
    const released = releasePending(same ? fn : { ...fn, msix });
    setDevice(draft, before, a.device, released.fn);
    emit({ kind: 'msi-config', device: a.device, change: `MSI-X ${msix.enabled ? 'enabled' : 'disabled'}${msix.functionMask ? ', function masked' : ''}` });
    return sendAll(released.fn, released.messages);
  },

  signal(draft, a, emit, before) {
    const fn = deviceOrReject(before, a.device, emit);
    if (!fn) return;
    if (before.vmm?.devices[a.device] !== undefined) emit({ kind: 'device-raised', device: a.device, entry: a.vector });
    const r = signal(fn, a.vector);
    if (r.kind === 'dropped') return void emit({ kind: 'msi-dropped', device: a.device, vector: a.vector, why: r.why });
    setDevice(draft, before, a.device, r.fn);
    if (r.kind === 'pending') return void emit({ kind: 'msi-pending', device: a.device, capability: r.capability, vector: a.vector });
    return [{ fn, rid: fn.rid, address: r.message.address, data: r.message.data }];
  },

  'assign-device'(draft, a, emit, before) {
    if (!deviceOrReject(before, a.device, emit)) return;
    if (!before.domains.some((d) => d.id === a.domain)) return void emit({ kind: 'action-rejected', why: `no domain ${a.domain}` });
    // Built from `before` and set at the root: filtering the draft's grants made a proxy of every
    // grant, setting a key of the draft's owners copied the record through immer's generic path,
    // and a value set below a nested draft is walked whole when the draft is finalised
    // (BENCHMARKS.md, issue 15 goal 3).
    const intent = before.intent;
    const owners = intent.owners[a.device] === a.domain ? intent.owners : withEntry(intent.owners, a.device, a.domain);
    const grants = grantsWithout(intent.grants, a.device);
    if (owners !== intent.owners || grants !== intent.grants) draft.intent = { ...intent, owners, grants } as Draft<HypervisorIntent>;
    emit({ kind: 'intent', change: `${a.device} assigned to domain ${a.domain}` });
  },

  grant(draft, a, emit, before) {
    // Built from `before` and set at the root, as in assign-device.
    draft.intent = { ...before.intent, grants: before.intent.grants.concat([a.grant]) } as Draft<HypervisorIntent>;
    const t = a.grant.target;
    emit({ kind: 'intent', change: `grant ${a.grant.requester} vector 0x${a.grant.vector.toString(16)}${a.grant.lastVector === undefined ? '' : `..0x${a.grant.lastVector.toString(16)}`} → ${t.kind === 'pcpu' ? `APIC ${t.apicId}` : `vCPU ${t.vcpu}`}` });
  },

  revoke(draft, a, emit, before) {
    // Built from `before` and set at the root, as in assign-device.
    const grants = before.intent.grants.filter((g) => !(g.requester === a.requester && (a.vector === undefined || grantCoversVector(g, a.vector))));
    draft.intent = { ...before.intent, grants } as Draft<HypervisorIntent>;
    emit({ kind: 'intent', change: `revoke ${a.requester}${a.vector === undefined ? '' : ` vector 0x${a.vector.toString(16)}`}` });
  },
};

const vcpuHandlers: { [K in VcpuKind]: Handler<K> } = {
  'pid-write'(draft, a, emit, before) {
    const v = vcpuOrReject(before, a.vcpu, emit);
    if (!v) return;
    const r = updatePid(before.memory, v.pda, (p) => ({ ...p, on: a.on ?? p.on, sn: a.sn ?? p.sn, nv: a.nv ?? p.nv, ndst: a.ndst ?? p.ndst }));
    draft.memory = r.memory;
    const f = r.after;
    emit({
      kind: 'memory-write',
      address: v.pda + 32n,
      bytes: 8,
      value: r.memory.readLE(v.pda + 32n, 8),
      what: `PID of vCPU ${v.id}: ON=${f.on ? 1 : 0} SN=${f.sn ? 1 : 0} NV=0x${f.nv.toString(16)} NDST=0x${f.ndst.toString(16)}`,
    });
  },

  'vcpu-set'(draft, a, emit, before) {
    const v = vcpuOrReject(before, a.vcpu, emit);
    if (!v) return;
    if (before.cpus[a.pcpu] === undefined) return void emit({ kind: 'action-rejected', why: `no pCPU ${a.pcpu}` });
    draft.vcpus = withVcpu(before.vcpus, { ...v, run: a.run, pcpu: a.pcpu }) as Draft<VcpuTable>;
    emit({ kind: 'vcpu-state', vcpu: a.vcpu, run: a.run, was: v.run, pcpu: a.pcpu });
  },

  'sync-pir'(draft, a, emit, before) {
    const v = vcpuOrReject(before, a.vcpu, emit);
    if (!v) return;
    if (before.amdvi !== undefined) {
      // AMD: `pda` is the AVIC backing page; VMRUN evaluates its IRR (APM vol. 2 §15.29.2.4), taking what the IOMMU posted while the vCPU was away.
      const taken = avicTakeIrr(before.memory, v.pda);
      if (taken.irr === 0n) return;
      const vectors = pirVectors(taken.irr);
      draft.memory = taken.memory;
      draft.vcpus = withVcpu(before.vcpus, { ...v, virr: v.virr | taken.irr }) as Draft<VcpuTable>;
      return void emit({ kind: 'pir-processed', vcpu: v.id, pcpu: a.pcpu, vectors, by: 'vm-entry' });
    }
    const r = processPir(before.memory, v, true, before.interrupts.directPost?.vectorBits);
    if (r.vectors.length === 0 && r.memory === before.memory) return;
    draft.memory = r.memory;
    draft.vcpus = withVcpu(before.vcpus, r.vcpu) as Draft<VcpuTable>;
    emit({ kind: 'pir-processed', vcpu: v.id, pcpu: a.pcpu, vectors: r.vectors, by: 'vm-entry' });
  },

  'blocked-list'(draft, a, emit, before) {
    const list = before.hypervisor.blockedLists[a.pcpu] ?? [];
    const next = a.add ? (list.includes(a.vcpu) ? list : [...list, a.vcpu]) : list.filter((x) => x !== a.vcpu);
    draft.hypervisor.blockedLists[a.pcpu] = next as number[];
    emit({ kind: 'hypervisor', policy: before.hypervisor.policy, request: `blocked list of cpu${a.pcpu}: ${next.length ? next.map((x) => `vCPU ${x}`).join(', ') : 'empty'}` });
  },

  'ndst-stale'(draft, a) {
    const list = draft.hypervisor.staleNdst;
    draft.hypervisor.staleNdst = a.stale ? [...list.filter((x) => x !== a.vcpu), a.vcpu] : list.filter((x) => x !== a.vcpu);
  },

  'irte-allocated'(draft, a) {
    draft.hypervisor.nextIrte[a.iommu] = Math.max(a.index + 1, draft.hypervisor.nextIrte[a.iommu] ?? 0);
  },

  'software-route'(draft, a, emit, before) {
    // Changed in the draft: one key, not a copy of every route.
    const routes = (draft.hypervisor.softwareRoutes ??= {} as Draft<Record<number, SoftwareRoute>>);
    if (a.route === undefined) delete routes[a.hostVector];
    else routes[a.hostVector] = a.route as Draft<SoftwareRoute>;
    const r = a.route;
    emit({
      kind: 'hypervisor',
      policy: before.hypervisor.policy,
      request:
        r === undefined
          ? `software route of host vector 0x${a.hostVector.toString(16)} removed`
          : `host vector 0x${a.hostVector.toString(16)} → ${r.device}'s guest MSI: vector 0x${r.vector.toString(16)} ${r.deliveryMode === 1 ? 'lowest-priority' : 'fixed'} ${r.logical ? 'logical' : 'physical'} dest 0x${r.destination.toString(16)} of ${before.domains[r.domain]?.name ?? `domain ${r.domain}`}, injected in software`,
    });
  },

  'inject-interrupt'(draft, a, emit, before) {
    const v = vcpuOrReject(before, a.vcpu, emit);
    if (!v) return;
    if (!(Number.isInteger(a.vector) && a.vector >= 0 && a.vector <= 0xff)) return void emit({ kind: 'action-rejected', why: `vector ${a.vector} is not 0..255` });
    draft.vcpus = withVcpu(before.vcpus, { ...v, virr: v.virr | (1n << BigInt(a.vector)) }) as Draft<VcpuTable>;
    emit({ kind: 'interrupt-injected', device: a.device, vcpu: v.id, vector: a.vector, ...(a.by === undefined ? {} : { by: a.by }) });
  },

  'intend-route'(draft, a, emit, before) {
    (draft.intent.interruptRoutes ??= {} as Draft<Record<string, IntendedRoute>>)[`${a.iommu}:${a.index}`] = a.route as Draft<IntendedRoute>;
    const fixed = a.route.oneOf ? 'one of' : 'every one of';
    // On AMD-Vi the policy keys routes by interrupt table ((unit + 1) · 0x10000 + DeviceID, src/policy/amd.ts `amdTableKey`).
    const table = before.amdvi === undefined ? `unit ${a.iommu}` : a.iommu >= 0x1_0000 ? `the table of DeviceID ${(a.iommu & 0xffff).toString(16).padStart(4, '0')} (ivhd${(a.iommu >>> 16) - 1})` : `the shared table of ivhd${a.iommu}`;
    emit({ kind: 'intent', change: `IRTE ${a.index} of ${table}: ${a.route.device} vector 0x${a.route.vector.toString(16)} → ${fixed} vCPU ${a.route.vcpus.join(', vCPU ')}` });
  },

  'self-ipi'(draft, a, emit, before, raised) {
    assignState(draft, notifyPcpu(before, a.pcpu, a.vector, emit, raised), before);
  },

  'guest-ack'(draft, a, emit, before) {
    const v = vcpuOrReject(before, a.vcpu, emit);
    if (!v) return;
    const irr = highestVector(v.virr);
    const isr = highestVector(v.visr);
    // The virtual APIC delivers the highest IRR vector whose priority class beats the in-service one (SDM §10.8.3.1).
    if (v.run !== 'running' || irr < 0 || irr >> 4 <= isr >> 4) return void emit({ kind: 'guest-interrupt', vcpu: v.id, vector: undefined, what: 'ack' });
    const bit = 1n << BigInt(irr);
    draft.vcpus = withVcpu(before.vcpus, { ...v, virr: v.virr & ~bit, visr: v.visr | bit }) as Draft<VcpuTable>;
    emit({ kind: 'guest-interrupt', vcpu: v.id, vector: irr, what: 'ack' });
  },

  'guest-eoi'(draft, a, emit, before) {
    const v = vcpuOrReject(before, a.vcpu, emit);
    if (!v) return;
    const isr = highestVector(v.visr);
    if (isr >= 0) draft.vcpus = withVcpu(before.vcpus, { ...v, visr: v.visr & ~(1n << BigInt(isr)) }) as Draft<VcpuTable>;
    emit({ kind: 'guest-interrupt', vcpu: v.id, vector: isr < 0 ? undefined : isr, what: 'eoi' });
  },
};

function describeRequest(r: PolicyRequest, state: PlatformState): string {
  switch (r.kind) {
    case 'schedule':
      return `schedule vCPU ${r.vcpu} on cpu${r.pcpu}`;
    case 'preempt':
      return `preempt vCPU ${r.vcpu}`;
    case 'halt':
      return `vCPU ${r.vcpu} halts`;
    case 'guest-msi':
      return `guest programs ${r.device} MSI-X entry ${r.entry}: vector 0x${r.vector.toString(16)}${r.deliveryMode === 1 ? ' lowest-priority' : ''} → guest ${r.destinationMode === 'logical' ? `logical destination 0x${(r.destination >>> 0).toString(16)}` : `APIC ${r.destination}`}`;
    case 'host-interrupt':
      // In guest mode an external interrupt other than the notification vector exits the VM (SDM §25.2).
      return `interrupt 0x${r.vector.toString(16)} on cpu${r.pcpu} ${runningVcpu(state.vcpus, r.pcpu) === undefined ? 'outside guest mode' : 'in guest mode: external-interrupt VM exit'}`;
  }
}

function msiWrite(state: PlatformState, a: ActionOf<'msi-write'>, emit: Emit): DeviceWrite[] | undefined {
  const fn = deviceOrReject(state, a.device, emit);
  return fn && [{ fn, rid: a.rid ?? fn.rid, address: a.address, data: a.data >>> 0 }];
}

/**
 * `emit` for a transition: appends to `events`, stamped with `step`. Returned as an
 * anonymous arrow on purpose: under tsx a named function or `const f = () => …` gets
 * its name re-defined at creation, which was measurable on the MSI read path (and
 * defeats `Function.prototype.bind`'s fast path).
 */
function emitterFor(events: PlatformEvent[], step: number): Emit {
  return (e) => {
    // Every emitter passes a fresh object literal, so `step` is added to it in place:
    // same keys in the same order as `{ ...e, step }`, without copying ~15 properties.
    (e as { step?: number }).step = step;
    events.push(e as PlatformEvent);
  };
}

/**
 * `next` (frozen) after the event interrupts its transition made due are sent (src/platform/
 * event-interrupts.ts: a fault or invalidation-completion event pending with IM = 0).
 */
function withEventInterrupts(next: PlatformState, before: PlatformState, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  const sent = sendEventInterrupts(next, before, emit, raised);
  if (sent !== next) freezeResult(sent, next);
  return sent;
}

/**
 * The `msi-write` primitive (the MSI read path): msiWrite's one device write, delivered
 * directly — no handler table, no immer, no array of writes.
 */
function msiPrimitive(state: PlatformState, action: ActionOf<'msi-write'>, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  const fn = deviceOrReject(state, action.device, emit);
  if (fn === undefined) return state;
  const address = action.address;
  const rid = traverseFabric(state, fn, action.rid ?? fn.rid, { address, size: 4, write: true }, emit);
  if (rid === undefined) return state;
  // deliverDeviceWrite returns `state` itself when the write changed nothing (an IEC hit).
  let next = deliverDeviceWrite(state, fn, rid, address, action.data >>> 0, emit, raised);
  next = sendEventInterrupts(next, state, emit, raised);
  if (next !== state) freezeResult(next, state);
  return next;
}

/**
 * Kinds whose handlers only read `before` and assign whole fields of the root (`draft.devices =
 * withEntry(…)`, `draft.vcpus = withVcpu(…)`, `draft.intent = {…}`): they get a plain shallow copy
 * of the root instead of an immer draft — the draft's proxy, scope and finalisation were a quarter
 * of a check's time (BENCHMARKS.md, issue 15 goal 5). In debug mode every state below the root is
 * frozen, so a handler of this list that wrote below the root would throw in the tests.
 */
const ROOT_FIELD_KINDS: ReadonlySet<string> = new Set<PrimitiveKind>([
  'program-msi',
  'program-msix',
  'msix-control',
  'signal',
  'assign-device',
  'grant',
  'revoke',
  'pid-write',
  'vcpu-set',
  'sync-pir',
  'inject-interrupt',
  'guest-ack',
  'guest-eoi',
  'write-memory',
  'write-irte',
  'write-irta',
  'write-gcmd',
  'clear-fault',
  'invalidate-iec',
  'invalidate-dma',
  'invalidation-wait',
  'write-iqt',
  'write-register',
  'write-rtaddr',
  'amdvi-write-register',
]);

/** The `dma` primitive: a device's read or write through the fabric and its remapping unit (src/platform/dma-access.ts). */
function dmaPrimitive(state: PlatformState, action: ActionOf<'dma'>, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  const fn = deviceOrReject(state, action.device, emit);
  if (!fn) return state;
  const { address, size } = action;
  // A request the bus cannot carry: the size must be 1..64 bytes within one 4 KiB page.
  if (!(size >= 1 && size <= 64) || Number(address & 0xfffn) + size > 0x1000 || address < 0n || address > MAX_U64) {
    emit({ kind: 'action-rejected', why: `DMA of ${size} bytes at 0x${address.toString(16)}: 1..64 bytes within one 4 KiB page of a 64-bit address` });
    return state;
  }
  const rid = traverseFabric(state, fn, action.rid ?? fn.rid, action, emit);
  const next = rid === undefined ? state : deviceDma(state, { fn, rid, pasid: action.pasid, address, size, write: action.write, value: action.value ?? 0n }, emit, raised);
  const sent = sendEventInterrupts(next, state, emit, raised);
  if (sent !== state) freezeResult(sent, state);
  return sent;
}

/** Apply one primitive action at top-level step `step`; interrupts it raises to the hypervisor go to `raised`. */
function applyPrimitive(state: PlatformState, action: Action & { kind: PrimitiveKind }, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  let writes = undefined as readonly DeviceWrite[] | void;
  let next: PlatformState;
  if (action.kind === 'dma') return dmaPrimitive(state, action, emit, raised);
  if (action.kind === 'msi-write') {
    return msiPrimitive(state, action, emit, raised);
  } else {
    const handler =
      (handlers as Record<string, Handler<ActionKind>>)[action.kind] ??
      (vcpuHandlers as Record<string, Handler<ActionKind>>)[action.kind] ??
      (dmaHandlers as Record<string, Handler<ActionKind>>)[action.kind] ??
      (registerHandlers as Record<string, Handler<ActionKind>>)[action.kind] ??
      (vmmHandlers as Record<string, Handler<ActionKind>>)[action.kind] ??
      (directPostHandlers as Record<string, Handler<ActionKind>>)[action.kind] ??
      (amdviHandlers as Record<string, Handler<ActionKind>>)[action.kind]!;
    if (ROOT_FIELD_KINDS.has(action.kind)) {
      const copy = copyState(state);
      writes = handler(copy as unknown as Draft<PlatformState>, action as never, emit, state, raised);
      next = sameRoot(copy, state) ? state : copy;
      // Frozen as immer's auto-freeze would leave it (debug mode), before the writes are delivered.
      freezeResult(next, state);
      if (!writes || writes.length === 0) return withEventInterrupts(next, state, emit, raised);
    } else {
      // immer returns `state` itself when the handler changed nothing.
      next = produce(state, (draft) => {
        writes = handler(draft, action as never, emit, state, raised);
      });
      if (!writes || writes.length === 0) return withEventInterrupts(next, state, emit, raised);
    }
  }
  const unfrozen = next;
  for (const w of writes) {
    const rid = traverseFabric(next, w.fn, w.rid, { address: w.address, size: 4, write: true }, emit);
    if (rid !== undefined) next = deliverDeviceWrite(next, w.fn, rid, w.address, w.data, emit, raised);
  }
  if (next !== unfrozen) freezeResult(next, unfrozen);
  return withEventInterrupts(next, state, emit, raised);
}

/** Whether the root copy `copy` of `base` still holds every field of `base` (the handler changed nothing). */
function sameRoot(copy: PlatformState, base: PlatformState): boolean {
  return (
    copy.memory === base.memory &&
    copy.hostAddressWidth === base.hostAddressWidth &&
    copy.interrupts === base.interrupts &&
    copy.cpus === base.cpus &&
    copy.iommus === base.iommus &&
    copy.devices === base.devices &&
    copy.fabric === base.fabric &&
    copy.domains === base.domains &&
    copy.vcpus === base.vcpus &&
    copy.hypervisor === base.hypervisor &&
    copy.intent === base.intent &&
    copy.vmm === base.vmm &&
    copy.amdvi === base.amdvi
  );
}

/**
 * Apply one action as step `step`: every event it emits carries `step` (a scenario run, the
 * checker and the explorer pass the number of actions applied before it; the state holds no
 * counter, so that a transition that changes nothing returns `state` itself). A request to the
 * hypervisor is answered by its policy module (src/policy) with primitive actions, applied in
 * order; interrupts raised to the hypervisor meanwhile (a notification outside guest mode)
 * become `host-interrupt` requests handled after them. All of it is one step. Never throws for
 * a well-typed action.
 * @param step the step number the events are stamped with (default 0); not range-checked
 */
export function applyAction(state: PlatformState, action: Action, step = 0): TransitionResult {
  const events: PlatformEvent[] = [];
  return { state: applyInto(state, action, events, step), events };
}

/** {@link applyAction}'s work: the state after `action`, its events (stamped `step`) appended to `events`. */
function applyInto(state: PlatformState, action: Action, events: PlatformEvent[], step: number): PlatformState {
  // `msi-write` first: the MSI read path, spared the request-kind set lookups and the dispatch.
  // Its fields are read in applyMsiWrite, where only msi-write actions come: here, a site every
  // action kind passes, they would be megamorphic loads once every kind has run.
  if (action.kind === 'msi-write') return applyMsiWrite(state, action, events, step);
  // `dma` likewise (a cold nested DMA's fields, read at the shared sites below, were megamorphic loads).
  if (action.kind === 'dma') return applyDma(state, action, events, step);
  const emit = emitterFor(events, step);
  if (rejectedAsMalformed(action, emit)) return state;
  if (!isPolicyRequest(action) && !isVmmRequest(action)) {
    const raised: RaisedInterrupt[] = [];
    return withRaised(applyPrimitive(state, action as Action & { kind: PrimitiveKind }, emit, raised), raised, emit);
  }
  return drain(state, [action], emit);
}

/**
 * Whether `action` has a field no bus or register can carry (NaN, 1.5, a negative or >128-bit
 * bigint; src/platform/action-fields.ts): then it is rejected whole, with an event saying which.
 */
function rejectedAsMalformed(action: Action, emit: Emit): boolean {
  const malformed = malformedField(action);
  if (malformed === undefined) return false;
  emit({ kind: 'action-rejected', why: `${action.kind}: ${malformed}` });
  return true;
}

/** `next`, after the interrupts raised to the hypervisor on the way (`raised`) are handled as `host-interrupt` requests. */
function withRaised(next: PlatformState, raised: readonly RaisedInterrupt[], emit: Emit): PlatformState {
  if (raised.length === 0) return next;
  return drain(next, raised.map((r) => ({ kind: 'host-interrupt', ...r })), emit);
}

/** {@link applyInto} for an `msi-write`: its field check (a quick accept, else the full one), then the primitive. */
function applyMsiWrite(state: PlatformState, action: ActionOf<'msi-write'>, events: PlatformEvent[], step: number): PlatformState {
  const emit = emitterFor(events, step);
  const rid = action.rid;
  const address = action.address;
  const carriable = Number.isSafeInteger(action.data) && address >= 0n && address >> 64n === 0n && (rid === undefined || (rid >>> 0 === rid && rid <= 0xffff));
  if (!carriable && rejectedAsMalformed(action, emit)) return state;
  const raised: RaisedInterrupt[] = [];
  return withRaised(msiPrimitive(state, action, emit, raised), raised, emit);
}

/**
 * {@link applyInto} for a `dma`: the allocation-free field check (`dmaActionCarriable`; the full
 * one only when it is in doubt: the full check was a third of a cold nested DMA's cost beside
 * the walk, issue 15 goal 4), then the primitive.
 */
function applyDma(state: PlatformState, action: ActionOf<'dma'>, events: PlatformEvent[], step: number): PlatformState {
  const emit = emitterFor(events, step);
  if (!dmaActionCarriable(action) && rejectedAsMalformed(action, emit)) return state;
  const raised: RaisedInterrupt[] = [];
  return withRaised(dmaPrimitive(state, action, emit, raised), raised, emit);
}

/** Process `queue` (requests and primitives) to the end, as one step. */
function drain(state: PlatformState, queue: Action[], emit: Emit): PlatformState {
  let s = state;
  // A policy that keeps raising interrupts would loop; the bound is far above any real chain.
  for (let budget = 10_000; queue.length > 0 && budget > 0; budget--) {
    const a = queue.shift()!;
    // A host vector the VMM took (VFIO's eventfd, Xen's pirq) is the VMM's, not the policy's.
    const toVmm = a.kind === 'host-interrupt' ? s.vmm?.hostVectors[a.vector] : undefined;
    if (toVmm !== undefined && a.kind === 'host-interrupt') {
      queue.unshift({ kind: 'vmm-interrupt', device: toVmm.device, entry: toVmm.entry, pcpu: a.pcpu, hostVector: a.vector });
      continue;
    }
    if (isVmmRequest(a)) {
      const refusal = vmmRefusal(s, a);
      if (refusal !== undefined) emit({ kind: 'action-rejected', why: refusal });
      else queue.unshift(...vmmRespond(s, a));
      continue;
    }
    if (isPolicyRequest(a)) {
      const policy = policyNamed(s.hypervisor.policy);
      const answer = policy.respond(s, a);
      // An empty answer is a refusal or a no-op (a blocked vCPU cannot be scheduled, a request
      // for a device the VM does not own is refused): say so, so the trace explains itself.
      emit({ kind: 'hypervisor', policy: policy.name, request: describeRequest(a, s) + (answer.length === 0 ? ' — nothing done' : '') });
      queue.unshift(...answer);
      continue;
    }
    const raised: RaisedInterrupt[] = [];
    s = applyPrimitive(s, a as Action & { kind: PrimitiveKind }, emit, raised);
    for (const r of raised) queue.push({ kind: 'host-interrupt', pcpu: r.pcpu, vector: r.vector });
  }
  return s;
}

/**
 * Apply actions in order, action `i` as step `firstStep + i`, collecting every event in one
 * array: the same states and events as {@link applyAction} in a loop (test/platform/freeze-mode.test.ts), with
 * no per-action result object or event-array copy. Intermediate states are not frozen unless
 * in debug mode (src/platform/freeze-mode.ts), where every state is. Each action that goes
 * through immer still has its own draft: handlers read the state before the action as a plain
 * value (`before`), which one draft shared by several actions would not give them.
 */
export function applyActions(state: PlatformState, actions: readonly Action[], firstStep = 0): TransitionResult {
  let s = state;
  const events: PlatformEvent[] = [];
  for (let i = 0; i < actions.length; i++) s = applyInto(s, actions[i]!, events, firstStep + i);
  return { state: s, events };
}
