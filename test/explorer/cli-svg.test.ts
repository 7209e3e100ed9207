// `remapsim explore` end to end: the table, JSON, bad arguments (exit 2, one line), and the
// SVG plot, opened as XML and checked for its axes, one series per scheme and its points.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { create } from 'xmlbuilder2';
import { cli, tempDir } from '../cli/cli-harness.ts';
import { SCHEME_IDS, SCHEMES } from '../../src/explorer/schemes.ts';

/** The DOM surface the test reads (xmlbuilder2 parses into @oozcitak/dom nodes; tsconfig has no DOM lib). */
interface Element {
  readonly nodeName: string;
  readonly namespaceURI: string | null;
  getAttribute(name: string): string | null;
  getElementsByTagName(name: string): ArrayLike<Element>;
}

const deliveryRows = SCHEME_IDS.reduce((n, s) => n + SCHEMES[s].deliveries.length, 0);

describe('remapsim explore (text and JSON)', () => {
  it('prints the comparison table with units in every column header', async () => {
    const r = await cli(['explore', '--topology', '2s:64c:2t', '--guest', 'linux']);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    for (const h of ['(vCPUs)', '(APIC ID)', '(/intr)', '(/MSI)', '(/IOTLB miss)']) expect(r.out).toContain(h);
    expect(r.out).toMatch(/xAPIC physical\s+│ posted\s+│ 255\/256/);
    expect(r.out).toMatch(/vIOMMU IR\+DMA\s+│ posted\s+│ 256\/256 .*│ 24\s+│ yes/);
    expect(r.out).toContain('HYPOTHETICAL direct');
    expect(r.out).toContain('broadcast-collision: vCPU 255, APIC ID 255');
  });

  it('--json is one document with every row', async () => {
    const r = await cli(['explore', '--apic-ids', '0-3,255,256,32767,32768', '--guest', 'windows', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { rows: { scheme: string; delivery: string; reachable: number; unreachable: { code: string }[] }[]; guest: string };
    expect(j.guest).toBe('windows');
    expect(j.rows).toHaveLength(deliveryRows);
    const ext = j.rows.find((x) => x.scheme === 'ext-dest-id' && x.delivery === 'posted')!;
    expect(ext.reachable).toBe(7);
    expect(ext.unreachable[0]!.code).toBe('truncated-destination');
  });

  it.each([
    [['explore', '--topology', '2x:4c'], '--topology'],
    [['explore'], 'exactly one of'],
    [['explore', '--topology', '2s', '--apic-ids', '0'], 'exactly one of'],
    [['explore', '--topology', '2s', '--guest', 'plan9'], "unknown guest 'plan9'"],
    [['explore', '--topology', '2s', '--sweep', '9..3'], '--sweep'],
    [['explore', '--apic-ids', '0-7', '--sweep', '1..64'], 'the list has 8'],
    [['explore', '--topology', '2s', '--schemes', 'nope'], '--schemes'],
    [['explore', '--topology', '2s', '--svg', '/nonexistent-dir/x.svg', '--sweep', '1..2'], 'cannot write'],
  ])('bad arguments %j: exit 2 with one line', async (argv, text) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain(text);
  });
});

describe('remapsim explore --svg (a sweep 1..4096)', () => {
  const tmp = tempDir('explore');
  const file = join(tmp.dir, 'plot.svg');
  let out = '';

  // No timing bound here (the project's rule: time is measured in BENCHMARKS.md, not asserted);
  // the generous hook timeout is for a loaded CI machine only.
  beforeAll(async () => {
    const r = await cli(['explore', '--topology', '2s:64c:2t', '--svg', file]);
    expect(r.code).toBe(0);
    out = r.out;
  }, 600_000);
  afterAll(() => tmp.cleanup());

  it('writes the file atomically (no temporary file left) and says so', () => {
    expect(existsSync(file)).toBe(true);
    expect(readdirSync(tmp.dir)).toEqual(['plot.svg']);
    expect(out).toContain(`Plot written to ${file}.`);
    expect(out).toMatch(/Sweep: reachable vCPUs/);
  });

  it('is SVG with four panels, each with an x and a y axis, titled with the VM and guest', () => {
    const root = create(readFileSync(file, 'utf8')).root().node as unknown as Element;
    expect(root.nodeName).toBe('svg');
    expect(root.namespaceURI).toBe('http://www.w3.org/2000/svg');
    const title = Array.from(root.getElementsByTagName('text')).find((t) => t.getAttribute('class') === 'plot-title') as unknown as { textContent: string };
    expect(title.textContent).toBe('remapsim explore: 2s:1d:64c:2t (256 vCPUs), guest Linux (x86-64)');
    const panels = Array.from(root.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'panel');
    expect(panels.map((p) => p.getAttribute('data-panel'))).toEqual(['reachable', 'memory-references', 'vm-exits', 'dma']);
    for (const p of panels) {
      const axes = Array.from(p.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'axis');
      expect(axes.map((a) => a.getAttribute('data-axis'))).toEqual(['x', 'y']);
      const xTicks = Array.from(axes[0]!.getElementsByTagName('g')).map((t) => Number(t.getAttribute('data-value')));
      expect(xTicks).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]);
      expect(axes[1]!.getElementsByTagName('g').length).toBeGreaterThan(1);
    }
  });

  it('every scheme (reachable) and scheme × delivery (costs) is in exactly one drawn series, equal series merged, one point per VM size', () => {
    const root = create(readFileSync(file, 'utf8')).root().node as unknown as Element;
    const panel = (id: string): Element => Array.from(root.getElementsByTagName('g')).find((g) => g.getAttribute('data-panel') === id)!;
    const series = (p: Element): Element[] => Array.from(p.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'series');
    const members = (s: Element): string[] => (s.getAttribute('data-members') ?? '').split(' ');
    const holding = (ss: Element[], member: string): Element => ss.find((s) => members(s).includes(member))!;
    const y = (s: Element): number[] => Array.from(s.getElementsByTagName('circle')).map((c) => Number(c.getAttribute('data-y')));
    const reach = series(panel('reachable'));
    expect(reach.flatMap(members).sort()).toEqual(SCHEME_IDS.map((id) => `${id}/all`).sort());
    // The schemes that reach all 4,096 are one line, not four drawn over each other.
    expect(reach.length).toBeLessThan(SCHEME_IDS.length);
    expect(members(holding(reach, 'viommu-ir/all'))).toEqual(['ext-dest-id/all', 'viommu-ir/all', 'viommu-ir-dma/all', 'direct-vcpu-msi/all']);
    for (const s of reach) expect(s.getElementsByTagName('circle').length).toBe(13);
    expect(y(holding(reach, 'xapic-physical/all')).at(-1)).toBe(255);
    expect(y(holding(reach, 'x2apic-compat/all')).at(-1)).toBe(256);
    // Every one of the 4,096 reached remapped and posted (the minimum over deliveries): explore.test.ts's
    // 4,096-vCPU IR case checks its boundary IDs only and relies on this for all of them.
    expect(y(holding(reach, 'viommu-ir/all')).at(-1)).toBe(4096);
    for (const id of ['memory-references', 'vm-exits']) {
      const ss = series(panel(id));
      expect(ss.flatMap(members)).toHaveLength(deliveryRows);
      // No two drawn series have the same values (those are merged) and each has its own offset.
      expect(new Set(ss.map((s) => JSON.stringify(y(s)))).size).toBe(ss.length);
      expect(new Set(ss.map((s) => s.getAttribute('data-offset'))).size).toBe(ss.length);
      // Every scheme is simulated: every cost series has all 13 points.
      for (const s of ss) expect(s.getElementsByTagName('circle').length).toBe(13);
    }
    const exits = series(panel('vm-exits'));
    expect(y(holding(exits, 'viommu-ir/remapped'))).toEqual(Array(13).fill(1));
    expect(y(holding(exits, 'viommu-ir/posted'))).toEqual(Array(13).fill(0));
    // Steady state: the IRTE re-read appears once more vCPUs than IEC entries (64) take interrupts.
    expect(y(holding(series(panel('memory-references')), 'viommu-ir/remapped'))).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    // DMA remapping for the guest: only the IR+DMA row walks nested (24), everything else 4, as two lines.
    const dma = series(panel('dma'));
    expect(dma.map((s) => [y(s)[0], members(s).length])).toEqual([
      [4, SCHEME_IDS.length - 1],
      [24, 1],
    ]);
    expect(members(holding(dma, 'viommu-ir-dma/all'))).toEqual(['viommu-ir-dma/all']);
    // Markers: 255 inside the sweep; the VM's own size (256) too.
    const markers = Array.from(panel('reachable').getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'marker');
    expect(markers.map((m) => [m.getAttribute('data-marker'), m.getAttribute('data-x')])).toEqual([
      ['255', '255'],
      ['vm', '256'],
    ]);
  });
});
