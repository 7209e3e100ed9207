/**
 * The host's own delivery of a function's MSI-X entry to a host vector on one pCPU — what the
 * host IRQ domain programs when the hypervisor takes an interrupt itself (Linux
 * `intel_irq_remapping_alloc` / `irq_msi_compose_msg`; Xen `msi_msg_to_remap_entry`). Shared
 * by the policies' software delivery (src/policy/guest-msi.ts) and the VMM layer's host IRQ
 * setup (src/vmm/host-irq.ts).
 *
 * With interrupt remapping on: an IRTE remapped to `hostVector`, fixed, physical, to the pCPU,
 * with the function's source validation (Linux `set_msi_sid`), its IEC entry invalidated, the
 * physical entry given the remappable handle, and grants for the host delivery to every
 * function the IRTE cannot tell apart from this one. With IR off: a compatibility-format
 * message naming the pCPU, and the grant for the function.
 */
import type { Action } from '../platform/actions.ts';
import type { PlatformState } from '../platform/state.ts';
import { encodeIrte, irteDestinationField } from '../vtd/irte.ts';
import { encodeIec } from '../vtd/invalidation.ts';
import { composeRemappableMsi, MAX_INTERRUPT_HANDLE } from '../vtd/remappable-msi.ts';
import { latchedEime } from '../vtd/interrupt-remapping.ts';
import { composeCompatibilityMsi } from '../x86/msi.ts';
import type { PciFunction } from '../platform/state.ts';
import type { AmdPolicyRules } from './amd.ts';
import { acceptedRequesters, remappingOn, sourceValidationOf } from './common.ts';
import { policyVendor } from './vendor.ts';

/**
 * The IRTE (128 bits) of the host's own delivery: remapped, present, fixed, edge, physical
 * destination `apicId` (VT-d §9.10 DST: bits 15:8 with EIME = 0, all 32 bits with EIME = 1, as
 * unit `iommu` latched it), vector `hostVector`, source validation `source`. Undefined when
 * the APIC ID does not fit the unit's destination format.
 */
export function hostRemappedIrte(state: PlatformState, iommu: number, apicId: number, hostVector: number, source: { sid: number; sq: number; svt: number }): bigint | undefined {
  const unit = state.iommus[iommu];
  if (unit === undefined) return undefined;
  const eime = latchedEime(unit.regs.irtaLatched);
  if (apicId > (eime ? 0xffff_ffff : 0xff)) return undefined;
  return encodeIrte({
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
}

/** The actions, the IRTE used (undefined with IR off), the pCPU's APIC ID and the functions granted. */
export interface HostDelivery {
  readonly actions: Action[];
  readonly irte: { readonly iommu: number; readonly index: number } | undefined;
  readonly apicId: number;
  readonly requesters: readonly string[];
}

/**
 * See the module comment. `reuse` is an IRTE index the host already holds for the entry
 * (rewritten in place, not allocated). Undefined when it cannot be done: no such function or
 * pCPU, or an APIC ID the message format cannot carry (above 0xFF with IR off or EIME = 0).
 * @param owner the domain the grants are for (the function's owner)
 */
export function hostDelivery(state: PlatformState, device: string, entry: number, pcpu: number, hostVector: number, owner: number | undefined, reuse?: number, amd: AmdPolicyRules = {}): HostDelivery | undefined {
  const fn = state.devices[device];
  const apicId = state.cpus[pcpu]?.apicId;
  if (fn === undefined || apicId === undefined) return undefined;
  const iommu = fn.iommu;
  if (iommu === undefined || !remappingOn(state, iommu)) {
    if (apicId > 0xff) return undefined;
    const msg = composeCompatibilityMsi({ destination: apicId, vector: hostVector });
    return { actions: [hostGrant(device, apicId, hostVector), { kind: 'program-msix', device, entry, address: msg.address, data: msg.data, masked: false }], irte: undefined, apicId, requesters: [device] };
  }
  // The vendor's remapped delivery (src/policy/vendor.ts): VT-d below, AMD-Vi src/policy/amd.ts.
  return policyVendor(state).remappedHostDelivery(state, fn, entry, iommu, apicId, hostVector, owner, reuse, amd);
}

function hostGrant(key: string, apicId: number, hostVector: number): Action {
  return { kind: 'grant', grant: { requester: key, target: { kind: 'pcpu', apicId }, vector: hostVector, deliveryModes: [0] } };
}

/** The VT-d remapped host delivery (IR on at unit `iommu`): see the module comment. */
export function vtdRemappedHostDelivery(state: PlatformState, fn: PciFunction, entry: number, iommu: number, apicId: number, hostVector: number, owner: number | undefined, reuse?: number): HostDelivery | undefined {
  const device = fn.key;
  if (state.iommus[iommu] === undefined) return undefined;
  const index = reuse ?? state.hypervisor.nextIrte[iommu] ?? 0;
  // A full table (no 16-bit handle left): no remapped delivery, as Linux's alloc_irte fails.
  if (index > MAX_INTERRUPT_HANDLE) return undefined;
  const source = sourceValidationOf(state, fn);
  const irte = hostRemappedIrte(state, iommu, apicId, hostVector, source);
  if (irte === undefined) return undefined;
  const msi = composeRemappableMsi({ handle: index, shv: true, subhandle: 0 });
  const requesters = acceptedRequesters(state, device, owner, source);
  return {
    actions: [
      ...(reuse === undefined ? [{ kind: 'irte-allocated', iommu, index } as const] : []),
      { kind: 'write-irte', iommu, index, value: irte },
      { kind: 'invalidate-iec', iommu, descriptor: encodeIec({ granularity: 'index', indexMask: 0, interruptIndex: index }) },
      ...requesters.map((k) => hostGrant(k, apicId, hostVector)),
      { kind: 'program-msix', device, entry, address: msi.address, data: msi.data, masked: false },
    ],
    irte: { iommu, index },
    apicId,
    requesters,
  };
}
