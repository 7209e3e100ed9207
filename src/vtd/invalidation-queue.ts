/**
 * The invalidation interfaces of a remapping unit (VT-d §6.5): the invalidation queue
 * (queued invalidation, §6.5.2; registers IQA_REG, IQH_REG, IQT_REG, §11.4.9) and
 * register-based invalidation of the DMA caches (CCMD_REG, IOTLB_REG/IVA_REG, §6.5.1,
 * §11.4.4.1, §11.4.8). Reference sheet §7.1–§7.5.
 *
 * The queue is a ring of 2^QS 4 KiB pages at IQA.base holding 128-bit (DW = 0) or 256-bit
 * (DW = 1) descriptors. Software writes descriptors into the ring's memory, then moves IQT
 * past them; the hardware fetches and processes descriptors from IQH up to IQT, in order,
 * advancing IQH after each (QEMU hw/i386/intel_iommu.c `vtd_fetch_inv_desc`,
 * `vtd_process_inv_desc`). An invalidation takes effect when its descriptor is processed:
 * between the memory write and the IQT write the caches still hold the old entries. This model
 * processes the whole ring synchronously at the IQT write, so an invalidation-wait
 * descriptor's fence (FN) is always satisfied and a wait completes as soon as it is fetched.
 *
 * Errors (FSTS.IQE with IQERCD.IQEI, src/vtd/registers.ts `IQEI`): an unknown or unsupported
 * descriptor type, reserved bits set (bits 255:128 of a 256-bit descriptor included — a pair of
 * 128-bit descriptors written into a DW = 1 queue reads as one descriptor with them set), a
 * reserved granularity, IOTLB AM above CAP.MAMV (QEMU `vtd_process_iotlb_desc`), IQT beyond the
 * queue, a fetch outside memory, DW = 1 on a unit without ECAP.SMTS (VirtualBox
 * `dmarIqaRegWrite`), IQT bit 4 set with DW = 1 (VirtualBox `dmarIqtRegWrite`, bit 4 cleared).
 * On IQE the hardware stops with IQH at the faulting descriptor and fetches nothing until
 * software clears FSTS.IQE (Linux dmar.c `qi_check_fault`: "the head points to the descriptor
 * associated with the error. No new descriptors are fetched until the IQE is cleared"); it
 * then resumes from IQH. IQE is a fault-event interrupt condition (src/vtd/fault-event.ts).
 *
 * On a unit with ECAP.SMTS, 128-bit descriptors are invalid in scalable mode ("128-bit
 * descriptors are treated as invalid descriptors in scalable-mode", VT-d 3.0 §6.5.2, quoted in
 * Linux commit "iommu/vt-d: Add 256-bit invalidation descriptor support"; VirtualBox rejects
 * them as an invalid type), and the PASID-based types 6–8 need a 256-bit queue (QEMU "256-bit
 * desc in 128-bit invalidation queue"). A unit without SMTS has no scalable mode; the model's
 * walker accepts TTM = scalable on it anyway (src/vtd/dma/walk.ts), so there the queue does not
 * enforce these width rules either [derived].
 *
 * Device-TLB (types 3, 8) and page-response (9, 10) descriptors are accepted when ECAP.DT /
 * ECAP.PRS say the unit supports them, and have no effect: the model has no device TLBs (ATS)
 * and no page requests, so ITE and ICE are never set by the hardware here.
 *
 * With queued invalidation disabled (QIES = 0) there is no queue: an IEC invalidation cannot be
 * requested at all (the IEC has no register interface) and the `invalidate-*` actions, which
 * stand for "the queue processes this descriptor now", are ignored with an `invalidation`
 * event saying so. Register-based invalidation is the interface for the context cache and the
 * IOTLB then; with QIES = 1 the unit does not perform it (VirtualBox `dmarCcmdRegWrite`:
 * "Register-based invalidation can only be used when queued-invalidations are not enabled"),
 * nor CCMD in scalable mode (VirtualBox, `kDmarDiag_CcmdReg_Ttm_Invalid`).
 *
 * Pure functions on an {@link IommuUnit} and memory; the transition handlers emit the events.
 */
import type { IommuUnit } from '../platform/state.ts';
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import type { PlatformEvent } from '../platform/events.ts';
import {
  CCMD_REG,
  decodeCap,
  decodeEcap,
  GLOBAL_STATUS_BITS,
  IOTLB_REG,
  IQA_REG,
  IQEI,
  IQEI_NAMES,
  IQERCD_REG,
  IVA_REG,
} from './registers.ts';
import { INV_DESC_TYPE, decodeIec, decodeWait, descriptorType, IEC_LAYOUT } from './invalidation.ts';
import { decodeDmaInvalidation, GRANULARITY, type DmaInvalidation } from './dma/invalidation-dma.ts';
import { applyDmaInvalidation, settleDmaCaches, type DmaCaches } from './dma/caches.ts';
import { RTADDR, TTM } from './dma/structures.ts';
import { iecInvalidate } from './iec.ts';
import { decodeDptInvalidation, DPT_INVALIDATION_TYPE } from '../hypothetical/direct-post/table.ts';
import { dptcInvalidate } from '../hypothetical/direct-post/cache.ts';
import { completionCondition, faultCondition } from './fault-event.ts';
import { dmaCapabilities } from '../platform/dma-access.ts';
import { formatBdf } from '../pci/bdf.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Emit = (event: DistributiveOmit<PlatformEvent, 'step'>) => void;

const MASK128 = (1n << 128n) - 1n;
/** IQT_REG / IQH_REG QT/QH field, bits 18:4, in place. */
export const QUEUE_OFFSET_MASK = 0x7_fff0n;
/** FSTS.IQE (bit 4). */
const FSTS_IQE = 1 << 4;
/** Writable bits of IQA_REG: QS, DW, IQA (VirtualBox `VTD_IQA_REG_RW_MASK`); 10:3 are reserved. */
const IQA_RW_MASK = 0xffff_ffff_ffff_f807n;

/** Linux's `desc_status` values (drivers/iommu/intel/iommu.h): the wait descriptor of `qi_submit_sync` writes QI_DONE. */
export const QI_IN_USE = 1;
export const QI_DONE = 2;

/** Where the queue is and how it is laid out, from IQA_REG. */
export interface QueueGeometry {
  /** Base (IQA 63:12); bits 63:HAW are not implemented ("Hardware ignores and does not implement bits 63:HAW", IQA_REG). */
  readonly base: bigint;
  /** DW = 1: 256-bit descriptors. */
  readonly wide: boolean;
  readonly descriptorBytes: 16 | 32;
  /** Queue size: 2^QS 4 KiB pages. */
  readonly bytes: bigint;
  /** Descriptors it holds: 2^(QS+8) 128-bit or 2^(QS+7) 256-bit (QEMU `vtd_handle_gcmd_qie`). */
  readonly entries: number;
}

export function queueGeometry(iqa: bigint, hostAddressWidth: number): QueueGeometry {
  const f = IQA_REG.decode(iqa);
  const bytes = 4096n << BigInt(f.QS);
  const descriptorBytes = f.DW ? 32 : 16;
  return { base: (BigInt(f.IQA) << 12n) & ((1n << BigInt(hostAddressWidth)) - 1n), wide: f.DW, descriptorBytes, bytes, entries: Number(bytes) / descriptorBytes };
}

/** Descriptor index of a queue offset (IQH/IQT byte offset >> 4 or >> 5: Linux `qi_shift`). */
export function slotOf(offset: bigint, wide: boolean): number {
  return Number((offset & QUEUE_OFFSET_MASK) >> (wide ? 5n : 4n));
}

const qiesOf = (unit: IommuUnit): boolean => (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.QIES)) !== 0;
const iqeOf = (unit: IommuUnit): boolean => (unit.regs.fsts & FSTS_IQE) !== 0;

/** Entries dropped from each DMA cache. */
export interface CacheDrops {
  readonly context: number;
  readonly pasid: number;
  readonly iotlb: number;
  readonly pagingStructure: number;
}

/** What processing one descriptor (or one register command) did. */
export type Effect =
  | { readonly kind: 'iec'; readonly granularity: 'global' | 'index'; readonly index: number | undefined; readonly count: number | undefined; readonly dropped: readonly number[] }
  | { readonly kind: 'dma'; readonly invalidation: DmaInvalidation; readonly dropped: CacheDrops }
  | { readonly kind: 'wait'; readonly note: string | undefined }
  | { readonly kind: 'no-op'; readonly note: string }
  /** HYPOTHETICAL direct-post cache invalidation (type 0xE, src/hypothetical/direct-post) on a unit that has the extension. */
  | { readonly kind: 'direct-post'; readonly dropped: number; readonly note: string };

/** One request as the unit handled it: processed, failed (IQE) or ignored. */
export interface Processed {
  readonly via: 'queue' | 'register' | 'direct';
  readonly slot: number | undefined;
  readonly descriptor: bigint;
  readonly outcome: 'done' | 'error' | 'ignored';
  readonly effect: Effect | undefined;
  readonly iqei: number | undefined;
  readonly note: string | undefined;
}

/** A unit (and memory) after a register write or descriptor, with what it processed. */
export interface QueueStep {
  readonly unit: IommuUnit;
  readonly memory: PhysicalMemory;
  readonly processed: readonly Processed[];
}

type DescriptorResult = { ok: true; unit: IommuUnit; memory: PhysicalMemory; effect: Effect } | { ok: false; iqei: number; why: string };

const fail = (iqei: number, why: string): DescriptorResult => ({ ok: false, iqei, why });

function drops(before: DmaCaches, after: DmaCaches): CacheDrops {
  return {
    context: before.context.length - after.context.length,
    pasid: before.pasid.length - after.pasid.length,
    iotlb: before.iotlb.length - after.iotlb.length,
    pagingStructure: before.pagingStructure.length - after.pagingStructure.length,
  };
}

/**
 * The unit's DMA caches once the hypervisor holds its changes complete — an invalidation wait
 * completed, or a register-based IOTLB invalidation (which ends Linux's register sequences,
 * `__iommu_flush_context` then `__iommu_flush_iotlb`, and has no wait descriptor) [derived] —:
 * entries whose source changed are marked stale (src/vtd/dma/caches.ts `settleDmaCaches`, P4).
 */
export function settled(unit: IommuUnit, memory: PhysicalMemory, hostAddressWidth: number): IommuUnit {
  const dma = settleDmaCaches(memory, { rtaddr: unit.regs.rtaddrLatched, cap: dmaCapabilities(unit, hostAddressWidth) }, unit.dma);
  return dma === unit.dma ? unit : { ...unit, dma };
}

/**
 * Process one descriptor (`raw`: 128 bits, or 256 with `wide`) as the hardware does when it
 * fetches it: validate it, then apply it. Never throws.
 */
export function processDescriptor(unit: IommuUnit, memory: PhysicalMemory, hostAddressWidth: number, raw: bigint, wide: boolean): DescriptorResult {
  const ecap = decodeEcap(unit.ecap);
  const cap = decodeCap(unit.cap);
  const low = raw & MASK128;
  const high = wide ? (raw >> 128n) & MASK128 : 0n;
  const type = descriptorType(low);
  // HYPOTHETICAL: a unit with the direct-post extension also takes type 0xE (src/hypothetical/direct-post/table.ts).
  if (type === DPT_INVALIDATION_TYPE && unit.directPost !== undefined) return directPostDescriptor(unit, memory, low, high);
  const supported: Readonly<Record<number, boolean>> = {
    [INV_DESC_TYPE.CONTEXT_CACHE]: true,
    [INV_DESC_TYPE.IOTLB]: true,
    [INV_DESC_TYPE.DEVICE_TLB]: ecap.DT,
    [INV_DESC_TYPE.IEC]: ecap.IR,
    [INV_DESC_TYPE.WAIT]: true,
    [INV_DESC_TYPE.PASID_IOTLB]: true,
    [INV_DESC_TYPE.PASID_CACHE]: true,
    [INV_DESC_TYPE.PASID_DEVICE_TLB]: ecap.DT,
    [INV_DESC_TYPE.PAGE_GROUP_RESPONSE]: ecap.PRS,
    [INV_DESC_TYPE.PAGE_STREAM_RESPONSE]: ecap.PRS,
  };
  if (supported[type] !== true) return fail(IQEI.INVALID_DESCRIPTOR_TYPE, `type 0x${type.toString(16)} is not a descriptor type this unit supports`);
  if (ecap.SMTS && !wide) {
    if (RTADDR.decode(unit.regs.rtaddrLatched).TTM === TTM.SCALABLE) return fail(IQEI.INVALID_DESCRIPTOR_TYPE, 'a 128-bit descriptor in scalable mode (IQA.DW = 0 with RTADDR.TTM = scalable)');
    if (type === INV_DESC_TYPE.PASID_IOTLB || type === INV_DESC_TYPE.PASID_CACHE || type === INV_DESC_TYPE.PASID_DEVICE_TLB) return fail(IQEI.INVALID_DESCRIPTOR_TYPE, `type ${type} is a 256-bit descriptor in a 128-bit queue`);
  }
  if (high !== 0n) return fail(IQEI.RESERVED_FIELD, `reserved bits 255:128 set (0x${high.toString(16)})`);
  switch (type) {
    case INV_DESC_TYPE.IEC: {
      const reserved = IEC_LAYOUT.reservedSet(low);
      if (reserved !== 0n) return fail(IQEI.RESERVED_FIELD, `IEC descriptor reserved bits 0x${reserved.toString(16)} set`);
      const d = decodeIec(low).desc;
      const count = d.granularity === 'index' ? 2 ** d.indexMask : undefined;
      const index = d.granularity === 'index' ? d.interruptIndex : undefined;
      const r = iecInvalidate(unit.iec, index, count);
      return { ok: true, unit: r.iec === unit.iec ? unit : { ...unit, iec: r.iec }, memory, effect: { kind: 'iec', granularity: d.granularity, index, count, dropped: r.dropped } };
    }
    case INV_DESC_TYPE.WAIT: {
      const w = decodeWait(low);
      const pd = !ecap.PDS && w.desc.pageRequestDrain ? 1n << 7n : 0n;
      if ((w.reserved | pd) !== 0n) return fail(IQEI.RESERVED_FIELD, `wait descriptor reserved bits 0x${(w.reserved | pd).toString(16)} set${pd ? ' (PD without ECAP.PDS)' : ''}`);
      const notes: string[] = [];
      let next = unit;
      let mem = memory;
      if (w.desc.statusWrite) {
        try {
          mem = memory.writeLE(w.desc.statusAddress, 4, BigInt(w.desc.statusData >>> 0));
        } catch {
          return fail(IQEI.FETCH_ERROR, `status write to 0x${w.desc.statusAddress.toString(16)} outside memory`);
        }
        notes.push(`status 0x${(w.desc.statusData >>> 0).toString(16)} written to 0x${w.desc.statusAddress.toString(16)}`);
      }
      if (w.desc.interruptFlag) {
        const already = (next.regs.ics & 1) !== 0;
        next = completionCondition(next);
        notes.push(already ? 'ICS.IWC already set: no new completion event' : 'ICS.IWC set');
      }
      return { ok: true, unit: settled(next, mem, hostAddressWidth), memory: mem, effect: { kind: 'wait', note: notes.length ? notes.join('; ') : undefined } };
    }
    case INV_DESC_TYPE.DEVICE_TLB:
    case INV_DESC_TYPE.PASID_DEVICE_TLB:
      return { ok: true, unit, memory, effect: { kind: 'no-op', note: 'no device TLB (ATS) in the model: nothing to invalidate' } };
    case INV_DESC_TYPE.PAGE_GROUP_RESPONSE:
    case INV_DESC_TYPE.PAGE_STREAM_RESPONSE:
      return { ok: true, unit, memory, effect: { kind: 'no-op', note: 'no page requests in the model: nothing to respond to' } };
    default: {
      const d = decodeDmaInvalidation(low)!;
      if (d.reserved !== 0n) return fail(IQEI.RESERVED_FIELD, `${d.desc.kind} descriptor reserved bits 0x${d.reserved.toString(16)} set`);
      if (d.desc.granularity.startsWith('reserved')) return fail(IQEI.RESERVED_FIELD, `${d.desc.kind} descriptor granularity ${d.desc.granularity}`);
      if (d.desc.kind === 'iotlb' && d.desc.granularity === 'page' && d.desc.addressMask > cap.MAMV) return fail(IQEI.RESERVED_FIELD, `IOTLB AM ${d.desc.addressMask} > CAP.MAMV ${cap.MAMV}`);
      const dma = applyDmaInvalidation(unit.dma, d.desc);
      return { ok: true, unit: dma === unit.dma ? unit : { ...unit, dma }, memory, effect: { kind: 'dma', invalidation: d.desc, dropped: drops(unit.dma, dma) } };
    }
  }
}

/** A (hypothetical) direct-post cache invalidation fetched from the queue: reserved bits → IQE (IQEI 1), else the cache entries it covers are dropped. */
function directPostDescriptor(unit: IommuUnit, memory: PhysicalMemory, low: bigint, high: bigint): DescriptorResult {
  if (high !== 0n) return fail(IQEI.RESERVED_FIELD, `reserved bits 255:128 set (0x${high.toString(16)})`);
  let inv;
  try {
    inv = decodeDptInvalidation(low);
  } catch (e) {
    return fail(IQEI.RESERVED_FIELD, (e as Error).message);
  }
  const dp = unit.directPost!;
  const r = dptcInvalidate(dp.cache, inv);
  return {
    ok: true,
    unit: r.cache === dp.cache ? unit : { ...unit, directPost: { dpta: dp.dpta, cache: r.cache } },
    memory,
    effect: { kind: 'direct-post', dropped: r.dropped, note: `hypothetical: dropped ${r.dropped} direct-post cache entr${r.dropped === 1 ? 'y' : 'ies'}` },
  };
}

/** FSTS.IQE set with IQERCD.IQEI = `iqei`: a fault-event interrupt condition (src/vtd/fault-event.ts). */
export function queueError(unit: IommuUnit, iqei: number): IommuUnit {
  const pre = unit.regs.fsts;
  const iqer = IQERCD_REG.encode({ ...IQERCD_REG.decode(unit.regs.iqer), IQEI: iqei, reserved: 0n });
  return faultCondition({ ...unit, regs: { ...unit.regs, fsts: (pre | FSTS_IQE) >>> 0, iqer } }, pre);
}

const errorEntry = (via: Processed['via'], slot: number | undefined, descriptor: bigint, iqei: number, why: string): Processed => ({ via, slot, descriptor, outcome: 'error', effect: undefined, iqei, note: `FSTS.IQE: ${IQEI_NAMES[iqei]} — ${why}` });

/**
 * Fetch and process descriptors from IQH up to IQT (what the hardware does after an IQT write,
 * an IQE clear, or nothing when QIES = 0 or IQE is set). Stops at the first error with IQH at
 * the faulting descriptor. Never throws.
 */
export function runQueue(unit: IommuUnit, memory: PhysicalMemory, hostAddressWidth: number): QueueStep {
  if (!qiesOf(unit) || iqeOf(unit)) return { unit, memory, processed: [] };
  const g = queueGeometry(unit.regs.iqa, hostAddressWidth);
  let head = unit.regs.iqh & QUEUE_OFFSET_MASK;
  const tail = unit.regs.iqt & QUEUE_OFFSET_MASK;
  if (head === tail) return { unit, memory, processed: [] };
  if (g.wide && !decodeEcap(unit.ecap).SMTS) {
    return { unit: queueError(unit, IQEI.INVALID_DESCRIPTOR_WIDTH), memory, processed: [errorEntry('queue', slotOf(head, true), 0n, IQEI.INVALID_DESCRIPTOR_WIDTH, 'IQA.DW = 1 on a unit without ECAP.SMTS')] };
  }
  if (tail >= g.bytes) {
    return { unit: queueError(unit, IQEI.INVALID_TAIL_POINTER), memory, processed: [errorEntry('queue', slotOf(head, g.wide), 0n, IQEI.INVALID_TAIL_POINTER, `IQT offset 0x${tail.toString(16)} is beyond the ${g.bytes / 1024n} KiB queue`)] };
  }
  let u = unit;
  let mem = memory;
  const processed: Processed[] = [];
  for (let guard = 0; head !== tail && guard <= g.entries; guard++) {
    const slot = slotOf(head, g.wide);
    let raw: bigint;
    try {
      raw = mem.readLE(g.base + head, g.descriptorBytes);
    } catch {
      processed.push(errorEntry('queue', slot, 0n, IQEI.FETCH_ERROR, `descriptor at 0x${(g.base + head).toString(16)} is outside memory`));
      u = queueError(u, IQEI.FETCH_ERROR);
      break;
    }
    const r = processDescriptor(u, mem, hostAddressWidth, raw, g.wide);
    if (!r.ok) {
      processed.push(errorEntry('queue', slot, raw, r.iqei, r.why));
      u = queueError(u, r.iqei);
      break;
    }
    processed.push({ via: 'queue', slot, descriptor: raw, outcome: 'done', effect: r.effect, iqei: undefined, note: undefined });
    head = (head + BigInt(g.descriptorBytes)) % g.bytes;
    mem = r.memory;
    u = { ...r.unit, regs: { ...r.unit.regs, iqh: head } };
  }
  return { unit: u, memory: mem, processed };
}

/**
 * Software writes IQT_REG: QT (18:4) is kept, other bits are reserved and dropped; with DW = 1
 * bit 4 set is an IQE (IQEI 6) and the bit is cleared (VirtualBox `dmarIqtRegWrite`). The
 * hardware then processes the queue when QIES = 1 and IQE is clear (QEMU `vtd_handle_iqt_write`).
 */
export function writeIqt(unit: IommuUnit, memory: PhysicalMemory, hostAddressWidth: number, value: bigint): QueueStep {
  let iqt = value & QUEUE_OFFSET_MASK;
  const g = queueGeometry(unit.regs.iqa, hostAddressWidth);
  if (g.wide && (iqt & 0x10n) !== 0n) {
    iqt &= ~0x10n;
    const u = queueError({ ...unit, regs: { ...unit.regs, iqt } }, IQEI.TAIL_NOT_ALIGNED);
    return { unit: u, memory, processed: [errorEntry('queue', undefined, 0n, IQEI.TAIL_NOT_ALIGNED, `IQT 0x${(value & QUEUE_OFFSET_MASK).toString(16)} has bit 4 set with 256-bit descriptors`)] };
  }
  return runQueue({ ...unit, regs: { ...unit.regs, iqt } }, memory, hostAddressWidth);
}

/**
 * Software writes IQA_REG: QS, DW and the base are kept (bits 10:3 reserved); IQH and IQT are
 * reset to 0 ("writing to this register causes the Invalidation Queue Head and Invalidation
 * Queue Tail registers to be reset to 0h", Intel 2nd/3rd-generation Core datasheet vol. 2, IQA_REG).
 */
export function writeIqa(unit: IommuUnit, value: bigint): IommuUnit {
  return { ...unit, regs: { ...unit.regs, iqa: value & IQA_RW_MASK, iqh: 0n, iqt: 0n } };
}

/**
 * A descriptor handed to the queue to be processed at once (the `invalidate-iec`,
 * `invalidate-dma` and `invalidation-wait` actions): processed as if fetched, with no ring
 * involved; ignored when the queue is disabled or stopped by IQE.
 */
export function processDirect(unit: IommuUnit, memory: PhysicalMemory, hostAddressWidth: number, descriptor: bigint): QueueStep {
  const d = descriptor & MASK128;
  if (!qiesOf(unit)) {
    return { unit, memory, processed: [{ via: 'direct', slot: undefined, descriptor: d, outcome: 'ignored', effect: undefined, iqei: undefined, note: 'queued invalidation is disabled (GSTS.QIES = 0): there is no queue to submit it to, nothing is invalidated' }] };
  }
  if (iqeOf(unit)) {
    return { unit, memory, processed: [{ via: 'direct', slot: undefined, descriptor: d, outcome: 'ignored', effect: undefined, iqei: undefined, note: 'FSTS.IQE is set: the unit fetches no descriptor until software clears it' }] };
  }
  const g = queueGeometry(unit.regs.iqa, hostAddressWidth);
  const r = g.wide && !decodeEcap(unit.ecap).SMTS ? fail(IQEI.INVALID_DESCRIPTOR_WIDTH, 'IQA.DW = 1 on a unit without ECAP.SMTS') : processDescriptor(unit, memory, hostAddressWidth, d, g.wide);
  if (!r.ok) return { unit: queueError(unit, r.iqei), memory, processed: [errorEntry('direct', undefined, d, r.iqei, r.why)] };
  return { unit: r.unit, memory: r.memory, processed: [{ via: 'direct', slot: undefined, descriptor: d, outcome: 'done', effect: r.effect, iqei: undefined, note: undefined }] };
}

// ---------------------------------------------------------------------------------------
// Register-based invalidation (VT-d §6.5.1): CCMD_REG, IVA_REG, IOTLB_REG.

/** CCMD_REG bits software writes (CAIG is read-only). */
const CCMD_RW_MASK = CCMD_REG.encode({ DID: 0xffff, SID: 0xffff, FM: 3, CAIG: 0, CIRG: 3, ICC: true });
/** IOTLB_REG bits software writes (IAIG is read-only). */
const IOTLB_RW_MASK = IOTLB_REG.encode({ DID: 0xffff, DW: true, DR: true, IAIG: 0, IIRG: 3, IVT: true });
/** IVA_REG bits software writes (11:7 reserved). */
const IVA_RW_MASK = IVA_REG.encode({ AM: 0x3f, IH: true, ADDR: 2 ** 52 - 1 });

/** The context-cache invalidation a CCMD_REG value asks for (CIRG 1 global, 2 domain, 3 device; 0 reserved). */
export function ccmdInvalidation(value: bigint): DmaInvalidation & { kind: 'context-cache' } {
  const f = CCMD_REG.decode(value);
  return { kind: 'context-cache', granularity: GRANULARITY.contextCache[f.CIRG]!, did: f.DID, sid: f.SID, functionMask: f.FM };
}

/** The IOTLB invalidation an IOTLB_REG value (and IVA_REG for page-selective) asks for (IIRG 1 global, 2 domain, 3 page). */
export function iotlbInvalidation(iotlb: bigint, iva: bigint): DmaInvalidation & { kind: 'iotlb' } {
  const f = IOTLB_REG.decode(iotlb);
  const a = IVA_REG.decode(iva);
  return {
    kind: 'iotlb',
    granularity: GRANULARITY.iotlb[f.IIRG]!,
    drainWrites: f.DW,
    drainReads: f.DR,
    did: f.DID,
    addressMask: a.AM,
    invalidationHint: a.IH,
    address: BigInt(a.ADDR) << 12n,
  };
}

/** Why a register-based invalidation is not performed, or undefined. */
function registerRefusal(unit: IommuUnit, which: 'CCMD' | 'IOTLB'): string | undefined {
  if (qiesOf(unit)) return 'queued invalidation is enabled (GSTS.QIES = 1): register-based invalidation is not performed';
  if (which === 'CCMD' && RTADDR.decode(unit.regs.rtaddrLatched).TTM === TTM.SCALABLE) return 'CCMD_REG does not invalidate in scalable mode (RTADDR.TTM = scalable)';
  return undefined;
}

function registerDone(unit: IommuUnit, value: bigint, d: DmaInvalidation): { unit: IommuUnit; processed: Processed } {
  const dma = applyDmaInvalidation(unit.dma, d);
  return { unit: dma === unit.dma ? unit : { ...unit, dma }, processed: { via: 'register', slot: undefined, descriptor: value, outcome: 'done', effect: { kind: 'dma', invalidation: d, dropped: drops(unit.dma, dma) }, iqei: undefined, note: undefined } };
}

const ignoredRegister = (value: bigint, note: string): Processed => ({ via: 'register', slot: undefined, descriptor: value, outcome: 'ignored', effect: undefined, iqei: undefined, note });

/**
 * Software writes CCMD_REG (VT-d §11.4.4.1): with ICC = 1 the context cache is invalidated at
 * the requested granularity, CAIG reports it (0: not performed) and ICC reads 0 again (QEMU
 * `vtd_context_cache_invalidate` performs domain-selective as global; this model does exactly
 * what was asked).
 */
export function writeCcmd(unit: IommuUnit, value: bigint): { unit: IommuUnit; processed: Processed | undefined } {
  const stored = value & CCMD_RW_MASK;
  const f = CCMD_REG.decode(stored);
  const withCcmd = (u: IommuUnit, caig: number): IommuUnit => ({ ...u, regs: { ...u.regs, ccmd: CCMD_REG.encode({ ...f, CAIG: caig, ICC: false, reserved: 0n }) } });
  if (!f.ICC) return { unit: { ...unit, regs: { ...unit.regs, ccmd: stored } }, processed: undefined };
  const refusal = registerRefusal(unit, 'CCMD') ?? (f.CIRG === 0 ? 'CIRG = 0 is a reserved granularity' : undefined);
  if (refusal !== undefined) return { unit: withCcmd(unit, 0), processed: ignoredRegister(value, `${refusal} (CAIG = 0)`) };
  const r = registerDone(unit, value, ccmdInvalidation(stored));
  return { unit: withCcmd(r.unit, f.CIRG), processed: r.processed };
}

/** Software writes IVA_REG: AM, IH and ADDR for the next page-selective IOTLB_REG invalidation. */
export function writeIva(unit: IommuUnit, value: bigint): IommuUnit {
  return { ...unit, regs: { ...unit.regs, iva: value & IVA_RW_MASK } };
}

/**
 * Software writes IOTLB_REG (VT-d §11.4.8.1): with IVT = 1 the IOTLB (and paging-structure
 * caches) are invalidated at the requested granularity — page-selective with IVA_REG's AM, IH
 * and ADDR — IAIG reports what was done and IVT reads 0 again. Page-selective on a unit without
 * CAP.PSI is performed domain-selective (IAIG = domain); AM above CAP.MAMV is not performed
 * (IAIG = 0, QEMU `vtd_iotlb_flush`).
 */
export function writeIotlb(unit: IommuUnit, value: bigint): { unit: IommuUnit; processed: Processed | undefined } {
  const stored = value & IOTLB_RW_MASK;
  const f = IOTLB_REG.decode(stored);
  const withIotlb = (u: IommuUnit, iaig: number): IommuUnit => ({ ...u, regs: { ...u.regs, iotlb: IOTLB_REG.encode({ ...f, IAIG: iaig, IVT: false, reserved: 0n }) } });
  if (!f.IVT) return { unit: { ...unit, regs: { ...unit.regs, iotlb: stored } }, processed: undefined };
  const cap = decodeCap(unit.cap);
  let d = iotlbInvalidation(stored, unit.regs.iva);
  const refusal =
    registerRefusal(unit, 'IOTLB') ??
    (f.IIRG === 0 ? 'IIRG = 0 is a reserved granularity' : d.granularity === 'page' && cap.PSI && d.addressMask > cap.MAMV ? `IVA.AM ${d.addressMask} > CAP.MAMV ${cap.MAMV}` : undefined);
  if (refusal !== undefined) return { unit: withIotlb(unit, 0), processed: ignoredRegister(value, `${refusal} (IAIG = 0)`) };
  let iaig = f.IIRG;
  if (d.granularity === 'page' && !cap.PSI) {
    d = { ...d, granularity: 'domain' };
    iaig = 2;
  }
  const r = registerDone(unit, value, d);
  return { unit: withIotlb(r.unit, iaig), processed: iaig === f.IIRG ? r.processed : { ...r.processed, note: 'CAP.PSI = 0: performed domain-selective (IAIG = domain)' } };
}

// ---------------------------------------------------------------------------------------
// Describing descriptors and emitting what was processed.

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

/** One-line description of a DMA-cache invalidation. */
export function describeDmaInvalidation(d: DmaInvalidation): string {
  switch (d.kind) {
    case 'context-cache':
      return `context-cache ${d.granularity}${d.granularity === 'domain' ? ` DID ${d.did}` : d.granularity === 'device' ? ` SID ${formatBdf(d.sid)} FM ${d.functionMask}` : ''}`;
    case 'iotlb':
      return `IOTLB ${d.granularity}${d.granularity === 'domain' || d.granularity === 'page' ? ` DID ${d.did}` : ''}${d.granularity === 'page' ? ` ADDR ${hex(d.address)} AM ${d.addressMask}${d.invalidationHint ? ' IH' : ''}` : ''}${d.drainReads ? ' DR' : ''}${d.drainWrites ? ' DW' : ''}`;
    case 'pasid-iotlb':
      return `PASID-IOTLB ${d.granularity} DID ${d.did} PASID ${hex(d.pasid)}${d.granularity === 'page' ? ` ADDR ${hex(d.address)} AM ${d.addressMask}${d.invalidationHint ? ' IH' : ''}` : ''}`;
    case 'pasid-cache':
      return `PASID-cache ${d.granularity}${d.granularity === 'global' ? '' : ` DID ${d.did}`}${d.granularity === 'pasid' ? ` PASID ${hex(d.pasid)}` : ''}`;
  }
}

/** One-line description of any descriptor (for the trace and the dump's queue section). */
export function describeDescriptor(raw: bigint): string {
  const low = raw & MASK128;
  const type = descriptorType(low);
  if (type === INV_DESC_TYPE.IEC) {
    const d = decodeIec(low).desc;
    return d.granularity === 'global' ? 'IEC global' : `IEC index ${hex(d.interruptIndex)} IM ${d.indexMask}`;
  }
  if (type === INV_DESC_TYPE.WAIT) {
    const w = decodeWait(low).desc;
    const flags = [w.interruptFlag ? 'IF' : '', w.statusWrite ? 'SW' : '', w.fence ? 'FN' : '', w.pageRequestDrain ? 'PD' : ''].filter(Boolean).join(' ');
    return `wait${flags ? ` ${flags}` : ''}${w.statusWrite ? ` STDATA ${hex(w.statusData >>> 0)} STADDR ${hex(w.statusAddress)}` : ''}`;
  }
  if (type === DPT_INVALIDATION_TYPE) {
    try {
      const d = decodeDptInvalidation(low);
      return `direct-post (hypothetical) ${d.granularity}${d.granularity === 'global' ? '' : ` SID ${formatBdf(d.sid)}`}${d.granularity === 'entry' ? ` vAPIC ${d.vapicId}` : ''}`;
    } catch {
      return 'direct-post (hypothetical), malformed';
    }
  }
  if (type === INV_DESC_TYPE.DEVICE_TLB) return 'device-TLB invalidation';
  if (type === INV_DESC_TYPE.PASID_DEVICE_TLB) return 'PASID-based device-TLB invalidation';
  if (type === INV_DESC_TYPE.PAGE_GROUP_RESPONSE || type === INV_DESC_TYPE.PAGE_STREAM_RESPONSE) return 'page response';
  const d = decodeDmaInvalidation(low);
  return d === undefined ? `type ${hex(type)}` : describeDmaInvalidation(d.desc);
}

/** Emit one event per processed request: `iec-invalidate` for IEC invalidations, `invalidation` for the rest. */
export function emitProcessed(iommu: number, processed: readonly Processed[], emit: Emit): void {
  for (const p of processed) {
    const e = p.effect;
    if (e?.kind === 'iec') {
      emit({ kind: 'iec-invalidate', iommu, descriptor: p.descriptor, granularity: e.granularity, index: e.index, count: e.count, dropped: e.dropped, via: p.via, ...(p.slot === undefined ? {} : { slot: p.slot }) });
      continue;
    }
    const what = p.via === 'register' ? (p.outcome === 'done' && e?.kind === 'dma' ? describeDmaInvalidation(e.invalidation) : 'register invalidation') : describeDescriptor(p.descriptor);
    emit({
      kind: 'invalidation',
      iommu,
      via: p.via,
      slot: p.slot,
      descriptor: p.descriptor,
      outcome: p.outcome,
      what,
      dropped: e?.kind === 'dma' ? e.dropped : undefined,
      iqei: p.iqei,
      note: p.note ?? (e?.kind === 'wait' || e?.kind === 'no-op' || e?.kind === 'direct-post' ? e.note : undefined),
    });
  }
}
