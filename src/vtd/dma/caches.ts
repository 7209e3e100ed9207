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
 */
import type { PhysicalMemory } from '../../memory/physical-memory.ts';
import { LEGACY_CONTEXT_ENTRY, PASID_ENTRY, PGTT, SCALABLE_CONTEXT_ENTRY, CONTEXT_TT, levelPageSize } from './structures.ts';
import {
  translateDma,
  type DmaConfig,
  type DmaRequest,
  type DmaTranslation,
  type DmaWalkResult,
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
}

/** A cached scalable-mode PASID-table entry (raw 512 bits), looked up by (rid, PASID), tagged by its DID. */
export interface PasidCacheEntry {
  rid: number;
  pasid: number;
  did: number;
  entry: bigint;
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
}

/**
 * A cached non-leaf second-stage entry (PML5E/PML4E/PDPTE/PDE): keyed by DID, second-stage root
 * and the input-address prefix above the entry's level (see walk.ts `SecondStageTableEntry`).
 */
export interface PagingStructureEntry extends SecondStageStart {
  did: number;
  root: bigint;
  prefix: bigint;
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

function push<T>(list: readonly T[], item: T, capacity: number, same: (a: T) => boolean): T[] {
  const kept = list.filter((x) => !same(x));
  kept.push(item);
  return capacity === 0 ? [] : kept.slice(Math.max(0, kept.length - capacity));
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
    }
  | { hit: false; missed: 'context' | 'pasid' | 'iotlb' | 'permission' | 'dirty' };

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
 */
export function lookupDma(caches: DmaCaches, request: DmaRequest): CacheLookup {
  const ctx = caches.context.find((c) => c.rid === request.rid);
  if (!ctx) return { hit: false, missed: 'context' };
  const need = requestNeeds(request);
  let did: number;
  let pasid: number | undefined;
  let privileged = false;
  // Fields read straight from the raw entries (bit positions of LEGACY_CONTEXT_ENTRY,
  // SCALABLE_CONTEXT_ENTRY and PASID_ENTRY): the generic decode is most of a hit's cost.
  if (ctx.mode === 'legacy') {
    if (request.pasid !== undefined) return { hit: false, missed: 'permission' };
    const tt = field(ctx.entry, LEGACY_CONTEXT_ENTRY.layout.spec.fields.TT);
    const contextDid = field(ctx.entry, LEGACY_CONTEXT_ENTRY.layout.spec.fields.DID);
    if (tt === CONTEXT_TT.PASS_THROUGH) return passThrough(request, 'legacy-pass-through', contextDid);
    did = contextDid;
  } else {
    const f = SCALABLE_CONTEXT_ENTRY.layout.spec.fields;
    if (request.pasid !== undefined && field(ctx.entry, f.PASIDE) === 0) return { hit: false, missed: 'permission' };
    const ridPasid = field(ctx.entry, f.RID_PASID);
    pasid = request.pasid ?? ridPasid;
    privileged = request.pasid !== undefined ? (request.privileged ?? false) : field(ctx.entry, f.RID_PRIV) === 1;
    const pc = caches.pasid.find((p) => p.rid === request.rid && p.pasid === pasid);
    if (!pc) return { hit: false, missed: 'pasid' };
    const pf = PASID_ENTRY.layout.spec.fields;
    if ((privileged && field(pc.entry, pf.SRE) === 0) || (need.execute && field(pc.entry, pf.ERE) === 0)) return { hit: false, missed: 'permission' };
    did = field(pc.entry, pf.DID);
    if (field(pc.entry, pf.PGTT) === PGTT.PASS_THROUGH) return passThrough(request, 'pass-through', did, pasid);
  }
  const e = caches.iotlb.find(
    (t) =>
      t.did === did &&
      t.pasid === pasid &&
      t.privileged === privileged &&
      request.iova / BigInt(t.pageSize) === t.page,
  );
  if (!e) return { hit: false, missed: 'iotlb' };
  if ((need.read && !e.permissions.read) || (need.write && !e.permissions.write) || (need.execute && !e.permissions.execute)) {
    return { hit: false, missed: 'permission' };
  }
  if (need.write && !e.dirty) return { hit: false, missed: 'dirty' };
  const hit: CacheLookup = {
    hit: true,
    hpa: e.hpaBase + (request.iova % BigInt(e.pageSize)),
    pageSize: e.pageSize,
    permissions: e.permissions,
    type: e.type,
    did,
  };
  if (pasid !== undefined) hit.pasid = pasid;
  return hit;
}

function passThrough(r: DmaRequest, type: TranslationType, did: number, pasid?: number): CacheLookup {
  const hit: CacheLookup = { hit: true, hpa: r.iova, pageSize: 4096, permissions: { read: true, write: true, execute: true }, type, did };
  if (pasid !== undefined) hit.pasid = pasid;
  return hit;
}

/**
 * Insert what a successful walk read: the context entry, the PASID entry (scalable), the
 * translation (not for pass-through) and the non-leaf second-stage entries. FIFO eviction per cache.
 */
export function insertTranslation(caches: DmaCaches, request: DmaRequest, t: DmaTranslation): DmaCaches {
  const cap = caches.capacities;
  const legacy = t.type === 'legacy-second-stage' || t.type === 'legacy-pass-through';
  const ctxRef = t.references.find((r) => r.stage === 'context');
  let context = caches.context;
  if (ctxRef) {
    const ce: ContextCacheEntry = { rid: request.rid, mode: legacy ? 'legacy' : 'scalable', entry: ctxRef.entry };
    if (legacy) ce.did = t.did;
    context = push(context, ce, cap.context, (c) => c.rid === request.rid);
  }
  let pasid = caches.pasid;
  const peRef = t.references.find((r) => r.stage === 'pasid');
  if (peRef && t.pasid !== undefined) {
    const p = t.pasid;
    pasid = push(pasid, { rid: request.rid, pasid: p, did: t.did, entry: peRef.entry }, cap.pasid, (c) => c.rid === request.rid && c.pasid === p);
  }
  let iotlb = caches.iotlb;
  if (t.type !== 'pass-through' && t.type !== 'legacy-pass-through') {
    const size = BigInt(t.pageSize);
    const e: IotlbEntry = {
      did: t.did,
      privileged: t.privileged,
      type: t.type,
      page: request.iova / size,
      pageSize: t.pageSize,
      hpaBase: t.hpa - (request.iova % size),
      permissions: { ...t.permissions },
      dirty: t.dirty,
    };
    if (t.pasid !== undefined) e.pasid = t.pasid;
    iotlb = push(iotlb, e, cap.iotlb, (x) => x.did === e.did && x.pasid === e.pasid && x.privileged === e.privileged && x.page === e.page && x.pageSize === e.pageSize);
  }
  // The walk's non-leaf entries, each pushed as `push` would one by one (a same-key entry
  // replaced, FIFO trimmed), in one pass: a nested walk repeats the upper second-stage
  // entries for every first-stage table page. The new entries are frozen here, as the
  // platform freezes states, so that freezing the result does not walk them.
  const fresh: PagingStructureEntry[] = [];
  for (const s of t.pagingStructures) {
    const at = fresh.findIndex((x) => x.did === s.did && x.root === s.root && x.level === s.level && x.prefix === s.prefix);
    if (at >= 0) fresh.splice(at, 1);
    fresh.push(Object.freeze({ did: s.did, root: s.root, prefix: s.prefix, level: s.level, nextTable: s.nextTable, permissions: Object.freeze({ ...s.permissions }) }));
  }
  let pagingStructure = caches.pagingStructure;
  if (fresh.length > 0) {
    const kept = pagingStructure.filter((x) => !fresh.some((s) => x.did === s.did && x.root === s.root && x.level === s.level && x.prefix === s.prefix));
    kept.push(...fresh);
    pagingStructure = cap.pagingStructure === 0 ? [] : kept.slice(Math.max(0, kept.length - cap.pagingStructure));
  }
  return { ...caches, context, pasid, iotlb, pagingStructure };
}

/**
 * The deepest cached non-leaf second-stage entry covering `input` in (did, root), as a walk
 * starting point (walk.ts `DmaConfig.secondStageStart`); undefined when none.
 */
export function pagingStructureLookup(caches: DmaCaches, did: number, root: bigint, input: bigint): SecondStageStart | undefined {
  let best: PagingStructureEntry | undefined;
  for (const e of caches.pagingStructure) {
    if (e.did !== did || e.root !== root || input >> BigInt(12 + 9 * (e.level - 1)) !== e.prefix) continue;
    if (!best || e.level < best.level) best = e;
  }
  return best && { level: best.level, nextTable: best.nextTable, permissions: { ...best.permissions } };
}

/**
 * Translate through the caches: a hit needs no memory; a miss walks (starting from the deepest
 * paging-structure-cache hit) and inserts the result. Faults are not cached.
 */
export function translateWithCaches(
  memory: PhysicalMemory,
  config: DmaConfig,
  caches: DmaCaches,
  request: DmaRequest,
): { hit: true; lookup: Extract<CacheLookup, { hit: true }>; caches: DmaCaches } | { hit: false; result: DmaWalkResult; caches: DmaCaches } {
  const lookup = lookupDma(caches, request);
  if (lookup.hit) return { hit: true, lookup, caches };
  const result = translateDma(memory, { ...config, secondStageStart: (did, root, input) => pagingStructureLookup(caches, did, root, input) }, request);
  return { hit: false, result, caches: result.ok ? insertTranslation(caches, request, result) : caches };
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
