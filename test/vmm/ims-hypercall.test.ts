/**
 * The ims-hypercall VMM designs (src/vmm/designs/ims-hypercall.ts; seed thread 001, Jason
 * Gunthorpe 2020: "the VMM to provide a hypercall to obtain a real *working* addr/data
 * pair(s)"): a device with an IMS store (guest-written, not trapped) gets its pairs from the
 * `get-msi-pair` hypercall — an IRTE bound to the device, posted or remapped — and its
 * interrupts work (traces); the broken variants (SVT=0, no owner check) let another guest's
 * device reach the caller, or the caller steer another guest's device (P1); a guest's own
 * compatibility-format pair faults 0x25 with IR on and is a forged interrupt with IR off.
 * Scenarios run end to end (specs/vmm/ims-hypercall-posted.yaml, specs/attacks/ims-unbound-*.yaml,
 * inline ones).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseScenarioFile, parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { formatEvent } from '../../src/scenario/trace.ts';
import { decodeIrte } from '../../src/vtd/irte.ts';
import { VMM_DESIGNS } from '../../src/vmm/index.ts';
import { IMS_HYPERCALL_DESIGNS } from '../../src/vmm/designs/ims-hypercall.ts';

const repo = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const runFile = (p: string): RunResult => runScenario(compileScenario(parseScenarioFile(repo(p))));
const runText = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'ims-hypercall.yaml')));
/** A catalog scenario (its design replaced by `vmm` when given) with `steps` appended to its own, before `check:`. */
const attack = (file: string, steps = '', vmm?: string): RunResult => {
  let text = readFileSync(repo(`specs/attacks/${file}`), 'utf8').replace('\ncheck:', `\n${steps}check:`);
  if (vmm !== undefined) text = text.replace(/\n {2}vmm: [a-z-]+\n/, `\n  vmm: ${vmm}\n`);
  return runText(text);
};
const lines = (r: RunResult, from = 0): string[] => r.steps.slice(from).flatMap((s) => s.events.map((e) => formatEvent(e, r.final)));
const irte = (r: RunResult, index: number) => decodeIrte(r.final.memory.readLE(0x1000_0000n + BigInt(16 * index), 16)).irte;

/** The first of `want` (substrings) not found in `have` in this order after the previous one, or undefined. */
function firstMissing(have: readonly string[], want: readonly string[]): string | undefined {
  let at = 0;
  for (const w of want) {
    const i = have.findIndex((l, k) => k >= at && l.includes(w));
    if (i < 0) return w;
    at = i + 1;
  }
  return undefined;
}

/** vm1 (one vCPU on cpu1) owns 05:00.0 with an IMS store at BAR0 0x1000; vm2 (cpu2) owns 06:00.0. */
function platform(vmm: string, opts: { pi?: boolean; ir?: boolean } = {}): string {
  const caps = opts.pi === false ? '' : ', cap: 0x08d2078c106f0462, ecap: 0xf020fe';
  return `
name: ims
platform:
  hostAddressWidth: 39
  apicMode: ${opts.ir === false ? 'xapic' : 'x2apic'}
  cpus: { count: 3 }
  policy: kvm
  vmm: ${vmm}
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true${caps} }
devices:
  - { bdf: "05:00.0", msix: { tableSize: 1 } }
  - { bdf: "06:00.0", msix: { tableSize: 1 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1], vcpus: 1, devices: ["05:00.0"] }
  - { name: vm2, kind: guest, cpus: [2], vcpus: 1, devices: ["06:00.0"] }
steps:
${opts.ir === false ? '' : '  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }\n'}  - schedule: { vm: vm1, vcpu: 0, pcpu: 1 }
  - schedule: { vm: vm2, vcpu: 0, pcpu: 2 }
`;
}
const GET = '  - hypercall: { vm: vm1, op: get-msi-pair, device: "05:00.0", slot: 0, vcpu: 0, vector: 0x45 }\n';
const SLOT0 = '  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x1000, size: 8, value: 0xfee00018 }\n  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x1008, size: 4, value: 0 }\n';
const RAISE0 = '  - msi: { device: "05:00.0", address: 0xfee00018, data: 0 }\n';

describe('the registry', () => {
  it('has the three designs, two of them broken, each citing seed thread 001, and the schema admits them', () => {
    expect(IMS_HYPERCALL_DESIGNS.map((d) => [d.name, d.broken])).toEqual([
      ['ims-hypercall', false],
      ['ims-hypercall-broken-unbound', true],
      ['ims-hypercall-broken-no-owner-check', true],
    ]);
    const schema = JSON.parse(readFileSync(repo('specs/scenario.schema.json'), 'utf8')) as { definitions: Record<string, { properties: Record<string, { enum?: string[]; else?: { enum?: string[] } }> }> };
    const names = Object.values(schema.definitions).flatMap((d) => d.properties?.vmm?.enum ?? d.properties?.vmm?.else?.enum ?? []);
    for (const d of IMS_HYPERCALL_DESIGNS) {
      expect(VMM_DESIGNS[d.name]).toBe(d);
      expect(d.source).toContain('seed thread 001');
      expect(d.onHypercall).toBeDefined();
      expect(d.comparedByDefault).toBe(false);
      expect(names).toContain(d.name);
    }
  });
});

describe('ims-hypercall: a device with an IMS store gets working interrupts', () => {
  it('posted (CAP.PI): specs/vmm/ims-hypercall-posted.yaml — MSI-X entry 0 as under qemu-kvm (IRTE 0), the pair (IRTE 1), the untrapped slot writes, the posting; a foreign sender faults 0x26, the guest\'s own pair 0x25', () => {
    const r = runFile('specs/vmm/ims-hypercall-posted.yaml');
    expect(r.ok).toBe(true);
    expect(r.violations).toEqual([]);
    const have = lines(r);
    expect(
      firstMissing(have, [
        'cost: hypercall — get-msi-pair by vm1: 05:00.0 slot 0 → vm1.vcpu1, vector 0x45',
        'IRTE 1 of dmar0: P posted VV=0x45 PDA=0x40000040 SVT=1(requester-id) SQ=0 SID=05:00.0',
        'intent: grant 05:00.0 vector 0x45 → vCPU 1',
        'vmm (ims-hypercall): get-msi-pair 05:00.0 slot 0 → address 0xfee00038 data 0x0 (IRTE 1, posted into vm1.vcpu1 vector 0x45, SVT=1 SQ=0 SID=0x500)',
        '05:00.0 BAR0 0x1000 ← 00000000fee00038 (8 bytes) by guest (mapped BAR)',
        '05:00.0 MSI fee00038/00000000 → posted by dmar0 IRTE 0x1',
        'vm1.vcpu1 on cpu2: PIR → vIRR 0x45',
        '06:00.0 MSI fee00038/00000000 → BLOCKED by dmar0: fault 0x26',
        '05:00.0 MSI fee01000/00000046 → BLOCKED by dmar0: fault 0x25',
      ]),
    ).toBeUndefined();
    // The IMS store is not trapped: no VM exit, trap or ioctl for the slot writes.
    const slotSteps = r.steps.filter((s) => s.events.some((e) => e.kind === 'guest-access' && e.regions.every((g) => g === 'direct')));
    expect(slotSteps.length).toBe(5);
    expect(slotSteps.flatMap((s) => s.events.filter((e) => e.kind === 'vmm-cost'))).toEqual([]);
  });

  it('remapped (no CAP.PI): an IRTE to host vector 0xd0 on cpu1 with source validation; the slot\'s interrupt is injected into vm1\'s vCPU', () => {
    const r = runText(platform('ims-hypercall', { pi: false }) + GET + SLOT0 + RAISE0 + '    expect: { injected: 0x45, injectedInto: [vm1.vcpu0] }\n');
    expect(r.ok).toBe(true);
    const e = irte(r, 0);
    expect(e.mode).toBe('remapped');
    if (e.mode === 'remapped') expect([e.vector, e.svt, e.sid]).toEqual([0xd0, 1, 0x500]);
    expect(lines(r).some((l) => l.includes('get-msi-pair 05:00.0 slot 0 → address 0xfee00018 data 0x0 (IRTE 0, remapped to host vector 0xd0 on cpu1, injected as vector 0x45 into vm1.vcpu0'))).toBe(true);
  });

  it('refuses a device the caller does not own, an exception vector, another VM\'s vCPU — nothing written', () => {
    const r = runText(
      platform('ims-hypercall') +
        '  - hypercall: { vm: vm2, op: get-msi-pair, device: "05:00.0", slot: 0, vcpu: 0, vector: 0x45 }\n' +
        '  - hypercall: { vm: vm1, op: get-msi-pair, device: "05:00.0", slot: 0, vcpu: 0, vector: 0x5 }\n',
    );
    const have = lines(r);
    expect(have.filter((l) => l.includes('refused'))).toEqual([
      'vmm (ims-hypercall): get-msi-pair 05:00.0 slot 0: refused — 05:00.0 is not assigned to vm2',
      'vmm (ims-hypercall): get-msi-pair 05:00.0 slot 0: refused — vector 0x5 is not a device vector',
    ]);
    expect(have.some((l) => l.includes('IRTE 0 of dmar0'))).toBe(false);
    expect(r.violations).toEqual([]);
  });
});

describe('a guest that writes its own pair into a slot', () => {
  const FAKE = '  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x1010, size: 8, value: 0xfee01000 }\n  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x1018, size: 4, value: 0x46 }\n  - msi: { device: "05:00.0", address: 0xfee01000, data: 0x46 }\n';

  it('IR on: the compatibility-format message is blocked, fault 0x25', () => {
    const r = runText(platform('ims-hypercall') + FAKE);
    expect(r.violations).toEqual([]);
    expect(lines(r).some((l) => l.includes('05:00.0 MSI fee01000/00000046 → BLOCKED by dmar0: fault 0x25'))).toBe(true);
  });

  it('IR off: the hypercall has no handle to give, and the guest\'s own pair is a forged interrupt — P1', () => {
    const r = runText(platform('ims-hypercall', { ir: false }) + GET + FAKE);
    expect(lines(r).some((l) => l.includes('refused — interrupt remapping is off: no handle can be bound to the device'))).toBe(true);
    expect(r.violations.map((v) => [v.property, v.step, v.message])).toEqual([
      ['P1', r.steps.length - 1, '05:00.0 (requester ID on the bus 0x500) reached cpu1 (APIC 1) with vector 0x46 fixed via the compatibility path: no grant covers it'],
    ]);
  });
});

describe('broken variants', () => {
  it('ims-hypercall-broken-unbound: the IRTE has SVT=0 and vm2\'s function sending the handle is posted into vm1\'s vCPU — P1 (ims-hypercall: fault 0x26)', () => {
    const steps = '  - msi: { device: "06:00.0", address: 0xfee00018, data: 0 }\n';
    const bad = attack('ims-unbound-insecure.yaml', steps);
    const e = irte(bad, 0);
    expect(e.mode === 'posted' && e.svt).toBe(0);
    expect(bad.violations.map((v) => v.message)).toEqual(['06:00.0 (owned by vm2) posted vector 0x45 into vm1.vcpu0 of another domain']);
    const good = attack('ims-unbound-secure.yaml', steps);
    expect(good.ok).toBe(true);
    expect(lines(good, good.steps.length - 1).some((l) => l.includes('fault 0x26'))).toBe(true);
  });

  it('ims-hypercall-broken-no-owner-check: vm2 gets a pair for vm1\'s device, which then posts into vm2\'s vCPU — P1', () => {
    const steal = '  - hypercall: { vm: vm2, op: get-msi-pair, device: "05:00.0", slot: 0, vcpu: 0, vector: 0x45 }\n' + SLOT0 + RAISE0;
    const r = runText(platform('ims-hypercall-broken-no-owner-check') + steal);
    expect(lines(r).some((l) => l.includes('get-msi-pair 05:00.0 slot 0 → address 0xfee00018 data 0x0 (IRTE 0, posted into vm2.vcpu0 vector 0x45'))).toBe(true);
    expect(r.violations.map((v) => v.message)).toEqual(['05:00.0 (owned by vm1) posted vector 0x45 into vm2.vcpu0 of another domain']);
    const good = runText(platform('ims-hypercall') + steal);
    expect(good.violations).toEqual([]);
  });

  it('a design without the hypercall (qemu-kvm) refuses it with a note', () => {
    const r = runText(platform('qemu-kvm') + GET);
    expect(lines(r).some((l) => l.includes('refused') && l.includes('qemu-kvm'))).toBe(true);
    expect(r.violations).toEqual([]);
  });
});
