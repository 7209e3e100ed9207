/**
 * Scenario size limits checked by the compiler (src/scenario/compile.ts), so that a scenario that
 * passes the schema cannot take minutes or gigabytes to run (issue 17; docs/limits.md). Measured on
 * the 2-core CI machine: 65,536 4 KiB pages map in ~0.5 s; an unmap walks every 4 KiB page of its
 * range and keeps the cleared leaves in a list (src/platform/dma-handlers.ts `unmap-dma`), so 16,384
 * mapped pages take ~2.4 s and the cost grows with the square; 10,000 steps run in ~3 s.
 */

/** Most page-table leaves (4 KiB, 2 MiB or 1 GiB pages) one `map-dma` step may write, over all its mappings. */
export const MAX_MAP_PAGES = 65_536;
/**
 * Largest `unmap-dma` range, in bytes: MAX_MAP_PAGES pages of 4 KiB (256 MiB), the most one
 * `map-dma` can map in 4 KiB pages. The unmap walks only the range's mapped pages (and one IOVA
 * per unmapped table entry: src/platform/dma-handlers.ts `clearLeaves`), so at most 65,536 walks.
 */
export const MAX_UNMAP_BYTES = BigInt(MAX_MAP_PAGES) * 4096n;
/** Most steps in one scenario (a counterexample is its base's steps plus at most MAX_RUN_STEPS). */
export const MAX_SCENARIO_STEPS = 5_000;

const PAGE_SIZES = [1n << 30n, 1n << 21n, 1n << 12n] as const;

/**
 * How many leaves the page-table builder writes for one mapping: the greedy split of
 * src/vtd/dma/builder.ts `splitMapping` (at each offset the largest of 1 GiB / 2 MiB / 4 KiB that
 * both addresses are aligned to and that fits), counted in O(1) per page size instead of per page,
 * and capped: the count stops at `cap + 1`.
 * @param iova, hpa, size bytes; 4 KiB-aligned (the builder rejects the others, counted here as 1).
 */
export function mappingPageCount(iova: bigint, hpa: bigint, size: bigint, cap: number): number {
  if (size <= 0n || ((iova | hpa | size) & 0xfffn) !== 0n) return 1;
  let count = 0n;
  let off = 0n;
  const limit = BigInt(cap) + 1n;
  while (off < size && count < limit) {
    const i = iova + off;
    const o = hpa + off;
    const left = size - off;
    const page = PAGE_SIZES.find((p) => i % p === 0n && o % p === 0n && p <= left) ?? 4096n;
    // Run of pages of this size until the next larger alignment boundary of the IOVA or the end.
    const bigger = PAGE_SIZES[PAGE_SIZES.indexOf(page as (typeof PAGE_SIZES)[number]) - 1];
    let run = left / page;
    if (bigger !== undefined) {
      const toBoundary = (bigger - (i % bigger)) % bigger;
      // Only if the HPA is aligned to `bigger` at that boundary can a larger page start there.
      if (toBoundary > 0n && (o + toBoundary) % bigger === 0n && toBoundary / page < run) run = toBoundary / page;
    }
    if (run < 1n) run = 1n;
    count += run;
    off += run * page;
  }
  return count > limit ? cap + 1 : Number(count);
}
