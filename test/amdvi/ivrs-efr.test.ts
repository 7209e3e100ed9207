// The AMD-Vi EFR layout and the feature names Linux prints (drivers/iommu/amd/init.c
// print_iommu_info). Properties use fixed seeds and are each shown able to fail against a
// deliberately broken implementation.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineLayout } from '../../src/bits/layout.ts';
import { EFR2_LAYOUT, EFR_LAYOUT, LINUX_FEAT_STR, decodeEfr, efrFeatureNames } from '../../src/amdvi/efr.ts';

const RUNS = { numRuns: 500, seed: 0x5eedef };
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

describe('efrFeatureNames', () => {
  it('Zenith II EFR 0x58f77ef22294ade prints what its dmesg shows', () => {
    expect(efrFeatureNames(0x58f77ef22294aden)).toBe('PPR X2APIC NX GT IA GA PC GA_vAPIC');
  });
  it('QEMU amd-iommu default EFR 0x29d3 (fact sheet §8) prints "PreF PPR GT IA GA HE"', () => {
    expect(efrFeatureNames(0x29d3n)).toBe('PreF PPR GT IA GA HE');
  });
  it('each of bits 0..9 by its feat_str name, bit 5 as "[5]"; GA_vAPIC = bit 21, SNP = bit 63, SEV-TIO = EFR2 bit 1', () => {
    LINUX_FEAT_STR.forEach((name, bit) => expect(efrFeatureNames(1n << BigInt(bit))).toBe(name));
    expect(efrFeatureNames(1n << 5n)).toBe('[5]');
    expect(efrFeatureNames(1n << 21n)).toBe('GA_vAPIC');
    expect(efrFeatureNames(1n << 22n)).toBe(''); // GAMSup's other bits are not printed
    expect(efrFeatureNames(1n << 63n)).toBe('SNP');
    expect(efrFeatureNames(0n, 2n)).toBe('SEV-TIO');
    expect(efrFeatureNames((1n << 64n) - 1n, 2n)).toBe('PreF PPR X2APIC NX GT [5] IA GA HE PC GA_vAPIC SNP SEV-TIO');
    expect(efrFeatureNames(0n)).toBe('');
  });

  // The kernel's loop, written out: names of set bits 0..9, then the fixed extras.
  const linux = (efr: bigint, efr2: bigint): string =>
    [
      ...LINUX_FEAT_STR.filter((_, i) => (efr & (1n << BigInt(i))) !== 0n),
      ...(efr & (1n << 21n) ? ['GA_vAPIC'] : []),
      ...(efr & (1n << 63n) ? ['SNP'] : []),
      ...(efr2 & 2n ? ['SEV-TIO'] : []),
    ].join(' ');
  const matchesLinux = (f: (efr: bigint, efr2: bigint) => string) => fc.property(u64, u64, (a, b) => f(a, b) === linux(a, b));
  it('matches the kernel loop for every EFR/EFR2', () => {
    expect(fc.check(matchesLinux(efrFeatureNames), RUNS).failed).toBe(false);
  });
  it('... and the property fails for names off by one bit', () => {
    const offByOne = (efr: bigint, efr2: bigint): string => efrFeatureNames(efr >> 1n, efr2);
    expect(fc.check(matchesLinux(offByOne), RUNS).failed).toBe(true);
  });
});

describe('EFR_LAYOUT', () => {
  it('decodes the Zenith II EFR field by field', () => {
    expect(decodeEfr(0x58f77ef22294aden)).toMatchObject({
      PreFSup: 0, PPRSup: 1, XTSup: 1, NXSup: 1, GTSup: 1, GAPPISup: 0, IASup: 1, GASup: 1, HESup: 0, PCSup: 1,
      HATS: 2, GATS: 0, GLXSup: 1, SmiFSup: 1, SmiFRC: 2, GAMSup: 1, DualPprLogSup: 2, DualEventLogSup: 2,
      PASmax: 15, USSup: 1, DevTblSegSup: 3, PprOvrflwEarlySup: 1, PprAutoRspSup: 1, MarcSup: 1, BlkStopMrkSup: 1,
      PerfOptSup: 1, MsiCapMmioSup: 1, SnoopAttrSup: 0, GIoSup: 1, HASup: 1, EPHSup: 1, AttrFWSup: 1, HDSup: 0, V2HDDisSup: 0, InvIotlbTypeSup: 0,
      vIommuSup: 1, VMGuardIOSup: 1, GAUpdateDisSup: 0, ForcePhyDestSup: 0, SNPSup: 0,
    });
    // bit 58 is in 60:57, which only Xen names (VMTableSize); kept as a reserved bit
    expect(EFR_LAYOUT.reservedSet(0x58f77ef22294aden)).toBe(1n << 58n);
  });
  it('has the bit positions of the fact sheet §2.5 (spot checks)', () => {
    const f = EFR_LAYOUT.spec.fields;
    expect([f.HATS, f.GAMSup, f.PASmax, f.DevTblSegSup, f.vIommuSup, f.SNPSup]).toEqual([
      { hi: 11, lo: 10 }, { hi: 23, lo: 21 }, { hi: 36, lo: 32 }, { hi: 39, lo: 38 }, { hi: 55, lo: 55 }, { hi: 63, lo: 63 },
    ]);
    expect(EFR2_LAYOUT.spec.fields.NumIntRemapSup).toEqual({ hi: 9, lo: 8 });
  });

  // Every one of the 64 bits is a field or reserved, so decode → encode is the identity.
  const roundTrip = (dec: typeof EFR_LAYOUT, enc: typeof EFR_LAYOUT) => fc.property(u64, (x) => enc.encode(dec.decode(x), dec.reservedSet(x)) === x);
  it('decode → encode round-trips every 64-bit value', () => {
    expect(fc.check(roundTrip(EFR_LAYOUT, EFR_LAYOUT), RUNS).failed).toBe(false);
  });
  it('... and the property fails when one field is moved', () => {
    const moved = defineLayout({ ...EFR_LAYOUT.spec, name: 'EFR with PCSup on bit 26', fields: { ...EFR_LAYOUT.spec.fields, PCSup: { hi: 26, lo: 26 } }, reserved: [{ hi: 9, lo: 9 }, { hi: 27, lo: 27 }, { hi: 30, lo: 30 }, { hi: 60, lo: 57 }] });
    expect(fc.check(roundTrip(EFR_LAYOUT, moved as unknown as typeof EFR_LAYOUT), RUNS).failed).toBe(true);
  });
});
