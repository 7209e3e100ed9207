/**
 * Linear-time scanners for the two line kinds of an iasl dump (`iasl -d` output), shared by the
 * DMAR and IVRS text parsers (src/vtd/dmar/parse-dsl.ts, src/amdvi/ivrs/parse-dsl.ts). They replace
 * the regular expressions
 *
 *     field: /^\[([0-9A-Fa-f]+)h\s+(\d+)\s+([0-9A-Fa-f]+h|\d+)\]\s+(.+?)\s+:\s?(.*)$/
 *     raw:   /^\s*([0-9A-Fa-f]{4,8}):((?:\s+[0-9A-Fa-f]{2}){1,16})(?:\s+\/\/.*)?\s*$/
 *
 * and return the same capture groups for every line (test/hostile/iasl-lines.test.ts checks them
 * against the regular expressions): the field expression's `\s+(.+?)\s+:` has three overlapping
 * quantifiers and backtracked cubically on a long line without the colon (issue 17: a 10.7 KB .dsl
 * took 14.4 s). Each character is visited a bounded number of times; `work`, when given, counts
 * the visits so that tests can check linear growth by counting rather than timing.
 */

/** A count of characters visited, for tests. */
export interface WorkCounter {
  steps: number;
}

/** JavaScript `\s` (ECMA-262 WhiteSpace and LineTerminator), for one UTF-16 unit. */
function isSpace(c: number): boolean {
  return (
    c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

/** What `.` does not match (ECMA-262 LineTerminator). */
function isLineTerminator(c: number): boolean {
  return c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * The capture groups of the field expression on `s` (already trimmed, as the parsers pass it):
 * `[whole, offset hex, offset decimal, width ("NNh" or decimal), label, value]`, or undefined when
 * `s` is not a field line. Linear in `s.length`.
 */
export function scanIaslFieldLine(s: string, work?: WorkCounter): [string, string, string, string, string, string] | undefined {
  const n = s.length;
  let i = 0;
  const tick = (): void => {
    if (work) work.steps++;
  };
  const run = (pred: (c: number) => boolean): number => {
    const from = i;
    while (i < n && pred(s.charCodeAt(i))) {
      tick();
      i++;
    }
    return i - from;
  };
  if (s.charCodeAt(i) !== 0x5b) return undefined; // [
  i++;
  const a0 = i;
  if (run(isHex) === 0 || s.charCodeAt(i) !== 0x68) return undefined; // h
  const offHex = s.slice(a0, i++);
  if (run(isSpace) === 0) return undefined;
  const d0 = i;
  if (run(isDigit) === 0) return undefined;
  const offDec = s.slice(d0, i);
  if (run(isSpace) === 0) return undefined;
  // Width: hex digits then `h`, or decimal digits (a decimal is also hex: try the `h` form first).
  const w0 = i;
  run(isHex);
  let width: string;
  if (i > w0 && s.charCodeAt(i) === 0x68) {
    width = s.slice(w0, ++i);
  } else {
    i = w0;
    if (run(isDigit) === 0) return undefined;
    width = s.slice(w0, i);
  }
  if (s.charCodeAt(i) !== 0x5d) return undefined; // ]
  i++;
  const r0 = i;
  const spaces = run(isSpace);
  if (spaces === 0) return undefined;
  // `:\s?(.*)$` from the colon at `colon`: one optional whitespace (a line terminator included),
  // then a value holding no line terminator — O(1) with the position of the last terminator.
  let lastTerm = -1;
  for (let k = n - 1; k >= i; k--) {
    tick();
    if (isLineTerminator(s.charCodeAt(k))) {
      lastTerm = k;
      break;
    }
  }
  const valueStart = (colon: number): number => (colon + 1 < n && isSpace(s.charCodeAt(colon + 1)) ? colon + 2 : colon + 1);
  const valueAfter = (colon: number): string | undefined => {
    const v = valueStart(colon);
    return lastTerm >= v ? undefined : s.slice(v);
  };
  // Label: the shortest non-empty text without line terminators followed by whitespace and ':'
  // and a valid value. The greedy `\s+` before it first leaves it starting at the first non-space;
  // each whitespace run followed by ':' is then a candidate end, in order. A candidate whose value
  // fails makes the label take the run and the ':' — impossible when the run holds a terminator.
  const l0 = i;
  let primary: [string, string] | undefined;
  if (l0 < n && !isLineTerminator(s.charCodeAt(l0))) {
    i = l0 + 1;
    while (i < n) {
      tick();
      const c = s.charCodeAt(i);
      if (isSpace(c)) {
        const ws = i;
        run(isSpace);
        let term = false;
        for (let k = ws; k < i; k++) if (isLineTerminator(s.charCodeAt(k))) term = true;
        if (s.charCodeAt(i) === 0x3a) {
          const value = valueAfter(i);
          if (value !== undefined) {
            primary = [s.slice(l0, ws), value];
            break;
          }
        }
        if (term) break;
        continue;
      }
      if (isLineTerminator(c)) break;
      i++;
    }
  }
  if (primary !== undefined) return [s, offHex, offDec, width, primary[0], primary[1]];
  // Backtracking the `\s+` after ']': when the spaces there (3 or more) are followed by ':', the
  // label can be one of them — the last one but one that is not a line terminator.
  if (spaces >= 3 && s.charCodeAt(r0 + spaces) === 0x3a) {
    const value = valueAfter(r0 + spaces);
    if (value === undefined) return undefined;
    for (let k = r0 + spaces - 2; k >= r0 + 1; k--) {
      if (!isLineTerminator(s.charCodeAt(k))) return [s, offHex, offDec, width, s[k]!, value];
    }
  }
  return undefined;
}

/**
 * The capture groups of the raw-dump expression on `s` (untrimmed): `[whole, address (4–8 hex
 * digits), the byte groups as written (" 44 4D …", 1–16 of them)]`, or undefined. Linear.
 */
export function scanIaslRawLine(s: string, work?: WorkCounter): [string, string, string] | undefined {
  const n = s.length;
  let i = 0;
  const tick = (): void => {
    if (work) work.steps++;
  };
  while (i < n && isSpace(s.charCodeAt(i))) {
    tick();
    i++;
  }
  const a0 = i;
  while (i < n && isHex(s.charCodeAt(i)) && i - a0 < 9) {
    tick();
    i++;
  }
  const alen = i - a0;
  if (alen < 4 || alen > 8 || s.charCodeAt(i) !== 0x3a) return undefined; // ':'
  const address = s.slice(a0, i++);
  const g0 = i;
  let groups = 0;
  let groupsEnd = i;
  while (groups < 16) {
    let j = i;
    while (j < n && isSpace(s.charCodeAt(j))) {
      tick();
      j++;
    }
    if (j === i || j + 2 > n || !isHex(s.charCodeAt(j)) || !isHex(s.charCodeAt(j + 1))) break;
    // Two hex digits end a group only when what follows can continue the expression (space or end).
    if (j + 2 < n && !isSpace(s.charCodeAt(j + 2))) return undefined;
    i = j + 2;
    groups++;
    groupsEnd = i;
  }
  if (groups === 0) return undefined;
  i = groupsEnd;
  // `(?:\s+\/\/.*)?\s*$`
  const ws0 = i;
  while (i < n && isSpace(s.charCodeAt(i))) {
    tick();
    i++;
  }
  if (i < n) {
    if (i === ws0 || s.charCodeAt(i) !== 0x2f || s.charCodeAt(i + 1) !== 0x2f) return undefined;
    i += 2;
    // `.*` stops at a line terminator; from there only whitespace may follow.
    while (i < n && !isLineTerminator(s.charCodeAt(i))) {
      tick();
      i++;
    }
    while (i < n) {
      tick();
      if (!isSpace(s.charCodeAt(i))) return undefined;
      i++;
    }
  }
  return [s, address, s.slice(g0, groupsEnd)];
}

/** One decoded field line of an iasl dump: `[offset width] label : value`. */
export interface IaslField {
  /** 1-based line in the dump. */
  readonly line: number;
  /** Byte offset in the table. */
  readonly offset: number;
  /** Width in bytes. */
  readonly width: number;
  readonly label: string;
  readonly value: string;
}

/** An iasl dump read line by line: its decoded fields by offset, and its `Raw Table Data` bytes when present. */
export interface IaslDump {
  readonly fields: ReadonlyMap<number, IaslField>;
  readonly raw: { readonly bytes: Uint8Array; readonly line: number } | undefined;
  /**
   * The line a whole-file error names (issue 16: a .dsl error names a .dsl line): the first line
   * that is neither blank nor a comment (iasl opens its dump with a `/* … *\/` banner; the files
   * of data/real-inputs open with `#` provenance lines), else line 1.
   */
  readonly firstLine: number;
}

/**
 * The 1-based line of the first line of `lines` that is not blank, not a `#` line and not inside
 * or part of a C comment (`/* … *\/`, `// …`), else 1 (an empty or all-comment file).
 */
export function firstContentLine(lines: readonly string[]): number {
  let inComment = false;
  for (let i = 0; i < lines.length; i++) {
    let s = lines[i]!.trim();
    // Strip the comments this line opens, closes or holds; what is left is content.
    for (;;) {
      if (inComment) {
        const end = s.indexOf('*/');
        if (end < 0) {
          s = '';
          break;
        }
        s = s.slice(end + 2).trim();
        inComment = false;
      }
      if (s.startsWith('/*')) {
        s = s.slice(2);
        inComment = true;
        continue;
      }
      if (s.startsWith('//') || (s.startsWith('#') && !inComment)) s = '';
      break;
    }
    if (s !== '') return i + 1;
  }
  return 1;
}

const RAW_HEAD_RE = /^Raw Table Data:\s*Length\s+(\d+)/;

const hexOff = (n: number): string => `0x${n.toString(16)}`;

/**
 * Read every field line and the raw hex dump of an iasl `-d` dump (the DMAR and the IVRS text
 * parsers share it). Lines that are neither (titles, bit-decode lines, "**** Unknown …" notes) are
 * skipped; the raw dump ends at its first line that is not hex (the next table).
 * @param fail throws the caller's input error for a 1-based line, a field name and a message:
 *   offsets printed in hex and decimal that disagree, two fields at one offset, a raw dump line
 *   out of sequence, or a raw dump whose length differs from its title's.
 */
export function readIaslDump(text: string, fail: (line: number, field: string, message: string) => never): IaslDump {
  const fields = new Map<number, IaslField>();
  const lines = text.split(/\r?\n/);
  let rawStart: { line: number; length: number } | undefined;
  const rawBytes: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const ln = i + 1;
    const s = lines[i]!;
    if (rawStart) {
      if (s.trim() === '') continue;
      const m = scanIaslRawLine(s);
      if (!m) break;
      const at = parseInt(m[1], 16);
      if (at !== rawBytes.length) fail(ln, 'Raw Table Data', `dump line at ${hexOff(at)} follows ${rawBytes.length} bytes`);
      for (const h of m[2].trim().split(/\s+/)) rawBytes.push(parseInt(h, 16));
      continue;
    }
    const rh = RAW_HEAD_RE.exec(s.trim());
    if (rh) {
      rawStart = { line: ln, length: parseInt(rh[1]!, 10) };
      continue;
    }
    const m = scanIaslFieldLine(s.trim());
    if (!m) continue;
    const offset = parseInt(m[1], 16);
    if (offset !== parseInt(m[2], 10)) fail(ln, m[4], `offset ${m[1]}h and ${m[2]} disagree`);
    const w = m[3];
    const width = w.endsWith('h') ? parseInt(w.slice(0, -1), 16) : parseInt(w, 10);
    const field: IaslField = { line: ln, offset, width, label: m[4], value: m[5] };
    const prev = fields.get(offset);
    if (prev) fail(ln, field.label, `second field at offset ${hexOff(offset)} (first was "${prev.label}" on line ${prev.line})`);
    fields.set(offset, field);
  }
  if (rawStart && rawBytes.length !== rawStart.length) fail(rawStart.line, 'Raw Table Data', `dump has ${rawBytes.length} bytes, its title says ${rawStart.length}`);
  return { fields, raw: rawStart ? { bytes: Uint8Array.from(rawBytes), line: rawStart.line } : undefined, firstLine: firstContentLine(lines) };
}
