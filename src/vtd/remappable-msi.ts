/**
 * Intel VT-d remappable-format MSI (VT-d spec §5.1.2.2 "Interrupt Requests in Remappable
 * Format"; VirtualBox `include/VBox/iommu-intel.h` `VTD_BF_REMAPPABLE_MSI_*`; QEMU
 * `include/hw/i386/intel_iommu.h` `VTD_IR_MSIAddress`). Reference sheet §2.
 *
 * Also the combined decoder that classifies a DMA write as not-an-interrupt, compatibility
 * format (sheet §1) or remappable format by address bit 4.
 */
import { defineLayout } from '../bits/layout.ts';
import { U64_MASK } from '../bits/bits.ts';
import { u32Arg, uintArg, type UintInput } from '../bits/uint-arg.ts';
import {
  DELIVERY_MODE_NAMES,
  type DeliveryModeName,
  MSI_ADDRESS_BASE,
  decodeCompatibilityAddress,
  decodeMsiData,
  isInterruptAddress,
} from '../x86/msi.ts';

/**
 * Remappable-format address, 64 bits (sheet §2.1). The 16-bit handle is split: handle[14:0]
 * in bits 19:5 and handle[15] in bit 2.
 */
export const REMAPPABLE_ADDRESS_LAYOUT = defineLayout({
  name: 'VT-d remappable MSI address',
  width: 64,
  fields: {
    IGN_1_0: { hi: 1, lo: 0 },
    HANDLE_HI: { hi: 2, lo: 2 },
    SHV: { hi: 3, lo: 3 },
    INTR_FMT: { hi: 4, lo: 4 },
    HANDLE_LO: { hi: 19, lo: 5 },
    BASE: { hi: 31, lo: 20 },
    ADDR_HI: { hi: 63, lo: 32 },
  },
});

/** Remappable-format data, 32 bits (sheet §2.2): sub-handle 15:0, bits 31:16 reserved. */
export const REMAPPABLE_DATA_LAYOUT = defineLayout({
  name: 'VT-d remappable MSI data',
  width: 32,
  fields: { SUBHANDLE: { hi: 15, lo: 0 } },
  reserved: [{ hi: 31, lo: 16 }],
});

/** Remappable-format address fields (sheet §2.1). */
export interface RemappableAddress {
  /** Bits 31:20; 0xFEE for an interrupt. */
  base: number;
  /** 16-bit interrupt handle: handle[15] = bit 2, handle[14:0] = bits 19:5. */
  handle: number;
  /** Bit 3: SHV, sub-handle valid. */
  shv: boolean;
  /** Bit 4: 1 = remappable format. */
  interruptFormat: number;
  /** Bits 1:0 (QEMU copies them into the remapped message). */
  ignored: number;
  /** Address bits 63:32. */
  high: number;
}

/**
 * Split a 64-bit address into remappable-format fields. Bits above 63 are dropped.
 * @throws RangeError when `address` is neither a bigint nor a safe integer number (src/bits/uint-arg.ts).
 */
export function decodeRemappableAddress(address: UintInput): RemappableAddress {
  const f = REMAPPABLE_ADDRESS_LAYOUT.decode(uintArg(address, 'address') & U64_MASK);
  return {
    base: f.BASE,
    handle: (f.HANDLE_HI << 15) | f.HANDLE_LO,
    shv: f.SHV === 1,
    interruptFormat: f.INTR_FMT,
    ignored: f.IGN_1_0,
    high: f.ADDR_HI,
  };
}

/**
 * The highest interrupt handle (VT-d §5.1.5.2: HANDLE is 16 bits, address bits 19:5 and 2): an
 * allocator that would hand out a higher one has a full table (Linux `alloc_irte` fails: -ENOSPC).
 */
export const MAX_INTERRUPT_HANDLE = 0xffff;

/**
 * Assemble a 64-bit address from remappable-format fields.
 * @throws RangeError when `handle` is not in 0..0xFFFF or another field does not fit.
 */
export function encodeRemappableAddress(a: RemappableAddress): bigint {
  if (!Number.isInteger(a.handle) || a.handle < 0 || a.handle > MAX_INTERRUPT_HANDLE) {
    throw new RangeError(`interrupt handle ${a.handle} is not a 16-bit value`);
  }
  return REMAPPABLE_ADDRESS_LAYOUT.encode({
    BASE: a.base,
    HANDLE_LO: a.handle & 0x7fff,
    HANDLE_HI: a.handle >> 15,
    SHV: a.shv ? 1 : 0,
    INTR_FMT: a.interruptFormat,
    IGN_1_0: a.ignored,
    ADDR_HI: a.high,
  });
}

/**
 * Split a remappable-format data word: sub-handle (bits 15:0) and `reserved` = the value of
 * bits 31:16, right-aligned (0..0xFFFF). The value (number or bigint) is taken modulo 2^32.
 * @throws RangeError when `data` is neither a bigint nor a safe integer number (src/bits/uint-arg.ts).
 */
export function decodeRemappableData(data: UintInput): { subhandle: number; reserved: number } {
  const raw = u32Arg(data, 'data');
  return { subhandle: raw & 0xffff, reserved: raw >>> 16 };
}

/**
 * Inverse of {@link decodeRemappableData}. @throws RangeError when either part exceeds 16 bits.
 */
export function encodeRemappableData(d: { subhandle: number; reserved: number }): number {
  if (!Number.isInteger(d.reserved) || d.reserved < 0 || d.reserved > 0xffff) {
    throw new RangeError(`remappable data reserved field ${d.reserved} is not a 16-bit value`);
  }
  return Number(REMAPPABLE_DATA_LAYOUT.encode({ SUBHANDLE: d.subhandle }, BigInt(d.reserved) << 16n));
}

/**
 * IRTE index selected by a remappable request: with SHV, handle + data[15:0] modulo 2^16;
 * without, the handle alone (sheet §2.3; QEMU `vtd_interrupt_remap_msi`, VirtualBox
 * `dmarIrRemapIntr`). The caller compares the result with the table size (fault 0x21).
 */
export function irteIndexOf(handle: number, shv: boolean, data: number): number {
  return shv ? (handle + (data & 0xffff)) & 0xffff : handle & 0xffff;
}

/**
 * Build a remappable-format MSI as Linux `fill_msi_msg` (drivers/iommu/intel/irq_remapping.c)
 * does: base 0xFEE, format 1, SHV defaulting to 1, data = sub-handle (default 0), everything
 * else 0. @throws RangeError when handle or subhandle is not a 16-bit value.
 */
export function composeRemappableMsi(m: { handle: number; shv?: boolean; subhandle?: number }): {
  address: bigint;
  data: number;
} {
  const address = encodeRemappableAddress({
    base: MSI_ADDRESS_BASE,
    handle: m.handle,
    shv: m.shv ?? true,
    interruptFormat: 1,
    ignored: 0,
    high: 0,
  });
  return { address, data: encodeRemappableData({ subhandle: m.subhandle ?? 0, reserved: 0 }) };
}

/** How the platform treats a DMA write (sheet §1, §2, §4.4). */
export type MsiFormat = 'compatibility' | 'remappable' | 'not-interrupt';

/**
 * Classify a 64-bit DMA write address: 'not-interrupt' outside 0xFEE0_0000..0xFEEF_FFFF
 * (including any address with a non-zero high dword), otherwise address bit 4 selects
 * remappable (1) or compatibility (0) format. Never throws.
 */
export function msiFormat(address: bigint): MsiFormat {
  const a = address & U64_MASK;
  if (!isInterruptAddress(a)) return 'not-interrupt';
  return (a & 0x10n) === 0n ? 'compatibility' : 'remappable';
}

/** A DMA write decoded by {@link decodeMsi}; `address` is the input reduced to 64 bits, `data` to 32. */
export type DecodedMsi =
  | { format: 'not-interrupt'; address: bigint; data: number }
  | {
      format: 'compatibility';
      address: bigint;
      data: number;
      /** Address 19:12. */
      destinationId: number;
      /** Address 11:5, raw (destination 14:8 only under the extended-destination-ID convention). */
      extendedDestinationId: number;
      destinationModeLogical: boolean;
      redirectionHint: boolean;
      vector: number;
      deliveryMode: DeliveryModeName;
      triggerMode: 'edge' | 'level';
      levelAssert: boolean;
    }
  | {
      format: 'remappable';
      address: bigint;
      data: number;
      handle: number;
      shv: boolean;
      /** data[15:0]. */
      subhandle: number;
      /** {@link irteIndexOf}(handle, shv, data). */
      irteIndex: number;
    };

/**
 * Decode any (address, data) pair a device may write: a 64-bit address and a 32-bit data
 * word, each a number or a bigint (`decodeMsi(0xfee00538, 0)`). The address is reduced to
 * 64 bits and the data word to 32. Reserved-bit checks (fault 0x20) are left to the
 * remapping model because implementations disagree on them (sheet §2.3 [DISAGREE]).
 * A number means what the same bigint means (a safe integer is exact).
 * @throws RangeError naming `address` or `data` when it is a number that is not a safe
 *   integer (1.5, NaN, 2^53: src/bits/uint-arg.ts).
 */
export function decodeMsi(address: UintInput, data: UintInput): DecodedMsi {
  const a = uintArg(address, 'address') & U64_MASK;
  const d = u32Arg(data, 'data');
  const format = msiFormat(a);
  if (format === 'not-interrupt') return { format, address: a, data: d };
  if (format === 'remappable') {
    const r = decodeRemappableAddress(a);
    return {
      format,
      address: a,
      data: d,
      handle: r.handle,
      shv: r.shv,
      subhandle: d & 0xffff,
      irteIndex: irteIndexOf(r.handle, r.shv, d),
    };
  }
  const c = decodeCompatibilityAddress(a);
  const md = decodeMsiData(d);
  return {
    format,
    address: a,
    data: d,
    destinationId: c.destinationId,
    extendedDestinationId: c.extendedDestinationId,
    destinationModeLogical: c.destinationModeLogical,
    redirectionHint: c.redirectionHint,
    vector: md.vector,
    deliveryMode: DELIVERY_MODE_NAMES[md.deliveryMode] ?? 'fixed',
    triggerMode: md.triggerLevel ? 'level' : 'edge',
    levelAssert: md.levelAssert,
  };
}
