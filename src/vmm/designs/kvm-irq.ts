/**
 * KVM's side of an assigned function's MSI-X, as the qemu-kvm designs (./qemu-kvm.ts) use
 * it: the GSI routing table QEMU fills (accel/kvm/kvm-all.c `kvm_irqchip_add_msi_route` →
 * `kvm_irqchip_get_virq`, KVM virt/kvm/irqchip.c `kvm_set_irq_routing`), and software
 * injection of a guest MSI into the vCPUs it names (arch/x86/kvm/irq_comm.c `kvm_set_msi` →
 * `kvm_irq_delivery_to_apic` → `kvm_apic_set_irq`, with `kvm_vcpu_kick` waking a halted
 * vCPU), reached from an irqfd (virt/kvm/eventfd.c `irqfd_wakeup` →
 * `kvm_arch_set_irq_inatomic`, or `irqfd_inject`) or from userspace (`KVM_SIGNAL_MSI`,
 * virt/kvm/kvm_main.c `kvm_send_userspace_msi`).
 *
 * Designs are pure and compute every action from the state before any is applied, so a
 * reaction that sets up several vectors at once allocates from a {@link Plan}: a copy of the
 * state with the host vectors, IRTE indices and GSIs it has already handed out, so the second
 * vector does not get the first one's.
 */
import { postingCapable } from '../../policy/common.ts';
import type { Action, VmmCostKind } from '../../platform/actions.ts';
import type { Grant, PlatformState } from '../../platform/state.ts';
import type { GuestMessage } from '../guest-message.ts';
import { hostIrqSetup } from '../host-irq.ts';
import type { VectorBinding } from '../state.ts';

export const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

export const cost = (kind: VmmCostKind, detail: string): Action => ({ kind: 'vmm-cost', cost: kind, detail });
export const note = (text: string): Action => ({ kind: 'vmm-note', note: text });

/**
 * The actions of one design reaction, in order, and what it has allocated so far. `tail`
 * runs after `actions` (requests to the hypervisor policy and deliveries that need every
 * grant of the reaction in place first).
 */
export class Plan {
  readonly actions: Action[] = [];
  readonly tail: Action[] = [];
  /** The state with this plan's allocations (host vectors, IRTE indices) applied. */
  state: PlatformState;
  private readonly gsis = new Set<number>();
  private readonly woken = new Set<number>();
  private readonly granted: Grant[] = [];
  private readonly bindings = new Map<string, VectorBinding>();

  constructor(state: PlatformState) {
    this.state = state;
  }

  push(...a: Action[]): void {
    this.actions.push(...a);
  }

  /** Insert `a` at position `at` of the actions (a narrative line ahead of the actions it explains). */
  insert(at: number, ...a: Action[]): void {
    this.actions.splice(at, 0, ...a);
  }

  get length(): number {
    return this.actions.length;
  }

  later(...a: Action[]): void {
    this.tail.push(...a);
  }

  done(): Action[] {
    return [...this.actions, ...this.tail];
  }

  /**
   * The lowest GSI from the table's first MSI GSI that neither the table nor this plan uses,
   * within the capacity (`kvm_irqchip_get_virq`: `find_first_zero_bit` of the used-GSI
   * bitmap); undefined when the table is full (-ENOSPC).
   */
  freeGsi(): number | undefined {
    const kvm = this.state.vmm!.kvm;
    const used = Object.keys(kvm.routes).length + this.gsis.size;
    if (used >= kvm.capacity) return undefined;
    for (let g = kvm.firstMsiGsi; g < kvm.firstMsiGsi + kvm.capacity; g++) {
      if (kvm.routes[g] === undefined && !this.gsis.has(g)) return g;
    }
    return undefined;
  }

  /** `device`'s binding of `entry` as this plan has left it so far. */
  binding(device: string, entry: number): VectorBinding {
    return this.bindings.get(`${device}#${entry}`) ?? this.state.vmm?.devices[device]?.vectors[entry] ?? {};
  }

  /** Record `binding` for `device`'s `entry` (`vmm-binding`). */
  setBinding(device: string, entry: number, binding: VectorBinding): void {
    this.bindings.set(`${device}#${entry}`, binding);
    this.push({ kind: 'vmm-binding', device, entry, binding });
  }

  /** The GSI `kvm_irqchip_get_virq` would have given next: the one past the table, which the `kvm-route` primitive refuses ('full'). */
  beyondTable(): number {
    const kvm = this.state.vmm!.kvm;
    return kvm.firstMsiGsi + kvm.capacity;
  }

  takeGsi(gsi: number): void {
    this.gsis.add(gsi);
  }

  releaseGsi(gsi: number): void {
    this.gsis.delete(gsi);
  }

  /**
   * The host's IRQ setup of `device`'s physical `entry` (src/vmm/host-irq.ts), allocated
   * against this plan's state; the plan's state then holds its host vector and IRTE index.
   */
  hostSetup(device: string, entry: number, pcpu: number, previous: VectorBinding): { actions: Action[]; binding: VectorBinding } | undefined {
    const r = hostIrqSetup(this.state, device, entry, pcpu, previous);
    if (r === undefined) return undefined;
    const s = this.state;
    const vmm = s.vmm!;
    const irte = r.binding.irte;
    this.state = {
      ...s,
      vmm: { ...vmm, hostVectors: { ...vmm.hostVectors, [r.binding.hostVector!]: { device, entry } } },
      hypervisor:
        irte === undefined || previous.irte !== undefined
          ? s.hypervisor
          : { ...s.hypervisor, nextIrte: { ...s.hypervisor.nextIrte, [irte.iommu]: Math.max(irte.index + 1, s.hypervisor.nextIrte[irte.iommu] ?? 0) } },
    };
    return r;
  }

  /** A grant for `device` → vCPU `vcpu`, `vector` (fixed and lowest priority) unless the intent or this plan already holds it. */
  grant(device: string, vcpu: number, vector: number): Action[] {
    const g: Grant = { requester: device, target: { kind: 'vcpu', vcpu }, vector, deliveryModes: [0, 1] };
    const same = (x: Grant): boolean => x.requester === g.requester && x.target.kind === 'vcpu' && x.target.vcpu === vcpu && x.vector === vector && [0, 1].every((m) => x.deliveryModes.includes(m));
    if (this.state.intent.grants.some(same) || this.granted.some(same)) return [];
    this.granted.push(g);
    return [{ kind: 'grant', grant: g }];
  }

  /**
   * Inject `msg` into each of its recipients (KVM `kvm_irq_delivery_to_apic` →
   * `kvm_apic_set_irq`: the vector in vIRR) and wake the blocked ones (`kvm_vcpu_kick`),
   * once per vCPU in this plan. A vector below 16 is refused (a note, nothing injected).
   */
  inject(device: string, msg: GuestMessage & { deliverable: true }, by?: 'device-model'): Action[] {
    // Vectors 0–15 are exceptions: a local APIC refuses them as illegal (SDM Vol. 3 §10.5.3, ESR "Received Illegal Vector").
    if (msg.vector < 16) return [note(`vector ${hex(msg.vector)} is below 16: the guest's local APIC refuses it (illegal vector), nothing injected`)];
    return msg.recipients.flatMap((v): Action[] => {
      const wake = v.run === 'blocked' && !this.woken.has(v.id);
      if (wake) this.woken.add(v.id);
      return [
        { kind: 'inject-interrupt', vcpu: v.id, vector: msg.vector, device, ...(by === undefined ? {} : { by }) },
        ...(wake ? [{ kind: 'vcpu-set', vcpu: v.id, run: 'runnable', pcpu: v.pcpu } as const] : []),
      ];
    });
  }
}

/**
 * Whether KVM's IRQ bypass can post `device`'s interrupts: its remapping unit has interrupt
 * remapping on and CAP.PI (Linux drivers/iommu/intel/irq_remapping.c sets IRQ_POSTING_CAP
 * only then; arch/x86/kvm/vmx/posted_intr.c `vmx_pi_update_irte` returns early without it).
 */
export function irqPostingCapable(state: PlatformState, device: string): boolean {
  const iommu = state.devices[device]?.iommu;
  return iommu !== undefined && postingCapable(state, iommu);
}

/** One line for a message: `0xfee01000/0x00000041 (vector 0x41 → vCPU 1)` or why it goes nowhere. */
export function describeMessage(state: PlatformState, address: bigint, data: number, msg: GuestMessage): string {
  const raw = `${hex(address)}/${hex(data >>> 0)}`;
  if (!msg.deliverable) return `${raw} (not deliverable: ${msg.why})`;
  const names = msg.recipients.map((v) => `${state.domains[v.domain]?.name ?? v.domain}.vcpu${v.index}`).join(',');
  return `${raw} (vector ${hex(msg.vector)}${msg.logical ? ' logical' : ''}${msg.deliveryMode === 1 ? ' lowest-priority' : ''} → ${names})`;
}
