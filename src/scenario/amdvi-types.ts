/**
 * Scenario shapes for AMD-Vi platforms (specs/scenario.schema.json `amdviPlatform`,
 * `amdviUnit` and the `amdvi-register`, `amdvi-enable`, `dte`, `amd-irte`, `amd-command` steps;
 * docs/scenarios.md "AMD-Vi"). 64-bit values are numbers or hex strings, as in types.ts.
 */
import type { U64, VcpuRef } from './types.ts';

/** What a unit covers, by hand: every DeviceID of its segment, or ranges (BDFs, inclusive). */
export interface AmdViScopeSpec {
  all?: boolean;
  ranges?: { first: string; last?: string; alias?: string }[];
  ioapics?: { id: number; bdf: string }[];
  hpets?: { id: number; bdf: string }[];
}

export interface AmdViUnitSpecYaml {
  registerBase: U64;
  /** The IOMMU's own function (BDF), e.g. 00:00.2. */
  deviceId: string;
  segment?: number;
  capabilityOffset?: number;
  /** Extended Feature Register (MMIO 0x30); default: the Zenith II's 0x58f77ef22294ade. */
  efr?: U64;
  efr2?: U64;
  scope: AmdViScopeSpec;
  dteCacheCapacity?: number;
  irteCacheCapacity?: number;
}

export interface AmdViPlatformSpec {
  units: AmdViUnitSpecYaml[];
}

export type AmdViIntCtl = 'abort' | 'forward' | 'remap';

export interface AmdViSteps {
  /** A raw AMD-Vi MMIO register write (a name of src/amdvi/registers.ts AMDVI_MMIO). */
  'amdvi-register'?: { iommu: number; register: string; value: U64 };
  /** Linux `early_enable_iommu` (+ `enable_iommus_vapic` with gaLog): tables, Control bits, IommuEn. */
  'amdvi-enable'?: { iommu: number; deviceTable: U64; commandBuffer: U64; eventLog: U64; ga?: boolean; xt?: boolean; gaLog?: U64 };
  /** The 32-byte DTE of a device, written at device table base + 32 · DeviceID. */
  dte?: {
    device: string;
    /** The DeviceID indexing the table, when not the device's own BDF (an alias). */
    deviceId?: string;
    iommu?: number;
    raw?: string;
    v?: boolean;
    tv?: boolean;
    mode?: number;
    root?: U64;
    ir?: boolean;
    iw?: boolean;
    domainId?: number;
    ex?: boolean;
    sa?: boolean;
    iv?: boolean;
    intCtl?: AmdViIntCtl;
    intTabLen?: number;
    table?: U64;
    ig?: boolean;
    initPass?: boolean;
    eIntPass?: boolean;
    nmiPass?: boolean;
    lint0Pass?: boolean;
    lint1Pass?: boolean;
    sysMgt?: number;
  };
  /** An IRTE (legacy 32-bit, or 128-bit when the unit has GAEn), at the table of the device's DTE or `table`. */
  'amd-irte'?: {
    device?: string;
    table?: U64;
    iommu?: number;
    index: number;
    raw?: string;
    format?: 'legacy' | 'ga';
    remapEn?: boolean;
    supIopf?: boolean;
    deliveryMode?: 'fixed' | 'lowest-priority';
    rqEoi?: boolean;
    destinationMode?: 'physical' | 'logical';
    destination?: number;
    vector?: number;
    /** GA mode: GuestMode = 1 (guest virtual APIC). */
    guestMode?: boolean;
    gaTag?: number;
    isRun?: boolean;
    gaLogIntr?: boolean;
    /** The vAPIC backing page: an address, or the named vCPU's page. */
    backingPage?: U64;
    vcpu?: VcpuRef;
  };
  /** One command at the command-buffer tail, then the tail register write that makes the unit process it. */
  'amd-command'?: {
    iommu: number;
    command: 'completion-wait' | 'invalidate-devtab-entry' | 'invalidate-interrupt-table' | 'invalidate-iommu-pages' | 'invalidate-iommu-all';
    deviceId?: string;
    domainId?: number;
    address?: U64;
    storeAddress?: U64;
    data?: U64;
    interrupt?: boolean;
  };
}
