/**
 * remapsim as an npm package, used the way another project uses it: `npm pack`, a tiny
 * project in os.tmpdir() (outside the repository) that installs the tarball (its
 * dependencies come from the npm registry), then
 * - plain Node 20 imports it (.mjs): parses, compiles and runs specs/default.yaml's text,
 *   decodes an MSI given as JS numbers, and runs `check` on two worker threads (so the
 *   compiled worker entry, dist/checker/check-worker.js, is exercised without tsx);
 * - the installed `remapsim` bin runs (dist/, no TypeScript loader: tsx is not installed);
 * - tsc (the repository's) type-checks a .ts consumer with a standard
 *   `module`/`moduleResolution: nodenext` tsconfig, and reports the errors of a
 *   deliberately wrong consumer (so the check is not vacuous: the types are not `any`).
 *
 * The tarball is packed from a staging copy in os.tmpdir(), never from the work tree (no
 * file is written into the repository): package.json and its `files`, with dist/ copied
 * from the repository when it is a build of the current src/ (bin/dist-freshness.js), else
 * built afresh in the staging copy, so the test always exercises the current sources.
 * If the registry cannot be reached, the install fails and so does the test, saying so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distIsStale } from '../../bin/dist-freshness.js';
import { compileScenario, formatTrace, parseScenarioText, runScenario } from '../../src/index.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const repo = (...p: string[]): string => join(ROOT, ...p);
const TSC = repo('node_modules', 'typescript', 'bin', 'tsc');
const NPM_ENV = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', npm_config_loglevel: 'error', npm_config_fetch_retries: '1', npm_config_fetch_timeout: '20000' };

let work: string;
let consumer: string;

function run(cmd: string, args: readonly string[], cwd: string, timeout = 60_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: NPM_ENV });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return r;
}

const tail = (s: string, n = 1500): string => (s.length > n ? `…${s.slice(-n)}` : s);

/** Stage the package (package.json + `files`) in `dir`, with a dist/ of the current src/. */
function stagePackage(dir: string): void {
  const pkg = JSON.parse(readFileSync(repo('package.json'), 'utf8')) as { files: string[] };
  cpSync(repo('package.json'), join(dir, 'package.json'));
  for (const f of pkg.files) if (f !== 'dist') cpSync(repo(f), join(dir, f), { recursive: true });
  if (!distIsStale()) {
    cpSync(repo('dist'), join(dir, 'dist'), { recursive: true });
    return;
  }
  // dist/ is missing or older than src/: build the staged copy (tsc and @types/node from the
  // repository). --noCheck: emit only, about half the time; type errors are the type check's
  // to report (npm test runs it first), not this test's.
  for (const f of ['tsconfig.json', 'tsconfig.build.json']) cpSync(repo(f), join(dir, f));
  symlinkSync(repo('node_modules'), join(dir, 'node_modules'), 'dir');
  const b = run(process.execPath, [TSC, '-p', join(dir, 'tsconfig.build.json'), '--noCheck'], dir, 120_000);
  if (b.status !== 0) throw new Error(`building the staged package failed:\n${tail(b.stdout + b.stderr)}`);
  rmSync(join(dir, 'node_modules'));
}

const timings: string[] = [];
function timed<T>(what: string, f: () => T): T {
  const t0 = performance.now();
  try {
    return f();
  } finally {
    timings.push(`${what} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}

/**
 * A failure while packing or installing, rethrown by every test (a failure in beforeAll alone
 * would leave the tests "skipped", and CI's count of failed tests would not show it).
 */
let setupError: Error | undefined;
function ready(): void {
  if (setupError !== undefined) throw setupError;
}

beforeAll(() => {
  try {
    setUp();
  } catch (e) {
    setupError = e as Error;
  }
}, 110_000);

function setUp(): void {
  work = mkdtempSync(join(tmpdir(), 'remapsim-package-'));
  const stage = join(work, 'stage');
  mkdirSync(stage);
  timed('stage', () => stagePackage(stage));
  // --ignore-scripts: `prepare` would rebuild dist/ (done above, from the same sources).
  const p = timed('npm pack', () => run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], stage));
  if (p.status !== 0) throw new Error(`npm pack failed:\n${tail(p.stderr)}`);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (tarball === undefined) throw new Error(`npm pack wrote no tarball: ${p.stdout}`);

  consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), `${JSON.stringify({ name: 'remapsim-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
  const unreachable = 'npm install of the packed tarball failed (its dependencies come from the npm registry: is it reachable from this machine?)';
  let i: SpawnSyncReturns<string>;
  try {
    i = timed('npm install', () => run('npm', ['install', '--no-package-lock', join(work, tarball)], consumer, 50_000));
  } catch (e) {
    throw new Error(`${unreachable}: ${(e as Error).message}`);
  }
  if (i.status !== 0) throw new Error(`${unreachable}:\n${tail(i.stderr)}`);
  writeFileSync(join(consumer, 'use.mjs'), USE_MJS);
  writeFileSync(join(consumer, 'tsconfig.json'), `${JSON.stringify(CONSUMER_TSCONFIG, null, 2)}\n`);
  writeFileSync(join(consumer, 'good.ts'), GOOD_TS);
  writeFileSync(join(consumer, 'bad.ts'), BAD_TS);
}

afterAll(() => {
  console.log(`package test: ${timings.join(', ')}`);
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

/** Plain Node: no loader, only the installed package. Prints one JSON object. */
const USE_MJS = `import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseScenarioText, compileScenario, runScenario, formatTrace, decodeMsi, decodeIrte, decodeAmdMsi, check, iommuGroups, explore } from 'remapsim';
const pkg = createRequire(import.meta.url).resolve('remapsim/package.json').replace(/package\\.json$/, '');
// The scenario names its DMAR table relative to its own file name, as the CLI resolves it from the working directory.
process.chdir(pkg);
const text = readFileSync('specs/default.yaml', 'utf8');
const result = runScenario(compileScenario(parseScenarioText(text, 'specs/default.yaml')));
const msi = decodeMsi(0xfee00538, 0);
let rangeError = '';
try { decodeMsi(0xfee00538, 1.5); } catch (e) { rangeError = e instanceof RangeError ? e.message : 'not a RangeError: ' + e; }
const attack = readFileSync('specs/attacks/stale-iec-insecure.yaml', 'utf8');
const checked = await check(attack, { file: 'stale-iec-insecure.yaml', runs: 100, steps: 10, workers: 2 });
console.log(JSON.stringify({
  trace: formatTrace(result),
  msi: { format: msi.format, irteIndex: msi.irteIndex, address: String(msi.address) },
  amd: decodeAmdMsi(0xfee00000, 0x0401).index,
  irte: decodeIrte(0).irte.mode,
  rangeError,
  counterexample: checked.counterexample !== undefined,
  exports: { iommuGroups: typeof iommuGroups, explore: typeof explore },
}));
`;

const CONSUMER_TSCONFIG = {
  compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true },
  files: ['good.ts', 'bad.ts'],
};

const GOOD_TS = `import { decodeMsi, check, explore, loadGuestSupport, parseScenarioText, compileScenario, runScenario, applyAction, iommuGroups, type CheckResult, type ExploreResult } from 'remapsim';
const m = decodeMsi(0xfee00538, 0);
if (m.format === 'remappable') { const i: number = m.irteIndex; void i; }
const wide = decodeMsi(0xfee00538n, 0n);
const address: bigint = wide.address;
export async function go(text: string): Promise<boolean> {
  const r: CheckResult = await check(text, { runs: 10, seed: 1 });
  const run = runScenario(compileScenario(parseScenarioText(text, 'x.yaml')));
  return r.counterexample === undefined && run.final !== undefined && typeof applyAction === 'function' && typeof iommuGroups === 'function';
}
export const e: (o: Parameters<typeof explore>[0]) => ExploreResult = explore;
export const g = loadGuestSupport;
void address;
`;

/** Each line with a deliberate error, and the error tsc must report there. */
const BAD_LINES: readonly (readonly [string, string])[] = [
  ["import { decodeMsi, check, noSuchExport } from 'remapsim';", 'TS2305'],
  ["decodeMsi('0xfee00538', 0);", 'TS2345'],
  ["const n: number = decodeMsi(0xfee00538, 0).address;", 'TS2322'],
  ["void check('x', { runs: 'many' });", 'TS2322'],
];
const BAD_TS = `${BAD_LINES.map(([l]) => l).join('\n')}\n`;

describe('the packed package in a fresh project outside the repository', () => {
  it('plain Node 20 imports it, runs specs/default.yaml, decodes an MSI and checks on worker threads', () => {
    ready();
    const r = run(process.execPath, ['use.mjs'], consumer);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    const here = runScenario(compileScenario(parseScenarioText(readFileSync(repo('specs/default.yaml'), 'utf8'), 'specs/default.yaml')));
    expect(out.trace).toBe(formatTrace(here));
    expect(out.msi).toEqual({ format: 'remappable', irteIndex: 0x29, address: String(0xfee00538) });
    expect(out.amd).toBe(0x401);
    expect(out.irte).toBe('remapped');
    expect(out.rangeError).toMatch(/^data must be an integer/);
    expect(out.counterexample).toBe(true);
    expect(out.exports).toEqual({ iommuGroups: 'function', explore: 'function' });
  });

  it('the installed bin runs the compiled CLI without tsx', () => {
    ready();
    expect(() => readdirSync(join(consumer, 'node_modules', 'tsx'))).toThrow();
    const r = run(join(consumer, 'node_modules', '.bin', 'remapsim'), ['decode', 'msi', 'fee00538', '0'], consumer);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('remappable: handle 0x29 SHV=1 subhandle 0x0 → IRTE index 0x29');
    expect(r.status).toBe(0);
  });

  it('tsc with module/moduleResolution nodenext type-checks a consumer, and reports a wrong one', () => {
    ready();
    const r = run(process.execPath, [TSC, '-p', 'tsconfig.json'], consumer);
    const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
    // good.ts has none; bad.ts has exactly the errors planted in it, line by line.
    expect(errors.filter((l) => !l.startsWith('bad.ts')), r.stdout).toEqual([]);
    const got = errors.map((l) => /^bad\.ts\((\d+),\d+\): error (TS\d+)/.exec(l)).map((m) => (m === null ? '?' : `${m[1]}:${m[2]}`));
    expect(got).toEqual(BAD_LINES.map(([, code], i) => `${i + 1}:${code}`));
  });
});
