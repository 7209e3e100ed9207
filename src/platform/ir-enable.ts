/**
 * The register sequences Linux uses, as actions, for the hypervisor side of the model:
 *
 * - queued invalidation on (drivers/iommu/intel/dmar.c `__dmar_enable_qi`): IQT = 0, IQA =
 *   queue base (with DW = 1 and QS = 1 on a unit with ECAP.SMTS, 256 descriptors either way:
 *   `QI_LENGTH`), GCMD.QIE, wait for QIES;
 * - a synchronous submission (`qi_submit_sync`): the descriptors written into the ring at the
 *   software head, an invalidation-wait descriptor after them (SW = 1, STDATA = QI_DONE, STADDR
 *   = the slot's `desc_status` dword), then IQT moved past them — the hardware processes the
 *   batch at the IQT write (src/vtd/invalidation-queue.ts);
 * - interrupt remapping on (drivers/iommu/intel/irq_remapping.c `intel_setup_irq_remapping`,
 *   `iommu_set_irq_remapping`, `iommu_enable_irq_remapping`): queued invalidation first
 *   (`dmar_enable_qi` before the table is set), IRTA, SIRTP and wait for IRTPS, a global IEC
 *   invalidation unless CAP.ESIRTPS says SIRTP did it, then IRE (and CFI only when
 *   compatibility-format interrupts are wanted — Linux clears it). `persistent` is the GCMD
 *   state software keeps (its shadow `iommu->gcmd`); the returned value is the new shadow.
 *
 * Where the queues live: the model's hypervisor keeps each unit's 16 KiB (two pages of ring,
 * one of `desc_status`) at {@link QUEUE_REGION} + 16 KiB × unit, just above its default table
 * arena (src/platform/build.ts `DEFAULT_TABLE_ARENA`) — Linux allocates the ring with
 * `iommu_alloc_pages_node` and `desc_status` with `kcalloc`.
 */
import type { Action } from './actions.ts';
import { irtaSizeForEntries, GLOBAL_COMMAND_BITS, IQA_REG } from '../vtd/registers.ts';
import { irtaRegisterWrite } from '../vtd/ir-registers.ts';
import { encodeIec, encodeWait } from '../vtd/invalidation.ts';
import { describeDescriptor, QI_DONE } from '../vtd/invalidation-queue.ts';

export interface IrEnable {
  /** IRT base (4 KiB aligned HPA). */
  readonly base: bigint;
  readonly eime: boolean;
  /** Table size in entries, a power of two 2..65536. */
  readonly entries: number;
  readonly cfi?: boolean;
}

/** Base of the model hypervisor's invalidation queues: unit `n`'s 16 KiB start at QUEUE_REGION + n × {@link QUEUE_STRIDE}. */
export const QUEUE_REGION = 0x6400_0000n;
export const QUEUE_STRIDE = 0x4000n;
/** Offset of the `desc_status` dwords in a unit's queue region (after the ring's two pages). */
const STATUS_OFFSET = 0x2000n;
/** Linux `QI_LENGTH`: descriptors in the ring. */
export const QI_LENGTH = 256;

/** The driver's view of a unit's invalidation queue (Linux `struct q_inval`). */
export interface SoftwareQueue {
  readonly iommu: number;
  readonly base: bigint;
  /** 256-bit descriptors (IQA.DW = 1, QS = 1), as Linux sets up on a unit with ECAP.SMTS. */
  readonly wide: boolean;
  /** The next free slot (Linux `free_head`); IQT as software last wrote it is `head << (4 | 5)` unless a submission held back its IQT write. */
  readonly head: number;
  /** `desc_status[i]` is the dword at statusBase + 4 i. */
  readonly statusBase: bigint;
}

/** The queue of unit `iommu` where the model's hypervisor places it. */
export function defaultQueue(iommu: number, wide: boolean): SoftwareQueue {
  const base = QUEUE_REGION + BigInt(iommu) * QUEUE_STRIDE;
  return { iommu, base, wide, head: 0, statusBase: base + STATUS_OFFSET };
}

const bit = (name: keyof typeof GLOBAL_COMMAND_BITS): number => (1 << GLOBAL_COMMAND_BITS[name]) >>> 0;

/** IQA_REG value of a queue: base | DW | QS (Linux `__dmar_enable_qi`: `val |= BIT_ULL(11) | BIT_ULL(0)` with SMTS). */
export function iqaValue(q: SoftwareQueue): bigint {
  return IQA_REG.encode({ IQA: Number(q.base >> 12n), DW: q.wide, QS: q.wide ? 1 : 0 });
}

/** Queued invalidation on: IQT = 0, IQA, GCMD with QIE added to `persistent`. */
export function qiEnableSequence(q: SoftwareQueue, persistent = 0): { actions: Action[]; gcmd: number } {
  const gcmd = (persistent | bit('QIE')) >>> 0;
  return {
    actions: [
      { kind: 'write-iqt', iommu: q.iommu, value: 0n },
      { kind: 'write-register', iommu: q.iommu, register: 'IQA', value: iqaValue(q) },
      { kind: 'write-gcmd', iommu: q.iommu, value: gcmd },
    ],
    gcmd,
  };
}

/** The invalidation-wait descriptor `qi_submit_sync` appends for slot `slot`: SW, STDATA = QI_DONE, STADDR = &desc_status[slot]. */
export function syncWait(q: SoftwareQueue, slot: number): bigint {
  return encodeWait({ interruptFlag: false, statusWrite: true, fence: false, pageRequestDrain: false, statusData: QI_DONE, statusAddress: q.statusBase + BigInt(slot * 4) });
}

/**
 * A synchronous submission of 128-bit `descriptors` (Linux `qi_submit_sync`): each written into
 * the ring at the software head (32 bytes each, the upper half zero, in a 256-bit queue), a wait
 * descriptor after them, then IQT moved past the wait (`doorbell: false` leaves IQT alone: the
 * descriptors are in memory, not yet processed). A batch longer than the ring allows is split.
 */
export function qiSubmitSync(q: SoftwareQueue, descriptors: readonly bigint[], options: { doorbell?: boolean; wait?: boolean } = {}): { actions: Action[]; queue: SoftwareQueue } {
  const actions: Action[] = [];
  let queue = q;
  const size = q.wide ? 32 : 16;
  const unitName = `dmar${q.iommu}`;
  // At most QI_LENGTH - 2 descriptors and the wait per submission (Linux keeps one slot free).
  const chunk = QI_LENGTH - 2;
  const batches = descriptors.length === 0 ? [[]] : Array.from({ length: Math.ceil(descriptors.length / chunk) }, (_, i) => descriptors.slice(i * chunk, (i + 1) * chunk));
  for (const batch of batches) {
    let slot = queue.head;
    const entries = options.wait === false ? batch.map((d) => d) : [...batch, undefined];
    for (const d of entries) {
      const value = d ?? syncWait(queue, slot);
      actions.push({ kind: 'write-memory', address: queue.base + BigInt(slot * size), bytes: size, value, what: `IQ slot ${slot} of ${unitName}: ${describeDescriptor(value)}` });
      slot = (slot + 1) % QI_LENGTH;
    }
    queue = { ...queue, head: slot };
    if (options.doorbell !== false) actions.push({ kind: 'write-iqt', iommu: q.iommu, value: BigInt(slot) << (q.wide ? 5n : 4n) });
  }
  return { actions, queue };
}

export interface IrEnableOptions {
  /**
   * The unit's queue when software already enabled queued invalidation (`persistent` has QIE);
   * absent: one is set up at {@link defaultQueue} first; `null`: the unit has no queued
   * invalidation (ECAP.QI = 0) and the IEC flush is a descriptor processed at once — ignored by
   * the hardware, as on such a unit there is no way to invalidate the IEC.
   */
  readonly queue?: SoftwareQueue | null;
  /** 256-bit descriptors for a queue set up here (ECAP.SMTS). */
  readonly wide?: boolean;
  /** CAP.ESIRTPS: SIRTP invalidates the IEC itself, so no global IEC invalidation follows (Linux `cap_esirtps`). */
  readonly esirtps?: boolean;
}

/** @throws RangeError when `entries` is not a power of two in 2..65536 (a misaligned base is written as Linux writes it: `irtaRegisterWrite`). */
export function irEnableSequence(iommu: number, e: IrEnable, persistent = 0, options: IrEnableOptions = {}): { actions: Action[]; gcmd: number; queue: SoftwareQueue | undefined } {
  const actions: Action[] = [];
  let kept = (persistent & ~bit('CFI')) >>> 0;
  let queue: SoftwareQueue | undefined = options.queue ?? undefined;
  if (options.queue === undefined && (persistent & bit('QIE')) === 0) {
    queue = defaultQueue(iommu, options.wide ?? false);
    const qi = qiEnableSequence(queue, kept);
    actions.push(...qi.actions);
    kept = qi.gcmd;
  }
  const gcmd = (kept | bit('IRE') | (e.cfi ? bit('CFI') : 0)) >>> 0;
  actions.push(
    { kind: 'write-irta', iommu, value: irtaRegisterWrite(e.base, e.eime, irtaSizeForEntries(e.entries)) },
    { kind: 'write-gcmd', iommu, value: (kept | bit('SIRTP')) >>> 0 },
  );
  const global = encodeIec({ granularity: 'global', indexMask: 0, interruptIndex: 0 });
  if (!options.esirtps) {
    if (queue !== undefined) {
      const r = qiSubmitSync(queue, [global]);
      actions.push(...r.actions);
      queue = r.queue;
    } else {
      actions.push({ kind: 'invalidate-iec', iommu, descriptor: global });
    }
  }
  actions.push({ kind: 'write-gcmd', iommu, value: gcmd });
  return { actions, gcmd, queue };
}
