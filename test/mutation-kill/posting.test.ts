/**
 * Posting through a posted-format IRTE (src/vtd/posting.ts `planPosting`), VT-d §9.11–§9.12:
 * the descriptor must be readable below 2^HAW (else 0x27) and its reserved control bits clear
 * (else 0x28; bits 511:320 are software's); the notification is sent iff ON was clear and SN
 * clear or the IRTE urgent, with vector NV to the APIC ID in NDST (x2APIC: all 32 bits; xAPIC:
 * NDST 15:8).
 */
import { describe, expect, it } from 'vitest';
import { planPosting } from '../../src/vtd/posting.ts';
import { encodePid, PID_LAYOUT } from '../../src/vtd/pid.ts';
import type { PostedIrte } from '../../src/vtd/irte.ts';
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';

const PDA = 0x4000_0040n;
const irte = (o: Partial<PostedIrte> = {}): PostedIrte => ({ mode: 'posted', present: true, fpd: false, avail: 0, urgent: false, virtualVector: 0x41, pda: PDA, sid: 0x700, sq: 0, svt: 1, ...o });
const pid = (c: { on?: boolean; sn?: boolean; nv?: number; ndst?: number; pir?: bigint } = {}, reserved = 0n, at = PDA): PhysicalMemory =>
  PhysicalMemory.empty().writeLE(at, 64, encodePid({ pir: c.pir ?? 0n, on: c.on ?? false, sn: c.sn ?? false, nv: c.nv ?? 0xf2, ndst: c.ndst ?? 4 }, reserved));

describe('planPosting: the descriptor', () => {
  it('ON and SN clear: posted and notified with NV to the x2APIC ID in NDST', () => {
    expect(planPosting(pid({ ndst: 0x1_0004 }), 39, irte(), true)).toEqual({
      kind: 'posted',
      pda: PDA,
      virtualVector: 0x41,
      snSet: false,
      notification: { vector: 0xf2, apicId: 0x1_0004 },
      suppressed: undefined,
    });
  });

  it('xAPIC (EIME = 0): the APIC ID is NDST bits 15:8', () => {
    expect(planPosting(pid({ ndst: 0xab_0500 }), 39, irte(), false)).toMatchObject({ notification: { vector: 0xf2, apicId: 5 } });
  });

  it('a descriptor whose 64 bytes end above 2^HAW cannot be read: 0x27; one ending exactly at 2^HAW can', () => {
    const last = (1n << 39n) - 64n;
    expect(planPosting(pid({}, 0n, last), 39, irte({ pda: last }), true)).toMatchObject({ kind: 'posted', pda: last });
    expect(planPosting(PhysicalMemory.empty(), 39, irte({ pda: last + 64n }), true)).toEqual({ kind: 'fault', reason: 0x27 });
  });

  it('the bound follows the host address width of each call', () => {
    const at = 1n << 39n;
    const mem = pid({}, 0n, at);
    expect(planPosting(mem, 39, irte({ pda: at }), true)).toEqual({ kind: 'fault', reason: 0x27 });
    expect(planPosting(mem, 40, irte({ pda: at }), true)).toMatchObject({ kind: 'posted', pda: at });
    expect(planPosting(mem, 39, irte({ pda: at }), true)).toEqual({ kind: 'fault', reason: 0x27 });
  });

  it('reserved control bits (271:258, 287:280) set: 0x28', () => {
    for (const bit of [258n, 271n, 280n, 287n]) {
      expect(planPosting(pid({}, 1n << bit), 39, irte(), true), `bit ${bit}`).toEqual({ kind: 'fault', reason: 0x28 });
    }
  });

  it('bits 511:320 are left to software: no fault', () => {
    const high = PID_LAYOUT.reservedMask & ~((1n << 320n) - 1n);
    expect(planPosting(pid({}, high), 39, irte(), true)).toMatchObject({ kind: 'posted', notification: { vector: 0xf2, apicId: 4 } });
  });
});

describe('planPosting: notify or suppress (VT-d §9.12)', () => {
  it('ON already set: no notification, whatever SN and URG say', () => {
    for (const sn of [false, true]) {
      for (const urgent of [false, true]) {
        expect(planPosting(pid({ on: true, sn }), 39, irte({ urgent }), true)).toEqual({ kind: 'posted', pda: PDA, virtualVector: 0x41, snSet: sn, notification: undefined, suppressed: 'on-already-set' });
      }
    }
  });

  it('SN set, not urgent: suppressed by SN', () => {
    expect(planPosting(pid({ sn: true }), 39, irte(), true)).toEqual({ kind: 'posted', pda: PDA, virtualVector: 0x41, snSet: true, notification: undefined, suppressed: 'sn-set' });
  });

  it('SN set, urgent: notified, and SN is reported as read', () => {
    expect(planPosting(pid({ sn: true, nv: 0xf1 }), 39, irte({ urgent: true }), true)).toEqual({
      kind: 'posted',
      pda: PDA,
      virtualVector: 0x41,
      snSet: true,
      notification: { vector: 0xf1, apicId: 4 },
      suppressed: undefined,
    });
  });

  it('the virtual vector and PDA come from the IRTE; PIR contents do not matter', () => {
    expect(planPosting(pid({ pir: (1n << 255n) | 1n }), 39, irte({ virtualVector: 0xff }), true)).toMatchObject({ kind: 'posted', pda: PDA, virtualVector: 0xff, notification: { vector: 0xf2 } });
  });
});
