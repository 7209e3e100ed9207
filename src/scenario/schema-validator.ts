/**
 * The validator of specs/scenario.schema.json, compiled once.
 *
 * Compiling the schema with Ajv took about half of `npm start` (≈ 0.35 s of 0.8 s: the
 * schema is 89 KB of nested `$ref`s; BENCHMARKS.md, issue 15 goal 6). So the build
 * (scripts/build.mjs) writes the compiled validator as standalone JavaScript (Ajv's
 * `standaloneCode`) beside the compiled module, `dist/scenario/scenario-schema.validate.cjs`,
 * and {@link scenarioValidator} loads that file when it is there. From the sources (tsx,
 * vitest) there is no such file and the schema is compiled on first use, with the same
 * options: test/scenario/schema-validator.test.ts checks that both give the same verdict and
 * the same errors on every scenario the project ships and on broken ones.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type AjvModule from 'ajv';
import type { ErrorObject } from 'ajv';

/** The scenario schema file. */
const SCENARIO_SCHEMA_PATH = fileURLToPath(new URL('../../specs/scenario.schema.json', import.meta.url));

/** Name of the standalone validator the build writes next to this module. */
export const STANDALONE_VALIDATOR_FILE = 'scenario-schema.validate.cjs';

/**
 * Ajv options of the scenario validator: the first error only; Ajv's strict mode off (the schema
 * carries `x-` annotations); `$ref`s not inlined, so each definition is its own function. Inlined,
 * the standalone validator was one 620 KB function that V8 compiled whole at the first validation
 * (≈ 0.1 s of every start). An error's schemaPath is then relative to its definition
 * (`#/pattern`), so errors are told apart by what they say ({@link schemaDefinition}), not by
 * where in the schema they arose.
 */
const AJV_OPTIONS = { allErrors: false, strict: false, inlineRefs: false } as const;

/** A compiled validator: true when `data` is valid, else false with `errors` set. */
export interface ScenarioValidateFunction {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

type AjvCtor = typeof AjvModule.default;
const requireHere = createRequire(import.meta.url);

/** Ajv itself, loaded only to compile (the standalone validator needs none of it but its runtime helpers). */
function ajvCtor(): AjvCtor {
  const m = requireHere('ajv') as { default?: AjvCtor } & AjvCtor;
  return m.default ?? m;
}

function readSchema(): object {
  return JSON.parse(readFileSync(SCENARIO_SCHEMA_PATH, 'utf8')) as object;
}

/** Compile the schema now (the path from the sources, and the reference the test compares with). */
export function compileScenarioValidator(): ScenarioValidateFunction {
  return new (ajvCtor())(AJV_OPTIONS).compile(readSchema());
}

/**
 * The scenario validator as standalone CommonJS source (Ajv `standaloneCode`): it needs only
 * Ajv's small runtime helpers (`require("ajv/dist/runtime/…")`) at run time. Written into
 * dist/ by the build.
 */
export async function standaloneScenarioValidatorSource(): Promise<string> {
  const standalone = (await import('ajv/dist/standalone/index.js')) as { default?: unknown };
  const standaloneCode = (standalone.default ?? standalone) as (ajv: InstanceType<AjvCtor>, v: unknown) => string;
  const ajv = new (ajvCtor())({ ...AJV_OPTIONS, code: { source: true, esm: false } });
  return standaloneCode(ajv, ajv.compile(readSchema()));
}

let definitions: Record<string, { pattern?: string } | undefined> | undefined;

/**
 * The schema's definition `name` (`definitions.bdf`, …), read on first use: for telling errors
 * apart (an error's `params.pattern` against a definition's pattern), never on the valid path.
 */
export function schemaDefinition(name: string): { readonly pattern?: string } | undefined {
  definitions ??= (readSchema() as { definitions?: Record<string, { pattern?: string }> }).definitions ?? {};
  return Object.hasOwn(definitions, name) ? definitions[name] : undefined;
}

let validator: ScenarioValidateFunction | undefined;

/**
 * The scenario validator: the build's standalone one when it sits beside this module (the
 * compiled package), else the schema compiled now. Loaded or compiled once per process.
 */
export function scenarioValidator(): ScenarioValidateFunction {
  if (validator !== undefined) return validator;
  const standalone = fileURLToPath(new URL(`./${STANDALONE_VALIDATOR_FILE}`, import.meta.url));
  if (existsSync(standalone)) {
    const loaded = requireHere(standalone) as ScenarioValidateFunction | { default: ScenarioValidateFunction };
    validator = typeof loaded === 'function' ? loaded : loaded.default;
  } else {
    validator = compileScenarioValidator();
  }
  return validator;
}
