/**
 * Random DMA runs for the P2 (DMA isolation) and P4 (coherence) property tests (issue
 * "Two-stage DMA translation", item 7): fast-check arbitraries of *scenario steps* appended
 * to specs/dma/property-base.yaml, a runner that applies them to the platform and judges
 * P1, P2 and P4 after every action, and the counterexample files the searches write.
 *
 * A run picks a translation mode (legacy, second-stage, first-stage or nested) and a
 * hypervisor; its steps are:
 * - a prefix: `enable-dma` (scalable for every mode but legacy) and the hypervisor's initial
 *   `map-dma` of both guests' devices (4 KiB pages, a read-only page and a 2 MiB page);
 * - random hypervisor operations: `map-dma` of 1–3 small mappings into the device's domain
 *   (the model's map-dma builds a fresh translation for the device: the new mappings replace
 *   the old ones, with the context, PASID-cache and domain IOTLB invalidations compile.ts adds)
 *   and `unmap-dma` of a mapping or one page of it;
 * - adversarial device DMA: reads and writes at IOVAs drawn mostly from a hot pool (every range
 *   mapped in the run so far, unmapped ones included: mostly the device's own, a quarter of the
 *   time either device's), sometimes in the
 *   interrupt window 0xFEEx_xxxx (remappable-format handles 0–7, or compatibility format), and
 *   sometimes anywhere below 2^48. A quarter of the writes are IRTE-shaped: 16 bytes
 *   `vector << 16 | P` (remapped format, destination APIC 0, SVT = 0) at an IRTE-aligned offset.
 *
 * Hypervisors: `correct` (unmap with its page-selective invalidation and wait), `no-unmap-
 * invalidation` (unmap-dma with `invalidate: false`: a missing IOTLB invalidation), and
 * `irt-mapped` (correct, but every map of 07:00.0 also maps the IRT's page at IOVA 0).
 *
 * In scalable mode the scenario step `unmap-dma` (src/scenario/compile.ts) issues both the IOTLB
 * invalidation (type 2) and the PASID-based one (type 6) that first-stage entries need (VT-d
 * §6.5.2.4; Linux `qi_flush_piotlb`), so generated runs replay exactly from scenario files.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseScenarioText, type ParsedScenario } from '../../src/scenario/parse.ts';
import { compileScenario, type CompiledScenario } from '../../src/scenario/compile.ts';
import { buildPlatform } from '../../src/platform/build.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import { checkInterruptIsolation } from '../../src/properties/p1-interrupt-isolation.ts';
import { checkDmaIsolation } from '../../src/properties/p2-dma-isolation.ts';
import { checkCoherence } from '../../src/properties/p4-coherence.ts';
import { composeRemappableMsi } from '../../src/vtd/remappable-msi.ts';
import { scenarioWithSteps } from '../../src/scenario/write.ts';
import type * as S from '../../src/scenario/types.ts';

/** The base scenario (absolute path) and its repository-relative name. */
export const BASE_FILE = fileURLToPath(new URL('../../specs/dma/property-base.yaml', import.meta.url));
export const BASE_NAME = 'specs/dma/property-base.yaml';

/** Translation modes a run picks from (first = what shrinking goes to). */
export const MODES = ['legacy', 'second-stage', 'first-stage', 'nested'] as const;
export type Mode = (typeof MODES)[number];

/** How the hypervisor behaves (see the file header). */
export type Hypervisor = 'correct' | 'no-unmap-invalidation' | 'irt-mapped';

/** A guest's device and where its domain's DMA lives: 16 IOVA slots of 4 KiB, 32 HPA frames, one 2 MiB page. */
interface DeviceModel {
  readonly bdf: string;
  readonly did: number;
  readonly iovaBase: bigint;
  readonly hpaBase: bigint;
  readonly hugeIova: bigint;
  readonly hugeHpa: bigint;
}

/** 07:00.0 (vm1, DID 1) and 08:00.0 (vm2, DID 2), as in specs/dma/property-base.yaml. */
export const DEVICES: readonly DeviceModel[] = [
  { bdf: '07:00.0', did: 1, iovaBase: 0x10000n, hpaBase: 0x8000_0000n, hugeIova: 0x4000_0000n, hugeHpa: 0x8800_0000n },
  { bdf: '08:00.0', did: 2, iovaBase: 0x50000n, hpaBase: 0x9000_0000n, hugeIova: 0x4040_0000n, hugeHpa: 0x9800_0000n },
];
const SLOTS = 16;
const FRAMES = 32;
const PAGE = 0x1000n;
const HUGE = 0x20_0000n;
/** The IRT of specs/dma/property-base.yaml (256 entries, one page) and the IOVA the irt-mapped hypervisor maps it at. */
export const IRT_PAGE = 0x1000_0000n;
export const IRT_IOVA = 0n;
/** GPA of an IOVA in nested mode (the guest's first stage maps IOVA → GPA; distinct IOVAs get distinct GPAs). */
const gpaOf = (iova: bigint): bigint => iova + 0x100_0000n;

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** A mapped IOVA range of one device. */
export interface Region {
  readonly device: number;
  readonly iova: bigint;
  readonly size: bigint;
  readonly hpa: bigint;
  readonly write: boolean;
}

/** A step as written in a scenario (one action key, optional `note`). */
export type Step = Record<string, unknown>;

function mapStep(mode: Mode, device: number, regions: readonly Region[]): Step {
  const d = DEVICES[device]!;
  return {
    'map-dma': {
      iommu: 0,
      device: d.bdf,
      did: d.did,
      mode,
      levels: 4,
      mappings: regions.map((r) => ({ iova: hex(r.iova), hpa: hex(r.hpa), ...(mode === 'nested' ? { gpa: hex(gpaOf(r.iova)) } : {}), size: hex(r.size), ...(r.write ? {} : { write: false }) })),
    },
  };
}

/** The hypervisor's initial mappings of `device`: two 4 KiB pages, a read-only page, a 2 MiB page (and the IRT page for irt-mapped 07:00.0). */
function initialRegions(device: number, hv: Hypervisor): Region[] {
  const d = DEVICES[device]!;
  const out: Region[] = [
    { device, iova: d.iovaBase, size: 2n * PAGE, hpa: d.hpaBase, write: true },
    { device, iova: d.iovaBase + 4n * PAGE, size: PAGE, hpa: d.hpaBase + 8n * PAGE, write: false },
    { device, iova: d.hugeIova, size: HUGE, hpa: d.hugeHpa, write: true },
  ];
  return hv === 'irt-mapped' && device === 0 ? [irtRegion(), ...out] : out;
}

const irtRegion = (): Region => ({ device: 0, iova: IRT_IOVA, size: PAGE, hpa: IRT_PAGE, write: true });

/** The steps every run starts with: enable-dma and the initial map-dma of both devices. */
export function prefixSteps(mode: Mode, hv: Hypervisor): Step[] {
  const steps: Step[] = [{ 'enable-dma': { iommu: 0, scalable: mode !== 'legacy' } }];
  DEVICES.forEach((_, i) => {
    const s = mapStep(mode, i, initialRegions(i, hv));
    steps.push(hv === 'irt-mapped' && i === 0 ? { note: 'the bug: the map of 07:00.0 also maps the IRT page (HPA 0x10000000) at IOVA 0', ...s } : s);
  });
  return steps;
}

// ---------------------------------------------------------------------------------------
// Choices: positions, so shrinking goes to the first device, region, page and offset.

/** A DMA access before it is resolved against the run's mapped ranges. */
export interface DmaChoice {
  readonly kind: 'dma';
  readonly device: number;
  readonly target: 'hot' | 'window' | 'anywhere';
  readonly region: number;
  /** Draw the range from every device's ranges, not only this device's own. */
  readonly foreign: boolean;
  readonly page: number;
  readonly offset: number;
  readonly size: number;
  readonly write: boolean;
  readonly value: bigint;
  readonly irteShaped: boolean;
  readonly handle: number;
  readonly compat: boolean;
  readonly anywhere: bigint;
}
/** A map-dma: pieces of 1–3 pages at slot → frame, and whether the 2 MiB page is mapped too. */
export interface MapChoice {
  readonly kind: 'map';
  readonly device: number;
  readonly pieces: readonly { readonly slot: number; readonly pages: number; readonly frame: number; readonly write: boolean }[];
  readonly huge: boolean;
}
/** An unmap-dma of one of the device's current mappings, whole or one page of it. */
export interface UnmapChoice {
  readonly kind: 'unmap';
  readonly device: number;
  readonly region: number;
  readonly onePage: boolean;
  readonly page: number;
}
export type Choice = DmaChoice | MapChoice | UnmapChoice;

const weighted = <T>(...xs: [T, number][]): fc.Arbitrary<T> => fc.oneof(...xs.map(([v, weight]) => ({ arbitrary: fc.constant(v), weight })));

const dmaChoice: fc.Arbitrary<DmaChoice> = fc.record({
  kind: fc.constant('dma' as const),
  device: fc.nat({ max: DEVICES.length - 1 }),
  target: weighted<DmaChoice['target']>(['hot', 8], ['window', 2], ['anywhere', 1]),
  region: fc.nat({ max: 63 }),
  foreign: weighted([false, 3], [true, 1]),
  page: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.nat({ max: 511 }), weight: 1 }),
  offset: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.nat({ max: 7 }).map((k) => k * 16), weight: 3 }, { arbitrary: fc.nat({ max: 4095 }), weight: 2 }),
  size: fc.constantFrom(8, 4, 1, 2, 16),
  write: weighted([true, 3], [false, 1]),
  value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  irteShaped: weighted([false, 3], [true, 1]),
  handle: fc.nat({ max: 7 }),
  compat: weighted([false, 3], [true, 1]),
  anywhere: fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }),
});

const mapChoice: fc.Arbitrary<MapChoice> = fc.record({
  kind: fc.constant('map' as const),
  device: fc.nat({ max: DEVICES.length - 1 }),
  pieces: fc.array(fc.record({ slot: fc.nat({ max: SLOTS - 1 }), pages: fc.integer({ min: 1, max: 3 }), frame: fc.nat({ max: FRAMES - 1 }), write: weighted([true, 3], [false, 1]) }), { minLength: 1, maxLength: 3 }),
  huge: weighted([false, 3], [true, 1]),
});

const unmapChoice: fc.Arbitrary<UnmapChoice> = fc.record({
  kind: fc.constant('unmap' as const),
  device: fc.nat({ max: DEVICES.length - 1 }),
  region: fc.nat({ max: 7 }),
  onePage: fc.boolean(),
  page: fc.nat({ max: 3 }),
});

/** One random choice: DMA most of the time, unmaps and maps now and then. */
export const choiceArbitrary: fc.Arbitrary<Choice> = fc.oneof({ arbitrary: dmaChoice, weight: 12 }, { arbitrary: unmapChoice, weight: 3 }, { arbitrary: mapChoice, weight: 2 });

/** A random run: a mode and up to `maxSteps` choices. */
export interface RunChoice {
  readonly mode: Mode;
  readonly choices: readonly Choice[];
}

/** Runs of 1..maxSteps choices in a mode picked per run. */
export function runArbitrary(maxSteps = 30): fc.Arbitrary<RunChoice> {
  return fc.record({ mode: fc.noBias(fc.constantFrom(...MODES)), choices: fc.array(choiceArbitrary, { minLength: 1, maxLength: maxSteps, size: 'max' }) });
}

/** The resolved run: its mode and its generated scenario steps. */
export interface GeneratedRun {
  readonly mode: Mode;
  readonly steps: readonly Step[];
}

/**
 * Resolve choices into scenario steps, tracking each device's current mappings (a map
 * replaces them, an unmap removes a range) and the hot pool (every range mapped so far).
 * A choice that names nothing (an unmap with no mapping left) gives no step.
 */
export function resolveRun(run: RunChoice, hv: Hypervisor): GeneratedRun {
  const current: Region[][] = DEVICES.map((_, i) => initialRegions(i, hv));
  const pool: Region[] = current.flat();
  const steps: Step[] = [];
  for (const c of run.choices) {
    const d = DEVICES[c.device]!;
    if (c.kind === 'map') {
      const regions: Region[] = [];
      const used = new Set<number>();
      for (const p of c.pieces) {
        const pages = Math.min(p.pages, SLOTS - p.slot);
        const slots = Array.from({ length: pages }, (_, k) => p.slot + k);
        if (slots.some((s) => used.has(s))) continue;
        slots.forEach((s) => used.add(s));
        const frame = p.frame % (FRAMES - pages + 1);
        regions.push({ device: c.device, iova: d.iovaBase + BigInt(p.slot) * PAGE, size: BigInt(pages) * PAGE, hpa: d.hpaBase + BigInt(frame) * PAGE, write: p.write });
      }
      if (c.huge) regions.push({ device: c.device, iova: d.hugeIova, size: HUGE, hpa: d.hugeHpa, write: true });
      if (hv === 'irt-mapped' && c.device === 0) regions.unshift(irtRegion());
      current[c.device] = regions;
      pool.push(...regions.filter((r) => !pool.some((q) => q.device === r.device && q.iova === r.iova && q.size === r.size && q.hpa === r.hpa)));
      steps.push(mapStep(run.mode, c.device, regions));
      continue;
    }
    if (c.kind === 'unmap') {
      const mine = current[c.device]!;
      if (mine.length === 0) continue;
      const r = mine[c.region % mine.length]!;
      const pages = r.size / PAGE;
      let iova = r.iova;
      let size = r.size;
      if (c.onePage && r.size !== HUGE && pages > 1n) {
        iova = r.iova + BigInt(c.page % Number(pages)) * PAGE;
        size = PAGE;
      }
      const end = iova + size;
      const left: Region[] = [];
      for (const q of mine) {
        const qEnd = q.iova + q.size;
        if (qEnd <= iova || q.iova >= end) left.push(q);
        else {
          if (q.iova < iova) left.push({ ...q, size: iova - q.iova });
          if (qEnd > end) left.push({ ...q, iova: end, hpa: q.hpa + (end - q.iova), size: qEnd - end });
        }
      }
      current[c.device] = left;
      steps.push({ 'unmap-dma': { iommu: 0, device: d.bdf, did: d.did, iova: hex(iova), size: hex(size), invalidate: hv !== 'no-unmap-invalidation' } });
      continue;
    }
    steps.push({ dma: dmaStep(c, pool) });
  }
  return { mode: run.mode, steps };
}

function dmaStep(c: DmaChoice, pool: readonly Region[]): Record<string, unknown> {
  const device = DEVICES[c.device]!.bdf;
  if (c.target === 'window') {
    const address = c.compat ? 0xfee0_0000n | (BigInt(c.handle) << 12n) : composeRemappableMsi({ handle: c.handle, shv: false }).address;
    // Data 0 (SHV = 0 ignores the subhandle; bits 31:16 are reserved) unless the choice is an odd one.
    const data = c.offset % 4 === 3 ? c.value & 0xffff_ffffn : 0n;
    return { device, address: hex(address), size: 4, ...(c.write ? { value: hex(data) } : { write: false }) };
  }
  const size = c.irteShaped && c.write ? 16 : c.size;
  let base: bigint;
  let offset: number;
  if (c.target === 'anywhere') {
    base = c.anywhere & ~0xfffn;
    offset = Number(c.anywhere & 0xfffn);
  } else {
    const own = pool.filter((r) => r.device === c.device);
    const from = c.foreign || own.length === 0 ? pool : own;
    const r = from[c.region % from.length]!;
    base = r.iova + BigInt(c.page % Number(r.size / PAGE)) * PAGE;
    offset = c.irteShaped && c.write ? 16 * c.handle : c.offset;
  }
  offset = Math.min(offset, 4096 - size);
  const address = base + BigInt(offset);
  if (!c.write) return { device, address: hex(address), size, write: false };
  const value = c.irteShaped ? (BigInt(0x30 + (Number(c.value & 0xfn))) << 16n) | 1n : c.value & ((1n << BigInt(8 * Math.min(size, 8))) - 1n);
  return { device, address: hex(address), size, value: hex(value) };
}

// ---------------------------------------------------------------------------------------
// Running

/** A property violated (or an action the model rejected, which a generated run must never cause). */
export interface Finding {
  readonly property: 'P1' | 'P2' | 'P4' | 'rejected';
  /** Index among the generated steps. */
  readonly generated: number;
  readonly message: string;
}

/** What one run gave: its findings and every event of the generated steps (by step). */
export interface DmaRun {
  readonly findings: readonly Finding[];
  readonly events: readonly (readonly PlatformEvent[])[];
}

interface Base {
  readonly text: string;
  readonly data: S.Scenario;
  readonly lineAt: ParsedScenario['lineAt'];
}

let baseCache: Base | undefined;

/** specs/dma/property-base.yaml, parsed once. */
export function base(): Base {
  if (baseCache === undefined) {
    const text = readFileSync(BASE_FILE, 'utf8');
    const parsed = parseScenarioText(text, BASE_FILE);
    baseCache = { text, data: parsed.data as S.Scenario, lineAt: parsed.lineAt };
  }
  return baseCache;
}

function compileWith(steps: readonly Step[]): CompiledScenario {
  const b = base();
  return compileScenario({ file: BASE_FILE, data: { ...b.data, steps: [...(b.data.steps ?? []), ...steps] }, lineAt: b.lineAt });
}

const prepared = new Map<string, PlatformState>();

/** The state after the base's steps and the prefix of (mode, hypervisor), computed once. */
function preparedState(mode: Mode, hv: Hypervisor): PlatformState {
  const key = `${mode}/${hv}`;
  let s = prepared.get(key);
  if (s === undefined) {
    const compiled = compileWith(prefixSteps(mode, hv));
    s = buildPlatform(compiled.platform);
    for (const step of compiled.steps) for (const a of step.actions) s = applyAction(s, a).state;
    prepared.set(key, s);
  }
  return s;
}

/** Index in the base + prefix + generated step list of the first generated step. */
function firstGenerated(mode: Mode, hv: Hypervisor): number {
  return (base().data.steps ?? []).length + prefixSteps(mode, hv).length;
}

/**
 * Apply the generated steps to the prepared state (the actions src/scenario/compile.ts makes of
 * them) and judge P1, P2 and P4 after every action. `stopAtFirst`: return at the first finding (what the searches need).
 */
export function runGenerated(run: GeneratedRun, hv: Hypervisor, stopAtFirst = true): DmaRun {
  const compiled = compileWith([...prefixSteps(run.mode, hv), ...run.steps]);
  const first = firstGenerated(run.mode, hv);
  let state = preparedState(run.mode, hv);
  const findings: Finding[] = [];
  const events: PlatformEvent[][] = [];
  for (let i = first; i < compiled.steps.length; i++) {
    const g = i - first;
    const actions = compiled.steps[i]!.actions;

    const stepEvents: PlatformEvent[] = [];
    events.push(stepEvents);
    for (const a of actions) {
      const r = applyAction(state, a);
      state = r.state;
      stepEvents.push(...r.events);
      for (const e of r.events) if (e.kind === 'action-rejected') findings.push({ property: 'rejected', generated: g, message: e.why });
      for (const v of checkInterruptIsolation(state, r.events)) findings.push({ property: 'P1', generated: g, message: v.message });
      for (const v of checkDmaIsolation(state, r.events)) findings.push({ property: 'P2', generated: g, message: v.message });
      for (const v of checkCoherence(state, r.events)) findings.push({ property: 'P4', generated: g, message: v.message });
    }
    if (stopAtFirst && findings.length > 0) break;
  }
  return { findings, events };
}

/** Options of {@link searchDma}. */
export interface SearchOptions {
  readonly seed: number;
  readonly numRuns: number;
  readonly maxSteps?: number;
  /** Properties the search checks (default P1, P2, P4; rejected actions always count). */
  readonly properties?: readonly Finding['property'][];
  /** Replays fast-check's shrunk case with `seed`. */
  readonly path?: string;
  /** Called with every run (shrinking included). */
  readonly onRun?: (run: GeneratedRun, result: DmaRun) => void;
}

/** The outcome of a search. */
export interface SearchResult {
  readonly hypervisor: Hypervisor;
  readonly seed: number;
  readonly runs: number;
  readonly failed: boolean;
  readonly path: string | undefined;
  /** The shrunk counterexample, cut after its first violating step. */
  readonly run: GeneratedRun | undefined;
  /** Its findings, full run (not stopped at the first). */
  readonly findings: readonly Finding[];
  readonly shrinks: number;
  readonly ms: number;
}

/**
 * "No finding of `properties` in any run" over random runs against hypervisor `hv`, checked
 * by fast-check from `seed`; a failure is shrunk and cut after its first violating step.
 */
export function searchDma(hv: Hypervisor, options: SearchOptions): SearchResult {
  const start = performance.now();
  const watched = new Set<Finding['property']>([...(options.properties ?? ['P1', 'P2', 'P4']), 'rejected']);
  const bad = (r: DmaRun): Finding[] => r.findings.filter((f) => watched.has(f.property));
  const property = fc.property(runArbitrary(options.maxSteps), (choice) => {
    const run = resolveRun(choice, hv);
    const r = runGenerated(run, hv, false);
    options.onRun?.(run, r);
    return bad(r).length === 0;
  });
  const details = fc.check(property, { seed: options.seed, numRuns: options.numRuns, ...(options.path === undefined ? {} : { path: options.path }) });
  let run: GeneratedRun | undefined;
  let findings: readonly Finding[] = [];
  const shrunk = details.counterexample?.[0];
  if (shrunk !== undefined) {
    run = resolveRun(shrunk, hv);
    const firstBad = Math.min(...bad(runGenerated(run, hv, false)).map((f) => f.generated));
    if (Number.isFinite(firstBad)) run = { mode: run.mode, steps: run.steps.slice(0, firstBad + 1) };
    findings = runGenerated(run, hv, false).findings;
  }
  return { hypervisor: hv, seed: details.seed, runs: details.numRuns, failed: details.failed, path: details.counterexamplePath ?? undefined, run, findings, shrinks: details.numShrinks, ms: performance.now() - start };
}

// ---------------------------------------------------------------------------------------
// Counterexample files

/** The checked-in counterexamples: which hypervisor, which property the search watches, the budget and the file. */
export const COUNTEREXAMPLES = [
  { name: 'stale-iotlb', hypervisor: 'no-unmap-invalidation', properties: ['P4'], search: { seed: 0xd4a_0004, numRuns: 2_000 } },
  { name: 'irt-mapped', hypervisor: 'irt-mapped', properties: ['P1'], search: { seed: 0xd4a_0002, numRuns: 5_000 } },
] as const satisfies readonly { name: string; hypervisor: Hypervisor; properties: readonly Finding['property'][]; search: { seed: number; numRuns: number } }[];

/** Absolute path of specs/dma/counterexample-<name>.yaml. */
export function counterexamplePath(name: string): string {
  return fileURLToPath(new URL(`../../specs/dma/counterexample-${name}.yaml`, import.meta.url));
}

/**
 * The replayable scenario of a search's counterexample: the base's text with the prefix and
 * the found steps appended, a header naming seed, path and violations.
 * @throws Error when `r` holds no counterexample.
 */
export function counterexampleScenario(name: string, r: SearchResult): string {
  if (r.run === undefined || r.findings.length === 0) throw new Error(`no counterexample for ${r.hypervisor}`);
  const what = r.hypervisor === 'no-unmap-invalidation' ? 'a hypervisor whose unmap-dma skips the IOTLB invalidation (invalidate: false)' : 'a hypervisor whose map of 07:00.0 also maps the IRT page into the guest (IOVA 0 → HPA 0x10000000)';
  const violated = [...new Set(r.findings.map((f) => f.property))].join(', ');
  const note = [
    `Counterexample: ${what}, ${r.run.mode} mode. Violates ${violated}.`,
    `Found by fast-check over random DMA runs (test/properties/dma-search.ts searchDma) appended to ${BASE_NAME}:`,
    `seed ${r.seed}, path ${r.path ?? '(none)'}, after ${r.runs} run(s) and ${r.shrinks} shrink(s); cut after the first violating step.`,
    ...r.findings.map((f) => `${f.property} at generated step ${f.generated}: ${f.message}`),
    '',
    `Replay: remapsim run <this file>  (exits 1 with VIOLATION ${violated.split(', ').join(' / ')})`,
    'Written by test/properties/dma-counterexamples.test.ts (UPDATE_COUNTEREXAMPLES=1); do not edit by hand.',
  ].join('\n');
  const found = r.run.steps.map((s, i) => (i === 0 ? { note: `found by fast-check (seed ${r.seed}, path ${r.path ?? '(none)'})`, ...s } : s));
  return scenarioWithSteps(base().text, [...prefixSteps(r.run.mode, r.hypervisor), ...found], note, { name: `counterexample-${name}` });
}
