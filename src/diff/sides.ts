/**
 * The two designs `remapsim diff` compares: two scenario files, or one scenario under two
 * `platform.vmm` and/or `platform.policy` choices. `--vmm X,Y` / `--policy P,Q` give side A's
 * and side B's; a single name applies to both sides. Each side is parsed, the choice written
 * into its `platform` (as `remapsim compare` does, src/cli/compare.ts), its user modules
 * loaded (src/scenario/load-modules.ts), compiled and run (src/scenario/run.ts).
 */
import { readInputText } from '../io/read-input.ts';
import { MAX_SCENARIO_BYTES } from '../io/limits.ts';
import { InputError } from '../io/input-error.ts';
import { parseScenarioText, type ParsedScenario } from '../scenario/parse.ts';
import { compileScenario } from '../scenario/compile.ts';
import { runScenario, type RunResult } from '../scenario/run.ts';
import { loadScenarioModules } from '../scenario/load-modules.ts';
import { POLICIES, isModulePath } from '../policy/index.ts';
import { VMM_DESIGNS } from '../vmm/index.ts';
import type * as S from '../scenario/types.ts';

/** The choices of `remapsim diff` (its command-line options). */
export interface DiffChoices {
  /** `X` (both sides) or `X,Y` (A, B): VMM design names (src/vmm/designs) or module paths. */
  readonly vmm?: string;
  /** `P` (both sides) or `P,Q` (A, B): hypervisor policy names (src/policy) or module paths. */
  readonly policy?: string;
}

/** One side: its label (file and choices) and its run. */
export interface DiffSide {
  readonly label: string;
  readonly file: string;
  readonly data: S.Scenario;
  readonly run: RunResult;
}

/** `X,Y` → [X, Y]; `X` → [X, X]. @throws InputError for an empty list or more than two names. */
export function pairOf(list: string | undefined, field: string): [string, string] | undefined {
  if (list === undefined) return undefined;
  const names = list.split(',').map((s) => s.trim());
  if (names.length > 2 || names.some((n) => n === '')) throw new InputError(`give one name (both sides) or two names A,B, got ${JSON.stringify(list)}`, { field });
  return [names[0]!, names[names.length - 1]!];
}

function checkName(name: string, known: Readonly<Record<string, unknown>>, what: string, field: string): void {
  if (!isModulePath(name) && known[name] === undefined) throw new InputError(`unknown ${what} '${name}' (known: ${Object.keys(known).join(', ')})`, { field });
}

async function sideOf(file: string, vmm: string | undefined, policy: string | undefined): Promise<DiffSide> {
  const text = readInputText(file, { maxBytes: MAX_SCENARIO_BYTES, what: 'scenario' });
  const parsed = parseScenarioText(text, file);
  const data = parsed.data as S.Scenario;
  const platform = { ...data.platform, ...(vmm === undefined ? {} : { vmm }), ...(policy === undefined ? {} : { policy }) };
  const variant: ParsedScenario = { ...parsed, data: { ...data, platform } };
  await loadScenarioModules(variant);
  const choices = [vmm === undefined ? '' : `vmm=${vmm}`, policy === undefined ? '' : `policy=${policy}`].filter((c) => c !== '');
  return { label: choices.length === 0 ? file : `${file} [${choices.join(', ')}]`, file, data: variant.data as S.Scenario, run: runScenario(compileScenario(variant)) };
}

/**
 * Run both sides.
 * @throws InputError for an unreadable or invalid scenario, an unknown design or policy, or a
 * single scenario without two choices to compare.
 */
export async function diffSides(files: readonly string[], o: DiffChoices = {}): Promise<[DiffSide, DiffSide]> {
  if (files.length < 1 || files.length > 2) throw new InputError('give two scenarios, or one scenario with --vmm A,B or --policy A,B', { field: 'diff' });
  const vmm = pairOf(o.vmm, '--vmm');
  const policy = pairOf(o.policy, '--policy');
  for (const v of vmm ?? []) checkName(v, VMM_DESIGNS, 'VMM design', '--vmm');
  for (const p of policy ?? []) checkName(p, POLICIES, 'hypervisor policy', '--policy');
  const fileA = files[0]!;
  const fileB = files[1] ?? fileA;
  if (files.length === 1 && (vmm === undefined || vmm[0] === vmm[1]) && (policy === undefined || policy[0] === policy[1])) {
    throw new InputError('one scenario: name two designs to compare with --vmm A,B or --policy A,B (or give a second scenario)', { field: 'diff' });
  }
  return [await sideOf(fileA, vmm?.[0], policy?.[0]), await sideOf(fileB, vmm?.[1], policy?.[1])];
}
