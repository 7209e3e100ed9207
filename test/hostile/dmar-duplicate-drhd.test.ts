// Issue 16 item 2 (duplicates that cannot coexist): a DMAR table with two DRHDs at one segment and
// register base describes one unit. Linux registers the first and ignores the second
// (drivers/iommu/intel/dmar.c dmar_parse_one_drhd → dmar_find_dmaru); so do the platform, the
// summary and the scenario skeleton — never two units answering at one register base.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDmarText } from '../../src/vtd/dmar/parse-dsl.ts';
import { registeredDrhds } from '../../src/vtd/dmar/model.ts';
import { unitsFromDmar } from '../../src/scenario/dmar-platform.ts';
import { formatDmarSummary } from '../../src/vtd/dmar/summary.ts';
import { scenarioSkeleton } from '../../src/cli/import-dmar.ts';

const DSL = readFileSync(join(import.meta.dirname, '../../data/real-inputs/dmar/hp-z240-sff.dsl'), 'utf8');
const duplicated = DSL.replace('Register Base Address : 00000000FED91000', 'Register Base Address : 00000000FED90000');

describe('a DRHD repeating an earlier one’s segment and register base', () => {
  it('is parsed, and skipped by the platform as Linux skips it', () => {
    const table = parseDmarText(duplicated, 'dup.dsl');
    expect(table.drhd).toHaveLength(2);
    expect(registeredDrhds(table)).toEqual([table.drhd[0]]);
    const units = unitsFromDmar(table);
    expect(units.map((u) => u.registerBase)).toEqual([0xfed90000n]);
    expect(units[0]!.includePciAll).toBe(false);
  });
  it('is marked in the summary, and the skeleton enables one unit', () => {
    const table = parseDmarText(duplicated, 'dup.dsl');
    expect(formatDmarSummary(table)).toMatch(/INCLUDE_PCI_ALL, a second DRHD at this segment and base: ignored/);
    expect(scenarioSkeleton(table, 'dup.dsl', 'dup').match(/enable-ir:/g)).toHaveLength(1);
  });
  it('the table as shipped keeps both its units (the check can fail)', () => {
    const table = parseDmarText(DSL, 'z240.dsl');
    expect(registeredDrhds(table)).toBe(table.drhd);
    expect(unitsFromDmar(table).map((u) => u.registerBase)).toEqual([0xfed90000n, 0xfed91000n]);
    expect(formatDmarSummary(table)).not.toMatch(/a second DRHD/);
  });
  it('the same base in another segment is another unit', () => {
    const other = DSL.replace('Register Base Address : 00000000FED91000', 'Register Base Address : 00000000FED90000').replace(/(Flags : 01\n.*\n.*PCI Segment Number : )0000/, '$10001');
    const table = parseDmarText(other, 'seg.dsl');
    expect(table.drhd.map((d) => d.segment)).toEqual([0, 1]);
    expect(unitsFromDmar(table)).toHaveLength(2);
  });
});
