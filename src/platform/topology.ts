/**
 * Which remapping unit (DRHD) handles a requester ID (VT-d §8.3 "DMA Remapping
 * Hardware Unit Definition Structure"): the unit whose device scope names the
 * endpoint, the IOAPIC/HPET, or a bridge whose bus range holds it; otherwise the
 * segment's INCLUDE_PCI_ALL unit; otherwise none (requests pass unremapped).
 */
import type { IommuUnit, PlatformState } from './state.ts';


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
