/**
 * The AMD-Vi platform events (the vendor seam, src/platform/vendor.ts). Outcomes of device
 * requests stay the vendor-neutral ones (`interrupt-delivered`, `interrupt-posted`,
 * `interrupt-fault`, `dma-access`, `dma-fault`), with an optional `amdvi` detail where the VT-d
 * fields (FRCD, fault reason) do not say what the AMD unit did; the events here are what only an
 * AMD unit does: an event-log entry written (or not), a GA-log entry and its interrupt, a register
 * write, a command processed. `iommu` is the index into `PlatformState.amdvi.units`.
 */
import type { AmdBlockReason } from '../amdvi/interrupt-remapping.ts';
import type { AppendResult } from '../amdvi/event-log.ts';

/**
 * What happened to the event-log entry of an AMD-Vi abort: `logged` / `overflow` /
 * `overflow-pending` / `disabled` as src/amdvi/event-log.ts `appendEvent` says, `suppressed` when
 * DTE.IG, IRTE.SupIOPF or DTE.SA/SE keep it out of the log, `none` when the abort logs nothing
 * (IntCtl = 00, a pass bit clear: target abort only; sheet amdvi-facts.md §4.5).
 */
export type AmdEventLogging = AppendResult | 'suppressed' | 'none';

/** The `amdvi` detail of an `interrupt-fault` on an AMD-Vi unit (`reason` is then the event code, 0 for a bare target abort). */
export interface AmdInterruptFaultDetail {
  readonly why: AmdBlockReason;
  /** Event code name (src/amdvi/event-log.ts EVENT_CODE), undefined for a bare target abort. */
  readonly event: string | undefined;
  readonly logging: AmdEventLogging;
}

/** The `amdvi` detail of a `dma-fault` on an AMD-Vi unit (`reason` is the event code, IO_PAGE_FAULT = 2). */
export interface AmdDmaFaultDetail {
  readonly event: string;
  readonly logging: AmdEventLogging;
  /** IO_PAGE_FAULT flags as Linux prints them (`(ev[1] >> 16) & 0xfff`, src/amdvi/event-log.ts eventFlagsValue). */
  readonly flags: number;
  readonly domainId: number;
}

/** The `amdvi` detail of an `interrupt-posted` by AVIC (GA mode): GATag, IsRun and what the unit did for it. */
export interface AmdPostedDetail {
  readonly gaTag: number;
  readonly isRun: boolean;
  /** IsRun = 1: the doorbell went to this physical APIC ID (IRTE Destination). */
  readonly doorbell: number | undefined;
  /** IsRun = 0: what happened to the GA-log entry (`logged`, `full`, `disabled`, or `not-requested` when GALogIntr = 0). */
  readonly gaLog: 'logged' | 'full' | 'disabled' | 'not-requested' | undefined;
}

/** An AMD-Vi unit wrote (or dropped) an event-log entry (spec 48882 §2.5; src/amdvi/event-log.ts). */
export interface AmdViEventLogEvent {
  readonly kind: 'amdvi-event';
  readonly step: number;
  readonly iommu: number;
  readonly code: number;
  /** EVENT_CODE name. */
  readonly name: string;
  readonly deviceId: number;
  readonly address: bigint;
  /** The 128-bit entry as written (or as it would have been). */
  readonly entry: bigint;
  readonly logging: AmdEventLogging;
  /** The event-log interrupt fires (Control.EventIntEn and Status changed); not delivered by this model yet. */
  readonly interrupt: boolean;
}

/**
 * AVIC: an interrupt for a non-running vCPU (IsRun = 0, GALogIntr = 1) wrote a GA-log entry
 * (GATag [31:0], DeviceID [47:32], type [63:60] = 1 GUEST_NR; Linux `amd_iommu_types.h` `GA_*`,
 * `iommu_poll_ga_log`) at the GA log tail, and with Control.GAIntEn the GA-log interrupt goes to
 * the host, whose handler wakes the vCPU the GATag names (KVM `avic_ga_log_notifier` →
 * `kvm_vcpu_wake_up`). `wake` is the vCPU whose backing page the IRTE names (the policy decides
 * whether and how it wakes it).
 */
export interface AmdViGaLogEvent {
  readonly kind: 'amdvi-ga-log';
  readonly step: number;
  readonly iommu: number;
  readonly gaTag: number;
  readonly deviceId: number;
  readonly entry: bigint;
  /** Byte address the entry went to, undefined when not written. */
  readonly at: bigint | undefined;
  readonly result: 'logged' | 'full' | 'disabled';
  readonly interrupt: boolean;
  readonly wake: number | undefined;
}

/** Software wrote an AMD-Vi MMIO register (`amdvi-write-register`; src/platform/amdvi-handlers.ts). */
export interface AmdViRegisterEvent {
  readonly kind: 'amdvi-register';
  readonly step: number;
  readonly iommu: number;
  readonly register: string;
  readonly value: bigint;
  /** Status (MMIO 0x2020) after the write. */
  readonly status: bigint;
  readonly note: string | undefined;
}

/** The unit processed one command from its command buffer (src/amdvi/commands.ts `processCommands`). */
export interface AmdViCommandEvent {
  readonly kind: 'amdvi-command';
  readonly step: number;
  readonly iommu: number;
  /** Byte address of the command. */
  readonly at: bigint;
  /** Effect kind (src/amdvi/commands.ts CommandEffect). */
  readonly effect: string;
  /** One line saying what it did. */
  readonly what: string;
}

export type AmdViPlatformEvent = AmdViEventLogEvent | AmdViGaLogEvent | AmdViRegisterEvent | AmdViCommandEvent;
