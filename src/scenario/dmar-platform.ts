/**
 * The remapping units of a machine, from its ACPI DMAR table: one unit per DRHD, in
 * table order (Linux numbers them dmar0, dmar1, … the same way; a DRHD repeating an earlier
 * one's segment and register base is skipped as Linux skips it: `registeredDrhds`), with the DRHD's
 * device scopes. A sub-hierarchy scope is kept as its first-hop bridge; a device
 * declares the bridges above it (`upstream`) to fall under it. An endpoint scope with
 * a multi-level path names a device whose bus number only the live PCI topology
 * knows (Linux `dmar_insert_dev_scope`); such endpoints are not matched, which only
 * matters on a non-INCLUDE_PCI_ALL unit.
 */
import type { UnitDescription } from '../platform/build.ts';
import { registeredDrhds, type DmarTable, type DeviceScope } from '../vtd/dmar/model.ts';
import { requesterId } from '../pci/bdf.ts';

/** Device scope type numbers (VT-d §8.3.1). */
const SCOPE = { endpoint: 1, subHierarchy: 2, ioapic: 3, hpet: 4 } as const;

function firstHop(s: DeviceScope): number | undefined {
  const hop = s.path[0];
  return s.requesterId ?? (hop === undefined ? undefined : requesterId(s.startBus, hop.device, hop.fn));
}

export function unitsFromDmar(table: DmarTable): UnitDescription[] {
  return registeredDrhds(table).map((d) => {
    const of = (type: number): DeviceScope[] => d.scopes.filter((s) => s.type === type);
    const rids = (type: number): number[] => of(type).flatMap((s) => (s.path.length === 1 && s.requesterId !== undefined ? [s.requesterId] : []));
    return {
      segment: d.segment,
      registerBase: d.registerBase,
      includePciAll: d.includePciAll,
      scope: {
        endpoints: rids(SCOPE.endpoint),
        bridges: of(SCOPE.subHierarchy).flatMap((s) => (firstHop(s) === undefined ? [] : [firstHop(s)!])),
        busRanges: [],
        ioapics: of(SCOPE.ioapic).flatMap((s) => (s.requesterId === undefined ? [] : [{ id: s.enumerationId, rid: s.requesterId }])),
        hpets: of(SCOPE.hpet).flatMap((s) => (s.requesterId === undefined ? [] : [{ id: s.enumerationId, rid: s.requesterId }])),
      },
    };
  });
}
