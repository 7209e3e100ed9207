/**
 * Raw field values an action cannot carry (issue 16 item 1: transitions are total). An
 * action's numbers are register fields, indices, sizes and IDs: a hardware or software
 * access carries an integer, so NaN, ±Infinity and fractions (legal `number`s) cannot be on
 * a bus or in a register; its bigints are at most 128 bits (an IRTE, a descriptor) and
 * never negative, and an address (`address`, `iova`, `hpa`) is at most 64 bits. Such an action gets an `action-rejected` event naming the field instead
 * of reaching a handler (where `BigInt(1.5)` would throw). Width checks narrower than
 * these (a 64-bit address, a 32-bit register) stay with the handlers, which know the widths.
 */

const MAX_FIELD_BITS = 128n;
/** Fields that are bus or memory addresses: at most 64 bits. */
const ADDRESS_FIELDS: ReadonlySet<string> = new Set(['address', 'iova', 'hpa']);
/** How deep nested fields (a grant's target, a map-dma's mappings) are checked. */
const MAX_DEPTH = 4;

/** The first malformed field of `action` as `path: what`, or undefined when every field is carriable. */
export function malformedField(action: object): string | undefined {
  const wide = VALUE_BITS_OF[(action as { kind?: string }).kind ?? '']?.(action);
  if (wide !== undefined) {
    // A memory store carries `bytes` bytes (a 256-bit AMD-Vi DTE, a page of a table): its value is that wide.
    const { value, ...rest } = action as { value?: unknown };
    if (typeof value === 'bigint' && !(value >= 0n && value >> wide === 0n)) return `value: 0x${value.toString(16)} is not an unsigned value of at most ${wide} bits`;
    return walk(rest, '', 0);
  }
  return walk(action, '', 0);
}

/** Actions whose `value` is as wide as the store they make (bits), when their size field is sane. */
const VALUE_BITS_OF: Readonly<Record<string, (a: object) => bigint | undefined>> = {
  'write-memory': (a) => {
    const bytes = (a as { bytes?: unknown }).bytes;
    return typeof bytes === 'number' && Number.isSafeInteger(bytes) && bytes > 16 && bytes <= 4096 ? BigInt(bytes * 8) : undefined;
  },
};

function walk(value: unknown, path: string, depth: number): string | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) ? undefined : `${path}: ${value} is not an integer`;
  }
  if (typeof value === 'bigint') {
    // Addresses are 64-bit on every bus here (PCIe 64-bit addressing, VT-d IOVAs and HPAs); other values (IRTEs, descriptors) up to 128.
    const bits = ADDRESS_FIELDS.has(path.slice(path.lastIndexOf('.') + 1)) ? 64n : MAX_FIELD_BITS;
    return value >= 0n && value >> bits === 0n ? undefined : `${path}: 0x${value.toString(16)} is not an unsigned value of at most ${bits} bits`;
  }
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH || ArrayBuffer.isView(value)) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const bad = walk(v, path === '' ? k : `${path}.${k}`, depth + 1);
    if (bad !== undefined) return bad;
  }
  return undefined;
}
