/**
 * The `remapsim` command. Exit status: 0 success, 1 a property or an expected outcome
 * failed, 2 bad input (one line on stderr naming file, line and field; no stack trace).
 */
import { Command, CommanderError } from 'commander';
import { InputError } from '../io/input-error.ts';
import { parseScenarioFile } from '../scenario/parse.ts';
import { compileScenario } from '../scenario/compile.ts';
import { runScenario } from '../scenario/run.ts';
import { formatJsonTrace, formatTrace } from '../scenario/trace.ts';
import { formatIrtDump } from '../scenario/dump.ts';
import { importDmar } from './import-dmar.ts';
import { decodeLspci, decodeMsiPair } from './decode.ts';
import { registerCheck } from './check.ts';
import { registerExplore } from './explore.ts';
import { registerGroups } from './groups.ts';

export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

function loadAndRun(file: string) {
  return runScenario(compileScenario(parseScenarioFile(file)));
}

function buildProgram(out: (s: string) => void, setCode: (c: number) => void): Command {
  const program = new Command('remapsim')
    .description('Bit-exact simulator of x86 MSI and Intel VT-d interrupt remapping')
    .exitOverride()
    .configureOutput({
      writeOut: out,
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`remapsim: ${s.replace(/^error: /, '')}`),
    })
    .showHelpAfterError(false);

  program
    .command('run')
    .description('run a scenario and print its trace, ending with the P1 verdict')
    .argument('<scenario>', 'scenario YAML file')
    .option('--json', 'JSON lines, one object per event')
    .option('--walks', 'print every structure each DMA translation walk reads (level, table, entry)')
    .action((file: string, o: { json?: boolean; walks?: boolean }) => {
      const r = loadAndRun(file);
      out(o.json ? formatJsonTrace(r) : formatTrace(r, { walks: o.walks ?? false }));
      setCode(r.ok ? EXIT.ok : EXIT.failed);
    });

  program
    .command('dump')
    .description('run a scenario and print every unit\'s IRT (Linux debugfs ir_translation_struct style)')
    .argument('<scenario>', 'scenario YAML file')
    .action((file: string) => {
      const r = loadAndRun(file);
      out(formatIrtDump(r.final));
      setCode(r.ok ? EXIT.ok : EXIT.failed);
    });

  const imp = program.command('import').description('import real machine data');
  imp
    .command('dmar')
    .description('parse an ACPI DMAR table (.bin as read from /sys/firmware/acpi/tables/DMAR, or iasl .dsl)')
    .argument('<file>')
    .option('--json', 'print the parsed table as JSON')
    .option('--scenario <out>', 'write a scenario skeleton for this machine')
    .action((file: string, o: { json?: boolean; scenario?: string }) => out(importDmar(file, o)));

  const dec = program.command('decode').description('decode MSI address/data pairs');
  dec
    .command('lspci')
    .description('decode every MSI Address/Data pair in an lspci -vvv dump')
    .argument('<file>')
    .option('--json', 'JSON lines')
    .action((file: string, o: { json?: boolean }) => out(decodeLspci(file, o.json ?? false)));
  dec
    .command('msi')
    .description('decode one MSI address/data pair (hex)')
    .argument('<address>')
    .argument('<data>')
    .option('--json', 'JSON')
    .action((address: string, data: string, o: { json?: boolean }) => out(decodeMsiPair(address, data, o.json ?? false)));

  registerExplore(program, out, setCode);

  registerCheck(program, out, setCode);

  registerGroups(program, out, setCode);

  return program;
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
