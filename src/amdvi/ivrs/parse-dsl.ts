/**
 * Parser for the iasl text form of an IVRS table (`iasl -d` / acpixtract output, as published by
 * linuxhw/ACPI). iasl prints one line per field, prefixed by its table offset (hex and decimal) and
 * width, in two styles depending on the release:
 *
 *     [048h 0072   1]                   Entry Type : 03
 *     [048h 0072 001h]               Subtable Type : 03 [Device Entry: Start of Range]
 *
 * Fields are located by their printed offset and width, never by their label (labels differ
 * between releases: "Entry Type" / "Subtable Type", "Flags" / "Flags (decoded below)"), so the
 * walk of `decode.ts` reads the decoded lines exactly where the raw parser reads bytes.
 *
 * What iasl leaves out is taken from the file's "Raw Table Data" hex dump when there is one:
 * subtables of a type it does not know (it prints only "**** Unknown IVRS subtable type 0x51"),
 * and the UID Format/Length of an ACPI_HID entry without a UID (coreboot's AMDI0040 entry).
 * Without a dump such input is refused (unknown subtables are still kept, with `rawHex: null`,
 * when their type and length lines are printed).
 *
 * What the text cannot carry: ACPI ID strings are shown only up to the first NUL (the binary
 * parser decodes them the same way, so the models agree). The checksum is verified on the raw
 * dump when there is one; without it the printed value is taken as is.
 */
import { readIaslDump, type IaslField } from '../../io/iasl-lines.ts';
import { InputError } from '../../io/input-error.ts';
import { IVRS_HEADER_LENGTH, decodeIvrs, type TableSource } from './decode.ts';
import type { IvrsTable } from './model.ts';

type Field = IaslField;

// Field and raw-dump lines are read by src/io/iasl-lines.ts (linear-time scanners, no regular expression).
const QUOTED_RE = /^"(.*?)"(?:\s|$)/;
const HEX_RE = /^([0-9A-Fa-f]+)(?:\s|$)/;

function hexOff(n: number): string {
  return `0x${n.toString(16)}`;
}

/** The decoded field lines of an iasl dump by offset, plus its raw hex dump if it has one. */
export class DslSource implements TableSource {
  readonly fields: ReadonlyMap<number, Field>;
  /** Offsets of `fields`, ascending (for locating an error on the nearest preceding line). */
  private readonly offsets: number[];
  readonly raw: { readonly bytes: Uint8Array; readonly line: number } | undefined;
  /** The line a whole-file error names (src/io/iasl-lines.ts `IaslDump.firstLine`). */
  private firstLine = 1;

  constructor(
    readonly file: string,
    text: string,
  ) {
    const dump = readIaslDump(text, (line, field, message) => this.failAt(line, field, message));
    this.fields = dump.fields;
    this.raw = dump.raw;
    this.offsets = [...this.fields.keys()].sort((a, b) => a - b);
    this.firstLine = dump.firstLine;
  }

  /** Throw the input error of `field` at `line`; an error of no particular line names the file's first content line. */
  failAt(line: number | undefined, field: string, message: string): never {
    throw new InputError(message, { file: this.file, field, line: line ?? this.firstLine });
  }

  /** The line of the field at `offset`, else of the nearest field before it, else of the raw dump. */
  lineOf(offset: number): number | undefined {
    const exact = this.fields.get(offset);
    if (exact) return exact.line;
    let best: Field | undefined;
    for (const o of this.offsets) {
      if (o > offset) break;
      best = this.fields.get(o);
    }
    return best?.line ?? this.raw?.line;
  }

  fail(offset: number, field: string, message: string): never {
    this.failAt(this.lineOf(offset), field, message);
  }

  // The raw-dump bytes for a field iasl did not print.
  private fromRaw(offset: number, width: number, what: string): Uint8Array {
    const raw = this.raw;
    if (!raw) this.fail(offset, what, `iasl printed no field at offset ${hexOff(offset)} and the file has no Raw Table Data to take it from`);
    if (offset + width > raw.bytes.length) {
      this.failAt(raw.line, what, `field at offset ${hexOff(offset)} (${width} bytes) is past the end of the ${raw.bytes.length}-byte Raw Table Data`);
    }
    return raw.bytes.subarray(offset, offset + width);
  }

  private printed(offset: number, width: number, what: string): Field | undefined {
    const f = this.fields.get(offset);
    if (f && f.width !== width) this.failAt(f.line, `${what} (line label "${f.label}")`, `is printed ${f.width} bytes wide, the field is ${width}`);
    return f;
  }

  int(offset: number, width: 1 | 2 | 4 | 8, what: string): bigint {
    const f = this.printed(offset, width, what);
    if (!f) return leBig(this.fromRaw(offset, width, what));
    const m = HEX_RE.exec(f.value);
    if (!m || m[1]!.length > width * 2) this.failAt(f.line, `${what} (line label "${f.label}")`, `"${f.value}" is not a ${width}-byte hex value`);
    return BigInt(`0x${m[1]}`);
  }

  /**
   * `width` bytes at `offset`: a quoted string is its characters (latin1) padded with NULs, a hex
   * value is its little-endian bytes (iasl prints an 8-byte ID without a printable form as hex).
   */
  blob(offset: number, width: number, what: string): Uint8Array {
    const f = this.printed(offset, width, what);
    if (!f) return this.fromRaw(offset, width, what);
    const q = QUOTED_RE.exec(f.value);
    const out = new Uint8Array(width);
    if (q) {
      const s = Buffer.from(q[1]!, 'latin1');
      if (s.length > width) this.failAt(f.line, `${what} (line label "${f.label}")`, `string of ${s.length} characters does not fit in ${width} bytes`);
      out.set(s);
      return out;
    }
    const m = HEX_RE.exec(f.value);
    if (!m || m[1]!.length > width * 2) this.failAt(f.line, `${what} (line label "${f.label}")`, `"${f.value}" is neither a quoted string nor a ${width}-byte hex value`);
    let v = BigInt(`0x${m[1]}`);
    for (let i = 0; i < width; i++, v >>= 8n) out[i] = Number(v & 0xffn);
    return out;
  }

  rawHex(offset: number, width: number): string | null {
    const raw = this.raw;
    if (!raw || offset + width > raw.bytes.length) return null;
    return Buffer.from(raw.bytes.subarray(offset, offset + width)).toString('hex');
  }
}

function leBig(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

/**
 * Parse the iasl text form of an IVRS table.
 *
 * @param text the file contents (the IVRS section of an iasl decompile; other lines are ignored).
 * @param file name used in error messages.
 * @returns the same model `parseIvrsBinary` gives for the table's bytes.
 * @throws InputError with `file`, `line` and `field` when there is no field line at offset 0, the
 *   signature is not "IVRS" (a DMAR gets a hint), the Table Length is below 48, the raw dump's size
 *   or checksum is wrong, a field is printed with the wrong width or not as hex, a field needed is
 *   neither printed nor in a raw dump, or the structure is malformed (`decodeIvrs`).
 */
export function parseIvrsText(text: string, file: string): IvrsTable {
  const src = new DslSource(file, text);
  if (!src.fields.has(0)) src.failAt(undefined, 'Signature', 'no iasl field line at offset 0 (not an iasl IVRS dump)');
  const sigLine = src.fields.get(0)!.line;
  const sig = Buffer.from(src.blob(0, 4, 'header: Signature')).toString('latin1');
  if (sig !== 'IVRS') {
    const hint = sig === 'DMAR' ? ' (this is an Intel DMAR table: use `remapsim import dmar`)' : '';
    src.failAt(sigLine, 'Signature', `expected "IVRS", found ${JSON.stringify(sig.replace(/\0+$/, ''))}${hint}`);
  }
  const end = Number(src.int(4, 4, 'header: Table Length'));
  if (end < IVRS_HEADER_LENGTH) src.fail(4, 'Table Length', `${end} is less than the ${IVRS_HEADER_LENGTH}-byte IVRS header`);
  const raw = src.raw;
  if (raw) {
    if (raw.bytes.length !== end) src.failAt(raw.line, 'Raw Table Data', `dump has ${raw.bytes.length} bytes, Table Length says ${end}`);
    let sum = 0;
    for (const x of raw.bytes) sum = (sum + x) & 0xff;
    if (sum !== 0) src.failAt(raw.line, 'Raw Table Data: Checksum', `dump bytes sum to ${hexOff(sum)} mod 256, not 0`);
  }
  return decodeIvrs(src, end);
}
