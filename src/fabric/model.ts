/**
 * The PCI fabric under the IOMMU, as data: host bridges (root buses per segment), and
 * every function with what decides where its requests go and which requester ID they
 * carry — its PCIe Device/Port Type (or conventional PCI), the bus numbers of a
 * bridge, the ACS capability and control bits of a port or multi-function device,
 * Phantom Functions, DMA-alias quirks and BARs.
 *
 * Vendor-neutral and pure: nothing here knows about VT-d or AMD-Vi. The platform state
 * holds one {@link Fabric}; the scenario compiler and the lspci importer build one
 * from a {@link FabricDescription} with `buildFabric` (src/fabric/build.ts).
 *
 * Sources: PCI Express Base Specification 6.0 §7.5.3.2 (PCI Express Capabilities
 * register, Device/Port Type), §7.5.3.3–4 (Device Capabilities / Control: Phantom
 * Functions Supported / Enable), §7.7.8 (ACS Extended Capability), §6.12 (ACS);
 * PCI-to-PCI Bridge Architecture Specification 1.2 §3.2.5 (primary, secondary,
 * subordinate bus numbers); PCI Express to PCI/PCI-X Bridge Specification 1.0 §2.3
 * (requester IDs of forwarded transactions); Linux include/uapi/linux/pci_regs.h.
 */
import type { RequesterId } from '../pci/bdf.ts';

/**
 * PCI Express Capabilities register, Device/Port Type (bits 7:4), by the names used in
 * scenarios; values as Linux `PCI_EXP_TYPE_*` (pci_regs.h).
 */
export const PCIE_TYPES = {
  /** PCI_EXP_TYPE_ENDPOINT: PCI Express Endpoint. */
  endpoint: 0x0,
  /** PCI_EXP_TYPE_LEG_END: Legacy PCI Express Endpoint. */
  'legacy-endpoint': 0x1,
  /** PCI_EXP_TYPE_ROOT_PORT: Root Port of a PCI Express Root Complex. */
  'root-port': 0x4,
  /** PCI_EXP_TYPE_UPSTREAM: Upstream Port of a PCI Express Switch. */
  'switch-upstream': 0x5,
  /** PCI_EXP_TYPE_DOWNSTREAM: Downstream Port of a PCI Express Switch. */
  'switch-downstream': 0x6,
  /** PCI_EXP_TYPE_PCI_BRIDGE: PCI Express to PCI/PCI-X Bridge. */
  'pcie-to-pci-bridge': 0x7,
  /** PCI_EXP_TYPE_PCIE_BRIDGE: PCI/PCI-X to PCI Express Bridge. */
  'pci-to-pcie-bridge': 0x8,
  /** PCI_EXP_TYPE_RC_END: Root Complex Integrated Endpoint. */
  'rc-integrated-endpoint': 0x9,
  /** PCI_EXP_TYPE_RC_EC: Root Complex Event Collector. */
  'rc-event-collector': 0xa,
} as const;

/** A PCIe Device/Port Type by name. */
export type PcieType = keyof typeof PCIE_TYPES;

/**
 * What a function is on the bus: a PCIe function of one of the {@link PCIE_TYPES}, or a
 * conventional PCI (or PCI-X) function without a PCI Express capability — `pci` an
 * endpoint (type-0 header), `pci-bridge` a PCI-to-PCI bridge (type-1 header).
 */
export type FunctionKind = PcieType | 'pci' | 'pci-bridge';

/** Each kind in words, for traces and reports. */
export const FUNCTION_KIND_WORDS: Readonly<Record<FunctionKind, string>> = {
  endpoint: 'endpoint',
  'legacy-endpoint': 'legacy endpoint',
  'root-port': 'root port',
  'switch-upstream': 'switch upstream port',
  'switch-downstream': 'switch downstream port',
  'pcie-to-pci-bridge': 'PCIe-to-PCI bridge',
  'pci-to-pcie-bridge': 'PCI-to-PCIe bridge',
  'rc-integrated-endpoint': 'root complex integrated endpoint',
  'rc-event-collector': 'root complex event collector',
  pci: 'conventional PCI function',
  'pci-bridge': 'PCI-to-PCI bridge',
};

/** Kinds with a type-1 header: they have primary/secondary/subordinate bus numbers. */
export const BRIDGE_KINDS: ReadonlySet<FunctionKind> = new Set<FunctionKind>(['root-port', 'switch-upstream', 'switch-downstream', 'pcie-to-pci-bridge', 'pci-to-pcie-bridge', 'pci-bridge']);

/**
 * ACS Capability and ACS Control register bits (PCIe 6.0 §7.7.8.2–3; Linux `PCI_ACS_*`):
 * Source Validation, Translation Blocking, P2P Request Redirect, P2P Completion
 * Redirect, Upstream Forwarding, P2P Egress Control, Direct Translated P2P.
 */
export const ACS_BITS = { SV: 0x01, TB: 0x02, RR: 0x04, CR: 0x08, UF: 0x10, EC: 0x20, DT: 0x40 } as const;
export type AcsBit = keyof typeof ACS_BITS;

/** The ACS flags Linux requires on a path for isolation (drivers/iommu/iommu.c `REQ_ACS_FLAGS`). */
export const REQ_ACS_FLAGS = ACS_BITS.SV | ACS_BITS.RR | ACS_BITS.CR | ACS_BITS.UF;

/** A function's ACS Extended Capability: the 16-bit capability and control registers (bits as {@link ACS_BITS}). */
export interface AcsRegisters {
  readonly cap: number;
  readonly ctrl: number;
}

/**
 * Phantom Functions (PCIe 6.0 §7.5.3.3 Device Capabilities bits 4:3, §7.5.3.4 Device
 * Control bit 9): `supported` is the number of most-significant Function Number bits
 * (0..3) the function may use as extra tag bits when `enabled`, so its requests may
 * carry those Function Numbers too.
 */
export interface PhantomFunctions {
  readonly supported: number;
  readonly enabled: boolean;
}

/** One memory BAR of a function: `size` bytes at bus address `base`. */
export interface Bar {
  readonly base: bigint;
  readonly size: bigint;
}

/** A host bridge: the root bus `bus` of PCI segment `segment` (a root complex's bus hierarchy starts here). */
export interface HostBridge {
  readonly segment: number;
  readonly bus: number;
  readonly name?: string;
}

/** One function as a scenario or an lspci dump describes it (input of `buildFabric`). */
export interface FunctionDescription {
  readonly segment: number;
  readonly rid: RequesterId;
  readonly kind: FunctionKind;
  readonly vendorId?: number;
  readonly deviceId?: number;
  /** Header Type bit 7; when omitted, true if another function of the same device (slot) exists or the function number is not 0. */
  readonly multifunction?: boolean;
  /** Bridges: the primary bus (must equal the bridge's own bus when given). */
  readonly primary?: number;
  /** Bridges: the secondary bus. */
  readonly secondary?: number;
  /** Bridges: the subordinate bus; when omitted, the highest bus below the bridge. */
  readonly subordinate?: number;
  readonly acs?: AcsRegisters;
  readonly phantom?: PhantomFunctions;
  /** Extra DMA alias device/function numbers on the function's own bus (Linux `dma_alias_mask`), beyond those the quirk table adds. */
  readonly dmaAliases?: readonly number[];
  /** Key of the function whose requester ID carries this one's DMA (Linux `pci_real_dma_dev`; VMD child devices). */
  readonly dmaDevice?: string;
  readonly bars?: readonly Bar[];
}

/** The input of `buildFabric`. `hostBridges` defaults to one root bus 0 per segment that has functions. */
export interface FabricDescription {
  readonly hostBridges?: readonly HostBridge[];
  readonly functions: readonly FunctionDescription[];
}

/** A function of a built fabric: its description resolved and its place in the tree. */
export interface FabricFunction {
  /** Canonical key: `bb:dd.f`, or `ssss:bb:dd.f` outside segment 0 (as `formatBdf`). */
  readonly key: string;
  readonly segment: number;
  readonly rid: RequesterId;
  readonly kind: FunctionKind;
  readonly vendorId: number | undefined;
  readonly deviceId: number | undefined;
  readonly multifunction: boolean;
  /** Bridges: secondary and subordinate bus numbers. */
  readonly bridge: { readonly secondary: number; readonly subordinate: number } | undefined;
  readonly acs: AcsRegisters | undefined;
  readonly phantom: PhantomFunctions | undefined;
  /** DMA alias devfns on its own bus: the description's and the quirk table's. */
  readonly dmaAliases: readonly number[];
  readonly dmaDevice: string | undefined;
  readonly bars: readonly Bar[];
  /** Key of the bridge whose secondary bus holds the function; undefined on a root bus. */
  readonly parent: string | undefined;
  /** Keys of the bridges between the function and its host bridge, nearest to the root first. */
  readonly path: readonly string[];
}

/** A built, validated fabric. */
export interface Fabric {
  readonly hostBridges: readonly HostBridge[];
  /** Every function by key. */
  readonly functions: Readonly<Record<string, FabricFunction>>;
}

/**
 * A topology that cannot exist: overlapping bus ranges, a function on a bus nothing
 * provides, a phantom setting that does not fit the function number, a cycle.
 * `index` is the position of the offending function in `FabricDescription.functions`
 * (undefined for a host-bridge problem) and `field` its field, so that a caller can
 * name the file, line and field.
 */
export class FabricError extends Error {
  constructor(
    message: string,
    readonly index: number | undefined,
    readonly field: string | undefined,
    /** For a host-bridge problem: the position of the offending entry in `FabricDescription.hostBridges`. */
    readonly hostBridge?: number,
  ) {
    super(message);
    this.name = 'FabricError';
  }
}
