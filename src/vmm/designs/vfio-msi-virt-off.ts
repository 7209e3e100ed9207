/**
 * `vfio-msi-virt-off`: QEMU + KVM + vfio-pci with vfio-pci's proposed device feature that
 * disables MSI virtualization — seed thread 000, "[PATCH RFC/RFT] vfio/pci: Create feature to
 * disable MSI virtualization" (Alex Williamson, 12 Aug 2024, Message-ID
 * 20240812170014.1583783-1-alex.williamson@redhat.com; drivers/vfio/pci/vfio_pci_config.c,
 * vfio_pci_core.c, include/uapi/linux/vfio.h; not merged). The patch: "vfio-pci has always
 * virtualized the MSI address and data registers as MSI programming is performed through
 * the SET_IRQS ioctl … One such case where the virtualization is a hinderance is when the
 * device contains an onboard interrupt controller programmed by the guest driver … This
 * introduces a device feature which allows the userspace driver to disable virtualization
 * of the MSI capability address and data registers in order to provide read-only access the
 * the physical values." Jason Gunthorpe and Thomas Gleixner object in the thread (the ath11k
 * driver should get an irq_chip / device interrupt domain instead, "Not hackily read the
 * MSI-X registers and write them someplace else"); David Woodhouse: "MSIs are just DMA".
 *
 * The model (issue 12 item 2): the guest reads — never writes — the physical MSI-X address
 * and data. The RFC hands them to the userspace driver (QEMU), which then "quirks" the
 * guest's programming of the onboard controller by "injecting the host physical MSI
 * information"; either way the device ends up sending the host's pair at the driver's
 * bidding, so the model lets the guest read it directly (QEMU passing the read through) and
 * extends the RFC's MSI capability registers to the MSI-X table entries, as the issue asks:
 *
 * - **Setup is qemu-kvm's** (./qemu-kvm.ts): the same traps, emulated mask bits, host IRQs
 *   (src/vmm/host-irq.ts), KVM routes, irqfds and IRQ bypass, the same device model and PBA.
 *   Every reaction of `qemuKvm` is reused as it is.
 * - **Table reads return the physical entry.** A guest read of a table entry's Message
 *   Address, Upper Address or Data returns what the host programmed into the physical entry
 *   (`state.devices[d].msix.table`): with interrupt remapping on the remappable handle of the
 *   host's IRTE (vfio-pci keeps it when IRQ bypass posts, `modify_irte` rewrites the IRTE in
 *   place), with IR off the compatibility-format message naming the host vector and the pCPU
 *   (Linux `irq_msi_compose_msg`); 0 for an entry the host has not set up. Vector Control
 *   stays virtual (QEMU emulates the Mask bit; the RFC exposes address and data only). The
 *   read costs QEMU a pread of the physical entry on the VFIO device fd.
 * - **Writes are still trapped and virtualized** exactly as in qemu-kvm ("read-only access"):
 *   the guest's view keeps what it wrote, KVM routes its message, and vfio-pci's region still
 *   drops a device model's writes to the table (`vfio_pci_core_bar_rw`).
 * - **The onboard interrupt controller** is device registers outside the MSI-X structures:
 *   the driver writes the pair it read into a `direct` BAR region (mapped, never trapped: a
 *   `device-register-write` by the guest, as in qemu-kvm), and the device then raises its
 *   interrupts as DMA writes of exactly that pair (the scenario's `msi` step, the platform's
 *   `msi-write`). What such a write reaches is decided by the hardware alone: with IR on and
 *   the host's IRTE validating the source (SVT=1, SID = the function) the handle reaches only
 *   that IRTE's host vector or posting — the guest's own grant — and any other function
 *   using it faults (0x26); with IR off, or an IRTE without source validation, the pair is a
 *   template for interrupts nobody granted (P1).
 *
 * Seam note: the VMM layer decodes a guest access before the design sees it
 * (src/vmm/guest-access.ts), so the `guest-access` trace line shows the bytes of the guest's
 * view; this design's `vmm` line that follows gives the bytes vfio-pci returns instead
 * ({@link physicalTableRead}, exported so that the decode can take them from the design).
 */
import type { Action, ActionOf, GuestAccess } from '../../platform/actions.ts';
import type { PlatformState } from '../../platform/state.ts';
import type { VmmDesign } from '../design.ts';
import { decodeMsi } from '../../vtd/remappable-msi.ts';
import { hexDigits } from '../../bits/bits.ts';
import { MSIX_ENTRY_BYTES, isDefinedAccess } from '../virtual-msix.ts';
import { qemuKvm } from './qemu-kvm.ts';
import { cost, hex, note } from './kvm-irq.ts';

/** Dword `field` (0 Message Address, 1 Upper Address, 2 Data, 3 Vector Control) of `device`'s entry `k` as a read returns it: the physical entry's address/data, the guest's Vector Control. */
function readDword(state: PlatformState, device: string, k: number, field: number): number {
  const guest = state.vmm?.devices[device]?.guest.table[k];
  if (field === 3) return (guest?.control ?? 1) >>> 0;
  const e = state.devices[device]?.msix?.table[k];
  if (e === undefined) return 0;
  if (field === 0) return Number(e.address & 0xffff_fffcn) >>> 0;
  if (field === 1) return Number((e.address >> 32n) & 0xffff_ffffn) >>> 0;
  return e.data >>> 0;
}

/**
 * The bytes a guest read of `size` bytes at BAR offset `offset` of `device`'s MSI-X table
 * returns with MSI virtualization disabled: per dword the physical entry's Message Address,
 * Upper Address and Data (what the host programmed) and the guest's own Vector Control.
 * An access the spec does not define (not an aligned DWORD/QWORD) reads all ones, as in the
 * guest's view (src/vmm/virtual-msix.ts `readTable`); bytes past the table read 0.
 * @param offset byte offset in the table's BAR (inside the table)
 * @param size 1..8 bytes
 * @returns the little-endian value, `size` bytes wide
 */
export function physicalTableRead(state: PlatformState, device: string, offset: number, size: number): bigint {
  if (!isDefinedAccess(offset, size)) return (1n << BigInt(8 * size)) - 1n;
  const layout = state.vmm?.devices[device]?.guest.layout;
  if (layout === undefined) return 0n;
  let out = 0n;
  for (let d = 0; d < size / 4; d++) {
    const at = offset + 4 * d - layout.tableOffset;
    const k = Math.floor(at / MSIX_ENTRY_BYTES);
    const dword = k < layout.entries ? readDword(state, device, k, (at % MSIX_ENTRY_BYTES) / 4) : 0;
    out |= BigInt(dword >>> 0) << BigInt(32 * d);
  }
  return out;
}

const FIELD_NAMES = ['Message Address', 'Message Upper Address', 'Message Data', 'Vector Control'];

/** What entry `k`'s physical pair is, in words (a remappable handle, a host vector on a pCPU, nothing yet). */
function describePhysical(state: PlatformState, device: string, k: number): string {
  const e = state.devices[device]?.msix?.table[k];
  if (e === undefined || (e.address === 0n && e.data === 0)) return 'not set up by the host yet';
  const m = decodeMsi(e.address, e.data);
  if (m.format === 'remappable') return `remappable format: handle ${m.handle}${m.shv ? ` + subhandle ${m.subhandle}` : ''} → IRTE ${m.irteIndex} (the host's)`;
  if (m.format === 'compatibility') {
    const cpu = state.cpus.findIndex((c) => c.apicId === m.destinationId);
    return `compatibility format: host vector ${hex(m.vector)} → APIC ID ${m.destinationId}${m.destinationModeLogical ? ' (logical)' : cpu >= 0 ? ` (cpu${cpu})` : ''}`;
  }
  return 'not an interrupt address';
}

/** The notes and cost of a guest read that touched the table: what vfio-pci returns instead of the guest's view. */
function tableRead(state: PlatformState, x: GuestAccess): Action[] {
  const parts = x.parts.filter((p) => p.region === 'table');
  if (x.write || x.space !== 'mmio' || parts.length === 0) return [];
  const layout = state.vmm!.devices[x.device]!.guest.layout;
  if (x.parts.length !== 1 || !isDefinedAccess(x.offset, x.size)) {
    return [note(`MSI virtualization disabled: a ${x.size}-byte read at BAR${x.bar} ${hex(x.offset)} is not an aligned DWORD/QWORD of the table: all ones, as from the guest's view`)];
  }
  const value = physicalTableRead(state, x.device, x.offset, x.size);
  const fields: string[] = [];
  const entries = new Set<number>();
  for (let d = 0; d < x.size / 4; d++) {
    const at = x.offset + 4 * d - layout.tableOffset;
    const k = Math.floor(at / MSIX_ENTRY_BYTES);
    entries.add(k);
    fields.push(`entry ${k} ${FIELD_NAMES[(at % MSIX_ENTRY_BYTES) / 4]!}`);
  }
  const physical = [...entries].filter((k) => k < layout.entries).map((k) => `entry ${k}: ${describePhysical(state, x.device, k)}`);
  return [
    cost('ioctl', `pread of ${x.size} bytes at BAR${x.bar} ${hex(x.offset)} on the VFIO device fd: the physical MSI-X entry (MSI virtualization disabled)`),
    note(
      `MSI virtualization disabled: the read of ${fields.join(' + ')} returns the physical 0x${hexDigits(value, x.size * 2)} instead of the guest's 0x${hexDigits(x.value, x.size * 2)}${physical.length > 0 ? ` — ${physical.join('; ')}` : ''}`,
    ),
  ];
}

function onGuestAccess(state: PlatformState, request: ActionOf<'vmm-react'>): Action[] {
  const out = qemuKvm.onGuestAccess(state, request);
  const read = tableRead(state, request.access);
  if (read.length === 0) return out;
  // After QEMU's exit and trap costs (msix_table_mmio_read), before anything else.
  const at = out.findIndex((a) => a.kind !== 'vmm-cost');
  return at < 0 ? [...out, ...read] : [...out.slice(0, at), ...read, ...out.slice(at)];
}

export const vfioMsiVirtOff: VmmDesign = {
  name: 'vfio-msi-virt-off',
  summary:
    "qemu-kvm with vfio-pci's proposed feature disabling MSI virtualization: guest reads of the MSI-X table return the physical address/data (the host's remappable handle, or with IR off its compatibility message), writes stay trapped and virtualized; a device with an onboard interrupt controller sends the pair its driver read",
  source:
    'seed thread 000: [PATCH RFC/RFT] vfio/pci: Create feature to disable MSI virtualization (Alex Williamson, 2024-08-12; drivers/vfio/pci/vfio_pci_config.c, vfio_pci_core.c; "read-only access the the physical values"; Gunthorpe, Gleixner, Woodhouse replies); otherwise qemu-kvm: ' +
    qemuKvm.source,
  broken: false,
  guestAddressing: 'the compatibility-format message in the trapped table (as qemu-kvm): APIC IDs 0–255, 0–32767 with KVM_FEATURE_MSI_EXT_DEST_ID (address bits 11:5, Linux apic.c x86_msi_msg_get_destid); more needs a vIOMMU with interrupt remapping and EIM (QEMU intel-iommu intremap=on,eim=on)',
  onGuestAccess,
  onDeviceInterrupt: (state, request) => qemuKvm.onDeviceInterrupt(state, request),
  onDeviceModel: (state, request) => qemuKvm.onDeviceModel(state, request),
  virtualPending: (state, device) => qemuKvm.virtualPending(state, device),
  tableRead: (state, device, entry) => ({
    address: (BigInt(readDword(state, device, entry, 1) >>> 0) << 32n) | BigInt(readDword(state, device, entry, 0) >>> 0),
    data: readDword(state, device, entry, 2) >>> 0,
  }),
};

export const VFIO_MSI_VIRT_OFF_DESIGNS: readonly VmmDesign[] = [vfioMsiVirtOff];
