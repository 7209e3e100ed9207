/**
 * Requests on the bus (src/platform/bus.ts traverseFabric, called from
 * src/platform/transition.ts): the requester ID the IOMMU sees behind a PCIe-to-PCI
 * bridge, ACS Source Validation dropping forged requester IDs (`request-blocked`),
 * peer-to-peer routing at a switch without ACS (`dma-peer`, never translated) and never
 * for the interrupt window, P2 judging peer accesses, map-dma's context entries for every
 * alias and phantom function (and `contexts: own` for the BDF only), and the `blocked` /
 * `peer` expectations.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario, type CompiledScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { buildPlatform, type PlatformDescription } from '../../src/platform/build.ts';
import { applyAction, applyActions } from '../../src/platform/transition.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import { buildFabric } from '../../src/fabric/build.ts';
import { deviceRequesterIds } from '../../src/fabric/contexts.ts';
import { ACS_BITS, type FunctionDescription } from '../../src/fabric/model.ts';
import { checkDmaIsolation, checkPeerAccess } from '../../src/properties/p2-dma-isolation.ts';
import { decodeDmaInvalidation } from '../../src/vtd/dma/invalidation-dma.ts';
import { parseBdf } from '../../src/pci/bdf.ts';
import { readFileSync } from 'node:fs';
import { repo } from '../cli/cli-harness.ts';

const compile = (text: string): CompiledScenario => compileScenario(parseScenarioText(text, 'bus.yaml'));
const run = (text: string): RunResult => runScenario(compile(text));
const rid = (bdf: string): number => parseBdf(bdf)!.rid;
const eventsOf = (r: RunResult, step: number): readonly PlatformEvent[] => r.steps[step]!.events;
const kinds = (events: readonly PlatformEvent[]): string[] => events.map((e) => e.kind).filter((k) => k !== 'hypervisor' && k !== 'memory-write' && k !== 'register-write');
const one = <K extends PlatformEvent['kind']>(events: readonly PlatformEvent[], kind: K): Extract<PlatformEvent, { kind: K }> => {
  const found = events.filter((e): e is Extract<PlatformEvent, { kind: K }> => e.kind === kind);
  expect(found, `${kind} in ${events.map((e) => e.kind).join(', ')}`).toHaveLength(1);
  return found[0]!;
};
const read = (f: string): string => readFileSync(repo(f), 'utf8');

/** A scenario: platform (2 CPUs, one INCLUDE_PCI_ALL unit), then the given sections. */
const scenario = (...sections: string[]): string =>
  ['name: bus', 'platform:', '  hostAddressWidth: 46', '  cpus: { count: 3 }', '  iommus:', '    - { registerBase: 0xfed90000, includePciAll: true }', ...sections].join('\n') + '\n';

const MAP = (device: string, hpa: string, did: number, extra = ''): string =>
  [`  - map-dma:`, `      iommu: 0`, `      device: "${device}"`, `      did: ${did}`, `      mode: legacy`, ...(extra ? [`      ${extra}`] : []), `      mappings:`, `        - { iova: 0x0, hpa: ${hpa}, size: 0x10000 }`].join('\n');

describe('behind a PCIe-to-PCI bridge the IOMMU sees (secondary, 00.0)', () => {
  const topology = [
    'topology:',
    '  functions:',
    '    - { bdf: "00:1c.0", type: root-port, secondary: 1, subordinate: 6, acs: [SV, RR, CR, UF] }',
    '    - { bdf: "01:00.0", type: pcie-to-pci-bridge, secondary: 5 }',
    '    - { bdf: "05:02.0", type: pci-bridge, secondary: 6 }',
    'devices:',
    '  - { bdf: "05:01.0", type: pci, msix: { tableSize: 1 } }',
    '  - { bdf: "06:03.0", type: pci }',
    '  - { bdf: "00:02.0" }',
    'domains:',
    '  - { name: host, kind: host, cpus: [0] }',
    '  - { name: vm1, kind: guest, cpus: [1], devices: ["05:01.0", "06:03.0"] }',
    'grants:',
    '  - { device: "05:01.0", vector: 0x30, apicId: 1 }',
  ].join('\n');

  it('each device’s precomputed bus requester ID is the bridge alias; a device on the root bus keeps its own', () => {
    const state = buildPlatform(compile(scenario(topology, 'steps: []')).platform);
    expect(state.devices['05:01.0']!.busRid).toBe(0x0500);
    // Behind a conventional PCI-to-PCI bridge (its own ID) behind the PCIe-to-PCI bridge: the topmost rewrite wins.
    expect(state.devices['06:03.0']!.busRid).toBe(0x0500);
    expect(state.devices['00:02.0']!.busRid).toBe(0x0010);
  });

  it('an MSI (IR off, compatibility path) arrives with rid 05:00.0', () => {
    const r = run(scenario(topology, 'steps:', '  - msi: { device: "05:01.0", address: 0xfee01000, data: 0x30 }', '  - msi: { device: "06:03.0", address: 0xfee01000, data: 0x30 }'));
    const d = one(eventsOf(r, 0), 'interrupt-delivered');
    expect(d.device).toBe('05:01.0');
    expect(d.rid).toBe(0x0500);
    expect(d.path).toBe('compatibility');
    expect(one(eventsOf(r, 1), 'interrupt-delivered').rid).toBe(0x0500);
  });

  it('a remapped MSI fails an IRTE that validates the BDF (0x26) and passes one that validates the bus range 05-05', () => {
    const steps = [
      'steps:',
      '  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }',
      '  - irte: { iommu: 0, index: 0, vector: 0x30, destination: 1, svt: requester-id, sq: 0, sid: "05:01.0" }',
      '  - irte: { iommu: 0, index: 1, vector: 0x30, destination: 1, svt: bus-range, busRange: [5, 5] }',
      '  - invalidate-iec: { iommu: 0 }',
      '  - msi: { device: "05:01.0", address: 0xfee00010, data: 0 }',
      '    expect: { fault: { reason: 0x26, index: 0 } }',
      '  - msi: { device: "05:01.0", address: 0xfee00030, data: 0 }',
      '    expect: { delivered: { path: remapped, vector: 0x30, cpus: [1] } }',
    ];
    const r = run(scenario(topology, ...steps));
    expect(r.steps.flatMap((s) => s.failures)).toEqual([]);
    expect(one(eventsOf(r, 4), 'interrupt-fault').rid).toBe(0x0500);
    expect(one(eventsOf(r, 5), 'interrupt-delivered').rid).toBe(0x0500);
    expect(r.ok).toBe(true);
  });

  it('a DMA arrives with rid 05:00.0 and is translated through the alias context map-dma programmed', () => {
    const r = run(scenario(topology, 'steps:', '  - enable-dma: { iommu: 0 }', MAP('05:01.0', '0x80000000', 1), '  - dma: { device: "05:01.0", address: 0x40, size: 8, value: 0x1 }', '    expect: { dmaAccess: { hpa: 0x80000040 } }'));
    const a = one(eventsOf(r, 2), 'dma-access');
    expect(a.rid).toBe(0x0500);
    expect(a.device).toBe('05:01.0');
    expect(r.ok).toBe(true);
  });

  it('a requester ID forged on the conventional side is rewritten by the bridge, so SV at the root port lets it through', () => {
    const r = run(scenario(topology, 'steps:', '  - msi: { device: "05:01.0", rid: "09:00.0", address: 0xfee01000, data: 0x30 }'));
    expect(kinds(eventsOf(r, 0))).not.toContain('request-blocked');
    expect(one(eventsOf(r, 0), 'interrupt-delivered').rid).toBe(0x0500);
  });
});

describe('ACS Source Validation drops a forged requester ID outside the port’s range', () => {
  const topo = (acs: string): string =>
    [
      'topology:',
      '  functions:',
      `    - { bdf: "00:1c.0", type: root-port, secondary: 1, subordinate: 2${acs} }`,
      '    - { bdf: "00:1d.0", type: root-port, secondary: 3 }',
      'devices:',
      '  - { bdf: "01:00.0", msix: { tableSize: 1 } }',
      '  - { bdf: "03:00.0" }',
      'domains:',
      '  - { name: host, kind: host, cpus: [0] }',
      '  - { name: vm1, kind: guest, cpus: [1], devices: ["03:00.0"] }',
      '  - { name: vm2, kind: guest, cpus: [2], devices: ["01:00.0"] }',
    ].join('\n');
  const steps = [
    'steps:',
    '  - enable-dma: { iommu: 0 }',
    MAP('03:00.0', '0x80000000', 1),
    '  - msi: { device: "01:00.0", rid: "03:00.0", address: 0xfee01000, data: 0x30 }',
    '  - dma: { device: "01:00.0", rid: "03:00.0", address: 0x0, size: 8, value: 0x77 }',
    '  - msi: { device: "01:00.0", rid: "02:05.0", address: 0xfee01000, data: 0x30 }',
  ];

  it('with SV implemented and enabled: both the MSI and the DMA are dropped at 00:1c.0, nothing else happens', () => {
    const r = run(scenario(topo(', acs: [SV, RR, CR, UF]'), ...steps));
    for (const [step, write] of [[2, true], [3, true]] as const) {
      const ev = eventsOf(r, step);
      expect(kinds(ev)).toEqual(['request-blocked']);
      expect(one(ev, 'request-blocked')).toMatchObject({ device: '01:00.0', rid: 0x0300, port: '00:1c.0', range: [1, 2], reason: 'acs-source-validation', write });
    }
    expect(one(eventsOf(r, 3), 'request-blocked').address).toBe(0n);
    // A forged requester ID whose bus is in [secondary, subordinate] is not the port's to refuse.
    expect(kinds(eventsOf(r, 4))).toEqual(['interrupt-delivered']);
    expect(one(eventsOf(r, 4), 'interrupt-delivered').rid).toBe(rid('02:05.0'));
    expect(r.dmaIsolation).toEqual([]);
  });

  it('with SV capable but not enabled, or no ACS at all, the forgery passes: the DMA lands in vm1’s memory (P2)', () => {
    for (const acs of [', acs: { capable: [SV, RR, CR, UF], enabled: [RR, CR, UF] }', '']) {
      const r = run(scenario(topo(acs), ...steps));
      expect(kinds(eventsOf(r, 2))).not.toContain('request-blocked');
      expect(one(eventsOf(r, 2), 'interrupt-delivered').rid).toBe(0x0300);
      const a = one(eventsOf(r, 3), 'dma-access');
      expect(a).toMatchObject({ device: '01:00.0', rid: 0x0300, hpa: 0x80000000n });
      expect(r.dmaIsolation.map((v) => v.message)).toEqual([expect.stringMatching(/^01:00\.0 \(vm2\) wrote HPA 0x80000000\+8/)]);
    }
  });

  it('the catalog pair rid-spoof-no-acs-sv: vm2’s forged 02:00.0 reaches vm1’s IRTE (P1) unless SV is on at 00:1c.0', () => {
    const attack = (f: string): RunResult => run(read(f).replace(/\ncheck:[\s\S]*$/, '\n').trimEnd() + '\n  - msi: { device: "01:00.0", rid: "02:00.0", address: 0xfee00018, data: 0 }\n');
    const insecure = attack('specs/attacks/rid-spoof-no-acs-sv-insecure.yaml');
    const last = insecure.steps.length - 1;
    expect(one(eventsOf(insecure, last), 'interrupt-delivered')).toMatchObject({ device: '01:00.0', rid: 0x0200, vector: 0x30, targets: [1] });
    expect(insecure.violations).toHaveLength(1);
    const secure = attack('specs/attacks/rid-spoof-no-acs-sv-secure.yaml');
    expect(kinds(eventsOf(secure, last))).toEqual(['request-blocked']);
    expect(secure.violations).toEqual([]);
  });

  it('SV needs both the capability and the control bit (a hand-built fabric with ctrl but no cap does not check)', () => {
    const fn = (bdf: string, kind: FunctionDescription['kind'], rest: Partial<FunctionDescription> = {}): FunctionDescription => ({ segment: 0, rid: rid(bdf), kind, ...rest });
    const { SV } = ACS_BITS;
    for (const [acs, blocked] of [[{ cap: SV, ctrl: SV }, true], [{ cap: 0, ctrl: SV }, false], [{ cap: SV, ctrl: 0 }, false]] as const) {
      const fabric = buildFabric({ functions: [fn('00:1c.0', 'root-port', { secondary: 1, acs }), fn('01:00.0', 'endpoint')] });
      const p: PlatformDescription = {
        hostAddressWidth: 39,
        apicMode: 'x2apic',
        extendedDestinationId: false,
        apicIds: [0],
        iommus: [],
        devices: [{ segment: 0, rid: 0x100, key: '01:00.0', name: 'd', upstream: [] }],
        domains: [{ name: 'host', kind: 'host', cpus: [0], devices: ['01:00.0'] }],
        grants: [],
        fabric,
      };
      const { events } = applyAction(buildPlatform(p), { kind: 'msi-write', device: '01:00.0', rid: 0x0700, address: 0xfee00000n, data: 0x30 });
      expect(events.some((e) => e.kind === 'request-blocked'), JSON.stringify(acs)).toBe(blocked);
      expect(events.some((e) => e.kind === 'interrupt-delivered')).toBe(!blocked);
    }
  });

  it('property: with SV on, an MSI or DMA with any requester ID is blocked exactly when its bus is outside [01, 02]', () => {
    const state = buildPlatform(compile(scenario(topo(', acs: [SV, RR, CR, UF]'), 'steps: []')).platform);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.boolean(), (emitted, isMsi) => {
        const action = isMsi
          ? ({ kind: 'msi-write', device: '01:00.0', rid: emitted, address: 0xfee01000n, data: 0x30 } as const)
          : ({ kind: 'dma', device: '01:00.0', rid: emitted, address: 0x2000n, size: 4, write: false } as const);
        const { events } = applyAction(state, action);
        const bus = emitted >> 8;
        const blocked = events.filter((e) => e.kind === 'request-blocked');
        expect(blocked.length).toBe(bus < 1 || bus > 2 ? 1 : 0);
        if (blocked.length === 0) expect(events.find((e) => e.kind === 'interrupt-delivered' || e.kind === 'dma-access' || e.kind === 'dma-fault')).toMatchObject({ rid: emitted });
        else expect(events.map((e) => e.kind)).toEqual(['request-blocked']);
      }),
      { seed: 0xb05, numRuns: 300 },
    );
  });

  it('the device’s own requests are never blocked, with or without an explicit rid equal to its own', () => {
    const r = run(scenario(topo(', acs: [SV, RR, CR, UF]'), 'steps:', '  - msi: { device: "01:00.0", address: 0xfee01000, data: 0x30 }', '  - msi: { device: "01:00.0", rid: "01:00.0", address: 0xfee01000, data: 0x30 }'));
    expect(one(eventsOf(r, 0), 'interrupt-delivered').rid).toBe(0x0100);
    expect(one(eventsOf(r, 1), 'interrupt-delivered').rid).toBe(0x0100);
  });
});

describe('peer-to-peer routing under a switch', () => {
  const switchTopology = (downstreamAcs: string, rootAcs = ', acs: [SV, RR, CR, UF]', domains = ['  - { name: vm1, kind: guest, cpus: [1], devices: ["03:00.0"] }', '  - { name: vm2, kind: guest, cpus: [2], devices: ["04:00.0"] }']): string =>
    [
      'topology:',
      '  functions:',
      `    - { bdf: "00:01.0", type: root-port, secondary: 1${rootAcs} }`,
      '    - { bdf: "01:00.0", type: switch-upstream, secondary: 2 }',
      `    - { bdf: "02:00.0", type: switch-downstream, secondary: 3${downstreamAcs} }`,
      `    - { bdf: "02:01.0", type: switch-downstream, secondary: 4${downstreamAcs} }`,
      'devices:',
      '  - { bdf: "03:00.0", msix: { tableSize: 1 }, bars: [{ base: 0xa0000000, size: 0x100000 }, { base: 0xfee00000, size: 0x100000 }] }',
      '  - { bdf: "04:00.0", msix: { tableSize: 1 }, bars: [{ base: 0xa0100000, size: 0x100000 }] }',
      'domains:',
      '  - { name: host, kind: host, cpus: [0] }',
      ...domains,
    ].join('\n');
  const steps = (...more: string[]): string[] => ['steps:', '  - enable-dma: { iommu: 0 }', MAP('03:00.0', '0x80000000', 1), MAP('04:00.0', '0x90000000', 2), ...more];

  it('without ACS: a DMA into the peer’s BAR is `dma-peer`, never translated, and P2 flags it across domains', () => {
    const r = run(scenario(switchTopology(''), ...steps('  - dma: { device: "04:00.0", address: 0xa0000010, size: 8, value: 0x2222 }', '    expect: { peer: { target: "03:00.0" } }')));
    const ev = eventsOf(r, 3);
    expect(kinds(ev)).toEqual(['dma-peer']);
    const p = one(ev, 'dma-peer');
    expect(p).toMatchObject({ device: '04:00.0', rid: 0x0400, address: 0xa0000010n, size: 8, write: true, target: '03:00.0', at: '02:01.0' });
    expect(p.why).toMatch(/lacks ACS P2P Request Redirect and Upstream Forwarding/);
    expect(r.steps[3]!.failures).toEqual([]);
    expect(r.dmaIsolation).toHaveLength(1);
    expect(r.dmaIsolation[0]!.message).toMatch(/^04:00\.0 \(vm2\) wrote 0xa0000010\+8 in a BAR of 03:00\.0 \(vm1\), routed peer to peer at 02:01\.0 without translation/);
    expect(r.ok).toBe(false);
  });

  it('a read is routed too, and an address below no peer’s BAR goes up and is translated', () => {
    const r = run(scenario(switchTopology(''), ...steps('  - dma: { device: "04:00.0", address: 0xa00ffff8, size: 8, write: false }', '  - dma: { device: "04:00.0", address: 0x100, size: 8, write: false }')));
    expect(one(eventsOf(r, 3), 'dma-peer')).toMatchObject({ write: false, target: '03:00.0' });
    expect(one(eventsOf(r, 4), 'dma-access')).toMatchObject({ hpa: 0x90000100n, rid: 0x0400 });
  });

  it('a DMA into the device’s own BAR is not peer to peer (it goes up: translated, or faults)', () => {
    const r = run(scenario(switchTopology(''), ...steps('  - dma: { device: "04:00.0", address: 0xa0100000, size: 8, value: 1 }')));
    expect(kinds(eventsOf(r, 3))).toEqual(['dma-fault']);
  });

  it('with ACS RR and UF in effect at the downstream port the request goes up: translated (or faults)', () => {
    for (const acs of [', acs: [SV, RR, CR, UF]', ', acs: [RR, UF]', ', acs: { capable: [SV, CR], enabled: [SV] }']) {
      // The IOVA 0xa0000010 is not mapped: the walk faults; no peer route.
      const r = run(scenario(switchTopology(acs), ...steps('  - dma: { device: "04:00.0", address: 0xa0000010, size: 8, value: 0x2222 }', '  - dma: { device: "04:00.0", address: 0x10, size: 8, value: 0x2222 }')));
      expect(kinds(eventsOf(r, 3)), acs).toEqual(['dma-fault']);
      expect(one(eventsOf(r, 3), 'dma-fault').rid).toBe(0x0400);
      expect(one(eventsOf(r, 4), 'dma-access').hpa).toBe(0x90000010n);
      expect(r.dmaIsolation).toEqual([]);
    }
  });

  it('RR without UF, or UF without RR, still routes peer to peer, naming what is missing', () => {
    for (const [acs, missing] of [[', acs: [RR]', /lacks ACS Upstream Forwarding in effect/], [', acs: [UF]', /lacks ACS P2P Request Redirect in effect/]] as const) {
      const r = run(scenario(switchTopology(acs), ...steps('  - dma: { device: "04:00.0", address: 0xa0000010, size: 8, value: 1 }')));
      expect(one(eventsOf(r, 3), 'dma-peer').why).toMatch(missing);
    }
  });

  it('an MSI-window write is never routed to a peer, even into a BAR that covers 0xfee00000', () => {
    const r = run(scenario(switchTopology(''), 'steps:', '  - msi: { device: "04:00.0", address: 0xfee01000, data: 0x30 }', '  - dma: { device: "04:00.0", address: 0xfee01000, size: 4, value: 0x30 }'));
    expect(kinds(eventsOf(r, 0))).toEqual(['interrupt-delivered']);
    expect(one(eventsOf(r, 0), 'interrupt-delivered').rid).toBe(0x0400);
    expect(kinds(eventsOf(r, 1))).not.toContain('dma-peer');
    // …while a DMA just below the window, in the same BAR's neighbour 0xa01xxxxx of the other device, is.
    const s = run(scenario(switchTopology(''), 'steps:', '  - dma: { device: "03:00.0", address: 0xa0100000, size: 4, value: 1 }'));
    expect(one(eventsOf(s, 0), 'dma-peer').target).toBe('04:00.0');
  });

  it('a signal (programmed MSI-X entry) into the window is not routed to the peer either', () => {
    const r = run(scenario(switchTopology(''), 'steps:', '  - program-msix: { device: "04:00.0", entry: 0, address: 0xfee01000, data: 0x30, masked: false }', '  - msix-control: { device: "04:00.0", enable: true }', '  - signal: { device: "04:00.0", vector: 0 }'));
    expect(kinds(eventsOf(r, 2))).toEqual(['interrupt-delivered']);
  });

  it('P2 does not flag a peer access within one domain (the property can tell the two apart)', () => {
    const same = ['  - { name: vm1, kind: guest, cpus: [1], devices: ["03:00.0", "04:00.0"] }'];
    const r = run(scenario(switchTopology('', ', acs: [SV, RR, CR, UF]', same), ...steps('  - dma: { device: "04:00.0", address: 0xa0000010, size: 8, value: 1 }')));
    expect(one(eventsOf(r, 3), 'dma-peer').target).toBe('03:00.0');
    expect(r.dmaIsolation).toEqual([]);
    // A peer that belongs to no domain, from a guest's device: flagged.
    const none = ['  - { name: vm2, kind: guest, cpus: [2], devices: ["04:00.0"] }'];
    const s = run(scenario(switchTopology('', ', acs: [SV, RR, CR, UF]', none), 'steps:', '  - dma: { device: "04:00.0", address: 0xa0000010, size: 8, value: 1 }'));
    expect(s.dmaIsolation.map((v) => v.message)).toEqual([expect.stringMatching(/in a BAR of 03:00\.0 \(no domain\)/)]);
  });

  it('checkPeerAccess by itself: flags an event across domains, not within one', () => {
    const state = buildPlatform(compile(scenario(switchTopology(''), 'steps: []')).platform);
    const e = { kind: 'dma-peer', step: 0, device: '04:00.0', rid: 0x400, address: 0xa0000000n, size: 4, write: true, target: '03:00.0', at: '02:01.0', why: 'w' } as const;
    expect(checkPeerAccess(state, e)).toHaveLength(1);
    expect(checkPeerAccess(state, { ...e, target: '04:00.0' })).toEqual([]);
    expect(checkDmaIsolation(state, [e])).toHaveLength(1);
  });

  it('ACS SV is checked only at or below the port that turns a peer request around', () => {
    // SV at the root port only: a forged requester ID routed peer to peer at the switch never passes it.
    const r = run(scenario(switchTopology(''), 'steps:', '  - dma: { device: "04:00.0", rid: "09:00.0", address: 0xa0000010, size: 8, value: 1 }', '  - dma: { device: "04:00.0", rid: "09:00.0", address: 0x10, size: 8, value: 1 }'));
    expect(kinds(eventsOf(r, 0))).toEqual(['dma-peer']);
    expect(one(eventsOf(r, 0), 'dma-peer').rid).toBe(0x0900);
    expect(one(eventsOf(r, 1), 'request-blocked').port).toBe('00:01.0');
    // SV (no RR/UF) at the ingress downstream port: it checks before the switch turns the request.
    const s = run(scenario(switchTopology(', acs: { capable: [SV, RR, UF], enabled: [SV] }', ''), 'steps:', '  - dma: { device: "04:00.0", rid: "09:00.0", address: 0xa0000010, size: 8, value: 1 }'));
    expect(kinds(eventsOf(s, 0))).toEqual(['request-blocked']);
    expect(one(eventsOf(s, 0), 'request-blocked')).toMatchObject({ port: '02:01.0', range: [4, 4] });
  });

  it('the catalog pair: p2p-no-acs-insecure gives dma-peer, its secure twin translates the same request', () => {
    const step = ['  - dma: { device: "04:00.0", address: 0xa0000000, size: 8, value: 0x1 }'];
    const insecure = run(read('specs/attacks/p2p-no-acs-insecure.yaml').replace(/\ncheck:[\s\S]*$/, '\n').trimEnd() + '\n' + step.join('\n') + '\n');
    const last = insecure.steps.length - 1;
    expect(one(eventsOf(insecure, last), 'dma-peer').target).toBe('03:00.0');
    expect(insecure.dmaIsolation).toHaveLength(1);
    const secure = run(read('specs/attacks/p2p-no-acs-secure.yaml').replace(/\ncheck:[\s\S]*$/, '\n').trimEnd() + '\n' + step.join('\n') + '\n');
    expect(kinds(eventsOf(secure, last))).toEqual(['dma-fault']);
    expect(secure.dmaIsolation).toEqual([]);
  });
});

describe('map-dma programs a context entry for every requester ID the device may carry', () => {
  const phantom = [
    'topology:',
    '  functions:',
    '    - { bdf: "00:1c.0", type: root-port, secondary: 3, acs: [SV, RR, CR, UF] }',
    'devices:',
    '  - { bdf: "03:00.0", phantomFunctions: { supported: 2, enabled: true } }',
    'domains:',
    '  - { name: host, kind: host, cpus: [0] }',
    '  - { name: vm1, kind: guest, cpus: [1], devices: ["03:00.0"] }',
  ].join('\n');
  const dmas = ['03:00.0', '03:00.2', '03:00.4', '03:00.6'].map((r, i) => `  - dma: { device: "03:00.0", rid: "${r}", address: 0x${(0x100 * i).toString(16)}, size: 8, value: 0x${i + 1} }`);

  it('phantom functions (2 bits: 03:00.2, .4, .6) all translate to the domain’s memory', () => {
    const r = run(scenario(phantom, 'steps:', '  - enable-dma: { iommu: 0 }', MAP('03:00.0', '0x80000000', 1), ...dmas));
    for (let i = 0; i < 4; i++) {
      const a = one(eventsOf(r, 2 + i), 'dma-access');
      expect(a.rid).toBe(0x0300 + 2 * i);
      expect(a.hpa).toBe(0x80000000n + BigInt(0x100 * i));
    }
    expect(r.ok).toBe(true);
  });

  it('`contexts: own` programs the BDF only: the phantom requester IDs fault (no context)', () => {
    const r = run(scenario(phantom, 'steps:', '  - enable-dma: { iommu: 0 }', MAP('03:00.0', '0x80000000', 1, 'contexts: own'), ...dmas));
    expect(one(eventsOf(r, 2), 'dma-access').hpa).toBe(0x80000000n);
    for (let i = 1; i < 4; i++) {
      const f = one(eventsOf(r, 2 + i), 'dma-fault');
      expect(f.rid).toBe(0x0300 + 2 * i);
    }
  });

  it('the compiler flushes the context cache for each requester ID it programs', () => {
    const sids = (text: string): number[] =>
      compile(text)
        // The descriptors the hypervisor writes into the invalidation queue (enable-dma turns it on).
        .steps[1]!.actions.flatMap((a) => (a.kind === 'invalidate-dma' ? [a.descriptor] : a.kind === 'write-memory' && a.what?.startsWith('IQ slot') ? [a.value] : []))
        .map((d) => decodeDmaInvalidation(d)?.desc)
        .filter((d): d is NonNullable<typeof d> & { kind: 'context-cache'; sid: number } => d?.kind === 'context-cache')
        .map((d) => d.sid);
    expect(sids(scenario(phantom, 'steps:', '  - enable-dma: { iommu: 0 }', MAP('03:00.0', '0x80000000', 1)))).toEqual([0x300, 0x302, 0x304, 0x306]);
    expect(sids(scenario(phantom, 'steps:', '  - enable-dma: { iommu: 0 }', MAP('03:00.0', '0x80000000', 1, 'contexts: own')))).toEqual([0x300]);
  });

  it('behind a PCIe-to-PCI bridge: the alias context is programmed too; with `contexts: own` the device’s DMA (arriving as the alias) faults', () => {
    const bridge = [
      'topology:',
      '  functions:',
      '    - { bdf: "00:1c.0", type: root-port, secondary: 1, subordinate: 5, acs: [SV, RR, CR, UF] }',
      '    - { bdf: "01:00.0", type: pcie-to-pci-bridge, secondary: 5 }',
      'devices:',
      '  - { bdf: "05:01.0", type: pci }',
    ].join('\n');
    const state = buildPlatform(compile(scenario(bridge, 'steps: []')).platform);
    expect(deviceRequesterIds(state.fabric, '05:01.0', 0x508)).toEqual([0x508, 0x500]);
    const all = run(scenario(bridge, 'steps:', '  - enable-dma: { iommu: 0 }', MAP('05:01.0', '0x80000000', 1), '  - dma: { device: "05:01.0", address: 0x8, size: 8, value: 1 }'));
    expect(one(eventsOf(all, 2), 'dma-access')).toMatchObject({ rid: 0x500, hpa: 0x80000008n });
    const own = run(scenario(bridge, 'steps:', '  - enable-dma: { iommu: 0 }', MAP('05:01.0', '0x80000000', 1, 'contexts: own'), '  - dma: { device: "05:01.0", address: 0x8, size: 8, value: 1 }'));
    expect(one(eventsOf(own, 2), 'dma-fault').rid).toBe(0x500);
  });

  it('the XSA-449 pair: with `contexts: own` the phantom requester ID keeps the host’s context (P2); with all it is vm1’s', () => {
    const withDma = (f: string): string => read(f).replace(/\ncheck:[\s\S]*$/, '\n').trimEnd() + '\n  - dma: { device: "03:00.0", rid: "03:00.4", address: 0x0, size: 8, value: 0x2222 }\n';
    const insecure = run(withDma('specs/attacks/phantom-functions-insecure.yaml'));
    const last = insecure.steps.length - 1;
    expect(one(eventsOf(insecure, last), 'dma-access')).toMatchObject({ rid: 0x304, hpa: 0x100000000n });
    expect(insecure.dmaIsolation.map((v) => v.message)).toEqual([expect.stringMatching(/^03:00\.0 \(vm1\) wrote HPA 0x100000000\+8/)]);
    const secure = run(withDma('specs/attacks/phantom-functions-secure.yaml'));
    expect(one(eventsOf(secure, last), 'dma-access')).toMatchObject({ rid: 0x304, hpa: 0x80000000n });
    expect(secure.dmaIsolation).toEqual([]);
  });

  it('unmap-dma clears the translation of every requester ID (the phantom ones fault afterwards)', () => {
    const r = run(scenario(phantom, 'steps:', '  - enable-dma: { iommu: 0 }', MAP('03:00.0', '0x80000000', 1), '  - unmap-dma: { iommu: 0, device: "03:00.0", did: 1, iova: 0x0, size: 0x10000 }', ...dmas));
    for (let i = 0; i < 4; i++) expect(kinds(eventsOf(r, 3 + i))).toEqual(['dma-fault']);
  });
});

describe('a VMD domain’s device: its carrier forwards everything under its own requester ID', () => {
  // 10000:e1:00.0 (vm1) sits in VMD domain 10000 below 10000:e0:06.0 (SV on); 00:0e.0 carries its
  // DMA. Segment 0 has its own e1:00.0 (vm2) below root port 00:1d.0: the same bus/devfn.
  const vmd = [
    'topology:',
    '  hostBridges: [{ bus: 0 }, { segment: 0x10000, bus: 0xe0 }]',
    '  functions:',
    '    - { bdf: "00:0e.0", type: rc-integrated-endpoint }',
    '    - { bdf: "10000:e0:06.0", type: root-port, secondary: 0xe1, acs: [SV, RR, CR, UF] }',
    '    - { bdf: "00:1d.0", type: root-port, secondary: 0xe1, acs: [SV, RR, CR, UF] }',
    'devices:',
    '  - { bdf: "10000:e1:00.0", dmaDevice: "00:0e.0", phantomFunctions: { supported: 1 } }',
    '  - { bdf: "e1:00.0" }',
    'domains:',
    '  - { name: host, kind: host, cpus: [0] }',
    '  - { name: vm1, kind: guest, cpus: [1], devices: ["10000:e1:00.0"] }',
    '  - { name: vm2, kind: guest, cpus: [2], devices: ["e1:00.0"] }',
  ].join('\n');
  const CHILD = '10000:e1:00.0';

  it('its own requests, its carrier’s ID given explicitly, its phantom function and an in-range forgery all arrive as 00:0e.0', () => {
    const r = run(scenario(vmd, 'steps:', ...[undefined, '00:0e.0', 'e1:00.4', 'e1:07.0'].map((x) => `  - msi: { device: "${CHILD}", ${x === undefined ? '' : `rid: "${x}", `}address: 0xfee01000, data: 0x30 }`)));
    for (let i = 0; i < 4; i++) {
      expect(kinds(eventsOf(r, i)), `step ${i}`).toEqual(['interrupt-delivered']);
      expect(one(eventsOf(r, i), 'interrupt-delivered').rid).toBe(rid('00:0e.0'));
    }
  });

  it('a forgery outside the VMD root port’s range is dropped there', () => {
    const r = run(scenario(vmd, 'steps:', `  - dma: { device: "${CHILD}", rid: "05:00.0", address: 0x0, size: 4, value: 1 }`));
    expect(one(eventsOf(r, 0), 'request-blocked')).toMatchObject({ port: '10000:e0:06.0', range: [0xe1, 0xe1] });
  });

  it('map-dma for it programs the carrier’s context only, never segment 0’s e1:00.0 (another domain’s device)', () => {
    const state = buildPlatform(compile(scenario(vmd, 'steps: []')).platform);
    expect(deviceRequesterIds(state.fabric, CHILD, rid('e1:00.0'))).toEqual([rid('00:0e.0')]);
    const r = run(
      scenario(
        vmd,
        'steps:',
        '  - enable-dma: { iommu: 0 }',
        MAP('e1:00.0', '0x90000000', 2),
        MAP(CHILD, '0x80000000', 1),
        '  - dma: { device: "e1:00.0", address: 0x0, size: 8, value: 1 }',
        `  - dma: { device: "${CHILD}", address: 0x0, size: 8, value: 1 }`,
        `  - dma: { device: "${CHILD}", rid: "e1:00.4", address: 0x8, size: 8, value: 1 }`,
      ),
    );
    expect(one(eventsOf(r, 3), 'dma-access')).toMatchObject({ rid: rid('e1:00.0'), hpa: 0x90000000n });
    expect(one(eventsOf(r, 4), 'dma-access')).toMatchObject({ rid: rid('00:0e.0'), hpa: 0x80000000n });
    expect(one(eventsOf(r, 5), 'dma-access')).toMatchObject({ rid: rid('00:0e.0'), hpa: 0x80000008n });
    expect(r.dmaIsolation).toEqual([]);
  });
});

describe('the `blocked` and `peer` expectations', () => {
  const topology = [
    'topology:',
    '  functions:',
    '    - { bdf: "00:01.0", type: root-port, secondary: 1, acs: [SV, RR, CR, UF] }',
    '    - { bdf: "01:00.0", type: switch-upstream, secondary: 2 }',
    '    - { bdf: "02:00.0", type: switch-downstream, secondary: 3 }',
    '    - { bdf: "02:01.0", type: switch-downstream, secondary: 4 }',
    'devices:',
    '  - { bdf: "03:00.0", bars: [{ base: 0xa0000000, size: 0x100000 }] }',
    '  - { bdf: "04:00.0", bars: [{ base: 0xa0100000, size: 0x100000 }] }',
  ].join('\n');
  const outcome = (dma: string, expectation: string): readonly string[] => {
    const r = run(scenario(topology, 'steps:', `  - dma: ${dma}`, `    expect: ${expectation}`));
    return r.steps[0]!.failures;
  };
  const PEER = '{ device: "04:00.0", address: 0xa0000000, size: 4, value: 1 }';
  const BLOCK = '{ device: "04:00.0", rid: "09:00.0", address: 0x1000, size: 4, value: 1 }';
  const UP = '{ device: "04:00.0", address: 0x1000, size: 4, value: 1 }';

  it('blocked: true holds for a dropped request and fails otherwise', () => {
    expect(outcome(BLOCK, '{ blocked: true }')).toEqual([]);
    expect(outcome(UP, '{ blocked: true }')).toEqual([expect.stringMatching(/^expected request-blocked, got dma-access/)]);
    expect(outcome(PEER, '{ blocked: true }')).toEqual([expect.stringMatching(/^expected request-blocked, got dma-peer/)]);
  });

  it('peer holds with the right target or none, and fails with another target or no peer route', () => {
    expect(outcome(PEER, '{ peer: {} }')).toEqual([]);
    expect(outcome(PEER, '{ peer: { target: "03:00.0" } }')).toEqual([]);
    expect(outcome(PEER, '{ peer: { target: "04:00.0" } }')).toEqual([expect.stringMatching(/^expected a peer-to-peer request to 04:00\.0, got peer-to-peer request to 03:00\.0 via 02:01\.0/)]);
    expect(outcome(UP, '{ peer: {} }')).toEqual([expect.stringMatching(/^expected a peer-to-peer request, got DMA to HPA/)]);
    expect(outcome(BLOCK, '{ peer: { target: "03:00.0" } }')).toEqual([expect.stringMatching(/got request blocked by 00:01\.0 \(ACS SV\)/)]);
  });

  it('dma: true (or a dmaAccess) does not hold for a peer-routed or blocked request', () => {
    expect(outcome(PEER, '{ dma: true }')).toEqual([expect.stringMatching(/^expected dma-access, got dma-peer/)]);
    expect(outcome(BLOCK, '{ dmaAccess: {} }')).toHaveLength(1);
    expect(outcome(PEER, '{ nothing: true }')).toHaveLength(1);
  });

  // BUG (src/scenario/compile.ts / run.ts, outside this suite's files): `peer.target` is compared
  // as written with the event's canonical key, so another spelling the schema accepts for the
  // same function (`0000:04:00.0`, `04:00.0` with a segment, upper-case hex) never matches.
  it('peer target given in another BDF spelling (0000:04:00.0) names the same function', () => {
    expect(outcome('{ device: "03:00.0", address: 0xa0100000, size: 4, value: 1 }', '{ peer: { target: "0000:04:00.0" } }')).toEqual([]);
  });
});

describe('the bus under applyActions directly', () => {
  it('a dma-peer or request-blocked request changes nothing but the step', () => {
    const c = compile(
      scenario(
        'topology:',
        '  functions:',
        '    - { bdf: "00:01.0", type: root-port, secondary: 1, acs: [SV, RR, CR, UF] }',
        '    - { bdf: "01:00.0", type: switch-upstream, secondary: 2 }',
        '    - { bdf: "02:00.0", type: switch-downstream, secondary: 3 }',
        '    - { bdf: "02:01.0", type: switch-downstream, secondary: 4 }',
        'devices:',
        '  - { bdf: "03:00.0", bars: [{ base: 0xa0000000, size: 0x100000 }] }',
        '  - { bdf: "04:00.0" }',
        'steps: []',
      ),
    );
    const s0 = buildPlatform(c.platform);
    const peer = applyActions(s0, [{ kind: 'dma', device: '04:00.0', address: 0xa0000000n, size: 4, write: true, value: 0xdeadn }]);
    expect(peer.events.map((e) => e.kind)).toEqual(['dma-peer']);
    expect(peer.state.memory).toBe(s0.memory);
    // A peer-to-peer write changes nothing the platform holds: the same state comes back.
    expect(peer.state).toBe(s0);
    const blocked = applyAction(s0, { kind: 'dma', device: '04:00.0', rid: 0x0800, address: 0x1000n, size: 4, write: true, value: 1n });
    expect(blocked.events.map((e) => e.kind)).toEqual(['request-blocked']);
    expect(blocked.state.memory).toBe(s0.memory);
  });

  it('a device the hand-built fabric does not hold is alone on a root bus: its requests go up unchanged, nothing throws', () => {
    const p: PlatformDescription = {
      hostAddressWidth: 39,
      apicMode: 'x2apic',
      extendedDestinationId: false,
      apicIds: [0],
      iommus: [{ segment: 0, registerBase: 0xfed90000n, includePciAll: true, scope: { endpoints: [], bridges: [], busRanges: [], ioapics: [], hpets: [] } }],
      devices: [{ segment: 0, rid: 0x300, key: '03:00.0', name: 'd', upstream: [], msix: { tableSize: 1 } }],
      domains: [{ name: 'host', kind: 'host', cpus: [0], devices: ['03:00.0'] }],
      grants: [],
      fabric: buildFabric({ functions: [] }),
    };
    const s0 = buildPlatform(p);
    expect(s0.devices['03:00.0']!.busRid).toBe(0x300);
    const r = applyActions(s0, [
      { kind: 'msi-write', device: '03:00.0', rid: 0x0400, address: 0xfee00000n, data: 0x30 },
      { kind: 'dma', device: '03:00.0', address: 0x1000n, size: 4, write: true, value: 1n },
      { kind: 'dma-root', iommu: 0, scalable: false },
      { kind: 'map-dma', iommu: 0, device: '03:00.0', did: 1, mode: 'legacy', levels: 4, mappings: [{ iova: 0n, hpa: 0x80000000n, size: 0x1000n, read: true, write: true }] },
      { kind: 'unmap-dma', iommu: 0, device: '03:00.0', iova: 0n, size: 0x1000n },
    ]);
    expect(r.events.filter((e) => e.kind === 'interrupt-delivered').map((e) => (e as { rid: number }).rid)).toEqual([0x400]);
    expect(r.events.some((e) => e.kind === 'dma-access')).toBe(true);
    expect(r.events.some((e) => e.kind === 'action-rejected')).toBe(false);
  });
});
