// The whole explorer: reachability needs both sides, the sweep's prefix counting agrees with
// separate runs, DMA costs come from simulated walks, and the guest-support table is data.
import { describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explore, parseSweep, sweepPoints } from '../../src/explorer/explore.ts';
import { loadGuestSupport, supportFor, DEFAULT_GUEST_SUPPORT_FILE } from '../../src/explorer/guest-support.ts';
import { parseTopology, topologyApicIds } from '../../src/explorer/topology.ts';
import { SCHEME_IDS, SCHEMES } from '../../src/explorer/schemes.ts';
import { nestedWalkCost, secondStageWalkCost } from '../../src/explorer/dma-cost.ts';
import { InputError } from '../../src/io/input-error.ts';

const support = loadGuestSupport();

describe('explore', () => {
  it('IR with EIM reaches the vCPUs of a 4,096-vCPU VM at every boundary, remapped and posted, each delivered on the host', () => {
    // The 8-bit (254, 255, 256), socket (127, 128, 2047, 2048) and last (4095) APIC IDs of
    // 32s:64c:2t: a vCPU's reach does not depend on the others (the sweep test below checks that
    // against separate runs for the 8-bit and extended-ID schemes). All 4,096 of these IDs
    // reached remapped and posted is test/explorer/cli-svg.test.ts's sweep (viommu-ir/all at
    // 4096; the same ID list: 2s:64c:2t extended to 4,096) — one 4,096-vCPU host simulation in
    // the suite instead of two (~20 s each) — and all 4,096 through the guest's IRTEs is
    // test/explorer/guest-layer.test.ts's.
    const all = topologyApicIds(parseTopology('32s:64c:2t'));
    expect(all).toHaveLength(4096);
    const boundary = new Set([0, 1, 127, 128, 254, 255, 256, 383, 384, 2047, 2048, 4094, 4095]);
    const ids = all.filter((id) => boundary.has(id));
    expect(ids).toHaveLength(boundary.size);
    const r = explore({ apicIds: ids, vm: '32s:64c:2t', guest: 'linux', guestSupport: support, schemes: ['viommu-ir'] });
    expect(r.rows.map((x) => [x.delivery, x.reachable, x.maxReachableApicId])).toEqual([
      ['remapped', ids.length, 4095],
      ['posted', ids.length, 4095],
    ]);
  });

  it('reports 8-bit losses with reasons, and the per-interrupt and per-MSI costs it counted', () => {
    const ids = topologyApicIds(parseTopology('5s:20c:2t')); // 200 vCPUs, IDs up to 295
    const r = explore({ apicIds: ids, vm: '5s:20c:2t', guest: 'windows', guestSupport: support });
    const row = (scheme: string, delivery: string) => r.rows.find((x) => x.scheme === scheme && x.delivery === delivery)!;
    expect(row('xapic-physical', 'posted').reachable).toBe(160);
    expect(row('xapic-physical', 'posted').unreachable.map((u) => [u.code, u.count])).toEqual([['truncated-destination', 40]]);
    expect(row('ext-dest-id', 'posted').reachable).toBe(200);
    expect(row('ext-dest-id', 'posted').guest.support).toBe('no'); // Windows, from data/guest-support.yaml
    expect(row('viommu-ir', 'remapped').perInterrupt).toEqual({ irteReads: 1, tableReads: 0, pidReads: 0, pidWrites: 0, notifications: 0, vmExits: 1 });
    expect(row('viommu-ir', 'posted').perMsi).toEqual({ trappedWrites: 5, guestIrteWrites: 1, hostIrteWrites: 1, invalidations: 2, hypervisorRequests: 1, hypercalls: 0 });
    expect(row('direct-vcpu-msi', 'direct').perMsi?.trappedWrites).toBe(0);
    // HYPOTHETICAL direct: simulated with the direct-post model — one vmm-start per VM (200 vAPIC entries + the VF's root entry, one invalidation), per interrupt a cold root + vAPIC entry read and the VT-d posting.
    expect(row('direct-vcpu-msi', 'direct').reachable).toBe(200);
    expect(row('direct-vcpu-msi', 'direct').perVm).toEqual({ irteWrites: 0, tableWrites: 201, invalidations: 1, hypervisorRequests: 1 });
    expect(row('direct-vcpu-msi', 'direct').perInterrupt).toEqual({ irteReads: 0, tableReads: 2, pidReads: 4, pidWrites: 2, notifications: 1, vmExits: 0 });
    expect(row('direct-vcpu-msi', 'direct').perMsi).toEqual({ trappedWrites: 0, guestIrteWrites: 0, hostIrteWrites: 0, invalidations: 0, hypervisorRequests: 0, hypercalls: 0 });
    expect(row('viommu-ir-dma', 'posted').dma.pagingReferences).toBe(24);
    expect(row('viommu-ir', 'posted').dma.pagingReferences).toBe(4);
    // The cluster model addresses 15 clusters × 4 members, APIC IDs 0..59: 40 of this sparse topology's IDs.
    expect(row('xapic-logical-cluster', 'posted').reachable).toBe(ids.filter((id) => id <= 59).length);
    expect(row('xapic-logical-cluster', 'posted').reachable).toBe(40);
    // Every row is labelled: hypothetical rows say so.
    expect(r.rows.filter((x) => x.hypothetical).map((x) => x.scheme)).toEqual(['direct-vcpu-msi']);
  });

  it('a sweep counts, for size n, the reached vCPUs among the first n — the same as a separate run of n vCPUs', () => {
    const big = topologyApicIds(parseTopology('2s:100c:2t'), 512); // sockets at bit 8: IDs 0..199, 256..455, 512..
    const schemes = ['xapic-physical', 'x2apic-compat', 'ext-dest-id'] as const;
    const points = [1, 100, 256, 300, 512];
    const r = explore({ apicIds: big, vm: 'x', guest: 'linux', guestSupport: support, schemes, sweep: { apicIds: big, points } });
    points.forEach((n, at) => {
      const alone = explore({ apicIds: big.slice(0, n), vm: 'x', guest: 'linux', guestSupport: support, schemes });
      for (const s of r.sweep!.series) expect(s.reachable[at]).toBe(alone.rows.find((x) => x.scheme === s.scheme && x.delivery === s.delivery)!.reachable);
    });
    const ext = r.sweep!.series.find((s) => s.scheme === 'ext-dest-id')!;
    const phys = r.sweep!.series.find((s) => s.scheme === 'xapic-physical')!;
    expect(ext.reachable).toEqual(points);
    expect(phys.reachable).toEqual([1, 100, 200, 200, 200]);
  });

  it('HYPOTHETICAL direct: the vAPIC ID is the 15-bit compatibility destination — 32767 is reached, 32768 truncates to APIC ID 0', () => {
    const r = explore({ apicIds: [0, 1, 32767, 32768], vm: 'x', guest: 'linux', guestSupport: support, schemes: ['direct-vcpu-msi'] });
    const row = r.rows[0]!;
    expect([row.delivery, row.reachable, row.maxReachableApicId]).toEqual(['direct', 3, 32767]);
    expect(row.unreachable.map((u) => [u.code, u.count])).toEqual([['truncated-destination', 1]]);
  });

  it('sweep points and ranges', () => {
    expect(sweepPoints(1, 4096)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]);
    expect(sweepPoints(3, 100)).toEqual([3, 4, 8, 16, 32, 64, 100]);
    expect(parseSweep('1..4096')).toEqual({ lo: 1, hi: 4096 });
    for (const bad of ['1-4096', '0..4', '5..2', '1..100000', 'a..b']) expect(() => parseSweep(bad)).toThrow(InputError);
  });

  it('an unknown guest is an InputError', () => {
    expect(() => explore({ apicIds: [0], vm: 'x', guest: 'plan9', guestSupport: support })).toThrow(InputError);
  });
});

describe('DMA cost per IOTLB miss, counted by walking', () => {
  it('host second stage: 4 paging references; nested 4 over 4: 24; 5 over 5: 35', () => {
    expect(secondStageWalkCost().pagingReferences).toBe(4);
    expect(nestedWalkCost(4, 4).pagingReferences).toBe(24);
    expect(nestedWalkCost(5, 5).pagingReferences).toBe(35);
  });
});

describe('guest support data', () => {
  it('every row names a known scheme and has at least one source; Linux has a row for every scheme', () => {
    expect(support.rows.length).toBeGreaterThan(0);
    for (const r of support.rows) {
      expect(SCHEME_IDS).toContain(r.scheme);
      expect(r.sources.length).toBeGreaterThan(0);
    }
    for (const s of SCHEME_IDS) expect(supportFor(support, 'linux', s).support).not.toBe('unknown');
    expect(supportFor(support, 'linux', 'ext-dest-id').support).toBe('yes');
    expect(supportFor(support, 'windows', 'ext-dest-id').support).toBe('no');
    expect(supportFor(support, 'windows', 'viommu-ir').support).toBe('yes');
    expect(supportFor(support, 'freebsd', 'viommu-ir').support).toBe('unknown');
    expect(DEFAULT_GUEST_SUPPORT_FILE.endsWith('data/guest-support.yaml')).toBe(true);
  });

  it('a bad table is an InputError naming the file and field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'remapsim-gs-'));
    try {
      const cases: [string, string][] = [
        ['guests: {linux: L}\nrows:\n  - {guest: linux, scheme: nope, support: yes, confidence: reported, note: x, sources: [a]}\n', 'rows[0].scheme'],
        ['guests: {linux: L}\nrows:\n  - {guest: linux, scheme: viommu-ir, support: yes, confidence: reported, note: x, sources: []}\n', 'rows[0].sources'],
        ['guests: {linux: L}\nrows:\n  - {guest: bsd, scheme: viommu-ir, support: yes, confidence: reported, note: x, sources: [a]}\n', 'rows[0].guest'],
        ['guests: {linux: L}\nrows:\n  - {guest: linux, scheme: viommu-ir, support: maybe, confidence: reported, note: x, sources: [a]}\n', 'rows[0].support'],
      ];
      for (const [text, field] of cases) {
        const f = join(dir, 'gs.yaml');
        writeFileSync(f, text);
        expect(() => loadGuestSupport(f)).toThrow(InputError);
        try {
          loadGuestSupport(f);
        } catch (e) {
          expect((e as InputError).field).toBe(field);
          expect((e as InputError).file).toBe(f);
        }
      }
      expect(() => loadGuestSupport(join(dir, 'missing.yaml'))).toThrow(InputError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every scheme documents what it needs and its sources', () => {
    for (const s of Object.values(SCHEMES)) {
      expect(s.needs.platform && s.needs.hypervisor && s.needs.guest).toBeTruthy();
      expect(s.sources.length).toBeGreaterThan(0);
      expect(s.hypothetical ? s.label.startsWith('HYPOTHETICAL') : true).toBe(true);
    }
  });
});
