/**
 * HYPOTHETICAL direct-post lookup: what a remapping unit with DPTA.DPE = 1 does with a
 * compatibility-format interrupt request (address bit 4 = 0). Exists in no specification;
 * remapsim's definition (/tmp/briefs/directpost.md, seed thread 000's <fantasy>: the IOMMU
 * receives <source-id, vCPU APIC ID, vector> and posts it).
 *
 * 1. The request ({@link directPostRequest}): vAPIC ID = the compatibility destination
 *    (src/x86/msi.ts `compatibilityDestination`: 8 bits, 15 with the extended destination
 *    ID); vector = data[7:0], and with vectorBits > 8 vector bits [vectorBits−1:8] from
 *    data[23:16]. Postable only with physical destination mode, delivery mode fixed (000) or
 *    lowest priority (001), vector ≥ 16 and no data[23:16] bits beyond vectorBits − 8;
 *    otherwise fault 0xD5. Trigger mode and level are ignored.
 * 2. The tables ({@link lookupDirectPost}), through the unit's cache (./cache.ts): DPTA base
 *    beyond the host address width → 0xD1 (every lookup); a cache hit returns the cached
 *    vAPIC entry as it is; otherwise key source-id reads the root entry at base + 8·sid
 *    (P = 0 → 0xD0; reserved 11:5 or vAPIC table base beyond HAW → 0xD1) giving the vAPIC
 *    table and its TS, and key vapic-id takes the DPTA base and DPTA.TS; vAPIC ID ≥ 2^TS →
 *    0xD2; the entry at table + 8·vapicId: P = 0 → 0xD3; reserved 5:2, or PID (64 bytes, plus
 *    the PIR extension with wide vectors) beyond HAW → 0xD4. A good entry is cached.
 * Fault codes: ./faults.ts. All reads are 8-byte little-endian reads of simulated memory.
 */
import type { PhysicalMemory } from '../../memory/physical-memory.ts';
import { decodeCompatibilityAddress, compatibilityDestination } from '../../x86/msi.ts';
import { PID_BYTES } from '../../vtd/pid.ts';
import { pirExtensionBytes } from '../../vtd/pid-memory.ts';
import { decodeDpta, decodeRootEntry, decodeVapicEntry, rootEntryAddress, vapicEntryAddress, DIRECT_POST_ENTRY_BYTES, type RootEntry, type VapicEntry } from './table.ts';
import { dptcInsert, dptcKey, dptcLookup, type DirectPostCache, type DirectPostKey } from './cache.ts';
import { DIRECT_POST_FAULT } from './faults.ts';

/** The platform's direct-post configuration the lookup needs (state.interrupts.directPost). */
export interface DirectPostConfig {
  readonly key: DirectPostKey;
  /** Vector width in bits, 8..16. */
  readonly vectorBits: number;
  /** DPTC capacity in entries. */
  readonly cacheCapacity: number;
}

/** A unit's direct-post state: the DPTA register as written and its cache. */
export interface DirectPostUnit {
  readonly dpta: bigint;
  readonly cache: DirectPostCache;
}

/** The request's vAPIC ID and vector, or fault 0xD5 (with the vAPIC ID it named). */
export type DirectPostRequest =
  | { readonly kind: 'request'; readonly vapicId: number; readonly vector: number }
  | { readonly kind: 'fault'; readonly reason: number; readonly vapicId: number };

/**
 * Decode a compatibility-format request for direct posting (step 1 of the module comment).
 * `data` is the 32-bit MSI data word. Never throws.
 */
export function directPostRequest(address: bigint, data: number, vectorBits: number, extendedDestinationId: boolean): DirectPostRequest {
  const a = decodeCompatibilityAddress(address);
  const vapicId = compatibilityDestination(a, extendedDestinationId);
  const d = data >>> 0;
  const wide = (d >>> 16) & 0xff;
  const wideMask = vectorBits > 8 ? (1 << (vectorBits - 8)) - 1 : 0;
  const vector = (d & 0xff) | ((wide & wideMask) << 8);
  const deliveryMode = (d >>> 8) & 7;
  if (a.destinationModeLogical || deliveryMode > 1 || vector < 16 || (wide & ~wideMask) !== 0) {
    return { kind: 'fault', reason: DIRECT_POST_FAULT.NOT_POSTABLE, vapicId };
  }
  return { kind: 'request', vapicId, vector };
}

/** A lookup's result. `root` is the root entry used (key source-id), undefined otherwise. */
export type DirectPostLookup =
  | { readonly kind: 'entry'; readonly entry: VapicEntry; readonly root: RootEntry | undefined; readonly cacheHit: boolean }
  | { readonly kind: 'fault'; readonly reason: number };

const limits = new Map<number, bigint>();
function limitOf(haw: number): bigint {
  let l = limits.get(haw);
  if (l === undefined) limits.set(haw, (l = 1n << BigInt(haw)));
  return l;
}

/**
 * Look up (`sid`, `vapicId`) in the unit's direct-post tables through its cache (step 2 of
 * the module comment). Returns the outcome and the cache after it (the same object when
 * unchanged). Never throws.
 */
export function lookupDirectPost(
  unit: DirectPostUnit,
  memory: PhysicalMemory,
  hostAddressWidth: number,
  config: DirectPostConfig,
  sid: number,
  vapicId: number,
): { outcome: DirectPostLookup; cache: DirectPostCache } {
  const cache = unit.cache;
  const limit = limitOf(hostAddressWidth);
  const dpta = decodeDpta(unit.dpta);
  if (dpta.base >= limit) return { outcome: { kind: 'fault', reason: DIRECT_POST_FAULT.ROOT_INVALID }, cache };
  const k = dptcKey(config.key, sid, vapicId);
  const hit = dptcLookup(cache, k);
  if (hit !== undefined) return { outcome: { kind: 'entry', entry: hit.entry, root: hit.root, cacheHit: true }, cache };

  let table = dpta.base;
  let ts = dpta.ts;
  let root: RootEntry | undefined;
  if (config.key === 'source-id') {
    root = decodeRootEntry(memory.readLE(rootEntryAddress(dpta.base, sid & 0xffff), DIRECT_POST_ENTRY_BYTES));
    if (!root.present) return { outcome: { kind: 'fault', reason: DIRECT_POST_FAULT.ROOT_NOT_PRESENT }, cache };
    if (root.reserved !== 0n || root.table >= limit) return { outcome: { kind: 'fault', reason: DIRECT_POST_FAULT.ROOT_INVALID }, cache };
    table = root.table;
    ts = root.ts;
  }
  if (vapicId >= 2 ** ts) return { outcome: { kind: 'fault', reason: DIRECT_POST_FAULT.VAPIC_OVER }, cache };
  const address = vapicEntryAddress(table, vapicId);
  if (address + BigInt(DIRECT_POST_ENTRY_BYTES) > limit) return { outcome: { kind: 'fault', reason: DIRECT_POST_FAULT.ROOT_INVALID }, cache };
  const entry = decodeVapicEntry(memory.readLE(address, DIRECT_POST_ENTRY_BYTES));
  if (!entry.present) return { outcome: { kind: 'fault', reason: DIRECT_POST_FAULT.VAPIC_NOT_PRESENT }, cache };
  if (entry.reserved !== 0n || entry.pda + BigInt(PID_BYTES + pirExtensionBytes(config.vectorBits)) > limit) {
    return { outcome: { kind: 'fault', reason: DIRECT_POST_FAULT.VAPIC_INVALID }, cache };
  }
  return {
    outcome: { kind: 'entry', entry, root, cacheHit: false },
    cache: dptcInsert(cache, k, { sid, vapicId, root, entry }, config.cacheCapacity),
  };
}
