/**
 * The qemu-kvm VMM designs (src/vmm/designs/qemu-kvm.ts): QEMU traps the MSI-X table and PBA
 * pages and emulates the mask bits; an unmasked vector gets a KVM GSI route + irqfd, posted by
 * IRQ bypass when it reaches one vCPU; a masked vector's interrupts set the emulated pending
 * bit; a full routing table leaves the vector in userspace (KVM_SIGNAL_MSI), which the
 * lazy-routes variant drops instead (P7). Scenarios are written out here, run end to end.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult, type StepResult } from '../../src/scenario/run.ts';
import { formatTrace } from '../../src/scenario/trace.ts';
import { vcpuAt } from '../../src/platform/vcpu-table.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import { VMM_DESIGNS, vmmDesignNamed } from '../../src/vmm/index.ts';
import { QEMU_KVM_DESIGNS, qemuKvm, qemuKvmBrokenLazyRoutes } from '../../src/vmm/designs/qemu-kvm.ts';

const DEV = '05:00.0';

interface Options {
  readonly vmm?: string;
  readonly kvmRoutes?: number;
  readonly tableSize?: number;
  /** The unit's CAP register (default: posted interrupts supported, CAP.PI bit 59). */
  readonly cap?: string;
}

/**
 * vm1 (vCPUs 0, 1 with guest APIC IDs 0, 1 on cpu1, cpu2) owns 05:00.0; vm2 has one vCPU
 * (guest APIC ID 0 too) on cpu3. Interrupt remapping on a posted-interrupt capable unit.
 */
function scenario(steps: string, o: Options = {}): string {
  return `
name: qemu-kvm
platform:
  hostAddressWidth: 39
  cpus: { count: 4 }
  policy: kvm
  vmm: ${o.vmm ?? 'qemu-kvm'}${o.kvmRoutes === undefined ? '' : `
  kvmRoutes: ${o.kvmRoutes}`}
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: ${o.cap ?? '0x08d2078c106f0462'}, ecap: 0xf020fe }
devices:
  - { bdf: "${DEV}", msix: { tableSize: ${o.tableSize ?? 2} } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["${DEV}"] }
  - { name: vm2, kind: guest, cpus: [3], vcpus: 1 }
steps:
  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }
  - schedule: { vm: vm1, vcpu: 0, pcpu: 1 }
  - schedule: { vm: vm1, vcpu: 1, pcpu: 2 }
  - schedule: { vm: vm2, vcpu: 0, pcpu: 3 }
${steps}`;
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;
/** One step, tagged `note` so the test can find it. */
const step = (note: string, action: string): string => `  - ${action}\n    note: ${note}\n`;
const mmio = (note: string, offset: number, size: number, value: bigint | number): string =>
  step(note, `guest-mmio: { device: "${DEV}", offset: ${hex(offset)}, size: ${size}, value: ${hex(value)} }`);
const read = (note: string, offset: number, size: number): string => step(note, `guest-mmio: { device: "${DEV}", offset: ${hex(offset)}, size: ${size}, read: true }`);
/** The guest writes entry `k`'s address, upper address, data and vector control (0: unmasked) as 4-byte writes. */
const program = (k: number, address: number, data: number): string =>
  mmio(`e${k}-address`, 16 * k, 4, address) + mmio(`e${k}-upper`, 16 * k + 4, 4, 0) + mmio(`e${k}-data`, 16 * k + 8, 4, data) + mmio(`e${k}-control`, 16 * k + 12, 4, 0);
/** Message Control (capability 0x70 + 2) ← MSI-X Enable. */
const ENABLE = step('enable', `guest-config: { device: "${DEV}", offset: 0x72, size: 2, value: 0x8000 }`);
const raise = (note: string, k: number): string => step(note, `signal: { device: "${DEV}", vector: ${k} }`);
const dm = (note: string, op: string): string => step(note, `device-model: { device: "${DEV}", ${op} }`);

const run = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'qemu-kvm.yaml')));

function stepNamed(r: RunResult, note: string): StepResult {
  const s = r.steps.find((x) => x.step.note === note);
  if (s === undefined) throw new Error(`no step ${note}`);
  return s;
}
type Ev<K extends PlatformEvent['kind']> = Extract<PlatformEvent, { kind: K }>;
function of<K extends PlatformEvent['kind']>(s: StepResult, kind: K): Ev<K>[] {
  return s.events.filter((e): e is Ev<K> => e.kind === kind);
}
/** The step's costs as [kind, detail]. */
const costs = (s: StepResult): [string, string][] => of(s, 'vmm-cost').map((e) => [e.cost, e.detail]);
const notes = (s: StepResult): string[] => of(s, 'vmm').map((e) => e.note);
/** The step's trace lines (as `remapsim run` prints them, without the indent). */
function traceOf(r: RunResult, note: string): string[] {
  const lines = formatTrace(r).split('\n');
  const s = stepNamed(r, note);
  const at = lines.findIndex((l) => l.startsWith(`#${s.step.index} `));
  const out: string[] = [];
  for (let i = at + 1; i < lines.length && lines[i]!.startsWith('    '); i++) out.push(lines[i]!.slice(4));
  return out;
}
const vectors = (r: RunResult) => r.final.vmm!.devices[DEV]!.vectors;
const TABLE_WRITE_COSTS = (offset: number): [string, string][] => [
  ['vm-exit', `guest MMIO write of ${DEV} BAR0 ${hex(offset)} (4 bytes): EPT exit on a trapped MSI-X page`],
  ['trap', 'QEMU msix_table_mmio_write'],
];

describe('the registry', () => {
  it('holds both designs by name; only the lazy-routes variant is broken', () => {
    expect(QEMU_KVM_DESIGNS.map((d) => d.name)).toEqual(['qemu-kvm', 'qemu-kvm-broken-lazy-routes']);
    expect(vmmDesignNamed('qemu-kvm')).toBe(qemuKvm);
    expect(VMM_DESIGNS['qemu-kvm-broken-lazy-routes']).toBe(qemuKvmBrokenLazyRoutes);
    expect([qemuKvm.broken, qemuKvmBrokenLazyRoutes.broken]).toEqual([false, true]);
    expect(qemuKvm.source).toContain('vfio_msix_vector_do_use');
  });
});

describe('a single-destination entry: route, irqfd, IRQ bypass posts it', () => {
  // Entry 0 → guest APIC 1 (vm1.vcpu1), physical, fixed, vector 0x41.
  const r = run(scenario(program(0, 0xfee01000, 0x41) + ENABLE + raise('raise', 0)));

  it('every table write is a VM exit and a trap; nothing is set up while MSI-X is disabled', () => {
    for (const [note, offset] of [['e0-address', 0x0], ['e0-upper', 0x4], ['e0-data', 0x8], ['e0-control', 0xc]] as const) {
      const s = stepNamed(r, note);
      expect(costs(s)).toEqual(TABLE_WRITE_COSTS(offset));
      expect(of(s, 'guest-access')).toMatchObject([{ device: DEV, space: 'mmio', write: true, offset, size: 4, regions: ['table'], written: [0], unmasked: [], masked: [] }]);
      expect(of(s, 'kvm-routing')).toEqual([]);
    }
  });

  it('enabling MSI-X uses the vector: host IRQ, KVM route GSI 24, irqfd, bypass request', () => {
    const s = stepNamed(r, 'enable');
    expect(of(s, 'guest-access')).toMatchObject([{ space: 'config', offset: 0x72, size: 2, regions: ['config'], unmasked: [{ entry: 0, pending: false }] }]);
    expect(costs(s)).toEqual([
      ['vm-exit', `guest config write 0x72 (2 bytes) of ${DEV}`],
      ['trap', 'QEMU vfio_pci_write_config'],
      ['ioctl', `VFIO_DEVICE_SET_IRQS: MSI-X enabled on ${DEV} (vfio_msix_enable → vfio_pci_set_msi_trigger)`],
      ['ioctl', `VFIO_DEVICE_SET_IRQS: ${DEV} entry 0 gets a host IRQ (vfio_msi_set_vector_signal)`],
      ['ioctl', 'KVM_SET_GSI_ROUTING: GSI 24 → MSI 0xfee01000/0x41 (kvm_irqchip_add_msi_route)'],
      ['ioctl', 'KVM_IRQFD: eventfd → GSI 24 (kvm_irqchip_add_irqfd_notifier_gsi)'],
    ]);
    expect(of(s, 'kvm-routing').map(({ step: _s, ...e }) => e)).toEqual([{ kind: 'kvm-routing', gsi: 24, change: 'add', address: 0xfee01000n, data: 0x41, used: 1, capacity: 4096 }]);
    expect(traceOf(r, 'enable')).toContain('vmm (qemu-kvm): vfio_msix_vector_use: entry 0 → host vector 0xd0 on cpu2, GSI 24, irqfd, IRQ bypass (posted); message 0xfee01000/0x41 (vector 0x41 → vm1.vcpu1)');
    expect(notes(s)[0]).toBe('vfio_pci_write_config → vfio_msix_enable: MSI-X enabled on the device, vector notifiers set (msix_set_vector_notifiers)');
    expect(of(s, 'hypervisor').map((e) => e.request)).toEqual([`guest programs ${DEV} MSI-X entry 0: vector 0x41 → guest APIC 1`]);
  });

  it('records the binding and the route; the grant covers the guest vector at vm1.vcpu1', () => {
    expect(vectors(r)[0]).toEqual({ hostVector: 0xd0, hostPcpu: 2, irte: { iommu: 0, index: 0 }, gsi: 24, bound: { address: 0xfee01000n, data: 0x41 }, posted: true });
    expect(vectors(r)[1]).toEqual({});
    expect(r.final.vmm!.kvm.routes).toEqual({ 24: { address: 0xfee01000n, data: 0x41, device: DEV, entry: 0 } });
    expect(r.final.vmm!.hostVectors).toEqual({ 0xd0: { device: DEV, entry: 0 } });
    expect(r.final.intent.grants).toContainEqual({ requester: DEV, target: { kind: 'vcpu', vcpu: 1 }, vector: 0x41, deliveryModes: [0, 1] });
    expect(r.final.devices[DEV]!.msix!.enabled).toBe(true);
  });

  it('the raise is posted into vm1.vcpu1 without an exit or a QEMU round trip', () => {
    const s = stepNamed(r, 'raise');
    const vcpu1 = vcpuAt(r.final.vcpus, 1)!;
    expect(of(s, 'device-raised')).toMatchObject([{ device: DEV, entry: 0 }]);
    expect(of(s, 'interrupt-posted')).toMatchObject([{ device: DEV, virtualVector: 0x41, pda: vcpu1.pda }]);
    expect(of(s, 'interrupt-injected')).toEqual([]);
    expect(costs(s)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.guestIntent).toEqual([]);
  });
});

describe('a unit without posted interrupts (CAP.PI clear): no IRQ bypass', () => {
  const r = run(scenario(program(0, 0xfee01000, 0x41) + ENABLE + raise('raise', 0), { cap: '0x00d2078c106f0462' }));

  it('asks the policy nothing; the irqfd injects the single-destination message', () => {
    const s = stepNamed(r, 'enable');
    expect(of(s, 'hypervisor')).toEqual([]);
    expect(notes(s)).toContain('vfio_msix_vector_use: entry 0 → host vector 0xd0 on cpu2, GSI 24, irqfd, no IRQ bypass (no posting without interrupt remapping and CAP.PI): irqfd injects; message 0xfee01000/0x41 (vector 0x41 → vm1.vcpu1)');
    expect(vectors(r)[0]).toEqual({ hostVector: 0xd0, hostPcpu: 2, irte: { iommu: 0, index: 0 }, gsi: 24, bound: { address: 0xfee01000n, data: 0x41 }, posted: false });
    const raised = stepNamed(r, 'raise');
    expect(of(raised, 'interrupt-posted')).toEqual([]);
    expect(of(raised, 'interrupt-injected').map((e) => [e.vcpu, e.vector])).toEqual([[1, 0x41]]);
    expect(r.ok).toBe(true);
  });
});

describe('a logical destination naming both vCPUs: not postable, the irqfd injects', () => {
  // Logical destination 0x3 (DM bit 2): vm1.vcpu0 and vm1.vcpu1.
  const r = run(scenario(program(0, 0xfee03004, 0x41) + ENABLE + raise('raise', 0)));

  it('asks for bypass, which the policy leaves alone; the IRTE stays remapped', () => {
    const s = stepNamed(r, 'enable');
    expect(of(s, 'hypervisor').map((e) => e.request)).toEqual([`guest programs ${DEV} MSI-X entry 0: vector 0x41 → guest logical destination 0x3 — nothing done`]);
    expect(vectors(r)[0]).toEqual({ hostVector: 0xd0, hostPcpu: 1, irte: { iommu: 0, index: 0 }, gsi: 24, bound: { address: 0xfee03004n, data: 0x41 }, posted: false });
    expect(traceOf(r, 'enable')).toContain('vmm (qemu-kvm): vfio_msix_vector_use: entry 0 → host vector 0xd0 on cpu1, GSI 24, irqfd, IRQ bypass not postable (several vCPUs): irqfd injects; message 0xfee03004/0x41 (vector 0x41 logical → vm1.vcpu0,vm1.vcpu1)');
  });

  it('the raise exits the vCPU on the host vector\'s pCPU and KVM injects 0x41 into both', () => {
    const s = stepNamed(r, 'raise');
    expect(of(s, 'interrupt-posted')).toEqual([]);
    expect(of(s, 'interrupt-injected').map((e) => [e.vcpu, e.vector, e.device, e.by])).toEqual([
      [0, 0x41, DEV, undefined],
      [1, 0x41, DEV, undefined],
    ]);
    expect(costs(s)).toEqual([['vm-exit', 'external interrupt: host vector 0xd0 on cpu1 exits vm1.vcpu0']]);
    expect(notes(s)).toEqual(['irqfd_wakeup → kvm_set_msi: GSI 24 → 0xfee03004/0x41 (vector 0x41 logical → vm1.vcpu0,vm1.vcpu1)']);
    expect(r.ok).toBe(true);
    expect(r.guestIntent).toEqual([]);
  });
});

describe('mask, raise, read the PBA, unmask: the emulated pending bit', () => {
  const upToRaise = program(0, 0xfee01000, 0x41) + ENABLE + mmio('mask', 0xc, 4, 1) + raise('raise', 0);
  const pending = run(scenario(upToRaise));
  const r = run(scenario(upToRaise + read('pba', 0x20, 8) + mmio('unmask', 0xc, 4, 0)));

  it('masking switches VFIO to QEMU and un-posts; the physical entry stays unmasked', () => {
    const s = stepNamed(r, 'mask');
    expect(of(s, 'guest-access')).toMatchObject([{ written: [0], masked: [0], unmasked: [] }]);
    expect(costs(s)).toEqual([...TABLE_WRITE_COSTS(0xc), ['ioctl', `VFIO_DEVICE_SET_IRQS: ${DEV} entry 0's eventfd → QEMU's handler (GSI 24 and its irqfd kept)`]]);
    expect(of(s, 'msi-config').map((e) => e.change)).toEqual([]);
    expect(notes(s)).toEqual([
      "vfio_msix_vector_release: entry 0 masked in the guest's view → interrupts go to QEMU (vfio_msi_interrupt sets the emulated pending bit); IRQ bypass producer removed, IRTE back to remapped; the physical entry stays unmasked",
    ]);
    expect(of(s, 'kvm-routing')).toEqual([]);
  });

  it('a raise while masked sets the pending bit: no arrival, an exit and a QEMU round trip', () => {
    const s = stepNamed(pending, 'raise');
    expect(of(s, 'interrupt-injected')).toEqual([]);
    expect(of(s, 'interrupt-posted')).toEqual([]);
    expect(of(s, 'interrupt-delivered')).toMatchObject([{ vector: 0xd0 }]);
    expect(costs(s)).toEqual([
      ['vm-exit', 'external interrupt: host vector 0xd0 on cpu2 exits vm1.vcpu1'],
      ['dm-round-trip', `VFIO eventfd → QEMU vfio_msi_interrupt (${DEV} entry 0)`],
    ]);
    expect(notes(s)).toEqual(["vfio_msi_interrupt: entry 0 is masked in the guest's view → msix_notify sets its pending bit (PBA emulation on)"]);
    expect(pending.final.vmm!.devices[DEV]!.pending).toBe(1n);
    expect(qemuKvm.virtualPending(pending.final, DEV)).toBe(1n);
    expect(vectors(pending)[0]!.posted).toBe(false);
  });

  it('the guest reads the bit from the PBA (a trapped read)', () => {
    const s = stepNamed(r, 'pba');
    expect(of(s, 'guest-access')).toMatchObject([{ write: false, offset: 0x20, size: 8, value: 1n, regions: ['pba'] }]);
    expect(costs(s)).toEqual([
      ['vm-exit', `guest MMIO read of ${DEV} BAR0 0x20 (8 bytes): EPT exit on a trapped MSI-X page`],
      ['trap', 'QEMU msix_pba_mmio_read'],
    ]);
    expect(notes(s)).toEqual(['msix_pba_mmio_read: 8 bytes at 0x20 → 0x1']);
  });

  it('unmasking delivers it (KVM_SIGNAL_MSI), clears the bit and posts the vector again', () => {
    const s = stepNamed(r, 'unmask');
    expect(of(s, 'guest-access')).toMatchObject([{ unmasked: [{ entry: 0, pending: true }], masked: [] }]);
    expect(of(s, 'interrupt-injected').map((e) => [e.vcpu, e.vector, e.device])).toEqual([[1, 0x41, DEV]]);
    expect(of(s, 'kvm-routing').map(({ step: _s, ...e }) => e)).toEqual([{ kind: 'kvm-routing', gsi: 24, change: 'update', address: 0xfee01000n, data: 0x41, used: 1, capacity: 4096 }]);
    expect(costs(s)).toEqual([
      ...TABLE_WRITE_COSTS(0xc),
      ['ioctl', `VFIO_DEVICE_SET_IRQS: ${DEV} entry 0's eventfd → the irqfd`],
      ['ioctl', 'KVM_SET_GSI_ROUTING: GSI 24 updated (kvm_irqchip_update_msi_route, kvm_irqchip_commit_routes)'],
      ['ioctl', 'KVM_SIGNAL_MSI 0xfee01000/0x41 (kvm_irqchip_send_msi)'],
    ]);
    expect(notes(s)).toContain('msix_handle_mask_update: entry 0 unmasked with its pending bit set → msix_clr_pending, msix_notify: KVM_SIGNAL_MSI with entry 0\'s message 0xfee01000/0x41 (vector 0x41 → vm1.vcpu1)');
    expect(r.final.vmm!.devices[DEV]!.pending).toBe(0n);
    expect(qemuKvm.virtualPending(r.final, DEV)).toBe(0n);
    expect(vectors(r)[0]!.posted).toBe(true);
    expect(r.ok).toBe(true);
    expect(r.guestIntent).toEqual([]);
  });
});

describe('a raise before the vector is ever used: the device holds it in its own PBA', () => {
  // Entry 1 stays masked (never programmed) while MSI-X is enabled: the physical entry is masked too.
  const r = run(scenario(program(0, 0xfee01000, 0x41) + ENABLE + raise('raise', 1) + read('pba', 0x20, 8) + mmio('e1-address', 0x10, 4, 0xfee00000) + mmio('e1-data', 0x18, 4, 0x42) + mmio('e1-unmask', 0x1c, 4, 0)));

  it('the guest reads the device\'s PBA while QEMU has no emulated bit; the unmask delivers it once', () => {
    expect(of(stepNamed(r, 'raise'), 'msi-pending')).toMatchObject([{ device: DEV, vector: 1 }]);
    expect(of(stepNamed(r, 'pba'), 'guest-access')).toMatchObject([{ value: 2n }]);
    const s = stepNamed(r, 'e1-unmask');
    expect(of(s, 'guest-access')).toMatchObject([{ unmasked: [{ entry: 1, pending: true }] }]);
    expect(of(s, 'interrupt-injected').length + of(s, 'interrupt-posted').length).toBe(1);
    expect(qemuKvm.virtualPending(r.final, DEV)).toBe(0n);
    expect(r.guestIntent).toEqual([]);
  });
});

describe('the routing table is full (kvmRoutes: 1, two entries)', () => {
  // Entry 0 → vm1.vcpu1 vector 0x41, entry 1 → vm1.vcpu0 vector 0x42; both unmasked when MSI-X is enabled.
  const steps = program(0, 0xfee01000, 0x41) + program(1, 0xfee00000, 0x42) + ENABLE + raise('raise0', 0) + raise('raise1', 1);
  const r = run(scenario(steps, { kvmRoutes: 1 }));

  it('entry 0 gets GSI 24; entry 1 is refused (-ENOSPC) and keeps no GSI', () => {
    const s = stepNamed(r, 'enable');
    expect(of(s, 'kvm-routing').map(({ step: _s, ...e }) => e)).toEqual([
      { kind: 'kvm-routing', gsi: 24, change: 'add', address: 0xfee01000n, data: 0x41, used: 1, capacity: 1 },
      { kind: 'kvm-routing', gsi: 25, change: 'full', address: 0xfee00000n, data: 0x42, used: 1, capacity: 1 },
    ]);
    expect(traceOf(r, 'enable')).toContain('KVM routing table full (1/1 routes): GSI 25 refused (-ENOSPC)');
    expect(vectors(r)[1]).toEqual({ hostVector: 0xcf, hostPcpu: 1, irte: { iommu: 0, index: 1 }, bound: { address: 0xfee00000n, data: 0x42 }, posted: false });
    expect(notes(s)).toContain(
      'vfio_msix_vector_use: entry 1 → host vector 0xcf on cpu1, no GSI (kvm_irqchip_add_msi_route: -ENOSPC), virq -1: delivered from userspace (vfio_msi_interrupt → msix_notify → KVM_SIGNAL_MSI); message 0xfee00000/0x42 (vector 0x42 → vm1.vcpu0)',
    );
    // Only entry 0 asked for bypass: the second vector has no irqfd.
    expect(of(s, 'hypervisor').map((e) => e.request)).toEqual([`guest programs ${DEV} MSI-X entry 0: vector 0x41 → guest APIC 1`]);
  });

  it('entry 0 is posted; entry 1 goes through QEMU and KVM_SIGNAL_MSI', () => {
    expect(of(stepNamed(r, 'raise0'), 'interrupt-posted')).toMatchObject([{ virtualVector: 0x41 }]);
    const s = stepNamed(r, 'raise1');
    expect(of(s, 'interrupt-injected').map((e) => [e.vcpu, e.vector, e.device])).toEqual([[0, 0x42, DEV]]);
    expect(costs(s)).toEqual([
      ['vm-exit', 'external interrupt: host vector 0xcf on cpu1 exits vm1.vcpu0'],
      ['dm-round-trip', `VFIO eventfd → QEMU vfio_msi_interrupt (${DEV} entry 1, no KVM route)`],
      ['ioctl', 'KVM_SIGNAL_MSI 0xfee00000/0x42 (kvm_irqchip_send_msi)'],
    ]);
    expect(r.ok).toBe(true);
    expect(r.guestIntent).toEqual([]);
  });

  it('re-unmasking the unrouted entry tries again: refused again, its eventfd stays with QEMU', () => {
    const again = run(scenario(steps + mmio('mask1', 0x1c, 4, 1) + mmio('unmask1', 0x1c, 4, 0), { kvmRoutes: 1 }));
    expect(costs(stepNamed(again, 'mask1'))).toEqual(TABLE_WRITE_COSTS(0x1c));
    const s = stepNamed(again, 'unmask1');
    expect(costs(s)).toEqual([...TABLE_WRITE_COSTS(0x1c), ['ioctl', `VFIO_DEVICE_SET_IRQS: ${DEV} entry 1's eventfd → QEMU's handler`]]);
    expect(of(s, 'kvm-routing').map((e) => [e.gsi, e.change])).toEqual([[25, 'full']]);
  });

  it('the lazy-routes variant creates no route at unmask, routes entry 0 at its first interrupt and drops entry 1 (P7: lost)', () => {
    const lazy = run(scenario(steps, { kvmRoutes: 1, vmm: 'qemu-kvm-broken-lazy-routes' }));
    expect(of(stepNamed(lazy, 'enable'), 'kvm-routing')).toEqual([]);
    const first = stepNamed(lazy, 'raise0');
    expect(of(first, 'kvm-routing').map((e) => [e.gsi, e.change])).toEqual([[24, 'add']]);
    expect(of(first, 'interrupt-injected').map((e) => [e.vcpu, e.vector])).toEqual([[1, 0x41]]);
    const second = stepNamed(lazy, 'raise1');
    expect(of(second, 'kvm-routing').map(({ step: _s, ...e }) => e)).toEqual([{ kind: 'kvm-routing', gsi: 25, change: 'full', address: 0xfee00000n, data: 0x42, used: 1, capacity: 1 }]);
    expect(of(second, 'interrupt-injected')).toEqual([]);
    expect(notes(second)).toEqual(['lazy route for entry 1: the routing table is full (-ENOSPC): interrupt dropped (no KVM_SIGNAL_MSI fallback)']);
    expect(lazy.guestIntent.map((v) => [v.step, v.kind])).toEqual([[second.events[0]!.step, 'lost']]);
    expect(lazy.ok).toBe(false);
  });
});

describe('accesses the table does not define, the PBA and the rest of the page', () => {
  const r = run(
    scenario(
      program(0, 0xfee01000, 0x41) +
        ENABLE +
        mmio('straddle-table', 0x1c, 8, 0x1122334400000000n) +
        mmio('straddle-page', 0x24, 8, 0x1122334455667788n) +
        mmio('narrow', 0x8, 2, 0x1234) +
        mmio('page', 0x100, 4, 0xdeadbeef) +
        mmio('direct', 0x1000, 4, 0xcafe),
    ),
  );
  const guest = () => r.final.vmm!.devices[DEV]!.guest;

  it('an 8-byte write straddling the table end and the PBA is ignored in both', () => {
    const s = stepNamed(r, 'straddle-table');
    expect(of(s, 'guest-access')).toMatchObject([{ offset: 0x1c, size: 8, regions: ['table', 'pba'], written: [], unmasked: [], masked: [] }]);
    expect(costs(s)).toEqual([
      ['vm-exit', `guest MMIO write of ${DEV} BAR0 0x1c (8 bytes): EPT exit on a trapped MSI-X page`],
      ['trap', 'QEMU msix_table_mmio_write + msix_pba_mmio_write'],
    ]);
    expect(notes(s)).toEqual([
      "msix_table_mmio_write: the 4 bytes at 0x1c of a 8-byte access straddling the table's edge are not an aligned DWORD/QWORD: ignored",
      'msix_pba_mmio_write: the PBA is read-only: 4 bytes at 0x20 ignored',
    ]);
    expect(of(s, 'device-register')).toEqual([]);
    expect(guest().table[1]).toEqual({ addressLow: 0, addressHigh: 0, data: 0, control: 1 });
  });

  it('an 8-byte write straddling the PBA and the page: the page part reaches the device through the VFIO region', () => {
    const s = stepNamed(r, 'straddle-page');
    expect(of(s, 'guest-access')).toMatchObject([{ regions: ['pba', 'page'] }]);
    expect(of(s, 'device-register').map(({ step: _s, ...e }) => e)).toEqual([{ kind: 'device-register', device: DEV, bar: 0, offset: 0x28, size: 4, value: 0x11223344n, by: 'qemu (vfio region)', msixTable: false }]);
    expect(costs(s)).toEqual([
      ['vm-exit', `guest MMIO write of ${DEV} BAR0 0x24 (8 bytes): EPT exit on a trapped MSI-X page`],
      ['trap', 'QEMU msix_pba_mmio_write + vfio_region_write'],
      ['ioctl', 'pwrite of 4 bytes at BAR0 0x28 on the VFIO device fd (vfio_pci_bar_rw)'],
    ]);
  });

  it('a 2-byte write into the table is ignored', () => {
    const s = stepNamed(r, 'narrow');
    expect(of(s, 'guest-access')).toMatchObject([{ regions: ['table'], written: [] }]);
    expect(notes(s)).toEqual(['msix_table_mmio_write: a 2-byte access at 0x8 is not an aligned DWORD/QWORD: ignored']);
    expect(guest().table[0]!.data).toBe(0x41);
    expect(of(s, 'kvm-routing')).toEqual([]);
  });

  it('a write to the page outside the structures is forwarded (trapped); a mapped page is not trapped', () => {
    const page = stepNamed(r, 'page');
    expect(of(page, 'device-register').map(({ step: _s, ...e }) => e)).toEqual([{ kind: 'device-register', device: DEV, bar: 0, offset: 0x100, size: 4, value: 0xdeadbeefn, by: 'qemu (vfio region)', msixTable: false }]);
    expect(costs(page).map(([k]) => k)).toEqual(['vm-exit', 'trap', 'ioctl']);
    const direct = stepNamed(r, 'direct');
    expect(of(direct, 'guest-access')).toMatchObject([{ regions: ['direct'] }]);
    expect(of(direct, 'device-register').map(({ step: _s, ...e }) => e)).toEqual([{ kind: 'device-register', device: DEV, bar: 0, offset: 0x1000, size: 4, value: 0xcafen, by: 'guest (mapped BAR)', msixTable: false }]);
    expect(costs(direct)).toEqual([]);
    expect(r.ok).toBe(true);
  });
});

describe('the guest rewrites an unmasked entry', () => {
  const base = program(0, 0xfee01000, 0x41) + ENABLE;
  it('a new vector: the route is updated and posted again', () => {
    const r = run(scenario(base + mmio('data', 0x8, 4, 0x45) + raise('raise', 0)));
    const s = stepNamed(r, 'data');
    expect(of(s, 'kvm-routing').map((e) => [e.gsi, e.change, e.data])).toEqual([[24, 'update', 0x45]]);
    expect(costs(s)).toEqual([...TABLE_WRITE_COSTS(0x8), ['ioctl', 'KVM_SET_GSI_ROUTING: GSI 24 updated (kvm_irqchip_update_msi_route, kvm_irqchip_commit_routes)']]);
    expect(notes(s)).toEqual(['vfio_update_kvm_msi_virq: entry 0 → GSI 24 updated, irqfd, IRQ bypass (posted); message 0xfee01000/0x45 (vector 0x45 → vm1.vcpu1)']);
    expect(of(stepNamed(r, 'raise'), 'interrupt-posted')).toMatchObject([{ virtualVector: 0x45 }]);
    expect(r.guestIntent).toEqual([]);
  });

  it('a logical destination naming both vCPUs: the IRTE goes back to remapped and KVM injects into both', () => {
    const r = run(scenario(base + mmio('address', 0x0, 4, 0xfee03004) + raise('raise', 0)));
    const s = stepNamed(r, 'address');
    expect(of(s, 'msi-config').map((e) => e.change)).toEqual([]);
    expect(vectors(r)[0]).toMatchObject({ gsi: 24, bound: { address: 0xfee03004n, data: 0x41 }, posted: false });
    expect(of(stepNamed(r, 'raise'), 'interrupt-injected').map((e) => [e.vcpu, e.vector])).toEqual([
      [0, 0x41],
      [1, 0x41],
    ]);
    expect(r.ok).toBe(true);
    expect(r.guestIntent).toEqual([]);
  });
});

describe('the guest disables MSI-X', () => {
  const r = run(scenario(program(0, 0xfee01000, 0x41) + ENABLE + step('disable', `guest-config: { device: "${DEV}", offset: 0x72, size: 2, value: 0 }`) + raise('raise', 0)));

  it('releases the vector, removes its route and disables MSI-X on the device', () => {
    const s = stepNamed(r, 'disable');
    expect(of(s, 'guest-access')).toMatchObject([{ masked: [0] }]);
    expect(of(s, 'kvm-routing').map((e) => [e.gsi, e.change, e.used])).toEqual([[24, 'remove', 0]]);
    expect(vectors(r)[0]).toEqual({ hostVector: 0xd0, hostPcpu: 2, irte: { iommu: 0, index: 0 }, bound: { address: 0xfee01000n, data: 0x41 }, posted: false });
    expect(r.final.devices[DEV]!.msix!.enabled).toBe(false);
    expect(of(stepNamed(r, 'raise'), 'msi-dropped')).toMatchObject([{ device: DEV, vector: 0 }]);
    expect(r.guestIntent).toEqual([]);
  });
});

describe('the device model (QEMU, compromised: any op)', () => {
  const base = program(0, 0xfee01000, 0x41) + ENABLE;

  it('signal-msi is KVM_SIGNAL_MSI on its own VM fd: it reaches vm1 only, by the device model', () => {
    // Guest APIC 0 names vm1.vcpu0 and, in vm2, vm2.vcpu0: only vm1's is reachable. APIC 5 names nobody in vm1.
    const r = run(scenario(base + dm('own', 'op: signal-msi, address: 0xfee00000, data: 0x55') + dm('nobody', 'op: signal-msi, address: 0xfee05000, data: 0x56')));
    const own = stepNamed(r, 'own');
    expect(of(own, 'interrupt-injected').map(({ step: _s, ...e }) => e)).toEqual([{ kind: 'interrupt-injected', device: DEV, vcpu: 0, vector: 0x55, by: 'device-model' }]);
    expect(costs(own)).toEqual([['ioctl', 'KVM_SIGNAL_MSI 0xfee00000/0x55 on the VM fd of vm1']]);
    expect(notes(own)).toEqual(['device model (QEMU) of vm1: KVM_SIGNAL_MSI → kvm_send_userspace_msi within its own VM: 0xfee00000/0x55 (vector 0x55 → vm1.vcpu0)']);
    const nobody = stepNamed(r, 'nobody');
    expect(of(nobody, 'interrupt-injected')).toEqual([]);
    expect(notes(nobody)[0]).toMatch(/^device model \(QEMU\) of vm1: KVM_SIGNAL_MSI → kvm_send_userspace_msi within its own VM: 0xfee05000\/0x56 \(not deliverable: /);
    expect(vcpuAt(r.final.vcpus, 2)!.virr).toBe(0n);
    expect(r.violations).toEqual([]);
  });

  it('write-page into the table is dropped by vfio-pci; beyond the table it reaches the device', () => {
    const r = run(scenario(base + dm('table', 'op: write-page, offset: 0x8, size: 4, value: 0x99') + dm('straddle', 'op: write-page, offset: 0x1c, size: 8, value: 0xaabbccdd00000001') + dm('page', 'op: write-page, offset: 0x200, size: 4, value: 0x77')));
    const table = stepNamed(r, 'table');
    expect(of(table, 'device-register')).toEqual([]);
    expect(of(table, 'msi-config')).toEqual([]);
    expect(notes(table)).toEqual(['device model (QEMU) of vm1: pwrite of 4 bytes at BAR0 0x8 on the VFIO device fd: vfio_pci_core_bar_rw excludes the MSI-X table: write dropped']);
    const straddle = stepNamed(r, 'straddle');
    expect(of(straddle, 'device-register').map((e) => [e.offset, e.size, e.value, e.by, e.msixTable])).toEqual([[0x20, 4, 0xaabbccddn, 'qemu (vfio region)', false]]);
    expect(of(stepNamed(r, 'page'), 'device-register').map((e) => [e.offset, e.value])).toEqual([[0x200, 0x77n]]);
    // The physical entry 0 still carries the handle of the IRTE the host set up (posting rewrote that IRTE in place).
    expect(r.final.devices[DEV]!.msix!.table[0]).toEqual({ address: 0xfee00018n, data: 0, masked: false });
  });

  it('mask is not a KVM interface: refused', () => {
    const r = run(scenario(base + dm('mask', 'op: mask, entry: 0, masked: true')));
    const s = stepNamed(r, 'mask');
    expect(s.events.map((e) => e.kind)).toEqual(['vmm']);
    expect(notes(s)).toEqual(['device model (QEMU) of vm1: mask entry 0: KVM has no interface to mask a vector (QEMU emulates the mask bits itself): refused']);
  });

  it('bind gives its own entry a route to its message; unbind removes it', () => {
    const r = run(scenario(base + dm('bind', 'op: bind, entry: 1, address: 0xfee00000, data: 0x66') + dm('unbind', 'op: unbind, entry: 1')));
    const bind = stepNamed(r, 'bind');
    expect(of(bind, 'kvm-routing').map((e) => [e.gsi, e.change, e.address, e.data])).toEqual([[25, 'add', 0xfee00000n, 0x66]]);
    const unbind = stepNamed(r, 'unbind');
    expect(of(unbind, 'kvm-routing').map((e) => [e.gsi, e.change])).toEqual([[25, 'remove']]);
    expect(costs(unbind).map(([k]) => k)).toEqual(['ioctl', 'ioctl']);
    // IRTE 1 is entry 0's posted one: entry 1's host IRTE is the next.
    expect(vectors(r)[1]).toEqual({ hostVector: 0xcf, hostPcpu: 1, irte: { iommu: 0, index: 1 }, bound: { address: 0xfee00000n, data: 0x66 }, posted: false });
    expect(r.final.vmm!.kvm.routes[25]).toBeUndefined();
  });
});

describe('trace of a representative run', () => {
  it('reads as QEMU/KVM steps', () => {
    const r = run(scenario(program(0, 0xfee01000, 0x41) + ENABLE + mmio('mask', 0xc, 4, 1) + raise('raise', 0) + mmio('unmask', 0xc, 4, 0)));
    expect(traceOf(r, 'raise')).toEqual([
      `${DEV} raises MSI-X entry 0`,
      `${DEV} MSI fee00018/00000000 → remapped by dmar0 IRTE 0x0 (IEC miss): vector 0xd0 fixed edge physical dest 0x2 → cpu2`,
      'cost: vm-exit — external interrupt: host vector 0xd0 on cpu2 exits vm1.vcpu1',
      "vmm (qemu-kvm): vfio_msi_interrupt: entry 0 is masked in the guest's view → msix_notify sets its pending bit (PBA emulation on)",
      `cost: dm-round-trip — VFIO eventfd → QEMU vfio_msi_interrupt (${DEV} entry 0)`,
    ]);
  });
});

describe('random guest programming (fast-check, fixed seed)', () => {
  // Messages: physical to vm1.vcpu0 / vm1.vcpu1, logical to both, lowest priority logical, and one outside the interrupt window.
  const ADDRESSES = [0xfee00000, 0xfee01000, 0xfee03004, 0x12340000];
  const DATA = [0x41, 0x42, 0x143, 0x44];
  const stepArb = fc.oneof(
    fc.record({ k: fc.integer({ min: 0, max: 2 }), a: fc.constantFrom(...ADDRESSES), d: fc.constantFrom(...DATA), masked: fc.boolean() }).map(
      ({ k, a, d, masked }) => mmio('p', 16 * k, 4, a) + mmio('p', 16 * k + 4, 4, 0) + mmio('p', 16 * k + 8, 4, d) + mmio('p', 16 * k + 12, 4, masked ? 1 : 0),
    ),
    fc.record({ k: fc.integer({ min: 0, max: 2 }), masked: fc.boolean() }).map(({ k, masked }) => mmio('c', 16 * k + 12, 4, masked ? 1 : 0)),
    fc.record({ k: fc.integer({ min: 0, max: 2 }), d: fc.constantFrom(...DATA) }).map(({ k, d }) => mmio('d', 16 * k + 8, 4, d)),
    fc.record({ off: fc.constantFrom(0x0, 0x8, 0x18, 0x1c, 0x28, 0x2c, 0x30, 0x34), v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }).map(({ off, v }) => mmio('q', off, 8, v)),
    fc.constantFrom(0x8000, 0xc000, 0x4000, 0).map((v) => step('mc', `guest-config: { device: "${DEV}", offset: 0x72, size: 2, value: ${hex(v)} }`)),
    fc.integer({ min: 0, max: 2 }).map((k) => raise('s', k)),
    fc.constant(read('r', 0x30, 8)),
    fc.constantFrom(0, 1).map((v) => step('h', `halt: { vm: vm1, vcpu: ${v} }`)),
  );

  it('qemu-kvm keeps P1, P3 and P7 whatever the guest writes (table of 3 at the default layout, 1 or 4096 routes)', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 14 }), fc.constantFrom(1, 4096), (steps, routes) => {
        const r = run(scenario(steps.join(''), { tableSize: 3, kvmRoutes: routes }));
        expect(r.violations).toEqual([]);
        expect(r.lost).toEqual([]);
        expect(r.guestIntent).toEqual([]);
      }),
      { seed: 0x51ed, numRuns: 120 },
    );
  });

  const dmArb = fc.oneof(
    fc.record({ a: fc.constantFrom(...ADDRESSES, 0xfee05000), d: fc.integer({ min: 0, max: 0x7ff }) }).map(({ a, d }) => dm('x', `op: signal-msi, address: ${hex(a)}, data: ${hex(d)}`)),
    fc.record({ k: fc.integer({ min: 0, max: 3 }), a: fc.constantFrom(...ADDRESSES), d: fc.constantFrom(...DATA, 0x5) }).map(({ k, a, d }) => dm('x', `op: bind, entry: ${k}, address: ${hex(a)}, data: ${hex(d)}`)),
    fc.integer({ min: 0, max: 3 }).map((k) => dm('x', `op: unbind, entry: ${k}`)),
    fc.record({ off: fc.integer({ min: 0, max: 0x40 }), size: fc.integer({ min: 1, max: 8 }) }).map(({ off, size }) => dm('x', `op: write-page, offset: ${hex(off)}, size: ${size}, value: ${hex((1n << BigInt(8 * size)) - 1n)}`)),
    fc.integer({ min: 0, max: 2 }).map((k) => dm('x', `op: mask, entry: ${k}, masked: true`)),
  );

  it('a compromised device model never reaches another VM (P1) nor loses a posted interrupt (P3)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(stepArb, dmArb, dmArb), { minLength: 1, maxLength: 14 }), fc.constantFrom(1, 4096), (steps, routes) => {
        const r = run(scenario(steps.join(''), { tableSize: 3, kvmRoutes: routes }));
        expect(r.violations).toEqual([]);
        expect(r.lost).toEqual([]);
        const vm2 = vcpuAt(r.final.vcpus, 2)!;
        expect(vm2.virr).toBe(0n);
      }),
      { seed: 0xd0d0, numRuns: 100 },
    );
  });
});
