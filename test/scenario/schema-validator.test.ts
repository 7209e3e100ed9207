/**
 * The scenario schema's standalone validator (what the build writes into dist/,
 * src/scenario/schema-validator.ts) against the schema compiled at run time (what the sources
 * use): the same verdict and the same first error on every scenario the project ships and on
 * broken copies of them. The standalone source is evaluated in memory (nothing is written).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { compileScenarioValidator, scenarioValidator, standaloneScenarioValidatorSource, STANDALONE_VALIDATOR_FILE, type ScenarioValidateFunction } from '../../src/scenario/schema-validator.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : []));
}

function loadStandalone(source: string): ScenarioValidateFunction {
  const module = { exports: {} as unknown };
  // The generated code is CommonJS that requires Ajv's runtime helpers: resolved from this project.
  new Function('module', 'exports', 'require', source)(module, module.exports, createRequire(import.meta.url));
  return module.exports as ScenarioValidateFunction;
}

/** Broken copies of a scenario: a required field gone, an unknown one, wrong types, a bad BDF. */
function broken(doc: Record<string, unknown>): unknown[] {
  const steps = Array.isArray(doc['steps']) ? (doc['steps'] as unknown[]) : [];
  return [
    { ...doc, name: undefined },
    { ...doc, bogus: 1 },
    { ...doc, steps: 'none' },
    { ...doc, steps: [...steps, { 'no-such-step': {} }] },
    { ...doc, steps: [...steps, { msi: { device: '00:1f.8', address: '0xfee00000', data: 0 } }] },
    { ...doc, steps: [...steps, { msi: { device: '00:02.0', address: 'fee00000', data: -1 } }] },
    { ...doc, platform: 7 },
    JSON.parse(JSON.stringify(doc)) as unknown,
  ].map((d) => JSON.parse(JSON.stringify(d ?? null)) as unknown);
}

describe('scenario schema validator', () => {
  it('the standalone validator and the run-time compiled one agree on every shipped scenario and broken copies', async () => {
    const standalone = loadStandalone(await standaloneScenarioValidatorSource());
    const compiled = compileScenarioValidator();
    const files = [...yamlFiles(join(ROOT, 'specs')), ...yamlFiles(join(ROOT, 'examples'))];
    expect(files.length).toBeGreaterThan(50);
    let valid = 0;
    let invalid = 0;
    for (const f of files) {
      const doc = parse(readFileSync(f, 'utf8')) as unknown;
      const cases = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? [doc, ...broken(doc as Record<string, unknown>)] : [doc];
      for (const data of cases) {
        const a = standalone(data);
        const b = compiled(data);
        expect(a, f).toBe(b);
        expect(standalone.errors ?? null, f).toEqual(compiled.errors ?? null);
        if (a) valid++;
        else invalid++;
      }
    }
    // Both outcomes were exercised: the shipped scenarios pass, their broken copies fail.
    expect(valid).toBeGreaterThan(50);
    expect(invalid).toBeGreaterThan(6 * 50);
  });

  it('from the sources there is no standalone file, so the schema is compiled, once', () => {
    expect(existsSync(join(ROOT, 'src', 'scenario', STANDALONE_VALIDATOR_FILE))).toBe(false);
    const v = scenarioValidator();
    expect(scenarioValidator()).toBe(v);
    expect(v({})).toBe(false);
    expect(v.errors?.[0]?.keyword).toBe('required');
  });
});
