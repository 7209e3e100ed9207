import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CAP_LAYOUT,
  ECAP_LAYOUT,
  GLOBAL_COMMAND_BITS,
  GLOBAL_STATUS_BITS,
  IRTA_LAYOUT,
  REGISTER_OFFSETS,
  capDomainCount,
  capFaultRecordCount,
  capFaultRecordOffset,
  capMgawBits,
  decodeCap,
  decodeEcap,
  decodeFectl,
  decodeFsts,
  decodeGcmd,
  decodeGsts,
  decodeIrta,
  ecapIotlbOffset,
  encodeCap,
  encodeEcap,
  encodeFectl,
  encodeFsts,
  encodeGcmd,
  encodeGsts,
  encodeIrta,
  irtEntries,
  irtaSizeForEntries,
} from '../../src/vtd/registers.ts';
import { RUNS, bitsN, same, uint } from './arbitraries.ts';

describe('IRTA_REG (sheet §4.2)', () => {
  it('encode(decode(x)) === x for every 64-bit value', () => {
    fc.assert(fc.property(bitsN(64), (x) => encodeIrta(decodeIrta(x)) === x), RUNS);
  });
  it('decode(encode(fields)) equals fields (base up to 2^64-4096)', () => {
    const arb = fc.record({
      base: fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }).map((x) => x << 12n),
      eime: fc.boolean(),
      size: uint(4),
      reserved: uint(7).map((x) => BigInt(x) << 4n),
    });
    fc.assert(fc.property(arb, (i) => same(decodeIrta(encodeIrta(i)), i)), RUNS);
  });
  it('decoding never throws', () => {
    fc.assert(fc.property(fc.bigInt(), (x) => { decodeIrta(x); }), RUNS);
  });
  it('Linux-style value: base | EIME | S', () => {
    expect(decodeIrta(0x1_2345_6000n | (1n << 11n) | 0xfn)).toEqual({ base: 0x1_2345_6000n, eime: true, size: 15, reserved: 0n });
    expect(decodeIrta(0x70n).reserved).toBe(0x70n);
    expect(IRTA_LAYOUT.reservedMask).toBe(0x7f0n);
  });
  it('rejects a misaligned base, out-of-range S and stray reserved bits', () => {
    expect(() => encodeIrta({ base: 0x1800n, eime: false, size: 0 })).toThrow(RangeError);
    expect(() => encodeIrta({ base: 1n << 64n, eime: false, size: 0 })).toThrow(RangeError);
    expect(() => encodeIrta({ base: 0n, eime: false, size: 16 })).toThrow(RangeError);
    expect(() => encodeIrta({ base: 0n, eime: false, size: 0, reserved: 1n })).toThrow(RangeError);
  });
  it('table size: 2^(S+1) entries', () => {
    expect(irtEntries(15)).toBe(65536);
    expect(irtEntries(0)).toBe(2);
    for (let s = 0; s <= 15; s++) expect(irtaSizeForEntries(irtEntries(s))).toBe(s);
    expect(() => irtEntries(16)).toThrow(RangeError);
    expect(() => irtEntries(-1)).toThrow(RangeError);
    for (const bad of [0, 1, 3, 131072, 1.5, 65535]) expect(() => irtaSizeForEntries(bad)).toThrow(RangeError);
  });
});

describe('GCMD / GSTS (sheet §4.3)', () => {
  it('bit positions 31..23', () => {
    expect(GLOBAL_COMMAND_BITS).toEqual({ TE: 31, SRTP: 30, SFL: 29, EAFL: 28, WBF: 27, QIE: 26, IRE: 25, SIRTP: 24, CFI: 23 });
    expect(GLOBAL_STATUS_BITS).toEqual({ TES: 31, RTPS: 30, FLS: 29, AFLS: 28, WBFS: 27, QIES: 26, IRES: 25, IRTPS: 24, CFIS: 23 });
  });
  it('encode(decode(x)) === x for every 32-bit value, both registers', () => {
    fc.assert(fc.property(uint(32), (x) => encodeGcmd(decodeGcmd(x)) === x && encodeGsts(decodeGsts(x)) === x), RUNS);
  });
  it('decode(encode(fields)) equals fields', () => {
    const gcmd = fc.record({ TE: fc.boolean(), SRTP: fc.boolean(), SFL: fc.boolean(), EAFL: fc.boolean(), WBF: fc.boolean(), QIE: fc.boolean(), IRE: fc.boolean(), SIRTP: fc.boolean(), CFI: fc.boolean(), reserved: uint(23) });
    fc.assert(fc.property(gcmd, (g) => same(decodeGcmd(encodeGcmd(g)), g)), RUNS);
  });
  it('IRE | SIRTP | QIE', () => {
    const g = decodeGcmd(0x0700_0000);
    expect(g).toMatchObject({ QIE: true, IRE: true, SIRTP: true, CFI: false, TE: false, reserved: 0 });
    expect(decodeGsts(1 << 23).CFIS).toBe(true);
    expect(decodeGsts(0xffff_ffff).reserved).toBe(0x7f_ffff);
  });
});

const capFields = Object.keys(CAP_LAYOUT.spec.fields) as (keyof typeof CAP_LAYOUT.spec.fields)[];

describe('CAP / ECAP (sheet §7.4)', () => {
  it('encode(decode(x)) === x for every 64-bit value', () => {
    fc.assert(fc.property(bitsN(64), (x) => encodeCap(decodeCap(x)) === x && encodeEcap(decodeEcap(x)) === x), RUNS);
  });
  it('decode(encode(fields)) equals fields', () => {
    // Build field values from the layout table itself so every field is exercised at full range.
    const arbFor = (layout: typeof CAP_LAYOUT | typeof ECAP_LAYOUT) =>
      fc.record(
        Object.fromEntries(
          Object.entries(layout.spec.fields).map(([k, f]) => [k, f.hi === f.lo ? fc.boolean() : uint(f.hi - f.lo + 1)]),
        ) as Record<string, fc.Arbitrary<number | boolean>>,
      );
    fc.assert(
      fc.property(arbFor(CAP_LAYOUT), bitsN(64), (f, r) => {
        const v = { ...f, reserved: r & CAP_LAYOUT.reservedMask } as unknown as ReturnType<typeof decodeCap>;
        same(decodeCap(encodeCap(v)), v);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(arbFor(ECAP_LAYOUT), bitsN(64), (f, r) => {
        const v = { ...f, reserved: r & ECAP_LAYOUT.reservedMask } as unknown as ReturnType<typeof decodeEcap>;
        same(decodeEcap(encodeEcap(v)), v);
      }),
      RUNS,
    );
  });
  it('required fields exist with their bit positions', () => {
    for (const n of ['ND', 'SAGAW', 'MGAW', 'FRO', 'NFR', 'PI', 'ESIRTPS', 'MAMV', 'SLLPS', 'FL1GP', 'FL5LP']) expect(capFields).toContain(n);
    for (const n of ['C', 'QI', 'DT', 'IR', 'EIM', 'PT', 'SC', 'IRO', 'MHMV', 'NEST', 'PASID', 'SMTS', 'FLTS', 'SLTS']) expect(Object.keys(ECAP_LAYOUT.spec.fields)).toContain(n);
    const cap = decodeCap((1n << 59n) | (1n << 62n) | (0x3fn << 16n) | (0x7n << 40n) | (0x22n << 24n) | 2n);
    expect(cap).toMatchObject({ PI: true, ESIRTPS: true, MGAW: 0x3f, NFR: 7, FRO: 0x22, ND: 2, ESRTPS: false, reserved: 0n });
    const pi: boolean = cap.PI; // 1-bit fields are typed boolean
    const nd: number = cap.ND;
    expect([pi, nd]).toEqual([true, 2]);
    expect(capDomainCount(cap.ND)).toBe(256);
    expect(capMgawBits(cap.MGAW)).toBe(64);
    expect(capFaultRecordCount(cap.NFR)).toBe(8);
    expect(capFaultRecordOffset(cap.FRO)).toBe(0x220);
    const ecap = decodeEcap((1n << 4n) | (1n << 3n) | (0x50n << 8n) | (0xfn << 20n) | (1n << 43n));
    expect(ecap).toMatchObject({ EIM: true, IR: true, IRO: 0x50, MHMV: 0xf, SMTS: true, QI: false, reserved: 0n });
    expect(ecapIotlbOffset(ecap.IRO)).toBe(0x500);
  });
  it('decoding never throws', () => {
    fc.assert(fc.property(fc.bigInt(), (x) => { decodeCap(x); decodeEcap(x); }), RUNS);
  });
});

describe('FSTS / FECTL (sheet §5.4)', () => {
  it('encode(decode(x)) === x for every 32-bit value', () => {
    fc.assert(fc.property(uint(32), (x) => encodeFsts(decodeFsts(x)) === x && encodeFectl(decodeFectl(x)) === x), RUNS);
  });
  it('field positions', () => {
    expect(decodeFsts(0x0000_0302)).toMatchObject({ PPF: true, PFO: false, FRI: 3, reserved: 0 });
    expect(decodeFsts(0x10)).toMatchObject({ IQE: true });
    expect(decodeFectl(0x8000_0000)).toEqual({ IM: true, IP: false, reserved: 0 });
    expect(decodeFectl(0x4000_0001)).toEqual({ IM: false, IP: true, reserved: 1 });
    expect(() => encodeFsts({ ...decodeFsts(0), FRI: 256 })).toThrow(RangeError);
  });
  it('register offsets (sheet §4.1)', () => {
    expect(REGISTER_OFFSETS).toMatchObject({ CAP: 0x08, ECAP: 0x10, GCMD: 0x18, GSTS: 0x1c, FSTS: 0x34, FECTL: 0x38, IRTA: 0xb8, IQA: 0x90 });
  });
});
