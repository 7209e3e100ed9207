/**
 * `npx tsx fuzz/replay.ts FILE.json [...]`: replay a transitions reproducer (fuzz/targets.ts
 * `transitionsTarget`; fuzz/targets.ts `serializeTransitionInput`) action by action, printing each action's
 * kind, its time and its events' kinds, and the full stack trace of a throw (exit 1).
 */
import { readFileSync } from 'node:fs';
import { parseTransitionInput, reachableStates } from './targets.ts';
import { applyAction } from '../src/platform/transition.ts';

let failed = false;
for (const file of process.argv.slice(2)) {
  const input = parseTransitionInput(readFileSync(file, 'utf8'));
  const r = reachableStates().reach.find((x) => x.spec === input.spec);
  if (r === undefined) throw new Error(`${file}: no reachable states of ${input.spec}`);
  let s = r.states[input.stepsBefore]!;
  console.log(`${file}: ${input.spec} after ${input.stepsBefore} steps`);
  for (const [i, a] of input.actions.entries()) {
    const t0 = performance.now();
    try {
      const next = applyAction(s, a);
      s = next.state;
      console.log(`  #${i} ${a.kind} (${(performance.now() - t0).toFixed(0)} ms): ${next.events.map((e) => (e.kind === 'action-rejected' ? `action-rejected (${e.why})` : e.kind)).join(', ')}`);
    } catch (e) {
      failed = true;
      console.log(`  #${i} ${a.kind} THROWS: ${(e as Error).stack}`);
      break;
    }
  }
}
process.exit(failed ? 1 : 0);
