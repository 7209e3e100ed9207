/**
 * HYPOTHETICAL direct-post table cache (DPTC) of one remapping unit. No specification has
 * it: remapsim's direct-post extension (/tmp/briefs/directpost.md) caches, like the VT-d IEC
 * (src/vtd/iec.ts), the decoded vAPIC entry a lookup used, together with the root entry it
 * came through, so a later request hits it even when the tables in memory have changed —
 * stale until a direct-post invalidation (descriptor type 0xE, src/hypothetical/direct-post/
 * table.ts) covers it, or until FIFO eviction at `capacity` entries.
 *
 * Key: `sid:vapicId` (key source-id) or `*:vapicId` (key vapic-id: the hardware does not look
 * at the source-id at all, which is what makes that variant broken). Only successful lookups
 * (present, no reserved bits) are cached; a faulting one reads memory again next time.
 */
import type { RootEntry, VapicEntry, DptInvalidation } from './table.ts';

/** Which lookup key the hardware uses (platform.directPost.key). */
export type DirectPostKey = 'source-id' | 'vapic-id';

/** One cached translation. */
export interface DptcEntry {
  /** Requester ID it was looked up for (recorded also for key vapic-id, where it is not part of the key). */
  readonly sid: number;
  readonly vapicId: number;
  /** The root entry the lookup went through (key source-id); undefined for key vapic-id. */
  readonly root: RootEntry | undefined;
  readonly entry: VapicEntry;
}

/** The cache: entries by key, keys oldest first. */
export interface DirectPostCache {
  readonly entries: Readonly<Record<string, DptcEntry>>;
  readonly order: readonly string[];
}

/** An empty cache. */
export function emptyDirectPostCache(): DirectPostCache {
  return { entries: {}, order: [] };
}

/** The cache key for a request from `sid` naming `vapicId`. */
export function dptcKey(key: DirectPostKey, sid: number, vapicId: number): string {
  return key === 'vapic-id' ? `*:${vapicId}` : `${sid}:${vapicId}`;
}

/** The cached entry for `k`, if any. */
export function dptcLookup(cache: DirectPostCache, k: string): DptcEntry | undefined {
  return cache.entries[k];
}

/**
 * `cache` with `entry` inserted under `k`, evicting the oldest entries beyond `capacity`
 * (capacity 0: nothing is cached). Returns a new cache; the argument is not changed.
 */
export function dptcInsert(cache: DirectPostCache, k: string, entry: DptcEntry, capacity: number): DirectPostCache {
  if (capacity <= 0) return cache;
  const entries: Record<string, DptcEntry> = { ...cache.entries, [k]: entry };
  const order = cache.order.filter((o) => o !== k);
  order.push(k);
  while (order.length > capacity) delete entries[order.shift()!];
  return { entries, order };
}

/**
 * `cache` after an invalidation: global drops everything; source drops every entry looked
 * up for `sid`; entry drops the one for (`sid`, `vapicId`). With key vapic-id the source-id
 * is not part of the key, so 'source' drops by the source-id recorded with the entry and
 * 'entry' drops the vAPIC ID's entry whoever it was looked up for (the hardware cannot
 * tell); the two key forms cannot collide (`*:` vs a number), so the cache needs no key.
 * Returns the cache and how many entries were dropped.
 */
export function dptcInvalidate(cache: DirectPostCache, inv: DptInvalidation): { cache: DirectPostCache; dropped: number } {
  const one = dptcKey('source-id', inv.sid, inv.vapicId);
  const shared = dptcKey('vapic-id', inv.sid, inv.vapicId);
  const covers = (k: string, e: DptcEntry): boolean => {
    switch (inv.granularity) {
      case 'global':
        return true;
      case 'source':
        return e.sid === inv.sid;
      case 'entry':
        return k === one || k === shared;
    }
  };
  const entries: Record<string, DptcEntry> = {};
  const order: string[] = [];
  for (const k of cache.order) {
    const e = cache.entries[k]!;
    if (covers(k, e)) continue;
    entries[k] = e;
    order.push(k);
  }
  const dropped = cache.order.length - order.length;
  return dropped === 0 ? { cache, dropped } : { cache: { entries, order }, dropped };
}
