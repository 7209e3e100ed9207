/**
 * The Xen VMM designs (src/vmm/designs/xen.ts, xen-pirq.ts): Xen's msixtbl interception of
 * the MSI-X table, QEMU's pirq binding (XEN_DOMCTL_bind_pt_irq), posting through the policy,
 * pirq delivery, the physical PBA, adjacent registers, the device model's own operations, and
 * each broken variant's failure (P7 or P1).
 */
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { formatEvent } from '../../src/scenario/trace.ts';
import { vmmDesignNamed } from '../../src/vmm/index.ts';
import { XEN_DESIGNS } from '../../src/vmm/designs/xen.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import { vcpuAt } from '../../src/platform/vcpu-table.ts';
import fc from 'fast-check';
import { buildPlatform } from '../../src/platform/build.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import { guestMasked } from '../../src/vmm/virtual-msix.ts';
import { checkInterruptIsolation } from '../../src/properties/p1-interrupt-isolation.ts';
import { checkNoLostInterrupt } from '../../src/properties/p3-no-lost-interrupt.ts';
import { checkGuestIntent } from '../../src/properties/p7-guest-intent.ts';

const DEV = '05:00.0';

interface Options {
  /** Interrupt remapping on (an enable-ir step); default true. */
  readonly ir?: boolean;
  /** The device's msix mapping (YAML flow). */
  readonly msix?: string;
  readonly deviceModel?: 'dom0' | 'stubdomain';
}

/** vm1 (2 vCPUs on cpu1, cpu2) owns 05:00.0 (2 MSI-X entries); vm2 (1 vCPU) runs on cpu3. */
function scenario(vmm: string, steps: string, o: Options = {}): string {
  return `
name: xen
platform:
  hostAddressWidth: 39
  cpus: { count: 4 }
  policy: xen
  vmm: ${vmm}
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0xf020fe }
devices:
  - { bdf: "${DEV}", msix: ${o.msix ?? '{ tableSize: 2 }'} }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["${DEV}"]${o.deviceModel ? `, deviceModel: ${o.deviceModel}` : ''} }
  - { name: vm2, kind: guest, cpus: [3], vcpus: 1 }
steps:
${o.ir === false ? '' : '  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }\n'}  - schedule: { vm: vm1, vcpu: 0, pcpu: 1 }
  - schedule: { vm: vm1, vcpu: 1, pcpu: 2 }
  - schedule: { vm: vm2, vcpu: 0, pcpu: 3 }
${steps}`;
}

const mmio = (offset: number, value: number | bigint, size = 4): string => `  - guest-mmio: { device: "${DEV}", bar: 0, offset: 0x${offset.toString(16)}, size: ${size}, value: 0x${value.toString(16)} }\n`;
const read = (offset: number, size = 4): string => `  - guest-mmio: { device: "${DEV}", bar: 0, offset: 0x${offset.toString(16)}, size: ${size}, read: true }\n`;
/** Program entry `k` (address, upper address, data, then Vector Control 0), as DWORD writes. */
const program = (k: number, address: number, data: number): string => mmio(16 * k, address) + mmio(16 * k + 4, 0) + mmio(16 * k + 8, data) + mmio(16 * k + 12, 0);
const ENABLE = `  - guest-config: { device: "${DEV}", offset: 0x72, size: 2, value: 0x8000 }\n`;
const signal = (k: number): string => `  - signal: { device: "${DEV}", vector: ${k} }\n`;
const maskEntry = (k: number, masked: boolean): string => mmio(16 * k + 12, masked ? 1 : 0);

const run = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'xen.yaml')));
const lastEvents = (r: RunResult, back = 1): readonly PlatformEvent[] => r.steps.at(-back)!.events;
const allEvents = (r: RunResult): PlatformEvent[] => r.steps.flatMap((s) => [...s.events]);
const notes = (events: readonly PlatformEvent[]): string[] => events.flatMap((e) => (e.kind === 'vmm' ? [e.note] : []));
const posted = (events: readonly PlatformEvent[]) => events.flatMap((e) => (e.kind === 'interrupt-posted' ? [{ vector: e.virtualVector, pda: e.pda }] : []));
const injected = (events: readonly PlatformEvent[]) => events.flatMap((e) => (e.kind === 'interrupt-injected' ? [{ vcpu: e.vcpu, vector: e.vector }] : []));
const costs = (events: readonly PlatformEvent[]) => events.flatMap((e) => (e.kind === 'vmm-cost' ? [e.cost] : []));
const trace = (r: RunResult): string[] => r.steps.flatMap((s) => s.events.map((e) => formatEvent(e, r.final)));
const pdaOf = (r: RunResult, vcpu: number): bigint => vcpuAt(r.final.vcpus, vcpu)!.pda;

/** vCPU 0 (guest APIC ID 0), vector 0x41, fixed, physical. */
const TO_VCPU0 = program(0, 0xfee00000, 0x41);

describe('the designs', () => {
  it('are registered under the names the schema admits, one correct and three broken', () => {
    expect(XEN_DESIGNS.map((d) => [d.name, d.broken])).toEqual([
      ['xen', false],
      ['xen-broken-mask-unobservable', true],
      ['xen-broken-mask-handling-inconsistent', true],
      ['xen-broken-dm-page-write', true],
    ]);
    for (const d of XEN_DESIGNS) expect(vmmDesignNamed(d.name)).toBe(d);
  });
});

describe('xen: an entry naming one vCPU is bound and posted', () => {
  const r = run(scenario('xen', TO_VCPU0 + ENABLE + signal(0)));

  it('costs a VM exit, a trap and an ioreq round trip per table write (no pirq yet: all to QEMU)', () => {
    for (let i = 3; i < 7; i++) expect(costs(r.steps[i + 1]!.events)).toEqual(['vm-exit', 'trap', 'dm-round-trip']);
  });

  it('binds at MSI-X enable: PHYSDEVOP_map_pirq, XEN_DOMCTL_bind_pt_irq, posted into vCPU 0 (pi_update_irte)', () => {
    const enable = lastEvents(r, 2);
    expect(costs(enable)).toEqual(['vm-exit', 'trap', 'dm-round-trip', 'hypercall', 'hypercall']);
    expect(notes(enable).join('\n')).toMatch(/xen_pt_msix_update_one: 05:00.0 entry 0 \(no pirq yet\)[\s\S]*PHYSDEVOP_map_pirq[\s\S]*pt_irq_create_bind[\s\S]*pi_update_irte: 05:00.0 entry 0 posted into vm1.vcpu0/);
    const v = r.final.vmm!.devices[DEV]!;
    expect(v.vectors[0]).toMatchObject({ hostVector: 0xd0, bound: { address: 0xfee00000n, data: 0x41 }, maskHandling: false, posted: true });
    expect(v.deviceModel[0]).toEqual({ masked: false, address: 0xfee00000n, data: 0x41, dirty: false });
    expect(r.final.intent.grants).toContainEqual({ requester: DEV, target: { kind: 'vcpu', vcpu: 0 }, vector: 0x41, deliveryModes: [0, 1] });
    expect(r.final.vmm!.hostVectors[0xd0]).toEqual({ device: DEV, entry: 0 });
  });

  it('the device signals: posted 0x41 into vCPU 0, nothing injected; P1, P3, P7 hold', () => {
    expect(posted(lastEvents(r))).toEqual([{ vector: 0x41, pda: pdaOf(r, 0) }]);
    expect(injected(lastEvents(r))).toEqual([]);
    expect(r.violations).toEqual([]);
    expect(r.lost).toEqual([]);
    expect(r.guestIntent).toEqual([]);
    expect(r.guestIntentTally).toBeDefined();
  });
});

describe('xen: an entry naming both vCPUs goes through the pirq', () => {
  // Logical 0x3 (x2APIC cluster 0: guest APIC IDs 0 and 1), vector 0x42, fixed.
  const r = run(scenario('xen', program(0, 0xfee03004, 0x42) + ENABLE + signal(0)));

  it('is bound but not posted; the pirq is injected into both vCPUs (hvm_dirq_assist → vmsi_deliver_pirq), a VM exit on cpu1', () => {
    expect(r.final.vmm!.devices[DEV]!.vectors[0]).toMatchObject({ hostVector: 0xd0, posted: false });
    const last = lastEvents(r);
    expect(last.filter((e) => e.kind === 'interrupt-delivered').map((e) => (e as { vector: number }).vector)).toEqual([0xd0]);
    expect(injected(last)).toEqual([
      { vcpu: 0, vector: 0x42 },
      { vcpu: 1, vector: 0x42 },
    ]);
    expect(costs(last)).toEqual(['vm-exit']);
    expect(notes(last)[0]).toMatch(/hvm_dirq_assist → vmsi_deliver_pirq: 05:00.0 entry 0 .* vector 0x42 into vm1.vcpu0, vm1.vcpu1/);
    expect(r.violations).toEqual([]);
    expect(r.guestIntent).toEqual([]);
  });
});

describe('xen without interrupt remapping', () => {
  const r = run(scenario('xen', TO_VCPU0 + ENABLE + signal(0), { ir: false }));

  it('maps the pirq with a compatibility-format message to cpu1 and injects (no posting)', () => {
    const fn = r.final.devices[DEV]!.msix!;
    expect(fn.table[0]).toEqual({ address: 0xfee01000n, data: 0xd0, masked: false });
    expect(r.final.vmm!.devices[DEV]!.vectors[0]).toMatchObject({ hostVector: 0xd0, posted: false });
    expect(injected(lastEvents(r))).toEqual([{ vcpu: 0, vector: 0x41 }]);
    expect(r.violations).toEqual([]);
    expect(r.guestIntent).toEqual([]);
  });
});

describe('xen: mask, raise while masked, read the PBA, unmask', () => {
  const r = run(scenario('xen', TO_VCPU0 + ENABLE + maskEntry(0, true) + signal(0) + read(0x20, 8) + maskEntry(0, false)));
  const [mask, raise, pba, unmask] = [r.steps.at(-4)!, r.steps.at(-3)!, r.steps.at(-2)!, r.steps.at(-1)!];

  it('Xen masks the physical entry itself (guest_mask_msi_irq) and still tells QEMU (the 2023 change)', () => {
    expect(notes(mask.events)).toContain('msixtbl_write: guest_mask_msi_irq(05:00.0 entry 0, masked)');
    expect(costs(mask.events)).toEqual(['vm-exit', 'trap', 'dm-round-trip']);
    expect(r.steps.at(-3)!.events.some((e) => e.kind === 'msi-pending')).toBe(true);
  });

  it('the raise sets the physical pending bit; nothing arrives', () => {
    expect(raise.events.map((e) => e.kind)).toEqual(['device-raised', 'msi-pending']);
  });

  it('the guest reads the physical PBA (Xen adjacent_read): bit 0', () => {
    const g = pba.events.find((e) => e.kind === 'guest-access');
    expect(g).toMatchObject({ write: false, value: 1n, regions: ['pba'] });
    expect(costs(pba.events)).toEqual(['vm-exit', 'trap']);
  });

  it('the unmask releases it through the posted IRTE in the same step; the PBA is clear; P7 holds', () => {
    expect(unmask.events.find((e) => e.kind === 'guest-access')).toMatchObject({ unmasked: [{ entry: 0, pending: true }] });
    expect(posted(unmask.events)).toEqual([{ vector: 0x41, pda: pdaOf(r, 0) }]);
    expect(vmmDesignNamed('xen').virtualPending(r.final, DEV)).toBe(0n);
    expect(r.guestIntent).toEqual([]);
    expect(r.violations).toEqual([]);
  });

  it('the same through the pirq without interrupt remapping', () => {
    const off = run(scenario('xen', TO_VCPU0 + ENABLE + maskEntry(0, true) + signal(0) + maskEntry(0, false), { ir: false }));
    expect(injected(lastEvents(off))).toEqual([{ vcpu: 0, vector: 0x41 }]);
    expect(off.guestIntent).toEqual([]);
  });
});

describe('xen: rebinding after the guest changes a masked entry', () => {
  // Mask, point entry 0 at vCPU 1 with vector 0x42, unmask.
  const steps = TO_VCPU0 + ENABLE + maskEntry(0, true) + mmio(0x0, 0xfee01000) + mmio(0x8, 0x42) + maskEntry(0, false) + signal(0);
  const r = run(scenario('xen', steps));

  it('QEMU saw the mask, so the unmask takes the new message (xen_pt_msix_update_one) and posts it into vCPU 1', () => {
    expect(notes(lastEvents(r, 2)).join('\n')).toMatch(/msix_unmask_address[\s\S]*the latched Vector Control is masked\) → new message 0xfee01000\/0x42/);
    expect(r.final.vmm!.devices[DEV]!.vectors[0]).toMatchObject({ bound: { address: 0xfee01000n, data: 0x42 }, posted: true });
    expect(posted(lastEvents(r))).toEqual([{ vector: 0x42, pda: pdaOf(r, 1) }]);
    expect(r.guestIntent).toEqual([]);
    expect(r.violations).toEqual([]);
  });
});

describe('xen-broken-mask-unobservable (pre-2023: only unmasks of modified entries reach QEMU)', () => {
  const steps = TO_VCPU0 + ENABLE + maskEntry(0, true) + mmio(0x0, 0xfee01000) + mmio(0x8, 0x42) + maskEntry(0, false) + signal(0);
  const r = run(scenario('xen-broken-mask-unobservable', steps));

  it('the mask is Xen\'s alone: QEMU is not told and its latch stays unmasked', () => {
    const mask = r.steps.at(-5)!.events;
    expect(notes(mask)).toContain('msixtbl_write: 05:00.0 entry 0 Vector Control ← 1 handled by Xen alone: the device model is not told');
    expect(costs(mask)).toEqual(['vm-exit', 'trap']);
  });

  it('the unmask rebinds with the old message (deferred as if written while unmasked)', () => {
    expect(notes(lastEvents(r, 2)).join('\n')).toMatch(/the latched Vector Control is unmasked: address\/data changes deferred\) → kept message 0xfee00000\/0x41/);
    expect(r.final.vmm!.devices[DEV]!.vectors[0]).toMatchObject({ bound: { address: 0xfee00000n, data: 0x41 } });
  });

  it('the device keeps raising the old message: 0x41 posted into vCPU 0 where the guest asked 0x42 at vCPU 1 → P7', () => {
    expect(posted(lastEvents(r))).toEqual([{ vector: 0x41, pda: pdaOf(r, 0) }]);
    expect(r.guestIntent.length).toBeGreaterThan(0);
    expect(r.guestIntent.every((v) => v.device === DEV && v.entry === 0)).toBe(true);
    expect(r.guestIntent.map((v) => v.kind)).toEqual(expect.arrayContaining([expect.stringMatching(/^(wrong-vector|wrong-vcpu|lost|spurious)$/)]));
    // Not a forgery: the old grants are still in place.
    expect(r.violations).toEqual([]);
  });
});

describe('MASK_HANDLING consistency', () => {
  // Both entries bound without the flag; an (untrusted) device-model step binds entry 1 with it;
  // the guest masks entry 0; the device raises entry 0.
  const steps =
    TO_VCPU0 +
    program(1, 0xfee01000, 0x42) +
    ENABLE +
    `  - device-model: { device: "${DEV}", op: bind, entry: 1, address: 0xfee01000, data: 0x42, maskHandling: true }\n` +
    maskEntry(0, true) +
    signal(0);

  it('xen: XEN_DOMCTL_bind_pt_irq -EINVAL, nothing changes; entry 0 stays masked by Xen and the raise is pending', () => {
    const r = run(scenario('xen', steps));
    const bind = r.steps.at(-3)!.events;
    expect(notes(bind)).toEqual(["XEN_DOMCTL_bind_pt_irq: -EINVAL (MASK_HANDLING inconsistent across 05:00.0's vectors)"]);
    expect(trace(r)).toContain("vmm (xen): XEN_DOMCTL_bind_pt_irq: -EINVAL (MASK_HANDLING inconsistent across 05:00.0's vectors)");
    expect(costs(bind)).toEqual(['hypercall']);
    expect(r.final.vmm!.devices[DEV]!.vectors.map((v) => v.maskHandling)).toEqual([false, false]);
    expect(lastEvents(r).map((e) => e.kind)).toEqual(['device-raised', 'msi-pending']);
    expect(r.guestIntent).toEqual([]);
  });

  it('xen-broken-mask-handling-inconsistent: accepted; nobody masks entry 0 and the raise is delivered → P7 spurious', () => {
    const r = run(scenario('xen-broken-mask-handling-inconsistent', steps));
    expect(notes(r.steps.at(-3)!.events)[0]).toMatch(/MASK_HANDLING differs across 05:00.0's vectors — accepted/);
    expect(r.final.vmm!.devices[DEV]!.vectors.map((v) => v.maskHandling)).toEqual([false, true]);
    expect(notes(r.steps.at(-2)!.events)).toContain("msixtbl_write: 05:00.0 entry 0's mask is the device model's (MASK_HANDLING): Xen leaves it");
    expect(r.final.devices[DEV]!.msix!.table[0]!.masked).toBe(false);
    expect(posted(lastEvents(r))).toEqual([{ vector: 0x41, pda: pdaOf(r, 0) }]);
    expect(r.guestIntent.map((v) => [v.kind, v.entry])).toContainEqual(['spurious', 0]);
  });

  it('a device model that binds every vector with the flag handles the mask itself (mask op → guest_mask_msi_irq)', () => {
    const all =
      TO_VCPU0 +
      ENABLE +
      `  - device-model: { device: "${DEV}", op: bind, entry: 0, address: 0xfee00000, data: 0x41, maskHandling: true }\n` +
      maskEntry(0, true) +
      signal(0) +
      `  - device-model: { device: "${DEV}", op: mask, entry: 0, masked: false }\n`;
    const r = run(scenario('xen', all));
    expect(r.final.vmm!.devices[DEV]!.vectors[0]).toMatchObject({ maskHandling: true });
    // The guest's mask reaches QEMU, which (having bound with the flag) passes it to Xen.
    expect(notes(r.steps.at(-3)!.events).join('\n')).toMatch(/Xen leaves it[\s\S]*has MASK_HANDLING[\s\S]*the device model masks 05:00.0 entry 0/);
    expect(r.steps.at(-2)!.events.map((e) => e.kind)).toEqual(['device-raised', 'msi-pending']);
    expect(posted(lastEvents(r))).toEqual([{ vector: 0x41, pda: pdaOf(r, 0) }]);
  });
});

describe('the rest of the MSI-X page', () => {
  const apart = '{ tableSize: 2, pbaOffset: 0x1000 }';

  it('xen forwards a device register on the table page to the hardware itself (adjacent_write)', () => {
    const r = run(scenario('xen', TO_VCPU0 + ENABLE + mmio(0x100, 0x5), { msix: apart }));
    const last = lastEvents(r);
    expect(last.find((e) => e.kind === 'device-register')).toMatchObject({ device: DEV, bar: 0, offset: 0x100, size: 4, value: 0x5n, by: 'xen (msixtbl, adjacent registers)', msixTable: false });
    expect(costs(last)).toEqual(['vm-exit', 'trap']);
  });

  it('before any pirq is bound the access is QEMU\'s, which drops it', () => {
    const r = run(scenario('xen', mmio(0x100, 0x5), { msix: apart }));
    expect(lastEvents(r).some((e) => e.kind === 'device-register')).toBe(false);
    expect(notes(lastEvents(r))[0]).toMatch(/pci_msix_write drops a write beyond the table/);
    expect(costs(lastEvents(r))).toEqual(['vm-exit', 'trap', 'dm-round-trip']);
  });

  it('Xen discards it when the PBA shares the page (get_adjacent_idx)', () => {
    const r = run(scenario('xen', TO_VCPU0 + ENABLE + mmio(0x100, 0x5)));
    expect(lastEvents(r).some((e) => e.kind === 'device-register')).toBe(false);
    expect(notes(lastEvents(r))[0]).toMatch(/MSI-X table and PBA share a page, discard write to adjacent memory/);
  });

  it('a page without the MSI-X structures is mapped through: no cost, nothing for the VMM', () => {
    const r = run(scenario('xen', TO_VCPU0 + ENABLE + mmio(0x2000, 0x5)));
    expect(lastEvents(r).map((e) => e.kind)).toEqual(['guest-access']);
  });
});

describe('the device model writes the MSI-X page', () => {
  // A compatibility-format message to APIC 3 (cpu3, vm2's) with vector 0x99, then the device raises entry 0.
  const forge =
    `  - device-model: { device: "${DEV}", op: write-page, offset: 0x0, size: 4, value: 0xfee03000 }\n` +
    `  - device-model: { device: "${DEV}", op: write-page, offset: 0x8, size: 4, value: 0x99 }\n` +
    signal(0);

  it('xen: refused (the page is read-only to the device model); the physical table keeps Xen\'s message', () => {
    const r = run(scenario('xen', TO_VCPU0 + ENABLE + forge, { ir: false, deviceModel: 'stubdomain' }));
    expect(notes(r.steps.at(-3)!.events)).toEqual(["the stubdomain of vm1 writes 05:00.0 BAR0 0x0 (4 bytes, table): write fault: the MSI-X page is read-only to the device model"]);
    expect(allEvents(r).some((e) => e.kind === 'device-register')).toBe(false);
    expect(r.final.devices[DEV]!.msix!.table[0]).toEqual({ address: 0xfee01000n, data: 0xd0, masked: false });
    expect(injected(lastEvents(r))).toEqual([{ vcpu: 0, vector: 0x41 }]);
    expect(r.violations).toEqual([]);
  });

  it('xen: a write outside the MSI-X pages reaches the device', () => {
    const r = run(scenario('xen', `  - device-model: { device: "${DEV}", op: write-page, offset: 0x2000, size: 4, value: 0x1 }\n`));
    expect(lastEvents(r).find((e) => e.kind === 'device-register')).toMatchObject({ offset: 0x2000, by: 'device model', msixTable: false });
  });

  it('xen-broken-dm-page-write: the writes land in the physical table; with IR off the raise is a forged interrupt on cpu3 → P1', () => {
    const r = run(scenario('xen-broken-dm-page-write', TO_VCPU0 + ENABLE + forge, { ir: false, deviceModel: 'stubdomain' }));
    const regs = allEvents(r).filter((e) => e.kind === 'device-register');
    expect(regs).toHaveLength(2);
    expect(regs.every((e) => e.kind === 'device-register' && e.by === 'device model' && e.msixTable)).toBe(true);
    expect(r.final.devices[DEV]!.msix!.table[0]).toEqual({ address: 0xfee03000n, data: 0x99, masked: false });
    const delivered = lastEvents(r).filter((e) => e.kind === 'interrupt-delivered');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ device: DEV, vector: 0x99, targets: [3] });
    expect(r.violations.length).toBeGreaterThan(0);
    expect(r.violations[0]!.message).toMatch(/reached cpu3 .* vector 0x99 .*no grant covers it/);
  });
});

describe('device-model operations', () => {
  it('unbind: pt_irq_destroy_bind leaves the entry masked and un-posted; a raise is then pending', () => {
    const r = run(scenario('xen', TO_VCPU0 + ENABLE + `  - device-model: { device: "${DEV}", op: unbind, entry: 0 }\n` + signal(0)));
    const v = r.final.vmm!.devices[DEV]!.vectors[0]!;
    expect(v.bound).toBeUndefined();
    expect(v).toMatchObject({ hostVector: 0xd0, posted: false });
    expect(r.final.devices[DEV]!.msix!.table[0]!.masked).toBe(true);
    expect(lastEvents(r).map((e) => e.kind)).toEqual(['device-raised', 'msi-pending']);
  });

  it('mask without MASK_HANDLING: UNMASKED unmasks, its absence leaves Xen\'s mask alone', () => {
    const r = run(
      scenario(
        'xen',
        TO_VCPU0 + ENABLE + maskEntry(0, true) + `  - device-model: { device: "${DEV}", op: mask, entry: 0, masked: true }\n` + `  - device-model: { device: "${DEV}", op: mask, entry: 0, masked: false }\n`,
      ),
    );
    expect(notes(r.steps.at(-2)!.events)[0]).toMatch(/without XEN_DOMCTL_VMSI_X86_UNMASKED leaves 05:00.0 entry 0's mask as it is/);
    expect(notes(lastEvents(r))[0]).toMatch(/with XEN_DOMCTL_VMSI_X86_UNMASKED: guest_mask_msi_irq\(05:00.0 entry 0, unmasked\)/);
    expect(r.final.devices[DEV]!.msix!.table[0]!.masked).toBe(false);
  });

  it('signal-msi: Xen has no such interface: refused, nothing injected', () => {
    const r = run(scenario('xen', TO_VCPU0 + ENABLE + `  - device-model: { device: "${DEV}", op: signal-msi, address: 0xfee00000, data: 0x41 }\n`));
    expect(notes(lastEvents(r))[0]).toMatch(/no such interface.*refused/);
    expect(injected(lastEvents(r))).toEqual([]);
  });

  it('a message naming no vCPU of the guest is bound as Xen does (no check) and dropped when the pirq fires', () => {
    const r = run(scenario('xen', program(0, 0xfee05000, 0x41) + ENABLE + signal(0)));
    expect(r.final.vmm!.devices[DEV]!.vectors[0]).toMatchObject({ hostVector: 0xd0, bound: { address: 0xfee05000n, data: 0x41 }, posted: false });
    expect(r.final.intent.grants.some((g) => g.target.kind === 'vcpu')).toBe(false);
    expect(notes(lastEvents(r)).join('\n')).toMatch(/vmsi_deliver_pirq: 05:00.0 entry 0's bound message cannot be delivered \(destination 0x5 names no vCPU of the guest\): dropped/);
    expect(injected(lastEvents(r))).toEqual([]);
    expect(r.guestIntent).toEqual([]);
    expect(r.violations).toEqual([]);
  });

  it('a device model of another domain is refused by the VMM layer', () => {
    const r = run(scenario('xen', `  - device-model: { device: "${DEV}", vm: vm2, op: bind, entry: 0, address: 0xfee00000, data: 0x41 }\n`));
    expect(lastEvents(r).map((e) => e.kind)).toEqual(['action-rejected']);
  });
});

describe('function mask and blocked vCPUs', () => {
  it('a raise while the function is masked is pending and delivered when the guest clears the Function Mask', () => {
    const r = run(scenario('xen', TO_VCPU0 + ENABLE + `  - guest-config: { device: "${DEV}", offset: 0x72, size: 2, value: 0xc000 }\n` + signal(0) + ENABLE, { ir: false }));
    expect(r.steps.at(-2)!.events.some((e) => e.kind === 'msi-pending')).toBe(true);
    expect(injected(lastEvents(r))).toEqual([{ vcpu: 0, vector: 0x41 }]);
    expect(r.guestIntent).toEqual([]);
  });

  it('a pirq for a halted vCPU wakes it', () => {
    const r = run(scenario('xen', TO_VCPU0 + ENABLE + '  - halt: { vm: vm1, vcpu: 0 }\n' + signal(0), { ir: false }));
    const last = lastEvents(r);
    expect(injected(last)).toEqual([{ vcpu: 0, vector: 0x41 }]);
    expect(last.find((e) => e.kind === 'vcpu-state')).toMatchObject({ vcpu: 0, run: 'runnable', was: 'blocked' });
    // No vCPU runs on cpu1 any more: no VM exit.
    expect(costs(last)).toEqual([]);
  });
});

describe('xen: write to an unmasked entry (PCI spec: undefined)', () => {
  it('QEMU defers the new data to the next masked → unmasked transition: the old message keeps arriving', () => {
    const r = run(scenario('xen', TO_VCPU0 + ENABLE + mmio(0x8, 0x42) + signal(0)));
    expect(notes(lastEvents(r, 2))[0]).toMatch(/data ← 0x42 \(updated\)/);
    expect(posted(lastEvents(r))).toEqual([{ vector: 0x41, pda: pdaOf(r, 0) }]);
  });
});

// --- random sequences: totality, isolation, and a spec-abiding guest's intent ---

const ENTRIES = 3;
const base = (vmm: string, ir: boolean): PlatformState => {
  const c = compileScenario(parseScenarioText(scenario(vmm, '', { ir, msix: `{ tableSize: ${ENTRIES}, pbaOffset: 0x1000 }` }), 'xen.yaml'));
  let s = buildPlatform(c.platform);
  for (const step of c.steps) for (const a of step.actions) s = applyAction(s, a).state;
  return s;
};
const entryArb = fc.integer({ min: 0, max: ENTRIES - 1 });
const addressArb = fc.constantFrom(0xfee00000, 0xfee01000, 0xfee03004, 0xfee0100c, 0xfee05000, 0xfee03000);
const dataArb = fc.constantFrom(0x41, 0x42, 0x141, 0x43, 0x5);
const write = (offset: number, value: number | bigint, size = 4): Action => ({ kind: 'guest-mmio', device: DEV, bar: 0, offset, size, write: true, value: BigInt(value) });
const guestArb: fc.Arbitrary<Action> = fc.oneof(
  fc.tuple(entryArb, addressArb).map(([k, v]) => write(16 * k, v)),
  fc.tuple(entryArb, dataArb).map(([k, v]) => write(16 * k + 8, v)),
  fc.tuple(entryArb, fc.integer({ min: 0, max: 1 })).map(([k, v]) => write(16 * k + 12, v)),
  fc.tuple(entryArb, dataArb, fc.integer({ min: 0, max: 1 })).map(([k, d, m]) => write(16 * k + 8, (BigInt(m) << 32n) | BigInt(d), 8)),
  fc.constantFrom(0x8000, 0xc000, 0x0).map((value): Action => ({ kind: 'guest-config', device: DEV, offset: 0x72, size: 2, value })),
  entryArb.map((k): Action => ({ kind: 'signal', device: DEV, vector: k })),
  entryArb.map((k): Action => ({ kind: 'signal', device: DEV, vector: k })),
  fc.constantFrom(0x100, 0x1000, 0x1100, 0x2000).map((o) => write(o, 7)),
  fc.constantFrom(0x1000, 0x0, 0xc).map((o): Action => ({ kind: 'guest-mmio', device: DEV, bar: 0, offset: o, size: o === 0x1000 ? 8 : 4, write: false, value: 0n })),
  fc.integer({ min: 0, max: 1 }).map((v): Action => ({ kind: 'halt', vcpu: v })),
  fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 2 })).map(([vcpu, pcpu]): Action => ({ kind: 'schedule', vcpu, pcpu })),
);
const dmArb: fc.Arbitrary<Action> = fc.oneof(
  fc.tuple(entryArb, addressArb, dataArb, fc.boolean()).map(([entry, a, data, maskHandling]): Action => ({ kind: 'device-model', domain: 1, device: DEV, op: { op: 'bind', entry, address: BigInt(a), data, maskHandling } })),
  entryArb.map((entry): Action => ({ kind: 'device-model', domain: 1, device: DEV, op: { op: 'unbind', entry } })),
  fc.tuple(entryArb, fc.boolean()).map(([entry, masked]): Action => ({ kind: 'device-model', domain: 1, device: DEV, op: { op: 'mask', entry, masked } })),
  fc.tuple(fc.constantFrom(0, 8, 0xc, 0x100, 0x1000, 0x2000), fc.constantFrom(0xfee03000n, 0x99n, 0n)).map(([offset, value]): Action => ({ kind: 'device-model', domain: 1, device: DEV, op: { op: 'write-page', bar: 0, offset, size: 4, value } })),
  fc.constant<Action>({ kind: 'device-model', domain: 1, device: DEV, op: { op: 'signal-msi', address: 0xfee00000n, data: 0x41 } }),
);
/** Program some entries and enable MSI-X, then `rest`. */
const runArb = (rest: fc.Arbitrary<Action>): fc.Arbitrary<Action[]> =>
  fc
    .tuple(fc.array(fc.tuple(entryArb, addressArb, dataArb), { minLength: 1, maxLength: ENTRIES }), fc.array(rest, { minLength: 10, maxLength: 40 }))
    .map(([programs, more]) => [...programs.flatMap(([k, a, d]) => [write(16 * k, a), write(16 * k + 8, d), write(16 * k + 12, 0)]), { kind: 'guest-config', device: DEV, offset: 0x72, size: 2, value: 0x8000 }, ...more]);

/** Whether `a` writes the address or data of an entry the guest leaves unmasked (the PCI spec leaves the result undefined). */
function undefinedWrite(s: PlatformState, a: Action): boolean {
  if (a.kind !== 'guest-mmio' || !a.write || a.offset >= 16 * ENTRIES) return false;
  const k = Math.floor(a.offset / 16);
  return a.offset % 16 < 12 && !guestMasked(s.vmm!.devices[DEV]!.guest, k);
}

describe('random sequences', () => {
  for (const ir of [true, false]) {
    it(`xen (IR ${ir ? 'on' : 'off'}): a guest that changes entries only while masked gets exactly what it asks for (P7); nothing is forged (P1) or lost from a PID (P3)`, () => {
      const s0 = base('xen', ir);
      fc.assert(
        fc.property(runArb(guestArb), (actions) => {
          let s = s0;
          for (const a of actions) {
            if (undefinedWrite(s, a)) continue;
            const r = applyAction(s, a);
            s = r.state;
            expect(checkInterruptIsolation(s, r.events)).toEqual([]);
            expect(checkGuestIntent(s, r.events)).toEqual([]);
            expect(checkNoLostInterrupt(s, r.events)).toEqual([]);
          }
        }),
        { seed: 0x8e4, numRuns: 80 },
      );
    });
  }

  it('xen-broken-mask-unobservable: the same random guest finds a P7 violation', () => {
    const s0 = base('xen-broken-mask-unobservable', true);
    const result = fc.check(
      fc.property(runArb(guestArb), (actions) => {
        let s = s0;
        for (const a of actions) {
          if (undefinedWrite(s, a)) continue;
          const r = applyAction(s, a);
          s = r.state;
          if (checkGuestIntent(s, r.events).length > 0) return false;
        }
        return true;
      }),
      { seed: 0x8e4, numRuns: 300, endOnFailure: true },
    );
    expect(result.failed).toBe(true);
  });

  for (const d of XEN_DESIGNS) {
    it(`${d.name}: the guest and its device model do anything; nothing throws${d.name === 'xen-broken-dm-page-write' ? '' : ' and nothing is forged (P1)'}`, () => {
      for (const ir of [true, false]) {
        const s0 = base(d.name, ir);
        fc.assert(
          fc.property(runArb(fc.oneof({ arbitrary: guestArb, weight: 4 }, { arbitrary: dmArb, weight: 1 })), (actions) => {
            let s = s0;
            for (const a of actions) {
              const r = applyAction(s, a);
              s = r.state;
              if (d.name !== 'xen-broken-dm-page-write') expect(checkInterruptIsolation(s, r.events)).toEqual([]);
            }
          }),
          { seed: 0x8e5, numRuns: 40 },
        );
      }
    });
  }
});
