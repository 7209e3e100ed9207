/**
 * Addressing, simulated from the guest's side: for every vCPU, the guest driver composes the
 * message its scheme allows (compatibility format, extended destination ID, or a remappable
 * message through an IRTE it writes in its vIOMMU), programs the device's MSI-X entry, and
 * the device signals. The interrupt controller the guest sees — modelled as a platform whose
 * CPUs are the vCPUs (src/explorer/platforms.ts) — delivers it with the real transition
 * function; a vCPU is addressable only when the `interrupt-delivered` event's targets are
 * exactly that vCPU.
 *
 * When the APIC ID does not fit the destination field, `composeCompatibilityMsi` throws
 * RangeError; a driver that truncates would send the low bits, so that message is
 * simulated and where it lands is reported (sheet §1.3–§1.4).
 */
import { xapicClusterLogicalId } from '../x86/apic.ts';
import type { PlatformState } from '../platform/state.ts';
import type { Action } from '../platform/actions.ts';
import type { PlatformEvent } from '../platform/events.ts';
import { applyAction } from '../platform/transition.ts';
import { composeCompatibilityMsi } from '../x86/msi.ts';
import { composeRemappableMsi } from '../vtd/remappable-msi.ts';
import { encodeIrte, irteDestinationField } from '../vtd/irte.ts';
import { encodeIec } from '../vtd/invalidation.ts';
import { DEVICE, DEVICE_RID, GUEST_VECTOR, guestPlatform } from './platforms.ts';
import { schemeInfo, type SchemeId } from './schemes.ts';

/** Why a vCPU is not reachable through a scheme. */
export type ReasonCode =
  | 'truncated-destination'
  | 'broadcast-collision'
  | 'no-logical-id'
  | 'not-simulated'
  | 'remapping-fault'
  | 'host-path';

/** A reason code and the sentence that explains it for one vCPU. */
export interface Unreachable {
  readonly code: ReasonCode;
  /** One sentence naming the message and where it went. */
  readonly detail: string;
}

/** Guest-side work to set up one MSI, counted from the simulated actions and events. */
export interface GuestSetup {
  /** Dword stores to the device's MSI-X entry (address low/high, data, vector control) — each a trap when the hypervisor traps the table. */
  readonly msixDwords: number;
  /** IRTEs the guest wrote in its vIOMMU's table (guest RAM: not trapped). */
  readonly irteWrites: number;
  /** IEC invalidations the guest submitted (each ends in a trapped queue-tail register write). */
  readonly invalidations: number;
  /**
   * Trapped queue-tail register writes, when not one per invalidation: a virtual AMD IOMMU's
   * guest writes the command-buffer tail once for INVALIDATE_INTERRUPT_TABLE and once for its
   * COMPLETION_WAIT (src/explorer/amd-guest-layer.ts). Absent: `invalidations`.
   */
  readonly queueTailWrites?: number;
}

/** What the guest-side simulation found for one vCPU (vCPU i is pCPU i of the guest's platform). */
export interface GuestOutcome {
  readonly vcpu: number;
  readonly apicId: number;
  /** The destination the interrupt controller decoded (APIC ID or logical mask), when a message was delivered. */
  readonly destination: number | undefined;
  /** vCPU indices that may accept the message (every arbitration candidate). */
  readonly targets: readonly number[];
  readonly reached: boolean;
  readonly why: Unreachable | undefined;
  readonly setup: GuestSetup;
}

/** Every vCPU's outcome for one scheme, by vCPU index. */
export interface GuestLayerResult {
  readonly scheme: SchemeId;
  readonly outcomes: readonly GuestOutcome[];
}

const hex = (v: number): string => `0x${v.toString(16)}`;
const NO_SETUP: GuestSetup = { msixDwords: 0, irteWrites: 0, invalidations: 0 };

/** Dword stores a `program-msix` action makes (address is two dwords, data one, vector control one). */
export function msixDwordsOf(a: Action): number {
  if (a.kind !== 'program-msix') return 0;
  return (a.address === undefined ? 0 : 2) + (a.data === undefined ? 0 : 1) + (a.masked === undefined ? 0 : 1);
}

export interface Message {
  readonly address: bigint;
  readonly data: number;
  /** Set when the APIC ID did not fit and the low bits were kept. */
  readonly truncatedTo: number | undefined;
}

/** The compatibility message a driver composes for `destination` in a field of `bits` bits. */
function compatMessage(destination: number, bits: 8 | 15, logical: boolean): Message {
  const ext = bits === 15;
  try {
    return { ...composeCompatibilityMsi({ destination, vector: GUEST_VECTOR, destinationModeLogical: logical, extendedDestinationId: ext }), truncatedTo: undefined };
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const truncated = destination % 2 ** bits;
    return { ...composeCompatibilityMsi({ destination: truncated, vector: GUEST_VECTOR, destinationModeLogical: logical, extendedDestinationId: ext }), truncatedTo: truncated };
  }
}

/** Run `actions` from `state`, returning the events (the state is dropped: every vCPU starts from the same base). */
export function simulate(state: PlatformState, actions: readonly Action[]): PlatformEvent[] {
  const events: PlatformEvent[] = [];
  let s = state;
  for (const a of actions) {
    const r = applyAction(s, a);
    s = r.state;
    events.push(...r.events);
  }
  return events;
}

function setupOf(actions: readonly Action[], events: readonly PlatformEvent[]): GuestSetup {
  let msixDwords = 0;
  for (const a of actions) msixDwords += msixDwordsOf(a);
  return {
    // Only writes the platform acknowledged count: an MSI-X write to a missing entry is rejected.
    msixDwords: events.some((e) => e.kind === 'msi-config') ? msixDwords : 0,
    irteWrites: events.filter((e) => e.kind === 'memory-write' && e.what?.startsWith('IRTE') === true).length,
    invalidations: events.filter((e) => e.kind === 'iec-invalidate').length,
  };
}

function describeTargets(targets: readonly number[], apicIds: readonly number[]): string {
  if (targets.length === 0) return 'reaches no vCPU';
  if (targets.length === 1) return `lands on vCPU ${targets[0]} (APIC ID ${apicIds[targets[0]!]})`;
  return `is accepted by ${targets.length} vCPUs`;
}

/** Judge one delivery: reached iff the intended vCPU is the only one that may accept it; otherwise say why. */
export function judge(vcpu: number, apicIds: readonly number[], scheme: SchemeId, msg: Message, events: readonly PlatformEvent[]): Omit<GuestOutcome, 'setup'> {
  const apicId = apicIds[vcpu]!;
  const fault = events.find((e) => e.kind === 'interrupt-fault');
  const delivered = events.find((e) => e.kind === 'interrupt-delivered');
  const base = { vcpu, apicId };
  if (fault !== undefined && fault.kind === 'interrupt-fault') {
    return { ...base, destination: undefined, targets: [], reached: false, why: { code: 'remapping-fault', detail: `the vIOMMU blocked the request with fault ${hex(fault.reason)}` } };
  }
  if (delivered === undefined || delivered.kind !== 'interrupt-delivered') {
    return { ...base, destination: undefined, targets: [], reached: false, why: { code: 'host-path', detail: 'no interrupt-delivered event' } };
  }
  // Every vCPU the arbitration may choose (lowest priority, logical RH), not only the one
  // the model's trace shows: a vCPU is reached only when nothing else can take the message.
  const targets = delivered.candidates;
  const reached = targets.length === 1 && targets[0] === vcpu;
  if (reached) return { ...base, destination: delivered.destination, targets, reached, why: undefined };
  const bits = schemeInfo(scheme).destinationBits;
  let why: Unreachable;
  if (scheme === 'xapic-logical-cluster') {
    why = { code: 'no-logical-id', detail: `cluster logical IDs (cluster = APIC ID / 4, member = APIC ID mod 4) exist only for APIC IDs 0..59; destination ${hex(delivered.destination)} ${describeTargets(targets, apicIds)}` };
  } else if (scheme === 'xapic-logical-flat') {
    why = { code: 'no-logical-id', detail: `flat logical IDs (LDR = 1 << APIC ID) exist only for APIC IDs 0..7; destination mask ${hex(delivered.destination)} ${describeTargets(targets, apicIds)}` };
  } else if (msg.truncatedTo !== undefined) {
    why = { code: 'truncated-destination', detail: `APIC ID ${apicId} does not fit the ${bits}-bit destination; truncated to ${hex(msg.truncatedTo)} it ${describeTargets(targets, apicIds)}` };
  } else if (delivered.destination === 0xff && delivered.destinationMode === 'physical') {
    why = { code: 'broadcast-collision', detail: `destination 0xFF is the xAPIC broadcast: accepted by ${targets.length} vCPUs (APIC IDs up to 0xFE), not by APIC ID ${apicId} alone` };
  } else {
    why = { code: 'host-path', detail: `destination ${hex(delivered.destination)} ${describeTargets(targets, apicIds)}` };
  }
  return { ...base, destination: delivered.destination, targets, reached: false, why };
}

/**
 * Simulate `scheme` for every vCPU of a guest whose vCPUs have `apicIds` (vCPU i = index i).
 * The HYPOTHETICAL direct scheme's guest writes the standard compatibility-format message the
 * direct-post hardware reads its vAPIC ID from (the destination with the 15-bit extended
 * destination ID, src/hypothetical/direct-post; docs/vmm.md "direct-post (hypothetical)"):
 * on the guest side it is the extended-destination-ID message, simulated the same way; the
 * host side (src/explorer/host-layer.ts) then runs the direct-post model itself.
 */
export function simulateGuestLayer(scheme: SchemeId, apicIds: readonly number[]): GuestLayerResult {
  const info = schemeInfo(scheme);
  if (!info.simulated) {
    const why: Unreachable = { code: 'not-simulated', detail: info.whyNotSimulated ?? 'not simulated' };
    return { scheme, outcomes: apicIds.map((apicId, vcpu) => ({ vcpu, apicId, destination: undefined, targets: [], reached: false, why, setup: NO_SETUP })) };
  }
  const viommu = scheme === 'viommu-ir' || scheme === 'viommu-ir-dma';
  const base = guestPlatform({
    apicIds,
    apicMode: scheme === 'xapic-physical' || scheme === 'xapic-logical-flat' || scheme === 'xapic-logical-cluster' ? 'xapic' : 'x2apic',
    extendedDestinationId: scheme === 'ext-dest-id' || scheme === 'direct-vcpu-msi',
    viommu,
    ...(scheme === 'xapic-logical-cluster' ? { xapicLogicalModel: 'cluster' as const } : {}),
  });
  const outcomes: GuestOutcome[] = [];
  for (let vcpu = 0; vcpu < apicIds.length; vcpu++) {
    const apicId = apicIds[vcpu]!;
    let msg: Message;
    const actions: Action[] = [];
    if (viommu) {
      // Linux intel_irq_remapping: one IRTE per vector, physical fixed delivery, DST = x2APIC ID (EIME=1), SVT=1/SQ=0 on the device's RID.
      const irte = encodeIrte({ mode: 'remapped', present: true, fpd: false, avail: 0, destinationModeLogical: false, redirectionHint: false, triggerLevel: false, deliveryMode: 0, vector: GUEST_VECTOR, destination: irteDestinationField(apicId, true), sid: DEVICE_RID, sq: 0, svt: 1 });
      actions.push(
        { kind: 'write-irte', iommu: 0, index: vcpu, value: irte },
        { kind: 'invalidate-iec', iommu: 0, descriptor: encodeIec({ granularity: 'index', indexMask: 0, interruptIndex: vcpu }) },
      );
      msg = { ...composeRemappableMsi({ handle: vcpu }), truncatedTo: undefined };
    } else if (scheme === 'xapic-logical-cluster') {
      // No cluster ID exists for APIC IDs above 59: the guest has no destination to write.
      // Guard before xapicClusterLogicalId: its signed `>> 2` makes IDs >= 2^31 negative (issue 17: "MSI destination -8").
      const ldr = (apicId < 4 * 0xf ? xapicClusterLogicalId(apicId) : undefined) ?? 0;
      msg = { ...composeCompatibilityMsi({ destination: ldr, vector: GUEST_VECTOR, destinationModeLogical: true }), truncatedTo: undefined };
    } else if (scheme === 'xapic-logical-flat') {
      // The one-hot LDR bit of APIC IDs above 7 falls outside the 8-bit destination.
      const mask = apicId < 8 ? 1 << apicId : 0;
      msg = { ...composeCompatibilityMsi({ destination: mask, vector: GUEST_VECTOR, destinationModeLogical: true }), truncatedTo: undefined };
    } else {
      msg = compatMessage(apicId, scheme === 'ext-dest-id' || scheme === 'direct-vcpu-msi' ? 15 : 8, false);
    }
    actions.push({ kind: 'program-msix', device: DEVICE, entry: 0, address: msg.address, data: msg.data, masked: false }, { kind: 'signal', device: DEVICE, vector: 0 });
    const events = simulate(base, actions);
    outcomes.push({ ...judge(vcpu, apicIds, scheme, msg, events), setup: setupOf(actions, events) });
  }
  return { scheme, outcomes };
}
