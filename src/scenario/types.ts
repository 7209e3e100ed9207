/**
 * The shape of a scenario file after YAML parsing and schema validation
 * (specs/scenario.schema.json is the authority; these types mirror it). 64-bit
 * values are numbers (≤ 2^53) or hex strings; 128-bit values are hex strings.
 */
import type { DeliveryModeName } from '../x86/msi.ts';
import type { AmdViPlatformSpec, AmdViSteps } from './amdvi-types.ts';

export type U64 = number | string;

export interface Scope {
  endpoints?: string[];
  bridges?: string[];
  busRanges?: number[][];
  ioapics?: { id: number; bdf: string }[];
  hpets?: { id: number; bdf: string }[];
}

export interface Unit {
  segment?: number;
  registerBase: U64;
  includePciAll?: boolean;
  scope?: Scope;
  cap?: U64;
  ecap?: U64;
  iecCapacity?: number;
}

export interface Platform {
  dmar?: string;
  /** ACPI IVRS table (.bin or iasl .dsl), relative to the scenario file: an AMD-Vi platform (src/scenario/amdvi-platform.ts). */
  ivrs?: string;
  /** AMD-Vi units by hand (src/scenario/amdvi-types.ts). */
  amdvi?: AmdViPlatformSpec;
  hostAddressWidth?: number;
  apicMode?: 'xapic' | 'x2apic';
  extendedDestinationId?: boolean;
  /** Unsupported Request signalling of the root complex (XSA-59); default masked. */
  urSignaling?: 'masked' | 'serr-nmi';
  /** Host-bridge MSI validation (InterruptPlatform.msiValidation); absent: off. */
  msiValidation?: 'partitionable-endpoint';
  /** HYPOTHETICAL direct-post hardware (InterruptPlatform.directPost); absent: off. Defaults: vectorBits 8, cacheCapacity 64, tableBase 0x200000000. */
  directPost?: { key: 'source-id' | 'vapic-id'; vectorBits?: number; cacheCapacity?: number; tableBase?: U64 };
  cpus: { count: number } | { apicIds: number[] };
  iommus?: Unit[];
  policy?: string;
  /** VMM design virtualizing assigned functions' MSI-X (src/vmm/designs); absent: none. */
  vmm?: string;
  /** Capacity of KVM's GSI routing table (default KVM_MAX_IRQ_ROUTES = 4096). */
  kvmRoutes?: number;
  pidBase?: U64;
  unitDefaults?: { cap?: U64; ecap?: U64; iecCapacity?: number };
}

export type AcsBitName = 'SV' | 'TB' | 'RR' | 'CR' | 'UF' | 'EC' | 'DT';

/** What a function is on the fabric (docs/topology.md); shared by `devices` and `topology.functions`. */
export interface FabricFields {
  type?: import('../fabric/model.ts').FunctionKind;
  id?: string;
  multifunction?: boolean;
  primary?: number;
  secondary?: number;
  subordinate?: number;
  acs?: AcsBitName[] | { capable?: AcsBitName[]; enabled: AcsBitName[] };
  phantomFunctions?: { supported: number; enabled?: boolean };
  dmaAliases?: string[];
  dmaDevice?: string;
  bars?: { base: U64; size: U64 }[];
}

export interface Device extends FabricFields {
  bdf: string;
  name?: string;
  upstream?: string[];
  msi?: { vectors?: number; maskable?: boolean };
  msix?: { tableSize: number; tableBar?: number; tableOffset?: U64; pbaBar?: number; pbaOffset?: U64; capability?: number };
  /** A device-specific Interrupt Message Store: `slots` × 16 bytes at `offset` of BAR `bar` (only the ims-emulated VMM designs trap it). */
  ims?: { bar: number; offset: U64; slots: number };
}

export interface Topology {
  hostBridges?: { segment?: number; bus: number; name?: string }[];
  functions?: (FabricFields & { bdf: string; name?: string })[];
}

export interface DomainSpec {
  name: string;
  kind?: 'host' | 'guest';
  cpus?: number[];
  devices?: string[];
  vcpus?: number | number[];
  /** Where the guest's device model runs: dom0 (trusted, default) or a stubdomain (the guest's own). */
  deviceModel?: 'dom0' | 'stubdomain';
}

export interface VcpuRef {
  vm: string;
  vcpu: number;
}

export interface GrantSpec {
  device: string;
  vector: number;
  apicId?: number;
  vm?: string;
  vcpu?: number;
  deliveryModes?: DeliveryModeName[];
}

export interface IrteSpec {
  iommu: number;
  index: number;
  raw?: string;
  mode?: 'remapped' | 'posted';
  present?: boolean;
  fpd?: boolean;
  avail?: number;
  vector?: number;
  destination?: number;
  dst?: number;
  destinationMode?: 'physical' | 'logical';
  redirectionHint?: boolean;
  triggerMode?: 'edge' | 'level';
  deliveryMode?: DeliveryModeName;
  svt?: 'none' | 'requester-id' | 'bus-range' | 'reserved';
  sq?: number;
  sid?: string;
  busRange?: number[];
  urgent?: boolean;
  virtualVector?: number;
  pda?: U64;
}

export interface ExpectDelivered {
  path?: 'compatibility' | 'remapped' | 'system-error';
  vector?: number;
  destination?: number;
  deliveryMode?: DeliveryModeName;
  cpus?: number[];
}

export interface ExpectFault {
  reason: number;
  index?: number;
  recorded?: boolean;
}

export interface Step extends AmdViSteps {
  note?: string;
  /** Run the step only when platform.vmm is one of these designs (a guest driver that differs by design). */
  under?: string[];
  expect?: {
    delivered?: ExpectDelivered;
    fault?: ExpectFault;
    posted?: { virtualVector?: number; notified?: boolean };
    acked?: number;
    injected?: number;
    injectedInto?: string[];
    woken?: true;
    processed?: number;
    dmaAccess?: { hpa?: U64; translation?: 'untranslated' | 'iotlb-hit' | 'walk'; references?: number };
    dmaFault?: { reason: number }; pending?: true; dropped?: true; dma?: true; nothing?: true;
    /** A port dropped the request (ACS Source Validation). */
    blocked?: true;
    /** The root complex aborted a malformed interrupt-range request as an Unsupported Request. */
    unsupported?: true;
    /** The request was routed peer to peer (to `target` when given). */
    peer?: { target?: string };
  };
  'set-irta'?: { iommu: number; base: U64; eime?: boolean; entries: number };
  gcmd?: { iommu: number; bits: ('TE' | 'SRTP' | 'SFL' | 'EAFL' | 'WBF' | 'QIE' | 'IRE' | 'SIRTP' | 'CFI')[] };
  'enable-ir'?: { iommu: number; base: U64; eime?: boolean; entries: number; cfi?: boolean };
  'disable-ir'?: { iommu: number };
  irte?: IrteSpec;
  'clear-irte'?: { iommu: number; index: number };
  'invalidate-iec'?: { iommu: number; index?: number; mask?: number };
  /** HYPOTHETICAL: write the unit's DPTA register (platform.directPost). */
  'write-dpta'?: { iommu: number; value: U64 };
  /** HYPOTHETICAL: direct-post cache invalidation (type 0xE): global, every entry of requester ID `sid`, or `sid`'s entry for `vapicId`. */
  'invalidate-dpt'?: { iommu: number; granularity: 'global' | 'source' | 'entry'; sid?: string; vapicId?: number };
  /** Context-cache (one requester ID, or all) and IOTLB (one domain, or all) invalidations, then a wait. */
  'invalidate-dma'?: { iommu: number; context?: string; iotlb?: 'domain' | 'all'; did?: number };
  msi?: { device: string; rid?: string; address: U64; data: number };
  'program-msi'?: { device: string; enable?: boolean; address?: U64; data?: number; vectors?: number; mask?: number };
  'program-msix'?: { device: string; entry: number; address?: U64; data?: number; masked?: boolean };
  'msix-control'?: { device: string; enable?: boolean; functionMask?: boolean };
  signal?: { device: string; vector: number };
  /** The function raises slot `slot` of its IMS store (devices[].ims): it sends the physical slot's pair, nothing while it is masked. */
  'ims-signal'?: { device: string; slot: number };
  assign?: { device: string; domain: string };
  grant?: GrantSpec;
  revoke?: { device: string; vector?: number };
  'write-memory'?: { address: U64; bytes: number; value: U64 };
  'clear-fault'?: { iommu: number; record: number };
  /** A raw write of an invalidation-queue, fault-event or register-invalidation register (src/platform/events.ts `RegisterName`). */
  'write-register'?: { iommu: number; register: import('../platform/events.ts').RegisterName; value: U64 };
  /** The fault-event message as Linux programs it (`dmar_msi_write`, then `dmar_msi_unmask` unless `masked`). */
  'fault-event'?: { iommu: number; vector: number; destination: number; destinationMode?: 'physical' | 'logical'; deliveryMode?: DeliveryModeName; masked?: boolean };
  /** Descriptors written into the unit's invalidation queue at the software head, then (unless `wait: false`) a status-write wait, then (unless `doorbell: false`) the IQT write. */
  'submit-invalidation'?: { iommu: number; descriptors: string[]; wait?: boolean; doorbell?: boolean };
  schedule?: VcpuRef & { pcpu: number };
  preempt?: VcpuRef;
  halt?: VcpuRef;
  'guest-ack'?: VcpuRef;
  'guest-eoi'?: VcpuRef;
  'enable-dma'?: { iommu: number; scalable?: boolean };
  'map-dma'?: {
    iommu: number;
    device: string;
    did: number;
    mode: 'legacy' | 'legacy-pass-through' | 'second-stage' | 'first-stage' | 'nested' | 'pass-through';
    levels?: number;
    firstStageLevels?: number;
    pasid?: number;
    /** With `pasid`: it becomes the context's RID_PASID (requests without PASID use it). */
    ridPasid?: boolean;
    mappings: { iova: U64; hpa: U64; gpa?: U64; size: U64; read?: boolean; write?: boolean; structures?: boolean }[];
    contexts?: 'all' | 'own';
    /** true (default): the invalidations and wait; false: none (a broken hypervisor); deferred: the scenario's own invalidation steps follow. */
    invalidate?: boolean | 'deferred';
  };
  'unmap-dma'?: { iommu: number; device: string; did: number; iova: U64; size: U64; pasid?: number; invalidate?: boolean | 'deferred' };
  /** Context-cache invalidation descriptor (type 1), then an invalidation wait unless `wait: false`. */
  'invalidate-context-cache'?: { iommu: number; granularity: 'global' | 'domain' | 'device'; did?: number; sid?: string; fm?: number; wait?: boolean };
  /** IOTLB invalidation descriptor (type 2). */
  'invalidate-iotlb'?: { iommu: number; granularity: 'global' | 'domain' | 'page'; did?: number; address?: U64; am?: number; ih?: boolean; drain?: boolean; wait?: boolean };
  /** PASID-cache invalidation descriptor (type 7). */
  'invalidate-pasid-cache'?: { iommu: number; granularity: 'global' | 'domain' | 'pasid'; did?: number; pasid?: number; wait?: boolean };
  /** PASID-based IOTLB invalidation descriptor (type 6). */
  'invalidate-pasid-iotlb'?: { iommu: number; granularity: 'pasid' | 'page'; did: number; pasid: number; address?: U64; am?: number; ih?: boolean; wait?: boolean };
  dma?: { device: string; rid?: string; pasid?: number; address: U64; size?: number; write?: boolean; value?: U64 };
  'guest-mmio'?: { device: string; bar?: number; offset: U64; size: number; value?: U64; read?: boolean };
  'guest-config'?: { device: string; offset: number; size: number; value: number };
  'device-model'?: {
    device: string;
    vm?: string;
    op: 'bind' | 'unbind' | 'mask' | 'write-page' | 'signal-msi';
    entry?: number;
    address?: U64;
    data?: number;
    maskHandling?: boolean;
    masked?: boolean;
    bar?: number;
    offset?: U64;
    size?: number;
    value?: U64;
  };
  /** The guest's hypercall about its function: `set-interrupt` (entry → guest vector at its vCPU). */
  hypercall?:
    | { vm: string; op: 'set-interrupt'; device: string; entry: number; vcpu: number; vcpuOf?: string; vector: number }
    /** `get-msi-pair` (design ims-hypercall): a working address/data pair for IMS slot `slot` of the function, → guest vector at its vCPU. `vcpuOf`: the domain whose vCPU `vcpu` is (default `vm`). */
    | { vm: string; op: 'get-msi-pair'; device: string; slot: number; vcpu: number; vcpuOf?: string; vector: number };
  'guest-msi'?: { device: string; entry: number; destination: number; destinationMode?: 'physical' | 'logical'; vector: number; deliveryMode?: DeliveryModeName; vm?: string };
  /** The VMM starts guest `vm`: the design's per-VM set-up (direct-post, HYPOTHETICAL: its interrupt tables). */
  'vmm-start'?: { vm: string };
}

export interface Scenario {
  name: string;
  description?: string;
  platform: Platform;
  topology?: Topology;
  devices?: Device[];
  domains?: DomainSpec[];
  grants?: GrantSpec[];
  steps: Step[];
  /** What `remapsim check` does with the scenario (src/checker/check.ts); `run` ignores it. */
  check?: CheckSpec;
}

/** Guest-software actions an adversary may take (`check.adversary.software`). */
export type AdversarySoftware = 'program-msix' | 'program-msi' | 'msix-control' | 'guest-msi' | 'guest-mmio' | 'guest-config' | 'hypercall' | 'halt' | 'guest-ack' | 'guest-eoi' | 'schedule' | 'preempt';
/** Device actions an adversary may take (`check.adversary.devices`). */
export type AdversaryDevice = 'dma' | 'msi' | 'signal' | 'ims-signal';
export type PropertyName = 'P1' | 'P2' | 'P3' | 'P4' | 'P5' | 'P6' | 'P7';

/** The `check:` section: threat model, properties and budget (docs/checking.md). */
export interface CheckSpec {
  adversary?: {
    guests?: string[];
    software?: AdversarySoftware[];
    devices?: AdversaryDevice[];
    requesterIds?: 'own' | 'alias' | 'any';
    /** The malicious guests' device models are adversaries too (`device-model` steps; docs/checking.md). */
    deviceModel?: boolean;
  };
  properties?: PropertyName[];
  budget?: { runs?: number; steps?: number; seconds?: number; seed?: number };
  /** Let the adversary act between the scenario's own steps: every gap (true) or the gaps after step `after` on. */
  interleave?: boolean | { after: number };
}
