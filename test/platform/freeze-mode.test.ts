/**
 * Debug freezing (src/platform/freeze-mode.ts): vitest sets REMAPSIM_FREEZE=1, so every state
 * a transition returns is deep-frozen, and no later transition changes it. Runs real scenarios
 * action by action, checking after each that the new state is frozen throughout and, at the
 * end, that every state returned on the way still serialises as it did when it was returned.
 * Also: applyActions gives the same state and events as applyAction in a loop. The checks are
 * shown able to fail (an unfrozen nested object, a changed earlier state).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { FREEZE_STATES } from '../../src/platform/freeze-mode.ts';
import { applyAction, applyActions } from '../../src/platform/transition.ts';
import { buildPlatform } from '../../src/platform/build.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import type { Action } from '../../src/platform/actions.ts';

const SPECS = ['specs/default.yaml', 'specs/examples/posted-kvm.yaml', 'specs/examples/posted-xen.yaml', 'specs/dma/nested.yaml', 'specs/vmm/compare-all.yaml'];

function scenario(file: string): { initial: PlatformState; actions: Action[] } {
  const c = compileScenario(parseScenarioText(readFileSync(file, 'utf8'), file));
  return { initial: buildPlatform(c.platform), actions: c.steps.flatMap((s) => [...s.actions]) };
}

/** The first plain object or array under `value` that is not frozen, as a path; undefined if none. */
function unfrozenPath(value: unknown, path = 'state', seen = new Set<object>()): string | undefined {
  if (typeof value !== 'object' || value === null || seen.has(value)) return undefined;
  seen.add(value);
  const proto: unknown = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return undefined; // class instances (PhysicalMemory) are opaque
  if (!Object.isFrozen(value)) return path;
  for (const [k, v] of Object.entries(value)) {
    const p = unfrozenPath(v, `${path}.${k}`, seen);
    if (p !== undefined) return p;
  }
  return undefined;
}

const serialise = (s: PlatformState): string => JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

describe('debug freezing (REMAPSIM_FREEZE=1 in vitest)', () => {
  it('is on in tests', () => {
    expect(FREEZE_STATES).toBe(true);
  });

  for (const file of SPECS) {
    it(`${file}: every returned state is frozen throughout and never changed afterwards`, () => {
      const { initial, actions } = scenario(file);
      let s = initial;
      const returned: { state: PlatformState; text: string }[] = [];
      for (const [i, a] of actions.entries()) {
        s = applyAction(s, a, i).state;
        expect(unfrozenPath(s)).toBeUndefined();
        returned.push({ state: s, text: serialise(s) });
      }
      expect(returned.length).toBeGreaterThan(3);
      for (const r of returned) expect(serialise(r.state)).toBe(r.text);
      // A write into a returned state throws (ESM code is strict).
      expect(() => {
        (s as { hostAddressWidth: number }).hostAddressWidth = -1;
      }).toThrow(TypeError);
    });

    it(`${file}: applyActions is applyAction in a loop (same state, same events)`, () => {
      const { initial, actions } = scenario(file);
      let s = initial;
      const events = [];
      for (const [i, a] of actions.entries()) {
        const r = applyAction(s, a, 5 + i);
        s = r.state;
        events.push(...r.events);
      }
      const batch = applyActions(initial, actions, 5);
      expect(serialise(batch.state)).toBe(serialise(s));
      expect(batch.events).toEqual(events);
      expect(batch.events[0]!.step).toBe(5);
      expect(unfrozenPath(batch.state)).toBeUndefined();
    });
  }

  it('the checks fail on an unfrozen nested object and on a changed state', () => {
    const { initial, actions } = scenario(SPECS[0]!);
    const s = applyActions(initial, actions).state;
    const thawed = { ...s, interrupts: { ...s.interrupts } } as PlatformState;
    Object.freeze(thawed);
    expect(unfrozenPath(thawed)).toBe('state.interrupts');
    const before = serialise(thawed);
    (thawed.interrupts as { extendedDestinationId: boolean }).extendedDestinationId = !thawed.interrupts.extendedDestinationId;
    expect(serialise(thawed)).not.toBe(before);
  });
});
