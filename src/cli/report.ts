/**
 * `remapsim report SCENARIO [--check] [--out FILE] [--format html|md|json]`: run the scenario (and
 * with `--check` search for a counterexample, in this thread so the result does not depend on
 * scheduling) and write the review report (src/report/build.ts) as one self-contained HTML
 * page, as Markdown, or as JSON (src/report/json.ts). The file is written atomically (src/io/atomic-write.ts); the default
 * is the scenario's file name with `.html` (`.md`, `.json`) in the current directory. Nothing else
 * is written (the counterexample is inside the report). Exit status: 0 everything held, 1 a
 * property, an expectation or the check failed (the report is written anyway), 2 bad input.
 */
import { errnoText } from '../io/errno-text.ts';
import { readInputText } from '../io/read-input.ts';
import { MAX_SCENARIO_BYTES } from '../io/limits.ts';
import { basename } from 'node:path';
import { InputError } from '../io/input-error.ts';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { parseScenarioText } from '../scenario/parse.ts';
import { compileScenario } from '../scenario/compile.ts';
import { runScenario } from '../scenario/run.ts';
import type { Scenario } from '../scenario/types.ts';
import type { Budget } from '../checker/adversary.ts';
import type { CheckResult } from '../checker/check.ts';
import { buildReport } from '../report/build.ts';
import { renderHtml } from '../report/html.ts';
import { renderMarkdown } from '../report/markdown.ts';
import { renderJson } from '../report/json.ts';

/** Options of {@link reportCommand} (the command line's). */
export interface ReportOptions {
  readonly check?: boolean;
  readonly out?: string;
  readonly format?: string;
  /** `--json`: the same as `--format json`. */
  readonly json?: boolean;
  /** Check budget overrides (as `remapsim check`). */
  readonly runs?: number;
  readonly steps?: number;
  readonly seed?: number;
  /** A second scenario to diff against (the Diff section, src/report/diff-section.ts). */
  readonly diff?: string;
  /** `X,Y` / `P,Q`: diff the scenario under two VMM designs / policies (src/diff/sides.ts). */
  readonly vmm?: string;
  readonly policy?: string;
}

export type ReportFormat = 'html' | 'md' | 'json';
const FORMATS: readonly ReportFormat[] = ['html', 'md', 'json'];

/** The default output file: SCENARIO's base name without .yaml/.yml, plus .html, .md or .json, in the current directory. */
export function defaultReportPath(file: string, format: ReportFormat): string {
  return `${basename(file).replace(/\.ya?ml$/i, '')}.${format}`;
}

/**
 * Build the report text of `file` (no file written).
 * @throws InputError for an unreadable or invalid scenario, a bad format, or `--check` on a scenario without a `check:` section.
 */
export async function reportText(file: string, o: ReportOptions = {}): Promise<{ text: string; ok: boolean; format: ReportFormat }> {
  if (o.json === true && o.format !== undefined && o.format !== 'json') throw new InputError(`--json contradicts --format ${o.format}`, { field: '--format' });
  const format = o.json === true ? 'json' : (o.format ?? 'html');
  if (!FORMATS.includes(format as ReportFormat)) throw new InputError(`unknown format ${JSON.stringify(format)}: use html, md or json`, { field: '--format' });
  // Bounded, regular files only (src/io/read-input.ts): a FIFO or /dev/zero never blocks or fills memory.
  const text = readInputText(file, { maxBytes: MAX_SCENARIO_BYTES, what: 'scenario' });
  // A user-written platform.policy / platform.vmm module is imported (async) before the sync compile.
  await (await import('../scenario/load-modules.ts')).loadScenarioModulesOf(text, file);
  let check: CheckResult | undefined;
  let run;
  let data: Scenario;
  if (o.check === true) {
    const { prepareCheck, runCheck } = await import('../checker/check.ts');
    const overrides: Partial<Budget> = {
      ...(o.runs === undefined ? {} : { runs: o.runs }),
      ...(o.steps === undefined ? {} : { steps: o.steps }),
      ...(o.seed === undefined ? {} : { seed: o.seed }),
    };
    const prepared = prepareCheck(text, file, overrides);
    check = await runCheck(prepared);
    run = prepared.base;
    data = prepared.data;
  } else {
    const parsed = parseScenarioText(text, file);
    run = runScenario(compileScenario(parsed));
    data = parsed.data as Scenario;
  }
  let diff;
  if (o.diff !== undefined || o.vmm !== undefined || o.policy !== undefined) {
    const { designDiff } = await import('./diff.ts');
    const choices = { ...(o.vmm === undefined ? {} : { vmm: o.vmm }), ...(o.policy === undefined ? {} : { policy: o.policy }) };
    diff = await designDiff(o.diff === undefined ? [file] : [file, o.diff], choices);
  }
  const report = buildReport({ file, data, run, ...(check === undefined ? {} : { check }), ...(diff === undefined ? {} : { diff }) });
  const render = { html: renderHtml, md: renderMarkdown, json: renderJson }[format as ReportFormat];
  return { text: render(report), ok: report.ok, format: format as ReportFormat };
}

/**
 * Write the report of `file` and return the line to print and the exit status.
 * @throws InputError as {@link reportText}, and when the output cannot be written.
 */
export async function reportCommand(file: string, o: ReportOptions = {}): Promise<{ code: number; message: string; path: string }> {
  const r = await reportText(file, o);
  const path = o.out ?? defaultReportPath(file, r.format);
  try {
    writeFileAtomic(path, r.text);
  } catch (e) {
    throw new InputError(`cannot write the report: ${errnoText(e)}`, { file: path });
  }
  return { code: r.ok ? 0 : 1, message: `report written to ${path} (${Buffer.byteLength(r.text)} bytes): ${r.ok ? 'every property held' : 'a property, an expectation or the check FAILED'}\n`, path };
}
