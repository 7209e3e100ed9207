/**
 * Whole-file errors of the .dsl readers name a .dsl line (issue 16: "a .dsl error names the .dsl
 * line"): a dump with no field line at offset 0 is refused at its first line that is not blank or
 * a comment (`#` provenance lines, iasl's `/* … *\/` banner), or line 1; a missing structure at the
 * last field line before it. Shown able to fail: the classifier counts an error without a line as
 * unclear for these targets (fuzz/targets.ts `needsLine`).
 */
import { describe, expect, it } from 'vitest';
import { firstContentLine } from '../../src/io/iasl-lines.ts';
import { parseDmarText } from '../../src/vtd/dmar/parse-dsl.ts';
import { parseIvrsText } from '../../src/amdvi/ivrs/parse-dsl.ts';
import { InputError } from '../../src/io/input-error.ts';
import { classify } from '../../fuzz/classify.ts';
import { TARGETS } from '../../fuzz/targets.ts';

function errorOf(run: () => unknown): InputError {
  try {
    run();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('accepted');
}

describe('firstContentLine', () => {
  it.each([
    ['', 1],
    ['\n\n', 1],
    ['/*\n * Intel ACPI Component Architecture\n */\n\nDMAR', 5],
    ['# Source: x\n# more\n\n[000h 0000   4] Signature : "DMAR"', 4],
    ['/* one line */ [000h 0000   4] Signature', 1],
    ['/* open\n still */\n// line\nx', 4],
    ['/* never closed\n[000h 0000   4] Signature', 1],
  ])('%j → line %i', (text, line) => {
    expect(firstContentLine(text.split(/\r?\n/))).toBe(line);
  });
});

describe('.dsl whole-file errors name a line', () => {
  const banner = '/*\n * Intel ACPI Component Architecture\n */\n\nnot a dump\n';
  it.each([
    ['DMAR', (t: string) => parseDmarText(t, 'x.dsl')],
    ['IVRS', (t: string) => parseIvrsText(t, 'x.dsl')],
  ] as const)('%s: no field at offset 0 → the first non-comment line, or line 1', (_name, parse) => {
    const e = errorOf(() => parse(banner));
    expect(e.line).toBe(5);
    expect(e.field).toBe('Signature');
    expect(e.format()).toMatch(/^x\.dsl:5: Signature: no iasl field line at offset 0/);
    expect(errorOf(() => parse('')).line).toBe(1);
  });

  it('DMAR: a structure missing after the header names the last field line before it', () => {
    const header = [
      '[000h 0000   4]                    Signature : "DMAR"',
      '[004h 0004   4]                 Table Length : 00000040',
      '[008h 0008   1]                     Revision : 01',
      '[009h 0009   1]                     Checksum : 00',
      '[00Ah 0010   6]                       Oem ID : "INTEL "',
      '[010h 0016   8]                 Oem Table ID : "SKL     "',
      '[018h 0024   4]                 Oem Revision : 00000001',
      '[01Ch 0028   4]              Asl Compiler ID : "INTL"',
      '[020h 0032   4]        Asl Compiler Revision : 00000001',
      '[024h 0036   1]           Host Address Width : 26',
      '[025h 0037   1]                        Flags : 01',
      '[026h 0038  10]                     Reserved : 00 00 00 00 00 00 00 00 00 00',
    ].join('\n');
    const e = errorOf(() => parseDmarText(header, 'x.dsl'));
    expect(e.format()).toMatch(/^x\.dsl:12: structure at offset 0x30: /);
  });

  it('is shown able to fail: an error without a line is unclear for the dsl targets', async () => {
    for (const name of ['dmar-dsl', 'ivrs-dsl']) {
      const options = TARGETS[name]!.options;
      expect((await classify(() => { throw new InputError('x', { file: 'f', field: 'Signature' }); }, undefined, options)).outcome).toBe('unclear');
      expect((await classify(() => { throw new InputError('x', { file: 'f', field: 'Signature', line: 1 }); }, undefined, options)).outcome).toBe('input-error');
    }
  });
});
