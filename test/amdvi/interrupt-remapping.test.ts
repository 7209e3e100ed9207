import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { remapInterruptAmd, lintPasses, type AmdRemapOutcome } from '../../src/amdvi/interrupt-remapping.ts';
import { buildCommand, processCommands } from '../../src/amdvi/commands.ts';
import { encodeAmdIrte, decodeLegacyIrte, type GaRemappedIrte, type GaVapicIrte, type LegacyIrte } from '../../src/amdvi/irte.ts';
import { eventFlagsValue, EVENT_CODE } from '../../src/amdvi/event-log.ts';
import { encodeDeviceTableBase } from '../../src/amdvi/registers.ts';
import type { AmdViUnit } from '../../src/amdvi/unit.ts';
import type { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { RUNS, bitsN } from '../codecs/arbitraries.ts';
import { COMMAND_BUFFER, CTRL, IRT, RID, emptyMemory, expectedLegacy, irDte, makeUnit, withDte } from './fixtures.ts';
import type { Dte } from '../../src/amdvi/dte.ts';

const HAW = 48;
const MSI = 0xfee0_0000n;

const legacy = (over: Partial<LegacyIrte> = {}): LegacyIrte => ({ ...decodeLegacyIrte(0), remapEn: true, destination: 3, vector: 0x31, ...over });
const gaRemap = (over: Partial<GaRemappedIrte> = {}): GaRemappedIrte => ({
  format: 'ga-remapped', remapEn: true, supIopf: false, intType: 0, rqEoi: false, destinationModeLogical: false, destination: 0x0123_4567, vector: 0x40, reserved: 0n, ...over,
});
const vapic = (over: Partial<GaVapicIrte> = {}): GaVapicIrte => ({
  format: 'ga-vapic', remapEn: true, supIopf: false, gaLogIntr: true, gaPpiDis: false, isRun: true, destination: 0x0100_0005, gaTag: 0x10002, vector: 0x61, backingPage: 0x12_3456_7000n, reserved: 0n, ...over,
});

/** Memory with the DTE for RID and IRTE `index` of the table at IRT in the unit's format. */
function setup(control: bigint, irte: LegacyIrte | GaRemappedIrte | GaVapicIrte, index = 5, dte: Partial<Dte> = {}): { unit: AmdViUnit; memory: PhysicalMemory } {
  const unit = makeUnit(control);
  const size = irte.format === 'legacy' ? 4 : 16;
  let memory = withDte(emptyMemory(), unit, RID, irDte(dte));
  memory = memory.writeLE(IRT + BigInt(index * size), size, encodeAmdIrte(irte));
  return { unit, memory };
}

const remap = (s: { unit: AmdViUnit; memory: PhysicalMemory }, data: number, address = MSI, rid = RID) =>
  remapInterruptAmd(s.unit, s.memory, HAW, { rid, address, data });
const kindOf = (o: AmdRemapOutcome): string => (o.kind === 'blocked' ? `blocked:${o.why}` : o.kind === 'passthrough' ? `pass:${o.why}` : o.kind);

describe('remapInterruptAmd: pass / block before the IRTE (sheet §3.2)', () => {
  it('passes everything while IommuEn = 0', () => {
    expect(kindOf(remap(setup(0n, legacy()), 5).outcome)).toBe('pass:iommu-disabled');
  });
  it("passes the IOMMU's own MSIs (VirtualBox iommuAmdMsiRemap)", () => {
    const s = setup(CTRL.IommuEn, legacy());
    expect(kindOf(remap(s, 5, MSI, s.unit.deviceId).outcome)).toBe('pass:own-interrupt');
  });
  it('refuses an address outside the interrupt window without an event (VirtualBox)', () => {
    expect(remap(setup(CTRL.IommuEn, legacy()), 5, 0xfef0_0000n).outcome).toMatchObject({ kind: 'blocked', why: 'not-interrupt-address', event: undefined });
  });
  it('passes when DTE.IV = 0 (VirtualBox, QEMU)', () => {
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5, { IV: false }), 5).outcome)).toBe('pass:iv-clear');
  });
  it('IntCtl: 00 target abort without an event, 01 forward, 11 ILLEGAL_DEV_TABLE_ENTRY', () => {
    const abort = remap(setup(CTRL.IommuEn, legacy(), 5, { IntCtl: 0 }), 5).outcome;
    expect(abort).toMatchObject({ kind: 'blocked', why: 'intctl-abort', event: undefined });
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5, { IntCtl: 1 }), 5).outcome)).toBe('pass:intctl-forward');
    const ill = remap(setup(CTRL.IommuEn, legacy(), 5, { IntCtl: 3 }), 5).outcome;
    expect(ill).toMatchObject({ kind: 'blocked', why: 'intctl-reserved', event: { code: EVENT_CODE.ILLEGAL_DEV_TABLE_ENTRY, deviceId: RID, flags: { i: true, rz: true } } });
  });
  it('NMI / INIT / ExtINT pass only with their pass bit and address DM = 0', () => {
    const nmi = 0x400;
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5), nmi).outcome)).toBe('blocked:pass-bit-clear');
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5, { NMIPass: true }), nmi).outcome)).toBe('pass:pass-bit');
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5, { NMIPass: true }), nmi, MSI | 4n).outcome)).toBe('blocked:dm-on-non-fixed');
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5, { InitPass: true }), 0x500).outcome)).toBe('pass:pass-bit');
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5, { EIntPass: true }), 0x700).outcome)).toBe('pass:pass-bit');
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5, { NMIPass: true, InitPass: true, EIntPass: true }), 0x300).outcome)).toBe('blocked:reserved-delivery-mode');
  });
  it('SMI follows DTE.SysMgt', () => {
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5, { SysMgt: 0 }), 0x200).outcome)).toBe('blocked:sysmgt-abort');
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5, { SysMgt: 1 }), 0x200).outcome)).toBe('pass:sysmgt-forward');
  });
  it('LINT0 / LINT1 follow Lint0Pass / Lint1Pass', () => {
    expect(lintPasses(irDte({ Lint0Pass: true }), 0)).toBe(true);
    expect(lintPasses(irDte({ Lint0Pass: true }), 1)).toBe(false);
  });
  it('IntTabLen ≥ 12 is an illegal DTE; reserved DTE[255:128] bits with IV = 1 too', () => {
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy(), 5, { IntTabLen: 12 }), 5).outcome)).toBe('blocked:int-tab-len');
    const o = remap(setup(CTRL.IommuEn, legacy(), 5, { reserved: 1n << 200n }), 5).outcome;
    expect(o).toMatchObject({ kind: 'blocked', why: 'dte-reserved', event: { code: 1, flags: { i: true, rz: true } } });
  });
  it('a DeviceID beyond the device table faults (VirtualBox)', () => {
    const s = setup(CTRL.IommuEn, legacy());
    const small = { ...s, unit: { ...s.unit, regs: { ...s.unit.regs, deviceTableBase: encodeDeviceTableBase(0x100_0000n, 4096n) } } };
    expect(remap(small, 5, MSI, 0x100).outcome).toMatchObject({ kind: 'blocked', why: 'device-id-beyond-table', event: { code: 2, deviceId: 0x100 } });
  });
});

describe('remapInterruptAmd: the IRTE walk', () => {
  it('legacy IRTE: vector, destination and mode from the IRTE; the MSI address plays no part', () => {
    const s = setup(CTRL.IommuEn, legacy({ destinationModeLogical: true, intType: 1 }));
    const o = remap(s, 5, MSI | 0xff000n).outcome;
    expect(o).toMatchObject({ kind: 'remapped', irteIndex: 5, destination: 3, vector: 0x31, destinationModeLogical: true, deliveryMode: 1, dteHit: false, irteHit: false });
  });
  it('index beyond 2^IntTabLen → IO_PAGE_FAULT (I = 1, PR = 0) at the MSI address', () => {
    // Arbitrated (data[10:8] = 001) index 0x12C with a 256-entry table.
    const o = remap(setup(CTRL.IommuEn, legacy(), 5, { IntTabLen: 8 }), 0x12c).outcome;
    expect(o).toMatchObject({ kind: 'blocked', why: 'index-beyond-table', irteIndex: 0x12c, event: { code: 2, deviceId: RID, domainOrPasid: 7, address: MSI, flags: { i: true, pr: false } } });
  });
  it('RemapEn = 0 → IO_PAGE_FAULT flags=0x0008 (the cmpxchg_double regression report); SupIOPF or IG suppress the log', () => {
    const o = remap(setup(CTRL.IommuEn, legacy({ remapEn: false })), 5).outcome;
    expect(o).toMatchObject({ kind: 'blocked', why: 'remap-disabled', suppressed: false });
    if (o.kind !== 'blocked' || o.event === undefined) throw new Error('expected a fault');
    expect(eventFlagsValue(o.event.flags)).toBe(0x008);
    expect(remap(setup(CTRL.IommuEn, legacy({ remapEn: false, supIopf: true })), 5).outcome).toMatchObject({ suppressed: true });
    expect(remap(setup(CTRL.IommuEn, legacy({ remapEn: false }), 5, { IG: true }), 5).outcome).toMatchObject({ suppressed: true });
  });
  it('a 128-bit IRTE with RemapEn = 0 faults even in guest mode (sheet §4.4)', () => {
    const o = remap(setup(CTRL.IommuEn | CTRL.GAEn | CTRL.GAMEnVapic, vapic({ remapEn: false })), 5).outcome;
    expect(kindOf(o)).toBe('blocked:remap-disabled');
  });
  it('IntType other than fixed/arbitrated and legacy GuestMode fault with PR = 1, RZ = 1 (QEMU rejects them, VirtualBox RZ)', () => {
    const o = remap(setup(CTRL.IommuEn, legacy({ intType: 2 })), 5).outcome;
    expect(o).toMatchObject({ kind: 'blocked', why: 'int-type', event: { flags: { i: true, pr: true, rz: true } } });
    expect(kindOf(remap(setup(CTRL.IommuEn, legacy({ guestMode: true })), 5).outcome)).toBe('blocked:guest-mode-unsupported');
  });
  it('GAEn selects the 128-bit format; XTEn adds Destination[31:24]', () => {
    expect(remap(setup(CTRL.IommuEn | CTRL.GAEn | CTRL.XTEn, gaRemap()), 5).outcome).toMatchObject({ kind: 'remapped', destination: 0x0123_4567, vector: 0x40 });
    expect(remap(setup(CTRL.IommuEn | CTRL.GAEn, gaRemap()), 5).outcome).toMatchObject({ kind: 'remapped', destination: 0x23_4567 });
  });
  it('GuestMode = 1 gives the guest outcome with GAMEn = 001, else a fault (VirtualBox RZ)', () => {
    const o = remap(setup(CTRL.IommuEn | CTRL.GAEn | CTRL.GAMEnVapic | CTRL.XTEn, vapic()), 5).outcome;
    expect(o).toMatchObject({ kind: 'guest', gaTag: 0x10002, backingPage: 0x12_3456_7000n, isRun: true, doorbellDestination: 0x0100_0005, vector: 0x61, gaLogIntr: true });
    expect(kindOf(remap(setup(CTRL.IommuEn | CTRL.GAEn, vapic()), 5).outcome)).toBe('blocked:guest-mode-unsupported');
  });
  it('a DTE or IRTE above the host address width is a read error', () => {
    const s = setup(CTRL.IommuEn, legacy());
    // DTE at 0x100_0200 < 2^25 ≤ IRT at 0x200_0000; both ≥ 2^20.
    expect(remapInterruptAmd(s.unit, s.memory, 20, { rid: RID, address: MSI, data: 5 }).outcome).toMatchObject({ why: 'dte-read-error', event: { code: 3 } });
    expect(remapInterruptAmd(s.unit, s.memory, 25, { rid: RID, address: MSI, data: 5 }).outcome).toMatchObject({ why: 'irte-read-error', event: { code: 4, address: IRT + 20n } });
  });
});

describe('DTE and IRTE caches stay stale until invalidated (sheet §3.4)', () => {
  const running = CTRL.IommuEn | CTRL.CmdBufEn | CTRL.EventLogEn;
  function invalidate(unit: AmdViUnit, memory: PhysicalMemory, command: bigint): AmdViUnit {
    const m = memory.writeLE(COMMAND_BUFFER + unit.regs.commandHead, 16, command);
    const u = { ...unit, regs: { ...unit.regs, commandTail: unit.regs.commandHead + 16n } };
    return processCommands(u, m).unit;
  }

  it('a changed IRTE is used only after INVALIDATE_INTERRUPT_TABLE', () => {
    const s = setup(running, legacy());
    const first = remap(s, 5);
    expect(first.outcome).toMatchObject({ kind: 'remapped', vector: 0x31, irteHit: false });
    const unit = { ...s.unit, caches: first.caches };
    const memory = s.memory.writeLE(IRT + 20n, 4, encodeAmdIrte(legacy({ vector: 0x99 })));
    expect(remapInterruptAmd(unit, memory, HAW, { rid: RID, address: MSI, data: 5 }).outcome).toMatchObject({ vector: 0x31, irteHit: true, dteHit: true });
    const other = invalidate(unit, memory, buildCommand('INVALIDATE_INTERRUPT_TABLE', { DeviceID: RID + 1 }));
    expect(remapInterruptAmd(other, memory, HAW, { rid: RID, address: MSI, data: 5 }).outcome).toMatchObject({ vector: 0x31 });
    const fresh = invalidate(unit, memory, buildCommand('INVALIDATE_INTERRUPT_TABLE', { DeviceID: RID }));
    expect(remapInterruptAmd(fresh, memory, HAW, { rid: RID, address: MSI, data: 5 }).outcome).toMatchObject({ vector: 0x99, irteHit: false });
  });

  it('a faulting IRTE is not cached: fixing it in memory takes effect at once', () => {
    const s = setup(running, legacy({ remapEn: false }));
    const first = remap(s, 5);
    expect(first.caches.irte.order).toEqual([]);
    expect(first.caches.dte.order).toEqual([String(RID)]);
  });

  it('with Control.IRTCacheDis the IRTE cache is not used', () => {
    const s = setup(running | CTRL.IRTCacheDis, legacy());
    const first = remap(s, 5);
    expect(first.caches.irte.order).toEqual([]);
  });

  it('a changed DTE is used only after INVALIDATE_DEVTAB_ENTRY', () => {
    const s = setup(running, legacy());
    const first = remap(s, 5);
    const unit = { ...s.unit, caches: first.caches };
    const memory = withDte(s.memory, unit, RID, irDte({ IntCtl: 0 }));
    expect(kindOf(remapInterruptAmd(unit, memory, HAW, { rid: RID, address: MSI, data: 5 }).outcome)).toBe('remapped');
    const fresh = invalidate(unit, memory, buildCommand('INVALIDATE_DEVTAB_ENTRY', { DeviceID: RID }));
    expect(kindOf(remapInterruptAmd(fresh, memory, HAW, { rid: RID, address: MSI, data: 5 }).outcome)).toBe('blocked:intctl-abort');
  });
});

describe('property: any legacy IRTE value is remapped or faulted by the sheet §4.5 rule', () => {
  it('holds for every 32-bit IRTE', () => {
    fc.assert(
      fc.property(bitsN(32), fc.integer({ min: 0, max: 511 }), (raw, index) => {
        const unit = makeUnit(CTRL.IommuEn);
        const memory = withDte(emptyMemory(), unit, RID, irDte()).writeLE(IRT + BigInt(index * 4), 4, raw);
        const o = remapInterruptAmd(unit, memory, HAW, { rid: RID, address: MSI, data: index }).outcome;
        expect(kindOf(o)).toBe(expectedLegacy(raw));
        if (o.kind === 'remapped') {
          const i = decodeLegacyIrte(raw);
          expect([o.vector, o.destination, o.destinationModeLogical]).toEqual([i.vector, i.destination, i.destinationModeLogical]);
        }
      }),
      RUNS,
    );
  });
});
