/**
 * VM shapes → x2APIC IDs, the way x86 CPUID topology enumeration encodes them: the ID is
 * the concatenation of the thread, core, die and socket numbers, each in a field whose
 * width is the level's count rounded up to a power of two (Intel SDM Vol. 2A, CPUID leaf
 * 0BH/1FH "Extended Topology Enumeration": bits 4:0 of EAX give the shift to the next
 * level; QEMU `include/hw/i386/topology.h` `apicid_bitwidth_for_count`,
 * `x86_apicid_from_topo_ids`). So IDs are sparse: a 5-socket guest with 20 cores of 2
 * threads has 200 vCPUs but its last APIC ID is 4·64 + 39 = 295.
 *
 * Also the explicit form: a list of IDs and ranges (`0-127,256-383`).
 */
import { InputError } from '../io/input-error.ts';

/** Counts per level: sockets, dies per socket, cores per die, threads per core. */
export interface Topology {
  readonly sockets: number;
  readonly dies: number;
  readonly cores: number;
  readonly threads: number;
}

/** Most vCPUs the explorer simulates for one VM (a sweep point or a topology). */
export const MAX_VCPUS = 8192;

/** Largest x2APIC ID (32 bits; SDM Vol. 3 §11.12 "x2APIC"). */
export const MAX_X2APIC_ID = 0xffff_ffff;
/** x2APIC destination 0xFFFFFFFF: broadcast to every CPU (Intel SDM Vol. 3A, "ICR Operation in x2APIC Mode"); never a CPU's own ID. */
export const X2APIC_BROADCAST_ID = 0xffff_ffff;

/** Width in bits of a topology field holding `count` values: ceil(log2(count)), 0 for 1 (QEMU `apicid_bitwidth_for_count`). */
export function fieldWidth(count: number): number {
  return count <= 1 ? 0 : Math.ceil(Math.log2(count));
}

/** Total logical processors of a topology. */
export function vcpuCount(t: Topology): number {
  return t.sockets * t.dies * t.cores * t.threads;
}

/**
 * Bit offsets of each level in the APIC ID: threads at 0, cores at `coreShift`, dies at
 * `dieShift`, sockets at `socketShift` (QEMU `apicid_core_offset`, `apicid_die_offset`,
 * `apicid_pkg_offset`).
 */
export function topologyShifts(t: Topology): { coreShift: number; dieShift: number; socketShift: number } {
  const coreShift = fieldWidth(t.threads);
  const dieShift = coreShift + fieldWidth(t.cores);
  return { coreShift, dieShift, socketShift: dieShift + fieldWidth(t.dies) };
}

/**
 * APIC IDs of the first `count` logical processors in enumeration order (socket, die, core,
 * thread — QEMU's cpu_index order). `count` defaults to the topology's size; a larger count
 * keeps the per-socket shape and adds sockets, which is how the sweep grows a VM.
 * @throws RangeError when an ID would exceed 32 bits.
 */
export function topologyApicIds(t: Topology, count: number = vcpuCount(t)): number[] {
  const { coreShift, dieShift, socketShift } = topologyShifts(t);
  const perSocket = t.dies * t.cores * t.threads;
  const ids: number[] = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    const thread = i % t.threads;
    const core = Math.floor(i / t.threads) % t.cores;
    const die = Math.floor(i / (t.threads * t.cores)) % t.dies;
    const socket = Math.floor(i / perSocket);
    // Multiplication, not <<: a socket field may start at bit 31 and JS shifts are 32-bit signed.
    const id = socket * 2 ** socketShift + die * 2 ** dieShift + core * 2 ** coreShift + thread;
    if (id > MAX_X2APIC_ID) throw new RangeError(`APIC ID of vCPU ${i} exceeds 32 bits`);
    ids[i] = id;
  }
  return ids;
}

const LEVEL_NAMES = { s: 'sockets', d: 'dies', c: 'cores', t: 'threads' } as const;

/**
 * Parse `2s:64c:2t` (optionally with `Nd` dies; levels in any order, missing ones are 1).
 * @throws InputError (field `--topology`) for anything else, zero counts, or more than
 *   {@link MAX_VCPUS} vCPUs.
 */
export function parseTopology(text: string): Topology {
  const fail = (why: string): never => {
    throw new InputError(`${why} (expected e.g. 2s:64c:2t or 2s:2d:32c:2t)`, { field: '--topology' });
  };
  const counts: Record<string, number> = {};
  const parts = text.trim().split(':');
  for (const part of parts) {
    const m = /^(\d+)([sdct])$/i.exec(part.trim());
    if (m === null) fail(`'${part}' is not <count><s|d|c|t>`);
    const unit = m![2]!.toLowerCase() as keyof typeof LEVEL_NAMES;
    if (counts[unit] !== undefined) fail(`${LEVEL_NAMES[unit]} given twice`);
    const n = Number(m![1]);
    if (!Number.isSafeInteger(n) || n < 1) fail(`${LEVEL_NAMES[unit]} must be at least 1`);
    counts[unit] = n;
  }
  const t: Topology = { sockets: counts.s ?? 1, dies: counts.d ?? 1, cores: counts.c ?? 1, threads: counts.t ?? 1 };
  if (vcpuCount(t) > MAX_VCPUS) fail(`${vcpuCount(t)} vCPUs is more than ${MAX_VCPUS}`);
  return t;
}

/** `2s:1d:64c:2t`. */
export function formatTopology(t: Topology): string {
  return `${t.sockets}s:${t.dies}d:${t.cores}c:${t.threads}t`;
}

/**
 * Parse an explicit APIC ID list: comma-separated IDs and inclusive ranges `a-b`, decimal
 * or 0x-hex, in vCPU order; duplicates are refused (two vCPUs cannot share an APIC ID).
 * @throws InputError (field `--apic-ids`).
 */
export function parseApicIdList(text: string): number[] {
  const fail = (why: string): never => {
    throw new InputError(why, { field: '--apic-ids' });
  };
  const num = (s: string): number => {
    const v = /^(0x[0-9a-f]+|\d+)$/i.test(s.trim()) ? Number(s.trim()) : NaN;
    if (!Number.isSafeInteger(v) || v < 0 || v > MAX_X2APIC_ID) fail(`'${s}' is not an APIC ID (0..0xfffffffe)`);
    // Intel SDM Vol. 3A, "ICR Operation in x2APIC Mode": destination FFFF_FFFFH is the broadcast, so no CPU has that ID.
    if (v === X2APIC_BROADCAST_ID) fail(`'${s}' is the x2APIC broadcast destination (0xffffffff), not a CPU's APIC ID (0..0xfffffffe)`);
    return v;
  };
  const ids: number[] = [];
  for (const item of text.split(',')) {
    if (item.trim() === '') fail('empty item in the list');
    const range = item.split('-');
    if (range.length > 2) fail(`'${item}' is not an ID or a range a-b`);
    const lo = num(range[0]!);
    const hi = range.length === 2 ? num(range[1]!) : lo;
    if (hi < lo) fail(`range '${item}' is descending`);
    if (ids.length + (hi - lo + 1) > MAX_VCPUS) fail(`more than ${MAX_VCPUS} vCPUs`);
    for (let id = lo; id <= hi; id++) ids.push(id);
  }
  if (new Set(ids).size !== ids.length) fail('an APIC ID appears twice');
  return ids;
}
