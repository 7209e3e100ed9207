/**
 * Posted-interrupt policies over random schedules (issue "Posted interrupts", item 5).
 *
 * The base platform (specs/policies/base.yaml: one PI-capable unit, 5 pCPUs, two guests
 * with 3 and 2 vCPUs and assigned MSI-X devices, IR on in x2APIC mode) gets random
 * steps appended: schedules, preemptions, halts, device signals, guest acks and EOIs
 * (src/checker/schedule.ts). The scenario runner judges P1 and P3 after every action.
 *
 * - `kvm` and `xen` must hold both over every run, and the runs must reach the
 *   situations that matter (wakeups, harvests at VM entry, migrations, …);
 * - each broken KVM variant must be refuted by search, with the expected property, a
 *   counterexample that shrinks to a handful of steps, and a scenario file written
 *   from it (src/scenario/write.ts) that `remapsim run` replays with exit 1.
 *
 * RUNS: every broken variant is refuted within 14 runs of COUNTEREXAMPLE_SEARCH (1, 3, 13
 * and 14; the logs print it), and within 15 runs of the correct policies' own searches (seeds
 * 0x5eed0011 and 0x5eed0012, up to 30 steps, 2026-12-02: 1-15 runs for each of the four), so
 * 500 runs per correct policy is over 30 times what finds a broken one (it was 2,000: ~40 s
 * of the suite's budget).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { coverageOf, loadBase, searchSchedules, type BaseScenario, type CoverageLabel, type SearchResult } from '../../src/checker/schedule.ts';
import {
  BASE_SCENARIO,
  BROKEN_VARIANTS,
  CORRECT_POLICIES,
  COUNTEREXAMPLE_SEARCH,
  counterexamplePath,
  counterexampleScenario,
  readBaseScenario,
} from '../../src/checker/counterexample.ts';
import { parseScenarioFile } from '../../src/scenario/parse.ts';
import { formatSteps } from '../../src/scenario/write.ts';
import { tempDir } from '../cli/cli-harness.ts';

/** Runs per correct policy, and steps per run. */
const RUNS = 500;
const MAX_STEPS = 30;
const SEEDS: Readonly<Record<string, number>> = { kvm: 0x5eed_0011, xen: 0x5eed_0012 };

/** Situations every correct policy's runs must reach, or the check says little. */
const MUST_REACH: readonly CoverageLabel[] = [
  'notified-in-guest',
  'harvested-at-entry',
  'posted-while-suppressed',
  'posted-while-on',
  'halted',
  'woken',
  'migrated',
  'descheduled',
  'acked',
  'retargeted',
];

const baseText = readBaseScenario();
const tmp = tempDir('posted-policies');
afterAll(() => tmp.cleanup());

/**
 * Each broken variant's search, run once and shared by the refutation test and the
 * checked-in-counterexample test (a pure function of the base and COUNTEREXAMPLE_SEARCH's seed).
 */
const searched = new Map<string, { base: BaseScenario; r: SearchResult }>();
function brokenSearch(policy: string): { base: BaseScenario; r: SearchResult } {
  let s = searched.get(policy);
  if (s === undefined) {
    const base = loadBase(baseText, BASE_SCENARIO, policy);
    searched.set(policy, (s = { base, r: searchSchedules(base, COUNTEREXAMPLE_SEARCH) }));
  }
  return s;
}

async function runCli(file: string): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await main(['run', file], (s) => void (out += s));
  return { code, out };
}

describe('correct posted-interrupt policies hold P1 and P3 over random schedules', () => {
  for (const policy of CORRECT_POLICIES) {
    it(`${policy}: ${RUNS} runs of up to ${MAX_STEPS} steps`, () => {
      const base = loadBase(baseText, BASE_SCENARIO, policy);
      const reached = new Map<CoverageLabel, number>();
      let steps = 0;
      const r = searchSchedules(base, {
        seed: SEEDS[policy]!,
        numRuns: RUNS,
        maxSteps: MAX_STEPS,
        onRun: (run, s) => {
          steps += s.length;
          for (const c of coverageOf(run)) reached.set(c, (reached.get(c) ?? 0) + 1);
        },
      });
      const covered = [...reached].map(([c, n]) => `${c} ${n}`).join(', ');
      console.log(`${policy}: ${r.runs} runs (${steps} steps) in ${Math.round(r.ms)} ms, seed ${r.seed}; runs reaching: ${covered}`);
      if (r.failed) console.log(`${policy} counterexample (seed ${r.seed}, path ${r.path}):\n${formatSteps(r.steps ?? [])}${r.findings.map((f) => f.message).join('\n')}`);
      expect(r.findings).toEqual([]);
      expect(r.failed).toBe(false);
      expect(r.runs).toBe(RUNS);
      for (const c of MUST_REACH) expect(reached.get(c) ?? 0, `runs reaching ${c}`).toBeGreaterThan(RUNS / 100);
    });
  }
});

describe('broken variants are refuted by search, with a replayable counterexample', () => {
  for (const variant of BROKEN_VARIANTS) {
    it(`${variant.policy} violates ${variant.property}`, async () => {
      const { base, r } = brokenSearch(variant.policy);
      expect(r.failed, `no counterexample in ${r.runs} runs`).toBe(true);
      const steps = r.steps!;
      console.log(
        `${variant.policy}: ${r.findings[0]?.property} after ${r.runs} run(s), ${r.shrinks} shrink(s), ${Math.round(r.ms)} ms — seed ${r.seed}, path ${r.path}\n` +
          `${formatSteps(steps)}${r.findings[0]?.message}`,
      );
      expect(r.findings[0]?.property).toBe(variant.property);
      expect(steps.length).toBeGreaterThan(0);
      expect(steps.length).toBeLessThanOrEqual(8);
      // The violation is in the generated steps, not in the base's setup.
      expect(r.findings[0]!.generated).toBeGreaterThanOrEqual(0);

      // fast-check replays the shrunk case from seed and path alone.
      const replay = searchSchedules(base, { ...COUNTEREXAMPLE_SEARCH, seed: r.seed, path: r.path! });
      expect(replay.failed).toBe(true);
      expect(replay.steps).toEqual(steps);

      // The written scenario replays without fast-check.
      const file = tmp.write(`${variant.policy}.yaml`, counterexampleScenario(base, r));
      const { code, out } = await runCli(file);
      expect(code).toBe(1);
      expect(out).toContain(`VIOLATION ${variant.property}`);
      expect(out).not.toContain(`VIOLATION ${variant.property === 'P1' ? 'P3' : 'P1'}`);
    });
  }

  it('the checked-in counterexamples are the ones the search finds now', () => {
    for (const variant of BROKEN_VARIANTS) {
      const { base, r } = brokenSearch(variant.policy);
      const file = counterexamplePath(variant.policy);
      const checkedIn = (parseScenarioFile(file).data as { steps: object[] }).steps;
      expect(checkedIn.slice(base.steps), `${join('specs/policies', `counterexample-${variant.policy}.yaml`)} is stale: run npx tsx src/checker/write-counterexamples.ts`).toEqual(r.steps);
    }
  });
});
