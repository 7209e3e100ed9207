/**
 * Small platforms and hand-made events for the tests that pin the properties and the
 * interrupt pipeline down (docs/mutation.md). Every state is built fresh per test (no
 * `beforeAll`): Stryker then attributes each mutant to the tests that reach it.
 */
import { buildPlatform, DEFAULT_PID_BASE, type PlatformDescription } from '../../src/platform/build.ts';
import type { InterruptDeliveredEvent, InterruptPostedEvent } from '../../src/platform/events.ts';
import type { Grant, PlatformState } from '../../src/platform/state.ts';
import { requesterId } from '../../src/pci/bdf.ts';

/** 07:00.0 and 07:00.1 belong to vm1, 08:00.0 to vm2, 09:00.0 to nobody. */
export const DEV_A = '07:00.0';
export const DEV_A1 = '07:00.1';
export const DEV_B = '08:00.0';
export const DEV_FREE = '09:00.0';
export const RID_A = requesterId(7, 0, 0);
export const RID_B = requesterId(8, 0, 0);

/** pCPU index → APIC ID: cpu0 0, cpu1 1, cpu2 4, cpu3 6. */
export const APIC_IDS = [0, 1, 4, 6] as const;

/**
 * vCPU ids: vm1.vcpu0 = 0, vm1.vcpu1 = 1, vm2.vcpu0 = 2; each PID 64 bytes from
 * DEFAULT_PID_BASE (0x40000000) in id order.
 */
export const pdaOf = (vcpu: number): bigint => DEFAULT_PID_BASE + BigInt(vcpu * 64);

export function description(grants: readonly Grant[] = []): PlatformDescription {
  return {
    hostAddressWidth: 39,
    apicMode: 'x2apic',
    extendedDestinationId: false,
    apicIds: APIC_IDS,
    iommus: [{ segment: 0, registerBase: 0xfed90000n, includePciAll: true, scope: { endpoints: [], bridges: [], busRanges: [], ioapics: [], hpets: [] } }],
    devices: [
      { key: DEV_A, rid: RID_A, segment: 0, name: 'a', upstream: [] },
      { key: DEV_A1, rid: requesterId(7, 0, 1), segment: 0, name: 'a1', upstream: [] },
      { key: DEV_B, rid: RID_B, segment: 0, name: 'b', upstream: [] },
      { key: DEV_FREE, rid: requesterId(9, 0, 0), segment: 0, name: 'free', upstream: [] },
    ],
    domains: [
      { name: 'host', kind: 'host', cpus: [0], devices: [] },
      { name: 'vm1', kind: 'guest', cpus: [1, 2], devices: [DEV_A, DEV_A1], vcpuApicIds: [0, 1] },
      { name: 'vm2', kind: 'guest', cpus: [3], devices: [DEV_B], vcpuApicIds: [0] },
    ],
    grants,
  };
}

export const platform = (grants: readonly Grant[] = []): PlatformState => buildPlatform(description(grants));

export const pcpuGrant = (requester: string, apicId: number, vector: number, deliveryModes: readonly number[] = [0, 1]): Grant => ({
  requester,
  target: { kind: 'pcpu', apicId },
  vector,
  deliveryModes,
});

export const vcpuGrant = (requester: string, vcpu: number, vector: number): Grant => ({ requester, target: { kind: 'vcpu', vcpu }, vector, deliveryModes: [0, 1] });

/** A remapped, fixed, physical delivery of vector 0x30 by 07:00.0 through IRTE 5 to cpu1 (APIC 1). */
export function delivered(o: Partial<InterruptDeliveredEvent> = {}): InterruptDeliveredEvent {
  return {
    kind: 'interrupt-delivered',
    step: 3,
    device: DEV_A,
    rid: RID_A,
    address: 0xfee000b0n,
    data: 0,
    path: 'remapped',
    iommu: 0,
    irteIndex: 5,
    iecHit: false,
    destination: 1,
    destinationMode: 'physical',
    vector: 0x30,
    deliveryMode: 0,
    triggerMode: 'edge',
    redirectionHint: false,
    targets: [1],
    candidates: [1],
    ...o,
  };
}

/** A posting of virtual vector 0x41 by 07:00.0 through IRTE 2 into vm1.vcpu1's PID. */
export function posted(o: Partial<InterruptPostedEvent> = {}): InterruptPostedEvent {
  return {
    kind: 'interrupt-posted',
    step: 4,
    device: DEV_A,
    rid: RID_A,
    address: 0xfee00050n,
    data: 0,
    iommu: 0,
    irteIndex: 2,
    iecHit: false,
    pda: pdaOf(1),
    virtualVector: 0x41,
    urgent: false,
    snSet: false,
    notification: { vector: 0xf2, apicId: 4, targets: [2] },
    suppressed: undefined,
    ...o,
  };
}
