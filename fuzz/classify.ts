/**
 * Outcome of one fuzzed input (issue 16 item 4):
 * - `ok`: accepted, and the result passed the target's garbage check;
 * - `input-error`: an InputError naming the file and a line or field (the target may
 *   demand a line: a `.dsl` error must name the `.dsl` line), or a result the target calls a
 *   named refusal (the CLI's exit 2 with its `remapsim:` line);
 * - `unclear`: an InputError without them;
 * - `crash`: any other exception (a stack trace at the CLI);
 * - `hang`: took more than HANG_MS (measured after it returns: a run that never returns
 *   is seen as the whole fuzz run timing out);
 * - `garbage`: accepted, but the result holds what the input cannot mean (a BDF out of
 *   range, two units at one register base).
 */
import { InputError } from '../src/io/input-error.ts';

export type Outcome = 'ok' | 'input-error' | 'unclear' | 'crash' | 'hang' | 'garbage';
export const OUTCOMES: readonly Outcome[] = ['ok', 'input-error', 'unclear', 'crash', 'hang', 'garbage'];
/** Failures: every outcome but `ok` and `input-error`. */
export const FAILURES: ReadonlySet<Outcome> = new Set(['unclear', 'crash', 'hang', 'garbage']);
/** Over this many milliseconds an input counts as a hang (the bound for any input: 2 s). */
export const HANG_MS = 2000;

export interface Classified {
  readonly outcome: Outcome;
  readonly ms: number;
  readonly detail: string;
}

export interface ClassifyOptions {
  /** An input error must name a line, not just a field. */
  readonly needsLine?: boolean;
  /** An accepted result that is a named refusal (the CLI's exit 2 with its one line): an input error. */
  readonly refused?: (result: never) => boolean;
}

/** Run `run` and classify what it does; `garbage` inspects an accepted result (a reason, or undefined). */
export async function classify<R>(run: () => R | Promise<R>, garbage: ((r: R) => string | undefined) | undefined, options: ClassifyOptions = {}): Promise<Classified> {
  const t0 = performance.now();
  let outcome: Outcome;
  let detail = '';
  try {
    const r = await run();
    const why = garbage?.(r);
    outcome = why !== undefined ? 'garbage' : options.refused?.(r as never) === true ? 'input-error' : 'ok';
    detail = why ?? '';
  } catch (e) {
    if (e instanceof InputError) {
      detail = e.format();
      const named = e.file !== undefined && (options.needsLine ? e.line !== undefined : e.line !== undefined || e.field !== undefined);
      outcome = named ? 'input-error' : 'unclear';
    } else {
      outcome = 'crash';
      detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
    }
  }
  const ms = performance.now() - t0;
  if (ms > HANG_MS && outcome !== 'crash') return { outcome: 'hang', ms, detail: `${ms.toFixed(0)} ms; ${outcome} ${detail}` };
  return { outcome, ms, detail };
}

const BDF = /^(?:([0-9a-fA-F]+):)?([0-9a-fA-F]+):([0-9a-fA-F]+)\.([0-9a-fA-F]+)$/;

/**
 * The first BDF-like string or requester-ID-like field anywhere in `value` that is out of
 * range (segment > `maxSegment`: 0xffff for ACPI segments; Linux PCI domains, which lspci
 * prints, go up to 0xffffffff — VMD domains start at 0x10000, Linux `vmd_find_free_domain` —, bus > 0xff, device > 0x1f, function > 7, rid > 0xffff), or undefined.
 */
export function outOfRangeBdf(value: unknown, seen = new Set<unknown>(), maxSegment = 0xffff): string | undefined {
  if (typeof value === 'string') {
    const m = BDF.exec(value);
    if (!m) return undefined;
    const [seg, bus, dev, fn] = [m[1] === undefined ? 0 : parseInt(m[1], 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16), parseInt(m[4]!, 16)];
    if (seg > maxSegment || bus > 0xff || dev > 0x1f || fn > 7) return `BDF ${value} out of range accepted`;
    return undefined;
  }
  if (typeof value !== 'object' || value === null || seen.has(value)) return undefined;
  seen.add(value);
  if (value instanceof Map) {
    for (const [k, v] of value) {
      const w = outOfRangeBdf(k, seen, maxSegment) ?? outOfRangeBdf(v, seen, maxSegment);
      if (w) return w;
    }
    return undefined;
  }
  if (ArrayBuffer.isView(value)) return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'number' && (k === 'rid' || k === 'requesterId') && !(Number.isInteger(v) && v >= 0 && v <= 0xffff)) return `${k} ${v} out of range accepted`;
    if (typeof v === 'number' && k === 'segment' && !(Number.isInteger(v) && v >= 0 && v <= maxSegment)) return `segment ${v} out of range accepted`;
    const w = outOfRangeBdf(k, seen, maxSegment) ?? outOfRangeBdf(v, seen, maxSegment);
    if (w) return w;
  }
  return undefined;
}
