/**
 * Translation rules of issue #10 item 5, one block per rule, each with the source it follows
 * (the walk's docstrings and docs/fidelity.md carry the same citations), and an independent
 * oracle: a separate, small re-statement of QEMU's reserved masks and permission checks
 * (`hw/i386/intel_iommu_internal.h` `VTD_SPTE_*_RSVD_MASK` / `VTD_FPTE_*_RSVD_MASK`,
 * `hw/i386/intel_iommu.c` `vtd_iova_to_slpte` / `vtd_iova_to_flpte`), with remapsim's
 * spec-decided departures as named switches, compared with the walk over random entries.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import {
  dmaCapabilitiesFromRegisters,
  translateDma,
  type DmaCapabilities,
  type DmaConfig,
  type DmaRequest,
  type DmaTranslation,
  type DmaWalkFault,
  type DmaWalkResult,
} from '../../src/vtd/dma/walk.ts';
import { installPasidEntry, installScalableDevice, type PasidEntryInput } from '../../src/vtd/dma/builder.ts';
import { RTADDR, TTM, addressFrame } from '../../src/vtd/dma/structures.ts';
import { CAP_LAYOUT, ECAP_LAYOUT, decodeCap, decodeEcap, encodeCap, encodeEcap } from '../../src/vtd/registers.ts';
import { FRCD_LAYOUT, decodeFaultRecord, encodeFaultRecord } from '../../src/vtd/fault-record.ts';
import { faultReason } from '../../src/vtd/fault-reasons.ts';
import { DID, PASID, RID, RUNS, firstStageSetup, legacySetup, nestedSetup, req, scalableBase, secondStageSetup, type Setup } from './fixtures.ts';

const ok = (r: DmaWalkResult): DmaTranslation => {
  if (!r.ok) throw new Error(`unexpected fault 0x${r.fault.reason.toString(16)} (${r.fault.condition})`);
  return r;
};
const fault = (r: DmaWalkResult): DmaWalkFault['fault'] => {
  if (r.ok) throw new Error(`unexpected translation to 0x${r.hpa.toString(16)}`);
  return r.fault;
};
const withCap = (s: Setup, cap: Partial<DmaCapabilities>): DmaConfig => ({ ...s.config, cap: { ...s.config.cap, ...cap } });
const page = (iova: bigint, hpa: bigint, extra: { read?: boolean; write?: boolean; user?: boolean; execute?: boolean } = {}) => ({
  iova,
  hpa,
  size: 4096,
  read: extra.read ?? true,
  write: extra.write ?? true,
  user: extra.user ?? true,
  ...(extra.execute === undefined ? {} : { execute: extra.execute }),
});
const pasidReq = (iova: bigint, access: 'r' | 'w' | 'rw' | 'x' = 'r', extra: Partial<DmaRequest> = {}) => req(iova, access, { pasid: PASID, ...extra });

/** The memory with the `bytes`-byte structure the walk read at (stage, level) changed by `f`. */
function editEntry(s: Setup, r: DmaRequest, stage: string, level: number, f: (e: bigint) => bigint, bytes = 8): Setup {
  const t = ok(translateDma(s.memory, s.config, r));
  const ref = t.references.find((x) => x.stage === stage && x.level === level);
  if (!ref) throw new Error(`no ${stage} reference at level ${level}`);
  return { ...s, memory: s.memory.writeLE(ref.entryAddress, bytes, f(s.memory.readLE(ref.entryAddress, bytes))) };
}

describe('input address bounded by MGAW and by the AW (CAP.MGAW datasheet text; QEMU vtd_iova_limit = 2^min(MGAW, AW))', () => {
  const s = legacySetup([page(0x80_0000_0000n, 0x5000n)], { levels: 4 });
  it('legacy: 2^39 is beyond a 39-bit MGAW (0x04) although the 4-level AW reaches 2^48; below it translates', () => {
    expect(ok(translateDma(s.memory, withCap(s, { mgawBits: 48 }), req(0x80_0000_0010n))).hpa).toBe(0x5010n);
    expect(fault(translateDma(s.memory, withCap(s, { mgawBits: 39 }), req(0x80_0000_0010n)))).toMatchObject({ reason: 0x04, condition: 'beyond-aw' });
    expect(fault(translateDma(s.memory, withCap(s, { mgawBits: 57 }), req(1n << 48n))).reason).toBe(0x04); // the AW still bounds
  });
  it('scalable second stage: 0x83; nested: a first-stage output GPA at or above 2^MGAW is 0x74', () => {
    const ss = secondStageSetup([page(0x80_0000_0000n, 0x5000n)]);
    expect(ok(translateDma(ss.memory, ss.config, pasidReq(0x80_0000_0000n))).hpa).toBe(0x5000n);
    expect(fault(translateDma(ss.memory, withCap(ss, { mgawBits: 39 }), pasidReq(0x80_0000_0000n))).reason).toBe(0x83);
    const n = nestedSetup([{ iova: 0x1000n, gpa: 0x80_0000_0000n, hpa: 0x9000n, size: 4096, read: true, write: true, user: true }]);
    expect(ok(translateDma(n.memory, n.config, pasidReq(0x1000n))).hpa).toBe(0x9000n);
    expect(fault(translateDma(n.memory, withCap(n, { mgawBits: 39 }), pasidReq(0x1000n)))).toMatchObject({ reason: 0x74, stage: 'first', level: 1 });
  });
  it('pass-through: the input is the output, bounded by 2^min(MGAW, HAW) (0x04)', () => {
    const pt = legacySetup([], { tt: 2 });
    expect(ok(translateDma(pt.memory, withCap(pt, { mgawBits: 39 }), req(0x7f_ffff_f000n))).hpa).toBe(0x7f_ffff_f000n);
    expect(fault(translateDma(pt.memory, withCap(pt, { mgawBits: 39 }), req(1n << 39n))).reason).toBe(0x04);
    expect(fault(translateDma(pt.memory, withCap(pt, { hawBits: 40 }), req(1n << 40n))).reason).toBe(0x04);
  });
  it('AW values CAP.SAGAW does not offer: 0x03 legacy (also for TT = 2, as QEMU checks the level first), 0x5B scalable', () => {
    expect(fault(translateDma(s.memory, withCap(s, { sagaw: 0b1010 }), req(0x80_0000_0000n)))).toMatchObject({ reason: 0x03, condition: 'context-invalid' });
    const pt = legacySetup([], { tt: 2 });
    expect(fault(translateDma(pt.memory, withCap(pt, { sagaw: 0b0010 }), req(0x1000n))).reason).toBe(0x03);
    const ss = secondStageSetup([page(0x1000n, 0x5000n)], { levels: 3 });
    expect(ok(translateDma(ss.memory, ss.config, pasidReq(0x1000n))).hpa).toBe(0x5000n);
    expect(fault(translateDma(ss.memory, withCap(ss, { sagaw: 0b0100 }), pasidReq(0x1000n))).reason).toBe(0x5b);
  });
});

describe('CAP/ECAP honoured', () => {
  it('legacy TT = 1 (device-TLB) needs ECAP.DT, TT = 2 needs ECAP.PT, TT = 3 is reserved: 0x03 (QEMU vtd_ce_type_check; VirtualBox LCT.4.2)', () => {
    const dt = legacySetup([page(0x1000n, 0x5000n)], { tt: 1 });
    expect(ok(translateDma(dt.memory, dt.config, req(0x1000n))).hpa).toBe(0x5000n);
    expect(fault(translateDma(dt.memory, withCap(dt, { deviceTlb: false }), req(0x1000n)))).toMatchObject({ reason: 0x03, condition: 'context-invalid' });
    const pt = legacySetup([], { tt: 2 });
    expect(fault(translateDma(pt.memory, withCap(pt, { passThrough: false }), req(0x1000n))).reason).toBe(0x03);
    const rsvd = legacySetup([page(0x1000n, 0x5000n)], { tt: 3 });
    expect(fault(translateDma(rsvd.memory, rsvd.config, req(0x1000n))).reason).toBe(0x03);
  });
  it('PGTT 1/2/3/4 need ECAP.FLTS/SLTS/NEST/PT: 0x5B (QEMU vtd_pe_type_check)', () => {
    const fs = firstStageSetup([page(0x1000n, 0x5000n)]);
    const ss = secondStageSetup([page(0x1000n, 0x5000n)]);
    const n = nestedSetup([{ iova: 0x1000n, gpa: 0x2000n, hpa: 0x5000n, size: 4096, read: true, write: true, user: true }]);
    const pt = secondStageSetup([], { entry: { PGTT: 4 } });
    for (const [setup, cap] of [[fs, { firstStage: false }], [ss, { secondStage: false }], [n, { nestedTranslation: false }], [pt, { passThrough: false }]] as const) {
      expect(ok(translateDma(setup.memory, setup.config, pasidReq(0x1000n))).hpa).toBe(setup === pt ? 0x1000n : 0x5000n);
      expect(fault(translateDma(setup.memory, withCap(setup, cap), pasidReq(0x1000n)))).toMatchObject({ reason: 0x5b, condition: 'pasid-entry-invalid' });
    }
  });
  it('ECAP.SC: PGSNP = 1 without it is a reserved PASID-entry field (0x5A); ECAP.SLADS likewise for SLADE', () => {
    const snp = secondStageSetup([page(0x1000n, 0x5000n)], { entry: { PGSNP: true } });
    expect(ok(translateDma(snp.memory, snp.config, pasidReq(0x1000n))).hpa).toBe(0x5000n);
    expect(fault(translateDma(snp.memory, withCap(snp, { snoopControl: false }), pasidReq(0x1000n))).reason).toBe(0x5a);
    const ad = secondStageSetup([page(0x1000n, 0x5000n)], { entry: { SLADE: true } });
    expect(ok(translateDma(ad.memory, ad.config, pasidReq(0x1000n))).adUpdates.length).toBeGreaterThan(0);
    expect(fault(translateDma(ad.memory, withCap(ad, { secondStageAD: false }), pasidReq(0x1000n))).reason).toBe(0x5a);
  });
  it('ECAP.SMTS: TTM = 1 without it is 0x30, recorded (VirtualBox RTA.1.3)', () => {
    const ss = secondStageSetup([page(0x1000n, 0x5000n)]);
    expect(fault(translateDma(ss.memory, withCap(ss, { scalableMode: false }), pasidReq(0x1000n)))).toMatchObject({ reason: 0x30, condition: 'scalable-mode-unsupported', record: true });
  });
  it('ECAP.ADMS: TTM = 3 aborts silently with it, and is a recorded 0x30 without it (VirtualBox dmarDrMemReqRemap)', () => {
    const s = legacySetup([page(0x1000n, 0x5000n)]);
    const rtaddr = s.config.rtaddr | (3n << 10n);
    expect(fault(translateDma(s.memory, { rtaddr }, req(0x1000n)))).toMatchObject({ reason: 0x30, condition: 'abort-dma', record: false });
    expect(fault(translateDma(s.memory, { rtaddr, cap: { abortDmaMode: false } }, req(0x1000n)))).toMatchObject({ reason: 0x30, record: true });
  });
  it('ECAP.RPS: without it RID_PASID is ignored and PASID 0 is used; ECAP.RPRIVS: without it RID_PRIV is ignored', () => {
    const b = scalableBase();
    const dev = installScalableDevice(b.memory, b.alloc, { rootTable: b.rootTable, rid: RID, ridPasid: PASID, ridPriv: true });
    const pe = installPasidEntry(dev.memory, dev.allocator, { pasidDirectory: dev.pasidDirectory, pasid: PASID, entry: { DID, PGTT: 4, SRE: false } });
    const config = { rtaddr: RTADDR.encode({ RTA: addressFrame(b.rootTable), TTM: TTM.SCALABLE }) };
    // RID_PRIV = 1 makes the request supervisor, and SRE = 0 refuses it (0x5D) — unless RPRIVS = 0.
    expect(fault(translateDma(pe.memory, config, req(0x1000n))).reason).toBe(0x5d);
    const t = ok(translateDma(pe.memory, { ...config, cap: { ridPriv: false } }, req(0x1000n)));
    expect([t.pasid, t.privileged]).toEqual([PASID, false]);
    // RPS = 0: PASID 0, whose directory entry (index 0) is not present here.
    expect(fault(translateDma(pe.memory, { ...config, cap: { ridPasid: false, ridPriv: false } }, req(0x1000n)))).toMatchObject({ reason: 0x51, condition: 'pasid-dir-not-present' });
  });
  it('dmaCapabilitiesFromRegisters reads every capability from its CAP/ECAP field', () => {
    const zeroCap = decodeCap(0n);
    const zeroEcap = decodeEcap(0n);
    const cap = encodeCap({ ...zeroCap, SLLPS: 0b10, FL1GP: true, FL5LP: false, SAGAW: 0b0100, MGAW: 38, reserved: 0n });
    const ecap = encodeEcap({ ...zeroEcap, PT: true, DT: false, SC: true, SMTS: true, FLTS: true, SLTS: false, NEST: true, SLADS: false, ADMS: true, RPS: false, RPRIVS: true, reserved: 0n });
    expect(dmaCapabilitiesFromRegisters(cap, ecap, 46)).toEqual({
      sl2M: false, sl1G: true, fl1G: true, fl5: false, sagaw: 0b0100, hawBits: 46, passThrough: true, mgawBits: 39, deviceTlb: false,
      snoopControl: true, scalableMode: true, firstStage: true, secondStage: false, nestedTranslation: true, secondStageAD: false,
      abortDmaMode: true, ridPasid: false, ridPriv: true,
    });
  });
});

describe('pointers at or above HAW are reserved-field faults, not access errors (QEMU *_RSVD(aw) masks)', () => {
  const cap = { hawBits: 39 };
  const above = 1n << 39n;
  it('scalable root entry: LCTP or UCTP at or above HAW is 0x3A, whichever half the devfn uses (QEMU checks both)', () => {
    const s = secondStageSetup([page(0x1000n, 0x5000n)]);
    const r = pasidReq(0x1000n);
    expect(fault(translateDma(editEntry(s, r, 'root', 0, (e) => e | above, 16).memory, withCap(s, cap), r)).reason).toBe(0x3a);
    expect(fault(translateDma(editEntry(s, r, 'root', 0, (e) => e | (above << 64n), 16).memory, withCap(s, cap), r)).reason).toBe(0x3a);
  });
  it('scalable context entry PASIDDIRPTR 0x42; PASID-directory SMPTBLPTR 0x52', () => {
    const s = secondStageSetup([page(0x1000n, 0x5000n)]);
    const r = pasidReq(0x1000n);
    expect(fault(translateDma(editEntry(s, r, 'context', 0, (e) => e | above, 32).memory, withCap(s, cap), r))).toMatchObject({ reason: 0x42, condition: 'context-reserved' });
    expect(fault(translateDma(editEntry(s, r, 'pasid-dir', 0, (e) => e | above).memory, withCap(s, cap), r))).toMatchObject({ reason: 0x52, condition: 'pasid-dir-reserved' });
  });
  it('PASID entry: SLPTPTR 0x7B (invalid second-level pointer), FLPTPTR of a first-stage entry 0x73', () => {
    const ss = secondStageSetup([page(0x1000n, 0x5000n)]);
    const r = pasidReq(0x1000n);
    expect(fault(translateDma(editEntry(ss, r, 'pasid', 0, (e) => e | above, 64).memory, withCap(ss, cap), r)).reason).toBe(0x7b);
    const fs = firstStageSetup([page(0x1000n, 0x5000n)]);
    expect(fault(translateDma(editEntry(fs, r, 'pasid', 0, (e) => e | (above << 128n), 64).memory, withCap(fs, cap), r)).reason).toBe(0x73);
  });
});

describe('first-stage walk: per-level P and reserved bits, combined U/S, R/W, XD; A flags on the levels used before a fault', () => {
  const iova = 0x7654_3000n;
  const fsReq = (access: 'r' | 'w' | 'x' = 'r', extra: Partial<DmaRequest> = {}) => pasidReq(iova + 0x10n, access, extra);
  const setup = (opts: { nxe?: boolean; entry?: PasidEntryInput } = {}) => firstStageSetup([page(iova, 0xabc000n, { execute: true })], opts);
  const aLevels = (t: { adUpdates: { stage: string; level: number; before: bigint; after: bigint }[] }) =>
    t.adUpdates.filter((u) => u.stage === 'first').map((u) => [u.level, u.after & ~u.before]);

  it('a walk that succeeds sets A on all four levels and D on the leaf for a write', () => {
    const s = setup();
    expect(aLevels(ok(translateDma(s.memory, s.config, fsReq('w'))))).toEqual([[4, 0x20n], [3, 0x20n], [2, 0x20n], [1, 0x60n]]);
  });
  for (const level of [3, 2, 1]) {
    it(`P = 0 at level ${level}: 0x71 at that level; A set on the levels above only, and memory carries it`, () => {
      const s = setup();
      const cut = editEntry(s, fsReq(), 'first', level, (e) => e & ~1n);
      const r = translateDma(cut.memory, cut.config, fsReq('w'));
      expect(fault(r)).toMatchObject({ reason: 0x71, level });
      const above = [4, 3, 2].filter((l) => l > level).map((l) => [l, 0x20n]);
      expect(aLevels(r as DmaWalkFault)).toEqual(above);
      const ref = (r as DmaWalkFault).references.find((x) => x.stage === 'first' && x.level === 4)!;
      expect((r as DmaWalkFault).memory.readLE(ref.entryAddress, 8) & 0x20n).toBe(0x20n);
    });
  }
  it('U/S = 0 in a non-leaf entry refuses a user request (0x81, reported at the leaf, whose A stays clear) and not a supervisor one', () => {
    const s = setup();
    const cut = editEntry(s, fsReq(), 'first', 3, (e) => e & ~4n);
    const r = translateDma(cut.memory, cut.config, fsReq('r'));
    expect(fault(r)).toMatchObject({ reason: 0x81, condition: 'user-supervisor', level: 1 });
    expect(aLevels(r as DmaWalkFault)).toEqual([[4, 0x20n], [3, 0x20n], [2, 0x20n]]);
    expect(ok(translateDma(cut.memory, cut.config, fsReq('r', { privileged: true }))).hpa).toBe(0xabc010n);
  });
  it('R/W = 0 at any level refuses writes (0x85), except supervisor writes with WPE = 0', () => {
    const s = setup();
    const cut = editEntry(s, fsReq(), 'first', 4, (e) => e & ~2n);
    expect(fault(translateDma(cut.memory, cut.config, fsReq('w')))).toMatchObject({ reason: 0x85, level: 1 });
    expect(ok(translateDma(cut.memory, cut.config, fsReq('r'))).hpa).toBe(0xabc010n);
    expect(ok(translateDma(cut.memory, cut.config, fsReq('w', { privileged: true }))).permissions.write).toBe(true);
    const wpe = setup({ entry: { WPE: true } });
    const cutWpe = editEntry(wpe, fsReq(), 'first', 4, (e) => e & ~2n);
    expect(fault(translateDma(cutWpe.memory, cutWpe.config, fsReq('w', { privileged: true }))).reason).toBe(0x85);
  });
  it('XD: with NXE = 1 at any level it refuses execute (0x82); with NXE = 0 bit 63 is reserved (0x72)', () => {
    const nx = setup({ nxe: true });
    const cut = editEntry(nx, fsReq(), 'first', 2, (e) => e | (1n << 63n));
    expect(fault(translateDma(cut.memory, cut.config, fsReq('x')))).toMatchObject({ reason: 0x82, level: 1 });
    expect(ok(translateDma(cut.memory, cut.config, fsReq('r'))).hpa).toBe(0xabc010n);
    const plain = setup();
    const cut0 = editEntry(plain, fsReq(), 'first', 2, (e) => e | (1n << 63n));
    expect(fault(translateDma(cut0.memory, cut0.config, fsReq('r')))).toMatchObject({ reason: 0x72, level: 2 });
  });
  it('order: a reserved bit below a level lacking R/W is 0x72 — the walk ends before rights are judged (x86 order; QEMU would say 0x85)', () => {
    const s = setup();
    const a = editEntry(s, fsReq(), 'first', 4, (e) => e & ~2n);
    const b = editEntry(a, fsReq(), 'first', 1, (e) => e | (1n << 51n));
    expect(fault(translateDma(b.memory, withCap(b, { hawBits: 48 }), fsReq('w')))).toMatchObject({ reason: 0x72, level: 1 });
  });
  it('second stage with SLADE = 1: a fault at level 2 leaves A on levels 4 and 3; SLADE = 0 and legacy mode write nothing', () => {
    const s = secondStageSetup([page(0x1000n, 0x5000n)], { entry: { SLADE: true } });
    const r = pasidReq(0x1000n);
    const cut = editEntry(s, r, 'second', 2, () => 0n);
    const f = translateDma(cut.memory, cut.config, r);
    expect(fault(f)).toMatchObject({ reason: 0x79, level: 2 });
    expect((f as DmaWalkFault).adUpdates.map((u) => [u.stage, u.level, u.after & ~u.before])).toEqual([['second', 4, 0x100n], ['second', 3, 0x100n]]);
    const plain = secondStageSetup([page(0x1000n, 0x5000n)]);
    const cutPlain = editEntry(plain, r, 'second', 2, () => 0n);
    const g = translateDma(cutPlain.memory, cutPlain.config, r) as DmaWalkFault;
    expect([g.adUpdates, g.memory]).toEqual([[], cutPlain.memory]);
  });
});

describe('second-stage reserved bits in the walk (QEMU vtd_slpte_nonzero_rsvd with remapsim choices)', () => {
  const leafIova = 0x1234_5000n;
  it('SNP in a leaf: 0x0C without ECAP.SC, accepted with it; SNP in a non-leaf entry is reserved either way', () => {
    const s = legacySetup([page(leafIova, 0x9000n)]);
    const snp = editEntry(s, req(leafIova), 'second', 1, (e) => e | (1n << 11n));
    expect(ok(translateDma(snp.memory, withCap(snp, { snoopControl: true }), req(leafIova))).hpa).toBe(0x9000n);
    expect(fault(translateDma(snp.memory, withCap(snp, { snoopControl: false }), req(leafIova)))).toMatchObject({ reason: 0x0c, level: 1 });
    const upper = editEntry(s, req(leafIova), 'second', 3, (e) => e | (1n << 11n));
    expect(fault(translateDma(upper.memory, withCap(upper, { snoopControl: true }), req(leafIova)))).toMatchObject({ reason: 0x0c, level: 3 });
    const sm = secondStageSetup([page(leafIova, 0x9000n)]);
    const smSnp = editEntry(sm, pasidReq(leafIova), 'second', 1, (e) => e | (1n << 11n));
    expect(fault(translateDma(smSnp.memory, withCap(smSnp, { snoopControl: false }), pasidReq(leafIova))).reason).toBe(0x7a);
  });
  it('TM (bit 62) is reserved (VT-d 3.2+); PS in a 4 KiB PTE is ignored', () => {
    const s = legacySetup([page(leafIova, 0x9000n)]);
    const tm = editEntry(s, req(leafIova), 'second', 1, (e) => e | (1n << 62n));
    expect(fault(translateDma(tm.memory, tm.config, req(leafIova))).reason).toBe(0x0c);
    const ps = editEntry(s, req(leafIova), 'second', 1, (e) => e | 0x80n);
    expect(ok(translateDma(ps.memory, ps.config, req(leafIova))).pageSize).toBe(4096);
  });
});

describe('fault-record and capability layouts', () => {
  it('FRCD bit 92 is T2 (VirtualBox VTD_BF_1_FRCD_REG_T2); 91:80 stay reserved', () => {
    expect(FRCD_LAYOUT.spec.fields.T2).toEqual({ hi: 92, lo: 92 });
    const zero = decodeFaultRecord(0n).record;
    expect(zero.type2).toBeUndefined();
    const raw = encodeFaultRecord({ ...zero, type2: true });
    expect(raw).toBe(1n << 92n);
    expect(decodeFaultRecord(raw)).toEqual({ record: { ...zero, type2: true }, reserved: 0n });
    expect(decodeFaultRecord(1n << 91n).reserved).toBe(1n << 91n);
  });
  it('ECAP bit 52 is ADMS and bit 53 RPRIVS (Intel ECAP_REG datasheet); 63:54 reserved', () => {
    expect(ECAP_LAYOUT.spec.fields.ADMS).toEqual({ hi: 52, lo: 52 });
    expect(ECAP_LAYOUT.spec.fields.RPRIVS).toEqual({ hi: 53, lo: 53 });
    expect(decodeEcap((1n << 52n) | (1n << 53n))).toMatchObject({ ADMS: true, RPRIVS: true, reserved: 0n });
    expect(decodeEcap(1n << 54n).reserved).toBe(1n << 54n);
    expect(CAP_LAYOUT.spec.fields.MGAW).toEqual({ hi: 21, lo: 16 });
  });
  it('fault reasons 0x33, 0x7D, 0x88, 0x89: scalable-mode rows named by their VirtualBox condition codes, not qualified', () => {
    for (const [code, cond] of [[0x33, 'RTA.4'], [0x7d, 'SSL.6'], [0x88, 'SGN.9'], [0x89, 'SGN.10']] as const) {
      expect(faultReason(code)).toMatchObject({ kind: 'dma-scalable', qualified: false });
      expect(faultReason(code)?.description).toContain(cond);
    }
  });
});

// ---------------------------------------------------------------------------------------
// The independent oracle.

const U64 = (1n << 64n) - 1n;
/** QEMU `VTD_HAW_MASK(aw)`. */
const hawMask = (aw: number): bigint => (1n << BigInt(aw)) - 1n;
/** QEMU `VTD_SL_IGN_COM`: bits 63 and 61:52 ignored in every second-stage entry. */
const SL_IGN_COM = 0xbff0_0000_0000_0000n;
/** QEMU `VTD_FS_UPPER_IGNORED`. */
const FS_UPPER_IGNORED = 0xfff0_0000_0000_0000n;

interface SsOracleCaps {
  hawBits: number;
  mgawBits: number;
  sagaw: number;
  sl2M: boolean;
  sl1G: boolean;
  snoopControl: boolean;
}

/**
 * QEMU's second-stage reserved masks restated (`vtd_init`: `vtd_spte_rsvd[1..4]`,
 * `vtd_spte_rsvd_large[2..3]`, stale-tm off, SNP cleared with snoop control), plus remapsim's
 * one addition: PS at a level whose page size CAP.SLLPS lacks is reserved (`sllpsReserved`).
 */
function qemuSpteRsvd(e: bigint, level: number, c: SsOracleCaps, sllpsReserved: boolean): bigint {
  const hi = ~(hawMask(c.hawBits) | SL_IGN_COM) & U64;
  const large = (level === 2 || level === 3) && (e & 0x80n) !== 0n;
  let m: bigint;
  if (large) m = (level === 2 ? 0x1f_f800n : 0x3fff_f800n) | hi;
  else m = (level === 4 ? 0x880n : 0x800n) | hi;
  if (c.snoopControl && (level === 1 || large)) m &= ~0x800n;
  if (sllpsReserved && large && ((level === 2 && !c.sl2M) || (level === 3 && !c.sl1G))) m |= 0x80n;
  return m;
}

/** QEMU `vtd_dev_to_context_entry` (AW level) + `vtd_iova_to_slpte` (legacy mode, 4-level AW): a fault reason or the HPA. */
function ssOracle(mem: (a: bigint) => bigint, slptptr: bigint, c: SsOracleCaps, iova: bigint, write: boolean, sllpsReserved = true): number | bigint {
  if (((c.sagaw >> 2) & 1) === 0) return 0x03;
  if (iova >> BigInt(Math.min(48, c.mgawBits)) !== 0n) return 0x04;
  let addr = slptptr;
  for (let level = 4; ; level--) {
    const e = mem(addr + ((iova >> BigInt(12 + 9 * (level - 1))) & 0x1ffn) * 8n);
    if ((e & (write ? 2n : 1n)) === 0n) return write ? 0x05 : 0x06;
    if ((e & qemuSpteRsvd(e, level, c, sllpsReserved)) !== 0n) return 0x0c;
    const last = level === 1 || ((level === 2 || level === 3) && (e & 0x80n) !== 0n);
    const addrBits = e & hawMask(c.hawBits) & ~0xfffn;
    if (last) {
      const size = 1n << BigInt(12 + 9 * (level - 1));
      return (addrBits & ~(size - 1n)) | (iova & (size - 1n));
    }
    addr = addrBits;
  }
}

interface FsOracleCaps {
  hawBits: number;
  fl1G: boolean;
  nxe: boolean;
}

/**
 * QEMU's first-stage masks restated (`VTD_FPTE_PAGE_L1..L4_RSVD_MASK`, `VTD_FPTE_LPAGE_L2/L3`,
 * the FS1GP variant), with remapsim's addition `xdReserved`: XD reserved when NXE = 0.
 */
function qemuFpteRsvd(e: bigint, level: number, c: FsOracleCaps, xdReserved: boolean): bigint {
  const hi = ~(hawMask(c.hawBits) | FS_UPPER_IGNORED) & U64;
  const ps = (e & 0x80n) !== 0n;
  let m = hi;
  if (level === 4) m |= 0x80n;
  else if (level === 3 && ps) m |= c.fl1G ? 0x3fff_e000n : 0x80n;
  else if (level === 2 && ps) m |= 0x1f_e000n;
  if (xdReserved && !c.nxe) m |= 1n << 63n;
  return m;
}

/**
 * QEMU `vtd_iova_to_flpte` for a 4-level first stage and a user request: canonical check, then
 * per level P, U/S, R/W (`order: 'qemu'`) or — remapsim, x86 order — P and reserved bits per
 * level with U/S and R/W judged on the combined rights at the leaf (`order: 'x86'`). Returns the
 * reason or HPA, and the levels whose A flag the walk sets (QEMU writes A level by level after
 * the checks pass; D on the leaf for writes).
 */
function fsOracle(
  mem: (a: bigint) => bigint,
  root: bigint,
  c: FsOracleCaps,
  iova: bigint,
  write: boolean,
  order: 'qemu' | 'x86',
  xdReserved = true,
): { result: number | bigint; a: number[] } {
  const top = iova >> 47n;
  if (top !== 0n && top !== (1n << 17n) - 1n) return { result: 0x80, a: [] };
  const a: number[] = [];
  let addr = root;
  let us = true;
  let rw = true;
  for (let level = 4; ; level--) {
    const e = mem(addr + ((iova >> BigInt(12 + 9 * (level - 1))) & 0x1ffn) * 8n);
    if ((e & 1n) === 0n) return { result: 0x71, a };
    if (order === 'qemu') {
      if ((e & 4n) === 0n) return { result: 0x81, a };
      if (write && (e & 2n) === 0n) return { result: 0x85, a };
    }
    if ((e & qemuFpteRsvd(e, level, c, xdReserved)) !== 0n) return { result: 0x72, a };
    us &&= (e & 4n) !== 0n;
    rw &&= (e & 2n) !== 0n;
    const last = level === 1 || ((level === 2 || level === 3) && (e & 0x80n) !== 0n);
    if (last && order === 'x86') {
      if (!us) return { result: 0x81, a };
      if (write && !rw) return { result: 0x85, a };
    }
    a.push(level);
    const addrBits = e & hawMask(c.hawBits) & ~0xfffn;
    if (last) {
      const size = 1n << BigInt(12 + 9 * (level - 1));
      return { result: (addrBits & ~(size - 1n)) | (iova & (size - 1n)), a };
    }
    addr = addrBits;
  }
}

/** Table pages of the generated walks (fixed HPAs below 2^39). */
const TABLES = [0x200_0000n, 0x200_1000n, 0x200_2000n, 0x200_3000n] as const;
/** Bits the generator may add to an entry: every field and reserved position that matters somewhere. */
const NOISE_BITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20, 21, 29, 30, 39, 40, 46, 47, 48, 51, 52, 58, 61, 62, 63];

/** One generated entry: a pointer to the next table, or at levels 2/3 sometimes an aligned large page, plus noise bits. */
const entryArb = (level: number, rights: bigint) =>
  fc.record({
    large: level === 2 || level === 3 ? fc.boolean() : fc.constant(false),
    page: fc.integer({ min: 1, max: 7 }),
    rights: fc.constantFrom(rights, rights, rights, 0n, 1n, 2n),
    noise: fc.uniqueArray(fc.constantFrom(...NOISE_BITS), { maxLength: 2 }),
  }).map(({ large, page, rights: r, noise }) => {
    let e = r;
    if (level === 1) e |= BigInt(0x300 + page) << 12n;
    else if (large) e |= (BigInt(page) << BigInt(12 + 9 * (level - 1))) | 0x80n;
    else e |= TABLES[4 - level + 1]!;
    for (const b of noise) e ^= 1n << BigInt(b);
    return e;
  });

const iovaArb = fc.record({
  i4: fc.integer({ min: 0, max: 511 }),
  i3: fc.integer({ min: 0, max: 511 }),
  i2: fc.integer({ min: 0, max: 511 }),
  i1: fc.integer({ min: 0, max: 511 }),
  off: fc.integer({ min: 0, max: 0xffc }),
  high: fc.constantFrom(0n, 0n, 0n, 1n << 39n, 1n << 47n, 0xffff_0000_0000_0000n),
}).map(({ i4, i3, i2, i1, off, high }) => high | (BigInt(i4) << 39n) | (BigInt(i3) << 30n) | (BigInt(i2) << 21n) | (BigInt(i1) << 12n) | BigInt(off));

interface Case {
  iova: bigint;
  write: boolean;
  entries: bigint[];
}
const caseArb = (rights: bigint) =>
  fc.record({ iova: iovaArb, write: fc.boolean(), entries: fc.tuple(entryArb(4, rights), entryArb(3, rights), entryArb(2, rights), entryArb(1, rights)) }) as fc.Arbitrary<Case>;

/** Memory holding the four generated entries at the slots the IOVA selects (tables TABLES[0..3] for levels 4..1). */
function placeEntries(base: PhysicalMemory, c: Case): PhysicalMemory {
  let m = base;
  c.entries.forEach((e, k) => {
    const level = 4 - k;
    m = m.writeLE(TABLES[k]! + ((c.iova >> BigInt(12 + 9 * (level - 1))) & 0x1ffn) * 8n, 8, e);
  });
  return m;
}

const ssCapsArb: fc.Arbitrary<SsOracleCaps> = fc.record({
  hawBits: fc.constantFrom(39, 46, 48, 52),
  mgawBits: fc.constantFrom(39, 48, 57),
  sagaw: fc.constantFrom(0b0100, 0b0110, 0b1100, 0b0010),
  sl2M: fc.boolean(),
  sl1G: fc.boolean(),
  snoopControl: fc.boolean(),
});

/** Legacy-mode device RID with a context entry pointing at TABLES[0] (AW = 2, 4 levels). */
function legacyBase(): { memory: PhysicalMemory; rtaddr: bigint } {
  let m = PhysicalMemory.empty();
  m = m.writeLE(0x1000n + BigInt((RID >> 8) * 16), 16, 0x2000n | 1n);
  m = m.writeLE(0x2000n + BigInt((RID & 0xff) * 16), 16, ((BigInt(DID) << 8n | 2n) << 64n) | TABLES[0] | 1n);
  return { memory: m, rtaddr: 0x1000n };
}

type Walk = (memory: PhysicalMemory, config: DmaConfig, request: DmaRequest) => DmaWalkResult;
const outcome = (r: DmaWalkResult): number | bigint => (r.ok ? r.hpa : r.fault.reason);

function ssProperty(walk: Walk, oracle: typeof ssOracle = ssOracle) {
  const base = legacyBase();
  return fc.property(ssCapsArb, caseArb(3n), (caps, c) => {
    const memory = placeEntries(base.memory, c);
    const request: DmaRequest = { rid: RID, iova: c.iova, size: 4, read: !c.write, write: c.write };
    const got = outcome(walk(memory, { rtaddr: base.rtaddr, cap: caps }, request));
    const want = oracle((a) => memory.readLE(a, 8), TABLES[0], caps, c.iova, c.write);
    expect(got).toBe(want);
  });
}

const fsCapsArb = fc.record({ hawBits: fc.constantFrom(39, 46, 52), fl1G: fc.boolean(), nxe: fc.boolean() });

/** A scalable first-stage-only PASID entry (4-level, user requests) whose FLPTPTR is TABLES[0]. */
function firstStageBase(nxe: boolean): { memory: PhysicalMemory; rtaddr: bigint } {
  const b = scalableBase();
  const dev = installScalableDevice(b.memory, b.alloc, { rootTable: b.rootTable, rid: RID, ridPasid: PASID });
  const pe = installPasidEntry(dev.memory, dev.allocator, { pasidDirectory: dev.pasidDirectory, pasid: PASID, entry: { DID, PGTT: 1, NXE: nxe, FLPTPTR: addressFrame(TABLES[0]) } });
  return { memory: pe.memory, rtaddr: RTADDR.encode({ RTA: addressFrame(b.rootTable), TTM: TTM.SCALABLE }) };
}

function fsProperty(walk: Walk, order: 'qemu' | 'x86' = 'x86') {
  const bases = [firstStageBase(false), firstStageBase(true)];
  return fc.property(fsCapsArb, caseArb(7n), (caps, c) => {
    const base = bases[caps.nxe ? 1 : 0]!;
    const memory = placeEntries(base.memory, c);
    const request: DmaRequest = { rid: RID, pasid: PASID, iova: c.iova, size: 4, read: !c.write, write: c.write };
    const r = walk(memory, { rtaddr: base.rtaddr, cap: { hawBits: caps.hawBits, fl1G: caps.fl1G } }, request);
    const want = fsOracle((a) => memory.readLE(a, 8), TABLES[0], caps, c.iova, c.write, order);
    expect(outcome(r)).toBe(want.result);
    // A flags: newly set on exactly the levels the oracle says were used (and not already A);
    // D only on the leaf of a successful write.
    const entryAt = (level: number): bigint => c.entries[4 - level]!;
    const newly = (bit: bigint) => r.adUpdates.filter((u) => ((u.after & ~u.before) & bit) !== 0n).map((u) => u.level);
    expect(newly(0x20n)).toEqual(want.a.filter((l) => (entryAt(l) & 0x20n) === 0n));
    const leaf = want.a[want.a.length - 1];
    const dirtied = r.ok && c.write && leaf !== undefined && (entryAt(leaf) & 0x40n) === 0n ? [leaf] : [];
    expect(newly(0x40n)).toEqual(dirtied);
  });
}

/** Fixed seed and a few hundred runs (issue #10 item 5). */
const ORACLE_RUNS = { seed: RUNS.seed, numRuns: 400 } as const;

describe('independent oracle: QEMU reserved masks and permission checks restated, compared with the walk', () => {
  it('legacy second stage: the walk decides as the oracle for 400 random entry chains, capabilities and requests', () => {
    fc.assert(ssProperty(translateDma), ORACLE_RUNS);
  });
  it('scalable first stage (user requests): reason or HPA, and which levels get A, as the oracle in x86 order', () => {
    fc.assert(fsProperty(translateDma), ORACLE_RUNS);
  });
  it('the generated cases are not trivial: faults of every kind and translations both occur', () => {
    const base = legacyBase();
    const seen = new Set<string>();
    fc.assert(
      fc.property(ssCapsArb, caseArb(3n), (caps, c) => {
        const memory = placeEntries(base.memory, c);
        const r = translateDma(memory, { rtaddr: base.rtaddr, cap: caps }, { rid: RID, iova: c.iova, size: 4, read: !c.write, write: c.write });
        seen.add(r.ok ? 'hpa' : `0x${r.fault.reason.toString(16)}`);
      }),
      ORACLE_RUNS,
    );
    expect([...seen].sort()).toEqual(['0x3', '0x4', '0x5', '0x6', '0xc', 'hpa']);
  });
  it('can fail: a walk told the wrong ECAP.SC, one that swaps 0x05/0x06, and an oracle without the SLLPS rule are caught', () => {
    const wrongSc: Walk = (m, cfg, r) => translateDma(m, { ...cfg, cap: { ...cfg.cap, snoopControl: !(cfg.cap?.snoopControl ?? true) } }, r);
    const swapped: Walk = (m, cfg, r) => {
      const x = translateDma(m, cfg, r);
      if (x.ok || (x.fault.reason !== 5 && x.fault.reason !== 6)) return x;
      return { ...x, fault: { ...x.fault, reason: 11 - x.fault.reason } };
    };
    expect(fc.check(ssProperty(wrongSc), ORACLE_RUNS).failed).toBe(true);
    expect(fc.check(ssProperty(swapped), ORACLE_RUNS).failed).toBe(true);
    const noSllps: typeof ssOracle = (mem, root, c, iova, write) => ssOracle(mem, root, c, iova, write, false);
    expect(fc.check(ssProperty(translateDma, noSllps), ORACLE_RUNS).failed).toBe(true);
  });
  it('can fail: QEMU\'s own first-stage order (U/S and R/W per level, before reserved bits) disagrees with the walk — the documented departure', () => {
    expect(fc.check(fsProperty(translateDma, 'qemu'), ORACLE_RUNS).failed).toBe(true);
  });
});
