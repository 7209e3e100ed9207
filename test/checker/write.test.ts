/**
 * src/scenario/write.ts: the base's text with steps appended (comments, notes and
 * 64-bit values kept), the header note, the policy override, and round trips through
 * the scenario parser.
 */
import { describe, expect, it } from 'vitest';
import { formatSteps, scenarioWithSteps, withPolicy } from '../../src/scenario/write.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';

const BASE = `# The base's own header comment
# on two lines.
name: tiny
platform:
  cpus: { count: 2 }
  policy: kvm
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0xf020fe }
devices:
  - { bdf: "05:00.0", msix: { tableSize: 2 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1], vcpus: 1, devices: ["05:00.0"] }
steps:
  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }
  # a comment between steps
  - note: the guest aims entry 0 at its vCPU
    guest-msi: { device: "05:00.0", entry: 0, destination: 0, vector: 0x41 }
  - msix-control: { device: "05:00.0", enable: true }
`;

const STEPS = [
  { schedule: { vm: 'vm1', vcpu: 0, pcpu: 1 } },
  { signal: { device: '05:00.0', vector: 0 } },
  { 'guest-ack': { vm: 'vm1', vcpu: 0 } },
];

function data(text: string): { name: string; platform: { policy?: string; iommus: { cap: unknown }[] }; steps: object[] } {
  return parseScenarioText(text, 'written.yaml').data as never;
}

describe('scenarioWithSteps', () => {
  const out = scenarioWithSteps(BASE, STEPS, 'Counterexample\nseed 42, path 1:2:3\nviolates P3');

  it('puts the note first, as a comment, above the base’s own header', () => {
    expect(out.startsWith('# Counterexample\n# seed 42, path 1:2:3\n# violates P3\n\n# The base\'s own header comment\n# on two lines.\n')).toBe(true);
  });

  it('keeps the base’s comments, notes and steps, and appends the steps one per line', () => {
    expect(out).toContain('  # a comment between steps\n');
    expect(out).toContain('  - note: the guest aims entry 0 at its vCPU\n');
    expect(out).toMatch(/- schedule: \{ vm: vm1, vcpu: 0, pcpu: 1 \}\n\s+- signal: \{ device: "05:00.0", vector: 0 \}\n\s+- guest-ack: \{ vm: vm1, vcpu: 0 \}\n$/);
    const d = data(out);
    expect(d.steps).toEqual([...data(BASE).steps, ...STEPS]);
  });

  it('keeps every bit of a 64-bit CAP', () => {
    expect(BigInt(String(data(out).platform.iommus[0]!.cap))).toBe(0x08d2078c106f0462n);
  });

  it('replays: the written scenario runs with the appended steps', () => {
    const r = runScenario(compileScenario(parseScenarioText(out, 'written.yaml')));
    expect(r.ok).toBe(true);
    expect(r.steps.at(-1)!.events.some((e) => e.kind === 'guest-interrupt' && e.vector === 0x41)).toBe(true);
  });

  it('sets the policy, the name and a comment above the appended steps when asked', () => {
    const t = scenarioWithSteps(BASE, STEPS.slice(0, 1), 'n', { policy: 'xen', name: 'renamed', stepsComment: 'found by fast-check' });
    expect(data(t)).toMatchObject({ name: 'renamed', platform: { policy: 'xen' } });
    expect(t).toMatch(/\n\n {2}# found by fast-check\n {2}- schedule: /);
  });

  it('creates the steps sequence when the base has none, and leaves the base unchanged for no steps', () => {
    const noSteps = BASE.slice(0, BASE.indexOf('steps:'));
    expect(data(scenarioWithSteps(noSteps, STEPS, 'n')).steps).toEqual(STEPS);
    expect(data(scenarioWithSteps(`${noSteps}steps:\n`, STEPS, 'n')).steps).toEqual(STEPS);
    expect(data(scenarioWithSteps(BASE, [], 'n')).steps).toEqual(data(BASE).steps);
  });

  it('throws for text that is not a scenario mapping', () => {
    expect(() => scenarioWithSteps('- a\n- b\n', STEPS, 'n')).toThrow(/not a YAML mapping/);
    expect(() => scenarioWithSteps('a: [\n', STEPS, 'n')).toThrow(/not valid YAML/);
    expect(() => scenarioWithSteps('name: x\nsteps: 3\n', STEPS, 'n')).toThrow(/steps is not a sequence/);
    expect(() => scenarioWithSteps('name: x\n', STEPS, 'n', { policy: 'xen' })).toThrow(/no platform mapping/);
  });
});

describe('withPolicy', () => {
  it('replaces platform.policy and keeps the rest', () => {
    const t = withPolicy(BASE, 'kvm-broken-no-wakeup-list');
    expect(data(t).platform.policy).toBe('kvm-broken-no-wakeup-list');
    expect(t).toContain('# a comment between steps');
    expect(data(t).steps).toEqual(data(BASE).steps);
  });
});

describe('formatSteps', () => {
  it('prints steps as YAML sequence items, BDFs quoted', () => {
    expect(formatSteps(STEPS)).toBe('- schedule: { vm: vm1, vcpu: 0, pcpu: 1 }\n- signal: { device: "05:00.0", vector: 0 }\n- guest-ack: { vm: vm1, vcpu: 0 }\n');
    expect(formatSteps([])).toBe('[]\n');
  });
});
