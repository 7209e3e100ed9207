import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { amdIndexInTable, amdIrteIndexOf, composeAmdRemappedMsi, decodeAmdMsi } from '../../src/amdvi/remappable-msi.ts';
import { RUNS, uint } from '../codecs/arbitraries.ts';

describe('AMD-Vi MSI: the index is data[10:0] (spec-facts §9.2)', () => {
  it('reads the T14 lspci pair fee00000/0000 as IRTE index 0, fixed', () => {
    expect(decodeAmdMsi(0xfee0_0000n, 0x0000)).toMatchObject({ index: 0, deliveryMode: 0, addressDestinationModeLogical: false });
  });

  it('ignores the address for the index', () => {
    fc.assert(
      fc.property(uint(32), uint(32), (addrLow, data) => {
        expect(decodeAmdMsi(0xfee0_0000n | BigInt(addrLow & 0xf_fffc), data).index).toBe(data & 0x7ff);
        expect(amdIrteIndexOf(data)).toBe(data & 0x7ff);
      }),
      RUNS,
    );
  });

  it('composes what Linux fill_msi_msg writes and decodes it back', () => {
    expect(composeAmdRemappedMsi(5)).toEqual({ address: 0xfee0_0000n, data: 5 });
    expect(composeAmdRemappedMsi(5, true).address).toBe(0xfee0_0004n);
    fc.assert(
      fc.property(uint(11), fc.boolean(), (index, twoK) => {
        const m = composeAmdRemappedMsi(index, twoK);
        const d = decodeAmdMsi(m.address, m.data);
        return d.index === index && d.addressDestinationModeLogical === twoK;
      }),
      RUNS,
    );
    expect(() => composeAmdRemappedMsi(2048)).toThrow(RangeError);
  });

  it('bounds the index by 2^IntTabLen', () => {
    expect(amdIndexInTable(511, 9)).toBe(true);
    expect(amdIndexInTable(512, 9)).toBe(false);
    expect(amdIndexInTable(0, 0)).toBe(true);
    expect(amdIndexInTable(1, 0)).toBe(false);
  });
});
