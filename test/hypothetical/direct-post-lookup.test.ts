/**
 * HYPOTHETICAL direct-post lookup (src/hypothetical/direct-post/lookup.ts, cache.ts): every
 * fault reason 0xD0–0xD5 arises from the table that causes it and is absent once that table
 * is right; a cached entry stays in use after memory changes until an invalidation of each
 * granularity covers it; key vapic-id ignores the source-id.
 */
import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { directPostRequest, lookupDirectPost, type DirectPostConfig, type DirectPostUnit } from '../../src/hypothetical/direct-post/lookup.ts';
import { dptcInvalidate, emptyDirectPostCache, type DirectPostCache } from '../../src/hypothetical/direct-post/cache.ts';
import { DIRECT_POST_FAULT, DIRECT_POST_FAULT_REASONS } from '../../src/hypothetical/direct-post/faults.ts';
import { encodeDpta, encodeRootEntry, encodeVapicEntry, rootEntryAddress, vapicEntryAddress, type DptInvalidation } from '../../src/hypothetical/direct-post/table.ts';
import { faultReason } from '../../src/vtd/fault-reasons.ts';

const HAW = 39;
const LIMIT = 1n << 39n;
const BASE = 0x2_0000_0000n;
const TABLE = BASE + 0x8_0000n;
const PID0 = 0x4000_0000n;
const PID1 = 0x4000_0040n;
const SID_A = 0x0500;
const SID_B = 0x0600;
const BY_SID: DirectPostConfig = { key: 'source-id', vectorBits: 8, cacheCapacity: 8 };
const BY_VAPIC: DirectPostConfig = { key: 'vapic-id', vectorBits: 8, cacheCapacity: 8 };

interface Tables {
  root?: bigint;
  entries?: readonly bigint[];
  sid?: number;
}

/** Memory with SID's root entry → TABLE (TS 1: 2 entries) and the vAPIC entries given. */
function memoryWith(t: Tables = {}): PhysicalMemory {
  let m = PhysicalMemory.empty().writeLE(rootEntryAddress(BASE, t.sid ?? SID_A), 8, t.root ?? encodeRootEntry({ present: true, ts: 1, table: TABLE }));
  const entries = t.entries ?? [encodeVapicEntry({ present: true, urgent: false, pda: PID0 }), encodeVapicEntry({ present: true, urgent: true, pda: PID1 })];
  entries.forEach((e, i) => (m = m.writeLE(vapicEntryAddress(TABLE, i), 8, e)));
  return m;
}

const unit = (dpta = encodeDpta({ enable: true, base: BASE }), cache: DirectPostCache = emptyDirectPostCache()): DirectPostUnit => ({ dpta, cache });
const reasonOf = (m: PhysicalMemory, vapicId: number, u: DirectPostUnit = unit(), config = BY_SID, sid = SID_A): number | undefined => {
  const r = lookupDirectPost(u, m, HAW, config, sid, vapicId).outcome;
  return r.kind === 'fault' ? r.reason : undefined;
};

describe('direct-post fault reasons (hypothetical)', () => {
  it('has a table row for each of 0xD0–0xD5, none qualified, none a VT-d code', () => {
    expect(DIRECT_POST_FAULT_REASONS.map((r) => r.code)).toEqual([0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5]);
    for (const r of DIRECT_POST_FAULT_REASONS) {
      expect(r.qualified).toBe(false);
      expect(r.description).toMatch(/hypothetical/);
      expect(faultReason(r.code)).toBeUndefined();
    }
  });

  it('the right tables post: no fault, the entry the table names', () => {
    const r = lookupDirectPost(unit(), memoryWith(), HAW, BY_SID, SID_A, 1).outcome;
    expect(r).toMatchObject({ kind: 'entry', cacheHit: false, entry: { present: true, urgent: true, pda: PID1 } });
  });

  it('0xD0: root entry not present', () => {
    expect(reasonOf(memoryWith({ root: encodeRootEntry({ present: false, ts: 1, table: TABLE }) }), 0)).toBe(DIRECT_POST_FAULT.ROOT_NOT_PRESENT);
    expect(reasonOf(memoryWith(), 0, unit(), BY_SID, SID_B)).toBe(0xd0); // SID_B has no root entry at all
    expect(reasonOf(memoryWith({ sid: SID_B }), 0, unit(), BY_SID, SID_B)).toBeUndefined();
  });

  it('0xD1: root reserved bits, a vAPIC table or a DPTA base beyond the host address width', () => {
    expect(reasonOf(memoryWith({ root: encodeRootEntry({ present: true, ts: 1, table: TABLE, reserved: 0x20n }) }), 0)).toBe(DIRECT_POST_FAULT.ROOT_INVALID);
    expect(reasonOf(memoryWith({ root: encodeRootEntry({ present: true, ts: 1, table: LIMIT }) }), 0)).toBe(0xd1);
    expect(reasonOf(memoryWith(), 0, unit(encodeDpta({ enable: true, base: LIMIT })))).toBe(0xd1);
    expect(reasonOf(memoryWith(), 0, unit(encodeDpta({ enable: true, base: LIMIT })), BY_VAPIC)).toBe(0xd1);
    // DPTA's own bits 11:5 are ignored, not a fault.
    expect(reasonOf(memoryWith(), 0, unit(encodeDpta({ enable: true, base: BASE, reserved: 0xfe0n })))).toBeUndefined();
  });

  it('0xD2: vAPIC ID ≥ 2^TS (root TS, or DPTA TS for key vapic-id)', () => {
    expect(reasonOf(memoryWith(), 2)).toBe(DIRECT_POST_FAULT.VAPIC_OVER);
    expect(reasonOf(memoryWith({ root: encodeRootEntry({ present: true, ts: 2, table: TABLE }) }), 2)).toBe(0xd3); // in range now: entry 2 is simply not present
    expect(reasonOf(memoryWith(), 1, unit(encodeDpta({ enable: true, ts: 0, base: TABLE })), BY_VAPIC)).toBe(0xd2);
    expect(reasonOf(memoryWith(), 1, unit(encodeDpta({ enable: true, ts: 1, base: TABLE })), BY_VAPIC)).toBeUndefined();
  });

  it('0xD3: vAPIC entry not present', () => {
    const absent = encodeVapicEntry({ present: false, urgent: false, pda: PID0 });
    expect(reasonOf(memoryWith({ entries: [absent] }), 0)).toBe(DIRECT_POST_FAULT.VAPIC_NOT_PRESENT);
    expect(reasonOf(memoryWith({ entries: [encodeVapicEntry({ present: true, urgent: false, pda: PID0 })] }), 0)).toBeUndefined();
  });

  it('0xD4: vAPIC entry reserved bits, or its PID (with the PIR extension for wide vectors) beyond the host address width', () => {
    expect(reasonOf(memoryWith({ entries: [encodeVapicEntry({ present: true, urgent: false, pda: PID0, reserved: 0x4n })] }), 0)).toBe(DIRECT_POST_FAULT.VAPIC_INVALID);
    expect(reasonOf(memoryWith({ entries: [encodeVapicEntry({ present: true, urgent: false, pda: LIMIT - 0x40n })] }), 0)).toBeUndefined();
    expect(reasonOf(memoryWith({ entries: [encodeVapicEntry({ present: true, urgent: false, pda: LIMIT })] }), 0)).toBe(0xd4);
    const wide = { ...BY_SID, vectorBits: 9 }; // 32 bytes of PIR extension after the PID
    expect(reasonOf(memoryWith({ entries: [encodeVapicEntry({ present: true, urgent: false, pda: LIMIT - 0x40n })] }), 0, unit(), wide)).toBe(0xd4);
    expect(reasonOf(memoryWith({ entries: [encodeVapicEntry({ present: true, urgent: false, pda: LIMIT - 0x80n })] }), 0, unit(), wide)).toBeUndefined();
  });

  it('0xD5: logical mode, delivery mode other than fixed/LP, vector < 16, wide-vector bits beyond vectorBits', () => {
    const ok = (address: bigint, data: number, bits = 8) => directPostRequest(address, data, bits, false);
    expect(ok(0xfee0_1000n, 0x41)).toEqual({ kind: 'request', vapicId: 1, vector: 0x41 });
    expect(ok(0xfee0_1000n, 0x141)).toEqual({ kind: 'request', vapicId: 1, vector: 0x41 }); // lowest priority: one vCPU named, the same
    expect(ok(0xfee0_1000n, 0xc041)).toEqual({ kind: 'request', vapicId: 1, vector: 0x41 }); // level trigger ignored
    expect(ok(0xfee0_1004n, 0x41)).toEqual({ kind: 'fault', reason: DIRECT_POST_FAULT.NOT_POSTABLE, vapicId: 1 });
    expect(ok(0xfee0_1000n, 0x241)).toMatchObject({ kind: 'fault', reason: 0xd5 });
    expect(ok(0xfee0_1000n, 0x0f)).toMatchObject({ kind: 'fault', reason: 0xd5 });
    expect(ok(0xfee0_1000n, 0x10)).toMatchObject({ kind: 'request', vector: 0x10 });
    expect(ok(0xfee0_1000n, 0x01_0041)).toMatchObject({ kind: 'fault', reason: 0xd5 });
    expect(ok(0xfee0_1000n, 0x01_0041, 9)).toEqual({ kind: 'request', vapicId: 1, vector: 0x141 });
    expect(ok(0xfee0_1000n, 0x02_0041, 9)).toMatchObject({ kind: 'fault', reason: 0xd5 });
    expect(ok(0xfee0_1000n, 0xff_00ff, 16)).toEqual({ kind: 'request', vapicId: 1, vector: 0xffff });
    // The extended destination ID gives 15-bit vAPIC IDs (address 11:5 = bits 14:8).
    expect(directPostRequest(0xfee0_1000n | (0x7fn << 5n), 0x41, 8, true)).toMatchObject({ vapicId: 0x7f01 });
  });
});

/** Look up `vapicId` for `sid`, carrying the cache along. */
function lookup(state: { u: DirectPostUnit; m: PhysicalMemory }, sid: number, vapicId: number, config = BY_SID) {
  const r = lookupDirectPost(state.u, state.m, HAW, config, sid, vapicId);
  state.u = { ...state.u, cache: r.cache };
  if (r.outcome.kind !== 'entry') throw new Error(`fault 0x${r.outcome.reason.toString(16)}`);
  return { pda: r.outcome.entry.pda, hit: r.outcome.cacheHit };
}

describe('direct-post cache (hypothetical)', () => {
  const moved = encodeVapicEntry({ present: true, urgent: false, pda: 0x5000_0000n });
  const cases: { inv: DptInvalidation; misses: DptInvalidation }[] = [
    { inv: { granularity: 'global', sid: 0, vapicId: 0 }, misses: { granularity: 'entry', sid: SID_A, vapicId: 1 } },
    { inv: { granularity: 'source', sid: SID_A, vapicId: 0 }, misses: { granularity: 'source', sid: SID_B, vapicId: 0 } },
    { inv: { granularity: 'entry', sid: SID_A, vapicId: 0 }, misses: { granularity: 'entry', sid: SID_B, vapicId: 0 } },
  ];
  for (const { inv, misses } of cases) {
    it(`a hit uses the cached entry after memory changed, until a ${inv.granularity} invalidation covers it`, () => {
      const s = { u: unit(), m: memoryWith() };
      expect(lookup(s, SID_A, 0)).toEqual({ pda: PID0, hit: false });
      expect(lookup(s, SID_A, 0)).toEqual({ pda: PID0, hit: true });
      s.m = s.m.writeLE(vapicEntryAddress(TABLE, 0), 8, moved);
      expect(lookup(s, SID_A, 0)).toEqual({ pda: PID0, hit: true }); // stale
      const kept = dptcInvalidate(s.u.cache, misses);
      expect(kept.dropped).toBe(0);
      s.u = { ...s.u, cache: kept.cache };
      expect(lookup(s, SID_A, 0)).toEqual({ pda: PID0, hit: true }); // an invalidation that does not cover it
      const r = dptcInvalidate(s.u.cache, inv);
      expect(r.dropped).toBe(1);
      s.u = { ...s.u, cache: r.cache };
      expect(lookup(s, SID_A, 0)).toEqual({ pda: 0x5000_0000n, hit: false });
    });
  }

  it('evicts the oldest entry beyond its capacity (FIFO)', () => {
    const s = { u: unit(), m: memoryWith() };
    const one = { ...BY_SID, cacheCapacity: 1 };
    lookup(s, SID_A, 0, one);
    lookup(s, SID_A, 1, one);
    expect(lookup(s, SID_A, 0, one).hit).toBe(false);
    expect(s.u.cache.order).toEqual([`${SID_A}:0`]);
  });

  it('key vapic-id ignores the source-id: another device hits the same entry; key source-id keeps them apart', () => {
    const table = unit(encodeDpta({ enable: true, ts: 1, base: TABLE }));
    const s = { u: table, m: memoryWith() };
    expect(lookup(s, SID_A, 0, BY_VAPIC)).toEqual({ pda: PID0, hit: false });
    expect(lookup(s, SID_B, 0, BY_VAPIC)).toEqual({ pda: PID0, hit: true });
    // Without the cache too: SID_B reads the one table.
    expect(lookup({ u: table, m: memoryWith() }, SID_B, 0, BY_VAPIC)).toEqual({ pda: PID0, hit: false });
    // key source-id: SID_B has no root entry, and SID_A's cached entry is not SID_B's.
    const t = { u: unit(), m: memoryWith() };
    lookup(t, SID_A, 0);
    expect(reasonOf(t.m, 0, t.u, BY_SID, SID_B)).toBe(0xd0);
    // An entry invalidation names the vAPIC ID; with key vapic-id it drops it whoever looked it up.
    expect(dptcInvalidate(s.u.cache, { granularity: 'entry', sid: SID_B, vapicId: 0 }).dropped).toBe(1);
  });
});
