/**
 * `npx tsx bench/hostile-parsers.ts`: issue 17's slow-.dsl case. For adversarial iasl lines of
 * growing length (spaces then no colon: the old field expression's three quantifiers overlap on the
 * spaces; 1,000 spaces took 2.7 s, 2,000 took 24 s), the characters the linear scanner visits (src/io/iasl-lines.ts, counted) and its time,
 * beside the old regular expression's time on the shorter lines. The scanner's work per character
 * stays constant; the expression's time grows with the cube of the length. Not part of `npm run
 * bench` (which writes BENCHMARKS.md); printed only.
 */
import { performance } from 'node:perf_hooks';
import { scanIaslFieldLine } from '../src/io/iasl-lines.ts';

const OLD_FIELD_RE = /^\[([0-9A-Fa-f]+)h\s+(\d+)\s+([0-9A-Fa-f]+h|\d+)\]\s+(.+?)\s+:\s?(.*)$/;
const line = (n: number): string => `[030h 0048   2]${' '.repeat(n)}x`;

console.log('length\tscanner steps\tsteps/char\tscanner ms\tregex ms');
for (const n of [125, 250, 500, 1000, 8000, 64000, 512000]) {
  const s = line(n);
  const work = { steps: 0 };
  let t = performance.now();
  scanIaslFieldLine(s, work);
  const scan = performance.now() - t;
  let re = '(skipped)';
  if (n <= 1000) {
    t = performance.now();
    OLD_FIELD_RE.exec(s);
    re = (performance.now() - t).toFixed(1);
  }
  console.log(`${s.length}\t${work.steps}\t${(work.steps / s.length).toFixed(2)}\t${scan.toFixed(2)}\t${re}`);
}
