/**
 * Guest MSI requests that name several vCPUs (src/policy/guest-msi.ts): KVM and Xen post
 * only what reaches one vCPU (kvm_intr_is_single_vcpu, vector hashing for lowest
 * priority) and deliver the rest in software through a remapped IRTE to a host vector;
 * kvm-broken-post-multicast posts them anyway. P1 judges each injection, P3 the postings
 * against the recorded intent.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { apicAccepts } from '../../src/x86/apic.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { applyAction } from '../../src/platform/transition.ts';
import { decodeIrte } from '../../src/vtd/irte.ts';
import { vcpuList } from '../../src/platform/vcpu-table.ts';
import { checkInjection, checkInterruptIsolation } from '../../src/properties/p1-interrupt-isolation.ts';
import { guestTargets, vectorHashingTarget, FIRST_ROUTE_VECTOR } from '../../src/policy/guest-msi.ts';
import type { InterruptInjectedEvent, PlatformEvent } from '../../src/platform/events.ts';
import type { PlatformState } from '../../src/platform/state.ts';

const IRT = 0x1000_0000n;

/** vm1 with `vcpus` vCPUs (guest APIC IDs 0..n-1) on cpu1.., vm2 with one; 05:00.0 is vm1's. */
function scenario(policy: string, request: string, more = '', opts: { apicMode?: string; vcpus?: number } = {}): string {
  const n = opts.vcpus ?? 2;
  const cpus = Array.from({ length: n }, (_, i) => i + 1);
  return `
name: guest-msi
platform:
  hostAddressWidth: 39
  cpus: { count: ${n + 2} }${opts.apicMode ? `
  apicMode: ${opts.apicMode}` : ''}
  policy: ${policy}
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0xf020fe }
devices:
  - { bdf: "05:00.0", msix: { tableSize: 4 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [${cpus.join(', ')}], vcpus: ${n}, devices: ["05:00.0"] }
  - { name: vm2, kind: guest, cpus: [${n + 1}], vcpus: 1 }
steps:
  - enable-ir: { iommu: 0, base: 0x10000000, eime: ${opts.apicMode === 'xapic' ? 'false' : 'true'}, entries: 256 }
${cpus.map((c, i) => `  - schedule: { vm: vm1, vcpu: ${i}, pcpu: ${c} }`).join('\n')}
  - guest-msi: ${request}
  - msix-control: { device: "05:00.0", enable: true }
${more}`;
}

const run = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'guest-msi.yaml')));
const eventsOf = (r: RunResult): PlatformEvent[] => r.steps.flatMap((s) => [...s.events]);
const irte0 = (s: PlatformState) => decodeIrte(s.memory.readLE(IRT, 16)).irte;
const SIGNAL = '  - signal: { device: "05:00.0", vector: 0 }\n';

describe('a fixed logical request naming two vCPUs (kvm)', () => {
  const r = run(scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 0x3, destinationMode: logical, vector: 0x41 }', SIGNAL));

  it('keeps the IRTE remapped: host vector 0xe0, fixed, physical, to the pCPU vcpu0 runs on', () => {
    const e = irte0(r.final);
    expect(e.mode).toBe('remapped');
    if (e.mode !== 'remapped') return;
    expect(e).toMatchObject({ present: true, vector: FIRST_ROUTE_VECTOR, destination: 1, deliveryMode: 0, destinationModeLogical: false, svt: 1, sq: 0, sid: 0x0500 });
    expect(r.final.hypervisor.softwareRoutes?.[0xe0]).toEqual({ device: '05:00.0', domain: 1, destination: 3, logical: true, deliveryMode: 0, vector: 0x41 });
    expect(r.final.intent.interruptRoutes?.['0:0']).toEqual({ device: '05:00.0', vector: 0x41, vcpus: [0, 1], oneOf: false });
  });

  it('grants the host delivery and each named vCPU', () => {
    expect(r.final.intent.grants).toEqual(
      expect.arrayContaining([
        { requester: '05:00.0', target: { kind: 'pcpu', apicId: 1 }, vector: 0xe0, deliveryModes: [0] },
        { requester: '05:00.0', target: { kind: 'vcpu', vcpu: 0 }, vector: 0x41, deliveryModes: [0, 1] },
        { requester: '05:00.0', target: { kind: 'vcpu', vcpu: 1 }, vector: 0x41, deliveryModes: [0, 1] },
      ]),
    );
  });

  it('the device interrupt reaches the hypervisor, which injects 0x41 into both vCPUs; P1 and P3 hold', () => {
    const last = r.steps.at(-1)!.events;
    expect(last.filter((e) => e.kind === 'interrupt-delivered').map((e) => (e as { vector: number }).vector)).toEqual([0xe0]);
    expect(last.filter((e): e is InterruptInjectedEvent => e.kind === 'interrupt-injected').map((e) => [e.vcpu, e.vector, e.device])).toEqual([
      [0, 0x41, '05:00.0'],
      [1, 0x41, '05:00.0'],
    ]);
    for (const v of vcpuList(r.final.vcpus).filter((x) => x.domain === 1)) expect(v.virr).toBe(1n << 0x41n);
    expect(r.violations).toEqual([]);
    expect(r.lost).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('a second such request takes the next host vector down', () => {
    const r2 = run(scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 0x3, destinationMode: logical, vector: 0x41 }', '  - guest-msi: { device: "05:00.0", entry: 1, destination: 0x3, destinationMode: logical, vector: 0x42 }\n'));
    expect(Object.keys(r2.final.hypervisor.softwareRoutes ?? {}).map(Number).sort()).toEqual([0xdf, 0xe0]);
  });

  it('wakes a blocked vCPU it injects into', () => {
    const r3 = run(scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 0x3, destinationMode: logical, vector: 0x41 }', '  - halt: { vm: vm1, vcpu: 1 }\n' + SIGNAL));
    const last = r3.steps.at(-1)!.events;
    expect(last.some((e) => e.kind === 'vcpu-state' && e.vcpu === 1 && e.was === 'blocked' && e.run === 'runnable')).toBe(true);
    expect(r3.ok).toBe(true);
  });
});

describe('xen delivers the same request in software too', () => {
  it('remapped IRTE, two injections, properties hold', () => {
    const r = run(scenario('xen', '{ device: "05:00.0", entry: 0, destination: 0x3, destinationMode: logical, vector: 0x41 }', SIGNAL));
    expect(irte0(r.final).mode).toBe('remapped');
    expect(eventsOf(r).filter((e) => e.kind === 'interrupt-injected')).toHaveLength(2);
    expect(r.ok).toBe(true);
  });
});

describe('requests that reach one vCPU are posted', () => {
  it('lowest priority over two vCPUs: vector hashing picks the (vector mod 2)-th, posted', () => {
    const r = run(scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 0x3, destinationMode: logical, vector: 0x41, deliveryMode: lowest-priority }', SIGNAL));
    const e = irte0(r.final);
    expect(e.mode).toBe('posted');
    // 0x41 = 65, 65 mod 2 = 1: the vCPU with guest APIC ID 1 (vCPU 1).
    if (e.mode === 'posted') expect(e.pda).toBe(vcpuList(r.final.vcpus)[1]!.pda);
    expect(r.final.intent.interruptRoutes?.['0:0']).toEqual({ device: '05:00.0', vector: 0x41, vcpus: [0, 1], oneOf: true });
    expect(r.ok).toBe(true);
  });

  it('a logical destination naming one vCPU is posted into it', () => {
    const r = run(scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 0x2, destinationMode: logical, vector: 0x41 }', SIGNAL));
    const e = irte0(r.final);
    expect(e.mode).toBe('posted');
    if (e.mode === 'posted') expect(e.pda).toBe(vcpuList(r.final.vcpus)[1]!.pda);
    expect(r.ok).toBe(true);
  });

  it('a logical destination naming no vCPU of the domain is refused', () => {
    const r = run(scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 0x10000, destinationMode: logical, vector: 0x41 }'));
    expect(r.final.hypervisor.nextIrte[0]).toBeUndefined();
    expect(eventsOf(r).some((e) => e.kind === 'hypervisor' && e.request.endsWith('— nothing done'))).toBe(true);
  });

  it('xAPIC flat logical: bit n names guest APIC ID n', () => {
    const r = run(scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 0x6, destinationMode: logical, vector: 0x41 }', SIGNAL, { apicMode: 'xapic', vcpus: 3 }));
    expect(r.final.intent.interruptRoutes?.['0:0']?.vcpus).toEqual([1, 2]);
    expect(irte0(r.final).mode).toBe('remapped');
    expect(r.ok).toBe(true);
  });
});

describe('kvm-broken-post-multicast', () => {
  it('posts the fixed two-vCPU request into vcpu0: P3 names vcpu1 as never receiving it', () => {
    const r = run(scenario('kvm-broken-post-multicast', '{ device: "05:00.0", entry: 0, destination: 0x3, destinationMode: logical, vector: 0x41 }', SIGNAL));
    expect(irte0(r.final).mode).toBe('posted');
    expect(r.lost.map((v) => v.message)).toEqual([
      "05:00.0's fixed interrupt, vector 0x41, is meant for vm1.vcpu0, vm1.vcpu1 but IRTE 0 posts it into one PID (vm1.vcpu0): vm1.vcpu1 never receives it",
    ]);
    expect(r.lost[0]!.vcpu).toBe(1);
    expect(r.ok).toBe(false);
  });

  it('a lowest-priority request is not a multicast: no P3 violation', () => {
    const r = run(scenario('kvm-broken-post-multicast', '{ device: "05:00.0", entry: 0, destination: 0x3, destinationMode: logical, vector: 0x41, deliveryMode: lowest-priority }', SIGNAL));
    expect(r.lost).toEqual([]);
  });
});

describe('P1 judges software injections', () => {
  const base = run(scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 0x3, destinationMode: logical, vector: 0x41 }')).final;
  const inject = (vcpu: number, vector: number, device = '05:00.0') => applyAction(base, { kind: 'inject-interrupt', vcpu, vector, device });

  it('a granted injection into the owner’s vCPU holds', () => {
    const r = inject(1, 0x41);
    expect(checkInterruptIsolation(r.state, r.events)).toEqual([]);
  });

  it('an injection into another domain’s vCPU, one without a grant, one below 16 and one into no vCPU are violations', () => {
    const other = inject(2, 0x41);
    expect(checkInterruptIsolation(other.state, other.events).map((v) => v.message)).toEqual(['05:00.0 (owned by vm1) had vector 0x41 injected into vm2.vcpu0 of another domain']);
    const ungranted = inject(0, 0x42);
    expect(checkInterruptIsolation(ungranted.state, ungranted.events).map((v) => v.message)).toEqual(['05:00.0 had vector 0x42 injected into vm1.vcpu0: no grant covers it']);
    const low = inject(0, 0x0e);
    expect(checkInterruptIsolation(low.state, low.events).map((v) => v.message)).toEqual([
      '05:00.0 had vector 0xe injected into vm1.vcpu0: no grant covers it',
      '05:00.0 had vector 0xe (< 16) injected into vm1.vcpu0',
    ]);
    const ghost: InterruptInjectedEvent = { kind: 'interrupt-injected', step: 0, device: '05:00.0', vcpu: 99, vector: 0x41 };
    expect(checkInjection(base, ghost).map((v) => v.message)).toEqual(["05:00.0's interrupt injected with vector 0x41 into vCPU 99, which does not exist"]);
  });

  it('an injection sets the vIRR bit; a vector above 255 is rejected, not thrown', () => {
    const r = inject(0, 0x41);
    expect(vcpuList(r.state.vcpus)[0]!.virr & (1n << 0x41n)).not.toBe(0n);
    const bad = inject(0, 256);
    expect(bad.events.map((e) => e.kind)).toEqual(['action-rejected']);
  });
});

describe('guest destination resolution', () => {
  const s = run(scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 0, vector: 0x41 }', '', { vcpus: 3 })).final;
  it('x2APIC logical: cluster 0, members by guest APIC ID, within the domain', () => {
    expect(guestTargets(s, 1, 0x5, true).map((v) => v.id)).toEqual([0, 2]);
    expect(guestTargets(s, 2, 0x1, true).map((v) => v.id)).toEqual([3]);
    expect(guestTargets(s, 'any', 0x1, true).map((v) => v.id)).toEqual([0, 3]);
    expect(guestTargets(s, 1, 0x10001, true)).toEqual([]);
    expect(guestTargets(s, 1, 2, false).map((v) => v.id)).toEqual([2]);
  });
  it('vector hashing: the (vector mod n)-th target', () => {
    const t = guestTargets(s, 1, 0x7, true);
    expect([0x40, 0x41, 0x42].map((v) => vectorHashingTarget(t, v)!.id)).toEqual([1, 2, 0]);
    expect(vectorHashingTarget([], 0x41)).toBeUndefined();
  });
});

describe('a unit that cannot post: software delivery for every request (KVM without IRQ_POSTING_CAP)', () => {
  const noPi = (text: string): string => text.replace('cap: 0x08d2078c106f0462', 'cap: 0x00d2078c106f0462');
  it('CAP.PI clear: a single-vCPU request gets a remapped IRTE to a host vector and is injected', () => {
    const r = run(noPi(scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 1, vector: 0x41 }', SIGNAL)));
    const e = irte0(r.final);
    expect(e.mode).toBe('remapped');
    if (e.mode === 'remapped') expect(e).toMatchObject({ vector: FIRST_ROUTE_VECTOR, destination: 2 });
    expect(r.steps.at(-1)!.events.filter((x): x is InterruptInjectedEvent => x.kind === 'interrupt-injected').map((x) => [x.vcpu, x.vector])).toEqual([[1, 0x41]]);
    expect(eventsOf(r).some((x) => x.kind === 'interrupt-fault')).toBe(false);
    expect(r.ok).toBe(true);
  });

  it('IR off: the physical entry gets a compatibility-format message naming the pCPU, and the interrupt is injected', () => {
    const text = scenario('kvm', '{ device: "05:00.0", entry: 0, destination: 1, vector: 0x41 }', SIGNAL).replace(/ {2}- enable-ir: .*\n/, '');
    const r = run(text);
    expect(r.final.devices['05:00.0']!.msix!.table[0]).toEqual({ address: 0xfee02000n, data: FIRST_ROUTE_VECTOR, masked: false });
    const last = r.steps.at(-1)!.events;
    expect(last.filter((x) => x.kind === 'interrupt-delivered').map((x) => (x as { path: string }).path)).toEqual(['compatibility']);
    expect(last.filter((x): x is InterruptInjectedEvent => x.kind === 'interrupt-injected').map((x) => [x.vcpu, x.vector])).toEqual([[1, 0x41]]);
    expect(r.ok).toBe(true);
  });
});

describe('guestTargets: the APIC-ID index agrees with asking every vCPU', () => {
  // The xAPIC cluster model is a platform description field, not a scenario one: set on the built state.
  const platform = (apicMode: string, model: 'cluster' | undefined, ids: number[]): PlatformState => {
    const s = built(apicMode, ids);
    return model === undefined ? s : { ...s, interrupts: { ...s.interrupts, xapicLogicalModel: model } };
  };
  const built = (apicMode: string, ids: number[]): PlatformState =>
    run(`
name: index
platform:
  hostAddressWidth: 39
  cpus: { count: 2 }
  apicMode: ${apicMode}
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1], vcpus: [${ids.join(', ')}] }
  - { name: vm2, kind: guest, cpus: [1], vcpus: [${ids.slice(0, 3).join(', ')}] }
steps: []
`).final;
  const naive = (s: PlatformState, domain: number, dest: number, logical: boolean): number[] =>
    vcpuList(s.vcpus)
      .filter((v) => v.domain === domain && apicAccepts(s.interrupts.apicMode, logical, dest >>> 0, v.apicId, s.interrupts.xapicLogicalModel === 'cluster'))
      .sort((a, b) => a.apicId - b.apicId || a.id - b.id)
      .map((v) => v.id);
  const cases: [string, 'cluster' | undefined, number[]][] = [
    ['x2apic', undefined, [0, 1, 2, 15, 16, 17, 33, 64, 300]],
    ['xapic', undefined, [0, 1, 2, 5, 7, 8]],
    ['xapic', 'cluster', [0, 1, 3, 4, 6, 13, 59]],
  ];
  for (const [mode, model, ids] of cases) {
    it(`${mode}${model ? ` ${model}` : ''}`, () => {
      const s = platform(mode, model, ids);
      const dest = fc.oneof(fc.constantFrom(0, 1, 2, 3, 0xff, 0xf3, 0x21, 0x10003, 0x20001, 0xffff_ffff, 300, 0x12), fc.integer({ min: 0, max: 0xffff_ffff }));
      fc.assert(
        fc.property(dest, fc.boolean(), fc.constantFrom(1, 2), (d, logical, domain) => {
          expect(guestTargets(s, domain, d, logical).map((v) => v.id)).toEqual(naive(s, domain, d, logical));
        }),
        { seed: 7, numRuns: 400 },
      );
    });
  }
});
