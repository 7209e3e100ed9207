/**
 * `ims-hypercall`: a device with an IMS store (Interrupt Message Store: N slots of
 * address/data/control in a device-specific layout, written by the guest driver directly —
 * no trap) gets its working address/data pairs from the hypervisor with a hypercall —
 * seed thread 001, "Re: [PATCH v4 06/17] PCI: add SIOV and IMS capability detection"
 * (Jason Gunthorpe, 6 Nov 2020): "On (kvm) virtualization the addr/data pair the IRQ domain
 * hands out doesn't work. It is some fake thing … Remeber IMS doesn't say how to program the
 * addr/data pair! Every device is unique! … The only sane way to implement this generically is
 * for the VMM to provide a hypercall to obtain a real *working* addr/data pair(s) and then have
 * the platform hand those out from pci_subdevice_msi_create_irq_domain()"; "Kevin said
 * hyper-v is already working this way, even for MSI/MSI-X" (a Linux guest's
 * drivers/pci/controller/pci-hyperv.c `hv_compose_msi_msg` asks the host for the message).
 * Issue 12 item 1.
 *
 * The model:
 *
 * - **Everything else is qemu-kvm's** (./qemu-kvm.ts): the device's MSI-X (if the guest uses
 *   it), traps of the MSI-X pages, the device model, the PBA.
 * - **The IMS store** is device registers on a page without MSI-X structures (`direct`:
 *   mapped into the guest, never trapped, so the guest's stores reach the device as a
 *   `device-register-write` by the guest, as qemu-kvm already does). Its layout is the
 *   device's own and the hypervisor does not know it (the thread's point); the scenarios use
 *   16 bytes per slot (address 64-bit, data 32-bit, control 32-bit). The device raising slot
 *   k is the DMA write of the pair in slot k: the scenario's `msi` step with that pair (the
 *   platform's `msi-write`; P1 judges it, P7 does not — no guest MSI-X entry asks for it).
 * - **The hypercall** `get-msi-pair {device, slot, vcpu, vector}` (the `hypercall` request with op `get-msi-pair`,
 *   a `hypercall` cost): the hypervisor checks that the calling domain owns the device (as
 *   VFIO would: the device fd is the guest's), allocates an IRTE on the device's unit bound to
 *   the device's source ID (SID/SQ/SVT of Linux `set_msi_sid`, src/policy/common.ts
 *   `sourceValidationOf`) — posted into the vCPU when the unit posts (IR on and CAP.PI, as
 *   `vmx_pi_update_irte` requires), else remapped to a free host vector on the pCPU the vCPU
 *   last ran on with a software route that injects the guest vector (the policy's fallback:
 *   the hypervisor's `software-route`, src/policy/guest-msi.ts `injectRouted`) — records the
 *   grants and the IRTE's meaning (`intend-route`, for P3), and returns the remappable pair
 *   (handle = the IRTE index, SHV = 1, subhandle 0). The answer is a `vmm` trace line naming
 *   the pair (`get-msi-pair … → address 0x… data 0x…`); the IRTE in memory is its state.
 *   With IR off there is no handle to give: the hypercall fails (a compatibility-format pair
 *   could not be bound to the device; what such pairs do is shown by the fake-pair case).
 * - **A guest that writes its own pair** into a slot (a compatibility-format message, the
 *   "fake thing" of the thread) gets nothing with IR on: the unit blocks compatibility format
 *   with fault 0x25 (EIME=1, or CFI clear) — and with IR off it is delivered as written, a
 *   forged interrupt (P1).
 *
 * Broken variants:
 * - `ims-hypercall-broken-unbound` — the IRTE is written without source validation (SVT=0):
 *   the handle is anyone's, and another guest's device sending it reaches this guest's vCPU
 *   (P1: a posting into another domain).
 * - `ims-hypercall-broken-no-owner-check` — the hypercall serves a device the caller does not
 *   own (the XSA-237 class): the caller gets a pair that steers another guest's device into
 *   its vCPU (P1).
 */
import type { Action, ActionOf } from '../../platform/actions.ts';
import type { PlatformState } from '../../platform/state.ts';
import type { VmmDesign } from '../design.ts';
import { vcpuAt } from '../../platform/vcpu-table.ts';
import { encodeIrte } from '../../vtd/irte.ts';
import { encodeIec } from '../../vtd/invalidation.ts';
import { composeRemappableMsi, MAX_INTERRUPT_HANDLE } from '../../vtd/remappable-msi.ts';
import { acceptedRequesters, FIRST_DEVICE_VECTOR, postingCapable, remappingOn, sourceValidationOf } from '../../policy/common.ts';
import { freeHostVector } from '../host-irq.ts';
import { hostRemappedIrte } from '../../policy/host-delivery.ts';
import { qemuKvm } from './qemu-kvm.ts';
import { cost, hex, note } from './kvm-irq.ts';

/** What a variant of the hypercall gets wrong. */
interface ImsRules {
  /** Check that the calling domain owns the device. */
  readonly ownerCheck: boolean;
  /** Bind the IRTE to the device's source ID (SVT=1 from set_msi_sid); false: SVT=0. */
  readonly bind: boolean;
}

/**
 * The answer to `get-msi-pair`: see the module comment. Refusals are a `vmm` line saying why
 * (and the hypercall's cost): no such vCPU of the caller, an exception vector, not the caller's
 * device (with the owner check), a device behind no unit or with IR off, no free host vector.
 */
function getMsiPair(state: PlatformState, request: ActionOf<'hypercall'>, rules: ImsRules): Action[] {
  if (request.op.op !== 'get-msi-pair') return [note(`hypercall ${request.op.op} for ${request.device} refused: the ims-hypercall designs offer get-msi-pair only`)];
  const r = { domain: request.domain, device: request.device, ...request.op };
  const caller = state.domains[r.domain]?.name ?? `domain ${r.domain}`;
  const target = vcpuAt(state.vcpus, r.vcpu);
  const vcpuName = target === undefined ? `vCPU ${r.vcpu}` : `${state.domains[target.domain]?.name ?? target.domain}.vcpu${target.index}`;
  const head = cost('hypercall', `get-msi-pair by ${caller}: ${r.device} slot ${r.slot} → ${vcpuName}, vector ${hex(r.vector)}`);
  const refuse = (why: string): Action[] => [head, note(`get-msi-pair ${r.device} slot ${r.slot}: refused — ${why}`)];
  const fn = state.devices[r.device];
  if (fn === undefined) return refuse(`no function ${r.device}`);
  const vcpu = target;
  if (vcpu === undefined || vcpu.domain !== r.domain) return refuse(`${vcpuName} is not ${caller}'s`);
  if (r.vector < FIRST_DEVICE_VECTOR || r.vector > 0xff) return refuse(`vector ${hex(r.vector)} is not a device vector`);
  const owner = state.intent.owners[r.device];
  if (rules.ownerCheck && owner !== r.domain) return refuse(`${r.device} is not assigned to ${caller}`);
  const iommu = fn.iommu;
  if (iommu === undefined || !remappingOn(state, iommu)) return refuse('interrupt remapping is off: no handle can be bound to the device');
  const index = state.hypervisor.nextIrte[iommu] ?? 0;
  if (index > MAX_INTERRUPT_HANDLE) return refuse(`no free IRTE: the next handle would be ${index}, past the 16-bit handle space`);
  const valid = sourceValidationOf(state, fn);
  const source = rules.bind ? valid : { sid: 0, sq: 0, svt: 0 };
  const msi = composeRemappableMsi({ handle: index, shv: true, subhandle: 0 });
  const route = { device: r.device, vector: r.vector, vcpus: [vcpu.id], oneOf: false };
  const requesters = acceptedRequesters(state, r.device, r.domain, valid);
  const vcpuGrants = requesters.map((key): Action => ({ kind: 'grant', grant: { requester: key, target: { kind: 'vcpu', vcpu: vcpu.id }, vector: r.vector, deliveryModes: [0, 1] } }));
  const pair = `address ${hex(msi.address)} data ${hex(msi.data)}`;
  const bound = source.svt === 0 ? 'SVT=0: no source validation' : `SVT=${source.svt} SQ=${source.sq} SID=${hex(source.sid)}`;
  const common: Action[] = [{ kind: 'intend-route', iommu, index, route }, { kind: 'irte-allocated', iommu, index }];
  const invalidate: Action = { kind: 'invalidate-iec', iommu, descriptor: encodeIec({ granularity: 'index', indexMask: 0, interruptIndex: index }) };
  if (postingCapable(state, iommu)) {
    const irte = encodeIrte({ mode: 'posted', present: true, fpd: false, avail: 0, urgent: false, virtualVector: r.vector, pda: vcpu.pda, ...source });
    return [
      head,
      ...common,
      { kind: 'write-irte', iommu, index, value: irte },
      invalidate,
      ...vcpuGrants,
      note(`get-msi-pair ${r.device} slot ${r.slot} → ${pair} (IRTE ${index}, posted into ${vcpuName} vector ${hex(r.vector)}, ${bound})`),
    ];
  }
  const hostVector = freeHostVector(state);
  const apicId = state.cpus[vcpu.pcpu]?.apicId;
  const irte = hostVector === undefined || apicId === undefined ? undefined : hostRemappedIrte(state, iommu, apicId, hostVector, source);
  if (hostVector === undefined || apicId === undefined || irte === undefined) return refuse('no free host vector for a remapped IRTE');
  const hostGrants = requesters.map((key): Action => ({ kind: 'grant', grant: { requester: key, target: { kind: 'pcpu', apicId }, vector: hostVector, deliveryModes: [0] } }));
  return [
    head,
    ...common,
    { kind: 'software-route', hostVector, route: { device: r.device, domain: r.domain, destination: vcpu.apicId >>> 0, logical: false, deliveryMode: 0, vector: r.vector } },
    { kind: 'write-irte', iommu, index, value: irte },
    invalidate,
    ...hostGrants,
    ...vcpuGrants,
    note(`get-msi-pair ${r.device} slot ${r.slot} → ${pair} (IRTE ${index}, remapped to host vector ${hex(hostVector)} on cpu${vcpu.pcpu}, injected as vector ${hex(r.vector)} into ${vcpuName}; ${bound})`),
  ];
}

function design(name: string, summary: string, broken: boolean, rules: ImsRules): VmmDesign {
  return {
    name,
    summary,
    source:
      'seed thread 001: Re: [PATCH v4 06/17] PCI: add SIOV and IMS capability detection (Jason Gunthorpe, 2020-11-06: "the VMM to provide a hypercall to obtain a real *working* addr/data pair(s)"; pci_subdevice_msi_create_irq_domain; Hyper-V as the thread cites it, Linux pci-hyperv.c hv_compose_msi_msg); IRTE set-up as Linux intel_irq_remapping_alloc / set_msi_sid, vmx_pi_update_irte; otherwise qemu-kvm: ' +
      qemuKvm.source,
    broken,
    guestAddressing: 'the get-msi-pair hypercall names the vCPU by index; the pair returned is the host\'s remappable handle, so no guest-side encoding limits the vCPU (MSI-X entries: as qemu-kvm)',
    // Its MSI-X is qemu-kvm's to the byte: in a comparison of trapped-table scenarios it would be qemu-kvm's column again.
    comparedByDefault: false,
    onGuestAccess: (state, request) => qemuKvm.onGuestAccess(state, request),
    onDeviceInterrupt: (state, request) => qemuKvm.onDeviceInterrupt(state, request),
    onDeviceModel: (state, request) => qemuKvm.onDeviceModel(state, request),
    virtualPending: (state, device) => qemuKvm.virtualPending(state, device),
    onHypercall: (state, request) => getMsiPair(state, request, rules),
    hypercalls: ['get-msi-pair'],
  };
}

export const imsHypercall = design(
  'ims-hypercall',
  'qemu-kvm plus a get-msi-pair hypercall for devices with an IMS store (guest-written, not trapped): the hypervisor checks ownership and hands out the remappable pair of an IRTE (posted, or remapped and injected) bound to the device\'s source ID',
  false,
  { ownerCheck: true, bind: true },
);

export const imsHypercallBrokenUnbound = design(
  'ims-hypercall-broken-unbound',
  "ims-hypercall whose IRTE carries no source validation (SVT=0): any device sending the handle reaches the caller's vCPU",
  true,
  { ownerCheck: true, bind: false },
);

export const imsHypercallBrokenNoOwnerCheck = design(
  'ims-hypercall-broken-no-owner-check',
  "ims-hypercall that hands out a pair for a device the caller does not own (XSA-237 class): another guest's device is steered into the caller's vCPU",
  true,
  { ownerCheck: false, bind: true },
);

export const IMS_HYPERCALL_DESIGNS: readonly VmmDesign[] = [imsHypercall, imsHypercallBrokenUnbound, imsHypercallBrokenNoOwnerCheck];
