/**
 * `remapsim check` throughput with worker threads (issue 15 goal 5): the budget of the goal —
 * 10,000 runs × ≤ 100 adversary steps of specs/default.yaml, seed 1 — searched by 1 and by 2
 * worker threads, and (the same search code in the main thread) a shorter inline run as the
 * reference rate of a step on this machine at this moment.
 *
 * It measures the compiled JavaScript (dist/, `npm run build` first; `BENCH_CHECK_DIST=dir`
 * for another build) in a child `node` process, as `bin/remapsim.js` runs it: a worker thread
 * inherits its process's `execArgv`, so under tsx (`npm run bench`) the threads would load tsx
 * too. From a stale or missing dist/ it says so and measures nothing.
 *
 * Figures, all from the one child process:
 * - worker start-up: each thread's own CPU time (src/checker/thread-cpu.ts, /proc/thread-self)
 *   from its start to its search context ready (Node's worker bootstrap, loading the compiled
 *   modules, receiving the prepared check: src/checker/ship.ts) — CPU, not wall, because the
 *   machine is shared; and the main thread's wall time in `startPool` (shipping the check);
 * - adversary steps per worker CPU-second: steps searched / the threads' CPU after start-up;
 *   and per process CPU-second (every thread: the main thread's merging, V8's GC and compiler
 *   threads, start-up), beside steps per process CPU-second of the inline search;
 * - wall time of the search with 1 and 2 workers and their ratio (noisy on a shared machine:
 *   the load average is printed with it);
 * - whether the 1- and 2-worker reports are byte-identical (apart from the elapsed time).
 *
 * `npx tsx bench/check.ts` prints the same on its own; `BENCH_CHECK_RUNS` / `BENCH_CHECK_STEPS`
 * change the budget, `BENCH_CHECK_INLINE_RUNS` the inline run's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { distIsStale } from '../bin/dist-freshness.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCENARIO = 'specs/default.yaml';
const RUNS = Number(process.env.BENCH_CHECK_RUNS ?? 10_000);
const STEPS = Number(process.env.BENCH_CHECK_STEPS ?? 100);
const INLINE_RUNS = Number(process.env.BENCH_CHECK_INLINE_RUNS ?? 2_000);
const WORKERS = [1, 2] as const;

/** Goal 5's targets. */
const TARGETS = { scaling: 1.8, startupCpuS: 0.3, stepsPerCpuS: 100_000 };

/** One pool's search, as the child reports it. */
interface PoolRun {
  readonly workers: number;
  readonly delivery: string;
  readonly startPoolMs: number;
  readonly wallMs: number;
  readonly processCpuMs: number;
  readonly runs: number;
  readonly steps: number;
  readonly threads: readonly { threadId: number; startupMs: number | null; totalMs: number | null }[];
  readonly report: string;
}

interface ChildResult {
  readonly inline: { readonly runs: number; readonly steps: number; readonly cpuMs: number };
  readonly pools: readonly PoolRun[];
}

/** The child's program: plain JavaScript over the compiled modules (argv[1]: JSON of its inputs). */
const CHILD = String.raw`
import { readFileSync } from 'node:fs';
const { dist, file, runs, steps, inlineRuns, workers } = JSON.parse(process.argv[1]);
const { prepareCheck, runCheck, searchChunk, chunksOf, formatCheckReport, emptyCoverage, addCoverage } = await import(dist + '/checker/check.js');
const { startPool } = await import(dist + '/checker/pool.js');
const text = readFileSync(file, 'utf8');
const cpuMs = (u) => (u.user + u.system) / 1000;
// Inline: the same search in this thread, chunk after chunk.
const small = prepareCheck(text, file, { runs: inlineRuns, steps, seed: 1 });
const cov = emptyCoverage();
let inlineRunsDone = 0;
// The first two chunks warm the JIT up and are not counted.
for (const c of chunksOf(small.threat.budget).slice(0, 2)) searchChunk(small, c);
const c0 = process.cpuUsage();
for (const c of chunksOf(small.threat.budget).slice(2)) { const r = searchChunk(small, c); addCoverage(cov, r.coverage); inlineRunsDone += r.runs; }
const inline = { runs: inlineRunsDone, steps: cov.steps, cpuMs: cpuMs(process.cpuUsage(c0)) };
const overrides = { runs, steps, seed: 1 };
const prepared = prepareCheck(text, file, overrides);
const pools = [];
for (const w of workers) {
  const threads = new Map();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pool = startPool(text, file, overrides, w, { prepared, onWorkerCpu: (c) => { const old = threads.get(c.threadId); threads.set(c.threadId, { threadId: c.threadId, startupMs: c.startupMs ?? null, totalMs: Math.max(c.totalMs ?? 0, old?.totalMs ?? 0) }); } });
  const startPoolMs = performance.now() - t0;
  const r = await runCheck(prepared, { runChunk: pool.runChunk, concurrency: 2 * w });
  const wallMs = performance.now() - t0;
  const processCpuMs = cpuMs(process.cpuUsage(cpu0));
  await pool.close();
  pools.push({ workers: w, delivery: pool.delivery.kind, startPoolMs, wallMs, processCpuMs, runs: r.runs, steps: r.coverage.steps, threads: [...threads.values()], report: formatCheckReport(r, undefined).replace(/ in [0-9.]+ s\n/, ' in (elapsed) s\n') });
}
process.stdout.write(JSON.stringify({ inline, pools }));
`;

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Run the measurements and return the report lines (the command included). */
export function checkBench(): string[] {
  const dist = resolve(process.env.BENCH_CHECK_DIST ?? join(ROOT, 'dist'));
  const command = `${process.env.BENCH_CHECK_DIST === undefined ? '' : `BENCH_CHECK_DIST=${dist} `}npx tsx bench/check.ts  (budget ${fmt(RUNS)} runs × ≤ ${STEPS} steps of ${SCENARIO}, seed 1; inline ${fmt(INLINE_RUNS)} runs)`;
  const head = ['## `remapsim check` with worker threads (issue 15 goal 5, `bench/check.ts`)', '', `Command: \`${command}\``];
  if (!existsSync(join(dist, 'checker', 'pool.js')) || (process.env.BENCH_CHECK_DIST === undefined && distIsStale(ROOT) === true)) {
    return [...head, '', `Not measured: ${dist} is missing or older than src/ (run \`npm run build\` first).`];
  }
  const loadStart = loadavg();
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, JSON.stringify({ dist: pathToFileURL(dist).href, file: join(ROOT, SCENARIO), runs: RUNS, steps: STEPS, inlineRuns: INLINE_RUNS, workers: WORKERS })], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, REMAPSIM_FREEZE: '0' },
  });
  if (child.status !== 0) throw new Error(`bench/check.ts child failed (${child.status ?? child.signal}): ${child.stderr}`);
  const r = JSON.parse(child.stdout) as ChildResult;
  const loadEnd = loadavg();
  const inlineRate = r.inline.steps / (r.inline.cpuMs / 1000);
  const lines = [
    ...head,
    `Load average (1/5/15 min) at the start ${loadStart.map((x) => x.toFixed(2)).join(' ')}, at the end ${loadEnd.map((x) => x.toFixed(2)).join(' ')} (2 cores; wall times move with it, CPU times much less).`,
    '',
    `Inline (main thread, no workers; after 2 chunks of warm-up): ${fmt(r.inline.runs)} runs, ${fmt(r.inline.steps)} steps in ${(r.inline.cpuMs / 1000).toFixed(2)} CPU-s: **${fmt(inlineRate)} steps per CPU-second**.`,
    '',
    '| workers | delivery | startPool (main, wall ms) | worker start-up (CPU-s each) | search wall s | process CPU-s | runs | adversary steps | steps per worker CPU-s | steps per process CPU-s |',
    '|---:|---|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  const startups: number[] = [];
  const rates: number[] = [];
  for (const p of r.pools) {
    const ups = p.threads.map((t) => t.startupMs).filter((x): x is number => x !== null);
    startups.push(...ups);
    const searchCpu = p.threads.reduce((s, t) => s + ((t.totalMs ?? 0) - (t.startupMs ?? 0)), 0) / 1000;
    const rate = searchCpu > 0 ? p.steps / searchCpu : NaN;
    rates.push(rate);
    lines.push(`| ${p.workers} | ${p.delivery} | ${p.startPoolMs.toFixed(0)} | ${ups.map((x) => (x / 1000).toFixed(2)).join(', ') || 'n/a'} | ${(p.wallMs / 1000).toFixed(2)} | ${(p.processCpuMs / 1000).toFixed(2)} | ${fmt(p.runs)} | ${fmt(p.steps)} | ${fmt(rate)} | ${fmt(p.steps / (p.processCpuMs / 1000))} |`);
  }
  const one = r.pools.find((p) => p.workers === 1)!;
  const two = r.pools.find((p) => p.workers === 2)!;
  const scaling = one.wallMs / two.wallMs;
  const worstStartup = Math.max(...startups) / 1000;
  // CPU each thread spent (start-up included): with a core per thread, the wall time is the busiest thread's.
  const busiest = (p: PoolRun): number => Math.max(...p.threads.map((t) => t.totalMs ?? NaN));
  const cpuBound = busiest(one) / busiest(two);
  const slowestRate = Math.min(...rates);
  const verdict = (ok: boolean): string => (ok ? '**met**' : '**NOT met**');
  lines.push(
    '',
    `- 2 workers vs 1, wall time of the same budget: ${scaling.toFixed(2)}× (target ≥ ${TARGETS.scaling}×) — ${verdict(scaling >= TARGETS.scaling)}${loadStart[0]! > 1 ? ` (load average ${loadStart[0]!.toFixed(1)} on 2 cores: the second worker shares its core with other jobs)` : ''}.`,
    `  Were each thread on a core of its own (not so here), the wall ratio would be the busiest thread's CPU time with 1 worker over that with 2: ${(busiest(one) / 1000).toFixed(2)} / ${(busiest(two) / 1000).toFixed(2)} CPU-s = ${cpuBound.toFixed(2)}× (an estimate from CPU times, not the goal's measure).`,
    `- Worker start-up, worst thread: ${worstStartup.toFixed(2)} CPU-s (target < ${TARGETS.startupCpuS}) — ${verdict(worstStartup < TARGETS.startupCpuS)}; delivery: ${[...new Set(r.pools.map((p) => p.delivery))].join(', ')}.`,
    `- Steps per worker CPU-second, slowest pool: ${fmt(slowestRate)} (target ≥ ${fmt(TARGETS.stepsPerCpuS)}) — ${verdict(slowestRate >= TARGETS.stepsPerCpuS)}; ${(slowestRate / inlineRate).toFixed(2)}× the inline rate.`,
    `- Reports of 1 and 2 workers byte-identical (elapsed time aside): ${one.report === two.report ? 'yes' : '**NO**'}.`,
    '',
  );
  return lines;
}

/** Print {@link checkBench}'s lines (bench/run.ts). */
export function printCheckBench(): void {
  for (const l of checkBench()) console.log(l);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) printCheckBench();
