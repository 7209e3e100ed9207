/**
 * Hardware transitions are total (issue 16 item 1), over reachable states of
 * specs/default.yaml and specs/dma/*.yaml: fast-check drives the transitions fuzz target
 * (the scenarios' own actions with raw field values — NaN, fractions, negative and >64-bit
 * values, unknown devices, misaligned IRTA bases, DMA across 4 KiB pages); ~5,000 actions
 * here, 100,000 with `npm run fuzz -- --target transitions --count 22000`. Also shown able
 * to fail: a transition that throws on a misaligned IRTA base is refuted.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Rng } from '../../fuzz/rng.ts';
import { reachableStates, transitionsTarget } from '../../fuzz/targets.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { PlatformState } from '../../src/platform/state.ts';

const SEED = 0x16_0001;
const inputs = fc.noShrink(fc.integer({ min: 0, max: 0x7fff_ffff })).map((s) => transitionsTarget.mutant(new Rng(s)));

function runWith(apply: (s: PlatformState, a: Action) => unknown, input: ReturnType<typeof transitionsTarget.mutant>): void {
  const r = reachableStates().reach.find((x) => x.spec === input.spec)!;
  let s = r.states[input.stepsBefore]!;
  for (const a of input.actions) {
    apply(s, a);
    const next = applyAction(s, a);
    expect(next.state.step).toBe(s.step + 1);
    s = next.state;
  }
}

describe('transitions are total on reachable states', () => {
  it('~5,000 raw actions: none throws', () => {
    let actions = 0;
    fc.assert(fc.property(inputs, (i) => { actions += i.actions.length; runWith(() => undefined, i); }), { seed: SEED, numRuns: 1100 });
    expect(actions).toBeGreaterThan(4500);
  }, 60_000);

  it('a misaligned IRTA base, a DMA across a page, an address beyond 64 bits: events, not throws', () => {
    const s = reachableStates().reach[0]!.states.at(-1)!;
    const dev = Object.keys(s.devices)[0]!;
    const cases: Action[] = [
      { kind: 'write-irta', iommu: 0, value: 0x1_2345_6781n },
      { kind: 'dma', device: dev, address: 0xffff_ffffn, size: 4, write: true, value: 0n },
      { kind: 'msi-write', device: dev, address: 0xfef0_0fffn, data: 0 },
      { kind: 'write-memory', address: (1n << 64n) - 1n, bytes: 4, value: 0n },
      { kind: 'write-irte', iommu: 0, index: 1.5, value: 0n },
      { kind: 'write-gcmd', iommu: 0, value: Number.NaN },
    ];
    for (const a of cases) {
      const r = applyAction(s, a);
      expect(r.events.length, a.kind).toBeGreaterThan(0);
    }
  });

  it('is shown able to fail: a transition throwing on a misaligned IRTA base is refuted', () => {
    const broken = (_s: PlatformState, a: Action): void => {
      if (a.kind === 'write-irta' && (a.value & 0xfffn) !== 0n) throw new RangeError('IRTA base is not 4 KiB-aligned');
    };
    const withIrta = inputs.map((i) => ({ ...i, actions: [...i.actions, { kind: 'write-irta', iommu: 0, value: 0x1001n } as Action] }));
    expect(() => fc.assert(fc.property(withIrta, (i) => runWith(broken, i)), { seed: SEED, numRuns: 20 })).toThrow(/Property failed/);
  });
});
