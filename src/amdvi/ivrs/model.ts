/**
 * The parsed form of an ACPI IVRS (I/O Virtualization Reporting Structure) table, AMD-Vi's
 * counterpart of the Intel DMAR.
 *
 * Layout sources: AMD I/O Virtualization Technology spec 48882 §5 as implemented by Linux
 * `drivers/iommu/amd/init.c` (`struct ivhd_header`, `struct ivhd_entry`, `struct ivmd_header`,
 * `init_iommu_from_acpi`, `ivhd_entry_length`, `get_ivhd_header_size`), ACPICA
 * `include/acpi/actbl2.h` (`acpi_ivrs_*`) and VirtualBox `include/VBox/iommu-amd.h`
 * (`ACPI_IVHD_*`, `ACPI_IVRS_*`); fact sheet /work/shared/reference/amdvi-facts.md §1.
 *
 * Both parsers (`parse-binary.ts` for the raw table, `parse-dsl.ts` for iasl text) feed the same
 * walker (`decode.ts`) and so produce this model. 64-bit values are `bigint`; everything narrower
 * is `number`. Every `offset` is a byte offset from the start of the table. Device IDs are 16-bit
 * PCI requester IDs (bus [15:8], device [7:3], function [2:0]) within the IVHD's PCI segment.
 */
import { defineLayout } from '../../bits/layout.ts';

/** The 36-byte ACPI header (ACPI spec §5.2.6); strings as iasl shows them (up to the first NUL). */
export interface IvrsHeader {
  readonly signature: string;
  /** Whole table length in bytes, as declared. */
  readonly length: number;
  /** 1 = fixed format (IVHD 10h/11h only), 2 = mixed format (VirtualBox `ACPI_IVRS_FMT_REV_*`). */
  readonly revision: number;
  readonly checksum: number;
  readonly oemId: string;
  readonly oemTableId: string;
  readonly oemRevision: number;
  readonly creatorId: string;
  readonly creatorRevision: number;
}

/** IVinfo (table bytes 36..39; fact sheet §1.1: ACPICA `ACPI_IVRS_*`, VirtualBox, Linux `IOMMU_IVINFO_*`). */
export const IVINFO_LAYOUT = defineLayout({
  name: 'IVRS IVinfo',
  width: 32,
  fields: {
    /** IVHD 11h/40h EFR images are valid (Linux `IOMMU_IVINFO_EFRSUP`). */
    EFRSup: { hi: 0, lo: 0 },
    /** Pre-boot DMA protection requested (Linux `IOMMU_IVINFO_DMA_REMAP`). */
    DmaRemap: { hi: 1, lo: 1 },
    /** Guest virtual address size (VirtualBox). */
    GVASize: { hi: 7, lo: 5 },
    /** Physical address size in bits (ACPICA `ACPI_IVRS_PHYSICAL_SIZE`). */
    PASize: { hi: 14, lo: 8 },
    /** Virtual address size in bits (ACPICA `ACPI_IVRS_VIRTUAL_SIZE`). */
    VASize: { hi: 21, lo: 15 },
    /** ATS response address range reserved (ACPICA `ACPI_IVRS_ATS_RESERVED`). */
    HtAtsResv: { hi: 22, lo: 22 },
  },
  reserved: [
    { hi: 4, lo: 2 },
    { hi: 31, lo: 23 },
  ],
});
export type IvInfo = ReturnType<typeof IVINFO_LAYOUT.decode> & { readonly raw: number };

/**
 * IVHD flags byte (VirtualBox `ACPI_IVHD_10H_F_*` / `ACPI_IVHD_11H_F_*`, ACPICA bits 0-4).
 * PrefSup and PPRSup are defined for type 10h only and reserved in 11h/40h, but firmware sets them
 * there too (all 7 shipped tables do), so they are decoded for every type.
 */
export const IVHD_FLAGS_LAYOUT = defineLayout({
  name: 'IVHD flags',
  width: 8,
  fields: {
    HtTunEn: { hi: 0, lo: 0 },
    PassPW: { hi: 1, lo: 1 },
    ResPassPW: { hi: 2, lo: 2 },
    Isoc: { hi: 3, lo: 3 },
    IotlbSup: { hi: 4, lo: 4 },
    Coherent: { hi: 5, lo: 5 },
    PrefSup: { hi: 6, lo: 6 },
    PPRSup: { hi: 7, lo: 7 },
  },
});
export type IvhdFlags = ReturnType<typeof IVHD_FLAGS_LAYOUT.decode> & { readonly raw: number };

/** IVHD "IOMMU info" (bytes 18..19; ACPICA `ACPI_IVHD_MSI_NUMBER_MASK`, `ACPI_IVHD_UNIT_ID_MASK`). */
export const IVHD_INFO_LAYOUT = defineLayout({
  name: 'IVHD IOMMU info',
  width: 16,
  fields: {
    /** MSI message number of the IOMMU's own interrupt. */
    MsiNum: { hi: 4, lo: 0 },
    /** HyperTransport unit ID. */
    UnitID: { hi: 12, lo: 8 },
  },
  reserved: [
    { hi: 7, lo: 5 },
    { hi: 15, lo: 13 },
  ],
});
export type IvhdInfo = ReturnType<typeof IVHD_INFO_LAYOUT.decode> & { readonly raw: number };

/** IVHD 10h "IOMMU feature reporting" (bytes 20..23; VirtualBox `ACPI_IOMMU_FEAT_BF_*`; fact sheet §1.2). */
export const IVHD10_FEATURES_LAYOUT = defineLayout({
  name: 'IVHD 10h feature reporting',
  width: 32,
  fields: {
    XTSup: { hi: 0, lo: 0 },
    NXSup: { hi: 1, lo: 1 },
    GTSup: { hi: 2, lo: 2 },
    GLXSup: { hi: 4, lo: 3 },
    IASup: { hi: 5, lo: 5 },
    /** 0 → Linux uses 32-bit IRTEs (`IOMMU_FEAT_GASUP_SHIFT`). */
    GASup: { hi: 6, lo: 6 },
    HESup: { hi: 7, lo: 7 },
    PASMax: { hi: 12, lo: 8 },
    PNCounters: { hi: 16, lo: 13 },
    PNBanks: { hi: 22, lo: 17 },
    MSINumPPR: { hi: 27, lo: 23 },
    GATS: { hi: 29, lo: 28 },
    HATS: { hi: 31, lo: 30 },
  },
});
export type Ivhd10Features = ReturnType<typeof IVHD10_FEATURES_LAYOUT.decode>;

/**
 * IVHD 11h/40h "IOMMU attributes" (bytes 20..23). HATDis (bit 0) from Linux
 * `IOMMU_IVHD_ATTR_HATDIS_SHIFT` and QEMU `build_amd_iommu` (old VirtualBox: bits 12:0 reserved);
 * the performance-counter and PPR MSI fields as VirtualBox `ACPI_IOMMU_ATTR_BF_*`.
 */
export const IVHD11_ATTRIBUTES_LAYOUT = defineLayout({
  name: 'IVHD 11h/40h attributes',
  width: 32,
  fields: {
    /** Host (v1) address translation disabled: Linux then uses no v1 page tables. */
    HATDis: { hi: 0, lo: 0 },
    PNCounters: { hi: 16, lo: 13 },
    PNBanks: { hi: 22, lo: 17 },
    MSINumPPR: { hi: 27, lo: 23 },
  },
  reserved: [
    { hi: 12, lo: 1 },
    { hi: 31, lo: 28 },
  ],
});
export type Ivhd11Attributes = ReturnType<typeof IVHD11_ATTRIBUTES_LAYOUT.decode>;

/**
 * Device-entry "data setting" byte: which interrupts pass untranslated and how system-management
 * messages are handled (ACPICA `ACPI_IVHD_*_PASS`, VirtualBox `ACPI_IVHD_DTE_*`). Linux copies them
 * into DTE bits 184 (INITPass), 185 (EIntPass), 186 (NMIPass), 105:104 (SysMgt), 190 (Lint0Pass) and
 * 191 (Lint1Pass) (`set_dev_entry_from_acpi_range`; fact sheet §1.4).
 */
export const DATA_SETTING_LAYOUT = defineLayout({
  name: 'IVHD device entry data setting',
  width: 8,
  fields: {
    INITPass: { hi: 0, lo: 0 },
    EIntPass: { hi: 1, lo: 1 },
    NMIPass: { hi: 2, lo: 2 },
    /** 00 abort, 01 forward all, 10 forward INT and translate the rest, 11 translate. */
    SysMgt: { hi: 5, lo: 4 },
    Lint0Pass: { hi: 6, lo: 6 },
    Lint1Pass: { hi: 7, lo: 7 },
  },
  reserved: [{ hi: 3, lo: 3 }],
});
export type DataSetting = ReturnType<typeof DATA_SETTING_LAYOUT.decode> & { readonly raw: number };

/** IVMD flags byte (ACPICA `ACPI_IVMD_*`; Linux `IVMD_FLAG_*`). */
export const IVMD_FLAGS_LAYOUT = defineLayout({
  name: 'IVMD flags',
  width: 8,
  fields: {
    Unity: { hi: 0, lo: 0 },
    /** "Readable": the identity map allows DMA reads. */
    IR: { hi: 1, lo: 1 },
    /** "Writeable": the identity map allows DMA writes. */
    IW: { hi: 2, lo: 2 },
    ExclusionRange: { hi: 3, lo: 3 },
  },
  reserved: [{ hi: 7, lo: 4 }],
});
export type IvmdFlags = ReturnType<typeof IVMD_FLAGS_LAYOUT.decode> & { readonly raw: number };

/** Device entry type numbers (Linux `IVHD_DEV_*`, ACPICA `ACPI_IVRS_TYPE_*`). */
export const DEVICE_ENTRY_TYPES = {
  0x00: 'pad4',
  0x01: 'all',
  0x02: 'select',
  0x03: 'range-start',
  0x04: 'range-end',
  0x40: 'pad8',
  0x42: 'alias-select',
  0x43: 'alias-range-start',
  0x46: 'ext-select',
  0x47: 'ext-range-start',
  0x48: 'special',
  0xf0: 'acpi-hid',
} as const;

/** Fields every device entry has: bytes 0 type, 1..2 device ID, 3 data setting (ACPICA `acpi_ivrs_de_header`). */
interface EntryBase {
  readonly offset: number;
  readonly type: number;
  /** Bytes: 4 for types 00h-3Fh, 8 for 40h-7Fh, 22 + UID length for F0h (Linux `ivhd_entry_length`). */
  readonly length: number;
}

interface WithDevice extends EntryBase {
  readonly deviceId: number;
  readonly setting: DataSetting;
}

/** 00h / 40h: 4- or 8-byte padding; carries nothing. */
export interface PadEntry extends EntryBase {
  readonly kind: 'pad';
}
/** 01h: every device ID of the segment (Linux: 0..last_bdf). Bytes 1..2 are reserved. */
export interface AllEntry extends WithDevice {
  readonly kind: 'all';
}
/** 02h: one device. */
export interface SelectEntry extends WithDevice {
  readonly kind: 'select';
}
/** 03h: first device of a range closed by the next 04h; the range uses this entry's setting. */
export interface RangeStartEntry extends WithDevice {
  readonly kind: 'range-start';
}
/** 04h: inclusive last device of the open range (its own setting is ignored by Linux). */
export interface RangeEndEntry extends WithDevice {
  readonly kind: 'range-end';
}
/** 42h / 43h: requests of `deviceId` (or of the range it starts) reach the IOMMU as `sourceId` (ACPICA `acpi_ivrs_device8a`). */
export interface AliasEntry extends WithDevice {
  readonly kind: 'alias-select' | 'alias-range-start';
  /** "Source Used Device ID", bytes 5..6. */
  readonly sourceId: number;
}
/**
 * 46h / 47h: select / range start with a 32-bit extended setting, bytes 4..7 (ACPICA
 * `acpi_ivrs_device8b`). Bit 31 = ATS disabled per ACPICA `ACPI_IVHD_ATS_DISABLED` and Xen; Linux
 * defines `ACPI_DEVFLAG_ATSDIS` as bit 28 and never applies it.
 */
export interface ExtendedEntry extends WithDevice {
  readonly kind: 'ext-select' | 'ext-range-start';
  readonly extendedSetting: number;
}
/**
 * 48h: an IOAPIC or HPET and the requester ID its interrupts carry (ACPICA `acpi_ivrs_device8c`).
 * Bytes 1..2 are 0 in every real table; byte 4 handle, 5..6 source device ID, 7 variety.
 */
export interface SpecialEntry extends WithDevice {
  readonly kind: 'special';
  /** IOAPIC ID (variety 1) or HPET number (variety 2). */
  readonly handle: number;
  readonly sourceId: number;
  /** 1 IOAPIC, 2 HPET (Linux `IVHD_SPECIAL_IOAPIC` / `IVHD_SPECIAL_HPET`); others kept as read. */
  readonly variety: number;
}
/** F0h: an ACPI namespace device by _HID/_CID/_UID (ACPICA `acpi_ivrs_device_hid`); Linux accepts it only in IVHD 40h. */
export interface AcpiHidEntry extends WithDevice {
  readonly kind: 'acpi-hid';
  /** Bytes 4..11 as an ACPI ID string (up to the first NUL), e.g. "AMDI0020". */
  readonly hid: string;
  /** Bytes 12..19 as a little-endian 64-bit value (0 = none; ASCII when it is a string ID). */
  readonly cid: bigint;
  /** Byte 20: 0 no UID, 1 integer, 2 string (Linux `UID_NOT_PRESENT`, `UID_IS_INTEGER`, `UID_IS_CHARACTER`). */
  readonly uidFormat: number;
  /** Byte 21: UID bytes that follow. */
  readonly uidLength: number;
  /** The UID as Linux builds it (`%d` of the little-endian integer, or the string up to a NUL); null for format 0 or an unknown format. */
  readonly uid: string | null;
}
/** A device entry of a reserved type (41h, 44h, 45h, 49h-7Fh, 05h-3Fh), sized by its type's high bits and skipped. */
export interface ReservedEntry extends EntryBase {
  readonly kind: 'reserved';
  /** The whole entry as lower-case hex, or null when the source is iasl text without a raw dump. */
  readonly rawHex: string | null;
}

export type DeviceEntry =
  | PadEntry
  | AllEntry
  | SelectEntry
  | RangeStartEntry
  | RangeEndEntry
  | AliasEntry
  | ExtendedEntry
  | SpecialEntry
  | AcpiHidEntry
  | ReservedEntry;

/** IVHD block, types 10h (24-byte header), 11h and 40h (40-byte header) (Linux `get_ivhd_header_size`). */
export interface Ivhd {
  readonly offset: number;
  readonly type: 0x10 | 0x11 | 0x40;
  readonly length: number;
  readonly flags: IvhdFlags;
  /** Requester ID of the IOMMU's own PCI function (usually bb:00.2). */
  readonly deviceId: number;
  /** Offset of the IOMMU capability block in that function's config space. */
  readonly capabilityOffset: number;
  /** MMIO register base (bytes 8..15). */
  readonly baseAddress: bigint;
  readonly segment: number;
  readonly info: IvhdInfo;
  /** Bytes 20..23 as read: feature reporting (10h) or attributes (11h/40h). */
  readonly featureWord: number;
  /** Type 10h only: decoded feature reporting. */
  readonly features?: Ivhd10Features;
  /** Types 11h/40h only: decoded attributes. */
  readonly attributes?: Ivhd11Attributes;
  /** Types 11h/40h only: the EFR image (bytes 24..31, = MMIO 0x30; ACPICA `efr_register_image`). */
  readonly efrImage?: bigint;
  /**
   * Types 11h/40h only: bytes 32..39. ACPICA and VirtualBox call them reserved; Linux
   * (`struct ivhd_header.efr_reg2`, `early_iommu_features_init`) reads them as the EFR2 image when
   * IVinfo.EFRSup is set. We follow Linux — it is what runs on these machines — and keep all 64 bits,
   * so a reader that follows ACPICA still finds them (0 in all 7 shipped tables).
   */
  readonly efr2Image?: bigint;
  readonly entries: readonly DeviceEntry[];
}

/** IVMD block, types 20h (all devices), 21h (one device), 22h (device range) — 32 bytes (ACPICA `acpi_ivrs_memory`). */
export interface Ivmd {
  readonly offset: number;
  readonly type: 0x20 | 0x21 | 0x22;
  readonly length: number;
  readonly flags: IvmdFlags;
  /** Bytes 4..5: the device (21h) or first device (22h); 0 for 20h. */
  readonly deviceId: number;
  /** Bytes 6..7: the inclusive last device for 22h; reserved otherwise. */
  readonly auxData: number;
  /**
   * Bytes 8..15 as read: reserved in ACPICA; Linux `struct ivmd_header` reads bytes 8..9 as the PCI
   * segment ({@link ivmdSegment}).
   */
  readonly reserved: bigint;
  /** Start of the range in bytes (Linux rounds it up to a page). */
  readonly startAddress: bigint;
  /** Length of the range in bytes. */
  readonly memoryLength: bigint;
}

/** A top-level subtable of a type this parser does not know (e.g. the T14's 32-byte type 51h), skipped. */
export interface UnknownSubtable {
  readonly offset: number;
  readonly type: number;
  readonly length: number;
  /** The whole subtable as lower-case hex, or null when the source is iasl text without a raw dump. */
  readonly rawHex: string | null;
}

/** A whole IVRS table; each list keeps table order. */
export interface IvrsTable {
  readonly header: IvrsHeader;
  readonly ivinfo: IvInfo;
  /** Bytes 40..47 as read (reserved). */
  readonly reserved: bigint;
  readonly ivhd: readonly Ivhd[];
  readonly ivmd: readonly Ivmd[];
  readonly unknown: readonly UnknownSubtable[];
}

/** Linux's segment of an IVMD: bytes 8..9 (`struct ivmd_header.pci_seg`). */
export function ivmdSegment(m: Ivmd): number {
  return Number(m.reserved & 0xffffn);
}

/** Short name of a top-level subtable type for messages: `IVHD 10h`, `IVMD 21h`, `type 0x51`. */
export function subtableName(type: number): string {
  const h = type.toString(16).padStart(2, '0');
  if (type === 0x10 || type === 0x11 || type === 0x40) return `IVHD ${h}h`;
  if (type >= 0x20 && type <= 0x22) return `IVMD ${h}h`;
  return `type 0x${h}`;
}

/** IVHD header size by type (Linux `get_ivhd_header_size`): 24 for 10h, 40 for 11h/40h. */
export function ivhdHeaderLength(type: 0x10 | 0x11 | 0x40): number {
  return type === 0x10 ? 24 : 40;
}

/**
 * Length of the device entry of `type` when it is fixed: `4 << (type >> 6)` for types below 80h
 * (Linux `ivhd_entry_length`); undefined for 80h and above (F0h's length is in its byte 21; the
 * others have none Linux knows).
 */
export function fixedEntryLength(type: number): number | undefined {
  return type < 0x80 ? 4 << (type >> 6) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Ranges as Linux applies them

/**
 * One set of device IDs with the data setting Linux applies to them (`init_iommu_from_acpi`): a
 * select, a closed range (start entry's setting, alias and extended setting), an alias, or "all".
 */
export interface DeviceRange {
  /** Offset of the entry that opened it. */
  readonly offset: number;
  readonly first: number;
  readonly last: number;
  readonly setting: DataSetting;
  /** For alias entries: the requester ID the devices' requests carry. */
  readonly aliasTo?: number;
  readonly extendedSetting?: number;
  readonly all?: true;
}

/** Result of {@link deviceRanges}: the ranges, and entries Linux would ignore (an end without a start, a start never closed). */
export interface DeviceRanges {
  readonly ranges: readonly DeviceRange[];
  readonly problems: readonly string[];
}

/**
 * Pair range starts with their ends and list every device set of `ivhd` as Linux
 * `init_iommu_from_acpi` does: 01h → 0000..FFFF, 02h/42h/46h → one ID, 03h/43h/47h + 04h → the
 * inclusive range with the start entry's setting (and alias / extended setting). Padding, special,
 * ACPI-HID and reserved entries are not device ranges. Never throws.
 */
export function deviceRanges(ivhd: Ivhd): DeviceRanges {
  const ranges: DeviceRange[] = [];
  const problems: string[] = [];
  let open: (AliasEntry | ExtendedEntry | RangeStartEntry) | undefined;
  const hex = (n: number): string => `0x${n.toString(16)}`;
  for (const e of ivhd.entries) {
    switch (e.kind) {
      case 'all':
        ranges.push({ offset: e.offset, first: 0, last: 0xffff, setting: e.setting, all: true });
        break;
      case 'select':
        ranges.push({ offset: e.offset, first: e.deviceId, last: e.deviceId, setting: e.setting });
        break;
      case 'alias-select':
        ranges.push({ offset: e.offset, first: e.deviceId, last: e.deviceId, setting: e.setting, aliasTo: e.sourceId });
        break;
      case 'ext-select':
        ranges.push({ offset: e.offset, first: e.deviceId, last: e.deviceId, setting: e.setting, extendedSetting: e.extendedSetting });
        break;
      case 'range-start':
      case 'alias-range-start':
      case 'ext-range-start':
        if (open) problems.push(`range start at offset ${hex(open.offset)} is not closed before the start at ${hex(e.offset)}`);
        open = e;
        break;
      case 'range-end': {
        if (!open) {
          problems.push(`range end at offset ${hex(e.offset)} has no start`);
          break;
        }
        const r: DeviceRange = {
          offset: open.offset,
          first: open.deviceId,
          last: e.deviceId,
          setting: open.setting,
          ...(open.kind === 'alias-range-start' ? { aliasTo: open.sourceId } : {}),
          ...(open.kind === 'ext-range-start' ? { extendedSetting: open.extendedSetting } : {}),
        };
        if (e.deviceId < open.deviceId) problems.push(`range at offset ${hex(open.offset)} ends (${hex(e.deviceId)}) before it starts (${hex(open.deviceId)})`);
        ranges.push(r);
        open = undefined;
        break;
      }
      default:
        break;
    }
  }
  if (open) problems.push(`range start at offset ${hex(open.offset)} has no end`);
  return { ranges, problems };
}

/**
 * The IVHD type Linux uses (`get_highest_supported_ivhd_type` in drivers/iommu/amd/init.c): walk
 * the subtables in table order from the first, stop at the first of type above 40h, and take the
 * type of the last one whose bytes 4..5 equal the first subtable's device ID. (Linux compares IVMDs
 * too, since their bytes 4..5 are also a device ID.) Undefined when the table has no subtable.
 * Never throws.
 */
export function linuxIvhdType(t: IvrsTable): number | undefined {
  type Sub = { offset: number; type: number; deviceId: number | undefined };
  const subs: Sub[] = [
    ...t.ivhd.map((h) => ({ offset: h.offset, type: h.type as number, deviceId: h.deviceId as number | undefined })),
    ...t.ivmd.map((m) => ({ offset: m.offset, type: m.type as number, deviceId: m.deviceId as number | undefined })),
    ...t.unknown.map((u) => ({
      offset: u.offset,
      type: u.type,
      deviceId: u.rawHex !== null && u.rawHex.length >= 12 ? parseInt(u.rawHex.slice(10, 12) + u.rawHex.slice(8, 10), 16) : undefined,
    })),
  ].sort((a, b) => a.offset - b.offset);
  const first = subs[0];
  if (!first) return undefined;
  let last = first.type;
  for (const s of subs) {
    if (s.type > 0x40) break;
    if (s.deviceId === first.deviceId) last = s.type;
  }
  return last;
}
