/**
 * AMD-Vi Device Table Entry (DTE), 256 bits = 32 bytes, one per DeviceID (spec 48882 §2.2.2.1;
 * Linux `amd_iommu_types.h` `DTE_*`/`DEV_ENTRY_*`, `struct dev_table_entry`; VirtualBox
 * `iommu-amd.h` `DTE_T`; Xen `iommu-defs.h` `struct amd_iommu_dte`; FreeBSD `amd_reg.h`
 * `struct amdiommu_dte`; openvmm `dte.rs`). Fact sheet amdvi-facts.md §3.1, spec-facts.md §9.1.
 *
 * A DTE is one little-endian 256-bit bigint: qword3 << 192 | … | qword0, the spec's bit
 * numbering. Bits named by newer specs only (CXLMemAttr 6:4) and those the sources call
 * reserved are reserved here: VirtualBox's valid masks (sheet §3.3) decide, except that
 * SATS (106), the guest paging mode (183:182), the HPT mode hint (187) and AttrV/Mode0FC/
 * SnoopAttr (255:246) are named as FreeBSD/openvmm/Linux name them.
 */
import { defineRecord, type DecodedRecord, type RecordInput } from '../bits/record.ts';
import { maskOf } from '../bits/bits.ts';
import { deviceTableAddress, deviceTableBytes } from './registers.ts';

/** Bytes per DTE; DTE address = device table base + 32 · DeviceID. */
export const DTE_BYTES = 32;

/** A one-bit field; literal types keep `hi === lo` visible, so it decodes to boolean. */
const bit = <N extends number>(n: N): { hi: N; lo: N } => ({ hi: n, lo: n });

/** The DTE fields (sheet §3.1). */
const DTE_FIELDS = {
  V: bit(0),
  TV: bit(1),
  /** Host access/dirty update (8:7). */
  HAD: { hi: 8, lo: 7 },
  /** Paging mode: 0 none, 1–6 levels, 7 reserved. */
  Mode: { hi: 11, lo: 9 },
  /** Host page-table root, address bits 51:12. */
  PtRoot: { hi: 51, lo: 12 },
  PPR: bit(52),
  GPRP: bit(53),
  GIoV: bit(54),
  GV: bit(55),
  GLX: { hi: 57, lo: 56 },
  /** GCR3 table root pointer bits 14:12. */
  GCR3_14_12: { hi: 60, lo: 58 },
  IR: bit(61),
  IW: bit(62),
  DomainID: { hi: 79, lo: 64 },
  /** GCR3 table root pointer bits 30:15. */
  GCR3_30_15: { hi: 95, lo: 80 },
  /** IOTLB enable. */
  I: bit(96),
  /** Suppress repeated IO page fault events. */
  SE: bit(97),
  /** Suppress all IO page fault events (Linux `DEV_ENTRY_NO_PAGE_FAULT` 0x62). */
  SA: bit(98),
  /** Port I/O control: 00 abort, 01 forward, 10 translate. */
  IoCtl: { hi: 100, lo: 99 },
  Cache: bit(101),
  SD: bit(102),
  /** Allow the exclusion range. */
  EX: bit(103),
  /** System management: 00 abort, 01 forward all, 10 forward INT / translate rest, 11 translate. */
  SysMgt: { hi: 105, lo: 104 },
  SATS: bit(106),
  /** GCR3 table root pointer bits 51:31. */
  GCR3_51_31: { hi: 127, lo: 107 },
  /** Interrupt map valid (Linux `DTE_IRQ_REMAP_ENABLE`). */
  IV: bit(128),
  /** The table holds 2^IntTabLen IRTEs (Linux `DTE_INTTABLEN_*`: 9 or 11). */
  IntTabLen: { hi: 132, lo: 129 },
  /** Ignore unmapped interrupts: suppress interrupt-remapping fault events. */
  IG: bit(133),
  /** Interrupt table root, address bits 51:6 (Linux `DTE_IRQ_PHYS_ADDR_MASK`). */
  IntTabRootPtr: { hi: 179, lo: 134 },
  /** Guest paging mode: 00 4-level, 01 5-level (Linux `DTE_GPT_LEVEL`). */
  GuestPagingMode: { hi: 183, lo: 182 },
  InitPass: bit(184),
  EIntPass: bit(185),
  NMIPass: bit(186),
  HptModeHint: bit(187),
  /** 00 target-abort fixed/arbitrated interrupts, 01 forward, 10 remap, 11 reserved. */
  IntCtl: { hi: 189, lo: 188 },
  Lint0Pass: bit(190),
  Lint1Pass: bit(191),
  AttrV: bit(246),
  Mode0FC: bit(247),
  SnoopAttr: { hi: 255, lo: 248 },
} as const;

/** The DTE layout (sheet §3.1): fields plus reserved ranges 3:2, 6:4, 63, 181:180, 245:192. */
export const DTE_LAYOUT = defineRecord('AMD-Vi DTE', 256, DTE_FIELDS, [
    { hi: 3, lo: 2 },
    { hi: 6, lo: 4 },
    { hi: 63, lo: 63 },
    { hi: 181, lo: 180 },
    { hi: 245, lo: 192 },
]);

/** A decoded DTE: every field, plus `reserved` bits in place (`ignored` is always 0n: every bit is named or reserved). */
export type Dte = DecodedRecord<typeof DTE_FIELDS>;

/** Decode a 256-bit DTE. Never throws: bits above 255 are dropped. */
export function decodeDte(raw: bigint): Dte {
  return DTE_LAYOUT.decode(raw);
}

/**
 * Encode a DTE; `reserved` (in place) is OR-ed in so that `encodeDte(decodeDte(x)) === x`.
 * @throws RangeError when a field does not fit or `reserved` lies outside the reserved ranges.
 */
export function encodeDte(dte: RecordInput<typeof DTE_FIELDS>): bigint {
  return DTE_LAYOUT.encode(dte);
}

/** Reserved bits of qwords 0–1 (127:0): set with V=1 → ILLEGAL_DEV_TABLE_ENTRY (sheet §3.3). */
export const DTE_LOW_RESERVED_MASK = DTE_LAYOUT.layout.reservedMask & maskOf(128);
/** Reserved bits of qwords 2–3 (255:128): set with IV=1 → ILLEGAL_DEV_TABLE_ENTRY (sheet §3.3). */
export const DTE_HIGH_RESERVED_MASK = DTE_LAYOUT.layout.reservedMask & (maskOf(128) << 128n);

/** Host page-table root address in bytes (PtRoot << 12). */
export function dtePageTableRoot(dte: Dte): bigint {
  return BigInt(dte.PtRoot) << 12n;
}

/** Interrupt remapping table address in bytes (IntTabRootPtr << 6). */
export function dteInterruptTableRoot(dte: Dte): bigint {
  return BigInt(dte.IntTabRootPtr) << 6n;
}

/** GCR3 table root pointer in bytes, from its three pieces (bits 51:12). */
export function dteGcr3Root(dte: Dte): bigint {
  return (BigInt(dte.GCR3_51_31) << 31n) | (BigInt(dte.GCR3_30_15) << 15n) | (BigInt(dte.GCR3_14_12) << 12n);
}

/** Number of IRTEs the DTE's table holds: 2^IntTabLen (Linux `DTE_INTTABLEN_VALUE_512` = 9 → 512). */
export function dteInterruptTableEntries(dte: Dte): number {
  return 2 ** dte.IntTabLen;
}

/** IntCtl encodings (VirtualBox `IOMMU_INTR_CTRL_*`; QEMU `AMDVI_IR_INTCTL_*`). */
export const INT_CTL = Object.freeze({ TARGET_ABORT: 0, FORWARD: 1, REMAP: 2, RESERVED: 3 } as const);

/** SysMgt encodings (sheet §3.1). */
export const SYS_MGT = Object.freeze({ ABORT: 0, FORWARD_ALL: 1, FORWARD_INT_TRANSLATE_REST: 2, TRANSLATE: 3 } as const);

/** Address of the DTE for `deviceId`: device table base (register bits 51:12) + 32 · deviceId, in bytes. */
export function dteAddress(deviceTableBase: bigint, deviceId: number): bigint {
  return deviceTableAddress(deviceTableBase) + BigInt(deviceId) * BigInt(DTE_BYTES);
}

/**
 * True when the device table of Device Table Base `deviceTableBase` ((Size+1)·4 KiB) holds a
 * DTE for `deviceId`: 32 · (deviceId + 1) ≤ table bytes. A request from a DeviceID beyond the
 * table is an IO_PAGE_FAULT with target abort in VirtualBox (sheet §3.3); QEMU reads anyway.
 */
export function deviceIdInTable(deviceTableBase: bigint, deviceId: number): boolean {
  return BigInt(deviceId + 1) * BigInt(DTE_BYTES) <= deviceTableBytes(deviceTableBase);
}
