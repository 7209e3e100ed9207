/**
 * The attack catalog (specs/attacks/, docs/checking.md): for each attack, an insecure
 * scenario in which `remapsim check` must find a counterexample to `property`, and its
 * secure twin in which every property that applies must hold (P1, P2, P4, P5; P3 only with
 * vCPUs; P6 and P7 with a VMM, `platform.vmm`). Shared by the catalog tests (test/attacks/catalog.test.ts) and the
 * documentation's table.
 */
import { fileURLToPath } from 'node:url';

/** One attack of the catalog. */
export interface CatalogEntry {
  /** File stem: specs/attacks/<id>-insecure.yaml and <id>-secure.yaml. */
  readonly id: string;
  readonly attack: string;
  /** Where the attack comes from (CVE, advisory, paper, spec section). */
  readonly source: string;
  /** The property the insecure scenario's counterexample violates (first reported). */
  readonly property: 'P1' | 'P2' | 'P3' | 'P4' | 'P7';
  /** What the secure twin does that blocks the attack. */
  readonly blockedBy: string;
}

/** Every attack of the catalog, in the order of docs/checking.md. */
export const CATALOG: readonly CatalogEntry[] = [
  { id: 'msi-injection-ir-off', attack: 'MSI injection by a passed-through device with interrupt remapping off', source: 'CVE-2011-1898; Wojtczuk & Rutkowska, "Following the White Rabbit" (2011)', property: 'P1', blockedBy: 'IR on with IRTEs validated by source ID; compatibility format blocked (fault 0x25, EIME=1)' },
  { id: 'cfi-compat-bypass', attack: 'compatibility-format bypass with IR on and CFI set (EIME=0)', source: 'VT-d spec §5.1.2.1, GCMD.CFI; Linux irq_remapping.c "vulnerable to IRQ injection" warning', property: 'P1', blockedBy: 'CFI=0: fault 0x25' },
  { id: 'svt-none', attack: "another device's IRTE handle used without source-ID validation (SVT=0)", source: 'VT-d spec §9.10 (SVT/SQ/SID); Wojtczuk & Rutkowska (2011)', property: 'P1', blockedBy: 'SVT=1, SQ=0, SID = the device: fault 0x26' },
  { id: 'svt-bus-range', attack: 'bus-range source-ID check (SVT=2) covering a device of another domain', source: 'VT-d spec §9.10 (SVT=2)', property: 'P1', blockedBy: 'SVT=1 per function (or a range holding one domain only): fault 0x26' },
  { id: 'foreign-device-irte', attack: 'an IRTE set up for a device the requesting domain does not own', source: 'XSA-237 (x86: multiple MSI mapping issues)', property: 'P1', blockedBy: "ownership check: the IRTE names the domain's own device, fault 0x26" },
  { id: 'foreign-guest-msi', attack: "a guest's interrupt request (trapped MSI-X write) naming another VM's device", source: 'XSA-237; policy kvm-broken-no-owner-check (src/policy/kvm.ts) vs kvm', property: 'P1', blockedBy: 'the policy refuses requests for devices the VM does not own' },
  { id: 'pda-any-vm', attack: "a posted IRTE whose PDA names another VM's vCPU", source: 'policy kvm-broken-pda-any-vm (src/policy/kvm.ts) vs kvm; Linux posted_intr.c', property: 'P1', blockedBy: "the vCPU lookup scoped to the device owner's VM" },
  { id: 'stale-iec', attack: 'an IRTE changed for reassignment without IEC invalidation (stale entry)', source: "XSA-442 (CVE-2023-34326), its interrupt analogue; VT-d §6.5.2.7", property: 'P1', blockedBy: 'index-selective IEC invalidation (and wait) after the rewrite' },
  { id: 'irt-switch-no-iec', attack: 'an IRT switched by SIRTP without a global IEC invalidation on hardware without CAP.ESIRTPS (old-table entries stay cached)', source: 'asterinas/asterinas#3920; VT-d §11.4.2 CAP.ESIRTPS; Linux iommu_set_irq_remapping (qi_global_iec unless cap_esirtps)', property: 'P1', blockedBy: 'a global IEC invalidation (and wait) after SIRTP, unless CAP.ESIRTPS = 1' },
  { id: 'torn-irte', attack: 'a present IRTE rewritten as two 8-byte stores with P set (an interrupt between them uses a mixed entry)', source: 'Xen "VT-d: introduce update_irte to update irte safely" (2017); Linux irq_remapping.c modify_irte (cmpxchg16b); VT-d §6.5.2.7', property: 'P1', blockedBy: 'one 128-bit store (cmpxchg16b) of the whole IRTE, then the IEC invalidation' },
  { id: 'deferred-iotlb', attack: 'deferred IOTLB invalidation after unmap', source: 'Markuze, Morrison, Tsafrir, ASPLOS 2016', property: 'P2', blockedBy: 'strict invalidation: IOTLB page invalidated and waited for at unmap' },
  { id: 'torn-context', attack: 'a present legacy context entry rewritten for reassignment as two 8-byte stores with P set (a DMA between them tags the new tables with the old DID)', source: 'Xen domain_context_mapping_one non-cmpxchg16b path ("updating DID last"); Linux c1e4f1dccbe9 / CVE-2026-45944; VT-d §6.5.3.3', property: 'P2', blockedBy: 'P cleared first, the context cache and IOTLB invalidated, then the rest written (high half, then low half with P)' },
  { id: 'irt-mapped', attack: "a second stage that maps the IRT into a guest's DMA space", source: 'VT-d §3.14; DESIGN.md P2', property: 'P2', blockedBy: "page tables mapping the guest's memory only" },
  { id: 'rid-alias-bridge', attack: 'requester-ID aliasing behind a PCIe-to-PCI bridge whose devices are split between guests', source: 'PCIe-to-PCI/PCI-X Bridge Spec 1.0 §2.3; Linux pci_for_each_dma_alias, pci_device_group; seed thread 003 (partitionable endpoints)', property: 'P1', blockedBy: 'the whole IOMMU group assigned to one domain (VFIO group viability)' },
  { id: 'split-group-policy', attack: 'a hypervisor policy that sets up interrupts for a device whose IOMMU group another guest holds', source: 'Linux drivers/vfio/group.c group viability; policy kvm-broken-split-group (src/policy/kvm.ts) vs kvm', property: 'P1', blockedBy: 'the group viability check: requests for a split group are refused' },
  { id: 'rid-spoof-no-acs-sv', attack: 'requester-ID spoofing below a root port without ACS Source Validation', source: 'PCIe 6.0 §6.12.1.1 (ACS SV); Wojtczuk & Rutkowska (2011)', property: 'P1', blockedBy: 'ACS SV on the root port: the forged request is dropped before the IOMMU' },
  { id: 'p2p-no-acs', attack: "peer-to-peer DMA into another guest's device BAR under a switch without ACS", source: 'PCIe 6.0 §6.12.1.1 (ACS RR/UF); Linux REQ_ACS_FLAGS, pci_device_group', property: 'P2', blockedBy: 'ACS SV/RR/CR/UF on the downstream ports: the request is redirected upstream and translated' },
  { id: 'phantom-functions', attack: "phantom functions left with the device's previous owner when it is reassigned", source: 'XSA-449 / CVE-2023-46839; PCIe 6.0 §7.5.3.3-4 (Phantom Functions)', property: 'P2', blockedBy: "every phantom function's context set up with the device" },
  { id: 'multicast-posting', attack: "a guest's fixed MSI to several of its vCPUs posted into one of them (a posted IRTE has one PDA)", source: 'Linux arch/x86/kvm/vmx/posted_intr.c vmx_pi_update_irte (kvm_intr_is_single_vcpu); policy kvm-broken-post-multicast (src/policy/kvm.ts) vs kvm', property: 'P3', blockedBy: 'the single-vCPU check: the IRTE stays remapped to a host vector and the hypervisor injects the MSI into every vCPU it names' },
  { id: 'lowest-priority-logical', attack: 'a lowest-priority logical IRTE whose destination set spans two domains (the hardware may pick either)', source: 'Intel SDM Vol. 3 §10.6.2.4, §10.11.1; VT-d §5.1.5', property: 'P1', blockedBy: "a logical destination covering only the owner's CPUs" },
  { id: 'pid-mapped', attack: "a second stage that maps a PI descriptor into a guest's DMA space", source: 'VT-d §9.11–9.12; DESIGN.md P2', property: 'P2', blockedBy: "page tables mapping the guest's memory only" },
  { id: 'xsa59-malformed-msi', attack: 'a malformed MSI (a request to 0xFEEx_xxxx that is not a DWORD write) reported as SERR# and delivered as an NMI, past interrupt remapping', source: 'XSA-59 / CVE-2013-3495; VT-d §5.1.4 (interrupt requests are DWORD writes)', property: 'P1', blockedBy: 'Unsupported Request signalling masked at the root complex (Xen pci_vtd_quirk): the request is aborted without a system error' },
  { id: 'kvm-lazy-routes', attack: "KVM MSI routes created lazily at a vector's first interrupt: with the routing table full the interrupt is dropped (no KVM_SIGNAL_MSI fallback)", source: 'seed thread 002 (Kiszka/Tsirkin 2011, "we could run out of them when creating routes, statically or lazily"); QEMU kvm_irqchip_add_msi_route (-ENOSPC), KVM_MAX_IRQ_ROUTES; VMM qemu-kvm-broken-lazy-routes vs qemu-kvm', property: 'P7', blockedBy: 'routes set up at unmask (vfio_msix_vector_use); a vector left without a GSI is sent from QEMU with KVM_SIGNAL_MSI' },
  { id: 'xen-mask-unobservable', attack: "a guest's mask → rewrite → unmask of an MSI-X entry whose mask the device model never sees: the old message stays bound", source: 'seed thread 004 ("Currently Xen sends only clearing that bit to the device model, but not setting it, so QEMU cannot detect it"); Xen 2023 "x86/msi: passthrough all MSI-X vector ctrl writes to device model"; VMM xen-broken-mask-unobservable vs xen', property: 'P7', blockedBy: 'every Vector Control write passed to the device model (XENFEAT_dm_msix_all_writes): QEMU binds the new message at the unmask' },
  { id: 'xen-mask-handling', attack: 'MASK_HANDLING set on one vector of a device and not the others, accepted and assumed for all: a vector bound without it is masked by nobody', source: 'seed thread 004 ("I would just return -EINVAL if the flag is not consistent across vectors on the same device"); Xen pt_irq_create_bind; VMM xen-broken-mask-handling-inconsistent vs xen', property: 'P7', blockedBy: "XEN_DOMCTL_bind_pt_irq returns -EINVAL for a flag inconsistent across the device's vectors; Xen keeps masking them" },
  { id: 'xen-dm-page-write', attack: "a compromised device model (stubdomain) with write access to the MSI-X page rewrites the physical table: with IR off, an interrupt into another domain's CPU", source: 'seed thread 004 ("QEMU can\'t be trusted with properly filtering them (and otherwise given full write access to the page)"; "page mapped R/O to it"); Xen mmio_ro_ranges; VMM xen-broken-dm-page-write vs xen', property: 'P1', blockedBy: 'the MSI-X pages read-only to the device model (its write faults); only Xen programs the physical table' },
];

/** Absolute path of an entry's insecure or secure scenario. */
export function catalogFile(entry: CatalogEntry, which: 'insecure' | 'secure'): string {
  return fileURLToPath(new URL(`../../specs/attacks/${entry.id}-${which}.yaml`, import.meta.url));
}
