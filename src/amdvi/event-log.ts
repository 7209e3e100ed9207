/**
 * AMD-Vi event log: 128-bit entries, their codes and the ring the IOMMU appends them to
 * (spec 48882 §2.5 "Event Logging"; Linux `drivers/iommu/amd/iommu.c` `iommu_print_event`,
 * `amd_iommu_types.h` `EVENT_TYPE_*`, `EVENT_FLAG_*`; QEMU `amdvi_log_event`,
 * `amdvi_encode_event`; VirtualBox `iommu-amd.h` `EVT_*_T`, `DevIommuAmd.cpp`
 * `iommuAmdEvtLogEntryWrite`). Fact sheet amdvi-facts.md §5.
 *
 * Every code shares one container layout (Linux decodes them all the same way): DeviceID
 * 15:0, PASID[19:16] 19:16, vIOMMU flags 31:27, DomainID or PASID[15:0] 47:32, flags 59:48,
 * EventCode 63:60, address / operand 127:64. An entry is one bigint `qword1 << 64 | qword0`.
 */
import { defineLayout } from '../bits/layout.ts';
import { maskOf } from '../bits/bits.ts';
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import type { AmdViRegisters } from './unit.ts';
import { CONTROL_BITS, STATUS_BITS, regBit, ringAddress, ringBytes, ringOffset } from './registers.ts';

/** Bytes per event log entry. */
export const EVENT_ENTRY_BYTES = 16;

/** Event codes (Linux `EVENT_TYPE_*`; VirtualBox `IOMMU_EVT_*`; FreeBSD; sheet §5 table). */
export const EVENT_CODE = Object.freeze({
  ILLEGAL_DEV_TABLE_ENTRY: 0x1,
  IO_PAGE_FAULT: 0x2,
  DEV_TAB_HARDWARE_ERROR: 0x3,
  PAGE_TAB_HARDWARE_ERROR: 0x4,
  ILLEGAL_COMMAND_ERROR: 0x5,
  COMMAND_HARDWARE_ERROR: 0x6,
  IOTLB_INV_TIMEOUT: 0x7,
  INVALID_DEVICE_REQUEST: 0x8,
  INVALID_PPR_REQUEST: 0x9,
  /** FreeBSD 0xA; VirtualBox 0x10 cannot fit 4 bits (sheet [DISAGREE]). */
  EVENT_COUNTER_ZERO: 0xa,
  GUEST_EVENT_FAULT: 0xb,
  VIOMMU_HW_ERROR: 0xc,
  RMP_PAGE_FAULT: 0xd,
  RMP_HW_ERROR: 0xe,
} as const);

export type EventCodeName = keyof typeof EVENT_CODE;

/** Name of an event code as Linux prints it (`iommu_print_event`), or `UNKNOWN` for 0 and 0xF. */
export function eventCodeName(code: number): EventCodeName | 'UNKNOWN' {
  for (const [name, c] of Object.entries(EVENT_CODE)) if (c === code) return name as EventCodeName;
  return 'UNKNOWN';
}

/** The common 128-bit container (sheet §5 "Common layout"; flag bits GN 48 … TYPE 59:57). */
export const EVENT_ENTRY_LAYOUT = defineLayout({
  name: 'AMD-Vi event log entry',
  width: 128,
  fields: {
    DeviceID: { hi: 15, lo: 0 },
    PASID_19_16: { hi: 19, lo: 16 },
    VFlags: { hi: 31, lo: 27 },
    DomainOrPasid: { hi: 47, lo: 32 },
    GN: { hi: 48, lo: 48 },
    NX: { hi: 49, lo: 49 },
    US: { hi: 50, lo: 50 },
    I: { hi: 51, lo: 51 },
    PR: { hi: 52, lo: 52 },
    RW: { hi: 53, lo: 53 },
    PE: { hi: 54, lo: 54 },
    RZ: { hi: 55, lo: 55 },
    TR: { hi: 56, lo: 56 },
    TYPE: { hi: 59, lo: 57 },
    EventCode: { hi: 63, lo: 60 },
    AddressLo: { hi: 95, lo: 64 },
    AddressHi: { hi: 127, lo: 96 },
  },
  reserved: [{ hi: 26, lo: 20 }],
});

/** Flags 59:48 (Linux prints them as `flags=0x%04x`: GN bit 0 … TYPE bits 11:9). */
export interface EventFlags {
  /** Guest (GN): PASID valid / guest translation. */
  gn: boolean;
  /** No-execute. */
  nx: boolean;
  /** User/supervisor. */
  us: boolean;
  /** Interrupt request (Linux `EVENT_FLAG_I 0x008`). */
  i: boolean;
  /** Present (for interrupts: mirrors IRTE RemapEn). */
  pr: boolean;
  /** 1 = write (Linux `EVENT_FLAG_RW 0x020`). */
  rw: boolean;
  /** Permission violation. */
  pe: boolean;
  /** Reserved bit set / bad level. */
  rz: boolean;
  /** Translation request. */
  tr: boolean;
  /** TYPE, flags 11:9 (hardware-error type for codes 3/4/6). */
  type: number;
}

export interface AmdEvent {
  code: number;
  deviceId: number;
  /** PASID[19:16] (bits 19:16). */
  pasidHi: number;
  /** vIOMMU flags 31:27. */
  vflags: number;
  /** DomainID, or PASID[15:0] when GN = 1 (bits 47:32). */
  domainOrPasid: number;
  flags: EventFlags;
  /** Address / operand, bits 127:64 (64-bit). */
  address: bigint;
  /** Reserved bits 26:20 that are set, in place. */
  reserved: bigint;
}

const NO_FLAGS: EventFlags = Object.freeze({ gn: false, nx: false, us: false, i: false, pr: false, rw: false, pe: false, rz: false, tr: false, type: 0 });

/** Decode a 128-bit event log entry. Never throws: bits above 127 are dropped. */
export function decodeEvent(raw: bigint): AmdEvent {
  const v = raw & maskOf(128);
  const f = EVENT_ENTRY_LAYOUT.decode(v);
  return {
    code: f.EventCode,
    deviceId: f.DeviceID,
    pasidHi: f.PASID_19_16,
    vflags: f.VFlags,
    domainOrPasid: f.DomainOrPasid,
    flags: {
      gn: f.GN === 1,
      nx: f.NX === 1,
      us: f.US === 1,
      i: f.I === 1,
      pr: f.PR === 1,
      rw: f.RW === 1,
      pe: f.PE === 1,
      rz: f.RZ === 1,
      tr: f.TR === 1,
      type: f.TYPE,
    },
    address: (BigInt(f.AddressHi) << 32n) | BigInt(f.AddressLo),
    reserved: EVENT_ENTRY_LAYOUT.reservedSet(v),
  };
}

/**
 * Encode an event log entry (inverse of {@link decodeEvent}).
 * @throws RangeError when a field does not fit, `address` is not 64-bit or `reserved` lies outside 26:20.
 */
export function encodeEvent(e: AmdEvent): bigint {
  if (e.address < 0n || e.address > maskOf(64)) throw new RangeError(`event address 0x${e.address.toString(16)} is not 64-bit`);
  if (e.reserved < 0n || (e.reserved & ~EVENT_ENTRY_LAYOUT.reservedMask) !== 0n) {
    throw new RangeError(`event reserved bits 0x${e.reserved.toString(16)} outside 26:20`);
  }
  const b = (x: boolean): number => (x ? 1 : 0);
  return EVENT_ENTRY_LAYOUT.encode(
    {
      DeviceID: e.deviceId,
      PASID_19_16: e.pasidHi,
      VFlags: e.vflags,
      DomainOrPasid: e.domainOrPasid,
      GN: b(e.flags.gn),
      NX: b(e.flags.nx),
      US: b(e.flags.us),
      I: b(e.flags.i),
      PR: b(e.flags.pr),
      RW: b(e.flags.rw),
      PE: b(e.flags.pe),
      RZ: b(e.flags.rz),
      TR: b(e.flags.tr),
      TYPE: e.flags.type,
      EventCode: e.code,
      AddressLo: Number(e.address & 0xffff_ffffn),
      AddressHi: Number(e.address >> 32n),
    },
    e.reserved,
  );
}

/** The 12-bit flags field as Linux prints it (`(ev[1] >> 16) & 0xfff`). */
export function eventFlagsValue(f: EventFlags): number {
  const b = (x: boolean, n: number): number => (x ? 1 << n : 0);
  return b(f.gn, 0) | b(f.nx, 1) | b(f.us, 2) | b(f.i, 3) | b(f.pr, 4) | b(f.rw, 5) | b(f.pe, 6) | b(f.rz, 7) | b(f.tr, 8) | ((f.type & 7) << 9);
}

/** An event with the given code and fields; everything else zero. */
export function makeEvent(code: number, fields: Partial<Omit<AmdEvent, 'code' | 'flags'>> & { flags?: Partial<EventFlags> } = {}): AmdEvent {
  return {
    code,
    deviceId: fields.deviceId ?? 0,
    pasidHi: fields.pasidHi ?? 0,
    vflags: fields.vflags ?? 0,
    domainOrPasid: fields.domainOrPasid ?? 0,
    flags: { ...NO_FLAGS, ...(fields.flags ?? {}) },
    address: fields.address ?? 0n,
    reserved: 0n,
  };
}

/** Why {@link appendEvent} did or did not write. */
export type AppendResult =
  /** Written at the old tail; Status.EventLogInt set. */
  | 'logged'
  /** Log full (tail + 16 = head): nothing written, Status.EventOverflow set. */
  | 'overflow'
  /** Status.EventOverflow already 1: nothing is written until software clears it. */
  | 'overflow-pending'
  /** Control.EventLogEn = 0: events are dropped. */
  | 'disabled';

/**
 * Append `entry` to the event log (spec 48882 §2.5; VirtualBox `iommuAmdEvtLogEntryWrite`,
 * openvmm; sheet §5 "Logging"): with EventLogEn = 1 and EventOverflow = 0, a log that is not
 * full (full when tail + 16 ≡ head modulo 16 · 2^Len) gets the entry at base + tail, the tail
 * advances by 16 bytes modulo the log size and Status.EventLogInt is set (as VirtualBox does
 * whatever EventIntEn; openvmm only with EventIntEn — sheet [DISAGREE]); a full log sets
 * Status.EventOverflow instead. `interrupt` is true when the event-log MSI fires: Status
 * changed to logged or overflow and Control.EventIntEn = 1.
 * Pure: returns the new memory and registers.
 */
export function appendEvent(
  memory: PhysicalMemory,
  regs: AmdViRegisters,
  entry: AmdEvent,
): { memory: PhysicalMemory; regs: AmdViRegisters; result: AppendResult; interrupt: boolean } {
  if (!regBit(regs.control, CONTROL_BITS.EventLogEn)) return { memory, regs, result: 'disabled', interrupt: false };
  if (regBit(regs.status, STATUS_BITS.EventOverflow)) return { memory, regs, result: 'overflow-pending', interrupt: false };
  const intEn = regBit(regs.control, CONTROL_BITS.EventIntEn);
  const size = ringBytes(regs.eventLogBase);
  const tail = ringOffset(regs.eventTail) % size;
  const head = ringOffset(regs.eventHead) % size;
  const next = (tail + BigInt(EVENT_ENTRY_BYTES)) % size;
  if (next === head) {
    return { memory, regs: { ...regs, status: regs.status | (1n << BigInt(STATUS_BITS.EventOverflow)) }, result: 'overflow', interrupt: intEn };
  }
  const written = memory.writeLE(ringAddress(regs.eventLogBase) + tail, EVENT_ENTRY_BYTES, encodeEvent(entry));
  return {
    memory: written,
    regs: { ...regs, eventTail: next, status: regs.status | (1n << BigInt(STATUS_BITS.EventLogInt)) },
    result: 'logged',
    interrupt: intEn,
  };
}

/** Read the event log from head to tail (what the driver would consume), oldest first. */
export function readEventLog(memory: PhysicalMemory, regs: AmdViRegisters): AmdEvent[] {
  const size = ringBytes(regs.eventLogBase);
  const base = ringAddress(regs.eventLogBase);
  const out: AmdEvent[] = [];
  let at = ringOffset(regs.eventHead) % size;
  const tail = ringOffset(regs.eventTail) % size;
  while (at !== tail) {
    out.push(decodeEvent(memory.readLE(base + at, EVENT_ENTRY_BYTES)));
    at = (at + BigInt(EVENT_ENTRY_BYTES)) % size;
  }
  return out;
}

/** `ssss:bb:dd.f` as Linux prints a DeviceID (`%04x:%02x:%02x.%x` with the PCI segment). */
function linuxDevice(segment: number, deviceId: number): string {
  const h = (v: number, n: number): string => v.toString(16).padStart(n, '0');
  return `${h(segment, 4)}:${h(deviceId >> 8, 2)}:${h((deviceId >> 3) & 0x1f, 2)}.${(deviceId & 7).toString(16)}`;
}

/**
 * The line Linux logs for an event, after the `AMD-Vi: ` prefix, for the codes the interrupt
 * and command paths raise (Linux `drivers/iommu/amd/iommu.c` `amd_iommu_report_page_fault`
 * for IO_PAGE_FAULT of a device without a `pci_dev`, `iommu_print_event` for the others,
 * v6.x formats with the segment). Other codes: undefined (their formats are not modelled).
 */
export function formatEventLinux(e: AmdEvent, segment = 0): string | undefined {
  const flags = eventFlagsValue(e.flags).toString(16).padStart(4, '0');
  const address = `0x${e.address.toString(16)}`;
  switch (e.code) {
    case EVENT_CODE.IO_PAGE_FAULT:
      return `Event logged [IO_PAGE_FAULT device=${linuxDevice(segment, e.deviceId)} domain=0x${e.domainOrPasid.toString(16).padStart(4, '0')} address=${address} flags=0x${flags}]`;
    case EVENT_CODE.ILLEGAL_DEV_TABLE_ENTRY: {
      const pasid = ((e.pasidHi << 16) | e.domainOrPasid).toString(16).padStart(5, '0');
      return `Event logged [ILLEGAL_DEV_TABLE_ENTRY device=${linuxDevice(segment, e.deviceId)} pasid=0x${pasid} address=${address} flags=0x${flags}]`;
    }
    case EVENT_CODE.ILLEGAL_COMMAND_ERROR:
      return `Event logged [ILLEGAL_COMMAND_ERROR address=${address}]`;
    default:
      return undefined;
  }
}
