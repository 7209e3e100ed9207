/**
 * The v1 table builder (src/amdvi/dma/builder.ts): entry values as Linux writes them
 * (`PM_LEVEL_PDE`, `iommu_v1_map_pages`), page placement (`PAGE_SIZE_LEVEL`,
 * `PAGE_SIZE_PTE_COUNT`), size choice, skip levels and their undoing, and its errors. The skip
 * property is also run against a builder that skips without checking the IOVA bits.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { bumpAllocator } from '../../src/vtd/dma/builder.ts';
import { buildAmdV1, pagePlacement, pde, splitV1Mapping, type AmdV1Build, type AmdV1Mapping } from '../../src/amdvi/dma/builder.ts';
import { walkAmdV1 } from '../../src/amdvi/dma/walk.ts';
import { V1_ADDR_MASK, levelIndex } from '../../src/amdvi/dma/pte.ts';

const RUNS = { seed: 0xb17d, numRuns: 150 } as const;
const A0 = 0x2_0000_0000n;
const alloc = () => bumpAllocator(A0, A0 + 0x100_0000n);
const rw = (iova: bigint, hpa: bigint, size: bigint | number): AmdV1Mapping => ({ iova, hpa, size, read: true, write: true });

describe('entries as Linux writes them', () => {
  it('PDEs are PM_LEVEL_PDE(next level, table): PR | IR | IW; leaves PR | FC | IR/IW', () => {
    const b = buildAmdV1(PhysicalMemory.empty(), alloc(), [{ iova: 0x3000n, hpa: 0xa000n, size: 4096, read: true, write: false }], { mode: 3 });
    expect(b.root).toBe(A0);
    expect(b.tables).toEqual([A0, A0 + 0x1000n, A0 + 0x2000n]);
    expect(b.memory.readLE(A0, 8)).toBe(0x6000_0000_0000_0001n | (A0 + 0x1000n) | (2n << 9n));
    expect(pde(A0 + 0x2000n, 1)).toBe(0x6000_0000_0000_0201n | (A0 + 0x2000n));
    expect(b.memory.readLE(A0 + 0x2000n + 3n * 8n, 8)).toBe(0xa000n | 1n | (1n << 60n) | (1n << 61n));
  });

  it('a 16 KiB page is four Next-Level-7 entries with PAGE_SIZE_PTE address bits', () => {
    const b = buildAmdV1(PhysicalMemory.empty(), alloc(), [rw(0x10000n, 0x2_0000n, 0x4000n)], { mode: 2, pageSizes: [0x4000n] });
    const leafTable = b.tables.at(-1)!;
    const expected = 0x2_1000n | (7n << 9n) | 1n | (7n << 60n); // (0x20000 | 0x3fff) & ~0x2000 & mask = 0x21000
    for (let i = 16; i < 20; i++) expect(b.memory.readLE(leafTable + BigInt(i * 8), 8)).toBe(expected);
    expect(b.memory.readLE(leafTable + 20n * 8n, 8)).toBe(0n);
  });

  it('U and FC follow the mapping', () => {
    const b = buildAmdV1(PhysicalMemory.empty(), alloc(), [{ ...rw(0n, 0x1000n, 4096), u: true, fc: false }], { mode: 1 });
    expect(b.memory.readLE(b.root, 8)).toBe(0x1000n | 1n | (1n << 59n) | (3n << 61n));
  });
});

describe('page placement and size choice', () => {
  it('Linux PAGE_SIZE_LEVEL / PAGE_SIZE_PTE_COUNT', () => {
    expect(pagePlacement(1n << 12n)).toEqual({ level: 1, count: 1 });
    expect(pagePlacement(1n << 13n)).toEqual({ level: 1, count: 2 });
    expect(pagePlacement(1n << 20n)).toEqual({ level: 1, count: 256 });
    expect(pagePlacement(1n << 21n)).toEqual({ level: 2, count: 1 });
    expect(pagePlacement(1n << 22n)).toEqual({ level: 2, count: 2 });
    expect(pagePlacement(1n << 30n)).toEqual({ level: 3, count: 1 });
    expect(pagePlacement(1n << 39n)).toEqual({ level: 4, count: 1 });
    expect(() => pagePlacement(0x800n)).toThrow(RangeError);
    expect(() => pagePlacement(0x3000n)).toThrow(RangeError);
  });

  it('splits greedily into the largest aligned allowed sizes', () => {
    const sizes = [1n << 12n, 1n << 21n, 1n << 30n];
    expect(splitV1Mapping(0x1ff000n, 0x1ff000n, 0x202000n, sizes).map((p) => p.size)).toEqual([1n << 12n, 1n << 21n, 1n << 12n]);
    // HPA misaligned for 2 MiB: 4 KiB pages only.
    expect(splitV1Mapping(0n, 0x1000n, 1n << 21n, sizes)).toHaveLength(512);
    expect(() => splitV1Mapping(0n, 0n, 0x1000n, [1n << 21n])).toThrow(RangeError);
  });

  it('the default sizes stop at what the mode holds; explicit sizes beyond it throw', () => {
    const b = buildAmdV1(PhysicalMemory.empty(), alloc(), [rw(0n, 0n, 1n << 30n)], { mode: 2 });
    const t = walkAmdV1(b.memory, 52, { mode: 2, root: b.root, ir: true, iw: true }, (1n << 30n) - 1n, false);
    expect(t.ok && t.pageSize).toBe(1n << 21n);
    expect(() => buildAmdV1(PhysicalMemory.empty(), alloc(), [rw(0n, 0n, 1n << 30n)], { mode: 2, pageSizes: [1n << 30n] })).toThrow(RangeError);
    expect(() => buildAmdV1(PhysicalMemory.empty(), alloc(), [rw(1n << 30n, 0n, 4096)], { mode: 2 })).toThrow(RangeError);
    expect(() => buildAmdV1(PhysicalMemory.empty(), alloc(), [rw(0n, 0n, 4096)], { mode: 7 })).toThrow(RangeError);
  });
});

describe('errors and reuse', () => {
  it('overlaps throw: the same page, a page inside a larger one, a larger page over a table', () => {
    const m = PhysicalMemory.empty();
    expect(() => buildAmdV1(m, alloc(), [rw(0n, 0n, 4096), rw(0n, 0x1000n, 4096)], { mode: 3 })).toThrow(/overlaps/);
    expect(() => buildAmdV1(m, alloc(), [rw(0n, 0n, 1n << 21n), rw(0x1000n, 0x1000n, 4096)], { mode: 3 })).toThrow(/overlaps a larger page/);
    expect(() => buildAmdV1(m, alloc(), [rw(0x1000n, 0n, 4096), rw(0n, 0n, 1n << 21n)], { mode: 3 })).toThrow(/overlaps/);
    expect(() => buildAmdV1(m, bumpAllocator(A0, A0 + 0x1000n), [rw(0n, 0n, 4096)], { mode: 3 })).toThrow(RangeError);
  });

  it('`root` extends an existing table', () => {
    const a = buildAmdV1(PhysicalMemory.empty(), alloc(), [rw(0n, 0x1000n, 4096)], { mode: 3 });
    const b = buildAmdV1(a.memory, a.allocator, [rw(0x1000n, 0x5000n, 4096)], { mode: 3, root: a.root });
    expect(b.root).toBe(a.root);
    expect(b.tables).toEqual([]);
    for (const [iova, hpa] of [[0n, 0x1000n], [0x1000n, 0x5000n]] as const) {
      const t = walkAmdV1(b.memory, 52, { mode: 3, root: b.root, ir: true, iw: true }, iova, true);
      expect(t.ok && t.hpa).toBe(hpa);
    }
  });
});

describe('skip levels', () => {
  it('a second mapping that needs a skipped level gets it back; both still translate', () => {
    const b = buildAmdV1(PhysicalMemory.empty(), alloc(), [rw(0x5000n, 0x9000n, 4096), rw(1n << 31n, 0xb000n, 4096), rw(1n << 38n, 0xc000n, 4096)], { mode: 5, skipLevels: true });
    const dte = { mode: 5, root: b.root, ir: true, iw: true };
    for (const [iova, hpa, levels] of [[0x5000n, 0x9000n, [5, 4, 3, 1]], [1n << 31n, 0xb000n, [5, 4, 3, 1]], [1n << 38n, 0xc000n, [5, 4, 3, 1]]] as const) {
      const t = walkAmdV1(b.memory, 52, dte, iova, false);
      if (!t.ok) throw new Error(t.fault.cause);
      expect(t.hpa).toBe(hpa);
      expect(t.references.map((r) => r.level)).toEqual(levels);
    }
  });

  type Builder = typeof buildAmdV1;
  /** Skip-level tables translate exactly like full tables, in no more references. */
  const sameAsFull = (builder: Builder) =>
    fc.property(
      fc.uniqueArray(fc.record({ slot: fc.integer({ min: 0, max: 63 }), shift: fc.constantFrom(12n, 21n, 30n, 39n) }), { selector: (x) => `${x.slot}:${x.shift}`, minLength: 1, maxLength: 6 }),
      fc.integer({ min: 4, max: 6 }),
      (picks, mode) => {
        const seen = new Set<bigint>();
        const ms: AmdV1Mapping[] = [];
        for (const p of picks) {
          const iova = BigInt(p.slot) << p.shift;
          if (seen.has(iova)) continue;
          seen.add(iova);
          ms.push(rw(iova, 0x10_0000_0000n + BigInt(ms.length) * 0x1000n, 4096));
        }
        const full = buildAmdV1(PhysicalMemory.empty(), alloc(), ms, { mode });
        const skip = builder(PhysicalMemory.empty(), alloc(), ms, { mode, skipLevels: true });
        return ms.every((m) => {
          const a = walkAmdV1(full.memory, 52, { mode, root: full.root, ir: true, iw: true }, m.iova, true);
          const b = walkAmdV1(skip.memory, 52, { mode, root: skip.root, ir: true, iw: true }, m.iova, true);
          return a.ok && b.ok && a.hpa === b.hpa && b.references.length <= a.references.length;
        });
      },
    );

  it('skip-level tables translate like full tables (fixed seed)', () => {
    expect(fc.check(sameAsFull(buildAmdV1), RUNS).failed).toBe(false);
  });

  it('the property catches a builder that skips without checking the IOVA bits', () => {
    // Build with skipping, then rewrite every PDE under the root to skip straight to level 1.
    const careless: Builder = (memory, allocator, mappings, opts) => {
      const b: AmdV1Build = buildAmdV1(memory, allocator, mappings, { ...opts, skipLevels: false });
      let mem = b.memory;
      for (const m of mappings) {
        let table = b.root;
        let level = opts.mode;
        const chain: bigint[] = [];
        while (level > 1) {
          const at = table + BigInt(levelIndex(m.iova, level) * 8);
          chain.push(at);
          table = mem.readLE(at, 8) & V1_ADDR_MASK;
          level--;
        }
        mem = mem.writeLE(chain[0]!, 8, pde(table, 1));
      }
      return { ...b, memory: mem };
    };
    expect(fc.check(sameAsFull(careless), RUNS).failed).toBe(true);
  });
});
