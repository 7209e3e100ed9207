/**
 * The checked-in DMA counterexamples (specs/dma/counterexample-stale-iotlb.yaml and
 * counterexample-irt-mapped.yaml): each is exactly what its search
 * (test/properties/dma-search.ts COUNTEREXAMPLES) finds and shrinks, and replays its
 * violations through the CLI (`remapsim run FILE`: exit 1, the VIOLATION lines) with no
 * fast-check involved. `UPDATE_COUNTEREXAMPLES=1 npx vitest run test/properties/dma-counterexamples.test.ts`
 * rewrites the files.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { main } from '../../src/cli/main.ts';
import { COUNTEREXAMPLES, counterexamplePath, counterexampleScenario, searchDma } from './dma-search.ts';

const EXPECTED: Record<string, readonly string[]> = { 'stale-iotlb': ['P4', 'P2'], 'irt-mapped': ['P2', 'P1'] };

describe('DMA counterexamples', () => {
  for (const c of COUNTEREXAMPLES) {
    const file = counterexamplePath(c.name);
    it(`counterexample-${c.name}.yaml is what the search finds`, () => {
      const r = searchDma(c.hypervisor, { ...c.search, properties: c.properties });
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
