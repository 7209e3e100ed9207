/**
 * The report as Markdown (CommonMark with GitHub tables): the same sections, tables and rows
 * as the HTML page; the request-path diagram becomes its table (a Markdown reader shows no
 * inline SVG). Text from the input is escaped so it cannot start a heading, a list, a link
 * or HTML, nor break a table cell; preformatted text is fenced with more backticks than it holds.
 */
import type { Block, Report, Table } from './model.ts';

/**
 * Escape text for one Markdown line (CommonMark §2.4 backslash escapes): everywhere the
 * characters that start emphasis, code, links, HTML, entity references, strikethrough or a
 * table cell (`\\ \` * _ [ ] < > & ~ |`); at the start, those that start a block (a heading
 * `#`, a list `-`/`+`/`1.`, a setext line `=`). Line breaks become spaces. `(`, `)` and `!`
 * need nothing once `[` and `]` are escaped, so the text stays readable as plain text.
 */
export function escapeMarkdown(s: string): string {
  return s
    .replace(/[\\`*_[\]<>&~|]/g, (c) => `\\${c}`)
    .replace(/\r?\n/g, ' ')
    .replace(/^(\s*)([#+\-=])/, '$1\\$2')
    .replace(/^(\s*\d+)([.)])/, '$1\\$2');
}

/** A fence longer than any backtick run in `lines` (CommonMark §4.5). */
function fence(lines: readonly string[]): string {
  const longest = Math.max(0, ...lines.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((m) => m.length))));
  return '`'.repeat(Math.max(3, longest + 1));
}

function tableLines(t: Table): string[] {
  if (t.rows.length === 0) return [`**${escapeMarkdown(t.caption)}**`, '', `_${escapeMarkdown(t.empty)}_`];
  const row = (cells: readonly (string | number)[]): string => `| ${cells.map((c) => (String(c) === '' ? '—' : escapeMarkdown(String(c)))).join(' | ')} |`;
  return [`**${escapeMarkdown(t.caption)}**`, '', row(t.columns), `|${t.columns.map(() => ' --- |').join('')}`, ...t.rows.map(row)];
}

function blockLines(b: Block): string[] {
  switch (b.kind) {
    case 'text':
      return [escapeMarkdown(b.text)];
    case 'list':
      return b.items.map((i) => `- ${escapeMarkdown(i)}`);
    case 'table':
      return tableLines(b.table);
    case 'pre': {
      const f = fence(b.lines);
      return [`**${escapeMarkdown(b.caption)}**`, '', `${f}text`, ...b.lines, f];
    }
    case 'diagram':
      return [`_${escapeMarkdown(b.diagram.caption)}: the diagram is in the HTML report (--format html); the table below lists the same paths._`];
  }
}

/** The report as Markdown text (ending with a newline). */
export function renderMarkdown(report: Report): string {
  const out: string[] = [`# ${escapeMarkdown(report.title)}`, '', `**${escapeMarkdown(report.verdict)}**`, ''];
  for (const s of report.sections) {
    out.push(`## ${escapeMarkdown(s.title)}`, '');
    for (const b of s.blocks) out.push(...blockLines(b), '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
