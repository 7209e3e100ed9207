/**
 * # direct-post — HYPOTHETICAL hardware (exists in no specification)
 *
 * remapsim's model of the "fantasy" IOMMU of seed thread 000 (David Woodhouse: the guest hands
 * the device a standard MSI naming guest APIC ID + vector; the IOMMU receives <source-id,
 * vCPU APIC ID, vector> and posts it by default, notifying the host only when the vCPU is not
 * running; footnote: vectors wider than 8 bits). Issue 12 items 4 and 6. Everything here is
 * defined by us, bit-exact to our own definition, lives in simulated memory as bytes, and is
 * cached and invalidated like real hardware. It extends a VT-d unit and reuses the VT-d
 * posted-interrupt descriptor (src/vtd/pid.ts, posting.ts) and fault recording (FRCD).
 *
 * - ./table.ts — DPTA register, root entry (key source-id), vAPIC entry, the type-0xE
 *   invalidation descriptor; codecs and entry addresses.
 * - ./lookup.ts — which requests it takes and the table walk through the cache.
 * - ./cache.ts — the per-unit direct-post cache (FIFO, stale until invalidated).
 * - ./faults.ts — fault reasons 0xD0–0xD5.
 *
 * Platform wiring: `platform.directPost {key, vectorBits, cacheCapacity, tableBase}` →
 * `state.interrupts.directPost` and each unit's `directPost {dpta, cache}`
 * (src/platform/state.ts); primitives `write-dpta`, `invalidate-dpt`
 * (src/platform/direct-post-handlers.ts); the lookup in src/platform/device-write.ts; wide
 * vectors in src/vtd/pid-memory.ts (PIR extension) and src/x86/posted-processing.ts.
 * The hypervisor side is the `direct-post` VMM design (src/vmm/designs/direct-post.ts).
 * `key: vapic-id` is the deliberately BROKEN variant: one table keyed by vAPIC ID alone.
 */
export * from './table.ts';
export * from './cache.ts';
export * from './faults.ts';
export * from './lookup.ts';
