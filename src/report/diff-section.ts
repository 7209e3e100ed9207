/**
 * The "Diff" section of the review report (`remapsim report A --diff B`, or `--vmm X,Y` /
 * `--policy P,Q`): the design diff of src/diff/diff.ts as tables — every field that differs
 * (section, item, field, A, B) and every item on one side only. The same rows as
 * `remapsim diff` prints (src/diff/format.ts).
 */
import type { DesignDiff } from '../diff/diff.ts';
import { SECTION_NOUNS } from '../diff/snapshot.ts';
import { equalSummary, showValue } from '../diff/format.ts';
import { list, table, text, type Cell, type Section } from './model.ts';

/** The Diff section of `d`. */
export function diffSection(d: DesignDiff): Section {
  const changed: Cell[][] = d.sections.flatMap((s) => s.changed.flatMap((c) => c.changes.map((x) => [SECTION_NOUNS[s.section], c.key, x.field, showValue(s.section, x.a), showValue(s.section, x.b)])));
  const only: Cell[][] = d.sections.flatMap((s) => [
    ...s.onlyA.map((r) => [SECTION_NOUNS[s.section], 'A', r.key, Object.entries(r.fields).map(([k, v]) => `${k}=${showValue(s.section, v)}`).join(', ')]),
    ...s.onlyB.map((r) => [SECTION_NOUNS[s.section], 'B', r.key, Object.entries(r.fields).map(([k, v]) => `${k}=${showValue(s.section, v)}`).join(', ')]),
  ]);
  return {
    id: 'diff',
    title: 'Diff',
    blocks: [
      list([`A: ${d.a}`, `B: ${d.b}`]),
      text(d.equivalent ? 'EQUIVALENT: the two designs give the same IRTEs, descriptors, grants, verdicts, expectations and costs.' : 'DIFFERENT: only what differs is listed.'),
      text(equalSummary(d)),
      table({ id: 'diff-changed', caption: 'Fields that differ (items present in both)', columns: ['Section', 'Item', 'Field', 'A', 'B'], rows: changed, empty: 'no field differs' }),
      table({ id: 'diff-only', caption: 'Items on one side only', columns: ['Section', 'Side', 'Item', 'Fields'], rows: only, empty: 'no item on one side only' }),
    ],
  };
}
