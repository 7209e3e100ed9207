/**
 * P7 guest intent (src/properties/p7-guest-intent.ts): hand-built steps — the guest's view set
 * directly (`vmm-guest-view`), the device's raise and the guest's unmask as events, arrivals made
 * by real `inject-interrupt` actions and posting events — show each way P7 fails (lost, wrong
 * vector, wrong vCPU, duplicated, spurious, pending bit not set, pending not delivered or not
 * cleared on unmask) and that it holds for the correct sequence; end to end, a small scenario
 * under qemu-kvm holds P7 and one under qemu-kvm-broken-lazy-routes fails it. Also P1's
 * exemption of a device model's own-guest injection (checkInjection). End to end also
 * xen-broken-mask-unobservable: a mask, a new vector and an unmask keep the old vector.
 */
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { formatTrace, formatJsonTrace } from '../../src/scenario/trace.ts';
import { buildPlatform } from '../../src/platform/build.ts';
import { applyAction } from '../../src/platform/transition.ts';
import { vcpuList } from '../../src/platform/vcpu-table.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { PlatformEvent, InterruptInjectedEvent } from '../../src/platform/events.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import { checkGuestIntent, rememberGuestIntent, tallyGuestIntent, NO_GUEST_INTENT_MEMORY, type P7Violation } from '../../src/properties/p7-guest-intent.ts';
import { checkInjection } from '../../src/properties/p1-interrupt-isolation.ts';
import { resetVirtualMsix, type VirtualMsix } from '../../src/vmm/virtual-msix.ts';
import { VMM_DESIGNS } from '../../src/vmm/index.ts';

const DEV = '05:00.0';
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event before it gets its step. */
type Unstepped = DistributiveOmit<PlatformEvent, 'step'>;

/** vm1 (2 vCPUs, guest APIC IDs 0 and 1) owns 05:00.0 (4 MSI-X entries); vm2 has one vCPU. x2APIC. */
const TEXT = `
name: p7
platform:
  cpus: { count: 4 }
  policy: kvm
  vmm: qemu-kvm
devices:
  - { bdf: "${DEV}", msix: { tableSize: 4 } }
  - { bdf: "06:00.0", msix: { tableSize: 1 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["${DEV}"] }
  - { name: vm2, kind: guest, cpus: [3], vcpus: 1, devices: ["06:00.0"] }
steps: []
`;

const initial = buildPlatform(compileScenario(parseScenarioText(TEXT, 'p7.yaml')).platform);
const vcpu = (s: PlatformState, vm: string, index: number) => vcpuList(s.vcpus).find((v) => s.domains[v.domain]!.name === vm && v.index === index)!;

/** The PBA the guest reads in these tests: the VMM's emulated bits (design-independent). */
const emulated = (s: PlatformState, device: string): bigint => s.vmm!.devices[device]!.pending;

/** A guest view: enabled, entries as given (address low, data, masked), the rest reset. */
function view(entries: readonly { address: number; data: number; masked?: boolean }[], opts: { enabled?: boolean; functionMask?: boolean } = {}): VirtualMsix {
  const v = resetVirtualMsix(initial.vmm!.devices[DEV]!.guest.layout);
  const table = v.table.map((e, k) => (entries[k] === undefined ? e : { addressLow: entries[k]!.address, addressHigh: 0, data: entries[k]!.data, control: entries[k]!.masked ? 1 : 0 }));
  return { ...v, enabled: opts.enabled ?? true, functionMask: opts.functionMask ?? false, table };
}

/** Apply `actions` to a state with `guest` as 05:00.0's view; the events of the last action batch plus `extra`. */
function judge(guest: VirtualMsix, extra: (s: PlatformState) => Unstepped[], actions: (s: PlatformState) => Action[] = () => [], pending?: number): { state: PlatformState; violations: P7Violation[] } {
  let n = 0;
  let s = applyAction(initial, { kind: 'vmm-guest-view', device: DEV, guest }, n++).state;
  if (pending !== undefined) s = applyAction(s, { kind: 'vmm-pending', device: DEV, entry: pending, pending: true }, n++).state;
  const events: PlatformEvent[] = [];
  const step = n;
  for (const a of actions(s)) {
    const r = applyAction(s, a, n++);
    s = r.state;
    events.push(...r.events);
  }
  const all = [...extra(s).map((e) => ({ ...e, step }) as PlatformEvent), ...events];
  return { state: s, violations: checkGuestIntent(s, all, { virtualPending: emulated }) };
}

const raised = (entry: number) => (): Unstepped[] => [{ kind: 'device-raised', device: DEV, entry }];
const inject = (vm: string, index: number, vector: number, device = DEV) => (s: PlatformState): Action => ({ kind: 'inject-interrupt', vcpu: vcpu(s, vm, index).id, vector, device });
const all =
  (...fs: ((s: PlatformState) => Action)[]) =>
  (s: PlatformState): Action[] =>
    fs.map((f) => f(s));

/** Entry 0 → vm1.vcpu1 (physical APIC ID 1), vector 0x41, fixed. */
const TO_VCPU1 = { address: 0xfee0_1000, data: 0x41 };

describe('P7 on a raise of an unmasked entry', () => {
  it('holds when the vector arrives at the vCPU the guest named, once', () => {
    expect(judge(view([TO_VCPU1]), raised(0), all(inject('vm1', 1, 0x41))).violations).toEqual([]);
  });

  it('holds for a posting into that vCPU (its PID, the virtual vector)', () => {
    const posted = (s: PlatformState): Unstepped[] => [
      { kind: 'device-raised', device: DEV, entry: 0 },
      { kind: 'interrupt-posted', device: DEV, rid: 0x500, address: 0n, data: 0, iommu: 0, irteIndex: 3, iecHit: false, pda: vcpu(s, 'vm1', 1).pda, virtualVector: 0x41, urgent: false, snSet: true, notification: undefined, suppressed: 'sn-set' },
    ];
    expect(judge(view([TO_VCPU1]), posted).violations).toEqual([]);
  });

  it('reports a lost interrupt: nothing arrived', () => {
    const v = judge(view([TO_VCPU1]), raised(0)).violations;
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ property: 'P7', kind: 'lost', device: DEV, entry: 0 });
    expect(v[0]!.message).toBe(`${DEV} raised entry 0 (vector 0x41 for vm1.vcpu1): nothing arrived at vm1.vcpu1`);
  });

  it('reports a wrong vector', () => {
    const v = judge(view([TO_VCPU1]), raised(0), all(inject('vm1', 1, 0x42))).violations;
    expect(v.map((x) => x.kind)).toEqual(['wrong-vector']);
    expect(v[0]!.message).toContain('vm1.vcpu1 got vector 0x42 (injected) instead of 0x41');
  });

  it('reports a wrong vCPU', () => {
    const v = judge(view([TO_VCPU1]), raised(0), all(inject('vm1', 0, 0x41))).violations;
    expect(v.map((x) => x.kind)).toEqual(['wrong-vcpu']);
    expect(v[0]!.message).toContain('vector 0x41 arrived at vm1.vcpu0 (injected), which the guest did not name');
  });

  it('reports a duplicate as spurious', () => {
    const v = judge(view([TO_VCPU1]), raised(0), all(inject('vm1', 1, 0x41), inject('vm1', 1, 0x41))).violations;
    expect(v.map((x) => x.kind)).toEqual(['spurious']);
    expect(v[0]!.message).toContain('beyond what its entries ask for');
  });

  it('a fixed logical message to both vCPUs needs both; lowest priority exactly one of them', () => {
    const both = { address: 0xfee0_3004, data: 0x45 };
    expect(judge(view([both]), raised(0), all(inject('vm1', 0, 0x45), inject('vm1', 1, 0x45))).violations).toEqual([]);
    const one = judge(view([both]), raised(0), all(inject('vm1', 0, 0x45))).violations;
    expect(one.map((x) => [x.kind, x.message])).toEqual([['lost', `${DEV} raised entry 0 (vector 0x45 for vm1.vcpu0, vm1.vcpu1): nothing arrived at vm1.vcpu1`]]);
    const lowest = { address: 0xfee0_3004, data: 0x145 };
    expect(judge(view([lowest]), raised(0), all(inject('vm1', 1, 0x45))).violations).toEqual([]);
    expect(judge(view([lowest]), raised(0), all(inject('vm1', 0, 0x45), inject('vm1', 1, 0x45))).violations.map((x) => x.kind)).toEqual(['spurious']);
    expect(judge(view([lowest]), raised(0)).violations[0]!.message).toContain('nothing arrived at any of vm1.vcpu0, vm1.vcpu1');
  });

  it('an undeliverable message or a vector below 16 asks for nothing: an arrival is spurious', () => {
    const nowhere = { address: 0, data: 0x41 };
    expect(judge(view([nowhere]), raised(0)).violations).toEqual([]);
    const v = judge(view([nowhere]), raised(0), all(inject('vm1', 1, 0x41))).violations;
    expect(v.map((x) => x.kind)).toEqual(['spurious']);
    expect(v[0]!.message).toMatch(/not in the interrupt window/);
    expect(judge(view([{ address: 0xfee0_1000, data: 0x05 }]), raised(0)).violations).toEqual([]);
    expect(judge(view([{ address: 0xfee0_7000, data: 0x41 }]), raised(0)).violations).toEqual([]);
  });

  it('an arrival with nothing raised is spurious', () => {
    const v = judge(view([TO_VCPU1]), () => [], all(inject('vm1', 1, 0x41))).violations;
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ kind: 'spurious', device: DEV, entry: undefined });
    expect(v[0]!.message).toBe(`${DEV}: vector 0x41 arrived at vm1.vcpu1 (injected), which the guest did not ask for (no entry raised or unmasked with its Pending bit in this step)`);
  });

  it("judges each device on its own: a raise of vm2's 06:00.0 does not account for 05:00.0's arrival", () => {
    // 06:00.0's guest view is the reset one (disabled): its raise asks for nothing, and 05:00.0's arrival is still judged.
    const extra = (): Unstepped[] => [{ kind: 'device-raised', device: '06:00.0', entry: 0 }];
    expect(judge(view([TO_VCPU1]), extra, all(inject('vm1', 1, 0x41))).violations.map((x) => [x.device, x.kind])).toEqual([[DEV, 'spurious']]);
  });
});

describe('P7 on a raise while the guest masks the entry', () => {
  const masked = view([{ ...TO_VCPU1, masked: true }]);

  it('holds when nothing arrives and the Pending bit is set', () => {
    expect(judge(masked, raised(0), () => [{ kind: 'vmm-pending', device: DEV, entry: 0, pending: true }]).violations).toEqual([]);
    expect(judge(view([TO_VCPU1], { functionMask: true }), raised(0), () => [{ kind: 'vmm-pending', device: DEV, entry: 0, pending: true }]).violations).toEqual([]);
  });

  it('reports a Pending bit not set', () => {
    const v = judge(masked, raised(0)).violations;
    expect(v.map((x) => x.kind)).toEqual(['not-pending']);
    expect(v[0]!.message).toBe(`${DEV} raised entry 0 while the guest masks it (its Mask bit): its Pending bit is not set (the guest's PBA reads 0x0)`);
    expect(judge(view([TO_VCPU1], { functionMask: true }), raised(0)).violations[0]!.message).toContain('(Function Mask)');
  });

  it('reports an injection while masked as spurious', () => {
    const v = judge(masked, raised(0), (s) => [{ kind: 'vmm-pending', device: DEV, entry: 0, pending: true }, inject('vm1', 1, 0x41)(s)]).violations;
    expect(v.map((x) => x.kind)).toEqual(['spurious']);
    expect(v[0]).toMatchObject({ entry: 0 });
    expect(v[0]!.message).toContain('(entry 0 raised: the guest masks it (its Mask bit))');
  });

  it('with MSI-X disabled the raise asks for nothing, pending or not', () => {
    expect(judge(view([TO_VCPU1], { enabled: false }), raised(0)).violations).toEqual([]);
  });
});

describe('P7 on an unmask of a pending entry', () => {
  const unmasked = (pending: boolean) => (): Unstepped[] => [
    { kind: 'guest-access', device: DEV, space: 'mmio', write: true, bar: 0, offset: 0xc, size: 4, value: 0n, regions: ['table'], written: [0], unmasked: [{ entry: 0, pending }], masked: [] },
  ];
  const clear = (): Action => ({ kind: 'vmm-pending', device: DEV, entry: 0, pending: false });

  it('holds when the pending interrupt is delivered and its bit cleared', () => {
    expect(judge(view([TO_VCPU1]), unmasked(true), (s) => [clear(), inject('vm1', 1, 0x41)(s)], 0).violations).toEqual([]);
  });

  it('reports a pending interrupt not delivered on unmask', () => {
    const v = judge(view([TO_VCPU1]), unmasked(true), () => [clear()], 0).violations;
    expect(v.map((x) => x.kind)).toEqual(['not-delivered-on-unmask']);
    expect(v[0]!.message).toBe(`the guest unmasked ${DEV}'s pending entry 0 (vector 0x41 for vm1.vcpu1): nothing arrived at vm1.vcpu1`);
  });

  it('reports a Pending bit left set', () => {
    const v = judge(view([TO_VCPU1]), unmasked(true), all(inject('vm1', 1, 0x41)), 0).violations;
    expect(v.map((x) => x.kind)).toEqual(['pending-not-cleared']);
    expect(v[0]!.message).toContain("its Pending bit is still set after the access (the guest's PBA reads 0x1)");
  });

  it('an unmask of an entry that was not pending asks for nothing: a delivery is spurious', () => {
    expect(judge(view([TO_VCPU1]), unmasked(false)).violations).toEqual([]);
    expect(judge(view([TO_VCPU1]), unmasked(false), all(inject('vm1', 1, 0x41))).violations.map((x) => x.kind)).toEqual(['spurious']);
  });
});

describe('P7 and a message the guest changed while the entry was unmasked (undefined until it unmasks the entry again)', () => {
  const access = (offset: number, size: number, over: Partial<Extract<PlatformEvent, { kind: 'guest-access' }>> = {}): PlatformEvent => ({
    kind: 'guest-access', step: 0, device: DEV, space: 'mmio', write: true, bar: 0, offset, size, value: 0n, regions: ['table'], written: [Math.floor(offset / 16)], unmasked: [], masked: [], ...over,
  });
  const s = applyAction(initial, { kind: 'vmm-guest-view', device: DEV, guest: view([TO_VCPU1]) }).state;
  const raise: PlatformEvent[] = [{ kind: 'device-raised', step: 1, device: DEV, entry: 0 }];

  it('a data write to an unmasked entry makes its raise unjudged; a write while masked does not', () => {
    const m = rememberGuestIntent(NO_GUEST_INTENT_MEMORY, s, [access(0x8, 4)]);
    expect([...m.undefinedMessages]).toEqual([`${DEV}/0`]);
    expect(checkGuestIntent(s, raise, { virtualPending: emulated, memory: m })).toEqual([]);
    expect(checkGuestIntent(s, raise, { virtualPending: emulated })).toHaveLength(1);
    // Vector Control alone is not the message; a QWORD data + mask that masks it was written while unmasked.
    expect(rememberGuestIntent(NO_GUEST_INTENT_MEMORY, s, [access(0xc, 4)]).undefinedMessages.size).toBe(0);
    expect(rememberGuestIntent(NO_GUEST_INTENT_MEMORY, s, [access(0x8, 8, { masked: [0] })]).undefinedMessages.size).toBe(1);
    const masked = applyAction(initial, { kind: 'vmm-guest-view', device: DEV, guest: view([{ ...TO_VCPU1, masked: true }]) }).state;
    expect(rememberGuestIntent(NO_GUEST_INTENT_MEMORY, masked, [access(0x0, 8)]).undefinedMessages.size).toBe(0);
  });

  it("an unmask by the entry's own Vector Control commits it; one by the Function Mask does not", () => {
    const m = rememberGuestIntent(NO_GUEST_INTENT_MEMORY, s, [access(0x8, 4)]);
    expect(rememberGuestIntent(m, s, [access(0xc, 4, { unmasked: [{ entry: 0, pending: false }] })]).undefinedMessages.size).toBe(0);
    const config = access(0x72, 2, { space: 'config', bar: -1, regions: ['config'], written: [], unmasked: [{ entry: 0, pending: true }] });
    expect(rememberGuestIntent(m, s, [config]).undefinedMessages.size).toBe(1);
    // Its pending interrupt released by that Function Mask unmask is not judged either.
    expect(checkGuestIntent(s, [config], { virtualPending: emulated, memory: m })).toEqual([]);
    expect(checkGuestIntent(s, [config], { virtualPending: emulated }).map((v) => v.kind)).toEqual(['not-delivered-on-unmask']);
  });
});

describe('P7 scope', () => {
  it('does not judge a device whose device model is an adversary', () => {
    const s = applyAction(initial, { kind: 'vmm-guest-view', device: DEV, guest: view([TO_VCPU1]) }).state;
    const e: PlatformEvent[] = [{ kind: 'device-raised', step: 0, device: DEV, entry: 0 }];
    expect(checkGuestIntent(s, e, { virtualPending: emulated })).toHaveLength(1);
    expect(checkGuestIntent(s, e, { virtualPending: emulated, untrustedDeviceModels: new Set([1]) })).toEqual([]);
  });

  it('is not applicable without a VMM', () => {
    const plain = buildPlatform(compileScenario(parseScenarioText(TEXT.replace('  vmm: qemu-kvm\n', ''), 'p7.yaml')).platform);
    expect(plain.vmm).toBeUndefined();
    expect(checkGuestIntent(plain, [{ kind: 'device-raised', step: 0, device: DEV, entry: 0 }])).toEqual([]);
  });

  it('tallies raises and pending unmasks', () => {
    const t = tallyGuestIntent([
      { kind: 'device-raised', step: 0, device: DEV, entry: 0 },
      { kind: 'guest-access', step: 1, device: DEV, space: 'config', write: true, bar: -1, offset: 0x72, size: 2, value: 0x8000n, regions: ['config'], written: [], unmasked: [{ entry: 0, pending: true }, { entry: 1, pending: false }], masked: [] },
    ]);
    expect(t).toEqual({ raised: 1, unmaskedPending: 1 });
  });
});

describe("P1 and a device model's injections (checkInjection)", () => {
  const event = (s: PlatformState, vm: string, by?: 'device-model'): InterruptInjectedEvent => ({ kind: 'interrupt-injected', step: 0, device: DEV, vcpu: vcpu(s, vm, 0).id, vector: 0x41, ...(by === undefined ? {} : { by }) });

  it("lets the device model inject into its own guest (KVM_SIGNAL_MSI on its own VM's fd), ungranted", () => {
    expect(checkInjection(initial, event(initial, 'vm1', 'device-model'))).toEqual([]);
    expect(checkInjection(initial, { ...event(initial, 'vm1', 'device-model'), vector: 3 })).toEqual([]);
  });

  it('still refuses an ungranted hypervisor injection, and a device-model injection into another domain', () => {
    expect(checkInjection(initial, event(initial, 'vm1')).map((v) => v.message)).toEqual([`${DEV} had vector 0x41 injected into vm1.vcpu0: no grant covers it`]);
    expect(checkInjection(initial, event(initial, 'vm2', 'device-model')).map((v) => v.message)).toEqual([`${DEV} (owned by vm1) had vector 0x41 injected into vm2.vcpu0 of another domain by its device model`]);
  });
});

/**
 * End to end: the guest programs two entries to vCPU 1 and raises both; with a one-route KVM
 * table qemu-kvm falls back to KVM_SIGNAL_MSI for the second, the lazy-routes variant drops it.
 */
function e2e(design: string): string {
  return `
name: p7-e2e
platform:
  cpus: { count: 4 }
  policy: kvm
  vmm: ${design}
  kvmRoutes: 1
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0xf020fe }
devices:
  - { bdf: "${DEV}", msix: { tableSize: 4 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["${DEV}"] }
steps:
  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }
  - schedule: { vm: vm1, vcpu: 0, pcpu: 1 }
  - schedule: { vm: vm1, vcpu: 1, pcpu: 2 }
  - guest-config: { device: "${DEV}", offset: 0x72, size: 2, value: 0xc000 }
  - guest-mmio: { device: "${DEV}", bar: 0, offset: 0x0, size: 8, value: 0xfee01000 }
  - guest-mmio: { device: "${DEV}", bar: 0, offset: 0x8, size: 8, value: 0x41 }
  - guest-mmio: { device: "${DEV}", bar: 0, offset: 0x10, size: 8, value: 0xfee01000 }
  - guest-mmio: { device: "${DEV}", bar: 0, offset: 0x18, size: 8, value: 0x42 }
  - guest-config: { device: "${DEV}", offset: 0x72, size: 2, value: 0x8000 }
  - signal: { device: "${DEV}", vector: 0 }
  - signal: { device: "${DEV}", vector: 1 }
  - guest-mmio: { device: "${DEV}", bar: 0, offset: 0xc, size: 4, value: 1 }
  - signal: { device: "${DEV}", vector: 0 }
  - guest-mmio: { device: "${DEV}", bar: 0, offset: 0xc, size: 4, value: 0 }
`;
}
const runE2e = (design: string) => runScenario(compileScenario(parseScenarioText(e2e(design), 'p7-e2e.yaml')));
const haveDesigns = ['qemu-kvm', 'qemu-kvm-broken-lazy-routes', 'xen', 'xen-broken-mask-unobservable'].every((d) => VMM_DESIGNS[d] !== undefined);

describe.runIf(haveDesigns)('P7 end to end', () => {
  it('qemu-kvm honours the guest: P7 holds (KVM_SIGNAL_MSI when the routing table is full), and run prints the verdict', () => {
    const r = runE2e('qemu-kvm');
    expect(r.guestIntent).toEqual([]);
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.guestIntentTally).toEqual({ raised: 3, unmaskedPending: 1 });
    expect(formatTrace(r)).toContain('P7 guest intent: HELD (3 raised, 1 unmasked with pending)\n');
    expect(formatJsonTrace(r)).toContain('"property":"P7","held":true');
  });

  it('qemu-kvm-broken-lazy-routes loses the second entry: P7 violated, run fails', () => {
    const r = runE2e('qemu-kvm-broken-lazy-routes');
    expect(r.guestIntent.length).toBeGreaterThan(0);
    expect(r.guestIntent[0]).toMatchObject({ property: 'P7', kind: 'lost', device: DEV, entry: 1 });
    expect(r.guestIntent[0]!.message).toContain('vector 0x42 for vm1.vcpu1');
    expect(r.ok).toBe(false);
    const trace = formatTrace(r);
    expect(trace).toMatch(/VIOLATION P7 at action \d+: 05:00.0 raised entry 1/);
    expect(trace).toContain('P7 guest intent: VIOLATED (');
  });

  it('xen-broken-mask-unobservable: mask, rewrite the vector, unmask, raise delivers the old vector (wrong vector); xen delivers the new one', () => {
    // The guest masks entry 0 while writing its new vector, then unmasks it (Linux __pci_write_msi_msg order), and the device raises it.
    const steps = [
      `  - guest-mmio: { device: "${DEV}", bar: 0, offset: 0x8, size: 8, value: 0x1000000d0 }`,
      `  - guest-mmio: { device: "${DEV}", bar: 0, offset: 0x8, size: 8, value: 0xd0 }`,
      `  - signal: { device: "${DEV}", vector: 0 }`,
    ].join('\n');
    const text = (design: string): string => e2e(design).replace('  kvmRoutes: 1\n', '').replace(/  - signal[\s\S]*$/, `${steps}\n`);
    const good = runScenario(compileScenario(parseScenarioText(text('xen'), 'x.yaml')));
    expect(good.guestIntent).toEqual([]);
    const bad = runScenario(compileScenario(parseScenarioText(text('xen-broken-mask-unobservable'), 'x.yaml')));
    expect(bad.guestIntent.map((v) => [v.kind, v.entry])).toEqual([['wrong-vector', 0]]);
    expect(bad.guestIntent[0]!.message).toContain('vm1.vcpu1 got vector 0x41');
    expect(bad.guestIntent[0]!.message).toContain('instead of 0xd0');
  });

  it('a scenario without a VMM prints no P7 line', () => {
    const r = runScenario(compileScenario(parseScenarioText(e2e('qemu-kvm').replace('  vmm: qemu-kvm\n  kvmRoutes: 1\n', '').replace(/  - guest-(mmio|config).*\n/g, ''), 'x.yaml')));
    expect(formatTrace(r)).not.toContain('P7');
    expect(formatJsonTrace(r)).not.toContain('P7');
  });
});
