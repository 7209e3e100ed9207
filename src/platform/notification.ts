/**
 * An interrupt arriving at a pCPU's local APIC that the model must follow further:
 * a posted-interrupt notification (or a self-IPI). If a vCPU runs on that pCPU in
 * guest mode and the vector is the VMCS notification vector, the CPU processes the
 * running vCPU's own PID (SDM §30.6) — which is why a notification sent to a stale
 * NDST is lost for the vCPU that was meant. Otherwise the hypervisor takes the
 * interrupt; the caller hands it to the policy as a `host-interrupt` request.
 */
import type { PlatformEvent } from './events.ts';
import type { PlatformState, Vcpu } from './state.ts';
import { runningVcpu, withVcpu } from './vcpu-table.ts';
import { copyState } from './device-write.ts';
import { processPir } from '../x86/posted-processing.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Emit = (event: DistributiveOmit<PlatformEvent, 'step'>) => void;

/** Interrupts raised to the hypervisor during a transition, handled after it. */
export interface RaisedInterrupt {
  readonly pcpu: number;
  readonly vector: number;
}


/** Deliver `vector` to `pcpu` (see the module comment). Returns the new state. */
export function notifyPcpu(state: PlatformState, pcpu: number, vector: number, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  const running = runningVcpu(state.vcpus, pcpu);
  if (running !== undefined && vector === state.hypervisor.postedVector) {
    const r = processPir(state.memory, running, false, state.interrupts.directPost?.vectorBits);
    emit({ kind: 'pir-processed', vcpu: running.id, pcpu, vectors: r.vectors, by: 'notification' });
    // copyState keeps every state object the same shape (see copyState).
    const next = copyState(state);
    next.vcpus = withVcpu(state.vcpus, r.vcpu);
    next.memory = r.memory;
    return next;
  }
  raised.push({ pcpu, vector });
  return state;
}

/**
 * The vCPU that processes, at once, a notification of `vector` to `pcpu` for the PID at
 * `pda`: the one `pcpu` runs in guest mode, when `vector` is the notification vector and
 * the PID is that vCPU's own. Otherwise undefined: the notification goes through
 * {@link notifyPcpu} (a stale NDST reaches another vCPU, or the hypervisor).
 */
export function ownPidProcessor(state: PlatformState, pcpu: number, vector: number, pda: bigint): Vcpu | undefined {
  if (vector !== state.hypervisor.postedVector) return undefined;
  const running = runningVcpu(state.vcpus, pcpu);
  return running !== undefined && running.pda === pda ? running : undefined;
}
