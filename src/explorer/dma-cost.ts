/**
 * The cost of one DMA on an IOTLB miss, counted by simulating one cold walk with the DMA
 * remapping model (src/vtd/dma/walk.ts `translateDma`, `pagingReferenceCount`; tables built
 * with src/vtd/dma/builder.ts): every assigned device is translated by the host's second
 * stage (GPA → HPA); a guest that also gets DMA remapping from a vIOMMU adds its own first
 * stage, and with nested translation (PGTT = 011) each first-stage table pointer is itself a
 * GPA to translate — (n+1)(m+1)−1 paging-structure references, 24 for 4-level over 4-level
 * (sheet §8.8).
 */
import { PhysicalMemory } from '../memory/physical-memory.ts';
import { allocatePage, buildNested, buildSecondStage, bumpAllocator, installLegacyDevice, installPasidEntry, installScalableDevice } from '../vtd/dma/builder.ts';
import { RTADDR, TTM, PGTT, addressFrame } from '../vtd/dma/structures.ts';
import { pagingReferenceCount, translateDma, type DmaWalkResult } from '../vtd/dma/walk.ts';
import { DEVICE_RID } from './platforms.ts';

/** One simulated cold walk. */
export interface DmaWalkCost {
  /** What was walked. */
  readonly walk: string;
  /** Paging-structure entries read (first and second stage). */
  readonly pagingReferences: number;
  /** Every structure read, including root, context and PASID entries. */
  readonly totalReferences: number;
}

const IOVA = 0x7000_1234_5000n;
const GPA = 0x3456_7000n;
const HPA = 0x2000_0000n;
const PASID = 1;

function counted(walk: string, r: DmaWalkResult): DmaWalkCost {
  if (!r.ok) throw new Error(`explorer DMA walk faulted (${walk}): reason 0x${r.fault.reason.toString(16)}`);
  return { walk, pagingReferences: pagingReferenceCount(r.references), totalReferences: r.references.length };
}

/**
 * Host second stage only (legacy mode, `levels`-level tables): what every assigned device
 * pays per IOTLB miss without a guest-visible DMA remapping.
 */
export function secondStageWalkCost(levels = 4): DmaWalkCost {
  let memory = PhysicalMemory.empty();
  const root = allocatePage(memory, bumpAllocator(0x10_0000n, 0x100_0000n));
  memory = root.memory;
  const sl = buildSecondStage(memory, root.allocator, [{ iova: GPA, hpa: HPA, size: 4096, read: true, write: true }], { levels });
  const dev = installLegacyDevice(sl.memory, sl.allocator, { rootTable: root.address, rid: DEVICE_RID, did: 1, aw: levels - 2, slptptr: sl.root });
  const rtaddr = RTADDR.encode({ RTA: addressFrame(root.address), TTM: TTM.LEGACY });
  return counted(`host second stage, ${levels}-level`, translateDma(dev.memory, { rtaddr }, { rid: DEVICE_RID, iova: GPA, size: 4, read: true, write: false }));
}

/**
 * Nested (scalable mode, PGTT = 011): the guest's `first`-level tables over the host's
 * `second`-level tables, as a vIOMMU with nested DMA remapping makes the hardware walk.
 */
export function nestedWalkCost(first: 4 | 5 = 4, second = 4): DmaWalkCost {
  let memory = PhysicalMemory.empty();
  const root = allocatePage(memory, bumpAllocator(0x10_0000n, 0x100_0000n));
  memory = root.memory;
  const n = buildNested(memory, {
    hostAllocator: root.allocator,
    guestAllocator: bumpAllocator(0x4000_0000n, 0x5000_0000n),
    mappings: [{ iova: IOVA, gpa: GPA, hpa: HPA, size: 4096, read: true, write: true }],
    firstStageLevels: first,
    secondStageLevels: second,
  });
  const dev = installScalableDevice(n.memory, n.hostAllocator, { rootTable: root.address, rid: DEVICE_RID, ridPasid: PASID });
  const pe = installPasidEntry(dev.memory, dev.allocator, {
    pasidDirectory: dev.pasidDirectory,
    pasid: PASID,
    entry: { DID: 1, SRE: true, ERE: true, PGTT: PGTT.NESTED, AW: second - 2, FLPM: first === 5 ? 1 : 0, SLPTPTR: addressFrame(n.secondStageRoot), FLPTPTR: addressFrame(n.firstStageRoot) },
  });
  const rtaddr = RTADDR.encode({ RTA: addressFrame(root.address), TTM: TTM.SCALABLE });
  return counted(`nested, ${first}-level first stage over ${second}-level second stage`, translateDma(pe.memory, { rtaddr }, { rid: DEVICE_RID, iova: IOVA, size: 4, read: true, write: false }));
}
