/**
 * The request paths (src/report/paths.ts) as one SVG, built with xmlbuilder2 (every text and
 * attribute escaped by the library): a header row naming the five columns, then one row per
 * request, `#step` on the left and a box per hop joined by arrows. Boxes are green when the
 * hop passed the request on, red where it stopped it, grey where it went around the IOMMU.
 * Every row is a `<g class="path" data-step data-kind data-outcome>`; every box a
 * `<g class="hop" data-state>` with a `<title>` holding its full text (the box shows at most
 * 34 characters).
 */
import { fragment } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import { COLUMNS, type RequestPath } from './paths.ts';
import { xmlText } from './xml-text.ts';

const LEFT = 56;
const BOX_W = 220;
const GAP = 26;
const BOX_H = 26;
const ROW_H = 36;
const TOP = 34;
const FILL = { ok: '#e3f4e8', fault: '#fde2e1', bypass: '#eeeeee' } as const;
const STROKE = { ok: '#1b7f3b', fault: '#b42318', bypass: '#777777' } as const;
/** Most characters a box shows (the rest is in its tooltip). */
const BOX_CHARS = 34;
/** Most rows drawn: a longer run lists the rest in the table below the diagram. */
export const MAX_ROWS = 400;

const clip = (s: string): string => (s.length <= BOX_CHARS ? s : `${s.slice(0, BOX_CHARS - 1)}…`);
const x0 = (column: number): number => LEFT + column * (BOX_W + GAP);

/** The SVG of `paths` (at most {@link MAX_ROWS} rows) as a standalone XML string. */
export function pathSvg(paths: readonly RequestPath[]): string {
  const f = fragment();
  drawPaths(f, paths, 'paths');
  return f.end({ headless: true });
}

/**
 * Append the `<svg>` of `paths` (at most {@link MAX_ROWS} rows) to `parent`, in the same
 * document: serialized once, so its text is escaped once. `id` names the diagram: its arrow
 * marker is `<id>-arrow`, so two diagrams on one page do not share an element id.
 */
export function drawPaths(parent: XMLBuilder, paths: readonly RequestPath[], id: string): void {
  const rows = paths.slice(0, MAX_ROWS);
  const width = x0(COLUMNS.length) - GAP + 10;
  const height = TOP + Math.max(1, rows.length) * ROW_H + 10;
  const svg = parent.ele('svg', { xmlns: 'http://www.w3.org/2000/svg', class: 'paths', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'font-family': 'sans-serif', 'font-size': 12 });
  svg.ele('title').txt(xmlText(`Paths of ${paths.length} interrupt and DMA requests`));
  const defs = svg.ele('defs');
  defs.ele('marker', { id: `${id}-arrow`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' }).ele('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#444' });
  const head = svg.ele('g', { class: 'header' });
  COLUMNS.forEach((c, i) => head.ele('text', { x: x0(i) + BOX_W / 2, y: 18, 'text-anchor': 'middle', 'font-weight': 'bold' }).txt(xmlText(c)));
  if (rows.length === 0) svg.ele('text', { x: LEFT, y: TOP + 18 }).txt(xmlText('no interrupt or DMA request in this run'));
  rows.forEach((p, r) => {
    const y = TOP + r * ROW_H;
    const g = svg.ele('g', { class: 'path', 'data-step': p.step, 'data-kind': p.kind, 'data-outcome': p.outcome, 'data-violated': p.violated.join(' ') || 'none' });
    const violated = p.violated.length > 0;
    g.ele('text', { x: 4, y: y + BOX_H / 2 + 4, ...(violated ? { fill: STROKE.fault, 'font-weight': 'bold' } : {}) }).txt(xmlText(`#${p.step}`));
    p.hops.forEach((h, k) => {
      const x = x0(h.column);
      const hop = g.ele('g', { class: 'hop', 'data-state': h.state });
      hop.ele('title').txt(xmlText(violated && k === p.hops.length - 1 ? `${h.text} — VIOLATES ${p.violated.join(', ')}` : h.text));
      // The target of a request that violated a property gets a thick red frame and says so.
      const bad = violated && k === p.hops.length - 1;
      hop.ele('rect', { x, y, width: BOX_W, height: BOX_H, rx: 4, fill: FILL[h.state], stroke: bad ? STROKE.fault : STROKE[h.state], 'stroke-width': bad ? 3 : 1 });
      hop.ele('text', { x: x + 6, y: y + BOX_H / 2 + 4 }).txt(xmlText(clip(h.text)));
      const next = p.hops[k + 1];
      if (next !== undefined) g.ele('line', { x1: x + BOX_W, y1: y + BOX_H / 2, x2: x0(next.column) - 2, y2: y + BOX_H / 2, stroke: '#444', 'marker-end': `url(#${id}-arrow)` });
    });
  });
}
