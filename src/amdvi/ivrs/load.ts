/**
 * Load an IVRS table from a file in either form, and tell IVRS from DMAR by content (for
 * `remapsim import FILE`).
 */
import { readInputFile } from '../../io/read-input.ts';
import { MAX_ACPI_TABLE_BYTES } from '../../io/limits.ts';
import { InputError } from '../../io/input-error.ts';
import type { IvrsTable } from './model.ts';
import { parseIvrsBinary } from './parse-binary.ts';
import { parseIvrsText } from './parse-dsl.ts';

/** iasl's signature line, `[000h 0000 004h]  Signature : "IVRS"` (either width style). */
const TEXT_SIGNATURE_RE = /^[ \t]*\[0+h[ \t]+0+[ \t]+(?:0*4h|0*4)\][ \t]*Signature[ \t]*:[ \t]*"([^"\n]*)"/m;

/** How a file holds an ACPI table: raw bytes or iasl text, and the 4-character signature found. */
export interface TableKind {
  readonly form: 'binary' | 'text';
  /** "DMAR", "IVRS", or whatever else was found ("" when nothing was). */
  readonly signature: string;
}

/**
 * Tell the form and signature of an ACPI table file by content, not by name. Raw ACPI tables always
 * contain NUL bytes (lengths, reserved fields) and iasl text never does, so data without NUL that
 * has an iasl `Signature : "XXXX"` line at offset 0 is text — even when its first line is a title
 * such as `IVRS` that looks like a raw signature. Anything else is raw, with the first 4 bytes as
 * its signature. Never throws.
 */
export function sniffAcpiTable(data: Uint8Array): TableKind {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!buf.includes(0)) {
    const m = TEXT_SIGNATURE_RE.exec(buf.toString('utf8'));
    if (m) return { form: 'text', signature: m[1]! };
  }
  return { form: 'binary', signature: buf.subarray(0, 4).toString('latin1') };
}

/**
 * Read `path`, a regular file of at most MAX_ACPI_TABLE_BYTES (src/io/limits.ts).
 * @throws InputError naming `path` when it cannot be read, is not a regular file or is too large.
 */
export function readTableFile(path: string, what: string): Buffer {
  return readInputFile(path, { maxBytes: MAX_ACPI_TABLE_BYTES, what });
}

/**
 * Read and parse the IVRS table in `path`, raw or iasl text (chosen by {@link sniffAcpiTable}).
 * @returns the parsed {@link IvrsTable}.
 * @throws InputError naming `path` when the file cannot be read and for every error of
 *   `parseIvrsBinary` / `parseIvrsText` (including a signature other than "IVRS").
 */
export function loadIvrs(path: string): IvrsTable {
  const data = readTableFile(path, 'IVRS table');
  const kind = sniffAcpiTable(data);
  return kind.form === 'text' ? parseIvrsText(data.toString('utf8'), path) : parseIvrsBinary(data, path);
}
