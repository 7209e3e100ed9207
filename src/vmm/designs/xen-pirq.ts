/**
 * Xen's side of an assigned function's MSI-X vectors, as the xen designs (./xen.ts) use it:
 * the pirq a vector is mapped to, its guest binding, who masks the physical entry, and the
 * delivery of a pirq that is not posted.
 *
 * - Binding (xen/drivers/passthrough/x86/hvm.c `pt_irq_create_bind`, reached by
 *   XEN_DOMCTL_bind_pt_irq, which QEMU issues through `xc_domain_update_msi_irq` in
 *   hw/xen/xen_pt_msi.c `msi_msix_update`): the pirq's host side is set up first if it is
 *   new (QEMU `msi_msix_setup` → `xc_physdev_map_pirq_msi`, PHYSDEVOP_map_pirq →
 *   `map_domain_pirq`: ../host-irq.ts `hostIrqSetup`), the guest vector and gflags
 *   (xen/include/public/domctl.h: XEN_DOMCTL_VMSI_X86_DEST_ID_MASK 0xff, _RH_MASK 0x100,
 *   _DM_MASK 0x200, _DELIV_MASK 0x7000, _TRIG_MASK 0x8000, _UNMASKED 0x10000) are recorded,
 *   and the pirq is posted when the message reaches one vCPU and the IOMMU posts
 *   (`hvm_girq_dest_2_vcpu_id`, `vector_hashing_dest` for lowest priority, `pi_update_irte`
 *   when `iommu_intpost`): the `guest-msi` request with `bypass` (src/policy/guest-msi.ts).
 *   Xen does not check the message against the guest's vCPUs (`vmsi_deliver` only looks
 *   among the bound domain's): one naming none is bound and dropped when the pirq fires.
 * - The proposed XEN_DOMCTL_VMSI_X86_MASK_HANDLING flag (seed thread 004, Roger Pau Monné:
 *   "a new flag bit to xen_domctl_bind_pt_irq ... that would tell Xen that QEMU will handle
 *   the mask bit for this entry"; not upstream, so it has no bit value here) must be the same
 *   on every vector of a device ("I would just return -EINVAL if the flag is not consistent
 *   across vectors on the same device").
 * - Without the flag Xen masks the physical entry itself as the guest writes Vector Control
 *   (xen/arch/x86/hvm/vmsi.c `msixtbl_write` → `guest_mask_msi_irq`); a vector is bound
 *   masked ("NB: by default MSI vectors are bound masked", xen/arch/x86/hvm/vmsi.c
 *   `msi_gflags`) and unmasked by the UNMASKED gflag or the guest's unmask.
 * - Unbinding (`pt_irq_destroy_bind`): "Leave the MSI masked", `pi_update_irte(NULL, …)`
 *   when it was posted; the pirq stays mapped. Unmapping (PHYSDEVOP_unmap_pirq, QEMU
 *   `msi_msix_disable` at MSI-X disable) also releases the host vector and clears the IRTE.
 * - A pirq that is not posted reaches Xen (`do_IRQ` → `hvm_do_IRQ_dpci` → softirq
 *   `hvm_dirq_assist` → xen/arch/x86/hvm/vmsi.c `vmsi_deliver_pirq` → `vmsi_deliver` →
 *   `vmsi_inj_irq` → `vlapic_set_irq`): the bound message is injected into the vCPUs it
 *   names (one of them for lowest priority), waking blocked ones (`vcpu_kick`).
 *
 * Grants to the guest's vCPUs are never withdrawn when a vector is rebound or unbound: they
 * stay within the device's own guest, and the policy's postings leave their old posted IRTEs
 * present (Xen's `pi_update_irte` rewrites the pirq's IRTE in place).
 *
 * The model keeps Xen's mask state in the physical entry's Mask bit (Xen's
 * `msi_attrib.guest_masked`; host masking is not modelled). The policy's posting programs
 * the physical entry unmasked, so a vector is posted only at the moment it is unmasked
 * ({@link physicalMask}); a vector bound while masked is posted at its unmask.
 */
import type { Action } from '../../platform/actions.ts';
import type { PlatformState, Vcpu } from '../../platform/state.ts';
import { runningVcpu } from '../../platform/vcpu-table.ts';
import { CAP_LAYOUT, GLOBAL_STATUS_BITS } from '../../vtd/registers.ts';
import { guestMessage, type GuestMessage } from '../guest-message.ts';
import { hostIrqSetup, unpostActions } from '../host-irq.ts';
import { encodeIec } from '../../vtd/invalidation.ts';
import type { VectorBinding, VmmDevice } from '../state.ts';

import { hex } from './kvm-irq.ts';

export { hex };
export const cost = (kind: 'trap' | 'vm-exit' | 'dm-round-trip' | 'hypercall', detail: string): Action => ({ kind: 'vmm-cost', cost: kind, detail });
export const note = (text: string): Action => ({ kind: 'vmm-note', note: text });

/** How a Xen variant treats the MASK_HANDLING flag at bind time. */
export interface BindRules {
  /**
   * `refuse`: a flag that differs from the device's other bound vectors is -EINVAL (the
   * thread's rule). `assume-any`: accepted, and Xen then assumes every vector of the device
   * has the flag if one has (the thread's "if one vector has XEN_DOMCTL_VMSI_X86_MASK_HANDLING,
   * then assume all of them will have it", without the check).
   */
  readonly maskHandlingConsistency: 'refuse' | 'assume-any';
}

/** QEMU `msi_gflags` plus the UNMASKED bit, for the trace: dest ID 7:0, RH 8, DM 9, delivery mode 14:12, trigger 15, UNMASKED 16. */
export function gflagsOf(address: bigint, data: number, unmasked: boolean): number {
  const a = Number(address & 0xffff_ffffn);
  const dest = (a >>> 12) & 0xff;
  const rh = (a >>> 3) & 1;
  const dm = (a >>> 2) & 1;
  const deliv = (data >>> 8) & 7;
  const trig = (data >>> 15) & 1;
  return (dest | (rh << 8) | (dm << 9) | (deliv << 12) | (trig << 15) | (unmasked ? 0x10000 : 0)) >>> 0;
}

/** `gvec 0x41 gflags 0x1001` (with `|MASK_HANDLING` when set). */
export function describeBind(address: bigint, data: number, unmasked: boolean, maskHandling: boolean): string {
  return `gvec ${hex(data & 0xff)} gflags ${hex(gflagsOf(address, data, unmasked))}${maskHandling ? '|MASK_HANDLING' : ''}`;
}

/** `vm1.vcpu0, vm1.vcpu1` */
export function vcpuNames(state: PlatformState, vcpus: readonly Vcpu[]): string {
  return vcpus.map((v) => `${state.domains[v.domain]?.name ?? v.domain}.vcpu${v.index}`).join(', ');
}

/** Whether `device`'s remapping unit posts interrupts (`iommu_intpost`: IR on and CAP.PI). */
export function intpost(state: PlatformState, device: string): boolean {
  const iommu = state.devices[device]?.iommu;
  const unit = iommu === undefined ? undefined : state.iommus[iommu];
  if (unit === undefined || (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRES)) === 0) return false;
  return ((unit.cap >> BigInt(CAP_LAYOUT.spec.fields.PI.lo)) & 1n) === 1n;
}

/**
 * The vCPU `pt_irq_create_bind` posts a deliverable message into: the single vCPU it names
 * (`hvm_girq_dest_2_vcpu_id`) or, for lowest priority, the one vector hashing picks
 * (`vector_hashing_dest`); undefined when it names several (fixed), when the IOMMU does not
 * post, or for a vector the policy does not post (below 16).
 */
export function postTarget(state: PlatformState, device: string, m: GuestMessage): Vcpu | undefined {
  if (!m.deliverable || m.vector < 16 || !intpost(state, device)) return undefined;
  if (m.targets.length === 1) return m.targets[0];
  return m.deliveryMode === 1 ? m.recipients[0] : undefined;
}

/**
 * Whether the device model handles `entry`'s mask bit (Xen leaves the physical mask alone):
 * its own MASK_HANDLING flag (`refuse`), or any bound vector's of the device (`assume-any`).
 */
export function maskHandledByDeviceModel(rules: BindRules, dev: VmmDevice, entry: number): boolean {
  if (rules.maskHandlingConsistency === 'assume-any') return dev.vectors.some((v) => v.bound !== undefined && v.maskHandling === true);
  return dev.vectors[entry]?.maskHandling === true;
}

/** The physical entry's Mask bit now (true when there is none). */
export function physicallyMasked(state: PlatformState, device: string, entry: number): boolean {
  return state.devices[device]?.msix?.table[entry]?.masked ?? true;
}

/**
 * Set the physical entry's mask (Xen `guest_mask_msi_irq`). Unmasking a bound vector whose
 * message one vCPU receives posts it first if it is not posted yet (`pi_update_irte`): the
 * entry is unmasked through its remapped IRTE and then the policy re-points it at a posted
 * one (an interrupt pending in between is delivered through the pirq). `physMasked` is the
 * entry's mask after the actions that precede these.
 */
export function physicalMask(state: PlatformState, device: string, entry: number, binding: VectorBinding, masked: boolean, physMasked: boolean): Action[] {
  if (binding.hostVector === undefined) return [];
  if (masked) return physMasked ? [] : [{ kind: 'program-msix', device, entry, masked: true }];
  const out: Action[] = physMasked ? [{ kind: 'program-msix', device, entry, masked: false }] : [];
  const dev = state.vmm?.devices[device];
  if (binding.bound === undefined || binding.posted === true || dev === undefined) return out;
  const m = guestMessage(state, dev.domain, binding.bound.address, binding.bound.data);
  const sole = postTarget(state, device, m);
  if (!m.deliverable || sole === undefined) return out;
  return [
    ...out,
    note(`pi_update_irte: ${device} entry ${entry} posted into ${vcpuNames(state, [sole])}'s PID (${m.targets.length === 1 ? 'hvm_girq_dest_2_vcpu_id' : 'vector_hashing_dest'})`),
    {
      kind: 'guest-msi',
      device,
      entry,
      destination: m.destination,
      destinationMode: m.logical ? 'logical' : 'physical',
      vector: m.vector,
      deliveryMode: m.deliveryMode,
      domain: dev.domain,
      bypass: true,
      ...(binding.irte === undefined ? {} : { irte: binding.irte.index }),
    },
    { kind: 'vmm-binding', device, entry, binding: { ...binding, posted: true } },
  ];
}

/** The binding without its guest side (after XEN_DOMCTL_unbind_pt_irq): the pirq's host vector and IRTE stay. */
function unboundOf(b: VectorBinding): VectorBinding {
  return { ...(b.hostVector === undefined ? {} : { hostVector: b.hostVector }), ...(b.irte === undefined ? {} : { irte: b.irte }), ...(b.gsi === undefined ? {} : { gsi: b.gsi }), posted: false };
}

/** Replace the physical entry's Mask in the host IRQ set-up's programming (the entry stays masked until Xen unmasks it). */
function keepMasked(actions: readonly Action[], device: string, entry: number): Action[] {
  return actions.map((a) => (a.kind === 'program-msix' && a.device === device && a.entry === entry ? { ...a, masked: true } : a));
}

/** Set the physical entry's mask unless it is already set (the IRTE rewrite of an un-posting leaves the entry as it was). */
function maskPhysically(state: PlatformState, device: string, entry: number): Action[] {
  return physicallyMasked(state, device, entry) ? [] : [{ kind: 'program-msix', device, entry, masked: true }];
}

/**
 * XEN_DOMCTL_bind_pt_irq for `device`'s entry `entry` with the guest message
 * `address`/`data` (see the module comment), on behalf of the device model of `domain`.
 * Refused (-EINVAL, a `vmm-note` and nothing else) for an entry the device lacks, a
 * MASK_HANDLING flag inconsistent with the device's other bound vectors under `refuse`, or a
 * host side that cannot be set up. Like Xen, it does not check the message against the
 * guest's vCPUs: one that names none (or cannot be delivered) is bound, granted nothing, and
 * dropped when the pirq fires ({@link deliverPirq}) — the device model can only lose its own
 * guest's interrupt (`vmsi_deliver` looks among that domain's vCPUs only).
 */
export function bindPirq(rules: BindRules, state: PlatformState, device: string, entry: number, address: bigint, data: number, maskHandling: boolean): Action[] {
  const dev = state.vmm?.devices[device];
  const binding = dev?.vectors[entry];
  const gflags = describeBind(address, data, !(dev?.guest.table[entry] === undefined || (dev.guest.table[entry]!.control & 1) === 1), maskHandling);
  const out: Action[] = [cost('hypercall', `XEN_DOMCTL_bind_pt_irq ${device} entry ${entry}: ${gflags}`)];
  if (dev === undefined || binding === undefined) return [...out, note(`XEN_DOMCTL_bind_pt_irq: -EINVAL (${device} has no MSI-X entry ${entry})`)];
  // Xen does not check gvec/gflags against the guest's vCPUs: a message naming none is bound and dropped at delivery (vmsi_deliver finds no target).
  const m = guestMessage(state, dev.domain, address, data);
  const inconsistent = dev.vectors.some((v, i) => i !== entry && v.bound !== undefined && (v.maskHandling === true) !== maskHandling);
  if (inconsistent && rules.maskHandlingConsistency === 'refuse') return [...out, note(`XEN_DOMCTL_bind_pt_irq: -EINVAL (MASK_HANDLING inconsistent across ${device}'s vectors)`)];
  if (inconsistent) out.push(note(`XEN_DOMCTL_bind_pt_irq: MASK_HANDLING differs across ${device}'s vectors — accepted; Xen assumes every vector of ${device} has it if one has`));

  let b = binding;
  let physMasked = physicallyMasked(state, device, entry);
  if (b.hostVector === undefined) {
    const pcpu = (m.deliverable ? m.recipients[0]?.pcpu : undefined) ?? 0;
    const setup = hostIrqSetup(state, device, entry, pcpu, b);
    if (setup === undefined) return [...out, note(`PHYSDEVOP_map_pirq: ${device} entry ${entry} cannot be set up (no remapping unit with IR on, no free host vector, or cpu${pcpu}'s APIC ID does not fit)`)];
    out.push(cost('hypercall', `PHYSDEVOP_map_pirq ${device} entry ${entry}`), note(`PHYSDEVOP_map_pirq (map_domain_pirq): ${device} entry ${entry} → host vector ${hex(setup.binding.hostVector!)} on cpu${pcpu}, physical entry masked`), ...keepMasked(setup.actions, device, entry));
    b = setup.binding;
    physMasked = true;
  } else if (b.posted === true) {
    out.push(note(`pi_update_irte(NULL): ${device} entry ${entry} back to its remapped IRTE before rebinding`), ...unpostActions(state, device, entry, b), ...maskPhysically(state, device, entry));
    physMasked = true;
  }
  if (m.deliverable) out.push(...m.recipients.map((v): Action => ({ kind: 'grant', grant: { requester: device, target: { kind: 'vcpu', vcpu: v.id }, vector: m.vector, deliveryModes: [0, 1] } })));
  const next: VectorBinding = { ...b, bound: { address, data }, maskHandling, posted: false };
  out.push({ kind: 'vmm-binding', device, entry, binding: next });
  const view = dev.deviceModel[entry];
  if (view !== undefined) out.push({ kind: 'vmm-dm-view', device, entry, view: { ...view, dirty: false } });
  out.push(note(`pt_irq_create_bind: ${device} entry ${entry} (pirq, host vector ${hex(next.hostVector!)}) bound to ${describeBind(address, data, false, maskHandling)} → ${m.deliverable ? vcpuNames(state, m.recipients) : `no vCPU (${m.why})`}`));

  // Who masks now: Xen (the guest's Mask bit as Xen tracked it) or the device model (its view, passed as UNMASKED).
  const byDm = maskHandling || (rules.maskHandlingConsistency === 'assume-any' && dev.vectors.some((v, i) => i !== entry && v.bound !== undefined && v.maskHandling === true));
  const guestEntry = dev.guest.table[entry];
  const masked = byDm ? (view?.masked ?? true) : guestEntry === undefined || (guestEntry.control & 1) === 1;
  out.push(...physicalMask(state, device, entry, next, masked, physMasked));
  return out;
}

/** XEN_DOMCTL_unbind_pt_irq (`pt_irq_destroy_bind`): the entry is left masked and un-posted. */
export function unbindPirq(state: PlatformState, device: string, entry: number): Action[] {
  const dev = state.vmm?.devices[device];
  const b = dev?.vectors[entry];
  const out: Action[] = [cost('hypercall', `XEN_DOMCTL_unbind_pt_irq ${device} entry ${entry}`)];
  if (dev === undefined || b?.bound === undefined) return [...out, note(`XEN_DOMCTL_unbind_pt_irq: -EINVAL (${device} entry ${entry} is not bound)`)];
  return [
    ...out,
    ...(b.posted === true ? unpostActions(state, device, entry, b) : []),
    ...maskPhysically(state, device, entry),
    { kind: 'vmm-binding', device, entry, binding: unboundOf(b) },
    note(`pt_irq_destroy_bind: ${device} entry ${entry} unbound, left masked${b.posted === true ? ' (pi_update_irte(NULL): no longer posted)' : ''}`),
  ];
}

/**
 * QEMU `msi_msix_disable` for `entry`: XEN_DOMCTL_unbind_pt_irq if bound, then
 * PHYSDEVOP_unmap_pirq (`unmap_domain_pirq` → `msi_free_irq`): the physical entry is masked,
 * its IRTE cleared, the host vector released and its grant withdrawn; the entry has no pirq
 * afterwards. Nothing when it has none.
 */
export function unmapPirq(state: PlatformState, device: string, entry: number): Action[] {
  const dev = state.vmm?.devices[device];
  const b = dev?.vectors[entry];
  if (dev === undefined || b?.hostVector === undefined) return [];
  const out: Action[] = [];
  if (b.bound !== undefined) out.push(cost('hypercall', `XEN_DOMCTL_unbind_pt_irq ${device} entry ${entry}`));
  out.push(cost('hypercall', `PHYSDEVOP_unmap_pirq ${device} entry ${entry}`));
  if (!physicallyMasked(state, device, entry)) out.push({ kind: 'program-msix', device, entry, masked: true });
  if (b.irte !== undefined) {
    out.push(
      { kind: 'write-irte', iommu: b.irte.iommu, index: b.irte.index, value: 0n },
      { kind: 'invalidate-iec', iommu: b.irte.iommu, descriptor: encodeIec({ granularity: 'index', indexMask: 0, interruptIndex: b.irte.index }) },
    );
  }
  out.push(
    { kind: 'revoke', requester: device, vector: b.hostVector },
    { kind: 'vmm-host-vector', hostVector: b.hostVector, target: undefined },
    { kind: 'vmm-binding', device, entry, binding: {} },
    note(`msi_msix_disable: ${device} entry ${entry}${b.bound === undefined ? '' : ' unbound and'} unmapped (pirq, host vector ${hex(b.hostVector)} released)`),
  );
  return out;
}

/**
 * Xen takes `device`'s pirq for `entry` on `pcpu` (not posted): inject the bound message
 * (see the module comment). Dropped with a note when the vector has no guest binding or
 * the bound message is not deliverable; a vector below 16 is refused by the virtual local
 * APIC (Receive Illegal Vector, SDM Vol. 3 §10.5.3).
 */
export function deliverPirq(state: PlatformState, device: string, entry: number, pcpu: number, hostVector: number): Action[] {
  const dev = state.vmm?.devices[device];
  const bound = dev?.vectors[entry]?.bound;
  const exit: Action[] = runningVcpu(state.vcpus, pcpu) === undefined ? [] : [cost('vm-exit', `external interrupt ${hex(hostVector)} on cpu${pcpu} (pirq of ${device} entry ${entry})`)];
  if (dev === undefined || bound === undefined) return [...exit, note(`pirq of ${device} entry ${entry} (host vector ${hex(hostVector)}) has no guest binding: dropped`)];
  const m = guestMessage(state, dev.domain, bound.address, bound.data);
  if (!m.deliverable) return [...exit, note(`vmsi_deliver_pirq: ${device} entry ${entry}'s bound message cannot be delivered (${m.why}): dropped`)];
  if (m.vector < 16) return [...exit, note(`vmsi_deliver_pirq: vector ${hex(m.vector)} < 16 is illegal: the virtual local APIC refuses it`)];
  return [
    ...exit,
    note(`hvm_dirq_assist → vmsi_deliver_pirq: ${device} entry ${entry} (host vector ${hex(hostVector)} on cpu${pcpu}) → vector ${hex(m.vector)} into ${vcpuNames(state, m.recipients)}`),
    ...m.recipients.flatMap((v): Action[] => [
      { kind: 'inject-interrupt', vcpu: v.id, vector: m.vector, device },
      ...(v.run === 'blocked' ? [{ kind: 'vcpu-set', vcpu: v.id, run: 'runnable', pcpu: v.pcpu } as const] : []),
    ]),
  ];
}
