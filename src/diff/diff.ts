/**
 * Compare two snapshots (src/diff/snapshot.ts) section by section, row by row (matched by key)
 * and field by field. Pure; the result lists only what differs and counts what is equal.
 * `diffSnapshots(a, a)` is always empty (test/diff/diff.test.ts holds it as a property).
 */
import { SECTION_IDS, type FieldValue, type SectionId, type Snapshot, type SnapshotRow } from './snapshot.ts';

/** One field that differs; `a` or `b` is `undefined` when the row of that side has no such field. */
export interface FieldChange {
  readonly field: string;
  readonly a: FieldValue | undefined;
  readonly b: FieldValue | undefined;
}

/** A row present on both sides whose fields differ. */
export interface RowChange {
  readonly key: string;
  readonly changes: readonly FieldChange[];
}

/** What differs in one section. */
export interface SectionDiff {
  readonly section: SectionId;
  /** Rows present on both sides with equal fields. */
  readonly equal: number;
  readonly changed: readonly RowChange[];
  readonly onlyA: readonly SnapshotRow[];
  readonly onlyB: readonly SnapshotRow[];
}

export interface DesignDiff {
  readonly a: string;
  readonly b: string;
  /** Every section, in {@link SECTION_IDS} order (a section with nothing on either side too). */
  readonly sections: readonly SectionDiff[];
  /** No section has a changed row or a row on one side only. */
  readonly equivalent: boolean;
}

function diffRows(section: SectionId, a: readonly SnapshotRow[], b: readonly SnapshotRow[]): SectionDiff {
  const byKey = new Map(b.map((r) => [r.key, r]));
  const keysA = new Set(a.map((r) => r.key));
  const changed: RowChange[] = [];
  const onlyA: SnapshotRow[] = [];
  let equal = 0;
  for (const ra of a) {
    const rb = byKey.get(ra.key);
    if (rb === undefined) {
      onlyA.push(ra);
      continue;
    }
    const fields = [...new Set([...Object.keys(ra.fields), ...Object.keys(rb.fields)])];
    const changes = fields.filter((f) => ra.fields[f] !== rb.fields[f]).map((f) => ({ field: f, a: ra.fields[f], b: rb.fields[f] }));
    if (changes.length === 0) equal++;
    else changed.push({ key: ra.key, changes });
  }
  const onlyB = b.filter((r) => !keysA.has(r.key));
  return { section, equal, changed, onlyA, onlyB };
}

/** The differences between `a` and `b`. */
export function diffSnapshots(a: Snapshot, b: Snapshot): DesignDiff {
  const sections = SECTION_IDS.map((s) => diffRows(s, a.sections[s], b.sections[s]));
  return { a: a.label, b: b.label, sections, equivalent: sections.every((s) => s.changed.length === 0 && s.onlyA.length === 0 && s.onlyB.length === 0) };
}

/** Whether a section has a difference. */
export const sectionDiffers = (s: SectionDiff): boolean => s.changed.length + s.onlyA.length + s.onlyB.length > 0;
