/**
 * Translation of one DMA request through AMD-Vi host (v1) page tables, from the DTE's Mode,
 * page-table root pointer and IR/IW down to the leaf. Pure: memory in, result out; faults are
 * values, never exceptions. The device-table lookup itself (V, TV, reserved DTE bits, exclusion
 * range — src/amdvi/dma/ranges.ts) is the caller's; this module starts where the DTE says
 * "translate with these tables".
 *
 * Sources: spec 48882 §2.2.3 (as quoted by the sources); reference sheet amdvi-facts.md §7 and
 * §5 (IO_PAGE_FAULT flags); VirtualBox `src/VBox/Devices/Bus/DevIommuAmd.cpp`
 * `iommuAmdWalkIoPageTable` (check order, skipped levels, size-encoded pages,
 * `EVT_IO_PAGE_FAULT_TYPE_T` causes); QEMU `hw/i386/amd_iommu.c` `fetch_pte` /
 * `amdvi_page_walk` (permission AND over every level, Mode bound, default-size leaves above
 * level 1); Linux `drivers/iommu/amd/io_pgtable.c` (`fetch_pte`, `PTE_PAGE_SIZE`).
 *
 * Check order at each entry [derived from VirtualBox, which checks present, then permission,
 * then the level encoding]: PR = 0 → not present; reserved bits → RZ; Next Level encoding (a PDE
 * whose Next Level is not below its own level, a PDE in a level-1 table, a size-encoded leaf whose
 * size is not between the level's default size and the next level's) → RZ; the access not
 * allowed by the AND of the DTE's and every entry's IR/IW so far → PE; a PDE that skips levels
 * with non-zero IOVA bits for them → fault. Where VirtualBox and the sheet differ:
 * - RZ: the sheet (spec event flags, §5) says RZ = "reserved bit / bad level"; VirtualBox sets
 *   RZ = 0 for level-encoding and page-size faults. This model sets RZ = 1 for reserved bits and
 *   for every illegal encoding (Mode 7, Next Level, page size) and RZ = 0 for address faults
 *   (IOVA beyond the Mode, skipped-level bits) [UNSURE].
 * - Reserved bits: VirtualBox does not check them in the walk; the sheet lists them (PDE 60:52,
 *   PTE 58:52) and, as on VT-d, the address bits at or above the host address width [derived].
 * - Mode 0 with an access the DTE's IR/IW forbid: VirtualBox denies it without an event
 *   (`VERR_IOMMU_ADDR_ACCESS_DENIED`); the fault here says so with `logged: false`.
 * - A default-size leaf (Next Level 0) in a level-L table, L > 1, maps 2^(12+9(L−1)) bytes and
 *   its address bits below that size are ignored (QEMU `fetch_pte` page mask); VirtualBox treats
 *   every Next-Level-0 leaf as 4 KiB.
 * Simulated memory always reads, so PAGE_TAB_HARDWARE_ERROR never arises here. A/D updates are
 * not modelled (Control HADUpdate is off in Linux).
 */
import type { PhysicalMemory } from '../../memory/physical-memory.ts';
import { maskOf } from '../../bits/bits.ts';
import {
  NEXT_LEVEL_SIZED_LEAF,
  V1_ADDR_MASK,
  V1_ENTRY_BYTES,
  V1_PDE_LAYOUT,
  V1_PTE_LAYOUT,
  defaultPageSize,
  isPde,
  levelIndex,
  modeInputBits,
  nextLevelOf,
  sizedLeafFits,
  sizedLeafPageSize,
  skippedLevelsMask,
} from './pte.ts';

/**
 * The DTE fields the walk uses: `mode` = DTE Mode (bits 11:9; 0 = no translation, 1..6 levels,
 * 7 reserved); `root` = page-table root pointer as a byte address (DTE bits 51:12 << 12);
 * `ir` / `iw` = DTE bits 61 / 62.
 */
export interface AmdV1Dte {
  mode: number;
  root: bigint;
  ir: boolean;
  iw: boolean;
}

/** One page-table entry read by the walk: the table's level (6..1), table and entry byte addresses, index, and the raw entry. */
export interface AmdV1Reference {
  level: number;
  tableAddress: bigint;
  index: number;
  entryAddress: bigint;
  entry: bigint;
}

/** Effective rights: the AND of the DTE's and every entry's IR (read) / IW (write). */
export interface AmdV1Permissions {
  read: boolean;
  write: boolean;
}

/**
 * A translation. `hpa` = system physical byte address of `iova`; `pageSize` in bytes (bigint:
 * up to 2^57 for a default-size leaf at level 6; 4 KiB for Mode 0, as QEMU's no-remap entry);
 * `leafLevel` = level of the table holding the leaf (0 for Mode 0); `u`/`fc` from the leaf
 * (false for Mode 0); `references` every entry read, top level first.
 */
export interface AmdV1Translation {
  ok: true;
  hpa: bigint;
  pageSize: bigint;
  permissions: AmdV1Permissions;
  leafLevel: number;
  u: boolean;
  fc: boolean;
  references: AmdV1Reference[];
}

/**
 * Why a walk faulted (VirtualBox `EVT_IO_PAGE_FAULT_TYPE_T` / sheet §7 "IOPF causes"):
 * 'reserved-mode' (DTE Mode 7), 'iova-beyond-mode' (IOVA ≥ 2^(12+9·Mode)), 'not-present' (PR = 0),
 * 'reserved-bits', 'bad-level' (Next Level not below the entry's level), 'bad-page-size'
 * (size-encoded leaf out of its level's range), 'skipped-level-iova' (non-zero IOVA bits for a
 * skipped level), 'permission' (IR/IW).
 */
export type AmdV1FaultCause =
  | 'reserved-mode'
  | 'iova-beyond-mode'
  | 'not-present'
  | 'reserved-bits'
  | 'bad-level'
  | 'bad-page-size'
  | 'skipped-level-iova'
  | 'permission';

/**
 * An IO_PAGE_FAULT (event code 2) and the flags its event-log entry carries (sheet §5: PR bit 52,
 * RW 53, PE 54, RZ 55): `pr` = the entry was present (false only for 'not-present'), `rw` = the
 * request was a write, `pe` = permission violation, `rz` = reserved bit or illegal encoding.
 * `address` = the request's IOVA; `level` / `entryAddress` locate the entry at fault (absent for
 * DTE-level faults); `logged` = whether hardware writes the event (false only for a Mode-0
 * permission denial, see the module comment). DeviceID and DomainID are the caller's to add.
 */
export interface AmdV1Fault {
  kind: 'io-page-fault';
  cause: AmdV1FaultCause;
  address: bigint;
  pr: boolean;
  rw: boolean;
  pe: boolean;
  rz: boolean;
  logged: boolean;
  level?: number;
  entryAddress?: bigint;
}

/** A failed walk: the fault and the entries read before and including the one at fault. */
export interface AmdV1WalkFault {
  ok: false;
  fault: AmdV1Fault;
  references: AmdV1Reference[];
}

export type AmdV1WalkResult = AmdV1Translation | AmdV1WalkFault;

const U64 = maskOf(64);

/**
 * Walk the v1 tables for one access of `iova` (bytes, 0 ≤ iova < 2^64); `write` = write access
 * (needs IW), else read (needs IR). `haw` = host address width in bits (12..52): entry address
 * bits 51:haw are reserved.
 * @throws RangeError for an IOVA outside 64 bits, a `haw` outside 12..52, or a root pointer that is
 *   not a 4 KiB-aligned address below 2^52 (caller errors, not guest-programmable faults: the DTE
 *   field cannot hold one).
 */
export function walkAmdV1(memory: PhysicalMemory, haw: number, dte: AmdV1Dte, iova: bigint, write: boolean): AmdV1WalkResult {
  if (iova < 0n || iova > U64) throw new RangeError(`IOVA 0x${iova.toString(16)} is outside 64 bits`);
  if (!Number.isInteger(haw) || haw < 12 || haw > 52) throw new RangeError(`host address width ${haw} is not 12..52`);
  if (dte.root < 0n || (dte.root & ~V1_ADDR_MASK) !== 0n) throw new RangeError(`page-table root 0x${dte.root.toString(16)} is not a 4 KiB-aligned address below 2^52`);
  const references: AmdV1Reference[] = [];
  const fault = (cause: AmdV1FaultCause, f: { pr?: boolean; pe?: boolean; rz?: boolean; logged?: boolean; at?: AmdV1Reference }): AmdV1WalkFault => {
    const out: AmdV1Fault = {
      kind: 'io-page-fault',
      cause,
      address: iova,
      pr: f.pr ?? true,
      rw: write,
      pe: f.pe ?? false,
      rz: f.rz ?? false,
      logged: f.logged ?? true,
    };
    if (f.at) {
      out.level = f.at.level;
      out.entryAddress = f.at.entryAddress;
    }
    return { ok: false, fault: out, references };
  };
  const allows = (ir: boolean, iw: boolean): boolean => (write ? iw : ir);

  if (!Number.isInteger(dte.mode) || dte.mode < 0 || dte.mode > 7) throw new RangeError(`DTE Mode ${dte.mode} is not a 3-bit value`);
  if (dte.mode === 7) return fault('reserved-mode', { rz: true });
  if (dte.mode === 0) {
    // Translation disabled: the address passes untranslated, rights are the DTE's (VirtualBox uMaxLevel == 0; QEMU no_remap).
    if (!allows(dte.ir, dte.iw)) return fault('permission', { pe: true, logged: false });
    return { ok: true, hpa: iova, pageSize: 4096n, permissions: { read: dte.ir, write: dte.iw }, leafLevel: 0, u: false, fc: false, references };
  }
  const width = modeInputBits(dte.mode);
  if (width < 64 && iova >> BigInt(width) !== 0n) return fault('iova-beyond-mode', {});
  let read = dte.ir;
  let writable = dte.iw;
  if (!allows(read, writable)) return fault('permission', { pe: true });

  const addressReserved = haw >= 52 ? 0n : maskOf(52 - haw) << BigInt(haw);
  let table = dte.root;
  let level = dte.mode;
  for (;;) {
    const index = levelIndex(iova, level);
    const entryAddress = table + BigInt(index * V1_ENTRY_BYTES);
    const entry = memory.readLE(entryAddress, V1_ENTRY_BYTES);
    const ref: AmdV1Reference = { level, tableAddress: table, index, entryAddress, entry };
    references.push(ref);

    if ((entry & 1n) === 0n) return fault('not-present', { pr: false, at: ref });
    const pde = isPde(entry);
    const reservedMask = (pde ? V1_PDE_LAYOUT.reservedMask : V1_PTE_LAYOUT.reservedMask) | addressReserved;
    if ((entry & reservedMask) !== 0n) return fault('reserved-bits', { rz: true, at: ref });
    const nl = nextLevelOf(entry);
    if (pde && nl >= level) return fault('bad-level', { rz: true, at: ref });
    const sizedPage = nl === NEXT_LEVEL_SIZED_LEAF ? sizedLeafPageSize(entry) : undefined;
    if (sizedPage !== undefined && !sizedLeafFits(level, sizedPage)) return fault('bad-page-size', { rz: true, at: ref });
    read &&= ((entry >> 61n) & 1n) === 1n;
    writable &&= ((entry >> 62n) & 1n) === 1n;
    if (!allows(read, writable)) return fault('permission', { pe: true, at: ref });

    if (!pde) {
      const size = sizedPage ?? defaultPageSize(level); // Next Level 0: the level's default size
      const offset = size - 1n;
      return {
        ok: true,
        hpa: ((entry & V1_ADDR_MASK) & ~offset) | (iova & offset),
        pageSize: size,
        permissions: { read, write: writable },
        leafLevel: level,
        u: ((entry >> 59n) & 1n) === 1n,
        fc: ((entry >> 60n) & 1n) === 1n,
        references,
      };
    }
    if ((iova & skippedLevelsMask(level, nl)) !== 0n) return fault('skipped-level-iova', { at: ref });
    table = entry & V1_ADDR_MASK;
    level = nl;
  }
}
