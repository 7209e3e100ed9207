/**
 * The CLI and documentation fixes of issue 14 item 8: counterexamples go to the current
 * directory (rebased `ivrs:` path, nothing beside the input), the README's check example is
 * real output, `dump` without a scenario prints its usage (exit 2), `--version`, `run --help`
 * names every property, and no reference a user cannot follow in the docs or the CLI output.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cli, repo, tempDir } from './cli-harness.ts';

const tmp = tempDir('fixes');
afterAll(() => tmp.cleanup());

/** Run the CLI in-process with `dir` as the current directory. */
async function cliIn(dir: string, argv: readonly string[]): Promise<Awaited<ReturnType<typeof cli>>> {
  const before = process.cwd();
  process.chdir(dir);
  try {
    return await cli(argv);
  } finally {
    process.chdir(before);
  }
}

describe('remapsim check writes the counterexample to the current directory', () => {
  it('with its relative ivrs: path rebased, so it replays from there; nothing beside the input', async () => {
    const input = repo('specs/attacks/amd-ir-off-insecure.yaml');
    const r = await cliIn(tmp.dir, ['check', input, '--workers', '1']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('written to amd-ir-off-insecure.counterexample.yaml; replay: remapsim run amd-ir-off-insecure.counterexample.yaml');
    expect(existsSync(repo('specs/attacks/amd-ir-off-insecure.counterexample.yaml'))).toBe(false);
    const written = join(tmp.dir, 'amd-ir-off-insecure.counterexample.yaml');
    const ivrs = /^\s+ivrs:\s*(\S+)/m.exec(readFileSync(written, 'utf8'))![1]!;
    expect(resolve(tmp.dir, ivrs)).toBe(repo('data/real-inputs/ivrs/lenovo-thinkpad-t14-gen3-amd.bin'));
    const replay = await cliIn(tmp.dir, ['run', 'amd-ir-off-insecure.counterexample.yaml']);
    expect(replay.code).toBe(1);
    expect(replay.out).toMatch(/^VIOLATION P1 /m);
  });

  it("the README's check example is its real output (run from a clean directory; times aside)", async () => {
    const readme = readFileSync(repo('README.md'), 'utf8');
    const block = /`npx remapsim check specs\/attacks\/stale-iec-insecure\.yaml`:\n\n```\n([\s\S]*?)```/.exec(readme);
    expect(block).not.toBeNull();
    const dir = join(tmp.dir, 'readme');
    await import('node:fs').then((fs) => fs.mkdirSync(dir));
    const r = await cliIn(dir, ['check', repo('specs/attacks/stale-iec-insecure.yaml'), '--workers', '1']);
    const times = (s: string): string => s.replace(/\(\d+\.\d+ s\)/g, '(T s)');
    const output = times(r.out.replaceAll(`${repo('')}/`, '')).split('\n');
    let at = 0;
    for (const line of block![1]!.trimEnd().split('\n')) {
      if (line === '...') continue;
      const found = output.indexOf(times(line), at);
      expect(found, `README line not in the output: ${line}\n${r.out}`).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
    expect(readdirSync(dir)).toEqual(['stale-iec-insecure.counterexample.yaml']);
  });
});

describe('command line', () => {
  it('remapsim dump without a scenario: one error line, the usage, exit 2', async () => {
    const r = await cli(['dump']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe("remapsim: missing required argument 'scenario'\nusage: remapsim dump [options] <scenario> (remapsim dump --help for more)\n");
  });

  it('remapsim --version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(repo('package.json'), 'utf8')) as { version: string };
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${version}\n`);
  });

  it('run --help names every property the run judges, not only P1', async () => {
    const r = await cli(['run', '--help']);
    const text = r.out.replace(/\s+/g, ' ');
    for (const p of ['P1', 'P2', 'P3', 'P4', 'P6', 'P7']) expect(text).toContain(p);
  });

  it('check --help: the counterexample goes to the current directory', async () => {
    expect((await cli(['check', '--help'])).out.replace(/\s+/g, ' ')).toContain('default NAME.counterexample.yaml in the current directory');
  });
});

/** References a reader cannot follow: the design notes, issue numbers, the private fact sheets, bare seed numbers. */
const UNFOLLOWABLE = /DESIGN\.md|\b[Ii]ssue #?\d+\b|reference sheet|\bsheet §|(?<!thread )\bseed \d{3}\b/;

describe('no reference a user cannot follow', () => {
  it('the pattern catches each kind', () => {
    for (const bad of ['see DESIGN.md §3', '(issue #6)', 'issue 12 item 4', 'reference sheet §1.4', 'sheet §8.8', '[seed 000: D. Woodhouse]']) expect(bad).toMatch(UNFOLLOWABLE);
    for (const ok of ['seed thread 000 (docs/threads/)', 'seed 1: chunk 0', 'fast-check seed 2980047484', 'VT-d §9.10']) expect(ok).not.toMatch(UNFOLLOWABLE);
  });

  const docs = ['README.md', ...readdirSync(repo('docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), 'data/guest-support.yaml'];
  it.each(docs)('%s', (file) => {
    const bad = readFileSync(repo(file), 'utf8')
      .split('\n')
      .map((l, i) => [i + 1, l] as const)
      .filter(([, l]) => UNFOLLOWABLE.test(l));
    expect(bad.map(([n, l]) => `${file}:${n}: ${l.slice(0, 160)}`)).toEqual([]);
  });

  it('the help of every command and the explore report', async () => {
    const words = [[], ['run'], ['dump'], ['check'], ['explore'], ['groups'], ['compare'], ['report'], ['import'], ['decode'], ['decode', 'msi'], ['decode', 'lspci']];
    for (const w of words) expect((await cli([...w, '--help'])).out).not.toMatch(UNFOLLOWABLE);
    for (const guest of ['linux', 'windows', 'freebsd']) {
      const r = await cli(['explore', '--topology', '1s:2c:1t', '--guest', guest, '--json']);
      expect(r.code).toBe(0);
      expect(r.out).not.toMatch(UNFOLLOWABLE);
      const text = await cli(['explore', '--topology', '1s:2c:1t', '--guest', guest]);
      expect(text.out).not.toMatch(UNFOLLOWABLE);
    }
  });
});
