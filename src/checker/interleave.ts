/**
 * Interleaving for `remapsim check` (issue #10 item 7): where the adversary may act
 * between the scenario's own steps (`check.interleave`), where an adversary step lands in
 * the interleaved sequence, and the counterexample file that shows it — the scenario's
 * text with each adversary step inserted after the step it followed, marked with a
 * `note`, and the scenario's own expectations that the adversary's steps made fail
 * dropped (with a comment saying what they were), so that `remapsim run` replays the file
 * to its violation and to nothing else.
 */
import { Document, isMap, isSeq, parseDocument, YAMLMap, YAMLSeq } from 'yaml';
import { InputError } from '../io/input-error.ts';
import { parseScenarioText } from '../scenario/parse.ts';
import { compileScenario } from '../scenario/compile.ts';
import { runScenario } from '../scenario/run.ts';
import { commentText, scenarioWithSteps, stepNode, type WriteOptions } from '../scenario/write.ts';
import type * as S from '../scenario/types.ts';
import type { AttackStep } from './adversary.ts';

/**
 * The gaps the adversary may act in, as indices of the scenario's own steps after which
 * it acts, ascending; the last is the end (after every step; -1 for a scenario with no
 * steps). Without `check.interleave` only the end; with `true` every gap; with
 * `{ after: N }` the gaps after step N and every later one.
 * @throws InputError when `after` names no step of the scenario.
 */
export function gapsOf(data: S.Scenario, file: string): number[] {
  const n = (data.steps ?? []).length;
  const i = data.check?.interleave;
  if (i === undefined || i === false || n === 0) return [n - 1];
  const from = i === true ? 0 : i.after;
  if (from >= n) throw new InputError(`no step ${from}: the scenario has ${n} step(s) (0–${n - 1})`, { file, field: 'check.interleave.after' });
  return Array.from({ length: n - from }, (_, k) => from + k);
}

/**
 * Index in the interleaved sequence (the written file's steps) of adversary step `k` of
 * placed steps `at` (non-decreasing): the scenario's steps up to `at[k]`, then the
 * adversary steps before it.
 */
export function adversaryIndex(at: readonly number[], k: number): number {
  return at[k]! + 1 + k;
}

/** Index in the interleaved sequence of the scenario's own step `j`: it, the steps before it, and the adversary steps placed before it. */
export function ownIndex(at: readonly number[], j: number): number {
  return j + at.filter((a) => a < j).length;
}

/** Whether some step of `at` is placed before the scenario's last step `last` (an insertion, not an append). */
export function inserted(at: readonly number[], last: number): boolean {
  return at.some((a) => a < last);
}

function render(doc: Document): string {
  return doc.toString({ lineWidth: 0, flowCollectionPadding: true });
}

/** The note of adversary step `k` in a written counterexample. */
export function adversaryNote(k: number): string {
  return `adversary step ${k}, found by remapsim check`;
}

/**
 * The scenario `baseText` with adversary `steps` placed after the scenario's own steps
 * `at` (non-decreasing) and `note` as the file's header comment. When every step is
 * placed after the last of the scenario's steps this is {@link scenarioWithSteps} (the
 * steps appended, unmarked, under `options.stepsComment`); otherwise each adversary step
 * is inserted where it ran, with a `note` naming it, and the scenario's own steps after
 * the first inserted one lose their `expect:` when it fails in the replay (a comment
 * keeps it): it held in the scenario's own run, and the adversary's steps changed the
 * outcome, which is what the counterexample is about.
 * @param file the name the replay parses the text under (relative DMAR paths resolve against it)
 * @throws Error when `baseText` is not a YAML mapping with a `steps` sequence.
 */
export function scenarioWithPlacedSteps(baseText: string, file: string, steps: readonly AttackStep[], at: readonly number[], note: string, options: WriteOptions = {}): string {
  const doc = parseDocument(baseText, { intAsBigInt: true, keepSourceTokens: false });
  if (doc.errors[0] !== undefined || !isMap(doc.contents)) throw new Error('base scenario is not a YAML mapping');
  const seq = doc.get('steps', true);
  const own = isSeq(seq) ? seq.items.length : 0;
  if (!inserted(at, own - 1)) return scenarioWithSteps(baseText, steps, note, options);
  if (!isSeq(seq)) throw new Error('base scenario: steps is not a sequence');
  const items = [...seq.items];
  const out: unknown[] = [];
  let k = 0;
  const place = (b: number): void => {
    for (; k < steps.length && at[k] === b; k++) {
      const node = stepNode(doc, { note: adversaryNote(k), ...steps[k] });
      node.spaceBefore = true;
      out.push(node);
    }
  };
  place(-1);
  items.forEach((item, b) => {
    out.push(item);
    place(b);
  });
  (seq as YAMLSeq).items = out as YAMLSeq['items'];
  if (options.name !== undefined) doc.set('name', options.name);
  if (options.policy !== undefined) doc.setIn(['platform', 'policy'], options.policy);
  const header = commentText(note);
  doc.commentBefore = doc.commentBefore ? `${header}\n\n${doc.commentBefore}` : header;
  let text = render(doc);
  // The scenario's own expectations after the first inserted step: kept where they still hold.
  const first = adversaryIndex(at, at.findIndex((a) => a < own - 1));
  const replay = runScenario(compileScenario(parseScenarioText(text, file)));
  let dropped = false;
  replay.steps.forEach((s, w) => {
    if (w <= first || s.failures.length === 0) return;
    const node = (seq as YAMLSeq).items[w];
    if (!(node instanceof YAMLMap) || !node.has('expect')) return;
    const value = node.get('expect', true);
    const flow = value instanceof YAMLMap ? Object.assign(value.clone(), { flow: true }) : value;
    const was = new Document(flow).toString({ lineWidth: 0, flowCollectionPadding: true }).trim();
    node.delete('expect');
    const why = ` expect: ${was} dropped by remapsim check: it held in the scenario's own run, not after the adversary's steps (${s.failures.join('; ')})`;
    node.commentBefore = node.commentBefore ? `${node.commentBefore}\n${why}` : why;
    dropped = true;
  });
  if (dropped) text = render(doc);
  return text;
}
