/**
 * Which remapping unit (DRHD) handles a requester ID (VT-d §8.3 "DMA Remapping
 * Hardware Unit Definition Structure"): the unit whose device scope names the
 * endpoint, the IOAPIC/HPET, or a bridge whose bus range holds it; otherwise the
 * segment's INCLUDE_PCI_ALL unit; otherwise none (requests pass unremapped).
 */
import type { IommuUnit, PlatformState } from './state.ts';
import type { AmdViScope } from './amdvi-build.ts';


function inScope(unit: IommuUnit, rid: number, upstream: readonly number[]): boolean {
  const bus = rid >> 8;
  const s = unit.scope;
  return (
    s.endpoints.includes(rid) ||
    s.bridges.some((b) => b === rid || upstream.includes(b)) ||
    s.ioapics.some((x) => x.rid === rid) ||
    s.hpets.some((x) => x.rid === rid) ||
    s.busRanges.some(([first, last]) => bus >= first && bus <= last)
  );
}

/**
 * Index of the unit handling a function at `rid` in `segment` below the bridges
 * `upstream`, or undefined when no unit covers it. Scope is fixed by the firmware, so
 * the platform resolves this once per function at build (`PciFunction.iommu`).
 */
export function unitFor(state: Pick<PlatformState, 'iommus'>, segment: number, rid: number, upstream: readonly number[] = []): number | undefined {
  const inSegment = state.iommus.filter((u) => u.segment === segment);
  const explicit = inSegment.find((u) => !u.includePciAll && inScope(u, rid, upstream));
  return (explicit ?? inSegment.find((u) => u.includePciAll))?.index;
}

/**
 * Index of the AMD-Vi unit covering requester ID `rid` in `segment`, or undefined when none does.
 * As Linux builds its rlookup table (drivers/iommu/amd/init.c `init_iommu_from_acpi` →
 * `set_iommu_for_device`, IVHDs in table order): every unit whose scope names `rid` — a device
 * range (01h all, 02h select, 03h–04h range, 42h/43h alias select / range, which name the alias
 * target too, 46h/47h extended), or a special entry's source ID — claims it, and the last claim
 * wins. The IOMMU's own function is not in its own scope (Linux removes it).
 */
export function amdUnitFor(units: readonly { readonly segment: number; readonly deviceId: number; readonly scope: AmdViScope }[], segment: number, rid: number): number | undefined {
  let found: number | undefined;
  units.forEach((u, i) => {
    if (u.segment !== segment || u.deviceId === rid) return;
    const s = u.scope;
    if (s.ranges.some((r) => (rid >= r.first && rid <= r.last) || r.aliasTo === rid) || s.specials.some((x) => x.rid === rid)) found = i;
  });
  return found;
}
