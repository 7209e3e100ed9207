import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  composeRemappableMsi,
  decodeMsi,
  decodeRemappableAddress,
  decodeRemappableData,
  encodeRemappableAddress,
  encodeRemappableData,
  irteIndexOf,
  msiFormat,
  type RemappableAddress,
} from '../../src/vtd/remappable-msi.ts';
import { RUNS, bitsN, same, uint } from './arbitraries.ts';

const remapAddressArb: fc.Arbitrary<RemappableAddress> = fc.record({
  base: uint(12),
  handle: uint(16),
  shv: fc.boolean(),
  interruptFormat: uint(1),
  ignored: uint(2),
  high: uint(32),
});

describe('remappable-format address (sheet §2.1)', () => {
  it('encode(decode(x)) === x for every 64-bit address', () => {
    fc.assert(fc.property(bitsN(64), (x) => encodeRemappableAddress(decodeRemappableAddress(x)) === x), RUNS);
  });
  it('decode(encode(fields)) equals fields', () => {
    fc.assert(fc.property(remapAddressArb, (a) => same(decodeRemappableAddress(encodeRemappableAddress(a)), a)), RUNS);
  });
  it('every one of the 2^16 handles round-trips through the split handle field', () => {
    for (let handle = 0; handle <= 0xffff; handle++) {
      const { address } = composeRemappableMsi({ handle });
      const d = decodeMsi(address, 0);
      if (d.format !== 'remappable' || d.handle !== handle || d.irteIndex !== handle) {
        throw new Error(`handle 0x${handle.toString(16)} → ${JSON.stringify(d, (_, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
      }
    }
  });
  it('decoding never throws', () => {
    fc.assert(fc.property(fc.bigInt(), (x) => { decodeRemappableAddress(x); }), RUNS);
  });
  it('rejects a handle wider than 16 bits', () => {
    expect(() => composeRemappableMsi({ handle: 0x10000 })).toThrow(RangeError);
    expect(() => composeRemappableMsi({ handle: 0, subhandle: 0x10000 })).toThrow(RangeError);
  });
  it('lspci examples: handles 0x28, 0x29, 0x3a, 0x5a with SHV=1', () => {
    const cases: [bigint, number][] = [
      [0xfee00518n, 0x28],
      [0xfee00538n, 0x29],
      [0xfee00758n, 0x3a],
      [0xfee00b58n, 0x5a],
    ];
    for (const [address, handle] of cases) {
      expect(msiFormat(address)).toBe('remappable');
      expect(decodeRemappableAddress(address)).toEqual({ base: 0xfee, handle, shv: true, interruptFormat: 1, ignored: 0, high: 0 });
      expect(composeRemappableMsi({ handle }).address).toBe(address);
    }
  });
  it('handle[15] lives in address bit 2: 0xfee00014 → handle 0x8000', () => {
    expect(decodeRemappableAddress(0xfee00014n)).toMatchObject({ handle: 0x8000, shv: false, interruptFormat: 1 });
    expect(composeRemappableMsi({ handle: 0x8000, shv: false }).address).toBe(0xfee00014n);
  });
});

describe('remappable-format data and index (sheet §2.2, §2.3)', () => {
  it('data encode(decode(x)) === x and decode(encode(f)) equals f', () => {
    fc.assert(fc.property(uint(32), (x) => encodeRemappableData(decodeRemappableData(x)) === x), RUNS);
    fc.assert(fc.property(fc.record({ subhandle: uint(16), reserved: uint(16) }), (d) => same(decodeRemappableData(encodeRemappableData(d)), d)), RUNS);
  });
  it('SHV index wraps modulo 2^16: handle 0xffff + subhandle 1 → 0', () => {
    expect(irteIndexOf(0xffff, true, 1)).toBe(0);
    const { address, data } = composeRemappableMsi({ handle: 0xffff, subhandle: 1 });
    expect(decodeMsi(address, data)).toMatchObject({ format: 'remappable', handle: 0xffff, subhandle: 1, irteIndex: 0 });
  });
  it('without SHV the data is ignored; with SHV only data[15:0] is added', () => {
    expect(irteIndexOf(0x28, false, 0x1234)).toBe(0x28);
    expect(irteIndexOf(0x28, true, 0xabcd_0003)).toBe(0x2b);
    fc.assert(fc.property(uint(16), uint(32), (h, d) => irteIndexOf(h, true, d) === (h + (d & 0xffff)) % 65536), RUNS);
  });
});

describe('msiFormat / decodeMsi', () => {
  it('classifies by window and bit 4', () => {
    expect(msiFormat(0xfee00000n)).toBe('compatibility');
    expect(msiFormat(0xfee00010n)).toBe('remappable');
    expect(msiFormat(0xfed00000n)).toBe('not-interrupt');
    expect(msiFormat(0xfef00000n)).toBe('not-interrupt');
    expect(msiFormat(0x1_fee0_0010n)).toBe('not-interrupt');
  });
  it('lspci: 0xfee02000 / 0x0020 → compatibility, APIC 2, vector 0x20, fixed, edge, physical', () => {
    expect(decodeMsi(0xfee02000n, 0x0020)).toEqual({
      format: 'compatibility',
      address: 0xfee02000n,
      data: 0x20,
      destinationId: 2,
      extendedDestinationId: 0,
      destinationModeLogical: false,
      redirectionHint: false,
      vector: 0x20,
      deliveryMode: 'fixed',
      triggerMode: 'edge',
      levelAssert: false,
    });
  });
  it('lspci: 0xfee00000 / 0x00ef → APIC 0, vector 0xef', () => {
    expect(decodeMsi(0xfee00000n, 0x00ef)).toMatchObject({ format: 'compatibility', destinationId: 0, vector: 0xef, deliveryMode: 'fixed' });
  });
  it('never throws and always reports a 64-bit address and 32-bit data', () => {
    fc.assert(
      fc.property(fc.bigInt(), fc.oneof(fc.integer(), fc.maxSafeInteger()), (a, d) => {
        const m = decodeMsi(a, d);
        return m.address >= 0n && m.address < 1n << 64n && m.data >= 0 && m.data <= 0xffffffff && m.format === msiFormat(a);
      }),
      RUNS,
    );
  });
  it('every interrupt-window address decodes to the format its bit 4 names', () => {
    fc.assert(
      fc.property(uint(20), uint(32), (low, data) => {
        const m = decodeMsi(0xfee00000n + BigInt(low), data);
        return m.format === ((low & 0x10) !== 0 ? 'remappable' : 'compatibility');
      }),
      RUNS,
    );
  });
});
