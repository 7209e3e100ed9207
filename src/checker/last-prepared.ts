/**
 * The check prepareCheck (src/checker/check.ts) made last in this thread, with what it was made
 * from, so src/checker/pool.ts can ship it to the worker threads without its callers passing it
 * along. A module of its own, importing nothing: pool.ts loads it at start-up without loading
 * the checker (test/cli/lazy-commands.test.ts).
 */
import type { Budget } from './adversary.ts';
import type { PreparedCheck } from './check.ts';

let last: { readonly key: string; readonly prepared: PreparedCheck } | undefined;

const keyOf = (text: string, file: string, overrides: Partial<Budget>): string => `${file}\0${JSON.stringify(overrides)}\0${text}`;

/** Remember `prepared`, made from `text` (read from `file`) with `overrides` (the one before is forgotten). */
export function rememberPrepared(text: string, file: string, overrides: Partial<Budget>, prepared: PreparedCheck): void {
  last = { key: keyOf(text, file, overrides), prepared };
}

/** The check last remembered, if it was made from this `text`, `file` and `overrides`. */
export function recentlyPrepared(text: string, file: string, overrides: Partial<Budget>): PreparedCheck | undefined {
  return last?.key === keyOf(text, file, overrides) ? last.prepared : undefined;
}
