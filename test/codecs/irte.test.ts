import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  IRTE_BYTES,
  POSTED_IRTE_LAYOUT,
  REMAPPED_IRTE_LAYOUT,
  decodeIrte,
  encodeIrte,
  irteDestinationApicId,
  irteDestinationField,
  type PostedIrte,
  type RemappedIrte,
} from '../../src/vtd/irte.ts';
import { RUNS, bitsN, same, uint } from './arbitraries.ts';

const common = {
  present: fc.boolean(),
  fpd: fc.boolean(),
  avail: uint(4),
  sid: uint(16),
  sq: uint(2),
  svt: uint(2),
};

const remappedArb: fc.Arbitrary<RemappedIrte> = fc.record({
  ...common,
  mode: fc.constant('remapped' as const),
  destinationModeLogical: fc.boolean(),
  redirectionHint: fc.boolean(),
  triggerLevel: fc.boolean(),
  deliveryMode: uint(3),
  vector: uint(8),
  destination: uint(32),
});

const pdaArb = fc.bigInt({ min: 0n, max: (1n << 58n) - 1n }).map((x) => x << 6n); // 0 .. 2^64-64, 64-byte aligned
const postedArb: fc.Arbitrary<PostedIrte> = fc.record({
  ...common,
  mode: fc.constant('posted' as const),
  urgent: fc.boolean(),
  virtualVector: uint(8),
  pda: pdaArb,
});

/** Arbitrary bits confined to a format's reserved ranges. */
const fit = (reservedMask: bigint): fc.Arbitrary<bigint> => bitsN(128).map((x) => x & reservedMask);

describe('IRTE codec (sheet §3)', () => {
  it('is 16 bytes', () => expect(IRTE_BYTES).toBe(16));

  it('encode(decode(x)) === x for every 128-bit pattern', () => {
    fc.assert(
      fc.property(bitsN(128), (x) => {
        const { irte, reserved } = decodeIrte(x);
        return encodeIrte(irte, reserved) === x;
      }),
      { ...RUNS, numRuns: 2000 },
    );
  });

  it('decode(encode(remapped fields)) equals the fields, with reserved bits carried through', () => {
    fc.assert(
      fc.property(remappedArb, fit(REMAPPED_IRTE_LAYOUT.reservedMask), (irte, reserved) => {
        same(decodeIrte(encodeIrte(irte, reserved)), { irte, reserved });
      }),
      RUNS,
    );
  });

  it('decode(encode(posted fields)) equals the fields over the whole PDA range', () => {
    fc.assert(
      fc.property(postedArb, fit(POSTED_IRTE_LAYOUT.reservedMask), (irte, reserved) => {
        same(decodeIrte(encodeIrte(irte, reserved)), { irte, reserved });
      }),
      RUNS,
    );
    const top: PostedIrte = { mode: 'posted', present: true, fpd: false, avail: 0, sid: 0, sq: 0, svt: 0, urgent: true, virtualVector: 0xff, pda: (1n << 64n) - 64n };
    expect(decodeIrte(encodeIrte(top)).irte).toEqual(top);
  });

  it('decoding never throws', () => {
    fc.assert(fc.property(fc.bigInt(), (x) => { decodeIrte(x); }), RUNS);
  });

  it('Linux debugfs example: IRTE_high 0x0000000000040050, IRTE_low 0x000000800024000d', () => {
    const raw = (0x0000000000040050n << 64n) | 0x000000800024000dn;
    const { irte, reserved } = decodeIrte(raw);
    expect(reserved).toBe(0n);
    expect(irte).toEqual({
      mode: 'remapped',
      present: true,
      fpd: false,
      destinationModeLogical: true,
      redirectionHint: true,
      triggerLevel: false,
      deliveryMode: 0,
      avail: 0,
      vector: 0x24,
      destination: 0x80,
      sid: 0x0050,
      sq: 0,
      svt: 1,
    });
    // DST 0x80 means different things per IRTA.EIME: with EIME=1 it is the 32-bit ID 0x80
    // (here logical, DM=1: x2APIC cluster 0, member bit 7); with EIME=0 the ID is DST[15:8] = 0
    // and DST[7:0] = 0x80 sits in bits reserved in xAPIC mode.
    expect(irteDestinationApicId(irte.mode === 'remapped' ? irte.destination : -1, true)).toEqual({ apicId: 0x80, dstReserved: 0 });
    expect(irteDestinationApicId(0x80, false)).toEqual({ apicId: 0x00, dstReserved: 0x80 });
    expect(encodeIrte(irte)).toBe(raw);
  });

  it('posted entries: PDA = PDA_H << 32 | PDA_L << 6, IM=1 at bit 15', () => {
    const p: PostedIrte = { mode: 'posted', present: true, fpd: false, avail: 0, sid: 0x0100, sq: 0, svt: 1, urgent: false, virtualVector: 0x31, pda: 0x1_2345_6780n };
    const raw = encodeIrte(p);
    expect(raw & 0xffff_ffff_ffff_ffffn).toBe((0x2345_6780n >> 6n) << 38n | 0x31n << 16n | 1n << 15n | 1n);
    expect(raw >> 96n).toBe(1n);
  });

  it('reserved bits are reported per format', () => {
    expect(decodeIrte(1n << 12n).reserved).toBe(1n << 12n); // remapped 14:12
    expect(decodeIrte(1n << 127n).reserved).toBe(1n << 127n); // remapped 127:84
    expect(decodeIrte((1n << 15n) | (1n << 2n)).reserved).toBe(1n << 2n); // posted 7:2
    expect(decodeIrte((1n << 15n) | (1n << 127n)).reserved).toBe(0n); // posted: PDA_H
    // DST bits are never counted here, whatever EIME is
    expect(decodeIrte(0xffff_ffffn << 32n).reserved).toBe(0n);
  });

  it('rejects misfits', () => {
    const base = decodeIrte(0n).irte as RemappedIrte;
    expect(() => encodeIrte({ ...base, vector: 256 })).toThrow(RangeError);
    expect(() => encodeIrte({ ...base, destination: 2 ** 32 })).toThrow(RangeError);
    expect(() => encodeIrte(base, 1n << 2n)).toThrow(RangeError); // bit 2 is DM in remapped format
    const posted = decodeIrte(1n << 15n).irte as PostedIrte;
    expect(() => encodeIrte({ ...posted, pda: 0x1000n + 32n })).toThrow(RangeError);
    expect(() => encodeIrte({ ...posted, pda: 1n << 64n })).toThrow(RangeError);
    expect(() => encodeIrte({ ...posted, pda: -64n })).toThrow(RangeError);
  });
});

describe('DST field ↔ APIC ID (sheet §3.1)', () => {
  it('EIME=1: any 32-bit x2APIC ID is the DST itself', () => {
    fc.assert(
      fc.property(uint(32), (id) => {
        const dst = irteDestinationField(id, true);
        same(irteDestinationApicId(dst, true), { apicId: id, dstReserved: 0 });
      }),
      RUNS,
    );
  });
  it('EIME=0: every 8-bit APIC ID sits in DST[15:8] with no reserved bits', () => {
    for (let id = 0; id <= 0xff; id++) {
      expect(irteDestinationField(id, false)).toBe(id << 8);
      expect(irteDestinationApicId(id << 8, false)).toEqual({ apicId: id, dstReserved: 0 });
    }
    expect(() => irteDestinationField(0x100, false)).toThrow(RangeError);
    expect(() => irteDestinationField(2 ** 32, true)).toThrow(RangeError);
  });
  it('EIME=0: reserved DST bits 7:0 and 31:16 are reported in place', () => {
    fc.assert(
      fc.property(uint(32), (dst) => {
        const r = irteDestinationApicId(dst, false);
        return r.apicId === ((dst >>> 8) & 0xff) && r.dstReserved === (dst & 0xffff00ff) >>> 0;
      }),
      RUNS,
    );
    expect(irteDestinationApicId(0xffff_ffff, false)).toEqual({ apicId: 0xff, dstReserved: 0xffff_00ff });
  });
});
