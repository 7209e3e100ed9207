/**
 * Debug freezing of platform states. Every state `applyAction` returns is immutable by
 * contract: no code of the model writes into a state it was given, and each transition
 * copies only what it changes (DESIGN.md §2). Freezing every new object of every state
 * enforces that contract, but it was the largest single cost of an interrupt that changes
 * nothing (BENCHMARKS.md, issue 15: `freezeResult` 18.5 % of an IEC hit), so it is a debug
 * mode: on when the environment variable `REMAPSIM_FREEZE` is `1` (vitest sets it for every
 * test: vitest.config.ts), off otherwise. With it on, a write into a returned state throws
 * (ESM code is strict), which is how the tests prove the contract holds.
 *
 * immer's auto-freeze follows the same flag (`setAutoFreeze`, set when this module loads).
 */
import { setAutoFreeze } from 'immer';

/** Whether states are deep-frozen as they are built (REMAPSIM_FREEZE=1). Read once, at load. */
export const FREEZE_STATES: boolean = globalThis.process?.env.REMAPSIM_FREEZE === '1';

setAutoFreeze(FREEZE_STATES);
