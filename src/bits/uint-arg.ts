/**
 * Register-sized arguments of the public codecs, given as a JS number or a bigint.
 *
 * Library users write `decodeMsi(0xfee00538, 0)`; a number literal that wide is exact
 * (below 2^53), so the codecs accept it and convert here, once, at the entry point. Within
 * the model every 64-bit and wider value stays a bigint (no bits are ever lost).
 *
 * The rules, the same for every codec:
 * - a number must be a non-negative safe integer (0 .. 2^53 − 1) that fits the field;
 *   anything else (1.5, NaN, −1, 2^53, a 32-bit field given 2^32) is a RangeError naming
 *   the argument, because a silently rounded or wrapped number is a different register;
 * - a bigint keeps the codec's documented behaviour: bits above the width are dropped
 *   (a device or a raw dump may hold any value; the hardware reads only its bits).
 */

/** A value a codec accepts for a register or memory word: a JS number (exact integer) or a bigint. */
export type UintInput = number | bigint;

/**
 * `value` as a bigint. `name` is the argument's name for the error message, `bits` the
 * field's width (numbers wider than 53 bits cannot be exact, so only bigints reach 2^53 and up).
 * @throws RangeError when a number is not an integer in 0 .. min(2^bits, 2^53) − 1.
 */
export function uintArg(value: UintInput, name: string, bits: number): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || (bits < 53 && value >= 2 ** bits)) {
    throw new RangeError(`${name} must be an unsigned ${bits}-bit integer (a number in 0..${bits < 53 ? `0x${(2 ** bits - 1).toString(16)}` : 'Number.MAX_SAFE_INTEGER'} or a bigint), got ${describe(value)}`);
  }
  return BigInt(value);
}

/**
 * A 32-bit word (MSI data, a legacy IRTE) as an unsigned number. A bigint is reduced
 * modulo 2^32 (its low 32 bits).
 * @throws RangeError when a number is not an integer in 0 .. 0xFFFFFFFF.
 */
export function u32Arg(value: UintInput, name: string): number {
  if (typeof value === 'bigint') return Number(BigInt.asUintN(32, value));
  return Number(uintArg(value, name, 32));
}

function describe(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) > 0xffff ? `${value} (0x${value.toString(16)})` : String(value);
  return `a ${typeof value}`;
}
