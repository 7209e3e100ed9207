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
import { encodeIrte, irteDestinationField } from '../vtd/irte.ts';
import { encodeIec } from '../vtd/invalidation.ts';
import { composeRemappableMsi } from '../vtd/remappable-msi.ts';
import { latchedEime } from '../vtd/interrupt-remapping.ts';
import { GLOBAL_STATUS_BITS } from '../vtd/registers.ts';
import { composeCompatibilityMsi } from '../x86/msi.ts';
import { acceptedRequesters, sourceValidationOf } from '../policy/common.ts';
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
  const fn = state.devices[device];
  const iommu = fn?.iommu;
  const unit = iommu === undefined ? undefined : state.iommus[iommu];
  const apicId = state.cpus[pcpu]?.apicId;
  const hostVector = previous.hostVector ?? freeHostVector(state);
  if (fn === undefined || apicId === undefined || hostVector === undefined) return undefined;
  const owner = state.intent.owners[device];
  if (iommu === undefined || unit === undefined || (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRES)) === 0) {
    // No interrupt remapping: the host writes a compatibility-format message naming the pCPU (Linux irq_msi_compose_msg).
    if (apicId > 0xff) return undefined;
    const msg = composeCompatibilityMsi({ destination: apicId, vector: hostVector });
    return {
      actions: [
        { kind: 'vmm-host-vector', hostVector, target: { device, entry } },
        { kind: 'grant', grant: { requester: device, target: { kind: 'pcpu', apicId }, vector: hostVector, deliveryModes: [0] } },
        { kind: 'program-msix', device, entry, address: msg.address, data: msg.data, masked: false },
      ],
      binding: { ...previous, hostVector, hostPcpu: pcpu, posted: false },
    };
  }
  const eime = latchedEime(unit.regs.irtaLatched);
  if (apicId > (eime ? 0xffff_ffff : 0xff)) return undefined;
  const index = previous.irte?.index ?? state.hypervisor.nextIrte[iommu] ?? 0;
  const source = sourceValidationOf(state, fn);
  const irte = encodeIrte({
    mode: 'remapped',
    present: true,
    fpd: false,
    avail: 0,
    destinationModeLogical: false,
    redirectionHint: false,
    triggerLevel: false,
    deliveryMode: 0,
    vector: hostVector,
    destination: irteDestinationField(apicId, eime),
    sid: source.sid,
    sq: source.sq,
    svt: source.svt,
  });
  const msi = composeRemappableMsi({ handle: index, shv: true, subhandle: 0 });
  const actions: Action[] = [
    ...(previous.irte === undefined ? [{ kind: 'irte-allocated', iommu, index } as const] : []),
    { kind: 'write-irte', iommu, index, value: irte },
    { kind: 'invalidate-iec', iommu, descriptor: encodeIec({ granularity: 'index', indexMask: 0, interruptIndex: index }) },
    { kind: 'vmm-host-vector', hostVector, target: { device, entry } },
    ...acceptedRequesters(state, device, owner, source).map((key): Action => ({ kind: 'grant', grant: { requester: key, target: { kind: 'pcpu', apicId }, vector: hostVector, deliveryModes: [0] } })),
    { kind: 'program-msix', device, entry, address: msi.address, data: msi.data, masked: false },
  ];
  return { actions, binding: { ...previous, hostVector, hostPcpu: pcpu, irte: { iommu, index }, posted: false } };
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
