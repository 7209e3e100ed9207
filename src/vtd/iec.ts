/**
 * Interrupt Entry Cache (VT-d §6.5.2.7 "Interrupt Entry Cache Invalidation"):
 * the remapping hardware may cache IRTEs and keep using a cached copy after software
 * changes the entry in memory, until an IEC invalidation covers it. The model caches
 * on first use and evicts FIFO at `capacity`, so staleness is deterministic.
 */
import type { InterruptEntryCache, IecEntry } from '../platform/state.ts';

/** Default IEC size in entries. Real sizes are not architectural; this one is small enough that eviction happens in tests. */
export const DEFAULT_IEC_CAPACITY = 64;

export function emptyIec(capacity = DEFAULT_IEC_CAPACITY): InterruptEntryCache {
  return { capacity, entries: {}, order: [] };
}

/** The cached entry for `index`, if any. */
export function iecLookup(iec: InterruptEntryCache, index: number): IecEntry | undefined {
  return iec.entries[index];
}

/** The cache with `entry` stored at `index`, evicting the oldest entry when full. */
export function iecFill(iec: InterruptEntryCache, index: number, entry: IecEntry): InterruptEntryCache {
  if (iec.capacity <= 0) return iec;
  const entries: Record<number, IecEntry> = { ...iec.entries, [index]: entry };
  let order = iec.order.includes(index) ? iec.order : [...iec.order, index];
  while (order.length > iec.capacity) {
    const [oldest, ...rest] = order;
    if (oldest !== undefined) delete entries[oldest];
    order = rest;
  }
  // Frozen here, as the platform's state is (DESIGN.md §2): the cache is built on the
  // MSI read path, outside immer, and freezing it whole at creation is cheaper than
  // having the transition walk its entries afterwards.
  Object.freeze(entry.irte);
  Object.freeze(entry);
  Object.freeze(order);
  return Object.freeze({ capacity: iec.capacity, entries: Object.freeze(entries), order });
}

/**
 * Drop cached entries: all of them (`count` undefined, global invalidation) or the
 * `count` entries starting at `index` (index-selective; `count` = 2^IM, and the
 * hardware ignores the low IM bits of IIDX, VT-d §6.5.2.7).
 */
export function iecInvalidate(iec: InterruptEntryCache, index?: number, count?: number): { iec: InterruptEntryCache; dropped: number[] } {
  if (index === undefined || count === undefined) {
    return { iec: { capacity: iec.capacity, entries: {}, order: [] }, dropped: [...iec.order] };
  }
  const first = index - (index % count);
  const covered = (i: number): boolean => i >= first && i < first + count;
  const dropped = iec.order.filter(covered);
  if (dropped.length === 0) return { iec, dropped };
  const entries: Record<number, IecEntry> = { ...iec.entries };
  for (const i of dropped) delete entries[i];
  return { iec: { capacity: iec.capacity, entries, order: iec.order.filter((i) => !covered(i)) }, dropped };
}
