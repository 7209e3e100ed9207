/**
 * Report sections about the machine and the hypervisor's intent: the platform (remapping
 * units with their DRHD or IVHD scope, CPUs), the PCI topology with its IOMMU groups, and the
 * domains with their interrupt and DMA grants. Read from the run's final state (units, devices,
 * intent) and the scenario as written (which DMAR or IVRS table it names).
 */
import type { PlatformState, IommuUnit, DrhdScope } from '../platform/state.ts';
import type { AmdViUnit } from '../amdvi/unit.ts';
import type { Scenario } from '../scenario/types.ts';
import type { PlatformDescription } from '../platform/build.ts';
import { decodeCap, decodeEcap, decodeIrta, irtEntries, GLOBAL_STATUS_BITS } from '../vtd/registers.ts';
import { CONTROL_BITS, regBit } from '../amdvi/registers.ts';
import { efrFeatureNames } from '../amdvi/efr.ts';
import { formatBdf } from '../pci/bdf.ts';
import { iommuGroups, describeGroupReason } from '../fabric/groups.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import { vcpuName } from '../scenario/trace.ts';
import { unitName } from '../platform/vendor.ts';
import { DELIVERY_MODE_NAMES } from '../x86/msi.ts';
import { loadDmar } from '../vtd/dmar/load.ts';
import { formatDmarSummary } from '../vtd/dmar/summary.ts';
import { loadIvrs } from '../amdvi/ivrs/load.ts';
import { formatIvrsSummary } from '../amdvi/ivrs/summary.ts';
import { dirname, resolve } from 'node:path';
import { hex, hexPad, list, pre, table, text, type Block, type Section } from './model.ts';

const gsts = (u: IommuUnit, bit: number): boolean => (u.regs.gsts & (1 << bit)) !== 0;

/** A DRHD device scope in words: endpoints, bridges (sub-hierarchies), bus ranges, IOAPICs, HPETs. */
function drhdScope(u: IommuUnit): string {
  const s: DrhdScope = u.scope;
  const parts = [
    ...(u.includePciAll ? ['INCLUDE_PCI_ALL (every device of the segment no other unit claims)'] : []),
    ...s.endpoints.map((r) => `endpoint ${formatBdf(r)}`),
    ...s.bridges.map((r) => `bridge ${formatBdf(r)} and below`),
    ...s.busRanges.map(([a, b]) => `buses ${hexPad(a, 2)}-${hexPad(b, 2)}`),
    ...s.ioapics.map((i) => `IOAPIC ${i.id} (${formatBdf(i.rid)})`),
    ...s.hpets.map((h) => `HPET ${h.id} (${formatBdf(h.rid)})`),
  ];
  return parts.join('; ') || 'none';
}

/** CAP/ECAP bits a reviewer of interrupt remapping looks at (VT-d §11.4.2, §11.4.3). */
function vtdFeatures(u: IommuUnit): string {
  const cap = decodeCap(u.cap);
  const ecap = decodeEcap(u.ecap);
  const on = [
    ecap.IR ? 'IR' : undefined,
    ecap.EIM ? 'EIM' : undefined,
    cap.PI ? 'PI' : undefined,
    ecap.QI ? 'QI' : undefined,
    ecap.SMTS ? 'SMTS' : undefined,
    ecap.PT ? 'PT' : undefined,
    cap.ESIRTPS ? 'ESIRTPS' : undefined,
  ].filter((x): x is string => x !== undefined);
  return on.join(' ') || 'none';
}

function vtdUnitRow(u: IommuUnit): string[] {
  const irta = decodeIrta(u.regs.irtaLatched);
  const ir = gsts(u, GLOBAL_STATUS_BITS.IRES);
  const latched = gsts(u, GLOBAL_STATUS_BITS.IRTPS);
  return [
    u.name,
    hexPad(u.segment, 4),
    hexPad(u.registerBase, 16),
    drhdScope(u),
    hexPad(u.cap, 16),
    hexPad(u.ecap, 16),
    vtdFeatures(u),
    ir ? 'enabled' : 'disabled',
    latched ? `${hex(irta.base)}, ${irtEntries(irta.size)} entries, EIME=${irta.eime ? 1 : 0}` : 'not latched',
    gsts(u, GLOBAL_STATUS_BITS.TES) ? 'enabled' : 'disabled',
  ];
}

function amdScope(desc: PlatformDescription, index: number): string {
  const s = desc.amdvi?.units[index]?.scope;
  if (s === undefined) return 'unknown';
  const parts = [
    ...s.ranges.map((r) => (r.first === r.last ? `device ${formatBdf(r.first)}` : `devices ${formatBdf(r.first)}-${formatBdf(r.last)}`) + (r.aliasTo === undefined ? '' : ` as ${formatBdf(r.aliasTo)}`)),
    ...s.specials.map((x) => `${x.variety === 'ioapic' ? 'IOAPIC' : 'HPET'} ${x.handle} (${formatBdf(x.rid)})`),
  ];
  return parts.join('; ') || 'none';
}

function amdUnitRow(u: AmdViUnit, desc: PlatformDescription): string[] {
  const c = u.regs.control;
  const flags = (['IommuEn', 'GAEn', 'XTEn', 'IntCapXTEn', 'GALogEn', 'EventLogEn', 'CmdBufEn'] as const).filter((b) => regBit(c, CONTROL_BITS[b]));
  return [
    u.name,
    hexPad(u.segment, 4),
    hexPad(u.registerBase, 16),
    formatBdf(u.deviceId),
    amdScope(desc, u.index),
    hexPad(u.efr, 16),
    efrFeatureNames(u.efr, u.efr2) || 'none',
    flags.join(' ') || 'none (IOMMU disabled)',
    hexPad(u.regs.deviceTableBase, 16),
  ];
}

/**
 * The platform section: where the units come from (the DMAR or IVRS table the scenario names,
 * or its own `iommus`/`amdvi`), host address width, APIC mode, CPUs, and one row per unit;
 * with a table, its summary as `remapsim import` prints it (src/vtd/dmar/summary.ts,
 * src/amdvi/ivrs/summary.ts). `file`: the scenario file (tables are named relative to it).
 * @throws InputError when the named table cannot be read (compiling the scenario read it already).
 */
export function platformSection(state: PlatformState, data: Scenario, desc: PlatformDescription, file: string): Section {
  const p = data.platform;
  const source = p.dmar !== undefined ? `ACPI DMAR table ${p.dmar}` : p.ivrs !== undefined ? `ACPI IVRS table ${p.ivrs}` : p.amdvi !== undefined ? 'AMD-Vi units written in the scenario' : 'VT-d units written in the scenario (platform.iommus)';
  const amd = state.amdvi !== undefined;
  const blocks: Block[] = [
    list([
      `Vendor: ${amd ? 'AMD-Vi (AMD I/O Virtualization)' : 'Intel VT-d'}`,
      `Units from: ${source}`,
      `Host address width: ${state.hostAddressWidth} bits`,
      `APIC mode: ${state.interrupts.apicMode}${state.interrupts.extendedDestinationId ? ', extended destination ID' : ''}`,
      `Policy: ${state.hypervisor.policy}; posted-interrupt notification vector ${hex(state.hypervisor.postedVector)}`,
      `VMM: ${state.vmm === undefined ? 'none' : state.vmm.design}`,
    ]),
  ];
  if (amd) {
    blocks.push(
      table({
        id: 'units',
        caption: 'AMD-Vi units (IVHD)',
        columns: ['Unit', 'Segment', 'Register base', 'DeviceID', 'Scope', 'EFR', 'EFR features', 'Control', 'Device table base'],
        rows: state.amdvi!.units.map((u) => amdUnitRow(u, desc)),
        empty: 'no AMD-Vi unit',
      }),
    );
  } else {
    blocks.push(
      table({
        id: 'units',
        caption: 'Remapping units (DRHD)',
        columns: ['Unit', 'Segment', 'Register base', 'Scope', 'CAP', 'ECAP', 'Features', 'Interrupt remapping', 'IRT (latched IRTA)', 'DMA translation'],
        rows: state.iommus.map(vtdUnitRow),
        empty: 'no remapping unit: interrupts are not remapped',
      }),
    );
  }
  if (p.dmar !== undefined) blocks.push(pre('dmar-summary', `The DMAR table (${p.dmar}) as remapsim import dmar summarises it`, formatDmarSummary(loadDmar(resolve(dirname(file), p.dmar))).trimEnd().split('\n')));
  if (p.ivrs !== undefined) blocks.push(pre('ivrs-summary', `The IVRS table (${p.ivrs}) as remapsim import ivrs summarises it`, formatIvrsSummary(loadIvrs(resolve(dirname(file), p.ivrs))).trimEnd().split('\n')));
  blocks.push(
    table({
      id: 'cpus',
      caption: 'Physical CPUs',
      columns: ['CPU', 'APIC ID'],
      rows: state.cpus.map((c) => [`cpu${c.index}`, hex(c.apicId)]),
      empty: 'no CPU',
    }),
  );
  return { id: 'platform', title: 'Platform', blocks };
}

function capabilities(state: PlatformState, key: string): string {
  const d = state.devices[key]!;
  const parts: string[] = [];
  if (d.msi !== undefined) parts.push(`MSI ${d.msi.enabled ? 'on' : 'off'} (${1 << d.msi.mme}/${1 << d.msi.mmc} vectors)`);
  if (d.msix !== undefined) parts.push(`MSI-X ${d.msix.enabled ? 'on' : 'off'} (${d.msix.table.length} entries)`);
  return parts.join(', ') || 'none';
}

/** Topology: the interrupt/DMA sources with the unit that covers them, then the IOMMU groups (Linux pci_device_group). */
export function topologySection(state: PlatformState): Section {
  const owner = (key: string): string => {
    const o = state.intent.owners[key];
    return o === undefined ? 'unassigned' : (state.domains[o]?.name ?? String(o));
  };
  const devices = Object.values(state.devices)
    .sort((a, b) => a.segment - b.segment || a.rid - b.rid)
    .map((d) => [
      d.key,
      d.name,
      d.busRid === d.rid ? formatBdf(d.busRid) : `${formatBdf(d.busRid)} (alias of ${formatBdf(d.rid)})`,
      d.upstream.map((r) => formatBdf(r)).join(' → ') || 'root complex',
      unitName(state, d.iommu) ?? 'no IOMMU',
      owner(d.key),
      capabilities(state, d.key),
    ]);
  const groups = iommuGroups(state.fabric).map((g) => [g.id, g.devices.join(', '), g.reasons.map((r) => describeGroupReason(state.fabric, r)).join('; ')]);
  const fns = Object.values(state.fabric.functions)
    .sort((a, b) => a.segment - b.segment || a.rid - b.rid)
    .map((f) => [f.key, f.kind, f.path.join(' → ') || '—', f.acs === undefined ? 'no ACS' : `cap ${hexPad(f.acs.cap, 4)} ctrl ${hexPad(f.acs.ctrl, 4)}`]);
  return {
    id: 'topology',
    title: 'Topology and IOMMU groups',
    blocks: [
      table({ id: 'devices', caption: 'Devices (requester ID as the IOMMU sees it)', columns: ['Device', 'Name', 'Requester ID at the IOMMU', 'Bridges above (root first)', 'Unit', 'Owner', 'Interrupt capabilities'], rows: devices, empty: 'no device' }),
      table({ id: 'fabric', caption: 'PCI fabric functions', columns: ['Function', 'Kind', 'Path from the root', 'ACS'], rows: fns, empty: 'no fabric functions' }),
      table({ id: 'groups', caption: 'IOMMU groups (Linux pci_device_group)', columns: ['Group', 'Functions', 'Why'], rows: groups, empty: 'no group' }),
    ],
  };
}

/** Domains, their vCPUs, the interrupt grants and the DMA mappings of the hypervisor's intent. */
export function domainsSection(state: PlatformState): Section {
  const vcpus = vcpuList(state.vcpus);
  const domains = state.domains.map((d) => [
    d.id,
    d.name,
    d.kind,
    d.cpus.map((c) => `cpu${c}`).join(', ') || '—',
    vcpus.filter((v) => v.domain === d.id).map((v) => `${vcpuName(state, v.id)} (APIC ${hex(v.apicId)}, ${v.run} on cpu${v.pcpu})`).join(', ') || '—',
    Object.entries(state.intent.owners).filter(([, o]) => o === d.id).map(([k]) => k).sort().join(', ') || '—',
  ]);
  const grants = state.intent.grants.map((g) => [
    g.requester,
    g.lastVector === undefined ? hex(g.vector) : `${hex(g.vector)}..${hex(g.lastVector)}`,
    g.target.kind === 'pcpu' ? `APIC ${hex(g.target.apicId)} (host CPU)` : vcpuName(state, g.target.vcpu),
    g.deliveryModes.map((m) => DELIVERY_MODE_NAMES[m] ?? String(m)).join(', '),
  ]);
  const dma = Object.entries(state.intent.dma)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([device, intent]) =>
      Object.entries(intent.spaces).flatMap(([space, s]) =>
        s.grants.map((g) => [device, state.domains[intent.domain]?.name ?? String(intent.domain), space === 'legacy' ? 'requests without PASID' : `PASID ${space}${intent.ridPasid === Number(space) ? ' (RID_PASID)' : ''}`, s.did, hexPad(g.iova, 16), hexPad(g.hpa, 16), hex(g.size), `${g.read ? 'R' : ''}${g.write ? 'W' : ''}${g.structures ? ' (IOMMU structures, on purpose)' : ''}`]),
      ),
    );
  return {
    id: 'domains',
    title: 'Domains and grants',
    blocks: [
      table({ id: 'domain-list', caption: 'Domains', columns: ['Id', 'Name', 'Kind', 'CPUs', 'vCPUs', 'Devices owned'], rows: domains, empty: 'no domain' }),
      table({ id: 'grants', caption: 'Interrupt grants (what each device may raise, and where)', columns: ['Device', 'Vector', 'Target', 'Delivery modes'], rows: grants, empty: 'no interrupt grant' }),
      table({ id: 'dma-grants', caption: 'DMA mappings the hypervisor built (IOVA → HPA, bytes)', columns: ['Device', 'Domain', 'Address space', 'DID', 'IOVA', 'HPA', 'Size (bytes)', 'Access'], rows: dma, empty: 'no DMA mapping' }),
      text('Grants and mappings are the trusted hypervisor\'s intent, read by the properties: P1 judges every interrupt against the grants, P2 every DMA access against the mappings.'),
    ],
  };
}
