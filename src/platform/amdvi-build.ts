/**
 * Building the AMD-Vi side of a platform (the vendor seam, src/platform/vendor.ts): the units
 * from their descriptions (src/amdvi/unit.ts `emptyAmdViUnit`: registers after reset, caches
 * empty) and where the vCPUs' AVIC backing pages go. Which unit covers a function is
 * src/platform/topology.ts `amdUnitFor`, from the scope the IVHD device entries give.
 */
import { emptyAmdViUnit, type AmdViUnit, type AmdViUnitDescription } from '../amdvi/unit.ts';
import { AVIC_BACKING_PAGE_BYTES } from '../x86/avic.ts';

/**
 * What an IVHD's device entries say a unit covers (Linux `init_iommu_from_acpi`, src/amdvi/ivrs/
 * model.ts `deviceRanges`): inclusive DeviceID ranges (`all` = 0000..FFFF of the unit's segment),
 * with the alias a range's requests carry, and the IOAPIC / HPET special entries (handle = IOAPIC
 * ID or HPET number, `rid` the source DeviceID).
 */
export interface AmdViScope {
  readonly ranges: readonly { readonly first: number; readonly last: number; readonly aliasTo?: number }[];
  readonly specials: readonly { readonly variety: 'ioapic' | 'hpet'; readonly handle: number; readonly rid: number }[];
}

/** One unit of an AMD-Vi platform description (`index` is its position). */
export type AmdViUnitSpec = Omit<AmdViUnitDescription, 'index'> & { readonly scope: AmdViScope };

/** The AMD-Vi part of a PlatformDescription (src/platform/build.ts). */
export interface AmdViPlatformDescription {
  readonly units: readonly AmdViUnitSpec[];
}

/**
 * Where vCPUs' AVIC vAPIC backing pages go on an AMD platform: one 4 KiB page each from this HPA
 * (the VT-d PID base, DEFAULT_PID_BASE, at page stride: a backing page must be 4 KiB aligned,
 * AMD APM vol. 2 §15.29.3.1).
 */
export const DEFAULT_AVIC_BACKING_BASE = 0x4000_0000n;

/** Bytes between consecutive vCPUs' backing pages. */
export const AVIC_BACKING_STRIDE = AVIC_BACKING_PAGE_BYTES;

/**
 * The units after reset. @throws RangeError for a bad description (src/amdvi/unit.ts
 * `emptyAmdViUnit`).
 */
export function buildAmdViUnits(d: AmdViPlatformDescription): AmdViUnit[] {
  return d.units.map((u, index) => {
    const { scope: _scope, ...desc } = u;
    return emptyAmdViUnit({ ...desc, index });
  });
}

/**
 * Backing page address of vCPU `id` from `base`.
 * @throws RangeError when `base` is not 4 KiB aligned.
 */
export function avicBackingPage(base: bigint, id: number): bigint {
  if ((base & 0xfffn) !== 0n) throw new RangeError(`AVIC backing page base 0x${base.toString(16)} is not 4 KiB aligned`);
  return base + BigInt(id) * BigInt(AVIC_BACKING_STRIDE);
}
