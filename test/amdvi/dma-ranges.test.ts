/**
 * Exclusion range and IVMD unity ranges (src/amdvi/dma/ranges.ts): register decode, the
 * ExEn && (Allow || DTE.EX) && base ≤ address ≤ limit|0xFFF rule (sheet §2.3), and Linux's
 * `init_unity_map_range` treatment of IVMD 20h/21h/22h blocks. The exclusion property is also
 * run against a lookup with an exclusive limit, which fast-check must catch.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { bumpAllocator } from '../../src/vtd/dma/builder.ts';
import { buildAmdV1 } from '../../src/amdvi/dma/builder.ts';
import { walkAmdV1 } from '../../src/amdvi/dma/walk.ts';
import {
  IVMD_FLAG,
  IVMD_TYPE,
  decodeExclusionRange,
  inExclusionRange,
  ivmdCoversDevice,
  unityRangeOf,
  unityRangesAt,
  unityRangesFor,
  unityMappings,
  type ExclusionRange,
  type IvmdBlock,
} from '../../src/amdvi/dma/ranges.ts';

const RUNS = { seed: 0xe8c1, numRuns: 300 } as const;

describe('exclusion range (MMIO 0x20 / 0x28)', () => {
  it('decodes ExEn, Allow, base and an inclusive limit with its low 12 bits as ones', () => {
    expect(decodeExclusionRange(0x1234_5000n | 0b11n, 0x1234_8000n)).toEqual({ enabled: true, allowAll: true, base: 0x1234_5000n, limit: 0x1234_8fffn });
    expect(decodeExclusionRange(0x1234_5000n, 0n)).toMatchObject({ enabled: false, allowAll: false, limit: 0xfffn });
  });

  it('bypasses only when enabled and allowed for every device or by DTE.EX', () => {
    const r = decodeExclusionRange(0x10_0000n | 1n, 0x1f_f000n);
    expect(inExclusionRange(r, true, 0x10_0000n)).toBe(true);
    expect(inExclusionRange(r, true, 0x1f_ffffn)).toBe(true);
    expect(inExclusionRange(r, true, 0x20_0000n)).toBe(false);
    expect(inExclusionRange(r, true, 0xf_ffffn)).toBe(false);
    expect(inExclusionRange(r, false, 0x10_0000n)).toBe(false);
    expect(inExclusionRange({ ...r, allowAll: true }, false, 0x10_0000n)).toBe(true);
    expect(inExclusionRange({ ...r, enabled: false }, true, 0x10_0000n)).toBe(false);
    // limit below base: nothing is excluded.
    expect(inExclusionRange(decodeExclusionRange(0x20_0000n | 3n, 0x10_0000n), true, 0x10_0000n)).toBe(false);
  });

  const frame = fc.bigInt({ min: 0n, max: (1n << 40n) - 1n });
  /** Addresses anywhere around the range, or within 2 bytes of either end. */
  const prop = (lookup: (r: ExclusionRange, ex: boolean, a: bigint) => boolean) =>
    fc.property(
      frame,
      fc.bigInt({ min: 0n, max: 0x4000n }),
      fc.oneof(fc.bigInt({ min: -0x3000n, max: 0x6fffn }).map((d) => ({ at: 'base' as const, d })), fc.bigInt({ min: -2n, max: 2n }).map((d) => ({ at: 'limit' as const, d })), fc.bigInt({ min: -2n, max: 2n }).map((d) => ({ at: 'base' as const, d }))),
      fc.boolean(),
      fc.boolean(),
      (baseFrame, span, where, ex, allow) => {
        const base = baseFrame << 12n;
        const limitReg = (base + (span << 12n)) & ((1n << 52n) - 1n);
        const r = decodeExclusionRange(base | 1n | (allow ? 2n : 0n), limitReg);
        const addr = (where.at === 'base' ? base : limitReg | 0xfffn) + where.d;
        if (addr < 0n) return true;
        const expected = (allow || ex) && addr >= base && addr <= (limitReg | 0xfffn);
        return lookup(r, ex, addr) === expected;
      },
    );

  it('matches base ≤ address ≤ limit | 0xFFF for random ranges (fixed seed)', () => {
    expect(fc.check(prop(inExclusionRange), RUNS).failed).toBe(false);
  });

  it('the property catches a lookup whose limit is exclusive', () => {
    const exclusive = (r: ExclusionRange, ex: boolean, a: bigint) => r.enabled && (r.allowAll || ex) && a >= r.base && a < r.limit;
    expect(fc.check(prop(exclusive), RUNS).failed).toBe(true);
  });
});

describe('IVMD unity ranges (Linux init_unity_map_range)', () => {
  const block = (b: Partial<IvmdBlock>): IvmdBlock => ({ type: IVMD_TYPE.SELECT, flags: IVMD_FLAG.UNITY | IVMD_FLAG.IR, deviceId: 0x10, auxData: 0, startAddress: 0xa_0000n, memoryLength: 0x2_0000n, ...b });

  it('20h covers every device, 21h one DeviceID, 22h DeviceID..AuxData inclusive; others none', () => {
    expect(ivmdCoversDevice(block({ type: IVMD_TYPE.ALL }), 0xffff)).toBe(true);
    expect(ivmdCoversDevice(block({}), 0x10)).toBe(true);
    expect(ivmdCoversDevice(block({}), 0x11)).toBe(false);
    const range = block({ type: IVMD_TYPE.RANGE, deviceId: 0x100, auxData: 0x1ff });
    expect([0xff, 0x100, 0x1ff, 0x200].map((d) => ivmdCoversDevice(range, d))).toEqual([false, true, true, false]);
    expect(ivmdCoversDevice(block({ type: 0x10 }), 0x10)).toBe(false);
  });

  it('rounds start and length up to 4 KiB, rights from flags >> 1; exclusion blocks are read/write', () => {
    expect(unityRangeOf(block({ startAddress: 0xa_0001n, memoryLength: 0x1001n }))).toEqual({ start: 0xa_1000n, end: 0xa_3000n, read: true, write: false, fromExclusion: false });
    expect(unityRangeOf(block({ flags: IVMD_FLAG.UNITY | IVMD_FLAG.IW }))).toMatchObject({ read: false, write: true });
    expect(unityRangeOf(block({ flags: IVMD_FLAG.EXCLUSION_RANGE }))).toMatchObject({ read: true, write: true, fromExclusion: true });
    expect(unityRangeOf(block({ flags: IVMD_FLAG.IR | IVMD_FLAG.IW }))).toBeUndefined();
  });

  it('looks up the ranges of a device that hold an address', () => {
    const blocks = [
      block({ type: IVMD_TYPE.ALL, startAddress: 0xa_0000n, memoryLength: 0x1_0000n }),
      block({ deviceId: 0x20, startAddress: 0xb_0000n, memoryLength: 0x1000n, flags: IVMD_FLAG.UNITY | IVMD_FLAG.IW }),
      block({ deviceId: 0x20, memoryLength: 0n }),
    ];
    expect(unityRangesFor(blocks, 0x20)).toHaveLength(2);
    expect(unityRangesFor(blocks, 0x21)).toHaveLength(1);
    expect(unityRangesAt(blocks, 0x20, 0xb_0fffn)).toEqual([{ start: 0xb_0000n, end: 0xb_1000n, read: false, write: true, fromExclusion: false }]);
    expect(unityRangesAt(blocks, 0x20, 0xb_1000n)).toEqual([]);
    expect(unityRangesAt(blocks, 0x21, 0xa_ffffn)).toHaveLength(1);
    expect(unityRangesAt(blocks, 0x21, 0xb_0000n)).toEqual([]);
  });

  it('unity ranges become identity mappings the builder installs and the walk honours', () => {
    const blocks = [
      block({ type: IVMD_TYPE.ALL, startAddress: 0xa_0000n, memoryLength: 0x1_0000n }),
      block({ deviceId: 0x20, startAddress: 0x20_0000n, memoryLength: 0x20_0000n, flags: IVMD_FLAG.EXCLUSION_RANGE }),
      block({ deviceId: 0x20, startAddress: 0x50_0000n, memoryLength: 0x1000n, flags: IVMD_FLAG.UNITY }),
    ];
    const ms = unityMappings(blocks, 0x20);
    expect(ms).toEqual([
      { iova: 0xa_0000n, hpa: 0xa_0000n, size: 0x1_0000n, read: true, write: false },
      { iova: 0x20_0000n, hpa: 0x20_0000n, size: 0x20_0000n, read: true, write: true },
    ]);
    const b = buildAmdV1(PhysicalMemory.empty(), bumpAllocator(0x1000_0000n, 0x1010_0000n), ms, { mode: 3 });
    const dte = { mode: 3, root: b.root, ir: true, iw: true };
    const w = walkAmdV1(b.memory, 52, dte, 0x3f_fff0n, true);
    expect(w.ok && w.hpa).toBe(0x3f_fff0n);
    expect(w.ok && w.pageSize).toBe(0x20_0000n);
    const ro = walkAmdV1(b.memory, 52, dte, 0xa_1234n, true);
    expect(!ro.ok && ro.fault.cause).toBe('permission');
    const none = walkAmdV1(b.memory, 52, dte, 0x50_0000n, false);
    expect(!none.ok && none.fault.cause).toBe('not-present');
  });
});
