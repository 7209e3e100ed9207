/**
 * Assemble the review report (src/report/model.ts) of one scenario run, and optionally of its
 * check: summary, platform, topology and IOMMU groups, domains and grants, the decoded
 * interrupt-remapping structures, the request paths (SVG), the property verdicts, the check
 * result with the counterexample's trace and the state that matters, the VMM costs, and the
 * full trace. Pure: the same run (and check) gives the same report; nothing time-dependent
 * (the check's elapsed time) is included, so the output file is byte-identical across runs.
 */
import type { RunResult } from '../scenario/run.ts';
import type { Scenario } from '../scenario/types.ts';
import type { CheckResult } from '../checker/check.ts';
import { formatCoverage } from '../checker/check.ts';
import { formatTrace } from '../scenario/trace.ts';
import { formatSteps } from '../scenario/write.ts';
import { parseScenarioText } from '../scenario/parse.ts';
import { compileScenario } from '../scenario/compile.ts';
import { runScenario } from '../scenario/run.ts';
import { rejectedCount } from '../properties/p6-fault-accountability.ts';
import { COST_FIELDS, COST_LABELS, vmmCosts } from '../vmm/costs.ts';
import { platformSection, topologySection, domainsSection } from './platform-sections.ts';
import { tablesSection } from './table-sections.ts';
import { requestPaths, COLUMNS, type RequestPath } from './paths.ts';
import { MAX_ROWS } from './path-svg.ts';
import { list, pre, table, text, type Block, type Cell, type Report, type Section } from './model.ts';
import type { DesignDiff } from '../diff/diff.ts';
import { diffSection } from './diff-section.ts';

/** What a report is made of. */
export interface ReportInput {
  /** The scenario file as given on the command line (shown, not read). */
  readonly file: string;
  /** The scenario as parsed (for what it names: DMAR/IVRS table, policy, VMM). */
  readonly data: Scenario;
  readonly run: RunResult;
  /** With `--check`: the check's result (its `prepared.base` is `run`). */
  readonly check?: CheckResult;
  /** With `--diff B` / `--vmm X,Y` / `--policy P,Q`: the design diff (src/diff/diff.ts), shown as the Diff section. */
  readonly diff?: DesignDiff;
}

const count = (r: RunResult, kinds: readonly string[]): number => r.steps.reduce((n, s) => n + s.events.filter((e) => kinds.includes(e.kind)).length, 0);

/** One row per property, in the order P1 P2 P3 P4 P5 P6 P7; a property the run could not judge says why. */
export function verdictRows(r: RunResult, check?: CheckResult): Cell[][] {
  const held = (n: number): string => (n === 0 ? 'HELD' : 'VIOLATED');
  const deliveries = count(r, ['interrupt-delivered']);
  const postings = count(r, ['interrupt-posted']);
  const blocked = count(r, ['interrupt-fault']);
  const dma = count(r, ['dma-access', 'dma-peer']);
  const dmaFaults = count(r, ['dma-fault']);
  const rows: Cell[][] = [['P1', 'interrupt isolation', held(r.violations.length), `${r.violations.length} violation(s); ${deliveries} deliveries, ${postings} postings, ${blocked} blocked`]];
  if (dma + dmaFaults > 0) rows.push(['P2', 'DMA isolation', held(r.dmaIsolation.length), `${r.dmaIsolation.length} violation(s); ${dma} accesses, ${dmaFaults} blocked`]);
  else rows.push(['P2', 'DMA isolation', 'not judged', 'no DMA request in the run']);
  if (r.final.vcpus.count > 0) rows.push(['P3', 'no lost interrupt', held(r.lost.length), `${r.lost.length} violation(s); ${r.final.vcpus.count} vCPUs, policy ${r.final.hypervisor.policy}`]);
  else rows.push(['P3', 'no lost interrupt', 'not judged', 'no vCPU']);
  if (dma + dmaFaults > 0) rows.push(['P4', 'coherence', held(r.coherence.length), `${r.coherence.length} stale translation use(s)`]);
  else rows.push(['P4', 'coherence', 'not judged', 'no DMA request in the run']);
  if (check !== undefined && check.prepared.threat.properties.includes('P5')) rows.push(['P5', 'determinism', check.deterministic ? 'HELD' : 'VIOLATED', check.counterexample ? 'the counterexample replayed twice' : 'run 0 replayed twice']);
  else rows.push(['P5', 'determinism', 'not judged', check === undefined ? 'judged by remapsim check (--check)' : 'not among the checked properties']);
  if (rejectedCount(r.faults) > 0) rows.push(['P6', 'fault accountability', held(r.accountability.length), `${r.accountability.length} violation(s); ${rejectedCount(r.faults)} rejected: ${r.faults.recorded} recorded, ${r.faults.overflow} overflow, ${r.faults.suppressed} suppressed by FPD, ${r.faults.logged + r.faults.logOverflow + r.faults.logSuppressed > 0 ? `${r.faults.logged} in the AMD-Vi event log, ${r.faults.logOverflow} event-log overflow, ${r.faults.logSuppressed} kept out of the event log, ` : ''}${r.faults.aborted} aborted as UR, ${r.faults.blocked} blocked by ACS SV`]);
  else rows.push(['P6', 'fault accountability', 'not judged', 'no request rejected']);
  if (r.final.vmm !== undefined) rows.push(['P7', 'guest intent', held(r.guestIntent.length), `${r.guestIntent.length} violation(s); ${r.guestIntentTally.raised} raised, ${r.guestIntentTally.unmaskedPending} unmasked with pending`]);
  else rows.push(['P7', 'guest intent', 'not judged', 'no VMM']);
  return rows;
}

function verdictsSection(r: RunResult, check?: CheckResult): Section {
  const violations: Cell[][] = [
    ...r.violations.map((v) => ['P1', v.step, v.message]),
    ...r.dmaIsolation.map((v) => ['P2', v.step, v.message]),
    ...r.lost.map((v) => ['P3', v.step, v.message]),
    ...r.coherence.map((v) => ['P4', v.step, v.message]),
    ...r.accountability.map((v) => ['P6', v.step, v.message]),
    ...r.guestIntent.map((v) => ['P7', v.step, v.message]),
  ];
  const expectations = r.steps.flatMap((s) => s.failures.map((f) => [s.step.index, s.step.label, s.step.line ?? '—', f] as Cell[]));
  return {
    id: 'verdicts',
    title: 'Property verdicts',
    blocks: [
      table({ id: 'verdict-table', caption: "Verdicts of the scenario's own steps", columns: ['Property', 'Name', 'Verdict', 'Detail'], rows: verdictRows(r, check), empty: 'no verdict' }),
      table({ id: 'violations', caption: 'Violations (action index, from 0)', columns: ['Property', 'Action', 'Message'], rows: violations, empty: 'no violation' }),
      table({ id: 'expectations', caption: 'Failed expectations', columns: ['Step', 'Action', 'Line', 'Why'], rows: expectations, empty: `every expectation held (${r.steps.filter((s) => s.step.expect !== undefined).length} checked)` }),
    ],
  };
}

function pathsTable(id: string, caption: string, paths: readonly RequestPath[]): Block {
  return table({
    id,
    caption,
    columns: ['Step', 'Action', 'Request', 'Outcome', ...COLUMNS, 'Violates'],
    rows: paths.map((p) => [p.step, p.label, p.kind, p.outcome, ...COLUMNS.map((_, c) => p.hops.find((h) => h.column === c)?.text ?? '—'), p.violated.length === 0 ? 'none' : `VIOLATED ${p.violated.join(', ')}`]),
    empty: 'no interrupt or DMA request',
  });
}

function pathsSection(r: RunResult): Section {
  const paths = requestPaths(r);
  return {
    id: 'paths',
    title: 'Request paths',
    blocks: [
      text('Each interrupt and DMA request of the run: device → fabric (the requester ID the IOMMU saw) → unit → entry (IRTE, IRTE and PI descriptor, or the DMA translation) → CPU, vCPU or memory, or where it was stopped (red).'),
      { kind: 'diagram', diagram: { id: 'path-diagram', caption: paths.length > MAX_ROWS ? `The first ${MAX_ROWS} of ${paths.length} requests` : `${paths.length} request(s)`, paths } },
      pathsTable('path-table', 'The same paths as a table', paths),
    ],
  };
}

function checkSection(c: CheckResult): Section {
  const t = c.prepared.threat;
  const blocks: Block[] = [
    list([
      `Adversary: ${t.guests.join(', ') || 'none'}; actions: ${t.kinds.join(', ')}; requester IDs: ${t.requesterIds}${t.deviceModel ? '; device models are adversaries' : ''}`,
      `Properties: ${t.properties.join(' ')}`,
      `Budget: ${t.budget.runs} runs × at most ${t.budget.steps} steps, ${t.budget.seconds} s, seed ${t.budget.seed}`,
    ]),
  ];
  if (c.baseViolations.length > 0) {
    blocks.push(text("The scenario's own steps already violate a checked property: no search was made."), list(c.baseViolations));
  } else if (c.error !== undefined) {
    blocks.push(text(`ERROR: a run threw (a bug in the model): ${c.error.message} (chunk ${c.error.chunk}, fast-check seed ${c.error.seed}, path ${c.error.path ?? '(none)'})`));
  } else if (c.counterexample !== undefined) {
    const x = c.counterexample;
    blocks.push(
      text(`COUNTEREXAMPLE: ${x.property} violated, found in run ${x.run} after ${c.runs} runs (chunk ${x.chunk}, fast-check seed ${x.chunkSeed}, path ${x.path ?? '(none)'}; ${x.shrinks} shrinks, ${x.shrunk.length} → ${x.steps.length} adversary step(s)).`),
      list([`${x.property} at step ${x.step}: ${x.message}`, ...x.also.map((a) => `${a.property} at the same step: ${a.message}`), x.replayed ? 'Replayed without fast-check: reproduced' : 'Replay DID NOT reproduce it (a bug: please report)']),
      pre('cx-trace', 'The failing step and its events', x.trace),
      pre('cx-state', 'The state that matters at the failing step', x.state.length === 0 ? ['(no interrupt or DMA event at that step)'] : x.state),
      pre('cx-steps', `Adversary steps (after the scenario's steps ${[...new Set(x.at)].join(', ')})`, formatSteps(x.steps).trimEnd().split('\n')),
    );
    const replay = runScenario(compileScenario(parseScenarioText(x.scenario, c.prepared.file)));
    const failing = requestPaths(replay).filter((p) => p.step === x.step);
    blocks.push(
      { kind: 'diagram', diagram: { id: 'cx-diagram', caption: `Requests of the failing step ${x.step}`, paths: failing } },
      pathsTable('cx-paths', `Requests of the failing step ${x.step}`, failing),
      pre('cx-scenario', 'The counterexample as a scenario (save it and replay with remapsim run)', x.scenario.trimEnd().split('\n')),
    );
  } else {
    const why = c.stopped === 'time' ? ` (stopped at the time limit of ${t.budget.seconds} s)` : c.stopped === 'interrupted' ? ' (interrupted)' : '';
    blocks.push(text(`HELD: ${t.properties.filter((p) => p !== 'P5').join(' ')} over ${c.runs} runs${why}.`));
  }
  blocks.push(pre('coverage', 'Coverage', formatCoverage(c.coverage)));
  return { id: 'check', title: 'Check', blocks };
}

function costsSection(r: RunResult): Section | undefined {
  if (r.final.vmm === undefined) return undefined;
  const c = vmmCosts(r.steps, r.final);
  const avg = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  return {
    id: 'costs',
    title: `VMM costs (${r.final.vmm.design})`,
    blocks: [
      table({
        id: 'cost-table',
        caption: `Per MSI-X programming (${c.programming.occurrences}), per interrupt (${c.interrupt.occurrences}), other steps and the whole run`,
        columns: ['Cost', 'Per programming', 'Per interrupt', 'Other steps (total)', 'Run total'],
        rows: COST_FIELDS.map((f) => [COST_LABELS[f], avg(c.programming.average[f]), avg(c.interrupt.average[f]), c.other.total[f], c.all[f]]),
        empty: 'no cost',
      }),
      text(`KVM MSI routes in use at the end: ${c.kvmRoutesInUse} of ${c.kvmRouteCapacity}.`),
    ],
  };
}

/** The report of `input` (see the module comment for its sections). */
export function buildReport(input: ReportInput): Report {
  const r = input.run;
  const c = input.check;
  const found = c !== undefined && (c.counterexample !== undefined || c.baseViolations.length > 0 || c.error !== undefined || !c.deterministic);
  const ok = r.ok && !found;
  const verdict = [
    r.ok ? 'Run: every property and expectation held' : 'Run: a property or an expectation FAILED',
    ...(c === undefined ? [] : [c.counterexample !== undefined ? `check: COUNTEREXAMPLE ${c.counterexample.property}` : found ? 'check: FAILED' : `check: HELD over ${c.runs} runs`]),
  ].join('; ');
  const summary: Block[] = [
    list([`Scenario file: ${input.file}`, `Steps: ${r.steps.length}`, `Policy: ${r.final.hypervisor.policy}`, `VMM: ${r.final.vmm?.design ?? 'none'}`]),
    ...(r.scenario.description === undefined ? [] : [text(r.scenario.description.trim())]),
    ...(r.scenario.warnings.length === 0 ? [] : [list(r.scenario.warnings.map((w) => `warning: ${w}`))]),
  ];
  const sections: Section[] = [
    { id: 'summary', title: 'Summary', blocks: summary },
    platformSection(r.final, input.data, r.scenario.platform, input.file),
    topologySection(r.final),
    domainsSection(r.final),
    tablesSection(r.final),
    pathsSection(r),
    verdictsSection(r, c),
    ...(c === undefined ? [] : [checkSection(c)]),
    ...(costsSection(r) === undefined ? [] : [costsSection(r)!]),
    ...(input.diff === undefined ? [] : [diffSection(input.diff)]),
    { id: 'trace', title: 'Trace', blocks: [pre('trace-text', 'remapsim run output', formatTrace(r).trimEnd().split('\n'))] },
  ];
  return { title: `remapsim report: ${r.scenario.name}`, verdict, ok, sections };
}
