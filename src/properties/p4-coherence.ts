/**
 * P4 Coherence (DESIGN.md §3): once the hypervisor has changed an entry and completed
 * the invalidation the spec requires (including the wait), no access uses the old
 * entry. The model's hypervisor operations are atomic — a change and its invalidation
 * happen in one step — so P4 reduces to: every translation a cache supplies agrees with
 * what a walk of the tables in memory gives now (same HPA, and the walk permits the
 * access). A cached translation that disagrees is a stale entry in use: the change was
 * made without the invalidation (or with a deferred one, Markuze et al., ASPLOS 2016).
 */
import type { DmaAccessEvent, PlatformEvent } from '../platform/events.ts';
import type { PlatformState } from '../platform/state.ts';
import { translateDma } from '../vtd/dma/walk.ts';
import { dmaCapabilities } from '../platform/dma-access.ts';

export interface P4Violation {
  readonly property: 'P4';
  readonly step: number;
  readonly message: string;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** P4 violation of one cached access, if any. */
export function checkCachedAccess(state: PlatformState, e: DmaAccessEvent): P4Violation | undefined {
  if (e.translation !== 'iotlb-hit' || e.iommu === undefined) return undefined;
  const unit = state.iommus[e.iommu]!;
  const fresh = translateDma(state.memory, { rtaddr: unit.regs.rtaddrLatched, cap: dmaCapabilities(unit, state.hostAddressWidth) }, {
    rid: e.rid,
    iova: e.iova,
    size: e.size,
    read: !e.write,
    write: e.write,
    ...(e.pasid === undefined ? {} : { pasid: e.pasid }),
  });
  if (fresh.ok && fresh.hpa === e.hpa) return undefined;
  const now = fresh.ok ? `HPA ${hex(fresh.hpa)}` : `fault 0x${fresh.fault.reason.toString(16)} (${fresh.fault.condition})`;
  return {
    property: 'P4',
    step: e.step,
    message: `${e.device} ${e.write ? 'wrote' : 'read'} IOVA ${hex(e.iova)} through a stale IOTLB entry to HPA ${hex(e.hpa)}; the tables now give ${now}`,
  };
}

export function checkCoherence(state: PlatformState, events: readonly PlatformEvent[]): P4Violation[] {
  return events.flatMap((e) => {
    if (e.kind !== 'dma-access') return [];
    const v = checkCachedAccess(state, e);
    return v === undefined ? [] : [v];
  });
}
