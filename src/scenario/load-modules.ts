/**
 * Load the user-written modules a scenario names (`platform.policy` / `platform.vmm` given as a
 * path), before it is compiled: loading is async, compile and run are sync. Called by the CLI
 * (run, dump, check, report) and by each `check` worker thread (src/checker/check-worker.ts).
 */
import { isModulePath } from '../policy/index.ts';
import type { ParsedScenario } from './parse.ts';

/**
 * Load and register every module path among `parsed`'s platform.policy and platform.vmm; built-in names need nothing.
 * @throws InputError as src/policy/load.ts loadUserPolicy / src/vmm/load.ts loadUserVmmDesign.
 */
export async function loadScenarioModules(parsed: ParsedScenario): Promise<void> {
  const platform = (parsed.data as { platform?: { policy?: unknown; vmm?: unknown } }).platform;
  const policy = platform?.policy;
  const vmm = platform?.vmm;
  if (typeof policy === 'string' && isModulePath(policy)) await (await import('../policy/load.ts')).loadUserPolicy(policy, parsed.file);
  if (typeof vmm === 'string' && isModulePath(vmm)) await (await import('../vmm/load.ts')).loadUserVmmDesign(vmm, parsed.file);
}

/**
 * {@link loadScenarioModules} for scenario text `text` read from `file` (parsed and schema-checked here).
 * @throws InputError for an invalid scenario, or as loadScenarioModules.
 */
export async function loadScenarioModulesOf(text: string, file: string): Promise<void> {
  const { parseScenarioText } = await import('./parse.ts');
  await loadScenarioModules(parseScenarioText(text, file));
}
