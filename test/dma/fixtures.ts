/** Shared set-ups for the DMA-remapping tests: devices, page tables and run settings. */
import { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import {
  allocatePage,
  buildFirstStage,
  buildNested,
  buildSecondStage,
  bumpAllocator,
  installLegacyDevice,
  installPasidEntry,
  installScalableDevice,
  type Mapping,
  type NestedMapping,
  type PageSize,
  type PasidEntryInput,
} from '../../src/vtd/dma/builder.ts';
import { RTADDR, TTM, addressFrame } from '../../src/vtd/dma/structures.ts';
import type { DmaConfig, DmaRequest } from '../../src/vtd/dma/walk.ts';

/** Fixed fast-check settings so failures reproduce. */
export const RUNS = { seed: 0x5eed_d3a, numRuns: 200 } as const;

export const RID = 0x0310; // 03:02.0
export const DID = 7;
export const PASID = 0x1234;

/** AW value for a number of second-stage levels. */
export const awFor = (levels: number): number => levels - 2;

export interface Setup {
  memory: PhysicalMemory;
  config: DmaConfig;
  /** Table roots (HPA; the nested first-stage root is a GPA). */
  roots: { second?: bigint; first?: bigint };
}

/** Legacy-mode device RID with second-stage tables for `mappings`. */
export function legacySetup(mappings: readonly Mapping[], opts: { levels?: number; maxPageSize?: PageSize; tt?: number } = {}): Setup {
  const levels = opts.levels ?? 4;
  let memory = PhysicalMemory.empty();
  let a = bumpAllocator(0x10_0000n, 0x100_0000n);
  const root = allocatePage(memory, a);
  memory = root.memory;
  a = root.allocator;
  const sl = buildSecondStage(memory, a, mappings, { levels, maxPageSize: opts.maxPageSize ?? 2 ** 30 });
  const dev = installLegacyDevice(sl.memory, sl.allocator, {
    rootTable: root.address,
    rid: RID,
    did: DID,
    aw: awFor(levels),
    slptptr: sl.root,
    tt: opts.tt ?? 0,
  });
  return {
    memory: dev.memory,
    config: { rtaddr: RTADDR.encode({ RTA: addressFrame(root.address), TTM: TTM.LEGACY }) },
    roots: { second: sl.root },
  };
}

/** Scalable-mode device RID with PASID `PASID` set up by `entry` (P = 1, DID = DID, SRE/ERE on unless overridden). */
export function scalableBase(): { memory: PhysicalMemory; alloc: ReturnType<typeof bumpAllocator>; rootTable: bigint } {
  let memory = PhysicalMemory.empty();
  const a = bumpAllocator(0x10_0000n, 0x100_0000n);
  const root = allocatePage(memory, a);
  memory = root.memory;
  return { memory, alloc: root.allocator, rootTable: root.address };
}

function finishScalable(
  memory: PhysicalMemory,
  alloc: ReturnType<typeof bumpAllocator>,
  rootTable: bigint,
  entry: PasidEntryInput,
  roots: Setup['roots'],
): Setup {
  const dev = installScalableDevice(memory, alloc, { rootTable, rid: RID, ridPasid: PASID });
  const pe = installPasidEntry(dev.memory, dev.allocator, {
    pasidDirectory: dev.pasidDirectory,
    pasid: PASID,
    entry: { DID, SRE: true, ERE: true, ...entry },
  });
  return {
    memory: pe.memory,
    config: { rtaddr: RTADDR.encode({ RTA: addressFrame(rootTable), TTM: TTM.SCALABLE }) },
    roots,
  };
}

/** Scalable second-stage-only (PGTT = 2). */
export function secondStageSetup(mappings: readonly Mapping[], opts: { levels?: number; maxPageSize?: PageSize; entry?: PasidEntryInput } = {}): Setup {
  const levels = opts.levels ?? 4;
  const b = scalableBase();
  const sl = buildSecondStage(b.memory, b.alloc, mappings, { levels, maxPageSize: opts.maxPageSize ?? 2 ** 30 });
  return finishScalable(sl.memory, sl.allocator, b.rootTable, { PGTT: 2, AW: awFor(levels), SLPTPTR: addressFrame(sl.root), ...opts.entry }, { second: sl.root });
}

/** Scalable first-stage-only (PGTT = 1). */
export function firstStageSetup(
  mappings: readonly Mapping[],
  opts: { levels?: 4 | 5; maxPageSize?: PageSize; nxe?: boolean; entry?: PasidEntryInput } = {},
): Setup {
  const levels = opts.levels ?? 4;
  const b = scalableBase();
  const fl = buildFirstStage(b.memory, b.alloc, mappings, { levels, maxPageSize: opts.maxPageSize ?? 2 ** 30, nxe: opts.nxe ?? false });
  return finishScalable(
    fl.memory,
    fl.allocator,
    b.rootTable,
    { PGTT: 1, FLPM: levels === 5 ? 1 : 0, NXE: opts.nxe ?? false, FLPTPTR: addressFrame(fl.root), ...opts.entry },
    { first: fl.root },
  );
}

/** Nested (PGTT = 3): first stage over second stage. */
export function nestedSetup(
  mappings: readonly NestedMapping[],
  opts: { firstLevels?: 4 | 5; secondLevels?: number; maxPageSize?: PageSize; entry?: PasidEntryInput; extraSecondStage?: readonly Mapping[] } = {},
): Setup & { firstStageTables: { gpa: bigint; hpa: bigint }[] } {
  const fl = opts.firstLevels ?? 4;
  const sll = opts.secondLevels ?? 4;
  const b = scalableBase();
  const n = buildNested(b.memory, {
    hostAllocator: b.alloc,
    guestAllocator: bumpAllocator(0x4000_0000n, 0x5000_0000n),
    mappings,
    firstStageLevels: fl,
    secondStageLevels: sll,
    maxPageSize: opts.maxPageSize ?? 2 ** 30,
    extraSecondStage: opts.extraSecondStage ?? [],
  });
  const s = finishScalable(
    n.memory,
    n.hostAllocator,
    b.rootTable,
    { PGTT: 3, AW: awFor(sll), FLPM: fl === 5 ? 1 : 0, SLPTPTR: addressFrame(n.secondStageRoot), FLPTPTR: addressFrame(n.firstStageRoot), ...opts.entry },
    { first: n.firstStageRoot, second: n.secondStageRoot },
  );
  return { ...s, firstStageTables: n.firstStageTables };
}

/** A 4-byte request. */
export function req(iova: bigint, access: 'r' | 'w' | 'rw' | 'x' = 'r', extra: Partial<DmaRequest> = {}): DmaRequest {
  return {
    rid: RID,
    iova,
    size: 4,
    read: access === 'r' || access === 'rw',
    write: access === 'w' || access === 'rw',
    ...(access === 'x' ? { execute: true } : {}),
    ...extra,
  };
}
