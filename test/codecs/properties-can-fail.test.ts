/**
 * The round-trip properties are only evidence if they can fail. Each property here is run
 * against the real codec (must hold) and against a deliberately broken one (fc.check must
 * report a counterexample).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { defineLayout, type Layout } from '../../src/bits/layout.ts';
import { REMAPPED_IRTE_LAYOUT, decodeIrte, encodeIrte, type Irte } from '../../src/vtd/irte.ts';
import { decodeRemappableAddress, encodeRemappableAddress, type RemappableAddress } from '../../src/vtd/remappable-msi.ts';
import { apicIdFromNdst, ndstForApicId } from '../../src/vtd/pid.ts';
import { RUNS, bitsN, uint } from './arbitraries.ts';

interface Codec<T> {
  decode(x: bigint): T;
  encode(t: T): bigint;
}

/** encode(decode(x)) === x over every `width`-bit pattern. */
const rawRoundTrip = <T,>(c: Codec<T>, width: number) => fc.property(bitsN(width), (x) => c.encode(c.decode(x)) === x);

/** decode(encode(v)) deep-equals v. */
const fieldRoundTrip = <T,>(c: Codec<T>, arb: fc.Arbitrary<T>) =>
  fc.property(arb, (v) => {
    expect(c.decode(c.encode(v))).toEqual(v);
  });

type LayoutValue = { f: Record<string, number>; r: bigint };
const layoutCodec = (dec: Layout<string>, enc: Layout<string> = dec): Codec<LayoutValue> => ({
  decode: (x) => ({ f: dec.decode(x), r: dec.reservedSet(x) }),
  encode: ({ f, r }) => enc.encode(f, r & enc.reservedMask),
});

// The remapped IRTE table with V moved up one bit (24:17 instead of 23:16).
const SHIFTED_V = defineLayout({
  ...REMAPPED_IRTE_LAYOUT.spec,
  name: 'IRTE with V shifted by one',
  fields: { ...REMAPPED_IRTE_LAYOUT.spec.fields, V: { hi: 24, lo: 17 } },
  reserved: [
    { hi: 14, lo: 12 },
    { hi: 16, lo: 16 },
    { hi: 31, lo: 25 },
    { hi: 127, lo: 84 },
  ],
});

const realIrte: Codec<{ irte: Irte; reserved: bigint }> = {
  decode: decodeIrte,
  encode: ({ irte, reserved }) => encodeIrte(irte, reserved),
};

describe('round-trip properties detect broken codecs', () => {
  it('raw round trip: holds for the IRTE table, fails when decode reads V one bit too high', () => {
    expect(fc.check(rawRoundTrip(realIrte, 128), RUNS).failed).toBe(false);
    expect(fc.check(rawRoundTrip(layoutCodec(REMAPPED_IRTE_LAYOUT), 128), RUNS).failed).toBe(false);
    expect(fc.check(rawRoundTrip(layoutCodec(SHIFTED_V, REMAPPED_IRTE_LAYOUT), 128), RUNS).failed).toBe(true);
  });

  it('field round trip: fails when encode and decode disagree on V', () => {
    type Sub = { V: number; DST: number; SID: number };
    const sub = (dec: Layout<string>, enc: Layout<string>): Codec<Sub> => ({
      decode: (x) => {
        const f = dec.decode(x);
        return { V: f['V']!, DST: f['DST']!, SID: f['SID']! };
      },
      encode: (v) => enc.encode(v),
    });
    const subArb = fc.record({ V: uint(8), DST: uint(32), SID: uint(16) });
    expect(fc.check(fieldRoundTrip(sub(REMAPPED_IRTE_LAYOUT, REMAPPED_IRTE_LAYOUT), subArb), RUNS).failed).toBe(false);
    expect(fc.check(fieldRoundTrip(sub(SHIFTED_V, REMAPPED_IRTE_LAYOUT), subArb), RUNS).failed).toBe(true);
  });

  it('a self-consistent but shifted table passes round trips, and the pinned Linux debugfs value catches it', () => {
    const selfConsistent = layoutCodec(SHIFTED_V);
    expect(fc.check(rawRoundTrip(selfConsistent, 128), RUNS).failed).toBe(false);
    const debugfs = (0x0000000000040050n << 64n) | 0x000000800024000dn;
    expect(REMAPPED_IRTE_LAYOUT.decode(debugfs).V).toBe(0x24);
    expect(SHIFTED_V.decode(debugfs).V).not.toBe(0x24);
  });

  it('all-handles property fails when handle[15] (address bit 2) is dropped', () => {
    const handles = (decode: (x: bigint) => RemappableAddress) =>
      fc.property(uint(16), (handle) => decode(encodeRemappableAddress({ base: 0xfee, handle, shv: true, interruptFormat: 1, ignored: 0, high: 0 })).handle === handle);
    expect(fc.check(handles(decodeRemappableAddress), RUNS).failed).toBe(false);
    const dropsBit15 = (x: bigint) => ({ ...decodeRemappableAddress(x), handle: decodeRemappableAddress(x).handle & 0x7fff });
    expect(fc.check(handles(dropsBit15), RUNS).failed).toBe(true);
  });

  it('NDST property fails for an xAPIC encoder that forgets the << 8', () => {
    const prop = (enc: (id: number) => number) => fc.property(uint(8), (id) => apicIdFromNdst(enc(id), false) === id);
    expect(fc.check(prop((id) => ndstForApicId(id, false)), RUNS).failed).toBe(false);
    expect(fc.check(prop((id) => id), RUNS).failed).toBe(true);
  });
});
