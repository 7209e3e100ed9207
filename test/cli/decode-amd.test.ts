// `decode lspci` / `decode msi` with `--iommu amd|intel|auto` (src/cli/decode.ts): the AMD
// ThinkPad T14 dump decodes as AMD-Vi (IRTE index = data[10:0], amdvi-facts.md §4.1), an
// Intel dump stays Intel, the option overrides detection both ways, and the JSON shape.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, jsonLines, repo, tempDir } from './cli-harness.ts';
import { chooseIommu, decodeAmdRemapped } from '../../src/cli/decode.ts';

const LSPCI_DIR = repo('data/real-inputs/lspci');
const T14 = join(LSPCI_DIR, 'lenovo-thinkpad-t14-gen3-amd_696E48381F84_arch-6.4.9_lspci-vvnn.txt');
const DELL = join(LSPCI_DIR, 'dell-latitude-9420_8A77983183EB_arch-6.2.10_lspci-vvnn.txt');
const AMD_REASON = 'auto: 00:00.2 is an AMD IOMMU function, class 0806 vendor 1022';

const tmp = tempDir('decode-amd');
afterAll(() => tmp.cleanup());

const lines = (out: string): string[] => out.trimEnd().split('\n');
const row = (rows: Record<string, unknown>[], device: string): Record<string, unknown> => {
  const r = rows.find((x) => x['device'] === device && x['capability'] === 'MSI');
  if (!r) throw new Error(`no MSI row for ${device}`);
  return r;
};

describe('decode lspci: ThinkPad T14 Gen 3 (AMD) in auto mode', () => {
  it('says AMD-Vi and why in the first line', async () => {
    const r = await cli(['decode', 'lspci', T14]);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(lines(r.out)[0]).toBe(`IOMMU: AMD-Vi (${AMD_REASON})`);
  });

  it('real lines: fee00000/0000 is IRTE index 0, the IOMMU\'s own MSI fee05000/0021 stays compatibility', async () => {
    const out = lines((await cli(['decode', 'lspci', T14])).out);
    const amd0 = "fee00000/0000 AMD-Vi remapped: IRTE index 0x0 of the device's interrupt table (data[10:0]); address 0xfee00000 not used for the index; data[10:8] 000 fixed: reaches the IRTE (remapped when the DTE has IntCtl=10b)";
    // Dump lines 81 (00:08.1), 169, 591 (02:00.0's 32-bit capability: "Address: fee00000  Data: 0000").
    for (const d of ['00:02.1', '00:08.1', '02:00.0', '04:00.1']) expect(out).toContain(`${d} MSI   ${amd0}`);
    expect(out).toContain("00:00.2 MSI   fee05000/0021 compatibility: destination 0x5 physical, vector 0x21 fixed edge (the IOMMU's own interrupt: not remapped)");
    expect(out.join('\n')).not.toMatch(/fee00000\/0000 compatibility/);
    expect(out).toContain('01:00.0 MSI   00000000/0000 (disabled, never programmed)');
  });

  it('every fee00000 pair of the dump decodes as amd-remapped with index = data[10:0] (--json)', async () => {
    const r = await cli(['decode', 'lspci', T14, '--json']);
    const rows = jsonLines(r.out);
    const src = readFileSync(T14, 'utf8').split('\n');
    const interrupting = rows.filter((x) => x['format'] !== 'not-interrupt');
    expect(interrupting.length).toBeGreaterThan(10);
    for (const x of rows) {
      expect(x).toMatchObject({ iommu: 'amd', iommuReason: AMD_REASON });
      const m = /Address: ([0-9a-f]+)\s+Data: ([0-9a-f]+)/.exec(src[(x['line'] as number) - 1] ?? '');
      expect(m).not.toBeNull();
      const data = parseInt(m![2]!, 16);
      if (x['device'] === '00:00.2') expect(x).toMatchObject({ format: 'compatibility', destinationId: 5, vector: 0x21, ownIommuInterrupt: true });
      else if (BigInt(`0x${m![1]}`) === 0n) expect(x['format']).toBe('not-interrupt');
      else expect(x).toMatchObject({ format: 'amd-remapped', irteIndex: data & 0x7ff });
    }
    expect(row(rows, '00:08.1')).toEqual({
      device: '00:08.1',
      address: '0xfee00000',
      data: 0,
      format: 'amd-remapped',
      irteIndex: 0,
      deliveryMode: 'fixed',
      reachesIrte: true,
      destinationMode: 'physical',
      notLinux: [],
      capability: 'MSI',
      enabled: true,
      line: row(rows, '00:08.1')['line'],
      iommu: 'amd',
      iommuReason: AMD_REASON,
    });
    // 02:00.0 has a 32-bit MSI capability: its address is printed with 8 digits.
    expect(row(rows, '02:00.0')).toMatchObject({ address: '0xfee00000', format: 'amd-remapped', irteIndex: 0 });
  });

  it('--iommu intel overrides detection: the old compatibility reading', async () => {
    const r = await cli(['decode', 'lspci', T14, '--iommu', 'intel']);
    const out = lines(r.out);
    expect(out[0]).toBe('IOMMU: Intel VT-d (--iommu intel)');
    expect(out).toContain('00:08.1 MSI   fee00000/0000 compatibility: destination 0x0 physical, vector 0x0 fixed edge');
    expect(row(jsonLines((await cli(['decode', 'lspci', T14, '--iommu', 'intel', '--json'])).out), '00:08.1')).toMatchObject({ format: 'compatibility', iommu: 'intel', iommuReason: '--iommu intel' });
  });

  it('without -nn, the header text "IOMMU: Advanced Micro Devices" is detected', async () => {
    const plain = readFileSync(T14, 'utf8').replace(/ \[[0-9a-f]{4}(:[0-9a-f]{4})?\]/g, '');
    expect(plain).toContain('00:00.2 IOMMU: Advanced Micro Devices');
    const r = await cli(['decode', 'lspci', tmp.write('t14-no-nn.txt', plain)]);
    expect(lines(r.out)[0]).toBe('IOMMU: AMD-Vi (auto: 00:00.2 is an AMD IOMMU function, named "IOMMU: Advanced Micro Devices…")');
    expect(r.out).toContain('00:08.1 MSI   fee00000/0000 AMD-Vi remapped: IRTE index 0x0');
  });

  it('a non-AMD IOMMU class 0806 function does not count (vendor must be 1022)', async () => {
    const other = readFileSync(T14, 'utf8').replace('[1022:14b6]', '[1d94:14b6]');
    const r = await cli(['decode', 'lspci', tmp.write('t14-other-vendor.txt', other), '--json']);
    expect(jsonLines(r.out)[0]).toMatchObject({ iommu: 'intel', iommuReason: 'auto: no AMD IOMMU function (class 0806, vendor 1022) in the dump' });
    // Decoded as Intel, the text prints no IOMMU line: exactly what decode lspci always printed.
    expect(lines((await cli(['decode', 'lspci', tmp.write('t14-other-vendor.txt', other)])).out)[0]).not.toMatch(/^IOMMU:/);
  });
});

describe('decode lspci: an Intel dump (Dell Latitude 9420)', () => {
  it('auto stays Intel: VT-d remappable handles, the same lines as before', async () => {
    const out = lines((await cli(['decode', 'lspci', DELL])).out);
    // No IOMMU line: an Intel dump prints exactly as before; --iommu intel says the choice.
    expect(out[0]).not.toMatch(/^IOMMU:/);
    expect(lines((await cli(['decode', 'lspci', DELL, '--iommu', 'intel'])).out)[0]).toBe('IOMMU: Intel VT-d (--iommu intel)');
    expect(out).toContain('0000:00:14.0 MSI   fee00538/0000 remappable: handle 0x29 SHV=1 subhandle 0x0 → IRTE index 0x29');
    const rows = jsonLines((await cli(['decode', 'lspci', DELL, '--json'])).out);
    expect(row(rows, '00:14.0')).toMatchObject({ format: 'remappable', handle: 0x29, irteIndex: 0x29, iommu: 'intel' });
  });

  it('--iommu amd overrides: data[10:0] is the index and the VT-d address is flagged as not what Linux writes', async () => {
    const out = lines((await cli(['decode', 'lspci', DELL, '--iommu', 'amd'])).out);
    expect(out[0]).toBe('IOMMU: AMD-Vi (--iommu amd)');
    expect(out).toContain(
      "0000:00:14.0 MSI   fee00538/0000 AMD-Vi remapped: IRTE index 0x0 of the device's interrupt table (data[10:0]); address 0xfee00538 not used for the index; data[10:8] 000 fixed: reaches the IRTE (remapped when the DTE has IntCtl=10b); not what Linux writes: address is not 0xfee00000 (Linux writes 0xfee00000, 0xfee00004 in 2K mode)",
    );
    const rows = jsonLines((await cli(['decode', 'lspci', DELL, '--iommu', 'amd', '--json'])).out);
    expect(row(rows, '00:14.0')).toMatchObject({ format: 'amd-remapped', irteIndex: 0, notLinux: ['address is not 0xfee00000 (Linux writes 0xfee00000, 0xfee00004 in 2K mode)'], iommu: 'amd' });
  });

  it('a bad --iommu value is refused (exit 2)', async () => {
    const r = await cli(['decode', 'lspci', DELL, '--iommu', 'arm']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('must be amd, intel or auto');
  });
});

describe('decode msi --iommu', () => {
  it('auto = intel (unchanged output); amd gives the IRTE index', async () => {
    expect((await cli(['decode', 'msi', 'fee00000', '5'])).out).toBe('fee00000/0005 compatibility: destination 0x0 physical, vector 0x5 fixed edge\n');
    expect((await cli(['decode', 'msi', 'fee00000', '5', '--iommu', 'intel'])).out).toBe('fee00000/0005 compatibility: destination 0x0 physical, vector 0x5 fixed edge\n');
    expect((await cli(['decode', 'msi', 'fee00000', '0x105', '--iommu', 'amd'])).out).toBe(
      "fee00000/0105 AMD-Vi remapped: IRTE index 0x105 of the device's interrupt table (data[10:0]); address 0xfee00000 not used for the index; data[10:8] 001 lowest-priority: reaches the IRTE (remapped when the DTE has IntCtl=10b)\n",
    );
  });

  it('--help says auto means intel', async () => {
    const r = await cli(['decode', 'msi', '--help']);
    expect(r.out.replace(/\s+/g, ' ')).toContain('amd, intel or auto (auto = intel: one pair gives nothing to detect)');
  });

  it('JSON: 2K mode address with DM=1 and a large index', async () => {
    const r = await cli(['decode', 'msi', 'fee00004', '0x3ff', '--iommu', 'amd', '--json']);
    expect(JSON.parse(r.out)).toEqual({ address: '0xfee00004', data: 0x3ff, format: 'amd-remapped', irteIndex: 0x3ff, deliveryMode: 'reserved-3', reachesIrte: false, destinationMode: 'logical', notLinux: [] });
  });

  it('NMI with data bits above 10 and a foreign address: every difference from Linux is named', async () => {
    const r = await cli(['decode', 'msi', 'fee01018', '8401', '--iommu', 'amd']);
    expect(r.out).toContain('data[10:8] 100 nmi: not looked up: passed unchanged if the DTE\'s NMIPass is set, else target abort');
    expect(r.out).toContain('address is not 0xfee00000');
    expect(r.out).toContain('data bits above 10 are 0x8000');
    expect(r.out).toContain('index 512 or more without DM=1');
    expect(r.out).toContain('IRTE index 0x401');
  });

  it('a non-interrupt address stays an ordinary DMA write', async () => {
    expect((await cli(['decode', 'msi', 'fed00000', '0', '--iommu', 'amd', '--json'])).out).toBe('{"address":"0xfed00000","data":0,"format":"not-interrupt"}\n');
  });
});

describe('decodeAmdRemapped / chooseIommu', () => {
  it('index is exactly data[10:0] for every 16-bit data word, and Linux messages are never flagged', () => {
    const wrong: number[] = [];
    for (let d = 0; d <= 0xffff; d++) {
      const m = decodeAmdRemapped(0xfee00000n, d);
      if (m.irteIndex !== (d & 0x7ff) || m.reachesIrte !== ((d >> 8) & 7) <= 1) wrong.push(d);
      // Linux writes data = index < 512 (or < 2048 with DM=1, address 0xfee00004).
      if (d < 512 && m.notLinux.length > 0) wrong.push(d);
      if (d < 2048 && decodeAmdRemapped(0xfee00004n, d).notLinux.length > 0) wrong.push(d);
      if (d >= 2048 && !m.notLinux.some((s) => s.startsWith('data bits above 10'))) wrong.push(d);
    }
    expect(wrong).toEqual([]);
  });

  it('a deliberately broken index (data[7:0], the vector) would be caught', () => {
    const brokenIndex = (d: number): number => d & 0xff;
    expect([0x100, 0x1ff, 0x7ff].some((d) => brokenIndex(d) !== decodeAmdRemapped(0xfee00000n, d).irteIndex)).toBe(true);
  });

  it('explicit choices never parse the text', () => {
    expect(chooseIommu('amd', 'not lspci', 'x')).toMatchObject({ vendor: 'amd', reason: '--iommu amd' });
    expect(chooseIommu('intel', 'not lspci', 'x')).toMatchObject({ vendor: 'intel', reason: '--iommu intel' });
  });

  it('auto on text the topology parser refuses falls back to Intel and names the refusal', () => {
    const c = chooseIommu('auto', 'no header here', 'x.txt');
    expect(c.vendor).toBe('intel');
    expect(c.reason).toMatch(/^auto: the device headers could not be read \(.*not an lspci/);
  });
});

// docs/amd-vi.md "Decoding lspci dumps on AMD machines": its marked examples are real output
// (the rule of test/docs/readme.test.ts, which reads README.md only).
describe('docs/amd-vi.md "Decoding lspci dumps on AMD machines" examples are real output', () => {
  const doc = readFileSync(repo('docs/amd-vi.md'), 'utf8');
  const start = doc.indexOf('\n## Decoding lspci dumps on AMD machines\n');
  const next = doc.indexOf('\n## ', start + 1);
  const section = start < 0 ? '' : doc.slice(start, next < 0 ? undefined : next);
  const re = /<!-- example: (.+?) -->\n```[a-z]*\n([\s\S]*?)```/g;
  const examples: { args: string[]; lines: string[] }[] = [];
  for (let m = re.exec(section); m !== null; m = re.exec(section)) examples.push({ args: m[1]!.trim().split(/\s+/), lines: m[2]!.replace(/\n$/, '').split('\n') });
  it('the section exists and has an example', () => expect(examples.length).toBeGreaterThanOrEqual(1));
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
