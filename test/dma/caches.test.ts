import { describe, expect, it } from 'vitest';
import {
  applyDmaInvalidation,
  emptyDmaCaches,
  insertTranslation,
  invalidateContextCache,
  invalidateIotlb,
  invalidatePasidCache,
  invalidatePasidIotlb,
  lookupDma,
  translateWithCaches,
  type DmaCaches,
} from '../../src/vtd/dma/caches.ts';
import { decodeDmaInvalidation, encodeDmaInvalidation } from '../../src/vtd/dma/invalidation-dma.ts';
import { translateDma, pagingReferenceCount, type DmaTranslation, type DmaWalkResult } from '../../src/vtd/dma/walk.ts';
import { DID, PASID, RID, firstStageSetup, legacySetup, req, type Setup } from './fixtures.ts';

const ok = (r: DmaWalkResult): DmaTranslation => {
  if (!r.ok) throw new Error(`fault 0x${r.fault.reason.toString(16)}`);
  return r;
};
const iova = 0x40_0000n;
const pageOpts = { did: DID, address: iova, addressMask: 0, invalidationHint: false } as const;

/** Walk once through the caches; return caches and the leaf entry address. */
function warm(s: Setup, r = req(iova), caches: DmaCaches = emptyDmaCaches()): { caches: DmaCaches; leaf: bigint; t: DmaTranslation } {
  const res = translateWithCaches(s.memory, s.config, caches, r);
  if (res.hit) throw new Error('cold caches hit');
  const t = ok(res.result);
  return { caches: res.caches, leaf: t.references.at(-1)!.entryAddress, t };
}

describe('stale translations until invalidated (legacy IOTLB, page-selective)', () => {
  it('a changed PTE is invisible to the IOTLB until a page-selective invalidation', () => {
    const s = legacySetup([{ iova, hpa: 0xa000n, size: 4096, read: true, write: true }]);
    const { caches, leaf } = warm(s);
    const memory = s.memory.writeLE(leaf, 8, 0xb003n); // now maps to 0xb000
    const hit = lookupDma(caches, req(iova + 8n));
    expect(hit).toMatchObject({ hit: true, hpa: 0xa008n }); // stale
    expect(ok(translateDma(memory, s.config, req(iova + 8n))).hpa).toBe(0xb008n);
    const inv = invalidateIotlb(caches, { granularity: 'page', ...pageOpts });
    expect(lookupDma(inv, req(iova + 8n))).toEqual({ hit: false, missed: 'iotlb' });
    const again = translateWithCaches(memory, s.config, inv, req(iova + 8n));
    expect(again.hit).toBe(false);
    expect(!again.hit && again.result.ok && again.result.hpa).toBe(0xb008n);
    expect(lookupDma(again.caches, req(iova + 8n))).toMatchObject({ hit: true, hpa: 0xb008n });
  });

  it('an invalidation of another page, or of another domain, leaves the stale entry', () => {
    const s = legacySetup([{ iova, hpa: 0xa000n, size: 4096, read: true, write: true }]);
    const { caches } = warm(s);
    expect(lookupDma(invalidateIotlb(caches, { granularity: 'page', ...pageOpts, address: iova + 0x1000n }), req(iova)).hit).toBe(true);
    expect(lookupDma(invalidateIotlb(caches, { granularity: 'domain', ...pageOpts, did: DID + 1 }), req(iova)).hit).toBe(true);
    expect(lookupDma(invalidateIotlb(caches, { granularity: 'domain', ...pageOpts }), req(iova)).hit).toBe(false);
    expect(lookupDma(invalidateIotlb(caches, { granularity: 'global', ...pageOpts }), req(iova)).hit).toBe(false);
    // AM = 4 covers 16 pages from an aligned address.
    expect(lookupDma(invalidateIotlb(caches, { granularity: 'page', ...pageOpts, address: iova + 0xf000n, addressMask: 4 }), req(iova)).hit).toBe(false);
  });

  it('IH = 1 keeps the paging-structure caches: the next walk starts at the leaf table (1 reference)', () => {
    const s = legacySetup([{ iova, hpa: 0xa000n, size: 4096, read: true, write: true }]);
    const { caches } = warm(s);
    expect(caches.pagingStructure).toHaveLength(3); // PML4E, PDPTE, PDE
    const kept = invalidateIotlb(caches, { granularity: 'page', ...pageOpts, invalidationHint: true });
    expect(kept.pagingStructure).toHaveLength(3);
    const r = translateWithCaches(s.memory, s.config, kept, req(iova));
    expect(!r.hit && pagingReferenceCount(r.result.references)).toBe(1);
    const dropped = invalidateIotlb(caches, { granularity: 'page', ...pageOpts });
    expect(dropped.pagingStructure).toHaveLength(0);
    const r2 = translateWithCaches(s.memory, s.config, dropped, req(iova));
    expect(!r2.hit && pagingReferenceCount(r2.result.references)).toBe(4);
  });

  it('a write to an entry cached by a read misses (D must be set) only when A/D are tracked', () => {
    const s = firstStageSetup([{ iova, hpa: 0xa000n, size: 4096, read: true, write: true }]);
    const { caches } = warm(s, req(iova, 'r', { pasid: PASID }));
    expect(lookupDma(caches, req(iova, 'w', { pasid: PASID }))).toEqual({ hit: false, missed: 'dirty' });
    const l = legacySetup([{ iova, hpa: 0xa000n, size: 4096, read: true, write: true }]);
    expect(lookupDma(warm(l).caches, req(iova, 'w')).hit).toBe(true);
  });

  it('cached rights are re-checked: a write through a read-only entry misses (the walk then faults)', () => {
    const s = legacySetup([{ iova, hpa: 0xa000n, size: 4096, read: true, write: false }]);
    const { caches } = warm(s);
    expect(lookupDma(caches, req(iova, 'w'))).toEqual({ hit: false, missed: 'permission' });
  });
});

describe('context cache and PASID cache', () => {
  it('a cleared context entry is still used until a context-cache invalidation; FM widens device-selective', () => {
    const s = legacySetup([{ iova, hpa: 0xa000n, size: 4096, read: true, write: true }]);
    const { caches, t } = warm(s);
    const ctx = t.references.find((r) => r.stage === 'context')!;
    const memory = s.memory.writeLE(ctx.entryAddress, 16, 0n);
    expect(lookupDma(caches, req(iova)).hit).toBe(true);
    expect(translateDma(memory, s.config, req(iova)).ok).toBe(false);
    const exact = { did: DID, sid: RID | 7, functionMask: 0 };
    expect(invalidateContextCache(caches, { granularity: 'device', ...exact }).context).toHaveLength(1);
    expect(invalidateContextCache(caches, { granularity: 'device', ...exact, functionMask: 3 }).context).toHaveLength(0);
    expect(invalidateContextCache(caches, { granularity: 'domain', ...exact, did: DID + 1 }).context).toHaveLength(1);
    expect(invalidateContextCache(caches, { granularity: 'domain', ...exact }).context).toHaveLength(0);
    expect(lookupDma(invalidateContextCache(caches, { granularity: 'global', ...exact }), req(iova))).toEqual({ hit: false, missed: 'context' });
  });

  it('first-stage entries: type-2 page-selective does not reach them, PASID-IOTLB does; PASID cache by (DID, PASID)', () => {
    const s = firstStageSetup([{ iova, hpa: 0xa000n, size: 4096, read: true, write: true }]);
    const r = req(iova, 'w', { pasid: PASID });
    const { caches } = warm(s, r);
    expect(lookupDma(caches, r)).toMatchObject({ hit: true, hpa: 0xa000n, pasid: PASID, type: 'first-stage' });
    expect(lookupDma(invalidateIotlb(caches, { granularity: 'page', ...pageOpts }), r).hit).toBe(true);
    const p = { did: DID, pasid: PASID, address: iova, addressMask: 0, invalidationHint: false };
    expect(lookupDma(invalidatePasidIotlb(caches, { granularity: 'page', ...p }), r)).toEqual({ hit: false, missed: 'iotlb' });
    expect(lookupDma(invalidatePasidIotlb(caches, { granularity: 'page', ...p, pasid: PASID + 1 }), r).hit).toBe(true);
    expect(lookupDma(invalidatePasidIotlb(caches, { granularity: 'pasid', ...p, address: 0n }), r).hit).toBe(false);
    expect(lookupDma(invalidatePasidCache(caches, { granularity: 'pasid', did: DID, pasid: PASID }), r)).toEqual({ hit: false, missed: 'pasid' });
    expect(lookupDma(invalidatePasidCache(caches, { granularity: 'pasid', did: DID, pasid: 1 }), r).hit).toBe(true);
    expect(lookupDma(invalidatePasidCache(caches, { granularity: 'domain', did: DID, pasid: 0 }), r).hit).toBe(false);
    expect(lookupDma(invalidatePasidCache(caches, { granularity: 'global', did: 0, pasid: 0 }), r).hit).toBe(false);
  });

  it('descriptors drive the invalidations: encode → decode → apply', () => {
    const s = legacySetup([{ iova, hpa: 0xa000n, size: 4096, read: true, write: true }]);
    const { caches } = warm(s);
    const raw = encodeDmaInvalidation({ kind: 'iotlb', granularity: 'page', drainReads: false, drainWrites: false, ...pageOpts });
    const inv = applyDmaInvalidation(caches, decodeDmaInvalidation(raw)!.desc);
    expect(lookupDma(inv, req(iova)).hit).toBe(false);
  });
});

describe('capacity and FIFO eviction', () => {
  it('IOTLB of 2 entries: the oldest translation is evicted first; lookups do not refresh it', () => {
    const pages = [0n, 1n, 2n].map((i) => iova + i * 0x1000n);
    const s = legacySetup(pages.map((p, i) => ({ iova: p, hpa: 0xa000n + BigInt(i) * 0x1000n, size: 4096, read: true, write: true })));
    let caches = emptyDmaCaches({ iotlb: 2 });
    for (const p of pages.slice(0, 2)) caches = warm(s, req(p), caches).caches;
    expect(lookupDma(caches, req(pages[0]!)).hit).toBe(true); // FIFO: this hit changes nothing
    caches = warm(s, req(pages[2]!), caches).caches;
    expect(caches.iotlb).toHaveLength(2);
    expect(lookupDma(caches, req(pages[0]!))).toEqual({ hit: false, missed: 'iotlb' });
    expect(lookupDma(caches, req(pages[1]!)).hit).toBe(true);
    expect(lookupDma(caches, req(pages[2]!)).hit).toBe(true);
  });

  it('re-inserting the same key replaces it; capacity 0 caches nothing; the state is plain data', () => {
    const s = legacySetup([{ iova, hpa: 0xa000n, size: 4096, read: true, write: true }]);
    const t = ok(translateDma(s.memory, s.config, req(iova)));
    const c1 = insertTranslation(insertTranslation(emptyDmaCaches(), req(iova), t), req(iova), t);
    expect(c1.iotlb).toHaveLength(1);
    expect(insertTranslation(emptyDmaCaches({ iotlb: 0 }), req(iova), t).iotlb).toHaveLength(0);
    expect(structuredClone(c1)).toEqual(c1);
    expect(() => emptyDmaCaches({ iotlb: -1 })).toThrow(RangeError);
  });
});
