/**
 * The review report as JSON (`remapsim report --format json`, or `--json`): the same value the
 * HTML and Markdown renderers draw (src/report/model.ts), so the three formats always hold the
 * same sections, tables and rows. A diagram carries its request paths (hops with their state)
 * and the SVG the HTML page inlines, so a tool can take either. Shape: specs/output.schema.json
 * `report`. Cells are strings or numbers exactly as the tables show them (addresses and 64-bit
 * values are already 0x-hex strings there).
 */
import type { Block, Report } from './model.ts';
import { pathSvg } from './path-svg.ts';

/** One block as JSON data (a diagram gains its `svg`). */
function blockJson(b: Block): unknown {
  switch (b.kind) {
    case 'text':
      return { kind: 'text', text: b.text };
    case 'list':
      return { kind: 'list', items: b.items };
    case 'table':
      return { kind: 'table', id: b.table.id, caption: b.table.caption, columns: b.table.columns, rows: b.table.rows, empty: b.table.empty };
    case 'pre':
      return { kind: 'pre', id: b.id, caption: b.caption, lines: b.lines };
    case 'diagram':
      return { kind: 'diagram', id: b.diagram.id, caption: b.diagram.caption, paths: b.diagram.paths, svg: pathSvg(b.diagram.paths) };
  }
}

/** `report` as one JSON document (2-space indented, ending in a newline): `{kind: 'report', title, verdict, ok, sections}`. */
export function renderJson(report: Report): string {
  const doc = {
    kind: 'report',
    title: report.title,
    verdict: report.verdict,
    ok: report.ok,
    sections: report.sections.map((s) => ({ id: s.id, title: s.title, blocks: s.blocks.map(blockJson) })),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}
