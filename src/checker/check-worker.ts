/**
 * The task a check worker thread runs (loaded by src/checker/worker.mjs): search one
 * chunk of runs of a scenario. The scenario is prepared once per worker and kept for
 * the following chunks of the same check.
 */
import { prepareCheck, searchChunk, type Chunk, type ChunkResult, type PreparedCheck } from './check.ts';
import type { Budget } from './adversary.ts';
import { loadScenarioModulesOf } from '../scenario/load-modules.ts';

/** One chunk of a check: the scenario's text and file name, the budget overrides, the chunk. */
export interface ChunkTask {
  readonly text: string;
  readonly file: string;
  readonly overrides: Partial<Budget>;
  readonly chunk: Chunk;
}

let cached: { key: string; prepared: PreparedCheck } | undefined;

/**
 * Search `task.chunk` of the scenario. Deterministic: the same task gives the same result on any thread.
 * @throws InputError/Error as prepareCheck does (the main thread has prepared the same scenario first, so it does not).
 */
export default async function runChunkTask(task: ChunkTask): Promise<ChunkResult> {
  const key = `${task.file}\0${JSON.stringify(task.overrides)}\0${task.text}`;
  if (cached?.key !== key) {
    // A user-written platform.policy / platform.vmm module: this thread imports it too (registries are per thread).
    await loadScenarioModulesOf(task.text, task.file);
    cached = { key, prepared: prepareCheck(task.text, task.file, task.overrides) };
  }
  return searchChunk(cached.prepared, task.chunk);
}
