/**
 * The vCPUs of all guests, stored in pages of 64 so that changing one vCPU copies
 * one page (and the short page list), not the whole table — a guest may have 4,096
 * vCPUs (DESIGN.md §2: a transition's cost must not grow with table size). The table
 * also indexes which vCPU each pCPU runs in guest mode, which every notification
 * looks up.
 */
import type { Vcpu } from './state.ts';

export const VCPU_PAGE = 64;

export interface VcpuTable {
  readonly count: number;
  readonly pages: readonly (readonly Vcpu[])[];
  /** pCPU → id of the vCPU it runs in guest mode. */
  readonly runningOn: Readonly<Record<number, number>>;
}

/** A table holding `list` (ids must equal positions). */
export function vcpuTable(list: readonly Vcpu[]): VcpuTable {
  const pages: Vcpu[][] = [];
  for (let i = 0; i < list.length; i += VCPU_PAGE) pages.push(list.slice(i, i + VCPU_PAGE));
  const runningOn: Record<number, number> = {};
  for (const v of list) if (v.run === 'running') runningOn[v.pcpu] = v.id;
  return { count: list.length, pages, runningOn };
}

/** The vCPU with id `id`, if any. O(1). */
export function vcpuAt(t: VcpuTable, id: number): Vcpu | undefined {
  return Number.isInteger(id) && id >= 0 ? t.pages[Math.floor(id / VCPU_PAGE)]?.[id % VCPU_PAGE] : undefined;
}

/** Every vCPU in id order. O(n): for properties, dumps and traces, not transitions. */
export function vcpuList(t: VcpuTable): Vcpu[] {
  return t.pages.flat();
}

/** The vCPU `pcpu` runs in guest mode, if any. O(1). */
export function runningVcpu(t: VcpuTable, pcpu: number): Vcpu | undefined {
  const id = t.runningOn[pcpu];
  return id === undefined ? undefined : vcpuAt(t, id);
}

/**
 * A mutable copy of a dense array. Spread, because V8 copies a frozen array that way in
 * ~40 ns for 64 elements, while `slice` takes a slow path (~2.5 µs) and an indexed loop
 * reading the frozen elements costs ~700 ns (Node 20).
 */
function copyOf<T>(a: readonly T[]): T[] {
  return [...a];
}

/** The table with `v` replacing the vCPU of the same id; copies one page. @throws RangeError for an unknown id. */
export function withVcpu(t: VcpuTable, v: Vcpu): VcpuTable {
  const old = vcpuAt(t, v.id);
  if (old === undefined) throw new RangeError(`no vCPU ${v.id}`);
  // Frozen as they are made: transitions freeze only what is new, and these would
  // otherwise be walked element by element (a notification changes one vCPU of 4,096).
  const p = Math.floor(v.id / VCPU_PAGE);
  const page = copyOf(t.pages[p]!);
  page[v.id % VCPU_PAGE] = Object.isFrozen(v) ? v : Object.freeze({ ...v });
  const pages = copyOf(t.pages);
  pages[p] = Object.freeze(page);
  Object.freeze(pages);
  let runningOn = t.runningOn;
  const wasRunning = old.run === 'running';
  const isRunning = v.run === 'running';
  if (wasRunning !== isRunning || (isRunning && old.pcpu !== v.pcpu)) {
    const next: Record<number, number> = { ...t.runningOn };
    if (wasRunning && next[old.pcpu] === old.id) delete next[old.pcpu];
    if (isRunning) next[v.pcpu] = v.id;
    runningOn = Object.freeze(next);
  }
  return Object.freeze({ count: t.count, pages, runningOn });
}
