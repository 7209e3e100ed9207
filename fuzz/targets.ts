/**
 * The fuzz targets (issue 16 item 4): each takes its seeds from the real inputs in
 * data/real-inputs/ and specs/, makes mutants, and runs the parser (or the CLI, or the
 * transition function) on them in-process. `garbage` says what an accepted result
 * cannot hold.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Rng } from './rng.ts';
import { mutateBytes, mutateText } from './mutate.ts';
import { outOfRangeBdf, type ClassifyOptions } from './classify.ts';
import { parseDmarBinary } from '../src/vtd/dmar/parse-binary.ts';
import { parseDmarText } from '../src/vtd/dmar/parse-dsl.ts';
import { parseIvrsBinary } from '../src/amdvi/ivrs/parse-binary.ts';
import { parseIvrsText } from '../src/amdvi/ivrs/parse-dsl.ts';
import { parseLspci } from '../src/inputs/lspci.ts';
import { parseLspciTopology } from '../src/inputs/lspci-topology.ts';
import { parseGroupListing } from '../src/inputs/iommu-group-listing.ts';
import { parseDebugfs } from '../src/inputs/debugfs.ts';
import { parseScenarioText } from '../src/scenario/parse.ts';
import { compileScenario, type CompiledScenario } from '../src/scenario/compile.ts';
import { buildPlatform } from '../src/platform/build.ts';
import { applyAction } from '../src/platform/transition.ts';
import type { Action } from '../src/platform/actions.ts';
import type { PlatformState } from '../src/platform/state.ts';
import { main } from '../src/cli/main.ts';

const ROOT = join(import.meta.dirname, '..');

export interface Target<I> {
  readonly name: string;
  /** File name suffix of a reproducer. */
  readonly ext: string;
  readonly options?: ClassifyOptions;
  /** The i-th mutant (deterministic in the generator's state). */
  mutant(rng: Rng): I;
  run(input: I): unknown;
  garbage?(result: unknown): string | undefined;
  /** The bytes of a reproducer file. */
  serialize(input: I): string | Uint8Array;
}

function filesIn(dir: string, suffix: string): string[] {
  return readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => join(ROOT, dir, f));
}

interface Seeded<T> {
  readonly file: string;
  readonly data: T;
}
function seedsText(dir: string, suffix: string): Seeded<string>[] {
  return filesIn(dir, suffix).map((f) => ({ file: f, data: readFileSync(f, 'utf8') }));
}

/** A text mutant named after its seed file (so an input error names a file). */
interface TextInput {
  readonly file: string;
  readonly text: string;
}
function textTarget(name: string, seeds: () => Seeded<string>[], run: (t: TextInput) => unknown, extra: Partial<Target<TextInput>> = {}): Target<TextInput> {
  let cache: Seeded<string>[] | undefined;
  return {
    name,
    ext: '.txt',
    mutant(rng) {
      const s = rng.pick((cache ??= seeds()));
      return { file: s.file.replace(/(\.[a-z]+)?$/, '.fuzz$1'), text: mutateText(rng, s.data) };
    },
    run,
    serialize: (t) => t.text,
    ...extra,
  };
}

interface BytesInput {
  readonly file: string;
  readonly bytes: Uint8Array;
}
function bytesTarget(name: string, dir: string, run: (b: BytesInput) => unknown): Target<BytesInput> {
  let cache: Seeded<Uint8Array>[] | undefined;
  return {
    name,
    ext: '.bin',
    mutant(rng) {
      const s = rng.pick((cache ??= filesIn(dir, '.bin').map((f) => ({ file: f, data: new Uint8Array(readFileSync(f)) }))));
      return { file: s.file.replace(/\.bin$/, '.fuzz.bin'), bytes: mutateBytes(rng, s.data) };
    },
    run,
    garbage: (r) => outOfRangeBdf(r),
    serialize: (b) => b.bytes,
  };
}

/** Scenario seeds: every specs/**\/*.yaml but the schemas. */
function scenarioSeeds(): Seeded<string>[] {
  const dirs = ['specs', ...readdirSync(join(ROOT, 'specs'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `specs/${d.name}`)];
  return dirs.flatMap((d) => seedsText(d, '.yaml'));
}

/** Two units at one register base, two functions at one segment:RID: what a scenario cannot mean. */
function scenarioGarbage(r: unknown): string | undefined {
  const c = r as CompiledScenario;
  const bases = new Set<string>();
  for (const u of c.platform.iommus) {
    const k = `${u.segment}:${u.registerBase}`;
    if (bases.has(k)) return `two remapping units at register base 0x${u.registerBase.toString(16)} accepted`;
    bases.add(k);
  }
  const rids = new Set<string>();
  for (const d of c.platform.devices) {
    const k = `${d.segment}:${d.rid}`;
    if (rids.has(k)) return `two devices at ${d.key} accepted`;
    rids.add(k);
  }
  return outOfRangeBdf(c.platform.devices.map((d) => ({ key: d.key, segment: d.segment, rid: d.rid })));
}

export const scenarioTarget = textTarget('scenario', scenarioSeeds, (t) => compileScenario(parseScenarioText(t.text, t.file)), { ext: '.yaml', garbage: scenarioGarbage });

// ---- transitions -------------------------------------------------------------------

interface TransitionInput {
  readonly spec: string;
  readonly stepsBefore: number;
  readonly actions: readonly Action[];
}

interface Reachable {
  readonly spec: string;
  /** states[i]: after the first i steps of the scenario. */
  readonly states: readonly PlatformState[];
}

const TRANSITION_SPECS = () => ['specs/default.yaml', ...filesIn('specs/dma', '.yaml').map((f) => f.slice(ROOT.length + 1))];

let reachableCache: { reach: Reachable[]; templates: Action[] } | undefined;
/** The reachable states of specs/default.yaml and specs/dma/*.yaml, and every action their steps use (the templates mutants are made from). */
export function reachableStates(): { reach: Reachable[]; templates: Action[] } {
  if (reachableCache) return reachableCache;
  const reach: Reachable[] = [];
  const templates: Action[] = [];
  for (const spec of TRANSITION_SPECS()) {
    const c = compileScenario(parseScenarioText(readFileSync(join(ROOT, spec), 'utf8'), spec));
    let s = buildPlatform(c.platform);
    const states = [s];
    for (const step of c.steps) {
      for (const a of step.actions) {
        templates.push(a);
        s = applyAction(s, a).state;
      }
      states.push(s);
    }
    reach.push({ spec, states });
  }
  return (reachableCache = { reach, templates });
}

const RAW_NUMBERS = [0, 1, -1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 65, 255, 256, 0xfff, 0x1000, 0xffff, 0x10000, 0x7fffffff, 0xffffffff, 0x100000000, -0x80000000, 2 ** 53, 1.5, NaN, Infinity, -Infinity];
const RAW_BIGINTS = [0n, 1n, -1n, 0xfffn, 0x1000n, 0xfffffffcn, 0xffffffffn, 0xfee00000n, 0xfeefffffn, (1n << 39n) - 1n, 1n << 39n, 1n << 46n, 1n << 52n, (1n << 64n) - 1n, (1n << 64n) - 4n, 1n << 64n, 1n << 128n, (1n << 128n) - 1n, -(1n << 64n)];

/** `value` with raw field values: numbers, bigints, strings and booleans replaced at random (nested objects too). */
function rawMutate(rng: Rng, value: unknown, devices: readonly string[], depth = 0): unknown {
  if (typeof value === 'number') return rng.chance(0.5) ? value : rng.chance(0.7) ? rng.pick(RAW_NUMBERS) : (rng.u32() | 0);
  if (typeof value === 'bigint') return rng.chance(0.5) ? value : rng.chance(0.6) ? rng.pick(RAW_BIGINTS) + BigInt(rng.below(3)) * BigInt(rng.pick([0, 1, 4, 0x1000])) : rng.u64();
  if (typeof value === 'boolean') return rng.chance(0.7) ? value : !value;
  if (typeof value === 'string') return rng.chance(0.8) ? value : rng.pick([...devices, '', '00:00.0', 'ffff:ff:1f.7', 'nothing']);
  if (Array.isArray(value)) return depth > 4 ? value : value.map((v) => rawMutate(rng, v, devices, depth + 1));
  if (typeof value === 'object' && value !== null && depth <= 4) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = k === 'kind' ? v : rawMutate(rng, v, devices, depth + 1);
    return out;
  }
  return value;
}

/**
 * Hardware transitions are total (issue 16 item 1): random actions, malformed included
 * (the steps' own actions with raw field values: negative, fractional, NaN, beyond 64
 * bits, unknown devices), on states reachable from specs/default.yaml and specs/dma/*.yaml.
 * Any throw is a crash.
 */
export const transitionsTarget: Target<TransitionInput> = {
  name: 'transitions',
  ext: '.json',
  mutant(rng) {
    const { reach, templates } = reachableStates();
    const r = rng.pick(reach);
    const stepsBefore = rng.below(r.states.length);
    const devices = Object.keys(r.states[stepsBefore]!.devices);
    const actions = Array.from({ length: 1 + rng.below(8) }, () => rawMutate(rng, rng.pick(templates), devices) as Action);
    return { spec: r.spec, stepsBefore, actions };
  },
  run(input) {
    const r = reachableStates().reach.find((x) => x.spec === input.spec)!;
    let s = r.states[input.stepsBefore]!;
    for (const a of input.actions) s = applyAction(s, a).state;
    return s;
  },
  serialize: (i) => JSON.stringify(i, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v), 1),
};

// ---- CLI arguments ------------------------------------------------------------------

const CLI_TEMPLATES: readonly (readonly string[])[] = [
  ['run', 'specs/default.yaml'],
  ['run', 'specs/dma/nested.yaml', '--json'],
  ['dump', 'specs/default.yaml', '--json'],
  ['decode', 'dmar', 'data/real-inputs/dmar/hp-z240-sff.bin'],
  ['decode', 'dmar', 'data/real-inputs/dmar/hp-z240-sff.dsl', '--json'],
  ['decode', 'ivrs', 'data/real-inputs/ivrs/framework-laptop16.bin'],
  ['decode', 'debugfs', 'data/real-inputs/debugfs/intel-iommu-debugfs-kabylake-examples.txt'],
  ['check', 'specs/dma/property-base.yaml', '--no-write', '--runs', '2', '--steps', '5', '--workers', '1', '--seed', '1'],
  ['explore', '--topology', '1s:4c:1t'],
  ['explore', '--apic-ids', '0-7', '--json'],
  ['diff', 'specs/default.yaml', 'specs/dma/legacy.yaml'],
  ['--help'],
];
const CLI_TOKENS = ['--json', '--walks', '--runs', '--steps', '--seed', '--workers', '--seconds', '--topology', '--apic-ids', '--vendor', '--guest', '--schemes', '--sweep', '--policy', '--vmm', '0', '-1', '1e9', '4294967296', '0xffffffff', 'abc', '', '-', '--', '1s:0c:1t', '999s:999c:999t', '0-0xffffffff', '5..1', 'intel', 'amd', 'both', 'all', 'nope', '/dev/null', 'specs', 'specs/default.yaml', 'data/real-inputs/lspci/dell-latitude-9420_8A77983183EB_arch-6.2.10_lspci-vvnn.txt', 'run', 'dump', 'decode', 'check', 'explore', 'diff', 'groups'];
/** Options that write files: never generated, and removed from mutants (the harness must not write into the tree). */
const WRITING = new Set(['--out', '--scenario', '--svg', 'report', 'import', '-o']);

/**
 * CLI arguments through `main` in-process: stdout is discarded and stderr captured. A
 * throw out of `main` is a crash (the bin prints a stack trace for it); exit 2 without a
 * `remapsim:`, commander `error:` or `Usage:` line, or a stack trace on stderr, is garbage
 * (exit 1 is `diff`'s "they differ" and `check`'s counterexample); `check` runs are kept tiny so a mutant
 * finishes (`--runs`/`--steps` mutated upward are capped by check's own limits and time).
 */
export const cliTarget: Target<readonly string[]> = {
  name: 'cli',
  ext: '.argv.json',
  mutant(rng) {
    const argv = [...rng.pick(CLI_TEMPLATES)];
    for (let n = 1 + rng.below(3); n > 0; n--) {
      const at = rng.below(argv.length + 1);
      switch (rng.below(3)) {
        case 0:
          argv.splice(at, 0, rng.pick(CLI_TOKENS));
          break;
        case 1:
          if (argv.length > 0) argv.splice(at % argv.length, 1);
          break;
        default:
          if (argv.length > 0) argv[at % argv.length] = rng.pick(CLI_TOKENS);
      }
    }
    const safe = argv.filter((a) => !WRITING.has(a));
    // Keep every check tiny and in this thread: a fuzzed --runs would otherwise be a benchmark.
    if (safe.includes('check') || safe.includes('compare')) safe.push('--no-write', '--workers', '1', '--seconds', '1', '--runs', '2');
    if (safe.includes('explore') && safe.includes('--sweep')) safe.splice(safe.indexOf('--sweep'), 1);
    return safe;
  },
  async run(argv) {
    const errWrite = process.stderr.write;
    let err = '';
    process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
    const cwd = process.cwd();
    try {
      if (cwd !== ROOT) process.chdir(ROOT);
      const code = await main(argv, () => undefined);
      return { code, err };
    } finally {
      process.stderr.write = errWrite;
      if (process.cwd() !== cwd) process.chdir(cwd);
    }
  },
  garbage(r) {
    const { code, err } = r as { code: number; err: string };
    if (code === 2 && !/^remapsim: |^error: |^Usage: /m.test(err)) return `exit 2 without a remapsim: or commander error line: ${err.slice(0, 200)}`;
    if (/\n\s+at .*\(.*:\d+:\d+\)/.test(err)) return `stack trace on stderr: ${err.slice(0, 300)}`;
    return undefined;
  },
  serialize: (argv) => JSON.stringify(argv),
};

export const TARGETS: Readonly<Record<string, Target<never>>> = {
  scenario: scenarioTarget,
  'dmar-binary': bytesTarget('dmar-binary', 'data/real-inputs/dmar', (b) => parseDmarBinary(b.bytes, b.file)),
  'dmar-dsl': textTarget('dmar-dsl', () => seedsText('data/real-inputs/dmar', '.dsl'), (t) => parseDmarText(t.text, t.file), { ext: '.dsl', garbage: (r) => outOfRangeBdf(r) }),
  'ivrs-binary': bytesTarget('ivrs-binary', 'data/real-inputs/ivrs', (b) => parseIvrsBinary(b.bytes, b.file)),
  'ivrs-dsl': textTarget('ivrs-dsl', () => seedsText('data/real-inputs/ivrs', '.dsl'), (t) => parseIvrsText(t.text, t.file), { ext: '.dsl', garbage: (r) => outOfRangeBdf(r) }),
  lspci: textTarget('lspci', () => seedsText('data/real-inputs/lspci', '.txt'), (t) => ({ msi: parseLspci(t.text, t.file), topology: parseLspciTopology(t.text, t.file) }), { garbage: (r) => outOfRangeBdf(r, new Set(), 0xffff_ffff) }),
  groups: textTarget('groups', () => [...seedsText('data/real-inputs/groups', '.txt'), ...seedsText('data/real-inputs/groups', '.md')], (t) => parseGroupListing(t.text, t.file), { garbage: (r) => outOfRangeBdf(r, new Set(), 0xffff_ffff) }),
  debugfs: textTarget('debugfs', () => seedsText('data/real-inputs/debugfs', '.txt'), (t) => parseDebugfs(t.text, t.file), { garbage: (r) => outOfRangeBdf(r) }),
  cli: cliTarget,
  transitions: transitionsTarget,
} as unknown as Readonly<Record<string, Target<never>>>;
