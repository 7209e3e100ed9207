/**
 * `remapsim check SCENARIO`: search for a counterexample to the scenario's properties
 * under its threat model (src/checker/check.ts, docs/checking.md). Exit status 0 when
 * the properties held over the budget, 1 with a counterexample (written as a scenario
 * that `remapsim run` replays), 2 bad input, 130 interrupted (Ctrl-C) with nothing found.
 */
import { errnoText } from '../io/errno-text.ts';
import { readInputText } from '../io/read-input.ts';
import { MAX_SCENARIO_BYTES } from '../io/limits.ts';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { InputError } from '../io/input-error.ts';
import { replacedNote, writeFileAtomic } from '../io/atomic-write.ts';
import { CHUNK_RUNS, checkExitCode, formatCheckReport, prepareCheck, runCheck, searchChunk, type Chunk, type CheckResult } from '../checker/check.ts';
import { defaultThreads, startPool, type CheckPool } from '../checker/pool.ts';
import type { Budget } from '../checker/adversary.ts';
import { checkJson } from './check-json.ts';

/** Options of {@link checkCommand} (the command line's). */
export interface CheckCommandOptions {
  readonly out?: string;
  readonly runs?: number;
  readonly steps?: number;
  readonly seconds?: number;
  readonly seed?: number;
  /** Worker threads (default: every core; 1 runs in this thread). Capped at the cores unless `forceWorkers`. */
  readonly workers?: number;
  /** Allow more workers than cores (up to {@link MAX_FORCED_WORKERS}). */
  readonly forceWorkers?: boolean;
  /** Progress lines on stderr even when it is not a terminal (on a terminal it is always shown, as one updated line). */
  readonly progress?: boolean;
  /** Write no counterexample file. */
  readonly write?: boolean;
  /** Report as one JSON object (specs/output.schema.json `check`, {@link checkJson}) instead of text. */
  readonly json?: boolean;
}

/**
 * Where the counterexample of `file` goes by default: NAME.counterexample.yaml in the current
 * directory (relative to it, as the report prints it), never beside the input — the input may be
 * in a checkout's specs/, whose tests read every scenario there. Its relative `dmar:`/`ivrs:`
 * paths are rebased to that place ({@link rebaseFirmwarePaths}).
 */
export function defaultCounterexamplePath(file: string): string {
  return `${basename(file).replace(/\.ya?ml$/i, '')}.counterexample.yaml`;
}

/**
 * Most worker threads even with `--force-workers` (docs/limits.md): each thread loads the model
 * (~50 MB through tsx from source, less compiled); 64 threads took 3.7 GB and ran 30× slower
 * than one on 2 cores (issue 17).
 */
export const MAX_FORCED_WORKERS = 64;

/**
 * The worker count to use for `--workers requested`: at most `cores` (more threads than cores only
 * add memory and contention) unless `force`, and never more than {@link MAX_FORCED_WORKERS}.
 * @returns the count and, when it was lowered, the one-line note saying so (for stderr).
 * @throws InputError (field `--workers`) when `force` asks for more than MAX_FORCED_WORKERS.
 */
export function effectiveWorkers(requested: number, cores: number, force: boolean): { workers: number; note: string | undefined } {
  if (force) {
    if (requested > MAX_FORCED_WORKERS) throw new InputError(`${requested} workers exceeds the limit of ${MAX_FORCED_WORKERS} even with --force-workers (docs/limits.md)`, { field: '--workers' });
    return { workers: requested, note: undefined };
  }
  if (requested <= cores) return { workers: requested, note: undefined };
  return { workers: cores, note: `remapsim: --workers ${requested} capped at ${cores}, the machine's cores (--force-workers to use more)` };
}

/**
 * Budgets (runs × steps per run) below which a check stays in this thread: a worker thread
 * costs ≈ 0.2–0.3 CPU-s to start from compiled JavaScript (BENCHMARKS.md, issue 15 goal 5;
 * a second or two from source, where it loads tsx), more than it saves on a small budget.
 */
const INLINE_WORK = 100_000;

/**
 * Check the scenario `file`: prepare it, search (on worker threads when the budget is
 * large enough and more than one worker is allowed), write the counterexample, and
 * return the report and the exit status. Progress goes to stderr when it is a terminal;
 * Ctrl-C stops the search and the report says what was found.
 * @throws InputError for an unreadable or invalid scenario, or a bad option.
 */
export async function checkCommand(file: string, o: CheckCommandOptions): Promise<{ code: number; report: string; result: CheckResult; written: string | undefined }> {
  const text = readInputText(file, { maxBytes: MAX_SCENARIO_BYTES, what: 'scenario' });
  const overrides: Partial<Budget> = {
    ...(o.runs === undefined ? {} : { runs: o.runs }),
    ...(o.steps === undefined ? {} : { steps: o.steps }),
    ...(o.seconds === undefined ? {} : { seconds: o.seconds }),
    ...(o.seed === undefined ? {} : { seed: o.seed }),
  };
  // A user-written platform.policy / platform.vmm module is imported (async) before the sync compile;
  // the worker threads load it the same way (src/checker/check-worker.ts).
  await (await import('../scenario/load-modules.ts')).loadScenarioModulesOf(text, file);
  const prepared = prepareCheck(text, file, overrides);
  const cap = effectiveWorkers(o.workers ?? defaultThreads(), defaultThreads(), o.forceWorkers === true);
  if (cap.note !== undefined) process.stderr.write(cap.note + '\n');
  const workers = cap.workers;
  let pool: CheckPool | undefined;
  if (workers > 1 && prepared.threat.budget.runs > CHUNK_RUNS && prepared.threat.budget.runs * prepared.threat.budget.steps >= INLINE_WORK) pool = startPool(text, file, overrides, workers);
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  const tty = process.stderr.isTTY === true;
  // `--progress` off a terminal: one plain line at the first chunk and then at most one a second (CI logs).
  let lastLine = -Infinity;
  const progressLine = (done: number, total: number, ms: number, threads: number | undefined): void => {
    if (ms - lastLine < 1000 && done < total) return;
    lastLine = ms;
    process.stderr.write(`check: ${done}/${total} runs ${(ms / 1000).toFixed(1)} s${threads === undefined ? '' : ` (${threads} workers)`}\n`);
  };
  const inline = async (c: Chunk) => {
    await new Promise((r) => setImmediate(r)); // let Ctrl-C and progress through between chunks
    return searchChunk(prepared, c);
  };
  let result: CheckResult;
  try {
    result = await runCheck(prepared, {
      runChunk: pool?.runChunk ?? inline,
      concurrency: pool === undefined ? 1 : pool.threads * 2,
      signal: abort.signal,
      ...(tty
        ? {
            onProgress: (done: number, total: number, ms: number) => {
              const pct = Math.floor((100 * done) / total);
              const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, '.');
              process.stderr.write(`\rcheck [${bar}] ${done}/${total} runs ${(ms / 1000).toFixed(1)} s${pool ? ` (${pool.threads} workers)` : ''}  `);
            },
          }
        : o.progress === true
          ? { onProgress: (done: number, total: number, ms: number) => progressLine(done, total, ms, pool?.threads) }
          : {}),
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
    if (tty) process.stderr.write('\r\x1b[K');
    await pool?.close();
  }
  let written: string | undefined;
  let note = '';
  if (result.counterexample !== undefined && o.write !== false) {
    written = o.out ?? defaultCounterexamplePath(file);
    try {
      note = replacedNote(writeFileAtomic(written, rebaseFirmwarePaths(result.counterexample.scenario, file, written)));
    } catch (e) {
      throw new InputError(`cannot write the counterexample: ${errnoText(e)}`, { file: written, field: '--out' });
    }
  }
  const report = o.json === true ? JSON.stringify(checkJson(result, written)) + '\n' : formatCheckReport(result, written) + (note === '' ? '' : `note: ${written}${note}\n`);
  return { code: checkExitCode(result), report, result, written };
}

/**
 * The counterexample text with a relative `platform.ivrs` / `platform.dmar` path (resolved
 * against the scenario, src/scenario/compile.ts) made relative to where the counterexample is
 * written, so that it replays from there (`--out` elsewhere, e.g. the catalog tests' temp dir).
 */
export function rebaseFirmwarePaths(text: string, from: string, to: string): string {
  return text.replace(/^(\s+(?:ivrs|dmar):\s*)(["']?)([^\s"'#]+)\2/m, (all, key: string, quote: string, path: string) => {
    if (isAbsolute(path)) return all;
    const moved = relative(dirname(resolve(to)), resolve(dirname(resolve(from)), path));
    return `${key}${quote}${moved}${quote}`;
  }).replace(/^(\s+(?:policy|vmm):\s*)(["']?)(\.\.?\/[^\s"'#]+)\2/gm, (_all, key: string, quote: string, path: string) => {
    // A user module's path (src/scenario/load-modules.ts) is relative to the scenario too.
    const moved = relative(dirname(resolve(to)), resolve(dirname(resolve(from)), path));
    return `${key}${quote}${moved.startsWith('../') ? moved : `./${moved}`}${quote}`;
  });
}
