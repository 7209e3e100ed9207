import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  PID_BYTES,
  PID_LAYOUT,
  apicIdFromNdst,
  decodePid,
  encodePid,
  ndstForApicId,
  pidFromQwords,
  pidToQwords,
  pirVectors,
  withPirBit,
  type PostedInterruptDescriptor,
} from '../../src/vtd/pid.ts';
import { RUNS, bitsN, same, uint } from './arbitraries.ts';

const pidArb: fc.Arbitrary<PostedInterruptDescriptor> = fc.record({
  pir: bitsN(256),
  on: fc.boolean(),
  sn: fc.boolean(),
  nv: uint(8),
  ndst: uint(32),
});

describe('posted-interrupt descriptor (sheet §6)', () => {
  it('is 64 bytes', () => expect(PID_BYTES).toBe(64));

  it('encode(decode(x)) === x for every 512-bit pattern', () => {
    fc.assert(
      fc.property(bitsN(512), (x) => {
        const { pid, reserved } = decodePid(x);
        return encodePid(pid, reserved) === x;
      }),
      RUNS,
    );
  });

  it('decode(encode(fields)) equals the fields', () => {
    fc.assert(
      fc.property(pidArb, bitsN(512), (pid, r) => {
        const reserved = r & PID_LAYOUT.reservedMask;
        same(decodePid(encodePid(pid, reserved)), { pid, reserved });
      }),
      RUNS,
    );
  });

  it('decoding never throws', () => {
    fc.assert(fc.property(fc.bigInt(), (x) => { decodePid(x); }), RUNS);
  });

  it('ON is bit 256, SN bit 257, NV bits 279:272, NDST bits 319:288', () => {
    const zero: PostedInterruptDescriptor = { pir: 0n, on: false, sn: false, nv: 0, ndst: 0 };
    expect(encodePid({ ...zero, on: true })).toBe(1n << 256n);
    expect(encodePid({ ...zero, sn: true })).toBe(1n << 257n);
    expect(encodePid({ ...zero, nv: 0xff })).toBe(0xffn << 272n);
    expect(encodePid({ ...zero, nv: 0xf2 })).toBe(0xf2n << 272n);
    expect(encodePid({ ...zero, ndst: 0xffff_ffff })).toBe(0xffff_ffffn << 288n);
    expect(encodePid({ ...zero, pir: (1n << 256n) - 1n })).toBe((1n << 256n) - 1n);
  });

  it('reserved bits 271:258, 287:280, 511:320 are reported in place', () => {
    expect(decodePid(1n << 258n).reserved).toBe(1n << 258n);
    expect(decodePid(1n << 280n).reserved).toBe(1n << 280n);
    expect(decodePid(1n << 511n).reserved).toBe(1n << 511n);
    expect(decodePid((1n << 320n) - 1n).reserved).toBe(((1n << 14n) - 1n) << 258n | 0xffn << 280n);
    expect(() => encodePid(decodePid(0n).pid, 1n << 256n)).toThrow(RangeError);
  });

  it('rejects misfits', () => {
    const zero: PostedInterruptDescriptor = { pir: 0n, on: false, sn: false, nv: 0, ndst: 0 };
    expect(() => encodePid({ ...zero, pir: 1n << 256n })).toThrow(RangeError);
    expect(() => encodePid({ ...zero, nv: 256 })).toThrow(RangeError);
    expect(() => encodePid({ ...zero, ndst: 2 ** 32 })).toThrow(RangeError);
  });

  it('8 little-endian qwords round-trip', () => {
    fc.assert(fc.property(bitsN(512), (x) => pidFromQwords(pidToQwords(x)) === x), RUNS);
    const q = pidToQwords(encodePid({ pir: 1n, on: true, sn: false, nv: 0xf2, ndst: 0x0300 }));
    expect(q).toEqual([1n, 0n, 0n, 0n, 0xf2n << 16n | 1n | 0x0300n << 32n, 0n, 0n, 0n]);
  });
});

describe('PIR helpers', () => {
  it('pirVectors lists set bits ascending; withPirBit sets and clears', () => {
    expect(pirVectors(0n)).toEqual([]);
    expect(pirVectors(withPirBit(withPirBit(0n, 255), 0x31))).toEqual([0x31, 255]);
    expect(withPirBit(1n << 7n, 7, false)).toBe(0n);
    expect(() => withPirBit(0n, 256)).toThrow(RangeError);
    fc.assert(
      fc.property(fc.uniqueArray(uint(8)), (vs) => {
        const pir = vs.reduce((p, v) => withPirBit(p, v), 0n);
        same(pirVectors(pir), [...vs].sort((a, b) => a - b));
      }),
      RUNS,
    );
  });
});

describe('NDST ↔ APIC ID', () => {
  it('xAPIC: ID in NDST[15:8]', () => {
    expect(ndstForApicId(3, false)).toBe(0x0300);
    expect(apicIdFromNdst(0x0300, false)).toBe(3);
    for (let id = 0; id <= 0xff; id++) expect(apicIdFromNdst(ndstForApicId(id, false), false)).toBe(id);
    expect(() => ndstForApicId(0x100, false)).toThrow(RangeError);
  });
  it('x2APIC: NDST is the 32-bit ID', () => {
    expect(ndstForApicId(3, true)).toBe(3);
    fc.assert(fc.property(uint(32), (id) => apicIdFromNdst(ndstForApicId(id, true), true) === id), RUNS);
    expect(() => ndstForApicId(2 ** 32, true)).toThrow(RangeError);
  });
});
