/**
 * Transitions for the invalidation and fault-event registers (VT-d §11.4.7, §11.4.9, §6.5.1):
 * `write-iqt` (the hardware processes the invalidation queue up to the new tail), and
 * `write-register` for IQA, IQT, FSTS, FECTL, FEDATA/FEADDR/FEUADDR, ICS, IECTL,
 * IEDATA/IEADDR/IEUADDR, CCMD, IVA and IOTLB. The register semantics are
 * src/vtd/invalidation-queue.ts and src/vtd/fault-event.ts; event interrupts a write makes due
 * are sent after the transition (src/platform/event-interrupts.ts). Also the handler core of
 * the `invalidate-iec` / `invalidate-dma` / `invalidation-wait` actions: a descriptor the queue
 * processes at once.
 */
import { unitsWith } from './unit-copy.ts';
import type { Draft } from 'immer';
import type { IommuUnit, PlatformState } from './state.ts';
import type { RegisterName } from './events.ts';
import { unitOrReject, type Emit, type Handler } from './transition.ts';
import { emitProcessed, processDirect, runQueue, settled, writeCcmd, writeIotlb, writeIqa, writeIqt, writeIva, type QueueStep } from '../vtd/invalidation-queue.ts';
import { writeFectl, writeFsts, writeIcs, writeIectl, writeEventMessage } from '../vtd/fault-event.ts';
import { gstsChanges } from '../vtd/ir-registers.ts';
import { GLOBAL_STATUS_BITS } from '../vtd/registers.ts';

const FSTS_IQE = 1 << 4;
const QIES = 1 << GLOBAL_STATUS_BITS.QIES;

/** Put a queue step's unit and memory into the draft and emit what it processed. */
function applyStep(draft: Draft<PlatformState>, before: PlatformState, iommu: number, r: QueueStep, emit: Emit): void {
  draft.iommus = unitsWith(before.iommus, iommu, r.unit) as Draft<IommuUnit[]>;
  if (r.memory !== before.memory) draft.memory = r.memory;
  emitProcessed(iommu, r.processed, emit);
}

/** A descriptor the unit's queue processes now (the `invalidate-*` actions). */
export function directInvalidation(draft: Draft<PlatformState>, before: PlatformState, iommu: number, descriptor: bigint, emit: Emit): void {
  const unit = unitOrReject(before, iommu, emit);
  if (!unit) return;
  applyStep(draft, before, iommu, processDirect(unit, before.memory, before.hostAddressWidth, descriptor), emit);
}

/** Apply a write of `value` to `register` of `unit`; returns the step (unit, memory, processed requests) and a note. */
export function writeRegister(unit: IommuUnit, state: PlatformState, register: RegisterName, value: bigint): QueueStep & { note: string | undefined } {
  const v32 = Number(value & 0xffff_ffffn);
  const plain = (u: IommuUnit): QueueStep & { note: undefined } => ({ unit: u, memory: state.memory, processed: [], note: undefined });
  switch (register) {
    case 'IQT': {
      const r = writeIqt(unit, state.memory, state.hostAddressWidth, value);
      const stopped = r.processed.length === 0 && (unit.regs.fsts & FSTS_IQE) !== 0 && r.unit.regs.iqh !== r.unit.regs.iqt;
      const off = r.processed.length === 0 && (unit.regs.gsts & QIES) === 0 && r.unit.regs.iqt !== 0n;
      return { ...r, note: stopped ? 'FSTS.IQE is set: the unit fetches nothing until software clears it' : off ? 'queued invalidation is disabled (QIES = 0): nothing is fetched' : undefined };
    }
    case 'IQA':
      return plain(writeIqa(unit, value));
    case 'FSTS': {
      const u = writeFsts(unit, v32);
      // Clearing IQE lets the hardware fetch again from IQH (Linux `qi_check_fault` relies on it).
      if ((unit.regs.fsts & FSTS_IQE) !== 0 && (u.regs.fsts & FSTS_IQE) === 0) return { ...runQueue(u, state.memory, state.hostAddressWidth), note: 'FSTS.IQE cleared: the queue resumes at IQH' };
      return plain(u);
    }
    case 'FECTL':
      return plain(writeFectl(unit, v32));
    case 'FEDATA':
      return plain(writeEventMessage(unit, 'fault', 'data', v32));
    case 'FEADDR':
      return plain(writeEventMessage(unit, 'fault', 'address', v32));
    case 'FEUADDR':
      return plain(writeEventMessage(unit, 'fault', 'upper', v32));
    case 'ICS':
      return plain(writeIcs(unit, v32));
    case 'IECTL':
      return plain(writeIectl(unit, v32));
    case 'IEDATA':
      return plain(writeEventMessage(unit, 'invalidation-completion', 'data', v32));
    case 'IEADDR':
      return plain(writeEventMessage(unit, 'invalidation-completion', 'address', v32));
    case 'IEUADDR':
      return plain(writeEventMessage(unit, 'invalidation-completion', 'upper', v32));
    case 'CCMD': {
      const r = writeCcmd(unit, value);
      return { unit: r.unit, memory: state.memory, processed: r.processed ? [r.processed] : [], note: undefined };
    }
    case 'IVA':
      return plain(writeIva(unit, value));
    case 'IOTLB': {
      const r = writeIotlb(unit, value);
      const done = r.processed?.outcome === 'done' ? settled(r.unit, state.memory, state.hostAddressWidth) : r.unit;
      return { unit: done, memory: state.memory, processed: r.processed ? [r.processed] : [], note: undefined };
    }
  }
}

const REGISTERS: ReadonlySet<string> = new Set<RegisterName>(['IQA', 'IQT', 'FSTS', 'FECTL', 'FEDATA', 'FEADDR', 'FEUADDR', 'ICS', 'IECTL', 'IEDATA', 'IEADDR', 'IEUADDR', 'CCMD', 'IVA', 'IOTLB']);

function registerWrite(draft: Draft<PlatformState>, before: PlatformState, iommu: number, register: RegisterName, value: bigint, emit: Emit): void {
  const unit = unitOrReject(before, iommu, emit);
  if (!unit) return;
  if (!REGISTERS.has(register)) return void emit({ kind: 'action-rejected', why: `${String(register)} is not a register write-register models` });
  const r = writeRegister(unit, before, register, value & 0xffff_ffff_ffff_ffffn);
  draft.iommus = unitsWith(before.iommus, iommu, r.unit) as Draft<IommuUnit[]>;
  if (r.memory !== before.memory) draft.memory = r.memory;
  emit({ kind: 'register-write', iommu, register, value: value & 0xffff_ffff_ffff_ffffn, gsts: r.unit.regs.gsts, changed: gstsChanges(unit.regs.gsts, r.unit.regs.gsts), note: r.note });
  emitProcessed(iommu, r.processed, emit);
}

export const registerHandlers: { [K in 'write-iqt' | 'write-register']: Handler<K> } = {
  'write-iqt'(draft, a, emit, before) {
    registerWrite(draft, before, a.iommu, 'IQT', a.value, emit);
  },

  'write-register'(draft, a, emit, before) {
    registerWrite(draft, before, a.iommu, a.register, a.value, emit);
  },
};
