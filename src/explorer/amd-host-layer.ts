/**
 * The AMD-Vi host side of the explorer: can the hypervisor deliver the assigned device's
 * interrupt to each vCPU, on a host whose IOMMU is AMD-Vi (src/explorer/amd-platforms.ts
 * `amdHostPlatform`), and what it costs — counted from events and memory references like the
 * Intel host side (src/explorer/host-layer.ts `measuredInterrupt`).
 *
 * Per vCPU v (function 01:00.0 + ⌊v / 512⌋, IRTE v mod 512), as KVM + Linux amd_iommu program
 * it (drivers/iommu/amd/iommu.c):
 * - `remapped`: a 128-bit IRTE with GuestMode = 0 (`irte_ga_prepare`: RemapEn, fixed, physical,
 *   the host vector, Destination = the x2APIC ID of v's pCPU, bits 31:24 in 127:120 — XTEn),
 *   `iommu_flush_irt_and_complete` (INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT), MSI-X entry 0
 *   = 0xFEE00000 / index. Reached when `interrupt-delivered` targets exactly v's pCPU, which runs
 *   v (the hypervisor then takes an exit and injects);
 * - `avic` / `x2avic`: KVM `avic_pi_update_irte` → `amd_ir_set_vcpu_affinity` →
 *   `amd_iommu_activate_guest_mode`: a GA-mode IRTE (GuestMode = 1, the guest vector, the
 *   vCPU's vAPIC backing page in GARootPtr, IsRun = 1 and Destination = its pCPU's APIC ID:
 *   `__amd_iommu_update_ga` for a running vCPU), written with `modify_irte_ga` (invalidation +
 *   completion wait). Reached when `interrupt-posted` names v's backing page and v takes the
 *   vector into its vIRR on the doorbell (`pir-processed` by notification). KVM keeps each vCPU
 *   in a physical APIC ID table indexed by APIC ID: AVIC (`avic`: a host without x2AVIC, xAPIC
 *   guests) up to 0xFE, x2AVIC up to 0x1FF (arch/x86/include/asm/svm.h `AVIC_MAX_PHYSICAL_ID`, `X2AVIC_MAX_PHYSICAL_ID`;
 *   arch/x86/kvm/svm/avic.c `avic_init_backing_page` refuses larger IDs). The model has no such
 *   table, so a larger APIC ID is refused here, before any setup, with that reason; KVM's
 *   consequence is VM-wide (no AVIC for the VM), the explorer counts it per vCPU.
 *
 * Memory references are attributed by address: `irt` = the interrupt tables, `pid` = the
 * vCPUs' backing pages (the AVIC counterpart of the posted-interrupt descriptor: the IOMMU's
 * IRR read-modify-write, the CPU's IRR read on the doorbell), `dpt` = the device table (a DTE
 * read on a DTE-cache miss; reported with the table reads).
 */
import type { PlatformState } from '../platform/state.ts';
import type { Action } from '../platform/actions.ts';
import type { PlatformEvent } from '../platform/events.ts';
import { applyAction } from '../platform/transition.ts';
import { vcpuAt, runningVcpu } from '../platform/vcpu-table.ts';
import { DEFAULT_AVIC_BACKING_BASE, AVIC_BACKING_STRIDE } from '../platform/amdvi-build.ts';
import { composeAmdRemappedMsi } from '../amdvi/remappable-msi.ts';
import type { AmdViSteps } from '../scenario/amdvi-types.ts';
import { GUEST_VECTOR, HOST_VECTOR, IRT_BASE } from './platforms.ts';
import { AMD_LAYOUT, AMD_TABLE_STRIDE, amdFunction, amdHostPlatform, amdSlotOf, compileAmd, type AmdHostPlatform } from './amd-platforms.ts';
import { measuredInterrupt, type HostLayerResult, type HostOutcome, type HostSetup, type InterruptCost } from './host-layer.ts';
import { ReferenceCounter } from './memory-counter.ts';
import type { Delivery } from './schemes.ts';

/** The deliveries an AMD host offers. */
export type AmdDelivery = Extract<Delivery, 'remapped' | 'avic' | 'x2avic'>;

/** Largest APIC ID KVM's AVIC physical APIC ID table holds: AVIC_MAX_PHYSICAL_ID (0xFF is the broadcast) and X2AVIC_MAX_PHYSICAL_ID. */
export const AVIC_MAX_APIC_ID: Readonly<Record<'avic' | 'x2avic', number>> = Object.freeze({ avic: 0xfe, x2avic: 0x1ff });

const NO_COST: InterruptCost = { irteReads: 0, tableReads: 0, pidReads: 0, pidWrites: 0, notifications: 0, vmExits: 0 };
const NO_SETUP: HostSetup = { irteWrites: 0, tableWrites: 0, invalidations: 0, hypervisorRequests: 0 };
/** Linux's device table: 2 MiB (DeviceIDs up to 0xFFFF). */
const DEVICE_TABLE_BYTES = 0x20_0000n;

/** The reference regions of an AMD host with `vcpus` vCPUs and `functions` assigned functions. */
export function amdRegions(vcpus: number, functions: number): ReferenceCounter {
  return new ReferenceCounter([
    { name: 'irt', first: IRT_BASE, end: IRT_BASE + BigInt(functions) * AMD_TABLE_STRIDE },
    { name: 'pid', first: DEFAULT_AVIC_BACKING_BASE, end: DEFAULT_AVIC_BACKING_BASE + BigInt(vcpus * AVIC_BACKING_STRIDE) },
    { name: 'dpt', first: AMD_LAYOUT.deviceTable, end: AMD_LAYOUT.deviceTable + DEVICE_TABLE_BYTES },
  ]);
}

function amdHostSetupOf(events: readonly PlatformEvent[], requests: number): HostSetup {
  return {
    irteWrites: events.filter((e) => e.kind === 'memory-write' && e.what?.startsWith('AMD-Vi IRTE') === true).length,
    tableWrites: 0,
    invalidations: events.filter((e) => e.kind === 'amdvi-command' && e.effect === 'invalidate-interrupt-table').length,
    hypervisorRequests: requests,
  };
}

function verify(state: PlatformState, delivery: AmdDelivery, vcpu: number, events: readonly PlatformEvent[]): string | undefined {
  const v = vcpuAt(state.vcpus, vcpu)!;
  const fault = events.find((e) => e.kind === 'interrupt-fault');
  if (fault?.kind === 'interrupt-fault') return `host AMD-Vi blocked the interrupt (event code 0x${fault.reason.toString(16)}${fault.amdvi === undefined ? '' : `, ${fault.amdvi.why}`})`;
  if (delivery === 'remapped') {
    const d = events.find((e) => e.kind === 'interrupt-delivered');
    if (d?.kind !== 'interrupt-delivered') return 'no host delivery';
    if (d.targets.length !== 1 || d.targets[0] !== v.pcpu) return `host interrupt reached pCPUs [${d.targets.join(', ')}], not pCPU ${v.pcpu}`;
    if (runningVcpu(state.vcpus, v.pcpu)?.id !== vcpu) return `pCPU ${v.pcpu} does not run vCPU ${vcpu}`;
    return undefined;
  }
  const p = events.find((e) => e.kind === 'interrupt-posted');
  if (p?.kind !== 'interrupt-posted') return 'nothing posted';
  if (p.pda !== v.pda) return `posted into backing page 0x${p.pda.toString(16)}, not vCPU ${vcpu}'s`;
  const processed = events.some((e) => e.kind === 'pir-processed' && e.vcpu === vcpu && e.vectors.includes(GUEST_VECTOR));
  return processed ? undefined : `vector 0x${GUEST_VECTOR.toString(16)} not taken into vCPU ${vcpu}'s vIRR on the doorbell`;
}

/** The AMD host for `delivery` before any MSI is set up. */
export function amdHostBase(delivery: AmdDelivery, guestApicIds: readonly number[]): AmdHostPlatform {
  return amdHostPlatform({ guestApicIds, avic: delivery !== 'remapped' });
}

/**
 * Set up and fire one interrupt for every vCPU in `vcpus` (indices into `guestApicIds`) on one
 * AMD host, in order (see the module comment). Outcomes are indexed by vCPU.
 */
export function simulateAmdHostLayer(delivery: AmdDelivery, guestApicIds: readonly number[], vcpus: readonly number[], base: AmdHostPlatform = amdHostBase(delivery, guestApicIds)): HostLayerResult {
  const n = guestApicIds.length;
  let state = base.state;
  const counter = amdRegions(n, base.functions);
  const outcomes: (HostOutcome | undefined)[] = new Array<HostOutcome | undefined>(n).fill(undefined);
  for (const vcpu of vcpus) {
    const apicId = guestApicIds[vcpu]!;
    if (delivery !== 'remapped' && apicId > AVIC_MAX_APIC_ID[delivery]) {
      const limit = AVIC_MAX_APIC_ID[delivery];
      const why = `APIC ID ${apicId} is above ${delivery === 'avic' ? 'AVIC' : 'x2AVIC'}'s physical APIC ID table (max 0x${limit.toString(16).toUpperCase()}, KVM ${delivery === 'avic' ? 'AVIC_MAX_PHYSICAL_ID' : 'X2AVIC_MAX_PHYSICAL_ID'}): KVM does not run the VM with AVIC`;
      outcomes[vcpu] = { vcpu, reached: false, why, setup: NO_SETUP, firstInterrupt: NO_COST, message: { address: 0n, data: 0 } };
      continue;
    }
    const slot = amdSlotOf(vcpu);
    const fn = amdFunction(slot.function).key;
    const v = vcpuAt(state.vcpus, vcpu)!;
    const pcpuApicId = state.cpus[v.pcpu]!.apicId;
    const irte: AmdViSteps =
      delivery === 'remapped'
        ? { 'amd-irte': { device: fn, index: slot.index, vector: HOST_VECTOR, destination: pcpuApicId, deliveryMode: 'fixed', destinationMode: 'physical' } }
        : { 'amd-irte': { device: fn, index: slot.index, guestMode: true, vector: GUEST_VECTOR, gaTag: vcpu, backingPage: `0x${v.pda.toString(16)}`, isRun: true, destination: pcpuApicId } };
    const msi = composeAmdRemappedMsi(slot.index);
    const setupActions: Action[] = [
      ...compileAmd(base.steps, [
        irte,
        { 'amd-command': { iommu: 0, command: 'invalidate-interrupt-table', deviceId: fn } },
        { 'amd-command': { iommu: 0, command: 'completion-wait', storeAddress: `0x${AMD_LAYOUT.completionStore.toString(16)}`, data: 1 } },
      ]),
      { kind: 'program-msix', device: fn, entry: 0, address: msi.address, data: msi.data, masked: false },
    ];
    const setupEvents: PlatformEvent[] = [];
    for (const a of setupActions) {
      const r = applyAction(state, a);
      state = r.state;
      setupEvents.push(...r.events);
    }
    const entry = state.devices[fn]!.msix!.table[0]!;
    const fired = measuredInterrupt(state, { kind: 'signal', device: fn, vector: 0 }, counter);
    const why = verify(state, delivery, vcpu, fired.events);
    state = fired.state;
    outcomes[vcpu] = {
      vcpu,
      reached: why === undefined,
      why,
      setup: amdHostSetupOf(setupEvents, delivery === 'remapped' ? 0 : 1),
      firstInterrupt: fired.cost,
      message: { address: entry.address, data: entry.data },
      device: fn,
    };
  }
  return { delivery, outcomes, state, perVm: NO_SETUP };
}

/**
 * Steady-state cost per interrupt on an AMD host when the functions interrupt the vCPUs
 * `vcpus` round robin: one round to warm the caches, the mean over a second. The IRTE cache is
 * the model's (src/amdvi/caches.ts: FIFO, 32 entries, VirtualBox's size; not architectural).
 */
export function amdSteadyStateCost(host: HostLayerResult, vcpus: readonly number[]): InterruptCost | undefined {
  const reached = vcpus.map((v) => host.outcomes[v]).filter((o): o is HostOutcome => o?.reached === true);
  if (reached.length === 0) return undefined;
  const n = host.state.vcpus.count;
  const counter = amdRegions(n, Math.max(1, Math.ceil(n / 512)));
  let state = host.state;
  const total = { ...NO_COST };
  for (let round = 0; round < 2; round++) {
    for (const o of reached) {
      const r = measuredInterrupt(state, { kind: 'msi-write', device: o.device!, address: o.message.address, data: o.message.data }, counter);
      state = r.state;
      if (round === 0) continue;
      for (const k of Object.keys(total) as (keyof InterruptCost)[]) (total as Record<keyof InterruptCost, number>)[k] += r.cost[k];
    }
  }
  const k = reached.length;
  return { irteReads: total.irteReads / k, tableReads: total.tableReads / k, pidReads: total.pidReads / k, pidWrites: total.pidWrites / k, notifications: total.notifications / k, vmExits: total.vmExits / k };
}
