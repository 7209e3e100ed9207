/**
 * Transitions for DMA remapping: RTADDR, DMA-cache invalidation and invalidation wait
 * (hardware), and the hypervisor's operations that build and tear down a device's
 * translation (trusted software: page tables from the table arena, context and PASID
 * entries, the DMA intent that P2 reads). The tables are built with
 * src/vtd/dma/builder.ts; the caches are src/vtd/dma/caches.ts.
 */
import { unitsWith } from './unit-copy.ts';
import { MAX_MAP_PAGES, MAX_UNMAP_BYTES, mappingPageCount } from '../scenario/limits.ts';

/**
 * Most page-table leaves one `map-dma` action may write: twice the compiler's MAX_MAP_PAGES,
 * so that library callers (and test/hostile/scenario-limits.test.ts) can go a little past what a
 * scenario may ask for, while a raw action of 2^27 pages (4 GB of heap) is refused.
 */
const MAX_ACTION_MAP_PAGES = 2 * MAX_MAP_PAGES;

/** Page-table leaves a map-dma writes (both stages of a nested map), counted as the compiler counts them (src/scenario/compile.ts), stopping past MAX_ACTION_MAP_PAGES. */
function mapPages(a: ActionOf<'map-dma'>): number {
  let pages = 0;
  for (const m of a.mappings) {
    if (pages > MAX_ACTION_MAP_PAGES) break;
    if (a.mode === 'nested') {
      // IOVA → GPA in the first stage, GPA → HPA in the second (the GPA is the IOVA when not given).
      const gpa = m.gpa ?? m.iova;
      pages += mappingPageCount(m.iova, gpa, m.size, MAX_ACTION_MAP_PAGES - pages);
      if (pages <= MAX_ACTION_MAP_PAGES) pages += mappingPageCount(gpa, m.hpa, m.size, MAX_ACTION_MAP_PAGES - pages);
    } else {
      // One stage maps IOVA → HPA; a `gpa` is not used outside nested mode.
      pages += mappingPageCount(m.iova, m.hpa, m.size, MAX_ACTION_MAP_PAGES - pages);
    }
  }
  return pages;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;
/** Paging levels a mode's tables may have: second stage 3/4/5 (context/PASID-entry AW 1–3, VT-d §9.3, §9.6), first stage 4/5 (FLPM 0/1, §9.6). */
const SECOND_STAGE_LEVELS: ReadonlySet<number> = new Set([3, 4, 5]);
const FIRST_STAGE_LEVELS: ReadonlySet<number> = new Set([4, 5]);

/**
 * Why `a` cannot be built, found before any table is (undefined when it can): levels the
 * entries cannot encode, a mapping that is not 4 KiB aligned or empty, or a leaf with rights no
 * entry can carry — the builder's own rules (src/vtd/dma/builder.ts), checked up front so that a
 * bad mapping is refused at once instead of after building every table before it.
 */
function mapDmaProblem(a: ActionOf<'map-dma'>): string | undefined {
  const firstStageOnly = a.mode === 'first-stage';
  if (!(firstStageOnly ? FIRST_STAGE_LEVELS : SECOND_STAGE_LEVELS).has(a.levels)) return `${a.levels}-level tables cannot be encoded (${firstStageOnly ? 'first stage: 4 or 5 levels' : 'second stage: 3, 4 or 5 levels'})`;
  if (a.mode === 'nested' && a.firstStageLevels !== undefined && !FIRST_STAGE_LEVELS.has(a.firstStageLevels)) return `a ${a.firstStageLevels}-level first stage cannot be encoded (4 or 5 levels)`;
  if (a.mode === 'pass-through' || a.mode === 'legacy-pass-through') return undefined;
  const aligned = (iova: bigint, out: bigint, size: bigint): boolean => size > 0n && ((iova | out | size) & 0xfffn) === 0n;
  for (const m of a.mappings) {
    const gpa = m.gpa ?? m.iova;
    const stages: [bigint, bigint][] = a.mode === 'nested' ? [[m.iova, gpa], [gpa, m.hpa]] : [[m.iova, m.hpa]];
    for (const [from, to] of stages) if (!aligned(from, to, m.size)) return `mapping ${hex(from)} → ${hex(to)} (+${hex(m.size)}) is not 4 KiB aligned`;
    // A first-stage leaf is a present x86 entry, always readable; a second-stage leaf with neither R nor W is not present.
    if ((a.mode === 'first-stage' || a.mode === 'nested') && !m.read) return `first-stage mapping at ${hex(m.iova)}: a present x86 entry is always readable`;
    if ((a.mode === 'legacy' || a.mode === 'second-stage') && !m.read && !m.write) return `second-stage mapping at ${hex(m.iova)} grants neither read nor write`;
  }
  return undefined;
}
import type { Draft } from 'immer';
import type { ActionOf } from './actions.ts';
import type { IommuUnit, PlatformState, DmaGrant, DeviceDmaIntent } from './state.ts';
import { deviceOrReject, unitOrReject, type Handler } from './transition.ts';
import { directInvalidation } from './register-handlers.ts';
import { writeRtaddr } from '../vtd/ir-registers.ts';
import { settleDmaCaches, type DmaCaches } from '../vtd/dma/caches.ts';
import { allocatePage, buildFirstStage, buildNested, buildSecondStage, installLegacyDevice, installPasidEntry, installScalableDevice, pdtsFor, type BumpAllocator } from '../vtd/dma/builder.ts';
import { addressFrame, frameAddress, PASID_ENTRY, PGTT, RTADDR, TTM, CONTEXT_TT } from '../vtd/dma/structures.ts';
import { translateDma, type DmaRequest, type DmaWalkFault, type DmaWalkResult } from '../vtd/dma/walk.ts';
import { dmaCapabilities } from './dma-access.ts';
import { deviceRequesterIds } from '../fabric/contexts.ts';
import { decodeEcap } from '../vtd/registers.ts';
import { LEGACY_SPACE, spaceKeyOf, withMappedSpace } from './dma-intent.ts';

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

/**
 * The unit's caches once the hypervisor holds its changes complete (an invalidation wait, or the
 * end of an operation that skips its invalidations): every entry still cached is checked against
 * `memory` and marked stale when memory no longer gives it (src/vtd/dma/caches.ts, P4).
 */
export function settledCaches(memory: PlatformState['memory'], unit: IommuUnit, hostAddressWidth: number): DmaCaches {
  return settleDmaCaches(memory, { rtaddr: unit.regs.rtaddrLatched, cap: dmaCapabilities(unit, hostAddressWidth) }, unit.dma);
}

/**
 * Where a map-dma goes in scalable mode: the PASID whose entry it writes (`pasid` as asked, else
 * the one serving requests without PASID: the device's RID_PASID as the hypervisor last set it,
 * 0 at first) and the RID_PASID to program (undefined: leave the context's as it is).
 */
function scalableTarget(state: PlatformState, a: MapDma): { pasid: number; ridPasid: number | undefined } {
  if (a.pasid !== undefined) return { pasid: a.pasid, ridPasid: a.ridPasid ? a.pasid : undefined };
  const prev = state.intent.dma[a.device];
  const p0 = prev?.ridPasid ?? 0;
  return { pasid: p0, ridPasid: p0 };
}

/**
 * Page tables and context (and PASID) entries for requester ID `rid`, allocated from `from.arena`.
 * Scalable mode installs into the context entry, PASID directory and PASID table already there
 * (Linux `intel_pasid_setup_*` write one PASID entry of the device's table), so the device's
 * other PASIDs keep their translation; the page tables are the map's own, fresh.
 */
function buildTranslation(from: Built, unit: IommuUnit, a: MapDma, rid: number, target: { pasid: number; ridPasid: number | undefined }): Built {
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
  const dev = installScalableDevice(memory, arena, { rootTable, rid, reuse: true, pdts: pdtsFor(target.pasid), ...(target.ridPasid === undefined ? {} : { ridPasid: target.ridPasid }) });
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
  const p = installPasidEntry(memory, arena, { pasidDirectory: dev.pasidDirectory, pasid: target.pasid, entry });
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

/**
 * Fault conditions of a walk that hold for every input under the entry that faulted: the entry at
 * the fault's level (and those above it, which every such input reads too) is not present, has
 * reserved bits set, or lacks the right (rights are ANDed down the levels, VT-d §3.7). Second-stage
 * ones only where the second stage translates the IOVA itself (legacy and scalable second-stage
 * mode), not a nested walk's GPA.
 */
const FIRST_STAGE_HOLES: ReadonlySet<string> = new Set(['fs-not-present', 'fs-reserved']);
const SECOND_STAGE_HOLES: ReadonlySet<string> = new Set(['ss-not-present', 'ss-reserved', 'no-read', 'no-write']);
/** Faults of the root, context or PASID structures: the same for every IOVA of the requester ID. */
const ABOVE_PAGING: ReadonlySet<string> = new Set(['root', 'context', 'pasid-dir', 'pasid']);

/**
 * The paging level whose aligned region around the faulting IOVA faults alike for every IOVA in
 * it (see {@link FIRST_STAGE_HOLES}), Infinity when every IOVA of the requester ID does, 0 when
 * the fault says nothing beyond its own IOVA.
 */
function holeLevel(w: DmaWalkFault): number {
  const f = w.fault;
  if (f.stage !== undefined && ABOVE_PAGING.has(f.stage)) return Infinity;
  if (f.level === undefined) return 0;
  if (f.stage === 'first' && FIRST_STAGE_HOLES.has(f.condition)) return f.level;
  if (f.stage === 'second' && SECOND_STAGE_HOLES.has(f.condition)) {
    // Legacy mode walks the IOVA itself; scalable mode only with PGTT = second-stage (nested walks GPAs too).
    const pe = w.references.find((r) => r.stage === 'pasid');
    if (pe === undefined || PASID_ENTRY.decode(pe.entry).PGTT === PGTT.SECOND_STAGE) return f.level;
  }
  return 0;
}

/**
 * The leaf entries an unmap clears, written to zero: for each requester ID, each IOVA
 * `a.iova + k·4 KiB` in the range is walked (a read, then a write for a write-only page) on the
 * memory as cleared so far, and the leaf that maps it — the last paging entry of its stage the
 * walk read, the first stage's in nested and first-stage mode — is cleared, once. An IOVA whose
 * walks both fault under an entry that maps nothing (not present, reserved, or lacking the
 * right: {@link holeLevel}) is unmapped with every IOVA under that entry, so those are not walked:
 * memory does not change meanwhile, so their walks would fault alike. The cost is linear in the
 * pages mapped (plus one walk per hole), not in the range's size; cleared leaves are a set.
 * Returns the memory and the number of leaves cleared.
 */
function clearLeaves(before: PlatformState, unit: IommuUnit, a: ActionOf<'unmap-dma'>, rids: readonly number[]): { memory: PlatformState['memory']; cleared: number } {
  let memory = before.memory;
  const config = { rtaddr: unit.regs.rtaddr, cap: dmaCapabilities(unit, before.hostAddressWidth) };
  const cleared = new Set<bigint>();
  const end = a.iova + a.size;
  for (const rid of rids) {
    for (let iova = a.iova; iova < end; ) {
      const read: DmaRequest = { rid, iova, size: 1, read: true, write: false };
      if (a.pasid !== undefined) read.pasid = a.pasid;
      let r: DmaWalkResult = translateDma(memory, config, read);
      if (!r.ok) {
        // A read finds the leaf of a readable page; a write-only second-stage page needs a write.
        const w = translateDma(memory, config, { ...read, read: false, write: true });
        if (!w.ok) {
          const level = Math.min(holeLevel(r), holeLevel(w));
          if (level === Infinity) break;
          if (level === 0) {
            iova += 4096n;
            continue;
          }
          // On to the first IOVA of the range's 4 KiB steps at or past the hole's end.
          const shift = BigInt(12 + 9 * (level - 1));
          const holeEnd = ((iova >> shift) + 1n) << shift;
          iova = a.iova + ((holeEnd - a.iova + 4095n) / 4096n) * 4096n;
          continue;
        }
        r = w;
      }
      // The leaf is the last paging entry read for the IOVA (the first stage's in nested mode).
      const stage = r.type === 'nested' || r.type === 'first-stage' ? 'first' : 'second';
      let leaf: bigint | undefined;
      for (let i = r.references.length - 1; i >= 0 && leaf === undefined; i--) if (r.references[i]!.stage === stage) leaf = r.references[i]!.entryAddress;
      if (leaf !== undefined && !cleared.has(leaf)) {
        memory = memory.writeLE(leaf, 8, 0n);
        cleared.add(leaf);
      }
      iova += 4096n;
    }
  }
  return { memory, cleared: cleared.size };
}

export const dmaHandlers: {
  [K in 'write-rtaddr' | 'invalidate-dma' | 'invalidation-wait' | 'dma-root' | 'map-dma' | 'unmap-dma']: Handler<K>;
} = {
  'write-rtaddr'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    if (!unit) return;
    const r = writeRtaddr(unit, a.value);
    draft.iommus = unitsWith(before.iommus, a.iommu, r.unit) as Draft<IommuUnit[]>;
    emit({ kind: 'register-write', iommu: a.iommu, register: 'RTADDR', value: a.value, gsts: r.unit.regs.gsts, changed: [], note: undefined });
  },

  // Both stand for "the queue processes this descriptor now" (src/vtd/invalidation-queue.ts
  // `processDirect`): any descriptor type, validated as the hardware validates a fetched one.
  'invalidate-dma'(draft, a, emit, before) {
    directInvalidation(draft, before, a.iommu, a.descriptor, emit);
  },

  'invalidation-wait'(draft, a, emit, before) {
    directInvalidation(draft, before, a.iommu, a.descriptor, emit);
  },

  'dma-root'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    if (!unit) return;
    // TTM = 01 is reserved without ECAP.SMTS (VT-d §11.4.5): Linux sets it only where the unit
    // has SMTS (`sm_supported` in `iommu_set_root_entry`); the hardware faults every request
    // 0x30 under it (src/vtd/dma/walk.ts; docs/fidelity.md "DMA translation rules").
    if (a.scalable && !decodeEcap(unit.ecap).SMTS) {
      return void emit({ kind: 'action-rejected', why: `dma-root: ${unit.name} has no ECAP.SMTS, so scalable mode (RTADDR.TTM = 01) is reserved on it` });
    }
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
    // The compiler bounds a scenario's map to MAX_MAP_PAGES; this bounds actions that do not come from one.
    if (mapPages(a) > MAX_ACTION_MAP_PAGES) return void emit({ kind: 'action-rejected', why: `map-dma for ${a.device}: the mappings need more than ${MAX_ACTION_MAP_PAGES} pages` });
    const problem = mapDmaProblem(a);
    if (problem !== undefined) return void emit({ kind: 'action-rejected', why: `map-dma for ${a.device}: ${problem}` });
    const legacy = a.mode === 'legacy' || a.mode === 'legacy-pass-through';
    if (legacy && (a.pasid !== undefined || a.ridPasid)) return void emit({ kind: 'action-rejected', why: `map-dma for ${a.device}: a legacy context entry has no PASIDs` });
    if (!legacy && a.ridPasid && (a.pasid ?? 0) !== 0 && !decodeEcap(unit.ecap).RPS) {
      // Without ECAP.RPS the unit ignores RID_PASID and uses PASID 0 for requests without PASID.
      return void emit({ kind: 'action-rejected', why: `map-dma for ${a.device}: ${unit.name} has no ECAP.RPS, so requests without PASID always use PASID 0, not ${a.pasid}` });
    }
    const target = legacy ? { pasid: 0, ridPasid: undefined } : scalableTarget(before, a);
    // A context entry for every requester ID the device's DMA may carry, as Linux
    // domain_context_mapping does over pci_for_each_dma_alias: behind a PCIe-to-PCI bridge
    // that is the bridge's alias, shared with every device behind it.
    const rids = requesterIdsOf(before, a.device, fn.rid, a.contexts);
    let built: Built = { memory: before.memory, arena: { next: before.hypervisor.tableArena.next, end: before.hypervisor.tableArena.end } };
    try {
      for (const rid of rids) built = buildTranslation(built, unit, a, rid, target);
    } catch (e) {
      return void emit({ kind: 'action-rejected', why: `map-dma for ${a.device}: ${(e as Error).message}` });
    }
    draft.memory = built.memory;
    draft.hypervisor.tableArena.next = built.arena.next;
    const domain = before.intent.owners[a.device];
    if (domain !== undefined) {
      // The intent of this address space only: the device's other PASIDs keep theirs.
      const grants: DmaGrant[] = a.mappings.map((m) => ({ iova: m.iova, hpa: m.hpa, size: m.size, read: m.read, write: m.write, structures: m.structures ?? false }));
      const prev = before.intent.dma[a.device];
      const ridPasid = legacy ? undefined : (target.ridPasid ?? (prev?.domain === domain ? prev.ridPasid : undefined) ?? 0);
      const key = legacy ? LEGACY_SPACE : String(target.pasid);
      draft.intent.dma[a.device] = withMappedSpace(prev, domain, key, { did: a.did, grants }, ridPasid) as Draft<DeviceDmaIntent>;
    }
    // The broken hypervisor that skips the invalidations returns here: its change counts as complete (P4).
    if (a.skipsInvalidation) draft.iommus[a.iommu]!.dma = settledCaches(built.memory, unit, before.hostAddressWidth) as Draft<DmaCaches>;
    const where = legacy ? '' : a.pasid === undefined ? '' : ` PASID ${a.pasid}${a.ridPasid ? ' (RID_PASID)' : ''}`;
    emit({
      kind: 'hypervisor',
      policy: before.hypervisor.policy,
      request: `${unit.name}: ${a.device}${where} DID ${a.did} ${a.mode} (${a.levels}-level${a.mode === 'nested' ? ` second stage, ${a.firstStageLevels ?? 4}-level first stage` : ''}): ${a.mappings.map((m) => `0x${m.iova.toString(16)}+0x${m.size.toString(16)} → 0x${m.hpa.toString(16)} ${m.read ? 'R' : ''}${m.write ? 'W' : ''}`).join(', ')}; tables up to 0x${built.arena.next.toString(16)}${a.skipsInvalidation ? '; no invalidation' : ''}`,
    });
  },

  'unmap-dma'(draft, a, emit, before) {
    const unit = unitOrReject(before, a.iommu, emit);
    const fn = deviceOrReject(before, a.device, emit);
    if (!unit || !fn) return;
    // The compiler's bound (src/scenario/limits.ts), enforced here too for actions that do not come from a scenario.
    if (a.iova + a.size > 1n << 64n) return void emit({ kind: 'action-rejected', why: `unmap-dma for ${a.device}: 0x${a.iova.toString(16)}+0x${a.size.toString(16)} goes beyond 64-bit IOVAs` });
    if (a.size > MAX_UNMAP_BYTES) return void emit({ kind: 'action-rejected', why: `unmap-dma for ${a.device}: 0x${a.size.toString(16)} bytes exceeds the unmap limit of 0x${MAX_UNMAP_BYTES.toString(16)}` });
    const { memory, cleared } = clearLeaves(before, unit, a, requesterIdsOf(before, a.device, fn.rid));
    draft.memory = memory;
    const prev = before.intent.dma[a.device];
    if (prev !== undefined) {
      // Only the address space the unmap names (the PASID, or requests without PASID) loses the range.
      const key = spaceKeyOf(a.pasid, prev.ridPasid);
      const space = prev.spaces[key];
      if (space !== undefined) {
        const end = a.iova + a.size;
        draft.intent.dma[a.device]!.spaces[key] = { did: space.did, grants: space.grants.flatMap((g) => trimGrant(g, a.iova, end)) } as Draft<DeviceDmaIntent['spaces'][string]>;
      }
    }
    if (a.skipsInvalidation) draft.iommus[a.iommu]!.dma = settledCaches(memory, unit, before.hostAddressWidth) as Draft<DmaCaches>;
    emit({ kind: 'hypervisor', policy: before.hypervisor.policy, request: `${unit.name}: unmap ${a.device}${a.pasid === undefined ? '' : ` PASID ${a.pasid}`} 0x${a.iova.toString(16)}+0x${a.size.toString(16)}: ${cleared} leaf entr${cleared === 1 ? 'y' : 'ies'} cleared${a.skipsInvalidation ? '; no invalidation' : ''}` });
  },
};
