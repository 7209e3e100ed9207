/**
 * Shape checks of the VMM layer's records carried by actions (`vmm-guest-view`'s and
 * `vmm-ims-slot`'s `guest`, `vmm-react`'s and `vmm-access`'s `access`): what no guest's view of an
 * MSI-X capability, and no access the VMM decoded, can be. src/platform/action-fields.ts rejects
 * an action carrying one with `action-rejected` (issue 16: transitions are total) instead of
 * letting a design index a table that is not there.
 *
 * MSI-X (PCI Local Bus spec 3.0 §6.8.2): Table Size is 11 bits, N − 1 encoded (1..2048 entries);
 * the BIR is 3 bits naming BAR 0..5; the table and PBA offsets are 32-bit fields (the compiler's
 * bound, src/scenario/compile.ts: at most 0xffff_fff8); each entry is four dwords. An access
 * (src/vmm/guest-access.ts `decodeGuestAccess`) is 1..8 bytes at a byte offset, its parts runs of
 * it in one region, its `written` / `unmasked` / `masked` entries indices of the view's table.
 */
import type { GuestAccess } from '../platform/actions.ts';
import type { VirtualMsix } from './virtual-msix.ts';

/** Most entries an MSI-X table has (Table Size, 11 bits, N − 1 encoded). */
const MAX_MSIX_ENTRIES = 2048;
const REGIONS: ReadonlySet<string> = new Set(['table', 'pba', 'page', 'direct', 'config']);

const intIn = (v: unknown, lo: number, hi: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/** Why `v` is no guest view of an MSI-X capability (`path` names it), or undefined. */
export function malformedVirtualMsix(v: VirtualMsix, path: string): string | undefined {
  const l = v?.layout;
  if (typeof l !== 'object' || l === null || !Array.isArray(v.table)) return `${path}: not an MSI-X view (layout and table)`;
  if (!intIn(l.entries, 1, MAX_MSIX_ENTRIES)) return `${path}.layout.entries: ${l.entries} is not 1..${MAX_MSIX_ENTRIES} (MSI-X Table Size)`;
  if (v.table.length !== l.entries) return `${path}.table: ${v.table.length} entries, the layout has ${l.entries}`;
  for (const f of ['tableBar', 'pbaBar'] as const) if (!intIn(l[f], 0, 5)) return `${path}.layout.${f}: ${l[f]} is not a BAR 0..5 (BIR)`;
  for (const f of ['tableOffset', 'pbaOffset'] as const) if (!intIn(l[f], 0, 0xffff_fff8)) return `${path}.layout.${f}: ${l[f]} is not a 32-bit BAR offset`;
  if (!intIn(l.capability, 0, 0xfff)) return `${path}.layout.capability: ${l.capability} is not a configuration-space offset`;
  for (const [k, e] of v.table.entries()) {
    for (const f of ['addressLow', 'addressHigh', 'data', 'control'] as const) {
      if (!intIn(e?.[f], 0, 0xffff_ffff)) return `${path}.table.${k}.${f}: ${e?.[f]} is not a dword`;
    }
  }
  return undefined;
}

/** Why `x` is no access the VMM layer decoded (`path` names it), or undefined. */
export function malformedGuestAccess(x: GuestAccess, path: string): string | undefined {
  if (typeof x !== 'object' || x === null || !Array.isArray(x.parts)) return `${path}: not a decoded guest access`;
  const view = malformedVirtualMsix(x.before, `${path}.before`);
  if (view !== undefined) return view;
  if (!intIn(x.size, 1, 8)) return `${path}.size: ${x.size} is not 1..8 bytes`;
  if (!intIn(x.offset, 0, 0xffff_ffff)) return `${path}.offset: ${x.offset} is not a byte offset`;
  if (!intIn(x.bar, -1, 5)) return `${path}.bar: ${x.bar} is not a BAR 0..5 (or -1, configuration space)`;
  let bytes = 0;
  for (const [i, p] of x.parts.entries()) {
    if (!REGIONS.has(p?.region)) return `${path}.parts.${i}.region: ${String(p?.region)} is no region of an MSI-X BAR`;
    if (!intIn(p.size, 1, 8) || !intIn(p.offset, 0, 0xffff_ffff)) return `${path}.parts.${i}: ${p.size} bytes at ${p.offset} is not a run of a 1..8-byte access`;
    if (typeof p.value !== 'bigint') return `${path}.parts.${i}.value: not a bigint`;
    bytes += p.size;
  }
  if (bytes > 8) return `${path}.parts: ${bytes} bytes, more than an access carries`;
  const n = x.before.layout.entries;
  const entries = [...(x.written ?? []), ...(x.masked ?? []), ...(x.unmasked ?? []).map((u) => u?.entry)];
  const bad = entries.find((k) => !intIn(k, 0, n - 1));
  if (bad !== undefined || !Array.isArray(x.written) || !Array.isArray(x.masked) || !Array.isArray(x.unmasked)) return `${path}: entry ${String(bad)} is not one of the view's ${n}`;
  return undefined;
}
