// User-written policies and VMM designs (`platform.policy: ./my-policy.js`, docs/policies.md):
// the example in examples/ runs and is checked (nothing found for the correct one, a
// counterexample for the one built on a broken base), check workers load the module too, and a
// missing module or one that does not implement the interface is one exit-2 line.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { InputError } from '../../src/io/input-error.ts';
import { loadScenarioModules, loadScenarioModulesOf } from '../../src/scenario/load-modules.ts';
import { chunkAt, prepareCheck } from '../../src/checker/check.ts';
import { rebaseFirmwarePaths } from '../../src/cli/check.ts';
import { startPool } from '../../src/checker/pool.ts';

const tmp = tempDir('user-modules');
afterAll(() => tmp.cleanup());

const example = repo('examples/refuse-logical.yaml');
const broken = repo('examples/refuse-logical-broken.yaml');
const srcUrl = (p: string): string => new URL(`../../src/${p}`, import.meta.url).href;

describe('the example user-written policy (examples/refuse-logical-policy.js)', () => {
  it('runs: physical requests set up as KVM would, logical ones refused with a note', async () => {
    const r = await cli(['run', example]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('refuse-logical: refused 05:00.0 entry 1: logical destination 0x3');
    expect(r.out).toContain('IRTE 0 of dmar0: P posted VV=0x41');
    expect(r.out).not.toContain('IRTE 2 of dmar0');
    expect(r.out).toContain('P1 interrupt isolation: HELD');
  });

  it('check finds nothing for it, and a counterexample when it is built on kvm-broken-no-owner-check', async () => {
    const ok = await cli(['check', example, '--no-write', '--runs', '40', '--steps', '8', '--workers', '1']);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/HELD: P1 P3 over 40 runs/);
    const out = `${tmp.dir}/broken.counterexample.yaml`;
    const bad = await cli(['check', broken, '--out', out, '--runs', '40', '--steps', '8', '--workers', '1']);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/COUNTEREXAMPLE P1/);
    expect(bad.out).toMatch(/posted vector 0x[0-9a-f]+ into vm2\.vcpu\d of another domain/);
    // The counterexample names the module relative to where it was written, and replays.
    expect(readFileSync(out, 'utf8')).toMatch(/policy: \.\.\/.*examples\/refuse-logical-no-owner-check-policy\.js/);
    const replay = await cli(['run', out]);
    expect(replay.code).toBe(1);
    expect(replay.out).toMatch(/P1 interrupt isolation: VIOLATED/);
  });

  // Without its own loadScenarioModulesOf the worker's prepareCheck throws 'not loaded' (the chunk
  // rejects); the correct example's chunk holding is the CLI check above (one pool costs ~5 s).
  it("a check worker thread loads the module itself (the registry is per thread)", async () => {
    const overrides = { runs: 40, steps: 8 };
    const chunkOf = async (file: string) => {
      const text = readFileSync(file, 'utf8');
      await loadScenarioModulesOf(text, file);
      return chunkAt(prepareCheck(text, file, overrides).threat.budget, 0);
    };
    const pool = startPool(readFileSync(broken, 'utf8'), broken, overrides, 1);
    try {
      expect((await pool.runChunk(await chunkOf(broken))).failed).toBe(true);
    } finally {
      await pool.close();
    }
  });
});

describe('loading errors are one exit-2 line naming the scenario and platform.policy / platform.vmm', () => {
  const scenario = (policy: string): string =>
    readFileSync(example, 'utf8').replace('policy: ./refuse-logical-policy.js', `policy: ${policy}`);

  it('a missing module', async () => {
    const f = tmp.write('missing.yaml', scenario('./nowhere.js'));
    const r = await cli(['run', f]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/missing\.yaml: platform\.policy: policy module '\.\/nowhere\.js' not found/);
  });

  it('a module that does not implement the interface, naming each missing member', async () => {
    tmp.write('half.js', "export default { name: 'half', summary: 's', source: 's', broken: false, postedVector: 0xf2, wakeupVector: 300, initialPid() {} };\n");
    const r = await cli(['run', tmp.write('half.yaml', scenario('./half.js'))]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/platform\.policy: policy module '\.\/half\.js' does not implement the policy interface: wakeupVector must be an integer vector 0\.\.255; respond is missing/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('a module that throws while loading, and one exporting nothing', async () => {
    tmp.write('throws.js', "throw new Error('boom');\n");
    const a = await cli(['run', tmp.write('throws.yaml', scenario('./throws.js'))]);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/policy module '\.\/throws\.js' failed to load: boom/);
    tmp.write('empty.js', 'export const x = 1;\n');
    const b = await cli(['check', tmp.write('empty.yaml', scenario('./empty.js')), '--no-write']);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/exports no policy object \(export default, or export const policy\)/);
  });

  it('an unknown built-in name says a module path is accepted too', async () => {
    const r = await cli(['run', tmp.write('unknown.yaml', scenario('kvmm'))]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/platform\.policy: expected one of "kvm", .*, or a module path like \.\/my-policy\.js/);
  });

  it('compiling a scenario whose module was not loaded is an InputError, not a crash', () => {
    const parsed = parseScenarioText(scenario('./never-loaded.js'), `${tmp.dir}/x.yaml`);
    expect(() => compileScenario(parsed)).toThrow(InputError);
    expect(() => compileScenario(parsed)).toThrow(/hypervisor policy module '\.\/never-loaded\.js' is not loaded/);
  });
});

describe('a user-written VMM design (platform.vmm: ./design.js)', () => {
  const original = repo('specs/vmm/qemu-kvm-posted.yaml');
  const text = readFileSync(original, 'utf8').replace('dmar: ../../data/', `dmar: ${repo('data')}/`);

  it('runs like the built-in design it wraps, and a design missing a member is refused', async () => {
    tmp.write('design.js', `import { VMM_DESIGNS } from '${srcUrl('vmm/index.ts')}';\nexport const design = { ...VMM_DESIGNS['qemu-kvm'], name: 'my-qemu' };\n`);
    const mine = parseScenarioText(text.replace('vmm: qemu-kvm', 'vmm: ./design.js'), `${tmp.dir}/mine.yaml`);
    await loadScenarioModules(mine);
    const a = runScenario(compileScenario(mine));
    const b = runScenario(compileScenario(parseScenarioText(text, original)));
    expect(a.final.vmm?.design).toBe('./design.js');
    expect(a.ok).toBe(b.ok);
    expect(a.steps.map((s) => s.events.length)).toEqual(b.steps.map((s) => s.events.length));

    tmp.write('bad-design.js', `import { VMM_DESIGNS } from '${srcUrl('vmm/index.ts')}';\nconst { virtualPending, ...rest } = VMM_DESIGNS['qemu-kvm'];\nexport default { ...rest, hypercalls: [1] };\n`);
    const bad = parseScenarioText(text.replace('vmm: qemu-kvm', 'vmm: ./bad-design.js'), `${tmp.dir}/bad.yaml`);
    await expect(loadScenarioModules(bad)).rejects.toThrow("VMM design module './bad-design.js' does not implement the VMM design interface: virtualPending is missing; hypercalls must be an array of strings");
  });
});

describe('rebaseFirmwarePaths', () => {
  it('rebases a module path of platform.policy / platform.vmm, never a built-in name (fails if it rebased `kvm`)', () => {
    const t = 'platform:\n  policy: ./p.js\n  vmm: ../d/design.js\nx:\n  policy: kvm\n';
    expect(rebaseFirmwarePaths(t, '/a/b/s.yaml', '/a/c/out.yaml')).toBe('platform:\n  policy: ../b/p.js\n  vmm: ../d/design.js\nx:\n  policy: kvm\n');
    expect(rebaseFirmwarePaths(t, '/a/b/s.yaml', '/a/b/sub/out.yaml')).toBe('platform:\n  policy: ../p.js\n  vmm: ../../d/design.js\nx:\n  policy: kvm\n');
    expect(rebaseFirmwarePaths('  policy: ./p.js\n', '/a/s.yaml', '/a/o.yaml')).toBe('  policy: ./p.js\n');
  });
});
