/**
 * What a VMM design costs in a run, counted from the run's events (src/scenario/run.ts
 * `RunResult.steps[].events`): the design's own cost events (`vmm-cost`: traps, VM exits,
 * device-model round trips, hypercalls, ioctls, and the 8-byte interrupt-table entries the
 * HYPOTHETICAL direct-post design writes, `table-write`), the host's interrupt-remapping work it
 * caused (IRTE stores — the `memory-write` events the `write-irte` primitive emits, whose
 * `what` is `IRTE <index> of <unit>`, src/platform/transition.ts — and IEC invalidations,
 * the `iec-invalidate` events of `invalidate-iec`, src/vtd/invalidation-queue.ts), the
 * interrupts that reached the guest (`interrupt-injected` in software, `interrupt-posted`
 * into a PID), and KVM's GSI routing table (routes in use at the end, `kvm-routing` changes
 * `full`: routes refused with -ENOSPC).
 *
 * Counts are split by the kind of step they happened in (exclusive, in this order):
 * - `programming`: an MSI set-up — a step with a guest write to the MSI-X table or to Message
 *   Control (a `guest-access` with `write` touching the `table` or `config` region:
 *   guest-mmio / guest-config), or a step whose action is the guest's interrupt set-up
 *   hypercall (`hypercall`: set-interrupt, get-msi-pair), one set-up per such step (writes to
 *   device registers, on the MSI-X pages or elsewhere, are `other`);
 * - `interrupt`: otherwise a step in which a VMM-managed function raised an entry
 *   (`device-raised`), one interrupt per `device-raised` event;
 * - `other`: every other step (IR set-up, device-model operations, reads, scheduling).
 * `all` is the sum of the three. Averages are per occurrence (programming steps,
 * raised entries), 0 when there was none.
 */
import type { PlatformEvent } from '../platform/events.ts';
import type { PlatformState } from '../platform/state.ts';
import type { Action } from '../platform/actions.ts';
import { IMS_QUIRK_WRITE } from './designs/ims-emulated.ts';

/** The counters of one group of steps (all counts of events). */
export interface CostCounts {
  readonly traps: number;
  readonly vmExits: number;
  readonly dmRoundTrips: number;
  readonly hypercalls: number;
  readonly ioctls: number;
  /** Interrupt-table entries the design wrote (`table-write`: the HYPOTHETICAL direct-post root and vAPIC entries, 8 bytes each). */
  readonly tableWrites: number;
  /** IRTE stores (16-byte writes into an interrupt remapping table). */
  readonly irteWrites: number;
  /** IEC invalidations processed (index-selective or global). */
  readonly iecInvalidations: number;
  /** Guest vectors injected in software into a vIRR. */
  readonly injections: number;
  /** Postings into a posted-interrupt descriptor. */
  readonly postings: number;
  /** KVM routes refused because the routing table was full (-ENOSPC). */
  readonly routesRefused: number;
}

/** The counter names, in the order tables print them. */
export const COST_FIELDS: readonly (keyof CostCounts)[] = ['traps', 'vmExits', 'dmRoundTrips', 'hypercalls', 'ioctls', 'tableWrites', 'irteWrites', 'iecInvalidations', 'injections', 'postings', 'routesRefused'];

/** Human labels of {@link COST_FIELDS}. */
export const COST_LABELS: Readonly<Record<keyof CostCounts, string>> = {
  traps: 'traps',
  vmExits: 'VM exits',
  dmRoundTrips: 'device-model round trips',
  hypercalls: 'hypercalls',
  ioctls: 'ioctls',
  tableWrites: 'table entry writes (hypothetical direct-post)',
  irteWrites: 'IRTE writes',
  iecInvalidations: 'IEC invalidations',
  injections: 'software injections',
  postings: 'postings',
  routesRefused: "KVM routes refused ('full')",
};

/** Totals of one group and, for a group with occurrences, the per-occurrence averages. */
export interface CostGroup {
  /** Occurrences: programming steps, or raised entries; steps for `other`. */
  readonly occurrences: number;
  readonly total: CostCounts;
  /** `total` divided by `occurrences` (0 when there were none). */
  readonly average: CostCounts;
}

/** A run's VMM costs. */
export interface VmmCosts {
  /** Per MSI set-up: steps with a guest write to the MSI-X table or Message Control, a guest set-up hypercall, or a slot write the ims-emulated quirk trapped. */
  readonly programming: CostGroup;
  /** Per interrupt: `device-raised` and `ims-raised` events in steps without a guest write. */
  readonly interrupt: CostGroup;
  /** The remaining steps. */
  readonly other: CostGroup;
  /** Sum of the three groups (occurrences: every step). */
  readonly all: CostCounts;
  /** KVM MSI routes in use at the end of the run (state.vmm.kvm.routes), 0 without a VMM. */
  readonly kvmRoutesInUse: number;
  /** The routing table's capacity, 0 without a VMM. */
  readonly kvmRouteCapacity: number;
}

/** A step's events (RunResult.steps[i]). */
export interface StepEvents {
  readonly events: readonly PlatformEvent[];
  /** The step's actions (a run's compiled step), when known: a guest hypercall makes it an MSI set-up. */
  readonly step?: { readonly actions: readonly Action[] };
}

const ZERO: CostCounts = { traps: 0, vmExits: 0, dmRoundTrips: 0, hypercalls: 0, ioctls: 0, tableWrites: 0, irteWrites: 0, iecInvalidations: 0, injections: 0, postings: 0, routesRefused: 0 };

const COST_OF: Readonly<Record<string, keyof CostCounts>> = { trap: 'traps', 'vm-exit': 'vmExits', 'dm-round-trip': 'dmRoundTrips', hypercall: 'hypercalls', ioctl: 'ioctls', 'table-write': 'tableWrites' };

/** Whether a `memory-write` is an IRTE store (src/platform/transition.ts `write-irte`: `IRTE <index> of <unit>`). */
function isIrteWrite(e: PlatformEvent): boolean {
  return e.kind === 'memory-write' && e.what !== undefined && /^IRTE \d+ of /.test(e.what);
}

/** The counts of `events`. */
export function countCosts(events: readonly PlatformEvent[]): CostCounts {
  const c: Record<keyof CostCounts, number> = { ...ZERO };
  for (const e of events) {
    if (e.kind === 'vmm-cost') {
      const f = COST_OF[e.cost];
      if (f !== undefined) c[f]++;
    } else if (isIrteWrite(e)) c.irteWrites++;
    else if (e.kind === 'iec-invalidate') c.iecInvalidations++;
    else if (e.kind === 'interrupt-injected') c.injections++;
    else if (e.kind === 'interrupt-posted') c.postings++;
    else if (e.kind === 'kvm-routing' && e.change === 'full') c.routesRefused++;
  }
  return c;
}

function add(a: CostCounts, b: CostCounts): CostCounts {
  return Object.fromEntries(COST_FIELDS.map((f) => [f, a[f] + b[f]])) as unknown as CostCounts;
}

function group(occurrences: number, total: CostCounts): CostGroup {
  const average = Object.fromEntries(COST_FIELDS.map((f) => [f, occurrences === 0 ? 0 : total[f] / occurrences])) as unknown as CostCounts;
  return { occurrences, total, average };
}

/** Which group a step belongs to (see the module comment). */
export function stepKind(events: readonly PlatformEvent[], actions: readonly Action[] = []): 'programming' | 'interrupt' | 'other' {
  if (events.some((e) => e.kind === 'guest-access' && e.write && e.regions.some((r) => r === 'table' || r === 'config'))) return 'programming';
  if (actions.some((a) => a.kind === 'hypercall')) return 'programming';
  // A slot write the ims-emulated quirk trapped is an MSI set-up too; an IMS slot's raise an interrupt.
  if (events.some((e) => e.kind === 'vmm-cost' && e.cost === 'trap' && e.detail.startsWith(IMS_QUIRK_WRITE))) return 'programming';
  if (events.some((e) => e.kind === 'device-raised' || e.kind === 'ims-raised')) return 'interrupt';
  return 'other';
}

/**
 * The VMM costs of a run: `steps` its per-step events, `final` its final state (for the
 * KVM routes in use). Pure and deterministic.
 */
export function vmmCosts(steps: readonly StepEvents[], final?: PlatformState): VmmCosts {
  const totals = { programming: ZERO, interrupt: ZERO, other: ZERO };
  const occurrences = { programming: 0, interrupt: 0, other: 0 };
  for (const s of steps) {
    const kind = stepKind(s.events, s.step?.actions);
    totals[kind] = add(totals[kind], countCosts(s.events));
    occurrences[kind] += kind === 'interrupt' ? s.events.filter((e) => e.kind === 'device-raised' || e.kind === 'ims-raised').length : 1;
  }
  return {
    programming: group(occurrences.programming, totals.programming),
    interrupt: group(occurrences.interrupt, totals.interrupt),
    other: group(occurrences.other, totals.other),
    all: add(add(totals.programming, totals.interrupt), totals.other),
    kvmRoutesInUse: final?.vmm === undefined ? 0 : Object.keys(final.vmm.kvm.routes).length,
    kvmRouteCapacity: final?.vmm?.kvm.capacity ?? 0,
  };
}
