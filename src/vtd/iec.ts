/**
 * Interrupt Entry Cache (VT-d §6.5.2.7 "Interrupt Entry Cache Invalidation"):
 * the remapping hardware may cache IRTEs and keep using a cached copy after software
 * changes the entry in memory, until an IEC invalidation covers it. The model caches
 * on first use and evicts FIFO at `capacity`, so staleness is deterministic.
 *
 * Representation (src/platform/state.ts `IecTrie`): entries live in a persistent radix trie
 * keyed by the 16-bit IRTE index, four levels of 16 slots; `order` lists the cached indices
 * oldest first. A fill copies the four 16-slot nodes on the new index's path (and on the
 * evicted one's) plus `order`, never the whole cache: copying a 64-key record per IEC miss
 * cost more than the rest of the miss (BENCHMARKS.md, issue 15 goal 2). A node left with no
 * entry is removed, so two caches with the same entries have structurally equal tries.
 */
import type { InterruptEntryCache, IecEntry, IecTrie } from '../platform/state.ts';
import { FREEZE_STATES } from '../platform/freeze-mode.ts';

/** Default IEC size in entries. Real sizes are not architectural; this one is small enough that eviction happens in tests. */
export const DEFAULT_IEC_CAPACITY = 64;

type Node = (Node | IecEntry | undefined)[];
const EMPTY_TRIE: IecTrie = Object.freeze([]);
const EMPTY_ORDER: readonly number[] = Object.freeze([]);

export function emptyIec(capacity = DEFAULT_IEC_CAPACITY): InterruptEntryCache {
  return { capacity, entries: EMPTY_TRIE, order: EMPTY_ORDER };
}

/** The cached entry for `index` (an IRTE index, 0..65535), if any. */
export function iecLookup(iec: InterruptEntryCache, index: number): IecEntry | undefined {
  return iec.entries[(index >>> 12) & 15]?.[(index >>> 8) & 15]?.[(index >>> 4) & 15]?.[index & 15];
}

/** Every cached entry with its index, oldest first (what dumps and reports list). */
export function iecEntries(iec: InterruptEntryCache): { readonly index: number; readonly entry: IecEntry }[] {
  return iec.order.map((index) => ({ index, entry: iecLookup(iec, index)! }));
}

/** 16 undefined slots, packed (no holes): V8 copies a packed array with a memcpy-like `slice`. */
// Not frozen: V8 slices a frozen array an order of magnitude slower (nothing writes into it: copyNode copies it).
const EMPTY_NODE: readonly undefined[] = Array.from({ length: 16 }, () => undefined);

/** A node copied for writing: `node` itself is shared by older caches and never changed. */
function copyNode(node: Node | undefined): Node {
  // Every node has 16 slots (the empty root has none), so equal entries give equal tries.
  if (node === undefined || node.length === 0) return EMPTY_NODE.slice();
  return node.slice();
}

function isEmpty(node: Node): boolean {
  for (let i = 0; i < 16; i++) if (node[i] !== undefined) return false;
  return true;
}

/** `trie` with `index` set to `entry` (undefined: removed, pruning nodes left empty). */
function trieSet(trie: IecTrie, index: number, entry: IecEntry | undefined): IecTrie {
  const k0 = (index >>> 12) & 15;
  const k1 = (index >>> 8) & 15;
  const k2 = (index >>> 4) & 15;
  const k3 = index & 15;
  const n0 = copyNode(trie as Node);
  const n1 = copyNode(n0[k0] as Node | undefined);
  const n2 = copyNode(n1[k1] as Node | undefined);
  const n3 = copyNode(n2[k2] as Node | undefined);
  n3[k3] = entry;
  if (entry === undefined) {
    // Prune bottom-up so that the trie's shape depends only on its entries.
    n2[k2] = isEmpty(n3) ? undefined : n3;
    n1[k1] = isEmpty(n2) ? undefined : n2;
    n0[k0] = isEmpty(n1) ? undefined : n1;
    if (isEmpty(n0)) return EMPTY_TRIE;
  } else {
    n2[k2] = n3;
    n1[k1] = n2;
    n0[k0] = n1;
  }
  return freeze4(n0, n1, n2, n3);
}

/**
 * `trie` with `index` set to `entry` and `evict` removed (pruning nodes left empty), in one
 * copy of the two paths: the nodes they share are copied once (a fill that evicts, the IEC
 * miss path). `evict` must be another index than `index`.
 */
function trieReplace(trie: IecTrie, index: number, entry: IecEntry, evict: number): IecTrie {
  // Written out level by level (no key or path arrays): this is the whole of an IEC miss's cache work.
  const s0 = (index >>> 12) & 15, s1 = (index >>> 8) & 15, s2 = (index >>> 4) & 15, s3 = index & 15;
  const d0 = (evict >>> 12) & 15, d1 = (evict >>> 8) & 15, d2 = (evict >>> 4) & 15, d3 = evict & 15;
  // The inserted index's path, copied.
  const n0 = copyNode(trie as Node);
  const n1 = copyNode(n0[s0] as Node | undefined);
  n0[s0] = n1;
  const n2 = copyNode(n1[s1] as Node | undefined);
  n1[s1] = n2;
  const n3 = copyNode(n2[s2] as Node | undefined);
  n2[s2] = n3;
  n3[s3] = entry;
  // The evicted index's path: shared with the inserted one down to where their keys differ,
  // copied below that. An evicted index that is not in the trie leaves it as it is.
  const old1 = n0[d0] as Node | undefined;
  if (old1 === undefined) return freeze4(n0, n1, n2, n3);
  const e1 = d0 === s0 ? n1 : copyNode(old1);
  const old2 = e1[d1] as Node | undefined;
  if (old2 === undefined) return freeze4(n0, n1, n2, n3);
  const e2 = d0 === s0 && d1 === s1 ? n2 : copyNode(old2);
  const old3 = e2[d2] as Node | undefined;
  if (old3 === undefined) return freeze4(n0, n1, n2, n3);
  const e3 = d0 === s0 && d1 === s1 && d2 === s2 ? n3 : copyNode(old3);
  n0[d0] = e1;
  e1[d1] = e2;
  e2[d2] = e3;
  e3[d3] = undefined;
  // Prune bottom-up so that the trie's shape depends only on its entries.
  if (isEmpty(e3)) {
    e2[d2] = undefined;
    if (isEmpty(e2)) {
      e1[d1] = undefined;
      if (isEmpty(e1)) n0[d0] = undefined;
    }
  }
  if (FREEZE_STATES) {
    Object.freeze(e1);
    Object.freeze(e2);
    Object.freeze(e3);
  }
  return freeze4(n0, n1, n2, n3);
}

/** Freeze a copied path in debug mode (src/platform/freeze-mode.ts); the root, as a trie. */
function freeze4(n0: Node, n1: Node, n2: Node, n3: Node): IecTrie {
  if (FREEZE_STATES) {
    Object.freeze(n3);
    Object.freeze(n2);
    Object.freeze(n1);
    Object.freeze(n0);
  }
  return n0 as IecTrie;
}

/** The cache with `entry` stored at `index`, evicting the oldest entry when full. */
export function iecFill(iec: InterruptEntryCache, index: number, entry: IecEntry): InterruptEntryCache {
  if (iec.capacity <= 0) return iec;
  const cached = iecLookup(iec, index) !== undefined;
  if (!cached && iec.order.length === iec.capacity) {
    // Full, the usual miss: insert and evict the oldest in one copy of the two paths.
    const kept = iec.order.slice(1);
    kept.push(index);
    return finish(iec.capacity, trieReplace(iec.entries, index, entry, iec.order[0]!), kept, entry);
  }
  let entries = trieSet(iec.entries, index, entry);
  let order: readonly number[];
  // Already cached (the trie says so in O(1)): replaced in place, its FIFO position kept.
  if (cached) order = iec.order;
  else if (iec.order.length < iec.capacity) {
    const grown = iec.order.slice();
    grown.push(index);
    order = grown;
  }
  else {
    // Full: the oldest entries go, FIFO (a smaller capacity than the order's length cannot be
    // built, but evicting down to it keeps the invariant whatever the input).
    const drop = iec.order.length - iec.capacity + 1;
    for (let i = 0; i < drop; i++) entries = trieSet(entries, iec.order[i]!, undefined);
    const kept = iec.order.slice(drop);
    kept.push(index);
    order = kept;
  }
  return finish(iec.capacity, entries, order, entry);
}

function finish(capacity: number, entries: IecTrie, order: readonly number[], entry: IecEntry): InterruptEntryCache {
  if (FREEZE_STATES) {
    // Debug mode (src/platform/freeze-mode.ts): frozen as the platform's state is (DESIGN.md §2).
    Object.freeze(entry.irte);
    Object.freeze(entry);
    Object.freeze(order);
    return Object.freeze({ capacity, entries, order });
  }
  return { capacity, entries, order };
}

/**
 * Drop cached entries: all of them (`count` undefined, global invalidation) or the
 * `count` entries starting at `index` (index-selective; `count` = 2^IM, and the
 * hardware ignores the low IM bits of IIDX, VT-d §6.5.2.7).
 */
export function iecInvalidate(iec: InterruptEntryCache, index?: number, count?: number): { iec: InterruptEntryCache; dropped: number[] } {
  if (index === undefined || count === undefined) {
    return { iec: { capacity: iec.capacity, entries: EMPTY_TRIE, order: EMPTY_ORDER }, dropped: [...iec.order] };
  }
  const first = index - (index % count);
  const covered = (i: number): boolean => i >= first && i < first + count;
  const dropped = iec.order.filter(covered);
  if (dropped.length === 0) return { iec, dropped };
  let entries = iec.entries;
  for (const i of dropped) entries = trieSet(entries, i, undefined);
  return { iec: { capacity: iec.capacity, entries, order: iec.order.filter((i) => !covered(i)) }, dropped };
}
