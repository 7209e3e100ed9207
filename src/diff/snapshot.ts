/**
 * What `remapsim diff` compares of one run: the final state's interrupt-remapping structures
 * decoded from simulated memory, the grants, the property verdicts, the expectations and the
 * VMM costs, as sections of keyed rows (a row = one IRTE, one descriptor, one grant, …, its
 * fields named). Two snapshots are compared row by row and field by field (src/diff/diff.ts).
 *
 * Structures are read as the hardware reads them, as the report does (src/report/table-sections.ts):
 * - VT-d: every present IRTE of each unit's table through the latched IRTA (VT-d spec §9.10,
 *   decoded by src/vtd/irte.ts `decodeIrte`, both formats), keyed `UNIT #INDEX`; every
 *   posted-interrupt descriptor a posted IRTE names or a vCPU owns (VT-d spec §9.12,
 *   src/vtd/pid-memory.ts `readPid`), keyed by the owning vCPU's name (so that two designs that
 *   put one vCPU's descriptor at different addresses compare the same descriptor), else by its PDA.
 * - AMD-Vi: the DTE of every device behind a unit (spec 48882 §2.2.2.1, src/amdvi/dte.ts, at
 *   Device Table Base + DeviceID × 32), keyed by device, and the entries in use of each
 *   remapping DTE's interrupt table (spec 48882 §2.2.5, src/amdvi/irte.ts, legacy or GA as
 *   Control.GAEn selects), keyed `DEVICE #INDEX`; a GA vAPIC entry's backing page is a
 *   descriptor row keyed by its vCPU.
 *
 * Field values: 64-bit and wider values (addresses, raw entries, PIR) as `0x…` strings; small
 * fields as numbers; flags as booleans; names as strings.
 */
import type { RunResult } from '../scenario/run.ts';
import type { PlatformState, IommuUnit } from '../platform/state.ts';
import { decodeIrte, IRTE_BYTES } from '../vtd/irte.ts';
import { iecLookup } from '../vtd/iec.ts';
import { decodeIrta, irtEntries } from '../vtd/registers.ts';
import { readPid } from '../vtd/pid-memory.ts';
import { pirVectors } from '../vtd/pid.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import { vcpuName } from '../scenario/trace.ts';
import { decodeDte, dteAddress, deviceIdInTable, dteInterruptTableRoot, DTE_BYTES, INT_CTL } from '../amdvi/dte.ts';
import { decodeAmdIrte, irteBytes, LEGACY_IRTE_ALLOCATED } from '../amdvi/irte.ts';
import { CONTROL_BITS, regBit } from '../amdvi/registers.ts';
import { COST_FIELDS, COST_LABELS, vmmCosts } from '../vmm/costs.ts';
import { verdictRows } from '../report/build.ts';
import { domainsSection } from '../report/platform-sections.ts';
import type { Cell, Table } from '../report/model.ts';

/** A field value: a small number, a flag, or text (`0x…` for addresses and 64-bit values). */
export type FieldValue = string | number | boolean;

/** One compared item (an IRTE, a descriptor, a grant, a verdict, …): its key and its named fields. */
export interface SnapshotRow {
  readonly key: string;
  readonly fields: Readonly<Record<string, FieldValue>>;
}

/** The sections of a snapshot, in the order they are printed. */
export const SECTION_IDS = ['configuration', 'irte', 'dte', 'descriptors', 'grants', 'verdicts', 'expectations', 'costs'] as const;
export type SectionId = (typeof SECTION_IDS)[number];

/** What a section's rows are, in the summary line ("12 IRTEs equal"). */
export const SECTION_NOUNS: Readonly<Record<SectionId, string>> = {
  configuration: 'configuration items',
  irte: 'IRTEs',
  dte: 'DTEs',
  descriptors: 'descriptors',
  grants: 'grants',
  verdicts: 'verdicts',
  expectations: 'expectations',
  costs: 'costs',
};

/** One run, as compared. */
export interface Snapshot {
  /** Which design this is (`FILE`, `FILE [vmm=…, policy=…]`). */
  readonly label: string;
  readonly sections: Readonly<Record<SectionId, readonly SnapshotRow[]>>;
}

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

/** A decoded record's fields as field values (bigints as `0x…`). */
function fieldsOf(o: object, skip: readonly string[] = []): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  for (const [k, v] of Object.entries(o)) {
    if (skip.includes(k)) continue;
    out[k] = typeof v === 'bigint' ? hex(v) : typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' ? v : String(v);
  }
  return out;
}

function ownerOf(state: PlatformState, address: bigint): string | undefined {
  const v = vcpuList(state.vcpus).find((x) => x.pda === address);
  return v === undefined ? undefined : vcpuName(state, v.id);
}

/** VT-d: the present IRTEs of one unit (from the table the latched IRTA names). */
function vtdIrtes(state: PlatformState, unit: IommuUnit, pdas: bigint[]): SnapshotRow[] {
  const irta = decodeIrta(unit.regs.irtaLatched);
  const rows: SnapshotRow[] = [];
  for (let index = 0; index < irtEntries(irta.size); index++) {
    const raw = state.memory.readLE(irta.base + BigInt(index * IRTE_BYTES), IRTE_BYTES);
    if ((raw & 1n) === 0n) continue;
    const { irte, reserved } = decodeIrte(raw);
    if (irte.mode === 'posted') pdas.push(irte.pda);
    const cached = iecLookup(unit.iec, index);
    const fields: Record<string, FieldValue> = { ...fieldsOf(irte, ['present']), reserved: hex(reserved), iec: cached === undefined ? 'not cached' : cached.raw === raw ? 'cached' : `stale ${hex(cached.raw)}` };
    if (irte.mode === 'posted') fields.pdaOwner = ownerOf(state, irte.pda) ?? 'no vCPU';
    rows.push({ key: `${unit.name} #${hex(index)}`, fields });
  }
  return rows;
}

/** VT-d: one row per posted-interrupt descriptor (named by a posted IRTE or owned by a vCPU). */
function vtdDescriptors(state: PlatformState, pdas: readonly bigint[]): SnapshotRow[] {
  const all = [...new Set([...pdas, ...vcpuList(state.vcpus).map((v) => v.pda)])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return all.map((pda) => {
    const { pid, reserved } = readPid(state.memory, pda);
    const owner = ownerOf(state, pda);
    return {
      key: owner ?? `PDA ${hex(pda)}`,
      fields: { pda: hex(pda), owner: owner ?? 'no vCPU', pirVectors: pirVectors(pid.pir).map(hex).join(' ') || 'empty', on: pid.on, sn: pid.sn, nv: pid.nv, ndst: pid.ndst, reserved: hex(reserved) },
    };
  });
}

/** AMD-Vi: DTEs, IRTEs in use and the vAPIC backing pages GA entries name. */
function amdRows(state: PlatformState): { dte: SnapshotRow[]; irte: SnapshotRow[]; descriptors: SnapshotRow[] } {
  const units = state.amdvi!.units;
  const dte: SnapshotRow[] = [];
  const irte: SnapshotRow[] = [];
  const pages = new Map<bigint, string[]>();
  const devices = Object.values(state.devices).sort((a, b) => a.segment - b.segment || a.rid - b.rid);
  for (const d of devices) {
    const u = d.iommu === undefined ? undefined : units[d.iommu];
    if (u === undefined) continue;
    const base = u.regs.deviceTableBase;
    if (!deviceIdInTable(base, d.busRid)) {
      dte.push({ key: d.key, fields: { unit: u.name, deviceId: d.busRid, dte: 'beyond the device table' } });
      continue;
    }
    const raw = state.memory.readLE(dteAddress(base, d.busRid), DTE_BYTES);
    const e = decodeDte(raw);
    const root = dteInterruptTableRoot(e);
    dte.push({ key: d.key, fields: { unit: u.name, deviceId: d.busRid, ...fieldsOf(e), intTableRoot: hex(root), raw: hex(raw) } });
    if (!e.IV || e.IntCtl !== INT_CTL.REMAP || e.IntTabLen >= 12) continue;
    const ga = regBit(u.regs.control, CONTROL_BITS.GAEn);
    const size = irteBytes(ga);
    for (let index = 0; index < 2 ** e.IntTabLen; index++) {
      const entry = state.memory.readLE(root + BigInt(index * size), size);
      // Unused and allocated-but-unwritten slots are skipped as the report does (drivers/iommu/amd/iommu.c
      // `irte_set_allocated`, `irte_ga_set_allocated`).
      if (entry === 0n || (!ga && entry === LEGACY_IRTE_ALLOCATED)) continue;
      const decoded = decodeAmdIrte(entry, ga);
      if (ga && !decoded.remapEn && decoded.vector === 0xff) continue;
      const fields: Record<string, FieldValue> = { unit: u.name, ...fieldsOf(decoded), raw: hex(entry) };
      if (decoded.format === 'ga-vapic') {
        fields.backingPageOwner = ownerOf(state, decoded.backingPage) ?? 'no vCPU';
        pages.set(decoded.backingPage, [...(pages.get(decoded.backingPage) ?? []), `${d.key} #${hex(index)}`]);
      }
      irte.push({ key: `${d.key} #${hex(index)}`, fields });
    }
  }
  const descriptors = [...pages.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([page, users]) => {
      const owner = ownerOf(state, page);
      return { key: owner ?? `backing page ${hex(page)}`, fields: { backingPage: hex(page), owner: owner ?? 'no vCPU', namedBy: users.join(' ') } };
    });
  return { dte, irte, descriptors };
}

/** Rows of a report table, keyed by the cells of `keyColumns` (a repeated key gets ` (2)`, ` (3)`, …). */
function tableRows(t: Table, keyColumns: readonly number[], prefix: string): SnapshotRow[] {
  const seen = new Map<string, number>();
  return t.rows.map((row) => {
    const base = `${prefix}${keyColumns.map((c) => String(row[c] ?? '')).join(' ')}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    const fields: Record<string, FieldValue> = {};
    t.columns.forEach((col, i) => {
      if (!keyColumns.includes(i)) fields[col] = row[i] as Cell;
    });
    return { key: n === 1 ? base : `${base} (${n})`, fields };
  });
}

function grantRows(state: PlatformState): SnapshotRow[] {
  const tables = domainsSection(state).blocks.flatMap((b) => (b.kind === 'table' ? [b.table] : []));
  const grants = tables.find((t) => t.id === 'grants');
  const dma = tables.find((t) => t.id === 'dma-grants');
  return [...(grants === undefined ? [] : tableRows(grants, [0, 1], 'interrupt ')), ...(dma === undefined ? [] : tableRows(dma, [0, 4], 'DMA '))];
}

function costRows(r: RunResult): SnapshotRow[] {
  if (r.final.vmm === undefined) return [];
  const c = vmmCosts(r.steps, r.final);
  const avg = (v: number): number => Math.round(v * 100) / 100; // two decimals, as remapsim compare prints them
  const rows: SnapshotRow[] = COST_FIELDS.map((f) => ({
    key: COST_LABELS[f],
    fields: { perProgramming: avg(c.programming.average[f]), perInterrupt: avg(c.interrupt.average[f]), otherTotal: c.other.total[f], runTotal: c.all[f] },
  }));
  rows.push({ key: 'occurrences', fields: { programming: c.programming.occurrences, interrupt: c.interrupt.occurrences, other: c.other.occurrences } });
  rows.push({ key: 'KVM routes in use at the end', fields: { inUse: c.kvmRoutesInUse, capacity: c.kvmRouteCapacity } });
  return rows;
}

/** The snapshot of a run (pure: the same run gives the same snapshot). */
export function snapshotOf(label: string, r: RunResult): Snapshot {
  const state = r.final;
  let irte: SnapshotRow[] = [];
  let dte: SnapshotRow[] = [];
  let descriptors: SnapshotRow[];
  if (state.amdvi !== undefined) {
    ({ irte, dte, descriptors } = amdRows(state));
  } else {
    const pdas: bigint[] = [];
    for (const u of state.iommus) irte.push(...vtdIrtes(state, u, pdas));
    descriptors = vtdDescriptors(state, pdas);
  }
  const verdicts = verdictRows(r).map((row) => ({ key: `${row[0]} ${row[1]}`, fields: { verdict: row[2]!, detail: String(row[3]!).replace(/, policy \S+$/, '') } })); // the policy is a configuration row
  const expectations = r.steps
    .filter((s) => s.step.expect !== undefined)
    .map((s) => ({ key: `step ${s.step.index}`, fields: { action: s.step.label, result: s.failures.length === 0 ? 'held' : `FAILED: ${s.failures.join('; ')}` } }));
  const configuration: SnapshotRow[] = [
    { key: 'scenario', fields: { name: r.scenario.name, steps: r.steps.length } },
    { key: 'platform', fields: { iommu: state.amdvi !== undefined ? 'AMD-Vi' : 'VT-d', policy: state.hypervisor.policy, vmm: state.vmm?.design ?? 'none' } },
  ];
  return { label, sections: { configuration, irte, dte, descriptors, grants: grantRows(state), verdicts, expectations, costs: costRows(r) } };
}
