/**
 * Worker threads for `remapsim check`: a piscina pool whose tasks are chunks of runs
 * (src/checker/check-worker.ts). The merge is in runCheck (src/checker/check.ts): the
 * counterexample of the lowest failing chunk, so the result does not depend on which
 * thread ran what.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Budget } from './adversary.ts';
import type { Chunk, ChunkResult, ChunkRunner } from './check.ts';
import type { ChunkTask } from './check-worker.ts';

/** A pool of check workers and the chunk runner that uses it. */
export interface CheckPool {
  readonly threads: number;
  readonly runChunk: ChunkRunner;
  /** Stop the threads (waits for them to exit). */
  close(): Promise<void>;
}

/**
 * The module each worker thread loads. Compiled (dist/checker/pool.js): the compiled
 * task module itself, so plain Node runs it. From source (src/checker/pool.ts, under tsx or
 * vitest): worker.mjs, which registers tsx in the thread first (threads do not inherit the
 * main thread's loader). Either way the workers run the same code as the main thread, so a
 * stale dist/ is never mixed with the current src/.
 */
function workerEntry(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('./worker.mjs', import.meta.url) : new URL('./check-worker.js', import.meta.url);
}

/** The default thread count: every core the process may use. */
export function defaultThreads(): number {
  return availableParallelism();
}

/**
 * Start `threads` worker threads for checking the scenario `text` (read from `file`).
 * @throws RangeError when threads < 1.
 */
export function startPool(text: string, file: string, overrides: Partial<Budget>, threads = defaultThreads()): CheckPool {
  if (!(threads >= 1)) throw new RangeError(`threads must be at least 1, got ${threads}`);
  const pool = new Piscina({
    filename: workerEntry().href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 1000,
  });
  return {
    threads,
    runChunk: (chunk: Chunk) => pool.run({ text, file, overrides, chunk } satisfies ChunkTask) as Promise<ChunkResult>,
    close: () => pool.destroy(),
  };
}
