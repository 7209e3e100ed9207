// Issue 17: YAML aliases and nesting are bounded and reported as input errors with a line —
// never a ReferenceError, "Maximum call stack size exceeded" or a stack trace.
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { InputError } from '../../src/io/input-error.ts';
import { MAX_YAML_ALIASES, MAX_YAML_DEPTH, MAX_YAML_INDENT, prescanYamlNesting } from '../../src/scenario/yaml-limits.ts';

const HEAD = ['name: hostile', 'platform:', '  cpus: { count: 1 }', 'domains:', '  - { name: host, kind: host, cpus: [0] }'];

const error = (text: string): InputError => {
  try {
    parseScenarioText(text, 'h.yaml');
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('accepted');
};

describe('aliases', () => {
  it('200 scalar aliases in a valid file are a correct result (the limit is the yaml package maxAliasCount, set to 1000)', () => {
    const text = [...HEAD, 'steps:', '  - note: &n hello', '    write-memory: { address: 0x1000, bytes: 8, value: 1 }', ...Array.from({ length: 200 }, () => '  - { note: *n, write-memory: { address: 0x1000, bytes: 8, value: 1 } }'), ''].join('\n');
    const p = parseScenarioText(text, 'h.yaml');
    expect((p.data as { steps: unknown[] }).steps).toHaveLength(201);
  });

  it('an alias bomb stops at the alias limit with an input error naming a line', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
    const e = error([...lines, ...HEAD, 'steps: []', ''].join('\n'));
    expect(e.format()).toBe(`h.yaml:2: (YAML alias): aliases expand to more than ${MAX_YAML_ALIASES} nodes (the yaml package's maxAliasCount; docs/limits.md)`);
  });

  it('an alias to no anchor is an input error naming its line', () => {
    const e = error([...HEAD, 'steps:', '  - note: *missing', ''].join('\n'));
    expect(e.format()).toBe('h.yaml:7: (YAML alias): alias *missing refers to no anchor defined before it');
  });
});

describe('nesting', () => {
  it('100,000 nested flow sequences: an input error at line 1, not a stack overflow', () => {
    const e = error(`name: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
    expect(e.format()).toBe(`h.yaml:1: (YAML nesting): flow collections nested deeper than ${MAX_YAML_DEPTH} levels (docs/limits.md)`);
    expect(e.message).not.toMatch(/call stack/);
  });

  it('deep block nesting by indentation: an input error naming the line', () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}k:`);
    const e = error(lines.join('\n'));
    expect(e.field).toBe('(YAML nesting)');
    expect(e.line).toBe(MAX_YAML_INDENT + 2);
  });

  it('nesting just past the depth limit with little indentation is found after parsing, with its line', () => {
    const lines = Array.from({ length: MAX_YAML_DEPTH + 1 }, (_, i) => `${' '.repeat(i)}- `);
    lines.push(`${' '.repeat(MAX_YAML_DEPTH + 1)}x`);
    const e = error(lines.join('\n'));
    expect(e.format()).toBe(`h.yaml:${MAX_YAML_DEPTH + 1}: (YAML nesting): mappings and sequences nested deeper than ${MAX_YAML_DEPTH} levels (docs/limits.md)`);
  });

  it('brackets inside quotes and comments do not count', () => {
    expect(() => prescanYamlNesting(`a: "${'['.repeat(500)}"\nb: '${'{'.repeat(500)}'\n# ${'['.repeat(500)}\n`, 'h.yaml')).not.toThrow();
    expect(() => prescanYamlNesting(`a: ${'['.repeat(MAX_YAML_DEPTH)}${']'.repeat(MAX_YAML_DEPTH)}\n`, 'h.yaml')).not.toThrow();
    expect(() => prescanYamlNesting(`a: ${'['.repeat(MAX_YAML_DEPTH + 1)}`, 'h.yaml')).toThrow(InputError);
  });
});
