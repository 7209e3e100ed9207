/**
 * Build VT-d DMA-remapping structures in simulated memory from compact descriptions — mappings,
 * not raw bytes. Page tables for the second stage (legacy or scalable), the first stage (x86
 * paging format), and nested translation (first-stage tables addressed by GPA, plus the second
 * stage that maps those GPAs and the data); and root / context / PASID structures to reach them.
 *
 * Entry formats: reference sheet §8.1–§8.6; the non-leaf settings copy Linux
 * `drivers/iommu/intel/iommu.c` `pfn_to_dma_pte` (second stage: R|W on every non-leaf entry, so
 * rights are decided by the leaf; first stage: P|R/W|U/S, Linux sets U/S on every first-stage entry
 * because requests without PASID are user-level). A flags are left clear so the walk's A/D updates
 * are observable. Table pages come from a caller-given bump allocator and are zeroed when taken.
 *
 * Errors are programming errors in the description and throw: RangeError for an unaligned or
 * empty mapping, a mapping that grants nothing, or an exhausted allocator; Error for a mapping
 * that overlaps one already present.
 */
import type { PhysicalMemory } from '../../memory/physical-memory.ts';
import {
  FL_PTE,
  LEGACY_CONTEXT_ENTRY,
  LEGACY_ROOT_ENTRY,
  PASID_DIR_ENTRY,
  PASID_ENTRY,
  PTE_ADDR_MASK,
  PTE_BITS,
  SCALABLE_CONTEXT_ENTRY,
  SCALABLE_ROOT_ENTRY,
  SL_PTE,
  addressFrame,
  frameAddress,
  levelIndex,
  type CodecInput,
} from './structures.ts';

/** A bump allocator over the byte range [next, end), handing out zeroed, 4 KiB-aligned pages. Immutable. */
export interface BumpAllocator {
  readonly next: bigint;
  readonly end: bigint;
}

/**
 * An allocator over [start, end) (bytes).
 * @throws RangeError when start/end are not 4 KiB aligned or start > end.
 */
export function bumpAllocator(start: bigint, end: bigint): BumpAllocator {
  if ((start & 0xfffn) !== 0n || (end & 0xfffn) !== 0n || start < 0n || start > end) {
    throw new RangeError(`allocator range [0x${start.toString(16)}, 0x${end.toString(16)}) is not 4 KiB aligned`);
  }
  return { next: start, end };
}

/**
 * Take one 4 KiB page and zero it in memory.
 * @throws RangeError when the allocator is exhausted.
 */
export function allocatePage(memory: PhysicalMemory, a: BumpAllocator): { memory: PhysicalMemory; address: bigint; allocator: BumpAllocator } {
  if (a.next + 4096n > a.end) throw new RangeError(`page allocator exhausted at 0x${a.next.toString(16)}`);
  return { memory: memory.writeBytes(a.next, new Uint8Array(4096)), address: a.next, allocator: { next: a.next + 4096n, end: a.end } };
}

/** Page sizes the builders use, in bytes. */
export const PAGE_SIZES = [4096, 2 ** 21, 2 ** 30] as const;
/** One of 4 KiB, 2 MiB, 1 GiB. */
export type PageSize = (typeof PAGE_SIZES)[number];

/**
 * One mapping: `size` bytes at `iova` map to `hpa` (for a first stage under nesting, `hpa` is the
 * GPA). `size`, `iova` and `hpa` must be 4 KiB multiples. `execute` defaults to false, `user`
 * (first stage only: U/S) to true.
 */
export interface Mapping {
  iova: bigint;
  hpa: bigint;
  size: bigint | number;
  read: boolean;
  write: boolean;
  execute?: boolean;
  user?: boolean;
}

/** Result of a page-table build: new memory, the root table address (HPA, or GPA for a nested first stage), the allocator after, and every table page created. */
export interface PageTableBuild {
  memory: PhysicalMemory;
  root: bigint;
  allocator: BumpAllocator;
  tables: bigint[];
}

/**
 * The page sizes a mapping is split into: at each step the largest size ≤ `maxPageSize` that
 * both addresses are aligned to and that fits in what remains (sizes in bytes).
 * @throws RangeError for unaligned addresses or a size that is not a positive 4 KiB multiple.
 */
export function splitMapping(iova: bigint, out: bigint, size: bigint, maxPageSize: PageSize): { iova: bigint; out: bigint; size: number }[] {
  if (size <= 0n || (size & 0xfffn) !== 0n || (iova & 0xfffn) !== 0n || (out & 0xfffn) !== 0n) {
    throw new RangeError(`mapping 0x${iova.toString(16)} → 0x${out.toString(16)} (+0x${size.toString(16)}) is not 4 KiB aligned`);
  }
  const pieces: { iova: bigint; out: bigint; size: number }[] = [];
  let offset = 0n;
  while (offset < size) {
    const i = iova + offset;
    const o = out + offset;
    const left = size - offset;
    const s = [...PAGE_SIZES].reverse().find((p) => p <= maxPageSize && i % BigInt(p) === 0n && o % BigInt(p) === 0n && BigInt(p) <= left) ?? 4096;
    pieces.push({ iova: i, out: o, size: s });
    offset += BigInt(s);
  }
  return pieces;
}

interface EntryFormat {
  present(entry: bigint): boolean;
  isLeaf(entry: bigint, level: number): boolean;
  nonLeaf(next: bigint): bigint;
  leaf(m: Mapping, out: bigint, level: number): bigint;
}

/** Second-stage format (sheet §8.5). `snp` sets bit 11 (legacy mode only). */
function secondStageFormat(snp: boolean): EntryFormat {
  return {
    present: (e) => (e & (PTE_BITS.SL_R | PTE_BITS.SL_W)) !== 0n,
    isLeaf: (e, level) => level === 1 || (e & PTE_BITS.SL_PS) !== 0n,
    nonLeaf: (next) => SL_PTE.encode({ ...SL_ZERO, R: true, W: true, X: true, ADDR: addressFrame(next) }),
    leaf: (m, out, level) => {
      if (!m.read && !m.write) throw new RangeError(`second-stage mapping at 0x${m.iova.toString(16)} grants neither read nor write`);
      return SL_PTE.encode({
        ...SL_ZERO,
        R: m.read,
        W: m.write,
        X: m.execute ?? false,
        PS: level > 1,
        SNP: snp,
        ADDR: addressFrame(out),
      });
    },
  };
}

/** First-stage format (sheet §8.6). `nxe`: encode XD for non-executable leaves. */
function firstStageFormat(nxe: boolean): EntryFormat {
  return {
    present: (e) => (e & PTE_BITS.FL_P) !== 0n,
    isLeaf: (e, level) => level === 1 || ((level === 2 || level === 3) && (e & PTE_BITS.FL_PS) !== 0n),
    nonLeaf: (next) => FL_PTE.encode({ ...FL_ZERO, P: true, RW: true, US: true, ADDR: addressFrame(next) }),
    leaf: (m, out, level) => {
      if (!m.read) throw new RangeError(`first-stage mapping at 0x${m.iova.toString(16)}: a present x86 entry is always readable`);
      return FL_PTE.encode({
        ...FL_ZERO,
        P: true,
        RW: m.write,
        US: m.user ?? true,
        PS: level > 1,
        XD: nxe && !(m.execute ?? false),
        ADDR: addressFrame(out),
      });
    },
  };
}

const SL_ZERO: CodecInput<typeof SL_PTE> = {
  R: false, W: false, X: false, EMT: 0, IPAT: false, PS: false, A: false, D: false, SNP: false, ADDR: 0, TM: false,
};
const FL_ZERO: CodecInput<typeof FL_PTE> = {
  P: false, RW: false, US: false, PWT: false, PCD: false, A: false, D: false, PS: false, G: false, EA: false, ADDR: 0, XD: false,
};

/** Table storage: where a table's bytes live (identity for HPA-addressed tables) and how new tables are obtained. */
interface TableSpace {
  memory: PhysicalMemory;
  hpaOf(table: bigint): bigint;
  allocate(): bigint;
  tables: bigint[];
}

function mapPiece(space: TableSpace, root: bigint, levels: number, fmt: EntryFormat, m: Mapping, piece: { iova: bigint; out: bigint; size: number }): void {
  const target = Math.round(Math.log2(piece.size) - 12) / 9 + 1;
  let table = root;
  for (let level = levels; ; level--) {
    const at = space.hpaOf(table) + BigInt(levelIndex(piece.iova, level) * 8);
    const e = space.memory.readLE(at, 8);
    if (level === target) {
      if (fmt.present(e)) throw new Error(`mapping at 0x${piece.iova.toString(16)} overlaps an existing one`);
      space.memory = space.memory.writeLE(at, 8, fmt.leaf(m, piece.out, level));
      return;
    }
    if (fmt.present(e)) {
      if (fmt.isLeaf(e, level)) throw new Error(`mapping at 0x${piece.iova.toString(16)} overlaps a larger page`);
      table = e & PTE_ADDR_MASK;
      continue;
    }
    const next = space.allocate();
    space.memory = space.memory.writeLE(at, 8, fmt.nonLeaf(next));
    table = next;
  }
}

function build(space: TableSpace, root: bigint, levels: number, fmt: EntryFormat, mappings: readonly Mapping[], maxPageSize: PageSize): void {
  for (const m of mappings) {
    for (const piece of splitMapping(m.iova, m.hpa, BigInt(m.size), maxPageSize)) mapPiece(space, root, levels, fmt, m, piece);
  }
}

function hostSpace(memory: PhysicalMemory, allocator: BumpAllocator): TableSpace & { allocator: BumpAllocator } {
  const space = {
    memory,
    allocator,
    tables: [] as bigint[],
    hpaOf: (t: bigint) => t,
    allocate(): bigint {
      const a = allocatePage(space.memory, space.allocator);
      space.memory = a.memory;
      space.allocator = a.allocator;
      space.tables.push(a.address);
      return a.address;
    },
  };
  return space;
}

/** Options of a page-table build: `levels` of the walk; `maxPageSize` caps super pages (default 1 GiB); `root` reuses an existing root table (HPA, or GPA for a nested first stage). */
export interface BuildOptions {
  levels: number;
  maxPageSize?: PageSize;
  root?: bigint;
}

/**
 * Second-stage tables (legacy or scalable; levels 3/4/5 = AW 1/2/3) for `mappings` IOVA/GPA →
 * HPA. `snp` sets SNP in leaves (legacy mode only; reserved in scalable mode).
 * @throws as described in the module comment.
 */
export function buildSecondStage(
  memory: PhysicalMemory,
  allocator: BumpAllocator,
  mappings: readonly Mapping[],
  opts: BuildOptions & { snp?: boolean },
): PageTableBuild {
  const space = hostSpace(memory, allocator);
  const root = opts.root ?? space.allocate();
  build(space, root, opts.levels, secondStageFormat(opts.snp ?? false), mappings, opts.maxPageSize ?? 2 ** 30);
  return { memory: space.memory, root, allocator: space.allocator, tables: space.tables };
}

/**
 * First-stage tables (4 or 5 levels; FLPM 0/1) for `mappings` IOVA → HPA (first-stage-only
 * mode: table pointers are HPAs). `nxe` encodes XD = !execute (pair with PASID-entry NXE = 1).
 * @throws as described in the module comment.
 */
export function buildFirstStage(
  memory: PhysicalMemory,
  allocator: BumpAllocator,
  mappings: readonly Mapping[],
  opts: BuildOptions & { nxe?: boolean },
): PageTableBuild {
  const space = hostSpace(memory, allocator);
  const root = opts.root ?? space.allocate();
  build(space, root, opts.levels, firstStageFormat(opts.nxe ?? false), mappings, opts.maxPageSize ?? 2 ** 30);
  return { memory: space.memory, root, allocator: space.allocator, tables: space.tables };
}

/** One nested mapping: `size` bytes at `iova` → `gpa` (first stage) → `hpa` (second stage). */
export interface NestedMapping {
  iova: bigint;
  gpa: bigint;
  hpa: bigint;
  size: bigint | number;
  read: boolean;
  write: boolean;
  execute?: boolean;
  user?: boolean;
}

/** Result of {@link buildNested}: FLPTPTR (a GPA) and SLPTPTR (an HPA), plus where each first-stage table page lives. */
export interface NestedBuild {
  memory: PhysicalMemory;
  /** First-stage root: a GPA, as FLPTPTR holds it in nested mode (sheet §8.8). */
  firstStageRoot: bigint;
  /** Second-stage root: an HPA (SLPTPTR). */
  secondStageRoot: bigint;
  hostAllocator: BumpAllocator;
  guestAllocator: BumpAllocator;
  /** Every first-stage table page: its GPA and the HPA backing it. */
  firstStageTables: { gpa: bigint; hpa: bigint }[];
}

/**
 * Nested (PGTT = 3) tables. First-stage tables get GPAs from `guestAllocator` and backing pages
 * from `hostAllocator`; the second stage (from `hostAllocator`) maps every first-stage table
 * page GPA → HPA (4 KiB, read/write — first-stage A/D updates are writes through the second stage)
 * and every mapping's GPA → HPA, plus `extraSecondStage` mappings.
 * `firstStageLevels` 4/5, `secondStageLevels` 3/4/5; `maxPageSize` caps both stages.
 * @throws as described in the module comment.
 */
export function buildNested(
  memory: PhysicalMemory,
  opts: {
    hostAllocator: BumpAllocator;
    guestAllocator: BumpAllocator;
    mappings: readonly NestedMapping[];
    firstStageLevels: number;
    secondStageLevels: number;
    maxPageSize?: PageSize;
    nxe?: boolean;
    extraSecondStage?: readonly Mapping[];
  },
): NestedBuild {
  const host = hostSpace(memory, opts.hostAllocator);
  let guest = opts.guestAllocator;
  const pairs: { gpa: bigint; hpa: bigint }[] = [];
  const backing = new Map<bigint, bigint>();
  const fsSpace: TableSpace = {
    get memory() {
      return host.memory;
    },
    set memory(m: PhysicalMemory) {
      host.memory = m;
    },
    tables: [],
    hpaOf(t) {
      const h = backing.get(t);
      if (h === undefined) throw new Error(`first-stage table GPA 0x${t.toString(16)} has no backing page`);
      return h;
    },
    allocate() {
      if (guest.next + 4096n > guest.end) throw new RangeError(`guest page allocator exhausted at 0x${guest.next.toString(16)}`);
      const gpa = guest.next;
      guest = { next: gpa + 4096n, end: guest.end };
      const hpa = host.allocate();
      backing.set(gpa, hpa);
      pairs.push({ gpa, hpa });
      return gpa;
    },
  };
  const max = opts.maxPageSize ?? 2 ** 30;
  const fsRoot = fsSpace.allocate();
  const fsMappings: Mapping[] = opts.mappings.map((m) => {
    const f: Mapping = { iova: m.iova, hpa: m.gpa, size: m.size, read: m.read, write: m.write };
    if (m.execute !== undefined) f.execute = m.execute;
    if (m.user !== undefined) f.user = m.user;
    return f;
  });
  build(fsSpace, fsRoot, opts.firstStageLevels, firstStageFormat(opts.nxe ?? false), fsMappings, max);
  const slRoot = host.allocate();
  const slMappings: Mapping[] = [
    ...pairs.map((p) => ({ iova: p.gpa, hpa: p.hpa, size: 4096, read: true, write: true })),
    // Rights are the first stage's to enforce; the second stage grants everything.
    ...opts.mappings.map((m): Mapping => ({ iova: m.gpa, hpa: m.hpa, size: m.size, read: true, write: true, execute: true })),
    ...(opts.extraSecondStage ?? []),
  ];
  build(host, slRoot, opts.secondStageLevels, secondStageFormat(false), slMappings, max);
  return {
    memory: host.memory,
    firstStageRoot: fsRoot,
    secondStageRoot: slRoot,
    hostAllocator: host.allocator,
    guestAllocator: guest,
    firstStageTables: pairs,
  };
}

// ---------------------------------------------------------------------------------------
// Root, context and PASID structures

/**
 * Legacy-mode device: ensure the root entry of `rid`'s bus (allocating its context table) and
 * write the context entry for `rid`'s devfn. `rootTable` = RTADDR.RTA as a byte address; `aw`
 * 1/2/3 = 3/4/5 levels; `tt` default 0 (second stage); `slptptr` an HPA.
 */
export function installLegacyDevice(
  memory: PhysicalMemory,
  allocator: BumpAllocator,
  d: { rootTable: bigint; rid: number; did: number; aw: number; slptptr: bigint; tt?: number; fpd?: boolean },
): { memory: PhysicalMemory; allocator: BumpAllocator; contextTable: bigint } {
  const rootAt = d.rootTable + BigInt((d.rid >> 8) * 16);
  let root = LEGACY_ROOT_ENTRY.decode(memory.readLE(rootAt, 16));
  let a = allocator;
  let mem = memory;
  if (!root.P) {
    const page = allocatePage(mem, a);
    mem = page.memory;
    a = page.allocator;
    mem = mem.writeLE(rootAt, 16, LEGACY_ROOT_ENTRY.encode({ P: true, CTP: addressFrame(page.address) }));
    root = LEGACY_ROOT_ENTRY.decode(mem.readLE(rootAt, 16));
  }
  const contextTable = frameAddress(root.CTP);
  const ctx = LEGACY_CONTEXT_ENTRY.encode({
    P: true,
    FPD: d.fpd ?? false,
    TT: d.tt ?? 0,
    SLPTPTR: addressFrame(d.slptptr),
    AW: d.aw,
    DID: d.did,
  });
  mem = mem.writeLE(contextTable + BigInt((d.rid & 0xff) * 16), 16, ctx);
  return { memory: mem, allocator: a, contextTable };
}

/**
 * Scalable-mode device: ensure the root entry half (LP/LCTP for devfn < 128, UP/UCTP above) of
 * `rid`'s bus and the context entry for `rid` with its PASID directory (one page: up to 512
 * entries, PDTS ≤ 2). A fresh context entry gets PASIDE default true, PDTS default 0 (128
 * directory entries), RID_PASID default 0 and a new directory page. With `reuse` a present
 * scalable context entry is kept with its directory (and the PASID tables under it, so the
 * PASIDs already installed stay): only the fields given change — PDTS only grows, RID_PASID,
 * RID_PRIV, PASIDE, FPD when given — and the entry is rewritten only when one does (`changed`).
 * @throws RangeError for a PDTS above 2 (a directory larger than the one page allocated) or an
 *   exhausted allocator.
 */
export function installScalableDevice(
  memory: PhysicalMemory,
  allocator: BumpAllocator,
  d: { rootTable: bigint; rid: number; pdts?: number; ridPasid?: number; ridPriv?: boolean; paside?: boolean; fpd?: boolean; reuse?: boolean },
): { memory: PhysicalMemory; allocator: BumpAllocator; pasidDirectory: bigint; reused: boolean; changed: boolean } {
  if ((d.pdts ?? 0) > 2) throw new RangeError(`PDTS ${d.pdts} needs a PASID directory of ${2 ** ((d.pdts ?? 0) + 7)} entries, more than the one page the builder allocates (512)`);
  const rootAt = d.rootTable + BigInt((d.rid >> 8) * 16);
  let mem = memory;
  let a = allocator;
  const root = SCALABLE_ROOT_ENTRY.decode(mem.readLE(rootAt, 16));
  const upper = (d.rid & 0xff) > 0x7f;
  let ctp = upper ? root.UCTP : root.LCTP;
  if (!(upper ? root.UP : root.LP)) {
    const page = allocatePage(mem, a);
    mem = page.memory;
    a = page.allocator;
    ctp = addressFrame(page.address);
    const next = upper ? { ...root, UP: true, UCTP: ctp } : { ...root, LP: true, LCTP: ctp };
    mem = mem.writeLE(rootAt, 16, SCALABLE_ROOT_ENTRY.encode(next));
  }
  const contextAt = frameAddress(ctp) + BigInt((d.rid & 0x7f) * 32);
  const raw = mem.readLE(contextAt, 32);
  const old = SCALABLE_CONTEXT_ENTRY.decode(raw);
  if (d.reuse && old.P && old.reserved === 0n && old.PDTS <= 2) {
    const ctx = SCALABLE_CONTEXT_ENTRY.encode({
      P: true,
      FPD: d.fpd ?? old.FPD,
      DTE: old.DTE,
      PASIDE: d.paside ?? old.PASIDE,
      PRE: old.PRE,
      PDTS: Math.max(old.PDTS, d.pdts ?? 0),
      PASIDDIRPTR: old.PASIDDIRPTR,
      RID_PASID: d.ridPasid ?? old.RID_PASID,
      RID_PRIV: d.ridPriv ?? old.RID_PRIV,
    });
    if (ctx !== raw) mem = mem.writeLE(contextAt, 32, ctx);
    return { memory: mem, allocator: a, pasidDirectory: frameAddress(old.PASIDDIRPTR), reused: true, changed: ctx !== raw };
  }
  const dir = allocatePage(mem, a);
  mem = dir.memory;
  a = dir.allocator;
  const ctx = SCALABLE_CONTEXT_ENTRY.encode({
    P: true,
    FPD: d.fpd ?? false,
    DTE: false,
    PASIDE: d.paside ?? true,
    PRE: false,
    PDTS: d.pdts ?? 0,
    PASIDDIRPTR: addressFrame(dir.address),
    RID_PASID: d.ridPasid ?? 0,
    RID_PRIV: d.ridPriv ?? false,
  });
  mem = mem.writeLE(contextAt, 32, ctx);
  return { memory: mem, allocator: a, pasidDirectory: dir.address, reused: false, changed: true };
}

/** The smallest PDTS whose directory (2^(PDTS+7) entries of 64 PASIDs) holds `pasid`. */
export function pdtsFor(pasid: number): number {
  let pdts = 0;
  while ((pasid >> 6) >= 2 ** (pdts + 7)) pdts++;
  return pdts;
}

/** PASID-entry field values accepted by {@link installPasidEntry}; omitted fields are 0, P defaults to true. */
export type PasidEntryInput = Partial<CodecInput<typeof PASID_ENTRY>>;

const PASID_ZERO: CodecInput<typeof PASID_ENTRY> = {
  P: false, FPD: false, AW: 0, SLEE: false, PGTT: 0, SLADE: false, SLPTPTR: 0, DID: 0, PWSNP: false, PGSNP: false,
  CD: false, EMTE: false, EMT: 0, PWT: false, PCD: false, PAT: 0, SRE: false, ERE: false, FLPM: 0, WPE: false,
  NXE: false, SMEP: false, EAFE: false, FLPTPTR: 0,
};

/**
 * Write the PASID-table entry for `pasid` under `pasidDirectory`, allocating the PASID table
 * (one page = 64 entries) when the directory entry is not present. Pointer fields are frame
 * numbers (use {@link addressFrame}); P defaults to true.
 */
export function installPasidEntry(
  memory: PhysicalMemory,
  allocator: BumpAllocator,
  d: { pasidDirectory: bigint; pasid: number; entry: PasidEntryInput },
): { memory: PhysicalMemory; allocator: BumpAllocator; entryAddress: bigint } {
  let mem = memory;
  let a = allocator;
  const dirAt = d.pasidDirectory + BigInt((d.pasid >> 6) * 8);
  let dir = PASID_DIR_ENTRY.decode(mem.readLE(dirAt, 8));
  if (!dir.P) {
    const page = allocatePage(mem, a);
    mem = page.memory;
    a = page.allocator;
    mem = mem.writeLE(dirAt, 8, PASID_DIR_ENTRY.encode({ P: true, FPD: false, SMPTBLPTR: addressFrame(page.address) }));
    dir = PASID_DIR_ENTRY.decode(mem.readLE(dirAt, 8));
  }
  const entryAddress = frameAddress(dir.SMPTBLPTR) + BigInt((d.pasid & 0x3f) * 64);
  mem = mem.writeLE(entryAddress, 64, PASID_ENTRY.encode({ ...PASID_ZERO, P: true, ...d.entry }));
  return { memory: mem, allocator: a, entryAddress };
}
