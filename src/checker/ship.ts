/**
 * A prepared check sent to worker threads (src/checker/pool.ts) as data, so a worker does not
 * parse, compile and run the scenario's own steps again (issue 15 goal 5: that was most of a
 * worker's 4.3 CPU-s start-up).
 *
 * What crosses a thread is what the HTML structured-clone algorithm carries: plain objects and
 * arrays (with their sharing: the states after the scenario's steps share most of their
 * objects, and keep sharing them), bigints, Sets, typed arrays. What it does not carry is a
 * class's prototype: the only class instances of a prepared search context are the
 * {@link PhysicalMemory} of each state (checked by {@link shipCheck}, which refuses anything
 * else), which arrive as plain objects with the instance's fields — its radix tree (`root`,
 * arrays of chunks and Uint32Array frames), `height` and `populatedFrames`. {@link receiveCheck}
 * makes each a PhysicalMemory again around the received tree, in time proportional to the
 * number of states (the tree itself is not copied or walked), one instance per distinct memory
 * so states that shared a memory still do. States are not frozen on arrival (they are immutable
 * by contract, src/platform/freeze-mode.ts); in the debug mode (REMAPSIM_FREEZE=1) they are
 * deep-frozen, as the sending thread's are.
 */
import { PhysicalMemory } from '../memory/physical-memory.ts';
import { FREEZE_STATES } from '../platform/freeze-mode.ts';
import type { PlatformState } from '../platform/state.ts';
import type { PreparedCheck, SearchContext } from './check.ts';

/** The fields of a PhysicalMemory that make it up (src/memory/physical-memory.ts constructor); the rest is a memo. */
const MEMORY_FIELDS = ['root', 'height', 'populatedFrames'] as const;

/** A PhysicalMemory as structured clone delivers it: its own fields, no prototype. */
interface ClonedMemory {
  readonly root: unknown;
  readonly height: number;
  readonly populatedFrames: number;
}

/**
 * What a worker needs to load before it searches: the scenario's user-written `platform.policy` /
 * `platform.vmm` module paths (src/scenario/load-modules.ts), registered per thread.
 */
export interface ShippedModules {
  readonly file: string;
  readonly policy?: unknown;
  readonly vmm?: unknown;
}

/** A prepared check as a worker thread receives it: {@link SearchContext} data and the modules to load. */
export interface ShippedCheck {
  readonly context: SearchContext;
  readonly modules: ShippedModules;
}

/** Why `value` (at `path`) is not carried as is by structured clone with its meaning intact, or undefined. */
function unshippable(value: unknown, path: string, seen: Set<object>, memories: Set<object>): string | undefined {
  if (typeof value === 'function' || typeof value === 'symbol') return `${path} is a ${typeof value}`;
  if (typeof value !== 'object' || value === null || seen.has(value)) return undefined;
  seen.add(value);
  if (ArrayBuffer.isView(value)) return undefined;
  if (value instanceof PhysicalMemory) {
    if (!memories.has(value)) return `${path} is a PhysicalMemory outside a state's memory field`;
    const own = Object.keys(value);
    const missing = MEMORY_FIELDS.filter((f) => !own.includes(f));
    return missing.length === 0 ? undefined : `${path}: PhysicalMemory has no field ${missing.join(', ')} (src/memory/physical-memory.ts changed)`;
  }
  if (value instanceof Set || value instanceof Map) {
    let i = 0;
    for (const x of value.values()) {
      const why = unshippable(x, `${path}{${i++}}`, seen, memories);
      if (why !== undefined) return why;
    }
    return undefined;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return `${path} is a ${(value as object).constructor?.name ?? 'class instance'}`;
  for (const [k, x] of Object.entries(value)) {
    const why = unshippable(x, `${path}.${k}`, seen, memories);
    if (why !== undefined) return why;
  }
  return undefined;
}

/** The states of a search context: where PhysicalMemory instances may be. */
function statesOf(c: SearchContext): PlatformState[] {
  return [c.base.initial, ...c.states];
}

/**
 * The part of `p` a search needs, as data a worker thread can receive (structured clone), or
 * the reason it cannot be shipped (then the worker prepares the scenario from its text, as
 * before: src/checker/check-worker.ts). The walk skips memory trees, so it costs O(objects of
 * the states outside simulated memory).
 */
export function shipCheck(p: PreparedCheck): ShippedCheck | { readonly unshippable: string } {
  const context: SearchContext = {
    file: p.file,
    skeleton: p.skeleton,
    threat: p.threat,
    pools: p.pools,
    compiled: { steps: p.compiled.steps.map((s) => ({ actions: s.actions })) },
    base: { initial: p.base.initial },
    states: p.states,
    gaps: p.gaps,
    untrustedDeviceModels: p.untrustedDeviceModels,
    memories: p.memories,
  };
  const memories = new Set<object>(statesOf(context).map((s) => s.memory));
  // Memory trees are the class's own representation (arrays, Uint32Arrays): checked by their fields, not walked.
  const seen = new Set<object>();
  for (const m of memories) {
    const why = unshippable(m, 'memory', seen, memories);
    if (why !== undefined) return { unshippable: why };
  }
  const why = unshippable(context, 'context', seen, memories);
  if (why !== undefined) return { unshippable: why };
  const platform = p.data.platform as { policy?: unknown; vmm?: unknown };
  return { context, modules: { file: p.file, ...(platform.policy === undefined ? {} : { policy: platform.policy }), ...(platform.vmm === undefined ? {} : { vmm: platform.vmm }) } };
}

/** The class's constructor, private in TypeScript (callers use PhysicalMemory.empty and writes); the tree is the one received. */
const rebuildMemory = (m: ClonedMemory): PhysicalMemory =>
  new (PhysicalMemory as unknown as new (root: unknown, height: number, populatedFrames: number) => PhysicalMemory)(m.root, m.height, m.populatedFrames);

/** Freeze plain objects and arrays under `v` (not PhysicalMemory: its memo is written on reads). */
function freezePlain(v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v) || v instanceof PhysicalMemory || ArrayBuffer.isView(v)) return;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return;
  Object.freeze(v);
  for (const x of Object.values(v)) freezePlain(x);
}

/**
 * The search context of a {@link ShippedCheck} received by structured clone: each state's memory
 * made a PhysicalMemory again (one per distinct received memory). Mutates the received data
 * (it is this thread's copy) and returns it.
 * @throws Error when a state's memory does not have the fields of a PhysicalMemory.
 */
export function receiveCheck(shipped: ShippedCheck): SearchContext {
  const c = shipped.context;
  const rebuilt = new Map<object, PhysicalMemory>();
  for (const s of statesOf(c)) {
    const m = s.memory as unknown as ClonedMemory;
    if (m instanceof PhysicalMemory) continue; // not cloned (same thread: tests)
    let memory = rebuilt.get(m);
    if (memory === undefined) {
      if (!Array.isArray(m.root) || !Number.isInteger(m.height) || !Number.isInteger(m.populatedFrames)) throw new Error('a shipped state\'s memory is not a PhysicalMemory (root, height, populatedFrames)');
      memory = rebuildMemory(m);
      rebuilt.set(m, memory);
    }
    (s as { memory: PhysicalMemory }).memory = memory;
  }
  if (FREEZE_STATES) for (const s of statesOf(c)) freezePlain(s);
  return c;
}
