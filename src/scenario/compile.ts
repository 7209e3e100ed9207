/**
 * Scenario data (schema-valid) → an initial platform description and a list of
 * steps, each a short list of actions plus the expected outcome. The step sugar a
 * user writes (`enable-ir`, an IRTE by fields, a BDF) is expanded here into the
 * register and memory writes the hardware sees, so the trace shows what really
 * happened. Semantic errors (an unknown device, a missing unit) are InputErrors
 * with the line of the offending field.
 */
import { dirname, resolve } from 'node:path';
import type { Action } from '../platform/actions.ts';
import type { Grant } from '../platform/state.ts';
import type { DeviceDescription, DomainDescription, PlatformDescription, UnitDescription } from '../platform/build.ts';
import { formatBdf, parseBdf } from '../pci/bdf.ts';
import { InputError } from '../io/input-error.ts';
import { DELIVERY_MODE_NAMES, type DeliveryModeName } from '../x86/msi.ts';
import { encodeIrte, irteDestinationField, type Irte } from '../vtd/irte.ts';
import { irtaSizeForEntries, GLOBAL_COMMAND_BITS } from '../vtd/registers.ts';
import { irtaRegisterWrite } from '../vtd/ir-registers.ts';
import { encodeIec, encodeWait, descriptorType, INV_DESC_TYPE } from '../vtd/invalidation.ts';
import { encodeDmaInvalidation } from '../vtd/dma/invalidation-dma.ts';
import { encodeDptInvalidation } from '../hypothetical/direct-post/table.ts';

/** An invalidation-wait descriptor with no status write and no interrupt: software just waits for completion. */
const WAIT = encodeWait({ interruptFlag: false, statusWrite: false, fence: true, pageRequestDrain: false, statusData: 0, statusAddress: 0n });
import { loadDmar } from '../vtd/dmar/load.ts';
import { irEnableSequence, defaultQueue, qiEnableSequence, qiSubmitSync, type SoftwareQueue } from '../platform/ir-enable.ts';
import { DEFAULT_CAP, DEFAULT_ECAP, SCALABLE_ECAP } from '../platform/build.ts';
import { CCMD_REG, IOTLB_REG, IVA_REG, decodeCap, decodeEcap } from '../vtd/registers.ts';
import { slotOf } from '../vtd/invalidation-queue.ts';
import { decodeDmaInvalidation } from '../vtd/dma/invalidation-dma.ts';
import { unitsFromDmar } from './dmar-platform.ts';
import { fabricOfDescription, splitGroupWarnings } from './fabric.ts';
import type { Fabric } from '../fabric/model.ts';
import { deviceRequesterIds } from '../fabric/contexts.ts';
import type { ParsedScenario } from './parse.ts';
import { fieldName } from './field-name.ts';
import type * as S from './types.ts';
import { defaultMsixLayout, layoutProblem, regionOf, type MsixLayout } from '../vmm/virtual-msix.ts';
import type { ImsLayout } from '../vmm/state.ts';
import { VMM_DESIGNS, hasVmmDesign } from '../vmm/index.ts';
import { hasPolicy } from '../policy/index.ts';
import type { DeviceModelOp } from '../platform/actions.ts';
import { MAX_MAP_PAGES, MAX_SCENARIO_STEPS, MAX_UNMAP_BYTES, mappingPageCount } from './limits.ts';
import { AMDVI_STEP_KEYS, AmdStepCompiler } from './amdvi-steps.ts';
import { amdUnitOfSpec, loadIvrsUnits } from './amdvi-platform.ts';
import { DEFAULT_AVIC_BACKING_BASE, type AmdViPlatformDescription, type AmdViUnitSpec } from '../platform/amdvi-build.ts';

export interface Expectation {
  readonly delivered?: S.ExpectDelivered;
  readonly fault?: S.ExpectFault;
  readonly posted?: { readonly virtualVector?: number; readonly notified?: boolean };
  readonly acked?: number;
  /** The guest vector injected in software, into each of `injectedInto` (global vCPU ids; compiled from vm.vcpuN names). */
  readonly injected?: number;
  readonly injectedInto?: readonly number[];
  readonly woken?: true;
  readonly processed?: number;
  readonly dmaAccess?: { readonly hpa?: number | string; readonly translation?: 'untranslated' | 'iotlb-hit' | 'walk'; readonly references?: number };
  readonly dmaFault?: { readonly reason: number };
  readonly pending?: true;
  readonly dropped?: true;
  readonly dma?: true;
  readonly nothing?: true;
  readonly blocked?: true;
  readonly unsupported?: true;
  readonly peer?: { readonly target?: string };
}

export interface CompiledStep {
  /** Position in the scenario's `steps`, from 0. */
  readonly index: number;
  readonly line: number | undefined;
  /** The step's action key as written (e.g. `enable-ir`). */
  readonly label: string;
  readonly note: string | undefined;
  readonly actions: readonly Action[];
  readonly expect: Expectation | undefined;
}

export interface CompiledScenario {
  readonly file: string;
  readonly name: string;
  readonly description: string | undefined;
  readonly platform: PlatformDescription;
  readonly steps: readonly CompiledStep[];
  /** The `check:` section as written (its guests checked to be guest domains); absent when the scenario has none. */
  readonly check?: S.CheckSpec;
  /** What is legal but probably not meant, e.g. domains that split an IOMMU group (printed before the trace). */
  readonly warnings: readonly string[];
}

/** Where the hypervisor puts its (hypothetical) direct-post tables unless platform.directPost.tableBase says otherwise: 8 GiB. */
export const DEFAULT_DIRECT_POST_TABLE_BASE = 0x2_0000_0000n;

const STEP_KEYS = [
  'set-irta', 'gcmd', 'enable-ir', 'disable-ir', 'irte', 'clear-irte', 'invalidate-iec', 'invalidate-dma', 'msi', 'program-msi',
  'program-msix', 'msix-control', 'signal', 'ims-signal', 'assign', 'grant', 'revoke', 'write-memory', 'clear-fault',
  'schedule', 'preempt', 'halt', 'guest-ack', 'guest-eoi', 'guest-msi', 'enable-dma', 'map-dma', 'unmap-dma', 'dma',
  'invalidate-context-cache', 'invalidate-iotlb', 'invalidate-pasid-cache', 'invalidate-pasid-iotlb',
  'write-register', 'fault-event', 'submit-invalidation', 'guest-mmio', 'guest-config', 'device-model',
  'hypercall', 'vmm-start', 'write-dpta', 'invalidate-dpt',
  ...AMDVI_STEP_KEYS,
] as const;
type StepKey = (typeof STEP_KEYS)[number];

/** Parse a u64 field (number or hex string) to bigint. */
export function u64(v: number | string): bigint {
  return typeof v === 'number' ? BigInt(v) : BigInt(v);
}

const SVT = { none: 0, 'requester-id': 1, 'bus-range': 2, reserved: 3 } as const;

function deliveryMode(name: DeliveryModeName | undefined): number {
  return name === undefined ? 0 : DELIVERY_MODE_NAMES.indexOf(name);
}

class Compiler {
  private readonly devices = new Map<string, DeviceDescription>();
  private readonly domains = new Map<string, number>();
  /** Kind of each domain, by id (`vmm-start` starts guests only). */
  private readonly domainKinds: string[] = [];
  /** First vCPU id of each domain, and its vCPU count. */
  private readonly vcpuRanges = new Map<string, { first: number; count: number }>();
  private cpuCount = 0;
  /** Per unit: persistent GCMD bits software has set, and the EIME it last programmed. */
  private readonly gcmd = new Map<number, number>();
  private readonly eime = new Map<number, boolean>();
  /** Units put in scalable mode by `enable-dma`. */
  private readonly scalable = new Set<number>();
  /** Per unit: the invalidation queue `enable-ir` / `enable-dma` set up (src/platform/ir-enable.ts), as the driver tracks it. */
  private readonly queues = new Map<number, SoftwareQueue>();
  /** CAP and ECAP of each unit (the defaults of src/platform/build.ts when the scenario gives none). */
  private caps: { cap: bigint; ecap: bigint }[] = [];
  /** The DID each `map-dma` gave an address space (`unit|device|PASID or -`): a later map with another DID also flushes the old one. */
  private readonly mappedDids = new Map<string, number>();
  /** The RID_PASID a `map-dma` set for a device (`unit|device`), for the PASID-based flushes of an unmap without PASID. */
  private readonly ridPasids = new Map<string, number>();
  private unitCount = 0;
  /** The AMD-Vi steps' compiler (src/scenario/amdvi-steps.ts), set up by `platform`. */
  private amd: AmdStepCompiler | undefined;
  /** Device key → the domain whose `devices` list it. */
  private readonly owners = new Map<string, number>();
  private fabric: Fabric | undefined;
  private readonly warnings: string[] = [];

  constructor(private readonly parsed: ParsedScenario) {}

  private fail(message: string, path: (string | number)[], field = fieldName(path)): never {
    const line = this.parsed.lineAt(path);
    throw new InputError(message, { file: this.parsed.file, ...(line === undefined ? {} : { line }), field });
  }

  /** Canonical device key of a BDF string at `path`. */
  private key(text: string, path: (string | number)[]): { key: string; rid: number; segment: number } {
    const b = parseBdf(text);
    if (!b) this.fail(`'${text}' is not a BDF (bb:dd.f)`, path);
    return { key: formatBdf(b.rid, b.segment === 0 ? undefined : b.segment), rid: b.rid, segment: b.segment };
  }

  private device(text: string, path: (string | number)[]): string {
    const { key } = this.key(text, path);
    if (!this.devices.has(key)) this.fail(`no device ${key} in the scenario's devices`, path);
    return key;
  }

  /** A device's MSI-X table size and layout (PCI spec §6.8.2.4–6.8.2.5), validated. */
  private msix(m: NonNullable<S.Device['msix']>, path: (string | number)[]): { tableSize: number; layout: MsixLayout } {
    const base = defaultMsixLayout(m.tableSize);
    const tableBar = m.tableBar ?? base.tableBar;
    const tableOffset = m.tableOffset === undefined ? base.tableOffset : Number(u64(m.tableOffset));
    const pbaBar = m.pbaBar ?? tableBar;
    const pbaOffset = m.pbaOffset === undefined ? (pbaBar === tableBar ? tableOffset + base.pbaOffset : 0) : Number(u64(m.pbaOffset));
    const layout: MsixLayout = { entries: m.tableSize, tableBar, tableOffset, pbaBar, pbaOffset, capability: m.capability ?? base.capability };
    const problem = layoutProblem(layout);
    if (problem !== undefined) this.fail(problem, path);
    if (tableOffset > 0xffff_fff8 || pbaOffset > 0xffff_fff8) this.fail('the table and PBA offsets are 32-bit fields', path);
    return { tableSize: m.tableSize, layout };
  }

  /**
   * A device's IMS store (src/vmm/state.ts ImsLayout), validated: 16-byte aligned, every slot
   * on pages without the MSI-X table or PBA (src/vmm/virtual-msix.ts regionOf 'direct': the
   * store is device registers, which a VMM maps through unless a quirk traps them); the device
   * needs msix (the VMM manages functions with MSI-X).
   */
  private ims(m: NonNullable<S.Device['ims']>, msix: MsixLayout | undefined, path: (string | number)[]): ImsLayout {
    if (msix === undefined) this.fail('an IMS store needs msix (the VMM manages functions with MSI-X)', path);
    const offset = Number(u64(m.offset));
    if (offset % 16 !== 0 || offset > 0xffff_fff0) this.fail(`IMS offset 0x${offset.toString(16)} is not a 16-byte aligned 32-bit offset`, [...path, 'offset']);
    for (let k = 0; k < m.slots; k++) {
      for (const at of [offset + 16 * k, offset + 16 * k + 15]) {
        if (regionOf(msix!, m.bar, at) !== 'direct') this.fail(`IMS slot ${k} (BAR${m.bar} 0x${at.toString(16)}) is on a page with the MSI-X table or PBA`, path);
      }
    }
    return { bar: m.bar, offset, slots: m.slots };
  }

  /** A DMA-cache invalidation descriptor and (unless `wait` is false) the invalidation wait that completes it. */
  private invalidation(iommu: number, descriptor: bigint, wait: boolean | undefined): Action[] {
    return [{ kind: 'invalidate-dma', iommu, descriptor }, ...(wait === false ? [] : [{ kind: 'invalidation-wait', iommu, descriptor: WAIT } as const])];
  }

  /** ADDR of a page-selective invalidation: required, 4 KiB aligned; 0 for the other granularities. */
  private invalidationAddress(page: boolean, address: number | string | undefined, path: (string | number)[]): bigint {
    if (!page) return 0n;
    if (address === undefined) this.fail('a page-selective invalidation names its address', path);
    const a = u64(address);
    if ((a & 0xfffn) !== 0n) this.fail('the address of a page-selective invalidation is 4 KiB aligned', path);
    return a;
  }

  private iommu(index: number, path: (string | number)[]): number {
    if (index >= this.unitCount) this.fail(`no remapping unit ${index}: the platform has ${this.unitCount}`, path);
    return index;
  }

  compile(): CompiledScenario {
    const data = this.parsed.data as S.Scenario;
    const platform = this.platform(data);
    if ((data.steps?.length ?? 0) > MAX_SCENARIO_STEPS) this.fail(`${data.steps!.length} steps exceeds the limit of ${MAX_SCENARIO_STEPS} per scenario (docs/limits.md)`, ['steps', MAX_SCENARIO_STEPS], 'steps');
    const steps = (data.steps ?? []).map((step, i) => this.step(step, i));
    if (data.check !== undefined) this.checkSection(data, platform);
    return { file: this.parsed.file, name: data.name, description: data.description, platform, steps, ...(data.check === undefined ? {} : { check: data.check }), warnings: this.warnings };
  }

  /**
   * The platform only (as {@link compile} would compile it), then a compiler of single steps
   * against it: {@link stepCompiler}.
   */
  platformThenSteps(): (step: S.Step, index: number) => CompiledStep {
    this.platform(this.parsed.data as S.Scenario);
    return (step, index) => this.step(step, index);
  }

  /** The `check:` section's names must be guest domains of the scenario. */
  private checkSection(data: S.Scenario, platform: PlatformDescription): void {
    (data.check?.adversary?.guests ?? []).forEach((name, i) => {
      const d = platform.domains.find((x) => x.name === name);
      const path = ['check', 'adversary', 'guests', i];
      if (d === undefined) this.fail(`no domain ${name}`, path);
      if (d.kind !== 'guest') this.fail(`${name} is the ${d.kind}, not a guest: only guests are adversaries`, path);
    });
  }

  private platform(data: S.Scenario): PlatformDescription {
    const p = data.platform;
    let units: UnitDescription[] = [];
    let hostAddressWidth = p.hostAddressWidth;
    if (p.dmar !== undefined) {
      let table;
      try {
        table = loadDmar(resolve(dirname(this.parsed.file), p.dmar));
      } catch (e) {
        if (e instanceof InputError) this.fail(e.format(), ['platform', 'dmar']);
        throw e;
      }
      units = unitsFromDmar(table);
      hostAddressWidth ??= table.hostAddressWidth;
    }
    const defaults = p.unitDefaults ?? {};
    (p.iommus ?? []).forEach((u, i) => {
      const unit = this.unit(u, i);
      // Two units cannot decode one register page (one DRHD per register base, VT-d §8.3): a scenario cannot mean it.
      const twin = units.findIndex((o) => o.segment === unit.segment && o.registerBase === unit.registerBase);
      if (twin >= 0) this.fail(`0x${unit.registerBase.toString(16)} is also the register base of iommus[${twin}]`, ['platform', 'iommus', i, 'registerBase']);
      units.push(unit);
    });
    units = units.map((u) => ({
      ...u,
      ...(u.cap === undefined && defaults.cap !== undefined ? { cap: u64(defaults.cap) } : {}),
      ...(u.ecap === undefined && defaults.ecap !== undefined ? { ecap: u64(defaults.ecap) } : {}),
      ...(u.iecCapacity === undefined && defaults.iecCapacity !== undefined ? { iecCapacity: defaults.iecCapacity } : {}),
    }));
    this.unitCount = units.length;
    // An AMD-Vi platform (src/scenario/amdvi-platform.ts): platform.ivrs and/or platform.amdvi.
    let amdvi: AmdViPlatformDescription | undefined;
    if (p.ivrs !== undefined || p.amdvi !== undefined) {
      if (units.length > 0) this.fail('a platform has VT-d units (dmar, iommus) or AMD-Vi units (ivrs, amdvi), not both', ['platform', p.ivrs !== undefined ? 'ivrs' : 'amdvi']);
      const amdUnits: AmdViUnitSpec[] = [];
      if (p.ivrs !== undefined) {
        try {
          const r = loadIvrsUnits(this.parsed.file, p.ivrs);
          amdUnits.push(...r.units);
          hostAddressWidth ??= r.hostAddressWidth;
        } catch (e) {
          if (e instanceof InputError) this.fail(e.format(), ['platform', 'ivrs']);
          throw e;
        }
      }
      (p.amdvi?.units ?? []).forEach((u, i) => amdUnits.push(amdUnitOfSpec(u, ['platform', 'amdvi', 'units', i], { fail: (m, path) => this.fail(m, path), key: (t, path) => this.key(t, path) })));
      amdvi = { units: amdUnits };
      this.amd = new AmdStepCompiler(
        { fail: (m, path) => this.fail(m, path), key: (t, path) => this.key(t, path), device: (t, path) => this.device(t, path), vcpu: (r, path) => this.vcpu(r, path) },
        amdUnits,
        p.pidBase === undefined ? DEFAULT_AVIC_BACKING_BASE : u64(p.pidBase),
      );
    }
    this.caps = units.map((u) => ({ cap: u.cap ?? DEFAULT_CAP, ecap: u.ecap ?? DEFAULT_ECAP }));

    const apicIds = 'count' in p.cpus ? Array.from({ length: p.cpus.count }, (_, i) => i) : p.cpus.apicIds;
    this.cpuCount = apicIds.length;
    let nextVcpu = 0;
    (data.devices ?? []).forEach((d, i) => {
      const { key, rid, segment } = this.key(d.bdf, ['devices', i, 'bdf']);
      if (this.devices.has(key)) this.fail(`device ${key} is declared twice`, ['devices', i, 'bdf']);
      if (data.topology !== undefined && d.upstream !== undefined) this.fail('with a topology section the bridges above a device come from the topology: remove upstream', ['devices', i, 'upstream']);
      this.devices.set(key, {
        key,
        rid,
        segment,
        name: d.name ?? key,
        upstream: (d.upstream ?? []).map((u, j) => this.key(u, ['devices', i, 'upstream', j]).rid),
        ...(d.msi ? { msi: { vectors: d.msi.vectors ?? 1, maskable: d.msi.maskable ?? false } } : {}),
        ...(d.msix ? { msix: this.msix(d.msix, ['devices', i, 'msix']) } : {}),
        ...(d.ims ? { ims: this.ims(d.ims, d.msix === undefined ? undefined : this.msix(d.msix, ['devices', i, 'msix']).layout, ['devices', i, 'ims']) } : {}),
      });
    });
    const fabric = fabricOfDescription(this.parsed, data);
    this.fabric = fabric;
    if (data.topology !== undefined) {
      for (const d of this.devices.values()) {
        this.devices.set(d.key, { ...d, upstream: fabric.functions[d.key]!.path.map((k) => fabric.functions[k]!.rid) });
      }
    }
    const domains: DomainDescription[] = (data.domains ?? [{ name: 'host', kind: 'host' }]).map((d, i) => {
      if (this.domains.has(d.name)) this.fail(`domain ${d.name} is declared twice`, ['domains', i, 'name']);
      this.domains.set(d.name, i);
      (d.cpus ?? []).forEach((c, j) => {
        if (c >= apicIds.length) this.fail(`no pCPU ${c}: the platform has ${apicIds.length}`, ['domains', i, 'cpus', j]);
      });
      const vcpuApicIds = d.vcpus === undefined ? [] : typeof d.vcpus === 'number' ? Array.from({ length: d.vcpus }, (_, k) => k) : d.vcpus;
      this.vcpuRanges.set(d.name, { first: nextVcpu, count: vcpuApicIds.length });
      nextVcpu += vcpuApicIds.length;
      return {
        name: d.name,
        kind: d.kind ?? (i === 0 ? 'host' : 'guest'),
        cpus: d.cpus ?? [],
        devices: (d.devices ?? []).map((b, j) => {
          const key = this.device(b, ['domains', i, 'devices', j]);
          // One owner per function: the IOMMU's context entry for a requester ID names one domain.
          const owner = this.owners.get(key);
          if (owner !== undefined) this.fail(`device ${key} is already given to domain ${data.domains![owner]!.name}: a function has one owner (one context entry per requester ID)`, ['domains', i, 'devices', j]);
          this.owners.set(key, i);
          return key;
        }),
        vcpuApicIds,
      };
    });
    domains.forEach((d) => this.domainKinds.push(d.kind));
    // A module path (`./my-policy.js`) must have been imported first (async; src/scenario/load-modules.ts).
    if (p.policy !== undefined && !hasPolicy(p.policy)) this.fail(`hypervisor policy module '${p.policy}' is not loaded: call loadScenarioModules (src/scenario/load-modules.ts) before compiling`, ['platform', 'policy']);
    if (p.vmm !== undefined && !hasVmmDesign(p.vmm)) this.fail(`VMM design module '${p.vmm}' is not loaded: call loadScenarioModules (src/scenario/load-modules.ts) before compiling`, ['platform', 'vmm']);
    // The HYPOTHETICAL direct-post design writes the direct-post hardware's tables: without the hardware there is nothing to write.
    if ((p.vmm === 'direct-post' || p.vmm === 'direct-post-broken-no-invalidate') && p.directPost === undefined) {
      this.fail('platform.vmm direct-post (hypothetical) needs the hypothetical direct-post hardware: add platform.directPost', ['platform', 'vmm']);
    }
    const grants = (data.grants ?? []).map((g, i) => this.grant(g, ['grants', i]));
    this.warnings.push(...splitGroupWarnings(fabric, domains));
    return {
      hostAddressWidth: hostAddressWidth ?? 46,
      apicMode: p.apicMode ?? 'x2apic',
      extendedDestinationId: p.extendedDestinationId ?? false,
      ...(p.urSignaling === undefined ? {} : { urSignaling: p.urSignaling }),
      ...(p.msiValidation === undefined ? {} : { msiValidation: p.msiValidation }),
      ...(p.directPost === undefined ? {} : { directPost: this.directPost(p.directPost) }),
      apicIds,
      iommus: units,
      devices: [...this.devices.values()],
      domains,
      grants,
      ...(p.policy === undefined ? {} : { policy: p.policy }),
      ...(p.vmm === undefined
        ? {}
        : {
            vmm: {
              design: p.vmm,
              ...(p.kvmRoutes === undefined ? {} : { kvmRoutes: p.kvmRoutes }),
              deviceModels: Object.fromEntries((data.domains ?? []).flatMap((d, i) => (d.deviceModel === undefined ? [] : [[i, d.deviceModel]]))),
            },
          }),
      ...(p.pidBase === undefined ? {} : { pidBase: u64(p.pidBase) }),
      ...(amdvi === undefined ? {} : { amdvi }),
      fabric,
    };
  }

  /** `platform.directPost` (HYPOTHETICAL) with its defaults; the table base must be 4 KiB aligned. */
  private directPost(d: NonNullable<S.Platform['directPost']>): { key: 'source-id' | 'vapic-id'; vectorBits: number; cacheCapacity: number; tableBase: bigint } {
    const tableBase = d.tableBase === undefined ? DEFAULT_DIRECT_POST_TABLE_BASE : u64(d.tableBase);
    if ((tableBase & 0xfffn) !== 0n) this.fail('the direct-post table base must be 4 KiB aligned', ['platform', 'directPost', 'tableBase']);
    return { key: d.key, vectorBits: d.vectorBits ?? 8, cacheCapacity: d.cacheCapacity ?? 64, tableBase };
  }

  /** Unit `iommu` at `path`, which must have the (hypothetical) direct-post hardware. */
  private directPostUnit(iommu: number, path: (string | number)[]): number {
    const unit = this.iommu(iommu, path);
    if ((this.parsed.data as S.Scenario).platform.directPost === undefined) this.fail('a direct-post step (hypothetical) needs platform.directPost', path);
    return unit;
  }

  /** Domain id of a domain name at `path`. */
  private domainId(name: string, path: (string | number)[]): number {
    const id = this.domains.get(name);
    if (id === undefined) this.fail(`no domain ${name}`, path);
    return id;
  }

  /** Global vCPU id of `ref`. */
  private vcpu(ref: S.VcpuRef, path: (string | number)[]): number {
    const range = this.vcpuRanges.get(ref.vm);
    if (range === undefined) this.fail(`no domain ${ref.vm}`, [...path, 'vm']);
    if (ref.vcpu >= range.count) this.fail(`${ref.vm} has ${range.count} vCPU(s)`, [...path, 'vcpu']);
    return range.first + ref.vcpu;
  }

  private unit(u: S.Unit, i: number): UnitDescription {
    const path = ['platform', 'iommus', i, 'scope'];
    const s = u.scope ?? {};
    return {
      segment: u.segment ?? 0,
      registerBase: u64(u.registerBase),
      includePciAll: u.includePciAll ?? false,
      scope: {
        endpoints: (s.endpoints ?? []).map((b, j) => this.key(b, [...path, 'endpoints', j]).rid),
        bridges: (s.bridges ?? []).map((b, j) => this.key(b, [...path, 'bridges', j]).rid),
        busRanges: (s.busRanges ?? []).map(([a, b]) => [a ?? 0, b ?? 0] as const),
        ioapics: (s.ioapics ?? []).map((x, j) => ({ id: x.id, rid: this.key(x.bdf, [...path, 'ioapics', j, 'bdf']).rid })),
        hpets: (s.hpets ?? []).map((x, j) => ({ id: x.id, rid: this.key(x.bdf, [...path, 'hpets', j, 'bdf']).rid })),
      },
      ...(u.cap === undefined ? {} : { cap: u64(u.cap) }),
      ...(u.ecap === undefined ? {} : { ecap: u64(u.ecap) }),
      ...(u.iecCapacity === undefined ? {} : { iecCapacity: u.iecCapacity }),
    };
  }

  private grant(g: S.GrantSpec, path: (string | number)[]): Grant {
    const byVcpu = g.vm !== undefined || g.vcpu !== undefined;
    if (byVcpu === (g.apicId !== undefined)) this.fail('a grant names either apicId or vm and vcpu', path);
    if (byVcpu && (g.vm === undefined || g.vcpu === undefined)) this.fail('a posted grant needs both vm and vcpu', path);
    return {
      requester: this.device(g.device, [...path, 'device']),
      target: byVcpu ? { kind: 'vcpu', vcpu: this.vcpu({ vm: g.vm!, vcpu: g.vcpu! }, path) } : { kind: 'pcpu', apicId: g.apicId! },
      vector: g.vector,
      deliveryModes: (g.deliveryModes ?? ['fixed', 'lowest-priority']).map((m) => deliveryMode(m)),
    };
  }

  /** QIE in the GCMD software keeps for `iommu`. */
  private qie(iommu: number): boolean {
    return ((this.gcmd.get(iommu) ?? 0) & (1 << GLOBAL_COMMAND_BITS.QIE)) !== 0;
  }

  /**
   * Queued invalidation on for `iommu` as Linux turns it on before interrupt remapping and DMA
   * translation (`dmar_enable_qi`, src/platform/ir-enable.ts): nothing when it is on already or
   * the unit has no ECAP.QI (then DMA caches are invalidated through registers, see {@link lower}).
   */
  private enableQi(iommu: number): Action[] {
    const ecap = decodeEcap(this.caps[iommu]!.ecap);
    if (this.queues.has(iommu) || this.qie(iommu) || !ecap.QI) return [];
    const queue = defaultQueue(iommu, ecap.SMTS);
    const seq = qiEnableSequence(queue, this.gcmd.get(iommu) ?? 0);
    this.gcmd.set(iommu, seq.gcmd);
    this.queues.set(iommu, queue);
    return seq.actions;
  }

  /**
   * The invalidation requests of a step as the hypervisor makes them (Linux `qi_submit_sync` /
   * `__iommu_flush_context` / `__iommu_flush_iotlb`): each run of consecutive `invalidate-iec` /
   * `invalidate-dma` actions on one unit, with the compiler's invalidation wait after it when
   * there is one, becomes
   * - with the unit's queue set up by `enable-ir` / `enable-dma`: the descriptors written into
   *   the ring, a status-write wait (when the run waited), and one IQT write — processed by the
   *   hardware at the IQT write;
   * - with queued invalidation off: CCMD_REG and IVA_REG/IOTLB_REG writes for context-cache and
   *   IOTLB descriptors (register-based invalidation, synchronous: no wait); the other types
   *   stay descriptors the unit cannot take (an IEC invalidation needs the queue) and the trace
   *   says they were ignored;
   * - with QIE set by a raw `gcmd` step (a queue the compiler did not set up): left as they are,
   *   descriptors the queue processes at once.
   */
  private lower(actions: Action[]): Action[] {
    const out: Action[] = [];
    for (let i = 0; i < actions.length; ) {
      const a = actions[i]!;
      if (a.kind !== 'invalidate-iec' && a.kind !== 'invalidate-dma' && !(a.kind === 'invalidation-wait' && a.descriptor === WAIT)) {
        out.push(a);
        i++;
        continue;
      }
      const iommu = a.iommu;
      const descriptors: bigint[] = [];
      let wait = false;
      for (; i < actions.length; i++) {
        const b = actions[i]!;
        if ((b.kind === 'invalidate-iec' || b.kind === 'invalidate-dma') && b.iommu === iommu && !wait) descriptors.push(b.descriptor);
        else if (b.kind === 'invalidation-wait' && b.iommu === iommu && b.descriptor === WAIT && !wait) wait = true;
        else break;
      }
      out.push(...this.submit(iommu, descriptors, wait));
    }
    return out;
  }

  /** One synchronous invalidation request of `descriptors` on `iommu` (see {@link lower}). */
  private submit(iommu: number, descriptors: readonly bigint[], wait: boolean): Action[] {
    const queue = this.queues.get(iommu);
    if (queue !== undefined && this.qie(iommu)) {
      const r = qiSubmitSync(queue, descriptors, { wait });
      this.queues.set(iommu, r.queue);
      return r.actions;
    }
    const direct = (d: bigint): Action => (descriptorType(d) === INV_DESC_TYPE.IEC ? { kind: 'invalidate-iec', iommu, descriptor: d } : { kind: 'invalidate-dma', iommu, descriptor: d });
    if (this.qie(iommu)) return [...descriptors.map(direct), ...(wait ? [{ kind: 'invalidation-wait', iommu, descriptor: WAIT } as const] : [])];
    return descriptors.flatMap((d): Action[] => {
      const inv = decodeDmaInvalidation(d)?.desc;
      if (inv?.kind === 'context-cache' && inv.granularity !== 'reserved-0') {
        const value = CCMD_REG.encode({ ICC: true, CIRG: ['reserved-0', 'global', 'domain', 'device'].indexOf(inv.granularity), CAIG: 0, DID: inv.did, SID: inv.sid, FM: inv.functionMask });
        return [{ kind: 'write-register', iommu, register: 'CCMD', value }];
      }
      if (inv?.kind === 'iotlb' && inv.granularity !== 'reserved-0') {
        const value = IOTLB_REG.encode({ IVT: true, IIRG: ['reserved-0', 'global', 'domain', 'page'].indexOf(inv.granularity), IAIG: 0, DR: inv.drainReads, DW: inv.drainWrites, DID: inv.did });
        const iva: Action[] = inv.granularity === 'page' ? [{ kind: 'write-register', iommu, register: 'IVA', value: IVA_REG.encode({ ADDR: Number(inv.address >> 12n), AM: inv.addressMask, IH: inv.invalidationHint }) }] : [];
        return [...iva, { kind: 'write-register', iommu, register: 'IOTLB', value }];
      }
      return [direct(d)];
    });
  }

  private gcmdWrite(iommu: number, persistent: number, oneShot = 0): Action {
    this.gcmd.set(iommu, persistent >>> 0);
    return { kind: 'write-gcmd', iommu, value: (persistent | oneShot) >>> 0 };
  }

  private irte(s: S.IrteSpec, path: (string | number)[]): bigint {
    if (s.raw !== undefined) return BigInt(s.raw);
    if (s.destination !== undefined && s.dst !== undefined) this.fail('give destination or dst, not both', [...path, 'dst']);
    let sid = 0;
    if (s.busRange !== undefined) {
      if (s.svt !== 'bus-range') this.fail('busRange needs svt: bus-range', [...path, 'busRange']);
      sid = ((s.busRange[0] ?? 0) << 8) | (s.busRange[1] ?? 0);
    } else if (s.sid !== undefined) sid = this.key(s.sid, [...path, 'sid']).rid;
    const common = {
      present: s.present ?? true,
      fpd: s.fpd ?? false,
      avail: s.avail ?? 0,
      sid,
      sq: s.sq ?? 0,
      svt: SVT[s.svt ?? 'none'],
    };
    let irte: Irte;
    if ((s.mode ?? 'remapped') === 'posted') {
      irte = { ...common, mode: 'posted', urgent: s.urgent ?? false, virtualVector: s.virtualVector ?? 0, pda: s.pda === undefined ? 0n : u64(s.pda) };
    } else {
      let destination = s.dst ?? 0;
      if (s.destination !== undefined) {
        const eime = this.eime.get(s.iommu) ?? false;
        try {
          destination = irteDestinationField(s.destination, eime);
        } catch {
          this.fail(`APIC ID ${s.destination} does not fit an IRTE destination with EIME=${eime ? 1 : 0}`, [...path, 'destination']);
        }
      }
      irte = {
        ...common,
        mode: 'remapped',
        destinationModeLogical: s.destinationMode === 'logical',
        redirectionHint: s.redirectionHint ?? false,
        triggerLevel: s.triggerMode === 'level',
        deliveryMode: deliveryMode(s.deliveryMode),
        vector: s.vector ?? 0,
        destination,
      };
    }
    try {
      return encodeIrte(irte);
    } catch (e) {
      this.fail((e as Error).message, path);
    }
  }

  private step(step: S.Step, index: number): CompiledStep {
    const path = ['steps', index];
    // A guest driver step for other VMM designs stays in place (step indices are the file's) and does nothing.
    const under = step.under;
    const design = (this.parsed.data as S.Scenario).platform.vmm;
    under?.forEach((name, j) => {
      if (VMM_DESIGNS[name] === undefined) this.fail(`unknown VMM design '${name}' (known: ${Object.keys(VMM_DESIGNS).join(', ')})`, [...path, 'under', j]);
    });
    if (under !== undefined && !(design !== undefined && under.includes(design))) {
      return { index, line: this.parsed.lineAt(path), label: 'skipped', note: `${step.note === undefined ? '' : `${step.note} `}(only under ${under.join(', ')}; this run's VMM design is ${design ?? 'none'})`, actions: [], expect: undefined };
    }
    const keys = STEP_KEYS.filter((k) => k in step);
    if (keys.length !== 1) {
      this.fail(keys.length === 0 ? `a step needs one action (${STEP_KEYS.join(', ')})` : `a step has one action, found ${keys.join(' and ')}`, path);
    }
    const label = keys[0] as StepKey;
    const at = [...path, label];
    const actions = this.lower(this.actions(label, step, at));
    const target = step.expect?.peer?.target;
    // A peer target is matched against event keys: any BDF spelling names the same function.
    const { injectedInto: _names, ...given } = step.expect ?? {};
    const withPeer = step.expect === undefined ? undefined : target === undefined ? given : { ...given, peer: { target: this.key(target, [...path, 'expect', 'peer', 'target']).key } };
    const into = step.expect?.injectedInto;
    if (into !== undefined && step.expect?.injected === undefined) this.fail('injectedInto needs injected (the vector)', [...path, 'expect', 'injectedInto']);
    const expect: Expectation | undefined =
      into === undefined
        ? withPeer
        : {
            ...withPeer,
            injectedInto: into.map((name, j) => {
              const [vm, n] = name.split('.vcpu');
              return this.vcpu({ vm: vm!, vcpu: Number(n) }, [...path, 'expect', 'injectedInto', j]);
            }),
          };
    return { index, line: this.parsed.lineAt(path), label, note: step.note, actions, expect };
  }

  private actions(label: StepKey, step: S.Step, at: (string | number)[]): Action[] {
    const IRE = 1 << GLOBAL_COMMAND_BITS.IRE;
    const CFI = 1 << GLOBAL_COMMAND_BITS.CFI;
    const SIRTP = 1 << GLOBAL_COMMAND_BITS.SIRTP;
    switch (label) {
      case 'set-irta': {
        const s = step['set-irta']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        this.eime.set(iommu, s.eime ?? false);
        return [{ kind: 'write-irta', iommu, value: irtaRegisterWrite(u64(s.base), s.eime ?? false, irtaSizeForEntries(s.entries)) }];
      }
      case 'gcmd': {
        const s = step.gcmd!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        const value = s.bits.reduce((v, b) => v | (1 << GLOBAL_COMMAND_BITS[b]), 0) >>> 0;
        this.gcmd.set(iommu, value & ~(SIRTP | (1 << GLOBAL_COMMAND_BITS.SRTP) | (1 << GLOBAL_COMMAND_BITS.SFL) | (1 << GLOBAL_COMMAND_BITS.WBF)));
        return [{ kind: 'write-gcmd', iommu, value }];
      }
      case 'enable-ir': {
        const s = step['enable-ir']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        const eime = s.eime ?? false;
        this.eime.set(iommu, eime);
        // Linux turns queued invalidation on first (`intel_setup_irq_remapping` → `dmar_enable_qi`) and
        // skips the global IEC flush after SIRTP on CAP.ESIRTPS hardware (`iommu_set_irq_remapping`).
        const qi = this.enableQi(iommu);
        const esirtps = decodeCap(this.caps[iommu]!.cap).ESIRTPS;
        const queue = this.qie(iommu) ? (this.queues.get(iommu) ?? null) : null;
        const seq = irEnableSequence(iommu, { base: u64(s.base), eime, entries: s.entries, cfi: s.cfi ?? false }, this.gcmd.get(iommu) ?? 0, { queue, esirtps });
        this.gcmd.set(iommu, seq.gcmd);
        if (seq.queue !== undefined) this.queues.set(iommu, seq.queue);
        return [...qi, ...seq.actions];
      }
      case 'disable-ir': {
        const iommu = this.iommu(step['disable-ir']!.iommu, [...at, 'iommu']);
        return [this.gcmdWrite(iommu, (this.gcmd.get(iommu) ?? 0) & ~(IRE | CFI))];
      }
      case 'irte': {
        const s = step.irte!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        return [{ kind: 'write-irte', iommu, index: s.index, value: this.irte(s, at) }];
      }
      case 'clear-irte': {
        const s = step['clear-irte']!;
        return [{ kind: 'write-irte', iommu: this.iommu(s.iommu, [...at, 'iommu']), index: s.index, value: 0n }];
      }
      case 'invalidate-iec': {
        const s = step['invalidate-iec']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        const descriptor =
          s.index === undefined
            ? encodeIec({ granularity: 'global', indexMask: 0, interruptIndex: 0 })
            : encodeIec({ granularity: 'index', indexMask: s.mask ?? 0, interruptIndex: s.index });
        return [{ kind: 'invalidate-iec', iommu, descriptor }];
      }
      case 'invalidate-dma': {
        // Context-cache and IOTLB invalidations the hypervisor issues on its own (after
        // writing a context entry with write-memory, say), then a wait.
        const s = step['invalidate-dma']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        const did = s.did ?? 0;
        if (s.did === undefined && ((s.context !== undefined && s.context !== 'all') || s.iotlb === 'domain')) this.fail('a device-selective context or domain-selective IOTLB invalidation needs did', [...at, 'did']);
        const out: Action[] = [];
        if (s.context !== undefined) {
          const sid = s.context === 'all' ? 0 : this.key(s.context, [...at, 'context']).rid;
          out.push({ kind: 'invalidate-dma', iommu, descriptor: encodeDmaInvalidation({ kind: 'context-cache', granularity: s.context === 'all' ? 'global' : 'device', did, sid, functionMask: 0 }) });
        }
        if (s.iotlb !== undefined) {
          out.push({ kind: 'invalidate-dma', iommu, descriptor: encodeDmaInvalidation({ kind: 'iotlb', granularity: s.iotlb === 'all' ? 'global' : 'domain', drainWrites: true, drainReads: true, did, addressMask: 0, invalidationHint: false, address: 0n }) });
        }
        out.push({ kind: 'invalidation-wait', iommu, descriptor: WAIT });
        return out;
      }
      case 'msi': {
        const s = step.msi!;
        const device = this.device(s.device, [...at, 'device']);
        const rid = s.rid === undefined ? undefined : this.key(s.rid, [...at, 'rid']).rid;
        return [{ kind: 'msi-write', device, ...(rid === undefined ? {} : { rid }), address: u64(s.address), data: s.data }];
      }
      case 'program-msi': {
        const s = step['program-msi']!;
        return [{
          kind: 'program-msi',
          device: this.device(s.device, [...at, 'device']),
          ...(s.enable === undefined ? {} : { enabled: s.enable }),
          ...(s.address === undefined ? {} : { address: u64(s.address) }),
          ...(s.data === undefined ? {} : { data: s.data }),
          ...(s.vectors === undefined ? {} : { mme: Math.log2(s.vectors) }),
          ...(s.mask === undefined ? {} : { mask: s.mask }),
        }];
      }
      case 'program-msix': {
        const s = step['program-msix']!;
        return [{
          kind: 'program-msix',
          device: this.device(s.device, [...at, 'device']),
          entry: s.entry,
          ...(s.address === undefined ? {} : { address: u64(s.address) }),
          ...(s.data === undefined ? {} : { data: s.data }),
          ...(s.masked === undefined ? {} : { masked: s.masked }),
        }];
      }
      case 'msix-control': {
        const s = step['msix-control']!;
        return [{
          kind: 'msix-control',
          device: this.device(s.device, [...at, 'device']),
          ...(s.enable === undefined ? {} : { enabled: s.enable }),
          ...(s.functionMask === undefined ? {} : { functionMask: s.functionMask }),
        }];
      }
      case 'guest-mmio': {
        const s = step['guest-mmio']!;
        const device = this.device(s.device, [...at, 'device']);
        const offset = u64(s.offset);
        if (offset > 0xffff_ffffn) this.fail('offset is beyond a 32-bit BAR', [...at, 'offset']);
        const write = s.read !== true;
        if (write && s.value === undefined) this.fail('a write needs value (or read: true)', [...at, 'value']);
        if (!write && s.value !== undefined) this.fail('a read has no value', [...at, 'value']);
        const value = s.value === undefined ? 0n : u64(s.value);
        if (value >> BigInt(8 * s.size) !== 0n) this.fail(`value does not fit in ${s.size} bytes`, [...at, 'value']);
        return [{ kind: 'guest-mmio', device, bar: s.bar ?? 0, offset: Number(offset), size: s.size, write, value }];
      }
      case 'guest-config': {
        const s = step['guest-config']!;
        if (s.value >= 2 ** (8 * s.size)) this.fail(`value does not fit in ${s.size} bytes`, [...at, 'value']);
        return [{ kind: 'guest-config', device: this.device(s.device, [...at, 'device']), offset: s.offset, size: s.size, value: s.value }];
      }
      case 'device-model': {
        const s = step['device-model']!;
        const device = this.device(s.device, [...at, 'device']);
        const owner = this.owners.get(device);
        const domain = s.vm === undefined ? owner : this.domainId(s.vm, [...at, 'vm']);
        if (domain === undefined) this.fail(`${device} belongs to no domain: name the device model's vm`, [...at, 'vm']);
        const need = <T,>(v: T | undefined, field: string): T => {
          if (v === undefined) this.fail(`op ${s.op} needs ${field}`, [...at, field]);
          return v;
        };
        const op: DeviceModelOp =
          s.op === 'bind'
            ? { op: 'bind', entry: need(s.entry, 'entry'), address: u64(need(s.address, 'address')), data: need(s.data, 'data'), ...(s.maskHandling === undefined ? {} : { maskHandling: s.maskHandling }) }
            : s.op === 'unbind'
              ? { op: 'unbind', entry: need(s.entry, 'entry') }
              : s.op === 'mask'
                ? { op: 'mask', entry: need(s.entry, 'entry'), masked: need(s.masked, 'masked') }
                : s.op === 'write-page'
                  ? { op: 'write-page', bar: s.bar ?? 0, offset: Number(u64(need(s.offset, 'offset'))), size: need(s.size, 'size'), value: s.value === undefined ? 0n : u64(s.value) }
                  : { op: 'signal-msi', address: u64(need(s.address, 'address')), data: need(s.data, 'data') };
        return [{ kind: 'device-model', domain, device, op }];
      }
      case 'hypercall': {
        const s = step.hypercall!;
        const device = this.device(s.device, [...at, 'device']);
        const domain = this.domainId(s.vm, [...at, 'vm']);
        // vcpuOf: another domain's vCPU, which a malicious guest may name (the hypervisor must refuse it).
        const vcpu = this.vcpu({ vm: s.vcpuOf ?? s.vm, vcpu: s.vcpu }, at);
        if (s.op === 'get-msi-pair') return [{ kind: 'hypercall', domain, device, op: { op: s.op, slot: s.slot, vcpu, vector: s.vector } }];
        return [{ kind: 'hypercall', domain, device, op: { op: s.op, entry: s.entry, vcpu, vector: s.vector } }];
      }
      case 'signal': {
        const s = step.signal!;
        return [{ kind: 'signal', device: this.device(s.device, [...at, 'device']), vector: s.vector }];
      }
      case 'ims-signal': {
        const s = step['ims-signal']!;
        const device = this.device(s.device, [...at, 'device']);
        const ims = this.devices.get(device)?.ims;
        if (ims === undefined) this.fail(`${device} has no IMS store (devices[].ims)`, [...at, 'device']);
        if (s.slot >= ims.slots) this.fail(`${device}'s IMS store has ${ims.slots} slots: no slot ${s.slot}`, [...at, 'slot']);
        return [{ kind: 'ims-signal', device, slot: s.slot }];
      }
      case 'assign': {
        const s = step.assign!;
        const domain = this.domains.get(s.domain);
        if (domain === undefined) this.fail(`no domain ${s.domain}`, [...at, 'domain']);
        return [{ kind: 'assign-device', device: this.device(s.device, [...at, 'device']), domain }];
      }
      case 'grant':
        return [{ kind: 'grant', grant: this.grant(step.grant!, at) }];
      case 'revoke': {
        const s = step.revoke!;
        return [{ kind: 'revoke', requester: this.device(s.device, [...at, 'device']), ...(s.vector === undefined ? {} : { vector: s.vector }) }];
      }
      case 'write-memory': {
        const s = step['write-memory']!;
        const value = u64(s.value);
        if (value >> BigInt(8 * s.bytes) !== 0n) this.fail(`value does not fit in ${s.bytes} bytes`, [...at, 'value']);
        return [{ kind: 'write-memory', address: u64(s.address), bytes: s.bytes, value }];
      }
      case 'clear-fault': {
        const s = step['clear-fault']!;
        return [{ kind: 'clear-fault', iommu: this.iommu(s.iommu, [...at, 'iommu']), record: s.record }];
      }
      case 'write-register': {
        const s = step['write-register']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        const value = u64(s.value);
        const queue = this.queues.get(iommu);
        if (s.register === 'IQT') {
          // Software moved the tail itself: the driver's head follows it.
          if (queue !== undefined) this.queues.set(iommu, { ...queue, head: slotOf(value, queue.wide) });
          return [{ kind: 'write-iqt', iommu, value }];
        }
        if (s.register === 'IQA' && queue !== undefined) this.queues.delete(iommu);
        return [{ kind: 'write-register', iommu, register: s.register, value }];
      }
      case 'fault-event': {
        // Linux `dmar_msi_write` (FEDATA, FEADDR, FEUADDR in that order; with x2APIC the upper
        // address carries destination bits 31:8, `__irq_msi_compose_msg(..., dmar = true)`), then
        // `dmar_msi_unmask` (FECTL = 0).
        const s = step['fault-event']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        const logical = s.destinationMode === 'logical';
        const data = (s.vector & 0xff) | (deliveryMode(s.deliveryMode) << 8);
        const address = (0xfee0_0000 | ((s.destination & 0xff) << 12) | (logical ? 1 << 2 : 0)) >>> 0;
        const upper = (s.destination & 0xffff_ff00) >>> 0;
        return [
          { kind: 'write-register', iommu, register: 'FEDATA', value: BigInt(data) },
          { kind: 'write-register', iommu, register: 'FEADDR', value: BigInt(address) },
          { kind: 'write-register', iommu, register: 'FEUADDR', value: BigInt(upper) },
          { kind: 'write-register', iommu, register: 'FECTL', value: s.masked ? 0x8000_0000n : 0n },
        ];
      }
      case 'submit-invalidation': {
        const s = step['submit-invalidation']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        const queue = this.queues.get(iommu);
        if (queue === undefined) this.fail(`unit ${iommu} has no invalidation queue yet: enable-ir or enable-dma sets it up`, [...at, 'iommu']);
        const descriptors = s.descriptors.map((d, j) => {
          const v = BigInt(d);
          if (v >> 128n !== 0n) this.fail('a descriptor is 128 bits (qword 1 << 64 | qword 0)', [...at, 'descriptors', j]);
          return v;
        });
        const r = qiSubmitSync(queue, descriptors, { wait: s.wait ?? true, doorbell: s.doorbell ?? true });
        this.queues.set(iommu, r.queue);
        return r.actions;
      }
      case 'schedule': {
        const s = step.schedule!;
        if (s.pcpu >= this.cpuCount) this.fail(`no pCPU ${s.pcpu}: the platform has ${this.cpuCount}`, [...at, 'pcpu']);
        return [{ kind: 'schedule', vcpu: this.vcpu(s, at), pcpu: s.pcpu }];
      }
      case 'preempt':
        return [{ kind: 'preempt', vcpu: this.vcpu(step.preempt!, at) }];
      case 'halt':
        return [{ kind: 'halt', vcpu: this.vcpu(step.halt!, at) }];
      case 'guest-ack':
        return [{ kind: 'guest-ack', vcpu: this.vcpu(step['guest-ack']!, at) }];
      case 'guest-eoi':
        return [{ kind: 'guest-eoi', vcpu: this.vcpu(step['guest-eoi']!, at) }];
      case 'enable-dma': {
        const s = step['enable-dma']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        // Linux sets RTADDR.TTM = 01 only where ECAP.SMTS is set (`sm_supported`); without it the
        // mode is reserved and the unit faults every request 0x30 (docs/fidelity.md).
        if (s.scalable && !decodeEcap(this.caps[iommu]!.ecap).SMTS) {
          this.fail(`unit ${iommu} has no ECAP.SMTS (ECAP 0x${this.caps[iommu]!.ecap.toString(16)}): scalable mode needs a scalable-mode unit, e.g. ecap: 0x${SCALABLE_ECAP.toString(16)}`, [...at, 'scalable']);
        }
        if (s.scalable) this.scalable.add(iommu);
        else this.scalable.delete(iommu);
        // Linux: queued invalidation first (`intel_iommu_init_qi`), then the root table (SRTP and,
        // unless CAP.ESRTPS made SRTP do it, global context/PASID/IOTLB flushes: `iommu_set_root_entry`).
        const qi = this.enableQi(iommu);
        const persistent = this.gcmd.get(iommu) ?? 0;
        const TE = 1 << GLOBAL_COMMAND_BITS.TE;
        const esrtps = decodeCap(this.caps[iommu]!.cap).ESRTPS;
        const flushes: Action[] = esrtps
          ? []
          : [
              { kind: 'invalidate-dma', iommu, descriptor: encodeDmaInvalidation({ kind: 'context-cache', granularity: 'global', did: 0, sid: 0, functionMask: 0 }) },
              ...(s.scalable ? [{ kind: 'invalidate-dma', iommu, descriptor: encodeDmaInvalidation({ kind: 'pasid-cache', granularity: 'global', did: 0, pasid: 0 }) } as const] : []),
              { kind: 'invalidate-dma', iommu, descriptor: encodeDmaInvalidation({ kind: 'iotlb', granularity: 'global', drainWrites: true, drainReads: true, did: 0, addressMask: 0, invalidationHint: false, address: 0n }) },
              { kind: 'invalidation-wait', iommu, descriptor: WAIT },
            ];
        return [
          ...qi,
          { kind: 'dma-root', iommu, scalable: s.scalable ?? false },
          this.gcmdWrite(iommu, persistent, 1 << GLOBAL_COMMAND_BITS.SRTP),
          ...flushes,
          this.gcmdWrite(iommu, (persistent | TE) >>> 0),
        ];
      }
      case 'map-dma': {
        const s = step['map-dma']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        const device = this.device(s.device, [...at, 'device']);
        const rid = this.key(s.device, [...at, 'device']).rid;
        const levels = s.levels ?? 4;
        if (s.mode === 'first-stage' && levels === 3) this.fail('a first stage has 4 or 5 levels', [...at, 'levels']);
        const legacy = s.mode.startsWith('legacy');
        if (legacy && s.pasid !== undefined) this.fail('a legacy context entry has no PASIDs', [...at, 'pasid']);
        if (s.ridPasid && s.pasid === undefined) this.fail('ridPasid names the PASID given in pasid', [...at, 'ridPasid']);
        const mappings = s.mappings.map((m) => ({
          iova: u64(m.iova),
          hpa: u64(m.hpa),
          ...(m.gpa === undefined ? {} : { gpa: u64(m.gpa) }),
          size: u64(m.size),
          read: m.read ?? true,
          write: m.write ?? true,
          ...(m.structures === undefined ? {} : { structures: m.structures }),
        }));
        // Bound the page-table build before it starts (src/scenario/limits.ts).
        let pages = 0;
        mappings.forEach((m, j) => {
          // Nested: the first stage maps IOVA → GPA and the second GPA → HPA; both are built.
          pages += mappingPageCount(m.iova, m.gpa ?? m.hpa, m.size, MAX_MAP_PAGES - pages);
          if (m.gpa !== undefined && pages <= MAX_MAP_PAGES) pages += mappingPageCount(m.gpa, m.hpa, m.size, MAX_MAP_PAGES - pages);
          if (pages > MAX_MAP_PAGES) this.fail(`the mappings need more than ${MAX_MAP_PAGES} pages (4 KiB/2 MiB/1 GiB by alignment; docs/limits.md)`, [...at, 'mappings', j, 'size']);
        });
        const scalable = !legacy;
        const invalidate = s.invalidate ?? true;
        const unitDevice = `${iommu}|${device}`;
        const pasid = s.pasid ?? (legacy ? undefined : (this.ridPasids.get(unitDevice) ?? 0));
        if (s.ridPasid) this.ridPasids.set(unitDevice, s.pasid!);
        const space = `${unitDevice}|${pasid ?? '-'}`;
        const oldDid = this.mappedDids.get(space);
        this.mappedDids.set(space, s.did);
        const action: Action = {
          kind: 'map-dma', iommu, device, did: s.did, mode: s.mode, levels,
          ...(s.firstStageLevels === undefined ? {} : { firstStageLevels: s.firstStageLevels }),
          ...(s.pasid === undefined ? {} : { pasid: s.pasid }),
          ...(s.ridPasid ? { ridPasid: true } : {}),
          ...(invalidate === false ? { skipsInvalidation: true } : {}),
          mappings,
          ...(s.contexts === undefined ? {} : { contexts: s.contexts }),
        };
        // `false`: the hypervisor returns without invalidating (P4 judges it complete); `deferred`:
        // the scenario's own invalidation steps follow.
        if (invalidate !== true) return [action];
        // The hypervisor programs a context entry for every requester ID the device's DMA may
        // carry (src/fabric/contexts.ts), so each is flushed; the domain's PASID cache and IOTLB
        // after (VT-d §6.5.3.3 guidance; Linux `domain_context_clear_one`, `intel_pasid_tear_down_entry`),
        // for the DID the space had before too when the map moves it to another.
        const sids = deviceRequesterIds(this.fabric!, device, rid, s.contexts);
        const dids = oldDid === undefined || oldDid === s.did ? [s.did] : [oldDid, s.did];
        return [
          action,
          ...sids.map((sid): Action => ({ kind: 'invalidate-dma', iommu, descriptor: encodeDmaInvalidation({ kind: 'context-cache', granularity: 'device', did: s.did, sid, functionMask: 0 }) })),
          ...(scalable ? dids.map((did): Action => ({ kind: 'invalidate-dma', iommu, descriptor: encodeDmaInvalidation({ kind: 'pasid-cache', granularity: 'domain', did, pasid: 0 }) })) : []),
          ...dids.map((did): Action => ({ kind: 'invalidate-dma', iommu, descriptor: encodeDmaInvalidation({ kind: 'iotlb', granularity: 'domain', drainWrites: true, drainReads: true, did, addressMask: 0, invalidationHint: false, address: 0n }) })),
          { kind: 'invalidation-wait', iommu, descriptor: WAIT },
        ];
      }
      case 'unmap-dma': {
        const s = step['unmap-dma']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        const device = this.device(s.device, [...at, 'device']);
        const iova = u64(s.iova);
        const size = u64(s.size);
        if ((iova & 0xfffn) !== 0n || size <= 0n || (size & 0xfffn) !== 0n) this.fail('iova and size must be 4 KiB aligned and size positive', [...at, 'size']);
        if (size > MAX_UNMAP_BYTES) this.fail(`0x${size.toString(16)} bytes exceeds the unmap limit of 0x${MAX_UNMAP_BYTES.toString(16)} (${MAX_UNMAP_BYTES / 4096n} pages of 4 KiB; docs/limits.md)`, [...at, 'size']);
        const invalidate = s.invalidate ?? true;
        const out: Action[] = [{ kind: 'unmap-dma', iommu, device, iova, size, ...(s.pasid === undefined ? {} : { pasid: s.pasid }), ...(invalidate === false ? { skipsInvalidation: true } : {}) }];
        if (invalidate === true) {
          // The smallest naturally aligned 2^AM-page block covering the range (VT-d page-selective invalidation).
          let am = 0;
          while (((iova >> 12n) >> BigInt(am)) !== (((iova + size - 1n) >> 12n) >> BigInt(am))) am++;
          const base = (iova >> BigInt(12 + am)) << BigInt(12 + am);
          out.push({ kind: 'invalidate-dma', iommu, descriptor: encodeDmaInvalidation({ kind: 'iotlb', granularity: 'page', drainWrites: true, drainReads: true, did: s.did, addressMask: am, invalidationHint: false, address: base }) });
          // A type-2 IOTLB invalidation does not reach first-stage (PASID-tagged) entries (VT-d
          // §6.5.2.4): in scalable mode also flush by PASID, as Linux `qi_flush_piotlb` does —
          // the unmap's PASID, or the one requests without PASID use.
          if (this.scalable.has(iommu)) {
            const pasid = s.pasid ?? this.ridPasids.get(`${iommu}|${device}`) ?? 0;
            out.push({ kind: 'invalidate-dma', iommu, descriptor: encodeDmaInvalidation({ kind: 'pasid-iotlb', granularity: 'page', did: s.did, pasid, addressMask: am, invalidationHint: false, address: base }) });
          }
          out.push({ kind: 'invalidation-wait', iommu, descriptor: WAIT });
        }
        return out;
      }
      case 'invalidate-context-cache': {
        const s = step['invalidate-context-cache']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        if (s.granularity !== 'global' && s.did === undefined) this.fail(`a ${s.granularity}-selective context-cache invalidation names its domain (did)`, [...at, 'did']);
        if (s.granularity === 'device' && s.sid === undefined) this.fail('a device-selective context-cache invalidation names its source ID (sid)', [...at, 'sid']);
        const sid = s.sid === undefined ? 0 : this.key(s.sid, [...at, 'sid']).rid;
        return this.invalidation(iommu, encodeDmaInvalidation({ kind: 'context-cache', granularity: s.granularity, did: s.did ?? 0, sid, functionMask: s.fm ?? 0 }), s.wait);
      }
      case 'invalidate-iotlb': {
        const s = step['invalidate-iotlb']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        if (s.granularity !== 'global' && s.did === undefined) this.fail(`a ${s.granularity}-selective IOTLB invalidation names its domain (did)`, [...at, 'did']);
        const address = this.invalidationAddress(s.granularity === 'page', s.address, [...at, 'address']);
        const drain = s.drain ?? true;
        return this.invalidation(iommu, encodeDmaInvalidation({ kind: 'iotlb', granularity: s.granularity, drainWrites: drain, drainReads: drain, did: s.did ?? 0, addressMask: s.am ?? 0, invalidationHint: s.ih ?? false, address }), s.wait);
      }
      case 'invalidate-pasid-cache': {
        const s = step['invalidate-pasid-cache']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        if (s.granularity !== 'global' && s.did === undefined) this.fail(`a ${s.granularity}-selective PASID-cache invalidation names its domain (did)`, [...at, 'did']);
        if (s.granularity === 'pasid' && s.pasid === undefined) this.fail('a PASID-selective PASID-cache invalidation names its PASID', [...at, 'pasid']);
        return this.invalidation(iommu, encodeDmaInvalidation({ kind: 'pasid-cache', granularity: s.granularity, did: s.did ?? 0, pasid: s.pasid ?? 0 }), s.wait);
      }
      case 'invalidate-pasid-iotlb': {
        const s = step['invalidate-pasid-iotlb']!;
        const iommu = this.iommu(s.iommu, [...at, 'iommu']);
        const address = this.invalidationAddress(s.granularity === 'page', s.address, [...at, 'address']);
        return this.invalidation(iommu, encodeDmaInvalidation({ kind: 'pasid-iotlb', granularity: s.granularity, did: s.did, pasid: s.pasid, addressMask: s.am ?? 0, invalidationHint: s.ih ?? false, address }), s.wait);
      }
      case 'dma': {
        const s = step.dma!;
        const device = this.device(s.device, [...at, 'device']);
        const rid = s.rid === undefined ? undefined : this.key(s.rid, [...at, 'rid']).rid;
        const size = s.size ?? 4;
        const address = u64(s.address);
        if ((address & 0xfffn) + BigInt(size) > 0x1000n) this.fail('a DMA access must stay within one 4 KiB page', [...at, 'size']);
        const value = s.value === undefined ? 0n : u64(s.value);
        if (value >> BigInt(8 * size) !== 0n) this.fail(`value does not fit in ${size} bytes`, [...at, 'value']);
        return [{ kind: 'dma', device, ...(rid === undefined ? {} : { rid }), ...(s.pasid === undefined ? {} : { pasid: s.pasid }), address, size, write: s.write ?? true, value }];
      }
      case 'write-dpta': {
        const s = step['write-dpta']!;
        return [{ kind: 'write-dpta', iommu: this.directPostUnit(s.iommu, [...at, 'iommu']), value: u64(s.value) }];
      }
      case 'invalidate-dpt': {
        const s = step['invalidate-dpt']!;
        const iommu = this.directPostUnit(s.iommu, [...at, 'iommu']);
        if (s.granularity !== 'global' && s.sid === undefined) this.fail(`a ${s.granularity} invalidation names its requester ID: add sid`, [...at, 'sid']);
        if (s.granularity === 'entry' && s.vapicId === undefined) this.fail('an entry invalidation names its vAPIC ID: add vapicId', [...at, 'vapicId']);
        const sid = s.sid === undefined ? 0 : this.key(s.sid, [...at, 'sid']).rid;
        return [{ kind: 'invalidate-dpt', iommu, descriptor: encodeDptInvalidation({ granularity: s.granularity, sid, vapicId: s.vapicId ?? 0 }) }];
      }
      case 'vmm-start': {
        const s = step['vmm-start']!;
        const domain = this.domainId(s.vm, [...at, 'vm']);
        if (this.domainKinds[domain] !== 'guest') this.fail(`${s.vm} is not a guest: the VMM starts guests`, [...at, 'vm']);
        return [{ kind: 'vmm-start', domain }];
      }
      case 'amdvi-register':
      case 'amdvi-enable':
      case 'dte':
      case 'amd-irte':
      case 'amd-command':
        if (this.amd === undefined) this.fail(`${label} needs an AMD-Vi platform (platform.ivrs or platform.amdvi)`, at);
        return this.amd.compile(label, step, at);
      case 'guest-msi': {
        const s = step['guest-msi']!;
        return [{
          kind: 'guest-msi',
          device: this.device(s.device, [...at, 'device']),
          entry: s.entry,
          destination: s.destination,
          ...(s.destinationMode === undefined ? {} : { destinationMode: s.destinationMode }),
          vector: s.vector,
          ...(s.deliveryMode === undefined ? {} : { deliveryMode: deliveryMode(s.deliveryMode) }),
          ...(s.vm === undefined ? {} : { domain: this.domainId(s.vm, [...at, 'vm']) }),
        }];
      }
    }
  }
}

/**
 * Compile a parsed scenario.
 * @throws InputError for semantic errors (unknown device, domain or unit; bad IRTE fields; DMAR errors).
 */
export function compileScenario(parsed: ParsedScenario): CompiledScenario {
  return new Compiler(parsed).compile();
}

/**
 * Compile `parsed`'s platform once and return a compiler of single steps against it, each
 * compiled as {@link compileScenario} would compile it at `index` after the steps compiled
 * before it by the same compiler (steps that set up driver state — enable-ir's EIME, the
 * invalidation queues, map-dma's DIDs — change how later ones compile, as in a scenario).
 * Used by `remapsim check` (src/checker/check.ts) for generated adversary steps, so a run does
 * not rebuild the platform description (the DMAR, the fabric) for its steps.
 * @throws InputError as compileScenario, for the platform (at once) or for a step (at its call).
 */
export function stepCompiler(parsed: ParsedScenario): (step: S.Step, index: number) => CompiledStep {
  return new Compiler(parsed).platformThenSteps();
}
