/**
 * The review report as data: a title and an ordered list of sections, each a list of blocks
 * (paragraphs, tables, preformatted text, diagrams). Both renderers (src/report/html.ts and
 * src/report/markdown.ts) draw this one value, so the HTML and the Markdown report always hold
 * the same sections, tables and rows. Every string is plain text taken from the scenario or the
 * model; the renderers escape it.
 */

import type { RequestPath } from './paths.ts';

/** A table cell: text, shown as is (a number is shown in decimal). */
export type Cell = string | number;

/** A table: `id` is its HTML id and `data-table` name (tests find rows by it). */
export interface Table {
  readonly id: string;
  readonly caption: string;
  readonly columns: readonly string[];
  /** One array per row, as many cells as `columns`. */
  readonly rows: readonly (readonly Cell[])[];
  /** Shown instead of the table when `rows` is empty. */
  readonly empty: string;
}

/** A request path diagram: the paths it draws (src/report/path-svg.ts draws them as SVG). */
export interface Diagram {
  readonly id: string;
  readonly caption: string;
  readonly paths: readonly RequestPath[];
}

export type Block =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'list'; readonly items: readonly string[] }
  | { readonly kind: 'table'; readonly table: Table }
  | { readonly kind: 'pre'; readonly id: string; readonly caption: string; readonly lines: readonly string[] }
  | { readonly kind: 'diagram'; readonly diagram: Diagram };

export interface Section {
  /** HTML id (`platform`, `irt`, …). */
  readonly id: string;
  readonly title: string;
  readonly blocks: readonly Block[];
}

export interface Report {
  readonly title: string;
  /** One line under the title: the overall verdict. */
  readonly verdict: string;
  /** Whether every property and expectation held (and the check found nothing). */
  readonly ok: boolean;
  readonly sections: readonly Section[];
}

/** Block constructors: keep the section builders short. */
export const text = (t: string): Block => ({ kind: 'text', text: t });
export const list = (items: readonly string[]): Block => ({ kind: 'list', items });
export const table = (t: Table): Block => ({ kind: 'table', table: t });
export const pre = (id: string, caption: string, lines: readonly string[]): Block => ({ kind: 'pre', id, caption, lines });

/** `0x` + lowercase hex, no padding. */
export const hex = (v: number | bigint): string => `0x${v.toString(16)}`;
/** `0x` + lowercase hex padded to `digits`. */
export const hexPad = (v: number | bigint, digits: number): string => `0x${v.toString(16).padStart(digits, '0')}`;
export const yesNo = (b: boolean): string => (b ? 'yes' : 'no');
