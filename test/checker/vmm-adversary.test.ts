/**
 * The checker's adversary for the VMM layer (src/checker/adversary.ts, check.ts): guest
 * software accessing the virtual MSI-X table, PBA, page and Message Control of a function the
 * VMM manages (`guest-mmio`, `guest-config`), a malicious device model (`check.adversary.
 * deviceModel`: `device-model` steps), P7 among the properties checked by default with a VMM.
 * The correct designs hold P1 and P7 under that adversary; qemu-kvm-broken-lazy-routes gives
 * a P7 counterexample and xen-broken-dm-page-write (a device model that writes the physical
 * table) a P1 one, each replayed by `remapsim run` without fast-check.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileSteps, prepareCheck, runCheck, untrustedDeviceModelsOf } from '../../src/checker/check.ts';
import { resolveRun, runChoiceArbitrary, stepKind, type AttackStep } from '../../src/checker/adversary.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { formatTrace } from '../../src/scenario/trace.ts';
import { scenarioWithSteps } from '../../src/scenario/write.ts';
import { VMM_DESIGNS } from '../../src/vmm/index.ts';
import { regionOf } from '../../src/vmm/virtual-msix.ts';

/**
 * vm1 (malicious, 2 vCPUs) owns 05:00.0 (2 MSI-X entries: one to vCPU 1, one lowest priority
 * to both), vm2 owns 06:00.0 (one entry, raised once). `ir`: interrupt remapping on (x2APIC),
 * else none (xAPIC, compatibility messages). `check` is the scenario's check section.
 */
function scenario(design: string, check: string, opts: { ir?: boolean; routes?: number } = {}): string {
  const ir = opts.ir ?? true;
  return `
name: vmm-adversary
platform:
  cpus: { count: 4 }${ir ? '' : '\n  apicMode: xapic'}
  policy: kvm
  vmm: ${design}${opts.routes === undefined ? '' : `\n  kvmRoutes: ${opts.routes}`}${
    ir
      ? `
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0xf020fe }`
      : ''
  }
devices:
  - { bdf: "05:00.0", msix: { tableSize: 2 } }
  - { bdf: "06:00.0", msix: { tableSize: 1 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["05:00.0"] }
  - { name: vm2, kind: guest, cpus: [3], vcpus: 1, devices: ["06:00.0"] }
steps:${
    ir
      ? `
  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }`
      : ''
  }
  - schedule: { vm: vm1, vcpu: 0, pcpu: 1 }
  - schedule: { vm: vm1, vcpu: 1, pcpu: 2 }
  - schedule: { vm: vm2, vcpu: 0, pcpu: 3 }
  - guest-config: { device: "05:00.0", offset: 0x72, size: 2, value: 0x8000 }
  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x0, size: 8, value: 0xfee01000 }
  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x8, size: 8, value: 0x41 }
  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x10, size: 8, value: 0xfee03004 }
  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x18, size: 8, value: 0x142 }
  - guest-config: { device: "06:00.0", offset: 0x72, size: 2, value: 0x8000 }
  - guest-mmio: { device: "06:00.0", bar: 0, offset: 0x0, size: 8, value: 0xfee00000 }
  - guest-mmio: { device: "06:00.0", bar: 0, offset: 0x8, size: 8, value: 0x51 }
  - signal: { device: "06:00.0", vector: 0 }
check:
${check}`;
}

const MALICIOUS = '  adversary:\n    guests: [vm1]\n';
const haveDesigns = ['qemu-kvm', 'qemu-kvm-broken-lazy-routes', 'xen', 'xen-broken-dm-page-write'].every((d) => VMM_DESIGNS[d] !== undefined);

describe('the threat model with a VMM', () => {
  it('guest-mmio and guest-config for the VMM-managed function; no program-msix/msix-control/guest-msi of it; P7 by default', () => {
    const p = prepareCheck(scenario('qemu-kvm', MALICIOUS), 'x.yaml');
    expect(p.threat.kinds).toEqual(['msi', 'signal', 'guest-msi', 'halt', 'guest-ack', 'guest-eoi', 'schedule', 'preempt', 'guest-mmio', 'guest-config']);
    expect(p.threat.properties).toEqual(['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7']);
    expect(p.threat.deviceModel).toBe(false);
    expect(p.pools.vmmDevices.map((d) => d.bdf)).toEqual(['05:00.0']);
    // guest-msi only for the other guest's function (XSA-237): its own goes through the VMM.
    expect(p.pools.requestDevices.map((d) => d.bdf)).toEqual(['06:00.0']);
    expect(p.untrustedDeviceModels.size).toBe(0);
  });

  it('deviceModel: true adds device-model steps and exempts the malicious guests from P7', () => {
    const p = prepareCheck(scenario('qemu-kvm', `${MALICIOUS}    deviceModel: true\n`), 'x.yaml');
    expect(p.threat.kinds.at(-1)).toBe('device-model');
    expect(p.threat.deviceModel).toBe(true);
    expect([...p.untrustedDeviceModels]).toEqual([1]);
    expect([...untrustedDeviceModelsOf(p.compiled, { ...p.data, check: { adversary: { deviceModel: true } } })]).toEqual([1, 2]);
  });

  it('lists the new kinds and P7 in the schema; deviceModel is a boolean', () => {
    expect(() => prepareCheck(scenario('qemu-kvm', `${MALICIOUS}    software: [guest-mmio, guest-config]\n  properties: [P1, P7]\n`), 'x.yaml')).not.toThrow();
    expect(() => prepareCheck(scenario('qemu-kvm', `${MALICIOUS}    deviceModel: yes-please\n`), 'x.yaml')).toThrow(/check\.adversary\.deviceModel.*must be boolean|must be boolean/);
    expect(() => prepareCheck(scenario('qemu-kvm', `${MALICIOUS}    software: [device-model]\n`), 'x.yaml')).toThrow(/expected one of/);
  });

  it('without a VMM there are no VMM steps and P7 is not a default', () => {
    const text = scenario('qemu-kvm', MALICIOUS).replace('  vmm: qemu-kvm\n', '').replace(/  - guest-(mmio|config).*\n/g, '');
    const p = prepareCheck(text.replace('    guests: [vm1]\n', '    guests: [vm1]\n    deviceModel: true\n'), 'x.yaml');
    expect(p.threat.kinds).not.toContain('guest-mmio');
    expect(p.threat.kinds).not.toContain('device-model');
    expect(p.threat.kinds).toContain('program-msix');
    expect(p.threat.properties).not.toContain('P7');
  });
});

describe('generated VMM steps', () => {
  const p = prepareCheck(scenario('qemu-kvm', `${MALICIOUS}    deviceModel: true\n`), 'x.yaml');
  const runs = fc.sample(runChoiceArbitrary(p.threat, 30), { seed: 7, numRuns: 200 });
  const steps: AttackStep[] = runs.flatMap((r) => resolveRun(p.pools, p.threat, r));
  const of = (kind: string) => steps.filter((s) => stepKind(s) === kind).map((s) => s[kind] as Record<string, unknown>);
  const layout = p.pools.vmmDevices[0]!.layout;

  it('compile as the replayed scenario compiles them', () => {
    const fast = compileSteps(p, steps).map((s) => [s.label, s.actions]);
    const full = compileScenario(parseScenarioText(scenarioWithSteps(p.text, steps, 'x'), 'x.yaml')).steps.slice(p.base.steps.length).map((s) => [s.label, s.actions]);
    expect(fast).toEqual(full);
  });

  it('guest-mmio: aligned DWORD/QWORD table writes of messages to the guest\'s vCPUs, reads of the table and PBA, and undefined accesses', () => {
    const mmio = of('guest-mmio');
    const writes = mmio.filter((m) => m.read === undefined);
    const at = (m: Record<string, unknown>) => regionOf(layout, m.bar as number, Number(m.offset));
    const table = writes.filter((m) => at(m) === 'table' && (m.size === 4 || m.size === 8) && Number(m.offset) % (m.size as number) === 0);
    expect(new Set(table.map((m) => m.size))).toEqual(new Set([4, 8]));
    // Addresses 0xFEE0_0000 | destination << 12 for the guest's APIC IDs 0 and 1, and the logical union 0x3 (DM bit 2).
    const addresses = new Set(table.filter((m) => Number(m.offset) % 16 === 0).map((m) => BigInt(m.value as string) & 0xffff_ffffn));
    expect([...addresses]).toEqual(expect.arrayContaining([0xfee0_0000n, 0xfee0_1000n, 0xfee0_3004n]));
    // Data | Vector Control QWORDs, unmasked and masked.
    const controls = new Set(table.filter((m) => Number(m.offset) % 16 === 8 && m.size === 8).map((m) => BigInt(m.value as string) >> 32n));
    expect(controls).toEqual(new Set([0n, 1n]));
    const reads = mmio.filter((m) => m.read === true);
    expect([...new Set(reads.map(at))]).toEqual(expect.arrayContaining(['table', 'pba']));
    expect(writes.some((m) => (m.size as number) < 4 && at(m) === 'table')).toBe(true);
    expect(writes.some((m) => at(m) === 'page')).toBe(true);
  });

  it('guest-config: Message Control enable / function-mask combinations, as the register, its high byte and the capability dword', () => {
    const config = of('guest-config');
    const control = (c: Record<string, unknown>): number => (c.size === 2 ? (c.value as number) : c.size === 1 ? (c.value as number) << 8 : (c.value as number) >>> 16) & 0xc000;
    expect(new Set(config.map(control))).toEqual(new Set([0x0000, 0x4000, 0x8000, 0xc000]));
    expect(new Set(config.map((c) => c.offset))).toEqual(new Set([layout.capability, layout.capability + 2, layout.capability + 3]));
  });

  it('device-model: every op, with messages to pCPU APIC IDs, write-page into the table, the PBA and the page', () => {
    const dm = of('device-model');
    expect(new Set(dm.map((d) => d.op))).toEqual(new Set(['bind', 'unbind', 'mask', 'write-page', 'signal-msi']));
    const pages = dm.filter((d) => d.op === 'write-page').map((d) => regionOf(layout, d.bar as number, Number(d.offset)));
    expect([...new Set(pages)]).toEqual(expect.arrayContaining(['table', 'pba', 'page']));
    // The pCPUs' APIC IDs are 0..3; the host's cpu0 (APIC 0) and vm2's cpu3 (APIC 3) among the destinations.
    const dests = new Set(dm.filter((d) => d.op === 'signal-msi').map((d) => (Number(d.address) >> 12) & 0xff));
    expect([...dests]).toEqual(expect.arrayContaining([0, 3]));
  });
});

describe.runIf(haveDesigns)('checks under the VMM adversary', () => {
  const budget = '  budget: { runs: 150, steps: 15, seconds: 120 }\n';

  it('qemu-kvm and xen hold P1 and P7 against a guest programming its virtual MSI-X', async () => {
    for (const design of ['qemu-kvm', 'xen']) {
      const p = prepareCheck(scenario(design, `${MALICIOUS}    devices: [signal]\n${budget}`), 'x.yaml');
      const r = await runCheck(p);
      expect(r.baseViolations).toEqual([]);
      expect(r.counterexample?.message).toBeUndefined();
      expect(r.runs).toBe(150);
      expect(r.coverage.vmm!.raised).toBeGreaterThan(50);
      expect(r.coverage.actions['guest-mmio']).toBeGreaterThan(50);
    }
  });

  it('qemu-kvm-broken-lazy-routes: a P7 counterexample (an interrupt lost when the routing table is full), replayed', async () => {
    const p = prepareCheck(scenario('qemu-kvm-broken-lazy-routes', `${MALICIOUS}    devices: [signal]\n${budget}`, { routes: 2 }), 'x.yaml');
    const r = await runCheck(p);
    const c = r.counterexample!;
    expect(c.property).toBe('P7');
    expect(c.message).toMatch(/raised entry \d .*nothing arrived/);
    expect(c.replayed).toBe(true);
    expect(c.deterministic).toBe(true);
    expect(formatTrace(runScenario(compileScenario(parseScenarioText(c.scenario, 'x.yaml'))))).toMatch(/VIOLATION P7 at action \d+: 05:00\.0 raised entry/);
  });

  it('with an adversarial device model (IR off): qemu-kvm and xen keep P1 (the device model reaches only its own guest); xen-broken-dm-page-write breaks it', async () => {
    const check = `${MALICIOUS}    deviceModel: true\n    devices: [signal]\n  budget: { runs: 300, steps: 15, seconds: 120 }\n`;
    for (const design of ['qemu-kvm', 'xen']) {
      const r = await runCheck(prepareCheck(scenario(design, check, { ir: false }), 'x.yaml'));
      expect(r.counterexample?.message).toBeUndefined();
      expect(r.coverage.actions['device-model']).toBeGreaterThan(100);
    }
    const r = await runCheck(prepareCheck(scenario('xen-broken-dm-page-write', check.replace('runs: 300, steps: 15', 'runs: 1000, steps: 20'), { ir: false }), 'x.yaml'));
    const c = r.counterexample!;
    expect(c.property).toBe('P1');
    expect(c.steps.some((s) => stepKind(s) === 'device-model' && (s['device-model'] as { op: string }).op === 'write-page')).toBe(true);
    expect(c.replayed).toBe(true);
  });
});
