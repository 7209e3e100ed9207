/** Shared builders for the AMD-Vi tests: a unit with its tables in simulated memory. */
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { decodeLegacyIrte } from '../../src/amdvi/irte.ts';
import { decodeDte, encodeDte, dteAddress, type Dte } from '../../src/amdvi/dte.ts';
import { encodeDeviceTableBase, encodeRingBase } from '../../src/amdvi/registers.ts';
import { emptyAmdViUnit, writeControl, type AmdViUnit } from '../../src/amdvi/unit.ts';

export const DEVICE_TABLE = 0x100_0000n;
export const COMMAND_BUFFER = 0x180_0000n;
export const EVENT_LOG = 0x190_0000n;
export const IRT = 0x200_0000n;
/** 00:02.0 */
export const RID = 0x0010;

export const CTRL = {
  IommuEn: 1n,
  EventLogEn: 1n << 2n,
  EventIntEn: 1n << 3n,
  ComWaitIntEn: 1n << 4n,
  CmdBufEn: 1n << 12n,
  GAEn: 1n << 17n,
  GAMEnVapic: 1n << 25n,
  XTEn: 1n << 50n,
  IRTCacheDis: 1n << 59n,
} as const;

/** EFR with IASup (bit 6), GASup (7), XTSup (2). */
export const EFR = (1n << 2n) | (1n << 6n) | (1n << 7n);

/** A unit with a 2 MiB device table, 256-entry command buffer and event log, and `control` written. */
export function makeUnit(control: bigint, opts: { eventLen?: number; irteCache?: number } = {}): AmdViUnit {
  const u = emptyAmdViUnit({ index: 0, segment: 0, registerBase: 0xfd20_0000n, deviceId: 0x0002, capabilityOffset: 0x40, efr: EFR, ...(opts.irteCache === undefined ? {} : { irteCacheCapacity: opts.irteCache }) });
  const regs = {
    ...u.regs,
    deviceTableBase: encodeDeviceTableBase(DEVICE_TABLE, 0x20_0000n),
    commandBufferBase: encodeRingBase(COMMAND_BUFFER, 8),
    eventLogBase: encodeRingBase(EVENT_LOG, opts.eventLen ?? 8),
  };
  return { ...u, regs: writeControl(regs, control) };
}

/** A DTE for interrupt remapping as Linux sets it: V, TV, IV, IntCtl 10, IntTabLen 9, table at IRT, DomainID 7. */
export function irDte(over: Partial<Dte> = {}): Dte {
  return { ...decodeDte(0n), V: true, TV: true, IV: true, IntCtl: 2, IntTabLen: 9, IntTabRootPtr: Number(IRT >> 6n), DomainID: 7, ...over };
}

export function withDte(memory: PhysicalMemory, unit: AmdViUnit, rid: number, dte: Dte): PhysicalMemory {
  return memory.writeLE(dteAddress(unit.regs.deviceTableBase, rid), 32, encodeDte(dte));
}

export const emptyMemory = (): PhysicalMemory => PhysicalMemory.empty();

/** The rule for a legacy IRTE under IntCtl = 10, written out as the sheet states it. */
export function expectedLegacy(raw: bigint): string {
  const i = decodeLegacyIrte(raw);
  if (!i.remapEn) return 'blocked:remap-disabled';
  if (i.guestMode) return 'blocked:guest-mode-unsupported';
  if (i.intType > 1) return 'blocked:int-type';
  return 'remapped';
}
