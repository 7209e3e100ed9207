/**
 * P4 (src/properties/p4-coherence.ts) judged access by access: the stale entries an access
 * used come from its event, or — for an IOTLB hit only, which changes no cache — from looking
 * the request up again in the unit's caches; a walk or an untranslated access without stale
 * entries is never a violation. The messages name every stale entry in lookup order (context,
 * PASID, paging-structure, IOTLB) and what the tables give now. The runs are those of
 * test/properties/p4-caches.test.ts: a context entry changed without its context-cache
 * invalidation (legacy mode), and a first-stage page unmapped with only a type-2 IOTLB
 * invalidation, which does not reach first-stage entries (VT-d §6.5.2.4 / §6.5.2.5).
 */
import { describe, expect, it } from 'vitest';
import { checkCachedAccess, checkCoherence } from '../../src/properties/p4-coherence.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import type * as S from '../../src/scenario/types.ts';
import type { DmaAccessEvent, DmaFaultEvent, PlatformEvent } from '../../src/platform/events.ts';
import type { StaleCacheUse } from '../../src/vtd/dma/caches.ts';

const HEADER = [
  'name: p4-checks',
  'platform:',
  '  hostAddressWidth: 46',
  '  cpus: { count: 3 }',
  '  iommus: [{ registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: "0xe90004f020fe" }]',
  'devices: [{ bdf: "07:00.0" }, { bdf: "08:00.0" }]',
  'domains:',
  '  - { name: host, kind: host, cpus: [0] }',
  '  - { name: vm1, kind: guest, cpus: [1], devices: ["07:00.0"] }',
  '  - { name: vm2, kind: guest, cpus: [2], devices: ["08:00.0"] }',
].join('\n');

function run(steps: readonly object[]): RunResult {
  const base = parseScenarioText(`${HEADER}\nsteps: []\n`, 'p4-checks.yaml');
  return runScenario(compileScenario({ file: base.file, data: { ...(base.data as S.Scenario), steps: steps as S.Step[] }, lineAt: () => undefined }));
}
const dma = (address: number, o: { pasid?: number; write?: boolean } = {}): object => ({
  dma: { device: '07:00.0', address, size: 8, ...(o.write === false ? { write: false } : { value: 1 }), ...(o.pasid === undefined ? {} : { pasid: o.pasid }) },
});
function outcome(r: RunResult, step: number): DmaAccessEvent | DmaFaultEvent {
  const e = r.steps[step]!.events.find((x): x is DmaAccessEvent | DmaFaultEvent => x.kind === 'dma-access' || x.kind === 'dma-fault');
  if (e === undefined) throw new Error(`no DMA outcome at step ${step}`);
  return e;
}
/** The event as a recorder that drops `stale` would have it. */
function withoutStale<E extends DmaAccessEvent | DmaFaultEvent>(e: E): E {
  const { stale: _, ...rest } = e;
  return rest as E;
}

/** Legacy mode: 07:00.0's context entry moves from DID 1 to DID 3; only DID 3's IOTLB is flushed, so the old context entry leads to DID 1's IOTLB entry. */
function staleContext(): { r: RunResult; e: DmaAccessEvent } {
  const r = run([
    { 'enable-dma': { iommu: 0, scalable: false } },
    { 'map-dma': { iommu: 0, device: '07:00.0', did: 1, mode: 'legacy', mappings: [{ iova: 0x10000, hpa: 0x8000_0000, size: 0x1000 }] } },
    dma(0x10000),
    { 'map-dma': { iommu: 0, device: '07:00.0', did: 3, mode: 'legacy', invalidate: 'deferred', mappings: [{ iova: 0x10000, hpa: 0x8100_0000, size: 0x1000 }] } },
    { 'invalidate-iotlb': { iommu: 0, granularity: 'domain', did: 3 } },
    dma(0x10010),
  ]);
  const e = outcome(r, 5);
  if (e.kind !== 'dma-access') throw new Error(e.kind);
  return { r, e };
}
const CONTEXT_MESSAGE = '07:00.0 wrote IOVA 0x10010 through a stale context-cache entry for 07:00.0 (DID 1) to HPA 0x80000010; the tables now give HPA 0x81000010';

/** Scalable mode, first-stage, PASID 2: the page unmapped, a type-2 page invalidation, then a read through the stale IOTLB entry (or, with the PASID-based one, a fault). */
function staleIotlb(pasidInvalidation = false): RunResult {
  return run([
    { 'enable-dma': { iommu: 0, scalable: true } },
    { 'map-dma': { iommu: 0, device: '07:00.0', did: 1, mode: 'first-stage', pasid: 2, mappings: [{ iova: 0x10000, hpa: 0x8000_0000, size: 0x2000 }] } },
    dma(0x10000, { pasid: 2 }),
    { 'unmap-dma': { iommu: 0, device: '07:00.0', did: 1, pasid: 2, iova: 0x10000, size: 0x1000, invalidate: 'deferred' } },
    pasidInvalidation
      ? { 'invalidate-pasid-iotlb': { iommu: 0, granularity: 'page', did: 1, pasid: 2, address: 0x10000 } }
      : { 'invalidate-iotlb': { iommu: 0, granularity: 'page', did: 1, address: 0x10000 } },
    dma(0x10010, { pasid: 2, write: false }),
  ]);
}
const IOTLB_MESSAGE = '07:00.0 read IOVA 0x10010 through a stale IOTLB entry to HPA 0x80000010; the tables now give fault 0x71 (fs-not-present)';

describe('P4 checkCachedAccess: where the stale entries come from', () => {
  it('an IOTLB hit through a stale context entry, as the platform reports it (stale in the event)', () => {
    const { r, e } = staleContext();
    expect(e).toMatchObject({ translation: 'iotlb-hit', stale: [{ cache: 'context', rid: 0x700, did: 1 }] });
    expect(checkCachedAccess(r.final, e)).toEqual({ property: 'P4', step: e.step, message: CONTEXT_MESSAGE });
  });

  it('an IOTLB hit whose event carries no stale list is looked up again in the unit\'s caches', () => {
    const { r, e } = staleContext();
    expect(checkCachedAccess(r.final, withoutStale(e))).toEqual({ property: 'P4', step: e.step, message: CONTEXT_MESSAGE });
  });

  it('only an IOTLB hit is looked up again: a walk or an untranslated access without stale entries is no violation', () => {
    const { r, e } = staleContext();
    expect(checkCachedAccess(r.final, { ...withoutStale(e), translation: 'walk' })).toBeUndefined();
    expect(checkCachedAccess(r.final, { ...withoutStale(e), translation: 'untranslated' })).toBeUndefined();
  });

  it('an access no unit translated is never judged, whatever its event says', () => {
    const { r, e } = staleContext();
    expect(checkCachedAccess(r.final, { ...e, iommu: undefined })).toBeUndefined();
    expect(checkCachedAccess(r.final, { ...withoutStale(e), iommu: undefined })).toBeUndefined();
  });

  it('an IOTLB hit naming a unit the platform does not have finds nothing to look up', () => {
    const { r, e } = staleContext();
    expect(checkCachedAccess(r.final, { ...withoutStale(e), iommu: 4 })).toBeUndefined();
  });

  it('an event whose stale list is empty used no stale entry', () => {
    const { r, e } = staleContext();
    expect(checkCachedAccess(r.final, { ...e, stale: [] })).toBeUndefined();
  });

  it('the lookup again uses the request as it was: a request of another device, or without its PASID, misses', () => {
    const r = staleIotlb();
    const e = outcome(r, 5);
    expect(e).toMatchObject({ kind: 'dma-access', translation: 'iotlb-hit', pasid: 2, write: false });
    expect(checkCachedAccess(r.final, e)).toEqual({ property: 'P4', step: e.step, message: IOTLB_MESSAGE });
    expect(checkCachedAccess(r.final, withoutStale(e))).toEqual({ property: 'P4', step: e.step, message: IOTLB_MESSAGE });
    expect(checkCachedAccess(r.final, { ...withoutStale(e), pasid: undefined })).toBeUndefined();
    expect(checkCachedAccess(r.final, { ...withoutStale(e), rid: 0x800 })).toBeUndefined();
    expect(checkCachedAccess(r.final, { ...withoutStale(e), iova: 0x11010n })).toBeUndefined();
  });

  it('the fresh walk is of the same request: a read of IOVA 0x11010 (still mapped) gives its HPA', () => {
    const r = staleIotlb();
    const e = outcome(r, 5);
    // The page at 0x11000 is still mapped to 0x80001000: only the unmapped page faults now.
    expect(checkCachedAccess(r.final, { ...e, iova: 0x11010n })?.message).toBe('07:00.0 read IOVA 0x11010 through a stale IOTLB entry to HPA 0x80000010; the tables now give HPA 0x80001010');
  });
});

describe('P4 checkCachedAccess: the fresh walk is of the access\'s own type', () => {
  /** As staleContext, but the new tables map the page write-only: a read of it faults now, a write does not. */
  function staleToWriteOnly(): { r: RunResult; e: DmaAccessEvent } {
    const r = run([
      { 'enable-dma': { iommu: 0, scalable: false } },
      { 'map-dma': { iommu: 0, device: '07:00.0', did: 1, mode: 'legacy', mappings: [{ iova: 0x10000, hpa: 0x8000_0000, size: 0x1000 }] } },
      dma(0x10000),
      { 'map-dma': { iommu: 0, device: '07:00.0', did: 3, mode: 'legacy', invalidate: 'deferred', mappings: [{ iova: 0x10000, hpa: 0x8100_0000, size: 0x1000, read: false }] } },
      { 'invalidate-iotlb': { iommu: 0, granularity: 'domain', did: 3 } },
      dma(0x10010),
    ]);
    const e = outcome(r, 5);
    if (e.kind !== 'dma-access') throw new Error(e.kind);
    return { r, e };
  }

  it('a write: the tables give the new page', () => {
    const { r, e } = staleToWriteOnly();
    expect(checkCachedAccess(r.final, e)?.message).toBe(CONTEXT_MESSAGE);
  });

  it('a read of the same page: the tables now fault it', () => {
    const { r, e } = staleToWriteOnly();
    expect(checkCachedAccess(r.final, { ...e, write: false })?.message).toMatch(
      /^07:00\.0 read IOVA 0x10010 through a stale context-cache entry for 07:00\.0 \(DID 1\) to HPA 0x80000010; the tables now give fault 0x[0-9a-f]+ \([a-z-]+\)$/,
    );
  });
});

describe('P4 checkCachedAccess: messages', () => {
  const context: StaleCacheUse = { cache: 'context', rid: 0x700, entry: 0n };
  const pasid: StaleCacheUse = { cache: 'pasid', rid: 0x701, pasid: 5, did: 2, entry: 0n };
  const paging: StaleCacheUse = { cache: 'paging-structure', did: 2, root: 0x1000n, level: 3, prefix: 0n, nextTable: 0x5000n };
  const iotlb: StaleCacheUse = { cache: 'iotlb', did: 2, page: 0x10n, pageSize: 4096, hpaBase: 0x8000_0000n };

  it('every stale entry is named, in lookup order whatever the event\'s order; a context entry without DID names none', () => {
    const { r, e } = staleContext();
    expect(checkCachedAccess(r.final, { ...e, stale: [iotlb, paging, pasid, context] })?.message).toBe(
      '07:00.0 wrote IOVA 0x10010 through a stale context-cache entry for 07:00.0 and a stale PASID-cache entry for 07:00.1 PASID 5 (DID 2) and a stale paging-structure-cache entry (DID 2, level 3 → table 0x5000) and a stale IOTLB entry to HPA 0x80000010; the tables now give HPA 0x81000010',
    );
  });

  it('a read says "read"', () => {
    const r = staleIotlb();
    const e = outcome(r, 5);
    expect(checkCachedAccess(r.final, { ...e, stale: [paging] })?.message).toBe(
      '07:00.0 read IOVA 0x10010 through a stale paging-structure-cache entry (DID 2, level 3 → table 0x5000) to HPA 0x80000010; the tables now give fault 0x71 (fs-not-present)',
    );
  });

  it('a fault through a stale entry names the fault it took and what the tables give now', () => {
    const r = staleIotlb(true);
    const e = outcome(r, 5);
    expect(e).toMatchObject({ kind: 'dma-fault', reason: 0x71, condition: 'fs-not-present' });
    expect(e.stale).toBeUndefined();
    expect(checkCachedAccess(r.final, e)).toBeUndefined();
    expect(checkCachedAccess(r.final, { ...e, stale: [paging] })).toEqual({
      property: 'P4',
      step: e.step,
      message: "07:00.0's read of IOVA 0x10010 faulted (0x71, fs-not-present) through a stale paging-structure-cache entry (DID 2, level 3 → table 0x5000); the tables now give fault 0x71 (fs-not-present)",
    });
    expect(checkCachedAccess(r.final, { ...e, write: true, stale: [context] })?.message).toMatch(
      /^07:00\.0's write of IOVA 0x10010 faulted \(0x71, fs-not-present\) through a stale context-cache entry for 07:00\.0; the tables now give fault 0x[0-9a-f]+ \([a-z-]+\)$/,
    );
  });
});

describe('P4 checkCoherence', () => {
  it('judges DMA accesses and faults only, in event order', () => {
    const { r, e } = staleContext();
    const events: PlatformEvent[] = [
      { kind: 'intent', step: 1, change: 'x' },
      { ...withoutStale(e), translation: 'walk', step: 2 },
      { ...e, step: 3 },
      { ...e, step: 4, kind: 'dma-fault', reason: 0x71, condition: 'fs-not-present', frcd: undefined } as unknown as DmaFaultEvent,
    ];
    expect(checkCoherence(r.final, events)).toEqual([
      { property: 'P4', step: 3, message: CONTEXT_MESSAGE },
      { property: 'P4', step: 4, message: "07:00.0's write of IOVA 0x10010 faulted (0x71, fs-not-present) through a stale context-cache entry for 07:00.0 (DID 1); the tables now give HPA 0x81000010" },
    ]);
  });

  it('a run without DMA: nothing', () => {
    const { r } = staleContext();
    expect(checkCoherence(r.final, [{ kind: 'intent', step: 0, change: 'x' }])).toEqual([]);
  });
});
