import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DELIVERY_MODE_NAMES,
  INTERRUPT_WINDOW_FIRST,
  INTERRUPT_WINDOW_LAST,
  compatibilityDestination,
  composeCompatibilityMsi,
  decodeCompatibilityAddress,
  decodeMsiData,
  encodeCompatibilityAddress,
  encodeMsiData,
  isInterruptAddress,
  type CompatibilityAddress,
  type MsiData,
} from '../../src/x86/msi.ts';
import { RUNS, bitsN, same, uint } from './arbitraries.ts';

const compatAddressArb: fc.Arbitrary<CompatibilityAddress> = fc.record({
  base: uint(12),
  destinationId: uint(8),
  extendedDestinationId: uint(7),
  interruptFormat: uint(1),
  redirectionHint: fc.boolean(),
  destinationModeLogical: fc.boolean(),
  ignored: uint(2),
  high: uint(32),
});

const RESERVED_DATA = 0xffff_3800;
const msiDataArb: fc.Arbitrary<MsiData> = fc.record({
  vector: uint(8),
  deliveryMode: uint(3),
  levelAssert: fc.boolean(),
  triggerLevel: fc.boolean(),
  reserved: uint(32).map((x) => (x & RESERVED_DATA) >>> 0),
});

describe('compatibility-format address (sheet §1.1)', () => {
  it('encode(decode(x)) === x for every 64-bit address', () => {
    fc.assert(fc.property(bitsN(64), (x) => encodeCompatibilityAddress(decodeCompatibilityAddress(x)) === x), RUNS);
  });
  it('decode(encode(fields)) equals fields over the full range of every field', () => {
    fc.assert(fc.property(compatAddressArb, (a) => same(decodeCompatibilityAddress(encodeCompatibilityAddress(a)), a)), RUNS);
  });
  it('decoding never throws, whatever bigint it is given', () => {
    fc.assert(fc.property(fc.bigInt(), (x) => { decodeCompatibilityAddress(x); }), RUNS);
  });
  it('rejects out-of-range fields', () => {
    const a = decodeCompatibilityAddress(0xfee00000n);
    expect(() => encodeCompatibilityAddress({ ...a, destinationId: 256 })).toThrow(RangeError);
    expect(() => encodeCompatibilityAddress({ ...a, extendedDestinationId: 128 })).toThrow(RangeError);
    expect(() => encodeCompatibilityAddress({ ...a, high: 2 ** 32 })).toThrow(RangeError);
  });
  it('lspci: 0xfee02000 → APIC 2, physical, RH=0', () => {
    const a = decodeCompatibilityAddress(0xfee02000n);
    expect(a).toEqual({ base: 0xfee, destinationId: 2, extendedDestinationId: 0, interruptFormat: 0, redirectionHint: false, destinationModeLogical: false, ignored: 0, high: 0 });
  });
  it('15-bit extended destination ID: address 11:5 = destination 14:8', () => {
    const { address } = composeCompatibilityMsi({ destination: 0x7fff, vector: 0x30, extendedDestinationId: true });
    expect(address).toBe(0xfeefffe0n); // 0xff << 12 | 0x7f << 5
    const a = decodeCompatibilityAddress(address);
    expect(compatibilityDestination(a, true)).toBe(0x7fff);
    expect(compatibilityDestination(a, false)).toBe(0xff);
    fc.assert(
      fc.property(uint(15), (dest) => {
        const m = composeCompatibilityMsi({ destination: dest, vector: 0, extendedDestinationId: true });
        return compatibilityDestination(decodeCompatibilityAddress(m.address), true) === dest;
      }),
      RUNS,
    );
  });
  it('composeCompatibilityMsi rejects destinations that do not fit', () => {
    expect(() => composeCompatibilityMsi({ destination: 256, vector: 0 })).toThrow(RangeError);
    expect(() => composeCompatibilityMsi({ destination: 32768, vector: 0, extendedDestinationId: true })).toThrow(RangeError);
    expect(composeCompatibilityMsi({ destination: 255, vector: 0 }).address).toBe(0xfeeff000n);
  });
  it('interrupt window is exactly 0xFEE0_0000..0xFEEF_FFFF', () => {
    expect(isInterruptAddress(INTERRUPT_WINDOW_FIRST)).toBe(true);
    expect(isInterruptAddress(INTERRUPT_WINDOW_LAST)).toBe(true);
    expect(isInterruptAddress(INTERRUPT_WINDOW_FIRST - 1n)).toBe(false);
    expect(isInterruptAddress(INTERRUPT_WINDOW_LAST + 1n)).toBe(false);
    expect(isInterruptAddress(0x1_fee0_0000n)).toBe(false);
  });
});

describe('MSI data (sheet §1.2)', () => {
  it('encode(decode(x)) === x for every 32-bit word', () => {
    fc.assert(fc.property(uint(32), (x) => encodeMsiData(decodeMsiData(x)) === x), RUNS);
  });
  it('decode(encode(fields)) equals fields', () => {
    fc.assert(fc.property(msiDataArb, (d) => same(decodeMsiData(encodeMsiData(d)), d)), RUNS);
  });
  it('decoding never throws, whatever integer it is given (a non-integer number is a RangeError: test/codecs/uint-args.test.ts)', () => {
    fc.assert(fc.property(fc.oneof(fc.maxSafeInteger(), fc.integer(), fc.bigInt()), (x) => { decodeMsiData(x); }), RUNS);
  });
  it('lspci: data 0x0020 → vector 0x20, fixed, edge; 0x00ef → vector 0xef', () => {
    expect(decodeMsiData(0x0020)).toEqual({ vector: 0x20, deliveryMode: 0, levelAssert: false, triggerLevel: false, reserved: 0 });
    expect(decodeMsiData(0x00ef).vector).toBe(0xef);
    expect(DELIVERY_MODE_NAMES[decodeMsiData(0x0020).deliveryMode]).toBe('fixed');
  });
  it('reserved bits stay in place; misplaced reserved bits are rejected', () => {
    expect(decodeMsiData(0x8000_4820).reserved).toBe(0x8000_0800);
    expect(decodeMsiData(0xc020)).toMatchObject({ levelAssert: true, triggerLevel: true, reserved: 0 });
    expect(() => encodeMsiData({ vector: 0, deliveryMode: 0, levelAssert: false, triggerLevel: false, reserved: 0x4000 })).toThrow(RangeError);
    expect(() => encodeMsiData({ vector: 256, deliveryMode: 0, levelAssert: false, triggerLevel: false, reserved: 0 })).toThrow(RangeError);
    expect(() => encodeMsiData({ vector: 0, deliveryMode: 0, levelAssert: false, triggerLevel: false, reserved: 2 ** 32 + 0x800 })).toThrow(RangeError);
  });
  it('DELIVERY_MODE_NAMES follows the SDM encoding', () => {
    expect(DELIVERY_MODE_NAMES).toEqual(['fixed', 'lowest-priority', 'smi', 'reserved-3', 'nmi', 'init', 'reserved-6', 'extint']);
  });
  it('composeCompatibilityMsi data defaults: fixed, edge, level bit follows trigger', () => {
    expect(composeCompatibilityMsi({ destination: 0, vector: 0xef })).toEqual({ address: 0xfee00000n, data: 0xef });
    expect(composeCompatibilityMsi({ destination: 1, vector: 0x41, triggerLevel: true, deliveryMode: 1, destinationModeLogical: true, redirectionHint: true }))
      .toEqual({ address: 0xfee0100cn, data: 0xc141 });
  });
});
