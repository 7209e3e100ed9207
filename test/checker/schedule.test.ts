/**
 * The schedule checker's parts (src/checker/schedule.ts): the model read from the base
 * scenario, the step arbitraries (schema-valid steps naming only what exists, chosen by
 * position so shrinking reaches the first vCPU), the runner's mapping of violations
 * back to steps, and the coverage labels.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  coverageOf,
  DEFAULT_WEIGHTS,
  kindOf,
  loadBase,
  resolveStep,
  runWithSteps,
  scheduleModel,
  searchSchedules,
  stepArbitrary,
  stepsArbitrary,
  type GeneratedStep,
} from '../../src/checker/schedule.ts';
import { BASE_SCENARIO, readBaseScenario } from '../../src/checker/counterexample.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { scenarioWithSteps } from '../../src/scenario/write.ts';
import { InputError } from '../../src/io/input-error.ts';

const SEED = 0x5eed_0c0c;
const text = readBaseScenario();
const kvm = loadBase(text, BASE_SCENARIO);

describe('scheduleModel', () => {
  it('lists the guests’ vCPUs, the pCPUs and the programmed MSI-X entries with their intended vCPUs', () => {
    const m = kvm.model;
    expect(m.vcpus).toEqual([
      { vm: 'vm1', vcpu: 0 },
      { vm: 'vm1', vcpu: 1 },
      { vm: 'vm1', vcpu: 2 },
      { vm: 'vm2', vcpu: 0 },
      { vm: 'vm2', vcpu: 1 },
    ]);
    expect(m.pcpus).toBe(5);
    expect(m.apicIds).toEqual([0, 1, 2, 0, 1]);
    expect(m.sources.map((s) => [s.device, s.entry, s.target, s.vector])).toEqual([
      ['05:00.0', 0, 0, 0x41],
      ['05:00.0', 1, 2, 0x42],
      ['05:00.1', 0, 1, 0x51],
      ['06:00.0', 0, 4, 0x61],
      ['06:00.0', 1, 3, 0x62],
    ]);
    expect(m.sourcesOf).toEqual([[0], [2], [1], [4], [3]]);
    expect(m.sources[3]!.ownerVcpus).toEqual([3, 4]);
  });

  it('reads listed guest APIC IDs and falls back to every MSI-X entry of guest devices when none is programmed', () => {
    const m = scheduleModel({
      name: 'x',
      platform: { cpus: { apicIds: [0, 2] } },
      devices: [{ bdf: '01:00.0', msix: { tableSize: 2 } }, { bdf: '02:00.0', msix: { tableSize: 8 } }],
      domains: [{ name: 'host', kind: 'host' }, { name: 'g', kind: 'guest', vcpus: [4, 6], devices: ['01:00.0'] }],
      steps: [],
    });
    expect(m.pcpus).toBe(2);
    expect(m.apicIds).toEqual([4, 6]);
    expect(m.sources.map((s) => [s.device, s.entry, s.target])).toEqual([
      ['01:00.0', 0, undefined],
      ['01:00.0', 1, undefined],
    ]);
  });

  it('refuses a scenario with nothing to schedule or signal', () => {
    expect(() => scheduleModel({ name: 'x', platform: { cpus: { count: 2 } }, steps: [] })).toThrow(/no guest vCPU/);
    expect(() =>
      scheduleModel({ name: 'x', platform: { cpus: { count: 2 } }, domains: [{ name: 'g', kind: 'guest', vcpus: 1 }], steps: [] }),
    ).toThrow(/no MSI-X entry/);
  });
});

describe('loadBase', () => {
  it('sets the policy in the text and reads the base', () => {
    const b = loadBase(text, BASE_SCENARIO, 'xen');
    expect(b.policy).toBe('xen');
    expect(b.text).toMatch(/^\s+policy: xen$/m);
    expect(b.steps).toBe(9);
    expect(kvm.policy).toBe('kvm');
  });

  it('rejects an unknown policy with an InputError naming the field', () => {
    expect(() => loadBase(text, BASE_SCENARIO, 'no-such-policy')).toThrow(InputError);
    try {
      loadBase(text, BASE_SCENARIO, 'no-such-policy');
    } catch (e) {
      expect((e as InputError).field).toBe('platform.policy');
      expect((e as InputError).message).toMatch(/expected one of "kvm", "xen"/);
    }
  });
});

describe('step arbitraries', () => {
  it('give schema-valid steps that name only what the base has, and every kind appears', () => {
    const kinds = new Set<string>();
    fc.assert(
      fc.property(stepsArbitrary(kvm.model, { maxSteps: 30 }), (steps) => {
        steps.forEach((s) => kinds.add(kindOf(s)));
        const parsed = parseScenarioText(scenarioWithSteps(text, steps, 'generated'), 'generated.yaml');
        expect((parsed.data as { steps: unknown[] }).steps.slice(9)).toEqual(steps);
        // Compiles (every vm, vCPU, pCPU and device exists) and runs.
        const r = runWithSteps(kvm, steps);
        expect(r.result.steps.flatMap((s) => s.events).filter((e) => e.kind === 'action-rejected')).toEqual([]);
        expect(r.findings).toEqual([]);
      }),
      { seed: SEED, numRuns: 150 },
    );
    expect([...kinds].sort()).toEqual(['guest-ack', 'guest-eoi', 'guest-msi', 'halt', 'preempt', 'schedule', 'signal']);
  });

  it('leave out kinds of weight 0 and refuse all-zero weights', () => {
    const zero = Object.fromEntries(Object.keys(DEFAULT_WEIGHTS).map((k) => [k, 0]));
    fc.assert(
      fc.property(stepArbitrary(kvm.model, { ...zero, halt: 1 }), (s) => kindOf(s) === 'halt'),
      { seed: SEED, numRuns: 50 },
    );
    expect(() => stepArbitrary(kvm.model, zero)).toThrow(/every step weight is 0/);
  });

  it('shrink toward the first vCPU and pCPU: a failure on any halt shrinks to halting vm1.vcpu0', () => {
    const r = fc.check(
      fc.property(stepsArbitrary(kvm.model), (steps) => !steps.some((s) => kindOf(s) === 'halt')),
      { seed: SEED, numRuns: 200 },
    );
    expect(r.failed).toBe(true);
    // fast-check's array shrinker keeps a suffix, so a trailing step may survive (searchSchedules
    // cuts it); what matters here is that every step shrank to the first vCPU and pCPU.
    const steps = r.counterexample![0];
    expect(steps[0]).toEqual({ halt: { vm: 'vm1', vcpu: 0 } });
    expect(steps.length).toBeLessThanOrEqual(2);
    for (const s of steps) expect(JSON.stringify(Object.values(s)[0])).toMatch(/^\{"vm":"vm1","vcpu":0(,"pcpu":0)?\}$/);
  });

  it('resolve a signal for a vCPU to an entry the guest aimed at it, and retargets within the owner VM', () => {
    const m = kvm.model;
    const signal = (focus: number, vcpu: number): GeneratedStep => resolveStep(m, focus, { kind: 'signal', vcpu, pcpu: 0, source: 0 });
    expect(signal(0, 0)).toEqual({ signal: { device: '05:00.0', vector: 0 } });
    expect(signal(1, 1)).toEqual({ signal: { device: '05:00.0', vector: 1 } }); // vm1.vcpu2
    expect(signal(4, 0)).toEqual({ signal: { device: '06:00.0', vector: 0 } }); // vm2.vcpu1
    expect(signal(4, 1)).toEqual({ signal: { device: '05:00.0', vector: 0 } }); // wraps to vm1.vcpu0
    // Retarget 06:00.0 entry 0 with vm1.vcpu0 chosen: not vm2's, so one of vm2's vCPUs instead.
    expect(resolveStep(m, 0, { kind: 'retarget', vcpu: 0, pcpu: 0, source: 3 })).toEqual({
      'guest-msi': { device: '06:00.0', entry: 0, destination: 0, vector: 0x61 },
    });
    expect(resolveStep(m, 4, { kind: 'retarget', vcpu: 0, pcpu: 0, source: 4 })).toEqual({
      'guest-msi': { device: '06:00.0', entry: 1, destination: 1, vector: 0x62 },
    });
    expect(resolveStep(m, 2, { kind: 'schedule', vcpu: 1, pcpu: 7, source: 0 })).toEqual({ schedule: { vm: 'vm2', vcpu: 0, pcpu: 2 } });
  });
});

describe('runWithSteps', () => {
  it('maps a violation to the scenario step and the generated step that caused it', () => {
    const broken = loadBase(text, BASE_SCENARIO, 'kvm-broken-pda-any-vm');
    const r = runWithSteps(broken, [{ schedule: { vm: 'vm1', vcpu: 1, pcpu: 1 } }, { signal: { device: '06:00.0', vector: 0 } }]);
    expect(r.baseSteps).toBe(9);
    expect(r.findings.map((f) => [f.property, f.step, f.generated])).toEqual([['P1', 10, 1]]);
    expect(r.findings[0]!.message).toMatch(/06:00.0 \(owned by vm2\) posted vector 0x61 into vm1.vcpu1 of another domain/);
  });

  it('reports nothing for the correct policy on the same steps', () => {
    const r = runWithSteps(kvm, [{ schedule: { vm: 'vm1', vcpu: 1, pcpu: 1 } }, { signal: { device: '06:00.0', vector: 0 } }]);
    expect(r.findings).toEqual([]);
    expect(r.failures).toEqual([]);
  });

  it('throws an InputError for a step naming something the base lacks', () => {
    expect(() => runWithSteps(kvm, [{ halt: { vm: 'vm3', vcpu: 0 } }])).toThrow(InputError);
  });
});

describe('coverageOf', () => {
  it('labels what a run reached in its generated steps', () => {
    const v = { vm: 'vm1', vcpu: 0 };
    const sig = { signal: { device: '05:00.0', vector: 0 } };
    const run = runWithSteps(kvm, [
      { schedule: { ...v, pcpu: 1 } },
      sig, // notified in guest mode
      { 'guest-ack': v },
      { 'guest-eoi': v },
      { preempt: v },
      sig, // SN set: posted without notification
      { schedule: { ...v, pcpu: 2 } }, // harvest at entry, on another pCPU
      { 'guest-ack': v },
      { 'guest-eoi': v },
      { halt: v },
      sig, // wakeup vector: woken
      sig, // ON still set
      { 'guest-msi': { device: '05:00.0', entry: 0, destination: 1, vector: 0x41 } },
    ]);
    expect(run.findings).toEqual([]);
    expect([...coverageOf(run)].sort()).toEqual([
      'acked',
      'descheduled',
      'halted',
      'harvested-at-entry',
      'migrated',
      'notified-in-guest',
      'posted-while-on',
      'posted-while-suppressed',
      'retargeted',
      'woken',
    ]);
    expect([...coverageOf(runWithSteps(kvm, [{ 'guest-eoi': v }]))]).toEqual([]);
  });
});

describe('searchSchedules', () => {
  it('reports the runs, no counterexample, and calls onRun for each run when the property holds', () => {
    let calls = 0;
    const r = searchSchedules(kvm, { seed: SEED, numRuns: 20, maxSteps: 5, onRun: () => void calls++ });
    expect(r).toMatchObject({ policy: 'kvm', seed: SEED, runs: 20, failed: false, path: undefined, steps: undefined, findings: [] });
    expect(calls).toBe(20);
  });

  it('cuts the shrunk counterexample after its first violating step', () => {
    const broken = loadBase(text, BASE_SCENARIO, 'kvm-broken-sn-without-on');
    const r = searchSchedules(broken, { seed: SEED, numRuns: 500, maxSteps: 20 });
    expect(r.failed).toBe(true);
    expect(r.steps!.length).toBe(r.findings[0]!.generated + 1);
    expect(r.shrunk!.slice(0, r.steps!.length)).toEqual(r.steps);
  });
});
