/**
 * x86 MSI message in compatibility format: the 64-bit address and 32-bit data a device
 * writes to raise an interrupt (Intel SDM vol. 3 §11.11 "Message Signalled Interrupts";
 * Linux `arch/x86/include/asm/msi.h` `x86_msi_addr_lo` / `x86_msi_data`).
 * Reference sheet §1.
 *
 * Addresses are bigint (64-bit); the data word is an unsigned 32-bit number.
 */
import { defineLayout } from '../bits/layout.ts';
import { U64_MASK } from '../bits/bits.ts';
import { u32Arg, uintArg, type UintInput } from '../bits/uint-arg.ts';

/** First byte address of the 1 MiB interrupt window (QEMU `VTD_INTERRUPT_ADDR_FIRST`). */
export const INTERRUPT_WINDOW_FIRST = 0xfee0_0000n;
/** Last byte address of the 1 MiB interrupt window (QEMU `VTD_INTERRUPT_ADDR_LAST`). */
export const INTERRUPT_WINDOW_LAST = 0xfeef_ffffn;

/** Address bits 31:20 of every interrupt message (Linux `X86_MSI_BASE_ADDRESS_LOW`). */
export const MSI_ADDRESS_BASE = 0xfee;

/**
 * True when the 64-bit DMA write address lies in 0xFEE0_0000..0xFEEF_FFFF, i.e. the write is
 * an interrupt request rather than a memory write (sheet §1). An address with a non-zero
 * high dword is never in the window.
 */
export function isInterruptAddress(address: bigint): boolean {
  return address >= INTERRUPT_WINDOW_FIRST && address <= INTERRUPT_WINDOW_LAST;
}

/** Delivery-mode names, SDM encoding (MSI data 10:8, IRTE DLM, IO-APIC RTE 10:8). */
export type DeliveryModeName =
  | 'fixed'
  | 'lowest-priority'
  | 'smi'
  | 'reserved-3'
  | 'nmi'
  | 'init'
  | 'reserved-6'
  | 'extint';

/**
 * Delivery-mode names indexed by the 3-bit encoding: 000 Fixed, 001 Lowest-priority, 010 SMI,
 * 100 NMI, 101 INIT, 111 ExtINT; 011 and 110 are reserved (sheet §1.2; Linux
 * `APIC_DELIVERY_MODE_*`; QEMU `AMDVI_IOAPIC_INT_TYPE_*`).
 */
export const DELIVERY_MODE_NAMES: readonly DeliveryModeName[] = Object.freeze([
  'fixed',
  'lowest-priority',
  'smi',
  'reserved-3',
  'nmi',
  'init',
  'reserved-6',
  'extint',
] as const);

/**
 * Compatibility-format address, 64 bits (sheet §1.1, Linux `x86_msi_addr_lo`). The whole
 * 64-bit address is one layout so that the high dword round-trips with the rest.
 */
export const COMPAT_ADDRESS_LAYOUT = defineLayout({
  name: 'MSI compatibility address',
  width: 64,
  fields: {
    IGN_1_0: { hi: 1, lo: 0 },
    DM: { hi: 2, lo: 2 },
    RH: { hi: 3, lo: 3 },
    INTR_FMT: { hi: 4, lo: 4 },
    VIRT_DESTID_8_14: { hi: 11, lo: 5 },
    DESTID_0_7: { hi: 19, lo: 12 },
    BASE: { hi: 31, lo: 20 },
    ADDR_HI: { hi: 63, lo: 32 },
  },
});

/** Compatibility-format address fields (widths in bits as commented; sheet §1.1). */
export interface CompatibilityAddress {
  /** Bits 31:20; 0xFEE for an interrupt. */
  base: number;
  /** Bits 19:12: destination APIC ID bits 7:0. */
  destinationId: number;
  /** Bits 11:5: destination bits 14:8 under the extended-destination-ID convention, else 0. */
  extendedDestinationId: number;
  /** Bit 4: 0 = compatibility, 1 = VT-d remappable format. */
  interruptFormat: number;
  /** Bit 3: RH, redirection hint. */
  redirectionHint: boolean;
  /** Bit 2: DM, destination mode (true = logical). */
  destinationModeLogical: boolean;
  /** Bits 1:0, ignored by the platform. */
  ignored: number;
  /** Address bits 63:32 (0 for a real interrupt message). */
  high: number;
}

/**
 * Split a 64-bit address into compatibility-format fields. Bits above 63 are dropped.
 * @throws RangeError when `address` is neither a bigint nor a safe integer number (src/bits/uint-arg.ts).
 */
export function decodeCompatibilityAddress(address: UintInput): CompatibilityAddress {
  const f = COMPAT_ADDRESS_LAYOUT.decode(uintArg(address, 'address') & U64_MASK);
  return {
    base: f.BASE,
    destinationId: f.DESTID_0_7,
    extendedDestinationId: f.VIRT_DESTID_8_14,
    interruptFormat: f.INTR_FMT,
    redirectionHint: f.RH === 1,
    destinationModeLogical: f.DM === 1,
    ignored: f.IGN_1_0,
    high: f.ADDR_HI,
  };
}

/**
 * Assemble a 64-bit address from compatibility-format fields (inverse of
 * {@link decodeCompatibilityAddress}). @throws RangeError when a field does not fit its width.
 */
export function encodeCompatibilityAddress(a: CompatibilityAddress): bigint {
  return COMPAT_ADDRESS_LAYOUT.encode({
    BASE: a.base,
    DESTID_0_7: a.destinationId,
    VIRT_DESTID_8_14: a.extendedDestinationId,
    INTR_FMT: a.interruptFormat,
    RH: a.redirectionHint ? 1 : 0,
    DM: a.destinationModeLogical ? 1 : 0,
    IGN_1_0: a.ignored,
    ADDR_HI: a.high,
  });
}

/**
 * MSI data word, 32 bits (sheet §1.2; Linux `x86_msi_data`). Bit 11 is where Linux keeps a
 * private copy of DM; the SDM calls it reserved, and so do we (sheet marks it [UNSURE]).
 */
export const MSI_DATA_LAYOUT = defineLayout({
  name: 'MSI data',
  width: 32,
  fields: {
    VECTOR: { hi: 7, lo: 0 },
    DLM: { hi: 10, lo: 8 },
    LEVEL: { hi: 14, lo: 14 },
    TM: { hi: 15, lo: 15 },
  },
  reserved: [
    { hi: 13, lo: 11 },
    { hi: 31, lo: 16 },
  ],
});

/** Mask of the reserved data bits (13:11 and 31:16) as they sit in the word. */
export const MSI_DATA_RESERVED_MASK = Number(MSI_DATA_LAYOUT.reservedMask);

/** Compatibility-format data fields (sheet §1.2). */
export interface MsiData {
  /** Bits 7:0. */
  vector: number;
  /** Bits 10:8, see {@link DELIVERY_MODE_NAMES}. */
  deliveryMode: number;
  /** Bit 14: level, 1 = assert (only meaningful when level-triggered). */
  levelAssert: boolean;
  /** Bit 15: TM, true = level-triggered. */
  triggerLevel: boolean;
  /** Bits 13:11 and 31:16 left in place (not shifted); 0 when none are set. */
  reserved: number;
}

/**
 * Split a 32-bit data word (a number or a bigint, taken modulo 2^32).
 * @throws RangeError when `data` is neither a bigint nor a safe integer number (src/bits/uint-arg.ts).
 */
export function decodeMsiData(data: UintInput): MsiData {
  const raw = BigInt(u32Arg(data, 'data'));
  const f = MSI_DATA_LAYOUT.decode(raw);
  return {
    vector: f.VECTOR,
    deliveryMode: f.DLM,
    levelAssert: f.LEVEL === 1,
    triggerLevel: f.TM === 1,
    reserved: Number(MSI_DATA_LAYOUT.reservedSet(raw)),
  };
}

/**
 * Assemble a 32-bit data word (inverse of {@link decodeMsiData}).
 * @throws RangeError when vector/deliveryMode do not fit, or `reserved` has bits outside 13:11, 31:16.
 */
export function encodeMsiData(d: MsiData): number {
  if (!Number.isInteger(d.reserved) || d.reserved < 0 || d.reserved > 0xffff_ffff || (d.reserved & ~MSI_DATA_RESERVED_MASK) !== 0) {
    throw new RangeError(`MSI data reserved bits 0x${d.reserved.toString(16)} outside 13:11, 31:16`);
  }
  return Number(
    MSI_DATA_LAYOUT.encode(
      {
        VECTOR: d.vector,
        DLM: d.deliveryMode,
        LEVEL: d.levelAssert ? 1 : 0,
        TM: d.triggerLevel ? 1 : 0,
      },
      BigInt(d.reserved >>> 0),
    ),
  );
}

/**
 * Destination APIC ID carried by a compatibility address: 8 bits (address 19:12), or 15 bits
 * when the hypervisor's extended-destination-ID convention is in force (address 11:5 =
 * destination 14:8; Linux `arch/x86/kernel/apic/apic.c` `virt_destid_8_14`, sheet §1.3).
 */
export function compatibilityDestination(a: CompatibilityAddress, extendedDestinationId: boolean): number {
  return extendedDestinationId ? (a.extendedDestinationId << 8) | a.destinationId : a.destinationId;
}

/**
 * Build a compatibility-format MSI as Linux `__irq_msi_compose_msg` does: base 0xFEE, high
 * dword 0, reserved bits 0. Defaults: fixed delivery, physical, RH=0, edge; `levelAssert`
 * defaults to `triggerLevel` (an assert message for level, 0 for edge where it is ignored).
 * @throws RangeError when destination > 255 (> 32767 with `extendedDestinationId`), or
 *   vector/deliveryMode do not fit.
 */
export function composeCompatibilityMsi(m: {
  destination: number;
  vector: number;
  deliveryMode?: number;
  destinationModeLogical?: boolean;
  redirectionHint?: boolean;
  triggerLevel?: boolean;
  levelAssert?: boolean;
  extendedDestinationId?: boolean;
}): { address: bigint; data: number } {
  const ext = m.extendedDestinationId ?? false;
  const limit = ext ? 0x7fff : 0xff;
  if (!Number.isInteger(m.destination) || m.destination < 0 || m.destination > limit) {
    throw new RangeError(
      `MSI destination ${m.destination} exceeds ${limit} (${ext ? '15-bit extended' : '8-bit'} destination ID)`,
    );
  }
  const triggerLevel = m.triggerLevel ?? false;
  const address = encodeCompatibilityAddress({
    base: MSI_ADDRESS_BASE,
    destinationId: m.destination & 0xff,
    extendedDestinationId: m.destination >> 8,
    interruptFormat: 0,
    redirectionHint: m.redirectionHint ?? false,
    destinationModeLogical: m.destinationModeLogical ?? false,
    ignored: 0,
    high: 0,
  });
  const data = encodeMsiData({
    vector: m.vector,
    deliveryMode: m.deliveryMode ?? 0,
    levelAssert: m.levelAssert ?? triggerLevel,
    triggerLevel,
    reserved: 0,
  });
  return { address, data };
}
