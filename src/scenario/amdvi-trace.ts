/**
 * Trace lines for the AMD-Vi platform events (src/platform/amdvi-events.ts) and for the
 * vendor-neutral outcome events when an AMD-Vi unit produced them (their `amdvi` detail, or a
 * remapped delivery on an AMD platform). src/scenario/trace.ts `formatEvent` asks here first;
 * undefined means "not an AMD line, format it as usual". Pure formatting.
 */
import type { PlatformEvent } from '../platform/events.ts';
import type { PlatformState } from '../platform/state.ts';
import { DELIVERY_MODE_NAMES } from '../x86/msi.ts';
import { formatBdf } from '../pci/bdf.ts';
import { hexDigits } from '../bits/bits.ts';
import { unitName as vendorUnitName } from '../platform/vendor.ts';
import { vcpuAt } from '../platform/vcpu-table.ts';
import { decodeDte, dteInterruptTableRoot, dtePageTableRoot } from '../amdvi/dte.ts';
import { decodeAmdIrte } from '../amdvi/irte.ts';

const h = (v: number | bigint): string => `0x${v.toString(16)}`;

function unitName(state: PlatformState, iommu: number | undefined): string {
  return iommu === undefined ? 'no IOMMU' : (vendorUnitName(state, iommu) ?? `unit ${iommu}`);
}

function vcpuLabel(state: PlatformState, id: number | undefined): string {
  if (id === undefined) return 'no vCPU (the backing page is no vCPU’s)';
  const v = vcpuAt(state.vcpus, id);
  return v === undefined ? `vCPU ${id}` : `${state.domains[v.domain]?.name ?? v.domain}.vcpu${v.index}`;
}

const LOGGING: Readonly<Record<string, string>> = {
  logged: 'logged in the event log',
  overflow: 'not logged (event log full: Status.EventOverflow set)',
  'overflow-pending': 'not logged (Status.EventOverflow is set)',
  disabled: 'not logged (Control.EventLogEn = 0)',
  suppressed: 'not logged (suppressed: DTE.IG / IRTE.SupIOPF / DTE.SA)',
  none: 'nothing logged (target abort only)',
};

/** The AMD line for `e`, or undefined when it is not an AMD event. */
export function formatAmdEvent(e: PlatformEvent, state: PlatformState): string | undefined {
  const msi = (x: { device: string; rid: number; address: bigint; data: number }): string => {
    const spoof = state.devices[x.device]?.rid === x.rid ? '' : ` as requester ${formatBdf(x.rid)}`;
    return `${x.device}${spoof} MSI ${hexDigits(x.address, x.address >> 32n === 0n ? 8 : 16)}/${hexDigits(x.data, 8)}`;
  };
  switch (e.kind) {
    case 'amdvi-event':
      return `${unitName(state, e.iommu)} event ${e.name} (code ${h(e.code)}) DeviceID ${formatBdf(e.deviceId)} address ${h(e.address)}: ${LOGGING[e.logging] ?? e.logging}${e.interrupt ? ', event-log interrupt due' : ''}`;
    case 'amdvi-ga-log':
      return `${unitName(state, e.iommu)} GA log: GATag ${h(e.gaTag)} DeviceID ${formatBdf(e.deviceId)} ${e.result === 'logged' ? `entry ${hexDigits(e.entry, 16)} at ${h(e.at ?? 0n)}` : e.result === 'full' ? 'not written (GA log full: Status.GALOverflow set)' : 'not written (Control.GALogEn = 0)'}${e.interrupt ? `, GA-log interrupt → host wakes ${vcpuLabel(state, e.wake)} (KVM avic_ga_log_notifier)` : ', no GA-log interrupt (Control.GAIntEn = 0)'}`;
    case 'amdvi-register':
      return `${unitName(state, e.iommu)} ${e.register} ← ${hexDigits(e.value, 16)} (Status ${h(e.status)})${e.note === undefined ? '' : `: ${e.note}`}`;
    case 'amdvi-command':
      return `${unitName(state, e.iommu)} command at ${h(e.at)}: ${e.what}`;
    case 'interrupt-fault':
      if (e.amdvi === undefined) return undefined;
      return `${msi(e)} → BLOCKED by ${unitName(state, e.iommu)}: ${e.amdvi.event ?? 'target abort'} (${e.amdvi.why})${e.irteIndex === undefined ? '' : ` (IRTE ${h(e.irteIndex)})`}, ${LOGGING[e.amdvi.logging] ?? e.amdvi.logging}`;
    case 'dma-fault':
      if (e.amdvi === undefined) return undefined;
      return `${e.device} DMA ${e.write ? 'write' : 'read'} IOVA ${hexDigits(e.iova, 16)} → BLOCKED by ${unitName(state, e.iommu)}: ${e.amdvi.event} (${e.condition}) flags ${h(e.amdvi.flags)} domain ${e.amdvi.domainId}, ${LOGGING[e.amdvi.logging] ?? e.amdvi.logging}`;
    case 'interrupt-posted': {
      const a = e.amdvi;
      if (a === undefined) return undefined;
      const then = a.isRun
        ? `IsRun=1: doorbell → APIC ${h(a.doorbell ?? 0)} (${e.notification?.targets.map((c) => `cpu${c}`).join(',') || 'no CPU accepts it'})`
        : `IsRun=0: ${a.gaLog === 'not-requested' ? 'GALogIntr=0, no GA-log entry' : `GA log ${a.gaLog}`}`;
      return `${msi(e)} → AVIC-posted by ${unitName(state, e.iommu)} IRTE ${h(e.irteIndex ?? 0)} (IRTE cache ${e.iecHit ? 'hit' : 'miss'}): GATag ${h(a.gaTag)}, IRR bit ${h(e.virtualVector)} set in backing page ${h(e.pda)}, ${then}`;
    }
    case 'interrupt-delivered': {
      if (state.amdvi === undefined || e.path !== 'remapped') return undefined;
      const shown = e.targets.length === 0 ? 'no CPU accepts it' : e.targets.map((c) => `cpu${c}`).join(',');
      const cpus = e.candidates.length > e.targets.length ? `${shown} (arbitration: any of ${e.candidates.map((c) => `cpu${c}`).join(',')})` : shown;
      return `${msi(e)} → remapped by ${unitName(state, e.iommu)} IRTE ${h(e.irteIndex ?? 0)} (IRTE cache ${e.iecHit ? 'hit' : 'miss'}): vector ${h(e.vector)} ${DELIVERY_MODE_NAMES[e.deliveryMode]} ${e.triggerMode} ${e.destinationMode} dest ${h(e.destination)} → ${cpus}`;
    }
    case 'pir-processed':
      if (state.amdvi === undefined) return undefined;
      return `${vcpuLabel(state, e.vcpu)} on cpu${e.pcpu}: backing-page IRR → vIRR ${e.vectors.map((v) => h(v)).join(',')} (${e.by === 'notification' ? 'AVIC doorbell in guest mode, no VM exit' : 'at VMRUN'})`;
    case 'memory-write': {
      if (e.what === undefined || !e.what.startsWith('AMD-Vi ')) return undefined;
      const value = e.bytes === 32 || e.bytes === 16 ? hexDigits(e.value, e.bytes * 2).replace(/(.{16})(?=.)/g, '$1_') : hexDigits(e.value, e.bytes * 2);
      const detail = e.what.startsWith('AMD-Vi DTE') ? describeAmdDte(e.value) : e.what.startsWith('AMD-Vi IRTE') ? describeAmdIrte(e.value, e.bytes === 16) : undefined;
      return `memory ${hexDigits(e.address, 16)} ← ${value}  ${e.what}${detail === undefined ? '' : `: ${detail}`}`;
    }
    default:
      return undefined;
  }
}

/** One-line decoded DTE (the fields the model uses), in the order of Linux's amd debugfs `devtbl` dump. */
export function describeAmdDte(raw: bigint): string {
  const d = decodeDte(raw);
  const parts = [d.V ? 'V' : 'not-valid', d.TV ? 'TV' : 'no-TV', `Mode=${d.Mode}`, `PtRoot=${h(dtePageTableRoot(d))}`, d.IR ? 'IR' : '', d.IW ? 'IW' : '', `DomainID=${d.DomainID}`];
  if (d.IV) parts.push('IV', `IntCtl=${['abort', 'forward', 'remap', 'reserved'][d.IntCtl]}`, `IntTabLen=${d.IntTabLen}`, `IntTab=${h(dteInterruptTableRoot(d))}`);
  else parts.push('no-IV');
  for (const [name, on] of [['IG', d.IG], ['EX', d.EX], ['SA', d.SA], ['InitPass', d.InitPass], ['EIntPass', d.EIntPass], ['NMIPass', d.NMIPass], ['Lint0Pass', d.Lint0Pass], ['Lint1Pass', d.Lint1Pass]] as const) if (on) parts.push(name);
  if (d.SysMgt !== 0) parts.push(`SysMgt=${d.SysMgt}`);
  if (d.reserved !== 0n) parts.push(`reserved=${h(d.reserved)}`);
  return parts.filter((p) => p !== '').join(' ');
}

/** One-line decoded AMD-Vi IRTE, 128-bit when `ga`. */
export function describeAmdIrte(raw: bigint, ga: boolean): string {
  const i = decodeAmdIrte(raw, ga);
  const parts = [i.remapEn ? 'RemapEn' : 'not-RemapEn'];
  if (i.supIopf) parts.push('SupIOPF');
  if (i.format === 'ga-vapic') {
    parts.push('GuestMode', `GATag=${h(i.gaTag)}`, `vector=${h(i.vector)}`, `backing=${h(i.backingPage)}`, `IsRun=${i.isRun ? 1 : 0}`, `dest=${h(i.destination)}`);
    if (i.gaLogIntr) parts.push('GALogIntr');
  } else {
    parts.push(`vector=${h(i.vector)}`, `dest=${h(i.destination)}`, i.intType === 1 ? 'lowest-priority' : i.intType === 0 ? 'fixed' : `IntType=${i.intType}`, i.destinationModeLogical ? 'logical' : 'physical');
    if (i.rqEoi) parts.push('RqEoi');
    if (i.format === 'legacy' && i.guestMode) parts.push('GuestMode');
  }
  if (i.reserved !== 0n) parts.push(`reserved=${h(i.reserved)}`);
  return parts.join(' ');
}
