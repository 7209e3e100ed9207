/**
 * Operations several policies share: reading a vCPU's PID, the NDST encoding of a
 * pCPU, and trapping a guest's MSI-X write into a posted IRTE (what Linux's VFIO +
 * KVM irqfd bypass do in `vmx_pi_update_irte` / `intel_ir_set_vcpu_affinity`, and Xen
 * in `pi_update_irte`).
 */
import type { Action, ActionOf } from '../platform/actions.ts';
import type { PlatformState, Vcpu } from '../platform/state.ts';
import { runningVcpu, vcpuAt, vcpuList } from '../platform/vcpu-table.ts';
import { readPid } from '../vtd/pid-memory.ts';
import { ndstForApicId, type PostedInterruptDescriptor } from '../vtd/pid.ts';
import { encodeIrte } from '../vtd/irte.ts';
import { CAP_LAYOUT, GLOBAL_STATUS_BITS } from '../vtd/registers.ts';
import { encodeIec } from '../vtd/invalidation.ts';
import { composeRemappableMsi, MAX_INTERRUPT_HANDLE } from '../vtd/remappable-msi.ts';
import { msiSourceValidation } from '../vtd/source-id.ts';
import { dmaAliases } from '../fabric/aliases.ts';
import { groupOf } from '../fabric/group-index.ts';
import type { Grant, PciFunction } from '../platform/state.ts';
import type { AmdPolicyRules } from './amd.ts';
import { policyVendor } from './vendor.ts';

/** The VT-d PID of `vcpu` (on AMD `pda` is the AVIC backing page: src/policy/amd.ts `avicIrr` reads that). */
export function pidOf(state: PlatformState, vcpu: Vcpu): PostedInterruptDescriptor {
  return readPid(state.memory, vcpu.pda).pid;
}

/** NDST naming `pcpu`, in the format of the platform's APIC mode. */
export function ndstOf(state: PlatformState, pcpu: number): number {
  return ndstForApicId(state.cpus[pcpu]?.apicId ?? 0, state.interrupts.apicMode === 'x2apic');
}

/** The vCPU running on `pcpu`, if any. */
export function runningOn(state: PlatformState, pcpu: number): Vcpu | undefined {
  return runningVcpu(state.vcpus, pcpu);
}

/** Delivery modes a posted IRTE can carry: one destination, fixed or lowest priority (KVM `kvm_irq_is_postable`). */
const POSTABLE = new Set([0, 1]);

/** Vectors 0–15 are the architecture's exceptions: no device interrupt may use them (SDM Vol. 3 §6.2; an APIC reports them as illegal). */
export const FIRST_DEVICE_VECTOR = 16;

/**
 * VFIO group viability (Linux drivers/vfio/group.c: a group is usable only when every
 * device in it is bound to the same user, "group is not viable" otherwise): a device may
 * be used by `domain` only when no other domain owns another function of its IOMMU
 * group. (Whether the domain owns the device itself is the ownership check.)
 */
export function groupViable(state: PlatformState, device: string, domain: number | undefined): boolean {
  const group = groupOf(state.fabric, device);
  if (group === undefined) return true;
  return group.devices.every((k) => {
    const owner = state.intent.owners[k];
    return k === device || owner === undefined || owner === domain;
  });
}

/** What a guest request asks a policy to check before it sets anything up. */
export interface SetupChecks {
  /** The requesting domain must own the device (XSA-237 when left out). */
  readonly owner: boolean;
  /** The device's IOMMU group must be viable for the domain (VFIO; aliasing forgeries when left out). */
  readonly group: boolean;
}

export const ALL_CHECKS: SetupChecks = { owner: true, group: true };

/** A guest request the policy agreed to serve: the device, the domain asking, and the device's unit. */
export interface AdmittedRequest {
  readonly fn: PciFunction;
  readonly requester: number | undefined;
  readonly iommu: number;
}

/**
 * Whether a policy serves `req` at all: nothing is set up for a device the requesting
 * domain does not own — unless `checks.owner` is false, the XSA-237 class of bug — for a
 * device whose IOMMU group another domain holds (VFIO would not let the domain open it)
 * unless `checks.group` is false, for a delivery mode that cannot be posted or injected
 * (KVM `kvm_irq_is_postable`: fixed and lowest priority), for a vector below 16 (an
 * exception vector; found by `remapsim check` on the secure twin of the XSA-237 entry), or
 * for a device behind no remapping unit.
 */
export function admitGuestMsi(state: PlatformState, req: ActionOf<'guest-msi'>, checks: SetupChecks = ALL_CHECKS): AdmittedRequest | undefined {
  const fn = state.devices[req.device];
  if (fn === undefined || !POSTABLE.has(req.deliveryMode ?? 0) || req.vector < FIRST_DEVICE_VECTOR) return undefined;
  const owner = state.intent.owners[req.device];
  const requester = req.domain ?? owner;
  if (checks.owner && requester !== owner) return undefined;
  if (checks.group && !groupViable(state, req.device, requester)) return undefined;
  const iommu = fn.iommu;
  return iommu === undefined ? undefined : { fn, requester, iommu };
}

/** The source validation (SID/SQ/SVT) an IRTE for `fn` gets: Linux `set_msi_sid` for the device's DMA aliases (src/vtd/source-id.ts). */
export function sourceValidationOf(state: PlatformState, fn: PciFunction): { sid: number; sq: number; svt: number } {
  // A function the fabric does not hold (a hand-built platform) is alone on a root bus: no aliases.
  return msiSourceValidation(state.fabric, fn.rid, Object.hasOwn(state.fabric.functions, fn.key) ? dmaAliases(state.fabric, fn.key) : []);
}

/**
 * The functions whose requests an IRTE with source validation `source` cannot tell apart
 * from `req.device`'s and that the requesting domain owns: behind a PCIe-to-PCI bridge they
 * alias each other (and so share its IOMMU group), and the hypervisor knows it. Grants
 * name each.
 */
export function acceptedRequesters(state: PlatformState, device: string, requester: number | undefined, source: { sid: number; svt: number }): string[] {
  const members = groupOf(state.fabric, device)?.devices ?? [device];
  return members
    .map((k) => state.devices[k])
    .filter((d): d is NonNullable<typeof d> => d !== undefined && (d.key === device || (requester !== undefined && state.intent.owners[d.key] === requester && passes(source, d.busRid))))
    .map((d) => d.key);
}

/**
 * Answer an admitted guest MSI-X write with a posted IRTE into `vcpu`: allocate an index
 * on the device's unit (or rewrite `req.irte` in place, keeping the physical entry), write the entry (PDA = the vCPU's PID, VV = guest vector, source
 * validation from {@link sourceValidationOf}), invalidate that IEC entry, record the
 * grants ({@link acceptedRequesters} → the vCPU, the guest vector) and program the
 * physical MSI-X entry with the remappable handle.
 */
export function postedIrteSetup(state: PlatformState, req: ActionOf<'guest-msi'>, admitted: AdmittedRequest, vcpu: Vcpu): Action[] {
  const { fn, requester, iommu } = admitted;
  const inPlace = req.irte !== undefined;
  const index = req.irte ?? state.hypervisor.nextIrte[iommu] ?? 0;
  // A full table (no 16-bit handle left): nothing is set up, as Linux's alloc_irte fails.
  if (index > MAX_INTERRUPT_HANDLE) return [];
  const source = sourceValidationOf(state, fn);
  const irte = encodeIrte({
    mode: 'posted',
    present: true,
    fpd: false,
    avail: 0,
    urgent: false,
    virtualVector: req.vector,
    pda: vcpu.pda,
    sid: source.sid,
    sq: source.sq,
    svt: source.svt,
  });
  const msi = composeRemappableMsi({ handle: index, shv: true, subhandle: 0 });
  const grants = acceptedRequesters(state, req.device, requester, source).map(
    (key): Action => ({ kind: 'grant', grant: { requester: key, target: { kind: 'vcpu', vcpu: vcpu.id }, vector: req.vector, deliveryModes: [0, 1] } satisfies Grant }),
  );
  return [
    ...(inPlace ? [] : [{ kind: 'irte-allocated', iommu, index } as const]),
    { kind: 'write-irte', iommu, index, value: irte },
    { kind: 'invalidate-iec', iommu, descriptor: encodeIec({ granularity: 'index', indexMask: 0, interruptIndex: index }) },
    ...grants,
    // Rewritten in place, the entry keeps the handle the physical MSI-X entry already carries.
    ...(inPlace ? [] : [{ kind: 'program-msix', device: req.device, entry: req.entry, address: msi.address, data: msi.data, masked: false } as const]),
  ];
}

/**
 * Answer a guest's MSI-X write naming one vCPU with a posted IRTE (what Linux's VFIO + KVM
 * irqfd bypass do in `vmx_pi_update_irte` / `intel_ir_set_vcpu_affinity`, and Xen in
 * `pi_update_irte`): {@link admitGuestMsi}, then {@link postedIrteSetup} into the vCPU
 * `findVcpu` resolves; nothing when it resolves none. (src/policy/guest-msi.ts decides,
 * for requests naming several vCPUs, between this and software delivery.)
 * @param findVcpu how the policy resolves the guest's destination APIC ID within a domain
 */
export function postedMsiSetup(
  state: PlatformState,
  req: ActionOf<'guest-msi'>,
  findVcpu: (state: PlatformState, domain: number | undefined, apicId: number) => Vcpu | undefined,
  checks: SetupChecks = ALL_CHECKS,
): Action[] {
  const admitted = admitGuestMsi(state, req, checks);
  if (admitted === undefined) return [];
  const vcpu = findVcpu(state, admitted.requester, req.destination);
  return vcpu === undefined ? [] : [intendRoute(state, req, admitted, [vcpu]), ...policyVendor(state).posted(state, req, admitted, vcpu, {})];
}

/**
 * Record what `req` means for the IRTE the policy is about to allocate: `targets`, all of them
 * (fixed) or one (lowest priority). The IRTE is named by the vendor's slot (src/policy/vendor.ts:
 * VT-d unit and index; AMD-Vi table key and index).
 */
export function intendRoute(state: PlatformState, req: ActionOf<'guest-msi'>, admitted: AdmittedRequest, targets: readonly Vcpu[], amd: AmdPolicyRules = {}): Action {
  const slot = policyVendor(state).routeSlot(state, req, admitted, amd);
  return {
    kind: 'intend-route',
    iommu: slot.iommu,
    index: slot.index,
    route: { device: req.device, vector: req.vector, vcpus: targets.map((v) => v.id), oneOf: (req.deliveryMode ?? 0) === 1 },
  };
}

/** Whether unit `iommu` can post interrupts, whatever the vendor (src/policy/vendor.ts). */
export function postingCapable(state: PlatformState, iommu: number): boolean {
  return policyVendor(state).postingCapable(state, iommu);
}

/** Whether interrupt remapping is on at unit `iommu`, whatever the vendor (src/policy/vendor.ts). */
export function remappingOn(state: PlatformState, iommu: number): boolean {
  return policyVendor(state).remappingOn(state, iommu);
}

/**
 * Whether the VT-d unit `iommu` can post interrupts: interrupt remapping on (GSTS.IRES) and
 * CAP.PI (Linux drivers/iommu/intel/irq_remapping.c sets IRQ_POSTING_CAP only then; KVM's
 * `vmx_pi_update_irte` and Xen's `iommu_intpost` do nothing without it).
 */
export function vtdPostingCapable(state: PlatformState, iommu: number): boolean {
  const unit = state.iommus[iommu];
  if (unit === undefined || (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRES)) === 0) return false;
  return ((unit.cap >> BigInt(CAP_LAYOUT.spec.fields.PI.lo)) & 1n) === 1n;
}

/** Whether interrupt remapping is on at the VT-d unit `iommu` (GSTS.IRES). */
export function vtdRemappingOn(state: PlatformState, iommu: number): boolean {
  const unit = state.iommus[iommu];
  return unit !== undefined && (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRES)) !== 0;
}

/** Whether a request arriving with requester ID `rid` passes source validation `v` (SQ=0). */
function passes(v: { svt: number; sid: number }, rid: number): boolean {
  if (v.svt === 1) return rid === v.sid;
  const bus = rid >> 8;
  return bus >= v.sid >> 8 && bus <= (v.sid & 0xff);
}

/** The correct lookup: the vCPU of the requesting (owning) domain with that guest APIC ID. */
export function vcpuOfOwner(state: PlatformState, domain: number | undefined, apicId: number): Vcpu | undefined {
  return vcpuList(state.vcpus).find((v) => v.domain === domain && v.apicId === apicId);
}

/**
 * What every policy does first when scheduling `vcpu` on `pcpu`: nothing if the request
 * cannot be served (no such vCPU or pCPU, the vCPU is blocked, or already runs there);
 * otherwise deschedule whatever runs on `pcpu`, deschedule the vCPU from its old pCPU, and
 * take it off any blocked list. `deschedule` is the policy's own put.
 */
export function schedulePrologue(
  state: PlatformState,
  vcpu: number,
  pcpu: number,
  deschedule: (v: Vcpu) => Action[],
): { vcpu: Vcpu; actions: Action[] } | undefined {
  const v = vcpuAt(state.vcpus, vcpu);
  if (v === undefined || v.run === 'blocked' || (v.run === 'running' && v.pcpu === pcpu) || state.cpus[pcpu] === undefined) return undefined;
  const actions: Action[] = [];
  const other = runningOn(state, pcpu);
  if (other !== undefined) actions.push(...deschedule(other));
  if (v.run === 'running') actions.push(...deschedule(v));
  const listed = Object.entries(state.hypervisor.blockedLists).find(([, ids]) => ids.includes(v.id));
  if (listed) actions.push({ kind: 'blocked-list', pcpu: Number(listed[0]), vcpu: v.id, add: false });
  return { vcpu: v, actions };
}
