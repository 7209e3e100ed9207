/**
 * P4 judges every cache (issue #10 item 6): a translation that uses a context-cache,
 * PASID-cache, IOTLB or paging-structure-cache entry whose source the hypervisor changed, after
 * an invalidation wait completed without dropping it, is a violation; the same use before the
 * wait is not (the invalidation is in flight). Each check is shown able to fail with a broken
 * configuration (a change without the invalidation that covers it), and not to fail after the
 * right one; then a fast-check property over random map / unmap / invalidate / DMA sequences:
 * no P4 when every change is followed by its invalidations and wait, and the same generator
 * finds a P4 violation when one invalidation is skipped.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario, type CompiledScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import type * as S from '../../src/scenario/types.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import { SCALABLE_ECAP } from '../../src/platform/build.ts';

const HEADER = [
  'name: p4-caches',
  'platform:',
  '  hostAddressWidth: 46',
  '  cpus: { count: 3 }',
  // A scalable-mode unit: a real scalable-mode ECAP (src/platform/build.ts SCALABLE_ECAP).
  `  iommus: [{ registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: "0x${SCALABLE_ECAP.toString(16)}" }]`,
  'devices: [{ bdf: "07:00.0" }, { bdf: "08:00.0" }]',
  'domains:',
  '  - { name: host, kind: host, cpus: [0] }',
  '  - { name: vm1, kind: guest, cpus: [1], devices: ["07:00.0"] }',
  '  - { name: vm2, kind: guest, cpus: [2], devices: ["08:00.0"] }',
].join('\n');

const base = parseScenarioText(`${HEADER}\nsteps: []\n`, 'p4-caches.yaml');
const compile = (steps: readonly object[]): CompiledScenario =>
  compileScenario({ file: base.file, data: { ...(base.data as S.Scenario), steps: steps as S.Step[] }, lineAt: () => undefined });
const run = (steps: readonly object[]): RunResult => runScenario(compile(steps));
/** The P4 messages of a run, with the scenario step (index in `steps`) each came from. */
function p4(r: RunResult): { step: number; message: string }[] {
  const stepOfAction: number[] = [];
  r.scenario.steps.forEach((s, i) => s.actions.forEach(() => stepOfAction.push(i)));
  return r.coherence.map((v) => ({ step: stepOfAction[v.step]!, message: v.message }));
}
const outcome = (r: RunResult, step: number): PlatformEvent => r.steps[step]!.events.find((e) => e.kind === 'dma-access' || e.kind === 'dma-fault')!;

const enable = (scalable: boolean): object => ({ 'enable-dma': { iommu: 0, scalable } });
const dma = (device: string, address: number, pasid?: number): object => ({ dma: { device, address, size: 8, value: 1, ...(pasid === undefined ? {} : { pasid }) } });

describe('the context cache', () => {
  // 07:00.0 moves from DID 1 to DID 3 (a new domain's tables); DID 1's IOTLB entries stay (another device could be in it).
  const steps = (flush: readonly object[]): object[] => [
    enable(false),
    { 'map-dma': { iommu: 0, device: '07:00.0', did: 1, mode: 'legacy', mappings: [{ iova: 0x10000, hpa: 0x8000_0000, size: 0x1000 }] } },
    dma('07:00.0', 0x10000),
    { note: 'the context entry now names DID 3', 'map-dma': { iommu: 0, device: '07:00.0', did: 3, mode: 'legacy', invalidate: 'deferred', mappings: [{ iova: 0x10000, hpa: 0x8100_0000, size: 0x1000 }] } },
    dma('07:00.0', 0x10008),
    ...flush,
    dma('07:00.0', 0x10010),
  ];

  it('without the context-cache invalidation (only the new DID’s IOTLB flushed): the stale context entry is used after the wait', () => {
    const r = run(steps([{ 'invalidate-iotlb': { iommu: 0, granularity: 'domain', did: 3 } }]));
    // Before the wait the old translation is allowed; after it, it is a violation.
    expect(outcome(r, 4)).toMatchObject({ kind: 'dma-access', hpa: 0x8000_0008n, translation: 'iotlb-hit' });
    expect(p4(r)).toEqual([{ step: 6, message: expect.stringMatching(/^07:00\.0 wrote IOVA 0x10010 through a stale context-cache entry for 07:00\.0 \(DID 1\) to HPA 0x80000010; the tables now give HPA 0x81000010$/) }]);
  });

  it('a map that skips its invalidations (invalidate: false) is judged when it returns: the next use of the old context entry is a violation', () => {
    const r = run([...steps([]).slice(0, 3), { 'map-dma': { iommu: 0, device: '07:00.0', did: 3, mode: 'legacy', invalidate: false, mappings: [{ iova: 0x10000, hpa: 0x8100_0000, size: 0x1000 }] } }, dma('07:00.0', 0x10008)]);
    expect(p4(r)).toEqual([{ step: 4, message: expect.stringMatching(/through a stale context-cache entry for 07:00\.0 \(DID 1\)/) }]);
  });

  it('with it (context cache by device, IOTLB of the old DID): no stale use', () => {
    const r = run(steps([
      { 'invalidate-context-cache': { iommu: 0, granularity: 'device', did: 1, sid: '07:00.0', wait: false } },
      { 'invalidate-iotlb': { iommu: 0, granularity: 'domain', did: 1 } },
    ]));
    expect(outcome(r, 7)).toMatchObject({ kind: 'dma-access', hpa: 0x8100_0010n, translation: 'walk' });
    expect(p4(r)).toEqual([]);
  });
});

describe('the PASID cache', () => {
  // PASID 1 of 07:00.0 moves from DID 1 to DID 3; the context entry and PASID directory stay.
  const steps = (flush: readonly object[]): object[] => [
    enable(true),
    { 'map-dma': { iommu: 0, device: '07:00.0', did: 1, mode: 'second-stage', pasid: 1, mappings: [{ iova: 0x10000, hpa: 0x8000_0000, size: 0x1000 }] } },
    dma('07:00.0', 0x10000, 1),
    { 'map-dma': { iommu: 0, device: '07:00.0', did: 3, mode: 'second-stage', pasid: 1, invalidate: 'deferred', mappings: [{ iova: 0x10000, hpa: 0x8100_0000, size: 0x1000 }] } },
    ...flush,
    dma('07:00.0', 0x10008, 1),
  ];

  it('without the PASID-cache invalidation: the stale PASID entry (DID 1) leads to DID 1’s IOTLB entry', () => {
    const r = run(steps([{ 'invalidate-iotlb': { iommu: 0, granularity: 'domain', did: 3 } }]));
    expect(p4(r)).toEqual([{ step: 5, message: expect.stringMatching(/through a stale PASID-cache entry for 07:00\.0 PASID 1 \(DID 1\) to HPA 0x80000008; the tables now give HPA 0x81000008$/) }]);
  });

  it('with PASID-selective PASID-cache and domain IOTLB invalidations of the old DID: none', () => {
    const r = run(steps([
      { 'invalidate-pasid-cache': { iommu: 0, granularity: 'pasid', did: 1, pasid: 1, wait: false } },
      { 'invalidate-iotlb': { iommu: 0, granularity: 'domain', did: 1 } },
    ]));
    expect(outcome(r, 6)).toMatchObject({ kind: 'dma-access', hpa: 0x8100_0008n });
    expect(p4(r)).toEqual([]);
  });
});

describe('the IOTLB', () => {
  const steps = (flush: readonly object[]): object[] => [
    enable(true),
    { 'map-dma': { iommu: 0, device: '07:00.0', did: 1, mode: 'first-stage', pasid: 2, mappings: [{ iova: 0x10000, hpa: 0x8000_0000, size: 0x2000 }] } },
    dma('07:00.0', 0x10000, 2),
    { 'unmap-dma': { iommu: 0, device: '07:00.0', did: 1, pasid: 2, iova: 0x10000, size: 0x1000, invalidate: 'deferred' } },
    { note: 'the invalidation is in flight: the old translation may still be used', ...dma('07:00.0', 0x10008, 2) },
    ...flush,
    dma('07:00.0', 0x10010, 2),
  ];

  it('a type-2 page invalidation does not reach a first-stage entry: after its wait the stale entry is a violation', () => {
    const r = run(steps([{ 'invalidate-iotlb': { iommu: 0, granularity: 'page', did: 1, address: 0x10000 } }]));
    expect(outcome(r, 4)).toMatchObject({ kind: 'dma-access', translation: 'iotlb-hit' });
    expect(p4(r)).toEqual([{ step: 6, message: expect.stringMatching(/^07:00\.0 wrote IOVA 0x10010 through a stale IOTLB entry to HPA 0x80000010; the tables now give fault 0x71/) }]);
  });

  it('the PASID-based IOTLB invalidation covers it: the access faults, no P4', () => {
    const r = run(steps([{ 'invalidate-pasid-iotlb': { iommu: 0, granularity: 'page', did: 1, pasid: 2, address: 0x10000 } }]));
    expect(outcome(r, 6)).toMatchObject({ kind: 'dma-fault', reason: 0x71 });
    expect(p4(r)).toEqual([]);
  });

  it('an unmap that skips its invalidation (invalidate: false) is judged when it returns', () => {
    const r = run([...steps([]).slice(0, 3), { 'unmap-dma': { iommu: 0, device: '07:00.0', did: 1, pasid: 2, iova: 0x10000, size: 0x1000, invalidate: false } }, dma('07:00.0', 0x10008, 2)]);
    expect(p4(r).map((v) => v.step)).toEqual([4]);
  });
});

describe('the paging-structure cache', () => {
  // The hypervisor clears the PDE above 07:00.0's page (a non-leaf entry), so IH = 1 ("only leaves changed") is wrong.
  const steps = (): object[] => [
    enable(false),
    { 'map-dma': { iommu: 0, device: '07:00.0', did: 1, mode: 'legacy', mappings: [{ iova: 0x10000, hpa: 0x8000_0000, size: 0x2000 }] } },
    dma('07:00.0', 0x10000),
  ];

  function pdeOf(r: RunResult): bigint {
    const walk = outcome(r, 2);
    if (walk.kind !== 'dma-access') throw new Error(walk.kind);
    return walk.references.filter((x) => x.stage === 'second' && x.level === 2)[0]!.entryAddress;
  }

  for (const ih of [true, false]) {
    it(ih ? 'cleared PDE, page invalidation with IH = 1: the next walk starts from the stale PDE — a violation' : 'the same with IH = 0: the paging-structure entries go, the walk faults, no P4', () => {
      const first = run(steps());
      const pde = pdeOf(first);
      const r = run([
        ...steps(),
        { 'write-memory': { address: `0x${pde.toString(16)}`, bytes: 8, value: 0 } },
        { 'invalidate-iotlb': { iommu: 0, granularity: 'page', did: 1, address: 0x10000, am: 1, ih } },
        dma('07:00.0', 0x11000),
      ]);
      if (ih) {
        expect(outcome(r, 5)).toMatchObject({ kind: 'dma-access', hpa: 0x8000_1000n, translation: 'walk' });
        expect(p4(r)).toEqual([{ step: 5, message: expect.stringMatching(/^07:00\.0 wrote IOVA 0x11000 through a stale paging-structure-cache entry \(DID 1, level 2 → table 0x[0-9a-f]+\) to HPA 0x80001000; the tables now give fault 0x5/) }]);
      } else {
        expect(outcome(r, 5)).toMatchObject({ kind: 'dma-fault' });
        expect(p4(r)).toEqual([]);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------
// The property: random sequences of hypervisor changes, each followed by its invalidations and
// wait (stand-alone steps), and device DMA, sometimes inside the window before the wait.

const MODES = ['legacy', 'second-stage', 'first-stage', 'nested'] as const;
type Mode = (typeof MODES)[number];
const DEVICES = [
  { bdf: '07:00.0', dids: [1, 3], iova: 0x10000, hpa: 0x8000_0000 },
  { bdf: '08:00.0', dids: [2, 4], iova: 0x50000, hpa: 0x9000_0000 },
] as const;
/** Address spaces: requests without PASID, and (scalable) PASID 1. */
const SPACES = [undefined, 1] as const;
const PAGES = 4;

type Op =
  /** `probe`: DMA to a page of the space before the change (to cache it) and after its invalidations (to use what is left). */
  | { kind: 'map'; device: number; space: number; did: number; pages: readonly { slot: number; frame: number; write: boolean }[]; window: boolean; probe: boolean }
  /** Unmap one page of the current mappings (`pick`-th, wrapped). */
  | { kind: 'unmap'; pick: number; window: boolean; probe: boolean }
  /** DMA to a page mapped at some point of the run (`pick`-th, wrapped): mostly the hot pages. */
  | { kind: 'dma'; pick: number; write: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('map' as const), device: fc.nat(1), space: fc.nat(2), did: fc.nat(1), pages: fc.array(fc.record({ slot: fc.nat(PAGES - 1), frame: fc.nat(15), write: fc.boolean() }), { minLength: 1, maxLength: 3 }), window: fc.boolean(), probe: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unmap' as const), pick: fc.nat(63), window: fc.boolean(), probe: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('dma' as const), pick: fc.nat(63), write: fc.boolean() }) },
);

interface RunChoice {
  readonly mode: Mode;
  readonly ops: readonly Op[];
  /** Which change's invalidations the broken hypervisor cuts one from (positions, wrapped). */
  readonly skip: { readonly change: number; readonly descriptor: number };
}

const runArb: fc.Arbitrary<RunChoice> = fc.record({
  mode: fc.constantFrom(...MODES),
  ops: fc.array(opArb, { minLength: 1, maxLength: 16 }),
  skip: fc.record({ change: fc.nat(31), descriptor: fc.nat(7) }),
});

/** A page of one device's address space. */
interface Page {
  readonly device: number;
  readonly space: number;
  readonly slot: number;
}

/**
 * The scenario steps of a run: every (device, space) mapped first (4 pages, the right
 * invalidations), then the ops, each change followed by the invalidations compile.ts's map-dma /
 * unmap-dma would issue, as stand-alone steps (the last one waits). `broken`: one change of the
 * ops loses one of its descriptors (when it had only one, an IOTLB flush of an unused DID stands
 * in to carry the wait).
 */
function stepsOf(c: RunChoice, broken: boolean): object[] {
  const scalable = c.mode !== 'legacy';
  const spaces = scalable ? SPACES : SPACES.slice(0, 1);
  const dids = new Map<string, number>();
  const steps: object[] = [enable(scalable)];
  const changes: { at: number; flush: object[]; generated: boolean }[] = [];
  let current: Page[] = [];
  const pool: Page[] = [];
  const pasidOf = (space: number): number | undefined => spaces[space % spaces.length];
  const iovaOf = (p: Page): number => DEVICES[p.device]!.iova + (pasidOf(p.space) ?? 0) * 0x10_0000 + p.slot * 0x1000;
  const dmaOf = (p: Page, write: boolean, value: number, offset = 8): object => {
    const pasid = pasidOf(p.space);
    return { dma: { device: DEVICES[p.device]!.bdf, address: iovaOf(p) + offset, size: 8, ...(write ? { value } : { write: false }), ...(pasid === undefined ? {} : { pasid }) } };
  };
  const map = (op: Extract<Op, { kind: 'map' }>, generated: boolean): void => {
    const d = DEVICES[op.device]!;
    const space = op.space % spaces.length;
    const pasid = pasidOf(space);
    const key = `${op.device}/${space}`;
    const did = d.dids[op.did]!;
    const old = dids.get(key);
    dids.set(key, did);
    const before = current.find((p) => p.device === op.device && p.space === space);
    if (op.probe && before !== undefined) steps.push(dmaOf(before, false, 0));
    const slots = [...new Set(op.pages.map((p) => p.slot))];
    const pages = slots.map((slot): Page => ({ device: op.device, space, slot }));
    const mappings = pages.map((pg) => {
      const p = op.pages.find((x) => x.slot === pg.slot)!;
      const iova = iovaOf(pg);
      return { iova, hpa: d.hpa + (pasid ?? 0) * 0x10_0000 + p.frame * 0x1000, size: 0x1000, ...(c.mode === 'nested' ? { gpa: iova + 0x100_0000 } : {}), ...(p.write ? {} : { write: false }) };
    });
    steps.push({ 'map-dma': { iommu: 0, device: d.bdf, did, mode: c.mode, ...(pasid === undefined ? {} : { pasid }), invalidate: 'deferred', mappings } });
    if (op.window) steps.push(dmaOf(pages[0]!, true, 2, 0));
    current = [...current.filter((p) => p.device !== op.device || p.space !== space), ...pages];
    for (const pg of pages) if (!pool.some((q) => q.device === pg.device && q.space === pg.space && q.slot === pg.slot)) pool.push(pg);
    // What compile.ts's map-dma issues: the device's context-cache entry, the PASID cache and
    // IOTLB of the DID the space had (when it changes) and of the new one.
    const flush: object[] = [{ 'invalidate-context-cache': { iommu: 0, granularity: 'device', did, sid: d.bdf } }];
    for (const x of old === undefined || old === did ? [did] : [old, did]) {
      if (scalable) flush.push({ 'invalidate-pasid-cache': { iommu: 0, granularity: 'domain', did: x } });
      flush.push({ 'invalidate-iotlb': { iommu: 0, granularity: 'domain', did: x } });
    }
    changes.push({ at: steps.length, flush, generated });
    if (op.probe && before !== undefined) steps.push(dmaOf(before, true, 4));
  };
  for (const [device] of DEVICES.entries()) {
    for (const [space] of spaces.entries()) map({ kind: 'map', device, space, did: 0, pages: [0, 1, 2, 3].map((slot) => ({ slot, frame: slot, write: true })), window: false, probe: false }, false);
  }
  for (const op of c.ops) {
    if (op.kind === 'map') {
      map(op, true);
      continue;
    }
    if (op.kind === 'dma') {
      steps.push(dmaOf(pool[op.pick % pool.length]!, op.write, 1));
      continue;
    }
    if (current.length === 0) continue;
    const pg = current[op.pick % current.length]!;
    current = current.filter((p) => p !== pg);
    const d = DEVICES[pg.device]!;
    const pasid = pasidOf(pg.space);
    const did = dids.get(`${pg.device}/${pg.space}`)!;
    if (op.probe) steps.push(dmaOf(pg, false, 0));
    steps.push({ 'unmap-dma': { iommu: 0, device: d.bdf, did, ...(pasid === undefined ? {} : { pasid }), iova: iovaOf(pg), size: 0x1000, invalidate: 'deferred' } });
    if (op.window) steps.push(dmaOf(pg, true, 3));
    const flush: object[] = [{ 'invalidate-iotlb': { iommu: 0, granularity: 'page', did, address: iovaOf(pg) } }];
    if (scalable) flush.push({ 'invalidate-pasid-iotlb': { iommu: 0, granularity: 'page', did, pasid: pasid ?? 0, address: iovaOf(pg) } });
    changes.push({ at: steps.length, flush, generated: true });
    if (op.probe) steps.push(dmaOf(pg, true, 5));
  }
  // Each change's invalidations go right after it (and its window DMA), the last one with the wait.
  const generated = changes.filter((ch) => ch.generated);
  const cut = broken && generated.length > 0 ? generated[c.skip.change % generated.length] : undefined;
  for (const ch of [...changes].reverse()) {
    let flush = ch.flush;
    if (ch === cut) flush = flush.filter((_, i) => i !== c.skip.descriptor % flush.length);
    const batch = flush.map((f, i) => {
      const [k, v] = Object.entries(f)[0]! as [string, object];
      return { [k]: { ...v, wait: i === flush.length - 1 } };
    });
    steps.splice(ch.at, 0, ...(batch.length > 0 ? batch : [{ 'invalidate-iotlb': { iommu: 0, granularity: 'domain', did: 0xfff } }]));
  }
  return steps;
}

const p4Of = (c: RunChoice, broken: boolean): string[] => run(stepsOf(c, broken)).coherence.map((v) => v.message);

describe('P4 over random map / unmap / invalidate / DMA sequences', () => {
  it('no P4 violation when every change is followed by its invalidations and wait (200 runs, seed 0xd4a0006)', () => {
    const r = fc.check(fc.property(runArb, (c) => p4Of(c, false).length === 0), { seed: 0xd4a_0006, numRuns: 200 });
    expect(r.failed, r.counterexample ? JSON.stringify(stepsOf(r.counterexample[0], false)) : '').toBe(false);
  });

  it('a hypervisor that skips one invalidation: the same generator finds a P4 violation', () => {
    const r = fc.check(fc.property(runArb, (c) => p4Of(c, true).length === 0), { seed: 0xd4a_0007, numRuns: 1_000 });
    expect(r.failed).toBe(true);
    const c = r.counterexample![0];
    const found = p4Of(c, true);
    console.log(`skipped invalidation: P4 after ${r.numRuns} run(s), ${r.numShrinks} shrink(s), ${c.mode} mode:\n${JSON.stringify(stepsOf(c, true))}\n${found.join('\n')}`);
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]).toMatch(/through a stale (context-cache|PASID-cache|paging-structure-cache|IOTLB) entr/);
    // The same run with the invalidation kept holds.
    expect(p4Of(c, false)).toEqual([]);
  });
});
