/**
 * The sweep as an SVG plot, built with xmlbuilder2 (an XML document builder: every element,
 * attribute and text is escaped by the library, not by string concatenation). One panel per
 * decision a VM designer makes, over a logarithmic x axis, VM size 1..N vCPUs:
 *
 * 1. `reachable` — the addressing scheme: reachable vCPUs per scheme (y = log2(1 + n), so 0
 *    stays drawable);
 * 2. `memory-references` — the delivery (remapped, posted, direct): memory references per
 *    interrupt (IRTE or direct-post table + PID reads and writes), steady state
 *    (src/explorer/host-layer.ts `steadyStateCost`), per scheme × delivery;
 * 3. `vm-exits` — the delivery: VM exits per interrupt, per scheme × delivery;
 * 4. `dma` — whether the guest gets DMA remapping: paging references per cold IOTLB miss, per
 *    scheme (src/explorer/dma-cost.ts; the same at every VM size).
 *
 * No overplotting: series with the same value at every VM size are one drawn line whose legend
 * names all of them (so a panel shows only what differs), and the remaining lines are offset
 * vertically by a few pixels each so lines that share a stretch stay visible side by side
 * (`data-offset` says by how much; `data-y` is always the true value). Vertical markers at
 * APIC ID 255 (the 8-bit limit) and at the VM's own size, when inside the swept range. The
 * title names the VM (topology or list) and the guest. Only drawn series get a legend entry.
 *
 * Every drawn series is a `<g class="series">` with `data-schemes` / `data-deliveries` (space
 * separated), `data-members` (its `scheme/delivery` pairs; `scheme/all` in the reach panel), a polyline and one `<circle>` per point it has a value for; axes are
 * `<g class="axis" data-axis>`, markers `<g class="marker" data-marker>`.
 */
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { SweepResult } from './explore.ts';
import type { InterruptCost } from './host-layer.ts';
import type { SchemeId } from './schemes.ts';

/** What the plot's title names: the VM as given, the guest, and the VM's own size (marked on the x axis). */
export interface SweepPlotMeta {
  readonly vm: string;
  readonly guest: string;
  /** The VM's vCPU count (the "chosen size" marker). */
  readonly vcpus: number;
}

const WIDTH = 1040;
const MARGIN = { left: 80, right: 360, top: 52, bottom: 50 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = 210;
const HEADER = 56;
const LEGEND_LINE = 12;
const LEGEND_GAP = 6;
const LEGEND_CHARS = 58;
/** Pixels between neighbouring lines' vertical offsets. */
const OFFSET_STEP = 2.5;

/** Okabe–Ito palette (distinguishable with colour-vision deficiencies), then darker extras. */
const PALETTE = ['#E69F00', '#56B4E9', '#009E73', '#0072B2', '#D55E00', '#CC79A7', '#000000', '#999999', '#8C5F00', '#803800', '#7A4964', '#2F6B3A'];
/** Dash per delivery: AVIC / x2AVIC posting is drawn like VT-d posting (dashed). */
const DASH: Readonly<Record<string, string>> = { all: '', remapped: '', posted: '7 4', direct: '2 3', avic: '7 4', x2avic: '7 4' };

/** One input series: a scheme (× delivery) and its value at each sweep point. */
interface Member {
  readonly scheme: SchemeId;
  readonly delivery: string;
  readonly label: string;
  readonly values: readonly (number | undefined)[];
}

/** Members with equal values everywhere, drawn as one line. */
interface Group {
  readonly members: readonly Member[];
  readonly values: readonly (number | undefined)[];
  readonly label: string;
  readonly dash: string;
}

interface Panel {
  readonly id: string;
  readonly title: string;
  readonly yLabel: string;
  /** Value → 0..1 of the plot height. */
  readonly scale: (v: number) => number;
  readonly ticks: readonly number[];
  readonly groups: readonly Group[];
}

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2));

function log2Ticks(max: number): number[] {
  const ticks: number[] = [];
  for (let p = 1; p <= max; p *= 2) ticks.push(p);
  return ticks;
}

/** Merge members whose values are equal at every point; drop members with no value at all (nothing drawn, no legend). */
function groupsOf(members: readonly Member[], labelOf: (ms: readonly Member[]) => string): Group[] {
  const byKey = new Map<string, Member[]>();
  for (const m of members) {
    if (m.values.every((v) => v === undefined)) continue;
    const key = JSON.stringify(m.values);
    byKey.set(key, [...(byKey.get(key) ?? []), m]);
  }
  return [...byKey.values()].map((ms) => {
    const deliveries = new Set(ms.map((m) => m.delivery));
    return { members: ms, values: ms[0]!.values, label: labelOf(ms), dash: deliveries.size === 1 ? (DASH[ms[0]!.delivery] ?? '') : '' };
  });
}

/** Members by delivery: `posted: A, B; direct: C`. */
function costLabel(ms: readonly Member[]): string {
  const deliveries = [...new Set(ms.map((m) => m.delivery))];
  return deliveries.map((d) => `${d}: ${ms.filter((m) => m.delivery === d).map((m) => m.label).join(', ')}`).join('; ');
}

function linearPanel(id: string, title: string, yLabel: string, groups: Group[]): Panel {
  const max = Math.max(1, ...groups.flatMap((g) => g.values.filter((v): v is number => v !== undefined)));
  const top = Math.ceil(max);
  const step = top <= 10 ? 1 : Math.ceil(top / 10);
  const ticks: number[] = [];
  for (let t = 0; t <= top; t += step) ticks.push(t);
  return { id, title, yLabel, scale: (v) => v / top, ticks, groups };
}

/** The panels, one per decision, each with only its distinct series. */
function panels(sweep: SweepResult): Panel[] {
  const schemes = [...new Set(sweep.series.map((s) => s.scheme))];
  const reach: Member[] = schemes.map((scheme) => {
    const ss = sweep.series.filter((s) => s.scheme === scheme);
    return {
      scheme,
      delivery: 'all',
      label: ss[0]!.hypothetical ? `${ss[0]!.label} (hypothetical)` : ss[0]!.label,
      // Every delivery of a scheme reaches the same vCPUs in this model; the smallest is drawn if not.
      values: sweep.points.map((_, i) => Math.min(...ss.map((s) => s.reachable[i]!))),
    };
  });
  const per = (f: (c: InterruptCost) => number): Member[] =>
    sweep.series.map((s) => ({ scheme: s.scheme, delivery: s.delivery, label: s.hypothetical ? `${s.label} (hypothetical)` : s.label, values: s.cost.map((c) => (c === undefined ? undefined : f(c))) }));
  const maxPoint = sweep.points[sweep.points.length - 1] ?? 1;
  const yMax = 2 ** Math.ceil(Math.log2(maxPoint));
  return [
    {
      id: 'reachable',
      title: 'Which addressing scheme: reachable vCPUs (each verified by simulated delivery)',
      yLabel: 'reachable vCPUs',
      scale: (v) => Math.log2(1 + v) / Math.log2(1 + yMax),
      ticks: [0, ...log2Ticks(yMax)],
      groups: groupsOf(reach, (ms) => ms.map((m) => m.label).join(', ')),
    },
    linearPanel('memory-references', 'Which delivery: memory references per interrupt (IRTE or direct-post table + PID, steady state)', 'references / interrupt', groupsOf(per((c) => c.irteReads + c.tableReads + c.pidReads + c.pidWrites), costLabel)),
    linearPanel('vm-exits', 'Which delivery: VM exits per interrupt (steady state)', 'VM exits / interrupt', groupsOf(per((c) => c.vmExits), costLabel)),
    linearPanel(
      'dma',
      'DMA remapping for the guest or not: paging references per IOTLB miss (one cold walk)',
      'references / IOTLB miss',
      groupsOf(
        reach.map((m) => ({ ...m, values: sweep.points.map(() => sweep.series.find((s) => s.scheme === m.scheme)!.dmaPagingReferences) })),
        (ms) => ms.map((m) => m.label).join(', '),
      ),
    ),
  ];
}

/** Split a legend label into lines of at most `LEGEND_CHARS` characters at ", " or spaces. */
function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > LEGEND_CHARS) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** Height a panel needs: the plot, or its legend when that is taller. */
function panelHeight(p: Panel): number {
  const legend = p.groups.reduce((h, g) => h + wrap(g.label).length * LEGEND_LINE + LEGEND_GAP, 0);
  return MARGIN.top + Math.max(PLOT_H, legend + 12) + MARGIN.bottom;
}

function drawPanel(root: XMLBuilder, panel: Panel, y0: number, points: readonly number[], vcpus: number | undefined): void {
  const minX = points[0] ?? 1;
  const maxX = points[points.length - 1] ?? 1;
  const x = (n: number): number => MARGIN.left + (maxX <= 1 ? 0 : (Math.log2(n) / Math.log2(maxX)) * PLOT_W);
  const y = (v: number): number => y0 + MARGIN.top + PLOT_H * (1 - panel.scale(v));
  const bottom = y0 + MARGIN.top + PLOT_H;
  const g = root.ele('g', { class: 'panel', 'data-panel': panel.id });
  g.ele('text', { class: 'panel-title', x: MARGIN.left, y: y0 + 24, 'font-size': 14, 'font-weight': 'bold' }).txt(panel.title);

  const ax = g.ele('g', { class: 'axis', 'data-axis': 'x', 'data-scale': 'log2' });
  ax.ele('line', { x1: MARGIN.left, y1: bottom, x2: MARGIN.left + PLOT_W, y2: bottom, stroke: '#000' });
  for (const p of points) {
    const tick = ax.ele('g', { class: 'tick', 'data-value': p });
    tick.ele('line', { x1: x(p), y1: bottom, x2: x(p), y2: bottom + 5, stroke: '#000' });
    tick.ele('text', { x: x(p), y: bottom + 18, 'font-size': 10, 'text-anchor': 'middle' }).txt(String(p));
  }
  ax.ele('text', { class: 'axis-label', x: MARGIN.left + PLOT_W / 2, y: bottom + 38, 'font-size': 12, 'text-anchor': 'middle' }).txt('VM size (vCPUs, log scale)');

  const ay = g.ele('g', { class: 'axis', 'data-axis': 'y' });
  ay.ele('line', { x1: MARGIN.left, y1: y0 + MARGIN.top, x2: MARGIN.left, y2: bottom, stroke: '#000' });
  for (const t of panel.ticks) {
    const tick = ay.ele('g', { class: 'tick', 'data-value': t });
    tick.ele('line', { x1: MARGIN.left - 5, y1: y(t), x2: MARGIN.left + PLOT_W, y2: y(t), stroke: '#ddd' });
    tick.ele('text', { x: MARGIN.left - 8, y: y(t) + 3, 'font-size': 10, 'text-anchor': 'end' }).txt(String(t));
  }
  const mid = y0 + MARGIN.top + PLOT_H / 2;
  ay.ele('text', { class: 'axis-label', x: 16, y: mid, 'font-size': 12, 'text-anchor': 'middle', transform: `rotate(-90 16 ${mid})` }).txt(panel.yLabel);

  // Markers: the 8-bit limit and the VM's own size, when the sweep covers them. Labels sit
  // above the plot, the smaller size's to the left of its line and the larger's to the right,
  // so two markers close together do not write over each other.
  const markers: { id: string; n: number; text: string; colour: string }[] = [{ id: '255', n: 255, text: '255: 8-bit APIC ID limit', colour: '#555' }];
  if (vcpus !== undefined && vcpus !== 255) markers.push({ id: 'vm', n: vcpus, text: `this VM: ${vcpus} vCPUs`, colour: '#B00020' });
  markers.sort((a, b) => a.n - b.n);
  markers.forEach((mk, i) => {
    if (mk.n < minX || mk.n > maxX || maxX <= 1) return;
    const left = markers.length > 1 && i === 0;
    const m = g.ele('g', { class: 'marker', 'data-marker': mk.id, 'data-x': mk.n });
    m.ele('line', { x1: x(mk.n).toFixed(1), y1: y0 + MARGIN.top - 4, x2: x(mk.n).toFixed(1), y2: bottom, stroke: mk.colour, 'stroke-width': 1, 'stroke-dasharray': '4 3' });
    m.ele('text', { x: (x(mk.n) + (left ? -3 : 3)).toFixed(1), y: y0 + MARGIN.top - 6, 'font-size': 10, fill: mk.colour, 'text-anchor': left ? 'end' : 'start' }).txt(mk.text);
  });

  let legendY = y0 + MARGIN.top + 12;
  const count = panel.groups.length;
  panel.groups.forEach((grp, k) => {
    const colour = PALETTE[k % PALETTE.length]!;
    // Symmetric offsets around the true position; a single line is not moved.
    const offset = (k - (count - 1) / 2) * OFFSET_STEP;
    const sg = g.ele('g', {
      class: 'series',
      'data-schemes': [...new Set(grp.members.map((m) => m.scheme))].join(' '),
      'data-deliveries': [...new Set(grp.members.map((m) => m.delivery))].join(' '),
      'data-members': grp.members.map((m) => `${m.scheme}/${m.delivery}`).join(' '),
      'data-label': grp.label,
      'data-offset': offset.toFixed(2),
    });
    sg.ele('title').txt(grp.label);
    const drawn = points.map((p, i) => [p, grp.values[i]] as const).filter((e): e is readonly [number, number] => e[1] !== undefined);
    sg.ele('polyline', { points: drawn.map(([p, v]) => `${x(p).toFixed(1)},${(y(v) + offset).toFixed(1)}`).join(' '), fill: 'none', stroke: colour, 'stroke-width': 2, 'stroke-dasharray': grp.dash });
    for (const [p, v] of drawn) sg.ele('circle', { cx: x(p).toFixed(1), cy: (y(v) + offset).toFixed(1), r: 2.5, fill: colour, 'data-x': p, 'data-y': fmt(v) });
    // The legend entry lives inside the series group so a reader of the SVG finds a series' label with it.
    const lx = MARGIN.left + PLOT_W + 16;
    const legend = sg.ele('g', { class: 'legend' });
    legend.ele('line', { x1: lx, y1: legendY, x2: lx + 22, y2: legendY, stroke: colour, 'stroke-width': 2, 'stroke-dasharray': grp.dash });
    for (const [i, line] of wrap(grp.label).entries()) legend.ele('text', { x: lx + 28, y: legendY + 4 + i * LEGEND_LINE, 'font-size': 10 }).txt(line);
    legendY += wrap(grp.label).length * LEGEND_LINE + LEGEND_GAP;
  });
}

/**
 * The plot as an SVG document (UTF-8 XML). `meta` names the VM and guest in the visible title
 * and marks the VM's size; a plain string is only the title (no size marker).
 */
export function sweepSvg(sweep: SweepResult, meta: SweepPlotMeta | string): string {
  const ps = panels(sweep);
  const heights = ps.map(panelHeight);
  const height = HEADER + heights.reduce((a, b) => a + b, 0);
  const title = typeof meta === 'string' ? meta : `remapsim explore: ${meta.vm}, guest ${meta.guest}`;
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const svg = doc.ele('svg', { xmlns: 'http://www.w3.org/2000/svg', width: WIDTH, height, viewBox: `0 0 ${WIDTH} ${height}`, 'font-family': 'sans-serif' });
  svg.ele('title').txt(title);
  svg.ele('rect', { x: 0, y: 0, width: WIDTH, height, fill: '#fff' });
  svg.ele('text', { class: 'plot-title', x: MARGIN.left, y: 24, 'font-size': 16, 'font-weight': 'bold' }).txt(title);
  svg
    .ele('text', { class: 'plot-subtitle', x: MARGIN.left, y: 44, 'font-size': 11, fill: '#444' })
    .txt(`One panel per decision. Series equal at every size are one line (the legend names them all); lines are offset ${OFFSET_STEP} px apart so shared stretches stay visible.`);
  let y0 = HEADER;
  ps.forEach((p, i) => {
    drawPanel(svg, p, y0, sweep.points, typeof meta === 'string' ? undefined : meta.vcpus);
    y0 += heights[i]!;
  });
  return doc.end({ prettyPrint: true });
}
