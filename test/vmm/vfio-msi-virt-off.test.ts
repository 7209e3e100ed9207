/**
 * The vfio-msi-virt-off VMM design (src/vmm/designs/vfio-msi-virt-off.ts; seed thread 000,
 * "[PATCH RFC/RFT] vfio/pci: Create feature to disable MSI virtualization"): qemu-kvm whose
 * MSI-X table reads return the physical entry's address/data, writes still trapped and
 * virtualized. A function with an onboard interrupt controller, programmed by its driver with
 * the pair it read, gets working interrupts with IR on (posted or remapped into the guest's
 * own grant; another function using the pair faults 0x26) and with IR off (injected) — and
 * with IR off a message crafted from that pair is a forged interrupt (P1). Scenarios run end
 * to end (specs/vmm/vfio-msi-virt-off-*.yaml, specs/attacks/msi-virt-off-*.yaml, inline ones).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseScenarioFile, parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { formatEvent } from '../../src/scenario/trace.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import { VMM_DESIGNS, vmmDesignNamed } from '../../src/vmm/index.ts';
import { qemuKvm } from '../../src/vmm/designs/qemu-kvm.ts';
import { physicalTableRead, vfioMsiVirtOff, VFIO_MSI_VIRT_OFF_DESIGNS } from '../../src/vmm/designs/vfio-msi-virt-off.ts';

const repo = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const runFile = (p: string): RunResult => runScenario(compileScenario(parseScenarioFile(repo(p))));
const runText = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'vfio-msi-virt-off.yaml')));
/** A catalog scenario with `steps` (YAML step lines) appended to its own, before `check:`. */
const attack = (file: string, steps = ''): RunResult => runText(readFileSync(repo(`specs/attacks/${file}`), 'utf8').replace('\ncheck:', `\n${steps}check:`));
const lines = (r: RunResult, from = 0): string[] => r.steps.slice(from).flatMap((s) => s.events.map((e) => formatEvent(e, r.final)));

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

/** vm1 (vCPUs 0, 1 on cpu1, cpu2) owns 05:00.0 (2 entries, default layout); IR on (x2APIC, EIME=1) unless `ir` is false. */
function scenario(vmm: string, steps: string, o: { ir?: boolean } = {}): string {
  const ir = o.ir ?? true;
  return `
name: virt-off
platform:
  hostAddressWidth: 39
  apicMode: ${ir ? 'x2apic' : 'xapic'}
  cpus: { count: 3 }
  policy: kvm
  vmm: ${vmm}
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0xf020fe }
devices:
  - { bdf: "05:00.0", msix: { tableSize: 2 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["05:00.0"] }
steps:
${ir ? '  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }\n' : ''}  - schedule: { vm: vm1, vcpu: 0, pcpu: 1 }
  - schedule: { vm: vm1, vcpu: 1, pcpu: 2 }
${steps}`;
}

/** The driver: enable with the Function Mask, entry 0 → vCPU 1 (APIC ID 1) vector 0x41, unmask, clear the Function Mask. */
const SETUP = `  - guest-config: { device: "05:00.0", offset: 0x72, size: 2, value: 0xc000 }
  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x0, size: 8, value: 0xfee01000 }
  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x8, size: 8, value: 0x41 }
  - guest-config: { device: "05:00.0", offset: 0x72, size: 2, value: 0x8000 }
`;
const READ = (offset: number, size: number): string => `  - guest-mmio: { device: "05:00.0", bar: 0, offset: ${offset}, size: ${size}, read: true }\n`;
const MSI = (address: string, data: number, device = '05:00.0'): string => `  - msi: { device: "${device}", address: ${address}, data: ${data} }\n`;

describe('the design', () => {
  it('is registered under its schema name, not broken, and cites the thread and qemu-kvm', () => {
    expect(VFIO_MSI_VIRT_OFF_DESIGNS).toEqual([vfioMsiVirtOff]);
    expect(vmmDesignNamed('vfio-msi-virt-off')).toBe(vfioMsiVirtOff);
    expect(VMM_DESIGNS['vfio-msi-virt-off']).toBe(vfioMsiVirtOff);
    expect(vfioMsiVirtOff.broken).toBe(false);
    expect(vfioMsiVirtOff.source).toContain('Create feature to disable MSI virtualization');
    expect(vfioMsiVirtOff.source).toContain('vfio_msix_vector_do_use');
  });
});

describe('table reads return the physical pair', () => {
  it('IR on: the host\'s remappable handle (IRTE 0), not the guest\'s message; Vector Control stays the guest\'s', () => {
    const r = runText(scenario('vfio-msi-virt-off', SETUP + READ(0x0, 8) + READ(0x8, 8) + READ(0x4, 4)));
    const at = r.steps.length - 3;
    const l = lines(r, at);
    expect(firstMissing(l, [
      'guest reads 05:00.0 BAR0 0x0 (8 bytes → 00000000fee01000) [table]',
      'cost: trap — QEMU msix_table_mmio_read',
      'cost: ioctl — pread of 8 bytes at BAR0 0x0 on the VFIO device fd: the physical MSI-X entry (MSI virtualization disabled)',
      "vmm (vfio-msi-virt-off): MSI virtualization disabled: the read of entry 0 Message Address + entry 0 Message Upper Address returns the physical 0x00000000fee00018 instead of the guest's 0x00000000fee01000 — entry 0: remappable format: handle 0 + subhandle 0 → IRTE 0 (the host's)",
      "returns the physical 0x0000000000000000 instead of the guest's 0x0000000000000041",
      "the read of entry 0 Message Upper Address returns the physical 0x00000000 instead of the guest's 0x00000000",
    ]), l.join('\n')).toBeUndefined();
    expect(physicalTableRead(r.final, '05:00.0', 0x0, 8)).toBe(0xfee00018n);
    expect(physicalTableRead(r.final, '05:00.0', 0x8, 4)).toBe(0n);
    // Vector Control is the guest's (0: unmasked) — physically too, but the guest's mask is what is read.
    expect(physicalTableRead(r.final, '05:00.0', 0xc, 4)).toBe(0n);
    // The guest's view keeps what it wrote.
    expect(r.final.vmm!.devices['05:00.0']!.guest.table[0]).toEqual({ addressLow: 0xfee01000, addressHigh: 0, data: 0x41, control: 0 });
    expect(r.ok).toBe(true);
  });

  it('IR off: the host\'s compatibility message — host vector 0xd0 on cpu2 (APIC ID 2, where vCPU 1 runs)', () => {
    const r = runText(scenario('vfio-msi-virt-off', SETUP + READ(0x0, 8) + READ(0x8, 4), { ir: false }));
    expect(lines(r, r.steps.length - 2).filter((x) => x.startsWith('vmm ('))).toEqual([
      "vmm (vfio-msi-virt-off): MSI virtualization disabled: the read of entry 0 Message Address + entry 0 Message Upper Address returns the physical 0x00000000fee02000 instead of the guest's 0x00000000fee01000 — entry 0: compatibility format: host vector 0xd0 → APIC ID 2 (cpu2)",
      "vmm (vfio-msi-virt-off): MSI virtualization disabled: the read of entry 0 Message Data returns the physical 0x000000d0 instead of the guest's 0x00000041 — entry 0: compatibility format: host vector 0xd0 → APIC ID 2 (cpu2)",
    ]);
    expect(physicalTableRead(r.final, '05:00.0', 0x0, 8)).toBe(0xfee02000n);
    expect(physicalTableRead(r.final, '05:00.0', 0x8, 8)).toBe(0xd0n);
  });

  it('an entry the host has not set up reads 0 (its reset Mask bit from the guest\'s view); an access the spec leaves undefined reads all ones', () => {
    const r = runText(scenario('vfio-msi-virt-off', SETUP + READ(0x18, 8) + READ(0x10, 2)));
    expect(physicalTableRead(r.final, '05:00.0', 0x18, 8)).toBe(1n << 32n);
    expect(physicalTableRead(r.final, '05:00.0', 0x10, 2)).toBe(0xffffn);
    const l = lines(r, r.steps.length - 2);
    expect(l).toContain("vmm (vfio-msi-virt-off): MSI virtualization disabled: the read of entry 1 Message Data + entry 1 Vector Control returns the physical 0x0000000100000000 instead of the guest's 0x0000000100000000 — entry 1: not set up by the host yet");
    expect(l).toContain("vmm (vfio-msi-virt-off): MSI virtualization disabled: a 2-byte read at BAR0 0x10 is not an aligned DWORD/QWORD of the table: all ones, as from the guest's view");
  });

  it('PBA reads and device registers are qemu-kvm\'s (no physical-table read)', () => {
    const r = runText(scenario('vfio-msi-virt-off', SETUP + READ(0x20, 8)));
    const l = lines(r, r.steps.length - 1);
    expect(l.some((x) => x.includes('MSI virtualization disabled'))).toBe(false);
    expect(l).toContain('vmm (vfio-msi-virt-off): msix_pba_mmio_read: 8 bytes at 0x20 → 0x0');
  });
});

describe('writes are still trapped and virtualized', () => {
  const steps =
    SETUP +
    `  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x0, size: 8, value: 0xfee00000 }
  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0xc, size: 4, value: 1 }
  - signal: { device: "05:00.0", vector: 0 }
  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0xc, size: 4, value: 0 }
  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x1000, size: 4, value: 0x1 }
  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x100, size: 4, value: 0x2 }
`;
  for (const ir of [true, false]) {
    it(`IR ${ir ? 'on' : 'off'}: every step's events are qemu-kvm's, the physical table too; the guest's view and KVM's route hold the guest's message`, () => {
      const a = runText(scenario('vfio-msi-virt-off', steps, { ir }));
      const b = runText(scenario('qemu-kvm', steps, { ir }));
      const norm = (e: PlatformEvent): unknown => (e.kind === 'vmm' ? { ...e, design: '-' } : e);
      expect(a.steps.map((s) => s.events.map(norm))).toEqual(b.steps.map((s) => s.events.map(norm)));
      expect(a.final.devices['05:00.0']!.msix).toEqual(b.final.devices['05:00.0']!.msix);
      expect(a.final.vmm!.devices['05:00.0']!.guest).toEqual(b.final.vmm!.devices['05:00.0']!.guest);
      expect(a.final.vmm!.devices['05:00.0']!.guest.table[0]!.addressLow).toBe(0xfee00000);
      expect(Object.values(a.final.vmm!.kvm.routes)).toEqual([{ address: 0xfee00000n, data: 0x41, device: '05:00.0', entry: 0 }]);
      // The physical entry is the host's, never the guest's message.
      expect(a.final.devices['05:00.0']!.msix!.table[0]!.address).toBe(ir ? 0xfee00018n : 0xfee02000n);
      expect(a.ok).toBe(true);
    });
  }

  it('the design\'s reactions to a write, a config change, a device interrupt and the device model are qemu-kvm\'s', () => {
    const r = runText(scenario('vfio-msi-virt-off', SETUP));
    const s = r.final;
    const write = { kind: 'vmm-react', access: { device: '05:00.0', space: 'mmio', write: true, bar: 0, offset: 0, size: 4, value: 0xfee00000n, parts: [{ region: 'table', offset: 0, size: 4, value: 0xfee00000n }], written: [0], unmasked: [], masked: [], before: s.vmm!.devices['05:00.0']!.guest } } as const;
    expect(vfioMsiVirtOff.onGuestAccess(s, write)).toEqual(qemuKvm.onGuestAccess(s, write));
    const irq = { kind: 'vmm-interrupt', device: '05:00.0', entry: 0, pcpu: 2, hostVector: 0xd0 } as const;
    expect(vfioMsiVirtOff.onDeviceInterrupt(s, irq)).toEqual(qemuKvm.onDeviceInterrupt(s, irq));
    const dm = { kind: 'device-model', domain: 1, device: '05:00.0', op: { op: 'write-page', bar: 0, offset: 0, size: 4, value: 0xfee00000n } } as const;
    expect(vfioMsiVirtOff.onDeviceModel(s, dm)).toEqual(qemuKvm.onDeviceModel(s, dm));
    expect(vfioMsiVirtOff.virtualPending(s, '05:00.0')).toBe(qemuKvm.virtualPending(s, '05:00.0'));
  });
});

describe('a device with an onboard interrupt controller', () => {
  it('IR on (specs/vmm/vfio-msi-virt-off-posted.yaml): the pair it read is posted into the guest\'s vCPU; another function with it faults 0x26; the handle survives a retarget', () => {
    const r = runFile('specs/vmm/vfio-msi-virt-off-posted.yaml');
    expect(r.ok).toBe(true);
    const l = lines(r);
    expect(firstMissing(l, [
      'vmm (vfio-msi-virt-off): vfio_msix_vector_use: entry 0 → host vector 0xd0 on cpu3, GSI 24, irqfd, IRQ bypass (posted)',
      'IRTE 0 of dmar0: P posted VV=0x41 PDA=0x40000040 SVT=1(requester-id) SQ=0 SID=81:00.0',
      "returns the physical 0x00000000fee00018 instead of the guest's 0x00000000fee01000 — entry 0: remappable format: handle 0 + subhandle 0 → IRTE 0 (the host's)",
      '81:00.0 BAR0 0x100 ← 00000000fee00018 (8 bytes) by guest (mapped BAR)',
      '81:00.0 BAR0 0x108 ← 00000000 (4 bytes) by guest (mapped BAR)',
      '81:00.0 MSI fee00018/00000000 → posted by dmar0 IRTE 0x0 (IEC miss): PIR bit 0x41 set in PID 0x40000040, notification vector 0xf2 → APIC 0x3 (cpu3)',
      'vm1.vcpu1 on cpu3: PIR → vIRR 0x41 (notification in guest mode, no VM exit)',
      '82:00.0 MSI fee00018/00000000 → BLOCKED by dmar0: fault 0x26',
      'vfio_update_kvm_msi_virq: entry 0 → GSI 24 updated, irqfd, IRQ bypass (posted); message 0xfee00000/0x41 (vector 0x41 → vm1.vcpu0)',
      "returns the physical 0x00000000fee00018 instead of the guest's 0x00000000fee00000",
      '81:00.0 MSI fee00018/00000000 → posted by dmar0 IRTE 0x0 (IEC miss): PIR bit 0x41 set in PID 0x40000000',
      'vm1.vcpu0 on cpu2: PIR → vIRR 0x41',
    ]), l.join('\n')).toBeUndefined();
    expect(r.violations).toEqual([]);
    expect(r.guestIntent).toEqual([]);
  });

  it('IR on without posting (catalog msi-virt-off-svt0-secure): remapped to host vector 0xd0, injected by the irqfd', () => {
    const r = attack('msi-virt-off-svt0-secure.yaml');
    expect(r.ok).toBe(true);
    expect(firstMissing(lines(r, r.steps.length - 1), [
      '05:00.0 MSI fee00018/00000000 → remapped by dmar0 IRTE 0x0 (IEC miss): vector 0xd0 fixed edge physical dest 0x1 → cpu1',
      'vmm (vfio-msi-virt-off): irqfd_wakeup → kvm_set_msi: GSI 24 → 0xfee00000/0x41 (vector 0x41 → vm1.vcpu0)',
      "05:00.0's interrupt injected in software: vector 0x41 → vm1.vcpu0 vIRR",
    ])).toBeUndefined();
  });

  it('IR off (specs/vmm/vfio-msi-virt-off-ir-off.yaml): the host\'s compatibility message reaches host vector 0xd0 and is injected, before and after a retarget', () => {
    const r = runFile('specs/vmm/vfio-msi-virt-off-ir-off.yaml');
    expect(r.ok).toBe(true);
    expect(firstMissing(lines(r), [
      "returns the physical 0x00000000fee03000 instead of the guest's 0x00000000fee01000 — entry 0: compatibility format: host vector 0xd0 → APIC ID 3 (cpu3)",
      '0c:00.0 BAR2 0x40 ← 00000000fee03000 (8 bytes) by guest (mapped BAR)',
      '0c:00.0 MSI fee03000/000000d0 → compatibility format, not remapped: vector 0xd0 fixed edge physical dest 0x3 → cpu3',
      "0c:00.0's interrupt injected in software: vector 0x51 → vm1.vcpu1 vIRR",
      'KVM route GSI 24 updated: MSI fee00000/00000051',
      '0c:00.0 MSI fee03000/000000d0 → compatibility format, not remapped',
      "0c:00.0's interrupt injected in software: vector 0x51 → vm1.vcpu0 vIRR",
    ])).toBeUndefined();
  });

  it('under qemu-kvm (MSI virtualized) the driver reads its own message, and the controller sending it does not work: fault 0x25 with IR on', () => {
    const r = runText(scenario('qemu-kvm', SETUP + READ(0x0, 8) + READ(0x8, 4) + MSI('0xfee01000', 0x41)));
    const l = lines(r, r.steps.length - 3);
    expect(l).toContain('guest reads 05:00.0 BAR0 0x0 (8 bytes → 00000000fee01000) [table]');
    expect(l.some((x) => x.includes('MSI virtualization disabled'))).toBe(false);
    expect(l.some((x) => /05:00\.0 MSI fee01000\/00000041 → BLOCKED by dmar0: fault 0x25/.test(x))).toBe(true);
    expect(l.some((x) => x.includes('interrupt-posted') || x.includes('injected in software'))).toBe(false);
    // The same under vfio-msi-virt-off with the pair it reads: posted into vCPU 1.
    const v = runText(scenario('vfio-msi-virt-off', SETUP + READ(0x0, 8) + MSI('0xfee00018', 0)));
    expect(lines(v, v.steps.length - 1).join('\n')).toMatch(/05:00\.0 MSI fee00018\/00000000 → posted by dmar0 IRTE 0x0 .*PIR bit 0x41 set in PID 0x40000040/);
    expect(v.ok).toBe(true);
  });
});

describe('what knowing the physical pair lets a guest do (the thread\'s question)', () => {
  it('IR off: a message crafted from the pair read (host vector 0xd0, cpu0 instead of cpu1) is a forged interrupt on the host\'s CPU — P1', () => {
    const r = attack('msi-virt-off-ir-off-insecure.yaml', MSI('0xfee00000', 0xd0));
    expect(lines(r, r.steps.length - 1)[0]).toBe('05:00.0 MSI fee00000/000000d0 → compatibility format, not remapped: vector 0xd0 fixed edge physical dest 0x0 → cpu0');
    expect(r.violations.map((v) => [v.property, v.step, v.message])).toEqual([
      ['P1', r.steps.length - 1, '05:00.0 (requester ID on the bus 0x500) reached cpu0 (APIC 0) with vector 0xd0 fixed via the compatibility path: no grant covers it'],
    ]);
    expect(r.ok).toBe(false);
    // The scenario's own steps — the pair exactly as read — are the guest's own grant.
    expect(attack('msi-virt-off-ir-off-insecure.yaml').ok).toBe(true);
  });

  it('IR on, SVT=1: the same crafted message faults 0x25, and the handle of the neighbour\'s IRTE faults 0x26 — nothing forged', () => {
    const r = attack('msi-virt-off-ir-off-secure.yaml', MSI('0xfee00000', 0xd0) + MSI('0xfee00018', 0));
    const l = lines(r, r.steps.length - 2);
    expect(l[0]).toMatch(/^05:00\.0 MSI fee00000\/000000d0 → BLOCKED by dmar0: fault 0x25 /);
    expect(l.some((x) => x.startsWith('05:00.0 MSI fee00018/00000000 → posted by dmar0 IRTE 0x0'))).toBe(true);
    expect(r.ok).toBe(true);
    const s = attack('msi-virt-off-svt0-secure.yaml', MSI('0xfee00038', 0));
    expect(lines(s, s.steps.length - 1)[0]).toMatch(/^05:00\.0 MSI fee00038\/00000000 → BLOCKED by dmar0: fault 0x26 .*SID 05:00\.0/);
    expect(s.ok).toBe(true);
  });

  it('IR on, SVT=0: vm1\'s function using IRTE 1 (vm2\'s, the next handle) reaches vm2\'s host vector on cpu2 — P1', () => {
    const r = attack('msi-virt-off-svt0-insecure.yaml', MSI('0xfee00038', 0));
    expect(lines(r, r.steps.length - 1)[0]).toBe('05:00.0 MSI fee00038/00000000 → remapped by dmar0 IRTE 0x1 (IEC miss): vector 0xcf fixed edge physical dest 0x2 → cpu2');
    expect(r.violations.map((v) => v.message)).toEqual(['05:00.0 (requester ID on the bus 0x500) reached cpu2 (APIC 2) with vector 0xcf fixed via the remapped path (IRTE 1): no grant covers it']);
  });
});
