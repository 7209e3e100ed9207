/**
 * Run a compiled scenario: build the platform, apply each step's actions in order,
 * check each step's expected outcome, and judge the properties after every action. Deterministic:
 * the same scenario gives the same events (P5).
 */
import { buildPlatform } from '../platform/build.ts';
import { applyAction } from '../platform/transition.ts';
import type { PlatformEvent } from '../platform/events.ts';
import type { PlatformState } from '../platform/state.ts';
import { checkInterruptIsolation, type Violation } from '../properties/p1-interrupt-isolation.ts';
import { checkNoLostInterrupt, type P3Violation } from '../properties/p3-no-lost-interrupt.ts';
import { checkDmaIsolation, type P2Violation } from '../properties/p2-dma-isolation.ts';
import { checkCoherence, type P4Violation } from '../properties/p4-coherence.ts';
import { checkFaultAccountability, emptyFaultTally, type FaultTally, type P6Violation } from '../properties/p6-fault-accountability.ts';
import { checkGuestIntent, judgesGuestIntent, rememberGuestIntent, tallyGuestIntent, NO_GUEST_INTENT_MEMORY, type GuestIntentTally, type P7Violation } from '../properties/p7-guest-intent.ts';
import { DELIVERY_MODE_NAMES } from '../x86/msi.ts';
import { pagingReferenceCount } from '../vtd/dma/walk.ts';
import type { CompiledScenario, CompiledStep, Expectation } from './compile.ts';

export interface StepResult {
  readonly step: CompiledStep;
  readonly events: readonly PlatformEvent[];
  /** Why the step's `expect` did not hold; empty when it held or there was none. */
  readonly failures: readonly string[];
}

export interface RunResult {
  readonly scenario: CompiledScenario;
  readonly initial: PlatformState;
  readonly final: PlatformState;
  readonly steps: readonly StepResult[];
  readonly violations: readonly Violation[];
  /** P3 violations (only when the platform has vCPUs). */
  readonly lost: readonly P3Violation[];
  /** P2 and P4 violations (DMA accesses). */
  readonly dmaIsolation: readonly P2Violation[];
  readonly coherence: readonly P4Violation[];
  /** P6 violations: rejected requests the IOMMU did not account for. */
  readonly accountability: readonly P6Violation[];
  /** How every rejected request was accounted for (P6's verdict line). */
  readonly faults: FaultTally;
  /** P7 violations: the guest's virtual MSI-X programming not honoured (only when the platform has a VMM). */
  readonly guestIntent: readonly P7Violation[];
  /** What P7 judged: raises of VMM-managed entries and unmasks of pending ones (P7's verdict line). */
  readonly guestIntentTally: GuestIntentTally;
  /** No P1–P4, P6 or P7 violation and every expectation held. */
  readonly ok: boolean;
}

/** Options of {@link runScenario}. */
export interface RunOptions {
  /** Domains whose device model is an adversary (`check.adversary.deviceModel`): P7 does not judge their devices. */
  readonly untrustedDeviceModels?: ReadonlySet<number>;
}

const OUTCOMES = new Set<PlatformEvent['kind']>(['interrupt-injected', 'interrupt-delivered', 'interrupt-fault', 'interrupt-posted', 'guest-interrupt', 'vcpu-state', 'pir-processed', 'msi-pending', 'msi-dropped', 'dma-access', 'dma-fault', 'unsupported-request', 'request-blocked', 'dma-peer', 'msi-validation']);

/** Why `events` do not meet `expect` (empty if they do). */
export function checkExpectation(expect: Expectation, events: readonly PlatformEvent[]): string[] {
  const failures: string[] = [];
  const outcomes = events.filter((e) => OUTCOMES.has(e.kind));
  const seen = outcomes.map((e) => e.kind).join(', ') || 'no outcome';
  if (expect.delivered) {
    const want = expect.delivered;
    const match = outcomes.some(
      (e) =>
        e.kind === 'interrupt-delivered' &&
        (want.path === undefined || e.path === want.path) &&
        (want.vector === undefined || e.vector === want.vector) &&
        (want.destination === undefined || e.destination === want.destination) &&
        (want.deliveryMode === undefined || DELIVERY_MODE_NAMES[e.deliveryMode] === want.deliveryMode) &&
        (want.cpus === undefined || JSON.stringify(e.targets) === JSON.stringify(want.cpus)),
    );
    if (!match) failures.push(`expected a delivery ${JSON.stringify(want)}, got ${describe(outcomes) || seen}`);
  }
  if (expect.fault) {
    const want = expect.fault;
    const match = outcomes.some(
      (e) =>
        e.kind === 'interrupt-fault' &&
        e.reason === want.reason &&
        (want.index === undefined || e.irteIndex === want.index) &&
        (want.recorded === undefined || (e.frcd !== undefined) === want.recorded),
    );
    if (!match) failures.push(`expected fault 0x${want.reason.toString(16)}${want.index === undefined ? '' : ` at index ${want.index}`}, got ${describe(outcomes) || seen}`);
  }
  if (expect.posted) {
    const want = expect.posted;
    const match = outcomes.some(
      (e) =>
        e.kind === 'interrupt-posted' &&
        (want.virtualVector === undefined || e.virtualVector === want.virtualVector) &&
        (want.notified === undefined || (e.notification !== undefined) === want.notified),
    );
    if (!match) failures.push(`expected a posting ${JSON.stringify(want)}, got ${describe(outcomes) || seen}`);
  }
  if (expect.acked !== undefined && !outcomes.some((e) => e.kind === 'guest-interrupt' && e.what === 'ack' && e.vector === expect.acked)) {
    failures.push(`expected the guest to acknowledge vector 0x${expect.acked.toString(16)}, got ${describe(outcomes) || seen}`);
  }
  if (expect.injected !== undefined) {
    const into = new Set(outcomes.flatMap((e) => (e.kind === 'interrupt-injected' && e.vector === expect.injected ? [e.vcpu] : [])));
    const missing = (expect.injectedInto ?? []).filter((v) => !into.has(v));
    if (into.size === 0 || missing.length > 0) {
      failures.push(`expected vector 0x${expect.injected.toString(16)} injected in software${missing.length > 0 ? ` into vCPU ${missing.join(', vCPU ')}` : ''}, got ${describe(outcomes) || seen}`);
    }
  }
  if (expect.woken && !outcomes.some((e) => e.kind === 'vcpu-state' && e.was === 'blocked' && e.run === 'runnable')) {
    failures.push(`expected a blocked vCPU to be woken, got ${describe(outcomes) || seen}`);
  }
  if (expect.processed !== undefined && !outcomes.some((e) => e.kind === 'pir-processed' && e.vectors.includes(expect.processed!))) {
    failures.push(`expected PIR → vIRR of vector 0x${expect.processed.toString(16)}, got ${describe(outcomes) || seen}`);
  }
  if (expect.dmaAccess) {
    const want = expect.dmaAccess;
    const match = outcomes.some(
      (e) =>
        e.kind === 'dma-access' &&
        (want.hpa === undefined || e.hpa === BigInt(want.hpa)) &&
        (want.translation === undefined || e.translation === want.translation) &&
        (want.references === undefined || pagingReferenceCount(e.references) === want.references),
    );
    if (!match) failures.push(`expected a DMA access ${JSON.stringify(want)}, got ${describe(outcomes) || seen}`);
  }
  if (expect.dmaFault && !outcomes.some((e) => e.kind === 'dma-fault' && e.reason === expect.dmaFault!.reason)) {
    failures.push(`expected DMA fault 0x${expect.dmaFault.reason.toString(16)}, got ${describe(outcomes) || seen}`);
  }
  if (expect.peer && !outcomes.some((e) => e.kind === 'dma-peer' && (expect.peer!.target === undefined || e.target === expect.peer!.target))) {
    failures.push(`expected a peer-to-peer request${expect.peer.target === undefined ? '' : ` to ${expect.peer.target}`}, got ${describe(outcomes) || seen}`);
  }
  const simple: [keyof Expectation, PlatformEvent['kind']][] = [
    ['pending', 'msi-pending'],
    ['dropped', 'msi-dropped'],
    ['dma', 'dma-access'],
    ['blocked', 'request-blocked'],
    ['unsupported', 'unsupported-request'],
  ];
  for (const [key, kind] of simple) {
    if (expect[key] && !outcomes.some((e) => e.kind === kind)) failures.push(`expected ${kind}, got ${seen}`);
  }
  if (expect.nothing && outcomes.some((e) => e.kind !== 'vcpu-state')) failures.push(`expected no outcome, got ${seen}`);
  return failures;
}

function describe(outcomes: readonly PlatformEvent[]): string {
  return outcomes
    .map((e) =>
      e.kind === 'interrupt-delivered'
        ? `delivery of vector 0x${e.vector.toString(16)} to ${e.destination} (${e.path})`
        : e.kind === 'interrupt-fault'
          ? `fault 0x${e.reason.toString(16)}`
          : e.kind === 'dma-access'
            ? `DMA to HPA 0x${e.hpa.toString(16)} (${e.translation}${e.translation === 'walk' ? `, ${pagingReferenceCount(e.references)} paging reads` : ''})`
            : e.kind === 'dma-fault'
              ? `DMA fault 0x${e.reason.toString(16)} (${e.condition})`
              : e.kind === 'interrupt-injected'
                ? `software injection of vector 0x${e.vector.toString(16)} into vCPU ${e.vcpu}`
              : e.kind === 'interrupt-posted'
                ? `posting of vector 0x${e.virtualVector.toString(16)}${e.notification ? ' with notification' : ''}`
                : e.kind === 'dma-peer'
                  ? `peer-to-peer request to ${e.target} via ${e.at}`
                  : e.kind === 'msi-validation'
                    ? 'MSI blocked by host-bridge validation'
                  : e.kind === 'request-blocked'
                    ? `request blocked by ${e.port} (ACS SV)`
                    : e.kind === 'unsupported-request'
                      ? `Unsupported Request (${e.why})`
                      : e.kind,
    )
    .join(', ');
}

export function runScenario(scenario: CompiledScenario, options: RunOptions = {}): RunResult {
  const initial = buildPlatform(scenario.platform);
  let state = initial;
  const steps: StepResult[] = [];
  const violations: Violation[] = [];
  const lost: P3Violation[] = [];
  const dmaIsolation: P2Violation[] = [];
  const coherence: P4Violation[] = [];
  const accountability: P6Violation[] = [];
  const faults = emptyFaultTally();
  const guestIntent: P7Violation[] = [];
  const guestIntentTally = tallyGuestIntent([]);
  const p7 = options.untrustedDeviceModels === undefined ? {} : { untrustedDeviceModels: options.untrustedDeviceModels };
  let memory = NO_GUEST_INTENT_MEMORY;
  /** Actions applied so far: the step number of the next (its events carry it). */
  let applied = 0;
  for (const step of scenario.steps) {
    const events: PlatformEvent[] = [];
    for (const action of step.actions) {
      const at = applied++;
      const r = applyAction(state, action, at);
      state = r.state;
      events.push(...r.events);
      violations.push(...checkInterruptIsolation(state, r.events));
      if (state.vcpus.count > 0) lost.push(...checkNoLostInterrupt(state, r.events, at));
      dmaIsolation.push(...checkDmaIsolation(state, r.events));
      coherence.push(...checkCoherence(state, r.events));
      accountability.push(...checkFaultAccountability(state, r.events, faults));
      if (state.vmm !== undefined) {
        tallyGuestIntent(r.events, guestIntentTally);
        if (judgesGuestIntent(action.kind)) guestIntent.push(...checkGuestIntent(state, r.events, { ...p7, memory }));
        memory = rememberGuestIntent(memory, state, r.events);
      }
    }
    steps.push({ step, events, failures: step.expect ? checkExpectation(step.expect, events) : [] });
  }
  const ok = violations.length === 0 && lost.length === 0 && dmaIsolation.length === 0 && coherence.length === 0 && accountability.length === 0 && guestIntent.length === 0 && steps.every((s) => s.failures.length === 0);
  return { scenario, initial, final: state, steps, violations, lost, dmaIsolation, coherence, accountability, faults, guestIntent, guestIntentTally, ok };
}
