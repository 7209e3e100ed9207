/**
 * `remapsim compare` (src/cli/compare.ts) and the cost model it prints (src/vmm/costs.ts):
 * one scenario under several VMM designs side by side, as a table and as JSON; its check
 * section run per design; bad input is one line and exit 2.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';
import { countCosts, stepKind, vmmCosts } from '../../src/vmm/costs.ts';
import { designsOf, matchingPolicy } from '../../src/cli/compare.ts';
import { VMM_DESIGNS } from '../../src/vmm/index.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';

const SPEC = repo('specs/vmm/compare-posted.yaml');

/** The row of a cli-table3 table whose first cell is `label`, as trimmed cells. */
function row(out: string, label: string): string[] {
  const line = out.split('\n').find((l) => l.startsWith(`│ ${label} `));
  expect(line, `no row ${label} in\n${out}`).toBeDefined();
  return line!
    .split('│')
    .slice(1, -1)
    .map((c) => c.trim());
}

describe('vmmCosts', () => {
  const ev = (e: Record<string, unknown>): PlatformEvent => ({ step: 0, ...e }) as unknown as PlatformEvent;
  const access = (write: boolean, regions: string[]): PlatformEvent =>
    ev({ kind: 'guest-access', device: 'd', space: 'mmio', write, bar: 0, offset: 0, size: 4, value: 0n, regions, written: [], unmasked: [], masked: [] });
  const cost = (c: string): PlatformEvent => ev({ kind: 'vmm-cost', cost: c, detail: '' });

  it('counts each kind of event once', () => {
    const c = countCosts([
      cost('trap'),
      cost('vm-exit'),
      cost('vm-exit'),
      cost('dm-round-trip'),
      cost('hypercall'),
      cost('ioctl'),
      ev({ kind: 'memory-write', address: 0n, bytes: 16, value: 0n, what: 'IRTE 3 of dmar0' }),
      ev({ kind: 'memory-write', address: 0n, bytes: 8, value: 0n, what: 'PID of vCPU 0: ON=0' }),
      ev({ kind: 'iec-invalidate', iommu: 0, descriptor: 0n, granularity: 'index', index: 3, count: 1, dropped: [] }),
      ev({ kind: 'interrupt-injected', device: 'd', vcpu: 0, vector: 0x41 }),
      ev({ kind: 'interrupt-posted', device: 'd' }),
      ev({ kind: 'kvm-routing', gsi: 24, change: 'full', address: 0n, data: 0, used: 1, capacity: 1 }),
      ev({ kind: 'kvm-routing', gsi: 24, change: 'add', address: 0n, data: 0, used: 1, capacity: 1 }),
    ]);
    expect(c).toEqual({ traps: 1, vmExits: 2, dmRoundTrips: 1, hypercalls: 1, ioctls: 1, tableWrites: 0, irteWrites: 1, iecInvalidations: 1, injections: 1, postings: 1, routesRefused: 1 });
  });

  it('splits steps into MSI-X programming, interrupts and the rest, with per-occurrence averages', () => {
    const raised = ev({ kind: 'device-raised', device: 'd', entry: 0 });
    const steps = [
      { events: [access(true, ['table']), cost('trap'), cost('vm-exit')] },
      { events: [access(true, ['config']), cost('trap'), cost('vm-exit'), cost('ioctl')] },
      { events: [access(true, ['page']), cost('trap')] },
      { events: [access(false, ['pba']), cost('trap')] },
      { events: [raised, cost('vm-exit'), ev({ kind: 'interrupt-injected', device: 'd', vcpu: 0, vector: 0x41 })] },
      { events: [raised, ev({ kind: 'interrupt-posted', device: 'd' })] },
    ];
    expect(steps.map((s) => stepKind(s.events))).toEqual(['programming', 'programming', 'other', 'other', 'interrupt', 'interrupt']);
    const c = vmmCosts(steps);
    expect(c.programming.occurrences).toBe(2);
    expect(c.programming.total).toMatchObject({ traps: 2, vmExits: 2, ioctls: 1 });
    expect(c.programming.average).toMatchObject({ traps: 1, vmExits: 1, ioctls: 0.5 });
    expect(c.interrupt.occurrences).toBe(2);
    expect(c.interrupt.total).toMatchObject({ vmExits: 1, injections: 1, postings: 1 });
    expect(c.interrupt.average).toMatchObject({ vmExits: 0.5, injections: 0.5, postings: 0.5 });
    expect(c.other).toMatchObject({ occurrences: 2, total: { traps: 2 } });
    expect(c.all).toMatchObject({ traps: 4, vmExits: 3, ioctls: 1, injections: 1, postings: 1 });
    expect(vmmCosts([]).programming.average.traps).toBe(0);
    expect(vmmCosts([]).kvmRoutesInUse).toBe(0);
  });
});

describe('designs and policies', () => {
  it('defaults to every correct design, in registry order', () => {
    expect(designsOf(undefined).slice(0, 3)).toEqual(['qemu-kvm', 'xen', 'vfio-msi-virt-off']);
    expect(designsOf(undefined)).toEqual(Object.values(VMM_DESIGNS).filter((d) => !d.broken && d.comparedByDefault !== false).map((d) => d.name));
    expect(designsOf(undefined)).not.toContain('ims-hypercall');
    expect(designsOf('xen, qemu-kvm-broken-lazy-routes')).toEqual(['xen', 'qemu-kvm-broken-lazy-routes']);
  });
  it('matches each design with its hypervisor', () => {
    expect(['qemu-kvm', 'qemu-kvm-broken-lazy-routes', 'xen', 'xen-broken-dm-page-write'].map(matchingPolicy)).toEqual(['kvm', 'kvm', 'xen', 'xen']);
  });
});

describe('remapsim compare', () => {
  it('prints one column per design: verdicts, expectations and costs', async () => {
    const r = await cli(['compare', SPEC, '--vmm', 'qemu-kvm,xen', '--policy', 'matching']);
    expect(r.err).toBe('');
    expect(r.code, r.out).toBe(0);
    expect(r.out.split('\n')[0]).toBe(`compare: compare-posted (${SPEC})`);
    expect(row(r.out, 'compare-posted')).toEqual(['compare-posted', 'qemu-kvm', 'xen']);
    expect(row(r.out, 'policy')).toEqual(['policy', 'kvm', 'xen']);
    for (const p of ['P1 interrupt isolation', 'P3 no lost interrupt', 'P5 determinism', 'P7 guest intent']) expect(row(r.out, p)).toEqual([p, 'HELD', 'HELD']);
    for (const p of ['P2 DMA isolation', 'P4 coherence', 'P6 fault accountability']) expect(row(r.out, p)).toEqual([p, 'n/a', 'n/a']);
    expect(row(r.out, 'expectations')).toEqual(['expectations', '3 held', '3 held']);
    expect(row(r.out, 'check')).toEqual(['check', 'n/a', 'n/a']);
    expect(row(r.out, 'per MSI set-up')).toEqual(['per MSI set-up', '11 set-ups', '11 set-ups']);
    expect(row(r.out, 'per interrupt')).toEqual(['per interrupt', '4 raised', '4 raised']);
    // QEMU's KVM routes and ioctls against Xen's hypercalls and device-model round trips.
    expect(row(r.out, 'KVM routes in use at the end')).toEqual(['KVM routes in use at the end', '2 of 4096', 'n/a']);
    expect(row(r.out, '  ioctls')[1]).toMatch(/^[1-9]\d* \(/);
    expect(row(r.out, '  hypercalls')[1]).toBe('0 (0)');
    expect(row(r.out, '  hypercalls')[2]).toMatch(/^[1-9]\d* \(/);
    expect(r.out).toContain('costs: total (average per occurrence)');
    expect(r.out).not.toContain('VIOLATION');
  });

  it('is deterministic', async () => {
    const a = await cli(['compare', SPEC, '--policy', 'matching']);
    const b = await cli(['compare', SPEC, '--policy', 'matching']);
    expect(a.out).toBe(b.out);
    expect(a.out).toContain('│ qemu-kvm');
  });

  it('keeps the scenario\'s policy unless --policy names one', async () => {
    const kept = await cli(['compare', SPEC, '--vmm', 'xen']);
    expect(row(kept.out, 'policy')).toEqual(['policy', 'kvm']);
    const named = await cli(['compare', SPEC, '--vmm', 'qemu-kvm', '--policy', 'xen']);
    expect(row(named.out, 'policy')).toEqual(['policy', 'xen']);
  });

  it('--json: the same comparison, numbers as numbers and addresses as 0x strings', async () => {
    const r = await cli(['compare', SPEC, '--vmm', 'qemu-kvm,xen', '--policy', 'matching', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as {
      file: string;
      scenario: string;
      designs: {
        design: string;
        policy: string;
        ok: boolean;
        properties: Record<string, { verdict: string; violations: unknown[] }>;
        expectations: { checked: number; failures: unknown[] };
        check: unknown;
        costs: { programming: { occurrences: number; total: Record<string, number>; average: Record<string, number> }; interrupt: { occurrences: number }; kvmRoutesInUse: number; kvmRouteCapacity: number };
        kvmRoutes: { gsi: number; address: string; data: string; device: string; entry: number }[];
      }[];
    };
    expect(j.scenario).toBe('compare-posted');
    expect(j.designs.map((d) => [d.design, d.policy, d.ok])).toEqual([
      ['qemu-kvm', 'kvm', true],
      ['xen', 'xen', true],
    ]);
    const [q, x] = j.designs;
    expect(Object.fromEntries(Object.entries(q!.properties).map(([k, v]) => [k, v.verdict]))).toEqual({ P1: 'HELD', P2: 'n/a', P3: 'HELD', P4: 'n/a', P5: 'HELD', P6: 'n/a', P7: 'HELD' });
    expect(q!.check).toBeNull();
    expect(q!.expectations).toEqual({ checked: 3, failures: [] });
    expect(q!.costs.programming.occurrences).toBe(11);
    expect(typeof q!.costs.programming.total['traps']).toBe('number');
    expect(typeof q!.costs.programming.average['irteWrites']).toBe('number');
    expect(q!.costs.interrupt.occurrences).toBe(4);
    expect(q!.costs.kvmRoutesInUse).toBe(2);
    expect(q!.costs.kvmRouteCapacity).toBe(4096);
    expect(q!.kvmRoutes).toEqual([
      { gsi: 24, address: '0xfee01000', data: '0x41', device: '81:00.0', entry: 0 },
      { gsi: 25, address: '0xfee03004', data: '0x42', device: '81:00.0', entry: 1 },
    ]);
    expect(x!.kvmRoutes).toEqual([]);
    expect(x!.costs.programming.total['hypercalls']).toBeGreaterThan(0);
    // Table and JSON agree.
    const t = await cli(['compare', SPEC, '--vmm', 'qemu-kvm,xen', '--policy', 'matching']);
    expect(row(t.out, '  traps')[1]).toBe(`${q!.costs.programming.total['traps']} (${Math.round(q!.costs.programming.average['traps']! * 100) / 100})`);
  });

  describe('with a check: section', () => {
    const tmp = tempDir('compare');
    afterAll(() => tmp.cleanup());
    const text = readFileSync(SPEC, 'utf8').replaceAll('../../data/', `${repo('data')}/`);

    it('runs the check per design, in this thread, writing nothing', async () => {
      const file = tmp.write(
        'checked.yaml',
        `${text}check:\n  adversary:\n    guests: [vm1]\n    software: [halt, schedule, preempt]\n    devices: [signal]\n  properties: [P1, P3, P7]\n  budget: { runs: 20, steps: 5, seconds: 30, seed: 1 }\n`,
      );
      const r = await cli(['compare', file, '--vmm', 'qemu-kvm,xen', '--policy', 'matching']);
      expect(r.err).toBe('');
      expect(row(r.out, 'check')).toEqual(['check', 'HELD over 20 runs', 'HELD over 20 runs']);
      expect(r.code).toBe(0);
      const j = JSON.parse((await cli(['compare', file, '--vmm', 'xen', '--runs', '10', '--json'])).out) as { designs: { check: { verdict: string; runs: number; properties: string[] } }[] };
      expect(j.designs[0]!.check).toEqual({ verdict: 'HELD', properties: ['P1', 'P3', 'P7'], runs: 10 });
      expect(readFileSync(file, 'utf8')).toBe(`${text}check:\n  adversary:\n    guests: [vm1]\n    software: [halt, schedule, preempt]\n    devices: [signal]\n  properties: [P1, P3, P7]\n  budget: { runs: 20, steps: 5, seconds: 30, seed: 1 }\n`);
      // A design under which the scenario's own steps fail an expectation: its check is not run.
      const broken = await cli(['compare', file, '--vmm', 'qemu-kvm-broken-lazy-routes']);
      expect(broken.code).toBe(1);
      expect(row(broken.out, 'check')).toEqual(['check', 'not run (expectation failed)']);
      expect(broken.out).toMatch(/^qemu-kvm-broken-lazy-routes: check NOT RUN: the scenario's own step \d+ fails its expectation/m);
    });
  });

  it('a design whose run breaks an expectation: exit 1, the failure named', async () => {
    const r = await cli(['compare', SPEC, '--vmm', 'qemu-kvm,qemu-kvm-broken-lazy-routes', '--policy', 'matching']);
    expect(r.code).toBe(1);
    expect(row(r.out, 'expectations')).toEqual(['expectations', '3 held', '1 of 3 FAILED']);
    expect(r.out).toMatch(/^qemu-kvm-broken-lazy-routes: EXPECTATION FAILED at step \d+: expected a posting/m);
  });

  describe('bad input: one line, exit 2', () => {
    it('an unknown design', async () => {
      const r = await cli(['compare', SPEC, '--vmm', 'qemu-kvm,nope']);
      expect(r).toMatchObject({ code: 2, out: '' });
      expect(r.err).toBe(`remapsim: --vmm: unknown VMM design 'nope' (known: ${Object.keys(VMM_DESIGNS).join(', ')})\n`);
    });
    it('a design named twice, or none', async () => {
      expect((await cli(['compare', SPEC, '--vmm', 'xen,xen'])).err).toBe("remapsim: --vmm: VMM design 'xen' is named twice\n");
      expect((await cli(['compare', SPEC, '--vmm', ','])).err).toBe('remapsim: --vmm: name at least one VMM design\n');
    });
    it('an unknown policy', async () => {
      const r = await cli(['compare', SPEC, '--policy', 'hyperv']);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^remapsim: --policy: unknown hypervisor policy 'hyperv' \(known: matching, kvm, xen, /);
    });
    it('a missing file', async () => {
      const missing = repo('specs/vmm/no-such-file.yaml');
      const r = await cli(['compare', missing]);
      expect(r).toEqual({ code: 2, out: '', err: `remapsim: ${missing}: cannot read scenario: no such file or directory (ENOENT)\n` });
    });
    it('an invalid scenario names the file, line and field', async () => {
      const tmp = tempDir('compare-bad');
      try {
        const file = tmp.write('bad.yaml', readFileSync(SPEC, 'utf8').replace('  cpus: { count: 8 }', '  cpus: { count: 8 }\n  colour: blue'));
        const r = await cli(['compare', file]);
        expect(r.code).toBe(2);
        expect(r.out).toBe('');
        expect(r.err).toMatch(new RegExp(`^remapsim: ${file.replaceAll('.', '\\.')}:\\d+: platform\\.colour: unknown field\\n$`));
      } finally {
        tmp.cleanup();
      }
    });
  });
});
