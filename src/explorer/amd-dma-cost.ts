/**
 * The cost of one DMA on an IOTLB miss on an AMD-Vi host, counted by simulating one cold walk
 * of host (v1) page tables with the AMD-Vi DMA model (src/amdvi/dma/walk.ts `walkAmdV1`; tables
 * built by src/amdvi/dma/builder.ts `buildAmdV1`, DTE Mode 4 = 4 levels as Linux's default
 * `amd_iommu_pgtable` v1 with 48-bit IOVAs). Without `dma-remap` the table maps the guest's RAM
 * (GPA → HPA, VFIO's map of the VM); with QEMU `amd-iommu,dma-remap=on` it is QEMU's shadow of
 * the guest's own v1 table (IOVA → HPA, rebuilt from the guest's table on its trapped
 * invalidations: amdvi-facts.md §8), so the hardware still walks one 4-level table — the shadow's
 * price is the trapped invalidations, not the walk. AMD-Vi has no second-stage nesting under
 * v1 tables (guest tables would be v2 / GCR3, not used by QEMU), so no nested walk is counted.
 */
import { PhysicalMemory } from '../memory/physical-memory.ts';
import { bumpAllocator } from '../vtd/dma/builder.ts';
import { buildAmdV1 } from '../amdvi/dma/builder.ts';
import { walkAmdV1 } from '../amdvi/dma/walk.ts';
import type { DmaWalkCost } from './dma-cost.ts';

const IOVA = 0x3456_7000n;
const HPA = 0x2000_0000n;

/**
 * One cold walk of a `mode`-level v1 table (DTE Mode; default 4): `pagingReferences` = page-table
 * entries read, `totalReferences` adds the DTE read. `shadow`: label it as QEMU's dma-remap shadow.
 * @throws Error when the walk faults (a bug in the tables built here).
 */
export function amdV1WalkCost(o: { mode?: number; shadow?: boolean } = {}): DmaWalkCost {
  const mode = o.mode ?? 4;
  const built = buildAmdV1(PhysicalMemory.empty(), bumpAllocator(0x10_0000n, 0x100_0000n), [{ iova: IOVA, hpa: HPA, size: 4096, read: true, write: true }], { mode });
  const r = walkAmdV1(built.memory, 46, { mode, root: built.root, ir: true, iw: true }, IOVA, false);
  if (!r.ok) throw new Error(`explorer AMD-Vi DMA walk faulted: ${JSON.stringify(r, (_, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
  const walk = o.shadow === true ? `host v1 ${mode}-level (QEMU dma-remap shadow of the guest's table)` : `host v1 ${mode}-level (GPA → HPA)`;
  return { walk, pagingReferences: r.references.length, totalReferences: r.references.length + 1 };
}
