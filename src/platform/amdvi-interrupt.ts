/**
 * The AMD-Vi interrupt path of the platform (the vendor seam, src/platform/vendor.ts): one
 * interrupt request through src/amdvi/interrupt-remapping.ts `remapInterruptAmd`, its outcome
 * turned into the vendor-neutral events VT-d emits, so run, trace and the properties see
 * exactly one outcome per request:
 *
 * - passthrough (IommuEn = 0, IV = 0, IntCtl = forward, a pass bit): delivered as sent, the
 *   compatibility decoding (src/platform/device-write.ts `compatibility`);
 * - remapped: `interrupt-delivered` path `remapped` with the IRTE's destination (Destination
 *   [31:0] with Control.XTEn), vector, IntType and DM; `iecHit` = the IRTE cache hit. The IRTE
 *   has no trigger mode: the request's MSI data bit 15 is kept [derived: the IRTE replaces only
 *   vector, type, DM and destination; VirtualBox `iommuAmdIrteRemapMsi` builds the output from
 *   the input message];
 * - guest (GA mode, GuestMode = 1): AVIC posting (AMD APM vol. 2 §15.29; Linux
 *   arch/x86/kvm/svm/avic.c; sheet amdvi-facts.md §4.3). The vector's IRR bit is set in the vAPIC
 *   backing page (src/x86/avic.ts); IsRun = 1 sends the doorbell to the pCPU whose physical APIC
 *   ID is the IRTE Destination, and a vCPU running there with that backing page takes the IRR
 *   into its vIRR (`pir-processed` by notification, as the VT-d posted path reports it); IsRun =
 *   0 with GALogIntr = 1 writes a GA-log entry (src/amdvi/ga-log.ts) and the GA-log interrupt
 *   goes to the host, whose handler wakes the vCPU (KVM `avic_ga_log_notifier` →
 *   `kvm_vcpu_wake_up`): an `amdvi-ga-log` event. The outcome is `interrupt-posted` with `pda` =
 *   the backing page, `notification` = the doorbell (vector 0: the doorbell is not a vectored
 *   interrupt) or undefined;
 * - blocked: the event-log entry is written (src/amdvi/event-log.ts `appendEvent`) unless
 *   suppressed (`amdvi-event`), then `interrupt-fault` with `reason` = the event code (0 for a
 *   bare target abort), `frcd` undefined and the `amdvi` detail.
 *
 * Not modelled yet: the event-log and GA-log interrupts as MSIs of the IOMMU function (MSI
 * capability / XT interrupt-control registers 0x170–0x180); the events say when they would fire.
 */
import { pirVectors } from '../vtd/pid.ts';
import type { PlatformState, PciFunction } from './state.ts';
import type { AmdViUnit } from '../amdvi/unit.ts';
import type { RaisedInterrupt } from './notification.ts';
import type { VendorEmit } from './vendor.ts';
import type { AmdEventLogging } from './amdvi-events.ts';
import { compatibility, copyState, raiseRouted } from './device-write.ts';
import { remapInterruptAmd } from '../amdvi/interrupt-remapping.ts';
import { appendEvent, encodeEvent, eventCodeName, EVENT_CODE, type AmdEvent } from '../amdvi/event-log.ts';
import { appendGaLog, encodeGaLogEntry } from '../amdvi/ga-log.ts';
import { acceptingCpus, arbitrationWinner, picksOne } from '../x86/apic.ts';
import { decodeMsiData } from '../x86/msi.ts';
import { avicSetIrr, avicTakeIrr } from '../x86/avic.ts';
import { runningVcpu, vcpuList, withVcpu } from './vcpu-table.ts';

/**
 * Where the host takes the GA-log interrupt (the IOMMU's MSI, Linux `amd_iommu_int_thread_galog`):
 * the model does not program the IOMMU's own MSI, so it is fixed at pCPU 0, vector 0xE9 — a
 * free host vector above the software routes (0xE0 downwards) and below Linux's system vectors
 * (0xEC up) [derived].
 */
export const AMDVI_GA_LOG_INTERRUPT: RaisedInterrupt = Object.freeze({ pcpu: 0, vector: 0xe9 });

/** `state` with AMD-Vi unit `index` replaced by `unit` (and `memory`, when given). */
export function withAmdUnit(state: PlatformState, index: number, unit: AmdViUnit, memory = state.memory): PlatformState {
  const units = state.amdvi!.units.slice();
  units[index] = unit;
  const next = copyState(state);
  next.amdvi = { units };
  next.memory = memory;
  return next;
}

/**
 * Log `event` at unit `index` unless `suppressed` (emits `amdvi-event`). Returns the state after
 * it and what became of the entry.
 */
export function logAmdEvent(state: PlatformState, index: number, event: AmdEvent, suppressed: boolean, emit: VendorEmit): { state: PlatformState; logging: AmdEventLogging } {
  const unit = state.amdvi!.units[index]!;
  const entry = encodeEvent(event);
  const base = { kind: 'amdvi-event' as const, iommu: index, code: event.code, name: eventCodeName(event.code), deviceId: event.deviceId, address: event.address, entry };
  if (suppressed) {
    emit({ ...base, logging: 'suppressed', interrupt: false });
    return { state, logging: 'suppressed' };
  }
  const r = appendEvent(state.memory, unit.regs, event);
  emit({ ...base, logging: r.result, interrupt: r.interrupt });
  return { state: r.regs === unit.regs && r.memory === state.memory ? state : withAmdUnit(state, index, { ...unit, regs: r.regs }, r.memory), logging: r.result };
}

/** Deliver one interrupt request at the AMD-Vi unit `fn.iommu` (which must be set). */
export function remapInterruptAmdPlatform(state: PlatformState, fn: PciFunction, rid: number, address: bigint, data: number, emit: VendorEmit, raised: RaisedInterrupt[]): PlatformState {
  const iommu = fn.iommu!;
  const source = { device: fn.key, rid, address, data };
  const unit = state.amdvi!.units[iommu];
  if (unit === undefined) return compatibility(state, source, undefined, emit, raised);
  const { outcome, caches } = remapInterruptAmd(unit, state.memory, state.hostAddressWidth, { rid, address, data });
  const current: AmdViUnit = caches === unit.caches ? unit : { ...unit, caches };
  let next = current === unit ? state : withAmdUnit(state, iommu, current);

  switch (outcome.kind) {
    case 'passthrough':
      return compatibility(next, source, iommu, emit, raised);

    case 'remapped': {
      const logical = outcome.destinationModeLogical;
      const candidates = acceptingCpus(next.cpus, next.interrupts.apicMode, outcome.destination, logical, next.interrupts.xapicLogicalModel);
      const oneOf = picksOne(outcome.deliveryMode, false, logical);
      emit({
        kind: 'interrupt-delivered',
        ...source,
        path: 'remapped',
        iommu,
        irteIndex: outcome.irteIndex,
        iecHit: outcome.irteHit,
        destination: outcome.destination,
        destinationMode: logical ? 'logical' : 'physical',
        vector: outcome.vector,
        deliveryMode: outcome.deliveryMode,
        triggerMode: decodeMsiData(data).triggerLevel ? 'level' : 'edge',
        redirectionHint: false,
        targets: arbitrationWinner(candidates, oneOf),
        candidates,
      });
      if (next.hypervisor.softwareRoutes !== undefined || next.vmm !== undefined) raiseRouted(next, candidates, outcome.deliveryMode, outcome.vector, oneOf, raised);
      return next;
    }

    case 'guest': {
      const backing = outcome.backingPage;
      let memory = avicSetIrr(next.memory, backing, outcome.vector);
      if (outcome.isRun) {
        const apicId = outcome.doorbellDestination;
        const targets = acceptingCpus(next.cpus, next.interrupts.apicMode, apicId, false);
        emit({
          kind: 'interrupt-posted',
          ...source,
          iommu,
          irteIndex: outcome.irteIndex,
          iecHit: outcome.irteHit,
          pda: backing,
          virtualVector: outcome.vector,
          urgent: false,
          snSet: false,
          notification: { vector: 0, apicId, targets },
          suppressed: undefined,
          amdvi: { gaTag: outcome.gaTag, isRun: true, doorbell: apicId, gaLog: undefined },
        });
        const copy = copyState(next);
        let vcpus = next.vcpus;
        for (const pcpu of targets) {
          // The doorbell makes a pCPU in guest mode for this backing page evaluate its IRR (APM §15.29.2.4); elsewhere it is ignored and the bit waits for the next VMRUN.
          const v = runningVcpu(vcpus, pcpu);
          if (v === undefined || v.pda !== backing) continue;
          const taken = avicTakeIrr(memory, backing);
          memory = taken.memory;
          const vectors = pirVectors(taken.irr);
          vcpus = withVcpu(vcpus, { ...v, virr: v.virr | taken.irr });
          emit({ kind: 'pir-processed', vcpu: v.id, pcpu, vectors, by: 'notification' });
        }
        copy.memory = memory;
        copy.vcpus = vcpus;
        return copy;
      }
      // IsRun = 0: the bit waits in the backing page; GALogIntr asks for a GA-log entry so the hypervisor can wake the vCPU.
      let gaLog: 'logged' | 'full' | 'disabled' | 'not-requested' = 'not-requested';
      let logged: ReturnType<typeof appendGaLog> | undefined;
      // The entry is built only when the IRTE asks for one (GALogIntr = 1).
      const entry = outcome.gaLogIntr ? encodeGaLogEntry(outcome.gaTag, rid) : undefined;
      const u = next.amdvi!.units[iommu]!;
      if (entry !== undefined) {
        logged = appendGaLog(memory, u.regs, entry);
        memory = logged.memory;
        gaLog = logged.result;
      }
      emit({
        kind: 'interrupt-posted',
        ...source,
        iommu,
        irteIndex: outcome.irteIndex,
        iecHit: outcome.irteHit,
        pda: backing,
        virtualVector: outcome.vector,
        urgent: false,
        snSet: false,
        notification: undefined,
        suppressed: undefined,
        amdvi: { gaTag: outcome.gaTag, isRun: false, doorbell: undefined, gaLog },
      });
      if (logged !== undefined && entry !== undefined) {
        // The vCPU the hypervisor wakes: the one whose backing page the IRTE names (KVM maps the GATag back to it).
        const owner = vcpuList(next.vcpus).find((v) => v.pda === backing);
        emit({ kind: 'amdvi-ga-log', iommu, gaTag: outcome.gaTag, deviceId: rid, entry, at: logged.at, result: logged.result, interrupt: logged.interrupt, wake: owner?.id });
        // The GA-log interrupt (GAIntEn) goes to the host, whose handler wakes the vCPU: a `host-interrupt` request to the policy.
        if (logged.interrupt) raised.push(AMDVI_GA_LOG_INTERRUPT);
        // One state copy: the unit's new GA-log tail/status and the memory together.
        if (logged.regs !== u.regs) return withAmdUnit(next, iommu, { ...u, regs: logged.regs }, memory);
      }
      const copy = copyState(next);
      copy.memory = memory;
      return copy;
    }

    case 'blocked': {
      let logging: AmdEventLogging = 'none';
      if (outcome.event !== undefined) {
        const r = logAmdEvent(next, iommu, outcome.event, outcome.suppressed, emit);
        next = r.state;
        logging = r.logging;
      }
      const code = outcome.event?.code ?? 0;
      emit({
        kind: 'interrupt-fault',
        ...source,
        iommu,
        reason: code,
        irteIndex: outcome.irteIndex,
        qualified: code === EVENT_CODE.IO_PAGE_FAULT,
        frcd: undefined,
        amdvi: { why: outcome.why, event: outcome.event === undefined ? undefined : eventCodeName(code), logging },
      });
      return next;
    }
  }
}
