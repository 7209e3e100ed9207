/**
 * The AMD-Vi DMA path of the platform (the vendor seam, src/platform/vendor.ts): one DMA request
 * (not an interrupt request: src/platform/dma-access.ts diverts those first) through the unit
 * that covers the function, in VirtualBox's order (`DevIommuAmd.cpp` `iommuAmdLookupDeviceTable`,
 * `iommuAmdIsDvaInExclRange`, `iommuAmdWalkIoPageTable`; sheet amdvi-facts.md §3.3, §7):
 *
 * 1. no unit, or Control.IommuEn = 0: untranslated (the address is the SPA);
 * 2. DeviceID beyond the device table: IO_PAGE_FAULT, aborted (VirtualBox);
 * 3. the DTE, from the unit's DTE cache or memory (cached when V or IV is set, as the interrupt
 *    path caches it: the cache is stale until INVALIDATE_DEVTAB_ENTRY);
 * 4. V = 0: untranslated; V = 1 with reserved bits in DTE[127:0]: ILLEGAL_DEV_TABLE_ENTRY;
 *    TV = 0: IO_PAGE_FAULT (VirtualBox, openvmm; QEMU passes: sheet §3.3);
 * 5. the exclusion range (Exclusion Base/Limit, DTE.EX; src/amdvi/dma/ranges.ts): untranslated;
 * 6. DTE Mode and the v1 tables (src/amdvi/dma/walk.ts `walkAmdV1`): the access, or an
 *    IO_PAGE_FAULT with the walk's PR/RW/PE/RZ flags, DeviceID, DomainID and the IOVA.
 *
 * Events as VT-d emits them: `dma-access` (translation `untranslated` or `walk`, type `amd-v1`,
 * the walk's entries as stage `second` references: host tables, like VT-d second stage) or
 * `dma-fault` (`reason` = the event code, `condition` = the cause, `frcd` undefined, the `amdvi`
 * detail), after an `amdvi-event` for the event-log entry. DTE.SA = 1 suppresses IO_PAGE_FAULT
 * logging (Linux `DEV_ENTRY_NO_PAGE_FAULT`); SE (suppress repeated) is not modelled.
 *
 * Not modelled: an IOTLB (every request walks; INVALIDATE_IOMMU_PAGES has nothing to drop),
 * PASID / guest (GCR3) tables — a request with a PASID faults as IO_PAGE_FAULT with the cause
 * `pasid-not-modelled` [not from a source: a stand-in until GCR3 translation exists] — and A/D
 * updates.
 */
import type { PlatformState } from './state.ts';
import type { DmaAccess } from './dma-access.ts';
import type { RaisedInterrupt } from './notification.ts';
import type { VendorEmit } from './vendor.ts';
import type { MemoryReference } from '../vtd/dma/walk.ts';
import type { AmdViUnit, DteCacheEntry } from '../amdvi/unit.ts';
import { copyState } from './device-write.ts';
import { logAmdEvent, withAmdUnit } from './amdvi-interrupt.ts';
import { cacheFill, cacheLookup, dteKey } from '../amdvi/caches.ts';
import { decodeDte, deviceIdInTable, dteAddress, dtePageTableRoot, DTE_BYTES, DTE_LOW_RESERVED_MASK, type Dte } from '../amdvi/dte.ts';
import { EVENT_CODE, eventCodeName, eventFlagsValue, makeEvent, type AmdEvent } from '../amdvi/event-log.ts';
import { CONTROL_BITS, regBit } from '../amdvi/registers.ts';
import { decodeExclusionRange, inExclusionRange } from '../amdvi/dma/ranges.ts';
import { walkAmdV1, type AmdV1Reference } from '../amdvi/dma/walk.ts';

/** The translation type `dma-access` reports for a v1 walk. */
export const AMD_V1_TYPE = 'amd-v1';

function asReferences(refs: readonly AmdV1Reference[]): MemoryReference[] {
  return refs.map((r) => ({ stage: 'second', level: r.level, tableAddress: r.tableAddress, index: r.index, entryAddress: r.entryAddress, entry: r.entry }));
}

/** Perform one DMA access on an AMD-Vi platform. Returns the state after it. */
export function amdDeviceDma(state: PlatformState, access: DmaAccess, emit: VendorEmit, _raised: RaisedInterrupt[]): PlatformState {
  const a = { ...access, value: access.value & ((1n << BigInt(8 * access.size)) - 1n) };
  const source = { device: a.fn.key, rid: a.rid, pasid: a.pasid, iova: a.address, size: a.size, write: a.write };
  const iommu = a.fn.iommu;
  const unit = iommu === undefined ? undefined : state.amdvi!.units[iommu];

  const perform = (s: PlatformState, hpa: bigint, translation: 'untranslated' | 'walk', references: MemoryReference[]): PlatformState => {
    const type = translation === 'walk' ? AMD_V1_TYPE : undefined;
    if (a.write) {
      const next = copyState(s);
      next.memory = s.memory.writeLE(hpa, a.size, a.value);
      emit({ kind: 'dma-access', ...source, hpa, translation, type, references, value: a.value, iommu });
      return next;
    }
    emit({ kind: 'dma-access', ...source, hpa, translation, type, references, value: s.memory.readLE(hpa, a.size), iommu });
    return s;
  };
  if (unit === undefined || iommu === undefined || !regBit(unit.regs.control, CONTROL_BITS.IommuEn)) return perform(state, a.address, 'untranslated', []);

  const fault = (s: PlatformState, event: AmdEvent, condition: string, suppressed: boolean, references: MemoryReference[], dte: Dte | undefined): PlatformState => {
    const r = logAmdEvent(s, iommu, event, suppressed, emit);
    emit({
      kind: 'dma-fault',
      ...source,
      iommu,
      reason: event.code,
      condition,
      frcd: undefined,
      references,
      amdvi: { event: eventCodeName(event.code), logging: r.logging, flags: eventFlagsValue(event.flags), domainId: dte?.DomainID ?? 0 },
    });
    return r.state;
  };
  const pageFault = (dte: Dte | undefined, f: { pr?: boolean; pe?: boolean; rz?: boolean }): AmdEvent =>
    makeEvent(EVENT_CODE.IO_PAGE_FAULT, { deviceId: a.rid, domainOrPasid: dte?.DomainID ?? 0, address: a.address, flags: { pr: f.pr ?? false, rw: a.write, pe: f.pe ?? false, rz: f.rz ?? false } });

  const regs = unit.regs;
  if (!deviceIdInTable(regs.deviceTableBase, a.rid)) return fault(state, pageFault(undefined, {}), 'device-id-beyond-table', false, [], undefined);
  let next = state;
  let entry: DteCacheEntry | undefined = cacheLookup(unit.caches.dte, dteKey(a.rid));
  if (entry === undefined) {
    const raw = state.memory.readLE(dteAddress(regs.deviceTableBase, a.rid), DTE_BYTES);
    entry = { raw, dte: decodeDte(raw) };
    if (entry.dte.V || entry.dte.IV) {
      const filled: AmdViUnit = { ...unit, caches: { ...unit.caches, dte: cacheFill(unit.caches.dte, dteKey(a.rid), entry) } };
      next = withAmdUnit(state, iommu, filled);
    }
  }
  const dte = entry.dte;
  if (!dte.V) return perform(next, a.address, 'untranslated', []);
  if ((entry.raw & DTE_LOW_RESERVED_MASK) !== 0n) {
    const ev = makeEvent(EVENT_CODE.ILLEGAL_DEV_TABLE_ENTRY, { deviceId: a.rid, address: a.address, flags: { rw: a.write, rz: true } });
    return fault(next, ev, 'dte-reserved', false, [], dte);
  }
  if (!dte.TV) return fault(next, pageFault(dte, {}), 'dte-tv-clear', dte.SA, [], dte);
  if (inExclusionRange(decodeExclusionRange(regs.exclusionBase, regs.exclusionLimit), dte.EX, a.address)) return perform(next, a.address, 'untranslated', []);
  if (a.pasid !== undefined) return fault(next, pageFault(dte, {}), 'pasid-not-modelled', dte.SA, [], dte);

  const w = walkAmdV1(next.memory, Math.min(52, Math.max(12, next.hostAddressWidth)), { mode: dte.Mode, root: dtePageTableRoot(dte), ir: dte.IR, iw: dte.IW }, a.address, a.write);
  const references = asReferences(w.references);
  if (!w.ok) {
    const f = w.fault;
    return fault(next, pageFault(dte, f), f.cause, dte.SA || !f.logged, references, dte);
  }
  return perform(next, w.hpa, 'walk', references);
}
