/**
 * A VMM design: how a hypervisor and its device model virtualize an assigned function's
 * MSI-X (src/vmm/designs). The VMM layer keeps the guest's view (src/vmm/virtual-msix.ts)
 * and hands each change to the design, which answers with primitive actions: traps and
 * round trips it costs, what the device model is told, KVM routes, the host's IRQ setup
 * (IRTEs, physical entries, grants), posting requests to the hypervisor policy
 * (`guest-msi` with `bypass`), injections. Pure: `(state, request) -> actions`. Chosen by
 * `platform.vmm`.
 */
import type { Action, ActionOf } from '../platform/actions.ts';
import type { PlatformState } from '../platform/state.ts';

export interface VmmDesign {
  readonly name: string;
  /** One line: what it models, and for a broken variant the bug it reproduces. */
  readonly summary: string;
  /** The code it follows (files and functions), or the thread that describes it. */
  readonly source: string;
  /** Deliberately wrong: the catalog expects a property to fail. */
  readonly broken: boolean;
  /**
   * false: `remapsim compare` runs the design only when `--vmm` names it — its guest sets
   * interrupts up another way (by hypercall), so scenarios written for a trapped MSI-X table do
   * not apply. Absent: compared by default when not broken.
   */
  readonly comparedByDefault?: false;
  /** The guest's access changed its view (`vmm-react`): what the VMM does about it. */
  onGuestAccess(state: PlatformState, request: ActionOf<'vmm-react'>): Action[];
  /** The host took a host vector that carries an assigned function's entry to the VMM. */
  onDeviceInterrupt(state: PlatformState, request: ActionOf<'vmm-interrupt'>): Action[];
  /** The device model does something (its own emulation, or an untrusted device model's attack). */
  onDeviceModel(state: PlatformState, request: ActionOf<'device-model'>): Action[];
  /**
   * The PBA as the guest reads it for `device` (bit k = entry k): the VMM's emulated bits
   * (QEMU) or the hardware's (Xen passes PBA reads through).
   */
  virtualPending(state: PlatformState, device: string): bigint;
  /**
   * The guest's hypercall about its function (`hypercall`, e.g. `set-interrupt`). Absent: the
   * design has no such interface and the VMM layer refuses the call with a note.
   */
  onHypercall?(state: PlatformState, request: ActionOf<'hypercall'>): Action[];
}
