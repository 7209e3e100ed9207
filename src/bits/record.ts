/**
 * Records: a register or table entry decoded to named fields, one-bit fields as booleans
 * and wider ones as numbers, with the reserved bits (must be zero) and the ignored bits
 * (neither named nor reserved: software-available) reported in place. Built on
 * {@link defineLayout}; used for VT-d registers (src/vtd/registers.ts) and DMA-remapping
 * structures (src/vtd/dma/structures.ts), whose spec figures have this shape.
 */
import { defineLayout, type FieldSpec, type Layout } from './layout.ts';
import { maskOf } from './bits.ts';

/** Named fields of a record: spec tables as in the VT-d figures. */
export type FieldTable = { readonly [name: string]: FieldSpec };

/** Decoded fields: a one-bit field (hi === lo) is a boolean, a wider one a number. */
export type RecordFields<T extends FieldTable> = {
  -readonly [K in keyof T]: T[K]['hi'] extends T[K]['lo'] ? boolean : number;
};

/** A decoded structure: its fields, plus the reserved and ignored bits that were set (in place). */
export type DecodedRecord<T extends FieldTable> = RecordFields<T> & {
  /** Reserved bits that are set, in place (0n when the structure is well-formed). */
  reserved: bigint;
  /** Ignored / software-available bits that are set, in place. Hardware never faults on these. */
  ignored: bigint;
};

/** Encoder input: every field (booleans for one-bit fields), optional reserved / ignored bits in place. */
export type RecordInput<T extends FieldTable> = RecordFields<T> & { reserved?: bigint; ignored?: bigint };

/**
 * A compiled structure codec. `layout` is the underlying {@link Layout} (fields + reserved
 * ranges), `ignoredMask` the bits that are neither.
 */
export interface RecordCodec<T extends FieldTable> {
  readonly name: string;
  readonly width: number;
  readonly layout: Layout<Extract<keyof T, string>>;
  readonly ignoredMask: bigint;
  /** Decode any bit pattern; bits above `width` are dropped. Never throws. */
  decode(raw: bigint): DecodedRecord<T>;
  /**
   * Encode; `reserved`/`ignored` (default 0n) are OR-ed in place.
   * @throws RangeError when a field does not fit, or reserved/ignored bits lie outside their ranges.
   */
  encode(v: RecordInput<T>): bigint;
}

/**
 * Build a codec from a spec table (`fields` and `reserved` mirror the spec's figure). Bits not
 * named by either are the structure's ignored/available bits.
 * @throws Error when the table is malformed (overlaps, out of range): see {@link defineLayout}.
 */
export function defineRecord<const T extends FieldTable>(
  name: string,
  width: number,
  fields: T,
  reserved: readonly FieldSpec[] = [],
): RecordCodec<T> {
  type F = Extract<keyof T, string>;
  const layout = defineLayout<F>({ name, width, fields: fields as Readonly<Record<F, FieldSpec>>, reserved });
  const names = Object.keys(fields) as F[];
  const flag = new Set(names.filter((n) => fields[n]!.hi === fields[n]!.lo));
  let fieldMask = 0n;
  for (const n of names) fieldMask |= maskOf(fields[n]!.hi - fields[n]!.lo + 1) << BigInt(fields[n]!.lo);
  const widthMask = maskOf(width);
  const ignoredMask = widthMask & ~fieldMask & ~layout.reservedMask;
  return {
    name,
    width,
    layout,
    ignoredMask,
    decode(raw) {
      const v = raw & widthMask;
      const f = layout.decode(v);
      const out: Record<string, number | boolean | bigint> = {};
      for (const n of names) out[n] = flag.has(n) ? f[n] === 1 : f[n];
      out['reserved'] = layout.reservedSet(v);
      out['ignored'] = v & ignoredMask;
      return out as DecodedRecord<T>;
    },
    encode(v) {
      const r = v.reserved ?? 0n;
      const ig = v.ignored ?? 0n;
      if (r < 0n || (r & ~layout.reservedMask) !== 0n) {
        throw new RangeError(`${name}: reserved bits 0x${r.toString(16)} outside the reserved ranges`);
      }
      if (ig < 0n || (ig & ~ignoredMask) !== 0n) {
        throw new RangeError(`${name}: ignored bits 0x${ig.toString(16)} outside the ignored ranges`);
      }
      const values: Partial<Record<F, number>> = {};
      const src = v as Record<string, unknown>;
      for (const n of names) {
        const x = src[n];
        values[n] = typeof x === 'boolean' ? (x ? 1 : 0) : (x as number);
      }
      return layout.encode(values, r) | ig;
    },
  };
}

