/**
 * `remapsim check --json`: the check result as one JSON object, the `check` definition of
 * specs/output.schema.json (docs/checking.md "JSON output"). The same facts as the text report
 * (src/checker/check.ts `formatCheckReport`), with the types of the schema's rule: numbers for
 * counts, seeds, steps and times, strings for names and messages, hex strings for the bigints
 * an adversary step may carry (src/scenario/trace.ts `toJsonValue`).
 */
import type { CheckResult } from '../checker/check.ts';
import { toJsonValue } from '../scenario/trace.ts';

/** Properties in the one order every output uses. */
const ORDER = ['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7'];
const byOrder = (a: string, b: string): number => ORDER.indexOf(a) - ORDER.indexOf(b);

/** The outcome the exit status reports (src/checker/check.ts `checkExitCode`). */
export type CheckOutcome = 'held' | 'counterexample' | 'base-violation' | 'error';

/**
 * The JSON object of a check (`kind: "check"`). `written`: where the counterexample went (null
 * when none was written). `ms` is wall-clock time: the one field that differs between two runs.
 */
export function checkJson(r: CheckResult, written: string | undefined): Record<string, unknown> {
  const p = r.prepared;
  const t = p.threat;
  const outcome: CheckOutcome = r.baseViolations.length > 0 ? 'base-violation' : r.error !== undefined ? 'error' : r.counterexample !== undefined ? 'counterexample' : 'held';
  const c = r.counterexample;
  return {
    kind: 'check',
    scenario: p.data.name,
    file: p.file,
    adversary: { guests: [...t.guests], actions: [...t.kinds], requesterIds: t.requesterIds, deviceModel: t.deviceModel },
    properties: [...t.properties].sort(byOrder),
    budget: { runs: t.budget.runs, steps: t.budget.steps, seconds: t.budget.seconds, seed: t.budget.seed },
    ownSteps: p.base.steps.length,
    outcome,
    runs: r.runs,
    ms: Math.round(r.ms),
    stopped: r.stopped ?? null,
    baseViolations: [...r.baseViolations],
    error: r.error === undefined ? null : { message: r.error.message, chunk: r.error.chunk, seed: r.error.seed, path: r.error.path ?? null },
    counterexample:
      c === undefined
        ? null
        : {
            property: c.property,
            message: c.message,
            also: c.also.map((a) => ({ property: a.property, message: a.message })),
            run: c.run,
            chunk: c.chunk,
            chunkSeed: c.chunkSeed,
            path: c.path ?? null,
            shrinks: c.shrinks,
            step: c.step,
            steps: toJsonValue(c.steps),
            trace: [...c.trace],
            state: [...c.state],
            replayed: c.replayed,
            written: written ?? null,
          },
    deterministic: t.properties.includes('P5') ? r.deterministic : null,
    coverage: toJsonValue(r.coverage),
  };
}
