/**
 * The host side every design shares: the host's IRQ domain sets up a physical MSI-X entry of
 * an assigned function for the VMM (Linux: VFIO_DEVICE_SET_IRQS → vfio_msi_set_vector_signal
 * → pci_alloc_irq_vectors / msi_domain_alloc → intel_irq_remapping_alloc → the IRTE;
 * Xen: PHYSDEVOP_map_pirq → map_domain_pirq → msi_msg_to_remap_entry). The IRTE is
 * remapped to a host vector on one pCPU with the function's source validation (with IR off:
 * a compatibility-format message naming the pCPU); the
 * physical entry gets the remappable handle; the host vector is the VMM's
 * (`vmm-host-vector`); the grant covers that host delivery. Posting is asked of the
 * hypervisor policy separately (`guest-msi` with `bypass`), as KVM's IRQ bypass and Xen's
 * `pi_update_irte` do after the fact.
 */
import type { Action } from '../platform/actions.ts';
import type { PlatformState } from '../platform/state.ts';
import { hostDelivery } from '../policy/host-delivery.ts';
import type { VectorBinding } from './state.ts';

/** Host vectors the VMM layer allocates for assigned functions' entries: from here downwards (below the policy fallback's range). */
export const FIRST_VMM_HOST_VECTOR = 0xd0;
export const LAST_VMM_HOST_VECTOR = 0x30;

/** The lowest free host vector from {@link FIRST_VMM_HOST_VECTOR} down (free of VMM and policy routes), or undefined. */
export function freeHostVector(state: PlatformState): number | undefined {
  for (let v = FIRST_VMM_HOST_VECTOR; v >= LAST_VMM_HOST_VECTOR; v--) {
    if (state.vmm?.hostVectors[v] === undefined && state.hypervisor.softwareRoutes?.[v] === undefined) return v;
  }
  return undefined;
}

/**
 * The actions that set up `device`'s physical entry `entry` for the VMM, and the binding
 * they leave (host vector, IRTE). Undefined when it cannot be done: the function is behind no
 * remapping unit with IR on, no host vector is free, or `pcpu` has no APIC ID the IRTE can
 * hold. The physical entry is programmed unmasked; `entry`'s other binding fields are kept.
 * @param pcpu the pCPU the host IRQ is affine to
 */
export function hostIrqSetup(state: PlatformState, device: string, entry: number, pcpu: number, previous: VectorBinding): { actions: Action[]; binding: VectorBinding } | undefined {
  const hostVector = previous.hostVector ?? freeHostVector(state);
  if (hostVector === undefined) return undefined;
  const delivery = hostDelivery(state, device, entry, pcpu, hostVector, state.intent.owners[device], previous.irte?.index);
  if (delivery === undefined) return undefined;
  return {
    actions: [{ kind: 'vmm-host-vector', hostVector, target: { device, entry } }, ...delivery.actions],
    binding: { ...previous, hostVector, hostPcpu: pcpu, ...(delivery.irte === undefined ? {} : { irte: delivery.irte }), posted: false },
  };
}

/**
 * Undo a posting: rewrite `device`'s entry's IRTE in place as the host's remapped one again
 * (KVM `irq_set_vcpu_affinity(host_irq, NULL)` → `intel_ir_set_vcpu_affinity` →
 * `modify_irte`; Xen `pi_update_irte(NULL, …)`), and invalidate its IEC entry. The physical
 * entry keeps its handle. Nothing for a binding without an IRTE.
 */
export function unpostActions(state: PlatformState, device: string, entry: number, binding: VectorBinding): Action[] {
  if (binding.irte === undefined || binding.hostVector === undefined) return [];
  const setup = hostIrqSetup(state, device, entry, binding.hostPcpu ?? 0, binding);
  return setup === undefined ? [] : setup.actions.filter((a) => a.kind === 'write-irte' || a.kind === 'invalidate-iec');
}
