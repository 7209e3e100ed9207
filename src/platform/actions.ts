/**
 * Actions: the inputs of the platform's transitions. Plain data with a `kind`, so a
 * run is a list that can be saved, shrunk and replayed. Who performs an action is in
 * its kind: register and memory writes are the hypervisor's (trusted software),
 * `msi-write` and `signal` are a device's, and `program-*` are the device driver's
 * (guest software) writes to a function's configuration space or MSI-X table.
 */
import type { Grant, IntendedRoute, SoftwareRoute, VcpuRun } from './state.ts';
import type { RegisterName } from './events.ts';
import type { DeviceModelView, KvmMsiRoute, VectorBinding } from '../vmm/state.ts';
import type { VirtualMsix } from '../vmm/virtual-msix.ts';

/**
 * What a device model asks of the hypervisor or does itself (src/vmm/designs): a design's
 * device model issues these as it emulates the guest's writes, and an untrusted one
 * (a stubdomain, `check.adversary.deviceModel`) may issue any of them.
 */
export type DeviceModelOp =
  /** Bind entry `entry` to the guest message (QEMU: a KVM route + irqfd; Xen: XEN_DOMCTL_bind_pt_irq with gvec/gflags). */
  | { readonly op: 'bind'; readonly entry: number; readonly address: bigint; readonly data: number; readonly maskHandling?: boolean }
  /** Undo a binding (QEMU: irqfd off and route released; Xen: XEN_DOMCTL_unbind_pt_irq). */
  | { readonly op: 'unbind'; readonly entry: number }
  /** Tell the hypervisor the guest's mask state of an entry (Xen: xc_domain_update_msi_irq with or without XEN_DOMCTL_VMSI_X86_UNMASKED). */
  | { readonly op: 'mask'; readonly entry: number; readonly masked: boolean }
  /** Write the device's BAR directly (a device model with write access to the MSI-X page: /dev/mem or a writable mapping). */
  | { readonly op: 'write-page'; readonly bar: number; readonly offset: number; readonly size: number; readonly value: bigint }
  /** Inject a message from userspace (KVM_SIGNAL_MSI). */
  | { readonly op: 'signal-msi'; readonly address: bigint; readonly data: number };

/**
 * What a guest asks the hypervisor by hypercall about an assigned function's interrupts
 * (src/vmm/designs): `set-interrupt` (POWER's RTAS ibm,change-msi / H_* style paravirt setup,
 * design `paravirt-hcall`) sets entry `entry` up for guest vector `vector` at its vCPU `vcpu`
 * (the domain's vCPU index).
 */
export type HypercallOp = { readonly op: 'set-interrupt'; readonly entry: number; readonly vcpu: number; readonly vector: number }
  /**
   * `get-msi-pair` (design `ims-hypercall`, seed thread 001): the hypervisor allocates an IRTE
   * for the function's IMS slot `slot`, bound to the function, delivering guest vector `vector`
   * to the domain's vCPU `vcpu`, and returns its remappable address/data pair.
   */
  | { readonly op: 'get-msi-pair'; readonly slot: number; readonly vcpu: number; readonly vector: number };

/**
 * Cost kinds the VMM layer counts (docs/vmm.md). `table-write`: one 8-byte entry of an
 * interrupt table the hypervisor writes in memory for the hardware (the HYPOTHETICAL
 * direct-post design's root and vAPIC entries, src/vmm/designs/direct-post.ts).
 */
export type VmmCostKind = 'trap' | 'vm-exit' | 'dm-round-trip' | 'hypercall' | 'ioctl' | 'table-write';

export type Action =
  /** Software writes IRTA_REG (0xB8) of a remapping unit. */
  | { readonly kind: 'write-irta'; readonly iommu: number; readonly value: bigint }
  /** Software writes GCMD_REG (0x18): persistent bits plus at most the one-shot bits it means. */
  | { readonly kind: 'write-gcmd'; readonly iommu: number; readonly value: number }
  /** A CPU store of `bytes` bytes (1..64) of `value` at host-physical `address`. */
  | { readonly kind: 'write-memory'; readonly address: bigint; readonly bytes: number; readonly value: bigint; readonly what?: string }
  /** Software stores a 128-bit IRTE at index `index` of the table its IRTA_REG names. */
  | { readonly kind: 'write-irte'; readonly iommu: number; readonly index: number; readonly value: bigint }
  /** Software submits an IEC invalidation descriptor (type 4, 128 bits) and waits for it. */
  | { readonly kind: 'invalidate-iec'; readonly iommu: number; readonly descriptor: bigint }
  /** HYPOTHETICAL: software writes the unit's DPTA register (src/hypothetical/direct-post/table.ts encodeDpta). */
  | { readonly kind: 'write-dpta'; readonly iommu: number; readonly value: bigint }
  /** HYPOTHETICAL: software submits a direct-post table invalidation (type 0xE, 128 bits; table.ts encodeDptInvalidation) and waits for it. */
  | { readonly kind: 'invalidate-dpt'; readonly iommu: number; readonly descriptor: bigint }
  /** Software writes RTADDR_REG (0x20): root table address and translation table mode (TTM). */
  | { readonly kind: 'write-rtaddr'; readonly iommu: number; readonly value: bigint }
  /** Software submits a DMA-cache invalidation descriptor (context-cache 1, IOTLB 2, PASID-IOTLB 6, PASID-cache 7). */
  | { readonly kind: 'invalidate-dma'; readonly iommu: number; readonly descriptor: bigint }
  /** Software submits an invalidation-wait descriptor (type 5) and waits: with SW, STDATA is written to STADDR. */
  | { readonly kind: 'invalidation-wait'; readonly iommu: number; readonly descriptor: bigint }
  /**
   * Software writes IQT_REG (0x88): the hardware then fetches and processes the descriptors of
   * the invalidation queue from IQH up to the new tail, in order (src/vtd/invalidation-queue.ts).
   * (`invalidate-iec`, `invalidate-dma` and `invalidation-wait` stand for a descriptor the queue
   * processes at once, without the ring.)
   */
  | { readonly kind: 'write-iqt'; readonly iommu: number; readonly value: bigint }
  /**
   * Software writes one of the queue, fault-event, invalidation-event or register-invalidation
   * registers (src/platform/events.ts `RegisterName`): IQA, IQT, FSTS (RW1C), FECTL, FEDATA,
   * FEADDR, FEUADDR, ICS (RW1C), IECTL, IEDATA, IEADDR, IEUADDR, CCMD, IVA, IOTLB. 32-bit
   * registers take the low 32 bits of `value`.
   */
  | { readonly kind: 'write-register'; readonly iommu: number; readonly register: RegisterName; readonly value: bigint }
  /** The hypervisor allocates a root table for unit `iommu` and writes RTADDR (legacy or scalable mode). */
  | { readonly kind: 'dma-root'; readonly iommu: number; readonly scalable: boolean }
  /**
   * The hypervisor builds `device`'s translation: page tables for `mappings` in the mode
   * asked, the context (and PASID) entries, and records the mappings as the domain's DMA intent.
   */
  | {
      readonly kind: 'map-dma';
      readonly iommu: number;
      readonly device: string;
      readonly did: number;
      readonly mode: 'legacy' | 'legacy-pass-through' | 'second-stage' | 'first-stage' | 'nested' | 'pass-through';
      /** Second-stage levels (3/4/5), or first-stage levels in first-stage mode. */
      readonly levels: number;
      /** First-stage levels (4/5) in nested mode. */
      readonly firstStageLevels?: number;
      /**
       * Scalable mode: the PASID whose entry is written (into the device's existing context,
       * PASID directory and PASID table, so its other PASIDs stay). Absent: the PASID serving
       * requests without PASID (the context's RID_PASID, 0 at first).
       */
      readonly pasid?: number;
      /** With `pasid`: make it the context's RID_PASID, so requests without PASID use it too (needs ECAP.RPS unless 0). */
      readonly ridPasid?: boolean;
      /** The hypervisor returns without invalidating (a broken one): P4 counts the change as complete here. */
      readonly skipsInvalidation?: boolean;
      readonly mappings: readonly { readonly iova: bigint; readonly hpa: bigint; readonly gpa?: bigint; readonly size: bigint; readonly read: boolean; readonly write: boolean; readonly structures?: boolean }[];
      /**
       * Which requester IDs get a context entry: `all` (default) the device's own, its DMA
       * aliases and its phantom functions; `own` its BDF only (the XSA-449 class of bug).
       */
      readonly contexts?: 'all' | 'own';
    }
  /**
   * The hypervisor clears the leaf entries mapping [iova, iova + size) of `device` (of PASID
   * `pasid`, else of its requests without PASID) and drops them from that space's intent.
   * `skipsInvalidation`: it returns without invalidating (a broken hypervisor): P4 counts the
   * change as complete here.
   */
  | { readonly kind: 'unmap-dma'; readonly iommu: number; readonly device: string; readonly iova: bigint; readonly size: bigint; readonly pasid?: number; readonly skipsInvalidation?: boolean }
  /** A device DMA read or write of `size` bytes (1..64, within a 4 KiB page) at bus address `address`. */
  | { readonly kind: 'dma'; readonly device: string; readonly rid?: number; readonly pasid?: number; readonly address: bigint; readonly size: number; readonly write: boolean; readonly value?: bigint }
  /** Software clears fault record `record` (writes 1 to its F bit, RW1C) and FSTS.PPF/PFO as needed. */
  | { readonly kind: 'clear-fault'; readonly iommu: number; readonly record: number }
  /**
   * A device writes the dword `data` to bus address `address`. `rid` is the requester
   * ID on the bus (defaults to the device's own; a different one models a bus that
   * does not guarantee requester IDs). In 0xFEEx_xxxx it is an interrupt request.
   */
  | { readonly kind: 'msi-write'; readonly device: string; readonly rid?: number; readonly address: bigint; readonly data: number }
  /** The driver programs the function's MSI capability (fields left out are unchanged). */
  | {
      readonly kind: 'program-msi';
      readonly device: string;
      readonly enabled?: boolean;
      readonly address?: bigint;
      readonly data?: number;
      readonly mme?: number;
      readonly mask?: number;
    }
  /** The driver writes MSI-X table entry `entry` (fields left out are unchanged). */
  | {
      readonly kind: 'program-msix';
      readonly device: string;
      readonly entry: number;
      readonly address?: bigint;
      readonly data?: number;
      readonly masked?: boolean;
    }
  /** The driver writes the MSI-X Message Control enable and function-mask bits. */
  | { readonly kind: 'msix-control'; readonly device: string; readonly enabled?: boolean; readonly functionMask?: boolean }
  /** The function raises its interrupt `vector` (MSI vector number or MSI-X table entry). */
  | { readonly kind: 'signal'; readonly device: string; readonly vector: number }
  /**
   * `device` raises slot `slot` of its IMS store (`devices[].ims`): it sends the pair in the
   * PHYSICAL slot as a DMA write, nothing while the slot is masked (an IMS slot has no pending
   * bit, Linux irq-pci-intel-idxd.c `struct ims_slot`). Refused for a function without one.
   */
  | { readonly kind: 'ims-signal'; readonly device: string; readonly slot: number }
  /** Hypervisor intent: `device` now belongs to domain `domain`; its grants are dropped. */
  | { readonly kind: 'assign-device'; readonly device: string; readonly domain: number }
  /** Hypervisor intent: record a grant. */
  | { readonly kind: 'grant'; readonly grant: Grant }
  /** Hypervisor intent: withdraw the grants of `requester` covering `vector` (a range grant that covers it goes whole; all its grants when omitted). */
  | { readonly kind: 'revoke'; readonly requester: string; readonly vector?: number }
  // --- requests to the hypervisor, answered by its policy module (src/policy) ---
  /** The scheduler runs `vcpu` on `pcpu` (VM entry; a migration when the pCPU changes). */
  | { readonly kind: 'schedule'; readonly vcpu: number; readonly pcpu: number }
  /** The scheduler preempts a running `vcpu`; it stays runnable. */
  | { readonly kind: 'preempt'; readonly vcpu: number }
  /** The running `vcpu` halts (HLT with interrupts enabled) and blocks. */
  | { readonly kind: 'halt'; readonly vcpu: number }
  /**
   * Guest `domain` asks for an interrupt of `device` (a trapped MSI-X write, or the
   * equivalent hypercall): `vector` at its vCPU whose guest APIC ID is `destination`; the
   * hypervisor sets up the physical interrupt (a posted IRTE when the policy posts). A
   * correct policy refuses a device the domain does not own (XSA-237). `domain`
   * defaults to the device's owner.
   */
  | {
      readonly kind: 'guest-msi';
      readonly device: string;
      readonly entry: number;
      readonly destination: number;
      /** The guest's destination mode (DM): a logical destination may name several of its vCPUs. Absent: physical. */
      readonly destinationMode?: 'physical' | 'logical';
      readonly vector: number;
      readonly deliveryMode?: number;
      readonly domain?: number;
      /**
       * IRQ bypass (a VMM design asks, src/vmm): post the request if it reaches one vCPU, and
       * do nothing otherwise — the VMM's own path (irqfd, Xen's pirq) delivers it.
       */
      readonly bypass?: boolean;
      /**
       * With `bypass`: the index of the IRTE the host already set up for the vector on the
       * device's unit, to be rewritten in place as posted (Linux `intel_ir_set_vcpu_affinity`
       * → `modify_irte`; Xen `pi_update_irte`): the physical entry keeps its handle.
       */
      readonly irte?: number;
    }
  /** An interrupt the hypervisor receives on `pcpu` (a notification outside guest mode). */
  | { readonly kind: 'host-interrupt'; readonly pcpu: number; readonly vector: number }
  // --- the VMM layer (src/vmm): requests its design answers ---
  /** The guest accesses a BAR of an assigned function (`size` bytes at `offset`; `value` for a write). */
  | { readonly kind: 'guest-mmio'; readonly device: string; readonly bar: number; readonly offset: number; readonly size: number; readonly write: boolean; readonly value: bigint }
  /** The guest writes configuration space of an assigned function (`size` 1, 2 or 4 bytes at `offset`). */
  | { readonly kind: 'guest-config'; readonly device: string; readonly offset: number; readonly size: number; readonly value: number }
  /** Internal: the guest's view changed as `access` says; the design reacts (traps, device-model round trips, programming). */
  | { readonly kind: 'vmm-react'; readonly access: GuestAccess }
  /** The host took host vector `hostVector` on `pcpu`, which carries `device`'s entry `entry` to the VMM (VFIO eventfd, Xen pirq). */
  | { readonly kind: 'vmm-interrupt'; readonly device: string; readonly entry: number; readonly pcpu: number; readonly hostVector: number }
  /** `device`'s device model (of domain `domain`) does `op`. */
  | { readonly kind: 'device-model'; readonly domain: number; readonly device: string; readonly op: DeviceModelOp }
  /** Guest `domain` makes hypercall `op` about its function `device` (a design without hypercalls refuses it with a note). */
  | { readonly kind: 'hypercall'; readonly domain: number; readonly device: string; readonly op: HypercallOp }
  /**
   * The VMM starts guest `domain` (its vCPUs exist, its functions are assigned): the design's
   * `onStart` sets up what it needs once per VM (the HYPOTHETICAL direct-post design writes its
   * tables); a design without `onStart` answers with a note. Refused for a domain that is not a guest.
   */
  | { readonly kind: 'vmm-start'; readonly domain: number }
  // --- the guest's virtual APIC (hardware virtualisation) ---
  /** The running guest acknowledges its highest-priority pending interrupt (vIRR → vISR). */
  | { readonly kind: 'guest-ack'; readonly vcpu: number }
  /** The guest writes EOI: the highest in-service vector is cleared. */
  | { readonly kind: 'guest-eoi'; readonly vcpu: number }
  // --- the hypervisor's primitive operations (what policies are made of) ---
  /** Atomic update (locked cmpxchg) of a vCPU's PID control fields; omitted fields are kept. */
  | { readonly kind: 'pid-write'; readonly vcpu: number; readonly on?: boolean; readonly sn?: boolean; readonly nv?: number; readonly ndst?: number }
  /** Scheduler bookkeeping: the vCPU's state and pCPU. `running` is a VM entry on that pCPU. */
  | { readonly kind: 'vcpu-set'; readonly vcpu: number; readonly run: VcpuRun; readonly pcpu: number }
  /** Software PIR harvest before VM entry (KVM vmx_sync_pir_to_irr): if ON, clear it and move PIR into vIRR. */
  | { readonly kind: 'sync-pir'; readonly vcpu: number; readonly pcpu: number }
  /** Add `vcpu` to, or remove it from, `pcpu`'s blocked list. */
  | { readonly kind: 'blocked-list'; readonly pcpu: number; readonly vcpu: number; readonly add: boolean }
  /** Mark `vcpu`'s NDST as not yet updated (`stale`), or as updated. */
  | { readonly kind: 'ndst-stale'; readonly vcpu: number; readonly stale: boolean }
  /** The hypervisor takes IRTE `index` of unit `iommu` (its allocator moves past it). */
  | { readonly kind: 'irte-allocated'; readonly iommu: number; readonly index: number }
  /**
   * The hypervisor's software route for host vector `hostVector`: an interrupt of that vector
   * it takes is the guest interrupt `route` names, injected in software (KVM irqfd →
   * kvm_set_msi; Xen vmsi_deliver_pirq). `route` undefined removes it.
   */
  | { readonly kind: 'software-route'; readonly hostVector: number; readonly route: SoftwareRoute | undefined }
  /** Software injection (KVM kvm_apic_set_irq, Xen vmsi_inj_irq): set `vector` in the vCPU's vIRR, on behalf of `device`. */
  | { readonly kind: 'inject-interrupt'; readonly vcpu: number; readonly vector: number; readonly device: string; readonly by?: 'device-model' }
  /** Record what the guest's interrupt request behind IRTE `index` of `iommu` means (P3 judges postings against it). */
  | { readonly kind: 'intend-route'; readonly iommu: number; readonly index: number; readonly route: IntendedRoute }
  // --- the VMM layer's primitive operations (what designs are made of) ---
  /** Set the guest's view of `device`'s MSI-X (done by the VMM layer itself, never by a design). */
  | { readonly kind: 'vmm-guest-view'; readonly device: string; readonly guest: VirtualMsix }
  /** Record the guest's access in the trace (the `guest-access` event P7 reads). */
  | { readonly kind: 'vmm-access'; readonly access: GuestAccess }
  /** Record the VMM's bookkeeping for entry `entry` (replaces it). */
  | { readonly kind: 'vmm-binding'; readonly device: string; readonly entry: number; readonly binding: VectorBinding }
  /** Record what the device model believes about entry `entry`. */
  | { readonly kind: 'vmm-dm-view'; readonly device: string; readonly entry: number; readonly view: DeviceModelView }
  /**
   * The VMM's record of `device`'s IMS slot `slot` (ims-emulated): the guest's view of the store
   * (`guest`, the whole store) and the slot's binding; omitted fields are kept. Refused for a
   * function without a declared IMS store. (The physical slots change by `device-register-write`.)
   */
  | { readonly kind: 'vmm-ims-slot'; readonly device: string; readonly slot: number; readonly guest?: VirtualMsix; readonly binding?: VectorBinding }
  /** Set or clear the emulated pending bit of entry `entry`. */
  | { readonly kind: 'vmm-pending'; readonly device: string; readonly entry: number; readonly pending: boolean }
  /** Host vector `hostVector` now carries `target`'s interrupts to the VMM (undefined: no longer). */
  | { readonly kind: 'vmm-host-vector'; readonly hostVector: number; readonly target: { readonly device: string; readonly entry: number } | undefined }
  /** Add, replace (`route`) or remove (undefined) KVM route `gsi` (KVM_SET_GSI_ROUTING); refused beyond the table's capacity. */
  | { readonly kind: 'kvm-route'; readonly gsi: number; readonly route: KvmMsiRoute | undefined }
  /** Count a cost of the design (`detail` says what, for the trace). */
  | { readonly kind: 'vmm-cost'; readonly cost: VmmCostKind; readonly detail: string }
  /** A line of the design's own narrative in the trace. */
  | { readonly kind: 'vmm-note'; readonly note: string }
  /** A write reaches the function's BAR in hardware (`by` whom): the physical MSI-X table when it lands there. */
  | { readonly kind: 'device-register-write'; readonly device: string; readonly bar: number; readonly offset: number; readonly size: number; readonly value: bigint; readonly by: string }
  /**
   * Host-bridge MSI validation (`platform.msiValidation`): the hypervisor assigns the pair
   * `address`/`data` to `device`'s entry `entry` (replacing the entry's previous pair); the
   * bridge then accepts that pair from the function's partitionable endpoint. A no-op when the
   * platform does not validate.
   */
  | { readonly kind: 'msi-assign'; readonly device: string; readonly entry: number; readonly address: bigint; readonly data: number }
  /** A self-IPI of `vector` on `pcpu` (KVM sends the wakeup vector to itself if ON is already set when blocking). */
  | { readonly kind: 'self-ipi'; readonly pcpu: number; readonly vector: number }
  /**
   * Software writes AMD-Vi MMIO register `register` (a name of src/amdvi/registers.ts AMDVI_MMIO)
   * of unit `iommu` (an index into `PlatformState.amdvi.units`); src/platform/amdvi-handlers.ts.
   */
  | { readonly kind: 'amdvi-write-register'; readonly iommu: number; readonly register: string; readonly value: bigint };

/**
 * A guest access as the VMM layer decoded it (src/vmm/guest-access.ts): its parts per
 * region, the entries whose dwords it wrote, and which vectors it unmasked or masked in the
 * guest's view (with whether the vector was pending when unmasked).
 */
export interface GuestAccess {
  readonly device: string;
  readonly space: 'mmio' | 'config';
  readonly write: boolean;
  readonly bar: number;
  readonly offset: number;
  readonly size: number;
  readonly value: bigint;
  readonly parts: readonly { readonly region: 'table' | 'pba' | 'page' | 'direct' | 'config'; readonly offset: number; readonly size: number; readonly value: bigint }[];
  readonly written: readonly number[];
  readonly unmasked: readonly { readonly entry: number; readonly pending: boolean }[];
  readonly masked: readonly number[];
  /** The guest's view before the access. */
  readonly before: VirtualMsix;
}

export type ActionKind = Action['kind'];
export type ActionOf<K extends ActionKind> = Extract<Action, { kind: K }>;
