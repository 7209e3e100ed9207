/** Every shipped scenario runs with its expectations met and P1/P3 held (exit 0); counterexample-*.yaml and insecure-*.yaml files are meant to fail and have their own tests; a stray NAME.counterexample.yaml (what `remapsim check` wrote beside its input before it wrote to the current directory) is no shipped scenario. */
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseScenarioFile } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';

function scenarios(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? scenarios(join(dir, e.name)) : e.name.endsWith('.yaml') && !e.name.endsWith('.counterexample.yaml') && !e.name.startsWith('counterexample-') && !e.name.startsWith('insecure-') ? [join(dir, e.name)] : [],
  );
}

describe('shipped scenarios', () => {
  for (const file of scenarios('specs')) {
    it(`${file} meets its expectations and holds P1`, () => {
      const r = runScenario(compileScenario(parseScenarioFile(file)));
      const failures = r.steps.flatMap((s) => s.failures.map((f) => `step ${s.step.index}: ${f}`));
      expect(failures).toEqual([]);
      expect(r.violations).toEqual([]);
      expect(r.lost).toEqual([]);
      expect(r.dmaIsolation).toEqual([]);
      expect(r.coherence).toEqual([]);
      expect(r.ok).toBe(true);
    });
  }
});
