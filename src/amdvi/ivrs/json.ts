/**
 * Plain-JSON form of an IVRS model, in the project's convention (as `dmarToJson` in
 * src/vtd/dmar/model.ts): 64-bit values become `"0x…"` 16-digit lower-case hex strings, `raw`
 * bytes/words become `"0x…"` hex, and PCI device IDs become `{ bdf: "00:14.0", value: 160 }`.
 */
import { formatBdf } from '../../pci/bdf.ts';
import type { IvrsTable } from './model.ts';

/** Keys whose number is a 16-bit PCI requester ID. */
const DEVICE_ID_KEYS = new Set(['deviceId', 'sourceId']);

function convert(key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return `0x${v.toString(16).padStart(16, '0')}`;
  if (typeof v === 'number' && DEVICE_ID_KEYS.has(key)) return { bdf: formatBdf(v), value: v };
  if (typeof v === 'number' && key === 'raw') return `0x${v.toString(16)}`;
  if (Array.isArray(v)) return v.map((x) => convert('', x));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = convert(k, x);
    return out;
  }
  return v;
}

/**
 * JSON of the whole table: top-level keys `header`, `ivinfo`, `reserved`, `ivhd` (each with
 * `entries`), `ivmd`, `unknown`, with the conversions of the module comment. For IVMD 22h the
 * inclusive last device is `auxData` (kept a number because it is reserved in 20h/21h). Never throws.
 */
export function ivrsToJson(t: IvrsTable): Record<string, unknown> {
  return convert('', t) as Record<string, unknown>;
}
