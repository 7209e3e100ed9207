// The AMD-Vi schemes of the explorer (--vendor amd|both): reachability simulated on a virtual
// AMD IOMMU (legacy 32-bit IRTE vs XT's 128-bit IRTE) and on an AMD-Vi host (remapped, AVIC /
// x2AVIC posting), costs counted from events and memory references, and each check shown able
// to fail on a deliberately broken platform.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { explore } from '../../src/explorer/explore.ts';
import { loadGuestSupport } from '../../src/explorer/guest-support.ts';
import { AMD_SCHEME_IDS, SCHEME_IDS, schemesOfVendor } from '../../src/explorer/schemes.ts';
import { simulateAmdGuestLayer } from '../../src/explorer/amd-guest-layer.ts';
import { amdSteadyStateCost, simulateAmdHostLayer } from '../../src/explorer/amd-host-layer.ts';
import { amdHostPlatform } from '../../src/explorer/amd-platforms.ts';
import { amdV1WalkCost } from '../../src/explorer/amd-dma-cost.ts';
import { formatReport } from '../../src/explorer/format.ts';
import { runExplore } from '../../src/cli/explore.ts';
import { InputError } from '../../src/io/input-error.ts';

const support = loadGuestSupport();
const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
const IDS_384 = range(384);

describe('AMD-Vi schemes, 384-vCPU guest (APIC IDs 0..383)', () => {
  const r = explore({ apicIds: IDS_384, vm: '384', guest: 'linux', guestSupport: support, vendor: 'amd' });
  const row = (scheme: string, delivery: string) => r.rows.find((x) => x.scheme === scheme && x.delivery === delivery)!;

  it('the legacy AMD IRTE reaches 255 vCPUs (APIC IDs 0..254); XT reaches all 384', () => {
    expect(r.rows.map((x) => [x.scheme, x.delivery, x.reachable, x.maxReachableApicId])).toEqual([
      ['amd-viommu-xapic', 'remapped', 255, 254],
      ['amd-viommu-xapic', 'avic', 255, 254],
      ['amd-viommu-xt', 'remapped', 384, 383],
      ['amd-viommu-xt', 'x2avic', 384, 383],
      ['amd-viommu-xt-dma', 'remapped', 384, 383],
      ['amd-viommu-xt-dma', 'x2avic', 384, 383],
    ]);
    expect(row('amd-viommu-xapic', 'remapped').unreachable.map((u) => [u.code, u.count])).toEqual([
      ['broadcast-collision', 1],
      ['truncated-destination', 128],
    ]);
  });

  it('costs are counted: an IRTE-cache miss per first interrupt, AVIC backing-page IRR writes and the doorbell, two trapped command-tail writes per MSI', () => {
    // The DTE is read once (the first interrupt after INVALIDATE_DEVTAB_ENTRY), then cached: 1/384 DTE reads per first interrupt.
    expect(row('amd-viommu-xt', 'remapped').perInterrupt).toEqual({ irteReads: 1, tableReads: 1 / 384, pidReads: 0, pidWrites: 0, notifications: 0, vmExits: 1 });
    // IOMMU: IRR word read + write in the backing page; CPU on the doorbell: the 8 IRR words read, the set one cleared.
    expect(row('amd-viommu-xt', 'x2avic').perInterrupt).toEqual({ irteReads: 1, tableReads: 1 / 384, pidReads: 9, pidWrites: 2, notifications: 1, vmExits: 0 });
    // 4 MSI-X dwords + INVALIDATE_INTERRUPT_TABLE and COMPLETION_WAIT tail writes; guest and host IRTE; guest and host invalidation.
    expect(row('amd-viommu-xt', 'x2avic').perMsi).toEqual({ trappedWrites: 6, guestIrteWrites: 1, hostIrteWrites: 1, invalidations: 2, hypervisorRequests: 1, hypercalls: 0 });
    expect(row('amd-viommu-xt', 'remapped').perMsi?.hypervisorRequests).toBe(0);
  });

  it('DMA refs come from a simulated v1 walk: 4 per IOTLB miss with and without dma-remap (a shadow, not a nested walk)', () => {
    expect(row('amd-viommu-xt', 'remapped').dma).toEqual({ walk: 'host v1 4-level (GPA → HPA)', pagingReferences: 4, totalReferences: 5 });
    expect(row('amd-viommu-xt-dma', 'remapped').dma.pagingReferences).toBe(4);
    expect(row('amd-viommu-xt-dma', 'remapped').dma.walk).toContain('dma-remap shadow');
    expect(amdV1WalkCost({ mode: 6 }).pagingReferences).toBe(6);
    expect(amdV1WalkCost({ mode: 3 }).pagingReferences).toBe(3);
  });

  it('prints as a table with the AMD rows labelled', () => {
    const text = formatReport(r);
    expect(text).toContain('AMD vIOMMU xAPIC');
    expect(text).toContain('x2avic');
  });
});

describe('vendor selection', () => {
  const ids = range(8);
  it('defaults to the Intel schemes (output unchanged); amd and both add the AMD rows after', () => {
    expect(explore({ apicIds: ids, vm: '8', guest: 'linux', guestSupport: support }).rows.map((x) => x.scheme)).toEqual(explore({ apicIds: ids, vm: '8', guest: 'linux', guestSupport: support, schemes: SCHEME_IDS }).rows.map((x) => x.scheme));
    expect(schemesOfVendor('intel')).toEqual(SCHEME_IDS);
    expect(schemesOfVendor('amd')).toEqual(AMD_SCHEME_IDS);
    const both = explore({ apicIds: ids, vm: '8', guest: 'linux', guestSupport: support, vendor: 'both' });
    expect([...new Set(both.rows.map((x) => x.scheme))]).toEqual([...SCHEME_IDS, ...AMD_SCHEME_IDS]);
  });

  it('--vendor is checked, and --schemes accepts AMD ids', () => {
    expect(() => runExplore({ apicIds: '0-3', guest: 'linux', vendor: 'arm' })).toThrow(InputError);
    expect(runExplore({ apicIds: '0-3', guest: 'linux', schemes: 'amd-viommu-xt' })).toContain('AMD vIOMMU XT');
  });
});

describe('AMD host side', () => {
  it('x2AVIC posts up to APIC ID 0x1FF, AVIC up to 0xFE (KVM physical APIC ID table); remapped reaches all, across 512-IRTE tables', () => {
    const ids = range(600);
    const all = range(600);
    const x2 = simulateAmdHostLayer('x2avic', ids, all);
    expect(x2.outcomes.filter((o) => o?.reached).length).toBe(512);
    expect(x2.outcomes[512]!.why).toContain('X2AVIC_MAX_PHYSICAL_ID');
    const remapped = simulateAmdHostLayer('remapped', ids, all);
    expect(remapped.outcomes.every((o) => o?.reached)).toBe(true);
    expect(remapped.outcomes[599]!.device).toBe('01:00.1');
    expect(remapped.outcomes[599]!.message).toEqual({ address: 0xfee00000n, data: 599 - 512 });
    const avic = simulateAmdHostLayer('avic', range(300), range(300));
    expect(avic.outcomes.filter((o) => o?.reached).length).toBe(255);
  });

  it('steady state: remapped IRTEs hit the 32-entry IRTE cache until it is outgrown; a GA-mode IRTE is re-read on every hit (IsRun, Destination, GATag are not cached)', () => {
    const remapped = simulateAmdHostLayer('remapped', range(64), range(64));
    expect(amdSteadyStateCost(remapped, range(16))?.irteReads).toBe(0);
    expect(amdSteadyStateCost(remapped, range(64))?.irteReads).toBe(1);
    const posted = simulateAmdHostLayer('x2avic', range(64), range(64));
    expect(amdSteadyStateCost(posted, range(16))).toEqual({ irteReads: 1, tableReads: 0, pidReads: 9, pidWrites: 2, notifications: 1, vmExits: 0 });
  });

  it('fails on a broken host: without GAMEn = 001 the GA-mode IRTE is refused (IO_PAGE_FAULT)', () => {
    const ids = range(4);
    const noVapic = simulateAmdHostLayer('x2avic', ids, range(4), amdHostPlatform({ guestApicIds: ids, avic: false }));
    expect(noVapic.outcomes.every((o) => o?.reached === false)).toBe(true);
    expect(noVapic.outcomes[0]!.why).toContain('event code 0x2');
  });
});

describe('guest side, property (fixed seed)', () => {
  // The legacy IRTE names a vCPU iff its APIC ID is at most 0xFE; XT names every vCPU.
  const legacyRule = (ids: readonly number[], reached: readonly boolean[]): boolean => ids.every((id, v) => reached[v] === id <= 0xfe);
  const ids = fc.uniqueArray(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 6 });

  it('legacy: reached exactly for APIC IDs ≤ 0xFE; XT: every vCPU', () => {
    fc.assert(
      fc.property(ids, (a) => {
        const legacy = simulateAmdGuestLayer('amd-viommu-xapic', a).outcomes.map((o) => o.reached);
        const xt = simulateAmdGuestLayer('amd-viommu-xt', a).outcomes.map((o) => o.reached);
        return legacyRule(a, legacy) && xt.every(Boolean);
      }),
      { seed: 1313, numRuns: 25 },
    );
  });

  it('the same rule fails on the XT results when an APIC ID is above 0xFE (the check can fail)', () => {
    const out = fc.check(
      fc.property(ids, (a) => legacyRule(a, simulateAmdGuestLayer('amd-viommu-xt', a).outcomes.map((o) => o.reached))),
      { seed: 1313, numRuns: 25 },
    );
    expect(out.failed).toBe(true);
  });
});
