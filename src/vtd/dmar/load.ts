/**
 * Load a DMAR table from a file in either form: the raw table (`/sys/firmware/acpi/tables/DMAR`,
 * `acpidump -b` output) or iasl's decompiled text (`.dsl`).
 */

import { readInputFile } from '../../io/read-input.ts';
import { MAX_ACPI_TABLE_BYTES } from '../../io/limits.ts';
import { InputError } from '../../io/input-error.ts';
import type { DmarTable } from './model.ts';
import { IVRS_NOT_SUPPORTED, parseDmarBinary } from './parse-binary.ts';
import { parseDmarText } from './parse-dsl.ts';

const IVRS_TEXT_RE = /^[ \t]*\[[^\]\n]*\][ \t]*Signature[ \t]*:[ \t]*"IVRS"/m;

/**
 * Read and parse the DMAR table in `path`. The form is chosen by content, not by file name: binary
 * data (it holds a NUL byte) starting with the bytes "DMAR" is the raw table; text (no NUL byte,
 * even when its first line is the title `DMAR`) is read as iasl output.
 *
 * @returns the parsed {@link DmarTable}.
 * @throws InputError naming `path` when the file cannot be read (not a regular file, more than
 *   MAX_ACPI_TABLE_BYTES — src/io/limits.ts), when it is an AMD IVRS table
 *   (raw signature "IVRS" or text `Signature : "IVRS"`; the message contains
 *   "AMD IVRS is not supported yet"), when it is binary data that is not a DMAR table, and for
 *   every parse error of `parseDmarBinary` / `parseDmarText`.
 */
export function loadDmar(path: string): DmarTable {
  const data = readInputFile(path, { maxBytes: MAX_ACPI_TABLE_BYTES, what: 'DMAR table' });
  const magic = data.subarray(0, 4).toString('latin1');
  // Text never contains NUL; raw ACPI tables always do (lengths, reserved bytes). An iasl dump
  // may begin with the table's title line `DMAR`, so the magic alone does not make it raw.
  const binary = data.includes(0);
  if (binary && (magic === 'DMAR' || magic === 'IVRS')) return parseDmarBinary(data, path);
  if (binary) {
    throw new InputError(`not a DMAR table: binary data with signature ${JSON.stringify(magic)}`, { file: path, field: 'signature' });
  }
  const text = data.toString('utf8');
  const ivrs = IVRS_TEXT_RE.exec(text);
  if (ivrs) {
    const line = text.slice(0, ivrs.index).split('\n').length;
    throw new InputError(`${IVRS_NOT_SUPPORTED} as a DMAR (this is an AMD-Vi table, not an Intel DMAR: read it with remapsim import ivrs, or name it as platform.ivrs in a scenario)`, { file: path, line, field: 'Signature' });
  }
  return parseDmarText(text, path);
}
