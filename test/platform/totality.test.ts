/**
 * Hardware transitions are total (DESIGN.md §1): whatever the inputs — raw register
 * values, raw IRTEs and descriptors, any device write or DMA, scheduling requests for
 * anything — `applyAction` returns a state and events and never throws. Also shown able
 * to fail: the same property over a transition that throws on a malformed IRTE is refuted.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildPlatform, type PlatformDescription } from '../../src/platform/build.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import { decodeIrte } from '../../src/vtd/irte.ts';

const SEED = 0x7074_0001;
const DEVICES = ['05:00.0', '06:00.0'];

const platform: PlatformDescription = {
  hostAddressWidth: 39,
  apicMode: 'x2apic',
  extendedDestinationId: false,
  apicIds: [0, 1, 2, 3],
  iommus: [{ segment: 0, registerBase: 0xfed90000n, includePciAll: true, cap: 0x08d2078c106f0462n, ecap: 0xf020fen, scope: { endpoints: [], bridges: [], busRanges: [], ioapics: [], hpets: [] } }],
  devices: [
    { segment: 0, rid: 0x500, key: DEVICES[0]!, name: 'a', upstream: [], msi: { vectors: 4, maskable: true }, msix: { tableSize: 4 } },
    { segment: 0, rid: 0x600, key: DEVICES[1]!, name: 'b', upstream: [], msix: { tableSize: 2 } },
  ],
  domains: [
    { name: 'host', kind: 'host', cpus: [0], devices: [] },
    { name: 'vm1', kind: 'guest', cpus: [1, 2], devices: [DEVICES[0]!], vcpuApicIds: [0, 1] },
    { name: 'vm2', kind: 'guest', cpus: [3], devices: [DEVICES[1]!], vcpuApicIds: [0] },
  ],
  grants: [],
  policy: 'kvm',
};

const u64 = fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0xfee0_0000n, max: 0xfeef_ffffn }), fc.bigInt({ min: 0n, max: 0x2000_0000n }));
const u128 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
const small = fc.integer({ min: -2, max: 8 });
const device = fc.constantFrom(...DEVICES, '07:00.0');

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('write-irta' as const), iommu: small, value: u64 }),
  fc.record({ kind: fc.constant('write-gcmd' as const), iommu: small, value: fc.integer({ min: 0, max: 0xffff_ffff }) }),
  fc.record({ kind: fc.constant('write-irte' as const), iommu: small, index: fc.integer({ min: 0, max: 0xffff }), value: u128 }),
  fc.record({ kind: fc.constant('invalidate-iec' as const), iommu: small, descriptor: u128 }),
  fc.record({ kind: fc.constant('invalidate-dma' as const), iommu: small, descriptor: u128 }),
  fc.record({ kind: fc.constant('invalidation-wait' as const), iommu: small, descriptor: u128 }),
  fc.record({ kind: fc.constant('write-rtaddr' as const), iommu: small, value: u64 }),
  fc.record({ kind: fc.constant('dma-root' as const), iommu: small, scalable: fc.boolean() }),
  fc.record({ kind: fc.constant('clear-fault' as const), iommu: small, record: small }),
  fc.record({ kind: fc.constant('msi-write' as const), device, address: u64, data: fc.integer({ min: 0, max: 0xffff_ffff }) }),
  fc.record({ kind: fc.constant('dma' as const), device, address: u64, size: fc.integer({ min: -1, max: 70 }), write: fc.boolean(), value: u128 }),
  fc.record({ kind: fc.constant('program-msix' as const), device, entry: small, address: u64, data: fc.integer({ min: 0, max: 0xffff_ffff }), masked: fc.boolean() }),
  fc.record({ kind: fc.constant('program-msi' as const), device, enabled: fc.boolean(), address: u64, data: fc.integer({ min: 0, max: 0xffff }), mme: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('msix-control' as const), device, enabled: fc.boolean(), functionMask: fc.boolean() }),
  fc.record({ kind: fc.constant('signal' as const), device, vector: small }),
  fc.record({ kind: fc.constant('schedule' as const), vcpu: small, pcpu: small }),
  fc.record({ kind: fc.constant('preempt' as const), vcpu: small }),
  fc.record({ kind: fc.constant('halt' as const), vcpu: small }),
  fc.record({ kind: fc.constant('guest-ack' as const), vcpu: small }),
  fc.record({ kind: fc.constant('guest-eoi' as const), vcpu: small }),
  fc.record({ kind: fc.constant('guest-msi' as const), device, entry: small, destination: small, vector: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('pid-write' as const), vcpu: small, on: fc.boolean(), sn: fc.boolean(), nv: fc.integer({ min: 0, max: 255 }), ndst: fc.integer({ min: 0, max: 0xffff_ffff }) }),
  fc.record({ kind: fc.constant('write-memory' as const), address: u64, bytes: fc.integer({ min: 1, max: 16 }), value: u128.map((v) => v & 0xffn) }),
);

function runAll(state: PlatformState, actions: readonly Action[], apply: typeof applyAction): void {
  let s = state;
  actions.forEach((a, i) => {
    const r = apply(s, a, i);
    for (const e of r.events) expect(e.step).toBe(i);
    s = r.state;
  });
}

describe('transitions are total', () => {
  it('no action sequence makes applyAction throw', () => {
    const base = buildPlatform(platform);
    fc.assert(fc.property(fc.array(actionArb, { maxLength: 40 }), (actions) => runAll(base, actions, applyAction)), { seed: SEED, numRuns: 300 });
  });

  it('is refuted for a transition that throws on an IRTE with reserved bits', () => {
    const base = buildPlatform(platform);
    const strict: typeof applyAction = (s, a) => {
      if (a.kind === 'write-irte' && decodeIrte(a.value).reserved !== 0n) throw new Error('reserved bits');
      return applyAction(s, a);
    };
    const r = fc.check(fc.property(fc.array(actionArb, { maxLength: 40 }), (actions) => runAll(base, actions, strict)), { seed: SEED, numRuns: 300 });
    expect(r.failed).toBe(true);
  });
});
