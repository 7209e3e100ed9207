/**
 * A guest's MSI request that names several of its vCPUs, as KVM and Xen answer it.
 *
 * A posted IRTE has one PDA, so it can carry a message to one vCPU only. KVM posts when
 * the request is single-vCPU (`kvm_intr_is_single_vcpu`, arch/x86/kvm/lapic.c: a physical
 * destination, or a lowest-priority one reduced to one vCPU by vector hashing,
 * `kvm_vector_to_index`), and otherwise leaves the IRTE remapped to the host vector of
 * VFIO's handler, which signals the irqfd; KVM then injects the guest's MSI in software
 * into every vCPU its destination names (`irqfd_inject` → `kvm_set_msi` →
 * `kvm_irq_delivery_to_apic`; arch/x86/kvm/vmx/posted_intr.c `vmx_pi_update_irte`: "make
 * sure the IRTE is in remapped mode if we don't handle it in posted mode"). Xen does the
 * same (xen/drivers/passthrough/x86/hvm.c `pt_irq_create_bind`: `hvm_girq_dest_2_vcpu_id`,
 * `vector_hashing_dest`; a non-posted pirq is delivered by `vmsi_deliver_pirq`).
 *
 * The guest's destination is read by src/platform/guest-apic.ts. A unit that cannot post (IR
 * off, or CAP.PI clear: Linux sets IRQ_POSTING_CAP only with both) gets software delivery
 * for every request, single-vCPU ones included, as KVM falls back when `vmx_pi_update_irte`
 * finds no posting capability; with IR off the host message is compatibility format.
 */
import type { Action, ActionOf } from '../platform/actions.ts';
import type { PlatformState, Vcpu } from '../platform/state.ts';
import { guestTargets, recipients, vectorHashingTarget } from '../platform/guest-apic.ts';
import { hostDelivery } from './host-delivery.ts';
import { admitGuestMsi, intendRoute, postingCapable, type AdmittedRequest, type SetupChecks } from './common.ts';
import type { AmdPolicyRules } from './amd.ts';
import { policyVendor, vendorOf } from './vendor.ts';

/** How a policy resolves and serves a guest MSI request (its bugs included). */
export interface GuestMsiRules {
  readonly checks: SetupChecks;
  /** Resolve the guest's destination among every VM's vCPUs, not only the requester's (bug: kvm-broken-pda-any-vm). */
  readonly anyVm?: boolean;
  /** Post a fixed request that names several vCPUs into the first of them instead of delivering it in software (bug: kvm-broken-post-multicast). */
  readonly postMulticast?: boolean;
  /** What the policy does on an AMD-Vi platform (src/policy/amd.ts; ignored on VT-d). */
  readonly amd?: AmdPolicyRules;
}

/** Host vectors the hypervisor takes for software-routed guest MSIs: allocated downwards from here (below Linux's system vectors at 0xec). */
export const FIRST_ROUTE_VECTOR = 0xe0;
/** The lowest host vector the route allocator hands out (Linux FIRST_EXTERNAL_VECTOR 0x20 plus the legacy ISA range). */
export const LAST_ROUTE_VECTOR = 0x30;

export { guestTargets, vectorHashingTarget };

/**
 * Answer a guest's MSI-X write: a posted IRTE when the request reaches one vCPU (a single
 * target, or lowest priority reduced by vector hashing), else a remapped IRTE to a host
 * vector with a software route (see the module comment). Either way the IRTE's meaning is
 * recorded (`intend-route`) for P3. Nothing is set up when the request is not admitted
 * ({@link admitGuestMsi}), names no vCPU of the domain, or no host vector is free.
 */
export function guestMsiSetup(state: PlatformState, req: ActionOf<'guest-msi'>, rules: GuestMsiRules): Action[] {
  const admitted = admitGuestMsi(state, req, rules.checks);
  if (admitted === undefined) return [];
  const logical = req.destinationMode === 'logical';
  const deliveryMode = req.deliveryMode ?? 0;
  // The any-VM bug resolves the destination the way a global lookup would: its first match.
  const targets = rules.anyVm ? guestTargets(state, 'any', req.destination, logical).slice(0, 1) : guestTargets(state, admitted.requester, req.destination, logical);
  if (targets.length === 0) return [];
  const oneOf = deliveryMode === 1;
  const amd = rules.amd ?? {};
  const meant = intendRoute(state, req, admitted, targets, amd);
  // Without posting (IR off or no CAP.PI; on AMD no GAEn/GAMEn, or a policy without AVIC) everything
  // is delivered in software, as KVM does when the host lacks IRQ_POSTING_CAP: the IRTE (or, with
  // IR off, the message) names a host vector.
  const canPost = postingCapable(state, admitted.iommu) && (vendorOf(state) === 'vtd' || amd.avic !== false);
  const sole = !canPost ? undefined : targets.length === 1 ? targets[0] : oneOf ? vectorHashingTarget(targets, req.vector) : rules.postMulticast ? targets[0] : undefined;
  if (sole !== undefined) {
    const posted = policyVendor(state).posted(state, req, admitted, sole, amd);
    return posted.length === 0 ? [] : [meant, ...posted];
  }
  if (req.bypass === true) return [];
  const fallback = softwareDeliverySetup(state, req, admitted, targets, amd);
  return fallback.length === 0 ? [] : [meant, ...fallback];
}

/**
 * The software fallback: the host's delivery of the entry to a free host vector on the pCPU
 * the first target last ran on (the host IRQ's affinity; src/policy/host-delivery.ts), the
 * software route for that vector, and grants for each vCPU the guest named (→ the guest vector).
 */
function softwareDeliverySetup(state: PlatformState, req: ActionOf<'guest-msi'>, admitted: AdmittedRequest, targets: readonly Vcpu[], amd: AmdPolicyRules): Action[] {
  const routes = state.hypervisor.softwareRoutes ?? {};
  let hostVector = FIRST_ROUTE_VECTOR;
  while (hostVector >= LAST_ROUTE_VECTOR && routes[hostVector] !== undefined) hostVector--;
  if (hostVector < LAST_ROUTE_VECTOR) return [];
  const { requester } = admitted;
  const pcpu = targets[0]!.pcpu;
  const delivery = hostDelivery(state, req.device, req.entry, pcpu, hostVector, requester, undefined, amd);
  if (delivery === undefined) return [];
  const route: Action = { kind: 'software-route', hostVector, route: { device: req.device, domain: targets[0]!.domain, destination: req.destination >>> 0, logical: req.destinationMode === 'logical', deliveryMode: req.deliveryMode ?? 0, vector: req.vector } };
  const guestGrants = delivery.requesters.flatMap((key) => targets.map((v): Action => ({ kind: 'grant', grant: { requester: key, target: { kind: 'vcpu', vcpu: v.id }, vector: req.vector, deliveryModes: [0, 1] } })));
  const msix = delivery.actions.filter((a) => a.kind === 'program-msix');
  return [route, ...delivery.actions.filter((a) => a.kind !== 'program-msix'), ...guestGrants, ...msix];
}

/**
 * The hypervisor takes host vector `r.vector`: if it is a software route, inject the
 * guest's MSI into the vCPUs its destination names now (one of them for lowest priority)
 * and wake those that are blocked (KVM `kvm_vcpu_kick`); undefined when the vector is not
 * routed (the policy handles it itself).
 */
export function injectRouted(state: PlatformState, r: ActionOf<'host-interrupt'>): Action[] | undefined {
  const route = state.hypervisor.softwareRoutes?.[r.vector];
  if (route === undefined) return undefined;
  const targets = recipients(guestTargets(state, route.domain, route.destination, route.logical), route.deliveryMode, route.vector);
  return targets.flatMap((v): Action[] => [
    { kind: 'inject-interrupt', vcpu: v.id, vector: route.vector, device: route.device },
    ...(v.run === 'blocked' ? [{ kind: 'vcpu-set', vcpu: v.id, run: 'runnable', pcpu: v.pcpu } as const] : []),
  ]);
}
