/**
 * The attack catalog (specs/attacks/, src/checker/catalog.ts) in CI, with the fixed seeds
 * of each scenario's `check.budget`: every insecure scenario's counterexample is found
 * by search within its budget (each well within 10 s), shrinks to a handful of steps,
 * and replays with `remapsim run` (no fast-check) to the same violation; every secure
 * twin holds with every property that applies checked (P1, P2, P4, P5, P3 with vCPUs,
 * and P6 and P7 with a VMM: the VMM pairs' default properties), not a chosen subset. The torn-update pairs let the adversary act between the
 * scenario's steps (`check.interleave`): their counterexamples are steps inserted where
 * they ran. Checks run in this thread (`workers: 1`): the result is the same with
 * workers (test/checker/check.test.ts, interleave.test.ts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOG, catalogFile } from '../../src/checker/catalog.ts';
import { checkCommand } from '../../src/cli/check.ts';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';

/** Most runs any insecure catalog scenario needs before its counterexample (the chunk of runs that finds it included). */
const RUNS_TO_FIND = 200;
const tmp = tempDir('catalog');
afterAll(() => tmp.cleanup());

describe('the attack catalog', () => {
  it('lists every scenario of specs/attacks/ and nothing else', () => {
    const files = readdirSync(repo('specs/attacks')).filter((f) => f.endsWith('.yaml') && !f.endsWith('.counterexample.yaml')).sort();
    const listed = CATALOG.flatMap((e) => [`${e.id}-insecure.yaml`, `${e.id}-secure.yaml`]).sort();
    expect(files).toEqual(listed);
  });

  for (const entry of CATALOG) {
    describe(entry.id, () => {
      it(`insecure: a ${entry.property} counterexample is found, shrunk and replayed`, async () => {
        const out = join(tmp.dir, `${entry.id}.counterexample.yaml`);
        const r = await checkCommand(catalogFile(entry, 'insecure'), { out, workers: 1 });
        expect(r.code, r.report).toBe(1);
        const c = r.result.counterexample!;
        expect(c.property).toBe(entry.property);
        // Found early in the search (runs, not time: time is measured in BENCHMARKS.md).
        expect(r.result.runs, r.report).toBeLessThanOrEqual(RUNS_TO_FIND);
        expect(c.steps.length).toBeGreaterThanOrEqual(1);
        expect(c.steps.length).toBeLessThanOrEqual(4);
        expect(c.replayed).toBe(true);
        expect(c.deterministic).toBe(true);
        expect(r.report).toMatch(new RegExp(`^VIOLATION ${entry.property} at step ${c.step} `, 'm'));
        expect(r.written).toBe(out);
        // The written file replays through the CLI, with no fast-check involved.
        const replay = await cli(['run', out]);
        expect(replay.code).toBe(1);
        expect(replay.out).toMatch(new RegExp(`^VIOLATION ${entry.property} `, 'm'));
        // A torn update is only found between the hypervisor's two stores.
        if (entry.id.startsWith('torn-')) expect(c.at.some((a) => a < r.result.prepared.base.steps.length - 1)).toBe(true);
      });

      it('secure twin: every checked property holds', async () => {
        const r = await checkCommand(catalogFile(entry, 'secure'), { workers: 1, write: false });
        expect(r.code, r.report).toBe(0);
        expect(r.result.counterexample).toBeUndefined();
        expect(r.result.runs).toBe(r.result.prepared.threat.budget.runs);
        expect(r.report).toMatch(/^HELD: /m);
        // Every property that applies is checked (P3 only with vCPUs to lose interrupts in; with a
        // VMM, P6 and P7 too — `remapsim check`'s defaults there, src/checker/adversary.ts VMM_PROPERTY_NAMES).
        const vmm = r.result.prepared.compiled.platform.vmm !== undefined;
        const applicable = ['P1', 'P2', ...(r.result.prepared.pools.vcpus.length > 0 ? ['P3'] : []), 'P4', 'P5', ...(vmm ? ['P6', 'P7'] : [])];
        expect(r.result.prepared.threat.properties).toEqual(expect.arrayContaining(applicable));
      });
    });
  }
});
