/**
 * P2 (src/properties/p2-dma-isolation.ts) judged access by access on hand-built intent: an
 * access must lie wholly inside one mapping of the device's address space with the right
 * permission (a host device with no mappings has the host's identity map), and never touch an
 * IOMMU structure — the invalidation queue while queued invalidation is on, the IRT once SIRTP
 * latched it (GSTS.IRTPS), every vCPU's PID, the hypervisor's table arena — unless the mapping
 * says the hypervisor put those structures there on purpose. A peer-to-peer request is judged by
 * the owners at both ends.
 */
import { describe, expect, it } from 'vitest';
import { checkDmaAccess, checkDmaIsolation, checkPeerAccess, iommuStructures } from '../../src/properties/p2-dma-isolation.ts';
import type { DmaAccessEvent, DmaPeerEvent, PlatformEvent } from '../../src/platform/events.ts';
import type { DeviceDmaIntent, DmaGrant, PlatformState } from '../../src/platform/state.ts';
import { encodeIrta, irtaSizeForEntries, GLOBAL_STATUS_BITS, IQA_REG } from '../../src/vtd/registers.ts';
import { DEV_A, DEV_A1, DEV_B, DEV_FREE, RID_A, description, platform } from './fixtures.ts';
import { buildPlatform } from '../../src/platform/build.ts';

const QIES = 1 << GLOBAL_STATUS_BITS.QIES;
const IRTPS = 1 << GLOBAL_STATUS_BITS.IRTPS;

const grant = (iova: bigint, hpa: bigint, size: bigint, o: Partial<DmaGrant> = {}): DmaGrant => ({ iova, hpa, size, read: true, write: true, structures: false, ...o });
const legacy = (domain: number, grants: readonly DmaGrant[]): DeviceDmaIntent => ({ domain, spaces: { legacy: { did: 1, grants } } });

function withDma(s: PlatformState, dma: Record<string, DeviceDmaIntent>): PlatformState {
  return { ...s, intent: { ...s.intent, dma } };
}
/** No vCPUs, no arena in use: the only structures are the ones a test adds. */
function bare(): PlatformState {
  const d = description();
  return buildPlatform({ ...d, domains: d.domains.map((x) => ({ ...x, vcpuApicIds: [] })) });
}

function access(o: Partial<DmaAccessEvent> = {}): DmaAccessEvent {
  return { kind: 'dma-access', step: 6, device: DEV_A, rid: RID_A, pasid: undefined, iova: 0x10010n, size: 8, write: true, iommu: 0, references: [], hpa: 0x8000_0010n, translation: 'walk', type: 'legacy', value: 0n, ...o };
}
const messages = (vs: readonly { message: string }[]): string[] => vs.map((v) => v.message);

describe('P2 checkDmaAccess: the mappings', () => {
  const vm1 = (grants: readonly DmaGrant[]): PlatformState => withDma(bare(), { [DEV_A]: legacy(1, grants) });

  it('inside a read-write mapping: no violation', () => {
    expect(checkDmaAccess(vm1([grant(0x10000n, 0x8000_0000n, 0x1000n)]), access())).toEqual([]);
  });

  it('outside every mapping: one violation with device, domain, direction, HPA+size, IOVA and translation', () => {
    expect(checkDmaAccess(vm1([grant(0x10000n, 0x9000_0000n, 0x1000n)]), access())).toEqual([
      { property: 'P2', step: 6, message: "07:00.0 (vm1) wrote HPA 0x80000010+8 (IOVA 0x10010, walk), which its domain's mappings do not cover" },
    ]);
  });

  it('the whole access must fit: the first and last byte of a mapping are in, one byte past is out', () => {
    const s = vm1([grant(0x10000n, 0x8000_0000n, 0x1000n)]);
    expect(checkDmaAccess(s, access({ hpa: 0x8000_0000n, size: 4 }))).toEqual([]);
    expect(checkDmaAccess(s, access({ hpa: 0x8000_0ff8n, size: 8 }))).toEqual([]);
    expect(checkDmaAccess(s, access({ hpa: 0x8000_0ffcn, size: 8 }))).toHaveLength(1);
    expect(checkDmaAccess(s, access({ hpa: 0x7fff_fffcn, size: 8 }))).toHaveLength(1);
    expect(checkDmaAccess(s, access({ hpa: 0x8000_1000n, size: 1 }))).toHaveLength(1);
  });

  it('a write needs a writable mapping, a read a readable one', () => {
    const ro = vm1([grant(0x10000n, 0x8000_0000n, 0x1000n, { write: false })]);
    expect(messages(checkDmaAccess(ro, access()))).toEqual(["07:00.0 (vm1) wrote HPA 0x80000010+8 (IOVA 0x10010, walk), which its domain's mappings do not cover"]);
    expect(checkDmaAccess(ro, access({ write: false }))).toEqual([]);
    const wo = vm1([grant(0x10000n, 0x8000_0000n, 0x1000n, { read: false })]);
    expect(messages(checkDmaAccess(wo, access({ write: false, translation: 'iotlb-hit' })))).toEqual(["07:00.0 (vm1) read HPA 0x80000010+8 (IOVA 0x10010, iotlb-hit), which its domain's mappings do not cover"]);
    expect(checkDmaAccess(wo, access())).toEqual([]);
  });

  it('a request with a PASID is judged by that PASID\'s mappings, and says so', () => {
    const s = withDma(bare(), { [DEV_A]: { domain: 1, spaces: { '3': { did: 1, grants: [grant(0x10000n, 0x8000_0000n, 0x1000n)] } } } });
    expect(checkDmaAccess(s, access({ pasid: 3 }))).toEqual([]);
    expect(messages(checkDmaAccess(s, access({ pasid: 4 })))).toEqual(['07:00.0 (vm1) wrote HPA 0x80000010+8 (IOVA 0x10010 PASID 4, walk), which its mappings for PASID 4 do not cover']);
  });

  it('a device nobody owns has no mappings', () => {
    expect(messages(checkDmaAccess(bare(), access({ device: DEV_FREE, translation: 'untranslated' })))).toEqual([
      "09:00.0 (no domain) wrote HPA 0x80000010+8 (IOVA 0x10010, untranslated), which its domain's mappings do not cover",
    ]);
  });

  it('a host device with no mappings may reach any memory but the IOMMU structures (identity map)', () => {
    const s = { ...bare(), intent: { ...bare().intent, owners: { ...bare().intent.owners, [DEV_FREE]: 0 } } };
    expect(checkDmaAccess(s, access({ device: DEV_FREE }))).toEqual([]);
  });

  it('a host device with mappings is held to them', () => {
    const base = bare();
    const s = withDma({ ...base, intent: { ...base.intent, owners: { ...base.intent.owners, [DEV_FREE]: 0 } } }, { [DEV_FREE]: legacy(0, [grant(0n, 0x9000_0000n, 0x1000n)]) });
    expect(messages(checkDmaAccess(s, access({ device: DEV_FREE })))).toEqual(["09:00.0 (host) wrote HPA 0x80000010+8 (IOVA 0x10010, walk), which its domain's mappings do not cover"]);
  });
});

describe('P2: the IOMMU structures', () => {
  it('none on a platform without vCPUs, IR, QI or tables', () => {
    expect(iommuStructures(bare())).toEqual([]);
  });

  it('each vCPU\'s PID, 64 bytes', () => {
    expect(iommuStructures(platform())).toEqual([
      { start: 0x4000_0000n, end: 0x4000_0040n, what: 'the PID of vCPU 0' },
      { start: 0x4000_0040n, end: 0x4000_0080n, what: 'the PID of vCPU 1' },
      { start: 0x4000_0080n, end: 0x4000_00c0n, what: 'the PID of vCPU 2' },
    ]);
  });

  it('the invalidation queue while QIES is set, the latched IRT while IRTPS is set, the arena in use', () => {
    const s0 = bare();
    const u = s0.iommus[0]!;
    const iqa = IQA_REG.encode({ IQA: 0x64000, DW: true, QS: 1 });
    const irtaLatched = encodeIrta({ base: 0x1000_0000n, eime: true, size: irtaSizeForEntries(256) });
    const arena = { ...s0.hypervisor.tableArena, next: s0.hypervisor.tableArena.start + 0x3000n };
    const s = { ...s0, iommus: [{ ...u, regs: { ...u.regs, gsts: QIES | IRTPS, iqa, irta: 0x2000_0000n, irtaLatched } }], hypervisor: { ...s0.hypervisor, tableArena: arena } };
    expect(iommuStructures(s)).toEqual([
      { start: 0x6400_0000n, end: 0x6400_2000n, what: 'the invalidation queue of dmar0' },
      { start: 0x1000_0000n, end: 0x1000_1000n, what: 'the IRT of dmar0' },
      { start: 0x6000_0000n, end: 0x6000_3000n, what: 'the DMA-remapping tables' },
    ]);
    // Without the status bits, neither the queue nor the IRT is in use.
    expect(iommuStructures({ ...s, iommus: [{ ...s.iommus[0]!, regs: { ...s.iommus[0]!.regs, gsts: 0 } }] }).map((r) => r.what)).toEqual(['the DMA-remapping tables']);
    expect(iommuStructures({ ...s, iommus: [{ ...s.iommus[0]!, regs: { ...s.iommus[0]!.regs, gsts: IRTPS } }] }).map((r) => r.what)).toEqual(['the IRT of dmar0', 'the DMA-remapping tables']);
  });

  it('an access overlapping a structure by one byte at either end is a violation, even inside a mapping', () => {
    const s = withDma(platform(), { [DEV_A]: legacy(1, [grant(0x10000n, 0x4000_0000n, 0x1000n)]) });
    expect(messages(checkDmaAccess(s, access({ hpa: 0x4000_0078n, size: 8 })))).toEqual(['07:00.0 wrote HPA 0x40000078+8: the PID of vCPU 1 (0x40000040–0x4000007f)']);
    expect(messages(checkDmaAccess(s, access({ hpa: 0x4000_007cn, size: 8, write: false })))).toEqual([
      '07:00.0 read HPA 0x4000007c+8: the PID of vCPU 1 (0x40000040–0x4000007f)',
      '07:00.0 read HPA 0x4000007c+8: the PID of vCPU 2 (0x40000080–0x400000bf)',
    ]);
    expect(checkDmaAccess(s, access({ hpa: 0x4000_00c0n, size: 8 }))).toEqual([]);
  });

  it('an access ending right before a structure, or starting right after it, is not', () => {
    const s = withDma(platform(), { [DEV_A]: legacy(1, [grant(0x0n, 0x3fff_f000n, 0x2000n)]) });
    expect(checkDmaAccess(s, access({ hpa: 0x3fff_fff8n, size: 8 }))).toEqual([]);
  });

  it('a mapping of the structures made on purpose allows them; another mapping of the same range does not', () => {
    const onPurpose = withDma(platform(), { [DEV_A]: legacy(1, [grant(0x10000n, 0x4000_0000n, 0x1000n, { structures: true })]) });
    expect(checkDmaAccess(onPurpose, access({ hpa: 0x4000_0040n }))).toEqual([]);
    const notCovering = withDma(platform(), { [DEV_A]: legacy(1, [grant(0x0n, 0x8000_0000n, 0x1000n, { structures: true })]) });
    expect(messages(checkDmaAccess(notCovering, access({ hpa: 0x4000_0040n })))).toEqual([
      "07:00.0 (vm1) wrote HPA 0x40000040+8 (IOVA 0x10010, walk), which its domain's mappings do not cover",
      '07:00.0 wrote HPA 0x40000040+8: the PID of vCPU 1 (0x40000040–0x4000007f)',
    ]);
  });
});

describe('P2 checkPeerAccess', () => {
  const peer = (o: Partial<DmaPeerEvent> = {}): DmaPeerEvent => ({ kind: 'dma-peer', step: 8, device: DEV_A, rid: RID_A, address: 0xd000_0010n, size: 4, write: true, target: DEV_A1, at: '00:1c.0', why: 'no ACS P2P Request Redirect', ...o });

  it('between devices of one domain: allowed', () => {
    expect(checkPeerAccess(platform(), peer())).toEqual([]);
  });

  it('into another domain\'s device: a violation naming both ends and where it turned', () => {
    expect(checkPeerAccess(platform(), peer({ target: DEV_B }))).toEqual([
      { property: 'P2', step: 8, message: '07:00.0 (vm1) wrote 0xd0000010+4 in a BAR of 08:00.0 (vm2), routed peer to peer at 00:1c.0 without translation (no ACS P2P Request Redirect)' },
    ]);
  });

  it('between an owned and an unowned device, either way; a read says "read"', () => {
    expect(messages(checkPeerAccess(platform(), peer({ target: DEV_FREE, write: false })))).toEqual([
      '07:00.0 (vm1) read 0xd0000010+4 in a BAR of 09:00.0 (no domain), routed peer to peer at 00:1c.0 without translation (no ACS P2P Request Redirect)',
    ]);
    expect(messages(checkPeerAccess(platform(), peer({ device: DEV_FREE })))).toHaveLength(1);
  });

  it('an owner the state has no domain for is named by number', () => {
    const s = platform();
    const t = { ...s, intent: { ...s.intent, owners: { ...s.intent.owners, [DEV_FREE]: 7 } } };
    expect(messages(checkPeerAccess(t, peer({ target: DEV_FREE })))).toEqual([
      '07:00.0 (vm1) wrote 0xd0000010+4 in a BAR of 09:00.0 (domain 7), routed peer to peer at 00:1c.0 without translation (no ACS P2P Request Redirect)',
    ]);
  });

  it('between two unowned devices: allowed (neither belongs to a domain)', () => {
    expect(checkPeerAccess(platform(), peer({ device: DEV_FREE, target: DEV_FREE }))).toEqual([]);
  });
});

describe('P2 checkDmaIsolation', () => {
  it('judges accesses and peer requests, in order, and nothing else', () => {
    const s = withDma(platform(), { [DEV_A]: legacy(1, [grant(0x10000n, 0x8000_0000n, 0x1000n)]) });
    const events: PlatformEvent[] = [
      { kind: 'intent', step: 1, change: 'x' },
      access({ step: 2, hpa: 0x9000_0000n }),
      access({ step: 3 }),
      { kind: 'dma-peer', step: 4, device: DEV_A, rid: RID_A, address: 0xd000_0000n, size: 4, write: true, target: DEV_B, at: '00:1c.0', why: 'x' },
    ];
    expect(checkDmaIsolation(s, events).map((v) => [v.step, v.message.slice(0, 24)])).toEqual([
      [2, '07:00.0 (vm1) wrote HPA '],
      [4, '07:00.0 (vm1) wrote 0xd0'],
    ]);
  });
});
