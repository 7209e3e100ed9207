/**
 * A short run of every fuzz target (fuzz/targets.ts) with a fixed seed: no crash, hang,
 * unclear message or accepted garbage. The long runs are `npm run fuzz -- --target NAME
 * --count N --seed S` (docs/reliability.md). Also shown able to fail: the classifier
 * reports a parser that throws a TypeError as a crash, an InputError without line or field
 * as unclear, and an lspci BDF out of range as garbage.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_COMMAND_NAMES, cliTemplates, TARGETS } from '../../fuzz/targets.ts';
import { fuzzTarget } from '../../fuzz/harness.ts';
import { classify, outOfRangeBdf } from '../../fuzz/classify.ts';
import { InputError } from '../../src/io/input-error.ts';

const SEED = 0x16_0004;
/**
 * Inputs per target, sized to keep this file within 20 s on the shared 2-core machine: the binary
 * parsers take well under a millisecond each, the .dsl and lspci readers 2–5 ms, scenario, cli and
 * transitions 10–15 ms (transitions also builds its reachable states once, ~3 s, and
 * test/fuzz/transitions.test.ts runs 550 more of its inputs).
 */
const COUNT: Record<string, number> = {
  scenario: 300, cli: 200, transitions: 250, lspci: 600, 'dmar-dsl': 800, 'ivrs-dsl': 800,
  // cli-NAME: one command each (fuzz/targets.ts CLI_COMMANDS), 2-12 ms an input for those that run a scenario
  'cli-run': 100, 'cli-dump': 100, 'cli-check': 80, 'cli-explore': 50, 'cli-diff': 80, 'cli-compare': 50, 'cli-report': 80,
  'cli-groups': 300, 'cli-help': 300, 'cli-import-dmar': 500, 'cli-import-ivrs': 500, 'cli-import-debugfs': 500, 'cli-decode-lspci': 500, 'cli-decode-msi': 500,
};
const out = mkdtempSync(join(tmpdir(), 'remapsim-fuzz-test-'));

describe('fuzz targets, short run', () => {
  for (const name of Object.keys(TARGETS)) {
    it(`${name}: no crash, hang, unclear message or garbage`, async () => {
      // fuzzTarget runs one unclassified input first (the target's one-off costs).
      const s = await fuzzTarget(TARGETS[name]!, COUNT[name] ?? 1500, SEED, out);
      expect(s.failures.map((f) => `${f.outcome} #${f.index}: ${f.detail.split('\n')[0]} (${f.file})`)).toEqual([]);
      expect(s.counts.ok + s.counts['input-error']).toBe(s.count);
    }, 60_000);
  }
});

describe('the cli-NAME targets start from valid invocations', () => {
  // A template naming no command (e.g. `decode dmar`: the table readers are `import dmar`) would make
  // its target fuzz commander's "unknown command" error alone.
  for (const name of CLI_COMMAND_NAMES) {
    it(`${name}: every template runs (exit 0, or 1 for a difference or a counterexample)`, async () => {
      for (const argv of cliTemplates(name)) {
        const r = (await TARGETS[`cli-${name}`]!.run([...argv, ...(argv[0] === 'check' || argv[0] === 'compare' ? ['--workers', '1', '--runs', '2'] : []), ...(argv[0] === 'check' ? ['--no-write'] : []), ...(argv[0] === 'report' ? ['--out', join(out, 'template-report.out')] : [])] as never)) as { code: number; err: string };
        expect(r.code, `${argv.join(' ')}: ${r.err}`).toBeLessThanOrEqual(1);
        expect(r.err, argv.join(' ')).not.toMatch(/^remapsim: |^error: |unknown command|unknown option/m);
      }
    }, 60_000);
  }
});

describe('the classifier can fail', () => {
  it('a TypeError is a crash, a bare InputError unclear, a named one an input error', async () => {
    expect((await classify(() => { throw new TypeError('x'); }, undefined)).outcome).toBe('crash');
    expect((await classify(() => { throw new InputError('x', { file: 'f' }); }, undefined)).outcome).toBe('unclear');
    expect((await classify(() => { throw new InputError('x', { file: 'f', line: 3 }); }, undefined)).outcome).toBe('input-error');
    expect((await classify(() => { throw new InputError('x', { file: 'f', field: 'g' }); }, undefined, { needsLine: true })).outcome).toBe('unclear');
  });
  it('BDFs out of range are garbage', async () => {
    for (const bdf of ['00:00.9', '00:20.0', '100:00.0', '10000:00:00.0']) expect(outOfRangeBdf([{ device: bdf }])).toMatch(/out of range/);
    expect(outOfRangeBdf({ rid: 0x10000 })).toMatch(/out of range/);
    expect(outOfRangeBdf([{ device: '0000:ff:1f.7' }, { rid: 0xffff }])).toBeUndefined();
    expect((await classify(() => ({ device: '00:20.0' }), outOfRangeBdf)).outcome).toBe('garbage');
  });
});
