/**
 * AMD-Vi command buffer: 128-bit commands and their processing (spec 48882 §2.4 "Commands";
 * Linux `drivers/iommu/amd/iommu.c` `build_completion_wait`, `build_inv_dte`,
 * `build_inv_iommu_pages`, `build_inv_iotlb_pages`, `build_inv_irt`, `build_complete_ppr`,
 * `build_inv_all`, `amd_iommu_types.h` `CMD_*`; VirtualBox `iommu-amd.h` `CMD_*_T` and
 * `*_VALID_MASK`, `DevIommuAmd.cpp` `iommuAmdR3CmdProcess`; FreeBSD `amdiommu_cmd_*`; QEMU
 * `amdvi_cmdbuf_exec`). Fact sheet amdvi-facts.md §6.
 *
 * A command is one bigint `qword1 << 64 | qword0`; the opcode is bits 63:60. Each layout
 * names or reserves all 128 bits; a reserved bit set, or an opcode the unit does not
 * implement, is an illegal command (VirtualBox's valid masks): ILLEGAL_COMMAND_ERROR is
 * logged with the command's address and the buffer stops (Status.CmdBufRun = 0), as
 * VirtualBox does (QEMU carries on; sheet §6 [derived]).
 */
import { defineRecord, type DecodedRecord } from '../bits/record.ts';
import { maskOf } from '../bits/bits.ts';
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import { cacheDrop, irteKeyOfDevice, dteKey } from './caches.ts';
import { appendEvent, EVENT_CODE, makeEvent, type AppendResult } from './event-log.ts';
import { CONTROL_BITS, STATUS_BITS, regBit, ringAddress, ringBytes, ringOffset } from './registers.ts';
import type { AmdViUnit } from './unit.ts';
import { EFR_LAYOUT } from './efr.ts';

/** Bytes per command. */
export const COMMAND_BYTES = 16;

/** Opcodes (Linux `CMD_*`; VirtualBox `IOMMU_CMD_*`). */
export const COMMAND_OPCODE = Object.freeze({
  COMPLETION_WAIT: 0x1,
  INVALIDATE_DEVTAB_ENTRY: 0x2,
  INVALIDATE_IOMMU_PAGES: 0x3,
  INVALIDATE_IOTLB_PAGES: 0x4,
  INVALIDATE_INTERRUPT_TABLE: 0x5,
  PREFETCH_IOMMU_PAGES: 0x6,
  COMPLETE_PPR_REQUEST: 0x7,
  INVALIDATE_IOMMU_ALL: 0x8,
} as const);

export type CommandName = keyof typeof COMMAND_OPCODE;

/** A one-bit field; literal types keep `hi === lo` visible, so it decodes to boolean. */
const bit = <N extends number>(n: N): { hi: N; lo: N } => ({ hi: n, lo: n });
const span = <H extends number, L extends number>(hi: H, lo: L): { hi: H; lo: L } => ({ hi, lo });
const OPCODE = span(63, 60);

/** COMPLETION_WAIT: S 0 store, I 1 interrupt, F 2 flush, store address [51:3], data 127:64 (sheet §6). */
const COMPLETION_WAIT = defineRecord(
  'COMPLETION_WAIT',
  128,
  { S: bit(0), I: bit(1), F: bit(2), StoreAddress: span(51, 3), Opcode: OPCODE, DataLo: span(95, 64), DataHi: span(127, 96) },
  [span(59, 52)],
);
/** INVALIDATE_DEVTAB_ENTRY: DeviceID 15:0. */
const INVALIDATE_DEVTAB_ENTRY = defineRecord('INVALIDATE_DEVTAB_ENTRY', 128, { DeviceID: span(15, 0), Opcode: OPCODE }, [
  span(59, 16),
  span(127, 64),
]);
/** INVALIDATE_IOMMU_PAGES: PASID 19:0, DomainID 47:32, S 64, PDE 65, GN 66, address[63:12] at 127:76. */
const INVALIDATE_IOMMU_PAGES = defineRecord(
  'INVALIDATE_IOMMU_PAGES',
  128,
  { PASID: span(19, 0), DomainID: span(47, 32), Opcode: OPCODE, S: bit(64), PDE: bit(65), GN: bit(66), Address: span(127, 76) },
  [span(31, 20), span(59, 48), span(75, 67)],
);
/**
 * INVALIDATE_IOTLB_PAGES: DeviceID 15:0, Maxpend 31:24, QueueID 47:32, S 64, GN 66, Type 69:68,
 * address 127:76; PASID split as Linux / FreeBSD place it ([15:8] → 23:16, [7:0] → 55:48,
 * [19:16] → 59:56; VirtualBox differs, sheet [DISAGREE]).
 */
const INVALIDATE_IOTLB_PAGES = defineRecord(
  'INVALIDATE_IOTLB_PAGES',
  128,
  {
    DeviceID: span(15, 0),
    PASID_15_8: span(23, 16),
    Maxpend: span(31, 24),
    QueueID: span(47, 32),
    PASID_7_0: span(55, 48),
    PASID_19_16: span(59, 56),
    Opcode: OPCODE,
    S: bit(64),
    GN: bit(66),
    Type: span(69, 68),
    Address: span(127, 76),
  },
  [bit(65), bit(67), span(75, 70)],
);
/** INVALIDATE_INTERRUPT_TABLE: DeviceID 15:0. */
const INVALIDATE_INTERRUPT_TABLE = defineRecord('INVALIDATE_INTERRUPT_TABLE', 128, { DeviceID: span(15, 0), Opcode: OPCODE }, [
  span(59, 16),
  span(127, 64),
]);
/** PREFETCH_IOMMU_PAGES: DeviceID, PFCount 31:24, PASID 51:32, S 64, GN 66, Inval 68, address 127:76. */
const PREFETCH_IOMMU_PAGES = defineRecord(
  'PREFETCH_IOMMU_PAGES',
  128,
  {
    DeviceID: span(15, 0),
    PFCount: span(31, 24),
    PASID: span(51, 32),
    Opcode: OPCODE,
    S: bit(64),
    GN: bit(66),
    Inval: bit(68),
    Address: span(127, 76),
  },
  [span(23, 16), span(59, 52), bit(65), bit(67), span(75, 69)],
);
/**
 * COMPLETE_PPR_REQUEST: DeviceID, PASID 51:32, GN 66, tag 104:96 and status 111:108 as Linux
 * writes them (`build_complete_ppr`: data[3] = tag & 0x1ff | status << 12); VirtualBox and
 * FreeBSD give a 16-bit tag at 111:96 (sheet [DISAGREE]).
 */
const COMPLETE_PPR_REQUEST = defineRecord(
  'COMPLETE_PPR_REQUEST',
  128,
  { DeviceID: span(15, 0), PASID: span(51, 32), Opcode: OPCODE, GN: bit(66), Tag: span(104, 96), Status: span(111, 108) },
  [span(31, 16), span(59, 52), span(65, 64), span(95, 67), span(107, 105), span(127, 112)],
);
/** INVALIDATE_IOMMU_ALL: opcode only. */
const INVALIDATE_IOMMU_ALL = defineRecord('INVALIDATE_IOMMU_ALL', 128, { Opcode: OPCODE }, [span(59, 0), span(127, 64)]);

/** The command layouts by name. */
export const COMMAND_LAYOUTS = Object.freeze({
  COMPLETION_WAIT,
  INVALIDATE_DEVTAB_ENTRY,
  INVALIDATE_IOMMU_PAGES,
  INVALIDATE_IOTLB_PAGES,
  INVALIDATE_INTERRUPT_TABLE,
  PREFETCH_IOMMU_PAGES,
  COMPLETE_PPR_REQUEST,
  INVALIDATE_IOMMU_ALL,
});

type Layouts = typeof COMMAND_LAYOUTS;
type FieldsOf<L> = L extends { decode(raw: bigint): infer D } ? D : never;

/** A decoded command: its name and fields (one-bit fields as booleans; `reserved` bits set, in place). */
export type AmdCommand =
  | { [K in CommandName]: { readonly name: K; readonly fields: FieldsOf<Layouts[K]> } }[CommandName]
  | { readonly name: 'UNKNOWN'; readonly opcode: number; readonly raw: bigint };

const BY_OPCODE: ReadonlyMap<number, CommandName> = new Map(
  (Object.entries(COMMAND_OPCODE) as [CommandName, number][]).map(([n, op]) => [op, n]),
);

/** Decode a 128-bit command. Opcodes 0 and 9..F decode as UNKNOWN (with the raw value). Never throws. */
export function decodeCommand(raw: bigint): AmdCommand {
  const v = raw & maskOf(128);
  const opcode = Number((v >> 60n) & 0xfn);
  const name = BY_OPCODE.get(opcode);
  if (name === undefined) return { name: 'UNKNOWN', opcode, raw: v };
  return { name, fields: COMMAND_LAYOUTS[name].decode(v) } as AmdCommand;
}

/**
 * Encode a command (inverse of {@link decodeCommand}). The opcode comes from the fields.
 * @throws RangeError when a field does not fit or reserved bits lie outside the reserved ranges.
 */
export function encodeCommand(c: AmdCommand): bigint {
  if (c.name === 'UNKNOWN') return c.raw & maskOf(128);
  const layout = COMMAND_LAYOUTS[c.name] as { encode(v: unknown): bigint };
  return layout.encode(c.fields);
}

/** Fields of one command, without Opcode / reserved / ignored (filled in by {@link buildCommand}). */
type Input<K extends CommandName> = Omit<FieldsOf<Layouts[K]>, 'Opcode' | 'reserved' | 'ignored'>;

/**
 * A command value from its fields, opcode set and no reserved bits (what a driver writes).
 * @throws RangeError when a field does not fit.
 */
export function buildCommand<K extends CommandName>(name: K, fields: Input<K>): bigint {
  const layout = COMMAND_LAYOUTS[name] as { encode(v: unknown): bigint };
  return layout.encode({ ...fields, Opcode: COMMAND_OPCODE[name] });
}

/** COMPLETION_WAIT store address in bytes (8-byte aligned): StoreAddress << 3. */
export function completionWaitAddress(f: FieldsOf<Layouts['COMPLETION_WAIT']>): bigint {
  return BigInt(f.StoreAddress) << 3n;
}

/** COMPLETION_WAIT data, 64-bit. */
export function completionWaitData(f: FieldsOf<Layouts['COMPLETION_WAIT']>): bigint {
  return (BigInt(f.DataHi) << 32n) | BigInt(f.DataLo);
}

/**
 * Range of an INVALIDATE_IOMMU_PAGES / IOTLB_PAGES / PREFETCH address (sheet §6 "Size
 * encoding"): S = 0 → the one 4 KiB page; S = 1 → 2^(z+1) bytes where z is the lowest 0 bit
 * at or above bit 12 of the address, aligned down. All ones above bit 12 (Linux's "all",
 * 0x7FFF_FFFF_FFFF_F000) covers the whole 64-bit space.
 */
export function invalidationRange(address: bigint, s: boolean): { first: bigint; bytes: bigint } {
  const page = address & ~0xfffn & maskOf(64);
  if (!s) return { first: page, bytes: 4096n };
  let z = 12;
  while (z < 64 && ((page >> BigInt(z)) & 1n) === 1n) z++;
  if (z >= 63) return { first: 0n, bytes: 1n << 64n };
  const bytes = 1n << BigInt(z + 1);
  return { first: page & ~(bytes - 1n), bytes };
}

// ---------------------------------------------------------------------------------------
// Processing.

/** What processing one command did. */
export type CommandEffect =
  | {
      readonly kind: 'completion-wait';
      readonly at: bigint;
      /** S = 1: the 8-byte data was written here. */
      readonly storedAt: bigint | undefined;
      /** I = 1: Status.ComWaitInt set. */
      readonly statusSet: boolean;
      /** The completion-wait MSI fires (I = 1 and Control.ComWaitIntEn = 1). */
      readonly interrupt: boolean;
    }
  | { readonly kind: 'invalidate-dte'; readonly at: bigint; readonly deviceId: number; readonly dropped: number }
  | { readonly kind: 'invalidate-interrupt-table'; readonly at: bigint; readonly deviceId: number; readonly dropped: number }
  | { readonly kind: 'invalidate-all'; readonly at: bigint; readonly droppedDtes: number; readonly droppedIrtes: number }
  /** INVALIDATE_IOMMU_PAGES, INVALIDATE_IOTLB_PAGES, PREFETCH_IOMMU_PAGES, COMPLETE_PPR_REQUEST: handed to the DMA hook. */
  | { readonly kind: 'dma'; readonly at: bigint; readonly command: AmdCommand }
  | {
      readonly kind: 'illegal-command';
      readonly at: bigint;
      readonly command: AmdCommand;
      readonly why: 'unknown-opcode' | 'reserved-bits' | 'unsupported';
      readonly event: AppendResult;
      readonly interrupt: boolean;
    };

/** Hooks for what lives outside this module (the DMA side owns the IOTLB). */
export interface CommandHooks {
  /** Apply a DMA-side command (IOTLB / page invalidations, prefetch, PPR completion) to the unit. */
  readonly dma?: (unit: AmdViUnit, command: AmdCommand) => AmdViUnit;
}

/** EFR.IASup (bit 6): INVALIDATE_IOMMU_ALL supported (Linux `FEATURE_IA`). */
const EFR_IA_SUP = BigInt(EFR_LAYOUT.spec.fields.IASup.lo);

/** Upper bound on commands one call processes: a full 32768-entry ring. */
const MAX_COMMANDS = 32768;

/**
 * Process the command buffer from head to tail (spec 48882 §2.4; VirtualBox
 * `iommuAmdR3CmdProcess`): only while Control.IommuEn, Control.CmdBufEn and Status.CmdBufRun
 * are all 1 (CmdBufRun is set by {@link writeControl} in unit.ts when both enables turn on).
 * Each command is fetched at base + head, applied, and head advances by 16 modulo the
 * buffer size:
 * - COMPLETION_WAIT: S → store the 64-bit data at StoreAddress << 3; I → Status.ComWaitInt
 *   (the MSI only with ComWaitIntEn; sheet §6); F (flush) has nothing to wait for here.
 * - INVALIDATE_DEVTAB_ENTRY: drop the DeviceID's cached DTE.
 * - INVALIDATE_INTERRUPT_TABLE: drop the DeviceID's cached IRTEs.
 * - INVALIDATE_IOMMU_ALL: drop every cached DTE and IRTE (and call the DMA hook); illegal
 *   when EFR.IASup = 0 (VirtualBox checks `ExtFeat.n.u1InvAllSup`; it drops its DTE cache and
 *   IOTLB here but not its IRTE cache — the spec's "all" is followed instead).
 * - the DMA-side commands go to `hooks.dma` (VirtualBox refuses PREFETCH, COMPLETE_PPR and
 *   INVALIDATE_IOTLB_PAGES as unsupported because its EFR lacks the features; a hook may do so).
 * An illegal command stops processing with head left on it, Status.CmdBufRun cleared and
 * ILLEGAL_COMMAND_ERROR (address = the command's SPA) appended to the event log.
 * Pure: returns the new unit and memory and the effects in order.
 */
export function processCommands(
  unit: AmdViUnit,
  memory: PhysicalMemory,
  hooks: CommandHooks = {},
): { unit: AmdViUnit; memory: PhysicalMemory; effects: CommandEffect[] } {
  const effects: CommandEffect[] = [];
  const running = (u: AmdViUnit): boolean =>
    regBit(u.regs.control, CONTROL_BITS.IommuEn) && regBit(u.regs.control, CONTROL_BITS.CmdBufEn) && regBit(u.regs.status, STATUS_BITS.CmdBufRun);
  if (!running(unit)) return { unit, memory, effects };
  const base = ringAddress(unit.regs.commandBufferBase);
  const size = ringBytes(unit.regs.commandBufferBase);
  let u = unit;
  let mem = memory;
  let head = ringOffset(u.regs.commandHead) % size;
  const tail = ringOffset(u.regs.commandTail) % size;
  for (let n = 0; head !== tail && n < MAX_COMMANDS; n++) {
    const at = base + head;
    const raw = mem.readLE(at, COMMAND_BYTES);
    const command = decodeCommand(raw);
    const why =
      command.name === 'UNKNOWN'
        ? 'unknown-opcode'
        : command.fields.reserved !== 0n
          ? 'reserved-bits'
          : command.name === 'INVALIDATE_IOMMU_ALL' && ((u.efr >> EFR_IA_SUP) & 1n) === 0n
            ? 'unsupported'
            : undefined;
    if (why !== undefined) {
      const halted = { ...u.regs, commandHead: head, status: u.regs.status & ~(1n << BigInt(STATUS_BITS.CmdBufRun)) };
      const logged = appendEvent(mem, halted, makeEvent(EVENT_CODE.ILLEGAL_COMMAND_ERROR, { address: at }));
      effects.push({ kind: 'illegal-command', at, command, why, event: logged.result, interrupt: logged.interrupt });
      return { unit: { ...u, regs: logged.regs }, memory: logged.memory, effects };
    }
    switch (command.name) {
      case 'COMPLETION_WAIT': {
        const f = command.fields;
        let storedAt: bigint | undefined;
        if (f.S) {
          storedAt = completionWaitAddress(f);
          mem = mem.writeLE(storedAt, 8, completionWaitData(f));
        }
        if (f.I) u = { ...u, regs: { ...u.regs, status: u.regs.status | (1n << BigInt(STATUS_BITS.ComWaitInt)) } };
        effects.push({ kind: 'completion-wait', at, storedAt, statusSet: f.I, interrupt: f.I && regBit(u.regs.control, CONTROL_BITS.ComWaitIntEn) });
        break;
      }
      case 'INVALIDATE_DEVTAB_ENTRY': {
        const key = dteKey(command.fields.DeviceID);
        const { cache, dropped } = cacheDrop(u.caches.dte, (k) => k === key);
        u = { ...u, caches: { ...u.caches, dte: cache } };
        effects.push({ kind: 'invalidate-dte', at, deviceId: command.fields.DeviceID, dropped: dropped.length });
        break;
      }
      case 'INVALIDATE_INTERRUPT_TABLE': {
        const id = command.fields.DeviceID;
        const { cache, dropped } = cacheDrop(u.caches.irte, (k) => irteKeyOfDevice(k, id));
        u = { ...u, caches: { ...u.caches, irte: cache } };
        effects.push({ kind: 'invalidate-interrupt-table', at, deviceId: id, dropped: dropped.length });
        break;
      }
      case 'INVALIDATE_IOMMU_ALL': {
        const d = cacheDrop(u.caches.dte, () => true);
        const i = cacheDrop(u.caches.irte, () => true);
        u = { ...u, caches: { dte: d.cache, irte: i.cache } };
        if (hooks.dma !== undefined) u = hooks.dma(u, command);
        effects.push({ kind: 'invalidate-all', at, droppedDtes: d.dropped.length, droppedIrtes: i.dropped.length });
        break;
      }
      default:
        if (hooks.dma !== undefined) u = hooks.dma(u, command);
        effects.push({ kind: 'dma', at, command });
    }
    head = (head + BigInt(COMMAND_BYTES)) % size;
    u = { ...u, regs: { ...u.regs, commandHead: head } };
  }
  return { unit: u, memory: mem, effects };
}
