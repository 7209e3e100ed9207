/**
 * The VMM layer's primitive operations (src/vmm): the guest's view, the VMM's per-vector
 * bookkeeping, host vectors taken by the VMM, KVM's GSI routing table, costs, and writes
 * that reach a function's BAR in hardware.
 */
import type { Draft } from 'immer';
import type { PciFunction, PlatformState } from './state.ts';
import type { VmmDevice } from '../vmm/state.ts';
import { deviceOrReject, type Handler } from './transition.ts';
import { msiPairKey } from './msi-validation.ts';
import { hexDigits } from '../bits/bits.ts';
import { releasePending } from '../pci/msi-capability.ts';
import { MSIX_ENTRY_BYTES, regionOf } from '../vmm/virtual-msix.ts';

export type VmmKind = 'vmm-guest-view' | 'vmm-access' | 'vmm-binding' | 'vmm-dm-view' | 'vmm-pending' | 'vmm-ims-slot' | 'vmm-host-vector' | 'kvm-route' | 'vmm-cost' | 'vmm-note' | 'device-register-write' | 'ims-signal' | 'msi-assign';

function vmmDevice(draft: Draft<PlatformState>, device: string): Draft<VmmDevice> | undefined {
  return draft.vmm?.devices[device];
}

const h = (n: number): string => `0x${n.toString(16)}`;

/**
 * A write into the function's IMS store (state.vmm.devices[d].ims, IDXD's slot format: address
 * low/high, data, control bit 0 mask) lands in the physical slot, whoever writes it; only
 * aligned DWORD/QWORD writes within the store (as the MSI-X table's, PCI spec §6.8.2).
 */
function landInIms(draft: Draft<PlatformState>, before: PlatformState, a: { device: string; bar: number; offset: number; size: number; value: bigint }): void {
  const ims = before.vmm?.devices[a.device]?.ims;
  const store = draft.vmm?.devices[a.device]?.ims;
  if (ims === undefined || store === undefined || a.bar !== ims.layout.bar || !((a.size === 4 || a.size === 8) && a.offset % a.size === 0)) return;
  for (let d = 0; d < a.size / 4; d++) {
    const at = a.offset + 4 * d - ims.layout.offset;
    const k = Math.floor(at / MSIX_ENTRY_BYTES);
    const e = store.physical[k];
    if (at < 0 || e === undefined) continue;
    const dword = Number((a.value >> BigInt(32 * d)) & 0xffff_ffffn) >>> 0;
    const field = (at % MSIX_ENTRY_BYTES) / 4;
    if (field === 0) e.address = (e.address & ~0xffff_ffffn) | BigInt((dword & ~3) >>> 0);
    else if (field === 1) e.address = (e.address & 0xffff_ffffn) | (BigInt(dword) << 32n);
    else if (field === 2) e.data = dword;
    else e.masked = (dword & 1) === 1;
  }
}

export const vmmHandlers: { [K in VmmKind]: Handler<K> } = {
  'vmm-guest-view'(draft, a, emit) {
    const d = vmmDevice(draft, a.device);
    if (d === undefined) return void emit({ kind: 'action-rejected', why: `${a.device} is not managed by the VMM` });
    d.guest = a.guest as Draft<typeof a.guest>;
  },

  'vmm-access'(_draft, a, emit) {
    const x = a.access;
    emit({ kind: 'guest-access', device: x.device, space: x.space, write: x.write, bar: x.bar, offset: x.offset, size: x.size, value: x.value, regions: x.parts.map((p) => p.region), written: x.written, unmasked: x.unmasked, masked: x.masked });
  },

  'vmm-binding'(draft, a, emit) {
    const d = vmmDevice(draft, a.device);
    if (d === undefined || a.entry >= d.vectors.length || a.entry < 0) return void emit({ kind: 'action-rejected', why: `${a.device} has no VMM vector ${a.entry}` });
    d.vectors[a.entry] = a.binding as Draft<typeof a.binding>;
  },

  'vmm-dm-view'(draft, a, emit) {
    const d = vmmDevice(draft, a.device);
    if (d === undefined || a.entry >= d.deviceModel.length || a.entry < 0) return void emit({ kind: 'action-rejected', why: `${a.device} has no VMM vector ${a.entry}` });
    d.deviceModel[a.entry] = a.view as Draft<typeof a.view>;
  },

  'vmm-pending'(draft, a, emit) {
    const d = vmmDevice(draft, a.device);
    if (d === undefined || a.entry >= d.vectors.length || a.entry < 0) return void emit({ kind: 'action-rejected', why: `${a.device} has no VMM vector ${a.entry}` });
    const bit = 1n << BigInt(a.entry);
    d.pending = a.pending ? d.pending | bit : d.pending & ~bit;
  },

  'vmm-ims-slot'(draft, a, emit) {
    const ims = vmmDevice(draft, a.device)?.ims;
    if (ims === undefined || !(Number.isInteger(a.slot) && a.slot >= 0 && a.slot < ims.layout.slots)) return void emit({ kind: 'action-rejected', why: `${a.device} has no IMS slot ${a.slot}` });
    if (a.guest !== undefined) ims.guest = a.guest as Draft<typeof a.guest>;
    if (a.binding !== undefined) ims.vectors[a.slot] = a.binding as Draft<typeof a.binding>;
  },

  'vmm-host-vector'(draft, a, emit) {
    if (draft.vmm === undefined) return void emit({ kind: 'action-rejected', why: 'no VMM' });
    if (a.target === undefined) delete draft.vmm.hostVectors[a.hostVector];
    else draft.vmm.hostVectors[a.hostVector] = a.target;
  },

  'kvm-route'(draft, a, emit, before) {
    const vmm = before.vmm;
    if (vmm === undefined || draft.vmm === undefined) return void emit({ kind: 'action-rejected', why: 'no VMM' });
    const table = vmm.kvm;
    const used = table.used;
    const exists = table.routes[a.gsi] !== undefined;
    if (a.route === undefined) {
      if (!exists) return;
      delete draft.vmm.kvm.routes[a.gsi];
      draft.vmm.kvm.used = used - 1;
      return void emit({ kind: 'kvm-routing', gsi: a.gsi, change: 'remove', address: undefined, data: undefined, used: used - 1, capacity: table.capacity });
    }
    if (!exists && (used >= table.capacity || a.gsi < table.firstMsiGsi || a.gsi >= table.firstMsiGsi + table.capacity)) {
      return void emit({ kind: 'kvm-routing', gsi: a.gsi, change: 'full', address: a.route.address, data: a.route.data, used, capacity: table.capacity });
    }
    draft.vmm.kvm.routes[a.gsi] = a.route;
    if (!exists) draft.vmm.kvm.used = used + 1;
    emit({ kind: 'kvm-routing', gsi: a.gsi, change: exists ? 'update' : 'add', address: a.route.address, data: a.route.data, used: exists ? used : used + 1, capacity: table.capacity });
  },

  'vmm-cost'(_draft, a, emit) {
    emit({ kind: 'vmm-cost', cost: a.cost, detail: a.detail });
  },

  'vmm-note'(_draft, a, emit, before) {
    emit({ kind: 'vmm', design: before.vmm?.design ?? 'none', note: a.note });
  },

  'device-register-write'(draft, a, emit, before) {
    const fn = deviceOrReject(before, a.device, emit);
    if (!fn) return;
    const layout = before.vmm?.devices[a.device]?.guest.layout;
    const inTable = layout !== undefined && fn.msix !== undefined && regionOf(layout, a.bar, a.offset) === 'table';
    emit({ kind: 'device-register', device: a.device, bar: a.bar, offset: a.offset, size: a.size, value: a.value, by: a.by, msixTable: inTable });
    landInIms(draft, before, a);
    if (!inTable || fn.msix === undefined) return;
    // The physical table has the same layout as the guest's (vfio-pci does not relocate it):
    // an aligned DWORD/QWORD lands in the entry's fields as on the device (PCI spec §6.8.2).
    if (!((a.size === 4 || a.size === 8) && a.offset % a.size === 0)) return;
    const table = fn.msix.table.slice();
    for (let d = 0; d < a.size / 4; d++) {
      const at = a.offset + 4 * d - layout.tableOffset;
      const k = Math.floor(at / MSIX_ENTRY_BYTES);
      const e = table[k];
      if (e === undefined) continue;
      const dword = Number((a.value >> BigInt(32 * d)) & 0xffff_ffffn) >>> 0;
      const field = (at % MSIX_ENTRY_BYTES) / 4;
      table[k] =
        field === 0
          ? { ...e, address: (e.address & ~0xffff_ffffn) | BigInt((dword & ~3) >>> 0) }
          : field === 1
            ? { ...e, address: (e.address & 0xffff_ffffn) | (BigInt(dword) << 32n) }
            : field === 2
              ? { ...e, data: dword }
              : { ...e, masked: (dword & 1) === 1 };
    }
    const released = releasePending({ ...fn, msix: { ...fn.msix, table } });
    draft.devices[a.device] = released.fn as Draft<PciFunction>;
    emit({ kind: 'msi-config', device: a.device, change: `physical MSI-X table ← ${hexDigits(a.value, a.size * 2)} at BAR${a.bar} offset ${h(a.offset)} by ${a.by}` });
    return released.messages.map((m) => ({ fn: released.fn, rid: released.fn.rid, address: m.address, data: m.data }));
  },

  'ims-signal'(_draft, a, emit, before) {
    const fn = deviceOrReject(before, a.device, emit);
    if (!fn) return;
    const ims = before.vmm?.devices[a.device]?.ims;
    const slot = ims?.physical[a.slot];
    if (ims === undefined || slot === undefined || !Number.isInteger(a.slot)) return void emit({ kind: 'action-rejected', why: `${a.device} has no IMS slot ${a.slot}${ims === undefined ? ' (no IMS store: devices[].ims, and a VMM managing the function)' : ''}` });
    emit({ kind: 'ims-raised', device: a.device, slot: a.slot, masked: slot.masked, address: slot.address, data: slot.data });
    if (slot.masked) return;
    return [{ fn, rid: fn.rid, address: slot.address, data: slot.data >>> 0 }];
  },

  'msi-assign'(draft, a, _emit, before) {
    // Host-bridge MSI validation off: nothing to record (the mode costs nothing).
    const v = draft.interrupts.msiValidation;
    const rid = before.devices[a.device]?.busRid;
    if (v === undefined || rid === undefined) return;
    const entries = (v.assigned[a.device] ??= {});
    const old = entries[a.entry];
    entries[a.entry] = { address: a.address, data: a.data >>> 0 };
    // The bridge's per-requester index, changed key by key in the draft.
    const counts = ((v.byRequester ??= {})[rid] ??= {});
    if (old !== undefined) {
      const k = msiPairKey(old.address, old.data);
      if ((counts[k] ?? 0) <= 1) delete counts[k];
      else counts[k] = counts[k]! - 1;
    }
    const k = msiPairKey(a.address, a.data);
    counts[k] = (counts[k] ?? 0) + 1;
  },
};
