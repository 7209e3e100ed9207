/**
 * The policy side of the vendor seam (src/platform/vendor.ts): the one table that says what a
 * policy writes for each vendor's remapping hardware. Everything else a policy does (admission,
 * destination lookup, software routes, scheduling bookkeeping) is vendor-neutral; where the
 * vendors differ — is remapping on, can the unit post, which IRTE slot a request gets, the
 * posted entry, the host's remapped delivery — the policy calls through `POLICY_VENDOR`:
 *
 * - `vtd`: src/policy/common.ts and host-delivery.ts (VT-d IRTEs, IEC invalidation, remappable
 *   handles; posting = CAP.PI with IR on);
 * - `amdvi`: src/policy/amd.ts (per-device tables, DTE IntTabRootPtr, 128/32-bit IRTEs,
 *   INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT, MSI data = index; posting = AVIC, GAEn + GAMEn).
 *
 * Scheduling differs too (a VT-d vCPU has a PID, an AMD one a backing page with IRTEs naming
 * it): src/policy/kvm.ts picks its load/put/block per vendor from this module's `vendorOf`.
 */
import type { Action, ActionOf } from '../platform/actions.ts';
import type { PlatformState, PciFunction, Vcpu } from '../platform/state.ts';
import { vendorOf, type Vendor } from '../platform/vendor.ts';
import type { AdmittedRequest } from './common.ts';
import { postedIrteSetup, vtdPostingCapable, vtdRemappingOn } from './common.ts';
import { vtdRemappedHostDelivery, type HostDelivery } from './host-delivery.ts';
import { amdAcceptedRequesters, amdHostDelivery, amdIrteSlot, amdPostedSetup, amdPostingCapable, amdRemappingOn, type AmdPolicyRules } from './amd.ts';

export { vendorOf, type Vendor };

/** What each vendor supplies to the policies. */
export interface PolicyVendorOps {
  /** Whether unit `iommu` remaps interrupts (VT-d GSTS.IRES; AMD IommuEn with a device table and command buffer). */
  readonly remappingOn: (state: PlatformState, iommu: number) => boolean;
  /** Whether unit `iommu` can post into a vCPU (VT-d CAP.PI; AMD GAEn and GAMEn = 001). */
  readonly postingCapable: (state: PlatformState, iommu: number) => boolean;
  /** The IRTE a guest request is recorded under (`intend-route`): VT-d unit and index; AMD table key and index. */
  readonly routeSlot: (state: PlatformState, req: ActionOf<'guest-msi'>, admitted: AdmittedRequest, amd: AmdPolicyRules) => { iommu: number; index: number };
  /** The posted entry for an admitted request into `vcpu`. */
  readonly posted: (state: PlatformState, req: ActionOf<'guest-msi'>, admitted: AdmittedRequest, vcpu: Vcpu, amd: AmdPolicyRules) => Action[];
  /** The host's remapped delivery (IR on) of `fn`'s entry to `hostVector` on APIC ID `apicId`. */
  readonly remappedHostDelivery: (state: PlatformState, fn: PciFunction, entry: number, iommu: number, apicId: number, hostVector: number, owner: number | undefined, reuse: number | undefined, amd: AmdPolicyRules) => HostDelivery | undefined;
}

export const POLICY_VENDOR: { readonly [V in Vendor]: PolicyVendorOps } = {
  vtd: {
    remappingOn: (state, iommu) => vtdRemappingOn(state, iommu),
    postingCapable: (state, iommu) => vtdPostingCapable(state, iommu),
    routeSlot: (state, req, admitted) => ({ iommu: admitted.iommu, index: req.irte ?? state.hypervisor.nextIrte[admitted.iommu] ?? 0 }),
    posted: (state, req, admitted, vcpu) => postedIrteSetup(state, req, admitted, vcpu),
    remappedHostDelivery: (state, fn, entry, iommu, apicId, hostVector, owner, reuse) => vtdRemappedHostDelivery(state, fn, entry, iommu, apicId, hostVector, owner, reuse),
  },
  amdvi: {
    remappingOn: (state, iommu) => amdRemappingOn(state, iommu),
    postingCapable: (state, iommu) => amdPostingCapable(state, iommu),
    routeSlot: (state, req, admitted, amd) => {
      const slot = amdIrteSlot(state, admitted.fn, req.entry, admitted.iommu, amd);
      return slot === undefined ? { iommu: admitted.iommu, index: -1 } : { iommu: slot.key, index: slot.index };
    },
    posted: (state, req, admitted, vcpu, amd) => amdPostedSetup(state, req, admitted.fn, admitted.iommu, admitted.requester, vcpu, amd),
    remappedHostDelivery: (state, fn, entry, iommu, apicId, hostVector, owner, reuse, amd) => {
      const d = amdHostDelivery(state, fn, entry, iommu, apicId, hostVector, reuse, amd);
      if (d === undefined) return undefined;
      const requesters = amdAcceptedRequesters(state, fn, owner);
      const grants = requesters.map((key): Action => ({ kind: 'grant', grant: { requester: key, target: { kind: 'pcpu', apicId }, vector: hostVector, deliveryModes: [0] } }));
      const msix = d.actions.filter((a) => a.kind === 'program-msix');
      return { actions: [...d.actions.filter((a) => a.kind !== 'program-msix'), ...grants, ...msix], irte: { iommu: d.key, index: d.index }, apicId, requesters };
    },
  },
};

/** The platform's entry of {@link POLICY_VENDOR}. */
export function policyVendor(state: PlatformState): PolicyVendorOps {
  return POLICY_VENDOR[vendorOf(state)];
}
