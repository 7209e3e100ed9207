/**
 * The platforms the explorer simulates on: the guest's view (its vCPUs as the APIC IDs of
 * the interrupt controller it programs, a virtual VT-d unit for the vIOMMU schemes) and the
 * host's (one pCPU per vCPU, the physical VT-d unit, the assigned device). Built with
 * `buildPlatform` and brought up with the real transition function.
 */
import { buildPlatform, DEFAULT_CAP, DEFAULT_ECAP, type PlatformDescription } from '../platform/build.ts';
import type { ApicMode, PlatformState } from '../platform/state.ts';
import type { Action } from '../platform/actions.ts';
import { applyActions } from '../platform/transition.ts';
import { irEnableSequence } from '../platform/ir-enable.ts';
import { vcpuList, vcpuTable } from '../platform/vcpu-table.ts';
import { encodePid, ndstForApicId, PID_BYTES } from '../vtd/pid.ts';
import { POSTED_INTR_VECTOR } from '../policy/kvm.ts';
import { produce } from 'immer';

/** The assigned device (a VF at 01:00.0) as both the guest and the host see it. */
export const DEVICE = '01:00.0';
/** Its requester ID (bus 1, device 0, function 0). */
export const DEVICE_RID = 0x0100;
/** Vector the guest driver asks for (any fixed-delivery vector works; 0x41 as in specs/examples). */
export const GUEST_VECTOR = 0x41;
/** Vector the host allocates for its remapped IRTE (the host's own vector space). */
export const HOST_VECTOR = 0x30;
/** Where the IRT lives (HPA of the host table, GPA of the guest's). */
export const IRT_BASE = 0x1_0000_0000n;
/** First PID (64 bytes per vCPU from here). */
export const PID_BASE = 0x4000_0000n;
/** Where the HYPOTHETICAL direct-post tables live (the direct-post design's default, src/vmm/designs/direct-post.ts). */
export const DIRECT_POST_TABLE_BASE = 0x2_0000_0000n;
/** CAP_REG with PI (bit 59) set: the R820 value of DEFAULT_CAP | PI, as bench/posted.ts and specs/examples/posted-kvm.yaml use. */
export const PI_CAP = 0x08d2078c106f0462n;

const NO_SCOPE = { endpoints: [], bridges: [], busRanges: [], ioapics: [], hpets: [] } as const;

/** Smallest IRT size (power of two, 2..65536) holding `entries`. @throws RangeError above 65536. */
export function irtEntriesFor(entries: number): number {
  let n = 2;
  while (n < entries) n *= 2;
  if (n > 65536) throw new RangeError(`${entries} IRTEs do not fit one IRT (65536 at most)`);
  return n;
}

function run(state: PlatformState, actions: readonly Action[]): PlatformState {
  return applyActions(state, actions).state;
}

/**
 * The guest's view: CPUs = its vCPUs (pCPU index i of this platform is vCPU i), the assigned
 * device with one MSI-X entry enabled, and for `viommu` a VT-d unit with IR enabled (EIME=1)
 * by Linux's sequence, its IRT sized for one IRTE per vCPU.
 */
export function guestPlatform(o: { apicIds: readonly number[]; apicMode: ApicMode; extendedDestinationId: boolean; viommu: boolean; xapicLogicalModel?: 'flat' | 'cluster' }): PlatformState {
  const description: PlatformDescription = {
    hostAddressWidth: 46,
    apicMode: o.apicMode,
    extendedDestinationId: o.extendedDestinationId,
    ...(o.xapicLogicalModel === undefined ? {} : { xapicLogicalModel: o.xapicLogicalModel }),
    apicIds: o.apicIds,
    iommus: o.viommu ? [{ segment: 0, registerBase: 0xfed9_0000n, includePciAll: true, cap: DEFAULT_CAP, ecap: DEFAULT_ECAP, scope: NO_SCOPE }] : [],
    devices: [{ segment: 0, rid: DEVICE_RID, key: DEVICE, name: 'assigned VF (guest view)', upstream: [], msix: { tableSize: 1 } }],
    domains: [{ name: 'guest', kind: 'host', cpus: o.apicIds.map((_, i) => i), devices: [DEVICE] }],
    grants: [],
  };
  const actions: Action[] = [{ kind: 'msix-control', device: DEVICE, enabled: true }];
  if (o.viommu) actions.unshift(...irEnableSequence(0, { base: IRT_BASE, eime: true, entries: irtEntriesFor(o.apicIds.length) }).actions);
  return run(buildPlatform(description), actions);
}

/**
 * Every vCPU v running on pCPU v with the PID the KVM-like policy's `schedule` leaves on a
 * first load (SN=0, ON=0, NV=POSTED_INTR_VECTOR, NDST = the pCPU's x2APIC ID), written in one
 * step: through `schedule` each load copies the table's pCPU→vCPU index, which is quadratic
 * for 4,096 vCPUs. test/explorer/platforms.test.ts checks both give the same state.
 */
export function loadAllVcpus(state: PlatformState): PlatformState {
  let memory = state.memory;
  const vcpus = vcpuList(state.vcpus).map((v) => {
    const ndst = ndstForApicId(state.cpus[v.id]!.apicId, state.interrupts.apicMode === 'x2apic');
    memory = memory.writeLE(v.pda, PID_BYTES, encodePid({ pir: 0n, on: false, sn: false, nv: POSTED_INTR_VECTOR, ndst }));
    return { ...v, run: 'running' as const, pcpu: v.id };
  });
  return produce(state, (d) => {
    d.memory = memory;
    d.vcpus = vcpuTable(vcpus) as typeof d.vcpus;
  });
}

/**
 * The host platform's description (see {@link hostPlatform}). `direct`: the HYPOTHETICAL
 * direct-post hardware (key source-id, 8-bit vectors, 64-entry cache, tables at
 * {@link DIRECT_POST_TABLE_BASE}) with the direct-post VMM design, and the extended
 * destination ID the guest's compatibility messages carry its vAPIC IDs in (15 bits).
 */
export function hostDescription(o: { guestApicIds: readonly number[]; posted: boolean; direct?: boolean }): PlatformDescription {
  const cpus = o.guestApicIds.map((_, i) => i);
  return {
    hostAddressWidth: 46,
    apicMode: 'x2apic',
    extendedDestinationId: o.direct === true,
    ...(o.direct === true ? { directPost: { key: 'source-id', vectorBits: 8, cacheCapacity: 64, tableBase: DIRECT_POST_TABLE_BASE }, vmm: { design: 'direct-post' } } : {}),
    apicIds: cpus,
    iommus: [{ segment: 0, registerBase: 0xfed9_0000n, includePciAll: true, cap: o.posted ? PI_CAP : DEFAULT_CAP, ecap: DEFAULT_ECAP, scope: NO_SCOPE }],
    devices: [{ segment: 0, rid: DEVICE_RID, key: DEVICE, name: 'assigned VF', upstream: [], msix: { tableSize: 1 } }],
    domains: [
      { name: 'host', kind: 'host', cpus: [0], devices: [] },
      { name: 'vm', kind: 'guest', cpus, devices: [DEVICE], vcpuApicIds: o.guestApicIds },
    ],
    grants: [],
    policy: 'kvm',
    pidBase: PID_BASE,
  };
}

/**
 * The host: pCPU i (x2APIC ID i) runs vCPU i in guest mode (a pinned, dedicated-pCPU VM),
 * one VT-d unit with IR on (EIME=1, IRT sized for `irtes`), CAP.PI when `posted`, the VF
 * owned by the guest, KVM-like policy, every vCPU loaded ({@link loadAllVcpus}); with
 * `direct` the hypothetical direct-post hardware and VMM design ({@link hostDescription}).
 */
export function hostPlatform(o: { guestApicIds: readonly number[]; posted: boolean; irtes: number; direct?: boolean }): PlatformState {
  const actions: Action[] = [
    ...irEnableSequence(0, { base: IRT_BASE, eime: true, entries: irtEntriesFor(o.irtes) }).actions,
    { kind: 'msix-control', device: DEVICE, enabled: true },
  ];
  return loadAllVcpus(run(buildPlatform(hostDescription(o)), actions));
}
