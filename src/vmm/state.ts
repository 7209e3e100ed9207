/**
 * What the VMM layer holds (src/vmm): per assigned function the guest's view of its MSI-X
 * (src/vmm/virtual-msix.ts) and the VMM's bookkeeping per vector, the host vectors whose
 * interrupts the VMM takes (VFIO's eventfd, Xen's pirq), KVM's GSI routing table, and who
 * runs each guest's device model.
 */
import type { VirtualMsix } from './virtual-msix.ts';

/** A guest MSI message in KVM's routing table (`struct kvm_irq_routing_msi`: address_lo/hi, data). */
export interface KvmMsiRoute {
  readonly address: bigint;
  readonly data: number;
  /** The assigned function and entry the route was made for (QEMU's `VFIOMSIVector`), for the trace. */
  readonly device: string;
  readonly entry: number;
}

/**
 * KVM's GSI routing table (virt/kvm/irqchip.c `kvm_set_irq_routing`): `capacity` routes at
 * most (KVM_MAX_IRQ_ROUTES = 4096 on x86; QEMU's `kvm_irqchip_get_virq` fails with -ENOSPC
 * when no GSI is free). GSIs below `firstMsiGsi` are the irqchip's pins (24 IOAPIC pins).
 */
export interface KvmRoutingTable {
  readonly capacity: number;
  readonly firstMsiGsi: number;
  readonly routes: Readonly<Record<number, KvmMsiRoute>>;
  /** How many routes `routes` holds, kept by the `kvm-route` primitive so that a change costs no count of the table. */
  readonly used: number;
}

/** The VMM's bookkeeping for one vector of an assigned function. */
export interface VectorBinding {
  /** Host vector whose remapped IRTE delivers the physical entry to the host (VFIO's handler, Xen's pirq); absent before setup. */
  readonly hostVector?: number;
  /** The pCPU the host IRQ is affine to (the IRTE's destination). */
  readonly hostPcpu?: number;
  /** The IRTE the host set up for it (unit, index). */
  readonly irte?: { readonly iommu: number; readonly index: number };
  /** KVM GSI of its route (qemu-kvm); absent: delivered from userspace (KVM_SIGNAL_MSI). */
  readonly gsi?: number;
  /** The guest message the host currently delivers for the vector (what it last bound or routed). */
  readonly bound?: { readonly address: bigint; readonly data: number };
  /** Whether the IRTE is posted into a vCPU (IRQ bypass / Xen pi_update_irte). */
  readonly posted?: boolean;
  /** Xen: the XEN_DOMCTL_VMSI_X86_MASK_HANDLING flag it was bound with. */
  readonly maskHandling?: boolean;
}

/** What the device model believes about one vector (its shadow of the guest's writes it was shown). */
export interface DeviceModelView {
  readonly masked: boolean;
  readonly address: bigint;
  readonly data: number;
  /** Address or data changed since the vector was last bound: rebind at the next unmask. */
  readonly dirty: boolean;
}

/** One assigned function as the VMM handles it. */
export interface VmmDevice {
  /** The guest domain it is assigned to. */
  readonly domain: number;
  /** The guest's view (what it wrote; what it reads back from the table). */
  readonly guest: VirtualMsix;
  /** Pending bits the VMM emulates (bit k = entry k), for designs that emulate the PBA (QEMU). */
  readonly pending: bigint;
  readonly vectors: readonly VectorBinding[];
  /** The device model's view, one per entry. */
  readonly deviceModel: readonly DeviceModelView[];
  /** The function's IMS store when the scenario declares one (`devices[].ims`); only the `ims-emulated` designs trap it. */
  readonly ims?: VmmIms;
}

/**
 * Where a function's Interrupt Message Store is: `slots` × 16 bytes from byte `offset` of BAR
 * `bar`, each slot in the MSI-X entry format (Message Address low/high, Data, Vector Control
 * bit 0 = Mask), as IDXD's IMS (Linux drivers/irqchip/irq-pci-intel-idxd.c `struct ims_slot`:
 * address_lo, address_hi, data, ctrl; CTRL_VECTOR_MASKBIT = bit 0). Device-specific: no PCI
 * capability describes it, so a VMM knows it only from a per-device quirk.
 */
export interface ImsLayout {
  readonly bar: number;
  readonly offset: number;
  readonly slots: number;
}

/** One PHYSICAL IMS slot as the device holds it (changed by `device-register-write`, whoever writes; sent by `ims-signal`). */
export interface ImsPhysicalSlot {
  readonly address: bigint;
  readonly data: number;
  readonly masked: boolean;
}

/**
 * The VMM's side of an IMS store (`ims-emulated`): the guest's view of the slots (a
 * VirtualMsix whose "table" is the store: always enabled, no Function Mask, so
 * `guestMasked` is the slot's own Mask bit), the VMM's binding per slot (host vector, IRTE,
 * GSI, posting) — and the device's own physical slots (hardware state kept here with the
 * store's layout: every `device-register-write` into the store lands there, the guest's under
 * an untrapping design, the quirk's under ims-emulated).
 */
export interface VmmIms {
  readonly layout: ImsLayout;
  readonly guest: VirtualMsix;
  readonly vectors: readonly VectorBinding[];
  readonly physical: readonly ImsPhysicalSlot[];
}

/** The VMM layer's state: present when the scenario chooses a design (`platform.vmm`). */
export interface VmmState {
  /** Name of the design (src/vmm/designs). */
  readonly design: string;
  readonly devices: Readonly<Record<string, VmmDevice>>;
  /** Host vector → the assigned function's entry whose interrupts it carries to the VMM. */
  readonly hostVectors: Readonly<Record<number, { readonly device: string; readonly entry: number }>>;
  readonly kvm: KvmRoutingTable;
  /** Where each guest's device model runs: `dom0` (trusted) or `stubdomain` (the guest's own: untrusted). By domain id; absent: dom0. */
  readonly deviceModels: Readonly<Record<number, 'dom0' | 'stubdomain'>>;
}

/** KVM_MAX_IRQ_ROUTES on x86 (include/linux/kvm_host.h). */
export const KVM_MAX_IRQ_ROUTES = 4096;
/** GSIs of the in-kernel IOAPIC's pins, below the first MSI route QEMU allocates (KVM_IRQCHIP_NUM_PINS = 24). */
export const KVM_IOAPIC_PINS = 24;
