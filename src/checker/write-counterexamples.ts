/**
 * Regenerate specs/policies/counterexample-<policy>.yaml for every broken variant:
 * search with the shared budget (src/checker/counterexample.ts), write each shrunk
 * counterexample as a scenario, and check the file replays its violation.
 *
 *   npx tsx src/checker/write-counterexamples.ts
 *
 * Exit status 0 when every variant's counterexample was found and written, 1 otherwise.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { parseScenarioFile } from '../scenario/parse.ts';
import { compileScenario } from '../scenario/compile.ts';
import { runScenario } from '../scenario/run.ts';
import { formatSteps } from '../scenario/write.ts';
import { loadBase, searchSchedules } from './schedule.ts';
import { BASE_SCENARIO, BROKEN_VARIANTS, COUNTEREXAMPLE_SEARCH, counterexamplePath, counterexampleScenario, readBaseScenario } from './counterexample.ts';

/**
 * Search each broken variant and write its counterexample file; `log` gets one
 * report per variant. Returns the number of variants that failed (not found, wrong
 * property, or a file that does not replay).
 */
export function writeCounterexamples(log: (line: string) => void = (l) => void process.stdout.write(`${l}\n`)): number {
  const text = readBaseScenario();
  let bad = 0;
  for (const v of BROKEN_VARIANTS) {
    const base = loadBase(text, BASE_SCENARIO, v.policy);
    const r = searchSchedules(base, COUNTEREXAMPLE_SEARCH);
    const property = r.findings[0]?.property;
    if (!r.failed || r.steps === undefined || property !== v.property) {
      log(`${v.policy}: expected a ${v.property} counterexample, got ${r.failed ? (property ?? 'a failure with no violation') : `none in ${r.runs} runs`}`);
      bad++;
      continue;
    }
    const file = counterexamplePath(v.policy);
    writeFileAtomic(file, counterexampleScenario(base, r));
    const replay = runScenario(compileScenario(parseScenarioFile(file)));
    const replayed = v.property === 'P1' ? replay.violations.length > 0 : replay.lost.length > 0;
    log(`${v.policy}: ${v.property} after ${r.runs} run(s), seed ${r.seed}, path ${r.path ?? ''}, ${r.steps.length} step(s) → ${file}${replayed ? '' : ' (DOES NOT REPLAY)'}`);
    log(formatSteps(r.steps).trimEnd());
    if (!replayed) bad++;
  }
  return bad;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  process.exitCode = writeCounterexamples() === 0 ? 0 : 1;
}
