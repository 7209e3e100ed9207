/**
 * Register-sized arguments of the public codecs, given as a JS number or a bigint.
 *
 * Library users write `decodeMsi(0xfee00538, 0)`; a number literal that wide is exact
 * (below 2^53), so the codecs accept it and convert here, once, at the entry point. Within
 * the model every 64-bit and wider value stays a bigint (no bits are ever lost).
 *
 * One rule for every codec: a number is accepted wherever it is exact — a safe integer,
 * |x| ≤ 2^53 − 1 — and then means exactly what `BigInt(x)` means to that codec (bits above
 * the field's width dropped, a negative value taken in two's complement, as each codec
 * documents for bigints: `-1` as data is 0xFFFFFFFF, as the `>>> 0` idiom gives). Anything
 * else (1.5, NaN, Infinity, 2^53, a string) is a RangeError naming the argument: a number
 * that was already rounded no longer says which bits were meant.
 */

/** A value a codec accepts for a register or memory word: a JS number (a safe integer) or a bigint. */
export type UintInput = number | bigint;

/**
 * `value` as a bigint (a bigint is returned as it is; the codec reduces it to its width).
 * `name` is the argument's name for the error message.
 * @throws RangeError when `value` is not a bigint or a safe integer number.
 */
export function uintArg(value: UintInput, name: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new RangeError(`${name} must be an integer (a bigint, or a number from -(2^53 - 1) to 2^53 - 1), got ${describe(value)}`);
  }
  return BigInt(value);
}

/**
 * A 32-bit word (MSI data, a legacy IRTE) as an unsigned number: the low 32 bits of
 * `BigInt(value)` (so 0x1_0000_0005 → 5, −1 → 0xFFFFFFFF).
 * @throws RangeError when `value` is not a bigint or a safe integer number.
 */
export function u32Arg(value: UintInput, name: string): number {
  return Number(BigInt.asUintN(32, uintArg(value, name)));
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  return `a ${typeof value}`;
}
