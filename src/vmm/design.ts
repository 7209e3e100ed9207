/**
 * A VMM design: how a hypervisor and its device model virtualize an assigned function's
 * MSI-X (src/vmm/designs). The VMM layer keeps the guest's view (src/vmm/virtual-msix.ts)
 * and hands each change to the design, which answers with primitive actions: traps and
 * round trips it costs, what the device model is told, KVM routes, the host's IRQ setup
 * (IRTEs, physical entries, grants), posting requests to the hypervisor policy
 * (`guest-msi` with `bypass`), injections. Pure: `(state, request) -> actions`. Chosen by
 * `platform.vmm`.
 */
import type { Action, ActionOf, HypercallOp } from '../platform/actions.ts';
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
  /**
   * How the guest names the vCPU an interrupt goes to under this design, and how many it can
   * name without a vIOMMU (the >255-vCPU question of seed thread 000): a row of `remapsim compare`.
   */
  readonly guestAddressing: string;
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
  /**
   * The hypercall ops `onHypercall` answers (the checker's adversary issues these,
   * src/checker/adversary.ts). Absent or empty: none.
   */
  readonly hypercalls?: readonly HypercallOp['op'][];
  /**
   * The VMM starts guest `request.domain` (`vmm-start`): what the design sets up once per VM
   * (the HYPOTHETICAL direct-post design's interrupt tables). Absent: nothing to do, and the
   * VMM layer answers with a note.
   */
  onStart?(state: PlatformState, request: ActionOf<'vmm-start'>): Action[];
  /**
   * What a guest read of MSI-X entry `entry`'s Message Address / Upper Address / Data returns
   * under the design, when that is not the guest's emulated view (the default): the physical
   * pair with MSI virtualization off (vfio-msi-virt-off), 0 where the table is not emulated
   * (paravirt-hcall). Read by the probes of src/vmm/probes.ts (`remapsim compare`).
   */
  tableRead?(state: PlatformState, device: string, entry: number): { readonly address: bigint; readonly data: number };
  /**
   * What the device sends when an UNMODIFIED driver stores MSI-X entry `entry`'s guest message
   * into an IMS slot (the IMS probe of src/vmm/probes.ts): the pair the design puts into the
   * physical slot — the host's translation under a design whose quirk traps the store
   * (ims-emulated). Absent: the store is not trapped and the device sends the guest's own pair.
   */
  imsSend?(state: PlatformState, device: string, entry: number): { readonly address: bigint; readonly data: number } | undefined;
}
