/**
 * Probes of a VMM design (issue 12 item 5, seed threads 000 and 001): after a scenario has
 * run, would an UNMODIFIED guest driver's interrupts work for
 *
 * - **a device with an onboard interrupt controller** (seed 000: ath11k): the driver reads an
 *   MSI-X entry's Message Address and Data back from the table and programs the pair into the
 *   device's own interrupt controller, which then raises its interrupts as DMA writes of
 *   exactly that pair. What the read returns is the design's ({@link VmmDesign.tableRead}:
 *   the guest's emulated view by default, the physical entry with MSI virtualization off,
 *   0 where the table is not emulated);
 * - **a device with an Interrupt Message Store** (seed 001: IMS): the driver composes the
 *   message it would write into MSI-X and stores it in device-specific storage the VMM cannot
 *   trap, so the device sends the GUEST's pair untranslated — unless the design traps the
 *   store with a per-device quirk ({@link VmmDesign.imsSend}, ims-emulated), which puts its
 *   translation into the physical slot.
 *
 * Each probe takes the first function the VMM manages (by key) with an entry the guest left
 * unmasked and programmed with a message it can deliver (src/vmm/guest-message.ts), makes the
 * device write the pair (`msi-write` from the function: the fabric, the IOMMU and the VMM
 * decide what it reaches) on the run's final state, and judges the outcome against what the
 * guest's entry names: `works` when the guest vector arrives at the entry's vCPUs (posted or
 * injected) and nothing else arrives; `blocked` when the platform stops it (an interrupt
 * fault, host-bridge validation, a dropped request) and nothing arrives; `misrouted` when an
 * interrupt arrives anywhere else; `lost` when it is not an interrupt at all (an ordinary DMA
 * write) or nothing happens. Pure: the probes never change the state they are given.
 */
import type { PlatformState, Vcpu } from '../platform/state.ts';
import type { PlatformEvent } from '../platform/events.ts';
import { applyAction } from '../platform/transition.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import { entryAddress, guestMasked } from './virtual-msix.ts';
import { guestMessage } from './guest-message.ts';
import { vmmDesignNamed } from './index.ts';
import { hex } from './designs/kvm-irq.ts';

/** The verdict of one probe (see the module comment). */
export type ProbeVerdict = 'works' | 'blocked' | 'misrouted' | 'lost' | 'n/a';

export interface ProbeResult {
  readonly verdict: ProbeVerdict;
  /** One line: the device, entry and pair, and what happened to it. */
  readonly detail: string;
}

/** The two probes {@link probeDesign} runs. */
export interface DesignProbes {
  readonly onboardController: ProbeResult;
  readonly ims: ProbeResult;
}

interface Subject {
  readonly device: string;
  readonly entry: number;
  readonly pair: { readonly address: bigint; readonly data: number };
  readonly vector: number;
  readonly recipients: readonly Vcpu[];
}

/** The first VMM-managed function (by key) with an unmasked entry holding a deliverable guest message, and that entry. */
function subjectOf(state: PlatformState): Subject | undefined {
  const vmm = state.vmm;
  if (vmm === undefined) return undefined;
  for (const device of Object.keys(vmm.devices).sort()) {
    const d = vmm.devices[device]!;
    for (let k = 0; k < d.guest.table.length; k++) {
      if (guestMasked(d.guest, k)) continue;
      const e = d.guest.table[k]!;
      const m = guestMessage(state, d.domain, entryAddress(e), e.data);
      if (m.deliverable) return { device, entry: k, pair: { address: entryAddress(e), data: e.data >>> 0 }, vector: m.vector, recipients: m.recipients };
    }
  }
  return undefined;
}

/** Judge the events of one device write of `pair` against `s` (see the module comment). */
function judge(state: PlatformState, s: Subject, events: readonly PlatformEvent[], pair: { address: bigint; data: number }, how: string): ProbeResult {
  const byPda = new Map(vcpuList(state.vcpus).map((v) => [v.pda, v] as const));
  const wanted = new Set(s.recipients.map((v) => v.id));
  const reached = new Set<number>();
  const elsewhere: string[] = [];
  let stopped: string | undefined;
  let interrupt = false;
  for (const e of events) {
    if (e.kind === 'interrupt-posted') {
      interrupt = true;
      const v = byPda.get(e.pda);
      if (v !== undefined && wanted.has(v.id) && e.virtualVector === s.vector) reached.add(v.id);
      else elsewhere.push(`posted vector ${hex(e.virtualVector)} into ${v === undefined ? `descriptor ${hex(e.pda)}` : `vCPU ${v.id}`}`);
    } else if (e.kind === 'interrupt-injected') {
      interrupt = true;
      if (wanted.has(e.vcpu) && e.vector === s.vector) reached.add(e.vcpu);
      else elsewhere.push(`injected vector ${hex(e.vector)} into vCPU ${e.vcpu}`);
    } else if (e.kind === 'interrupt-delivered') {
      interrupt = true;
      // A host vector the hypervisor routes becomes an injection in the same step; anything else reached a pCPU as the host's interrupt.
      const routed = state.vmm?.hostVectors[e.vector] !== undefined || state.hypervisor.softwareRoutes?.[e.vector] !== undefined;
      if (!routed && e.targets.length > 0) elsewhere.push(`delivered vector ${hex(e.vector)} to cpu${e.targets.join(',cpu')} (${e.path})`);
    } else if (e.kind === 'interrupt-fault') {
      interrupt = true;
      stopped ??= `fault ${hex(e.reason)}`;
    } else if (e.kind === 'msi-validation') {
      interrupt = true;
      stopped ??= 'blocked by host-bridge MSI validation';
    } else if (e.kind === 'msi-dropped' || e.kind === 'request-blocked' || e.kind === 'unsupported-request') {
      stopped ??= e.kind;
    }
  }
  const head = `${s.device} entry ${s.entry}: ${how} ${hex(pair.address)}/${hex(pair.data)}`;
  if (elsewhere.length > 0) return { verdict: 'misrouted', detail: `${head}: ${elsewhere.join('; ')}` };
  if (reached.size === wanted.size && reached.size > 0) return { verdict: 'works', detail: `${head}: vector ${hex(s.vector)} reached vCPU ${[...reached].join(', ')} as the guest asked` };
  if (stopped !== undefined) return { verdict: 'blocked', detail: `${head}: ${stopped}` };
  return { verdict: 'lost', detail: `${head}: ${interrupt ? 'nothing arrived' : 'not an interrupt request (an ordinary DMA write)'}` };
}

/** The outcome of `device` writing `pair` on `state`. */
function send(state: PlatformState, s: Subject, pair: { address: bigint; data: number }, how: string): ProbeResult {
  const r = applyAction(state, { kind: 'msi-write', device: s.device, address: pair.address, data: pair.data });
  return judge(state, s, r.events, pair, how);
}

/**
 * Both probes on `state` (a scenario's final state under its `platform.vmm` design).
 * `n/a` for both when the platform has no VMM or no managed function has an unmasked entry
 * with a deliverable guest message.
 */
export function probeDesign(state: PlatformState): DesignProbes {
  const s = state.vmm === undefined ? undefined : subjectOf(state);
  if (s === undefined) {
    const none: ProbeResult = { verdict: 'n/a', detail: 'no function the VMM manages has an unmasked entry with a guest message to probe' };
    return { onboardController: none, ims: none };
  }
  const design = vmmDesignNamed(state.vmm!.design);
  const read = design.tableRead?.(state, s.device, s.entry) ?? s.pair;
  const imsPair = design.imsSend?.(state, s.device, s.entry);
  return {
    onboardController: send(state, s, read, 'the driver read back and the controller sends'),
    ims: imsPair === undefined ? send(state, s, s.pair, "the driver's own message, sent from the IMS store") : send(state, s, imsPair, "the driver's own message, translated by the design's IMS quirk, sent from the IMS store"),
  };
}
