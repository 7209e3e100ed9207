/**
 * Counting the memory references a transition makes: a platform state's `memory` is
 * replaced by a proxy that tallies every read and write of simulated memory by region
 * (the IRT, the posted-interrupt descriptors), so the explorer's per-interrupt costs are
 * what the simulator did, not a formula. One call of a PhysicalMemory accessor is one
 * reference (an IRTE read is one reference, whatever its 16 bytes); an atomic
 * read-modify-write (`modifyWords`: the IOMMU's PIR/ON update, the CPU's PIR harvest) is
 * one read and one write.
 */
import { PhysicalMemory } from '../memory/physical-memory.ts';
import type { PlatformState } from '../platform/state.ts';

/** A named address range [first, end) in bytes. */
export interface Region {
  readonly name: string;
  readonly first: bigint;
  readonly end: bigint;
}

/** Reads and writes per region name; references outside every region count under `other`. */
export type ReferenceTally = Record<string, { reads: number; writes: number }>;

/** Collects references; `reset` between measurements. */
export class ReferenceCounter {
  tally: ReferenceTally = {};
  constructor(readonly regions: readonly Region[]) {}

  record(kind: 'reads' | 'writes', address: bigint): void {
    const region = this.regions.find((r) => address >= r.first && address < r.end)?.name ?? 'other';
    const t = (this.tally[region] ??= { reads: 0, writes: 0 });
    t[kind]++;
  }

  reset(): ReferenceTally {
    const t = this.tally;
    this.tally = {};
    return t;
  }
}

// Accessors and the address each one touches; internal calls go to the unwrapped target,
// so a readU32 that calls readLE is one reference, not two.
const READS: Readonly<Record<string, (args: unknown[]) => bigint>> = {
  readLE: (a) => a[0] as bigint,
  readBytes: (a) => a[0] as bigint,
  readWords: (a) => a[0] as bigint,
  readU32: (a) => a[0] as bigint,
  readU64: (a) => a[0] as bigint,
  readWord: (a) => BigInt(a[0] as number) * 4096n + BigInt((a[1] as number) * 4),
};
const WRITES: Readonly<Record<string, (args: unknown[]) => bigint>> = {
  writeLE: (a) => a[0] as bigint,
  writeBytes: (a) => a[0] as bigint,
  writeU32: (a) => a[0] as bigint,
  writeU64: (a) => a[0] as bigint,
};

const targets = new WeakMap<object, PhysicalMemory>();

/** `memory` behind a proxy reporting to `counter`; memories it returns are wrapped too. */
export function countingMemory(memory: PhysicalMemory, counter: ReferenceCounter): PhysicalMemory {
  const target = targets.get(memory) ?? memory;
  const proxy: PhysicalMemory = new Proxy(target, {
    get(t, prop, receiver) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      const read = READS[prop];
      const write = WRITES[prop];
      const rmw = prop === 'modifyWords';
      if (read === undefined && write === undefined && !rmw) return value;
      return (...args: unknown[]): unknown => {
        if (read) counter.record('reads', read(args));
        if (write) counter.record('writes', write(args));
        if (rmw) {
          counter.record('reads', args[0] as bigint);
          counter.record('writes', args[0] as bigint);
        }
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(t, args);
        if (result === t) return receiver;
        return result instanceof PhysicalMemory ? countingMemory(result, counter) : result;
      };
    },
  });
  targets.set(proxy, target);
  return proxy;
}

/** The memory under a counting proxy (the memory itself when it is not one). */
export function plainMemory(memory: PhysicalMemory): PhysicalMemory {
  return targets.get(memory) ?? memory;
}

/** A copy of `state` whose memory counts into `counter`. */
export function withCounting(state: PlatformState, counter: ReferenceCounter): PlatformState {
  return { ...state, memory: countingMemory(state.memory, counter) };
}

/** A copy of `state` with its memory unwrapped (the same state when it is not counting). */
export function withoutCounting(state: PlatformState): PlatformState {
  const plain = plainMemory(state.memory);
  return plain === state.memory ? state : Object.freeze({ ...state, memory: plain });
}
