/**
 * Interleaving (issue #10 item 7; src/checker/interleave.ts, check.ts, adversary.ts): the
 * gaps `check.interleave` opens, runs whose adversary steps come between the scenario's
 * own, the fidelity of those runs to the written counterexample that `remapsim run`
 * replays, the counterexample file (notes, expectations kept or dropped, the state at
 * the violating step), handles learnt from `write-memory` into the IRT, determinism with
 * workers (P5), and that the torn-update attacks need interleaving to be found.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { buildCounterexample, compileSteps, prepareCheck, runArbitrary, runCheck, runSteps, CHUNK_RUNS, type ChunkResult } from '../../src/checker/check.ts';
import { resolveRun, runChoiceArbitrary, type AttackStep } from '../../src/checker/adversary.ts';
import { adversaryIndex, adversaryNote, gapsOf, scenarioWithPlacedSteps } from '../../src/checker/interleave.ts';
import { startPool } from '../../src/checker/pool.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { InputError } from '../../src/io/input-error.ts';
import type * as S from '../../src/scenario/types.ts';
import { checkCommand } from '../../src/cli/check.ts';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';

const read = (f: string): string => readFileSync(repo(f), 'utf8');
const tmp = tempDir('interleave');
afterAll(() => tmp.cleanup());

const TORN_IRTE = 'specs/attacks/torn-irte-insecure.yaml';
const IR_OFF = 'specs/attacks/msi-injection-ir-off-insecure.yaml';
/** The scenario text with its `interleave:` line replaced (or added after `properties:`). */
const withInterleave = (text: string, value: string | undefined): string => {
  const stripped = text.replace(/^ {2}interleave: .*\n/m, '');
  return value === undefined ? stripped : stripped.replace(/^( {2}properties: .*\n)/m, `$1  interleave: ${value}\n`);
};

describe('check.interleave', () => {
  const data = (text: string): S.Scenario => parseScenarioText(text, 'x.yaml').data as S.Scenario;
  const base = read(IR_OFF);

  it('opens only the end by default, every gap with true, the gaps from a step on with after', () => {
    expect(gapsOf(data(withInterleave(base, undefined)), 'x.yaml')).toEqual([4]);
    expect(gapsOf(data(withInterleave(base, 'false')), 'x.yaml')).toEqual([4]);
    expect(gapsOf(data(withInterleave(base, 'true')), 'x.yaml')).toEqual([0, 1, 2, 3, 4]);
    expect(gapsOf(data(withInterleave(base, '{ after: 3 }')), 'x.yaml')).toEqual([3, 4]);
  });

  it('rejects a step that does not exist, and a value of the wrong type, with the field', () => {
    try {
      prepareCheck(withInterleave(base, '{ after: 5 }'), 'x.yaml');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).field).toBe('check.interleave.after');
      expect((e as InputError).message).toMatch(/no step 5: the scenario has 5 step\(s\)/);
    }
    expect(() => prepareCheck(withInterleave(base, '3'), 'x.yaml')).toThrow(InputError);
  });

  it('without it, runs are exactly those of runChoiceArbitrary (every step at the end)', () => {
    const p = prepareCheck(read('specs/attacks/svt-none-insecure.yaml'), repo('specs/attacks/svt-none-insecure.yaml'));
    const placed = fc.sample(runArbitrary(p), { seed: 7, numRuns: 20 });
    const plain = fc.sample(runChoiceArbitrary(p.threat).map((r) => resolveRun(p.pools, p.threat, r)), { seed: 7, numRuns: 20 });
    expect(placed.map((r) => r.steps)).toEqual(plain);
    expect(placed.every((r) => r.at.every((a) => a === p.base.steps.length - 1))).toBe(true);
  });
});

describe('interleaved runs', () => {
  const p = prepareCheck(read(TORN_IRTE), repo(TORN_IRTE));
  const last = p.base.steps.length - 1;

  it('place steps in the open gaps, in order, most of them at the end and most gaps empty', () => {
    const runs = fc.sample(runArbitrary(p), { seed: 11, numRuns: 200 });
    let atEnd = 0;
    let steps = 0;
    let emptyGaps = 0;
    for (const r of runs) {
      expect(r.at.length).toBe(r.steps.length);
      for (let i = 1; i < r.at.length; i++) expect(r.at[i]!).toBeGreaterThanOrEqual(r.at[i - 1]!);
      for (const a of r.at) expect(p.gaps).toContain(a);
      atEnd += r.at.filter((a) => a === last).length;
      steps += r.at.length;
      emptyGaps += p.gaps.filter((g) => !r.at.includes(g)).length;
    }
    expect(atEnd / steps).toBeGreaterThan(0.4);
    expect(atEnd / steps).toBeLessThan(0.8);
    expect(emptyGaps / (runs.length * p.gaps.length)).toBeGreaterThan(0.5);
    // Some runs do put steps between the scenario's own.
    expect(runs.filter((r) => r.at.some((a) => a < last)).length).toBeGreaterThan(runs.length / 2);
  });

  it('judge what the replay of the written file judges, and compile to the same actions', () => {
    fc.assert(
      fc.property(runArbitrary(p, 6), (run) => {
        const text = scenarioWithPlacedSteps(p.text, p.file, run.steps, run.at, 'x');
        const replay = runScenario(compileScenario(parseScenarioText(text, p.file)));
        // Adversary steps compile as in the written file, at their places; the scenario's own are unchanged.
        const own = p.compiled.steps.map((s) => [s.label, s.actions]);
        const adversary = compileSteps(p, run.steps).map((s) => [s.label, s.actions]);
        const expected: unknown[] = [];
        let k = 0;
        own.forEach((s, b) => {
          expected.push(s);
          for (; k < run.steps.length && run.at[k] === b; k++) expected.push(adversary[k]);
        });
        expect(replay.steps.map((s) => [s.step.label, s.step.actions])).toEqual(expected);
        // The search's verdict is the replay's (P1 is the property this scenario checks).
        const v = runSteps(p, run.steps, undefined, run.at);
        expect(v !== undefined).toBe(replay.violations.length > 0);
        // Expectations the adversary's steps made fail are dropped, so the replay fails only on properties.
        expect(replay.steps.flatMap((s) => s.failures)).toEqual([]);
      }),
      { seed: 5, numRuns: 60 },
    );
  });
});

describe('the counterexample of an interleaved run', () => {
  it('torn IRTE: the step is inserted between the two stores, marked, and shows the mixed entry', async () => {
    const out = `${tmp.dir}/torn.counterexample.yaml`;
    const r = await checkCommand(repo(TORN_IRTE), { out, workers: 1 });
    expect(r.code, r.report).toBe(1);
    const c = r.result.counterexample!;
    expect(c.property).toBe('P1');
    // After the high-half store (step 4), before the low half (step 5).
    expect(c.at).toEqual([4]);
    expect(c.step).toBe(adversaryIndex(c.at, 0));
    expect(c.own).toBeUndefined();
    const text = readFileSync(out, 'utf8');
    expect(text).toContain(`  - note: "${adversaryNote(0)}"\n`);
    expect(text).toMatch(/value: 0x40800 \}\n\n {2}- note: "adversary step 0, found by remapsim check"\n {4}msi: \{ device: "08:00\.0"/);
    expect(text).toMatch(/^# Interleaved: adversary step 0 after the scenario's step 4;/m);
    // The state at the violating step: the torn entry (old low half, new high half), not the final one.
    expect(c.state[0]).toMatch(/IRTE 0x10 of dmar0 in memory: P V=0x40 DST=00000002 .*SID=08:00\.0/);
    expect(r.report).toMatch(/^ {2}adversary steps \(interleaved with the scenario's\):\n {3}after step 4 \(write-memory, line \d+\):\n {4}- msi: /m);
    const replay = await cli(['run', out]);
    expect(replay.code).toBe(1);
    expect(replay.out).toMatch(/^VIOLATION P1 /m);
    expect(replay.out).not.toMatch(/expect: FAILED/);
  });

  it("a violation in the scenario's own step after an adversary step, and the expectation it broke dropped", () => {
    const file = repo(IR_OFF);
    const p = prepareCheck(withInterleave(read(IR_OFF), 'true'), file);
    // The guest reprograms its entry (to cpu0, vector 0x41) before the scenario's own signal.
    const steps: AttackStep[] = [{ 'program-msix': { device: '07:00.0', entry: 0, address: '0xfee00000', data: 0x41, masked: false } }];
    const found: ChunkResult = { index: 0, seed: 1, runs: 1, failed: true, path: undefined, steps, at: [3], shrinks: 0, error: undefined, coverage: { runs: 0, steps: 0, actions: {}, faults: {}, deliveries: 0, postings: 0, dmaAccesses: 0, dmaFaults: 0, rejected: 0 }, ms: 0 };
    const c = buildCounterexample(p, found);
    expect(c.property).toBe('P1');
    expect(c.own).toBe(4);
    expect(c.generated).toBe(0);
    expect(c.step).toBe(5);
    expect(c.message).toMatch(/reached cpu0 .*vector 0x41/);
    expect(c.scenario).toMatch(/# expect: \{ delivered: \{ path: compatibility, vector: 0x30, cpus: \[ 1 \] \} \} dropped by remapsim check: it held in the scenario's own run, not after the adversary's steps \(expected a delivery/);
    const replay = runScenario(compileScenario(parseScenarioText(c.scenario, file)));
    expect(replay.steps.flatMap((s) => s.failures)).toEqual([]);
    expect(replay.violations[0]!.message).toBe(c.message);
    expect(c.replayed && c.deterministic).toBe(true);
  });

  it('a step that violates as well at the end is moved there: the file appends it as before', async () => {
    const text = withInterleave(read('specs/attacks/stale-iec-insecure.yaml'), 'true');
    const file = tmp.write('stale.yaml', text);
    const r = await checkCommand(file, { workers: 1, write: false });
    expect(r.code).toBe(1);
    const c = r.result.counterexample!;
    expect(c.at.every((a) => a === r.result.prepared.base.steps.length - 1)).toBe(true);
    expect(c.scenario).not.toContain('found by remapsim check"');
    expect(c.scenario).toContain('# adversary steps found by remapsim check (seed 1)');
    expect(r.report).toContain('adversary steps (appended to the scenario):');
  });
});

describe('pools', () => {
  it('learn handles from every store into the IRT, write-memory included', () => {
    // IRTE 0x21 written only as two 8-byte halves (the torn scenario's values, one index up).
    const text = read(TORN_IRTE)
      .replace('address: 0x10000108', 'address: 0x10000218')
      .replace('address: 0x10000100', 'address: 0x10000210')
      .replace(/^ {4}expect: \{ delivered: .*\n/m, '');
    const p = prepareCheck(text, 'x.yaml');
    expect(p.pools.handles).toEqual([0x10, 0x21]);
    // The vector of the entry as the low-half store left it.
    expect(p.pools.vectors).toEqual(expect.arrayContaining([0x40, 0x30]));
  });
});

describe('the invalidate-dma step (the torn-context pair invalidates with it)', () => {
  it('needs did for a device-selective context or a domain-selective IOTLB invalidation, and names the line', () => {
    const text = read('specs/attacks/torn-context-secure.yaml');
    const bad = text.replace('invalidate-dma: { iommu: 0, context: "07:00.0", did: 1, iotlb: domain }', 'invalidate-dma: { iommu: 0, context: "07:00.0", iotlb: domain }');
    expect(bad).not.toBe(text);
    try {
      compileScenario(parseScenarioText(bad, 'x.yaml'));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).message).toMatch(/needs did/);
      expect(bad.split('\n')[(e as InputError).line! - 1]).toContain('invalidate-dma');
    }
  });

  it('drops the device\'s context and the domain\'s IOTLB entries', () => {
    const r = runScenario(compileScenario(parseScenarioText(read('specs/attacks/torn-context-secure.yaml'), repo('specs/attacks/torn-context-secure.yaml'))));
    const unit = r.final.iommus[0]!;
    expect(unit.dma.context.some((c) => c.rid === 0x700 && c.did === 1)).toBe(false);
    expect(unit.dma.iotlb.some((t) => t.did === 1 && t.page === 0x20n)).toBe(false);
    expect(r.ok).toBe(true);
  });
});

describe('determinism', () => {
  it('the same seed gives the same interleaved counterexample in this thread and on two workers (P5)', async () => {
    // torn-context's counterexample is in chunk 1: the merge waits for chunk 0 to hold.
    const f = 'specs/attacks/torn-context-insecure.yaml';
    const text = read(f);
    // No time limit to speak of (the scenario's is 10 s): on a loaded machine the threads, loading tsx, could reach it first.
    const overrides = { runs: 2 * CHUNK_RUNS, seconds: 600 };
    const p = prepareCheck(text, repo(f), overrides);
    const here = await runCheck(p);
    expect(here.counterexample?.chunk).toBe(1);
    const pool = startPool(text, repo(f), overrides, 2);
    try {
      const threads = await runCheck(p, { runChunk: pool.runChunk, concurrency: 4 });
      expect(threads.counterexample?.scenario).toBe(here.counterexample?.scenario);
      expect(threads.counterexample?.run).toBe(here.counterexample?.run);
      expect(threads.coverage).toEqual(here.coverage);
    } finally {
      await pool.close();
    }
    expect(here.counterexample?.deterministic).toBe(true);
  });
});

describe('the torn-update attacks need interleaving', () => {
  for (const id of ['torn-irte', 'torn-context']) {
    it(`${id}-insecure holds when the adversary only acts after the scenario's steps`, async () => {
      const f = `specs/attacks/${id}-insecure.yaml`;
      const file = tmp.write(`${id}-appended.yaml`, withInterleave(read(f), undefined));
      const r = await checkCommand(file, { workers: 1, write: false, runs: 200 });
      expect(r.code, r.report).toBe(0);
      expect(r.report).toMatch(/^HELD: /m);
    });
  }
});
