/**
 * Parse Linux intel-iommu debugfs dumps (/sys/kernel/debug/iommu/intel/): `ir_translation_struct`
 * (the interrupt remapping tables), `dmar_translation_struct` (root and context entries) and
 * `iommu_regset` (register base and registers), one or several concatenated, as
 * `sudo cat` prints them. Formats from Linux drivers/iommu/intel/debugfs.c:
 *
 * - `ir_translation_struct_show`: per unit with ECAP.IR, `Remapped Interrupt supported on IOMMU: NAME`,
 *   ` IR table address:HEX` (or `Interrupt Remapping is not enabled`), then
 *   `ir_tbl_remap_entry_show` rows `" %-5d %02x:%02x.%01x %08x %02x  %016llx\t%016llx"` (index, SID,
 *   DST, vector, IRTE bits 127:64, 63:0) for present entries with IM = 0; after `****`, per unit with
 *   CAP.PI, `Posted Interrupt supported on IOMMU: NAME` and `ir_tbl_posted_entry_show` rows
 *   `" %-5d %02x:%02x.%01x %08x %08x %02x  %016llx\t%016llx"` (index, SID, PDA_H, PDA_L << 6, VV,
 *   high, low) for present entries with IM = 1.
 * - `dmar_translation_struct_show` → `root_tbl_walk`: `IOMMU NAME: Root Table Address: 0xHEX`, then
 *   `print_tbl_walk` rows `"%02x:%02x.%x\t0x%016llx:0x%016llx\t0x%016llx:0x%016llx\t%-6d\t0x…:0x…:0x…"`
 *   (BDF, root entry hi:lo, context entry hi:lo, PASID (-1 in legacy mode), PASID entry
 *   val[2]:val[1]:val[0]); `DMA Remapping is not enabled on NAME` for a unit with TE clear. The
 *   kernel's documentation (Documentation/ABI/testing/debugfs-intel-iommu) shows the same fields
 *   with each header and value on lines of their own: both layouts are read.
 * - `iommu_regset_show`: `IOMMU: NAME Register Base Address: HEX`, rows `"%-16s\t0x%02x\t\t0x%016llx"`.
 *
 * Shell prompts (`$ …`), `#` comment lines and `[...]` elisions are skipped (an elision is
 * remembered: the dump is partial). Every IRTE row is checked against its own raw value (SID,
 * vector, DST / PDA and the format bit, decoded with src/vtd/irte.ts): a row whose printed fields
 * disagree with its raw value is bad input.
 */
import { readInputText } from '../io/read-input.ts';
import { MAX_LSPCI_BYTES } from '../io/limits.ts';
import { InputError } from '../io/input-error.ts';
import { decodeIrte } from '../vtd/irte.ts';
import { LEGACY_CONTEXT_ENTRY, LEGACY_ROOT_ENTRY } from '../vtd/dma/structures.ts';

/** Largest dump read (bytes): a 64 Ki-entry table of every unit is a few MiB of text. */
export const MAX_DEBUGFS_BYTES = MAX_LSPCI_BYTES;

/** One present IRTE as the dump shows it. */
export interface DebugfsIrte {
  /** Index in the unit's table (0..65535). */
  readonly index: number;
  /** Source-id as printed (bus << 8 | device << 3 | function). */
  readonly sid: number;
  readonly mode: 'remapped' | 'posted';
  /** The whole entry, `IRTE_high << 64 | IRTE_low` (VT-d §9.10 bit numbering). */
  readonly raw: bigint;
  /** Remapped: DST as printed (bits 63:32; the APIC ID in x2APIC mode, APIC ID << 8 in xAPIC mode). */
  readonly destination?: number;
  /** Remapped: V; posted: VV (bits 23:16). */
  readonly vector: number;
  /** Posted: the PID address, PDA_H << 32 | PDA_L << 6 (bytes, 64-byte aligned). */
  readonly pda?: bigint;
  /** Line of the row in the dump (1-based). */
  readonly line: number;
}

/** One unit's interrupt remapping table (`ir_translation_struct`). */
export interface DebugfsIrUnit {
  /** Linux's unit name (`dmar0`). */
  readonly name: string;
  /** HPA of the table (bytes); absent when the dump says IR is not enabled. */
  tableAddress?: bigint;
  /** Listed under "Posted Interrupt supported": the unit reports CAP.PI. */
  posted: boolean;
  readonly entries: DebugfsIrte[];
  readonly line: number;
}

/** One present context entry (`dmar_translation_struct`), its root entry and PASID entry. */
export interface DebugfsContext {
  /** Requester ID (bus << 8 | devfn). */
  readonly rid: number;
  /** Root entry bits 127:64 and 63:0. */
  readonly root: readonly [bigint, bigint];
  /** Context entry bits 127:64 and 63:0 (the low 128 bits of a scalable-mode entry). */
  readonly context: readonly [bigint, bigint];
  /** PASID, -1 for a legacy-mode unit (print_tbl_walk). */
  readonly pasid: number;
  /** The PASID entry's val[2], val[1], val[0] (all 0 in legacy mode). */
  readonly pasidEntry: readonly [bigint, bigint, bigint];
  readonly line: number;
}

/** One unit's DMA remapping structures. */
export interface DebugfsDmarUnit {
  readonly name: string;
  /** Root table HPA (bytes); absent when the dump says DMA remapping is not enabled. */
  rootTableAddress?: bigint;
  readonly contexts: DebugfsContext[];
  readonly line: number;
}

/** One unit's `iommu_regset` block. */
export interface DebugfsRegset {
  readonly name: string;
  readonly registerBase: bigint;
  /** Register name → value (the 32-bit ones zero-extended, as printed). */
  readonly registers: Record<string, bigint>;
  readonly line: number;
}

/** Everything read from a dump, units in the order they first appear. */
export interface DebugfsDump {
  readonly ir: DebugfsIrUnit[];
  readonly dmar: DebugfsDmarUnit[];
  readonly regsets: DebugfsRegset[];
  /** The dump contains `[...]` elisions: some entries are left out. */
  elided: boolean;
}

const HEX = '[0-9a-fA-F]';
const BDF = `(${HEX}{2}):(${HEX}{2})\\.([0-7])`;
const REMAP_ROW = new RegExp(`^\\s*(\\d+)\\s+${BDF}\\s+(${HEX}{8})\\s+(${HEX}{2})\\s+(${HEX}{16})\\s+(${HEX}{16})\\s*$`);
const POSTED_ROW = new RegExp(`^\\s*(\\d+)\\s+${BDF}\\s+(${HEX}{8})\\s+(${HEX}{8})\\s+(${HEX}{2})\\s+(${HEX}{16})\\s+(${HEX}{16})\\s*$`);
const PAIR = /^0x([0-9a-fA-F]{1,16}):0x([0-9a-fA-F]{1,16})$/;
const TRIPLE = /^0x([0-9a-fA-F]{1,16}):0x([0-9a-fA-F]{1,16}):0x([0-9a-fA-F]{1,16})$/;
const HEADER_WORDS = new Set(['B.D.F', 'Root_entry', 'Context_entry', 'PASID', 'PASID_table_entry']);

const big = (h: string): bigint => BigInt(`0x${h}`);
const ridOf = (bus: string, dev: string, fn: string): number => (parseInt(bus, 16) << 8) | (parseInt(dev, 16) << 3) | parseInt(fn, 10);

type Section = { kind: 'none' } | { kind: 'remapped' | 'posted'; unit: DebugfsIrUnit } | { kind: 'dmar'; unit: DebugfsDmarUnit } | { kind: 'regset'; unit: DebugfsRegset };

/** A context record being assembled from tokens (the documentation's layout spreads one over several lines). */
interface PendingContext {
  rid: number;
  line: number;
  pairs: (readonly [bigint, bigint])[];
  pasid?: number;
  triple?: readonly [bigint, bigint, bigint];
}

/**
 * Parse dump text `text` read from `file`.
 * @throws InputError (file, line, field) for an IRTE row whose printed SID / vector / DST / PDA or
 *   format disagree with its raw value, an index above 65535, a malformed entry row, a context row
 *   with a missing entry, or a dump with none of the three files' headers.
 */
export function parseDebugfs(text: string, file: string): DebugfsDump {
  const dump: DebugfsDump = { ir: [], dmar: [], regsets: [], elided: false };
  const irUnit = (name: string, line: number): DebugfsIrUnit => {
    let u = dump.ir.find((x) => x.name === name);
    if (u === undefined) dump.ir.push((u = { name, posted: false, entries: [], line }));
    return u;
  };
  let section: Section = { kind: 'none' };
  let pending: PendingContext | undefined;
  const flush = (): void => {
    if (pending === undefined || section.kind !== 'dmar') return;
    const p = pending;
    pending = undefined;
    const [root, context] = p.pairs;
    if (root === undefined || context === undefined) throw new InputError(`context row of ${fmtRid(p.rid)} has no ${root === undefined ? 'root' : 'context'} entry`, { file, line: p.line, field: 'dmar_translation_struct' });
    section.unit.contexts.push({ rid: p.rid, root, context, pasid: p.pasid ?? -1, pasidEntry: p.triple ?? [0n, 0n, 0n], line: p.line });
  };
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '' || t.startsWith('#') || t.startsWith('$')) return;
    if (t === '[...]') {
      dump.elided = true;
      return;
    }
    let m: RegExpExecArray | null;
    if ((m = /^Remapped Interrupt supported on IOMMU: (\S+)$/.exec(t))) {
      flush();
      section = { kind: 'remapped', unit: irUnit(m[1]!, line) };
      return;
    }
    if ((m = /^Posted Interrupt supported on IOMMU: (\S+)$/.exec(t))) {
      flush();
      const unit = irUnit(m[1]!, line);
      unit.posted = true;
      section = { kind: 'posted', unit };
      return;
    }
    if ((m = /^IOMMU (\S+): Root Table Address: 0x([0-9a-fA-F]+)$/.exec(t))) {
      flush();
      const unit: DebugfsDmarUnit = { name: m[1]!, rootTableAddress: big(m[2]!), contexts: [], line };
      dump.dmar.push(unit);
      section = { kind: 'dmar', unit };
      return;
    }
    if ((m = /^DMA Remapping is not enabled on (\S+)$/.exec(t))) {
      flush();
      dump.dmar.push({ name: m[1]!, contexts: [], line });
      section = { kind: 'none' };
      return;
    }
    if ((m = /^IOMMU: (\S+) Register Base Address: ([0-9a-fA-F]+)$/.exec(t))) {
      flush();
      const unit: DebugfsRegset = { name: m[1]!, registerBase: big(m[2]!), registers: {}, line };
      dump.regsets.push(unit);
      section = { kind: 'regset', unit };
      return;
    }
    if (t === '****') {
      flush();
      section = { kind: 'none' };
      return;
    }
    switch (section.kind) {
      case 'remapped':
      case 'posted':
        irLine(section.unit, section.kind, t, raw, line, file);
        return;
      case 'dmar':
        for (const tok of t.split(/\s+/)) {
          if (HEADER_WORDS.has(tok)) continue;
          if ((m = new RegExp(`^${BDF}$`).exec(tok))) {
            flush();
            pending = { rid: ridOf(m[1]!, m[2]!, m[3]!), line, pairs: [] };
          } else if (pending !== undefined && (m = PAIR.exec(tok))) {
            pending.pairs.push([big(m[1]!), big(m[2]!)]);
          } else if (pending !== undefined && (m = TRIPLE.exec(tok))) {
            pending.triple = [big(m[1]!), big(m[2]!), big(m[3]!)];
          } else if (pending !== undefined && /^-?\d+$/.test(tok)) {
            pending.pasid = Number(tok);
          } else {
            throw new InputError(`unexpected ${JSON.stringify(tok)} in a root/context row`, { file, line, field: 'dmar_translation_struct' });
          }
        }
        return;
      case 'regset':
        if ((m = /^([A-Z][A-Z0-9_]*)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]{1,16})$/.exec(t))) section.unit.registers[m[1]!] = big(m[3]!);
        return;
      case 'none':
        return;
    }
  });
  flush();
  if (dump.ir.length === 0 && dump.dmar.length === 0 && dump.regsets.length === 0) {
    throw new InputError('no intel-iommu debugfs output found (ir_translation_struct, dmar_translation_struct or iommu_regset)', { file, field: '(whole file)' });
  }
  return dump;
}

function irLine(unit: DebugfsIrUnit, kind: 'remapped' | 'posted', t: string, raw: string, line: number, file: string): void {
  const field = kind === 'remapped' ? 'ir_translation_struct (remapped)' : 'ir_translation_struct (posted)';
  let m: RegExpExecArray | null;
  if ((m = /^IR table address:\s*([0-9a-fA-F]+)$/.exec(t))) {
    unit.tableAddress = big(m[1]!);
    return;
  }
  if (t === 'Interrupt Remapping is not enabled' || /^Entry\s+SrcID/.test(t)) return;
  if (!/^\d/.test(t)) return;
  const row = (kind === 'remapped' ? REMAP_ROW : POSTED_ROW).exec(raw);
  if (row === null) throw new InputError(`malformed ${kind} IRTE row: ${JSON.stringify(t)}`, { file, line, field });
  const index = Number(row[1]);
  if (index > 0xffff) throw new InputError(`IRTE index ${index} exceeds 65535`, { file, line, field });
  const sid = ridOf(row[2]!, row[3]!, row[4]!);
  const [high, low] = kind === 'remapped' ? [row[7]!, row[8]!] : [row[8]!, row[9]!];
  const value = (big(high) << 64n) | big(low);
  const { irte } = decodeIrte(value);
  const disagree = (what: string): never => {
    throw new InputError(`IRTE ${index}: the printed ${what} disagrees with IRTE_high:IRTE_low ${high}:${low}`, { file, line, field });
  };
  if (irte.mode !== kind) disagree(`format (listed as ${kind}, IM=${irte.mode === 'posted' ? 1 : 0})`);
  if (irte.sid !== sid) disagree('SrcID');
  if (irte.mode === 'remapped') {
    const destination = parseInt(row[5]!, 16);
    if (irte.vector !== parseInt(row[6]!, 16)) disagree('Vct');
    if (irte.destination !== destination) disagree('DstID');
    unit.entries.push({ index, sid, mode: 'remapped', raw: value, destination, vector: irte.vector, line });
  } else if (irte.mode === 'posted') {
    const pda = (big(row[5]!) << 32n) | big(row[6]!);
    if (irte.virtualVector !== parseInt(row[7]!, 16)) disagree('Vct');
    if (irte.pda !== pda) disagree('PDA_high/PDA_low');
    unit.entries.push({ index, sid, mode: 'posted', raw: value, vector: irte.virtualVector, pda, line });
  }
}

function fmtRid(rid: number): string {
  return `${(rid >> 8).toString(16).padStart(2, '0')}:${((rid >> 3) & 0x1f).toString(16).padStart(2, '0')}.${rid & 7}`;
}

/**
 * A legacy-mode context entry's fields and its root entry's (src/vtd/dma/structures.ts
 * LEGACY_CONTEXT_ENTRY / LEGACY_ROOT_ENTRY, VT-d §9.1 and §9.3): addresses in bytes.
 */
export function legacyContextFields(c: DebugfsContext): { present: boolean; tt: number; aw: number; did: number; slptptr: bigint; rootPresent: boolean; contextTable: bigint } {
  const ctx = LEGACY_CONTEXT_ENTRY.decode((c.context[0] << 64n) | c.context[1]);
  const root = LEGACY_ROOT_ENTRY.decode((c.root[0] << 64n) | c.root[1]);
  return { present: ctx.P, tt: ctx.TT, aw: ctx.AW, did: ctx.DID, slptptr: BigInt(ctx.SLPTPTR) << 12n, rootPresent: root.P, contextTable: BigInt(root.CTP) << 12n };
}

/**
 * Read and parse the dump at `file`.
 * @throws InputError when the file cannot be read, exceeds MAX_DEBUGFS_BYTES, or as parseDebugfs.
 */
export function loadDebugfs(file: string): DebugfsDump {
  return parseDebugfs(readInputText(file, { maxBytes: MAX_DEBUGFS_BYTES, what: 'debugfs dump' }), file);
}
