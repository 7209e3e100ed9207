/**
 * P1 (src/properties/p1-interrupt-isolation.ts) judged event by event against hand-built
 * intent: each field of a grant must match for a delivery or a posting to be covered, each
 * message says exactly what went where, and the exception-vector and unknown-PID branches
 * fire exactly at their bounds (DESIGN.md §3 P1; vectors 0–15 are the exception range,
 * Intel SDM Vol. 3 §6.2 / §11.5.2 "Valid Interrupt Vectors").
 */
import { describe, expect, it } from 'vitest';
import { checkDelivery, checkInjection, checkInterruptIsolation, checkPosting } from '../../src/properties/p1-interrupt-isolation.ts';
import type { InterruptInjectedEvent, PlatformEvent } from '../../src/platform/events.ts';
import { DEV_A, DEV_A1, DEV_B, DEV_FREE, RID_A, delivered, pcpuGrant, pdaOf, platform, posted, vcpuGrant } from './fixtures.ts';

const messages = (vs: readonly { message: string }[]): string[] => vs.map((v) => v.message);
const UNCOVERED_CPU1 = '07:00.0 (requester ID on the bus 0x700) reached cpu1 (APIC 1) with vector 0x30 fixed via the remapped path (IRTE 5): no grant covers it';

describe('P1 checkDelivery: a grant covers a delivery only when every field matches', () => {
  const exact = pcpuGrant(DEV_A, 1, 0x30, [0]);

  it('the exact grant covers it: no violation', () => {
    expect(checkDelivery(platform([exact]), delivered())).toEqual([]);
  });

  it('no grant at all: one violation naming device, bus RID, cpu, APIC ID, vector, mode, path and IRTE', () => {
    const e = delivered();
    expect(checkDelivery(platform(), e)).toEqual([{ property: 'P1', step: 3, event: e, message: UNCOVERED_CPU1 }]);
  });

  it.each([
    ['another requester', pcpuGrant(DEV_A1, 1, 0x30, [0])],
    ['another APIC ID', pcpuGrant(DEV_A, 4, 0x30, [0])],
    ['another vector', pcpuGrant(DEV_A, 1, 0x31, [0])],
    ['another delivery mode', pcpuGrant(DEV_A, 1, 0x30, [1])],
    ['a vCPU target (vCPU 1, the same number as the APIC ID)', vcpuGrant(DEV_A, 1, 0x30)],
  ])('a grant for %s does not cover it', (_, grant) => {
    expect(messages(checkDelivery(platform([grant]), delivered()))).toEqual([UNCOVERED_CPU1]);
  });

  it('the grant may list several delivery modes; it covers each listed one', () => {
    const s = platform([pcpuGrant(DEV_A, 1, 0x30, [1, 0])]);
    expect(checkDelivery(s, delivered({ deliveryMode: 0 }))).toEqual([]);
    expect(checkDelivery(s, delivered({ deliveryMode: 1 }))).toEqual([]);
    expect(messages(checkDelivery(s, delivered({ deliveryMode: 4 })))).toEqual([
      '07:00.0 (requester ID on the bus 0x700) reached cpu1 (APIC 1) with vector 0x30 nmi via the remapped path (IRTE 5): no grant covers it',
    ]);
  });

  it('a grant matching the requester ID on the bus but not the real source does not cover it (the device key is what counts)', () => {
    // 07:00.1 presents 07:00.0's requester ID: the grant to 07:00.0 is not its grant.
    const e = delivered({ device: DEV_A1, rid: RID_A });
    expect(messages(checkDelivery(platform([exact]), e))).toEqual([
      '07:00.1 (requester ID on the bus 0x700) reached cpu1 (APIC 1) with vector 0x30 fixed via the remapped path (IRTE 5): no grant covers it',
    ]);
  });

  it('a compatibility-format delivery has no IRTE in its message; the mode is named, the path too', () => {
    const e = delivered({ path: 'compatibility', irteIndex: undefined, deliveryMode: 1, vector: 0xef });
    expect(messages(checkDelivery(platform(), e))).toEqual(['07:00.0 (requester ID on the bus 0x700) reached cpu1 (APIC 1) with vector 0xef lowest-priority via the compatibility path: no grant covers it']);
  });

  it('IRTE index 0 is still named (only an absent index is left out)', () => {
    expect(messages(checkDelivery(platform(), delivered({ irteIndex: 0 })))).toEqual([UNCOVERED_CPU1.replace('(IRTE 5)', '(IRTE 0)')]);
  });

  it('a delivery mode outside the 3-bit names is printed as its number', () => {
    expect(messages(checkDelivery(platform(), delivered({ deliveryMode: 9 })))).toEqual([UNCOVERED_CPU1.replace('0x30 fixed', '0x30 9')]);
  });

  it('a vCPU grant never covers a physical delivery, even to a pCPU whose APIC ID is unknown', () => {
    expect(messages(checkDelivery(platform([vcpuGrant(DEV_A, 1, 0x30)]), delivered({ candidates: [7], targets: [7] })))).toEqual([
      '07:00.0 (requester ID on the bus 0x700) reached cpu7 (APIC undefined) with vector 0x30 fixed via the remapped path (IRTE 5): no grant covers it',
    ]);
  });

  it('a candidate pCPU the platform does not have is judged (APIC ID unknown), not skipped', () => {
    const s = platform([exact]);
    expect(messages(checkDelivery(s, delivered({ candidates: [7], targets: [7] })))).toEqual([
      '07:00.0 (requester ID on the bus 0x700) reached cpu7 (APIC undefined) with vector 0x30 fixed via the remapped path (IRTE 5): no grant covers it',
    ]);
  });
});

describe('P1 checkDelivery: every legal arbitration winner is judged', () => {
  it('lowest priority to cpu1 or cpu2, granted only on cpu1: the other legal winner is a violation that says "may reach"', () => {
    const s = platform([pcpuGrant(DEV_A, 1, 0x30)]);
    const e = delivered({ deliveryMode: 1, candidates: [1, 2], targets: [1] });
    expect(messages(checkDelivery(s, e))).toEqual([
      '07:00.0 (requester ID on the bus 0x700) may reach cpu2 (APIC 4) with vector 0x30 lowest-priority via the remapped path (IRTE 5) (the hardware picks one of cpu1,cpu2): no grant covers it',
    ]);
  });

  it('the winner the model picked says "reached", the others "may reach", each with the candidate set', () => {
    const e = delivered({ deliveryMode: 1, candidates: [1, 2, 3], targets: [2] });
    expect(messages(checkDelivery(platform(), e))).toEqual([
      '07:00.0 (requester ID on the bus 0x700) may reach cpu1 (APIC 1) with vector 0x30 lowest-priority via the remapped path (IRTE 5) (the hardware picks one of cpu1,cpu2,cpu3): no grant covers it',
      '07:00.0 (requester ID on the bus 0x700) reached cpu2 (APIC 4) with vector 0x30 lowest-priority via the remapped path (IRTE 5) (the hardware picks one of cpu1,cpu2,cpu3): no grant covers it',
      '07:00.0 (requester ID on the bus 0x700) may reach cpu3 (APIC 6) with vector 0x30 lowest-priority via the remapped path (IRTE 5) (the hardware picks one of cpu1,cpu2,cpu3): no grant covers it',
    ]);
  });

  it('a multicast (every candidate a target) says "reached" for each and names no choice', () => {
    const s = platform([pcpuGrant(DEV_A, 4, 0x30)]);
    const e = delivered({ destinationMode: 'logical', candidates: [1, 2, 3], targets: [1, 2, 3] });
    expect(messages(checkDelivery(s, e))).toEqual([
      '07:00.0 (requester ID on the bus 0x700) reached cpu1 (APIC 1) with vector 0x30 fixed via the remapped path (IRTE 5): no grant covers it',
      '07:00.0 (requester ID on the bus 0x700) reached cpu3 (APIC 6) with vector 0x30 fixed via the remapped path (IRTE 5): no grant covers it',
    ]);
  });

  it('no candidate (a message no APIC accepts): nothing reached, no violation', () => {
    expect(checkDelivery(platform(), delivered({ candidates: [], targets: [], vector: 3 }))).toEqual([]);
  });
});

describe('P1 checkDelivery: exception vectors', () => {
  it('a fixed interrupt with vector 15 is flagged as an exception vector, besides being ungranted', () => {
    const s = platform([pcpuGrant(DEV_A, 1, 15)]);
    const e = delivered({ vector: 15 });
    expect(checkDelivery(s, e)).toEqual([{ property: 'P1', step: 3, event: e, message: '07:00.0 delivered vector 0xf (< 16, an exception vector)' }]);
  });

  it('lowest priority with vector 0 too', () => {
    const s = platform([pcpuGrant(DEV_A, 1, 0)]);
    expect(messages(checkDelivery(s, delivered({ vector: 0, deliveryMode: 1 })))).toEqual(['07:00.0 delivered vector 0x0 (< 16, an exception vector)']);
  });

  it('vector 16 is the first valid one', () => {
    expect(checkDelivery(platform([pcpuGrant(DEV_A, 1, 16)]), delivered({ vector: 16 }))).toEqual([]);
  });

  it('NMI, SMI, INIT and ExtINT carry no vector: a low vector field there is no exception vector', () => {
    for (const mode of [2, 4, 5, 7]) {
      expect(checkDelivery(platform([pcpuGrant(DEV_A, 1, 2, [mode])]), delivered({ vector: 2, deliveryMode: mode }))).toEqual([]);
    }
  });
});

describe('P1 checkPosting', () => {
  it('the granted vCPU of the owning domain, vector ≥ 16: no violation', () => {
    expect(checkPosting(platform([vcpuGrant(DEV_A, 1, 0x41)]), posted())).toEqual([]);
  });

  it('a descriptor that is no vCPU\'s PID: one violation with its address, and nothing else judged', () => {
    const e = posted({ pda: 0x4000_0800n, virtualVector: 3 });
    expect(checkPosting(platform([vcpuGrant(DEV_A, 1, 3)]), e)).toEqual([
      { property: 'P1', step: 4, event: e, message: "07:00.0 posted vector 0x3 into 0x40000800, which is no vCPU's posted-interrupt descriptor" },
    ]);
  });

  it('an address inside a PID but not its start is no vCPU\'s PID either', () => {
    expect(messages(checkPosting(platform([vcpuGrant(DEV_A, 1, 0x41)]), posted({ pda: pdaOf(1) + 8n })))).toEqual([
      "07:00.0 posted vector 0x41 into 0x40000048, which is no vCPU's posted-interrupt descriptor",
    ]);
  });

  it('no grant: the vCPU is named domain.vcpuN', () => {
    const e = posted();
    expect(checkPosting(platform(), e)).toEqual([{ property: 'P1', step: 4, event: e, message: '07:00.0 posted vector 0x41 into vm1.vcpu1: no grant covers it' }]);
  });

  it.each([
    ['another requester', vcpuGrant(DEV_A1, 1, 0x41)],
    ['another vCPU of the same domain', vcpuGrant(DEV_A, 0, 0x41)],
    ['another vector', vcpuGrant(DEV_A, 1, 0x42)],
    ['a pCPU target with the same number', { requester: DEV_A, target: { kind: 'pcpu', apicId: 1 }, vector: 0x41, deliveryModes: [0, 1] } as const],
  ])('a grant for %s does not cover it', (_, grant) => {
    expect(messages(checkPosting(platform([grant]), posted()))).toEqual(['07:00.0 posted vector 0x41 into vm1.vcpu1: no grant covers it']);
  });

  it('one matching grant among others covers it', () => {
    const s = platform([vcpuGrant(DEV_A1, 1, 0x41), vcpuGrant(DEV_A, 0, 0x41), vcpuGrant(DEV_A, 1, 0x41)]);
    expect(checkPosting(s, posted())).toEqual([]);
  });

  it('into a vCPU of another domain: the owner is named, even with a grant to that vCPU', () => {
    // vm2.vcpu0 is vCPU 2; a grant to it does not make 07:00.0 (vm1's) its device.
    const s = platform([vcpuGrant(DEV_A, 2, 0x41)]);
    expect(messages(checkPosting(s, posted({ pda: pdaOf(2) })))).toEqual(['07:00.0 (owned by vm1) posted vector 0x41 into vm2.vcpu0 of another domain']);
  });

  it('a device nobody owns', () => {
    expect(messages(checkPosting(platform(), posted({ device: DEV_FREE, pda: pdaOf(0) })))).toEqual(['09:00.0 (owned by nobody) posted vector 0x41 into vm1.vcpu0 of another domain']);
  });

  it('an owner or a domain the state has no record of is printed by its number', () => {
    const base = platform();
    const s = { ...base, intent: { ...base.intent, owners: { ...base.intent.owners, [DEV_B]: 9 } }, domains: [base.domains[0]!, base.domains[1]!] };
    expect(messages(checkPosting(s, posted({ device: DEV_B, pda: pdaOf(2) })))).toEqual(['08:00.0 (owned by 9) posted vector 0x41 into 2.vcpu0 of another domain']);
  });

  it('a domain without a record still names the vCPU by domain number when the device is its own', () => {
    const base = platform();
    const s = { ...base, domains: [base.domains[0]!, base.domains[1]!] };
    expect(messages(checkPosting(s, posted({ device: DEV_B, pda: pdaOf(2) })))).toEqual(['08:00.0 posted vector 0x41 into 2.vcpu0: no grant covers it']);
  });

  it('virtual vector 15, granted: only the exception-vector violation', () => {
    const e = posted({ virtualVector: 15 });
    expect(checkPosting(platform([vcpuGrant(DEV_A, 1, 15)]), e)).toEqual([{ property: 'P1', step: 4, event: e, message: '07:00.0 posted vector 0xf (< 16) into vm1.vcpu1' }]);
  });

  it('virtual vector 16 is valid', () => {
    expect(checkPosting(platform([vcpuGrant(DEV_A, 1, 16)]), posted({ virtualVector: 16 }))).toEqual([]);
  });

  it('both at once: another domain and an exception vector, in that order', () => {
    expect(messages(checkPosting(platform(), posted({ device: DEV_B, virtualVector: 2 })))).toEqual([
      '08:00.0 (owned by vm2) posted vector 0x2 into vm1.vcpu1 of another domain',
      '08:00.0 posted vector 0x2 (< 16) into vm1.vcpu1',
    ]);
  });
});

describe('P1 checkInterruptIsolation', () => {
  it('judges deliveries and postings, in event order, and nothing else', () => {
    const events: PlatformEvent[] = [
      { kind: 'intent', step: 1, change: 'grant' },
      delivered({ step: 2 }),
      posted({ step: 3 }),
      { kind: 'action-rejected', step: 4, why: 'x' },
      delivered({ step: 5, device: DEV_B }),
    ];
    const found = checkInterruptIsolation(platform([pcpuGrant(DEV_A, 1, 0x30)]), events);
    expect(found.map((v) => [v.step, v.message])).toEqual([
      [3, '07:00.0 posted vector 0x41 into vm1.vcpu1: no grant covers it'],
      [5, '08:00.0 (requester ID on the bus 0x700) reached cpu1 (APIC 1) with vector 0x30 fixed via the remapped path (IRTE 5): no grant covers it'],
    ]);
    expect(found.every((v) => v.property === 'P1')).toBe(true);
  });

  it('no events: no violations', () => {
    expect(checkInterruptIsolation(platform(), [])).toEqual([]);
  });
});

describe('P1 checkInjection (the hypervisor injects a device\'s interrupt in software)', () => {
  const injected = (o: Partial<InterruptInjectedEvent> = {}): InterruptInjectedEvent => ({ kind: 'interrupt-injected', step: 7, device: DEV_A, vcpu: 1, vector: 0x51, ...o });

  it('into the granted vCPU of the owning domain: no violation', () => {
    expect(checkInjection(platform([vcpuGrant(DEV_A, 1, 0x51)]), injected())).toEqual([]);
  });

  it('into a vCPU that does not exist: one violation, nothing else judged', () => {
    const e = injected({ vcpu: 3, vector: 2 });
    expect(checkInjection(platform(), e)).toEqual([{ property: 'P1', step: 7, event: e, message: "07:00.0's interrupt injected with vector 0x2 into vCPU 3, which does not exist" }]);
  });

  it('no grant covers it', () => {
    const e = injected();
    expect(checkInjection(platform(), e)).toEqual([{ property: 'P1', step: 7, event: e, message: '07:00.0 had vector 0x51 injected into vm1.vcpu1: no grant covers it' }]);
  });

  it.each([
    ['another requester', vcpuGrant(DEV_A1, 1, 0x51)],
    ['another vCPU', vcpuGrant(DEV_A, 0, 0x51)],
    ['another vector', vcpuGrant(DEV_A, 1, 0x52)],
    ['a pCPU target', { requester: DEV_A, target: { kind: 'pcpu', apicId: 1 }, vector: 0x51, deliveryModes: [0, 1] } as const],
  ])('a grant for %s does not cover it', (_, grant) => {
    expect(messages(checkInjection(platform([grant]), injected()))).toEqual(['07:00.0 had vector 0x51 injected into vm1.vcpu1: no grant covers it']);
  });

  it('into another domain\'s vCPU, or for a device nobody owns', () => {
    expect(messages(checkInjection(platform([vcpuGrant(DEV_A, 2, 0x51)]), injected({ vcpu: 2 })))).toEqual(['07:00.0 (owned by vm1) had vector 0x51 injected into vm2.vcpu0 of another domain']);
    expect(messages(checkInjection(platform(), injected({ device: DEV_FREE })))).toEqual(['09:00.0 (owned by nobody) had vector 0x51 injected into vm1.vcpu1 of another domain']);
  });

  it('owners and domains without a record are printed by number', () => {
    const base = platform();
    const s = { ...base, intent: { ...base.intent, owners: { ...base.intent.owners, [DEV_B]: 9 } }, domains: [base.domains[0]!, base.domains[1]!] };
    expect(messages(checkInjection(s, injected({ device: DEV_B, vcpu: 2 })))).toEqual(['08:00.0 (owned by 9) had vector 0x51 injected into 2.vcpu0 of another domain']);
  });

  it('vector 15: the exception-vector violation, after the ownership one; 16 is valid', () => {
    expect(messages(checkInjection(platform([vcpuGrant(DEV_A, 1, 15)]), injected({ vector: 15 })))).toEqual(['07:00.0 had vector 0xf (< 16) injected into vm1.vcpu1']);
    expect(messages(checkInjection(platform(), injected({ device: DEV_B, vector: 15 })))).toEqual([
      '08:00.0 (owned by vm2) had vector 0xf injected into vm1.vcpu1 of another domain',
      '08:00.0 had vector 0xf (< 16) injected into vm1.vcpu1',
    ]);
    expect(checkInjection(platform([vcpuGrant(DEV_A, 1, 16)]), injected({ vector: 16 }))).toEqual([]);
  });

  it('checkInterruptIsolation judges injections too', () => {
    expect(checkInterruptIsolation(platform(), [injected({ step: 9 })]).map((v) => [v.step, v.message])).toEqual([[9, '07:00.0 had vector 0x51 injected into vm1.vcpu1: no grant covers it']]);
  });
});
