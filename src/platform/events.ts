/**
 * Events: what a transition reports. Plain data with a `kind`; a trace is the list
 * of events of a run. Properties read events and state, nothing else.
 */

import type { MemoryReference } from '../vtd/dma/walk.ts';

export type InterruptPath = 'compatibility' | 'remapped';

/** A message the local APICs accepted: the outcome of an interrupt request that got through. */
export interface InterruptDeliveredEvent {
  readonly kind: 'interrupt-delivered';
  readonly step: number;
  /** Device that really issued the write (key), and the requester ID on the bus. */
  readonly device: string;
  readonly rid: number;
  readonly address: bigint;
  readonly data: number;
  /** compatibility: not remapped (IR off, CFI pass-through, or no remapping unit); remapped: through an IRTE. */
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
  readonly irteIndex: number;
  readonly iecHit: boolean;
  readonly pda: bigint;
  readonly virtualVector: number;
  readonly urgent: boolean;
  /** PID.SN as the unit read it. */
  readonly snSet: boolean;
  readonly notification: { readonly vector: number; readonly apicId: number; readonly targets: readonly number[] } | undefined;
  readonly suppressed: 'on-already-set' | 'sn-set' | undefined;
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
  readonly register: 'IRTA' | 'GCMD' | 'FRCD' | 'RTADDR';
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

export type PlatformEvent =
  | ActionRejectedEvent
  | InterruptDeliveredEvent
  | InterruptFaultEvent
  | InterruptPostedEvent
  | DmaAccessEvent
  | DmaFaultEvent
  | RequestBlockedEvent
  | DmaPeerEvent
  | MemoryWriteEvent
  | RegisterWriteEvent
  | IecInvalidateEvent
  | MsiPendingEvent
  | MsiDroppedEvent
  | MsiConfigEvent
  | PirProcessedEvent
  | VcpuStateEvent
  | GuestInterruptEvent
  | HypervisorEvent
  | IntentEvent;

export type EventKind = PlatformEvent['kind'];
