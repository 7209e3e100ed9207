/**
 * A device's DWORD write on the bus, from the point where it leaves the function to
 * its outcome (DESIGN.md §1): outside the interrupt window it reaches memory (DMA
 * translation is not modelled yet, so untranslated); inside 0xFEEx_xxxx it is an
 * interrupt request that goes to the remapping unit covering the device, and ends
 * delivered to local APICs or blocked with a fault. Exactly one outcome event.
 */
import type { Draft } from 'immer';
import type { PlatformEvent } from './events.ts';
import type { PlatformState, PciFunction, InterruptEntryCache } from './state.ts';
import { unitFor } from './topology.ts';
import { isInterruptAddress, decodeCompatibilityAddress, decodeMsiData, compatibilityDestination } from '../x86/msi.ts';
import { acceptingCpus } from '../x86/apic.ts';
import { remapInterrupt } from '../vtd/interrupt-remapping.ts';
import { recordInterruptFault } from '../vtd/fault-recording.ts';
import { postInterrupt } from '../vtd/posting.ts';
import { decodeIrta } from '../vtd/registers.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Emit = (event: DistributiveOmit<PlatformEvent, 'step'>) => void;

/**
 * Deliver a device write of `data` at `address` with requester ID `rid` on the bus.
 * `fn` is the function that really issued it (its location picks the remapping unit).
 */
export function deliverDeviceWrite(
  draft: Draft<PlatformState>,
  fn: PciFunction,
  rid: number,
  address: bigint,
  data: number,
  emit: Emit,
): void {
  const state = draft as unknown as PlatformState;
  const source = { device: fn.key, rid, address, data };
  if (!isInterruptAddress(address)) {
    draft.memory = state.memory.writeLE(address, 4, BigInt(data >>> 0));
    return void emit({ kind: 'dma-write', ...source });
  }

  const compatibility = (iommu: number | undefined): void => {
    const a = decodeCompatibilityAddress(address);
    const d = decodeMsiData(data);
    const destination = compatibilityDestination(a, state.interrupts.extendedDestinationId);
    emit({
      kind: 'interrupt-delivered',
      ...source,
      path: 'compatibility',
      iommu,
      irteIndex: undefined,
      iecHit: undefined,
      destination,
      destinationMode: a.destinationModeLogical ? 'logical' : 'physical',
      vector: d.vector,
      deliveryMode: d.deliveryMode,
      triggerMode: d.triggerLevel ? 'level' : 'edge',
      redirectionHint: a.redirectionHint,
      targets: acceptingCpus(state.cpus, state.interrupts.apicMode, destination, a.destinationModeLogical, d.deliveryMode, a.redirectionHint),
    });
  };

  const iommu = unitFor(state, fn.segment, fn.rid, fn.upstream);
  if (iommu === undefined) return compatibility(undefined);
  const unit = state.iommus[iommu]!;
  const { outcome, iec } = remapInterrupt(unit, state.memory, state.hostAddressWidth, { rid, address, data });
  if (iec !== unit.iec) draft.iommus[iommu]!.iec = iec as Draft<InterruptEntryCache>;

  switch (outcome.kind) {
    case 'passthrough':
      return compatibility(iommu);
    case 'remapped': {
      const irte = outcome.irte;
      return void emit({
        kind: 'interrupt-delivered',
        ...source,
        path: 'remapped',
        iommu,
        irteIndex: outcome.irteIndex,
        iecHit: outcome.iecHit,
        destination: outcome.apicId,
        destinationMode: irte.destinationModeLogical ? 'logical' : 'physical',
        vector: irte.vector,
        deliveryMode: irte.deliveryMode,
        triggerMode: irte.triggerLevel ? 'level' : 'edge',
        redirectionHint: irte.redirectionHint,
        targets: acceptingCpus(state.cpus, state.interrupts.apicMode, outcome.apicId, irte.destinationModeLogical, irte.deliveryMode, irte.redirectionHint),
      });
    }
    case 'posted': {
      const eime = decodeIrta(unit.regs.irtaLatched).eime;
      const posted = postInterrupt(state.memory, state.hostAddressWidth, outcome.irte, eime);
      if (posted.outcome.kind === 'fault') {
        return recordFault({ ...unit, iec }, iommu, { reason: posted.outcome.reason, irteIndex: outcome.irteIndex, qualified: true, fpd: outcome.irte.fpd });
      }
      draft.memory = posted.memory;
      const n = posted.outcome.notification;
      return void emit({
        kind: 'interrupt-posted',
        ...source,
        iommu,
        irteIndex: outcome.irteIndex,
        iecHit: outcome.iecHit,
        pda: posted.outcome.pda,
        virtualVector: posted.outcome.virtualVector,
        urgent: outcome.irte.urgent,
        notification: n === undefined ? undefined : { ...n, targets: acceptingCpus(state.cpus, state.interrupts.apicMode, n.apicId, false, 0, false) },
        suppressed: posted.outcome.suppressed,
      });
    }
    case 'fault':
      return recordFault({ ...unit, iec }, iommu, outcome);
  }

  function recordFault(
    current: typeof unit,
    index: number,
    f: { reason: number; irteIndex: number | undefined; qualified: boolean; fpd: boolean },
  ): void {
    let frcd: number | undefined;
    if (!(f.qualified && f.fpd)) {
      const r = recordInterruptFault(current, { reason: f.reason, sid: rid, index: f.irteIndex ?? 0 });
      draft.iommus[index] = r.unit as Draft<typeof unit>;
      frcd = r.record;
    }
    emit({ kind: 'interrupt-fault', ...source, iommu: index, reason: f.reason, irteIndex: f.irteIndex, qualified: f.qualified, frcd });
  }
}
