/**
 * P1 Interrupt isolation (no forgery), DESIGN.md §3: every interrupt that reaches a
 * pCPU because of a device write is covered by a grant whose requester is the real
 * source of the write (the issuing function, not the requester ID it presented),
 * for that pCPU's APIC ID, that vector and that delivery mode; and no fixed or
 * lowest-priority interrupt uses a vector below 16 (the exception range). Postings and
 * software injections are judged the same way against grants to vCPUs.
 *
 * Read by properties only: the check takes an event and the hypervisor's intent as
 * recorded in the state, and changes nothing.
 */
import type { InterruptDeliveredEvent, InterruptInjectedEvent, InterruptPostedEvent, PlatformEvent } from '../platform/events.ts';
import { grantCoversVector, type PlatformState } from '../platform/state.ts';
import { DELIVERY_MODE_NAMES } from '../x86/msi.ts';
import { vcpuAt, vcpuList } from '../platform/vcpu-table.ts';

export interface Violation {
  readonly property: 'P1';
  readonly step: number;
  readonly message: string;
  readonly event: PlatformEvent;
}

/** Delivery modes that carry a vector. */
const VECTORED = new Set([0, 1]);

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * P1 violations of one delivered interrupt against `state`'s intent. Every pCPU the
 * architecture lets the hardware choose is judged (`candidates`: for a lowest-priority or
 * logical redirection-hint message, the whole destination set), not only the one the
 * model's arbitration picked: a design that a legal choice breaks is not safe.
 */
export function checkDelivery(state: PlatformState, e: InterruptDeliveredEvent): Violation[] {
  const out: Violation[] = [];
  const mode = DELIVERY_MODE_NAMES[e.deliveryMode] ?? String(e.deliveryMode);
  if (e.candidates.length > 0 && VECTORED.has(e.deliveryMode) && e.vector < 16) {
    out.push({ property: 'P1', step: e.step, event: e, message: `${e.device} delivered vector ${hex(e.vector)} (< 16, an exception vector)` });
  }
  const oneOf = e.candidates.length > 1 && e.targets.length === 1;
  for (const cpu of e.candidates) {
    const apicId = state.cpus[cpu]?.apicId;
    const covered = state.intent.grants.some(
      (g) => g.requester === e.device && g.target.kind === 'pcpu' && g.target.apicId === apicId && grantCoversVector(g, e.vector) && g.deliveryModes.includes(e.deliveryMode),
    );
    if (!covered) {
      out.push({
        property: 'P1',
        step: e.step,
        event: e,
        message: `${e.device} (requester ID on the bus ${hex(e.rid)}) ${oneOf && e.targets[0] !== cpu ? 'may reach' : 'reached'} cpu${cpu} (APIC ${apicId}) with vector ${hex(e.vector)} ${mode} via the ${e.path} path${e.irteIndex === undefined ? '' : ` (IRTE ${e.irteIndex})`}${oneOf ? ` (the hardware picks one of cpu${e.candidates.join(',cpu')})` : ''}: no grant covers it`,
      });
    }
  }
  return out;
}

/**
 * P1 violations of one posting: the descriptor written must be the PID of a vCPU of
 * the domain that owns the device, and the grant (device, that vCPU, the virtual
 * vector) must exist; the virtual vector must not be below 16.
 */
export function checkPosting(state: PlatformState, e: InterruptPostedEvent): Violation[] {
  const v = (message: string): Violation => ({ property: 'P1', step: e.step, event: e, message });
  const vcpu = vcpuList(state.vcpus).find((c) => c.pda === e.pda);
  if (vcpu === undefined) return [v(`${e.device} posted vector ${hex(e.virtualVector)} into ${hex(Number(e.pda))}, which is no vCPU's posted-interrupt descriptor`)];
  const owner = state.intent.owners[e.device];
  const name = `${state.domains[vcpu.domain]?.name ?? vcpu.domain}.vcpu${vcpu.index}`;
  const out: Violation[] = [];
  if (owner !== vcpu.domain) {
    out.push(v(`${e.device} (owned by ${owner === undefined ? 'nobody' : (state.domains[owner]?.name ?? owner)}) posted vector ${hex(e.virtualVector)} into ${name} of another domain`));
  } else if (!state.intent.grants.some((g) => g.requester === e.device && g.target.kind === 'vcpu' && g.target.vcpu === vcpu.id && grantCoversVector(g, e.virtualVector))) {
    out.push(v(`${e.device} posted vector ${hex(e.virtualVector)} into ${name}: no grant covers it`));
  }
  if (e.virtualVector < 16) out.push(v(`${e.device} posted vector ${hex(e.virtualVector)} (< 16) into ${name}`));
  return out;
}

/**
 * P1 violations of one software injection (the hypervisor's fallback for a request no posted
 * IRTE can carry): the vCPU must belong to the domain that owns the device and be granted
 * (device, that vCPU, the vector); the vector must not be below 16.
 *
 * An injection by the device's device model (`by: 'device-model'`, KVM_SIGNAL_MSI on the VM
 * file descriptor the device model holds: virt/kvm/kvm_main.c `kvm_vm_ioctl` → virt/kvm/irqchip.c `kvm_send_userspace_msi`,
 * which reaches only that VM's vCPUs) into a vCPU of the device owner's own domain is the
 * guest's own device model acting on its own guest, which the hypervisor does not police: no
 * grant is needed and no vector is refused. Into another domain it is a forgery like any other.
 */
export function checkInjection(state: PlatformState, e: InterruptInjectedEvent): Violation[] {
  const v = (message: string): Violation => ({ property: 'P1', step: e.step, event: e, message });
  const vcpu = vcpuAt(state.vcpus, e.vcpu);
  if (vcpu === undefined) return [v(`${e.device}'s interrupt injected with vector ${hex(e.vector)} into vCPU ${e.vcpu}, which does not exist`)];
  const owner = state.intent.owners[e.device];
  const name = `${state.domains[vcpu.domain]?.name ?? vcpu.domain}.vcpu${vcpu.index}`;
  const out: Violation[] = [];
  if (e.by === 'device-model' && owner !== undefined && owner === vcpu.domain) return [];
  if (owner !== vcpu.domain) {
    out.push(v(`${e.device} (owned by ${owner === undefined ? 'nobody' : (state.domains[owner]?.name ?? owner)}) had vector ${hex(e.vector)} injected into ${name} of another domain${e.by === 'device-model' ? ' by its device model' : ''}`));
  } else if (!state.intent.grants.some((g) => g.requester === e.device && g.target.kind === 'vcpu' && g.target.vcpu === vcpu.id && grantCoversVector(g, e.vector))) {
    out.push(v(`${e.device} had vector ${hex(e.vector)} injected into ${name}: no grant covers it`));
  }
  if (e.vector < 16) out.push(v(`${e.device} had vector ${hex(e.vector)} (< 16) injected into ${name}`));
  return out;
}

/** P1 violations among `events`, judged against the intent in `state`. */
export function checkInterruptIsolation(state: PlatformState, events: readonly PlatformEvent[]): Violation[] {
  return events.flatMap((e) =>
    e.kind === 'interrupt-delivered' ? checkDelivery(state, e) : e.kind === 'interrupt-posted' ? checkPosting(state, e) : e.kind === 'interrupt-injected' ? checkInjection(state, e) : [],
  );
}
