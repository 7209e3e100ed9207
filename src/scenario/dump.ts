/**
 * The IRT of each remapping unit as the hardware would read it, in the layout of
 * Linux's debugfs `/sys/kernel/debug/iommu/intel/ir_translation_struct`
 * (drivers/iommu/intel/debugfs.c `ir_tbl_remap_entry_show` / `ir_tbl_posted_entry_show`):
 * one row per present entry with the index, SrcID, DstID, vector and the raw halves
 * IRTE_high / IRTE_low, followed here by the decoded fields. Posted entries get their
 * own section as Linux prints them. A unit with IR disabled is listed as such.
 *
 * Then the same table in the layout of Xen's 'V' debug key (xen/drivers/passthrough/
 * vtd/utils.c `dump_iommu_info`: `SVT SQ SID DST V AVL DLM TM RH DM FPD P` rows; newer
 * Xen prefixes remapped rows with "R:" and posted ones with "P:"), where each posted
 * entry is followed by the posted-interrupt descriptor it points at: PIR as a vector
 * list, ON, SN, NV, NDST, and the vCPU that owns it.
 *
 * After each unit's IRT: its registers in the layout of debugfs `iommu_regset` (FSTS, FECTL,
 * FEDATA, FEADDR, IQH/IQT/IQA … with decoded fields), its pending fault records decoded as
 * Linux logs them, and its invalidation queue as debugfs `invalidation_queue` shows it
 * (src/scenario/dump-registers.ts).
 *
 * Then, for each unit with DMA translation enabled (GSTS.TES), its DMA-remapping structures
 * as read from memory through the latched RTADDR ({@link formatDmaDump}).
 *
 * An AMD-Vi platform dumps its units instead (src/scenario/amdvi-dump.ts `formatAmdViDump`:
 * registers, DTEs, interrupt tables in Linux amd debugfs and Xen 'V' layouts, event log).
 */
import type { PlatformState, IommuUnit } from '../platform/state.ts';
import { decodeIrte, IRTE_BYTES } from '../vtd/irte.ts';
import { iecLookup } from '../vtd/iec.ts';
import { decodeIrta, irtEntries, GLOBAL_STATUS_BITS } from '../vtd/registers.ts';
import { formatBdf } from '../pci/bdf.ts';
import { hexDigits } from '../bits/bits.ts';
import { describeIrte, vcpuName } from './trace.ts';
import { registerSection } from './dump-registers.ts';
import { formatAmdViDump } from './amdvi-dump.ts';
import { readPid } from '../vtd/pid-memory.ts';
import { pirVectors } from '../vtd/pid.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import {
  LEGACY_CONTEXT_ENTRY,
  LEGACY_ROOT_ENTRY,
  PASID_DIR_ENTRY,
  PASID_ENTRY,
  PGTT,
  PTE_ADDR_MASK,
  PTE_BITS,
  RTADDR,
  SCALABLE_CONTEXT_ENTRY,
  SCALABLE_ROOT_ENTRY,
  TTM,
  CONTEXT_TT,
  awLevels,
  frameAddress,
  levelIndex,
  levelPageSize,
  pasidDirectoryEntries,
} from '../vtd/dma/structures.ts';

const x = (v: number | bigint, digits: number): string => v.toString(16).padStart(digits, '0');

/** Xen 'V'-key rows for the present entries of `unit`'s table, with the PID under each posted entry. */
function xenRows(state: PlatformState, unit: IommuUnit): string[] {
  const irta = decodeIrta(unit.regs.irtaLatched);
  const n = irtEntries(irta.size);
  const lines = [
    ` iommu ${unit.index} (${unit.name}): Interrupt remapping table (nr_entry=0x${n.toString(16)}. Only dump P=1 entries here):`,
    '  R means remapped format, P means posted format.',
    '  R:       SVT  SQ   SID      DST  V  AVL DLM TM RH DM FPD P',
    '  P:       SVT  SQ   SID  V  AVL FPD              PDA  URG P',
  ];
  for (let index = 0; index < n; index++) {
    const raw = state.memory.readLE(irta.base + BigInt(index * IRTE_BYTES), IRTE_BYTES);
    if ((raw & 1n) === 0n) continue;
    const { irte } = decodeIrte(raw);
    const head = `${x(index, 4)}:  ${irte.svt}   ${irte.sq}  ${x(irte.sid, 4)}`;
    if (irte.mode === 'remapped') {
      lines.push(`  R:  ${head} ${x(irte.destination, 8)} ${x(irte.vector, 2)}    ${irte.avail.toString(16)}   ${irte.deliveryMode}  ${+irte.triggerLevel}  ${+irte.redirectionHint}  ${+irte.destinationModeLogical}   ${+irte.fpd} 1`);
      continue;
    }
    lines.push(`  P:  ${head} ${x(irte.virtualVector, 2)}    ${irte.avail.toString(16)}   ${+irte.fpd} ${x(irte.pda, 16)}    ${+irte.urgent} 1`);
    const { pid } = readPid(state.memory, irte.pda);
    const owner = vcpuList(state.vcpus).find((v) => v.pda === irte.pda);
    const vectors = pirVectors(pid.pir).map((v) => `0x${v.toString(16)}`).join(',');
    lines.push(
      `        PID ${x(irte.pda, 16)}${owner === undefined ? ' (no vCPU owns it)' : ` (${vcpuName(state, owner.id)}, ${owner.run} on cpu${owner.pcpu})`}: PIR {${vectors}} ON=${+pid.on} SN=${+pid.sn} NV=0x${x(pid.nv, 2)} NDST=0x${x(pid.ndst, 8)}`,
    );
  }
  return lines;
}

function unitDump(state: PlatformState, unit: IommuUnit): string[] {
  const enabled = (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRES)) !== 0;
  const irta = decodeIrta(unit.regs.irtaLatched);
  const latched = (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRTPS)) !== 0;
  if (!enabled && !latched) return [` Remapped Interrupt supported on IOMMU: ${unit.name} (IR disabled: GSTS.IRES=0, no table latched)`, ...registerSection(state, unit)];
  const lines = [` Remapped Interrupt supported on IOMMU: ${unit.name}${enabled ? '' : ' (IR disabled: GSTS.IRES=0)'}`, ` IR table address:${irta.base.toString(16)}`, ''];
  const remapped: string[] = [];
  const posted: string[] = [];
  const n = irtEntries(irta.size);
  for (let index = 0; index < n; index++) {
    const raw = state.memory.readLE(irta.base + BigInt(index * IRTE_BYTES), IRTE_BYTES);
    if ((raw & 1n) === 0n) continue;
    const { irte } = decodeIrte(raw);
    const high = hexDigits(raw >> 64n, 16);
    const low = hexDigits(raw & ((1n << 64n) - 1n), 16);
    const cached = iecLookup(unit.iec, index);
    const stale = cached !== undefined && cached.raw !== raw ? `  [IEC holds stale ${hexDigits(cached.raw, 32)}]` : '';
    const src = formatBdf(irte.sid).padEnd(8);
    const idx = String(index).padEnd(6);
    if (irte.mode === 'remapped') {
      remapped.push(` ${idx}${src}${hexDigits(irte.destination, 8)} ${hexDigits(irte.vector, 2)}  ${high}    ${low}    ${describeIrte(raw)}${stale}`);
    } else {
      posted.push(` ${idx}${src}${hexDigits(irte.virtualVector, 2)}  ${hexDigits(irte.pda >> 32n, 8)} ${hexDigits(irte.pda & 0xffff_ffffn, 8)}  ${high}    ${low}    ${describeIrte(raw)}${stale}`);
    }
  }
  lines.push(' Entry SrcID   DstID    Vct IRTE_high           IRTE_low            Decoded');
  append(lines, remapped.length ? remapped : [' (no present remapped-format entries)']);
  if (posted.length) {
    lines.push('', ` Posted Interrupt supported on IOMMU: ${unit.name}`, '', ' Entry SrcID   VV  PDA_high PDA_low   IRTE_high           IRTE_low            Decoded', ...posted);
  }
  lines.push('');
  append(lines, xenRows(state, unit));
  const faults = unit.frcd.map((r, i) => [r, i] as const).filter(([r]) => r >> 127n === 1n);
  if (faults.length) lines.push('', ` Pending fault records: ${faults.map(([r, i]) => `FRCD${i}=${hexDigits(r, 32)}`).join(' ')}`);
  lines.push(...registerSection(state, unit));
  return lines;
}

/**
 * The dump of every unit, blank line between units: the IRT sections, then (only when a unit
 * has DMA translation enabled) {@link formatDmaDump}. A scenario without DMA remapping dumps
 * exactly its IRT sections.
 */
export function formatIrtDump(state: PlatformState): string {
  // An AMD-Vi platform (the vendor seam) has no VT-d units: its own dump (src/scenario/amdvi-dump.ts).
  if (state.amdvi !== undefined) return formatAmdViDump(state);
  const ir = state.iommus.map((u) => unitDump(state, u).join('\n')).join('\n\n') + '\n';
  const dma = formatDmaDump(state);
  return dma === '' ? ir : `${ir}\n${dma}`;
}

// ---------------------------------------------------------------------------------------
// DMA remapping: Linux debugfs dmar_translation_struct and domain_translation_struct

const q = (v: bigint): string => `0x${hexDigits(v & 0xffff_ffff_ffff_ffffn, 16)}`;
/** A 128-bit structure as Linux prints it: `0x<hi qword>:0x<lo qword>`. */
const pair = (v: bigint): string => `${q(v >> 64n)}:${q(v)}`;
const bdfOf = (bus: number, devfn: number): string => `${x(bus, 2)}:${x(devfn >> 3, 2)}.${devfn & 7}`;

/** What a device's context (and PASID) entry says to walk: one page-table root per stage. */
interface DeviceTables {
  readonly bdf: string;
  readonly pasid?: number;
  readonly what: string;
  /** Second-stage root (HPA) and levels, when the translation has a second stage. */
  readonly second?: { readonly root: bigint; readonly levels: number };
  /** First-stage root and levels; its pointers are GPAs when `second` is also set (nested). */
  readonly first?: { readonly root: bigint; readonly levels: number };
}

/**
 * The dmar_translation_struct rows of one unit (Linux drivers/iommu/intel/debugfs.c
 * `ctx_tbl_walk` / `print_tbl_walk`): one row per present context entry — B.D.F, root entry
 * and context entry (low 128 bits) as `hi:lo`, then the PASID (-1 in legacy mode) and the
 * PASID-table entry's qwords 2:1:0, one row per present PASID-table entry in scalable mode.
 * Also collects each device's page-table roots for {@link domainRows}.
 */
function dmarRows(memory: PhysicalMemory, rtaddr: bigint): { rows: string[]; devices: DeviceTables[] } {
  const rt = RTADDR.decode(rtaddr);
  const root = frameAddress(rt.RTA);
  const scalable = rt.TTM === TTM.SCALABLE;
  const rows: string[] = [];
  const devices: DeviceTables[] = [];
  for (let bus = 0; bus < 256; bus++) {
    const re = memory.readLE(root + BigInt(bus * 16), 16);
    if (re === 0n) continue;
    for (let devfn = 0; devfn < 256; devfn++) {
      const bdf = bdfOf(bus, devfn);
      if (!scalable) {
        const r = LEGACY_ROOT_ENTRY.decode(re);
        if (!r.P) break;
        const raw = memory.readLE(frameAddress(r.CTP) + BigInt(devfn * 16), 16);
        const c = LEGACY_CONTEXT_ENTRY.decode(raw);
        if (!c.P) continue;
        rows.push(`${bdf}\t${pair(re)}\t${pair(raw)}\t${String(-1).padEnd(6)}\t${q(0n)}:${q(0n)}:${q(0n)}`);
        const levels = awLevels(c.AW);
        if (c.TT !== CONTEXT_TT.PASS_THROUGH && levels !== undefined) {
          devices.push({ bdf, what: `legacy, DID ${c.DID}, ${levels}-level second stage`, second: { root: frameAddress(c.SLPTPTR), levels } });
        }
        continue;
      }
      const r = SCALABLE_ROOT_ENTRY.decode(re);
      const upper = devfn > 0x7f;
      if (!(upper ? r.UP : r.LP)) continue;
      const ctp = frameAddress(upper ? r.UCTP : r.LCTP);
      const raw = memory.readLE(ctp + BigInt((devfn & 0x7f) * 32), 32);
      const c = SCALABLE_CONTEXT_ENTRY.decode(raw);
      if (!c.P) continue;
      const low = raw & ((1n << 128n) - 1n);
      const dir = frameAddress(c.PASIDDIRPTR);
      let any = false;
      for (let d = 0; d < pasidDirectoryEntries(c.PDTS); d++) {
        const de = PASID_DIR_ENTRY.decode(memory.readLE(dir + BigInt(d * 8), 8));
        if (!de.P) continue;
        for (let i = 0; i < 64; i++) {
          const pasid = d * 64 + i;
          const pr = memory.readLE(frameAddress(de.SMPTBLPTR) + BigInt(i * 64), 64);
          const pe = PASID_ENTRY.decode(pr);
          if (!pe.P) continue;
          any = true;
          rows.push(`${bdf}\t${pair(re)}\t${pair(low)}\t${String(pasid).padEnd(6)}\t${q(pr >> 128n)}:${q(pr >> 64n)}:${q(pr)}`);
          const sl = awLevels(pe.AW);
          const fl = pe.FLPM === 1 ? 5 : 4;
          const second = sl === undefined ? undefined : { root: frameAddress(pe.SLPTPTR), levels: sl };
          const first = { root: frameAddress(pe.FLPTPTR), levels: fl };
          if (pe.PGTT === PGTT.SECOND_STAGE && second) devices.push({ bdf, pasid, what: `scalable, PASID ${pasid}, DID ${pe.DID}, ${sl}-level second stage`, second });
          else if (pe.PGTT === PGTT.FIRST_STAGE) devices.push({ bdf, pasid, what: `scalable, PASID ${pasid}, DID ${pe.DID}, ${fl}-level first stage`, first });
          else if (pe.PGTT === PGTT.NESTED && second) devices.push({ bdf, pasid, what: `scalable, PASID ${pasid}, DID ${pe.DID}, nested: ${fl}-level first stage over ${sl}-level second stage`, first, second });
        }
      }
      if (!any) rows.push(`${bdf}\t${pair(re)}\t${pair(low)}\t${String(-1).padEnd(6)}\t${q(0n)}:${q(0n)}:${q(0n)}`);
    }
  }
  return { rows, devices };
}

/** Second-stage translation of a GPA by reading the tables (for nested first-stage tables); undefined when not mapped. */
function gpaToHpa(memory: PhysicalMemory, second: { root: bigint; levels: number }, gpa: bigint): bigint | undefined {
  let table = second.root;
  for (let level = second.levels; level >= 1; level--) {
    const e = memory.readLE(table + BigInt(levelIndex(gpa, level) * 8), 8);
    if ((e & (PTE_BITS.SL_R | PTE_BITS.SL_W)) === 0n) return undefined;
    if (level === 1 || (e & PTE_BITS.SL_PS) !== 0n) {
      const size = BigInt(levelPageSize(level));
      return ((e & PTE_ADDR_MASK) & ~(size - 1n)) | (gpa & (size - 1n));
    }
    table = e & PTE_ADDR_MASK;
  }
  return undefined;
}

/**
 * domain_translation_struct rows of one page table (Linux debugfs.c `pgtable_walk_level` /
 * `dump_page_info`): one row per present leaf, `IOVA_PFN |` then the entries on its path from
 * PML5E down (0 for levels above the table's top), ending at the leaf (a 2 MiB leaf ends at
 * the PDE). Present: R|W for second-stage entries, P for first-stage ones (Linux
 * `dma_pte_present` tests R|W, which is P|R/W in the first-stage format). `toHpa` turns a
 * table address into the HPA to read (the identity, or the second stage for a nested first stage).
 */
/**
 * Bounds on one domain's dump (docs/limits.md): rows printed and tables read. A 1 TiB mapping in
 * 2 MiB pages has 524,288 leaves; a hostile table whose entries all point back to tables can make
 * the walk read 512^4 entries. Past either bound the dump ends with a line saying what was left out.
 */
export const MAX_DUMP_ROWS = 65_536;
/** Page tables (512 entries each) one domain's dump reads at most. */
export const MAX_DUMP_TABLES = 16_384;

function domainRows(memory: PhysicalMemory, root: bigint, levels: number, stage: 'first' | 'second', toHpa: (table: bigint) => bigint | undefined): string[] {
  const rows: string[] = [];
  let tables = 0;
  let cut: string | undefined;
  const path: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n];
  const present = stage === 'second' ? PTE_BITS.SL_R | PTE_BITS.SL_W : PTE_BITS.FL_P;
  // Recursion depth is the table's levels (at most 5); the bounds cap its breadth.
  const walk = (table: bigint, level: number, start: bigint): void => {
    if (cut !== undefined) return;
    if (++tables > MAX_DUMP_TABLES) {
      cut = `(dump stopped: more than ${MAX_DUMP_TABLES} page tables; docs/limits.md)`;
      return;
    }
    const hpa = toHpa(table);
    if (hpa === undefined) return;
    for (let i = 0; i < 512 && cut === undefined; i++) {
      const e = memory.readLE(hpa + BigInt(i * 8), 8);
      if ((e & present) === 0n) continue;
      const at = start + BigInt(i) * BigInt(levelPageSize(level));
      path[level] = e;
      if (level === 1 || (level <= 3 && (e & PTE_BITS.SL_PS) !== 0n)) {
        let row = `0x${hexDigits(at >> 12n, 13)} |\t${q(path[5]!)}\t${q(path[4]!)}\t${q(path[3]!)}`;
        if (path[2] !== 0n) {
          row += `\t${q(path[2]!)}`;
          if (path[1] !== 0n) row += `\t${q(path[1]!)}`;
        }
        if (rows.length === MAX_DUMP_ROWS) {
          cut = `(dump stopped after ${MAX_DUMP_ROWS} leaves; docs/limits.md)`;
          break;
        }
        rows.push(row);
      } else {
        walk(e & PTE_ADDR_MASK, level - 1, at);
      }
      path[level] = 0n;
    }
  };
  walk(root, levels, 0n);
  if (cut !== undefined) rows.push(cut);
  return rows;
}

/** Append `items` to `out` one by one: `out.push(...items)` throws RangeError past ~10^5 items. */
function append(out: string[], items: readonly string[]): void {
  for (const item of items) out.push(item);
}

const DOMAIN_HEADER = 'IOVA_PFN\t\tPML5E\t\t\tPML4E\t\t\tPDPE\t\t\tPDE\t\t\tPTE';

/**
 * The DMA-remapping structures of every unit with translation enabled (GSTS.TES), read from
 * memory through the latched RTADDR, in the layout of Linux's debugfs
 * `/sys/kernel/debug/iommu/intel/dmar_translation_struct` (per unit: `IOMMU dmarN: Root Table
 * Address: 0x…`, a `B.D.F  Root_entry  Context_entry  PASID  PASID_table_entry` header and one
 * tab-separated row per present context / PASID-table entry; entries as hex qwords, high first)
 * and `domain_translation_struct` (per device and PASID: `Device SSSS:BB:DD.F @0x<table root>`,
 * the `IOVA_PFN  PML5E  PML4E  PDPE  PDE  PTE` header and one row per present leaf, hex). A
 * nested translation prints its first stage (tables at GPAs, read through the second stage;
 * IOVA_PFN is the IOVA's) and then its second stage (IOVA_PFN is then a GPA frame). Empty
 * string when no unit translates DMA.
 */
export function formatDmaDump(state: PlatformState): string {
  const sections: string[] = [];
  for (const u of state.iommus) {
    if ((u.regs.gsts & (1 << GLOBAL_STATUS_BITS.TES)) === 0) continue;
    const rt = RTADDR.decode(u.regs.rtaddrLatched);
    const { rows, devices } = dmarRows(state.memory, u.regs.rtaddrLatched);
    const lines = [
      `$ cat /sys/kernel/debug/iommu/intel/dmar_translation_struct  (${u.name})`,
      '',
      ` IOMMU ${u.name}: Root Table Address: 0x${frameAddress(rt.RTA).toString(16)}  (${rt.TTM === TTM.SCALABLE ? 'scalable' : 'legacy'} mode)`,
      ' B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry',
    ];
    append(lines, rows.length ? rows.map((r) => ` ${r}`) : [' (no present context entries)']);
    lines.push('', `$ cat /sys/kernel/debug/iommu/intel/<device>/domain_translation_struct  (${u.name})`);
    const segment = u.segment;
    for (const d of devices) {
      const dev = `${x(segment, 4)}:${d.bdf}`;
      const identity = (t: bigint): bigint => t;
      if (d.first) {
        const toHpa = d.second ? (t: bigint): bigint | undefined => gpaToHpa(state.memory, d.second!, t) : identity;
        const fr = domainRows(state.memory, d.first.root, d.first.levels, 'first', toHpa);
        lines.push('', `Device ${dev} @0x${d.first.root.toString(16)}${d.second ? ' (GPA)' : ''}  [${d.what}${d.second ? '; first stage' : ''}]`, DOMAIN_HEADER);
        append(lines, fr);
      }
      if (d.second) {
        const sr = domainRows(state.memory, d.second.root, d.second.levels, 'second', identity);
        lines.push('', `Device ${dev} @0x${d.second.root.toString(16)}  [${d.what}${d.first ? '; second stage: IOVA_PFN is the GPA frame' : ''}]`, DOMAIN_HEADER);
        append(lines, sr);
      }
    }
    sections.push(lines.join('\n'));
  }
  return sections.length === 0 ? '' : `${sections.join('\n\n')}\n`;
}
