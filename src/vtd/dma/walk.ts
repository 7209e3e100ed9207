/**
 * Translation of one DMA request by VT-d DMA remapping: root entry → context entry
 * (→ PASID directory → PASID-table entry, scalable mode) → second-stage, first-stage or nested
 * page walk. Pure: memory in, result out; faults are values, never exceptions.
 *
 * Sources: VT-d spec §3 (translation), §7.1.3 (fault conditions), §9 (structures); reference
 * sheet §5.2, §5.3, §8.1–§8.8; QEMU `hw/i386/intel_iommu.c` (`vtd_do_iommu_translate`,
 * `vtd_dev_to_context_entry`, `vtd_iova_to_slpte`, `vtd_iova_to_flpte`, `vtd_pe_type_check`,
 * `vtd_root_entry_rsvd_bits_check`); VirtualBox `DevIommuIntel.cpp`
 * (`dmarDrLegacyModeRemapAddr`, `dmarDrMemReqRemap`) and `iommu-intel.h` (`VTDATFAULT`);
 * Linux `drivers/iommu/intel/{iommu.h,pasid.h}`. Where they differ the choice and the others'
 * answers are in docs/fidelity.md.
 *
 * Modelling choices (each marked where it is made):
 * - Fault reasons come from one table indexed by (condition, mode) ({@link FAULT_CODES}).
 * - A/D updates are collected during the walk and written when it ends. A translation that
 *   faults still writes the A flags (and EA) of the paging entries it used before the faulting
 *   one: every first-stage entry above the level that faulted, every second-stage entry above
 *   it when SLADE = 1 — VT-d §3.6.2 / §3.7.3 "sets A in each entry used", as x86 paging does
 *   and as QEMU `vtd_iova_to_flpte` does (it writes A level by level before looking further).
 *   The faulting entry itself, and D, are never written [derived].
 * - Requests must not cross a 4 KiB boundary (PCIe TLPs never do); the walk translates the page
 *   holding `iova`.
 */
import { PhysicalMemory } from '../../memory/physical-memory.ts';
import { maskOf } from '../../bits/bits.ts';
import { faultReason } from '../fault-reasons.ts';
import { capMgawBits, decodeCap, decodeEcap } from '../registers.ts';
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
  firstStageReservedMask,
  frameAddress,
  levelIndex,
  levelPageSize,
  levelsWidth,
  pasidDirectoryEntries,
  secondStageReservedMask,
  type PasidEntry,
} from './structures.ts';

/**
 * One DMA request as the IOMMU sees it. `rid` is the 16-bit requester ID (bus << 8 | devfn);
 * `pasid` (20 bits) is present only with a PASID TLP prefix; `iova` is the input address in
 * bytes; `size` the access length in bytes (1..4096, not crossing a 4 KiB boundary). `read` and
 * `write` both set = AtomicOp (needs both permissions); neither set is treated as a read
 * (zero-length read). `privileged` (supervisor) and `execute` come from the PASID prefix.
 */
export interface DmaRequest {
  rid: number;
  pasid?: number;
  iova: bigint;
  size: number;
  read: boolean;
  write: boolean;
  execute?: boolean;
  privileged?: boolean;
}

/** Where a referenced structure lives: root table, context table, PASID directory/table, or a paging structure of one stage. */
export type ReferenceStage = 'root' | 'context' | 'pasid-dir' | 'pasid' | 'first' | 'second';

/**
 * One memory read made by the walk. `level` is the paging level (1 = leaf table, 5 = PML5) for
 * 'first'/'second' and 0 for root/context/PASID structures; `index` is the entry index in its
 * table; addresses are host-physical bytes. For nested first-stage references `entryGpa` is the
 * guest-physical address the entry was translated from.
 */
export interface MemoryReference {
  stage: ReferenceStage;
  level: number;
  tableAddress: bigint;
  index: number;
  entryAddress: bigint;
  entry: bigint;
  entryGpa?: bigint;
}

/** An accessed/dirty flag update: the 64-bit paging entry at `entryAddress` (HPA) goes from `before` to `after`. */
export interface AdUpdate {
  stage: 'first' | 'second';
  level: number;
  entryAddress: bigint;
  before: bigint;
  after: bigint;
}

/** Effective access rights of a translation for the requesting privilege level. */
export interface Permissions {
  read: boolean;
  write: boolean;
  execute: boolean;
}

/**
 * How the request was translated: legacy context TT = 0/1 ('legacy-second-stage') or 2
 * ('legacy-pass-through'); scalable PGTT 1 ('first-stage'), 2 ('second-stage'), 3 ('nested'),
 * 4 ('pass-through').
 */
export type TranslationType =
  | 'legacy-second-stage'
  | 'legacy-pass-through'
  | 'first-stage'
  | 'second-stage'
  | 'nested'
  | 'pass-through';

/** Every fault condition the walker detects; {@link FAULT_CODES} maps each to its FR code per mode. */
export type FaultCondition =
  | 'root-table-invalid'
  | 'scalable-mode-unsupported'
  | 'abort-dma'
  | 'pasid-in-legacy-mode'
  | 'root-access'
  | 'root-not-present'
  | 'root-reserved'
  | 'context-access'
  | 'context-not-present'
  | 'context-reserved'
  | 'context-invalid'
  | 'paside-clear'
  | 'pasid-too-large'
  | 'pasid-dir-access'
  | 'pasid-dir-not-present'
  | 'pasid-dir-reserved'
  | 'pasid-entry-access'
  | 'pasid-entry-not-present'
  | 'pasid-entry-reserved'
  | 'pasid-entry-invalid'
  | 'ere-clear'
  | 'sre-clear'
  | 'fs-access'
  | 'fs-not-present'
  | 'fs-reserved'
  | 'fs-root-access'
  | 'nested-gpa-beyond-aw'
  | 'nested-fs-root-read'
  | 'nested-fs-read'
  | 'nested-fs-ad-write'
  | 'ss-access'
  | 'ss-root-access'
  | 'ss-not-present'
  | 'ss-reserved'
  | 'ss-pointer-invalid'
  | 'non-canonical'
  | 'user-supervisor'
  | 'no-execute'
  | 'beyond-aw'
  | 'no-write'
  | 'no-read';

/**
 * FR code per fault condition as `[legacy mode, scalable mode]` (sheet §5.2, §5.3; Linux
 * `dma_remap_fault_reasons` / `dma_remap_sm_fault_reasons`). Conditions that can only arise in
 * one mode carry that mode's code twice. Choices the sheet leaves open [derived]:
 * - legacy mode has no "not present" code for second-stage entries: an entry with R = W = 0
 *   fails the permission check (0x05 write / 0x06 read), as QEMU `vtd_iova_to_slpte` does;
 *   scalable mode reports it as 0x79;
 * - a request with a PASID under TTM = 0 is 0x31 (the only code for it, though in the SM table);
 * - RTADDR faults are 0x30 (VirtualBox `VTDATFAULT_RTA_1_1/1_2/1_3`): TTM = 2 (reserved);
 *   TTM = 1 without ECAP.SMTS; TTM = 3 (abort-DMA mode) without ECAP.ADMS. With ADMS, TTM = 3
 *   aborts every request without recording (VirtualBox `dmarDrTargetAbort`): 0x30 with
 *   `record: false`;
 * - input beyond 2^min(MGAW, AW): 0x04 legacy (QEMU `vtd_iova_sl_range_check`), 0x83 scalable
 *   (Linux "Address beyond the DMA hardware max"; QEMU keeps 0x04, VirtualBox maps it to 0x84:
 *   docs/fidelity.md); in nested mode any GPA (first-stage table pointer or output) beyond it is
 *   0x74;
 * - the top-level second-stage table cannot be read: 0x03 legacy (QEMU `vtd_iova_to_slpte`
 *   "Invalid programming of context-entry"; VirtualBox LCT.4.3), 0x7B scalable (VirtualBox
 *   SSL.4 "Slpptr_Read_Failed"); lower levels 0x07 / 0x78;
 * - nested second-stage walks for first-stage table reads: a present entry without R is 0x75 for
 *   the FLPTPTR table, 0x76 below it; a first-stage A/D update through a second stage without W
 *   is 0x77; not-present/reserved/access errors there keep their 0x78–0x7A codes.
 */
export const FAULT_CODES: Readonly<Record<FaultCondition, readonly [legacy: number, scalable: number]>> = Object.freeze({
  'root-table-invalid': [0x30, 0x30],
  'scalable-mode-unsupported': [0x30, 0x30],
  'abort-dma': [0x30, 0x30],
  'pasid-in-legacy-mode': [0x31, 0x31],
  'root-access': [0x08, 0x38],
  'root-not-present': [0x01, 0x39],
  'root-reserved': [0x0a, 0x3a],
  'context-access': [0x09, 0x40],
  'context-not-present': [0x02, 0x41],
  'context-reserved': [0x0b, 0x42],
  'context-invalid': [0x03, 0x43],
  'paside-clear': [0x45, 0x45],
  'pasid-too-large': [0x46, 0x46],
  'pasid-dir-access': [0x50, 0x50],
  'pasid-dir-not-present': [0x51, 0x51],
  'pasid-dir-reserved': [0x52, 0x52],
  'pasid-entry-access': [0x58, 0x58],
  'pasid-entry-not-present': [0x59, 0x59],
  'pasid-entry-reserved': [0x5a, 0x5a],
  // Sheet [DISAGREE] (QEMU version drift 0x58 vs 0x5B): follows Linux and current QEMU, 0x5B.
  'pasid-entry-invalid': [0x5b, 0x5b],
  'ere-clear': [0x5c, 0x5c],
  'sre-clear': [0x5d, 0x5d],
  'fs-access': [0x70, 0x70],
  'fs-not-present': [0x71, 0x71],
  'fs-reserved': [0x72, 0x72],
  'fs-root-access': [0x73, 0x73],
  'nested-gpa-beyond-aw': [0x74, 0x74],
  'nested-fs-root-read': [0x75, 0x75],
  'nested-fs-read': [0x76, 0x76],
  'nested-fs-ad-write': [0x77, 0x77],
  'ss-access': [0x07, 0x78],
  'ss-root-access': [0x03, 0x7b],
  'ss-not-present': [0x79, 0x79],
  'ss-reserved': [0x0c, 0x7a],
  'ss-pointer-invalid': [0x7b, 0x7b],
  'non-canonical': [0x80, 0x80],
  'user-supervisor': [0x81, 0x81],
  'no-execute': [0x82, 0x82],
  'beyond-aw': [0x04, 0x83],
  'no-write': [0x05, 0x85],
  'no-read': [0x06, 0x86],
});

/**
 * A DMA-remapping fault. `reason` is the FR code; `address` the request's IOVA in bytes (the
 * fault record keeps bits 63:12); `sid` the requester ID; `pasid` the request's PASID prefix
 * when it had one. `fpd` is the FPD of the entries read so far (context, PASID directory, PASID
 * entry); `record` = whether hardware records it: false when FPD is set and the reason is
 * qualified (fault-reasons.ts), and in abort-DMA mode with ECAP.ADMS. `stage`/`level` locate the failing
 * paging entry when there is one.
 */
export interface DmaFault {
  reason: number;
  condition: FaultCondition;
  address: bigint;
  sid: number;
  pasid?: number;
  write: boolean;
  read: boolean;
  execute: boolean;
  privileged: boolean;
  fpd: boolean;
  record: boolean;
  did?: number;
  stage?: ReferenceStage;
  level?: number;
}

/**
 * A successful translation. `hpa` = host-physical byte address of `iova`; `pageSize` in bytes
 * (4 KiB, 2 MiB or 1 GiB; the smaller of the two stages' pages when nested); `permissions` the
 * rights the page grants this request's privilege level; `references` every structure read in
 * order; `adUpdates` the A/D writes made and `memory` the memory after them; `dirty` = a later
 * write through this translation needs no D update (what an IOTLB entry may remember).
 * `did`/`pasid` tag the translation for the caches (the effective PASID: RID_PASID for scalable
 * requests without a PASID; absent in legacy mode); `fpd` as in {@link DmaFault}.
 */
export interface DmaTranslation {
  ok: true;
  /**
   * Every non-leaf second-stage entry used (what a paging-structure cache may keep), one per key
   * (DID, root, level, prefix), in the order of their last use (a nested walk uses the upper
   * entries once per first-stage table).
   */
  pagingStructures: SecondStageTableEntry[];
  hpa: bigint;
  pageSize: number;
  permissions: Permissions;
  references: MemoryReference[];
  adUpdates: AdUpdate[];
  memory: PhysicalMemory;
  dirty: boolean;
  type: TranslationType;
  did: number;
  pasid?: number;
  privileged: boolean;
  fpd: boolean;
}

/**
 * A failed translation: the fault, the structures read before it, the A/EA flags set on the
 * paging entries used before the faulting one (`adUpdates`, see the module comment) and the
 * memory after them (the input memory when there are none).
 */
export interface DmaWalkFault {
  ok: false;
  fault: DmaFault;
  references: MemoryReference[];
  adUpdates: AdUpdate[];
  memory: PhysicalMemory;
}

/** Result of {@link translateDma}. */
export type DmaWalkResult = DmaTranslation | DmaWalkFault;

/**
 * Hardware capabilities the walk honours (CAP/ECAP fields, VT-d §11.4.2–11.4.3; sheet §7.4
 * end; bit positions in src/vtd/registers.ts): `sl2M`/`sl1G` = CAP.SLLPS bits 0/1; `fl1G` =
 * CAP.FL1GP; `fl5` = CAP.FL5LP; `sagaw` = CAP.SAGAW bitmap (bit 1 = 3-level, bit 2 = 4-level,
 * bit 3 = 5-level); `hawBits` = host address width (structure pointers at or above 2^HAW are
 * reserved-field faults); `passThrough` = ECAP.PT.
 *
 * The optional ones default to "supported" / no bound ({@link DEFAULT_DMA_CAPABILITIES}), so a
 * caller that does not know them keeps the behaviour it had: `mgawBits` = CAP.MGAW + 1, the
 * input-address bound of second-stage translation together with the AW ("guest addressability
 * ... is limited to the minimum of MGAW and the adjusted guest address width", CAP.MGAW in
 * Intel's register datasheets; QEMU `vtd_iova_limit`); `deviceTlb` = ECAP.DT (legacy TT = 1);
 * `snoopControl` = ECAP.SC (SNP in second-stage leaves, PGSNP in PASID entries);
 * `scalableMode` = ECAP.SMTS (RTADDR.TTM = 1); `firstStage` / `secondStage` / `nestedTranslation`
 * = ECAP.FLTS / SLTS / NEST (PGTT 1 / 2 / 3, QEMU `vtd_pe_type_check`); `secondStageAD` =
 * ECAP.SLADS (PASID-entry SLADE); `abortDmaMode` = ECAP.ADMS (TTM = 3); `ridPasid` = ECAP.RPS
 * (without it RID_PASID is ignored and PASID 0 is used — "It uses the value of 0 for
 * RID_PASID", ECAP.RPS in the datasheets; QEMU `PASID_0`); `ridPriv` = ECAP.RPRIVS (without it
 * RID_PRIV is ignored and requests without PASID are user requests). The platform passes every
 * field, from the unit's CAP/ECAP (src/platform/dma-access.ts; test/dma/capability-gates.test.ts).
 */
export interface DmaCapabilities {
  sl2M: boolean;
  sl1G: boolean;
  fl1G: boolean;
  fl5: boolean;
  sagaw: number;
  hawBits: number;
  passThrough: boolean;
  mgawBits?: number;
  deviceTlb?: boolean;
  snoopControl?: boolean;
  scalableMode?: boolean;
  firstStage?: boolean;
  secondStage?: boolean;
  nestedTranslation?: boolean;
  secondStageAD?: boolean;
  abortDmaMode?: boolean;
  ridPasid?: boolean;
  ridPriv?: boolean;
}

/** Every capability with a value. */
export type ResolvedDmaCapabilities = Required<DmaCapabilities>;

/** Everything supported, 52-bit HAW, 64-bit MGAW (no bound beyond the AW). */
export const DEFAULT_DMA_CAPABILITIES: Readonly<ResolvedDmaCapabilities> = Object.freeze({
  sl2M: true,
  sl1G: true,
  fl1G: true,
  fl5: true,
  sagaw: 0b1110,
  hawBits: 52,
  passThrough: true,
  mgawBits: 64,
  deviceTlb: true,
  snoopControl: true,
  scalableMode: true,
  firstStage: true,
  secondStage: true,
  nestedTranslation: true,
  secondStageAD: true,
  abortDmaMode: true,
  ridPasid: true,
  ridPriv: true,
});

/**
 * The walk's capabilities from raw CAP_REG / ECAP_REG values and the platform's host address
 * width: every field of {@link DmaCapabilities}, each from the register field it names
 * (src/vtd/registers.ts `decodeCap` / `decodeEcap`).
 */
export function dmaCapabilitiesFromRegisters(cap: bigint, ecap: bigint, hostAddressWidth: number): ResolvedDmaCapabilities {
  const c = decodeCap(cap);
  const e = decodeEcap(ecap);
  return {
    sl2M: (c.SLLPS & 1) !== 0,
    sl1G: (c.SLLPS & 2) !== 0,
    fl1G: c.FL1GP,
    fl5: c.FL5LP,
    sagaw: c.SAGAW,
    hawBits: hostAddressWidth,
    passThrough: e.PT,
    mgawBits: capMgawBits(c.MGAW),
    deviceTlb: e.DT,
    snoopControl: e.SC,
    scalableMode: e.SMTS,
    firstStage: e.FLTS,
    secondStage: e.SLTS,
    nestedTranslation: e.NEST,
    secondStageAD: e.SLADS,
    abortDmaMode: e.ADMS,
    ridPasid: e.RPS,
    ridPriv: e.RPRIVS,
  };
}

let lastCapabilitiesIn: Partial<DmaCapabilities> | undefined;
let lastCapabilitiesOut: ResolvedDmaCapabilities = DEFAULT_DMA_CAPABILITIES;

/** `cap` over {@link DEFAULT_DMA_CAPABILITIES}; the last result is kept for a caller passing the same object again (the platform shares one per CAP/ECAP). */
function resolveCapabilities(cap: Partial<DmaCapabilities> | undefined): ResolvedDmaCapabilities {
  if (cap === undefined) return DEFAULT_DMA_CAPABILITIES;
  if (cap === lastCapabilitiesIn) return lastCapabilitiesOut;
  const out: ResolvedDmaCapabilities = { ...DEFAULT_DMA_CAPABILITIES };
  for (const k of Object.keys(cap) as (keyof DmaCapabilities)[]) {
    const v = cap[k];
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  lastCapabilitiesIn = cap;
  lastCapabilitiesOut = out;
  return out;
}

/**
 * A paging-structure-cache hit for a second-stage walk: the entry at `level` covering the input
 * address points to `nextTable` (level - 1), with the rights accumulated down to it. Supplied by
 * caches.ts; lets a walk skip the levels above.
 */
export interface SecondStageStart {
  level: number;
  nextTable: bigint;
  permissions: { read: boolean; write: boolean; execute: boolean };
}

/**
 * A non-leaf second-stage entry seen by a walk: in domain `did` under second-stage root `root`
 * (of `levels` levels), the level-`level` entry covering inputs whose bits above 12 + 9·(level−1)
 * equal `prefix` points to `nextTable`, with `permissions` accumulated from the top down to it.
 * Keys in the order of caches.ts `PagingStructureEntry`, which may keep the object itself.
 */
export interface SecondStageTableEntry extends SecondStageStart {
  did: number;
  root: bigint;
  prefix: bigint;
  levels: number;
}

/**
 * Walk configuration. `rtaddr` is the raw RTADDR_REG value (RTA 63:12 | TTM 11:10) — legacy or
 * scalable mode is chosen by its TTM. `cap` overrides {@link DEFAULT_DMA_CAPABILITIES}.
 * `secondStageStart` (optional) consults a paging-structure cache for (DID, second-stage root,
 * input address); absent = a cold walk.
 */
export interface DmaConfig {
  rtaddr: bigint;
  cap?: Partial<DmaCapabilities>;
  secondStageStart?: (did: number, root: bigint, input: bigint) => SecondStageStart | undefined;
}

// ---------------------------------------------------------------------------------------

/**
 * `codec.decode` remembering its last input: a walk decodes the same root, context, PASID
 * directory and PASID entries again and again, and the generic layout decode is most of a
 * cached walk's cost. The decoded object is shared between calls: read it, never change it.
 */
function lastDecoded<R>(decode: (raw: bigint) => R): (raw: bigint) => R {
  let lastRaw: bigint | undefined;
  let last: R | undefined;
  return (raw) => {
    if (raw !== lastRaw || last === undefined) {
      last = decode(raw);
      lastRaw = raw;
    }
    return last;
  };
}

const decodeRtaddr = lastDecoded((raw) => RTADDR.decode(raw));
const decodeLegacyRoot = lastDecoded((raw) => LEGACY_ROOT_ENTRY.decode(raw));
const decodeLegacyContext = lastDecoded((raw) => LEGACY_CONTEXT_ENTRY.decode(raw));
const decodeScalableRoot = lastDecoded((raw) => SCALABLE_ROOT_ENTRY.decode(raw));
const decodeScalableContext = lastDecoded((raw) => SCALABLE_CONTEXT_ENTRY.decode(raw));
const decodePasidDir = lastDecoded((raw) => PASID_DIR_ENTRY.decode(raw));
const decodePasidEntry = lastDecoded((raw) => PASID_ENTRY.decode(raw));

/** Largest table address {@link Walker.read} handles as a number: the entry's address and end stay exact doubles. */
const SAFE_TABLE = 2 ** 53 - 2 * 4096;
/** 2^53 as a bigint: a non-negative bigint below it converts to an exact number. */
const TWO_53 = 1n << 53n;
const TWO_32 = 2 ** 32;
/** 2^k as bigints, k = 0..64 (limits without a shift per walk). */
const POW2: readonly bigint[] = Array.from({ length: 65 }, (_, k) => 1n << BigInt(k));
const pow2 = (k: number): bigint => POW2[k] ?? 1n << BigInt(k);
/** 12 + 9·(level − 1): the input bit a level's index starts at (index 0 unused). */
const LEVEL_SHIFT: readonly number[] = [0, 12, 21, 30, 39, 48];
/** Bytes mapped by one entry at each level, as {@link levelPageSize} gives them (index 0 unused). */
const LEVEL_BYTES: readonly number[] = [0, 1, 2, 3, 4, 5].map((l) => (l === 0 ? 0 : levelPageSize(l)));

/** A table address as a number when exact (≤ SAFE_TABLE), else as the bigint: every pointer field is a frame number. */
function tableOf(frame: number): number | bigint {
  const address = frame * 4096;
  return address <= SAFE_TABLE ? address : frameAddress(frame);
}

/**
 * The 9-bit table index of level `level` (1..5) in an input address given as its 32-bit halves
 * (`lo` bits 31:0, `hi` bits 63:32): {@link levelIndex} without bigint arithmetic.
 */
function indexAt(lo: number, hi: number, level: number): number {
  const shift = LEVEL_SHIFT[level] ?? 12 + 9 * (level - 1);
  return shift >= 32 ? (hi >>> (shift - 32)) & 0x1ff : ((lo >>> shift) | (hi << (32 - shift))) & 0x1ff;
}

/** 2^(32 − shift) and 2^(shift − 32) per level, for {@link prefixAt}. */
const PREFIX_SCALE: readonly number[] = LEVEL_SHIFT.map((shift) => 2 ** Math.abs(32 - shift));

/**
 * The input address shifted right by 12 + 9·(level − 1) bits, from its 32-bit halves: the
 * paging-structure caches' prefix (at most 52 significant bits: exact).
 */
function prefixAt(lo: number, hi: number, level: number): number {
  const shift = LEVEL_SHIFT[level] ?? 12 + 9 * (level - 1);
  const scale = PREFIX_SCALE[level] ?? 2 ** Math.abs(32 - shift);
  return shift >= 32 ? Math.floor(hi / scale) : hi * scale + (lo >>> shift);
}

/** The input address modulo `size` (a power of two ≤ 2^52), from its 32-bit halves. */
function offsetIn(lo: number, hi: number, size: number): number {
  return size <= 2 ** 31 ? (lo & (size - 1)) >>> 0 : (hi % (size / TWO_32)) * TWO_32 + lo;
}

/** A 64-bit entry from its 32-bit halves. */
const entryOf = (lo: number, hi: number): bigint => (hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo));

/** A little-endian structure from its dwords (words[0] lowest). */
function structureOf(words: readonly number[]): bigint {
  let v = 0n;
  for (let i = words.length - 1; i >= 0; i--) v = (v << 32n) | BigInt(words[i]!);
  return v;
}

/** A 64-bit mask as its low and high 32-bit halves (numbers), to test an entry read as two words. */
interface SplitMask {
  readonly lo: number;
  readonly hi: number;
}
const split = (m: bigint): SplitMask => ({ lo: Number(m & 0xffff_ffffn), hi: Number(m >> 32n) });
/** Bits 51:12 of a paging entry given as two 32-bit halves, as a number (exact: below 2^52). */
const entryAddressOf = (lo: number, hi: number): number => (hi & 0xf_ffff) * 0x1_0000_0000 + ((lo & 0xffff_f000) >>> 0);

/**
 * Reserved-bit masks of second-stage entries for one set of capabilities, indexed
 * `[level][ps]` (computed with {@link secondStageReservedMask}; keyed by HAW, SL 2M, SL 1G, SC).
 */
const SS_MASKS = new Map<number, SplitMask[][]>();
function ssMasks(hawBits: number, sl2M: boolean, sl1G: boolean, snoopControl: boolean): SplitMask[][] {
  const key = hawBits * 8 + (sl2M ? 4 : 0) + (sl1G ? 2 : 0) + (snoopControl ? 1 : 0);
  let m = SS_MASKS.get(key);
  if (m === undefined) {
    m = [0, 1, 2, 3, 4, 5].map((level) =>
      [0n, PTE_BITS.SL_PS].map((ps) => split(level === 0 ? 0n : secondStageReservedMask(ps, level, { hawBits, sl2M, sl1G, snoopControl }))),
    );
    SS_MASKS.set(key, m);
  }
  return m;
}

/** First-stage reserved masks, indexed `[nxe][level][ps]` (computed with {@link firstStageReservedMask}; keyed by address bits and FL 1G). */
const FS_MASKS = new Map<number, SplitMask[][][]>();
function fsMasks(addressBits: number, fl1G: boolean): SplitMask[][][] {
  const key = addressBits * 2 + (fl1G ? 1 : 0);
  let m = FS_MASKS.get(key);
  if (m === undefined) {
    m = [false, true].map((nxe) =>
      [0, 1, 2, 3, 4, 5].map((level) => [0n, PTE_BITS.FL_PS].map((ps) => split(level === 0 ? 0n : firstStageReservedMask(ps, level, { addressBits, nxe, fl1G })))),
    );
    FS_MASKS.set(key, m);
  }
  return m;
}

class FaultSignal {
  constructor(
    readonly condition: FaultCondition,
    readonly stage?: ReferenceStage,
    readonly level?: number,
  ) {}
}

interface AdRecord {
  stage: 'first' | 'second';
  level: number;
  before: bigint;
  set: bigint;
}

interface Need {
  read: boolean;
  write: boolean;
  execute: boolean;
}

/** What a nested walk's reads of first-stage tables need of the second stage. */
const TABLE_READ: Need = Object.freeze({ read: true, write: false, execute: false });

interface SsParams {
  /** The top table's address (the paging-structure caches' key). */
  root: bigint;
  /** The same as the walk reads it ({@link tableOf}). */
  rootTable: number | bigint;
  levels: number;
  /** Input-address width: min(12 + 9·levels, MGAW) (QEMU `vtd_iova_limit`). */
  inputBits: number;
  /** 2^inputBits, as a bigint and as a number (exact: a power of two). */
  inputLimit: bigint;
  inputLimitNumber: number;
  scalable: boolean;
  slee: boolean;
  slade: boolean;
  did: number;
}

interface SsResult {
  address: bigint;
  /** `address` as a number (exact: below 2^53). */
  addressNumber: number;
  pageSize: number;
  perms: Permissions;
  /** The entries used, top down — kept only with SLADE = 1 (for A/D), else empty. */
  path: { entryAddress: bigint; level: number; entry: bigint }[];
  leafDirty: boolean;
}

/** No second-stage path kept (SLADE = 0: nothing reads it). Shared, never changed. */
const NO_PATH: SsResult['path'] = [];

/** Second-stage parameters for a walk of `levels` levels under the unit's MGAW. */
function ssParams(cap: ResolvedDmaCapabilities, p: { rootFrame: number; levels: number; scalable: boolean; slee: boolean; slade: boolean; did: number }): SsParams {
  const inputBits = Math.min(levelsWidth(p.levels), cap.mgawBits);
  // One literal shape for every SsParams (the walk reads these fields in its inner loop).
  return {
    root: frameAddress(p.rootFrame),
    rootTable: tableOf(p.rootFrame),
    levels: p.levels,
    inputBits,
    inputLimit: pow2(inputBits),
    inputLimitNumber: 2 ** inputBits,
    scalable: p.scalable,
    slee: p.slee,
    slade: p.slade,
    did: p.did,
  };
}

/**
 * An 8-byte entry as last read at one address (a number), kept across walks: its words and the
 * bigints a {@link MemoryReference} carries — the entry, its address, its table's address for
 * `index`, the GPA it was read through (`gpa`, nested first stage). `epoch` names the memory
 * the words were last checked against ({@link Walker.epoch}): a read under another epoch
 * compares the words in memory with these and rebuilds the bigints only when they differ; a
 * read under the same epoch skips memory — the memory is the same immutable PhysicalMemory
 * (or, behind a proxy, the same walk: memory does not change during a walk, A/D updates are
 * written when it ends). A memo of values (bigints are immutable), so not observable.
 */
interface EntryRecord {
  lo: number;
  hi: number;
  entry: bigint;
  readonly address: bigint;
  index: number;
  tableAddress: bigint;
  gpa: number;
  entryGpa: bigint | undefined;
  epoch: number;
}
const ENTRY_MEMO = new Map<number, EntryRecord>();
/** Entries kept before the memo starts over (a bound on its memory, far above one platform's live tables). */
const ENTRY_MEMO_LIMIT = 1 << 14;

/** The wider structure (root, context, PASID entry) last read per stage, as {@link EntryRecord} for entries: compared by words. */
interface StructureRecord {
  epoch: number;
  readonly at: number;
  readonly words: readonly number[];
  readonly entry: bigint;
  readonly address: bigint;
  index: number;
  tableAddress: bigint;
}
const STRUCTURE_MEMO = new Map<ReferenceStage, StructureRecord>();

/**
 * Memory epochs ({@link Walker.epoch}): one per direct PhysicalMemory in a row of walks on it
 * (only the last such memory is held), one per walk on memory behind a proxy (the explorer's
 * reference counter: src/explorer/memory-counter.ts, which must see every read a walk makes).
 */
let epochs = 0;
let epochMemory: PhysicalMemory | undefined;

/** What a walk derives from its capabilities, for the last capabilities object seen (the platform shares one per CAP/ECAP). */
let lastGeometry: { cap: ResolvedDmaCapabilities; limit: bigint; limitNumber: number; hawFrames: number; ssReserved: SplitMask[][] } | undefined;
function geometryOf(cap: ResolvedDmaCapabilities): NonNullable<typeof lastGeometry> {
  if (lastGeometry !== undefined && lastGeometry.cap === cap) return lastGeometry;
  lastGeometry = {
    cap,
    limit: pow2(cap.hawBits),
    limitNumber: 2 ** cap.hawBits,
    hawFrames: 2 ** (cap.hawBits - 12),
    ssReserved: ssMasks(cap.hawBits, cap.sl2M, cap.sl1G, cap.snoopControl),
  };
  return lastGeometry;
}

function newTableEntry(p: SsParams, level: number, prefix: number, nextTable: number, perms: Permissions): SecondStageTableEntry {
  // The key order of caches.ts `insertTranslation`'s paging-structure entries (it keeps this object).
  return { did: p.did, root: p.root, prefix: BigInt(prefix), level, nextTable: BigInt(nextTable), permissions: { read: perms.read, write: perms.write, execute: perms.execute }, levels: p.levels };
}

class Walker {
  readonly refs: MemoryReference[] = [];
  /** A/D updates by entry address (created on the first). */
  ad: Map<bigint, AdRecord> | undefined;
  /**
   * Non-leaf second-stage entries used, one per key (DID, root, level, prefix), each where and as
   * its last use left it — what inserting them one by one into the paging-structure cache keeps
   * (a nested walk uses the upper entries once per first-stage table). With their prefixes and
   * next tables as numbers, for the key comparisons.
   */
  readonly tables: SecondStageTableEntry[] = [];
  readonly tablePrefixes: number[] = [];
  readonly tableNexts: number[] = [];
  readonly limit: bigint;
  /** 2^(HAW − 12): a pointer field (a frame number) at or above it points at or above 2^HAW. */
  readonly hawFrames: number;
  /** Second-stage reserved masks for this walk's capabilities, `[level][ps]`. */
  readonly ssReserved: SplitMask[][];
  /** The last 8-byte entry read, as 32-bit halves (bit tests without bigint), and its address. */
  lastLo = 0;
  lastHi = 0;
  lastAddress = 0n;
  /** 2^HAW as a number (exact: a power of two). */
  readonly limitNumber: number;
  /** The epoch of this walk's memory: records checked under it are its memory's words. */
  readonly epoch: number;
  /** A PhysicalMemory itself, not a proxy (PhysicalMemory.isDirect). */
  readonly direct: boolean;
  /** The second-stage walk under way (set on entry, path cleared on return): on a fault, the entries it used. */
  ssActiveParams: SsParams | undefined;
  ssActivePath: SsResult['path'] | undefined;
  /** First-stage A/D updates of the walk under way (and its nested second stage). */
  fsPending: PendingUpdate[] = NO_PENDING;
  fsNested: SsParams | undefined;
  constructor(
    readonly mem: PhysicalMemory,
    readonly cap: ResolvedDmaCapabilities,
    readonly config: DmaConfig,
  ) {
    const g = geometryOf(cap);
    this.limit = g.limit;
    this.limitNumber = g.limitNumber;
    this.hawFrames = g.hawFrames;
    this.ssReserved = g.ssReserved;
    this.direct = PhysicalMemory.isDirect(mem);
    if (!this.direct) this.epoch = ++epochs;
    else {
      if (mem !== epochMemory) {
        epochMemory = mem;
        epochs++;
      }
      this.epoch = epochs;
    }
  }

  /**
   * Read a `bytes`-byte structure at `table + index*bytes` (`table` a number when exact, else a
   * bigint), or signal `accessCondition` when it lies at or above 2^HAW. `entryGpa`: the GPA the
   * entry was translated from (nested first stage), for its reference.
   */
  read(
    stage: ReferenceStage,
    level: number,
    table: number | bigint,
    index: number,
    bytes: number,
    accessCondition: FaultCondition,
    entryGpa?: number | bigint,
  ): bigint {
    const tableNumber = typeof table === 'number' ? table : table < TWO_53 ? Number(table) : Infinity;
    const at = tableNumber + index * bytes;
    if (at <= SAFE_TABLE) {
      // Address arithmetic in exact doubles, the aligned words read without bigint arithmetic.
      if (bytes === 8 && at % 8 === 0) return this.readEntry(stage, level, at, index, accessCondition, entryGpa);
      if (this.direct && at % 4 === 0 && (at % 4096) + bytes <= 4096 && entryGpa === undefined) return this.readStructure(stage, level, at, index, bytes, accessCondition);
    }
    const tableAddress = typeof table === 'bigint' ? table : BigInt(table);
    const entryAddress = tableAddress + BigInt(index * bytes);
    if (entryAddress + BigInt(bytes) > this.limit) throw new FaultSignal(accessCondition, stage, level);
    const entry = this.mem.readLE(entryAddress, bytes);
    this.lastLo = Number(entry & 0xffff_ffffn);
    this.lastHi = Number((entry >> 32n) & 0xffff_ffffn);
    this.lastAddress = entryAddress;
    const ref: MemoryReference = { stage, level, tableAddress, index, entryAddress, entry };
    if (entryGpa !== undefined) ref.entryGpa = typeof entryGpa === 'bigint' ? entryGpa : BigInt(entryGpa);
    this.refs.push(ref);
    return entry;
  }

  /** {@link read} of an aligned 8-byte entry at `at` (exact), through {@link ENTRY_MEMO}. */
  private readEntry(stage: ReferenceStage, level: number, at: number, index: number, accessCondition: FaultCondition, entryGpa: number | bigint | undefined): bigint {
    if (at + 8 > this.limitNumber) throw new FaultSignal(accessCondition, stage, level);
    let rec = ENTRY_MEMO.get(at);
    if (rec === undefined || rec.epoch !== this.epoch) {
      const frame = Math.floor(at / 4096);
      const word = (at % 4096) >> 2;
      const lo = this.mem.readWord(frame, word) >>> 0;
      const hi = this.mem.readWord(frame, word + 1) >>> 0;
      if (rec === undefined) {
        if (ENTRY_MEMO.size >= ENTRY_MEMO_LIMIT) ENTRY_MEMO.clear();
        rec = { lo, hi, entry: entryOf(lo, hi), address: BigInt(at), index, tableAddress: BigInt(at - index * 8), gpa: -1, entryGpa: undefined, epoch: this.epoch };
        ENTRY_MEMO.set(at, rec);
      } else {
        if (rec.lo !== lo || rec.hi !== hi) {
          rec.lo = lo;
          rec.hi = hi;
          rec.entry = entryOf(lo, hi);
        }
        rec.epoch = this.epoch;
      }
    }
    if (rec.index !== index) {
      rec.index = index;
      rec.tableAddress = BigInt(at - index * 8);
    }
    this.lastLo = rec.lo;
    this.lastHi = rec.hi;
    this.lastAddress = rec.address;
    const ref: MemoryReference = { stage, level, tableAddress: rec.tableAddress, index, entryAddress: rec.address, entry: rec.entry };
    if (entryGpa !== undefined) {
      if (typeof entryGpa === 'bigint') ref.entryGpa = entryGpa;
      else {
        if (rec.gpa !== entryGpa || rec.entryGpa === undefined) {
          rec.gpa = entryGpa;
          rec.entryGpa = BigInt(entryGpa);
        }
        ref.entryGpa = rec.entryGpa;
      }
    }
    this.refs.push(ref);
    return rec.entry;
  }

  /** {@link read} of a dword-aligned structure of `bytes` bytes at `at` (exact) within one frame, through {@link STRUCTURE_MEMO} (direct memory only: behind a proxy one structure is one `readLE`). */
  private readStructure(stage: ReferenceStage, level: number, at: number, index: number, bytes: number, accessCondition: FaultCondition): bigint {
    if (at + bytes > this.limitNumber) throw new FaultSignal(accessCondition, stage, level);
    const frame = Math.floor(at / 4096);
    const first = (at % 4096) >> 2;
    const count = bytes >> 2;
    let rec = STRUCTURE_MEMO.get(stage);
    let same = rec !== undefined && rec.at === at && rec.words.length === count;
    if (same && rec!.epoch !== this.epoch) {
      for (let i = 0; same && i < count; i++) same = this.mem.readWord(frame, first + i) >>> 0 === rec!.words[i];
      if (same) rec!.epoch = this.epoch;
    }
    if (!same || rec === undefined) {
      const words: number[] = [];
      for (let i = 0; i < count; i++) words.push(this.mem.readWord(frame, first + i) >>> 0);
      rec = { epoch: this.epoch, at, words, entry: structureOf(words), address: BigInt(at), index, tableAddress: BigInt(at - index * bytes) };
      STRUCTURE_MEMO.set(stage, rec);
    } else if (rec.index !== index) {
      rec.index = index;
      rec.tableAddress = BigInt(at - index * bytes);
    }
    this.lastLo = rec.words[0]!;
    this.lastHi = rec.words[1] ?? 0;
    this.lastAddress = rec.address;
    this.refs.push({ stage, level, tableAddress: rec.tableAddress, index, entryAddress: rec.address, entry: rec.entry });
    return rec.entry;
  }

  setBits(stage: 'first' | 'second', level: number, entryAddress: bigint, entry: bigint, bits: bigint): void {
    const ad = (this.ad ??= new Map());
    const rec = ad.get(entryAddress);
    if (rec) rec.set |= bits;
    else ad.set(entryAddress, { stage, level, before: entry, set: bits });
  }

  /**
   * Record the non-leaf second-stage entry at `level` on the way to `input` (given as its 32-bit
   * halves), pointing to `nextTable` with `perms` accumulated down to it: one entry per key, at
   * the end of {@link tables} (its last use), with the values of this use.
   */
  private tableEntry(p: SsParams, level: number, inLo: number, inHi: number, nextTable: number, perms: Permissions): void {
    const prefix = prefixAt(inLo, inHi, level);
    const tables = this.tables;
    const prefixes = this.tablePrefixes;
    const nexts = this.tableNexts;
    let entry: SecondStageTableEntry | undefined;
    for (let i = 0; i < tables.length; i++) {
      const t = tables[i]!;
      if (t.level !== level || prefixes[i] !== prefix || t.did !== p.did || t.root !== p.root) continue;
      const q = t.permissions;
      if (nexts[i] === nextTable && q.read === perms.read && q.write === perms.write && q.execute === perms.execute) entry = t;
      entry ??= newTableEntry(p, level, prefix, nextTable, perms);
      // Moved to the end (a handful of entries: a copy loop, cheaper than splice or a length change).
      const last = tables.length - 1;
      for (let j = i; j < last; j++) {
        tables[j] = tables[j + 1]!;
        prefixes[j] = prefixes[j + 1]!;
        nexts[j] = nexts[j + 1]!;
      }
      tables[last] = entry;
      prefixes[last] = prefix;
      nexts[last] = nextTable;
      return;
    }
    tables.push(entry ?? newTableEntry(p, level, prefix, nextTable, perms));
    prefixes.push(prefix);
    nexts.push(nextTable);
  }

  /**
   * Second-stage walk of `input` (an IOVA or a GPA; a number when exact). Permission checks
   * happen at every level (rights are the AND over levels, VT-d §3.7; QEMU stops at the first
   * entry lacking the right). Check order per entry: legacy mode tests the right first and
   * reserved bits second (QEMU `vtd_iova_to_slpte`); scalable mode tests present (R|W),
   * reserved, then the right. The input must lie below 2^min(12 + 9·levels, MGAW)
   * ('beyond-aw'); the top-level table must be readable ('ss-root-access').
   */
  secondStage(p: SsParams, input: bigint | number, need: Need): SsResult {
    // The input's 32-bit halves: indices, prefixes and the page offset without bigint arithmetic.
    let inLo: number;
    let inHi: number;
    if (typeof input === 'number') {
      if (input >= p.inputLimitNumber) throw new FaultSignal('beyond-aw', 'second', p.levels);
      inLo = input >>> 0;
      inHi = Math.floor(input / TWO_32);
    } else {
      if (input >= p.inputLimit) throw new FaultSignal('beyond-aw', 'second', p.levels);
      inLo = Number(input & 0xffff_ffffn);
      inHi = Number(input >> 32n);
    }
    let level = p.levels;
    let table: number | bigint = p.rootTable;
    const perms: Permissions = { read: true, write: true, execute: true };
    const startAt = this.config.secondStageStart;
    const start = startAt === undefined ? undefined : startAt(p.did, p.root, typeof input === 'bigint' ? input : BigInt(input));
    if (start !== undefined && start.level <= p.levels && start.level >= 2) {
      level = start.level - 1;
      table = start.nextTable < TWO_53 ? Number(start.nextTable) : start.nextTable;
      perms.read = start.permissions.read;
      perms.write = start.permissions.write;
      perms.execute = start.permissions.execute;
    }
    const path: SsResult['path'] = p.slade ? [] : NO_PATH;
    this.ssActiveParams = p;
    this.ssActivePath = path;
    // Without SLEE, execute requests are checked as reads [derived].
    const needRead = need.read || (need.execute && !p.slee);
    const masks = this.ssReserved;
    for (;;) {
      const index = indexAt(inLo, inHi, level);
      const entry = this.read('second', level, table, index, 8, level === p.levels ? 'ss-root-access' : 'ss-access');
      const lo = this.lastLo;
      const hi = this.lastHi;
      if (p.slade) path.push({ entryAddress: this.lastAddress, level, entry });
      // Bits R 0, W 1, X 2, PS 7 tested on the low word.
      perms.read &&= (lo & 1) !== 0;
      perms.write &&= (lo & 2) !== 0;
      perms.execute &&= (lo & 4) !== 0;
      // secondStageReservedMask(entry, level, …), precomputed per PS value.
      const mask = masks[level]![(lo & 0x80) === 0 ? 0 : 1]!;
      const reserved = (lo & mask.lo) !== 0 || (hi & mask.hi) !== 0;
      const lacking: FaultCondition | undefined = need.write && !perms.write ? 'no-write' : needRead && !perms.read ? 'no-read' : undefined;
      if (p.scalable) {
        if ((lo & 3) === 0) throw new FaultSignal('ss-not-present', 'second', level);
        if (reserved) throw new FaultSignal('ss-reserved', 'second', level);
        if (lacking) throw new FaultSignal(lacking, 'second', level);
      } else {
        if (lacking) throw new FaultSignal(lacking, 'second', level);
        if (reserved) throw new FaultSignal('ss-reserved', 'second', level);
      }
      // PS is a page size only at levels 2 and 3 (a reserved PS elsewhere has faulted above;
      // in a 4 KiB PTE it is ignored).
      const leaf = level === 1 || (lo & 0x80) !== 0;
      if (leaf) {
        const size = LEVEL_BYTES[level] ?? levelPageSize(level);
        if (need.execute && p.slee && !perms.execute) throw new FaultSignal('no-execute', 'second', level);
        // Without SLEE the X bit is not consulted; execute requests need read rights [derived].
        if (!p.slee) perms.execute = perms.read;
        this.ssActivePath = undefined;
        // (ADDR & ~(size − 1)) | (input & (size − 1)): below 2^52 + size, exact.
        const base = entryAddressOf(lo, hi);
        const addressNumber = base - (base % size) + offsetIn(inLo, inHi, size);
        return { address: BigInt(addressNumber), addressNumber, pageSize: size, perms, path, leafDirty: (lo & 0x200) !== 0 };
      }
      const next = entryAddressOf(lo, hi);
      this.tableEntry(p, level, inLo, inHi, next, perms);
      table = next;
      level--;
    }
  }

  /** SLADE = 1: A on every entry of the walk, D on the leaf when the access writes (VT-d §3.7.3; sheet §8.5). */
  markSecondStage(p: SsParams, r: SsResult, write: boolean): void {
    if (!p.slade) return;
    for (const e of r.path) {
      if ((e.entry & PTE_BITS.SL_A) === 0n) this.setBits('second', e.level, e.entryAddress, e.entry, PTE_BITS.SL_A);
    }
    const leaf = r.path[r.path.length - 1];
    if (write && leaf && !r.leafDirty) this.setBits('second', leaf.level, leaf.entryAddress, leaf.entry, PTE_BITS.SL_D);
  }

  /**
   * A faulting walk: the A flags of the entries used before the faulting one (module comment).
   * Second stage (SLADE = 1): the entries of the interrupted walk above the one that faulted.
   * First stage: every pending A/EA update except the faulting level's (never D); in nested mode
   * each through its table page's second stage, skipped when that page is not writable.
   */
  markBeforeFault(e: FaultSignal): void {
    const path = this.ssActivePath;
    if (path && this.ssActiveParams?.slade) {
      for (let i = 0; i < path.length - 1; i++) {
        const x = path[i]!;
        if ((x.entry & PTE_BITS.SL_A) === 0n) this.setBits('second', x.level, x.entryAddress, x.entry, PTE_BITS.SL_A);
      }
    }
    for (const p of this.fsPending) {
      if (e.stage === 'first' && p.level === e.level) continue;
      const bits = p.bits & ~PTE_BITS.FL_D;
      if (bits === 0n) continue;
      if (p.ss && this.fsNested) {
        if (!p.ss.perms.write) continue;
        this.markSecondStage(this.fsNested, p.ss, true);
      }
      this.setBits('first', p.level, p.entryAddress, p.entry, bits);
    }
  }

  commit(): { memory: PhysicalMemory; updates: AdUpdate[] } {
    let memory = this.mem;
    const updates: AdUpdate[] = [];
    if (this.ad === undefined) return { memory, updates };
    for (const [entryAddress, r] of this.ad) {
      const after = r.before | r.set;
      if (after === r.before) continue;
      memory = memory.writeLE(entryAddress, 8, after);
      updates.push({ stage: r.stage, level: r.level, entryAddress, before: r.before, after });
    }
    return { memory, updates };
  }
}

interface FsSettings {
  /** The top table ({@link tableOf}: a number when exact). */
  root: number | bigint;
  levels: 4 | 5;
  wpe: boolean;
  nxe: boolean;
  smep: boolean;
  eafe: boolean;
  /** Second stage used to translate every first-stage GPA (nested mode). */
  nested?: SsParams;
}

interface FsResult {
  output: bigint;
  pageSize: number;
  perms: Permissions;
  dirty: boolean;
  /** Second-stage results used for the final GPA (nested), for A/D and page size. */
  final: SsResult | undefined;
}

/** Bits 63:47 (4-level) and 63:56 (5-level) all ones, as the shifted value {@link isCanonical} compares. */
const CANONICAL_TOP = { 48: maskOf(17), 57: maskOf(8) } as const;
const CANONICAL_SHIFT = { 48: 47n, 57: 56n } as const;

/** True when bits 63:(width-1) of `address` are all equal (x86 canonical form, sheet §8.6). */
export function isCanonical(address: bigint, width: 48 | 57): boolean {
  const top = address >> CANONICAL_SHIFT[width];
  return top === 0n || top === CANONICAL_TOP[width];
}

/** A first-stage A/D update waiting for the walk to end (with the second-stage walk of its table page when nested). */
interface PendingUpdate {
  level: number;
  entryAddress: bigint;
  entry: bigint;
  bits: bigint;
  ss?: SsResult;
}

/** No first-stage updates pending (shared, never changed). */
const NO_PENDING: PendingUpdate[] = [];

function pendingUpdate(level: number, entryAddress: bigint, entry: bigint, bits: bigint, ss: SsResult | undefined): PendingUpdate {
  const p: PendingUpdate = { level, entryAddress, entry, bits };
  if (ss) p.ss = ss;
  return p;
}

/**
 * First-stage (x86 paging) walk, optionally nested. Per level, in this order (x86 SDM §4.5 /
 * §4.6 as adopted by VT-d §3.6): the entry must be present (0x71 at that level), then free of
 * reserved bits (0x72). Rights are combined over the levels — U/S and R/W ANDed, XD ORed — and
 * checked once the leaf is reached: user requests need U/S = 1 (0x81); writes need R/W = 1
 * unless a supervisor request with WPE = 0 (0x85); execute is refused by XD with NXE = 1, or,
 * for supervisor requests with SMEP = 1, by a user page (0x82). (QEMU `vtd_iova_to_flpte`
 * checks U/S and R/W entry by entry, before the reserved bits: docs/fidelity.md.) A flags are
 * set on every entry used (and EA with EAFE = 1); D on the leaf for writes — first-stage A/D
 * have no enable bit (VT-d §3.6.2). In nested mode every table read is preceded by a
 * second-stage walk of the entry's GPA, and each A/D write needs second-stage W on that table
 * page (0x77). Addresses are numbers where exact (every table below the root and every output:
 * entry bits 51:12 plus an offset), bigints otherwise.
 */
function firstStage(w: Walker, s: FsSettings, iova: bigint, need: Need, privileged: boolean): FsResult {
  const req = { write: need.write, execute: need.execute, privileged };
  let table: number | bigint = s.root;
  let rw = true;
  let us = true;
  let xd = false;
  const pending: PendingUpdate[] = [];
  w.fsPending = pending;
  w.fsNested = s.nested;
  const addressBits = s.nested ? 52 : w.cap.hawBits;
  const masks = fsMasks(addressBits, w.cap.fl1G)[s.nxe ? 1 : 0]!;
  const ivLo = Number(iova & 0xffff_ffffn);
  const ivHi = Number(iova >> 32n);
  const accessed = PTE_BITS.FL_A | (s.eafe ? PTE_BITS.FL_EA : 0n);
  // A 5 and EA 10 on the low word.
  const accessedLo = s.eafe ? 0x420 : 0x20;
  for (let level: number = s.levels; ; level--) {
    const index = indexAt(ivLo, ivHi, level);
    let entry: bigint;
    let entryAddress: bigint;
    let ss: SsResult | undefined;
    if (s.nested) {
      let gpa: number | bigint;
      if (typeof table === 'number') {
        gpa = table + index * 8;
        if (gpa >= s.nested.inputLimitNumber) throw new FaultSignal('nested-gpa-beyond-aw', 'first', level);
      } else {
        gpa = table + BigInt(index * 8);
        if (gpa >= s.nested.inputLimit) throw new FaultSignal('nested-gpa-beyond-aw', 'first', level);
      }
      try {
        ss = w.secondStage(s.nested, gpa, TABLE_READ);
      } catch (e) {
        if (e instanceof FaultSignal && e.condition === 'no-read') {
          throw new FaultSignal(level === s.levels ? 'nested-fs-root-read' : 'nested-fs-read', 'second', e.level);
        }
        throw e;
      }
      w.markSecondStage(s.nested, ss, false);
      entryAddress = ss.address;
      entry = w.read('first', level, ss.addressNumber - index * 8, index, 8, level === s.levels ? 'fs-root-access' : 'fs-access', gpa);
    } else {
      entry = w.read('first', level, table, index, 8, level === s.levels ? 'fs-root-access' : 'fs-access');
      entryAddress = w.lastAddress;
    }
    const lo = w.lastLo;
    const hi = w.lastHi;
    // P 0, R/W 1, U/S 2, PS 7 on the low word; XD 63 on the high one.
    if ((lo & 1) === 0) throw new FaultSignal('fs-not-present', 'first', level);
    // firstStageReservedMask(entry, level, …), precomputed per PS value.
    const mask = masks[level]![(lo & 0x80) === 0 ? 0 : 1]!;
    if ((lo & mask.lo) !== 0 || (hi & mask.hi) !== 0) {
      throw new FaultSignal('fs-reserved', 'first', level);
    }
    rw &&= (lo & 2) !== 0;
    us &&= (lo & 4) !== 0;
    xd ||= (hi & 0x8000_0000) !== 0;
    if ((lo & accessedLo) !== accessedLo) pending.push(pendingUpdate(level, entryAddress, entry, accessed & ~entry, ss));
    const leaf = level === 1 || (lo & 0x80) !== 0;
    if (!leaf) {
      table = entryAddressOf(lo, hi);
      continue;
    }
    const size = LEVEL_BYTES[level] ?? levelPageSize(level);
    // (ADDR & ~(size − 1)) | (iova & (size − 1)): below 2^52 + size, exact.
    const base = entryAddressOf(lo, hi);
    const output = base - (base % size) + offsetIn(ivLo, ivHi, size);
    if (!req.privileged && !us) throw new FaultSignal('user-supervisor', 'first', level);
    const write = rw || (req.privileged && !s.wpe);
    const execute = !(s.nxe && xd) && !(req.privileged && s.smep && us);
    if (req.write && !write) throw new FaultSignal('no-write', 'first', level);
    if (req.execute && !execute) throw new FaultSignal('no-execute', 'first', level);
    const leafDirty = (lo & 0x40) !== 0;
    if (req.write && !leafDirty) {
      const last = pending[pending.length - 1];
      if (last && last.entryAddress === entryAddress) last.bits |= PTE_BITS.FL_D;
      else pending.push(pendingUpdate(level, entryAddress, entry, PTE_BITS.FL_D, ss));
    }
    let perms: Permissions = { read: true, write, execute };
    let pageSize = size;
    let final: SsResult | undefined;
    let out: bigint;
    if (s.nested) {
      if (output >= s.nested.inputLimitNumber) throw new FaultSignal('nested-gpa-beyond-aw', 'first', level);
      final = w.secondStage(s.nested, output, need);
      perms = { read: final.perms.read, write: write && final.perms.write, execute: execute && final.perms.execute };
      pageSize = Math.min(size, final.pageSize);
      out = final.address;
    } else out = BigInt(output);
    // Commit phase: first-stage A/D writes (through the second stage when nested).
    w.fsPending = NO_PENDING;
    for (const p of pending) {
      if (p.ss && s.nested) {
        if (!p.ss.perms.write) throw new FaultSignal('nested-fs-ad-write', 'second', p.level);
        w.markSecondStage(s.nested, p.ss, true);
      }
      w.setBits('first', p.level, p.entryAddress, p.entry, p.bits);
    }
    if (s.nested && final) w.markSecondStage(s.nested, final, req.write);
    const slDirty = !s.nested || !s.nested.slade || !final || final.leafDirty || req.write;
    // One literal shape (`final` undefined when not nested): adding the key afterwards cost a map transition per walk.
    return { output: out, pageSize, perms, dirty: (leafDirty || req.write) && slDirty, final };
  }
}

const MAX_IOVA = maskOf(64);

function validate(r: DmaRequest): void {
  if (!Number.isInteger(r.rid) || r.rid < 0 || r.rid > 0xffff) throw new RangeError(`requester ID ${r.rid} is not 16-bit`);
  if (r.pasid !== undefined && (!Number.isInteger(r.pasid) || r.pasid < 0 || r.pasid > 0xfffff)) {
    throw new RangeError(`PASID ${r.pasid} is not 20-bit`);
  }
  if (r.iova < 0n || r.iova > MAX_IOVA) throw new RangeError(`IOVA 0x${r.iova.toString(16)} is not a 64-bit address`);
  if (!Number.isInteger(r.size) || r.size < 1 || r.size > 4096 || Number(r.iova & 0xfffn) + r.size > 4096) {
    throw new RangeError(`request of ${r.size} bytes at 0x${r.iova.toString(16)} is empty or crosses a 4 KiB boundary`);
  }
}

/**
 * Translate one DMA request (VT-d §3.4–§3.8). Reads the root table at RTADDR.RTA, chosen by
 * RTADDR.TTM (legacy: root → context → second stage or pass-through; scalable: root → context →
 * PASID directory → PASID entry → first-stage / second-stage / nested / pass-through per PGTT).
 * Returns a {@link DmaTranslation} with the new memory after A/D updates, or a
 * {@link DmaWalkFault} (with the A flags set before the fault). Second-stage A/D only with the
 * PASID entry's SLADE = 1 (never in legacy mode, whose entries have no A/D). RTA bits at or
 * above HAW are not implemented: the root table is at RTA mod 2^HAW (QEMU
 * `VTD_RTADDR_ADDR_MASK(aw)`; RTADDR_REG in Intel's datasheets: "hardware may ignore and not
 * implement bits 63:HAW").
 * @throws RangeError only for a malformed request (rid not 16-bit, PASID not 20-bit, IOVA not
 *   64-bit, size not 1..4096 or crossing a 4 KiB boundary) — never for a translation fault.
 */
export function translateDma(memory: PhysicalMemory, config: DmaConfig, request: DmaRequest): DmaWalkResult {
  validate(request);
  const cap = resolveCapabilities(config.cap);
  const w = new Walker(memory, cap, config);
  const rt = decodeRtaddr(config.rtaddr);
  const scalable = rt.TTM === TTM.SCALABLE;
  const rta = rt.RTA % w.hawFrames;
  const execute = request.execute ?? false;
  const state: { fpd: boolean; did?: number; pasid?: number; privileged: boolean } = {
    fpd: false,
    privileged: request.privileged ?? false,
  };
  try {
    const ok = scalable ? scalableWalk(w, rta, request, state) : legacyWalk(w, rt.TTM, rta, request, state);
    const { memory: after, updates } = w.commit();
    const t: DmaTranslation = {
      ok: true,
      pagingStructures: w.tables,
      hpa: ok.hpa,
      pageSize: ok.pageSize,
      permissions: ok.perms,
      references: w.refs,
      adUpdates: updates,
      memory: after,
      dirty: ok.dirty,
      type: ok.type,
      did: state.did ?? 0,
      privileged: state.privileged,
      fpd: state.fpd,
    };
    if (state.pasid !== undefined) t.pasid = state.pasid;
    return t;
  } catch (e) {
    if (!(e instanceof FaultSignal)) throw e;
    const [legacyCode, smCode] = FAULT_CODES[e.condition];
    const reason = scalable ? smCode : legacyCode;
    const qualified = faultQualified(reason);
    const fault: DmaFault = {
      reason,
      condition: e.condition,
      address: request.iova,
      sid: request.rid,
      write: request.write,
      read: request.read,
      execute,
      privileged: state.privileged,
      fpd: state.fpd,
      record: !(e.condition === 'abort-dma' && cap.abortDmaMode) && !(state.fpd && qualified),
    };
    if (request.pasid !== undefined) fault.pasid = request.pasid;
    if (state.did !== undefined) fault.did = state.did;
    if (e.stage !== undefined) fault.stage = e.stage;
    if (e.level !== undefined) fault.level = e.level;
    w.markBeforeFault(e);
    const { memory: after, updates } = w.commit();
    return { ok: false, fault, references: w.refs, adUpdates: updates, memory: after };
  }
}

function faultQualified(code: number): boolean {
  return faultReason(code)?.qualified ?? false;
}

interface WalkOk {
  hpa: bigint;
  pageSize: number;
  perms: Permissions;
  dirty: boolean;
  type: TranslationType;
}

const ALL: Permissions = Object.freeze({ read: true, write: true, execute: true });

function needOf(r: DmaRequest): Need {
  const execute = r.execute ?? false;
  return { read: r.read || (!r.write && !execute), write: r.write, execute };
}

/** Levels for an AW value the unit supports (CAP.SAGAW bit AW; QEMU `vtd_is_sl_level_supported`), else undefined. */
function supportedLevels(cap: ResolvedDmaCapabilities, aw: number): number | undefined {
  const levels = awLevels(aw);
  return levels !== undefined && (cap.sagaw >> aw) & 1 ? levels : undefined;
}

/** 2^min(MGAW, HAW): the bound of a pass-through input address (it is the output too). */
function passThroughLimit(w: Walker): bigint {
  return 1n << BigInt(Math.min(w.cap.mgawBits, w.cap.hawBits));
}

/**
 * Legacy mode (TTM = 0), in QEMU `vtd_dev_to_context_entry` / `vtd_iova_to_slpte` order: root
 * entry P (0x01), reserved bits — CTP at or above 2^HAW included, QEMU `VTD_ROOT_ENTRY_RSVD(aw)`
 * (0x0A); context entry P (0x02), reserved bits — SLPTPTR at or above 2^HAW included, QEMU
 * `VTD_CONTEXT_ENTRY_RSVD_LO(aw)` (0x0B); AW a CAP.SAGAW value (0x03); TT: 1 needs ECAP.DT, 2
 * needs ECAP.PT, 3 is reserved (0x03; QEMU `vtd_ce_type_check`, VirtualBox LCT.4.2); then the
 * input-address bound (0x04) and the second-stage walk. TTM = 2 / TTM = 3 are RTADDR faults
 * (see {@link FAULT_CODES}).
 */
function legacyWalk(w: Walker, ttm: number, rta: number, r: DmaRequest, state: { fpd: boolean; did?: number }): WalkOk {
  if (ttm === TTM.RESERVED) throw new FaultSignal('root-table-invalid');
  if (ttm === TTM.ABORT_DMA) throw new FaultSignal('abort-dma');
  if (r.pasid !== undefined) throw new FaultSignal('pasid-in-legacy-mode');
  const bus = r.rid >> 8;
  const devfn = r.rid & 0xff;
  const root = decodeLegacyRoot(w.read('root', 0, tableOf(rta), bus, 16, 'root-access'));
  if (!root.P) throw new FaultSignal('root-not-present', 'root');
  if (root.reserved || root.CTP >= w.hawFrames) throw new FaultSignal('root-reserved', 'root');
  const ctx = decodeLegacyContext(w.read('context', 0, tableOf(root.CTP), devfn, 16, 'context-access'));
  if (!ctx.P) throw new FaultSignal('context-not-present', 'context');
  state.fpd = ctx.FPD;
  if (ctx.reserved || ctx.SLPTPTR >= w.hawFrames) throw new FaultSignal('context-reserved', 'context');
  state.did = ctx.DID;
  const levels = supportedLevels(w.cap, ctx.AW);
  if (levels === undefined) throw new FaultSignal('context-invalid', 'context');
  if (
    ctx.TT === CONTEXT_TT.RESERVED ||
    (ctx.TT === CONTEXT_TT.DEV_IOTLB && !w.cap.deviceTlb) ||
    (ctx.TT === CONTEXT_TT.PASS_THROUGH && !w.cap.passThrough)
  ) {
    throw new FaultSignal('context-invalid', 'context');
  }
  if (ctx.TT === CONTEXT_TT.PASS_THROUGH) {
    if (r.iova >= passThroughLimit(w)) throw new FaultSignal('beyond-aw');
    return { hpa: r.iova, pageSize: 4096, perms: { ...ALL }, dirty: true, type: 'legacy-pass-through' };
  }
  // Legacy mode has no execute control: an execute request is checked as a read [derived].
  const need = needOf(r);
  const p = ssParams(w.cap, { rootFrame: ctx.SLPTPTR, levels, scalable: false, slee: false, slade: false, did: ctx.DID });
  const ss = w.secondStage(p, r.iova, { read: need.read || need.execute, write: need.write, execute: false });
  return { hpa: ss.address, pageSize: ss.pageSize, perms: ss.perms, dirty: true, type: 'legacy-second-stage' };
}

const PGTT_TYPE: Readonly<Record<number, TranslationType>> = {
  [PGTT.FIRST_STAGE]: 'first-stage',
  [PGTT.SECOND_STAGE]: 'second-stage',
  [PGTT.NESTED]: 'nested',
  [PGTT.PASS_THROUGH]: 'pass-through',
};

/**
 * Scalable mode (TTM = 1, needs ECAP.SMTS: else 0x30, VirtualBox RTA.1.3; QEMU would walk
 * legacy tables instead, docs/fidelity.md). Root entry LP/UP
 * (0x39), reserved bits of both halves — LCTP and UCTP at or above 2^HAW included, QEMU
 * `vtd_root_entry_rsvd_bits_check` (0x3A); context entry P (0x41), reserved bits —
 * PASIDDIRPTR at or above 2^HAW included, QEMU `VTD_SM_CONTEXT_ENTRY_RSVD_VAL0(aw)` (0x42);
 * PASIDE for requests with PASID (0x45); requests without PASID use RID_PASID when ECAP.RPS
 * (else PASID 0) and RID_PRIV when ECAP.RPRIVS (else user); PASID within PDTS (0x46);
 * directory entry P (0x51), reserved bits with SMPTBLPTR at or above 2^HAW (0x52) [derived:
 * the same HAW rule; QEMU does not check directory entries]; PASID entry P (0x59), reserved
 * bits (0x5A).
 */
function scalableWalk(
  w: Walker,
  rta: number,
  r: DmaRequest,
  state: { fpd: boolean; did?: number; pasid?: number; privileged: boolean },
): WalkOk {
  if (!w.cap.scalableMode) throw new FaultSignal('scalable-mode-unsupported');
  const bus = r.rid >> 8;
  const devfn = r.rid & 0xff;
  const root = decodeScalableRoot(w.read('root', 0, tableOf(rta), bus, 16, 'root-access'));
  const upper = devfn > 0x7f;
  if (!(upper ? root.UP : root.LP)) throw new FaultSignal('root-not-present', 'root');
  if (root.reserved || root.LCTP >= w.hawFrames || root.UCTP >= w.hawFrames) throw new FaultSignal('root-reserved', 'root');
  const ctp = tableOf(upper ? root.UCTP : root.LCTP);
  const ctx = decodeScalableContext(w.read('context', 0, ctp, devfn & 0x7f, 32, 'context-access'));
  if (!ctx.P) throw new FaultSignal('context-not-present', 'context');
  state.fpd = ctx.FPD;
  if (ctx.reserved || ctx.PASIDDIRPTR >= w.hawFrames) throw new FaultSignal('context-reserved', 'context');
  let pasid: number;
  if (r.pasid !== undefined) {
    if (!ctx.PASIDE) throw new FaultSignal('paside-clear', 'context');
    pasid = r.pasid;
  } else {
    // Requests without PASID use RID_PASID and RID_PRIV (sheet §8.3), each only when the unit
    // supports it (ECAP.RPS / ECAP.RPRIVS).
    pasid = w.cap.ridPasid ? ctx.RID_PASID : 0;
    state.privileged = w.cap.ridPriv && ctx.RID_PRIV;
  }
  state.pasid = pasid;
  const dirIndex = pasid >> 6;
  if (dirIndex >= pasidDirectoryEntries(ctx.PDTS)) throw new FaultSignal('pasid-too-large', 'context');
  const dir = decodePasidDir(
    w.read('pasid-dir', 0, tableOf(ctx.PASIDDIRPTR), dirIndex, 8, 'pasid-dir-access'),
  );
  if (!dir.P) throw new FaultSignal('pasid-dir-not-present', 'pasid-dir');
  state.fpd ||= dir.FPD;
  if (dir.reserved || dir.SMPTBLPTR >= w.hawFrames) throw new FaultSignal('pasid-dir-reserved', 'pasid-dir');
  const pe = decodePasidEntry(w.read('pasid', 0, tableOf(dir.SMPTBLPTR), pasid & 0x3f, 64, 'pasid-entry-access'));
  if (!pe.P) throw new FaultSignal('pasid-entry-not-present', 'pasid');
  state.fpd ||= pe.FPD;
  if (pe.reserved || (pe.PGSNP && !w.cap.snoopControl) || (pe.SLADE && !w.cap.secondStageAD)) {
    throw new FaultSignal('pasid-entry-reserved', 'pasid');
  }
  state.did = pe.DID;
  return pasidEntryWalk(w, pe, r, state.privileged);
}

/** Whether the unit supports a translation type (QEMU `vtd_pe_type_check`: ECAP.FLTS / SLTS / NEST / PT). */
function typeSupported(cap: ResolvedDmaCapabilities, type: TranslationType): boolean {
  switch (type) {
    case 'first-stage':
      return cap.firstStage;
    case 'second-stage':
      return cap.secondStage;
    case 'nested':
      return cap.nestedTranslation;
    case 'pass-through':
      return cap.passThrough;
    default:
      return false;
  }
}

/**
 * Translation below a present, well-formed PASID entry. Validity checks (0x5B) come first — a
 * PGTT the unit supports (QEMU `vtd_pe_type_check`), an AW in CAP.SAGAW for second-stage
 * types, an FLPM the unit supports for first-stage types (QEMU
 * `vtd_get_pe_in_pasid_leaf_table`) — then the request checks SRE (0x5D) and ERE (0x5C), then
 * the walk of the chosen type. PASID-entry pointers at or above 2^HAW: SLPTPTR 0x7B (invalid
 * second-level page-table pointer), FLPTPTR (PGTT = 1) 0x73 — the dedicated pointer codes
 * (VirtualBox SSL.4; QEMU `VTD_FR_PASID_ENTRY_FSPTPTR_INV`).
 */
function pasidEntryWalk(w: Walker, pe: PasidEntry, r: DmaRequest, privileged: boolean): WalkOk {
  const type = PGTT_TYPE[pe.PGTT];
  if (type === undefined || !typeSupported(w.cap, type)) throw new FaultSignal('pasid-entry-invalid', 'pasid');
  const usesSecond = type === 'second-stage' || type === 'nested';
  const usesFirst = type === 'first-stage' || type === 'nested';
  const slLevels = usesSecond ? supportedLevels(w.cap, pe.AW) : undefined;
  if (usesSecond && slLevels === undefined) throw new FaultSignal('pasid-entry-invalid', 'pasid');
  const flLevels = pe.FLPM === 0 ? 4 : pe.FLPM === 1 && w.cap.fl5 ? 5 : undefined;
  if (usesFirst && flLevels === undefined) throw new FaultSignal('pasid-entry-invalid', 'pasid');
  if (privileged && !pe.SRE) throw new FaultSignal('sre-clear', 'pasid');
  const need = needOf(r);
  if (need.execute && !pe.ERE) throw new FaultSignal('ere-clear', 'pasid');

  if (type === 'pass-through') {
    if (r.iova >= passThroughLimit(w)) throw new FaultSignal('beyond-aw');
    return { hpa: r.iova, pageSize: 4096, perms: { ...ALL }, dirty: true, type };
  }
  const sl: SsParams | undefined =
    slLevels === undefined
      ? undefined
      : ssParams(w.cap, { rootFrame: pe.SLPTPTR, levels: slLevels, scalable: true, slee: pe.SLEE, slade: pe.SLADE, did: pe.DID });
  if (sl && sl.root >= w.limit) throw new FaultSignal('ss-pointer-invalid', 'pasid');
  if (type === 'second-stage' && sl) {
    const ss = w.secondStage(sl, r.iova, need);
    w.markSecondStage(sl, ss, r.write);
    return { hpa: ss.address, pageSize: ss.pageSize, perms: ss.perms, dirty: !sl.slade || ss.leafDirty || r.write, type };
  }
  const levels = flLevels as 4 | 5;
  if (!isCanonical(r.iova, levels === 4 ? 48 : 57)) throw new FaultSignal('non-canonical', 'first', levels);
  const s: FsSettings = { root: tableOf(pe.FLPTPTR), levels, wpe: pe.WPE, nxe: pe.NXE, smep: pe.SMEP, eafe: pe.EAFE };
  if (sl) s.nested = sl;
  const fs = firstStage(w, s, r.iova, need, privileged);
  return { hpa: fs.output, pageSize: fs.pageSize, perms: fs.perms, dirty: fs.dirty, type };
}

/** Number of paging-structure references (stages 'first' and 'second') in a reference list — the (n+1)(m+1)−1 count of sheet §8.8. */
export function pagingReferenceCount(refs: readonly MemoryReference[]): number {
  return refs.filter((r) => r.stage === 'first' || r.stage === 'second').length;
}
