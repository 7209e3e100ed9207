/**
 * HYPOTHETICAL direct-post formats (src/hypothetical/direct-post/table.ts): every codec
 * round-trips, checked with fast-check (fixed seeds), and each property is shown able to fail
 * against a deliberately broken codec.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeDpta,
  decodeDptInvalidation,
  decodeRootEntry,
  decodeVapicEntry,
  encodeDpta,
  encodeDptInvalidation,
  encodeRootEntry,
  encodeVapicEntry,
  rootEntryAddress,
  vapicEntryAddress,
  DIRECT_POST_ENTRY_BYTES,
  DIRECT_POST_ROOT_ENTRIES,
  type DptInvalidation,
} from '../../src/hypothetical/direct-post/table.ts';

const RUNS = { seed: 0xd1ec7, numRuns: 400 } as const;
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

type Raw = { decode: (x: bigint) => unknown; encode: (v: never) => bigint };
const rawRoundTrip = (c: Raw) => fc.property(u64, (x) => c.encode(c.decode(x) as never) === x);

const dpta: Raw = { decode: decodeDpta, encode: encodeDpta };
const root: Raw = { decode: decodeRootEntry, encode: encodeRootEntry };
const vapic: Raw = { decode: decodeVapicEntry, encode: encodeVapicEntry };

// Broken on purpose: TS read one bit too high; PDA bit 63 dropped on encode; URG taken from bit 2.
const brokenDpta: Raw = { decode: (x) => ({ ...decodeDpta(x), ts: Number((x >> 2n) & 0xfn) }), encode: encodeDpta };
const brokenVapic: Raw = { decode: decodeVapicEntry, encode: (v: Parameters<typeof encodeVapicEntry>[0]) => encodeVapicEntry({ ...v, pda: v.pda & ~(1n << 63n) }) };
const brokenUrg: Raw = { decode: (x) => ({ ...decodeVapicEntry(x), urgent: ((x >> 2n) & 1n) === 1n }), encode: encodeVapicEntry };

const invalidations: fc.Arbitrary<DptInvalidation> = fc.record({
  granularity: fc.constantFrom('global' as const, 'source' as const, 'entry' as const),
  sid: fc.integer({ min: 0, max: 0xffff }),
  vapicId: fc.integer({ min: 0, max: 0xffff_ffff }),
});
const invRoundTrip = (decode: (v: bigint) => DptInvalidation) =>
  fc.property(invalidations, (d) => {
    expect(decode(encodeDptInvalidation(d))).toEqual(d);
  });

describe('direct-post codecs (hypothetical)', () => {
  it('DPTA, root entry and vAPIC entry: encode(decode(x)) === x for every 64-bit x', () => {
    for (const c of [dpta, root, vapic]) expect(fc.check(rawRoundTrip(c), RUNS).failed).toBe(false);
  });

  it('the raw round trip fails for a decode that reads TS one bit too high, an encode that drops PDA bit 63, URG from the wrong bit', () => {
    for (const c of [brokenDpta, brokenVapic, brokenUrg]) expect(fc.check(rawRoundTrip(c), RUNS).failed).toBe(true);
  });

  it('invalidation descriptor: decode(encode(d)) deep-equals d; fails when decode swaps SID bytes', () => {
    expect(fc.check(invRoundTrip(decodeDptInvalidation), RUNS).failed).toBe(false);
    const swapped = (v: bigint): DptInvalidation => {
      const d = decodeDptInvalidation(v);
      return { ...d, sid: ((d.sid & 0xff) << 8) | (d.sid >> 8) };
    };
    expect(fc.check(invRoundTrip(swapped), RUNS).failed).toBe(true);
  });

  it('places the fields where the definition says', () => {
    expect(encodeDpta({ enable: true, ts: 3, base: 0x2_0000_0000n })).toBe(0x2_0000_0007n);
    expect(decodeDpta(0x2_0000_0fe1n)).toEqual({ enable: true, ts: 0, base: 0x2_0000_0000n, reserved: 0xfe0n });
    expect(encodeRootEntry({ present: true, ts: 15, table: 0xabc_d000n })).toBe(0xabc_d01fn);
    expect(decodeRootEntry(0x1020n)).toEqual({ present: false, ts: 0, table: 0x1000n, reserved: 0x20n });
    expect(encodeVapicEntry({ present: true, urgent: true, pda: 0xffff_ffff_ffff_ffc0n })).toBe(0xffff_ffff_ffff_ffc3n);
    expect(decodeVapicEntry(0x4000_0007n)).toEqual({ present: true, urgent: true, pda: 0x4000_0000n, reserved: 0x4n });
    // bits 3:0 = 0xE, 5:4 G, 31:16 SID, 63:32 vAPIC ID.
    expect(encodeDptInvalidation({ granularity: 'entry', sid: 0x0500, vapicId: 7 })).toBe(0x7_0500_002en);
    expect(encodeDptInvalidation({ granularity: 'source', sid: 0x0500 })).toBe(0x0500_001en);
    expect(encodeDptInvalidation({ granularity: 'global' })).toBe(0xen);
  });

  it('rejects what does not fit, and descriptors that are not type 0xE, G = 3 or with reserved bits', () => {
    expect(() => encodeDpta({ enable: true, base: 0x1800n })).toThrow(RangeError);
    expect(() => encodeDpta({ enable: true, ts: 16, base: 0n })).toThrow(RangeError);
    expect(() => encodeRootEntry({ present: true, ts: 0, table: 0n, reserved: 0x1000n })).toThrow(RangeError);
    expect(() => encodeVapicEntry({ present: true, urgent: false, pda: 0x20n })).toThrow(RangeError);
    expect(() => decodeDptInvalidation(0x4n)).toThrow(/not 0xE/);
    expect(() => decodeDptInvalidation(0x3en)).toThrow(/reserved/);
    expect(() => decodeDptInvalidation(0x4en)).toThrow(/reserved/);
    expect(() => decodeDptInvalidation(0xen | (1n << 64n))).toThrow(/reserved/);
  });

  it('entry addresses: root table of 65536 × 8 bytes, vAPIC entry at table + 8·id', () => {
    expect(DIRECT_POST_ENTRY_BYTES).toBe(8);
    expect(DIRECT_POST_ROOT_ENTRIES).toBe(65536);
    expect(rootEntryAddress(0x2_0000_0000n, 0x0500)).toBe(0x2_0000_2800n);
    expect(rootEntryAddress(0x2_0000_0000n, 0xffff)).toBe(0x2_0007_fff8n);
    expect(() => rootEntryAddress(0n, 0x10000)).toThrow(RangeError);
    expect(vapicEntryAddress(0x2_0008_0000n, 3)).toBe(0x2_0008_0018n);
  });
});
