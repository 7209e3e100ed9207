// The CLI loads a command's implementation only when that command runs (src/cli/main.ts):
// here the implementation modules are replaced by empty ones that record being loaded.
// Help (of the program and of every command) and `decode msi` must load none of them.
import { availableParallelism } from 'node:os';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultThreads } from '../../src/checker/pool.ts';
import { cli, repo } from './cli-harness.ts';

const loaded = vi.hoisted(() => new Set<string>());
vi.mock('../../src/cli/check.ts', () => (loaded.add('src/cli/check.ts'), {}));
vi.mock('../../src/cli/explore.ts', () => (loaded.add('src/cli/explore.ts'), {}));
vi.mock('../../src/cli/groups.ts', () => (loaded.add('src/cli/groups.ts'), {}));
vi.mock('../../src/cli/import-dmar.ts', () => (loaded.add('src/cli/import-dmar.ts'), {}));
vi.mock('../../src/scenario/run.ts', () => (loaded.add('src/scenario/run.ts'), {}));
vi.mock('../../src/checker/check.ts', () => (loaded.add('src/checker/check.ts'), {}));
vi.mock('../../src/explorer/explore.ts', () => (loaded.add('src/explorer/explore.ts'), {}));
vi.mock('../../src/fabric/groups.ts', () => (loaded.add('src/fabric/groups.ts'), {}));

describe('commands load their implementation lazily', () => {
  beforeEach(() => {
    expect([...loaded]).toEqual([]);
  });

  it('--help lists every command without loading any', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['run [options] <scenario>', 'dump [options] <scenario>', 'import', 'decode', 'explore [options]', 'check [options] <scenario>', 'groups [options] <file>']) expect(r.out).toContain(c);
  });

  it.each([['run'], ['dump'], ['import', 'dmar'], ['decode', 'lspci'], ['decode', 'msi'], ['explore'], ['check'], ['groups']])('%s %s --help', async (...words) => {
    const r = await cli([...words.filter((w) => w !== undefined), '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: remapsim /);
  });

  it("check's help names the pool's default worker count", async () => {
    const r = await cli(['check', '--help']);
    expect(availableParallelism()).toBe(defaultThreads());
    expect(r.out.replace(/\s+/g, ' ')).toContain(`(default: every core, ${defaultThreads()} here; 1 = this thread)`);
  });

  it('decode msi runs without the other commands', async () => {
    const r = await cli(['decode', 'msi', 'fee00538', '0']);
    expect(r).toEqual({ code: 0, out: 'fee00538/0000 remappable: handle 0x29 SHV=1 subhandle 0x0 → IRTE index 0x29\n', err: '' });
  });

  it('bad arguments are rejected before anything is loaded', async () => {
    expect((await cli(['check', 'x.yaml', '--runs', '0'])).code).toBe(2);
    expect((await cli(['groups'])).code).toBe(2);
  });

  it('a command loads its module when it runs', async () => {
    // The stand-in modules export nothing, so the command fails once it has loaded its module.
    const dump = repo('data/real-inputs/lspci/lenovo-thinkpad-t14-gen3-amd_696E48381F84_arch-6.4.9_lspci-vvnn.txt');
    for (const [argv, module] of [
      [['groups', dump], 'src/cli/groups.ts'],
      [['check', 'x.yaml'], 'src/cli/check.ts'],
      [['explore', '--topology', '1s:2c:1t'], 'src/cli/explore.ts'],
      [['import', 'dmar', 'x.bin'], 'src/cli/import-dmar.ts'],
      [['run', 'x.yaml'], 'src/scenario/run.ts'],
    ] as const) {
      await expect(cli(argv)).rejects.toThrow();
      expect(loaded.has(module)).toBe(true);
    }
    loaded.clear();
  });
});
