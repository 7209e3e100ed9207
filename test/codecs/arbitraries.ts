/** Shared fast-check arbitraries for the codec tests. */
import { expect } from 'vitest';
import fc from 'fast-check';

/** Any unsigned integer of `width` bits, as a bigint. */
export const bitsN = (width: number): fc.Arbitrary<bigint> => fc.bigInt({ min: 0n, max: (1n << BigInt(width)) - 1n });

/** Any unsigned integer of `width` bits (≤ 32), as a number. */
export const uint = (width: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: 2 ** width - 1 });

/** Fixed run settings so failures reproduce. */
export const RUNS = { seed: 20240611, numRuns: 500 } as const;

/** Deep-equality assertion usable as a fast-check predicate body (returns void, not the assertion chain). */
export function same<T>(actual: T, expected: T): void {
  expect(actual).toEqual(expected);
}
