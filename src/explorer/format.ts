/**
 * The explorer's terminal report (a cli-table3 comparison table, then why vCPUs were
 * unreachable and where the guest-support rows come from) and its JSON form.
 */
import Table from 'cli-table3';
import type { ExploreResult, RowResult, SweepResult, VmmFit } from './explore.ts';
import { schemeInfo } from './schemes.ts';

const dash = '—';

/** A count as printed: integers plain, fractions with up to two decimals. */
export function num(v: number | undefined): string {
  if (v === undefined) return dash;
  return Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}

/** Column headers, each with its unit (two lines each, to keep the table narrow). */
export const TABLE_HEAD = [
  'scheme',
  'delivery',
  'reachable\n(vCPUs)',
  'max reached\n(APIC ID)',
  'IRTE/DPT\nreads(/intr)',
  'PID r+w\n(/intr)',
  'notifs\n(/intr)',
  'VM exits\n(/intr)',
  'traps\n(/MSI)',
  'IRTE wr\n(/MSI)',
  'inval\n(/MSI)',
  'DMA refs\n(/IOTLB miss)',
] as const;

function rowCells(r: RowResult): string[] {
  const i = r.perInterrupt;
  const m = r.perMsi;
  return [
    r.simulated ? r.label : `${r.label}\n(not simulated)`,
    r.delivery,
    `${r.reachable}/${r.vcpus}`,
    r.maxReachableApicId === undefined ? dash : String(r.maxReachableApicId),
    // IRTE reads, or for the hypothetical direct row its direct-post table reads (root + vAPIC entry).
    num(i === undefined ? undefined : i.irteReads + i.tableReads),
    i === undefined ? dash : `${num(i.pidReads)}+${num(i.pidWrites)}`,
    num(i?.notifications),
    num(i?.vmExits),
    num(m?.trappedWrites),
    m === undefined ? dash : num(m.guestIrteWrites + m.hostIrteWrites),
    num(m?.invalidations),
    String(r.dma.pagingReferences),
  ];
}

/** The comparison table, one row per scheme × delivery, plus the guest-support column. */
export function formatTable(result: ExploreResult): string {
  const table = new Table({
    head: [...TABLE_HEAD, `${result.guest}\nsupport`],
    style: { head: [], border: [], compact: true },
  });
  for (const r of result.rows) table.push([...rowCells(r), r.guest.support]);
  return table.toString();
}

/** Unreachable vCPUs by scheme and reason; rows of one scheme with the same reasons print once. */
export function formatUnreachable(result: ExploreResult): string[] {
  const lines: string[] = [];
  const seen = new Map<string, string[]>();
  for (const r of result.rows) {
    if (r.unreachable.length === 0) continue;
    const key = `${r.scheme}|${JSON.stringify(r.unreachable)}`;
    const deliveries = seen.get(key);
    if (deliveries !== undefined) {
      deliveries.push(r.delivery);
      continue;
    }
    seen.set(key, [r.delivery]);
  }
  for (const [key, deliveries] of seen) {
    const row = result.rows.find((r) => `${r.scheme}|${JSON.stringify(r.unreachable)}` === key)!;
    const total = row.unreachable.reduce((a, u) => a + u.count, 0);
    lines.push(`${row.label} (${deliveries.join(', ')}): ${total} of ${row.vcpus} unreachable`);
    for (const u of row.unreachable) {
      const ex = u.examples[0]!;
      const more = u.count > 1 ? `; e.g. vCPU ${ex.vcpu}, APIC ID ${ex.apicId}` : `: vCPU ${ex.vcpu}, APIC ID ${ex.apicId}`;
      lines.push(`  ${u.count} × ${u.code}${more} — ${ex.detail}`);
    }
  }
  return lines;
}

/** Guest-support rows for the chosen guest, with their sources. */
export function formatGuestSupport(result: ExploreResult): string[] {
  const lines: string[] = [];
  const done = new Set<string>();
  for (const r of result.rows) {
    if (done.has(r.scheme)) continue;
    done.add(r.scheme);
    const g = r.guest;
    const sources = g.sources.length === 0 ? '' : ` [${g.sources.join('; ')}]`;
    lines.push(`  ${schemeInfo(r.scheme).label}: ${g.support}${g.support === 'unknown' && g.sources.length === 0 ? '' : ` (${g.confidence})`} — ${g.note}${sources}`);
  }
  return lines;
}

/** Deliveries of `scheme`'s rows with their reach, e.g. `reaches all 384 vCPUs (remapped, posted)`. */
function reachLine(rows: readonly RowResult[]): string {
  const byReach = new Map<number, string[]>();
  for (const r of rows) byReach.set(r.reachable, [...(byReach.get(r.reachable) ?? []), r.delivery]);
  const n = rows[0]!.vcpus;
  return [...byReach]
    .map(([k, ds]) => `${k === n ? `reaches all ${n} vCPUs` : `reaches ${k} of ${n} vCPUs`} (${ds.join(', ')})`)
    .join('; ');
}

/**
 * What to configure for each scheme (once per scheme): the QEMU command-line fragment, the
 * libvirt XML, and what the chosen guest needs (data/guest-support.yaml `requires`, else its note).
 */
export function formatConfiguration(result: ExploreResult): string[] {
  const lines: string[] = [];
  const schemes = [...new Set(result.rows.map((r) => r.scheme))];
  for (const scheme of schemes) {
    const rows = result.rows.filter((r) => r.scheme === scheme);
    const r = rows[0]!;
    const c = r.configuration;
    lines.push(`  ${r.label} — ${reachLine(rows)}`);
    if (c.remapsim !== undefined) lines.push(`    ${c.remapsim}`);
    if (c.qemu !== undefined) {
      lines.push(`    QEMU:    ${c.qemuCommandLine ?? ''}`);
      for (const n of c.qemu.notes) lines.push(`             (${n})`);
    }
    if (c.libvirt !== undefined) {
      const l = c.libvirt;
      const head = l.status === 'none' ? 'nothing to add' : l.status === 'refused' ? 'refused above 255 vCPUs; the XML it would take:' : l.status === 'passthrough' ? 'no libvirt element; QEMU options passed through:' : '';
      const xml = [...(head === '' ? [] : [head]), ...l.xml];
      xml.forEach((x, i) => lines.push(`    ${i === 0 ? 'libvirt: ' : '         '}${x}`));
      for (const n of l.notes) lines.push(`             (${n})`);
    }
    const g = r.guest;
    lines.push(`    guest:   ${result.guestName}: ${g.requires ?? `${g.support} — ${g.note}`}`);
  }
  return lines;
}

/** Other VMMs' limits (not simulated) and whether this VM's vCPU count fits. */
export function formatVmms(vmms: readonly VmmFit[], vcpus: number): string[] {
  return vmms.flatMap((v) => [
    `  ${v.vmm}: ${v.limits.map((l) => `at most ${l.maxVcpus} vCPUs: ${l.when}`).join('; ')} — ${vcpus} vCPUs ${v.fits ? (v.limits.every((l) => vcpus <= l.maxVcpus) ? 'fit' : 'fit only the larger limit') : 'do not fit'}`,
    `    interrupts: ${v.addressing} (${v.confidence}: ${v.sources.join('; ')})`,
  ]);
}

/** The sweep as a small table: reachable vCPUs per VM size. */
export function formatSweep(sweep: SweepResult): string {
  const table = new Table({ head: ['scheme', 'delivery', ...sweep.points.map(String)], style: { head: [], border: [], compact: true } });
  for (const s of sweep.series) table.push([s.label, s.delivery, ...s.reachable.map(String)]);
  return table.toString();
}

/** The whole text report. */
export function formatReport(result: ExploreResult): string {
  const out: string[] = [];
  const ids = result.apicIds;
  out.push(`VM ${result.vm}: APIC IDs ${ids.reduce((a, b) => Math.min(a, b), Infinity)}..${ids.reduce((a, b) => Math.max(a, b), 0)}; guest ${result.guestName}`);
  out.push(formatTable(result));
  out.push('Per interrupt: the first interrupt after each MSI setup (its IRTE was just invalidated: an IEC miss), counted by the simulation;');
  out.push('per MSI: guest and host setup of one MSI; DMA: one cold IOTLB-miss walk. Accounting: docs/explorer.md.');
  const unreachable = formatUnreachable(result);
  if (unreachable.length > 0) out.push('', 'Unreachable vCPUs:', ...unreachable.map((l) => `  ${l}`));
  out.push('', `Guest support (${result.guestName}, data/guest-support.yaml):`, ...formatGuestSupport(result));
  out.push('', 'Configuration per scheme (QEMU and libvirt: src/explorer/config.ts, sources in --json; guest: data/guest-support.yaml):', ...formatConfiguration(result));
  out.push('', 'Other VMMs (limits as published, not simulated):', ...formatVmms(result.vmms, ids.length));
  if (result.sweep !== undefined) out.push('', 'Sweep: reachable vCPUs (count) by VM size (vCPUs; the first n vCPUs of the VM shape):', formatSweep(result.sweep));
  out.push('', `Simulated in ${(result.elapsedMs / 1000).toFixed(2)} s.`);
  return `${out.join('\n')}\n`;
}

/** The result as JSON (one document). */
export function formatJson(result: ExploreResult): string {
  return `${JSON.stringify({ ...result, elapsedMs: Math.round(result.elapsedMs) }, null, 2)}\n`;
}
