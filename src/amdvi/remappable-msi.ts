/**
 * An MSI as AMD-Vi sees it (spec 48882 §2.2.5; QEMU `hw/i386/amd_iommu.c`
 * `__amdvi_int_remap_msi` / `amdvi_get_irte` with `AMDVI_IRTE_OFFSET 0x7ff`; VirtualBox
 * `IOMMU_GET_IRTE_OFF`; Linux `drivers/iommu/amd/iommu.c` `fill_msi_msg`). Fact sheets
 * spec-facts.md §9.2, amdvi-facts.md §3.2 and §4.1.
 *
 * Unlike VT-d there is no remappable format: the device writes an ordinary compatibility
 * MSI to 0xFEEx_xxxx, its address is left alone, and the IRTE index is data[10:0] into the
 * device's own table (the DTE's). data[10:8] also reads as the MSI delivery mode, which
 * decides whether the IRTE is used at all, so only indices 0..511 (fixed / arbitrated) ever
 * reach the table — why Linux sizes tables at 512 (sheet §4.1).
 */
import { MSI_ADDRESS_BASE } from '../x86/msi.ts';
import { u32Arg, uintArg, type UintInput } from '../bits/uint-arg.ts';

/** MSI data bits 10:0: the IRTE index. */
export const AMD_IRTE_INDEX_MASK = 0x7ff;

/** Linux's MSI address for every remapped vector: 0xFEE00000 (`X86_MSI_BASE_ADDRESS_LOW`), high dword 0. */
export const AMD_REMAPPED_MSI_ADDRESS = BigInt(MSI_ADDRESS_BASE) << 20n;

/** An MSI as AMD-Vi decodes it. */
export interface AmdMsi {
  /** IRTE index: data[10:0]. */
  readonly index: number;
  /** data[10:8], the delivery mode: decides pass / block / remap (sheet §3.2). */
  readonly deliveryMode: number;
  /** data[7:0] (the vector when the interrupt is forwarded unremapped). */
  readonly vector: number;
  /** Address bit 2, DM: must be 0 for every mode but fixed / arbitrated (VirtualBox, QEMU). */
  readonly addressDestinationModeLogical: boolean;
  /** Address bits 19:12: the destination when the interrupt is forwarded unremapped. */
  readonly addressDestination: number;
}

/** The IRTE index an MSI data word selects: data[10:0]. */
export function amdIrteIndexOf(data: number): number {
  return data & AMD_IRTE_INDEX_MASK;
}

/**
 * Split an MSI into what AMD-Vi uses: only the low 32 bits of the address and data are read.
 * Each may be a number or a bigint (`decodeAmdMsi(0xfee00000, 0x0401)`).
 * A number means what the same bigint means (a safe integer is exact).
 * @throws RangeError naming `address` or `data` when it is a number that is not a safe
 *   integer (1.5, NaN, 2^53: src/bits/uint-arg.ts).
 */
export function decodeAmdMsi(address: UintInput, data: UintInput): AmdMsi {
  const low = Number(BigInt.asUintN(32, uintArg(address, 'address')));
  data = u32Arg(data, 'data');
  return {
    index: data & AMD_IRTE_INDEX_MASK,
    deliveryMode: (data >>> 8) & 7,
    vector: data & 0xff,
    addressDestinationModeLogical: ((low >>> 2) & 1) === 1,
    addressDestination: (low >>> 12) & 0xff,
  };
}

/**
 * True when `index` lies inside a table of 2^intTabLen entries. Outside → IO_PAGE_FAULT with
 * I = 1, PR = 0 (VirtualBox `iommuAmdIrteRead`; QEMU does not check; sheet §4.1).
 */
export function amdIndexInTable(index: number, intTabLen: number): boolean {
  return index < 2 ** intTabLen;
}

/**
 * The MSI address/data pair Linux programs for IRTE `index` (`fill_msi_msg`): address
 * 0xFEE00000, DM (bit 2) set only with 2K interrupt-remap support (EFR2 NumIntRemapSup)
 * whatever the IRTE's DM; data = index.
 * @throws RangeError when `index` is not in 0..2047.
 */
export function composeAmdRemappedMsi(index: number, twoKMode = false): { address: bigint; data: number } {
  if (!Number.isInteger(index) || index < 0 || index > AMD_IRTE_INDEX_MASK) {
    throw new RangeError(`AMD-Vi IRTE index ${index} is not in 0..2047`);
  }
  return { address: AMD_REMAPPED_MSI_ADDRESS | (twoKMode ? 4n : 0n), data: index };
}
