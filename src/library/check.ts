/**
 * `check(scenarioText, options)`: the library form of `remapsim check` — search for a
 * counterexample to a scenario's properties under its threat model (docs/checking.md),
 * optionally on worker threads, and return the result without writing any file.
 *
 * It composes {@link prepareCheck} and {@link runCheck} (src/checker/check.ts) with the
 * worker pool of src/checker/pool.ts, as src/cli/check.ts does for the command line.
 */
import { prepareCheck, runCheck, type CheckResult } from '../checker/check.ts';
import { startPool, type CheckPool } from '../checker/pool.ts';
import type { Budget } from '../checker/adversary.ts';

/** Options of {@link check}. Budget fields override the scenario's `threat.budget`. */
export interface LibraryCheckOptions {
  /** Name of the scenario in errors and in the counterexample's comments (default `scenario.yaml`). */
  readonly file?: string;
  /** Random runs to try. */
  readonly runs?: number;
  /** Attack steps per run. */
  readonly steps?: number;
  /** Time limit in seconds. */
  readonly seconds?: number;
  /** fast-check seed: the same seed and budget give the same result. */
  readonly seed?: number;
  /** Worker threads (default 1: this thread). More than 1 starts a pool for the call and stops it after. */
  readonly workers?: number;
  /** Aborting stops the search; the result reports what was found (`stopped: 'interrupted'`). */
  readonly signal?: AbortSignal;
  /** Called after each chunk of runs, with the runs done, the total and the elapsed milliseconds. */
  readonly onProgress?: (runsDone: number, runsTotal: number, elapsedMs: number) => void;
}

/**
 * Check the scenario whose YAML text is `scenarioText`. Resolves to the check result:
 * `counterexample` (with `scenario`, YAML text that `remapsim run` replays) when a property
 * failed, else `undefined`; format it with `formatCheckReport(result, undefined)` and map
 * it to the CLI's exit status with `checkExitCode`.
 * @throws InputError for an invalid scenario; RangeError when `workers` < 1.
 */
export async function check(scenarioText: string, options: LibraryCheckOptions = {}): Promise<CheckResult> {
  const file = options.file ?? 'scenario.yaml';
  const overrides: Partial<Budget> = {
    ...(options.runs === undefined ? {} : { runs: options.runs }),
    ...(options.steps === undefined ? {} : { steps: options.steps }),
    ...(options.seconds === undefined ? {} : { seconds: options.seconds }),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
  };
  const prepared = prepareCheck(scenarioText, file, overrides);
  const workers = options.workers ?? 1;
  if (!(workers >= 1)) throw new RangeError(`workers must be at least 1, got ${workers}`);
  const pool: CheckPool | undefined = workers > 1 ? startPool(scenarioText, file, overrides, workers) : undefined;
  try {
    return await runCheck(prepared, {
      ...(pool === undefined ? {} : { runChunk: pool.runChunk, concurrency: pool.threads * 2 }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
  } finally {
    await pool?.close();
  }
}
