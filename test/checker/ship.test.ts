/**
 * Issue 15 goal 5: what makes worker threads cheap to start and a step cheap to search.
 * - src/checker/ship.ts: a prepared check crosses to a thread by structured clone and, with
 *   its memories rebuilt, searches exactly as the original does (same chunk results); what
 *   cannot cross (a class instance, a memory without its fields) is refused, not garbled.
 * - src/checker/check.ts compileSteps: generated steps compiled once each against the
 *   skeleton's platform compiled once give the actions of compiling each run whole, as the
 *   checker did before; and a step kind whose compile depends on earlier steps (not an
 *   adversary kind) shows the comparison can fail.
 * Worker threads themselves are exercised by test/checker/check.test.ts ("worker threads").
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { compileSteps, prepareCheck, runArbitrary, searchChunk, chunkAt, type PreparedCheck } from '../../src/checker/check.ts';
import { receiveCheck, shipCheck, type ShippedCheck } from '../../src/checker/ship.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { repo } from '../cli/cli-harness.ts';

const read = (f: string): string => readFileSync(repo(f), 'utf8');
const prepared = new Map<string, PreparedCheck>();
const prepare = (f: string): PreparedCheck => {
  let p = prepared.get(f);
  if (p === undefined) prepared.set(f, (p = prepareCheck(read(f), repo(f), { steps: 12 })));
  return p;
};

/** Ship `p` through structured clone, as a worker's workerData arrives. */
function shipped(p: PreparedCheck): ShippedCheck {
  const s = shipCheck(p);
  if ('unshippable' in s) throw new Error(s.unshippable);
  return structuredClone(s);
}

/** A chunk result without its timing. */
const outcome = (r: ReturnType<typeof searchChunk>) => ({ ...r, ms: 0 });

// VT-d with interleaving, AMD-Vi, a VMM with a device-model adversary, IMS hypercalls.
const FILES = ['specs/default.yaml', 'specs/attacks/torn-irte-insecure.yaml', 'specs/attacks/amd-stale-irte-insecure.yaml', 'specs/attacks/ims-unbound-insecure.yaml'];

describe('a prepared check shipped to a thread', () => {
  for (const f of FILES) {
    it(`${f}: searches a chunk as the original does`, () => {
      const p = prepare(f);
      const c = receiveCheck(shipped(p));
      expect(c.base.initial.memory).toBeInstanceOf(PhysicalMemory);
      expect(PhysicalMemory.isDirect(c.base.initial.memory)).toBe(true);
      // Every state's memory reads as the original's; states that shared a memory still do.
      c.states.forEach((s, i) => expect(s.memory.toJSON()).toEqual(p.states[i]!.memory.toJSON()));
      const sharedHere = p.states.filter((s, i) => i > 0 && s.memory === p.states[i - 1]!.memory).length;
      const sharedThere = c.states.filter((s, i) => i > 0 && s.memory === c.states[i - 1]!.memory).length;
      expect(sharedThere).toBe(sharedHere);
      const chunk = { ...chunkAt({ ...p.threat.budget, runs: 6 }, 0) };
      expect(outcome(searchChunk(c, chunk))).toEqual(outcome(searchChunk(p, chunk)));
    });
  }

  it('is refused when a state holds a class instance structured clone would strip', () => {
    const p = prepare('specs/default.yaml');
    class Opaque {
      readonly x = 1;
    }
    const bad = { ...p, states: [...p.states.slice(0, -1), { ...p.states[p.states.length - 1]!, hypervisor: { ...p.states[p.states.length - 1]!.hypervisor, odd: new Opaque() } }] } as unknown as PreparedCheck;
    const s = shipCheck(bad);
    expect('unshippable' in s && s.unshippable).toMatch(/Opaque/);
    expect('unshippable' in shipCheck(p)).toBe(false);
  });

  it('rejects a received memory that is not a PhysicalMemory', () => {
    const s = shipped(prepare('specs/default.yaml'));
    delete (s.context.base.initial.memory as unknown as { root?: unknown }).root;
    expect(() => receiveCheck(s)).toThrow(/not a PhysicalMemory/);
  });
});

describe('generated steps compiled once each', () => {
  for (const f of FILES) {
    it(`${f}: give the actions of compiling each run whole against the skeleton`, () => {
      const p = prepare(f);
      fc.assert(
        fc.property(runArbitrary(p, 12), (run) => {
          const memo = compileSteps(p, run.steps).map((s) => [s.label, s.actions]);
          const whole = compileScenario({ file: p.file, data: { ...p.skeleton, steps: run.steps }, lineAt: () => undefined }).steps.map((s) => [s.label, s.actions]);
          expect(memo).toEqual(whole);
        }),
        { seed: 5, numRuns: 20 },
      );
    });
  }

  it('a step kind that depends on the steps before it would not compile alike (why only adversary kinds are memoised)', () => {
    const p = prepare('specs/default.yaml');
    const irte = { irte: { iommu: 0, index: 1, vector: 0x30, destination: 0x100 } };
    // After enable-ir with EIME the destination is x2APIC; before it, xAPIC's 8 bits cannot hold 0x100.
    const steps = [{ 'enable-ir': { iommu: 0, base: 0x100000000, eime: true, entries: 256 } }, irte];
    const whole = compileScenario({ file: p.file, data: { ...p.skeleton, steps }, lineAt: () => undefined }).steps;
    expect(whole[1]!.actions.length).toBeGreaterThan(0);
    expect(() => compileScenario({ file: p.file, data: { ...p.skeleton, steps: [irte] }, lineAt: () => undefined })).toThrow(/does not fit/);
  });
});
