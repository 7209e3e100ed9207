/**
 * Bounded reads of input files. Every loader (scenario, DMAR, IVRS, lspci, group listing, guest
 * support table) reads through {@link readInputFile}, so a device (`dmar: /dev/zero`), a FIFO or an
 * oversized file ends at once with one input error instead of reading without bound (issue 17).
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { errnoText } from './errno-text.ts';
import { InputError } from './input-error.ts';

/** How much of what to read. */
export interface ReadInputOptions {
  /** Largest accepted size in bytes; one byte more is an input error. */
  readonly maxBytes: number;
  /** What the file is, for messages ("scenario", "DMAR table", "lspci dump" …). */
  readonly what: string;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** "1 MiB", "512 KiB" or "N bytes", for messages. */
export function formatByteLimit(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

function tooLarge(path: string, o: ReadInputOptions, size: string): InputError {
  return new InputError(`${o.what} is ${size}; the limit is ${formatByteLimit(o.maxBytes)} (${o.maxBytes} bytes; see docs/limits.md)`, { file: path, field: 'file size' });
}

/**
 * Read the whole regular file at `path`, at most `maxBytes` bytes. The file is opened with
 * `O_NONBLOCK` (opening a FIFO never waits for a writer) and checked with fstat on the open
 * descriptor (no race with a rename); the read stops at `maxBytes + 1` bytes even when the size
 * fstat reported was smaller (a growing file, a /proc file reporting 0).
 *
 * @returns the file's bytes.
 * @throws InputError naming `path` (field `file size` for an oversized file) when the file cannot
 *   be opened, is not a regular file (device, FIFO, socket, directory), or holds more than
 *   `maxBytes` bytes.
 */
export function readInputFile(path: string, o: ReadInputOptions): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new InputError(`cannot read ${o.what}: ${errnoText(e)}`, { file: path });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new InputError(`cannot read ${o.what}: it is ${kindOf(st)}, not a regular file`, { file: path });
    if (st.size > o.maxBytes) throw tooLarge(path, o, `${st.size} bytes`);
    const buf = Buffer.allocUnsafe(Math.min(o.maxBytes + 1, Math.max(st.size + 1, 64 * 1024)));
    let len = 0;
    let grown = buf;
    for (;;) {
      if (len === grown.length) {
        if (grown.length > o.maxBytes) throw tooLarge(path, o, `more than ${o.maxBytes} bytes`);
        const next = Buffer.allocUnsafe(Math.min(o.maxBytes + 1, grown.length * 2));
        grown.copy(next, 0, 0, len);
        grown = next;
      }
      let n: number;
      try {
        n = readSync(fd, grown, len, grown.length - len, null);
      } catch (e) {
        throw new InputError(`cannot read ${o.what}: ${errnoText(e)}`, { file: path });
      }
      if (n === 0) break;
      len += n;
      if (len > o.maxBytes) throw tooLarge(path, o, `more than ${o.maxBytes} bytes`);
    }
    return grown.subarray(0, len);
  } finally {
    closeSync(fd);
  }
}

/** {@link readInputFile} decoded as UTF-8. @throws as `readInputFile`. */
export function readInputText(path: string, o: ReadInputOptions): string {
  return readInputFile(path, o).toString('utf8');
}
