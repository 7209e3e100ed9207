/**
 * The platform state: one immutable, serialisable value (DESIGN.md §2). Hardware
 * (CPUs, IOMMU units, PCI functions, memory) holds what the specs say the hardware
 * holds; the hypervisor's intent (owners and grants) is the trusted software's
 * record of what it meant to allow, read by the properties (DESIGN.md §3).
 *
 * Every table the IOMMU reads (the IRT, later PI descriptors and page tables) lives
 * in `memory` as bytes; decoded views are derived from those bytes.
 */
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import type { RequesterId } from '../pci/bdf.ts';
import type { Irte } from '../vtd/irte.ts';
import type { VcpuTable } from './vcpu-table.ts';
import type { DmaCaches } from '../vtd/dma/caches.ts';
import type { Fabric } from '../fabric/model.ts';
import type { DirectPostCache } from '../hypothetical/direct-post/cache.ts';
import type { AmdViUnit } from '../amdvi/unit.ts';

export type ApicMode = 'xapic' | 'x2apic';

/** A physical CPU (logical processor) and its local APIC ID. */
export interface Pcpu {
  readonly index: number;
  /** x2APIC ID (32 bits); in xAPIC mode only IDs 0..254 are addressable. */
  readonly apicId: number;
}

/** One IEC entry: the IRTE as the hardware read it, decoded once when it was cached. */
export interface IecEntry {
  readonly raw: bigint;
  readonly irte: Irte;
  readonly reserved: bigint;
}

/**
 * IEC entries by 16-bit IRTE index: four levels of 16 slots, index bits 15:12, 11:8, 7:4, 3:0
 * (src/vtd/iec.ts). Persistent: a fill copies the four nodes on one index's path, not the
 * cache, and a node left empty is removed, so equal contents give equal tries.
 */
export type IecTrie = readonly (readonly (readonly (readonly (IecEntry | undefined)[] | undefined)[] | undefined)[] | undefined)[];

/**
 * Interrupt Entry Cache of one remapping unit (VT-d §9.10/§6.5.2.7): IRTEs cached
 * by interrupt index when first used, kept until an IEC invalidation covers them or
 * the cache evicts them (FIFO at `capacity` entries), so a stale entry is observable.
 */
export interface InterruptEntryCache {
  readonly capacity: number;
  /** Cached entries by IRTE index, a persistent radix trie (src/vtd/iec.ts `iecLookup` reads it). */
  readonly entries: IecTrie;
  /** Cached indices, oldest first (eviction order). */
  readonly order: readonly number[];
}

/** Device scope of a DRHD: which requester IDs the unit translates and remaps. */
export interface DrhdScope {
  /** Endpoints named explicitly (device scope type 1). */
  readonly endpoints: readonly RequesterId[];
  /** Bridges (type 2, PCI sub-hierarchy): every function below them belongs to the unit. */
  readonly bridges: readonly RequesterId[];
  /** Bus ranges that belong to the unit, [first, last] (a scenario's explicit form of a sub-hierarchy). */
  readonly busRanges: readonly (readonly [number, number])[];
  /** IOAPICs (type 3): enumeration ID and requester ID. */
  readonly ioapics: readonly { readonly id: number; readonly rid: RequesterId }[];
  /** HPET blocks (type 4). */
  readonly hpets: readonly { readonly id: number; readonly rid: RequesterId }[];
}

/** The interrupt-remapping registers of a unit that this model implements (VT-d §11.4). */
export interface IrRegisters {
  /** IRTA_REG (0xB8) as software last wrote it. */
  readonly irta: bigint;
  /** The IRTA value latched by the last SIRTP; the hardware uses only this one. */
  readonly irtaLatched: bigint;
  /** RTADDR_REG (0x20) as software last wrote it. */
  readonly rtaddr: bigint;
  /** The RTADDR value latched by the last SRTP; DMA translation uses only this one. */
  readonly rtaddrLatched: bigint;
  /** Persistent GCMD bits as software last wrote them (GCMD itself is write-only). */
  readonly gcmd: number;
  /** GSTS_REG (0x1C). */
  readonly gsts: number;
  /** FSTS_REG (0x34). */
  readonly fsts: number;
  /** FECTL_REG (0x38): IM (bit 31, 1 at reset) and IP (bit 30, read-only). */
  readonly fectl: number;
  /** FEDATA_REG (0x3C), FEADDR_REG (0x40), FEUADDR_REG (0x44): the fault-event message. */
  readonly fedata: number;
  readonly feaddr: number;
  readonly feuaddr: number;
  /** IQA_REG (0x90): queue base, DW, QS (src/vtd/invalidation-queue.ts). */
  readonly iqa: bigint;
  /** IQH_REG (0x80): byte offset of the next descriptor the hardware fetches (0 while QIES = 0). */
  readonly iqh: bigint;
  /** IQT_REG (0x88): byte offset software writes next. */
  readonly iqt: bigint;
  /** IQERCD_REG (0xB0): IQEI, ITESID, ICESID. */
  readonly iqer: bigint;
  /** ICS_REG (0x9C): IWC. */
  readonly ics: number;
  /** IECTL_REG (0xA0): IM (1 at reset), IP. */
  readonly iectl: number;
  /** IEDATA_REG (0xA4), IEADDR_REG (0xA8), IEUADDR_REG (0xAC): the invalidation-completion message. */
  readonly iedata: number;
  readonly ieaddr: number;
  readonly ieuaddr: number;
  /** CCMD_REG (0x28) as it reads back (ICC clear and CAIG set once an invalidation is done). */
  readonly ccmd: bigint;
  /** IVA_REG and IOTLB_REG (at ECAP.IRO × 16 and + 8) as they read back. */
  readonly iva: bigint;
  readonly iotlb: bigint;
}

/** A DMA-remapping hardware unit (ACPI DRHD) and its interrupt-remapping state. */
export interface IommuUnit {
  readonly index: number;
  /** Linux's name for the unit, `dmar<index>`. */
  readonly name: string;
  readonly segment: number;
  /** Register base address (HPA of the 4 KiB+ register set). */
  readonly registerBase: bigint;
  /** DRHD flag INCLUDE_PCI_ALL: the unit takes every device of its segment not claimed by another. */
  readonly includePciAll: boolean;
  readonly scope: DrhdScope;
  readonly cap: bigint;
  readonly ecap: bigint;
  readonly regs: IrRegisters;
  /** Fault recording registers FRCD0..FRCD(NFR): raw 128-bit values. */
  readonly frcd: readonly bigint[];
  readonly iec: InterruptEntryCache;
  /** DMA-remapping caches: context, PASID, IOTLB and paging-structure caches (src/vtd/dma/caches.ts). */
  readonly dma: DmaCaches;
  /**
   * HYPOTHETICAL direct-post extension (src/hypothetical/direct-post): the DPTA register as
   * written and the unit's direct-post table cache. Absent unless `platform.directPost`.
   */
  readonly directPost?: { readonly dpta: bigint; readonly cache: DirectPostCache } | undefined;
}

/** MSI capability state of a PCI function (PCI Local Bus Spec §6.8.1; sheet §12.1). */
export interface MsiCapability {
  readonly enabled: boolean;
  /** Multiple Message Capable: log2 of the vectors the function asks for (0..5). */
  readonly mmc: number;
  /** Multiple Message Enable: log2 of the vectors granted (0..5). */
  readonly mme: number;
  readonly address: bigint;
  readonly data: number;
  readonly perVectorMasking: boolean;
  /** Mask bits, one per vector (bit k = vector k). */
  readonly mask: number;
  /** Pending bits, one per vector. */
  readonly pending: number;
}

/** One MSI-X table entry (16 bytes; sheet §12.2). */
export interface MsixEntry {
  readonly address: bigint;
  readonly data: number;
  readonly masked: boolean;
}

/** MSI-X capability state: the table and the PBA. */
export interface MsixCapability {
  readonly enabled: boolean;
  readonly functionMask: boolean;
  readonly table: readonly MsixEntry[];
  /** Pending Bit Array: entry indices whose message is pending. */
  readonly pending: readonly number[];
}

/**
 * A PCI function that raises interrupts and does DMA. Its own requester ID is its BDF;
 * the one its requests carry when they reach the IOMMU is decided by the fabric
 * (`busRid`: a PCIe-to-PCI bridge above it replaces it, src/fabric/routing.ts).
 */
export interface PciFunction {
  /** Canonical key: `bb:dd.f`, or `ssss:bb:dd.f` outside segment 0. */
  readonly key: string;
  readonly segment: number;
  readonly rid: RequesterId;
  readonly name: string;
  /** Bridges between the function and its root complex, nearest to the root first (for DRHD sub-hierarchy scopes). */
  readonly upstream: readonly RequesterId[];
  /** The remapping unit whose DRHD scope covers the function (fixed by the topology, resolved once at build). */
  readonly iommu: number | undefined;
  /** The requester ID its own requests carry at the IOMMU: its BDF, or the alias a bridge above it gives them. */
  readonly busRid: RequesterId;
  readonly msi: MsiCapability | undefined;
  readonly msix: MsixCapability | undefined;
}

export type DomainKind = 'host' | 'guest';

/** A protection domain: the host or a guest. */
export interface Domain {
  readonly id: number;
  readonly name: string;
  readonly kind: DomainKind;
  /** pCPU indices the domain's interrupts may be routed to (host: all it runs on). */
  readonly cpus: readonly number[];
}

/** Where a granted interrupt may land: a pCPU (host-handled) or a vCPU (posted). */
export type GrantTarget = { readonly kind: 'pcpu'; readonly apicId: number } | { readonly kind: 'vcpu'; readonly vcpu: number };

/** Scheduler state of a vCPU: in guest mode on its pCPU, preempted (runnable), or halted. */
export type VcpuRun = 'running' | 'runnable' | 'blocked';

/**
 * A guest's virtual CPU. `running` means its pCPU is in VMX non-root mode for it, so a
 * notification with the posted-interrupt vector is processed by the CPU (PIR → vIRR)
 * without a VM exit (Intel SDM Vol. 3 §30.6 "Posted-Interrupt Processing").
 */
export interface Vcpu {
  /** Its id: position in the vCPU table. */
  readonly id: number;
  readonly domain: number;
  /** Index within its domain (vCPU number). */
  readonly index: number;
  /** The guest's x2APIC ID for it. */
  readonly apicId: number;
  readonly run: VcpuRun;
  /** pCPU it runs on (running) or last ran on. */
  readonly pcpu: number;
  /**
   * Address of its posted-interrupt descriptor (64-byte aligned HPA). On an AMD-Vi platform
   * (`PlatformState.amdvi`) it is the vCPU's AVIC vAPIC backing page instead (4 KiB-aligned HPA,
   * AMD APM vol. 2 §15.29; src/platform/build.ts DEFAULT_AVIC_BACKING_BASE), the page a GA-mode
   * IRTE's GA root names, so vendor-neutral code (P1 checkPosting) matches `interrupt-posted.pda`.
   */
  readonly pda: bigint;
  /** Virtual APIC IRR and ISR, 256 bits each (bit n = vector n). */
  readonly virr: bigint;
  readonly visr: bigint;
}

/** The trusted hypervisor's own bookkeeping (what its policy module reads and writes). */
export interface HypervisorState {
  /** Name of the policy module (src/policy). */
  readonly policy: string;
  /** Posted-interrupt notification vector in every vCPU's VMCS: in guest mode the CPU processes it as posted. */
  readonly postedVector: number;
  /** Per-pCPU lists of blocked vCPUs to wake on the wakeup vector (KVM's wakeup_vcpus_on_cpu, Xen's pi_blocking list). */
  readonly blockedLists: Readonly<Record<number, readonly number[]>>;
  /** Next IRTE index the hypervisor allocates, per remapping unit. */
  readonly nextIrte: Readonly<Record<number, number>>;
  /** vCPUs whose NDST a policy has not updated yet (only broken policies defer it). */
  readonly staleNdst: readonly number[];
  /**
   * Where the hypervisor allocates DMA-remapping structures (root, context, PASID tables,
   * page tables): 4 KiB pages from `next` up to `end`, starting at `start`.
   */
  readonly tableArena: { readonly start: bigint; readonly next: bigint; readonly end: bigint };
  /**
   * Host vector → the guest interrupt the hypervisor injects in software when it takes that
   * vector (the fallback for requests a posted IRTE cannot carry). Absent: none.
   */
  readonly softwareRoutes?: Readonly<Record<number, SoftwareRoute>>;
}

/**
 * A guest MSI the hypervisor delivers in software: the guest's own message (destination in
 * the guest's APIC ID space, its vector and delivery mode), resolved among `domain`'s vCPUs
 * each time the host interrupt arrives, as KVM's irqfd resolves its MSI routing entry
 * (virt/kvm/eventfd.c irqfd_inject → kvm_set_msi → kvm_irq_delivery_to_apic).
 */
export interface SoftwareRoute {
  readonly device: string;
  readonly domain: number;
  readonly destination: number;
  readonly logical: boolean;
  /** 0 fixed (every vCPU of the destination), 1 lowest priority (one of them). */
  readonly deliveryMode: number;
  readonly vector: number;
}

/**
 * What a guest's interrupt request means, as the hypervisor understood it: the vCPUs its
 * destination names (ids) and whether the message goes to all of them (fixed) or to one
 * (lowest priority). Read by P3: a posted IRTE has one PDA, so it cannot carry a fixed
 * request to several vCPUs.
 */
export interface IntendedRoute {
  readonly device: string;
  readonly vector: number;
  readonly vcpus: readonly number[];
  readonly oneOf: boolean;
}

/** A DMA mapping the hypervisor means a domain to have: `size` bytes at IOVA `iova` → HPA `hpa`. */
export interface DmaGrant {
  readonly iova: bigint;
  readonly hpa: bigint;
  readonly size: bigint;
  readonly read: boolean;
  readonly write: boolean;
  /** The hypervisor maps IOMMU structures here on purpose (P2 then allows the access). */
  readonly structures: boolean;
}

/** The mappings the hypervisor built for one address space of a device (a PASID, or requests without PASID), tagged with its DID. */
export interface DmaSpaceIntent {
  readonly did: number;
  readonly grants: readonly DmaGrant[];
}

/**
 * The hypervisor's DMA intent for one device (`map-dma`, `unmap-dma`): the domain it built the
 * translation for, and per address space the mappings. `spaces` is keyed by the PASID in
 * scalable mode (decimal) and by `legacy` in legacy mode; `ridPasid` is the PASID whose entry
 * serves the device's requests without PASID in scalable mode (the context's RID_PASID as the
 * hypervisor set it), absent in legacy mode.
 */
export interface DeviceDmaIntent {
  readonly domain: number;
  readonly ridPasid?: number;
  readonly spaces: Readonly<Record<string, DmaSpaceIntent>>;
}

/**
 * One grant of the hypervisor's intent: the device function `requester` may raise
 * `vector` at `target` with one of `deliveryModes` (DESIGN.md §3).
 */
export interface Grant {
  readonly requester: string;
  readonly target: GrantTarget;
  /** The vector granted, or the first of the range [vector, lastVector]. */
  readonly vector: number;
  /**
   * With it the grant covers every vector of [vector, lastVector] (inclusive): the
   * HYPOTHETICAL direct-post design lets a device post any vector 16..2^vectorBits − 1 into
   * its owner's vCPUs (src/vmm/designs/direct-post.ts). Absent: `vector` alone.
   */
  readonly lastVector?: number;
  /** Delivery modes allowed (3-bit encodings; default fixed and lowest-priority). */
  readonly deliveryModes: readonly number[];
}

/** Whether grant `g` covers vector `v` (its `vector`, or the range up to `lastVector`). */
export function grantCoversVector(g: Grant, v: number): boolean {
  return g.lastVector === undefined ? g.vector === v : v >= g.vector && v <= g.lastVector;
}

/** The trusted hypervisor's intent: who owns each device and which interrupts it granted. */
export interface HypervisorIntent {
  /** Device key → owning domain id. */
  readonly owners: Readonly<Record<string, number>>;
  readonly grants: readonly Grant[];
  /** Device key → the DMA mappings the hypervisor built for it, per address space (P2; src/platform/dma-intent.ts). */
  readonly dma: Readonly<Record<string, DeviceDmaIntent>>;
  /** `iommu:index` of an IRTE a policy set up → what the guest's request meant. Absent: none recorded. */
  readonly interruptRoutes?: Readonly<Record<string, IntendedRoute>>;
}

/** Platform-wide interrupt addressing facts that are not per-unit. */
export interface InterruptPlatform {
  readonly apicMode: ApicMode;
  /**
   * Whether compatibility-format MSIs carry destination bits 14:8 in address bits
   * 11:5 (the virtual "extended destination ID", Linux apic.c). Never on bare metal.
   */
  readonly extendedDestinationId: boolean;
  /**
   * xAPIC logical destination model (the DFR register): `flat` (8-bit bitmask, one bit per
   * APIC) or `cluster` (4-bit cluster ID, 4-bit member mask). Absent means flat.
   */
  readonly xapicLogicalModel?: 'flat' | 'cluster';
  /**
   * What the root complex does with an Unsupported Request it detects on an upstream request
   * (a malformed request to the interrupt range, XSA-59): `masked` (absent: the default) aborts
   * it silently, as Xen leaves the affected chipsets (UR signalling masked at the root ports and
   * host bridges, xen/drivers/passthrough/vtd/quirks.c `pci_vtd_quirk`); `serr-nmi` reports it
   * as a system error (SERR#), which the platform delivers as an NMI to the BSP.
   */
  readonly urSignaling?: 'masked' | 'serr-nmi';
  /**
   * Host-bridge MSI validation (`platform.msiValidation: partitionable-endpoint`; POWER's PHB,
   * seed thread 003: "the host bridge enforce validation anyways"): a write to the interrupt
   * window is accepted only with an address/data pair the hypervisor assigned to the
   * partitionable endpoint its requester ID names (`assigned[device][entry]`, the `msi-assign`
   * primitive); any other is blocked before the IOMMU (an `msi-validation` event). Absent: off.
   */
  readonly msiValidation?: {
    readonly assigned: Readonly<Record<string, Readonly<Record<number, { readonly address: bigint; readonly data: number }>>>>;
    /** The same pairs by the requester ID the endpoint's requests carry (`address:data` → how many entries hold it): the bridge's lookup, one per write. */
    readonly byRequester?: Readonly<Record<number, Readonly<Record<string, number>>>>;
  };
  /**
   * HYPOTHETICAL direct-post hardware (`platform.directPost`, src/hypothetical/direct-post): the
   * lookup key (`vapic-id` is the broken variant), the vector width in bits (8..16; > 8 adds
   * the PIR extension), the per-unit cache capacity in entries, and where the hypervisor puts
   * its direct-post tables (byte address, 4 KiB aligned). Absent: no unit has it.
   */
  readonly directPost?: {
    readonly key: 'source-id' | 'vapic-id';
    readonly vectorBits: number;
    readonly cacheCapacity: number;
    readonly tableBase: bigint;
  };
}

export type { VmmState } from '../vmm/state.ts';
import type { VmmState } from '../vmm/state.ts';

/**
 * What the platform holds. No step counter: the step number of an action is the caller's
 * (`applyAction(state, action, step)` stamps its events), so that a transition that changes
 * nothing returns the same state object (issue 15).
 */
export interface PlatformState {
  readonly memory: PhysicalMemory;
  /** Host address width in bits (DMAR HAW field + 1): IOMMU structures must lie below 2^HAW. */
  readonly hostAddressWidth: number;
  readonly interrupts: InterruptPlatform;
  readonly cpus: readonly Pcpu[];
  readonly iommus: readonly IommuUnit[];
  /** PCI functions by key. */
  readonly devices: Readonly<Record<string, PciFunction>>;
  /** The PCI fabric: bridges, ports, ACS, aliases, BARs (src/fabric/model.ts). Never changed by a transition. */
  readonly fabric: Fabric;
  readonly domains: readonly Domain[];
  /** Every guest's vCPUs, in pages (src/platform/vcpu-table.ts). */
  readonly vcpus: VcpuTable;
  readonly hypervisor: HypervisorState;
  readonly intent: HypervisorIntent;
  /** The VMM layer (src/vmm): undefined when the scenario chooses no VMM design. */
  readonly vmm: VmmState | undefined;
  /**
   * AMD-Vi units (src/amdvi/unit.ts) when the platform is an AMD one: then `iommus` is empty,
   * `PciFunction.iommu` indexes `amdvi.units` and events' `iommu` is that index (the vendor
   * seam, src/platform/vendor.ts). Absent on a VT-d platform.
   */
  readonly amdvi?: { readonly units: readonly AmdViUnit[] } | undefined;
}
