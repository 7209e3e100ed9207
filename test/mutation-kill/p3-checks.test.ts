/**
 * P3 (src/properties/p3-no-lost-interrupt.ts) on hand-built states: which vCPU states may
 * hold PIR bits (a runnable one may; running and blocked ones may not), the notification a
 * unit must not send while SN is set unless the IRTE is urgent (VT-d §9.12 "Posted
 * Interrupt Descriptor", §9.11 URG), and a fixed interrupt meant for several vCPUs that a
 * posted IRTE, with its one PDA, can only post into one of them.
 */
import { describe, expect, it } from 'vitest';
import { checkNoLostInterrupt } from '../../src/properties/p3-no-lost-interrupt.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import type { IntendedRoute, PlatformState, VcpuRun } from '../../src/platform/state.ts';
import { vcpuAt, withVcpu } from '../../src/platform/vcpu-table.ts';
import { encodePid, withPirBit } from '../../src/vtd/pid.ts';
import { DEV_A, delivered, pdaOf, platform, posted } from './fixtures.ts';

/** `s` with vCPU `id` in state `run` on `pcpu` and its PID holding `pir` (ON, SN, NV, NDST as given). */
function withPid(s: PlatformState, id: number, run: VcpuRun, pcpu: number, pir: bigint, c = { on: true, sn: false, nv: 0xf2, ndst: 4 }): PlatformState {
  const v = vcpuAt(s.vcpus, id)!;
  return { ...s, vcpus: withVcpu(s.vcpus, { ...v, run, pcpu }), memory: s.memory.writeLE(pdaOf(id), 64, encodePid({ pir, ...c })) };
}

const pir = (...vectors: number[]): bigint => vectors.reduce((p, v) => withPirBit(p, v), 0n);

describe('P3: PIR bits left behind', () => {
  it('a running vCPU with PIR bits: violation at the action just taken (the step passed in), naming vectors and PID fields', () => {
    const s = withPid(platform(), 1, 'running', 2, pir(0x41, 0x30, 0xff));
    expect(checkNoLostInterrupt(s, [], 6)).toEqual([
      { property: 'P3', step: 6, vcpu: 1, message: 'vm1.vcpu1 runs on cpu2 but posted vector(s) 0x30,0x41,0xff sit in PIR unprocessed (ON=1 SN=0 NV=0xf2 NDST=0x4)' },
    ]);
  });

  it('a blocked vCPU with PIR bits was not woken', () => {
    const s = withPid(platform(), 2, 'blocked', 3, pir(0x20), { on: false, sn: true, nv: 0xf1, ndst: 0x600 });
    expect(checkNoLostInterrupt(s, [], 2)).toEqual([
      { property: 'P3', step: 2, vcpu: 2, message: 'vm2.vcpu0 is blocked on cpu3 with posted vector(s) 0x20 pending in PIR and was not woken (ON=0 SN=1 NV=0xf1 NDST=0x600)' },
    ]);
  });

  it('without a step: the first event\'s step, else 0', () => {
    const s = withPid(platform(), 1, 'running', 2, pir(0x41));
    const event = { kind: 'action-rejected', why: 'x', step: 9 } as const;
    expect(checkNoLostInterrupt(s, [event]).map((v) => v.step)).toEqual([9]);
    expect(checkNoLostInterrupt(s, []).map((v) => v.step)).toEqual([0]);
  });

  it('a runnable (preempted) vCPU may hold PIR bits', () => {
    expect(checkNoLostInterrupt(withPid(platform(), 0, 'runnable', 1, pir(0x41)), [])).toEqual([]);
  });

  it('running and blocked vCPUs with an empty PIR are fine, whatever ON says', () => {
    const s = withPid(withPid(platform(), 0, 'running', 1, 0n), 2, 'blocked', 3, 0n);
    expect(checkNoLostInterrupt(s, [])).toEqual([]);
  });

  it('each offending vCPU is reported, in id order', () => {
    const s = withPid(withPid(platform(), 2, 'blocked', 3, pir(0x22)), 0, 'running', 1, pir(0x21));
    expect(checkNoLostInterrupt(s, []).map((v) => v.vcpu)).toEqual([0, 2]);
  });

  it('a vCPU of a domain the state has no record of is named by its domain number', () => {
    const base = withPid(platform(), 2, 'running', 3, pir(0x33));
    const s = { ...base, domains: base.domains.slice(0, 2) };
    expect(checkNoLostInterrupt(s, []).map((v) => v.message)).toEqual(['domain 2.vcpu0 runs on cpu3 but posted vector(s) 0x33 sit in PIR unprocessed (ON=1 SN=0 NV=0xf2 NDST=0x4)']);
  });
});

describe('P3: notification while SN is set', () => {
  const notified = { vector: 0xf2, apicId: 4, targets: [2] };

  it('sent with SN set and the IRTE not urgent: violation on the posting\'s step, for no vCPU in particular', () => {
    expect(checkNoLostInterrupt(platform(), [posted({ step: 9, snSet: true, notification: notified })])).toEqual([
      { property: 'P3', step: 9, vcpu: undefined, message: 'PID 0x40000040: notification sent while SN was set and the IRTE is not urgent' },
    ]);
  });

  it('an urgent IRTE may notify through SN', () => {
    expect(checkNoLostInterrupt(platform(), [posted({ snSet: true, urgent: true, notification: notified })])).toEqual([]);
  });

  it('SN clear: notifying is right', () => {
    expect(checkNoLostInterrupt(platform(), [posted({ snSet: false, notification: notified })])).toEqual([]);
  });

  it('SN set and no notification: suppressed as required', () => {
    expect(checkNoLostInterrupt(platform(), [posted({ snSet: true, notification: undefined, suppressed: 'sn-set' })])).toEqual([]);
  });
});

describe('P3: a fixed interrupt meant for several vCPUs posted into one PID', () => {
  const route = (o: Partial<IntendedRoute> = {}): IntendedRoute => ({ device: DEV_A, vector: 0x41, vcpus: [0, 1], oneOf: false, ...o });
  const withRoutes = (routes: Record<string, IntendedRoute>, s = platform()): PlatformState => ({ ...s, intent: { ...s.intent, interruptRoutes: routes } });

  it('the vCPUs that never receive it are named; the violation is about the first of them', () => {
    const s = withRoutes({ '0:2': route() });
    expect(checkNoLostInterrupt(s, [posted({ step: 5 })])).toEqual([
      { property: 'P3', step: 5, vcpu: 0, message: "07:00.0's fixed interrupt, vector 0x41, is meant for vm1.vcpu0, vm1.vcpu1 but IRTE 2 posts it into one PID (vm1.vcpu1): vm1.vcpu0 never receives it" },
    ]);
  });

  it('several missed, into a PID that is none of theirs', () => {
    const s = withRoutes({ '0:2': route({ vcpus: [0, 1, 9] }) });
    expect(checkNoLostInterrupt(s, [posted({ pda: pdaOf(2) })]).map((v) => [v.vcpu, v.message])).toEqual([
      [0, "07:00.0's fixed interrupt, vector 0x41, is meant for vm1.vcpu0, vm1.vcpu1, vCPU 9 but IRTE 2 posts it into one PID (vm2.vcpu0): vm1.vcpu0, vm1.vcpu1, vCPU 9 never receive it"],
    ]);
  });

  it('into an address that is no vCPU\'s PID: no PID is named', () => {
    const s = withRoutes({ '0:2': route() });
    expect(checkNoLostInterrupt(s, [posted({ pda: 0x4000_1000n })]).map((v) => v.message)).toEqual([
      "07:00.0's fixed interrupt, vector 0x41, is meant for vm1.vcpu0, vm1.vcpu1 but IRTE 2 posts it into one PID: vm1.vcpu0, vm1.vcpu1 never receive it",
    ]);
  });

  it('a lowest-priority request (one of them) and a request for one vCPU are carried by one PID', () => {
    expect(checkNoLostInterrupt(withRoutes({ '0:2': route({ oneOf: true }) }), [posted()])).toEqual([]);
    expect(checkNoLostInterrupt(withRoutes({ '0:2': route({ vcpus: [1] }) }), [posted()])).toEqual([]);
  });

  it('the route is looked up by unit and IRTE index', () => {
    expect(checkNoLostInterrupt(withRoutes({ '0:3': route(), '1:2': route() }), [posted()])).toEqual([]);
  });

  it('only postings are judged: a delivery through the same IRTE index is not', () => {
    const events: PlatformEvent[] = [delivered({ iommu: 0, irteIndex: 2 })];
    expect(checkNoLostInterrupt(withRoutes({ '0:2': route() }), events)).toEqual([]);
  });

  it('with the SN violation too, the SN one comes first', () => {
    const s = withRoutes({ '0:2': route() });
    const found = checkNoLostInterrupt(s, [posted({ snSet: true })]);
    expect(found.map((v) => v.message.slice(0, 20))).toEqual(['PID 0x40000040: noti', "07:00.0's fixed inte"]);
  });
});
