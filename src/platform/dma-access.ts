/**
 * A device's DMA read or write through its remapping unit (VT-d §3, §6; DESIGN.md §1):
 *
 * - with translation disabled (GSTS.TES = 0) or no unit, the address is an HPA;
 * - otherwise the request (requester ID, optional PASID, IOVA) is translated through the
 *   unit's caches (context, PASID, IOTLB, paging-structure) or a walk of the root,
 *   context, PASID and paging structures in memory — a fault is recorded with its
 *   VT-d reason and the access is dropped;
 * - a write whose untranslated or translated address falls in 0xFEE0_0000–0xFEEF_FFFF
 *   is an interrupt request and goes down the interrupt-remapping path with its
 *   requester ID, never to memory (the reading; some implementations report
 *   translated interrupt addresses as faults 0x0E/0x87 instead); a read there faults
 *   with the interrupt-address fault: 0x0E in legacy mode, 0x87 in scalable mode (QEMU
 *   `VTD_FR_INTERRUPT_ADDR` / `VTD_FR_SM_INTERRUPT_ADDR`; VirtualBox LGN.4).
 *
 * Pure: state in, state out; events through `emit`.
 */
import type { PlatformEvent } from './events.ts';
import type { PlatformState, PciFunction, IommuUnit } from './state.ts';
import { copyState, deliverDeviceWrite } from './device-write.ts';
import type { RaisedInterrupt } from './notification.ts';
import { isInterruptAddress } from '../x86/msi.ts';
import { GLOBAL_STATUS_BITS, decodeCap, decodeEcap } from '../vtd/registers.ts';
import { translateWithCaches } from '../vtd/dma/caches.ts';
import type { DmaCapabilities, DmaRequest, MemoryReference } from '../vtd/dma/walk.ts';
import { RTADDR, TTM } from '../vtd/dma/structures.ts';
import { recordDmaFault } from '../vtd/fault-recording.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Emit = (event: DistributiveOmit<PlatformEvent, 'step'>) => void;

export interface DmaAccess {
  readonly fn: PciFunction;
  /** The requester ID the request carries at the root complex (src/platform/bus.ts). */
  readonly rid: number;
  readonly pasid?: number;
  readonly address: bigint;
  /** Bytes, 1..64, within one 4 KiB page. */
  readonly size: number;
  readonly write: boolean;
  /** The bytes written, little-endian (writes only). */
  readonly value: bigint;
}

/** Fault reason for a read of the interrupt address range, per translation mode (see the module comment). */
const INTERRUPT_READ_FAULT = { legacy: 0x0e, scalable: 0x87 } as const;

/** The last {@link dmaCapabilities} result and its inputs (CAP and ECAP do not change, decoding them is most of an IOTLB hit). */
let lastCapabilities: { cap: bigint; ecap: bigint; haw: number; result: Readonly<DmaCapabilities> } | undefined;

/**
 * The walk's capabilities from the unit's CAP/ECAP and the platform's host address width.
 * The result is frozen and may be shared between calls with the same CAP, ECAP and width.
 */
export function dmaCapabilities(unit: IommuUnit, hostAddressWidth: number): DmaCapabilities {
  const last = lastCapabilities;
  if (last !== undefined && last.cap === unit.cap && last.ecap === unit.ecap && last.haw === hostAddressWidth) return last.result;
  const result = Object.freeze(decodeCapabilities(unit, hostAddressWidth));
  lastCapabilities = { cap: unit.cap, ecap: unit.ecap, haw: hostAddressWidth, result };
  return result;
}

function decodeCapabilities(unit: IommuUnit, hostAddressWidth: number): DmaCapabilities {
  const cap = decodeCap(unit.cap);
  const ecap = decodeEcap(unit.ecap);
  return {
    sl2M: (cap.SLLPS & 1) !== 0,
    sl1G: (cap.SLLPS & 2) !== 0,
    fl1G: cap.FL1GP,
    fl5: cap.FL5LP,
    sagaw: cap.SAGAW,
    hawBits: hostAddressWidth,
    passThrough: ecap.PT,
  };
}

function withUnit(state: PlatformState, unit: IommuUnit): PlatformState {
  const iommus = state.iommus.slice();
  iommus[unit.index] = unit;
  const next = copyState(state);
  next.iommus = iommus;
  return next;
}

/** Perform one device DMA access. Returns the state after it. */
export function deviceDma(state: PlatformState, access: DmaAccess, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  // The device puts `size` bytes on the bus: anything above them is not part of the write.
  const a = { ...access, value: access.value & ((1n << BigInt(8 * access.size)) - 1n) };
  const source = { device: a.fn.key, rid: a.rid, pasid: a.pasid, iova: a.address, size: a.size, write: a.write };
  if (a.write && isInterruptAddress(a.address)) return deliverDeviceWrite(state, a.fn, a.rid, a.address, Number(a.value & 0xffff_ffffn), emit, raised);

  const iommu = a.fn.iommu;
  const unit = iommu === undefined ? undefined : state.iommus[iommu];
  let hpa = a.address;
  let translation: 'untranslated' | 'iotlb-hit' | 'walk' = 'untranslated';
  let references: readonly MemoryReference[] = [];
  let type: string | undefined;
  let next = state;
  if (unit !== undefined && (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.TES)) !== 0) {
    const request: DmaRequest = { rid: a.rid, iova: a.address, size: a.size, read: !a.write, write: a.write, ...(a.pasid === undefined ? {} : { pasid: a.pasid }) };
    const config = { rtaddr: unit.regs.rtaddrLatched, cap: dmaCapabilities(unit, state.hostAddressWidth) };
    const r = translateWithCaches(state.memory, config, unit.dma, request);
    let current: IommuUnit = r.caches === unit.dma ? unit : { ...unit, dma: r.caches };
    if (r.hit) {
      hpa = r.lookup.hpa;
      translation = 'iotlb-hit';
      type = r.lookup.type;
    } else if (r.result.ok) {
      hpa = r.result.hpa;
      translation = 'walk';
      references = r.result.references;
      type = r.result.type;
      if (r.result.memory !== state.memory) {
        next = copyState(next);
        (next as { memory: typeof state.memory }).memory = r.result.memory;
      }
    } else {
      const f = r.result.fault;
      let frcd: number | undefined;
      if (f.record && !f.fpd) {
        const rec = recordDmaFault(current, { reason: f.reason, sid: a.rid, address: a.address, read: !a.write, ...(a.pasid === undefined ? {} : { pasid: a.pasid }) });
        current = rec.unit;
        frcd = rec.record;
      }
      emit({ kind: 'dma-fault', ...source, iommu: unit.index, reason: f.reason, condition: f.condition, frcd, references: r.result.references });
      return current === unit ? next : withUnit(next, current);
    }
    if (current !== unit) next = withUnit(next, current);
    if (isInterruptAddress(hpa)) {
      if (a.write) {
        emit({ kind: 'dma-access', ...source, hpa, translation, type, references, value: a.value, iommu: unit.index });
        return deliverDeviceWrite(next, a.fn, a.rid, hpa, Number(a.value & 0xffff_ffffn), emit, raised);
      }
      const scalable = RTADDR.decode(unit.regs.rtaddrLatched).TTM === TTM.SCALABLE;
      const reason = scalable ? INTERRUPT_READ_FAULT.scalable : INTERRUPT_READ_FAULT.legacy;
      const rec = recordDmaFault(current, { reason, sid: a.rid, address: a.address, read: true });
      emit({ kind: 'dma-fault', ...source, iommu: unit.index, reason, condition: 'interrupt-range-read', frcd: rec.record, references });
      return withUnit(next, rec.unit);
    }
  } else if (!a.write && isInterruptAddress(a.address)) {
    emit({ kind: 'dma-fault', ...source, iommu, reason: INTERRUPT_READ_FAULT.legacy, condition: 'interrupt-range-read', frcd: undefined, references });
    return next;
  }
  if (a.write) {
    const memory = next.memory.writeLE(hpa, a.size, a.value);
    next = copyState(next);
    (next as { memory: typeof memory }).memory = memory;
    emit({ kind: 'dma-access', ...source, hpa, translation, type, references, value: a.value, iommu });
    return next;
  }
  emit({ kind: 'dma-access', ...source, hpa, translation, type, references, value: next.memory.readLE(hpa, a.size), iommu });
  return next;
}
