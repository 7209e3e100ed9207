/**
 * `remapsim import debugfs FILE [--json] [--scenario OUT] [--owners BDF=DOMAIN,…] [--cpus DOMAIN=LIST,…]`:
 * read Linux intel-iommu debugfs dumps (src/inputs/debugfs.ts) and print what the machine has
 * programmed, or write a scenario whose IRT is the machine's: every present IRTE as an `irte`
 * step with its raw 128-bit value, on a unit whose IR table sits at the machine's address; each
 * source-id a device; grants that say what the owners allow (every vector the machine uses for a
 * device, to every CPU of the device's owner); and, for each remapped IRTE, the device sending the
 * remappable MSI that selects it. `remapsim run OUT` then answers "does my live table satisfy P1
 * for these owners?": a delivery to a CPU outside the owner's is a P1 violation naming the IRTE.
 */
import { errnoText } from '../io/errno-text.ts';
import { InputError } from '../io/input-error.ts';
import { replacedNote, writeFileAtomic } from '../io/atomic-write.ts';
import { yamlQuoted } from '../io/yaml-escape.ts';
import { formatBdf, parseBdf } from '../pci/bdf.ts';
import { decodeIrte, irteDestinationApicId } from '../vtd/irte.ts';
import { X2APIC_BROADCAST, XAPIC_BROADCAST } from '../x86/apic.ts';
import { encodeRemappableAddress } from '../vtd/remappable-msi.ts';
import { describeIrte } from '../scenario/trace.ts';
import { legacyContextFields, loadDebugfs, type DebugfsDump, type DebugfsIrUnit } from '../inputs/debugfs.ts';

/** Options of {@link importDebugfs} (the command line's). */
export interface ImportDebugfsOptions {
  readonly json?: boolean;
  readonly scenario?: string;
  /** `BDF=DOMAIN,…`: the domain owning each device (default: host). */
  readonly owners?: string;
  /** `DOMAIN=APICIDS,…` with APICIDS like `2-5` or `2+3+7`: the CPUs of each domain (default: the host has every CPU not given to another). */
  readonly cpus?: string;
}

/**
 * The project's default unit capabilities (the Dell R820 unit's, src/scenario/compile.ts), with
 * CAP.PI (bit 59) as the dump shows it: a unit appears under "Posted Interrupt supported" only
 * with cap_pi_support (Linux debugfs.c ir_translation_struct_show).
 */
const DEFAULT_CAP = 0x08d2078c106f0462n;
const CAP_PI = 1n << 59n;
const DEFAULT_ECAP = 0xf020fen;
/** Linux's IR table size: INTR_REMAP_TABLE_ENTRIES = 65536 (include/linux/dmar.h). */
const LINUX_IRT_ENTRIES = 65536;
/** Register bases when the dump has no iommu_regset (the usual first DRHD, then 4 KiB apart). */
const FALLBACK_REGISTER_BASE = 0xfed90000n;

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

/** `a=b,c=d` → pairs. @throws InputError naming `field` for an item without `=`. */
function pairs(list: string | undefined, field: string): [string, string][] {
  if (list === undefined || list.trim() === '') return [];
  return list.split(',').map((item) => {
    const at = item.indexOf('=');
    if (at <= 0 || at === item.length - 1) throw new InputError(`expected KEY=VALUE, got ${JSON.stringify(item.trim())}`, { field });
    return [item.slice(0, at).trim(), item.slice(at + 1).trim()];
  });
}

/** `2-5`, `7`, `2+3+7` → APIC IDs. @throws InputError (field --cpus) for anything else. */
function apicIdList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split('+')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    const lo = m === null ? NaN : Number(m[1]);
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!(lo <= hi) || hi > 4095) throw new InputError(`expected APIC IDs like 2-5 or 2+3+7 (at most 4095), got ${JSON.stringify(text)}`, { field: '--cpus' });
    for (let a = lo; a <= hi; a++) out.push(a);
  }
  return out;
}

/** The text summary: each unit's table and entries, decoded, then the DMA structures. */
export function formatDebugfsSummary(dump: DebugfsDump, file: string): string {
  const out = [`debugfs: ${file}${dump.elided ? ' (partial: the dump has [...] elisions)' : ''}`];
  for (const u of dump.ir) {
    const regs = dump.regsets.find((r) => r.name === u.name);
    out.push(
      `${u.name}: IR table ${u.tableAddress === undefined ? 'not enabled' : hex(u.tableAddress)}${u.posted ? ', CAP.PI' : ''}${regs ? `, register base ${hex(regs.registerBase)}` : ''}: ${u.entries.length} present IRTE(s)`,
    );
    for (const e of u.entries) out.push(`  IRTE ${hex(e.index)}: ${describeIrte(e.raw)}`);
  }
  for (const u of dump.dmar) {
    out.push(`${u.name}: ${u.rootTableAddress === undefined ? 'DMA remapping not enabled' : `root table ${hex(u.rootTableAddress)}: ${u.contexts.length} present context entr${u.contexts.length === 1 ? 'y' : 'ies'}`}`);
    for (const c of u.contexts) {
      if (c.pasid >= 0) {
        out.push(`  ${formatBdf(c.rid)}: scalable mode, PASID ${c.pasid} entry ${c.pasidEntry.map((v) => hex(v)).join(':')}`);
        continue;
      }
      const f = legacyContextFields(c);
      const tt = ['second-stage', 'second-stage + device-TLB', 'pass-through', 'reserved'][f.tt];
      out.push(`  ${formatBdf(c.rid)}: context table ${hex(f.contextTable)}, DID ${f.did}, TT=${f.tt} (${tt}), AW=${f.aw}, SLPTPTR ${hex(f.slptptr)}`);
    }
  }
  const orphans = dump.regsets.filter((r) => !dump.ir.some((u) => u.name === r.name)).map((r) => `${r.name} at ${hex(r.registerBase)}`);
  if (orphans.length) out.push(`iommu_regset only: ${orphans.join(', ')}`);
  return out.join('\n') + '\n';
}

/** The dump as JSON (64-bit and wider values as 0x-hex strings, BDFs as bb:dd.f). */
export function debugfsToJson(dump: DebugfsDump): unknown {
  return {
    elided: dump.elided,
    ir: dump.ir.map((u) => ({
      unit: u.name,
      tableAddress: u.tableAddress === undefined ? null : hex(u.tableAddress),
      posted: u.posted,
      entries: u.entries.map((e) => ({ index: e.index, sid: formatBdf(e.sid), mode: e.mode, raw: hex(e.raw), vector: e.vector, ...(e.destination === undefined ? {} : { destination: e.destination }), ...(e.pda === undefined ? {} : { pda: hex(e.pda) }), line: e.line })),
    })),
    dmar: dump.dmar.map((u) => ({
      unit: u.name,
      rootTableAddress: u.rootTableAddress === undefined ? null : hex(u.rootTableAddress),
      contexts: u.contexts.map((c) => ({ bdf: formatBdf(c.rid), root: c.root.map((v) => hex(v)), context: c.context.map((v) => hex(v)), pasid: c.pasid, pasidEntry: c.pasidEntry.map((v) => hex(v)), line: c.line })),
    })),
    regsets: dump.regsets.map((r) => ({ unit: r.name, registerBase: hex(r.registerBase), registers: Object.fromEntries(Object.entries(r.registers).map(([k, v]) => [k, hex(v)])) })),
  };
}

/**
 * EIME as the table implies it: Linux writes DST = APIC ID in x2APIC mode and APIC ID << 8 in
 * xAPIC mode (drivers/iommu/intel/irq_remapping.c `IRTE_DEST`), so a DST with bits 7:0 or 31:16
 * set is x2APIC. A table whose every DST has only bits 15:8 set reads as xAPIC.
 */
export function impliedEime(units: readonly DebugfsIrUnit[]): boolean {
  const dsts = units.flatMap((u) => u.entries.flatMap((e) => (e.destination === undefined ? [] : [e.destination])));
  return dsts.length === 0 || dsts.some((d) => (d & 0xffff00ff) !== 0);
}

/**
 * The APIC IDs a remapped IRTE's destination selects (src/x86/apic.ts, as the platform resolves
 * it): physical, the APIC ID (DST bits 15:8 in xAPIC mode); logical x2APIC, the members of cluster
 * DST 31:16 set in DST 15:0 (APIC ID = cluster << 4 | member); logical xAPIC, flat model, the set
 * bits of DST 15:8. Broadcast and posted entries select none here.
 */
export function irteApicIds(raw: bigint, eime: boolean): number[] {
  const { irte } = decodeIrte(raw);
  if (irte.mode !== 'remapped') return [];
  const dst = irte.destination >>> 0;
  if (!irte.destinationModeLogical) {
    const { apicId } = irteDestinationApicId(dst, eime);
    return apicId === (eime ? X2APIC_BROADCAST : XAPIC_BROADCAST) ? [] : [apicId];
  }
  const members = eime ? dst & 0xffff : (dst >>> 8) & 0xff;
  const base = eime ? (dst >>> 16) << 4 : 0;
  const out: number[] = [];
  for (let b = 0; b < (eime ? 16 : 8); b++) if ((members >> b) & 1) out.push(base + b);
  return eime && dst === X2APIC_BROADCAST ? [] : out;
}

/**
 * The scenario text for `dump` (see the module comment). Units are the dump's IR units in order
 * (iommu 0, 1, …); devices are the source-ids of their entries and of the context entries.
 * @throws InputError (--owners / --cpus) for a malformed item or a BDF the dump does not show.
 */
export function debugfsScenario(dump: DebugfsDump, source: string, o: ImportDebugfsOptions): string {
  const units = dump.ir.filter((u) => u.tableAddress !== undefined);
  if (units.length === 0) throw new InputError('the dump has no unit with interrupt remapping enabled (no "IR table address")', { file: source, field: 'ir_translation_struct' });
  const eime = impliedEime(units);
  const unitOf = new Map<number, number>();
  units.forEach((u, i) => u.entries.forEach((e) => unitOf.set(e.sid, unitOf.get(e.sid) ?? i)));
  for (const d of dump.dmar) {
    const i = units.findIndex((u) => u.name === d.name);
    if (i >= 0) d.contexts.forEach((c) => unitOf.set(c.rid, unitOf.get(c.rid) ?? i));
  }
  const devices = [...unitOf.keys()].sort((a, b) => a - b);
  const owners = new Map<number, string>();
  for (const [bdf, domain] of pairs(o.owners, '--owners')) {
    const p = parseBdf(bdf);
    if (p === undefined) throw new InputError(`${JSON.stringify(bdf)} is not a BDF (bb:dd.f)`, { field: '--owners' });
    if (!unitOf.has(p.rid)) throw new InputError(`${formatBdf(p.rid)} has no IRTE or context entry in the dump (devices: ${devices.map((d) => formatBdf(d)).join(', ')})`, { field: '--owners' });
    if (!/^[A-Za-z][\w-]*$/.test(domain)) throw new InputError(`domain name ${JSON.stringify(domain)}: use letters, digits, - and _`, { field: '--owners' });
    owners.set(p.rid, domain);
  }
  const cpusOf = new Map(pairs(o.cpus, '--cpus').map(([d, list]) => [d, apicIdList(list)] as const));
  const destinations = units.flatMap((u) => u.entries.flatMap((e) => irteApicIds(e.raw, eime)));
  const count = Math.min(4096, Math.max(1, ...destinations.map((a) => a + 1), ...[...cpusOf.values()].flat().map((a) => a + 1)));
  const guests = [...new Set(owners.values())].filter((d) => d !== 'host');
  const taken = new Set(guests.flatMap((g) => cpusOf.get(g) ?? []));
  const hostCpus = cpusOf.get('host') ?? Array.from({ length: count }, (_, i) => i).filter((c) => !taken.has(c));
  const cpuList = (d: string): number[] => (d === 'host' ? hostCpus : (cpusOf.get(d) ?? []));
  const name = `machine IRT from ${source}`;
  const L = [
    `# Scenario generated by 'remapsim import debugfs' from ${yamlQuoted(source)}${dump.elided ? ' (a partial dump: [...] elisions)' : ''}.`,
    '# The IRT is the machine\'s: every present IRTE as its raw 128-bit value, on a table at the',
    '# machine\'s address. Grants say what the owners allow: each vector the machine uses for a',
    '# device, at every CPU of the device\'s owner. `remapsim run` this file: a delivery to a CPU',
    '# outside the owner\'s is a P1 violation naming the IRTE.',
    ...(owners.size === 0 ? ['# No --owners given: every device is the host\'s. Fill in domains: and grants: for your guests.'] : []),
    ...guests.filter((g) => !cpusOf.has(g)).map((g) => `# ${g} has no CPUs (--cpus ${g}=…): fill in its cpus, or every delivery of its devices is a P1 violation.`),
    `name: ${yamlQuoted(name)}`,
    'platform:',
    `  apicMode: ${eime ? 'x2apic' : 'xapic'}`,
    `  cpus: { count: ${count} }`,
    '  iommus:',
  ];
  units.forEach((u, i) => {
    const regs = dump.regsets.find((r) => r.name === u.name);
    const base = regs?.registerBase ?? FALLBACK_REGISTER_BASE + BigInt(i) * 0x1000n;
    const cap = regs?.registers['CAP'] ?? (u.posted ? DEFAULT_CAP | CAP_PI : DEFAULT_CAP & ~CAP_PI);
    const ecap = regs?.registers['ECAP'] ?? DEFAULT_ECAP;
    const endpoints = devices.filter((d) => unitOf.get(d) === i).map((d) => `"${formatBdf(d)}"`);
    L.push(
      `    # ${u.name}${regs ? '' : ' (register base not in the dump: a placeholder)'}${regs?.registers['CAP'] === undefined ? `; CAP/ECAP are the project defaults${u.posted ? ' with CAP.PI' : ' without CAP.PI'}` : ''}`,
      `    - { registerBase: ${hex(base)}, cap: ${hex(cap)}, ecap: ${hex(ecap)}, scope: { endpoints: [${endpoints.join(', ')}] } }`,
    );
  });
  L.push('devices:');
  for (const d of devices) L.push(`  - { bdf: "${formatBdf(d)}", name: ${yamlQuoted(`${formatBdf(d)} (${owners.get(d) ?? 'host'})`)} }`);
  L.push('domains:', `  - { name: host, kind: host, cpus: [${hostCpus.join(', ')}]${devicesOf('host', devices, owners)} }`);
  for (const g of guests) L.push(`  - { name: ${g}, kind: guest, cpus: [${cpuList(g).join(', ')}]${devicesOf(g, devices, owners)} }`);
  const grants: string[] = [];
  for (const d of devices) {
    const vectors = [...new Set(units.flatMap((u) => u.entries.filter((e) => e.sid === d && e.mode === 'remapped').map((e) => e.vector)))].sort((a, b) => a - b);
    for (const v of vectors) for (const cpu of cpuList(owners.get(d) ?? 'host')) grants.push(`  - { device: "${formatBdf(d)}", vector: ${hex(v)}, apicId: ${cpu} }`);
  }
  L.push(...(grants.length ? ['grants:', ...grants] : ['grants: []']), 'steps:');
  units.forEach((u, i) => {
    L.push(`  - note: ${u.name} — the machine's IR table (Linux allocates INTR_REMAP_TABLE_ENTRIES = 65536)`, `    enable-ir: { iommu: ${i}, base: ${hex(u.tableAddress!)}, eime: ${eime}, entries: ${LINUX_IRT_ENTRIES} }`);
    for (const e of u.entries) {
      const to = irteApicIds(e.raw, eime);
      L.push(`  - irte: { iommu: ${i}, index: ${hex(e.index)}, raw: ${hex(e.raw)} }  # line ${e.line}: ${describeIrte(e.raw)}${to.length ? ` → APIC ${to.join(', ')}` : ''}`);
    }
  });
  units.forEach((u) => {
    for (const e of u.entries) {
      if (e.mode === 'posted') {
        L.push(`  # IRTE ${hex(e.index)} of ${u.name} is posted to PDA ${hex(e.pda!)}: a PID of the machine's, not one of this scenario's vCPUs — not raised here.`);
        continue;
      }
      // The remappable-format MSI that selects the entry: handle = index, SHV = 0 (VT-d §5.1.2.2).
      const address = encodeRemappableAddress({ base: 0xfee, handle: e.index, shv: false, interruptFormat: 1, ignored: 0, high: 0 });
      L.push(`  - note: ${formatBdf(e.sid)} raises IRTE ${hex(e.index)} of ${u.name}`, `    msi: { device: "${formatBdf(e.sid)}", address: ${hex(address)}, data: 0 }`);
    }
  });
  return L.join('\n') + '\n';
}

function devicesOf(domain: string, devices: readonly number[], owners: ReadonlyMap<number, string>): string {
  if (domain === 'host') return '';
  const mine = devices.filter((d) => owners.get(d) === domain).map((d) => `"${formatBdf(d)}"`);
  return mine.length ? `, devices: [${mine.join(', ')}]` : '';
}

/** Run the command; returns what to print. @throws InputError for an unreadable or malformed dump, or a bad option. */
export function importDebugfs(file: string, o: ImportDebugfsOptions): string {
  const dump = loadDebugfs(file);
  if (o.scenario !== undefined) {
    const text = debugfsScenario(dump, file, o);
    let note: string;
    try {
      note = replacedNote(writeFileAtomic(o.scenario, text));
    } catch (e) {
      throw new InputError(`cannot write scenario: ${errnoText(e)}`, { file: o.scenario, field: '--scenario' });
    }
    return `wrote ${o.scenario}${note}\n`;
  }
  return o.json ? JSON.stringify(debugfsToJson(dump), null, 2) + '\n' : formatDebugfsSummary(dump, file);
}
