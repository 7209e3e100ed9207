/**
 * The path each interrupt and DMA request took, read from a run's outcome events: five hops,
 * device → fabric (the requester ID the IOMMU saw, or the port that stopped it) → unit →
 * entry (IRTE, IRTE + PID, page walk or IOTLB) → target (CPUs, vCPU, HPA) or the fault.
 * A request stopped early has fewer hops; its last hop says why.
 */
import type { PlatformEvent } from '../platform/events.ts';
import type { PlatformState } from '../platform/state.ts';
import type { RunResult } from '../scenario/run.ts';
import { formatBdf } from '../pci/bdf.ts';
import { faultReason } from '../vtd/fault-reasons.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import { vcpuName } from '../scenario/trace.ts';
import { unitName } from '../platform/vendor.ts';
import { hex, hexPad } from './model.ts';

/** How a hop ended: `ok` passed on, `fault` stopped the request, `bypass` went around the IOMMU. */
export type HopState = 'ok' | 'fault' | 'bypass';

export interface Hop {
  /** Column: 0 device, 1 fabric, 2 unit, 3 entry, 4 target. */
  readonly column: number;
  readonly text: string;
  readonly state: HopState;
}

export interface RequestPath {
  /** Scenario step index (from 0) and its label. */
  readonly step: number;
  readonly label: string;
  readonly kind: 'interrupt' | 'dma';
  /** `delivered`, `posted`, `injected`, `fault`, `blocked`, `dma`, `peer`. */
  readonly outcome: string;
  readonly hops: readonly Hop[];
  /** Properties the action that made this request violated (P1/P3 for an interrupt, P2/P4 for DMA); empty when none. */
  readonly violated: readonly string[];
}

export const COLUMNS = ['Device', 'Fabric (requester ID)', 'Unit', 'Entry', 'Target'] as const;

const ok = (column: number, text: string): Hop => ({ column, text, state: 'ok' });
const fault = (column: number, text: string): Hop => ({ column, text, state: 'fault' });
const bypass = (column: number, text: string): Hop => ({ column, text, state: 'bypass' });

function ridHop(state: PlatformState, device: string, rid: number): Hop {
  const d = state.devices[device];
  return ok(1, d !== undefined && d.rid !== rid ? `RID ${formatBdf(rid)} (not its own ${formatBdf(d.rid)})` : `RID ${formatBdf(rid)}`);
}

const unit = (state: PlatformState, i: number | undefined): string => unitName(state, i) ?? 'no IOMMU';
const cpus = (t: readonly number[]): string => (t.length === 0 ? 'no CPU accepts it' : t.map((c) => `cpu${c}`).join(','));

function pdaOwner(state: PlatformState, pda: bigint): string {
  const v = vcpuList(state.vcpus).find((x) => x.pda === pda);
  return v === undefined ? 'no vCPU' : vcpuName(state, v.id);
}

/** The path of one outcome event, or undefined for an event that is not a request's outcome. */
export function pathOf(e: PlatformEvent, state: PlatformState): Omit<RequestPath, 'step' | 'label' | 'violated'> | undefined {
  const p = hopsOf(e, state);
  if (p === undefined) return undefined;
  // The device's owner in the first box: a reviewer reads "whose device reached whom".
  const owner = state.intent.owners['device' in e ? e.device : ''];
  const name = owner === undefined ? 'unassigned' : (state.domains[owner]?.name ?? String(owner));
  return { ...p, hops: p.hops.map((h) => (h.column === 0 ? { ...h, text: `${h.text} (${name})` } : h)) };
}

function hopsOf(e: PlatformEvent, state: PlatformState): Omit<RequestPath, 'step' | 'label' | 'violated'> | undefined {
  switch (e.kind) {
    case 'interrupt-delivered': {
      if (e.path === 'system-error') return { kind: 'interrupt', outcome: 'delivered', hops: [ok(0, e.device), bypass(1, 'Unsupported Request → SERR#'), bypass(2, 'not remapped'), bypass(3, 'NMI'), ok(4, cpus(e.targets))] };
      const entry = e.path === 'remapped' ? ok(3, `IRTE ${hex(e.irteIndex ?? 0)} (IEC ${e.iecHit ? 'hit' : 'miss'})`) : bypass(3, 'compatibility format');
      return { kind: 'interrupt', outcome: 'delivered', hops: [ok(0, e.device), ridHop(state, e.device, e.rid), e.path === 'remapped' ? ok(2, unit(state, e.iommu)) : bypass(2, unit(state, e.iommu)), entry, ok(4, `vector ${hex(e.vector)} → ${cpus(e.targets)}`)] };
    }
    case 'interrupt-posted': {
      const entry = e.irteIndex === undefined ? 'direct-post (hypothetical)' : `IRTE ${hex(e.irteIndex)} → ${e.amdvi === undefined ? 'PID' : 'vAPIC page'} ${hex(e.pda)}`;
      const note = e.notification === undefined ? `no notification (${e.suppressed === 'sn-set' ? 'SN' : 'ON'})` : `notify ${cpus(e.notification.targets)}`;
      return { kind: 'interrupt', outcome: 'posted', hops: [ok(0, e.device), ridHop(state, e.device, e.rid), ok(2, unit(state, e.iommu)), ok(3, entry), ok(4, `vector ${hex(e.virtualVector)} → ${pdaOwner(state, e.pda)}, ${note}`)] };
    }
    case 'interrupt-fault': {
      const why = e.amdvi === undefined ? `fault ${hex(e.reason)} ${faultReason(e.reason)?.description ?? ''}`.trim() : `abort: event ${hex(e.reason)}`;
      return { kind: 'interrupt', outcome: 'fault', hops: [ok(0, e.device), ridHop(state, e.device, e.rid), ok(2, unit(state, e.iommu)), fault(3, e.irteIndex === undefined ? 'no IRTE' : `IRTE ${hex(e.irteIndex)}`), fault(4, why)] };
    }
    case 'interrupt-injected':
      return { kind: 'interrupt', outcome: 'injected', hops: [ok(0, e.device), bypass(1, 'host interrupt'), bypass(2, 'hypervisor'), bypass(3, 'software injection'), ok(4, `vector ${hex(e.vector)} → ${vcpuName(state, e.vcpu)}`)] };
    case 'msi-validation':
      return { kind: 'interrupt', outcome: 'blocked', hops: [ok(0, e.device), fault(1, `host-bridge MSI validation: ${formatBdf(e.rid)}`)] };
    case 'request-blocked':
      return { kind: e.address >= 0xfee0_0000n && e.address <= 0xfeef_ffffn ? 'interrupt' : 'dma', outcome: 'blocked', hops: [ok(0, e.device), fault(1, `blocked by ${e.port} (ACS SV, RID ${formatBdf(e.rid)})`)] };
    case 'unsupported-request':
      return { kind: 'dma', outcome: 'blocked', hops: [ok(0, e.device), fault(1, `Unsupported Request at ${hexPad(e.address, 8)} (root complex)`)] };
    case 'dma-peer':
      return { kind: 'dma', outcome: 'peer', hops: [ok(0, e.device), bypass(1, `peer via ${e.at}`), bypass(2, 'never translated'), bypass(3, '—'), ok(4, `${e.target} at ${hex(e.address)}`)] };
    case 'dma-access': {
      const how = e.translation === 'untranslated' ? bypass(3, 'untranslated') : ok(3, e.translation === 'iotlb-hit' ? `${e.type ?? ''} IOTLB hit`.trim() : `${e.type ?? ''} walk`.trim());
      return { kind: 'dma', outcome: 'dma', hops: [ok(0, e.device), ridHop(state, e.device, e.rid), e.iommu === undefined ? bypass(2, 'no IOMMU') : ok(2, unit(state, e.iommu)), how, ok(4, `${e.write ? 'write' : 'read'} IOVA ${hex(e.iova)} → HPA ${hex(e.hpa)}`)] };
    }
    case 'dma-fault':
      return { kind: 'dma', outcome: 'fault', hops: [ok(0, e.device), ridHop(state, e.device, e.rid), ok(2, unit(state, e.iommu)), fault(3, e.condition), fault(4, `${e.write ? 'write' : 'read'} IOVA ${hex(e.iova)}: fault ${hex(e.reason)}`)] };
    default:
      return undefined;
  }
}

/**
 * Every request path of a run, in step order, each with the properties its action violated
 * (violations name the action by its index, as events do in `step`).
 */
export function requestPaths(r: RunResult): RequestPath[] {
  const at = new Map<string, string[]>();
  const mark = (kind: 'interrupt' | 'dma', property: string, list: readonly { step: number }[]): void => {
    for (const v of list) {
      const k = `${kind}:${v.step}`;
      const l = at.get(k) ?? [];
      if (!l.includes(property)) l.push(property);
      at.set(k, l);
    }
  };
  mark('interrupt', 'P1', r.violations);
  mark('interrupt', 'P3', r.lost);
  mark('dma', 'P2', r.dmaIsolation);
  mark('dma', 'P4', r.coherence);
  const out: RequestPath[] = [];
  for (const s of r.steps) {
    for (const e of s.events) {
      const p = pathOf(e, r.final);
      if (p !== undefined) out.push({ step: s.step.index, label: s.step.label, ...p, violated: at.get(`${p.kind}:${e.step}`) ?? [] });
    }
  }
  return out;
}
