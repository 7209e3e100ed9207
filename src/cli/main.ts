/**
 * The `remapsim` command. Exit status: 0 success, 1 a property or an expected outcome
 * failed, 2 bad input (one line on stderr naming file, line and field; no stack trace).
 *
 * Every command is declared here (arguments, options, help text) and loads its
 * implementation only when it runs (`await import(…)` in its action): under tsx, loading
 * every module of every command cost most of a `remapsim --help` (BENCHMARKS.md, "CLI
 * start-up"). So what is imported at the top of this file is what every invocation
 * needs: commander, InputError (to print bad input) and the scheme ids the `explore`
 * help lists (a module without imports).
 */
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { InputError } from '../io/input-error.ts';
import { ALL_SCHEME_IDS } from '../explorer/schemes.ts';
import type { CheckCommandOptions } from './check.ts';
import type { CompareOptions } from './compare.ts';
import type { runExplore as RunExplore } from './explore.ts';

export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

async function loadAndRun(file: string) {
  const { parseScenarioFile } = await import('../scenario/parse.ts');
  const { compileScenario } = await import('../scenario/compile.ts');
  const { runScenario } = await import('../scenario/run.ts');
  const parsed = parseScenarioFile(file);
  // A user-written platform.policy / platform.vmm module is imported (async) before the sync compile.
  await (await import('../scenario/load-modules.ts')).loadScenarioModules(parsed);
  return runScenario(compileScenario(parsed));
}

function positiveInt(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < (name === 'seed' ? 0 : 1) || n > 0xffff_ffff) throw new InvalidArgumentError(`${name} must be ${name === 'seed' ? 'a 32-bit unsigned' : 'a positive'} integer`);
    return n;
  };
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

/**
 * Add `explore` to `program`: which interrupt addressing schemes reach which vCPUs of a
 * VM (src/cli/explore.ts `runExplore`, loaded when the command runs).
 */
function registerExplore(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  program
    .command('explore')
    .description('which interrupt addressing schemes reach which vCPUs (>255 vCPUs), verified by simulation, with their cost')
    .option('--topology <shape>', 'VM CPU topology, e.g. 2s:64c:2t or 2s:2d:32c:2t (sockets, dies, cores, threads)')
    .option('--apic-ids <list>', 'explicit vCPU APIC IDs, e.g. 0-127,256-383')
    .option('--guest <name>', 'guest OS for the support column (see data/guest-support.yaml)', 'linux')
    .option('--sweep <A..B|N>', 'also sweep VM sizes A..B vCPUs, or 1..N (the first n vCPUs of the shape)')
    .option('--svg <file>', 'draw reachable vCPUs and cost per interrupt against VM size (implies --sweep 1..4096)')
    .option('--schemes <ids>', `comma-separated subset of: ${ALL_SCHEME_IDS.join(', ')}`)
    .option('--vendor <vendor>', 'whose schemes to report without --schemes: intel, amd (AMD-Vi hosts and vIOMMUs) or both', 'intel')
    .option('--json', 'print the result as JSON')
    .option('--qemu <cmdline>', 'a QEMU command line: explore the schemes its vIOMMU settings give (intel-iommu intremap/eim/dma-translation, kernel-irqchip, kvm-msi-ext-dest-id, amd-iommu xtsup)')
    .option('--libvirt <file>', 'a libvirt domain XML file: the same, from <iommu>, <ioapic driver>, <qemu:commandline>')
    .action(async (o: Parameters<typeof RunExplore>[0]) => {
      const { runExplore } = await import('./explore.ts');
      out(runExplore(o));
      setCode(0);
    });
}

/**
 * Add `check` to `program` (src/cli/check.ts `checkCommand`, loaded when the command
 * runs). `out` gets the report; `setCode` the exit status. The default worker count in
 * the help is src/checker/pool.ts `defaultThreads()` (every core), computed here without
 * loading the pool (and piscina); test/cli/lazy-commands.test.ts holds the two equal.
 */
function registerCheck(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  program
    .command('check')
    .description("search for a counterexample to the scenario's properties under its threat model (its check: section)")
    .argument('<scenario>', 'scenario YAML file')
    .option('--out <file>', 'where to write the counterexample scenario (default NAME.counterexample.yaml in the current directory)')
    .option('--no-write', 'write no counterexample file')
    .option('--progress', 'progress lines on stderr even when it is not a terminal (at most one a second)')
    .option('--runs <n>', 'random runs (overrides check.budget.runs)', positiveInt('runs'))
    .option('--steps <n>', 'most adversary steps per run (overrides check.budget.steps)', positiveInt('steps'))
    .option('--seconds <s>', 'time limit (overrides check.budget.seconds)', positiveNumber)
    .option('--seed <n>', 'search seed (overrides check.budget.seed)', positiveInt('seed'))
    .option('--workers <n>', `worker threads (default: every core, ${availableParallelism()} here; 1 = this thread), capped at the cores unless --force-workers`, positiveInt('workers'))
    .option('--force-workers', 'allow --workers above the number of cores (at most 64)')
    .option('--json', 'print the result as one JSON object (specs/output.schema.json)')
    .action(async (file: string, o: CheckCommandOptions) => {
      const { checkCommand } = await import('./check.ts');
      const r = await checkCommand(file, o);
      out(r.report);
      setCode(r.code);
    });
}

/** Add `groups` to `program` (src/cli/groups.ts `runGroups`, loaded when the command runs). */
function registerGroups(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  program
    .command('groups')
    .description('compute the IOMMU groups of a scenario topology or an lspci -vvv dump (or print a machine group listing), and compare with the machine')
    .argument('<file>', 'scenario (.yaml), lspci -vvv/-vvnn dump, or IOMMU group listing')
    .option('--json', 'JSON lines: one object per group, then the machine comparison')
    .option('--compare <listing>', "compare with a machine's IOMMU group listing (or another dump's IOMMU group lines)")
    .action(async (file: string, o: { json?: boolean; compare?: string }) => {
      const { runGroups, isScenarioFile } = await import('./groups.ts');
      const reader = isScenarioFile(file) ? (await import('../scenario/fabric.ts')).fabricOfScenario : undefined;
      const r = runGroups(file, o, reader);
      out(r.text);
      setCode(r.ok ? 0 : 1);
    });
}

/**
 * Add `compare` to `program`: one scenario under several VMM designs, side by side
 * (src/cli/compare.ts `compareCommand`, loaded when the command runs; docs/vmm.md).
 */
function registerCompare(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  program
    .command('compare')
    .description('run a scenario under several VMM designs and compare their property verdicts and costs side by side')
    .argument('<scenario>', 'scenario YAML file')
    .option('--vmm <designs>', 'comma-separated VMM designs, or `all` (every correct design, the hypercall ones too); default: every correct design whose guest programs a trapped MSI-X table')
    .option('--policy <name>', "hypervisor policy for every design, or 'matching' (kvm for qemu-kvm*, xen for xen*); default: the scenario's")
    .option('--runs <n>', 'random runs of the check: section (overrides check.budget.runs)', positiveInt('runs'))
    .option('--workers <n>', 'worker threads for the check (default 1: this thread), capped at the cores unless --force-workers', positiveInt('workers'))
    .option('--force-workers', 'allow --workers above the number of cores (at most 64)')
    .option('--json', 'print the comparison as JSON')
    .action(async (file: string, o: CompareOptions) => {
      const { compareCommand } = await import('./compare.ts');
      const r = await compareCommand(file, o);
      out(r.report);
      setCode(r.code);
    });
}

/**
 * Add `report` to `program`: the review report of a scenario as one self-contained HTML page
 * or Markdown (src/cli/report.ts `reportCommand`, loaded when the command runs; docs/report.md).
 */
function registerReport(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  program
    .command('report')
    .description('write a review report of a scenario: platform, groups, grants, decoded IRTEs and PI descriptors, request paths (SVG), verdicts, check, costs')
    .argument('<scenario>', 'scenario YAML file')
    .option('--check', "also search for a counterexample (the scenario's check: section) and report it")
    .option('--out <file>', 'output file (default: the scenario name + .html, .md or .json in the current directory)')
    .option('--format <format>', 'html (one self-contained page), md (Markdown) or json (the same sections as data)')
    .option('--json', 'the same as --format json (default file: the scenario name + .json)')
    .option('--runs <n>', 'with --check: random runs (overrides check.budget.runs)', positiveInt('runs'))
    .option('--seed <n>', 'with --check: search seed (overrides check.budget.seed)', positiveInt('seed'))
    .option('--diff <scenario>', 'add a Diff section: this scenario against a second one (see remapsim diff)')
    .option('--vmm <designs>', 'with a Diff section: VMM design for both sides, or A,B')
    .option('--policy <policies>', 'with a Diff section: hypervisor policy for both sides, or A,B')
    .action(async (file: string, o: import('./report.ts').ReportOptions) => {
      const { reportCommand } = await import('./report.ts');
      const r = await reportCommand(file, o);
      out(r.message);
      setCode(r.code);
    });
}

/**
 * Add `diff` to `program`: two designs side by side, only what differs (src/cli/diff.ts
 * `diffCommand`, loaded when the command runs; docs/diff.md). Exit 0 equivalent, 1 different.
 */
function registerDiff(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  program
    .command('diff')
    .description('compare two designs (two scenarios, or one under two --vmm / --policy choices): IRTEs, descriptors, grants, verdicts, expectations, costs')
    .argument('<a>', 'scenario YAML file (side A, and side B when B is not given)')
    .argument('[b]', 'second scenario YAML file (side B)')
    .option('--vmm <designs>', 'VMM design for both sides, or A,B: one per side')
    .option('--policy <policies>', 'hypervisor policy for both sides, or A,B: one per side')
    .option('--json', 'print the differences as JSON')
    .action(async (a: string, b: string | undefined, o: import('./diff.ts').DiffOptions) => {
      const { diffCommand } = await import('./diff.ts');
      const r = await diffCommand(b === undefined ? [a] : [a, b], o);
      out(r.report);
      setCode(r.code);
    });
}

function buildProgram(out: (s: string) => void, setCode: (c: number) => void): Command {
  const program = new Command('remapsim')
    .description('Bit-exact simulator of x86 MSI, Intel VT-d and AMD-Vi interrupt remapping, posted interrupts and IOMMU translation')
    .exitOverride()
    .configureOutput({
      writeOut: out,
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`remapsim: ${s.replace(/^error: /, '')}`),
    })
    .showHelpAfterError(false)
    .version(packageVersion(), '-V, --version', 'print the remapsim version (package.json)');

  program
    .command('run')
    .description('run a scenario and print its trace, ending with the verdicts of the properties that apply: P1 interrupt isolation always, P3 with vCPUs, P2 and P4 with DMA, P6 when a request was rejected, P7 with a VMM design (P5, determinism, is what `check` replays)')
    .argument('<scenario>', 'scenario YAML file')
    .option('--json', 'JSON lines, one object per event')
    .option('--walks', 'print every structure each DMA translation walk reads (level, table, entry)')
    .action(async (file: string, o: { json?: boolean; walks?: boolean }) => {
      const r = await loadAndRun(file);
      const { formatJsonTrace, formatTrace } = await import('../scenario/trace.ts');
      out(o.json ? formatJsonTrace(r) : formatTrace(r, { walks: o.walks ?? false }));
      setCode(r.ok ? EXIT.ok : EXIT.failed);
    });

  program
    .command('dump')
    .description('run a scenario and print every unit\'s IRT (Linux debugfs ir_translation_struct style)')
    .argument('<scenario>', 'scenario YAML file')
    .option('--json', 'JSON lines: one object per unit, present IRTE and posted-interrupt descriptor (specs/output.schema.json)')
    .action(async (file: string, o: { json?: boolean }) => {
      const r = await loadAndRun(file);
      if (o.json === true) out((await import('./dump-json.ts')).formatDumpJson(r.final));
      else out((await import('../scenario/dump.ts')).formatIrtDump(r.final));
      setCode(r.ok ? EXIT.ok : EXIT.failed);
    });

  // `import FILE` picks the importer by the table's signature; `import dmar|ivrs FILE` names it.
  // The program parses options anywhere, so `import dmar F --json` can leave `--json` on
  // `import`: the subcommands read their options merged with the parent's (importOpts).
  const imp = program
    .command('import')
    .description('import real machine data: `import FILE` chooses dmar or ivrs by the table signature')
    .argument('[file]', 'ACPI DMAR or IVRS table (.bin or iasl .dsl)')
    .option('--json', 'print the parsed table as JSON')
    .option('--scenario <out>', 'write a scenario skeleton for this machine')
    .action(async (file: string | undefined, o: { json?: boolean; scenario?: string }) => {
      if (file === undefined) throw new InputError('missing FILE: remapsim import [dmar|ivrs] FILE', { field: 'import' });
      const { sniffImporter, importIvrs } = await import('./import-ivrs.ts');
      if (sniffImporter(file) === 'ivrs') out(importIvrs(file, o));
      else out((await import('./import-dmar.ts')).importDmar(file, o));
    });
  const importOpts = (o: { json?: boolean; scenario?: string }): { json?: boolean; scenario?: string } => ({ ...imp.opts<{ json?: boolean; scenario?: string }>(), ...o });
  imp
    .command('dmar')
    .description('parse an ACPI DMAR table (.bin as read from /sys/firmware/acpi/tables/DMAR, or iasl .dsl)')
    .argument('<file>')
    .option('--json', 'print the parsed table as JSON')
    .option('--scenario <out>', 'write a scenario skeleton for this machine')
    .action(async (file: string, o: { json?: boolean; scenario?: string }) => {
      const { importDmar } = await import('./import-dmar.ts');
      out(importDmar(file, importOpts(o)));
    });
  imp
    .command('ivrs')
    .description('parse an AMD ACPI IVRS table (.bin as read from /sys/firmware/acpi/tables/IVRS, or iasl .dsl)')
    .argument('<file>')
    .option('--json', 'print the parsed table as JSON')
    .option('--scenario <out>', 'write a scenario skeleton for this machine')
    .action(async (file: string, o: { json?: boolean; scenario?: string }) => {
      const { importIvrs } = await import('./import-ivrs.ts');
      out(importIvrs(file, importOpts(o)));
    });
  imp
    .command('debugfs')
    .description("read Linux intel-iommu debugfs dumps (ir_translation_struct, dmar_translation_struct, iommu_regset) and print the machine's tables, or write a scenario whose IRT is the machine's")
    .argument('<file>')
    .option('--json', 'print the parsed dump as JSON')
    .option('--scenario <out>', "write a scenario with the machine's IRTEs (raw) and grants for the owners; `remapsim run` it to check P1")
    .option('--owners <list>', 'the domain owning each device, e.g. 00:14.0=vm1,00:02.0=host (default: every device is the host\'s)')
    .option('--cpus <list>', "the APIC IDs of each domain, e.g. vm1=2-5,host=0+1 (default: the host has every CPU not given to another)")
    .action(async (file: string, o: import('./import-debugfs.ts').ImportDebugfsOptions) => {
      const { importDebugfs } = await import('./import-debugfs.ts');
      out(importDebugfs(file, { ...importOpts(o), ...o }));
    });

  const dec = program.command('decode').description('decode MSI address/data pairs');
  const iommuVendor = (v: string): 'amd' | 'intel' | 'auto' => {
    if (v === 'amd' || v === 'intel' || v === 'auto') return v;
    throw new InvalidArgumentError('must be amd, intel or auto');
  };
  dec
    .command('lspci')
    .description('decode every MSI Address/Data pair in an lspci -vvv dump')
    .argument('<file>')
    .option('--json', 'JSON lines')
    .option('--iommu <vendor>', 'amd, intel or auto: auto picks amd when the dump shows an AMD IOMMU function (class 0806, vendor 1022), intel otherwise, and says why', iommuVendor, 'auto')
    .action(async (file: string, o: { json?: boolean; iommu: 'amd' | 'intel' | 'auto' }) => {
      const { decodeLspci } = await import('./decode.ts');
      out(decodeLspci(file, o.json ?? false, o.iommu));
    });
  dec
    .command('msi')
    .description('decode one MSI address/data pair (hex)')
    .argument('<address>')
    .argument('<data>')
    .option('--json', 'JSON')
    .option('--iommu <vendor>', 'amd, intel or auto (auto = intel: one pair gives nothing to detect)', iommuVendor, 'auto')
    .action(async (address: string, data: string, o: { json?: boolean; iommu: 'amd' | 'intel' | 'auto' }) => {
      const { decodeMsiPair } = await import('./decode.ts');
      out(decodeMsiPair(address, data, o.json ?? false, o.iommu));
    });

  registerExplore(program, out, setCode);

  registerCheck(program, out, setCode);

  registerGroups(program, out, setCode);

  registerCompare(program, out, setCode);

  registerReport(program, out, setCode);

  registerDiff(program, out, setCode);

  usageAfterErrors(program, 'remapsim');
  return program;
}

/** The package's version, read from its package.json (two levels above src/cli/ and dist/cli/). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * After a command-line error (a missing argument, an unknown option, a bad option value) every
 * command prints its one-line error and then its usage line, e.g. `usage: remapsim dump
 * [options] <scenario>`, so `remapsim dump` alone says what it needs (exit 2).
 */
function usageAfterErrors(cmd: Command, path: string): void {
  cmd.showHelpAfterError(`usage: ${path} ${cmd.usage()} (${path} --help for more)`);
  for (const sub of cmd.commands) usageAfterErrors(sub, `${path} ${sub.name()}`);
}

/** Run the CLI with `argv` (without node and script). Returns the exit status. */
export async function main(argv: readonly string[], out: (s: string) => void = (s) => void process.stdout.write(s)): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(out, (c) => (code = c));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof InputError) {
      process.stderr.write(`remapsim: ${e.format()}\n`);
      return EXIT.badInput;
    }
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    throw e;
  }
}
