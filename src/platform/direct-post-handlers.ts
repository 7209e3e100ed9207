/**
 * Transitions of the HYPOTHETICAL direct-post hardware (src/hypothetical/direct-post; it
 * exists in no specification): `write-dpta` (software writes a unit's DPTA register) and
 * `invalidate-dpt` (software submits a direct-post table invalidation, descriptor type 0xE,
 * which the unit processes at once, like `invalidate-iec`). Both are refused with an
 * `action-rejected` event on a unit without the extension (no `platform.directPost`), and
 * `invalidate-dpt` also for a descriptor that does not decode (wrong type, G = 3, reserved
 * bits) — the invalidation queue reports those as an invalidation-queue error instead: a unit
 * with the extension also takes the type-0xE descriptor from its queue
 * (src/vtd/invalidation-queue.ts `processDescriptor`).
 */
import type { Draft } from 'immer';
import type { IommuUnit, PlatformState } from './state.ts';
import { unitOrReject, type Emit, type Handler } from './transition.ts';
import { describeDpta, decodeDptInvalidation } from '../hypothetical/direct-post/table.ts';
import { dptcInvalidate } from '../hypothetical/direct-post/cache.ts';
import { formatBdf } from '../pci/bdf.ts';
import { U64_MASK } from '../bits/bits.ts';

export type DirectPostKind = 'write-dpta' | 'invalidate-dpt';

/** The unit `iommu` when it has the direct-post extension; otherwise rejects the action. */
function directPostUnitOrReject(state: PlatformState, iommu: number, emit: Emit): (IommuUnit & { directPost: NonNullable<IommuUnit['directPost']> }) | undefined {
  const unit = unitOrReject(state, iommu, emit);
  if (!unit) return undefined;
  if (unit.directPost === undefined || state.interrupts.directPost === undefined) {
    emit({ kind: 'action-rejected', why: `${unit.name} has no (hypothetical) direct-post hardware: the platform has no platform.directPost` });
    return undefined;
  }
  return unit as IommuUnit & { directPost: NonNullable<IommuUnit['directPost']> };
}

export const directPostHandlers: { [K in DirectPostKind]: Handler<K> } = {
  'write-dpta'(draft, a, emit, before) {
    const unit = directPostUnitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const value = a.value & U64_MASK;
    draft.iommus[a.iommu]!.directPost = { dpta: value, cache: unit.directPost.cache } as Draft<NonNullable<IommuUnit['directPost']>>;
    emit({ kind: 'direct-post', iommu: a.iommu, change: 'dpta', value, what: describeDpta(value), dropped: undefined });
  },

  'invalidate-dpt'(draft, a, emit, before) {
    const unit = directPostUnitOrReject(before, a.iommu, emit);
    if (!unit) return;
    let inv;
    try {
      inv = decodeDptInvalidation(a.descriptor);
    } catch (e) {
      return void emit({ kind: 'action-rejected', why: `${unit.name}: ${(e as Error).message}` });
    }
    const r = dptcInvalidate(unit.directPost.cache, inv);
    if (r.cache !== unit.directPost.cache) {
      draft.iommus[a.iommu]!.directPost = { dpta: unit.directPost.dpta, cache: r.cache } as Draft<NonNullable<IommuUnit['directPost']>>;
    }
    const what =
      inv.granularity === 'global'
        ? 'global'
        : inv.granularity === 'source'
          ? `source SID ${formatBdf(inv.sid)}`
          : `entry SID ${formatBdf(inv.sid)} vAPIC ${inv.vapicId}`;
    emit({ kind: 'direct-post', iommu: a.iommu, change: 'invalidation', value: a.descriptor, what, dropped: r.dropped });
  },
};
