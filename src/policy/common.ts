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
import { encodeIec } from '../vtd/invalidation.ts';
import { composeRemappableMsi } from '../vtd/remappable-msi.ts';
import { msiSourceValidation } from '../vtd/source-id.ts';
import { dmaAliases } from '../fabric/aliases.ts';
import { groupOf } from '../fabric/group-index.ts';
import type { Grant } from '../platform/state.ts';

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
const FIRST_DEVICE_VECTOR = 16;

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

/**
 * Answer a guest's MSI-X write with a posted IRTE: allocate an index on the device's
 * unit, write the entry (PDA = target vCPU's PID, VV = guest vector, source validation
 * as Linux `set_msi_sid` sets it for the device's DMA aliases: src/vtd/source-id.ts),
 * invalidate that IEC entry, record the grant, and program the physical MSI-X entry
 * with the remappable handle. The grant covers every function of the requesting domain
 * whose requests the entry's source validation accepts (behind a PCIe-to-PCI bridge the
 * IRTE cannot tell them apart, and the hypervisor knows it). Nothing is set up (an empty
 * answer) for a device the requesting domain does not own — unless `checks.owner` is
 * false, the XSA-237 class of bug — for a device whose IOMMU group another domain holds
 * (VFIO would not let the domain open it) unless `checks.group` is false, for a delivery
 * mode that cannot be posted, or for a vector below 16 (an exception vector; found by
 * `remapsim check` on the secure twin of the XSA-237 entry).
 * @param findVcpu how the policy resolves the guest's destination APIC ID within a domain
 */
export function postedMsiSetup(
  state: PlatformState,
  req: ActionOf<'guest-msi'>,
  findVcpu: (state: PlatformState, domain: number | undefined, apicId: number) => Vcpu | undefined,
  checks: SetupChecks = ALL_CHECKS,
): Action[] {
  const fn = state.devices[req.device];
  if (fn === undefined || !POSTABLE.has(req.deliveryMode ?? 0) || req.vector < FIRST_DEVICE_VECTOR) return [];
  const owner = state.intent.owners[req.device];
  const requester = req.domain ?? owner;
  if (checks.owner && requester !== owner) return [];
  if (checks.group && !groupViable(state, req.device, requester)) return [];
  const vcpu = findVcpu(state, requester, req.destination);
  const iommu = fn.iommu;
  if (vcpu === undefined || iommu === undefined) return [];
  const index = state.hypervisor.nextIrte[iommu] ?? 0;
  // A function the fabric does not hold (a hand-built platform) is alone on a root bus: no aliases.
  const source = msiSourceValidation(state.fabric, fn.rid, Object.hasOwn(state.fabric.functions, fn.key) ? dmaAliases(state.fabric, fn.key) : []);
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
  // Functions whose requests the entry cannot tell apart from the device's alias each other, so they share its IOMMU group.
  const members = groupOf(state.fabric, req.device)?.devices ?? [req.device];
  const accepted = members
    .map((k) => state.devices[k])
    .filter((d): d is NonNullable<typeof d> => d !== undefined && (d.key === req.device || (requester !== undefined && state.intent.owners[d.key] === requester && passes(source, d.busRid))));
  const grants = accepted.map((d): Action => ({ kind: 'grant', grant: { requester: d.key, target: { kind: 'vcpu', vcpu: vcpu.id }, vector: req.vector, deliveryModes: [0, 1] } satisfies Grant }));
  return [
    { kind: 'irte-allocated', iommu, index },
    { kind: 'write-irte', iommu, index, value: irte },
    { kind: 'invalidate-iec', iommu, descriptor: encodeIec({ granularity: 'index', indexMask: 0, interruptIndex: index }) },
    ...grants,
    { kind: 'program-msix', device: req.device, entry: req.entry, address: msi.address, data: msi.data, masked: false },
  ];
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
