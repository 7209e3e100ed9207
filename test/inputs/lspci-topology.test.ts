// The lspci topology importer against the real dumps in data/real-inputs/lspci (see
// PROVENANCE.md there), the IOMMU groups computed from them against the machines' own
// "IOMMU group:" lines, and small synthetic dumps for each field and error.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/io/input-error.ts';
import { ACS_BITS, type FunctionDescription } from '../../src/fabric/model.ts';
import { buildFabric } from '../../src/fabric/build.ts';
import { iommuGroups, samePartition } from '../../src/fabric/groups.ts';
import { functionKey, hasLspciHeader, loadLspciTopology, parseLspciTopology, type LspciTopology } from '../../src/inputs/lspci-topology.ts';

const DIR = fileURLToPath(new URL('../../data/real-inputs/lspci/', import.meta.url));
const FILES = readdirSync(DIR).sort();
const path = (prefix: string): string => join(DIR, FILES.find((f) => f.startsWith(prefix))!);

const fn = (t: LspciTopology, key: string): FunctionDescription => {
  const f = t.description.functions.find((x) => functionKey(x.segment, x.rid) === key);
  if (!f) throw new Error(`no function ${key}`);
  return f;
};

/** The machine's groups as a partition (lists of keys). */
function machinePartition(t: LspciTopology): string[][] {
  const m = new Map<number, string[]>();
  for (const [k, n] of t.machineGroups) m.set(n, [...(m.get(n) ?? []), k]);
  return [...m.values()];
}

/** The computed groups restricted to the functions the machine put in a group. */
function computedPartition(t: LspciTopology): string[][] {
  const groups = iommuGroups(buildFabric(t.description));
  return groups.map((g) => g.devices.filter((d) => t.machineGroups.has(d))).filter((g) => g.length > 0);
}

describe('every shipped dump', () => {
  it('there are five', () => expect(FILES).toHaveLength(5));

  it.each(FILES)('%s: one function per header line, lines and names point at it, the fabric builds', (f) => {
    const text = readFileSync(join(DIR, f), 'utf8');
    const src = text.split('\n');
    const headers = src.filter((l) => /^([0-9a-f]{4,5}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] /.test(l));
    const t = loadLspciTopology(join(DIR, f));
    expect(t.description.functions).toHaveLength(headers.length);
    for (const x of t.description.functions) {
      const key = functionKey(x.segment, x.rid);
      const line = src[t.lines.get(key)! - 1]!;
      expect(line.replace(/^0000:/, '').startsWith(`${key} `)).toBe(true);
      expect(t.names.get(key)).toBeTruthy();
      expect(t.names.get(key)).not.toMatch(/\[[0-9a-f]{4}:[0-9a-f]{4}\]|\(rev /);
    }
    // Every "IOMMU group:" line of the file is in machineGroups.
    expect(t.machineGroups.size).toBe(src.filter((l) => /^\s+IOMMU group: \d+$/.test(l)).length);
    expect(hasLspciHeader(text)).toBe(true);
    expect(() => buildFabric(t.description)).not.toThrow();
  });
});

describe('Dell Latitude 9420 (complete -vvnn dump with -D domains and a VMD domain)', () => {
  const t = loadLspciTopology(path('dell-latitude-9420'));

  it('kinds, ids, bus numbers and ACS as the dump prints them', () => {
    expect(fn(t, '00:02.0')).toMatchObject({ kind: 'rc-integrated-endpoint', vendorId: 0x8086, deviceId: 0x9a49 });
    expect(fn(t, '00:1c.0')).toMatchObject({
      kind: 'root-port',
      primary: 0,
      secondary: 0xa3,
      subordinate: 0xa3,
      // ACSCap SV TB RR CR UF; ACSCtl SV RR CR UF (TransBlk-).
      acs: { cap: ACS_BITS.SV | ACS_BITS.TB | ACS_BITS.RR | ACS_BITS.CR | ACS_BITS.UF, ctrl: ACS_BITS.SV | ACS_BITS.RR | ACS_BITS.CR | ACS_BITS.UF },
    });
    expect(fn(t, '00:07.0')).toMatchObject({ kind: 'root-port', secondary: 0x01, subordinate: 0x51, acs: { cap: 0x1f, ctrl: 0x1f } });
    expect(fn(t, 'a3:00.0')).toMatchObject({ kind: 'endpoint', vendorId: 0x8086, deviceId: 0x2725 });
    // No Express capability, no Bus line: conventional PCI.
    expect(fn(t, '00:14.0').kind).toBe('pci');
    expect(fn(t, '00:1f.0').kind).toBe('pci');
    for (const x of t.description.functions) expect(x.multifunction).toBeUndefined();
  });

  it('the VMD domain: its functions DMA as the VMD controller 00:0e.0, e0 is a root bus of 10000', () => {
    expect(fn(t, '00:0e.0')).toMatchObject({ kind: 'rc-integrated-endpoint', deviceId: 0x9a0b });
    expect(fn(t, '10000:e0:06.0')).toMatchObject({ segment: 0x10000, kind: 'root-port', secondary: 0xe1, subordinate: 0xe1, dmaDevice: '00:0e.0' });
    // Its Bus line says primary=00 (VMD bus offset): not passed on.
    expect(fn(t, '10000:e0:06.0').primary).toBeUndefined();
    expect(fn(t, '10000:e1:00.0')).toMatchObject({ kind: 'endpoint', dmaDevice: '00:0e.0' });
    expect(fn(t, '00:0e.0').dmaDevice).toBeUndefined();
    expect(t.description.hostBridges).toEqual([
      { segment: 0, bus: 0 },
      { segment: 0x10000, bus: 0xe0 },
    ]);
    expect(t.assumptions).toEqual([]);
  });

  it('memory BARs: top-level Memory regions with their sizes, not I/O, disabled or SR-IOV VF regions', () => {
    // Region 0 16M at 6079000000, Region 2 256M at 4000000000; Region 4 is I/O; the SR-IOV
    // capability's Region 0/2 lines are the VF BARs.
    expect(fn(t, '00:02.0').bars).toEqual([
      { base: 0x6079000000n, size: 16n << 20n },
      { base: 0x4000000000n, size: 256n << 20n },
    ]);
    // 00:05.0's only region is "[disabled]".
    expect(fn(t, '00:05.0').bars).toBeUndefined();
  });

  it('names and machine groups', () => {
    expect(t.names.get('00:0e.0')).toBe('RAID bus controller: Intel Corporation Volume Management Device NVMe RAID Controller');
    expect(t.names.get('00:02.0')).toBe('VGA compatible controller: Intel Corporation TigerLake-LP GT2 [Iris Xe Graphics]');
    expect(t.machineGroups.size).toBe(33);
    expect(new Set(t.machineGroups.values()).size).toBe(21);
    expect(t.machineGroups.get('10000:e1:00.0')).toBe(10);
    expect(t.lines.get('00:00.0')).toBe(1);
  });

  it('the computed groups are exactly the machine\'s 21 IOMMU groups', () => {
    const groups = iommuGroups(buildFabric(t.description));
    expect(groups).toHaveLength(21);
    const cmp = samePartition(
      groups.map((g) => g.devices),
      machinePartition(t),
    );
    expect(cmp).toEqual({ equal: true, onlyInA: [], onlyInB: [] });
    const vmd = groups.find((g) => g.devices.includes('00:0e.0'))!;
    expect([...vmd.devices].sort()).toEqual(['00:0e.0', '10000:e0:06.0', '10000:e1:00.0']);
  });
});

describe('Lenovo ThinkPad T14 Gen 3 AMD (complete dump, AMD-Vi)', () => {
  const t = loadLspciTopology(path('lenovo-thinkpad-t14-gen3-amd'));

  it('parses; the IOMMU itself (00:00.2) and 00:00.0 have no group line', () => {
    expect(t.description.functions).toHaveLength(35);
    expect(t.machineGroups.size).toBe(33);
    expect(t.machineGroups.has('00:00.2')).toBe(false);
    expect(t.machineGroups.has('00:00.0')).toBe(false);
    // Functions behind 00:08.1 have an ACS capability with no capability bits (hard-wired).
    expect(fn(t, '04:00.0')).toMatchObject({ kind: 'legacy-endpoint', acs: { cap: 0, ctrl: 0 } });
    expect(fn(t, '00:02.1')).toMatchObject({ kind: 'root-port', acs: { cap: 0x5f, ctrl: 0x1d } });
  });

  it('computed partition equals the machine\'s 25 groups (over the functions that have a group)', () => {
    expect(new Set(t.machineGroups.values()).size).toBe(25);
    expect(samePartition(computedPartition(t), machinePartition(t))).toEqual({ equal: true, onlyInA: [], onlyInB: [] });
  });
});

describe('HP ProLiant DL360 G7 (partial, trimmed: no Express, ACS or Bus lines)', () => {
  const t = loadLspciTopology(path('hp-proliant-dl360-g7'));

  it('parses 17 functions, all with a group line, and says what it had to assume', () => {
    expect(t.description.functions).toHaveLength(17);
    expect(t.machineGroups.size).toBe(17);
    expect(new Set(t.machineGroups.values()).size).toBe(16);
    // Class 0604 but no Bus line (and no Express line): nothing below it, passed as a plain function.
    expect(fn(t, '00:1c.0').kind).toBe('pci');
    expect(fn(t, '00:1c.0').secondary).toBeUndefined();
    expect(t.assumptions.join('\n')).toMatch(/no "Bus:" line/);
    expect(t.assumptions.join('\n')).toMatch(/no function of the dump has an "Express" capability line/);
  });

  it('mismatch explained by the trimming: the Express lines that make 0d.x/0e.x/14.x Intel RCiEPs are gone', () => {
    // On the machine every function of 00:0d, 00:0e and 00:14 has a group of its own: they are
    // Intel Root Complex Integrated Endpoints, which Linux's pci_quirk_rciep_acs treats as
    // ACS-isolated. The trimming dropped their "Express (v2) Root Complex Integrated Endpoint"
    // lines, so here they are conventional PCI functions of multi-function devices without ACS
    // and share a group per device. Everything else (incl. 00:1c.0 + 00:1c.4, multi-function
    // ICH10 root ports without ACS) matches.
    const cmp = samePartition(computedPartition(t), machinePartition(t));
    expect(cmp.equal).toBe(false);
    const sorted = (x: string[][]): string[][] => x.map((g) => [...g].sort()).sort();
    expect(sorted(cmp.onlyInA)).toEqual(sorted([['00:0d.4', '00:0d.5', '00:0d.6'], ['00:0e.0', '00:0e.1', '00:0e.2', '00:0e.3', '00:0e.4'], ['00:14.0', '00:14.1', '00:14.2']]));
    expect(cmp.onlyInB.flat().sort()).toEqual(['00:0d.4', '00:0d.5', '00:0d.6', '00:0e.0', '00:0e.1', '00:0e.2', '00:0e.3', '00:0e.4', '00:14.0', '00:14.1', '00:14.2']);
    expect(cmp.onlyInB.every((g) => g.length === 1)).toBe(true);
  });

  it('the same dump with the RCiEP Express lines restored matches the machine', () => {
    const text = readFileSync(path('hp-proliant-dl360-g7'), 'utf8').replace(/^(00:(?:0d|0e|14)\.\d .*)$/gm, '$1\n\tCapabilities: [40] Express (v2) Root Complex Integrated Endpoint, MSI 00');
    const r = parseLspciTopology(text, 'restored');
    expect(samePartition(computedPartition(r), machinePartition(r)).equal).toBe(true);
  });
});

describe('the dumps without group lines', () => {
  it('Dell PowerEdge R820 (trimmed): missing bridges become root buses, each named', () => {
    const t = loadLspciTopology(path('dell-poweredge-r820'));
    expect(t.machineGroups.size).toBe(0);
    expect(t.description.hostBridges!.map((h) => h.bus)).toEqual([0x00, 0x01, 0x02, 0x07, 0x08, 0x09, 0x0a, 0x40, 0x80]);
    expect(t.assumptions).toContain('bus 07 has no bridge in the dump: treated as a root bus');
    expect(t.assumptions).not.toContain('bus 00 has no bridge in the dump: treated as a root bus');
  });

  it('Lenovo IdeaPad Gaming 3 (complete, DMA remapping off): bridges and ACS', () => {
    const t = loadLspciTopology(path('lenovo-ideapad-gaming3'));
    expect(t.machineGroups.size).toBe(0);
    expect(t.assumptions).toEqual([]);
    expect(fn(t, '00:1b.0')).toMatchObject({ kind: 'root-port', secondary: 6, subordinate: 6, acs: { cap: 0x0f, ctrl: 0x0d } });
    expect(fn(t, '01:00.0').kind).toBe('legacy-endpoint');
  });
});

// ---------------------------------------------------------------------------------------
// Synthetic dumps

const rootPort = (bdf: string, sec: string, extra = ''): string =>
  `${bdf} PCI bridge [0604]: Acme Root Port [1234:0001]\n\tBus: primary=${bdf.slice(0, 2)}, secondary=${sec}, subordinate=${sec}, sec-latency=0\n\tCapabilities: [40] Express (v2) Root Port (Slot+), MSI 00\n${extra}`;

describe('synthetic dumps', () => {
  it('phantom functions: DevCap PhantFunc 1/3/7 → 1/2/3 function-number bits, DevCtl PhantFunc±', () => {
    const dev = (bdf: string, n: number, en: string): string =>
      `${bdf} Ethernet controller [0200]: Acme NIC [1234:0002]\n\tCapabilities: [40] Express (v2) Endpoint, MSI 00\n\t\tDevCap:\tMaxPayload 256 bytes, PhantFunc ${n}, Latency L0s <64ns, L1 <1us\n\t\t\tExtTag+ AttnBtn- AttnInd- PwrInd- RBE+ FLReset-\n\t\tDevCtl:\tCorrErr- NonFatalErr- FatalErr- UnsupReq-\n\t\t\tRlxdOrd- ExtTag- PhantFunc${en} AuxPwr- NoSnoop+\n`;
    const t = parseLspciTopology(rootPort('00:01.0', '01') + dev('01:00.0', 1, '+') + rootPort('00:02.0', '02') + dev('02:00.0', 3, '-') + rootPort('00:03.0', '03') + dev('03:00.0', 7, '+') + rootPort('00:04.0', '04') + dev('04:00.0', 0, '-'), 'x');
    expect(fn(t, '01:00.0').phantom).toEqual({ supported: 1, enabled: true });
    expect(fn(t, '02:00.0').phantom).toEqual({ supported: 2, enabled: false });
    expect(fn(t, '03:00.0').phantom).toEqual({ supported: 3, enabled: true });
    expect(fn(t, '04:00.0').phantom).toBeUndefined();
  });

  it('region sizes and flags: 4G, 256 bytes, 128K; [disabled] and <unassigned> left out, [virtual] kept', () => {
    const t = parseLspciTopology(
      [
        '00:02.0 VGA compatible controller [0300]: Acme GPU [1234:0003]',
        '\tRegion 0: Memory at 4000000000 (64-bit, prefetchable) [size=4G]',
        '\tRegion 2: Memory at fe000000 (32-bit, non-prefetchable) [size=256]',
        '\tRegion 3: Memory at fd000000 (32-bit, non-prefetchable) [virtual] [size=128K]',
        '\tRegion 4: Memory at fc000000 (32-bit, non-prefetchable) [disabled] [size=1M]',
        '\tRegion 5: Memory at <unassigned> (32-bit, non-prefetchable) [size=1M]',
        '\tRegion 1: I/O ports at 3000 [size=64]',
        '',
      ].join('\n'),
      'x',
    );
    expect(fn(t, '00:02.0').bars).toEqual([
      { base: 0x4000000000n, size: 4n << 30n },
      { base: 0xfe000000n, size: 256n },
      { base: 0xfd000000n, size: 128n << 10n },
    ]);
  });

  it('without -nn: no ids, bridges from their Bus line, the VMD controller from its name', () => {
    const t = parseLspciTopology(
      [
        '0000:00:0e.0 RAID bus controller: Intel Corporation Volume Management Device NVMe RAID Controller',
        '0000:00:1c.0 PCI bridge: Intel Corporation Device (rev 20) (prog-if 00 [Normal decode])',
        '\tBus: primary=00, secondary=01, subordinate=01, sec-latency=0',
        '0000:01:00.0 Network controller: Intel Corporation Wi-Fi 6 AX210 (rev 1a)',
        '10000:e0:06.0 PCI bridge: Intel Corporation Device',
        '\tBus: primary=00, secondary=e1, subordinate=e1, sec-latency=0',
        '10000:e1:00.0 Non-Volatile memory controller: Sandisk Corp Device',
        '',
      ].join('\n'),
      'x',
    );
    expect(fn(t, '00:1c.0')).toMatchObject({ kind: 'pci-bridge', secondary: 1, subordinate: 1 });
    expect(fn(t, '00:1c.0').vendorId).toBeUndefined();
    expect(fn(t, '01:00.0').kind).toBe('pci');
    expect(t.names.get('00:1c.0')).toBe('PCI bridge: Intel Corporation Device');
    expect(fn(t, '10000:e1:00.0').dmaDevice).toBe('00:0e.0');
    expect(t.assumptions.join('\n')).toMatch(/no function of the dump has an "Express" capability line/);
  });

  it('two VMD controllers: domains 10000, 10001 go to them in BDF order', () => {
    const t = parseLspciTopology(
      [
        '0000:80:05.5 RAID bus controller [0104]: Intel Corporation Volume Management Device NVMe RAID Controller [8086:201d]',
        '0000:00:05.5 RAID bus controller [0104]: Intel Corporation Volume Management Device NVMe RAID Controller [8086:201d]',
        '10001:00:00.0 Non-Volatile memory controller [0108]: Acme SSD [1234:0004]',
        '10000:00:00.0 Non-Volatile memory controller [0108]: Acme SSD [1234:0004]',
        '',
      ].join('\n'),
      'x',
    );
    expect(fn(t, '10000:00:00.0').dmaDevice).toBe('00:05.5');
    expect(fn(t, '10001:00:00.0').dmaDevice).toBe('80:05.5');
    expect(t.assumptions).toContain('VMD domain 10001 is taken to belong to VMD controller 80:05.5 (Linux numbers VMD domains in probe order)');
  });

  it('a bus inside a bridge\'s range that no bridge in the dump provides becomes a root bus, and says so', () => {
    const t = parseLspciTopology(
      '00:1c.0 PCI bridge [0604]: Acme [1234:0001]\n\tBus: primary=00, secondary=05, subordinate=09, sec-latency=0\n\tCapabilities: [40] Express (v2) Root Port (Slot+), MSI 00\n07:00.0 VGA compatible controller [0300]: Acme [1234:0005]\n',
      'x',
    );
    expect(t.description.hostBridges).toEqual([
      { segment: 0, bus: 0 },
      { segment: 0, bus: 7 },
    ]);
    expect(t.assumptions).toEqual(["bus 07 has no bridge in the dump (it is inside 00:1c.0's bus range 05-09): treated as a root bus"]);
  });

  it('a PCIe port without a Bus line keeps its type and gets an empty secondary bus no function uses', () => {
    const t = parseLspciTopology('00:1c.0 PCI bridge [0604]: Acme [1234:0001]\n\tCapabilities: [40] Express (v2) Root Port (Slot+), MSI 00\n00:1d.0 PCI bridge [0604]: Acme [1234:0001]\n\tCapabilities: [40] Express (v2) Root Port (Slot+), MSI 00\nff:00.0 Host bridge [0600]: Acme [1234:0006]\n', 'x');
    expect(fn(t, '00:1c.0')).toMatchObject({ kind: 'root-port', secondary: 0xfe, subordinate: 0xfe });
    expect(fn(t, '00:1d.0')).toMatchObject({ kind: 'root-port', secondary: 0xfd, subordinate: 0xfd });
    expect(t.assumptions).toContain('00:1c.0 (root-port) has no "Bus:" line in the dump: given the empty secondary bus fe');
    expect(() => buildFabric(t.description)).not.toThrow();
  });

  it('pcilib stderr, also in the middle of a line, and # comments are skipped', () => {
    const t = parseLspciTopology(
      '# a comment\n00:1c.0 PCI bridge [0604]: Acme [1234:0001]\n\tpcilib: sysfs_read_vpd: read failed: No such device\n\tBus: primary=00, secondary=01, subordinate=01, sec-latency=0pcilib: Error reading label\n\tCapabilities: [40] Express (v2) Root Port (Slot+), MSI 00\npcilib: sysfs_read_vpd: read failed\n01:00.0 Ethernet controller [0200]: Acme [1234:0002]\n\tIOMMU group: 7\n',
      'x',
    );
    expect(fn(t, '00:1c.0')).toMatchObject({ kind: 'root-port', secondary: 1 });
    expect(t.machineGroups.get('01:00.0')).toBe(7);
    expect(t.lines.get('01:00.0')).toBe(7);
  });

  it('"Capabilities: <access denied>" (lspci not run as root) is named in the assumptions', () => {
    const t = parseLspciTopology('00:1c.0 PCI bridge [0604]: Acme [1234:0001]\n\tBus: primary=00, secondary=01, subordinate=01, sec-latency=0\n\tCapabilities: <access denied>\n', 'x');
    expect(fn(t, '00:1c.0').kind).toBe('pci-bridge');
    expect(t.assumptions.join('\n')).toMatch(/access denied/);
  });

  it.each([
    ['no device line', 'hello\nworld\n', 1, undefined, /not an lspci -vvv dump/],
    ['device 20 in a header', '00:00.0 Host bridge [0600]: Acme\n00:20.0 Host bridge [0600]: Acme\n', 2, 'device', /"00:20\.0" is not a valid PCI address/],
    ['a 3-digit bus in a header', '100:00.0 Host bridge [0600]: Acme\n', 1, 'device', /"100:00\.0" is not a valid PCI address/],
    ['function 8 in a header', '00:01.8 Host bridge [0600]: Acme\n', 1, 'device', /not a valid PCI address/],
    ['the same function twice', '00:01.0 Host bridge [0600]: Acme\n00:01.0 Host bridge [0600]: Acme\n', 2, 'device', /appears twice \(first at line 1\)/],
    ['a malformed Bus line', '00:01.0 PCI bridge [0604]: Acme\n\tBus: primary=00, secondary=1, subordinate=01\n', 2, 'Bus', /primary=pp, secondary=ss/],
    ['subordinate below secondary', '00:01.0 PCI bridge [0604]: Acme\n\tBus: primary=00, secondary=05, subordinate=04, sec-latency=0\n', 2, 'Bus', /below secondary/],
    ['an IOMMU group that is no number', '00:01.0 Host bridge [0600]: Acme\n\tIOMMU group: x\n', 2, 'IOMMU group', /not a group number/],
    ['an ACS line without its flags', '00:01.0 PCI bridge [0604]: Acme\n\t\tACSCap:\tSrcValid+ TransBlk+\n', 2, 'ACSCap', /ReqRedir/],
    ['PhantFunc 2', '00:01.0 Ethernet controller [0200]: Acme\n\t\tDevCap:\tMaxPayload 128 bytes, PhantFunc 2\n', 2, 'PhantFunc', /0, 1, 3 or 7/],
  ])('InputError: %s', (_what, text, line, field, message) => {
    let err: unknown;
    try {
      parseLspciTopology(text, 'dump.txt');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const e = err as InputError;
    expect(e.file).toBe('dump.txt');
    expect(e.line).toBe(line);
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
  });

  it('an unreadable file is an InputError naming it', () => {
    expect(() => loadLspciTopology(join(DIR, 'no-such-dump.txt'))).toThrow(InputError);
  });
});
