/**
 * requesterIdAtRoot (bridge rewrites, ACS Source Validation) and routeRequest
 * (peer-to-peer inside a device, on a conventional bus, at a switch), and the property
 * that every requester ID a device behind a PCIe-to-PCI bridge presents arrives as the
 * bridge's (secondary, 00.0).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildFabric } from '../../src/fabric/build.ts';
import { presentedRequesterIds } from '../../src/fabric/aliases.ts';
import { requesterIdAtRoot, routeRequest, type RootArrival } from '../../src/fabric/routing.ts';
import { ACS_BITS, type Fabric, type FunctionDescription, type FunctionKind } from '../../src/fabric/model.ts';
import { parseBdf } from '../../src/pci/bdf.ts';

const f = (bdf: string, kind: FunctionKind, rest: Partial<FunctionDescription> = {}): FunctionDescription => {
  const p = parseBdf(bdf)!;
  return { segment: p.segment, rid: p.rid, kind, ...rest };
};
const rid = (bdf: string): number => parseBdf(bdf)!.rid;
const { SV, RR, CR, UF } = ACS_BITS;
const bar = (base: bigint, size = 0x10000n) => [{ base, size }];

describe('requesterIdAtRoot', () => {
  const withSv = (ctrl: number) =>
    buildFabric({
      functions: [f('00:1c.0', 'root-port', { secondary: 1, acs: { cap: SV | RR | CR | UF, ctrl } }), f('01:00.0', 'endpoint'), f('01:00.1', 'endpoint')],
    });

  it('ACS Source Validation at a root port blocks a forged requester ID whose bus is outside [secondary, subordinate]', () => {
    const fabric = withSv(SV);
    expect(requesterIdAtRoot(fabric, '01:00.0', rid('05:00.0'))).toEqual({ rid: rid('05:00.0'), blocked: { port: '00:1c.0', reason: 'acs-source-validation', range: [1, 1] } });
  });

  it('passes a requester ID in range (another function of the same bus), and does not check with SV disabled', () => {
    expect(requesterIdAtRoot(withSv(SV), '01:00.0', rid('01:00.1'))).toEqual({ rid: rid('01:00.1') });
    expect(requesterIdAtRoot(withSv(RR | UF), '01:00.0', rid('05:00.0'))).toEqual({ rid: rid('05:00.0') });
  });

  it('a switch downstream port with SV checks too; the nearest blocking port is reported', () => {
    const fabric = buildFabric({
      functions: [
        f('00:1c.0', 'root-port', { secondary: 1, acs: { cap: SV, ctrl: SV } }),
        f('01:00.0', 'switch-upstream', { secondary: 2 }),
        f('02:00.0', 'switch-downstream', { secondary: 3, acs: { cap: SV, ctrl: SV } }),
        f('02:01.0', 'switch-downstream', { secondary: 4 }),
        f('03:00.0', 'endpoint'),
      ],
    });
    // 04:00.0 is below the switch (in the root port's range) but not below 02:00.0.
    expect(requesterIdAtRoot(fabric, '03:00.0', rid('04:00.0')).blocked?.port).toBe('02:00.0');
    expect(requesterIdAtRoot(fabric, '03:00.0', rid('09:00.0')).blocked).toEqual({ port: '02:00.0', reason: 'acs-source-validation', range: [3, 3] });
    expect(requesterIdAtRoot(fabric, '03:00.0', rid('03:1f.7'))).toEqual({ rid: rid('03:1f.7') });
  });

  it('a PCIe-to-PCI bridge rewrites any requester ID to (secondary, 00.0), and SV above checks the rewritten one', () => {
    const fabric = buildFabric({
      functions: [f('00:1c.0', 'root-port', { secondary: 1, acs: { cap: SV, ctrl: SV } }), f('01:00.0', 'pcie-to-pci-bridge', { secondary: 2 }), f('02:03.0', 'pci'), f('02:04.0', 'pci')],
    });
    const at = (emitted: string) => requesterIdAtRoot(fabric, '02:03.0', rid(emitted));
    expect(at('02:03.0')).toEqual({ rid: rid('02:00.0'), rewrittenBy: '01:00.0' });
    expect(at('02:04.0')).toEqual({ rid: rid('02:00.0'), rewrittenBy: '01:00.0' });
    // A forged ID from below the bridge is laundered into the bridge's alias, which the root port accepts.
    expect(at('7f:00.0')).toEqual({ rid: rid('02:00.0'), rewrittenBy: '01:00.0' });
  });

  it('the topmost rewriting bridge decides: a conventional bridge below a PCIe-to-PCI bridge is overwritten', () => {
    const fabric = buildFabric({
      functions: [f('00:1c.0', 'root-port', { secondary: 1 }), f('01:00.0', 'pcie-to-pci-bridge', { secondary: 2 }), f('02:01.0', 'pci-bridge', { secondary: 3 }), f('03:00.0', 'pci')],
    });
    expect(requesterIdAtRoot(fabric, '03:00.0', rid('03:00.0'))).toEqual({ rid: rid('02:00.0'), rewrittenBy: '01:00.0' });
    const plain = buildFabric({ functions: [f('00:1e.0', 'pci-bridge', { secondary: 5 }), f('05:00.0', 'pci')] });
    expect(requesterIdAtRoot(plain, '05:00.0', rid('05:00.0'))).toEqual({ rid: rid('00:1e.0'), rewrittenBy: '00:1e.0' });
  });

  it('costs O(depth): a function on a root bus is untouched', () => {
    const fabric = buildFabric({ functions: [f('00:02.0', 'rc-integrated-endpoint')] });
    expect(requesterIdAtRoot(fabric, '00:02.0', 0x1234)).toEqual({ rid: 0x1234 });
  });
});

describe('routeRequest', () => {
  /** Root port → switch with two downstream ports, an endpoint with a BAR below each. */
  const switched = (dspAcs?: { cap: number; ctrl: number }): Fabric =>
    buildFabric({
      functions: [
        f('00:1c.0', 'root-port', { secondary: 1 }),
        f('01:00.0', 'switch-upstream', { secondary: 2 }),
        f('02:00.0', 'switch-downstream', { secondary: 3, ...(dspAcs ? { acs: dspAcs } : {}) }),
        f('02:01.0', 'switch-downstream', { secondary: 4 }),
        f('03:00.0', 'endpoint', { bars: bar(0xe000_0000n) }),
        f('04:00.0', 'endpoint', { bars: bar(0xe010_0000n) }),
      ],
    });

  it('a switch without ACS routes a request for a BAR below another downstream port to that peer', () => {
    const r = routeRequest(switched(), '03:00.0', 0xe010_0040n, 64);
    expect(r).toMatchObject({ kind: 'peer', target: '04:00.0', at: '02:00.0' });
    expect(r.kind === 'peer' && r.why).toMatch(/lacks ACS P2P Request Redirect and Upstream Forwarding/);
  });

  it('with RR and UF in effect at the downstream port the request goes upstream', () => {
    expect(routeRequest(switched({ cap: SV | RR | CR | UF, ctrl: RR | UF }), '03:00.0', 0xe010_0040n, 64)).toEqual({ kind: 'upstream' });
    // Features missing from the capability are hard-wired on (pci_acs_flags_enabled).
    expect(routeRequest(switched({ cap: SV, ctrl: 0 }), '03:00.0', 0xe010_0040n, 64)).toEqual({ kind: 'upstream' });
  });

  it('with only RR (UF implemented but off) the switch still delivers it to the peer', () => {
    const r = routeRequest(switched({ cap: SV | RR | CR | UF, ctrl: RR }), '03:00.0', 0xe010_0040n, 64);
    expect(r).toMatchObject({ kind: 'peer', target: '04:00.0', at: '02:00.0' });
    expect(r.kind === 'peer' && r.why).toMatch(/lacks ACS Upstream Forwarding/);
  });

  it('overlap: a request ending at a BAR’s base misses it, one reaching into it hits it', () => {
    expect(routeRequest(switched(), '03:00.0', 0xe00f_fff0n, 16)).toEqual({ kind: 'upstream' });
    expect(routeRequest(switched(), '03:00.0', 0xe00f_fff0n, 17)).toMatchObject({ kind: 'peer', target: '04:00.0' });
    // The source's own BAR and unclaimed addresses go up.
    expect(routeRequest(switched(), '03:00.0', 0xe000_0000n, 4)).toEqual({ kind: 'upstream' });
    expect(routeRequest(switched(), '03:00.0', 0x1_0000_0000n, 4)).toEqual({ kind: 'upstream' });
  });

  it('a conventional PCI bus: another agent on it or below it claims the address', () => {
    const fabric = buildFabric({
      functions: [
        f('00:1c.0', 'root-port', { secondary: 1, acs: { cap: SV | RR | CR | UF, ctrl: SV | RR | CR | UF } }),
        f('01:00.0', 'pcie-to-pci-bridge', { secondary: 2 }),
        f('02:00.0', 'pci', { bars: bar(0xd000_0000n) }),
        f('02:01.0', 'pci', { bars: bar(0xd010_0000n) }),
        f('02:02.0', 'pci-bridge', { secondary: 3 }),
        f('03:00.0', 'pci', { bars: bar(0xd020_0000n) }),
      ],
    });
    expect(routeRequest(fabric, '02:00.0', 0xd010_0000n, 4)).toMatchObject({ kind: 'peer', target: '02:01.0', at: '01:00.0' });
    expect(routeRequest(fabric, '02:00.0', 0xd020_0000n, 4)).toMatchObject({ kind: 'peer', target: '03:00.0', at: '01:00.0' });
    // From below the nested bridge, its own conventional bus is checked first, then the one above.
    expect(routeRequest(fabric, '03:00.0', 0xd000_0000n, 4)).toMatchObject({ kind: 'peer', target: '02:00.0', at: '01:00.0' });
    expect(routeRequest(fabric, '02:00.0', 0xc000_0000n, 4)).toEqual({ kind: 'upstream' });
  });

  it('a multi-function device without ACS RR routes to a sibling function internally; with RR it goes up', () => {
    const fns = (acs?: { cap: number; ctrl: number }) => [
      f('00:1c.0', 'root-port', { secondary: 3 }),
      f('03:00.0', 'endpoint', { bars: bar(0xc000_0000n), ...(acs ? { acs } : {}) }),
      f('03:00.1', 'endpoint', { bars: bar(0xc010_0000n) }),
    ];
    const r = routeRequest(buildFabric({ functions: fns() }), '03:00.0', 0xc010_0000n, 8);
    expect(r).toMatchObject({ kind: 'peer', target: '03:00.1', at: '03:00.0' });
    expect(r.kind === 'peer' && r.why).toMatch(/multi-function/);
    expect(routeRequest(buildFabric({ functions: fns({ cap: RR | CR, ctrl: RR | CR }) }), '03:00.0', 0xc010_0000n, 8)).toEqual({ kind: 'upstream' });
  });

  it('root ports hand every request to the root complex', () => {
    const fabric = buildFabric({
      functions: [f('00:1c.0', 'root-port', { secondary: 1 }), f('00:1d.0', 'root-port', { secondary: 2 }), f('01:00.0', 'endpoint', { bars: bar(0xb000_0000n) }), f('02:00.0', 'endpoint', { bars: bar(0xb010_0000n) })],
    });
    expect(routeRequest(fabric, '01:00.0', 0xb010_0000n, 4)).toEqual({ kind: 'upstream' });
  });

  it('nested switches: the lower switch without ACS delivers locally; the upper one is reached only past it', () => {
    const fabric = buildFabric({
      functions: [
        f('00:1c.0', 'root-port', { secondary: 1 }),
        f('01:00.0', 'switch-upstream', { secondary: 2 }),
        f('02:00.0', 'switch-downstream', { secondary: 3, acs: { cap: RR | UF, ctrl: RR | UF } }),
        f('02:01.0', 'switch-downstream', { secondary: 7 }),
        f('03:00.0', 'switch-upstream', { secondary: 4 }),
        f('04:00.0', 'switch-downstream', { secondary: 5 }),
        f('04:01.0', 'switch-downstream', { secondary: 6 }),
        f('05:00.0', 'endpoint', { bars: bar(0xa000_0000n) }),
        f('06:00.0', 'endpoint', { bars: bar(0xa010_0000n) }),
        f('07:00.0', 'endpoint', { bars: bar(0xa020_0000n) }),
      ],
    });
    expect(routeRequest(fabric, '05:00.0', 0xa010_0000n, 4)).toMatchObject({ kind: 'peer', target: '06:00.0', at: '04:00.0' });
    // 07:00.0 is below the upper switch, whose port 02:00.0 redirects: up to the root complex.
    expect(routeRequest(fabric, '05:00.0', 0xa020_0000n, 4)).toEqual({ kind: 'upstream' });
    // From 07:00.0 the upper switch has no ACS at 02:01.0: it delivers to 05:00.0 below 02:00.0.
    expect(routeRequest(fabric, '07:00.0', 0xa000_0000n, 4)).toMatchObject({ kind: 'peer', target: '05:00.0', at: '02:01.0' });
  });
});

// ---------------------------------------------------------------------------------------
// Property: behind a PCIe-to-PCI bridge, everything a device presents arrives as (secondary, 00.0).

interface EpShape {
  readonly slot: number;
  readonly fn: number;
  readonly phantom: { supported: number; enabled: boolean } | undefined;
  readonly aliases: number[];
  readonly marvell: boolean;
}
interface ConvShape {
  readonly asm1083: boolean;
  readonly devices: EpShape[];
  readonly children: ConvShape[];
}
interface PortShape {
  readonly sv: boolean;
  readonly below: { kind: 'conv'; conv: ConvShape } | { kind: 'switch'; ports: { sv: boolean; conv: ConvShape }[] };
}

const epArb: fc.Arbitrary<EpShape> = fc.record({
  slot: fc.integer({ min: 0, max: 15 }),
  fn: fc.integer({ min: 0, max: 7 }),
  phantom: fc.option(fc.record({ supported: fc.integer({ min: 0, max: 3 }), enabled: fc.boolean() }), { nil: undefined }),
  aliases: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 }),
  marvell: fc.boolean(),
});
const convArb = (depth: number): fc.Arbitrary<ConvShape> =>
  fc.record({
    asm1083: fc.boolean(),
    devices: fc.uniqueArray(epArb, { minLength: 1, maxLength: 4, selector: (e) => e.slot * 8 + e.fn }),
    children: depth === 0 ? fc.constant([]) : fc.array(convArb(depth - 1), { maxLength: 2 }),
  });
const portArb: fc.Arbitrary<PortShape> = fc.record({
  sv: fc.boolean(),
  below: fc.oneof(
    fc.record({ kind: fc.constant('conv' as const), conv: convArb(2) }),
    fc.record({ kind: fc.constant('switch' as const), ports: fc.array(fc.record({ sv: fc.boolean(), conv: convArb(2) }), { minLength: 1, maxLength: 3 }) }),
  ),
});
const topologyArb = fc.array(portArb, { minLength: 1, maxLength: 3 });

const FULL_SV = { cap: SV | RR | CR | UF, ctrl: SV | RR | CR | UF };

/** Describe the shapes, numbering buses depth-first; the conventional hierarchies hang below PCIe-to-PCI bridges. */
function describeTopology(ports: readonly PortShape[]): FunctionDescription[] {
  const out: FunctionDescription[] = [];
  let next = 1;
  const rid = (bus: number, slot: number, fn: number) => (bus << 8) | (slot << 3) | fn;
  const conv = (c: ConvShape, bus: number): void => {
    for (const e of c.devices) {
      const n = e.phantom?.supported ?? 0;
      const phantoms = Array.from({ length: n > 0 ? (1 << n) - 1 : 0 }, (_, k) => e.fn | ((k + 1) << (3 - n)));
      // Phantom function numbers must be unclaimed (PCIe §2.2.6.2): none may be another device's function.
      const unclaimed = phantoms.every((f) => !c.devices.some((x) => x.slot === e.slot && x.fn === f));
      const fits = e.phantom !== undefined && n > 0 && e.fn >> (3 - n) === 0 && unclaimed;
      out.push({
        segment: 0,
        rid: rid(bus, e.slot, e.fn),
        kind: 'pci',
        ...(e.phantom ? { phantom: { supported: e.phantom.supported, enabled: e.phantom.enabled && fits } } : {}),
        dmaAliases: e.aliases,
        ...(e.marvell ? { vendorId: 0x1b4b, deviceId: 0x9123 } : {}),
      });
    }
    c.children.forEach((child, i) => {
      const sec = next++;
      out.push({ segment: 0, rid: rid(bus, 20 + i, 0), kind: 'pci-bridge', secondary: sec, ...(child.asm1083 ? { vendorId: 0x1b21, deviceId: 0x1080 } : {}) });
      conv(child, sec);
    });
  };
  const p2p = (c: ConvShape, bus: number, slot: number): void => {
    const sec = next++;
    out.push({ segment: 0, rid: rid(bus, slot, 0), kind: 'pcie-to-pci-bridge', secondary: sec });
    conv(c, sec);
  };
  ports.forEach((p, i) => {
    const sec = next++;
    out.push({ segment: 0, rid: rid(0, 1 + i, 0), kind: 'root-port', secondary: sec, ...(p.sv ? { acs: FULL_SV } : {}) });
    if (p.below.kind === 'conv') p2p(p.below.conv, sec, 0);
    else {
      const internal = next++;
      out.push({ segment: 0, rid: rid(sec, 0, 0), kind: 'switch-upstream', secondary: internal });
      p.below.ports.forEach((dp, j) => {
        const dsec = next++;
        out.push({ segment: 0, rid: rid(internal, j, 0), kind: 'switch-downstream', secondary: dsec, ...(dp.sv ? { acs: FULL_SV } : {}) });
        p2p(dp.conv, dsec, 0);
      });
    }
  });
  return out;
}

type Arrive = (fabric: Fabric, key: string, emitted: number) => RootArrival;

const behindBridgeArrivesAsAlias = (arrive: Arrive) =>
  fc.property(topologyArb, (ports) => {
    const fabric = buildFabric({ functions: describeTopology(ports) });
    for (const fn of Object.values(fabric.functions)) {
      const bridge = fn.path.map((k) => fabric.functions[k]!).find((b) => b.kind === 'pcie-to-pci-bridge');
      if (bridge === undefined) continue;
      for (const emitted of presentedRequesterIds(fabric, fn.key)) {
        expect(arrive(fabric, fn.key, emitted)).toEqual({ rid: bridge.bridge!.secondary << 8, rewrittenBy: bridge.key });
      }
    }
  });

/** Broken on purpose: the requester ID passes every bridge unchanged. */
const noRewrite: Arrive = (_fabric, _key, emitted) => ({ rid: emitted });
/** Broken on purpose: bridges applied root-first, so the nearest one wins (reversed paths). */
const nearestWins: Arrive = (fabric, key, emitted) => {
  const functions = Object.fromEntries(Object.entries(fabric.functions).map(([k, fn]) => [k, { ...fn, path: [...fn.path].reverse() }]));
  return requesterIdAtRoot({ ...fabric, functions }, key, emitted);
};

describe('property: behind a PCIe-to-PCI bridge every presented requester ID arrives as (secondary, 00.0)', () => {
  const runs = { numRuns: 150, seed: 7 };
  it('holds for random topologies (switches, SV, nested conventional bridges, phantoms, quirk aliases)', () => {
    const r = fc.check(behindBridgeArrivesAsAlias(requesterIdAtRoot), runs);
    expect(r.failed, String(r.counterexample)).toBe(false);
  });
  it('fails for a fabric that does not rewrite, and for one where the nearest bridge wins', () => {
    expect(fc.check(behindBridgeArrivesAsAlias(noRewrite), runs).failed).toBe(true);
    expect(fc.check(behindBridgeArrivesAsAlias(nearestWins), runs).failed).toBe(true);
  });
});
