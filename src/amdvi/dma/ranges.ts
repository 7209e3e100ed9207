/**
 * Address ranges that bypass or pre-empt v1 translation, as pure lookups:
 * - the exclusion range of the MMIO Exclusion Base / Limit registers (0x20 / 0x28): when ExEn = 1,
 *   a request whose address lies in [base, limit | 0xFFF] from a device with DTE.EX = 1 — or any
 *   device when Allow = 1 — is forwarded untranslated, without permission checks (sheet §2.3,
 *   OpenVMM quoting spec §2.2.4 [UNSURE]; VirtualBox `DevIommuAmd.cpp` `iommuAmdIsDvaInExclRange`,
 *   checked after the DTE's V and reserved bits, before the page walk, in
 *   `iommuAmdLookupDeviceTable`);
 * - the IVMD unity / exclusion blocks of the IVRS table (types 20h all devices, 21h one DeviceID,
 *   22h DeviceID .. AuxData inclusive; flags [0] Unity, [1] IR, [2] IW, [3] ExclusionRange;
 *   sheet §1.5; ACPICA `acpi_ivrs_memory`, `ACPI_IVMD_*`), which firmware uses to tell the OS
 *   which ranges each device needs identity-mapped. Linux `init_unity_map_range` (drivers/iommu/
 *   amd/init.c): blocks with Unity or ExclusionRange set become identity maps [PAGE_ALIGN(start),
 *   PAGE_ALIGN(start) + PAGE_ALIGN(length)) with rights = flags >> 1, an exclusion block always
 *   IR | IW ("buggy BIOSes"); Linux never programs the exclusion registers from them.
 *
 * The IVRS parser lives elsewhere (src/amdvi IVRS import); this module takes the IVMD fields by
 * their ACPI names so either a parsed table or a test can feed it.
 */
import { EXCLUSION_BASE_REGISTER, EXCLUSION_LIMIT_REGISTER } from '../registers.ts';
import type { AmdV1Mapping } from './builder.ts';

/** The exclusion range as programmed: `base` and `limit` are byte addresses, `limit` inclusive (its low 12 bits read as ones). */
export interface ExclusionRange {
  enabled: boolean;
  allowAll: boolean;
  base: bigint;
  limit: bigint;
}

/**
 * Decode the Exclusion Base (ExEn 0, Allow 1, base 51:12) and Exclusion Limit (limit 51:12)
 * register values (src/amdvi/registers.ts `EXCLUSION_BASE_REGISTER` / `EXCLUSION_LIMIT_REGISTER`).
 * Reserved bits are ignored here. Never throws.
 */
export function decodeExclusionRange(baseRegister: bigint, limitRegister: bigint): ExclusionRange {
  const b = EXCLUSION_BASE_REGISTER.decode(baseRegister);
  const l = EXCLUSION_LIMIT_REGISTER.decode(limitRegister);
  return { enabled: b.ExEn, allowAll: b.Allow, base: BigInt(b.Base) << 12n, limit: (BigInt(l.Limit) << 12n) | 0xfffn };
}

/**
 * Whether a request to `address` (bytes) from a device whose DTE has EX = `dteEx` bypasses
 * translation: ExEn && (Allow || DTE.EX) && base ≤ address ≤ limit (sheet §2.3). A range with
 * limit < base contains nothing.
 */
export function inExclusionRange(range: ExclusionRange, dteEx: boolean, address: bigint): boolean {
  return range.enabled && (range.allowAll || dteEx) && address >= range.base && address <= range.limit;
}

/** IVMD block types (ACPICA `ACPI_IVRS_TYPE_MEMORY_*`). */
export const IVMD_TYPE = { ALL: 0x20, SELECT: 0x21, RANGE: 0x22 } as const;

/** IVMD flag bits (byte 1; ACPICA `ACPI_IVMD_UNITY`, `_READ`, `_WRITE`, `_EXCLUSION_RANGE`). */
export const IVMD_FLAG = { UNITY: 0x1, IR: 0x2, IW: 0x4, EXCLUSION_RANGE: 0x8 } as const;

/**
 * One IVMD block, by its ACPI fields: `type` 0x20/0x21/0x22, `flags` (byte 1), `deviceId`
 * (bytes 4..5), `auxData` (bytes 6..7: last DeviceID of a 22h range), `startAddress` and
 * `memoryLength` (bytes 16..23, 24..31), both in bytes.
 */
export interface IvmdBlock {
  type: number;
  flags: number;
  deviceId: number;
  auxData: number;
  startAddress: bigint;
  memoryLength: bigint;
}

/** A unity (identity) range a device needs: [start, end) in bytes, with its rights. */
export interface UnityRange {
  start: bigint;
  end: bigint;
  read: boolean;
  write: boolean;
  /** The block was an exclusion range turned into a read/write identity map (Linux). */
  fromExclusion: boolean;
}

/** Whether `block` applies to `deviceId`: 20h every device, 21h its DeviceID, 22h DeviceID..AuxData inclusive; other types none. */
export function ivmdCoversDevice(block: IvmdBlock, deviceId: number): boolean {
  if (block.type === IVMD_TYPE.ALL) return true;
  if (block.type === IVMD_TYPE.SELECT) return deviceId === block.deviceId;
  if (block.type === IVMD_TYPE.RANGE) return deviceId >= block.deviceId && deviceId <= block.auxData;
  return false;
}

const PAGE_ALIGN = (x: bigint): bigint => (x + 0xfffn) & ~0xfffn;

/**
 * The identity range Linux makes of `block` (`init_unity_map_range`), or undefined when the block
 * sets neither Unity nor ExclusionRange (Linux `init_memory_definitions` skips it): start rounded
 * up to 4 KiB, length rounded up to 4 KiB, rights IR/IW from flags bits 1/2, both for an
 * exclusion block.
 */
export function unityRangeOf(block: IvmdBlock): UnityRange | undefined {
  const exclusion = (block.flags & IVMD_FLAG.EXCLUSION_RANGE) !== 0;
  if (!exclusion && (block.flags & IVMD_FLAG.UNITY) === 0) return undefined;
  const start = PAGE_ALIGN(block.startAddress);
  return {
    start,
    end: start + PAGE_ALIGN(block.memoryLength),
    read: exclusion || (block.flags & IVMD_FLAG.IR) !== 0,
    write: exclusion || (block.flags & IVMD_FLAG.IW) !== 0,
    fromExclusion: exclusion,
  };
}

/** Every unity range `deviceId` needs, in block order. */
export function unityRangesFor(blocks: readonly IvmdBlock[], deviceId: number): UnityRange[] {
  const out: UnityRange[] = [];
  for (const b of blocks) {
    if (!ivmdCoversDevice(b, deviceId)) continue;
    const r = unityRangeOf(b);
    if (r && r.end > r.start) out.push(r);
  }
  return out;
}

/**
 * The unity ranges of `deviceId` that hold `address` (bytes), in block order; empty when none.
 * Overlapping blocks are all returned: Linux maps each with its own rights and what the second
 * map of a page does is the IOMMU driver's business, so the caller decides.
 */
export function unityRangesAt(blocks: readonly IvmdBlock[], deviceId: number, address: bigint): UnityRange[] {
  return unityRangesFor(blocks, deviceId).filter((r) => address >= r.start && address < r.end);
}

/**
 * The identity mappings (IOVA = HPA) software must install for `deviceId`'s unity ranges, as
 * src/amdvi/dma/builder.ts takes them; ranges granting neither right are left out (Linux would
 * map them with no rights: the walk faults either way). Overlapping ranges make the builder
 * throw: merge them first if a table needs both.
 */
export function unityMappings(blocks: readonly IvmdBlock[], deviceId: number): AmdV1Mapping[] {
  return unityRangesFor(blocks, deviceId)
    .filter((r) => r.read || r.write)
    .map((r) => ({ iova: r.start, hpa: r.start, size: r.end - r.start, read: r.read, write: r.write }));
}
