// Issue 17: the iasl field and raw-dump lines are scanned in linear time, with exactly the capture
// groups of the regular expressions they replace. Linear growth is checked by counting the
// characters the scanner visits, not by timing.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanIaslFieldLine, scanIaslRawLine, type WorkCounter } from '../../src/io/iasl-lines.ts';
import { parseDmarText } from '../../src/vtd/dmar/parse-dsl.ts';
import { parseIvrsText } from '../../src/amdvi/ivrs/parse-dsl.ts';
import { InputError } from '../../src/io/input-error.ts';

const FIELD_RE = /^\[([0-9A-Fa-f]+)h\s+(\d+)\s+([0-9A-Fa-f]+h|\d+)\]\s+(.+?)\s+:\s?(.*)$/;
const RAW_LINE_RE = /^\s*([0-9A-Fa-f]{4,8}):((?:\s+[0-9A-Fa-f]{2}){1,16})(?:\s+\/\/.*)?\s*$/;

const groups = (m: RegExpExecArray | null): string[] | undefined => (m === null ? undefined : [...m].map((g) => g ?? ''));

// Short lines over the characters the expressions care about, plus line terminators.
const piece = fc.constantFrom('[', ']', 'h', '0', '3', '9', 'a', 'F', ' ', '  ', '\t', ':', '/', '//', 'x', '\r', '\u2028', '\u00a0', '030h', ' 0048 ', '002h', '44', ' 4D', 'Label', ' : ');
const line = fc.array(piece, { maxLength: 14 }).map((p) => p.join(''));
const fieldish = fc.tuple(fc.constantFrom('[030h 0048   2]', '[000h 0000 004h]', '[1h 1 1]', '[0h 0 4]'), line).map(([a, b]) => a + b);
const rawish = fc.tuple(fc.constantFrom('0000:', '  0010:', '00A0:', '123:'), line).map(([a, b]) => a + b);

describe('the scanners give the regular expressions\' groups', () => {
  it('field lines (trimmed, as the parsers pass them)', () => {
    fc.assert(
      fc.property(fc.oneof(line, fieldish), (s) => {
        const t = s.trim();
        expect(scanIaslFieldLine(t)).toEqual(groups(FIELD_RE.exec(t)));
      }),
      { seed: 1717, numRuns: 20_000 },
    );
  });

  it('raw dump lines', () => {
    fc.assert(
      fc.property(fc.oneof(line, rawish), (s) => {
        expect(scanIaslRawLine(s)).toEqual(groups(RAW_LINE_RE.exec(s)));
      }),
      { seed: 1718, numRuns: 20_000 },
    );
  });

  it('the agreement property fails against a deliberately broken scanner (label taken up to the last colon)', () => {
    const broken = (t: string): string[] | undefined => {
      const m = scanIaslFieldLine(t);
      if (m === undefined) return undefined;
      const k = t.lastIndexOf(':');
      return [m[0], m[1], m[2], m[3], t.slice(t.indexOf(']') + 1, k).trim(), m[5]];
    };
    const r = fc.check(fc.property(fieldish, (s) => {
      const t = s.trim();
      expect(broken(t)).toEqual(groups(FIELD_RE.exec(t)));
    }), { seed: 1717, numRuns: 20_000 });
    expect(r.failed).toBe(true);
  });
});

/** Adversarial field lines: every quantifier of the old expression overlaps on the spaces, and there is no colon. */
// The old expression took 2.7 s on 1,000 spaces and 24 s on 2,000 (bench/hostile-parsers.ts).
const adversarialField = (n: number): string => `[030h 0048   2]${' '.repeat(n)}x`;
/** Spaced words and colons: candidate label ends everywhere. */
const adversarialColons = (n: number): string => `[030h 0048   2] a${' :'.repeat(n)}\u2028`;
const adversarialRaw = (n: number): string => `0000: 44${' '.repeat(n)}x`;

function work(scan: (s: string, w: WorkCounter) => unknown, s: string): number {
  const w = { steps: 0 };
  scan(s, w);
  return w.steps;
}

/** Work per character stays within a constant as n grows 16-fold: linear, not quadratic. */
function linear(counts: readonly { n: number; steps: number }[]): boolean {
  const per = counts.map((c) => c.steps / c.n);
  return Math.max(...per) <= 8 && per[per.length - 1]! <= per[0]! * 1.25 + 1;
}

describe('work grows linearly with the line', () => {
  const sizes = [1000, 2000, 4000, 8000, 16000];
  it('field lines', () => {
    const counts = sizes.map((n) => ({ n, steps: work(scanIaslFieldLine, adversarialField(n)) }));
    expect(linear(counts)).toBe(true);
  });

  it('field lines full of candidate colons with a line terminator at the end', () => {
    const counts = sizes.map((n) => ({ n, steps: work(scanIaslFieldLine, adversarialColons(n)) }));
    expect(linear(counts)).toBe(true);
  });

  it('raw dump lines', () => {
    const counts = sizes.map((n) => ({ n, steps: work(scanIaslRawLine, adversarialRaw(n)) }));
    expect(linear(counts)).toBe(true);
  });

  it('the check fails against a deliberately quadratic scanner (a backtracking search for " :")', () => {
    const quadratic = (s: string, w: WorkCounter): void => {
      for (let i = 0; i < s.length; i++) for (let j = i; j < s.length && s[j] === ' '; j++) w.steps++;
    };
    const counts = sizes.map((n) => ({ n, steps: work(quadratic, adversarialField(n)) }));
    expect(linear(counts)).toBe(false);
  });

  it('the parsers take a 100 KB adversarial line as a line to skip or a one-line input error', () => {
    const text = `[000h 0000 004h]                   Signature : "DMAR"\n${adversarialField(50_000)}\n`;
    for (const parse of [parseDmarText, parseIvrsText]) {
      try {
        parse(text, 'slow.dsl');
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        expect((e as InputError).format().split('\n')).toHaveLength(1);
      }
    }
  });
});
