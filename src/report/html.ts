/**
 * The report as one self-contained HTML page: inline CSS, inline SVG, no script, no external
 * resource (nothing to fetch, so it opens offline and from a mail attachment). Built with
 * xmlbuilder2, which escapes every text and attribute (scenario names, descriptions and
 * device names come from the input). Serialized as XHTML-compatible HTML: void elements
 * self-close and no other element is ever empty (an empty cell shows "—"), so an HTML parser
 * and an XML parser read the same tree.
 */
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { Block, Report, Table } from './model.ts';
import { xmlText } from './xml-text.ts';
import { drawPaths } from './path-svg.ts';

/** The page's style. No `<`, `>` or `&`: xmlbuilder2 would escape them inside `<style>` (raw text in HTML). */
export const CSS = `
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; max-width: 1500px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
h3 { font-size: 0.85em; margin: 1.2em 0 0.4em; }
p.verdict { font-weight: bold; padding: 0.4em 0.8em; border-radius: 4px; display: inline-block; }
p.verdict.ok { background: #e3f4e8; color: #14532d; }
p.verdict.failed { background: #fde2e1; color: #7f1d1d; }
nav ol { columns: 3; }
table { border-collapse: collapse; margin: 0.4em 0 1em; font-size: 0.85em; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td { font-family: ui-monospace, monospace; }
tr.fail td, td.fail { background: #fde2e1; }
td.held { background: #e3f4e8; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
figure { margin: 0.5em 0; overflow-x: auto; }
figcaption { font-weight: bold; margin-bottom: 0.3em; }
p.empty { color: #666; font-style: italic; }
`;

/** A cell's text: "—" for nothing (an empty element would not survive HTML parsing as XHTML). */
const cellText = (v: string | number): string => {
  const s = String(v);
  return s.trim() === '' ? '—' : s;
};

function addTable(parent: XMLBuilder, t: Table): void {
  if (t.rows.length === 0) {
    parent.ele('h3').txt(xmlText(t.caption));
    parent.ele('p', { class: 'empty', id: t.id, 'data-table': t.id, 'data-rows': 0 }).txt(xmlText(t.empty));
    return;
  }
  const el = parent.ele('table', { id: t.id, 'data-table': t.id, 'data-rows': t.rows.length });
  el.ele('caption').txt(xmlText(t.caption));
  const head = el.ele('thead').ele('tr');
  for (const c of t.columns) head.ele('th', { scope: 'col' }).txt(xmlText(c));
  const body = el.ele('tbody');
  for (const row of t.rows) {
    const tr = body.ele('tr');
    row.forEach((v) => {
      const s = cellText(v);
      const cls = s.startsWith('VIOLATED') || s.startsWith('STALE') || s.startsWith('SET:') ? { class: 'fail' } : s === 'HELD' ? { class: 'held' } : {};
      tr.ele('td', cls).txt(xmlText(s));
    });
  }
}

function addBlock(parent: XMLBuilder, b: Block): void {
  switch (b.kind) {
    case 'text':
      parent.ele('p').txt(xmlText(b.text));
      return;
    case 'list': {
      const ul = parent.ele('ul');
      for (const i of b.items) ul.ele('li').txt(xmlText(cellText(i)));
      return;
    }
    case 'table':
      addTable(parent, b.table);
      return;
    case 'pre':
      parent.ele('h3').txt(xmlText(b.caption));
      parent.ele('pre', { id: b.id }).txt(xmlText(b.lines.join('\n') || '—'));
      return;
    case 'diagram': {
      const fig = parent.ele('figure', { id: b.diagram.id });
      fig.ele('figcaption').txt(xmlText(b.diagram.caption));
      drawPaths(fig, b.diagram.paths, b.diagram.id);
      return;
    }
  }
}

/** The report as an HTML document (UTF-8 text, ending with a newline). */
export function renderHtml(report: Report): string {
  const html = create().ele('html', { lang: 'en' });
  const head = html.ele('head');
  head.ele('meta', { charset: 'utf-8' });
  head.ele('meta', { name: 'viewport', content: 'width=device-width, initial-scale=1' });
  head.ele('meta', { name: 'generator', content: 'remapsim report' });
  head.ele('title').txt(xmlText(report.title));
  head.ele('style').txt(xmlText(CSS));
  const body = html.ele('body');
  body.ele('h1').txt(xmlText(report.title));
  body.ele('p', { class: `verdict ${report.ok ? 'ok' : 'failed'}`, id: 'verdict' }).txt(xmlText(report.verdict));
  const toc = body.ele('nav').ele('ol');
  for (const s of report.sections) toc.ele('li').ele('a', { href: `#${xmlText(s.id)}` }).txt(xmlText(s.title));
  for (const s of report.sections) {
    const sec = body.ele('section', { id: s.id });
    sec.ele('h2').txt(xmlText(s.title));
    for (const b of s.blocks) addBlock(sec, b);
  }
  return `<!DOCTYPE html>\n${html.end({ headless: true, prettyPrint: true })}\n`;
}
