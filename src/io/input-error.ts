/**
 * Bad user input: a scenario, DMAR table, lspci dump or command-line value that is
 * not what remapsim expects. The CLI prints it as one line
 * `remapsim: FILE:LINE: FIELD: MESSAGE` and exits with status 2, never a stack trace.
 */
/** The brand of every InputError, shared by every copy of remapsim in the process (`Symbol.for`). */
const INPUT_ERROR = Symbol.for('remapsim.InputError');

export class InputError extends Error {
  /**
   * `instanceof InputError` is true for an InputError of any copy of remapsim loaded in the
   * process: the CLI runs its bundle (dist/bundle/) while a user's policy or VMM module that
   * imports `remapsim` gets the library (dist/), two copies of this class. Branded, not by
   * prototype, so bad input raised in either still exits 2 with one line.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [INPUT_ERROR]?: unknown })[INPUT_ERROR] === true;
  }

  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;

  constructor(message: string, where: { file?: string; line?: number; field?: string } = {}) {
    super(message);
    this.name = 'InputError';
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
    Object.defineProperty(this, INPUT_ERROR, { value: true });
  }

  /** `file:line: field: message`, leaving out the parts that are unknown. */
  format(): string {
    const loc = [this.file, this.line === undefined ? undefined : String(this.line)].filter((x) => x !== undefined).join(':');
    return [loc || undefined, this.field, this.message].filter((x) => x !== undefined && x !== '').join(': ');
  }
}
