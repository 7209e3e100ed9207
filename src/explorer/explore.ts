/**
 * The >255-vCPU addressing explorer (issue #6): for a VM's vCPU APIC IDs, every addressing
 * scheme (src/explorer/schemes.ts) × every delivery it allows, simulated vCPU by vCPU from the
 * guest's side (can its message name the vCPU? src/explorer/guest-layer.ts) and then from the
 * host's (does the physical interrupt reach that vCPU? src/explorer/host-layer.ts), with the
 * costs the simulation counts; optionally a sweep of the same over VM sizes.
 *
 * A vCPU counts as reachable only when both simulations reached it.
 */
import { simulateGuestLayer, type GuestLayerResult, type ReasonCode } from './guest-layer.ts';
import { simulateHostLayer, steadyStateCost, type HostLayerResult, type HostSetup, type InterruptCost } from './host-layer.ts';
import { nestedWalkCost, secondStageWalkCost, type DmaWalkCost } from './dma-cost.ts';
import { supportFor, type GuestSupportRow, type GuestSupportTable } from './guest-support.ts';
import { schemeInfo, schemesOfVendor, type Delivery, type ExploreVendor, type SchemeId } from './schemes.ts';
import { simulateAmdGuestLayer } from './amd-guest-layer.ts';
import { amdSteadyStateCost, simulateAmdHostLayer, type AmdDelivery } from './amd-host-layer.ts';
import { amdV1WalkCost } from './amd-dma-cost.ts';
import { InputError } from '../io/input-error.ts';
import { MAX_VCPUS, type Topology } from './topology.ts';
import { qemuCommandLine, qemuSmp, schemeConfig, vmmMaxVcpus, VMM_LIMITS, type LibvirtConfig, type QemuConfig, type VmmLimits } from './config.ts';

/** Unreachable vCPUs of one row grouped by reason, with a few examples. */
export interface ReasonSummary {
  readonly code: ReasonCode;
  readonly count: number;
  readonly examples: readonly { readonly vcpu: number; readonly apicId: number; readonly detail: string }[];
}

/** Setup of one MSI, counted from the simulated actions and events (means over reached vCPUs). */
export interface MsiSetupCost {
  /** Guest writes the hypervisor traps (MSI-X entry dwords when it traps the table, vIOMMU invalidation-queue tail writes): each a VM exit. */
  readonly trappedWrites: number;
  /** IRTEs the guest wrote in its vIOMMU's table (guest RAM). */
  readonly guestIrteWrites: number;
  /** IRTEs the host wrote. */
  readonly hostIrteWrites: number;
  /** IEC invalidations, guest (vIOMMU) and host. */
  readonly invalidations: number;
  /** Requests the host policy answered. */
  readonly hypervisorRequests: number;
  /** Hypercalls: none of the simulated paths makes one (a Xen PV-IRQ guest would; not modelled). */
  readonly hypercalls: number;
}

/** One scheme × delivery for the VM. */
export interface RowResult {
  readonly scheme: SchemeId;
  readonly label: string;
  readonly title: string;
  readonly delivery: Delivery;
  readonly hypothetical: boolean;
  readonly simulated: boolean;
  readonly vcpus: number;
  readonly reachable: number;
  readonly maxApicId: number;
  readonly maxReachableApicId: number | undefined;
  readonly unreachable: readonly ReasonSummary[];
  /** The first interrupt after each setup (an IEC miss), mean over reached vCPUs. */
  readonly perInterrupt: InterruptCost | undefined;
  readonly perMsi: MsiSetupCost | undefined;
  /** Once per VM (the hypothetical scheme's vCPU table). */
  readonly perVm: HostSetup;
  /** One DMA on an IOTLB miss: the host second stage, or nested when the guest gets DMA remapping. */
  readonly dma: DmaWalkCost;
  readonly guest: GuestSupportRow;
  /** What to configure for the scheme (src/explorer/config.ts; the guest's part is `guest.requires`). */
  readonly configuration: RowConfiguration;
}

/** A scheme's configuration for this VM: QEMU (with the VM's `-smp` when it is a topology) and libvirt. */
export interface RowConfiguration {
  /** The QEMU options as one command-line fragment, e.g. `-machine q35,accel=kvm,kernel-irqchip=split -device intel-iommu,… -smp 384,…`. */
  readonly qemuCommandLine: string | undefined;
  readonly qemu: QemuConfig | undefined;
  readonly libvirt: LibvirtConfig | undefined;
  /** For the hypothetical scheme: what models it in remapsim. */
  readonly remapsim?: string;
}

/** Another VMM's limits (not simulated) and whether the VM's vCPU count fits any of them. */
export interface VmmFit extends VmmLimits {
  readonly fits: boolean;
}

/** One scheme × delivery across the sweep's VM sizes. */
export interface SweepSeries {
  readonly scheme: SchemeId;
  readonly delivery: Delivery;
  readonly label: string;
  readonly hypothetical: boolean;
  readonly simulated: boolean;
  /** Reachable vCPUs at each point. */
  readonly reachable: readonly number[];
  /** Steady-state cost per interrupt at each point (round robin over the reachable vCPUs); undefined when none is reachable. */
  readonly cost: readonly (InterruptCost | undefined)[];
  /** Paging references of one cold IOTLB-miss walk (the row's `dma`; the same at every size). */
  readonly dmaPagingReferences: number;
}

/** The sweep: VM sizes and one series per scheme × delivery. */
export interface SweepResult {
  /** VM sizes (vCPUs), ascending. */
  readonly points: readonly number[];
  readonly series: readonly SweepSeries[];
}

/** Everything `remapsim explore` reports (its JSON form is this object). */
export interface ExploreResult {
  readonly vm: string;
  readonly apicIds: readonly number[];
  readonly guest: string;
  readonly guestName: string;
  readonly rows: readonly RowResult[];
  readonly sweep: SweepResult | undefined;
  /** Other VMMs' vCPU limits and interrupt addressing (src/explorer/config.ts VMM_LIMITS). */
  readonly vmms: readonly VmmFit[];
  readonly elapsedMs: number;
}

/** Input of {@link explore}. */
export interface ExploreOptions {
  /** The VM's vCPU APIC IDs, by vCPU index. */
  readonly apicIds: readonly number[];
  /** How the VM was given (topology or list), for the report. */
  readonly vm: string;
  /** The topology the APIC IDs come from, when given as one (for QEMU's `-smp`). */
  readonly topology?: Topology;
  readonly guest: string;
  readonly guestSupport: GuestSupportTable;
  /** The schemes to report; default: those of `vendor`. */
  readonly schemes?: readonly SchemeId[];
  /** Whose schemes to report when `schemes` is not given (default `intel`: Intel's rows only, as before). */
  readonly vendor?: ExploreVendor;
  /** Sweep: the APIC IDs of the largest VM (smaller VMs are its first n vCPUs) and the sizes to report. */
  readonly sweep?: { readonly apicIds: readonly number[]; readonly points: readonly number[] };
}

/**
 * Sizes reported for a sweep lo..hi: lo, hi and every power of two between (the plot's
 * x axis is logarithmic).
 * @throws InputError (field `--sweep`) when lo < 1, hi < lo, or hi > MAX_VCPUS.
 */
export function sweepPoints(lo: number, hi: number): number[] {
  if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < 1 || hi < lo || hi > MAX_VCPUS) {
    throw new InputError(`expected 1 <= A <= B <= ${MAX_VCPUS} in A..B`, { field: '--sweep' });
  }
  const set = new Set<number>([lo, hi]);
  for (let p = 1; p <= hi; p *= 2) if (p >= lo) set.add(p);
  return [...set].sort((a, b) => a - b);
}

/** Parse `A..B`, or `N` for 1..N (any size up to MAX_VCPUS, e.g. 384). @throws InputError (field `--sweep`). */
export function parseSweep(text: string): { lo: number; hi: number } {
  const single = /^\s*(\d+)\s*$/.exec(text);
  const m = single === null ? /^\s*(\d+)\s*\.\.\s*(\d+)\s*$/.exec(text) : [single[0], '1', single[1]];
  if (m === null) throw new InputError(`'${text}' is not A..B or N (e.g. 1..4096, 384)`, { field: '--sweep' });
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  sweepPoints(lo, hi);
  return { lo, hi };
}

/**
 * Simulations are pure functions of their inputs, so one explore call remembers them by
 * input. The host side does not depend on the scheme — it asks whether the hypervisor can
 * deliver to each vCPU by a given delivery — so it runs once per (delivery, VM) for every
 * vCPU, and a scheme reaches the vCPUs it can name that the host side reaches. A sweep whose
 * largest VM is the VM itself reuses its runs.
 */
class Runs {
  private readonly guest = new Map<string, GuestLayerResult>();
  private readonly hosts = new Map<string, HostLayerResult>();
  private readonly costs = new Map<string, InterruptCost | undefined>();

  guestLayer(scheme: SchemeId, ids: readonly number[], idsKey: string): GuestLayerResult {
    // The vIOMMU's interrupt path is the same with or without DMA remapping exposed.
    // So is the virtual AMD IOMMU's with XT, whether or not dma-remap is on.
    const same = scheme === 'viommu-ir-dma' ? 'viommu-ir' : scheme === 'amd-viommu-xt-dma' ? 'amd-viommu-xt' : scheme;
    const key = `${same}|${idsKey}`;
    let r = this.guest.get(key);
    if (r === undefined) this.guest.set(key, (r = schemeInfo(same).vendor === 'amd' ? simulateAmdGuestLayer(same, ids) : simulateGuestLayer(same, ids)));
    return r;
  }

  /** The host side for `delivery` on an Intel host, or on an AMD-Vi host when `amd`. */
  hostLayer(delivery: Delivery, amd: boolean, ids: readonly number[], idsKey: string): HostLayerResult {
    const key = `${hostKeyOf(delivery, amd)}|${idsKey}`;
    let r = this.hosts.get(key);
    if (r === undefined) this.hosts.set(key, (r = amd ? simulateAmdHostLayer(delivery as AmdDelivery, ids, ids.map((_, i) => i)) : simulateHostLayer(delivery, ids, ids.map((_, i) => i))));
    return r;
  }

  steadyState(host: HostLayerResult, hostKey: string, vcpus: readonly number[]): InterruptCost | undefined {
    const key = `${hostKey}|${vcpus.join(',')}`;
    if (!this.costs.has(key)) this.costs.set(key, host.state.amdvi === undefined ? steadyStateCost(host, vcpus) : amdSteadyStateCost(host, vcpus));
    return this.costs.get(key);
  }
}

function mean<T extends object>(items: readonly T[]): { [K in keyof T]: number } | undefined {
  if (items.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const it of items) for (const [k, v] of Object.entries(it)) out[k] = (out[k] ?? 0) + (v as number);
  for (const k of Object.keys(out)) out[k] = out[k]! / items.length;
  return out as { [K in keyof T]: number };
}

interface Combined {
  readonly reached: readonly boolean[];
  readonly guest: GuestLayerResult;
  readonly host: HostLayerResult;
  readonly hostKey: string;
}

/** Host runs are shared by delivery and host vendor. */
function hostKeyOf(delivery: Delivery, amd: boolean): string {
  return amd ? `amd-${delivery}` : delivery;
}

function combine(runs: Runs, scheme: SchemeId, delivery: Delivery, ids: readonly number[], idsKey: string): Combined {
  const amd = schemeInfo(scheme).vendor === 'amd';
  const guest = runs.guestLayer(scheme, ids, idsKey);
  const host = runs.hostLayer(delivery, amd, ids, idsKey);
  const reached = guest.outcomes.map((o) => o.reached && host.outcomes[o.vcpu]?.reached === true);
  return { reached, guest, host, hostKey: `${hostKeyOf(delivery, amd)}|${idsKey}` };
}

/** DMA walk costs: Intel's host second stage and nested walk, AMD's host v1 walk and QEMU dma-remap's shadow walk. */
interface DmaCosts {
  readonly host: DmaWalkCost;
  readonly nested: DmaWalkCost;
  readonly amdHost: DmaWalkCost;
  readonly amdShadow: DmaWalkCost;
}

/** The configuration of `scheme` for a VM of `vcpus` vCPUs shaped as `topology`. */
function configurationOf(scheme: SchemeId, topology: Topology | undefined, vcpus: number): RowConfiguration {
  const c = schemeConfig(scheme);
  return {
    qemuCommandLine: c.qemu === undefined ? undefined : qemuCommandLine(c.qemu, qemuSmp(topology, vcpus)),
    qemu: c.qemu,
    libvirt: c.libvirt,
    ...(c.remapsim === undefined ? {} : { remapsim: c.remapsim }),
  };
}

/** The DMA walk of a scheme: the host's own table, or nested / shadowed when the guest gets DMA remapping. */
function dmaOf(scheme: SchemeId, dma: DmaCosts): DmaWalkCost {
  const info = schemeInfo(scheme);
  return info.vendor === 'amd' ? (info.exposesDmaRemapping ? dma.amdShadow : dma.amdHost) : info.exposesDmaRemapping ? dma.nested : dma.host;
}

function rowOf(c: Combined, scheme: SchemeId, delivery: Delivery, ids: readonly number[], dma: DmaCosts, guest: GuestSupportRow, configuration: RowConfiguration): RowResult {
  const info = schemeInfo(scheme);
  const reasons = new Map<ReasonCode, { count: number; examples: { vcpu: number; apicId: number; detail: string }[] }>();
  const note = (code: ReasonCode, vcpu: number, detail: string): void => {
    const r = reasons.get(code) ?? { count: 0, examples: [] };
    r.count++;
    if (r.examples.length < 3) r.examples.push({ vcpu, apicId: ids[vcpu]!, detail });
    reasons.set(code, r);
  };
  let maxReachable: number | undefined;
  const firsts: InterruptCost[] = [];
  const setups: MsiSetupCost[] = [];
  for (let v = 0; v < ids.length; v++) {
    const g = c.guest.outcomes[v]!;
    const h = c.host.outcomes[v];
    if (!g.reached) {
      note(g.why?.code ?? 'host-path', v, g.why?.detail ?? 'not reached');
      continue;
    }
    if (h === undefined || !h.reached) {
      note('host-path', v, h?.why ?? 'no host-side run');
      continue;
    }
    maxReachable = Math.max(maxReachable ?? 0, ids[v]!);
    firsts.push(h.firstInterrupt);
    setups.push({
      trappedWrites: (info.trapsMsix ? g.setup.msixDwords : 0) + (g.setup.queueTailWrites ?? g.setup.invalidations),
      guestIrteWrites: g.setup.irteWrites,
      hostIrteWrites: h.setup.irteWrites,
      invalidations: g.setup.invalidations + h.setup.invalidations,
      hypervisorRequests: h.setup.hypervisorRequests,
      hypercalls: 0,
    });
  }
  return {
    scheme,
    label: info.label,
    title: info.title,
    delivery,
    hypothetical: info.hypothetical,
    simulated: info.simulated,
    vcpus: ids.length,
    reachable: firsts.length,
    maxApicId: ids.reduce((m, x) => Math.max(m, x), 0),
    maxReachableApicId: maxReachable,
    unreachable: [...reasons].map(([code, r]) => ({ code, count: r.count, examples: r.examples })),
    perInterrupt: mean(firsts),
    perMsi: mean(setups),
    perVm: c.host.perVm,
    dma: dmaOf(scheme, dma),
    guest,
    configuration,
  };
}

/** Run the explorer. Pure apart from the clock it reads for `elapsedMs`. */
export function explore(o: ExploreOptions): ExploreResult {
  const started = performance.now();
  const guestName = o.guestSupport.guests[o.guest];
  if (guestName === undefined) {
    throw new InputError(`unknown guest '${o.guest}' (one of ${Object.keys(o.guestSupport.guests).join(', ')})`, { field: '--guest' });
  }
  const schemes = o.schemes ?? schemesOfVendor(o.vendor ?? 'intel');
  const runs = new Runs();
  const dma: DmaCosts = { host: secondStageWalkCost(), nested: nestedWalkCost(), amdHost: amdV1WalkCost(), amdShadow: amdV1WalkCost({ shadow: true }) };
  const idsKey = o.apicIds.join(',');
  const rows: RowResult[] = [];
  for (const scheme of schemes) {
    for (const delivery of schemeInfo(scheme).deliveries) {
      const c = combine(runs, scheme, delivery, o.apicIds, idsKey);
      rows.push(rowOf(c, scheme, delivery, o.apicIds, dma, supportFor(o.guestSupport, o.guest, scheme), configurationOf(scheme, o.topology, o.apicIds.length)));
    }
  }
  let sweep: SweepResult | undefined;
  if (o.sweep !== undefined) {
    const ids = o.sweep.apicIds;
    const points = o.sweep.points;
    const largest = points[points.length - 1] ?? 0;
    if (ids.length < largest) throw new InputError(`the sweep needs ${largest} vCPUs but the VM has ${ids.length}`, { field: '--sweep' });
    const machine = ids.slice(0, largest);
    const key = machine.join(',');
    const series: SweepSeries[] = [];
    for (const scheme of schemes) {
      const info = schemeInfo(scheme);
      for (const delivery of info.deliveries) {
        const c = combine(runs, scheme, delivery, machine, key);
        // A vCPU's reachability does not depend on the vCPUs after it (tests check this against
        // separate runs), so VM size n reaches the reached vCPUs among the first n.
        const reachable: number[] = [];
        const cost: (InterruptCost | undefined)[] = [];
        for (const n of points) {
          const reached: number[] = [];
          for (let v = 0; v < n; v++) if (c.reached[v]) reached.push(v);
          reachable.push(reached.length);
          cost.push(runs.steadyState(c.host, c.hostKey, reached));
        }
        series.push({ scheme, delivery, label: info.label, hypothetical: info.hypothetical, simulated: info.simulated, reachable, cost, dmaPagingReferences: dmaOf(scheme, dma).pagingReferences });
      }
    }
    sweep = { points, series };
  }
  const vmms = VMM_LIMITS.map((v) => ({ ...v, fits: o.apicIds.length <= vmmMaxVcpus(v) }));
  return { vm: o.vm, apicIds: o.apicIds, guest: o.guest, guestName, rows, sweep, vmms, elapsedMs: performance.now() - started };
}
