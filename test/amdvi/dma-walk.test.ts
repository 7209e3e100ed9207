/**
 * The v1 walk (src/amdvi/dma/walk.ts) over tables from src/amdvi/dma/builder.ts: every Mode
 * 1..6 with every default-size leaf level, size-encoded pages, skip levels, Mode 0 and every
 * fault — each fault shown by breaking a table that otherwise translates. Properties run with a
 * fixed seed and are also run against a deliberately broken builder or walker.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { bumpAllocator } from '../../src/vtd/dma/builder.ts';
import { buildAmdV1, type AmdV1Build, type AmdV1BuildOptions, type AmdV1Mapping } from '../../src/amdvi/dma/builder.ts';
import { walkAmdV1, type AmdV1Dte, type AmdV1Fault, type AmdV1Translation, type AmdV1WalkResult } from '../../src/amdvi/dma/walk.ts';
import { defaultPageSize, levelIndex, sizedLeafAddress } from '../../src/amdvi/dma/pte.ts';

const RUNS = { seed: 0x5eed13, numRuns: 120 } as const;
const HAW = 52;
const TABLES = 0x1_0000_0000n; // table pages live at 4 GiB.., far from the HPAs used
const alloc = () => bumpAllocator(TABLES, TABLES + 0x400_0000n);

function build(mappings: readonly AmdV1Mapping[], opts: AmdV1BuildOptions): AmdV1Build {
  return buildAmdV1(PhysicalMemory.empty(), alloc(), mappings, opts);
}
const dteOf = (b: AmdV1Build, mode: number, ir = true, iw = true): AmdV1Dte => ({ mode, root: b.root, ir, iw });
function ok(r: AmdV1WalkResult): AmdV1Translation {
  if (!r.ok) throw new Error(`fault ${r.fault.cause}`);
  return r;
}
function fault(r: AmdV1WalkResult): AmdV1Fault {
  if (r.ok) throw new Error(`translated to 0x${r.hpa.toString(16)}`);
  return r.fault;
}
/** The entry the walk read at `level` for `iova`. */
function entryAt(b: AmdV1Build, mode: number, iova: bigint, level: number): bigint {
  const r = walkAmdV1(b.memory, HAW, dteOf(b, mode), iova, false);
  const ref = r.references.find((x) => x.level === level);
  if (!ref) throw new Error(`no level-${level} reference`);
  return ref.entryAddress;
}

describe('default-size leaves at every level of every Mode', () => {
  for (let mode = 1; mode <= 6; mode++) {
    for (let leaf = 1; leaf <= Math.min(mode, 3); leaf++) {
      it(`Mode ${mode}, leaf in the level-${leaf} table (${defaultPageSize(leaf) >> 10n} KiB)`, () => {
        const size = defaultPageSize(leaf);
        const iova = mode === 1 ? 5n * size : 3n * (1n << 30n) + 7n * size;
        const ivaInMode = mode === 1 ? iova % (1n << 21n) : mode === 2 ? iova % (1n << 30n) : iova;
        const hpa = 0x40_0000_0000n + 9n * size;
        const b = build([{ iova: ivaInMode, hpa, size, read: true, write: true }], { mode, pageSizes: [size] });
        for (const off of [0n, 0x123n, size - 1n]) {
          const t = ok(walkAmdV1(b.memory, HAW, dteOf(b, mode), ivaInMode + off, true));
          expect(t.hpa).toBe(hpa + off);
          expect(t.pageSize).toBe(size);
          expect(t.leafLevel).toBe(leaf);
          expect(t.references.map((r) => r.level)).toEqual(Array.from({ length: mode - leaf + 1 }, (_, i) => mode - i));
          expect(t.references[0]!.tableAddress).toBe(b.root);
          expect(t.fc).toBe(true);
        }
      });
    }
  }

  it('Mode 6 translates IOVAs with bit 63 set; a level-4 (512 GiB) default leaf works too', () => {
    const iova = (1n << 63n) | (5n << 39n);
    const b = build([{ iova, hpa: 0x80_0000_0000n, size: 1n << 39n, read: true, write: false }], { mode: 6, pageSizes: [1n << 39n] });
    const t = ok(walkAmdV1(b.memory, HAW, dteOf(b, 6), iova + 0xabcden, false));
    expect(t).toMatchObject({ hpa: 0x80_000a_bcden, pageSize: 1n << 39n, leafLevel: 4, permissions: { read: true, write: false } });
    expect(t.references[0]!.index).toBe(0x40);
  });
});

describe('size-encoded (Next Level 7) pages', () => {
  const cases: [string, bigint, number][] = [
    ['8 KiB', 1n << 13n, 1],
    ['64 KiB', 1n << 16n, 1],
    ['1 MiB', 1n << 20n, 1],
    ['4 MiB', 1n << 22n, 2],
    ['512 MiB', 1n << 29n, 2],
    ['2 GiB', 1n << 31n, 3],
  ];
  for (const [name, size, level] of cases) {
    it(`${name}: every slot it spans translates into the one page (level ${level})`, () => {
      const iova = 4n * size;
      const hpa = 0x100_0000_0000n + 6n * size;
      const b = build([{ iova, hpa, size, read: true, write: true }], { mode: 4, pageSizes: [size] });
      for (const off of [0n, 0x1000n, size / 2n + 0x777n, size - 1n]) {
        const t = ok(walkAmdV1(b.memory, HAW, dteOf(b, 4), iova + off, false));
        expect(t).toMatchObject({ hpa: hpa + off, pageSize: size, leafLevel: level });
      }
      expect(fault(walkAmdV1(b.memory, HAW, dteOf(b, 4), iova + size, false)).cause).toBe('not-present');
    });
  }
});

describe('skip levels', () => {
  it('a Mode-4 PDE with Next Level 1 reaches the leaf table in two reads', () => {
    const b = build([{ iova: 0x5000n, hpa: 0x9000n, size: 4096, read: true, write: true }], { mode: 4, skipLevels: true });
    const t = ok(walkAmdV1(b.memory, HAW, dteOf(b, 4), 0x5010n, false));
    expect(t.hpa).toBe(0x9010n);
    expect(t.references.map((r) => r.level)).toEqual([4, 1]);
    expect((t.references[0]!.entry >> 9n) & 7n).toBe(1n);
  });

  it('an IOVA with bits set for a skipped level faults (VirtualBox SkippedLevelIovaNotZero)', () => {
    const b = build([{ iova: 0x5000n, hpa: 0x9000n, size: 4096, read: true, write: true }], { mode: 4, skipLevels: true });
    for (const iova of [0x5000n | (1n << 21n), 0x5000n | (1n << 38n)]) {
      const f = fault(walkAmdV1(b.memory, HAW, dteOf(b, 4), iova, true));
      expect(f).toMatchObject({ cause: 'skipped-level-iova', pr: true, rw: true, pe: false, rz: false, level: 4 });
    }
    // Without skipping the same IOVAs are just unmapped.
    const full = build([{ iova: 0x5000n, hpa: 0x9000n, size: 4096, read: true, write: true }], { mode: 4 });
    expect(fault(walkAmdV1(full.memory, HAW, dteOf(full, 4), 0x5000n | (1n << 21n), true)).cause).toBe('not-present');
  });

  it('skipping from Mode 6 to level 3 (1 GiB pages) checks bits 56:39', () => {
    const b = build([{ iova: 2n << 30n, hpa: 7n << 30n, size: 1n << 30n, read: true, write: true }], { mode: 6, skipLevels: true });
    const t = ok(walkAmdV1(b.memory, HAW, dteOf(b, 6), (2n << 30n) + 5n, false));
    expect(t.references.map((r) => r.level)).toEqual([6, 3]);
    expect(fault(walkAmdV1(b.memory, HAW, dteOf(b, 6), (2n << 30n) | (1n << 50n), false)).cause).toBe('skipped-level-iova');
    // Bits 63:57 index the level-6 table itself: another slot, not present.
    expect(fault(walkAmdV1(b.memory, HAW, dteOf(b, 6), (2n << 30n) | (1n << 60n), false)).cause).toBe('not-present');
  });
});

describe('Mode 0 and DTE-level checks', () => {
  const mem = PhysicalMemory.empty();
  it('Mode 0 passes the address through with the DTE rights', () => {
    const t = ok(walkAmdV1(mem, HAW, { mode: 0, root: 0n, ir: true, iw: false }, 0xdead_beefn, false));
    expect(t).toMatchObject({ hpa: 0xdead_beefn, permissions: { read: true, write: false }, leafLevel: 0, references: [] });
    const f = fault(walkAmdV1(mem, HAW, { mode: 0, root: 0n, ir: true, iw: false }, 0xdead_beefn, true));
    expect(f).toMatchObject({ cause: 'permission', pe: true, pr: true, rw: true, logged: false });
  });

  it('Mode 7 is reserved: RZ fault before any read', () => {
    const r = walkAmdV1(mem, HAW, { mode: 7, root: 0n, ir: true, iw: true }, 0n, false);
    expect(fault(r)).toMatchObject({ cause: 'reserved-mode', rz: true, pr: true, logged: true });
    expect(r.references).toEqual([]);
  });

  it('an IOVA beyond the Mode faults; the last address inside reads the table', () => {
    for (const [mode, bits] of [[1, 21n], [3, 39n], [5, 57n]] as const) {
      const b = build([], { mode });
      const beyond = walkAmdV1(b.memory, HAW, dteOf(b, mode), 1n << bits, false);
      expect(fault(beyond)).toMatchObject({ cause: 'iova-beyond-mode', pr: true, rz: false });
      expect(beyond.references).toEqual([]);
      expect(fault(walkAmdV1(b.memory, HAW, dteOf(b, mode), (1n << bits) - 1n, false)).cause).toBe('not-present');
    }
  });

  it('DTE IR / IW gate the access before the walk', () => {
    const b = build([{ iova: 0n, hpa: 0x1000n, size: 4096, read: true, write: true }], { mode: 3 });
    const w = walkAmdV1(b.memory, HAW, dteOf(b, 3, true, false), 0n, true);
    expect(fault(w)).toMatchObject({ cause: 'permission', pe: true, pr: true, rw: true });
    expect(w.references).toEqual([]);
    expect(fault(walkAmdV1(b.memory, HAW, dteOf(b, 3, false, true), 0n, false))).toMatchObject({ cause: 'permission', rw: false });
    expect(ok(walkAmdV1(b.memory, HAW, dteOf(b, 3, false, true), 0n, true)).permissions).toEqual({ read: false, write: true });
  });
});

describe('each fault, from a table that translates until it is broken', () => {
  const IOVA = 0x4_0020_3000n;
  const m: AmdV1Mapping = { iova: IOVA, hpa: 0x7_7700_0000n, size: 4096, read: true, write: true };
  const good = build([m], { mode: 4 });
  const walk = (mem: PhysicalMemory, write = false, haw = HAW) => walkAmdV1(mem, haw, dteOf(good, 4), IOVA, write);
  const patch = (level: number, f: (e: bigint) => bigint): PhysicalMemory => {
    const at = entryAt(good, 4, IOVA, level);
    return good.memory.writeLE(at, 8, f(good.memory.readLE(at, 8)));
  };

  it('the unbroken table translates with 4 references', () => {
    expect(ok(walk(good.memory, true)).references).toHaveLength(4);
  });

  for (const level of [4, 3, 2, 1]) {
    it(`PR = 0 at level ${level}: not present (PR flag clear)`, () => {
      const r = walk(patch(level, (e) => e & ~1n));
      expect(fault(r)).toMatchObject({ cause: 'not-present', pr: false, pe: false, rz: false, level });
      expect(r.references).toHaveLength(5 - level);
    });

    it(`IW = 0 at level ${level}: a write faults PE (the AND of every level), a read translates`, () => {
      const mem = patch(level, (e) => e & ~(1n << 62n));
      expect(fault(walk(mem, true))).toMatchObject({ cause: 'permission', pr: true, pe: true, rw: true, level });
      expect(ok(walk(mem, false)).permissions).toEqual({ read: true, write: false });
    });

    it(`IR = 0 at level ${level}: a read faults PE`, () => {
      expect(fault(walk(patch(level, (e) => e & ~(1n << 61n)), false))).toMatchObject({ cause: 'permission', pe: true, rw: false, level });
    });
  }

  it('reserved bits: PDE 60:52 (including U/FC positions), PTE 58:52 → RZ; U/FC in a PTE are fields', () => {
    for (const bit of [52n, 56n, 59n, 60n]) {
      expect(fault(walk(patch(3, (e) => e | (1n << bit))))).toMatchObject({ cause: 'reserved-bits', rz: true, pr: true, level: 3 });
    }
    for (const bit of [52n, 58n]) expect(fault(walk(patch(1, (e) => e | (1n << bit))))).toMatchObject({ cause: 'reserved-bits', rz: true, level: 1 });
    const t = ok(walk(patch(1, (e) => e | (1n << 59n))));
    expect(t.u).toBe(true);
    // Ignored bits (4:1, 63) never fault.
    expect(ok(walk(patch(2, (e) => e | 0x1en | (1n << 63n)))).hpa).toBe(0x7_7700_0000n);
  });

  it('address bits at or above the host address width are reserved', () => {
    expect(ok(walk(good.memory, false, 40)).hpa).toBe(0x7_7700_0000n);
    expect(fault(walk(good.memory, false, 34))).toMatchObject({ cause: 'reserved-bits', rz: true, level: 1 });
    // Tables at 4 GiB: a HAW of 32 makes the root's PDE pointer reserved.
    expect(fault(walk(good.memory, false, 32))).toMatchObject({ cause: 'reserved-bits', level: 4 });
  });

  it('Next Level not below the entry\'s level → RZ; a PDE in a level-1 table too', () => {
    expect(fault(walk(patch(3, (e) => (e & ~(7n << 9n)) | (3n << 9n))))).toMatchObject({ cause: 'bad-level', rz: true, level: 3 });
    expect(fault(walk(patch(3, (e) => (e & ~(7n << 9n)) | (5n << 9n))))).toMatchObject({ cause: 'bad-level', level: 3 });
    // The builder's leaf has FC (bit 60), reserved in a PDE: clear it so the level check is what fails.
    expect(fault(walk(patch(1, (e) => (e & ~(1n << 60n)) | (1n << 9n))))).toMatchObject({ cause: 'bad-level', level: 1 });
    expect(fault(walk(patch(1, (e) => e | (1n << 9n))))).toMatchObject({ cause: 'reserved-bits', level: 1 });
  });

  it('a size-encoded leaf whose size does not fit its level → RZ (VirtualBox PteInvalidPageSize)', () => {
    // In the level-1 table: a 2 MiB encoding (bits 19:12 ones) is not below the level-2 default size.
    const twoMiB = (e: bigint) => (e & ~(0x1ffn << 12n)) | (7n << 9n) | (0xffn << 12n);
    expect(fault(walk(patch(1, twoMiB)))).toMatchObject({ cause: 'bad-page-size', rz: true, level: 1 });
    // In the level-2 table: an 8 KiB encoding is not above the level's default 2 MiB.
    const b = build([{ iova: 0x40_0000n, hpa: 0x80_0000n, size: 1n << 22n, read: true, write: true }], { mode: 3, pageSizes: [1n << 22n] });
    const at = entryAt(b, 3, 0x40_0000n, 2);
    const eightKiB = b.memory.writeLE(at, 8, sizedLeafAddress(0x80_0000n, 0x2000n) | (7n << 9n) | 1n | (3n << 61n));
    expect(ok(walkAmdV1(b.memory, HAW, dteOf(b, 3), 0x40_0000n, false)).pageSize).toBe(1n << 22n);
    expect(fault(walkAmdV1(eightKiB, HAW, dteOf(b, 3), 0x40_0000n, false))).toMatchObject({ cause: 'bad-page-size', level: 2 });
  });

  it('fault address is the IOVA; references end at the entry at fault', () => {
    const r = walk(patch(2, (e) => e & ~1n), true);
    expect(fault(r)).toMatchObject({ address: IOVA, entryAddress: entryAt(good, 4, IOVA, 2) });
    expect(r.references.at(-1)!.level).toBe(2);
  });

  it('rejects caller errors', () => {
    expect(() => walkAmdV1(good.memory, HAW, dteOf(good, 4), -1n, false)).toThrow(RangeError);
    expect(() => walkAmdV1(good.memory, HAW, dteOf(good, 4), 1n << 64n, false)).toThrow(RangeError);
    expect(() => walkAmdV1(good.memory, 53, dteOf(good, 4), 0n, false)).toThrow(RangeError);
    expect(() => walkAmdV1(good.memory, HAW, { ...dteOf(good, 4), root: 0x10n }, 0n, false)).toThrow(RangeError);
    expect(() => walkAmdV1(good.memory, HAW, { ...dteOf(good, 4), mode: 8 }, 0n, false)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------
// Properties

const SIZES = [1n << 12n, 1n << 13n, 1n << 16n, 1n << 21n, 1n << 22n, 1n << 30n] as const;
const SLOT = 1n << 31n; // one mapping per 2 GiB slot: never overlaps
const mappingsArb = fc
  .uniqueArray(
    fc.record({
      slot: fc.integer({ min: 0, max: 200 }),
      sizeIndex: fc.integer({ min: 0, max: SIZES.length - 1 }),
      pages: fc.integer({ min: 1, max: 3 }),
      offsetPages: fc.integer({ min: 0, max: 100 }),
      read: fc.boolean(),
      write: fc.boolean(),
    }),
    { selector: (m) => m.slot, minLength: 1, maxLength: 4 },
  )
  .map((ms) =>
    ms.map((m): AmdV1Mapping => {
      const unit = SIZES[m.sizeIndex]!;
      const size = unit === 1n << 30n ? unit : unit * BigInt(m.pages);
      const offset = unit === 1n << 30n ? 0n : BigInt(m.offsetPages) * unit;
      const iova = BigInt(m.slot) * SLOT + offset;
      return { iova, hpa: iova + (1n << 45n), size, read: m.read, write: m.write };
    }),
  );
const setupArb = fc.record({ mappings: mappingsArb, mode: fc.integer({ min: 4, max: 6 }), skipLevels: fc.boolean(), probe: fc.bigInt({ min: 0n, max: (1n << 30n) - 1n }) });

type Build = (ms: readonly AmdV1Mapping[], opts: AmdV1BuildOptions) => AmdV1Build;
type Walk = typeof walkAmdV1;

/** Every byte of every mapping translates to its HPA with exactly its rights; the byte after an unmapped end faults. */
const mappedProperty = (b: Build, w: Walk) =>
  fc.property(setupArb, ({ mappings, mode, skipLevels, probe }) => {
    const t = b(mappings, { mode, skipLevels, pageSizes: SIZES });
    for (const m of mappings) {
      const off = probe % BigInt(m.size);
      for (const write of [false, true]) {
        const r = w(t.memory, HAW, { mode, root: t.root, ir: true, iw: true }, m.iova + off, write);
        const allowed = write ? m.write : m.read;
        if (allowed) {
          if (!r.ok || r.hpa !== m.hpa + off || r.permissions.read !== m.read || r.permissions.write !== m.write) return false;
        } else if (r.ok || r.fault.cause !== 'permission') return false;
      }
      const after = w(t.memory, HAW, { mode, root: t.root, ir: true, iw: true }, m.iova + BigInt(m.size), false);
      if (after.ok) return false;
    }
    return true;
  });

describe('builder + walk properties (fixed seed)', () => {
  it('every mapped address translates with its rights; the next page after a mapping faults', () => {
    expect(fc.check(mappedProperty(build, walkAmdV1), RUNS).failed).toBe(false);
  });

  it('catches a builder that maps every page read-only', () => {
    const broken: Build = (ms, o) => build(ms.map((m) => ({ ...m, write: false, read: true })), o);
    expect(fc.check(mappedProperty(broken, walkAmdV1), RUNS).failed).toBe(true);
  });

  it('catches a walker that treats every leaf as 4 KiB', () => {
    const broken: Walk = (mem, haw, dte, iova, write) => {
      const r = walkAmdV1(mem, haw, dte, iova, write);
      return r.ok ? { ...r, hpa: (r.hpa & ~(r.pageSize - 1n)) | (iova & 0xfffn), pageSize: 4096n } : r;
    };
    expect(fc.check(mappedProperty(build, broken), RUNS).failed).toBe(true);
  });

  it('catches a walker that ignores skipped levels (indexes as if no level were skipped)', () => {
    const broken: Walk = (mem, haw, dte, iova, write) => walkAmdV1(mem, haw, dte, iova & ~(0x1ffn << 30n), write);
    expect(fc.check(mappedProperty(build, broken), RUNS).failed).toBe(true);
  });

  /** Rights = DTE AND every level: random IR/IW cleared on the DTE and on each entry of the walk. */
  const andProperty = (w: Walk) =>
    fc.property(
      fc.record({ dte: fc.tuple(fc.boolean(), fc.boolean()), levels: fc.array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: 4, maxLength: 4 }), write: fc.boolean() }),
      ({ dte, levels, write }) => {
        const iova = 0x12_3456_7000n;
        const t = build([{ iova, hpa: 0x9000n, size: 4096, read: true, write: true }], { mode: 4 });
        let mem = t.memory;
        const refs = walkAmdV1(mem, HAW, dteOf(t, 4), iova, false).references;
        let read = dte[0];
        let wr = dte[1];
        refs.forEach((ref, i) => {
          const [ir, iw] = levels[i]!;
          read &&= ir;
          wr &&= iw;
          let e = mem.readLE(ref.entryAddress, 8);
          if (!ir) e &= ~(1n << 61n);
          if (!iw) e &= ~(1n << 62n);
          mem = mem.writeLE(ref.entryAddress, 8, e);
        });
        const r = w(mem, HAW, { mode: 4, root: t.root, ir: dte[0], iw: dte[1] }, iova, write);
        const allowed = write ? wr : read;
        return allowed ? r.ok && r.permissions.read === read && r.permissions.write === wr : !r.ok && r.fault.pe;
      },
    );

  it('permissions are the AND of the DTE and every level', () => {
    expect(fc.check(andProperty(walkAmdV1), { ...RUNS, numRuns: 200 }).failed).toBe(false);
  });

  it('catches a walker that takes the rights of the leaf alone', () => {
    // Leaf-only rights: recompute from the leaf entry.
    const leafOnly: Walk = (mem, haw, dte, iova, write) => {
      const full = walkAmdV1(mem, haw, dte, iova, write);
      const leaf = full.references.at(-1);
      if (!leaf || leaf.level !== 1) return full;
      const ir = ((leaf.entry >> 61n) & 1n) === 1n;
      const iw = ((leaf.entry >> 62n) & 1n) === 1n;
      if (write ? !iw : !ir) return full.ok ? { ok: false, fault: { kind: 'io-page-fault', cause: 'permission', address: iova, pr: true, rw: write, pe: true, rz: false, logged: true }, references: full.references } : full;
      return { ok: true, hpa: (leaf.entry & 0xf_ffff_ffff_f000n) | (iova & 0xfffn), pageSize: 4096n, permissions: { read: ir, write: iw }, leafLevel: 1, u: false, fc: true, references: full.references };
    };
    expect(fc.check(andProperty(leafOnly), { ...RUNS, numRuns: 200 }).failed).toBe(true);
  });

  const referencesProperty = (w: Walk) =>
    fc.property(setupArb, ({ mappings, mode, skipLevels }) => {
      const t = build(mappings, { mode, skipLevels, pageSizes: SIZES });
      return mappings.every((m) => {
        const r = w(t.memory, HAW, dteOf(t, mode), m.iova, false);
        const levels = r.references.map((x) => x.level);
        const strictlyDown = levels.every((l, i) => i === 0 || l < levels[i - 1]!);
        const complete = skipLevels || levels.length === mode - levels.at(-1)! + 1;
        return levels[0] === mode && strictlyDown && complete && r.references.every((x) => x.index === levelIndex(m.iova, x.level));
      });
    });

  it('the walk reads one entry per level it visits, top down, at the IOVA\'s index', () => {
    expect(fc.check(referencesProperty(walkAmdV1), RUNS).failed).toBe(false);
  });

  it('the references property catches a walker that drops the root read', () => {
    const broken: Walk = (mem, haw, dte, iova, write) => {
      const r = walkAmdV1(mem, haw, dte, iova, write);
      return { ...r, references: r.references.slice(1) };
    };
    expect(fc.check(referencesProperty(broken), RUNS).failed).toBe(true);
  });
});
