// lspci MSI extraction against the real dumps in data/real-inputs/lspci (see PROVENANCE.md there).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/io/input-error.ts';
import { loadLspci, parseLspci, type LspciMsiEntry } from '../../src/inputs/lspci.ts';

const DIR = fileURLToPath(new URL('../../data/real-inputs/lspci/', import.meta.url));
const FILES = readdirSync(DIR).sort();
const file = (prefix: string): string => join(DIR, FILES.find((f) => f.startsWith(prefix))!);

function msi(entries: LspciMsiEntry[], device: string): LspciMsiEntry {
  const e = entries.find((x) => x.device === device && x.capability === 'MSI');
  if (!e) throw new Error(`no MSI for ${device}`);
  return e;
}

const pair = (e: LspciMsiEntry): [string, string] | undefined =>
  e.address === undefined || e.data === undefined ? undefined : [e.address.toString(16), e.data.toString(16).padStart(4, '0')];

describe('shipped lspci dumps', () => {
  it('are all there', () => expect(FILES).toHaveLength(5));

  it.each(FILES)('%s parses, every MSI line number points at its Address or Capabilities line', (f) => {
    const text = readFileSync(join(DIR, f), 'utf8');
    const lines = text.split('\n');
    const entries = loadLspci(join(DIR, f));
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) {
      const l = lines[e.line - 1]!;
      if (e.address !== undefined) expect(l).toMatch(/^\s+Address: [0-9a-f]+ +Data: [0-9a-f]{4}/);
      else expect(l).toMatch(new RegExp(`Capabilities: \\[[0-9a-f]+\\] ${e.capability}: `));
    }
    // Every "Address:" line in the file belongs to exactly one MSI entry.
    const addressLines = lines.filter((l) => /^\s+Address: /.test(l)).length;
    expect(entries.filter((e) => e.address !== undefined)).toHaveLength(addressLines);
  });
});

describe('pairs from PROVENANCE.md', () => {
  it('dell-latitude-9420 (remappable format, domain-prefixed BDFs)', () => {
    const es = loadLspci(file('dell-latitude-9420'));
    expect(pair(msi(es, '0000:00:0d.0'))).toEqual(['fee00518', '0000']);
    expect(pair(msi(es, '0000:00:1f.3'))).toEqual(['fee00b58', '0000']);
    expect(pair(msi(es, '0000:00:02.0'))).toEqual(['fee00018', '0000']);
    expect(pair(msi(es, '0000:00:07.0'))).toEqual(['fee00018', '0000']);
    expect(pair(msi(es, '0000:00:14.0'))).toEqual(['fee00538', '0000']);
    expect(pair(msi(es, '0000:a4:00.0'))).toEqual(['fee004f8', '0000']);
    const vmd = msi(es, '10000:e0:06.0');
    expect(pair(vmd)).toEqual(['fee01000', '0000']);
    expect(vmd).toMatchObject({ segment: 0x10000, rid: 0xe030, enabled: true, count: '1/1' });
    const xhci = msi(es, '0000:00:0d.0');
    expect(xhci).toMatchObject({ capability: 'MSI', enabled: true, count: '1/8', maskable: false, is64bit: true, capOffset: 0x80 });
    // MSI-X-only device: geometry, no address/data pair.
    const tbt = es.find((e) => e.device === '0000:00:0d.2' && e.capability === 'MSI-X')!;
    expect(tbt).toMatchObject({ enabled: true, tableSize: 16, table: { bar: 2, offset: 0 }, pba: { bar: 2, offset: 0xfa0 } });
    expect(tbt.address).toBeUndefined();
    expect(tbt.data).toBeUndefined();
  });

  it('lenovo-ideapad-gaming3-15imh05 (compatibility format, IR off)', () => {
    const es = loadLspci(file('lenovo-ideapad'));
    expect(pair(msi(es, '00:16.0'))).toEqual(['fee02000', '0020']);
    expect(pair(msi(es, '00:01.0'))).toEqual(['fee00000', '002f']);
    expect(pair(msi(es, '00:1f.3'))).toEqual(['fee06000', '0021']);
    // The NVMe block with an interleaved pcilib stderr line still has its MSI-X entry.
    expect(es.find((e) => e.device === '06:00.0' && e.capability === 'MSI-X')).toMatchObject({ tableSize: 32, enabled: true });
    for (const e of es) if (e.enabled && e.address !== undefined) expect(e.address & 0x10n).toBe(0n);
  });

  it('lenovo-thinkpad-t14-gen3-amd (AMD-Vi: fee00000/0000, IOMMU MSI not remapped)', () => {
    const es = loadLspci(file('lenovo-thinkpad-t14-gen3-amd'));
    expect(pair(msi(es, '00:00.2'))).toEqual(['fee05000', '0021']);
    expect(msi(es, '02:00.0')).toMatchObject({ count: '32/32', enabled: true, address: 0xfee00000n, data: 0 });
  });

  it('dell-poweredge-r820 (trimmed): two handle spaces', () => {
    const es = loadLspci(file('dell-poweredge-r820'));
    expect(pair(msi(es, '00:1f.2'))).toEqual(['fee00618', '0000']);
    expect(pair(msi(es, '40:01.0'))).toEqual(['fee00038', '0000']);
    expect(msi(es, '00:01.0')).toMatchObject({ is64bit: false, maskable: true });
  });

  it('hp-proliant-dl360-g7 (partial): root ports at vector 0xef', () => {
    const es = loadLspci(file('hp-proliant-dl360-g7'));
    expect(pair(msi(es, '00:01.0'))).toEqual(['fee00000', '00ef']);
  });
});

describe('robustness', () => {
  it('a file with no device header is refused', () => {
    const e = (() => {
      try {
        parseLspci('# nothing here\nhello\n', 'x.txt');
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).message).toContain('not an lspci -vvv dump');
    expect((e as InputError).file).toBe('x.txt');
  });

  it('pcilib stderr between the capability and its Address line does not lose the pair', () => {
    const text = [
      '00:14.0 USB controller [0c03]: Intel Corporation Device [8086:a0ed] (rev 20) (prog-if 30 [XHCI])',
      '\tCapabilities: [80] MSI: Enable+ Count=1/8 Maskable- 64bit+',
      'pcilib: sysfs_read_vpd: read failed: No such device',
      '\t\tAddress: 00000000fee00538  Data: 0000',
      '\tCapabilities: [90] Vendor Specific Information: Len=14 <?>',
      '\t\tAddress: 00000000deadbeef  Data: 1234',
    ].join('\n');
    const es = parseLspci(text, 't.txt');
    expect(es).toEqual([
      {
        device: '00:14.0',
        segment: 0,
        rid: 0xa0,
        capability: 'MSI',
        capOffset: 0x80,
        enabled: true,
        count: '1/8',
        maskable: false,
        is64bit: true,
        address: 0xfee00538n,
        data: 0,
        line: 4,
      },
    ]);
  });

  it('the 32-bit form and a trimmed block without Address both work', () => {
    const es = parseLspci(
      ['00:1c.0 PCI bridge [0604]: x', '\tCapabilities: [80] MSI: Enable+ Count=1/1 Maskable- 64bit-', '\t\tAddress: fee00238  Data: 0000', '00:1d.0 PCI bridge [0604]: y', '\tCapabilities: [80] MSI: Enable- Count=1/1 Maskable- 64bit-'].join('\n'),
      't.txt',
    );
    expect(es.map((e) => [e.device, e.address, e.line])).toEqual([
      ['00:1c.0', 0xfee00238n, 3],
      ['00:1d.0', undefined, 5],
    ]);
  });

  it('a missing file is an InputError naming it', () => {
    expect(() => loadLspci('/nonexistent/lspci.txt')).toThrow(InputError);
  });
});
