import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  COMMAND_LAYOUTS,
  COMMAND_OPCODE,
  buildCommand,
  decodeCommand,
  encodeCommand,
  invalidationRange,
  processCommands,
} from '../../src/amdvi/commands.ts';
import { cacheFill, dteKey, irteKey } from '../../src/amdvi/caches.ts';
import { decodeDte } from '../../src/amdvi/dte.ts';
import { decodeLegacyIrte } from '../../src/amdvi/irte.ts';
import { readEventLog, EVENT_CODE } from '../../src/amdvi/event-log.ts';
import type { AmdViUnit } from '../../src/amdvi/unit.ts';
import type { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { RUNS, bitsN } from '../codecs/arbitraries.ts';
import { COMMAND_BUFFER, CTRL, emptyMemory, makeUnit } from './fixtures.ts';

const q = (lo: bigint, hi: bigint): bigint => lo | (hi << 64n);

describe('command codecs (sheet §6)', () => {
  it('encode(decode(x)) === x for every 128-bit pattern', () => {
    fc.assert(fc.property(bitsN(128), (x) => encodeCommand(decodeCommand(x)) === x), { ...RUNS, numRuns: 2000 });
  });
  it('encode(decode(x)) === x with each known opcode forced', () => {
    for (const op of Object.values(COMMAND_OPCODE)) {
      fc.assert(
        fc.property(bitsN(128), (x) => {
          const v = (x & ~(0xfn << 60n)) | (BigInt(op) << 60n);
          return decodeCommand(v).name !== 'UNKNOWN' && encodeCommand(decodeCommand(v)) === v;
        }),
        { ...RUNS, numRuns: 200 },
      );
    }
  });
  it('names or reserves all 128 bits of each layout', () => {
    for (const l of Object.values(COMMAND_LAYOUTS)) expect([l.name, l.ignoredMask]).toEqual([l.name, 0n]);
  });

  it('matches Linux build_completion_wait: data[0] = paddr | STORE, data[1] = paddr_hi | 1 << 28, data[3:2] = data', () => {
    const paddr = 0x1_2345_6788n;
    const data = 0x1122_3344_5566_7788n;
    const v = buildCommand('COMPLETION_WAIT', { S: true, I: false, F: false, StoreAddress: Number(paddr >> 3n), DataLo: 0x5566_7788, DataHi: 0x1122_3344 });
    expect(v).toBe(q(paddr | 1n | (1n << 60n), data));
  });
  it('matches Linux build_inv_dte / build_inv_irt / build_inv_all', () => {
    expect(buildCommand('INVALIDATE_DEVTAB_ENTRY', { DeviceID: 0x00a0 })).toBe(0x00a0n | (2n << 60n));
    expect(buildCommand('INVALIDATE_INTERRUPT_TABLE', { DeviceID: 0x0010 })).toBe(0x0010n | (5n << 60n));
    expect(buildCommand('INVALIDATE_IOMMU_ALL', {})).toBe(8n << 60n);
  });
  it("matches Linux's flush-all INVALIDATE_IOMMU_PAGES (address 0x7FFF_FFFF_FFFF_F000, S, PDE) and covers everything", () => {
    const addr = 0x7fff_ffff_ffff_f000n;
    const v = buildCommand('INVALIDATE_IOMMU_PAGES', { PASID: 0, DomainID: 7, S: true, PDE: true, GN: false, Address: Number(addr >> 12n) });
    expect(v).toBe(q((7n << 32n) | (3n << 60n), addr | 3n));
    expect(invalidationRange(addr, true)).toEqual({ first: 0n, bytes: 1n << 64n });
  });
  it('decodes the S size encoding: 2^(z+1) bytes, z the lowest 0 bit at or above 12', () => {
    expect(invalidationRange(0x1234_5000n, false)).toEqual({ first: 0x1234_5000n, bytes: 4096n });
    expect(invalidationRange(0x1234_5000n | 0x1000n, true)).toEqual({ first: 0x1234_4000n, bytes: 0x4000n }); // bit 12 set, 13 clear
    expect(invalidationRange(0x20_0000n | 0xf_f000n, true)).toEqual({ first: 0x20_0000n, bytes: 0x20_0000n }); // 2 MiB
  });
});

function withCommands(unit: AmdViUnit, memory: PhysicalMemory, commands: bigint[]): { unit: AmdViUnit; memory: PhysicalMemory } {
  let mem = memory;
  const head = unit.regs.commandHead;
  commands.forEach((c, i) => {
    mem = mem.writeLE(COMMAND_BUFFER + ((head + BigInt(16 * i)) % 4096n), 16, c);
  });
  return { unit: { ...unit, regs: { ...unit.regs, commandTail: (head + BigInt(16 * commands.length)) % 4096n } }, memory: mem };
}

function withCaches(unit: AmdViUnit): AmdViUnit {
  let dte = unit.caches.dte;
  let irte = unit.caches.irte;
  for (const id of [0x10, 0x11]) {
    dte = cacheFill(dte, dteKey(id), { raw: 0n, dte: decodeDte(0n) });
    for (const i of [0, 1]) irte = cacheFill(irte, irteKey(id, i), { raw: 1n, irte: decodeLegacyIrte(1) });
  }
  return { ...unit, caches: { dte, irte } };
}

describe('processCommands (VirtualBox iommuAmdR3CmdProcess)', () => {
  const running = CTRL.IommuEn | CTRL.CmdBufEn | CTRL.EventLogEn;

  it('does nothing unless IommuEn, CmdBufEn and CmdBufRun', () => {
    const s = withCommands(makeUnit(CTRL.CmdBufEn), emptyMemory(), [buildCommand('INVALIDATE_IOMMU_ALL', {})]);
    const r = processCommands(s.unit, s.memory);
    expect(r.effects).toEqual([]);
    expect(r.unit).toBe(s.unit);
  });

  it('invalidates the selected DTE and interrupt table, stores completion data, reaches the tail', () => {
    const s = withCommands(withCaches(makeUnit(running | CTRL.ComWaitIntEn)), emptyMemory(), [
      buildCommand('INVALIDATE_DEVTAB_ENTRY', { DeviceID: 0x10 }),
      buildCommand('INVALIDATE_INTERRUPT_TABLE', { DeviceID: 0x11 }),
      buildCommand('COMPLETION_WAIT', { S: true, I: true, F: false, StoreAddress: 0x5000 >> 3, DataLo: 0xcafe, DataHi: 1 }),
    ]);
    const r = processCommands(s.unit, s.memory);
    expect(r.effects.map((e) => e.kind)).toEqual(['invalidate-dte', 'invalidate-interrupt-table', 'completion-wait']);
    expect(r.unit.caches.dte.order).toEqual(['17']);
    expect(r.unit.caches.irte.order).toEqual(['16:0', '16:1']);
    expect(r.memory.readLE(0x5000n, 8)).toBe((1n << 32n) | 0xcafen);
    expect(r.effects[2]).toMatchObject({ statusSet: true, interrupt: true, storedAt: 0x5000n });
    expect(r.unit.regs.status & 4n).toBe(4n);
    expect(r.unit.regs.commandHead).toBe(r.unit.regs.commandTail);
  });

  it('INVALIDATE_IOMMU_ALL empties both caches and calls the DMA hook; IOTLB commands go to the hook', () => {
    const seen: string[] = [];
    const s = withCommands(withCaches(makeUnit(running)), emptyMemory(), [
      buildCommand('INVALIDATE_IOMMU_ALL', {}),
      buildCommand('INVALIDATE_IOMMU_PAGES', { PASID: 0, DomainID: 1, S: false, PDE: true, GN: false, Address: 5 }),
    ]);
    const r = processCommands(s.unit, s.memory, { dma: (u, c) => (seen.push(c.name), u) });
    expect(r.unit.caches.dte.order).toEqual([]);
    expect(r.unit.caches.irte.order).toEqual([]);
    expect(seen).toEqual(['INVALIDATE_IOMMU_ALL', 'INVALIDATE_IOMMU_PAGES']);
  });

  it('wraps the head at the end of the buffer', () => {
    const u0 = makeUnit(running);
    const u = { ...u0, regs: { ...u0.regs, commandHead: 4080n } };
    const s = withCommands(u, emptyMemory(), [buildCommand('INVALIDATE_DEVTAB_ENTRY', { DeviceID: 1 }), buildCommand('INVALIDATE_DEVTAB_ENTRY', { DeviceID: 2 })]);
    const r = processCommands(s.unit, s.memory);
    expect(r.effects.map((e) => (e.kind === 'invalidate-dte' ? e.deviceId : -1))).toEqual([1, 2]);
    expect(r.unit.regs.commandHead).toBe(16n);
  });

  it('an illegal command logs ILLEGAL_COMMAND_ERROR at its address, clears CmdBufRun and stops on it', () => {
    const bad = buildCommand('INVALIDATE_DEVTAB_ENTRY', { DeviceID: 1 }) | (1n << 16n); // reserved bit 16
    const s = withCommands(withCaches(makeUnit(running)), emptyMemory(), [
      buildCommand('INVALIDATE_DEVTAB_ENTRY', { DeviceID: 0x10 }),
      bad,
      buildCommand('INVALIDATE_DEVTAB_ENTRY', { DeviceID: 0x11 }),
    ]);
    const r = processCommands(s.unit, s.memory);
    expect(r.effects.map((e) => e.kind)).toEqual(['invalidate-dte', 'illegal-command']);
    expect(r.effects[1]).toMatchObject({ why: 'reserved-bits', at: COMMAND_BUFFER + 16n, event: 'logged' });
    expect(r.unit.regs.commandHead).toBe(16n);
    expect(r.unit.regs.status & 16n).toBe(0n);
    expect(r.unit.caches.dte.order).toEqual(['17']);
    expect(readEventLog(r.memory, r.unit.regs).map((e) => [e.code, e.address])).toEqual([[EVENT_CODE.ILLEGAL_COMMAND_ERROR, COMMAND_BUFFER + 16n]]);
    // Halted: calling again does nothing.
    expect(processCommands(r.unit, r.memory).effects).toEqual([]);
  });

  it('unknown opcodes and INVALIDATE_IOMMU_ALL without EFR.IASup are illegal', () => {
    const s = withCommands(makeUnit(running), emptyMemory(), [0n]);
    expect(processCommands(s.unit, s.memory).effects[0]).toMatchObject({ kind: 'illegal-command', why: 'unknown-opcode' });
    const noIa = { ...s.unit, efr: 0n };
    const t = withCommands(noIa, s.memory, [buildCommand('INVALIDATE_IOMMU_ALL', {})]);
    expect(processCommands(t.unit, t.memory).effects[0]).toMatchObject({ kind: 'illegal-command', why: 'unsupported' });
  });
});
