/**
 * AMD-Vi MMIO registers: offsets, the Control (0x18) and Status (0x2020) registers by bit
 * name, and the base/length, head/tail and exclusion registers (AMD I/O Virtualization
 * Technology spec 48882 §3.4; Linux `drivers/iommu/amd/amd_iommu_types.h` `MMIO_*` and
 * `CONTROL_*`; QEMU `hw/i386/amd_iommu.h` `AMDVI_MMIO_*`; VirtualBox `include/VBox/iommu-amd.h`
 * `IOMMU_MMIO_OFF_*`, `IOMMU_CTRL_T`, `IOMMU_STATUS_T`). Fact sheet amdvi-facts.md §2.2–§2.6.
 *
 * Every register is 64 bits and a bigint. Each codec names or reserves every bit, so
 * decode → encode round-trips any bit pattern (reserved bits come back in place).
 */
import { type FieldSpec, type Layout } from '../bits/layout.ts';
import { defineRecord, type FieldTable, type RecordFields } from '../bits/record.ts';
import { bitOf, maskOf, U64_MASK } from '../bits/bits.ts';

/**
 * MMIO offsets in bytes from the unit's register base (sheet §2.2; Linux `MMIO_*_OFFSET`;
 * VirtualBox `IOMMU_MMIO_OFF_*`). QEMU implements only 0x000–0x038 and 0x2000–0x2038.
 */
export const AMDVI_MMIO = Object.freeze({
  DEVICE_TABLE_BASE: 0x000,
  COMMAND_BUFFER_BASE: 0x008,
  EVENT_LOG_BASE: 0x010,
  CONTROL: 0x018,
  EXCLUSION_BASE: 0x020,
  EXCLUSION_LIMIT: 0x028,
  EXTENDED_FEATURES: 0x030,
  PPR_LOG_BASE: 0x038,
  HW_EVENT_HI: 0x040,
  HW_EVENT_LO: 0x048,
  HW_EVENT_STATUS: 0x050,
  /** SMI filter registers 0..15 at 0x060 + 8·n. */
  SMI_FILTER_0: 0x060,
  GA_LOG_BASE: 0x0e0,
  GA_LOG_TAIL_ADDRESS: 0x0e8,
  PPR_LOG_B_BASE: 0x0f0,
  EVENT_LOG_B_BASE: 0x0f8,
  /** Device-table segment 1..7 base registers at 0x100 + 8·(n−1). */
  DEVICE_TABLE_SEGMENT_1: 0x100,
  MSI_VECTOR_0: 0x150,
  MSI_VECTOR_1: 0x154,
  MSI_CAP_HEADER: 0x158,
  MSI_ADDRESS_LO: 0x15c,
  MSI_ADDRESS_HI: 0x160,
  MSI_DATA: 0x164,
  MSI_MAPPING_HEADER: 0x168,
  PERF_OPTIMIZATION: 0x16c,
  XT_EVENT_INT_CONTROL: 0x170,
  XT_PPR_INT_CONTROL: 0x178,
  XT_GA_INT_CONTROL: 0x180,
  EXTENDED_FEATURES_2: 0x1a0,
  COMMAND_HEAD: 0x2000,
  COMMAND_TAIL: 0x2008,
  EVENT_HEAD: 0x2010,
  EVENT_TAIL: 0x2018,
  STATUS: 0x2020,
  PPR_HEAD: 0x2030,
  PPR_TAIL: 0x2038,
  GA_LOG_HEAD: 0x2040,
  GA_LOG_TAIL: 0x2048,
  PPR_B_HEAD: 0x2050,
  PPR_B_TAIL: 0x2058,
  EVENT_B_HEAD: 0x2070,
  EVENT_B_TAIL: 0x2078,
} as const);

// ---------------------------------------------------------------------------------------

/** Decoded register fields (one-bit fields as booleans) plus its reserved bits in place. */
export type AmdRegisterFields<T extends FieldTable> = RecordFields<T> & { reserved: bigint };

/** Codec of one 64-bit register whose every bit is named or reserved. */
export interface AmdRegisterCodec<T extends FieldTable> {
  readonly name: string;
  readonly layout: Layout<Extract<keyof T, string>>;
  /** Decode any value; bits above 63 are dropped. Never throws. */
  decode(raw: bigint): AmdRegisterFields<T>;
  /** @throws RangeError when a field does not fit or `reserved` lies outside the reserved ranges. */
  encode(v: RecordFields<T> & { reserved?: bigint }): bigint;
}

function defineRegister<const T extends FieldTable>(name: string, fields: T, reserved: readonly FieldSpec[] = []): AmdRegisterCodec<T> {
  const record = defineRecord(name, 64, fields, reserved);
  if (record.ignoredMask !== 0n) throw new Error(`${name}: bits 0x${record.ignoredMask.toString(16)} are neither named nor reserved`);
  return {
    name,
    layout: record.layout,
    decode(raw) {
      const { ignored: _, ...rest } = record.decode(raw & U64_MASK);
      return rest as AmdRegisterFields<T>;
    },
    encode: (v) => record.encode(v),
  };
}

/** A one-bit field; literal types keep `hi === lo` visible, so it decodes to boolean. */
const bit = <N extends number>(n: N): { hi: N; lo: N } => ({ hi: n, lo: n });
const span = <H extends number, L extends number>(hi: H, lo: L): { hi: H; lo: L } => ({ hi, lo });

/**
 * Control register, MMIO 0x18 (sheet §2.4; Linux `CONTROL_*_EN`/`_SHIFT`; VirtualBox
 * `IOMMU_CTRL_T`; Xen `IOMMU_CONTROL_*`; FreeBSD `AMDIOMMU_CTRL_*`). Bits 44:43 follow
 * Linux/FreeBSD/openvmm (NumIntRemapMode: 00 = 512, 01 = 2048 IRTEs); VirtualBox and Xen
 * call bit 43 DomainIDPNE (sheet [DISAGREE]). 49 and 57 are reserved.
 */
export const CONTROL_REGISTER = defineRegister(
  'AMD-Vi Control',
  {
    IommuEn: bit(0),
    HtTunEn: bit(1),
    EventLogEn: bit(2),
    EventIntEn: bit(3),
    ComWaitIntEn: bit(4),
    /** 0 none, 1 1 ms, 2 10 ms, 3 100 ms, 4 1 s, 5 10 s, 6 100 s (Linux uses 1 s). */
    InvTimeOut: span(7, 5),
    PassPW: bit(8),
    ResPassPW: bit(9),
    Coherent: bit(10),
    Isoc: bit(11),
    CmdBufEn: bit(12),
    PPRLogEn: bit(13),
    PprIntEn: bit(14),
    PPREn: bit(15),
    GTEn: bit(16),
    /** 1 = 128-bit IRTEs (Linux `CONTROL_GA_EN`; QEMU `AMDVI_MMIO_CONTROL_GAEN`). */
    GAEn: bit(17),
    CRW: span(21, 18),
    SmiFEn: bit(22),
    SlfWBdis: bit(23),
    SmiFLogEn: bit(24),
    /** 000 GuestMode=0 only, 001 guest virtual APIC (Linux `CONTROL_GAM_EN`). */
    GAMEn: span(27, 25),
    GALogEn: bit(28),
    GAIntEn: bit(29),
    DualPprLogEn: span(31, 30),
    DualEventLogEn: span(33, 32),
    /** 0/1/2/3 → 1/2/4/8 device-table segments. */
    DevTblSegEn: span(36, 34),
    PrivAbrtEn: span(38, 37),
    PprAutoRspEn: bit(39),
    MarcEn: bit(40),
    BlkStopMrkEn: bit(41),
    PprAutoRspAon: bit(42),
    NumIntRemapMode: span(44, 43),
    EPHEn: bit(45),
    HADUpdate: span(47, 46),
    GDUpdateDis: bit(48),
    /** 1 = x2APIC destinations: IRTE Destination[31:24] at 127:120 (Linux `CONTROL_XT_EN`). */
    XTEn: bit(50),
    /** 1 = the IOMMU's own interrupts use the XT interrupt-control registers (Linux `CONTROL_INTCAPXT_EN`). */
    IntCapXTEn: bit(51),
    VCmdEn: bit(52),
    vIOMMUEn: bit(53),
    GAUpdateDis: bit(54),
    GAPPIEn: bit(55),
    TMPMEn: bit(56),
    GCR3TRPMode: bit(58),
    IRTCacheDis: bit(59),
    GstBufferTRPMode: bit(60),
    SNPAVICEn: span(63, 61),
  },
  [bit(49), bit(57)],
);

/** Control register bit positions by name (one-bit fields only), for hot-path tests. */
export const CONTROL_BITS = Object.freeze({
  IommuEn: 0,
  EventLogEn: 2,
  EventIntEn: 3,
  ComWaitIntEn: 4,
  CmdBufEn: 12,
  GAEn: 17,
  GALogEn: 28,
  GAIntEn: 29,
  XTEn: 50,
  IntCapXTEn: 51,
  IRTCacheDis: 59,
} as const);

/** Control.GAMEn (27:25). */
export function controlGamEn(control: bigint): number {
  return Number((control >> 25n) & 7n);
}

/**
 * Status register, MMIO 0x2020 (sheet §2.6; VirtualBox `IOMMU_STATUS_*`, RW1C mask 0x68E67;
 * Linux `MMIO_STATUS_*`; FreeBSD). Xen and openvmm place the GA bits differently (sheet
 * [DISAGREE]); Linux, VirtualBox and FreeBSD agree with this table.
 */
export const STATUS_REGISTER = defineRegister(
  'AMD-Vi Status',
  {
    EventOverflow: bit(0),
    EventLogInt: bit(1),
    ComWaitInt: bit(2),
    EventLogRun: bit(3),
    CmdBufRun: bit(4),
    PprOverflow: bit(5),
    PprInt: bit(6),
    PprLogRun: bit(7),
    GALogRun: bit(8),
    GALOverflow: bit(9),
    GAInt: bit(10),
    PprOverflowB: bit(11),
    PprLogActive: bit(12),
    EvtOverflowB: bit(15),
    EventLogActive: bit(16),
    PprOverflowEarlyB: bit(17),
    PprOverflowEarly: bit(18),
  },
  [span(14, 13), span(63, 19)],
);

/** Status bit positions (VirtualBox `IOMMU_STATUS_*`). */
export const STATUS_BITS = Object.freeze({
  EventOverflow: 0,
  EventLogInt: 1,
  ComWaitInt: 2,
  EventLogRun: 3,
  CmdBufRun: 4,
  GALogRun: 8,
  GALOverflow: 9,
  GAInt: 10,
} as const);

/** Status bits software clears by writing 1 (VirtualBox `IOMMU_STATUS_RW1C_MASK`). */
export const STATUS_RW1C_MASK = 0x68e67n;

/**
 * Device Table Base, MMIO 0x00 (sheet §2.3; VirtualBox `DEV_TAB_BAR_T`): Size [8:0] =
 * table bytes / 4 KiB − 1, base [51:12]; 11:9 and 63:52 reserved.
 */
export const DEVICE_TABLE_BASE_REGISTER = defineRegister(
  'AMD-Vi Device Table Base',
  { Size: span(8, 0), Base: span(51, 12) },
  [span(11, 9), span(63, 52)],
);

/**
 * Command buffer / event log / PPR log base, MMIO 0x08 / 0x10 / 0x38 (sheet §2.3;
 * VirtualBox `CMD_BUF_BAR_T`, `EVT_LOG_BAR_T`; Linux writes Len 9 = 512 entries): base [51:12],
 * Len [59:56] = log2 of the number of 16-byte entries (0000–0111b reserved).
 */
export const RING_BASE_REGISTER = defineRegister(
  'AMD-Vi ring base (command buffer / event log / PPR log)',
  { Base: span(51, 12), Len: span(59, 56) },
  [span(11, 0), span(55, 52), span(63, 60)],
);

/** GA log base, MMIO 0xE0 (sheet §2.3): base [51:12], Len [59:56], 8-byte entries ([UNSURE] Len encoding). */
export const GA_LOG_BASE_REGISTER = defineRegister(
  'AMD-Vi GA Log Base',
  { Base: span(51, 12), Len: span(59, 56) },
  [span(11, 0), span(55, 52), span(63, 60)],
);

/** GA log tail address, MMIO 0xE8 (sheet §2.3): where the IOMMU keeps the tail, [51:3]. */
export const GA_LOG_TAIL_ADDRESS_REGISTER = defineRegister('AMD-Vi GA Log Tail Address', { Address: span(51, 3) }, [
  span(2, 0),
  span(63, 52),
]);

/**
 * Command / event / PPR head and tail pointers, MMIO 0x2000–0x2038 (sheet §2.3; VirtualBox
 * mask 0x7FFF0; Linux `MMIO_CMD_HEAD_MASK`): byte offset into the ring, [18:4] = entry index.
 */
export const RING_POINTER_REGISTER = defineRegister('AMD-Vi ring head/tail pointer', { Offset: span(18, 4) }, [
  span(3, 0),
  span(63, 19),
]);

/** GA log head/tail, MMIO 0x2040/0x2048: [15:3] = 8-byte entry index (VirtualBox; [UNSURE]). */
export const GA_LOG_POINTER_REGISTER = defineRegister('AMD-Vi GA log head/tail pointer', { Offset: span(15, 3) }, [
  span(2, 0),
  span(63, 16),
]);

/**
 * Exclusion base / limit, MMIO 0x20 / 0x28 (sheet §2.3; VirtualBox `IOMMU_EXCL_RANGE_*`):
 * ExEn 0 and Allow 1 (base only), address [51:12]. The limit's low 12 bits read as ones.
 */
export const EXCLUSION_BASE_REGISTER = defineRegister(
  'AMD-Vi Exclusion Base',
  { ExEn: bit(0), Allow: bit(1), Base: span(51, 12) },
  [span(11, 2), span(63, 52)],
);
export const EXCLUSION_LIMIT_REGISTER = defineRegister('AMD-Vi Exclusion Limit', { Limit: span(51, 12) }, [
  span(11, 0),
  span(63, 52),
]);

/**
 * XT interrupt control, MMIO 0x170 / 0x178 / 0x180 (event log, PPR log, GA log interrupts when
 * Control.IntCapXTEn = 1; sheet §2.7; Linux `union intcapxt`; VirtualBox, openvmm): DM 2
 * (1 = logical), destination [23:0] at 31:8 and [31:24] at 63:56, vector 39:32, delivery
 * mode 40 (VirtualBox/openvmm; Linux leaves it in its reserved 55:40).
 */
export const XT_INT_CONTROL_REGISTER = defineRegister(
  'AMD-Vi XT interrupt control',
  { DestMode: bit(2), DestLo: span(31, 8), Vector: span(39, 32), DeliveryMode: bit(40), DestHi: span(63, 56) },
  [span(1, 0), span(7, 3), span(55, 41)],
);

// ---------------------------------------------------------------------------------------
// Derived quantities.

/** Device table size in bytes for Device Table Base Size: (Size + 1) · 4 KiB (0x1FF → 2 MiB = 65536 DTEs). */
export function deviceTableBytes(deviceTableBase: bigint): bigint {
  const size = deviceTableBase & 0x1ffn;
  return (size + 1n) * 4096n;
}

/** Device table base address, bytes: register bits 51:12. */
export function deviceTableAddress(deviceTableBase: bigint): bigint {
  return deviceTableBase & (maskOf(40) << 12n);
}

/** Base address of a ring (command buffer, event log, PPR log, GA log), bytes: bits 51:12. */
export function ringAddress(ringBase: bigint): bigint {
  return ringBase & (maskOf(40) << 12n);
}

/** Number of 16-byte entries of a command buffer / event log: 2^Len (Len = bits 59:56). */
export function ringEntries(ringBase: bigint): number {
  return 2 ** Number((ringBase >> 56n) & 0xfn);
}

/** Ring size in bytes: 16 · 2^Len. */
export function ringBytes(ringBase: bigint): bigint {
  return 16n << ((ringBase >> 56n) & 0xfn);
}

/** Byte offset held by a head or tail pointer register: bits 18:4. */
export function ringOffset(pointer: bigint): bigint {
  return pointer & 0x7fff0n;
}

/**
 * A ring base register value (Linux `iommu_enable_command_buffer`: `base | Len << 56`).
 * @throws RangeError when `address` is not a 4 KiB-aligned 52-bit address or `len` not 0..15.
 */
export function encodeRingBase(address: bigint, len: number): bigint {
  if (address < 0n || address > maskOf(52) || (address & 0xfffn) !== 0n) {
    throw new RangeError(`ring base 0x${address.toString(16)} is not a 4 KiB-aligned 52-bit address`);
  }
  if (!Number.isInteger(len) || len < 0 || len > 15) throw new RangeError(`ring Len ${len} is not 0..15`);
  return address | (BigInt(len) << 56n);
}

/**
 * A Device Table Base value for a table of `bytes` bytes at `address` (Linux
 * `iommu_set_device_table`: `address | (bytes >> 12) − 1`).
 * @throws RangeError when `address` is not 4 KiB-aligned in 52 bits, or `bytes` is not a
 *   multiple of 4 KiB in 4 KiB..2 MiB.
 */
export function encodeDeviceTableBase(address: bigint, bytes: bigint): bigint {
  if (address < 0n || address > maskOf(52) || (address & 0xfffn) !== 0n) {
    throw new RangeError(`device table base 0x${address.toString(16)} is not a 4 KiB-aligned 52-bit address`);
  }
  if (bytes < 4096n || bytes > 0x20_0000n || bytes % 4096n !== 0n) {
    throw new RangeError(`device table size ${bytes} bytes is not a multiple of 4 KiB in 4 KiB..2 MiB`);
  }
  return address | (bytes / 4096n - 1n);
}

/** Bit `n` of a 64-bit register value (src/bits/bits.ts `bitOf`). */
export function regBit(value: bigint, n: number): boolean {
  return bitOf(value, n);
}
