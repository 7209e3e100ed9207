/**
 * The policies on AMD-Vi (src/policy/amd.ts, src/policy/vendor.ts): KVM's AVIC path writes the
 * device's own interrupt table, its DTE (IV, IntCtl = remapped, IntTabLen 9) with
 * INVALIDATE_DEVTAB_ENTRY + COMPLETION_WAIT, a GA-mode IRTE naming the vCPU's backing page with
 * INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT, and the AMD pair (0xfee00000, data = index);
 * scheduling updates IsRun / Destination, the GA log wakes a blocked vCPU, and no PID is ever
 * written into a backing page. Xen remaps (no AVIC). Each property is shown able to fail.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { decodeAmdIrte } from '../../src/amdvi/irte.ts';
import { decodeDte, INT_CTL } from '../../src/amdvi/dte.ts';
import { decodeCommand } from '../../src/amdvi/commands.ts';
import { amdTableAddress, amdTableKey, avicIrr, gaTagOf } from '../../src/policy/amd.ts';
import { vcpuList } from '../../src/platform/vcpu-table.ts';
import { repo } from '../cli/cli-harness.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';

const IVRS = repo('data/real-inputs/ivrs/lenovo-thinkpad-t14-gen3-amd.bin');

function scenario(policy: string, steps: string, opts: { ga?: boolean } = {}): string {
  const ga = opts.ga ?? true;
  return `
name: amd-policy
platform:
  ivrs: ${IVRS}
  apicMode: xapic
  cpus: { count: 4 }
  policy: ${policy}
devices:
  - { bdf: "04:00.0", msix: { tableSize: 4 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1, 2, 3], vcpus: 2, devices: ["04:00.0"] }
steps:
  - amdvi-enable: { iommu: 0, deviceTable: 0x10000000, commandBuffer: 0x10200000, eventLog: 0x10202000${ga ? ', ga: true, gaLog: 0x10204000' : ''} }
  - dte: { device: "04:00.0", mode: 0, ir: true, iw: true, domainId: 1 }
${steps}`;
}

const run = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, '/tmp/amd-policy.yaml')));
const events = (r: RunResult, i: number): readonly PlatformEvent[] => r.steps[i]!.events;
const TABLE = amdTableAddress(amdTableKey(0, 0x0400));

describe('kvm on AMD-Vi: a guest MSI becomes a GA-mode IRTE in the device table', () => {
  const r = run(scenario('kvm', `  - schedule: { vm: vm1, vcpu: 0, pcpu: 2 }
  - guest-msi: { device: "04:00.0", entry: 0, destination: 0, vector: 0x41 }
  - msix-control: { device: "04:00.0", enable: true }
  - signal: { device: "04:00.0", vector: 0 }
    expect: { posted: { virtualVector: 0x41, notified: true } }
`));
  const setup = events(r, 3);
  const v0 = vcpuList(r.final.vcpus)[0]!;

  it('writes the DTE, the IRTE and the AMD pair, each change invalidated and waited for', () => {
    const writes = setup.filter((e) => e.kind === 'memory-write');
    const dte = decodeDte(writes.find((e) => e.kind === 'memory-write' && e.bytes === 32)!.value);
    expect(dte).toMatchObject({ IV: true, IntCtl: INT_CTL.REMAP, IntTabLen: 9, IntTabRootPtr: Number(TABLE >> 6n), V: true, IR: true, IW: true, DomainID: 1 });
    const irteWrite = writes.find((e) => e.kind === 'memory-write' && e.address === TABLE)!;
    const irte = decodeAmdIrte(irteWrite.kind === 'memory-write' ? irteWrite.value : 0n, true);
    expect(irte).toMatchObject({ format: 'ga-vapic', remapEn: true, isRun: true, destination: 2, vector: 0x41, backingPage: v0.pda, gaTag: gaTagOf(v0) });
    const commands = writes.filter((e) => e.kind === 'memory-write' && e.bytes === 16 && e.address >= 0x1020_0000n && e.address < 0x1020_2000n).map((e) => (e.kind === 'memory-write' ? decodeCommand(e.value).name : ''));
    expect(commands).toEqual(['INVALIDATE_DEVTAB_ENTRY', 'COMPLETION_WAIT', 'INVALIDATE_INTERRUPT_TABLE', 'COMPLETION_WAIT']);
    expect(r.final.devices['04:00.0']!.msix!.table[0]).toMatchObject({ address: 0xfee0_0000n, data: 0 });
    expect(r.steps.flatMap((s) => s.failures)).toEqual([]);
    expect(r.violations).toEqual([]);
    expect(r.lost).toEqual([]);
  });

  it('never writes a PID into a backing page', () => {
    expect(r.steps.flatMap((s) => s.events).some((e) => e.kind === 'memory-write' && (e.what ?? '').startsWith('PID'))).toBe(false);
  });
});

describe('kvm on AMD-Vi: scheduling updates IsRun / Destination, the GA log wakes a blocked vCPU', () => {
  const r = run(scenario('kvm', `  - schedule: { vm: vm1, vcpu: 0, pcpu: 2 }
  - guest-msi: { device: "04:00.0", entry: 0, destination: 0, vector: 0x41 }
  - msix-control: { device: "04:00.0", enable: true }
  - halt: { vm: vm1, vcpu: 0 }
  - signal: { device: "04:00.0", vector: 0 }
  - schedule: { vm: vm1, vcpu: 0, pcpu: 3 }
  - preempt: { vm: vm1, vcpu: 0 }
`));
  const irteAt = (i: number) => {
    const w = events(r, i).filter((e) => e.kind === 'memory-write' && e.address === TABLE);
    return w.length === 0 ? undefined : decodeAmdIrte(w[w.length - 1]!.kind === 'memory-write' ? (w[w.length - 1] as { value: bigint }).value : 0n, true);
  };

  it('halt: IsRun = 0, GALogIntr = 1; the interrupt is logged and its GA-log interrupt wakes the vCPU', () => {
    expect(irteAt(5)).toMatchObject({ isRun: false, gaLogIntr: true });
    const e = events(r, 6);
    expect(e.some((x) => x.kind === 'amdvi-ga-log')).toBe(true);
    expect(e.some((x) => x.kind === 'vcpu-state' && x.run === 'runnable' && x.was === 'blocked')).toBe(true);
  });

  it('load on another pCPU: Destination and IsRun = 1, and VMRUN takes the backing-page IRR', () => {
    expect(irteAt(7)).toMatchObject({ isRun: true, gaLogIntr: false, destination: 3 });
    expect(events(r, 7).some((x) => x.kind === 'pir-processed' && x.vectors.includes(0x41) && x.by === 'vm-entry')).toBe(true);
    expect(avicIrr(r.final, vcpuList(r.final.vcpus)[0]!)).toBe(0n);
  });

  it('put: IsRun = 0 without GALogIntr, and no property fails', () => {
    expect(irteAt(8)).toMatchObject({ isRun: false, gaLogIntr: false, destination: 3 });
    expect(r.violations).toEqual([]);
    expect(r.lost).toEqual([]);
  });
});

describe('xen on AMD-Vi remaps to a host vector (no AVIC)', () => {
  it('writes a remapped 128-bit IRTE and injects the guest vector in software', () => {
    const r = run(scenario('xen', `  - schedule: { vm: vm1, vcpu: 0, pcpu: 2 }
  - guest-msi: { device: "04:00.0", entry: 0, destination: 0, vector: 0x41 }
  - msix-control: { device: "04:00.0", enable: true }
  - signal: { device: "04:00.0", vector: 0 }
`));
    const w = events(r, 3).find((e) => e.kind === 'memory-write' && e.address === TABLE);
    expect(decodeAmdIrte(w !== undefined && w.kind === 'memory-write' ? w.value : 0n, true)).toMatchObject({ format: 'ga-remapped', remapEn: true, destination: 2 });
    expect(events(r, 5).some((e) => e.kind === 'interrupt-injected' && e.vector === 0x41)).toBe(true);
    expect(r.violations).toEqual([]);
  });
});

describe('the broken AMD variants fail where the correct policy holds', () => {
  const steps = `  - schedule: { vm: vm1, vcpu: 0, pcpu: 2 }
  - guest-msi: { device: "04:00.0", entry: 0, destination: 0, vector: 0x41 }
  - msix-control: { device: "04:00.0", enable: true }
  - signal: { device: "04:00.0", vector: 0 }
`;
  it('kvm-broken-amd-ga-remapen: the interrupt faults and P3 reports it lost; kvm holds', () => {
    expect(run(scenario('kvm-broken-amd-ga-remapen', steps)).lost.map((v) => v.message)).toEqual([expect.stringMatching(/blocked by the IOMMU \(remap-disabled, IO_PAGE_FAULT\): lost/)]);
    expect(run(scenario('kvm', steps)).lost).toEqual([]);
  });

  it('kvm-broken-amd-no-irt-flush: no invalidation command is written', () => {
    const r = run(scenario('kvm-broken-amd-no-irt-flush', steps));
    expect(events(r, 3).some((e) => e.kind === 'amdvi-command')).toBe(false);
  });

  it('P3 on AMD reads the backing page: a pending IRR bit of a running vCPU is a violation (property shown able to fail)', () => {
    // A vector posted with IsRun = 1 to a pCPU where the vCPU is not running (fixed seed over the vectors).
    fc.assert(
      fc.property(fc.integer({ min: 0x20, max: 0xff }), (vector) => {
        const r = run(scenario('kvm', `  - schedule: { vm: vm1, vcpu: 0, pcpu: 2 }
  - amd-irte: { table: ${TABLE}, index: 0, guestMode: true, vector: ${vector}, vcpu: { vm: vm1, vcpu: 0 }, isRun: true, destination: 3 }
  - program-msix: { device: "04:00.0", entry: 0, address: 0xfee00000, data: 0, masked: false }
  - dte: { device: "04:00.0", mode: 0, ir: true, iw: true, domainId: 1, table: ${TABLE} }
  - amd-command: { iommu: 0, command: invalidate-iommu-all }
  - msix-control: { device: "04:00.0", enable: true }
  - signal: { device: "04:00.0", vector: 0 }
`));
        expect(r.lost.some((v) => v.message.includes(`0x${vector.toString(16)}`) && v.message.includes('backing page'))).toBe(true);
      }),
      { seed: 13, numRuns: 5 },
    );
  });
});

describe('the checker on AMD-Vi', () => {
  it("learns the policy's IRTE indices and sends them as data[10:0] at 0xfee00000", async () => {
    const { attackPools } = await import('../../src/checker/adversary.ts');
    const compiled = compileScenario(parseScenarioText(scenario('kvm', `  - schedule: { vm: vm1, vcpu: 0, pcpu: 2 }
  - guest-msi: { device: "04:00.0", entry: 0, destination: 0, vector: 0x41 }
  - guest-msi: { device: "04:00.0", entry: 1, destination: 0, vector: 0x42 }
`), '/tmp/amd-policy.yaml'));
    const pools = attackPools(compiled, runScenario(compiled), ['vm1']);
    expect(pools.amdvi).toBe(true);
    expect(pools.handles).toEqual(expect.arrayContaining([0, 1]));
  });

  it('rebases a relative ivrs path to where the counterexample is written (and leaves absolute ones)', async () => {
    const { rebaseFirmwarePaths } = await import('../../src/cli/check.ts');
    const text = 'platform:\n  ivrs: ../../data/x.bin   # the table\n  apicMode: xapic\n';
    expect(rebaseFirmwarePaths(text, '/r/specs/attacks/a.yaml', '/tmp/out/c.yaml')).toBe('platform:\n  ivrs: ../../r/data/x.bin   # the table\n  apicMode: xapic\n');
    expect(rebaseFirmwarePaths(text, '/r/specs/attacks/a.yaml', '/r/specs/attacks/c.yaml')).toBe(text);
    const abs = 'platform:\n  dmar: /abs/t.bin\n';
    expect(rebaseFirmwarePaths(abs, '/r/a.yaml', '/tmp/c.yaml')).toBe(abs);
  });
});
