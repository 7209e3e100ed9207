/**
 * Raw field values an action cannot carry (issue 16 item 1: transitions are total). An
 * action's numbers are register fields, indices, sizes and IDs: a hardware or software
 * access carries an integer, so NaN, ±Infinity and fractions (legal `number`s) cannot be on
 * a bus or in a register; its bigints are at most 128 bits (an IRTE, a descriptor) and
 * never negative, and an address (`address`, `iova`, `hpa`) is at most 64 bits. Such an action gets an `action-rejected` event naming the field instead
 * of reaching a handler (where `BigInt(1.5)` would throw). Width checks narrower than
 * these (a 64-bit address, a 32-bit register) stay with the handlers, which know the widths,
 * except the fields of {@link FIELD_BITS}: fields of a fixed-width hardware format (a TLP's
 * requester ID and PASID, a PID's NV and NDST, a vector) that the code below the action encodes
 * with an exact-width codec, so a value beyond the width is a message no hardware could carry.
 * A name field (`device`, `requester`, `register`) that is a property of every JavaScript object
 * (`__proto__`, `constructor`, …) is rejected too: it names no function or register, and the
 * platform's tables are plain objects that would answer it.
 */
import type { Action } from './actions.ts';
import { malformedGuestAccess, malformedVirtualMsix } from '../vmm/well-formed.ts';

const MAX_FIELD_BITS = 128n;
/** Fields that are bus or memory addresses: at most 64 bits. */
const ADDRESS_FIELDS: ReadonlySet<string> = new Set(['address', 'iova', 'hpa']);
/** How deep nested fields (a grant's target, a map-dma's mappings) are checked. */
const MAX_DEPTH = 4;

/**
 * Unsigned widths (bits) of number fields, by action kind and field path (`a.b` for nested):
 * - `rid` 16 (PCIe requester ID, Bus:Device.Function, PCIe base spec §2.2.6.2), `pasid` 20 (the
 *   PASID TLP prefix, PCIe §6.20; VT-d §3.4.1), `did` 16 (context / PASID entry DID, VT-d §9.3,
 *   §9.6) — src/vtd/dma/walk.ts `validate` requires them of every request;
 * - `pid-write` `nv` 8 and `ndst` 32 (posted-interrupt descriptor NV bits 279:272, NDST bits
 *   319:288, VT-d §9.12; src/vtd/pid.ts `PID_LAYOUT`);
 * - x86 interrupt vectors 8 (SDM Vol. 3 §6.2; the MSI data vector field, §11.11.2): a guest's
 *   `guest-msi` vector (src/policy encodes it into an IRTE's V / VV), `self-ipi` and `host-interrupt`
 *   vectors, a grant's vector range, a hypercall's guest vector;
 * - a `guest-msi`'s `irte` 16 (the interrupt handle of a remappable MSI, VT-d §5.1.5.2:
 *   address bits 19:5 and 2; src/vtd/remappable-msi.ts), `deliveryMode` 3 (MSI data bits 10:8,
 *   SDM §11.11.2), `destination` 32 (an x2APIC ID) and `entry` 11 (an MSI-X table has at most
 *   2048 entries, PCI 3.0 §6.8.2.3 Table Size);
 * - the VMM's records: host vectors 8, a binding's IRTE index 16 (as `irte` above) and bound
 *   MSI data 32 (a dword), a KVM route's data 32 (`struct kvm_irq_routing_msi` data is a u32).
 */
const FIELD_BITS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  dma: { rid: 16, pasid: 20 },
  'msi-write': { rid: 16 },
  'map-dma': { pasid: 20, did: 16 },
  'unmap-dma': { pasid: 20 },
  'pid-write': { nv: 8, ndst: 32 },
  'guest-msi': { vector: 8, irte: 16, deliveryMode: 3, destination: 32, entry: 11 },
  'self-ipi': { vector: 8 },
  'host-interrupt': { vector: 8 },
  // An IRTE index is an interrupt handle (16 bits, VT-d §5.1.5.2; AMD-Vi's are 11): the allocator's next free one.
  'irte-allocated': { index: 16 },
  grant: { 'grant.vector': 8, 'grant.lastVector': 8 },
  hypercall: { 'op.vector': 8 },
  // Host vectors (8 bits) and the IRTE a VMM binding names (an interrupt handle, 16 bits), encoded
  // back into IEC invalidations by the designs (src/vmm/designs/xen-pirq.ts `encodeIec`).
  'vmm-binding': { 'binding.hostVector': 8, 'binding.irte.index': 16, 'binding.bound.data': 32 },
  'vmm-ims-slot': { 'binding.hostVector': 8, 'binding.irte.index': 16, 'binding.bound.data': 32 },
  'vmm-host-vector': { hostVector: 8 },
  'vmm-interrupt': { hostVector: 8 },
  'software-route': { hostVector: 8, 'route.vector': 8 },
  'kvm-route': { 'route.data': 32 },
};

/** Fields naming a function, requester or register: looked up in the platform's plain-object tables. */
const NAME_FIELDS: ReadonlySet<string> = new Set(['device', 'requester', 'register']);

/** The first malformed field of `action` as `path: what`, or undefined when every field is carriable. */
export function malformedField(action: object): string | undefined {
  // The check that finds nothing is one allocation-free pass (it was half the cost of a `grant`
  // and a fifth of a check's step, issue 15); only a malformed action is walked again for its message.
  return carriable(action) ? malformedVmmRecord(action as Action) : describeMalformed(action);
}

/**
 * The first malformed field of `action` by the walks that name it: the same verdict as
 * {@link malformedField} (test/platform/action-fields.test.ts compares the two), slower.
 */
export function describeMalformed(action: object): string | undefined {
  return malformedValue(action) ?? misfit(action);
}

/** `table[kind]` when `kind` is one of its own keys (an action kind `toString` names no entry). */
function ownEntry<T>(table: Readonly<Record<string, T>>, kind: unknown): T | undefined {
  return typeof kind === 'string' && Object.hasOwn(table, kind) ? table[kind] : undefined;
}

/** {@link FIELD_BITS} with each path split once. */
const FIELD_BITS_PATHS: Readonly<Record<string, readonly (readonly [readonly string[], number])[]>> = Object.fromEntries(
  Object.entries(FIELD_BITS).map(([kind, widths]) => [kind, Object.entries(widths).map(([path, bits]) => [path.split('.'), bits] as const)]),
);

/**
 * Whether every field of `action` passes the checks of {@link describeMalformed} except the VMM
 * records': numbers safe integers, bigints unsigned within 64 (addresses) or 128 bits, the widths
 * of {@link FIELD_BITS}, no name field that is an Object.prototype property — over the same
 * fields (own enumerable keys, objects down to {@link MAX_DEPTH}, typed arrays skipped).
 */
export function carriable(action: object): boolean {
  const kind = (action as { kind?: unknown }).kind;
  const key = typeof kind === 'string' ? kind : '';
  // A store wider than 128 bits checks its value against its own width: the rare case, walked.
  if (ownEntry(VALUE_BITS_OF, key)?.(action) !== undefined) return describeMalformed(action) === undefined;
  if (!fieldsCarriable(action, 0)) return false;
  const widths = ownEntry(FIELD_BITS_PATHS, key);
  if (widths !== undefined) {
    for (const [keys, bits] of widths) {
      let v: unknown = action;
      for (const k of keys) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
      if (typeof v === 'number' && !(v >= 0 && v < 2 ** bits)) return false;
    }
  }
  return true;
}

/** The fields of object `o` (at `depth`) and below: {@link carriable}'s pass. */
function fieldsCarriable(o: object, depth: number): boolean {
  for (const k in o) {
    if (!Object.hasOwn(o, k)) continue;
    const v = (o as Record<string, unknown>)[k];
    switch (typeof v) {
      case 'number':
        if (!Number.isSafeInteger(v)) return false;
        break;
      case 'bigint':
        if (!(v >= 0n && v >> (ADDRESS_FIELDS.has(k) ? 64n : MAX_FIELD_BITS) === 0n)) return false;
        break;
      case 'string':
        if (NAME_FIELDS.has(k) && v in Object.prototype) return false;
        break;
      case 'object':
        if (v !== null && depth + 1 <= MAX_DEPTH && !ArrayBuffer.isView(v) && !fieldsCarriable(v, depth + 1)) return false;
        break;
    }
  }
  return true;
}

/** A field of {@link FIELD_BITS} beyond its width, or a name field that is an Object.prototype property. */
function misfit(action: object): string | undefined {
  const widths = ownEntry(FIELD_BITS, (action as { kind?: unknown }).kind);
  if (widths !== undefined) {
    for (const [path, bits] of Object.entries(widths)) {
      const v = path.split('.').reduce<unknown>((o, k) => (typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined), action);
      if (typeof v === 'number' && !(v >= 0 && v < 2 ** bits)) return `${path}: ${v} is not an unsigned ${bits}-bit value`;
    }
  }
  return prototypeName(action, '', 0) ?? malformedVmmRecord(action as Action);
}

/** A guest view or decoded access no VMM could hold (src/vmm/well-formed.ts). */
function malformedVmmRecord(a: Action): string | undefined {
  switch (a.kind) {
    case 'vmm-guest-view':
      return malformedVirtualMsix(a.guest, 'guest');
    case 'vmm-ims-slot':
      return a.guest === undefined ? undefined : malformedVirtualMsix(a.guest, 'guest');
    case 'vmm-react':
    case 'vmm-access':
      return malformedGuestAccess(a.access, 'access');
    default:
      return undefined;
  }
}

function prototypeName(value: unknown, path: string, depth: number): string | undefined {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH || ArrayBuffer.isView(value)) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const at = path === '' ? k : `${path}.${k}`;
    if (typeof v === 'string' && NAME_FIELDS.has(k) && v in Object.prototype) return `${at}: '${v}' names no PCI function or register (a property of every object)`;
    const bad = prototypeName(v, at, depth + 1);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

function malformedValue(action: object): string | undefined {
  const wide = ownEntry(VALUE_BITS_OF, (action as { kind?: unknown }).kind)?.(action);
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
