/**
 * The hypervisor's DMA intent (state.ts `HypervisorIntent.dma`), per device and address space:
 * what `map-dma` built for a device's PASID (scalable mode) or for its requests without PASID,
 * what `unmap-dma` took away, and which of it covers a given access (P2,
 * src/properties/p2-dma-isolation.ts).
 *
 * A request with a PASID is judged by the mappings of that PASID of the device that issued it:
 * the PASID table is the device's own, and PASIDs of one device are separate address spaces
 * (Linux attaches a domain per PASID: `intel_pasid_setup_*` in drivers/iommu/intel/pasid.c). A
 * request without PASID is judged by the device's mappings for requests without PASID (legacy
 * mode, or the PASID its context's RID_PASID names), and by those of every other device of the
 * same domain: devices may share requester IDs and so context entries (DMA aliases behind a
 * PCIe-to-PCI bridge), which is why Linux puts a whole IOMMU group in one domain. Only intent
 * recorded for the device's current owner counts: after `assign`, what was built for the old
 * owner no longer covers anything.
 */
import type { DeviceDmaIntent, DmaGrant, DmaSpaceIntent, PlatformState } from './state.ts';

/** Key of an address space in {@link DeviceDmaIntent.spaces}: the PASID (decimal), or `legacy`. */
export type DmaSpaceKey = string;

export const LEGACY_SPACE: DmaSpaceKey = 'legacy';

/** The space a request uses: the PASID it carried; without one the device's RID_PASID (scalable) or the legacy space. */
export function spaceKeyOf(pasid: number | undefined, ridPasid: number | undefined): DmaSpaceKey {
  if (pasid !== undefined) return String(pasid);
  return ridPasid === undefined ? LEGACY_SPACE : String(ridPasid);
}

/** The device's space a request carrying `pasid` uses, when the hypervisor built one for its current owner. */
export function deviceSpace(state: PlatformState, device: string, pasid: number | undefined): DmaSpaceIntent | undefined {
  const owner = state.intent.owners[device];
  const d = state.intent.dma[device];
  if (owner === undefined || d === undefined || d.domain !== owner) return undefined;
  return d.spaces[spaceKeyOf(pasid, d.ridPasid)];
}

/**
 * The grants that may cover an access by `device` carrying `pasid` (see the module comment):
 * its own space's first, then — for a request without PASID — the other devices' of its domain.
 */
export function coveringGrants(state: PlatformState, device: string, pasid: number | undefined): readonly DmaGrant[] {
  const own = deviceSpace(state, device, pasid)?.grants ?? [];
  const owner = state.intent.owners[device];
  if (pasid !== undefined || owner === undefined) return own;
  let out: DmaGrant[] | undefined;
  for (const key in state.intent.dma) {
    const d = state.intent.dma[key]!;
    if (key === device || d.domain !== owner) continue;
    const s = d.spaces[spaceKeyOf(undefined, d.ridPasid)];
    if (s === undefined || s.grants.length === 0) continue;
    out ??= [...own];
    out.push(...s.grants);
  }
  return out ?? own;
}

/** Every mapping the hypervisor built for the devices of `domain`, every space (for displays). */
export function domainDmaGrants(state: PlatformState, domain: number): DmaGrant[] {
  const out: DmaGrant[] = [];
  for (const key in state.intent.dma) {
    const d = state.intent.dma[key]!;
    if (d.domain !== domain) continue;
    for (const s of Object.values(d.spaces)) out.push(...s.grants);
  }
  return out;
}

/**
 * The device's intent after `map-dma` built `grants` for space `key` in domain `domain`: that
 * space replaced (the map builds a fresh translation for it), the other spaces kept when the
 * device stays in the domain and mode (a legacy map replaces every space, a scalable one drops
 * the legacy space), `ridPasid` set as given (undefined in legacy mode).
 */
export function withMappedSpace(d: DeviceDmaIntent | undefined, domain: number, key: DmaSpaceKey, space: DmaSpaceIntent, ridPasid: number | undefined): DeviceDmaIntent {
  const legacy = key === LEGACY_SPACE;
  const kept: Record<string, DmaSpaceIntent> = {};
  if (d !== undefined && d.domain === domain && !legacy) {
    for (const [k, s] of Object.entries(d.spaces)) if (k !== LEGACY_SPACE) kept[k] = s;
  }
  kept[key] = space;
  return { domain, ...(ridPasid === undefined ? {} : { ridPasid }), spaces: kept };
}
