/**
 * P2 (DMA isolation) and P4 (coherence) over random DMA runs (issue "Two-stage DMA
 * translation", item 7): fast-check with fixed seeds over runs built by
 * test/properties/dma-search.ts — hypervisor map/unmap operations with correct invalidation
 * interleaved with adversarial device DMA, in legacy, second-stage, first-stage and nested
 * mode (picked per run). And each property shown able to fail: the same generator finds a P4
 * violation against a hypervisor whose unmap skips the IOTLB invalidation, and P2 (then a
 * forged interrupt, P1) against one whose second stage maps the IRT page into the guest.
 */
import { describe, expect, it } from 'vitest';
import { MODES, searchDma, type GeneratedRun, type DmaRun, type Mode } from './dma-search.ts';

/** Situations a run reached, counted over the runs of a search. */
interface Coverage {
  runs: Record<Mode, number>;
  iotlbHits: number;
  walks: number;
  faults: number;
  windowWrites: number;
  foreignIova: number;
  afterUnmap: number;
  unmaps: number;
  maps: number;
}

function cover(c: Coverage, run: GeneratedRun, r: DmaRun): void {
  c.runs[run.mode]++;
  const unmapped: { device: string; start: bigint; end: bigint }[] = [];
  run.steps.forEach((s, i) => {
    const u = s['unmap-dma'] as { device: string; iova: string; size: string } | undefined;
    if (u !== undefined) {
      c.unmaps++;
      unmapped.push({ device: u.device, start: BigInt(u.iova), end: BigInt(u.iova) + BigInt(u.size) });
    }
    if (s['map-dma'] !== undefined) c.maps++;
    const d = s['dma'] as { device: string; address: string } | undefined;
    if (d === undefined) return;
    const address = BigInt(d.address);
    if (address >> 20n === 0xfeen) c.windowWrites++;
    // 07:00.0's IOVAs are below 0x50000 (and its 2 MiB page at 0x40000000); 08:00.0's from 0x50000.
    const other = d.device === '07:00.0' ? (address >= 0x50000n && address < 0x60000n) || address >> 21n === 0x202n : address < 0x50000n || address >> 21n === 0x200n;
    if (other) c.foreignIova++;
    if (unmapped.some((u) => u.device === d.device && address >= u.start && address < u.end)) c.afterUnmap++;
    for (const e of r.events[i] ?? []) {
      if (e.kind === 'dma-access' && e.translation === 'iotlb-hit') c.iotlbHits++;
      if (e.kind === 'dma-access' && e.translation === 'walk') c.walks++;
      if (e.kind === 'dma-fault') c.faults++;
    }
  });
}

const emptyCoverage = (): Coverage => ({ runs: { legacy: 0, 'second-stage': 0, 'first-stage': 0, nested: 0 }, iotlbHits: 0, walks: 0, faults: 0, windowWrites: 0, foreignIova: 0, afterUnmap: 0, unmaps: 0, maps: 0 });

describe('P2 and P4 hold over random DMA runs with a correct hypervisor', () => {
  it('1,000 runs (seed 0xd4a0001), every mode, no violation, no rejected action', () => {
    const c = emptyCoverage();
    const r = searchDma('correct', { seed: 0xd4a_0001, numRuns: 1_000, onRun: (run, res) => cover(c, run, res) });
    console.log(`correct hypervisor: ${r.runs} runs in ${r.ms.toFixed(0)} ms; coverage ${JSON.stringify(c)}`);
    expect(r.findings, r.findings.map((f) => `${f.property}: ${f.message}`).join('\n')).toEqual([]);
    expect(r.failed).toBe(false);
    expect(r.runs).toBe(1_000);
    // The runs reached what the properties are about, in every mode.
    for (const m of MODES) expect(c.runs[m]).toBeGreaterThan(150);
    expect(c.iotlbHits).toBeGreaterThan(500);
    expect(c.walks).toBeGreaterThan(1_000);
    expect(c.faults).toBeGreaterThan(1_000);
    expect(c.windowWrites).toBeGreaterThan(500);
    expect(c.foreignIova).toBeGreaterThan(500);
    expect(c.afterUnmap).toBeGreaterThan(200);
    expect(c.unmaps).toBeGreaterThan(1_000);
    expect(c.maps).toBeGreaterThan(500);
  });
});

describe('each property can fail: the same generator finds the broken hypervisors', () => {
  it('unmap without IOTLB invalidation (invalidate: false): a P4 violation, shrunk to a handful of steps', () => {
    const r = searchDma('no-unmap-invalidation', { seed: 0xd4a_0004, numRuns: 2_000, properties: ['P4'] });
    console.log(`no-unmap-invalidation: P4 after ${r.runs} run(s), seed ${r.seed}, path ${r.path}, ${r.run?.mode} mode:\n${JSON.stringify(r.run?.steps, null, 1)}`);
    expect(r.failed).toBe(true);
    const p4 = r.findings.find((f) => f.property === 'P4');
    expect(p4?.message).toMatch(/through a stale IOTLB entry to HPA 0x[0-9a-f]+; the tables now give fault/);
    const steps = r.run!.steps;
    expect(steps.length).toBeLessThanOrEqual(5);
    // The shape of the bug: an access that fills the IOTLB, the unmap that skips the invalidation, the stale access.
    const kinds = steps.map((s) => Object.keys(s)[0]);
    expect(kinds.at(-1)).toBe('dma');
    expect(kinds).toContain('unmap-dma');
    expect(steps.find((s) => s['unmap-dma'] !== undefined)!['unmap-dma']).toMatchObject({ invalidate: false });
    expect(p4!.generated).toBe(steps.length - 1);
  });

  it('second stage maps the IRT page into the guest: a P2 violation (a DMA write lands on the IRT), one step', () => {
    const r = searchDma('irt-mapped', { seed: 0xd4a_0002, numRuns: 2_000, properties: ['P2'] });
    console.log(`irt-mapped: P2 after ${r.runs} run(s), seed ${r.seed}, path ${r.path}:\n${JSON.stringify(r.run?.steps)}`);
    expect(r.failed).toBe(true);
    expect(r.findings[0]?.property).toBe('P2');
    expect(r.findings[0]?.message).toMatch(/07:00\.0 (wrote|read) HPA 0x100000[0-9a-f]{2}\+\d+: the IRT of dmar0/);
    expect(r.run!.steps.length).toBe(1);
  });

  it('second stage maps the IRT page: a forged interrupt (P1) through an IRTE the device wrote, two steps', () => {
    const r = searchDma('irt-mapped', { seed: 0xd4a_0002, numRuns: 5_000, properties: ['P1'] });
    console.log(`irt-mapped: P1 after ${r.runs} run(s), seed ${r.seed}, path ${r.path}:\n${JSON.stringify(r.run?.steps)}`);
    expect(r.failed).toBe(true);
    const p1 = r.findings.find((f) => f.property === 'P1');
    // Whatever the shrunk IRTE looks like, the interrupt comes from vm1's device through an IRTE it wrote.
    expect(p1?.message).toMatch(/^07:00\.0 (delivered vector|\(requester ID)/);
    expect(JSON.stringify(r.run!.steps[0])).toMatch(/"device":"07:00.0","address":"0x[0-9a-f]{1,3}"/);
    expect(JSON.stringify(r.run!.steps[1])).toMatch(/"address":"0xfee/);
    expect(r.findings.some((f) => f.property === 'P2' && /the IRT of dmar0/.test(f.message))).toBe(true);
    expect(r.run!.steps.length).toBe(2);
  });
});
