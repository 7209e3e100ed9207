/**
 * Delivery, simulated from the host's side: once the guest's message names a vCPU, the
 * hypervisor sets up the physical interrupt of the assigned device and the device fires.
 *
 * - `posted`: the guest's trapped MSI-X write is the policy request `guest-msi`; the KVM-like
 *   policy answers with a posted IRTE (IM=1, PDA = the vCPU's PID), an IEC invalidation and
 *   the physical MSI-X entry (src/policy/common.ts `postedMsiSetup`). The explorer calls that
 *   same function with an indexed vCPU lookup equal to the policy's `vcpuOfOwner` (which
 *   lists every vCPU per request: quadratic at 4,096 vCPUs) and applies its actions;
 *   test/explorer/host-layer.test.ts checks the result equals applying `guest-msi`. Reached
 *   when the unit posts into that vCPU's PID and the notification is processed in guest mode.
 * - `remapped`: the hypervisor's primitive operations for a host IRTE (IM=0) to the pCPU the
 *   vCPU runs on, physical, fixed. Reached when the `interrupt-delivered` targets are that
 *   pCPU; the hypervisor then takes a VM exit and injects (injection itself is software the
 *   platform does not model).
 * - `direct` (HYPOTHETICAL, seed 000): the direct-post model itself (src/hypothetical/
 *   direct-post, src/vmm/designs/direct-post.ts; docs/vmm.md "direct-post (hypothetical)"):
 *   a platform with `directPost` (key source-id) and the direct-post VMM design; the VMM's
 *   `vmm-start` writes the device's root entry and the VM's vAPIC table (one entry per vCPU)
 *   once per VM, and per MSI the guest only writes its MSI-X entry (untrapped): the
 *   compatibility-format message naming its vCPU's APIC ID (15-bit extended destination ID),
 *   which the unit looks up and posts. Reached as for `posted`.
 *
 * Costs are counted from the events and from the memory references the simulation makes
 * (src/explorer/memory-counter.ts).
 */
import type { PlatformState } from '../platform/state.ts';
import type { Action } from '../platform/actions.ts';
import type { PlatformEvent } from '../platform/events.ts';
import { applyAction } from '../platform/transition.ts';
import { runningVcpu, vcpuAt } from '../platform/vcpu-table.ts';
import { composeRemappableMsi } from '../vtd/remappable-msi.ts';
import { encodeIrte, IRTE_BYTES } from '../vtd/irte.ts';
import { encodeIec } from '../vtd/invalidation.ts';
import { PID_BYTES } from '../vtd/pid.ts';
import { postedMsiSetup } from '../policy/common.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import type { Vcpu } from '../platform/state.ts';
import { DEVICE, DEVICE_RID, DIRECT_POST_TABLE_BASE, GUEST_VECTOR, HOST_VECTOR, IRT_BASE, PID_BASE, hostPlatform } from './platforms.ts';
import { composeCompatibilityMsi } from '../x86/msi.ts';
import { ReferenceCounter, withCounting, withoutCounting, type ReferenceTally } from './memory-counter.ts';
import type { Delivery } from './schemes.ts';

/** What one interrupt cost, counted by the simulation. */
export interface InterruptCost {
  /** IRTE reads by the remapping unit (an IEC miss). */
  readonly irteReads: number;
  /** HYPOTHETICAL direct-post root and vAPIC entry reads by the unit (a direct-post cache miss); 0 on every other path. */
  readonly tableReads: number;
  /** Posted-interrupt descriptor reads and writes, by the unit and by the CPU processing PIR. */
  readonly pidReads: number;
  readonly pidWrites: number;
  /** Notification events the unit sent. */
  readonly notifications: number;
  /** VM exits: interrupts that reached a pCPU in guest mode other than as a processed posted notification. */
  readonly vmExits: number;
}

/** Host-side work to set up one MSI, counted from the events of the setup actions. */
export interface HostSetup {
  /** Host IRTE stores. */
  readonly irteWrites: number;
  /** HYPOTHETICAL direct-post table entries the host wrote (root and vAPIC entries, 8 bytes each). */
  readonly tableWrites: number;
  /** Host IEC invalidations, and direct-post cache invalidations (hypothetical). */
  readonly invalidations: number;
  /** Requests the hypervisor handled (a trapped guest write turned into a policy request). */
  readonly hypervisorRequests: number;
}

/** What the host-side simulation found for one vCPU: reached or why not, and what it cost. */
export interface HostOutcome {
  readonly vcpu: number;
  readonly reached: boolean;
  readonly why: string | undefined;
  readonly setup: HostSetup;
  /** The interrupt right after setup: its IRTE was just invalidated, so it misses the IEC. */
  readonly firstInterrupt: InterruptCost;
  /** The message the device sends for this vCPU's interrupt. */
  readonly message: { readonly address: bigint; readonly data: number };
  /** The function that sends it, when not {@link DEVICE} (an AMD host gives every 512 vCPUs another function: src/explorer/amd-platforms.ts). */
  readonly device?: string;
}

/** One host-side run: per-vCPU outcomes and the host state after every setup. */
export interface HostLayerResult {
  readonly delivery: Delivery;
  readonly outcomes: readonly (HostOutcome | undefined)[];
  /** The host after every setup (for steady-state measurements). */
  readonly state: PlatformState;
  /** Per-VM setup (the direct scheme's `vmm-start`: table writes and invalidations), not per MSI. */
  readonly perVm: HostSetup;
}

/** The guest domain of the host platform (src/explorer/platforms.ts hostDescription: host 0, vm 1). */
const GUEST_DOMAIN = 1;
const NO_COST: InterruptCost = { irteReads: 0, tableReads: 0, pidReads: 0, pidWrites: 0, notifications: 0, vmExits: 0 };
const NO_SETUP: HostSetup = { irteWrites: 0, tableWrites: 0, invalidations: 0, hypervisorRequests: 0 };

/** Bytes of the direct-post tables the simulation can touch: the 512 KiB root table and the VM's vAPIC table (at most 2^15 × 8 bytes), generously. */
const DIRECT_POST_TABLE_SPAN = 0x10_0000n;

function regionsFor(vcpus: number, irtes: number): ReferenceCounter {
  return new ReferenceCounter([
    { name: 'irt', first: IRT_BASE, end: IRT_BASE + BigInt(irtes * IRTE_BYTES) },
    { name: 'pid', first: PID_BASE, end: PID_BASE + BigInt(vcpus * PID_BYTES) },
    { name: 'dpt', first: DIRECT_POST_TABLE_BASE, end: DIRECT_POST_TABLE_BASE + DIRECT_POST_TABLE_SPAN },
  ]);
}

function hostSetupOf(events: readonly PlatformEvent[]): HostSetup {
  return {
    irteWrites: events.filter((e) => e.kind === 'memory-write' && e.what?.startsWith('IRTE') === true).length,
    tableWrites: events.filter((e) => e.kind === 'vmm-cost' && e.cost === 'table-write').length,
    invalidations: events.filter((e) => e.kind === 'iec-invalidate' || (e.kind === 'direct-post' && e.change === 'invalidation')).length,
    hypervisorRequests: events.filter((e) => e.kind === 'hypervisor').length,
  };
}

/** Apply `a` to `state` counting memory references; returns the state (uncounted) and the cost. */
export function measuredInterrupt(state: PlatformState, a: Action, counter: ReferenceCounter): { state: PlatformState; events: readonly PlatformEvent[]; cost: InterruptCost } {
  counter.reset();
  const r = applyAction(withCounting(state, counter), a);
  const tally: ReferenceTally = counter.reset();
  let vmExits = 0;
  for (const e of r.events) {
    if (e.kind === 'interrupt-delivered') for (const p of e.targets) if (runningVcpu(state.vcpus, p) !== undefined) vmExits++;
    // A notification the CPU could not process in guest mode goes to the hypervisor: an exit if a vCPU was running there.
    if (e.kind === 'interrupt-posted' && e.notification !== undefined) {
      for (const p of e.notification.targets) {
        const running = runningVcpu(state.vcpus, p);
        if (running !== undefined && !r.events.some((x) => x.kind === 'pir-processed' && x.pcpu === p && x.by === 'notification')) vmExits++;
      }
    }
  }
  return {
    state: withoutCounting(r.state),
    events: r.events,
    cost: {
      irteReads: tally.irt?.reads ?? 0,
      tableReads: tally.dpt?.reads ?? 0,
      pidReads: tally.pid?.reads ?? 0,
      pidWrites: tally.pid?.writes ?? 0,
      notifications: r.events.filter((e) => e.kind === 'interrupt-posted' && e.notification !== undefined).length,
      vmExits,
    },
  };
}

function verify(state: PlatformState, delivery: Delivery, vcpu: number, events: readonly PlatformEvent[]): string | undefined {
  const v = vcpuAt(state.vcpus, vcpu)!;
  const fault = events.find((e) => e.kind === 'interrupt-fault');
  if (fault?.kind === 'interrupt-fault') return `host remapping fault 0x${fault.reason.toString(16)}`;
  if (delivery === 'remapped') {
    const d = events.find((e) => e.kind === 'interrupt-delivered');
    if (d?.kind !== 'interrupt-delivered') return 'no host delivery';
    if (d.targets.length !== 1 || d.targets[0] !== v.pcpu) return `host interrupt reached pCPUs [${d.targets.join(', ')}], not pCPU ${v.pcpu}`;
    if (runningVcpu(state.vcpus, v.pcpu)?.id !== vcpu) return `pCPU ${v.pcpu} does not run vCPU ${vcpu}`;
    return undefined;
  }
  const p = events.find((e) => e.kind === 'interrupt-posted');
  if (p?.kind !== 'interrupt-posted') return 'nothing posted';
  if (p.pda !== v.pda) return `posted into PID 0x${p.pda.toString(16)}, not vCPU ${vcpu}'s`;
  const processed = events.some((e) => e.kind === 'pir-processed' && e.vcpu === vcpu && e.vectors.includes(GUEST_VECTOR));
  return processed ? undefined : `vector 0x${GUEST_VECTOR.toString(16)} not processed into vCPU ${vcpu}'s vIRR`;
}

/**
 * The policy's vCPU lookup (`vcpuOfOwner`: the vCPU of the device's owning domain with that
 * guest APIC ID) through a map built once; vCPU identities do not change while MSIs are set up.
 */
export function indexedVcpuLookup(state: PlatformState): (s: PlatformState, owner: number | undefined, apicId: number) => Vcpu | undefined {
  const byKey = new Map<string, number>();
  for (const v of vcpuList(state.vcpus)) if (!byKey.has(`${v.domain}/${v.apicId}`)) byKey.set(`${v.domain}/${v.apicId}`, v.id);
  return (s, owner, apicId) => {
    const id = byKey.get(`${String(owner)}/${apicId}`);
    return id === undefined ? undefined : vcpuAt(s.vcpus, id);
  };
}

/**
 * The host platform for `delivery` before any MSI is set up: one IRTE per vCPU (the posted
 * policy allocates from index 0 upwards); for `direct` the hypothetical direct-post hardware
 * and VMM design.
 */
export function hostBase(delivery: Delivery, guestApicIds: readonly number[]): PlatformState {
  return hostPlatform({ guestApicIds, posted: delivery !== 'remapped', irtes: Math.max(guestApicIds.length, 2), ...(delivery === 'direct' ? { direct: true } : {}) });
}

/** Largest vAPIC ID a compatibility-format message carries (15-bit extended destination ID) and the largest direct-post vAPIC table holds. */
const MAX_VAPIC_ID = 0x7fff;

/**
 * Set up and fire one interrupt for every vCPU in `vcpus` (indices into `guestApicIds`) on one
 * host platform, in order. Outcomes are indexed by vCPU; vCPUs not listed are undefined.
 * `base` is {@link hostBase} (pass it to reuse one build: states are immutable).
 */
export function simulateHostLayer(delivery: Delivery, guestApicIds: readonly number[], vcpus: readonly number[], base: PlatformState = hostBase(delivery, guestApicIds)): HostLayerResult {
  const n = guestApicIds.length;
  const irtes = Math.max(n, 2);
  let state = base;
  const counter = regionsFor(n, irtes);
  let perVm = NO_SETUP;
  if (delivery === 'direct') {
    // The VMM starts the VM: root entry for the VF, the VM's vAPIC table, invalidation, DPTA (src/vmm/designs/direct-post.ts).
    const r = applyAction(state, { kind: 'vmm-start', domain: GUEST_DOMAIN });
    state = r.state;
    perVm = { ...hostSetupOf(r.events), hypervisorRequests: 1 };
  }
  const outcomes: (HostOutcome | undefined)[] = new Array<HostOutcome | undefined>(n).fill(undefined);
  let nextIndex = 0;
  const find = delivery === 'posted' ? indexedVcpuLookup(state) : undefined;
  for (const vcpu of vcpus) {
    const setupActions: Action[] = [];
    let requests = 0;
    if (find !== undefined) {
      requests = 1;
      setupActions.push(...postedMsiSetup(state, { kind: 'guest-msi', device: DEVICE, entry: 0, destination: guestApicIds[vcpu]!, vector: GUEST_VECTOR }, find));
    } else if (delivery === 'remapped') {
      const index = nextIndex++;
      const pcpuApicId = state.cpus[vcpuAt(state.vcpus, vcpu)!.pcpu]!.apicId;
      const value = encodeIrte({ mode: 'remapped', present: true, fpd: false, avail: 0, destinationModeLogical: false, redirectionHint: false, triggerLevel: false, deliveryMode: 0, vector: HOST_VECTOR, destination: pcpuApicId, sid: DEVICE_RID, sq: 0, svt: 1 });
      const msi = composeRemappableMsi({ handle: index });
      setupActions.push(
        { kind: 'irte-allocated', iommu: 0, index },
        { kind: 'write-irte', iommu: 0, index, value },
        { kind: 'invalidate-iec', iommu: 0, descriptor: encodeIec({ granularity: 'index', indexMask: 0, interruptIndex: index }) },
        { kind: 'program-msix', device: DEVICE, entry: 0, address: msi.address, data: msi.data, masked: false },
      );
    } else {
      // The guest's own untrapped MSI-X write: the standard message naming its vCPU's APIC ID.
      const apicId = guestApicIds[vcpu]!;
      if (apicId > MAX_VAPIC_ID) {
        outcomes[vcpu] = { vcpu, reached: false, why: `APIC ID ${apicId} does not fit a 15-bit vAPIC ID`, setup: NO_SETUP, firstInterrupt: NO_COST, message: { address: 0n, data: 0 } };
        continue;
      }
      const msi = composeCompatibilityMsi({ destination: apicId, vector: GUEST_VECTOR, extendedDestinationId: true });
      setupActions.push({ kind: 'program-msix', device: DEVICE, entry: 0, address: msi.address, data: msi.data, masked: false });
    }
    const setupEvents: PlatformEvent[] = [];
    for (const a of setupActions) {
      const r = applyAction(state, a);
      state = r.state;
      setupEvents.push(...r.events);
    }
    const entry = state.devices[DEVICE]!.msix!.table[0]!;
    const fired = measuredInterrupt(state, { kind: 'signal', device: DEVICE, vector: 0 }, counter);
    const why = verify(state, delivery, vcpu, fired.events);
    state = fired.state;
    outcomes[vcpu] = { vcpu, reached: why === undefined, why, setup: { ...hostSetupOf(setupEvents), hypervisorRequests: requests }, firstInterrupt: fired.cost, message: { address: entry.address, data: entry.data } };
  }
  return { delivery, outcomes, state, perVm };
}

/**
 * Steady-state cost per interrupt when the device interrupts the vCPUs `vcpus` round robin:
 * one round to warm the IEC, then the mean over a second round. The IEC is the model's
 * (src/vtd/iec.ts: FIFO, 64 entries — not an architectural size), so the mean rises by one
 * IRTE read once the working set exceeds it.
 */
export function steadyStateCost(host: HostLayerResult, vcpus: readonly number[]): InterruptCost | undefined {
  const messages = vcpus.map((v) => host.outcomes[v]).filter((o): o is HostOutcome => o?.reached === true).map((o) => o.message);
  if (messages.length === 0) return undefined;
  const n = host.state.vcpus.count;
  const counter = regionsFor(n, Math.max(n, 2));
  let state = host.state;
  const total = { irteReads: 0, tableReads: 0, pidReads: 0, pidWrites: 0, notifications: 0, vmExits: 0 };
  for (let round = 0; round < 2; round++) {
    for (const m of messages) {
      const r = measuredInterrupt(state, { kind: 'msi-write', device: DEVICE, address: m.address, data: m.data }, counter);
      state = r.state;
      if (round === 0) continue;
      total.irteReads += r.cost.irteReads;
      total.tableReads += r.cost.tableReads;
      total.pidReads += r.cost.pidReads;
      total.pidWrites += r.cost.pidWrites;
      total.notifications += r.cost.notifications;
      total.vmExits += r.cost.vmExits;
    }
  }
  const k = messages.length;
  return { irteReads: total.irteReads / k, tableReads: total.tableReads / k, pidReads: total.pidReads / k, pidWrites: total.pidWrites / k, notifications: total.notifications / k, vmExits: total.vmExits / k };
}
