// IOMMU group listings: the six machine listings in data/real-inputs/groups/ (see
// PROVENANCE.md there) in their three forms, and the errors.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/io/input-error.ts';
import { isGroupListing, loadGroupListing, parseGroupListing } from '../../src/inputs/iommu-group-listing.ts';

const DIR = fileURLToPath(new URL('../../data/real-inputs/groups/', import.meta.url));
const FILES = readdirSync(DIR).sort();
const LSPCI_DIR = fileURLToPath(new URL('../../data/real-inputs/lspci/', import.meta.url));

/**
 * Counted by hand from the files: the group numbers present (every file numbers its groups
 * 0..N-1 without gaps) and the distinct devices listed.
 */
const COUNTS: Record<string, { groups: number; devices: number }> = {
  // "IOMMU Group N:" blocks 0..35, 43 indented device lines before the `lspci -nnk` part.
  'ashtonian-kvm-aio-alderlake-iommu-groups.txt': { groups: 36, devices: 43 },
  // one-line form inside a markdown fence: groups 0..14, 21 lines.
  'asokolsky-duo-iommu-groups.md': { groups: 15, devices: 21 },
  'asokolsky-fuji-iommu-groups.md': { groups: 15, devices: 21 },
  // groups 0..19, 24 lines.
  'asokolsky-nas-iommu-groups.md': { groups: 20, devices: 24 },
  // groups 0..18, 27 lines.
  'asokolsky-suprox-iommu-groups.md': { groups: 19, devices: 27 },
  // tree form: 20 units dmar0..dmar19, 462 "IOMMU Group:" lines (0..461), 617 "Group Device:"
  // lines of which 483 distinct (the script repeats the members of multi-device groups).
  'ethanzhf-iommu_tools-server-iommu-tree.txt': { groups: 462, devices: 483 },
};

describe('shipped group listings', () => {
  it('are the six of PROVENANCE.md', () => expect(FILES).toEqual(Object.keys(COUNTS).sort()));

  it.each(FILES)('%s: the hand-counted groups and devices', (f) => {
    const l = loadGroupListing(join(DIR, f));
    const want = COUNTS[f]!;
    expect(l.groups.size).toBe(want.groups);
    expect([...l.groups.keys()]).toEqual(Array.from({ length: want.groups }, (_, i) => i));
    expect([...l.groups.values()].reduce((n, g) => n + g.length, 0)).toBe(want.devices);
    for (const g of l.groups.values()) expect(g.length).toBeGreaterThan(0);
  });

  it('one-line form: keys normalised, multi-device groups', () => {
    const l = loadGroupListing(join(DIR, 'asokolsky-duo-iommu-groups.md'));
    expect(l.groups.get(2)).toEqual(['00:01.0', '01:00.0', '01:00.1']);
    expect(l.groups.get(10)).toEqual(['00:1f.0', '00:1f.2', '00:1f.3', '00:1f.4']);
    expect(l.units).toBeUndefined();
    expect(l.lines.get(0)).toBe(7);
  });

  it('block form: the lspci -nnk output after the listing is not part of it', () => {
    const l = loadGroupListing(join(DIR, 'ashtonian-kvm-aio-alderlake-iommu-groups.txt'));
    expect(l.groups.get(7)).toEqual(['00:14.0', '00:14.2']);
    expect(l.groups.get(18)).toEqual(['00:1f.0', '00:1f.3', '00:1f.4', '00:1f.5']);
    expect(l.groups.get(35)).toEqual(['41:00.0']);
  });

  it('tree form: units, 0000: dropped, repeated devices counted once', () => {
    const l = loadGroupListing(join(DIR, 'ethanzhf-iommu_tools-server-iommu-tree.txt'));
    expect(l.units?.get(50)).toBe('dmar0');
    expect(l.units?.get(15)).toBe('dmar15');
    expect(l.groups.get(15)).toEqual(['6a:00.4']);
    expect(l.groups.get(62)).toEqual(['00:1f.0', '00:1f.3', '00:1f.4', '00:1f.5']);
    expect(new Set(l.units!.values()).size).toBe(20);
  });

  it('isGroupListing tells listings from lspci dumps (whose "IOMMU group: N" lines are not listing lines)', () => {
    for (const f of FILES) expect(isGroupListing(loadText(join(DIR, f)))).toBe(true);
    for (const f of readdirSync(LSPCI_DIR)) expect(isGroupListing(loadText(join(LSPCI_DIR, f)))).toBe(false);
  });
});

const loadText = (p: string): string => readFileSync(p, 'utf8');

describe('small listings', () => {
  it('domains other than 0000 keep their prefix', () => {
    const l = parseGroupListing('IOMMU group 3 10000:e1:00.0 NVMe\nIOMMU group 3 0000:00:0e.0 VMD\n', 'x');
    expect(l.groups.get(3)).toEqual(['10000:e1:00.0', '00:0e.0']);
  });

  it('a block ends at the first unindented line', () => {
    const l = parseGroupListing('IOMMU Group 1:\n\t00:01.0 bridge\n$ prompt\n\t02:00.0 not in the group\n', 'x');
    expect(l.groups.get(1)).toEqual(['00:01.0']);
  });

  it.each([
    ['no group line at all', 'hello\n00:00.0 Host bridge: Intel\n', 1, undefined, /not an IOMMU group listing/],
    ['an lspci dump', '00:00.0 Host bridge [0600]: Intel\n\tIOMMU group: 4\n', 1, undefined, /not an IOMMU group listing/],
    ['a bad address in the one-line form', 'IOMMU group 1 00:00.0 a\nIOMMU group 2 00:20.0 b\n', 2, 'device', /"00:20.0" is not a PCI address/],
    ['a bad address in a block', 'IOMMU Group 1:\n\t00:00.0 a\n\t1:2.3 b\n', 3, 'device', /"1:2.3" is not a PCI address/],
    ['a device in two groups', 'IOMMU group 1 00:00.0 a\nIOMMU group 2 00:00.0 b\n', 2, 'device', /listed in group 1 \(line 1\) and in group 2/],
  ])('InputError: %s', (_what, text, line, field, message) => {
    let err: unknown;
    try {
      parseGroupListing(text, 'g.txt');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const e = err as InputError;
    expect(e.file).toBe('g.txt');
    expect(e.line).toBe(line);
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
  });

  it('an unreadable file is an InputError naming it', () => {
    expect(() => loadGroupListing(join(DIR, 'no-such-listing.txt'))).toThrow(InputError);
  });
});

describe('what a listing cannot hold (issue 16)', () => {
  const fmt = (text: string): string => {
    try {
      parseGroupListing(text, 'g.txt');
    } catch (e) {
      if (e instanceof InputError) return e.format();
      throw e;
    }
    return 'accepted';
  };
  it('a block header for a group already listed', () => {
    expect(fmt('IOMMU Group 1:\n\t00:01.0 PCI bridge\nIOMMU Group 2:\n\t00:02.0 VGA\nIOMMU Group 1:\n\t00:03.0 x\n')).toBe('g.txt:5: group: group 1 appears twice (first at line 1)');
  });
  it('one-line form repeats the number on every line: accepted', () => {
    expect(parseGroupListing('IOMMU Group 1 00:01.0 a\nIOMMU Group 1 00:01.1 b\n', 'g.txt').groups.get(1)).toEqual(['00:01.0', '00:01.1']);
  });
  it('a group number above the kernel int', () => {
    expect(fmt('IOMMU Group 2147483648:\n\t00:01.0 x\n')).toBe('g.txt:1: group: group number 2147483648 is above 2147483647 (the kernel\'s group IDs are ints)');
    expect(fmt('IOMMU Group 99999999999999999999999 00:01.0 x\n')).toMatch(/^g\.txt:1: group: group number 9+ is above/);
    expect(parseGroupListing('IOMMU Group 2147483647:\n\t00:01.0 x\n', 'g.txt').groups.get(2147483647)).toEqual(['00:01.0']);
  });
});
