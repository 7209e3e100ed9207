/**
 * The fuzz targets (issue 16 item 4): each takes its seeds from the real inputs in
 * data/real-inputs/ and specs/, makes mutants, and runs the parser (or the CLI, or the
 * transition function) on them in-process. `garbage` says what an accepted result
 * cannot hold.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
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
import { isVmmRequest, vmmRespond } from '../src/vmm/respond.ts';
import { isPolicyRequest } from '../src/policy/policy.ts';
import { policyNamed } from '../src/policy/index.ts';
import { ACTION_KINDS, aimAt, applicableKinds, generateAction, RAW_BIGINTS, RAW_NUMBERS } from './actions.ts';

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
  /** Whether an accepted result is a refusal that named what was wrong (the CLI's exit 2 with its one line): counted as an input error. */
  refused?(result: unknown): boolean;
  /** The bytes of a reproducer file. */
  serialize(input: I): string | Uint8Array;
  /** What one input holds, counted (the transitions target: its actions), and the unit's name. */
  readonly units?: { readonly name: string; count(input: I): number };
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

/** Two units at one register base, two functions at one segment:RID, a function given to two domains: what a scenario cannot mean (a domain above 0xffff is a VMD domain). */
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
  const owners = new Map<string, string>();
  for (const dom of c.platform.domains) {
    for (const key of dom.devices) {
      if (owners.has(key)) return `device ${key} given to domains ${owners.get(key)} and ${dom.name} accepted`;
      owners.set(key, dom.name);
    }
  }
  return outOfRangeBdf(c.platform.devices.map((d) => ({ key: d.key, segment: d.segment, rid: d.rid })), new Set(), 0xffff_ffff);
}

export const scenarioTarget = textTarget('scenario', scenarioSeeds, (t) => compileScenario(parseScenarioText(t.text, t.file)), { ext: '.yaml', garbage: scenarioGarbage });

// ---- transitions -------------------------------------------------------------------

interface TransitionInput {
  readonly spec: string;
  readonly stepsBefore: number;
  readonly actions: readonly Action[];
}

/**
 * The scenarios whose reachable states the transitions target starts from: VT-d (default, dma),
 * AMD-Vi (amd, the amd-* attacks), the VMM designs (vmm, the ims-* attacks), the hypothetical
 * direct-post unit (vmm/direct-post, vmm/compare-all*, the direct-post-* attacks), the fabric and
 * the policies' examples.
 */
const TRANSITION_SPECS = (): string[] => [
  'specs/default.yaml',
  ...['specs/dma', 'specs/amd', 'specs/vmm', 'specs/fabric', 'specs/examples'].flatMap((d) => filesIn(d, '.yaml')),
  ...filesIn('specs/attacks', '.yaml').filter((f) => /\/(amd-|direct-post-|ims-)[^/]*-insecure\.yaml$/.test(f)),
].map((f) => (f.startsWith(ROOT) ? f.slice(ROOT.length + 1) : f));

interface Reachable {
  readonly spec: string;
  /** states[i]: after the first i steps of the scenario. */
  readonly states: readonly PlatformState[];
  /** The actions of the scenario's steps and what the policy and the VMM design answered them with. */
  readonly templates: readonly Action[];
}

/**
 * `a` and the primitives and requests a policy or VMM design answers it with in `s` (recursively,
 * each answered in `s`: templates, not a replay), so internal kinds (pid-write, vmm-binding,
 * kvm-route, device-register-write …) are drawn with the values real answers carry.
 */
function withAnswers(s: PlatformState, a: Action, out: Action[], depth = 0): void {
  out.push(a);
  if (depth > 3) return;
  let answer: readonly Action[] = [];
  try {
    if (isVmmRequest(a)) answer = vmmRespond(s, a);
    else if (isPolicyRequest(a)) answer = policyNamed(s.hypervisor.policy).respond(s, a);
  } catch {
    return; // a template source only: the transition itself is what is fuzzed
  }
  for (const b of answer) withAnswers(s, b, out, depth + 1);
}

let reachableCache: { reach: Reachable[]; templates: Action[] } | undefined;
/** The reachable states of TRANSITION_SPECS, and every action their steps use or cause (the templates mutants are made from). */
export function reachableStates(): { reach: Reachable[]; templates: Action[] } {
  if (reachableCache) return reachableCache;
  const reach: Reachable[] = [];
  const all: Action[] = [];
  for (const spec of TRANSITION_SPECS()) {
    const c = compileScenario(parseScenarioText(readFileSync(join(ROOT, spec), 'utf8'), spec));
    let s = buildPlatform(c.platform);
    const states = [s];
    const templates: Action[] = [];
    for (const step of c.steps) {
      for (const a of step.actions) {
        withAnswers(s, a, templates);
        s = applyAction(s, a).state;
      }
      states.push(s);
    }
    reach.push({ spec, states, templates });
    all.push(...templates);
  }
  return (reachableCache = { reach, templates: all });
}

/** A bigint mutation: a raw edge value, a flipped bit, the value ± a small step, or random. */
function rawBigint(rng: Rng, value: bigint): bigint {
  switch (rng.below(4)) {
    case 0:
      return rng.pick(RAW_BIGINTS) + BigInt(rng.below(3)) * BigInt(rng.pick([0, 1, 4, 0x1000]));
    case 1:
      return value < 0n ? value : value ^ (1n << BigInt(rng.below(value >> 64n === 0n ? 64 : 256)));
    case 2:
      return value + BigInt(rng.pick([-1, 1, 4, 0x1000, -0x1000]));
    default:
      return rng.u64();
  }
}

/** `value` with raw field values: numbers, bigints, strings and booleans replaced at random (nested objects too). */
function rawMutate(rng: Rng, value: unknown, devices: readonly string[], depth = 0): unknown {
  if (typeof value === 'number') return rng.chance(0.5) ? value : rng.chance(0.7) ? rng.pick(RAW_NUMBERS) : (rng.u32() | 0);
  if (typeof value === 'bigint') return rng.chance(0.5) ? value : rawBigint(rng, value);
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
 * A transitions reproducer as JSON: a bigint as the string `"123n"`, NaN and ±Infinity (which
 * JSON would write as null) as `{ "$number": "NaN" }`; {@link parseTransitionInput} reads it back.
 */
export function serializeTransitionInput(i: TransitionInput): string {
  return JSON.stringify(i, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v), 1);
}

/** The input {@link serializeTransitionInput} wrote. */
export function parseTransitionInput(text: string): TransitionInput {
  return JSON.parse(text, (_k, v: unknown) => {
    if (typeof v === 'string' && /^-?\d+n$/.test(v)) return BigInt(v.slice(0, -1));
    if (typeof v === 'object' && v !== null && Object.keys(v).length === 1 && typeof (v as { $number?: unknown }).$number === 'string') return Number((v as { $number: string }).$number);
    return v;
  }) as TransitionInput;
}

/**
 * Hardware transitions are total (issue 16 item 1): random actions, malformed included, on
 * states reachable from TRANSITION_SPECS (VT-d, AMD-Vi, VMM designs, the hypothetical
 * direct-post unit, fabric). Each action is one of: a step of the scenario (or an answer a
 * policy or design gave one) with raw field values — negative, fractional, NaN, beyond 64 or
 * 128 bits, flipped bits, unknown devices; a template of another scenario; or an action of a
 * kind drawn uniformly from every kind of src/platform/actions.ts (fuzz/actions.ts), aimed at
 * the state (its units, devices, rings and tables) and sometimes raw-mutated too. Any throw is
 * a crash.
 */
export const transitionsTarget: Target<TransitionInput> = {
  name: 'transitions',
  ext: '.json',
  mutant(rng) {
    const { reach, templates } = reachableStates();
    const r = rng.pick(reach);
    const stepsBefore = rng.below(r.states.length);
    const aim = aimAt(r.states[stepsBefore]!);
    const actions: Action[] = [];
    for (let n = 1 + rng.below(8); actions.length < n; ) {
      const roll = rng.below(20);
      if (roll < 7) actions.push(rawMutate(rng, rng.pick(r.templates.length > 0 ? r.templates : templates), aim.devices) as Action);
      else if (roll < 9) actions.push(rawMutate(rng, rng.pick(templates), aim.devices) as Action);
      else {
        const kinds = rng.chance(0.75) ? applicableKinds(aim.state) : ACTION_KINDS;
        const generated = generateAction(rng, aim, rng.pick(kinds.length > 0 ? kinds : ACTION_KINDS));
        actions.push(...(rng.chance(0.3) ? generated.map((a) => rawMutate(rng, a, aim.devices) as Action) : generated));
      }
    }
    return { spec: r.spec, stepsBefore, actions };
  },
  run(input) {
    const r = reachableStates().reach.find((x) => x.spec === input.spec)!;
    let s = r.states[input.stepsBefore]!;
    for (const a of input.actions) s = applyAction(s, a).state;
    return s;
  },
  serialize: serializeTransitionInput,
  units: { name: 'actions', count: (i) => i.actions.length },
};

// ---- CLI arguments ------------------------------------------------------------------

const LSPCI_DELL = 'data/real-inputs/lspci/dell-latitude-9420_8A77983183EB_arch-6.2.10_lspci-vvnn.txt';
const LSPCI_T14 = 'data/real-inputs/lspci/lenovo-thinkpad-t14-gen3-amd_696E48381F84_arch-6.4.9_lspci-vvnn.txt';

/**
 * Every command `main` defines (src/cli/main.ts), each with the words that name it (kept by
 * its target's mutants) and valid invocations to mutate. `report` is given `--out` into the
 * temporary directory after mutation; `import` and `explore` lose their file-writing options.
 */
const CLI_COMMANDS: Readonly<Record<string, { readonly words: number; readonly templates: readonly (readonly string[])[] }>> = {
  run: { words: 1, templates: [['run', 'specs/default.yaml'], ['run', 'specs/dma/nested.yaml', '--json'], ['run', 'specs/amd/remapped.yaml', '--walks'], ['run', 'specs/vmm/qemu-kvm-posted.yaml']] },
  dump: { words: 1, templates: [['dump', 'specs/default.yaml', '--json'], ['dump', 'specs/amd/remapped.yaml'], ['dump', 'specs/vmm/direct-post.yaml']] },
  check: { words: 1, templates: [['check', 'specs/dma/property-base.yaml', '--runs', '2', '--steps', '5', '--seed', '1'], ['check', 'specs/default.yaml', '--steps', '3', '--json']] },
  explore: { words: 1, templates: [['explore', '--topology', '1s:4c:1t'], ['explore', '--apic-ids', '0-7', '--json'], ['explore', '--topology', '2s:96c:2t', '--vendor', 'both'], ['explore', '--topology', '1s:8c:1t', '--guest', 'windows', '--schemes', 'xapic-physical,ext-dest-id']] },
  diff: { words: 1, templates: [['diff', 'specs/default.yaml', 'specs/dma/legacy.yaml'], ['diff', 'specs/vmm/compare-all.yaml', '--vmm', 'qemu-kvm,xen', '--json']] },
  groups: { words: 1, templates: [['groups', LSPCI_DELL], ['groups', LSPCI_T14, '--json'], ['groups', 'data/real-inputs/groups/ashtonian-kvm-aio-alderlake-iommu-groups.txt'], ['groups', LSPCI_T14, '--compare', LSPCI_T14]] },
  compare: { words: 1, templates: [['compare', 'specs/vmm/compare-all.yaml', '--runs', '2'], ['compare', 'specs/vmm/compare-posted.yaml', '--vmm', 'qemu-kvm,xen', '--runs', '1', '--json']] },
  report: { words: 1, templates: [['report', 'specs/default.yaml', '--format', 'md'], ['report', 'specs/dma/nested.yaml', '--json'], ['report', 'specs/default.yaml', '--diff', 'specs/dma/legacy.yaml', '--format', 'md']] },
  'import-dmar': { words: 2, templates: [['import', 'dmar', 'data/real-inputs/dmar/hp-z240-sff.dsl'], ['import', 'dmar', 'data/real-inputs/dmar/hp-z240-sff.bin', '--json'], ['import', 'dmar', 'data/real-inputs/dmar/supermicro-x10dai.dsl']] },
  'import-ivrs': { words: 2, templates: [['import', 'ivrs', 'data/real-inputs/ivrs/framework-laptop16.bin'], ['import', 'ivrs', 'data/real-inputs/ivrs/framework-laptop16.dsl', '--json']] },
  'import-debugfs': { words: 2, templates: [['import', 'debugfs', 'data/real-inputs/debugfs/intel-iommu-debugfs-kabylake-examples.txt'], ['import', 'debugfs', 'data/real-inputs/debugfs/intel-iommu-debugfs-kabylake-examples.txt', '--owners', '00:14.0=vm1', '--cpus', 'vm1=2-5', '--json']] },
  'decode-lspci': { words: 2, templates: [['decode', 'lspci', LSPCI_DELL], ['decode', 'lspci', LSPCI_T14, '--iommu', 'amd', '--json']] },
  'decode-msi': { words: 2, templates: [['decode', 'msi', 'fee00538', '0'], ['decode', 'msi', '0xfee0001c', '0x4021', '--json'], ['decode', 'msi', 'fee00000', '8000', '--iommu', 'amd']] },
  help: { words: 0, templates: [['--help'], ['--version'], ['run', '--help'], ['decode', '--help'], ['help', 'check']] },
};
const CLI_TOKENS = ['--json', '--walks', '--runs', '--steps', '--seed', '--workers', '--seconds', '--topology', '--apic-ids', '--vendor', '--guest', '--schemes', '--sweep', '--policy', '--vmm', '--iommu', '--compare', '--owners', '--cpus', '--format', '--diff', '--check', '--qemu', '--libvirt', '--progress', '--force-workers', '--help', '0', '-1', '1e9', '4294967296', '0xffffffff', '0x1_0000_0000', 'abc', '', '-', '--', '=', '1s:0c:1t', '999s:999c:999t', '0-0xffffffff', '5..1', 'intel', 'amd', 'both', 'auto', 'all', 'nope', 'md', 'html', 'json', 'qemu-kvm', 'xen,qemu-kvm,nope', 'kvm', 'matching', '00:14.0=vm1', '00:14.9=vm1', 'vm1=0-1000000', 'fee00538', 'ffffffffffffffff', '/dev/null', '/dev/zero', '/proc/self/fd/0', 'specs', 'specs/default.yaml', 'specs/amd/remapped.yaml', 'data/real-inputs/dmar/hp-z240-sff.bin', 'data/real-inputs/ivrs/framework-laptop16.dsl', LSPCI_DELL, 'run', 'dump', 'decode', 'check', 'explore', 'diff', 'groups', 'compare', 'msi', 'lspci', 'dmar', 'ivrs', 'debugfs', 'import'];
/** Options that write files: never generated, and removed from mutants (the harness must not write into the tree). */
const WRITING = new Set(['--out', '--scenario', '--svg', '-o']);
const REPORT_OUT = join(tmpdir(), `remapsim-fuzz-report-${process.pid}.out`);

/** `argv` with 1–3 tokens inserted, removed or replaced, never among its first `keep`. */
function mutateArgv(rng: Rng, template: readonly string[], keep: number): string[] {
  const argv = [...template];
  for (let n = 1 + rng.below(3); n > 0; n--) {
    const free = argv.length - keep;
    const op = rng.below(3);
    if (op === 0 || free <= 0) argv.splice(keep + rng.below(free + 1), 0, rng.pick(CLI_TOKENS));
    else if (op === 1) argv.splice(keep + rng.below(free), 1);
    else argv[keep + rng.below(free)] = rng.pick(CLI_TOKENS);
  }
  return argv;
}

/** What a mutant may run: no file-writing option, tiny searches in this thread, report output in the temporary directory. */
function confined(argv: readonly string[]): string[] {
  const safe = argv.filter((a) => !WRITING.has(a));
  // A fuzzed --runs would otherwise be a benchmark; later options override earlier ones.
  if (safe.includes('check')) safe.push('--no-write', '--workers', '1', '--seconds', '1', '--runs', '2');
  else if (safe.includes('compare')) safe.push('--workers', '1', '--runs', '2');
  if (safe.includes('report')) safe.push('--runs', '2', '--out', REPORT_OUT);
  if (safe.includes('explore') && safe.includes('--sweep')) safe.splice(safe.indexOf('--sweep'), 1);
  return safe;
}

/**
 * CLI arguments through `main` in-process: stdout is discarded and stderr captured. A
 * throw out of `main` is a crash (the bin prints a stack trace for it); exit 2 without a
 * `remapsim:`, commander `error:` or `Usage:` line, or a stack trace on stderr, is garbage
 * (exit 1 is `diff`'s "they differ" and `check`'s counterexample). `cli` mutates any
 * command's template anywhere (the command word too); `cli-NAME` keeps command NAME.
 */
function cliTarget(name: string, command: string | undefined): Target<readonly string[]> {
  const pool = command === undefined ? Object.values(CLI_COMMANDS).map((c) => ({ words: 0, templates: c.templates })) : [CLI_COMMANDS[command]!];
  return {
    name,
    ext: '.argv.json',
    mutant(rng) {
      const c = rng.pick(pool);
      return confined(mutateArgv(rng, rng.pick(c.templates), c.words));
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
    refused: (r) => (r as { code: number }).code === 2,
    garbage(r) {
      const { code, err } = r as { code: number; err: string };
      if (code === 2 && !/^remapsim: |^error: |^Usage: /m.test(err)) return `exit 2 without a remapsim: or commander error line: ${err.slice(0, 200)}`;
      if (/\n\s+at .*\(.*:\d+:\d+\)/.test(err)) return `stack trace on stderr: ${err.slice(0, 300)}`;
      return undefined;
    },
    serialize: (argv) => JSON.stringify(argv),
  };
}

/** The unmutated invocations of command `name` (a test runs each: every one must be valid). */
export function cliTemplates(name: string): readonly (readonly string[])[] {
  return CLI_COMMANDS[name]?.templates ?? [];
}

/** The command names of the `cli-NAME` targets. */
export const CLI_COMMAND_NAMES: readonly string[] = Object.keys(CLI_COMMANDS);
const CLI_TARGETS = Object.fromEntries([['cli', cliTarget('cli', undefined)], ...CLI_COMMAND_NAMES.map((c) => [`cli-${c}`, cliTarget(`cli-${c}`, c)])]);

export const TARGETS: Readonly<Record<string, Target<never>>> = {
  scenario: scenarioTarget,
  'dmar-binary': bytesTarget('dmar-binary', 'data/real-inputs/dmar', (b) => parseDmarBinary(b.bytes, b.file)),
  'dmar-dsl': textTarget('dmar-dsl', () => seedsText('data/real-inputs/dmar', '.dsl'), (t) => parseDmarText(t.text, t.file), { ext: '.dsl', garbage: (r) => outOfRangeBdf(r), options: { needsLine: true } }),
  'ivrs-binary': bytesTarget('ivrs-binary', 'data/real-inputs/ivrs', (b) => parseIvrsBinary(b.bytes, b.file)),
  'ivrs-dsl': textTarget('ivrs-dsl', () => seedsText('data/real-inputs/ivrs', '.dsl'), (t) => parseIvrsText(t.text, t.file), { ext: '.dsl', garbage: (r) => outOfRangeBdf(r), options: { needsLine: true } }),
  lspci: textTarget('lspci', () => seedsText('data/real-inputs/lspci', '.txt'), (t) => ({ msi: parseLspci(t.text, t.file), topology: parseLspciTopology(t.text, t.file) }), { garbage: (r) => outOfRangeBdf(r, new Set(), 0xffff_ffff) }),
  groups: textTarget('groups', () => [...seedsText('data/real-inputs/groups', '.txt'), ...seedsText('data/real-inputs/groups', '.md')], (t) => parseGroupListing(t.text, t.file), { garbage: (r) => outOfRangeBdf(r, new Set(), 0xffff_ffff) }),
  debugfs: textTarget('debugfs', () => seedsText('data/real-inputs/debugfs', '.txt'), (t) => parseDebugfs(t.text, t.file), { garbage: (r) => outOfRangeBdf(r) }),
  ...CLI_TARGETS,
  transitions: transitionsTarget,
} as unknown as Readonly<Record<string, Target<never>>>;
