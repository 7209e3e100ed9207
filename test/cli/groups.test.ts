// `remapsim groups`: IOMMU groups of lspci dumps (data/real-inputs/lspci), scenarios and
// machine group listings (data/real-inputs/groups), text and JSON output, --compare, and
// bad input (exit 2, one line naming file:line).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFabric } from '../../src/fabric/build.ts';
import { cli, jsonLines, repo, tempDir } from './cli-harness.ts';

const LSPCI_DIR = repo('data/real-inputs/lspci');
const GROUPS_DIR = repo('data/real-inputs/groups');
const LSPCI_FILES = readdirSync(LSPCI_DIR).sort();
const lspci = (prefix: string): string => join(LSPCI_DIR, LSPCI_FILES.find((f) => f.startsWith(prefix))!);
const T14 = lspci('lenovo-thinkpad-t14-gen3-amd');
const DELL = lspci('dell-latitude-9420');
const DL360 = lspci('hp-proliant-dl360-g7');

const tmp = tempDir('groups');
afterAll(() => tmp.cleanup());

function expectOneErrorLine(err: string): string {
  expect(err.endsWith('\n')).toBe(true);
  const lines = err.slice(0, -1).split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^remapsim: /);
  expect(err).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

/** Whether src/fabric/build.ts accepts PCI domains ≥ 0x10000 (Linux VMD domains). */
describe('groups on lspci dumps', () => {
  it('ThinkPad T14 Gen 3 AMD: text output, names, reasons, and a match with the dump\'s IOMMU group lines', async () => {
    const r = await cli(['groups', T14]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('group '))).toHaveLength(26);
    expect(lines).toContain('group 11: 00:14.0 00:14.3  [machine group 10]');
    expect(lines).toContain('  00:14.3  ISA bridge: Advanced Micro Devices, Inc. [AMD] FCH LPC Bridge');
    expect(lines).toContain('  - 00:14.3 with 00:14.0: multi-function device without ACS (00:14.3 lacks SV RR CR UF)');
    expect(lines).toContain('  - 04:00.0: isolated (no alias, no sibling or path without ACS)');
    expect(r.out).toMatch(/^machine: 25 groups; computed partition matches /m);
    // The IOMMU (00:00.2) and 00:00.0 have no group on the machine: named, not compared.
    expect(lines.at(-1)).toBe('  not compared, in no machine group: 00:00.0 00:00.2');
  });

  it('ThinkPad T14 Gen 3 AMD --json: one object per group, then the machine comparison', async () => {
    const r = await cli(['groups', T14, '--json']);
    expect(r.code).toBe(0);
    const rows = jsonLines(r.out);
    const groups = rows.filter((x) => 'group' in x);
    expect(groups).toHaveLength(26);
    for (const g of groups) {
      expect(Object.keys(g)).toEqual(['group', 'devices', 'reasons']);
      expect((g['reasons'] as unknown[]).length).toBeGreaterThan(0);
    }
    expect(groups.flatMap((g) => g['devices'] as string[])).toHaveLength(35);
    expect(groups.find((g) => (g['devices'] as string[]).includes('00:14.3'))).toMatchObject({
      devices: ['00:14.0', '00:14.3'],
      reasons: [
        { kind: 'own', device: '00:14.0' },
        { kind: 'multifunction-no-acs', device: '00:14.3', with: '00:14.0' },
      ],
    });
    expect(rows.at(-1)).toEqual({ machine: { groups: 25, match: true, onlyComputed: [], onlyMachine: [], notInMachine: ['00:00.0', '00:00.2'], notInFabric: [] } });
  });

  it('Dell Latitude 9420: 21 groups, exactly the machine\'s, the VMD domain with its controller', async () => {
    const r = await cli(['groups', DELL]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.split('\n').filter((l) => l.startsWith('group '))).toHaveLength(21);
    expect(r.out).toMatch(/^group \d+: 00:0e\.0 10000:e0:06\.0 10000:e1:00\.0 {2}\[machine group 10\]$/m);
    expect(r.out).toMatch(/^ {2}- 10000:e1:00\.0 aliases 00:0e\.0: its DMA carries 00:0e\.0's requester ID/m);
    expect(r.out).toMatch(/^machine: 21 groups; computed partition matches /m);
    const j = jsonLines((await cli(['groups', DELL, '--json'])).out);
    expect(j.at(-1)).toEqual({ machine: { groups: 21, match: true, onlyComputed: [], onlyMachine: [], notInMachine: [], notInFabric: [] } });
  });

  it('HP DL360 G7 (partial, trimmed): MISMATCH explained by the trimming, exit 1, the notes say what was assumed', async () => {
    const r = await cli(['groups', DL360]);
    expect(r.err).toBe('');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^note: no function of the dump has an "Express" capability line/m);
    expect(r.out).toMatch(/^machine: 16 groups; MISMATCH /m);
    expect(r.out).toContain('  computed, not on the machine: 00:0d.4 00:0d.5 00:0d.6\n');
    expect(r.out).toContain('  on the machine, not computed: 00:0d.4\n');
    // The ICH10 root ports 00:1c.0 and 00:1c.4 share machine group 26 and are computed together.
    expect(r.out).toMatch(/^group \d+: 00:1c\.0 00:1c\.4 {2}\[machine group 26\]$/m);
    const j = jsonLines((await cli(['groups', DL360, '--json'])).out);
    expect(j[0]).toHaveProperty('assumptions');
    expect(j.at(-1)).toMatchObject({ machine: { groups: 16, match: false } });
  });

  it('Dell PowerEdge R820 (trimmed, no group lines): buses without a bridge in the dump are noted, exit 0', async () => {
    const r = await cli(['groups', lspci('dell-poweredge-r820')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('note: bus 07 has no bridge in the dump: treated as a root bus\n');
    expect(r.out).toMatch(/^group \d+: 01:00\.0 01:00\.1 01:00\.2 01:00\.3$/m);
    expect(r.out).not.toMatch(/^machine:/m);
  });

  it('Lenovo IdeaPad (complete, no group lines): groups, no machine line', async () => {
    const r = await cli(['groups', lspci('lenovo-ideapad-gaming3')]);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/^(machine|note):/m);
    // The dGPU functions share the root port 00:01.0's group: it has no ACS.
    expect(r.out).toMatch(/^group \d+: 00:01\.0 01:00\.0 01:00\.1$/m);
    expect(r.out).toContain('  - 01:00.0: no ACS on the path to the root: 00:01.0 (root port) lacks SV RR CR UF\n');
  });
});

describe('groups on machine listings', () => {
  const COUNTS: Record<string, number> = {
    'ashtonian-kvm-aio-alderlake-iommu-groups.txt': 36,
    'asokolsky-duo-iommu-groups.md': 15,
    'asokolsky-fuji-iommu-groups.md': 15,
    'asokolsky-nas-iommu-groups.md': 20,
    'asokolsky-suprox-iommu-groups.md': 19,
    'ethanzhf-iommu_tools-server-iommu-tree.txt': 462,
  };

  it.each(Object.keys(COUNTS))('%s: printed as the machine reported it', async (f) => {
    const r = await cli(['groups', join(GROUPS_DIR, f)]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('group '))).toHaveLength(COUNTS[f]!);
    expect(lines.at(-1)).toBe(`machine: ${COUNTS[f]} groups (as listed)`);
    const j = jsonLines((await cli(['groups', join(GROUPS_DIR, f), '--json'])).out);
    expect(j).toHaveLength(COUNTS[f]!);
  });

  it('the tree form names each group\'s unit', async () => {
    const r = await cli(['groups', join(GROUPS_DIR, 'ethanzhf-iommu_tools-server-iommu-tree.txt')]);
    expect(r.out).toContain('group 15 (dmar15): 6a:00.4\n');
    const j = jsonLines((await cli(['groups', join(GROUPS_DIR, 'ethanzhf-iommu_tools-server-iommu-tree.txt'), '--json'])).out);
    expect(j.find((x) => x['group'] === 62)).toEqual({ group: 62, devices: ['00:1f.0', '00:1f.3', '00:1f.4', '00:1f.5'], unit: 'dmar19' });
  });
});

describe('--compare', () => {
  /** The T14's own IOMMU group lines, written as a one-line-form listing. */
  function t14Listing(edit: (groups: Map<number, string[]>) => void = () => {}): string {
    const groups = new Map<number, string[]>();
    let key: string | undefined;
    for (const l of readFileSync(T14, 'utf8').split('\n')) {
      const h = /^([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) /.exec(l);
      if (h) key = h[1];
      const g = /^\tIOMMU group: (\d+)$/.exec(l);
      if (g && key) groups.set(Number(g[1]), [...(groups.get(Number(g[1])) ?? []), key]);
    }
    edit(groups);
    return `\`\`\`\n${[...groups].flatMap(([n, ds]) => ds.map((d) => `IOMMU group ${n} 0000:${d} Some device [0000]: Vendor Device`)).join('\n')}\n\`\`\`\n`;
  }

  it('a listing that agrees: exit 0', async () => {
    const listing = tmp.write('t14.md', t14Listing());
    const r = await cli(['groups', T14, '--compare', listing]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`machine: 25 groups; computed partition matches (${listing})\n`);
  });

  it('a listing that differs: exit 1, the differing groups on both sides, devices the dump lacks named', async () => {
    const listing = tmp.write(
      't14-bad.md',
      t14Listing((g) => {
        // The machine put 04:00.0 and 04:00.1 (GPU + HDMI audio) in one group, and lists a device the dump lacks.
        g.set(15, ['04:00.0', '04:00.1']);
        g.delete(16);
        g.set(40, ['06:00.0']);
      }),
    );
    const r = await cli(['groups', T14, '--compare', listing]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`machine: 25 groups; MISMATCH (${listing})\n`);
    expect(r.out).toContain('  computed, not on the machine: 04:00.0\n');
    expect(r.out).toContain('  computed, not on the machine: 04:00.1\n');
    expect(r.out).toContain('  on the machine, not computed: 04:00.0 04:00.1\n');
    expect(r.out).toContain('  not compared, not in the input: 06:00.0\n');
    const j = jsonLines((await cli(['groups', T14, '--compare', listing, '--json'])).out);
    expect(j.at(-1)).toEqual({
      machine: { groups: 25, match: false, onlyComputed: [['04:00.0'], ['04:00.1']], onlyMachine: [['04:00.0', '04:00.1']], notInMachine: ['00:00.0', '00:00.2'], notInFabric: ['06:00.0'] },
    });
  });

  it('another lspci dump\'s IOMMU group lines can be the machine side', async () => {
    const r = await cli(['groups', T14, '--compare', T14]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^machine: 25 groups; computed partition matches /m);
  });

  it('a listing against a listing', async () => {
    const a = join(GROUPS_DIR, 'asokolsky-fuji-iommu-groups.md');
    expect((await cli(['groups', a, '--compare', a])).code).toBe(0);
    // The same machine with 00:14.0 and 00:14.2 (group 2) split apart.
    const b = tmp.write('fuji-split.md', readFileSync(a, 'utf8').replace(/^IOMMU group 2 (00:14\.2 .*)$/m, 'IOMMU group 99 $1'));
    const r = await cli(['groups', a, '--compare', b]);
    expect(r.code).toBe(1);
    expect(r.out).not.toContain('(as listed)');
    expect(r.out).toContain(`machine: 16 groups; MISMATCH (${b})\n  computed, not on the machine: 00:14.0 00:14.2\n  on the machine, not computed: 00:14.0\n  on the machine, not computed: 00:14.2\n`);
  });

  it('no device in common is no match', async () => {
    const listing = tmp.write('other.txt', 'IOMMU group 0 7f:00.0 Something\n');
    const r = await cli(['groups', T14, '--compare', listing]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('  no device in common\n');
  });
});

describe('groups on scenarios', () => {
  it('a scenario topology: the bridge alias group in words', async () => {
    const r = await cli(['groups', repo('specs/attacks/rid-alias-bridge-insecure.yaml')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^group \d+: 01:00\.0 05:00\.0 05:01\.0$/m);
    expect(r.out).toContain('  - 05:01.0 aliases 05:00.0 via PCIe-to-PCI bridge 01:00.0\n');
  });

  it('a scenario without a topology: every device alone', async () => {
    const r = await cli(['groups', repo('specs/default.yaml'), '--json']);
    expect(r.code).toBe(0);
    for (const g of jsonLines(r.out)) expect((g['devices'] as string[]).length).toBe(1);
  });
});

describe('bad input: exit 2, one line naming file and line', () => {
  it.each([
    ['a missing file', (): string => join(tmp.dir, 'no-such-file.txt'), /^remapsim: \S+no-such-file\.txt: cannot read input: /],
    ['neither a dump nor a listing', (): string => tmp.write('prose.txt', 'just some text\n'), /^remapsim: \S+prose\.txt:1: not a scenario \(\.yaml\), an lspci -vvv dump or an IOMMU group listing/],
    ['a header with device 20', (): string => tmp.write('bad-bdf.txt', '00:00.0 Host bridge [0600]: A\n00:20.0 Host bridge [0600]: A\n'), /^remapsim: \S+bad-bdf\.txt:2: device: "00:20\.0" is not a valid PCI address/],
    ['a malformed Bus line', (): string => tmp.write('bad-bus.txt', '00:01.0 PCI bridge [0604]: A\n\tBus: primary=00 secondary=01\n'), /^remapsim: \S+bad-bus\.txt:2: Bus: /],
    [
      'a topology that cannot exist (FabricError → the function\'s header line)',
      (): string =>
        tmp.write(
          'overlap.txt',
          '00:01.0 PCI bridge [0604]: A [1234:0001]\n\tBus: primary=00, secondary=01, subordinate=02, sec-latency=0\n\tCapabilities: [40] Express (v2) Root Port (Slot+), MSI 00\n00:02.0 PCI bridge [0604]: A [1234:0001]\n\tBus: primary=00, secondary=02, subordinate=02, sec-latency=0\n\tCapabilities: [40] Express (v2) Root Port (Slot+), MSI 00\n',
        ),
      /^remapsim: \S+overlap\.txt:4: secondary: 00:02\.0: /,
    ],
    ['a listing with a bad address', (): string => tmp.write('bad-listing.txt', 'IOMMU group 1 00:00.0 a\nIOMMU group 2 00:20.0 b\n'), /^remapsim: \S+bad-listing\.txt:2: device: "00:20\.0" is not a PCI address/],
  ])('%s', async (_what, make, want) => {
    const r = await cli(['groups', make()]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(expectOneErrorLine(r.err)).toMatch(want);
  });

  it('a --compare file that is no listing names --compare', async () => {
    const r = await cli(['groups', T14, '--compare', tmp.write('no-listing.txt', 'nothing here\n')]);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.err)).toMatch(/^remapsim: \S+no-listing\.txt:1: --compare: not an IOMMU group listing/);
  });

  it('a --compare dump without IOMMU group lines', async () => {
    const r = await cli(['groups', T14, '--compare', lspci('lenovo-ideapad-gaming3')]);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.err)).toMatch(/--compare: this lspci dump has no "IOMMU group:" lines/);
  });
});
