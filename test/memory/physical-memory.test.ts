import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';

const SEED = 0x3e3_0001;
/** Addresses spread over 64-bit space, but clustered so that writes overlap. */
const addressArb = fc.oneof(
  fc.bigInt({ min: 0n, max: 0x3fffn }),
  fc.bigInt({ min: 0xfff0n, max: 0x1_0010n }),
  fc.bigInt({ min: (1n << 57n) - 0x20n, max: (1n << 57n) + 0x20n }),
  fc.bigInt({ min: (1n << 64n) - 0x40n, max: (1n << 64n) - 17n }),
);

describe('PhysicalMemory', () => {
  it('reads back what was written, byte for byte, against a Map model (64-bit addresses exact)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ address: addressArb, bytes: fc.constantFrom(1, 2, 4, 8, 16), value: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }) }), { maxLength: 30 }),
        (writes) => {
          let mem = PhysicalMemory.empty();
          const model = new Map<bigint, number>();
          for (const w of writes) {
            const value = w.value & ((1n << BigInt(8 * w.bytes)) - 1n);
            mem = mem.writeLE(w.address, w.bytes, value);
            for (let i = 0; i < w.bytes; i++) model.set(w.address + BigInt(i), Number((value >> BigInt(8 * i)) & 0xffn));
          }
          for (const [a, b] of model) expect(mem.readBytes(a, 1)[0]).toBe(b);
          for (const w of writes) {
            let expected = 0n;
            for (let i = w.bytes - 1; i >= 0; i--) expected = (expected << 8n) | BigInt(model.get(w.address + BigInt(i)) ?? 0);
            expect(mem.readLE(w.address, w.bytes)).toBe(expected);
          }
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('is persistent: a write leaves the old memory unchanged', () => {
    const a = PhysicalMemory.empty().writeU64(0x1000n, 0x1122334455667788n);
    const b = a.writeU64(0x1000n, 0n);
    expect(a.readU64(0x1000n)).toBe(0x1122334455667788n);
    expect(b.readU64(0x1000n)).toBe(0n);
    expect(a.populatedFrames).toBe(1);
  });

  it('reads unpopulated memory as zero and counts populated 4 KiB frames', () => {
    let m = PhysicalMemory.empty();
    expect(m.readU32(0xdead_beefn & ~3n)).toBe(0);
    m = m.writeBytes(0xffen, new Uint8Array([1, 2, 3, 4])); // straddles two frames
    expect(m.populatedFrames).toBe(2);
    expect(m.frames()).toEqual([0, 1]);
    expect(m.readU32(0xffen)).toBe(0x04030201);
  });

  it('rejects accesses beyond 2^64 and values that do not fit', () => {
    const m = PhysicalMemory.empty();
    expect(() => m.writeLE((1n << 64n) - 2n, 4, 0n)).toThrow(RangeError);
    expect(() => m.writeLE(0n, 2, 0x10000n)).toThrow(RangeError);
  });
});
