/**
 * `remapsim check` (issue #5): model-based testing of a scenario with fast-check. The
 * scenario's own steps run first (configuration and benign workload); then each random
 * run appends adversary steps (src/checker/adversary.ts) and applies them to the state
 * the scenario's steps left, judging the chosen properties after every action, as
 * `remapsim run` does (src/scenario/run.ts). With `check.interleave` (issue #10 item 7)
 * the adversary's steps may also come between the scenario's own: a run starts from the
 * state after the scenario's step before its first adversary step, and the scenario's
 * later steps run between and after the adversary's, judged as well
 * (src/checker/interleave.ts).
 *
 * Runs are split in chunks of {@link CHUNK_RUNS}, each a `fc.check` from its own seed
 * derived from the budget's seed and the chunk's index; chunks run in order, in this
 * thread or on worker threads (src/checker/pool.ts). The reported counterexample is the
 * one of the lowest failing chunk, found after every lower chunk has completed, so it
 * does not depend on the number of workers or on scheduling (P5).
 *
 * A found counterexample is cut after its first violating step, shrunk further by
 * dropping steps one at a time (and moving each to the end), and written as a scenario
 * (the base's text with the steps appended, or inserted where they ran) that
 * `remapsim run` replays with no fast-check involved.
 */
import fc from 'fast-check';
import { parseScenarioText, type ParsedScenario } from '../scenario/parse.ts';
import { compileScenario, stepCompiler, type CompiledScenario, type CompiledStep } from '../scenario/compile.ts';
import { runScenario, type RunResult } from '../scenario/run.ts';
import { formatTrace, formatEvent, describeIrte, formatWalk } from '../scenario/trace.ts';
import { formatSteps } from '../scenario/write.ts';
import { applyAction } from '../platform/transition.ts';
import type { PlatformState } from '../platform/state.ts';
import type { PlatformEvent } from '../platform/events.ts';
import type { Action } from '../platform/actions.ts';
import { FREEZE_STATES } from '../platform/freeze-mode.ts';
import { checkInterruptIsolation } from '../properties/p1-interrupt-isolation.ts';
import { checkDmaIsolation } from '../properties/p2-dma-isolation.ts';
import { checkNoLostInterrupt } from '../properties/p3-no-lost-interrupt.ts';
import { checkCoherence } from '../properties/p4-coherence.ts';
import { checkFaultAccountability } from '../properties/p6-fault-accountability.ts';
import { checkGuestIntent, judgesGuestIntent, rememberGuestIntent, NO_GUEST_INTENT_MEMORY, type GuestIntentMemory } from '../properties/p7-guest-intent.ts';
import { guestMessage } from '../vmm/guest-message.ts';
import { vmmDesignNamed } from '../vmm/index.ts';
import { entryAddress, guestMasked } from '../vmm/virtual-msix.ts';
import { decodeIrta } from '../vtd/registers.ts';
import { IRTE_BYTES } from '../vtd/irte.ts';
import { iecLookup } from '../vtd/iec.ts';
import { readPid } from '../vtd/pid-memory.ts';
import { decodeDte, dteAddress, dteInterruptTableRoot, DTE_BYTES } from '../amdvi/dte.ts';
import { irteBytes } from '../amdvi/irte.ts';
import { CONTROL_BITS, regBit } from '../amdvi/registers.ts';
import { cacheLookup, irteKey } from '../amdvi/caches.ts';
import { describeAmdIrte } from '../scenario/amdvi-trace.ts';
import { formatBdf } from '../pci/bdf.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import { faultReason } from '../vtd/fault-reasons.ts';
import { coveringGrants } from '../platform/dma-intent.ts';
import { InputError } from '../io/input-error.ts';
import type * as S from '../scenario/types.ts';
import { attackPools, interleavedRunArbitrary, resolvePlacedRun, runChoiceArbitrary, threatModel, type AttackPools, type AttackStep, type Budget, type PlacedRun, type ThreatModel } from './adversary.ts';
import { rememberPrepared } from './last-prepared.ts';
import { adversaryIndex, gapsOf, inserted, ownIndex, scenarioWithPlacedSteps } from './interleave.ts';

/** Runs per chunk: the unit of work of a worker and of the deterministic merge. */
export const CHUNK_RUNS = 50;

/**
 * Most adversary steps in one run (`--steps`, `check.budget.steps`; docs/limits.md). fast-check
 * generates a run's steps up front (an array of up to this many choices, `size: 'max'`), so the bound
 * keeps one run's memory and the time before its first step small: 10,000 steps take ~1 MB and well
 * under a second, 4294967295 would take hundreds of GB.
 */
export const MAX_RUN_STEPS = 10_000;

/**
 * Refuse a budget that cannot be honoured (issue 17). `overrides` says whether a field came from the
 * command line (`--steps`) or the scenario (`check.budget.steps`), for the message.
 * @throws InputError naming `file` and the field when `budget.steps` exceeds {@link MAX_RUN_STEPS}.
 */
export function checkBudgetLimits(budget: Budget, overrides: Partial<Budget>, file: string): void {
  if (budget.steps > MAX_RUN_STEPS) {
    const field = overrides.steps === undefined ? 'check.budget.steps' : '--steps';
    throw new InputError(`${budget.steps} adversary steps per run exceeds the limit of ${MAX_RUN_STEPS} (docs/limits.md)`, { file, field });
  }
}

/** A property that a run can violate (P5 is judged on the counterexample, not per run). */
export type RunProperty = 'P1' | 'P2' | 'P3' | 'P4' | 'P6' | 'P7';

/** A scenario ready to be checked: its text, compiled form, the state after its own steps, the threat model and pools. */
export interface PreparedCheck {
  readonly file: string;
  readonly text: string;
  readonly parsed: ParsedScenario;
  readonly data: S.Scenario;
  readonly compiled: CompiledScenario;
  /** The run of the scenario's own steps. */
  readonly base: RunResult;
  readonly threat: ThreatModel;
  readonly pools: AttackPools;
  /** Parsed skeleton (platform, devices, domains; no steps) used to compile generated steps without reloading a DMAR table. */
  readonly skeleton: S.Scenario;
  /** The state after each of the scenario's own steps (`states[i]` after step i). */
  readonly states: readonly PlatformState[];
  /**
   * Where the adversary may act: indices of the scenario's steps after which it acts,
   * ascending; the last is the end. Only the end unless `check.interleave` (src/checker/interleave.ts).
   */
  readonly gaps: readonly number[];
  /**
   * Domains whose device model is an adversary (`check.adversary.deviceModel`: the malicious
   * guests): P7 does not judge their devices. Empty otherwise.
   */
  readonly untrustedDeviceModels: ReadonlySet<number>;
  /** P7's memory after each of the scenario's own steps (`memories[i]` after step i; src/properties/p7-guest-intent.ts). */
  readonly memories: readonly GuestIntentMemory[];
}

/**
 * What a search of runs reads of a {@link PreparedCheck} ({@link searchChunk}, {@link runSteps},
 * {@link runArbitrary}): plain data and platform states, no parser or compiler state, so a worker
 * thread can receive it prepared (src/checker/ship.ts) instead of preparing the scenario again.
 * A PreparedCheck is one.
 */
export interface SearchContext {
  readonly file: string;
  readonly skeleton: S.Scenario;
  readonly threat: ThreatModel;
  readonly pools: AttackPools;
  /** The scenario's own steps' actions (`steps[i]`: step i). */
  readonly compiled: { readonly steps: readonly { readonly actions: readonly Action[] }[] };
  /** The state before the scenario's first step. */
  readonly base: { readonly initial: PlatformState };
  readonly states: readonly PlatformState[];
  readonly gaps: readonly number[];
  readonly untrustedDeviceModels: ReadonlySet<number>;
  readonly memories: readonly GuestIntentMemory[];
}

/**
 * The domains whose device model is an adversary: the malicious guests (`check.adversary.guests`,
 * default every guest) when `check.adversary.deviceModel` is true, else none.
 */
export function untrustedDeviceModelsOf(compiled: CompiledScenario, data: S.Scenario): ReadonlySet<number> {
  const adversary = data.check?.adversary;
  if (adversary?.deviceModel !== true) return new Set();
  const bad = new Set(adversary.guests ?? compiled.platform.domains.filter((d) => d.kind === 'guest').map((d) => d.name));
  return new Set(compiled.platform.domains.flatMap((d, id) => (d.kind === 'guest' && bad.has(d.name) ? [id] : [])));
}

/** Properties judged per run, among those the threat model names. */
function runProperties(threat: ThreatModel): Set<RunProperty> {
  let props = runPropertySets.get(threat);
  if (props === undefined) runPropertySets.set(threat, (props = new Set(threat.properties.filter((p): p is RunProperty => p !== 'P5'))));
  return props;
}

/** {@link runProperties} per threat model (a run asks for them once each: thousands per chunk). */
const runPropertySets = new WeakMap<ThreatModel, Set<RunProperty>>();

/**
 * Parse, compile and run the scenario's own steps and read its threat model.
 * @param overrides command-line budget fields
 * @throws InputError for a scenario that is not valid, or whose own steps already fail an
 *   expectation; Error when the adversary can take no action.
 */
export function prepareCheck(text: string, file: string, overrides: Partial<Budget> = {}): PreparedCheck {
  const parsed = parseScenarioText(text, file);
  const data = parsed.data as S.Scenario;
  const compiled = compileScenario(parsed);
  const untrustedDeviceModels = untrustedDeviceModelsOf(compiled, data);
  const base = runScenario(compiled, { untrustedDeviceModels });
  const failed = base.steps.find((s) => s.failures.length > 0);
  if (failed !== undefined) {
    throw new InputError(`the scenario's own step ${failed.step.index} fails its expectation: ${failed.failures.join('; ')}`, { file, ...(failed.step.line === undefined ? {} : { line: failed.step.line }) });
  }
  const states: PlatformState[] = [];
  const memories: GuestIntentMemory[] = [];
  let at = base.initial;
  let memory = NO_GUEST_INTENT_MEMORY;
  let applied = 0;
  for (const step of compiled.steps) {
    for (const action of step.actions) {
      const r = applyAction(at, action, applied++);
      at = r.state;
      if (at.vmm !== undefined) memory = rememberGuestIntent(memory, at, r.events);
    }
    states.push(at);
    memories.push(memory);
  }
  const gaps = gapsOf(data, file);
  const pools = attackPools(compiled, base, data.check?.adversary?.guests, states);
  let threat: ThreatModel;
  try {
    threat = threatModel(compiled, data, pools, overrides);
  } catch (e) {
    throw new InputError((e as Error).message, { file, field: 'check.adversary' });
  }
  checkBudgetLimits(threat.budget, overrides, file);
  const units = compiled.platform.iommus.length;
  const skeleton: S.Scenario = {
    name: data.name,
    platform: { cpus: data.platform.cpus, iommus: Array.from({ length: units }, (_, i) => ({ registerBase: 0x1000 * i })) }, // distinct pages: two units cannot share a register base
    ...(data.topology === undefined ? {} : { topology: data.topology }),
    ...(data.devices === undefined ? {} : { devices: data.devices }),
    ...(data.domains === undefined ? {} : { domains: data.domains }),
    steps: [],
  };
  const prepared: PreparedCheck = { file, text, parsed, data, compiled, base, threat, pools, skeleton, states, gaps, untrustedDeviceModels, memories };
  rememberPrepared(text, file, overrides, prepared);
  return prepared;
}

/** Whether the adversary of `p` may act between the scenario's own steps. */
export function interleaves(p: SearchContext): boolean {
  return p.gaps.length > 1;
}

/** The state after the scenario's own step `i` (before its first step for -1). */
function stateAfter(p: SearchContext, i: number): PlatformState {
  return i < 0 ? p.base.initial : p.states[i]!;
}

const actionCounts = new WeakMap<SearchContext, readonly number[]>();

/** Actions the scenario's own steps 0..i apply (0 for i < 0): the step number of the next action. */
function actionsThrough(p: SearchContext, i: number): number {
  let counts = actionCounts.get(p);
  if (counts === undefined) {
    let n = 0;
    counts = p.compiled.steps.map((s) => (n += s.actions.length));
    actionCounts.set(p, counts);
  }
  return i < 0 ? 0 : counts[i]!;
}

/** A compiled generated step: its label (the step's key) and its actions. */
export type RunStep = Pick<CompiledStep, 'label' | 'actions'>;

/** Distinct generated steps remembered per search context; past this the memo starts afresh (memory stays bounded). */
const STEP_MEMO_ENTRIES = 50_000;

/** Per search context: the compiler of single steps against its skeleton, and the steps compiled so far by their JSON. */
const stepMemos = new WeakMap<SearchContext, { compile: (step: S.Step, index: number) => CompiledStep; memo: Map<string, RunStep> }>();

function deepFreeze(v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v)) deepFreeze(x);
}

/**
 * Compile generated steps with the scenario compiler itself (so a replay compiles them
 * to the same actions), against the skeleton of the scenario.
 *
 * The skeleton's platform is compiled once per context (src/scenario/compile.ts
 * `stepCompiler`), and each distinct step once: a run's steps are mostly drawn from small pools
 * (src/checker/adversary.ts HOT), so most recur. That is sound because every adversary action
 * kind (ACTION_KINDS) compiles from the platform alone — devices, owners, domains, vCPUs, IMS
 * stores — never from the driver state that enable-ir, map-dma or submit-invalidation keep, so
 * a step's actions do not depend on the steps before it (test/checker/step-compile.test.ts
 * compares with compiling each run whole). The memoised actions are shared by the runs that
 * use them; deep-frozen in the debug mode (REMAPSIM_FREEZE=1), as states are.
 * @throws InputError when a step names something the scenario lacks (never for resolved steps).
 */
export function compileSteps(p: SearchContext, steps: readonly AttackStep[]): readonly RunStep[] {
  let m = stepMemos.get(p);
  if (m === undefined) {
    m = { compile: stepCompiler({ file: p.file, data: { ...p.skeleton, steps: [] }, lineAt: () => undefined }), memo: new Map() };
    stepMemos.set(p, m);
  }
  const { compile, memo } = m;
  const out: RunStep[] = [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    const key = JSON.stringify(step);
    let c = memo.get(key);
    if (c === undefined) {
      const full = compile(step as S.Step, i);
      c = { label: full.label, actions: full.actions };
      if (FREEZE_STATES) deepFreeze(c);
      if (memo.size >= STEP_MEMO_ENTRIES) memo.clear();
      memo.set(key, c);
    }
    out.push(c);
  }
  return out;
}

/** Counts over runs: what the adversary did and what came of it (fc.statistics-style). */
export interface Coverage {
  /** Runs counted (shrinking runs are not). */
  runs: number;
  steps: number;
  /** Generated steps by kind. */
  actions: Record<string, number>;
  /** Interrupt and DMA fault reasons that fired, by hex code. */
  faults: Record<string, number>;
  deliveries: number;
  postings: number;
  dmaAccesses: number;
  dmaFaults: number;
  rejected: number;
  /**
   * With a VMM (`platform.vmm`): raises of entries of functions it manages, guest unmasks of
   * pending entries, and interrupts that reached a vCPU for those functions (postings and
   * injections) — what P7 judged. Absent without a VMM.
   */
  vmm?: { raised: number; unmaskedPending: number; arrivals: number };
}

/** An empty {@link Coverage}. */
export function emptyCoverage(): Coverage {
  return { runs: 0, steps: 0, actions: {}, faults: {}, deliveries: 0, postings: 0, dmaAccesses: 0, dmaFaults: 0, rejected: 0 };
}

/** Add `b` into `a`. */
export function addCoverage(a: Coverage, b: Coverage): void {
  a.runs += b.runs;
  a.steps += b.steps;
  for (const [k, v] of Object.entries(b.actions)) a.actions[k] = (a.actions[k] ?? 0) + v;
  for (const [k, v] of Object.entries(b.faults)) a.faults[k] = (a.faults[k] ?? 0) + v;
  a.deliveries += b.deliveries;
  a.postings += b.postings;
  a.dmaAccesses += b.dmaAccesses;
  a.dmaFaults += b.dmaFaults;
  a.rejected += b.rejected;
  if (b.vmm !== undefined) {
    a.vmm ??= { raised: 0, unmaskedPending: 0, arrivals: 0 };
    a.vmm.raised += b.vmm.raised;
    a.vmm.unmaskedPending += b.vmm.unmaskedPending;
    a.vmm.arrivals += b.vmm.arrivals;
  }
}

/** The first property violated by a run. */
export interface RunViolation {
  readonly property: RunProperty;
  /** Index among the generated steps (with `own`: the last one before the violating step). */
  readonly generated: number;
  /** With interleaving: the scenario's own step that violated it, run after the adversary's steps before it. */
  readonly own?: number;
  readonly message: string;
  /** Other properties the same action violated. */
  readonly also: readonly { readonly property: RunProperty; readonly message: string }[];
}

/**
 * Violations of `props` after one action of kind `kind`, one per property, in the order P1,
 * P2, P3, P4, P6, P7 (P7 only with a VMM, and not for a device's raw write: src/properties/p7-guest-intent.ts).
 */
function judge(p: SearchContext, props: Set<RunProperty>, state: PlatformState, events: readonly PlatformEvent[], kind: string, memory: GuestIntentMemory, step: number): { property: RunProperty; message: string }[] {
  const out: { property: RunProperty; message: string }[] = [];
  const add = (property: RunProperty, v: { message: string } | undefined): void => void (v && out.push({ property, message: v.message }));
  if (props.has('P1')) add('P1', checkInterruptIsolation(state, events)[0]);
  if (props.has('P2')) add('P2', checkDmaIsolation(state, events)[0]);
  if (props.has('P3') && state.vcpus.count > 0) add('P3', checkNoLostInterrupt(state, events, step)[0]);
  if (props.has('P4')) add('P4', checkCoherence(state, events)[0]);
  if (props.has('P6')) add('P6', checkFaultAccountability(state, events)[0]);
  if (props.has('P7') && state.vmm !== undefined && judgesGuestIntent(kind)) add('P7', checkGuestIntent(state, events, { untrustedDeviceModels: p.untrustedDeviceModels, memory })[0]);
  return out;
}

/**
 * Apply generated `steps` to the state the scenario's own steps left, judging the
 * threat model's properties after every action; stop at the first violation.
 * `coverage`, when given, gets the run's counts. With `at` (non-decreasing: the index of
 * the scenario's step after which each step runs, src/checker/interleave.ts), the run
 * starts after the scenario's step `at[0]` and the scenario's later steps run between
 * and after the adversary's, judged the same way; default: every step at the end.
 */
export function runSteps(p: SearchContext, steps: readonly AttackStep[], coverage?: Coverage, at?: readonly number[], clock?: RunClock): RunViolation | undefined {
  const compiled = compileSteps(p, steps);
  const props = runProperties(p.threat);
  const last = p.compiled.steps.length - 1;
  const pos = at ?? steps.map(() => last);
  const start = pos[0] ?? last;
  let state = stateAfter(p, start);
  /** The step number of the next action (the scenario's own actions before it count). */
  let applied = actionsThrough(p, start);
  let memory = start < 0 ? NO_GUEST_INTENT_MEMORY : p.memories[start]!;
  if (coverage) coverage.runs++;
  let i = 0;
  for (let b = start; b <= last; b++) {
    for (; i < compiled.length && pos[i]! <= b; i++) {
      // Past the time limit the run stops here, judged as far as it went (no violation so far).
      if (outOfTime(clock)) return undefined;
      const v = adversaryStep(compiled[i]!, i);
      if (v !== undefined) return v;
    }
    if (b === last || i === 0) continue;
    // The scenario's own next step, after the adversary's so far.
    for (const action of p.compiled.steps[b + 1]!.actions) {
      const n = applied++;
      const r = applyAction(state, action, n);
      state = r.state;
      const v = judge(p, props, state, r.events, action.kind, memory, n);
      if (state.vmm !== undefined) memory = rememberGuestIntent(memory, state, r.events);
      if (v.length > 0) return { ...v[0]!, generated: i - 1, own: b + 1, also: v.slice(1) };
    }
  }
  return undefined;

  function adversaryStep(step: RunStep, i: number): RunViolation | undefined {
    if (coverage) {
      coverage.steps++;
      coverage.actions[step.label] = (coverage.actions[step.label] ?? 0) + 1;
    }
    for (const action of step.actions) {
      const n = applied++;
      const r = applyAction(state, action, n);
      state = r.state;
      if (coverage) {
        if (state.vmm !== undefined) {
          const t = (coverage.vmm ??= { raised: 0, unmaskedPending: 0, arrivals: 0 });
          for (const e of r.events) {
            if (e.kind === 'device-raised') t.raised++;
            else if (e.kind === 'guest-access') t.unmaskedPending += e.unmasked.filter((u) => u.pending).length;
            else if ((e.kind === 'interrupt-posted' || e.kind === 'interrupt-injected') && state.vmm.devices[e.device] !== undefined) t.arrivals++;
          }
        }
        for (const e of r.events) {
          if (e.kind === 'interrupt-delivered') coverage.deliveries++;
          else if (e.kind === 'interrupt-posted') coverage.postings++;
          else if (e.kind === 'dma-access') coverage.dmaAccesses++;
          else if (e.kind === 'action-rejected') coverage.rejected++;
          else if (e.kind === 'interrupt-fault' || e.kind === 'dma-fault') {
            if (e.kind === 'dma-fault') coverage.dmaFaults++;
            const k = `0x${e.reason.toString(16).padStart(2, '0')}`;
            coverage.faults[k] = (coverage.faults[k] ?? 0) + 1;
          }
        }
      }
      const v = judge(p, props, state, r.events, action.kind, memory, n);
      if (state.vmm !== undefined) memory = rememberGuestIntent(memory, state, r.events);
      if (v.length > 0) return { ...v[0]!, generated: i, also: v.slice(1) };
    }
    return undefined;
  }
}

/** A chunk of runs: its index, the fast-check seed derived for it, and how many runs. */
export interface Chunk {
  readonly index: number;
  readonly seed: number;
  readonly runs: number;
  /**
   * Wall-clock time (Date.now() milliseconds, the same in every thread) at which the check's time
   * limit ends: a run in progress stops between two actions and no further run starts
   * (`--steps 4294967295 --seconds 5` ends at 5 s). Absent: no limit.
   */
  readonly deadline?: number;
}

/** A run's view of its chunk's deadline: set `expired` once Date.now() passes it. */
interface RunClock {
  readonly deadline: number;
  expired: boolean;
}

/** Whether the time limit has passed (checked between actions; Date.now() is ~30 ns). */
function outOfTime(clock: RunClock | undefined): boolean {
  if (clock === undefined) return false;
  if (!clock.expired && Date.now() > clock.deadline) clock.expired = true;
  return clock.expired;
}

/** The seed of chunk `index` under budget seed `seed` (a 32-bit mix, so neighbouring chunks are unrelated). */
export function chunkSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** How many chunks a budget has: ceil(runs / CHUNK_RUNS). */
export function chunkCount(budget: Budget): number {
  return Math.ceil(budget.runs / CHUNK_RUNS);
}

/** Chunk `i` of a budget (0 <= i < {@link chunkCount}); made on demand so `--runs 4294967295` takes no memory up front. */
export function chunkAt(budget: Budget, i: number): Chunk {
  return { index: i, seed: chunkSeed(budget.seed, i), runs: Math.min(CHUNK_RUNS, budget.runs - i * CHUNK_RUNS) };
}

/** The chunks of a budget, in order (small budgets and tests; {@link runCheck} uses {@link chunkAt}). */
export function chunksOf(budget: Budget): Chunk[] {
  return Array.from({ length: chunkCount(budget) }, (_, i) => chunkAt(budget, i));
}

/** What a chunk gave: plain data (it crosses from a worker thread). */
export interface ChunkResult {
  readonly index: number;
  readonly seed: number;
  /** Runs made before the failure (including it), or all of them. */
  readonly runs: number;
  readonly failed: boolean;
  /** fast-check's path to the shrunk counterexample (replays it with `seed`). */
  readonly path: string | undefined;
  /** The shrunk counterexample's steps. */
  readonly steps: readonly AttackStep[] | undefined;
  /** Where they ran: after which of the scenario's steps (see {@link runSteps}). */
  readonly at: readonly number[] | undefined;
  readonly shrinks: number;
  /** An exception a run threw (a model bug), with its message. */
  readonly error: string | undefined;
  readonly coverage: Coverage;
  readonly ms: number;
  /** True when the chunk's deadline stopped it before all its runs were made (then runs < the chunk's). */
  readonly timedOut?: boolean;
}

/**
 * The arbitrary of one run of `p`: the adversary's steps and their places. Without
 * interleaving every step is at the end and the arbitrary is {@link runChoiceArbitrary}'s
 * (the same seeds give the same runs as before interleaving existed).
 */
export function runArbitrary(p: SearchContext, maxSteps = p.threat.budget.steps): fc.Arbitrary<PlacedRun> {
  const arb = interleaves(p) ? interleavedRunArbitrary(p.threat, p.gaps.length, maxSteps) : runChoiceArbitrary(p.threat, maxSteps);
  return arb.map((r) => resolvePlacedRun(p.pools, p.threat, r, p.gaps));
}

/**
 * Run one chunk: `fc.check` of "no property violated" over random runs from the chunk's
 * seed, shrinking a failure. With `path`, replays exactly that case.
 */
export function searchChunk(p: SearchContext, chunk: Chunk, path?: string): ChunkResult {
  const start = performance.now();
  const coverage = emptyCoverage();
  const clock: RunClock | undefined = chunk.deadline === undefined ? undefined : { deadline: chunk.deadline, expired: false };
  let failedOnce = false;
  // Runs cut short or skipped by the time limit: not counted as made.
  let cut = 0;
  const property = fc.property(runArbitrary(p), (run) => {
    if (outOfTime(clock)) {
      if (!failedOnce) cut++;
      return true;
    }
    const v = runSteps(p, run.steps, failedOnce ? undefined : coverage, run.at, clock);
    if (v === undefined && clock?.expired === true && !failedOnce) cut++;
    if (v !== undefined) failedOnce = true;
    return v === undefined;
  });
  const timeLimit = chunk.deadline === undefined ? {} : { interruptAfterTimeLimit: Math.max(1, chunk.deadline - Date.now()), markInterruptAsFailure: false };
  const d = fc.check(property, { seed: chunk.seed, numRuns: chunk.runs, ...timeLimit, ...(path === undefined ? {} : { path }) });
  // fast-check reports an interrupt before any run as a failure with no counterexample: not one.
  const failed = d.failed && !(d.interrupted && d.counterexample === null);
  const error = failed && d.errorInstance !== null && !(d.errorInstance instanceof Error && /Property failed by returning false/.test(d.errorInstance.message)) ? String((d.errorInstance as Error).message ?? d.errorInstance) : undefined;
  const timedOut = !failed && (clock?.expired === true || d.interrupted);
  return {
    index: chunk.index,
    seed: chunk.seed,
    runs: Math.max(0, d.numRuns - cut),
    failed,
    ...(timedOut ? { timedOut } : {}),
    path: d.counterexamplePath ?? undefined,
    steps: d.counterexample?.[0].steps,
    at: d.counterexample?.[0].at,
    shrinks: d.numShrinks,
    error,
    coverage,
    ms: performance.now() - start,
  };
}

/**
 * The steps cut after the first violating one, then shrunk by dropping single steps
 * while the same property is still violated, and (with interleaving) by moving single
 * steps to the end (deterministic; a handful of steps after fast-check's shrinking).
 * `at` places the steps as in {@link runSteps} (default: all at the end).
 */
export function minimise(p: PreparedCheck, steps: readonly AttackStep[], at?: readonly number[]): { steps: AttackStep[]; at: number[]; violation: RunViolation } | undefined {
  const last = p.compiled.steps.length - 1;
  let v = runSteps(p, steps, undefined, at);
  if (v === undefined) return undefined;
  let cur = steps.slice(0, v.generated + 1);
  let pos = (at ?? steps.map(() => last)).slice(0, v.generated + 1);
  const accept = (nextSteps: AttackStep[], nextAt: number[]): boolean => {
    const w = runSteps(p, nextSteps, undefined, nextAt);
    if (w === undefined || w.property !== v!.property) return false;
    cur = nextSteps.slice(0, w.generated + 1);
    pos = nextAt.slice(0, w.generated + 1);
    v = w;
    return true;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i < cur.length && cur.length > 1; i++) {
      if (accept([...cur.slice(0, i), ...cur.slice(i + 1)], [...pos.slice(0, i), ...pos.slice(i + 1)])) {
        changed = true;
        i--;
      }
    }
    // Later first: a step moved to the end goes after every other one.
    for (let i = cur.length - 1; i >= 0; i--) {
      if (i >= cur.length || pos[i] === last) continue;
      if (accept([...cur.slice(0, i), ...cur.slice(i + 1), cur[i]!], [...pos.slice(0, i), ...pos.slice(i + 1), last])) changed = true;
    }
  }
  return { steps: cur, at: pos, violation: v };
}

/** A found counterexample, minimised, written out and replayed. */
export interface Counterexample {
  readonly property: RunProperty;
  readonly message: string;
  /** Other properties the failing action violated. */
  readonly also: readonly { readonly property: RunProperty; readonly message: string }[];
  /** Global index of the failing run (chunk × CHUNK_RUNS + run within the chunk, from 0). */
  readonly run: number;
  readonly chunk: number;
  readonly chunkSeed: number;
  readonly path: string | undefined;
  readonly shrinks: number;
  /** fast-check's shrunk steps, then the minimised ones. */
  readonly shrunk: readonly AttackStep[];
  readonly steps: readonly AttackStep[];
  /** Where the minimised steps ran: after which of the scenario's own steps (the last index: appended). */
  readonly at: readonly number[];
  /** Index in the written scenario's steps of the violating step. */
  readonly step: number;
  /** The adversary step that violated it, or the last one before the scenario's own step that did. */
  readonly generated: number;
  /** When the scenario's own step `own` (its index in the scenario) violated it, after adversary step `generated`. */
  readonly own: number | undefined;
  /** The replayable scenario text. */
  readonly scenario: string;
  /** The replay's trace lines of the failing step. */
  readonly trace: readonly string[];
  /** The state that matters at the failing step: IRTE, IEC entry, PID, translation. */
  readonly state: readonly string[];
  /** The replay (through parse, compile and run, as `remapsim run` does) shows the same property violated. */
  readonly replayed: boolean;
  /** P5: two replays gave byte-identical traces. */
  readonly deterministic: boolean;
  /** Bytes of the replay's trace. */
  readonly traceBytes: number;
}

/** The verdict line's property name in `remapsim run` output for a run property. */
function violationsOf(r: RunResult, property: RunProperty): readonly { step: number; message: string }[] {
  return property === 'P1' ? r.violations : property === 'P2' ? r.dmaIsolation : property === 'P3' ? r.lost : property === 'P4' ? r.coherence : property === 'P6' ? r.accountability : r.guestIntent;
}

/** The trace lines of scenario step `index` in `trace` (formatTrace output): its header and events. */
function stepLines(trace: string, index: number): string[] {
  const lines = trace.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`#${index} `));
  if (start < 0) return [];
  const out = [lines[start]!];
  for (let i = start + 1; i < lines.length && lines[i]!.startsWith('    '); i++) out.push(lines[i]!);
  return out;
}

/** What state a violating event used: the IRTE in memory and in the IEC, the PID, the DMA translation. */
export function stateThatMatters(r: RunResult, step: number): string[] {
  const s = r.steps[step];
  if (s === undefined) return [];
  const state = r.final;
  const out: string[] = [];
  for (const e of s.events) {
    if ((e.kind === 'interrupt-delivered' || e.kind === 'interrupt-fault' || e.kind === 'interrupt-posted') && e.iommu !== undefined && e.irteIndex !== undefined) {
      const unit = state.iommus[e.iommu];
      // An AMD-Vi platform's units are in state.amdvi (src/platform/vendor.ts): no VT-d IRTE to show.
      if (unit !== undefined) {
        const base = decodeIrta(unit.regs.irtaLatched).base;
        const raw = state.memory.readLE(base + BigInt(e.irteIndex * IRTE_BYTES), IRTE_BYTES);
        out.push(`IRTE 0x${e.irteIndex.toString(16)} of ${unit.name} in memory: ${describeIrte(raw)}`);
        const cached = iecLookup(unit.iec, e.irteIndex);
        if (cached !== undefined && cached.raw !== raw) out.push(`IRTE 0x${e.irteIndex.toString(16)} of ${unit.name} in the IEC (stale): ${describeIrte(cached.raw)}`);
      }
    }
    if (e.kind === 'interrupt-delivered') {
      const owner = state.intent.owners[e.device];
      out.push(`${e.device} belongs to ${owner === undefined ? 'no domain' : state.domains[owner]!.name}; its grants: ${state.intent.grants.filter((g) => g.requester === e.device).map((g) => `0x${g.vector.toString(16)}${g.lastVector === undefined ? '' : `..0x${g.lastVector.toString(16)}`}→${g.target.kind === 'pcpu' ? `APIC ${g.target.apicId}` : `vCPU ${g.target.vcpu}`}`).join(', ') || 'none'}`);
    }
    if ((e.kind === 'interrupt-fault' || e.kind === 'interrupt-posted') && state.amdvi !== undefined) {
      out.push(...amdStateThatMatters(state, e));
      continue;
    }
    if (e.kind === 'interrupt-posted') {
      const v = vcpuList(state.vcpus).find((x) => x.pda === e.pda);
      const { pid } = readPid(state.memory, e.pda);
      out.push(`PID 0x${e.pda.toString(16)} (${v === undefined ? 'no vCPU' : `${state.domains[v.domain]!.name}.vcpu${v.index}`}): ON=${pid.on ? 1 : 0} SN=${pid.sn ? 1 : 0} NV=0x${pid.nv.toString(16)} NDST=0x${pid.ndst.toString(16)}`);
    }
    if (e.kind === 'dma-access') {
      // What covers an access: the device's mappings for the PASID it carried (src/platform/dma-intent.ts).
      const maps = coveringGrants(state, e.device, e.pasid);
      out.push(`${formatEvent(e, state)}`);
      out.push(`${e.device}'s ${e.pasid === undefined ? 'domain' : `PASID ${e.pasid}`} maps: ${maps.map((m) => `HPA 0x${m.hpa.toString(16)}+0x${m.size.toString(16)}${m.structures ? ' (structures, on purpose)' : ''}`).join(', ') || 'nothing'}`);
      out.push(...formatWalk(e.references).map((l) => l.trim()));
    }
    if (e.kind === 'device-raised') out.push(...guestEntryLines(state, e.device, e.entry));
    if (e.kind === 'guest-access') for (const u of e.unmasked) if (u.pending) out.push(...guestEntryLines(state, e.device, u.entry));
  }
  return out;
}

/** What P7 read of `device`'s entry `k`: the guest's entry and what it asks for, the VMM's binding, the PBA the guest reads. */
function guestEntryLines(state: PlatformState, device: string, k: number): string[] {
  const d = state.vmm?.devices[device];
  const e = d?.guest.table[k];
  if (d === undefined || e === undefined) return [];
  const m = guestMessage(state, d.domain, entryAddress(e), e.data);
  const name = (v: { domain: number; index: number }): string => `${state.domains[v.domain]?.name ?? v.domain}.vcpu${v.index}`;
  const asks = m.deliverable ? `vector 0x${m.vector.toString(16)} ${m.deliveryMode === 1 ? `for one of ${m.targets.map(name).join(', ')}` : `for ${m.recipients.map(name).join(', ')}`}` : `nothing deliverable (${m.why})`;
  const b = d.vectors[k] ?? {};
  const binding = Object.entries(b).map(([f, v]) => `${f} ${typeof v === 'object' ? JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x)) : typeof v === 'number' ? `0x${v.toString(16)}` : String(v)}`).join(', ');
  return [
    `${device} entry ${k} as the guest wrote it: address 0x${entryAddress(e).toString(16)} data 0x${e.data.toString(16)} control ${e.control}; MSI-X ${d.guest.enabled ? 'enabled' : 'disabled'}${d.guest.functionMask ? ', function-masked' : ''}; ${guestMasked(d.guest, k) ? 'masked' : 'unmasked'}: asks for ${asks}`,
    `${device} entry ${k} in the VMM (${state.vmm!.design}): ${binding || 'not set up'}; the guest's PBA reads 0x${vmmDesignNamed(state.vmm!.design).virtualPending(state, device).toString(16)}`,
  ];
}

/**
 * Minimise `found`'s steps, write them after the base's steps as a scenario, replay it
 * twice through parse/compile/run (the `remapsim run` path) and compare the traces (P5).
 * @throws Error when the counterexample no longer fails (a model that is not deterministic).
 */
export function buildCounterexample(p: PreparedCheck, found: ChunkResult): Counterexample {
  const shrunk = found.steps ?? [];
  const m = minimise(p, shrunk, found.at);
  if (m === undefined) throw new Error(`the counterexample of chunk ${found.index} (seed ${found.seed}, path ${found.path}) does not fail when re-run`);
  const v = m.violation;
  const last = p.base.steps.length - 1;
  const step = v.own === undefined ? adversaryIndex(m.at, v.generated) : ownIndex(m.at, v.own);
  const where = inserted(m.at, last)
    ? m.at.map((a, k) => `adversary step ${k} after the scenario's step ${a}${a === last ? ' (its last)' : ''}`).join('; ')
    : undefined;
  const note = [
    `Counterexample found by remapsim check: violates ${v.property}.`,
    `Search seed ${p.threat.budget.seed}; run ${found.index * CHUNK_RUNS + found.runs - 1} (chunk ${found.index}, fast-check seed ${found.seed}, path ${found.path ?? '(none)'}), ${found.shrinks} shrink(s).`,
    `${v.property} at step ${step} (${violationPlace(v)}): ${v.message}`,
    ...(where === undefined ? [] : [`Interleaved: ${where}; each is marked with a note. The scenario's own expectations after the first of them are kept where they still hold.`]),
    '',
    `Replay: remapsim run <this file>  (exits 1 with VIOLATION ${v.property})`,
  ].join('\n');
  const scenario = scenarioWithPlacedSteps(p.text, p.file, m.steps, m.at, note, { name: `${p.data.name}-counterexample`, stepsComment: `adversary steps found by remapsim check (seed ${p.threat.budget.seed})` });
  const compiled = () => compileScenario(parseScenarioText(scenario, p.file));
  const r1 = runScenario(compiled());
  const t1 = formatTrace(r1);
  const t2 = formatTrace(runScenario(compiled()));
  const replayed = violationsOf(r1, v.property).length > 0;
  // The state that matters is the state at the violating step, not after the scenario's later steps.
  const c = compiled();
  const atStep = step === c.steps.length - 1 ? r1 : runScenario({ ...c, steps: c.steps.slice(0, step + 1) });
  return {
    property: v.property,
    message: v.message,
    also: v.also,
    run: found.index * CHUNK_RUNS + found.runs - 1,
    chunk: found.index,
    chunkSeed: found.seed,
    path: found.path,
    shrinks: found.shrinks,
    shrunk,
    steps: m.steps,
    at: m.at,
    step,
    generated: v.generated,
    own: v.own,
    scenario,
    trace: stepLines(t1, step),
    state: stateThatMatters(atStep, step),
    replayed,
    deterministic: t1 === t2,
    traceBytes: Buffer.byteLength(t1),
  };
}

/** Where a violation happened, for the report: `adversary step 0`, or the scenario's own step after it. */
function violationPlace(v: { generated: number; own?: number | undefined }): string {
  return v.own === undefined ? `adversary step ${v.generated}` : `the scenario's own step ${v.own}, after adversary step ${v.generated}`;
}

/** Runs a chunk somewhere (this thread or a worker pool); resolves to its result. */
export type ChunkRunner = (chunk: Chunk) => Promise<ChunkResult>;

/** Options of {@link runCheck}. */
export interface CheckOptions {
  /** Run chunks here, or elsewhere (src/checker/pool.ts). Default: in this thread. */
  readonly runChunk?: ChunkRunner;
  /** Chunks in flight at once (default 1; the pool's thread count when using workers). */
  readonly concurrency?: number;
  /** Called after each chunk completes, with the runs done so far. */
  readonly onProgress?: (runsDone: number, runsTotal: number, elapsedMs: number) => void;
  /** Aborting stops dispatching chunks; those in flight complete and the result reports what was found. */
  readonly signal?: AbortSignal;
  /** Clock (tests). */
  readonly now?: () => number;
}

/** The outcome of a check. */
export interface CheckResult {
  readonly prepared: PreparedCheck;
  /** Runs made (chunks completed in order up to the failure or the stop). */
  readonly runs: number;
  readonly coverage: Coverage;
  readonly counterexample: Counterexample | undefined;
  /** A run threw: a bug in the model, reported with the chunk's seed and path. */
  readonly error: { readonly message: string; readonly chunk: number; readonly seed: number; readonly path: string | undefined } | undefined;
  /** Why the search stopped early: the time limit or an interrupt (undefined: budget done or counterexample found). */
  readonly stopped: 'time' | 'interrupted' | undefined;
  /** Violations of checked properties by the scenario's own steps (then no search is made). */
  readonly baseViolations: readonly string[];
  /** When no counterexample: P5 on run 0 (its replay traces byte-identical twice). */
  readonly deterministic: boolean;
  readonly ms: number;
}

/** Violations of the checked properties in the run of the scenario's own steps, as `VIOLATION` lines. */
export function baseViolationsOf(p: PreparedCheck): string[] {
  const props = runProperties(p.threat);
  return (['P1', 'P2', 'P3', 'P4', 'P6', 'P7'] as const).filter((x) => props.has(x)).flatMap((x) => violationsOf(p.base, x).map((v) => `VIOLATION ${x} at action ${v.step}: ${v.message}`));
}

/**
 * Check `p`: chunks in order (up to `concurrency` in flight), stop at the first failing
 * chunk once every lower chunk is done, at the time limit, or when `signal` aborts.
 * Deterministic: the result does not depend on concurrency or timing, except for how far
 * a time limit or an interrupt let it go.
 */
export async function runCheck(p: PreparedCheck, options: CheckOptions = {}): Promise<CheckResult> {
  const now = options.now ?? (() => performance.now());
  const start = now();
  const baseViolations = baseViolationsOf(p);
  if (baseViolations.length > 0) {
    return { prepared: p, runs: 0, coverage: emptyCoverage(), counterexample: undefined, error: undefined, stopped: undefined, baseViolations, deterministic: true, ms: now() - start };
  }
  const run = options.runChunk ?? ((c: Chunk) => Promise.resolve(searchChunk(p, c)));
  // Chunks are made one at a time (chunkAt) and merged as soon as every lower one is in, so memory
  // is bounded by the chunks in flight, whatever --runs says.
  const totalChunks = chunkCount(p.threat.budget);
  const seconds = p.threat.budget.seconds;
  const deadline = start + seconds * 1000;
  const results = new Map<number, ChunkResult>();
  const inFlight = new Map<number, Promise<void>>();
  let next = 0;
  let stopped: CheckResult['stopped'];
  let lowestFail = Infinity;
  let runsDone = 0;
  // The merged prefix: chunks 0..merged-1 in order, up to the first failure or time-limited chunk.
  const coverage = emptyCoverage();
  let runs = 0;
  let merged = 0;
  let mergeDone = false;
  let failed: ChunkResult | undefined;
  const merge = (): void => {
    for (let r = results.get(merged); !mergeDone && r !== undefined; r = results.get(merged)) {
      results.delete(merged++);
      addCoverage(coverage, r.coverage);
      runs += r.runs;
      if (r.failed) {
        failed = r;
        mergeDone = true;
      } else if (r.timedOut === true) {
        stopped ??= 'time';
        mergeDone = true;
      }
    }
  };
  const concurrency = Math.max(1, options.concurrency ?? 1);
  while (true) {
    while (next < totalChunks && next < lowestFail && inFlight.size < concurrency && stopped === undefined && !mergeDone) {
      if (options.signal?.aborted) stopped = 'interrupted';
      else if (now() > deadline) stopped = 'time';
      else {
        // The time limit as a wall-clock instant every worker thread can read (Date.now()).
        const wall = Number.isFinite(seconds) ? { deadline: Date.now() + (deadline - now()) } : {};
        const c: Chunk = { ...chunkAt(p.threat.budget, next++), ...wall };
        inFlight.set(
          c.index,
          run(c).then((r) => {
            inFlight.delete(c.index);
            runsDone += r.runs;
            if (r.failed) lowestFail = Math.min(lowestFail, c.index);
            if (!mergeDone) {
              results.set(c.index, r);
              merge();
            }
            options.onProgress?.(runsDone, p.threat.budget.runs, now() - start);
          }),
        );
      }
    }
    if (inFlight.size === 0) break;
    await Promise.race(inFlight.values());
  }
  let counterexample: Counterexample | undefined;
  let error: CheckResult['error'];
  if (failed?.error !== undefined) error = { message: failed.error, chunk: failed.index, seed: failed.seed, path: failed.path };
  else if (failed !== undefined) counterexample = buildCounterexample(p, failed);
  let deterministic = counterexample?.deterministic ?? true;
  if (counterexample === undefined && p.threat.properties.includes('P5')) {
    const first = fc.sample(runArbitrary(p), { seed: chunkSeed(p.threat.budget.seed, 0), numRuns: 1 })[0] ?? { steps: [], at: [] };
    const text = scenarioWithPlacedSteps(p.text, p.file, first.steps, first.at, 'P5 probe');
    const t = () => formatTrace(runScenario(compileScenario(parseScenarioText(text, p.file))));
    deterministic = t() === t();
  }
  return { prepared: p, runs, coverage, counterexample, error, stopped: failed === undefined ? stopped : undefined, baseViolations, deterministic, ms: now() - start };
}

const pct = (n: number, total: number): string => `${total === 0 ? 0 : ((100 * n) / total).toFixed(1)}%`;

/** The coverage section of the report: actions by share, fault reasons, outcomes. */
export function formatCoverage(c: Coverage): string[] {
  const actions = Object.entries(c.actions)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k} ${pct(v, c.steps)}`)
    .join(', ');
  const faults = Object.entries(c.faults)
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k} ${faultReason(Number(k))?.description ?? ''} ×${v}`.replace('  ', ' '));
  return [
    `coverage: ${c.runs} runs, ${c.steps} adversary steps`,
    `  actions: ${actions || 'none'}`,
    `  outcomes: ${c.deliveries} deliveries, ${c.postings} postings, ${c.dmaAccesses} DMA accesses, ${c.dmaFaults} DMA faults, ${c.rejected} rejected`,
    ...(c.vmm === undefined ? [] : [`  vmm: ${c.vmm.raised} raises of VMM-managed entries, ${c.vmm.unmaskedPending} unmasks of pending entries, ${c.vmm.arrivals} postings and injections for them`]),
    faults.length === 0 ? '  faults: none' : '  faults:',
    ...faults.map((f) => `    ${f}`),
  ];
}

/** The counterexample's adversary steps for the report: appended, or grouped under the scenario's step each followed. */
function formatPlacedSteps(p: PreparedCheck, c: Counterexample): string[] {
  const last = p.base.steps.length - 1;
  const lines = (steps: readonly AttackStep[]): string[] => formatSteps(steps).trimEnd().split('\n').map((l) => `    ${l}`);
  if (!inserted(c.at, last)) return ['  adversary steps (appended to the scenario):', ...lines(c.steps)];
  const out = ['  adversary steps (interleaved with the scenario\'s):'];
  for (const a of [...new Set(c.at)]) {
    const own = p.compiled.steps[a];
    out.push(`   after step ${a}${own === undefined ? '' : ` (${own.label}${own.line === undefined ? '' : `, line ${own.line}`})`}${a === last ? ', the last' : ''}:`);
    out.push(...lines(c.steps.filter((_, k) => c.at[k] === a)));
  }
  return out;
}

/** The human report of a check (stdout of `remapsim check`). `written`: where the counterexample file went. */
export function formatCheckReport(r: CheckResult, written: string | undefined): string {
  const p = r.prepared;
  const t = p.threat;
  const lines: string[] = [
    `check: ${p.data.name} (${p.file})`,
    `  adversary: ${t.guests.join(', ') || 'none'}; actions: ${t.kinds.join(', ')}; requester IDs: ${t.requesterIds}${t.deviceModel ? '; device models: adversaries (P7 not judged for their guests)' : ''}`,
    `  properties: ${t.properties.join(' ')}; budget: ${t.budget.runs} runs × ≤${t.budget.steps} steps, ${t.budget.seconds} s, seed ${t.budget.seed}`,
    interleaves(p)
      ? `  scenario's own steps: ${p.base.steps.length}; the adversary acts after any of steps ${p.gaps[0]}–${p.gaps[p.gaps.length - 1]} (interleaved)`
      : `  scenario's own steps: ${p.base.steps.length}, then the adversary's`,
  ];
  const secs = (r.ms / 1000).toFixed(2);
  if (r.baseViolations.length > 0) {
    lines.push("the scenario's own steps already violate a checked property (no search made; `remapsim run` shows the trace):", ...r.baseViolations);
  } else if (r.error !== undefined) {
    lines.push(`ERROR: a run threw (a bug in the model): ${r.error.message}`, `  chunk ${r.error.chunk}, fast-check seed ${r.error.seed}, path ${r.error.path ?? '(none)'}`);
  } else if (r.counterexample !== undefined) {
    const c = r.counterexample;
    lines.push(
      `COUNTEREXAMPLE ${c.property} found in run ${c.run} after ${r.runs} runs (${secs} s)`,
      `  seed ${t.budget.seed}: chunk ${c.chunk}, fast-check seed ${c.chunkSeed}, path ${c.path ?? '(none)'}; ${c.shrinks} shrinks, ${c.shrunk.length} → ${c.steps.length} adversary step(s)`,
      `VIOLATION ${c.property} at step ${c.step} (${violationPlace(c)}): ${c.message}`,
      ...c.also.map((a) => `VIOLATION ${a.property} at the same step: ${a.message}`),
      '  failing step and its events:',
      ...c.trace.map((l) => `  ${l}`),
      '  state that matters:',
      ...(c.state.length === 0 ? ['    (no interrupt or DMA event at that step)'] : c.state.map((l) => `    ${l}`)),
      ...formatPlacedSteps(p, c),
      written === undefined ? '  (not written)' : `  written to ${written}; replay: remapsim run ${written}`,
      c.replayed ? `  replay: VIOLATION ${c.property} reproduced without fast-check` : `  replay: DID NOT REPRODUCE ${c.property} (a bug: please report)`,
    );
  } else {
    const why = r.stopped === 'time' ? ` (time limit of ${t.budget.seconds} s reached)` : r.stopped === 'interrupted' ? ' (interrupted)' : '';
    lines.push(`HELD: ${t.properties.filter((x) => x !== 'P5').join(' ')} over ${r.runs} runs${why} in ${secs} s`);
  }
  if (t.properties.includes('P5')) {
    lines.push(r.deterministic ? `P5 determinism: HELD (${r.counterexample ? 'the counterexample' : 'run 0'} replayed twice, byte-identical traces)` : 'P5 determinism: VIOLATED (two replays gave different traces)');
  }
  lines.push(...formatCoverage(r.coverage));
  return lines.join('\n') + '\n';
}

/** Exit status of a check: 1 a counterexample (or P5 broken, or a model error), 130 interrupted with nothing found, else 0. */
export function checkExitCode(r: CheckResult): number {
  if (r.counterexample !== undefined || r.error !== undefined || r.baseViolations.length > 0 || !r.deterministic) return 1;
  return r.stopped === 'interrupted' ? 130 : 0;
}

/**
 * On AMD-Vi: the IRTE a posting or fault used, in memory and (when it differs) in the IRTE cache,
 * and for a posting the backing page's owner (src/scenario/amdvi-trace.ts formats the entries).
 */
function amdStateThatMatters(state: RunResult['final'], e: Extract<PlatformEvent, { kind: 'interrupt-fault' | 'interrupt-posted' }>): string[] {
  const out: string[] = [];
  const unit = e.iommu === undefined ? undefined : state.amdvi?.units[e.iommu];
  if (unit !== undefined && e.irteIndex !== undefined) {
    const ga = regBit(unit.regs.control, CONTROL_BITS.GAEn);
    const dte = decodeDte(state.memory.readLE(dteAddress(unit.regs.deviceTableBase, e.rid), DTE_BYTES));
    const size = irteBytes(ga);
    const raw = state.memory.readLE(dteInterruptTableRoot(dte) + BigInt(e.irteIndex * size), size);
    out.push(`IRTE 0x${e.irteIndex.toString(16)} of ${unit.name} (DeviceID ${formatBdf(e.rid)}) in memory: ${describeAmdIrte(raw, ga)}`);
    const cached = cacheLookup(unit.caches.irte, irteKey(e.rid, e.irteIndex));
    if (cached !== undefined && cached.raw !== raw) out.push(`IRTE 0x${e.irteIndex.toString(16)} of ${unit.name} in the IRTE cache (stale): ${describeAmdIrte(cached.raw, ga)}`);
  }
  if (e.kind === 'interrupt-posted') {
    const v = vcpuList(state.vcpus).find((x) => x.pda === e.pda);
    out.push(`AVIC backing page 0x${e.pda.toString(16)}: ${v === undefined ? 'no vCPU' : `${state.domains[v.domain]!.name}.vcpu${v.index}`} (${v?.run ?? 'none'}); ${e.device} belongs to ${(() => { const o = state.intent.owners[e.device]; return o === undefined ? 'no domain' : state.domains[o]!.name; })()}`);
  }
  return out;
}
