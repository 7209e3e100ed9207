/**
 * P3 No lost interrupt (DESIGN.md §3): every interrupt the IOMMU accepts for a posted
 * IRTE is eventually visible to its vCPU, and the vCPU is notified, or woken if it was
 * blocked, as soon as it can run. Checked as invariants after every action, reading
 * the PIDs in memory and the vCPUs' state:
 *
 * - a running vCPU has an empty PIR: anything posted to it while it runs must have
 *   been notified and processed into its virtual IRR (a PIR bit left behind was posted
 *   without a notification that reached it: ON stuck, SN not cleared, or NDST naming
 *   another pCPU);
 * - a blocked vCPU has an empty PIR: a pending posted interrupt must wake it;
 * - a preempted (runnable) vCPU may hold PIR bits (SN suppresses notifications); they
 *   are checked again when it runs;
 * and, on each posting event, the unit sent no notification while SN was set unless the
 * IRTE was urgent (VT-d §9.12), and the IRTE does not stand for a fixed message to several
 * vCPUs (the policy's recorded intent, `intent.interruptRoutes`): a posted IRTE has one PDA,
 * so every other vCPU the guest named never receives it (KVM keeps such IRTEs remapped,
 * `kvm_intr_is_single_vcpu`).
 *
 * On AMD-Vi (`state.amdvi`) a vCPU's `pda` is its AVIC backing page: the pending posted vectors
 * are the page's IRR bits (src/x86/avic.ts), checked by the same rules (running: the doorbell
 * must have delivered them; blocked: the GA log must have woken it). The policy records routes
 * under its table key (src/policy/amd.ts), so a posting's route is found by device and index;
 * and an interrupt the IOMMU blocked (`interrupt-fault`) from the device a route was set up for,
 * with its own DeviceID and at that route's index, is lost (a GA-mode IRTE written without
 * RemapEn: Linux e52d58d54a32 before e97685abd5d7).
 */
import type { PlatformEvent } from '../platform/events.ts';
import type { PlatformState } from '../platform/state.ts';
import { readPid } from '../vtd/pid-memory.ts';
import { pirVectors } from '../vtd/pid.ts';
import { vcpuAt, vcpuList } from '../platform/vcpu-table.ts';
import { avicTakeIrr } from '../x86/avic.ts';
import type { IntendedRoute } from '../platform/state.ts';

/** The route the policy recorded for `device`'s IRTE `index` on AMD (keyed by table, not unit). */
function amdRoute(state: PlatformState, device: string, index: number): IntendedRoute | undefined {
  for (const [k, r] of Object.entries(state.intent.interruptRoutes ?? {})) if (r.device === device && k.endsWith(`:${index}`)) return r;
  return undefined;
}

export interface P3Violation {
  readonly property: 'P3';
  readonly step: number;
  readonly message: string;
  readonly vcpu: number | undefined;
}

function vcpuName(state: PlatformState, id: number): string {
  const v = vcpuAt(state.vcpus, id);
  return v === undefined ? `vCPU ${id}` : `${state.domains[v.domain]?.name ?? `domain ${v.domain}`}.vcpu${v.index}`;
}

/**
 * P3 violations in `state` after an action (and in that action's `events`).
 * @param step the action's step number, for the violations found in the state (those found in an event carry the event's); default: the first event's, else 0
 */
export function checkNoLostInterrupt(state: PlatformState, events: readonly PlatformEvent[], step = events[0]?.step ?? 0): P3Violation[] {
  const out: P3Violation[] = [];
  const amd = state.amdvi !== undefined;
  for (const e of events) {
    if (amd && e.kind === 'interrupt-fault' && e.irteIndex !== undefined && e.amdvi !== undefined) {
      const meant = amdRoute(state, e.device, e.irteIndex);
      if (meant !== undefined && state.devices[e.device]?.busRid === e.rid) {
        out.push({
          property: 'P3',
          step: e.step,
          vcpu: meant.vcpus[0],
          message: `${e.device}'s interrupt, IRTE ${e.irteIndex} (meant for vector 0x${meant.vector.toString(16)} of ${meant.vcpus.map((id) => vcpuName(state, id)).join(', ')}), was blocked by the IOMMU (${e.amdvi.why}${e.amdvi.event === undefined ? '' : `, ${e.amdvi.event}`}): lost`,
        });
      }
      continue;
    }
    if (e.kind !== 'interrupt-posted') continue;
    if (e.notification !== undefined && e.snSet && !e.urgent) {
      out.push({ property: 'P3', step: e.step, vcpu: undefined, message: `PID ${'0x' + e.pda.toString(16)}: notification sent while SN was set and the IRTE is not urgent` });
    }
    // A direct post (hypothetical, no IRTE) has no recorded route to compare with.
    const meant = e.irteIndex === undefined ? undefined : amd ? amdRoute(state, e.device, e.irteIndex) : state.intent.interruptRoutes?.[`${e.iommu}:${e.irteIndex}`];
    if (meant !== undefined && !meant.oneOf && meant.vcpus.length > 1) {
      const into = vcpuList(state.vcpus).find((v) => v.pda === e.pda);
      const missed = meant.vcpus.filter((id) => id !== into?.id);
      const names = (ids: readonly number[]): string => ids.map((id) => vcpuName(state, id)).join(', ');
      out.push({
        property: 'P3',
        step: e.step,
        vcpu: missed[0],
        message: `${meant.device}'s fixed interrupt, vector 0x${meant.vector.toString(16)}, is meant for ${names(meant.vcpus)} but IRTE ${e.irteIndex} posts it into one PID${into === undefined ? '' : ` (${vcpuName(state, into.id)})`}: ${names(missed)} never receive${missed.length === 1 ? 's' : ''} it`,
      });
    }
  }
  for (const v of vcpuList(state.vcpus)) {
    if (v.run === 'runnable') continue;
    if (amd) {
      const irr = avicTakeIrr(state.memory, v.pda).irr;
      if (irr === 0n) continue;
      const vectors = pirVectors(irr).map((n) => `0x${n.toString(16)}`).join(',');
      out.push({
        property: 'P3',
        step,
        vcpu: v.id,
        message:
          v.run === 'blocked'
            ? `${vcpuName(state, v.id)} is blocked on cpu${v.pcpu} with posted vector(s) ${vectors} pending in its AVIC backing page's IRR and was not woken`
            : `${vcpuName(state, v.id)} runs on cpu${v.pcpu} but posted vector(s) ${vectors} sit in its AVIC backing page's IRR, not taken`,
      });
      continue;
    }
    const { pid } = readPid(state.memory, v.pda);
    if (pid.pir === 0n) continue;
    const vectors = pirVectors(pid.pir).map((n) => `0x${n.toString(16)}`).join(',');
    const fields = `ON=${pid.on ? 1 : 0} SN=${pid.sn ? 1 : 0} NV=0x${pid.nv.toString(16)} NDST=0x${pid.ndst.toString(16)}`;
    out.push({
      property: 'P3',
      step,
      vcpu: v.id,
      message:
        v.run === 'blocked'
          ? `${vcpuName(state, v.id)} is blocked on cpu${v.pcpu} with posted vector(s) ${vectors} pending in PIR and was not woken (${fields})`
          : `${vcpuName(state, v.id)} runs on cpu${v.pcpu} but posted vector(s) ${vectors} sit in PIR unprocessed (${fields})`,
    });
  }
  return out;
}
