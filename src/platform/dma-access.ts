/**
 * A device's DMA read or write through its remapping unit (VT-d §3, §6; DESIGN.md §1):
 *
 * - with translation disabled (GSTS.TES = 0) or no unit, the address is an HPA;
 * - otherwise the request (requester ID, optional PASID, IOVA) is translated through the
 *   unit's caches (context, PASID, IOTLB, paging-structure) or a walk of the root,
 *   context, PASID and paging structures in memory — a fault is recorded with its
 *   VT-d reason and the access is dropped.
 *
 * The interrupt address range 0xFEE0_0000–0xFEEF_FFFF (every rule cited; docs/fidelity.md
 * "The interrupt address range"):
 *
 * - a request *without* PASID whose address lies there is never DMA-remapped (VT-d §3.14:
 *   "treated as potential interrupt requests and are not subjected to DMA remapping, even if
 *   translation structures specify a mapping for this range"). A DWORD write (4 bytes,
 *   DWORD-aligned) is an interrupt request (VT-d §5.1, §5.1.4: "hardware identifies interrupt
 *   requests as DWORD sized write requests to the interrupt address range") and goes down the
 *   interrupt-remapping path (src/platform/device-write.ts), with IR on or off, with or
 *   without a unit. Anything else — a read, a 1-, 2-, 8-, 16- or 64-byte write, a misaligned
 *   4-byte write — is a malformed MSI: "detected and aborted by the platform, before they are
 *   subject to further interrupt remapping/processing" as an Unsupported Request (XSA-59 /
 *   CVE-2013-3495, text supplied by Intel). No memory access, no delivery, no FRCD: an
 *   `unsupported-request` event. A platform that reports URs as system errors
 *   (`interrupts.urSignaling = serr-nmi`) then raises an NMI on the BSP — the XSA-59 attack;
 *   Xen masks UR signalling on the affected chipsets (`pci_vtd_quirk`). QEMU instead drops 1- and 2-byte and
 *   misaligned accesses (`vtd_mem_ir_ops` valid sizes 4..4) and splits 8- and 16-byte writes
 *   into DWORD MSIs (its memory core), and answers reads with 0 (`vtd_mem_ir_read`);
 * - a request *with* PASID there is translated like any other (VT-d §3.14); with no
 *   translation (TES = 0, no unit) it is not an interrupt request either: aborted as UR;
 * - a translation whose output lands in the range is blocked with the interrupt-address fault
 *   for writes as for reads: 0x0E (LGN.4) in legacy mode, 0x87 (SGN.8) in scalable mode (VT-d
 *   §3.14 "Untranslated requests and translation requests that result in an address in the
 *   interrupt range will be blocked with condition code LGN.4 or SGN.8"; QEMU
 *   `vtd_do_iommu_translate` `VTD_FR_INTERRUPT_ADDR` / `VTD_FR_SM_INTERRUPT_ADDR`; VirtualBox
 *   `dmarDrUpdateIoPageOut` LGN_4 / SGN_8). The fault is qualified (FPD of the context or
 *   PASID entry suppresses its recording: QEMU `vtd_qualified_faults`), and the translation is
 *   not cached (QEMU checks before `vtd_update_iotlb`). It is judged on the access's own
 *   address, as the spec words it: a 2 MiB or 1 GiB page that overlaps the range still reaches
 *   memory outside it (QEMU faults on any page overlapping the range, VirtualBox only when the
 *   page base lies inside it). A pass-through PASID request to the range is blocked the same
 *   way (VT-d §3.14).
 *
 * Pure: state in, state out; events through `emit`.
 */
import { unitWith } from './unit-copy.ts';
import type { DmaAccessEvent, PlatformEvent } from './events.ts';
import type { PlatformState, PciFunction, IommuUnit } from './state.ts';
import { copyState, deliverDeviceWrite } from './device-write.ts';
import type { RaisedInterrupt } from './notification.ts';
import { isInterruptAddress } from '../x86/msi.ts';
import { GLOBAL_STATUS_BITS } from '../vtd/registers.ts';
import { translateWithCaches, type StaleCacheUse } from '../vtd/dma/caches.ts';
import { dmaCapabilitiesFromRegisters, translateDma, type DmaCapabilities, type DmaRequest, type MemoryReference } from '../vtd/dma/walk.ts';
import { RTADDR, TTM } from '../vtd/dma/structures.ts';
import { recordDmaFault } from '../vtd/fault-recording.ts';
import { faultReason } from '../vtd/fault-reasons.ts';
import type { UnsupportedRequestWhy } from './events.ts';
import { VENDOR_PATHS } from './vendor.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Emit = (event: DistributiveOmit<PlatformEvent, 'step'>) => void;

export interface DmaAccess {
  readonly fn: PciFunction;
  /** The requester ID the request carries at the root complex (src/platform/bus.ts). */
  readonly rid: number;
  /** The PASID TLP prefix (20 bits); absent or undefined: none. */
  readonly pasid?: number | undefined;
  readonly address: bigint;
  /** Bytes, 1..64, within one 4 KiB page. */
  readonly size: number;
  readonly write: boolean;
  /** The bytes written, little-endian (writes only). */
  readonly value: bigint;
}

/** 2^64 − 1: the highest bus address. */
export const MAX_U64 = (1n << 64n) - 1n;
const MAX_U128 = (1n << 128n) - 1n;

/**
 * A quick accept of a `dma` action every field of which a bus can carry: true only when
 * src/platform/action-fields.ts `malformedField` finds nothing (test/dma/dma-action-fast.test.ts
 * checks the implication), false when in doubt — any field it does not know, a value it does not
 * accept at once — so that the caller asks `malformedField`. Its fields: `device` a string that is
 * no Object.prototype property, `address` a 64-bit unsigned bigint, `size` an integer, `write` a
 * boolean, `value` (optional) a 128-bit unsigned bigint, `rid` (optional) 16 bits, `pasid`
 * (optional) 20 bits. Allocates nothing (the full check walks the fields by name: a third of a
 * cold nested DMA's cost beside the walk, issue 15 goal 4).
 */
export function dmaActionCarriable(a: object): boolean {
  for (const k in a) {
    const v: unknown = (a as Record<string, unknown>)[k];
    switch (k) {
      case 'kind':
        if (v !== 'dma') return false;
        break;
      case 'device':
        if (typeof v !== 'string' || v in Object.prototype) return false;
        break;
      case 'address':
        if (typeof v !== 'bigint' || v < 0n || v > MAX_U64) return false;
        break;
      case 'size':
        if (!Number.isSafeInteger(v)) return false;
        break;
      case 'write':
        if (typeof v !== 'boolean') return false;
        break;
      case 'value':
        if (v !== undefined && (typeof v !== 'bigint' || v < 0n || v > MAX_U128)) return false;
        break;
      case 'rid':
        if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff)) return false;
        break;
      case 'pasid':
        if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 0xf_ffff)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Fault reason for a translation into the interrupt address range, per translation mode (see the module comment). */
export const INTERRUPT_ADDRESS_FAULT = { legacy: 0x0e, scalable: 0x87 } as const;

/** NMI delivery mode (SDM encoding 100b) and the conventional NMI vector the event carries. */
const NMI_DELIVERY_MODE = 4;
const NMI_VECTOR = 2;

/**
 * Why a request without PASID to the interrupt range is not an interrupt request, or
 * undefined for a DWORD write (VT-d §5.1.4; see the module comment).
 */
export function interruptRangeMisfit(write: boolean, address: bigint, size: number): UnsupportedRequestWhy | undefined {
  if (!write) return 'read';
  if (size !== 4) return 'not-dword';
  if ((address & 3n) !== 0n) return 'misaligned';
  return undefined;
}

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

/**
 * The walk's capabilities, decoded by its own decoder (src/vtd/dma/walk.ts
 * `dmaCapabilitiesFromRegisters`): every field, so the walk enforces each CAP/ECAP gate —
 * MGAW (input bound), DT (legacy TT = 01), PT, SC (SNP / PGSNP), SMTS (RTADDR.TTM = 01),
 * FLTS / SLTS / NEST (PGTT 1 / 2 / 3), SLADS (SLADE), ADMS (TTM = 11), RPS (RID_PASID) and
 * RPRIVS (RID_PRIV). A unit without SMTS in scalable mode faults 0x30 on every request
 * (docs/fidelity.md "DMA translation rules"): scenarios that use scalable mode give their
 * unit a scalable-mode ECAP (src/platform/build.ts `SCALABLE_ECAP`).
 */
function decodeCapabilities(unit: IommuUnit, hostAddressWidth: number): DmaCapabilities {
  return dmaCapabilitiesFromRegisters(unit.cap, unit.ecap, hostAddressWidth);
}


function withUnit(state: PlatformState, unit: IommuUnit): PlatformState {
  const iommus = state.iommus.slice();
  iommus[unit.index] = unit;
  const next = copyState(state);
  next.iommus = iommus;
  return next;
}

/** 2^(8·size) − 1 for the sizes a request may have (1..64 bytes). */
const VALUE_MASKS: readonly bigint[] = Array.from({ length: 65 }, (_, size) => (1n << BigInt(8 * size)) - 1n);

/**
 * Perform one device DMA access. Returns the state after it: `state` itself, never changed, when
 * the access changed nothing the hardware holds (a read that hit the IOTLB, a discarded request);
 * otherwise one fresh copy of the root, made at most once per access.
 */
export function deviceDma(state: PlatformState, access: DmaAccess, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  // PCIe Base §2.2.7: a request must not cross a 4 KiB boundary; a receiver that checks treats
  // one that does as a Malformed TLP and discards it (§2.3, an error reported, no access made).
  // The same for an address beyond 64 bits, which no TLP can carry (docs/fidelity.md).
  // (Within one page below 2^64, address + size ≤ 2^64 follows: the page ends at or below it.)
  if (!(access.size >= 1) || access.address < 0n || access.address > MAX_U64 || Number(access.address & 0xfffn) + access.size > 0x1000) {
    emit({ kind: 'action-rejected', why: `malformed request from ${access.fn.key}: ${access.size} bytes at 0x${access.address.toString(16)} cross a 4 KiB boundary or 64 bits (PCIe Base §2.2.7); discarded` });
    return state;
  }
  // The device puts `size` bytes on the bus: anything above them is not part of the write.
  const mask = VALUE_MASKS[access.size] ?? (1n << BigInt(8 * access.size)) - 1n;
  const a = access.value >= 0n && access.value <= mask ? access : { ...access, value: access.value & mask };
  if (a.pasid === undefined && isInterruptAddress(a.address)) {
    // VT-d §3.14: never DMA-remapped. A DWORD write is an interrupt request; anything else is a malformed one.
    const why = interruptRangeMisfit(a.write, a.address, a.size);
    if (why === undefined) return deliverDeviceWrite(state, a.fn, a.rid, a.address, Number(a.value & 0xffff_ffffn), emit, raised);
    return unsupportedRequest(state, a, why, emit);
  }
  // The vendor seam (src/platform/vendor.ts): an AMD-Vi platform translates through its own units. One field test.
  if (state.amdvi !== undefined) return VENDOR_PATHS.amdvi.dma(state, a, emit, raised);

  const iommu = a.fn.iommu;
  const unit = iommu === undefined ? undefined : state.iommus[iommu];
  let hpa = a.address;
  let translation: 'untranslated' | 'iotlb-hit' | 'walk' = 'untranslated';
  let references: readonly MemoryReference[] = [];
  let type: string | undefined;
  let next = state;
  // Whether `next` is a copy made here (which may be changed in place) rather than `state`.
  let owned = false;
  let stale: readonly StaleCacheUse[] | undefined;
  if (unit !== undefined && (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.TES)) !== 0) {
    const request: DmaRequest = { rid: a.rid, iova: a.address, size: a.size, read: !a.write, write: a.write };
    if (a.pasid !== undefined) request.pasid = a.pasid;
    const config = { rtaddr: unit.regs.rtaddrLatched, cap: dmaCapabilities(unit, state.hostAddressWidth) };
    const r = translateWithCaches(state.memory, config, unit.dma, request);
    // Cache entries marked stale that the translation used (P4, src/vtd/dma/caches.ts): the event that follows carries them.
    stale = r.stale;
    if (r.hit) {
      hpa = r.lookup.hpa;
      translation = 'iotlb-hit';
      type = r.lookup.type;
    } else if (r.result.ok) {
      hpa = r.result.hpa;
      translation = 'walk';
      references = r.result.references;
      type = r.result.type;
    } else {
      const f = r.result.fault;
      let current: IommuUnit = r.caches === unit.dma ? unit : { ...unit, dma: r.caches };
      let frcd: number | undefined;
      // `record` already says whether FPD suppresses it: only for a qualified reason (VT-d
      // §7.1.3; QEMU `vtd_report_fault`). An unqualified fault is recorded whatever FPD says.
      if (f.record) {
        const rec = recordDmaFault(current, { reason: f.reason, sid: a.rid, address: a.address, read: !a.write, ...(a.pasid === undefined ? {} : { pasid: a.pasid }) });
        current = rec.unit;
        frcd = rec.record;
      }
      emit({ kind: 'dma-fault', ...sourceOf(a, stale), iommu: unit.index, reason: f.reason, condition: f.condition, frcd, references: r.result.references });
      return current === unit ? next : withUnit(next, current);
    }
    if (isInterruptAddress(hpa)) {
      // Blocked (LGN.4 / SGN.8), read or write; the translation is neither cached nor its A/D updates kept.
      const scalable = RTADDR.decode(unit.regs.rtaddrLatched).TTM === TTM.SCALABLE;
      const reason = scalable ? INTERRUPT_ADDRESS_FAULT.scalable : INTERRUPT_ADDRESS_FAULT.legacy;
      const fpd = r.hit ? fpdOf(state, config, request) : r.result.ok && r.result.fpd;
      let current: IommuUnit = unit;
      let frcd: number | undefined;
      if (!(fpd && (faultReason(reason)?.qualified ?? false))) {
        const rec = recordDmaFault(unit, { reason, sid: a.rid, address: a.address, read: !a.write, ...(a.pasid === undefined ? {} : { pasid: a.pasid }) });
        current = rec.unit;
        frcd = rec.record;
      }
      emit({ kind: 'dma-fault', ...sourceOf(a, stale), iommu: unit.index, reason, condition: 'interrupt-range-output', frcd, references });
      return current === unit ? next : withUnit(next, current);
    }
    // `next` is `state` until one of these copies it: only a copy made here is changed in place,
    // which spares a second copy of the root per access.
    if (!r.hit && r.result.ok && r.result.memory !== state.memory) {
      if (!owned) next = copyState(next);
      owned = true;
      (next as { memory: typeof state.memory }).memory = r.result.memory;
    }
    if (r.caches !== unit.dma) {
      const iommus = next.iommus.slice();
      iommus[unit.index] = unitWith(unit, unit.iec, r.caches, unit.directPost);
      if (!owned) next = copyState(next);
      owned = true;
      (next as { iommus: readonly IommuUnit[] }).iommus = iommus;
    }
  } else if (a.pasid !== undefined && isInterruptAddress(a.address)) {
    // A PASID request is never an interrupt request (VT-d §3.14), and nothing translates it.
    return unsupportedRequest(state, a, 'pasid-untranslated', emit);
  }
  if (a.write) {
    const memory = next.memory.writeLE(hpa, a.size, a.value);
    if (!owned) next = copyState(next);
    (next as { memory: typeof memory }).memory = memory;
    emit(accessEvent(a, stale, hpa, translation, type, references, a.value, iommu));
    return next;
  }
  emit(accessEvent(a, stale, hpa, translation, type, references, next.memory.readLE(hpa, a.size), iommu));
  return next;
}

/** The request fields every DMA event starts with, `stale` (the stale cache entries used) after them when there are any. */
function sourceOf(a: DmaAccess, stale: readonly StaleCacheUse[] | undefined) {
  const source: { device: string; rid: number; pasid: number | undefined; iova: bigint; size: number; write: boolean; stale?: readonly StaleCacheUse[] } = { device: a.fn.key, rid: a.rid, pasid: a.pasid, iova: a.address, size: a.size, write: a.write };
  if (stale !== undefined) source.stale = stale;
  return source;
}

/**
 * The `dma-access` event: `{ kind, ...sourceOf(a, stale), hpa, translation, type, references,
 * value, iommu }` written out (the same keys in the same order) — the spread was a tenth of what
 * a cold nested DMA adds to its walk (issue 15 goal 4).
 */
function accessEvent(
  a: DmaAccess,
  stale: readonly StaleCacheUse[] | undefined,
  hpa: bigint,
  translation: DmaAccessEvent['translation'],
  type: string | undefined,
  references: readonly MemoryReference[],
  value: bigint,
  iommu: number | undefined,
): DistributiveOmit<DmaAccessEvent, 'step'> {
  if (stale === undefined) return { kind: 'dma-access', device: a.fn.key, rid: a.rid, pasid: a.pasid, iova: a.address, size: a.size, write: a.write, hpa, translation, type, references, value, iommu };
  return { kind: 'dma-access', device: a.fn.key, rid: a.rid, pasid: a.pasid, iova: a.address, size: a.size, write: a.write, stale, hpa, translation, type, references, value, iommu };
}

/**
 * FPD of the entries that translate `request` now: an IOTLB hit carries none, so the tables
 * are walked again (purely; only on the rare hit whose output lies in the interrupt range).
 */
function fpdOf(state: PlatformState, config: Parameters<typeof translateDma>[1], request: DmaRequest): boolean {
  const w = translateDma(state.memory, config, request);
  return w.ok ? w.fpd : w.fault.fpd;
}

/**
 * A request to the interrupt range that is neither an interrupt request nor DMA, aborted by
 * the root complex as an Unsupported Request (XSA-59; see the module comment). With
 * `urSignaling = serr-nmi` the UR becomes a system error, delivered as an NMI to the BSP: the
 * local APIC's LINT1 is programmed as NMI on the BSP only (Linux arch/x86/kernel/apic/apic.c
 * `setup_local_APIC`: "Only the BSP sees the LINT1 NMI signal by default").
 */
function unsupportedRequest(state: PlatformState, a: DmaAccess, why: UnsupportedRequestWhy, emit: Emit): PlatformState {
  const serr = state.interrupts.urSignaling === 'serr-nmi';
  const iommu = a.fn.iommu;
  const value = a.write ? a.value : 0n;
  emit({ kind: 'unsupported-request', device: a.fn.key, rid: a.rid, pasid: a.pasid, address: a.address, size: a.size, write: a.write, value, iommu, why, signalled: serr ? 'serr-nmi' : 'none' });
  const bsp = state.cpus[0];
  if (!serr || bsp === undefined) return state;
  emit({
    kind: 'interrupt-delivered',
    device: a.fn.key,
    rid: a.rid,
    address: a.address,
    data: Number(value & 0xffff_ffffn),
    path: 'system-error',
    iommu,
    irteIndex: undefined,
    iecHit: undefined,
    destination: bsp.apicId,
    destinationMode: 'physical',
    vector: NMI_VECTOR,
    deliveryMode: NMI_DELIVERY_MODE,
    triggerMode: 'edge',
    redirectionHint: false,
    targets: [bsp.index],
    candidates: [bsp.index],
  });
  return state;
}
