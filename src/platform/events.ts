/**
 * Events: what a transition reports. Plain data with a `kind`; a trace is the list
 * of events of a run. Properties read events and state, nothing else.
 */

import type { MemoryReference } from '../vtd/dma/walk.ts';
import type { StaleCacheUse } from '../vtd/dma/caches.ts';
import type { AmdDmaFaultDetail, AmdInterruptFaultDetail, AmdPostedDetail, AmdViPlatformEvent } from './amdvi-events.ts';
export type * from './amdvi-events.ts';

/**
 * compatibility: not remapped (IR off, CFI pass-through, or no remapping unit); remapped: through
 * an IRTE; system-error: the NMI a root complex that reports Unsupported Requests as SERR#
 * raises for a malformed interrupt-range request (XSA-59, src/platform/dma-access.ts).
 */
export type InterruptPath = 'compatibility' | 'remapped' | 'system-error';

/** A message the local APICs accepted: the outcome of an interrupt request that got through. */
export interface InterruptDeliveredEvent {
  readonly kind: 'interrupt-delivered';
  readonly step: number;
  /** Device that really issued the write (key), and the requester ID on the bus. */
  readonly device: string;
  readonly rid: number;
  readonly address: bigint;
  readonly data: number;
  /** How the interrupt got there (see {@link InterruptPath}). */
  readonly path: InterruptPath;
  readonly iommu: number | undefined;
  readonly irteIndex: number | undefined;
  /** Whether the IRTE came from the interrupt entry cache. */
  readonly iecHit: boolean | undefined;
  readonly destination: number;
  readonly destinationMode: 'physical' | 'logical';
  readonly vector: number;
  /** 3-bit delivery mode encoding (0 fixed, 1 lowest-priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT). */
  readonly deliveryMode: number;
  readonly triggerMode: 'edge' | 'level';
  readonly redirectionHint: boolean;
  /**
   * pCPU indices whose local APIC accepted the interrupt, as this run shows it: for a
   * lowest-priority (or logical redirection-hint) message the arbitration winner the model
   * picks, the lowest pCPU index of `candidates`.
   */
  readonly targets: readonly number[];
  /**
   * Every pCPU whose APIC the destination selects: for a one-of-the-set message each is a
   * legal arbitration winner, and P1 judges them all (src/x86/apic.ts).
   */
  readonly candidates: readonly number[];
}

/** An interrupt request the remapping hardware blocked (VT-d §5.1.4.1, fault reasons 0x20–0x28). */
export interface InterruptFaultEvent {
  readonly kind: 'interrupt-fault';
  readonly step: number;
  readonly device: string;
  readonly rid: number;
  readonly address: bigint;
  readonly data: number;
  readonly iommu: number;
  readonly reason: number;
  readonly irteIndex: number | undefined;
  /** Qualified faults are suppressed from recording when the IRTE's FPD is set. */
  readonly qualified: boolean;
  /** Index of the FRCD register the fault was recorded in; undefined when suppressed by FPD or lost to overflow (FSTS.PFO). */
  readonly frcd: number | undefined;
  /** Present for a HYPOTHETICAL direct-post fault (reasons 0xD0–0xD5): the vAPIC ID the request named (FRCD FI). */
  readonly directPost?: { readonly vapicId: number };
  /** On an AMD-Vi unit: why it aborted and what became of its event-log entry (`reason` is the event code; `frcd` undefined). */
  readonly amdvi?: AmdInterruptFaultDetail;
}

/**
 * An interrupt posted into a posted-interrupt descriptor (IRTE with IM = 1): the PIR
 * bit of `virtualVector` was set at `pda`; `notification` is the notification event
 * sent (NV to NDST), with the pCPUs that accepted it.
 */
export interface InterruptPostedEvent {
  readonly kind: 'interrupt-posted';
  readonly step: number;
  readonly device: string;
  readonly rid: number;
  readonly address: bigint;
  readonly data: number;
  readonly iommu: number;
  /** The posted IRTE's index; undefined when the HYPOTHETICAL direct-post lookup posted it (no IRTE). */
  readonly irteIndex: number | undefined;
  /** IEC hit for the IRTE; always false for a direct post (see `directPost.cacheHit`). */
  readonly iecHit: boolean;
  readonly pda: bigint;
  /** The vector set in the PIR (≥ 256 only with HYPOTHETICAL wide vectors: the PIR extension). */
  readonly virtualVector: number;
  readonly urgent: boolean;
  /** PID.SN as the unit read it. */
  readonly snSet: boolean;
  readonly notification: { readonly vector: number; readonly apicId: number; readonly targets: readonly number[] } | undefined;
  readonly suppressed: 'on-already-set' | 'sn-set' | undefined;
  /**
   * Present when the HYPOTHETICAL direct-post hardware posted it (src/hypothetical/direct-post):
   * the vAPIC ID the request named and whether the unit's direct-post cache held the entry.
   */
  readonly directPost?: { readonly vapicId: number; readonly cacheHit: boolean };
  /** AVIC posting by an AMD-Vi unit (GA mode): `pda` is the vAPIC backing page, `irteIndex` the IRTE. */
  readonly amdvi?: AmdPostedDetail;
}

/** The request fields every DMA outcome event carries. */
interface DmaRequestFields {
  readonly step: number;
  readonly device: string;
  readonly rid: number;
  readonly pasid: number | undefined;
  readonly iova: bigint;
  readonly size: number;
  readonly write: boolean;
  readonly iommu: number | undefined;
  readonly references: readonly MemoryReference[];
  /**
   * Cache entries the translation used that were marked stale when an invalidation wait
   * completed (src/vtd/dma/caches.ts `settleDmaCaches`; P4). Absent when none were.
   */
  readonly stale?: readonly StaleCacheUse[];
}

/**
 * A device DMA read or write that reached memory: `hpa` where it landed, how it was
 * translated, and (on a walk) every structure the walk read.
 */
export interface DmaAccessEvent extends DmaRequestFields {
  readonly kind: 'dma-access';
  readonly hpa: bigint;
  readonly translation: 'untranslated' | 'iotlb-hit' | 'walk';
  /** Translation type (legacy-second-stage, first-stage, second-stage, nested, pass-through …) when translated. */
  readonly type: string | undefined;
  /** The bytes written, or the bytes read. */
  readonly value: bigint;
}

/** A device DMA request the remapping unit blocked (VT-d DMA fault reasons 0x01–0x0D, 0x30–0x91). */
export interface DmaFaultEvent extends DmaRequestFields {
  readonly kind: 'dma-fault';
  readonly reason: number;
  /** The model's name for the condition (e.g. `ss-not-present`, `no-write`). */
  readonly condition: string;
  readonly frcd: number | undefined;
  /** On an AMD-Vi unit: the event-log entry (`reason` is its code, IO_PAGE_FAULT = 2). */
  readonly amdvi?: AmdDmaFaultDetail;
}

/**
 * Why a request to the interrupt address range 0xFEE0_0000–0xFEEF_FFFF is not an interrupt
 * request (VT-d §5.1.4: hardware identifies interrupt requests as DWORD-sized writes there):
 * a read; a write of another size than 4 bytes; a 4-byte write not DWORD-aligned; a request
 * with a PASID (never an interrupt request, VT-d §3.14) that no DMA remapping translates.
 */
export type UnsupportedRequestWhy = 'read' | 'not-dword' | 'misaligned' | 'pasid-untranslated';

/**
 * A request to the interrupt address range that is neither an interrupt request nor DMA: the
 * platform detects and aborts it as an Unsupported Request before interrupt remapping sees it
 * (XSA-59 / CVE-2013-3495, the advisory's text from Intel; VT-d §3.14 keeps requests without
 * PASID there out of DMA remapping). No memory is read or written, nothing is delivered and no
 * fault is recorded in the IOMMU's FRCDs. `signalled`: `serr-nmi` when the platform reports the
 * UR as a system error (SERR#), which arrives as an NMI on the BSP (an `interrupt-delivered`
 * event with path `system-error` follows); `none` when UR signalling is masked (as Xen's `pci_vtd_quirk` leaves the affected chipsets).
 */
export interface UnsupportedRequestEvent {
  readonly kind: 'unsupported-request';
  readonly step: number;
  readonly device: string;
  readonly rid: number;
  readonly pasid: number | undefined;
  readonly address: bigint;
  readonly size: number;
  readonly write: boolean;
  /** The bytes the write carried (0 for a read). */
  readonly value: bigint;
  /** The remapping unit covering the device, if any (it records nothing). */
  readonly iommu: number | undefined;
  readonly why: UnsupportedRequestWhy;
  readonly signalled: 'none' | 'serr-nmi';
}

/**
 * A request a port of the fabric refused before it reached the root complex: ACS Source
 * Validation at a root port or switch downstream port found the requester ID's bus
 * outside the port's [secondary, subordinate] range (PCIe 6.0 §6.12.1.1, an ACS
 * Violation). Nothing else happens to the request.
 */
export interface RequestBlockedEvent {
  readonly kind: 'request-blocked';
  readonly step: number;
  readonly device: string;
  /** The requester ID as the function emitted it. */
  readonly rid: number;
  readonly address: bigint;
  readonly write: boolean;
  /** Key of the port that blocked it, and its bus range. */
  readonly port: string;
  readonly range: readonly [number, number];
  readonly reason: 'acs-source-validation';
}

/**
 * A memory request routed peer to peer below the root complex, so the IOMMU never saw
 * it: `target` is the function whose BAR claims the address, `at` the switch port,
 * bridge or device whose routing sent it there (src/fabric/routing.ts).
 */
export interface DmaPeerEvent {
  readonly kind: 'dma-peer';
  readonly step: number;
  readonly device: string;
  readonly rid: number;
  readonly address: bigint;
  readonly size: number;
  readonly write: boolean;
  readonly target: string;
  readonly at: string;
  readonly why: string;
}

/** A store by trusted software into simulated memory. */
export interface MemoryWriteEvent {
  readonly kind: 'memory-write';
  readonly step: number;
  readonly address: bigint;
  readonly bytes: number;
  readonly value: bigint;
  /** What the bytes are, when the writer said (e.g. `IRTE 5 of dmar0`). */
  readonly what: string | undefined;
}

export interface RegisterWriteEvent {
  readonly kind: 'register-write';
  readonly step: number;
  readonly iommu: number;
  readonly register: 'IRTA' | 'GCMD' | 'FRCD' | 'RTADDR' | RegisterName;
  readonly value: bigint;
  /** GSTS after the write. */
  readonly gsts: number;
  /** GSTS status bits that changed, e.g. `IRES+`, `CFIS-`. */
  readonly changed: readonly string[];
  /** Why the write was ignored or only partly effective, when it was. */
  readonly note: string | undefined;
}

export interface IecInvalidateEvent {
  readonly kind: 'iec-invalidate';
  readonly step: number;
  readonly iommu: number;
  readonly descriptor: bigint;
  readonly granularity: 'global' | 'index';
  readonly index: number | undefined;
  /** Number of entries (2^IM) covered by an index-selective invalidation. */
  readonly count: number | undefined;
  /** Cached indices dropped. */
  readonly dropped: readonly number[];
  /** How the descriptor reached the unit (absent: `direct`, see {@link InvalidationEvent}). */
  readonly via?: InvalidationVia;
  /** Queue slot (descriptor index in the ring) when `via` is `queue`. */
  readonly slot?: number;
}

/**
 * The registers of src/vtd/registers.ts written by `write-register` / `write-iqt` (VT-d §11.4):
 * the invalidation queue (IQA, IQT), fault status and event (FSTS, FECTL, FEDATA, FEADDR,
 * FEUADDR), the invalidation-completion event (ICS, IECTL, IEDATA, IEADDR, IEUADDR) and
 * register-based invalidation (CCMD, IVA, IOTLB).
 */
export type RegisterName =
  | 'IQA'
  | 'IQT'
  | 'FSTS'
  | 'FECTL'
  | 'FEDATA'
  | 'FEADDR'
  | 'FEUADDR'
  | 'ICS'
  | 'IECTL'
  | 'IEDATA'
  | 'IEADDR'
  | 'IEUADDR'
  | 'CCMD'
  | 'IVA'
  | 'IOTLB';

/**
 * How an invalidation request reached the unit: fetched from its invalidation queue (`queue`,
 * slot = descriptor index), through CCMD_REG / IOTLB_REG (`register`), or as a descriptor the
 * `invalidate-iec` / `invalidate-dma` / `invalidation-wait` actions hand to the queue to be
 * processed at once (`direct`).
 */
export type InvalidationVia = 'queue' | 'register' | 'direct';

/**
 * An invalidation request other than an IEC invalidation (which is an {@link IecInvalidateEvent}):
 * a DMA-cache invalidation, an invalidation wait, a device-TLB or page-response descriptor (no
 * effect in the model), or a request that failed: `error` (FSTS.IQE set with IQEI, the queue
 * stopped with IQH at the descriptor) or `ignored` (nothing could process it: QIES = 0, IQE
 * pending, or a register invalidation the unit does not perform).
 */
export interface InvalidationEvent {
  readonly kind: 'invalidation';
  readonly step: number;
  readonly iommu: number;
  readonly via: InvalidationVia;
  readonly slot: number | undefined;
  /** The descriptor (128 or 256 bits), or the CCMD / IOTLB register value. */
  readonly descriptor: bigint;
  readonly outcome: 'done' | 'error' | 'ignored';
  /** Decoded: e.g. `context-cache global`, `IOTLB page DID 7 ADDR 0x10000 AM 0`, `wait SW STDATA 0x2 → 0x64002004`. */
  readonly what: string;
  /** Cache entries dropped by a DMA-cache invalidation. */
  readonly dropped: { readonly context: number; readonly pasid: number; readonly iotlb: number; readonly pagingStructure: number } | undefined;
  /** IQERCD.IQEI when `outcome` is `error`. */
  readonly iqei: number | undefined;
  /** Why it failed or was ignored, or what else happened (status write, ICS.IWC). */
  readonly note: string | undefined;
}

/**
 * A remapping unit's own interrupt message (VT-d §7.4, §6.5.2.8): the fault event
 * (FEDATA/FEADDR/FEUADDR) or the invalidation-completion event (IEDATA/IEADDR/IEUADDR), sent
 * when its condition arose with IM = 0 or when software cleared IM while IP was set. Not
 * remapped: delivered as a compatibility-format MSI to `targets` (`delivery: apic`), or, when
 * the address is outside 0xFEEx_xxxx, a DWORD memory write (`delivery: memory`).
 */
export interface EventInterruptEvent {
  readonly kind: 'event-interrupt';
  readonly step: number;
  readonly iommu: number;
  readonly event: 'fault' | 'invalidation-completion';
  readonly address: bigint;
  readonly data: number;
  readonly delivery: 'apic' | 'memory';
  readonly destination: number | undefined;
  readonly destinationMode: 'physical' | 'logical' | undefined;
  readonly vector: number | undefined;
  readonly deliveryMode: number | undefined;
  /** pCPUs whose local APIC accepted it (for a one-of-the-set message, the model's pick). */
  readonly targets: readonly number[];
  readonly candidates: readonly number[];
}

/** A masked MSI or MSI-X vector fired: its pending bit is set instead of a write. */
export interface MsiPendingEvent {
  readonly kind: 'msi-pending';
  readonly step: number;
  readonly device: string;
  readonly capability: 'msi' | 'msix';
  readonly vector: number;
}

/** A signal the function could not send at all (capability disabled or vector out of range). */
export interface MsiDroppedEvent {
  readonly kind: 'msi-dropped';
  readonly step: number;
  readonly device: string;
  readonly vector: number;
  readonly why: string;
}

/** The driver changed a function's MSI or MSI-X state (config space or MSI-X table write). */
export interface MsiConfigEvent {
  readonly kind: 'msi-config';
  readonly step: number;
  readonly device: string;
  readonly change: string;
}

/** A CPU moved posted requests from a PID's PIR into a vCPU's virtual IRR. */
export interface PirProcessedEvent {
  readonly kind: 'pir-processed';
  readonly step: number;
  readonly vcpu: number;
  readonly pcpu: number;
  readonly vectors: readonly number[];
  /** `notification`: the CPU, in guest mode, received the posted-interrupt vector; `vm-entry`: software harvest before entry. */
  readonly by: 'notification' | 'vm-entry';
}

/** A vCPU changed scheduler state. */
export interface VcpuStateEvent {
  readonly kind: 'vcpu-state';
  readonly step: number;
  readonly vcpu: number;
  readonly run: 'running' | 'runnable' | 'blocked';
  readonly was: 'running' | 'runnable' | 'blocked';
  readonly pcpu: number;
}

/** The guest acknowledged (`ack`) or ended (`eoi`) a virtual interrupt. */
export interface GuestInterruptEvent {
  readonly kind: 'guest-interrupt';
  readonly step: number;
  readonly vcpu: number;
  readonly vector: number | undefined;
  readonly what: 'ack' | 'eoi';
}

/** The hypervisor's policy answered a request; its primitive operations follow as events. */
export interface HypervisorEvent {
  readonly kind: 'hypervisor';
  readonly step: number;
  readonly policy: string;
  readonly request: string;
}

/**
 * An interrupt the hypervisor injected in software into a vCPU's virtual IRR (the
 * fallback for a request no posted IRTE can carry): `device`'s interrupt, guest `vector`.
 */
export interface InterruptInjectedEvent {
  readonly kind: 'interrupt-injected';
  readonly step: number;
  readonly device: string;
  readonly vcpu: number;
  readonly vector: number;
  /** Set when the device model injected it from userspace on its own (KVM_SIGNAL_MSI), not the hypervisor for a bound vector. */
  readonly by?: 'device-model';
}

/** A guest access to an assigned function, as the VMM layer decoded it (src/vmm/guest-access.ts). */
export interface GuestAccessEvent {
  readonly kind: 'guest-access';
  readonly step: number;
  readonly device: string;
  readonly space: 'mmio' | 'config';
  readonly write: boolean;
  readonly bar: number;
  readonly offset: number;
  readonly size: number;
  /** The bytes written, or those the guest read back. */
  readonly value: bigint;
  /** The regions it touched, in address order (`table`, `pba`, `page`, `direct`, `config`). */
  readonly regions: readonly string[];
  readonly written: readonly number[];
  readonly unmasked: readonly { readonly entry: number; readonly pending: boolean }[];
  readonly masked: readonly number[];
}

/**
 * Host-bridge MSI validation blocked an interrupt write (`platform.msiValidation`): the pair is
 * not one the hypervisor assigned to the partitionable endpoint of requester `rid`, so the
 * bridge drops it and records an error (POWER PHB; seed thread 003) before any IOMMU sees it.
 */
export interface MsiValidationEvent {
  readonly kind: 'msi-validation';
  readonly step: number;
  readonly device: string;
  readonly rid: number;
  readonly address: bigint;
  readonly data: number;
  /** How many pairs the endpoint has assigned. */
  readonly assigned: number;
}

/** A line of the VMM design's narrative (what QEMU, Xen or the device model did). */
export interface VmmNoteEvent {
  readonly kind: 'vmm';
  readonly step: number;
  readonly design: string;
  readonly note: string;
}

/** One cost of a VMM design: a trap, VM exit, device-model round trip, hypercall, ioctl or interrupt-table entry write (src/platform/actions.ts VmmCostKind). */
export interface VmmCostEvent {
  readonly kind: 'vmm-cost';
  readonly step: number;
  readonly cost: 'trap' | 'vm-exit' | 'dm-round-trip' | 'hypercall' | 'ioctl' | 'table-write';
  readonly detail: string;
}

/** A change of KVM's GSI routing table, or a route refused because the table is full (-ENOSPC). */
export interface KvmRoutingEvent {
  readonly kind: 'kvm-routing';
  readonly step: number;
  readonly gsi: number;
  readonly change: 'add' | 'update' | 'remove' | 'full';
  readonly address: bigint | undefined;
  readonly data: number | undefined;
  /** Routes in use after the change, and the table's capacity. */
  readonly used: number;
  readonly capacity: number;
}

/** An assigned function managed by the VMM raised MSI-X entry `entry` (what P7 judges against the guest's view). */
export interface DeviceRaisedEvent {
  readonly kind: 'device-raised';
  readonly step: number;
  readonly device: string;
  readonly entry: number;
}

/** A function raised slot `slot` of its IMS store: it sends the physical slot's pair, or nothing while the slot is masked. */
export interface ImsRaisedEvent {
  readonly kind: 'ims-raised';
  readonly step: number;
  readonly device: string;
  readonly slot: number;
  readonly masked: boolean;
  readonly address: bigint;
  readonly data: number;
}

/** A write that reached a function's BAR in hardware; `msixTable` when it landed in the physical MSI-X table. */
export interface DeviceRegisterEvent {
  readonly kind: 'device-register';
  readonly step: number;
  readonly device: string;
  readonly bar: number;
  readonly offset: number;
  readonly size: number;
  readonly value: bigint;
  readonly by: string;
  readonly msixTable: boolean;
}

export interface IntentEvent {
  readonly kind: 'intent';
  readonly step: number;
  readonly change: string;
}

/** An action that names something the platform does not have; nothing changed. */
export interface ActionRejectedEvent {
  readonly kind: 'action-rejected';
  readonly step: number;
  readonly why: string;
}

/**
 * HYPOTHETICAL direct-post hardware (src/hypothetical/direct-post): software wrote a unit's
 * DPTA register (`change: 'dpta'`, `value` the register) or the unit processed a direct-post
 * table invalidation (`change: 'invalidation'`, `value` the 128-bit type-0xE descriptor,
 * `dropped` the cache entries it dropped). `what` is the decoded value.
 */
export interface DirectPostEvent {
  readonly kind: 'direct-post';
  readonly step: number;
  readonly iommu: number;
  readonly change: 'dpta' | 'invalidation';
  readonly value: bigint;
  readonly what: string;
  readonly dropped: number | undefined;
}

export type PlatformEvent =
  | AmdViPlatformEvent
  | DirectPostEvent
  | ActionRejectedEvent
  | MsiValidationEvent
  | InterruptDeliveredEvent
  | InterruptFaultEvent
  | InterruptPostedEvent
  | DmaAccessEvent
  | DmaFaultEvent
  | UnsupportedRequestEvent
  | RequestBlockedEvent
  | DmaPeerEvent
  | MemoryWriteEvent
  | RegisterWriteEvent
  | IecInvalidateEvent
  | InvalidationEvent
  | EventInterruptEvent
  | MsiPendingEvent
  | MsiDroppedEvent
  | MsiConfigEvent
  | PirProcessedEvent
  | VcpuStateEvent
  | GuestInterruptEvent
  | HypervisorEvent
  | IntentEvent
  | InterruptInjectedEvent
  | GuestAccessEvent
  | VmmNoteEvent
  | VmmCostEvent
  | KvmRoutingEvent
  | DeviceRaisedEvent
  | DeviceRegisterEvent
  | ImsRaisedEvent;

export type EventKind = PlatformEvent['kind'];
