// The default scenario (specs/default.yaml, what `npm start` runs): trace, JSON trace,
// determinism (P5), the IRT dump in Linux debugfs `ir_translation_struct` layout, and the
// exit status when an expectation or P1 does not hold.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, jsonLines, repo, tempDir, type CliResult } from '../cli/cli-harness.ts';

const DEFAULT = repo('specs/default.yaml');
const tmp = tempDir('default');
afterAll(() => tmp.cleanup());

/** specs/default.yaml with `edit` applied, written to the temp dir (the DMAR path made absolute). */
function variant(name: string, edit: (text: string) => string): string {
  const text = readFileSync(DEFAULT, 'utf8').replace('dmar: ../data/real-inputs/dmar/', `dmar: ${repo('data/real-inputs/dmar')}/`);
  const edited = edit(text);
  expect(edited).not.toBe(text); // the edit applied
  return tmp.write(name, edited);
}

let text: CliResult;
let json: CliResult;
beforeAll(async () => {
  text = await cli(['run', DEFAULT]);
  json = await cli(['run', DEFAULT, '--json']);
});

describe('run specs/default.yaml', () => {
  it('exits 0 with nothing on stderr', () => {
    expect(text.code).toBe(0);
    expect(text.err).toBe('');
  });

  it('ends with the P1 verdict: HELD, 5 deliveries, 5 blocked', () => {
    const lines = text.out.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/^P1 interrupt isolation: HELD/);
    expect(lines.at(-1)).toBe('P1 interrupt isolation: HELD (5 deliveries, 5 blocked)');
    expect(text.out.endsWith('\n')).toBe(true);
    expect(lines[0]).toBe('scenario: default');
  });

  it('every expectation holds and no line reports a failure or violation', () => {
    const steps = (readFileSync(DEFAULT, 'utf8').match(/^\s+expect: /gm) ?? []).length;
    expect(steps).toBe(11);
    expect(text.out.match(/^ {4}expect: ok$/gm)).toHaveLength(steps);
    expect(text.out).not.toMatch(/EXPECTATION FAILED|VIOLATION|rejected:/);
  });

  it('each step header carries the step number and its line in the YAML', () => {
    const yaml = readFileSync(DEFAULT, 'utf8').split('\n');
    const headers = [...text.out.matchAll(/^#(\d+) (\S+).*\(line (\d+)\)$/gm)];
    expect(headers).toHaveLength(31);
    headers.forEach((h, i) => {
      expect(Number(h[1])).toBe(i);
      // The step's line starts the sequence item (`- `) and names its action or its note.
      const src = yaml[Number(h[3]) - 1]!;
      expect(src).toMatch(/^\s+- /);
      expect(src.includes(`${h[2]!}:`) || src.includes('note:')).toBe(true);
    });
  });

  it('shows the forged interrupts blocked with their VT-d fault reasons', () => {
    expect(text.out).toContain('03:00.0 MSI fee00458/00000000 → BLOCKED by dmar2: fault 0x26');
    expect(text.out).toContain('03:00.0 MSI fee00000/00000030 → BLOCKED by dmar2: fault 0x25');
    expect(text.out).toContain('03:00.0 MSI fee7ffd8/00000000 → BLOCKED by dmar2: fault 0x21');
    expect(text.out).toContain('(index 0x3ffe)');
  });
});

describe('run specs/default.yaml --json', () => {
  it('exits 0; every line is JSON with a kind; the verdicts come last, in property order', () => {
    expect(json.code).toBe(0);
    expect(json.err).toBe('');
    const rows = jsonLines(json.out);
    expect(rows.length).toBeGreaterThan(30);
    for (const r of rows) expect(typeof r['kind']).toBe('string');
    expect(rows.find((r) => r['kind'] === 'verdict' && r['property'] === 'P1')).toEqual({ kind: 'verdict', property: 'P1', held: true, violations: [] });
    // P1, then P6 (five interrupt requests were blocked, each recorded in an FRCD): P1..P7 order.
    expect(rows.filter((r) => r['kind'] === 'verdict').map((r) => r['property'])).toEqual(['P1', 'P6']);
    expect(rows.slice(-2).every((r) => r['kind'] === 'verdict')).toBe(true);
    expect(rows.filter((r) => r['kind'] === 'expectation-failed')).toHaveLength(0);
  });

  it('events are in step order and carry the scenario step', () => {
    const events = jsonLines(json.out).filter((e) => e['kind'] !== 'verdict');
    let lastStep = -1;
    let lastScenarioStep = -1;
    for (const e of events) {
      expect(e['step'] as number).toBeGreaterThanOrEqual(lastStep);
      expect(e['scenarioStep'] as number).toBeGreaterThanOrEqual(lastScenarioStep);
      lastStep = e['step'] as number;
      lastScenarioStep = e['scenarioStep'] as number;
    }
    expect(lastScenarioStep).toBe(30);
  });

  it('the deliveries: each granted vector at its granted CPU, through the remapped path', () => {
    const delivered = jsonLines(json.out).filter((e) => e['kind'] === 'interrupt-delivered');
    expect(delivered.map((e) => [e['device'], e['iommu'], e['irteIndex'], e['vector'], e['destination'], e['targets'], e['path']])).toEqual([
      ['81:00.0', 0, 0, 0x30, 2, [2], 'remapped'],
      ['81:00.0', 0, 1, 0x31, 3, [3], 'remapped'],
      ['03:00.0', 2, 0x20, 0x40, 6, [6], 'remapped'],
      ['03:00.0', 2, 0x21, 0x41, 7, [7], 'remapped'],
      ['03:00.1', 2, 0x22, 0x32, 4, [4], 'remapped'],
    ]);
  });

  it('the faults: reasons 0x26 0x25 0x21 0x22 0x20, recorded in FRCD0..4 of dmar2', () => {
    const faults = jsonLines(json.out).filter((e) => e['kind'] === 'interrupt-fault');
    expect(faults.map((e) => [e['iommu'], e['reason'], e['irteIndex'], e['frcd'], e['rid']])).toEqual([
      [2, 0x26, 0x22, 0, 0x0300],
      [2, 0x25, undefined, 1, 0x0300],
      [2, 0x21, 0x3ffe, 2, 0x0300],
      [2, 0x22, 0x50, 3, 0x0300],
      [2, 0x20, undefined, 4, 0x0300],
    ]);
    // Bigints are hex strings in JSON.
    expect(faults[0]!['address']).toBe('0xfee00458');
  });
});

describe('determinism (P5)', () => {
  it('running twice gives byte-identical text and JSON output', async () => {
    expect((await cli(['run', DEFAULT])).out).toBe(text.out);
    expect((await cli(['run', DEFAULT, '--json'])).out).toBe(json.out);
    expect((await cli(['dump', DEFAULT])).out).toBe((await cli(['dump', DEFAULT])).out);
  });

  it('the shipped bin (node bin/remapsim.js run specs/default.yaml) exits 0 with the same bytes', () => {
    const r = spawnSync(process.execPath, ['bin/remapsim.js', 'run', 'specs/default.yaml'], { cwd: repo(), encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // The in-process run used an absolute path; the trace does not print the file name.
    expect(r.stdout).toBe(text.out);
  });
});

// ---------------------------------------------------------------------------------------
// dump

/** Linux's ir_translation_struct column header (drivers/iommu/intel/debugfs.c). */
const LINUX_HEADER = ' Entry SrcID   DstID    Vct IRTE_high           IRTE_low';

/** The unit sections of a dump, by unit name. */
function sections(dump: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const block of dump.trimEnd().split(/\n\n(?= Remapped Interrupt supported)/)) {
    const lines = block.split('\n');
    const name = /^ Remapped Interrupt supported on IOMMU: (dmar\d+)/.exec(lines[0]!)?.[1];
    expect(name, lines[0]).toBeDefined();
    out.set(name!, lines);
  }
  return out;
}

/** Present-entry rows of a section, cut to the columns Linux prints. */
const rows = (lines: readonly string[]): string[] => lines.filter((l) => /^ \d+ +\S+ [0-9a-f]{8} /.test(l)).map((l) => l.slice(0, 64).trimEnd());

/**
 * The row Linux would print for a remapped-format IRTE with EIME=1 (x2APIC DST in
 * IRTE bits 63:32), built from the VT-d IRTE layout: low = DST<<32 | vector<<16 | P;
 * high = SVT<<18 | SQ<<16 | SID.
 */
function linuxRow(index: number, bus: number, dev: number, fn: number, dest: number, vector: number, svt: number, sq: number): string {
  const sid = (bus << 8) | (dev << 3) | fn;
  const low = (BigInt(dest) << 32n) | (BigInt(vector) << 16n) | 1n;
  const high = (BigInt(svt) << 18n) | (BigInt(sq) << 16n) | BigInt(sid);
  const bdf = `${bus.toString(16).padStart(2, '0')}:${dev.toString(16).padStart(2, '0')}.${fn}`;
  const hex = (v: bigint | number, n: number): string => v.toString(16).padStart(n, '0');
  return ` ${String(index).padEnd(6)}${bdf.padEnd(8)}${hex(dest, 8)} ${hex(vector, 2)}  ${hex(high, 16)}    ${hex(low, 16)}`;
}

describe('dump specs/default.yaml', () => {
  let dump: CliResult;
  beforeAll(async () => {
    dump = await cli(['dump', DEFAULT]);
  });

  it('exits 0 and lists the three units of the Supermicro X10DAi DMAR', () => {
    expect(dump.code).toBe(0);
    expect(dump.err).toBe('');
    expect([...sections(dump.out).keys()]).toEqual(['dmar0', 'dmar1', 'dmar2']);
  });

  it('each enabled unit has the Linux column header (followed by the decoded column)', () => {
    for (const name of ['dmar0', 'dmar2']) {
      const lines = sections(dump.out).get(name)!;
      const header = lines.find((l) => l.startsWith(' Entry'));
      expect(header?.startsWith(LINUX_HEADER)).toBe(true);
    }
  });

  it('dmar0: entries 0 and 1 for 81:00.0, table at 0x100000000', () => {
    const s = sections(dump.out).get('dmar0')!;
    expect(s[1]).toBe(' IR table address:100000000');
    expect(rows(s)).toEqual([linuxRow(0, 0x81, 0, 0, 2, 0x30, 1, 0), linuxRow(1, 0x81, 0, 0, 3, 0x31, 1, 0)]);
    expect(rows(s)[0]).toBe(' 0     81:00.0 00000002 30  0000000000048100    0000000200300001');
  });

  it('dmar1 (the HD-audio unit) was never enabled', () => {
    const s = sections(dump.out).get('dmar1')!;
    expect(s[0]).toMatch(/^ Remapped Interrupt supported on IOMMU: dmar1 \(IR disabled: GSTS\.IRES=0\b/);
    expect(rows(s)).toEqual([]);
  });

  it('dmar2: entries 32, 33 (03:00.0) and 34 (03:00.1), and the five fault records', () => {
    const s = sections(dump.out).get('dmar2')!;
    expect(s[1]).toBe(' IR table address:100100000');
    expect(rows(s)).toEqual([
      linuxRow(32, 3, 0, 0, 6, 0x40, 1, 0),
      linuxRow(33, 3, 0, 0, 7, 0x41, 1, 0),
      linuxRow(34, 3, 0, 1, 4, 0x32, 1, 0),
    ]);
    expect(rows(s)[0]).toBe(' 32    03:00.0 00000006 40  0000000000040300    0000000600400001');
    const full = s.find((l) => l.startsWith(' 32 '))!;
    expect(full.slice(64).trim()).toBe('P V=0x40 DST=00000006 fixed edge physical SVT=1(requester-id) SQ=0 SID=03:00.0');
    // FRCD: F (bit 127), reason (bits 103:96), SID (bits 79:64), fault index (bits 63:48).
    const frcd = s.find((l) => l.startsWith(' Pending fault records: '))!;
    expect(frcd).toBe(
      ' Pending fault records: FRCD0=80000026000003000022000000000000 FRCD1=80000025000003000000000000000000 FRCD2=80000021000003003ffe000000000000 FRCD3=80000022000003000050000000000000 FRCD4=80000020000003000000000000000000',
    );
  });

  it('reproduces the real Kaby Lake ir_translation_struct example (Linux Documentation/ABI/testing/debugfs-intel-iommu)', async () => {
    const example = readFileSync(repo('data/real-inputs/debugfs/intel-iommu-debugfs-kabylake-examples.txt'), 'utf8').split('\n');
    const start = example.indexOf(' Remapped Interrupt supported on IOMMU: dmar0');
    const linuxDmar0 = example.slice(start, start + 6);
    expect(linuxDmar0[4]).toBe(' 0     00:0a.0 00000080 24  0000000000040050    000000800024000d');
    const f = tmp.write(
      'kabylake.yaml',
      [
        'name: kabylake debugfs example',
        'platform:',
        '  hostAddressWidth: 39',
        '  cpus: { count: 4 }',
        '  iommus:',
        '    - { registerBase: 0xfed90000 }',
        '    - { registerBase: 0xfed91000, includePciAll: true }',
        'steps:',
        '  - enable-ir: { iommu: 0, base: 0x100900000, eime: true, entries: 256 }',
        '  - irte: { iommu: 0, index: 0, raw: "0x0000000000040050000000800024000d" }',
        '  - irte: { iommu: 0, index: 1, raw: "0x00000000000400500000000100ef000d" }',
        '  - enable-ir: { iommu: 1, base: 0x100300000, eime: true, entries: 256 }',
        '  - irte: { iommu: 1, index: 0, raw: "0x0000000000040010000000020026000d" }',
      ].join('\n'),
    );
    const r = await cli(['dump', f]);
    expect(r.code).toBe(0);
    const ours = r.out.split('\n');
    const at = ours.indexOf(' Remapped Interrupt supported on IOMMU: dmar0');
    // Our lines start with Linux's (we add a decoded column after IRTE_low).
    linuxDmar0.forEach((l, i) => expect(ours[at + i]!.startsWith(l), `${JSON.stringify(ours[at + i])} starts with ${JSON.stringify(l)}`).toBe(true));
    expect(rows(sections(r.out).get('dmar1')!)).toEqual([' 0     00:02.0 00000002 26  0000000000040010    000000020026000d']);
    // The decoded column reads the bits the way PROVENANCE.md describes: P, logical, RH, vector 0x24, dest 0x80, SVT=1 SID 00:0a.0.
    expect(ours[at + 4]).toContain('P V=0x24 DST=00000080 fixed edge logical RH SVT=1(requester-id) SQ=0 SID=00:0a.0');
  });

  it('marks an entry the IEC still holds in an older version', async () => {
    const f = tmp.write(
      'stale.yaml',
      [
        'name: stale',
        'platform:',
        '  hostAddressWidth: 39',
        '  cpus: { count: 2 }',
        '  iommus: [{ registerBase: 0xfed90000, includePciAll: true }]',
        'devices: [{ bdf: "00:03.0" }]',
        'grants: [{ device: "00:03.0", vector: 0x30, apicId: 1 }]',
        'steps:',
        '  - enable-ir: { iommu: 0, base: 0x100000, eime: true, entries: 256 }',
        '  - irte: { iommu: 0, index: 5, vector: 0x30, destination: 1 }',
        '  - msi: { device: "00:03.0", address: 0xfee000b8, data: 0 }',
        '  - irte: { iommu: 0, index: 5, vector: 0x31, destination: 1 }',
      ].join('\n'),
    );
    const r = await cli(['dump', f]);
    expect(r.code).toBe(0);
    const row = r.out.split('\n').find((l) => l.startsWith(' 5 '))!;
    expect(row.slice(0, 64).trimEnd()).toBe(' 5     00:00.0 00000001 31  0000000000000000    0000000100310001');
    expect(row).toContain('[IEC holds stale 00000000000000000000000100300001]');
  });
});

// ---------------------------------------------------------------------------------------
// failure exit status

describe('when the scenario does not hold', () => {
  it('an expectation that does not hold: exit 1 and EXPECTATION FAILED, P1 still judged', async () => {
    const f = variant('wrong-expect.yaml', (t) => t.replace('expect: { delivered: { path: remapped, vector: 0x30, destination: 2, cpus: [2] } }', 'expect: { delivered: { path: remapped, vector: 0x31, destination: 2, cpus: [2] } }'));
    const r = await cli(['run', f]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('');
    const failed = r.out.split('\n').filter((l) => l.includes('EXPECTATION FAILED'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatch(/^ {4}EXPECTATION FAILED: expected a delivery .*"vector":49.*, got delivery of vector 0x30 to 2 \(remapped\)$/);
    expect(r.out).toContain('1 expectation(s) failed');
    expect(r.out.trimEnd().split('\n').at(-1)).toBe('P1 interrupt isolation: HELD (5 deliveries, 5 blocked)');

    const j = jsonLines((await cli(['run', f, '--json'])).out);
    const ef = j.filter((e) => e['kind'] === 'expectation-failed');
    expect(ef).toHaveLength(1);
    expect(ef[0]).toMatchObject({ scenarioStep: 20, line: 60 }); // the first `signal` step
    expect(j.find((e) => e['kind'] === 'verdict' && e['property'] === 'P1')).toMatchObject({ kind: 'verdict', held: true });
    expect((await cli(['dump', f])).code).toBe(1);
  });

  it('an expected fault that does not happen: exit 1', async () => {
    const f = variant('wrong-fault.yaml', (t) => t.replace('expect: { fault: { reason: 0x21, index: 0x3ffe } }', 'expect: { fault: { reason: 0x22, index: 0x3ffe } }'));
    const r = await cli(['run', f]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/EXPECTATION FAILED: expected fault 0x22 at index 16382, got fault 0x21/);
  });

  it('a delivery no grant covers: exit 1 and P1 VIOLATED', async () => {
    const f = variant('no-grant.yaml', (t) => t.replace('  - { device: "03:00.1", vector: 0x32, apicId: 4 }\n', ''));
    const r = await cli(['run', f]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^VIOLATION P1 at action \d+: 03:00\.1 .* reached cpu4 \(APIC 4\) with vector 0x32 fixed via the remapped path \(IRTE 34\): no grant covers it$/m);
    expect(r.out.trimEnd().split('\n').at(-1)).toBe('P1 interrupt isolation: VIOLATED (1 violation(s) in 5 deliveries)');
    const last = jsonLines((await cli(['run', f, '--json'])).out).find((e) => e['kind'] === 'verdict' && e['property'] === 'P1')!;
    expect(last).toMatchObject({ kind: 'verdict', property: 'P1', held: false });
    expect(last['violations']).toHaveLength(1);
  });
});
