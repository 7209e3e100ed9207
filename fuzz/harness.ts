/**
 * Run one fuzz target: `count` mutants from `seed`, each classified (fuzz/classify.ts);
 * every failing input (unclear, crash, hang, garbage) is written to a reproducer file
 * `TARGET-SEED-INDEX.EXT` in `outDir` with a `.why.txt` next to it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from './rng.ts';
import { classify, FAILURES, OUTCOMES, type Outcome } from './classify.ts';
import type { Target } from './targets.ts';

export interface FuzzFailure {
  readonly index: number;
  readonly outcome: Outcome;
  readonly detail: string;
  /** Reproducer file, when an output directory was given. */
  readonly file: string | undefined;
}

export interface FuzzSummary {
  readonly target: string;
  readonly seed: number;
  readonly count: number;
  readonly counts: Readonly<Record<Outcome, number>>;
  readonly slowestMs: number;
  readonly totalMs: number;
  readonly failures: readonly FuzzFailure[];
  /** Units the inputs held in all (Target.units: the transitions target's actions), when the target counts them. */
  readonly units: number | undefined;
}

/** Fuzz `target`; keeps the first `keep` failures' details (all are written to `outDir`). */
export async function fuzzTarget(target: Target<unknown>, count: number, seed: number, outDir: string | undefined, keep = 20): Promise<FuzzSummary> {
  const rng = new Rng(seed);
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  const failures: FuzzFailure[] = [];
  let slowestMs = 0;
  let units = target.units === undefined ? undefined : 0;
  if (outDir !== undefined) mkdirSync(outDir, { recursive: true });
  // One unclassified input first, from another seed: it pays the target's one-off costs (loading
  // modules, compiling the scenario schema, building transitions' reachable states, cold JIT),
  // which on a loaded machine passed HANG_MS on the first input of a run (seed 22's input 0:
  // 3.7 s, replayed 385 ms cold and 12 ms warm).
  try {
    await target.run(target.mutant(new Rng(seed ^ 0x5eed)));
  } catch {
    // classified with the rest when it comes up in the run
  }
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const input = target.mutant(rng);
    if (units !== undefined) units += target.units!.count(input);
    const c = await classify(() => target.run(input), target.garbage?.bind(target), { ...target.options, ...(target.refused === undefined ? {} : { refused: target.refused.bind(target) }) });
    counts[c.outcome]++;
    slowestMs = Math.max(slowestMs, c.ms);
    if (!FAILURES.has(c.outcome)) continue;
    let file: string | undefined;
    if (outDir !== undefined) {
      file = join(outDir, `${target.name}-${seed}-${i}${target.ext}`);
      writeFileSync(file, target.serialize(input));
      writeFileSync(`${file}.why.txt`, `${c.outcome}\n${c.detail}\n`);
    }
    if (failures.length < keep) failures.push({ index: i, outcome: c.outcome, detail: c.detail, file });
  }
  return { target: target.name, seed, count, counts, slowestMs, totalMs: performance.now() - t0, failures, units };
}
