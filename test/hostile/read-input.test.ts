// Issue 17: every loader reads a regular file with a bound. /dev/zero as a DMAR table, a FIFO as a
// scenario and an oversized file end at once with one input error.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readInputFile } from '../../src/io/read-input.ts';
import { InputError } from '../../src/io/input-error.ts';
import { MAX_SCENARIO_BYTES } from '../../src/io/limits.ts';
import { loadDmar } from '../../src/vtd/dmar/load.ts';
import { loadIvrs } from '../../src/amdvi/ivrs/load.ts';
import { loadLspci } from '../../src/inputs/lspci.ts';
import { loadLspciTopology } from '../../src/inputs/lspci-topology.ts';
import { loadGroupListing } from '../../src/inputs/iommu-group-listing.ts';
import { parseScenarioFile } from '../../src/scenario/parse.ts';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';

const tmp = tempDir('hostile-read');
afterAll(() => tmp.cleanup());

const error = (f: () => unknown): InputError => {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('no error');
};

describe('readInputFile', () => {
  it('refuses /dev/zero (a character device) without reading it, for every loader', () => {
    for (const load of [loadDmar, loadIvrs, loadLspci, loadLspciTopology, loadGroupListing, parseScenarioFile]) {
      const e = error(() => load('/dev/zero'));
      expect(e.format()).toMatch(/^\/dev\/zero: cannot read .*: it is a character device, not a regular file$/);
    }
  });

  it('refuses a FIFO without waiting for a writer (O_NONBLOCK)', () => {
    const fifo = join(tmp.dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    expect(error(() => parseScenarioFile(fifo)).message).toMatch(/it is a FIFO, not a regular file/);
  });

  it('refuses a directory', () => {
    expect(error(() => loadDmar(tmp.dir)).message).toMatch(/it is a directory/);
  });

  it('accepts exactly maxBytes and refuses one byte more, naming the limit', () => {
    const at = tmp.write('at.txt', 'x'.repeat(100));
    expect(readInputFile(at, { maxBytes: 100, what: 'thing' }).length).toBe(100);
    const e = error(() => readInputFile(at, { maxBytes: 99, what: 'thing' }));
    expect(e.format()).toBe(`${at}: file size: thing is 100 bytes; the limit is 99 bytes (99 bytes; see docs/limits.md)`);
  });

  it('a 50 MB scenario is refused at once (the limit is 1 MiB)', () => {
    const big = tmp.write('big.yaml', `name: x\n# ${'y'.repeat(MAX_SCENARIO_BYTES)}\n`);
    expect(error(() => parseScenarioFile(big)).format()).toMatch(/file size: scenario is \d+ bytes; the limit is 1 MiB/);
  });

  it('CLI: a scenario whose platform.dmar is /dev/zero: exit 2, one line', async () => {
    const s = tmp.write(
      'zero.yaml',
      ['name: zero', 'platform:', '  dmar: /dev/zero', '  cpus: { count: 1 }', 'domains:', '  - { name: host, kind: host, cpus: [0] }', 'steps: []', ''].join('\n'),
    );
    const r = await cli(['run', s]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`remapsim: ${s}:3: platform.dmar: /dev/zero: cannot read DMAR table: it is a character device, not a regular file\n`);
  });

  it('CLI: import dmar /dev/zero: exit 2, one line', async () => {
    const r = await cli(['import', 'dmar', '/dev/zero']);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/character device/);
  });

  it('CLI: every command that reads a scenario refuses a FIFO at once (report read it with readFileSync, which waited for a writer)', async () => {
    const fifo = join(tmp.dir, 'cmd-fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    for (const argv of [['run', fifo], ['dump', fifo], ['check', fifo, '--no-write', '--workers', '1'], ['report', fifo, '--out', join(tmp.dir, 'r.html')], ['diff', fifo, fifo], ['compare', fifo]]) {
      const r = await cli(argv);
      expect({ argv, code: r.code, err: r.err }).toEqual({ argv, code: 2, err: `remapsim: ${fifo}: cannot read scenario: it is a FIFO, not a regular file\n` });
    }
  }, 60_000);

  it('CLI: a missing file says so in words and keeps the errno name', async () => {
    const r = await cli(['run', join(tmp.dir, 'nope.yaml')]);
    expect(r.err).toBe(`remapsim: ${join(tmp.dir, 'nope.yaml')}: cannot read scenario: no such file or directory (ENOENT)\n`);
  });

  it('a text dump whose first line is the title DMAR is read as text, not as a binary table', () => {
    const dsl = repo('data/real-inputs/dmar/dell-latitude-9420.dsl');
    const f = tmp.write('titled.dsl', `DMAR\n${execFileSync('cat', [dsl]).toString('utf8')}`);
    expect(loadDmar(f).drhd.length).toBe(loadDmar(dsl).drhd.length);
  });
});
