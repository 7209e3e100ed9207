/**
 * The checker's hypercall adversary (src/checker/adversary.ts `hypercall`, issue 12): a
 * malicious guest issues the VMM design's hypercalls (src/vmm/design.ts `hypercalls`) with
 * drawn fields — `get-msi-pair {device, slot, vcpu, vector}` (ims-hypercall) and
 * `set-interrupt {device, entry, vcpu, vector}` (paravirt-hcall) — for every function the VMM
 * manages (other guests' too) and every vCPU (other domains' too, `vcpuOf`). On the
 * scripted-free IMS scenarios (no hypercall in the scenario's own steps: the adversary must
 * make it) `check` finds ims-hypercall-broken-unbound and ims-hypercall-broken-no-owner-check
 * by itself (P1), holds for ims-hypercall, and the counterexample file replays.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileSteps, prepareCheck, runCheck } from '../../src/checker/check.ts';
import { resolveRun, runChoiceArbitrary, stepKind, type AttackStep } from '../../src/checker/adversary.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { parseScenarioFile, parseScenarioText } from '../../src/scenario/parse.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { formatTrace } from '../../src/scenario/trace.ts';
import { scenarioWithSteps } from '../../src/scenario/write.ts';

const repo = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));

/**
 * specs/attacks/ims-unbound-insecure.yaml without its scripted IMS steps (the hypercall, the
 * slot writes, the raise) and with `check` as its check section; design `vmm`.
 */
function scriptedFree(vmm: string, check: string): string {
  const text = readFileSync(repo('specs/attacks/ims-unbound-insecure.yaml'), 'utf8');
  const head = text.slice(0, text.indexOf('\n  - note: vm1\'s driver asks'));
  return `${head.replace(/\n {2}vmm: [a-z-]+\n/, `\n  vmm: ${vmm}\n`)}\ncheck:\n${check}`;
}

const CHECK = '  adversary:\n    software: [hypercall]\n    devices: [msi]\n  properties: [P1]\n  budget: { runs: 300, steps: 8, seconds: 120, seed: 1 }\n';

describe('the threat model', () => {
  it('hypercall is a kind only with a design that answers hypercalls; its pools are every VMM function and the design\'s ops', () => {
    const p = prepareCheck(scriptedFree('ims-hypercall', CHECK), 'x.yaml');
    expect(p.threat.kinds).toEqual(['msi', 'hypercall']);
    expect(p.pools.hypercalls).toEqual(['get-msi-pair']);
    expect(p.pools.hypercallDevices.map((d) => [d.bdf, d.vm])).toEqual([
      ['05:00.0', 'vm1'],
      ['06:00.0', 'vm2'],
    ]);
    // The handles the hypervisor hands out next are hot.
    expect(p.pools.handles.slice(0, 4)).toEqual([0, 1, 2, 3]);
    const none = prepareCheck(scriptedFree('qemu-kvm', CHECK.replace('[hypercall]', '[hypercall, guest-mmio]')), 'x.yaml');
    expect(none.threat.kinds).toEqual(['msi', 'guest-mmio']);
    expect(none.pools.hypercalls).toEqual([]);
  });
});

describe('generated hypercalls', () => {
  const p = prepareCheck(scriptedFree('ims-hypercall', CHECK), 'x.yaml');
  const steps: AttackStep[] = fc.sample(runChoiceArbitrary(p.threat, 20), { seed: 3, numRuns: 150 }).flatMap((r) => resolveRun(p.pools, p.threat, r));
  const calls = steps.filter((s) => stepKind(s) === 'hypercall').map((s) => s.hypercall as Record<string, unknown>);

  it('name every caller, every function, vCPUs of other domains (vcpuOf), hot and raw vectors and slots', () => {
    expect(calls.length).toBeGreaterThan(100);
    expect(new Set(calls.map((c) => c.op))).toEqual(new Set(['get-msi-pair']));
    expect(new Set(calls.map((c) => c.vm))).toEqual(new Set(['vm1', 'vm2']));
    expect(new Set(calls.map((c) => `${c.vm}:${c.device}`))).toEqual(new Set(['vm1:05:00.0', 'vm1:06:00.0', 'vm2:05:00.0', 'vm2:06:00.0']));
    expect(calls.some((c) => c.vcpuOf !== undefined && c.vcpuOf !== c.vm)).toBe(true);
    expect(calls.some((c) => c.vcpuOf === undefined)).toBe(true);
    expect(calls.some((c) => p.pools.vectors.includes(c.vector as number))).toBe(true);
    expect(calls.some((c) => !p.pools.vectors.includes(c.vector as number))).toBe(true);
    expect(calls.some((c) => (c.slot as number) > 0)).toBe(true);
    expect(calls.some((c) => (c.slot as number) >= 32)).toBe(true);
  });

  it('compile as the replayed scenario compiles them', () => {
    const fast = compileSteps(p, steps).map((s) => [s.label, s.actions]);
    const full = compileScenario(parseScenarioText(scenarioWithSteps(p.text, steps, 'x'), 'x.yaml')).steps.slice(p.base.steps.length).map((s) => [s.label, s.actions]);
    expect(fast).toEqual(full);
  });
});

describe('check finds the broken IMS designs by itself (P1) and holds for ims-hypercall', () => {
  const owner: Record<string, string> = { '05:00.0': 'vm1', '06:00.0': 'vm2' };
  it('ims-hypercall-broken-unbound: one guest gets its own function\'s pair, the other guest\'s function sends its handle and is posted into the caller — the counterexample file replays', async () => {
    const r = await runCheck(prepareCheck(scriptedFree('ims-hypercall-broken-unbound', CHECK), 'x.yaml'));
    const c = r.counterexample!;
    expect(c.property).toBe('P1');
    // The caller asks for its own function's pair (the owner check passes); the other guest's function sends the handle.
    expect(c.steps.map(stepKind)).toEqual(['hypercall', 'msi']);
    const call = c.steps[0]!.hypercall as { vm: string; device: string };
    expect(owner[call.device]).toBe(call.vm);
    const sender = (c.steps[1]!.msi as { device: string }).device;
    expect(owner[sender]).not.toBe(call.vm);
    expect(c.message).toBe(`${sender} (owned by ${owner[sender]}) posted vector 0xf2 into ${call.vm}.vcpu0 of another domain`);
    expect(c.replayed).toBe(true);
    // The counterexample file, written where a user would keep it and run again.
    const file = join(mkdtempSync(join(tmpdir(), 'remapsim-hypercall-')), 'counterexample.yaml');
    writeFileSync(file, c.scenario);
    const replay = runScenario(compileScenario(parseScenarioFile(file)));
    expect(replay.violations.map((v) => v.property)).toEqual(['P1']);
    expect(formatTrace(replay)).toMatch(/get-msi-pair \d\d:00\.0 slot \d+ → address 0xfee[0-9a-f]+ data 0x0 \(IRTE \d+, posted into vm\d\.vcpu0 vector 0xf2, SVT=0/);
    expect(formatTrace(replay)).toMatch(/VIOLATION P1/);
  });

  it('ims-hypercall-broken-no-owner-check: one guest gets a pair for the other guest\'s function, which then posts into the caller — the counterexample replays', async () => {
    const r = await runCheck(prepareCheck(scriptedFree('ims-hypercall-broken-no-owner-check', CHECK), 'x.yaml'));
    const c = r.counterexample!;
    expect(c.property).toBe('P1');
    // The caller asks for the other guest's function, whose raise of the pair then posts into the caller.
    expect(c.steps.map(stepKind)).toEqual(['hypercall', 'msi']);
    const call = c.steps[0]!.hypercall as { vm: string; device: string };
    expect(owner[call.device]).not.toBe(call.vm);
    expect((c.steps[1]!.msi as { device: string }).device).toBe(call.device);
    expect(c.message).toBe(`${call.device} (owned by ${owner[call.device]}) posted vector 0xf2 into ${call.vm}.vcpu0 of another domain`);
    expect(c.replayed).toBe(true);
    expect(runScenario(compileScenario(parseScenarioText(c.scenario, 'counterexample.yaml'))).violations.map((v) => v.property)).toEqual(['P1']);
  });

  it('ims-hypercall holds P1 under the same adversary (fixed seed, same budget)', async () => {
    const r = await runCheck(prepareCheck(scriptedFree('ims-hypercall', CHECK), 'x.yaml'));
    expect(r.counterexample?.message).toBeUndefined();
    expect(r.runs).toBe(300);
    expect(r.coverage.actions.hypercall).toBeGreaterThan(300);
    expect(r.coverage.postings).toBeGreaterThan(0);
  });
});

describe('paravirt-hcall under the hypercall adversary', () => {
  /** specs/attacks/pe-msi-validation-secure.yaml with a second guest (vm2, one vCPU) and `check` as its check section. */
  function secure(check: string): string {
    const text = readFileSync(repo('specs/attacks/pe-msi-validation-secure.yaml'), 'utf8');
    return `${text.slice(0, text.indexOf('\ncheck:')).replace('  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["05:00.0"] }\n', '  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["05:00.0"] }\n  - { name: vm2, kind: guest, cpus: [0], vcpus: 1 }\n')}\ncheck:\n${check}`;
  }

  it('set-interrupt steps for every entry and vCPU; P1 and P7 hold (a released pending entry is what the call asked for)', async () => {
    const p = prepareCheck(secure('  adversary:\n    guests: [vm1]\n    software: [hypercall, guest-mmio]\n    devices: [signal]\n  properties: [P1, P7]\n  budget: { runs: 200, steps: 12, seconds: 120, seed: 2 }\n'), 'x.yaml');
    expect(p.threat.kinds).toEqual(['signal', 'guest-mmio', 'hypercall']);
    expect(p.pools.hypercalls).toEqual(['set-interrupt']);
    const r = await runCheck(p);
    expect(r.counterexample?.message).toBeUndefined();
    expect(r.runs).toBe(200);
    expect(r.coverage.actions.hypercall).toBeGreaterThan(200);
    expect(r.coverage.vmm!.raised).toBeGreaterThan(100);
    expect(r.coverage.vmm!.arrivals).toBeGreaterThan(50);
  });
});
