/**
 * The IVRS walker shared by the raw-table parser (`parse-binary.ts`) and the iasl-text parser
 * (`parse-dsl.ts`): both wrap their input in a {@link TableSource} that answers "the N-byte field
 * at table offset O", and this module walks the table layout over it. One walk for both forms is
 * what makes the two models equal; the sources differ only in where the bytes come from and how an
 * error is located (byte offset for raw input, line for text).
 *
 * Layout and walk rules: Linux `drivers/iommu/amd/init.c` (`IVRS_HEADER_LENGTH` 48,
 * `get_ivhd_header_size`, `ivhd_entry_length`, `init_iommu_from_acpi`, `init_memory_definitions`),
 * ACPICA `include/acpi/actbl2.h`; fact sheet /work/shared/reference/amdvi-facts.md §1. Unlike Linux,
 * which trusts the lengths, every length is checked against its container before it is used, and a
 * zero length (which would never advance) is refused.
 */
import {
  DATA_SETTING_LAYOUT,
  IVHD10_FEATURES_LAYOUT,
  IVHD11_ATTRIBUTES_LAYOUT,
  IVHD_FLAGS_LAYOUT,
  IVHD_INFO_LAYOUT,
  IVINFO_LAYOUT,
  IVMD_FLAGS_LAYOUT,
  fixedEntryLength,
  ivhdHeaderLength,
  subtableName,
  type DataSetting,
  type DeviceEntry,
  type Ivhd,
  type IvrsHeader,
  type IvrsTable,
  type Ivmd,
  type UnknownSubtable,
} from './model.ts';

/** Size of the IVRS header: ACPI header, IVinfo, 8 reserved bytes (Linux `IVRS_HEADER_LENGTH`). */
export const IVRS_HEADER_LENGTH = 48;
/** Size of an IVMD block (ACPICA `acpi_ivrs_memory`). */
export const IVMD_LENGTH = 32;
/** Fixed part of an ACPI_HID (F0h) device entry before its UID (Linux `ivhd_entry_length`). */
export const ACPI_HID_FIXED_LENGTH = 22;

/**
 * Table bytes by offset. `what` names the field for messages. Implementations throw the project's
 * InputError (file plus byte offset or line) when the field is not there.
 */
export interface TableSource {
  /** Unsigned little-endian integer of `width` bytes at `offset`. */
  int(offset: number, width: 1 | 2 | 4 | 8, what: string): bigint;
  /** `width` raw bytes at `offset` (strings, IDs). */
  blob(offset: number, width: number, what: string): Uint8Array;
  /** Lower-case hex of `width` bytes at `offset`, or null when the source cannot give them. */
  rawHex(offset: number, width: number): string | null;
  /** Throw an InputError about the structure at `offset`; `field` already names structure, offset and field. */
  fail(offset: number, field: string, message: string): never;
}

function hexOff(n: number): string {
  return `0x${n.toString(16)}`;
}

/** An ACPI ID string the way iasl prints it: up to the first NUL, non-printable bytes as spaces. */
export function acpiIdString(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    if (b === 0) break;
    s += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : ' ';
  }
  return s;
}

function leBig(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

const u = (src: TableSource, off: number, width: 1 | 2 | 4, what: string): number => Number(src.int(off, width, what));

function decodeHeader(src: TableSource): IvrsHeader {
  return {
    signature: acpiIdString(src.blob(0, 4, 'header: Signature')),
    length: u(src, 4, 4, 'header: Table Length'),
    revision: u(src, 8, 1, 'header: Revision'),
    checksum: u(src, 9, 1, 'header: Checksum'),
    oemId: acpiIdString(src.blob(10, 6, 'header: Oem ID')),
    oemTableId: acpiIdString(src.blob(16, 8, 'header: Oem Table ID')),
    oemRevision: u(src, 24, 4, 'header: Oem Revision'),
    creatorId: acpiIdString(src.blob(28, 4, 'header: Asl Compiler ID')),
    creatorRevision: u(src, 32, 4, 'header: Asl Compiler Revision'),
  };
}

function setting(raw: number): DataSetting {
  return { ...DATA_SETTING_LAYOUT.decode(BigInt(raw)), raw };
}

// Linux builds the UID string like this in init_iommu_from_acpi (IVHD_DEV_ACPI_HID).
function uidText(bytes: Uint8Array, format: number): string | null {
  if (format === 1) return leBig(bytes).toString(10);
  if (format === 2) {
    const nul = bytes.indexOf(0);
    return Buffer.from(nul < 0 ? bytes : bytes.subarray(0, nul)).toString('latin1');
  }
  return null;
}

/** Decode the device entry at `p` (inside an IVHD ending at `stop`) and return it. */
function decodeEntry(src: TableSource, p: number, stop: number, owner: string): DeviceEntry {
  const where = `${owner}: device entry at offset ${hexOff(p)}`;
  const type = u(src, p, 1, `${where}: type`);
  const th = `0x${type.toString(16).padStart(2, '0')}`;
  let length = fixedEntryLength(type);
  if (length === undefined) {
    if (type !== 0xf0) {
      src.fail(p, `${where}: type`, `reserved device entry type ${th} (80h and above) has no known length (Linux ivhd_entry_length gives 0), so the rest of the IVHD cannot be walked`);
    }
    if (stop - p < ACPI_HID_FIXED_LENGTH) {
      src.fail(p, `${where}: length`, `only ${stop - p} bytes left in the IVHD, an ACPI_HID entry needs at least ${ACPI_HID_FIXED_LENGTH}`);
    }
    length = ACPI_HID_FIXED_LENGTH + u(src, p + 21, 1, `${where}: UID Length`);
  }
  if (p + length > stop) {
    src.fail(p, `${where}: length`, `type ${th} entry of ${length} bytes runs past the end of the IVHD at offset ${hexOff(stop)}`);
  }
  const base = { offset: p, type, length };
  if (type === 0x00 || type === 0x40) return { ...base, kind: 'pad' };
  const known = type === 0x01 || type === 0x02 || type === 0x03 || type === 0x04 || type === 0x42 || type === 0x43 || type === 0x46 || type === 0x47 || type === 0x48 || type === 0xf0;
  if (!known) return { ...base, kind: 'reserved', rawHex: src.rawHex(p, length) };
  const dev = { ...base, deviceId: u(src, p + 1, 2, `${where}: Device ID`), setting: setting(u(src, p + 3, 1, `${where}: Data Setting`)) };
  switch (type) {
    case 0x01:
      return { ...dev, kind: 'all' };
    case 0x02:
      return { ...dev, kind: 'select' };
    case 0x03:
      return { ...dev, kind: 'range-start' };
    case 0x04:
      return { ...dev, kind: 'range-end' };
    case 0x42:
    case 0x43:
      return { ...dev, kind: type === 0x42 ? 'alias-select' : 'alias-range-start', sourceId: u(src, p + 5, 2, `${where}: Source Used Device ID`) };
    case 0x46:
    case 0x47:
      return { ...dev, kind: type === 0x46 ? 'ext-select' : 'ext-range-start', extendedSetting: u(src, p + 4, 4, `${where}: Extended Data`) };
    case 0x48:
      return {
        ...dev,
        kind: 'special',
        handle: u(src, p + 4, 1, `${where}: Handle`),
        sourceId: u(src, p + 5, 2, `${where}: Source Used Device ID`),
        variety: u(src, p + 7, 1, `${where}: Variety`),
      };
    default: {
      const uidFormat = u(src, p + 20, 1, `${where}: UID Format`);
      const uidLength = length - ACPI_HID_FIXED_LENGTH;
      const uid = uidText(uidLength > 0 ? src.blob(p + 22, uidLength, `${where}: UID`) : new Uint8Array(0), uidFormat);
      return {
        ...dev,
        kind: 'acpi-hid',
        hid: acpiIdString(src.blob(p + 4, 8, `${where}: ACPI HID`)),
        cid: leBig(src.blob(p + 12, 8, `${where}: ACPI CID`)),
        uidFormat,
        uidLength,
        uid,
      };
    }
  }
}

function decodeIvhd(src: TableSource, off: number, type: 0x10 | 0x11 | 0x40, length: number, owner: string): Ivhd {
  const flags = u(src, off + 1, 1, `${owner}: Flags`);
  const info = u(src, off + 18, 2, `${owner}: IOMMU info`);
  const featureWord = u(src, off + 20, 4, `${owner}: ${type === 0x10 ? 'Feature Reporting' : 'Attributes'}`);
  const head = {
    offset: off,
    type,
    length,
    flags: { ...IVHD_FLAGS_LAYOUT.decode(BigInt(flags)), raw: flags },
    deviceId: u(src, off + 4, 2, `${owner}: DeviceId`),
    capabilityOffset: u(src, off + 6, 2, `${owner}: Capability Offset`),
    baseAddress: src.int(off + 8, 8, `${owner}: Base Address`),
    segment: u(src, off + 16, 2, `${owner}: PCI Segment Group`),
    info: { ...IVHD_INFO_LAYOUT.decode(BigInt(info)), raw: info },
    featureWord,
  };
  const extra =
    type === 0x10
      ? { features: IVHD10_FEATURES_LAYOUT.decode(BigInt(featureWord)) }
      : {
          attributes: IVHD11_ATTRIBUTES_LAYOUT.decode(BigInt(featureWord)),
          efrImage: src.int(off + 24, 8, `${owner}: EFR Image`),
          efr2Image: src.int(off + 32, 8, `${owner}: EFR2 Image (Reserved)`),
        };
  const entries: DeviceEntry[] = [];
  const stop = off + length;
  for (let p = off + ivhdHeaderLength(type); p < stop; ) {
    const e = decodeEntry(src, p, stop, owner);
    entries.push(e);
    p += e.length;
  }
  return { ...head, ...extra, entries };
}

function decodeIvmd(src: TableSource, off: number, type: 0x20 | 0x21 | 0x22, length: number, owner: string): Ivmd {
  const flags = u(src, off + 1, 1, `${owner}: Flags`);
  return {
    offset: off,
    type,
    length,
    flags: { ...IVMD_FLAGS_LAYOUT.decode(BigInt(flags)), raw: flags },
    deviceId: u(src, off + 4, 2, `${owner}: DeviceId`),
    auxData: u(src, off + 6, 2, `${owner}: Auxiliary Data`),
    reserved: src.int(off + 8, 8, `${owner}: Reserved`),
    startAddress: src.int(off + 16, 8, `${owner}: Start Address`),
    memoryLength: src.int(off + 24, 8, `${owner}: Memory Length`),
  };
}

/**
 * Walk a whole IVRS table whose declared length is `end` bytes (the caller has checked the
 * signature, that `end` ≥ 48 and, where it can, the length and checksum).
 *
 * @returns the model; subtables of unknown type and reserved device entries are kept and skipped.
 * @throws InputError (through `src`) when fewer than 4 bytes remain for a subtable header, a
 *   subtable is shorter than its type's fixed size (so also for length 0) or runs past the table,
 *   a device entry runs past its IVHD, an ACPI_HID entry is cut short, or a device entry has a
 *   reserved type of 80h or above (no length to skip it by). Always terminates: every step
 *   advances by at least 4 bytes.
 */
export function decodeIvrs(src: TableSource, end: number): IvrsTable {
  const header = decodeHeader(src);
  const ivinfoRaw = u(src, 36, 4, 'header: Virtualization Info (IVinfo)');
  const reserved = src.int(40, 8, 'header: Reserved');
  const ivhd: Ivhd[] = [];
  const ivmd: Ivmd[] = [];
  const unknown: UnknownSubtable[] = [];
  for (let off = IVRS_HEADER_LENGTH; off < end; ) {
    if (end - off < 4) {
      src.fail(off, `subtable at offset ${hexOff(off)}: header`, `only ${end - off} bytes left before the table end, a subtable header needs 4`);
    }
    const type = u(src, off, 1, `subtable at offset ${hexOff(off)}: type`);
    const owner = `${subtableName(type)} at offset ${hexOff(off)}`;
    const length = u(src, off + 2, 2, `${owner}: Length`);
    const isIvhd = type === 0x10 || type === 0x11 || type === 0x40;
    const isIvmd = type === 0x20 || type === 0x21 || type === 0x22;
    const min = isIvhd ? ivhdHeaderLength(type) : isIvmd ? IVMD_LENGTH : 4;
    if (length < min) src.fail(off, `${owner}: Length`, `length ${length} is less than the ${min} bytes this subtable needs`);
    if (off + length > end) src.fail(off, `${owner}: Length`, `length ${length} runs past the end of the table (${end} bytes)`);
    if (isIvhd) ivhd.push(decodeIvhd(src, off, type, length, owner));
    else if (isIvmd) ivmd.push(decodeIvmd(src, off, type, length, owner));
    else unknown.push({ offset: off, type, length, rawHex: src.rawHex(off, length) });
    off += length;
  }
  return { header, ivinfo: { ...IVINFO_LAYOUT.decode(BigInt(ivinfoRaw)), raw: ivinfoRaw }, reserved, ivhd, ivmd, unknown };
}
