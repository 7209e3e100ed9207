/**
 * DMA aliases in Linux `pci_for_each_dma_alias` order, phantom function requester IDs,
 * and the requester IDs a function presents — plus the DMA-alias quirk table lookup.
 */
import { describe, expect, it } from 'vitest';
import { buildFabric } from '../../src/fabric/build.ts';
import { defaultRequesterId, dmaAliases, phantomRequesterIds, presentedRequesterIds, type DmaAlias } from '../../src/fabric/aliases.ts';
import { DMA_ALIAS_QUIRKS, dmaAliasQuirks } from '../../src/fabric/quirks/dma-alias.ts';
import type { FunctionDescription, FunctionKind } from '../../src/fabric/model.ts';
import { formatBdf, parseBdf } from '../../src/pci/bdf.ts';

const f = (bdf: string, kind: FunctionKind, rest: Partial<FunctionDescription> = {}): FunctionDescription => {
  const p = parseBdf(bdf)!;
  return { segment: p.segment, rid: p.rid, kind, ...rest };
};
const rid = (bdf: string): number => parseBdf(bdf)!.rid;
/** Aliases as `bdf reason via` lines, for readable expectations. */
const show = (as: readonly DmaAlias[]): string[] => as.map((a) => `${formatBdf(a.rid, a.segment === 0 ? undefined : a.segment)} ${a.reason} ${a.via}`);
const bdfs = (rids: readonly number[]): string[] => rids.map((r) => formatBdf(r));

describe('dmaAliases: pci_for_each_dma_alias order and rules', () => {
  it('a device behind a PCIe-to-PCI bridge behind a root port: its own ID, then (secondary, 00.0)', () => {
    const fabric = buildFabric({ functions: [f('00:1c.0', 'root-port', { secondary: 1 }), f('01:00.0', 'pcie-to-pci-bridge', { secondary: 2 }), f('02:03.0', 'pci')] });
    expect(show(dmaAliases(fabric, '02:03.0'))).toEqual(['02:03.0 own 02:03.0', '02:00.0 pcie-to-pci-bridge 01:00.0']);
    expect(defaultRequesterId(fabric, '02:03.0')).toBe(rid('02:00.0'));
  });

  it('reports a repeated ID as Linux does: the device at 00.0 of the secondary bus is its own ID and the bridge alias', () => {
    const fabric = buildFabric({ functions: [f('00:1c.0', 'root-port', { secondary: 1 }), f('01:00.0', 'pcie-to-pci-bridge', { secondary: 2 }), f('02:00.0', 'pci')] });
    expect(show(dmaAliases(fabric, '02:00.0'))).toEqual(['02:00.0 own 02:00.0', '02:00.0 pcie-to-pci-bridge 01:00.0']);
  });

  it('a conventional PCI bridge aliases to its own ID (on a root bus, the ASM1083 quirk does not apply)', () => {
    const fabric = buildFabric({ functions: [f('00:1e.0', 'pci-bridge', { secondary: 5, vendorId: 0x1b21, deviceId: 0x1080 }), f('05:02.0', 'pci')] });
    expect(show(dmaAliases(fabric, '05:02.0'))).toEqual(['05:02.0 own 05:02.0', '00:1e.0 pci-bridge 00:1e.0']);
  });

  it('a conventional bridge below a PCIe port with the pcie-bridge-alias quirk (ASM1083) aliases as a PCIe-to-PCI bridge', () => {
    const fns = (vendorId: number) => [f('00:1c.0', 'root-port', { secondary: 1 }), f('01:00.0', 'pci-bridge', { secondary: 2, vendorId, deviceId: 0x1080 }), f('02:04.0', 'pci')];
    expect(show(dmaAliases(buildFabric({ functions: fns(0x1b21) }), '02:04.0'))).toEqual(['02:04.0 own 02:04.0', '02:00.0 pci-bridge 01:00.0']);
    expect(show(dmaAliases(buildFabric({ functions: fns(0x1234) }), '02:04.0'))).toEqual(['02:04.0 own 02:04.0', '01:00.0 pci-bridge 01:00.0']);
    // Below a PCIe-to-PCI bridge the quirk does not apply (its upstream is not a PCIe port other than a PCIe-to-PCI bridge).
    const under = buildFabric({ functions: [f('00:1c.0', 'root-port', { secondary: 1 }), f('01:00.0', 'pcie-to-pci-bridge', { secondary: 2 }), f('02:01.0', 'pci-bridge', { secondary: 3, vendorId: 0x1b21, deviceId: 0x1080 }), f('03:00.0', 'pci')] });
    expect(show(dmaAliases(under, '03:00.0'))).toEqual(['03:00.0 own 03:00.0', '02:01.0 pci-bridge 02:01.0', '02:00.0 pcie-to-pci-bridge 01:00.0']);
  });

  it('nested bridges: each bridge on the way up adds its alias, nearest first; a PCI-to-PCIe bridge adds its own ID', () => {
    const fabric = buildFabric({
      functions: [
        f('00:1c.0', 'root-port', { secondary: 1 }),
        f('01:00.0', 'pcie-to-pci-bridge', { secondary: 2 }),
        f('02:01.0', 'pci-to-pcie-bridge', { secondary: 3 }),
        f('03:00.0', 'switch-upstream', { secondary: 4 }),
        f('04:02.0', 'switch-downstream', { secondary: 5 }),
        f('05:00.0', 'endpoint'),
      ],
    });
    expect(show(dmaAliases(fabric, '05:00.0'))).toEqual(['05:00.0 own 05:00.0', '02:01.0 pci-to-pcie-bridge 02:01.0', '02:00.0 pcie-to-pci-bridge 01:00.0']);
  });

  it('a Marvell 88SE9123 (func1 quirk): its own ID, then function 1 of its slot', () => {
    const fabric = buildFabric({ functions: [f('00:1c.0', 'root-port', { secondary: 3 }), f('03:00.0', 'endpoint', { vendorId: 0x1b4b, deviceId: 0x9123 })] });
    expect(show(dmaAliases(fabric, '03:00.0'))).toEqual(['03:00.0 own 03:00.0', '03:00.1 quirk 03:00.0']);
    expect(bdfs(presentedRequesterIds(fabric, '03:00.0'))).toEqual(['03:00.0', '03:00.1']);
  });

  it('quirk aliases come in ascending devfn order (a bitmap), before the bridges', () => {
    const fabric = buildFabric({ functions: [f('00:01.0', 'pcie-to-pci-bridge', { secondary: 1 }), f('01:05.0', 'pci', { dmaAliases: [0x30, 0x08] })] });
    expect(show(dmaAliases(fabric, '01:05.0'))).toEqual(['01:05.0 own 01:05.0', '01:01.0 quirk 01:05.0', '01:06.0 quirk 01:05.0', '01:00.0 pcie-to-pci-bridge 00:01.0']);
  });

  it('a VMD-style dmaDevice: iteration starts from the device that carries its DMA, in that device’s segment', () => {
    const fabric = buildFabric({
      functions: [f('00:0e.0', 'rc-integrated-endpoint', { dmaAliases: [0x71] }), f('0001:00:00.0', 'root-port', { secondary: 1 }), f('0001:01:00.0', 'endpoint', { dmaDevice: '00:0e.0', phantom: { supported: 1, enabled: true } })],
    });
    expect(show(dmaAliases(fabric, '0001:01:00.0'))).toEqual(['00:0e.0 dma-device 00:0e.0', '00:0e.1 quirk 00:0e.0']);
    expect(dmaAliases(fabric, '0001:01:00.0')[0]!.segment).toBe(0);
    expect(defaultRequesterId(fabric, '0001:01:00.0')).toBe(rid('00:0e.0'));
    // What the function itself may present: the carrier's ID first, its own phantom functions.
    expect(bdfs(presentedRequesterIds(fabric, '0001:01:00.0'))).toEqual(['00:0e.0', '01:00.4']);
  });

  it('xlate-root (ThunderX2): iteration stops at the bridge the translation unit is associated with', () => {
    const fns = (vendorId: number) => [f('00:01.0', 'pcie-to-pci-bridge', { secondary: 1 }), f('01:03.0', 'pci-bridge', { secondary: 2, vendorId, deviceId: 0x9000 }), f('02:05.0', 'pci')];
    expect(show(dmaAliases(buildFabric({ functions: fns(0x1234) }), '02:05.0'))).toEqual(['02:05.0 own 02:05.0', '01:03.0 pci-bridge 01:03.0', '01:00.0 pcie-to-pci-bridge 00:01.0']);
    const thrx2 = buildFabric({ functions: fns(0x14e4) });
    expect(show(dmaAliases(thrx2, '02:05.0'))).toEqual(['02:05.0 own 02:05.0']);
    expect(defaultRequesterId(thrx2, '02:05.0')).toBe(rid('02:05.0'));
  });

  it('the ASPEED AST1150 PCIe-to-PCI bridge keeps downstream requester IDs (no alias)', () => {
    const fabric = buildFabric({ functions: [f('00:1c.0', 'root-port', { secondary: 0xe1 }), f('e1:00.0', 'pcie-to-pci-bridge', { secondary: 0xe2, vendorId: 0x1a03, deviceId: 0x1150 }), f('e2:00.0', 'pci'), f('e2:02.0', 'pci')] });
    expect(show(dmaAliases(fabric, 'e2:02.0'))).toEqual(['e2:02.0 own e2:02.0']);
    expect(defaultRequesterId(fabric, 'e2:02.0')).toBe(rid('e2:02.0'));
  });

  it('throws for a function that is not in the fabric', () => {
    const fabric = buildFabric({ functions: [f('00:02.0', 'endpoint')] });
    expect(() => dmaAliases(fabric, '00:03.0')).toThrow(RangeError);
  });
});

describe('phantomRequesterIds (PCIe §7.5.3.3)', () => {
  const fabric = buildFabric({
    functions: [
      f('03:00.0', 'endpoint', { phantom: { supported: 1, enabled: true } }),
      f('03:00.3', 'endpoint', { phantom: { supported: 1, enabled: true } }),
      f('04:00.0', 'endpoint', { phantom: { supported: 2, enabled: true } }),
      f('04:00.1', 'endpoint', { phantom: { supported: 2, enabled: true } }),
      f('05:00.0', 'endpoint', { phantom: { supported: 3, enabled: true } }),
      f('06:00.0', 'endpoint', { phantom: { supported: 3, enabled: false } }),
      f('07:00.0', 'endpoint'),
    ],
    hostBridges: [3, 4, 5, 6, 7].map((bus) => ({ segment: 0, bus })),
  });
  const ph = (k: string) => bdfs(phantomRequesterIds(fabric.functions[k]!));

  it('n=1: functions 0-3 use 4-7', () => {
    expect(ph('03:00.0')).toEqual(['03:00.4']);
    expect(ph('03:00.3')).toEqual(['03:00.7']);
  });
  it('n=2: function 0 uses 2, 4, 6; function 1 uses 3, 5, 7', () => {
    expect(ph('04:00.0')).toEqual(['04:00.2', '04:00.4', '04:00.6']);
    expect(ph('04:00.1')).toEqual(['04:00.3', '04:00.5', '04:00.7']);
  });
  it('n=3: function 0 uses 1-7', () => {
    expect(ph('05:00.0')).toEqual(['05:00.1', '05:00.2', '05:00.3', '05:00.4', '05:00.5', '05:00.6', '05:00.7']);
  });
  it('none when not enabled or not supported', () => {
    expect(ph('06:00.0')).toEqual([]);
    expect(ph('07:00.0')).toEqual([]);
  });
  it('presentedRequesterIds: own first, then phantoms, then quirk devfns, each once', () => {
    const g = buildFabric({ functions: [f('00:04.0', 'endpoint', { phantom: { supported: 1, enabled: true }, dmaAliases: [0x24, 0x20, 0x21] })] });
    expect(bdfs(presentedRequesterIds(g, '00:04.0'))).toEqual(['00:04.0', '00:04.4', '00:04.1']);
  });
});

describe('the DMA-alias quirk table', () => {
  it('every row cites its source and names the device', () => {
    for (const row of DMA_ALIAS_QUIRKS) {
      expect(row.source).toMatch(/drivers\/pci\/quirks\.c quirk_/);
      expect(row.name.length).toBeGreaterThan(0);
    }
  });
  it('looks rows up by vendor/device, with class and subsystem matched only when given', () => {
    expect(dmaAliasQuirks(0x1b4b, 0x9230).map((r) => r.rule.kind)).toEqual(['func1']);
    expect(dmaAliasQuirks(0x1b4b, 0x1234)).toEqual([]);
    expect(dmaAliasQuirks(undefined, 0x9230)).toEqual([]);
    // Adaptec 3405/3805: PCI_DEVICE_SUB rows.
    expect(dmaAliasQuirks(0x9005, 0x0285)).toEqual([]);
    expect(dmaAliasQuirks(0x9005, 0x0285, undefined, { vendor: 0x9005, device: 0x02bb }).map((r) => r.name)).toEqual(['Adaptec 3405']);
    // Switchtec: DECLARE_PCI_FIXUP_CLASS_FINAL(..., PCI_CLASS_BRIDGE_OTHER, 8, ...).
    expect(dmaAliasQuirks(0x11f8, 0x8531)).toEqual([]);
    expect(dmaAliasQuirks(0x11f8, 0x8531, 0x068000).map((r) => r.rule.kind)).toEqual(['ntb-proxy-ids']);
    expect(dmaAliasQuirks(0x11f8, 0x8531, 0x060400)).toEqual([]);
  });
  it('VCA aliases functions 0-4 of all 32 slots; PLX NTB all 256 devfns', () => {
    const vca = dmaAliasQuirks(0x8086, 0x2956)[0]!.rule;
    expect(vca.kind === 'fixed' && vca.devfns.length).toBe(160);
    expect(vca.kind === 'fixed' && vca.devfns.slice(0, 6)).toEqual([0, 1, 2, 3, 4, 8]);
    const plx = dmaAliasQuirks(0x10b5, 0x87b0)[0]!.rule;
    expect(plx.kind === 'fixed' && plx.devfns.length).toBe(256);
  });
});
