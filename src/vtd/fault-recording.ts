/**
 * Primary fault logging of a remapping unit (VT-d §7.2.1, §10.4.14 FRCD_REG, §10.4.9
 * FSTS_REG, §10.4.10 FECTL_REG). Hardware writes the record at FSTS.FRI if that
 * record's F bit is clear, sets F, advances FRI modulo the number of records and sets
 * PPF; if F is already set the fault is lost and FSTS.PFO is set (QEMU
 * `vtd_report_frcd_fault` / `next_frcd_reg`). A recorded fault is a fault-event interrupt
 * condition when no FSTS status field was set before (src/vtd/fault-event.ts: FECTL.IP is
 * set, and the message is sent after the transition when FECTL.IM = 0; QEMU
 * `vtd_generate_fault_event`). Software clears a record by writing 1 to its F bit; PPF is
 * derived from the F bits, and FECTL.IP clears once nothing is left to service.
 */
import type { IommuUnit } from '../platform/state.ts';
import { encodeFaultRecord, FRCD_F_BIT as F_BIT, interruptFaultRaw, type FaultRecord } from './fault-record.ts';
import { decodeFsts, encodeFsts } from './registers.ts';
import { derivedPpf, faultCondition, serviceFaultIp } from './fault-event.ts';


/**
 * Write `record` at FSTS.FRI, or set FSTS.PFO when that record is still pending.
 * Returns the unit after and the FRCD index written (undefined when the fault was lost).
 */
function record(unit: IommuUnit, faultRecord: FaultRecord): { unit: IommuUnit; record: number | undefined } {
  return recordRaw(unit, encodeFaultRecord(faultRecord));
}

/**
 * {@link record} of an encoded 128-bit record. FSTS is changed as bits (FRI 15:8, PPF bit 1,
 * PFO bit 0; every other bit kept), as decodeFsts / encodeFsts would leave it: FRI < the
 * number of records ≤ 256 (CAP.NFR + 1) always fits its 8 bits.
 */
function recordRaw(unit: IommuUnit, raw: bigint): { unit: IommuUnit; record: number | undefined } {
  const fsts = unit.regs.fsts;
  const fri = ((fsts >>> FSTS_FRI_SHIFT) & 0xff) % unit.frcd.length;
  if ((unit.frcd[fri]! & F_BIT) !== 0n) {
    return { unit: { ...unit, regs: { ...unit.regs, fsts: (fsts | FSTS_PFO) >>> 0 } }, record: undefined };
  }
  const frcd = unit.frcd.slice();
  frcd[fri] = raw;
  const regs = { ...unit.regs, fsts: ((fsts & ~(FSTS_FRI_MASK | FSTS_PPF)) | FSTS_PPF | (((fri + 1) % frcd.length) << FSTS_FRI_SHIFT)) >>> 0 };
  return { unit: faultCondition({ ...unit, frcd, regs }, fsts), record: fri };
}

/** FSTS_REG fields (VT-d §11.4.9; src/vtd/registers.ts FSTS). */
const FSTS_PFO = 1 << 0;
const FSTS_PPF = 1 << 1;
const FSTS_FRI_SHIFT = 8;
const FSTS_FRI_MASK = 0xff << FSTS_FRI_SHIFT;

/** Record an interrupt-remapping fault. `record` is the FRCD index written, or undefined when lost (PFO). */
export function recordInterruptFault(
  unit: IommuUnit,
  fault: { reason: number; sid: number; index: number },
): { unit: IommuUnit; record: number | undefined } {
  return recordRaw(unit, interruptFaultRaw({ reason: fault.reason, sourceId: fault.sid, index: fault.index }));
}

/** Software writes 1 to F of record `record` (RW1C); PPF follows whether any F remains set. */
export function clearFaultRecord(unit: IommuUnit, record: number): IommuUnit {
  if (record < 0 || record >= unit.frcd.length) return unit;
  const frcd = unit.frcd.slice();
  frcd[record] = frcd[record]! & ~F_BIT;
  const cleared = { ...unit, frcd };
  const fsts = decodeFsts(unit.regs.fsts);
  return serviceFaultIp({ ...cleared, regs: { ...unit.regs, fsts: encodeFsts({ ...fsts, PPF: derivedPpf(cleared) }) } });
}

/**
 * Record a DMA-remapping fault (VT-d §7.2.1): FI = the faulting page address, SID, FR,
 * T = 1 for a read (0 for a write), PP/PV when the request carried a PASID.
 */
export function recordDmaFault(
  unit: IommuUnit,
  fault: { reason: number; sid: number; address: bigint; read: boolean; pasid?: number },
): { unit: IommuUnit; record: number | undefined } {
  return record(unit, {
    fault: true,
    readOrAtomic: fault.read,
    addressType: 0,
    pasidValue: fault.pasid ?? 0,
    faultReason: fault.reason,
    pasidPresent: fault.pasid !== undefined,
    execute: false,
    privileged: false,
    sourceId: fault.sid,
    faultInfo: fault.address & ~0xfffn & ((1n << 64n) - 1n),
  });
}
