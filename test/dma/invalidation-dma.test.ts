import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  GRANULARITY,
  decodeDmaInvalidation,
  encodeDmaInvalidation,
  CC_INV_LAYOUT,
  IOTLB_INV_LAYOUT,
  PIOTLB_INV_LAYOUT,
  PC_INV_LAYOUT,
  type DmaInvalidation,
} from '../../src/vtd/dma/invalidation-dma.ts';
import { descriptorType } from '../../src/vtd/invalidation.ts';
import { RUNS } from './fixtures.ts';

const bits128 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
const withType = (x: bigint, t: number) => (x & ~0xe0fn) | BigInt(t);
const uint = (w: number) => fc.integer({ min: 0, max: 2 ** w - 1 });
const page = fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }).map((x) => x << 12n);

const descArb: fc.Arbitrary<DmaInvalidation> = fc.oneof(
  fc.record({ kind: fc.constant('context-cache' as const), granularity: fc.constantFrom(...GRANULARITY.contextCache), did: uint(16), sid: uint(16), functionMask: uint(2) }),
  fc.record({
    kind: fc.constant('iotlb' as const),
    granularity: fc.constantFrom(...GRANULARITY.iotlb),
    drainWrites: fc.boolean(),
    drainReads: fc.boolean(),
    did: uint(16),
    addressMask: uint(6),
    invalidationHint: fc.boolean(),
    address: page,
  }),
  fc.record({
    kind: fc.constant('pasid-iotlb' as const),
    granularity: fc.constantFrom(...GRANULARITY.pasidIotlb),
    did: uint(16),
    pasid: uint(20),
    addressMask: uint(6),
    invalidationHint: fc.boolean(),
    address: page,
  }),
  fc.record({ kind: fc.constant('pasid-cache' as const), granularity: fc.constantFrom(...GRANULARITY.pasidCache), did: uint(16), pasid: uint(20) }),
);

describe('DMA invalidation descriptors, types 1, 2, 6, 7 (sheet §7.3, §7.4)', () => {
  for (const type of [1, 2, 6, 7]) {
    it(`type ${type}: encode(decode(x)) === x for every 128-bit pattern of that type`, () => {
      fc.assert(
        fc.property(bits128, (x) => {
          const v = withType(x, type);
          const d = decodeDmaInvalidation(v)!;
          return encodeDmaInvalidation(d.desc, d.reserved) === v;
        }),
        RUNS,
      );
    });
  }
  it('decode(encode(d)) === d over all field ranges', () => {
    fc.assert(
      fc.property(descArb, (d) => {
        const raw = encodeDmaInvalidation(d);
        expect(decodeDmaInvalidation(raw)).toEqual({ desc: d, reserved: 0n });
        expect(descriptorType(raw)).toBe({ 'context-cache': 1, iotlb: 2, 'pasid-iotlb': 6, 'pasid-cache': 7 }[d.kind]);
      }),
      RUNS,
    );
  });
  it('other types decode to undefined', () => {
    expect(decodeDmaInvalidation(4n)).toBeUndefined();
    expect(decodeDmaInvalidation(5n)).toBeUndefined();
  });
  it('pinned encodings (Linux QI_CC_*, QI_IOTLB_*, QI_PC_*)', () => {
    // qi_flush_context(iommu, did=5, sid=0x0310, fm=1, DMA_CCMD_DEVICE_INVL): G=3 → bits 5:4 = 11.
    expect(encodeDmaInvalidation({ kind: 'context-cache', granularity: 'device', did: 5, sid: 0x0310, functionMask: 1 })).toBe(
      0x1n | (3n << 4n) | (5n << 16n) | (0x0310n << 32n) | (1n << 48n),
    );
    // Page-selective IOTLB: G=3, DID 31:16; qw1 = ADDR | IH << 6 | AM.
    expect(
      encodeDmaInvalidation({ kind: 'iotlb', granularity: 'page', drainReads: true, drainWrites: true, did: 9, addressMask: 3, invalidationHint: true, address: 0xabc000n }),
    ).toBe((((0xabc000n | (1n << 6n) | 3n) as bigint) << 64n) | 0x2n | (3n << 4n) | (1n << 6n) | (1n << 7n) | (9n << 16n));
    expect(encodeDmaInvalidation({ kind: 'pasid-cache', granularity: 'pasid', did: 1, pasid: 0x12345 })).toBe(0x7n | (1n << 4n) | (1n << 16n) | (0x12345n << 32n));
  });
  it('reserved bits are reported; encoders reject bad input', () => {
    expect(decodeDmaInvalidation(0x1n | (1n << 100n))!.reserved).toBe(1n << 100n);
    expect(() => encodeDmaInvalidation({ kind: 'iotlb', granularity: 'page', drainReads: false, drainWrites: false, did: 0, addressMask: 0, invalidationHint: false, address: 0x123n })).toThrow(RangeError);
    expect(() => encodeDmaInvalidation({ kind: 'pasid-cache', granularity: 'pasid', did: 0, pasid: 1 << 20 })).toThrow(RangeError);
    for (const l of [CC_INV_LAYOUT, IOTLB_INV_LAYOUT, PIOTLB_INV_LAYOUT, PC_INV_LAYOUT]) expect(l.reservedMask).toBeGreaterThan(0n);
  });
});
