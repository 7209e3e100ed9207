/**
 * The vendor seam: the one place that says which remapping hardware handles a request. A
 * platform is of one vendor (`vendorOf`): VT-d units live in `PlatformState.iommus`, AMD-Vi
 * units in `PlatformState.amdvi.units`, and `PciFunction.iommu` indexes the vendor's list. Each
 * vendor supplies the same paths, with the same signatures and the same outcome events
 * (docs/amd-vi.md "The vendor seam"):
 *
 * - `interrupt`: a DWORD write to 0xFEEx_xxxx from a function with a unit → exactly one of
 *   `interrupt-delivered` / `interrupt-posted` / `interrupt-fault` (plus the vendor's own
 *   bookkeeping events before it);
 * - `dma`: any other request (not to the interrupt range without PASID) → `dma-access` or
 *   `dma-fault`.
 *
 * The hot paths test one field (`state.amdvi !== undefined`, in src/platform/device-write.ts
 * and src/platform/dma-access.ts) and call through this table only for a non-default vendor, so
 * the VT-d paths run exactly as before. Adding ARM SMMU or RISC-V IOMMU: a state field for its
 * units, one entry here, its glue in `src/platform/<vendor>-*.ts`, and one more field test at
 * the two call sites (or a `vendor` tag once there are three).
 */
import type { PlatformState, PciFunction } from './state.ts';
import type { PlatformEvent } from './events.ts';
import type { RaisedInterrupt } from './notification.ts';
import type { DmaAccess } from './dma-access.ts';
import { deliverDeviceWrite } from './device-write.ts';
import { deviceDma } from './dma-access.ts';
import { remapInterruptAmdPlatform } from './amdvi-interrupt.ts';
import { amdDeviceDma } from './amdvi-dma.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type VendorEmit = (event: DistributiveOmit<PlatformEvent, 'step'>) => void;

export type Vendor = 'vtd' | 'amdvi';

/** What each vendor implements. */
export interface VendorPaths {
  /** An interrupt request `address`/`data` from `fn`, carrying requester ID `rid` at the root complex; `fn.iommu` is set. */
  readonly interrupt: (state: PlatformState, fn: PciFunction, rid: number, address: bigint, data: number, emit: VendorEmit, raised: RaisedInterrupt[]) => PlatformState;
  /** A DMA request (not an interrupt request). */
  readonly dma: (state: PlatformState, access: DmaAccess, emit: VendorEmit, raised: RaisedInterrupt[]) => PlatformState;
}

/**
 * The vendors' paths. `vtd` names the entry points that hold the VT-d code inline (the default
 * path of device-write.ts / dma-access.ts); `amdvi` is src/platform/amdvi-*.ts.
 */
export const VENDOR_PATHS: { readonly [V in Vendor]: VendorPaths } = {
  vtd: {
    interrupt: (state, fn, rid, address, data, emit, raised) => deliverDeviceWrite(state, fn, rid, address, data, emit, raised),
    dma: (state, access, emit, raised) => deviceDma(state, access, emit, raised),
  },
  amdvi: {
    interrupt: (state, fn, rid, address, data, emit, raised) => remapInterruptAmdPlatform(state, fn, rid, address, data, emit, raised),
    dma: (state, access, emit, raised) => amdDeviceDma(state, access, emit, raised),
  },
};

/** The platform's vendor: one field test. */
export function vendorOf(state: Pick<PlatformState, 'amdvi'>): Vendor {
  return state.amdvi === undefined ? 'vtd' : 'amdvi';
}

/** How many remapping units the platform has, whatever the vendor. */
export function unitCount(state: Pick<PlatformState, 'amdvi' | 'iommus'>): number {
  return state.amdvi === undefined ? state.iommus.length : state.amdvi.units.length;
}

/** Name of unit `index` (`dmar<n>` / `ivhd<n>`), or undefined when there is none. */
export function unitName(state: Pick<PlatformState, 'amdvi' | 'iommus'>, index: number | undefined): string | undefined {
  if (index === undefined) return undefined;
  return state.amdvi === undefined ? state.iommus[index]?.name : state.amdvi.units[index]?.name;
}
