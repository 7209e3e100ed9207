/**
 * P4 Coherence (DESIGN.md §3): once the hypervisor has changed an entry and completed the
 * invalidation the spec requires (including the wait), no access uses the old entry.
 *
 * Every cache is judged: the context cache, the PASID cache, the IOTLB and the (second-stage)
 * paging-structure cache. When an invalidation wait completes — the hypervisor's claim that
 * what it changed is out of the caches — the unit marks every entry still cached whose source
 * in memory changed (src/vtd/dma/caches.ts `settleDmaCaches`): an entry the invalidations did
 * not cover. So does the end of a hypervisor operation that skips its invalidations (an
 * `unmap-dma` with `invalidate: false`). A translation that uses a marked entry violates P4: an
 * IOTLB hit through a marked context, PASID or IOTLB entry, or a walk that starts from a marked
 * paging-structure entry (whether it then lands in memory or faults). A changed entry used
 * before the wait completes is no violation: the invalidation is still in flight (a deferred
 * invalidation, Markuze et al., ASPLOS 2016, is judged when the hypervisor claims it done).
 */
import type { DmaAccessEvent, DmaFaultEvent, PlatformEvent } from '../platform/events.ts';
import type { PlatformState } from '../platform/state.ts';
import { translateDma, type DmaRequest } from '../vtd/dma/walk.ts';
import { lookupDma, type StaleCacheUse } from '../vtd/dma/caches.ts';
import { dmaCapabilities } from '../platform/dma-access.ts';
import { formatBdf } from '../pci/bdf.ts';

export interface P4Violation {
  readonly property: 'P4';
  readonly step: number;
  readonly message: string;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

function requestOf(e: DmaAccessEvent | DmaFaultEvent): DmaRequest {
  return { rid: e.rid, iova: e.iova, size: e.size, read: !e.write, write: e.write, ...(e.pasid === undefined ? {} : { pasid: e.pasid }) };
}

/** How a stale entry reads in a message. */
function describe(u: StaleCacheUse): string {
  switch (u.cache) {
    case 'context':
      return `a stale context-cache entry for ${formatBdf(u.rid)}${u.did === undefined ? '' : ` (DID ${u.did})`}`;
    case 'pasid':
      return `a stale PASID-cache entry for ${formatBdf(u.rid)} PASID ${u.pasid} (DID ${u.did})`;
    case 'paging-structure':
      return `a stale paging-structure-cache entry (DID ${u.did}, level ${u.level} → table ${hex(u.nextTable)})`;
    case 'iotlb':
      return 'a stale IOTLB entry';
  }
}

/** The stale entries an access used: from the event, or (an IOTLB hit changes no cache) looked up again in the unit's caches. */
function staleUses(state: PlatformState, e: DmaAccessEvent | DmaFaultEvent): readonly StaleCacheUse[] {
  if (e.stale !== undefined) return e.stale;
  if (e.kind !== 'dma-access' || e.translation !== 'iotlb-hit' || e.iommu === undefined) return [];
  const unit = state.iommus[e.iommu];
  if (unit === undefined) return [];
  const l = lookupDma(unit.dma, requestOf(e), dmaCapabilities(unit, state.hostAddressWidth));
  return l.hit ? (l.stale ?? []) : [];
}

/** P4 violation of one DMA access or fault, if it used a stale cache entry. */
export function checkCachedAccess(state: PlatformState, e: DmaAccessEvent | DmaFaultEvent): P4Violation | undefined {
  if (e.iommu === undefined) return undefined;
  const stale = staleUses(state, e);
  if (stale.length === 0) return undefined;
  const unit = state.iommus[e.iommu]!;
  const fresh = translateDma(state.memory, { rtaddr: unit.regs.rtaddrLatched, cap: dmaCapabilities(unit, state.hostAddressWidth) }, requestOf(e));
  const now = fresh.ok ? `HPA ${hex(fresh.hpa)}` : `fault 0x${fresh.fault.reason.toString(16)} (${fresh.fault.condition})`;
  // Context and PASID entries first: the order the lookup used them in.
  const order: Record<StaleCacheUse['cache'], number> = { context: 0, pasid: 1, 'paging-structure': 2, iotlb: 3 };
  const through = [...stale].sort((a, b) => order[a.cache] - order[b.cache]).map(describe).join(' and ');
  const verb = e.write ? 'wrote' : 'read';
  const message =
    e.kind === 'dma-access'
      ? `${e.device} ${verb} IOVA ${hex(e.iova)} through ${through} to HPA ${hex(e.hpa)}; the tables now give ${now}`
      : `${e.device}'s ${e.write ? 'write' : 'read'} of IOVA ${hex(e.iova)} faulted (0x${e.reason.toString(16)}, ${e.condition}) through ${through}; the tables now give ${now}`;
  return { property: 'P4', step: e.step, message };
}

export function checkCoherence(state: PlatformState, events: readonly PlatformEvent[]): P4Violation[] {
  return events.flatMap((e) => {
    if (e.kind !== 'dma-access' && e.kind !== 'dma-fault') return [];
    const v = checkCachedAccess(state, e);
    return v === undefined ? [] : [v];
  });
}
