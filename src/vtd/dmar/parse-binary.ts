/**
 * Decoder for the raw ACPI DMAR table, as read from `/sys/firmware/acpi/tables/DMAR` or written by
 * `acpidump -b`.
 *
 * Layouts: Intel VT-d specification chapter 8 "BIOS Considerations"; structure and field names from
 * Linux `include/acpi/actbl1.h` (`acpi_table_dmar`, `acpi_dmar_hardware_unit`, `acpi_dmar_device_scope`,
 * …) and the walk in `drivers/iommu/intel/dmar.c` (`dmar_walk_remapping_entries`), which likewise
 * refuses a zero-length structure and one running past the table end.
 */

import { InputError } from '../../io/input-error.ts';
import { requesterId } from '../../pci/bdf.ts';
import {
  decodeDmarFlags,
  STRUCTURE_TYPES,
  type Andd,
  type Atsr,
  type DeviceScope,
  type DmarHeader,
  type DmarTable,
  type Drhd,
  type PciPathElement,
  type Rhsa,
  type Rmrr,
  type Satc,
  type Sidp,
  type UnknownStructure,
} from './model.ts';

/** The phrase every AMD IVRS rejection carries; tests and callers match on it. */
export const IVRS_NOT_SUPPORTED = 'AMD IVRS is not supported yet';

/** Size of the ACPI header plus the DMAR-specific fields (width, flags, 10 reserved bytes). */
export const DMAR_HEADER_LENGTH = 48;

/** Where an error is reported: the file, and for text input the line that produced the bytes. */
export interface ErrorSite {
  readonly file: string;
  readonly line?: number;
}

/** The model while it is being built: the same arrays, mutable. */
export interface DmarBuilder {
  drhd: Drhd[];
  rmrr: Rmrr[];
  atsr: Atsr[];
  rhsa: Rhsa[];
  andd: Andd[];
  satc: Satc[];
  sidp: Sidp[];
  unknown: UnknownStructure[];
}

/** An empty {@link DmarBuilder}. */
export function newDmarBuilder(): DmarBuilder {
  return { drhd: [], rmrr: [], atsr: [], rhsa: [], andd: [], satc: [], sidp: [], unknown: [] };
}

function hexOff(n: number): string {
  return `0x${n.toString(16)}`;
}

function fail(site: ErrorSite, field: string, message: string): never {
  throw new InputError(message, { file: site.file, field, ...(site.line === undefined ? {} : { line: site.line }) });
}

/** Bounds-checked little-endian reads over the table; every read is inside [0, bytes.length). */
class Bytes {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u8(o: number): number {
    return this.view.getUint8(o);
  }
  u16(o: number): number {
    return this.view.getUint16(o, true);
  }
  u32(o: number): number {
    return this.view.getUint32(o, true);
  }
  u64(o: number): bigint {
    return this.view.getBigUint64(o, true);
  }
  hex(o: number, n: number): string {
    return Buffer.from(this.bytes.subarray(o, o + n)).toString('hex');
  }
}

// An ACPI ID string the way iasl shows it, so that the binary and text forms agree: stop at the
// first NUL, show non-printable bytes as spaces.
function acpiIdString(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    if (b === 0) break;
    s += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : ' ';
  }
  return s;
}

// Device-scope list occupying [start, end) of structure `owner` (VT-d §8.3.1). Rejects an entry
// shorter than 6 bytes (a zero length would never advance), half a path element, an entry past
// `end`, and a hop that is not a PCI device/function (requesterId() would throw RangeError).
function decodeDeviceScopes(b: Bytes, start: number, end: number, owner: string, site: ErrorSite): DeviceScope[] {
  const scopes: DeviceScope[] = [];
  let off = start;
  while (off < end) {
    const where = `${owner}: device scope at offset ${hexOff(off)}`;
    if (end - off < 6) fail(site, `${where}: length`, `only ${end - off} bytes left, a device scope needs at least 6`);
    const length = b.u8(off + 1);
    if (length < 6) fail(site, `${where}: length`, `length ${length} is less than the 6-byte device scope header`);
    if ((length - 6) % 2 !== 0) fail(site, `${where}: length`, `length ${length} leaves half a (device, function) path element`);
    if (off + length > end) {
      fail(site, `${where}: length`, `length ${length} runs past the end of the structure at offset ${hexOff(end)}`);
    }
    const path: PciPathElement[] = [];
    for (let p = off + 6; p < off + length; p += 2) {
      const device = b.u8(p);
      const fn = b.u8(p + 1);
      if (device > 0x1f || fn > 7) {
        fail(site, `${where}: path at offset ${hexOff(p)}`, `device ${hexOff(device)} / function ${fn} is not a PCI device/function`);
      }
      path.push({ device, fn });
    }
    const startBus = b.u8(off + 5);
    const first = path[0];
    const scope: DeviceScope = {
      offset: off,
      type: b.u8(off),
      length,
      flags: b.u8(off + 2),
      enumerationId: b.u8(off + 4),
      startBus,
      path,
      ...(path.length === 1 && first ? { requesterId: requesterId(startBus, first.device, first.fn) } : {}),
    };
    scopes.push(scope);
    off += length;
  }
  return scopes;
}

interface StructureDecoder {
  /** Bytes needed before the device scopes / variable part. */
  readonly fixedLength: number;
  decode(b: Bytes, off: number, length: number, into: DmarBuilder, owner: string, site: ErrorSite): void;
}

// One entry per known structure type: the fixed part's size and how to decode it. A table rather
// than a switch so that a structure added by a later VT-d revision (as SATC and SIDP were) is one entry.
const DECODERS: Readonly<Record<number, StructureDecoder>> = {
  0: {
    fixedLength: 16,
    decode(b, off, length, into, owner, site) {
      const flags = b.u8(off + 4);
      const size = b.u8(off + 5) & 0x0f;
      into.drhd.push({
        offset: off,
        length,
        flags,
        includePciAll: (flags & 1) !== 0,
        size,
        registerSetBytes: 4096 * 2 ** size,
        segment: b.u16(off + 6),
        registerBase: b.u64(off + 8),
        scopes: decodeDeviceScopes(b, off + 16, off + length, owner, site),
      });
    },
  },
  1: {
    fixedLength: 24,
    decode(b, off, length, into, owner, site) {
      into.rmrr.push({
        offset: off,
        length,
        segment: b.u16(off + 6),
        base: b.u64(off + 8),
        limit: b.u64(off + 16),
        scopes: decodeDeviceScopes(b, off + 24, off + length, owner, site),
      });
    },
  },
  2: {
    fixedLength: 8,
    decode(b, off, length, into, owner, site) {
      const flags = b.u8(off + 4);
      into.atsr.push({
        offset: off,
        length,
        flags,
        allPorts: (flags & 1) !== 0,
        segment: b.u16(off + 6),
        scopes: decodeDeviceScopes(b, off + 8, off + length, owner, site),
      });
    },
  },
  3: {
    fixedLength: 20,
    decode(b, off, length, into) {
      into.rhsa.push({ offset: off, length, registerBase: b.u64(off + 8), proximityDomain: b.u32(off + 16) });
    },
  },
  4: {
    fixedLength: 8,
    decode(b, off, length, into) {
      const name = b.bytes.subarray(off + 8, off + length);
      const nul = name.indexOf(0);
      into.andd.push({
        offset: off,
        length,
        acpiDeviceNumber: b.u8(off + 7),
        objectName: Buffer.from(nul < 0 ? name : name.subarray(0, nul)).toString('latin1'),
      });
    },
  },
  5: {
    fixedLength: 8,
    decode(b, off, length, into, owner, site) {
      const flags = b.u8(off + 4);
      into.satc.push({
        offset: off,
        length,
        flags,
        atcRequired: (flags & 1) !== 0,
        segment: b.u16(off + 6),
        scopes: decodeDeviceScopes(b, off + 8, off + length, owner, site),
      });
    },
  },
  6: {
    fixedLength: 8,
    decode(b, off, length, into, owner, site) {
      into.sidp.push({ offset: off, length, segment: b.u16(off + 6), scopes: decodeDeviceScopes(b, off + 8, off + length, owner, site) });
    },
  },
};

/** Bytes a structure of `type` needs before its variable part (4, the bare header, for unknown types). */
export function structureFixedLength(type: number): number {
  return DECODERS[type]?.fixedLength ?? 4;
}

/** Short name of a structure type for messages: `DRHD`, …, or `type 0x7`. */
export function structureName(type: number): string {
  return (STRUCTURE_TYPES as Record<number, string>)[type] ?? `type ${hexOff(type)}`;
}

/**
 * Decode the remapping structure starting at `off` of `bytes` (a whole table image, so offsets in
 * the model and in messages are table offsets) into `into`, and return its length.
 * @throws InputError (field `"<NAME> at offset 0x..: length"`) when fewer than 4 bytes remain, the
 *   length is below the type's fixed size (so also for 0, which would never advance), or it runs
 *   past `end`; and for malformed device scopes.
 */
export function decodeStructureAt(bytes: Uint8Array, off: number, end: number, into: DmarBuilder, site: ErrorSite): number {
  const b = new Bytes(bytes);
  if (end - off < 4) {
    fail(site, `structure at offset ${hexOff(off)}: header`, `only ${end - off} bytes left, a structure header needs 4`);
  }
  const type = b.u16(off);
  const length = b.u16(off + 2);
  const owner = `${structureName(type)} at offset ${hexOff(off)}`;
  const decoder = DECODERS[type];
  const min = structureFixedLength(type);
  if (length < min) fail(site, `${owner}: length`, `length ${length} is less than the ${min} bytes this structure needs`);
  if (off + length > end) {
    fail(site, `${owner}: length`, `length ${length} runs past the end of the table (${end} bytes)`);
  }
  if (decoder) decoder.decode(b, off, length, into, owner, site);
  else into.unknown.push({ offset: off, type, length, rawHex: b.hex(off, length) });
  return length;
}

// The 36-byte ACPI header; the caller has checked there are at least 48 bytes.
function decodeHeader(bytes: Uint8Array): DmarHeader {
  const b = new Bytes(bytes);
  return {
    signature: Buffer.from(bytes.subarray(0, 4)).toString('latin1'),
    length: b.u32(4),
    revision: b.u8(8),
    checksum: b.u8(9),
    oemId: acpiIdString(bytes.subarray(10, 16)),
    oemTableId: acpiIdString(bytes.subarray(16, 24)),
    oemRevision: b.u32(24),
    creatorId: acpiIdString(bytes.subarray(28, 32)),
    creatorRevision: b.u32(32),
  };
}

/**
 * Parse a raw DMAR table.
 *
 * @param bytes the table exactly as the firmware provides it (header included, nothing after it).
 * @param file  name used in error messages.
 * @returns the model; structures of unknown type are kept in `unknown` with their bytes.
 * @throws InputError (with `file` and a `field` naming the byte offset) when the signature is not
 *   "DMAR" (the IVRS message for an AMD table), the data is shorter than the 48-byte header, the
 *   header length differs from the data length, the 8-bit checksum is not 0, or a structure or
 *   device scope is malformed. Always terminates: each step advances by a length of at least 4.
 */
export function parseDmarBinary(bytes: Uint8Array, file: string): DmarTable {
  const site: ErrorSite = { file };
  const sig = Buffer.from(bytes.subarray(0, 4)).toString('latin1');
  if (sig === 'IVRS') fail(site, 'header at offset 0x0: signature', `${IVRS_NOT_SUPPORTED} as a DMAR (this is an AMD-Vi table, not an Intel DMAR: read it with remapsim import ivrs, or name it as platform.ivrs in a scenario)`);
  if (sig !== 'DMAR') fail(site, 'header at offset 0x0: signature', `expected "DMAR", found ${JSON.stringify(sig)}`);
  if (bytes.length < DMAR_HEADER_LENGTH) {
    fail(site, `header at offset ${hexOff(bytes.length)}: length`, `truncated: ${bytes.length} bytes, the DMAR header alone is ${DMAR_HEADER_LENGTH}`);
  }
  const header = decodeHeader(bytes);
  if (header.length !== bytes.length) {
    const what = header.length > bytes.length ? 'truncated' : 'trailing data';
    fail(site, 'header at offset 0x4: length', `${what}: header says ${header.length} bytes, the data has ${bytes.length}`);
  }
  let sum = 0;
  for (const x of bytes) sum = (sum + x) & 0xff;
  if (sum !== 0) {
    fail(site, 'header at offset 0x9: checksum', `bytes sum to ${hexOff(sum)} mod 256, not 0 (checksum byte is ${hexOff(header.checksum)})`);
  }
  const into = newDmarBuilder();
  for (let off = DMAR_HEADER_LENGTH; off < bytes.length; ) off += decodeStructureAt(bytes, off, bytes.length, into, site);
  return { header, hostAddressWidth: bytes[36]! + 1, flags: decodeDmarFlags(bytes[37]!), ...into };
}
