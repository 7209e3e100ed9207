/**
 * Transitions for DMA remapping: RTADDR, DMA-cache invalidation and invalidation wait
 * (hardware), and the hypervisor's operations that build and tear down a device's
 * translation (trusted software: page tables from the table arena, context and PASID
 * entries, the DMA intent that P2 reads). The tables are built with
 * src/vtd/dma/builder.ts; the caches are src/vtd/dma/caches.ts.
 */
import type { Draft } from 'immer';
import type { ActionOf } from './actions.ts';
import type { IommuUnit, PlatformState, DmaGrant } from './state.ts';
import { deviceOrReject, unitOrReject, type Handler } from './transition.ts';
import { writeRtaddr } from '../vtd/ir-registers.ts';
import { decodeWait } from '../vtd/invalidation.ts';
import { applyDmaInvalidation } from '../vtd/dma/caches.ts';
import { decodeDmaInvalidation } from '../vtd/dma/invalidation-dma.ts';
import { allocatePage, buildFirstStage, buildNested, buildSecondStage, installLegacyDevice, installPasidEntry, installScalableDevice, type BumpAllocator } from '../vtd/dma/builder.ts';
import { addressFrame, frameAddress, PGTT, RTADDR, TTM, CONTEXT_TT } from '../vtd/dma/structures.ts';
import { translateDma } from '../vtd/dma/walk.ts';
import { dmaCapabilities } from './dma-access.ts';
import { deviceRequesterIds } from '../fabric/contexts.ts';

/**
 * The requester IDs the device's DMA may carry, each once: its own, its DMA aliases
 * (src/fabric/aliases.ts) and its phantom functions (which Xen sets up with the device:
 * `phantom_stride` in xen/drivers/passthrough/pci.c). `own` only the first.
 */
function requesterIdsOf(state: PlatformState, device: string, own: number, contexts: 'all' | 'own' = 'all'): number[] {
  return deviceRequesterIds(state.fabric, device, own, contexts);
}

/** Guest-physical pages for nested first-stage tables: the model gives the guest 256 MiB at 3 GiB. */
const GUEST_TABLE_ARENA = { next: 0xc000_0000n, end: 0xd000_0000n } as const;

type MapDma = ActionOf<'map-dma'>;

/** AW encoding of a level count (3 → 1, 4 → 2, 5 → 3). */
const awOf = (levels: number): number => levels - 2;

type Built = { memory: PlatformState['memory']; arena: BumpAllocator };

/** Page tables and context (and PASID) entries for requester ID `rid`, allocated from `from.arena`. */
function buildTranslation(from: Built, unit: IommuUnit, a: MapDma, rid: number): Built {
  let memory = from.memory;
  let arena: BumpAllocator = from.arena;
  const rootTable = frameAddress(RTADDR.decode(unit.regs.rtaddr).RTA);
  const plain = a.mappings.map((m) => ({ iova: m.iova, hpa: m.hpa, size: m.size, read: m.read, write: m.write }));
  if (a.mode === 'legacy' || a.mode === 'legacy-pass-through') {
    let slptptr = 0n;
    if (a.mode === 'legacy') {
      const b = buildSecondStage(memory, arena, plain, { levels: a.levels });
      ({ memory, allocator: arena } = b);
      slptptr = b.root;
    }
    const d = installLegacyDevice(memory, arena, { rootTable, rid, did: a.did, aw: awOf(a.levels), slptptr, tt: a.mode === 'legacy' ? CONTEXT_TT.MULTI_LEVEL : CONTEXT_TT.PASS_THROUGH });
    return { memory: d.memory, arena: d.allocator };
  }
  const dev = installScalableDevice(memory, arena, { rootTable, rid, ridPasid: a.pasid ?? 0 });
  ({ memory, allocator: arena } = dev);
  const entry: Record<string, number | boolean> = { P: true, DID: a.did, SRE: true };
  if (a.mode === 'second-stage') {
    const b = buildSecondStage(memory, arena, plain, { levels: a.levels });
    ({ memory, allocator: arena } = b);
    Object.assign(entry, { PGTT: PGTT.SECOND_STAGE, SLPTPTR: addressFrame(b.root), AW: awOf(a.levels) });
  } else if (a.mode === 'first-stage') {
    const b = buildFirstStage(memory, arena, plain.map((m) => ({ ...m, user: true })), { levels: a.levels });
    ({ memory, allocator: arena } = b);
    Object.assign(entry, { PGTT: PGTT.FIRST_STAGE, FLPTPTR: addressFrame(b.root), FLPM: a.levels === 5 ? 1 : 0 });
  } else if (a.mode === 'nested') {
    const b = buildNested(memory, {
      hostAllocator: arena,
      guestAllocator: GUEST_TABLE_ARENA,
      mappings: a.mappings.map((m) => ({ iova: m.iova, gpa: m.gpa ?? m.iova, hpa: m.hpa, size: m.size, read: m.read, write: m.write, user: true })),
      firstStageLevels: a.firstStageLevels ?? 4,
      secondStageLevels: a.levels,
    });
    memory = b.memory;
    arena = b.hostAllocator;
    Object.assign(entry, { PGTT: PGTT.NESTED, FLPTPTR: addressFrame(b.firstStageRoot), SLPTPTR: addressFrame(b.secondStageRoot), AW: awOf(a.levels), FLPM: (a.firstStageLevels ?? 4) === 5 ? 1 : 0 });
  } else {
    Object.assign(entry, { PGTT: PGTT.PASS_THROUGH, AW: awOf(a.levels) });
  }
  const p = installPasidEntry(memory, arena, { pasidDirectory: dev.pasidDirectory, pasid: a.pasid ?? 0, entry });
  return { memory: p.memory, arena: p.allocator };
}

/**
 * What is left of grant `g` once [start, end) (IOVA bytes) is unmapped: the grant itself when
 * it does not overlap, else its parts below `start` and from `end` on (each with its HPA
 * shifted by the same offset), so that unmapping one page of a larger mapping keeps the rest.
 */
function trimGrant(g: DmaGrant, start: bigint, end: bigint): DmaGrant[] {
  const gEnd = g.iova + g.size;
  if (gEnd <= start || g.iova >= end) return [g];
  const out: DmaGrant[] = [];
  if (g.iova < start) out.push({ ...g, size: start - g.iova });
  if (gEnd > end) out.push({ ...g, iova: end, hpa: g.hpa + (end - g.iova), size: gEnd - end });
  return out;
}

export const dmaHandlers: {
  [K in 'write-rtaddr' | 'invalidate-dma' | 'invalidation-wait' | 'dma-root' | 'map-dma' | 'unmap-dma']: Handler<K>;
} = {
  'write-rtaddr'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const r = writeRtaddr(unit, a.value);
    draft.iommus[a.iommu] = r.unit as Draft<IommuUnit>;
    emit({ kind: 'register-write', iommu: a.iommu, register: 'RTADDR', value: a.value, gsts: r.unit.regs.gsts, changed: [], note: undefined });
  },

  'invalidate-dma'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const d = decodeDmaInvalidation(a.descriptor);
    if (d === undefined) return void emit({ kind: 'action-rejected', why: `descriptor 0x${a.descriptor.toString(16)} is not a context-cache, IOTLB, PASID-IOTLB or PASID-cache invalidation` });
    draft.iommus[a.iommu]!.dma = applyDmaInvalidation(unit.dma, d.desc) as Draft<IommuUnit['dma']>;
    const { kind, ...fields } = d.desc;
    const what = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'bigint' ? `0x${v.toString(16)}` : String(v)}`)
      .join(' ');
    emit({ kind: 'hypervisor', policy: before.hypervisor.policy, request: `${unit.name} ${kind} invalidation: ${what}` });
  },

  'invalidation-wait'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const w = decodeWait(a.descriptor).desc;
    if (w.statusWrite) {
      draft.memory = before.memory.writeLE(w.statusAddress, 4, BigInt(w.statusData >>> 0));
      emit({ kind: 'memory-write', address: w.statusAddress, bytes: 4, value: BigInt(w.statusData >>> 0), what: `invalidation wait status of ${unit.name}` });
    } else {
      emit({ kind: 'hypervisor', policy: before.hypervisor.policy, request: `${unit.name} invalidation wait complete` });
    }
  },

  'dma-root'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const page = allocatePage(before.memory, before.hypervisor.tableArena);
    const value = RTADDR.encode({ RTA: addressFrame(page.address), TTM: a.scalable ? TTM.SCALABLE : TTM.LEGACY });
    draft.memory = page.memory;
    draft.hypervisor.tableArena.next = page.allocator.next;
    draft.iommus[a.iommu] = writeRtaddr(unit, value).unit as Draft<IommuUnit>;
    emit({ kind: 'register-write', iommu: a.iommu, register: 'RTADDR', value, gsts: unit.regs.gsts, changed: [], note: `root table at 0x${page.address.toString(16)}` });
  },

  'map-dma'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    const fn = deviceOrReject(before, a.device, emit);
    if (!unit || !fn) return;
    // A context entry for every requester ID the device's DMA may carry, as Linux
    // domain_context_mapping does over pci_for_each_dma_alias: behind a PCIe-to-PCI bridge
    // that is the bridge's alias, shared with every device behind it.
    const rids = requesterIdsOf(before, a.device, fn.rid, a.contexts);
    let built: Built = { memory: before.memory, arena: { next: before.hypervisor.tableArena.next, end: before.hypervisor.tableArena.end } };
    try {
      for (const rid of rids) built = buildTranslation(built, unit, a, rid);
    } catch (e) {
      return void emit({ kind: 'action-rejected', why: `map-dma for ${a.device}: ${(e as Error).message}` });
    }
    draft.memory = built.memory;
    draft.hypervisor.tableArena.next = built.arena.next;
    const domain = before.intent.owners[a.device];
    if (domain !== undefined) {
      const grants: DmaGrant[] = a.mappings.map((m) => ({ iova: m.iova, hpa: m.hpa, size: m.size, read: m.read, write: m.write, structures: m.structures ?? false }));
      draft.intent.dma[domain] = [...(before.intent.dma[domain] ?? []), ...grants] as Draft<DmaGrant>[];
    }
    emit({
      kind: 'hypervisor',
      policy: before.hypervisor.policy,
      request: `${unit.name}: ${a.device} DID ${a.did} ${a.mode} (${a.levels}-level${a.mode === 'nested' ? ` second stage, ${a.firstStageLevels ?? 4}-level first stage` : ''}): ${a.mappings.map((m) => `0x${m.iova.toString(16)}+0x${m.size.toString(16)} → 0x${m.hpa.toString(16)} ${m.read ? 'R' : ''}${m.write ? 'W' : ''}`).join(', ')}; tables up to 0x${built.arena.next.toString(16)}`,
    });
  },

  'unmap-dma'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    const fn = deviceOrReject(before, a.device, emit);
    if (!unit || !fn) return;
    let memory = before.memory;
    const config = { rtaddr: unit.regs.rtaddr, cap: dmaCapabilities(unit, before.hostAddressWidth) };
    const cleared: bigint[] = [];
    for (const rid of requesterIdsOf(before, a.device, fn.rid)) {
      for (let iova = a.iova; iova < a.iova + a.size; iova += 4096n) {
        const r = translateDma(memory, config, { rid, iova, size: 1, read: true, write: false, ...(a.pasid === undefined ? {} : { pasid: a.pasid }) });
        if (!r.ok) continue;
        // The leaf is the last paging entry read for the IOVA (the first stage's in nested mode).
        const leaf = [...r.references].reverse().find((ref) => ref.stage === (r.type === 'nested' || r.type === 'first-stage' ? 'first' : 'second'));
        if (leaf === undefined || cleared.includes(leaf.entryAddress)) continue;
        memory = memory.writeLE(leaf.entryAddress, 8, 0n);
        cleared.push(leaf.entryAddress);
      }
    }
    draft.memory = memory;
    const domain = before.intent.owners[a.device];
    if (domain !== undefined) {
      const end = a.iova + a.size;
      draft.intent.dma[domain] = (before.intent.dma[domain] ?? []).flatMap((g) => trimGrant(g, a.iova, end)) as Draft<DmaGrant>[];
    }
    emit({ kind: 'hypervisor', policy: before.hypervisor.policy, request: `${unit.name}: unmap ${a.device} 0x${a.iova.toString(16)}+0x${a.size.toString(16)}: ${cleared.length} leaf entr${cleared.length === 1 ? 'y' : 'ies'} cleared` });
  },
};
