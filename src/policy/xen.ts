/**
 * A Xen-like posted-interrupt policy, after xen/arch/x86/hvm/vmx/vmx.c
 * (`vmx_pi_switch_from`, `vmx_pi_switch_to`, `vmx_vcpu_block`, `vmx_pi_unblock_vcpu`,
 * `pi_wakeup_interrupt`, `vmx_pi_do_resume`, `vmx_sync_pir_to_irr`). Differences from
 * the KVM-like policy that show in a trace:
 *
 * - on schedule, NDST and SN are written by two separate atomic stores (NDST first,
 *   `write_atomic(&pi_desc->ndst, …)` then `pi_clear_sn`), and NV is restored to the
 *   posted vector by `vmx_pi_do_resume`;
 * - a vCPU does not block when ON is already set (`local_events_need_delivery`), so no
 *   self-IPI is needed;
 * - the wakeup handler removes each woken vCPU from the per-pCPU blocking list itself.
 *
 * Xen allocates `posted_intr_vector` and `pi_wakeup_vector` at boot with
 * `alloc_direct_apic_vector`; their numbers depend on the boot, so the model fixes them
 * at 0xf3 and 0xf4. After clearing SN the model sets ON when PIR is not empty, as
 * correctness requires (the kvm-broken-sn-without-on variant shows what happens
 * otherwise).
 */
import type { Action } from '../platform/actions.ts';
import type { PlatformState } from '../platform/state.ts';
import type { HypervisorPolicy, PolicyRequest } from './policy.ts';
import { vcpuAt } from '../platform/vcpu-table.ts';
import { ALL_CHECKS, ndstOf, pidOf, schedulePrologue } from './common.ts';
import { guestMsiSetup, injectRouted } from './guest-msi.ts';
import { vendorOf } from './vendor.ts';

export const XEN_POSTED_INTR_VECTOR = 0xf3;
export const XEN_PI_WAKEUP_VECTOR = 0xf4;

function switchFrom(vcpu: number, pcpu: number): Action[] {
  return [{ kind: 'pid-write', vcpu, sn: true }, { kind: 'vcpu-set', vcpu, run: 'runnable', pcpu }];
}

/**
 * Xen on AMD-Vi (xen/drivers/passthrough/amd/iommu_intr.c): no AVIC posting for passed-through
 * devices — a guest's MSI is remapped to a host vector in the device's own interrupt table
 * (`update_intremap_entry_from_msi_msg`, then `amd_iommu_flush_intremap`) and injected by the
 * pirq path (src/policy/guest-msi.ts software delivery, which wakes a blocked vCPU); scheduling
 * touches no IOMMU structure. `sharedTable`: one table for all devices (XSA-36).
 */
function respondAmd(state: PlatformState, r: PolicyRequest, bugs: XenBugs): Action[] {
  switch (r.kind) {
    case 'schedule': {
      const start = schedulePrologue(state, r.vcpu, r.pcpu, (x) => [{ kind: 'vcpu-set', vcpu: x.id, run: 'runnable', pcpu: x.pcpu }]);
      if (start === undefined) return [];
      return [...start.actions, { kind: 'vcpu-set', vcpu: start.vcpu.id, run: 'running', pcpu: r.pcpu }];
    }
    case 'preempt': {
      const v = vcpuAt(state.vcpus, r.vcpu);
      return v?.run === 'running' ? [{ kind: 'vcpu-set', vcpu: v.id, run: 'runnable', pcpu: v.pcpu }] : [];
    }
    case 'halt': {
      const v = vcpuAt(state.vcpus, r.vcpu);
      return v?.run !== 'running' || v.virr !== 0n ? [] : [{ kind: 'vcpu-set', vcpu: v.id, run: 'blocked', pcpu: v.pcpu }];
    }
    case 'host-interrupt':
      return injectRouted(state, r) ?? [];
    case 'guest-msi':
      return guestMsiSetup(state, r, { checks: ALL_CHECKS, amd: { avic: false, shared: bugs.sharedTable === true } });
  }
}

/** Bugs of the Xen-like policy. */
export interface XenBugs {
  /** AMD-Vi: one interrupt remapping table for every device (XSA-36, CVE-2013-0153). */
  readonly sharedTable?: boolean;
}

function respond(state: PlatformState, r: PolicyRequest): Action[] {
  switch (r.kind) {
    case 'schedule': {
      const start = schedulePrologue(state, r.vcpu, r.pcpu, (x) => switchFrom(x.id, x.pcpu));
      if (start === undefined) return [];
      const { vcpu: v, actions: out } = start;
      out.push(
        { kind: 'pid-write', vcpu: v.id, ndst: ndstOf(state, r.pcpu) },
        { kind: 'pid-write', vcpu: v.id, nv: XEN_POSTED_INTR_VECTOR },
        { kind: 'pid-write', vcpu: v.id, sn: false },
      );
      if (pidOf(state, v).pir !== 0n) out.push({ kind: 'pid-write', vcpu: v.id, on: true });
      out.push({ kind: 'sync-pir', vcpu: v.id, pcpu: r.pcpu }, { kind: 'vcpu-set', vcpu: v.id, run: 'running', pcpu: r.pcpu });
      return out;
    }
    case 'preempt': {
      const v = vcpuAt(state.vcpus, r.vcpu);
      return v?.run === 'running' ? switchFrom(v.id, v.pcpu) : [];
    }
    case 'halt': {
      const v = vcpuAt(state.vcpus, r.vcpu);
      if (v?.run !== 'running' || v.virr !== 0n || pidOf(state, v).on) return [];
      return [
        { kind: 'blocked-list', pcpu: v.pcpu, vcpu: v.id, add: true },
        { kind: 'pid-write', vcpu: v.id, nv: XEN_PI_WAKEUP_VECTOR },
        { kind: 'vcpu-set', vcpu: v.id, run: 'blocked', pcpu: v.pcpu },
      ];
    }
    case 'host-interrupt': {
      const injected = injectRouted(state, r);
      if (injected !== undefined) return injected;
      if (r.vector !== XEN_PI_WAKEUP_VECTOR) return [];
      return (state.hypervisor.blockedLists[r.pcpu] ?? [])
        .map((id) => vcpuAt(state.vcpus, id)!)
        .filter((v) => pidOf(state, v).on)
        .flatMap((v): Action[] => [
          { kind: 'blocked-list', pcpu: r.pcpu, vcpu: v.id, add: false },
          { kind: 'vcpu-set', vcpu: v.id, run: 'runnable', pcpu: v.pcpu },
        ]);
    }
    case 'guest-msi':
      return guestMsiSetup(state, r, { checks: ALL_CHECKS });
  }
}

const XEN_VMX = 'xen/arch/x86/hvm/vmx/vmx.c (vmx_pi_switch_from, vmx_pi_switch_to, vmx_vcpu_block, pi_wakeup_interrupt, vmx_pi_do_resume)';
const XEN_AMD = 'xen/drivers/passthrough/amd/iommu_intr.c (amd_iommu_alloc_intremap_table, update_intremap_entry_from_msi_msg, amd_iommu_flush_intremap)';

/** The Xen-like policy, or a broken variant with `bugs`. */
export function makeXenPolicy(name: string, summary: string, source: string, bugs: XenBugs = {}): HypervisorPolicy {
  return {
    name,
    summary,
    source,
    broken: Object.values(bugs).some(Boolean),
    postedVector: XEN_POSTED_INTR_VECTOR,
    wakeupVector: XEN_PI_WAKEUP_VECTOR,
    initialPid: (v, state) => ({ on: false, sn: true, nv: XEN_POSTED_INTR_VECTOR, ndst: ndstOf(state, v.pcpu) }),
    // The vendor decides (src/policy/vendor.ts): VT-d posted interrupts, or AMD-Vi remapping without AVIC.
    respond: (state, r) => (vendorOf(state) === 'amdvi' ? respondAmd(state, r, bugs) : respond(state, r)),
  };
}

export const xen: HypervisorPolicy = makeXenPolicy(
  'xen',
  'Xen-like VT-d posted interrupts: SN on switch-from, NDST then SN on switch-to, per-pCPU blocking list with the wakeup vector; on AMD-Vi, remapped per-device IRTEs and injection (no AVIC)',
  `${XEN_VMX}; on AMD ${XEN_AMD}`,
);

export const xenBrokenAmdSharedIrt = makeXenPolicy(
  'xen-broken-amd-shared-irt',
  "AMD-Vi: one interrupt remapping table for every device: a guest's device that sends another device's IRTE index raises that device's interrupt (XSA-36, CVE-2013-0153)",
  `${XEN_AMD} before XSA-36 (one global intremap table; fixed by per-device tables, amd_iommu_perdev_intremap)`,
  { sharedTable: true },
);
