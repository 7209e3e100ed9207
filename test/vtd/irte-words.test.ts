/**
 * decodeIrteWords (the IEC-miss decode, number arithmetic on four dwords) against
 * decodeIrte (the layout codec on the 128-bit bigint): the same IRTE and reserved bits for
 * every 128-bit value. Fixed seeds; the property is shown able to fail against a decoder
 * with one field misplaced.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeIrte, decodeIrteWords, encodeIrte, type Irte } from '../../src/vtd/irte.ts';

const RUNS = { seed: 15_002, numRuns: 3000 };

const word = fc.integer({ min: 0, max: 0xffff_ffff });
/** Four dwords, biased towards each format and towards no reserved bits (the usual entry). */
const words = fc.oneof(
  fc.tuple(word, word, word, word),
  fc.tuple(word.map((w) => (w & 0x00ff_8fff) >>> 0), word, word.map((w) => w & 0x000f_ffff), fc.constant(0)),
  fc.tuple(word.map((w) => (w & 0x00ff_cf03) >>> 0 | 0x8000), word.map((w) => (w & ~0x3f) >>> 0), word.map((w) => w & 0x000f_ffff), word),
);

const bigintOf = ([w0, w1, w2, w3]: readonly number[]): bigint =>
  (BigInt(w3!) << 96n) | (BigInt(w2!) << 64n) | (BigInt(w1!) << 32n) | BigInt(w0!);

type Decoder = (w0: number, w1: number, w2: number, w3: number) => { irte: Irte; reserved: bigint };

const sameAsLayout = (decode: Decoder) =>
  fc.property(words, (w) => {
    const got = decode(w[0], w[1], w[2], w[3]);
    expect(got).toStrictEqual(decodeIrte(bigintOf(w)));
    // Key order too: events and dumps print IRTE fields in the codec's order.
    expect(Object.keys(got.irte)).toEqual(Object.keys(decodeIrte(bigintOf(w)).irte));
  });

describe('decodeIrteWords', () => {
  it('decodes every 128-bit value as the layout codec does (fields and reserved bits)', () => {
    fc.assert(sameAsLayout(decodeIrteWords), RUNS);
  });

  it('round-trips encoded entries of both formats', () => {
    fc.assert(
      fc.property(words, (w) => {
        const { irte, reserved } = decodeIrteWords(w[0], w[1], w[2], w[3]);
        expect(encodeIrte(irte, reserved)).toBe(bigintOf(w));
      }),
      RUNS,
    );
  });

  it('the property fails for a decoder with SQ read one bit off', () => {
    const broken: Decoder = (w0, w1, w2, w3) => {
      const r = decodeIrteWords(w0, w1, w2, w3);
      return { ...r, irte: { ...r.irte, sq: (w2 >>> 17) & 3 } };
    };
    expect(fc.check(sameAsLayout(broken), RUNS).failed).toBe(true);
  });

  it('the property fails for a decoder that misses reserved bit 127', () => {
    const broken: Decoder = (w0, w1, w2, w3) => decodeIrteWords(w0, w1, w2, (w3 & 0x7fff_ffff) >>> 0);
    expect(fc.check(sameAsLayout(broken), RUNS).failed).toBe(true);
  });
});
