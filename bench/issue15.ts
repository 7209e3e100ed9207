/**
 * Issue 15 (the immutable model at the speed of the C reference model): the figures its goals
 * 1, 2, 3, 4 and 7 are judged by, each beside what it is compared with in the same run.
 *
 * 1. IEC hit through `applyAction` vs the plain mutable baseline of the same step
 *    (`MutableIrPlatform`, bench/scaling.ts), 1 device on 1 unit; and the same writes applied
 *    in sequence by one `applyActions` call. Target ≥ 0.4× the baseline's rate.
 * 2. IEC miss through `applyAction` vs {@link MutableMissPlatform}: the same step on plain
 *    mutable data (the IRT as mutable Uint32Array pages, a Map IEC with FIFO eviction).
 *    Target ≥ 0.25×.
 * 3. `program-msix`, `map-dma`, `grant`, `assign-device` (and the IEC-hit `msi-write`) with
 *    256 devices vs 1 device (every device owned, one grant per device); and the IEC hit with
 *    8 units vs 1 (the scaling fixture's 256 devices, the writes cycling over them and so over
 *    the units). Target ≤ 1.2×. These have no mutable baseline here: the target is the model
 *    against itself.
 * 4. A cold nested 4×4 translation through the `dma` action vs `translateDma` alone (bench/dma.ts
 *    fixtures). Target ≥ 100,000/s and ≥ 0.8× of the walk alone.
 * 7. Heap (V8 heap plus ArrayBuffer backing stores) of a platform whose 65,536-entry IRT is in
 *    memory, written one 4 KiB page at a time (bench/platform.ts `enabledPlatform`) and one
 *    IRTE at a time (65,536 `write-irte` actions). Target ≤ 1.2 MiB.
 *
 * All timed cases run interleaved (bench/interleaved.ts). `tsx bench/issue15.ts [ROUNDS] [SLICE_MS]`
 * prints this section alone.
 */
import { deepStrictEqual } from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import type { PlatformState } from '../src/platform/state.ts';
import type { Action } from '../src/platform/actions.ts';
import type { PlatformEvent } from '../src/platform/events.ts';
import { applyAction, applyActions } from '../src/platform/transition.ts';
import { decodeIrta, irtEntries, GLOBAL_STATUS_BITS } from '../src/vtd/registers.ts';
import { translateDma } from '../src/vtd/dma/walk.ts';
import { composeRemappableMsi } from '../src/vtd/remappable-msi.ts';
import { scalingFixture, MutableIrPlatform } from './scaling.ts';
import { enabledPlatform, warmIec, msiWrite, irteValue, irteWrite, IRT_BASE, DEVICE_KEY } from './platform.ts';
import { dmaPlatforms, dmaAction, dmaRequest, DMA_PAGES } from './dma.ts';
import { timeInterleaved, type TimedCase, type Timing } from './interleaved.ts';
import { buildPlatform } from '../src/platform/build.ts';
import { irEnableSequence } from '../src/platform/ir-enable.ts';

let sink: unknown;

function fail(message: string): never {
  throw new Error(`bench fixture check failed: issue 15: ${message}`);
}

// --- Goal 2: the IEC-miss baseline -------------------------------------------------------

const SQ_MASKS = [0xffff, 0xfffb, 0xfff9, 0xfff8];

/**
 * The IEC-miss interrupt on plain mutable data: the IRT in mutable 4 KiB Uint32Array pages,
 * the IEC a Map with FIFO eviction at the model's capacity. Per write: the same checks as
 * MutableIrPlatform, then the IRTE's four dwords read from the page, decoded with number
 * arithmetic (present, reserved bits, every field the event names), cached (the oldest entry
 * evicted when full), verified and delivered, with the same event object as applyAction's.
 * Only the remapped, physical, x2APIC path of the fixture; anything else throws.
 */
export class MutableMissPlatform {
  step: number;
  private readonly pages = new Map<number, Uint32Array>();
  private readonly iec = new Map<number, { vector: number; deliveryMode: number; triggerLevel: boolean; redirectionHint: boolean; destination: number; svt: number; sq: number; sid: number }>();
  private readonly baseFrame: number;
  private readonly entries: number;
  private readonly apicIds: number[];
  private readonly rid: number;
  private readonly key: string;

  constructor(s: PlatformState, readonly capacity: number) {
    // The model stamps the bench's actions as step 0 (applyAction's default); so does this, from 0.
    this.step = 0;
    const u = s.iommus[0]!;
    if ((u.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRES)) === 0) fail('miss baseline: IR disabled');
    const irta = decodeIrta(u.regs.irtaLatched);
    this.baseFrame = Number(irta.base >> 12n);
    this.entries = irtEntries(irta.size);
    this.apicIds = s.cpus.map((c) => c.apicId);
    const fn = s.devices[DEVICE_KEY]!;
    this.rid = fn.busRid;
    this.key = fn.key;
    for (let f = 0; f < this.entries / 256; f++) {
      const page = new Uint32Array(1024);
      for (let w = 0; w < 1024; w++) page[w] = s.memory.readWord(this.baseFrame + f, w);
      this.pages.set(this.baseFrame + f, page);
    }
  }

  msiWrite(a: Action): PlatformEvent[] {
    if (a.kind !== 'msi-write' || a.device !== this.key) throw new Error('miss baseline: not an msi-write of the fixture device');
    const address = a.address;
    const data = a.data >>> 0;
    const low = Number(address & 0xffff_ffffn);
    if (address >> 20n !== 0xfeen || (low & 0x10) === 0 || data >>> 16 !== 0) throw new Error('miss baseline: not a valid remappable request');
    const handle = (((low >>> 2) & 1) << 15) | ((low >>> 5) & 0x7fff);
    const index = (low & 0x8) !== 0 ? (handle + (data & 0xffff)) & 0xffff : handle;
    if (index >= this.entries) throw new Error('miss baseline: index over');
    if (this.iec.has(index)) throw new Error(`miss baseline: IEC hit at ${index}`);
    const page = this.pages.get(this.baseFrame + (index >>> 8))!;
    const w = (index & 0xff) << 2;
    const w0 = page[w]!;
    const w1 = page[w + 1]!;
    const w2 = page[w + 2]!;
    const w3 = page[w + 3]!;
    if ((w0 & 1) === 0 || (w0 & 0x8000) !== 0 || (w0 & 0xff00_7000) !== 0 || (w2 & 0xfff0_0000) !== 0 || w3 !== 0 || (w0 & 4) !== 0) throw new Error('miss baseline: path not modelled');
    const e = { vector: (w0 >>> 16) & 0xff, deliveryMode: (w0 >>> 5) & 7, triggerLevel: (w0 & 16) !== 0, redirectionHint: (w0 & 8) !== 0, destination: w1 >>> 0, svt: (w2 >>> 18) & 3, sq: (w2 >>> 16) & 3, sid: w2 & 0xffff };
    if (this.iec.size >= this.capacity) this.iec.delete(this.iec.keys().next().value!);
    this.iec.set(index, e);
    const rid = this.rid;
    const ok = e.svt === 0 || (e.svt === 1 && (rid & SQ_MASKS[e.sq]!) === (e.sid & SQ_MASKS[e.sq]!));
    if (!ok) throw new Error('miss baseline: source-ID mismatch');
    const targets: number[] = [];
    for (let c = 0; c < this.apicIds.length; c++) if (this.apicIds[c] === e.destination) targets.push(c);
    const step = this.step++;
    return [
      {
        kind: 'interrupt-delivered',
        device: this.key,
        rid,
        address,
        data,
        path: 'remapped',
        iommu: 0,
        irteIndex: index,
        iecHit: false,
        destination: e.destination,
        destinationMode: 'physical',
        vector: e.vector,
        deliveryMode: e.deliveryMode,
        triggerMode: e.triggerLevel ? 'level' : 'edge',
        redirectionHint: e.redirectionHint,
        targets,
        candidates: targets,
        step,
      },
    ];
  }

  /** Forget the cached entries (between checks). */
  clear(): void {
    this.iec.clear();
  }
}

// --- Goal 3: action kinds with 1 and 256 devices ----------------------------------------

export const FLAT_DEVICES = [1, 256] as const;
/** Units of the IEC-hit case of goal 3 (with {@link FLAT_UNIT_DEVICES} devices). */
export const FLAT_UNITS = [1, 8] as const;
export const FLAT_UNIT_DEVICES = 256;
export const FLAT_KINDS = ['msi-write', 'program-msix', 'map-dma', 'grant', 'assign-device'] as const;
type FlatKind = (typeof FLAT_KINDS)[number];

/** The scaling fixture (1 unit) with DMA remapping rooted (legacy) and one grant per device. */
function flatBase(devices: number): { state: PlatformState; actions: Record<FlatKind, Action[]> } {
  const f = scalingFixture(devices, 1);
  const keys = Object.keys(f.warm.devices);
  const grants: Action[] = keys.map((k, i) => ({ kind: 'grant', grant: { requester: k, target: { kind: 'pcpu', apicId: i % 8 }, vector: 0x30 + (i % 0xc0), deliveryModes: [0, 1] } }));
  const state = applyActions(f.warm, [{ kind: 'dma-root', iommu: 0, scalable: false }, ...grants]).state;
  // Every action names function 0, the one present in both configurations; 64 of each per call.
  const k0 = keys[0]!;
  const n = 64;
  const rep = (make: (i: number) => Action): Action[] => Array.from({ length: n }, (_, i) => make(i));
  const m = composeRemappableMsi({ handle: 0, shv: false });
  return {
    state,
    actions: {
      'msi-write': rep(() => ({ kind: 'msi-write', device: k0, address: m.address, data: m.data })),
      'program-msix': rep((i) => ({ kind: 'program-msix', device: k0, entry: i % 8, address: 0xfee0_0000n, data: 0x30 + i, masked: true })),
      'map-dma': rep((i) => ({ kind: 'map-dma', iommu: 0, device: k0, did: 1, mode: 'legacy', levels: 4, mappings: [{ iova: 0x10_0000n + BigInt(i) * 0x1000n, hpa: 0x8000_0000n + BigInt(i) * 0x1000n, size: 0x1000n, read: true, write: true }] })),
      grant: rep((i) => ({ kind: 'grant', grant: { requester: k0, target: { kind: 'pcpu', apicId: i % 8 }, vector: 0x40 + i, deliveryModes: [0, 1] } })),
      'assign-device': rep(() => ({ kind: 'assign-device', device: k0, domain: 0 })),
    },
  };
}

function checkFlat(kind: FlatKind, s: PlatformState, a: Action): void {
  const r = applyAction(s, a);
  const rejected = r.events.find((e) => e.kind === 'action-rejected');
  if (rejected !== undefined) fail(`${kind}: rejected: ${JSON.stringify(rejected, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
  const want: Record<FlatKind, string> = { 'msi-write': 'interrupt-delivered', 'program-msix': 'msi-config', 'map-dma': 'dma-map', grant: 'intent', 'assign-device': 'intent' };
  if (!r.events.some((e) => e.kind === want[kind] || (kind === 'map-dma' && e.kind !== 'action-rejected'))) fail(`${kind}: events ${r.events.map((e) => e.kind).join(',')}`);
  // An IEC hit changes nothing the hardware holds, so it must return the same state object;
  // every other kind here writes a table and must return a new one.
  const unchanged = kind === 'msi-write';
  if ((r.state === s) !== unchanged) fail(`${kind}: the state ${unchanged ? 'changed on an IEC hit' : 'did not change'}`);
}

// --- Goal 7: heap of a 65,536-entry IRT platform -----------------------------------------

/**
 * V8 heap used plus ArrayBuffer backing stores after full collections, bytes. The backing
 * stores of collected buffers are freed by a background sweeper, so the collections are
 * spaced by a few event-loop turns until the figure settles.
 */
async function retainedBytes(gc: () => void): Promise<number> {
  let last = Number.NaN;
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const u = process.memoryUsage();
    const now = u.heapUsed + u.arrayBuffers;
    if (Math.abs(now - last) < 4096) return now;
    last = now;
  }
  return last;
}

export interface HeapFigure {
  readonly what: string;
  readonly bytes: number;
}

/** Platforms built and kept per measurement: the figure is the retained growth divided by it (less noise from the collector). */
const HEAP_COPIES = 3;

/** Bytes each way of building the 65,536-entry IRT platform keeps alive (the states retained while measured), per platform. */
export async function irtHeap(): Promise<HeapFigure[]> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const out: HeapFigure[] = [];
  const keep: PlatformState[] = [];
  const empty = applyActions(buildPlatform(descriptionOf()), irEnableSequence(0, { base: IRT_BASE, eime: true, entries: 65536 }).actions).state;
  const byIrte = (): PlatformState => {
    let s = empty;
    for (let i = 0; i < 65536; i++) s = applyAction(s, irteWrite(i, irteValue(i))).state;
    return s;
  };
  const ways: [string, () => PlatformState][] = [
    ['platform, IRT written one 4 KiB page at a time (`enabledPlatform(65536)`)', () => enabledPlatform(65536)],
    ['platform, IRT written one IRTE at a time (65,536 `write-irte` actions)', byIrte],
  ];
  for (const [what, build] of ways) {
    // Built once first, so that compiled code and the model's memos (not part of a state) are
    // in the heap before the measurement. Nothing built here is released until the end: the
    // backing stores of released buffers leave the counters late, which made the figures drift.
    keep.push(build());
    const before = await retainedBytes(gc);
    const kept = Array.from({ length: HEAP_COPIES }, build);
    const after = await retainedBytes(gc);
    for (const s of kept) if (s.memory.readLE(IRT_BASE + 65535n * 16n, 16) !== irteValue(65535)) fail('heap: IRTE 65535 not in memory');
    out.push({ what, bytes: (after - before) / HEAP_COPIES });
    keep.push(...kept);
  }
  keep.length = 0;
  return out;
}

/** The bench/platform.ts description, recovered from a built platform's inputs (the same one-unit x2APIC platform). */
function descriptionOf(): Parameters<typeof buildPlatform>[0] {
  return {
    hostAddressWidth: 46,
    apicMode: 'x2apic',
    extendedDestinationId: false,
    apicIds: Array.from({ length: 8 }, (_, i) => i),
    iommus: [{ segment: 0, registerBase: 0xfed9_0000n, includePciAll: true, scope: { endpoints: [], bridges: [], busRanges: [], ioapics: [], hpets: [] } }],
    devices: [{ segment: 0, rid: 0x0300, key: DEVICE_KEY, name: 'nic', upstream: [], msix: { tableSize: 8 } }],
    domains: [{ name: 'host', kind: 'host', cpus: Array.from({ length: 8 }, (_, i) => i), devices: [DEVICE_KEY] }],
    grants: [],
  };
}

// --- The cases ------------------------------------------------------------------------------

export interface Issue15Cases {
  readonly cases: readonly TimedCase[];
  readonly names: {
    readonly hit: readonly [model: string, batch: string, baseline: string];
    readonly miss: readonly [model: string, baseline: string];
    readonly flat: readonly { kind: FlatKind; devices: number; name: string }[];
    readonly units: readonly { units: number; name: string }[];
    readonly dma: readonly [walk: string, action: string];
  };
}

export function issue15Cases(): Issue15Cases {
  const cases: TimedCase[] = [];
  // Goal 1.
  const f = scalingFixture(1, 1);
  const plain = new MutableIrPlatform(f.warm);
  const batch = applyActions(f.warm, f.msis);
  if (batch.events.length !== f.msis.length || batch.state !== f.warm || batch.events[f.msis.length - 1]!.step !== f.msis.length - 1) fail('applyActions batch: an IEC hit must return the same state, the events numbered from 0');
  const hit = ['IEC hit: applyAction', 'IEC hit: applyActions (one call, the writes in sequence)', 'IEC hit: mutable baseline'] as const;
  cases.push(
    { name: hit[0], ops: f.msis.length, run: () => { for (const a of f.msis) sink = applyAction(f.warm, a); } },
    { name: hit[1], ops: f.msis.length, run: () => { sink = applyActions(f.warm, f.msis); } },
    { name: hit[2], ops: f.msis.length, run: () => { for (const a of f.msis) sink = plain.msiWrite(a); } },
  );
  // Goal 2: the model misses on an IEC full of other entries (each fill evicts); the baseline
  // misses on every write of a stream over all 4,096 IRTEs (each fill evicts too).
  const table = enabledPlatform(4096);
  const others = Array.from({ length: 64 }, (_, k) => 4095 - k * 61);
  const full = warmIec(table, others);
  if (full.iommus[0]!.iec.order.length !== 64) fail('miss: IEC not full');
  const timedIdx = Array.from({ length: 64 }, (_, k) => k * 61);
  const misses = timedIdx.map(msiWrite);
  const missBase = new MutableMissPlatform(full, 64);
  misses.forEach((a) => {
    const r = applyAction(full, a);
    const e = r.events[0];
    if (r.events.length !== 1 || e?.kind !== 'interrupt-delivered' || e.iecHit !== false || r.state.iommus[0]!.iec.order.length !== 64) fail('miss: not a miss that fills and evicts');
    missBase.clear();
    missBase.step = 0;
    deepStrictEqual(missBase.msiWrite(a), r.events);
  });
  missBase.clear();
  const stream = Array.from({ length: 4096 }, (_, k) => msiWrite((k * 1777) % 4096));
  let at = 0;
  const miss = ['IEC miss: applyAction', 'IEC miss: mutable baseline'] as const;
  cases.push(
    { name: miss[0], ops: misses.length, run: () => { for (const a of misses) sink = applyAction(full, a); } },
    { name: miss[1], ops: 64, run: () => { for (let i = 0; i < 64; i++) { sink = missBase.msiWrite(stream[at]!); at = (at + 1) % stream.length; } } },
  );
  // Goal 3.
  const flat: { kind: FlatKind; devices: number; name: string }[] = [];
  for (const devices of FLAT_DEVICES) {
    const b = flatBase(devices);
    for (const kind of FLAT_KINDS) {
      const actions = b.actions[kind];
      for (const a of actions.slice(0, 2)) checkFlat(kind, b.state, a);
      const name = `${kind}, ${devices} device${devices === 1 ? '' : 's'}`;
      flat.push({ kind, devices, name });
      cases.push({ name, ops: actions.length, run: () => { for (const a of actions) sink = applyAction(b.state, a); } });
    }
  }
  // Goal 3, units: the scaling fixture (checked by verifyScaling in bench/scaling.ts's own cases).
  const units: { units: number; name: string }[] = [];
  for (const u of FLAT_UNITS) {
    const fx = scalingFixture(FLAT_UNIT_DEVICES, u);
    const r = applyActions(fx.warm, fx.msis);
    if (r.events.some((e) => e.kind !== 'interrupt-delivered' || !e.iecHit)) fail(`IEC hit on ${u} units: not every write an IEC hit`);
    const name = `IEC hit, ${FLAT_UNIT_DEVICES} devices on ${u} unit${u === 1 ? '' : 's'}`;
    units.push({ units: u, name });
    cases.push({ name, ops: fx.msis.length, run: () => { for (const a of fx.msis) sink = applyAction(fx.warm, a); } });
  }
  // Goal 4.
  const { cold, config } = dmaPlatforms();
  const requests = Array.from({ length: DMA_PAGES }, (_, k) => dmaRequest(k));
  const reads = Array.from({ length: DMA_PAGES }, (_, k) => dmaAction(k));
  // Both do the same cold walk: the action's event carries the walk's HPA and its 28 references.
  reads.forEach((a, k) => {
    const w = translateDma(cold.memory, config, requests[k]!);
    const e = applyAction(cold, a).events;
    const access = e[0];
    if (!w.ok || e.length !== 1 || access?.kind !== 'dma-access' || access.translation !== 'walk' || access.hpa !== w.hpa || access.references.length !== 28) fail(`goal 4: page ${k} is not a cold walk through the action`);
    deepStrictEqual(access.references, w.references);
  });
  const dma = ['cold nested 4×4: translateDma alone', 'cold nested 4×4: applyAction dma'] as const;
  cases.push(
    { name: dma[0], ops: requests.length, run: () => { for (const q of requests) sink = translateDma(cold.memory, config, q); } },
    { name: dma[1], ops: reads.length, run: () => { for (const a of reads) sink = applyAction(cold, a); } },
  );
  return { cases, names: { hit, miss, flat, units, dma } };
}

// --- The report -----------------------------------------------------------------------------

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtNs = (t: Timing): string => `${t.nsPerOp.toFixed(0)} (${t.minNs.toFixed(0)}–${t.maxNs.toFixed(0)})`;
const MIB = 1024 * 1024;

export const HIT_TARGET = 0.4;
export const MISS_TARGET = 0.25;
export const FLAT_TARGET = 1.2;
export const DMA_TARGET_OPS = 100_000;
export const DMA_TARGET_RATIO = 0.8;
export const HEAP_TARGET_MIB = 1.2;

/** The section's lines and its target lines, from the timings of {@link issue15Cases} (same order) and {@link irtHeap}. */
export function issue15Report(c: Issue15Cases, t: readonly Timing[], heap: readonly HeapFigure[], rounds: number, sliceMs: number): { section: string[]; targets: string[] } {
  const by = (name: string): Timing => t[c.cases.findIndex((x) => x.name === name)]!;
  const verdict = (ok: boolean): string => (ok ? '**met**' : '**NOT met**');
  const rate = (model: Timing, baseline: Timing): number => baseline.nsPerOp / model.nsPerOp;
  const hitRatio = rate(by(c.names.hit[0]), by(c.names.hit[2]));
  const batchRatio = rate(by(c.names.hit[1]), by(c.names.hit[2]));
  const missRatio = rate(by(c.names.miss[0]), by(c.names.miss[1]));
  const flatRows = FLAT_KINDS.map((kind) => {
    const [one, many] = FLAT_DEVICES.map((d) => by(c.names.flat.find((x) => x.kind === kind && x.devices === d)!.name));
    return { kind, one: one!, many: many!, ratio: many!.nsPerOp / one!.nsPerOp };
  });
  const [oneUnit, manyUnits] = FLAT_UNITS.map((u) => by(c.names.units.find((x) => x.units === u)!.name));
  const unitRatio = manyUnits!.nsPerOp / oneUnit!.nsPerOp;
  const walk = by(c.names.dma[0]);
  const viaAction = by(c.names.dma[1]);
  const dmaRatio = walk.nsPerOp / viaAction.nsPerOp;
  const row = (x: Timing): string => `| ${x.name} | ${fmtInt(x.opsPerSecond)} | ${fmtNs(x)} |`;
  const section = [
    '## Issue 15: the immutable model beside mutable baselines (`bench/issue15.ts`)',
    '',
    `Interleaved as the scaling cases (${rounds} rounds of ${sliceMs.toFixed(0)} ms slices, median; min–max over the slices), but`,
    'timed in **CPU time** of the process (`process.cpuUsage`, user + system, every thread: the garbage collector\'s',
    'helpers included), not wall time: the machine is shared, and CPU time leaves out the time spent waiting for a core.',
    'States are not frozen here: freezing is the debug mode `REMAPSIM_FREEZE=1` (src/platform/freeze-mode.ts), on in',
    'the tests (vitest.config.ts), off in `npm run bench` and the CLI.',
    '',
    '- **IEC hit** (goal 1): the scaling fixture with 1 device on 1 unit (256 writes per call, each to the same base);',
    '  `applyActions` applies the same 256 writes in sequence in one call; the baseline is `MutableIrPlatform`.',
    '- **IEC miss** (goal 2): the 4,096-entry IRT of the tables above with an IEC full of 64 other entries, 64 writes per',
    '  call to IRTEs not cached, each to the same base (read, decode, fill, evict the oldest). The baseline',
    '  (`MutableMissPlatform`) does the same on mutable Uint32Array pages and a FIFO `Map`, over a stream of all',
    '  4,096 IRTEs, so every one of its writes misses and evicts too; its events equal applyAction\'s (checked).',
    '- **Action kinds** (goal 3): the scaling fixture with 1 and 256 devices on 1 unit, legacy DMA remapping rooted',
    '  and one grant per device; 64 actions of each kind per call, each naming function 0 and applied to the same',
    '  base. No mutable baseline: the target is the model with 256 devices against itself with 1. The IEC hit over',
    `  units: the scaling fixture with ${FLAT_UNIT_DEVICES} devices on 1 and on 8 units, its 256 writes cycling over the devices.`,
    '- **Cold nested 4×4** (goal 4): the DMA fixtures above.',
    '',
    '| case | ops/s | ns/op (min–max) |',
    '|---|---:|---:|',
    ...[...c.names.hit, ...c.names.miss].map((n) => row(by(n))),
    ...c.names.flat.map((x) => row(by(x.name))),
    ...c.names.units.map((x) => row(by(x.name))),
    ...c.names.dma.map((n) => row(by(n))),
    '',
    '| ratio | value |',
    '|---|---:|',
    `| IEC hit: applyAction rate / baseline rate | ${hitRatio.toFixed(2)}× |`,
    `| IEC hit: applyActions rate / baseline rate | ${batchRatio.toFixed(2)}× |`,
    `| IEC miss: applyAction rate / baseline rate | ${missRatio.toFixed(2)}× |`,
    ...flatRows.map((r) => `| ${r.kind}: cost with 256 devices / with 1 | ${r.ratio.toFixed(2)}× |`),
    `| IEC hit: cost with 8 units / with 1 (${FLAT_UNIT_DEVICES} devices) | ${unitRatio.toFixed(2)}× |`,
    `| cold nested 4×4: applyAction rate / translateDma rate | ${dmaRatio.toFixed(2)}× |`,
    '',
    `Heap (goal 7): V8 heap used plus ArrayBuffer backing stores (\`process.memoryUsage()\` after full collections, repeated`,
    `until the figure settles), before and after building ${HEAP_COPIES} platforms each way (kept referenced; the figure is per`,
    'platform), after one warm-up build, so that compiled code and the model\'s memos are not counted:',
    '',
    '| platform | retained |',
    '|---|---:|',
    ...heap.map((h) => `| ${h.what} | ${(h.bytes / MIB).toFixed(2)} MiB |`),
    '',
  ];
  const flatWorst = flatRows.reduce((a, b) => (a.ratio >= b.ratio ? a : b));
  const targets = [
    `- Issue 15 goal 1, IEC hit ≥ ${HIT_TARGET}× the mutable baseline: applyAction ${hitRatio.toFixed(2)}× — ${verdict(hitRatio >= HIT_TARGET)}; applyActions ${batchRatio.toFixed(2)}×.`,
    `- Issue 15 goal 2, IEC miss ≥ ${MISS_TARGET}× the mutable baseline: ${missRatio.toFixed(2)}× — ${verdict(missRatio >= MISS_TARGET)}.`,
    `- Issue 15 goal 3, every action kind within ${FLAT_TARGET}× from 1 to 256 devices: worst ${flatWorst.kind} ${flatWorst.ratio.toFixed(2)}× — ${verdict(flatWorst.ratio <= FLAT_TARGET)} (${flatRows.map((r) => `${r.kind} ${r.ratio.toFixed(2)}×`).join(', ')}); the IEC hit within ${FLAT_TARGET}× from 1 to 8 units: ${unitRatio.toFixed(2)}× — ${verdict(unitRatio <= FLAT_TARGET)}.`,
    `- Issue 15 goal 4, cold nested 4×4 through the \`dma\` action ≥ ${fmtInt(DMA_TARGET_OPS)}/s and ≥ ${DMA_TARGET_RATIO}× translateDma: ${fmtInt(viaAction.opsPerSecond)}/s — ${verdict(viaAction.opsPerSecond >= DMA_TARGET_OPS)}; ${dmaRatio.toFixed(2)}× — ${verdict(dmaRatio >= DMA_TARGET_RATIO)}.`,
    `- Issue 15 goal 7, a 65,536-entry IRT platform ≤ ${HEAP_TARGET_MIB} MiB: ${heap.map((h) => `${(h.bytes / MIB).toFixed(2)} MiB (${h.what.includes('page') ? 'page writes' : 'IRTE writes'}) — ${verdict(h.bytes <= HEAP_TARGET_MIB * MIB)}`).join('; ')}.`,
  ];
  return { section, targets };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rounds = Number(process.argv[2] ?? 10);
  const sliceMs = Number(process.argv[3] ?? 100);
  const heap = await irtHeap();
  const c = issue15Cases();
  const t = timeInterleaved(c.cases, rounds, sliceMs, 'cpu');
  const r = issue15Report(c, t, heap, rounds, sliceMs);
  console.log([...r.section, ...r.targets].join('\n'));
}
