/**
 * Build AMD-Vi host (v1) page tables in simulated memory from mappings — for tests and
 * scenarios, as src/vtd/dma/builder.ts does for VT-d.
 *
 * Entry values copy Linux `drivers/iommu/amd/io_pgtable.c` (`alloc_pte`, `iommu_v1_map_pages`)
 * and `amd_iommu_types.h`: a PDE is `PM_LEVEL_PDE(level, table)` = table | NextLevel | PR | IR |
 * IW (rights are decided by the leaf); a leaf is page | PR | FC (Linux sets FC on every leaf) |
 * IR/IW from the mapping's rights; a page of 2^k bytes that is not a level's default size is a
 * Next-Level-7 leaf with `PAGE_SIZE_PTE` address bits, written into each of the
 * `PAGE_SIZE_PTE_COUNT` = 2^((k − 12) mod 9) slots it spans in the level-⌊(k − 12)/9⌋ + 1 table
 * (`PAGE_SIZE_LEVEL`). A and D are left clear. Table pages come from a bump allocator and are
 * zeroed when taken (src/vtd/dma/builder.ts `allocatePage`).
 *
 * With `skipLevels`, a new PDE points straight at the table of the level the page needs when
 * the IOVA bits of the levels in between are zero (spec 48882 §2.2.3 level skipping; VirtualBox
 * `iommuAmdWalkIoPageTable` checks those bits), so a walk makes fewer references. A later
 * mapping that needs a skipped level gets it back: the skipping PDE moves to index 0 of a new
 * table one level down (the addresses it served have zero bits there), and so on.
 *
 * Errors in the description throw: RangeError for unaligned or empty mappings, page sizes the
 * mode cannot hold, an exhausted allocator; Error for an overlap with a page already mapped.
 */
import type { PhysicalMemory } from '../../memory/physical-memory.ts';
import { allocatePage, type BumpAllocator } from '../../vtd/dma/builder.ts';
import { NEXT_LEVEL_SIZED_LEAF, V1_ADDR_MASK, V1_ENTRY_BYTES, encodeV1Entry, isPde, levelIndex, modeInputBits, nextLevelOf, skippedLevelsMask, sizedLeafAddress } from './pte.ts';

/** `size` bytes at `iova` map to `hpa` (all 4 KiB multiples) with IR = `read`, IW = `write`; `fc` defaults to true (Linux), `u` to false. */
export interface AmdV1Mapping {
  iova: bigint;
  hpa: bigint;
  size: bigint | number;
  read: boolean;
  write: boolean;
  fc?: boolean;
  u?: boolean;
}

/**
 * `mode` = DTE Mode 1..6 (levels); `pageSizes` = the page sizes (bytes, powers of two ≥ 4 KiB)
 * the builder may use, default 4 KiB, 2 MiB and 1 GiB (those the mode can hold) — Linux's
 * `AMD_IOMMU_PGSIZES` is every power of two from 4 KiB except 512 GiB; `root` reuses an existing
 * top table; `skipLevels` see the module comment.
 */
export interface AmdV1BuildOptions {
  mode: number;
  pageSizes?: readonly bigint[];
  root?: bigint;
  skipLevels?: boolean;
}

/** The new memory, the top table (the DTE's page-table root pointer), the allocator after, and every table page allocated (the root first when new). */
export interface AmdV1Build {
  memory: PhysicalMemory;
  root: bigint;
  allocator: BumpAllocator;
  tables: bigint[];
}

/** Default page sizes: 4 KiB, 2 MiB, 1 GiB. */
export const DEFAULT_V1_PAGE_SIZES: readonly bigint[] = Object.freeze([1n << 12n, 1n << 21n, 1n << 30n]);

/** Where a page of `size` bytes lives: the level of its table and how many slots it fills (Linux `PAGE_SIZE_LEVEL` + 1, `PAGE_SIZE_PTE_COUNT`). */
export function pagePlacement(size: bigint): { level: number; count: number } {
  const k = log2Exact(size);
  if (k === undefined || k < 12) throw new RangeError(`page size 0x${size.toString(16)} is not a power of two of at least 4 KiB`);
  return { level: Math.floor((k - 12) / 9) + 1, count: 2 ** ((k - 12) % 9) };
}

function log2Exact(x: bigint): number | undefined {
  if (x <= 0n || (x & (x - 1n)) !== 0n) return undefined;
  return x.toString(2).length - 1;
}

/**
 * The pages a mapping is split into: at each step the largest allowed size that both addresses
 * are aligned to and that fits in what remains (sizes in bytes).
 * @throws RangeError for unaligned addresses, a size that is not a positive 4 KiB multiple, or
 *   a remainder no allowed size covers (4 KiB not allowed).
 */
export function splitV1Mapping(iova: bigint, hpa: bigint, size: bigint, pageSizes: readonly bigint[]): { iova: bigint; hpa: bigint; size: bigint }[] {
  if (size <= 0n || (size & 0xfffn) !== 0n || (iova & 0xfffn) !== 0n || (hpa & 0xfffn) !== 0n) {
    throw new RangeError(`mapping 0x${iova.toString(16)} → 0x${hpa.toString(16)} (+0x${size.toString(16)}) is not 4 KiB aligned`);
  }
  const sizes = [...pageSizes].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  const pieces: { iova: bigint; hpa: bigint; size: bigint }[] = [];
  for (let off = 0n; off < size; ) {
    const i = iova + off;
    const h = hpa + off;
    const s = sizes.find((p) => i % p === 0n && h % p === 0n && p <= size - off);
    if (s === undefined) throw new RangeError(`no allowed page size maps 0x${i.toString(16)} → 0x${h.toString(16)}`);
    pieces.push({ iova: i, hpa: h, size: s });
    off += s;
  }
  return pieces;
}

/**
 * Build (or extend, with `root`) v1 tables for `mappings` under DTE Mode `mode`.
 * @throws as described in the module comment; RangeError also for a mode outside 1..6, a page
 *   size whose table level is above the mode, or a mapping beyond the mode's input width.
 */
export function buildAmdV1(memory: PhysicalMemory, allocator: BumpAllocator, mappings: readonly AmdV1Mapping[], opts: AmdV1BuildOptions): AmdV1Build {
  const width = modeInputBits(opts.mode);
  const sizes = (opts.pageSizes ?? DEFAULT_V1_PAGE_SIZES).filter((s) => pagePlacement(s).level <= opts.mode);
  for (const s of opts.pageSizes ?? []) {
    const p = pagePlacement(s);
    if (p.level > opts.mode) throw new RangeError(`page size 0x${s.toString(16)} needs a level-${p.level} table; Mode ${opts.mode} has ${opts.mode} levels`);
    if (p.count > 1 && s > 1n << 52n) throw new RangeError(`page size 0x${s.toString(16)} cannot be size-encoded in address bits 51:12`);
  }
  let mem = memory;
  let alloc = allocator;
  const tables: bigint[] = [];
  const allocate = (): bigint => {
    const a = allocatePage(mem, alloc);
    mem = a.memory;
    alloc = a.allocator;
    tables.push(a.address);
    return a.address;
  };
  const root = opts.root ?? allocate();
  for (const m of mappings) {
    const size = BigInt(m.size);
    const last = m.iova + size - 1n;
    if (width < 64 && last >> BigInt(width) !== 0n) throw new RangeError(`mapping at 0x${m.iova.toString(16)} (+0x${size.toString(16)}) is beyond Mode ${opts.mode}'s ${width}-bit input`);
    for (const piece of splitV1Mapping(m.iova, m.hpa, size, sizes)) {
      const { level: target, count } = pagePlacement(piece.size);
      let table = root;
      let level = opts.mode;
      while (level > target) {
        const at = table + BigInt(levelIndex(piece.iova, level) * V1_ENTRY_BYTES);
        const e = mem.readLE(at, V1_ENTRY_BYTES);
        if ((e & 1n) !== 0n) {
          if (!isPde(e)) throw new Error(`mapping at 0x${piece.iova.toString(16)} overlaps a larger page (level ${level})`);
          const nl = nextLevelOf(e);
          if (nl >= target && (piece.iova & skippedLevelsMask(level, nl)) === 0n) {
            table = e & V1_ADDR_MASK;
            level = nl;
            continue;
          }
          // This piece needs a level the PDE skips: put the level-(L−1) table back in. The
          // addresses under the old PDE have zero bits for it, so they sit at its index 0.
          const inserted = allocate();
          mem = mem.writeLE(inserted, V1_ENTRY_BYTES, e);
          mem = mem.writeLE(at, V1_ENTRY_BYTES, pde(inserted, level - 1));
          table = inserted;
          level -= 1;
          continue;
        }
        const next = allocate();
        const canSkip = opts.skipLevels === true && (piece.iova & skippedLevelsMask(level, target)) === 0n;
        const nl = canSkip ? target : level - 1;
        mem = mem.writeLE(at, V1_ENTRY_BYTES, pde(next, nl));
        table = next;
        level = nl;
      }
      const first = levelIndex(piece.iova, level);
      const leaf = leafEntry(m, piece.hpa, piece.size, count > 1);
      for (let i = 0; i < count; i++) {
        const at = table + BigInt((first + i) * V1_ENTRY_BYTES);
        if ((mem.readLE(at, V1_ENTRY_BYTES) & 1n) !== 0n) throw new Error(`mapping at 0x${piece.iova.toString(16)} overlaps an existing one`);
        mem = mem.writeLE(at, V1_ENTRY_BYTES, leaf);
      }
    }
  }
  return { memory: mem, root, allocator: alloc, tables };
}

/** Linux `PM_LEVEL_PDE(level, table)`: PR | IR | IW, Next Level = the next table's level. */
export function pde(table: bigint, nextLevel: number): bigint {
  return encodeV1Entry({ present: true, accessed: false, dirty: false, nextLevel, address: table, u: false, fc: false, ir: true, iw: true, reserved: 0n, ignored: 0n });
}

function leafEntry(m: AmdV1Mapping, hpa: bigint, size: bigint, sized: boolean): bigint {
  return encodeV1Entry({
    present: true,
    accessed: false,
    dirty: false,
    nextLevel: sized ? NEXT_LEVEL_SIZED_LEAF : 0,
    address: sized ? sizedLeafAddress(hpa, size) : hpa,
    u: m.u ?? false,
    fc: m.fc ?? true,
    ir: m.read,
    iw: m.write,
    reserved: 0n,
    ignored: 0n,
  });
}
