/**
 * A scenario's `topology` section (src/scenario/fabric.ts → src/fabric/build.ts): every
 * topology that cannot exist is exit 2 with one stderr line `remapsim: FILE:LINE: FIELD:
 * MESSAGE` naming the offending line and field; the legacy form (no topology) keeps every
 * device alone with its own requester ID; a subordinate bus is derived; the bridges above
 * a device come from the topology, so a DRHD sub-hierarchy (bridge) scope covers devices
 * below the bridge; the split-group warning is printed for a split group only.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario, type CompiledScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { buildPlatform } from '../../src/platform/build.ts';

const tmp = tempDir('topology');
afterAll(() => tmp.cleanup());

/** Lines 1–6; a `topology:` or `devices:` section written after them starts at line 7. */
const HEAD = ['name: topology', 'platform:', '  hostAddressWidth: 39', '  cpus: { count: 2 }', '  iommus:', '    - { registerBase: 0xfed90000, includePciAll: true }'];
const TAIL = ['steps: []'];

let n = 0;
/** HEAD + `body` + TAIL, written to a temporary file. */
function scenario(body: readonly string[]): string {
  return tmp.write(`t${n++}.yaml`, [...HEAD, ...body, ...TAIL].join('\n') + '\n');
}

/** Line number (1-based) in the file of the first line of `body` containing `needle`. */
function lineOf(body: readonly string[], needle: string): number {
  const i = body.findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`no line with ${needle}`);
  return HEAD.length + i + 1;
}

/** `run FILE` must exit 2 with no stdout and exactly one stderr line; its parts. */
async function badRun(file: string): Promise<{ line: number; field: string; message: string }> {
  const r = await cli(['run', file]);
  expect(r.code, r.out + r.err).toBe(2);
  expect(r.out).toBe('');
  expect(r.err.endsWith('\n')).toBe(true);
  const lines = r.err.slice(0, -1).split('\n');
  expect(lines).toHaveLength(1);
  expect(r.err).not.toMatch(/\n\s+at |Error:/);
  const prefix = `remapsim: ${file}:`;
  expect(lines[0]!.startsWith(prefix), lines[0]).toBe(true);
  const m = /^(\d+): (\S+): (.+)$/.exec(lines[0]!.slice(prefix.length));
  expect(m, lines[0]).not.toBeNull();
  return { line: Number(m![1]), field: m![2]!, message: m![3]! };
}

/** Expect a bad topology: the line holding `needle`, the field, and a message matching `message`. */
async function expectBad(body: readonly string[], needle: string, field: string, message: RegExp): Promise<void> {
  const file = scenario(body);
  const e = await badRun(file);
  expect(e.field).toBe(field);
  expect(e.line, `${e.field}: ${e.message}`).toBe(lineOf(body, needle));
  expect(e.message).toMatch(message);
}

const compile = (text: string, file = 'x.yaml'): CompiledScenario => compileScenario(parseScenarioText(text, file));
const text = (body: readonly string[]): string => [...HEAD, ...body, ...TAIL].join('\n') + '\n';

describe('a topology that cannot exist is exit 2 naming its line and field', () => {
  it('overlapping bus ranges of two root ports', async () => {
    const body = [
      'topology:',
      '  functions:',
      '    - { bdf: "00:1c.0", type: root-port, secondary: 1, subordinate: 3 }',
      '    - bdf: "00:1d.0"',
      '      type: root-port',
      '      secondary: 2',
      '      subordinate: 4',
      'devices:',
      '  - { bdf: "01:00.0" }',
    ];
    await expectBad(body, 'subordinate: 4', 'topology.functions[1].subordinate', /bus range \[02, 04\] overlaps the range \[01, 03\] of bridge 00:1c\.0/);
  });

  it('a sibling range nested inside another bridge’s range', async () => {
    const body = [
      'topology:',
      '  functions:',
      '    - { bdf: "00:1c.0", type: root-port, secondary: 1, subordinate: 3 }',
      '    - bdf: "00:1d.0"',
      '      type: root-port',
      '      secondary: 2',
      'devices:',
      '  - { bdf: "01:00.0" }',
    ];
    await expectBad(body, 'secondary: 2', 'topology.functions[1].secondary', /lies inside the range \[01, 03\] of bridge 00:1c\.0, which is not above it/);
  });

  it('a parent range too small for the bridge below it', async () => {
    const body = [
      'topology:',
      '  functions:',
      '    - bdf: "00:1c.0"',
      '      type: root-port',
      '      secondary: 1',
      '      subordinate: 1',
      '    - { bdf: "01:00.0", type: switch-upstream, secondary: 2 }',
      'devices:',
      '  - { bdf: "02:00.0" }',
    ];
    await expectBad(body, 'subordinate: 1', 'topology.functions[0].subordinate', /must hold the range \[02, 02\] of bridge 01:00\.0/);
  });

  it('two bridges with the same secondary bus', async () => {
    const body = [
      'topology:',
      '  functions:',
      '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }',
      '    - { bdf: "00:1d.0", type: root-port, secondary: 1 }',
      'devices:',
      '  - { bdf: "01:00.0" }',
    ];
    await expectBad(body, '00:1d.0', 'topology.functions[1].secondary', /already the secondary bus of bridge 00:1c\.0/);
  });

  it('a device on a bus no bridge provides', async () => {
    const body = [
      'topology:',
      '  functions:',
      '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }',
      'devices:',
      '  - { bdf: "01:00.0" }',
      '  - { bdf: "07:00.0", name: orphan }',
    ];
    await expectBad(body, '07:00.0', 'devices[1].bdf', /bus 07 of segment 0 is neither a root bus of a host bridge nor the secondary bus of any bridge/);
  });

  it('a topology function on a bus no bridge provides', async () => {
    const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }', '    - { bdf: "09:00.0", type: switch-upstream, secondary: 10 }', 'devices:', '  - { bdf: "01:00.0" }'];
    await expectBad(body, '09:00.0', 'topology.functions[1].bdf', /bus 09 .* is neither a root bus/);
  });

  it('a phantom-function setting that does not fit the function number', async () => {
    const body = [
      'topology:',
      '  functions:',
      '    - { bdf: "00:1c.0", type: root-port, secondary: 3 }',
      'devices:',
      '  - { bdf: "03:00.0" }',
      '  - bdf: "03:00.4"',
      '    phantomFunctions: { supported: 1, enabled: true }',
    ];
    await expectBad(body, 'phantomFunctions', 'devices[1].phantomFunctions', /phantom functions with 1 bit need function number 0\.\.3 .* got function 4/);
  });

  it('phantom functions with 2 bits on function 2, and with 3 bits on function 1', async () => {
    for (const [bdf, supported, range] of [['03:00.2', 2, '0..1'], ['03:00.1', 3, '0..0']] as const) {
      const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 3 }', 'devices:', `  - { bdf: "${bdf}", phantomFunctions: { supported: ${supported} } }`];
      await expectBad(body, bdf, 'devices[0].phantomFunctions', new RegExp(`need function number ${range.replace(/\./g, '\\.')}`));
    }
  });

  it('phantom functions that are supported but not enabled fit any function number', () => {
    const c = compile(text(['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 3 }', 'devices:', '  - { bdf: "03:00.5", phantomFunctions: { supported: 3, enabled: false } }']));
    expect(c.platform.fabric!.functions['03:00.5']!.phantom).toEqual({ supported: 3, enabled: false });
  });

  it('a cycle of bridges (each on the other’s secondary bus)', async () => {
    const body = [
      'topology:',
      '  functions:',
      '    - bdf: "01:00.0"',
      '      type: pci-bridge',
      '      secondary: 2',
      '    - { bdf: "02:00.0", type: pci-bridge, secondary: 1 }',
      'devices:',
      '  - { bdf: "00:02.0" }',
    ];
    await expectBad(body, 'secondary: 2', 'topology.functions[0].secondary', /bridges form a cycle 01:00\.0 → 02:00\.0 → 01:00\.0/);
  });

  it('a bridge whose secondary bus is not below it', async () => {
    const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 2, subordinate: 3 }', '    - bdf: "02:00.0"', '      type: switch-upstream', '      secondary: 1', 'devices:', '  - { bdf: "00:02.0" }'];
    await expectBad(body, 'secondary: 1', 'topology.functions[1].secondary', /secondary bus 01 must be greater than the bridge's own bus 02/);
  });

  it('a bridge without its secondary bus (the line of the function)', async () => {
    const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port }', 'devices:', '  - { bdf: "00:02.0" }'];
    await expectBad(body, '00:1c.0', 'topology.functions[0].secondary', /a root-port is a bridge and needs its secondary bus number/);
  });

  it('a device that is a bridge without its secondary bus', async () => {
    const body = ['devices:', '  - { bdf: "00:02.0", type: pcie-to-pci-bridge }'];
    await expectBad(body, '00:02.0', 'devices[0].secondary', /a pcie-to-pci-bridge is a bridge and needs its secondary bus number/);
  });

  it('a non-bridge with a secondary bus', async () => {
    const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }', 'devices:', '  - bdf: "01:00.0"', '    secondary: 3'];
    await expectBad(body, 'secondary: 3', 'devices[0].secondary', /a endpoint has no secondary bus: only bridges/);
  });

  it('a non-bridge with a subordinate bus, in the topology', async () => {
    const body = ['topology:', '  functions:', '    - bdf: "00:1f.0"', '      type: rc-integrated-endpoint', '      subordinate: 3', 'devices:', '  - { bdf: "00:02.0" }'];
    await expectBad(body, 'subordinate: 3', 'topology.functions[0].subordinate', /has no subordinate bus/);
  });

  it('a bridge whose primary bus is not its own bus', async () => {
    const body = ['topology:', '  functions:', '    - bdf: "00:1c.0"', '      type: root-port', '      primary: 4', '      secondary: 1', 'devices:', '  - { bdf: "01:00.0" }'];
    await expectBad(body, 'primary: 4', 'topology.functions[0].primary', /primary bus 04 must equal the bridge's own bus 00/);
  });

  it('a DMA alias on another bus', async () => {
    const body = [
      'topology:',
      '  functions:',
      '    - { bdf: "00:1c.0", type: root-port, secondary: 3, subordinate: 4 }',
      'devices:',
      '  - bdf: "03:00.0"',
      '    dmaAliases:',
      '      - "03:00.1"',
      '      - "04:00.0"',
    ];
    await expectBad(body, '"04:00.0"', 'devices[0].dmaAliases[1]', /a DMA alias is a device\/function on the function's own bus 03/);
  });

  it('a dmaDevice that names no function', async () => {
    const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 3 }', 'devices:', '  - bdf: "03:00.0"', '    dmaDevice: "00:0e.0"'];
    await expectBad(body, 'dmaDevice', 'devices[0].dmaDevice', /dmaDevice "00:0e\.0" names no function of the fabric/);
  });

  it('an acs `enabled` bit not in `capable`', async () => {
    const body = [
      'topology:',
      '  functions:',
      '    - bdf: "00:1c.0"',
      '      type: root-port',
      '      secondary: 1',
      '      acs:',
      '        capable: [RR, CR, UF]',
      '        enabled: [SV, RR]',
      'devices:',
      '  - { bdf: "01:00.0" }',
    ];
    await expectBad(body, 'enabled: [SV, RR]', 'topology.functions[0].acs.enabled', /an enabled ACS control must be in capable/);
  });

  it('an acs value that is neither a list nor { capable, enabled } (schema)', async () => {
    const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 1, acs: 7 }', 'devices:', '  - { bdf: "01:00.0" }'];
    await expectBad(body, '00:1c.0', 'topology.functions[0].acs', /expected a list of ACS control bits/);
  });

  it('`upstream` given together with a topology', async () => {
    const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }', 'devices:', '  - bdf: "01:00.0"', '    upstream: ["00:1c.0"]'];
    await expectBad(body, 'upstream:', 'devices[0].upstream', /with a topology section the bridges above a device come from the topology: remove upstream/);
  });

  it('a malformed `id` (schema pattern)', async () => {
    for (const id of ['8086-1234', '808:1234', 'zzzz:1234', '8086:12345']) {
      const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }', 'devices:', `  - { bdf: "01:00.0", id: "${id}" }`];
      await expectBad(body, '01:00.0', 'devices[0].id', /must match pattern/);
    }
    const body = ['topology:', '  functions:', '    - bdf: "00:1c.0"', '      type: root-port', '      id: "8086"', '      secondary: 1', 'devices:', '  - { bdf: "01:00.0" }'];
    await expectBad(body, 'id: "8086"', 'topology.functions[0].id', /must match pattern/);
  });

  it('an unknown type (schema enum)', async () => {
    const body = ['devices:', '  - { bdf: "01:00.0", type: gpu }'];
    await expectBad(body, '01:00.0', 'devices[0].type', /expected one of "endpoint"/);
  });

  it('a function declared both in the topology and in devices', async () => {
    const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }', '    - { bdf: "01:00.0", type: endpoint }', 'devices:', '  - { bdf: "01:00.0" }'];
    await expectBad(body, '  - { bdf: "01:00.0" }', 'devices[0].bdf', /^01:00\.0: function declared twice \(first at topology\.functions\[1\]\)/);
  });

  it('a root bus of a host bridge inside a bridge’s range', async () => {
    const body = [
      'topology:',
      '  hostBridges:',
      '    - { bus: 0 }',
      '    - { bus: 0x80 }',
      '  functions:',
      '    - bdf: "00:1c.0"',
      '      type: root-port',
      '      secondary: 1',
      '      subordinate: 0x90',
      'devices:',
      '  - { bdf: "01:00.0" }',
    ];
    await expectBad(body, 'subordinate: 0x90', 'topology.functions[0].subordinate', /covers root bus 80 of a host bridge/);
  });

  it('a bridge whose secondary bus is a root bus', async () => {
    const body = ['topology:', '  hostBridges:', '    - { bus: 0 }', '    - { bus: 0x80 }', '  functions:', '    - bdf: "00:1c.0"', '      type: root-port', '      secondary: 0x80', 'devices:', '  - { bdf: "00:02.0" }'];
    await expectBad(body, 'secondary: 0x80', 'topology.functions[0].secondary', /is a root bus of a host bridge/);
  });

  it('a host bridge declared twice names that host bridge', async () => {
    const body = ['topology:', '  hostBridges:', '    - { bus: 0 }', '    - { bus: 0, name: again }', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }', 'devices:', '  - { bdf: "01:00.0" }'];
    await expectBad(body, 'name: again', 'topology.hostBridges[1]', /^root bus 00 of segment 0 declared twice$/);
  });

  it('the message of a device error names the device, not an index of the internal function list', async () => {
    const body = ['topology:', '  functions:', '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }', 'devices:', '  - { bdf: "01:00.0" }', '  - { bdf: "07:00.0" }'];
    const e = await badRun(scenario(body));
    expect(e.field).toBe('devices[1].bdf');
    expect(e.message).not.toMatch(/functions\[2\]/);
    expect(e.message).toMatch(/^07:00\.0: /);
  });
});

describe('the legacy form: no topology section', () => {
  const body = [
    'devices:',
    '  - { bdf: "05:00.0", msix: { tableSize: 2 } }',
    '  - { bdf: "05:00.1", msix: { tableSize: 2 } }',
    '  - { bdf: "06:03.0" }',
    'domains:',
    '  - { name: host, kind: host, cpus: [0] }',
    '  - { name: vm1, kind: guest, cpus: [1], devices: ["05:00.0"] }',
    '  - { name: vm2, kind: guest, cpus: [1], devices: ["05:00.1", "06:03.0"] }',
  ];

  it('every device is a single-function endpoint alone on a root bus, with its own requester ID', () => {
    const c = compile(text(body));
    const state = buildPlatform(c.platform);
    for (const [key, rid] of [['05:00.0', 0x500], ['05:00.1', 0x501], ['06:03.0', 0x618]] as const) {
      const fn = state.fabric.functions[key]!;
      expect(fn.kind).toBe('endpoint');
      expect(fn.multifunction).toBe(false);
      expect(fn.parent).toBeUndefined();
      expect(fn.path).toEqual([]);
      expect(fn.dmaAliases).toEqual([]);
      expect(state.devices[key]!.busRid).toBe(rid);
    }
    expect(state.fabric.hostBridges.map((h) => h.bus).sort()).toEqual([5, 6]);
  });

  it('gives no warnings even for two functions of one slot in two domains', async () => {
    expect(compile(text(body)).warnings).toEqual([]);
    const r = await cli(['run', scenario(body)]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(/warning/);
    expect(r.err).toBe('');
  });

  it('the same two functions under a topology are one multi-function device without ACS: one group, split, warned', () => {
    const withTopology = ['topology:', '  hostBridges: [{ bus: 5 }, { bus: 6 }]', ...body];
    const c = compile(text(withTopology));
    expect(c.platform.fabric!.functions['05:00.0']!.multifunction).toBe(true);
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toMatch(/^IOMMU group \d+ \[05:00\.0 05:00\.1\] is split between domains: 05:00\.0 \(vm1\), 05:00\.1 \(vm2\) — VFIO would refuse it/);
  });

  it('a device type and fabric fields are honoured without a topology (on a root bus)', () => {
    const c = compile(text(['devices:', '  - { bdf: "05:00.0", phantomFunctions: { supported: 1 }, dmaAliases: ["05:00.3"], id: "8086:1234", bars: [{ base: 0xa0000000, size: 0x1000 }] }']));
    const fn = c.platform.fabric!.functions['05:00.0']!;
    expect(fn.phantom).toEqual({ supported: 1, enabled: true });
    expect(fn.dmaAliases).toEqual([0x03]);
    expect([fn.vendorId, fn.deviceId]).toEqual([0x8086, 0x1234]);
    expect(fn.bars).toEqual([{ base: 0xa0000000n, size: 0x1000n }]);
  });
});

describe('derived bus numbers and upstream bridges', () => {
  it('a bridge without subordinate gets the highest bus below it', () => {
    const c = compile(
      text([
        'topology:',
        '  functions:',
        '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }',
        '    - { bdf: "01:00.0", type: switch-upstream, secondary: 2 }',
        '    - { bdf: "02:00.0", type: switch-downstream, secondary: 3 }',
        '    - { bdf: "02:01.0", type: switch-downstream, secondary: 7 }',
        '    - { bdf: "03:00.0", type: pcie-to-pci-bridge, secondary: 4 }',
        '    - { bdf: "00:1d.0", type: root-port, secondary: 9, subordinate: 0x0c }',
        'devices:',
        '  - { bdf: "04:02.0", type: pci }',
        '  - { bdf: "07:00.0" }',
      ]),
    );
    const f = c.platform.fabric!.functions;
    expect(f['00:1c.0']!.bridge).toEqual({ secondary: 1, subordinate: 7 });
    expect(f['01:00.0']!.bridge).toEqual({ secondary: 2, subordinate: 7 });
    expect(f['02:00.0']!.bridge).toEqual({ secondary: 3, subordinate: 4 });
    expect(f['02:01.0']!.bridge).toEqual({ secondary: 7, subordinate: 7 });
    expect(f['03:00.0']!.bridge).toEqual({ secondary: 4, subordinate: 4 });
    // A given subordinate is kept, even with nothing below.
    expect(f['00:1d.0']!.bridge).toEqual({ secondary: 9, subordinate: 0x0c });
    expect(f['04:02.0']!.path).toEqual(['00:1c.0', '01:00.0', '02:00.0', '03:00.0']);
    // The devices' upstream comes from the topology, root first.
    const dev = c.platform.devices.find((d) => d.key === '04:02.0')!;
    expect(dev.upstream).toEqual([0x00e0, 0x0100, 0x0200, 0x0300]);
    expect(c.platform.devices.find((d) => d.key === '07:00.0')!.upstream).toEqual([0x00e0, 0x0100, 0x0208]);
  });

  it('a derived subordinate bounds ACS Source Validation at the root port', () => {
    const c = compile(
      text([
        'topology:',
        '  functions:',
        '    - { bdf: "00:1c.0", type: root-port, secondary: 1, acs: [SV, RR, CR, UF] }',
        '    - { bdf: "01:00.0", type: switch-upstream, secondary: 2 }',
        '    - { bdf: "02:00.0", type: switch-downstream, secondary: 3 }',
        'devices:',
        '  - { bdf: "03:00.0" }',
      ]).replace('steps: []', ['steps:', '  - msi: { device: "03:00.0", rid: "02:00.0", address: 0xfee00000, data: 0x30 }', '  - msi: { device: "03:00.0", rid: "04:00.0", address: 0xfee00000, data: 0x30 }', '    expect: { blocked: true }'].join('\n')),
    );
    const r = runScenario(c);
    expect(r.steps[0]!.events.some((e) => e.kind === 'request-blocked')).toBe(false);
    const blocked = r.steps[1]!.events.find((e) => e.kind === 'request-blocked');
    expect(blocked).toMatchObject({ port: '00:1c.0', range: [1, 3], rid: 0x0400 });
    expect(r.steps[1]!.failures).toEqual([]);
  });
});

describe('a DRHD bridge scope covers the devices below the bridge, from the topology', () => {
  // dmar0 covers the sub-hierarchy below root port 00:1c.0; dmar1 is INCLUDE_PCI_ALL.
  const body = [
    'topology:',
    '  functions:',
    '    - { bdf: "00:1c.0", type: root-port, secondary: 1 }',
    '    - { bdf: "01:00.0", type: switch-upstream, secondary: 2 }',
    '    - { bdf: "02:00.0", type: switch-downstream, secondary: 3 }',
    '    - { bdf: "00:1d.0", type: root-port, secondary: 8 }',
    'devices:',
    '  - { bdf: "03:00.0", name: below 1c, msix: { tableSize: 1 } }',
    '  - { bdf: "08:00.0", name: below 1d, msix: { tableSize: 1 } }',
    '  - { bdf: "00:02.0", name: on the root bus, msix: { tableSize: 1 } }',
    'grants:',
    '  - { device: "03:00.0", vector: 0x30, apicId: 1 }',
    '  - { device: "08:00.0", vector: 0x40, apicId: 0 }',
  ];
  const units = [
    '  iommus:',
    '    - registerBase: 0xfed90000',
    '      scope: { bridges: ["00:1c.0"] }',
    '    - { registerBase: 0xfed91000, includePciAll: true }',
  ];
  const withUnits = (b: readonly string[]): string => [...HEAD.slice(0, 4), ...units, ...b, ...TAIL].join('\n') + '\n';

  it('resolves each device to its unit', () => {
    const state = buildPlatform(compile(withUnits(body)).platform);
    expect(state.devices['03:00.0']!.iommu).toBe(0);
    expect(state.devices['08:00.0']!.iommu).toBe(1);
    expect(state.devices['00:02.0']!.iommu).toBe(1);
  });

  it('without the topology (and no upstream) the same device falls to the INCLUDE_PCI_ALL unit', () => {
    const legacy = ['devices:', '  - { bdf: "03:00.0", msix: { tableSize: 1 } }'];
    expect(buildPlatform(compile(withUnits(legacy)).platform).devices['03:00.0']!.iommu).toBe(1);
    const upstream = ['devices:', '  - { bdf: "03:00.0", upstream: ["00:1c.0", "01:00.0", "02:00.0"], msix: { tableSize: 1 } }'];
    expect(buildPlatform(compile(withUnits(upstream)).platform).devices['03:00.0']!.iommu).toBe(0);
  });

  it('an interrupt of the device below the bridge is remapped by the bridge-scoped unit', async () => {
    const steps = [
      'steps:',
      '  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }',
      '  - enable-ir: { iommu: 1, base: 0x10010000, eime: true, entries: 256 }',
      '  - irte: { iommu: 0, index: 0, vector: 0x30, destination: 1, svt: requester-id, sq: 0, sid: "03:00.0" }',
      '  - invalidate-iec: { iommu: 0, index: 0 }',
      '  - irte: { iommu: 1, index: 0, vector: 0x40, destination: 0, svt: requester-id, sq: 0, sid: "08:00.0" }',
      '  - invalidate-iec: { iommu: 1, index: 0 }',
      '  - program-msix: { device: "03:00.0", entry: 0, address: 0xfee00018, data: 0, masked: false }',
      '  - msix-control: { device: "03:00.0", enable: true }',
      '  - signal: { device: "03:00.0", vector: 0 }',
      '    expect: { delivered: { path: remapped, vector: 0x30, cpus: [1] } }',
      '  - program-msix: { device: "08:00.0", entry: 0, address: 0xfee00018, data: 0, masked: false }',
      '  - msix-control: { device: "08:00.0", enable: true }',
      '  - signal: { device: "08:00.0", vector: 0 }',
      '    expect: { delivered: { path: remapped, vector: 0x40, cpus: [0] } }',
    ];
    const file = tmp.write(`drhd${n++}.yaml`, withUnits(body).replace('steps: []\n', steps.join('\n') + '\n'));
    const r = await cli(['run', file]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/03:00\.0 MSI fee00018\/00000000 → remapped by dmar0 IRTE 0x0/);
    expect(r.out).toMatch(/08:00\.0 MSI fee00018\/00000000 → remapped by dmar1 IRTE 0x0/);
  });
});

describe('the split-group warning in `run` output', () => {
  const WARNING = /^warning: IOMMU group \d+ \[01:00\.0 05:00\.0 05:01\.0\] is split between domains: 05:00\.0 \(vm1\), 05:01\.0 \(vm2\) — VFIO would refuse it \(group not viable\)/m;

  it('appears for rid-alias-bridge-insecure', async () => {
    const r = await cli(['run', repo('specs/attacks/rid-alias-bridge-insecure.yaml')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(WARNING);
    expect(r.out.match(/^warning:/gm)).toHaveLength(1);
  });

  it('does not appear for its secure twin', async () => {
    const r = await cli(['run', repo('specs/attacks/rid-alias-bridge-secure.yaml')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(/warning/);
  });

  it('compile gives the same warning list (and none for the twin)', () => {
    const read = (f: string) => readFileSync(repo(f), 'utf8');
    expect(compile(read('specs/attacks/rid-alias-bridge-insecure.yaml')).warnings).toHaveLength(1);
    expect(compile(read('specs/attacks/rid-alias-bridge-secure.yaml')).warnings).toEqual([]);
  });

  it('is not given for a group whose other members belong to no domain', () => {
    const c = compile(
      text([
        'topology:',
        '  functions:',
        '    - { bdf: "00:1c.0", type: root-port, secondary: 1, acs: [SV, RR, CR, UF] }',
        '    - { bdf: "01:00.0", type: pcie-to-pci-bridge, secondary: 5 }',
        'devices:',
        '  - { bdf: "05:00.0", type: pci }',
        '  - { bdf: "05:01.0", type: pci }',
        'domains:',
        '  - { name: host, kind: host, cpus: [0] }',
        '  - { name: vm1, kind: guest, cpus: [1], devices: ["05:00.0"] }',
      ]),
    );
    expect(c.warnings).toEqual([]);
  });
});
