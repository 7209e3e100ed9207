/**
 * VT-d DMA-remapping translation caches as pure immutable data: context cache, PASID cache,
 * IOTLB and second-stage paging-structure cache (VT-d spec §6.2, invalidation §6.5; reference
 * sheet §7.3, §7.4). Every function returns a new {@link DmaCaches} and never mutates its input;
 * the state is plain objects and arrays (no Map, no class), so immer can draft it.
 *
 * Eviction is FIFO per cache: entries are kept in insertion order and the oldest is dropped
 * when a cache is full. FIFO rather than LRU so that a lookup is a pure query with no state
 * change (an LRU hit would have to return new caches) [modelling choice; the spec leaves the
 * replacement policy to the implementation].
 *
 * Caching is what makes missing invalidations observable: after a paging entry changes in
 * memory, {@link lookupDma} still returns the old translation until an invalidation removes it.
 *
 * Coherence (P4, src/properties/p4-coherence.ts): when the hypervisor completes an invalidation
 * wait it claims that every entry it changed before is out of the caches. {@link settleDmaCaches}
 * checks every entry still cached against memory at that moment and marks `stale` those whose
 * source changed (an entry the hypervisor's invalidations did not cover); every later use of a
 * marked entry — a context or PASID entry or an IOTLB entry on a hit, a paging-structure entry
 * a walk starts from — is reported ({@link StaleCacheUse}). A use of a changed entry before the
 * wait completes is not: the invalidation is still in flight. Each entry records what is needed
 * to fetch its source again: the requester ID (and PASID) of the request that filled an IOTLB
 * entry, the level count of a paging-structure entry's second stage.
 */
import type { PhysicalMemory } from '../../memory/physical-memory.ts';
import { FREEZE_STATES } from '../../platform/freeze-mode.ts';
import {
  CONTEXT_TT,
  LEGACY_CONTEXT_ENTRY,
  LEGACY_ROOT_ENTRY,
  PASID_DIR_ENTRY,
  PASID_ENTRY,
  PGTT,
  PTE_ADDR_MASK,
  PTE_BITS,
  RTADDR,
  SCALABLE_CONTEXT_ENTRY,
  SCALABLE_ROOT_ENTRY,
  TTM,
  frameAddress,
  levelIndex,
  levelPageSize,
  pasidDirectoryEntries,
} from './structures.ts';
import {
  translateDma,
  type DmaConfig,
  type DmaRequest,
  type DmaTranslation,
  type DmaWalkResult,
  type MemoryReference,
  type Permissions,
  type SecondStageStart,
  type TranslationType,
} from './walk.ts';
import type {
  ContextCacheInvalidation,
  DmaInvalidation,
  IotlbInvalidation,
  PasidCacheInvalidation,
  PasidIotlbInvalidation,
} from './invalidation-dma.ts';

/** Capacities in entries. */
export interface CacheCapacities {
  context: number;
  pasid: number;
  iotlb: number;
  pagingStructure: number;
}

/** Small defaults, so eviction shows up in scenarios. */
export const DEFAULT_CACHE_CAPACITIES: Readonly<CacheCapacities> = Object.freeze({ context: 16, pasid: 16, iotlb: 64, pagingStructure: 32 });

/**
 * A cached context entry, looked up by requester ID. `did` tags legacy entries (context DID) for
 * domain-selective invalidation; scalable entries carry no DID (it lives in PASID entries) and
 * are dropped by every domain-selective invalidation [derived: conservative]. `entry` is the raw
 * 128-bit (legacy) or 256-bit (scalable) context entry.
 */
export interface ContextCacheEntry {
  rid: number;
  mode: 'legacy' | 'scalable';
  did?: number;
  entry: bigint;
  /** The context entry in memory changed before an invalidation wait completed, and no invalidation dropped this one ({@link settleDmaCaches}). */
  stale?: true;
}

/** A cached scalable-mode PASID-table entry (raw 512 bits), looked up by (rid, PASID), tagged by its DID. */
export interface PasidCacheEntry {
  rid: number;
  pasid: number;
  did: number;
  entry: bigint;
  /** As {@link ContextCacheEntry.stale}, for the PASID-table entry. */
  stale?: true;
}

/**
 * A cached translation: in domain `did` (and `pasid` in scalable mode), the page of `pageSize`
 * bytes numbered `page` (= IOVA / pageSize) maps to `hpaBase` with `permissions` for requests of
 * privilege `privileged`. `dirty` = writes need no D update. `type` decides which invalidations
 * reach it.
 */
export interface IotlbEntry {
  did: number;
  pasid?: number;
  privileged: boolean;
  type: TranslationType;
  page: bigint;
  pageSize: number;
  hpaBase: bigint;
  permissions: Permissions;
  dirty: boolean;
  /** Requester ID of the request that filled it, and whether that request carried a PASID: how {@link settleDmaCaches} walks it again. */
  rid?: number;
  viaPasid?: boolean;
  /** The tables its translation came from changed before an invalidation wait completed, and no invalidation dropped it. */
  stale?: true;
}

/**
 * A cached non-leaf second-stage entry (PML5E/PML4E/PDPTE/PDE): keyed by DID, second-stage root
 * and the input-address prefix above the entry's level (see walk.ts `SecondStageTableEntry`).
 */
export interface PagingStructureEntry extends SecondStageStart {
  did: number;
  root: bigint;
  prefix: bigint;
  /** Levels of the second stage under `root` (from the context or PASID entry's AW), for {@link settleDmaCaches}. */
  levels?: number;
  /** An entry above it (or it) changed before an invalidation wait completed, and no invalidation dropped it. */
  stale?: true;
}

/**
 * A use of a cache entry marked stale ({@link settleDmaCaches}): which cache, and the entry as it
 * was cached. Plain data (it goes into `dma-access` and `dma-fault` events).
 */
export type StaleCacheUse =
  | { readonly cache: 'context'; readonly rid: number; readonly did?: number; readonly entry: bigint }
  | { readonly cache: 'pasid'; readonly rid: number; readonly pasid: number; readonly did: number; readonly entry: bigint }
  | { readonly cache: 'iotlb'; readonly did: number; readonly pasid?: number; readonly page: bigint; readonly pageSize: number; readonly hpaBase: bigint }
  | { readonly cache: 'paging-structure'; readonly did: number; readonly root: bigint; readonly level: number; readonly prefix: bigint; readonly nextTable: bigint };

/**
 * What a hit needs of the unit's capabilities: without ECAP.RPS requests without PASID use PASID
 * 0 whatever RID_PASID says, without ECAP.RPRIVS they are user requests (walk.ts `DmaCapabilities`).
 */
export interface LookupCapabilities {
  readonly ridPasid?: boolean;
  readonly ridPriv?: boolean;
}

/** All DMA-remapping caches. Arrays are in insertion (FIFO) order, oldest first. */
export interface DmaCaches {
  capacities: CacheCapacities;
  context: ContextCacheEntry[];
  pasid: PasidCacheEntry[];
  iotlb: IotlbEntry[];
  pagingStructure: PagingStructureEntry[];
}

/**
 * Empty caches with the given capacities (entries; default {@link DEFAULT_CACHE_CAPACITIES}).
 * @throws RangeError when a capacity is not a non-negative integer.
 */
export function emptyDmaCaches(capacities: Partial<CacheCapacities> = {}): DmaCaches {
  const c = { ...DEFAULT_CACHE_CAPACITIES, ...capacities };
  for (const [k, v] of Object.entries(c)) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`cache capacity ${k} = ${v} is not a non-negative integer`);
  }
  return { capacities: c, context: [], pasid: [], iotlb: [], pagingStructure: [] };
}

/** `list` without the entries `same` picks, `item` appended, the oldest dropped beyond `capacity`: a new array, in one pass. */
function push<T>(list: readonly T[], item: T, capacity: number, same: (a: T) => boolean): T[] {
  if (capacity === 0) return [];
  const kept: T[] = [];
  for (let i = 0; i < list.length; i++) if (!same(list[i]!)) kept.push(list[i]!);
  kept.push(item);
  return kept.length > capacity ? kept.slice(kept.length - capacity) : kept;
}

/** Result of {@link lookupDma}: a hit with its translation (no memory references), or the cache that missed. */
export type CacheLookup =
  | {
      hit: true;
      hpa: bigint;
      pageSize: number;
      permissions: Permissions;
      type: TranslationType;
      did: number;
      pasid?: number;
      /** The entries of the hit that were marked stale, when any were. */
      stale?: StaleCacheUse[];
    }
  | { hit: false; missed: 'context' | 'pasid' | 'iotlb' | 'permission' | 'dirty' };

/** Shift and offset mask of the page sizes translations have (4 KiB, 2 MiB, 1 GiB): bigint division is several times a shift. */
const PAGE_BITS = new Map<number, { readonly shift: bigint; readonly mask: bigint }>([12, 21, 30].map((b) => [2 ** b, { shift: BigInt(b), mask: (1n << BigInt(b)) - 1n }]));

/** The page number of `address` (≥ 0) in pages of `pageSize` bytes: address / pageSize. */
function pageOf(address: bigint, pageSize: number): bigint {
  const bits = PAGE_BITS.get(pageSize);
  return bits === undefined ? address / BigInt(pageSize) : address >> bits.shift;
}

/** `address` (≥ 0) modulo `pageSize`. */
function offsetInPage(address: bigint, pageSize: number): bigint {
  const bits = PAGE_BITS.get(pageSize);
  return bits === undefined ? address % BigInt(pageSize) : address & bits.mask;
}

/** Bits hi:lo of `raw` as a number (fields of at most 32 bits). */
function field(raw: bigint, spec: { readonly hi: number; readonly lo: number }): number {
  return Number((raw >> BigInt(spec.lo)) & ((1n << BigInt(spec.hi - spec.lo + 1)) - 1n));
}

function requestNeeds(r: DmaRequest): { read: boolean; write: boolean; execute: boolean } {
  const execute = r.execute ?? false;
  return { read: r.read || (!r.write && !execute), write: r.write, execute };
}

/**
 * Look a request up: context cache by rid, then (scalable) the PASID cache by (rid, effective
 * PASID), then the IOTLB by (DID, PASID, privilege, page). Pass-through needs no IOTLB entry.
 * A cached entry whose rights do not allow the request, or a write to an entry whose D is not
 * known set, is reported as a miss: hardware re-walks before faulting or setting D [derived].
 * `cap`: the effective PASID and privilege of requests without PASID follow ECAP.RPS/RPRIVS as
 * the walk does (default: both supported). A hit lists the entries it used that are marked stale.
 */
export function lookupDma(caches: DmaCaches, request: DmaRequest, cap?: LookupCapabilities): CacheLookup {
  const ctx = caches.context.find((c) => c.rid === request.rid);
  if (!ctx) return { hit: false, missed: 'context' };
  const need = requestNeeds(request);
  let did: number;
  let pasid: number | undefined;
  let privileged = false;
  let pc: PasidCacheEntry | undefined;
  // Fields read straight from the raw entries (bit positions of LEGACY_CONTEXT_ENTRY,
  // SCALABLE_CONTEXT_ENTRY and PASID_ENTRY): the generic decode is most of a hit's cost.
  if (ctx.mode === 'legacy') {
    if (request.pasid !== undefined) return { hit: false, missed: 'permission' };
    const tt = field(ctx.entry, LEGACY_CONTEXT_ENTRY.layout.spec.fields.TT);
    const contextDid = field(ctx.entry, LEGACY_CONTEXT_ENTRY.layout.spec.fields.DID);
    if (tt === CONTEXT_TT.PASS_THROUGH) return passThrough(request, 'legacy-pass-through', contextDid, undefined, staleOf(ctx, undefined, undefined));
    did = contextDid;
  } else {
    const f = SCALABLE_CONTEXT_ENTRY.layout.spec.fields;
    if (request.pasid !== undefined && field(ctx.entry, f.PASIDE) === 0) return { hit: false, missed: 'permission' };
    const ridPasid = cap?.ridPasid === false ? 0 : field(ctx.entry, f.RID_PASID);
    pasid = request.pasid ?? ridPasid;
    privileged = request.pasid !== undefined ? (request.privileged ?? false) : cap?.ridPriv !== false && field(ctx.entry, f.RID_PRIV) === 1;
    pc = caches.pasid.find((p) => p.rid === request.rid && p.pasid === pasid);
    if (!pc) return { hit: false, missed: 'pasid' };
    const pf = PASID_ENTRY.layout.spec.fields;
    if ((privileged && field(pc.entry, pf.SRE) === 0) || (need.execute && field(pc.entry, pf.ERE) === 0)) return { hit: false, missed: 'permission' };
    did = field(pc.entry, pf.DID);
    if (field(pc.entry, pf.PGTT) === PGTT.PASS_THROUGH) return passThrough(request, 'pass-through', did, pasid, staleOf(ctx, pc, undefined));
  }
  const e = caches.iotlb.find(
    (t) =>
      t.did === did &&
      t.pasid === pasid &&
      t.privileged === privileged &&
      pageOf(request.iova, t.pageSize) === t.page,
  );
  if (!e) return { hit: false, missed: 'iotlb' };
  if ((need.read && !e.permissions.read) || (need.write && !e.permissions.write) || (need.execute && !e.permissions.execute)) {
    return { hit: false, missed: 'permission' };
  }
  if (need.write && !e.dirty) return { hit: false, missed: 'dirty' };
  const hit: CacheLookup = {
    hit: true,
    hpa: e.hpaBase + offsetInPage(request.iova, e.pageSize),
    pageSize: e.pageSize,
    permissions: e.permissions,
    type: e.type,
    did,
  };
  if (pasid !== undefined) hit.pasid = pasid;
  const stale = staleOf(ctx, pc, e);
  if (stale !== undefined) hit.stale = stale;
  return hit;
}

/** The stale-marked entries among those a hit used (undefined when none: the common case costs three reads). */
function staleOf(ctx: ContextCacheEntry, pc: PasidCacheEntry | undefined, e: IotlbEntry | undefined): StaleCacheUse[] | undefined {
  if (!ctx.stale && !pc?.stale && !e?.stale) return undefined;
  const out: StaleCacheUse[] = [];
  if (ctx.stale) out.push({ cache: 'context', rid: ctx.rid, ...(ctx.did === undefined ? {} : { did: ctx.did }), entry: ctx.entry });
  if (pc?.stale) out.push({ cache: 'pasid', rid: pc.rid, pasid: pc.pasid, did: pc.did, entry: pc.entry });
  if (e?.stale) out.push({ cache: 'iotlb', did: e.did, ...(e.pasid === undefined ? {} : { pasid: e.pasid }), page: e.page, pageSize: e.pageSize, hpaBase: e.hpaBase });
  return out;
}

function passThrough(r: DmaRequest, type: TranslationType, did: number, pasid: number | undefined, stale: StaleCacheUse[] | undefined): CacheLookup {
  const hit: CacheLookup = { hit: true, hpa: r.iova, pageSize: 4096, permissions: { read: true, write: true, execute: true }, type, did };
  if (pasid !== undefined) hit.pasid = pasid;
  if (stale !== undefined) hit.stale = stale;
  return hit;
}

/** Levels of the second stage a translation used: the AW of its context (legacy) or PASID entry; undefined without one. */
function secondStageLevels(t: DmaTranslation): number | undefined {
  if (t.type === 'legacy-second-stage') {
    const c = t.references.find((r) => r.stage === 'context');
    return c === undefined ? undefined : field(c.entry, LEGACY_CONTEXT_ENTRY.layout.spec.fields.AW) + 2;
  }
  if (t.type === 'second-stage' || t.type === 'nested') {
    const p = t.references.find((r) => r.stage === 'pasid');
    if (p === undefined) return undefined;
    // The AW of the PASID entry last asked about (a 512-bit entry: one field costs two wide shifts).
    if (p.entry !== lastPasidEntry) {
      lastPasidEntry = p.entry;
      lastPasidLevels = field(p.entry, PASID_ENTRY.layout.spec.fields.AW) + 2;
    }
    return lastPasidLevels;
  }
  return undefined;
}
let lastPasidEntry: bigint | undefined;
let lastPasidLevels = 0;

const pscUse = (e: PagingStructureEntry): StaleCacheUse => ({ cache: 'paging-structure', did: e.did, root: e.root, level: e.level, prefix: e.prefix, nextTable: e.nextTable });

/**
 * Insert what a successful walk read: the context entry, the PASID entry (scalable), the
 * translation (not for pass-through) and the non-leaf second-stage entries. FIFO eviction per cache.
 * `via`: the paging-structure entries the walk started from; when one of them was marked stale,
 * so are the translation and the entries read below it (they were reached through it).
 */
export function insertTranslation(caches: DmaCaches, request: DmaRequest, t: DmaTranslation, via?: readonly PagingStructureEntry[]): DmaCaches {
  const cap = caches.capacities;
  const inherited = via !== undefined && via.some((e) => e.stale);
  const { context, pasid } = withContextAndPasid(caches, request, t);
  let iotlb = caches.iotlb;
  if (t.type !== 'pass-through' && t.type !== 'legacy-pass-through') {
    const page = pageOf(request.iova, t.pageSize);
    const hpaBase = t.hpa - offsetInPage(request.iova, t.pageSize);
    const permissions = { read: t.permissions.read, write: t.permissions.write, execute: t.permissions.execute };
    // `pasid` after `viaPasid` when there is one: one literal per shape rather than a key added afterwards.
    const e: IotlbEntry =
      t.pasid === undefined
        ? { did: t.did, privileged: t.privileged, type: t.type, page, pageSize: t.pageSize, hpaBase, permissions, dirty: t.dirty, rid: request.rid, viaPasid: request.pasid !== undefined }
        : { did: t.did, privileged: t.privileged, type: t.type, page, pageSize: t.pageSize, hpaBase, permissions, dirty: t.dirty, rid: request.rid, viaPasid: request.pasid !== undefined, pasid: t.pasid };
    if (inherited) e.stale = true;
    iotlb = push(iotlb, e, cap.iotlb, (x) => x.did === e.did && x.pasid === e.pasid && x.privileged === e.privileged && x.page === e.page && x.pageSize === e.pageSize);
  }
  // The walk's non-leaf entries, each pushed as `push` would one by one (a same-key entry
  // replaced, FIFO trimmed), in one pass (walk.ts already keeps one per key, where its last use
  // put it). An entry of the walk is kept as it is — walk.ts `newTableEntry` gives it this
  // literal's keys in this order — unless it must be marked stale. In debug mode
  // (src/platform/freeze-mode.ts) the new entries are frozen here, so that freezing the result
  // does not walk them. Keys are compared number fields first (level, DID), the bigint ones
  // only when those match.
  const fresh: PagingStructureEntry[] = [];
  if (t.pagingStructures.length > 0) {
    const levels = secondStageLevels(t);
    for (const s of t.pagingStructures) {
      for (let i = 0; i < fresh.length; i++) {
        if (samePagingKey(fresh[i]!, s)) {
          fresh.splice(i, 1);
          break;
        }
      }
      let e: PagingStructureEntry;
      if (!inherited && s.levels === levels) e = s;
      else {
        e = { did: s.did, root: s.root, prefix: s.prefix, level: s.level, nextTable: s.nextTable, permissions: { read: s.permissions.read, write: s.permissions.write, execute: s.permissions.execute } };
        if (levels !== undefined) e.levels = levels;
        if (inherited) e.stale = true;
      }
      if (FREEZE_STATES) {
        Object.freeze(e.permissions);
        Object.freeze(e);
      }
      fresh.push(e);
    }
  }
  let pagingStructure = caches.pagingStructure;
  if (fresh.length > 0) {
    let kept = fresh;
    if (pagingStructure.length > 0) {
      kept = [];
      for (const x of pagingStructure) {
        let same = false;
        for (let i = 0; i < fresh.length && !same; i++) same = samePagingKey(x, fresh[i]!);
        if (!same) kept.push(x);
      }
      for (const e of fresh) kept.push(e);
    }
    pagingStructure = cap.pagingStructure === 0 ? [] : kept.length > cap.pagingStructure ? kept.slice(kept.length - cap.pagingStructure) : kept;
  }
  // Every DmaCaches has these keys in this order (emptyDmaCaches): a literal, not a spread.
  return { capacities: caches.capacities, context, pasid, iotlb, pagingStructure };
}

/** Same paging-structure-cache key (DID, root, level, prefix): numbers first, bigints last. */
function samePagingKey(a: { readonly did: number; readonly level: number; readonly prefix: bigint; readonly root: bigint }, b: { readonly did: number; readonly level: number; readonly prefix: bigint; readonly root: bigint }): boolean {
  return a.level === b.level && a.did === b.did && a.prefix === b.prefix && a.root === b.root;
}

/** The context-cache and PASID-cache lists with the context (and PASID) entry a walk read inserted. */
function withContextAndPasid(caches: DmaCaches, request: DmaRequest, t: DmaTranslation): Pick<DmaCaches, 'context' | 'pasid'> {
  const cap = caches.capacities;
  const legacy = t.type === 'legacy-second-stage' || t.type === 'legacy-pass-through';
  // The first context and PASID-entry references (one pass, no closure).
  let ctxRef: MemoryReference | undefined;
  let peRef: MemoryReference | undefined;
  for (const r of t.references) {
    if (r.stage === 'context') ctxRef ??= r;
    else if (r.stage === 'pasid') peRef ??= r;
    if (ctxRef !== undefined && peRef !== undefined) break;
  }
  let context = caches.context;
  if (ctxRef) {
    const ce: ContextCacheEntry = { rid: request.rid, mode: legacy ? 'legacy' : 'scalable', entry: ctxRef.entry };
    if (legacy) ce.did = t.did;
    context = push(context, ce, cap.context, (c) => c.rid === request.rid);
  }
  let pasid = caches.pasid;
  if (peRef && t.pasid !== undefined) {
    const p = t.pasid;
    pasid = push(pasid, { rid: request.rid, pasid: p, did: t.did, entry: peRef.entry }, cap.pasid, (c) => c.rid === request.rid && c.pasid === p);
  }
  return { context, pasid };
}

/** The deepest cached non-leaf second-stage entry covering `input` in (did, root). */
function deepestPagingStructure(caches: DmaCaches, did: number, root: bigint, input: bigint): PagingStructureEntry | undefined {
  let best: PagingStructureEntry | undefined;
  for (const e of caches.pagingStructure) {
    if (e.did !== did || e.root !== root || input >> BigInt(12 + 9 * (e.level - 1)) !== e.prefix) continue;
    if (!best || e.level < best.level) best = e;
  }
  return best;
}

/**
 * The deepest cached non-leaf second-stage entry covering `input` in (did, root), as a walk
 * starting point (walk.ts `DmaConfig.secondStageStart`); undefined when none.
 */
export function pagingStructureLookup(caches: DmaCaches, did: number, root: bigint, input: bigint): SecondStageStart | undefined {
  const best = deepestPagingStructure(caches, did, root, input);
  return best && { level: best.level, nextTable: best.nextTable, permissions: { ...best.permissions } };
}

/**
 * Translate through the caches: a hit needs no memory; a miss walks (starting from the deepest
 * paging-structure-cache hit) and inserts the result — unless only the context or PASID cache
 * missed and the IOTLB holds the page for the DID and PASID the fetched entries name: then that
 * IOTLB entry translates (a hit; the context and PASID entries are cached). Faults are not cached. `stale` lists the
 * entries marked stale that the translation used (the hit's, or the paging-structure entries
 * the walk started from), when there are any. `config.cap` also gives the lookup ECAP.RPS/RPRIVS.
 */
export function translateWithCaches(
  memory: PhysicalMemory,
  config: DmaConfig,
  caches: DmaCaches,
  request: DmaRequest,
):
  | { hit: true; lookup: Extract<CacheLookup, { hit: true }>; caches: DmaCaches; stale?: StaleCacheUse[] }
  | { hit: false; result: DmaWalkResult; caches: DmaCaches; stale?: StaleCacheUse[] } {
  const lookup = lookupDma(caches, request, config.cap as LookupCapabilities | undefined);
  if (lookup.hit) return lookup.stale === undefined ? { hit: true, lookup, caches } : { hit: true, lookup, caches, stale: lookup.stale };
  let via: PagingStructureEntry[] | undefined;
  const start = caches.pagingStructure.length === 0
    ? undefined
    : (did: number, root: bigint, input: bigint): SecondStageStart | undefined => {
        const e = deepestPagingStructure(caches, did, root, input);
        if (e === undefined) return undefined;
        (via ??= []).push(e);
        return { level: e.level, nextTable: e.nextTable, permissions: { ...e.permissions } };
      };
  const result = translateDma(memory, start === undefined ? config : { ...config, secondStageStart: start }, request);
  if (result.ok && (lookup.missed === 'context' || lookup.missed === 'pasid') && caches.iotlb.length > 0 && result.type !== 'pass-through' && result.type !== 'legacy-pass-through') {
    // A context- or PASID-cache miss is not an IOTLB miss: the unit fetches the entry (the walk
    // above checked it) and looks the IOTLB up with the DID and PASID it names (VT-d §6.2.1:
    // IOTLB entries are tagged by DID, PASID and page, not by the context cache). A hit there is
    // used and the walk's paging-structure reads (and A/D updates) never happen.
    const fetched: DmaCaches = { ...caches, ...withContextAndPasid(caches, request, result) };
    const again = lookupDma(fetched, request, config.cap as LookupCapabilities | undefined);
    if (again.hit) return again.stale === undefined ? { hit: true, lookup: again, caches: fetched } : { hit: true, lookup: again, caches: fetched, stale: again.stale };
  }
  const next = result.ok ? insertTranslation(caches, request, result, via) : caches;
  const stale = via?.filter((e) => e.stale).map(pscUse);
  return stale !== undefined && stale.length > 0 ? { hit: false, result, caches: next, stale } : { hit: false, result, caches: next };
}

// ---------------------------------------------------------------------------------------
// Coherence: which cached entries the hypervisor's invalidations left stale

/** The context entry memory now holds for `rid` under RTADDR `rtaddr` (raw), or undefined when the root entry does not lead to one. */
function contextEntryIn(memory: PhysicalMemory, rtaddr: bigint, rid: number): bigint | undefined {
  const rt = RTADDR.decode(rtaddr);
  const rootAt = frameAddress(rt.RTA) + BigInt((rid >> 8) * 16);
  const devfn = rid & 0xff;
  if (rt.TTM === TTM.SCALABLE) {
    const root = SCALABLE_ROOT_ENTRY.decode(memory.readLE(rootAt, 16));
    const upper = devfn > 0x7f;
    if (!(upper ? root.UP : root.LP)) return undefined;
    return memory.readLE(frameAddress(upper ? root.UCTP : root.LCTP) + BigInt((devfn & 0x7f) * 32), 32);
  }
  if (rt.TTM !== TTM.LEGACY) return undefined;
  const root = LEGACY_ROOT_ENTRY.decode(memory.readLE(rootAt, 16));
  return root.P ? memory.readLE(frameAddress(root.CTP) + BigInt(devfn * 16), 16) : undefined;
}

/** The PASID-table entry memory now holds for (`rid`, `pasid`) in scalable mode (raw), or undefined when the path to it is not present. */
function pasidEntryIn(memory: PhysicalMemory, rtaddr: bigint, rid: number, pasid: number): bigint | undefined {
  if (RTADDR.decode(rtaddr).TTM !== TTM.SCALABLE) return undefined;
  const raw = contextEntryIn(memory, rtaddr, rid);
  if (raw === undefined) return undefined;
  const ctx = SCALABLE_CONTEXT_ENTRY.decode(raw);
  if (!ctx.P || pasid >> 6 >= pasidDirectoryEntries(ctx.PDTS)) return undefined;
  const dir = PASID_DIR_ENTRY.decode(memory.readLE(frameAddress(ctx.PASIDDIRPTR) + BigInt((pasid >> 6) * 8), 8));
  return dir.P ? memory.readLE(frameAddress(dir.SMPTBLPTR) + BigInt((pasid & 0x3f) * 64), 64) : undefined;
}

/**
 * Whether the IOTLB entry no longer gives what its domain's tables give: walked again (cold, from
 * memory) for the requester ID and PASID that filled it. When that walk no longer reaches the
 * entry's domain (the context or PASID entry now names another DID, or is gone) the entry is not
 * judged by it: other devices of the domain may still use it rightly [derived].
 */
function iotlbStale(memory: PhysicalMemory, config: DmaConfig, e: IotlbEntry): boolean {
  if (e.rid === undefined) return false;
  const iova = e.page * BigInt(e.pageSize);
  const read = e.permissions.read || !e.permissions.write;
  const request: DmaRequest = { rid: e.rid, iova, size: 1, read, write: !read };
  if (e.viaPasid && e.pasid !== undefined) {
    request.pasid = e.pasid;
    request.privileged = e.privileged;
  }
  const r = translateDma(memory, { rtaddr: config.rtaddr, ...(config.cap === undefined ? {} : { cap: config.cap }) }, request);
  if (!r.ok) return r.fault.did === e.did && (r.fault.pasid ?? e.pasid) === e.pasid;
  if (r.did !== e.did || r.pasid !== e.pasid || r.privileged !== e.privileged) return false;
  const p = r.permissions;
  return r.type !== e.type || r.hpa !== e.hpaBase || r.pageSize !== e.pageSize || p.read !== e.permissions.read || p.write !== e.permissions.write || p.execute !== e.permissions.execute;
}

/** Whether the second stage under the entry's root no longer leads, at its level and prefix, to its next table with its rights. */
function pagingStructureStale(memory: PhysicalMemory, e: PagingStructureEntry): boolean {
  if (e.levels === undefined) return false;
  const input = e.prefix << BigInt(12 + 9 * (e.level - 1));
  let table = e.root;
  let read = true;
  let write = true;
  let execute = true;
  for (let level = e.levels; level >= e.level; level--) {
    const entry = memory.readLE(table + BigInt(levelIndex(input, level) * 8), 8);
    if ((entry & (PTE_BITS.SL_R | PTE_BITS.SL_W)) === 0n || level === 1 || (entry & PTE_BITS.SL_PS) !== 0n) return true;
    read &&= (entry & PTE_BITS.SL_R) !== 0n;
    write &&= (entry & PTE_BITS.SL_W) !== 0n;
    execute &&= (entry & PTE_BITS.SL_X) !== 0n;
    table = entry & PTE_ADDR_MASK;
  }
  return table !== e.nextTable || read !== e.permissions.read || write !== e.permissions.write || execute !== e.permissions.execute;
}

/** `list` with each entry's `stale` mark set to `isStale(entry)`; the same array when no mark changes. */
function remark<T extends { stale?: true }>(list: readonly T[], isStale: (e: T) => boolean): T[] {
  let out: T[] | undefined;
  list.forEach((e, i) => {
    const stale = isStale(e);
    if (stale === (e.stale === true)) return;
    out ??= list.slice();
    const copy = { ...e };
    if (stale) copy.stale = true;
    else delete copy.stale;
    out[i] = Object.isFrozen(e) ? Object.freeze(copy) : copy;
  });
  return out ?? (list as T[]);
}

/**
 * An invalidation wait completed on the unit (or the hypervisor ended an operation that skips its
 * invalidations): the hypervisor now holds every entry it changed before to be out of the caches.
 * Each entry still cached is checked against `memory` — the context and PASID entries fetched
 * again, the IOTLB entries walked again for the request that filled them, the paging-structure
 * entries followed from their root — and marked `stale` when memory no longer gives it (unmarked
 * when it does again). `config` is the unit's latched RTADDR and capabilities. Returns `caches`
 * itself when no mark changes.
 */
export function settleDmaCaches(memory: PhysicalMemory, config: DmaConfig, caches: DmaCaches): DmaCaches {
  const context = remark(caches.context, (c) => contextEntryIn(memory, config.rtaddr, c.rid) !== c.entry);
  const pasid = remark(caches.pasid, (p) => pasidEntryIn(memory, config.rtaddr, p.rid, p.pasid) !== p.entry);
  const iotlb = remark(caches.iotlb, (e) => iotlbStale(memory, config, e));
  const pagingStructure = remark(caches.pagingStructure, (e) => pagingStructureStale(memory, e));
  if (context === caches.context && pasid === caches.pasid && iotlb === caches.iotlb && pagingStructure === caches.pagingStructure) return caches;
  return { ...caches, context, pasid, iotlb, pagingStructure };
}

// ---------------------------------------------------------------------------------------
// Invalidation (sheet §7.3, §7.4)

/** SID bits ignored for each FM value: none, bit 2, bits 2:1, bits 2:0 (sheet §7.3; Linux `DMA_CCMD_MASK_*`). */
const FM_IGNORED = [0b000, 0b100, 0b110, 0b111] as const;

/**
 * Context-cache invalidation (type 1 / CCMD): global drops everything; domain drops entries
 * tagged with `did` (and every untagged scalable entry); device drops entries whose rid equals
 * `sid` outside the FM-ignored bits. Reserved granularities change nothing (hardware reports
 * an invalidation-queue error instead).
 */
export function invalidateContextCache(caches: DmaCaches, d: Omit<ContextCacheInvalidation, 'kind'>): DmaCaches {
  const ignore = FM_IGNORED[d.functionMask & 3] ?? 0;
  const drop: Record<ContextCacheInvalidation['granularity'], (c: ContextCacheEntry) => boolean> = {
    'reserved-0': () => false,
    global: () => true,
    domain: (c) => c.did === undefined || c.did === d.did,
    device: (c) => (c.rid & ~ignore) === (d.sid & ~ignore),
  };
  return { ...caches, context: caches.context.filter((c) => !drop[d.granularity](c)) };
}

/**
 * PASID-cache invalidation (type 7): 'domain' drops every PASID of `did`, 'pasid' the (did,
 * pasid) entries, 'global' everything (Linux `QI_PC_ALL_PASIDS` / `QI_PC_PASID_SEL` /
 * `QI_PC_GLOBAL`).
 */
export function invalidatePasidCache(caches: DmaCaches, d: Omit<PasidCacheInvalidation, 'kind'>): DmaCaches {
  const drop: Record<PasidCacheInvalidation['granularity'], (c: PasidCacheEntry) => boolean> = {
    domain: (c) => c.did === d.did,
    pasid: (c) => c.did === d.did && c.pasid === d.pasid,
    'reserved-2': () => false,
    global: () => true,
  };
  return { ...caches, pasid: caches.pasid.filter((c) => !drop[d.granularity](c)) };
}

/** Byte range [start, end) of 2^AM 4 KiB pages at `address` (the low AM page bits of ADDR are ignored, as the spec requires alignment). */
function amRange(address: bigint, am: number): [bigint, bigint] {
  const size = 1n << BigInt(12 + am);
  const start = address & ~(size - 1n);
  return [start, start + size];
}

function overlaps(page: bigint, pageSize: number, [start, end]: [bigint, bigint]): boolean {
  const base = page * BigInt(pageSize);
  return base < end && start < base + BigInt(pageSize);
}

function pscOverlaps(e: PagingStructureEntry, range: [bigint, bigint]): boolean {
  return overlaps(e.prefix, levelPageSize(e.level), range);
}

/** Translation types whose IOTLB entries depend on second-stage tables: the targets of type-2 page-selective invalidation. */
const SECOND_STAGE_TYPES: ReadonlySet<TranslationType> = new Set(['legacy-second-stage', 'second-stage']);

/**
 * IOTLB invalidation (type 2 / IOTLB_REG): global drops every IOTLB and paging-structure entry;
 * domain drops all entries of `did` (every translation type); page-selective drops second-stage
 * entries of `did` overlapping the 2^AM pages at ADDR, every nested entry of `did` (those are
 * tagged by IOVA, so a GPA range cannot select them) [derived], and — unless IH = 1 — the
 * paging-structure entries of `did` covering the range.
 */
export function invalidateIotlb(caches: DmaCaches, d: Omit<IotlbInvalidation, 'kind' | 'drainReads' | 'drainWrites'>): DmaCaches {
  switch (d.granularity) {
    case 'reserved-0':
      return caches;
    case 'global':
      return { ...caches, iotlb: [], pagingStructure: [] };
    case 'domain':
      return { ...caches, iotlb: caches.iotlb.filter((e) => e.did !== d.did), pagingStructure: caches.pagingStructure.filter((e) => e.did !== d.did) };
    case 'page': {
      const range = amRange(d.address, d.addressMask);
      const iotlb = caches.iotlb.filter(
        (e) => !(e.did === d.did && ((SECOND_STAGE_TYPES.has(e.type) && overlaps(e.page, e.pageSize, range)) || e.type === 'nested')),
      );
      const pagingStructure = d.invalidationHint
        ? caches.pagingStructure
        : caches.pagingStructure.filter((e) => !(e.did === d.did && pscOverlaps(e, range)));
      return { ...caches, iotlb, pagingStructure };
    }
  }
}

/**
 * PASID-based IOTLB invalidation (type 6): drops first-stage and nested entries of (did, pasid),
 * all of them ('pasid') or those overlapping the 2^AM pages at ADDR ('page'). The second-stage
 * paging-structure cache is not touched (it holds no first-stage entries; IH concerns only
 * first-stage paging-structure caches, which this model does not keep).
 */
export function invalidatePasidIotlb(caches: DmaCaches, d: Omit<PasidIotlbInvalidation, 'kind'>): DmaCaches {
  if (d.granularity === 'reserved-0' || d.granularity === 'reserved-1') return caches;
  const range = amRange(d.address, d.addressMask);
  const hit = (e: IotlbEntry): boolean =>
    e.did === d.did &&
    e.pasid === d.pasid &&
    (e.type === 'first-stage' || e.type === 'nested') &&
    (d.granularity === 'pasid' || overlaps(e.page, e.pageSize, range));
  return { ...caches, iotlb: caches.iotlb.filter((e) => !hit(e)) };
}

/** Apply any decoded DMA invalidation descriptor (invalidation-dma.ts) to the caches. */
export function applyDmaInvalidation(caches: DmaCaches, d: DmaInvalidation): DmaCaches {
  switch (d.kind) {
    case 'context-cache':
      return invalidateContextCache(caches, d);
    case 'pasid-cache':
      return invalidatePasidCache(caches, d);
    case 'iotlb':
      return invalidateIotlb(caches, d);
    case 'pasid-iotlb':
      return invalidatePasidIotlb(caches, d);
  }
}
