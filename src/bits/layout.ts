import { maskOf } from './bits.ts';

/** One named field `[hi:lo]` of a register or table entry. Widths up to 53 bits decode to `number`. */
export interface FieldSpec {
  readonly hi: number;
  readonly lo: number;
}

/**
 * A bit layout described as data: named fields and reserved ranges of a `width`-bit
 * structure. Codecs for IRTEs, MSI words, registers and descriptors are built from
 * these tables instead of hand-written shifts, so each layout reads like the spec's
 * table it cites.
 */
export interface LayoutSpec<F extends string> {
  readonly name: string;
  readonly width: number;
  readonly fields: Readonly<Record<F, FieldSpec>>;
  /** Ranges the spec calls reserved (must be zero). */
  readonly reserved?: readonly FieldSpec[];
}

export type FieldValues<F extends string> = { [K in F]: number };

/** A compiled layout: decode and encode whole structures, and report reserved bits. */
export interface Layout<F extends string> {
  readonly spec: LayoutSpec<F>;
  /** Mask of every reserved bit. */
  readonly reservedMask: bigint;
  /** Decode every field. Never throws; bits beyond `width` are ignored. */
  decode(value: bigint): FieldValues<F>;
  /**
   * Encode fields into a `width`-bit value; omitted fields are 0; `reservedBits`
   * (if given) are OR-ed in so that decode → encode round-trips any bit pattern.
   * @throws RangeError when a field value is not an integer that fits its width.
   */
  encode(values: Partial<FieldValues<F>>, reservedBits?: bigint): bigint;
  /** The reserved bits that are set in `value` (0n when none). */
  reservedSet(value: bigint): bigint;
}

/**
 * Compile a layout table.
 * @throws Error when fields overlap each other or a reserved range, exceed `width`,
 *   or a field is wider than 53 bits (it would not decode exactly to a number).
 */
export function defineLayout<F extends string>(spec: LayoutSpec<F>): Layout<F> {
  const entries = Object.entries(spec.fields) as [F, FieldSpec][];
  let used = 0n;
  const claim = (what: string, f: FieldSpec): bigint => {
    if (f.lo < 0 || f.hi < f.lo || f.hi >= spec.width) {
      throw new Error(`${spec.name}: ${what} [${f.hi}:${f.lo}] is outside ${spec.width} bits`);
    }
    const m = maskOf(f.hi - f.lo + 1) << BigInt(f.lo);
    if ((used & m) !== 0n) throw new Error(`${spec.name}: ${what} [${f.hi}:${f.lo}] overlaps another field`);
    used |= m;
    return m;
  };
  const compiled = entries.map(([name, f]) => {
    if (f.hi - f.lo + 1 > 53) throw new Error(`${spec.name}: field ${name} is wider than 53 bits`);
    claim(name, f);
    return { name, shift: BigInt(f.lo), mask: maskOf(f.hi - f.lo + 1), max: Number(maskOf(f.hi - f.lo + 1)) };
  });
  let reservedMask = 0n;
  for (const r of spec.reserved ?? []) reservedMask |= claim('reserved range', r);
  const widthMask = maskOf(spec.width);

  return {
    spec,
    reservedMask,
    decode(value) {
      const out = {} as FieldValues<F>;
      for (const c of compiled) out[c.name] = Number((value >> c.shift) & c.mask);
      return out;
    },
    encode(values, reservedBits = 0n) {
      let v = reservedBits & reservedMask;
      for (const c of compiled) {
        const x = values[c.name];
        if (x === undefined) continue;
        if (!Number.isInteger(x) || x < 0 || x > c.max) {
          throw new RangeError(`${spec.name}.${c.name} = ${x} does not fit in ${c.mask.toString(2).length} bits`);
        }
        v |= BigInt(x) << c.shift;
      }
      return v & widthMask;
    },
    reservedSet(value) {
      return value & reservedMask;
    },
  };
}
