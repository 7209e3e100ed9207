/**
 * The sweep plot viewed as an image: the SVG for a 300-vCPU VM (sparse APIC IDs up to 355)
 * rendered by headless Chromium (Debian's `chromium`, /usr/bin/chromium, or REMAPSIM_CHROMIUM;
 * driven by playwright-core as test/report/browser.test.ts does), screenshotted to PNG in
 * os.tmpdir(). Checked in the page: no console or page error, the title names VM and guest, the
 * image is not blank, no two legend entries or marker labels overlap, every legend entry belongs
 * to a drawn series, and no two drawn lines coincide — with the same checks shown to fail on a
 * deliberately broken copy. Skips, saying why, only when no browser can be launched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../browser-harness.ts';
import { explore, sweepPoints } from '../../src/explorer/explore.ts';
import { loadGuestSupport } from '../../src/explorer/guest-support.ts';
import { parseTopology, topologyApicIds } from '../../src/explorer/topology.ts';
import { sweepSvg } from '../../src/explorer/svg.ts';

const dir = mkdtempSync(join(tmpdir(), 'remapsim-svg-'));
let browser: Browser | undefined;
let why = '';
let svg = '';

beforeAll(async () => {
  const ids = topologyApicIds(parseTopology('3s:50c:2t'));
  const result = explore({
    apicIds: ids,
    vm: '3s:1d:50c:2t (300 vCPUs)',
    guest: 'linux',
    guestSupport: loadGuestSupport(),
    schemes: ['xapic-physical', 'x2apic-compat', 'ext-dest-id', 'viommu-ir'],
    sweep: { apicIds: ids, points: sweepPoints(1, 300) },
  });
  svg = sweepSvg(result.sweep!, { vm: result.vm, guest: result.guestName, vcpus: ids.length });
  const launched = await launchChromium();
  browser = launched.browser;
  why = launched.why;
  if (browser !== undefined) return;
  console.warn(`SKIPPED rendering test of the explorer plot: ${why}`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What the page shows, measured by the browser's own layout of the inline SVG. */
interface Seen {
  readonly title: string;
  readonly inkFraction: number;
  readonly overlaps: string[];
  readonly legendWithoutLine: number;
  readonly coincidentLines: string[];
}

/** Load `doc` inline, measure it, and write a PNG screenshot to `png`. */
async function view(page: Page, doc: string, png: string): Promise<Seen> {
  await page.setContent(`<!doctype html><html><body style="margin:0">${doc.replace(/^<\?xml[^>]*\?>/, '')}</body></html>`, { waitUntil: 'load' });
  const shot = await page.locator('svg').first().screenshot({ path: png });
  const seen = await page.evaluate(async (b64: string) => {
    // Runs in the page. The project's tsconfig has no DOM lib, so the page's globals are typed loosely here.
    const w = globalThis as any;
    const document = w.document;
    const Image = w.Image;
    const svg = document.querySelector('svg')!;
    // Ink: rasterise the screenshot and count pixels that are not (near) white.
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, img.width, img.height).data;
    let ink = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i]! < 235 || px[i + 1]! < 235 || px[i + 2]! < 235) ink++;
    // Labels: legend texts and marker labels per panel must not intersect.
    const overlaps: string[] = [];
    for (const panel of Array.from(svg.querySelectorAll('g.panel')) as any[]) {
      const labels = [...Array.from(panel.querySelectorAll('g.legend')), ...Array.from(panel.querySelectorAll('g.marker text'))] as any[];
      const boxes = labels.map((l) => l.getBoundingClientRect());
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const a = boxes[i]!;
          const c = boxes[j]!;
          if (a.left < c.right && c.left < a.right && a.top < c.bottom && c.top < a.bottom) overlaps.push(`${panel.getAttribute('data-panel')}: ${labels[i]!.textContent?.trim().slice(0, 30)} / ${labels[j]!.textContent?.trim().slice(0, 30)}`);
        }
    }
    // Every legend entry sits in a series whose polyline has points; no two polylines are identical.
    const series = Array.from(svg.querySelectorAll('g.series')) as any[];
    const legendWithoutLine = series.filter((s) => s.querySelector('g.legend') !== null && (s.querySelector('polyline')?.getAttribute('points') ?? '') === '').length;
    const coincidentLines: string[] = [];
    for (const panel of Array.from(svg.querySelectorAll('g.panel')) as any[]) {
      const seenLines = new Map<string, string>();
      for (const s of Array.from(panel.querySelectorAll('g.series')) as any[]) {
        const pts = s.querySelector('polyline')?.getAttribute('points') ?? '';
        const other = seenLines.get(pts);
        if (other !== undefined) coincidentLines.push(`${panel.getAttribute('data-panel')}: ${other} = ${s.getAttribute('data-members')}`);
        seenLines.set(pts, s.getAttribute('data-members') ?? '');
      }
    }
    return { title: (svg.querySelector('text.plot-title')?.textContent ?? '') as string, inkFraction: ink / (img.width * img.height), overlaps, legendWithoutLine, coincidentLines };
  }, shot.toString('base64'));
  return seen;
}

/** Collect console errors and warnings and page errors. */
function watch(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  return errors;
}

describe('the explorer plot, rendered by headless Chromium', () => {
  it('renders with no console error, titled with VM and guest, labels apart, no coincident lines', async (ctx) => {
    if (browser === undefined) return ctx.skip(why);
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors = watch(page);
    const png = join(dir, 'explore-sweep.png');
    const seen = await view(page, svg, png);
    expect(errors).toEqual([]);
    expect(readFileSync(png).subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(seen.title).toBe('remapsim explore: 3s:1d:50c:2t (300 vCPUs), guest Linux (x86-64)');
    expect(seen.inkFraction).toBeGreaterThan(0.02);
    expect(seen.overlaps).toEqual([]);
    expect(seen.legendWithoutLine).toBe(0);
    expect(seen.coincidentLines).toEqual([]);
    await page.close();
  }, 60_000);

  it('the same checks catch a broken plot: legends stacked on each other, a line drawn twice, an empty series with a legend', async (ctx) => {
    if (browser === undefined) return ctx.skip(why);
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    // Break it: every legend line/text at one height, a series duplicated, a series' points removed.
    let broken = svg.replace(/(<g class="legend">\s*<line [^>]*?)y1="[\d.]+" ([^>]*?)y2="[\d.]+"/g, '$1y1="120" $2y2="120"').replace(/(<g class="legend">[\s\S]*?<text [^>]*?)y="[\d.]+"/g, '$1y="124"');
    const first = /<g class="series"[\s\S]*?<\/g>\s*<\/g>/.exec(broken)![0];
    broken = broken.replace(first, `${first}${first}`);
    broken = broken.replace(/(<g class="panel" data-panel="vm-exits">[\s\S]*?<polyline points=")[^"]*"/, '$1"');
    const seen = await view(page, broken, join(dir, 'broken.png'));
    expect(seen.overlaps.length).toBeGreaterThan(0);
    expect(seen.coincidentLines.length).toBeGreaterThan(0);
    expect(seen.legendWithoutLine).toBeGreaterThan(0);
    await page.close();
  }, 60_000);
});
