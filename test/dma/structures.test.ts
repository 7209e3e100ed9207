import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  FL_PTE,
  LEGACY_CONTEXT_ENTRY,
  LEGACY_ROOT_ENTRY,
  PASID_DIR_ENTRY,
  PASID_ENTRY,
  RTADDR,
  SCALABLE_CONTEXT_ENTRY,
  SCALABLE_ROOT_ENTRY,
  SL_PTE,
  firstStageReservedMask,
  secondStageReservedMask,
} from '../../src/vtd/dma/structures.ts';
import { defineRecord, type RecordCodec } from '../../src/bits/record.ts';
import { RUNS } from './fixtures.ts';

type AnyCodec = RecordCodec<Record<string, { hi: number; lo: number }>>;
const CODECS: [string, AnyCodec][] = [
  ['RTADDR_REG', RTADDR as unknown as AnyCodec],
  ['legacy root entry', LEGACY_ROOT_ENTRY as unknown as AnyCodec],
  ['scalable root entry', SCALABLE_ROOT_ENTRY as unknown as AnyCodec],
  ['legacy context entry', LEGACY_CONTEXT_ENTRY as unknown as AnyCodec],
  ['scalable context entry', SCALABLE_CONTEXT_ENTRY as unknown as AnyCodec],
  ['PASID directory entry', PASID_DIR_ENTRY as unknown as AnyCodec],
  ['PASID-table entry', PASID_ENTRY as unknown as AnyCodec],
  ['second-stage PTE', SL_PTE as unknown as AnyCodec],
  ['first-stage PTE', FL_PTE as unknown as AnyCodec],
];

const bitsN = (width: number) => fc.bigInt({ min: 0n, max: (1n << BigInt(width)) - 1n });

/** Every field over its full range, plus any subset of the reserved and ignored bits. */
function valueArb(c: AnyCodec): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, f] of Object.entries(c.layout.spec.fields)) {
    const w = f.hi - f.lo + 1;
    fields[name] = w === 1 ? fc.boolean() : fc.integer({ min: 0, max: 2 ** w - 1 });
  }
  fields['reserved'] = bitsN(c.width).map((x) => x & c.layout.reservedMask);
  fields['ignored'] = bitsN(c.width).map((x) => x & c.ignoredMask);
  return fc.record(fields);
}

const rawRoundTrip = (c: AnyCodec, dec: AnyCodec = c) =>
  fc.property(bitsN(c.width), (x) => c.encode(dec.decode(x) as never) === x);
const fieldRoundTrip = (c: AnyCodec, dec: AnyCodec = c) =>
  fc.property(valueArb(c), (v) => {
    expect(dec.decode(c.encode(v as never))).toEqual(v);
  });

describe('DMA-remapping structure codecs round-trip over full field ranges (sheet §8)', () => {
  for (const [name, c] of CODECS) {
    it(`${name}: encode(decode(x)) === x for every ${c.width}-bit pattern`, () => {
      fc.assert(rawRoundTrip(c), RUNS);
    });
    it(`${name}: decode(encode(fields)) === fields`, () => {
      fc.assert(fieldRoundTrip(c), RUNS);
    });
  }

  it('fields, reserved and ignored bits partition each structure', () => {
    for (const [, c] of CODECS) {
      let fieldMask = 0n;
      for (const f of Object.values(c.layout.spec.fields)) fieldMask |= ((1n << BigInt(f.hi - f.lo + 1)) - 1n) << BigInt(f.lo);
      expect(fieldMask & c.ignoredMask).toBe(0n);
      expect(c.layout.reservedMask & c.ignoredMask).toBe(0n);
      expect(fieldMask | c.layout.reservedMask | c.ignoredMask).toBe((1n << BigInt(c.width)) - 1n);
    }
  });
});

describe('pinned values from Linux drivers/iommu/intel/{iommu.h,pasid.h}', () => {
  it('legacy context entry: lo = SLPTPTR | TT << 2 | P; hi = AW | DID << 8 (context_set_*)', () => {
    const lo = 0x1234_5000n | (2n << 2n) | 1n;
    const hi = 2n | (0xabcdn << 8n);
    expect(LEGACY_CONTEXT_ENTRY.decode((hi << 64n) | lo)).toEqual({
      P: true, FPD: false, TT: 2, SLPTPTR: 0x12345, AW: 2, DID: 0xabcd, reserved: 0n, ignored: 0n,
    });
  });
  it('PASID entry: PGTT val[0] 8:6, DID val[1] 15:0, PGSNP val[1] bit 24, SRE val[2] bit 0, FLPM val[2] 3:2, FLPTPTR val[2] 63:12', () => {
    const q0 = (3n << 6n) | (2n << 2n) | 1n | 0xaaa_0000n;
    const q1 = 0x42n | (1n << 24n);
    const q2 = 1n | (1n << 2n) | 0xbbb_c000n;
    const pe = PASID_ENTRY.decode((q2 << 128n) | (q1 << 64n) | q0);
    expect(pe).toMatchObject({ P: true, PGTT: 3, AW: 2, SLPTPTR: 0xaaa0, DID: 0x42, PGSNP: true, SRE: true, FLPM: 1, FLPTPTR: 0xbbbc, reserved: 0n });
  });
  it('scalable root entry: devfn ≥ 128 uses UP (bit 64) and UCTP (127:76)', () => {
    const v = (0x5000n << 64n) | (1n << 64n) | 0x3001n;
    expect(SCALABLE_ROOT_ENTRY.decode(v)).toMatchObject({ LP: true, LCTP: 3, UP: true, UCTP: 5, reserved: 0n });
  });
  it('first-stage and second-stage bits: DMA_FL_PTE_US bit 2, DMA_FL_PTE_XD bit 63; DMA_PTE_LARGE_PAGE bit 7', () => {
    expect(FL_PTE.decode((1n << 63n) | 4n)).toMatchObject({ XD: true, US: true, P: false });
    expect(SL_PTE.decode(0x80n | 3n)).toMatchObject({ PS: true, R: true, W: true });
  });
});

describe('level-dependent reserved bits', () => {
  const sl = { hawBits: 48, sl2M: true, sl1G: false, snoopControl: false };
  it('second stage: PS reserved at levels 4/5 and at level 3 without 1 GiB, ignored at level 1 (VirtualBox IGN_7, QEMU L1 mask)', () => {
    expect(secondStageReservedMask(0n, 4, sl) & 0x80n).toBe(0x80n);
    expect(secondStageReservedMask(0n, 5, sl) & 0x80n).toBe(0x80n);
    expect(secondStageReservedMask(0n, 3, sl) & 0x80n).toBe(0x80n);
    expect(secondStageReservedMask(0n, 2, sl) & 0x80n).toBe(0n);
    expect(secondStageReservedMask(0x80n, 1, sl) & 0x80n).toBe(0n);
    expect(secondStageReservedMask(0x80n, 2, sl) & 0x1f_f000n).toBe(0x1f_f000n); // 2 MiB page: 20:12 reserved
    expect(secondStageReservedMask(0x80n, 3, { ...sl, sl1G: true }) & 0x3fff_f000n).toBe(0x3fff_f000n); // 1 GiB page: 29:12
    expect(secondStageReservedMask(0n, 1, sl) & (1n << 48n)).toBe(1n << 48n); // above HAW
  });
  it('second stage: SNP (bit 11) only in a leaf and only with ECAP.SC; TM (bit 62) reserved everywhere (VT-d 3.2+)', () => {
    const sc = { ...sl, snoopControl: true };
    expect(secondStageReservedMask(0n, 1, sl) & (1n << 11n)).toBe(1n << 11n);
    expect(secondStageReservedMask(0n, 1, sc) & (1n << 11n)).toBe(0n);
    expect(secondStageReservedMask(0x80n, 2, sc) & (1n << 11n)).toBe(0n); // 2 MiB leaf
    expect(secondStageReservedMask(0n, 2, sc) & (1n << 11n)).toBe(1n << 11n); // non-leaf PDE
    expect(secondStageReservedMask(0n, 4, sc) & (1n << 11n)).toBe(1n << 11n);
    for (const level of [1, 2, 3, 4, 5]) expect(secondStageReservedMask(0n, level, sc) & (1n << 62n)).toBe(1n << 62n);
    // Ignored bits are never reserved: 10, 61:52, 63 (Linux generic_pt vtdss_pt_sw_bit).
    for (const level of [1, 2, 3, 4, 5]) expect(secondStageReservedMask(0n, level, sl) & ((1n << 10n) | (0x3ffn << 52n) | (1n << 63n))).toBe(0n);
  });
  it('first stage: XD reserved without NXE; PS in PML4E/PML5E and in a PDPE without FL1GP; large-page bits 20:13 / 29:13 (bit 12 is PAT)', () => {
    const o = { addressBits: 52, nxe: false, fl1G: true };
    expect(firstStageReservedMask(0n, 1, o) & (1n << 63n)).toBe(1n << 63n);
    expect(firstStageReservedMask(0n, 1, { ...o, nxe: true }) & (1n << 63n)).toBe(0n);
    expect(firstStageReservedMask(0n, 4, o) & 0x80n).toBe(0x80n);
    expect(firstStageReservedMask(0n, 5, o) & 0x80n).toBe(0x80n);
    expect(firstStageReservedMask(0n, 3, { ...o, fl1G: false }) & 0x80n).toBe(0x80n);
    expect(firstStageReservedMask(0x80n, 2, o) & 0x1f_f000n).toBe(0x1f_e000n);
    expect(firstStageReservedMask(0x80n, 3, o) & 0x3fff_f000n).toBe(0x3fff_e000n);
    expect(firstStageReservedMask(0x80n, 1, o) & 0x80n).toBe(0n); // PAT in a 4 KiB PTE
  });
});

describe('a broken layout is caught', () => {
  it('defineRecord rejects overlapping fields and fields beyond the width', () => {
    expect(() => defineRecord('bad', 64, { A: { hi: 3, lo: 0 }, B: { hi: 4, lo: 3 } })).toThrow(/overlaps/);
    expect(() => defineRecord('bad', 64, { A: { hi: 64, lo: 60 } })).toThrow(/outside/);
    expect(() => defineRecord('bad', 128, { A: { hi: 11, lo: 4 } }, [{ hi: 7, lo: 7 }])).toThrow(/overlaps/);
  });

  it('the round-trip properties fail for a codec whose DID is one bit off (decode side)', () => {
    const shifted = defineRecord('legacy context entry, DID 88:73', 128, {
      ...LEGACY_CONTEXT_ENTRY.layout.spec.fields,
      DID: { hi: 88, lo: 73 },
    }, [
      { hi: 11, lo: 4 },
      { hi: 71, lo: 71 },
      { hi: 127, lo: 89 },
    ]) as unknown as AnyCodec;
    const real = LEGACY_CONTEXT_ENTRY as unknown as AnyCodec;
    expect(fc.check(fieldRoundTrip(real), RUNS).failed).toBe(false);
    expect(fc.check(fieldRoundTrip(real, shifted), RUNS).failed).toBe(true);
    expect(fc.check(rawRoundTrip(real, shifted), RUNS).failed).toBe(true);
    // A self-consistent shifted table round-trips: the pinned Linux value is what catches it.
    expect(fc.check(rawRoundTrip(shifted), RUNS).failed).toBe(false);
    expect((shifted.decode((0xabcdn << 72n) | 1n) as unknown as { DID: number }).DID).not.toBe(0xabcd);
  });
});
