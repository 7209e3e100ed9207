/**
 * AMD-Vi host (v1) I/O page-table entries: the page directory entry (PDE, Next Level 1..6) and
 * the page table entry (PTE, Next Level 0 = leaf of the level's default size, 7 = leaf whose
 * size is encoded in the address bits). One 64-bit little-endian word per entry, 512 entries per
 * 4 KiB table.
 *
 * Sources: AMD I/O Virtualization Technology spec 48882 §2.2.3 "I/O Page Tables for Host
 * Translations" (as quoted by the sources below); reference sheet amdvi-facts.md §7; Linux
 * `drivers/iommu/amd/amd_iommu_types.h` (`IOMMU_PTE_PR` 0, `IOMMU_PTE_U` 59, `IOMMU_PTE_FC` 60,
 * `IOMMU_PTE_IR` 61, `IOMMU_PTE_IW` 62, `PM_LEVEL_ENC`, `PM_PTE_LEVEL` = bits 11:9,
 * `PM_ADDR_MASK` 51:12, `PM_LEVEL_SHIFT`, `PM_LEVEL_SIZE`, `PAGE_MODE_NONE..PAGE_MODE_6_LEVEL`,
 * `PAGE_SIZE_PTE`, `PTE_PAGE_SIZE`); QEMU `hw/i386/amd_iommu.c` (`amdvi_get_pte_entry`,
 * `fetch_pte`, `PTE_LARGE_PAGE_SIZE`); VirtualBox `include/VBox/iommu-amd.h` (`IOPDE_T`,
 * `IOPTE_T`, `IOMMU_PDE_RSVD_MASK`, `IOMMU_PTE_RSVD_MASK`) and `DevIommuAmd.cpp`
 * (`iommuAmdWalkIoPageTable`: large-page size bounds).
 *
 * Levels are numbered as the spec and the DTE Mode do: level 1 = the table of 4 KiB entries,
 * level 6 = the top table of a 6-level (Mode 6) walk. A table at level L is indexed by IOVA
 * bits [12 + 9(L−1) + 8 : 12 + 9(L−1)].
 */
import { defineLayout, type FieldValues } from '../../bits/layout.ts';
import { maskOf } from '../../bits/bits.ts';

/** Bytes per entry; a table is one 4 KiB page of 512 entries. */
export const V1_ENTRY_BYTES = 8;
/** Entries per table. */
export const V1_TABLE_ENTRIES = 512;

/** DTE Mode / PDE Next Level values (Linux `PAGE_MODE_*`): 0 = no translation, 1..6 levels, 7 reserved in a DTE. */
export const PAGE_MODE = {
  NONE: 0,
  LEVEL_1: 1,
  LEVEL_2: 2,
  LEVEL_3: 3,
  LEVEL_4: 4,
  LEVEL_5: 5,
  LEVEL_6: 6,
  RESERVED: 7,
} as const;

/** Next Level of a leaf whose page size is encoded in its address bits (Linux `PM_LEVEL_ENC(7)`). */
export const NEXT_LEVEL_SIZED_LEAF = 7;
/** Next Level of a leaf of the level's default size. */
export const NEXT_LEVEL_DEFAULT_LEAF = 0;

/**
 * Page directory entry (Next Level 1..6), sheet §7 (VirtualBox `IOPDE_T`, `IOMMU_PDE_RSVD_MASK`):
 * PR 0, A 5 (accessed), NextLevel 11:9, ADDR 51:12 (next table's 4 KiB frame), IR 61, IW 62;
 * reserved 60:52; ignored 4:1, 8:6, 63.
 */
export const V1_PDE_LAYOUT = defineLayout({
  name: 'AMD-Vi v1 PDE',
  width: 64,
  fields: {
    PR: { hi: 0, lo: 0 },
    A: { hi: 5, lo: 5 },
    NextLevel: { hi: 11, lo: 9 },
    ADDR: { hi: 51, lo: 12 },
    IR: { hi: 61, lo: 61 },
    IW: { hi: 62, lo: 62 },
  },
  reserved: [{ hi: 60, lo: 52 }],
});

/**
 * Page table entry (Next Level 0 or 7), sheet §7 (VirtualBox `IOPTE_T`, `IOMMU_PTE_RSVD_MASK`;
 * Linux `IOMMU_PTE_*`, `IOMMU_PTE_HD_BIT` 6): PR 0, A 5, D 6 (dirty), NextLevel 11:9, ADDR 51:12
 * (page frame; for Next Level 7 the low bits encode the size), U 59 (untranslated access
 * only), FC 60 (force coherent), IR 61, IW 62; reserved 58:52 (58:57 are page-migration state
 * in newer specs: FreeBSD, OpenVMM — this model keeps them reserved); ignored 4:1, 8:7, 63.
 */
export const V1_PTE_LAYOUT = defineLayout({
  name: 'AMD-Vi v1 PTE',
  width: 64,
  fields: {
    PR: { hi: 0, lo: 0 },
    A: { hi: 5, lo: 5 },
    D: { hi: 6, lo: 6 },
    NextLevel: { hi: 11, lo: 9 },
    ADDR: { hi: 51, lo: 12 },
    U: { hi: 59, lo: 59 },
    FC: { hi: 60, lo: 60 },
    IR: { hi: 61, lo: 61 },
    IW: { hi: 62, lo: 62 },
  },
  reserved: [{ hi: 58, lo: 52 }],
});

export type V1PdeFields = FieldValues<keyof typeof V1_PDE_LAYOUT.spec.fields>;
export type V1PteFields = FieldValues<keyof typeof V1_PTE_LAYOUT.spec.fields>;

/** Bits 51:12: next-table or page address (Linux `PM_ADDR_MASK` 0x000ffffffffff000). */
export const V1_ADDR_MASK = maskOf(40) << 12n;
const PDE_IGNORED_MASK = maskOf(64) & ~fieldMask(V1_PDE_LAYOUT.spec.fields) & ~V1_PDE_LAYOUT.reservedMask;
const PTE_IGNORED_MASK = maskOf(64) & ~fieldMask(V1_PTE_LAYOUT.spec.fields) & ~V1_PTE_LAYOUT.reservedMask;

function fieldMask(fields: Readonly<Record<string, { hi: number; lo: number }>>): bigint {
  let m = 0n;
  for (const f of Object.values(fields)) m |= maskOf(f.hi - f.lo + 1) << BigInt(f.lo);
  return m;
}

/** Next Level field (bits 11:9) of any entry (Linux `PM_PTE_LEVEL`). */
export function nextLevelOf(entry: bigint): number {
  return Number((entry >> 9n) & 7n);
}

/** Whether an entry's Next Level makes it a PDE (1..6); 0 and 7 are leaves (PTEs). */
export function isPde(entry: bigint): boolean {
  const nl = nextLevelOf(entry);
  return nl >= 1 && nl <= 6;
}

/**
 * A decoded v1 entry. `kind`: 'pde' (Next Level 1..6), 'pte' (0: default-size leaf) or
 * 'sized-pte' (7: size in the address bits). `address` = bits 51:12 as a byte address (for a
 * sized PTE it still holds the size-encoding ones). `u`, `fc` and `d` are false in a PDE (there
 * they are reserved / ignored bits). `reserved` and `ignored` are the set bits of each class in
 * place, so {@link encodeV1Entry} rebuilds the exact word.
 */
export interface V1Entry {
  kind: 'pde' | 'pte' | 'sized-pte';
  present: boolean;
  accessed: boolean;
  dirty: boolean;
  nextLevel: number;
  address: bigint;
  u: boolean;
  fc: boolean;
  ir: boolean;
  iw: boolean;
  reserved: bigint;
  ignored: bigint;
}

/** Decode any 64-bit word as a v1 entry (layout chosen by its Next Level). Never throws; bits above 63 are dropped. */
export function decodeV1Entry(raw: bigint): V1Entry {
  const v = raw & maskOf(64);
  if (isPde(v)) {
    const f = V1_PDE_LAYOUT.decode(v);
    return {
      kind: 'pde',
      present: f.PR === 1,
      accessed: f.A === 1,
      dirty: false,
      nextLevel: f.NextLevel,
      address: BigInt(f.ADDR) << 12n,
      u: false,
      fc: false,
      ir: f.IR === 1,
      iw: f.IW === 1,
      reserved: V1_PDE_LAYOUT.reservedSet(v),
      ignored: v & PDE_IGNORED_MASK,
    };
  }
  const f = V1_PTE_LAYOUT.decode(v);
  return {
    kind: f.NextLevel === NEXT_LEVEL_SIZED_LEAF ? 'sized-pte' : 'pte',
    present: f.PR === 1,
    accessed: f.A === 1,
    dirty: f.D === 1,
    nextLevel: f.NextLevel,
    address: BigInt(f.ADDR) << 12n,
    u: f.U === 1,
    fc: f.FC === 1,
    ir: f.IR === 1,
    iw: f.IW === 1,
    reserved: V1_PTE_LAYOUT.reservedSet(v),
    ignored: v & PTE_IGNORED_MASK,
  };
}

/**
 * Encode a v1 entry. The layout follows `nextLevel` (1..6 → PDE, 0/7 → PTE), whatever `kind`
 * says. `reserved` / `ignored` bits are OR-ed in place.
 * @throws RangeError when `address` is not a 4 KiB-aligned value below 2^52, `nextLevel` is not
 *   0..7, `u`/`fc`/`dirty` are set on a PDE (reserved or ignored there: pass them as raw bits),
 *   or `reserved`/`ignored` hold bits outside their class.
 */
export function encodeV1Entry(e: Omit<V1Entry, 'kind'> & { kind?: V1Entry['kind'] }): bigint {
  if (e.address < 0n || (e.address & ~V1_ADDR_MASK) !== 0n) {
    throw new RangeError(`v1 entry address 0x${e.address.toString(16)} is not a 4 KiB-aligned address below 2^52`);
  }
  if (!Number.isInteger(e.nextLevel) || e.nextLevel < 0 || e.nextLevel > 7) throw new RangeError(`v1 Next Level ${e.nextLevel} is not 0..7`);
  const pde = e.nextLevel >= 1 && e.nextLevel <= 6;
  const layout = pde ? V1_PDE_LAYOUT : V1_PTE_LAYOUT;
  const ignoredMask = pde ? PDE_IGNORED_MASK : PTE_IGNORED_MASK;
  if ((e.reserved & ~layout.reservedMask) !== 0n) throw new RangeError(`${layout.spec.name}: reserved bits 0x${e.reserved.toString(16)} outside its reserved ranges`);
  if ((e.ignored & ~ignoredMask) !== 0n) throw new RangeError(`${layout.spec.name}: ignored bits 0x${e.ignored.toString(16)} outside its ignored bits`);
  const b = (x: boolean): number => (x ? 1 : 0);
  const common = { PR: b(e.present), A: b(e.accessed), NextLevel: e.nextLevel, ADDR: Number(e.address >> 12n), IR: b(e.ir), IW: b(e.iw) };
  if (pde) {
    if (e.u || e.fc || e.dirty) throw new RangeError('AMD-Vi v1 PDE has no U, FC or D field');
    return V1_PDE_LAYOUT.encode(common, e.reserved) | e.ignored;
  }
  return V1_PTE_LAYOUT.encode({ ...common, D: b(e.dirty), U: b(e.u), FC: b(e.fc) }, e.reserved) | e.ignored;
}

// ---------------------------------------------------------------------------------------
// Level geometry (Linux PM_LEVEL_SHIFT / PM_LEVEL_SIZE / PM_LEVEL_INDEX, 1-based here)

/** Bit position of the lowest IOVA bit indexing a level-`level` table: 12 + 9·(level − 1). */
export function levelShift(level: number): number {
  return 12 + 9 * (level - 1);
}

/** Index (0..511) of `iova` in a level-`level` table. */
export function levelIndex(iova: bigint, level: number): number {
  return Number((iova >> BigInt(levelShift(level))) & 0x1ffn);
}

/** Bytes one entry of a level-`level` table maps as a default-size leaf: 2^(12 + 9·(level − 1)) (4 KiB, 2 MiB, 1 GiB, 512 GiB, 256 TiB, 128 PiB). */
export function defaultPageSize(level: number): bigint {
  return 1n << BigInt(levelShift(level));
}

/**
 * Input-address width in bits that DTE Mode 1..6 translates: 12 + 9·Mode (21, 30, 39, 48, 57),
 * and all 64 bits for Mode 6 (Linux `PM_LEVEL_SIZE`: the mask saturates at level 6; QEMU
 * `fetch_pte` rejects `address > PT_LEVEL_MAX_ADDR(mode − 1)`).
 * @throws RangeError for a mode outside 1..6.
 */
export function modeInputBits(mode: number): number {
  if (!Number.isInteger(mode) || mode < 1 || mode > 6) throw new RangeError(`DTE Mode ${mode} has no input width (1..6)`);
  return mode === 6 ? 64 : 12 + 9 * mode;
}

/**
 * IOVA bits that levels `lowExclusive + 1 .. highExclusive − 1` would index: the bits a PDE at
 * level `highExclusive` with Next Level `lowExclusive` skips, which must be zero (VirtualBox
 * `iommuAmdWalkIoPageTable` "Ensure IOVA bits of skipped levels are zero", `s_auIovaLevelMasks`:
 * level 6 indexes bits 63:57 only).
 */
export function skippedLevelsMask(highExclusive: number, lowExclusive: number): bigint {
  let m = 0n;
  for (let l = highExclusive - 1; l > lowExclusive; l--) m |= (0x1ffn << BigInt(levelShift(l))) & maskOf(64);
  return m;
}

// ---------------------------------------------------------------------------------------
// Next Level 7: page size encoded in the address (spec "Example Page Size Encodings")

/**
 * Size in bytes of a Next-Level-7 leaf: 2^(1 + first zero bit of (address | 0xFFF)) — Linux
 * `PTE_PAGE_SIZE`, QEMU `PTE_LARGE_PAGE_SIZE`, VirtualBox's `cShift` loop. Only bits 51:12 are
 * looked at; when all of them are ones the first zero is taken as bit 52 (Linux and QEMU would
 * look on into the reserved bits [derived]). Always 8 KiB .. 8 PiB (2^13 .. 2^53).
 */
export function sizedLeafPageSize(entry: bigint): bigint {
  const a = (entry & V1_ADDR_MASK) | 0xfffn;
  let bit = 12n;
  while (bit < 52n && ((a >> bit) & 1n) === 1n) bit++;
  return 1n << (bit + 1n);
}

/**
 * Address field of a Next-Level-7 leaf mapping `size` bytes at `address`: the address with the
 * bits below the size set to ones except the top one, masked to 51:12 (Linux `PAGE_SIZE_PTE`).
 * @throws RangeError when `size` is not a power of two in 8 KiB .. 2^52, or `address` is not
 *   `size`-aligned below 2^52.
 */
export function sizedLeafAddress(address: bigint, size: bigint): bigint {
  if (size < 8192n || size > 1n << 52n || (size & (size - 1n)) !== 0n) throw new RangeError(`size-encoded page of 0x${size.toString(16)} bytes: not a power of two in 8 KiB..4 PiB`);
  if (address < 0n || address >= 1n << 52n || (address & (size - 1n)) !== 0n) throw new RangeError(`address 0x${address.toString(16)} is not aligned to its 0x${size.toString(16)}-byte page`);
  return (address | (size - 1n)) & ~(size >> 1n) & V1_ADDR_MASK;
}

/**
 * Whether a Next-Level-7 leaf of `size` bytes is legal in a level-`level` table: larger than the
 * level's default size and smaller than the next level's (VirtualBox `iommuAmdWalkIoPageTable`:
 * `cShift > s_acIovaLevelShifts[uLevel] && cShift < s_acIovaLevelShifts[uLevel + 1]`, else
 * IO_PAGE_FAULT "PteInvalidPageSize"). So level 1 holds 8 KiB..1 MiB, level 2 4 MiB..512 MiB,
 * and so on; the entry is repeated in each of the size / default(level) slots it spans.
 */
export function sizedLeafFits(level: number, size: bigint): boolean {
  return size > defaultPageSize(level) && size < defaultPageSize(level + 1);
}
