/**
 * Xen + QEMU (xen_pt): how an assigned function's MSI-X is virtualized for an HVM guest.
 *
 * - Xen intercepts the pages holding the MSI-X table (xen/arch/x86/hvm/vmsi.c
 *   `msixtbl_mmio_ops`: `msixtbl_range` accepts an access once a pirq of the function is
 *   bound with the table's address, `msixtbl_pt_register`, and the entry has an `msi_desc`;
 *   until then every access goes to the device model). Every trapped access is a VM exit and
 *   a trap; one the device model sees is also an ioreq round trip.
 *   - Address and data dwords: Xen notes the entry as modified (`table_flags`) and hands the
 *     write to QEMU (X86EMUL_UNHANDLEABLE), which latches it (hw/xen/xen_pt_msi.c
 *     `pci_msix_write`: `entry->updated` unless the value is unchanged and a pirq is
 *     assigned).
 *   - Vector Control: Xen sets or clears the physical entry's Mask itself
 *     (`guest_mask_msi_irq`), except for an unmask of a modified entry, which exits to the
 *     device model first and is completed after it (`msix_unmask_address`,
 *     `msix_write_completion`); since the thread's change ("x86/msi: passthrough all MSI-X
 *     vector ctrl writes to device model", `_msixtbl_write`: "returns X86EMUL_UNHANDLEABLE
 *     even if write is properly handled, to propagate it to the device model (so it can keep
 *     its internal state in sync)", advertised as XENFEAT_dm_msix_all_writes) QEMU sees every
 *     Vector Control write as well. A vector bound with MASK_HANDLING is left to the device
 *     model (./xen-pirq.ts).
 *   - QEMU on an unmask of an updated entry with MSI-X enabled: `xen_pt_msix_update_one` with
 *     the latched (previous) Vector Control — the new address and data are taken only when
 *     no pirq is assigned yet, the function is masked or the latched Vector Control has the
 *     Mask bit ("Addr and data changes while the MSI-X entry is unmasked get deferred until
 *     the next masked -> unmasked transition") — then `msi_msix_setup` (PHYSDEVOP_map_pirq
 *     for a new pirq) and `msi_msix_update` (XEN_DOMCTL_bind_pt_irq with gvec and gflags),
 *     issued here as a `device-model` `bind` so the same path serves an untrusted device
 *     model. It sets no MASK_HANDLING flag: Xen handles the mask. A vector the device model
 *     bound with the flag has its Vector Control writes passed on by it as `mask`
 *     (`xc_domain_update_msi_irq` with or without XEN_DOMCTL_VMSI_X86_UNMASKED).
 *   - The rest of a table page (device registers next to the table) is written to the
 *     hardware by Xen (`msixtbl_write` → `adjacent_write`), never by the device model —
 *     except that `get_adjacent_idx` discards the write when the PBA is on that page too ("MSI-X
 *     table and PBA share a page, discard write to adjacent memory"), and before any pirq is
 *     bound the access goes to QEMU, whose `pci_msix_write` drops what is beyond the table.
 *     A page with the PBA but not the table is read-only (Xen `msix_capability_init` puts the
 *     PBA in `mmio_ro_ranges`): writes to it are not passed on. The PBA itself is read-only.
 *   - Pages without the MSI-X structures are mapped through (no cost).
 * - Configuration space is QEMU's (xen_pt): a write to Message Control
 *   (`xen_pt_msixctrl_reg_write`) with Enable and no Function Mask runs `xen_pt_msix_update`
 *   (every updated entry, with its latched Vector Control), and Enable and Function Mask
 *   reach the physical function (Xen `pci_msi_conf_write_intercept` tracks the guest's
 *   mask-all).
 * - The PBA the guest reads is the device's (Xen's `adjacent_read` on the table page, the
 *   read-only mapping elsewhere): because Xen masks the physical entry, a raise while masked
 *   sets the physical pending bit and the unmask releases it through the pirq.
 * - The device model's own ops (`onDeviceModel`): `bind`, `unbind` (XEN_DOMCTL_unbind_pt_irq),
 *   `mask`; `write-page` is refused — the MSI-X pages are read-only to the device model (the
 *   thread: "If it's running in stubdomain, it would hit the exact issue again (page mapped
 *   R/O to it)"; "QEMU can't be trusted with properly filtering them (and otherwise given
 *   full write access to the page)"), so every byte on a page holding the table or the PBA
 *   is refused, device registers there included (those are Xen's to forward for the guest);
 *   bytes on the BAR's other pages are the device's own registers and reach the hardware.
 *   `signal-msi` is refused: Xen has no KVM_SIGNAL_MSI for an assigned function's vectors
 *   (XEN_DMOP_inject_msi, `hvm_inject_msi`, serves emulated devices and is not modelled).
 *
 * - MSI-X disable (QEMU `xen_pt_msix_disable` → `msi_msix_disable`): every pirq is unbound
 *   and unmapped (PHYSDEVOP_unmap_pirq), so the next enable binds the latched messages anew.
 *
 * Simplifications: Xen's `table_flags` (modified since the last unmask) is read from the
 * device model's `dirty`; after MSI-X disable QEMU clears `updated` (an entry the guest does
 * not rewrite stays unbound after re-enabling), the model keeps the bound entries updated (Linux
 * rewrites every entry when it enables MSI-X); table reads of address and data
 * are charged a round trip (Xen answers some from its shadow, `gentries`); the vector's host
 * IRQ stays on the pCPU it was set up on (`hvm_migrate_pirq` is not modelled).
 *
 * Broken variants:
 * - `xen-broken-mask-unobservable` (pre-2023 Xen, the thread: "Currently Xen sends only
 *   clearing that bit to the device model, but not setting it, so QEMU cannot detect it"):
 *   Vector Control writes Xen intercepts reach the device model only when they unmask a
 *   modified entry, and QEMU has no /dev/mem view of the physical table (a stubdomain or
 *   deprivileged QEMU), so its latch never sees the entry masked again: a guest that masks,
 *   rewrites address/data and unmasks is rebound with the old message.
 * - `xen-broken-mask-handling-inconsistent`: XEN_DOMCTL_bind_pt_irq accepts a MASK_HANDLING
 *   flag that differs from the device's other vectors and then assumes every vector has it:
 *   vectors bound without it are masked by nobody.
 * - `xen-broken-dm-page-write`: the device model is given write access to the whole MSI-X
 *   page; its `write-page` reaches the physical table, so a compromised device model
 *   (stubdomain) programs a message of its choice — with IR off, an interrupt into another
 *   domain's CPU.
 */
import type { Action, ActionOf, GuestAccess } from '../../platform/actions.ts';
import type { PlatformState } from '../../platform/state.ts';
import type { VmmDesign } from '../design.ts';
import type { DeviceModelView, VmmDevice } from '../state.ts';
import { MSIX_ENTRY_BYTES, pbaBytes, splitAccess, type MsixLayout } from '../virtual-msix.ts';
import { bindPirq, cost, deliverPirq, hex, maskHandledByDeviceModel, note, physicallyMasked, physicalMask, unbindPirq, unmapPirq, type BindRules } from './xen-pirq.ts';

/** What distinguishes the Xen variants. */
interface XenRules extends BindRules {
  readonly name: string;
  readonly summary: string;
  readonly source: string;
  readonly broken: boolean;
  /** Every Vector Control write Xen intercepts also reaches the device model (XENFEAT_dm_msix_all_writes). */
  readonly allVectorControlToDm: boolean;
  /** The device model has write access to the MSI-X pages. */
  readonly dmWritesPage: boolean;
}

const PAGE = 0x1000;
const pageOf = (offset: number): number => Math.floor(offset / PAGE);

/** Whether byte `offset` of BAR `bar` is on a page holding part of the table / of the PBA. */
function onTablePage(l: MsixLayout, bar: number, offset: number): boolean {
  return bar === l.tableBar && pageOf(offset) >= pageOf(l.tableOffset) && pageOf(offset) <= pageOf(l.tableOffset + l.entries * MSIX_ENTRY_BYTES - 1);
}
function onPbaPage(l: MsixLayout, bar: number, offset: number): boolean {
  return bar === l.pbaBar && pageOf(offset) >= pageOf(l.pbaOffset) && pageOf(offset) <= pageOf(l.pbaOffset + pbaBytes(l) - 1);
}

/** Xen has registered the function's table (`msixtbl_pt_register`, at the first bind): some vector has a pirq. */
function msixtblRegistered(dev: VmmDevice): boolean {
  return dev.vectors.some((v) => v.hostVector !== undefined);
}

/** Entry `k` has an `msi_desc` (a pirq is mapped): Xen's handler accepts accesses to it. */
function intercepted(dev: VmmDevice, k: number): boolean {
  return dev.vectors[k]?.hostVector !== undefined;
}

/** The device model's ioreq round trip for an access. */
const roundTrip = (what: string): Action => cost('dm-round-trip', `ioreq to the device model: ${what}`);

const describeAccess = (a: GuestAccess): string => `${a.write ? 'write' : 'read'} of ${a.device} BAR${a.bar} ${hex(a.offset)} (${a.size} bytes)`;

/**
 * QEMU's `xen_pt_msix_update_one` for entry `k` (its latch `view`, with the latched Vector
 * Control; `maskall` the Function Mask QEMU knew before the access): the bind it issues, with
 * the MASK_HANDLING flag the vector is bound with (none at first).
 */
function updateOne(dev: VmmDevice, device: string, k: number, view: DeviceModelView, maskall: boolean): Action[] {
  const b = dev.vectors[k];
  if (b === undefined) return [];
  const take = b.hostVector === undefined || b.bound === undefined || maskall || view.masked;
  const msg = take ? { address: view.address, data: view.data } : b.bound!;
  const why = take
    ? b.hostVector === undefined
      ? 'no pirq yet'
      : maskall
        ? 'the function is masked'
        : view.masked
          ? 'the latched Vector Control is masked'
          : 'not bound'
    : 'the latched Vector Control is unmasked: address/data changes deferred';
  return [
    note(`QEMU xen_pt_msix_update_one: ${device} entry ${k} (${why}) → ${take ? 'new' : 'kept'} message ${hex(msg.address)}/${hex(msg.data)}`),
    { kind: 'device-model', domain: dev.domain, device, op: { op: 'bind', entry: k, address: msg.address, data: msg.data, maskHandling: b.maskHandling ?? false } },
    // A kept message leaves the change pending for the next masked → unmasked transition, as
    // QEMU's comment says ("deferred until the next masked -> unmasked transition"); its code
    // clears `updated` after the bind anyway, which loses the change (docs/fidelity.md).
    ...(take ? [] : [{ kind: 'vmm-dm-view', device, entry: k, view: { ...view, dirty: true } } as const]),
  ];
}

/** A write to the table (an aligned DWORD/QWORD the spec defines), dword by dword. */
function tableWrite(rules: XenRules, state: PlatformState, dev: VmmDevice, a: GuestAccess, part: GuestAccess['parts'][number]): { actions: Action[]; toDm: boolean } {
  const device = a.device;
  const l = dev.guest.layout;
  const out: Action[] = [];
  let toDm = false;
  const views = dev.deviceModel.slice();
  for (let d = 0; d < part.size / 4; d++) {
    const at = part.offset + 4 * d - l.tableOffset;
    const k = Math.floor(at / MSIX_ENTRY_BYTES);
    const field = (at % MSIX_ENTRY_BYTES) / 4;
    const view = views[k];
    const b = dev.vectors[k];
    if (view === undefined || b === undefined) continue;
    const dword = Number((part.value >> BigInt(32 * d)) & 0xffff_ffffn) >>> 0;
    const xen = intercepted(dev, k);
    if (field !== 3) {
      // QEMU pci_msix_write: latch the dword; `updated` unless unchanged with a pirq assigned.
      const v = field === 0 ? (dword & ~3) >>> 0 : dword;
      const address = field === 0 ? (view.address & ~0xffff_ffffn) | BigInt(v) : field === 1 ? (view.address & 0xffff_ffffn) | (BigInt(v) << 32n) : view.address;
      const data = field === 2 ? v : view.data;
      const changed = address !== view.address || data !== view.data;
      const next: DeviceModelView = { ...view, address, data, dirty: view.dirty || changed || b.hostVector === undefined };
      views[k] = next;
      toDm = true;
      out.push({ kind: 'vmm-dm-view', device, entry: k, view: next });
      out.push(note(`${xen ? 'msixtbl_write: entry modified (table_flags), passed on; ' : ''}QEMU pci_msix_write: ${device} entry ${k} ${['address', 'upper address', 'data'][field]} ← ${hex(v)}${next.dirty ? ' (updated)' : ''}`));
      continue;
    }
    const masked = (dword & 1) === 1;
    const xenMasks = xen && !maskHandledByDeviceModel(rules, dev, k);
    const defer = xenMasks && !masked && view.dirty;
    const shown = !xen || rules.allVectorControlToDm || (!masked && view.dirty);
    if (xenMasks && !defer) {
      out.push(note(`msixtbl_write: guest_mask_msi_irq(${device} entry ${k}, ${masked ? 'masked' : 'unmasked'})`), ...physicalMask(state, device, k, b, masked, physicallyMasked(state, device, k)));
    } else if (xen && !xenMasks) {
      out.push(note(`msixtbl_write: ${device} entry ${k}'s mask is the device model's (MASK_HANDLING): Xen leaves it`));
    }
    if (defer) out.push(note(`msixtbl_write: unmasking modified ${device} entry ${k}: exit to the device model first (msix_unmask_address)`));
    let bound = false;
    if (shown) {
      toDm = true;
      // QEMU pci_msix_write on Vector Control: update the entry on an unmask of an updated one.
      if (dev.guest.enabled && view.dirty && !masked) {
        out.push(...updateOne(dev, device, k, view, a.before.functionMask));
        bound = true;
      } else if (b.maskHandling === true && b.hostVector !== undefined) {
        out.push(note(`QEMU: ${device} entry ${k} has MASK_HANDLING: xc_domain_update_msi_irq ${masked ? 'without' : 'with'} XEN_DOMCTL_VMSI_X86_UNMASKED`), {
          kind: 'device-model',
          domain: dev.domain,
          device,
          op: { op: 'mask', entry: k, masked },
        });
      } else {
        out.push(note(`QEMU pci_msix_write: ${device} entry ${k} Vector Control ← ${masked ? 1 : 0} latched${!dev.guest.enabled ? ' (MSI-X disabled: no update)' : ''}`));
      }
      const next: DeviceModelView = { ...views[k]!, masked };
      views[k] = next;
      // Before the bind request is answered (it clears `dirty` when it succeeds).
      out.splice(bound ? out.length - 1 : out.length, 0, { kind: 'vmm-dm-view', device, entry: k, view: next });
    } else if (xen) {
      out.push(note(`msixtbl_write: ${device} entry ${k} Vector Control ← ${masked ? 1 : 0} handled by Xen alone: the device model is not told`));
    }
    if (defer && !bound) out.push(note(`msix_write_completion: guest_mask_msi_irq(${device} entry ${k}, unmasked)`), ...physicalMask(state, device, k, b, false, physicallyMasked(state, device, k)));
  }
  return { actions: out, toDm };
}

/** A write to the rest of a page holding the table or the PBA (the device's own registers). */
function pageWrite(dev: VmmDevice, a: GuestAccess, part: GuestAccess['parts'][number]): Action[] {
  const l = dev.guest.layout;
  const where = `${a.device} BAR${a.bar} ${hex(part.offset)} (${part.size} bytes)`;
  if (!onTablePage(l, a.bar, part.offset)) return [note(`${where}: the PBA page is read-only (mmio_ro_ranges): the write is not passed on`)];
  if (!msixtblRegistered(dev)) return [note(`${where}: no pirq bound yet, so the access is QEMU's: pci_msix_write drops a write beyond the table`)];
  if (onPbaPage(l, a.bar, part.offset)) return [note(`msixtbl_write → get_adjacent_idx: ${where}: MSI-X table and PBA share a page, discard write to adjacent memory`)];
  return [
    note(`msixtbl_write → adjacent_write: ${where} passed to the device`),
    { kind: 'device-register-write', device: a.device, bar: a.bar, offset: part.offset, size: part.size, value: part.value, by: 'xen (msixtbl, adjacent registers)' },
  ];
}

/** A write to Message Control (QEMU `xen_pt_msixctrl_reg_write`). */
function configWrite(state: PlatformState, dev: VmmDevice, a: GuestAccess): Action[] {
  const after = dev.guest;
  const before = a.before;
  const out: Action[] = [note(`QEMU xen_pt_msixctrl_reg_write: ${a.device} Message Control: Enable ${after.enabled ? 1 : 0}, Function Mask ${after.functionMask ? 1 : 0}`)];
  if (after.enabled && !after.functionMask) {
    dev.deviceModel.forEach((view, k) => {
      if (view.dirty) out.push(...updateOne(dev, a.device, k, view, before.functionMask));
    });
  }
  if (before.enabled && !after.enabled) {
    // QEMU xen_pt_msix_disable: every pirq unbound and unmapped. (QEMU also clears `updated`, so an entry
    // the guest does not rewrite stays unbound after re-enabling; the model keeps it updated, as Linux
    // rewrites every entry when it enables MSI-X.)
    dev.vectors.forEach((b, k) => {
      if (b.hostVector === undefined) return;
      out.push(...unmapPirq(state, a.device, k));
      const view = dev.deviceModel[k];
      if (view !== undefined && b.bound !== undefined) out.push({ kind: 'vmm-dm-view', device: a.device, entry: k, view: { ...view, dirty: true } });
    });
  }
  const fn = state.devices[a.device]?.msix;
  if (fn !== undefined && (fn.enabled !== after.enabled || fn.functionMask !== after.functionMask)) {
    out.push(note(`pci_msi_conf_write_intercept: ${a.device} physical MSI-X ${after.enabled ? 'enabled' : 'disabled'}${after.functionMask ? ', function masked (guest_maskall)' : ''}`), {
      kind: 'msix-control',
      device: a.device,
      enabled: after.enabled,
      functionMask: after.functionMask,
    });
  }
  return out;
}

function onGuestAccess(rules: XenRules, state: PlatformState, request: ActionOf<'vmm-react'>): Action[] {
  const a = request.access;
  const dev = state.vmm?.devices[a.device];
  if (dev === undefined) return [];
  if (a.space === 'config') {
    const costs: Action[] = [cost('vm-exit', `config ${a.write ? 'write' : 'read'} of ${a.device} ${hex(a.offset)}`), cost('trap', `config space of ${a.device} (xen_pt)`), roundTrip(`config ${hex(a.offset)}`)];
    if (!a.write || a.parts[0]?.region !== 'config') return [...costs, note(`QEMU xen_pt emulates ${a.device} config ${hex(a.offset)}`)];
    return [...costs, ...configWrite(state, dev, a)];
  }
  const l = dev.guest.layout;
  const trapped = a.parts.filter((p) => p.region !== 'direct');
  if (trapped.length === 0) return [];
  // A read of a PBA-only page is through the read-only mapping: no exit.
  if (!a.write && trapped.every((p) => !onTablePage(l, a.bar, p.offset))) return [];
  const registered = msixtblRegistered(dev);
  const handled: Action[] = [];
  // Whether the access reaches the device model: before msixtbl exists everything on the table page does; then table writes Xen passes on, and table reads but Vector Control (Xen's guest_masked).
  let toDm = trapped.some((p) => onTablePage(l, a.bar, p.offset) && !registered);
  for (const p of trapped) {
    if (p.region === 'table') {
      if (!a.write) {
        const at = p.offset - l.tableOffset;
        if ((at % MSIX_ENTRY_BYTES) / 4 !== 3 || p.size !== 4 || !intercepted(dev, Math.floor(at / MSIX_ENTRY_BYTES))) toDm = true;
      } else if (a.written.length === 0) {
        handled.push(note(`${a.device} BAR${a.bar} ${hex(p.offset)}: not an aligned DWORD/QWORD of the table: ignored`));
      } else {
        const w = tableWrite(rules, state, dev, a, p);
        handled.push(...w.actions);
        toDm ||= w.toDm;
      }
    } else if (!a.write) {
      continue;
    } else if (p.region === 'pba') {
      handled.push(note(`${a.device} BAR${a.bar} ${hex(p.offset)}: the PBA is read-only: write ignored`));
    } else {
      handled.push(...pageWrite(dev, a, p));
    }
  }
  return [
    cost('vm-exit', `EPT violation on ${a.device}'s MSI-X page: ${describeAccess(a)}`),
    cost('trap', `msixtbl_mmio_ops: ${describeAccess(a)}`),
    ...(toDm ? [roundTrip(describeAccess(a))] : []),
    ...handled,
  ];
}

function describeDm(state: PlatformState, domain: number): string {
  const where = state.vmm?.deviceModels[domain] ?? 'dom0';
  return where === 'stubdomain' ? `the stubdomain of ${state.domains[domain]?.name ?? domain}` : `dom0's QEMU for ${state.domains[domain]?.name ?? domain}`;
}

function onDeviceModel(rules: XenRules, state: PlatformState, request: ActionOf<'device-model'>): Action[] {
  const { device, op } = request;
  const dev = state.vmm?.devices[device];
  if (dev === undefined) return [];
  switch (op.op) {
    case 'bind':
      return bindPirq(rules, state, device, op.entry, op.address, op.data, op.maskHandling ?? false);
    case 'unbind':
      return unbindPirq(state, device, op.entry);
    case 'mask': {
      const b = dev.vectors[op.entry];
      const head: Action[] = [cost('hypercall', `xc_domain_update_msi_irq ${device} entry ${op.entry} ${op.masked ? 'without' : 'with'} XEN_DOMCTL_VMSI_X86_UNMASKED`)];
      if (b?.hostVector === undefined) return [...head, note(`XEN_DOMCTL_bind_pt_irq: -EINVAL (${device} entry ${op.entry} has no pirq)`)];
      if (maskHandledByDeviceModel(rules, dev, op.entry)) {
        return [...head, note(`MASK_HANDLING: the device model ${op.masked ? 'masks' : 'unmasks'} ${device} entry ${op.entry}: guest_mask_msi_irq`), ...physicalMask(state, device, op.entry, b, op.masked, physicallyMasked(state, device, op.entry))];
      }
      if (b.bound === undefined) return [...head, note(`XEN_DOMCTL_bind_pt_irq: -EINVAL (${device} entry ${op.entry} is not bound)`)];
      if (op.masked) return [...head, note(`pt_irq_create_bind without XEN_DOMCTL_VMSI_X86_UNMASKED leaves ${device} entry ${op.entry}'s mask as it is (Xen handles it)`)];
      return [...head, note(`pt_irq_create_bind with XEN_DOMCTL_VMSI_X86_UNMASKED: guest_mask_msi_irq(${device} entry ${op.entry}, unmasked)`), ...physicalMask(state, device, op.entry, b, false, physicallyMasked(state, device, op.entry))];
    }
    case 'write-page': {
      const who = describeDm(state, request.domain);
      const at = `${device} BAR${op.bar} ${hex(op.offset)} (${op.size} bytes)`;
      if (!(Number.isInteger(op.size) && op.size >= 1 && op.size <= 8 && Number.isInteger(op.offset) && op.offset >= 0 && op.value >= 0n && op.value >> BigInt(8 * op.size) === 0n)) {
        return [note(`${who} writes ${at}: not an access of 1..8 bytes`)];
      }
      const write = (offset: number, size: number, value: bigint): Action => ({ kind: 'device-register-write', device, bar: op.bar, offset, size, value, by: 'device model' });
      if (rules.dmWritesPage) return [note(`${who} has the MSI-X page mapped writable: its write of ${at} reaches the device`), write(op.offset, op.size, op.value)];
      const parts = splitAccess(dev.guest.layout, op.bar, op.offset, op.size, op.value);
      return parts.map((p) =>
        p.region === 'direct'
          ? write(p.offset, p.size, p.value)
          : note(`${who} writes ${device} BAR${op.bar} ${hex(p.offset)} (${p.size} bytes, ${p.region}): write fault: the MSI-X page is read-only to the device model`),
      );
    }
    case 'signal-msi':
      return [note(`${describeDm(state, request.domain)} asks to signal ${hex(op.address)}/${hex(op.data)}: Xen has no such interface for an assigned function's vectors (they reach the guest through bound pirqs only): refused`)];
  }
}

function virtualPending(state: PlatformState, device: string): bigint {
  const pending = state.devices[device]?.msix?.pending ?? [];
  return pending.reduce((bits, k) => bits | (1n << BigInt(k)), 0n);
}

function design(rules: XenRules): VmmDesign {
  return {
    name: rules.name,
    summary: rules.summary,
    source: rules.source,
    broken: rules.broken,
    guestAddressing:
      'the compatibility-format message in the intercepted table: APIC IDs 0–255, 0–32767 with the extended destination ID Xen advertises to HVM guests (XEN_HVM_CPUID_EXT_DEST_ID, Linux arch/x86/xen/enlighten_hvm.c xen_msi_ext_dest_id); more needs a vIOMMU with interrupt remapping',
    onGuestAccess: (state, request) => onGuestAccess(rules, state, request),
    onDeviceInterrupt: (state, r) => deliverPirq(state, r.device, r.entry, r.pcpu, r.hostVector),
    onDeviceModel: (state, request) => onDeviceModel(rules, state, request),
    virtualPending,
  };
}

const SOURCE =
  'Xen xen/arch/x86/hvm/vmsi.c (msixtbl_range, msixtbl_read, msixtbl_write, _msixtbl_write, get_adjacent_idx, adjacent_write, vmsi_deliver_pirq), ' +
  'xen/drivers/passthrough/x86/hvm.c (pt_irq_create_bind, pt_irq_destroy_bind), xen/include/public/domctl.h (XEN_DOMCTL_bind_pt_irq gflags); ' +
  'QEMU hw/xen/xen_pt_msi.c (pci_msix_write, xen_pt_msix_update_one, msi_msix_setup, msi_msix_update), hw/xen/xen_pt_config_init.c (xen_pt_msixctrl_reg_write); ' +
  'seed thread 004 (xen-devel, "x86/msi: passthrough all MSI-X vector ctrl writes to device model", March 2023)';

export const xen = design({
  name: 'xen',
  summary: 'Xen intercepts the MSI-X table and masks physical entries itself, passing every table write to QEMU, which binds pirqs (XEN_DOMCTL_bind_pt_irq, posted when single-vCPU); adjacent registers forwarded by Xen; the PBA is the hardware\'s',
  source: SOURCE,
  broken: false,
  allVectorControlToDm: true,
  maskHandlingConsistency: 'refuse',
  dmWritesPage: false,
});

export const xenBrokenMaskUnobservable = design({
  name: 'xen-broken-mask-unobservable',
  summary: 'pre-2023 Xen: only unmasks of modified entries reach the device model, whose latch never sees the entry masked again: a mask, address/data rewrite, unmask keeps the old message',
  source: `${SOURCE}; the thread: "Currently Xen sends only clearing that bit to the device model, but not setting it, so QEMU cannot detect it"`,
  broken: true,
  allVectorControlToDm: false,
  maskHandlingConsistency: 'refuse',
  dmWritesPage: false,
});

export const xenBrokenMaskHandlingInconsistent = design({
  name: 'xen-broken-mask-handling-inconsistent',
  summary: 'XEN_DOMCTL_bind_pt_irq accepts a MASK_HANDLING flag inconsistent across a device\'s vectors and assumes all have it: vectors bound without it are masked by nobody',
  source: `${SOURCE}; the thread: "if one vector has XEN_DOMCTL_VMSI_X86_MASK_HANDLING, then assume all of them will have it" — "I would just return -EINVAL if the flag is not consistent"`,
  broken: true,
  allVectorControlToDm: true,
  maskHandlingConsistency: 'assume-any',
  dmWritesPage: false,
});

export const xenBrokenDmPageWrite = design({
  name: 'xen-broken-dm-page-write',
  summary: 'the device model gets write access to the whole MSI-X page: a compromised one (stubdomain) rewrites the physical table',
  source: `${SOURCE}; the thread: "QEMU can't be trusted with properly filtering them (and otherwise given full write access to the page)"`,
  broken: true,
  allVectorControlToDm: true,
  maskHandlingConsistency: 'refuse',
  dmWritesPage: true,
});

export const XEN_DESIGNS: readonly VmmDesign[] = [xen, xenBrokenMaskUnobservable, xenBrokenMaskHandlingInconsistent, xenBrokenDmPageWrite];
