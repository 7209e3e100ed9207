import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  IEC_LAYOUT,
  INV_DESC_TYPE,
  WAIT_LAYOUT,
  decodeIec,
  decodeInvalidationDescriptor,
  decodeWait,
  descriptorType,
  encodeIec,
  encodeInvalidationDescriptor,
  encodeWait,
  iecCovers,
  type IecDescriptor,
  type WaitDescriptor,
} from '../../src/vtd/invalidation.ts';
import { RUNS, bitsN, same, uint } from './arbitraries.ts';

const TYPE_BITS = 0xe0fn; // bits 11:9 and 3:0
const withType = (x: bigint, type: number): bigint => (x & ~TYPE_BITS) | BigInt(type);

const iecArb: fc.Arbitrary<IecDescriptor> = fc.record({
  kind: fc.constant('iec' as const),
  granularity: fc.constantFrom('global' as const, 'index' as const),
  indexMask: uint(5),
  interruptIndex: uint(16),
});
const waitArb: fc.Arbitrary<WaitDescriptor> = fc.record({
  kind: fc.constant('wait' as const),
  interruptFlag: fc.boolean(),
  statusWrite: fc.boolean(),
  fence: fc.boolean(),
  pageRequestDrain: fc.boolean(),
  statusData: uint(32),
  statusAddress: fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }).map((x) => x << 2n),
});

describe('invalidation descriptors (sheet §7.2, §7.5)', () => {
  it('dispatcher: encode(decode(x)) === x for every 128-bit pattern', () => {
    fc.assert(
      fc.property(bitsN(128), (x) => {
        const { desc, reserved } = decodeInvalidationDescriptor(x);
        return encodeInvalidationDescriptor(desc, reserved) === x;
      }),
      RUNS,
    );
  });
  it('IEC: encode(decode(x)) === x for every pattern with type 4', () => {
    fc.assert(
      fc.property(bitsN(128), (x) => {
        const v = withType(x, 4);
        const { desc, reserved } = decodeIec(v);
        return encodeIec(desc, reserved) === v && decodeInvalidationDescriptor(v).desc.kind === 'iec';
      }),
      RUNS,
    );
  });
  it('wait: encode(decode(x)) === x for every pattern with type 5', () => {
    fc.assert(
      fc.property(bitsN(128), (x) => {
        const v = withType(x, 5);
        const { desc, reserved } = decodeWait(v);
        return encodeWait(desc, reserved) === v && decodeInvalidationDescriptor(v).desc.kind === 'wait';
      }),
      RUNS,
    );
  });
  it('decode(encode(fields)) equals fields', () => {
    fc.assert(fc.property(iecArb, bitsN(128), (desc, r) => {
      const reserved = r & IEC_LAYOUT.reservedMask;
      same(decodeInvalidationDescriptor(encodeIec(desc, reserved)), { desc, reserved });
    }), RUNS);
    fc.assert(fc.property(waitArb, bitsN(128), (desc, r) => {
      const reserved = r & WAIT_LAYOUT.reservedMask;
      same(decodeInvalidationDescriptor(encodeWait(desc, reserved)), { desc, reserved });
    }), RUNS);
  });
  it('decoding never throws', () => {
    fc.assert(fc.property(fc.bigInt(), (x) => { decodeInvalidationDescriptor(x); decodeIec(x); decodeWait(x); }), RUNS);
  });
  it('IEC bit positions: type 4, G bit 4 (1 = index-selective), IM 31:27, IIDX 47:32', () => {
    expect(encodeIec({ granularity: 'global', indexMask: 0, interruptIndex: 0 })).toBe(4n);
    // Linux qi_flush_iec: QI_IEC_TYPE | QI_IEC_IIDX(index) | QI_IEC_IM(mask) | QI_IEC_SELECTIVE
    expect(encodeIec({ granularity: 'index', indexMask: 3, interruptIndex: 0x28 })).toBe(4n | (1n << 4n) | (3n << 27n) | (0x28n << 32n));
    expect(decodeIec(0x0000_0028_1800_0014n).desc).toEqual({ kind: 'iec', granularity: 'index', indexMask: 3, interruptIndex: 0x28 });
    expect(descriptorType(0x204n)).toBe(0x14); // type-high bits 11:9 = 1 → type 0x14
    expect(decodeInvalidationDescriptor(0x204n).desc.kind).toBe('other');
    expect(decodeIec(1n << 64n).reserved).toBe(1n << 64n);
  });
  it('wait bit positions: type 5, IF 4, SW 5, FN 6, PD 7, STDATA 63:32, STADDR 127:66', () => {
    const raw = encodeWait({ interruptFlag: false, statusWrite: true, fence: true, pageRequestDrain: false, statusData: 1, statusAddress: 0x1234_5678n });
    expect(raw).toBe(5n | (1n << 5n) | (1n << 6n) | (1n << 32n) | (0x1234_5678n << 64n));
    expect(decodeWait((1n << 64n) | 5n).reserved).toBe(1n << 64n);
    expect(() => encodeWait({ ...decodeWait(5n).desc, statusAddress: 2n })).toThrow(RangeError);
  });
  it('encoders reject misfits', () => {
    expect(() => encodeIec({ granularity: 'index', indexMask: 32, interruptIndex: 0 })).toThrow(RangeError);
    expect(() => encodeIec({ granularity: 'index', indexMask: 0, interruptIndex: 0x10000 })).toThrow(RangeError);
    expect(() => encodeIec({ granularity: 'global', indexMask: 0, interruptIndex: 0 }, 1n << 4n)).toThrow(RangeError);
    expect(() => encodeInvalidationDescriptor({ kind: 'other', type: 2, raw: 1n })).toThrow(RangeError);
    expect(INV_DESC_TYPE.IEC).toBe(4);
  });
});

describe('iecCovers', () => {
  it('global covers every index', () => {
    fc.assert(fc.property(iecArb, uint(16), (d, i) => iecCovers({ ...d, granularity: 'global' }, i)), RUNS);
  });
  it('index-selective covers exactly the aligned 2^IM block containing IIDX', () => {
    const d: IecDescriptor = { kind: 'iec', granularity: 'index', indexMask: 2, interruptIndex: 0x28 };
    expect([0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c].map((i) => iecCovers(d, i))).toEqual([false, true, true, true, true, false]);
    expect(iecCovers({ ...d, indexMask: 0 }, 0x28)).toBe(true);
    expect(iecCovers({ ...d, indexMask: 0 }, 0x29)).toBe(false);
    fc.assert(
      fc.property(uint(5), uint(16), uint(16), (im, iidx, i) => {
        const covered = iecCovers({ kind: 'iec', granularity: 'index', indexMask: im, interruptIndex: iidx }, i);
        const block = 2 ** im;
        const start = iidx - (iidx % block);
        return covered === (i >= start && i < start + block);
      }),
      RUNS,
    );
  });
});
