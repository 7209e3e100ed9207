/**
 * Safe output files: every file remapsim writes (`--out`, `--scenario`, `--svg`, counterexamples)
 * goes through {@link writeFileAtomic}, so a reader never sees a partial file, a failure leaves no
 * output, and a hostile directory cannot redirect the write (issue 17, "safe output files").
 */
import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, openSync, renameSync, rmSync, writeSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** The output path exists and is not a regular file (a device node, FIFO, socket, directory or symlink). */
export class UnsafeOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeOutputError';
  }
}

/** What {@link writeFileAtomic} did. */
export interface AtomicWriteResult {
  /** True when a regular file already existed at the path and was replaced. */
  readonly replaced: boolean;
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** lstat without following a final symlink; undefined when nothing is there. */
function existing(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function refuseUnlessRegular(path: string, st: Stats | undefined): void {
  if (st !== undefined && !st.isFile()) {
    throw new UnsafeOutputError(`refusing to replace ${path}: it is ${kindOf(st)}, not a regular file`);
  }
}

/** Default mode of a new file: 0666 less the umask (reading the umask is allowed in workers too). */
function defaultMode(): number {
  return 0o666 & ~process.umask();
}

/**
 * Write `content` (UTF-8 text or bytes) to `path` through a temporary file in the same directory
 * and a rename. The temporary file `.NAME.<16 random hex>.tmp` is created with
 * `O_CREAT | O_EXCL | O_NOFOLLOW` and mode 0600, so an attacker who can write the directory can
 * neither predict its name nor make it a symlink to a file elsewhere; it gets its final mode (the
 * replaced file's, else 0666 less the umask) only when complete, just before the rename. `path`
 * itself must be absent or a regular file: a symlink, device node (`/dev/full`), FIFO, socket or
 * directory there is refused, never replaced.
 *
 * @returns whether an existing regular file was replaced (callers say so).
 * @throws UnsafeOutputError when `path` exists and is not a regular file; the underlying fs error
 *   (ENOENT for a missing directory, ENOSPC, EACCES …) otherwise. No temporary file is left behind.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array): AtomicWriteResult {
  const before = existing(path);
  refuseUnlessRegular(path, before);
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  let closed = false;
  try {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
    fsyncSync(fd);
    fchmodSync(fd, before === undefined ? defaultMode() : before.mode & 0o7777);
    closeSync(fd);
    closed = true;
    // Something may have appeared at `path` since the first look: check again just before the rename.
    const now = existing(path);
    refuseUnlessRegular(path, now);
    renameSync(tmp, path);
    return { replaced: now !== undefined };
  } catch (e) {
    if (!closed) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The suffix callers append to "wrote FILE" when {@link writeFileAtomic} replaced a file. */
export function replacedNote(r: AtomicWriteResult): string {
  return r.replaced ? ' (replaced the existing file)' : '';
}
