/**
 * The pipeline's codecs at their edges: the IRTE (src/vtd/irte.ts, VT-d §9.10), the
 * posted-interrupt descriptor (src/vtd/pid.ts, §9.12) and the remappable-format MSI
 * (src/vtd/remappable-msi.ts, §5.1.2.2) — exact fields at each bit, the bounds each encoder
 * accepts, and the message of each RangeError it throws (callers show them to the user).
 */
import { describe, expect, it } from 'vitest';
import { decodeIrte, encodeIrte, irteDestinationApicId, irteDestinationField, XAPIC_DST_RESERVED_MASK, type PostedIrte, type RemappedIrte } from '../../src/vtd/irte.ts';
import { apicIdFromNdst, decodePid, encodePid, ndstForApicId, pidFromQwords, pidToQwords, pirVectors, withPirBit, type PostedInterruptDescriptor } from '../../src/vtd/pid.ts';
import {
  composeRemappableMsi,
  decodeMsi,
  decodeRemappableAddress,
  decodeRemappableData,
  encodeRemappableAddress,
  encodeRemappableData,
  irteIndexOf,
  msiFormat,
} from '../../src/vtd/remappable-msi.ts';

const remapped: RemappedIrte = {
  mode: 'remapped', present: true, fpd: false, avail: 0, destinationModeLogical: false, redirectionHint: false, triggerLevel: false, deliveryMode: 0, vector: 0x30, destination: 0, sid: 0, sq: 0, svt: 0,
};
const posted: PostedIrte = { mode: 'posted', present: true, fpd: false, avail: 0, urgent: false, virtualVector: 0x41, pda: 0x1000n, sid: 0, sq: 0, svt: 0 };

describe('IRTE fields, one bit at a time (remapped format, VT-d §9.10)', () => {
  const cases: [string, bigint, Partial<RemappedIrte>][] = [
    ['P', 1n << 0n, { present: true }],
    ['FPD', 1n << 1n, { fpd: true }],
    ['DM', 1n << 2n, { destinationModeLogical: true }],
    ['RH', 1n << 3n, { redirectionHint: true }],
    ['TM', 1n << 4n, { triggerLevel: true }],
    ['DLM', 7n << 5n, { deliveryMode: 7 }],
    ['AVAIL', 0xfn << 8n, { avail: 0xf }],
    ['V', 0xffn << 16n, { vector: 0xff }],
    ['DST', 0xffff_ffffn << 32n, { destination: 0xffff_ffff }],
    ['SID', 0xffffn << 64n, { sid: 0xffff }],
    ['SQ', 3n << 80n, { sq: 3 }],
    ['SVT', 3n << 82n, { svt: 3 }],
  ];
  const zero: RemappedIrte = { ...remapped, present: false, vector: 0 };
  it.each(cases)('%s', (_, raw, fields) => {
    expect(decodeIrte(raw)).toEqual({ irte: { ...zero, ...fields }, reserved: 0n });
    expect(encodeIrte({ ...zero, ...fields })).toBe(raw);
  });

  it('bits above 127 are dropped when decoding', () => {
    expect(decodeIrte((1n << 128n) | 1n)).toEqual({ irte: { ...zero, present: true }, reserved: 0n });
  });
});

describe('IRTE fields (posted format)', () => {
  const zero: PostedIrte = { ...posted, present: false, virtualVector: 0, pda: 0n };
  const cases: [string, bigint, Partial<PostedIrte>][] = [
    ['P', 1n, { present: true }],
    ['FPD', 2n, { fpd: true }],
    ['AVAIL', 0xfn << 8n, { avail: 0xf }],
    ['URG', 1n << 14n, { urgent: true }],
    ['VV', 0xffn << 16n, { virtualVector: 0xff }],
    ['PDA_L', ((1n << 26n) - 1n) << 38n, { pda: ((1n << 26n) - 1n) << 6n }],
    ['PDA_H', 0xffff_ffffn << 96n, { pda: 0xffff_ffffn << 32n }],
    ['SID', 0xffffn << 64n, { sid: 0xffff }],
    ['SQ', 3n << 80n, { sq: 3 }],
    ['SVT', 3n << 82n, { svt: 3 }],
  ];
  it.each(cases)('%s', (_, raw, fields) => {
    expect(decodeIrte(raw | (1n << 15n))).toEqual({ irte: { ...zero, ...fields }, reserved: 0n });
    expect(encodeIrte({ ...zero, ...fields })).toBe(raw | (1n << 15n));
  });
});

describe('IRTE encoder bounds and messages', () => {
  it('reserved bits outside the format\'s reserved ranges', () => {
    expect(() => encodeIrte(remapped, 1n << 2n)).toThrow(new RangeError('remapped IRTE: reserved bits 0x4 outside the reserved ranges'));
    expect(() => encodeIrte(remapped, -1n)).toThrow(new RangeError('remapped IRTE: reserved bits 0x-1 outside the reserved ranges'));
    expect(() => encodeIrte(posted, 1n << 14n)).toThrow(new RangeError('posted IRTE: reserved bits 0x4000 outside the reserved ranges'));
    expect(() => encodeIrte(posted, -4n)).toThrow(new RangeError('posted IRTE: reserved bits 0x-4 outside the reserved ranges'));
    // Each format's own reserved bits are accepted and kept in place.
    expect(encodeIrte(remapped, 1n << 12n) & (1n << 12n)).toBe(1n << 12n);
    expect(encodeIrte(posted, 1n << 2n) & (1n << 2n)).toBe(1n << 2n);
  });

  it('the PDA must be a 64-byte aligned 64-bit address', () => {
    expect(() => encodeIrte({ ...posted, pda: 0x1020n })).toThrow(new RangeError('posted IRTE PDA 4128 is not a 64-byte aligned 64-bit address'));
    expect(() => encodeIrte({ ...posted, pda: 0x1001n })).toThrow(RangeError);
    expect(() => encodeIrte({ ...posted, pda: -64n })).toThrow(new RangeError('posted IRTE PDA -64 is not a 64-byte aligned 64-bit address'));
    expect(() => encodeIrte({ ...posted, pda: 1n << 64n })).toThrow(new RangeError('posted IRTE PDA 18446744073709551616 is not a 64-byte aligned 64-bit address'));
    expect(() => encodeIrte({ ...posted, pda: 4096 as unknown as bigint })).toThrow(new RangeError('posted IRTE PDA 4096 is not a 64-byte aligned 64-bit address'));
    expect(decodeIrte(encodeIrte({ ...posted, pda: 0xffff_ffff_ffff_ffc0n })).irte).toMatchObject({ pda: 0xffff_ffff_ffff_ffc0n });
    expect(decodeIrte(encodeIrte({ ...posted, pda: 0n })).irte).toMatchObject({ pda: 0n });
  });
});

describe('field overflow names the layout and the field', () => {
  it('IRTE (both formats), PID, remappable address and data', () => {
    expect(() => encodeIrte({ ...remapped, vector: 256 })).toThrow(new RangeError('IRTE (remapped, IM=0).V = 256 does not fit in 8 bits'));
    expect(() => encodeIrte({ ...remapped, sid: 0x10000 })).toThrow(new RangeError('IRTE (remapped, IM=0).SID = 65536 does not fit in 16 bits'));
    expect(() => encodeIrte({ ...posted, virtualVector: 256 })).toThrow(new RangeError('IRTE (posted, IM=1).VV = 256 does not fit in 8 bits'));
    expect(() => encodePid({ pir: 0n, on: false, sn: false, nv: 256, ndst: 0 })).toThrow(new RangeError('posted-interrupt descriptor.NV = 256 does not fit in 8 bits'));
    expect(() => encodeRemappableAddress({ base: 0x1000, handle: 0, shv: false, interruptFormat: 1, ignored: 0, high: 0 })).toThrow(new RangeError('VT-d remappable MSI address.BASE = 4096 does not fit in 12 bits'));
    expect(() => encodeRemappableData({ subhandle: 0x10000, reserved: 0 })).toThrow(new RangeError('VT-d remappable MSI data.SUBHANDLE = 65536 does not fit in 16 bits'));
  });
});

describe('IRTE DST ↔ APIC ID', () => {
  it('the xAPIC reserved mask is DST 7:0 and 31:16', () => {
    expect(XAPIC_DST_RESERVED_MASK).toBe(0xffff_00ff);
    expect(irteDestinationApicId(0x8000_0001, false)).toEqual({ apicId: 0, dstReserved: 0x8000_0001 });
    expect(irteDestinationApicId(-1, true)).toEqual({ apicId: 0xffff_ffff, dstReserved: 0 });
  });

  it('the bounds of each mode, and the messages', () => {
    expect(irteDestinationField(0xff, false)).toBe(0xff00);
    expect(irteDestinationField(0xffff_ffff, true)).toBe(0xffff_ffff);
    expect(irteDestinationField(0, true)).toBe(0);
    expect(() => irteDestinationField(0x100, false)).toThrow(new RangeError('APIC ID 256 does not fit the IRTE DST field with EIME=0'));
    expect(() => irteDestinationField(2 ** 32, true)).toThrow(new RangeError('APIC ID 4294967296 does not fit the IRTE DST field with EIME=1'));
    expect(() => irteDestinationField(-1, true)).toThrow(RangeError);
    expect(() => irteDestinationField(1.5, true)).toThrow(RangeError);
  });
});

describe('PID codec', () => {
  const zero: PostedInterruptDescriptor = { pir: 0n, on: false, sn: false, nv: 0, ndst: 0 };

  it('bits above 511 are dropped when decoding', () => {
    expect(decodePid((1n << 512n) | (1n << 256n))).toEqual({ pid: { ...zero, on: true }, reserved: 0n });
  });

  it('PIR must be a 256-bit value; reserved bits must be in the reserved ranges', () => {
    expect(() => encodePid({ ...zero, pir: 1n << 256n })).toThrow(new RangeError(`PIR ${String(1n << 256n)} is not a 256-bit value`));
    expect(() => encodePid({ ...zero, pir: -1n })).toThrow(new RangeError('PIR -1 is not a 256-bit value'));
    expect(() => encodePid({ ...zero, pir: 1 as unknown as bigint })).toThrow(new RangeError('PIR 1 is not a 256-bit value'));
    expect(encodePid({ ...zero, pir: (1n << 256n) - 1n })).toBe((1n << 256n) - 1n);
    expect(() => encodePid(zero, 1n << 256n)).toThrow(new RangeError('PID reserved bits 0x10000000000000000000000000000000000000000000000000000000000000000 outside the reserved ranges'));
    expect(() => encodePid(zero, -1n)).toThrow(RangeError);
    expect(encodePid(zero, 1n << 511n)).toBe(1n << 511n);
  });

  it('pirVectors: every bit from 0 to 255, ascending; bits above 255 ignored', () => {
    expect(pirVectors(1n)).toEqual([0]);
    expect(pirVectors(0b1010n)).toEqual([1, 3]);
    expect(pirVectors((1n << 256n) - 1n)).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(pirVectors((1n << 256n) | (1n << 255n))).toEqual([255]);
  });

  it('withPirBit: bounds and messages; clearing leaves the other bits', () => {
    expect(withPirBit(0n, 0)).toBe(1n);
    expect(withPirBit(0n, 255)).toBe(1n << 255n);
    expect(withPirBit(0b111n, 1, false)).toBe(0b101n);
    expect(withPirBit(0b101n, 1, false)).toBe(0b101n);
    expect(() => withPirBit(0n, 256)).toThrow(new RangeError('vector 256 is not in 0..255'));
    expect(() => withPirBit(0n, -1)).toThrow(new RangeError('vector -1 is not in 0..255'));
    expect(() => withPirBit(0n, 1.5)).toThrow(new RangeError('vector 1.5 is not in 0..255'));
  });

  it('NDST bounds and messages; xAPIC IDs read from NDST 15:8 only', () => {
    expect(ndstForApicId(0xff, false)).toBe(0xff00);
    expect(ndstForApicId(0xffff_ffff, true)).toBe(0xffff_ffff);
    expect(() => ndstForApicId(0x100, false)).toThrow(new RangeError('APIC ID 256 does not fit NDST in xAPIC mode'));
    expect(() => ndstForApicId(2 ** 32, true)).toThrow(new RangeError('APIC ID 4294967296 does not fit NDST in x2APIC mode'));
    expect(() => ndstForApicId(-1, true)).toThrow(RangeError);
    expect(() => ndstForApicId(0.5, false)).toThrow(RangeError);
    expect(apicIdFromNdst(0xffff_03ff, false)).toBe(3);
    expect(apicIdFromNdst(-1, true)).toBe(0xffff_ffff);
    expect(apicIdFromNdst(-1, false)).toBe(0xff);
  });

  it('qwords: bit 64i of the PID is bit 0 of qword i; 8 qwords of 64 bits each are required', () => {
    expect(pidToQwords((1n << 448n) | (1n << 64n) | 1n | (1n << 512n))).toEqual([1n, 1n, 0n, 0n, 0n, 0n, 0n, 1n]);
    expect(pidFromQwords([1n, 0n, 0n, 0n, 0n, 0n, 0n, (1n << 64n) - 1n])).toBe((((1n << 64n) - 1n) << 448n) | 1n);
    expect(() => pidFromQwords([0n, 0n])).toThrow(new RangeError('a PID is 8 qwords, got 2'));
    expect(() => pidFromQwords([0n, 0n, 0n, 1n << 64n, 0n, 0n, 0n, 0n])).toThrow(new RangeError('qword 3 is not a 64-bit value'));
    expect(() => pidFromQwords([0n, 0n, 0n, 0n, 0n, -1n, 0n, 0n])).toThrow(new RangeError('qword 5 is not a 64-bit value'));
  });
});

describe('remappable-format MSI', () => {
  it('every address field at its bits; bits above 63 dropped', () => {
    expect(decodeRemappableAddress((0xabcd_ef01n << 32n) | (0xfeen << 20n) | 0x3n | (1n << 64n))).toEqual({ base: 0xfee, handle: 0, shv: false, interruptFormat: 0, ignored: 3, high: 0xabcd_ef01 });
    expect(encodeRemappableAddress({ base: 0xfee, handle: 0xffff, shv: true, interruptFormat: 1, ignored: 2, high: 1 })).toBe((1n << 32n) | 0xfeeffffen);
  });

  it('the handle must be a 16-bit integer', () => {
    const a = { base: 0xfee, shv: false, interruptFormat: 1, ignored: 0, high: 0 };
    expect(() => encodeRemappableAddress({ ...a, handle: 0x10000 })).toThrow(new RangeError('interrupt handle 65536 is not a 16-bit value'));
    expect(() => encodeRemappableAddress({ ...a, handle: -1 })).toThrow(new RangeError('interrupt handle -1 is not a 16-bit value'));
    expect(() => encodeRemappableAddress({ ...a, handle: 0.5 })).toThrow(RangeError);
    expect(encodeRemappableAddress({ ...a, handle: 0 })).toBe(0xfee00010n);
  });

  it('data: sub-handle 15:0, reserved 31:16 right-aligned; the reserved part must be 16-bit', () => {
    expect(decodeRemappableData(-1)).toEqual({ subhandle: 0xffff, reserved: 0xffff });
    expect(decodeRemappableData(0x1_2345)).toEqual({ subhandle: 0x2345, reserved: 1 });
    expect(encodeRemappableData({ subhandle: 0x2345, reserved: 0xffff })).toBe(0xffff_2345);
    expect(() => encodeRemappableData({ subhandle: 0, reserved: 0x10000 })).toThrow(new RangeError('remappable data reserved field 65536 is not a 16-bit value'));
    expect(() => encodeRemappableData({ subhandle: 0, reserved: -1 })).toThrow(new RangeError('remappable data reserved field -1 is not a 16-bit value'));
    expect(() => encodeRemappableData({ subhandle: 0, reserved: 0.5 })).toThrow(RangeError);
  });

  it('the index without SHV is the handle alone, modulo 2^16', () => {
    expect(irteIndexOf(0x1_0005, false, 7)).toBe(5);
    expect(irteIndexOf(0x1_0005, true, 0x1_0001)).toBe(6);
  });

  it('composeRemappableMsi: SHV defaults to 1 and the sub-handle to 0, as Linux fill_msi_msg', () => {
    expect(composeRemappableMsi({ handle: 0x28 })).toEqual({ address: 0xfee00518n, data: 0 });
    expect(composeRemappableMsi({ handle: 0x28, shv: false, subhandle: 3 })).toEqual({ address: 0xfee00510n, data: 3 });
  });

  it('msiFormat reduces the address to 64 bits first', () => {
    expect(msiFormat((1n << 64n) | 0xfee00010n)).toBe('remappable');
    expect(msiFormat((1n << 64n) | 0xfee00000n)).toBe('compatibility');
    expect(msiFormat(0xfeefffffn)).toBe('remappable');
    expect(msiFormat(0xfeefffefn)).toBe('compatibility');
  });

  it('decodeMsi of a remappable request: handle, SHV, sub-handle and index; address and data reduced', () => {
    expect(decodeMsi((1n << 64n) | 0xfee00518n, 0x1_0003 + 2 ** 32)).toEqual({ format: 'remappable', address: 0xfee00518n, data: 0x1_0003, handle: 0x28, shv: true, subhandle: 3, irteIndex: 0x2b });
    expect(decodeMsi(0xfee00510n, 3)).toEqual({ format: 'remappable', address: 0xfee00510n, data: 3, handle: 0x28, shv: false, subhandle: 3, irteIndex: 0x28 });
  });

  it('decodeMsi of a non-interrupt write and of a compatibility one with every field set', () => {
    expect(decodeMsi((1n << 64n) | 0x1000n, -1)).toEqual({ format: 'not-interrupt', address: 0x1000n, data: 0xffff_ffff });
    expect(decodeMsi(0xfeeab00cn | 0x2n, 0xc4f1)).toEqual({
      format: 'compatibility',
      address: 0xfeeab00en,
      data: 0xc4f1,
      destinationId: 0xab,
      extendedDestinationId: 0,
      destinationModeLogical: true,
      redirectionHint: true,
      vector: 0xf1,
      deliveryMode: 'nmi',
      triggerMode: 'level',
      levelAssert: true,
    });
  });
});
