/**
 * P7 and a hypercall the design accepted (src/properties/p7-guest-intent.ts, issue 12):
 * paravirt-hcall's `set-interrupt` (POWER RTAS ibm,change-msi) is the guest's intent for the
 * entry it sets up. An entry raised while masked is pending; the call unmasks it and the
 * function sends the pending message (PCI spec §6.8.3.4) — which P7 must count as asked for
 * (before the fix it was flagged spurious: no raise and no guest access in the action), and
 * must require: delivered to the vCPU and vector the call named, the Pending bit clear.
 */
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { buildPlatform } from '../../src/platform/build.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import { checkGuestIntent, rememberGuestIntent, NO_GUEST_INTENT_MEMORY, type GuestIntentMemory } from '../../src/properties/p7-guest-intent.ts';

/** vm1 (2 vCPUs) owns 05:00.0 (2 MSI-X entries) under paravirt-hcall, IR off, xAPIC. */
const HEAD = `
name: p7-hypercall
platform:
  hostAddressWidth: 39
  apicMode: xapic
  cpus: { count: 3 }
  policy: kvm
  vmm: paravirt-hcall
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true }
devices:
  - { bdf: "05:00.0", msix: { tableSize: 2 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["05:00.0"] }
  - { name: vm2, kind: guest, cpus: [0], vcpus: 1 }
steps:
  - schedule: { vm: vm1, vcpu: 0, pcpu: 1 }
  - schedule: { vm: vm1, vcpu: 1, pcpu: 2 }
  - note: entry 0 set up (MSI-X enabled); entry 1 still masked
    hypercall: { vm: vm1, op: set-interrupt, device: "05:00.0", entry: 0, vcpu: 1, vector: 0x41 }
  - note: entry 1 raised while masked — its Pending bit
    signal: { device: "05:00.0", vector: 1 }
`;
const SET_UP_1 = '  - hypercall: { vm: vm1, op: set-interrupt, device: "05:00.0", entry: 1, vcpu: 0, vector: 0x42 }\n';

/** Every action of `text` applied in turn with P7's memory threaded; the last action's events, the state after it and the memory before it. */
function lastAction(text: string): { state: PlatformState; events: readonly PlatformEvent[]; memory: GuestIntentMemory } {
  const compiled = compileScenario(parseScenarioText(text, 'p7-hypercall.yaml'));
  let state = buildPlatform(compiled.platform);
  let memory = NO_GUEST_INTENT_MEMORY;
  let last: { state: PlatformState; events: readonly PlatformEvent[]; memory: GuestIntentMemory } | undefined;
  for (const step of compiled.steps) {
    for (const action of step.actions) {
      const r = applyAction(state, action);
      last = { state: r.state, events: r.events, memory };
      state = r.state;
      memory = rememberGuestIntent(memory, state, r.events);
    }
  }
  return last!;
}

describe('P7: set-interrupt of a pending entry', () => {
  it('end to end: the released pending interrupt is the one the call asked for — P7 holds, and the entry works afterwards', () => {
    const r = runScenario(compileScenario(parseScenarioText(HEAD + SET_UP_1 + '  - signal: { device: "05:00.0", vector: 1 }\n    expect: { injected: 0x42, injectedInto: [vm1.vcpu0] }\n', 'p7-hypercall.yaml')));
    expect(r.ok).toBe(true);
    expect(r.violations).toEqual([]);
    const call = r.steps.at(-2)!.events;
    expect(call.some((e) => e.kind === 'interrupt-injected' && e.vector === 0x42)).toBe(true);
  });

  it('judged against the view and PBA before the call (P7\'s memory); without them — as before the fix — the release is spurious', () => {
    const { state, events, memory } = lastAction(HEAD + SET_UP_1);
    expect(memory.views['05:00.0']!.pending).toBe(0b10n);
    expect(checkGuestIntent(state, events, { memory })).toEqual([]);
    const before = checkGuestIntent(state, events);
    expect(before.map((v) => [v.kind, v.message])).toEqual([['spurious', '05:00.0: vector 0x42 arrived at vm1.vcpu0 (injected), which the guest did not ask for (no entry raised or unmasked with its Pending bit in this step)']]);
  });

  it('fails when the pending interrupt is not delivered, goes to another vector, or its Pending bit stays set', () => {
    const { state, events, memory } = lastAction(HEAD + SET_UP_1);
    const injected = events.filter((e) => e.kind === 'interrupt-injected');
    expect(injected).toHaveLength(1);
    const dropped = events.filter((e) => e.kind !== 'interrupt-injected');
    expect(checkGuestIntent(state, dropped, { memory }).map((v) => [v.kind, v.message])).toEqual([
      ['not-delivered-on-unmask', "the guest's hypercall set up 05:00.0's pending entry 1 (vector 0x42 for vm1.vcpu0): nothing arrived at vm1.vcpu0"],
    ]);
    const wrong = events.map((e) => (e.kind === 'interrupt-injected' ? { ...e, vector: 0x43 } : e));
    expect(checkGuestIntent(state, wrong, { memory }).map((v) => v.kind)).toEqual(['wrong-vector']);
    const stillPending = checkGuestIntent(state, events, { memory, virtualPending: () => 0b10n });
    expect(stillPending.map((v) => v.kind)).toEqual(['pending-not-cleared']);
  });

  it('a call for an entry that was not pending asks for nothing; a refused call (another domain\'s vCPU) changes nothing', () => {
    const clean = HEAD.replace(/ {2}- note: entry 1 raised[^\n]*\n[^\n]*\n/, '');
    const { state, events, memory } = lastAction(clean + SET_UP_1);
    expect(events.some((e) => e.kind === 'interrupt-injected')).toBe(false);
    expect(checkGuestIntent(state, events, { memory })).toEqual([]);
    const refused = lastAction(HEAD + '  - hypercall: { vm: vm1, op: set-interrupt, device: "05:00.0", entry: 1, vcpuOf: vm2, vcpu: 0, vector: 0x42 }\n');
    expect(refused.events.some((e) => e.kind === 'vmm' && e.note.includes('refused'))).toBe(true);
    expect(refused.state.vmm!.devices['05:00.0']!.guest).toBe(refused.memory.views['05:00.0']!.guest);
    expect(checkGuestIntent(refused.state, refused.events, { memory: refused.memory })).toEqual([]);
  });
});
