/**
 * VT-d queued-invalidation descriptors, 128-bit format: interrupt-entry-cache invalidation
 * (IEC, type 4) and invalidation wait (type 5) (VT-d spec §6.5.2.7, §6.5.2.8; VirtualBox
 * `include/VBox/iommu-intel.h` `VTD_BF_0_IEC_INV_DSC_*`, `VTD_BF_0_INV_WAIT_DSC_*`; Linux
 * `drivers/iommu/intel/iommu.h` `QI_IEC_*`, `QI_IWD_*`). Reference sheet §7.1, §7.2, §7.5.
 *
 * A descriptor is one 128-bit little-endian bigint (`qword1 << 64 | qword0`). Its type is
 * qword0 bits 3:0 plus bits 11:9 as type-high ({@link descriptorType}).
 */
import { defineLayout } from '../bits/layout.ts';
import { bitsOf, maskOf } from '../bits/bits.ts';

/** Size of a 128-bit descriptor in bytes. */
export const INV_DESCRIPTOR_BYTES = 16;

/** Descriptor type codes (sheet §7.1; Linux `QI_*_TYPE`). */
export const INV_DESC_TYPE = {
  CONTEXT_CACHE: 1,
  IOTLB: 2,
  DEVICE_TLB: 3,
  IEC: 4,
  WAIT: 5,
  PASID_IOTLB: 6,
  PASID_CACHE: 7,
  PASID_DEVICE_TLB: 8,
  PAGE_GROUP_RESPONSE: 9,
  PAGE_STREAM_RESPONSE: 0xa,
} as const;

const DESC_MASK = maskOf(128);

/** Descriptor type: qword0 bits 3:0 | bits 11:9 << 4 (VirtualBox `VTD_GENERIC_INV_DSC_GET_TYPE`). */
export function descriptorType(raw: bigint): number {
  return Number(bitsOf(raw, 3, 0) | (bitsOf(raw, 11, 9) << 4n));
}

/**
 * IEC descriptor (sheet §7.2). G (bit 4): 0 = global, 1 = index-selective (Linux
 * `QI_IEC_SELECTIVE`; QEMU's struct comment says the opposite but its code agrees with Linux).
 */
export const IEC_LAYOUT = defineLayout({
  name: 'IEC invalidation descriptor',
  width: 128,
  fields: {
    TYPE: { hi: 3, lo: 0 },
    G: { hi: 4, lo: 4 },
    TYPE_H: { hi: 11, lo: 9 },
    IM: { hi: 31, lo: 27 },
    IIDX: { hi: 47, lo: 32 },
  },
  reserved: [
    { hi: 8, lo: 5 },
    { hi: 26, lo: 12 },
    { hi: 63, lo: 48 },
    { hi: 127, lo: 64 },
  ],
});

/**
 * Invalidation-wait descriptor (sheet §7.5). STADDR (bits 127:66, a dword-aligned address)
 * is wider than a layout field can be; it is handled as a bigint and left out of this table.
 */
export const WAIT_LAYOUT = defineLayout({
  name: 'invalidation wait descriptor',
  width: 128,
  fields: {
    TYPE: { hi: 3, lo: 0 },
    IF: { hi: 4, lo: 4 },
    SW: { hi: 5, lo: 5 },
    FN: { hi: 6, lo: 6 },
    PD: { hi: 7, lo: 7 },
    TYPE_H: { hi: 11, lo: 9 },
    STDATA: { hi: 63, lo: 32 },
  },
  reserved: [
    { hi: 8, lo: 8 },
    { hi: 31, lo: 12 },
    { hi: 65, lo: 64 },
  ],
});

/** IEC invalidation: every IRTE (global) or 2^IM entries from IIDX (index-selective). */
export interface IecDescriptor {
  kind: 'iec';
  /** G, bit 4: 'global' (0) or 'index' (1, index-selective). */
  granularity: 'global' | 'index';
  /** IM, bits 31:27: index mask, 2^IM entries. */
  indexMask: number;
  /** IIDX, bits 47:32: interrupt index. */
  interruptIndex: number;
}

/** Invalidation-wait descriptor fields. */
export interface WaitDescriptor {
  kind: 'wait';
  /** IF, bit 4: set ICS.IWC and raise the invalidation-completion event. */
  interruptFlag: boolean;
  /** SW, bit 5: write STDATA to STADDR on completion. */
  statusWrite: boolean;
  /** FN, bit 6: fence. */
  fence: boolean;
  /** PD, bit 7: page-request drain. */
  pageRequestDrain: boolean;
  /** STDATA, bits 63:32. */
  statusData: number;
  /** STADDR, bits 127:66 left in place: a dword-aligned 64-bit address. */
  statusAddress: bigint;
}

/** A descriptor of a type this module does not model, kept whole. */
export interface OtherDescriptor {
  kind: 'other';
  type: number;
  raw: bigint;
}

/** Any 128-bit invalidation descriptor, as returned by {@link decodeInvalidationDescriptor}. */
export type InvalidationDescriptor = IecDescriptor | WaitDescriptor | OtherDescriptor;

/**
 * Decode an IEC descriptor. The type field is not checked (dispatch with
 * {@link descriptorType} or use {@link decodeInvalidationDescriptor}); `reserved` = reserved
 * bits set, in place. Never throws.
 */
export function decodeIec(raw: bigint): { desc: IecDescriptor; reserved: bigint } {
  const v = raw & DESC_MASK;
  const f = IEC_LAYOUT.decode(v);
  return {
    desc: { kind: 'iec', granularity: f.G === 1 ? 'index' : 'global', indexMask: f.IM, interruptIndex: f.IIDX },
    reserved: IEC_LAYOUT.reservedSet(v),
  };
}

/**
 * Encode an IEC descriptor (type 4), OR-ing in `reserved` (in place).
 * @throws RangeError when IM > 31, IIDX > 0xFFFF, or `reserved` has bits outside the reserved ranges.
 */
export function encodeIec(d: Omit<IecDescriptor, 'kind'> & { kind?: 'iec' }, reserved = 0n): bigint {
  checkReserved(reserved, IEC_LAYOUT.reservedMask, 'IEC descriptor');
  return IEC_LAYOUT.encode(
    {
      TYPE: INV_DESC_TYPE.IEC,
      G: d.granularity === 'index' ? 1 : 0,
      TYPE_H: 0,
      IM: d.indexMask,
      IIDX: d.interruptIndex,
    },
    reserved,
  );
}

/**
 * Decode an invalidation-wait descriptor. The type field is not checked; `reserved` =
 * reserved bits set, in place. Never throws.
 */
export function decodeWait(raw: bigint): { desc: WaitDescriptor; reserved: bigint } {
  const v = raw & DESC_MASK;
  const f = WAIT_LAYOUT.decode(v);
  return {
    desc: {
      kind: 'wait',
      interruptFlag: f.IF === 1,
      statusWrite: f.SW === 1,
      fence: f.FN === 1,
      pageRequestDrain: f.PD === 1,
      statusData: f.STDATA,
      statusAddress: bitsOf(v, 127, 66) << 2n,
    },
    reserved: WAIT_LAYOUT.reservedSet(v),
  };
}

/**
 * Encode an invalidation-wait descriptor (type 5), OR-ing in `reserved` (in place).
 * @throws RangeError when STDATA is not 32-bit, STADDR is not a dword-aligned 64-bit
 *   address, or `reserved` has bits outside the reserved ranges.
 */
export function encodeWait(d: Omit<WaitDescriptor, 'kind'> & { kind?: 'wait' }, reserved = 0n): bigint {
  checkReserved(reserved, WAIT_LAYOUT.reservedMask, 'wait descriptor');
  const a = d.statusAddress;
  if (a < 0n || a > maskOf(64) || (a & 3n) !== 0n) {
    throw new RangeError(`STADDR 0x${a.toString(16)} is not a dword-aligned 64-bit address`);
  }
  const low = WAIT_LAYOUT.encode(
    {
      TYPE: INV_DESC_TYPE.WAIT,
      IF: d.interruptFlag ? 1 : 0,
      SW: d.statusWrite ? 1 : 0,
      FN: d.fence ? 1 : 0,
      PD: d.pageRequestDrain ? 1 : 0,
      TYPE_H: 0,
      STDATA: d.statusData,
    },
    reserved,
  );
  return low | ((a >> 2n) << 66n);
}

/**
 * Decode any 128-bit descriptor by type: IEC (4) and wait (5) are decoded, other types are
 * returned whole. Never throws; `encodeInvalidationDescriptor` inverts it for every pattern.
 */
export function decodeInvalidationDescriptor(raw: bigint): { desc: InvalidationDescriptor; reserved: bigint } {
  const v = raw & DESC_MASK;
  const type = descriptorType(v);
  if (type === INV_DESC_TYPE.IEC) return decodeIec(v);
  if (type === INV_DESC_TYPE.WAIT) return decodeWait(v);
  return { desc: { kind: 'other', type, raw: v }, reserved: 0n };
}

/**
 * Encode any descriptor. @throws RangeError as {@link encodeIec} / {@link encodeWait}; for
 * 'other', when `raw` is not a 128-bit value whose type field equals `type`.
 */
export function encodeInvalidationDescriptor(d: InvalidationDescriptor, reserved = 0n): bigint {
  switch (d.kind) {
    case 'iec':
      return encodeIec(d, reserved);
    case 'wait':
      return encodeWait(d, reserved);
    case 'other':
      if (d.raw < 0n || d.raw > DESC_MASK || descriptorType(d.raw) !== d.type) {
        throw new RangeError(`descriptor 0x${d.raw.toString(16)} is not a 128-bit type-${d.type} descriptor`);
      }
      return d.raw;
  }
}

/**
 * Whether an IEC invalidation covers IRTE `index`: always for global; for index-selective,
 * when `index` and IIDX agree above the low IM bits, i.e. the naturally aligned block of 2^IM
 * entries containing IIDX. The spec requires IIDX aligned to 2^IM (Linux aligns its blocks
 * in `alloc_irte`); for a misaligned IIDX the low IM bits are ignored here [derived].
 */
export function iecCovers(desc: IecDescriptor, index: number): boolean {
  if (desc.granularity === 'global') return true;
  const block = 2 ** desc.indexMask;
  return Math.floor(index / block) === Math.floor(desc.interruptIndex / block);
}

function checkReserved(reserved: bigint, mask: bigint, what: string): void {
  if (reserved < 0n || (reserved & ~mask) !== 0n) {
    throw new RangeError(`${what}: reserved bits 0x${reserved.toString(16)} outside the reserved ranges`);
  }
}
