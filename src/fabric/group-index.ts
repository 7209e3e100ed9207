/**
 * The IOMMU group of each function of a fabric, computed once per fabric (a fabric
 * never changes during a run) so that a hypervisor policy can ask for a device's group
 * in constant time.
 */
import type { Fabric } from './model.ts';
import { iommuGroups, type IommuGroup } from './groups.ts';

const cache = new WeakMap<Fabric, ReadonlyMap<string, IommuGroup>>();

/** The group holding function `key`, or undefined for a key the fabric does not have. */
export function groupOf(fabric: Fabric, key: string): IommuGroup | undefined {
  let index = cache.get(fabric);
  if (index === undefined) {
    const m = new Map<string, IommuGroup>();
    for (const g of iommuGroups(fabric)) for (const d of g.devices) m.set(d, g);
    index = m;
    cache.set(fabric, index);
  }
  return index.get(key);
}
