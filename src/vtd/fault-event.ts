/**
 * The remapping unit's own event interrupts: the fault event (FECTL/FEDATA/FEADDR/FEUADDR,
 * VT-d §7.4 "Fault Reporting", §11.4.7) and the invalidation-completion event
 * (IECTL/IEDATA/IEADDR/IEUADDR with ICS.IWC, VT-d §6.5.2.8, §11.4.9). Reference sheet §5.4, §7.1.
 *
 * Interrupt conditions (VT-d §11.4.7.2 FECTL.IP; QEMU hw/i386/intel_iommu.c
 * `vtd_generate_fault_event`, `vtd_generate_completion_event`): hardware sets IP when a status
 * field is set — a fault recorded (PPF), an invalidation-queue error (IQE), ICE, ITE — and no
 * status field was set before (otherwise it is not a new interrupt condition); for the
 * completion event, when ICS.IWC is set and was clear. With IM = 0 the message is sent at once
 * and IP cleared; with IM = 1 IP stays set and the message is sent when software clears IM
 * (VirtualBox DevIommuIntel.cpp `dmarFectlRegWrite`, QEMU `vtd_handle_fectl_write`). IP is also
 * cleared when software services every status field (QEMU `vtd_handle_fsts_write`,
 * `vtd_handle_ics_write`).
 *
 * The message is a DWORD write of the data register to the address registers, issued by the
 * unit itself and never remapped (QEMU `vtd_generate_interrupt` hands it to the APIC
 * directly): a compatibility-format MSI to the local APIC(s) the address names. With ECAP.EIM
 * the upper address register carries destination bits 31:8 (Linux arch/x86 `__irq_msi_compose_msg`
 * with `dmar = true`, `destid_8_31`).
 *
 * The register functions are pure on an {@link IommuUnit}; src/platform/event-interrupts.ts is the
 * platform pass, run after every transition, that sends what is pending and unmasked.
 */
import type { IommuUnit } from '../platform/state.ts';
import {
  decodeEcap,
  decodeFsts,
  encodeFsts,
  EVENT_ADDRESS_REG,
  EVENT_DATA_REG,
  FSTS_EVENT_STATUS_MASK,
  FSTS_RW1C_MASK,
  ICS_REG,
  IECTL_REG,
} from './registers.ts';
import { decodeFaultRecord } from './fault-record.ts';
import { decodeCompatibilityAddress } from '../x86/msi.ts';

/** The two event interrupts of a unit. */
export type EventSource = 'fault' | 'invalidation-completion';

/** IM (bit 31) and IP (bit 30) of FECTL and IECTL (sheet §5.4, §7.1). */
export const EVENT_IM = 0x8000_0000;
export const EVENT_IP = 0x4000_0000;

const withRegs = (unit: IommuUnit, regs: Partial<IommuUnit['regs']>): IommuUnit => ({ ...unit, regs: { ...unit.regs, ...regs } });

/**
 * A fault-event interrupt condition: `preFsts` is FSTS before the status field was set. When no
 * status field (PFO, PPF, AFO, APF, IQE, ICE, ITE) was set before, FECTL.IP is set; otherwise the
 * condition is not a new interrupt (VT-d §11.4.7.2; QEMU `vtd_generate_fault_event`).
 */
export function faultCondition(unit: IommuUnit, preFsts: number): IommuUnit {
  if ((preFsts & FSTS_EVENT_STATUS_MASK) !== 0) return unit;
  return withRegs(unit, { fectl: (unit.regs.fectl | EVENT_IP) >>> 0 });
}

/**
 * An invalidation wait descriptor with IF completed: ICS.IWC is set; when it was clear, IECTL.IP
 * is set (QEMU `vtd_generate_completion_event`: "One pending, skip current" otherwise).
 */
export function completionCondition(unit: IommuUnit): IommuUnit {
  if ((unit.regs.ics & 1) !== 0) return unit;
  return withRegs(unit, { ics: (unit.regs.ics | 1) >>> 0, iectl: (unit.regs.iectl | EVENT_IP) >>> 0 });
}

/** FSTS.PPF as the hardware derives it: set while any FRCD has F set (VT-d §11.4.7.1). */
export function derivedPpf(unit: IommuUnit): boolean {
  return unit.frcd.some((r) => decodeFaultRecord(r).record.fault);
}

/** FECTL.IP cleared once software has serviced every status field of FSTS (QEMU `vtd_handle_fsts_write`). */
export function serviceFaultIp(unit: IommuUnit): IommuUnit {
  if ((unit.regs.fectl & EVENT_IP) === 0 || (unit.regs.fsts & FSTS_EVENT_STATUS_MASK) !== 0) return unit;
  return withRegs(unit, { fectl: (unit.regs.fectl & ~EVENT_IP) >>> 0 });
}

/**
 * Software writes FSTS_REG (0x34): 1s clear the RW1C status fields (PFO, AFO, APF, IQE, ICE, ITE,
 * PRO); PPF follows the FRCD F bits and FRI is read-only (VT-d §11.4.7.1; VirtualBox
 * `VTD_FSTS_REG_RW1C_MASK`). IP is then cleared if nothing is left to service.
 */
export function writeFsts(unit: IommuUnit, value: number): IommuUnit {
  const cleared = (unit.regs.fsts & ~(value & FSTS_RW1C_MASK)) >>> 0;
  const f = decodeFsts(cleared);
  const fsts = encodeFsts({ ...f, PPF: derivedPpf(unit), reserved: 0 });
  return serviceFaultIp(withRegs(unit, { fsts }));
}

/** Software writes FECTL_REG (0x38): only IM is writable; IP is read-only (VirtualBox `VTD_FECTL_REG_RW_MASK`). */
export function writeFectl(unit: IommuUnit, value: number): IommuUnit {
  return withRegs(unit, { fectl: ((unit.regs.fectl & EVENT_IP) | (value & EVENT_IM)) >>> 0 });
}

/** Software writes IECTL_REG (0xA0): only IM is writable. */
export function writeIectl(unit: IommuUnit, value: number): IommuUnit {
  return withRegs(unit, { iectl: ((unit.regs.iectl & EVENT_IP) | (value & EVENT_IM)) >>> 0 });
}

/**
 * Software writes ICS_REG (0x9C): IWC is RW1C; once it is clear, IECTL.IP is cleared too
 * (VirtualBox `dmarIcsRegWrite`, QEMU `vtd_handle_ics_write`).
 */
export function writeIcs(unit: IommuUnit, value: number): IommuUnit {
  const ics = (unit.regs.ics & ~(value & 1)) >>> 0;
  const iectl = (ics & 1) === 0 ? (unit.regs.iectl & ~EVENT_IP) >>> 0 : unit.regs.iectl;
  return withRegs(unit, { ics, iectl });
}

/**
 * The writable bits of the data and address registers: IMD 15:0 and MA 31:2 (VirtualBox
 * `VTD_FEDATA_REG_RW_MASK`, `VTD_FEADDR_REG_RW_MASK`); the upper address is writable whole.
 */
export const EVENT_DATA_RW_MASK = Number(EVENT_DATA_REG.encode({ IMD: 0xffff }));
export const EVENT_ADDRESS_RW_MASK = Number(EVENT_ADDRESS_REG.encode({ MA: 0x3fff_ffff }));

/** Software writes the data, address or upper-address register of `source`'s message (writable bits only). */
export function writeEventMessage(unit: IommuUnit, source: EventSource, register: 'data' | 'address' | 'upper', value: number): IommuUnit {
  const v = value >>> 0;
  const masked = register === 'data' ? (v & EVENT_DATA_RW_MASK) >>> 0 : register === 'address' ? (v & EVENT_ADDRESS_RW_MASK) >>> 0 : v;
  const key = source === 'fault' ? ({ data: 'fedata', address: 'feaddr', upper: 'feuaddr' } as const)[register] : ({ data: 'iedata', address: 'ieaddr', upper: 'ieuaddr' } as const)[register];
  return withRegs(unit, { [key]: masked });
}

/** The message a unit sends for `source`: the 64-bit address (upper register << 32 | address register) and the data. */
export function eventMessage(unit: IommuUnit, source: EventSource): { address: bigint; data: number } {
  const r = unit.regs;
  const [data, lo, hi] = source === 'fault' ? [r.fedata, r.feaddr, r.feuaddr] : [r.iedata, r.ieaddr, r.ieuaddr];
  return { address: (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0), data: data >>> 0 };
}

/** Whether `unit` has `source`'s message pending (IP) and unmasked (IM = 0): it must be sent now. */
export function mustSend(unit: IommuUnit, source: EventSource): boolean {
  const ctl = source === 'fault' ? unit.regs.fectl : unit.regs.iectl;
  return (ctl & EVENT_IP) !== 0 && (ctl & EVENT_IM) === 0;
}

/** Decoded IECTL/FECTL fields (for traces and the dump). */
export function describeEventControl(value: number): string {
  const f = IECTL_REG.decode(BigInt(value >>> 0));
  return `IM=${+f.IM} IP=${+f.IP}`;
}

/** Decoded ICS (for the dump). */
export function describeIcs(value: number): string {
  return `IWC=${+ICS_REG.decode(BigInt(value >>> 0)).IWC}`;
}

/** Destination APIC ID of an event message: address bits 19:12, plus upper-address bits 31:8 on a unit with ECAP.EIM. */
export function eventDestination(unit: IommuUnit, address: bigint): { destination: number; logical: boolean; redirectionHint: boolean } {
  const a = decodeCompatibilityAddress(address & 0xffff_ffffn);
  const upper = Number((address >> 32n) & 0xffff_ff00n);
  const eim = decodeEcap(unit.ecap).EIM;
  return { destination: (eim ? upper | a.destinationId : a.destinationId) >>> 0, logical: a.destinationModeLogical, redirectionHint: a.redirectionHint };
}
