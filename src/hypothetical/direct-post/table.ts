/**
 * HYPOTHETICAL direct-post hardware — register and in-memory table formats.
 *
 * Nothing here exists in any specification: this is remapsim's own definition of the
 * "fantasy" IOMMU in seed thread 000 (David Woodhouse, lines 50-100: the device sends a
 * standard MSI naming a guest APIC ID + vector, the IOMMU receives <source-id, vCPU APIC ID,
 * vector> and posts it by default; footnote: vectors wider than 8 bits). It is a VT-d unit
 * extension that reuses the VT-d posted-interrupt descriptor (src/vtd/pid.ts) and fault
 * recording. Our definition (/tmp/briefs/directpost.md, issue 12 items 4 and 6) is bit-exact
 * and every structure lives in memory as little-endian bytes:
 *
 * - DPTA register (64 bits): bit 0 DPE (direct posting enable); bits 4:1 TS (key `vapic-id`
 *   only: the single vAPIC table has 2^TS entries); bits 11:5 reserved (ignored, read back as
 *   written); bits 63:12 table base (4 KiB aligned).
 * - Root entry (key `source-id`; 8 bytes, root table = {@link DIRECT_POST_ROOT_ENTRIES}
 *   entries = 512 KiB at the DPTA base, entry for source-id s at base + 8·s): bit 0 P;
 *   bits 4:1 TS = log2 of the vAPIC table's entry count (0..15 → 1..32768 entries);
 *   bits 11:5 reserved (must be 0, else fault 0xD1); bits 63:12 vAPIC table base.
 * - vAPIC table entry (8 bytes, entry for vAPIC ID a at table + 8·a): bit 0 P; bit 1 URG
 *   (urgent: posts/notifies even with PID.SN = 1, as the VT-d posted IRTE's URG);
 *   bits 5:2 reserved (must be 0, else fault 0xD4); bits 63:6 PDA (64-byte aligned PID).
 * - Invalidation descriptor (128 bits, hypothetical queued-invalidation type 0xE): bits 3:0
 *   = 0xE; bits 5:4 G (0 global, 1 every entry of a SID, 2 one (SID, vAPIC ID)); bits 31:16
 *   SID; bits 63:32 vAPIC ID; every other bit 0.
 */
import { defineLayout } from '../../bits/layout.ts';
import { maskOf, U64_MASK } from '../../bits/bits.ts';

/** Size of one root entry and of one vAPIC table entry, in bytes. */
export const DIRECT_POST_ENTRY_BYTES = 8;

/** Entries in the key `source-id` root table: one per 16-bit requester ID (512 KiB). */
export const DIRECT_POST_ROOT_ENTRIES = 65536;

/** Largest TS (log2 of a vAPIC table's entries): 15 → 32768 entries. */
export const DIRECT_POST_MAX_TS = 15;

/** Queued-invalidation descriptor type of the (hypothetical) direct-post table invalidation. */
export const DPT_INVALIDATION_TYPE = 0xe;

const BASE_MASK = ~0xfffn & U64_MASK;

/** DPTA register layout (hypothetical). Bits 11:5 are reserved but ignored by the hardware. */
export const DPTA_LAYOUT = defineLayout({
  name: 'DPTA (hypothetical)',
  width: 64,
  fields: { DPE: { hi: 0, lo: 0 }, TS: { hi: 4, lo: 1 }, BASE: { hi: 63, lo: 12 } },
  reserved: [{ hi: 11, lo: 5 }],
});

/** Root entry layout (hypothetical, key source-id). */
export const ROOT_ENTRY_LAYOUT = defineLayout({
  name: 'direct-post root entry (hypothetical)',
  width: 64,
  fields: { P: { hi: 0, lo: 0 }, TS: { hi: 4, lo: 1 }, TABLE: { hi: 63, lo: 12 } },
  reserved: [{ hi: 11, lo: 5 }],
});

/** vAPIC table entry layout (hypothetical). PDA is split only because layouts decode ≤ 53-bit fields. */
export const VAPIC_ENTRY_LAYOUT = defineLayout({
  name: 'direct-post vAPIC entry (hypothetical)',
  width: 64,
  fields: { P: { hi: 0, lo: 0 }, URG: { hi: 1, lo: 1 }, PDA_L: { hi: 31, lo: 6 }, PDA_H: { hi: 63, lo: 32 } },
  reserved: [{ hi: 5, lo: 2 }],
});

/** Invalidation descriptor layout (hypothetical type 0xE), 128 bits. */
export const DPT_INVALIDATION_LAYOUT = defineLayout({
  name: 'direct-post table invalidation (hypothetical, type 0xE)',
  width: 128,
  fields: { TYPE: { hi: 3, lo: 0 }, G: { hi: 5, lo: 4 }, SID: { hi: 31, lo: 16 }, VAPIC: { hi: 63, lo: 32 } },
  reserved: [
    { hi: 15, lo: 6 },
    { hi: 127, lo: 64 },
  ],
});

/** Decoded DPTA register. */
export interface Dpta {
  /** DPE, bit 0. */
  enable: boolean;
  /** TS, bits 4:1 (key vapic-id: the vAPIC table holds 2^ts entries). */
  ts: number;
  /** Table base, bits 63:12, as a byte address (4 KiB aligned). */
  base: bigint;
  /** Bits 11:5 as written, in place (ignored by the hardware). */
  reserved: bigint;
}

/** Decoded root entry. */
export interface RootEntry {
  /** P, bit 0. */
  present: boolean;
  /** TS, bits 4:1: the vAPIC table has 2^ts entries. */
  ts: number;
  /** vAPIC table base, bits 63:12, as a byte address. */
  table: bigint;
  /** Reserved bits 11:5 that are set, in place (non-zero → fault 0xD1). */
  reserved: bigint;
}

/** Decoded vAPIC table entry. */
export interface VapicEntry {
  /** P, bit 0. */
  present: boolean;
  /** URG, bit 1. */
  urgent: boolean;
  /** Posted-interrupt descriptor address, bits 63:6, as a byte address (64-byte aligned). */
  pda: bigint;
  /** Reserved bits 5:2 that are set, in place (non-zero → fault 0xD4). */
  reserved: bigint;
}

/** Granularity of a direct-post table invalidation (descriptor G field 0, 1, 2). */
export type DptGranularity = 'global' | 'source' | 'entry';

/** Decoded invalidation descriptor. `sid`/`vapicId` are meaningful for 'source' / 'entry'. */
export interface DptInvalidation {
  granularity: DptGranularity;
  sid: number;
  vapicId: number;
}

const GRANULARITIES: readonly DptGranularity[] = ['global', 'source', 'entry'];

function checkBase(base: bigint, align: bigint, what: string): void {
  if (typeof base !== 'bigint' || base < 0n || base > U64_MASK || (base & (align - 1n)) !== 0n) {
    throw new RangeError(`${what} ${String(base)} is not a ${align}-byte aligned 64-bit address`);
  }
}

function checkTs(ts: number, what: string): void {
  if (!Number.isInteger(ts) || ts < 0 || ts > DIRECT_POST_MAX_TS) throw new RangeError(`${what} TS ${ts} is not in 0..15`);
}

function checkReservedIn(reserved: bigint, mask: bigint, what: string): void {
  if (reserved < 0n || (reserved & ~mask) !== 0n) {
    throw new RangeError(`${what}: reserved bits 0x${reserved.toString(16)} outside the reserved range`);
  }
}

/**
 * Encode a DPTA register value (64-bit bigint).
 * @throws RangeError when `base` is not a 4 KiB aligned 64-bit address, `ts` is not 0..15,
 *   or `reserved` has bits outside 11:5.
 */
export function encodeDpta(d: { enable: boolean; ts?: number; base: bigint; reserved?: bigint }): bigint {
  const ts = d.ts ?? 0;
  checkBase(d.base, 4096n, 'DPTA base');
  checkTs(ts, 'DPTA');
  checkReservedIn(d.reserved ?? 0n, DPTA_LAYOUT.reservedMask, 'DPTA');
  return DPTA_LAYOUT.encode({ DPE: d.enable ? 1 : 0, TS: ts }, d.reserved ?? 0n) | (d.base & BASE_MASK);
}

/** Decode a DPTA register value; never throws (bits above 63 are dropped). */
export function decodeDpta(value: bigint): Dpta {
  const v = value & U64_MASK;
  const f = DPTA_LAYOUT.decode(v);
  return { enable: f.DPE === 1, ts: f.TS, base: v & BASE_MASK, reserved: DPTA_LAYOUT.reservedSet(v) };
}

/**
 * Encode a root entry (64-bit bigint).
 * @throws RangeError when `table` is not 4 KiB aligned / 64-bit, `ts` is not 0..15, or
 *   `reserved` has bits outside 11:5.
 */
export function encodeRootEntry(e: { present: boolean; ts: number; table: bigint; reserved?: bigint }): bigint {
  checkBase(e.table, 4096n, 'root entry vAPIC table base');
  checkTs(e.ts, 'root entry');
  checkReservedIn(e.reserved ?? 0n, ROOT_ENTRY_LAYOUT.reservedMask, 'root entry');
  return ROOT_ENTRY_LAYOUT.encode({ P: e.present ? 1 : 0, TS: e.ts }, e.reserved ?? 0n) | (e.table & BASE_MASK);
}

/** Decode a root entry; never throws. */
export function decodeRootEntry(value: bigint): RootEntry {
  const v = value & U64_MASK;
  const f = ROOT_ENTRY_LAYOUT.decode(v);
  return { present: f.P === 1, ts: f.TS, table: v & BASE_MASK, reserved: ROOT_ENTRY_LAYOUT.reservedSet(v) };
}

/**
 * Encode a vAPIC table entry (64-bit bigint).
 * @throws RangeError when `pda` is not a 64-byte aligned 64-bit address or `reserved` has
 *   bits outside 5:2.
 */
export function encodeVapicEntry(e: { present: boolean; urgent: boolean; pda: bigint; reserved?: bigint }): bigint {
  checkBase(e.pda, 64n, 'vAPIC entry PDA');
  checkReservedIn(e.reserved ?? 0n, VAPIC_ENTRY_LAYOUT.reservedMask, 'vAPIC entry');
  return VAPIC_ENTRY_LAYOUT.encode(
    {
      P: e.present ? 1 : 0,
      URG: e.urgent ? 1 : 0,
      PDA_L: Number((e.pda >> 6n) & maskOf(26)),
      PDA_H: Number(e.pda >> 32n),
    },
    e.reserved ?? 0n,
  );
}

/** Decode a vAPIC table entry; never throws. */
export function decodeVapicEntry(value: bigint): VapicEntry {
  const v = value & U64_MASK;
  const f = VAPIC_ENTRY_LAYOUT.decode(v);
  return {
    present: f.P === 1,
    urgent: f.URG === 1,
    pda: v & ~0x3fn & U64_MASK,
    reserved: VAPIC_ENTRY_LAYOUT.reservedSet(v),
  };
}

/**
 * Byte address of the root entry for requester ID `sid` (0..0xFFFF): base + 8·sid.
 * @throws RangeError when `sid` is not a 16-bit integer.
 */
export function rootEntryAddress(base: bigint, sid: number): bigint {
  if (!Number.isInteger(sid) || sid < 0 || sid >= DIRECT_POST_ROOT_ENTRIES) throw new RangeError(`source-id ${sid} is not 16-bit`);
  return base + BigInt(DIRECT_POST_ENTRY_BYTES * sid);
}

/**
 * Byte address of the vAPIC table entry for `vapicId`: table + 8·vapicId (the caller checks
 * the table's size, fault 0xD2).
 * @throws RangeError when `vapicId` is not a non-negative 32-bit integer.
 */
export function vapicEntryAddress(table: bigint, vapicId: number): bigint {
  if (!Number.isInteger(vapicId) || vapicId < 0 || vapicId > 0xffff_ffff) throw new RangeError(`vAPIC ID ${vapicId} is not 32-bit`);
  return table + BigInt(DIRECT_POST_ENTRY_BYTES) * BigInt(vapicId);
}

/**
 * Encode a 128-bit invalidation descriptor (type 0xE). `sid` is used by 'source' and
 * 'entry', `vapicId` by 'entry'; omitted → 0.
 * @throws RangeError when the granularity is unknown, `sid` is not 16-bit, or `vapicId` not 32-bit.
 */
export function encodeDptInvalidation(d: { granularity: DptGranularity; sid?: number; vapicId?: number }): bigint {
  const g = GRANULARITIES.indexOf(d.granularity);
  if (g < 0) throw new RangeError(`direct-post invalidation granularity ${String(d.granularity)} is not global|source|entry`);
  return DPT_INVALIDATION_LAYOUT.encode({ TYPE: DPT_INVALIDATION_TYPE, G: g, SID: d.sid ?? 0, VAPIC: d.vapicId ?? 0 });
}

/**
 * Decode a 128-bit invalidation descriptor.
 * @throws RangeError when bits 3:0 are not 0xE, G is 3, or a reserved bit (15:6, 127:64) is set
 *   (hardware would report an invalidation-queue error; the primitive rejects the action).
 */
export function decodeDptInvalidation(value: bigint): DptInvalidation {
  const v = value & maskOf(128);
  const f = DPT_INVALIDATION_LAYOUT.decode(v);
  if (f.TYPE !== DPT_INVALIDATION_TYPE) throw new RangeError(`descriptor type 0x${f.TYPE.toString(16)} is not 0xE (direct-post)`);
  const granularity = GRANULARITIES[f.G];
  if (granularity === undefined) throw new RangeError(`direct-post invalidation G = ${f.G} is reserved`);
  const reserved = DPT_INVALIDATION_LAYOUT.reservedSet(v);
  if (reserved !== 0n) throw new RangeError(`direct-post invalidation reserved bits 0x${reserved.toString(16)} set`);
  return { granularity, sid: f.SID, vapicId: f.VAPIC };
}

/** One-line decoding of a DPTA value, e.g. `hypothetical: DPE=1 TS=0 base 0x200000000`. */
export function describeDpta(value: bigint): string {
  const d = decodeDpta(value);
  return `hypothetical: DPE=${d.enable ? 1 : 0} TS=${d.ts} base 0x${d.base.toString(16)}${d.reserved !== 0n ? ` ignored bits 0x${d.reserved.toString(16)}` : ''}`;
}
