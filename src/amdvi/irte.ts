/**
 * AMD-Vi interrupt remapping table entries (spec 48882 §2.2.5; Linux `amd_iommu_types.h`
 * `union irte`, `union irte_ga_lo` (`fields_remap`, `fields_vapic`), `union irte_ga_hi`,
 * `APICID_TO_IRTE_DEST_LO/HI`; QEMU `hw/i386/amd_iommu.h` `union irte`, `struct irte_ga`,
 * `amdvi_get_irte` / `amdvi_get_irte_ga`; FreeBSD `amdiommu_irte_basic_*`). Fact sheets
 * spec-facts.md §9.3–§9.4, amdvi-facts.md §4.2–§4.3.
 *
 * Two formats, chosen by the unit (Control.GAEn = 1 → 128-bit, sheet §4.2), not by the entry:
 * - legacy: 32 bits, entry address = table root + 4 · index;
 * - 128-bit ("GA" format): entry address = table root + 16 · index; GuestMode (bit 7) selects
 *   remapped (0) or guest virtual APIC (1) fields.
 * A 128-bit IRTE is one bigint `hi << 64 | lo`.
 */
import { defineLayout } from '../bits/layout.ts';
import { maskOf } from '../bits/bits.ts';
import { u32Arg, uintArg, type UintInput } from '../bits/uint-arg.ts';

/** Entry size in bytes for a format. */
export const LEGACY_IRTE_BYTES = 4;
export const GA_IRTE_BYTES = 16;

/** IRTE size in bytes for a unit: 16 when Control.GAEn = 1, else 4 (QEMU `ga_enabled`; Linux `iommu_enable_ga`). */
export function irteBytes(gaEnabled: boolean): number {
  return gaEnabled ? GA_IRTE_BYTES : LEGACY_IRTE_BYTES;
}

/** Legacy 32-bit IRTE (spec-facts §9.3; Linux `union irte`). Bit 7 is GuestMode as QEMU names it (Linux: rsvd_1). */
export const LEGACY_IRTE_LAYOUT = defineLayout({
  name: 'AMD-Vi IRTE (32-bit)',
  width: 32,
  fields: {
    RemapEn: { hi: 0, lo: 0 },
    SupIOPF: { hi: 1, lo: 1 },
    IntType: { hi: 4, lo: 2 },
    RqEoi: { hi: 5, lo: 5 },
    DM: { hi: 6, lo: 6 },
    GuestMode: { hi: 7, lo: 7 },
    Destination: { hi: 15, lo: 8 },
    Vector: { hi: 23, lo: 16 },
  },
  reserved: [{ hi: 31, lo: 24 }],
});

/** 128-bit IRTE, GuestMode = 0 (spec-facts §9.4 "Remapped"; Linux `fields_remap` + `irte_ga_hi`). */
export const GA_REMAPPED_IRTE_LAYOUT = defineLayout({
  name: 'AMD-Vi IRTE (128-bit, remapped)',
  width: 128,
  fields: {
    RemapEn: { hi: 0, lo: 0 },
    SupIOPF: { hi: 1, lo: 1 },
    IntType: { hi: 4, lo: 2 },
    RqEoi: { hi: 5, lo: 5 },
    DM: { hi: 6, lo: 6 },
    GuestMode: { hi: 7, lo: 7 },
    DestinationLo: { hi: 31, lo: 8 },
    Vector: { hi: 71, lo: 64 },
    DestinationHi: { hi: 127, lo: 120 },
  },
  reserved: [
    { hi: 63, lo: 32 },
    { hi: 119, lo: 72 },
  ],
});

/**
 * 128-bit IRTE, GuestMode = 1: guest virtual APIC (spec-facts §9.4; Linux `fields_vapic`;
 * FreeBSD names bit 5 GAPPIDis, Linux reserves it).
 */
export const GA_VAPIC_IRTE_LAYOUT = defineLayout({
  name: 'AMD-Vi IRTE (128-bit, guest vAPIC)',
  width: 128,
  fields: {
    RemapEn: { hi: 0, lo: 0 },
    SupIOPF: { hi: 1, lo: 1 },
    GALogIntr: { hi: 2, lo: 2 },
    GAPPIDis: { hi: 5, lo: 5 },
    IsRun: { hi: 6, lo: 6 },
    GuestMode: { hi: 7, lo: 7 },
    DestinationLo: { hi: 31, lo: 8 },
    GATag: { hi: 63, lo: 32 },
    Vector: { hi: 71, lo: 64 },
    GARootPtr: { hi: 115, lo: 76 },
    DestinationHi: { hi: 127, lo: 120 },
  },
  reserved: [
    { hi: 4, lo: 3 },
    { hi: 75, lo: 72 },
    { hi: 119, lo: 116 },
  ],
});

interface IrteCommon {
  /** RemapEn, bit 0: 0 → the interrupt faults (IO_PAGE_FAULT, I = 1, PR = 0; sheet §4.5). */
  remapEn: boolean;
  /** SupIOPF, bit 1: suppress logging of this entry's faults (Linux `no_fault`). */
  supIopf: boolean;
  /** Reserved bits that are set, in place. */
  reserved: bigint;
}

/** Legacy 32-bit IRTE. */
export interface LegacyIrte extends IrteCommon {
  readonly format: 'legacy';
  /** IntType 4:2: 000 fixed, 001 arbitrated; others fault (QEMU, VirtualBox). */
  intType: number;
  rqEoi: boolean;
  /** DM, bit 6: 1 = logical destination. */
  destinationModeLogical: boolean;
  /** Bit 7 (QEMU `guest_mode`, Linux reserved): must be 0. */
  guestMode: boolean;
  /** Destination 15:8, an 8-bit APIC ID. */
  destination: number;
  vector: number;
}

/** 128-bit IRTE with GuestMode = 0. */
export interface GaRemappedIrte extends IrteCommon {
  readonly format: 'ga-remapped';
  intType: number;
  rqEoi: boolean;
  destinationModeLogical: boolean;
  /** Destination: [23:0] from bits 31:8, [31:24] from bits 127:120 (Linux `APICID_TO_IRTE_DEST_LO/HI`). */
  destination: number;
  /** Vector, bits 71:64. */
  vector: number;
}

/** 128-bit IRTE with GuestMode = 1 (AVIC posting). */
export interface GaVapicIrte extends IrteCommon {
  readonly format: 'ga-vapic';
  /** GALogIntr, bit 2: log to the GA log when the vCPU is not running. */
  gaLogIntr: boolean;
  /** Bit 5 (FreeBSD GAPPIDis; Linux reserved). */
  gaPpiDis: boolean;
  /** IsRun, bit 6: the target vCPU is running; ring the doorbell at `destination`. */
  isRun: boolean;
  /** Physical APIC ID of the pCPU running the vCPU (doorbell target): [23:0] 31:8, [31:24] 127:120. */
  destination: number;
  /** GATag, bits 63:32 (KVM `AVIC_GATAG(vm_id, vcpu_idx)`). */
  gaTag: number;
  /** Guest vector, bits 71:64. */
  vector: number;
  /** vAPIC backing page address in bytes: GA root pointer (115:76) << 12. */
  backingPage: bigint;
}

export type AmdIrte = LegacyIrte | GaRemappedIrte | GaVapicIrte;

/**
 * Decode a legacy 32-bit IRTE (a number or a bigint); bits above 31 are dropped.
 * @throws RangeError when `raw` is neither a bigint nor a safe integer number (src/bits/uint-arg.ts).
 */
export function decodeLegacyIrte(raw: UintInput): LegacyIrte {
  const v = BigInt(u32Arg(raw, 'raw'));
  const f = LEGACY_IRTE_LAYOUT.decode(v);
  return {
    format: 'legacy',
    remapEn: f.RemapEn === 1,
    supIopf: f.SupIOPF === 1,
    intType: f.IntType,
    rqEoi: f.RqEoi === 1,
    destinationModeLogical: f.DM === 1,
    guestMode: f.GuestMode === 1,
    destination: f.Destination,
    vector: f.Vector,
    reserved: LEGACY_IRTE_LAYOUT.reservedSet(v),
  };
}

/**
 * Decode a 128-bit IRTE (`hi << 64 | lo`); GuestMode (bit 7) picks the format. Bits above 127
 * are dropped. @throws RangeError when `raw` is neither a bigint nor a safe integer number.
 */
export function decodeGaIrte(raw: UintInput): GaRemappedIrte | GaVapicIrte {
  const v = uintArg(raw, 'raw') & maskOf(128);
  if (((v >> 7n) & 1n) === 0n) {
    const f = GA_REMAPPED_IRTE_LAYOUT.decode(v);
    return {
      format: 'ga-remapped',
      remapEn: f.RemapEn === 1,
      supIopf: f.SupIOPF === 1,
      intType: f.IntType,
      rqEoi: f.RqEoi === 1,
      destinationModeLogical: f.DM === 1,
      destination: (f.DestinationLo | (f.DestinationHi << 24)) >>> 0,
      vector: f.Vector,
      reserved: GA_REMAPPED_IRTE_LAYOUT.reservedSet(v),
    };
  }
  const f = GA_VAPIC_IRTE_LAYOUT.decode(v);
  return {
    format: 'ga-vapic',
    remapEn: f.RemapEn === 1,
    supIopf: f.SupIOPF === 1,
    gaLogIntr: f.GALogIntr === 1,
    gaPpiDis: f.GAPPIDis === 1,
    isRun: f.IsRun === 1,
    destination: (f.DestinationLo | (f.DestinationHi << 24)) >>> 0,
    gaTag: f.GATag,
    vector: f.Vector,
    backingPage: BigInt(f.GARootPtr) << 12n,
    reserved: GA_VAPIC_IRTE_LAYOUT.reservedSet(v),
  };
}

/**
 * Decode an IRTE of the unit's format: 128-bit when `gaEnabled`, else the legacy 32-bit one.
 * @throws RangeError when `raw` is neither a bigint nor a safe integer number (see {@link decodeLegacyIrte}, {@link decodeGaIrte}).
 */
export function decodeAmdIrte(raw: UintInput, gaEnabled: boolean): AmdIrte {
  return gaEnabled ? decodeGaIrte(raw) : decodeLegacyIrte(raw);
}

function checkReserved(reserved: bigint, mask: bigint, what: string): void {
  if (reserved < 0n || (reserved & ~mask) !== 0n) {
    throw new RangeError(`${what}: reserved bits 0x${reserved.toString(16)} outside the reserved ranges`);
  }
}

function checkDestination(destination: number): void {
  if (!Number.isInteger(destination) || destination < 0 || destination > 0xffff_ffff) {
    throw new RangeError(`IRTE destination ${destination} is not a 32-bit APIC ID`);
  }
}

/**
 * Encode an IRTE: a 32-bit value (as bigint) for `legacy`, 128 bits otherwise. `reserved`
 * goes back in place, so encode(decode(x)) === x.
 * @throws RangeError when a field does not fit, `reserved` lies outside the format's reserved
 *   ranges, or `backingPage` is not a 4 KiB-aligned 52-bit address.
 */
export function encodeAmdIrte(irte: AmdIrte): bigint {
  const common = { RemapEn: irte.remapEn ? 1 : 0, SupIOPF: irte.supIopf ? 1 : 0 };
  switch (irte.format) {
    case 'legacy':
      checkReserved(irte.reserved, LEGACY_IRTE_LAYOUT.reservedMask, 'legacy IRTE');
      return LEGACY_IRTE_LAYOUT.encode(
        {
          ...common,
          IntType: irte.intType,
          RqEoi: irte.rqEoi ? 1 : 0,
          DM: irte.destinationModeLogical ? 1 : 0,
          GuestMode: irte.guestMode ? 1 : 0,
          Destination: irte.destination,
          Vector: irte.vector,
        },
        irte.reserved,
      );
    case 'ga-remapped':
      checkReserved(irte.reserved, GA_REMAPPED_IRTE_LAYOUT.reservedMask, '128-bit remapped IRTE');
      checkDestination(irte.destination);
      return GA_REMAPPED_IRTE_LAYOUT.encode(
        {
          ...common,
          IntType: irte.intType,
          RqEoi: irte.rqEoi ? 1 : 0,
          DM: irte.destinationModeLogical ? 1 : 0,
          GuestMode: 0,
          DestinationLo: irte.destination & 0xff_ffff,
          DestinationHi: irte.destination >>> 24,
          Vector: irte.vector,
        },
        irte.reserved,
      );
    case 'ga-vapic': {
      checkReserved(irte.reserved, GA_VAPIC_IRTE_LAYOUT.reservedMask, '128-bit vAPIC IRTE');
      checkDestination(irte.destination);
      const page = irte.backingPage;
      if (typeof page !== 'bigint' || page < 0n || page > maskOf(52) || (page & 0xfffn) !== 0n) {
        throw new RangeError(`vAPIC backing page ${String(page)} is not a 4 KiB-aligned 52-bit address`);
      }
      return GA_VAPIC_IRTE_LAYOUT.encode(
        {
          ...common,
          GALogIntr: irte.gaLogIntr ? 1 : 0,
          GAPPIDis: irte.gaPpiDis ? 1 : 0,
          IsRun: irte.isRun ? 1 : 0,
          GuestMode: 1,
          DestinationLo: irte.destination & 0xff_ffff,
          DestinationHi: irte.destination >>> 24,
          GATag: irte.gaTag,
          Vector: irte.vector,
          GARootPtr: Number(page >> 12n),
        },
        irte.reserved,
      );
    }
  }
}

/**
 * Free-slot markers Linux writes (`IRTE_ALLOCATED`): a legacy IRTE of 0xFFFFFFFE, a 128-bit
 * IRTE with hi.vector 0xFF (Linux `drivers/iommu/amd/iommu.c` `irte_set_allocated`,
 * `irte_ga_set_allocated`). Both have RemapEn = 0.
 */
export const LEGACY_IRTE_ALLOCATED = 0xffff_fffen;
