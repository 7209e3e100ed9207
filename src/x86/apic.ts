/**
 * Which local APICs accept an interrupt message (Intel SDM Vol. 3 §10.6.2 and
 * §10.12.10; x2APIC logical IDs per Linux `kvm_apic_calc_x2apic_ldr`).
 *
 * - Physical mode: the APIC whose ID equals the destination; 0xFF (xAPIC) or
 *   0xFFFF_FFFF (x2APIC) is broadcast.
 * - Logical mode, xAPIC, flat model (DFR = 1111b): LDR = 1 << APIC ID for IDs 0..7
 *   (Linux's flat logical setup); a destination is a bitmask, 0xFF broadcast.
 * - Logical mode, xAPIC, cluster model (DFR = 0000b, SDM §10.6.2.2): a destination is a
 *   cluster ID (bits 7:4, 0xF = every cluster) and a member mask (bits 3:0). The OS
 *   assigns LDRs; the model assigns cluster = APIC ID / 4 and member = APIC ID mod 4,
 *   the flat-cluster layout without cluster managers, so IDs 0..59 are addressable.
 * - Logical mode, x2APIC: LDR = cluster (ID >> 4) in bits 31:16 and one-hot member
 *   (1 << (ID & 0xF)) in bits 15:0; a destination selects members of one cluster.
 * - Lowest-priority delivery (DLM 001), and a set redirection hint in logical mode
 *   (SDM §10.11.1 "Redirection Hint": the message goes to one processor of the
 *   destination set, chosen by lowest-priority arbitration; VT-d §5.1.5 gives the IRTE's
 *   RH the same meaning), pick one APIC of the set. Which one is the hardware's choice
 *   (task priority, focus processor, or a vendor's hash), so the *candidates* are the
 *   whole set and every one of them is a legal outcome: properties judge all of them
 *   ({@link arbitrationWinner} is only the one a trace shows).
 */
import type { ApicMode, Pcpu } from '../platform/state.ts';

export const XAPIC_BROADCAST = 0xff;
export const X2APIC_BROADCAST = 0xffff_ffff;

/** xAPIC cluster-model logical destination for an APIC ID (see the module comment), or undefined above 59. */
export function xapicClusterLogicalId(apicId: number): number | undefined {
  return apicId >> 2 < XAPIC_ALL_CLUSTERS ? ((apicId >> 2) << 4) | (1 << (apicId & 3)) : undefined;
}

/** x2APIC logical destination register for an x2APIC ID. */
export function x2apicLogicalId(apicId: number): number {
  return (((apicId >>> 4) << 16) | (1 << (apicId & 0xf))) >>> 0;
}

/** Highest cluster ID of the xAPIC cluster model: 0xF addresses every cluster. */
const XAPIC_ALL_CLUSTERS = 0xf;

/**
 * Whether the local APIC with `apicId` accepts a message with `destination` (see the module
 * comment): the rule for one APIC, shared by the platform's pCPUs and a guest's virtual APICs.
 * @param cluster xAPIC logical destinations use the cluster model (else flat)
 */
export function apicAccepts(mode: ApicMode, logical: boolean, destination: number, apicId: number, cluster: boolean): boolean {
  if (mode === 'xapic') {
    if (destination === XAPIC_BROADCAST) return apicId <= 0xfe;
    if (!logical) return apicId === destination;
    if (!cluster) return apicId < 8 && (destination & (1 << apicId)) !== 0;
    const id = apicId >> 2;
    if (id >= XAPIC_ALL_CLUSTERS) return false;
    const target = destination >> 4;
    return (target === id || target === XAPIC_ALL_CLUSTERS) && (destination & (1 << (apicId & 3))) !== 0;
  }
  if (destination === X2APIC_BROADCAST) return true;
  if (!logical) return apicId === destination;
  const ldr = x2apicLogicalId(apicId);
  return ldr >>> 16 === destination >>> 16 && (ldr & destination & 0xffff) !== 0;
}

/**
 * pCPU indices whose local APIC may accept a message with `destination` in `mode`: every
 * APIC the destination selects. For a message that goes to one of them (see
 * {@link picksOne}) these are the candidates of the arbitration, any of which the
 * hardware may choose.
 * @param logical destination mode (DM) is logical
 */
export function acceptingCpus(cpus: readonly Pcpu[], mode: ApicMode, destination: number, logical: boolean, xapicModel: 'flat' | 'cluster' = 'flat'): number[] {
  // A plain loop: this runs once per delivered interrupt (the MSI read path), and the
  // filter/map form allocated two closures and an intermediate array per call.
  const dest = destination >>> 0;
  // Physical, not broadcast: at most one APIC has the ID. Platforms usually number pCPUs
  // by APIC ID, so try that slot before scanning (notifications take this path).
  if (!logical && dest !== (mode === 'xapic' ? XAPIC_BROADCAST : X2APIC_BROADCAST)) {
    const guess = cpus[dest];
    if (guess !== undefined && guess.apicId === dest) return [guess.index];
  }
  const set: number[] = [];
  for (let i = 0; i < cpus.length; i++) {
    const c = cpus[i]!;
    if (apicAccepts(mode, logical, dest, c.apicId, xapicModel === 'cluster')) set.push(c.index);
  }
  return set;
}

/**
 * Whether the message goes to one APIC of its destination set rather than to all of them:
 * lowest-priority delivery mode (001), or a redirection hint in logical mode (SDM
 * §10.11.1; in physical mode the destination names one APIC anyway).
 */
export function picksOne(deliveryMode: number, redirectionHint: boolean, logical: boolean): boolean {
  return deliveryMode === 1 || (redirectionHint && logical);
}

/**
 * The pCPUs a trace shows accepting the message: for a one-of-the-set message the lowest
 * pCPU index among `candidates` (deterministic; the hardware may pick any candidate),
 * otherwise every candidate.
 */
export function arbitrationWinner(candidates: number[], pickOne: boolean): number[] {
  return pickOne && candidates.length > 1 ? [candidates[0]!] : candidates;
}
