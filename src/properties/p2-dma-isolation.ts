/**
 * P2 DMA isolation (DESIGN.md §3): every memory access by a device lands in host
 * memory that the hypervisor's DMA intent maps for it — the mappings it built for the device
 * and the PASID the request carried; for a request without PASID, those of any device of its
 * domain (src/platform/dma-intent.ts) — with the right permission, and never on the IOMMU's own structures — the
 * IRTs, the posted-interrupt descriptors, the root/context/PASID tables and page tables
 * (the hypervisor's table arena) — unless the hypervisor mapped them there on purpose
 * (`structures: true`). A host device with no DMA intent may reach any memory but the
 * IOMMU structures (the host's identity mapping). A request routed peer to peer below
 * the root complex is never translated: it violates P2 when the peer belongs to another
 * domain than the requester (or only one of them belongs to any).
 */
import type { DmaAccessEvent, DmaPeerEvent, PlatformEvent } from '../platform/events.ts';
import type { PlatformState } from '../platform/state.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import { decodeIrta, irtEntries, GLOBAL_STATUS_BITS } from '../vtd/registers.ts';
import { IRTE_BYTES } from '../vtd/irte.ts';
import { PID_BYTES } from '../vtd/pid.ts';
import { pirExtensionBytes } from '../vtd/pid-memory.ts';
import { queueGeometry } from '../vtd/invalidation-queue.ts';
import { coveringGrants } from '../platform/dma-intent.ts';

export interface P2Violation {
  readonly property: 'P2';
  readonly step: number;
  readonly message: string;
}

interface Region {
  readonly start: bigint;
  readonly end: bigint;
  readonly what: string;
}

/** Every IOMMU structure's host-physical range. */
export function iommuStructures(state: PlatformState): Region[] {
  const out: Region[] = [];
  for (const u of state.iommus) {
    // The invalidation queue the unit fetches descriptors from (src/vtd/invalidation-queue.ts):
    // a device writing it could forge or cancel invalidations.
    if ((u.regs.gsts & (1 << GLOBAL_STATUS_BITS.QIES)) !== 0) {
      const q = queueGeometry(u.regs.iqa, state.hostAddressWidth);
      out.push({ start: q.base, end: q.base + q.bytes, what: `the invalidation queue of ${u.name}` });
    }
    if ((u.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRTPS)) === 0) continue;
    const irta = decodeIrta(u.regs.irtaLatched);
    out.push({ start: irta.base, end: irta.base + BigInt(irtEntries(irta.size) * IRTE_BYTES), what: `the IRT of ${u.name}` });
  }
  // With HYPOTHETICAL wide vectors (platform.directPost) each PID is followed by its PIR extension.
  const pidSpan = BigInt(PID_BYTES + pirExtensionBytes(state.interrupts.directPost?.vectorBits ?? 8));
  for (const v of vcpuList(state.vcpus)) out.push({ start: v.pda, end: v.pda + pidSpan, what: `the PID of vCPU ${v.id}` });
  const arena = state.hypervisor.tableArena;
  if (arena.next > arena.start) out.push({ start: arena.start, end: arena.next, what: 'the DMA-remapping tables' });
  return out;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** P2 violations of one access. */
export function checkDmaAccess(state: PlatformState, e: DmaAccessEvent): P2Violation[] {
  const end = e.hpa + BigInt(e.size);
  const domainId = state.intent.owners[e.device];
  const domain = domainId === undefined ? undefined : state.domains[domainId];
  // The mappings of the device and the PASID the request carried (src/platform/dma-intent.ts).
  const grants = coveringGrants(state, e.device, e.pasid);
  const covering = grants.find((g) => g.hpa <= e.hpa && end <= g.hpa + g.size && (e.write ? g.write : g.read));
  const out: P2Violation[] = [];
  const v = (message: string): P2Violation => ({ property: 'P2', step: e.step, message });
  const hostIdentity = domain?.kind === 'host' && grants.length === 0;
  if (covering === undefined && !hostIdentity) {
    const whose = e.pasid === undefined ? "its domain's mappings" : `its mappings for PASID ${e.pasid}`;
    out.push(v(`${e.device} (${domain?.name ?? 'no domain'}) ${e.write ? 'wrote' : 'read'} HPA ${hex(e.hpa)}+${e.size} (IOVA ${hex(e.iova)}${e.pasid === undefined ? '' : ` PASID ${e.pasid}`}, ${e.translation}), which ${whose} do not cover`));
  }
  if (covering?.structures) return out;
  for (const r of iommuStructures(state)) {
    if (e.hpa < r.end && end > r.start) out.push(v(`${e.device} ${e.write ? 'wrote' : 'read'} HPA ${hex(e.hpa)}+${e.size}: ${r.what} (${hex(r.start)}–${hex(r.end - 1n)})`));
  }
  return out;
}

/** P2 violations of one peer-to-peer request. */
export function checkPeerAccess(state: PlatformState, e: DmaPeerEvent): P2Violation[] {
  const from = state.intent.owners[e.device];
  const to = state.intent.owners[e.target];
  if (from === to) return [];
  const name = (d: number | undefined): string => (d === undefined ? 'no domain' : (state.domains[d]?.name ?? `domain ${d}`));
  return [{ property: 'P2', step: e.step, message: `${e.device} (${name(from)}) ${e.write ? 'wrote' : 'read'} ${hex(e.address)}+${e.size} in a BAR of ${e.target} (${name(to)}), routed peer to peer at ${e.at} without translation (${e.why})` }];
}

export function checkDmaIsolation(state: PlatformState, events: readonly PlatformEvent[]): P2Violation[] {
  return events.flatMap((e) => (e.kind === 'dma-access' ? checkDmaAccess(state, e) : e.kind === 'dma-peer' ? checkPeerAccess(state, e) : []));
}
