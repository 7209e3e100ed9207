/**
 * The IEC as a persistent trie (src/vtd/iec.ts) against a plain reference model: a Map
 * from index to entry with FIFO eviction at capacity, and index-selective / global
 * invalidation. After every operation the lookups, the order, and the shape (equal
 * contents give equal tries, whatever the history) agree; older caches are never changed.
 * Fixed seeds; the property is shown able to fail against an LIFO-evicting cache.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { emptyIec, iecFill, iecInvalidate, iecLookup, iecEntries } from '../../src/vtd/iec.ts';
import type { IecEntry, InterruptEntryCache } from '../../src/platform/state.ts';
import { decodeIrte } from '../../src/vtd/irte.ts';

const RUNS = { seed: 15_003, numRuns: 300 };

const entryFor = (index: number, tag: number): IecEntry => {
  const raw = (BigInt(tag) << 16n) | 1n;
  return { raw, ...decodeIrte(raw), reserved: 0n } as IecEntry;
};

type Op = { kind: 'fill'; index: number; tag: number } | { kind: 'invalidate'; index: number; im: number } | { kind: 'global' };
/** Indices from a small set (so fills repeat and invalidations hit) spread over all four trie levels. */
const index = fc.constantFrom(0, 1, 15, 16, 255, 256, 4095, 4096, 0x1234, 0x1235, 0xfffe, 0xffff);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('fill' as const), index, tag: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('invalidate' as const), index, im: fc.integer({ min: 0, max: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'global' as const }) },
);

type Fill = (iec: InterruptEntryCache, index: number, entry: IecEntry) => InterruptEntryCache;

class Reference {
  readonly map = new Map<number, IecEntry>();
  constructor(readonly capacity: number) {}
  fill(index: number, e: IecEntry): void {
    if (this.capacity <= 0) return;
    if (this.map.has(index)) {
      this.map.set(index, e); // keeps its place in the FIFO order
      return;
    }
    this.map.set(index, e);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }
}

const agrees = (fill: Fill) =>
  fc.property(fc.integer({ min: 0, max: 5 }), fc.array(op, { maxLength: 40 }), (capacity, ops) => {
    let iec = emptyIec(capacity);
    const ref = new Reference(capacity);
    const history: { iec: InterruptEntryCache; snapshot: string }[] = [];
    for (const o of ops) {
      if (o.kind === 'fill') {
        const e = entryFor(o.index, o.tag);
        iec = fill(iec, o.index, e);
        ref.fill(o.index, e);
      } else if (o.kind === 'global') {
        iec = iecInvalidate(iec).iec;
        ref.map.clear();
      } else {
        const count = 1 << o.im;
        const r = iecInvalidate(iec, o.index, count);
        const first = o.index - (o.index % count);
        const expected = [...ref.map.keys()].filter((i) => i >= first && i < first + count);
        expect(r.dropped).toEqual(expected);
        for (const i of expected) ref.map.delete(i);
        iec = r.iec;
      }
      expect(iec.order).toEqual([...ref.map.keys()]);
      for (const i of [0, 1, 15, 16, 255, 256, 4095, 4096, 0x1234, 0x1235, 0xfffe, 0xffff]) expect(iecLookup(iec, i)).toBe(ref.map.get(i));
      expect(iecEntries(iec).map((x) => x.index)).toEqual(iec.order);
      // Shape: a trie rebuilt from the contents alone is equal to the one built by this history.
      let rebuilt = emptyIec(capacity);
      for (const [i, e] of ref.map) rebuilt = iecFill(rebuilt, i, e);
      expect(iec.entries).toEqual(rebuilt.entries);
      history.push({ iec, snapshot: JSON.stringify(iec.order) + JSON.stringify(iecEntries(iec).map((x) => x.entry.raw.toString())) });
    }
    // Persistence: no later operation changed an earlier cache.
    for (const h of history) expect(JSON.stringify(h.iec.order) + JSON.stringify(iecEntries(h.iec).map((x) => x.entry.raw.toString()))).toBe(h.snapshot);
  });

describe('IEC trie', () => {
  it('agrees with a FIFO map on every sequence of fills and invalidations', () => {
    fc.assert(agrees(iecFill), RUNS);
  });

  it('the property fails for a cache that evicts the newest entry instead of the oldest', () => {
    const lifo: Fill = (iec, index, entry) => {
      if (iec.order.length < iec.capacity || iec.order.includes(index)) return iecFill(iec, index, entry);
      const newest = iec.order[iec.order.length - 1]!;
      const kept = iecInvalidate(iec, newest, 1).iec;
      return iecFill(kept, index, entry);
    };
    expect(fc.check(agrees(lifo), RUNS).failed).toBe(true);
  });
});
