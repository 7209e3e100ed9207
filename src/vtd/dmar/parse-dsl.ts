/**
 * Parser for the iasl text form of a DMAR table (`iasl -d` / acpixtract output, as published by
 * linuxhw/ACPI and as printed by `acpidump | acpixtract; iasl -d dmar.dat`).
 *
 * iasl prints one line per field, prefixed by the field's byte offset (hex and decimal) and width:
 *
 *     [030h 0048   2]                Subtable Type : 0000 [Hardware Unit Definition]
 *     [038h 0056 008h]        Register Base Address : 00000000FED90000
 *
 * The primary path reads these decoded lines. Fields are located by their printed byte offset, not
 * by their label, because labels vary between iasl releases (DRHD byte 5 is "Reserved" in older
 * ones and "Size" in the VT-d 3.x+ layout) while the offsets are the table layout itself (VT-d
 * chapter 8; `include/acpi/actbl1.h`). The labels "Subtable Type" and "Device Scope Type" are still
 * checked, as a guard against misaligned input.
 *
 * iasl does not decode every structure: the releases behind the shipped files print SIDP (type 6)
 * as "Unknown Subtable Type" with only its type and length. Such a structure is decoded from the
 * "Raw Table Data" hex dump when the file has one, and kept in `unknown` with `rawHex: null`
 * otherwise.
 *
 * What the text cannot carry, so differs from parsing the `.bin`: ACPI ID strings are shown only up
 * to the first NUL with non-printable bytes as spaces (the binary parser decodes them the same way,
 * so the models agree), and the checksum cannot be verified because those strings are lossy; the
 * `checksum` field is the printed value.
 */

import { readIaslDump, type IaslField } from '../../io/iasl-lines.ts';
import { InputError } from '../../io/input-error.ts';
import { requesterId } from '../../pci/bdf.ts';
import {
  decodeDmarFlags,
  type DeviceScope,
  type DmarHeader,
  type DmarTable,
  type PciPathElement,
} from './model.ts';
import {
  DMAR_HEADER_LENGTH,
  IVRS_NOT_SUPPORTED,
  decodeStructureAt,
  newDmarBuilder,
  structureFixedLength,
  structureName,
  type DmarBuilder,
} from './parse-binary.ts';

/** One decoded field line. */
type Field = IaslField;

// Field and raw-dump lines are read by src/io/iasl-lines.ts (linear-time scanners, no regular expression).

function hexOff(n: number): string {
  return `0x${n.toString(16)}`;
}

class DslSource {
  readonly fields: ReadonlyMap<number, Field>;
  readonly raw: { readonly bytes: Uint8Array; readonly line: number } | undefined;
  readonly signatureLine: number | undefined;
  /** The line a whole-file error names (src/io/iasl-lines.ts `IaslDump.firstLine`). */
  private firstLine = 1;

  constructor(
    readonly file: string,
    text: string,
  ) {
    const dump = readIaslDump(text, (line, field, message) => this.fail(line, field, message));
    this.fields = dump.fields;
    this.raw = dump.raw;
    this.signatureLine = dump.fields.get(0)?.line;
    this.firstLine = dump.firstLine;
  }

  /** Throw the input error of `field` at `line`; an error of no particular line names the file's first content line. */
  fail(line: number | undefined, field: string, message: string): never {
    throw new InputError(message, { file: this.file, field, line: line ?? this.firstLine });
  }

  /** The line of the last field printed before `offset` (where a missing structure should have followed), if any. */
  lineBefore(offset: number): number | undefined {
    let best: Field | undefined;
    for (const f of this.fields.values()) if (f.offset < offset && (best === undefined || f.offset > best.offset)) best = f;
    return best?.line;
  }

  /** The field printed at `offset`, which must be `width` bytes wide. */
  field(offset: number, width: number, what: string, refLine: number | undefined): Field {
    const f = this.fields.get(offset);
    if (!f) this.fail(refLine, what, `no decoded field at offset ${hexOff(offset)}`);
    if (f.width !== width) this.fail(f.line, f.label, `is ${f.width} bytes wide, ${what} is ${width}`);
    return f;
  }

  /** A hex integer field of at most 4 bytes. */
  int(offset: number, width: number, what: string, refLine: number | undefined): number {
    return Number(this.big(offset, width, what, refLine));
  }

  /** A hex integer field, as printed by iasl (most significant digit first). */
  big(offset: number, width: number, what: string, refLine: number | undefined): bigint {
    const f = this.field(offset, width, what, refLine);
    const m = /^([0-9A-Fa-f]+)(?:\s|$)/.exec(f.value);
    if (!m || m[1]!.length > width * 2) this.fail(f.line, f.label, `"${f.value}" is not a ${width}-byte hex value`);
    return BigInt(`0x${m[1]}`);
  }

  /** A quoted string field. */
  str(offset: number, width: number, what: string, refLine: number | undefined): string {
    const f = this.field(offset, width, what, refLine);
    const m = /^"(.*)"/.exec(f.value);
    if (!m) this.fail(f.line, f.label, `"${f.value}" is not a quoted string`);
    return m[1]!;
  }
}

// Relative offsets and widths of each known structure's fixed fields (VT-d ch. 8, actbl1.h);
// `scopesAt` is where the device-scope list starts, absent for structures without one.
interface TextLayout {
  readonly scopesAt?: number;
  build(src: DslSource, off: number, length: number, line: number, into: DmarBuilder, scopes: DeviceScope[]): void;
}

const LAYOUTS: Readonly<Record<number, TextLayout>> = {
  0: {
    scopesAt: 16,
    build(src, off, length, line, into, scopes) {
      const flags = src.int(off + 4, 1, 'DRHD Flags', line);
      const size = src.int(off + 5, 1, 'DRHD Size', line) & 0x0f;
      into.drhd.push({
        offset: off,
        length,
        flags,
        includePciAll: (flags & 1) !== 0,
        size,
        registerSetBytes: 4096 * 2 ** size,
        segment: src.int(off + 6, 2, 'DRHD PCI Segment Number', line),
        registerBase: src.big(off + 8, 8, 'DRHD Register Base Address', line),
        scopes,
      });
    },
  },
  1: {
    scopesAt: 24,
    build(src, off, length, line, into, scopes) {
      into.rmrr.push({
        offset: off,
        length,
        segment: src.int(off + 6, 2, 'RMRR PCI Segment Number', line),
        base: src.big(off + 8, 8, 'RMRR Base Address', line),
        limit: src.big(off + 16, 8, 'RMRR End Address', line),
        scopes,
      });
    },
  },
  2: {
    scopesAt: 8,
    build(src, off, length, line, into, scopes) {
      const flags = src.int(off + 4, 1, 'ATSR Flags', line);
      into.atsr.push({ offset: off, length, flags, allPorts: (flags & 1) !== 0, segment: src.int(off + 6, 2, 'ATSR PCI Segment Number', line), scopes });
    },
  },
  3: {
    build(src, off, length, line, into) {
      into.rhsa.push({
        offset: off,
        length,
        registerBase: src.big(off + 8, 8, 'RHSA Base Address', line),
        proximityDomain: src.int(off + 16, 4, 'RHSA Proximity Domain', line),
      });
    },
  },
  4: {
    build(src, off, length, line, into) {
      const nameField = src.fields.get(off + 8);
      into.andd.push({
        offset: off,
        length,
        acpiDeviceNumber: src.int(off + 7, 1, 'ANDD Device Number', line),
        objectName: src.str(off + 8, nameField?.width ?? 0, 'ANDD Device Name', line),
      });
    },
  },
  5: {
    scopesAt: 8,
    build(src, off, length, line, into, scopes) {
      const flags = src.int(off + 4, 1, 'SATC Flags', line);
      into.satc.push({ offset: off, length, flags, atcRequired: (flags & 1) !== 0, segment: src.int(off + 6, 2, 'SATC PCI Segment Number', line), scopes });
    },
  },
  6: {
    scopesAt: 8,
    build(src, off, length, line, into, scopes) {
      into.sidp.push({ offset: off, length, segment: src.int(off + 6, 2, 'SIDP PCI Segment Number', line), scopes });
    },
  },
};

function parseScopes(src: DslSource, start: number, end: number, owner: string): DeviceScope[] {
  const scopes: DeviceScope[] = [];
  for (let off = start; off < end; ) {
    const head = src.field(off, 1, `${owner}: device scope at offset ${hexOff(off)}`, undefined);
    if (head.label !== 'Device Scope Type') src.fail(head.line, head.label, `expected "Device Scope Type" at offset ${hexOff(off)}`);
    const what = `${owner}: device scope at offset ${hexOff(off)}`;
    const length = src.int(off + 1, 1, `${what}: length`, head.line);
    if (length < 6 || (length - 6) % 2 !== 0 || off + length > end) {
      src.fail(head.line, `${what}: length`, `entry length ${length} is not 6 + 2n within the structure (ends at ${hexOff(end)})`);
    }
    const reserved = src.int(off + 2, 2, `${what}: flags/reserved`, head.line);
    const startBus = src.int(off + 5, 1, `${what}: PCI Bus Number`, head.line);
    const path: PciPathElement[] = [];
    for (let p = off + 6; p < off + length; p += 2) {
      const f = src.field(p, 2, `${what}: PCI Path`, head.line);
      const m = /^([0-9A-Fa-f]{2}),([0-9A-Fa-f]{2})\b/.exec(f.value);
      if (!m) src.fail(f.line, f.label, `"${f.value}" is not a "device,function" pair`);
      const device = parseInt(m[1]!, 16);
      const fn = parseInt(m[2]!, 16);
      if (device > 0x1f || fn > 7) src.fail(f.line, f.label, `device ${hexOff(device)} / function ${fn} is not a PCI device/function`);
      path.push({ device, fn });
    }
    const first = path[0];
    scopes.push({
      offset: off,
      type: src.int(off, 1, `${what}: type`, head.line),
      length,
      flags: reserved & 0xff, // iasl prints bytes 2-3 as one 16-bit "Reserved"; byte 2 is the newer flags byte
      enumerationId: src.int(off + 4, 1, `${what}: Enumeration ID`, head.line),
      startBus,
      path,
      ...(path.length === 1 && first ? { requesterId: requesterId(startBus, first.device, first.fn) } : {}),
    });
    off += length;
  }
  return scopes;
}

/**
 * Parse the iasl text form of a DMAR table.
 *
 * @param text the file contents (the DMAR section of an iasl decompile; other lines are ignored).
 * @param file name used in error messages.
 * @returns the same model `parseDmarBinary` gives for the table's bytes (see the module comment for
 *   what the text cannot carry).
 * @throws InputError with `file` and `line` when the signature is "IVRS" (message contains
 *   "AMD IVRS is not supported yet") or anything but "DMAR", a field the layout needs is missing or
 *   not hex of its width, a structure or device-scope length is too small or runs past its end,
 *   or an undecoded structure has no raw dump to recover it from and cannot be kept.
 */
export function parseDmarText(text: string, file: string): DmarTable {
  const src: DslSource = new DslSource(file, text);
  if (src.signatureLine === undefined) src.fail(undefined, 'Signature', 'no iasl field line at offset 0 (not an iasl DMAR dump)');
  const sig = src.str(0, 4, 'Signature', undefined);
  if (sig === 'IVRS') src.fail(src.signatureLine, 'Signature', `${IVRS_NOT_SUPPORTED} as a DMAR (this is an AMD-Vi table, not an Intel DMAR: read it with remapsim import ivrs, or name it as platform.ivrs in a scenario)`);
  if (sig !== 'DMAR') src.fail(src.signatureLine, 'Signature', `expected "DMAR", found ${JSON.stringify(sig)}`);
  const L = src.signatureLine;
  const header: DmarHeader = {
    signature: sig,
    length: src.int(4, 4, 'Table Length', L),
    revision: src.int(8, 1, 'Revision', L),
    checksum: src.int(9, 1, 'Checksum', L),
    oemId: src.str(10, 6, 'Oem ID', L),
    oemTableId: src.str(16, 8, 'Oem Table ID', L),
    oemRevision: src.int(24, 4, 'Oem Revision', L),
    creatorId: src.str(28, 4, 'Asl Compiler ID', L),
    creatorRevision: src.int(32, 4, 'Asl Compiler Revision', L),
  };
  const width = src.int(36, 1, 'Host Address Width', L);
  const flags = src.int(37, 1, 'Flags', L);
  const end = header.length;
  if (end < DMAR_HEADER_LENGTH) src.fail(src.fields.get(4)?.line, 'Table Length', `${end} is less than the ${DMAR_HEADER_LENGTH}-byte DMAR header`);
  const raw = src.raw;
  if (raw && raw.bytes.length !== end) src.fail(raw.line, 'Raw Table Data', `dump has ${raw.bytes.length} bytes, Table Length says ${end}`);

  const into = newDmarBuilder();
  let off = DMAR_HEADER_LENGTH;
  while (off < end) {
    const head = src.fields.get(off);
    const textType = head?.label === 'Subtable Type' ? src.int(off, 2, 'Subtable Type', head.line) : undefined;
    const decoded = textType !== undefined && LAYOUTS[textType] !== undefined && src.fields.has(off + 4);
    if (!decoded && raw) {
      // iasl printed no body (or nothing at all, or a type we have no text layout for) here:
      // take this structure from the hex dump.
      off += decodeStructureAt(raw.bytes, off, end, into, { file, line: head?.line ?? raw.line });
      continue;
    }
    if (!head) src.fail(src.lineBefore(off), `structure at offset ${hexOff(off)}`, 'no decoded structure here and no Raw Table Data to take it from');
    if (head.label !== 'Subtable Type') src.fail(head.line, head.label, `expected "Subtable Type" at offset ${hexOff(off)}`);
    const type = src.int(off, 2, 'Subtable Type', head.line);
    const owner = `${structureName(type)} at offset ${hexOff(off)}`;
    const length = src.int(off + 2, 2, `${owner}: length`, head.line);
    const layout = LAYOUTS[type];
    const min = structureFixedLength(type);
    if (length < min) src.fail(head.line, `${owner}: length`, `length ${length} is less than the ${min} bytes this structure needs`);
    if (off + length > end) src.fail(head.line, `${owner}: length`, `length ${length} runs past the end of the table (${end} bytes)`);
    if (!layout || !decoded) {
      into.unknown.push({ offset: off, type, length, rawHex: null });
    } else {
      const scopes = layout.scopesAt === undefined ? [] : parseScopes(src, off + layout.scopesAt, off + length, owner);
      layout.build(src, off, length, head.line, into, scopes);
    }
    off += length;
  }
  return { header, hostAddressWidth: width + 1, flags: decodeDmarFlags(flags), ...into };
}
