/**
 * `remapsim report` opened in a real browser: headless Chromium (Debian's `chromium` package,
 * /usr/bin/chromium, or REMAPSIM_CHROMIUM) driven by playwright-core. For the default scenario
 * with --check, a posted-interrupt scenario and a DMA scenario: the page loads with no console
 * error, no page error and no network request (the file is self-contained); its IRT table holds
 * one row per present IRTE (counted from `remapsim dump`'s Xen-style rows, an independent
 * reading of the same memory), its verdict table the verdicts, its SVG one path per request;
 * and a full-page screenshot is written to os.tmpdir(). Skips, saying why, only when no browser
 * can be launched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../browser-harness.ts';
import { reportCommand } from '../../src/cli/report.ts';
import { parseScenarioFile } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { formatIrtDump } from '../../src/scenario/dump.ts';


let browser: Browser | undefined;
let why = '';
const dir = mkdtempSync(join(tmpdir(), 'remapsim-report-'));

beforeAll(async () => {
  const launched = await launchChromium();
  browser = launched.browser;
  why = launched.why;
  if (browser !== undefined) return;
  console.warn(`SKIPPED browser tests of remapsim report: ${why}`);
}, 30_000);

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Present IRTE indices per unit, read from the `remapsim dump` Xen 'V'-key rows (`  R:  0001: …`). */
function dumpIndices(file: string): Map<string, number[]> {
  const dump = formatIrtDump(runScenario(compileScenario(parseScenarioFile(file))).final);
  const out = new Map<string, number[]>();
  let unit = '';
  for (const line of dump.split('\n')) {
    const u = /^ iommu \d+ \((\w+)\): Interrupt remapping table/.exec(line);
    if (u) out.set((unit = u[1]!), []);
    const r = /^ {2}[RP]: {2}([0-9a-f]{4}):/.exec(line);
    if (r) out.get(unit)!.push(parseInt(r[1]!, 16));
  }
  return out;
}

/** Collect the page's console errors and warnings, page errors, and every request that is not for a file: URL. */
function watch(page: Page): { errors: string[]; requests: string[] } {
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('request', (q) => {
    if (!q.url().startsWith('file:')) requests.push(q.url());
  });
  return { errors, requests };
}

interface Case {
  readonly file: string;
  readonly check: boolean;
  /** Path outcomes the diagram must show. */
  readonly outcomes: readonly string[];
  readonly posted: boolean;
}

const CASES: readonly Case[] = [
  { file: 'specs/default.yaml', check: true, outcomes: ['delivered', 'fault'], posted: false },
  { file: 'specs/vmm/qemu-kvm-posted.yaml', check: false, outcomes: ['posted'], posted: true },
  { file: 'specs/dma/second-stage.yaml', check: false, outcomes: ['dma'], posted: false },
];

describe('remapsim report in headless Chromium', () => {
  it('the checks can fail: a page with a console error and a network request is caught', async (ctx) => {
    if (browser === undefined) {
      console.warn(`SKIPPED: ${why}`);
      ctx.skip();
      return;
    }
    const bad = join(dir, 'broken.html');
    writeFileSync(bad, '<!DOCTYPE html><html><body><script>console.error("broken")</script><img src="http://127.0.0.1:9/x.png"></body></html>');
    const page = await browser.newPage();
    const seen = watch(page);
    await page.goto(pathToFileURL(bad).href, { waitUntil: 'load' });
    expect(seen.errors.length).toBeGreaterThan(0);
    expect(seen.requests).toEqual(['http://127.0.0.1:9/x.png']);
    await page.close();
  });

  for (const c of CASES) {
    it(`${c.file}${c.check ? ' --check' : ''}: renders cleanly with the IRT, verdicts and the path diagram`, async (ctx) => {
      if (browser === undefined) {
        console.warn(`SKIPPED ${c.file}: ${why}`);
        ctx.skip();
        return;
      }
      const out = join(dir, `${c.file.replace(/[/.]/g, '_')}.html`);
      const r = await reportCommand(c.file, { check: c.check, out, runs: 20 });
      expect(r.code).toBe(0);
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const { errors, requests } = watch(page);
      await page.goto(pathToFileURL(out).href, { waitUntil: 'load' });

      // The IRT of every unit: one row per present IRTE, the same indices as the dump.
      for (const [unit, indices] of dumpIndices(c.file)) {
        const cells = await page.$$eval(`table[data-table="irt-${unit}"] tbody tr td:first-child`, (tds) => tds.map((t) => t.textContent ?? ''));
        expect(cells.map((x) => parseInt(x, 16)), unit).toEqual(indices);
      }
      // Posted scenarios: the PI descriptor table holds a PID a posted IRTE names.
      const pidRows = await page.$$eval('table[data-table="pid"] tbody tr', (trs) => trs.length);
      if (c.posted) expect(pidRows).toBeGreaterThan(0);

      const verdicts = await page.$$eval('table[data-table="verdict-table"] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      expect(verdicts.map((v) => v[0])).toEqual(['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7']);
      expect(verdicts.find((v) => v[0] === 'P1')?.[2]).toBe('HELD');
      if (c.check) expect(verdicts.find((v) => v[0] === 'P5')?.[2]).toBe('HELD');
      if (c.outcomes.includes('dma')) expect(verdicts.find((v) => v[0] === 'P2')?.[2]).toBe('HELD');

      // The diagram: an SVG element drawn by the browser, one row per request, as many as the table.
      const svg = await page.$('#path-diagram svg');
      expect(svg).not.toBeNull();
      const box = await svg!.boundingBox();
      expect(box?.width ?? 0).toBeGreaterThan(500);
      const drawn = await page.$$eval('#path-diagram svg g.path', (gs) => gs.map((g) => g.getAttribute('data-outcome')));
      const tableRows = await page.$$eval('table[data-table="path-table"] tbody tr', (trs) => trs.length);
      expect(drawn.length).toBe(tableRows);
      for (const o of c.outcomes) expect(drawn).toContain(o);

      if (c.check) {
        const checkText = await page.$eval('#check', (s) => s.textContent ?? '');
        expect(checkText).toContain('HELD:');
        expect(checkText).toContain('over 20 runs');
      }
      const shot = join(tmpdir(), `remapsim-report-${c.file.replace(/[/.]/g, '_')}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      expect(existsSync(shot)).toBe(true);
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      await page.close();
    }, 20_000);
  }
});
