/**
 * Trace formatting: one line per event, hex values with decoded fields, grouped under
 * the scenario step that caused them, ending with the P1 verdict; or JSON lines (one
 * object per event with a `kind`, bigints as hex strings). Pure formatting of events:
 * the same run gives the same bytes (P5).
 */
import type { PlatformEvent } from '../platform/events.ts';
import type { PlatformState } from '../platform/state.ts';
import { DELIVERY_MODE_NAMES } from '../x86/msi.ts';
import { decodeIrte } from '../vtd/irte.ts';
import { decodeIrta, irtEntries } from '../vtd/registers.ts';
import { faultReason } from '../vtd/fault-reasons.ts';
import { directPostFaultReason } from '../hypothetical/direct-post/faults.ts';
import { formatBdf } from '../pci/bdf.ts';
import { hexDigits } from '../bits/bits.ts';
import { vcpuAt } from '../platform/vcpu-table.ts';
import { pagingReferenceCount, type MemoryReference } from '../vtd/dma/walk.ts';
import { RTADDR, frameAddress } from '../vtd/dma/structures.ts';
import { formatEventInterrupt, formatInvalidation, formatRegisterWrite } from '../vtd/register-text.ts';

/** One line per structure a DMA walk read: stage, level, table, index, entry (for `run --walks`). */
export function formatWalk(refs: readonly MemoryReference[]): string[] {
  return refs.map(
    (r) =>
      `      ${r.stage.padEnd(9)} ${r.level ? `L${r.level}` : '  '} table ${hexDigits(r.tableAddress, 12)} [${String(r.index).padStart(3)}] @${hexDigits(r.entryAddress, 12)} = ${hexDigits(r.entry, r.stage === 'root' || r.stage === 'context' || r.stage === 'pasid' ? 32 : 16)}${r.entryGpa === undefined ? '' : ` (GPA ${hexDigits(r.entryGpa, 12)})`}`,
  );
}
import type { RunResult } from './run.ts';
import { formatAmdEvent } from './amdvi-trace.ts';
import { rejectedCount, type FaultTally } from '../properties/p6-fault-accountability.ts';

const h = (v: number | bigint): string => `0x${v.toString(16)}`;
const SVT_NAMES = ['none', 'requester-id', 'bus-range', 'reserved'];

/** An MSI address as lspci prints it: 8 hex digits, or 16 when the high dword is used. */
export function formatMsiAddress(address: bigint): string {
  return hexDigits(address, address >> 32n === 0n ? 8 : 16);
}

/** One-line decoded view of a raw IRTE (as Linux debugfs names the halves: IRTE_high, IRTE_low). */
export function describeIrte(raw: bigint): string {
  const { irte, reserved } = decodeIrte(raw);
  const parts = [irte.present ? 'P' : 'not-present'];
  if (irte.fpd) parts.push('FPD');
  if (irte.mode === 'remapped') {
    parts.push(
      `V=${h(irte.vector)}`,
      `DST=${hexDigits(irte.destination, 8)}`,
      DELIVERY_MODE_NAMES[irte.deliveryMode] ?? String(irte.deliveryMode),
      irte.triggerLevel ? 'level' : 'edge',
      irte.destinationModeLogical ? 'logical' : 'physical',
    );
    if (irte.redirectionHint) parts.push('RH');
  } else {
    parts.push('posted', `VV=${h(irte.virtualVector)}`, `PDA=${h(irte.pda)}`);
    if (irte.urgent) parts.push('URG');
  }
  parts.push(`SVT=${irte.svt}(${SVT_NAMES[irte.svt]})`, `SQ=${irte.sq}`, `SID=${irte.svt === 2 ? `bus ${h(irte.sid >> 8)}-${h(irte.sid & 0xff)}` : formatBdf(irte.sid)}`);
  if (reserved !== 0n) parts.push(`reserved=${h(reserved)}`);
  return parts.join(' ');
}

/** `vm1.vcpu0` */
export function vcpuName(state: PlatformState, id: number): string {
  const v = vcpuAt(state.vcpus, id);
  return v === undefined ? `vCPU ${id}` : `${state.domains[v.domain]?.name ?? v.domain}.vcpu${v.index}`;
}

function unitName(state: PlatformState, iommu: number | undefined): string {
  return iommu === undefined ? 'no IOMMU' : (state.iommus[iommu]?.name ?? `unit ${iommu}`);
}

/** One human line for an event. `state` supplies names (units, CPUs). */
export function formatEvent(e: PlatformEvent, state: PlatformState): string {
  // AMD-Vi lines first (src/scenario/amdvi-trace.ts): undefined for every VT-d event.
  const amd = formatAmdEvent(e, state);
  if (amd !== undefined) return amd;
  switch (e.kind) {
    case 'interrupt-delivered': {
      if (e.path === 'system-error') {
        return `${e.device} Unsupported Request reported as SERR# → NMI dest ${h(e.destination)} → ${e.targets.map((c) => `cpu${c}`).join(',') || 'no CPU accepts it'} (interrupt remapping never saw it)`;
      }
      const via = e.path === 'remapped' ? `remapped by ${unitName(state, e.iommu)} IRTE ${h(e.irteIndex ?? 0)} (IEC ${e.iecHit ? 'hit' : 'miss'})` : `compatibility format, not remapped${e.iommu === undefined ? ' (no remapping unit)' : ''}`;
      const shown = e.targets.length === 0 ? 'no CPU accepts it' : e.targets.map((c) => `cpu${c}`).join(',');
      // One of a set: the model shows the lowest, the hardware may pick any of them.
      const cpus = e.candidates.length > e.targets.length ? `${shown} (arbitration: any of ${e.candidates.map((c) => `cpu${c}`).join(',')})` : shown;
      const spoof = state.devices[e.device]?.rid === e.rid ? '' : ` as requester ${formatBdf(e.rid)}`;
      return `${e.device}${spoof} MSI ${formatMsiAddress(e.address)}/${hexDigits(e.data, 8)} → ${via}: vector ${h(e.vector)} ${DELIVERY_MODE_NAMES[e.deliveryMode]} ${e.triggerMode} ${e.destinationMode} dest ${h(e.destination)} → ${cpus}`;
    }
    case 'interrupt-fault': {
      const reason = e.directPost === undefined ? faultReason(e.reason) : (directPostFaultReason(e.reason) ?? faultReason(e.reason));
      const spoof = state.devices[e.device]?.rid === e.rid ? '' : ` as requester ${formatBdf(e.rid)}`;
      const recorded = e.frcd === undefined ? (e.qualified ? 'not recorded (FPD or overflow)' : 'not recorded (overflow, FSTS.PFO)') : `recorded in FRCD${e.frcd}`;
      return `${e.device}${spoof} MSI ${formatMsiAddress(e.address)}/${hexDigits(e.data, 8)} → BLOCKED by ${unitName(state, e.iommu)}: fault ${h(e.reason)} ${reason?.description ?? ''}${e.irteIndex === undefined ? '' : ` (index ${h(e.irteIndex)})`}${e.directPost === undefined ? '' : ` (hypothetical direct-post, vAPIC ${e.directPost.vapicId})`}, SID ${formatBdf(e.rid)}, ${recorded}`;
    }
    case 'interrupt-posted': {
      const n = e.notification;
      const note = n === undefined ? `no notification (${e.suppressed === 'sn-set' ? 'SN set' : 'ON already set'})` : `notification vector ${h(n.vector)} → APIC ${h(n.apicId)} (${n.targets.map((c) => `cpu${c}`).join(',') || 'no CPU accepts it'})`;
      const spoof = state.devices[e.device]?.rid === e.rid ? '' : ` as requester ${formatBdf(e.rid)}`;
      if (e.directPost !== undefined || e.irteIndex === undefined) {
        const dp = e.directPost;
        return `${e.device}${spoof} MSI ${formatMsiAddress(e.address)}/${hexDigits(e.data, 8)} → direct-posted (hypothetical) vAPIC ${dp?.vapicId ?? '?'} → PID ${h(e.pda)} by ${unitName(state, e.iommu)} (cache ${dp?.cacheHit ? 'hit' : 'miss'}): ${e.virtualVector >= 256 ? 'PIR extension' : 'PIR'} bit ${h(e.virtualVector)}${e.urgent ? ' (URG)' : ''}, ${note}`;
      }
      return `${e.device}${spoof} MSI ${formatMsiAddress(e.address)}/${hexDigits(e.data, 8)} → posted by ${unitName(state, e.iommu)} IRTE ${h(e.irteIndex)} (IEC ${e.iecHit ? 'hit' : 'miss'}): PIR bit ${h(e.virtualVector)} set in PID ${h(e.pda)}${e.urgent ? ' (URG)' : ''}, ${note}`;
    }
    case 'dma-access': {
      const how = e.translation === 'untranslated' ? 'untranslated (no DMA remapping)' : e.translation === 'iotlb-hit' ? `${e.type} IOTLB hit` : `${e.type} walk, ${pagingReferenceCount(e.references)} paging-structure reads (${e.references.length} in all)`;
      const pasid = e.pasid === undefined ? '' : ` PASID ${h(e.pasid)}`;
      return `${e.device}${pasid} DMA ${e.write ? 'write' : 'read'} ${e.size} B IOVA ${hexDigits(e.iova, 16)} → HPA ${hexDigits(e.hpa, 16)} (${how}) ${e.write ? '←' : '→'} ${hexDigits(e.value, e.size * 2)}`;
    }
    case 'dma-fault': {
      const reason = faultReason(e.reason);
      const recorded = e.frcd === undefined ? 'not recorded' : `recorded in FRCD${e.frcd}`;
      return `${e.device} DMA ${e.write ? 'write' : 'read'} IOVA ${hexDigits(e.iova, 16)} → BLOCKED by ${unitName(state, e.iommu)}: fault ${h(e.reason)} ${reason?.description ?? e.condition} (${e.condition}), ${recorded}`;
    }
    case 'unsupported-request': {
      const what = { read: 'a read of the interrupt range', 'not-dword': 'not a DWORD write', misaligned: 'a misaligned DWORD write', 'pasid-untranslated': 'a PASID request that nothing translates' }[e.why];
      const pasid = e.pasid === undefined ? '' : ` PASID ${h(e.pasid)}`;
      const value = e.write ? ` ← ${hexDigits(e.value, e.size * 2)}` : '';
      return `${e.device}${pasid} DMA ${e.write ? 'write' : 'read'} ${e.size} B at ${hexDigits(e.address, 16)}${value} → UNSUPPORTED REQUEST (${what}): aborted by the root complex before interrupt remapping, no fault recorded; ${e.signalled === 'serr-nmi' ? 'reported as a system error (SERR#)' : 'UR signalling masked'}`;
    }
    case 'msi-validation':
      return `${e.device} MSI ${hexDigits(e.address, 16)}/${hexDigits(e.data, 8)} as requester ${formatBdf(e.rid)} → BLOCKED by host-bridge MSI validation: not a pair assigned to its partitionable endpoint (${e.assigned} assigned), error recorded, never reaches the IOMMU`;
    case 'request-blocked':
      return `${e.device} ${e.write ? 'write' : 'read'} at ${hexDigits(e.address, 16)} as requester ${formatBdf(e.rid)} → BLOCKED by ${e.port}: ACS Source Validation (bus ${hexDigits(e.rid >> 8, 2)} outside ${hexDigits(e.range[0], 2)}-${hexDigits(e.range[1], 2)}), never reaches the IOMMU`;
    case 'dma-peer':
      return `${e.device} DMA ${e.write ? 'write' : 'read'} ${e.size} B at ${hexDigits(e.address, 16)} → PEER ${e.target} via ${e.at} (${e.why}), never translated`;
    case 'memory-write': {
      const value = hexDigits(e.value, e.bytes * 2);
      const detail = e.bytes === 16 && e.what?.startsWith('IRTE') ? `  ${e.what}: ${describeIrte(e.value)}` : e.what ? `  ${e.what}` : '';
      return `memory ${hexDigits(e.address, 16)} ← ${e.bytes === 16 ? `${value.slice(0, 16)}_${value.slice(16)}` : value}${detail}`;
    }
    case 'register-write': {
      const unit = unitName(state, e.iommu);
      const note = e.note ? `  (${e.note})` : '';
      if (e.register === 'IRTA') {
        const i = decodeIrta(e.value);
        return `${unit} IRTA ← ${hexDigits(e.value, 16)} (base ${h(i.base)}, EIME=${i.eime ? 1 : 0}, S=${i.size}: ${irtEntries(i.size)} entries)${note}`;
      }
      if (e.register === 'FRCD') return `${unit} FRCD${e.value} F cleared${note}`;
      if (e.register === 'RTADDR') {
        const r = RTADDR.decode(e.value);
        return `${unit} RTADDR ← ${hexDigits(e.value, 16)} (root table ${h(frameAddress(r.RTA))}, TTM=${r.TTM}: ${['legacy', 'scalable', 'reserved', 'abort-DMA'][r.TTM]} mode)${note}`;
      }
      if (e.register !== 'GCMD') return formatRegisterWrite(unit, e.register, e.value, e.changed, e.note);
      return `${unit} GCMD ← ${hexDigits(e.value, 8)}  GSTS ${hexDigits(e.gsts, 8)}${e.changed.length ? ` [${e.changed.join(' ')}]` : ''}${note}`;
    }
    case 'invalidation':
      return formatInvalidation(unitName(state, e.iommu), e);
    case 'direct-post':
      return e.change === 'dpta'
        ? `${unitName(state, e.iommu)} DPTA ← ${hexDigits(e.value, 16)} (${e.what})`
        : `${unitName(state, e.iommu)} direct-post cache invalidation (hypothetical, type 0xE) ${e.what}: dropped ${e.dropped ? `${e.dropped} entr${e.dropped === 1 ? 'y' : 'ies'}` : 'nothing'}`;
    case 'event-interrupt':
      return formatEventInterrupt(unitName(state, e.iommu), e);
    case 'iec-invalidate':
      return `${unitName(state, e.iommu)} IEC invalidate ${e.granularity === 'global' ? 'global' : `index ${h(e.index ?? 0)} (${e.count} entries)`}: dropped ${e.dropped.length ? e.dropped.map(h).join(',') : 'nothing'}`;
    case 'msi-pending':
      return `${e.device} ${e.capability === 'msix' ? 'MSI-X entry' : 'MSI vector'} ${e.vector} masked: pending bit set`;
    case 'msi-dropped':
      return `${e.device} cannot signal vector ${e.vector}: ${e.why}`;
    case 'msi-config':
      return `${e.device} ${e.change}`;
    case 'intent':
      return `intent: ${e.change}`;
    case 'guest-access': {
      const what = e.space === 'config' ? `config ${h(e.offset)}` : `BAR${e.bar} ${h(e.offset)}`;
      const changes = [
        ...(e.written.length > 0 ? [`entries ${e.written.join(',')} written`] : []),
        ...e.unmasked.map((u) => `entry ${u.entry} unmasked${u.pending ? ' (pending)' : ''}`),
        ...e.masked.map((k) => `entry ${k} masked`),
      ];
      return `guest ${e.write ? 'writes' : 'reads'} ${e.device} ${what} (${e.size} bytes${e.write ? `, ${hexDigits(e.value, e.size * 2)}` : ` → ${hexDigits(e.value, e.size * 2)}`}) [${e.regions.join('+')}]${changes.length > 0 ? `: ${changes.join(', ')}` : ''}`;
    }
    case 'vmm':
      return `vmm (${e.design}): ${e.note}`;
    case 'vmm-cost':
      return `cost: ${e.cost} — ${e.detail}`;
    case 'kvm-routing':
      return e.change === 'full'
        ? `KVM routing table full (${e.used}/${e.capacity} routes): GSI ${e.gsi} refused (-ENOSPC)`
        : `KVM route GSI ${e.gsi} ${e.change === 'remove' ? 'removed' : `${e.change === 'add' ? 'added' : 'updated'}: MSI ${hexDigits(e.address ?? 0n, 8)}/${hexDigits(e.data ?? 0, 8)}`} (${e.used}/${e.capacity} routes)`;
    case 'device-raised':
      return `${e.device} raises MSI-X entry ${e.entry}`;
    case 'ims-raised':
      return `${e.device} raises IMS slot ${e.slot}: ${e.masked ? 'masked in the device: nothing sent (no pending bit)' : `sends its physical pair ${hexDigits(e.address, 8)}/${hexDigits(e.data, 8)}`}`;
    case 'device-register':
      return `${e.device} BAR${e.bar} ${h(e.offset)} ← ${hexDigits(e.value, e.size * 2)} (${e.size} bytes) by ${e.by}${e.msixTable ? ': the physical MSI-X table' : ''}`;
    case 'interrupt-injected':
      return `${e.device}'s interrupt injected in software: vector ${h(e.vector)} → ${vcpuName(state, e.vcpu)} vIRR`;
    case 'pir-processed':
      return `${vcpuName(state, e.vcpu)} on cpu${e.pcpu}: PIR → vIRR ${e.vectors.length ? e.vectors.map(h).join(',') : '(empty)'} (${e.by === 'notification' ? 'notification in guest mode, no VM exit' : 'harvest before VM entry'})`;
    case 'vcpu-state':
      return `${vcpuName(state, e.vcpu)} ${e.was} → ${e.run} on cpu${e.pcpu}`;
    case 'guest-interrupt':
      return `${vcpuName(state, e.vcpu)} guest ${e.what === 'ack' ? 'acknowledges' : 'EOIs'} ${e.vector === undefined ? 'nothing' : `vector ${h(e.vector)}`}`;
    case 'hypervisor':
      return `hypervisor (${e.policy}): ${e.request}`;
    case 'action-rejected':
      return `rejected: ${e.why}`;
    case 'amdvi-event':
    case 'amdvi-ga-log':
    case 'amdvi-register':
    case 'amdvi-command':
      return formatAmdEvent(e, state)!;
  }
}

/** JSON-safe copy: bigints become hex strings. */
export function toJsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return h(value);
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonValue(v)]));
  return value;
}

/** The human trace of a run, ending with the verdict lines. `walks`: print every DMA walk step. */
export function formatTrace(r: RunResult, options: { walks?: boolean } = {}): string {
  const lines: string[] = [`scenario: ${r.scenario.name}`];
  if (r.scenario.description) lines.push(...r.scenario.description.trim().split('\n').map((l) => `  ${l}`));
  for (const w of r.scenario.warnings) lines.push(`warning: ${w}`);
  let state = r.initial;
  for (const s of r.steps) {
    lines.push(`#${s.step.index} ${s.step.label}${s.step.note ? ` — ${s.step.note}` : ''}${s.step.line === undefined ? '' : `  (line ${s.step.line})`}`);
    for (const e of s.events) {
      lines.push(`    ${formatEvent(e, state)}`);
      if (options.walks && (e.kind === 'dma-access' || e.kind === 'dma-fault')) lines.push(...formatWalk(e.references));
    }
    if (s.step.expect) lines.push(s.failures.length === 0 ? '    expect: ok' : `    EXPECTATION FAILED: ${s.failures.join('; ')}`);
    state = r.final; // names (units, devices) do not change during a run
  }
  const deliveries = r.steps.reduce((n, s) => n + s.events.filter((e) => e.kind === 'interrupt-delivered').length, 0);
  const blocked = r.steps.reduce((n, s) => n + s.events.filter((e) => e.kind === 'interrupt-fault').length, 0);
  const failedExpectations = r.steps.filter((s) => s.failures.length > 0).length;
  for (const v of r.violations) lines.push(`VIOLATION P1 at action ${v.step}: ${v.message}`);
  if (failedExpectations > 0) lines.push(`${failedExpectations} expectation(s) failed`);
  for (const v of r.lost) lines.push(`VIOLATION P3 at action ${v.step}: ${v.message}`);
  for (const v of r.dmaIsolation) lines.push(`VIOLATION P2 at action ${v.step}: ${v.message}`);
  for (const v of r.coherence) lines.push(`VIOLATION P4 at action ${v.step}: ${v.message}`);
  for (const v of r.accountability) lines.push(`VIOLATION P6 at action ${v.step}: ${v.message}`);
  for (const v of r.guestIntent) lines.push(`VIOLATION P7 at action ${v.step}: ${v.message}`);
  const dmaAccesses = r.steps.reduce((n, s) => n + s.events.filter((e) => e.kind === 'dma-access' || e.kind === 'dma-peer').length, 0);
  const dmaFaults = r.steps.reduce((n, s) => n + s.events.filter((e) => e.kind === 'dma-fault').length, 0);
  if (dmaAccesses + dmaFaults > 0) {
    lines.push(r.dmaIsolation.length === 0 ? `P2 DMA isolation: HELD (${dmaAccesses} accesses, ${dmaFaults} blocked)` : `P2 DMA isolation: VIOLATED (${r.dmaIsolation.length} violation(s))`);
    lines.push(r.coherence.length === 0 ? 'P4 coherence: HELD (no stale translation used)' : `P4 coherence: VIOLATED (${r.coherence.length} stale use(s))`);
  }
  if (rejectedCount(r.faults) > 0) lines.push(p6Verdict(r));
  const postings = r.steps.reduce((n, s) => n + s.events.filter((e) => e.kind === 'interrupt-posted').length, 0);
  lines.push(
    r.violations.length === 0
      ? `P1 interrupt isolation: HELD (${deliveries} deliveries, ${postings ? `${postings} postings, ` : ''}${blocked} blocked)`
      : `P1 interrupt isolation: VIOLATED (${r.violations.length} violation(s) in ${deliveries} deliveries${postings ? ` and ${postings} postings` : ''})`,
  );
  if (r.final.vcpus.count > 0) {
    lines.push(r.lost.length === 0 ? `P3 no lost interrupt: HELD (${r.final.vcpus.count} vCPUs, policy ${r.final.hypervisor.policy})` : `P3 no lost interrupt: VIOLATED (${r.lost.length} violation(s), policy ${r.final.hypervisor.policy})`);
  }
  if (r.final.vmm !== undefined) lines.push(p7Verdict(r));
  return lines.join('\n') + '\n';
}

/** How the rejected requests were accounted for, as the P6 verdict line lists them. */
function tallyText(t: FaultTally): string {
  const vtd = t.recorded + t.overflow + t.suppressed;
  const amd = t.logged + t.logOverflow + t.logSuppressed;
  const iommu = vtd + amd + t.unaccounted;
  const how: string[] = [];
  if (vtd > 0) how.push(`${t.recorded} recorded in FRCDs, ${t.overflow} lost to overflow with FSTS.PFO set, ${t.suppressed} suppressed by FPD`);
  if (amd > 0) how.push(`${t.logged} written to the event log, ${t.logOverflow} lost to event-log overflow with Status.EventOverflow set, ${t.logSuppressed} suppressed by DTE.IG/SA, IRTE.SupIOPF or never logged`);
  if (t.unaccounted) how.push(`${t.unaccounted} unaccounted`);
  const parts: string[] = [];
  if (iommu) parts.push(`${iommu} by the IOMMU (${how.join(', ')})`);
  if (t.aborted) parts.push(`${t.aborted} aborted by the root complex as Unsupported Requests`);
  if (t.blocked) parts.push(`${t.blocked} dropped by ACS Source Validation`);
  return `${rejectedCount(t)} rejected requests: ${parts.join('; ')}`;
}

/** The P6 verdict line (printed when any request was rejected). */
function p6Verdict(r: RunResult): string {
  return r.accountability.length === 0 ? `P6 fault accountability: HELD (${tallyText(r.faults)})` : `P6 fault accountability: VIOLATED (${r.accountability.length} violation(s); ${tallyText(r.faults)})`;
}

/** The P7 verdict line (printed when the platform has a VMM). */
function p7Verdict(r: RunResult): string {
  const t = r.guestIntentTally;
  const counts = `${t.raised} raised, ${t.unmaskedPending} unmasked with pending`;
  return r.guestIntent.length === 0 ? `P7 guest intent: HELD (${counts})` : `P7 guest intent: VIOLATED (${r.guestIntent.length} violation(s); ${counts})`;
}

/**
 * JSON lines (specs/output.schema.json `event`, `expectation-failed`, `verdict`): each event
 * with its scenario step, then that step's expectation failures; then the verdicts in property
 * order (P1, P2, P3, P4, P6, P7; each only where `remapsim run` prints it). Types follow the
 * schema's rule: bigints (addresses, 64-bit and wider values) as 0x-hex strings, numbers as
 * numbers; an event naming a vCPU by id (`vcpu`) also names it as `vcpuName` (`vm1.vcpu0`).
 */
export function formatJsonTrace(r: RunResult): string {
  const out: string[] = [];
  for (const s of r.steps) {
    for (const e of s.events) {
      // Names from the final state, as the text trace does: vCPUs, once created, keep their names.
      const named = 'vcpu' in e && typeof e.vcpu === 'number' ? { vcpuName: vcpuName(r.final, e.vcpu) } : {};
      out.push(JSON.stringify(toJsonValue({ ...e, ...named, scenarioStep: s.step.index })));
    }
    for (const f of s.failures) out.push(JSON.stringify({ kind: 'expectation-failed', scenarioStep: s.step.index, line: s.step.line, message: f }));
  }
  const dma = r.steps.some((s) => s.events.some((e) => e.kind === 'dma-access' || e.kind === 'dma-fault' || e.kind === 'dma-peer'));
  out.push(JSON.stringify(toJsonValue({ kind: 'verdict', property: 'P1', held: r.violations.length === 0, violations: r.violations.map((v) => ({ step: v.step, message: v.message })) })));
  if (dma) out.push(JSON.stringify({ kind: 'verdict', property: 'P2', held: r.dmaIsolation.length === 0, violations: r.dmaIsolation.map((v) => ({ step: v.step, message: v.message })) }));
  if (r.final.vcpus.count > 0) out.push(JSON.stringify({ kind: 'verdict', property: 'P3', held: r.lost.length === 0, violations: r.lost.map((v) => ({ step: v.step, message: v.message })) }));
  if (dma) out.push(JSON.stringify({ kind: 'verdict', property: 'P4', held: r.coherence.length === 0, violations: r.coherence.map((v) => ({ step: v.step, message: v.message })) }));
  if (rejectedCount(r.faults) > 0) out.push(JSON.stringify({ kind: 'verdict', property: 'P6', held: r.accountability.length === 0, faults: r.faults, violations: r.accountability.map((v) => ({ step: v.step, message: v.message })) }));
  if (r.final.vmm !== undefined) out.push(JSON.stringify({ kind: 'verdict', property: 'P7', held: r.guestIntent.length === 0, raised: r.guestIntentTally.raised, unmaskedPending: r.guestIntentTally.unmaskedPending, violations: r.guestIntent.map((v) => ({ step: v.step, device: v.device, entry: v.entry ?? null, kind: v.kind, message: v.message })) }));
  return out.join('\n') + '\n';
}
