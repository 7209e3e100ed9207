/**
 * Decoder for the raw ACPI IVRS table, as read from `/sys/firmware/acpi/tables/IVRS` or written by
 * `acpidump -b`. The header checks follow Linux `drivers/iommu/amd/init.c` (`check_ivrs_checksum`:
 * all bytes sum to 0 mod 256); the walk is `decode.ts`.
 */
import { InputError } from '../../io/input-error.ts';
import { IVRS_HEADER_LENGTH, decodeIvrs, type TableSource } from './decode.ts';
import type { IvrsTable } from './model.ts';

function hexOff(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Bounds-checked reads over the raw table; errors name the file and (in `field`) the byte offset. */
export class BinarySource implements TableSource {
  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
  ) {}

  fail(_offset: number, field: string, message: string): never {
    throw new InputError(message, { file: this.file, field });
  }

  private need(offset: number, width: number, what: string): void {
    if (offset + width > this.bytes.length) {
      this.fail(offset, `${what} at offset ${hexOff(offset)}`, `truncated: the field needs bytes up to ${offset + width}, the data has ${this.bytes.length}`);
    }
  }

  int(offset: number, width: 1 | 2 | 4 | 8, what: string): bigint {
    this.need(offset, width, what);
    let v = 0n;
    for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.bytes[offset + i]!);
    return v;
  }

  blob(offset: number, width: number, what: string): Uint8Array {
    this.need(offset, width, what);
    return this.bytes.subarray(offset, offset + width);
  }

  rawHex(offset: number, width: number): string {
    return Buffer.from(this.bytes.subarray(offset, offset + width)).toString('hex');
  }
}

/**
 * Parse a raw IVRS table.
 *
 * @param bytes the table exactly as the firmware provides it (header included, nothing after it).
 * @param file  name used in error messages.
 * @returns the model (see `model.ts`).
 * @throws InputError with `file` and a `field` naming the byte offset and field when the signature
 *   is not "IVRS" (a DMAR table gets a hint to use `import dmar`), the data is shorter than the
 *   48-byte header, the header length differs from the data length, the 8-bit checksum is not 0,
 *   or a subtable or device entry is malformed (`decodeIvrs`).
 */
export function parseIvrsBinary(bytes: Uint8Array, file: string): IvrsTable {
  const src = new BinarySource(bytes, file);
  const sig = Buffer.from(bytes.subarray(0, 4)).toString('latin1');
  if (sig !== 'IVRS') {
    const hint = sig === 'DMAR' ? ' (this is an Intel DMAR table: use `remapsim import dmar`)' : '';
    src.fail(0, 'header at offset 0x0: Signature', `expected "IVRS", found ${JSON.stringify(sig)}${hint}`);
  }
  if (bytes.length < IVRS_HEADER_LENGTH) {
    src.fail(0, `header at offset ${hexOff(bytes.length)}: length`, `truncated: ${bytes.length} bytes, the IVRS header alone is ${IVRS_HEADER_LENGTH}`);
  }
  const length = Number(src.int(4, 4, 'header: Table Length'));
  if (length !== bytes.length) {
    const what = length > bytes.length ? 'truncated' : 'trailing data';
    src.fail(4, 'header at offset 0x4: Table Length', `${what}: header says ${length} bytes, the data has ${bytes.length}`);
  }
  let sum = 0;
  for (const x of bytes) sum = (sum + x) & 0xff;
  if (sum !== 0) {
    src.fail(9, 'header at offset 0x9: Checksum', `bytes sum to ${hexOff(sum)} mod 256, not 0 (checksum byte is ${hexOff(bytes[9]!)})`);
  }
  return decodeIvrs(src, length);
}
