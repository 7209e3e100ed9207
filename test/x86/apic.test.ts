/** Local APIC destination matching (SDM Vol. 3 §10.6.2): physical, flat, cluster, x2APIC logical, broadcast. */
import { describe, expect, it } from 'vitest';
import { acceptingCpus, x2apicLogicalId, xapicClusterLogicalId } from '../../src/x86/apic.ts';

const cpus = (ids: number[]) => ids.map((apicId, index) => ({ index, apicId }));

describe('acceptingCpus', () => {
  it('xAPIC physical: one APIC; 0xFF is broadcast to IDs 0..254', () => {
    const c = cpus([0, 1, 2, 255]);
    expect(acceptingCpus(c, 'xapic', 2, false, 0, false)).toEqual([2]);
    expect(acceptingCpus(c, 'xapic', 0xff, false, 0, false)).toEqual([0, 1, 2]);
  });
  it('xAPIC flat logical: a bitmask of APIC IDs 0..7; lowest priority picks one', () => {
    const c = cpus([0, 1, 2, 3]);
    expect(acceptingCpus(c, 'xapic', 0b0110, true, 0, false)).toEqual([1, 2]);
    expect(acceptingCpus(c, 'xapic', 0b0110, true, 1, false)).toEqual([1]);
  });
  it('xAPIC cluster logical: cluster in 7:4, member mask in 3:0, cluster 0xF is all clusters', () => {
    const c = cpus([0, 4, 5, 8, 9]);
    expect(xapicClusterLogicalId(5)).toBe(0x12);
    expect(xapicClusterLogicalId(60)).toBeUndefined();
    expect(acceptingCpus(c, 'xapic', 0x13, true, 0, false, 'cluster')).toEqual([1, 2]);
    expect(acceptingCpus(c, 'xapic', 0xf2, true, 0, false, 'cluster')).toEqual([2, 4]);
    // The same byte in the flat model is a bitmask: bits 0, 1, 4 → APIC IDs 0 and 4.
    expect(acceptingCpus(c, 'xapic', 0x13, true, 0, false, 'flat')).toEqual([0, 1]);
  });
  it('x2APIC: 32-bit physical IDs; logical cluster/member from the ID; 0xFFFFFFFF broadcast', () => {
    const c = cpus([0, 17, 300]);
    expect(acceptingCpus(c, 'x2apic', 300, false, 0, false)).toEqual([2]);
    expect(x2apicLogicalId(17)).toBe(0x0001_0002);
    expect(acceptingCpus(c, 'x2apic', 0x0001_0002, true, 0, false)).toEqual([1]);
    expect(acceptingCpus(c, 'x2apic', 0xffff_ffff, false, 0, false)).toEqual([0, 1, 2]);
  });
});
