/**
 * The VMM scenarios under specs/vmm (docs/vmm.md): each runs clean through the CLI
 * (`remapsim run`, exit 0: every expectation met, P1–P7 held) and its trace shows what the
 * design did — the lines checked here are the ones docs/vmm.md describes.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { cli, repo } from '../cli/cli-harness.ts';

const DIR = repo('specs/vmm');
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

/** Lines (substrings) each scenario's trace must contain, in this order. */
const KEY_LINES: Readonly<Record<string, readonly string[]>> = {
  'paravirt-hcall-ir-off.yaml': [
    'cost: hypercall — set-interrupt 05:00.0 entry 0 → vCPU 1, vector 0x41',
    '05:00.0 MSI-X entry 0 ← address fee02000 data 000000d0 unmasked',
    "05:00.0's interrupt injected in software: vector 0x41 → vm1.vcpu1 vIRR",
    'MSI-X table write ignored',
    'returns 0: the table is not emulated',
    "05:00.0's interrupt injected in software: vector 0x41 → vm1.vcpu1 vIRR",
    '05:00.0 MSI 00000000fee00000/000000d0 as requester 05:00.0 → BLOCKED by host-bridge MSI validation',
    'P7 guest intent: HELD',
  ],
  'ims-emulated-posted.yaml': [
    'cost: trap — QEMU IMS quirk write (a per-device quirk, as hw/vfio/pci-quirks.c)',
    "IMS quirk: slot 0 unmasked → host vector 0xcf on cpu2 (IRTE 1, SID 05:00.0), GSI 25, irqfd, the host's pair 0xfee00038/0x0 into the physical slot, IRQ bypass (posted)",
    '05:00.0 BAR0 0x1000 ← 00000000fee00038 (8 bytes) by qemu (IMS quirk)',
    '05:00.0 MSI fee00038/00000000 → posted by dmar0 IRTE 0x1',
    '05:00.0 raises IMS slot 0: masked in the device: nothing sent (no pending bit)',
    '05:00.0 BAR0 0x1010 ← 00000000fee00058 (8 bytes) by qemu (IMS quirk)',
    'P7 guest intent: HELD',
  ],
  'ims-hypercall-posted.yaml': [
    'cost: hypercall — get-msi-pair by vm1: 05:00.0 slot 0 → vm1.vcpu1, vector 0x45',
    'get-msi-pair 05:00.0 slot 0 → address 0xfee00038 data 0x0 (IRTE 1, posted into vm1.vcpu1 vector 0x45',
    '05:00.0 BAR0 0x1000 ← 00000000fee00038 (8 bytes) by guest (mapped BAR)',
    '05:00.0 MSI fee00038/00000000 → posted by dmar0 IRTE 0x1',
    '06:00.0 MSI fee00038/00000000 → BLOCKED by dmar0: fault 0x26',
    '05:00.0 MSI fee01000/00000046 → BLOCKED by dmar0: fault 0x25',
    'P7 guest intent: HELD',
  ],
  'vfio-msi-virt-off-posted.yaml': [
    "returns the physical 0x00000000fee00018 instead of the guest's 0x00000000fee01000",
    '81:00.0 BAR0 0x100 ← 00000000fee00018 (8 bytes) by guest (mapped BAR)',
    '81:00.0 MSI fee00018/00000000 → posted by dmar0 IRTE 0x0',
    '82:00.0 MSI fee00018/00000000 → BLOCKED by dmar0: fault 0x26',
    'P7 guest intent: HELD',
  ],
  'vfio-msi-virt-off-ir-off.yaml': [
    "returns the physical 0x00000000fee03000 instead of the guest's 0x00000000fee01000",
    '0c:00.0 MSI fee03000/000000d0 → compatibility format, not remapped',
    "0c:00.0's interrupt injected in software: vector 0x51 → vm1.vcpu1 vIRR",
    'P7 guest intent: HELD',
  ],
  'qemu-kvm-posted.yaml': [
    'cost: trap — QEMU msix_table_mmio_write',
    'vmm (qemu-kvm): vfio_msix_vector_use: entry 0 → host vector 0xd0 on cpu3, GSI 24, irqfd, IRQ bypass (posted)',
    'KVM route GSI 24 added: MSI fee01000/00000041 (1/4096 routes)',
    'IRQ bypass not postable (several vCPUs): irqfd injects',
    'PIR bit 0x41 set in PID 0x40000040',
    "81:00.0's interrupt injected in software: vector 0x42 → vm1.vcpu0 vIRR",
    "81:00.0's interrupt injected in software: vector 0x42 → vm1.vcpu1 vIRR",
    'vfio_msi_interrupt: entry 0 is masked in the guest\'s view → msix_notify sets its pending bit',
    'guest reads 81:00.0 BAR0 0x2800 (8 bytes → 0000000000000001) [pba]',
    'msix_handle_mask_update: entry 0 unmasked with its pending bit set',
    'cost: ioctl — pwrite of 4 bytes at BAR0 0x2400 on the VFIO device fd (vfio_pci_bar_rw)',
    '81:00.0 BAR0 0x100 ← 00000005 (4 bytes) by guest (mapped BAR)',
    'P7 guest intent: HELD',
  ],
  'xen-posted.yaml': [
    'cost: hypercall — XEN_DOMCTL_bind_pt_irq 81:00.0 entry 0',
    'pi_update_irte: 81:00.0 entry 0 posted into vm1.vcpu1\'s PID',
    'PIR bit 0x41 set in PID 0x40000040',
    'vmsi_deliver_pirq: 81:00.0 entry 1',
    "81:00.0's interrupt injected in software: vector 0x42 → vm1.vcpu1 vIRR",
    'msixtbl_write: guest_mask_msi_irq(81:00.0 entry 0, masked)',
    '81:00.0 MSI-X entry 0 masked: pending bit set',
    'guest reads 81:00.0 BAR0 0x2800 (8 bytes → 0000000000000001) [pba]',
    'msixtbl_write: guest_mask_msi_irq(81:00.0 entry 0, unmasked)',
    'MSI-X table and PBA share a page, discard write to adjacent memory',
    'P7 guest intent: HELD',
  ],
  'qemu-kvm-ir-off.yaml': [
    'no IRQ bypass',
    'KVM route GSI 24 added: MSI fee01000/00000051',
    '→ compatibility format, not remapped',
    "0c:00.0's interrupt injected in software: vector 0x51 → vm1.vcpu1 vIRR",
    "0c:00.0's interrupt injected in software: vector 0x52 → vm1.vcpu1 vIRR",
    'guest reads 0c:00.0 BAR4 0x800 (8 bytes → 0000000000000002) [pba]',
    'msix_handle_mask_update: entry 1 unmasked with its pending bit set',
    'P7 guest intent: HELD',
  ],
  'xen-ir-off.yaml': [
    'PHYSDEVOP_map_pirq (map_domain_pirq): 0c:00.0 entry 0 → host vector 0xd0 on cpu3',
    '0c:00.0 MSI fee03000/000000d0 → compatibility format, not remapped',
    "0c:00.0's interrupt injected in software: vector 0x51 → vm1.vcpu1 vIRR",
    "0c:00.0's interrupt injected in software: vector 0x52 → vm1.vcpu1 vIRR",
    '0c:00.0 MSI-X entry 1 masked: pending bit set',
    'guest reads 0c:00.0 BAR4 0x800 (8 bytes → 0000000000000002) [pba]',
    'P7 guest intent: HELD',
  ],
  'compare-posted.yaml': ['PIR bit 0x41 set in PID 0x40000040', 'P7 guest intent: HELD'],
  // One guest under every design (remapsim compare --vmm all); run as written it is qemu-kvm's, steps for other designs skipped.
  'compare-all.yaml': ['(only under direct-post; this run\'s VMM design is qemu-kvm)', 'PIR bit 0x41 set in PID 0x40000040', 'PIR bit 0x42 set in PID 0x40000000', 'P7 guest intent: HELD'],
  'compare-all-ir-off.yaml': ['(only under direct-post; this run\'s VMM design is qemu-kvm)', 'P1 interrupt isolation: HELD', 'P7 guest intent: HELD'],
  // HYPOTHETICAL hardware (src/hypothetical/direct-post) and design (src/vmm/designs/direct-post.ts).
  'direct-post.yaml': [
    'direct-post vAPIC entry 0 (vm1.vcpu0 → PID 0x40000000) (hypothetical)',
    'cost: table-write — direct-post root entry 05:00.0 of dmar0',
    'dmar0 DPTA ← 0000000200000001',
    'intent: grant 05:00.0 vector 0x10..0xffff → vCPU 0',
    '05:00.0 MSI-X entry 0 ← address fee00000 data 00000045 unmasked',
    '05:00.0 MSI fee00000/00000045 → direct-posted (hypothetical) vAPIC 0 → PID 0x40000000',
    'PIR → vIRR 0x45 (notification in guest mode, no VM exit)',
    'notification vector 0xf1 → APIC 0x2 (cpu2)',
    'vm1.vcpu1 blocked → runnable on cpu2',
    'PIR extension bit 0x145',
    '06:00.0 BAR0 0x1000 ← 00000000fee02000 (8 bytes) by the guest (mapped BAR)',
    '06:00.0 MSI fee02000/00000051 → direct-posted (hypothetical) vAPIC 2',
    'fault 0xd5',
    'P7 guest intent: HELD',
  ],
};

/** The first of `lines` not found in `out` after the previous one, or undefined. */
function firstMissing(out: string, lines: readonly string[]): string | undefined {
  let at = 0;
  for (const l of lines) {
    const i = out.indexOf(l, at);
    if (i < 0) return l;
    at = i + l.length;
  }
  return undefined;
}

describe('specs/vmm scenarios', () => {
  it('has the scenarios docs/vmm.md describes, each with its key lines', () => {
    expect(FILES).toEqual(Object.keys(KEY_LINES).sort());
  });

  for (const f of FILES) {
    it(`remapsim run specs/vmm/${f}: exit 0, no violation, its key trace lines`, async () => {
      const r = await cli(['run', `${DIR}/${f}`]);
      expect(r.err).toBe('');
      expect(r.out).not.toMatch(/VIOLATION|EXPECTATION FAILED/);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/^P1 interrupt isolation: HELD/m);
      expect(r.out).toMatch(/^P3 no lost interrupt: HELD/m);
      expect(r.out).toMatch(/^P7 guest intent: HELD \(\d+ raised, 1 unmasked with pending\)$/m);
      expect(firstMissing(r.out, KEY_LINES[f] ?? []), r.out).toBeUndefined();
    });
  }

  it('the IR-off scenarios post nothing; the posted ones post', async () => {
    for (const f of FILES) {
      const r = await cli(['run', `${DIR}/${f}`]);
      if (f.includes('ir-off')) {
        expect(r.out).not.toContain('posted by');
        expect(r.out).not.toMatch(/^#\d+ enable-ir/m);
      } else if (f.startsWith('direct-post')) {
        // The hypothetical direct-post unit posts without any IRTE.
        expect(r.out).toMatch(/→ direct-posted \(hypothetical\)/);
        expect(r.out).not.toMatch(/→ posted by dmar0 IRTE/);
      } else {
        expect(r.out).toMatch(/→ posted by dmar0 IRTE/);
      }
    }
  });
});
