/**
 * P6 Fault accountability (DESIGN.md §3 style): every interrupt request or DMA request that
 * the IOMMU rejects is accounted for to the software that owns the unit — recorded in a
 * fault recording register (FRCD), or lost to an overflow that sets FSTS.PFO — unless the
 * structure the request used says not to: the IRTE's FPD for a qualified interrupt-remapping
 * fault (VT-d §5.1.4.1, fault reasons 0x22, 0x24, 0x26–0x28), the FPD of the context, PASID
 * directory or PASID entry for a qualified DMA-remapping fault (VT-d §7.1.3; QEMU
 * `vtd_qualified_faults`), and abort-DMA mode, which records nothing (src/vtd/dma/walk.ts).
 *
 * The recording rule is VT-d §7.2.1 "Primary Fault Logging" (src/vtd/fault-recording.ts):
 * hardware writes the record at FSTS.FRI if that record's F is clear, else the fault is
 * lost and FSTS.PFO is set. So each rejection is judged against the state after its action,
 * not against what the event claims:
 *
 * - `frcd` given: FRCD[frcd] must hold a pending record (F = 1) of that fault — its reason,
 *   source ID, and the interrupt index (interrupt faults) or the faulting page, read/write
 *   type and PASID (DMA faults);
 * - `frcd` absent: either the fault is exempt — checked independently, from the IRTE the
 *   unit used (its IEC copy, else the table in memory) or from a fresh walk of the DMA request
 *   (the FPD of the entries it reads, and whether the walk itself records) — or the loss is an
 *   overflow: FSTS.PFO set *and* the record at FSTS.FRI still pending (the only state in which
 *   hardware drops a fault).
 *
 * Requests that never reach the IOMMU's remapping logic are not its to record and are only
 * counted: a malformed request to the interrupt range that the root complex aborts as an
 * Unsupported Request (`unsupported-request`, XSA-59: "detected and aborted by the platform,
 * before they are subject to further interrupt remapping"), and a request a fabric port
 * drops (`request-blocked`, ACS Source Validation).
 *
 * Read by properties only: it takes events and state and changes nothing.
 */
import type { DmaFaultEvent, InterruptFaultEvent, PlatformEvent } from '../platform/events.ts';
import type { IommuUnit, PlatformState } from '../platform/state.ts';
import { decodeFaultRecord, faultRecordInterruptIndex } from '../vtd/fault-record.ts';
import { decodeFsts, decodeIrta } from '../vtd/registers.ts';
import { faultReason } from '../vtd/fault-reasons.ts';
import { decodeIrte, IRTE_BYTES } from '../vtd/irte.ts';
import { iecLookup } from '../vtd/iec.ts';
import { translateDma } from '../vtd/dma/walk.ts';
import { dmaCapabilities } from '../platform/dma-access.ts';
import { formatBdf } from '../pci/bdf.ts';
import { amdFaultOutcome } from './p6-amdvi.ts';

export interface P6Violation {
  readonly property: 'P6';
  readonly step: number;
  readonly message: string;
}

/** How each rejected request was accounted for (the verdict line's counts). */
export interface FaultTally {
  /** IOMMU rejections recorded in an FRCD. */
  recorded: number;
  /** IOMMU rejections lost to a full set of FRCDs, with FSTS.PFO set. */
  overflow: number;
  /** IOMMU rejections whose recording FPD (or abort-DMA mode) suppresses. */
  suppressed: number;
  /** IOMMU rejections not accounted for (each one a violation). */
  unaccounted: number;
  /** Malformed interrupt-range requests the root complex aborted (Unsupported Request). */
  aborted: number;
  /** Requests a fabric port dropped (ACS Source Validation). */
  blocked: number;
  /** AMD-Vi rejections written to the unit's event log (spec 48882 §2.5). */
  logged: number;
  /** AMD-Vi rejections dropped by a full event log, with Status.EventOverflow set (§3.4.10). */
  logOverflow: number;
  /** AMD-Vi rejections the spec lets software keep out of the log (DTE.IG, IRTE.SupIOPF, DTE.SA) or never logged (IntCtl = 00, a pass bit clear). */
  logSuppressed: number;
}

/** A tally with every count 0. */
export function emptyFaultTally(): FaultTally {
  return { recorded: 0, overflow: 0, suppressed: 0, unaccounted: 0, aborted: 0, blocked: 0, logged: 0, logOverflow: 0, logSuppressed: 0 };
}

/** Requests rejected in all (IOMMU faults, UR aborts, fabric drops). */
export function rejectedCount(t: FaultTally): number {
  return t.recorded + t.overflow + t.suppressed + t.unaccounted + t.aborted + t.blocked + t.logged + t.logOverflow + t.logSuppressed;
}

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

type Outcome = { readonly how: 'recorded' | 'overflow' | 'suppressed' | 'logged' | 'logOverflow' | 'logSuppressed' } | { readonly how: 'unaccounted'; readonly why: string };

/** The unit dropped a fault because its FRCDs are full: PFO set and the record at FRI still pending (VT-d §7.2.1). */
function overflowed(unit: IommuUnit): boolean {
  const fsts = decodeFsts(unit.regs.fsts);
  if (!fsts.PFO || unit.frcd.length === 0) return false;
  const at = unit.frcd[fsts.FRI % unit.frcd.length];
  return at !== undefined && decodeFaultRecord(at).record.fault;
}

const qualified = (reason: number): boolean => faultReason(reason)?.qualified ?? false;

/** FPD of the IRTE the unit used for interrupt index `index`: its IEC copy, else the entry in memory. */
function irteFpd(state: PlatformState, unit: IommuUnit, index: number): boolean {
  const cached = iecLookup(unit.iec, index);
  if (cached !== undefined) return cached.irte.fpd;
  const address = decodeIrta(unit.regs.irtaLatched).base + BigInt(index * IRTE_BYTES);
  return decodeIrte(state.memory.readLE(address, IRTE_BYTES)).irte.fpd;
}

/** Why FRCD[`index`] is not the record of `e`, or undefined when it is. */
function recordMismatch(unit: IommuUnit, index: number, e: InterruptFaultEvent | DmaFaultEvent): string | undefined {
  const raw = unit.frcd[index];
  if (raw === undefined) return `the unit has no FRCD${index} (it has ${unit.frcd.length})`;
  const r = decodeFaultRecord(raw).record;
  if (!r.fault) return `FRCD${index} is not pending (F = 0)`;
  const wrong: string[] = [];
  if (r.faultReason !== e.reason) wrong.push(`FR ${hex(r.faultReason)}`);
  if (r.sourceId !== e.rid) wrong.push(`SID ${formatBdf(r.sourceId)}`);
  if (e.kind === 'interrupt-fault') {
    // A (hypothetical) direct-post fault records the vAPIC ID in FI[63:48] where VT-d puts the interrupt index.
    if (faultRecordInterruptIndex(r) !== (e.directPost?.vapicId ?? e.irteIndex ?? 0)) wrong.push(`index ${hex(faultRecordInterruptIndex(r))}`);
  } else {
    if (r.faultInfo !== (e.iova & ~0xfffn)) wrong.push(`FI ${hex(r.faultInfo)}`);
    if (r.readOrAtomic !== !e.write) wrong.push(`T ${r.readOrAtomic ? 'read' : 'write'}`);
    if (r.pasidPresent !== (e.pasid !== undefined) || (e.pasid !== undefined && r.pasidValue !== e.pasid)) wrong.push(r.pasidPresent ? `PASID ${hex(r.pasidValue)}` : 'no PASID');
  }
  return wrong.length === 0 ? undefined : `FRCD${index} holds another fault (${wrong.join(', ')})`;
}

/** Whether a DMA fault's recording is suppressed, judged by walking the request again (FPD of the entries it reads; abort-DMA mode). */
function dmaExempt(state: PlatformState, unit: IommuUnit, e: DmaFaultEvent): boolean {
  const w = translateDma(state.memory, { rtaddr: unit.regs.rtaddrLatched, cap: dmaCapabilities(unit, state.hostAddressWidth) }, {
    rid: e.rid,
    iova: e.iova,
    size: e.size,
    read: !e.write,
    write: e.write,
    ...(e.pasid === undefined ? {} : { pasid: e.pasid }),
  });
  // A faulting walk says itself whether hardware records; a translation that succeeds was
  // blocked afterwards (its output in the interrupt range, or a cached entry the tables no
  // longer give): FPD of the entries it read, for a qualified reason.
  return w.ok ? w.fpd && qualified(e.reason) : !w.fault.record;
}

function account(state: PlatformState, e: InterruptFaultEvent | DmaFaultEvent): Outcome {
  // An AMD-Vi unit logs to its event log, not FRCDs (src/properties/p6-amdvi.ts).
  if (e.amdvi !== undefined) return amdFaultOutcome(e.amdvi.logging);
  const unit = e.iommu === undefined ? undefined : state.iommus[e.iommu];
  if (unit === undefined) return { how: 'unaccounted', why: 'no remapping unit holds a record of it' };
  if (e.frcd !== undefined) {
    const wrong = recordMismatch(unit, e.frcd, e);
    return wrong === undefined ? { how: 'recorded' } : { how: 'unaccounted', why: `the event names FRCD${e.frcd}, but ${wrong}` };
  }
  const exempt = e.kind === 'interrupt-fault' ? qualified(e.reason) && e.irteIndex !== undefined && irteFpd(state, unit, e.irteIndex) : dmaExempt(state, unit, e);
  if (exempt) return { how: 'suppressed' };
  if (overflowed(unit)) return { how: 'overflow' };
  const fsts = decodeFsts(unit.regs.fsts);
  return {
    how: 'unaccounted',
    why: `no FRCD holds it, FSTS.PFO is ${fsts.PFO ? 'set but FRCD' + (fsts.FRI % Math.max(1, unit.frcd.length)) + ' (at FRI) is free' : 'clear'}, and ${qualified(e.reason) ? 'no FPD suppresses it' : 'the fault is not qualified (FPD cannot suppress it)'}`,
  };
}

function describe(e: InterruptFaultEvent | DmaFaultEvent, state: PlatformState): string {
  const unit = e.iommu === undefined ? 'no unit' : (state.iommus[e.iommu]?.name ?? `unit ${e.iommu}`);
  return e.kind === 'interrupt-fault'
    ? `${e.device}'s interrupt request ${hex(e.address)}/${hex(e.data)} blocked by ${unit} with fault ${hex(e.reason)}${e.irteIndex === undefined ? '' : ` (index ${hex(e.irteIndex)})`}`
    : `${e.device}'s DMA ${e.write ? 'write' : 'read'} of IOVA ${hex(e.iova)}${e.pasid === undefined ? '' : ` PASID ${hex(e.pasid)}`} blocked by ${unit} with fault ${hex(e.reason)} (${e.condition})`;
}

/**
 * P6 violations among one action's `events`, judged against the state after the action;
 * `tally`, when given, counts how each rejection was accounted for.
 */
export function checkFaultAccountability(state: PlatformState, events: readonly PlatformEvent[], tally?: FaultTally): P6Violation[] {
  const out: P6Violation[] = [];
  for (const e of events) {
    if (e.kind === 'unsupported-request') {
      if (tally) tally.aborted++;
      continue;
    }
    if (e.kind === 'request-blocked') {
      if (tally) tally.blocked++;
      continue;
    }
    if (e.kind !== 'interrupt-fault' && e.kind !== 'dma-fault') continue;
    const o = account(state, e);
    if (tally) tally[o.how]++;
    if (o.how === 'unaccounted') out.push({ property: 'P6', step: e.step, message: `${describe(e, state)} is not accounted for: ${o.why}` });
  }
  return out;
}
