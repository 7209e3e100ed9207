import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { translateDma, pagingReferenceCount, isCanonical, FAULT_CODES, type DmaWalkResult, type DmaTranslation, type DmaWalkFault } from '../../src/vtd/dma/walk.ts';
import { RTADDR, SL_PTE, PASID_ENTRY, PTE_BITS, addressFrame } from '../../src/vtd/dma/structures.ts';
import { faultReason } from '../../src/vtd/fault-reasons.ts';
import { DID, PASID, RID, firstStageSetup, legacySetup, nestedSetup, req, secondStageSetup, type Setup } from './fixtures.ts';

const ok = (r: DmaWalkResult): DmaTranslation => {
  if (!r.ok) throw new Error(`unexpected fault 0x${r.fault.reason.toString(16)} (${r.fault.condition})`);
  return r;
};
const fault = (r: DmaWalkResult): DmaWalkFault['fault'] => {
  if (r.ok) throw new Error(`unexpected translation to 0x${r.hpa.toString(16)}`);
  return r.fault;
};
const MiB2 = 2 ** 21;
const GiB = 2 ** 30;

/** Zero the entry the successful walk of `iova` read at (stage, level). */
function clearEntry(s: Setup, iova: bigint, stage: 'root' | 'context' | 'pasid-dir' | 'pasid' | 'first' | 'second', level: number, bytes = 8): Setup {
  const t = ok(translateDma(s.memory, s.config, req(iova, 'r', stage === 'first' || stage === 'pasid' ? { pasid: PASID } : {})));
  const ref = t.references.find((r) => r.stage === stage && r.level === level);
  if (!ref) throw new Error(`no ${stage} reference at level ${level}`);
  return { ...s, memory: s.memory.writeLE(ref.entryAddress, bytes, 0n) };
}

describe('legacy mode: a 4-level second-stage walk worked by hand (sheet §8.1, §8.2, §8.5, §8.7)', () => {
  // Root table 0x1000; RID 03:02.0 → bus 3, devfn 0x10; context table 0x2000; SL tables 0x3000..0x6000.
  let m = PhysicalMemory.empty();
  m = m.writeLE(0x1030n, 16, 0x2001n); // root[3]: P | CTP = 0x2000
  m = m.writeLE(0x2100n, 16, (0x702n << 64n) | 0x3001n); // context[0x10]: P, SLPTPTR 0x3000; AW 2 (4-level), DID 7
  const iova = (1n << 39n) | (2n << 30n) | (3n << 21n) | (4n << 12n) | 0xabcn;
  m = m.writeLE(0x3008n, 8, 0x4003n); // PML4E[1] → 0x4000, R|W
  m = m.writeLE(0x4010n, 8, 0x5003n); // PDPTE[2] → 0x5000
  m = m.writeLE(0x5018n, 8, 0x6003n); // PDE[3] → 0x6000
  m = m.writeLE(0x6020n, 8, 0x12345001n); // PTE[4] → page 0x12345000, R only
  const config = { rtaddr: 0x1000n };

  it('translates to 0x12345abc with exactly these six references', () => {
    const t = ok(translateDma(m, config, { rid: 0x0310, iova, size: 4, read: true, write: false }));
    expect(t.hpa).toBe(0x12345abcn);
    expect(t.pageSize).toBe(4096);
    expect(t.did).toBe(7);
    // Legacy mode has no execute control: execute requests are checked as reads.
    expect(t.permissions).toEqual({ read: true, write: false, execute: true });
    expect(t.references.map((r) => [r.stage, r.level, r.entryAddress, r.index])).toEqual([
      ['root', 0, 0x1030n, 3],
      ['context', 0, 0x2100n, 0x10],
      ['second', 4, 0x3008n, 1],
      ['second', 3, 0x4010n, 2],
      ['second', 2, 0x5018n, 3],
      ['second', 1, 0x6020n, 4],
    ]);
    expect(t.adUpdates).toEqual([]); // legacy second-stage entries have no A/D
    expect(t.memory).toBe(m);
  });

  it('a write to the read-only page is fault 0x05 at level 1; memory is untouched', () => {
    const f = fault(translateDma(m, config, { rid: 0x0310, iova, size: 4, read: false, write: true }));
    expect(f).toMatchObject({ reason: 0x05, condition: 'no-write', address: iova, sid: 0x0310, write: true, level: 1, did: 7, record: true });
  });

  it('another devfn on the same bus has no context entry: 0x02; another bus no root entry: 0x01', () => {
    expect(fault(translateDma(m, config, { rid: 0x0311, iova, size: 4, read: true, write: false })).reason).toBe(0x02);
    expect(fault(translateDma(m, config, { rid: 0x0410, iova, size: 4, read: true, write: false })).reason).toBe(0x01);
  });

  it('reserved bits: root entry 0x0A, context entry 0x0B, second-stage entry 0x0C', () => {
    expect(fault(translateDma(m.writeLE(0x1030n, 16, 0x2003n), config, req(iova))).reason).toBe(0x0a);
    expect(fault(translateDma(m.writeLE(0x2100n, 16, (0x702n << 64n) | 0x3011n), config, req(iova))).reason).toBe(0x0b);
    // PS in a PML4E is reserved.
    expect(fault(translateDma(m.writeLE(0x3008n, 8, 0x4083n), config, req(iova)))).toMatchObject({ reason: 0x0c, level: 4 });
  });

  it('input beyond the 48-bit AW is 0x04; a request with PASID under TTM=0 is 0x31; TTM=2 is 0x30', () => {
    expect(fault(translateDma(m, config, req(1n << 48n, 'r', { rid: 0x0310 }))).reason).toBe(0x04);
    expect(fault(translateDma(m, config, req(iova, 'r', { rid: 0x0310, pasid: 1 }))).reason).toBe(0x31);
    expect(fault(translateDma(m, { rtaddr: 0x1000n | (2n << 10n) }, req(iova, 'r', { rid: 0x0310 }))).reason).toBe(0x30);
    const adm = fault(translateDma(m, { rtaddr: 0x1000n | (3n << 10n) }, req(iova, 'r', { rid: 0x0310 })));
    expect(adm.record).toBe(false);
  });

  it('pointers at or above HAW: RTA bits not implemented; CTP 0x0A, SLPTPTR 0x0B, a paging-entry address 0x0C (QEMU reserved masks with ~VTD_HAW_MASK)', () => {
    const cap = { hawBits: 39 };
    // RTADDR.RTA bits 63:HAW are not implemented (QEMU VTD_RTADDR_ADDR_MASK): 2^40 + 0x1000 reads 0x1000.
    expect(ok(translateDma(m, { rtaddr: (1n << 40n) | 0x1000n, cap }, req(iova, 'r', { rid: 0x0310 }))).hpa).toBe(0x12345abcn);
    const m2 = m.writeLE(0x1030n, 16, (1n << 40n) | 1n);
    expect(fault(translateDma(m2, { rtaddr: 0x1000n, cap }, req(iova, 'r', { rid: 0x0310 })))).toMatchObject({ reason: 0x0a, condition: 'root-reserved' });
    const m3 = m.writeLE(0x2100n, 16, (0x702n << 64n) | (1n << 45n) | 1n);
    expect(fault(translateDma(m3, { rtaddr: 0x1000n, cap: { hawBits: 40 } }, req(iova, 'r', { rid: 0x0310 })))).toMatchObject({ reason: 0x0b, condition: 'context-reserved' });
    const m4 = m.writeLE(0x5018n, 8, (1n << 45n) | 3n);
    expect(fault(translateDma(m4, { rtaddr: 0x1000n, cap: { hawBits: 40 } }, req(iova, 'r', { rid: 0x0310 })))).toMatchObject({ reason: 0x0c, level: 2 });
  });
});

describe('super pages and address widths', () => {
  it('a 2 MiB second-stage page: 3 paging references, offset kept in 20:0', () => {
    const s = legacySetup([{ iova: 0x4020_0000n, hpa: 0x8000_0000n, size: MiB2, read: true, write: true }], { maxPageSize: MiB2 });
    const t = ok(translateDma(s.memory, s.config, req(0x4021_2345n, 'w')));
    expect(t.hpa).toBe(0x8001_2345n);
    expect(t.pageSize).toBe(MiB2);
    expect(pagingReferenceCount(t.references)).toBe(3);
    const leaf = t.references[t.references.length - 1]!;
    expect(SL_PTE.decode(leaf.entry)).toMatchObject({ PS: true, R: true, W: true, ADDR: 0x80000 });
  });

  it('a 1 GiB page at level 3; CAP.SLLPS without 1 GiB makes PS reserved (0x0C)', () => {
    const s = legacySetup([{ iova: 0x4000_0000n, hpa: 0x1_c000_0000n, size: GiB, read: true, write: false }]);
    const t = ok(translateDma(s.memory, s.config, req(0x7fff_fffcn)));
    expect([t.hpa, t.pageSize, pagingReferenceCount(t.references)]).toEqual([0x1_ffff_fffcn, GiB, 2]);
    expect(fault(translateDma(s.memory, { ...s.config, cap: { sl1G: false } }, req(0x7fff_fffcn)))).toMatchObject({ reason: 0x0c, level: 3 });
  });

  it('3-level (AW=1, 39-bit) and 5-level (AW=3, 57-bit) second stages', () => {
    const top57 = (1n << 57n) - 0x1000n;
    const s5 = legacySetup([{ iova: top57, hpa: 0xabc000n, size: 4096, read: true, write: true }], { levels: 5 });
    const t = ok(translateDma(s5.memory, s5.config, req(top57 + 0x123n)));
    expect(t.hpa).toBe(0xabc123n);
    expect(pagingReferenceCount(t.references)).toBe(5);
    expect(fault(translateDma(s5.memory, s5.config, req(1n << 57n))).reason).toBe(0x04);
    const s3 = legacySetup([{ iova: 0x7f_ffff_f000n, hpa: 0x5000n, size: 4096, read: true, write: true }], { levels: 3 });
    expect(ok(translateDma(s3.memory, s3.config, req(0x7f_ffff_f008n))).hpa).toBe(0x5008n);
    expect(fault(translateDma(s3.memory, s3.config, req(1n << 39n))).reason).toBe(0x04);
    // SAGAW without 5-level support: AW=3 is invalid context programming.
    expect(fault(translateDma(s5.memory, { ...s5.config, cap: { sagaw: 0b0100 } }, req(top57))).reason).toBe(0x03);
  });

  it('a 57-bit canonical IOVA round-trips through a 5-level first stage and is non-canonical (0x80) for 4 levels', () => {
    const iova = 0xff12_3456_789a_b000n; // bits 63:56 all ones
    expect(isCanonical(iova, 57)).toBe(true);
    expect(isCanonical(iova, 48)).toBe(false);
    const s = firstStageSetup([{ iova, hpa: 0x77_7000n, size: 4096, read: true, write: true }], { levels: 5 });
    const t = ok(translateDma(s.memory, s.config, req(iova + 0xfe0n, 'r', { pasid: PASID })));
    expect(t.hpa).toBe(0x77_7fe0n);
    expect(pagingReferenceCount(t.references)).toBe(5);
    const s4 = firstStageSetup([{ iova: 0x1000n, hpa: 0x2000n, size: 4096, read: true, write: true }], { levels: 4 });
    expect(fault(translateDma(s4.memory, s4.config, req(iova, 'r', { pasid: PASID })))).toMatchObject({ reason: 0x80, condition: 'non-canonical' });
    // 5-level first stage without CAP.FL5LP: invalid PASID entry.
    expect(fault(translateDma(s.memory, { ...s.config, cap: { fl5: false } }, req(iova, 'r', { pasid: PASID }))).reason).toBe(0x5b);
  });

  it('scalable second-stage-only input beyond AW is 0x83', () => {
    const s = secondStageSetup([{ iova: 0x1000n, hpa: 0x2000n, size: 4096, read: true, write: true }], { levels: 4 });
    expect(fault(translateDma(s.memory, s.config, req(1n << 48n, 'r', { pasid: PASID }))).reason).toBe(0x83);
  });
});

describe('nested translation (PGTT = 3): (n+1)(m+1)−1 paging-structure references (sheet §8.8)', () => {
  const cases: [fs: 4 | 5, ss: number][] = [
    [4, 4],
    [5, 5],
    [4, 5],
    [5, 4],
    [4, 3],
    [5, 3],
  ];
  for (const [n, m] of cases) {
    it(`${n}-level first stage over ${m}-level second stage: ${(n + 1) * (m + 1) - 1} references on a cold walk`, () => {
      const iova = 0x7000_1234_5000n;
      const s = nestedSetup([{ iova, gpa: 0x3456_7000n, hpa: 0x2000_0000n, size: 4096, read: true, write: true }], {
        firstLevels: n,
        secondLevels: m,
      });
      const t = ok(translateDma(s.memory, s.config, req(iova + 0x10n, 'r', { pasid: PASID })));
      expect(t.hpa).toBe(0x2000_0010n);
      expect(pagingReferenceCount(t.references)).toBe((n + 1) * (m + 1) - 1);
      // Order: for each first-stage level, an m-reference second-stage walk of the table GPA then the entry; then m for the final GPA.
      const stages = t.references.filter((r) => r.stage === 'first' || r.stage === 'second').map((r) => (r.stage === 'first' ? 'F' : 'S'));
      const expected = [...Array.from({ length: n }, () => 'S'.repeat(m) + 'F'), 'S'.repeat(m)].join('');
      expect(stages.join('')).toBe(expected);
      // First-stage references carry the GPA they were translated from.
      const firstRefs = t.references.filter((r) => r.stage === 'first');
      expect(firstRefs.every((r) => r.entryGpa !== undefined && r.entryGpa !== r.entryAddress)).toBe(true);
    });
  }

  it('4×4 = 24 and 5×5 = 35 explicitly', () => {
    const mk = (l: 4 | 5) => {
      const s = nestedSetup([{ iova: 0x1000n, gpa: 0x9000n, hpa: 0x30_0000n, size: 4096, read: true, write: false }], { firstLevels: l, secondLevels: l });
      return pagingReferenceCount(ok(translateDma(s.memory, s.config, req(0x1000n, 'r', { pasid: PASID }))).references);
    };
    expect(mk(4)).toBe(24);
    expect(mk(5)).toBe(35);
  });

  it('first-stage A/D updates are writes through the second stage: W missing there is 0x77', () => {
    const iova = 0x5000n;
    const s = nestedSetup([{ iova, gpa: 0x9000n, hpa: 0x30_0000n, size: 4096, read: true, write: true }]);
    // Make the second-stage leaf mapping the first-stage leaf table read-only.
    const t = ok(translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID })));
    expect(t.adUpdates.filter((u) => u.stage === 'first')).toHaveLength(4); // A on every first-stage level
    const leafTableGpa = t.references.filter((r) => r.stage === 'first').at(-1)!.entryGpa!;
    const slLeafOfTable = (() => {
      const refs = t.references;
      const idx = refs.findIndex((r) => r.stage === 'first' && r.level === 1);
      return refs[idx - 1]!; // the level-1 second-stage entry translating that table's GPA
    })();
    expect(slLeafOfTable.stage).toBe('second');
    expect(leafTableGpa >> 12n).toBeGreaterThan(0n);
    const ro = s.memory.writeLE(slLeafOfTable.entryAddress, 8, slLeafOfTable.entry & ~PTE_BITS.SL_W);
    expect(fault(translateDma(ro, s.config, req(iova, 'r', { pasid: PASID })))).toMatchObject({ reason: 0x77 });
    // Once A is set everywhere a read needs no update, so a read-only second stage suffices...
    const roAfter = t.memory.writeLE(slLeafOfTable.entryAddress, 8, slLeafOfTable.entry & ~PTE_BITS.SL_W);
    expect(ok(translateDma(roAfter, s.config, req(iova, 'r', { pasid: PASID }))).adUpdates).toEqual([]);
    // ...but a write must set D in the first-stage leaf: 0x77 again.
    expect(fault(translateDma(roAfter, s.config, req(iova, 'w', { pasid: PASID }))).reason).toBe(0x77);
  });

  it('second-stage read permission on first-stage tables: 0x75 for the FLPTPTR table, 0x76 below it', () => {
    const iova = 0x5000n;
    const s = nestedSetup([{ iova, gpa: 0x9000n, hpa: 0x30_0000n, size: 4096, read: true, write: true }]);
    const t = ok(translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID })));
    const refs = t.references;
    const slBefore = (level: number) => refs[refs.findIndex((r) => r.stage === 'first' && r.level === level) - 1]!;
    const writeOnly = (r: (typeof refs)[number]) => s.memory.writeLE(r.entryAddress, 8, r.entry & ~PTE_BITS.SL_R);
    expect(fault(translateDma(writeOnly(slBefore(4)), s.config, req(iova, 'r', { pasid: PASID }))).reason).toBe(0x75);
    expect(fault(translateDma(writeOnly(slBefore(2)), s.config, req(iova, 'r', { pasid: PASID }))).reason).toBe(0x76);
  });

  it('the final GPA goes through the second stage: beyond its AW is 0x74, a read-only second stage refuses writes with 0x85', () => {
    const s = nestedSetup([{ iova: 0x5000n, gpa: 1n << 39n, hpa: 0x30_0000n, size: 4096, read: true, write: true }], { secondLevels: 4 });
    ok(translateDma(s.memory, s.config, req(0x5000n, 'r', { pasid: PASID })));
    const s3 = nestedSetup([{ iova: 0x5000n, gpa: 0x9000n, hpa: 0x30_0000n, size: 4096, read: true, write: true }], { secondLevels: 3 });
    // Rewrite the first-stage leaf to point at a GPA beyond 2^39.
    const t = ok(translateDma(s3.memory, s3.config, req(0x5000n, 'r', { pasid: PASID })));
    const fsLeaf = t.references.filter((r) => r.stage === 'first').at(-1)!;
    const far = s3.memory.writeLE(fsLeaf.entryAddress, 8, (fsLeaf.entry & 0xfffn) | (1n << 40n));
    expect(fault(translateDma(far, s3.config, req(0x5000n, 'r', { pasid: PASID }))).reason).toBe(0x74);
    const finalLeaf = t.references.at(-1)!;
    const ro = s3.memory.writeLE(finalLeaf.entryAddress, 8, finalLeaf.entry & ~PTE_BITS.SL_W);
    expect(fault(translateDma(ro, s3.config, req(0x5000n, 'w', { pasid: PASID }))).reason).toBe(0x85);
    expect(ok(translateDma(ro, s3.config, req(0x5000n, 'r', { pasid: PASID }))).permissions.write).toBe(false);
  });

  it('page size is the smaller of the two stages (2 MiB first-stage page over 4 KiB second-stage pages)', () => {
    const s = nestedSetup([{ iova: 0x20_0000n, gpa: 0x40_0000n, hpa: 0x1000_0000n, size: MiB2, read: true, write: true }], {
      maxPageSize: MiB2,
    });
    const t = ok(translateDma(s.memory, s.config, req(0x21_2344n, 'r', { pasid: PASID })));
    expect(t.hpa).toBe(0x1001_2344n);
    expect(t.pageSize).toBe(MiB2);
  });
});

describe('not present at each level, with the right code', () => {
  const iova = 0x12_3456_7000n;
  const map = [{ iova, hpa: 0x9_9000n, size: 4096, read: true, write: true }];
  for (const level of [4, 3, 2, 1]) {
    it(`legacy second stage level ${level}: 0x06 for a read, 0x05 for a write`, () => {
      const s = clearEntry(legacySetup(map), iova, 'second', level);
      expect(fault(translateDma(s.memory, s.config, req(iova)))).toMatchObject({ reason: 0x06, level });
      expect(fault(translateDma(s.memory, s.config, req(iova, 'w')))).toMatchObject({ reason: 0x05, level });
    });
    it(`scalable second stage level ${level}: 0x79`, () => {
      const s = clearEntry(secondStageSetup(map), iova, 'second', level);
      expect(fault(translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID })))).toMatchObject({ reason: 0x79, level, stage: 'second' });
    });
    it(`first stage level ${level}: 0x71`, () => {
      const s = clearEntry(firstStageSetup(map), iova, 'first', level);
      expect(fault(translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID })))).toMatchObject({ reason: 0x71, level, stage: 'first' });
    });
  }
  it('legacy root 0x01 and context 0x02', () => {
    const s = legacySetup(map);
    expect(fault(translateDma(clearEntry(s, iova, 'root', 0, 16).memory, s.config, req(iova))).reason).toBe(0x01);
    expect(fault(translateDma(clearEntry(s, iova, 'context', 0, 16).memory, s.config, req(iova))).reason).toBe(0x02);
  });
  it('scalable root 0x39, context 0x41, PASID directory 0x51, PASID entry 0x59', () => {
    const s = secondStageSetup(map);
    const r = req(iova, 'r', { pasid: PASID });
    expect(fault(translateDma(clearEntry(s, iova, 'root', 0, 16).memory, s.config, r)).reason).toBe(0x39);
    expect(fault(translateDma(clearEntry(s, iova, 'context', 0, 32).memory, s.config, r)).reason).toBe(0x41);
    expect(fault(translateDma(clearEntry(s, iova, 'pasid-dir', 0, 8).memory, s.config, r)).reason).toBe(0x51);
    expect(fault(translateDma(clearEntry(s, iova, 'pasid', 0, 64).memory, s.config, r)).reason).toBe(0x59);
  });
  it('upper half of the scalable root entry (devfn ≥ 0x80) is separate: UP = 0 → 0x39', () => {
    const s = secondStageSetup(map);
    expect(fault(translateDma(s.memory, s.config, req(iova, 'r', { rid: (RID & 0xff00) | 0x80, pasid: PASID }))).reason).toBe(0x39);
  });
  it('nested: a first-stage level missing is 0x71, a second-stage entry for a table GPA missing is 0x79', () => {
    const s = nestedSetup([{ iova, gpa: 0x9000n, hpa: 0x30_0000n, size: 4096, read: true, write: true }]);
    const t = ok(translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID })));
    for (const level of [4, 3, 2, 1]) {
      const fs = t.references.find((r) => r.stage === 'first' && r.level === level)!;
      expect(fault(translateDma(s.memory.writeLE(fs.entryAddress, 8, 0n), s.config, req(iova, 'r', { pasid: PASID })))).toMatchObject({ reason: 0x71, level });
    }
    const slForRoot = t.references.find((r) => r.stage === 'second' && r.level === 1)!;
    expect(fault(translateDma(s.memory.writeLE(slForRoot.entryAddress, 8, 0n), s.config, req(iova, 'r', { pasid: PASID }))).reason).toBe(0x79);
  });
});

describe('permissions and PASID-entry checks (scalable codes)', () => {
  const iova = 0x40_0000n;
  it('second-stage only: write to read-only 0x85, read of write-only 0x86', () => {
    const s = secondStageSetup([
      { iova, hpa: 0x9000n, size: 4096, read: true, write: false },
      { iova: iova + 0x1000n, hpa: 0xa000n, size: 4096, read: false, write: true },
    ]);
    expect(fault(translateDma(s.memory, s.config, req(iova, 'w', { pasid: PASID }))).reason).toBe(0x85);
    expect(fault(translateDma(s.memory, s.config, req(iova + 0x1000n, 'r', { pasid: PASID }))).reason).toBe(0x86);
    expect(ok(translateDma(s.memory, s.config, req(iova + 0x1000n, 'w', { pasid: PASID }))).hpa).toBe(0xa004n - 4n);
  });

  it('second-stage execute: X honoured only with SLEE = 1 (0x82)', () => {
    const map = [{ iova, hpa: 0x9000n, size: 4096, read: true, write: true, execute: false }];
    const slee = secondStageSetup(map, { entry: { SLEE: true } });
    expect(fault(translateDma(slee.memory, slee.config, req(iova, 'x', { pasid: PASID }))).reason).toBe(0x82);
    const noSlee = secondStageSetup(map);
    expect(ok(translateDma(noSlee.memory, noSlee.config, req(iova, 'x', { pasid: PASID }))).hpa).toBe(0x9000n);
  });

  it('first stage: user request on a supervisor page 0x81; write to read-only 0x85 unless supervisor with WPE = 0', () => {
    const s = firstStageSetup([
      { iova, hpa: 0x9000n, size: 4096, read: true, write: false, user: false },
      { iova: iova + 0x1000n, hpa: 0xa000n, size: 4096, read: true, write: false },
    ]);
    expect(fault(translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID })))).toMatchObject({ reason: 0x81, privileged: false });
    expect(ok(translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID, privileged: true }))).hpa).toBe(0x9000n);
    expect(fault(translateDma(s.memory, s.config, req(iova + 0x1000n, 'w', { pasid: PASID }))).reason).toBe(0x85);
    expect(ok(translateDma(s.memory, s.config, req(iova + 0x1000n, 'w', { pasid: PASID, privileged: true }))).hpa).toBe(0xa000n);
    const wpe = firstStageSetup([{ iova, hpa: 0x9000n, size: 4096, read: true, write: false }], { entry: { WPE: true } });
    expect(fault(translateDma(wpe.memory, wpe.config, req(iova, 'w', { pasid: PASID, privileged: true }))).reason).toBe(0x85);
  });

  it('first stage execute: XD with NXE = 1 → 0x82; SMEP refuses supervisor execute of a user page; ERE = 0 → 0x5C; SRE = 0 → 0x5D', () => {
    const s = firstStageSetup(
      [
        { iova, hpa: 0x9000n, size: 4096, read: true, write: false, execute: false },
        { iova: iova + 0x1000n, hpa: 0xa000n, size: 4096, read: true, write: false, execute: true },
      ],
      { nxe: true },
    );
    expect(fault(translateDma(s.memory, s.config, req(iova, 'x', { pasid: PASID }))).reason).toBe(0x82);
    expect(ok(translateDma(s.memory, s.config, req(iova + 0x1000n, 'x', { pasid: PASID }))).permissions.execute).toBe(true);
    const smep = firstStageSetup([{ iova, hpa: 0x9000n, size: 4096, read: true, write: false, execute: true }], { nxe: true, entry: { SMEP: true } });
    expect(fault(translateDma(smep.memory, smep.config, req(iova, 'x', { pasid: PASID, privileged: true }))).reason).toBe(0x82);
    const noEre = firstStageSetup([{ iova, hpa: 0x9000n, size: 4096, read: true, write: false }], { entry: { ERE: false } });
    expect(fault(translateDma(noEre.memory, noEre.config, req(iova, 'x', { pasid: PASID }))).reason).toBe(0x5c);
    const noSre = firstStageSetup([{ iova, hpa: 0x9000n, size: 4096, read: true, write: false }], { entry: { SRE: false } });
    expect(fault(translateDma(noSre.memory, noSre.config, req(iova, 'r', { pasid: PASID, privileged: true }))).reason).toBe(0x5d);
  });

  it('PASID-entry validity: reserved PGTT 0x5B, reserved bits 0x5A; PASIDE = 0 0x45; PASID above the directory 0x46', () => {
    const map = [{ iova, hpa: 0x9000n, size: 4096, read: true, write: true }];
    const bad = secondStageSetup(map, { entry: { PGTT: 5 } });
    expect(fault(translateDma(bad.memory, bad.config, req(iova, 'r', { pasid: PASID }))).reason).toBe(0x5b);
    const s = secondStageSetup(map);
    const pe = ok(translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID }))).references.find((r) => r.stage === 'pasid')!;
    const rsv = s.memory.writeLE(pe.entryAddress, 64, pe.entry | (1n << 300n));
    expect(fault(translateDma(rsv, s.config, req(iova, 'r', { pasid: PASID }))).reason).toBe(0x5a);
    expect(PASID_ENTRY.decode(pe.entry | (1n << 300n)).reserved).toBe(1n << 300n);
    // PDTS = 0: 128 directory entries → PASIDs below 2^13.
    expect(fault(translateDma(s.memory, s.config, req(iova, 'r', { pasid: 1 << 13 }))).reason).toBe(0x46);
  });

  it('requests without PASID use RID_PASID (and RID_PRIV)', () => {
    const s = secondStageSetup([{ iova, hpa: 0x9000n, size: 4096, read: true, write: true }]);
    const t = ok(translateDma(s.memory, s.config, req(iova)));
    expect(t.pasid).toBe(PASID);
    expect(t.did).toBe(DID);
  });

  it('pass-through: legacy TT = 2 and PGTT = 4 output the input address', () => {
    const l = legacySetup([], { tt: 2 });
    expect(ok(translateDma(l.memory, l.config, req(0x1234_5678n))).hpa).toBe(0x1234_5678n);
    expect(fault(translateDma(l.memory, { ...l.config, cap: { passThrough: false } }, req(0x1234_5678n))).reason).toBe(0x03);
    const p = secondStageSetup([], { entry: { PGTT: 4 } });
    const t = ok(translateDma(p.memory, p.config, req(0xdead_b000n, 'w', { pasid: PASID })));
    expect([t.hpa, t.type]).toEqual([0xdead_b000n, 'pass-through']);
  });

  it('FPD suppresses recording of qualified faults only', () => {
    const s = firstStageSetup([{ iova, hpa: 0x9000n, size: 4096, read: true, write: false }], { entry: { FPD: true } });
    const f = fault(translateDma(s.memory, s.config, req(iova, 'w', { pasid: PASID })));
    expect([f.reason, f.fpd, f.record]).toEqual([0x85, true, false]);
    const noSre = firstStageSetup([{ iova, hpa: 0x9000n, size: 4096, read: true, write: false }], { entry: { FPD: true, SRE: false } });
    const f2 = fault(translateDma(noSre.memory, noSre.config, req(iova, 'r', { pasid: PASID, privileged: true })));
    expect([f2.reason, f2.fpd, f2.record, faultReason(0x5d)?.qualified]).toEqual([0x5d, true, true, false]);
  });

  it('every fault code in the table is a known DMA fault reason of its mode', () => {
    for (const [cond, [legacy, sm]] of Object.entries(FAULT_CODES)) {
      expect(faultReason(sm)?.kind, cond).toMatch(/^dma-/);
      expect(faultReason(legacy)?.kind, cond).toMatch(/^dma-/);
    }
  });
});

describe('accessed/dirty updates', () => {
  const iova = 0x40_0000n;
  it('first stage: A on every level for a read, D on the leaf for a write; nothing once set', () => {
    const s = firstStageSetup([{ iova, hpa: 0x9000n, size: 4096, read: true, write: true }]);
    const r1 = ok(translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID })));
    expect(r1.adUpdates.map((u) => [u.stage, u.level, u.after - u.before])).toEqual([
      ['first', 4, 0x20n],
      ['first', 3, 0x20n],
      ['first', 2, 0x20n],
      ['first', 1, 0x20n],
    ]);
    expect(r1.dirty).toBe(false);
    const w = ok(translateDma(r1.memory, s.config, req(iova, 'w', { pasid: PASID })));
    expect(w.adUpdates.map((u) => [u.level, u.after - u.before])).toEqual([[1, 0x40n]]);
    expect(ok(translateDma(w.memory, s.config, req(iova, 'w', { pasid: PASID }))).adUpdates).toEqual([]);
  });

  it('EAFE = 1 sets EA (bit 10) together with A', () => {
    const s = firstStageSetup([{ iova, hpa: 0x9000n, size: 4096, read: true, write: true }], { entry: { EAFE: true } });
    const t = ok(translateDma(s.memory, s.config, req(iova, 'r', { pasid: PASID })));
    expect(t.adUpdates.every((u) => u.after - u.before === 0x420n)).toBe(true);
  });

  it('second stage: A/D only with SLADE = 1', () => {
    const map = [{ iova, hpa: 0x9000n, size: 4096, read: true, write: true }];
    const off = secondStageSetup(map);
    expect(ok(translateDma(off.memory, off.config, req(iova, 'w', { pasid: PASID }))).adUpdates).toEqual([]);
    const on = secondStageSetup(map, { entry: { SLADE: true } });
    const t = ok(translateDma(on.memory, on.config, req(iova, 'w', { pasid: PASID })));
    expect(t.adUpdates.map((u) => [u.level, u.after - u.before])).toEqual([
      [4, 0x100n],
      [3, 0x100n],
      [2, 0x100n],
      [1, 0x300n],
    ]);
    expect(t.memory.readLE(t.adUpdates[3]!.entryAddress, 8)).toBe(t.adUpdates[3]!.after);
  });

  it('nested with SLADE = 1: second-stage A on the table walks, D on the pages holding updated first-stage entries', () => {
    const s = nestedSetup([{ iova, gpa: 0x9000n, hpa: 0x30_0000n, size: 4096, read: true, write: true }], { entry: { SLADE: true } });
    const t = ok(translateDma(s.memory, s.config, req(iova, 'w', { pasid: PASID })));
    const fsUpdates = t.adUpdates.filter((u) => u.stage === 'first');
    expect(fsUpdates.map((u) => u.after - u.before)).toEqual([0x20n, 0x20n, 0x20n, 0x60n]);
    const slLeafD = t.adUpdates.filter((u) => u.stage === 'second' && u.level === 1 && ((u.after & ~u.before) & PTE_BITS.SL_D) !== 0n);
    // Four first-stage table pages plus the data page get D.
    expect(slLeafD).toHaveLength(5);
    const again = ok(translateDma(t.memory, s.config, req(iova, 'w', { pasid: PASID })));
    expect(again.adUpdates).toEqual([]);
  });
});

describe('malformed requests are programming errors', () => {
  it('throws RangeError for a bad rid, PASID, or a request crossing 4 KiB', () => {
    const s = legacySetup([]);
    expect(() => translateDma(s.memory, s.config, req(0n, 'r', { rid: 0x10000 }))).toThrow(RangeError);
    expect(() => translateDma(s.memory, s.config, req(0n, 'r', { pasid: 1 << 20 }))).toThrow(RangeError);
    expect(() => translateDma(s.memory, s.config, { ...req(0xffen), size: 4 })).toThrow(RangeError);
  });
  it('RTADDR decodes TTM', () => {
    expect(RTADDR.decode(0x1000n | (1n << 10n))).toMatchObject({ RTA: 1, TTM: 1, reserved: 0n });
    expect(addressFrame(0x1000n)).toBe(1);
  });
});
