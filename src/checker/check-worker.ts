/**
 * The task a check worker thread runs (src/checker/pool.ts): search one chunk of runs of a
 * scenario. What to search comes once per thread, as the thread's `workerData`
 * ({@link CheckWorkerData}): normally the prepared search context itself (src/checker/ship.ts:
 * the main thread prepared it; the worker rebuilds its memories and searches, running none of
 * the scenario's own steps), or — when the prepared state holds something structured clone
 * cannot carry — the scenario's text, which the worker prepares once, as before.
 */
import { workerData } from 'node:worker_threads';
import { prepareCheck, searchChunk, type Chunk, type ChunkResult, type SearchContext } from './check.ts';
import type { Budget } from './adversary.ts';
import { loadScenarioModules, loadScenarioModulesOf } from '../scenario/load-modules.ts';
import type { ParsedScenario } from '../scenario/parse.ts';
import { receiveCheck, type ShippedCheck } from './ship.ts';
import { threadCpuMs } from './thread-cpu.ts';

/** What a check worker thread searches: the shipped prepared check, or the scenario text to prepare. */
export type CheckWorkerData =
  | { readonly shipped: ShippedCheck }
  | { readonly text: string; readonly file: string; readonly overrides: Partial<Budget> };

/** This thread's CPU time when it first had its search context (start-up), and after each chunk. */
export interface WorkerCpu {
  readonly threadId: number;
  /** CPU ms of the thread from its start to the search context ready (loading modules, receiving or preparing). */
  readonly startupMs: number | undefined;
  /** CPU ms of the thread from its start to the end of this chunk. */
  readonly totalMs: number | undefined;
}

let context: Promise<{ context: SearchContext; startupMs: number | undefined }> | undefined;

async function contextOf(data: CheckWorkerData): Promise<{ context: SearchContext; startupMs: number | undefined }> {
  let c: SearchContext;
  if ('shipped' in data) {
    // A user-written platform.policy / platform.vmm module: this thread imports it too (registries are per thread).
    const m = data.shipped.modules;
    await loadScenarioModules({ file: m.file, data: { platform: { policy: m.policy, vmm: m.vmm } }, lineAt: () => undefined } as unknown as ParsedScenario);
    c = receiveCheck(data.shipped);
  } else {
    await loadScenarioModulesOf(data.text, data.file);
    c = prepareCheck(data.text, data.file, data.overrides);
  }
  return { context: c, startupMs: threadCpuMs() };
}

/**
 * Search `chunk` of the thread's check. Deterministic: the same chunk gives the same result on any thread.
 * The result carries the thread's CPU times ({@link WorkerCpu}, for bench/check.ts; runCheck ignores them).
 * @throws InputError/Error as prepareCheck does (the main thread has prepared the same scenario first, so it does not).
 */
export default async function runChunkTask(chunk: Chunk): Promise<ChunkResult & { readonly cpu: WorkerCpu }> {
  context ??= contextOf(workerData as CheckWorkerData);
  const { context: c, startupMs } = await context;
  const r = searchChunk(c, chunk);
  const { threadId } = await import('node:worker_threads');
  return { ...r, cpu: { threadId, startupMs, totalMs: threadCpuMs() } };
}
