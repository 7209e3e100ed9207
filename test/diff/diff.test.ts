/**
 * `remapsim diff`: a design compared with itself (or a copy of itself) has no difference, as a
 * property with a fixed seed, shown to fail against a broken differ that compares rows by
 * identity; the kvm / kvm-broken-pda-any-vm pair differs exactly in the PDA of the posted
 * IRTEs (VT-d) and in the backing page of the GA entry (AMD-Vi); JSON keeps addresses as
 * `0x…` strings; exit 0 equivalent, 1 different, 2 bad input; the report's Diff section.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { diffSnapshots, type DesignDiff } from '../../src/diff/diff.ts';
import { SECTION_IDS, type FieldValue, type Snapshot, type SnapshotRow } from '../../src/diff/snapshot.ts';
import { designDiff, diffCommand } from '../../src/cli/diff.ts';
import { reportText } from '../../src/cli/report.ts';
import { InputError } from '../../src/io/input-error.ts';
import { cli, repo } from '../cli/cli-harness.ts';

const value: fc.Arbitrary<FieldValue> = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.boolean(), fc.string({ maxLength: 6 }), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((v) => `0x${v.toString(16)}`));
const rows: fc.Arbitrary<SnapshotRow[]> = fc.uniqueArray(fc.record({ key: fc.string({ minLength: 1, maxLength: 5 }), fields: fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), value, { maxKeys: 4 }) }), { selector: (r) => r.key, maxLength: 5 });
const snapshot: fc.Arbitrary<Snapshot> = fc.tuple(...SECTION_IDS.map(() => rows)).map((rs) => ({ label: 'x', sections: Object.fromEntries(SECTION_IDS.map((s, i) => [s, rs[i]!])) as unknown as Snapshot["sections"] }));

/** diff(S, copy of S) has no difference and counts every row equal. */
function selfDiffIsEmpty(differ: (a: Snapshot, b: Snapshot) => DesignDiff) {
  return fc.property(snapshot, (s) => {
    const d = differ(s, structuredClone(s));
    return d.equivalent && d.sections.every((x) => x.changed.length === 0 && x.onlyA.length === 0 && x.onlyB.length === 0 && x.equal === s.sections[x.section].length);
  });
}

/** A broken differ: a row differs unless it is the very same object (a copy always "differs"). */
function brokenDiffer(a: Snapshot, b: Snapshot): DesignDiff {
  const d = diffSnapshots(a, b);
  const sections = d.sections.map((x) => {
    const changed = a.sections[x.section].filter((ra) => b.sections[x.section].some((rb) => rb.key === ra.key && rb.fields !== ra.fields && Object.keys(ra.fields).length > 0)).map((r) => ({ key: r.key, changes: [{ field: Object.keys(r.fields)[0]!, a: undefined, b: undefined }] }));
    return { ...x, changed, equal: x.equal - changed.length };
  });
  return { ...d, sections, equivalent: sections.every((x) => x.changed.length === 0 && x.onlyA.length === 0 && x.onlyB.length === 0) };
}

describe('diff of a design with itself', () => {
  it('is empty (property, fixed seed)', () => {
    fc.assert(selfDiffIsEmpty(diffSnapshots), { seed: 1414, numRuns: 200 });
  });
  it('the property fails against a broken differ', () => {
    expect(fc.check(selfDiffIsEmpty(brokenDiffer), { seed: 1414, numRuns: 200 }).failed).toBe(true);
  });
  it('a changed field, and rows on one side only, are found', () => {
    const a: Snapshot = { label: 'a', sections: { ...Object.fromEntries(SECTION_IDS.map((s) => [s, []])), irte: [{ key: 'u #0x1', fields: { pda: '0x1000', vector: 48 } }, { key: 'u #0x2', fields: {} }] } as unknown as Snapshot["sections"] };
    const b: Snapshot = { label: 'b', sections: { ...a.sections, irte: [{ key: 'u #0x1', fields: { pda: '0x2000', vector: 48 } }, { key: 'u #0x3', fields: {} }] } };
    const irte = diffSnapshots(a, b).sections.find((s) => s.section === 'irte')!;
    expect(irte.changed).toEqual([{ key: 'u #0x1', changes: [{ field: 'pda', a: '0x1000', b: '0x2000' }] }]);
    expect(irte.onlyA.map((r) => r.key)).toEqual(['u #0x2']);
    expect(irte.onlyB.map((r) => r.key)).toEqual(['u #0x3']);
  });
  it('specs/default.yaml against itself: equivalent, exit 0', async () => {
    const r = await cli(['diff', repo('specs/default.yaml'), repo('specs/default.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('EQUIVALENT');
    expect(r.out).toMatch(/equal: .*\d+ IRTEs/);
  });
});

describe('a policy pair that differs exactly in a PDA', () => {
  it('VT-d: kvm vs kvm-broken-pda-any-vm changes only the posted IRTEs\' PDA (and so its owner)', async () => {
    const d = await designDiff([repo('specs/attacks/pda-any-vm-secure.yaml')], { policy: 'kvm,kvm-broken-pda-any-vm' });
    expect(d.equivalent).toBe(false);
    const irte = d.sections.find((s) => s.section === 'irte')!;
    expect(irte.changed.length).toBeGreaterThan(0);
    expect(irte.onlyA).toEqual([]);
    expect(irte.onlyB).toEqual([]);
    for (const c of irte.changed) expect(c.changes.map((x) => x.field)).toEqual(['pda', 'pdaOwner']);
    for (const c of irte.changed) expect(c.changes[0]!.a).toMatch(/^0x[0-9a-f]+$/);
    // The descriptors themselves (keyed by their vCPU) are the same.
    expect(d.sections.find((s) => s.section === 'descriptors')!.changed).toEqual([]);
  });
  it('the CLI exits 1 and the JSON holds the PDAs as 0x strings', async () => {
    const r = await cli(['diff', repo('specs/attacks/pda-any-vm-secure.yaml'), '--policy', 'kvm,kvm-broken-pda-any-vm', '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out) as { equivalent: boolean; differences: { section: string; changed: { fields: { field: string; a: unknown; b: unknown }[] }[] }[] };
    expect(j.equivalent).toBe(false);
    const pdas = j.differences.find((s) => s.section === 'irte')!.changed.flatMap((c) => c.fields.filter((f) => f.field === 'pda'));
    expect(pdas.length).toBeGreaterThan(0);
    for (const p of pdas) {
      expect(p.a).toMatch(/^0x/);
      expect(p.b).toMatch(/^0x/);
    }
  });
  it('AMD-Vi: the GA entry names another backing page', async () => {
    const d = await designDiff([repo('specs/attacks/amd-foreign-backing-page-secure.yaml')], { policy: 'kvm,kvm-broken-pda-any-vm' });
    const fields = d.sections.find((s) => s.section === 'irte')!.changed.flatMap((c) => c.changes.map((x) => x.field));
    expect(fields).toContain('backingPage');
  });
});

describe('bad input', () => {
  it('one scenario without two choices, an unknown policy, three names: InputError, exit 2', async () => {
    await expect(diffCommand([repo('specs/default.yaml')])).rejects.toThrow(InputError);
    await expect(diffCommand([repo('specs/default.yaml')], { policy: 'kvm,nope' })).rejects.toThrow(/unknown hypervisor policy 'nope'/);
    await expect(diffCommand([repo('specs/default.yaml')], { vmm: 'a,b,c' })).rejects.toThrow(InputError);
    expect((await cli(['diff', repo('specs/default.yaml')])).code).toBe(2);
    expect((await cli(['diff', repo('specs/nonexistent.yaml'), repo('specs/default.yaml')])).code).toBe(2);
  });
});

describe('the report\'s Diff section', () => {
  it('report --policy A,B adds a Diff section with the changed PDA', async () => {
    const r = await reportText(repo('specs/attacks/pda-any-vm-secure.yaml'), { format: 'md', policy: 'kvm,kvm-broken-pda-any-vm' });
    expect(r.text).toContain('## Diff');
    expect(r.text).toMatch(/\| IRTEs \| dmar0 #0x\d+ \| pda \| 0x[0-9a-f]+ \| 0x[0-9a-f]+ \|/);
    const html = await reportText(repo('specs/default.yaml'), { diff: repo('specs/default.yaml') });
    expect(html.text).toContain('id="diff"');
    expect(html.text).toContain('EQUIVALENT');
  });
});
