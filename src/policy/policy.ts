/**
 * A hypervisor policy: the trusted software that answers requests (scheduling,
 * halts, a guest's MSI programming, interrupts it receives) with the primitive
 * operations it performs: PID updates, IRTE writes and IEC invalidations, scheduler
 * bookkeeping, blocked-list changes, grants. Pure: `(state, request) -> actions`.
 * Policies are chosen by name in the scenario (DESIGN.md §1).
 */
import type { Action, ActionOf } from '../platform/actions.ts';
import type { PlatformState, Vcpu } from '../platform/state.ts';

export type PolicyRequest = ActionOf<'schedule'> | ActionOf<'preempt'> | ActionOf<'halt'> | ActionOf<'guest-msi'> | ActionOf<'host-interrupt'>;

export const POLICY_REQUEST_KINDS: ReadonlySet<Action['kind']> = new Set(['schedule', 'preempt', 'halt', 'guest-msi', 'host-interrupt']);

export function isPolicyRequest(a: Action): a is PolicyRequest {
  return POLICY_REQUEST_KINDS.has(a.kind);
}

/** PID control fields as a policy sets them. */
export interface PidControl {
  readonly on: boolean;
  readonly sn: boolean;
  readonly nv: number;
  readonly ndst: number;
}

export interface HypervisorPolicy {
  readonly name: string;
  /** One line: what it models, and for a broken variant the bug it reproduces. */
  readonly summary: string;
  /** Where the behaviour comes from (file and functions), or the bug report. */
  readonly source: string;
  /** Whether this variant is deliberately wrong (the tests expect a property to fail). */
  readonly broken: boolean;
  /** The notification vector programmed in the VMCS: in guest mode the CPU processes it as posted. */
  readonly postedVector: number;
  /** The vector blocked vCPUs' PIDs notify with, handled by the hypervisor to wake them. */
  readonly wakeupVector: number;
  /** The PID of a newly created vCPU. */
  initialPid(vcpu: Vcpu, state: PlatformState): PidControl;
  /** The primitive operations answering `request`, in order. */
  respond(state: PlatformState, request: PolicyRequest): Action[];
}
