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

/**
 * The AMD-Vi schemes (`remapsim explore --vendor amd|both`): a guest given a virtual AMD IOMMU
 * (QEMU `amd-iommu`), with legacy 32-bit IRTEs (8-bit destination) or with XT (128-bit IRTEs,
 * 32-bit destination), with or without DMA remapping; on a host whose own AMD-Vi unit remaps
 * (128-bit IRTE, XTEn) or posts through AVIC / x2AVIC (GA mode). Simulated by
 * src/explorer/amd-guest-layer.ts and src/explorer/amd-host-layer.ts.
 */
export const AMD_SCHEME_IDS = ['amd-viommu-xapic', 'amd-viommu-xt', 'amd-viommu-xt-dma'] as const;

/** Every scheme id, Intel's first. */
export const ALL_SCHEME_IDS = [...SCHEME_IDS, ...AMD_SCHEME_IDS] as const;

/** One of {@link ALL_SCHEME_IDS}. */
export type SchemeId = (typeof ALL_SCHEME_IDS)[number];

/** Which vendor's schemes `explore` reports (`--vendor`, default `intel`). */
export type ExploreVendor = 'intel' | 'amd' | 'both';

/** The schemes of `vendor`, in report order. */
export function schemesOfVendor(vendor: ExploreVendor): readonly SchemeId[] {
  return vendor === 'intel' ? SCHEME_IDS : vendor === 'amd' ? AMD_SCHEME_IDS : ALL_SCHEME_IDS;
}

/**
 * How the hypervisor turns the guest's interrupt into a vCPU interrupt for an assigned
 * device: `remapped` = a host IRTE (IM=0) to the pCPU the vCPU runs on, then the hypervisor
 * injects; `posted` = a host posted IRTE (IM=1) into the vCPU's PID; `direct` = the
 * hypothetical direct-post IOMMU's posting with no per-MSI hypervisor work (simulated with
 * that model: src/explorer/host-layer.ts). On an AMD host (src/explorer/amd-host-layer.ts):
 * `remapped` = a host 128-bit IRTE (GuestMode = 0, Control.XTEn) to the pCPU; `avic` / `x2avic`
 * = a host GA-mode IRTE (GuestMode = 1, IsRun = 1) naming the vCPU's vAPIC backing page, the
 * doorbell to its pCPU — AVIC (a host without x2AVIC) for an xAPIC guest, x2AVIC for an x2APIC
 * guest (KVM's physical APIC ID table limits: 0xFE and 0x1FF).
 */
export type Delivery = 'remapped' | 'posted' | 'direct' | 'avic' | 'x2avic';

/** A scheme's description: how it addresses, how it is simulated, what it needs, where the facts come from. */
export interface SchemeInfo {
  readonly id: SchemeId;
  /** Short label for tables and plot legends. */
  readonly label: string;
  readonly title: string;
  /** True for a scheme no hardware or hypervisor implements (clearly labelled everywhere). */
  readonly hypothetical: boolean;
  /** `amd` for the AMD-Vi schemes (their host side is an AMD-Vi host); absent for Intel's. */
  readonly vendor?: 'amd';
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
    title: 'HYPOTHETICAL: direct-post IOMMU — a standard MSI naming the guest APIC ID + vector, looked up by <source-id, vAPIC ID> and posted by default (seed thread 000, docs/threads/)',
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
  ...AMD_SCHEMES(),
};

/** Scheme by id. @throws RangeError for an unknown id. */
export function schemeInfo(id: SchemeId): SchemeInfo {
  const s = SCHEMES[id];
  if (s === undefined) throw new RangeError(`unknown scheme '${String(id)}'`);
  return s;
}

/**
 * The AMD-Vi schemes. Sources: AMD I/O Virtualization Technology spec 48882 §2.2.5 (IRTE
 * formats), fact sheet amdvi-facts.md §4 (index = MSI data[10:0], 512-entry tables, GAEn → 128-bit
 * IRTE, XTEn → Destination[31:24] in bits 127:120), §8 (QEMU `amd-iommu` options `xtsup`,
 * `dma-remap`); Linux drivers/iommu/amd/iommu.c (`irq_remapping_prepare`, `fill_msi_msg`,
 * `iommu_flush_irt_and_complete`) and arch/x86/kernel/apic/apic.c (`try_to_enable_x2apic`: without
 * x2APIC-mode IR the APIC ID limit is 255); KVM arch/x86/kvm/svm/avic.c and
 * arch/x86/include/asm/svm.h (AVIC_MAX_PHYSICAL_ID 0xFE, X2AVIC_MAX_PHYSICAL_ID 0x1FF).
 */
function AMD_SCHEMES(): Record<(typeof AMD_SCHEME_IDS)[number], SchemeInfo> {
  const deliveriesXapic: readonly Delivery[] = ['remapped', 'avic'];
  const deliveriesX2apic: readonly Delivery[] = ['remapped', 'x2avic'];
  const host = 'on the host: an AMD-Vi unit with GAEn + XTEn (128-bit IRTEs, 32-bit destinations) for its own pCPUs above 255; GA_vAPIC (EFR bit 21) and GAMEn = 001 for AVIC posting';
  return {
    'amd-viommu-xapic': {
      id: 'amd-viommu-xapic',
      vendor: 'amd',
      label: 'AMD vIOMMU xAPIC',
      title: 'virtual AMD-Vi, guest in xAPIC mode: legacy 32-bit IRTE (8-bit destination; QEMU amd-iommu without xtsup, Linux amd_iommu_intr=legacy)',
      hypothetical: false,
      simulated: true,
      destinationBits: 8,
      deliveries: deliveriesXapic,
      trapsMsix: true,
      exposesDmaRemapping: false,
      needs: {
        platform: host,
        hypervisor: 'an emulated AMD IOMMU (QEMU -device amd-iommu,intremap=on with a split irqchip) that traps command-buffer tail writes and re-derives host routes on INVALIDATE_INTERRUPT_TABLE',
        guest: 'the Linux amd_iommu IR driver in legacy mode (amd_iommu_intr=legacy: GAEn = 0): IRTE Destination 15:8, APIC IDs up to 254 (0xFF is the xAPIC broadcast). Without xtsup Linux would use 128-bit IRTEs without vAPIC (QEMU advertises GASup, not GA_vAPIC) but stays in xAPIC mode, so the reach is the same',
      },
      sources: ['spec 48882 §2.2.5 (32-bit IRTE)', 'amdvi-facts.md §4.1-§4.2', 'torvalds/linux: drivers/iommu/amd/iommu.c (irte_prepare, fill_msi_msg)'],
    },
    'amd-viommu-xt': {
      id: 'amd-viommu-xt',
      vendor: 'amd',
      label: 'AMD vIOMMU XT',
      title: 'virtual AMD-Vi with XT: IntCapXTEn/XTEn and the 128-bit IRTE (32-bit destination; QEMU amd-iommu,xtsup=on), no DMA remapping exposed',
      hypothetical: false,
      simulated: true,
      destinationBits: 32,
      deliveries: deliveriesX2apic,
      trapsMsix: true,
      exposesDmaRemapping: false,
      needs: {
        platform: host,
        hypervisor: 'QEMU -device amd-iommu,intremap=on,xtsup=on (EFR.XTSup; KVM needs it for APIC IDs above 255) with a split irqchip, trapping command-buffer tail writes',
        guest: 'the Linux amd_iommu IR driver with XT (iommu_enable_ga + iommu_enable_xt: GAEn, XTEn, IntCapXTEn), x2APIC physical mode',
      },
      sources: ['spec 48882 §2.2.5 (128-bit IRTE)', 'amdvi-facts.md §4.2, §8 (xtsup)', 'torvalds/linux: drivers/iommu/amd/init.c (iommu_enable_xt)', 'qemu/qemu: hw/i386/amd_iommu.c (amdvi_get_irte_ga, xtsup)'],
    },
    'amd-viommu-xt-dma': {
      id: 'amd-viommu-xt-dma',
      vendor: 'amd',
      label: 'AMD vIOMMU XT+DMA',
      title: 'virtual AMD-Vi with XT and DMA remapping for the assigned device (QEMU amd-iommu,xtsup=on,dma-remap=on: shadowed v1 tables)',
      hypothetical: false,
      simulated: true,
      destinationBits: 32,
      deliveries: deliveriesX2apic,
      trapsMsix: true,
      exposesDmaRemapping: true,
      needs: {
        platform: host,
        hypervisor: 'as AMD vIOMMU XT, plus dma-remap=on: QEMU shadows the guest\'s v1 tables into the host IOMMU (VFIO MAP/UNMAP), resynced on trapped INVALIDATE_DEVTAB_ENTRY / INVALIDATE_IOMMU_PAGES / INVALIDATE_IOMMU_ALL',
        guest: 'the Linux amd_iommu driver with DMA translation on (a v1 page table per domain)',
      },
      sources: ['amdvi-facts.md §8 (dma-remap: shadow page tables / MAP notifiers)', 'qemu/qemu: hw/i386/amd_iommu.c (amdvi_update_addr_translation_mode)', 'src/amdvi/dma/walk.ts (walkAmdV1)'],
    },
  };
}
