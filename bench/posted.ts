/**
 * Posted-interrupt benchmark fixtures (issue "Posted interrupts", item 7): 1,024 vCPUs
 * of one guest on 64 pCPUs, a 65,536-entry IRT filled with posted IRTEs (entry i posts
 * vector 0x40 + i % 0x80 to vCPU i % 1,024), CAP.PI set, KVM-like policy. Two bases:
 * every vCPU preempted (SN=1: the unit only sets PIR), and vCPUs 0..63 running on
 * pCPUs 0..63 (SN=0: each posting notifies and the CPU moves PIR into the vIRR).
 */
import { produce } from 'immer';
import { buildPlatform, type PlatformDescription } from '../src/platform/build.ts';
import type { PlatformState, Vcpu } from '../src/platform/state.ts';
import type { Action } from '../src/platform/actions.ts';
import { applyActions } from '../src/platform/transition.ts';
import { irEnableSequence } from '../src/platform/ir-enable.ts';
import { encodeIrte, IRTE_BYTES } from '../src/vtd/irte.ts';
import { composeRemappableMsi } from '../src/vtd/remappable-msi.ts';
import { encodePid, PID_BYTES } from '../src/vtd/pid.ts';
import { FRAME_BYTES } from '../src/memory/physical-memory.ts';
import { POSTED_INTR_VECTOR } from '../src/policy/kvm.ts';
import { vcpuList, vcpuTable } from '../src/platform/vcpu-table.ts';

export const POSTED_VCPUS = 1024;
export const POSTED_PCPUS = 64;
export const POSTED_ENTRIES = 65536;
const IRT_BASE = 0x1_0000_0000n;
const PID_BASE = 0x4000_0000n;
const DEVICE = '05:00.0';

const description: PlatformDescription = {
  hostAddressWidth: 46,
  apicMode: 'x2apic',
  extendedDestinationId: false,
  apicIds: Array.from({ length: POSTED_PCPUS }, (_, i) => i),
  iommus: [{ segment: 0, registerBase: 0xfed9_0000n, includePciAll: true, cap: 0x08d2078c106f0462n, ecap: 0xf020fen, scope: { endpoints: [], bridges: [], busRanges: [], ioapics: [], hpets: [] } }],
  devices: [{ segment: 0, rid: 0x0500, key: DEVICE, name: 'vf', upstream: [], msix: { tableSize: 8 } }],
  domains: [
    { name: 'host', kind: 'host', cpus: [0], devices: [] },
    { name: 'vm', kind: 'guest', cpus: Array.from({ length: POSTED_PCPUS }, (_, i) => i), devices: [DEVICE], vcpuApicIds: Array.from({ length: POSTED_VCPUS }, (_, i) => i) },
  ],
  grants: [],
  policy: 'kvm',
  pidBase: PID_BASE,
};

export function postedIrte(index: number): bigint {
  return encodeIrte({ mode: 'posted', present: true, fpd: false, avail: 0, urgent: false, virtualVector: 0x40 + (index % 0x80), pda: PID_BASE + BigInt((index % POSTED_VCPUS) * PID_BYTES), sid: 0x0500, sq: 0, svt: 1 });
}

export function postedMsi(index: number): Action {
  const m = composeRemappableMsi({ handle: index, shv: false });
  return { kind: 'msi-write', device: DEVICE, address: m.address, data: m.data };
}

/** The two bases: all vCPUs preempted, and vCPUs 0..63 running. */
export function postedPlatforms(): { preempted: PlatformState; running: PlatformState } {
  let s = applyActions(buildPlatform(description), irEnableSequence(0, { base: IRT_BASE, eime: true, entries: POSTED_ENTRIES }).actions).state;
  let memory = s.memory;
  const perPage = FRAME_BYTES / IRTE_BYTES;
  const page = new Uint8Array(FRAME_BYTES);
  const view = new DataView(page.buffer);
  for (let first = 0; first < POSTED_ENTRIES; first += perPage) {
    for (let k = 0; k < perPage; k++) {
      const v = postedIrte(first + k);
      view.setBigUint64(k * IRTE_BYTES, v & 0xffff_ffff_ffff_ffffn, true);
      view.setBigUint64(k * IRTE_BYTES + 8, v >> 64n, true);
    }
    memory = memory.writeBytes(IRT_BASE + BigInt(first * IRTE_BYTES), page);
  }
  const grants = Array.from({ length: POSTED_VCPUS }, (_, v) => v).flatMap((vcpu) =>
    Array.from({ length: 0x80 }, (_, k) => 0x40 + k).map((vector) => ({ requester: DEVICE, target: { kind: 'vcpu' as const, vcpu }, vector, deliveryModes: [0, 1] })),
  );
  const preempted = produce(s, (d) => {
    d.memory = memory;
    d.intent.grants = grants;
  });
  let runMemory = preempted.memory;
  const vcpus: Vcpu[] = vcpuList(preempted.vcpus).map((v) => {
    if (v.id >= POSTED_PCPUS) return v;
    runMemory = runMemory.writeLE(v.pda, PID_BYTES, encodePid({ pir: 0n, on: false, sn: false, nv: POSTED_INTR_VECTOR, ndst: v.id }));
    return { ...v, run: 'running', pcpu: v.id };
  });
  s = produce(preempted, (d) => {
    d.memory = runMemory;
    d.vcpus = vcpuTable(vcpus) as typeof d.vcpus;
  });
  return { preempted, running: s };
}

/** Batch of IRTE indices: entry k·1024 + k posts to vCPU k (k < 64: a running one), spread over the table. */
export function postedIndices(batch: number): number[] {
  return Array.from({ length: batch }, (_, k) => k * POSTED_VCPUS + k);
}
