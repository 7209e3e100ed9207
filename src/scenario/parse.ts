/**
 * Read a scenario file: YAML → plain data validated against the published JSON
 * Schema (specs/scenario.schema.json). Every problem becomes one InputError naming
 * the file, the line and the field (a JSON-pointer-like path such as
 * `steps[3].irte.vector`).
 *
 * YAML integers are read as bigint so that no 64-bit literal silently loses bits;
 * those that fit 2^53 become numbers, larger ones become hex strings, which the
 * schema accepts only where a 64-bit value is allowed.
 */
import { withoutStackTraces } from '../util/without-stack-traces.ts';
import { LineCounter, parseDocument, isMap, isNode, isScalar, isSeq, type Document, type YAMLError } from 'yaml';
import type { ErrorObject } from 'ajv';
import { scenarioValidator, schemaDefinition } from './schema-validator.ts';
import { InputError } from '../io/input-error.ts';
import { readInputText } from '../io/read-input.ts';
import { MAX_SCENARIO_BYTES } from '../io/limits.ts';
import { checkYamlDepth, prescanYamlNesting, yamlToJs } from './yaml-limits.ts';

function validate(data: unknown): ErrorObject[] {
  const validator = scenarioValidator();
  return validator(data) ? [] : [...(validator.errors ?? [])];
}

/** Replace bigints: safe ones by numbers, others by hex strings. */
function normaliseIntegers(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : `0x${value.toString(16)}`;
  }
  if (Array.isArray(value)) return value.map(normaliseIntegers);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normaliseIntegers(v)]));
  }
  return value;
}

/** `['steps', 3, 'irte', 'vector']` → `steps[3].irte.vector` (src/scenario/field-name.ts). */
export { fieldName } from './field-name.ts';
import { fieldName } from './field-name.ts';

/** Line (1-based) of the YAML node at `path`, or of the closest ancestor that exists. */
export function lineOf(doc: Document, lines: LineCounter, path: readonly (string | number)[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

function describe(e: ErrorObject): { path: string[]; message: string } {
  const path = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: [...path, String(p['additionalProperty'])], message: 'unknown field' };
    case 'required':
      return { path, message: `missing required field '${String(p['missingProperty'])}'` };
    case 'enum':
      return {
        path,
        message: `expected one of ${(p['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}${
          // platform.policy / platform.vmm also take a user module's path (src/scenario/load-modules.ts).
          path.length === 2 && path[0] === 'platform' && (path[1] === 'policy' || path[1] === 'vmm') ? `, or a module path like ./my-${path[1] === 'vmm' ? 'design' : 'policy'}.js` : ''
        }`,
      };
    case 'anyOf':
      return { path, message: 'expected an integer below 2^53 or a hex string like "0xfee00000" (at most 16 hex digits; 32 for a raw IRTE)' };
    case 'oneOf':
      return { path, message: path[path.length - 1] === 'acs' ? 'expected a list of ACS control bits (SV, TB, RR, CR, UF, EC, DT) or { capable: [...], enabled: [...] }' : 'expected { count: N } or { apicIds: [...] }' };
    case 'pattern':
      if (p['pattern'] === schemaDefinition('bdf')?.pattern) return { path, message: 'expected a BDF bb:dd.f or ssss:bb:dd.f in hex (domain at most 8 digits, bus ff, device 1f, function 7)' };
      return { path, message: e.message ?? 'invalid' };
    default:
      return { path, message: e.message ?? 'invalid' };
  }
}

/** The yaml package's error (or tag warning) as one line, named for a scenario's reader. */
function yamlMessage(e: YAMLError): string {
  const first = e.message.split('\n')[0] ?? 'YAML syntax error';
  switch (e.code) {
    case 'DUPLICATE_KEY':
      return 'duplicate key: map keys must be unique (a second value would silently replace the first)';
    case 'TAG_RESOLVE_FAILED':
      return `${first}: a scenario uses no YAML tags`;
    default:
      return first;
  }
}

/**
 * Keys and indices of the deepest node of `node` whose source holds `offset` (from its key to
 * the end of its value; a key's own path when the offset is in the key), or undefined when none does.
 */
function yamlPathAt(node: unknown, offset: number, path: (string | number)[]): (string | number)[] | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      // A pair the parser could not give a key (a broken line) names no field.
      if (!isScalar(pair.key) || pair.key.value === null || typeof pair.key.value === 'object') continue;
      const key = String(pair.key.value);
      const range = pair.key.range;
      if (!range) continue;
      if (offset >= range[0] && offset <= range[1]) return [...path, key];
      // From the key on: a tag or anchor before the value is outside the value's own range.
      if (isNode(pair.value) && pair.value.range && offset >= range[0] && offset <= pair.value.range[1]) return yamlPathAt(pair.value, offset, [...path, key]) ?? [...path, key];
    }
    return path;
  }
  if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      const item = node.items[i];
      if (isNode(item) && item.range && offset >= item.range[0] && offset <= item.range[1]) return yamlPathAt(item, offset, [...path, i]) ?? [...path, i];
    }
    return path;
  }
  return isNode(node) ? path : undefined;
}

/** A scenario document as parsed, with the line lookup kept for later (semantic) errors. */
export interface ParsedScenario {
  readonly file: string;
  readonly data: unknown;
  /** Line of the node at a path, for errors found after schema validation. */
  readonly lineAt: (path: readonly (string | number)[]) => number | undefined;
}

/**
 * Parse and schema-validate scenario text.
 * @throws InputError on YAML syntax errors, nesting deeper than MAX_YAML_DEPTH, too many alias
 *   expansions or an unresolved alias (src/scenario/yaml-limits.ts), and the first schema violation.
 */
export function parseScenarioText(text: string, file: string): ParsedScenario {
  // Nesting is bounded before the yaml package sees the text (its composer recurses per level).
  prescanYamlNesting(text, file);
  const lines = new LineCounter();
  const doc = withoutStackTraces(() => parseDocument(text, { lineCounter: lines, intAsBigInt: true, prettyErrors: false, uniqueKeys: true }));
  // An unresolved tag (`!!js/function`, `!custom`) is only a warning to the yaml package, which
  // then reads the value as a string: a scenario uses no tags, so it is an error here.
  const yamlError = doc.errors[0] ?? doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (yamlError) {
    const line = yamlError.linePos?.[0]?.line ?? lines.linePos(yamlError.pos[0]).line;
    const at = yamlPathAt(doc.contents, yamlError.pos[0], []);
    const field = at === undefined || at.length === 0 ? '(YAML syntax)' : fieldName(at.map(String));
    throw new InputError(yamlMessage(yamlError), { file, ...(line === undefined ? {} : { line }), field });
  }
  checkYamlDepth(doc, lines, file);
  const data = normaliseIntegers(yamlToJs(doc, lines, file));
  const lineAt = (path: readonly (string | number)[]): number | undefined => lineOf(doc, lines, path);
  const errors = validate(data);
  // For an anyOf/oneOf, Ajv lists the failing branches before the combinator; the
  // combinator's own message explains the accepted forms, so prefer it.
  const first = errors.find((e) => (e.keyword === 'anyOf' || e.keyword === 'oneOf') && errors[0]?.instancePath.startsWith(e.instancePath)) ?? errors[0];
  if (first) {
    const { path, message } = describe(first);
    const line = lineAt(path.map((p) => (/^\d+$/.test(p) ? Number(p) : p)));
    throw new InputError(message, { file, ...(line === undefined ? {} : { line }), field: fieldName(path) || '(top level)' });
  }
  return { file, data, lineAt };
}

/**
 * Read and parse a scenario file.
 * @throws InputError when the file cannot be read, is not YAML, or violates the schema.
 */
export function parseScenarioFile(file: string): ParsedScenario {
  return parseScenarioText(readInputText(file, { maxBytes: MAX_SCENARIO_BYTES, what: 'scenario' }), file);
}
