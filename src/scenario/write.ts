/**
 * Write scenarios back as YAML: a base scenario's text with steps appended, or with
 * its policy replaced, edited through the `yaml` library's Document API so that the
 * base's comments, notes and layout survive. This is how a counterexample found by
 * the schedule checker (src/checker/schedule.ts) becomes a file that `remapsim run`
 * replays with no fast-check involved.
 *
 * Integers are read as bigint (as src/scenario/parse.ts reads them) so that a 64-bit
 * CAP or ECAP value is written back with every bit.
 */
import { Document, isMap, isSeq, parseDocument, Scalar, YAMLMap, YAMLSeq, type Node } from 'yaml';

/** Options of {@link scenarioWithSteps}. */
export interface WriteOptions {
  /** Replace `platform.policy` (the hypervisor policy module). */
  readonly policy?: string;
  /** Replace the scenario's `name`. */
  readonly name?: string;
  /** A comment line put above the first appended step. */
  readonly stepsComment?: string;
}

/** Strings that read back as the same string when written plain: identifiers such as `vm1`. */
const PLAIN = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A YAML node for a step value: mappings and sequences in flow style, odd strings double-quoted. */
function valueNode(doc: Document, value: unknown, flow: boolean): Node {
  if (Array.isArray(value)) {
    const seq = new YAMLSeq(doc.schema);
    seq.flow = flow;
    for (const v of value) seq.items.push(valueNode(doc, v, true));
    return seq;
  }
  if (value !== null && typeof value === 'object') {
    const map = new YAMLMap(doc.schema);
    map.flow = flow;
    for (const [k, v] of Object.entries(value)) if (v !== undefined) map.items.push(doc.createPair(k, valueNode(doc, v, true)));
    return map;
  }
  const s = new Scalar(value);
  if (typeof value === 'string' && !PLAIN.test(value)) s.type = Scalar.QUOTE_DOUBLE;
  return s;
}

/**
 * A step as a block mapping of its keys (`note`, the action, `expect`) whose values
 * are flow mappings: `- signal: { device: "05:00.0", vector: 0 }`, the way the
 * shipped scenarios are written.
 */
export function stepNode(doc: Document, step: object): YAMLMap {
  const map = new YAMLMap(doc.schema);
  for (const [k, v] of Object.entries(step)) if (v !== undefined) map.items.push(doc.createPair(k, valueNode(doc, v, true)));
  return map;
}

/** Comment text (no `#`) from `text`: each line gets one leading space, empty lines stay empty. */
export function commentText(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => (l.trim() === '' ? '' : ` ${l.trimEnd()}`))
    .join('\n');
}

function parseBase(baseText: string): Document {
  const doc = parseDocument(baseText, { intAsBigInt: true, keepSourceTokens: false });
  const err = doc.errors[0];
  if (err) throw new Error(`base scenario is not valid YAML: ${err.message.split('\n')[0] ?? ''}`);
  if (!isMap(doc.contents)) throw new Error('base scenario is not a YAML mapping');
  return doc;
}

function render(doc: Document): string {
  return doc.toString({ lineWidth: 0, flowCollectionPadding: true });
}

/**
 * `baseText` with `platform.policy` set to `policy`, comments and layout kept.
 * @throws Error when `baseText` is not a YAML mapping with a `platform` mapping.
 */
export function withPolicy(baseText: string, policy: string): string {
  const doc = parseBase(baseText);
  if (!isMap(doc.get('platform'))) throw new Error('base scenario has no platform mapping');
  doc.setIn(['platform', 'policy'], policy);
  return render(doc);
}

/**
 * The base scenario's YAML text with `steps` appended to its `steps` sequence (created
 * when missing), and `note` as a comment at the top of the file (above the base's own
 * header comment). Comments, notes and expectations of the base are kept; appended
 * steps are written one per line in the scenario format (`- halt: { vm: vm1, vcpu: 0 }`).
 *
 * `steps` are plain step objects of the scenario format (specs/scenario.schema.json
 * `step`): the result is only as valid as they are; nothing is validated here.
 *
 * @param note free text, several lines allowed: for a counterexample, the seed, the
 *   fast-check path and the violated property
 * @throws Error when `baseText` is not YAML or not a mapping, or its `steps` is not a sequence.
 */
export function scenarioWithSteps(baseText: string, steps: readonly object[], note: string, options: WriteOptions = {}): string {
  const doc = parseBase(baseText);
  if (options.policy !== undefined) {
    if (!isMap(doc.get('platform'))) throw new Error('base scenario has no platform mapping');
    doc.setIn(['platform', 'policy'], options.policy);
  }
  if (options.name !== undefined) doc.set('name', options.name);
  let seq = doc.get('steps', true);
  if (seq === undefined || seq === null || (seq instanceof Scalar && seq.value === null)) {
    seq = new YAMLSeq(doc.schema);
    doc.set('steps', seq);
  }
  if (!isSeq(seq)) throw new Error('base scenario: steps is not a sequence');
  steps.forEach((step, i) => {
    const node = stepNode(doc, step);
    if (i === 0) {
      node.spaceBefore = true;
      if (options.stepsComment !== undefined) node.commentBefore = commentText(options.stepsComment);
    }
    seq.items.push(node);
  });
  const header = commentText(note);
  const own = doc.commentBefore;
  doc.commentBefore = own ? `${header}\n\n${own}` : header;
  return render(doc);
}

/**
 * Steps as YAML sequence items, one per line (`- signal: { device: "06:00.0", vector: 1 }`),
 * for printing a counterexample.
 */
export function formatSteps(steps: readonly object[]): string {
  const doc = new Document();
  const seq = new YAMLSeq(doc.schema);
  for (const s of steps) seq.items.push(stepNode(doc, s));
  doc.contents = seq;
  return steps.length === 0 ? '[]\n' : render(doc);
}
