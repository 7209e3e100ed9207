/**
 * A transition that changes no hardware state returns the very state object it was given
 * (issue 15 goal 1): an interrupt that hits the IEC, a DMA read that hits the IOTLB, a
 * rejected action. One that changes something returns a new state and leaves the old one as it
 * was. Real scenarios: each MSI write and DMA read of the scenario is applied twice to its
 * final state; the second time its translation is cached.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { applyAction, applyActions } from '../../src/platform/transition.ts';
import { buildPlatform } from '../../src/platform/build.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import type { Action } from '../../src/platform/actions.ts';

function finalState(file: string): { state: PlatformState; actions: Action[] } {
  const c = compileScenario(parseScenarioText(readFileSync(file, 'utf8'), file));
  const actions = c.steps.flatMap((s) => [...s.actions]);
  return { state: applyActions(buildPlatform(c.platform), actions).state, actions };
}

const serialise = (s: PlatformState): string => JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

describe('a transition that changes nothing returns the same state', () => {
  it('an IEC hit: the second delivery of each MSI write and device signal of specs/default.yaml', () => {
    const { state, actions } = finalState('specs/default.yaml');
    let hits = 0;
    for (const a of actions.filter((x) => x.kind === 'msi-write' || x.kind === 'signal')) {
      const first = applyAction(state, a);
      const second = applyAction(first.state, a);
      const kinds = second.events.map((e) => e.kind);
      if (kinds.length === 1 && kinds[0] === 'interrupt-delivered') {
        expect(second.state).toBe(first.state);
        hits++;
      }
      // A fault records an FRCD: something changed, so a new state.
      if (kinds.includes('interrupt-fault') && second.events.some((e) => e.kind === 'interrupt-fault' && e.frcd !== undefined)) expect(second.state).not.toBe(first.state);
    }
    expect(hits).toBeGreaterThan(0);
  });

  it('an IOTLB hit: the second read of each DMA of specs/dma/nested.yaml', () => {
    const { state, actions } = finalState('specs/dma/nested.yaml');
    let hits = 0;
    for (const a of actions.filter((x) => x.kind === 'dma')) {
      const read = { ...a, write: false, value: 0n };
      const first = applyAction(state, read);
      const second = applyAction(first.state, read);
      if (second.events.length === 1 && second.events[0]!.kind === 'dma-access' && second.events[0]!.translation === 'iotlb-hit') {
        expect(second.state).toBe(first.state);
        hits++;
      }
    }
    expect(hits).toBeGreaterThan(0);
  });

  it('a vector signalled again while its MSI-X entry is masked stays pending: the same state', () => {
    const { state, actions } = finalState('specs/default.yaml');
    const sig = actions.find((a): a is Extract<Action, { kind: 'signal' }> => a.kind === 'signal');
    expect(sig).toBeDefined();
    const masked = applyAction(state, { kind: 'program-msix', device: sig!.device, entry: sig!.vector, masked: true }).state;
    const first = applyAction(masked, sig!);
    expect(first.events.map((e) => e.kind)).toEqual(['msi-pending']);
    expect(first.state).not.toBe(masked);
    const second = applyAction(first.state, sig!);
    expect(second.events.map((e) => e.kind)).toEqual(['msi-pending']);
    expect(second.state).toBe(first.state);
  });

  it('a rejected action', () => {
    const { state } = finalState('specs/default.yaml');
    const r = applyAction(state, { kind: 'msi-write', device: 'ff:1f.7', address: 0xfee0_0000n, data: 0x30 });
    expect(r.events.map((e) => e.kind)).toEqual(['action-rejected']);
    expect(r.state).toBe(state);
  });

  it('a transition that changes something returns a new state and leaves the old one as it was', () => {
    const { state, actions } = finalState('specs/default.yaml');
    const before = serialise(state);
    const store = actions.find((a) => a.kind === 'write-irte');
    expect(store).toBeDefined();
    const r = applyAction(state, { ...store!, value: 0n } as Action);
    expect(r.state).not.toBe(state);
    expect(serialise(r.state)).not.toBe(before);
    expect(serialise(state)).toBe(before);
  });
});
