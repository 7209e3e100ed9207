/**
 * The AMD-Vi unit's translation caches that interrupt remapping uses: a device-table-entry
 * cache (keyed by DeviceID) and an IRTE cache (keyed by DeviceID and IRTE index). Hardware
 * may keep using a cached copy after software changes the entry in memory until
 * INVALIDATE_DEVTAB_ENTRY / INVALIDATE_INTERRUPT_TABLE / INVALIDATE_IOMMU_ALL covers it
 * (spec 48882 §2.4; sheet §3.4; VirtualBox caches 16 DTEs and 32 IRTEs, `DevIommuAmd.cpp`).
 * The model fills on first use and evicts FIFO at `capacity`, so staleness is
 * deterministic, as src/vtd/iec.ts does for VT-d.
 *
 * Serialisable: plain objects, string keys, bigint raw values.
 */

/** A FIFO cache of `capacity` entries; `order` lists the keys oldest first. */
export interface FifoCache<E> {
  readonly capacity: number;
  readonly entries: Readonly<Record<string, E>>;
  readonly order: readonly string[];
}

/** Defaults, as VirtualBox's (`IOMMU_DEV_CACHE_COUNT` 16, `IOMMU_IRTE_CACHE_COUNT` 32). */
export const DEFAULT_DTE_CACHE_CAPACITY = 16;
export const DEFAULT_IRTE_CACHE_CAPACITY = 32;

export function emptyCache<E>(capacity: number): FifoCache<E> {
  return { capacity, entries: {}, order: [] };
}

export function cacheLookup<E>(cache: FifoCache<E>, key: string): E | undefined {
  return Object.prototype.hasOwnProperty.call(cache.entries, key) ? cache.entries[key] : undefined;
}

/** The cache with `entry` at `key` (replacing any older copy), oldest evicted when full. Capacity 0 caches nothing. */
export function cacheFill<E>(cache: FifoCache<E>, key: string, entry: E): FifoCache<E> {
  if (cache.capacity <= 0) return cache;
  const entries: Record<string, E> = { ...cache.entries, [key]: entry };
  let order = cache.order.includes(key) ? [...cache.order] : [...cache.order, key];
  while (order.length > cache.capacity) {
    const oldest = order[0];
    if (oldest !== undefined) delete entries[oldest];
    order = order.slice(1);
  }
  return { capacity: cache.capacity, entries, order };
}

/** The cache without the keys `drop` selects, and those keys (oldest first). Same object when none match. */
export function cacheDrop<E>(cache: FifoCache<E>, drop: (key: string) => boolean): { cache: FifoCache<E>; dropped: string[] } {
  const dropped = cache.order.filter(drop);
  if (dropped.length === 0) return { cache, dropped };
  const entries: Record<string, E> = { ...cache.entries };
  for (const k of dropped) delete entries[k];
  return { cache: { capacity: cache.capacity, entries, order: cache.order.filter((k) => !drop(k)) }, dropped };
}

/** DTE cache key: the DeviceID in decimal. */
export const dteKey = (deviceId: number): string => String(deviceId);

/** IRTE cache key: `deviceId:index`. */
export const irteKey = (deviceId: number, index: number): string => `${deviceId}:${index}`;

/** True when an IRTE cache key belongs to `deviceId`. */
export const irteKeyOfDevice = (key: string, deviceId: number): boolean => key.startsWith(`${deviceId}:`);
