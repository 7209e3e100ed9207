/**
 * Build an initial PlatformState from a plain description (what a scenario's
 * `platform`, `devices` and `domains` sections become). Hardware starts as after
 * reset: IR and DMA remapping disabled, IRTA 0, caches empty, MSI/MSI-X disabled.
 */
import { emptyDirectPostCache } from '../hypothetical/direct-post/cache.ts';
import { defaultMsixLayout, resetVirtualMsix, type MsixLayout } from '../vmm/virtual-msix.ts';
import { KVM_IOAPIC_PINS, KVM_MAX_IRQ_ROUTES, type ImsLayout, type VmmDevice, type VmmIms, type VmmState } from '../vmm/state.ts';
import { PhysicalMemory } from '../memory/physical-memory.ts';
import { decodeCap, capFaultRecordCount } from '../vtd/registers.ts';
import { emptyIec, DEFAULT_IEC_CAPACITY } from '../vtd/iec.ts';
import { resetRegisters } from '../vtd/ir-registers.ts';
import { emptyDmaCaches } from '../vtd/dma/caches.ts';
import { emptyMsi, emptyMsix } from '../pci/msi-capability.ts';
import type { ApicMode, DeviceDmaIntent, Domain, DomainKind, DrhdScope, Grant, IommuUnit, PciFunction, PlatformState, Vcpu } from './state.ts';
import { policyNamed, DEFAULT_POLICY } from '../policy/index.ts';
import { encodePid, PID_BYTES } from '../vtd/pid.ts';
import { pirExtensionBytes } from '../vtd/pid-memory.ts';
import { vcpuTable } from './vcpu-table.ts';
import { amdUnitFor, unitFor } from './topology.ts';
import { avicBackingPage, buildAmdViUnits, DEFAULT_AVIC_BACKING_BASE, type AmdViPlatformDescription } from './amdvi-build.ts';
import type { Fabric, FabricDescription } from '../fabric/model.ts';
import { buildFabric } from '../fabric/build.ts';
import { defaultRequesterId } from '../fabric/aliases.ts';
import { compactRecord } from '../util/keyed-record.ts';

/**
 * CAP_REG and ECAP_REG of a real server's interrupt-remapping unit, used when a
 * description gives none: Dell PowerEdge R820 (Ivy Bridge-EP), `DMAR: dmar0:
 * reg_base_addr d4500000 ver 1:0 cap d2078c106f0462 ecap f020fe` (shared real-inputs
 * dmesg/dell-poweredge-r820_D7A373654239_…). ECAP has QI, DT, IR, EIM, PT, SC; CAP
 * has 8 fault-recording registers (NFR = 7) and no posted interrupts (PI = 0).
 */
export const DEFAULT_CAP = 0xd2078c106f0462n;
export const DEFAULT_ECAP = 0xf020fen;

/**
 * ECAP_REG of a real scalable-mode unit, for scenarios that use scalable mode (PASIDs,
 * first-stage, second-stage, nested or pass-through PASID entries): Dell PowerEdge R770, Intel
 * Xeon 6515P (Granite Rapids-SP, family 6 model 173), Linux 6.8 `DMAR: dmar0: reg_base_addr
 * cbfe0000 ver 7:0 cap f9ed008cee780c66 ecap 3fef9ea6f0efdf` (a public precheck report of that
 * machine; docs/fidelity.md "DMA translation rules"). Decoded (src/vtd/registers.ts
 * `decodeEcap`): C QI DT IR EIM PT SC, IRO 0xef, MHMV 15, MTS NEST PRS SRS NWFS EAFS, PSS 19
 * (20-bit PASIDs), PASID DIT PDS SMTS SLADS SLTS FLTS SMPWC RPS PMS ADMS RPRIVS, and bit 50
 * (TDXIO, not modelled). Every scalable-mode gate of the walk is open. The default ECAP (Ivy
 * Bridge) has none of them: a scalable-mode scenario on it faults 0x30 on every request.
 */
export const SCALABLE_ECAP = 0x3fef9ea6f0efdfn;

export interface UnitDescription {
  readonly segment: number;
  readonly registerBase: bigint;
  readonly includePciAll: boolean;
  readonly scope: DrhdScope;
  readonly cap?: bigint;
  readonly ecap?: bigint;
  readonly iecCapacity?: number;
}

export interface DeviceDescription {
  readonly segment: number;
  readonly rid: number;
  readonly key: string;
  readonly name: string;
  readonly upstream: readonly number[];
  /** MSI: vectors requested (power of two, 1..32) and per-vector masking. */
  readonly msi?: { readonly vectors: number; readonly maskable: boolean };
  /** MSI-X: table size in entries (1..2048), and where the table and PBA are (default {@link defaultMsixLayout}). */
  readonly msix?: { readonly tableSize: number; readonly layout?: MsixLayout };
  /** A device-specific Interrupt Message Store (src/vmm/state.ts ImsLayout): only the ims-emulated VMM designs use it. */
  readonly ims?: ImsLayout;
}

export interface DomainDescription {
  readonly name: string;
  readonly kind: DomainKind;
  readonly cpus: readonly number[];
  readonly devices: readonly string[];
  /** Guest x2APIC IDs of its vCPUs, by vCPU index (guests only). */
  readonly vcpuApicIds?: readonly number[];
}

/** Where vCPUs' posted-interrupt descriptors are placed: 64 bytes each from this HPA. */
export const DEFAULT_PID_BASE = 0x4000_0000n;

/** Where the hypervisor allocates DMA-remapping structures by default: 64 MiB from 1.5 GiB. */
export const DEFAULT_TABLE_ARENA = { start: 0x6000_0000n, end: 0x6400_0000n } as const;

export interface PlatformDescription {
  readonly hostAddressWidth: number;
  readonly apicMode: ApicMode;
  readonly extendedDestinationId: boolean;
  /** xAPIC logical destination model (DFR); default flat. */
  readonly xapicLogicalModel?: 'flat' | 'cluster';
  /** Unsupported Request signalling of the root complex (InterruptPlatform.urSignaling); default masked. */
  readonly urSignaling?: 'masked' | 'serr-nmi';
  /** Host-bridge MSI validation (InterruptPlatform.msiValidation): on with no pair assigned yet. Absent: off. */
  readonly msiValidation?: 'partitionable-endpoint';
  /**
   * HYPOTHETICAL direct-post hardware (InterruptPlatform.directPost, src/hypothetical/direct-post):
   * every unit gets a DPTA register (0: DPE clear) and an empty direct-post cache. Absent: off.
   */
  readonly directPost?: { readonly key: 'source-id' | 'vapic-id'; readonly vectorBits: number; readonly cacheCapacity: number; readonly tableBase: bigint };
  /** APIC ID of each pCPU, by pCPU index. */
  readonly apicIds: readonly number[];
  readonly iommus: readonly UnitDescription[];
  readonly devices: readonly DeviceDescription[];
  readonly domains: readonly DomainDescription[];
  readonly grants: readonly Grant[];
  /** Hypervisor policy module name (default `kvm`). */
  readonly policy?: string;
  /** HPA of the first vCPU's PID (default {@link DEFAULT_PID_BASE}). */
  readonly pidBase?: bigint;
  /** Region for DMA-remapping structures (default {@link DEFAULT_TABLE_ARENA}). */
  readonly tableArena?: { readonly start: bigint; readonly end: bigint };
  /** Device key → the DMA mappings the hypervisor means it to have from the start (src/platform/dma-intent.ts). */
  readonly dma?: Readonly<Record<string, DeviceDmaIntent>>;
  /**
   * The PCI fabric, built and validated (src/fabric/build.ts). Absent: the default
   * topology of {@link defaultFabric} (every device alone on a root bus).
   */
  readonly fabric?: Fabric;
  /**
   * The VMM design that virtualizes assigned functions' MSI-X (src/vmm/designs), its KVM
   * routing-table capacity (default KVM_MAX_IRQ_ROUTES) and where each guest's device model
   * runs (default dom0). Absent: no VMM layer (guest requests are `guest-msi` only).
   */
  readonly vmm?: { readonly design: string; readonly kvmRoutes?: number; readonly deviceModels?: Readonly<Record<number, 'dom0' | 'stubdomain'>> };
  /**
   * An AMD-Vi platform (src/platform/amdvi-build.ts): its units with the scope their IVHD gives;
   * then `iommus` must be empty, vCPUs get AVIC backing pages (4 KiB each from `pidBase`, default
   * DEFAULT_AVIC_BACKING_BASE) in `pda`, and no PID is written. Absent: a VT-d platform.
   */
  readonly amdvi?: AmdViPlatformDescription;
}

/**
 * The topology assumed when a description gives none: every device a single-function
 * PCIe endpoint on a root bus of its segment, so that each presents its own BDF and
 * nothing aliases or routes peer to peer (what remapsim modelled before it had a fabric).
 */
export function defaultFabricDescription(devices: readonly DeviceDescription[]): FabricDescription {
  const roots = new Map<string, { segment: number; bus: number }>();
  for (const d of devices) roots.set(`${d.segment}:${d.rid >> 8}`, { segment: d.segment, bus: d.rid >> 8 });
  return {
    hostBridges: [...roots.values()],
    functions: devices.map((d) => ({ segment: d.segment, rid: d.rid, kind: 'endpoint', multifunction: false })),
  };
}

function buildUnit(u: UnitDescription, index: number, directPost: boolean): IommuUnit {
  const cap = u.cap ?? DEFAULT_CAP;
  const records = capFaultRecordCount(decodeCap(cap).NFR);
  return {
    index,
    name: `dmar${index}`,
    segment: u.segment,
    registerBase: u.registerBase,
    includePciAll: u.includePciAll,
    scope: u.scope,
    cap,
    ecap: u.ecap ?? DEFAULT_ECAP,
    regs: resetRegisters(),
    frcd: Array.from({ length: records }, () => 0n),
    iec: emptyIec(u.iecCapacity ?? DEFAULT_IEC_CAPACITY),
    dma: emptyDmaCaches(),
    // Always the key (undefined when off): every unit object has the same shape as withIec's copies.
    directPost: directPost ? { dpta: 0n, cache: emptyDirectPostCache() } : undefined,
  };
}

function buildDevice(d: DeviceDescription, iommu: number | undefined, busRid: number): PciFunction {
  return {
    key: d.key,
    segment: d.segment,
    rid: d.rid,
    name: d.name,
    upstream: d.upstream,
    iommu,
    busRid,
    msi: d.msi === undefined ? undefined : emptyMsi(Math.log2(d.msi.vectors), d.msi.maskable),
    msix: d.msix === undefined ? undefined : emptyMsix(d.msix.tableSize),
  };
}

/**
 * The platform after reset. Domain ids are their positions in `domains`.
 * @throws RangeError when the description has both VT-d and AMD-Vi units, or a bad AMD-Vi unit.
 */
export function buildPlatform(p: PlatformDescription): PlatformState {
  // A platform is of one vendor (src/platform/vendor.ts).
  if (p.amdvi !== undefined && p.iommus.length > 0) throw new RangeError('a platform has VT-d units or AMD-Vi units, not both');
  const domains: Domain[] = p.domains.map((d, id) => ({ id, name: d.name, kind: d.kind, cpus: d.cpus }));
  const owners: Record<string, number> = {};
  p.domains.forEach((d, id) => d.devices.forEach((key) => (owners[key] = id)));
  const policy = policyNamed(p.policy ?? DEFAULT_POLICY);
  const pidBase = p.pidBase ?? (p.amdvi === undefined ? DEFAULT_PID_BASE : DEFAULT_AVIC_BACKING_BASE);
  // HYPOTHETICAL wide vectors (platform.directPost.vectorBits > 8): each PID is followed by its
  // PIR extension (src/vtd/pid-memory.ts), so the descriptors are that much further apart.
  const pidStride = PID_BYTES + Math.ceil(pirExtensionBytes(p.directPost?.vectorBits ?? 8) / PID_BYTES) * PID_BYTES;
  const fabric = p.fabric ?? buildFabric(defaultFabricDescription(p.devices));
  const vcpuArray: Vcpu[] = p.domains.flatMap((d, domain) =>
    (d.vcpuApicIds ?? []).map((apicId, index) => ({ domain, index, apicId, pcpu: d.cpus.length ? d.cpus[index % d.cpus.length]! : 0 })),
  ).map((v, id) => ({ ...v, id, run: 'runnable', pda: p.amdvi === undefined ? pidBase + BigInt(id * pidStride) : avicBackingPage(pidBase, id), virr: 0n, visr: 0n }));
  const base = {
    memory: PhysicalMemory.empty(),
    hostAddressWidth: p.hostAddressWidth,
    interrupts: { apicMode: p.apicMode, extendedDestinationId: p.extendedDestinationId, ...(p.xapicLogicalModel === undefined ? {} : { xapicLogicalModel: p.xapicLogicalModel }), ...(p.urSignaling === undefined ? {} : { urSignaling: p.urSignaling }), ...(p.msiValidation === undefined ? {} : { msiValidation: { assigned: {} } }), ...(p.directPost === undefined ? {} : { directPost: p.directPost }) },
    cpus: p.apicIds.map((apicId, index) => ({ index, apicId })),
    iommus: p.iommus.map((u, i) => buildUnit(u, i, p.directPost !== undefined)),
    devices: {} as Record<string, PciFunction>,
    fabric,
    domains,
    vcpus: vcpuTable(vcpuArray),
    hypervisor: {
      // The key policyNamed finds it by: a built-in's name, or a user module's path (src/policy/load.ts).
      policy: p.policy ?? DEFAULT_POLICY,
      postedVector: policy.postedVector,
      blockedLists: {},
      nextIrte: {},
      staleNdst: [],
      tableArena: { start: (p.tableArena ?? DEFAULT_TABLE_ARENA).start, next: (p.tableArena ?? DEFAULT_TABLE_ARENA).start, end: (p.tableArena ?? DEFAULT_TABLE_ARENA).end },
    },
    intent: { owners, grants: p.grants, dma: p.dma ?? {} },
    vmm: undefined as VmmState | undefined,
    amdvi: p.amdvi === undefined ? undefined : { units: buildAmdViUnits(p.amdvi) },
  };
  // The unit covering a function and its requester ID at the IOMMU are fixed by the
  // topology: resolved once here, so that no request costs a scope search.
  for (const d of p.devices) {
    // A function whose DMA another function carries (VMD) is where that function is.
    const where = fabric.functions[d.key];
    const carrier = where?.dmaDevice === undefined ? undefined : fabric.functions[where.dmaDevice];
    const iommu =
      p.amdvi !== undefined
        ? amdUnitFor(p.amdvi.units, carrier?.segment ?? d.segment, carrier?.rid ?? d.rid)
        : carrier === undefined ? unitFor(base, d.segment, d.rid, d.upstream) : unitFor(base, carrier.segment, carrier.rid, carrier.path.map((k) => fabric.functions[k]!.rid));
    base.devices[d.key] = buildDevice(d, iommu, where === undefined ? d.rid : defaultRequesterId(fabric, d.key));
  }
  let memory = base.memory;
  // On AMD `pda` is the AVIC backing page, zero after reset: there is no PID to write.
  for (const v of p.amdvi === undefined ? vcpuArray : []) {
    const c = policy.initialPid(v, base);
    memory = memory.writeLE(v.pda, PID_BYTES, encodePid({ pir: 0n, on: c.on, sn: c.sn, nv: c.nv, ndst: c.ndst }));
  }
  // Filled key by key, `devices` and `owners` are V8 dictionary-mode objects, slow to copy (src/util/keyed-record.ts).
  return { ...base, devices: compactRecord(base.devices), intent: { ...base.intent, owners: compactRecord(owners) }, memory, vmm: buildVmm(p, base.devices, owners, domains) };
}

/** An IMS store after reset: every slot masked, address and data 0 (the guest's view and the physical slots alike). */
function resetIms(layout: ImsLayout): VmmIms {
  const guest = resetVirtualMsix({ entries: layout.slots, tableBar: layout.bar, tableOffset: layout.offset, pbaBar: -1, pbaOffset: 0, capability: 0 });
  return { layout, guest: { ...guest, enabled: true }, vectors: Array.from({ length: layout.slots }, () => ({})), physical: Array.from({ length: layout.slots }, () => ({ address: 0n, data: 0, masked: true })) };
}

/**
 * The VMM layer after reset: every function with MSI-X that a guest owns gets a guest view
 * (disabled, entries masked) and empty bookkeeping.
 */
function buildVmm(p: PlatformDescription, devices: Readonly<Record<string, PciFunction>>, owners: Readonly<Record<string, number>>, domains: readonly Domain[]): VmmState | undefined {
  if (p.vmm === undefined) return undefined;
  const managed: Record<string, VmmDevice> = {};
  for (const d of p.devices) {
    const domain = owners[d.key];
    if (d.msix === undefined || domain === undefined || domains[domain]?.kind !== 'guest' || devices[d.key] === undefined) continue;
    const layout = d.msix.layout ?? defaultMsixLayout(d.msix.tableSize);
    managed[d.key] = {
      domain,
      guest: resetVirtualMsix(layout),
      pending: 0n,
      vectors: Array.from({ length: layout.entries }, () => ({})),
      deviceModel: Array.from({ length: layout.entries }, () => ({ masked: true, address: 0n, data: 0, dirty: false })),
      ...(d.ims === undefined ? {} : { ims: resetIms(d.ims) }),
    };
  }
  return {
    design: p.vmm.design,
    devices: managed,
    hostVectors: {},
    kvm: { capacity: p.vmm.kvmRoutes ?? KVM_MAX_IRQ_ROUTES, firstMsiGsi: KVM_IOAPIC_PINS, routes: {}, used: 0 },
    deviceModels: p.vmm.deviceModels ?? {},
  };
}
