/**
 * Resource limits on scenario YAML (issue 17; docs/limits.md), checked so that a hostile file gets
 * one input error naming its line — never "Maximum call stack size exceeded", a ReferenceError or a
 * stack trace:
 * - nesting depth: a linear pre-scan of the text (flow brackets, indentation) before the `yaml`
 *   package parses it (its composer recurses per level: 10^5 `[` take seconds and overflow the
 *   stack), then an iterative walk of the parsed document;
 * - aliases: the `yaml` package's own `maxAliasCount` for `toJS` (each alias counts the nodes it
 *   expands to, so an alias bomb stops early), its ReferenceErrors turned into input errors.
 */
import { isCollection, isPair, visit, type Document, type LineCounter } from 'yaml';
import { InputError } from '../io/input-error.ts';

/** Deepest nesting of mappings and sequences accepted (real scenarios: ≤ 8). */
export const MAX_YAML_DEPTH = 64;
/** Widest indentation accepted, in columns (the pre-scan's bound on block nesting). */
export const MAX_YAML_INDENT = 512;
/** The `yaml` package's `maxAliasCount`: alias expansions allowed in one document (its default is 100). */
export const MAX_YAML_ALIASES = 1000;

/**
 * Scan `text` once, in linear time, for flow nesting deeper than {@link MAX_YAML_DEPTH} (`[` / `{`
 * outside quotes and comments) and indentation wider than {@link MAX_YAML_INDENT}.
 * @throws InputError naming `file`, the line and field `(YAML nesting)`.
 */
export function prescanYamlNesting(text: string, file: string): void {
  let line = 1;
  let depth = 0;
  let atLineStart = true;
  let indent = 0;
  let quote: '"' | "'" | undefined;
  let prev = '\n';
  const fail = (why: string): never => {
    throw new InputError(why, { file, line, field: '(YAML nesting)' });
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      atLineStart = true;
      indent = 0;
      prev = c;
      continue;
    }
    if (atLineStart) {
      if (c === ' ') {
        if (++indent > MAX_YAML_INDENT) fail(`indentation wider than ${MAX_YAML_INDENT} columns (nesting limit, docs/limits.md)`);
        prev = c;
        continue;
      }
      atLineStart = false;
    }
    if (quote !== undefined) {
      if (quote === '"' && c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '#' && (prev === ' ' || prev === '\t' || prev === '\n')) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if ((c === '"' || c === "'") && (prev === ' ' || prev === '\n' || prev === '[' || prev === '{' || prev === ',' || prev === ':')) {
      quote = c;
    } else if (c === '[' || c === '{') {
      if (++depth > MAX_YAML_DEPTH) fail(`flow collections nested deeper than ${MAX_YAML_DEPTH} levels (docs/limits.md)`);
    } else if ((c === ']' || c === '}') && depth > 0) {
      depth--;
    }
    prev = c;
  }
}

/**
 * Walk the parsed `doc` without recursion and refuse collections nested deeper than
 * {@link MAX_YAML_DEPTH}.
 * @throws InputError naming `file`, the line of the first too-deep node and field `(YAML nesting)`.
 */
export function checkYamlDepth(doc: Document, lines: LineCounter, file: string): void {
  const stack: { node: unknown; depth: number }[] = [{ node: doc.contents, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (isPair(node)) {
      stack.push({ node: node.key, depth }, { node: node.value, depth });
    } else if (isCollection(node)) {
      if (depth + 1 > MAX_YAML_DEPTH) {
        const line = node.range ? lines.linePos(node.range[0]).line : undefined;
        throw new InputError(`mappings and sequences nested deeper than ${MAX_YAML_DEPTH} levels (docs/limits.md)`, { file, ...(line === undefined ? {} : { line }), field: '(YAML nesting)' });
      }
      for (const item of node.items) stack.push({ node: item, depth: depth + 1 });
    }
  }
}

/** Line of the first alias in `doc` (named `name` when given). */
function aliasLine(doc: Document, lines: LineCounter, name?: string): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Alias(_, node) {
      if (name !== undefined && node.source !== name) return undefined;
      if (node.range) found = lines.linePos(node.range[0]).line;
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * `doc.toJS()` with `maxAliasCount` {@link MAX_YAML_ALIASES}; call after {@link checkYamlDepth}
 * (toJS recurses per level).
 * @throws InputError naming `file` and the alias's line (field `(YAML alias)`) for too many alias
 *   expansions or an alias whose anchor is not defined before it.
 */
export function yamlToJs(doc: Document, lines: LineCounter, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    if (!(e instanceof ReferenceError)) throw e;
    const unresolved = /Unresolved alias.*: (.*)$/.exec(e.message);
    const line = aliasLine(doc, lines, unresolved?.[1]);
    const where = { file, ...(line === undefined ? {} : { line }), field: '(YAML alias)' };
    if (unresolved) throw new InputError(`alias *${unresolved[1]} refers to no anchor defined before it`, where);
    throw new InputError(`aliases expand to more than ${MAX_YAML_ALIASES} nodes (the yaml package's maxAliasCount; docs/limits.md)`, where);
  }
}

