// The CLI against every real input shipped in data/real-inputs/ (see PROVENANCE.md there):
// `import dmar` on all DMAR tables (raw and iasl), the IVRS rejection, `decode lspci` on
// every dump with each decoded pair re-derived by hand from the VT-d / SDM bit layout,
// `decode msi`, and the scenario skeleton written by `import dmar --scenario`.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, jsonLines, repo, tempDir } from './cli-harness.ts';

const DMAR_DIR = repo('data/real-inputs/dmar');
const IVRS_DIR = repo('data/real-inputs/ivrs');
const LSPCI_DIR = repo('data/real-inputs/lspci');
const DMAR_FILES = readdirSync(DMAR_DIR).filter((f) => /\.(bin|dsl)$/.test(f)).sort();
const IVRS_FILES = readdirSync(IVRS_DIR).filter((f) => /\.(bin|dsl)$/.test(f)).sort();
const LSPCI_FILES = readdirSync(LSPCI_DIR).filter((f) => f.endsWith('.txt')).sort();
const lspci = (prefix: string): string => join(LSPCI_DIR, LSPCI_FILES.find((f) => f.startsWith(prefix))!);

const tmp = tempDir('real-inputs');
afterAll(() => tmp.cleanup());

/** The one line the CLI prints on stderr for bad input. */
function expectOneErrorLine(err: string): string {
  expect(err.endsWith('\n')).toBe(true);
  const lines = err.slice(0, -1).split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^remapsim: /);
  expect(err).not.toMatch(/\n\s+at /); // no stack trace
  return lines[0]!;
}

// ---------------------------------------------------------------------------------------
// DMAR

const DMAR_KEYS = ['hostAddressWidth', 'flags', 'drhd', 'rmrr', 'atsr', 'rhsa', 'andd', 'satc', 'sidp'];
const DMAR_OPTIONAL_KEYS = ['header', 'unknown'];

/**
 * Facts about each table as data/real-inputs/PROVENANCE.md describes it (HAW is the
 * decoded width, i.e. the table's field + 1, as Linux prints it): flags byte, DRHD count,
 * RMRR, ATSR, RHSA, ANDD, SATC and SIDP counts.
 */
const PROVENANCE: Record<string, { haw: number; flags: number; drhd: number; rmrr: number; atsr: number; rhsa: number; andd: number; satc: number; sidp: number }> = {
  'apple-macbookpro14-3': { haw: 39, flags: 0x01, drhd: 2, rmrr: 1, atsr: 0, rhsa: 0, andd: 6, satc: 0, sidp: 0 },
  'dell-latitude-9420': { haw: 39, flags: 0x05, drhd: 5, rmrr: 1, atsr: 0, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
  'dell-poweredge-r820': { haw: 46, flags: 0x03, drhd: 4, rmrr: 3, atsr: 1, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
  'dell-precision-t7500': { haw: 40, flags: 0x01, drhd: 2, rmrr: 1, atsr: 2, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
  'hp-compaq-dc7800-sff': { haw: 36, flags: 0x00, drhd: 4, rmrr: 8, atsr: 0, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
  'hp-laptop-17-by3xxx': { haw: 39, flags: 0x07, drhd: 2, rmrr: 2, atsr: 0, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
  'hp-proliant-dl360-g7': { haw: 39, flags: 0x02, drhd: 1, rmrr: 3, atsr: 1, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
  'hp-proliant-dl380e-gen8': { haw: 46, flags: 0x03, drhd: 2, rmrr: 9, atsr: 2, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
  'hp-z240-sff': { haw: 39, flags: 0x03, drhd: 2, rmrr: 2, atsr: 0, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
  'lenovo-ideapad-gaming3-15imh05': { haw: 39, flags: 0x04, drhd: 2, rmrr: 2, atsr: 0, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
  'lenovo-thinkpad-x1c-gen9': { haw: 39, flags: 0x05, drhd: 4, rmrr: 1, atsr: 0, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
  'msi-claw-a1m': { haw: 42, flags: 0x05, drhd: 2, rmrr: 0, atsr: 0, rhsa: 0, andd: 0, satc: 1, sidp: 1 },
  'msi-prestige13-ai-evo-a2vmg': { haw: 38, flags: 0x05, drhd: 3, rmrr: 0, atsr: 0, rhsa: 0, andd: 0, satc: 1, sidp: 1 },
  'supermicro-depo-superserver': { haw: 46, flags: 0x03, drhd: 2, rmrr: 2, atsr: 1, rhsa: 2, andd: 0, satc: 0, sidp: 0 },
  'supermicro-x10dai': { haw: 46, flags: 0x01, drhd: 3, rmrr: 1, atsr: 1, rhsa: 2, andd: 0, satc: 0, sidp: 0 },
  'supermicro-x8dtn-f': { haw: 40, flags: 0x01, drhd: 1, rmrr: 2, atsr: 1, rhsa: 0, andd: 0, satc: 0, sidp: 0 },
};

describe('import dmar on every real table', () => {
  it('has the 16 tables of PROVENANCE.md, each as .bin and .dsl', () => {
    expect(DMAR_FILES).toHaveLength(32);
    expect(new Set(DMAR_FILES.map((f) => f.replace(/\.(bin|dsl)$/, '')))).toEqual(new Set(Object.keys(PROVENANCE)));
  });

  it.each(DMAR_FILES)('%s: summary exits 0', async (f) => {
    const r = await cli(['import', 'dmar', join(DMAR_DIR, f)]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^DMAR: /);
    expect(r.out).toMatch(/DRHD base: /);
  });

  it.each(DMAR_FILES)('%s: --json exits 0 with the documented keys and the PROVENANCE.md facts', async (f) => {
    const r = await cli(['import', 'dmar', join(DMAR_DIR, f), '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as Record<string, unknown>;
    const keys = Object.keys(j);
    for (const k of DMAR_KEYS) expect(keys).toContain(k);
    for (const k of keys) expect([...DMAR_KEYS, ...DMAR_OPTIONAL_KEYS]).toContain(k);

    const flags = j['flags'] as Record<string, unknown>;
    expect(typeof flags['intrRemap']).toBe('boolean');
    expect(typeof flags['x2apicOptOut']).toBe('boolean');
    expect(typeof flags['dmaCtrlPlatformOptIn']).toBe('boolean');
    // Besides the three named flags only the raw byte is there, and it agrees with them.
    for (const k of Object.keys(flags)) expect(['intrRemap', 'x2apicOptOut', 'dmaCtrlPlatformOptIn', 'raw']).toContain(k);
    for (const k of ['drhd', 'rmrr', 'atsr', 'rhsa', 'andd', 'satc', 'sidp']) expect(Array.isArray(j[k])).toBe(true);

    const want = PROVENANCE[f.replace(/\.(bin|dsl)$/, '')]!;
    expect(j['hostAddressWidth']).toBe(want.haw);
    expect(flags['intrRemap']).toBe((want.flags & 1) !== 0);
    expect(flags['x2apicOptOut']).toBe((want.flags & 2) !== 0);
    expect(flags['dmaCtrlPlatformOptIn']).toBe((want.flags & 4) !== 0);
    if ('raw' in flags) expect(Number(flags['raw'])).toBe(want.flags);
    const count = (k: string): number => (j[k] as unknown[]).length;
    expect({ drhd: count('drhd'), rmrr: count('rmrr'), atsr: count('atsr'), rhsa: count('rhsa'), andd: count('andd'), satc: count('satc'), sidp: count('sidp') }).toEqual({
      drhd: want.drhd,
      rmrr: want.rmrr,
      atsr: want.atsr,
      rhsa: want.rhsa,
      andd: want.andd,
      satc: want.satc,
      sidp: want.sidp,
    });
    // Every table has exactly one INCLUDE_PCI_ALL unit, and it is listed last (ACPI requires it).
    const drhd = j['drhd'] as { includePciAll: boolean }[];
    expect(drhd.filter((d) => d.includePciAll)).toHaveLength(1);
    expect(drhd[drhd.length - 1]!.includePciAll).toBe(true);
  });

  it.each(Object.keys(PROVENANCE))('%s: the raw table and its iasl decompile give the same JSON', async (name) => {
    const bin = await cli(['import', 'dmar', join(DMAR_DIR, `${name}.bin`), '--json']);
    const dsl = await cli(['import', 'dmar', join(DMAR_DIR, `${name}.dsl`), '--json']);
    expect(bin.code).toBe(0);
    expect(dsl.out).toBe(bin.out);
  });
});

describe('import dmar on AMD IVRS tables', () => {
  it('has the 7 tables of PROVENANCE.md, each as .bin and .dsl', () => expect(IVRS_FILES).toHaveLength(14));

  it.each(IVRS_FILES)('%s: exit 2, one stderr line saying IVRS is not supported', async (f) => {
    for (const extra of [[], ['--json']]) {
      const r = await cli(['import', 'dmar', join(IVRS_DIR, f), ...extra]);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      const line = expectOneErrorLine(r.err);
      expect(line).toContain('AMD IVRS is not supported yet');
      expect(line).toContain(join(IVRS_DIR, f));
    }
  });
});

// ---------------------------------------------------------------------------------------
// lspci / MSI decoding

const DELIVERY_MODES = ['fixed', 'lowest-priority', 'smi', 'reserved-3', 'nmi', 'init', 'reserved-6', 'extint'];

/** The JSON `decode` must print for an address/data pair, derived by hand from the bit layout. */
function expectedDecode(address: bigint, data: number, amd = false): Record<string, unknown> {
  const base = { address: `0x${address.toString(16).padStart(address >> 32n ? 16 : 8, '0')}`, data };
  if (address < 0xfee0_0000n || address > 0xfeef_ffffn) return { ...base, format: 'not-interrupt' };
  // AMD-Vi: no remappable format; the IRTE index is data[10:0], the address plays no part.
  if (amd) return { ...base, format: 'amd-remapped', irteIndex: data & 0x7ff, deliveryMode: DELIVERY_MODES[(data >>> 8) & 7] };
  const a = Number(address);
  if ((a >> 4) & 1) {
    // VT-d remappable format: handle[14:0] = address 19:5, handle[15] = address bit 2, SHV = bit 3.
    const handle = ((a >>> 5) & 0x7fff) | (((a >>> 2) & 1) << 15);
    const shv = ((a >>> 3) & 1) === 1;
    const subhandle = data & 0xffff;
    return { ...base, format: 'remappable', handle, shv, subhandle, irteIndex: shv ? handle + subhandle : handle };
  }
  // Compatibility format: destination ID = address 19:12, DM = bit 2, RH = bit 3; vector = data 7:0,
  // delivery mode = data 10:8, trigger = data 15.
  return {
    ...base,
    format: 'compatibility',
    destinationId: (a >>> 12) & 0xff,
    vector: data & 0xff,
    deliveryMode: DELIVERY_MODES[(data >>> 8) & 7],
    destinationMode: (a >>> 2) & 1 ? 'logical' : 'physical',
    triggerMode: (data >>> 15) & 1 ? 'level' : 'edge',
  };
}

const REQUIRED_BY_FORMAT: Record<string, string[]> = {
  remappable: ['handle', 'shv', 'subhandle', 'irteIndex'],
  compatibility: ['destinationId', 'vector', 'deliveryMode', 'destinationMode', 'triggerMode'],
  'amd-remapped': ['irteIndex', 'deliveryMode', 'reachesIrte', 'destinationMode', 'notLinux'],
  'not-interrupt': [],
};

describe('decode lspci on every real dump', () => {
  it('has the 5 dumps of PROVENANCE.md', () => expect(LSPCI_FILES).toHaveLength(5));

  it.each(LSPCI_FILES)('%s: text output exits 0, one line per MSI/MSI-X capability', async (f) => {
    const r = await cli(['decode', 'lspci', join(LSPCI_DIR, f)]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // The AMD dump says why it decodes as AMD-Vi first; an Intel dump prints as it always did.
    const all = r.out.trimEnd().split('\n');
    const amd = f.startsWith('lenovo-thinkpad-t14');
    if (amd) expect(all[0]).toMatch(/^IOMMU: AMD-Vi \(auto: /);
    const lines = amd ? all.slice(1) : all;
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^([0-9a-f]{4,5}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] (MSI |MSI-X) /);
  });

  it.each(LSPCI_FILES)('%s: --json lines agree with the dump and with a hand decode of every pair', async (f) => {
    const path = join(LSPCI_DIR, f);
    const r = await cli(['decode', 'lspci', path, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const rows = jsonLines(r.out);
    const source = readFileSync(path, 'utf8').split('\n');
    // Every "Address: … Data: …" line of the dump is decoded, none twice.
    const addressLines = source.filter((l) => /^\s+Address: [0-9a-f]+\s+Data: [0-9a-f]+/.test(l)).length;
    expect(rows).toHaveLength(addressLines);
    for (const row of rows) {
      for (const k of ['device', 'address', 'data', 'format']) expect(row).toHaveProperty(k);
      for (const k of REQUIRED_BY_FORMAT[row['format'] as string]!) expect(row).toHaveProperty(k);
      const m = /Address: ([0-9a-f]+)\s+Data: ([0-9a-f]+)/.exec(source[(row['line'] as number) - 1] ?? '');
      expect(m, `line ${String(row['line'])} of ${f} is an Address line`).not.toBeNull();
      // The AMD dump (its IOMMU 00:00.2, class 0806 vendor 1022, decodes as AMD-Vi) except the IOMMU's own MSI.
      const amd = row['iommu'] === 'amd' && row['ownIommuInterrupt'] !== true;
      expect(row['iommu']).toBe(f.startsWith('lenovo-thinkpad-t14') ? 'amd' : 'intel');
      const want = expectedDecode(BigInt(`0x${m![1]!}`), parseInt(m![2]!, 16), amd);
      expect(row).toMatchObject(want);
    }
  });

  // JSON names a device `bb:dd.f`, with the segment prepended only when it is not 0 (never `0000:`).
  const find = async (prefix: string, device: string): Promise<Record<string, unknown>> => {
    const rows = jsonLines((await cli(['decode', 'lspci', lspci(prefix), '--json'])).out);
    const row = rows.find((x) => x['device'] === device && x['capability'] === 'MSI');
    if (!row) throw new Error(`no MSI row for ${device}`);
    return row;
  };

  it('Dell Latitude 9420 (IR on, x2APIC): remappable handles under the INCLUDE_PCI_ALL unit', async () => {
    // 00:14.0 fee00538: bits 19:5 = 0x538 >> 5 = 0x29, bit 2 = 0, SHV (bit 3) = 1, data 0.
    expect(await find('dell-latitude', '00:14.0')).toMatchObject({ address: '0xfee00538', data: 0, format: 'remappable', handle: 0x29, shv: true, subhandle: 0, irteIndex: 0x29 });
    // 00:1f.3 fee00b58: 0xb58 >> 5 = 0x5a.
    expect(await find('dell-latitude', '00:1f.3')).toMatchObject({ address: '0xfee00b58', format: 'remappable', handle: 0x5a, irteIndex: 0x5a });
    expect(await find('dell-latitude', '00:0d.0')).toMatchObject({ address: '0xfee00518', handle: 0x28, irteIndex: 0x28 });
    expect(await find('dell-latitude', '00:1c.0')).toMatchObject({ address: '0xfee00238', handle: 0x11 });
    expect(await find('dell-latitude', '00:1d.0')).toMatchObject({ address: '0xfee00278', handle: 0x13 });
    expect(await find('dell-latitude', 'a4:00.0')).toMatchObject({ address: '0xfee004f8', handle: 0x27 });
    expect(await find('dell-latitude', '00:16.0')).toMatchObject({ address: '0xfee00758', handle: 0x3a });
    // iGPU and both Thunderbolt root ports: handle 0, each in its own DRHD's table.
    for (const d of ['00:02.0', '00:07.0', '00:07.2']) expect(await find('dell-latitude', d)).toMatchObject({ address: '0xfee00018', handle: 0, shv: true, irteIndex: 0 });
    // The VMD child root port: compatibility format (bit 4 clear), APIC 1.
    expect(await find('dell-latitude', '10000:e0:06.0')).toMatchObject({ address: '0xfee01000', format: 'compatibility', destinationId: 1, vector: 0 });
  });

  it('Lenovo IdeaPad (IR off): compatibility format, fee02000/0020 = APIC 2 vector 0x20 fixed edge physical', async () => {
    expect(await find('lenovo-ideapad', '00:16.0')).toMatchObject({
      address: '0xfee02000',
      data: 0x20,
      format: 'compatibility',
      destinationId: 2,
      vector: 0x20,
      deliveryMode: 'fixed',
      triggerMode: 'edge',
      destinationMode: 'physical',
    });
    expect(await find('lenovo-ideapad', '00:1f.3')).toMatchObject({ address: '0xfee06000', destinationId: 6, vector: 0x21 });
    expect(await find('lenovo-ideapad', '00:01.0')).toMatchObject({ address: '0xfee00000', destinationId: 0, vector: 0x2f });
  });

  it('HP DL360 G7 (IR impossible): root ports fee00000/00ef = vector 0xef', async () => {
    for (const d of ['00:01.0', '00:02.0', '00:03.0']) {
      expect(await find('hp-proliant-dl360', d)).toMatchObject({ address: '0xfee00000', data: 0xef, format: 'compatibility', destinationId: 0, vector: 0xef, deliveryMode: 'fixed' });
    }
  });

  it('Dell PowerEdge R820: two index spaces, and a 64-bit Address printed with its zero high dword', async () => {
    expect(await find('dell-poweredge', '00:01.0')).toMatchObject({ handle: 0x10 });
    expect(await find('dell-poweredge', '00:1f.2')).toMatchObject({ address: '0xfee00618', handle: 0x30 });
    expect(await find('dell-poweredge', '07:00.0')).toMatchObject({ address: '0xfee00338', handle: 0x19 });
    expect(await find('dell-poweredge', '40:01.0')).toMatchObject({ address: '0xfee00038', handle: 1, irteIndex: 1 });
    expect(await find('dell-poweredge', '40:03.0')).toMatchObject({ address: '0xfee00098', handle: 4 });
  });

  it('ThinkPad T14 (AMD-Vi): fee00000/0000 everywhere except the IOMMU\'s own MSI fee05000/0021', async () => {
    expect(await find('lenovo-thinkpad-t14', '00:00.2')).toMatchObject({ address: '0xfee05000', destinationId: 5, vector: 0x21 });
    expect(await find('lenovo-thinkpad-t14', '00:08.1')).toMatchObject({ address: '0xfee00000', data: 0, format: 'amd-remapped', irteIndex: 0 });
  });

  it('text output for the pinned pairs', async () => {
    const r = await cli(['decode', 'lspci', lspci('dell-latitude')]);
    expect(r.out).toContain('0000:00:14.0 MSI   fee00538/0000 remappable: handle 0x29 SHV=1 subhandle 0x0 → IRTE index 0x29');
    const l = await cli(['decode', 'lspci', lspci('lenovo-ideapad')]);
    expect(l.out).toContain('00:16.0 MSI   fee02000/0020 compatibility: destination 0x2 physical, vector 0x20 fixed edge');
  });

  it('a file that is not an lspci dump: exit 2, one line', async () => {
    const r = await cli(['decode', 'lspci', join(DMAR_DIR, 'hp-z240-sff.dsl')]);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.err)).toContain('not an lspci');
  });
});

describe('decode msi', () => {
  it('fee00014 0: handle bit 15 comes from address bit 2 → handle 0x8000, SHV clear', async () => {
    const r = await cli(['decode', 'msi', 'fee00014', '0', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ address: '0xfee00014', data: 0, format: 'remappable', handle: 0x8000, shv: false, subhandle: 0, irteIndex: 0x8000 });
    const t = await cli(['decode', 'msi', 'fee00014', '0']);
    expect(t.out).toBe('fee00014/0000 remappable: handle 0x8000 SHV=0 subhandle 0x0 → IRTE index 0x8000\n');
  });

  it('0xfee00018 0x0001: SHV set, so the subhandle is added → IRTE index 1', async () => {
    const r = await cli(['decode', 'msi', '0xfee00018', '0x0001', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ format: 'remappable', handle: 0, shv: true, subhandle: 1, irteIndex: 1 });
  });

  it('SHV clear: the subhandle is ignored', async () => {
    const r = await cli(['decode', 'msi', 'fee00030', '5', '--json']);
    expect(JSON.parse(r.out)).toMatchObject({ format: 'remappable', handle: 1, shv: false, subhandle: 5, irteIndex: 1 });
  });

  it('compatibility format with level trigger, NMI, logical mode', async () => {
    // address fee0300c: dest 3, RH (bit 3), DM logical (bit 2); data 0xc421: level+assert, NMI (100b), vector 0x21.
    const r = await cli(['decode', 'msi', 'fee0300c', 'c421', '--json']);
    expect(JSON.parse(r.out)).toMatchObject({ format: 'compatibility', destinationId: 3, destinationMode: 'logical', redirectionHint: true, vector: 0x21, deliveryMode: 'nmi', triggerMode: 'level' });
  });

  it('an address outside 0xFEEx_xxxx is not an interrupt', async () => {
    const r = await cli(['decode', 'msi', 'fef00000', '0', '--json']);
    expect(JSON.parse(r.out)).toEqual({ address: '0xfef00000', data: 0, format: 'not-interrupt' });
  });

  it.each([
    [['zz', '0'], 'ADDRESS'],
    [['fee00000', 'xyz'], 'DATA'],
    [['fee00000', '100000000'], 'DATA'],
  ])('bad numbers %j: exit 2, one line naming %s', async (args, field) => {
    const r = await cli(['decode', 'msi', ...args]);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.err)).toMatch(new RegExp(`^remapsim: ${field}: `));
  });
});

// ---------------------------------------------------------------------------------------
// import dmar --scenario

describe('import dmar --scenario', () => {
  it.each(DMAR_FILES)('%s: writes a scenario that run executes with exit 0', async (f) => {
    const out = join(tmp.dir, `${f}.yaml`);
    const w = await cli(['import', 'dmar', join(DMAR_DIR, f), '--scenario', out]);
    expect(w.err).toBe('');
    expect(w.code).toBe(0);
    expect(w.out).toBe(`wrote ${out}\n`);
    const text = readFileSync(out, 'utf8');
    const name = f.replace(/\.(bin|dsl)$/, '');
    // One enable-ir step per DRHD, numbered in table order.
    expect(text.match(/^ {4}enable-ir: /gm)).toHaveLength(PROVENANCE[name]!.drhd);
    const r = await cli(['run', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.trimEnd().split('\n').at(-1)).toMatch(/^P1 interrupt isolation: HELD/);
    // Every unit ends with IR enabled (GSTS.IRES set).
    const d = await cli(['dump', out]);
    expect(d.code).toBe(0);
    expect(d.out).not.toContain('IR disabled');
  });

  it.each([
    ['an AMD IVRS table', join(IVRS_DIR, 'supermicro-h8dgu.bin')],
    ['a missing file', join(DMAR_DIR, 'no-such-table.bin')],
    ['a truncated table', 'TRUNCATED'],
  ])('bad input (%s): exit 2 and no file written, not even a temporary one', async (_what, input) => {
    const t = tempDir('bad-dmar');
    try {
      let file = input;
      if (input === 'TRUNCATED') {
        file = join(t.dir, 'truncated.bin');
        writeFileSync(file, readFileSync(join(DMAR_DIR, 'hp-z240-sff.bin')).subarray(0, 60));
      }
      const out = join(t.dir, 'out.yaml');
      const r = await cli(['import', 'dmar', file, '--scenario', out]);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expectOneErrorLine(r.err);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(t.dir).filter((x) => x !== 'truncated.bin')).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  it('bad input leaves an existing output file untouched', async () => {
    const out = tmp.write('keep.yaml', 'name: keep\n');
    const r = await cli(['import', 'dmar', join(IVRS_DIR, 'framework-laptop16.bin'), '--scenario', out]);
    expect(r.code).toBe(2);
    expect(readFileSync(out, 'utf8')).toBe('name: keep\n');
  });

  it('an unwritable --scenario path is bad input: exit 2, one line, no stack trace', async () => {
    const r = await cli(['import', 'dmar', join(DMAR_DIR, 'hp-z240-sff.bin'), '--scenario', join(tmp.dir, 'no-such-dir', 'x.yaml')]);
    expect(r.code).toBe(2);
    expectOneErrorLine(r.err);
  });
});
