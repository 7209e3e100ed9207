/**
 * The sweep as an SVG plot, built with xmlbuilder2 (an XML document builder: every element,
 * attribute and text is escaped by the library, not by string concatenation). Three panels
 * share a logarithmic x axis, VM size 1..N vCPUs:
 *
 * 1. reachable vCPUs, one series per scheme (y = log2(1 + n), so 0 stays drawable);
 * 2. memory references per interrupt (IRTE + PID reads and writes), one series per
 *    scheme × delivery, steady state (src/explorer/host-layer.ts `steadyStateCost`);
 * 3. VM exits per interrupt, one series per scheme × delivery.
 *
 * Every series is a `<g class="series">` with `data-scheme` / `data-delivery`, a polyline
 * and one `<circle>` per point it has a value for; axes are `<g class="axis" data-axis>`.
 */
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { SweepResult, SweepSeries } from './explore.ts';
import type { InterruptCost } from './host-layer.ts';
import type { SchemeId } from './schemes.ts';

const WIDTH = 960;
const PANEL_HEIGHT = 300;
const MARGIN = { left: 80, right: 250, top: 40, bottom: 50 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;

/** Colour per scheme (Okabe–Ito palette, distinguishable with colour-vision deficiencies, plus grey). */
const COLOURS: Readonly<Record<SchemeId, string>> = {
  'xapic-physical': '#E69F00',
  'xapic-logical-flat': '#56B4E9',
  'xapic-logical-cluster': '#999999',
  'x2apic-compat': '#009E73',
  'ext-dest-id': '#0072B2',
  'viommu-ir': '#D55E00',
  'viommu-ir-dma': '#CC79A7',
  'direct-vcpu-msi': '#000000',
  // AMD-Vi schemes (--vendor amd|both): darker shades of the Intel counterparts' hues.
  'amd-viommu-xapic': '#8C5F00',
  'amd-viommu-xt': '#803800',
  'amd-viommu-xt-dma': '#7A4964',
};
/** Dash per delivery: AVIC / x2AVIC posting is drawn like VT-d posting (dashed). */
const DASH: Readonly<Record<string, string>> = { remapped: '', posted: '7 4', direct: '2 3', avic: '7 4', x2avic: '7 4' };

interface Series {
  readonly scheme: SchemeId;
  readonly delivery: string;
  readonly label: string;
  /** One value per sweep point, undefined where there is none. */
  readonly values: readonly (number | undefined)[];
}

interface Panel {
  readonly id: string;
  readonly title: string;
  readonly yLabel: string;
  /** Value → 0..1 of the plot height. */
  readonly scale: (v: number) => number;
  readonly ticks: readonly number[];
  readonly series: readonly Series[];
}

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2));

function log2Ticks(max: number): number[] {
  const ticks: number[] = [];
  for (let p = 1; p <= max; p *= 2) ticks.push(p);
  return ticks;
}

function linearPanel(id: string, title: string, yLabel: string, series: Series[]): Panel {
  const max = Math.max(1, ...series.flatMap((s) => s.values.filter((v): v is number => v !== undefined)));
  const top = Math.ceil(max);
  const step = top <= 10 ? 1 : Math.ceil(top / 10);
  const ticks: number[] = [];
  for (let t = 0; t <= top; t += step) ticks.push(t);
  return { id, title, yLabel, scale: (v) => v / top, ticks, series };
}

/** Drawable series of the sweep. */
function panels(sweep: SweepResult): Panel[] {
  const byScheme = new Map<SchemeId, SweepSeries[]>();
  for (const s of sweep.series) byScheme.set(s.scheme, [...(byScheme.get(s.scheme) ?? []), s]);
  const reach: Series[] = [...byScheme].map(([scheme, ss]) => ({
    scheme,
    delivery: 'all',
    label: ss[0]!.hypothetical ? `${ss[0]!.label} (hypothetical)` : ss[0]!.label,
    // Every delivery of a scheme reaches the same vCPUs in this model; the smallest is drawn if not.
    values: sweep.points.map((_, i) => Math.min(...ss.map((s) => s.reachable[i]!))),
  }));
  const per = (f: (c: InterruptCost) => number): Series[] =>
    sweep.series.map((s) => ({ scheme: s.scheme, delivery: s.delivery, label: `${s.label} / ${s.delivery}`, values: s.cost.map((c) => (c === undefined ? undefined : f(c))) }));
  const maxPoint = sweep.points[sweep.points.length - 1] ?? 1;
  const yMax = 2 ** Math.ceil(Math.log2(maxPoint));
  return [
    {
      id: 'reachable',
      title: 'Reachable vCPUs (every one verified by simulated delivery)',
      yLabel: 'reachable vCPUs',
      scale: (v) => Math.log2(1 + v) / Math.log2(1 + yMax),
      ticks: [0, ...log2Ticks(yMax)],
      series: reach,
    },
    linearPanel('memory-references', 'Memory references per interrupt (IRTE or direct-post table + PID reads and writes, steady state)', 'references / interrupt', per((c) => c.irteReads + c.tableReads + c.pidReads + c.pidWrites)),
    linearPanel('vm-exits', 'VM exits per interrupt (steady state)', 'VM exits / interrupt', per((c) => c.vmExits)),
  ];
}

function drawPanel(root: XMLBuilder, panel: Panel, index: number, points: readonly number[]): void {
  const y0 = index * PANEL_HEIGHT;
  const maxX = points[points.length - 1] ?? 1;
  const x = (n: number): number => MARGIN.left + (maxX <= 1 ? 0 : (Math.log2(n) / Math.log2(maxX)) * PLOT_W);
  const y = (v: number): number => y0 + MARGIN.top + PLOT_H * (1 - panel.scale(v));
  const g = root.ele('g', { class: 'panel', 'data-panel': panel.id });
  g.ele('text', { class: 'panel-title', x: MARGIN.left, y: y0 + 22, 'font-size': 14, 'font-weight': 'bold' }).txt(panel.title);

  const ax = g.ele('g', { class: 'axis', 'data-axis': 'x', 'data-scale': 'log2' });
  ax.ele('line', { x1: MARGIN.left, y1: y0 + MARGIN.top + PLOT_H, x2: MARGIN.left + PLOT_W, y2: y0 + MARGIN.top + PLOT_H, stroke: '#000' });
  for (const p of points) {
    const tick = ax.ele('g', { class: 'tick', 'data-value': p });
    tick.ele('line', { x1: x(p), y1: y0 + MARGIN.top + PLOT_H, x2: x(p), y2: y0 + MARGIN.top + PLOT_H + 5, stroke: '#000' });
    tick.ele('text', { x: x(p), y: y0 + MARGIN.top + PLOT_H + 18, 'font-size': 10, 'text-anchor': 'middle' }).txt(String(p));
  }
  ax.ele('text', { class: 'axis-label', x: MARGIN.left + PLOT_W / 2, y: y0 + PANEL_HEIGHT - 8, 'font-size': 12, 'text-anchor': 'middle' }).txt('VM size (vCPUs, log scale)');

  const ay = g.ele('g', { class: 'axis', 'data-axis': 'y' });
  ay.ele('line', { x1: MARGIN.left, y1: y0 + MARGIN.top, x2: MARGIN.left, y2: y0 + MARGIN.top + PLOT_H, stroke: '#000' });
  for (const t of panel.ticks) {
    const tick = ay.ele('g', { class: 'tick', 'data-value': t });
    tick.ele('line', { x1: MARGIN.left - 5, y1: y(t), x2: MARGIN.left + PLOT_W, y2: y(t), stroke: '#ddd' });
    tick.ele('text', { x: MARGIN.left - 8, y: y(t) + 3, 'font-size': 10, 'text-anchor': 'end' }).txt(String(t));
  }
  ay.ele('text', { class: 'axis-label', x: 16, y: y0 + MARGIN.top + PLOT_H / 2, 'font-size': 12, 'text-anchor': 'middle', transform: `rotate(-90 16 ${y0 + MARGIN.top + PLOT_H / 2})` }).txt(panel.yLabel);

  panel.series.forEach((s, k) => {
    const colour = COLOURS[s.scheme];
    const sg = g.ele('g', { class: 'series', 'data-scheme': s.scheme, 'data-delivery': s.delivery, 'data-label': s.label });
    sg.ele('title').txt(s.label);
    const drawn = points.map((p, i) => [p, s.values[i]] as const).filter((e): e is readonly [number, number] => e[1] !== undefined);
    if (drawn.length > 0) {
      sg.ele('polyline', { points: drawn.map(([p, v]) => `${x(p).toFixed(1)},${y(v).toFixed(1)}`).join(' '), fill: 'none', stroke: colour, 'stroke-width': 2, 'stroke-dasharray': DASH[s.delivery] ?? '' });
    }
    for (const [p, v] of drawn) sg.ele('circle', { cx: x(p).toFixed(1), cy: y(v).toFixed(1), r: 2.5, fill: colour, 'data-x': p, 'data-y': fmt(v) });
    // The legend entry lives inside the series group so a reader of the SVG finds a series' label with it.
    const ly = y0 + MARGIN.top + 4 + k * 14;
    const lx = MARGIN.left + PLOT_W + 16;
    const legend = sg.ele('g', { class: 'legend' });
    legend.ele('line', { x1: lx, y1: ly, x2: lx + 22, y2: ly, stroke: colour, 'stroke-width': 2, 'stroke-dasharray': DASH[s.delivery] ?? '' });
    legend.ele('text', { x: lx + 28, y: ly + 4, 'font-size': 10 }).txt(s.label);
  });
}

/** The plot as an SVG document (UTF-8 XML). */
export function sweepSvg(sweep: SweepResult, title: string): string {
  const ps = panels(sweep);
  const height = PANEL_HEIGHT * ps.length;
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const svg = doc.ele('svg', { xmlns: 'http://www.w3.org/2000/svg', width: WIDTH, height, viewBox: `0 0 ${WIDTH} ${height}`, 'font-family': 'sans-serif' });
  svg.ele('title').txt(title);
  svg.ele('rect', { x: 0, y: 0, width: WIDTH, height, fill: '#fff' });
  ps.forEach((p, i) => drawPanel(svg, p, i, sweep.points));
  return doc.end({ prettyPrint: true });
}
