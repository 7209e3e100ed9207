/**
 * The parsed form of an ACPI DMAR (DMA Remapping Reporting) table.
 *
 * Layout source: Intel VT-d specification, chapter 8 "BIOS Considerations" (§8.1 DMAR table,
 * §8.3 device scope, §8.3–8.10 remapping structures DRHD, RMRR, ATSR, RHSA, ANDD, SATC, SIDP).
 * Field names follow Linux `include/acpi/actbl1.h` (`struct acpi_table_dmar`, `acpi_dmar_*`) and
 * `drivers/iommu/intel/dmar.c`.
 *
 * Both parsers (`parse-binary.ts` for the raw table, `parse-dsl.ts` for iasl's text form) produce
 * this model. 64-bit addresses are `bigint`; everything narrower is `number`. `offset` fields are
 * byte offsets from the start of the table, so that a message about a structure can point at it.
 */

import { formatBdf, type RequesterId } from '../../pci/bdf.ts';

/** The 36-byte ACPI system description table header (ACPI spec §5.2.6). */
export interface DmarHeader {
  readonly signature: string;
  /** Whole table length in bytes, as declared in the header. */
  readonly length: number;
  readonly revision: number;
  /** The checksum byte as stored (the whole table sums to 0 mod 256). */
  readonly checksum: number;
  /**
   * ACPI ID strings as iasl displays them: the bytes up to the first NUL, each byte outside
   * printable ASCII shown as a space. Trailing spaces are kept (`"DELL  "`).
   */
  readonly oemId: string;
  readonly oemTableId: string;
  readonly oemRevision: number;
  /** iasl calls this "Asl Compiler ID"; for a DMAR it is whoever built the table. */
  readonly creatorId: string;
  readonly creatorRevision: number;
}

/** DMAR table flags byte (VT-d §8.1). */
export interface DmarFlags {
  /** Bit 0 INTR_REMAP: the platform supports interrupt remapping. */
  readonly intrRemap: boolean;
  /** Bit 1 X2APIC_OPT_OUT: firmware asks the OS not to enable x2APIC mode. */
  readonly x2apicOptOut: boolean;
  /** Bit 2 DMA_CTRL_PLATFORM_OPT_IN: firmware asks the OS to keep DMA remapping on (Linux forces the IOMMU on). */
  readonly dmaCtrlPlatformOptIn: boolean;
  /** The whole flags byte, so reserved bits are not lost. */
  readonly raw: number;
}

/** Device-scope entry types (VT-d §8.3.1, `ACPI_DMAR_SCOPE_TYPE_*`). */
export const DEVICE_SCOPE_TYPES: Readonly<Record<number, string>> = {
  1: 'PCI endpoint',
  2: 'PCI sub-hierarchy',
  3: 'IOAPIC',
  4: 'MSI-capable HPET',
  5: 'ACPI namespace device',
};

/** One (device, function) hop of a device-scope path. */
export interface PciPathElement {
  readonly device: number;
  readonly fn: number;
}

/**
 * A device-scope entry (VT-d §8.3.1): a device, bridge, IOAPIC, HPET or ACPI namespace device that a
 * remapping structure applies to.
 *
 * The path starts at `startBus`; each element is the device/function on the bus below the previous
 * element's secondary bus. The secondary bus numbers are assigned at enumeration time and are not
 * in the table, so only a single-element path has a knowable requester ID. For longer paths the
 * consumer must resolve the buses from the live PCI topology (Linux `dmar_insert_dev_scope`).
 */
export interface DeviceScope {
  readonly offset: number;
  /** Entry type, see {@link DEVICE_SCOPE_TYPES}; other values are kept as read. */
  readonly type: number;
  readonly length: number;
  /** Byte 2: flags of recent VT-d revisions (REQ_WO_PASID_*, ATC_HARDENED, ATC_REQUIRED); reserved (0) in older tables. */
  readonly flags: number;
  /** IOAPIC ID, HPET number or ANDD ACPI device number; 0 for PCI devices. */
  readonly enumerationId: number;
  readonly startBus: number;
  readonly path: readonly PciPathElement[];
  /** `startBus:device.fn` when `path` has exactly one element; absent otherwise. */
  readonly requesterId?: RequesterId;
}

/** DMA-remapping hardware unit definition, type 0 (VT-d §8.3). */
export interface Drhd {
  readonly offset: number;
  readonly length: number;
  readonly flags: number;
  /** Flags bit 0: this unit covers every device of the segment not claimed by another DRHD. */
  readonly includePciAll: boolean;
  /**
   * Byte 5 bits 3:0, "Size" in recent VT-d revisions ("Reserved", so 0, in older ones and in the
   * iasl that produced the shipped .dsl files): the register set is 2^N 4 KiB pages.
   */
  readonly size: number;
  /** Register set size in bytes, `4096 << size`. */
  readonly registerSetBytes: number;
  readonly segment: number;
  readonly registerBase: bigint;
  readonly scopes: readonly DeviceScope[];
}

/** Reserved memory region reporting, type 1 (VT-d §8.4). `limit` is inclusive. */
export interface Rmrr {
  readonly offset: number;
  readonly length: number;
  readonly segment: number;
  readonly base: bigint;
  readonly limit: bigint;
  readonly scopes: readonly DeviceScope[];
}

/** Root-port ATS capability reporting, type 2 (VT-d §8.5). */
export interface Atsr {
  readonly offset: number;
  readonly length: number;
  readonly flags: number;
  /** Flags bit 0 ALL_PORTS: every root port of the segment supports ATS; the scope list is then empty. */
  readonly allPorts: boolean;
  readonly segment: number;
  readonly scopes: readonly DeviceScope[];
}

/** Remapping hardware static affinity, type 3 (VT-d §8.6): which NUMA node a DRHD sits on. */
export interface Rhsa {
  readonly offset: number;
  readonly length: number;
  readonly registerBase: bigint;
  readonly proximityDomain: number;
}

/** ACPI namespace device declaration, type 4 (VT-d §8.7): names the device a type-5 scope points at. */
export interface Andd {
  readonly offset: number;
  readonly length: number;
  /** Matches the `enumerationId` of ACPI-namespace device scopes. */
  readonly acpiDeviceNumber: number;
  /** NUL-terminated ACPI object path such as `\_SB.PCI0.I2C0`. */
  readonly objectName: string;
}

/** SoC integrated address translation cache, type 5 (VT-d §8.8). */
export interface Satc {
  readonly offset: number;
  readonly length: number;
  readonly flags: number;
  /** Flags bit 0 ATC_REQUIRED: the listed devices need ATS enabled to work. */
  readonly atcRequired: boolean;
  readonly segment: number;
  readonly scopes: readonly DeviceScope[];
}

/** SoC integrated device property reporting, type 6 (VT-d §8.9; `struct acpi_dmar_sidp`). */
export interface Sidp {
  readonly offset: number;
  readonly length: number;
  readonly segment: number;
  readonly scopes: readonly DeviceScope[];
}

/**
 * A remapping structure of a type this parser does not decode, kept rather than dropped.
 * `rawHex` is the whole structure (header included) as lower-case hex, or `null` when the source
 * was iasl text that did not print the body and had no "Raw Table Data" dump to take it from.
 */
export interface UnknownStructure {
  readonly offset: number;
  readonly type: number;
  readonly length: number;
  readonly rawHex: string | null;
}

/** A whole DMAR table. Each array keeps table order. */
export interface DmarTable {
  readonly header: DmarHeader;
  /** Maximum DMA physical address width in bits (the stored byte is width − 1). */
  readonly hostAddressWidth: number;
  readonly flags: DmarFlags;
  readonly drhd: readonly Drhd[];
  readonly rmrr: readonly Rmrr[];
  readonly atsr: readonly Atsr[];
  readonly rhsa: readonly Rhsa[];
  readonly andd: readonly Andd[];
  readonly satc: readonly Satc[];
  readonly sidp: readonly Sidp[];
  readonly unknown: readonly UnknownStructure[];
}

/**
 * The DRHDs the OS registers, in table order: a DRHD with the segment and register base of an
 * earlier one is the same unit and is skipped (Linux drivers/iommu/intel/dmar.c
 * `dmar_parse_one_drhd`: `dmar_find_dmaru` matches segment and `reg_base_addr`, and the later
 * structure is ignored). Two units cannot answer at one register base (VT-d §8.3: Register
 * Base Address locates the unit's register set).
 */
export function registeredDrhds(table: Pick<DmarTable, 'drhd'>): readonly Drhd[] {
  const seen = new Set<string>();
  const out: Drhd[] = [];
  for (const d of table.drhd) {
    const key = `${d.segment}:${d.registerBase}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out.length === table.drhd.length ? table.drhd : out;
}

/** Remapping structure type numbers (VT-d §8.2, `enum acpi_dmar_type`) with their short names. */
export const STRUCTURE_TYPES = {
  0: 'DRHD',
  1: 'RMRR',
  2: 'ATSR',
  3: 'RHSA',
  4: 'ANDD',
  5: 'SATC',
  6: 'SIDP',
} as const satisfies Record<number, string>;

/** Decode the DMAR flags byte. */
export function decodeDmarFlags(raw: number): DmarFlags {
  return { intrRemap: (raw & 1) !== 0, x2apicOptOut: (raw & 2) !== 0, dmaCtrlPlatformOptIn: (raw & 4) !== 0, raw };
}

/** `0x` + lower-case hex of a 64-bit address, zero-padded to `digits`. */
export function hex64(v: bigint, digits = 16): string {
  return `0x${v.toString(16).padStart(digits, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// JSON form

/** JSON shape of a device scope: path as `"dd.f"` strings, requester ID as BDF plus number. */
export interface DeviceScopeJson {
  offset: number;
  type: number;
  typeName: string;
  flags: number;
  enumerationId: number;
  startBus: number;
  path: string[];
  requesterId?: { bdf: string; value: number };
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function scopeToJson(s: DeviceScope): DeviceScopeJson {
  const out: DeviceScopeJson = {
    offset: s.offset,
    type: s.type,
    typeName: DEVICE_SCOPE_TYPES[s.type] ?? 'reserved',
    flags: s.flags,
    enumerationId: s.enumerationId,
    startBus: s.startBus,
    path: s.path.map((p) => `${hex2(p.device)}.${p.fn}`),
  };
  if (s.requesterId !== undefined) out.requesterId = { bdf: formatBdf(s.requesterId), value: s.requesterId };
  return out;
}

/** JSON of the whole table; see {@link dmarToJson}. */
export interface DmarJson {
  header: DmarHeader;
  hostAddressWidth: number;
  flags: { intrRemap: boolean; x2apicOptOut: boolean; dmaCtrlPlatformOptIn: boolean; raw: string };
  drhd: unknown[];
  rmrr: unknown[];
  atsr: unknown[];
  rhsa: unknown[];
  andd: unknown[];
  satc: unknown[];
  sidp: unknown[];
  unknown: UnknownStructure[];
}

/**
 * Plain-JSON form of a table (for `JSON.stringify`, golden files, the CLI): bigint addresses become
 * `"0x…"` 16-digit hex strings, requester IDs become `{ bdf: "00:1f.0", value: 248 }`. Top-level keys:
 * `header`, `hostAddressWidth`, `flags` {`intrRemap`, `x2apicOptOut`, `dmaCtrlPlatformOptIn`, `raw`},
 * `drhd`, `rmrr`, `atsr`, `rhsa`, `andd`, `satc`, `sidp`, `unknown`. Never throws.
 */
export function dmarToJson(t: DmarTable): DmarJson {
  const scopes = (l: readonly DeviceScope[]): DeviceScopeJson[] => l.map(scopeToJson);
  return {
    header: { ...t.header },
    hostAddressWidth: t.hostAddressWidth,
    flags: {
      intrRemap: t.flags.intrRemap,
      x2apicOptOut: t.flags.x2apicOptOut,
      dmaCtrlPlatformOptIn: t.flags.dmaCtrlPlatformOptIn,
      raw: `0x${hex2(t.flags.raw)}`,
    },
    drhd: t.drhd.map((d) => ({
      offset: d.offset,
      flags: d.flags,
      includePciAll: d.includePciAll,
      size: d.size,
      registerSetBytes: d.registerSetBytes,
      segment: d.segment,
      registerBase: hex64(d.registerBase),
      scopes: scopes(d.scopes),
    })),
    rmrr: t.rmrr.map((r) => ({
      offset: r.offset,
      segment: r.segment,
      base: hex64(r.base),
      limit: hex64(r.limit),
      scopes: scopes(r.scopes),
    })),
    atsr: t.atsr.map((a) => ({ offset: a.offset, flags: a.flags, allPorts: a.allPorts, segment: a.segment, scopes: scopes(a.scopes) })),
    rhsa: t.rhsa.map((r) => ({ offset: r.offset, registerBase: hex64(r.registerBase), proximityDomain: r.proximityDomain })),
    andd: t.andd.map((a) => ({ offset: a.offset, acpiDeviceNumber: a.acpiDeviceNumber, objectName: a.objectName })),
    satc: t.satc.map((s) => ({ offset: s.offset, flags: s.flags, atcRequired: s.atcRequired, segment: s.segment, scopes: scopes(s.scopes) })),
    sidp: t.sidp.map((s) => ({ offset: s.offset, segment: s.segment, scopes: scopes(s.scopes) })),
    unknown: t.unknown.map((u) => ({ ...u })),
  };
}
