/**
 * DMA-remapping benchmark fixtures (issue "Two-stage DMA translation", item 9):
 *
 * - a scalable-mode unit with DMA translation enabled (specs/dma/nested.yaml's platform and
 *   enable sequence) and one device, 07:00.0, in nested mode: a 4-level first stage over a
 *   4-level second stage mapping DMA_PAGES 4 KiB pages, IOVA 0x10000 + k·4 KiB → GPA
 *   0x200000 + k·4 KiB → HPA 0x80000000 + k·4 KiB. A cold translation reads root, context,
 *   PASID directory, PASID entry and (4+1)(4+1)−1 = 24 paging entries;
 * - `cold`: the state right after map-dma (its invalidations leave the context, PASID, IOTLB
 *   and paging-structure caches empty), with the memory of `warm` — every page accessed
 *   once, so the walk's A/D flags are already set and a read walk writes nothing (the steady
 *   state of a re-walk after an IOTLB eviction; a first-ever walk also commits A flags);
 * - `warm`: the state after one write to each page: the IOTLB (capacity 64 = DMA_PAGES) holds
 *   every page, so a DMA to any of them is an IOTLB hit;
 * - sparse memories populated to 1 MiB (every 4 KiB frame written) and to 64 GiB (one 8-byte
 *   write per 2 MiB), for the cost of one 8-byte `writeLE`.
 */
import { parseScenarioText } from '../src/scenario/parse.ts';
import { compileScenario } from '../src/scenario/compile.ts';
import { buildPlatform, SCALABLE_ECAP } from '../src/platform/build.ts';
import { applyAction } from '../src/platform/transition.ts';
import type { Action } from '../src/platform/actions.ts';
import type { PlatformState } from '../src/platform/state.ts';
import { dmaCapabilities } from '../src/platform/dma-access.ts';
import type { DmaConfig, DmaRequest } from '../src/vtd/dma/walk.ts';
import { PhysicalMemory } from '../src/memory/physical-memory.ts';

/** Pages mapped (and requests per timed iteration): the IOTLB's default capacity, so every page stays cached. */
export const DMA_PAGES = 64;
export const DMA_DEVICE = '07:00.0';
export const DMA_RID = 0x0700;
export const IOVA_BASE = 0x10000n;
export const HPA_BASE = 0x8000_0000n;

const SCENARIO = `
name: bench-dma-nested
platform:
  hostAddressWidth: 46
  cpus: { count: 2 }
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0x${SCALABLE_ECAP.toString(16)} }
devices:
  - { bdf: "${DMA_DEVICE}", name: nic (vm1) }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1], devices: ["${DMA_DEVICE}"] }
steps:
  - enable-dma: { iommu: 0, scalable: true }
  - map-dma:
      iommu: 0
      device: "${DMA_DEVICE}"
      did: 1
      mode: nested
      levels: 4
      firstStageLevels: 4
      mappings: [{ iova: 0x10000, gpa: 0x200000, hpa: 0x80000000, size: ${DMA_PAGES * 4096} }]
`;

/** IOVA of page k (at an 8-byte offset that moves with k, so accesses are not all at offset 0). */
export const iovaOf = (k: number): bigint => IOVA_BASE + BigInt(k) * 0x1000n + BigInt((k * 8) % 4096);

/** A `dma` action of 07:00.0: an 8-byte read (or write of `k`) at page k. */
export function dmaAction(k: number, write = false): Action {
  return { kind: 'dma', device: DMA_DEVICE, address: iovaOf(k), size: 8, write, value: write ? BigInt(k) : 0n };
}

/** The translateDma request of {@link dmaAction} (a read). */
export function dmaRequest(k: number): DmaRequest {
  return { rid: DMA_RID, iova: iovaOf(k), size: 8, read: true, write: false };
}

/** The platforms: `cold` (empty caches, A/D set) and `warm` (IOTLB holds every page), and the walk config. */
export function dmaPlatforms(): { cold: PlatformState; warm: PlatformState; config: DmaConfig } {
  const compiled = compileScenario(parseScenarioText(SCENARIO, 'bench/dma.ts'));
  let mapped = buildPlatform(compiled.platform);
  for (const step of compiled.steps) for (const a of step.actions) mapped = applyAction(mapped, a).state;
  let warm = mapped;
  for (let k = 0; k < DMA_PAGES; k++) warm = applyAction(warm, dmaAction(k, true)).state;
  const cold = Object.freeze({ ...mapped, memory: warm.memory });
  const unit = cold.iommus[0]!;
  return { cold, warm, config: { rtaddr: unit.regs.rtaddrLatched, cap: dmaCapabilities(unit, cold.hostAddressWidth) } };
}

/** Bytes of populated address space of the two memory sizes compared. */
export const MEMORY_SIZES = [{ label: '1 MiB', bytes: 1n << 20n, stride: 0x1000n }, { label: '64 GiB', bytes: 1n << 36n, stride: 0x20_0000n }] as const;

/**
 * Memory populated over [0, bytes): one 8-byte write every `stride` bytes (every 4 KiB frame
 * for 1 MiB, every 2 MiB for 64 GiB, whose radix tree then has its full height: frame numbers
 * up to 2^24 − 1, four 6-bit directory levels).
 */
export function populatedMemory(bytes: bigint, stride: bigint): PhysicalMemory {
  let m = PhysicalMemory.empty();
  for (let a = 0n; a < bytes; a += stride) m = m.writeLE(a, 8, a | 1n);
  return m;
}

/** DMA_PAGES write addresses spread over [0, bytes), each in a populated frame (8-byte aligned, off the populating write). */
export function writeAddresses(bytes: bigint, stride: bigint): bigint[] {
  const slots = bytes / stride;
  return Array.from({ length: DMA_PAGES }, (_, k) => ((BigInt(k) * slots) / BigInt(DMA_PAGES)) * stride + 0x100n + BigInt(k * 8));
}
