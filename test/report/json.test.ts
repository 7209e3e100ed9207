/**
 * `remapsim report --format json` / `--json`: the report's sections as data, valid against
 * specs/output.schema.json `report`, holding the same sections, tables and rows as the HTML
 * page (both are drawn from one Report value), with each diagram's paths and SVG.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import AjvModule from 'ajv';
import { cli, repo } from '../cli/cli-harness.ts';

type AjvCtor = typeof AjvModule.default;
const Ajv = ((AjvModule as unknown as { default?: AjvCtor }).default ?? AjvModule) as AjvCtor;
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowMatchingProperties: true });
ajv.addSchema(JSON.parse(readFileSync(repo('specs/output.schema.json'), 'utf8')) as Record<string, unknown>);
const validate = ajv.getSchema('https://remapsim.dev/specs/output.schema.json#/definitions/report')!;

interface Block { kind: string; id?: string; rows?: unknown[][]; paths?: unknown[]; svg?: string }
interface Doc { kind: string; ok: boolean; sections: { id: string; blocks: Block[] }[] }

const dir = mkdtempSync(join(tmpdir(), 'remapsim-report-json-'));

async function reportOf(file: string, extra: string[]): Promise<{ code: number; doc: Doc; html: string }> {
  const base = file.replace(/\W/g, '_');
  const j = await cli(['report', repo(file), ...extra, '--out', join(dir, `${base}.json`)]);
  const h = await cli(['report', repo(file), '--out', join(dir, `${base}.html`)]);
  return { code: j.code, doc: JSON.parse(readFileSync(join(dir, `${base}.json`), 'utf8')) as Doc, html: readFileSync(join(dir, `${base}.html`), 'utf8') + String(h.code) };
}

describe('remapsim report --format json', () => {
  it.each([
    ['specs/default.yaml', ['--json']],
    ['specs/amd/avic-posted.yaml', ['--format', 'json']],
    ['specs/dma/second-stage.yaml', ['--json']],
  ])('%s: valid against the schema, the HTML page\'s sections and table rows, diagrams with paths and SVG', async (file, extra) => {
    const { code, doc, html } = await reportOf(file, extra);
    expect(code).toBe(0);
    expect(validate(doc), ajv.errorsText(validate.errors)).toBe(true);
    expect(doc).toMatchObject({ kind: 'report', ok: true });
    for (const s of doc.sections) expect(html).toContain(`id="${s.id}"`);
    const tables = doc.sections.flatMap((s) => s.blocks).filter((b) => b.kind === 'table');
    expect(tables.length).toBeGreaterThan(2);
    for (const t of tables) {
      const rows = html.split(`data-table="${t.id}"`)[1]?.split('</table>')[0]?.match(/<tr/g)?.length ?? 0;
      if (t.rows!.length > 0) expect(rows, t.id).toBe(t.rows!.length + 1); // + the header row
    }
    const diagrams = doc.sections.flatMap((s) => s.blocks).filter((b) => b.kind === 'diagram');
    expect(diagrams.length).toBeGreaterThan(0);
    for (const d of diagrams) {
      expect(d.paths!.length).toBeGreaterThan(0);
      expect(d.svg).toMatch(/^<svg[\s\S]*<\/svg>$/);
    }
  });

  it('the schema rejects a diagram without its SVG and an unknown block kind', async () => {
    const { doc } = await reportOf('specs/default.yaml', ['--json']);
    const broken = structuredClone(doc);
    const d = broken.sections.flatMap((s) => s.blocks).find((b) => b.kind === 'diagram')!;
    delete d.svg;
    expect(validate(broken)).toBe(false);
    const unknown = structuredClone(doc);
    unknown.sections[0]!.blocks.push({ kind: 'video' });
    expect(validate(unknown)).toBe(false);
  });

  it('--json with --format md is refused (exit 2, naming --format)', async () => {
    const r = await cli(['report', repo('specs/default.yaml'), '--json', '--format', 'md', '--out', join(dir, 'x.md')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--format: --json contradicts --format md');
  });
});
