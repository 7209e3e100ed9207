/**
 * Wall time of `node bin/remapsim.js …` as a user runs it (a fresh process each time, tsx
 * loading the TypeScript on the way), median of several runs, with child_process. Used by
 * bench/run.ts for the CLI start-up section of BENCHMARKS.md; `tsx bench/cli.ts [runs]`
 * prints the same figures on their own.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = 'bin/remapsim.js';

/** The largest lspci dump of data/real-inputs/lspci/ (by bytes and by devices: 35 functions). */
export const LARGEST_LSPCI = 'data/real-inputs/lspci/lenovo-thinkpad-t14-gen3-amd_696E48381F84_arch-6.4.9_lspci-vvnn.txt';

/** The commands timed, with the exit status each must have. */
export const CLI_COMMANDS: readonly { readonly args: readonly string[]; readonly code: number }[] = [
  { args: ['--help'], code: 0 },
  { args: ['decode', 'msi', 'fee00538', '0'], code: 0 },
  { args: ['groups', LARGEST_LSPCI], code: 0 },
];

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

/** Run `node bin/remapsim.js ARGS` `runs` times (after one unrecorded warm-up run); wall times in ms. */
export function timeCli(args: readonly string[], runs: number, code = 0): CliTiming {
  const once = (): number => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.error) throw r.error;
    if (r.status !== code) throw new Error(`node ${BIN} ${args.join(' ')}: exit ${r.status} (expected ${code}): ${r.stderr}`);
    return ms;
  };
  once(); // warm the file cache
  const times = Array.from({ length: runs }, once);
  return { command: `node ${BIN} ${args.join(' ')}`, runs, medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times) };
}

/** Every command of {@link CLI_COMMANDS}, `runs` times each. */
export function timeCliCommands(runs: number): CliTiming[] {
  return CLI_COMMANDS.map((c) => timeCli(c.args, runs, c.code));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const runs = Number(process.argv[2] ?? 7);
  for (const t of timeCliCommands(runs)) console.log(`${t.medianMs.toFixed(0).padStart(5)} ms median (${t.minMs.toFixed(0)}–${t.maxMs.toFixed(0)}, ${t.runs} runs)  ${t.command}`);
}
