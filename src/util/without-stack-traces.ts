/**
 * `f()` with `Error.stackTraceLimit` at 0, restored afterwards (also when `f` throws). The yaml
 * package makes an Error per problem it finds; capturing their stacks made a 60 KB file that is
 * not YAML (an lspci dump given to `run`) take 0.3 s to refuse, two thirds of it in YAMLError's
 * constructor (issue 16 item 3). Callers read only the errors' messages and positions.
 */
export function withoutStackTraces<T>(f: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return f();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
