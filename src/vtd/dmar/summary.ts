/**
 * Human-readable summary of a DMAR table, worded like the Linux boot log so that it can be read
 * side by side with `dmesg | grep DMAR`: the per-structure lines reuse the formats of
 * `dmar_table_print_dmar_entry()` and `dmar_parse_one_andd()` in `drivers/iommu/intel/dmar.c`
 * (`DRHD base: %#016Lx flags: %#x`, `RMRR base: %#016Lx end: %#016Lx`, …), followed by indented
 * device-scope lines the kernel does not print.
 */

import { formatBdf } from '../../pci/bdf.ts';
import { DEVICE_SCOPE_TYPES, registeredDrhds, type DeviceScope, type DmarTable } from './model.ts';
import { structureName } from './parse-binary.ts';

/** The kernel's `%#016Lx` (lib/vsprintf.c): "0x" counts towards the 16 characters, zero included. */
function linuxHex016(v: bigint): string {
  return `0x${v.toString(16).padStart(14, '0')}`;
}

/** The kernel's `%#x`: unlike glibc it prints `0x0` for zero, as in `DRHD base: … flags: 0x0`. */
function cHex(v: number): string {
  return `0x${v.toString(16)}`;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

const TABLE_FLAG_NAMES = ['INTR_REMAP', 'X2APIC_OPT_OUT', 'DMA_CTRL_PLATFORM_OPT_IN'] as const;

/** Names of the set bits of `value`, with `RESERVED_BITn` for bits past the named ones. */
function flagNames(value: number, names: readonly string[]): string {
  const out: string[] = [];
  for (let bit = 0; bit < 8; bit++) {
    if (value & (1 << bit)) out.push(names[bit] ?? `RESERVED_BIT${bit}`);
  }
  return out.length ? out.join(' ') : 'none';
}

// Device-scope flags byte of recent VT-d revisions, §8.3.1 (names from EDK2 `EFI_ACPI_DEVICE_SCOPE_REQ_WO_PASID_*`).
const SCOPE_FLAG_NAMES = [
  'REQ_WO_PASID_NESTED_NOTALLOWED',
  'REQ_WO_PASID_PWSNP_NOTALLOWED',
  'REQ_WO_PASID_PGSNP_NOTALLOWED',
  'ATC_HARDENED',
  'ATC_REQUIRED',
] as const;

function scopeLine(s: DeviceScope, segment: number, anddNames: ReadonlyMap<number, string>): string {
  const kind = DEVICE_SCOPE_TYPES[s.type] ?? `reserved type ${s.type}`;
  const seg = segment.toString(16).padStart(4, '0');
  let where: string;
  if (s.requesterId !== undefined) {
    where = formatBdf(s.requesterId, segment);
  } else {
    // Buses behind the first bridge are assigned at enumeration; the table cannot name them.
    const [first, ...rest] = s.path.map((p) => `${hex2(p.device)}.${p.fn}`);
    where = `${seg}:${hex2(s.startBus)}:${first ?? '(empty path)'}${rest.map((r) => ` -> ${r}`).join('')} (buses behind the bridge not in the table)`;
  }
  let id = '';
  if (s.type === 3 || s.type === 4) id = ` id ${s.enumerationId}`;
  else if (s.type === 5) id = ` ${s.enumerationId} ${anddNames.get(s.enumerationId) ?? '(no matching ANDD)'}`;
  const flags = s.flags ? ` flags 0x${hex2(s.flags)} ${flagNames(s.flags, SCOPE_FLAG_NAMES)}` : '';
  return `    ${kind}${id} ${where}${flags}`;
}

/**
 * Format `table` for people. One line per structure in the kernel's wording (so it greps the same as
 * dmesg), an indented line of what the kernel leaves out (segment, register-set size, flag names),
 * then one indented line per device scope (`IOAPIC id 2 0000:00:1e.7`, `PCI endpoint 0000:00:02.0`, …); multi-hop paths are
 * shown as `ssss:bb:dd.f/dd.f` because the buses below the first bridge are not in the table.
 * Table flags are spelled out (`INTR_REMAP X2APIC_OPT_OUT`). Lines end with `\n`. Never throws.
 */
export function formatDmarSummary(table: DmarTable): string {
  const h = table.header;
  const anddNames = new Map(table.andd.map((a) => [a.acpiDeviceNumber, a.objectName] as const));
  const out: string[] = [
    `DMAR: ACPI DMAR rev ${h.revision} length ${h.length} OEM "${h.oemId}" "${h.oemTableId}" rev ${cHex(h.oemRevision)} creator "${h.creatorId}" rev ${cHex(h.creatorRevision)}`,
    `DMAR: Host address width ${table.hostAddressWidth}`,
    `DMAR: flags: 0x${hex2(table.flags.raw)} ${flagNames(table.flags.raw, TABLE_FLAG_NAMES)}`,
  ];
  // Table order, as the kernel walks it.
  type Entry = { offset: number; lines: string[] };
  const entries: Entry[] = [];
  const scopes = (list: readonly DeviceScope[], segment: number): string[] => list.map((s) => scopeLine(s, segment, anddNames));
  const registered = registeredDrhds(table);
  const kept = new Set(registered);
  for (const d of table.drhd) {
    const notes = [`segment ${d.segment}`, `register set ${d.registerSetBytes / 1024} KiB`, ...(d.includePciAll ? ['INCLUDE_PCI_ALL'] : []), ...(kept.has(d) ? [] : ['a second DRHD at this segment and base: ignored, as Linux dmar_parse_one_drhd ignores it'])];
    entries.push({ offset: d.offset, lines: [`DMAR: DRHD base: ${linuxHex016(d.registerBase)} flags: ${cHex(d.flags)}`, `    ${notes.join(', ')}`, ...scopes(d.scopes, d.segment)] });
  }
  for (const r of table.rmrr) {
    entries.push({ offset: r.offset, lines: [`DMAR: RMRR base: ${linuxHex016(r.base)} end: ${linuxHex016(r.limit)}`, ...scopes(r.scopes, r.segment)] });
  }
  for (const a of table.atsr) {
    const notes = [`segment ${a.segment}`, ...(a.allPorts ? ['ALL_PORTS'] : [])];
    entries.push({ offset: a.offset, lines: [`DMAR: ATSR flags: ${cHex(a.flags)}`, `    ${notes.join(', ')}`, ...scopes(a.scopes, a.segment)] });
  }
  for (const r of table.rhsa) {
    entries.push({ offset: r.offset, lines: [`DMAR: RHSA base: ${linuxHex016(r.registerBase)} proximity domain: ${cHex(r.proximityDomain)}`] });
  }
  for (const a of table.andd) {
    entries.push({ offset: a.offset, lines: [`DMAR: ANDD device: ${a.acpiDeviceNumber.toString(16)} name: ${a.objectName}`] });
  }
  for (const s of table.satc) {
    const notes = [`segment ${s.segment}`, ...(s.atcRequired ? ['ATC_REQUIRED'] : [])];
    entries.push({ offset: s.offset, lines: [`DMAR: SATC flags: ${cHex(s.flags)}`, `    ${notes.join(', ')}`, ...scopes(s.scopes, s.segment)] });
  }
  for (const s of table.sidp) {
    entries.push({ offset: s.offset, lines: [`DMAR: SIDP`, `    segment ${s.segment}`, ...scopes(s.scopes, s.segment)] });
  }
  for (const u of table.unknown) {
    const bytes = u.rawHex === null ? 'body not available' : u.rawHex;
    entries.push({ offset: u.offset, lines: [`DMAR: unknown structure ${structureName(u.type)} at offset 0x${u.offset.toString(16)}, ${u.length} bytes: ${bytes}`] });
  }
  entries.sort((a, b) => a.offset - b.offset);
  for (const e of entries) out.push(...e.lines);
  // What intel_irq_remapping.c (ir_parse_one_ioapic_scope / ir_parse_one_hpet_scope) prints when it
  // enables IR; "IOMMU n" is the DRHD's position in the table (its dmarN sequence number).
  registered.forEach((d, n) => {
    for (const s of d.scopes) {
      if (s.type === 3) out.push(`DMAR-IR: IOAPIC id ${s.enumerationId} under DRHD base  0x${d.registerBase.toString(16)} IOMMU ${n}`);
      if (s.type === 4) out.push(`DMAR-IR: HPET id ${s.enumerationId} under DRHD base 0x${d.registerBase.toString(16)}`);
    }
  });
  if (table.atsr.length === 0) out.push('DMAR: No ATSR found');
  if (table.satc.length === 0) out.push('DMAR: No SATC found');
  return `${out.join('\n')}\n`;
}
