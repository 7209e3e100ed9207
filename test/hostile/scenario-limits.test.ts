// Issue 17: map-dma / unmap-dma sizes, steps per scenario, write-memory sizes through the library,
// `dump` of a huge mapping, and explore's APIC IDs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { formatDmaDump, MAX_DUMP_ROWS } from '../../src/scenario/dump.ts';
import { applyAction } from '../../src/platform/transition.ts';
import { MAX_MAP_PAGES, MAX_SCENARIO_STEPS, MAX_UNMAP_BYTES, mappingPageCount } from '../../src/scenario/limits.ts';
import { splitMapping } from '../../src/vtd/dma/builder.ts';
import { InputError } from '../../src/io/input-error.ts';
import { cli, repo } from '../cli/cli-harness.ts';

const LEGACY = readFileSync(repo('specs/dma/legacy.yaml'), 'utf8');
const head = LEGACY.slice(0, LEGACY.indexOf('steps:'));
const map = (mapping: string): string =>
  `${head}steps:\n  - enable-dma: { iommu: 0, scalable: false }\n  - map-dma:\n      iommu: 0\n      device: "07:00.0"\n      did: 1\n      mode: legacy\n      levels: 4\n      mappings:\n        - ${mapping}\n`;
const compile = (text: string) => compileScenario(parseScenarioText(text, 's.yaml'));
const errorOf = (f: () => unknown): InputError => {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('accepted');
};

describe('map-dma', () => {
  it('1 TiB in 4 KiB pages is refused at compile time, naming the mapping\'s size and line', () => {
    const e = errorOf(() => compile(map('{ iova: 0x1000, hpa: 0x2000, size: 0x10000000000 }')));
    expect(e.format()).toBe(`s.yaml:23: steps[1].map-dma.mappings[0].size: the mappings need more than ${MAX_MAP_PAGES} pages (4 KiB/2 MiB/1 GiB by alignment; docs/limits.md)`);
  });

  it('1 TiB in 1 GiB pages (1024 leaves) is accepted, runs, and dumps one row per leaf', () => {
    const r = runScenario(compile(map('{ iova: 0x0, hpa: 0x0, size: 0x10000000000 }')));
    const rows = formatDmaDump(r.final).split('\n').filter((l) => l.startsWith('0x'));
    expect(rows).toHaveLength(1024);
  });

  it('mappingPageCount is the length of the builder\'s split, capped', () => {
    // Addresses aligned to 4 KiB, 2 MiB or 1 GiB (plus a 4 KiB offset now and then), sizes of up
    // to 64 units of the coarser common alignment plus up to 600 4 KiB pages: the builder's split
    // stays short enough to compute, and mappings cross 2 MiB and 1 GiB boundaries.
    const addr = fc.tuple(fc.constantFrom(12n, 21n, 30n), fc.bigInt({ min: 0n, max: 1023n }), fc.bigInt({ min: 0n, max: 3n })).map(([sh, k, off]) => ({ sh, a: (k << sh) + (off << 12n) }));
    const prop = (count: typeof mappingPageCount) =>
      fc.property(addr, addr, fc.bigInt({ min: 0n, max: 64n }), fc.bigInt({ min: 0n, max: 600n }), (i, h, units, small) => {
        // The addresses' common alignment (at most 1 GiB) bounds the split: coarse units only when aligned.
        const both = i.a | h.a;
        const sh = both === 0n ? 30n : [30n, 21n, 12n].find((b) => both % (1n << b) === 0n)!;
        const size = (units << sh) + (small << 12n) || 4096n;
        const n = splitMapping(i.a, h.a, size, 2 ** 30).length;
        return count(i.a, h.a, size, 100) === Math.min(n, 101);
      });
    fc.assert(prop(mappingPageCount), { seed: 1712, numRuns: 2000 });
    // A deliberately broken count (pages of the IOVA's alignment alone) fails the property.
    const broken: typeof mappingPageCount = (iova, _hpa, size, cap) => mappingPageCount(iova, iova, size, cap);
    expect(fc.check(prop(broken), { seed: 1712, numRuns: 2000 }).failed).toBe(true);
  });
});

describe('unmap-dma', () => {
  it('0x10000000000 bytes is refused naming the size', () => {
    const text = `${map('{ iova: 0x0, hpa: 0x0, size: 0x200000 }')}  - unmap-dma: { iommu: 0, device: "07:00.0", did: 1, iova: 0x0, size: 0x10000000000 }\n`;
    expect(errorOf(() => compile(text)).format()).toBe(`s.yaml:24: steps[2].unmap-dma.size: 0x10000000000 bytes exceeds the unmap limit of 0x${MAX_UNMAP_BYTES.toString(16)} (65536 pages of 4 KiB; docs/limits.md)`);
  });
});

describe('steps per scenario', () => {
  it(`${MAX_SCENARIO_STEPS + 1} steps are refused; ${MAX_SCENARIO_STEPS} compile`, () => {
    const step = '  - write-memory: { address: 0x1000, bytes: 8, value: 1 }\n';
    expect(errorOf(() => compile(`${head}steps:\n${step.repeat(MAX_SCENARIO_STEPS + 1)}`)).format()).toMatch(new RegExp(`^s\\.yaml:\\d+: steps: ${MAX_SCENARIO_STEPS + 1} steps exceeds the limit of ${MAX_SCENARIO_STEPS} per scenario`));
    expect(compile(`${head}steps:\n${step.repeat(MAX_SCENARIO_STEPS)}`).steps).toHaveLength(MAX_SCENARIO_STEPS);
  });
});

describe('write-memory through the library', () => {
  it('7.6e8 bytes is an action-rejected event, not gigabytes and not a throw', () => {
    const state = runScenario(compile(`${head}steps: []\n`)).final;
    const r = applyAction(state, { kind: 'write-memory', address: 0x1000n, bytes: 760_000_000, value: 1n });
    expect(r.events).toMatchObject([{ kind: 'action-rejected', why: 'a write of 760000000 bytes: a little-endian store is 1 to 4096 bytes (use writeBytes for more)' }]);
    expect(r.state.memory).toBe(state.memory);
  });
});

describe('dump of a mapping with more leaves than the dump shows', () => {
  it('stops after MAX_DUMP_ROWS rows with a line saying so, without overflowing the stack', () => {
    const base = runScenario(compile(map('{ iova: 0x0, hpa: 0x0, size: 0x1000 }'))).final;
    // Through the library (the scenario limit does not apply): 70,000 4 KiB pages.
    const r = applyAction(base, { kind: 'map-dma', iommu: 0, device: base.intent.dma ? Object.keys(base.intent.dma)[0]! : '07:00.0', did: 1, mode: 'legacy', levels: 4, mappings: [{ iova: 0x1000n, hpa: 0x2000n, size: 70_000n * 4096n, read: true, write: true }] } as Parameters<typeof applyAction>[1]);
    const dump = formatDmaDump(r.state);
    expect(dump.split('\n').filter((l) => l.startsWith('0x'))).toHaveLength(MAX_DUMP_ROWS);
    expect(dump).toMatch(/\(dump stopped after 65536 leaves; docs\/limits\.md\)/);
  });
});

describe('explore --apic-ids', () => {
  it('0xffffffff is a clear one-line error; 0xfffffffe and 0x80000000 run', async () => {
    const r = await cli(['explore', '--apic-ids', '0xffffffff']);
    expect(r.code).toBe(2);
    expect(r.err).toBe("remapsim: --apic-ids: '0xffffffff' is the x2APIC broadcast destination (0xffffffff), not a CPU's APIC ID (0..0xfffffffe)\n");
    for (const id of ['0xfffffffe', '0x80000000']) {
      const ok = await cli(['explore', '--apic-ids', id]);
      expect(ok.code).toBe(0);
      expect(ok.err).toBe('');
    }
  });
});
