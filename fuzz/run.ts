/**
 * `npm run fuzz -- --target NAME --count N --seed S [--out DIR]`: fuzz one target (or
 * `all`) and print a table of outcomes. Reproducers go to DIR (default: a new directory
 * under os.tmpdir()). Exit 1 when any input crashed, hung, was unclear or was garbage.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TARGETS } from './targets.ts';
import { fuzzTarget } from './harness.ts';
import { OUTCOMES } from './classify.ts';

const { values } = parseArgs({
  options: { target: { type: 'string', default: 'all' }, count: { type: 'string', default: '1000' }, seed: { type: 'string', default: '1' }, out: { type: 'string' } },
});
const names = values.target === 'all' ? Object.keys(TARGETS) : values.target.split(',');
for (const n of names) {
  if (!(n in TARGETS)) {
    process.stderr.write(`remapsim fuzz: --target: '${n}' is none of all, ${Object.keys(TARGETS).join(', ')}\n`);
    process.exit(2);
  }
}
const count = Number(values.count);
const seed = Number(values.seed);
if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(seed)) {
  process.stderr.write('remapsim fuzz: --count must be a positive integer and --seed an integer\n');
  process.exit(2);
}
const out = values.out ?? mkdtempSync(join(tmpdir(), 'remapsim-fuzz-'));
let failed = false;
console.log(`| target | inputs | ${OUTCOMES.join(' | ')} | slowest ms | total s |`);
console.log(`|---|---:|${OUTCOMES.map(() => '---:').join('|')}|---:|---:|`);
for (const n of names) {
  const s = await fuzzTarget(TARGETS[n]!, count, seed, out);
  console.log(`| ${n} | ${count} | ${OUTCOMES.map((o) => s.counts[o]).join(' | ')} | ${s.slowestMs.toFixed(0)} | ${(s.totalMs / 1000).toFixed(1)} |`);
  if (s.units !== undefined) console.log(`    ${n}: ${s.units} ${TARGETS[n]!.units?.name ?? 'units'} in ${count} inputs`);
  for (const f of s.failures.slice(0, 5)) console.log(`    #${f.index} ${f.outcome}: ${f.detail.split('\n').slice(0, 3).join(' / ')}${f.file ? `\n      ${f.file}` : ''}`);
  if (s.failures.length > 0) failed = true;
}
console.log(`reproducers: ${out}`);
process.exit(failed ? 1 : 0);
