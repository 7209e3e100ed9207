/**
 * `remapsim dump` of DMA remapping (src/scenario/dump.ts formatDmaDump): the
 * dmar_translation_struct row of each device and the domain_translation_struct rows of its
 * page tables, checked against what a walk of the same memory reads (translateDma's
 * references), on specs/dma/legacy.yaml, second-stage.yaml and nested.yaml; and an IR-only
 * scenario's dump has no DMA section.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { parseScenarioFile } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { formatDmaDump, formatIrtDump } from '../../src/scenario/dump.ts';
import { main } from '../../src/cli/main.ts';
import { translateDma, type MemoryReference } from '../../src/vtd/dma/walk.ts';
import { dmaCapabilities } from '../../src/platform/dma-access.ts';
import type { PlatformState } from '../../src/platform/state.ts';

const spec = (name: string): string => fileURLToPath(new URL(`../../specs/${name}`, import.meta.url));
const final = (name: string): PlatformState => runScenario(compileScenario(parseScenarioFile(spec(name)))).final;
const q = (v: bigint): string => `0x${(v & 0xffff_ffff_ffff_ffffn).toString(16).padStart(16, '0')}`;
const RID = 0x0700;

/** The walk of `iova` for 07:00.0 on the final state (a read: no A/D change matters, entries are as read). */
function walk(state: PlatformState, iova: bigint): MemoryReference[] {
  const unit = state.iommus[0]!;
  const r = translateDma(state.memory, { rtaddr: unit.regs.rtaddrLatched, cap: dmaCapabilities(unit, state.hostAddressWidth) }, { rid: RID, iova, size: 1, read: true, write: false });
  expect(r.ok).toBe(true);
  return r.references;
}

/** The domain_translation_struct row of a page-table section for IOVA (or GPA) frame `pfn`: its entry columns. */
function row(section: string, pfn: bigint): string[] | undefined {
  const prefix = `0x${pfn.toString(16).padStart(13, '0')} |\t`;
  const line = section.split('\n').find((l) => l.startsWith(prefix));
  return line?.slice(prefix.length).split('\t');
}

/** Text of the page-table sections, in order. */
function sections(dump: string): string[] {
  return dump.split(/\n(?=Device 0000:)/).slice(1);
}

/** The expected row: PML5E (0 for a 4-level table) down to the leaf, from the walk's entries of `stage`. */
function expectedRow(refs: readonly MemoryReference[], stage: 'first' | 'second'): string[] {
  const path = refs.filter((r) => r.stage === stage);
  const top = path[0]!.level;
  return [...Array.from({ length: 5 - top }, () => q(0n)), ...path.map((r) => q(r.entry))];
}

function dmarRow(dump: string): string[] {
  const line = dump.split('\n').find((l) => l.startsWith(' 07:00.0\t'));
  expect(line, dump).toBeDefined();
  return line!.trim().split('\t').map((c) => c.trim());
}

describe('remapsim dump: DMA-remapping structures', () => {
  it('legacy.yaml: root and context entries, PASID -1, and a row per mapped page (4 KiB PTEs, the 2 MiB PDE)', () => {
    const s = final('dma/legacy.yaml');
    const dump = formatIrtDump(s);
    expect(dump).toContain(' IOMMU dmar0: Root Table Address: 0x60000000  (legacy mode)');
    expect(dump).toContain(' B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry');
    const refs = walk(s, 0x11000n);
    const root = refs.find((r) => r.stage === 'root')!.entry;
    const ctx = refs.find((r) => r.stage === 'context')!.entry;
    expect(dmarRow(dump)).toEqual(['07:00.0', `${q(root >> 64n)}:${q(root)}`, `${q(ctx >> 64n)}:${q(ctx)}`, '-1', `${q(0n)}:${q(0n)}:${q(0n)}`]);
    // The real values, as the walk reads them: context entry DID 1, AW 2 (4-level), SLPTPTR 0x60001000.
    expect(dmarRow(dump)[2]).toBe('0x0000000000000102:0x0000000060001001');
    const [pt] = sections(dump);
    expect(pt).toMatch(/^Device 0000:07:00\.0 @0x60001000 {2}\[legacy, DID 1, 4-level second stage\]\nIOVA_PFN\t\tPML5E\t\t\tPML4E\t\t\tPDPE\t\t\tPDE\t\t\tPTE\n/);
    for (const iova of [0x10000n, 0x11000n]) expect(row(pt!, iova >> 12n)).toEqual(expectedRow(walk(s, iova), 'second'));
    expect(row(pt!, 0x11n)![4]).toBe('0x0000000080001003');
    // The 2 MiB page: one row, ending at its PDE (PS set, read-only).
    const huge = row(pt!, 0x40000n);
    expect(huge).toEqual(expectedRow(walk(s, 0x40123000n), 'second'));
    expect(huge).toHaveLength(4);
    expect(huge![3]).toBe('0x0000000090000081');
    expect(pt!.split('\n').filter((l) => l.startsWith('0x'))).toHaveLength(3);
  });

  it('second-stage.yaml: the PASID-table entry (PASID 0) and the second-stage rows', () => {
    const s = final('dma/second-stage.yaml');
    const dump = formatIrtDump(s);
    expect(dump).toContain('(scalable mode)');
    const refs = walk(s, 0x10000n);
    const pe = refs.find((r) => r.stage === 'pasid')!.entry;
    const ctx = refs.find((r) => r.stage === 'context')!.entry;
    const cols = dmarRow(dump);
    expect(cols[2]).toBe(`${q(ctx >> 64n)}:${q(ctx)}`);
    expect(cols[3]).toBe('0');
    expect(cols[4]).toBe(`${q(pe >> 128n)}:${q(pe >> 64n)}:${q(pe)}`);
    const [pt] = sections(dump);
    expect(pt).toMatch(/\[scalable, PASID 0, DID 1, 4-level second stage\]/);
    for (const iova of [0x10000n, 0x11000n, 0x40000000n]) expect(row(pt!, iova >> 12n)).toEqual(expectedRow(walk(s, iova), 'second'));
    expect(row(pt!, 0x12n)).toBeUndefined();
  });

  it('nested.yaml: the first stage (tables at GPAs) and the second stage (GPA frames, the first stage\'s table pages included)', () => {
    const s = final('dma/nested.yaml');
    const dump = formatIrtDump(s);
    const refs = walk(s, 0x10000n);
    expect(dmarRow(dump)[4]).toBe('0x00000000c0000001:0x0000000000000001:0x00000000600070c9');
    const [first, second] = sections(dump);
    expect(first).toMatch(/^Device 0000:07:00\.0 @0xc0000000 \(GPA\) {2}\[scalable, PASID 0, DID 1, nested: 4-level first stage over 4-level second stage; first stage\]/);
    // The first-stage row: PML4E..PTE as the walk read them (A set by the scenario's accesses, D on the leaf).
    expect(row(first!, 0x10n)).toEqual(expectedRow(refs, 'first'));
    expect(row(first!, 0x10n)![4]).toBe('0x0000000000200067');
    expect(first!.split('\n').filter((l) => l.startsWith('0x'))).toHaveLength(1);
    // The second stage maps the data GPA 0x200000 → 0x80000000 (the walk's last four second-stage reads)…
    const lastSecond = refs.filter((r) => r.stage === 'second').slice(-4);
    expect(row(second!, 0x200n)).toEqual([q(0n), ...lastSecond.map((r) => q(r.entry))]);
    expect(row(second!, 0x200n)![4]).toBe('0x0000000080000007');
    // …and the four first-stage table pages the guest allocated at GPA 0xc0000000–0xc0003000.
    for (const [k, hpa] of [[0n, '0x0000000060003003'], [1n, '0x0000000060004003'], [2n, '0x0000000060005003'], [3n, '0x0000000060006003']] as const) {
      expect(row(second!, 0xc0000n + k)![4]).toBe(hpa);
    }
  });

  it('through the CLI: remapsim dump prints the IRT sections, then the DMA ones', async () => {
    let out = '';
    expect(await main(['dump', spec('dma/insecure-irt-mapped.yaml')], (t) => void (out += t))).toBe(1);
    const ir = out.indexOf('Remapped Interrupt supported on IOMMU: dmar0');
    const dmar = out.indexOf('IOMMU dmar0: Root Table Address: 0x60000000');
    expect(ir).toBeGreaterThanOrEqual(0);
    expect(dmar).toBeGreaterThan(ir);
    // The bug is visible: IOVA 0 maps the IRT's page.
    expect(out).toMatch(/\n0x0000000000000 \|\t0x0{16}\t0x[0-9a-f]{16}\t0x[0-9a-f]{16}\t0x[0-9a-f]{16}\t0x0000000010000003\n/);
  });

  it('an IR-only scenario (specs/default.yaml) dumps exactly its IRT sections', async () => {
    const s = final('default.yaml');
    expect(formatDmaDump(s)).toBe('');
    const dump = formatIrtDump(s);
    expect(dump).not.toMatch(/Root Table Address|domain_translation_struct|IOVA_PFN/);
    let out = '';
    await main(['dump', spec('default.yaml')], (t) => void (out += t));
    expect(out).toBe(dump);
    expect(dump.endsWith('\n')).toBe(true);
    expect(dump.endsWith('\n\n')).toBe(false);
  });
});
