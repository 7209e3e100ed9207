/**
 * QEMU + KVM + vfio-pci: how an assigned function's MSI-X is virtualized on Linux.
 *
 * - QEMU traps the pages holding the MSI-X table and PBA (hw/vfio/pci.c
 *   `vfio_pci_fixup_msix_region` keeps them out of the mmap; hw/pci/msix.c
 *   `msix_table_mmio_ops` / `msix_pba_mmio_ops`): every guest access with a byte there is a
 *   VM exit to userspace. Device registers sharing those pages are passed to the device
 *   through the VFIO region (`vfio_region_write` → pwrite on the device fd → Linux
 *   drivers/vfio/pci/vfio_pci_rdwr.c `vfio_pci_bar_rw`); other pages are mapped into the
 *   guest and never trapped. Configuration space is emulated: `vfio_pci_write_config` →
 *   `pci_default_write_config` (`msix_write_config`) and, when MSI-X Enable changes,
 *   `vfio_msix_enable` / `vfio_msix_disable` (VFIO_DEVICE_SET_IRQS).
 * - The mask bits are emulated; the physical entry is vfio-pci's and stays unmasked
 *   (drivers/vfio/pci/vfio_pci_intrs.c `vfio_msi_set_vector_signal`). When the guest
 *   unmasks an entry, `msix_handle_mask_update` fires `vfio_msix_vector_use`
 *   (`vfio_msix_vector_do_use`): the host IRQ if the vector is new (VFIO_DEVICE_SET_IRQS),
 *   a KVM GSI route for the guest's message (`vfio_add_kvm_msi_virq` →
 *   `kvm_irqchip_add_msi_route`, KVM_SET_GSI_ROUTING) and an irqfd on it
 *   (`kvm_irqchip_add_irqfd_notifier_gsi`, KVM_IRQFD), VFIO's eventfd switched to the irqfd;
 *   the irqfd registers an IRQ bypass consumer, VFIO's trigger is the producer
 *   (virt/kvm/eventfd.c `kvm_irqfd_assign` → `irq_bypass_register_consumer`,
 *   arch/x86/kvm `kvm_arch_irq_bypass_add_producer` → `vmx_pi_update_irte`), so a message
 *   reaching one vCPU is posted — when the host can post at all (interrupt remapping on and
 *   CAP.PI: Linux's IRQ_POSTING_CAP; otherwise the irqfd injects every interrupt). An in-use vector whose message changes has its route
 *   updated (`vfio_update_kvm_msi_virq` → `kvm_irqchip_update_msi_route`; KVM
 *   `kvm_irq_routing_update` → `kvm_arch_update_irqfd_routing` re-posts or un-posts it).
 *   When the routing table is full (`kvm_irqchip_get_virq`: -ENOSPC) the vector keeps
 *   `virq = -1` and is delivered from userspace: `vfio_msi_interrupt` → `msix_notify` →
 *   `kvm_irqchip_send_msi` (KVM_SIGNAL_MSI).
 * - When the guest masks an entry, `vfio_msix_vector_release` keeps the route and irqfd but
 *   points VFIO's eventfd at QEMU's own notifier ("There are still old guests that mask and
 *   unmask vectors on every interrupt"): the bypass producer is unregistered (the IRTE goes
 *   back to remapped), and an interrupt arriving while masked makes `vfio_msi_interrupt`
 *   set the emulated pending bit (`msix_notify` → `msix_set_pending`). Unmasking a pending
 *   entry delivers it at once and clears the bit (`msix_handle_mask_update` →
 *   `msix_clr_pending` + `msix_notify`).
 * - The PBA the guest reads is QEMU's (`msix_pba_mmio_read`) while any emulated bit is set;
 *   otherwise vfio disables the overlay and the guest reads the device's
 *   (`vfio_msi_interrupt`: "A masked vector firing needs to use the PBA, enable it";
 *   `vfio_msix_vector_do_use`: "Disable PBA emulation when nothing more is pending").
 * - QEMU is the device model; a compromised one has its VM's KVM fd and the VFIO device fd:
 *   KVM_SIGNAL_MSI into its own VM, routes and irqfds of its own VM, and the VFIO region,
 *   from which vfio-pci cuts the MSI-X table (`vfio_pci_core_bar_rw`: the range
 *   `msix_offset`..+`msix_size` is skipped by `vfio_pci_core_do_io_rw`, writes dropped).
 *   KVM has no interface to mask a vector.
 *
 * Simplifications: `vfio_msix_enable`'s "vector 0 to userspace, then released" trick is
 * reduced to enabling MSI-X on the device (a physical entry is set up at its first use);
 * MSI-X disable keeps the host IRQs allocated (Linux frees and reallocates them) but removes
 * every route; grants are never revoked when a message changes. A write to an unmasked
 * entry's address or data updates its route (QEMU's `msix_table_mmio_write` fires the
 * notifier only on a mask change and the spec leaves such a write undefined; the model
 * delivers what the guest's entry says).
 *
 * `qemu-kvm-broken-lazy-routes` (seed thread 002, Jan Kiszka: "As there are less GSIs than
 * possible MSI messages, we could run out of them when creating routes, statically or
 * lazily"): the route is created at the vector's first interrupt instead of at unmask, and
 * when the table is full then the interrupt is dropped, with no KVM_SIGNAL_MSI fallback.
 */
import type { Action, ActionOf, GuestAccess } from '../../platform/actions.ts';
import type { PlatformState } from '../../platform/state.ts';
import type { VmmDesign } from '../design.ts';
import type { VectorBinding, VmmDevice } from '../state.ts';
import { unpostActions } from '../host-irq.ts';
import { entryAddress, guestMasked, isDefinedAccess, regionOf, splitAccess, type AccessPart } from '../virtual-msix.ts';
import { FIRST_DEVICE_VECTOR, runningOn } from '../../policy/common.ts';
import { guestMessage } from '../guest-message.ts';
import { cost, describeMessage, hex, irqPostingCapable, note, Plan } from './kvm-irq.ts';

interface Rules {
  /** Create the KVM route at the first interrupt, and drop that interrupt when the table is full (the broken variant). */
  readonly lazyRoutes: boolean;
}

const QEMU_BY = 'qemu (vfio region)';
const GUEST_BY = 'guest (mapped BAR)';

/** What set a vector up: the guest's unmask, a change of an unmasked entry's message, or the device model's own `bind`. */
type UseKind = 'use' | 'update' | 'bind';

function vmmDevice(state: PlatformState, device: string): VmmDevice {
  return state.vmm!.devices[device]!;
}

function withoutGsi(b: VectorBinding): VectorBinding {
  const { gsi: _gsi, ...rest } = b;
  return rest;
}

/** The guest's message in entry `k` of its view. */
function guestEntryMessage(dev: VmmDevice, k: number): { address: bigint; data: number } {
  const e = dev.guest.table[k]!;
  return { address: entryAddress(e), data: e.data >>> 0 };
}

/** What QEMU believes about entry `k` (it sees every trapped write, so the guest's view). */
function dmView(device: string, dev: VmmDevice, k: number): Action {
  const m = guestEntryMessage(dev, k);
  return { kind: 'vmm-dm-view', device, entry: k, view: { masked: guestMasked(dev.guest, k), address: m.address, data: m.data, dirty: false } };
}

/**
 * `vfio_msix_vector_use` (kind `use`), `vfio_update_kvm_msi_virq` (kind `update`) or a
 * device model's own route (kind `bind`) for `device`'s entry `k` with message
 * `address`/`data`: the host IRQ when the vector is new, the KVM route and irqfd, grants
 * for the recipients, the binding, and the IRQ bypass request.
 */
function vectorUse(plan: Plan, rules: Rules, device: string, k: number, message: { address: bigint; data: number }, kind: UseKind): void {
  const state = plan.state;
  const dev = vmmDevice(state, device);
  const { address, data } = message;
  const msg = guestMessage(state, dev.domain, address, data);
  const previous = plan.binding(device, k);
  let binding = previous;
  const steps: string[] = [];
  const at = plan.length;
  if (previous.hostVector === undefined) {
    const pcpu = msg.deliverable && msg.recipients.length > 0 ? msg.recipients[0]!.pcpu : 0;
    const setup = plan.hostSetup(device, k, pcpu, previous);
    plan.push(cost('ioctl', `VFIO_DEVICE_SET_IRQS: ${device} entry ${k} gets a host IRQ (vfio_msi_set_vector_signal)`));
    if (setup === undefined) {
      plan.push(note(`vfio_msix_vector_use: entry ${k}: the host cannot set up the physical entry (no remapping unit with IR enabled, no free host vector, or cpu${pcpu}'s APIC ID does not fit): VFIO_DEVICE_SET_IRQS failed`));
      return;
    }
    plan.push(...setup.actions);
    binding = setup.binding;
    steps.push(`host vector ${hex(setup.binding.hostVector!)} on cpu${pcpu}`);
  }
  const switchAt = plan.length;
  const route = { address, data, device, entry: k };
  let gsi = previous.gsi;
  if (gsi !== undefined) {
    plan.push({ kind: 'kvm-route', gsi, route }, cost('ioctl', `KVM_SET_GSI_ROUTING: GSI ${gsi} updated (kvm_irqchip_update_msi_route, kvm_irqchip_commit_routes)`));
    steps.push(`GSI ${gsi} updated`, 'irqfd');
  } else if (rules.lazyRoutes && kind !== 'bind') {
    steps.push('no route yet (created at the first interrupt)');
  } else {
    const free = plan.freeGsi();
    if (free === undefined) {
      plan.push({ kind: 'kvm-route', gsi: plan.beyondTable(), route });
      steps.push('no GSI (kvm_irqchip_add_msi_route: -ENOSPC), virq -1: delivered from userspace (vfio_msi_interrupt → msix_notify → KVM_SIGNAL_MSI)');
    } else {
      gsi = free;
      plan.takeGsi(free);
      plan.push(
        { kind: 'kvm-route', gsi, route },
        cost('ioctl', `KVM_SET_GSI_ROUTING: GSI ${gsi} → MSI ${hex(address)}/${hex(data)} (kvm_irqchip_add_msi_route)`),
        cost('ioctl', `KVM_IRQFD: eventfd → GSI ${gsi} (kvm_irqchip_add_irqfd_notifier_gsi)`),
      );
      steps.push(`GSI ${gsi}`, 'irqfd');
    }
  }
  // An in-use vector: VFIO's trigger for it is switched to the irqfd, or to QEMU's handler without a route.
  if (previous.hostVector !== undefined && kind !== 'update') plan.insert(switchAt, cost('ioctl', `VFIO_DEVICE_SET_IRQS: ${device} entry ${k}'s eventfd → ${gsi !== undefined ? 'the irqfd' : "QEMU's handler"}`));
  if (msg.deliverable) for (const v of msg.recipients) plan.push(...plan.grant(device, v.id, msg.vector));
  // IRQ bypass needs a posting-capable host (IRQ_POSTING_CAP); the policy then posts what reaches one vCPU
  // (kvm_intr_is_single_vcpu; vectors below 16 are never posted, and never injected).
  const bypass = gsi !== undefined && msg.deliverable && irqPostingCapable(state, device);
  const posted = bypass && msg.recipients.length === 1 && msg.vector >= FIRST_DEVICE_VECTOR;
  const bound = { address, data };
  const next: VectorBinding = gsi === undefined ? { ...withoutGsi(binding), bound, posted } : { ...binding, gsi, bound, posted };
  // KVM keeps a producer that no longer reaches one vCPU in remapped mode (vmx_pi_update_irte: "make sure the IRTE is in remapped mode").
  if (previous.posted === true && !posted) plan.push(...unpostActions(state, device, k, next));
  plan.setBinding(device, k, next);
  if (gsi !== undefined && msg.deliverable && !bypass) steps.push('no IRQ bypass (no posting without interrupt remapping and CAP.PI): irqfd injects');
  if (bypass && msg.deliverable) {
    steps.push(posted ? 'IRQ bypass (posted)' : 'IRQ bypass not postable (several vCPUs): irqfd injects');
    plan.later({
      kind: 'guest-msi',
      device,
      entry: k,
      destination: msg.destination,
      destinationMode: msg.logical ? 'logical' : 'physical',
      vector: msg.vector,
      deliveryMode: msg.deliveryMode,
      domain: dev.domain,
      bypass: true,
      ...(next.irte === undefined ? {} : { irte: next.irte.index }),
    });
  }
  const what = kind === 'use' ? 'vfio_msix_vector_use' : kind === 'update' ? 'vfio_update_kvm_msi_virq' : 'device model bind (its own KVM route + irqfd)';
  plan.insert(at, note(`${what}: entry ${k} → ${steps.join(', ')}; message ${describeMessage(state, address, data, msg)}`));
}

/** `vfio_msix_vector_release` for entry `k`: VFIO's eventfd back to QEMU's handler (route and irqfd kept), posting undone. */
function vectorRelease(plan: Plan, device: string, k: number): void {
  const b = plan.binding(device, k);
  if (b.hostVector === undefined) return;
  const at = plan.length;
  if (b.gsi !== undefined) plan.push(cost('ioctl', `VFIO_DEVICE_SET_IRQS: ${device} entry ${k}'s eventfd → QEMU's handler (GSI ${b.gsi} and its irqfd kept)`));
  const unpost = b.posted === true ? unpostActions(plan.state, device, k, b) : [];
  plan.push(...unpost);
  plan.setBinding(device, k, { ...b, posted: false });
  plan.insert(
    at,
    note(
      `vfio_msix_vector_release: entry ${k} masked in the guest's view → interrupts go to QEMU (vfio_msi_interrupt sets the emulated pending bit)${unpost.length > 0 ? '; IRQ bypass producer removed, IRTE back to remapped' : ''}; the physical entry stays unmasked`,
    ),
  );
}

/** Deliver entry `k`'s current guest message from QEMU (`msix_notify` → `kvm_irqchip_send_msi`: KVM_SIGNAL_MSI). */
function signalFromQemu(plan: Plan, device: string, k: number, why: string, later = false): void {
  const dev = vmmDevice(plan.state, device);
  const { address, data } = guestEntryMessage(dev, k);
  const msg = guestMessage(plan.state, dev.domain, address, data);
  const out: Action[] = [
    note(`${why}: KVM_SIGNAL_MSI with entry ${k}'s message ${describeMessage(plan.state, address, data, msg)}`),
    cost('ioctl', `KVM_SIGNAL_MSI ${hex(address)}/${hex(data)} (kvm_irqchip_send_msi)`),
    ...(msg.deliverable ? plan.inject(device, msg) : []),
  ];
  if (later) plan.later(...out);
  else plan.push(...out);
}

/** A trapped or mapped-through access's parts (src/vmm/virtual-msix.ts regions). */
function accessParts(plan: Plan, x: GuestAccess): void {
  const trapped = x.parts.filter((p) => p.region === 'table' || p.region === 'pba' || p.region === 'page');
  if (trapped.length > 0) {
    const handlers = [...new Set(trapped.map((p) => (p.region === 'table' ? `msix_table_mmio_${x.write ? 'write' : 'read'}` : p.region === 'pba' ? `msix_pba_mmio_${x.write ? 'write' : 'read'}` : `vfio_region_${x.write ? 'write' : 'read'}`)))];
    plan.push(
      cost('vm-exit', `guest MMIO ${x.write ? 'write' : 'read'} of ${x.device} BAR${x.bar} ${hex(x.offset)} (${x.size} bytes): EPT exit on a trapped MSI-X page`),
      cost('trap', `QEMU ${handlers.join(' + ')}`),
    );
  }
  for (const p of x.parts) {
    if (p.region === 'direct') {
      if (x.write) plan.push({ kind: 'device-register-write', device: x.device, bar: x.bar, offset: p.offset, size: p.size, value: p.value, by: GUEST_BY });
    } else if (p.region === 'page') {
      plan.push(cost('ioctl', `${x.write ? 'pwrite' : 'pread'} of ${p.size} bytes at BAR${x.bar} ${hex(p.offset)} on the VFIO device fd (vfio_pci_bar_rw)`));
      if (x.write) plan.push({ kind: 'device-register-write', device: x.device, bar: x.bar, offset: p.offset, size: p.size, value: p.value, by: QEMU_BY });
    } else if (p.region === 'table') {
      if (x.write && !(x.parts.length === 1 && isDefinedAccess(p.offset, p.size))) {
        const what = x.parts.length > 1 ? `the ${p.size} bytes at ${hex(p.offset)} of a ${x.size}-byte access straddling the table's edge are` : `a ${p.size}-byte access at ${hex(p.offset)} is`;
        plan.push(note(`msix_table_mmio_write: ${what} not an aligned DWORD/QWORD: ignored`));
      }
    } else if (p.region === 'pba') {
      plan.push(note(x.write ? `msix_pba_mmio_write: the PBA is read-only: ${p.size} bytes at ${hex(p.offset)} ignored` : `msix_pba_mmio_read: ${p.size} bytes at ${hex(p.offset)} → ${hex(pbaPartValue(x, p))}`));
    }
  }
}

/** The bytes a read returned for part `p` of access `x`. */
function pbaPartValue(x: GuestAccess, p: AccessPart | GuestAccess['parts'][number]): bigint {
  const shift = BigInt(8 * (p.offset - x.offset));
  return (x.value >> shift) & ((1n << BigInt(8 * p.size)) - 1n);
}

/** `vfio_msix_enable` / `vfio_msix_disable` when the access changed MSI-X Enable. */
function enableChange(plan: Plan, device: string, x: GuestAccess, dev: VmmDevice): void {
  if (!x.before.enabled && dev.guest.enabled) {
    plan.push(
      note('vfio_pci_write_config → vfio_msix_enable: MSI-X enabled on the device, vector notifiers set (msix_set_vector_notifiers)'),
      cost('ioctl', `VFIO_DEVICE_SET_IRQS: MSI-X enabled on ${device} (vfio_msix_enable → vfio_pci_set_msi_trigger)`),
      { kind: 'msix-control', device, enabled: true },
    );
  } else if (x.before.enabled && !dev.guest.enabled) {
    const routed = dev.vectors.map((_, k) => k).filter((k) => plan.binding(device, k).gsi !== undefined);
    plan.push(note(`vfio_pci_write_config → vfio_msix_disable: ${routed.length > 0 ? `routes of entries ${routed.join(',')} removed, ` : ''}emulated pending bits cleared, MSI-X disabled on the device`));
    for (const k of routed) {
      const b = plan.binding(device, k);
      plan.push({ kind: 'kvm-route', gsi: b.gsi!, route: undefined }, cost('ioctl', `KVM_IRQFD deassign and KVM_SET_GSI_ROUTING: GSI ${b.gsi} released (vfio_remove_kvm_msi_virq)`));
      plan.releaseGsi(b.gsi!);
      plan.setBinding(device, k, { ...withoutGsi(b), posted: false });
    }
    for (let k = 0; k < dev.vectors.length; k++) if (((dev.pending >> BigInt(k)) & 1n) === 1n) plan.push({ kind: 'vmm-pending', device, entry: k, pending: false });
    plan.push(cost('ioctl', `VFIO_DEVICE_SET_IRQS (count 0): MSI-X disabled on ${device} (vfio_disable_irqindex)`), { kind: 'msix-control', device, enabled: false });
  }
}

function onGuestAccess(rules: Rules, state: PlatformState, request: ActionOf<'vmm-react'>): Action[] {
  const x = request.access;
  const device = x.device;
  const dev = vmmDevice(state, device);
  const plan = new Plan(state);
  if (x.space === 'config') {
    plan.push(cost('vm-exit', `guest config write ${hex(x.offset)} (${x.size} bytes) of ${device}`), cost('trap', 'QEMU vfio_pci_write_config'));
    if (x.parts[0]?.region !== 'config') plan.push(note(`vfio_pci_write_config: config ${hex(x.offset)} is not MSI-X Message Control: emulated or passed to the device (not modelled)`));
  } else {
    accessParts(plan, x);
  }
  const touched = new Set<number>([...x.written, ...x.unmasked.map((u) => u.entry), ...x.masked]);
  for (const k of [...touched].sort((a, b) => a - b)) plan.push(dmView(device, dev, k));
  for (const k of x.masked) vectorRelease(plan, device, k);
  if (x.space === 'config') enableChange(plan, device, x, dev);
  for (const u of x.unmasked) {
    vectorUse(plan, rules, device, u.entry, guestEntryMessage(dev, u.entry), 'use');
    // msix_handle_mask_update: an unmasked entry with its (emulated) pending bit set is delivered now.
    if (((dev.pending >> BigInt(u.entry)) & 1n) === 1n) {
      plan.later({ kind: 'vmm-pending', device, entry: u.entry, pending: false });
      signalFromQemu(plan, device, u.entry, `msix_handle_mask_update: entry ${u.entry} unmasked with its pending bit set → msix_clr_pending, msix_notify`, true);
    }
  }
  const unmasked = new Set(x.unmasked.map((u) => u.entry));
  for (const k of x.written) {
    if (unmasked.has(k) || guestMasked(dev.guest, k)) continue;
    const m = guestEntryMessage(dev, k);
    const b = plan.binding(device, k);
    if (b.bound !== undefined && b.bound.address === m.address && b.bound.data === m.data) continue;
    vectorUse(plan, rules, device, k, m, 'update');
  }
  return plan.done();
}

function onDeviceInterrupt(rules: Rules, state: PlatformState, request: ActionOf<'vmm-interrupt'>): Action[] {
  const { device, entry: k, pcpu, hostVector } = request;
  const dev = vmmDevice(state, device);
  const plan = new Plan(state);
  const running = runningOn(state, pcpu);
  if (running !== undefined) {
    plan.push(cost('vm-exit', `external interrupt: host vector ${hex(hostVector)} on cpu${pcpu} exits ${state.domains[running.domain]?.name ?? running.domain}.vcpu${running.index}`));
  }
  if (k >= dev.guest.table.length) return [...plan.done(), note(`host vector ${hex(hostVector)}: ${device} has no entry ${k}`)];
  const b = plan.binding(device, k);
  if (guestMasked(dev.guest, k)) {
    plan.push(
      note(`vfio_msi_interrupt: entry ${k} is masked in the guest's view → msix_notify sets its pending bit (PBA emulation on)`),
      cost('dm-round-trip', `VFIO eventfd → QEMU vfio_msi_interrupt (${device} entry ${k})`),
      { kind: 'vmm-pending', device, entry: k, pending: true },
    );
    return plan.done();
  }
  const route = b.gsi === undefined ? undefined : state.vmm!.kvm.routes[b.gsi];
  if (b.gsi !== undefined && route !== undefined) {
    const msg = guestMessage(state, dev.domain, route.address, route.data);
    plan.push(note(`irqfd_wakeup → kvm_set_msi: GSI ${b.gsi} → ${describeMessage(state, route.address, route.data, msg)}`));
    if (msg.deliverable) plan.push(...plan.inject(device, msg));
    return plan.done();
  }
  if (rules.lazyRoutes) {
    const m = guestEntryMessage(dev, k);
    plan.push(cost('dm-round-trip', `VFIO eventfd → QEMU (${device} entry ${k}): first interrupt, create its route`));
    const gsi = plan.freeGsi();
    const kvmRoute = { address: m.address, data: m.data, device, entry: k };
    if (gsi === undefined) {
      plan.push({ kind: 'kvm-route', gsi: plan.beyondTable(), route: kvmRoute }, note(`lazy route for entry ${k}: the routing table is full (-ENOSPC): interrupt dropped (no KVM_SIGNAL_MSI fallback)`));
      return plan.done();
    }
    plan.takeGsi(gsi);
    const msg = guestMessage(state, dev.domain, m.address, m.data);
    const bypass = msg.deliverable && irqPostingCapable(state, device);
    const posted = bypass && msg.recipients.length === 1 && msg.vector >= FIRST_DEVICE_VECTOR;
    plan.push(
      { kind: 'kvm-route', gsi, route: kvmRoute },
      cost('ioctl', `KVM_SET_GSI_ROUTING: GSI ${gsi} → MSI ${hex(m.address)}/${hex(m.data)} (lazily)`),
      cost('ioctl', `KVM_IRQFD: eventfd → GSI ${gsi}`),
    );
    plan.setBinding(device, k, { ...b, gsi, bound: m, posted });
    plan.push(note(`lazy route for entry ${k}: GSI ${gsi}, irqfd; the interrupt is delivered through it → ${describeMessage(state, m.address, m.data, msg)}`));
    if (msg.deliverable) plan.push(...plan.inject(device, msg));
    if (bypass && msg.deliverable) {
      plan.later({ kind: 'guest-msi', device, entry: k, destination: msg.destination, destinationMode: msg.logical ? 'logical' : 'physical', vector: msg.vector, deliveryMode: msg.deliveryMode, domain: dev.domain, bypass: true, ...(b.irte === undefined ? {} : { irte: b.irte.index }) });
    }
    return plan.done();
  }
  plan.push(cost('dm-round-trip', `VFIO eventfd → QEMU vfio_msi_interrupt (${device} entry ${k}, no KVM route)`));
  signalFromQemu(plan, device, k, `vfio_msi_interrupt → msix_notify (entry ${k} has no GSI)`);
  return plan.done();
}

function onDeviceModel(rules: Rules, state: PlatformState, request: ActionOf<'device-model'>): Action[] {
  const { domain, device, op } = request;
  const dev = vmmDevice(state, device);
  const plan = new Plan(state);
  const who = `device model (QEMU) of ${state.domains[domain]?.name ?? domain}`;
  switch (op.op) {
    case 'signal-msi': {
      // kvm_vm_ioctl(KVM_SIGNAL_MSI) → kvm_send_userspace_msi → kvm_set_msi on the DM's own VM only.
      const msg = guestMessage(state, domain, op.address, op.data);
      plan.push(cost('ioctl', `KVM_SIGNAL_MSI ${hex(op.address)}/${hex(op.data)} on the VM fd of ${state.domains[domain]?.name ?? domain}`));
      plan.push(note(`${who}: KVM_SIGNAL_MSI → kvm_send_userspace_msi within its own VM: ${describeMessage(state, op.address, op.data, msg)}`));
      if (msg.deliverable) plan.push(...plan.inject(device, msg, 'device-model'));
      return plan.done();
    }
    case 'bind': {
      if (!(Number.isInteger(op.entry) && op.entry >= 0 && op.entry < dev.vectors.length)) return [note(`${who}: bind: ${device} has no entry ${op.entry}`)];
      vectorUse(plan, rules, device, op.entry, { address: op.address, data: op.data >>> 0 }, 'bind');
      return plan.done();
    }
    case 'unbind': {
      if (!(Number.isInteger(op.entry) && op.entry >= 0 && op.entry < dev.vectors.length)) return [note(`${who}: unbind: ${device} has no entry ${op.entry}`)];
      const b = plan.binding(device, op.entry);
      if (b.gsi === undefined) return [note(`${who}: unbind: entry ${op.entry} has no KVM route`)];
      plan.push(
        note(`${who}: unbind: entry ${op.entry}'s irqfd off and GSI ${b.gsi} removed: its interrupts now reach QEMU (KVM_SIGNAL_MSI)`),
        cost('ioctl', `KVM_IRQFD deassign: GSI ${b.gsi}`),
        { kind: 'kvm-route', gsi: b.gsi, route: undefined },
        cost('ioctl', `KVM_SET_GSI_ROUTING: GSI ${b.gsi} removed`),
        ...(b.posted === true ? unpostActions(state, device, op.entry, b) : []),
      );
      plan.setBinding(device, op.entry, { ...withoutGsi(b), posted: false });
      return plan.done();
    }
    case 'write-page': {
      if (!(Number.isInteger(op.size) && op.size >= 1 && op.size <= 8 && Number.isInteger(op.offset) && op.offset >= 0)) return [note(`${who}: write-page of ${op.size} bytes at ${hex(op.offset)}: not a 1..8-byte write`)];
      const layout = dev.guest.layout;
      for (const p of splitAccess(layout, op.bar, op.offset, op.size, op.value)) {
        if (regionOf(layout, op.bar, p.offset) === 'table') {
          plan.push(note(`${who}: pwrite of ${p.size} bytes at BAR${op.bar} ${hex(p.offset)} on the VFIO device fd: vfio_pci_core_bar_rw excludes the MSI-X table: write dropped`));
        } else {
          plan.push(cost('ioctl', `pwrite of ${p.size} bytes at BAR${op.bar} ${hex(p.offset)} on the VFIO device fd (vfio_pci_bar_rw)`));
          plan.push({ kind: 'device-register-write', device, bar: op.bar, offset: p.offset, size: p.size, value: p.value, by: QEMU_BY });
        }
      }
      return plan.done();
    }
    case 'mask':
      return [note(`${who}: mask entry ${op.entry}: KVM has no interface to mask a vector (QEMU emulates the mask bits itself): refused`)];
  }
}

/**
 * The PBA the guest reads: QEMU's emulated bit for a vector it took while the guest had it
 * masked (msix_pba_mmio_read of msix_set_pending), or the device's own bit for a vector the
 * host never set up (its physical entry is still masked from reset, so the device holds it).
 * The model takes the union per entry: each bit is pending in one of the two places.
 */
function virtualPending(state: PlatformState, device: string): bigint {
  const emulated = state.vmm?.devices[device]?.pending ?? 0n;
  return (state.devices[device]?.msix?.pending ?? []).reduce((bits, k) => bits | (1n << BigInt(k)), emulated);
}

function qemuKvmDesign(name: string, summary: string, source: string, broken: boolean, rules: Rules): VmmDesign {
  return {
    name,
    summary,
    source,
    broken,
    guestAddressing: 'the compatibility-format message in the trapped table: APIC IDs 0–255, 0–32767 with KVM_FEATURE_MSI_EXT_DEST_ID (address bits 11:5, Linux apic.c x86_msi_msg_get_destid); more needs a vIOMMU with interrupt remapping and EIM (QEMU intel-iommu intremap=on,eim=on)',
    onGuestAccess: (state, request) => onGuestAccess(rules, state, request),
    onDeviceInterrupt: (state, request) => onDeviceInterrupt(rules, state, request),
    onDeviceModel: (state, request) => onDeviceModel(rules, state, request),
    virtualPending,
  };
}

const SOURCE =
  'QEMU hw/vfio/pci.c (vfio_pci_write_config, vfio_msix_enable/disable, vfio_msix_vector_do_use/release, vfio_add/update/remove_kvm_msi_virq, vfio_msi_interrupt), hw/pci/msix.c (msix_table_mmio_write, msix_handle_mask_update, msix_pba_mmio_read, msix_notify), accel/kvm/kvm-all.c (kvm_irqchip_add_msi_route, kvm_irqchip_send_msi); Linux virt/kvm/eventfd.c (kvm_irqfd_assign, irqfd_wakeup, irqfd_inject), virt/kvm/irqchip.c (kvm_set_irq_routing), arch/x86/kvm/irq_comm.c (kvm_set_msi), drivers/vfio/pci/vfio_pci_intrs.c (vfio_msi_set_vector_signal), drivers/vfio/pci/vfio_pci_rdwr.c (vfio_pci_core_bar_rw)';

export const qemuKvm: VmmDesign = qemuKvmDesign(
  'qemu-kvm',
  'QEMU traps the MSI-X table/PBA pages and emulates the mask bits; each unmasked vector gets a KVM GSI route + irqfd (posted by IRQ bypass when single-vCPU), KVM_SIGNAL_MSI from userspace when the routing table is full',
  SOURCE,
  false,
  { lazyRoutes: false },
);

export const qemuKvmBrokenLazyRoutes: VmmDesign = qemuKvmDesign(
  'qemu-kvm-broken-lazy-routes',
  'qemu-kvm creating KVM routes lazily at the first interrupt: with the routing table full the interrupt is dropped (no KVM_SIGNAL_MSI fallback) — a lost interrupt (P7)',
  `seed thread 002 (Kiszka/Tsirkin 2011, "we could run out of them when creating routes, statically or lazily"); otherwise ${SOURCE}`,
  true,
  { lazyRoutes: true },
);

export const QEMU_KVM_DESIGNS: readonly VmmDesign[] = [qemuKvm, qemuKvmBrokenLazyRoutes];
