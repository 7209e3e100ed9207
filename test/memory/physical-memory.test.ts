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

  it('keeps contents through packing: frames filled in any order, rewritten, shadowed and repacked, old versions unchanged', () => {
    // Frames 0 and 1 (8 KiB): every 16-byte slot of frame 0 in a random order (IRTEs stored one
    // at a time), then random stores of every width the model makes, some to a chunk's end.
    const SIZE = 0x2000;
    const slots = fc.shuffledSubarray([...Array(256).keys()], { minLength: 256, maxLength: 256 });
    const op = fc.oneof(
      fc.record({ kind: fc.constant('le' as const), address: fc.integer({ min: 0, max: SIZE / 16 - 1 }).map((i) => i * 16), bytes: fc.constantFrom(4, 8, 16), value: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }) }),
      fc.record({ kind: fc.constant('bytes' as const), address: fc.integer({ min: 0, max: SIZE - 1 }), length: fc.integer({ min: 1, max: 600 }), fill: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('words' as const), address: fc.integer({ min: 0, max: SIZE / 4 - 16 }).map((i) => i * 4), count: fc.integer({ min: 1, max: 16 }), fill: fc.integer({ min: 0, max: 0xffffffff }) }),
    );
    fc.assert(
      fc.property(slots, fc.array(op, { maxLength: 120 }), (order, ops) => {
        let mem = PhysicalMemory.empty();
        const model = new Uint8Array(SIZE);
        const saved: { mem: PhysicalMemory; model: Uint8Array }[] = [];
        const store = (address: number, data: Uint8Array): void => model.set(data.subarray(0, Math.max(0, Math.min(data.length, SIZE - address))), address);
        const le = (value: bigint, bytes: number): Uint8Array => Uint8Array.from({ length: bytes }, (_, i) => Number((value >> BigInt(8 * i)) & 0xffn));
        order.forEach((slot, i) => {
          const value = (BigInt(slot) << 64n) | BigInt(i + 1);
          mem = mem.writeLE(BigInt(slot * 16), 16, value);
          store(slot * 16, le(value, 16));
          if (i % 64 === 63) saved.push({ mem, model: model.slice() });
        });
        for (const o of ops) {
          if (o.kind === 'le') {
            const value = o.value & ((1n << BigInt(8 * o.bytes)) - 1n);
            mem = mem.writeLE(BigInt(o.address), o.bytes, value);
            store(o.address, le(value, o.bytes));
          } else if (o.kind === 'bytes') {
            const data = new Uint8Array(Math.min(o.length, SIZE - o.address)).fill(o.fill);
            mem = mem.writeBytes(BigInt(o.address), data);
            store(o.address, data);
          } else {
            const first = (o.address & 0xff) >> 2;
            const count = Math.min(o.count, 64 - first);
            mem = mem.modifyWords(BigInt(o.address), count, (words, at) => { for (let i = 0; i < count; i++) words[at + i] = o.fill; });
            store(o.address, le(BigInt(o.fill >>> 0) * ((1n << BigInt(32 * count)) - 1n) / 0xffffffffn, 4 * count));
          }
          saved.push({ mem, model: model.slice() });
        }
        for (const v of [...saved, { mem, model }]) {
          for (let a = 0; a < SIZE; a += 16) {
            let expected = 0n;
            for (let i = 15; i >= 0; i--) expected = (expected << 8n) | BigInt(v.model[a + i]!);
            if (v.mem.readLE(BigInt(a), 16) !== expected) return false;
          }
          expect(v.mem.readWords(0x7f0n, 4)).toEqual(Uint32Array.from({ length: 4 }, (_, i) => new DataView(v.model.buffer).getUint32(0x7f0 + 4 * i, true)));
        }
        return true;
      }),
      { seed: SEED + 1, numRuns: 60 },
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
