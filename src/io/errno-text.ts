/** One-line text for the file-system errors a command meets opening, reading or writing a file. */

/** What the errors a user meets with a file mean (Linux errno names), with the code a search finds. */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/**
 * `e`'s errno code with what it means (`no such file or directory (ENOENT)`), for one-line input
 * and output errors; the message of an error without a code.
 */
export function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === undefined) return (e as Error).message;
  const text = ERRNO_TEXT[code];
  return text === undefined ? code : `${text} (${code})`;
}
