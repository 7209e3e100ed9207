/**
 * The ims-emulated VMM designs (src/vmm/designs/ims-emulated.ts; seed thread 001: trapping IMS
 * with a device-specific quirk in the VMM): the quirk traps the IMS store (`devices[].ims`),
 * keeps the guest's slots in a virtual IMS view, and at an unmask sets up a host IRQ (IRTE
 * validating the source, posted by IRQ bypass) and writes the HOST's pair into the physical
 * slot — so an unmodified IMS driver works, and a fake pair is translated anyway. The broken
 * variant forwards the guest's pair: fault 0x25 with IR on, a forged interrupt with IR off (P1).
 * Scenarios run end to end (specs/vmm/ims-emulated-posted.yaml, specs/attacks/ims-emulated-untranslated-*.yaml,
 * inline ones); the IMS probe of src/vmm/probes.ts; compile errors; a fast-check property.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseScenarioFile, parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { formatEvent } from '../../src/scenario/trace.ts';
import { decodeIrte } from '../../src/vtd/irte.ts';
import { VMM_DESIGNS } from '../../src/vmm/index.ts';
import { IMS_EMULATED_DESIGNS } from '../../src/vmm/designs/ims-emulated.ts';
import { probeDesign } from '../../src/vmm/probes.ts';
import { vmmCosts } from '../../src/vmm/costs.ts';

const repo = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const runFile = (p: string): RunResult => runScenario(compileScenario(parseScenarioFile(repo(p))));
const runText = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'ims-emulated.yaml')));
const lines = (r: RunResult, from = 0, to?: number): string[] => r.steps.slice(from, to).flatMap((s) => s.events.map((e) => formatEvent(e, r.final)));
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

/** vm1 (one vCPU on cpu1, guest APIC 0) owns 05:00.0 with an IMS store of 4 slots at BAR0 0x1000. */
function platform(vmm: string, opts: { pi?: boolean; ir?: boolean } = {}): string {
  const caps = opts.pi === false ? '' : ', cap: 0x08d2078c106f0462, ecap: 0xf020fe';
  return `
name: ims-emulated
platform:
  hostAddressWidth: 39
  apicMode: ${opts.ir === false ? 'xapic' : 'x2apic'}
  cpus: { count: 3 }
  policy: kvm
  vmm: ${vmm}
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true${caps} }
devices:
  - { bdf: "05:00.0", msix: { tableSize: 1 }, ims: { bar: 0, offset: 0x1000, slots: 4 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1], vcpus: 1, devices: ["05:00.0"] }
steps:
${opts.ir === false ? '' : '  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }\n'}  - schedule: { vm: vm1, vcpu: 0, pcpu: 1 }
`;
}
/** The unmodified driver: slot `k` ← address/data, then unmask. */
const program = (k: number, address: number, data: number): string => {
  const at = 0x1000 + 16 * k;
  return `  - guest-mmio: { device: "05:00.0", bar: 0, offset: ${at}, size: 8, value: ${address} }\n  - guest-mmio: { device: "05:00.0", bar: 0, offset: ${at + 8}, size: 4, value: ${data} }\n  - guest-mmio: { device: "05:00.0", bar: 0, offset: ${at + 12}, size: 4, value: 0 }\n`;
};
const RAISE = (k: number): string => `  - ims-signal: { device: "05:00.0", slot: ${k} }\n`;

describe('the registry', () => {
  it('has the two designs, one broken, citing seed thread 001 and QEMU\'s quirks, not compared by default, admitted by the schema', () => {
    expect(IMS_EMULATED_DESIGNS.map((d) => [d.name, d.broken])).toEqual([
      ['ims-emulated', false],
      ['ims-emulated-broken-passthrough-write', true],
    ]);
    const schema = readFileSync(repo('specs/scenario.schema.json'), 'utf8');
    for (const d of IMS_EMULATED_DESIGNS) {
      expect(VMM_DESIGNS[d.name]).toBe(d);
      expect(d.source).toContain('seed thread 001');
      expect(d.source).toContain('hw/vfio/pci-quirks.c');
      expect(d.comparedByDefault).toBe(false);
      expect(d.imsSend).toBeDefined();
      expect(schema).toContain(`"${d.name}"`);
    }
  });
});

describe('ims-emulated: an unmodified IMS driver gets working interrupts', () => {
  it('posted: specs/vmm/ims-emulated-posted.yaml — trapped slot writes, the host IRQ at the unmask, the host\'s pair in the physical slot, posting; mask, masked raise, unmask; a fake pair translated', () => {
    const r = runFile('specs/vmm/ims-emulated-posted.yaml');
    expect(r.ok).toBe(true);
    expect(r.violations).toEqual([]);
    expect(
      firstMissing(lines(r), [
        'guest writes 05:00.0 BAR0 0x1000 (8 bytes, 00000000fee01000) [direct]',
        'cost: vm-exit — guest MMIO write of 05:00.0 BAR0 0x1000 (8 bytes): EPT exit on the IMS store the quirk traps',
        'cost: trap — QEMU IMS quirk write (a per-device quirk, as hw/vfio/pci-quirks.c)',
        'vmm (ims-emulated): IMS quirk: slot 0 written while masked: kept in the virtual IMS view (the physical slot stays masked)',
        "vmm (ims-emulated): IMS quirk: slot 0 unmasked → host vector 0xcf on cpu2 (IRTE 1, SID 05:00.0), GSI 25, irqfd, the host's pair 0xfee00038/0x0 into the physical slot, IRQ bypass (posted); the guest's message 0xfee01000/0x45 (vector 0x45 → vm1.vcpu1)",
        'IRTE 1 of dmar0: P V=0xcf DST=00000002 fixed edge physical SVT=1(requester-id) SQ=0 SID=05:00.0',
        'KVM route GSI 25 added: MSI fee01000/00000045',
        '05:00.0 BAR0 0x1000 ← 00000000fee00038 (8 bytes) by qemu (IMS quirk)',
        '05:00.0 BAR0 0x100c ← 00000000 (4 bytes) by qemu (IMS quirk)',
        'IRTE 1 of dmar0: P posted VV=0x45 PDA=0x40000040 SVT=1(requester-id) SQ=0 SID=05:00.0',
        '05:00.0 raises IMS slot 0: sends its physical pair fee00038/00000000',
        '05:00.0 MSI fee00038/00000000 → posted by dmar0 IRTE 0x1',
        'vm1.vcpu1 on cpu2: PIR → vIRR 0x45',
        'vmm (ims-emulated): IMS quirk: read of 8 bytes at 0x1000 → 0xfee01000 (the guest\'s view)',
        'IMS quirk: slot 0 masked in the guest\'s view → the physical slot masked; IRQ bypass producer removed, IRTE back to remapped',
        '05:00.0 BAR0 0x100c ← 00000001 (4 bytes) by qemu (IMS quirk)',
        '05:00.0 raises IMS slot 0: masked in the device: nothing sent (no pending bit)',
        'IMS quirk: slot 0 unmasked → GSI 25 updated',
        '05:00.0 MSI fee00038/00000000 → posted by dmar0 IRTE 0x1',
        // The fake remappable pair in slot 1 (handle 0, the MSI-X entry's IRTE): translated into the host's handle 2.
        'the guest\'s message 0xfee00018/0x0 (not deliverable: remappable format (bit 4) without a vIOMMU)',
        '05:00.0 BAR0 0x1010 ← 00000000fee00058 (8 bytes) by qemu (IMS quirk)',
        '05:00.0 raises IMS slot 1: sends its physical pair fee00058/00000000',
        '05:00.0 MSI fee00058/00000000 → remapped by dmar0 IRTE 0x2',
        'vmm (ims-emulated): IMS slot 1: irqfd_wakeup → kvm_set_msi: GSI 26 → 0xfee00018/0x0 (not deliverable',
      ]),
    ).toBeUndefined();
    // The guest's own pair never reaches the physical slot; the device holds the host's.
    const ims = r.final.vmm!.devices['05:00.0']!.ims!;
    expect(ims.physical.slice(0, 2)).toEqual([
      { address: 0xfee00038n, data: 0, masked: false },
      { address: 0xfee00058n, data: 0, masked: false },
    ]);
    expect(ims.guest.table[0]).toEqual({ addressLow: 0xfee01000, addressHigh: 0, data: 0x45, control: 0 });
    expect(irte(r, 1).mode).toBe('posted');
    // Every guest access — MSI-X (qemu-kvm's) and IMS slot (the quirk's) — is a trap + a VM exit, each write counted as an MSI set-up.
    const slotSteps = r.steps.filter((s) => s.events.some((e) => e.kind === 'guest-access'));
    for (const s of slotSteps) expect(s.events.filter((e) => e.kind === 'vmm-cost' && (e.cost === 'trap' || e.cost === 'vm-exit')).length).toBe(2);
    const costs = vmmCosts(r.steps.map((s) => ({ step: s.step, events: s.events })), r.final);
    expect(costs.programming.occurrences).toBe(slotSteps.length - 1); // the read is not a set-up
    expect(costs.interrupt.occurrences).toBe(5); // four IMS raises and the MSI-X entry's signal
  });

  it('remapped (no CAP.PI): the slot\'s host vector reaches the VMM and its route injects the guest vector', () => {
    const r = runText(platform('ims-emulated', { pi: false }) + program(0, 0xfee00000, 0x45) + RAISE(0) + '    expect: { injected: 0x45, injectedInto: [vm1.vcpu0] }\n');
    expect(r.ok).toBe(true);
    const e = irte(r, 0);
    expect(e.mode).toBe('remapped');
    if (e.mode === 'remapped') expect([e.vector, e.svt, e.sid]).toEqual([0xd0, 1, 0x500]);
    expect(lines(r).some((l) => l.includes('no IRQ bypass (no posting without interrupt remapping and CAP.PI): irqfd injects'))).toBe(true);
    expect(lines(r).some((l) => l.includes('IMS slot 0: irqfd_wakeup → kvm_set_msi: GSI 24 → 0xfee00000/0x45 (vector 0x45 → vm1.vcpu0)'))).toBe(true);
  });

  it('IR off: the physical slot gets the host\'s compatibility message to its host vector on cpu1, and the interrupt is injected — nothing forged', () => {
    const r = runText(platform('ims-emulated', { ir: false }) + program(0, 0xfee00000, 0x45) + RAISE(0) + '    expect: { injected: 0x45, injectedInto: [vm1.vcpu0] }\n');
    expect(r.ok).toBe(true);
    expect(r.violations).toEqual([]);
    expect(r.final.vmm!.devices['05:00.0']!.ims!.physical[0]).toEqual({ address: 0xfee01000n, data: 0xd0, masked: false });
  });

  it('a guest writing a fake compatibility pair naming the host\'s CPU and vector gets its own vCPU anyway (IR off)', () => {
    // 0xfee00000/0x30: under the broken quirk this is physical APIC 0 — the host's cpu0.
    const r = runText(platform('ims-emulated', { ir: false }) + program(1, 0xfee00000, 0x30) + RAISE(1));
    expect(r.violations).toEqual([]);
    expect(lines(r, r.steps.length - 1).some((l) => l.includes("05:00.0's interrupt injected in software: vector 0x30 → vm1.vcpu0"))).toBe(true);
  });

  it('writes outside the store pass to the device as under qemu-kvm; a narrow write into the store is ignored', () => {
    const r = runText(platform('ims-emulated') + '  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x1100, size: 4, value: 7 }\n  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x1002, size: 2, value: 7 }\n');
    const first = lines(r, r.steps.length - 2, r.steps.length - 1);
    expect(first.some((l) => l.includes('05:00.0 BAR0 0x1100 ← 00000007 (4 bytes) by guest (mapped BAR)'))).toBe(true);
    expect(first.some((l) => l.includes('cost:'))).toBe(false);
    expect(lines(r, r.steps.length - 1).some((l) => l.includes('IMS quirk: 2 bytes at 0x1002: not an aligned DWORD/QWORD within the store: ignored'))).toBe(true);
    expect(r.final.vmm!.devices['05:00.0']!.ims!.guest.table[0]!.addressLow).toBe(0);
  });
});

describe('ims-emulated-broken-passthrough-write: the guest\'s pair untranslated', () => {
  it('IR on: the guest\'s compatibility-format pair faults 0x25 — the guest\'s interrupt lost', () => {
    const r = runText(platform('ims-emulated-broken-passthrough-write') + program(0, 0xfee00000, 0x45) + RAISE(0));
    expect(lines(r).some((l) => l.includes("IMS quirk: slot 0 unmasked: the guest's own pair 0xfee00000/0x45 written to the physical slot UNTRANSLATED"))).toBe(true);
    const last = lines(r, r.steps.length - 1);
    expect(last.some((l) => l.includes('05:00.0 MSI fee00000/00000045 → BLOCKED by dmar0: fault 0x25'))).toBe(true);
    expect(last.some((l) => l.includes('vIRR') || l.includes('injected'))).toBe(false);
  });

  it('IR off: delivered as written, to the host\'s cpu0 — P1 (ims-emulated: injected into vm1\'s vCPU)', () => {
    const steps = program(0, 0xfee00000, 0x45) + RAISE(0);
    const bad = runText(platform('ims-emulated-broken-passthrough-write', { ir: false }) + steps);
    expect(bad.violations.map((v) => [v.property, v.message])).toEqual([['P1', '05:00.0 (requester ID on the bus 0x500) reached cpu0 (APIC 0) with vector 0x45 fixed via the compatibility path: no grant covers it']]);
    const good = runText(platform('ims-emulated', { ir: false }) + steps);
    expect(good.violations).toEqual([]);
  });

  it('the catalog pair ims-emulated-untranslated: the insecure scenario plus the raise is the counterexample; the secure twin holds with it', () => {
    const withRaise = (file: string): RunResult => runText(readFileSync(repo(`specs/attacks/${file}`), 'utf8').replace('\ncheck:', `\n${RAISE(0)}check:`));
    expect(withRaise('ims-emulated-untranslated-insecure.yaml').violations.map((v) => v.property)).toEqual(['P1']);
    const good = withRaise('ims-emulated-untranslated-secure.yaml');
    expect(good.violations).toEqual([]);
    expect(lines(good, good.steps.length - 1).some((l) => l.includes("05:00.0's interrupt injected in software: vector 0x45 → vm1.vcpu0"))).toBe(true);
  });

  it('property: whatever compatibility pair the guest writes into a slot, ims-emulated delivers only into vm1\'s own vCPU with that vector (or nothing); the broken quirk forges', () => {
    const outcome = (vmm: string, apic: number, vector: number) => {
      const r = runText(platform(vmm, { ir: false }) + program(2, 0xfee00000 + (apic << 12), vector) + RAISE(2));
      const last = r.steps.at(-1)!.events;
      return { violations: r.violations, injected: last.flatMap((e) => (e.kind === 'interrupt-injected' ? [[e.vcpu, e.vector]] : [])) };
    };
    const arb = fc.record({ apic: fc.integer({ min: 0, max: 2 }), vector: fc.integer({ min: 0, max: 0xff }) });
    fc.assert(
      fc.property(arb, ({ apic, vector }) => {
        const o = outcome('ims-emulated', apic, vector);
        expect(o.violations).toEqual([]);
        // guest APIC 0 is vm1.vcpu0 (id 0); any other names no vCPU of vm1; vectors below 16 are refused.
        expect(o.injected).toEqual(apic === 0 && vector >= 16 ? [[0, vector]] : []);
      }),
      { seed: 12, numRuns: 12 },
    );
    // The same property fails for the broken quirk: a counterexample exists among the same inputs.
    const broken = fc.check(
      fc.property(arb, ({ apic, vector }) => outcome('ims-emulated-broken-passthrough-write', apic, vector).violations.length === 0),
      { seed: 12, numRuns: 12 },
    );
    expect(broken.failed).toBe(true);
  });
});

describe('the IMS probe (src/vmm/probes.ts)', () => {
  const MSIX = '  - guest-config: { device: "05:00.0", offset: 0x72, size: 2, value: 0x8000 }\n  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x0, size: 8, value: 0xfee00000 }\n  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x8, size: 8, value: 0x0000000000000041 }\n';
  it('works under ims-emulated (the quirk translates the driver\'s message), blocked under qemu-kvm and the broken quirk (fault 0x25)', () => {
    const probe = (vmm: string) => probeDesign(runText(platform(vmm) + MSIX).final).ims;
    const good = probe('ims-emulated');
    expect(good.verdict).toBe('works');
    expect(good.detail).toContain("the driver's own message, translated by the design's IMS quirk, sent from the IMS store 0xfee00018/0x0");
    expect(probe('qemu-kvm').verdict).toBe('blocked');
    expect(probe('ims-emulated-broken-passthrough-write').verdict).toBe('blocked');
  });

  it('prefers the physical pair of a slot the guest programmed with the entry\'s message', () => {
    const r = runText(platform('ims-emulated') + MSIX + program(0, 0xfee00000, 0x41));
    const p = probeDesign(r.final).ims;
    expect(p.verdict).toBe('works');
    expect(p.detail).toContain('0xfee00038/0x0'); // slot 0's handle (IRTE 1; the MSI-X entry took IRTE 0)
  });
});

describe('scenario input', () => {
  it('the store must lie on pages without MSI-X structures, the device needs msix, ims-signal needs a store and a slot', () => {
    const bad = (edit: (t: string) => string) => () => compileScenario(parseScenarioText(edit(platform('ims-emulated') + RAISE(0)), 'x.yaml'));
    expect(bad((t) => t.replace('offset: 0x1000, slots: 4', 'offset: 0x100, slots: 4'))).toThrow(/IMS slot 0 \(BAR0 0x100\) is on a page with the MSI-X table or PBA/);
    expect(bad((t) => t.replace('offset: 0x1000, slots: 4', 'offset: 0x1008, slots: 4'))).toThrow(/not a 16-byte aligned/);
    expect(bad((t) => t.replace('msix: { tableSize: 1 }, ', ''))).toThrow(/an IMS store needs msix/);
    expect(bad((t) => t.replace('slot: 0 }', 'slot: 4 }'))).toThrow(/has 4 slots: no slot 4/);
    expect(bad((t) => t.replace(', ims: { bar: 0, offset: 0x1000, slots: 4 }', ''))).toThrow(/has no IMS store/);
  });

  it('under a design that does not trap the store (ims-hypercall) the guest\'s own stores land in the physical slot, and its raise sends them', () => {
    const r = runText(platform('ims-hypercall') + program(0, 0xfee01000, 0x46) + RAISE(0));
    expect(r.final.vmm!.devices['05:00.0']!.ims!.physical[0]).toEqual({ address: 0xfee01000n, data: 0x46, masked: false });
    expect(lines(r, r.steps.length - 1).some((l) => l.includes('05:00.0 MSI fee01000/00000046 → BLOCKED by dmar0: fault 0x25'))).toBe(true);
  });
});
