// Start-up of `remapsim decode msi fee00538 0`, the compiled CLI against tsx + src/ (BENCHMARKS.md,
// "CLI start-up: compiled dist/"). A fresh process per run, rows interleaved round after round so
// that the machine's load falls on all of them alike; one warm-up run each, then the median of RUNS.
//
//   node scripts/bench-startup.mjs [RUNS] [INSTALLED_DIR]
//
// Run it in a checkout whose dist/ is fresh (after `npm ci` or `npm run build`). INSTALLED_DIR, if
// given, is a project that installed the packed tarball (`npm pack`, `npm install ./remapsim-*.tgz`):
// its row is the published package, where bin/remapsim.js makes no freshness check.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runFromSource } from '../bin/dist-freshness.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.argv[2] ?? 11);
const installed = process.argv[3];
if (runFromSource()) throw new Error('dist/ is stale or missing here: run `npm run build` first');
const ARGS = ['decode', 'msi', 'fee00538', '0'];
import { existsSync } from 'node:fs';
const OLD_BIN = 'bin/remapsim-old.js'; // optional: the former bin (git show 9af1910:bin/remapsim.js > bin/remapsim-old.js)
const rows = [
  ...(existsSync(`${ROOT}/${OLD_BIN}`) ? [{ label: `former bin/remapsim.js (tsx + src/; ${OLD_BIN})`, cwd: ROOT, node: [OLD_BIN, ...ARGS], env: {} }] : []),
  { label: 'tsx + src/ (REMAPSIM_FROM_SOURCE=1: what bin/remapsim.js did before)', cwd: ROOT, node: ['bin/remapsim.js', ...ARGS], env: { REMAPSIM_FROM_SOURCE: '1' } },
  { label: 'tsx + src/, transform cache off (TSX_DISABLE_CACHE=1: the first run after a change)', cwd: ROOT, node: ['bin/remapsim.js', ...ARGS], env: { REMAPSIM_FROM_SOURCE: '1', TSX_DISABLE_CACHE: '1' } },
  { label: 'dist/, source checkout (with the freshness check)', cwd: ROOT, node: ['bin/remapsim.js', ...ARGS], env: {} },
  ...(installed === undefined ? [] : [{ label: 'dist/, installed package', cwd: installed, node: ['node_modules/remapsim/bin/remapsim.js', ...ARGS], env: {} }]),
  { label: 'floor: node -e 0', cwd: ROOT, node: ['-e', '0'], env: {}, floor: true },
];
function once(r) {
  const t0 = process.hrtime.bigint();
  const p = spawnSync(process.execPath, r.node, { cwd: r.cwd, encoding: 'utf8', env: { ...process.env, ...r.env } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (p.status !== 0 || (!r.floor && !p.stdout.includes('IRTE index 0x29'))) throw new Error(`${r.label}: exit ${p.status}: ${p.stderr}`);
  return ms;
}
const load0 = loadavg()[0];
const times = rows.map((r) => (once(r), []));
for (let k = 0; k < runs; k++) rows.forEach((r, i) => times[i].push(once(r)));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
console.log(`${runs} runs each, interleaved; Node ${process.version}; load average (1 min) ${load0.toFixed(2)} at the start, ${loadavg()[0].toFixed(2)} at the end\n`);
console.log('| `remapsim decode msi fee00538 0` | median ms | min–max ms |\n|---|---:|---:|');
rows.forEach((r, i) => console.log(`| ${r.label} | ${median(times[i]).toFixed(0)} | ${Math.min(...times[i]).toFixed(0)}–${Math.max(...times[i]).toFixed(0)} |`));
