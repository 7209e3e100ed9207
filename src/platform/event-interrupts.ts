/**
 * The platform pass that sends a remapping unit's own event interrupts — the fault event and
 * the invalidation-completion event (src/vtd/fault-event.ts) — run after every transition
 * (src/platform/transition.ts): whatever a transition left pending (FECTL.IP / IECTL.IP) and
 * unmasked (IM = 0) is sent now, as hardware sends it as soon as the condition arises or
 * software clears IM (VT-d §11.4.7.2; QEMU hw/i386/intel_iommu.c `vtd_generate_fault_event`,
 * `vtd_handle_fectl_write`; VirtualBox DevIommuIntel.cpp `dmarFectlRegWrite`).
 *
 * The message is not remapped: the unit hands it to the APICs as a compatibility-format MSI
 * (QEMU `vtd_generate_interrupt` calls `apic_get_class()->send_msi`). A message address
 * outside 0xFEEx_xxxx is a DWORD memory write of the data, as a posted write there would be
 * (QEMU's older `vtd_generate_interrupt` issued `stl_le_phys(address, data)`) [derived].
 *
 * Pure: state in, state out (the same object when nothing was pending), events through `emit`;
 * interrupts the hypervisor takes go to `raised`, as for posted-interrupt notifications.
 */
import type { PlatformEvent } from './events.ts';
import type { IommuUnit, PlatformState } from './state.ts';
import { copyState } from './device-write.ts';
import { notifyPcpu, type RaisedInterrupt } from './notification.ts';
import { EVENT_IP, eventDestination, eventMessage, mustSend, type EventSource } from '../vtd/fault-event.ts';
import { decodeMsiData, isInterruptAddress } from '../x86/msi.ts';
import { acceptingCpus, arbitrationWinner, picksOne } from '../x86/apic.ts';
import { decodeEcap } from '../vtd/registers.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Emit = (event: DistributiveOmit<PlatformEvent, 'step'>) => void;

const SOURCES: readonly EventSource[] = ['fault', 'invalidation-completion'];

/**
 * Send every pending, unmasked event interrupt of the units that changed between `before` and
 * `state`: an `event-interrupt` event, IP cleared, and the message delivered to the local APICs
 * its address names (a notification the CPU or the hypervisor takes, src/platform/notification.ts),
 * or written to memory. Returns `state` itself when nothing was due; new objects are unfrozen.
 */
export function sendEventInterrupts(state: PlatformState, before: PlatformState, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  if (state.iommus === before.iommus) return state;
  let next = state;
  for (let i = 0; i < state.iommus.length; i++) {
    const first = state.iommus[i]!;
    if (first === before.iommus[i] || ((first.regs.fectl | first.regs.iectl) & EVENT_IP) === 0) continue;
    for (const source of SOURCES) {
      const u = next.iommus[i]!;
      if (!mustSend(u, source)) continue;
      const regs = source === 'fault' ? { ...u.regs, fectl: (u.regs.fectl & ~EVENT_IP) >>> 0 } : { ...u.regs, iectl: (u.regs.iectl & ~EVENT_IP) >>> 0 };
      const cleared: IommuUnit = { ...u, regs };
      const copy = copyState(next);
      const iommus = next.iommus.slice();
      iommus[i] = cleared;
      copy.iommus = iommus;
      next = deliver(copy, cleared, source, emit, raised);
    }
  }
  return next;
}

function deliver(state: PlatformState, unit: IommuUnit, source: EventSource, emit: Emit, raised: RaisedInterrupt[]): PlatformState {
  const { address, data } = eventMessage(unit, source);
  // With ECAP.EIM the upper address carries destination bits 31:8, not address bits.
  const eim = decodeEcap(unit.ecap).EIM;
  if (!isInterruptAddress(eim ? address & 0xffff_ffffn : address)) {
    emit({ kind: 'event-interrupt', iommu: unit.index, event: source, address, data, delivery: 'memory', destination: undefined, destinationMode: undefined, vector: undefined, deliveryMode: undefined, targets: [], candidates: [] });
    const copy = copyState(state);
    copy.memory = state.memory.writeLE(address, 4, BigInt(data >>> 0));
    return copy;
  }
  const d = decodeMsiData(data & 0xffff);
  const dest = eventDestination(unit, address);
  const candidates = acceptingCpus(state.cpus, state.interrupts.apicMode, dest.destination, dest.logical, state.interrupts.xapicLogicalModel);
  const targets = arbitrationWinner(candidates, picksOne(d.deliveryMode, dest.redirectionHint, dest.logical));
  emit({
    kind: 'event-interrupt',
    iommu: unit.index,
    event: source,
    address,
    data,
    delivery: 'apic',
    destination: dest.destination,
    destinationMode: dest.logical ? 'logical' : 'physical',
    vector: d.vector,
    deliveryMode: d.deliveryMode,
    targets,
    candidates,
  });
  // Fixed and lowest-priority messages reach the CPU as a vector (the hypervisor's fault
  // handler, Linux `dmar_fault`); SMI, NMI, INIT and ExtINT are not followed further.
  if (d.deliveryMode > 1) return state;
  let next = state;
  for (const pcpu of targets) next = notifyPcpu(next, pcpu, d.vector, emit, raised);
  return next;
}
