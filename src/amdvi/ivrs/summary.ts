/**
 * Human-readable summary of an IVRS table: the table, then one block per IOMMU (the IVHDs that
 * describe the same unit — same segment, device ID and base — grouped, as Linux picks one type of
 * them), each IVHD's flags, features / attributes and EFR with the names Linux prints
 * (`print_iommu_info`, `AMD-Vi: Extended features (%#llx, %#llx): …`), its device entries as
 * Linux applies them (ranges, aliases, special IOAPIC/HPET, ACPI HID devices), then the IVMDs and
 * the subtables skipped.
 */
import { formatBdf } from '../../pci/bdf.ts';
import { efrFeatureNames } from '../efr.ts';
import {
  deviceRanges,
  ivmdSegment,
  linuxIvhdType,
  subtableName,
  type DataSetting,
  type Ivhd,
  type IvrsTable,
  type Ivmd,
} from './model.ts';

const h2 = (n: number): string => n.toString(16).padStart(2, '0');
/** The kernel's `%#x` / `%#llx` (0 prints as 0x0). */
const cHex = (v: number | bigint): string => `0x${v.toString(16)}`;
const hex16 = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;
const bdf = (rid: number, seg: number): string => formatBdf(rid, seg);

/** Names of the set fields in `oneBit`, and `NAME=value` for the other non-zero ones; `raw` is skipped. */
function fieldList(values: Record<string, number>, oneBit: ReadonlySet<string>): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (k === 'raw' || v === 0) continue;
    out.push(oneBit.has(k) ? k : `${k}=${v}`);
  }
  return out.length ? out.join(' ') : 'none';
}

const SETTING_BITS = new Set(['INITPass', 'EIntPass', 'NMIPass', 'Lint0Pass', 'Lint1Pass']);
const FLAG_BITS = new Set(['HtTunEn', 'PassPW', 'ResPassPW', 'Isoc', 'IotlbSup', 'Coherent', 'PrefSup', 'PPRSup']);
const FEATURE_BITS = new Set(['XTSup', 'NXSup', 'GTSup', 'IASup', 'GASup', 'HESup']);
const ATTR_BITS = new Set(['HATDis']);
const IVMD_BITS = new Set(['Unity', 'IR', 'IW', 'ExclusionRange']);

/** A non-zero CID as an ID string when its bytes (little-endian, up to the trailing NULs) are printable ASCII, else hex. */
function cidText(cid: bigint): string {
  const bytes: number[] = [];
  for (let v = cid; v !== 0n; v >>= 8n) bytes.push(Number(v & 0xffn));
  return bytes.every((b) => b >= 0x20 && b <= 0x7e) ? `"${String.fromCharCode(...bytes)}"` : cHex(cid);
}

function settingText(s: DataSetting): string {
  return s.raw === 0 ? '' : `, setting ${cHex(s.raw)} ${fieldList(s, SETTING_BITS)}`;
}

/** The header lines of `h`, and its device-entry lines separately (so a unit's IVHDs with equal lists print them once). */
function ivhdLines(h: Ivhd): { head: string[]; entries: string[] } {
  const seg = h.segment;
  const out = [
    `  IVHD ${h2(h.type)}h at offset ${cHex(h.offset)}, ${h.length} bytes: flags ${cHex(h.flags.raw)} ${fieldList(h.flags, FLAG_BITS)}; MsiNum ${h.info.MsiNum} UnitID ${h.info.UnitID}`,
  ];
  if (h.features) out.push(`    feature reporting ${cHex(h.featureWord)}: ${fieldList(h.features, FEATURE_BITS)}`);
  if (h.attributes) out.push(`    attributes ${cHex(h.featureWord)}: ${fieldList(h.attributes, ATTR_BITS)}`);
  if (h.efrImage !== undefined) {
    const efr2 = h.efr2Image ?? 0n;
    out.push(`    EFR image ${hex16(h.efrImage)}, EFR2 image ${hex16(efr2)}`);
    out.push(`    AMD-Vi: Extended features (${cHex(h.efrImage)}, ${cHex(efr2)}): ${efrFeatureNames(h.efrImage, efr2)}`);
  }
  const head = out.splice(0);
  const { ranges, problems } = deviceRanges(h);
  type Line = { offset: number; text: string };
  const lines: Line[] = ranges.map((r) => {
    const what = r.all
      ? 'all devices'
      : r.first === r.last
        ? `device ${bdf(r.first, seg)}`
        : `devices ${bdf(r.first, seg)} - ${bdf(r.last, seg)}`;
    const alias = r.aliasTo === undefined ? '' : `, alias: requests seen as ${bdf(r.aliasTo, seg)}`;
    const ext = r.extendedSetting === undefined ? '' : `, extended setting ${cHex(r.extendedSetting)}`;
    return { offset: r.offset, text: `${what}${alias}${ext}${settingText(r.setting)}` };
  });
  let pads = 0;
  for (const e of h.entries) {
    if (e.kind === 'pad') pads++;
    else if (e.kind === 'special') {
      const v = e.variety === 1 ? 'IOAPIC' : e.variety === 2 ? 'HPET' : `variety ${e.variety}`;
      lines.push({ offset: e.offset, text: `special ${v} ${e.handle} = ${bdf(e.sourceId, seg)}${settingText(e.setting)}` });
    } else if (e.kind === 'acpi-hid') {
      const cid = e.cid === 0n ? '' : ` CID ${cidText(e.cid)}`;
      const uid = e.uid === null ? 'no UID' : `UID "${e.uid}"`;
      lines.push({ offset: e.offset, text: `ACPI device ${e.hid}${cid} ${uid} = ${bdf(e.deviceId, seg)}${settingText(e.setting)}` });
    } else if (e.kind === 'reserved') {
      lines.push({ offset: e.offset, text: `skipped reserved device entry type 0x${h2(e.type)} at offset ${cHex(e.offset)}, ${e.length} bytes${e.rawHex === null ? '' : `: ${e.rawHex}`}` });
    }
  }
  lines.sort((a, b) => a.offset - b.offset);
  out.push(...lines.map((l) => `    ${l.text}`));
  if (pads) out.push(`    (${pads} padding entr${pads === 1 ? 'y' : 'ies'})`);
  out.push(...problems.map((p) => `    warning: ${p}`));
  return { head, entries: out };
}

function ivmdLine(m: Ivmd): string {
  const seg = ivmdSegment(m);
  const who = m.type === 0x20 ? 'all devices' : m.type === 0x21 ? `device ${bdf(m.deviceId, seg)}` : `devices ${bdf(m.deviceId, seg)} - ${bdf(m.auxData, seg)}`;
  const last = m.memoryLength === 0n ? '(empty)' : `${cHex(m.startAddress)}-${cHex(m.startAddress + m.memoryLength - 1n)}`;
  return `IVMD ${h2(m.type)}h at offset ${cHex(m.offset)}: ${who}, flags ${cHex(m.flags.raw)} ${fieldList(m.flags, IVMD_BITS)}, start ${hex16(m.startAddress)} length ${cHex(m.memoryLength)} ${last}`;
}

/**
 * Format `table` for people. Lines end with `\n`. Units are keyed by segment, device ID and base;
 * device IDs print as `ssss:bb:dd.f`; addresses as 16-digit hex; feature lists name the set bits
 * (`NAME=value` for wider fields). Never throws.
 */
export function formatIvrsSummary(table: IvrsTable): string {
  const hd = table.header;
  const iv = table.ivinfo;
  const ivinfo = [iv.EFRSup ? 'EFRSup' : '', iv.DmaRemap ? 'DmaRemap' : '', `GVASize ${iv.GVASize}`, `PASize ${iv.PASize}`, `VASize ${iv.VASize}`, iv.HtAtsResv ? 'HtAtsResv' : '']
    .filter((s) => s !== '')
    .join(' ');
  const out: string[] = [
    `IVRS: ACPI IVRS rev ${hd.revision} length ${hd.length} OEM "${hd.oemId}" "${hd.oemTableId}" rev ${cHex(hd.oemRevision)} creator "${hd.creatorId}" rev ${cHex(hd.creatorRevision)}`,
    `IVRS: IVinfo 0x${iv.raw.toString(16).padStart(8, '0')}: ${ivinfo}`,
  ];
  const lt = linuxIvhdType(table);
  if (lt !== undefined) out.push(`IVRS: Linux uses IVHD type ${h2(lt)}h (the last type listed for the first IVHD's device)`);
  const units = new Map<string, Ivhd[]>();
  for (const h of table.ivhd) {
    const key = `${h.segment}/${h.deviceId}/${h.baseAddress}`;
    units.set(key, [...(units.get(key) ?? []), h]);
  }
  let n = 0;
  for (const list of units.values()) {
    const f = list[0]!;
    const kinds = list.map((h) => `${h2(h.type)}h at ${cHex(h.offset)}`).join(', ');
    out.push(`IOMMU ${n++}: ${bdf(f.deviceId, f.segment)} base ${hex16(f.baseAddress)} cap ${cHex(f.capabilityOffset)} (IVHD ${kinds})`);
    const printed: { h: Ivhd; entries: string[] }[] = [];
    for (const h of list) {
      const { head, entries } = ivhdLines(h);
      out.push(...head);
      const same = printed.find((p) => p.entries.join('\n') === entries.join('\n'));
      if (same && entries.length) out.push(`    device entries as in IVHD ${h2(same.h.type)}h at ${cHex(same.h.offset)}`);
      else out.push(...entries);
      printed.push({ h, entries });
    }
  }
  for (const m of table.ivmd) out.push(ivmdLine(m));
  for (const u of table.unknown) {
    out.push(`IVRS: skipped unknown subtable ${subtableName(u.type)} at offset ${cHex(u.offset)}, ${u.length} bytes: ${u.rawHex ?? 'body not available'}`);
  }
  return `${out.join('\n')}\n`;
}
