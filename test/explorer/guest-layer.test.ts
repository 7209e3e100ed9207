// Known facts about guest-side addressing, each checked by simulating the message the guest
// programs through the platform's real delivery path (sheet §1.3, §1.4, §3.1).
import { describe, expect, it } from 'vitest';
import { simulateGuestLayer, type GuestOutcome } from '../../src/explorer/guest-layer.ts';
import { parseTopology, topologyApicIds } from '../../src/explorer/topology.ts';

const byId = (outcomes: readonly GuestOutcome[], id: number): GuestOutcome => outcomes.find((o) => o.apicId === id)!;

describe('8-bit destinations', () => {
  const ids = [0, 1, 200, 254, 255, 256, 300, 511];
  it('xAPIC physical: 0..254 reachable; 255 is the broadcast; 256 and up are truncated', () => {
    const r = simulateGuestLayer('xapic-physical', ids).outcomes;
    expect(r.filter((o) => o.reached).map((o) => o.apicId)).toEqual([0, 1, 200, 254]);
    const b = byId(r, 255);
    expect(b.why?.code).toBe('broadcast-collision');
    expect(b.destination).toBe(0xff);
    // The broadcast lands on every vCPU with an xAPIC-addressable ID, not on 255 alone.
    expect(b.targets).toEqual([0, 1, 2, 3]);
    const t = byId(r, 256);
    expect(t.why?.code).toBe('truncated-destination');
    expect(t.targets).toEqual([0]); // 256 & 0xff = APIC ID 0, vCPU 0
    expect(byId(r, 300).targets).toEqual([]); // 300 & 0xff = 44: no such vCPU
    expect(byId(r, 511).targets).toEqual([0, 1, 2, 3]); // truncated to 0xFF: the broadcast again
  });

  it('x2APIC without IR: 256 and up are truncated (the simulator treats 0xFF as APIC ID 255, as KVM does with the broadcast quirk disabled)', () => {
    const r = simulateGuestLayer('x2apic-compat', ids).outcomes;
    expect(r.filter((o) => o.reached).map((o) => o.apicId)).toEqual([0, 1, 200, 254, 255]);
    expect(r.filter((o) => o.apicId >= 256).every((o) => o.why?.code === 'truncated-destination')).toBe(true);
    expect(byId(r, 511).targets).toEqual([4]); // lands on APIC ID 255 (vCPU 4)
  });

  it('no 8-bit scheme reaches an APIC ID of 256 or more', () => {
    const big = topologyApicIds(parseTopology('5s:20c:2t'));
    for (const scheme of ['xapic-physical', 'xapic-logical-flat', 'x2apic-compat'] as const) {
      const r = simulateGuestLayer(scheme, big).outcomes;
      expect(r.filter((o) => o.apicId >= 255 && o.reached)).toEqual([]);
    }
  });

  it('xAPIC logical flat: only APIC IDs 0..7 have a logical ID', () => {
    const r = simulateGuestLayer('xapic-logical-flat', Array.from({ length: 16 }, (_, i) => i)).outcomes;
    expect(r.filter((o) => o.reached).map((o) => o.apicId)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(r[8]!.why?.code).toBe('no-logical-id');
  });

  it('xAPIC logical cluster: 15 clusters × 4 members reach APIC IDs 0..59', () => {
    const r = simulateGuestLayer('xapic-logical-cluster', [0, 1, 5, 59, 60, 255]).outcomes;
    expect(r.filter((o) => o.reached).map((o) => o.apicId)).toEqual([0, 1, 5, 59]);
    expect(r[4]!.why?.code).toBe('no-logical-id');
    // APIC ID 5 is cluster 1, member bit 1: destination 0x12.
    expect(r[2]!.destination).toBe(0x12);
  });
});

describe('15-bit extended destination ID', () => {
  it('32767 is the limit: reachable; 32768 truncates to APIC ID 0', () => {
    const ids = [0, 255, 256, 4095, 32767, 32768, 40000];
    const r = simulateGuestLayer('ext-dest-id', ids).outcomes;
    expect(r.filter((o) => o.reached).map((o) => o.apicId)).toEqual([0, 255, 256, 4095, 32767]);
    expect(byId(r, 32768).why?.code).toBe('truncated-destination');
    expect(byId(r, 32768).targets).toEqual([0]);
    expect(byId(r, 32767).destination).toBe(32767);
    expect(byId(r, 40000).targets).toEqual([]); // 40000 mod 32768 = 7232: no such vCPU
  });
});

describe('vIOMMU with IR and EIM (32-bit IRTE destination)', () => {
  it('reaches all 4,096 vCPUs of 32s:64c:2t through IRTEs the guest writes', () => {
    const ids = topologyApicIds(parseTopology('32s:64c:2t'));
    const r = simulateGuestLayer('viommu-ir', ids).outcomes;
    expect(r.filter((o) => o.reached)).toHaveLength(4096);
    expect(r[4095]!.destination).toBe(4095);
    expect(r[0]!.setup).toEqual({ msixDwords: 4, irteWrites: 1, invalidations: 1 });
  });

  it('reaches sparse IDs far above 32767, but 0xFFFFFFFF is the x2APIC broadcast', () => {
    const r = simulateGuestLayer('viommu-ir', [0, 70000, 0xfffffffe, 0xffffffff]).outcomes;
    expect(r.map((o) => o.reached)).toEqual([true, true, true, false]);
    expect(r[3]!.targets).toEqual([0, 1, 2, 3]);
  });
});
