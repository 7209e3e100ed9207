/**
 * The interrupt-remapping pipeline (src/vtd/interrupt-remapping.ts) called directly on a
 * hand-built unit and memory, one check of VT-d §5.1.4 at a time and at its bounds: IR off,
 * compatibility format (0x25 unless CFI lets it through and EIME is clear), reserved data bits
 * (0x20), the handle and sub-handle (§5.1.2.2), the table size and the host address width
 * (0x21), the IEC, P (0x22), reserved IRTE fields (0x24), source-ID verification (§9.10 SVT,
 * SQ, SID → 0x26), and the remapped or posted outcome.
 */
import { describe, expect, it } from 'vitest';
import { remapInterrupt, sourceIdMatches, latchedEime, type InterruptRequest } from '../../src/vtd/interrupt-remapping.ts';
import { encodeIrte, irteDestinationField, type PostedIrte, type RemappedIrte } from '../../src/vtd/irte.ts';
import { encodeIrta, irtaSizeForEntries, GLOBAL_STATUS_BITS } from '../../src/vtd/registers.ts';
import { composeRemappableMsi } from '../../src/vtd/remappable-msi.ts';
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { emptyIec, iecLookup } from '../../src/vtd/iec.ts';
import type { IommuUnit } from '../../src/platform/state.ts';
import { DEFAULT_CAP } from '../../src/platform/build.ts';
import { RID_A, platform } from './fixtures.ts';

const IRES = 1 << GLOBAL_STATUS_BITS.IRES;
const CFIS = 1 << GLOBAL_STATUS_BITS.CFIS;
const CAP_PI = DEFAULT_CAP | (1n << 59n);
const BASE = 0x1000_0000n;
const HAW = 39;

function unit(o: { gsts?: number; base?: bigint; eime?: boolean; entries?: number; cap?: bigint; iecCapacity?: number } = {}): IommuUnit {
  const u = platform().iommus[0]!;
  const irtaLatched = encodeIrta({ base: o.base ?? BASE, eime: o.eime ?? true, size: irtaSizeForEntries(o.entries ?? 256) });
  return { ...u, cap: o.cap ?? u.cap, regs: { ...u.regs, gsts: o.gsts ?? IRES, irtaLatched }, iec: emptyIec(o.iecCapacity ?? 64) };
}

const remapped = (o: Partial<RemappedIrte> = {}): RemappedIrte => ({
  mode: 'remapped',
  present: true,
  fpd: false,
  avail: 0,
  destinationModeLogical: false,
  redirectionHint: false,
  triggerLevel: false,
  deliveryMode: 0,
  vector: 0x30,
  destination: irteDestinationField(6, true),
  sid: RID_A,
  sq: 0,
  svt: 1,
  ...o,
});
const postedIrte = (o: Partial<PostedIrte> = {}): PostedIrte => ({
  mode: 'posted',
  present: true,
  fpd: false,
  avail: 0,
  urgent: false,
  virtualVector: 0x41,
  pda: 0x4000_0040n,
  sid: RID_A,
  sq: 0,
  svt: 1,
  ...o,
});

/** Memory with `value` as IRTE `index` of the table at `base`. */
const irt = (entries: Record<number, bigint>, base = BASE): PhysicalMemory =>
  Object.entries(entries).reduce((m, [i, v]) => m.writeLE(base + BigInt(Number(i) * 16), 16, v), PhysicalMemory.empty());

/** A remappable request for `handle` (SHV = 0 unless `subhandle` is given). */
function request(handle: number, o: { subhandle?: number; data?: number; rid?: number } = {}): InterruptRequest {
  const m = composeRemappableMsi({ handle, shv: o.subhandle !== undefined, subhandle: o.subhandle ?? 0 });
  return { rid: o.rid ?? RID_A, address: m.address, data: o.data ?? m.data };
}

const faultOf = (reason: number, irteIndex: number | undefined, qualified: boolean, fpd = false) => ({ kind: 'fault', reason, irteIndex, qualified, fpd });

describe('before the IRT: IR off, compatibility format, reserved request bits', () => {
  it('IR disabled: any request passes unchanged, the IEC untouched', () => {
    const u = unit({ gsts: CFIS });
    const r = remapInterrupt(u, irt({ 0: encodeIrte(remapped()) }), HAW, request(0, { data: 0xffff_0000 }));
    expect(r.outcome).toEqual({ kind: 'passthrough', why: 'ir-disabled' });
    expect(r.iec).toBe(u.iec);
  });

  it('compatibility format with EIME = 1: blocked with 0x25 (not qualified, no index) even when CFI is set', () => {
    for (const gsts of [IRES, IRES | CFIS]) {
      const r = remapInterrupt(unit({ gsts }), PhysicalMemory.empty(), HAW, { rid: RID_A, address: 0xfee01000n, data: 0x30 });
      expect(r.outcome).toEqual(faultOf(0x25, undefined, false));
    }
  });

  it('compatibility format with EIME = 0: blocked with 0x25 unless CFI is set, then it passes', () => {
    const req = { rid: RID_A, address: 0xfee01008n, data: 0x4030 };
    expect(remapInterrupt(unit({ gsts: IRES, eime: false }), PhysicalMemory.empty(), HAW, req).outcome).toEqual(faultOf(0x25, undefined, false));
    const u = unit({ gsts: IRES | CFIS, eime: false });
    const r = remapInterrupt(u, PhysicalMemory.empty(), HAW, req);
    expect(r.outcome).toEqual({ kind: 'passthrough', why: 'cfi' });
    expect(r.iec).toBe(u.iec);
  });

  it('remappable format with data bits 31:16 set: 0x20, with or without SHV', () => {
    const mem = irt({ 0: encodeIrte(remapped()), 1: encodeIrte(remapped()) });
    expect(remapInterrupt(unit(), mem, HAW, request(0, { data: 0x1_0000 })).outcome).toEqual(faultOf(0x20, undefined, false));
    expect(remapInterrupt(unit(), mem, HAW, { ...request(0, { subhandle: 1 }), data: 0x8000_0001 }).outcome).toEqual(faultOf(0x20, undefined, false));
    // Bits 15:0 alone are the sub-handle: with SHV = 0 they are ignored.
    expect(remapInterrupt(unit(), mem, HAW, request(0, { data: 0xffff })).outcome).toMatchObject({ kind: 'remapped', irteIndex: 0 });
  });
});

describe('the interrupt index', () => {
  const all = (n: number): Record<number, bigint> => Object.fromEntries(Array.from({ length: n }, (_, i) => [i, encodeIrte(remapped({ vector: 0x20 + (i % 0xd0) }))]));

  it('handle bits 14:0 in address bits 19:5 and handle bit 15 in address bit 2 (§5.1.2.2)', () => {
    const u = unit({ entries: 65536 });
    const mem = irt({ 0x8000: encodeIrte(remapped({ vector: 0x80 })), 0x7fff: encodeIrte(remapped({ vector: 0x7f })), 0x8001: encodeIrte(remapped({ vector: 0x81 })) });
    // handle 0x8000: bit 2 set, bits 19:5 clear.
    expect(remapInterrupt(u, mem, 46, { rid: RID_A, address: 0xfee00014n, data: 0 }).outcome).toMatchObject({ kind: 'remapped', irteIndex: 0x8000, irte: { vector: 0x80 } });
    expect(remapInterrupt(u, mem, 46, { rid: RID_A, address: 0xfeefffe0n | 0x10n, data: 0 }).outcome).toMatchObject({ kind: 'remapped', irteIndex: 0x7fff, irte: { vector: 0x7f } });
    expect(remapInterrupt(u, mem, 46, { rid: RID_A, address: 0xfee00034n, data: 0 }).outcome).toMatchObject({ kind: 'remapped', irteIndex: 0x8001, irte: { vector: 0x81 } });
  });

  it('with SHV the sub-handle (data 15:0) is added to the handle', () => {
    const r = remapInterrupt(unit(), irt(all(8)), HAW, request(2, { subhandle: 3 }));
    expect(r.outcome).toMatchObject({ kind: 'remapped', irteIndex: 5, irte: { vector: 0x25 } });
  });

  it('the address above bit 31 does not take part (only the low dword is decoded)', () => {
    const req = request(3);
    const r = remapInterrupt(unit(), irt(all(8)), HAW, { ...req, address: req.address | 0x1_0000_0000n });
    expect(r.outcome).toMatchObject({ kind: 'remapped', irteIndex: 3 });
  });

  it('a 64-bit address with bits above 2^53 set: bits 31:0 still decode exactly', () => {
    const req = request(3);
    const r = remapInterrupt(unit(), irt(all(8)), HAW, { ...req, address: req.address | 0x8000_0000_0000_0000n });
    expect(r.outcome).toMatchObject({ kind: 'remapped', irteIndex: 3 });
    const compat = remapInterrupt(unit({ gsts: IRES | CFIS, eime: false }), irt(all(8)), HAW, { rid: RID_A, address: 0xffff_ffff_fee0_1000n, data: 0x30 });
    expect(compat.outcome).toEqual({ kind: 'passthrough', why: 'cfi' });
  });

  it('an index at the table size faults 0x21 with that index; the last entry does not', () => {
    const u = unit({ entries: 8 });
    expect(remapInterrupt(u, irt(all(9)), HAW, request(7)).outcome).toMatchObject({ kind: 'remapped', irteIndex: 7 });
    expect(remapInterrupt(u, irt(all(9)), HAW, request(8)).outcome).toEqual(faultOf(0x21, 8, false));
    expect(remapInterrupt(u, irt(all(9)), HAW, request(6, { subhandle: 2 })).outcome).toEqual(faultOf(0x21, 8, false));
  });

  it('an IRTE at or above 2^HAW faults 0x21: the entry ending exactly at 2^HAW is still readable', () => {
    const base = (1n << 39n) - 0x1000n; // 256 entries fit below 2^39
    const u = unit({ base, entries: 512 });
    const mem = irt({ 255: encodeIrte(remapped()), 256: encodeIrte(remapped()) }, base);
    expect(remapInterrupt(u, mem, 39, request(255)).outcome).toMatchObject({ kind: 'remapped', irteIndex: 255 });
    expect(remapInterrupt(u, mem, 39, request(256)).outcome).toEqual(faultOf(0x21, 256, false));
  });

  it('the readable bound follows the host address width it is asked with (the same IRTA, several widths)', () => {
    const base = (1n << 39n) - 0x1000n;
    const u = unit({ base, entries: 512 });
    const mem = irt({ 300: encodeIrte(remapped()) }, base);
    expect(remapInterrupt(u, mem, 39, request(300)).outcome).toEqual(faultOf(0x21, 300, false));
    expect(remapInterrupt(u, mem, 40, request(300)).outcome).toMatchObject({ kind: 'remapped', irteIndex: 300 });
    expect(remapInterrupt(u, mem, 39, request(300)).outcome).toEqual(faultOf(0x21, 300, false));
  });

  it('a table whose base is at 2^HAW, or the last 16 bytes below it, has no readable entry beyond', () => {
    const at = unit({ base: 1n << 39n, entries: 2 });
    expect(remapInterrupt(at, PhysicalMemory.empty(), 39, request(0)).outcome).toEqual(faultOf(0x21, 0, false));
    const above = unit({ base: 1n << 40n, entries: 2 });
    expect(remapInterrupt(above, PhysicalMemory.empty(), 39, request(1)).outcome).toEqual(faultOf(0x21, 1, false));
  });

  it('a full 65536-entry table below a wide HAW: every 16-bit index is readable', () => {
    const u = unit({ base: 0n, entries: 65536 });
    const mem = irt({ 0xffff: encodeIrte(remapped({ vector: 0xfe })) }, 0n);
    expect(remapInterrupt(u, mem, 48, request(0xffff)).outcome).toMatchObject({ kind: 'remapped', irteIndex: 0xffff, irte: { vector: 0xfe } });
  });

  it('two units with different IRTAs alternate: each request uses its own unit\'s table', () => {
    const a = unit({ base: 0x1000_0000n, entries: 8 });
    const b = unit({ base: 0x2000_0000n, entries: 16, eime: false });
    const mem = irt({ 9: encodeIrte(remapped({ vector: 0x99, destination: irteDestinationField(2, false) })) }, 0x2000_0000n).writeLE(0x1000_0000n + 16n, 16, encodeIrte(remapped({ vector: 0x11 })));
    for (let i = 0; i < 2; i++) {
      expect(remapInterrupt(a, mem, HAW, request(1)).outcome).toMatchObject({ kind: 'remapped', irte: { vector: 0x11 }, apicId: 6 });
      expect(remapInterrupt(b, mem, HAW, request(9)).outcome).toMatchObject({ kind: 'remapped', irte: { vector: 0x99 }, apicId: 2 });
      expect(remapInterrupt(a, mem, HAW, request(9)).outcome).toEqual(faultOf(0x21, 9, false));
    }
    expect(latchedEime(a.regs.irtaLatched)).toBe(true);
    expect(latchedEime(b.regs.irtaLatched)).toBe(false);
  });
});

describe('the IRTE: IEC, present, reserved fields', () => {
  it('a miss reads memory and fills the IEC; the next request hits it and keeps using the cached copy', () => {
    const u = unit();
    const first = remapInterrupt(u, irt({ 4: encodeIrte(remapped({ vector: 0x44 })) }), HAW, request(4));
    expect(first.outcome).toMatchObject({ kind: 'remapped', irteIndex: 4, iecHit: false, irte: { vector: 0x44 } });
    expect(first.iec).not.toBe(u.iec);
    expect(first.iec.order).toEqual([4]);
    expect(iecLookup(first.iec, 4)).toEqual({ raw: encodeIrte(remapped({ vector: 0x44 })), irte: remapped({ vector: 0x44 }), reserved: 0n });
    const cached = { ...u, iec: first.iec };
    // Memory changed without an IEC invalidation: the hardware still uses its copy.
    const second = remapInterrupt(cached, irt({ 4: encodeIrte(remapped({ vector: 0x55 })) }), HAW, request(4));
    expect(second.outcome).toMatchObject({ kind: 'remapped', iecHit: true, irte: { vector: 0x44 } });
    expect(second.iec).toBe(first.iec);
  });

  it('a not-present entry faults 0x22 (qualified, with its FPD) and is not cached', () => {
    const u = unit();
    for (const fpd of [false, true]) {
      const r = remapInterrupt(u, irt({ 3: encodeIrte(remapped({ present: false, fpd })) }), HAW, request(3));
      expect(r.outcome).toEqual(faultOf(0x22, 3, true, fpd));
      expect(r.iec).toBe(u.iec);
    }
  });

  it('a cached entry that faults still leaves the IEC filled (the entry was present when read)', () => {
    const u = unit();
    const r = remapInterrupt(u, irt({ 3: encodeIrte(remapped({ deliveryMode: 3, fpd: true })) }), HAW, request(3));
    expect(r.outcome).toEqual(faultOf(0x24, 3, true, true));
    expect(r.iec.order).toEqual([3]);
  });

  it('reserved bits of the format set: 0x24', () => {
    const r = remapInterrupt(unit(), irt({ 1: encodeIrte(remapped(), 1n << 12n) }), HAW, request(1));
    expect(r.outcome).toEqual(faultOf(0x24, 1, true));
  });

  it('the reserved delivery modes 011b and 110b: 0x24; every other mode is remapped', () => {
    for (const mode of [0, 1, 2, 3, 4, 5, 6, 7]) {
      const r = remapInterrupt(unit(), irt({ 1: encodeIrte(remapped({ deliveryMode: mode })) }), HAW, request(1));
      if (mode === 3 || mode === 6) expect(r.outcome, `mode ${mode}`).toEqual(faultOf(0x24, 1, true));
      else expect(r.outcome, `mode ${mode}`).toMatchObject({ kind: 'remapped', irte: { deliveryMode: mode } });
    }
  });

  it('xAPIC mode (EIME = 0): DST bits 7:0 or 31:16 set are reserved (0x24); the APIC ID is DST 15:8', () => {
    const u = unit({ eime: false });
    expect(remapInterrupt(u, irt({ 1: encodeIrte(remapped({ destination: 0x0500 })) }), HAW, request(1)).outcome).toMatchObject({ kind: 'remapped', apicId: 5 });
    expect(remapInterrupt(u, irt({ 1: encodeIrte(remapped({ destination: 0x0501 })) }), HAW, request(1)).outcome).toEqual(faultOf(0x24, 1, true));
    expect(remapInterrupt(u, irt({ 1: encodeIrte(remapped({ destination: 0x1_0500 })) }), HAW, request(1)).outcome).toEqual(faultOf(0x24, 1, true));
  });

  it('x2APIC mode (EIME = 1): all 32 DST bits are the APIC ID', () => {
    const r = remapInterrupt(unit(), irt({ 1: encodeIrte(remapped({ destination: 0x1_0501 })) }), HAW, request(1));
    expect(r.outcome).toMatchObject({ kind: 'remapped', apicId: 0x1_0501 });
  });

  it('a posted IRTE on a unit without CAP.PI is reserved (0x24); with CAP.PI it is posted', () => {
    const mem = irt({ 2: encodeIrte(postedIrte({ fpd: true })) });
    expect(remapInterrupt(unit(), mem, HAW, request(2)).outcome).toEqual(faultOf(0x24, 2, true, true));
    expect(remapInterrupt(unit({ cap: CAP_PI }), mem, HAW, request(2)).outcome).toEqual({ kind: 'posted', irteIndex: 2, irte: postedIrte({ fpd: true }), iecHit: false });
  });

  it('a posted IRTE with its own reserved bits set faults 0x24 even with CAP.PI', () => {
    const r = remapInterrupt(unit({ cap: CAP_PI }), irt({ 2: encodeIrte(postedIrte(), 1n << 2n) }), HAW, request(2));
    expect(r.outcome).toEqual(faultOf(0x24, 2, true));
  });

  it('a remapped IRTE does not need CAP.PI', () => {
    expect(remapInterrupt(unit({ cap: DEFAULT_CAP }), irt({ 1: encodeIrte(remapped()) }), HAW, request(1)).outcome).toMatchObject({ kind: 'remapped' });
  });
});

describe('source-ID verification and the outcome', () => {
  it('a request from another requester faults 0x26, qualified, with the IRTE\'s FPD', () => {
    const r = remapInterrupt(unit(), irt({ 1: encodeIrte(remapped({ fpd: true })) }), HAW, request(1, { rid: 0x701 }));
    expect(r.outcome).toEqual(faultOf(0x26, 1, true, true));
    expect(r.iec.order).toEqual([1]);
  });

  it('the remapped outcome carries the index, the decoded IRTE and the destination APIC ID', () => {
    const irte = remapped({ vector: 0xee, deliveryMode: 1, destinationModeLogical: true, redirectionHint: true, triggerLevel: true, destination: 0x33 });
    const r = remapInterrupt(unit(), irt({ 7: encodeIrte(irte) }), HAW, request(7));
    expect(r.outcome).toEqual({ kind: 'remapped', irteIndex: 7, irte, apicId: 0x33, iecHit: false });
  });

  it('SVT = 0: no verification', () => {
    const r = remapInterrupt(unit(), irt({ 1: encodeIrte(remapped({ svt: 0, sid: 0 })) }), HAW, request(1, { rid: 0xffff }));
    expect(r.outcome).toMatchObject({ kind: 'remapped' });
  });
});

describe('sourceIdMatches (VT-d §9.10 SVT / SQ / SID)', () => {
  it('SVT 0 matches any requester', () => {
    expect(sourceIdMatches(0, 3, 0x1234, 0xfedc)).toBe(true);
  });

  it('SVT 1, SQ 0: all 16 bits', () => {
    expect(sourceIdMatches(1, 0, 0x0700, 0x0700)).toBe(true);
    for (const bit of [0, 1, 2, 3, 8, 15]) expect(sourceIdMatches(1, 0, 0x0700, 0x0700 ^ (1 << bit)), `bit ${bit}`).toBe(false);
  });

  it('SVT 1, SQ 1: function bit 2 ignored; SQ 2: bits 2:1; SQ 3: bits 2:0 (the masks 0xfffb, 0xfff9, 0xfff8)', () => {
    const cases: [number, number, boolean][] = [
      [1, 0b100, true], [1, 0b010, false], [1, 0b001, false], [1, 0b1000, false],
      [2, 0b100, true], [2, 0b010, true], [2, 0b110, true], [2, 0b001, false], [2, 0b1000, false],
      [3, 0b111, true], [3, 0b001, true], [3, 0b1000, false],
    ];
    for (const [sq, flip, match] of cases) expect(sourceIdMatches(1, sq, 0x0700, 0x0700 ^ flip), `SQ ${sq} flip ${flip}`).toBe(match);
  });

  it('SVT 1 uses only SQ bits 1:0', () => {
    expect(sourceIdMatches(1, 4 | 1, 0x0700, 0x0704)).toBe(true);
    expect(sourceIdMatches(1, 4, 0x0700, 0x0704)).toBe(false);
  });

  it('SVT 2: the bus in [SID 15:8, SID 7:0], inclusive; device and function ignored', () => {
    const range = (0x05 << 8) | 0x08;
    expect(sourceIdMatches(2, 0, range, 0x0400 | 0xff)).toBe(false);
    expect(sourceIdMatches(2, 0, range, 0x0500)).toBe(true);
    expect(sourceIdMatches(2, 0, range, 0x06ff)).toBe(true);
    expect(sourceIdMatches(2, 0, range, 0x0800 | 0xff)).toBe(true);
    expect(sourceIdMatches(2, 0, range, 0x0900)).toBe(false);
  });

  it('SVT 3 is reserved: never matches', () => {
    expect(sourceIdMatches(3, 0, 0x0700, 0x0700)).toBe(false);
  });
});
