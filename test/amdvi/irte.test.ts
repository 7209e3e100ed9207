import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  GA_IRTE_BYTES,
  LEGACY_IRTE_ALLOCATED,
  LEGACY_IRTE_BYTES,
  decodeAmdIrte,
  decodeGaIrte,
  decodeLegacyIrte,
  encodeAmdIrte,
  irteBytes,
  type GaRemappedIrte,
  type GaVapicIrte,
  type LegacyIrte,
} from '../../src/amdvi/irte.ts';
import { RUNS, bitsN, uint } from '../codecs/arbitraries.ts';

const legacyArb: fc.Arbitrary<LegacyIrte> = fc.record({
  format: fc.constant('legacy' as const),
  remapEn: fc.boolean(),
  supIopf: fc.boolean(),
  intType: uint(3),
  rqEoi: fc.boolean(),
  destinationModeLogical: fc.boolean(),
  guestMode: fc.boolean(),
  destination: uint(8),
  vector: uint(8),
  reserved: uint(8).map((x) => BigInt(x) << 24n),
});
const gaRemapArb: fc.Arbitrary<GaRemappedIrte> = fc.record({
  format: fc.constant('ga-remapped' as const),
  remapEn: fc.boolean(),
  supIopf: fc.boolean(),
  intType: uint(3),
  rqEoi: fc.boolean(),
  destinationModeLogical: fc.boolean(),
  destination: uint(32),
  vector: uint(8),
  reserved: fc.constant(0n),
});
const gaVapicArb: fc.Arbitrary<GaVapicIrte> = fc.record({
  format: fc.constant('ga-vapic' as const),
  remapEn: fc.boolean(),
  supIopf: fc.boolean(),
  gaLogIntr: fc.boolean(),
  gaPpiDis: fc.boolean(),
  isRun: fc.boolean(),
  destination: uint(32),
  gaTag: uint(32),
  vector: uint(8),
  backingPage: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }).map((x) => x << 12n),
  reserved: fc.constant(0n),
});

describe('AMD-Vi IRTE codecs (spec-facts §9.3–§9.4)', () => {
  it('entry size is 4 bytes, or 16 with Control.GAEn', () => {
    expect([LEGACY_IRTE_BYTES, GA_IRTE_BYTES, irteBytes(false), irteBytes(true)]).toEqual([4, 16, 4, 16]);
  });

  it('legacy: encode(decode(x)) === x for every 32-bit pattern', () => {
    fc.assert(fc.property(bitsN(32), (x) => encodeAmdIrte(decodeLegacyIrte(x)) === x), RUNS);
  });
  it('128-bit: encode(decode(x)) === x for every 128-bit pattern (both GuestMode values)', () => {
    fc.assert(fc.property(bitsN(128), (x) => encodeAmdIrte(decodeGaIrte(x)) === x), { ...RUNS, numRuns: 2000 });
  });
  it('decode(encode(v)) === v for every format', () => {
    fc.assert(fc.property(legacyArb, (v) => {
      expect(decodeAmdIrte(encodeAmdIrte(v), false)).toEqual(v);
    }), RUNS);
    fc.assert(fc.property(gaRemapArb, (v) => {
      expect(decodeAmdIrte(encodeAmdIrte(v), true)).toEqual(v);
    }), RUNS);
    fc.assert(fc.property(gaVapicArb, (v) => {
      expect(decodeAmdIrte(encodeAmdIrte(v), true)).toEqual(v);
    }), RUNS);
  });

  it('decodes what Linux irte_prepare writes (legacy: valid, fixed, physical, dest 3, vector 0x31)', () => {
    const v = decodeLegacyIrte(0x0031_0301);
    expect(v).toMatchObject({ remapEn: true, intType: 0, destinationModeLogical: false, destination: 3, vector: 0x31, reserved: 0n });
  });

  it('decodes what Linux irte_ga_prepare writes for x2APIC ID 0x01234567', () => {
    // lo: valid | dest_lo (0x234567) << 8; hi: vector 0x40 | dest_hi (0x01) << 56
    const lo = 1n | (0x23_4567n << 8n);
    const hi = 0x40n | (0x01n << 56n);
    const v = decodeGaIrte((hi << 64n) | lo);
    expect(v).toMatchObject({ format: 'ga-remapped', remapEn: true, destination: 0x0123_4567, vector: 0x40, reserved: 0n });
  });

  it('decodes a KVM vAPIC IRTE (amd_iommu_activate_guest_mode)', () => {
    // lo: valid | is_run (6) | guest_mode (7) | dest 5 << 8 | ga_tag << 32; hi: vector 0x61 | ga_root_ptr << 12
    const page = 0x12_3456_7000n;
    const lo = 1n | (1n << 6n) | (1n << 7n) | (5n << 8n) | (0x0001_0002n << 32n);
    const hi = 0x61n | ((page >> 12n) << 12n);
    const v = decodeGaIrte((hi << 64n) | lo);
    expect(v).toMatchObject({ format: 'ga-vapic', remapEn: true, isRun: true, gaLogIntr: false, destination: 5, gaTag: 0x10002, vector: 0x61, backingPage: page });
  });

  it("Linux's free-slot marker 0xFFFFFFFE has RemapEn = 0", () => {
    expect(decodeLegacyIrte(LEGACY_IRTE_ALLOCATED).remapEn).toBe(false);
  });

  it('rejects values that do not fit', () => {
    const base = decodeGaIrte(1n << 7n) as GaVapicIrte;
    expect(() => encodeAmdIrte({ ...base, backingPage: 0x1001n })).toThrow(RangeError);
    expect(() => encodeAmdIrte({ ...decodeLegacyIrte(0), vector: 256 })).toThrow(RangeError);
    expect(() => encodeAmdIrte({ ...decodeLegacyIrte(0), reserved: 1n })).toThrow(RangeError);
  });
});
