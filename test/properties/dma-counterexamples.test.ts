/**
 * The checked-in DMA counterexamples (specs/dma/counterexample-stale-iotlb.yaml and
 * counterexample-irt-mapped.yaml): each is exactly what its search
 * (test/properties/dma-search.ts COUNTEREXAMPLES) finds and shrinks, and replays its
 * violations through the CLI (`remapsim run FILE`: exit 1, the VIOLATION lines) with no
 * fast-check involved. `UPDATE_COUNTEREXAMPLES=1 npx vitest run test/properties/dma-counterexamples.test.ts`
 * rewrites the files.
 *
 * The same two searches show P4 and P1 able to fail over random DMA runs (the generator of
 * test/properties/dma-properties.test.ts finds the broken hypervisors, with the shape of each
 * bug): each search runs once here and both its tests read the result (~25 s when the
 * property tests ran the same searches again in their own file).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { main } from '../../src/cli/main.ts';
import { COUNTEREXAMPLES, counterexamplePath, counterexampleScenario, searchDma, type SearchResult } from './dma-search.ts';

const EXPECTED: Record<string, readonly string[]> = { 'stale-iotlb': ['P4', 'P2'], 'irt-mapped': ['P2', 'P1'] };

type Name = (typeof COUNTEREXAMPLES)[number]['name'];

/** Each counterexample's search, run on first use: a pure function of its hypervisor, seed and budget. */
const searches = new Map<Name, SearchResult>();
function searched(name: Name): SearchResult {
  let r = searches.get(name);
  if (r === undefined) {
    const c = COUNTEREXAMPLES.find((x) => x.name === name)!;
    searches.set(name, (r = searchDma(c.hypervisor, { ...c.search, properties: c.properties })));
  }
  return r;
}

describe('DMA counterexamples', () => {
  for (const c of COUNTEREXAMPLES) {
    const file = counterexamplePath(c.name);
    it(`counterexample-${c.name}.yaml is what the search finds`, () => {
      const r = searched(c.name);
      expect(r.failed).toBe(true);
      const text = counterexampleScenario(c.name, r);
      if (process.env['UPDATE_COUNTEREXAMPLES'] === '1' || !existsSync(file)) writeFileSync(file, text);
      expect(readFileSync(file, 'utf8')).toBe(text);
    });

    it(`remapsim run counterexample-${c.name}.yaml: exit 1, VIOLATION ${EXPECTED[c.name]!.join(' and ')}`, async () => {
      let out = '';
      const code = await main(['run', file], (s) => void (out += s));
      expect(code).toBe(1);
      for (const p of EXPECTED[c.name]!) expect(out).toMatch(new RegExp(`^VIOLATION ${p} at action \\d+: `, 'm'));
      if (c.name === 'stale-iotlb') expect(out).toMatch(/through a stale IOTLB entry/);
      if (c.name === 'irt-mapped') expect(out).toMatch(/VIOLATION P2 at action \d+: 07:00\.0 wrote HPA 0x100000[0-9a-f]{2}\+\d+: the IRT of dmar0/);
    });
  }
});

describe('each property can fail: the same generator finds the broken hypervisors', () => {
  it('the searches are the property tests\' (hypervisor, seed, budget, watched property)', () => {
    expect(COUNTEREXAMPLES.map((c) => [c.name, c.hypervisor, c.search.seed, c.search.numRuns, c.properties])).toEqual([
      ['stale-iotlb', 'no-unmap-invalidation', 0xd4a_0004, 2_000, ['P4']],
      ['irt-mapped', 'irt-mapped', 0xd4a_0002, 5_000, ['P1']],
    ]);
  });

  it('unmap without IOTLB invalidation (invalidate: false): a P4 violation, shrunk to a handful of steps', () => {
    const r = searched('stale-iotlb');
    console.log(`no-unmap-invalidation: P4 after ${r.runs} run(s), seed ${r.seed}, path ${r.path}, ${r.run?.mode} mode:\n${JSON.stringify(r.run?.steps, null, 1)}`);
    expect(r.failed).toBe(true);
    const p4 = r.findings.find((f) => f.property === 'P4');
    expect(p4?.message).toMatch(/through a stale IOTLB entry to HPA 0x[0-9a-f]+; the tables now give fault/);
    const steps = r.run!.steps;
    expect(steps.length).toBeLessThanOrEqual(5);
    // The shape of the bug: an access that fills the IOTLB, the unmap that skips the invalidation, the stale access.
    const kinds = steps.map((s) => Object.keys(s)[0]);
    expect(kinds.at(-1)).toBe('dma');
    expect(kinds).toContain('unmap-dma');
    expect(steps.find((s) => s['unmap-dma'] !== undefined)!['unmap-dma']).toMatchObject({ invalidate: false });
    expect(p4!.generated).toBe(steps.length - 1);
  });

  it('second stage maps the IRT page: a forged interrupt (P1) through an IRTE the device wrote, two steps', () => {
    const r = searched('irt-mapped');
    console.log(`irt-mapped: P1 after ${r.runs} run(s), seed ${r.seed}, path ${r.path}:\n${JSON.stringify(r.run?.steps)}`);
    expect(r.failed).toBe(true);
    const p1 = r.findings.find((f) => f.property === 'P1');
    // Whatever the shrunk IRTE looks like, the interrupt comes from vm1's device through an IRTE it wrote.
    expect(p1?.message).toMatch(/^07:00\.0 (delivered vector|\(requester ID)/);
    expect(JSON.stringify(r.run!.steps[0])).toMatch(/"device":"07:00.0","address":"0x[0-9a-f]{1,3}"/);
    expect(JSON.stringify(r.run!.steps[1])).toMatch(/"address":"0xfee/);
    expect(r.findings.some((f) => f.property === 'P2' && /the IRT of dmar0/.test(f.message))).toBe(true);
    expect(r.run!.steps.length).toBe(2);
  });
});
