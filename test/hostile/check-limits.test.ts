// Issue 17: `check` budgets that cannot be honoured are refused or capped with a message; chunks
// are made lazily; the time limit stops a run in progress.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CHUNK_RUNS, MAX_RUN_STEPS, chunkAt, chunkCount, chunksOf, prepareCheck, runCheck, searchChunk, type Chunk, type ChunkResult } from '../../src/checker/check.ts';
import { MAX_FORCED_WORKERS, effectiveWorkers } from '../../src/cli/check.ts';
import { InputError } from '../../src/io/input-error.ts';
import { cli, repo } from '../cli/cli-harness.ts';

const FILE = repo('specs/attacks/deferred-iotlb-secure.yaml');
const TEXT = readFileSync(FILE, 'utf8');

describe('--workers', () => {
  it('is capped at the cores with a one-line note, unless --force-workers (itself capped at 64)', () => {
    expect(effectiveWorkers(1000, 2, false)).toEqual({ workers: 2, note: "remapsim: --workers 1000 capped at 2, the machine's cores (--force-workers to use more)" });
    expect(effectiveWorkers(2, 2, false)).toEqual({ workers: 2, note: undefined });
    expect(effectiveWorkers(8, 2, true)).toEqual({ workers: 8, note: undefined });
    expect(() => effectiveWorkers(1000, 2, true)).toThrow(InputError);
    expect(() => effectiveWorkers(MAX_FORCED_WORKERS + 1, 2, true)).toThrow(/exceeds the limit of 64 even with --force-workers/);
  });

  it('compare --workers is capped the same way (a note, the comparison still runs), and refused above 64 with --force-workers', async () => {
    const cores = (await import('node:os')).availableParallelism();
    const capped = await cli(['compare', repo('specs/vmm/compare-all.yaml'), '--vmm', 'qemu-kvm', '--runs', '10', '--workers', '1000']);
    expect(capped.err).toContain(`remapsim: --workers 1000 capped at ${cores}, the machine's cores (--force-workers to use more)`);
    expect(capped.out).toContain('qemu-kvm');
    const refused = await cli(['compare', repo('specs/vmm/compare-all.yaml'), '--vmm', 'qemu-kvm', '--workers', '1000', '--force-workers']);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('--workers: 1000 workers exceeds the limit of 64 even with --force-workers');
  });
});

describe('--steps', () => {
  it('4294967295 steps per run is refused naming --steps; the scenario\'s own budget names check.budget.steps', () => {
    expect(() => prepareCheck(TEXT, FILE, { steps: 4294967295 })).toThrow(/4294967295 adversary steps per run exceeds the limit of 10000/);
    try {
      prepareCheck(TEXT, FILE, { steps: MAX_RUN_STEPS + 1 });
    } catch (e) {
      expect((e as InputError).field).toBe('--steps');
    }
    const own = TEXT.replace('steps: 25,', `steps: ${MAX_RUN_STEPS + 1},`);
    expect(own).not.toBe(TEXT);
    try {
      prepareCheck(own, FILE);
      expect.unreachable();
    } catch (e) {
      expect((e as InputError).field).toBe('check.budget.steps');
    }
  });

  it('CLI: check --steps 4294967295 --seconds 5: exit 2 at once, one line', async () => {
    const r = await cli(['check', FILE, '--steps', '4294967295', '--seconds', '5', '--no-write', '--workers', '1']);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`remapsim: ${FILE}: --steps: 4294967295 adversary steps per run exceeds the limit of ${MAX_RUN_STEPS} (docs/limits.md)\n`);
  });
});

describe('the time limit inside a run', () => {
  it('a chunk of runs of up to 10,000 steps with a deadline already near stops in the run and says so', () => {
    const p = prepareCheck(TEXT, FILE, { steps: MAX_RUN_STEPS, runs: CHUNK_RUNS });
    const r = searchChunk(p, { ...chunkAt(p.threat.budget, 0), deadline: Date.now() + 200 });
    expect(r.timedOut).toBe(true);
    expect(r.runs).toBeLessThan(CHUNK_RUNS);
    // Without a deadline the same chunk is not cut (one run, to keep the test short).
    const one = searchChunk(p, { index: 0, seed: chunkAt(p.threat.budget, 0).seed, runs: 1 });
    expect(one.timedOut).toBeUndefined();
    expect(one.runs).toBe(1);
  });
});

describe('--runs 4294967295', () => {
  it('chunks are made on demand: the check dispatches a handful and stops at the time limit', async () => {
    const p = prepareCheck(TEXT, FILE, { runs: 4294967295, seconds: 0.3 });
    expect(chunkCount(p.threat.budget)).toBe(Math.ceil(4294967295 / CHUNK_RUNS));
    expect(chunkAt(p.threat.budget, chunkCount(p.threat.budget) - 1).runs).toBe(4294967295 % CHUNK_RUNS || CHUNK_RUNS);
    const seen: Chunk[] = [];
    const runChunk = async (c: Chunk): Promise<ChunkResult> => {
      seen.push(c);
      await new Promise((r) => setTimeout(r, 20));
      return { index: c.index, seed: c.seed, runs: c.runs, failed: false, path: undefined, steps: undefined, at: undefined, shrinks: 0, error: undefined, coverage: { runs: c.runs, steps: 0, actions: {}, faults: {}, deliveries: 0, postings: 0, dmaAccesses: 0, dmaFaults: 0, rejected: 0 }, ms: 20 };
    };
    const r = await runCheck(p, { runChunk, concurrency: 2 });
    expect(r.stopped).toBe('time');
    expect(seen.length).toBeLessThan(100);
    expect(seen.every((c) => c.deadline !== undefined)).toBe(true);
    expect(r.runs).toBe(seen.length * CHUNK_RUNS);
  });

  it('chunksOf still lists a small budget\'s chunks, equal to chunkAt', () => {
    const p = prepareCheck(TEXT, FILE, { runs: 120 });
    expect(chunksOf(p.threat.budget)).toEqual([0, 1, 2].map((i) => chunkAt(p.threat.budget, i)));
  });
});
