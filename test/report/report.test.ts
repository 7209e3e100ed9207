/**
 * `remapsim report` without a browser: the same input gives byte-identical files (HTML and
 * Markdown); both formats hold the same sections; text from the scenario is escaped (HTML and
 * Markdown), checked as properties with fixed seeds and shown to fail against a renderer that
 * does not escape; the page names no external resource; the CLI writes where it is told (or
 * SCENARIO.html in the current directory) atomically, and rejects a bad format.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { reportCommand, reportText, defaultReportPath } from '../../src/cli/report.ts';
import { main } from '../../src/cli/main.ts';
import { renderHtml } from '../../src/report/html.ts';
import { renderMarkdown, escapeMarkdown } from '../../src/report/markdown.ts';
import { CSS } from '../../src/report/html.ts';
import type { Report } from '../../src/report/model.ts';
import { InputError } from '../../src/io/input-error.ts';

const oneTable = (cells: readonly string[], caption = 'c'): Report => ({
  title: 't',
  verdict: 'v',
  ok: true,
  sections: [{ id: 's', title: 'S', blocks: [{ kind: 'table', table: { id: 'x', caption, columns: cells.map((_, i) => `c${i}`), rows: [cells], empty: 'none' } }] }],
});

/**
 * The text of every `td` of the page, read as XML would: the content between the tags must hold
 * no markup, and its references are decoded in one pass (xmlbuilder2's own reader decodes
 * `&amp;#60;` twice, so it cannot be the judge).
 */
function cellTexts(html: string): string[] {
  const names: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
  const decode = (s: string): string =>
    s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (m, r: string) => (r.startsWith('#x') ? String.fromCodePoint(parseInt(r.slice(2), 16)) : r.startsWith('#') ? String.fromCodePoint(Number(r.slice(1))) : (names[r] ?? m)));
  return [...html.matchAll(/<td(?: [^>]*)?>([^<]*)<\/td>/g)].map((m) => {
    if (/&(?!#x[0-9a-fA-F]+;|#\d+;|[a-z]+;)/.test(m[1]!)) throw new Error(`a bare & in ${m[1]}`);
    return decode(m[1]!);
  });
}

/** Printable ASCII and a few non-ASCII characters (XML 1.0 carries no C0 controls but tab and newline), HTML and Markdown specials weighted in. */
const text = fc.string({ unit: fc.oneof(fc.constantFrom('<', '>', '&', '"', "'", '|', '`', '*', '_', '[', ']', '#', '\\', '-', ' ', '\n'), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }), fc.constantFrom('é', '→', '—', '&amp;', '&lt;', '&#60;')) });

describe('report rendering', () => {
  it('escapes every table cell in HTML: the parsed page gives back the input text', () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 4 }), (cells) => {
        const want = cells.map((c) => (c.trim() === '' ? '—' : c));
        expect(cellTexts(renderHtml(oneTable(cells)))).toEqual(want);
      }),
      { seed: 14, numRuns: 200 },
    );
  });

  it('the HTML property fails against a renderer that concatenates without escaping', () => {
    const naive = (cells: readonly string[]): string => `<table><tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr></table>`;
    const r = fc.check(
      fc.property(fc.array(text, { minLength: 1, maxLength: 4 }), (cells) => {
        try {
          return JSON.stringify(cellTexts(naive(cells))) === JSON.stringify(cells.map((c) => (c.trim() === '' ? '—' : c)));
        } catch {
          return false;
        }
      }),
      { seed: 14, numRuns: 200 },
    );
    expect(r.failed).toBe(true);
  });

  /** Split a Markdown table row on the `|` that are not escaped. */
  const splitRow = (row: string): string[] => row.split(/(?<!\\)\|/);
  const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');

  it('escapes Markdown table cells: a row keeps its columns and unescapes to the input', () => {
    fc.assert(
      fc.property(fc.array(text.filter((s) => s !== '' && !s.includes('\\')), { minLength: 1, maxLength: 4 }), (cells) => {
        const md = renderMarkdown(oneTable(cells)).split('\n');
        const row = md.filter((l) => l.startsWith('| '))[2]!;
        const parts = splitRow(row);
        expect(parts.length).toBe(cells.length + 2);
        expect(parts.slice(1, -1).map((p) => unescape(p.trim()))).toEqual(cells.map((c) => c.replace(/\r?\n/g, ' ').trim()));
      }),
      { seed: 14, numRuns: 200 },
    );
  });

  it('the Markdown property fails when cells are not escaped', () => {
    const r = fc.check(
      fc.property(fc.array(text.filter((s) => s !== ''), { minLength: 1, maxLength: 4 }), (cells) => splitRow(`| ${cells.join(' | ')} |`).length === cells.length + 2),
      { seed: 14, numRuns: 200 },
    );
    expect(r.failed).toBe(true);
    expect(escapeMarkdown('a|b')).toBe('a\\|b');
    // Block starters are escaped at the start only: no heading, list or numbered list is made.
    expect(['# x', '- x', '1. x', ' + x', 'a-b (c) #1'].map(escapeMarkdown)).toEqual(['\\# x', '\\- x', '1\\. x', ' \\+ x', 'a-b (c) #1']);
  });

  it('the CSS holds nothing the XML serializer would escape inside <style>', () => {
    expect(CSS).not.toMatch(/[<>&]/);
  });
});

describe('remapsim report', () => {
  it('is deterministic, and HTML and Markdown hold the same sections', async () => {
    const a = await reportText('specs/default.yaml', { check: true, runs: 10 });
    const b = await reportText('specs/default.yaml', { check: true, runs: 10 });
    expect(a.text).toBe(b.text);
    const m1 = await reportText('specs/default.yaml', { check: true, runs: 10, format: 'md' });
    const m2 = await reportText('specs/default.yaml', { check: true, runs: 10, format: 'md' });
    expect(m1.text).toBe(m2.text);
    const htmlTitles = [...a.text.matchAll(/<h2>([^<]*)<\/h2>/g)].map((m) => m[1]);
    const mdTitles = [...m1.text.matchAll(/^## (.*)$/gm)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
    expect(mdTitles).toEqual(htmlTitles);
    expect(htmlTitles).toEqual(['Summary', 'Platform', 'Topology and IOMMU groups', 'Domains and grants', 'Interrupt remapping: IRTEs and PI descriptors (VT-d)', 'Request paths', 'Property verdicts', 'Check', 'Trace']);
    // Self-contained: no script, no resource to fetch, only in-page links.
    expect(a.text).not.toMatch(/<script|<link|<img|src=|@import|url\((?!#)/);
    expect([...a.text.matchAll(/href="([^"]*)"/g)].every((m) => m[1]!.startsWith('#'))).toBe(true);
  }, 60_000);

  it('reports a counterexample: its trace, the state that matters and the violating request in the diagram', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'remapsim-report-'));
    try {
      const out = join(dir, 'cx.html');
      const r = await reportCommand('specs/attacks/stale-iec-insecure.yaml', { check: true, out });
      expect(r.code).toBe(1);
      expect(readdirSync(dir)).toEqual(['cx.html']); // no counterexample file written beside the input or here
      const html = readFileSync(out, 'utf8');
      expect(html).toContain('COUNTEREXAMPLE: P1 violated');
      expect(html).toMatch(/<pre id="cx-state">[^<]*IRTE 0x10 of dmar0 in the IEC \(stale\)/);
      expect(html).toMatch(/<pre id="cx-trace">#9 signal/);
      expect(html).toMatch(/<figure id="cx-diagram">[\s\S]*?data-violated="P1"/);
      expect(html).toContain('class="verdict failed"');
      // Two diagrams on the page, no element id twice.
      const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
      expect(ids.length).toBeGreaterThan(10);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes the AMD-Vi DTE and IRT of an AMD platform (GA-mode IRTE naming the vCPU backing page)', async () => {
    const html = (await reportText('specs/amd/avic-posted.yaml')).text;
    expect(html).toContain('Interrupt remapping: DTEs and IRTEs (AMD-Vi)');
    expect(html).toMatch(/<table id="dte" data-table="dte" data-rows="1">/);
    expect(html).toMatch(/<table id="irt-amd" data-table="irt-amd" data-rows="1">[\s\S]*?<td>ga-vapic<\/td>[\s\S]*?vAPIC backing page 0x40000000 \(vm1\.vcpu0\)/);
    expect(html).toMatch(/data-outcome="posted"/);
  });

  it('escapes what the scenario says (name, description, device names)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'remapsim-report-'));
    try {
      const doc = parse(readFileSync('specs/examples/posted-kvm.yaml', 'utf8'));
      doc.name = 'evil <b>&amp; "name"';
      doc.description = '<script>alert(1)</script> & | # *not bold*';
      doc.devices[0].name = '<img src=x onerror=alert(1)>';
      const file = join(dir, 'evil.yaml');
      writeFileSync(file, stringify(doc));
      const html = (await reportText(file)).text;
      expect(html).not.toContain('<script>alert');
      expect(html).not.toContain('<img');
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(html).toContain('evil &lt;b&gt;&amp;amp; "name"');
      const md = (await reportText(file, { format: 'md' })).text;
      expect(md).toContain('\\<script\\>alert(1)\\</script\\>');
      // Outside code blocks (literal text in Markdown) nothing may be raw HTML.
      const prose = md.replace(/^(`{3,})text\n[\s\S]*?^\1$/gm, '');
      expect(prose).toContain('\\<img');
      expect(prose).not.toMatch(/(?<!\\)<(img|script)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes the file atomically where --out says, or SCENARIO.html in the current directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'remapsim-report-'));
    const cwd = process.cwd();
    try {
      const out = join(dir, 'r.html');
      expect(await main(['report', 'specs/dma/second-stage.yaml', '--out', out], () => {})).toBe(0);
      expect(readFileSync(out, 'utf8')).toMatch(/^<!DOCTYPE html>\n<html lang="en">/);
      const file = resolve('specs/examples/posted-kvm.yaml');
      process.chdir(dir);
      const r = await reportCommand(file, { format: 'md' });
      expect(r.path).toBe('posted-kvm.md');
      expect(r.code).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(['posted-kvm.md', 'r.html']);
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
    expect(defaultReportPath('a/b/c.yml', 'html')).toBe('c.html');
  });

  it('rejects a bad format and a missing file as input errors', async () => {
    await expect(reportText('specs/default.yaml', { format: 'pdf' })).rejects.toBeInstanceOf(InputError);
    await expect(reportText('specs/no-such.yaml')).rejects.toBeInstanceOf(InputError);
  });
});
