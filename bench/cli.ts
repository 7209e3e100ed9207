/**
 * Wall time of `node bin/remapsim.js …` as a user runs it (a fresh process each time: the
 * compiled bundle, dist/bundle/, or src/ through tsx when dist/ is stale), median of several
 * runs, with child_process. Used by
 * bench/run.ts for the CLI start-up section of BENCHMARKS.md.
 *
 * The commands are run round after round, each round running every command once (in
 * every tree), so that a change in the machine's load falls on all of them alike and the
 * floor is comparable with the commands. `tsx bench/cli.ts [RUNS] [TREE…]` prints the
 * same figures on their own; with several trees (checkouts that can run, e.g.
 * `git archive HEAD | tar -x -C /tmp/before` with node_modules linked in, and `.`) each
 * round also alternates between the trees (how the before/after figures of BENCHMARKS.md
 * were taken).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = 'bin/remapsim.js';

/** The largest lspci dump of data/real-inputs/lspci/ (by bytes and by devices: 35 functions). */
export const LARGEST_LSPCI = 'data/real-inputs/lspci/lenovo-thinkpad-t14-gen3-amd_696E48381F84_arch-6.4.9_lspci-vvnn.txt';

/** A command timed: what to pass to `node`, how to print it, and the exit status it must have. */
export interface CliCommand {
  readonly label: string;
  readonly node: readonly string[];
  readonly code: number;
}

const remapsim = (...args: string[]): CliCommand => ({ label: `node ${BIN} ${args.join(' ')}`, node: [BIN, ...args], code: 0 });

/** The start-up floor: a bare `node` process that does nothing. What remapsim can save is above this line. */
export const FLOOR: CliCommand = { label: 'node -e ""', node: ['-e', ''], code: 0 };

/** What `npm start` runs (package.json `scripts.start`), without npm's own start-up. */
export const START: CliCommand = remapsim('run', 'specs/default.yaml');

/** The `decode msi` command of issue 15 goal 6. */
export const DECODE_MSI: CliCommand = remapsim('decode', 'msi', 'fee00538', '0');

/** The commands timed. */
export const CLI_COMMANDS: readonly CliCommand[] = [remapsim('--help'), DECODE_MSI, START, remapsim('groups', LARGEST_LSPCI), FLOOR];

export interface CliTiming {
  /** The command line as typed, from the repository root. */
  readonly command: string;
  readonly runs: number;
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function once(c: CliCommand, cwd: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [...c.node], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw r.error;
  if (r.status !== c.code) throw new Error(`${c.label}: exit ${r.status} (expected ${c.code}): ${r.stderr}`);
  return ms;
}

/**
 * Time every command of `commands` in every checkout of `trees`, `runs` times each after one
 * unrecorded warm-up run (file and transform caches): round after round, each round running
 * every command once in every tree, so that the load at any moment falls on all of them.
 * Result: by command, then by tree.
 */
export function timeCliIn(trees: readonly string[], commands: readonly CliCommand[], runs: number): CliTiming[][] {
  for (const c of commands) for (const t of trees) once(c, t);
  const times = commands.map(() => trees.map((): number[] => []));
  for (let k = 0; k < runs; k++) commands.forEach((c, i) => trees.forEach((t, j) => times[i]![j]!.push(once(c, t))));
  return commands.map((c, i) => times[i]!.map((ts) => ({ command: c.label, runs, medianMs: median(ts), minMs: Math.min(...ts), maxMs: Math.max(...ts) })));
}

/** Every command of {@link CLI_COMMANDS}, `runs` times each, interleaved, in this checkout. */
export function timeCliCommands(runs: number): CliTiming[] {
  return timeCliIn([ROOT], CLI_COMMANDS, runs).map((byTree) => byTree[0]!);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const runs = Number(process.argv[2] ?? 7);
  const trees = process.argv.length > 3 ? process.argv.slice(3).map((t) => resolve(t)) : [ROOT];
  for (const byTree of timeCliIn(trees, CLI_COMMANDS, runs)) {
    byTree.forEach((t, i) => console.log(`${t.medianMs.toFixed(0).padStart(5)} ms median (${t.minMs.toFixed(0)}–${t.maxMs.toFixed(0)}, ${t.runs} runs)  ${trees.length > 1 ? `[${trees[i]}] ` : ''}${t.command}`));
  }
}
