/**
 * A KVM-like posted-interrupt policy, after Linux `arch/x86/kvm/vmx/posted_intr.c`
 * (`vmx_vcpu_pi_load`, `vmx_vcpu_pi_put`, `pi_enable_wakeup_handler`,
 * `pi_wakeup_handler`) and `vmx.c` (`vmx_sync_pir_to_irr`, `__vmx_vcpu_reset`):
 *
 * - created: NV = POSTED_INTR_VECTOR (0xf2), SN = 1;
 * - load on a pCPU: leave the blocked list, NDST = that pCPU, NV = 0xf2, SN = 0 in one
 *   cmpxchg, then set ON if PIR is not empty ("the IOMMU only sets PIR while SN is
 *   set"), harvest PIR if ON before VM entry, enter the guest;
 * - preempted: SN = 1 (the IOMMU keeps posting to PIR, without notifications);
 * - halt: not if a virtual interrupt is pending; else join the pCPU's wakeup list,
 *   NV = POSTED_INTR_WAKEUP_VECTOR (0xf1), block; if ON is already set, self-IPI 0xf1;
 * - wakeup vector: wake every listed vCPU whose ON is set (they leave the list at load);
 * - posted vector outside guest mode: nothing (ON stays set; the next entry harvests);
 * - a guest MSI request: posted when it reaches one vCPU, else remapped to a host vector and
 *   injected in software when that vector arrives (src/policy/guest-msi.ts).
 *
 * `makeKvmPolicy` also builds the broken variants that reproduce real bug classes.
 */
import type { Action } from '../platform/actions.ts';
import type { PlatformState, Vcpu } from '../platform/state.ts';
import type { HypervisorPolicy, PolicyRequest } from './policy.ts';
import { vcpuAt } from '../platform/vcpu-table.ts';
import { ndstOf, pidOf, schedulePrologue } from './common.ts';
import { guestMsiSetup, injectRouted } from './guest-msi.ts';
import { amdUpdateGa, avicIrr, gaLogWakeup } from './amd.ts';
import { vendorOf } from './vendor.ts';
import { AMDVI_GA_LOG_INTERRUPT } from '../platform/amdvi-interrupt.ts';

/** Linux arch/x86/include/asm/irq_vectors.h */
export const POSTED_INTR_VECTOR = 0xf2;
export const POSTED_INTR_WAKEUP_VECTOR = 0xf1;

export interface KvmBugs {
  /** Clear SN on load without setting ON for a non-empty PIR: requests posted while preempted are stranded. */
  readonly snWithoutOn?: boolean;
  /** On migration, enter the guest first and update NDST only at the next put: notifications go to the old pCPU. */
  readonly ndstAfterMove?: boolean;
  /** Resolve the guest's destination APIC ID among all VMs' vCPUs: the PDA may name another VM's vCPU. */
  readonly pdaAnyVm?: boolean;
  /** Switch NV to the wakeup vector on halt but never join the wakeup list: nobody wakes the vCPU. */
  readonly noWakeupList?: boolean;
  /** Set up a guest's interrupt request for any device, owned or not (XSA-237). */
  readonly noOwnerCheck?: boolean;
  /** Set up a guest's interrupt request for a device whose IOMMU group another VM holds (VFIO group viability left out). */
  readonly splitGroup?: boolean;
  /** Post a fixed request naming several vCPUs into the first of them (the single-vCPU check `kvm_intr_is_single_vcpu` left out). */
  readonly postMulticast?: boolean;
  /** AMD-Vi: write DTEs and IRTEs without INVALIDATE_DEVTAB_ENTRY / INVALIDATE_INTERRUPT_TABLE (stale cached entries). */
  readonly amdNoFlush?: boolean;
  /** AMD-Vi: activate guest mode with RemapEn = 0 (Linux e52d58d54a32 before e97685abd5d7): every posted interrupt faults. */
  readonly amdDropRemapEn?: boolean;
}

/**
 * KVM on AMD (arch/x86/kvm/svm/avic.c): the vCPU's interrupts are posted through GA-mode IRTEs
 * naming its AVIC backing page (src/policy/amd.ts), and scheduling updates those IRTEs instead
 * of a PID:
 *
 * - load on a pCPU (`avic_vcpu_load` → `avic_update_iommu_vcpu_affinity` → `amd_iommu_update_ga`):
 *   IsRun = 1, Destination = the pCPU's APIC ID; VMRUN then evaluates the backing page's IRR
 *   (`sync-pir`: the IRR bits posted while it was away are taken);
 * - put (`avic_vcpu_put`): IsRun = 0 (GALogIntr = 0: a preempted vCPU needs no wakeup);
 * - blocking (`avic_vcpu_blocking`): not when an interrupt is pending (vIRR or the backing page's
 *   IRR, `kvm_vcpu_has_events`); else IsRun = 0 with GALogIntr = 1, then block;
 * - the GA-log interrupt (`avic_ga_log_notifier` → `kvm_vcpu_wake_up`): wake the blocked vCPUs
 *   with a posted interrupt pending (src/policy/amd.ts `gaLogWakeup`).
 */
function respondAvic(state: PlatformState, r: PolicyRequest, bugs: KvmBugs): Action[] {
  const put = (x: Vcpu): Action[] => [...amdUpdateGa(state, x, 'runnable', x.pcpu), { kind: 'vcpu-set', vcpu: x.id, run: 'runnable', pcpu: x.pcpu }];
  switch (r.kind) {
    case 'schedule': {
      const start = schedulePrologue(state, r.vcpu, r.pcpu, put);
      if (start === undefined) return [];
      const { vcpu: v, actions: out } = start;
      out.push(...amdUpdateGa(state, v, 'running', r.pcpu), { kind: 'sync-pir', vcpu: v.id, pcpu: r.pcpu }, { kind: 'vcpu-set', vcpu: v.id, run: 'running', pcpu: r.pcpu });
      return out;
    }
    case 'preempt': {
      const v = vcpuAt(state.vcpus, r.vcpu);
      return v?.run === 'running' ? put(v) : [];
    }
    case 'halt': {
      const v = vcpuAt(state.vcpus, r.vcpu);
      if (v?.run !== 'running' || v.virr !== 0n || avicIrr(state, v) !== 0n) return [];
      return [...amdUpdateGa(state, v, 'blocked', v.pcpu), { kind: 'vcpu-set', vcpu: v.id, run: 'blocked', pcpu: v.pcpu }];
    }
    case 'host-interrupt': {
      const injected = injectRouted(state, r);
      if (injected !== undefined) return injected;
      return r.vector === AMDVI_GA_LOG_INTERRUPT.vector ? gaLogWakeup(state) : [];
    }
    case 'guest-msi':
      return guestMsiSetup(state, r, {
        checks: { owner: !bugs.noOwnerCheck, group: !bugs.splitGroup },
        anyVm: bugs.pdaAnyVm === true,
        postMulticast: bugs.postMulticast === true,
        amd: { flush: bugs.amdNoFlush !== true, dropRemapEn: bugs.amdDropRemapEn === true },
      });
  }
}

function preemptActions(state: PlatformState, v: Vcpu, bugs: KvmBugs): Action[] {
  const out: Action[] = [{ kind: 'pid-write', vcpu: v.id, sn: true }, { kind: 'vcpu-set', vcpu: v.id, run: 'runnable', pcpu: v.pcpu }];
  if (bugs.ndstAfterMove && state.hypervisor.staleNdst.includes(v.id)) {
    out.unshift({ kind: 'pid-write', vcpu: v.id, ndst: ndstOf(state, v.pcpu) }, { kind: 'ndst-stale', vcpu: v.id, stale: false });
  }
  return out;
}

export function makeKvmPolicy(name: string, summary: string, source: string, bugs: KvmBugs = {}): HypervisorPolicy {
  const broken = Object.values(bugs).some(Boolean);
  // The vendor decides how a vCPU's interrupts are posted (src/policy/vendor.ts): VMX posted interrupts or AVIC.
  const respond = (state: PlatformState, r: PolicyRequest): Action[] => (vendorOf(state) === 'amdvi' ? respondAvic(state, r, bugs) : respondVmx(state, r));
  const respondVmx = (state: PlatformState, r: PolicyRequest): Action[] => {
    switch (r.kind) {
      case 'schedule': {
        const start = schedulePrologue(state, r.vcpu, r.pcpu, (x) => preemptActions(state, x, bugs));
        if (start === undefined) return [];
        const { vcpu: v, actions: out } = start;
        const moving = v.pcpu !== r.pcpu;
        const deferNdst = bugs.ndstAfterMove && moving;
        out.push(deferNdst ? { kind: 'pid-write', vcpu: v.id, nv: POSTED_INTR_VECTOR, sn: false } : { kind: 'pid-write', vcpu: v.id, ndst: ndstOf(state, r.pcpu), nv: POSTED_INTR_VECTOR, sn: false });
        if (deferNdst) out.push({ kind: 'ndst-stale', vcpu: v.id, stale: true });
        if (!bugs.snWithoutOn && pidOf(state, v).pir !== 0n) out.push({ kind: 'pid-write', vcpu: v.id, on: true });
        out.push({ kind: 'sync-pir', vcpu: v.id, pcpu: r.pcpu }, { kind: 'vcpu-set', vcpu: v.id, run: 'running', pcpu: r.pcpu });
        return out;
      }
      case 'preempt': {
        const v = vcpuAt(state.vcpus, r.vcpu);
        return v?.run === 'running' ? preemptActions(state, v, bugs) : [];
      }
      case 'halt': {
        const v = vcpuAt(state.vcpus, r.vcpu);
        if (v?.run !== 'running' || v.virr !== 0n) return [];
        const out: Action[] = [];
        if (bugs.ndstAfterMove && state.hypervisor.staleNdst.includes(v.id)) {
          out.push({ kind: 'pid-write', vcpu: v.id, ndst: ndstOf(state, v.pcpu) }, { kind: 'ndst-stale', vcpu: v.id, stale: false });
        }
        if (!bugs.noWakeupList) out.push({ kind: 'blocked-list', pcpu: v.pcpu, vcpu: v.id, add: true });
        out.push({ kind: 'pid-write', vcpu: v.id, nv: POSTED_INTR_WAKEUP_VECTOR }, { kind: 'vcpu-set', vcpu: v.id, run: 'blocked', pcpu: v.pcpu });
        if (pidOf(state, v).on) out.push({ kind: 'self-ipi', pcpu: v.pcpu, vector: POSTED_INTR_WAKEUP_VECTOR });
        return out;
      }
      case 'host-interrupt': {
        const injected = injectRouted(state, r);
        if (injected !== undefined) return injected;
        if (r.vector !== POSTED_INTR_WAKEUP_VECTOR) return [];
        return (state.hypervisor.blockedLists[r.pcpu] ?? [])
          .map((id) => vcpuAt(state.vcpus, id)!)
          .filter((v) => v.run === 'blocked' && pidOf(state, v).on)
          .map((v): Action => ({ kind: 'vcpu-set', vcpu: v.id, run: 'runnable', pcpu: v.pcpu }));
      }
      case 'guest-msi':
        return guestMsiSetup(state, r, { checks: { owner: !bugs.noOwnerCheck, group: !bugs.splitGroup }, anyVm: bugs.pdaAnyVm === true, postMulticast: bugs.postMulticast === true });
    }
  };
  return {
    name,
    summary,
    source,
    broken,
    postedVector: POSTED_INTR_VECTOR,
    wakeupVector: POSTED_INTR_WAKEUP_VECTOR,
    initialPid: (v, state) => ({ on: false, sn: true, nv: POSTED_INTR_VECTOR, ndst: ndstOf(state, v.pcpu) }),
    respond,
  };
}

const LINUX = 'Linux arch/x86/kvm/vmx/posted_intr.c (vmx_vcpu_pi_load, vmx_vcpu_pi_put, pi_enable_wakeup_handler, pi_wakeup_handler)';

export const kvm = makeKvmPolicy(
  'kvm',
  'KVM-like VT-d posted interrupts: SN while preempted, wakeup vector and per-pCPU list while blocked, NDST on load, ON recomputed when SN is cleared; on AMD-Vi, AVIC through GA-mode IRTEs (IsRun / Destination on load and put, GALogIntr while blocked, woken by the GA log)',
  `${LINUX}; on AMD Linux arch/x86/kvm/svm/avic.c and drivers/iommu/amd/iommu.c`,
);
export const kvmBrokenSnWithoutOn = makeKvmPolicy(
  'kvm-broken-sn-without-on',
  'clears SN on load without recomputing ON: requests posted while preempted stay in PIR (lost until another interrupt)',
  `${LINUX}; the "pi_set_on if PIR not empty" step left out`,
  { snWithoutOn: true },
);
export const kvmBrokenNdstAfterMove = makeKvmPolicy(
  'kvm-broken-ndst-after-move',
  'updates NDST after, not before, the vCPU moves to another pCPU: notifications reach the old pCPU',
  `${LINUX}; NDST written late`,
  { ndstAfterMove: true },
);
export const kvmBrokenPdaAnyVm = makeKvmPolicy(
  'kvm-broken-pda-any-vm',
  "resolves the guest's destination APIC ID among every VM's vCPUs: the posted IRTE's PDA can name another VM's vCPU",
  `${LINUX}; the vCPU lookup not scoped to the device's VM`,
  { pdaAnyVm: true },
);
export const kvmBrokenNoOwnerCheck = makeKvmPolicy(
  'kvm-broken-no-owner-check',
  "sets up a guest's interrupt request for a device the guest does not own: another VM's device posts into the requester's vCPU (XSA-237 class)",
  `${LINUX}; the device-ownership check of the request left out (Xen XSA-237: insufficient checks on MSI mapping requests)`,
  { noOwnerCheck: true },
);
export const kvmBrokenSplitGroup = makeKvmPolicy(
  'kvm-broken-split-group',
  "sets up a guest's interrupt request for a device whose IOMMU group is split with another VM: behind a PCIe-to-PCI bridge the other VM's device shares the requester ID the IRTE validates",
  `${LINUX}; VFIO's group viability check (drivers/vfio/group.c) left out, as when an ACS override splits groups (pcie_acs_override)`,
  { splitGroup: true },
);
export const kvmBrokenPostMulticast = makeKvmPolicy(
  'kvm-broken-post-multicast',
  "posts a guest's fixed MSI whose logical destination names several vCPUs into the first of them: the posted IRTE has one PDA, so the other vCPUs never receive the interrupt",
  `${LINUX}; vmx_pi_update_irte without the kvm_intr_is_single_vcpu check (arch/x86/kvm/lapic.c), which keeps such IRTEs remapped`,
  { postMulticast: true },
);
const AVIC = 'Linux arch/x86/kvm/svm/avic.c (avic_pi_update_irte, avic_vcpu_load/put, avic_ga_log_notifier) and drivers/iommu/amd/iommu.c (irq_remapping_alloc, modify_irte_ga, amd_iommu_activate_guest_mode, amd_iommu_update_ga)';

export const kvmBrokenAmdNoIrtFlush = makeKvmPolicy(
  'kvm-broken-amd-no-irt-flush',
  "AMD-Vi: rewrites a device's DTE and IRTEs without INVALIDATE_DEVTAB_ENTRY / INVALIDATE_INTERRUPT_TABLE: the IOMMU keeps using the cached entry, which after reassignment posts into the previous owner's vCPU",
  `${AVIC}; the iommu_flush_irt_and_complete / device_flush_dte after the write left out (interrupt analogue of XSA-442, CVE-2023-34326)`,
  { amdNoFlush: true },
);
export const kvmBrokenAmdGaRemapEn = makeKvmPolicy(
  'kvm-broken-amd-ga-remapen',
  'AMD-Vi: activates guest mode with RemapEn = 0 (the entry zeroed and RemapEn not restored): every interrupt of the device faults with IO_PAGE_FAULT and is lost',
  `${AVIC}; Linux e52d58d54a32 "iommu/amd: Use cmpxchg_double() when updating 128-bit IRTE" stopped modify_irte_ga forcing RemapEn, fixed for activation by e97685abd5d7 "iommu/amd: Restore IRTE.RemapEn bit for amd_iommu_activate_guest_mode"`,
  { amdDropRemapEn: true },
);
export const kvmBrokenNoWakeupList = makeKvmPolicy(
  'kvm-broken-no-wakeup-list',
  'switches NV to the wakeup vector on halt but never adds the vCPU to the wakeup list: a blocked vCPU with a posted interrupt is never woken',
  `${LINUX}; the list_add in pi_enable_wakeup_handler left out`,
  { noWakeupList: true },
);
