/**
 * The checker's parts (src/checker/adversary.ts, check.ts, pool.ts): the `check:`
 * section (schema and semantic errors with lines), the pools and threat-model defaults,
 * the fidelity of compiled adversary steps to what a replay compiles, the deterministic
 * merge of chunks whatever the concurrency, worker threads giving the same result as
 * this thread, and P5 (same seed, same bytes).
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync, readFileSync } from 'node:fs';
import { compileSteps, chunksOf, prepareCheck, runCheck, searchChunk, CHUNK_RUNS, type Chunk, type ChunkResult } from '../../src/checker/check.ts';
import { runChoiceArbitrary, resolveRun, HOT } from '../../src/checker/adversary.ts';
import { startPool } from '../../src/checker/pool.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { scenarioWithSteps } from '../../src/scenario/write.ts';
import { InputError } from '../../src/io/input-error.ts';
import { checkCommand, defaultCounterexamplePath } from '../../src/cli/check.ts';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';

const read = (f: string): string => readFileSync(repo(f), 'utf8');
const tmp = tempDir('check');
afterAll(() => tmp.cleanup());

describe('the check: section', () => {
  const base = read('specs/attacks/svt-none-insecure.yaml');

  it('rejects an unknown field with its line', () => {
    const text = base.replace('    guests: [vm2]', '    guests: [vm2]\n    hackers: 3');
    expect(() => prepareCheck(text, 'x.yaml')).toThrow(InputError);
    try {
      prepareCheck(text, 'x.yaml');
    } catch (e) {
      const err = e as InputError;
      expect(err.field).toBe('check.adversary.hackers');
      expect(text.split('\n')[err.line! - 1]).toContain('hackers');
    }
  });

  it('rejects an adversary that is not a guest domain, with its line', () => {
    for (const [name, message] of [['vm9', /no domain vm9/], ['host', /host, not a guest/]] as const) {
      const text = base.replace('guests: [vm2]', `guests: [${name}]`);
      try {
        prepareCheck(text, 'x.yaml');
        expect.unreachable();
      } catch (e) {
        const err = e as InputError;
        expect(err).toBeInstanceOf(InputError);
        expect(err.message).toMatch(message);
        expect(err.field).toBe('check.adversary.guests[0]');
        expect(text.split('\n')[err.line! - 1]).toContain(`guests: [${name}]`);
      }
    }
  });

  it('rejects an unknown action kind and property', () => {
    expect(() => prepareCheck(base.replace('devices: [msi, signal]', 'devices: [msi, teleport]'), 'x.yaml')).toThrow(/expected one of/);
    expect(() => prepareCheck(base.replace('properties: [P1, P5]', 'properties: [P9]'), 'x.yaml')).toThrow(/expected one of/);
  });

  it('is ignored by remapsim run', async () => {
    const r = await cli(['run', repo('specs/attacks/svt-none-insecure.yaml')]);
    expect(r.code).toBe(0);
  });

  it('defaults: every guest, the kinds the platform supports, all properties, the default budget', () => {
    const p = prepareCheck(read('specs/default.yaml'), repo('specs/default.yaml'));
    expect(p.threat.guests).toEqual(['vm1', 'vm2']);
    // No DMA remapping and no vCPUs in the default scenario: no dma, no guest-msi or scheduling.
    expect(p.threat.kinds).toEqual(['msi', 'signal', 'program-msix', 'msix-control']);
    expect(p.threat.properties).toEqual(['P1', 'P2', 'P3', 'P4', 'P5', 'P6']);
    expect(p.threat.budget).toEqual({ runs: 1000, steps: 50, seconds: 60, seed: 1 });
    expect(prepareCheck(read('specs/default.yaml'), repo('specs/default.yaml'), { runs: 7, seed: 9 }).threat.budget).toMatchObject({ runs: 7, seed: 9 });
  });
});

describe('pools', () => {
  it('hold the handles the scenario programmed, its requester IDs, granted vectors and APIC IDs', () => {
    const p = prepareCheck(read('specs/default.yaml'), repo('specs/default.yaml'));
    expect(p.pools.handles).toEqual([0, 1, 0x20, 0x21, 0x22]);
    expect(p.pools.vectors).toEqual(expect.arrayContaining([0x30, 0x31, 0x32, 0x40, 0x41]));
    expect(p.pools.rids).toEqual(expect.arrayContaining(['81:00.0', '03:00.0', '03:00.1']));
    expect(p.pools.apicIds.slice(0, 16)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(p.pools.devices.map((d) => d.bdf).sort()).toEqual(['03:00.0', '03:00.1', '81:00.0']);
  });

  it('hold the mapped IOVAs first, then the IOMMU structures', () => {
    const p = prepareCheck(read('specs/attacks/pid-mapped-insecure.yaml'), 'x.yaml');
    expect(p.pools.dmaAddresses.slice(0, 4)).toEqual([0, 0x10000, 0x1000_0000, 0x4000_0000]);
  });
});

describe('adversary steps', () => {
  const files = ['specs/default.yaml', 'specs/attacks/pda-any-vm-secure.yaml', 'specs/attacks/deferred-iotlb-secure.yaml', 'specs/attacks/svt-bus-range-insecure.yaml'];
  for (const f of files) {
    it(`${f}: compile to the same actions as in the replayed scenario, and are schema-valid`, () => {
      const text = read(f);
      const p = prepareCheck(text.replace(/requesterIds: own/, 'requesterIds: any'), repo(f));
      const threat = { ...p.threat, requesterIds: 'any' as const };
      fc.assert(
        fc.property(runChoiceArbitrary(threat, 8), (run) => {
          const steps = resolveRun(p.pools, threat, run);
          const fast = compileSteps(p, steps).map((s) => [s.label, s.actions]);
          const full = compileScenario(parseScenarioText(scenarioWithSteps(p.text, steps, 'x'), repo(f))).steps.slice(p.base.steps.length).map((s) => [s.label, s.actions]);
          expect(fast).toEqual(full);
        }),
        { seed: 42, numRuns: 40 },
      );
    });
  }

  it('draw mostly from the hot pools (fields below HOT)', () => {
    const p = prepareCheck(read('specs/default.yaml'), repo('specs/default.yaml'));
    const runs = fc.sample(runChoiceArbitrary(p.threat, 20), { seed: 3, numRuns: 50 });
    const fields = runs.flatMap((r) => r.choices.flatMap((c) => [c.a, c.b, c.c, c.d, c.e, c.f]));
    const hot = fields.filter((x) => x < HOT).length / fields.length;
    expect(hot).toBeGreaterThan(0.85);
    expect(hot).toBeLessThan(0.99);
    // Swarm testing: runs differ in their action weights.
    expect(new Set(runs.map((r) => r.weights.join(','))).size).toBeGreaterThan(10);
  });
});

describe('the search', () => {
  it('merges chunks deterministically: the lowest failing chunk, whatever the concurrency and completion order', async () => {
    const file = repo('specs/attacks/pid-mapped-insecure.yaml');
    const p = prepareCheck(read('specs/attacks/pid-mapped-insecure.yaml'), file, { runs: 6 * CHUNK_RUNS, steps: 3 });
    const results = new Map(chunksOf(p.threat.budget).map((c) => [c.index, searchChunk(p, c)]));
    expect([...results.values()].filter((r) => r.failed).length).toBeGreaterThan(1);
    // Later chunks complete first.
    const reversed = (c: Chunk): Promise<ChunkResult> => new Promise((res) => setTimeout(() => res(results.get(c.index)!), 5 * (10 - c.index)));
    const serial = await runCheck(p);
    const parallel = await runCheck(p, { runChunk: reversed, concurrency: 4 });
    expect(parallel.counterexample?.scenario).toBe(serial.counterexample?.scenario);
    expect(parallel.counterexample?.run).toBe(serial.counterexample?.run);
    expect(parallel.coverage).toEqual(serial.coverage);
  });

  it('worker threads give the same result as this thread', async () => {
    const f = 'specs/attacks/stale-iec-secure.yaml';
    const text = read(f);
    // No time limit to speak of (the scenario's is 10 s): on a loaded machine the threads, loading tsx, could reach it first.
    const overrides = { runs: 4 * CHUNK_RUNS, steps: 10, seconds: 600 };
    const p = prepareCheck(text, repo(f), overrides);
    const pool = startPool(text, repo(f), overrides, 2);
    try {
      const threads = await runCheck(p, { runChunk: pool.runChunk, concurrency: 4 });
      const here = await runCheck(p);
      expect(threads.runs).toBe(4 * CHUNK_RUNS);
      expect(threads.coverage).toEqual(here.coverage);
      expect(threads.counterexample).toBeUndefined();
    } finally {
      await pool.close();
    }
  });

  it('P5: the same seed gives the same counterexample file, byte for byte', async () => {
    const f = repo('specs/attacks/svt-none-insecure.yaml');
    const a = await checkCommand(f, { out: `${tmp.dir}/a.yaml`, workers: 1 });
    const b = await checkCommand(f, { out: `${tmp.dir}/b.yaml`, workers: 1 });
    expect(readFileSync(`${tmp.dir}/a.yaml`, 'utf8')).toBe(readFileSync(`${tmp.dir}/b.yaml`, 'utf8'));
    expect(a.report.replace(/\d+\.\d+ s/g, '').replace(/a\.yaml/g, 'b.yaml')).toBe(b.report.replace(/\d+\.\d+ s/g, ''));
  });

  it('stops when aborted and reports what it did', async () => {
    const p = prepareCheck(read('specs/attacks/svt-none-secure.yaml'), 'x.yaml', { runs: 10 * CHUNK_RUNS, steps: 5 });
    const ac = new AbortController();
    let n = 0;
    const r = await runCheck(p, {
      runChunk: (c) => {
        if (++n === 2) ac.abort();
        return Promise.resolve(searchChunk(p, c));
      },
      signal: ac.signal,
    });
    expect(r.stopped).toBe('interrupted');
    expect(r.runs).toBe(2 * CHUNK_RUNS);
  });

  it('reports the scenario’s own violation without searching', async () => {
    const r = await checkCommand(repo('specs/dma/insecure-stale-iotlb.yaml'), { workers: 1, write: false });
    expect(r.code).toBe(1);
    expect(r.report).toMatch(/own steps already violate/);
    expect(r.result.runs).toBe(0);
  });
});

describe('remapsim check (CLI)', () => {
  it('writes the counterexample to the current directory by default, not beside the input', async () => {
    const src = read('specs/attacks/cfi-compat-bypass-insecure.yaml');
    const file = tmp.write('cfi.yaml', src);
    const cwd = tempDir('check-cwd');
    const before = process.cwd();
    process.chdir(cwd.dir);
    let r: Awaited<ReturnType<typeof cli>>;
    try {
      r = await cli(['check', file, '--workers', '1']);
    } finally {
      process.chdir(before);
    }
    expect(r.code).toBe(1);
    expect(defaultCounterexamplePath(file)).toBe('cfi.counterexample.yaml');
    expect(r.out).toContain('written to cfi.counterexample.yaml; replay: remapsim run cfi.counterexample.yaml');
    expect(existsSync(`${tmp.dir}/cfi.counterexample.yaml`)).toBe(false);
    const replay = await cli(['run', `${cwd.dir}/cfi.counterexample.yaml`]);
    cwd.cleanup();
    expect(replay.code).toBe(1);
    expect(replay.out).toMatch(/^VIOLATION P1 .*compatibility path/m);
  });

  it('exits 0 when the properties hold, with coverage', async () => {
    const r = await cli(['check', repo('specs/default.yaml'), '--runs', '100', '--steps', '20']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^HELD: P1 P2 P3 P4 P6 over 100 runs/m);
    expect(r.out).toMatch(/^ {2}actions: .*msi/m);
    expect(r.out).toMatch(/0x26 .*source-id/);
  });

  it('exits 2 on a bad option or scenario', async () => {
    expect((await cli(['check', repo('specs/default.yaml'), '--runs', '0'])).code).toBe(2);
    const bad = await cli(['check', tmp.write('bad.yaml', 'name: x\nplatform: { cpus: { count: 1 } }\nsteps: []\ncheck: { budget: { runs: -1 } }\n')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/bad\.yaml:4: check\.budget\.runs/);
  });
});
