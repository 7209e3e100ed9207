/**
 * Queued-invalidation descriptors for DMA-remapping caches, 128-bit format: context-cache
 * (type 1), IOTLB (type 2), PASID-based IOTLB (type 6) and PASID-cache (type 7). VT-d spec
 * §6.5.2.1–§6.5.2.6; reference sheet §7.3, §7.4 (QEMU `VTD_INV_DESC_CC_*`,
 * `VTD_INV_DESC_IOTLB_*`, `VTD_INV_DESC_PIOTLB_*`; Linux `QI_CC_*`, `QI_IOTLB_*`, `QI_EIOTLB_*`,
 * `QI_PC_*`; VirtualBox `VTD_BF_*_INV_DSC_*`).
 *
 * A descriptor is one 128-bit bigint (`qword1 << 64 | qword0`), dispatched with
 * {@link descriptorType}. With 256-bit descriptors (IQA.DW = 1) qwords 2–3 are reserved and are
 * the caller's to check. Granularity codes decode to names through tables; the reserved codes
 * decode to 'reserved-N' so that every pattern round-trips.
 */
import { defineLayout, type FieldSpec } from '../../bits/layout.ts';
import { maskOf } from '../../bits/bits.ts';
import { INV_DESC_TYPE, descriptorType } from '../invalidation.ts';

export { descriptorType };

const DESC_MASK = maskOf(128);
const COMMON = { TYPE: { hi: 3, lo: 0 }, G: { hi: 5, lo: 4 }, TYPE_H: { hi: 11, lo: 9 }, DID: { hi: 31, lo: 16 } } as const;

/** Context-cache invalidation descriptor (type 1), sheet §7.3: G 5:4, DID 31:16, SID 47:32, FM 49:48. */
export const CC_INV_LAYOUT = defineLayout({
  name: 'context-cache invalidation descriptor',
  width: 128,
  fields: { ...COMMON, SID: { hi: 47, lo: 32 }, FM: { hi: 49, lo: 48 } },
  reserved: [
    { hi: 8, lo: 6 },
    { hi: 15, lo: 12 },
    { hi: 63, lo: 50 },
    { hi: 127, lo: 64 },
  ],
});

const ADDR_QW1: Record<'AM' | 'IH' | 'ADDR', FieldSpec> = { AM: { hi: 69, lo: 64 }, IH: { hi: 70, lo: 70 }, ADDR: { hi: 127, lo: 76 } };

/** IOTLB invalidation descriptor (type 2), sheet §7.4: G 5:4, DW 6, DR 7, DID 31:16; AM 69:64, IH 70, ADDR 127:76. */
export const IOTLB_INV_LAYOUT = defineLayout({
  name: 'IOTLB invalidation descriptor',
  width: 128,
  fields: { ...COMMON, DW: { hi: 6, lo: 6 }, DR: { hi: 7, lo: 7 }, ...ADDR_QW1 },
  reserved: [
    { hi: 8, lo: 8 },
    { hi: 15, lo: 12 },
    { hi: 63, lo: 32 },
    { hi: 75, lo: 71 },
  ],
});

/** PASID-based IOTLB invalidation descriptor (type 6), sheet §7.4: G 5:4, DID 31:16, PASID 51:32; AM 69:64, IH 70, ADDR 127:76. */
export const PIOTLB_INV_LAYOUT = defineLayout({
  name: 'PASID-based IOTLB invalidation descriptor',
  width: 128,
  fields: { ...COMMON, PASID: { hi: 51, lo: 32 }, ...ADDR_QW1 },
  reserved: [
    { hi: 8, lo: 6 },
    { hi: 15, lo: 12 },
    { hi: 63, lo: 52 },
    { hi: 75, lo: 71 },
  ],
});

/** PASID-cache invalidation descriptor (type 7), sheet §7.4: G 5:4, DID 31:16, PASID 51:32. */
export const PC_INV_LAYOUT = defineLayout({
  name: 'PASID-cache invalidation descriptor',
  width: 128,
  fields: { ...COMMON, PASID: { hi: 51, lo: 32 } },
  reserved: [
    { hi: 8, lo: 6 },
    { hi: 15, lo: 12 },
    { hi: 63, lo: 52 },
    { hi: 127, lo: 64 },
  ],
});

/** G codes per descriptor type (sheet §7.3, §7.4; Linux `QI_PC_ALL_PASIDS 0 / PASID_SEL 1 / GLOBAL 3`; QEMU `VTD_INV_DESC_PIOTLB_ALL_IN_PASID 2 / PSI_IN_PASID 3`). */
export const GRANULARITY = Object.freeze({
  contextCache: ['reserved-0', 'global', 'domain', 'device'],
  iotlb: ['reserved-0', 'global', 'domain', 'page'],
  pasidIotlb: ['reserved-0', 'reserved-1', 'pasid', 'page'],
  pasidCache: ['domain', 'pasid', 'reserved-2', 'global'],
} as const);

/** Context-cache invalidation: all (global), one DID (domain), or one SID under a function mask (device). */
export interface ContextCacheInvalidation {
  kind: 'context-cache';
  granularity: (typeof GRANULARITY.contextCache)[number];
  did: number;
  sid: number;
  /** FM: 0 none, 1 ignore SID bit 2, 2 ignore bits 2:1, 3 ignore bits 2:0. */
  functionMask: number;
}

/** IOTLB invalidation: global, domain-selective, or 2^AM pages from `address` within a domain. */
export interface IotlbInvalidation {
  kind: 'iotlb';
  granularity: (typeof GRANULARITY.iotlb)[number];
  drainWrites: boolean;
  drainReads: boolean;
  did: number;
  /** AM: 2^AM 4 KiB pages, `address` aligned to that size. */
  addressMask: number;
  /** IH: only leaf entries changed; paging-structure caches may be kept. */
  invalidationHint: boolean;
  /** ADDR (bits 127:76 in place): byte address, 4 KiB aligned. */
  address: bigint;
}

/** PASID-based IOTLB invalidation: every entry of (DID, PASID), or 2^AM pages of it. */
export interface PasidIotlbInvalidation {
  kind: 'pasid-iotlb';
  granularity: (typeof GRANULARITY.pasidIotlb)[number];
  did: number;
  pasid: number;
  addressMask: number;
  invalidationHint: boolean;
  address: bigint;
}

/** PASID-cache invalidation: every PASID of a domain, one (DID, PASID), or everything. */
export interface PasidCacheInvalidation {
  kind: 'pasid-cache';
  granularity: (typeof GRANULARITY.pasidCache)[number];
  did: number;
  pasid: number;
}

/** Any DMA-cache invalidation descriptor. */
export type DmaInvalidation = ContextCacheInvalidation | IotlbInvalidation | PasidIotlbInvalidation | PasidCacheInvalidation;

/** A decoded descriptor with its reserved bits (in place; 0n when well-formed). */
export interface DecodedDmaInvalidation {
  desc: DmaInvalidation;
  reserved: bigint;
}

function gIndex(names: readonly string[], g: string): number {
  const i = names.indexOf(g);
  if (i < 0) throw new RangeError(`granularity '${g}' is not one of ${names.join(', ')}`);
  return i;
}

function checkReserved(reserved: bigint, mask: bigint, what: string): void {
  if (reserved < 0n || (reserved & ~mask) !== 0n) {
    throw new RangeError(`${what}: reserved bits 0x${reserved.toString(16)} outside the reserved ranges`);
  }
}

/**
 * Decode a type-1, -2, -6 or -7 descriptor (chosen by {@link descriptorType}); undefined for any
 * other type. Never throws.
 */
export function decodeDmaInvalidation(raw: bigint): DecodedDmaInvalidation | undefined {
  const v = raw & DESC_MASK;
  switch (descriptorType(v)) {
    case INV_DESC_TYPE.CONTEXT_CACHE: {
      const f = CC_INV_LAYOUT.decode(v);
      return {
        desc: { kind: 'context-cache', granularity: GRANULARITY.contextCache[f.G]!, did: f.DID, sid: f.SID, functionMask: f.FM },
        reserved: CC_INV_LAYOUT.reservedSet(v),
      };
    }
    case INV_DESC_TYPE.IOTLB: {
      const f = IOTLB_INV_LAYOUT.decode(v);
      return {
        desc: {
          kind: 'iotlb',
          granularity: GRANULARITY.iotlb[f.G]!,
          drainWrites: f.DW === 1,
          drainReads: f.DR === 1,
          did: f.DID,
          addressMask: f.AM,
          invalidationHint: f.IH === 1,
          address: BigInt(f.ADDR) << 12n,
        },
        reserved: IOTLB_INV_LAYOUT.reservedSet(v),
      };
    }
    case INV_DESC_TYPE.PASID_IOTLB: {
      const f = PIOTLB_INV_LAYOUT.decode(v);
      return {
        desc: {
          kind: 'pasid-iotlb',
          granularity: GRANULARITY.pasidIotlb[f.G]!,
          did: f.DID,
          pasid: f.PASID,
          addressMask: f.AM,
          invalidationHint: f.IH === 1,
          address: BigInt(f.ADDR) << 12n,
        },
        reserved: PIOTLB_INV_LAYOUT.reservedSet(v),
      };
    }
    case INV_DESC_TYPE.PASID_CACHE: {
      const f = PC_INV_LAYOUT.decode(v);
      return {
        desc: { kind: 'pasid-cache', granularity: GRANULARITY.pasidCache[f.G]!, did: f.DID, pasid: f.PASID },
        reserved: PC_INV_LAYOUT.reservedSet(v),
      };
    }
    default:
      return undefined;
  }
}

function pageAddress(address: bigint): number {
  if (address < 0n || address > maskOf(64) || (address & 0xfffn) !== 0n) {
    throw new RangeError(`ADDR 0x${address.toString(16)} is not a 4 KiB-aligned 64-bit address`);
  }
  return Number(address >> 12n);
}

/**
 * Encode a descriptor, OR-ing in `reserved` (in place).
 * @throws RangeError when a field does not fit (DID 16 bits, SID 16, FM 2, PASID 20, AM 6), the
 *   address is not a 4 KiB-aligned 64-bit address, the granularity name is unknown, or
 *   `reserved` has bits outside the reserved ranges.
 */
export function encodeDmaInvalidation(d: DmaInvalidation, reserved = 0n): bigint {
  switch (d.kind) {
    case 'context-cache':
      checkReserved(reserved, CC_INV_LAYOUT.reservedMask, 'context-cache descriptor');
      return CC_INV_LAYOUT.encode(
        { TYPE: INV_DESC_TYPE.CONTEXT_CACHE, TYPE_H: 0, G: gIndex(GRANULARITY.contextCache, d.granularity), DID: d.did, SID: d.sid, FM: d.functionMask },
        reserved,
      );
    case 'iotlb':
      checkReserved(reserved, IOTLB_INV_LAYOUT.reservedMask, 'IOTLB descriptor');
      return IOTLB_INV_LAYOUT.encode(
        {
          TYPE: INV_DESC_TYPE.IOTLB,
          TYPE_H: 0,
          G: gIndex(GRANULARITY.iotlb, d.granularity),
          DW: d.drainWrites ? 1 : 0,
          DR: d.drainReads ? 1 : 0,
          DID: d.did,
          AM: d.addressMask,
          IH: d.invalidationHint ? 1 : 0,
          ADDR: pageAddress(d.address),
        },
        reserved,
      );
    case 'pasid-iotlb':
      checkReserved(reserved, PIOTLB_INV_LAYOUT.reservedMask, 'PASID-IOTLB descriptor');
      return PIOTLB_INV_LAYOUT.encode(
        {
          TYPE: INV_DESC_TYPE.PASID_IOTLB,
          TYPE_H: 0,
          G: gIndex(GRANULARITY.pasidIotlb, d.granularity),
          DID: d.did,
          PASID: d.pasid,
          AM: d.addressMask,
          IH: d.invalidationHint ? 1 : 0,
          ADDR: pageAddress(d.address),
        },
        reserved,
      );
    case 'pasid-cache':
      checkReserved(reserved, PC_INV_LAYOUT.reservedMask, 'PASID-cache descriptor');
      return PC_INV_LAYOUT.encode(
        { TYPE: INV_DESC_TYPE.PASID_CACHE, TYPE_H: 0, G: gIndex(GRANULARITY.pasidCache, d.granularity), DID: d.did, PASID: d.pasid },
        reserved,
      );
  }
}
