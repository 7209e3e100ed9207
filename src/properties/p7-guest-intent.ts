/**
 * P7 Guest intent (the VMM layer, src/vmm): every interrupt the guest's virtual programming
 * asks for reaches the vCPU and vector the guest named, exactly once; one raised while the
 * guest masks it is pending and is delivered when the guest unmasks it; nothing the guest did
 * not ask for arrives. P1 catches forgeries (an interrupt nobody was granted); P7 catches the
 * functional bugs of a VMM design — lost, duplicated, misdirected and spurious interrupts, a
 * pending bit the guest cannot see, a pending vector never delivered.
 *
 * The semantics are the PCI spec's for MSI-X (PCI Local Bus Spec 3.0 §6.8.2.9 and §6.8.3.4:
 * a function that signals a masked vector sets its Pending bit instead of sending; when the
 * vector is unmasked while its Pending bit is set, the function sends the message and clears
 * the bit), read against the guest's view (src/vmm/virtual-msix.ts) as QEMU's emulated MSI-X
 * does (hw/pci/msix.c `msix_notify`: masked → `msix_set_pending`; `msix_handle_mask_update`:
 * unmasked and `msix_is_pending` → `msix_clr_pending`, `msix_notify`).
 *
 * Judged per action from its events and the state after it (the transition drains the whole
 * chain synchronously, so a design must deliver within the action):
 *
 * - a `device-raised {device, entry}` of an entry the guest left unmasked asks for the
 *   message of the guest's entry (src/vmm/guest-message.ts): a fixed message one arrival at
 *   each recipient vCPU with the guest's vector, a lowest-priority one exactly one arrival at
 *   one of its targets. A message that cannot be delivered (not in the interrupt window,
 *   remappable format, a delivery mode not modelled, a destination naming no vCPU of the guest,
 *   a vector below 16, which a local APIC refuses as illegal, SDM Vol. 3 §10.5.3) asks for
 *   nothing;
 * - a raise of an entry the guest masks (its Mask bit or the Function Mask, MSI-X enabled)
 *   asks for no arrival and for the entry's Pending bit as the guest reads the PBA after the
 *   action (the design's `virtualPending`). With MSI-X disabled the function may not use
 *   MSI-X at all (§6.8.2.3): the raise asks for nothing, pending or not;
 * - a `guest-access` that unmasks an entry whose Pending bit was set (`unmasked[].pending`)
 *   asks for the entry's message (as above, from the guest's new view) and for the Pending bit
 *   to be clear after the action — unless the message cannot be delivered: a VMM cannot send a
 *   message to nowhere on the guest's behalf (the physical entry holds the host's message, not
 *   the guest's), so its bit may stay;
 * - arrivals attributed to a device the VMM manages: `interrupt-posted` events of the device
 *   (the vCPU whose PID is at the event's PDA, the virtual vector; a posting suppressed by ON
 *   or SN still reached the PIR) and `interrupt-injected` events of the device (by the
 *   hypervisor or by the device model, KVM_SIGNAL_MSI). Every arrival no obligation of the
 *   action accounts for is spurious; every obligation no arrival meets is lost.
 *
 * Arrivals are matched to obligations as a bipartite matching (same vector, a vCPU the
 * obligation names); what is left over is reported as a wrong vector (an arrival at a named
 * vCPU with another vector), a wrong vCPU (the vector at a vCPU not named), lost or spurious.
 *
 * An entry whose Message Address or Data the guest changed while it was unmasked has an
 * undefined message until the guest next unmasks it (PCI spec §6.8.3.5: "If software changes
 * the Address or Data value of an entry while the entry is unmasked, the result is
 * undefined"; QEMU's xen_pt defers such changes to the next masked → unmasked transition of
 * the entry's own Mask bit, `xen_pt_msix_update_one`, and QEMU's vfio applies a message at
 * `vfio_msix_vector_use`): a raise of it, or the delivery of its pending interrupt when an
 * unmask by the Function Mask or MSI-X Enable releases it, is not judged. Which
 * entries are in that state is the one thing P7 remembers across actions
 * ({@link GuestIntentMemory}, {@link rememberGuestIntent}), as P6 keeps its tally.
 *
 * A hypercall the design accepted (`paravirt-hcall`'s `set-interrupt`: POWER RTAS
 * `ibm,change-msi`, QEMU hw/ppc/spapr_pci.c `rtas_ibm_change_msi`) is the guest's intent for
 * the entry it sets up, as a trapped table write would be: the design puts what the guest asked
 * into the guest's view (`vmm-guest-view`) with no guest access. So in an action with a
 * `hypercall` cost, every entry of a device without a `guest-access` in that action that was
 * masked in the view before the action (as P7 remembers it: the view and PBA after the previous
 * action, {@link GuestIntentMemory} `views`; before any action, the reset state — every entry
 * masked, nothing pending) and is unmasked after it counts as an unmask by the guest: with its
 * Pending bit set before, it asks for the message of the new view and for the bit to be clear
 * after (the function sends a pending message when the entry is unmasked, PCI spec §6.8.3.4).
 * The hypervisor programs the message itself, so it is committed (never undefined) — unlike a
 * guest's write to an unmasked entry.
 *
 * A device whose guest's device model is an adversary (`check.adversary.deviceModel`) is not
 * judged: its device model belongs to the guest and may break its own guest. Not applicable
 * (no violations) without a VMM (`state.vmm` undefined). Read by properties only: it takes
 * events and state and changes nothing.
 */
import type { GuestAccessEvent, InterruptInjectedEvent, InterruptPostedEvent, PlatformEvent } from '../platform/events.ts';
import type { PlatformState, Vcpu } from '../platform/state.ts';
import { vcpuAt, vcpuList } from '../platform/vcpu-table.ts';
import { guestMessage } from '../vmm/guest-message.ts';
import { vmmDesignNamed } from '../vmm/index.ts';
import { entryAddress, guestMasked, MSIX_ENTRY_BYTES, resetVirtualMsix, type VirtualMsix } from '../vmm/virtual-msix.ts';

/** What went wrong (the message says it in words). */
export type P7Kind = 'lost' | 'wrong-vector' | 'wrong-vcpu' | 'spurious' | 'not-pending' | 'pending-not-cleared' | 'not-delivered-on-unmask';

export interface P7Violation {
  readonly property: 'P7';
  readonly step: number;
  readonly message: string;
  readonly device: string;
  /** The MSI-X entry concerned; undefined for a spurious arrival that no entry explains. */
  readonly entry: number | undefined;
  readonly kind: P7Kind;
}

/** What P7 remembers across actions (see the module comment). */
export interface GuestIntentMemory {
  /**
   * The entries (keys `device/entry`) whose address or data the guest changed while they were
   * unmasked, since it last unmasked them: their message is undefined.
   */
  readonly undefinedMessages: ReadonlySet<string>;
  /**
   * Per VMM-managed function (canonical BDF): its guest view and the PBA as the guest reads it
   * (bit k = entry k, the design's `virtualPending`) after the last action — what a hypercall
   * changed is read against it. Absent: the reset state (every entry masked, nothing pending).
   */
  readonly views: Readonly<Record<string, { readonly guest: VirtualMsix; readonly pending: bigint }>>;
}

/** The memory of a run before any action. */
export const NO_GUEST_INTENT_MEMORY: GuestIntentMemory = { undefinedMessages: new Set(), views: {} };

const memoryKey = (device: string, entry: number): string => `${device}/${entry}`;

/** The table dwords (entry, field 0–3) an MMIO write event wrote (only an access the guest's table took: `written` non-empty). */
function writtenFields(e: GuestAccessEvent, view: VirtualMsix): { entry: number; field: number }[] {
  if (e.space !== 'mmio' || !e.write || e.written.length === 0) return [];
  const out: { entry: number; field: number }[] = [];
  for (let d = 0; d < e.size / 4; d++) {
    const at = e.offset + 4 * d - view.layout.tableOffset;
    const k = Math.floor(at / MSIX_ENTRY_BYTES);
    if (e.written.includes(k)) out.push({ entry: k, field: (at % MSIX_ENTRY_BYTES) / 4 });
  }
  return out;
}

/**
 * Whether access `e` commits entry `k`'s message: it unmasks the entry by writing its own
 * Vector Control (the masked → unmasked transition QEMU's xen_pt waits for; an unmask by the
 * Function Mask or MSI-X Enable leaves a deferred change deferred there, so it does not count).
 */
function commits(e: GuestAccessEvent, view: VirtualMsix, k: number): boolean {
  return e.unmasked.some((u) => u.entry === k) && writtenFields(e, view).some((w) => w.entry === k && w.field === 3);
}

/** The view and PBA of `device` before the action, as `memory` remembers them (the reset state when it does not). */
function viewBefore(memory: GuestIntentMemory, state: PlatformState, device: string): { readonly guest: VirtualMsix; readonly pending: bigint } | undefined {
  const known = memory.views[device];
  if (known !== undefined) return known;
  const d = state.vmm?.devices[device];
  return d === undefined ? undefined : { guest: resetVirtualMsix(d.guest.layout), pending: 0n };
}

/**
 * The entries of each device that an accepted hypercall of this action set up (see the module
 * comment): an action with a `hypercall` cost, a device without a `guest-access` in it, whose
 * entry's message or mask differs from the view before. `unmasked`: masked before, unmasked
 * after, with the Pending bit before.
 */
function hypercallChanges(memory: GuestIntentMemory, state: PlatformState, events: readonly PlatformEvent[]): { device: string; step: number; changed: number[]; unmasked: { entry: number; pending: boolean }[] }[] {
  const call = events.find((e) => e.kind === 'vmm-cost' && e.cost === 'hypercall');
  if (call === undefined || state.vmm === undefined) return [];
  const accessed = new Set(events.flatMap((e) => (e.kind === 'guest-access' ? [e.device] : [])));
  const out: { device: string; step: number; changed: number[]; unmasked: { entry: number; pending: boolean }[] }[] = [];
  for (const [device, d] of Object.entries(state.vmm.devices)) {
    const before = viewBefore(memory, state, device)!;
    if (accessed.has(device) || before.guest === d.guest) continue;
    const changed: number[] = [];
    const unmasked: { entry: number; pending: boolean }[] = [];
    d.guest.table.forEach((e, k) => {
      const b = before.guest.table[k];
      const wasMasked = guestMasked(before.guest, k);
      const nowMasked = guestMasked(d.guest, k);
      if (b === undefined || b.addressLow !== e.addressLow || b.addressHigh !== e.addressHigh || b.data !== e.data || wasMasked !== nowMasked) changed.push(k);
      if (wasMasked && !nowMasked) unmasked.push({ entry: k, pending: ((before.pending >> BigInt(k)) & 1n) === 1n });
    });
    if (changed.length > 0) out.push({ device, step: call.step, changed, unmasked });
  }
  return out;
}

/**
 * The memory after an action: `memory` before it, updated from the action's `guest-access`
 * events read against `state` after it. An unmask through the entry's own Vector Control
 * clears an entry; a table write of an entry's address or data dwords while the entry was
 * unmasked (its effective mask before the access: Mask bit, Function Mask, MSI-X Enable) adds
 * it; an entry an accepted hypercall set up is committed (cleared). The views and PBAs of the
 * VMM-managed functions after the action are kept (`virtualPending`: the PBA as the guest reads
 * it, default the design's). Pure.
 */
export function rememberGuestIntent(memory: GuestIntentMemory, state: PlatformState, events: readonly PlatformEvent[], virtualPending?: (state: PlatformState, device: string) => bigint): GuestIntentMemory {
  let out: Set<string> | undefined;
  const keys = (): ReadonlySet<string> => out ?? memory.undefinedMessages;
  const set = (): Set<string> => (out ??= new Set(memory.undefinedMessages));
  for (const e of events) {
    if (e.kind !== 'guest-access') continue;
    const view = state.vmm?.devices[e.device]?.guest;
    if (view === undefined) continue;
    for (const u of e.unmasked) if (keys().has(memoryKey(e.device, u.entry)) && commits(e, view, u.entry)) set().delete(memoryKey(e.device, u.entry));
    for (const w of writtenFields(e, view)) {
      if (w.field === 3) continue;
      const maskedBefore = e.unmasked.some((u) => u.entry === w.entry) ? true : e.masked.includes(w.entry) ? false : guestMasked(view, w.entry);
      if (!maskedBefore) set().add(memoryKey(e.device, w.entry));
    }
  }
  for (const c of hypercallChanges(memory, state, events)) for (const k of c.changed) if (keys().has(memoryKey(c.device, k))) set().delete(memoryKey(c.device, k));
  const vmm = state.vmm;
  let views: Record<string, { guest: VirtualMsix; pending: bigint }> | undefined;
  if (vmm !== undefined) {
    const pendingOf = virtualPending ?? ((s: PlatformState, device: string) => vmmDesignNamed(vmm.design).virtualPending(s, device));
    for (const [device, d] of Object.entries(vmm.devices)) {
      const known = memory.views[device];
      const pending = pendingOf(state, device);
      if (known !== undefined && known.guest === d.guest && known.pending === pending) continue;
      (views ??= { ...memory.views })[device] = { guest: d.guest, pending };
    }
  }
  return out === undefined && views === undefined ? memory : { undefinedMessages: out ?? memory.undefinedMessages, views: views ?? memory.views };
}

/** Options of {@link checkGuestIntent}. */
export interface GuestIntentOptions {
  /** The memory before the action (default: nothing remembered). */
  readonly memory?: GuestIntentMemory;
  /** Domains whose device model is an adversary: their devices are not judged. */
  readonly untrustedDeviceModels?: ReadonlySet<number>;
  /** The PBA as the guest reads it (default: the design's `virtualPending`); tests replace it. */
  readonly virtualPending?: (state: PlatformState, device: string) => bigint;
}

/** What one raise or unmask asks for. */
interface Obligation {
  /** The action's step (from the event that made it). */
  readonly step: number;
  readonly device: string;
  readonly entry: number;
  /** `set-up`: an accepted hypercall unmasked the entry in the guest's view (see the module comment). */
  readonly cause: 'raised' | 'unmasked' | 'set-up';
  /** Vector and vCPUs (all of them for fixed, one of them for lowest priority); undefined: no arrival. */
  readonly wants: { readonly vector: number; readonly vcpus: readonly Vcpu[]; readonly oneOf: boolean } | undefined;
  /** Why it asks for no arrival (with `wants` undefined). */
  readonly nothing: string | undefined;
}

/** One interrupt that reached a vCPU on behalf of a device. */
interface Arrival {
  readonly vcpu: Vcpu | undefined;
  readonly vector: number;
  readonly how: string;
  readonly event: InterruptPostedEvent | InterruptInjectedEvent;
}

/** One expected arrival: a slot the matching fills. */
interface Slot {
  readonly obligation: Obligation;
  readonly vector: number;
  readonly vcpus: readonly Vcpu[];
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

function vcpuName(state: PlatformState, v: Vcpu | undefined): string {
  return v === undefined ? 'no vCPU' : `${state.domains[v.domain]?.name ?? `domain ${v.domain}`}.vcpu${v.index}`;
}

/** Why the guest masks entry `k` of `v` (its Mask bit, the Function Mask), or undefined. */
function maskReason(v: VirtualMsix, k: number): string | undefined {
  const e = v.table[k]!;
  if (v.functionMask) return 'Function Mask';
  if ((e.control & 1) !== 0) return 'its Mask bit';
  return undefined;
}

/** What entry `k` of `device`'s guest view asks for when it fires (see the module comment). */
function asks(state: PlatformState, step: number, device: string, k: number, cause: Obligation['cause']): Obligation {
  const d = state.vmm!.devices[device]!;
  const e = d.guest.table[k]!;
  const m = guestMessage(state, d.domain, entryAddress(e), e.data);
  if (!m.deliverable) return { step, device, entry: k, cause, wants: undefined, nothing: `the guest's entry asks for nothing deliverable: ${m.why}` };
  if (m.vector < 16) return { step, device, entry: k, cause, wants: undefined, nothing: `the guest's entry names vector ${hex(m.vector)}, below 16, which a local APIC refuses as illegal` };
  const oneOf = m.deliveryMode === 1;
  return { step, device, entry: k, cause, wants: { vector: m.vector, vcpus: oneOf ? m.targets : m.recipients, oneOf }, nothing: undefined };
}

function describeWant(state: PlatformState, o: Obligation): string {
  const w = o.wants!;
  return w.oneOf ? `vector ${hex(w.vector)} for one of ${w.vcpus.map((v) => vcpuName(state, v)).join(', ')} (lowest priority)` : `vector ${hex(w.vector)} for ${w.vcpus.map((v) => vcpuName(state, v)).join(', ')}`;
}

function describeArrival(state: PlatformState, a: Arrival): string {
  return `${hex(a.vector)} at ${vcpuName(state, a.vcpu)} (${a.how})`;
}

/** The entry of `device` whose posted IRTE `e` went through, when the VMM's bookkeeping says. */
function postedEntry(state: PlatformState, device: string, e: InterruptPostedEvent): number | undefined {
  const k = state.vmm!.devices[device]!.vectors.findIndex((b) => b.irte !== undefined && b.irte.iommu === e.iommu && b.irte.index === e.irteIndex);
  return k < 0 ? undefined : k;
}

/**
 * Maximum bipartite matching of `slots` to `arrivals` (same vector, a vCPU the slot names),
 * by augmenting paths in slot order: deterministic, and small (a step's arrivals).
 * @returns for each slot the index of its arrival, or -1
 */
function match(slots: readonly Slot[], arrivals: readonly Arrival[]): number[] {
  const fits = (s: Slot, a: Arrival): boolean => a.vector === s.vector && a.vcpu !== undefined && s.vcpus.some((v) => v.id === a.vcpu!.id);
  const bySlot = slots.map(() => -1);
  const byArrival = arrivals.map(() => -1);
  const augment = (s: number, seen: Set<number>): boolean => {
    for (let a = 0; a < arrivals.length; a++) {
      if (seen.has(a) || !fits(slots[s]!, arrivals[a]!)) continue;
      seen.add(a);
      if (byArrival[a] === -1 || augment(byArrival[a]!, seen)) {
        bySlot[s] = a;
        byArrival[a] = s;
        return true;
      }
    }
    return false;
  };
  for (let s = 0; s < slots.length; s++) augment(s, new Set());
  return bySlot;
}

/**
 * P7 violations of one action: its `events` against `state` after it (see the module
 * comment). Not applicable without a VMM (returns []).
 */
export function checkGuestIntent(state: PlatformState, events: readonly PlatformEvent[], options: GuestIntentOptions = {}): P7Violation[] {
  const vmm = state.vmm;
  if (vmm === undefined) return [];
  const memory = options.memory ?? NO_GUEST_INTENT_MEMORY;
  // A raise of an entry whose message the guest left undefined: the device is not judged in this action.
  const undefinedMessage = new Set<string>();
  for (const e of events) {
    const view = e.kind === 'device-raised' || e.kind === 'guest-access' ? vmm.devices[e.device]?.guest : undefined;
    if (view === undefined) continue;
    if (e.kind === 'device-raised' && memory.undefinedMessages.has(memoryKey(e.device, e.entry)) && !guestMasked(view, e.entry)) undefinedMessage.add(e.device);
    if (e.kind === 'guest-access' && e.unmasked.some((u) => u.pending && memory.undefinedMessages.has(memoryKey(e.device, u.entry)) && !commits(e, view, u.entry))) undefinedMessage.add(e.device);
  }
  const judged = (device: string): boolean => {
    const d = vmm.devices[device];
    return d !== undefined && !(options.untrustedDeviceModels?.has(d.domain) ?? false) && !undefinedMessage.has(device);
  };
  const pendingOf = options.virtualPending ?? ((s: PlatformState, device: string) => vmmDesignNamed(vmm.design).virtualPending(s, device));
  const obligations = new Map<string, Obligation[]>();
  const arrivals = new Map<string, Arrival[]>();
  const out: P7Violation[] = [];
  const add = <T>(m: Map<string, T[]>, device: string, x: T): void => void (m.get(device) ?? m.set(device, []).get(device)!).push(x);
  const isPending = (device: string, k: number): boolean => ((pendingOf(state, device) >> BigInt(k)) & 1n) === 1n;
  const pdaOwners = new Map<bigint, Vcpu>();
  if (events.some((e) => e.kind === 'interrupt-posted')) for (const v of vcpuList(state.vcpus)) pdaOwners.set(v.pda, v);

  for (const e of events) {
    if (e.kind === 'device-raised' && judged(e.device)) {
      const view = vmm.devices[e.device]!.guest;
      if (!(Number.isInteger(e.entry) && e.entry >= 0 && e.entry < view.table.length)) {
        add(obligations, e.device, { step: e.step, device: e.device, entry: e.entry, cause: 'raised', wants: undefined, nothing: `the function has no entry ${e.entry}` });
        continue;
      }
      if (!view.enabled) {
        add(obligations, e.device, { step: e.step, device: e.device, entry: e.entry, cause: 'raised', wants: undefined, nothing: "the guest's MSI-X is disabled" });
        continue;
      }
      const masked = maskReason(view, e.entry);
      if (masked !== undefined) {
        add(obligations, e.device, { step: e.step, device: e.device, entry: e.entry, cause: 'raised', wants: undefined, nothing: `the guest masks it (${masked})` });
        if (!isPending(e.device, e.entry)) {
          out.push({ property: 'P7', step: e.step, device: e.device, entry: e.entry, kind: 'not-pending', message: `${e.device} raised entry ${e.entry} while the guest masks it (${masked}): its Pending bit is not set (the guest's PBA reads ${hex(pendingOf(state, e.device))})` });
        }
        continue;
      }
      add(obligations, e.device, asks(state, e.step, e.device, e.entry, 'raised'));
    } else if (e.kind === 'guest-access' && judged(e.device)) {
      for (const u of e.unmasked) {
        if (!u.pending) continue;
        const o = asks(state, e.step, e.device, u.entry, 'unmasked');
        add(obligations, e.device, o);
        // A message to nowhere cannot be sent by the host on the guest's behalf (the physical entry keeps the host's message): its bit may stay.
        if (o.wants !== undefined && isPending(e.device, u.entry)) {
          out.push({ property: 'P7', step: e.step, device: e.device, entry: u.entry, kind: 'pending-not-cleared', message: `the guest unmasked ${e.device}'s pending entry ${u.entry}: its Pending bit is still set after the access (the guest's PBA reads ${hex(pendingOf(state, e.device))})` });
        }
      }
    } else if (e.kind === 'interrupt-posted' && judged(e.device)) {
      add(arrivals, e.device, { vcpu: pdaOwners.get(e.pda), vector: e.virtualVector, how: `posted into PID ${hex(e.pda)}`, event: e });
    } else if (e.kind === 'interrupt-injected' && judged(e.device)) {
      add(arrivals, e.device, { vcpu: vcpuAt(state.vcpus, e.vcpu), vector: e.vector, how: e.by === 'device-model' ? 'injected by the device model' : 'injected', event: e });
    }
  }

  // An accepted hypercall's unmask of a pending entry: as the guest's unmask (see the module comment).
  for (const c of hypercallChanges(memory, state, events)) {
    if (!judged(c.device)) continue;
    for (const u of c.unmasked) {
      if (!u.pending) continue;
      const o = asks(state, c.step, c.device, u.entry, 'set-up');
      add(obligations, c.device, o);
      if (o.wants !== undefined && isPending(c.device, u.entry)) {
        out.push({ property: 'P7', step: c.step, device: c.device, entry: u.entry, kind: 'pending-not-cleared', message: `the guest's hypercall set up ${c.device}'s pending entry ${u.entry}: its Pending bit is still set after it (the guest's PBA reads ${hex(pendingOf(state, c.device))})` });
      }
    }
  }

  const devices = [...new Set([...obligations.keys(), ...arrivals.keys()])];
  for (const device of devices) {
    const os = obligations.get(device) ?? [];
    const as = arrivals.get(device) ?? [];
    const slots: Slot[] = os.flatMap((o) => (o.wants === undefined ? [] : o.wants.oneOf ? [{ obligation: o, vector: o.wants.vector, vcpus: o.wants.vcpus }] : o.wants.vcpus.map((v) => ({ obligation: o, vector: o.wants!.vector, vcpus: [v] }))));
    const matched = match(slots, as);
    const used = new Set(matched.filter((a) => a >= 0));
    const left = (): number[] => as.map((_, i) => i).filter((i) => !used.has(i));
    const open = slots.map((_, i) => i).filter((i) => matched[i] === -1);
    const what = (o: Obligation): string => (o.cause === 'raised' ? `${device} raised entry ${o.entry}` : o.cause === 'unmasked' ? `the guest unmasked ${device}'s pending entry ${o.entry}` : `the guest's hypercall set up ${device}'s pending entry ${o.entry}`);
    const reported = new Set<number>();
    // Left-over arrivals at a vCPU the slot names with another vector, then the vector at another vCPU.
    for (const pass of ['wrong-vector', 'wrong-vcpu'] as const) {
      for (const s of open) {
        if (reported.has(s)) continue;
        const slot = slots[s]!;
        const a = left().find((i) => {
          const x = as[i]!;
          const named = x.vcpu !== undefined && slot.vcpus.some((v) => v.id === x.vcpu!.id);
          return pass === 'wrong-vector' ? named && x.vector !== slot.vector : !named && x.vector === slot.vector;
        });
        if (a === undefined) continue;
        used.add(a);
        reported.add(s);
        const x = as[a]!;
        out.push({
          property: 'P7',
          step: x.event.step,
          device,
          entry: slot.obligation.entry,
          kind: pass,
          message:
            pass === 'wrong-vector'
              ? `${what(slot.obligation)} (${describeWant(state, slot.obligation)}): ${vcpuName(state, x.vcpu)} got vector ${hex(x.vector)} (${x.how}) instead of ${hex(slot.vector)}`
              : `${what(slot.obligation)} (${describeWant(state, slot.obligation)}): vector ${hex(x.vector)} arrived at ${vcpuName(state, x.vcpu)} (${x.how}), which the guest did not name`,
        });
      }
    }
    const instead = left().map((i) => describeArrival(state, as[i]!));
    for (const s of open) {
      if (reported.has(s)) continue;
      const slot = slots[s]!;
      const o = slot.obligation;
      const at = o.wants!.oneOf ? `any of ${slot.vcpus.map((v) => vcpuName(state, v)).join(', ')}` : vcpuName(state, slot.vcpus[0]);
      out.push({
        property: 'P7',
        step: o.step,
        device,
        entry: o.entry,
        kind: o.cause === 'raised' ? 'lost' : 'not-delivered-on-unmask',
        message: `${what(o)} (${describeWant(state, o)}): nothing arrived at ${at}${instead.length === 0 ? '' : `; arrived instead: ${instead.join(', ')}`}`,
      });
    }
    const context = os.filter((o) => o.wants === undefined).map((o) => `entry ${o.entry} ${o.cause === 'raised' ? 'raised' : o.cause === 'unmasked' ? 'unmasked' : 'set up by hypercall'}: ${o.nothing}`);
    for (const i of left()) {
      const x = as[i]!;
      const entry = x.event.kind === 'interrupt-posted' ? postedEntry(state, device, x.event) : undefined;
      out.push({
        property: 'P7',
        step: x.event.step,
        device,
        entry: entry ?? (os.length === 1 ? os[0]!.entry : undefined),
        kind: 'spurious',
        message: `${device}: vector ${hex(x.vector)} arrived at ${vcpuName(state, x.vcpu)} (${x.how}), which the guest did not ask for${context.length === 0 ? (os.length === 0 ? ' (no entry raised or unmasked with its Pending bit in this step)' : ' (beyond what its entries ask for)') : ` (${context.join('; ')})`}`,
      });
    }
  }
  return out;
}

/** What P7 judged in `events` (the verdict line's counts): raises of VMM-managed entries, unmasks of pending entries. */
export interface GuestIntentTally {
  raised: number;
  unmaskedPending: number;
}

/** Add the raises and pending unmasks of `events` to `t` (a new tally when omitted). */
export function tallyGuestIntent(events: readonly PlatformEvent[], t: GuestIntentTally = { raised: 0, unmaskedPending: 0 }): GuestIntentTally {
  for (const e of events) {
    if (e.kind === 'device-raised') t.raised++;
    else if (e.kind === 'guest-access') t.unmaskedPending += e.unmasked.filter((u) => u.pending).length;
  }
  return t;
}

/** Whether P7 judges an action of kind `kind`: not a device's own raw write (an `msi-write`, `dma` or an IMS slot's `ims-signal`), which no guest programming asks for and which P1 judges. */
export function judgesGuestIntent(kind: string): boolean {
  // An IMS slot's raise (`ims-signal`) is a DMA write of its physical pair, like `msi-write`: no MSI-X entry asks for it.
  return kind !== 'msi-write' && kind !== 'dma' && kind !== 'ims-signal';
}
