/**
 * The interrupt addressing schemes a guest can use to name a vCPU in an MSI, and the ways a
 * hypervisor delivers the result to the vCPU. Each scheme says how the explorer simulates it
 * (src/explorer/guest-layer.ts) and what it needs from the platform, the hypervisor and the
 * guest (printed in docs/explorer.md).
 *
 * Sources: reference sheet §1 (compatibility format, 15-bit extended destination ID, the
 * 255 limit, x2APIC logical IDs), §2–§3 (remappable format, IRTE), §6 (posting), §8.8
 * (nested walks); the seed mail 000 (D. Woodhouse, "vfio/pci: Create feature to disable MSI
 * virtualization", 2024-08) for the hypothetical direct scheme.
 */

/** Identifiers, in the order the explorer reports them. */
export const SCHEME_IDS = [
  'xapic-physical',
  'xapic-logical-flat',
  'xapic-logical-cluster',
  'x2apic-compat',
  'ext-dest-id',
  'viommu-ir',
  'viommu-ir-dma',
  'direct-vcpu-msi',
] as const;

/** One of {@link SCHEME_IDS}. */
export type SchemeId = (typeof SCHEME_IDS)[number];

/**
 * How the hypervisor turns the guest's interrupt into a vCPU interrupt for an assigned
 * device: `remapped` = a host IRTE (IM=0) to the pCPU the vCPU runs on, then the hypervisor
 * injects; `posted` = a host posted IRTE (IM=1) into the vCPU's PID; `direct` = the
 * hypothetical direct-post IOMMU's posting with no per-MSI hypervisor work (simulated with
 * that model: src/explorer/host-layer.ts).
 */
export type Delivery = 'remapped' | 'posted' | 'direct';

/** A scheme's description: how it addresses, how it is simulated, what it needs, where the facts come from. */
export interface SchemeInfo {
  readonly id: SchemeId;
  /** Short label for tables and plot legends. */
  readonly label: string;
  readonly title: string;
  /** True for a scheme no hardware or hypervisor implements (clearly labelled everywhere). */
  readonly hypothetical: boolean;
  /**
   * False when the simulator cannot model the scheme's delivery, so no vCPU is counted as
   * reachable (`whyNotSimulated` says what is missing).
   */
  readonly simulated: boolean;
  readonly whyNotSimulated?: string;
  /** Width of the destination field the guest writes, in bits. */
  readonly destinationBits: number;
  readonly deliveries: readonly Delivery[];
  /** Whether the hypervisor traps the device's MSI-X table writes for this scheme. */
  readonly trapsMsix: boolean;
  /** Whether the guest sees a DMA-remapping (nested) IOMMU. */
  readonly exposesDmaRemapping: boolean;
  readonly needs: { readonly platform: string; readonly hypervisor: string; readonly guest: string };
  readonly sources: readonly string[];
}

const BOTH: readonly Delivery[] = ['remapped', 'posted'];

/** Every scheme, by id. */
export const SCHEMES: Readonly<Record<SchemeId, SchemeInfo>> = {
  'xapic-physical': {
    id: 'xapic-physical',
    label: 'xAPIC physical',
    title: 'xAPIC physical destination (8-bit, 0xFF = broadcast)',
    hypothetical: false,
    simulated: true,
    destinationBits: 8,
    deliveries: BOTH,
    trapsMsix: true,
    exposesDmaRemapping: false,
    needs: {
      platform: 'nothing beyond an xAPIC',
      hypervisor: 'an emulated xAPIC; for assigned devices, an MSI-X trap that turns the message into a host IRTE',
      guest: 'physical destination mode; APIC IDs 0..254 (Linux physflat: max_apic_id 0xFE)',
    },
    sources: ['sheet §1.1, §1.4', 'torvalds/linux: arch/x86/kernel/apic/apic_flat_64.c (apic_physflat, max_apic_id = 0xFE)', 'torvalds/linux: arch/x86/kvm/lapic.c (kvm_apic_mda: 0xFF is broadcast)'],
  },
  'xapic-logical-flat': {
    id: 'xapic-logical-flat',
    label: 'xAPIC logical flat',
    title: 'xAPIC logical, flat model (8-bit bitmask, LDR = 1 << APIC ID)',
    hypothetical: false,
    simulated: true,
    destinationBits: 8,
    deliveries: BOTH,
    trapsMsix: true,
    exposesDmaRemapping: false,
    needs: {
      platform: 'nothing beyond an xAPIC',
      hypervisor: 'an emulated xAPIC with the flat DFR model',
      guest: 'logical destination mode with one LDR bit per CPU: at most 8 CPUs',
    },
    sources: ['Intel SDM Vol. 3 §11.6.2.2 (flat model)', 'src/x86/apic.ts (flat LDR model)'],
  },
  'xapic-logical-cluster': {
    id: 'xapic-logical-cluster',
    label: 'xAPIC logical cluster',
    title: 'xAPIC logical, cluster model (4-bit cluster, 4-bit member mask)',
    hypothetical: false,
    simulated: true,
    destinationBits: 8,
    deliveries: BOTH,
    trapsMsix: true,
    exposesDmaRemapping: false,
    needs: {
      platform: 'an xAPIC with cluster DFR (hierarchical clusters need cluster managers)',
      hypervisor: 'an emulated xAPIC with the cluster DFR model',
      guest: 'cluster-mode logical destinations (no current x86-64 Linux driver uses it)',
    },
    sources: ['Intel SDM Vol. 3 §11.6.2.2 (cluster model)', 'src/x86/apic.ts (cluster = APIC ID / 4, member = APIC ID mod 4: 15 clusters × 4 = 60 CPUs)'],
  },
  'x2apic-compat': {
    id: 'x2apic-compat',
    label: 'x2APIC, no IR',
    title: 'x2APIC without interrupt remapping (compatibility-format MSI, 8-bit destination)',
    hypothetical: false,
    simulated: true,
    destinationBits: 8,
    deliveries: BOTH,
    trapsMsix: true,
    exposesDmaRemapping: false,
    needs: {
      platform: 'x2APIC (virtual only: not architecturally supported on bare metal without IR)',
      hypervisor: 'x2APIC emulation; KVM_X2APIC_API with the 0xFF broadcast quirk disabled, as the simulator models it',
      guest: 'x2APIC in physical mode, APIC IDs up to 255 (Linux x2apic_set_max_apicid(255))',
    },
    sources: ['sheet §1.4', 'torvalds/linux: arch/x86/kernel/apic/apic.c (try_to_enable_x2apic, apic_limit = 255)'],
  },
  'ext-dest-id': {
    id: 'ext-dest-id',
    label: '15-bit ext dest ID',
    title: '15-bit extended destination ID (address bits 11:5 = APIC ID 14:8)',
    hypothetical: false,
    simulated: true,
    destinationBits: 15,
    deliveries: BOTH,
    trapsMsix: true,
    exposesDmaRemapping: false,
    needs: {
      platform: 'nothing: it is a paravirtual convention, never used on bare metal',
      hypervisor: 'advertise it (KVM_FEATURE_MSI_EXT_DEST_ID, Xen XEN_HVM_CPUID_EXT_DEST_ID, Hyper-V EXTENDED_IOAPIC_RTE) and decode bits 11:5 of trapped MSIs',
      guest: 'use the bits when advertised (Linux since 5.10): APIC IDs up to 32767',
    },
    sources: ['sheet §1.3', 'torvalds/linux: arch/x86/kernel/apic/apic.c (virt_destid_8_14, apic_limit = 32767)', 'torvalds/linux: arch/x86/include/uapi/asm/kvm_para.h (KVM_FEATURE_MSI_EXT_DEST_ID = 15)'],
  },
  'viommu-ir': {
    id: 'viommu-ir',
    label: 'vIOMMU IR (EIM)',
    title: 'virtual VT-d with interrupt remapping and EIM, no DMA translation exposed (32-bit IRTE destination)',
    hypothetical: false,
    simulated: true,
    destinationBits: 32,
    deliveries: BOTH,
    trapsMsix: true,
    exposesDmaRemapping: false,
    needs: {
      platform: 'nothing for the guest; the host needs IR itself to deliver to pCPUs above 255',
      hypervisor: 'an emulated VT-d unit (QEMU intel-iommu,intremap=on,eim=on with a split irqchip) that traps IEC invalidations and re-derives host routes',
      guest: 'a VT-d IR driver with x2APIC/EIM (Linux intel_irq_remapping)',
    },
    sources: ['sheet §2, §3.1, §4.2', 'torvalds/linux: drivers/iommu/intel/irq_remapping.c (IRTE_DEST, IR_X2APIC_MODE)'],
  },
  'viommu-ir-dma': {
    id: 'viommu-ir-dma',
    label: 'vIOMMU IR+DMA',
    title: 'virtual VT-d with interrupt remapping, EIM and DMA remapping (nested second stage)',
    hypothetical: false,
    simulated: true,
    destinationBits: 32,
    deliveries: BOTH,
    trapsMsix: true,
    exposesDmaRemapping: true,
    needs: {
      platform: 'nested translation (ECAP.NEST / scalable mode PGTT=011) or a hypervisor that shadows the guest tables',
      hypervisor: 'as vIOMMU IR, plus guest page-table binding (nested) or shadowing with trapped IOTLB invalidations (caching mode)',
      guest: 'a VT-d driver with DMA remapping on (the guest pays the nested walk on IOTLB misses)',
    },
    sources: ['sheet §8.8 ((n+1)(m+1)-1 references)', 'src/vtd/dma/walk.ts (translateDma)', 'seed 000: "2-stage translations and/or massive overhead"'],
  },
  'direct-vcpu-msi': {
    id: 'direct-vcpu-msi',
    label: 'HYPOTHETICAL direct',
    title: 'HYPOTHETICAL: direct-post IOMMU — a standard MSI naming the guest APIC ID + vector, looked up by <source-id, vAPIC ID> and posted by default (seed 000)',
    hypothetical: true,
    simulated: true,
    destinationBits: 15,
    deliveries: ['direct'],
    trapsMsix: false,
    exposesDmaRemapping: false,
    needs: {
      platform: 'the hypothetical direct-post IOMMU (src/hypothetical/direct-post: DPTA, a root entry per source ID, a vAPIC table per VM naming each vCPU\'s PID); no such hardware exists',
      hypervisor: 'the direct-post VMM design (src/vmm/designs/direct-post.ts): write each VM\'s root entries and vAPIC table once at vmm-start; no per-MSI trap, exit or IRTE',
      guest: 'writes standard compatibility-format MSIs naming its own APIC IDs (15-bit extended destination ID, physical mode), unmodified',
    },
    sources: [
      'seed 000 (D. Woodhouse, 2024-08-13: "the IOMMU receives a <source-id, vCPU APIC ID, vector> tuple")',
      'src/hypothetical/direct-post/table.ts (remapsim\'s hypothetical formats), src/vmm/designs/direct-post.ts, docs/vmm.md "direct-post (hypothetical)"',
    ],
  },
};

/** Scheme by id. @throws RangeError for an unknown id. */
export function schemeInfo(id: SchemeId): SchemeInfo {
  const s = SCHEMES[id];
  if (s === undefined) throw new RangeError(`unknown scheme '${String(id)}'`);
  return s;
}
