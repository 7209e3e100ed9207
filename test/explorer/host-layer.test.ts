// The host side: the shortcuts the explorer takes for speed give the same states as the
// policy's own requests, delivery is verified by events, and costs are counted, not assumed.
import { describe, expect, it } from 'vitest';
import { buildPlatform } from '../../src/platform/build.ts';
import { applyAction, applyActions } from '../../src/platform/transition.ts';
import { irEnableSequence } from '../../src/platform/ir-enable.ts';
import { vcpuList } from '../../src/platform/vcpu-table.ts';
import { readPid } from '../../src/vtd/pid-memory.ts';
import { postedMsiSetup } from '../../src/policy/common.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import { DEVICE, GUEST_VECTOR, IRT_BASE, hostDescription, hostPlatform, loadAllVcpus } from '../../src/explorer/platforms.ts';
import { hostBase, indexedVcpuLookup, simulateHostLayer, steadyStateCost } from '../../src/explorer/host-layer.ts';

const IDS = [0, 2, 4, 6, 64, 66, 300, 301];

function viaSchedule(ids: readonly number[]): PlatformState {
  let s = applyActions(buildPlatform(hostDescription({ guestApicIds: ids, posted: true })), [
    ...irEnableSequence(0, { base: IRT_BASE, eime: true, entries: 16 }).actions,
    { kind: 'msix-control', device: DEVICE, enabled: true },
  ]).state;
  for (let v = 0; v < ids.length; v++) s = applyAction(s, { kind: 'schedule', vcpu: v, pcpu: v }).state;
  return s;
}

describe('shortcuts equal the policy path', () => {
  it('loadAllVcpus leaves what the KVM-like policy\'s schedule leaves (vCPUs, PIDs, running index)', () => {
    const a = viaSchedule(IDS);
    const b = hostPlatform({ guestApicIds: IDS, posted: true, irtes: 16 });
    expect(vcpuList(b.vcpus)).toEqual(vcpuList(a.vcpus));
    expect(b.vcpus.runningOn).toEqual(a.vcpus.runningOn);
    for (const v of vcpuList(a.vcpus)) expect(readPid(b.memory, v.pda)).toEqual(readPid(a.memory, v.pda));
  });

  it('postedMsiSetup with the indexed lookup writes what the guest-msi request writes', () => {
    let viaRequest = hostPlatform({ guestApicIds: IDS, posted: true, irtes: 16 });
    let viaIndex = viaRequest;
    const find = indexedVcpuLookup(viaIndex);
    for (const apicId of [300, 0, 66]) {
      const req = { kind: 'guest-msi', device: DEVICE, entry: 0, destination: apicId, vector: GUEST_VECTOR } as const;
      viaRequest = applyAction(viaRequest, req).state;
      viaIndex = applyActions(viaIndex, postedMsiSetup(viaIndex, req, find)).state;
    }
    for (let i = 0; i < 4; i++) expect(viaIndex.memory.readLE(IRT_BASE + BigInt(i * 16), 16)).toEqual(viaRequest.memory.readLE(IRT_BASE + BigInt(i * 16), 16));
    expect(viaIndex.devices[DEVICE]).toEqual(viaRequest.devices[DEVICE]);
    expect(viaIndex.intent).toEqual(viaRequest.intent);
    expect(viaIndex.hypervisor.nextIrte).toEqual(viaRequest.hypervisor.nextIrte);
  });
});

describe('delivery verified by events, costs counted', () => {
  const all = IDS.map((_, i) => i);

  it('posted: every vCPU gets its vector through its own PID, no VM exit', () => {
    const r = simulateHostLayer('posted', IDS, all);
    expect(r.outcomes.every((o) => o?.reached)).toBe(true);
    // IEC miss → 1 IRTE read; the unit reads PID control and RMWs the PID, the CPU reads ON and RMWs PIR → 4 reads, 2 writes.
    expect(r.outcomes[6]!.firstInterrupt).toEqual({ irteReads: 1, tableReads: 0, pidReads: 4, pidWrites: 2, notifications: 1, vmExits: 0 });
    expect(r.outcomes[6]!.setup).toEqual({ irteWrites: 1, tableWrites: 0, invalidations: 1, hypervisorRequests: 1 });
  });

  it('remapped: the host IRTE reaches the vCPU\'s pCPU in guest mode: one VM exit', () => {
    const r = simulateHostLayer('remapped', IDS, all);
    expect(r.outcomes.every((o) => o?.reached)).toBe(true);
    expect(r.outcomes[7]!.firstInterrupt).toEqual({ irteReads: 1, tableReads: 0, pidReads: 0, pidWrites: 0, notifications: 0, vmExits: 1 });
  });

  it('direct (hypothetical): the direct-post model — vmm-start writes the root entry and the vAPIC table once per VM, nothing per MSI', () => {
    const r = simulateHostLayer('direct', IDS, all);
    // One vAPIC entry per vCPU and the VF's root entry, one invalidation (the VF's source ID), the vmm-start request.
    expect(r.perVm).toEqual({ irteWrites: 0, tableWrites: IDS.length + 1, invalidations: 1, hypervisorRequests: 1 });
    expect(r.outcomes.every((o) => o?.reached && o.setup.irteWrites === 0 && o.setup.tableWrites === 0 && o.setup.invalidations === 0 && o.setup.hypervisorRequests === 0)).toBe(true);
    // The guest's message is the standard compatibility format naming the vCPU's APIC ID (300 = 0x12c: ext dest ID 1, destination 0x2c).
    expect(r.outcomes[6]!.message).toEqual({ address: 0xfee2c020n, data: GUEST_VECTOR });
    // Cold cache: the unit reads the root entry and the vAPIC entry, then posts as VT-d does (4 + 2 PID references), no exit.
    expect(r.outcomes[6]!.firstInterrupt).toEqual({ irteReads: 0, tableReads: 2, pidReads: 4, pidWrites: 2, notifications: 1, vmExits: 0 });
    // Steady state within the 64-entry direct-post cache: no table read.
    expect(steadyStateCost(r, all)!.tableReads).toBe(0);
  });

  it('direct: the verification can fail — on a host without the direct-post hardware the same messages are blocked (0x25) and no vCPU counts', () => {
    const r = simulateHostLayer('direct', IDS, [0, 6], hostBase('posted', IDS));
    expect(r.outcomes[0]!.reached).toBe(false);
    expect(r.outcomes[0]!.why).toBe('host remapping fault 0x25');
    expect(r.perVm.tableWrites).toBe(0);
  });

  it('direct: APIC IDs above 32767 get no vAPIC ID (15-bit extended destination ID)', () => {
    const r = simulateHostLayer('direct', [0, 32767, 32768], [0, 1, 2]);
    expect(r.outcomes.map((o) => o?.reached)).toEqual([true, true, false]);
    expect(r.outcomes[2]!.why).toMatch(/does not fit a 15-bit vAPIC ID/);
  });

  it('direct: beyond the 64-entry direct-post cache every interrupt re-reads its vAPIC entry (the root entry stays cached with it)', () => {
    const ids = Array.from({ length: 80 }, (_, i) => i);
    const r = simulateHostLayer('direct', ids, ids);
    expect(steadyStateCost(r, ids.slice(0, 64))!.tableReads).toBe(0);
    expect(steadyStateCost(r, ids.slice(0, 65))!.tableReads).toBeGreaterThan(0);
  });

  it('a host without CAP.PI cannot post: the posted IRTE faults (0x24) and the vCPU is not counted', () => {
    const r = simulateHostLayer('posted', IDS, [0], hostBase('remapped', IDS));
    expect(r.outcomes[0]!.reached).toBe(false);
    expect(r.outcomes[0]!.why).toBe('host remapping fault 0x24');
  });

  it('steady state: once the working set exceeds the model\'s 64-entry IEC, every interrupt re-reads its IRTE', () => {
    const ids = Array.from({ length: 80 }, (_, i) => i);
    const r = simulateHostLayer('remapped', ids, ids);
    expect(steadyStateCost(r, ids.slice(0, 64))!.irteReads).toBe(0);
    expect(steadyStateCost(r, ids.slice(0, 65))!.irteReads).toBe(1);
    expect(steadyStateCost(r, [])).toBeUndefined();
  });
});
