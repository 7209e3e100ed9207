/**
 * Random schedules for the posted-interrupt policies (issue "Posted interrupts", item 5):
 * fast-check arbitraries of *scenario steps* — plain objects in the YAML step format
 * (`{ schedule: { vm: 'vm1', vcpu: 1, pcpu: 2 } }`, `{ signal: { device: '05:00.0', vector: 0 } }`)
 * — and a runner that appends them to a base scenario, runs it with the scenario
 * runner (which judges P1 and P3 after every action) and reports the violations.
 *
 * Everything a step names is chosen by position among what the base scenario
 * declares (the n-th vCPU of all guests, the n-th pCPU, the n-th programmed MSI-X
 * entry), so a shrunk step names the first things: vm1's vCPU 0, cpu0, the first
 * entry. A run has a focus vCPU that about half of its steps are about, and a signal
 * usually raises an entry the guest aimed at the step's vCPU: without that, a vCPU is
 * rarely scheduled, halted and signalled in one run, and wakeups are rarely reached
 * (see `coverageOf`, which the tests use to check what the runs reach).
 *
 * Because the steps are scenario steps, a failing run is a scenario file as it stands
 * (src/scenario/write.ts) and replays with `remapsim run`, no fast-check needed.
 */
import fc from 'fast-check';
import { parseScenarioText, type ParsedScenario } from '../scenario/parse.ts';
import { compileScenario } from '../scenario/compile.ts';
import { runScenario, type RunResult } from '../scenario/run.ts';
import { withPolicy } from '../scenario/write.ts';
import type * as S from '../scenario/types.ts';

/** A vCPU as a scenario names it. */
export interface VcpuName {
  readonly vm: string;
  readonly vcpu: number;
}

/** A device interrupt a step can raise: `signal: { device, vector: entry }`. */
export interface InterruptSource {
  readonly device: string;
  /** The MSI-X table entry (the `vector` of a `signal` step). */
  readonly entry: number;
  /**
   * Position in {@link ScheduleModel.vcpus} of the vCPU the guest aimed this entry at
   * (its `guest-msi` destination APIC ID among the vCPUs of the device's owner), when
   * known. This is the guest's intent, not what the policy made of it.
   */
  readonly target: number | undefined;
  /** The guest vector its `guest-msi` programs (undefined when the base programs none). */
  readonly vector: number | undefined;
  /** Positions in {@link ScheduleModel.vcpus} of the vCPUs of the device's owner (where the guest may retarget it). */
  readonly ownerVcpus: readonly number[];
}

/** What generated steps choose from, in the base scenario's order. */
export interface ScheduleModel {
  /** Every guest vCPU: the domains' vCPUs in declaration order. */
  readonly vcpus: readonly VcpuName[];
  /** Number of pCPUs; a `schedule` names any of them. */
  readonly pcpus: number;
  /** MSI-X entries the base programs with `guest-msi` (all guest-owned devices' entries when it programs none). */
  readonly sources: readonly InterruptSource[];
  /** For each vCPU (by position), the positions in `sources` aimed at it. */
  readonly sourcesOf: readonly (readonly number[])[];
  /** Guest APIC ID of each vCPU (by position). */
  readonly apicIds: readonly number[];
}

/** A generated step, in the scenario's step format. */
export type GeneratedStep =
  | { readonly schedule: VcpuName & { readonly pcpu: number } }
  | { readonly preempt: VcpuName }
  | { readonly halt: VcpuName }
  | { readonly signal: { readonly device: string; readonly vector: number } }
  | { readonly 'guest-ack': VcpuName }
  | { readonly 'guest-eoi': VcpuName }
  | { readonly 'guest-msi': { readonly device: string; readonly entry: number; readonly destination: number; readonly vector: number } };

/** The kind of a generated step (its one key). */
export type GeneratedKind = 'schedule' | 'preempt' | 'halt' | 'signal' | 'guest-ack' | 'guest-eoi' | 'guest-msi';

/**
 * How a step is chosen: the step kinds, with `signal` split in two — `signal` raises
 * an interrupt the guest aimed at the chosen vCPU, `signal-any` any programmed one —
 * and `retarget`: the guest reprograms a programmed MSI-X entry (same vector) for
 * another vCPU of its own (a `guest-msi` step; the hypervisor writes a new posted IRTE).
 */
export type ChoiceKind = 'schedule' | 'preempt' | 'halt' | 'signal' | 'signal-any' | 'guest-ack' | 'guest-eoi' | 'retarget';

/** Relative frequency of each kind of choice in {@link stepChoiceArbitrary}; 0 leaves a kind out. */
export type StepWeights = Readonly<Record<ChoiceKind, number>>;

/** Signals and schedules are the frequent ones: a run needs vCPUs placed and interrupts flowing. */
export const DEFAULT_WEIGHTS: StepWeights = { schedule: 5, signal: 5, 'signal-any': 1, halt: 3, preempt: 2, 'guest-ack': 2, 'guest-eoi': 1, retarget: 1 };

/**
 * A step before it is resolved against a run: every field is a position, so that
 * shrinking it shrinks toward the first vCPU, pCPU and source.
 */
export interface StepChoice {
  readonly kind: ChoiceKind;
  /** vCPU, as an offset from the run's focus vCPU (0: the focus itself). */
  readonly vcpu: number;
  /** pCPU (schedule only). */
  readonly pcpu: number;
  /** `signal`: which of the vCPU's sources; `signal-any` and `retarget`: position in all sources. */
  readonly source: number;
}

/** The kind of `step`. */
export function kindOf(step: GeneratedStep): GeneratedKind {
  return Object.keys(step)[0] as GeneratedKind;
}

/** Position of the vCPU with guest APIC ID `apicId` in domain `d` (vCPUs numbered from APIC ID 0 unless listed). */
function vcpuIndexOf(d: S.DomainSpec, apicId: number): number | undefined {
  if (d.vcpus === undefined) return undefined;
  if (typeof d.vcpus === 'number') return apicId < d.vcpus ? apicId : undefined;
  const i = d.vcpus.indexOf(apicId);
  return i < 0 ? undefined : i;
}

/**
 * The schedule model of a schema-valid scenario's data (as `parseScenarioText` returns it).
 * @throws Error when the scenario has no guest vCPU, no pCPU or no MSI-X entry to signal.
 */
export function scheduleModel(data: unknown): ScheduleModel {
  const s = data as S.Scenario;
  const domains = s.domains ?? [];
  const first = new Map<string, number>();
  const vcpus: VcpuName[] = domains.flatMap((d) => {
    const n = d.vcpus === undefined ? 0 : typeof d.vcpus === 'number' ? d.vcpus : d.vcpus.length;
    return Array.from({ length: n }, (_, vcpu) => ({ vm: d.name, vcpu }));
  });
  let k = 0;
  for (const d of domains) {
    first.set(d.name, k);
    k += d.vcpus === undefined ? 0 : typeof d.vcpus === 'number' ? d.vcpus : d.vcpus.length;
  }
  const ownerOf = (device: string): S.DomainSpec | undefined => domains.find((d) => (d.devices ?? []).includes(device));
  const vcpusOf = (d: S.DomainSpec | undefined): number[] => (d === undefined ? [] : vcpus.flatMap((v, i) => (v.vm === d.name ? [i] : [])));
  const apicIds = domains.flatMap((d) => (d.vcpus === undefined ? [] : typeof d.vcpus === 'number' ? Array.from({ length: d.vcpus }, (_, i) => i) : d.vcpus));
  const pcpus = 'count' in s.platform.cpus ? s.platform.cpus.count : s.platform.cpus.apicIds.length;
  const seen = new Set<string>();
  let sources: InterruptSource[] = [];
  for (const step of s.steps ?? []) {
    const g = step['guest-msi'];
    if (g === undefined || seen.has(`${g.device}/${g.entry}`)) continue;
    seen.add(`${g.device}/${g.entry}`);
    const owner = ownerOf(g.device);
    const index = owner === undefined ? undefined : vcpuIndexOf(owner, g.destination);
    sources.push({ device: g.device, entry: g.entry, target: owner === undefined || index === undefined ? undefined : first.get(owner.name)! + index, vector: g.vector, ownerVcpus: vcpusOf(owner) });
  }
  if (sources.length === 0) {
    const guestDevices = new Set(domains.filter((d) => d.kind === 'guest').flatMap((d) => d.devices ?? []));
    sources = (s.devices ?? [])
      .filter((d) => guestDevices.has(d.bdf) && d.msix !== undefined)
      .flatMap((d) => Array.from({ length: d.msix!.tableSize }, (_, entry) => ({ device: d.bdf, entry, target: undefined, vector: undefined, ownerVcpus: vcpusOf(ownerOf(d.bdf)) })));
  }
  if (vcpus.length === 0) throw new Error('the base scenario has no guest vCPU to schedule');
  if (sources.length === 0) throw new Error('the base scenario has no MSI-X entry to signal');
  if (pcpus === 0) throw new Error('the base scenario has no pCPU');
  const sourcesOf = vcpus.map((_, v) => sources.flatMap((src, i) => (src.target === v ? [i] : [])));
  return { vcpus, pcpus, sources, sourcesOf, apicIds };
}

/**
 * One random step choice over `model`, by kind with the given weights (kinds of
 * weight 0 never appear). The vCPU offset is 0 (the run's focus) about half the time.
 * @throws Error when every weight is 0.
 */
export function stepChoiceArbitrary(model: ScheduleModel, weights: Partial<StepWeights> = {}): fc.Arbitrary<StepChoice> {
  const w: StepWeights = { ...DEFAULT_WEIGHTS, ...weights };
  const n = model.vcpus.length;
  const offset = fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.nat({ max: n - 1 }), weight: 3 });
  const pcpu = fc.nat({ max: model.pcpus - 1 });
  const most = Math.max(1, ...model.sourcesOf.map((x) => x.length));
  const zero = fc.constant(0);
  const choice = (kind: ChoiceKind, p: fc.Arbitrary<number>, source: fc.Arbitrary<number>): fc.Arbitrary<StepChoice> =>
    fc.record({ kind: fc.constant(kind), vcpu: kind === 'signal-any' ? zero : offset, pcpu: p, source });
  const byKind: Record<ChoiceKind, fc.Arbitrary<StepChoice>> = {
    signal: choice('signal', zero, fc.nat({ max: most - 1 })),
    'signal-any': choice('signal-any', zero, fc.nat({ max: model.sources.length - 1 })),
    schedule: choice('schedule', pcpu, zero),
    halt: choice('halt', zero, zero),
    preempt: choice('preempt', zero, zero),
    'guest-ack': choice('guest-ack', zero, zero),
    'guest-eoi': choice('guest-eoi', zero, zero),
    retarget: choice('retarget', zero, fc.nat({ max: model.sources.length - 1 })),
  };
  // Retargeting needs the guest's vector and vCPUs of the device's owner.
  const canRetarget = model.sources.some((src) => src.vector !== undefined && src.ownerVcpus.length > 0);
  const order: ChoiceKind[] = ['signal', 'schedule', 'halt', 'preempt', 'guest-ack', 'guest-eoi', 'signal-any', 'retarget'];
  const choices = order.filter((k) => w[k] > 0 && (k !== 'retarget' || canRetarget)).map((k) => ({ arbitrary: byKind[k], weight: w[k] }));
  if (choices.length === 0) throw new Error('every step weight is 0');
  return fc.oneof(...choices);
}

/**
 * The scenario step `choice` names in a run whose focus is vCPU `focus` (a position in
 * `model.vcpus`). A `signal` for a vCPU no source is aimed at raises source
 * (vCPU position mod source count). Positions out of range wrap around.
 */
export function resolveStep(model: ScheduleModel, focus: number, choice: StepChoice): GeneratedStep {
  const at = (focus + choice.vcpu) % model.vcpus.length;
  const v = model.vcpus[at]!;
  const ref = { vm: v.vm, vcpu: v.vcpu };
  switch (choice.kind) {
    case 'signal':
    case 'signal-any': {
      const mine = model.sourcesOf[at] ?? [];
      const i = choice.kind === 'signal-any' ? choice.source % model.sources.length : mine.length > 0 ? mine[choice.source % mine.length]! : at % model.sources.length;
      const src = model.sources[i]!;
      return { signal: { device: src.device, vector: src.entry } };
    }
    case 'schedule':
      return { schedule: { ...ref, pcpu: choice.pcpu % model.pcpus } };
    case 'halt':
      return { halt: ref };
    case 'preempt':
      return { preempt: ref };
    case 'guest-ack':
      return { 'guest-ack': ref };
    case 'guest-eoi':
      return { 'guest-eoi': ref };
    case 'retarget': {
      // The entry `source` names, for the chosen vCPU if it belongs to the device's owner, else for
      // one of the owner's vCPUs; an entry that cannot be retargeted is signalled instead.
      const src = model.sources[choice.source % model.sources.length]!;
      const own = src.ownerVcpus;
      if (src.vector === undefined || own.length === 0) return { signal: { device: src.device, vector: src.entry } };
      const to = own.includes(at) ? at : own[choice.vcpu % own.length]!;
      return { 'guest-msi': { device: src.device, entry: src.entry, destination: model.apicIds[to]!, vector: src.vector } };
    }
  }
}

/**
 * One random step over `model` in a run focused on vCPU `focus` (default the first).
 * @throws Error when every weight is 0.
 */
export function stepArbitrary(model: ScheduleModel, weights: Partial<StepWeights> = {}, focus = 0): fc.Arbitrary<GeneratedStep> {
  return stepChoiceArbitrary(model, weights).map((c) => resolveStep(model, focus, c));
}

/** Options of {@link stepsArbitrary}. */
export interface StepsOptions {
  /** Most steps in a run (default 25). */
  readonly maxSteps?: number;
  /** Fewest steps in a run (default 1). */
  readonly minSteps?: number;
  readonly weights?: Partial<StepWeights>;
}

/**
 * A random run: a focus vCPU, and a list of steps most of which are about it (so that
 * a vCPU is scheduled, halted and signalled in the same run often enough to reach the
 * wakeup and harvest paths). Lengths range over [minSteps, maxSteps]. Shrinks by
 * dropping steps, then toward the first vCPU, pCPU and source.
 */
export function stepsArbitrary(model: ScheduleModel, options: StepsOptions = {}): fc.Arbitrary<GeneratedStep[]> {
  return fc
    .record({
      focus: fc.nat({ max: model.vcpus.length - 1 }),
      choices: fc.array(stepChoiceArbitrary(model, options.weights), { minLength: options.minSteps ?? 1, maxLength: options.maxSteps ?? 25, size: 'max' }),
    })
    .map(({ focus, choices }) => choices.map((c) => resolveStep(model, focus, c)));
}

/** A base scenario ready to have steps appended: its text, parsed data and schedule model. */
export interface BaseScenario {
  /** The YAML text (with `platform.policy` replaced when a policy was given). */
  readonly text: string;
  readonly file: string;
  readonly parsed: ParsedScenario;
  readonly model: ScheduleModel;
  /** `platform.policy` of the text (`kvm` when it names none). */
  readonly policy: string;
  /** Number of the base's own steps. */
  readonly steps: number;
}

/**
 * Read a base scenario from its text, optionally setting `platform.policy` to `policy`.
 * @param file the name used in error messages and as the compiled scenario's file
 * @throws InputError when the text is not a schema-valid scenario (including an unknown policy name);
 *   Error when it has no vCPU or interrupt source ({@link scheduleModel}).
 */
export function loadBase(text: string, file: string, policy?: string): BaseScenario {
  const t = policy === undefined ? text : withPolicy(text, policy);
  const parsed = parseScenarioText(t, file);
  const data = parsed.data as S.Scenario;
  return { text: t, file, parsed, model: scheduleModel(data), policy: data.platform.policy ?? 'kvm', steps: (data.steps ?? []).length };
}

/** A property violated during a run. */
export interface Finding {
  readonly property: 'P1' | 'P3';
  /** Index in the scenario's `steps` (base steps included) of the step whose action violated it. */
  readonly step: number;
  /** Index among the generated steps, or -1 for a base step. */
  readonly generated: number;
  readonly message: string;
}

/** What one run of base + generated steps gave. */
export interface ScheduleRun {
  /** P1 and P3 violations by step, earliest first (P1 before P3 within a step). */
  readonly findings: readonly Finding[];
  /** Expectations of the base's steps that failed (generated steps have none). */
  readonly failures: readonly string[];
  readonly result: RunResult;
  /** Number of the base's own steps (the generated ones follow them). */
  readonly baseSteps: number;
}

/**
 * Append `steps` to the base's steps, compile and run the scenario (P1 and P3 are
 * judged after every action by src/scenario/run.ts) and list the violations.
 * @throws InputError when a step names something the base does not have (not for
 *   steps from {@link stepArbitrary} over the base's model).
 */
export function runWithSteps(base: BaseScenario, steps: readonly object[]): ScheduleRun {
  const data = base.parsed.data as S.Scenario;
  const baseCount = (data.steps ?? []).length;
  const parsed: ParsedScenario = { file: base.file, data: { ...data, steps: [...(data.steps ?? []), ...steps] }, lineAt: base.parsed.lineAt };
  const result = runScenario(compileScenario(parsed));
  // The runner stamps violations with the action number; map it back to the scenario step.
  const firstAction: number[] = [];
  let n = 0;
  for (const s of result.scenario.steps) {
    firstAction.push(n);
    n += s.actions.length;
  }
  const stepOf = (action: number): number => {
    let i = firstAction.length - 1;
    while (i > 0 && firstAction[i]! > action) i--;
    return i;
  };
  const finding = (property: 'P1' | 'P3', action: number, message: string): Finding => {
    const step = stepOf(action);
    return { property, step, generated: step >= baseCount ? step - baseCount : -1, message };
  };
  const findings = [...result.violations.map((v) => finding('P1', v.step, v.message)), ...result.lost.map((v) => finding('P3', v.step, v.message))].sort(
    (a, b) => a.step - b.step,
  );
  const failures = result.steps.flatMap((s) => s.failures.map((f) => `step ${s.step.index}: ${f}`));
  return { findings, failures, result, baseSteps: baseCount };
}

/** Options of {@link searchSchedules}. */
export interface SearchOptions extends StepsOptions {
  readonly seed: number;
  /** Random runs to try (default 100). */
  readonly numRuns?: number;
  /** A fast-check replay path: with the same seed, re-runs exactly that (shrunk) case. */
  readonly path?: string;
  /** Called with every run fast-check makes (shrinking included), e.g. to collect {@link coverageOf}. */
  readonly onRun?: (run: ScheduleRun, steps: readonly GeneratedStep[]) => void;
}

/** The outcome of {@link searchSchedules}. */
export interface SearchResult {
  readonly policy: string;
  readonly seed: number;
  /** Runs executed before the first failure (all of them when none failed), shrinking not counted. */
  readonly runs: number;
  readonly failed: boolean;
  /** fast-check's path to the shrunk counterexample (replays it with `seed`). */
  readonly path: string | undefined;
  /**
   * The counterexample: fast-check's shrunk steps cut after the first step that
   * violates a property (the run is deterministic, so the prefix fails the same way;
   * fast-check's array shrinker does not always drop trailing steps).
   */
  readonly steps: readonly GeneratedStep[] | undefined;
  /** fast-check's shrunk steps as it reported them (what `path` replays). */
  readonly shrunk: readonly GeneratedStep[] | undefined;
  /** Its violations (first one first). */
  readonly findings: readonly Finding[];
  readonly shrinks: number;
  /** Wall time of the search, in milliseconds. */
  readonly ms: number;
}

/**
 * Property "P1 and P3 hold, and the base's expectations are met, after every step" over
 * random step lists appended to `base`, checked with fast-check from `seed`. A failure
 * is shrunk (fewer steps, then earlier vCPUs, pCPUs and sources).
 * @throws whatever a run of the shrunk counterexample throws (fast-check counts an
 *   exception as a failure and shrinks it; re-running it here lets the error surface).
 */
export function searchSchedules(base: BaseScenario, options: SearchOptions): SearchResult {
  const start = performance.now();
  const property = fc.property(stepsArbitrary(base.model, options), (steps) => {
    const r = runWithSteps(base, steps);
    options.onRun?.(r, steps);
    return r.findings.length === 0 && r.failures.length === 0;
  });
  const details = fc.check(property, {
    seed: options.seed,
    numRuns: options.numRuns ?? 100,
    ...(options.path === undefined ? {} : { path: options.path }),
  });
  const shrunk = details.counterexample?.[0];
  let steps = shrunk;
  let findings: readonly Finding[] = [];
  if (shrunk !== undefined) {
    const first = runWithSteps(base, shrunk).findings.reduce((m, f) => Math.min(m, f.generated), Infinity);
    if (Number.isFinite(first) && first + 1 < shrunk.length) steps = shrunk.slice(0, Math.max(first + 1, options.minSteps ?? 1));
    findings = runWithSteps(base, steps!).findings;
  }
  return {
    policy: base.policy,
    seed: details.seed,
    runs: details.numRuns,
    failed: details.failed,
    path: details.counterexamplePath ?? undefined,
    steps,
    shrunk,
    findings,
    shrinks: details.numShrinks,
    ms: performance.now() - start,
  };
}

/** Situations a run can reach; a check over random runs is only as good as the situations it reached. */
export type CoverageLabel =
  /** A notification reached a vCPU running in guest mode: PIR processed with no VM exit. */
  | 'notified-in-guest'
  /** The hypervisor moved PIR into vIRR before a VM entry (requests posted while the vCPU did not run). */
  | 'harvested-at-entry'
  /** The unit posted without a notification because SN was set (a preempted or new vCPU). */
  | 'posted-while-suppressed'
  /** The unit posted without a notification because ON was already set. */
  | 'posted-while-on'
  /** A vCPU halted and blocked. */
  | 'halted'
  /** A blocked vCPU was woken. */
  | 'woken'
  /** A vCPU entered the guest on another pCPU than the one its previous state change left it on. */
  | 'migrated'
  /** A running vCPU was displaced (preempted, or another vCPU scheduled on its pCPU). */
  | 'descheduled'
  /** The guest acknowledged a virtual interrupt. */
  | 'acked'
  /** The guest reprogrammed an MSI-X entry (a generated `guest-msi` step). */
  | 'retargeted';

/**
 * The situations `run` reached (generated steps only; the base's setup is not counted).
 * Read from the run's events: pure, and the same for the same run.
 */
export function coverageOf(run: ScheduleRun): Set<CoverageLabel> {
  const out = new Set<CoverageLabel>();
  // pCPU of each vCPU as its last state change left it (a vCPU not seen yet is not counted as moving).
  const lastPcpu = new Map<number, number>();
  for (const s of run.result.steps) {
    const generated = s.step.index >= run.baseSteps;
    if (generated && s.step.label === 'guest-msi') out.add('retargeted');
    for (const e of s.events) {
      if (e.kind === 'vcpu-state') {
        const last = lastPcpu.get(e.vcpu);
        if (generated && e.run === 'running' && last !== undefined && last !== e.pcpu) out.add('migrated');
        lastPcpu.set(e.vcpu, e.pcpu);
      }
      if (!generated) continue;
      if (e.kind === 'pir-processed' && e.vectors.length > 0) out.add(e.by === 'notification' ? 'notified-in-guest' : 'harvested-at-entry');
      else if (e.kind === 'interrupt-posted' && e.suppressed === 'sn-set') out.add('posted-while-suppressed');
      else if (e.kind === 'interrupt-posted' && e.suppressed === 'on-already-set') out.add('posted-while-on');
      else if (e.kind === 'guest-interrupt' && e.what === 'ack' && e.vector !== undefined) out.add('acked');
      else if (e.kind === 'vcpu-state') {
        if (e.run === 'blocked') out.add('halted');
        if (e.was === 'blocked' && e.run === 'runnable') out.add('woken');
        if (e.was === 'running' && e.run === 'runnable') out.add('descheduled');
      }
    }
  }
  return out;
}
