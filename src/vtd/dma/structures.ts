/**
 * VT-d DMA-remapping structures as data tables: RTADDR_REG, root entries (legacy and
 * scalable), context entries (legacy 128-bit and scalable 256-bit), PASID-directory and
 * scalable-mode PASID-table entries, and second-stage / first-stage paging entries.
 * VT-d spec §9.1–§9.9 and §11.4.5; reference sheet §8.1–§8.6, whose sources are named on each
 * table (Linux `drivers/iommu/intel/{iommu.h,pasid.h}`, QEMU `hw/i386/intel_iommu_internal.h`,
 * VirtualBox `include/VBox/iommu-intel.h`).
 *
 * Every structure is one little-endian bigint (`qword1 << 64 | qword0`, as the spec numbers its
 * bits). Decoders never throw and report, in place, the reserved bits that are set and the
 * ignored/available bits (neither a field nor reserved) so that `encode(decode(x)) === x` for
 * every bit pattern. One-bit fields decode to boolean, wider ones to number; pointer fields are
 * kept as the raw field (a 4 KiB frame number) and {@link frameAddress} turns one into a byte
 * address.
 *
 * Paging entries have level- and mode-dependent reserved bits, which no single table can hold;
 * their layouts name the fields only, and {@link secondStageReservedMask} /
 * {@link firstStageReservedMask} compute the reserved mask for a given position in the walk.
 */
import { maskOf } from '../../bits/bits.ts';
import { defineRecord, type RecordCodec, type RecordInput } from '../../bits/record.ts';

/** Encoder input type of a codec (all fields, optional reserved/ignored bits). */
export type CodecInput<C> = C extends RecordCodec<infer T> ? RecordInput<T> : never;

/** Byte address of a pointer field held as a 4 KiB frame number (`field << 12`). */
export function frameAddress(frame: number): bigint {
  return BigInt(frame) << 12n;
}

/**
 * Frame number of a 4 KiB-aligned byte address, for encoding pointer fields.
 * @throws RangeError when `address` is negative, not 4 KiB aligned, or ≥ 2^64.
 */
export function addressFrame(address: bigint): number {
  if (address < 0n || address >= 1n << 64n || (address & 0xfffn) !== 0n) {
    throw new RangeError(`address 0x${address.toString(16)} is not a 4 KiB-aligned 64-bit address`);
  }
  return Number(address >> 12n);
}

// ---------------------------------------------------------------------------------------
// §8.1 RTADDR_REG and root entries

/**
 * RTADDR_REG (offset 0x20, 64 bits): RTA 63:12 root-table base frame; TTM 11:10 translation
 * table mode (0 legacy, 1 scalable, 2 reserved, 3 abort-DMA); 9:0 reserved. Sheet §8.1
 * (VirtualBox `vtdRtaddrRegGetTtmDesc`; Linux `DMA_RTADDR_SMT`; QEMU `VTD_RTADDR_ADDR_MASK`).
 */
export const RTADDR = defineRecord('RTADDR_REG', 64, { TTM: { hi: 11, lo: 10 }, RTA: { hi: 63, lo: 12 } }, [{ hi: 9, lo: 0 }]);

/** RTADDR.TTM values (sheet §8.1). */
export const TTM = { LEGACY: 0, SCALABLE: 1, RESERVED: 2, ABORT_DMA: 3 } as const;

/** Bytes per root entry (both modes); the root table has 256 entries indexed by bus. */
export const ROOT_ENTRY_BYTES = 16;

/**
 * Legacy root entry (128 bits): P 0, CTP 63:12 context-table frame; 11:1 and 127:64 reserved.
 * Sheet §8.1 (Linux `struct root_entry` comment; QEMU `VTD_ROOT_ENTRY_P`, `VTD_ROOT_ENTRY_CTP`).
 */
export const LEGACY_ROOT_ENTRY = defineRecord(
  'legacy root entry',
  128,
  { P: { hi: 0, lo: 0 }, CTP: { hi: 63, lo: 12 } },
  [
    { hi: 11, lo: 1 },
    { hi: 127, lo: 64 },
  ],
);

/**
 * Scalable-mode root entry (128 bits): LP 0 + LCTP 63:12 (context table for devfn 0..127);
 * UP 64 + UCTP 127:76 (devfn 128..255); 11:1 and 75:65 reserved. Sheet §8.1 (QEMU
 * `vtd_get_context_entry_from_root`: devfn > 127 uses the upper half, index `devfn & 0x7f`).
 */
export const SCALABLE_ROOT_ENTRY = defineRecord(
  'scalable root entry',
  128,
  { LP: { hi: 0, lo: 0 }, LCTP: { hi: 63, lo: 12 }, UP: { hi: 64, lo: 64 }, UCTP: { hi: 127, lo: 76 } },
  [
    { hi: 11, lo: 1 },
    { hi: 75, lo: 65 },
  ],
);

// ---------------------------------------------------------------------------------------
// §8.2 / §8.3 context entries

/** Bytes per legacy context entry (256 per table, indexed by devfn). */
export const LEGACY_CONTEXT_ENTRY_BYTES = 16;
/** Bytes per scalable-mode context entry (128 per table, indexed by devfn & 0x7F). */
export const SCALABLE_CONTEXT_ENTRY_BYTES = 32;

/**
 * Legacy context entry (128 bits), sheet §8.2 (VirtualBox `VTD_BF_{0,1}_CONTEXT_ENTRY_*`):
 * P 0, FPD 1, TT 3:2 (0 second-stage, 1 second-stage + device-TLB, 2 pass-through, 3 reserved),
 * SLPTPTR 63:12, AW 66:64 (1/2/3 = 3/4/5 levels), AVAIL 70:67 (ignored), DID 87:72;
 * reserved 11:4, 71, 127:88.
 */
export const LEGACY_CONTEXT_ENTRY = defineRecord(
  'legacy context entry',
  128,
  {
    P: { hi: 0, lo: 0 },
    FPD: { hi: 1, lo: 1 },
    TT: { hi: 3, lo: 2 },
    SLPTPTR: { hi: 63, lo: 12 },
    AW: { hi: 66, lo: 64 },
    DID: { hi: 87, lo: 72 },
  },
  [
    { hi: 11, lo: 4 },
    { hi: 71, lo: 71 },
    { hi: 127, lo: 88 },
  ],
);

/** Legacy context-entry TT values (sheet §8.2; Linux `CONTEXT_TT_*`). */
export const CONTEXT_TT = { MULTI_LEVEL: 0, DEV_IOTLB: 1, PASS_THROUGH: 2, RESERVED: 3 } as const;

/**
 * Scalable-mode context entry (256 bits), sheet §8.3 (VirtualBox `VTD_BF_*_SM_CONTEXT_ENTRY_*`;
 * Linux `context_set_sm_*`): P 0, FPD 1, DTE 2, PASIDE 3, PRE 4, PDTS 11:9 (directory has
 * 2^(PDTS+7) entries), PASIDDIRPTR 63:12, RID_PASID 83:64, RID_PRIV 84; reserved 8:5, 255:85.
 */
export const SCALABLE_CONTEXT_ENTRY = defineRecord(
  'scalable context entry',
  256,
  {
    P: { hi: 0, lo: 0 },
    FPD: { hi: 1, lo: 1 },
    DTE: { hi: 2, lo: 2 },
    PASIDE: { hi: 3, lo: 3 },
    PRE: { hi: 4, lo: 4 },
    PDTS: { hi: 11, lo: 9 },
    PASIDDIRPTR: { hi: 63, lo: 12 },
    RID_PASID: { hi: 83, lo: 64 },
    RID_PRIV: { hi: 84, lo: 84 },
  },
  [
    { hi: 8, lo: 5 },
    { hi: 255, lo: 85 },
  ],
);

/** Number of PASID-directory entries for a scalable context entry's PDTS: 2^(PDTS+7) (Linux `context_get_sm_pds` comment). */
export function pasidDirectoryEntries(pdts: number): number {
  return 2 ** (pdts + 7);
}

// ---------------------------------------------------------------------------------------
// §8.3 / §8.4 PASID directory and PASID table

/** Bytes per PASID-directory entry; index = PASID[19:6]. */
export const PASID_DIR_ENTRY_BYTES = 8;
/** Bytes per scalable-mode PASID-table entry; index = PASID[5:0]. */
export const PASID_ENTRY_BYTES = 64;

/**
 * PASID-directory entry (64 bits): P 0, FPD 1, SMPTBLPTR 63:12 (PASID-table frame); 11:2
 * reserved. Sheet §8.3 (VirtualBox `VTD_BF_SM_PASID_DIR_ENTRY_*`; QEMU `VTD_PASID_DIR_INDEX`).
 */
export const PASID_DIR_ENTRY = defineRecord(
  'PASID directory entry',
  64,
  { P: { hi: 0, lo: 0 }, FPD: { hi: 1, lo: 1 }, SMPTBLPTR: { hi: 63, lo: 12 } },
  [{ hi: 11, lo: 2 }],
);

/**
 * Scalable-mode PASID-table entry (512 bits), sheet §8.4 (Linux `drivers/iommu/intel/pasid.h`
 * `pasid_set_*`; VirtualBox `VTD_BF_*_SM_PASID_TBL_ENTRY_*`).
 *
 * The sheet lists bits 89..127 only as "CD, EMTE, EMT, PWT, PCD, PAT"; the individual positions
 * here (CD 89, EMTE 90, EMT 93:91, PWT 94, PCD 95, PAT 127:96) follow the spec's figure order
 * [derived]. Reserved: 11:10, 86:80, 139:136, and 511:192 (qwords 3–7 carry nothing this model
 * uses; treated as reserved, so a set bit there is a 0x5A fault).
 */
export const PASID_ENTRY = defineRecord(
  'scalable PASID-table entry',
  512,
  {
    P: { hi: 0, lo: 0 },
    FPD: { hi: 1, lo: 1 },
    AW: { hi: 4, lo: 2 },
    SLEE: { hi: 5, lo: 5 },
    PGTT: { hi: 8, lo: 6 },
    SLADE: { hi: 9, lo: 9 },
    SLPTPTR: { hi: 63, lo: 12 },
    DID: { hi: 79, lo: 64 },
    PWSNP: { hi: 87, lo: 87 },
    PGSNP: { hi: 88, lo: 88 },
    CD: { hi: 89, lo: 89 },
    EMTE: { hi: 90, lo: 90 },
    EMT: { hi: 93, lo: 91 },
    PWT: { hi: 94, lo: 94 },
    PCD: { hi: 95, lo: 95 },
    PAT: { hi: 127, lo: 96 },
    SRE: { hi: 128, lo: 128 },
    ERE: { hi: 129, lo: 129 },
    FLPM: { hi: 131, lo: 130 },
    WPE: { hi: 132, lo: 132 },
    NXE: { hi: 133, lo: 133 },
    SMEP: { hi: 134, lo: 134 },
    EAFE: { hi: 135, lo: 135 },
    FLPTPTR: { hi: 191, lo: 140 },
  },
  [
    { hi: 11, lo: 10 },
    { hi: 86, lo: 80 },
    { hi: 139, lo: 136 },
    { hi: 511, lo: 192 },
  ],
);

/** PASID-entry PGTT values (Linux pasid.h `PASID_ENTRY_PGTT_*`; sheet §8.4). Others are reserved. */
export const PGTT = { FIRST_STAGE: 1, SECOND_STAGE: 2, NESTED: 3, PASS_THROUGH: 4 } as const;

/** PASID-entry FLPM values: first-stage paging mode (Linux pasid.h `pasid_set_flpm`). 2 and 3 are reserved. */
export const FLPM = { FOUR_LEVEL: 0, FIVE_LEVEL: 1 } as const;

// ---------------------------------------------------------------------------------------
// §8.5 / §8.6 paging entries

/** Bytes per paging entry (both stages); 512 entries per 4 KiB table. */
export const PTE_BYTES = 8;

/**
 * Second-stage paging entry (64 bits), sheet §8.5 (VirtualBox `VTD_BF_SL_*`; Linux
 * `DMA_PTE_*`, `generic_pt/fmt/vtdss.h`; QEMU `VTD_SL_*`): R 0, W 1, X 2, EMT 5:3, IPAT 6,
 * PS 7 (PDPE/PDE; ignored in a 4 KiB PTE), A 8, D 9, SNP 11 (leaf only, with ECAP.SC), ADDR
 * 51:12, TM 62 (reserved since VT-d 3.2; named so old tables decode). Ignored: 10, 61:52, 63.
 * Which named bits are reserved depends on the level and the capabilities: see
 * {@link secondStageReservedMask}.
 */
export const SL_PTE = defineRecord('second-stage paging entry', 64, {
  R: { hi: 0, lo: 0 },
  W: { hi: 1, lo: 1 },
  X: { hi: 2, lo: 2 },
  EMT: { hi: 5, lo: 3 },
  IPAT: { hi: 6, lo: 6 },
  PS: { hi: 7, lo: 7 },
  A: { hi: 8, lo: 8 },
  D: { hi: 9, lo: 9 },
  SNP: { hi: 11, lo: 11 },
  ADDR: { hi: 51, lo: 12 },
  TM: { hi: 62, lo: 62 },
});

/**
 * First-stage paging entry (64 bits, x86 paging format), sheet §8.6 (Linux `DMA_FL_PTE_*`;
 * VirtualBox `VTD_BF_FLP_*`; QEMU `VTD_FS_*`): P 0, RW 1, US 2, PWT 3, PCD 4, A 5, D 6 (leaf),
 * PS 7 (PDPE/PDE; PAT in a 4 KiB PTE; reserved in PML4E/PML5E), G 8, EA 10 (extended accessed,
 * set with A when the PASID entry's EAFE = 1 [derived: VT-d §3.6.2, not in the sheet]),
 * ADDR 51:12, XD 63. Ignored: 9, 11, 62:52. Reserved bits depend on level/settings: see
 * {@link firstStageReservedMask}.
 */
export const FL_PTE = defineRecord('first-stage paging entry', 64, {
  P: { hi: 0, lo: 0 },
  RW: { hi: 1, lo: 1 },
  US: { hi: 2, lo: 2 },
  PWT: { hi: 3, lo: 3 },
  PCD: { hi: 4, lo: 4 },
  A: { hi: 5, lo: 5 },
  D: { hi: 6, lo: 6 },
  PS: { hi: 7, lo: 7 },
  G: { hi: 8, lo: 8 },
  EA: { hi: 10, lo: 10 },
  ADDR: { hi: 51, lo: 12 },
  XD: { hi: 63, lo: 63 },
});

/** Bit masks of single paging-entry bits, for A/D updates and present tests. */
export const PTE_BITS = {
  SL_R: 1n << 0n,
  SL_W: 1n << 1n,
  SL_X: 1n << 2n,
  SL_PS: 1n << 7n,
  SL_A: 1n << 8n,
  SL_D: 1n << 9n,
  FL_P: 1n << 0n,
  FL_RW: 1n << 1n,
  FL_US: 1n << 2n,
  FL_A: 1n << 5n,
  FL_D: 1n << 6n,
  FL_PS: 1n << 7n,
  FL_EA: 1n << 10n,
  FL_XD: 1n << 63n,
} as const;

/** Bits 51:12 of a paging entry: the next-table / page-frame address. */
export const PTE_ADDR_MASK = maskOf(40) << 12n;

/** Address bits [51 : width] — reserved in a paging entry's ADDR field when the address width is `width` bits. */
function addressBitsAbove(width: number): bigint {
  return width >= 52 ? 0n : maskOf(52 - width) << BigInt(width);
}

/** Bit 11 of a second-stage entry: SNP in a leaf, reserved elsewhere. */
const SL_SNP = 1n << 11n;
/** Bit 62 of a second-stage entry: TM (transient mapping) before VT-d 3.2, reserved since. */
const SL_TM = 1n << 62n;

/**
 * Reserved-bit mask of a second-stage entry at `level` (1 = PTE ... 5 = PML5E), the same in
 * legacy and scalable mode. Rules, with their sources:
 * - address bits 51:HAW (QEMU `VTD_SPTE_*_RSVD_MASK(aw)` = `~VTD_HAW_MASK(aw)`);
 * - TM (bit 62) at every level: reserved since VT-d 3.2 (QEMU's `stale-tm` property, off by
 *   default, "Transient Mapping, Reserved(0) since VTD spec revision 3.2"; VirtualBox
 *   `VTD_BF_SL_*_RSVD_62` in every second-stage entry);
 * - bit 11: reserved in every non-leaf entry (QEMU L2–L4 masks keep 0x800; VirtualBox
 *   `RSVD_11`); in a leaf it is SNP, reserved unless ECAP.SC (`snoopControl`) ("0: hardware
 *   does not support 1-setting of the SNP field in the page-table entries", ECAP.SC in Intel's
 *   register datasheets; QEMU clears 0x800 from the leaf masks only with snoop control — and
 *   in scalable mode, which this model does not follow, docs/fidelity.md);
 * - PS (bit 7): reserved in PML4E/PML5E (QEMU L4 mask 0x880), and in a PDPE/PDE whose page
 *   size CAP.SLLPS does not offer (`sl1G` / `sl2M`; VirtualBox "Pte_Sllps_Invalid" →
 *   LSL.2 / SSL.3, the reserved-field codes); ignored in a 4 KiB PTE (VirtualBox
 *   `VTD_BF_SL_PTE_IGN_7`; QEMU's level-1 mask has no 0x80);
 * - a large-page leaf: the address bits below the page size, 20:12 for 2 MiB and 29:12 for
 *   1 GiB (QEMU `VTD_SPTE_LPAGE_L2/L3_RSVD_MASK` 0x1ff800 / 0x3ffff800 with bit 11).
 */
export function secondStageReservedMask(
  entry: bigint,
  level: number,
  opts: { hawBits: number; sl2M: boolean; sl1G: boolean; snoopControl: boolean },
): bigint {
  let m = addressBitsAbove(opts.hawBits) | SL_TM;
  const ps = (entry & PTE_BITS.SL_PS) !== 0n;
  const psAllowed = (level === 2 && opts.sl2M) || (level === 3 && opts.sl1G);
  let leaf = level === 1;
  if (level >= 2) {
    if (!psAllowed) m |= PTE_BITS.SL_PS;
    else if (ps) {
      m |= maskOf(9 * (level - 1)) << 12n;
      leaf = true;
    }
  }
  if (!leaf || !opts.snoopControl) m |= SL_SNP;
  return m;
}

/**
 * Reserved-bit mask of a first-stage entry at `level` (1 = PTE ... 5 = PML5E), x86 paging rules
 * (sheet §8.6; QEMU `VTD_FPTE_*_RSVD_MASK(aw)`, `vtd_flpte_nonzero_rsvd`): address bits
 * 51:`addressBits` (QEMU: `~VTD_HAW_MASK(aw)`, bits 63:52 ignored); PS in PML4E/PML5E (QEMU
 * L4 mask 0x80); PS in a PDPE when 1 GiB pages are unsupported (CAP.FL1GP; QEMU
 * `VTD_FPTE_PAGE_L3_FS1GP_RSVD_MASK`); for a 1 GiB page bits 29:13, for a 2 MiB page bits 20:13
 * (bit 12 is PAT; QEMU `VTD_FPTE_LPAGE_L3/L2_RSVD_MASK` 0x3fffe000 / 0x1fe000). XD (bit 63)
 * is reserved when the PASID entry's NXE = 0, as x86 treats bit 63 without EFER.NXE (QEMU
 * ignores bits 63:52 whatever NXE is: docs/fidelity.md).
 */
export function firstStageReservedMask(
  entry: bigint,
  level: number,
  opts: { addressBits: number; nxe: boolean; fl1G: boolean },
): bigint {
  let m = addressBitsAbove(opts.addressBits);
  if (!opts.nxe) m |= PTE_BITS.FL_XD;
  const ps = (entry & PTE_BITS.FL_PS) !== 0n;
  if (level >= 4 || (level === 3 && !opts.fl1G)) m |= PTE_BITS.FL_PS;
  else if (ps && level === 3) m |= maskOf(17) << 13n;
  else if (ps && level === 2) m |= maskOf(8) << 13n;
  return m;
}

/** Number of paging levels for a context / PASID-entry AW value: 1 → 3, 2 → 4, 3 → 5; undefined otherwise (sheet §8.7). */
export function awLevels(aw: number): 3 | 4 | 5 | undefined {
  return aw === 1 ? 3 : aw === 2 ? 4 : aw === 3 ? 5 : undefined;
}

/** Input address width in bits for a number of levels: 12 + 9 × levels (39, 48, 57) (sheet §8.7). */
export function levelsWidth(levels: number): number {
  return 12 + 9 * levels;
}

/** Index of `address` in a table at `level` (1 = leaf table): bits [12+9L-1 : 12+9(L-1)] (sheet §8.7). */
export function levelIndex(address: bigint, level: number): number {
  return Number((address >> (LEVEL_SHIFTS[level] ?? BigInt(12 + 9 * (level - 1)))) & 0x1ffn);
}

/** 12 + 9·(level − 1) as bigint, for levels 1..5 (index 0 unused). */
const LEVEL_SHIFTS: readonly bigint[] = [0n, 12n, 21n, 30n, 39n, 48n];

/** Bytes mapped by one entry at `level`: 4 KiB, 2 MiB, 1 GiB, 512 GiB, 256 TiB. */
export function levelPageSize(level: number): number {
  return 2 ** (12 + 9 * (level - 1));
}

/** Decoded structure types (fields + `reserved` + `ignored`). */
export type Rtaddr = ReturnType<typeof RTADDR.decode>;
export type LegacyRootEntry = ReturnType<typeof LEGACY_ROOT_ENTRY.decode>;
export type ScalableRootEntry = ReturnType<typeof SCALABLE_ROOT_ENTRY.decode>;
export type LegacyContextEntry = ReturnType<typeof LEGACY_CONTEXT_ENTRY.decode>;
export type ScalableContextEntry = ReturnType<typeof SCALABLE_CONTEXT_ENTRY.decode>;
export type PasidDirEntry = ReturnType<typeof PASID_DIR_ENTRY.decode>;
export type PasidEntry = ReturnType<typeof PASID_ENTRY.decode>;
export type SecondStagePte = ReturnType<typeof SL_PTE.decode>;
export type FirstStagePte = ReturnType<typeof FL_PTE.decode>;
