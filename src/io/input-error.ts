/**
 * Bad user input: a scenario, DMAR table, lspci dump or command-line value that is
 * not what remapsim expects. The CLI prints it as one line
 * `remapsim: FILE:LINE: FIELD: MESSAGE` and exits with status 2, never a stack trace.
 */
export class InputError extends Error {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;

  constructor(message: string, where: { file?: string; line?: number; field?: string } = {}) {
    super(message);
    this.name = 'InputError';
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
  }

  /** `file:line: field: message`, leaving out the parts that are unknown. */
  format(): string {
    const loc = [this.file, this.line === undefined ? undefined : String(this.line)].filter((x) => x !== undefined).join(':');
    return [loc || undefined, this.field, this.message].filter((x) => x !== undefined && x !== '').join(': ');
  }
}
