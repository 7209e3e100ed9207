/**
 * The copy-based updates that replaced immer's drafts for the device and intent records
 * (src/util/keyed-record.ts `withEntry`, src/platform/grants.ts `grantsWithout`), each
 * against the behaviour it replaced: immer's `produce(r, (d) => { d[key] = value })` (same
 * entries in the same key order, for one update and for chains of updates of the previous copy,
 * over records of many key sets, so through many of withEntry's per-key-set copy functions) and
 * `grants.filter((g) => g.requester !== device)` (same grants in the same order, the very same
 * array when none goes). Inputs are frozen, so a write into one throws. Fixed seeds; each
 * property is shown able to fail against a deliberately broken version.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { produce } from 'immer';
import { withEntry, compactRecord } from '../../src/util/keyed-record.ts';
import { grantsWithout } from '../../src/platform/grants.ts';
import type { Grant } from '../../src/platform/state.ts';

const RUNS = { seed: 15_031, numRuns: 200 };

/**
 * Device-like keys (`bb:dd.f`) and a few integer-like ones (which JS orders first). Not
 * `__proto__`, for which immer's assignment sets the prototype (its own test below).
 */
const key = fc.oneof(
  fc.constantFrom('00:02.0', '10:00.0', '10:01.0', '3a:1f.7', '0001:00:00.0', '7', '42'),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 7 })).map(([b, d, f]) => `${b.toString(16).padStart(2, '0')}:${d.toString(16).padStart(2, '0')}.${f}`),
);
/** A record built key by key (as buildPlatform builds `devices`), frozen. */
const record = fc.array(fc.tuple(key, fc.integer()), { maxLength: 40 }).map((pairs) => {
  const r: Record<string, number> = {};
  for (const [k, v] of pairs) r[k] = v;
  return Object.freeze(r);
});

type WithEntry = (r: Readonly<Record<string, number>>, k: string, v: number) => Readonly<Record<string, number>>;

const likeImmer = (impl: WithEntry) =>
  fc.property(record, key, fc.integer(), (r, k, v) => {
    const before = JSON.stringify(Object.entries(r));
    const got = impl(r, k, v);
    expect(Object.entries(got)).toEqual(Object.entries(produce(r, (d) => void (d[k] = v))));
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(JSON.stringify(Object.entries(r))).toBe(before);
    expect(got).not.toBe(r);
  });

const grant = (requester: string, vector: number): Grant => Object.freeze({ requester, target: Object.freeze({ kind: 'pcpu' as const, apicId: 0 }), vector, deliveryModes: Object.freeze([0, 1]) });
const requester = fc.constantFrom('00:02.0', '10:00.0', '10:01.0', '3a:1f.7');
const grants = fc.array(fc.tuple(requester, fc.integer({ min: 0x10, max: 0xff })), { maxLength: 30 }).map((xs) => Object.freeze(xs.map(([r, v]) => grant(r, v))));

type Without = (g: readonly Grant[], r: string) => readonly Grant[];

const likeFilter = (impl: Without) =>
  fc.property(grants, requester, (gs, r) => {
    const got = impl(gs, r);
    const want = gs.filter((g) => g.requester !== r);
    expect(got.length).toBe(want.length);
    got.forEach((g, i) => expect(g).toBe(want[i]));
    if (want.length === gs.length) expect(got).toBe(gs);
  });

describe('withEntry (src/util/keyed-record.ts)', () => {
  it("gives immer's entries in immer's key order, a new plain object, the input unchanged", () => {
    fc.assert(likeImmer(withEntry), RUNS);
  });

  it("a chain of updates, each of the previous copy, gives immer's records at every step", () => {
    const chain = (impl: WithEntry) =>
      fc.property(record, fc.array(fc.tuple(key, fc.integer()), { maxLength: 20 }), (r, updates) => {
        let mine: Readonly<Record<string, number>> = r;
        let theirs: Readonly<Record<string, number>> = r;
        for (const [k, v] of updates) {
          mine = impl(mine, k, v);
          theirs = produce(theirs, (d) => void (d[k] = v));
          expect(Object.entries(mine)).toEqual(Object.entries(theirs));
        }
      });
    fc.assert(chain(withEntry), RUNS);
    // Refuted for a copy that drops the last key once the record has more than 3.
    const drops: WithEntry = (r, k, v) => {
      const c = { ...withEntry(r, k, v) };
      const keys = Object.keys(c);
      if (keys.length > 3) delete c[keys[keys.length - 1]!];
      return c;
    };
    expect(() => fc.assert(chain(drops), RUNS)).toThrow();
  });

  it('is refuted for a copy that moves an existing key to the end', () => {
    const moves: WithEntry = (r, k, v) => {
      const { [k]: _old, ...rest } = r;
      return { ...rest, [k]: v };
    };
    expect(() => fc.assert(likeImmer(moves), RUNS)).toThrow();
  });

  it('keeps `__proto__` an own entry (no prototype change)', () => {
    const r = withEntry<unknown>(Object.freeze({ a: 1 }), '__proto__', { polluted: true });
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
    expect(Object.keys(r)).toEqual(['a', '__proto__']);
  });

  it('compactRecord copies entries and order', () => {
    fc.assert(
      fc.property(record, (r) => {
        const c = compactRecord(r);
        expect(c).not.toBe(r);
        expect(Object.entries(c)).toEqual(Object.entries(r));
      }),
      RUNS,
    );
  });
});

describe('grantsWithout (src/platform/grants.ts)', () => {
  it('gives what filter gave, in order, and the same array when no grant goes', () => {
    fc.assert(likeFilter(grantsWithout), RUNS);
  });

  it('is refuted for a version that removes only the first grant of the requester', () => {
    const firstOnly: Without = (gs, r) => {
      const i = gs.findIndex((g) => g.requester === r);
      return i < 0 ? gs : [...gs.slice(0, i), ...gs.slice(i + 1)];
    };
    expect(() => fc.assert(likeFilter(firstOnly), RUNS)).toThrow();
  });
});
