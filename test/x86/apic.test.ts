/** Local APIC destination matching (SDM Vol. 3 §10.6.2): physical, flat, cluster, x2APIC logical, broadcast. */
import { describe, expect, it } from 'vitest';
import { acceptingCpus, arbitrationWinner, picksOne, x2apicLogicalId, xapicClusterLogicalId } from '../../src/x86/apic.ts';

const cpus = (ids: number[]) => ids.map((apicId, index) => ({ index, apicId }));

describe('acceptingCpus', () => {
  it('xAPIC physical: one APIC; 0xFF is broadcast to IDs 0..254', () => {
    const c = cpus([0, 1, 2, 255]);
    expect(acceptingCpus(c, 'xapic', 2, false)).toEqual([2]);
    expect(acceptingCpus(c, 'xapic', 0xff, false)).toEqual([0, 1, 2]);
  });
  it('xAPIC flat logical: a bitmask of APIC IDs 0..7; lowest priority picks one', () => {
    const c = cpus([0, 1, 2, 3]);
    expect(acceptingCpus(c, 'xapic', 0b0110, true)).toEqual([1, 2]);
    // Lowest priority: both are candidates of the arbitration; the trace shows the lowest.
    expect(picksOne(1, false, true)).toBe(true);
    expect(arbitrationWinner(acceptingCpus(c, 'xapic', 0b0110, true), true)).toEqual([1]);
  });
  it('xAPIC cluster logical: cluster in 7:4, member mask in 3:0, cluster 0xF is all clusters', () => {
    const c = cpus([0, 4, 5, 8, 9]);
    expect(xapicClusterLogicalId(5)).toBe(0x12);
    expect(xapicClusterLogicalId(60)).toBeUndefined();
    expect(acceptingCpus(c, 'xapic', 0x13, true, 'cluster')).toEqual([1, 2]);
    expect(acceptingCpus(c, 'xapic', 0xf2, true, 'cluster')).toEqual([2, 4]);
    // The same byte in the flat model is a bitmask: bits 0, 1, 4 → APIC IDs 0 and 4.
    expect(acceptingCpus(c, 'xapic', 0x13, true, 'flat')).toEqual([0, 1]);
  });
  it('x2APIC: 32-bit physical IDs; logical cluster/member from the ID; 0xFFFFFFFF broadcast', () => {
    const c = cpus([0, 17, 300]);
    expect(acceptingCpus(c, 'x2apic', 300, false)).toEqual([2]);
    expect(x2apicLogicalId(17)).toBe(0x0001_0002);
    expect(acceptingCpus(c, 'x2apic', 0x0001_0002, true)).toEqual([1]);
    expect(acceptingCpus(c, 'x2apic', 0xffff_ffff, false)).toEqual([0, 1, 2]);
  });
  it('the redirection hint picks one APIC in logical mode only; fixed delivery goes to all', () => {
    expect(picksOne(0, true, true)).toBe(true);
    expect(picksOne(0, true, false)).toBe(false);
    expect(picksOne(0, false, true)).toBe(false);
    expect(arbitrationWinner([1, 2], false)).toEqual([1, 2]);
    expect(arbitrationWinner([3], true)).toEqual([3]);
  });
});
