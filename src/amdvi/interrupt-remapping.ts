/**
 * The AMD-Vi interrupt-remapping walk for one interrupt request (a DWORD write to
 * 0xFEEx_xxxx from requester `rid`), as the IOMMU processes it (spec 48882 §2.2.5; VirtualBox
 * `DevIommuAmd.cpp` `iommuAmdIntrRemap` / `iommuAmdIntrTableLookup` / `iommuAmdIrteRemapMsi`;
 * QEMU `hw/i386/amd_iommu.c` `amdvi_int_remap_msi`, `__amdvi_int_remap_msi`,
 * `amdvi_int_remap_ga`). Fact sheets amdvi-facts.md §3.2, §3.3, §4 and spec-facts.md §9.
 * Pure: it reads the unit and memory and returns the outcome and the caches after any fill.
 *
 * Order (VirtualBox's, where the sources differ):
 * 1. Control.IommuEn = 0: passes unchanged; so do the IOMMU's own MSIs (requester ID = the
 *    unit's DeviceID; VirtualBox `iommuAmdMsiRemap`).
 * 2. DTE: DeviceID beyond the device table ((Size+1)·4 KiB) → IO_PAGE_FAULT (I = 1); a DTE
 *    above the host address width → DEV_TAB_HARDWARE_ERROR [derived: the sheet's "DTE read
 *    error"]. Else from the DTE cache or memory (every DTE read is cached, as VirtualBox's
 *    `iommuAmdDteCacheAdd` does).
 * 3. IV = 0: passes unchanged (VirtualBox, QEMU; openvmm differs, sheet [DISAGREE]).
 *    IV = 1 with reserved bits in DTE[255:128] → ILLEGAL_DEV_TABLE_ENTRY (I = 1, RZ = 1); an
 *    address outside 0xFEE0_0000..0xFEEF_FFFF is refused without an event (VirtualBox).
 * 4. By MSI data[10:8]: fixed / arbitrated → IntCtl (00 target abort, no event; 01 forward;
 *    10 remap; 11 ILLEGAL_DEV_TABLE_ENTRY, RZ = 1). Every other mode needs address DM (bit 2) = 0, else
 *    target abort; NMI / INIT / ExtINT pass iff NMIPass / InitPass / EIntPass; SMI passes when
 *    SysMgt is 01 or 10 and is aborted for 00 and 11 ([UNSURE]: VirtualBox forwards every SMI,
 *    QEMU errors); 011 and 110 are reserved → target abort.
 * 5. Remap: IntTabLen ≥ 12 → ILLEGAL_DEV_TABLE_ENTRY (VirtualBox); index = data[10:0] ≥
 *    2^IntTabLen → IO_PAGE_FAULT (I = 1, PR = 0). The IRTE (4 bytes, or 16 with Control.GAEn)
 *    at IntTabRootPtr + index·size, from the IRTE cache (not used with Control.IRTCacheDis)
 *    or memory (cached once it remaps, as VirtualBox's `iommuAmdIrteCacheAdd`); an IRTE above
 *    the host address width → PAGE_TAB_HARDWARE_ERROR (I = 1) [derived: the spec names no
 *    event for a failed IRTE read; VirtualBox's `iommuAmdIrteRead` leaves it as a todo].
 * 6. RemapEn = 0 → IO_PAGE_FAULT (I = 1, PR = 0); IntType ∉ {fixed, arbitrated}, GuestMode in
 *    the 32-bit format, or GuestMode = 1 without Control.GAMEn = 001 → IO_PAGE_FAULT (I = 1,
 *    PR = 1, RZ = 1) (VirtualBox `kIoPageFaultType_IrteRsvdIntType` etc., sheet §4.5).
 * 7. Remapped: vector, IntType, DM and destination from the IRTE; the 128-bit destination is
 *    Destination[31:24] (127:120) << 24 | [23:0] with Control.XTEn, else [23:0] (QEMU keys
 *    bits 31:24 on `xtsup`, we on XTEn as Linux enables them together, sheet §4.2).
 *    GuestMode = 1: the guest outcome (posting into the vAPIC backing page is the caller's).
 *
 * Interrupt IO_PAGE_FAULTs carry DeviceID, the DTE's DomainID and the MSI address; their
 * logging is suppressed by DTE.IG = 1, else by IRTE.SupIOPF = 1 (VirtualBox
 * `iommuAmdIoPageFaultEventRaise`); the interrupt is aborted either way.
 */
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import { cacheFill, cacheLookup, dteKey, irteKey } from './caches.ts';
import {
  decodeDte,
  deviceIdInTable,
  dteAddress,
  dteInterruptTableRoot,
  DTE_BYTES,
  DTE_HIGH_RESERVED_MASK,
  INT_CTL,
  SYS_MGT,
  type Dte,
} from './dte.ts';
import { EVENT_CODE, makeEvent, type AmdEvent } from './event-log.ts';
import { decodeAmdIrte, irteBytes, type AmdIrte, type GaRemappedIrte, type GaVapicIrte, type LegacyIrte } from './irte.ts';
import { decodeAmdMsi } from './remappable-msi.ts';
import { isInterruptAddress } from '../x86/msi.ts';
import { CONTROL_BITS, controlGamEn, regBit } from './registers.ts';
import type { AmdViCaches, AmdViUnit, DteCacheEntry, IrteCacheEntry } from './unit.ts';

export interface AmdInterruptRequest {
  /** Requester ID as it reaches the IOMMU (the DeviceID indexing the device table). */
  readonly rid: number;
  readonly address: bigint;
  readonly data: number;
}

/** Why an interrupt passed unchanged. */
export type AmdPassReason = 'iommu-disabled' | 'own-interrupt' | 'iv-clear' | 'intctl-forward' | 'pass-bit' | 'sysmgt-forward';

/** Why an interrupt was aborted. */
export type AmdBlockReason =
  | 'device-id-beyond-table'
  | 'dte-read-error'
  | 'dte-reserved'
  | 'not-interrupt-address'
  | 'intctl-abort'
  | 'intctl-reserved'
  | 'int-tab-len'
  | 'index-beyond-table'
  | 'irte-read-error'
  | 'remap-disabled'
  | 'int-type'
  | 'guest-mode-unsupported'
  | 'pass-bit-clear'
  | 'dm-on-non-fixed'
  | 'reserved-delivery-mode'
  | 'sysmgt-abort';

export type AmdRemapOutcome =
  | { readonly kind: 'passthrough'; readonly why: AmdPassReason; readonly deliveryMode: number }
  | {
      readonly kind: 'remapped';
      readonly irteIndex: number;
      readonly irte: LegacyIrte | GaRemappedIrte;
      readonly destination: number;
      readonly destinationModeLogical: boolean;
      readonly vector: number;
      /** IRTE IntType: 0 fixed, 1 arbitrated (lowest priority). */
      readonly deliveryMode: number;
      readonly rqEoi: boolean;
      readonly dteHit: boolean;
      readonly irteHit: boolean;
    }
  | {
      readonly kind: 'guest';
      readonly irteIndex: number;
      readonly irte: GaVapicIrte;
      readonly gaTag: number;
      /** vAPIC backing page address, bytes. */
      readonly backingPage: bigint;
      readonly isRun: boolean;
      /** Physical APIC ID of the pCPU the doorbell goes to when isRun. */
      readonly doorbellDestination: number;
      /** Guest vector. */
      readonly vector: number;
      readonly gaLogIntr: boolean;
      readonly dteHit: boolean;
      readonly irteHit: boolean;
    }
  | {
      readonly kind: 'blocked';
      readonly why: AmdBlockReason;
      readonly irteIndex: number | undefined;
      /** The event the IOMMU reports (undefined when the abort logs nothing). */
      readonly event: AmdEvent | undefined;
      /** True when `event` is not logged (DTE.IG or IRTE.SupIOPF). */
      readonly suppressed: boolean;
    };

export interface AmdRemapResult {
  readonly outcome: AmdRemapOutcome;
  /** The caches after the lookup (misses fill them). Same object when unchanged. */
  readonly caches: AmdViCaches;
}

const FIXED = 0;
const ARBITRATED = 1;
const SMI = 2;
const NMI = 4;
const INIT = 5;
const EXTINT = 7;

const blocked = (why: AmdBlockReason, irteIndex: number | undefined, event?: AmdEvent, suppressed = false): AmdRemapOutcome => ({
  kind: 'blocked',
  why,
  irteIndex,
  event,
  suppressed,
});

/** An interrupt IO_PAGE_FAULT (I = 1) for `rid` in `dte`'s domain at the MSI address. */
function interruptPageFault(rid: number, dte: Dte | undefined, address: bigint, pr: boolean, rz: boolean): AmdEvent {
  return makeEvent(EVENT_CODE.IO_PAGE_FAULT, {
    deviceId: rid,
    domainOrPasid: dte?.DomainID ?? 0,
    address: BigInt.asUintN(64, address),
    flags: { i: true, pr, rz },
  });
}

/** ILLEGAL_DEV_TABLE_ENTRY for an interrupt request: address field holds address[63:2]. */
function illegalDte(rid: number, address: bigint, rz: boolean): AmdEvent {
  return makeEvent(EVENT_CODE.ILLEGAL_DEV_TABLE_ENTRY, {
    deviceId: rid,
    address: BigInt.asUintN(64, address) & ~3n,
    flags: { i: true, rz },
  });
}

/** True when `bytes` bytes at `address` lie below 2^haw. */
const readable = (address: bigint, bytes: number, haw: number): boolean => address + BigInt(bytes) <= 1n << BigInt(haw);

/**
 * Process one interrupt request at `unit`.
 * @param hostAddressWidth the platform's physical address width in bits (IVinfo PASize)
 * @throws RangeError when `request.rid` is not a 16-bit requester ID.
 */
export function remapInterruptAmd(
  unit: AmdViUnit,
  memory: PhysicalMemory,
  hostAddressWidth: number,
  request: AmdInterruptRequest,
): AmdRemapResult {
  const { rid, address, data } = request;
  if (!Number.isInteger(rid) || rid < 0 || rid > 0xffff) throw new RangeError(`requester ID ${rid} is not 16-bit`);
  let caches = unit.caches;
  const regs = unit.regs;
  const msi = decodeAmdMsi(address, data);
  if (!regBit(regs.control, CONTROL_BITS.IommuEn)) {
    return { outcome: { kind: 'passthrough', why: 'iommu-disabled', deliveryMode: msi.deliveryMode }, caches };
  }
  if (rid === unit.deviceId) return { outcome: { kind: 'passthrough', why: 'own-interrupt', deliveryMode: msi.deliveryMode }, caches };

  // --- DTE ---
  if (!deviceIdInTable(regs.deviceTableBase, rid)) {
    return { outcome: blocked('device-id-beyond-table', undefined, interruptPageFault(rid, undefined, address, false, false)), caches };
  }
  let dteEntry: DteCacheEntry | undefined = cacheLookup(caches.dte, dteKey(rid));
  const dteHit = dteEntry !== undefined;
  if (dteEntry === undefined) {
    const at = dteAddress(regs.deviceTableBase, rid);
    if (!readable(at, DTE_BYTES, hostAddressWidth)) {
      const ev = makeEvent(EVENT_CODE.DEV_TAB_HARDWARE_ERROR, { deviceId: rid, address: at, flags: { i: true, type: 1 } });
      return { outcome: blocked('dte-read-error', undefined, ev), caches };
    }
    const raw = memory.readLE(at, DTE_BYTES);
    dteEntry = { raw, dte: decodeDte(raw) };
    caches = { ...caches, dte: cacheFill(caches.dte, dteKey(rid), dteEntry) };
  }
  const dte = dteEntry.dte;
  if (!dte.IV) return { outcome: { kind: 'passthrough', why: 'iv-clear', deliveryMode: msi.deliveryMode }, caches };
  if ((dteEntry.raw & DTE_HIGH_RESERVED_MASK) !== 0n) {
    return { outcome: blocked('dte-reserved', undefined, illegalDte(rid, address, true)), caches };
  }
  if (!isInterruptAddress(address)) return { outcome: blocked('not-interrupt-address', undefined), caches };

  // --- delivery mode ---
  const mode = msi.deliveryMode;
  const pass = (why: AmdPassReason): AmdRemapResult => ({ outcome: { kind: 'passthrough', why, deliveryMode: mode }, caches });
  if (mode !== FIXED && mode !== ARBITRATED) {
    if (mode === 3 || mode === 6) return { outcome: blocked('reserved-delivery-mode', undefined), caches };
    if (msi.addressDestinationModeLogical) return { outcome: blocked('dm-on-non-fixed', undefined), caches };
    if (mode === SMI) {
      const forward = dte.SysMgt === SYS_MGT.FORWARD_ALL || dte.SysMgt === SYS_MGT.FORWARD_INT_TRANSLATE_REST;
      return forward ? pass('sysmgt-forward') : { outcome: blocked('sysmgt-abort', undefined), caches };
    }
    const allowed = mode === NMI ? dte.NMIPass : mode === INIT ? dte.InitPass : mode === EXTINT ? dte.EIntPass : false;
    return allowed ? pass('pass-bit') : { outcome: blocked('pass-bit-clear', undefined), caches };
  }
  switch (dte.IntCtl) {
    case INT_CTL.TARGET_ABORT:
      return { outcome: blocked('intctl-abort', undefined), caches };
    case INT_CTL.FORWARD:
      return pass('intctl-forward');
    case INT_CTL.RESERVED:
      return { outcome: blocked('intctl-reserved', undefined, illegalDte(rid, address, true)), caches };
  }

  // --- IRTE ---
  if (dte.IntTabLen >= 12) return { outcome: blocked('int-tab-len', undefined, illegalDte(rid, address, false)), caches };
  const index = msi.index;
  if (index >= 2 ** dte.IntTabLen) {
    return { outcome: blocked('index-beyond-table', index, interruptPageFault(rid, dte, address, false, false), dte.IG), caches };
  }
  const ga = regBit(regs.control, CONTROL_BITS.GAEn);
  const size = irteBytes(ga);
  const useCache = !regBit(regs.control, CONTROL_BITS.IRTCacheDis);
  const key = irteKey(rid, index);
  let irteEntry: IrteCacheEntry | undefined = useCache ? cacheLookup(caches.irte, key) : undefined;
  // A cached entry of the other format (GAEn changed without invalidation) is not used.
  if (irteEntry !== undefined && (irteEntry.irte.format === 'legacy') === ga) irteEntry = undefined;
  const irteHit = irteEntry !== undefined;
  if (irteEntry === undefined) {
    const at = dteInterruptTableRoot(dte) + BigInt(index * size);
    if (!readable(at, size, hostAddressWidth)) {
      const ev = makeEvent(EVENT_CODE.PAGE_TAB_HARDWARE_ERROR, {
        deviceId: rid,
        domainOrPasid: dte.DomainID,
        address: at,
        flags: { i: true, type: 1 },
      });
      return { outcome: blocked('irte-read-error', index, ev), caches };
    }
    const raw = memory.readLE(at, size);
    irteEntry = { raw, irte: decodeAmdIrte(raw, ga) };
  }
  // Destination, IsRun, GALogIntr and GATag of a guest-mode entry are not cached: a hit takes them from memory (Linux
  // `amd_iommu_update_ga` changes them with no invalidation; sheet amdvi-facts.md §3.4).
  if (irteHit && irteEntry.irte.format === 'ga-vapic' && readable(dteInterruptTableRoot(dte) + BigInt(index * size), size, hostAddressWidth)) {
    const now = decodeAmdIrte(memory.readLE(dteInterruptTableRoot(dte) + BigInt(index * size), size), true);
    if (now.format === 'ga-vapic') irteEntry = { raw: irteEntry.raw, irte: { ...irteEntry.irte, destination: now.destination, isRun: now.isRun, gaLogIntr: now.gaLogIntr, gaTag: now.gaTag } };
  }
  const entry = irteEntry;
  // Only an entry that remaps is cached (a faulting one is re-read next time).
  const filled = (): AmdViCaches => (useCache && !irteHit ? { ...caches, irte: cacheFill(caches.irte, key, entry) } : caches);
  const irte: AmdIrte = irteEntry.irte;
  const suppressed = dte.IG || irte.supIopf;
  if (!irte.remapEn) {
    return { outcome: blocked('remap-disabled', index, interruptPageFault(rid, dte, address, false, false), suppressed), caches };
  }
  const rzFault = (why: AmdBlockReason): AmdRemapResult => ({
    outcome: blocked(why, index, interruptPageFault(rid, dte, address, true, true), suppressed),
    caches,
  });
  const xt = regBit(regs.control, CONTROL_BITS.XTEn);
  const destinationOf = (d: number): number => (xt ? d >>> 0 : d & 0xff_ffff);
  switch (irte.format) {
    case 'legacy':
      if (irte.guestMode) return rzFault('guest-mode-unsupported');
      if (irte.intType > ARBITRATED) return rzFault('int-type');
      return {
        outcome: {
          kind: 'remapped',
          irteIndex: index,
          irte,
          destination: irte.destination,
          destinationModeLogical: irte.destinationModeLogical,
          vector: irte.vector,
          deliveryMode: irte.intType,
          rqEoi: irte.rqEoi,
          dteHit,
          irteHit,
        },
        caches: filled(),
      };
    case 'ga-remapped':
      if (irte.intType > ARBITRATED) return rzFault('int-type');
      return {
        outcome: {
          kind: 'remapped',
          irteIndex: index,
          irte,
          destination: destinationOf(irte.destination),
          destinationModeLogical: irte.destinationModeLogical,
          vector: irte.vector,
          deliveryMode: irte.intType,
          rqEoi: irte.rqEoi,
          dteHit,
          irteHit,
        },
        caches: filled(),
      };
    case 'ga-vapic':
      if (controlGamEn(regs.control) !== 1) return rzFault('guest-mode-unsupported');
      return {
        outcome: {
          kind: 'guest',
          irteIndex: index,
          irte,
          gaTag: irte.gaTag,
          backingPage: irte.backingPage,
          isRun: irte.isRun,
          doorbellDestination: destinationOf(irte.destination),
          vector: irte.vector,
          gaLogIntr: irte.gaLogIntr,
          dteHit,
          irteHit,
        },
        caches: filled(),
      };
  }
}

/**
 * Whether a LINT0 / LINT1 interrupt from `dte`'s device passes (DTE Lint0Pass / Lint1Pass,
 * bits 190 / 191; neither VirtualBox nor QEMU implements them, sheet §3.2). IV = 0 passes.
 */
export function lintPasses(dte: Dte, line: 0 | 1): boolean {
  if (!dte.IV) return true;
  return line === 0 ? dte.Lint0Pass : dte.Lint1Pass;
}
