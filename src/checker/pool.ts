/**
 * Worker threads for `remapsim check`: a piscina pool whose tasks are chunks of runs
 * (src/checker/check-worker.ts). The merge is in runCheck (src/checker/check.ts): the
 * counterexample of the lowest failing chunk, so the result does not depend on which
 * thread ran what.
 *
 * Each thread receives the prepared check once, as its `workerData` (src/checker/ship.ts), so
 * it starts by loading the compiled modules and rebuilding the received states' memories — it
 * parses, compiles and runs nothing of the scenario. Only when the prepared state holds what
 * structured clone cannot carry (a user module's class instance) does a thread get the
 * scenario's text and prepare it itself.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Budget } from './adversary.ts';
import type { Chunk, ChunkResult, ChunkRunner, PreparedCheck } from './check.ts';
import { recentlyPrepared } from './last-prepared.ts';
import type { CheckWorkerData, WorkerCpu } from './check-worker.ts';
import { shipCheck } from './ship.ts';

/** A pool of check workers and the chunk runner that uses it. */
export interface CheckPool {
  readonly threads: number;
  readonly runChunk: ChunkRunner;
  /** How the threads got the check: `shipped` (the prepared state) or `text` (prepared again in each thread), and why. */
  readonly delivery: { readonly kind: 'shipped' } | { readonly kind: 'text'; readonly why: string };
  /** Stop the threads (waits for them to exit). */
  close(): Promise<void>;
}

/**
 * The module each worker thread loads. Compiled (dist/checker/pool.js, or the CLI bundle): the
 * build's bundle of the task module (dist/bundle/check-worker.js) when the build made one, else
 * the compiled task module itself, so plain Node runs it. From source (src/checker/pool.ts, under tsx or
 * vitest): worker.mjs, which registers tsx in the thread first (threads do not inherit the
 * main thread's loader). Either way the workers run the same code as the main thread, so a
 * stale dist/ is never mixed with the current src/.
 */
function workerEntry(): URL {
  if (import.meta.url.endsWith('.ts')) return new URL('./worker.mjs', import.meta.url);
  // The build's bundle of the worker (dist/bundle/, scripts/build.mjs), from the same build: one
  // file to load rather than ≈ 100 modules, which was most of a thread's start-up.
  const bundled = new URL('../bundle/check-worker.js', import.meta.url);
  return existsSync(bundled) ? bundled : new URL('./check-worker.js', import.meta.url);
}

/** The default thread count: every core the process may use. */
export function defaultThreads(): number {
  return availableParallelism();
}

/** Options of {@link startPool}. */
export interface PoolOptions {
  /** The check prepared from `text` (default: the one prepareCheck last made from the same text, file and overrides). */
  readonly prepared?: PreparedCheck;
  /** Called with each chunk's worker CPU times (bench/check.ts). */
  readonly onWorkerCpu?: (cpu: WorkerCpu) => void;
}

/**
 * Start `threads` worker threads for checking the scenario `text` (read from `file`) with the
 * budget `overrides`. The threads receive the check as this thread prepared it
 * (`options.prepared`, or what prepareCheck last made of the same text, file and overrides);
 * when there is none, or it cannot be shipped, they get the text and prepare it themselves.
 * @throws RangeError when threads < 1.
 */
export function startPool(text: string, file: string, overrides: Partial<Budget>, threads = defaultThreads(), options: PoolOptions = {}): CheckPool {
  if (!(threads >= 1)) throw new RangeError(`threads must be at least 1, got ${threads}`);
  const prepared = options.prepared ?? recentlyPrepared(text, file, overrides);
  const shipped = prepared === undefined ? { unshippable: 'the check was not prepared in this thread' } : shipCheck(prepared);
  const workerData: CheckWorkerData = 'unshippable' in shipped ? { text, file, overrides } : { shipped };
  const pool = new Piscina({
    filename: workerEntry().href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 1000,
    // The next chunk is posted while a worker still runs one (runCheck keeps 2 per thread in flight), so a
    // worker never waits on the main thread between chunks (that wait was 6 % of a worker's time).
    concurrentTasksPerWorker: 2,
    workerData,
  });
  return {
    threads,
    delivery: 'unshippable' in shipped ? { kind: 'text', why: shipped.unshippable } : { kind: 'shipped' },
    runChunk: async (chunk: Chunk) => {
      const { cpu, ...result } = (await pool.run(chunk)) as ChunkResult & { cpu: WorkerCpu };
      options.onWorkerCpu?.(cpu);
      return result;
    },
    close: () => pool.destroy(),
  };
}
