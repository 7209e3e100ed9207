/**
 * A guest's virtual APICs as a message's destination reaches them: the vCPUs of a domain a
 * destination names, and the one a lowest-priority message goes to.
 *
 * The guest's destination is read in the guest's APIC ID space with the platform's APIC
 * mode and logical model (docs/fidelity.md): x2APIC logical IDs derived from the guest's
 * x2APIC IDs (`kvm_apic_calc_x2apic_ldr`), xAPIC flat or cluster as the platform's.
 */
import type { PlatformState, Vcpu } from './state.ts';
import { vcpuAt, vcpuList } from './vcpu-table.ts';
import { apicAccepts, X2APIC_BROADCAST, XAPIC_BROADCAST } from '../x86/apic.ts';

/** Per domain: its vCPU ids by guest APIC ID, and all of them in APIC ID order. */
interface DomainApics {
  readonly byApicId: Map<number, number[]>;
  readonly ordered: number[];
}

/**
 * The vCPUs' guest APIC IDs never change after the platform is built (src/platform/build.ts
 * makes the domains and the vCPUs together), so the index is made once per platform, keyed by
 * its domains array, and a lookup costs the destination's members, not the number of vCPUs.
 */
const INDEX = new WeakMap<readonly unknown[], { readonly count: number; readonly domains: Map<number, DomainApics> }>();

function indexOf(state: PlatformState): Map<number, DomainApics> {
  const known = INDEX.get(state.domains);
  if (known !== undefined && known.count === state.vcpus.count) return known.domains;
  const domains = new Map<number, DomainApics>();
  const list = vcpuList(state.vcpus).sort((a, b) => a.apicId - b.apicId || a.id - b.id);
  for (const v of list) {
    let d = domains.get(v.domain);
    if (d === undefined) domains.set(v.domain, (d = { byApicId: new Map(), ordered: [] }));
    d.ordered.push(v.id);
    const same = d.byApicId.get(v.apicId);
    if (same === undefined) d.byApicId.set(v.apicId, [v.id]);
    else same.push(v.id);
  }
  INDEX.set(state.domains, { count: state.vcpus.count, domains });
  return domains;
}

/**
 * The APIC IDs a destination can select (src/x86/apic.ts), or undefined for a broadcast: a
 * physical ID; x2APIC logical: cluster (31:16) × one-hot members (15:0); xAPIC flat: bits 7:0;
 * xAPIC cluster: cluster (7:4, 0xF every cluster) × members (3:0).
 */
function candidateApicIds(state: PlatformState, destination: number, logical: boolean): number[] | undefined {
  const x2apic = state.interrupts.apicMode === 'x2apic';
  if (destination === (x2apic ? X2APIC_BROADCAST : XAPIC_BROADCAST)) return undefined;
  if (!logical) return [destination];
  const ids: number[] = [];
  if (x2apic) {
    for (let bit = 0; bit < 16; bit++) if ((destination & (1 << bit)) !== 0) ids.push(((destination >>> 16) << 4) | bit);
  } else if (state.interrupts.xapicLogicalModel === 'cluster') {
    const cluster = destination >> 4;
    for (let c = cluster === 0xf ? 0 : cluster; c <= (cluster === 0xf ? 0xe : cluster); c++) {
      for (let bit = 0; bit < 4; bit++) if ((destination & (1 << bit)) !== 0) ids.push((c << 2) | bit);
    }
  } else {
    for (let bit = 0; bit < 8; bit++) if ((destination & (1 << bit)) !== 0) ids.push(bit);
  }
  return ids;
}

/**
 * The vCPUs of `domain` (every domain when `domain` is `'any'`) whose virtual APIC accepts
 * `destination`, in guest APIC ID order. Each candidate is confirmed by the same rule the
 * platform's APICs follow (src/x86/apic.ts `apicAccepts`).
 */
export function guestTargets(state: PlatformState, domain: number | undefined | 'any', destination: number, logical: boolean): Vcpu[] {
  const cluster = state.interrupts.xapicLogicalModel === 'cluster';
  const dest = destination >>> 0;
  const accepts = (v: Vcpu): boolean => apicAccepts(state.interrupts.apicMode, logical, dest, v.apicId, cluster);
  if (domain === 'any') return vcpuList(state.vcpus).filter(accepts).sort((a, b) => a.apicId - b.apicId || a.id - b.id);
  const d = domain === undefined ? undefined : indexOf(state).get(domain);
  if (d === undefined) return [];
  const ids = candidateApicIds(state, dest, logical);
  const chosen = ids === undefined ? d.ordered : ids.sort((a, b) => a - b).flatMap((apicId) => d.byApicId.get(apicId) ?? []);
  return chosen.map((id) => vcpuAt(state.vcpus, id)!).filter(accepts);
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

