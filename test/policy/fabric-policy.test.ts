/**
 * What the policies do with the fabric (src/policy/common.ts postedMsiSetup,
 * src/vtd/source-id.ts, src/policy/kvm.ts): IRTE source validation as Linux
 * `set_msi_sid` programs it over `pci_for_each_dma_alias`, VFIO group viability
 * (`groupViable`) refusing a guest's request for a device of a split group, the
 * kvm-broken-split-group variant that sets it up anyway, and the grant of an entry
 * that cannot tell the members of an aliasing group apart.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { buildFabric } from '../../src/fabric/build.ts';
import { dmaAliases, type DmaAlias } from '../../src/fabric/aliases.ts';
import { groupOf } from '../../src/fabric/group-index.ts';
import type { Fabric, FunctionDescription } from '../../src/fabric/model.ts';
import { msiSourceValidation } from '../../src/vtd/source-id.ts';
import { groupViable } from '../../src/policy/common.ts';
import { parseBdf } from '../../src/pci/bdf.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { formatTrace } from '../../src/scenario/trace.ts';
import { buildPlatform } from '../../src/platform/build.ts';
import { applyAction, applyActions } from '../../src/platform/transition.ts';
import { irEnableSequence } from '../../src/platform/ir-enable.ts';
import { decodeIrte } from '../../src/vtd/irte.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';

const tmp = tempDir('fabric-policy');
afterAll(() => tmp.cleanup());

const fn = (bdf: string, kind: FunctionDescription['kind'], rest: Partial<FunctionDescription> = {}): FunctionDescription => {
  const p = parseBdf(bdf)!;
  return { segment: p.segment, rid: p.rid, kind, ...rest };
};
const rid = (bdf: string): number => parseBdf(bdf)!.rid;
/** Source validation for `key` as the policies compute it. */
const sv = (fabric: Fabric, key: string) => msiSourceValidation(fabric, fabric.functions[key]!.rid, dmaAliases(fabric, key));
const read = (f: string): string => readFileSync(repo(f), 'utf8');
const run = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'policy.yaml')));

describe('msiSourceValidation: Linux set_msi_sid over pci_for_each_dma_alias', () => {
  it('behind a PCIe-to-PCI bridge: SVT=2 [secondary, device bus]', () => {
    const fabric = buildFabric({
      functions: [
        fn('00:1c.0', 'root-port', { secondary: 1 }),
        fn('01:00.0', 'pcie-to-pci-bridge', { secondary: 5 }),
        fn('05:01.0', 'pci'),
        fn('05:02.0', 'pci-bridge', { secondary: 6 }),
        fn('06:03.0', 'pci'),
      ],
    });
    expect(dmaAliases(fabric, '05:01.0').map((a) => [a.rid, a.via])).toEqual([[0x508, '05:01.0'], [0x500, '01:00.0']]);
    expect(sv(fabric, '05:01.0')).toEqual({ svt: 2, sq: 0, sid: 0x0505 });
    // One more conventional bridge below: the range reaches down to the device's bus.
    expect(sv(fabric, '06:03.0')).toEqual({ svt: 2, sq: 0, sid: 0x0506 });
    // 05:00.0 itself is its own ID and the bridge's alias (reported twice): still the bus only.
    const withZero = buildFabric({ functions: [fn('00:1c.0', 'root-port', { secondary: 1 }), fn('01:00.0', 'pcie-to-pci-bridge', { secondary: 5 }), fn('05:00.0', 'pci')] });
    expect(dmaAliases(withZero, '05:00.0').map((a) => a.rid)).toEqual([0x500, 0x500]);
    expect(sv(withZero, '05:00.0')).toEqual({ svt: 2, sq: 0, sid: 0x0505 });
  });

  it('several aliases all on one bus (NTB proxy IDs): SVT=2, that bus only', () => {
    const fabric = buildFabric({ functions: [fn('00:1c.0', 'root-port', { secondary: 3 }), fn('03:00.0', 'endpoint', { dmaAliases: [0x01, 0x02, 0x10] })] });
    expect(dmaAliases(fabric, '03:00.0').map((a) => a.rid)).toEqual([0x300, 0x301, 0x302, 0x310]);
    expect(sv(fabric, '03:00.0')).toEqual({ svt: 2, sq: 0, sid: 0x0303 });
  });

  it('a single quirk alias on the own bus is two aliases on one bus too: SVT=2 (Linux since 3f0c625c6ae7, busmatch counting)', () => {
    // Linux's comment calls this the "device DMA quirk" case, but with the busmatch count a
    // device with its own ID and one quirk alias on its bus gets the bus check.
    const fabric = buildFabric({ functions: [fn('00:1c.0', 'root-port', { secondary: 3 }), fn('03:00.1', 'endpoint', { dmaAliases: [0x00] })] });
    expect(sv(fabric, '03:00.1')).toEqual({ svt: 2, sq: 0, sid: 0x0303 });
  });

  it('a topology alias on another bus (a VMD domain’s device, dmaDevice the VMD endpoint): SVT=1 with the alias', () => {
    const fabric = buildFabric({
      hostBridges: [{ segment: 0, bus: 0 }, { segment: 0x10000, bus: 0xe0 }],
      functions: [fn('00:0e.0', 'rc-integrated-endpoint'), fn('10000:e0:06.0', 'root-port', { secondary: 0xe1 }), fn('10000:e1:00.0', 'endpoint', { dmaDevice: '00:0e.0' })],
    });
    const key = '10000:e1:00.0';
    expect(dmaAliases(fabric, key)).toEqual([{ rid: 0x0070, segment: 0, via: '00:0e.0', reason: 'dma-device' }]);
    expect(sv(fabric, key)).toEqual({ svt: 1, sq: 0, sid: 0x0070 });
  });

  it('otherwise the device’s own BDF: no alias at all, or an alias device on the device’s own bus', () => {
    const fabric = buildFabric({
      functions: [fn('00:1c.0', 'root-port', { secondary: 1, subordinate: 3 }), fn('01:00.0', 'switch-upstream', { secondary: 2 }), fn('02:00.0', 'switch-downstream', { secondary: 3 }), fn('03:00.0', 'endpoint'), fn('03:00.1', 'endpoint', { dmaDevice: '03:00.0' })],
    });
    expect(sv(fabric, '03:00.0')).toEqual({ svt: 1, sq: 0, sid: 0x0300 });
    // pci_real_dma_dev on the same bus: Linux uses pci_dev_id(dev), not the alias.
    expect(sv(fabric, '03:00.1')).toEqual({ svt: 1, sq: 0, sid: 0x0301 });
  });

  it('the last branch on an alias list whose last alias is the device’s bus after another bus', () => {
    // Not a list pci_for_each_dma_alias yields, but the branch logic is Linux's: the last alias
    // is on its yielder's bus, the aliases are not all on one bus, the yielder is on the device's bus.
    const fabric = buildFabric({ functions: [fn('03:00.0', 'endpoint'), fn('09:00.0', 'endpoint')], hostBridges: [{ segment: 0, bus: 3 }, { segment: 0, bus: 9 }] });
    const aliases: DmaAlias[] = [
      { rid: 0x900, segment: 0, via: '09:00.0', reason: 'dma-device' },
      { rid: 0x301, segment: 0, via: '03:00.0', reason: 'quirk' },
    ];
    expect(msiSourceValidation(fabric, 0x300, aliases)).toEqual({ svt: 1, sq: 0, sid: 0x300 });
    expect(msiSourceValidation(fabric, 0x300, [])).toEqual({ svt: 1, sq: 0, sid: 0x300 });
  });
});

/** The IRTE values the policy wrote, by index, from the trace. */
function irtesWritten(r: RunResult): ReturnType<typeof decodeIrte>['irte'][] {
  return r.steps.flatMap((s) => s.events).flatMap((e: PlatformEvent) => (e.kind === 'memory-write' && e.bytes === 16 && /^IRTE \d+ of/.test(e.what ?? '') ? [decodeIrte(e.value).irte] : []));
}
const hypervisorLines = (r: RunResult): string[] => r.steps.flatMap((s) => s.events).flatMap((e) => (e.kind === 'hypervisor' ? [e.request] : []));

describe('guest-msi for a device whose IOMMU group is split between domains', () => {
  const insecure = read('specs/attacks/split-group-policy-insecure.yaml');
  const secure = read('specs/attacks/split-group-policy-secure.yaml');

  it('the two devices behind the bridge are one group (with the bridge), and it is not viable for either guest', () => {
    const r = run(secure);
    const fabric = r.final.fabric;
    expect(groupOf(fabric, '05:00.0')!.devices).toEqual(['01:00.0', '05:00.0', '05:01.0']);
    const vm1 = r.final.domains.find((d) => d.name === 'vm1')!.id;
    const vm2 = r.final.domains.find((d) => d.name === 'vm2')!.id;
    expect(groupViable(r.final, '05:00.0', vm1)).toBe(false);
    expect(groupViable(r.final, '05:01.0', vm2)).toBe(false);
    expect(groupViable(r.final, '01:00.0', vm1)).toBe(false);
  });

  it('kvm: nothing is set up — the trace says “— nothing done”, no IRTE, no grant', async () => {
    const r = run(secure);
    const lines = hypervisorLines(r).filter((l) => l.startsWith('guest programs'));
    expect(lines).toEqual([expect.stringMatching(/^guest programs 05:00\.0 MSI-X entry 0: vector 0x41 → guest APIC 0 — nothing done$/), expect.stringMatching(/^guest programs 05:01\.0 .* — nothing done$/)]);
    expect(irtesWritten(r)).toEqual([]);
    expect(r.final.intent.grants).toEqual([]);
    expect(r.ok).toBe(true);
    const out = await cli(['run', repo('specs/attacks/split-group-policy-secure.yaml')]);
    expect(out.code).toBe(0);
    expect(out.out).toMatch(/hypervisor \(kvm\): guest programs 05:00\.0 MSI-X entry 0: vector 0x41 → guest APIC 0 — nothing done/);
  });

  it('xen refuses it as well', () => {
    const r = run(secure.replace('policy: kvm\n', 'policy: xen\n'));
    const requests = hypervisorLines(r).filter((l) => / 05:0[01]\.0 MSI-X/.test(l));
    expect(requests).toHaveLength(2);
    expect(requests.every((l) => l.endsWith('— nothing done'))).toBe(true);
    expect(irtesWritten(r)).toEqual([]);
  });

  it('kvm-broken-split-group: a posted IRTE with SVT=2 bus 05-05 for each, and the other guest’s device posts into vm1', () => {
    const r = run(insecure);
    const irtes = irtesWritten(r);
    expect(irtes).toHaveLength(2);
    for (const irte of irtes) expect(irte).toMatchObject({ mode: 'posted', present: true, svt: 2, sq: 0, sid: 0x0505 });
    expect(irtes.map((i) => (i.mode === 'posted' ? i.virtualVector : -1))).toEqual([0x41, 0x61]);
    // The grant covers only the requester's own device: the group's other member is vm2's.
    expect(r.final.intent.grants.map((g) => [g.requester, g.vector])).toEqual([['05:00.0', 0x41], ['05:01.0', 0x61]]);
    expect(r.ok).toBe(true);
    // vm2's device with vm1's handle: arrives as 05:00.0, passes the bus check, posts vm1's vector (P1).
    const attack = run(insecure.replace(/\ncheck:[\s\S]*$/, '\n').trimEnd() + '\n  - msi: { device: "05:01.0", address: 0xfee00018, data: 0 }\n');
    const last = attack.steps[attack.steps.length - 1]!;
    expect(last.events.find((e) => e.kind === 'interrupt-posted')).toMatchObject({ device: '05:01.0', rid: 0x0500, virtualVector: 0x41 });
    expect(attack.violations.length).toBeGreaterThan(0);
  });

  it('a group member owned by no domain does not make the group unviable; the grant covers the requester’s device only', () => {
    const text = secure.replace('devices: ["05:01.0"] }', '}');
    const r = run(text.replace(/  - signal:[\s\S]*?\n(?=check:)/, ''));
    const irtes = irtesWritten(r);
    expect(irtes).toHaveLength(1);
    expect(irtes[0]).toMatchObject({ mode: 'posted', svt: 2, sid: 0x0505 });
    expect(r.final.intent.grants.map((g) => g.requester)).toEqual(['05:00.0']);
    expect(hypervisorLines(r).find((l) => l.includes('05:01.0 MSI-X'))).toMatch(/— nothing done$/);
  });
});

describe('the whole group in one domain under kvm', () => {
  const oneDomain = (policy: string): string =>
    read('specs/attacks/split-group-policy-secure.yaml')
      .replace('policy: kvm\n', `policy: ${policy}\n`)
      .replace('devices: ["05:00.0"] }', 'devices: ["05:00.0", "05:01.0"] }')
      .replace('  - { name: vm2, kind: guest, cpus: [2], vcpus: 1, devices: ["05:01.0"] }\n', '')
      .replace(/  - note: the request was refused[\s\S]*?expect: \{ pending: true \}\n/, '  - signal: { device: "05:00.0", vector: 0 }\n    expect: { posted: { virtualVector: 0x41 } }\n')
      .replace(/\ncheck:[\s\S]*$/, '\n');

  it('is set up: posted IRTEs with SVT=2 05-05, no warning, and each grant covers both group members', () => {
    const text = oneDomain('kvm');
    const compiled = compileScenario(parseScenarioText(text, 'one.yaml'));
    expect(compiled.warnings).toEqual([]);
    const r = runScenario(compiled);
    expect(r.steps.flatMap((s) => s.failures)).toEqual([]);
    const irtes = irtesWritten(r);
    expect(irtes).toHaveLength(2);
    for (const irte of irtes) expect(irte).toMatchObject({ mode: 'posted', svt: 2, sid: 0x0505 });
    const grants = r.final.intent.grants.map((g) => [g.requester, g.vector, g.target]);
    expect(grants).toEqual([
      ['05:00.0', 0x41, { kind: 'vcpu', vcpu: 0 }],
      ['05:01.0', 0x41, { kind: 'vcpu', vcpu: 0 }],
      ['05:00.0', 0x61, { kind: 'vcpu', vcpu: 0 }],
      ['05:01.0', 0x61, { kind: 'vcpu', vcpu: 0 }],
    ]);
    expect(hypervisorLines(r).filter((l) => l.includes('nothing done'))).toEqual([]);
    expect(r.ok).toBe(true);
    expect(formatTrace(r)).toMatch(/intent: grant 05:01\.0 vector 0x41 → vCPU 0/);
  });

  it('so the sibling’s message with the other handle is a granted posting, not a P1 violation', () => {
    const r = run(oneDomain('kvm').trimEnd() + '\n  - msi: { device: "05:01.0", address: 0xfee00018, data: 0 }\n    expect: { posted: { virtualVector: 0x41 } }\n');
    expect(r.steps.flatMap((s) => s.failures)).toEqual([]);
    expect(r.violations).toEqual([]);
  });

  it('a device outside the bridge (its own group) gets SVT=1 with its own BDF', () => {
    const text = oneDomain('kvm')
      .replace('    - { bdf: "01:00.0", type: pcie-to-pci-bridge, secondary: 5 }\n', '    - { bdf: "01:00.0", type: pcie-to-pci-bridge, secondary: 5 }\n    - { bdf: "00:1d.0", type: root-port, secondary: 6, acs: [SV, RR, CR, UF] }\n')
      .replace('devices:\n', 'devices:\n  - { bdf: "06:00.0", name: nic, msix: { tableSize: 1 } }\n')
      .replace('devices: ["05:00.0", "05:01.0"] }', 'devices: ["05:00.0", "05:01.0", "06:00.0"] }')
      .trimEnd() + '\n  - guest-msi: { device: "06:00.0", entry: 0, destination: 0, vector: 0x51 }\n';
    const r = run(text);
    const irtes = irtesWritten(r);
    expect(irtes[irtes.length - 1]).toMatchObject({ mode: 'posted', svt: 1, sq: 0, sid: rid('06:00.0') });
    expect(r.final.intent.grants.filter((g) => g.vector === 0x51).map((g) => g.requester)).toEqual(['06:00.0']);
  });
});

describe('split-group-policy through the CLI', () => {
  it('the insecure scenario warns and posts; the secure one warns and does nothing', async () => {
    const bad = await cli(['run', repo('specs/attacks/split-group-policy-insecure.yaml')]);
    expect(bad.code, bad.err).toBe(0);
    expect(bad.out).toMatch(/^warning: IOMMU group \d+ \[01:00\.0 05:00\.0 05:01\.0\] is split/m);
    expect(bad.out).toMatch(/IRTE 0 of dmar0: P posted VV=0x41 .* SVT=2\(bus-range\) SQ=0 SID=bus 0x5-0x5/);
    expect(bad.out).not.toMatch(/nothing done/);
    const file = tmp.write('copy.yaml', read('specs/attacks/split-group-policy-secure.yaml'));
    const good = await cli(['run', file]);
    expect(good.code).toBe(0);
    expect(good.out.match(/— nothing done/g)).toHaveLength(2);
  });
});

describe('a device the hand-built fabric does not hold', () => {
  it('gets a posted IRTE validating its own BDF (no aliases, no group), instead of a RangeError', () => {
    const built = buildPlatform({
      hostAddressWidth: 39,
      apicMode: 'x2apic',
      extendedDestinationId: false,
      apicIds: [0, 1],
      policy: 'kvm',
      iommus: [{ segment: 0, registerBase: 0xfed90000n, includePciAll: true, cap: 0x08d2078c106f0462n, scope: { endpoints: [], bridges: [], busRanges: [], ioapics: [], hpets: [] } }],
      devices: [{ segment: 0, rid: 0x300, key: '03:00.0', name: 'd', upstream: [], msix: { tableSize: 1 } }],
      domains: [
        { name: 'host', kind: 'host', cpus: [0], devices: [] },
        { name: 'vm1', kind: 'guest', cpus: [1], devices: ['03:00.0'], vcpuApicIds: [0] },
      ],
      grants: [],
      fabric: buildFabric({ functions: [] }),
    });
    // Posting needs interrupt remapping on (and CAP.PI, which the unit has).
    const state = applyActions(built, irEnableSequence(0, { base: 0x1000_0000n, eime: true, entries: 256 }).actions).state;
    const r = applyAction(state, { kind: 'guest-msi', device: '03:00.0', entry: 0, destination: 0, vector: 0x41 });
    const irte = r.events.find((e) => e.kind === 'memory-write' && /^IRTE 0 of/.test(e.what ?? ''));
    expect(irte).toBeDefined();
    expect(decodeIrte((irte as { value: bigint }).value).irte).toMatchObject({ mode: 'posted', svt: 1, sid: 0x300 });
  });
});
