/**
 * `remapsim compare SCENARIO --vmm A,B,…`: run one scenario under several VMM designs
 * (src/vmm/designs, docs/vmm.md) and print them side by side: the verdict of every property
 * (P1–P7), the scenario's expectations, its `check:` search when it has one, and what each
 * design cost (src/vmm/costs.ts). Exit status 0 when every design held every property and
 * expectation (and its check found nothing), 1 otherwise, 2 for bad input.
 *
 * Each design runs the scenario with `platform.vmm` replaced by the design's name; the
 * hypervisor policy (`platform.policy`, src/policy) stays the scenario's — KVM's when it
 * names none — unless `--policy` names one for every design, or `--policy matching` picks
 * each design's own hypervisor (`kvm` for qemu-kvm*, `xen` for xen*). The check runs as
 * `remapsim check --no-write` would (src/checker/check.ts `prepareCheck`/`runCheck`), on the
 * scenario text with the same replacement, so a counterexample is never written.
 */
import { availableParallelism } from 'node:os';
import { readInputText } from '../io/read-input.ts';
import { effectiveWorkers } from './check.ts';
import { MAX_SCENARIO_BYTES } from '../io/limits.ts';
import Table from 'cli-table3';
import { parseDocument } from 'yaml';
import { InputError } from '../io/input-error.ts';
import { parseScenarioText, type ParsedScenario } from '../scenario/parse.ts';
import { compileScenario } from '../scenario/compile.ts';
import { runScenario, type RunResult } from '../scenario/run.ts';
import { formatTrace } from '../scenario/trace.ts';
import { CHUNK_RUNS, prepareCheck, runCheck, type CheckResult } from '../checker/check.ts';
import type { Budget } from '../checker/adversary.ts';
import { VMM_DESIGNS } from '../vmm/index.ts';
import { COST_FIELDS, COST_LABELS, vmmCosts, type CostCounts, type CostGroup, type VmmCosts } from '../vmm/costs.ts';
import { rejectedCount } from '../properties/p6-fault-accountability.ts';
import { POLICIES } from '../policy/index.ts';
import type { CheckPool } from '../checker/pool.ts';
import type * as S from '../scenario/types.ts';
import { probeDesign, type DesignProbes } from '../vmm/probes.ts';

/** Options of {@link compareCommand} (the command line's). */
export interface CompareOptions {
  /** Comma-separated design names (default: every design that is not broken). */
  readonly vmm?: string;
  /** A policy name for every design, or `matching` (each design's own hypervisor). Default: the scenario's. */
  readonly policy?: string;
  readonly json?: boolean;
  /** Check runs (overrides check.budget.runs). */
  readonly runs?: number;
  /** Check worker threads (default 1: the check runs in this thread); capped at the cores unless `forceWorkers` (as `check`). */
  readonly workers?: number;
  readonly forceWorkers?: boolean;
}

/** A property's verdict in one design's run. */
export type Verdict = 'HELD' | 'VIOLATED' | 'n/a';

export const PROPERTY_NAMES = {
  P1: 'interrupt isolation',
  P2: 'DMA isolation',
  P3: 'no lost interrupt',
  P4: 'coherence',
  P5: 'determinism',
  P6: 'fault accountability',
  P7: 'guest intent',
} as const;
export type PropertyId = keyof typeof PROPERTY_NAMES;
const PROPERTY_IDS = Object.keys(PROPERTY_NAMES) as PropertyId[];

/** One property of one design: its verdict and the violations' messages (with the action index). */
export interface PropertyResult {
  readonly verdict: Verdict;
  readonly violations: readonly { readonly step: number; readonly message: string }[];
}

/** One design's `check:` search. */
export interface CheckSummary {
  /** `HELD`, `COUNTEREXAMPLE`, `VIOLATED` (the scenario's own steps already do), `ERROR` (a model bug) or `NOT RUN` (the scenario's own steps fail an expectation). */
  readonly verdict: 'HELD' | 'COUNTEREXAMPLE' | 'VIOLATED' | 'ERROR' | 'NOT RUN';
  readonly properties: readonly string[];
  readonly runs: number;
  /** The property the counterexample violates, and the run (0-based) that found it. */
  readonly property?: string;
  readonly run?: number;
  readonly message?: string;
  /** The search stopped early (time limit). */
  readonly stopped?: 'time' | 'interrupted';
}

/** One design's column. */
export interface DesignComparison {
  readonly design: string;
  readonly summary: string;
  readonly policy: string;
  readonly properties: Readonly<Record<PropertyId, PropertyResult>>;
  /** Steps with an `expect`, and why those that failed did. */
  readonly expectations: { readonly checked: number; readonly failures: readonly { readonly step: number; readonly message: string }[] };
  readonly check: CheckSummary | undefined;
  readonly costs: VmmCosts;
  /** KVM's routing table at the end (gsi ascending). */
  readonly kvmRoutes: readonly { readonly gsi: number; readonly address: bigint; readonly data: number; readonly device: string; readonly entry: number }[];
  /** Whether an unmodified driver's onboard interrupt controller / IMS store works on the final state (src/vmm/probes.ts; not part of `ok`). */
  readonly probes: DesignProbes;
  /** Every property held (or did not apply), every expectation held, the check found nothing. */
  readonly ok: boolean;
}

export interface Comparison {
  readonly file: string;
  readonly scenario: string;
  readonly designs: readonly DesignComparison[];
}

/** The hypervisor whose policy matches a design (`--policy matching`). */
export function matchingPolicy(design: string): string {
  return design.startsWith('xen') ? 'xen' : 'kvm';
}

/**
 * The designs `--vmm` names, in the order given. Default: every correct design whose guest
 * programs a trapped MSI-X table (registry order); `all`: every correct design, the hypercall
 * designs too (a scenario for them gives each design's guest driver its own steps, `under:`).
 * @throws InputError for an unknown or repeated name.
 */
export function designsOf(list: string | undefined): string[] {
  const known = Object.keys(VMM_DESIGNS);
  const correct = known.filter((n) => !VMM_DESIGNS[n]!.broken);
  const names =
    list === undefined ? correct.filter((n) => VMM_DESIGNS[n]!.comparedByDefault !== false) : list.trim() === 'all' ? correct : list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new InputError(list === undefined ? 'no VMM design is registered (src/vmm/designs)' : 'name at least one VMM design', { field: '--vmm' });
  for (const n of names) {
    if (VMM_DESIGNS[n] === undefined) throw new InputError(`unknown VMM design '${n}' (known: ${known.join(', ') || 'none'})`, { field: '--vmm' });
  }
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated !== undefined) throw new InputError(`VMM design '${repeated}' is named twice`, { field: '--vmm' });
  return names;
}

function policyFor(option: string | undefined, scenarioPolicy: string | undefined, design: string): string | undefined {
  if (option === undefined) return scenarioPolicy;
  return option === 'matching' ? matchingPolicy(design) : option;
}

/** The scenario with platform.vmm (and platform.policy when given) replaced. */
function withDesign(parsed: ParsedScenario, design: string, policy: string | undefined): ParsedScenario {
  const data = parsed.data as S.Scenario;
  return { ...parsed, data: { ...data, platform: { ...data.platform, vmm: design, ...(policy === undefined ? {} : { policy }) } } };
}

/** The scenario text with platform.vmm (and platform.policy) replaced, comments kept (for the check, which works from text). */
function textWithDesign(text: string, design: string, policy: string | undefined): string {
  const doc = parseDocument(text, { intAsBigInt: true });
  doc.setIn(['platform', 'vmm'], design);
  if (policy !== undefined) doc.setIn(['platform', 'policy'], policy);
  return doc.toString();
}

const isDma = (r: RunResult): boolean => r.steps.some((s) => s.events.some((e) => e.kind === 'dma-access' || e.kind === 'dma-fault' || e.kind === 'dma-peer'));

function propertyResult(violations: readonly { step: number; message: string }[], applies: boolean): PropertyResult {
  if (!applies) return { verdict: 'n/a', violations: [] };
  return { verdict: violations.length === 0 ? 'HELD' : 'VIOLATED', violations: violations.map((v) => ({ step: v.step, message: v.message })) };
}

/**
 * The verdicts of a run: n/a where `remapsim run` prints no verdict line (P2/P4 without a DMA
 * request, P3 without vCPUs, P6 without a rejected request, P7 without a VMM); P5 from a
 * second run of the same scenario (byte-identical traces).
 */
function propertiesOf(r: RunResult, again: RunResult): Record<PropertyId, PropertyResult> {
  const dma = isDma(r);
  const same = formatTrace(r) === formatTrace(again);
  return {
    P1: propertyResult(r.violations, true),
    P2: propertyResult(r.dmaIsolation, dma),
    P3: propertyResult(r.lost, r.final.vcpus.count > 0),
    P4: propertyResult(r.coherence, dma),
    P5: { verdict: same ? 'HELD' : 'VIOLATED', violations: same ? [] : [{ step: -1, message: 'two runs gave different traces' }] },
    P6: propertyResult(r.accountability, rejectedCount(r.faults) > 0),
    P7: propertyResult(r.guestIntent, r.final.vmm !== undefined),
  };
}

async function checkOf(text: string, file: string, o: CompareOptions, ownStepsFail: boolean): Promise<CheckSummary> {
  const overrides: Partial<Budget> = o.runs === undefined ? {} : { runs: o.runs };
  let prepared;
  try {
    prepared = prepareCheck(text, file, overrides);
  } catch (e) {
    if (e instanceof InputError && ownStepsFail) return { verdict: 'NOT RUN', properties: [], runs: 0, message: e.message };
    throw e;
  }
  const properties = prepared.threat.properties;
  const workers = o.workers ?? 1;
  let pool: CheckPool | undefined;
  if (workers > 1 && prepared.threat.budget.runs > CHUNK_RUNS) pool = (await import('../checker/pool.ts')).startPool(text, file, overrides, workers);
  let r: CheckResult;
  try {
    r = await runCheck(prepared, pool === undefined ? {} : { runChunk: pool.runChunk, concurrency: pool.threads * 2 });
  } finally {
    await pool?.close();
  }
  const stopped = r.stopped === undefined ? {} : { stopped: r.stopped };
  if (r.baseViolations.length > 0) return { verdict: 'VIOLATED', properties, runs: 0, message: r.baseViolations[0]! };
  if (r.error !== undefined) return { verdict: 'ERROR', properties, runs: r.runs, message: r.error.message };
  if (r.counterexample !== undefined) return { verdict: 'COUNTEREXAMPLE', properties, runs: r.runs, property: r.counterexample.property, run: r.counterexample.run, message: r.counterexample.message };
  if (!r.deterministic) return { verdict: 'COUNTEREXAMPLE', properties, runs: r.runs, property: 'P5', message: 'two replays gave different traces' };
  return { verdict: 'HELD', properties, runs: r.runs, ...stopped };
}

/**
 * Run `file` under each design of `o.vmm` (and its check). Deterministic: the same input
 * gives the same comparison (the check's time limit aside).
 * @throws InputError for an unreadable or invalid scenario, an unknown design or policy.
 */
export async function compareScenario(file: string, o: CompareOptions = {}): Promise<Comparison> {
  const designs = designsOf(o.vmm);
  if (o.policy !== undefined && o.policy !== 'matching' && POLICIES[o.policy] === undefined) {
    throw new InputError(`unknown hypervisor policy '${o.policy}' (known: matching, ${Object.keys(POLICIES).join(', ')})`, { field: '--policy' });
  }
  const text = readInputText(file, { maxBytes: MAX_SCENARIO_BYTES, what: 'scenario' });
  const parsed = parseScenarioText(text, file);
  const data = parsed.data as S.Scenario;
  compileScenario(parsed); // the scenario as written must be valid, whatever design it names
  const out: DesignComparison[] = [];
  for (const design of designs) {
    const policy = policyFor(o.policy, data.platform.policy, design);
    const variant = withDesign(parsed, design, policy);
    const r = runScenario(compileScenario(variant));
    const again = runScenario(compileScenario(variant));
    const properties = propertiesOf(r, again);
    const failures = r.steps.flatMap((s) => s.failures.map((message) => ({ step: s.step.index, message })));
    const check = data.check === undefined ? undefined : await checkOf(textWithDesign(text, design, policy), file, o, failures.length > 0);
    const routes = Object.entries(r.final.vmm?.kvm.routes ?? {})
      .map(([gsi, route]) => ({ gsi: Number(gsi), address: route.address, data: route.data, device: route.device, entry: route.entry }))
      .sort((a, b) => a.gsi - b.gsi);
    out.push({
      design,
      summary: VMM_DESIGNS[design]!.summary,
      policy: r.final.hypervisor.policy,
      properties,
      expectations: { checked: r.steps.filter((s) => s.step.expect !== undefined).length, failures },
      check,
      costs: vmmCosts(r.steps, r.final),
      kvmRoutes: routes,
      probes: probeDesign(r.final),
      ok: PROPERTY_IDS.every((p) => properties[p].verdict !== 'VIOLATED') && failures.length === 0 && (check === undefined || check.verdict === 'HELD'),
    });
  }
  return { file, scenario: data.name, designs: out };
}

/** Exit status of a comparison: 0 when every design is ok, else 1. */
export function compareExitCode(c: Comparison): number {
  return c.designs.every((d) => d.ok) ? 0 : 1;
}

/** `6` or `1.5` (at most two decimals). */
function num(n: number): string {
  return String(Math.round(n * 100) / 100);
}

function checkCell(c: CheckSummary | undefined): string {
  if (c === undefined) return 'n/a';
  switch (c.verdict) {
    case 'HELD':
      return `HELD over ${c.runs} runs${c.stopped === 'time' ? ' (time limit)' : ''}`;
    case 'COUNTEREXAMPLE':
      return `COUNTEREXAMPLE ${c.property}${c.run === undefined ? '' : ` (run ${c.run})`}`;
    case 'VIOLATED':
      return 'VIOLATED by own steps';
    case 'ERROR':
      return 'ERROR (model bug)';
    case 'NOT RUN':
      return 'not run (expectation failed)';
  }
}

function costRows(title: string, unit: string, designs: readonly DesignComparison[], pick: (c: VmmCosts) => CostGroup): string[][] {
  const rows: string[][] = [[title, ...designs.map((d) => `${pick(d.costs).occurrences} ${unit}`)]];
  for (const f of COST_FIELDS) {
    rows.push([`  ${COST_LABELS[f]}`, ...designs.map((d) => {
      const g = pick(d.costs);
      return g.occurrences === 0 ? '0' : `${g.total[f]} (${num(g.average[f])})`;
    })]);
  }
  return rows;
}

/** The human report: a table with one column per design, then what failed and why. */
export function formatComparison(c: Comparison): string {
  const d = c.designs;
  const table = new Table({ head: [c.scenario, ...d.map((x) => x.design)], style: { head: [], border: [], compact: true } });
  const rows: string[][] = [
    ['policy', ...d.map((x) => x.policy)],
    ...PROPERTY_IDS.map((p) => [`${p} ${PROPERTY_NAMES[p]}`, ...d.map((x) => x.properties[p].verdict)]),
    ['expectations', ...d.map((x) => (x.expectations.checked === 0 ? 'none' : x.expectations.failures.length === 0 ? `${x.expectations.checked} held` : `${x.expectations.failures.length} of ${x.expectations.checked} FAILED`))],
    ['check', ...d.map((x) => checkCell(x.check))],
    ...costRows('per MSI set-up', 'set-ups', d, (k) => k.programming),
    ...costRows('per interrupt', 'raised', d, (k) => k.interrupt),
    ['onboard interrupt controller', ...d.map((x) => x.probes.onboardController.verdict)],
    ['IMS, unmodified driver', ...d.map((x) => x.probes.ims.verdict)],
    ['KVM routes in use at the end', ...d.map((x) => (matchingPolicy(x.design) === 'kvm' ? `${x.costs.kvmRoutesInUse} of ${x.costs.kvmRouteCapacity}` : 'n/a'))],
  ];
  for (const r of rows) table.push(r);
  const lines = [
    `compare: ${c.scenario} (${c.file})`,
    table.toString(),
    'costs: total (average per occurrence); a set-up is a guest write to the MSI-X table or Message Control, or a set-up hypercall (set-interrupt, get-msi-pair); an interrupt is a raised entry',
    "probes (on the final state): the device sends the pair its unmodified driver read back from the MSI-X table (onboard interrupt controller) or wrote itself (IMS store); works = the guest's entry's vCPUs get its vector",
  ];
  for (const x of d) lines.push(`${x.design}: guest addressing: ${VMM_DESIGNS[x.design]!.guestAddressing}`);
  for (const x of d) lines.push(`${x.design}: onboard controller ${x.probes.onboardController.verdict}: ${x.probes.onboardController.detail}`, `${x.design}: IMS ${x.probes.ims.verdict}: ${x.probes.ims.detail}`);
  for (const x of d) {
    for (const p of PROPERTY_IDS) for (const v of x.properties[p].violations) lines.push(`${x.design}: VIOLATION ${p}${v.step < 0 ? '' : ` at action ${v.step}`}: ${v.message}`);
    for (const f of x.expectations.failures) lines.push(`${x.design}: EXPECTATION FAILED at step ${f.step}: ${f.message}`);
    if (x.check !== undefined && x.check.verdict !== 'HELD' && x.check.message !== undefined) lines.push(`${x.design}: check ${x.check.verdict}${x.check.property === undefined ? '' : ` ${x.check.property}`}: ${x.check.message}`);
  }
  return lines.join('\n') + '\n';
}

function countsJson(c: CostCounts): Record<string, number> {
  return Object.fromEntries(COST_FIELDS.map((f) => [f, c[f]]));
}

function groupJson(g: CostGroup): unknown {
  return { occurrences: g.occurrences, total: countsJson(g.total), average: countsJson(g.average) };
}

/** The comparison as JSON (numbers as numbers; addresses and data as "0x…" strings). */
export function comparisonJson(c: Comparison): unknown {
  return {
    file: c.file,
    scenario: c.scenario,
    designs: c.designs.map((x) => ({
      design: x.design,
      summary: x.summary,
      guestAddressing: VMM_DESIGNS[x.design]!.guestAddressing,
      policy: x.policy,
      ok: x.ok,
      properties: x.properties,
      expectations: x.expectations,
      check: x.check ?? null,
      costs: {
        programming: groupJson(x.costs.programming),
        interrupt: groupJson(x.costs.interrupt),
        other: groupJson(x.costs.other),
        all: countsJson(x.costs.all),
        kvmRoutesInUse: x.costs.kvmRoutesInUse,
        kvmRouteCapacity: x.costs.kvmRouteCapacity,
      },
      probes: x.probes,
      kvmRoutes: x.kvmRoutes.map((r) => ({ gsi: r.gsi, address: `0x${r.address.toString(16)}`, data: `0x${r.data.toString(16)}`, device: r.device, entry: r.entry })),
    })),
  };
}

/** `remapsim compare`: the report (table or JSON) and the exit status. @throws InputError for bad input. */
export async function compareCommand(file: string, o: CompareOptions): Promise<{ code: number; report: string; comparison: Comparison }> {
  if (o.workers !== undefined) {
    // The same cap as `check --workers` (docs/limits.md): more threads than cores only add memory.
    const cores = availableParallelism();
    const cap = effectiveWorkers(o.workers, cores, o.forceWorkers === true);
    if (cap.note !== undefined) process.stderr.write(cap.note + '\n');
    o = { ...o, workers: cap.workers };
  }
  const comparison = await compareScenario(file, o);
  const report = o.json ? JSON.stringify(comparisonJson(comparison), null, 2) + '\n' : formatComparison(comparison);
  return { code: compareExitCode(comparison), report, comparison };
}
