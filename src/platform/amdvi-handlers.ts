/**
 * Register writes of the AMD-Vi units (the vendor seam, src/platform/vendor.ts): the primitive
 * `amdvi-write-register { iommu, register, value }`, `register` a name of src/amdvi/registers.ts
 * AMDVI_MMIO. What each write does (spec 48882 §3.4; VirtualBox `DevIommuAmd.cpp`
 * `iommuAmd*_w` handlers; sheet amdvi-facts.md §2.3–§2.6):
 *
 * - DEVICE_TABLE_BASE, EXCLUSION_BASE, EXCLUSION_LIMIT, GA_LOG_TAIL_ADDRESS: stored, reserved
 *   bits reading 0 (the codecs of registers.ts);
 * - COMMAND_BUFFER_BASE, EVENT_LOG_BASE, GA_LOG_BASE: stored, and the ring's head and tail reset
 *   to 0 (VirtualBox `iommuAmdCmdBufBar_w` / `iommuAmdEvtLogBar_w`; for the GA log [derived]);
 * - CONTROL: src/amdvi/unit.ts `writeControl` (Status run bits follow the enables); when the
 *   command buffer starts running with commands pending they are processed;
 * - COMMAND_TAIL: the tail (bits 18:4), then the unit processes the buffer from head to the new
 *   tail (src/amdvi/commands.ts `processCommands`): one `amdvi-command` event per command;
 * - EVENT_HEAD, GA_LOG_HEAD: software consumed entries (bits 18:4 / 15:3);
 * - STATUS: write 1 to clear (VirtualBox `IOMMU_STATUS_RW1C_MASK`).
 * Every other register (EFR, the tails the unit owns, …) is read-only or not modelled: the write
 * is refused with `action-rejected`.
 */
import { unitsWith } from './unit-copy.ts';
import type { Draft } from 'immer';
import type { PlatformState } from './state.ts';
import type { Emit, Handler } from './transition.ts';
import type { AmdViRegisters, AmdViUnit } from '../amdvi/unit.ts';
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import { writeControl } from '../amdvi/unit.ts';
import { processCommands, type CommandEffect } from '../amdvi/commands.ts';
import { encodeEvent, eventCodeName, makeEvent, EVENT_CODE } from '../amdvi/event-log.ts';
import {
  AMDVI_MMIO,
  DEVICE_TABLE_BASE_REGISTER,
  EXCLUSION_BASE_REGISTER,
  EXCLUSION_LIMIT_REGISTER,
  GA_LOG_BASE_REGISTER,
  GA_LOG_TAIL_ADDRESS_REGISTER,
  RING_BASE_REGISTER,
  STATUS_RW1C_MASK,
} from '../amdvi/registers.ts';
import { U64_MASK } from '../bits/bits.ts';

export type AmdViRegisterName = keyof typeof AMDVI_MMIO;

/** The registers `amdvi-write-register` accepts. */
export const AMDVI_WRITABLE_REGISTERS: readonly AmdViRegisterName[] = [
  'DEVICE_TABLE_BASE',
  'COMMAND_BUFFER_BASE',
  'EVENT_LOG_BASE',
  'CONTROL',
  'EXCLUSION_BASE',
  'EXCLUSION_LIMIT',
  'GA_LOG_BASE',
  'GA_LOG_TAIL_ADDRESS',
  'COMMAND_TAIL',
  'EVENT_HEAD',
  'GA_LOG_HEAD',
  'STATUS',
];

/** One line for a processed command. */
export function describeCommandEffect(e: CommandEffect): string {
  const h = (n: number | bigint): string => `0x${n.toString(16)}`;
  switch (e.kind) {
    case 'completion-wait':
      return `COMPLETION_WAIT${e.storedAt === undefined ? '' : ` stored at ${h(e.storedAt)}`}${e.statusSet ? ', Status.ComWaitInt set' : ''}${e.interrupt ? ', interrupt' : ''}`;
    case 'invalidate-dte':
      return `INVALIDATE_DEVTAB_ENTRY DeviceID ${h(e.deviceId)}: ${e.dropped} cached DTE(s) dropped`;
    case 'invalidate-interrupt-table':
      return `INVALIDATE_INTERRUPT_TABLE DeviceID ${h(e.deviceId)}: ${e.dropped} cached IRTE(s) dropped`;
    case 'invalidate-all':
      return `INVALIDATE_IOMMU_ALL: ${e.droppedDtes} DTE(s) and ${e.droppedIrtes} IRTE(s) dropped`;
    case 'dma':
      return `${e.command.name} (DMA side: no IOTLB modelled, nothing cached to drop)`;
    case 'illegal-command':
      return `illegal command (${e.why}${e.command.name === 'UNKNOWN' ? `, opcode ${h(e.command.opcode)}` : `, ${e.command.name}`}): command buffer stopped, ILLEGAL_COMMAND_ERROR ${e.event}`;
  }
}

interface WriteResult {
  readonly unit: AmdViUnit;
  readonly memory: PhysicalMemory;
  readonly effects: readonly CommandEffect[];
  readonly note: string | undefined;
}

/**
 * Apply a write of `value` to `register` of `unit` (see the module comment). Pure.
 * @returns undefined for a register that is not writable here.
 */
export function writeAmdViRegister(unit: AmdViUnit, memory: PhysicalMemory, register: string, value: bigint): WriteResult | undefined {
  const v = value & U64_MASK;
  const set = (regs: Partial<AmdViRegisters>, note?: string): WriteResult => ({ unit: { ...unit, regs: { ...unit.regs, ...regs } }, memory, effects: [], note });
  const valid = (codec: { layout: { reservedMask: bigint } }): bigint => v & ~codec.layout.reservedMask;
  const run = (u: AmdViUnit, note?: string): WriteResult => {
    const r = processCommands(u, memory);
    return { unit: r.unit, memory: r.memory, effects: r.effects, note };
  };
  switch (register as AmdViRegisterName) {
    case 'DEVICE_TABLE_BASE':
      return set({ deviceTableBase: valid(DEVICE_TABLE_BASE_REGISTER) });
    case 'COMMAND_BUFFER_BASE':
      return set({ commandBufferBase: valid(RING_BASE_REGISTER), commandHead: 0n, commandTail: 0n }, 'command head and tail reset to 0');
    case 'EVENT_LOG_BASE':
      return set({ eventLogBase: valid(RING_BASE_REGISTER), eventHead: 0n, eventTail: 0n }, 'event log head and tail reset to 0');
    case 'GA_LOG_BASE':
      return set({ gaLogBase: valid(GA_LOG_BASE_REGISTER), gaLogHead: 0n, gaLogTail: 0n }, 'GA log head and tail reset to 0');
    case 'GA_LOG_TAIL_ADDRESS':
      return set({ gaLogTailAddress: valid(GA_LOG_TAIL_ADDRESS_REGISTER) });
    case 'EXCLUSION_BASE':
      return set({ exclusionBase: valid(EXCLUSION_BASE_REGISTER) });
    case 'EXCLUSION_LIMIT':
      return set({ exclusionLimit: valid(EXCLUSION_LIMIT_REGISTER) });
    case 'EVENT_HEAD':
      return set({ eventHead: v & 0x7fff0n });
    case 'GA_LOG_HEAD':
      return set({ gaLogHead: v & 0xfff8n });
    case 'STATUS':
      return set({ status: unit.regs.status & ~(v & STATUS_RW1C_MASK) });
    case 'COMMAND_TAIL':
      return run({ ...unit, regs: { ...unit.regs, commandTail: v & 0x7fff0n } });
    case 'CONTROL': {
      const u = { ...unit, regs: writeControl(unit.regs, v) };
      return u.regs.commandHead !== u.regs.commandTail ? run(u, 'command buffer running: pending commands processed') : { unit: u, memory, effects: [], note: undefined };
    }
    default:
      return undefined;
  }
}

/** Emit one `amdvi-command` per effect (and an `amdvi-event` for the ILLEGAL_COMMAND_ERROR an illegal one logs). */
export function emitCommandEffects(iommu: number, effects: readonly CommandEffect[], emit: Emit): void {
  for (const e of effects) {
    if (e.kind === 'illegal-command') {
      const ev = makeEvent(EVENT_CODE.ILLEGAL_COMMAND_ERROR, { address: e.at });
      emit({ kind: 'amdvi-event', iommu, code: ev.code, name: eventCodeName(ev.code), deviceId: 0, address: e.at, entry: encodeEvent(ev), logging: e.event, interrupt: e.interrupt });
    }
    emit({ kind: 'amdvi-command', iommu, at: e.at, effect: e.kind, what: describeCommandEffect(e) });
  }
}

/** AMD-Vi unit `iommu`, or an `action-rejected` event. */
export function amdUnitOrReject(state: PlatformState, iommu: number, emit: Emit): AmdViUnit | undefined {
  const units = state.amdvi?.units;
  const unit = units?.[iommu];
  if (unit === undefined) emit({ kind: 'action-rejected', why: units === undefined ? 'the platform has no AMD-Vi units (not an AMD platform)' : `no AMD-Vi unit ${iommu} (the platform has ${units.length})` });
  return unit;
}

export const amdviHandlers: { [K in 'amdvi-write-register']: Handler<K> } = {
  'amdvi-write-register'(draft, a, emit, before) {
    const unit = amdUnitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const r = writeAmdViRegister(unit, before.memory, a.register, a.value);
    if (r === undefined) {
      return void emit({ kind: 'action-rejected', why: `${a.register} is not an AMD-Vi register amdvi-write-register writes (${AMDVI_WRITABLE_REGISTERS.join(', ')})` });
    }
    draft.amdvi = { ...before.amdvi!, units: unitsWith(before.amdvi!.units, a.iommu, r.unit) } as Draft<NonNullable<PlatformState['amdvi']>>;
    if (r.memory !== before.memory) draft.memory = r.memory;
    emit({ kind: 'amdvi-register', iommu: a.iommu, register: a.register, value: a.value & U64_MASK, status: r.unit.regs.status, note: r.note });
    emitCommandEffects(a.iommu, r.effects, emit);
  },
};
