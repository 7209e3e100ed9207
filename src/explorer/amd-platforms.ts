/**
 * The platforms the explorer simulates the AMD-Vi schemes on (src/explorer/schemes.ts
 * AMD_SCHEME_IDS), built with `buildPlatform` and programmed with the scenario's AMD-Vi steps
 * (src/scenario/amdvi-steps.ts `AmdStepCompiler`: `amdvi-enable` in Linux `early_enable_iommu`
 * order, `dte`, `amd-irte`, `amd-command`), not through a policy:
 *
 * - the guest's view: its vCPUs as CPUs, the assigned device, and a virtual AMD IOMMU as QEMU's
 *   `amd-iommu` advertises it (EFR 0x29D3, + XTSup 0x4 with `xtsup=on`; amdvi-facts.md §8),
 *   enabled with 128-bit IRTEs and XTEn/IntCapXTEn (`xt`) or with legacy 32-bit IRTEs, the
 *   device's DTE pointing at its own 512-entry interrupt table (IntTabLen 9, Linux
 *   `DTE_INTTABLEN_512`);
 * - the host's: pCPU i (x2APIC ID i) runs vCPU i, one AMD-Vi unit with the Zenith II EFR (X2APIC,
 *   GA, GA_vAPIC) enabled with GAEn, XTEn, IntCapXTEn and, for AVIC, the GA log and GAMEn = 001;
 *   the assigned functions each with a DTE and a 512-entry table. An AMD interrupt table is per
 *   device and holds 512 entries Linux can reach (MSI data[10:8] is also the delivery mode: only
 *   indices 0..511 reach the IRTE, amdvi-facts.md §4.1), so the host gives vCPU v the function
 *   01:00.0 + ⌊v / 512⌋ and IRTE v mod 512 — a VM with many vCPUs has many assigned queues
 *   [modelling choice: Intel's one global IRT is modelled with one function].
 */
import { buildPlatform, type PlatformDescription } from '../platform/build.ts';
import type { ApicMode, PlatformState } from '../platform/state.ts';
import type { Action } from '../platform/actions.ts';
import type { AmdViUnitSpec } from '../platform/amdvi-build.ts';
import { DEFAULT_AVIC_BACKING_BASE } from '../platform/amdvi-build.ts';
import { applyActions } from '../platform/transition.ts';
import { vcpuList, vcpuTable } from '../platform/vcpu-table.ts';
import { AmdStepCompiler } from '../scenario/amdvi-steps.ts';
import type { AmdViSteps } from '../scenario/amdvi-types.ts';
import { DEFAULT_AMDVI_EFR } from '../scenario/amdvi-platform.ts';
import { formatBdf, parseBdf } from '../pci/bdf.ts';
import { DEVICE, DEVICE_RID, IRT_BASE } from './platforms.ts';
import { produce } from 'immer';

/** QEMU `amd-iommu`'s EFR: PreF|PPR|GT|IA|GA|HE|HATS=10b|GATS=10b (amdvi-facts.md §8). */
export const QEMU_AMD_IOMMU_EFR = 0x29d3n;
/** EFR.XTSup (bit 2), advertised by QEMU with `xtsup=on`. */
export const EFR_XTSUP = 0x4n;
/** Where the unit's structures live: 2 MiB device table, 512-entry command buffer and event log (8 KiB each), GA log, completion-wait store. */
export const AMD_LAYOUT = Object.freeze({
  deviceTable: 0x1000_0000n,
  commandBuffer: 0x1020_0000n,
  eventLog: 0x1020_2000n,
  gaLog: 0x1020_4000n,
  completionStore: 0x1020_5000n,
  registerBase: 0xfeb8_0000n,
});
/** IRTEs per interrupt table (Linux `MAX_IRQS_PER_TABLE` = 512, IntTabLen 9). */
export const AMD_IRTES_PER_TABLE = 512;
/** Bytes between two functions' interrupt tables: 512 128-bit IRTEs. */
export const AMD_TABLE_STRIDE = BigInt(AMD_IRTES_PER_TABLE * 16);
/** The IOMMU's own function (00:00.2, as on every AMD platform). */
const IOMMU_RID = 0x0002;

/** Interrupt table of assigned function `k` (HPA on the host, GPA in the guest). */
export function amdTableOf(k: number): bigint {
  return IRT_BASE + BigInt(k) * AMD_TABLE_STRIDE;
}

/** Assigned function `k` (01:00.0 + k) and its requester ID. */
export function amdFunction(k: number): { key: string; rid: number } {
  const rid = DEVICE_RID + k;
  return { key: formatBdf(rid), rid };
}

/** The function and IRTE index the host gives vCPU `v` (see the module comment). */
export function amdSlotOf(v: number): { function: number; index: number } {
  return { function: Math.floor(v / AMD_IRTES_PER_TABLE), index: v % AMD_IRTES_PER_TABLE };
}

function unitSpec(efr: bigint): AmdViUnitSpec {
  return { segment: 0, registerBase: AMD_LAYOUT.registerBase, deviceId: IOMMU_RID, capabilityOffset: 0x40, efr, scope: { ranges: [{ first: 0, last: 0xffff }], specials: [] } };
}

/**
 * A step compiler for `units`, whose context throws Error for what the explorer never asks
 * (its steps are fixed; a failure is a bug here, not bad input).
 */
export function amdSteps(units: readonly AmdViUnitSpec[]): AmdStepCompiler {
  return new AmdStepCompiler(
    {
      fail: (message, path) => {
        throw new Error(`explorer AMD-Vi step ${path.join('.')}: ${message}`);
      },
      key: (text) => {
        const b = parseBdf(text);
        if (b === undefined) throw new Error(`explorer AMD-Vi step: '${text}' is not a BDF`);
        return { key: formatBdf(b.rid), rid: b.rid, segment: b.segment };
      },
      device: (text) => formatBdf(parseBdf(text)!.rid),
      vcpu: () => {
        throw new Error('explorer AMD-Vi steps name backing pages, not vCPUs');
      },
    },
    units,
    DEFAULT_AVIC_BACKING_BASE,
  );
}

/** Compile `steps` in order. */
export function compileAmd(c: AmdStepCompiler, steps: readonly AmdViSteps[]): Action[] {
  const out: Action[] = [];
  for (const s of steps) {
    const label = Object.keys(s)[0] as keyof AmdViSteps;
    out.push(...c.compile(label, s, ['explore', label]));
  }
  return out;
}

/** The guest's AMD platform and the step compiler that knows its unit (for the per-vCPU IRTE steps). */
export interface AmdGuestPlatform {
  readonly state: PlatformState;
  readonly steps: AmdStepCompiler;
}

/**
 * The guest's view (see the module comment): `xt` = QEMU `xtsup=on` and a guest driver that
 * enables GAEn + XTEn + IntCapXTEn (x2APIC mode); otherwise legacy 32-bit IRTEs (xAPIC mode).
 */
export function amdGuestPlatform(o: { apicIds: readonly number[]; xt: boolean }): AmdGuestPlatform {
  const unit = unitSpec(o.xt ? QEMU_AMD_IOMMU_EFR | EFR_XTSUP : QEMU_AMD_IOMMU_EFR);
  const mode: ApicMode = o.xt ? 'x2apic' : 'xapic';
  const description: PlatformDescription = {
    hostAddressWidth: 46,
    apicMode: mode,
    extendedDestinationId: false,
    apicIds: o.apicIds,
    iommus: [],
    amdvi: { units: [unit] },
    devices: [{ segment: 0, rid: DEVICE_RID, key: DEVICE, name: 'assigned VF (guest view)', upstream: [], msix: { tableSize: 1 } }],
    domains: [{ name: 'guest', kind: 'host', cpus: o.apicIds.map((_, i) => i), devices: [DEVICE] }],
    grants: [],
  };
  const steps = amdSteps([unit]);
  const actions = compileAmd(steps, [
    { 'amdvi-enable': { iommu: 0, deviceTable: AMD_LAYOUT.deviceTable.toString(), commandBuffer: AMD_LAYOUT.commandBuffer.toString(), eventLog: AMD_LAYOUT.eventLog.toString(), ga: o.xt, xt: o.xt } },
    { dte: { device: DEVICE, mode: 0, ir: true, iw: true, domainId: 1, table: amdTableOf(0).toString() } },
    { 'amd-command': { iommu: 0, command: 'invalidate-devtab-entry', deviceId: DEVICE } },
  ]);
  actions.push({ kind: 'msix-control', device: DEVICE, enabled: true });
  return { state: applyActions(buildPlatform(description), actions).state, steps };
}

/** The host's AMD platform and its step compiler (which has seen the enable and DTE steps). */
export interface AmdHostPlatform {
  readonly state: PlatformState;
  readonly steps: AmdStepCompiler;
  /** Assigned functions (01:00.0 + k). */
  readonly functions: number;
}

/**
 * The host (see the module comment): `avic` adds the GA log and GAMEn = 001 (Linux
 * `enable_iommus_vapic`) so GA-mode IRTEs may post. Every vCPU v runs on pCPU v.
 */
export function amdHostPlatform(o: { guestApicIds: readonly number[]; avic: boolean }): AmdHostPlatform {
  const n = o.guestApicIds.length;
  const cpus = o.guestApicIds.map((_, i) => i);
  const functions = Math.max(1, Math.ceil(n / AMD_IRTES_PER_TABLE));
  const unit = unitSpec(DEFAULT_AMDVI_EFR);
  const devs = Array.from({ length: functions }, (_, k) => amdFunction(k));
  const description: PlatformDescription = {
    hostAddressWidth: 46,
    apicMode: 'x2apic',
    extendedDestinationId: false,
    apicIds: cpus,
    iommus: [],
    amdvi: { units: [unit] },
    devices: devs.map((d) => ({ segment: 0, rid: d.rid, key: d.key, name: 'assigned VF', upstream: [], msix: { tableSize: 1 } })),
    domains: [
      { name: 'host', kind: 'host', cpus: [0], devices: [] },
      { name: 'vm', kind: 'guest', cpus, devices: devs.map((d) => d.key), vcpuApicIds: o.guestApicIds },
    ],
    grants: [],
  };
  const steps = amdSteps([unit]);
  const enable: AmdViSteps = {
    'amdvi-enable': {
      iommu: 0,
      deviceTable: AMD_LAYOUT.deviceTable.toString(),
      commandBuffer: AMD_LAYOUT.commandBuffer.toString(),
      eventLog: AMD_LAYOUT.eventLog.toString(),
      ga: true,
      xt: true,
      ...(o.avic ? { gaLog: AMD_LAYOUT.gaLog.toString() } : {}),
    },
  };
  const program: AmdViSteps[] = [enable];
  for (let k = 0; k < functions; k++) {
    program.push({ dte: { device: devs[k]!.key, mode: 0, ir: true, iw: true, domainId: 1, table: amdTableOf(k).toString() } });
    program.push({ 'amd-command': { iommu: 0, command: 'invalidate-devtab-entry', deviceId: devs[k]!.key } });
  }
  const actions = compileAmd(steps, program);
  for (const d of devs) actions.push({ kind: 'msix-control', device: d.key, enabled: true });
  const built = applyActions(buildPlatform(description), actions).state;
  // Every vCPU running on its own pCPU, loaded in one step (AVIC keeps no per-load descriptor to write: the backing page is the vCPU's vAPIC page).
  const state = produce(built, (d) => {
    d.vcpus = vcpuTable(vcpuList(built.vcpus).map((v) => ({ ...v, run: 'running' as const, pcpu: v.id }))) as typeof d.vcpus;
  });
  return { state, steps, functions };
}
