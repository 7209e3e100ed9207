/**
 * One scenario under every correct VMM design (issue 12 item 5): `remapsim compare
 * specs/vmm/compare-all.yaml --vmm all --policy matching` — each design's guest driver in steps
 * with `under:`, the probes of src/vmm/probes.ts (an unmodified driver's onboard interrupt
 * controller and IMS store), the guest addressing of each design, and set-up hypercalls counted
 * as MSI set-ups.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { cli, repo } from '../cli/cli-harness.ts';
import { compareScenario, designsOf } from '../../src/cli/compare.ts';
import { VMM_DESIGNS } from '../../src/vmm/index.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { probeDesign } from '../../src/vmm/probes.ts';
import { stepKind } from '../../src/vmm/costs.ts';

const SPEC = repo('specs/vmm/compare-all.yaml');
const text = readFileSync(SPEC, 'utf8');

/** compare-all.yaml run under `design` (platform.vmm replaced in the text). */
function runUnder(design: string, edit: (t: string) => string = (t) => t) {
  return runScenario(compileScenario(parseScenarioText(edit(text.replace(/^ {2}vmm: qemu-kvm$/m, `  vmm: ${design}`)), SPEC)));
}

describe('designsOf', () => {
  it('all = every correct design, the hypercall ones too; the default leaves them out', () => {
    const correct = Object.keys(VMM_DESIGNS).filter((n) => !VMM_DESIGNS[n]!.broken);
    expect(designsOf('all')).toEqual(correct);
    expect(designsOf(undefined)).not.toContain('paravirt-hcall');
    expect(designsOf('all')).toEqual(expect.arrayContaining(['qemu-kvm', 'xen', 'vfio-msi-virt-off', 'ims-hypercall', 'ims-emulated', 'paravirt-hcall', 'direct-post']));
    expect(designsOf(undefined)).not.toContain('ims-emulated');
  });

  it('every design says how its guest names vCPUs', () => {
    for (const d of Object.values(VMM_DESIGNS)) expect(d.guestAddressing.length, d.name).toBeGreaterThan(20);
  });
});

describe('steps under: a guest driver per design', () => {
  it('a step under other designs does nothing and keeps its place (indices are the file\'s)', () => {
    const c = compileScenario(parseScenarioText(text, SPEC));
    const skipped = c.steps.filter((s) => s.label === 'skipped');
    expect(skipped.length).toBeGreaterThan(0);
    for (const s of skipped) expect(s.actions).toEqual([]);
    expect(c.steps.map((s) => s.index)).toEqual(c.steps.map((_, i) => i));
  });

  it('an unknown design name in under: is an input error naming the field', () => {
    const bad = text.replace('under: [direct-post]', 'under: [direct-posts]');
    expect(() => compileScenario(parseScenarioText(bad, SPEC))).toThrow(/unknown VMM design 'direct-posts'/);
  });
});

describe('probes (src/vmm/probes.ts)', () => {
  const verdicts = (design: string, edit?: (t: string) => string) => {
    const p = probeDesign(runUnder(design, edit).final);
    return [p.onboardController.verdict, p.ims.verdict];
  };

  it('IR on: only MSI virtualization off serves an onboard controller, only ims-emulated (its quirk translates) and direct-post an unmodified IMS driver', () => {
    expect(verdicts('qemu-kvm')).toEqual(['blocked', 'blocked']); // the guest's compatibility message faults 0x25
    expect(verdicts('vfio-msi-virt-off')).toEqual(['works', 'blocked']); // reads the host's remappable handle
    expect(verdicts('paravirt-hcall')).toEqual(['lost', 'blocked']); // table reads return 0: a DMA write to 0
    expect(verdicts('direct-post')).toEqual(['works', 'works']); // the guest's own message is the real one
    expect(verdicts('ims-emulated')).toEqual(['blocked', 'works']); // the IMS quirk puts the host's pair into the physical slot
  });

  it('IR off: the guest message reaches a pCPU — misrouted, not blocked', () => {
    const irOff = (t: string) => t.replace(/ {2}- note: the host turns interrupt remapping on[^\n]*\n {4}enable-ir:[^\n]*\n/, '').replace(/ {4}expect: \{ posted: [^\n]*\n/g, '');
    expect(verdicts('qemu-kvm', irOff)).toEqual(['misrouted', 'misrouted']);
  });

  it('n/a without a VMM', () => {
    const plain = runScenario(compileScenario(parseScenarioText('name: p\nplatform: { cpus: { count: 1 } }\nsteps: []\n', 'p.yaml')));
    expect(probeDesign(plain.final).ims.verdict).toBe('n/a');
  });
});

describe('costs: a set-up hypercall is an MSI set-up', () => {
  it('set-interrupt steps are counted per set-up, not as other steps', () => {
    const r = runUnder('paravirt-hcall');
    const hypercalls = r.steps.filter((s) => s.step.label === 'hypercall');
    expect(hypercalls.length).toBe(2);
    for (const s of hypercalls) expect(stepKind(s.events, s.step.actions)).toBe('programming');
    expect(stepKind(hypercalls[0]!.events)).toBe('other');
  });
});

describe('remapsim compare --vmm all', () => {
  it('runs every design on the one scenario: all hold with IR on, with probes and addressing', async () => {
    const c = await compareScenario(SPEC, { vmm: 'all', policy: 'matching', runs: 50 });
    expect(c.designs.map((d) => d.design)).toEqual(designsOf('all'));
    for (const d of c.designs) expect(d.ok, d.design).toBe(true);
    const r = await cli(['compare', SPEC, '--vmm', 'all', '--policy', 'matching', '--runs', '20']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/│ onboard interrupt controller +│ blocked +│ blocked +│ works +│ blocked +│ blocked +│ lost +│ works +│/);
    expect(r.out).toMatch(/│ IMS, unmodified driver +│ blocked +│ blocked +│ blocked +│ blocked +│ works +│ blocked +│ works +│/);
    expect(r.out).toContain('direct-post: guest addressing: ');
    expect(r.out).toContain('│ per MSI set-up ');
  });
});
