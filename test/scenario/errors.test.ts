// Bad scenarios: exit status 2 and exactly one stderr line `remapsim: FILE:LINE: FIELD: MESSAGE`
// naming the offending line (schema errors from parse.ts, semantic errors from compile.ts).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';

const tmp = tempDir('errors');
afterAll(() => tmp.cleanup());

/** 12 lines; steps appended after it start at line 13. */
const BASE = [
  'name: errors',
  'platform:',
  '  hostAddressWidth: 39',
  '  cpus: { count: 4 }',
  '  iommus:',
  '    - { registerBase: 0xfed90000, includePciAll: true }',
  'devices:',
  '  - { bdf: "00:03.0", msix: { tableSize: 4 } }',
  'domains:',
  '  - { name: host, kind: host, cpus: [0, 1] }',
  'steps:',
  '  - enable-ir: { iommu: 0, base: 0x100000, eime: true, entries: 256 }',
];

let n = 0;
/** Write BASE + `steps` lines; returns the file. */
function scenario(steps: readonly string[], base: readonly string[] = BASE): string {
  return tmp.write(`s${n++}.yaml`, [...base, ...steps].join('\n') + '\n');
}

/** Run `run FILE`, require exit 2, no stdout and exactly one stderr line; return that line. */
async function badRun(file: string, command: 'run' | 'dump' = 'run'): Promise<string> {
  const r = await cli([command, file]);
  expect(r.code).toBe(2);
  expect(r.out).toBe('');
  expect(r.err.endsWith('\n')).toBe(true);
  const lines = r.err.slice(0, -1).split('\n');
  expect(lines).toHaveLength(1);
  expect(r.err).not.toMatch(/\n\s+at |Error:/); // no stack trace, no JS error name
  return lines[0]!;
}

/** `remapsim: FILE:LINE: FIELD: MESSAGE` split into its parts. */
function parts(line: string, file: string): { line: number; field: string; message: string } {
  const prefix = `remapsim: ${file}:`;
  expect(line.startsWith(prefix)).toBe(true);
  const m = /^(\d+): (\S+): (.+)$/.exec(line.slice(prefix.length));
  expect(m, line).not.toBeNull();
  return { line: Number(m![1]), field: m![2]!, message: m![3]! };
}

describe('schema errors name file, line and field', () => {
  it('unknown field in a step', async () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1, vector: 0x30, colour: red }']);
    expect(await badRun(f)).toBe(`remapsim: ${f}:13: steps[1].irte.colour: unknown field`);
  });

  it('unknown field on its own line points at that line', async () => {
    const f = scenario(['  - irte:', '      iommu: 0', '      index: 1', '      colour: red']);
    expect(await badRun(f)).toBe(`remapsim: ${f}:16: steps[1].irte.colour: unknown field`);
  });

  it('wrong type: vector 300 does not fit 8 bits (the line of the value, not of the step)', async () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1,', '            vector: 300 }']);
    expect(await badRun(f)).toBe(`remapsim: ${f}:14: steps[1].irte.vector: must be <= 255`);
  });

  it('wrong type: a string where an integer is needed', async () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1, vector: "abc" }']);
    expect(await badRun(f)).toBe(`remapsim: ${f}:13: steps[1].irte.vector: must be integer`);
  });

  it('an enum value that is not allowed lists the allowed ones', async () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1, svt: bogus }']);
    expect(await badRun(f)).toBe(`remapsim: ${f}:13: steps[1].irte.svt: expected one of "none", "requester-id", "bus-range", "reserved"`);
  });

  it('missing required field', async () => {
    const f = scenario(['  - note: no data', '    msi: { device: "00:03.0", address: 0xfee00000 }']);
    expect(await badRun(f)).toBe(`remapsim: ${f}:14: steps[1].msi: missing required field 'data'`);
  });

  it('missing required top-level field', async () => {
    const f = scenario([], BASE.slice(1));
    expect(await badRun(f)).toBe(`remapsim: ${f}:1: (top level): missing required field 'name'`);
  });

  it('a BDF that is not a BDF', async () => {
    const f = scenario(['  - signal: { device: "zz:03.0", vector: 0 }']);
    const p = parts(await badRun(f), f);
    expect(p).toMatchObject({ line: 13, field: 'steps[1].signal.device' });
    expect(p.message).toMatch(/^expected a BDF bb:dd.f or ssss:bb:dd.f/);
  });

  it('an error in the platform section', async () => {
    const base = [...BASE];
    base[5] = '    - { registerBase: 0xfed90000, includePciAll: yes-please }';
    const f = scenario([], base);
    expect(await badRun(f)).toBe(`remapsim: ${f}:6: platform.iommus[0].includePciAll: must be boolean`);
  });

  it('dump reports the same error as run', async () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1, vector: 0x30, colour: red }']);
    expect(await badRun(f, 'dump')).toBe(`remapsim: ${f}:13: steps[1].irte.colour: unknown field`);
  });

  // Ajv lists the anyOf branches' errors first; the message must still explain the accepted forms.
  it('a u64 that does not fit 64 bits says what is accepted', async () => {
    const f = scenario(['  - msi: { device: "00:03.0", address: 0x1fee0000000000000, data: 0 }']);
    expect(await badRun(f)).toBe(`remapsim: ${f}:13: steps[1].msi.address: expected an integer below 2^53 or a hex string like "0xfee00000" (at most 16 hex digits; 32 for a raw IRTE)`);
  });
});

describe('semantic errors name file, line and field', () => {
  it('a step with two actions', async () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1, vector: 0x30 }', '    invalidate-iec: { iommu: 0 }']);
    expect(await badRun(f)).toBe(`remapsim: ${f}:13: steps[1]: a step has one action, found irte and invalidate-iec`);
  });

  it('a step with no action', async () => {
    const f = scenario(['  - note: nothing to do']);
    const p = parts(await badRun(f), f);
    expect(p).toMatchObject({ line: 13, field: 'steps[1]' });
    expect(p.message).toMatch(/^a step needs one action \(/);
  });

  // Fields of semantic errors are checked up to the separator (see the .fails test below).
  const field = (dotted: string): RegExp =>
    new RegExp(`^${dotted.split('.').map((p, i) => (/^\d+$/.test(p) ? `(\\[${p}\\]|\\.${p})` : `${i === 0 ? '' : '\\.'}${p}`)).join('')}$`);

  it('an unknown device BDF in a step', async () => {
    const f = scenario(['  - note: a device that is not declared', '    signal: { device: "00:04.0", vector: 0 }']);
    const p = parts(await badRun(f), f);
    expect(p.line).toBe(14);
    expect(p.field).toMatch(field('steps.1.signal.device'));
    expect(p.message).toBe("no device 00:04.0 in the scenario's devices");
  });

  it('an unknown device in a grant step', async () => {
    const f = scenario(['  - grant: { device: "00:09.0", vector: 0x30, apicId: 1 }']);
    const p = parts(await badRun(f), f);
    expect(p.line).toBe(13);
    expect(p.field).toMatch(field('steps.1.grant.device'));
    expect(p.message).toBe("no device 00:09.0 in the scenario's devices");
  });

  it('a domain name that does not exist', async () => {
    const f = scenario(['  - assign:', '      device: "00:03.0"', '      domain: vm9']);
    const p = parts(await badRun(f), f);
    expect(p.line).toBe(15);
    expect(p.field).toMatch(field('steps.1.assign.domain'));
    expect(p.message).toBe('no domain vm9');
  });

  it('an IRTE with both destination and dst', async () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1, vector: 0x30, destination: 1,', '            dst: 2 }']);
    const p = parts(await badRun(f), f);
    expect(p.line).toBe(14);
    expect(p.field).toMatch(field('steps.1.irte.dst'));
    expect(p.message).toBe('give destination or dst, not both');
  });

  it('a remapping unit the platform does not have', async () => {
    const f = scenario(['  - clear-irte: { iommu: 3, index: 0 }']);
    const p = parts(await badRun(f), f);
    expect(p.line).toBe(13);
    expect(p.field).toMatch(field('steps.1.clear-irte.iommu'));
    expect(p.message).toBe('no remapping unit 3: the platform has 1');
  });

  it('an APIC ID that does not fit an xAPIC-mode (EIME=0) IRTE', async () => {
    const f = scenario(['  - enable-ir: { iommu: 0, base: 0x100000, eime: false, entries: 256 }', '  - irte: { iommu: 0, index: 1, vector: 0x30, destination: 256 }']);
    const p = parts(await badRun(f), f);
    expect(p.line).toBe(14);
    expect(p.field).toMatch(field('steps.2.irte.destination'));
    expect(p.message).toBe('APIC ID 256 does not fit an IRTE destination with EIME=0');
  });

  it('a domain naming a pCPU the platform does not have', async () => {
    const base = [...BASE];
    base[9] = '  - { name: host, kind: host, cpus: [0, 9] }';
    const f = scenario([], base);
    const p = parts(await badRun(f), f);
    expect(p.line).toBe(10);
    expect(p.field).toMatch(field('domains.0.cpus.1'));
    expect(p.message).toBe('no pCPU 9: the platform has 4');
  });

  it('a device declared twice', async () => {
    const base = [...BASE];
    base.splice(8, 0, '  - { bdf: "0:3.0" }');
    const f = scenario([], base);
    const p = parts(await badRun(f), f);
    expect(p.line).toBe(9);
    expect(p.field).toMatch(field('devices.1.bdf'));
    expect(p.message).toBe('device 00:03.0 is declared twice');
  });

  it('semantic errors use the same field notation as schema errors (steps[1].signal.device)', async () => {
    const f = scenario(['  - signal: { device: "00:04.0", vector: 0 }']);
    expect(parts(await badRun(f), f).field).toBe('steps[1].signal.device');
  });
});

describe('file-level errors', () => {
  it('a missing file: exit 2, one line naming it', async () => {
    const f = join(tmp.dir, 'does-not-exist.yaml');
    expect(await badRun(f)).toBe(`remapsim: ${f}: cannot read scenario: no such file or directory (ENOENT)`);
  });

  it('a YAML syntax error: exit 2, one line naming the file and the parser message', async () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1, vector: 0x30', '  - signal: [']);
    const line = await badRun(f);
    expect(line.startsWith(`remapsim: ${f}`)).toBe(true);
    expect(line).toMatch(/must be sufficiently indented and end with a \}/);
  });

  it('a YAML syntax error names its line', async () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1, vector: 0x30', '  - signal: [']);
    expect(await badRun(f)).toMatch(new RegExp(`^remapsim: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:14: `));
  });

  it('a duplicate key names its line', async () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1, index: 2 }']);
    expect(await badRun(f)).toMatch(/:13: steps\[1\]\.irte\.index: duplicate key: map keys must be unique/);
  });

  it('an empty file: the top level must be a mapping', async () => {
    const f = tmp.write('empty.yaml', '');
    expect(await badRun(f)).toBe(`remapsim: ${f}: (top level): must be object`);
  });

  it('a platform whose DMAR is an AMD IVRS table: exit 2, one line', async () => {
    const base = [...BASE.slice(0, 4), `  dmar: ${repo('data/real-inputs/ivrs/framework-laptop16.bin')}`, 'steps: []'];
    const f = scenario([], base);
    expect(await badRun(f)).toContain('AMD IVRS is not supported yet');
  });

  it('the shipped bin: exit 2, one stderr line, no stack trace', () => {
    const f = scenario(['  - irte: { iommu: 0, index: 1, vector: 300 }']);
    const r = spawnSync(process.execPath, [repo('bin/remapsim.js'), 'run', f], { cwd: repo(), encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`remapsim: ${f}:13: steps[1].irte.vector: must be <= 255\n`);
  });
});
