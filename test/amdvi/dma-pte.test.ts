/**
 * AMD-Vi v1 page-table entry layouts (src/amdvi/dma/pte.ts): bit positions against Linux
 * `amd_iommu_types.h` / VirtualBox `IOMMU_P{D,T}E_RSVD_MASK`, exact round trips of every 64-bit
 * word, the Next-Level-7 size encoding (Linux `PAGE_SIZE_PTE` / `PTE_PAGE_SIZE`) and level
 * geometry. Each property is also run against a deliberately broken codec, which fast-check must
 * catch.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  V1_ADDR_MASK,
  V1_PDE_LAYOUT,
  V1_PTE_LAYOUT,
  decodeV1Entry,
  defaultPageSize,
  encodeV1Entry,
  isPde,
  levelIndex,
  modeInputBits,
  nextLevelOf,
  sizedLeafAddress,
  sizedLeafFits,
  sizedLeafPageSize,
  skippedLevelsMask,
  type V1Entry,
} from '../../src/amdvi/dma/pte.ts';

const RUNS = { seed: 0x13a3d, numRuns: 400 } as const;
const word = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

describe('v1 entry layout (Linux IOMMU_PTE_*, PM_LEVEL_ENC; VirtualBox IOPDE_T / IOPTE_T)', () => {
  it('names the bits Linux defines', () => {
    const e = decodeV1Entry((1n << 0n) | (1n << 59n) | (1n << 60n) | (1n << 61n) | (1n << 62n) | 0x1234_5000n);
    expect(e).toMatchObject({ kind: 'pte', present: true, u: true, fc: true, ir: true, iw: true, nextLevel: 0, address: 0x1234_5000n, reserved: 0n });
    // PM_LEVEL_PDE(2, 0x1234000) = addr | 2 << 9 | PR | IR | IW
    const pde = 0x1234000n | (2n << 9n) | 1n | (1n << 61n) | (1n << 62n);
    expect(pde).toBe(0x6000_0000_0123_4401n);
    expect(decodeV1Entry(pde)).toMatchObject({ kind: 'pde', nextLevel: 2, address: 0x123_4000n, ir: true, iw: true, reserved: 0n, ignored: 0n });
  });

  it('reserves PDE bits 60:52 and PTE bits 58:52 (sheet §7; VirtualBox IOMMU_PDE_RSVD_MASK / IOMMU_PTE_RSVD_MASK)', () => {
    expect(V1_PDE_LAYOUT.reservedMask).toBe(0x1ff0_0000_0000_0000n);
    expect(V1_PTE_LAYOUT.reservedMask).toBe(0x07f0_0000_0000_0000n);
    // U and FC exist only in a PTE: in a PDE they are reserved bits.
    expect(decodeV1Entry((1n << 9n) | 1n | (1n << 59n))).toMatchObject({ kind: 'pde', u: false, reserved: 1n << 59n });
    // Bit 6 is D in a PTE and ignored in a PDE; bit 63 is ignored in both.
    expect(decodeV1Entry(1n | (1n << 6n))).toMatchObject({ dirty: true, ignored: 0n });
    expect(decodeV1Entry((3n << 9n) | 1n | (1n << 6n) | (1n << 63n))).toMatchObject({ dirty: false, ignored: (1n << 6n) | (1n << 63n) });
  });

  it('chooses the layout by Next Level: 1..6 PDE, 0 default leaf, 7 size-encoded leaf', () => {
    for (let nl = 0; nl < 8; nl++) {
      const e = BigInt(nl) << 9n;
      expect(nextLevelOf(e)).toBe(nl);
      expect(isPde(e)).toBe(nl >= 1 && nl <= 6);
      expect(decodeV1Entry(e).kind).toBe(nl === 0 ? 'pte' : nl === 7 ? 'sized-pte' : 'pde');
    }
  });

  const roundTrip = (decode: (x: bigint) => V1Entry, encode: (e: V1Entry) => bigint) => fc.property(word, (x) => encode(decode(x)) === x);

  it('round-trips every 64-bit word exactly (fixed seed)', () => {
    expect(fc.check(roundTrip(decodeV1Entry, encodeV1Entry), RUNS).failed).toBe(false);
  });

  it('the round-trip property catches a codec that drops ignored bits or confuses the two layouts', () => {
    const dropsIgnored = (x: bigint): V1Entry => ({ ...decodeV1Entry(x), ignored: 0n });
    expect(fc.check(roundTrip(dropsIgnored, encodeV1Entry), RUNS).failed).toBe(true);
    // A decoder that always uses the PTE layout loses the PDE's reserved bit 59/60 as U/FC.
    const pteOnly = (x: bigint): V1Entry => {
      const f = V1_PTE_LAYOUT.decode(x);
      return { ...decodeV1Entry(x), u: f.U === 1, fc: f.FC === 1, reserved: V1_PTE_LAYOUT.reservedSet(x) };
    };
    const safeEncode = (e: V1Entry): bigint => {
      try {
        return encodeV1Entry(e);
      } catch {
        return -1n;
      }
    };
    expect(fc.check(roundTrip(pteOnly, safeEncode), RUNS).failed).toBe(true);
  });

  it('encode rejects values a field cannot hold', () => {
    const base = decodeV1Entry(1n);
    expect(() => encodeV1Entry({ ...base, address: 0x1001n })).toThrow(RangeError);
    expect(() => encodeV1Entry({ ...base, address: 1n << 52n })).toThrow(RangeError);
    expect(() => encodeV1Entry({ ...base, nextLevel: 8 })).toThrow(RangeError);
    expect(() => encodeV1Entry({ ...base, nextLevel: 3, u: true })).toThrow(RangeError);
    expect(() => encodeV1Entry({ ...base, reserved: 1n << 59n })).toThrow(RangeError); // U is a field in a PTE
    expect(() => encodeV1Entry({ ...base, ignored: 1n << 61n })).toThrow(RangeError);
  });
});

describe('Next Level 7: page size in the address bits (Linux PAGE_SIZE_PTE / PTE_PAGE_SIZE)', () => {
  it('matches Linux for small examples', () => {
    // 8 KiB at 0x4000: (0x4000 | 0x1fff) & ~0x1000 = 0x4fff → address field 0x4000, bit 12 clear.
    expect(sizedLeafAddress(0x4000n, 0x2000n)).toBe(0x4000n);
    expect(sizedLeafPageSize(0x4000n)).toBe(0x2000n);
    // 16 KiB at 0x8000 → 0x9000 (bit 12 set, bit 13 clear).
    expect(sizedLeafAddress(0x8000n, 0x4000n)).toBe(0x9000n);
    expect(sizedLeafPageSize(0x9000n | (7n << 9n) | 1n)).toBe(0x4000n);
    // 4 MiB at 0x40_0000 → bits 20:12 ones, bit 21 clear.
    expect(sizedLeafAddress(0x40_0000n, 0x40_0000n)).toBe(0x5f_f000n);
    // All of 51:12 ones → the first zero is taken as bit 52.
    expect(sizedLeafPageSize(V1_ADDR_MASK)).toBe(1n << 53n);
  });

  const sizeAndAddress = fc.integer({ min: 13, max: 52 }).chain((k) => fc.tuple(fc.constant(k), fc.bigInt({ min: 0n, max: (1n << BigInt(52 - k)) - 1n })));
  const encodes = (enc: (a: bigint, s: bigint) => bigint) =>
    fc.property(sizeAndAddress, ([k, frame]) => {
      const size = 1n << BigInt(k);
      const address = frame * size;
      const field = enc(address, size);
      return sizedLeafPageSize(field) === size && (field & ~(size - 1n)) === address;
    });

  it('decodes the size and base it encodes for every size 8 KiB..4 PiB (fixed seed)', () => {
    expect(fc.check(encodes(sizedLeafAddress), RUNS).failed).toBe(false);
  });

  it('the property catches an encoder that forgets to clear the size bit', () => {
    expect(fc.check(encodes((a, s) => (a | (s - 1n)) & V1_ADDR_MASK), RUNS).failed).toBe(true);
  });

  it('a level holds sizes strictly between its default size and the next level\'s (VirtualBox)', () => {
    expect(sizedLeafFits(1, 1n << 13n)).toBe(true);
    expect(sizedLeafFits(1, 1n << 20n)).toBe(true);
    expect(sizedLeafFits(1, 1n << 21n)).toBe(false);
    expect(sizedLeafFits(2, 1n << 21n)).toBe(false);
    expect(sizedLeafFits(2, 1n << 22n)).toBe(true);
    expect(sizedLeafFits(2, 1n << 29n)).toBe(true);
    expect(sizedLeafFits(3, 1n << 30n)).toBe(false);
    expect(sizedLeafFits(3, 1n << 31n)).toBe(true);
  });

  it('rejects sizes and addresses it cannot encode', () => {
    expect(() => sizedLeafAddress(0n, 0x1000n)).toThrow(RangeError);
    expect(() => sizedLeafAddress(0n, 0x3000n)).toThrow(RangeError);
    expect(() => sizedLeafAddress(0x1000n, 0x2000n)).toThrow(RangeError);
  });
});

describe('level geometry (Linux PM_LEVEL_SHIFT, PM_LEVEL_SIZE; VirtualBox s_auIovaLevelMasks)', () => {
  it('indexes, sizes and mode widths', () => {
    expect(levelIndex(0x1ffn << 12n, 1)).toBe(0x1ff);
    expect(levelIndex(1n << 63n, 6)).toBe(0x40);
    expect([1, 2, 3, 4, 5, 6].map(defaultPageSize)).toEqual([1n << 12n, 1n << 21n, 1n << 30n, 1n << 39n, 1n << 48n, 1n << 57n]);
    expect([1, 2, 3, 4, 5, 6].map(modeInputBits)).toEqual([21, 30, 39, 48, 57, 64]);
    expect(() => modeInputBits(0)).toThrow(RangeError);
    expect(() => modeInputBits(7)).toThrow(RangeError);
  });

  it('skipped-level masks are the union of VirtualBox s_auIovaLevelMasks', () => {
    expect(skippedLevelsMask(4, 1)).toBe(0x0000_007f_c000_0000n | 0x0000_0000_3fe0_0000n);
    expect(skippedLevelsMask(6, 4)).toBe(0x01ff_0000_0000_0000n);
    expect(skippedLevelsMask(6, 0)).toBe(0x01ff_ffff_ffff_f000n);
    expect(skippedLevelsMask(3, 2)).toBe(0n);
  });
});
