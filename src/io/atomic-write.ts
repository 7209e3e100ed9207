import { renameSync, writeFileSync, rmSync } from 'node:fs';

/**
 * Write `content` to `path` through a temporary file in the same directory and a
 * rename, so a reader never sees a partial file and a failure leaves no output.
 * @throws the underlying fs error (the temporary file is removed first).
 */
export function writeFileAtomic(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
