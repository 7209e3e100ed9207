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
import type { PhysicalMemory } from '../../memory/physical-memory.ts';
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
  /** Every non-leaf second-stage entry used (what a paging-structure cache may keep). */
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
 * A non-leaf second-stage entry seen by a walk: in domain `did` under second-stage root `root`,
 * the level-`level` entry covering inputs whose bits above 12 + 9·(level−1) equal `prefix`
 * points to `nextTable`, with `permissions` accumulated from the top down to it.
 */
export interface SecondStageTableEntry extends SecondStageStart {
  did: number;
  root: bigint;
  prefix: bigint;
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

interface SsParams {
  root: bigint;
  levels: number;
  /** Input-address width: min(12 + 9·levels, MGAW) (QEMU `vtd_iova_limit`). */
  inputBits: number;
  scalable: boolean;
  slee: boolean;
  slade: boolean;
  did: number;
}

interface SsResult {
  address: bigint;
  pageSize: number;
  perms: Permissions;
  path: { entryAddress: bigint; level: number; entry: bigint }[];
  leafDirty: boolean;
}

/** Second-stage parameters for a walk of `levels` levels under the unit's MGAW. */
function ssParams(cap: ResolvedDmaCapabilities, p: Omit<SsParams, 'inputBits'>): SsParams {
  // One literal shape for every SsParams (the walk reads these fields in its inner loop).
  return { root: p.root, levels: p.levels, inputBits: Math.min(levelsWidth(p.levels), cap.mgawBits), scalable: p.scalable, slee: p.slee, slade: p.slade, did: p.did };
}

class Walker {
  readonly refs: MemoryReference[] = [];
  readonly ad = new Map<bigint, AdRecord>();
  readonly tables: SecondStageTableEntry[] = [];
  readonly limit: bigint;
  /** 2^(HAW − 12): a pointer field (a frame number) at or above it points at or above 2^HAW. */
  readonly hawFrames: number;
  /** Second-stage reserved masks for this walk's capabilities, `[level][ps]`. */
  readonly ssReserved: SplitMask[][];
  /** The last 8-byte entry read, as 32-bit halves (bit tests without bigint), and its address. */
  lastLo = 0;
  lastHi = 0;
  lastAddress = 0n;
  /** 8-byte entries already read in this walk, by address (a number: exact below 2^53). */
  readonly seen = new Map<number, { readonly lo: number; readonly hi: number; readonly entry: bigint; readonly address: bigint }>();
  /** 2^HAW as a number (exact: a power of two). */
  readonly limitNumber: number;
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
    this.limit = 1n << BigInt(cap.hawBits);
    this.limitNumber = 2 ** cap.hawBits;
    this.hawFrames = 2 ** (cap.hawBits - 12);
    this.ssReserved = ssMasks(cap.hawBits, cap.sl2M, cap.sl1G, cap.snoopControl);
  }

  /** Read a `bytes`-byte structure at `table + index*bytes`, or signal `accessCondition` when it lies at or above 2^HAW. */
  read(
    stage: ReferenceStage,
    level: number,
    table: bigint,
    index: number,
    bytes: number,
    accessCondition: FaultCondition,
    entryGpa?: bigint,
  ): bigint {
    const tableNumber = Number(table);
    if (bytes === 8 && tableNumber <= SAFE_TABLE && (tableNumber & 7) === 0) {
      // A paging entry (or PASID-directory entry): address arithmetic in exact doubles, the two
      // aligned words read without bigint arithmetic. Memory does not change during a walk, and
      // a nested walk reads the upper second-stage entries once per first-stage level: each
      // entry is fetched from memory once per walk.
      const at = tableNumber + index * 8;
      if (at + 8 > this.limitNumber) throw new FaultSignal(accessCondition, stage, level);
      let seen = this.seen.get(at);
      if (seen === undefined) {
        const frame = Math.floor(at / 4096);
        const word = (at % 4096) >> 2;
        const lo = this.mem.readWord(frame, word) >>> 0;
        const hi = this.mem.readWord(frame, word + 1) >>> 0;
        seen = { lo, hi, entry: hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo), address: BigInt(at) };
        this.seen.set(at, seen);
      }
      this.lastLo = seen.lo;
      this.lastHi = seen.hi;
      this.lastAddress = seen.address;
      const ref: MemoryReference = { stage, level, tableAddress: table, index, entryAddress: seen.address, entry: seen.entry };
      if (entryGpa !== undefined) ref.entryGpa = entryGpa;
      this.refs.push(ref);
      return seen.entry;
    }
    const entryAddress = table + BigInt(index * bytes);
    if (entryAddress + BigInt(bytes) > this.limit) throw new FaultSignal(accessCondition, stage, level);
    const entry = this.mem.readLE(entryAddress, bytes);
    this.lastLo = Number(entry & 0xffff_ffffn);
    this.lastHi = Number((entry >> 32n) & 0xffff_ffffn);
    this.lastAddress = entryAddress;
    const ref: MemoryReference = { stage, level, tableAddress: table, index, entryAddress, entry };
    if (entryGpa !== undefined) ref.entryGpa = entryGpa;
    this.refs.push(ref);
    return entry;
  }

  setBits(stage: 'first' | 'second', level: number, entryAddress: bigint, entry: bigint, bits: bigint): void {
    const rec = this.ad.get(entryAddress);
    if (rec) rec.set |= bits;
    else this.ad.set(entryAddress, { stage, level, before: entry, set: bits });
  }

  /**
   * Second-stage walk of `input` (an IOVA or a GPA). Permission checks happen at every level
   * (rights are the AND over levels, VT-d §3.7; QEMU stops at the first entry lacking the
   * right). Check order per entry: legacy mode tests the right first and reserved bits second
   * (QEMU `vtd_iova_to_slpte`); scalable mode tests present (R|W), reserved, then the right.
   * The input must lie below 2^min(12 + 9·levels, MGAW) ('beyond-aw'); the top-level table
   * must be readable ('ss-root-access').
   */
  secondStage(p: SsParams, input: bigint, need: Need): SsResult {
    if (input >> BigInt(p.inputBits) !== 0n) throw new FaultSignal('beyond-aw', 'second', p.levels);
    let level = p.levels;
    let table = p.root;
    const perms: Permissions = { read: true, write: true, execute: true };
    const start = this.config.secondStageStart?.(p.did, p.root, input);
    if (start !== undefined && start.level <= p.levels && start.level >= 2) {
      level = start.level - 1;
      table = start.nextTable;
      perms.read = start.permissions.read;
      perms.write = start.permissions.write;
      perms.execute = start.permissions.execute;
    }
    const path: SsResult['path'] = [];
    this.ssActiveParams = p;
    this.ssActivePath = path;
    // Without SLEE, execute requests are checked as reads [derived].
    const needRead = need.read || (need.execute && !p.slee);
    const masks = this.ssReserved;
    for (;;) {
      const index = levelIndex(input, level);
      const entry = this.read('second', level, table, index, 8, level === p.levels ? 'ss-root-access' : 'ss-access');
      const entryAddress = this.lastAddress;
      const lo = this.lastLo;
      const hi = this.lastHi;
      path.push({ entryAddress, level, entry });
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
        const size = levelPageSize(level);
        const offsetMask = BigInt(size) - 1n;
        if (need.execute && p.slee && !perms.execute) throw new FaultSignal('no-execute', 'second', level);
        // Without SLEE the X bit is not consulted; execute requests need read rights [derived].
        if (!p.slee) perms.execute = perms.read;
        this.ssActivePath = undefined;
        return {
          address: ((entry & PTE_ADDR_MASK) & ~offsetMask) | (input & offsetMask),
          pageSize: size,
          perms,
          path,
          leafDirty: (lo & 0x200) !== 0,
        };
      }
      table = BigInt(entryAddressOf(lo, hi));
      this.tables.push({
        did: p.did,
        root: p.root,
        level,
        prefix: input >> BigInt(12 + 9 * (level - 1)),
        nextTable: table,
        permissions: { ...perms },
      });
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
  root: bigint;
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
  final?: SsResult;
}

/** True when bits 63:(width-1) of `address` are all equal (x86 canonical form, sheet §8.6). */
export function isCanonical(address: bigint, width: 48 | 57): boolean {
  const top = address >> BigInt(width - 1);
  return top === 0n || top === maskOf(65 - width);
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
 * page (0x77).
 */
function firstStage(w: Walker, s: FsSettings, iova: bigint, need: Need, privileged: boolean): FsResult {
  const req = { write: need.write, execute: need.execute, privileged };
  let table = s.root;
  let rw = true;
  let us = true;
  let xd = false;
  const pending: PendingUpdate[] = [];
  w.fsPending = pending;
  w.fsNested = s.nested;
  const addressBits = s.nested ? 52 : w.cap.hawBits;
  const masks = fsMasks(addressBits, w.cap.fl1G)[s.nxe ? 1 : 0]!;
  for (let level: number = s.levels; ; level--) {
    const index = levelIndex(iova, level);
    let entry: bigint;
    let entryAddress: bigint;
    let ss: SsResult | undefined;
    if (s.nested) {
      const gpa = table + BigInt(index * 8);
      if (gpa >> BigInt(s.nested.inputBits) !== 0n) throw new FaultSignal('nested-gpa-beyond-aw', 'first', level);
      try {
        ss = w.secondStage(s.nested, gpa, { read: true, write: false, execute: false });
      } catch (e) {
        if (e instanceof FaultSignal && e.condition === 'no-read') {
          throw new FaultSignal(level === s.levels ? 'nested-fs-root-read' : 'nested-fs-read', 'second', e.level);
        }
        throw e;
      }
      w.markSecondStage(s.nested, ss, false);
      entryAddress = ss.address;
      const hpaTable = entryAddress - BigInt(index * 8);
      entry = w.read('first', level, hpaTable, index, 8, level === s.levels ? 'fs-root-access' : 'fs-access', gpa);
    } else {
      entry = w.read('first', level, table, index, 8, level === s.levels ? 'fs-root-access' : 'fs-access');
      entryAddress = table + BigInt(index * 8);
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
    const accessed = PTE_BITS.FL_A | (s.eafe ? PTE_BITS.FL_EA : 0n);
    // A 5 and EA 10 on the low word.
    const accessedLo = s.eafe ? 0x420 : 0x20;
    if ((lo & accessedLo) !== accessedLo) pending.push(pendingUpdate(level, entryAddress, entry, accessed & ~entry, ss));
    const leaf = level === 1 || (lo & 0x80) !== 0;
    if (!leaf) {
      table = BigInt(entryAddressOf(lo, hi));
      continue;
    }
    const size = levelPageSize(level);
    const offsetMask = BigInt(size) - 1n;
    const output = ((entry & PTE_ADDR_MASK) & ~offsetMask) | (iova & offsetMask);
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
    let out = output;
    if (s.nested) {
      if (output >> BigInt(s.nested.inputBits) !== 0n) throw new FaultSignal('nested-gpa-beyond-aw', 'first', level);
      final = w.secondStage(s.nested, output, need);
      perms = { read: final.perms.read, write: write && final.perms.write, execute: execute && final.perms.execute };
      pageSize = Math.min(size, final.pageSize);
      out = final.address;
    }
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
    const result: FsResult = { output: out, pageSize, perms, dirty: (leafDirty || req.write) && slDirty };
    if (final) result.final = final;
    return result;
  }
}

function validate(r: DmaRequest): void {
  if (!Number.isInteger(r.rid) || r.rid < 0 || r.rid > 0xffff) throw new RangeError(`requester ID ${r.rid} is not 16-bit`);
  if (r.pasid !== undefined && (!Number.isInteger(r.pasid) || r.pasid < 0 || r.pasid > 0xfffff)) {
    throw new RangeError(`PASID ${r.pasid} is not 20-bit`);
  }
  if (r.iova < 0n || r.iova > maskOf(64)) throw new RangeError(`IOVA 0x${r.iova.toString(16)} is not a 64-bit address`);
  if (!Number.isInteger(r.size) || r.size < 1 || r.size > 4096 || (r.iova & 0xfffn) + BigInt(r.size) > 4096n) {
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
  const root = decodeLegacyRoot(w.read('root', 0, frameAddress(rta), bus, 16, 'root-access'));
  if (!root.P) throw new FaultSignal('root-not-present', 'root');
  if (root.reserved || root.CTP >= w.hawFrames) throw new FaultSignal('root-reserved', 'root');
  const ctx = decodeLegacyContext(w.read('context', 0, frameAddress(root.CTP), devfn, 16, 'context-access'));
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
  const p = ssParams(w.cap, { root: frameAddress(ctx.SLPTPTR), levels, scalable: false, slee: false, slade: false, did: ctx.DID });
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
  const root = decodeScalableRoot(w.read('root', 0, frameAddress(rta), bus, 16, 'root-access'));
  const upper = devfn > 0x7f;
  if (!(upper ? root.UP : root.LP)) throw new FaultSignal('root-not-present', 'root');
  if (root.reserved || root.LCTP >= w.hawFrames || root.UCTP >= w.hawFrames) throw new FaultSignal('root-reserved', 'root');
  const ctp = frameAddress(upper ? root.UCTP : root.LCTP);
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
    w.read('pasid-dir', 0, frameAddress(ctx.PASIDDIRPTR), dirIndex, 8, 'pasid-dir-access'),
  );
  if (!dir.P) throw new FaultSignal('pasid-dir-not-present', 'pasid-dir');
  state.fpd ||= dir.FPD;
  if (dir.reserved || dir.SMPTBLPTR >= w.hawFrames) throw new FaultSignal('pasid-dir-reserved', 'pasid-dir');
  const pe = decodePasidEntry(w.read('pasid', 0, frameAddress(dir.SMPTBLPTR), pasid & 0x3f, 64, 'pasid-entry-access'));
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
      : ssParams(w.cap, { root: frameAddress(pe.SLPTPTR), levels: slLevels, scalable: true, slee: pe.SLEE, slade: pe.SLADE, did: pe.DID });
  if (sl && sl.root >= w.limit) throw new FaultSignal('ss-pointer-invalid', 'pasid');
  if (type === 'second-stage' && sl) {
    const ss = w.secondStage(sl, r.iova, need);
    w.markSecondStage(sl, ss, r.write);
    return { hpa: ss.address, pageSize: ss.pageSize, perms: ss.perms, dirty: !sl.slade || ss.leafDirty || r.write, type };
  }
  const levels = flLevels as 4 | 5;
  if (!isCanonical(r.iova, levels === 4 ? 48 : 57)) throw new FaultSignal('non-canonical', 'first', levels);
  const s: FsSettings = { root: frameAddress(pe.FLPTPTR), levels, wpe: pe.WPE, nxe: pe.NXE, smep: pe.SMEP, eafe: pe.EAFE };
  if (sl) s.nested = sl;
  const fs = firstStage(w, s, r.iova, need, privileged);
  return { hpa: fs.output, pageSize: fs.pageSize, perms: fs.perms, dirty: fs.dirty, type };
}

/** Number of paging-structure references (stages 'first' and 'second') in a reference list — the (n+1)(m+1)−1 count of sheet §8.8. */
export function pagingReferenceCount(refs: readonly MemoryReference[]): number {
  return refs.filter((r) => r.stage === 'first' || r.stage === 'second').length;
}
