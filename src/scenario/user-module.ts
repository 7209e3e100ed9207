/**
 * Loading a user-written module a scenario names by path (`platform.policy: ./my-policy.js`,
 * `platform.vmm: ./my-design.js`): resolved against the scenario file's directory, imported
 * with `import()`, and checked member by member against the interface it must implement, so
 * a wrong module is one exit-2 line naming the file, the field and the missing member.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError } from '../io/input-error.ts';

/** One member of an interface a user module's export must have. */
export interface MemberRule {
  readonly name: string;
  /** `function`, `string`, `boolean`, `vector` (an integer 0..255), `string[]`. */
  readonly type: 'function' | 'string' | 'boolean' | 'vector' | 'string[]';
  readonly optional?: true;
}

/** The absolute path of module `spec` written in scenario `scenarioFile` (relative specs resolve against its directory). */
export function resolveModulePath(spec: string, scenarioFile: string): string {
  return resolve(dirname(scenarioFile), spec);
}

function memberProblem(value: unknown, rule: MemberRule): string | undefined {
  if (value === undefined) return rule.optional ? undefined : 'is missing';
  switch (rule.type) {
    case 'function':
      return typeof value === 'function' ? undefined : `must be a function, got ${typeof value}`;
    case 'string':
      return typeof value === 'string' && value !== '' ? undefined : 'must be a non-empty string';
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `must be a boolean, got ${typeof value}`;
    case 'vector':
      return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 255 ? undefined : 'must be an integer vector 0..255';
    case 'string[]':
      return Array.isArray(value) && value.every((x) => typeof x === 'string') ? undefined : 'must be an array of strings';
  }
}

/**
 * Import the module `spec` names for scenario field `field` and return its export implementing
 * `what`: the default export, else the named export `named`.
 * @throws InputError (file = the scenario, field = `field`) when the module does not exist, fails
 *   to load (its own error's message is quoted), exports nothing usable, or lacks a member of `rules`.
 */
export async function importUserModule(spec: string, scenarioFile: string, field: string, what: string, named: string, rules: readonly MemberRule[]): Promise<unknown> {
  const path = resolveModulePath(spec, scenarioFile);
  const where = { file: scenarioFile, field };
  if (!existsSync(path) || !statSync(path).isFile()) throw new InputError(`${what} module '${spec}' not found (looked for ${path})`, where);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`${what} module '${spec}' failed to load: ${(e as Error).message.split('\n')[0]}`, where);
  }
  const exported = mod['default'] ?? mod[named];
  if (exported === null || typeof exported !== 'object') {
    throw new InputError(`${what} module '${spec}' exports no ${what} object (export default, or export const ${named})`, where);
  }
  const problems = rules.flatMap((r) => {
    const p = memberProblem((exported as Record<string, unknown>)[r.name], r);
    return p === undefined ? [] : [`${r.name} ${p}`];
  });
  if (problems.length > 0) throw new InputError(`${what} module '${spec}' does not implement the ${what} interface: ${problems.join('; ')}`, where);
  return exported;
}
