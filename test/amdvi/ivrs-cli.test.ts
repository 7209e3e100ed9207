// `remapsim import ivrs FILE [--json] [--scenario OUT]` and `remapsim import FILE` (dmar/ivrs by
// signature) on the real tables of data/real-inputs/ivrs, with a golden summary, one-line
// errors (exit 2) for corrupt input, and the scenario skeleton.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';

const IVRS_DIR = repo('data/real-inputs/ivrs');
const DMAR_DIR = repo('data/real-inputs/dmar');
const IVRS_FILES = readdirSync(IVRS_DIR).filter((f) => /\.(bin|dsl)$/.test(f)).sort();
const ivrs = (f: string): string => join(IVRS_DIR, f);

const tmp = tempDir('ivrs-cli');
afterAll(() => tmp.cleanup());

function oneErrorLine(err: string): string {
  expect(err.endsWith('\n')).toBe(true);
  const lines = err.slice(0, -1).split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^remapsim: /);
  expect(err).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

const H8DGU_GOLDEN = `IVRS: ACPI IVRS rev 1 length 176 OEM "AMD  " "RD890S" rev 0x202031 creator "AMD " rev 0x0
IVRS: IVinfo 0x00203400: GVASize 0 PASize 52 VASize 64
IVRS: Linux uses IVHD type 10h (the last type listed for the first IVHD's device)
IOMMU 0: 0000:00:00.2 base 0x00000000f6000000 cap 0x40 (IVHD 10h at 0x30)
  IVHD 10h at offset 0x30, 128 bytes: flags 0x3e PassPW ResPassPW Isoc IotlbSup Coherent; MsiNum 0 UnitID 19
    feature reporting 0x0: none
    devices 0000:00:00.0 - 0000:00:00.2
    device 0000:00:02.0
    device 0000:04:00.0
    device 0000:00:04.0
    devices 0000:02:00.0 - 0000:02:1f.7
    device 0000:00:11.0
    devices 0000:00:12.0 - 0000:00:12.2
    devices 0000:00:13.0 - 0000:00:13.2
    device 0000:00:14.0, setting 0xd7 INITPass EIntPass NMIPass SysMgt=1 Lint0Pass Lint1Pass
    device 0000:00:14.3
    device 0000:00:14.4
    devices 0000:01:00.0 - 0000:01:1f.7, alias: requests seen as 0000:00:14.4
    device 0000:00:14.5
    special IOAPIC 0 = 0000:00:14.0, setting 0xd7 INITPass EIntPass NMIPass SysMgt=1 Lint0Pass Lint1Pass
    special HPET 0 = 0000:00:14.0, setting 0xd7 INITPass EIntPass NMIPass SysMgt=1 Lint0Pass Lint1Pass
    special IOAPIC 1 = 0000:00:00.1
    (1 padding entry)
`;

describe('remapsim import ivrs', () => {
  it.each(IVRS_FILES)('%s: exit 0 with a summary', async (f) => {
    const r = await cli(['import', 'ivrs', ivrs(f)]);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out).toMatch(/^IVRS: ACPI IVRS rev [12] length \d+ /);
    expect(r.out).toMatch(/^IOMMU 0: /m);
  });

  it('golden summary: Supermicro H8DGU (bin and dsl print the same)', async () => {
    expect((await cli(['import', 'ivrs', ivrs('supermicro-h8dgu.bin')])).out).toBe(H8DGU_GOLDEN);
    expect((await cli(['import', 'ivrs', ivrs('supermicro-h8dgu.dsl')])).out).toBe(H8DGU_GOLDEN);
  });

  it('Zenith II summary: Linux EFR line per IVHD 11h, 4 units, IOAPIC specials', async () => {
    const out = (await cli(['import', 'ivrs', ivrs('asus-rog-zenith-ii-extreme-alpha-trx40.bin')])).out;
    expect(out.match(/AMD-Vi: Extended features \(0x58f77ef22294ade, 0x0\): PPR X2APIC NX GT IA GA PC GA_vAPIC$/gm)).toHaveLength(4);
    expect(out.match(/^IOMMU \d: /gm)).toHaveLength(4);
    expect(out).toContain('special IOAPIC 128 = 0000:00:14.0');
    expect(out).toContain('devices 0000:ff:00.0 - 0000:ff:1f.7, alias: requests seen as 0000:00:14.4');
  });

  it('T14 summary: the type 0x51 subtable is reported as skipped, with its bytes', async () => {
    const out = (await cli(['import', 'ivrs', ivrs('lenovo-thinkpad-t14-gen3-amd.dsl')])).out;
    expect(out).toContain('IVRS: skipped unknown subtable type 0x51 at offset 0x1c4, 32 bytes: 51082000');
    expect(out).toContain('IVMD 21h at offset 0xd0: device 0000:03:00.0, flags 0x8 ExclusionRange, start 0x000000007132f000 length 0x26000');
    expect(out).toContain('ACPI device AMDI0020 UID "\\_SB.FUR0" = 0000:00:14.5');
  });

  it('--json: the model, bigints as "0x…" strings, same for bin and dsl', async () => {
    const a = await cli(['import', 'ivrs', ivrs('framework-laptop16.bin'), '--json']);
    const b = await cli(['import', 'ivrs', '--json', ivrs('framework-laptop16.dsl')]);
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    const j = JSON.parse(a.out) as { ivhd: { type: number; baseAddress: string; efrImage?: string }[] };
    expect(j.ivhd.map((h) => h.type)).toEqual([0x10, 0x11, 0x40]);
    expect(j.ivhd[0]!.baseAddress).toMatch(/^0x[0-9a-f]{16}$/);
    expect(j.ivhd[1]!.efrImage).toMatch(/^0x[0-9a-f]{16}$/);
  });

  it.each([
    ['truncated', (b: Buffer) => b.subarray(0, 100), 'header at offset 0x4: Table Length: truncated'],
    ['corrupt checksum', (b: Buffer) => Buffer.from(b.map((x, i) => (i === 60 ? x ^ 0xff : x))), 'header at offset 0x9: Checksum'],
    ['empty', () => Buffer.alloc(0), 'header at offset 0x0: Signature'],
  ] as const)('%s input: exit 2, one line naming the file and field', async (name, edit, field) => {
    const f = join(tmp.dir, `${name.replace(/ /g, '-')}.bin`);
    writeFileSync(f, edit(readFileSync(ivrs('asus-prime-x399-a.bin'))));
    for (const argv of [['import', 'ivrs', f], ['import', f]]) {
      const r = await cli(argv);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      const line = oneErrorLine(r.err);
      if (argv.length === 3 || name !== 'empty') expect(line).toContain(`remapsim: ${f}: ${field}`);
    }
  });

  it('corrupt dsl: exit 2, one line with file:line', async () => {
    const text = readFileSync(ivrs('asus-prime-x399-a.dsl'), 'utf8').replace(/Table Length : 00000130/, 'Table Length : 00000131');
    const f = tmp.write('bad-length.dsl', text);
    const r = await cli(['import', 'ivrs', f]);
    expect(r.code).toBe(2);
    expect(oneErrorLine(r.err)).toMatch(new RegExp(`^remapsim: ${f.replace(/[.]/g, '\\.')}:\\d+: Raw Table Data: dump has 304 bytes, Table Length says 305$`));
  });

  it('a missing file: exit 2, one line', async () => {
    const r = await cli(['import', 'ivrs', join(tmp.dir, 'nope.bin')]);
    expect(r.code).toBe(2);
    expect(oneErrorLine(r.err)).toContain('ENOENT');
  });
});

describe('remapsim import FILE chooses dmar or ivrs by signature', () => {
  it.each(IVRS_FILES)('%s → the IVRS summary, as import ivrs', async (f) => {
    const a = await cli(['import', ivrs(f)]);
    expect(a.code).toBe(0);
    expect(a.out).toBe((await cli(['import', 'ivrs', ivrs(f)])).out);
  });
  it.each(['hp-z240-sff.bin', 'hp-z240-sff.dsl', 'apple-macbookpro14-3.dsl'])('DMAR %s → the DMAR summary, as import dmar', async (f) => {
    const a = await cli(['import', join(DMAR_DIR, f)]);
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/^DMAR: ACPI DMAR /);
    expect(a.out).toBe((await cli(['import', 'dmar', join(DMAR_DIR, f)])).out);
  });
  it('options pass through: import FILE --json, import dmar FILE --json', async () => {
    expect(JSON.parse((await cli(['import', ivrs('supermicro-h8dgu.bin'), '--json'])).out)).toHaveProperty('ivhd');
    expect(JSON.parse((await cli(['import', join(DMAR_DIR, 'hp-z240-sff.bin'), '--json'])).out)).toHaveProperty('drhd');
    expect(JSON.parse((await cli(['import', 'dmar', join(DMAR_DIR, 'hp-z240-sff.bin'), '--json'])).out)).toHaveProperty('drhd');
  });
  it('a dsl whose first line is the title "IVRS" is sniffed as text', async () => {
    const text = readFileSync(ivrs('supermicro-h8dgu.dsl'), 'utf8').split('\n').slice(5).join('\n');
    expect(text.startsWith('IVRS\n----\n')).toBe(true);
    const f = tmp.write('titled.dsl', text);
    const r = await cli(['import', f]);
    expect([r.code, r.out]).toEqual([0, H8DGU_GOLDEN]);
  });
  it('neither DMAR nor IVRS: exit 2, one line', async () => {
    const f = tmp.write('facp.bin', 'FACP\0\0\0\0');
    const r = await cli(['import', f]);
    expect(r.code).toBe(2);
    expect(oneErrorLine(r.err)).toBe(`remapsim: ${f}: signature: not a DMAR or IVRS table: data with signature "FACP"`);
    const t = tmp.write('facp.dsl', '[000h 0000 004h]                   Signature : "FACP"    [Fixed ACPI Description Table]\n');
    expect(oneErrorLine((await cli(['import', t])).err)).toContain('iasl text with signature "FACP"');
  });
  it('no FILE: exit 2', async () => {
    const r = await cli(['import']);
    expect(r.code).toBe(2);
    oneErrorLine(r.err);
  });
});

describe('import ivrs --scenario OUT', () => {
  it.each(IVRS_FILES)('%s: writes a skeleton with platform.ivrs, otherwise a valid scenario that runs', async (f) => {
    const out = join(tmp.dir, `${f}.yaml`);
    const r = await cli(['import', 'ivrs', ivrs(f), '--scenario', out]);
    expect([r.code, r.out, r.err]).toEqual([0, `wrote ${out}\n`, '']);
    expect(readdirSync(tmp.dir).filter((x) => x.endsWith('.tmp'))).toEqual([]); // atomic write leaves nothing behind
    const text = readFileSync(out, 'utf8');
    const ivrsLine = text.split('\n').find((l) => l.startsWith('  ivrs: '))!;
    // the path is relative to OUT and points at the table
    const rel = JSON.parse(ivrsLine.slice('  ivrs: '.length)) as string;
    expect(existsSync(join(tmp.dir, rel))).toBe(true);
    expect(text).toMatch(/^# unit 0: IOMMU 0000:[0-9a-f]{2}:00\.2 base 0x/m);
    expect(text).toMatch(/^# {3}special IOAPIC \d+ = /m);
    expect(text).toMatch(/^# {3}sample device: /m);
    // Without platform.ivrs (which the scenario compiler does not know yet) it is a valid scenario and runs.
    const rest = text.replace(`${ivrsLine}\n`, '');
    const result = runScenario(compileScenario(parseScenarioText(rest, out)));
    expect(result.ok).toBe(true);
  });
  it('apicMode follows XTSup: x2apic for the Zenith II, xapic for the T14', async () => {
    for (const [f, mode] of [['asus-rog-zenith-ii-extreme-alpha-trx40.bin', 'x2apic'], ['lenovo-thinkpad-t14-gen3-amd.bin', 'xapic']] as const) {
      const out = join(tmp.dir, `mode-${f}.yaml`);
      await cli(['import', ivrs(f), '--scenario', out]);
      expect(readFileSync(out, 'utf8')).toContain(`\n  apicMode: ${mode}\n`);
    }
  });
  it('an unwritable OUT: exit 2, one line, nothing written', async () => {
    const out = join(tmp.dir, 'no-such-dir', 'x.yaml');
    const r = await cli(['import', 'ivrs', ivrs('supermicro-h8dgu.bin'), '--scenario', out]);
    expect(r.code).toBe(2);
    expect(oneErrorLine(r.err)).toContain('--scenario: cannot write scenario: no such file or directory (ENOENT)');
    expect(existsSync(out)).toBe(false);
  });
});

// docs/amd-vi.md "IVRS import": its marked examples are real output (same rule as the README test).
describe('docs/amd-vi.md examples are real output', () => {
  const doc = readFileSync(repo('docs/amd-vi.md'), 'utf8');
  const re = /<!-- example: (.+?) -->\n```[a-z]*\n([\s\S]*?)```/g;
  const examples: { args: string[]; lines: string[] }[] = [];
  for (let m = re.exec(doc); m !== null; m = re.exec(doc)) examples.push({ args: m[1]!.trim().split(/\s+/), lines: m[2]!.replace(/\n$/, '').split('\n') });
  it('has examples', () => expect(examples.length).toBeGreaterThanOrEqual(2));
  for (const e of examples) {
    it(`remapsim ${e.args.join(' ')}`, async () => {
      const r = await cli(e.args.map((a) => (/^data\//.test(a) ? repo(a) : a)));
      const output = r.out.split('\n');
      let at = 0;
      for (const line of e.lines) {
        if (line.trim() === '...') continue;
        const found = output.indexOf(line, at);
        expect(found, `missing in order: ${line}`).toBeGreaterThanOrEqual(0);
        at = found + 1;
      }
    });
  }
});
