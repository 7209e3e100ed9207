/**
 * A guest's virtual APICs as a message's destination reaches them: the vCPUs of a domain a
 * destination names, and the one a lowest-priority message goes to.
 *
 * The guest's destination is read in the guest's APIC ID space with the platform's APIC
 * mode and logical model (docs/fidelity.md): x2APIC logical IDs derived from the guest's
 * x2APIC IDs (`kvm_apic_calc_x2apic_ldr`), xAPIC flat or cluster as the platform's.
 */
import type { PlatformState, Vcpu } from './state.ts';
import { vcpuList } from './vcpu-table.ts';
import { apicAccepts } from '../x86/apic.ts';

/**
 * The vCPUs of `domain` (every domain when `domain` is `'any'`) whose virtual APIC accepts
 * `destination`, in guest APIC ID order.
 */
export function guestTargets(state: PlatformState, domain: number | undefined | 'any', destination: number, logical: boolean): Vcpu[] {
  const cluster = state.interrupts.xapicLogicalModel === 'cluster';
  return vcpuList(state.vcpus)
    .filter((v) => (domain === 'any' || v.domain === domain) && apicAccepts(state.interrupts.apicMode, logical, destination >>> 0, v.apicId, cluster))
    .sort((a, b) => a.apicId - b.apicId || a.id - b.id);
}

/**
 * The one vCPU a lowest-priority message goes to under vector hashing (KVM
 * `kvm_vector_to_index`, Xen `vector_hashing_dest`): the (vector mod n)-th of the n
 * targets in APIC ID order.
 */
export function vectorHashingTarget(targets: readonly Vcpu[], vector: number): Vcpu | undefined {
  return targets.length === 0 ? undefined : targets[vector % targets.length];
}

/** The vCPUs a message goes to: one of them for lowest priority (vector hashing), all for fixed. */
export function recipients(targets: readonly Vcpu[], deliveryMode: number, vector: number): Vcpu[] {
  if (deliveryMode !== 1) return [...targets];
  const one = vectorHashingTarget(targets, vector);
  return one === undefined ? [] : [one];
}

