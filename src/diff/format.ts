/**
 * A design diff (src/diff/diff.ts) as text and as JSON. Only what differs is printed, after a
 * one-line summary of what is equal. Values: numbers of the decoded structures (IRTE, DTE,
 * descriptor sections) in hex in the text (`0x30`), in decimal elsewhere; JSON keeps numbers
 * as numbers and addresses/64-bit values as the `0x…` strings the snapshot holds.
 */
import { SECTION_NOUNS, type FieldValue, type SectionId, type SnapshotRow } from './snapshot.ts';
import { sectionDiffers, type DesignDiff, type SectionDiff } from './diff.ts';

const HEX_SECTIONS: ReadonlySet<SectionId> = new Set(['irte', 'dte', 'descriptors']);

/** A value as the text shows it (`—` for a field the row does not have). */
export function showValue(section: SectionId, v: FieldValue | undefined): string {
  if (v === undefined) return '—';
  if (typeof v === 'number') return HEX_SECTIONS.has(section) && v > 9 ? `0x${v.toString(16)}` : String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  return v;
}

const rowText = (section: SectionId, r: SnapshotRow): string =>
  Object.entries(r.fields)
    .map(([k, v]) => `${k}=${showValue(section, v)}`)
    .join(', ');

/** "equal: 3 IRTEs, 2 descriptors, …" (sections with at least one equal row). */
export function equalSummary(d: DesignDiff): string {
  const parts = d.sections.filter((s) => s.equal > 0).map((s) => `${s.equal} ${SECTION_NOUNS[s.section]}`);
  return `equal: ${parts.length === 0 ? 'nothing' : parts.join(', ')}`;
}

/** The sections that differ, as counts ("IRTEs: 1 changed, 1 only in B"). */
function differSummary(s: SectionDiff): string {
  const parts = [s.changed.length > 0 ? `${s.changed.length} changed` : '', s.onlyA.length > 0 ? `${s.onlyA.length} only in A` : '', s.onlyB.length > 0 ? `${s.onlyB.length} only in B` : ''].filter((p) => p !== '');
  return `${SECTION_NOUNS[s.section]}: ${parts.join(', ')}`;
}

/** The text of a diff. */
export function formatDiff(d: DesignDiff): string {
  const lines = [`diff: A = ${d.a}`, `      B = ${d.b}`];
  lines.push(d.equivalent ? 'EQUIVALENT: no difference' : `DIFFERENT: ${d.sections.filter(sectionDiffers).map(differSummary).join('; ')}`);
  lines.push(equalSummary(d));
  for (const s of d.sections.filter(sectionDiffers)) {
    lines.push('', `${SECTION_NOUNS[s.section]}:`);
    for (const c of s.changed) {
      lines.push(`  ~ ${c.key}`);
      const width = Math.max(...c.changes.map((x) => x.field.length));
      for (const x of c.changes) lines.push(`      ${x.field.padEnd(width)}  A: ${showValue(s.section, x.a)}`, `      ${' '.repeat(width)}  B: ${showValue(s.section, x.b)}`);
    }
    for (const r of s.onlyA) lines.push(`  - only in A: ${r.key}: ${rowText(s.section, r)}`);
    for (const r of s.onlyB) lines.push(`  + only in B: ${r.key}: ${rowText(s.section, r)}`);
  }
  return lines.join('\n') + '\n';
}

/** The diff as JSON (only the sections that differ, with the equal counts of all). */
export function diffJson(d: DesignDiff): unknown {
  return {
    a: d.a,
    b: d.b,
    equivalent: d.equivalent,
    equal: Object.fromEntries(d.sections.map((s) => [s.section, s.equal])),
    differences: d.sections.filter(sectionDiffers).map((s) => ({
      section: s.section,
      changed: s.changed.map((c) => ({ key: c.key, fields: c.changes.map((x) => ({ field: x.field, a: x.a ?? null, b: x.b ?? null })) })),
      onlyA: s.onlyA,
      onlyB: s.onlyB,
    })),
  };
}
