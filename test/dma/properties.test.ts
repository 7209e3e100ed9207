/**
 * Builder + walk properties: every mapped IOVA translates to its HPA with its rights, every
 * unmapped one faults; nested cold walks make (n+1)(m+1)−1 paging references; a cached
 * translation equals a fresh walk while memory is unchanged. Each property is also run against
 * a deliberately broken builder or walker, and fast-check must find a counterexample.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { translateDma, pagingReferenceCount, type DmaConfig, type DmaRequest, type DmaWalkResult } from '../../src/vtd/dma/walk.ts';
import { emptyDmaCaches, translateWithCaches } from '../../src/vtd/dma/caches.ts';
import type { Mapping } from '../../src/vtd/dma/builder.ts';
import type { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { PASID, RUNS, firstStageSetup, legacySetup, nestedSetup, req, secondStageSetup, type Setup } from './fixtures.ts';

const GiB = 1n << 30n;
const SIZES = [4096n, 1n << 21n, GiB] as const;

/** Mappings in distinct 1 GiB slots (IOVA slot s, HPA slot s + 64), each a 4 KiB multiple, 2 MiB or 1 GiB, aligned. */
const mappingsArb: fc.Arbitrary<Mapping[]> = fc
  .uniqueArray(
    fc.record({
      slot: fc.integer({ min: 0, max: 40 }),
      sizeKind: fc.integer({ min: 0, max: 2 }),
      pages: fc.integer({ min: 1, max: 3 }),
      offset: fc.integer({ min: 0, max: 255 }),
      read: fc.boolean(),
      write: fc.boolean(),
    }),
    { selector: (m) => m.slot, minLength: 1, maxLength: 5 },
  )
  .map((ms) =>
    ms.map((m) => {
      const unit = SIZES[m.sizeKind]!;
      const size = m.sizeKind === 2 ? GiB : unit * BigInt(m.pages);
      const offset = m.sizeKind === 2 ? 0n : (BigInt(m.offset) * unit) % (GiB - size + unit) - ((BigInt(m.offset) * unit) % (GiB - size + unit)) % unit;
      const base = BigInt(m.slot) * GiB + offset;
      return { iova: base, hpa: base + 64n * GiB, size, read: m.read || !m.write, write: m.write };
    }),
  );

type Mode = 'legacy' | 'second' | 'first' | 'nested';
interface Env {
  /** x86 first-stage entries cannot be write-only: a present entry is readable. */
  adjust?: (m: Mapping) => Mapping;
  setup(ms: readonly Mapping[]): Setup;
  request(iova: bigint, access: 'r' | 'w'): DmaRequest;
}
const ENVS: Record<Mode, Env> = {
  legacy: { setup: (ms) => legacySetup(ms), request: (i, a) => req(i, a) },
  second: { setup: (ms) => secondStageSetup(ms, { levels: 5 }), request: (i, a) => req(i, a, { pasid: PASID }) },
  first: { adjust: (m) => ({ ...m, read: true }), setup: (ms) => firstStageSetup(ms), request: (i, a) => req(i, a, { pasid: PASID }) },
  nested: {
    adjust: (m) => ({ ...m, read: true }),
    // GPA = HPA - 32 GiB: the first stage maps IOVA → GPA, the second GPA → HPA.
    setup: (ms) => nestedSetup(ms.map((m) => ({ ...m, gpa: m.hpa - 32n * GiB }))),
    request: (i, a) => req(i, a, { pasid: PASID }),
  },
};

type Walk = (memory: PhysicalMemory, config: DmaConfig, r: DmaRequest) => DmaWalkResult;
type Build = (mode: Mode, ms: readonly Mapping[]) => Setup;
const realBuild: Build = (mode, ms) => ENVS[mode].setup(ms);

/** Mapped: hpa + offset with the mapping's rights; unmapped: a fault. */
const mappedProperty = (build: Build, walk: Walk) =>
  fc.property(
    fc.constantFrom<Mode>('legacy', 'second', 'first', 'nested'),
    mappingsArb,
    fc.nat(),
    fc.integer({ min: 0, max: 40 }),
    fc.bigInt({ min: 0n, max: GiB - 4n }),
    (mode, raw, pick, probeSlot, probeOffset) => {
      const env = ENVS[mode];
      const ms = raw.map(env.adjust ?? ((m) => m));
      const s = build(mode, ms);
      const m = ms[pick % ms.length]!;
      const off = (BigInt(pick) * 0x1234_5678n) % BigInt(m.size) & ~3n;
      for (const access of ['r', 'w'] as const) {
        const r = walk(s.memory, s.config, env.request(m.iova + off, access));
        const allowed = access === 'r' ? m.read : m.write;
        if (allowed !== r.ok) return false;
        if (r.ok && (r.hpa !== m.hpa + off || r.permissions.write !== m.write || r.permissions.read !== m.read)) return false;
      }
      const probe = BigInt(probeSlot) * GiB + probeOffset;
      const mapped = ms.some((x) => probe >= x.iova && probe < x.iova + BigInt(x.size));
      return mapped || !walk(s.memory, s.config, env.request(probe, 'r')).ok;
    },
  );

describe('builder + walk: mapped IOVAs translate, unmapped ones fault', () => {
  it('holds for legacy, scalable second-stage (5-level), first-stage and nested', () => {
    fc.assert(mappedProperty(realBuild, translateDma), { ...RUNS, numRuns: 150 });
  });

  it('fails for a builder that drops the write permission', () => {
    const broken: Build = (mode, ms) => realBuild(mode, ms.map((m) => ({ ...m, write: false, read: true })));
    expect(fc.check(mappedProperty(broken, translateDma), RUNS).failed).toBe(true);
  });

  it('fails for a builder that maps one page too few', () => {
    const broken: Build = (mode, ms) =>
      realBuild(mode, ms.map((m) => (BigInt(m.size) > 4096n && BigInt(m.size) % (1n << 21n) !== 0n ? { ...m, size: BigInt(m.size) - 4096n } : m)));
    expect(fc.check(mappedProperty(broken, translateDma), RUNS).failed).toBe(true);
  });

  it('fails for a walker that drops the super-page offset above bit 11', () => {
    const broken: Walk = (mem, cfg, r) => {
      const t = translateDma(mem, cfg, r);
      return t.ok && t.pageSize > 4096 ? { ...t, hpa: t.hpa & ~BigInt(t.pageSize - 4096) } : t;
    };
    expect(fc.check(mappedProperty(realBuild, broken), RUNS).failed).toBe(true);
  });

  it('fails for a walker that ignores faults (returns identity on failure)', () => {
    const broken: Walk = (mem, cfg, r) => {
      const t = translateDma(mem, cfg, r);
      return t.ok ? t : { ok: true, hpa: r.iova, pageSize: 4096, permissions: { read: true, write: true, execute: true }, references: [], adUpdates: [], memory: mem, dirty: true, type: 'pass-through', did: 0, privileged: false, fpd: false, pagingStructures: [] };
    };
    expect(fc.check(mappedProperty(realBuild, broken), RUNS).failed).toBe(true);
  });
});

describe('nested reference count (n+1)(m+1)−1 over random mappings and levels', () => {
  const countProperty = (count: (refs: DmaWalkResult['references']) => number) =>
    fc.property(
      fc.constantFrom<4 | 5>(4, 5),
      fc.integer({ min: 3, max: 5 }),
      fc.bigInt({ min: 0n, max: (1n << 35n) - 1n }).map((x) => x << 12n), // below 2^47: canonical for 4 levels
      fc.bigInt({ min: 0n, max: (1n << 27n) - 1n }).map((x) => x << 12n),
      (n, m, iova, gpa) => {
        const s = nestedSetup([{ iova, gpa, hpa: 0x8000_0000n, size: 4096, read: true, write: true }], { firstLevels: n, secondLevels: m });
        const t = translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID }));
        return t.ok && count(t.references) === (n + 1) * (m + 1) - 1;
      },
    );
  it('holds when only paging-structure references are counted', () => {
    fc.assert(countProperty(pagingReferenceCount), { ...RUNS, numRuns: 60 });
  });
  it('fails when root/context/PASID references are counted too', () => {
    expect(fc.check(countProperty((refs) => refs.length), { ...RUNS, numRuns: 60 }).failed).toBe(true);
  });
});

describe('caches are coherent with memory that does not change', () => {
  const coherence = (walk: Walk) =>
    fc.property(mappingsArb, fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), (ms, picks) => {
      const s = legacySetup(ms);
      let caches = emptyDmaCaches({ iotlb: 3, pagingStructure: 4 });
      for (const p of picks) {
        const m = ms[p % ms.length]!;
        const r = req(m.iova + (BigInt(p) * 4096n) % BigInt(m.size), m.write ? 'w' : 'r');
        const cached = translateWithCaches(s.memory, s.config, caches, r);
        caches = cached.caches;
        const hpa = cached.hit ? cached.lookup.hpa : cached.result.ok ? cached.result.hpa : undefined;
        const fresh = walk(s.memory, s.config, r);
        if (hpa !== (fresh.ok ? fresh.hpa : undefined)) return false;
      }
      return true;
    });
  it('a hit returns what a fresh walk returns', () => {
    fc.assert(coherence(translateDma), { ...RUNS, numRuns: 100 });
  });
  it('fails against a walker that is off by one page', () => {
    const broken: Walk = (mem, cfg, r) => {
      const t = translateDma(mem, cfg, r);
      return t.ok ? { ...t, hpa: t.hpa + 4096n } : t;
    };
    expect(fc.check(coherence(broken), { ...RUNS, numRuns: 100 }).failed).toBe(true);
  });
});
