/**
 * buildFabric: keys, parents and paths, derived subordinate buses, the multi-function
 * default, quirk aliases merged with the description's, and every error with its index
 * and field.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildFabric, canonicalKey, fabricFunction } from '../../src/fabric/build.ts';
import { FabricError, type Fabric, type FabricDescription, type FunctionDescription, type FunctionKind } from '../../src/fabric/model.ts';
import { parseBdf } from '../../src/pci/bdf.ts';

const f = (bdf: string, kind: FunctionKind, rest: Partial<FunctionDescription> = {}): FunctionDescription => {
  const p = parseBdf(bdf)!;
  return { segment: p.segment, rid: p.rid, kind, ...rest };
};

/** Build, expecting a FabricError; return it. */
function fails(d: FabricDescription): FabricError {
  try {
    buildFabric(d);
  } catch (e) {
    expect(e).toBeInstanceOf(FabricError);
    return e as FabricError;
  }
  throw new Error('expected a FabricError');
}

// Root port → switch (upstream port, two downstream ports) → endpoints.
const SWITCHED: FunctionDescription[] = [
  f('00:00.0', 'rc-integrated-endpoint'),
  f('00:1c.0', 'root-port', { secondary: 1 }),
  f('01:00.0', 'switch-upstream', { secondary: 2 }),
  f('02:00.0', 'switch-downstream', { secondary: 3 }),
  f('02:01.0', 'switch-downstream', { secondary: 4 }),
  f('03:00.0', 'endpoint'),
  f('04:00.0', 'endpoint'),
  f('04:00.1', 'endpoint'),
];

describe('buildFabric resolves the tree', () => {
  const fabric = buildFabric({ functions: SWITCHED });

  it('keys every function as formatBdf does, and defaults one root bus 0 per segment', () => {
    expect(Object.keys(fabric.functions)).toEqual(['00:00.0', '00:1c.0', '01:00.0', '02:00.0', '02:01.0', '03:00.0', '04:00.0', '04:00.1']);
    expect(fabric.hostBridges).toEqual([{ segment: 0, bus: 0 }]);
    const two = buildFabric({ functions: [f('0002:00:01.0', 'endpoint'), f('00:02.0', 'endpoint')] });
    expect(Object.keys(two.functions)).toEqual(['0002:00:01.0', '00:02.0']);
    expect(two.hostBridges).toEqual([
      { segment: 0, bus: 0 },
      { segment: 2, bus: 0 },
    ]);
  });

  it('derives the parent (the bridge whose secondary bus holds the function) and the path from the root', () => {
    expect(fabric.functions['00:1c.0']!.parent).toBeUndefined();
    expect(fabric.functions['00:1c.0']!.path).toEqual([]);
    expect(fabric.functions['02:01.0']!.parent).toBe('01:00.0');
    expect(fabric.functions['04:00.1']!.parent).toBe('02:01.0');
    expect(fabric.functions['04:00.1']!.path).toEqual(['00:1c.0', '01:00.0', '02:01.0']);
    expect(fabric.functions['00:00.0']!.path).toEqual([]);
  });

  it('derives the subordinate bus as the highest bus below the bridge', () => {
    expect(fabric.functions['00:1c.0']!.bridge).toEqual({ secondary: 1, subordinate: 4 });
    expect(fabric.functions['01:00.0']!.bridge).toEqual({ secondary: 2, subordinate: 4 });
    expect(fabric.functions['02:00.0']!.bridge).toEqual({ secondary: 3, subordinate: 3 });
    expect(fabric.functions['02:01.0']!.bridge).toEqual({ secondary: 4, subordinate: 4 });
    expect(fabric.functions['03:00.0']!.bridge).toBeUndefined();
  });

  it('keeps a given subordinate (a bridge may reserve buses for hot-plug) and derives the rest around it', () => {
    const d = SWITCHED.map((x) => (x.rid === parseBdf('02:01.0')!.rid ? { ...x, subordinate: 9 } : x));
    const b = buildFabric({ functions: d });
    expect(b.functions['02:01.0']!.bridge).toEqual({ secondary: 4, subordinate: 9 });
    expect(b.functions['01:00.0']!.bridge!.subordinate).toBe(9);
    expect(b.functions['00:1c.0']!.bridge!.subordinate).toBe(9);
  });

  it('defaults multifunction: another function of the device exists, or the function number is not 0', () => {
    expect(fabric.functions['03:00.0']!.multifunction).toBe(false);
    expect(fabric.functions['04:00.0']!.multifunction).toBe(true);
    expect(fabric.functions['04:00.1']!.multifunction).toBe(true);
    const lone = buildFabric({ functions: [f('00:02.1', 'endpoint'), f('00:03.0', 'endpoint', { multifunction: true }), f('00:04.0', 'endpoint'), f('00:04.2', 'endpoint', { multifunction: false })] });
    expect(lone.functions['00:02.1']!.multifunction).toBe(true);
    expect(lone.functions['00:03.0']!.multifunction).toBe(true);
    expect(lone.functions['00:04.0']!.multifunction).toBe(true);
    expect(lone.functions['00:04.2']!.multifunction).toBe(false);
  });

  it('merges the quirk table aliases (by vendor/device) with the description’s, ascending', () => {
    const b = buildFabric({
      functions: [
        f('00:1c.0', 'root-port', { secondary: 5 }),
        // Marvell 88SE9123: function 1 is its DMA requester (quirk_dma_func1_alias).
        f('05:00.0', 'endpoint', { vendorId: 0x1b4b, deviceId: 0x9123, dmaAliases: [0x20, 0x01] }),
        // On function 1 itself the func1 quirk adds nothing.
        f('05:01.1', 'endpoint', { vendorId: 0x1b4b, deviceId: 0x9123 }),
        // Ricoh e832 at function 2: function 0 of the slot (quirk_dma_func0_alias).
        f('05:02.2', 'endpoint', { vendorId: 0x1180, deviceId: 0xe832 }),
        // MIC x200: PCI_DEVFN(0x10,0), (0x11,0), (0x12,3).
        f('05:03.0', 'endpoint', { vendorId: 0x8086, deviceId: 0x2264 }),
        // Adaptec 0x9005:0x0285 is matched by subsystem, which a description does not carry.
        f('05:04.0', 'endpoint', { vendorId: 0x9005, deviceId: 0x0285 }),
      ],
    });
    expect(b.functions['05:00.0']!.dmaAliases).toEqual([0x01, 0x20]);
    expect(b.functions['05:01.1']!.dmaAliases).toEqual([]);
    expect(b.functions['05:02.2']!.dmaAliases).toEqual([0x10]);
    expect(b.functions['05:03.0']!.dmaAliases).toEqual([0x80, 0x88, 0x93]);
    expect(b.functions['05:04.0']!.dmaAliases).toEqual([]);
  });

  it('canonicalises dmaDevice, and looks functions up under any BDF spelling', () => {
    const b = buildFabric({ functions: [f('00:0e.0', 'rc-integrated-endpoint'), f('0001:00:00.0', 'root-port', { secondary: 1 }), f('0001:01:00.0', 'endpoint', { dmaDevice: '0000:00:0E.0' })] });
    expect(b.functions['0001:01:00.0']!.dmaDevice).toBe('00:0e.0');
    expect(fabricFunction(b, '0000:00:0e.0').key).toBe('00:0e.0');
    expect(canonicalKey('0001:01:00.0')).toBe('0001:01:00.0');
    expect(() => fabricFunction(b, 'constructor')).toThrow(RangeError);
  });
});

describe('buildFabric rejects what cannot exist, naming index and field', () => {
  const cases: Array<[string, FabricDescription, number | undefined, string, RegExp]> = [
    ['a function declared twice', { functions: [f('00:02.0', 'endpoint'), f('00:02.0', 'endpoint')] }, 1, 'rid', /declared twice/],
    ['an unknown kind', { functions: [f('00:02.0', 'nvme' as FunctionKind)] }, 0, 'kind', /kind must be one of/],
    ['a non-bridge with a secondary bus', { functions: [f('00:02.0', 'endpoint', { secondary: 1 })] }, 0, 'secondary', /only bridges/],
    ['a non-bridge with a subordinate bus', { functions: [f('00:02.0', 'pci', { subordinate: 1 })] }, 0, 'subordinate', /only bridges/],
    ['a non-bridge with a primary bus', { functions: [f('00:02.0', 'endpoint', { primary: 0 })] }, 0, 'primary', /only bridges/],
    ['a bridge without a secondary bus', { functions: [f('00:1c.0', 'root-port')] }, 0, 'secondary', /needs its secondary bus/],
    ['a primary bus that is not the bridge’s own', { functions: [f('00:1c.0', 'root-port', { secondary: 1, primary: 2 })] }, 0, 'primary', /must equal the bridge's own bus 00/],
    ['a secondary bus below the bridge’s own', { functions: [f('00:1c.0', 'root-port', { secondary: 2 }), f('02:00.0', 'pci-bridge', { secondary: 1 })] }, 1, 'secondary', /must be greater than the bridge's own bus 02/],
    ['a subordinate below the secondary', { functions: [f('00:1c.0', 'root-port', { secondary: 3, subordinate: 2 })] }, 0, 'subordinate', /at least the secondary bus 03/],
    [
      'sibling ranges that overlap (one inside the other)',
      { functions: [f('00:1c.0', 'root-port', { secondary: 1, subordinate: 5 }), f('00:1d.0', 'root-port', { secondary: 3, subordinate: 4 })] },
      1,
      'secondary',
      /inside the range \[01, 05\] of bridge 00:1c.0, which is not above it/,
    ],
    [
      'sibling ranges that overlap partly',
      { functions: [f('00:1c.0', 'root-port', { secondary: 1, subordinate: 3 }), f('00:1d.0', 'root-port', { secondary: 2, subordinate: 5 })] },
      1,
      'subordinate',
      /overlaps the range \[01, 03\] of bridge 00:1c.0/,
    ],
    [
      'a child range outside its parent’s',
      { functions: [f('00:1c.0', 'root-port', { secondary: 1, subordinate: 1 }), f('01:00.0', 'pcie-to-pci-bridge', { secondary: 2 })] },
      0,
      'subordinate',
      /must hold the range \[02, 02\] of bridge 01:00.0/,
    ],
    ['two bridges with the same secondary bus', { functions: [f('00:1c.0', 'root-port', { secondary: 1 }), f('00:1d.0', 'root-port', { secondary: 1 })] }, 1, 'secondary', /already the secondary bus of bridge 00:1c.0/],
    ['a function on a bus nothing provides', { functions: [f('00:1c.0', 'root-port', { secondary: 1 }), f('05:00.0', 'endpoint')] }, 1, 'rid', /bus 05 of segment 0 is neither a root bus/],
    [
      'a root bus that is also a bridge’s secondary',
      { hostBridges: [{ segment: 0, bus: 0 }, { segment: 0, bus: 0x80 }], functions: [f('00:1c.0', 'root-port', { secondary: 0x80 })] },
      0,
      'secondary',
      /secondary bus 80 is a root bus/,
    ],
    [
      'a bridge range covering another host bridge’s root bus',
      { hostBridges: [{ segment: 0, bus: 0 }, { segment: 0, bus: 0x80 }], functions: [f('00:1c.0', 'root-port', { secondary: 1, subordinate: 0x90 })] },
      0,
      'subordinate',
      /covers root bus 80/,
    ],
    ['a cycle of bridges', { functions: [f('01:00.0', 'pci-bridge', { secondary: 2 }), f('02:00.0', 'pci-bridge', { secondary: 1 })] }, 0, 'secondary', /cycle 01:00.0 → 02:00.0 → 01:00.0/],
    ['phantom.supported above 3', { functions: [f('00:02.0', 'endpoint', { phantom: { supported: 4, enabled: false } })] }, 0, 'phantom', /must be 0..3/],
    ['1-bit phantom functions on function 4', { functions: [f('00:02.4', 'endpoint', { phantom: { supported: 1, enabled: true } })] }, 0, 'phantom', /function number 0..3/],
    ['2-bit phantom functions on function 2', { functions: [f('00:02.2', 'endpoint', { phantom: { supported: 2, enabled: true } })] }, 0, 'phantom', /function number 0..1/],
    ['3-bit phantom functions on function 1', { functions: [f('00:02.1', 'endpoint', { phantom: { supported: 3, enabled: true } })] }, 0, 'phantom', /function number 0..0/],
    ['a phantom function number that another function implements', { functions: [f('00:02.0', 'endpoint', { phantom: { supported: 1, enabled: true } }), f('00:02.4', 'endpoint')] }, 0, 'phantom', /phantom function 00:02\.4 is an implemented function/],
    ['a dmaDevice naming no function', { functions: [f('00:02.0', 'endpoint', { dmaDevice: '00:0e.0' })] }, 0, 'dmaDevice', /names no function/],
    ['a dmaDevice that is not a BDF', { functions: [f('00:02.0', 'endpoint', { dmaDevice: 'vmd' })] }, 0, 'dmaDevice', /names no function/],
    ['a DMA alias devfn above 255', { functions: [f('00:02.0', 'endpoint', { dmaAliases: [256] })] }, 0, 'dmaAliases', /devfn 0..255/],
    ['a negative DMA alias devfn', { functions: [f('00:02.0', 'endpoint', { dmaAliases: [-1] })] }, 0, 'dmaAliases', /devfn 0..255/],
    ['a requester ID above 16 bits', { functions: [{ segment: 0, rid: 0x10000, kind: 'endpoint' }] }, 0, 'rid', /16-bit requester ID/],
    ['an empty BAR', { functions: [f('00:02.0', 'endpoint', { bars: [{ base: 0x1000n, size: 0n }] })] }, 0, 'bars', /size > 0/],
    ['a host bridge declared twice', { hostBridges: [{ segment: 0, bus: 0 }, { segment: 0, bus: 0 }], functions: [] }, undefined, 'hostBridges', /declared twice/],
  ];
  for (const [what, d, index, field, message] of cases) {
    it(what, () => {
      const e = fails(d);
      expect(e.index).toBe(index);
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
    });
  }

  it('accepts phantom settings that fit: n=1 on function 3, n=2 on function 1, n=3 on function 0, and any when disabled', () => {
    const b = buildFabric({
      functions: [
        f('00:02.3', 'endpoint', { phantom: { supported: 1, enabled: true } }),
        f('00:03.1', 'endpoint', { phantom: { supported: 2, enabled: true } }),
        f('00:04.0', 'endpoint', { phantom: { supported: 3, enabled: true } }),
        f('00:05.7', 'endpoint', { phantom: { supported: 3, enabled: false } }),
      ],
    });
    expect(Object.keys(b.functions)).toHaveLength(4);
  });

  it('is linear: 64 segments of 250 functions build quickly', () => {
    const functions: FunctionDescription[] = [];
    for (let s = 0; s < 64; s++) {
      for (let rp = 0; rp < 50; rp++) {
        const bus = 1 + rp * 5;
        functions.push({ segment: s, rid: (0 << 8) | ((rp & 0x1f) << 3) | (rp >> 5), kind: 'root-port', secondary: bus });
        functions.push({ segment: s, rid: bus << 8, kind: 'switch-upstream', secondary: bus + 1 });
        functions.push({ segment: s, rid: ((bus + 1) << 8) | (0 << 3), kind: 'switch-downstream', secondary: bus + 2 });
        functions.push({ segment: s, rid: ((bus + 1) << 8) | (1 << 3), kind: 'switch-downstream', secondary: bus + 3 });
        functions.push({ segment: s, rid: (bus + 2) << 8, kind: 'endpoint' });
      }
    }
    // Its time is measured in bench/groups.ts (BENCHMARKS.md), not asserted here.
    const b = buildFabric({ functions });
    expect(Object.keys(b.functions)).toHaveLength(16000);
  });
});

// ---------------------------------------------------------------------------------------
// Property: the derived subordinate is the highest bus of the bridge's subtree.

/** A random tree of bridges; buses are numbered depth-first as firmware does. */
type Tree = { kind: 'root-port' | 'pci-bridge' | 'pcie-to-pci-bridge'; children: Tree[] };
const subtreesArb = (depth: number): fc.Arbitrary<Tree[]> =>
  depth === 0
    ? fc.constant([])
    : fc.array(
        fc.record({ kind: fc.constantFrom('pci-bridge' as const, 'pcie-to-pci-bridge' as const), children: subtreesArb(depth - 1) }),
        { maxLength: 3 },
      );
const treeArb: fc.Arbitrary<Tree[]> = fc.array(fc.record({ kind: fc.constant('root-port' as const), children: subtreesArb(3) }), { minLength: 1, maxLength: 4 });

function describeTree(roots: Tree[]): FunctionDescription[] {
  const out: FunctionDescription[] = [];
  let next = 1;
  const place = (t: Tree, bus: number, dev: number): void => {
    const sec = next++;
    if (sec > 0xff) return;
    out.push({ segment: 0, rid: (bus << 8) | (dev << 3), kind: t.kind, secondary: sec });
    t.children.forEach((c, i) => place(c, sec, i));
  };
  roots.forEach((r, i) => place(r, 0, i + 1));
  return out;
}

/** The subordinate every bridge should have: the largest secondary bus at or below it. */
const subordinateHolds = (build: (d: FabricDescription) => Fabric) =>
  fc.property(treeArb, (roots) => {
    const fabric = build({ functions: describeTree(roots) });
    const highest = new Map<string, number>();
    for (const fn of Object.values(fabric.functions)) {
      for (const k of [...fn.path, fn.key]) {
        const b = fabric.functions[k]!.bridge;
        if (b === undefined || fn.bridge === undefined) continue;
        highest.set(k, Math.max(highest.get(k) ?? 0, fn.bridge.secondary, b.secondary));
      }
    }
    for (const [k, h] of highest) expect(fabric.functions[k]!.bridge!.subordinate).toBe(h);
  });

/** Broken on purpose: subordinate = secondary (no derivation). */
const noDerivation = (d: FabricDescription): Fabric => {
  const b = buildFabric(d);
  const functions = Object.fromEntries(Object.entries(b.functions).map(([k, fn]) => [k, fn.bridge ? { ...fn, bridge: { secondary: fn.bridge.secondary, subordinate: fn.bridge.secondary } } : fn]));
  return { ...b, functions };
};

describe('property: derived subordinate buses', () => {
  it('hold for random bridge trees, and the property catches a build that does not derive them', () => {
    expect(fc.check(subordinateHolds(buildFabric), { numRuns: 200, seed: 1 }).failed).toBe(false);
    expect(fc.check(subordinateHolds(noDerivation), { numRuns: 200, seed: 1 }).failed).toBe(true);
  });
});
