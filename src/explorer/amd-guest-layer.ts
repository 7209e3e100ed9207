/**
 * The AMD-Vi schemes simulated from the guest's side (src/explorer/schemes.ts
 * AMD_SCHEME_IDS): the guest's virtual AMD IOMMU (src/explorer/amd-platforms.ts
 * `amdGuestPlatform`) and, for every vCPU from the same base state, what the Linux amd_iommu
 * driver does to aim the device's one MSI at that vCPU (drivers/iommu/amd/iommu.c):
 *
 * 1. the IRTE at index 0 of the device's table (`irq_remapping_alloc` takes the first free
 *    index; one MSI, so 0): legacy 32-bit (`irte_prepare`: RemapEn, IntType fixed, DM physical,
 *    Destination 15:8 = the APIC ID, vector) or 128-bit without guest mode (`irte_ga_prepare`:
 *    Destination [23:0] in 31:8, [31:24] in 127:120 — `APICID_TO_IRTE_DEST_LO/HI`);
 * 2. `iommu_flush_irt_and_complete`: INVALIDATE_INTERRUPT_TABLE, then COMPLETION_WAIT, each
 *    queued with its own command-tail register write (`iommu_queue_command` → MMIO 0x2008, two
 *    trapped writes for the hypervisor emulating the IOMMU);
 * 3. MSI-X entry 0: address 0xFEE00000, data = the index (`fill_msi_msg`), then the device
 *    signals.
 *
 * The vCPU is named only when the `interrupt-delivered` event's candidates are exactly that vCPU
 * (src/explorer/guest-layer.ts `judge`). An APIC ID that does not fit the legacy IRTE's 8-bit
 * Destination is truncated to its low byte (the field holds no more), and where it lands is
 * reported, as for the 8-bit compatibility schemes.
 */
import type { Action } from '../platform/actions.ts';
import type { PlatformEvent } from '../platform/events.ts';
import { composeAmdRemappedMsi } from '../amdvi/remappable-msi.ts';
import { DEVICE, GUEST_VECTOR } from './platforms.ts';
import { AMD_LAYOUT, amdGuestPlatform, compileAmd } from './amd-platforms.ts';
import { judge, msixDwordsOf, simulate, type GuestLayerResult, type GuestOutcome, type GuestSetup, type Message } from './guest-layer.ts';
import { schemeInfo, type SchemeId } from './schemes.ts';

/** Setup counted from the actions and events: MSI-X dwords, AMD IRTE stores, interrupt-table invalidations, command-tail writes. */
export function amdSetupOf(actions: readonly Action[], events: readonly PlatformEvent[]): GuestSetup {
  let msixDwords = 0;
  for (const a of actions) msixDwords += msixDwordsOf(a);
  return {
    msixDwords: events.some((e) => e.kind === 'msi-config') ? msixDwords : 0,
    irteWrites: events.filter((e) => e.kind === 'memory-write' && e.what?.startsWith('AMD-Vi IRTE') === true).length,
    invalidations: events.filter((e) => e.kind === 'amdvi-command' && e.effect === 'invalidate-interrupt-table').length,
    queueTailWrites: events.filter((e) => e.kind === 'amdvi-register' && e.register === 'COMMAND_TAIL').length,
  };
}

/**
 * Simulate AMD scheme `scheme` for every vCPU of a guest whose vCPUs have `apicIds`.
 * @throws RangeError for a scheme that is not an AMD one.
 */
export function simulateAmdGuestLayer(scheme: SchemeId, apicIds: readonly number[]): GuestLayerResult {
  const info = schemeInfo(scheme);
  if (info.vendor !== 'amd') throw new RangeError(`'${scheme}' is not an AMD-Vi scheme`);
  const xt = info.destinationBits === 32;
  const { state: base, steps } = amdGuestPlatform({ apicIds, xt });
  const msi = composeAmdRemappedMsi(0);
  // Every vCPU starts from `base`, so the commands land at the same tail each time: compile them once (an IRTE step moves no tail).
  const flush = compileAmd(steps, [
    { 'amd-command': { iommu: 0, command: 'invalidate-interrupt-table', deviceId: DEVICE } },
    { 'amd-command': { iommu: 0, command: 'completion-wait', storeAddress: AMD_LAYOUT.completionStore.toString(), data: 1 } },
  ]);
  const outcomes: GuestOutcome[] = [];
  for (let vcpu = 0; vcpu < apicIds.length; vcpu++) {
    const apicId = apicIds[vcpu]!;
    const fits = xt ? apicId <= 0xffff_ffff : apicId <= 0xff;
    const destination = fits ? apicId : apicId % 256;
    const message: Message = { ...msi, truncatedTo: fits ? undefined : destination };
    const actions: Action[] = [
      ...compileAmd(steps, [{ 'amd-irte': { device: DEVICE, index: 0, vector: GUEST_VECTOR, destination, deliveryMode: 'fixed', destinationMode: 'physical' } }]),
      ...flush,
      { kind: 'program-msix', device: DEVICE, entry: 0, address: msi.address, data: msi.data, masked: false },
      { kind: 'signal', device: DEVICE, vector: 0 },
    ];
    const events = simulate(base, actions);
    outcomes.push({ ...judge(vcpu, apicIds, scheme, message, events), setup: amdSetupOf(actions, events) });
  }
  return { scheme, outcomes };
}
