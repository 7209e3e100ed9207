/**
 * Benchmark fixtures: a one-unit x2APIC platform with interrupt remapping enabled by
 * Linux's sequence and an IRT populated in full (every entry present), so memory
 * really holds the whole table.
 */
import { buildPlatform, type PlatformDescription } from '../src/platform/build.ts';
import type { PlatformState } from '../src/platform/state.ts';
import type { Action } from '../src/platform/actions.ts';
import { applyAction, applyActions } from '../src/platform/transition.ts';
import { encodeIrte, irteDestinationField, IRTE_BYTES } from '../src/vtd/irte.ts';
import { irEnableSequence } from '../src/platform/ir-enable.ts';
import { composeRemappableMsi } from '../src/vtd/remappable-msi.ts';
import { FRAME_BYTES } from '../src/memory/physical-memory.ts';

/** Table base: above 4 GiB, as in specs/default.yaml. */
export const IRT_BASE = 0x1_0000_0000n;
/** The benchmark device, 03:00.0. */
export const DEVICE_KEY = '03:00.0';
export const DEVICE_RID = 0x0300;
export const CPU_COUNT = 8;

const description: PlatformDescription = {
  hostAddressWidth: 46,
  apicMode: 'x2apic',
  extendedDestinationId: false,
  apicIds: Array.from({ length: CPU_COUNT }, (_, i) => i),
  iommus: [
    {
      segment: 0,
      registerBase: 0xfed9_0000n,
      includePciAll: true,
      scope: { endpoints: [], bridges: [], busRanges: [], ioapics: [], hpets: [] },
    },
  ],
  devices: [{ segment: 0, rid: DEVICE_RID, key: DEVICE_KEY, name: 'nic', upstream: [], msix: { tableSize: 8 } }],
  domains: [{ name: 'host', kind: 'host', cpus: Array.from({ length: CPU_COUNT }, (_, i) => i), devices: [DEVICE_KEY] }],
  grants: [],
};

/**
 * A present, remapped, source-verified (SVT=1, SQ=0) IRTE for `index`, EIME=1: destination
 * APIC `index % cpus`, SID `sid` (defaults: this fixture's CPUs and device).
 */
export function irteValue(index: number, vector = 0x30 + (index % 0xc0), { cpus = CPU_COUNT, sid = DEVICE_RID }: { cpus?: number; sid?: number } = {}): bigint {
  return encodeIrte({
    mode: 'remapped',
    present: true,
    fpd: false,
    avail: 0,
    destinationModeLogical: false,
    redirectionHint: false,
    triggerLevel: false,
    deliveryMode: 0,
    vector,
    destination: irteDestinationField(index % cpus, true),
    sid,
    sq: 0,
    svt: 1,
  });
}

/** The remappable-format MSI a device sends for IRTE `index` (SHV=0, as Linux's handle-only form). */
export function msiWrite(index: number): Action {
  const m = composeRemappableMsi({ handle: index, shv: false });
  return { kind: 'msi-write', device: DEVICE_KEY, address: m.address, data: m.data };
}

export function irteWrite(index: number, value: bigint): Action {
  return { kind: 'write-irte', iommu: 0, index, value };
}

/**
 * The platform after Linux's IR enable sequence (write-irta, GCMD SIRTP, global IEC
 * invalidation, GCMD IRE) with an IRT of `entries` entries, every one present. The
 * table is written one 4 KiB page per `writeBytes` and the memory put into the state
 * (what `entries` write-irte actions would leave, without the per-action cost). The
 * IEC is empty.
 */
export function enabledPlatform(entries: number): PlatformState {
  const enabled = applyActions(buildPlatform(description), irEnableSequence(0, { base: IRT_BASE, eime: true, entries }).actions).state;

  let memory = enabled.memory;
  const perPage = FRAME_BYTES / IRTE_BYTES;
  const page = new Uint8Array(FRAME_BYTES);
  const view = new DataView(page.buffer);
  for (let first = 0; first < entries; first += perPage) {
    for (let k = 0; k < perPage && first + k < entries; k++) {
      const v = irteValue(first + k);
      view.setBigUint64(k * IRTE_BYTES, v & 0xffff_ffff_ffff_ffffn, true);
      view.setBigUint64(k * IRTE_BYTES + 8, v >> 64n, true);
    }
    const bytes = Math.min(perPage, entries - first) * IRTE_BYTES;
    memory = memory.writeBytes(IRT_BASE + BigInt(first * IRTE_BYTES), page.subarray(0, bytes));
  }
  return Object.freeze({ ...enabled, memory });
}

/** `state` after one msi-write per index of `indices` (fills the IEC with them). */
export function warmIec(state: PlatformState, indices: readonly number[]): PlatformState {
  let s = state;
  for (const i of indices) s = applyAction(s, msiWrite(i)).state;
  return s;
}
