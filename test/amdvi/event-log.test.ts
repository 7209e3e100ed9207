import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  EVENT_CODE,
  appendEvent,
  decodeEvent,
  encodeEvent,
  eventCodeName,
  eventFlagsValue,
  formatEventLinux,
  makeEvent,
  readEventLog,
} from '../../src/amdvi/event-log.ts';
import { RUNS, bitsN } from '../codecs/arbitraries.ts';
import { CTRL, EVENT_LOG, emptyMemory, makeUnit } from './fixtures.ts';

/** Linux iommu_print_event's decode of the four dwords. */
function linuxDecode(raw: bigint) {
  const ev = [0, 1, 2, 3].map((i) => Number((raw >> BigInt(32 * i)) & 0xffff_ffffn));
  const [e0, e1, e2, e3] = ev as [number, number, number, number];
  return {
    type: e1 >>> 28,
    devid: e0 & 0xffff,
    pasid: (e0 & 0xf_0000) | (e1 & 0xffff),
    flags: (e1 >>> 16) & 0xfff,
    address: (BigInt(e3) << 32n) | BigInt(e2),
  };
}

describe('event log entries (sheet §5)', () => {
  it('has the codes Linux defines', () => {
    expect(EVENT_CODE).toMatchObject({
      ILLEGAL_DEV_TABLE_ENTRY: 1, IO_PAGE_FAULT: 2, DEV_TAB_HARDWARE_ERROR: 3, PAGE_TAB_HARDWARE_ERROR: 4,
      ILLEGAL_COMMAND_ERROR: 5, COMMAND_HARDWARE_ERROR: 6, IOTLB_INV_TIMEOUT: 7, INVALID_DEVICE_REQUEST: 8,
      INVALID_PPR_REQUEST: 9, EVENT_COUNTER_ZERO: 0xa,
    });
    expect(eventCodeName(2)).toBe('IO_PAGE_FAULT');
    expect(eventCodeName(0)).toBe('UNKNOWN');
  });

  it('encode(decode(x)) === x for every 128-bit pattern', () => {
    fc.assert(fc.property(bitsN(128), (x) => encodeEvent(decodeEvent(x)) === x), { ...RUNS, numRuns: 2000 });
  });

  it("agrees with Linux iommu_print_event's decode", () => {
    fc.assert(
      fc.property(bitsN(128), (x) => {
        const e = decodeEvent(x);
        const l = linuxDecode(x);
        expect([e.code, e.deviceId, (e.pasidHi << 16) | e.domainOrPasid, eventFlagsValue(e.flags), e.address]).toEqual([l.type, l.devid, l.pasid, l.flags, l.address]);
      }),
      RUNS,
    );
  });

  it('an interrupt IO_PAGE_FAULT with only I set prints flags=0x0008 (the e97685abd5d7 report)', () => {
    const e = makeEvent(EVENT_CODE.IO_PAGE_FAULT, { deviceId: 0x0010, domainOrPasid: 7, address: 0xfee0_0000n, flags: { i: true } });
    expect(eventFlagsValue(e.flags)).toBe(0x008);
    expect(linuxDecode(encodeEvent(e))).toEqual({ type: 2, devid: 0x10, pasid: 7, flags: 8, address: 0xfee0_0000n });
  });
});

describe('appendEvent (spec 48882 §2.5, VirtualBox iommuAmdEvtLogEntryWrite)', () => {
  const ev = (n: number) => makeEvent(EVENT_CODE.IO_PAGE_FAULT, { deviceId: n, flags: { i: true } });

  it('writes at the tail, advances it and sets EventLogInt; the MSI only with EventIntEn', () => {
    const unit = makeUnit(CTRL.IommuEn | CTRL.EventLogEn);
    const r = appendEvent(emptyMemory(), unit.regs, ev(1));
    expect(r.result).toBe('logged');
    expect(r.interrupt).toBe(false);
    expect(r.regs.eventTail).toBe(16n);
    expect(r.regs.status & 2n).toBe(2n);
    expect(decodeEvent(r.memory.readLE(EVENT_LOG, 16)).deviceId).toBe(1);
    expect(appendEvent(emptyMemory(), makeUnit(CTRL.IommuEn | CTRL.EventLogEn | CTRL.EventIntEn).regs, ev(1)).interrupt).toBe(true);
  });

  it('wraps at the end of the log and overflows when tail + 16 reaches head', () => {
    // Len 8 = 256 entries = 4096 bytes; head at 0: 255 entries fit.
    let { regs } = makeUnit(CTRL.IommuEn | CTRL.EventLogEn);
    let mem = emptyMemory();
    for (let i = 0; i < 255; i++) {
      const r = appendEvent(mem, regs, ev(i));
      expect(r.result).toBe('logged');
      ({ memory: mem, regs } = r);
    }
    const full = appendEvent(mem, regs, ev(999));
    expect(full.result).toBe('overflow');
    expect(full.regs.status & 1n).toBe(1n);
    expect(full.memory).toBe(mem);
    expect(appendEvent(full.memory, { ...full.regs, eventHead: 32n }, ev(1)).result).toBe('overflow-pending');
    // Software consumes two entries and clears EventOverflow: the next write wraps to offset 0xFF0 → 0.
    const cleared = { ...full.regs, eventHead: 32n, status: 0n };
    const w = appendEvent(full.memory, cleared, ev(1000));
    expect(w.result).toBe('logged');
    expect(w.regs.eventTail).toBe(0n);
    expect(readEventLog(w.memory, w.regs).map((e) => e.deviceId)).toEqual([...Array.from({ length: 253 }, (_, i) => i + 2), 1000]);
  });

  it('drops events while EventLogEn = 0', () => {
    const r = appendEvent(emptyMemory(), makeUnit(CTRL.IommuEn).regs, ev(1));
    expect(r.result).toBe('disabled');
  });
});

describe('formatEventLinux (Linux amd_iommu_report_page_fault / iommu_print_event)', () => {
  it('prints an interrupt IO_PAGE_FAULT as Linux does for a device without pci_dev', () => {
    const e = makeEvent(EVENT_CODE.IO_PAGE_FAULT, { deviceId: 0x0010, domainOrPasid: 7, address: 0xfee0_0000n, flags: { i: true } });
    expect(formatEventLinux(e)).toBe('Event logged [IO_PAGE_FAULT device=0000:00:02.0 domain=0x0007 address=0xfee00000 flags=0x0008]');
  });
  it('prints ILLEGAL_DEV_TABLE_ENTRY and ILLEGAL_COMMAND_ERROR', () => {
    expect(formatEventLinux(makeEvent(EVENT_CODE.ILLEGAL_DEV_TABLE_ENTRY, { deviceId: 0x0a01, address: 0xfee00000n, flags: { i: true, rz: true } }), 1)).toBe(
      'Event logged [ILLEGAL_DEV_TABLE_ENTRY device=0001:0a:00.1 pasid=0x00000 address=0xfee00000 flags=0x0088]',
    );
    expect(formatEventLinux(makeEvent(EVENT_CODE.ILLEGAL_COMMAND_ERROR, { address: 0x1800010n }))).toBe('Event logged [ILLEGAL_COMMAND_ERROR address=0x1800010]');
    expect(formatEventLinux(makeEvent(EVENT_CODE.IOTLB_INV_TIMEOUT))).toBeUndefined();
  });
});
