/**
 * Bit-field helpers over bigint (structures wider than 32 bits) and over unsigned
 * 32-bit numbers. Conventions follow the VT-d specification: `[hi:lo]` is an inclusive
 * range, bit 0 is the least significant bit, and a multi-qword structure is one
 * little-endian bit string (qword 0 = bits 63:0).
 *
 * JavaScript bitwise operators truncate to signed 32 bits, so anything wider goes
 * through bigint; a 64-bit quantity never passes through a `number`.
 */

/** All-ones mask of `width` bits, as a bigint. Throws RangeError for a negative width. */
export function maskOf(width: number): bigint {
  if (width < 0) throw new RangeError(`mask width ${width} is negative`);
  return (1n << BigInt(width)) - 1n;
}

/** Bits `[hi:lo]` of `value`, right-aligned. */
export function bitsOf(value: bigint, hi: number, lo: number): bigint {
  return (value >> BigInt(lo)) & maskOf(hi - lo + 1);
}

/**
 * `value` with bits `[hi:lo]` replaced by `field`.
 * @throws RangeError if `field` is negative or does not fit in `hi - lo + 1` bits.
 */
export function withBits(value: bigint, hi: number, lo: number, field: bigint): bigint {
  const m = maskOf(hi - lo + 1);
  if (field < 0n || field > m) {
    throw new RangeError(`value 0x${field.toString(16)} does not fit in bits ${hi}:${lo}`);
  }
  return (value & ~(m << BigInt(lo))) | (field << BigInt(lo));
}

/** Bit `n` of `value` as a boolean. */
export function bitOf(value: bigint, n: number): boolean {
  return ((value >> BigInt(n)) & 1n) === 1n;
}

/** Bits `[hi:lo]` of an unsigned 32-bit number (hi ≤ 31). */
export function bits32(value: number, hi: number, lo: number): number {
  const width = hi - lo + 1;
  const shifted = value >>> lo;
  return width >= 32 ? shifted >>> 0 : (shifted & ((1 << width) - 1)) >>> 0;
}

/** Unsigned 32-bit `value` with bits `[hi:lo]` replaced by `field`. Throws RangeError if it does not fit. */
export function withBits32(value: number, hi: number, lo: number, field: number): number {
  const width = hi - lo + 1;
  const m = width >= 32 ? 0xffff_ffff : (1 << width) - 1;
  if (!Number.isInteger(field) || field < 0 || field > (m >>> 0)) {
    throw new RangeError(`value ${field} does not fit in bits ${hi}:${lo}`);
  }
  return ((value & ~(m << lo)) | (field << lo)) >>> 0;
}

/** True when `value` is an integer in 0 .. 2^32-1. */
export function isU32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

export const U64_MASK = maskOf(64);

/**
 * Lower-case hexadecimal with a `0x` prefix, zero-padded to `digits` hex digits
 * (no padding when omitted). Negative values are rejected with RangeError.
 */
export function hex(value: bigint | number, digits = 0): string {
  if (value < 0) throw new RangeError(`hex() of negative value ${value}`);
  return '0x' + value.toString(16).padStart(digits, '0');
}

/** Hex digits only, zero-padded, no prefix (as Linux debugfs prints raw values). */
export function hexDigits(value: bigint | number, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}
