/**
 * `npm run bench`: the cost of one IRTE write and of one MSI remap on the read path
 * (IEC hit and IEC miss) with IRTs of 256, 4,096 and 65,536 entries, every entry
 * present. Results go to BENCHMARKS.md with the command, the machine and the date.
 *
 * Each tinybench iteration applies a batch of BATCH actions, each to the same base
 * state (transitions are pure, so every action sees the same table and IEC) and each
 * for a different IRTE index spread over the table; the figures are per action. One
 * action per timed sample would mostly measure the timer at these latencies.
 *
 * Targets (issue "VT-d core", item 9): write cost within 1.5× from 256 to 65,536
 * entries; at least 2,000,000 MSI remaps per second on the read path.
 *
 * DMA remapping (issue "Two-stage DMA translation", item 9; fixtures in bench/dma.ts): cold
 * nested 4×4 walks per second, directly (translateDma) and through applyAction with empty
 * caches (target ≥ 100,000/s), IOTLB-hit translations per second through applyAction, and
 * the cost of one 8-byte memory write with 1 MiB vs 64 GiB populated (target within 1.5×).
 *
 * Scaling (fixtures in bench/scaling.ts): the IEC-hit interrupt through applyAction with 1, 16
 * and 256 devices on 1 and 8 remapping units, each beside a plain mutable baseline of the same
 * step, interleaved (bench/interleaved.ts); target within 1.2× between the ends. IOMMU groups
 * of the largest lspci dump in-process (bench/groups.ts), and CLI wall times of fresh processes
 * (bench/cli.ts). Issue 15 (bench/issue15.ts): IEC hit and miss beside mutable baselines, action
 * kinds with 1 and 256 devices, the cold nested translation beside the walk alone (interleaved, in
 * CPU time), and the heap of a 65,536-entry IRT platform.
 */
import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import type { PlatformState } from '../src/platform/state.ts';
import type { Action } from '../src/platform/actions.ts';
import type { PlatformEvent } from '../src/platform/events.ts';
import { applyAction } from '../src/platform/transition.ts';
import { IRTE_BYTES } from '../src/vtd/irte.ts';
import { enabledPlatform, warmIec, irteValue, irteWrite, msiWrite, IRT_BASE, CPU_COUNT } from './platform.ts';
import { postedPlatforms, postedIndices, postedMsi, POSTED_ENTRIES, POSTED_VCPUS, POSTED_PCPUS } from './posted.ts';
import { dmaPlatforms, dmaAction, dmaRequest, populatedMemory, writeAddresses, DMA_PAGES, HPA_BASE, MEMORY_SIZES } from './dma.ts';
import { translateDma, pagingReferenceCount } from '../src/vtd/dma/walk.ts';
import { scalingCases, scalingName, SCALING_BATCH, SCALING_CPUS, SCALING_DEVICES, SCALING_IEC_CAPACITY, SCALING_UNITS } from './scaling.ts';
import { groupsFixture } from './groups.ts';
import { timeInterleaved, type Timing } from './interleaved.ts';
import { timeCliCommands, FLOOR, START, DECODE_MSI, type CliTiming } from './cli.ts';
import { distIsStale } from '../bin/dist-freshness.js';
import { issue15Cases, issue15Report, irtHeap } from './issue15.ts';

const SIZES = [256, 4096, 65536] as const;

/** A target's verdict as the Targets list prints it. */
const verdict = (ok: boolean): string => (ok ? '**met**' : '**NOT met**');
/** Actions per timed iteration; also the IEC capacity, so every hit-case index stays cached. */
const BATCH = 64;
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 1000);
/** Rounds of the interleaved cases (scaling, groups): each case runs TIME_MS in all, in ROUNDS slices. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
/** Runs of each CLI command (wall time, median). */
const CLI_RUNS = Number(process.env.BENCH_CLI_RUNS ?? 9);
const OUTPUT = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));
const NOTES_MARKER = '<!-- notes: text below this line is kept when `npm run bench` rewrites the file -->';

const WRITE_TARGET_RATIO = 1.5;
const REMAP_TARGET_OPS = 2_000_000;
const POSTED_TARGET_OPS = 200_000;
const COLD_WALK_TARGET_OPS = 100_000;
const MEMORY_TARGET_RATIO = 1.5;
const SCALING_TARGET_RATIO = 1.2;

/** Names of the DMA-remapping cases (their `entries` column is unused). */
const DMA_CASES = {
  walk: 'dma: cold nested 4×4 walk (translateDma)',
  cold: 'dma: cold nested translation (applyAction dma, empty caches)',
  hit: 'dma: IOTLB hit (applyAction dma)',
  write: 'memory: writeLE 8 B',
} as const;
const isIrCase = (name: string): boolean => name === 'write-irte' || name.startsWith('msi-write');

/** BATCH indices spread over a table of `entries` entries (distinct, first and last page included). */
function spreadIndices(entries: number): number[] {
  const step = entries / BATCH;
  return Array.from({ length: BATCH }, (_, k) => k * step + (k % step) + (k === BATCH - 1 ? step - 1 - (k % step) : 0));
}

function fail(message: string): never {
  throw new Error(`bench fixture check failed: ${message}`);
}

function only(events: readonly PlatformEvent[]): PlatformEvent {
  if (events.length !== 1) fail(`expected one event, got ${JSON.stringify(events, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`);
  return events[0]!;
}

/** Check that the fixtures do what the case names say before timing them. */
function verify(entries: number, full: PlatformState, warm: PlatformState, indices: readonly number[], writes: readonly Action[]): void {
  for (const i of [0, entries >> 1, entries - 1]) {
    if (full.memory.readLE(IRT_BASE + BigInt(i * IRTE_BYTES), IRTE_BYTES) !== irteValue(i)) fail(`IRTE ${i} of ${entries} not in memory`);
  }
  // Every frame of the table is populated (the platform may hold other structures too, e.g. the invalidation queue).
  const irtFrames = (entries * IRTE_BYTES) / 4096;
  const first = Number(IRT_BASE >> 12n);
  let held = 0;
  for (let f = first; f < first + irtFrames; f++) if (full.memory.isPopulated(f)) held++;
  if (held !== irtFrames) fail(`${held} of the ${irtFrames} IRT frames populated for ${entries} entries`);
  if (warm.iommus[0]!.iec.order.length !== BATCH) fail(`warm IEC holds ${warm.iommus[0]!.iec.order.length} entries`);
  indices.forEach((index, k) => {
    for (const [base, hit] of [[warm, true], [full, false]] as const) {
      const r = applyAction(base, msiWrite(index));
      const e = only(r.events);
      if (e.kind !== 'interrupt-delivered' || e.path !== 'remapped' || e.irteIndex !== index || e.iecHit !== hit) {
        fail(`msi-write to IRTE ${index}: ${e.kind} ${JSON.stringify({ ...e, address: undefined })}`);
      }
      if (e.targets.length !== 1 || e.targets[0] !== index % CPU_COUNT) fail(`IRTE ${index} delivered to ${e.targets.join(',')}`);
      if (hit !== (r.state === base)) fail(hit ? 'an IEC-hit remap changed the state' : 'an IEC miss left the state (its IEC fill) unchanged');
    }
    const w = applyAction(full, writes[k]!);
    const e = only(w.events);
    if (e.kind !== 'memory-write' || e.address !== IRT_BASE + BigInt(index * IRTE_BYTES)) fail(`write-irte ${index}: ${e.kind}`);
    if (w.state.memory.readLE(e.address, IRTE_BYTES) !== (writes[k] as Extract<Action, { kind: 'write-irte' }>).value) fail(`write-irte ${index} not stored`);
  });
}

interface Case {
  readonly name: string;
  readonly entries: number;
  readonly run: () => void;
}

function cases(): Case[] {
  const out: Case[] = [];
  const byCase: Record<string, Case[]> = { 'write-irte': [], 'msi-write, IEC hit': [], 'msi-write, IEC miss': [] };
  for (const entries of SIZES) {
    const full = enabledPlatform(entries);
    const indices = spreadIndices(entries);
    const warm = warmIec(full, indices);
    const writes = indices.map((i) => irteWrite(i, irteValue(i, 0xee)));
    const msis = indices.map((i) => msiWrite(i));
    verify(entries, full, warm, indices, writes);
    // The results are kept in `sink` so the work cannot be optimised away.
    byCase['write-irte']!.push({ name: 'write-irte', entries, run: () => { for (const a of writes) sink = applyAction(full, a); } });
    byCase['msi-write, IEC hit']!.push({ name: 'msi-write, IEC hit', entries, run: () => { for (const a of msis) sink = applyAction(warm, a); } });
    byCase['msi-write, IEC miss']!.push({ name: 'msi-write, IEC miss', entries, run: () => { for (const a of msis) sink = applyAction(full, a); } });
  }
  for (const list of Object.values(byCase)) out.push(...list);
  out.push(...postedCases());
  out.push(...dmaCases());
  return out;
}

/**
 * DMA-remapping cases (bench/dma.ts): BATCH = DMA_PAGES translations per iteration, one per
 * mapped page, and BATCH 8-byte writes spread over the populated memory. Each checked first.
 */
function dmaCases(): Case[] {
  if (DMA_PAGES !== BATCH) fail(`DMA_PAGES ${DMA_PAGES} is not the batch ${BATCH}`);
  const { cold, warm, config } = dmaPlatforms();
  const requests = Array.from({ length: DMA_PAGES }, (_, k) => dmaRequest(k));
  const reads = Array.from({ length: DMA_PAGES }, (_, k) => dmaAction(k));
  const unit = cold.iommus[0]!;
  if (unit.dma.iotlb.length !== 0 || unit.dma.pagingStructure.length !== 0 || unit.dma.context.length !== 0) fail('cold state has cached DMA translations');
  if (warm.iommus[0]!.dma.iotlb.length !== DMA_PAGES) fail(`warm IOTLB holds ${warm.iommus[0]!.dma.iotlb.length} entries`);
  requests.forEach((q, k) => {
    const hpa = HPA_BASE + (q.iova - 0x10000n);
    const t = translateDma(cold.memory, config, q);
    if (!t.ok || t.hpa !== hpa || t.type !== 'nested' || pagingReferenceCount(t.references) !== 24 || t.memory !== cold.memory) fail(`translateDma page ${k}: ${t.ok ? `${t.hpa.toString(16)} ${pagingReferenceCount(t.references)} reads` : t.fault.condition}`);
    for (const [base, translation] of [[cold, 'walk'], [warm, 'iotlb-hit']] as const) {
      const e = only(applyAction(base, reads[k]!).events);
      if (e.kind !== 'dma-access' || e.translation !== translation || e.hpa !== hpa || (translation === 'walk' && pagingReferenceCount(e.references) !== 24)) fail(`dma page ${k} on the ${translation} base: ${e.kind}`);
    }
  });
  const out: Case[] = [
    { name: DMA_CASES.walk, entries: 0, run: () => { for (const q of requests) sink = translateDma(cold.memory, config, q); } },
    { name: DMA_CASES.cold, entries: 0, run: () => { for (const a of reads) sink = applyAction(cold, a); } },
    { name: DMA_CASES.hit, entries: 0, run: () => { for (const a of reads) sink = applyAction(warm, a); } },
  ];
  for (const m of MEMORY_SIZES) {
    const memory = populatedMemory(m.bytes, m.stride);
    if (memory.populatedFrames !== Number(m.bytes / m.stride)) fail(`${m.label}: ${memory.populatedFrames} frames populated`);
    const top = (m.bytes - m.stride) >> 12n;
    if (!memory.isPopulated(Number(top))) fail(`${m.label}: frame 0x${top.toString(16)} not populated`);
    const addresses = writeAddresses(m.bytes, m.stride);
    for (const a of addresses) {
      if (!memory.isPopulated(Number(a >> 12n))) fail(`${m.label}: write at unpopulated 0x${a.toString(16)}`);
      if (memory.writeLE(a, 8, 0x1122_3344_5566_7788n).readLE(a, 8) !== 0x1122_3344_5566_7788n) fail(`${m.label}: write at 0x${a.toString(16)} not stored`);
    }
    out.push({ name: `${DMA_CASES.write}, ${m.label} populated`, entries: Number(m.bytes >> 20n), run: () => { for (const a of addresses) sink = memory.writeLE(a, 8, 0x1122_3344_5566_7788n); } });
  }
  return out;
}

/** Posted-interrupt cases on 1,024 vCPUs and a 65,536-entry IRT; each checked before it is timed. */
function postedCases(): Case[] {
  const { preempted, running } = postedPlatforms();
  const msis = postedIndices(BATCH).map(postedMsi);
  const warmPreempted = msis.reduce((s, a) => applyAction(s, a).state, preempted);
  const warmRunning = msis.reduce((s, a) => applyAction(s, a).state, running);
  msis.forEach((a, k) => {
    const quiet = applyAction(warmPreempted, a).events;
    if (quiet.length !== 1 || quiet[0]!.kind !== 'interrupt-posted' || quiet[0]!.notification !== undefined || !quiet[0]!.iecHit) fail(`posted (preempted) ${k}: ${quiet.map((e) => e.kind).join(',')}`);
    const loud = applyAction(warmRunning, a).events;
    if (loud.length !== 2 || loud[0]!.kind !== 'interrupt-posted' || loud[1]!.kind !== 'pir-processed' || loud[1]!.vcpu !== k) fail(`posted (running) ${k}: ${loud.map((e) => e.kind).join(',')}`);
  });
  return [
    { name: 'posted, vCPU preempted (SN=1)', entries: POSTED_ENTRIES, run: () => { for (const a of msis) sink = applyAction(warmPreempted, a); } },
    { name: 'posted, vCPU running (notified, PIR→vIRR)', entries: POSTED_ENTRIES, run: () => { for (const a of msis) sink = applyAction(warmRunning, a); } },
  ];
}

let sink: unknown;

interface Row {
  readonly name: string;
  readonly entries: number;
  readonly opsPerSecond: number;
  readonly nsPerOp: number;
  readonly rme: number;
  readonly samples: number;
}

function machine(): { nproc: string; cpu: string; node: string } {
  let nproc: string;
  try {
    nproc = execSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    nproc = `${cpus().length} (os.cpus; nproc unavailable)`;
  }
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1]!.trim();
  } catch {
    // not Linux: keep os.cpus()'s model
  }
  return { nproc, cpu, node: process.version };
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** One scaling configuration: the IEC hit through applyAction and on the mutable baseline. */
interface ScalingRow {
  readonly devices: number;
  readonly units: number;
  readonly model: Timing;
  readonly baseline: Timing;
}

/** The interleaved and wall-time sections: scaling, groups in-process, CLI. */
interface Extra {
  readonly scaling: readonly ScalingRow[];
  /** Issue 15's section and target lines (bench/issue15.ts). */
  readonly issue15: { readonly section: readonly string[]; readonly targets: readonly string[] };
  readonly groups: { readonly file: string; readonly bytes: number; readonly functions: number; readonly groups: number; readonly machineGroups: number; readonly timings: readonly Timing[] };
  readonly cli: readonly CliTiming[];
  /** Whether the CLI ran from dist/ (a build of the current sources), not src/ through tsx. */
  readonly cliFromDist: boolean;
  readonly load: { readonly start: number; readonly end: number };
}

const fmtX = (x: number): string => `${x.toFixed(2)}×`;
const fmtUs = (ns: number): string => (ns / 1000).toFixed(ns < 10_000 ? 2 : ns < 100_000 ? 1 : 0);

/** The scaling section and its target line. */
function scalingReport(rows: readonly ScalingRow[]): { section: string[]; target: string } {
  const at = (devices: number, units: number): ScalingRow => rows.find((r) => r.devices === devices && r.units === units)!;
  const d0 = SCALING_DEVICES[0];
  const d1 = SCALING_DEVICES[SCALING_DEVICES.length - 1]!;
  const u0 = SCALING_UNITS[0];
  const u1 = SCALING_UNITS[SCALING_UNITS.length - 1]!;
  const ends = [
    ...SCALING_UNITS.map((u) => ({ what: `${fmtInt(d1)} vs ${d0} device, ${scalingName(d1, u).split(', ')[1]}`, kind: 'devices', a: at(d1, u), b: at(d0, u) })),
    ...SCALING_DEVICES.map((d) => ({ what: `${u1} vs ${u0} unit, ${scalingName(d, u1).split(', ')[0]}`, kind: 'units', a: at(d, u1), b: at(d, u0) })),
  ].map((e) => ({ ...e, model: e.a.model.nsPerOp / e.b.model.nsPerOp, base: e.a.baseline.nsPerOp / e.b.baseline.nsPerOp }));
  const worst = (kind: string): (typeof ends)[number] => ends.filter((e) => e.kind === kind).reduce((x, y) => (x.model >= y.model ? x : y));
  const wd = worst('devices');
  const wu = worst('units');
  const section = [
    `## Scaling: IEC hit with ${SCALING_DEVICES.join(', ')} devices on ${SCALING_UNITS.join(' and ')} remapping units (fixtures in \`bench/scaling.ts\`)`,
    '',
    `x2APIC, ${SCALING_CPUS} CPUs; N PCI functions (function i at bus 0x10 + i/32, device i%32, each a single-function`,
    'endpoint on a root bus) spread over U DRHDs by device scope: function i belongs to unit i % U, units 0..U−2 name',
    'their functions as type-1 endpoints and the last is the INCLUDE_PCI_ALL unit that takes the rest. Every unit has',
    `its own 65,536-entry IRT (EIME=1) enabled by Linux's sequence and an IEC of ${SCALING_IEC_CAPACITY} entries (so the cache geometry`,
    'is the same in every configuration); function i owns IRTE i/U of its unit (remapped, SVT=1/SQ=0 against its own',
    'requester ID, physical destination i % 8), written by `write-irte` and cached by one `msi-write` each.',
    '',
    `Each timed call applies ${SCALING_BATCH} \`msi-write\`s through \`applyAction\`, write k from function k % N (the writes cycle over the`,
    'functions and so over the units), each to the same frozen base state; every one is an IEC hit, remapped and',
    'delivered. Beside it, in the same run, the **mutable baseline** (`MutableIrPlatform` in bench/scaling.ts) does the',
    'same step on plain mutable data: a `Map` from device key to its unit and requester ID, per unit a `Map` from IRTE',
    'index to the decoded entry, the same checks in the same order (interrupt window, IR enabled, remappable format,',
    'data bits 31:16, index bound, IEC lookup, present/reserved, source-ID verification, destination → CPU) and the',
    'same event object, numbered by its own counter; it copies and freezes nothing. Before timing, each configuration is',
    'checked (unit of every function, IEC contents, every write an IEC hit on the right unit, IRTE and CPU, units',
    "untouched) and the baseline's events are compared with applyAction's (deep equality).",
    '',
    `Timing: the ${rows.length * 2} cases are interleaved — ${ROUNDS} rounds, each case running one ${(TIME_MS / ROUNDS).toFixed(0)} ms slice per round after one`,
    'warm-up slice — so that a change of load or JIT state falls on all of them alike; a figure is the median over the',
    'slices of the mean time per write (min–max: fastest and slowest slice).',
    '',
    '| devices | units | applyAction ops/s | ns/op (min–max) | baseline ops/s | baseline ns/op (min–max) | applyAction / baseline |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${fmtInt(r.devices)} | ${r.units} | ${fmtInt(r.model.opsPerSecond)} | ${r.model.nsPerOp.toFixed(0)} (${r.model.minNs.toFixed(0)}–${r.model.maxNs.toFixed(0)}) | ${fmtInt(r.baseline.opsPerSecond)} | ${r.baseline.nsPerOp.toFixed(0)} (${r.baseline.minNs.toFixed(0)}–${r.baseline.maxNs.toFixed(0)}) | ${fmtX(r.model.nsPerOp / r.baseline.nsPerOp)} |`),
    '',
    'Between the ends (cost per write, larger configuration over smaller):',
    '',
    '| comparison | applyAction | mutable baseline |',
    '|---|---:|---:|',
    ...ends.map((e) => `| ${e.what} | ${fmtX(e.model)} | ${fmtX(e.base)} |`),
    '',
  ];
  const target = `- IEC-hit cost within ${SCALING_TARGET_RATIO}× between the ends: ${fmtInt(d1)} vs ${d0} device ${fmtX(wd.model)} (worst, ${wd.what.split(', ')[1]}; baseline ${fmtX(wd.base)}) — ${verdict(wd.model <= SCALING_TARGET_RATIO)}; ${u1} vs ${u0} unit ${fmtX(wu.model)} (worst, ${wu.what.split(', ')[1]}; baseline ${fmtX(wu.base)}) — ${verdict(wu.model <= SCALING_TARGET_RATIO)}.`;
  return { section, target };
}

/** Issue 15 goal 6: CLI start-up, wall time of a fresh process (median). */
const CLI_TARGETS_MS = { decode: 250, start: 500 } as const;

function cliTargets(cli: readonly CliTiming[], fromDist: boolean): string[] {
  const decode = cli.find((c) => c.command === DECODE_MSI.label);
  const start = cli.find((c) => c.command === START.label);
  if (decode === undefined || start === undefined) return [];
  const how = fromDist ? 'the compiled bundle' : '**src/ through tsx: dist/ was stale**';
  return [
    `- Issue 15 goal 6, CLI start-up (${how}): \`remapsim decode msi fee00538 0\` ${decode.medianMs.toFixed(0)} ms (target < ${CLI_TARGETS_MS.decode}) — ${verdict(decode.medianMs < CLI_TARGETS_MS.decode)};`,
    `  what \`npm start\` runs (\`${START.label}\`) ${start.medianMs.toFixed(0)} ms (target < ${CLI_TARGETS_MS.start}) — ${verdict(start.medianMs < CLI_TARGETS_MS.start)}; npm's own start-up comes on top (notes below).`,
  ];
}

/** The groups and CLI start-up section. */
function groupsAndCliReport(g: Extra['groups'], cli: readonly CliTiming[], fromDist: boolean): string[] {
  const inProcess = g.timings[g.timings.length - 1]!;
  const floor = cli.find((c) => c.command === FLOOR.label);
  const groupsCli = cli.find((c) => c.command.includes(' groups '));
  return [
    '## IOMMU groups and CLI start-up (`bench/groups.ts`, `bench/cli.ts`)',
    '',
    `The largest lspci dump of data/real-inputs/lspci/, \`${g.file.split('/').pop()}\` (${fmtInt(g.bytes)} bytes,`,
    `${g.functions} functions, ${g.groups} computed groups), in-process: \`parseLspciTopology\` (src/inputs/lspci-topology.ts), \`buildFabric\``,
    '(src/fabric/build.ts), `iommuGroups` (src/fabric/groups.ts), and the three in a row (what `remapsim groups`',
    `computes before formatting). Checked first: restricted to the functions with an \`IOMMU group:\` line, the computed`,
    `partition is the machine's (${g.machineGroups} groups). Interleaved as the scaling cases (${ROUNDS} rounds of ${(TIME_MS / ROUNDS).toFixed(0)} ms slices).`,
    'There is no mutable baseline here: the step is Linux `pci_device_group` with its ACS and DMA-alias quirk tables,',
    'and a second implementation of it would not be a baseline of the same step; the CLI rows below compare the',
    'command with the start-up floor instead.',
    '',
    '| case | µs/op (min–max) | ops/s |',
    '|---|---:|---:|',
    ...g.timings.map((t) => `| ${t.name} | ${fmtUs(t.nsPerOp)} (${fmtUs(t.minNs)}–${fmtUs(t.maxNs)}) | ${fmtInt(t.opsPerSecond)} |`),
    '',
    `Wall time of a fresh process per run (\`child_process.spawnSync\` of \`node\`, ${cli[0]?.runs ?? 0} runs after one warm-up run, median), from the`,
    `repository root, running ${fromDist ? 'the compiled CLI (bin/remapsim.js loads dist/bundle/main.js, scripts/build.mjs)' : 'src/ through tsx (dist/ was stale: run `npm run build` first)'}. The last row is the floor: a bare \`node\` process.`,
    'Every command loads its implementation when it runs (src/cli/main.ts).',
    '',
    '| command | median ms | min–max ms |',
    '|---|---:|---:|',
    ...cli.map((c) => `| \`${c.command}\` | ${c.medianMs.toFixed(0)} | ${c.minMs.toFixed(0)}–${c.maxMs.toFixed(0)} |`),
    '',
    ...(floor && groupsCli
      ? [
          `\`remapsim groups\` on the dump: ${groupsCli.medianMs.toFixed(0)} ms, of which ${floor.medianMs.toFixed(0)} ms is the floor and ${(inProcess.nsPerOp / 1e6).toFixed(2)} ms computing`,
          `the groups in a warm process; the rest is loading remapsim's modules, cold (unoptimised) code and formatting.`,
          '',
        ]
      : []),
  ];
}

function report(rows: readonly Row[], started: Date, extra: Extra): string {
  const scaling = scalingReport(extra.scaling);
  const m = machine();
  const base = (name: string): Row => rows.find((r) => r.name === name && r.entries === SIZES[0])!;
  const table = rows.filter((r) => isIrCase(r.name)).map((r) => {
    const ratio = r.nsPerOp / base(r.name).nsPerOp;
    return `| ${r.name} | ${fmtInt(r.entries)} | ${fmtInt(r.opsPerSecond)} | ${r.nsPerOp.toFixed(0)} | ${ratio.toFixed(2)}× | ±${r.rme.toFixed(2)}% |`;
  });
  const largest = SIZES[SIZES.length - 1]!;
  const writeRatio = rows.find((r) => r.name === 'write-irte' && r.entries === largest)!.nsPerOp / base('write-irte').nsPerOp;
  const remaps = rows.filter((r) => r.name.startsWith('msi-write'));
  const slowestPosted = rows.filter((r) => r.name.startsWith('posted')).reduce((a, b) => (a.opsPerSecond <= b.opsPerSecond ? a : b));
  const slowest = remaps.reduce((a, b) => (a.opsPerSecond <= b.opsPerSecond ? a : b));
  const hits = remaps.filter((r) => r.name === 'msi-write, IEC hit');
  const slowestHit = hits.reduce((a, b) => (a.opsPerSecond <= b.opsPerSecond ? a : b));
  const dma = rows.filter((r) => r.name.startsWith('dma:'));
  const writes = rows.filter((r) => r.name.startsWith(DMA_CASES.write));
  const byName = (name: string): Row => rows.find((r) => r.name === name)!;
  const smallWrite = writes[0]!;
  const bigWrite = writes[writes.length - 1]!;
  const memoryRatio = bigWrite.nsPerOp / smallWrite.nsPerOp;
  return [
    '# Benchmarks',
    '',
    'Issue "VT-d core", item 9: the cost of one IRTE write and of one MSI remap on the read path, with',
    'interrupt-remapping tables of 256, 4,096 and 65,536 entries; and (issue "Two-stage DMA translation", item 9)',
    'DMA-remapping translations and memory writes; the IEC hit against the number of devices and remapping units, beside a',
    'plain mutable baseline; IOMMU groups of a real lspci dump and CLI start-up — each in its own section below. Generated',
    'by `bench/run.ts`; do not edit the part above the notes marker by hand.',
    '',
    '## How it was run',
    '',
    '```',
    'npm run bench',
    '```',
    '',
    `- Date: ${started.toISOString()}`,
    `- Machine: \`nproc\` = ${m.nproc}; CPU: ${m.cpu}`,
    `- Node: ${m.node}; tinybench ${tinybenchVersion()}; time per case ${TIME_MS} ms after warm-up`,
    `- Load average (1 min, \`os.loadavg\`): ${extra.load.start.toFixed(2)} at the start, ${extra.load.end.toFixed(2)} at the end (other jobs on the machine slow every figure; ratios measured interleaved suffer least)`,
    '',
    'Platform: one remapping unit (INCLUDE_PCI_ALL, default CAP/ECAP of a Dell R820), one PCI function 03:00.0,',
    `x2APIC with ${CPU_COUNT} CPUs. IR enabled by Linux's sequence (write IRTA with EIME=1, GCMD.SIRTP, global IEC`,
    'invalidation, GCMD.IRE), IRT at 0x1_0000_0000 with every entry present (remapped format, SVT=1/SQ=0 source-ID',
    'verification against 03:00.0, physical destination), so simulated memory holds the whole table.',
    '',
    `Each timed iteration applies ${BATCH} actions through \`applyAction\`, every one to the same base state and`,
    'to a different IRTE index spread over the table; the figures below are per action.',
    '',
    '- **write-irte**: the `write-irte` action (software stores one 128-bit IRTE), on the fully populated table.',
    `- **msi-write, IEC hit**: an \`msi-write\` from 03:00.0 with a remappable-format address (SHV=0, handle = index)`,
    `  whose IRTE is in the IEC (the base state has the ${BATCH} indices cached; IEC capacity 64). Outcome: remapped`,
    '  and delivered, `iecHit: true`.',
    '- **msi-write, IEC miss**: the same request on the state with an empty IEC: the IRTE is read from simulated',
    '  memory, decoded and cached. Outcome: remapped and delivered, `iecHit: false`.',
    '',
    'Each case is checked before it is timed (right event, right IRTE, right target CPU; an IEC hit returns the very state it was given).',
    '',
    '## Results',
    '',
    '| case | IRT entries | ops/s | mean ns/op | ratio vs 256 entries | ±rme (per iteration) |',
    '|---|---:|---:|---:|---:|---:|',
    ...table,
    '',
    `### Posted interrupts (${fmtInt(POSTED_VCPUS)} vCPUs on ${POSTED_PCPUS} pCPUs, ${fmtInt(POSTED_ENTRIES)}-entry IRT of posted IRTEs, IEC hit)`,
    '',
    'An `msi-write` whose IRTE (IM=1) posts into a vCPU\'s PID: the unit reads the 64-byte PID, sets the PIR bit and,',
    'for a running vCPU (SN=0), sends the notification, which the CPU processes in guest mode (PIR → vIRR).',
    'Every posting updates the PID through immutable memory (one 256-byte chunk and its directory path copied).',
    '',
    '| case | ops/s | mean ns/op | ±rme |',
    '|---|---:|---:|---:|',
    ...rows.filter((r) => r.name.startsWith('posted')).map((r) => `| ${r.name} | ${fmtInt(r.opsPerSecond)} | ${r.nsPerOp.toFixed(0)} | ±${r.rme.toFixed(2)}% |`),
    '',
    '## Targets',
    '',
    `- Write cost within ${WRITE_TARGET_RATIO}× from 256 to 65,536 entries: ${writeRatio.toFixed(2)}× — ${verdict(writeRatio <= WRITE_TARGET_RATIO)}.`,
    `- At least ${fmtInt(REMAP_TARGET_OPS)} MSI remaps per second on the read path:`,
    `  IEC hit, slowest size (${fmtInt(slowestHit.entries)} entries): ${fmtInt(slowestHit.opsPerSecond)}/s — ${verdict(slowestHit.opsPerSecond >= REMAP_TARGET_OPS)};`,
    `  including IEC misses, slowest case (${slowest.name}, ${fmtInt(slowest.entries)} entries): ${fmtInt(slowest.opsPerSecond)}/s — ${verdict(slowest.opsPerSecond >= REMAP_TARGET_OPS)}.`,
    `- At least ${fmtInt(POSTED_TARGET_OPS)} posted interrupts per second with ${fmtInt(POSTED_VCPUS)} vCPUs and a ${fmtInt(POSTED_ENTRIES)}-entry IRT: slowest case ${fmtInt(slowestPosted.opsPerSecond)}/s — ${verdict(slowestPosted.opsPerSecond >= POSTED_TARGET_OPS)}.`,
    `- At least ${fmtInt(COLD_WALK_TARGET_OPS)} cold nested 4×4 walks per second: translateDma ${fmtInt(byName(DMA_CASES.walk).opsPerSecond)}/s — ${verdict(byName(DMA_CASES.walk).opsPerSecond >= COLD_WALK_TARGET_OPS)};`,
    `  through applyAction (caches filled, event, state) ${fmtInt(byName(DMA_CASES.cold).opsPerSecond)}/s — ${verdict(byName(DMA_CASES.cold).opsPerSecond >= COLD_WALK_TARGET_OPS)}.`,
    `- Memory write cost within ${MEMORY_TARGET_RATIO}× from ${MEMORY_SIZES[0].label} to ${MEMORY_SIZES[1].label} populated: ${memoryRatio.toFixed(2)}× — ${verdict(memoryRatio <= MEMORY_TARGET_RATIO)}.`,
    scaling.target,
    ...extra.issue15.targets,
    ...cliTargets(extra.cli, extra.cliFromDist),
    '',
    '## DMA remapping (issue "Two-stage DMA translation", item 9; fixtures in `bench/dma.ts`)',
    '',
    'Scalable-mode unit (CAP 0x08d2078c106f0462, ECAP 0xf020fe), 07:00.0 in nested mode: a 4-level first stage over a',
    `4-level second stage mapping ${DMA_PAGES} pages (IOVA 0x10000 + k·4 KiB → GPA 0x200000 + k·4 KiB → HPA 0x80000000 + k·4 KiB).`,
    `Each iteration translates one 8-byte read per page (${DMA_PAGES}); figures are per translation.`,
    '',
    '- **cold nested 4×4 walk (translateDma)**: `translateDma` on the memory, no paging-structure cache: root, context,',
    '  PASID directory, PASID entry and (4+1)(4+1)−1 = 24 paging-entry reads; A/D flags already set (every page was',
    '  accessed once), so the walk writes nothing — the re-walk after an IOTLB eviction.',
    '- **cold nested translation (applyAction dma, empty caches)**: the `dma` action on the state right after `map-dma`',
    '  (its invalidations leave context, PASID, IOTLB and paging-structure caches empty): the walk, the cache fills,',
    '  the `dma-access` event (with its 28 references) and the new state (frozen only in the debug mode `REMAPSIM_FREEZE=1`).',
    `- **IOTLB hit (applyAction dma)**: the same action on the state whose IOTLB holds all ${DMA_PAGES} pages.`,
    '- **memory: writeLE 8 B**: one aligned 8-byte `PhysicalMemory.writeLE` into a populated frame, with 1 MiB populated',
    '  (all 256 frames) vs 64 GiB populated (one write per 2 MiB: 32,768 frames, frame numbers up to 2^24 − 1, so',
    `  the radix directory has its full height for 64 GiB). ${BATCH} writes spread over the space per iteration.`,
    '',
    'Each case is checked before it is timed (HPA, translation kind, 24 paging reads, empty/warm caches, frames populated).',
    '',
    '| case | ops/s | mean ns/op | ±rme |',
    '|---|---:|---:|---:|',
    ...[...dma, ...writes].map((r) => `| ${r.name} | ${fmtInt(r.opsPerSecond)} | ${r.nsPerOp.toFixed(0)} | ±${r.rme.toFixed(2)}% |`),
    '',
    ...scaling.section,
    ...extra.issue15.section,
    ...groupsAndCliReport(extra.groups, extra.cli, extra.cliFromDist),
  ].join('\n');
}

function tinybenchVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../node_modules/tinybench/package.json', import.meta.url)), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return '(unknown version)';
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const loadStart = loadavg()[0]!;
  const all = cases();
  const bench = new Bench({ name: 'remapsim', time: TIME_MS, warmupTime: 250, throws: true });
  for (const c of all) bench.add(`${c.name} @ ${c.entries}`, c.run);
  await bench.run();

  const rows: Row[] = all.map((c, i) => {
    const r = bench.tasks[i]!.result;
    if (r.state !== 'completed') throw new Error(`${c.name} @ ${c.entries}: ${r.state}`);
    const nsPerOp = (r.latency.mean * 1e6) / BATCH;
    return { name: c.name, entries: c.entries, opsPerSecond: 1e9 / nsPerOp, nsPerOp, rme: r.latency.rme, samples: r.latency.samplesCount };
  });

  for (const r of rows) console.log(`${r.name.padEnd(20)} ${String(r.entries).padStart(6)} entries  ${fmtInt(r.opsPerSecond).padStart(11)} ops/s  ${r.nsPerOp.toFixed(0).padStart(6)} ns/op  ±${r.rme.toFixed(2)}%`);

  // Scaling and groups: interleaved (bench/interleaved.ts), each case TIME_MS in all.
  const sliceMs = TIME_MS / ROUNDS;
  const configs = scalingCases();
  const scalingTimes = timeInterleaved(configs.flatMap((c) => [c.model, c.baseline]), ROUNDS, sliceMs);
  const scaling: ScalingRow[] = configs.map((c, i) => ({ devices: c.fixture.devices, units: c.fixture.units, model: scalingTimes[2 * i]!, baseline: scalingTimes[2 * i + 1]! }));
  for (const r of scaling) console.log(`${scalingName(r.devices, r.units).padEnd(20)} applyAction ${r.model.nsPerOp.toFixed(0).padStart(5)} ns/op  baseline ${r.baseline.nsPerOp.toFixed(0).padStart(5)} ns/op  ${fmtX(r.model.nsPerOp / r.baseline.nsPerOp)}`);
  // Issue 15 (bench/issue15.ts): heap first (before the timed cases fill the heap), then its cases interleaved in CPU time.
  const heap = await irtHeap();
  const i15 = issue15Cases();
  const i15Times = timeInterleaved(i15.cases, ROUNDS, sliceMs, 'cpu');
  for (const t of i15Times) console.log(`issue 15: ${t.name.padEnd(56)} ${t.nsPerOp.toFixed(0).padStart(8)} cpu-ns/op`);
  const issue15 = issue15Report(i15, i15Times, heap, ROUNDS, sliceMs);
  const g = groupsFixture();
  const groupTimes = timeInterleaved(g.cases, ROUNDS, sliceMs);
  for (const t of groupTimes) console.log(`groups: ${t.name.padEnd(28)} ${fmtUs(t.nsPerOp).padStart(8)} µs`);
  const cliFromDist = !distIsStale();
  const cli = timeCliCommands(CLI_RUNS);
  for (const c of cli) console.log(`${c.medianMs.toFixed(0).padStart(5)} ms  ${c.command}`);
  (await import('./check.ts')).printCheckBench(); // issue 15 goal 5: printed (with its command), not written into BENCHMARKS.md
  const extra: Extra = { scaling, issue15, groups: { file: g.file, bytes: g.bytes, functions: g.functions, groups: g.groups, machineGroups: g.machineGroups, timings: groupTimes }, cli, cliFromDist, load: { start: loadStart, end: loadavg()[0]! } };

  let notes = '';
  if (existsSync(OUTPUT)) {
    const old = readFileSync(OUTPUT, 'utf8');
    const at = old.indexOf(NOTES_MARKER);
    if (at >= 0) notes = old.slice(at + NOTES_MARKER.length);
  }
  writeFileSync(OUTPUT, `${report(rows, started, extra)}\n${NOTES_MARKER}${notes || '\n'}`);
  console.log(`${((Date.now() - started.getTime()) / 1000).toFixed(0)} s in all`);
  console.log(`wrote ${OUTPUT}`);
}

await main();
