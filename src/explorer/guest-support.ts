/**
 * Guest support as data: which guest OS can use which addressing scheme, each row with its
 * sources and how sure we are (data/guest-support.yaml). The explorer reads the table; it
 * does not encode any OS's behaviour in code.
 */
import { withoutStackTraces } from '../util/without-stack-traces.ts';
import { readInputText } from '../io/read-input.ts';
import { MAX_GUEST_SUPPORT_BYTES } from '../io/limits.ts';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { InputError } from '../io/input-error.ts';
import { ALL_SCHEME_IDS, type SchemeId } from './schemes.ts';

/** Whether a guest can use a scheme (`hypothetical`: the scheme exists nowhere). */
export const SUPPORT_VALUES = ['yes', 'no', 'partial', 'unknown', 'hypothetical'] as const;
/** One of {@link SUPPORT_VALUES}. */
export type Support = (typeof SUPPORT_VALUES)[number];
/** How a row's claim was established (source-code read, documentation, reports, or derived). */
export const CONFIDENCE_VALUES = ['source-code', 'documented', 'reported', 'derived'] as const;
/** One of {@link CONFIDENCE_VALUES}. */
export type Confidence = (typeof CONFIDENCE_VALUES)[number];

/** One (guest, scheme) row of data/guest-support.yaml. */
export interface GuestSupportRow {
  readonly guest: string;
  readonly scheme: SchemeId;
  readonly support: Support;
  readonly confidence: Confidence;
  readonly note: string;
  /** What the guest needs for the scheme (kernel version, driver, setting), when the table says; sourced like the row. */
  readonly requires?: string;
  readonly sources: readonly string[];
}

/** The whole table. */
export interface GuestSupportTable {
  /** Guest id → display name. */
  readonly guests: Readonly<Record<string, string>>;
  readonly rows: readonly GuestSupportRow[];
}

/** The table shipped with remapsim. */
export const DEFAULT_GUEST_SUPPORT_FILE = fileURLToPath(new URL('../../data/guest-support.yaml', import.meta.url));

function oneOf<T extends string>(values: readonly T[], v: unknown): v is T {
  return typeof v === 'string' && (values as readonly string[]).includes(v);
}

/**
 * Validate a parsed table. @throws InputError naming `file` and the field (e.g.
 * `rows[3].scheme`) for a wrong shape, an unknown guest or scheme, or a row without sources.
 */
export function validateGuestSupport(raw: unknown, file: string): GuestSupportTable {
  const fail = (field: string, why: string): never => {
    throw new InputError(why, { file, field });
  };
  if (typeof raw !== 'object' || raw === null) fail('(root)', 'expected a mapping with guests and rows');
  const r = raw as Record<string, unknown>;
  const g = r.guests;
  if (typeof g !== 'object' || g === null || Array.isArray(g)) fail('guests', 'expected a mapping of guest id to name');
  const guests: Record<string, string> = {};
  for (const [id, name] of Object.entries(g as Record<string, unknown>)) {
    if (typeof name !== 'string') fail(`guests.${id}`, 'expected a name');
    guests[id] = name as string;
  }
  if (!Array.isArray(r.rows)) fail('rows', 'expected a list');
  const seen = new Set<string>();
  const rows = (r.rows as unknown[]).map((row, i): GuestSupportRow => {
    const at = `rows[${i}]`;
    if (typeof row !== 'object' || row === null) fail(at, 'expected a mapping');
    const o = row as Record<string, unknown>;
    if (typeof o.guest !== 'string' || guests[o.guest] === undefined) fail(`${at}.guest`, `unknown guest '${String(o.guest)}' (not under guests)`);
    if (!oneOf(ALL_SCHEME_IDS, o.scheme)) fail(`${at}.scheme`, `unknown scheme '${String(o.scheme)}' (one of ${ALL_SCHEME_IDS.join(', ')})`);
    if (!oneOf(SUPPORT_VALUES, o.support)) fail(`${at}.support`, `expected one of ${SUPPORT_VALUES.join(', ')}`);
    if (!oneOf(CONFIDENCE_VALUES, o.confidence)) fail(`${at}.confidence`, `expected one of ${CONFIDENCE_VALUES.join(', ')}`);
    if (typeof o.note !== 'string') fail(`${at}.note`, 'expected a string');
    if (o.requires !== undefined && (typeof o.requires !== 'string' || o.requires.trim() === '')) fail(`${at}.requires`, 'expected a non-empty string');
    const sources = o.sources;
    if (!Array.isArray(sources) || sources.length === 0 || !sources.every((s) => typeof s === 'string' && s.trim() !== '')) {
      fail(`${at}.sources`, 'every row needs at least one source');
    }
    const key = `${String(o.guest)}/${String(o.scheme)}`;
    if (seen.has(key)) fail(at, `second row for ${key}`);
    seen.add(key);
    return {
      guest: o.guest as string,
      scheme: o.scheme as SchemeId,
      support: o.support as Support,
      confidence: o.confidence as Confidence,
      note: o.note as string,
      ...(typeof o.requires === 'string' ? { requires: o.requires } : {}),
      sources: sources as string[],
    };
  });
  return { guests, rows };
}

/** Read and validate a table. @throws InputError for an unreadable file, bad YAML or a bad table. */
export function loadGuestSupport(file: string = DEFAULT_GUEST_SUPPORT_FILE): GuestSupportTable {
  const text = readInputText(file, { maxBytes: MAX_GUEST_SUPPORT_BYTES, what: 'guest support table' });
  const doc = withoutStackTraces(() => parseDocument(text));
  const err = doc.errors[0];
  if (err !== undefined) throw new InputError(err.message.split('\n')[0] ?? 'YAML error', { file, line: err.linePos?.[0]?.line ?? 0 });
  return validateGuestSupport(doc.toJS(), file);
}

/** The row for (guest, scheme), or an `unknown` placeholder when the table has none. */
export function supportFor(table: GuestSupportTable, guest: string, scheme: SchemeId): GuestSupportRow {
  return table.rows.find((r) => r.guest === guest && r.scheme === scheme) ?? { guest, scheme, support: 'unknown', confidence: 'derived', note: 'no row in the guest-support table', sources: [] };
}
