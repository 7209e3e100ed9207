/**
 * The adversary of `remapsim check` (issue #5): the threat model read from a scenario's
 * `check:` section, the pools its random actions draw from, and the fast-check
 * arbitraries of those actions as *scenario steps* (the YAML step format), so that a
 * counterexample is a scenario file as it stands.
 *
 * How the generators are built to find bugs:
 *
 * - every field of an action is a number that is *resolved* against the pools: a small
 *   value (below {@link HOT}) is a position in a pool of "hot" values taken from the
 *   scenario — the IRTE handles it programmed, the requester IDs of its devices, the
 *   vectors it granted, the APIC IDs of its CPUs and vCPUs, the IOVAs it mapped and
 *   the addresses of the IOMMU's own structures — and a large one (about one draw in
 *   sixteen) is a raw full-range value. Shrinking a field goes toward 0, the first
 *   pool entry, so a shrunk step names the first handle, device or vector;
 * - each run draws its own action weights (swarm testing: some runs are all DMA, some
 *   never signal), so rare combinations are reached without tuning;
 * - with `check.interleave` each step also gets a place among the gaps between the
 *   scenario's own steps (src/checker/interleave.ts): the end about half the time, else
 *   the run's focus gap or any gap, so that a race needing several steps in one window
 *   gets them together; shrinking moves places toward the end.
 */
import fc from 'fast-check';
import type { CompiledScenario } from '../scenario/compile.ts';
import type { RunResult } from '../scenario/run.ts';
import type * as S from '../scenario/types.ts';
import type { PlatformState } from '../platform/state.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import { formatBdf } from '../pci/bdf.ts';
import { decodeIrte, IRTE_BYTES } from '../vtd/irte.ts';
import { decodeIrta, irtEntries, GLOBAL_STATUS_BITS } from '../vtd/registers.ts';
import { composeRemappableMsi } from '../vtd/remappable-msi.ts';
import { DELIVERY_MODE_NAMES } from '../x86/msi.ts';
import { x2apicLogicalId, xapicClusterLogicalId } from '../x86/apic.ts';
import { policyNamed } from '../policy/index.ts';
import { presentedRequesterIds } from '../fabric/aliases.ts';
import { MSIX_ENTRY_BYTES, pbaBytes, regionOf, type MsixLayout } from '../vmm/virtual-msix.ts';
import { vmmDesignNamed } from '../vmm/index.ts';
import type { HypercallOp } from '../platform/actions.ts';

/** Every action kind an adversary (or the scheduler) can take, in the order a shrunk kind choice prefers. */
export const ACTION_KINDS = ['msi', 'dma', 'signal', 'program-msix', 'program-msi', 'msix-control', 'guest-msi', 'halt', 'guest-ack', 'guest-eoi', 'schedule', 'preempt', 'guest-mmio', 'guest-config', 'device-model', 'hypercall', 'ims-signal'] as const;
/** One of {@link ACTION_KINDS}. */
export type ActionKind = (typeof ACTION_KINDS)[number];

/** Properties `remapsim check` judges by default (and P7 with a VMM, {@link VMM_PROPERTY_NAMES}). */
export const PROPERTY_NAMES: readonly S.PropertyName[] = ['P1', 'P2', 'P3', 'P4', 'P5', 'P6'];
/** The default properties of a platform with a VMM (`platform.vmm`): P7 guest intent too. */
export const VMM_PROPERTY_NAMES: readonly S.PropertyName[] = [...PROPERTY_NAMES, 'P7'];

/** The budget of a check, every field filled in. */
export interface Budget {
  readonly runs: number;
  readonly steps: number;
  readonly seconds: number;
  readonly seed: number;
}

/** Defaults of the `check.budget` fields. */
export const DEFAULT_BUDGET: Budget = { runs: 1000, steps: 50, seconds: 60, seed: 1 };

/** The threat model with defaults applied (see docs/checking.md). */
export interface ThreatModel {
  /** Malicious guest domains, by name. */
  readonly guests: readonly string[];
  /** Action kinds the adversary (and scheduler) may take; only those the platform supports. */
  readonly kinds: readonly ActionKind[];
  /**
   * `own`: a device's requests carry the requester ID the fabric gives them; `alias`: any
   * the topology gives the device (its own, phantom functions, DMA-alias quirks); `any`:
   * any requester ID at all (ACS Source Validation at a port may still drop it).
   */
  readonly requesterIds: 'own' | 'alias' | 'any';
  /**
   * The malicious guests' device models are adversaries (`check.adversary.deviceModel`):
   * `device-model` steps, and P7 does not judge those guests' devices.
   */
  readonly deviceModel: boolean;
  readonly properties: readonly S.PropertyName[];
  readonly budget: Budget;
}

/** What the adversary's steps choose from, read from the scenario and the state its own steps leave. */
export interface AttackPools {
  /**
   * Devices owned by malicious guests (canonical BDF keys), with their MSI-X table size and MSI
   * vector count; `vmm`: the VMM manages its MSI-X (the guest reaches it only through the
   * VMM's traps, `guest-mmio`/`guest-config`, never by `program-*` or `msix-control`).
   */
  readonly devices: readonly { readonly bdf: string; readonly msix: number; readonly msi: number; readonly vmm: boolean }[];
  /** The malicious guests' functions the VMM manages (src/vmm): where `guest-mmio`, `guest-config` and `device-model` steps go, with the layout of their MSI-X. */
  readonly vmmDevices: readonly { readonly bdf: string; readonly layout: MsixLayout }[];
  /**
   * The hypercall ops the VMM design answers (src/vmm/design.ts `hypercalls`); empty: the
   * design has none, or there is no VMM.
   */
  readonly hypercalls: readonly HypercallOp['op'][];
  /**
   * Every function the VMM manages, with its owner's name and MSI-X table size (entries): a
   * malicious guest's hypercall may name any of them — whether the design checks ownership
   * is what ims-hypercall-broken-no-owner-check gets wrong.
   */
  readonly hypercallDevices: readonly { readonly bdf: string; readonly vm: string; readonly entries: number }[];
  /**
   * Every MSI-X function of the platform: a malicious guest's interrupt request
   * (`guest-msi`, a trapped MSI-X write or its hypercall equivalent) may name any of
   * them — whether the hypervisor checks ownership is what XSA-237 was about — except its
   * own functions that the VMM manages, whose MSI-X it programs through the VMM (`guest-mmio`).
   */
  readonly requestDevices: readonly { readonly bdf: string; readonly msix: number }[];
  /**
   * Functions that may `signal`: the malicious guests' devices first, then every other
   * function with MSI or MSI-X — a benign device raising its own programmed interrupt is
   * the workload interleaved with the attack (it is how a hijacked configuration shows).
   */
  readonly signalDevices: readonly { readonly bdf: string; readonly msix: number; readonly msi: number }[];
  /** The malicious guests' functions with an IMS store (devices[].ims), with its slot count: where `ims-signal` raises a slot. */
  readonly imsDevices: readonly { readonly bdf: string; readonly slots: number }[];
  /** Names of the malicious guests (who makes a `guest-msi` request). */
  readonly guests: readonly string[];
  /** vCPUs of the malicious guests (halt, ack, EOI). */
  readonly ownVcpus: readonly S.VcpuRef[];
  /** Every guest vCPU (scheduler decisions). */
  readonly vcpus: readonly S.VcpuRef[];
  readonly pcpus: number;
  /** IRTE indices the scenario wrote (hot handles). */
  readonly handles: readonly number[];
  /** An AMD-Vi platform: a remapped message is address 0xFEE00000 with the IRTE index in data[10:0] (src/policy/amd.ts). */
  readonly amdvi?: boolean;
  /** Requester IDs of every function and bridge in the scenario (as BDF strings). */
  readonly rids: readonly string[];
  /** Per malicious device: the requester IDs the topology lets it present (src/fabric/aliases.ts), its own first. */
  readonly presented: Readonly<Record<string, readonly string[]>>;
  /** Granted vectors, IRTE vectors, the policy's notification vectors. */
  readonly vectors: readonly number[];
  /** APIC IDs of the pCPUs and the guests' vCPUs. */
  readonly apicIds: readonly number[];
  /** guest-msi destinations: the guest APIC IDs of vCPUs (physical), then logical destinations naming several vCPUs of one domain. */
  readonly guestDestinations: readonly GuestDestination[];
  /** Mapped IOVAs (and GPAs), then the IOMMU structures' addresses (IRTs, PIDs), the fabric's BARs, the table arena, then the interrupt window. */
  readonly dmaAddresses: readonly number[];
  /** PASIDs the scenario's map-dma steps name: a device's DMA may carry one of them (or none). Empty: DMA without PASID only. */
  readonly dmaPasids: readonly number[];
}

/**
 * The threat model of a scenario: its `check:` section with defaults — every guest is
 * malicious; software may do every kind the platform supports (guest-msi, halt, ack,
 * EOI, schedule and preempt only with vCPUs; program-msi/-msix only for devices with
 * that capability); devices may send any MSI and signal, and DMA when the scenario
 * sets up DMA remapping (a platform without it gives no DMA isolation to check);
 * hypercalls only with a VMM design that answers some (src/vmm/design.ts `hypercalls`);
 * requester IDs are the devices' own; all of P1–P5; budget {@link DEFAULT_BUDGET}.
 * `overrides` (command-line options) replace budget fields.
 * @throws Error when the adversary has no action it can take (no malicious guest device nor vCPU).
 */
export function threatModel(compiled: CompiledScenario, data: S.Scenario, pools: AttackPools, overrides: Partial<Budget> = {}): ThreatModel {
  const check = data.check ?? {};
  const adversary = check.adversary ?? {};
  const guests = adversary.guests ?? compiled.platform.domains.filter((d) => d.kind === 'guest').map((d) => d.name);
  const hasDma = (data.steps ?? []).some((s) => s['enable-dma'] !== undefined || s['map-dma'] !== undefined);
  const hasVcpus = pools.vcpus.length > 0;
  const software: readonly S.AdversarySoftware[] = adversary.software ?? ['program-msix', 'program-msi', 'msix-control', 'guest-msi', 'guest-mmio', 'guest-config', 'hypercall', 'halt', 'guest-ack', 'guest-eoi', 'schedule', 'preempt'];
  const devices: readonly S.AdversaryDevice[] = adversary.devices ?? (hasDma ? ['msi', 'signal', 'dma'] : ['msi', 'signal']);
  const anyDevice = pools.devices.length > 0;
  const supported = (k: ActionKind): boolean => {
    switch (k) {
      case 'msi':
      case 'dma':
        return anyDevice;
      case 'signal':
        return pools.signalDevices.length > 0;
      case 'ims-signal':
        return pools.imsDevices.length > 0;
      case 'program-msix':
      case 'msix-control':
        return pools.devices.some((d) => d.msix > 0 && !d.vmm);
      case 'program-msi':
        return pools.devices.some((d) => d.msi > 0 && !d.vmm);
      case 'guest-mmio':
      case 'guest-config':
      case 'device-model':
        return pools.vmmDevices.length > 0;
      case 'guest-msi':
        return hasVcpus && pools.requestDevices.length > 0 && pools.guests.length > 0;
      case 'hypercall':
        return hasVcpus && pools.hypercalls.length > 0 && pools.hypercallDevices.length > 0 && pools.guests.length > 0;
      case 'halt':
      case 'guest-ack':
      case 'guest-eoi':
        return pools.ownVcpus.length > 0;
      case 'schedule':
      case 'preempt':
        return hasVcpus;
    }
  };
  const deviceModel = adversary.deviceModel ?? false;
  const wanted = new Set<string>([...software, ...devices, ...(deviceModel ? ['device-model'] : [])]);
  const kinds = ACTION_KINDS.filter((k) => wanted.has(k) && supported(k));
  if (kinds.length === 0) throw new Error(`the adversary (${guests.join(', ') || 'no guest'}) has no action it can take on this platform: no device or vCPU of a malicious guest`);
  const b = check.budget ?? {};
  const budget: Budget = {
    runs: overrides.runs ?? b.runs ?? DEFAULT_BUDGET.runs,
    steps: overrides.steps ?? b.steps ?? DEFAULT_BUDGET.steps,
    seconds: overrides.seconds ?? b.seconds ?? DEFAULT_BUDGET.seconds,
    seed: overrides.seed ?? b.seed ?? DEFAULT_BUDGET.seed,
  };
  const properties = check.properties ?? (compiled.platform.vmm === undefined ? PROPERTY_NAMES : VMM_PROPERTY_NAMES);
  return { guests, kinds, requesterIds: adversary.requesterIds ?? 'own', deviceModel, properties, budget };
}

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/**
 * The pools of a scenario, read from its compiled form and the run of its own steps
 * (the state the adversary starts from). `guests` are the malicious guests' names
 * (undefined: every guest).
 */
export function attackPools(compiled: CompiledScenario, base: RunResult, guests: readonly string[] | undefined, states?: readonly PlatformState[]): AttackPools {
  const state: PlatformState = base.final;
  const p = compiled.platform;
  const bad = new Set(guests ?? p.domains.filter((d) => d.kind === 'guest').map((d) => d.name));
  const badIds = new Set(state.domains.filter((d) => bad.has(d.name)).map((d) => d.id));
  const devices = Object.values(state.devices)
    .filter((fn) => badIds.has(state.intent.owners[fn.key] ?? -1))
    .map((fn) => ({ bdf: fn.key, msix: fn.msix?.table.length ?? 0, msi: fn.msi === undefined ? 0 : 1 << fn.msi.mmc, vmm: state.vmm?.devices[fn.key] !== undefined }));
  const vmmDevices = devices.flatMap((d) => {
    const v = state.vmm?.devices[d.bdf];
    return v === undefined ? [] : [{ bdf: d.bdf, layout: v.guest.layout }];
  });
  // Own devices first, so that shrinking (towards index 0) prefers a request for the guest's own device.
  // A function the VMM manages is programmed through the VMM's traps (guest-mmio), not by a
  // policy-level request for the guest's own device, which would bypass the guest's view.
  const requestDevices = [
    ...devices.filter((d) => d.msix > 0 && !d.vmm),
    ...Object.values(state.devices)
      .filter((fn) => (fn.msix?.table.length ?? 0) > 0 && !badIds.has(state.intent.owners[fn.key] ?? -1))
      .map((fn) => ({ bdf: fn.key, msix: fn.msix!.table.length })),
  ].map((d) => ({ bdf: d.bdf, msix: d.msix }));
  const signalDevices = [
    ...devices.map((d) => ({ bdf: d.bdf, msix: d.msix, msi: d.msi })),
    ...Object.values(state.devices)
      .filter((fn) => !badIds.has(state.intent.owners[fn.key] ?? -1) && (fn.msix !== undefined || fn.msi !== undefined))
      .map((fn) => ({ bdf: fn.key, msix: fn.msix?.table.length ?? 0, msi: fn.msi === undefined ? 0 : 1 << fn.msi.mmc })),
  ];
  const imsDevices = Object.entries(state.vmm?.devices ?? {})
    .filter(([, d]) => d.ims !== undefined && badIds.has(d.domain))
    .map(([bdf, d]) => ({ bdf, slots: d.ims!.layout.slots }))
    .sort((a, b) => (a.bdf < b.bdf ? -1 : a.bdf > b.bdf ? 1 : 0));
  const vcpus = vcpuList(state.vcpus).map((v) => ({ vm: state.domains[v.domain]!.name, vcpu: v.index }));
  const ownVcpus = vcpus.filter((v) => bad.has(v.vm));
  const handles: number[] = [];
  const vectors: number[] = [];
  const hypercalls = state.vmm === undefined ? [] : (vmmDesignNamed(state.vmm.design).hypercalls ?? []);
  // Every VMM-managed function, the malicious guests' first (a shrunk hypercall names their own).
  const hypercallDevices = Object.entries(state.vmm?.devices ?? {})
    .map(([bdf, d]) => ({ bdf, vm: state.domains[d.domain]?.name ?? '', entries: d.guest.layout.entries, own: badIds.has(d.domain) }))
    .sort((x, y) => Number(y.own) - Number(x.own))
    .map(({ bdf, vm, entries }) => ({ bdf, vm, entries }));
  // Every store into an IRT teaches a handle: the `irte` sugar (`IRTE N of dmarK`) and a
  // plain `write-memory` into the table (half an IRTE, a torn update) alike. The entry's
  // vector is read from memory as that step left it.
  const tables = unique(state.iommus.flatMap((u) => [u.regs.irta, u.regs.irtaLatched]))
    .map((raw) => decodeIrta(raw))
    .filter((t) => t.base !== 0n)
    .map((t) => ({ base: t.base, end: t.base + BigInt(irtEntries(t.size) * IRTE_BYTES) }));
  const vectorOf = (raw: bigint): number | undefined => {
    const d = decodeIrte(raw).irte;
    return d.present ? (d.mode === 'remapped' ? d.vector : d.virtualVector) : undefined;
  };
  base.steps.forEach((s, i) => {
    for (const e of s.events) {
      if (e.kind !== 'memory-write') continue;
      // AMD-Vi IRTEs (the `amd-irte` step and the policies, src/policy/amd.ts) teach their index too.
      const amd = e.what === undefined ? null : /^AMD-Vi IRTE (\d+) of/.exec(e.what);
      if (amd !== null) {
        handles.push(Number(amd[1]));
        continue;
      }
      const m = e.what === undefined ? null : /^IRTE (\d+) of/.exec(e.what);
      if (m !== null && e.bytes === IRTE_BYTES) {
        handles.push(Number(m[1]));
        const irte = decodeIrte(e.value).irte;
        vectors.push(irte.mode === 'remapped' ? irte.vector : irte.virtualVector);
        continue;
      }
      if (e.what !== undefined) continue;
      for (const t of tables) {
        if (e.address + BigInt(e.bytes) <= t.base || e.address >= t.end) continue;
        const first = Number((e.address - t.base) / BigInt(IRTE_BYTES));
        const last = Number((e.address + BigInt(e.bytes) - 1n - t.base) / BigInt(IRTE_BYTES));
        for (let h = Math.max(0, first); h <= last && t.base + BigInt(h * IRTE_BYTES) < t.end; h++) {
          handles.push(h);
          const memory = (states?.[i] ?? state).memory;
          const v = vectorOf(memory.readLE(t.base + BigInt(h * IRTE_BYTES), IRTE_BYTES));
          if (v !== undefined) vectors.push(v);
        }
      }
    }
  });
  // A hypercall's IRTE (get-msi-pair) is the next the hypervisor allocates, in order: those handles are guessable.
  if (hypercalls.length > 0) for (const next of Object.values(state.hypervisor.nextIrte)) for (let k = 0; k < 4; k++) handles.push(next + k);
  if (hypercalls.length > 0 && Object.keys(state.hypervisor.nextIrte).length === 0) handles.push(0, 1, 2, 3);
  for (const g of state.intent.grants) vectors.push(g.vector);
  for (const g of p.grants) vectors.push(g.vector);
  for (const s of compiled.steps) for (const a of s.actions) if (a.kind === 'guest-msi') vectors.push(a.vector);
  const policy = policyNamed(state.hypervisor.policy);
  if (vcpus.length > 0) vectors.push(policy.postedVector, policy.wakeupVector);
  vectors.push(0x20);
  const fabricRids = Object.values(state.fabric.functions).flatMap((f) => (f.bridge === undefined ? [f.rid] : [f.rid, f.bridge.secondary << 8]));
  const rids = unique([...Object.values(state.devices).flatMap((fn) => [fn.rid, fn.busRid, ...fn.upstream]), ...fabricRids]).map((rid) => formatBdf(rid));
  const presented = Object.fromEntries(devices.map((d) => [d.bdf, presentedRequesterIds(state.fabric, d.bdf).map((rid) => formatBdf(rid))]));
  const list = vcpuList(state.vcpus);
  const apicIds = unique([...state.cpus.map((c) => c.apicId), ...list.map((v) => v.apicId)]);
  const guestDestinations: GuestDestination[] = [
    ...unique(list.map((v) => v.apicId)).map((destination) => ({ destination, logical: false })),
    ...unique(multicastDestinations(state)).map((destination) => ({ destination, logical: true })),
  ];
  const addresses: bigint[] = [];
  const pasids: number[] = [];
  for (const s of compiled.steps) {
    for (const a of s.actions) {
      if (a.kind === 'map-dma') for (const m of a.mappings) addresses.push(m.iova, ...(m.gpa === undefined ? [] : [m.gpa]));
      if (a.kind === 'unmap-dma') addresses.push(a.iova);
      if (a.kind === 'map-dma' && a.pasid !== undefined) pasids.push(a.pasid);
    }
  }
  for (const u of state.iommus) if ((u.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRTPS)) !== 0) addresses.push(decodeIrta(u.regs.irtaLatched).base);
  for (const v of list) addresses.push(v.pda);
  // Peers' BARs: a request there may be routed peer to peer, never seeing the IOMMU.
  for (const f of Object.values(state.fabric.functions)) for (const bar of f.bars) addresses.push(bar.base);
  addresses.push(state.hypervisor.tableArena.start, 0xfee0_0000n);
  const dmaAddresses = unique(addresses.filter((a) => a <= BigInt(Number.MAX_SAFE_INTEGER)).map(Number));
  return { ...(state.amdvi === undefined ? {} : { amdvi: true }), devices, vmmDevices, hypercalls, hypercallDevices, requestDevices, signalDevices, imsDevices, guests: [...bad], ownVcpus, vcpus, pcpus: state.cpus.length, handles: unique(handles), rids, presented, vectors: unique(vectors), apicIds, guestDestinations, dmaAddresses, dmaPasids: unique(pasids) };
}

/** A guest-msi destination: a guest APIC ID (physical) or a logical destination. */
export interface GuestDestination {
  readonly destination: number;
  readonly logical: boolean;
}

/**
 * Logical destinations that name several vCPUs of one domain at once: per domain and
 * logical cluster, the union of its vCPUs' logical IDs, in the platform's APIC mode
 * (src/x86/apic.ts; a guest's virtual APIC follows the platform's mode, docs/fidelity.md).
 * These are the requests a posted IRTE cannot carry (src/policy/guest-msi.ts).
 */
export function multicastDestinations(state: PlatformState): number[] {
  const mode = state.interrupts.apicMode;
  const cluster = state.interrupts.xapicLogicalModel === 'cluster';
  const unions = new Map<string, { mask: number; members: number }>();
  for (const v of vcpuList(state.vcpus)) {
    const id = mode === 'x2apic' ? x2apicLogicalId(v.apicId) : cluster ? xapicClusterLogicalId(v.apicId) : v.apicId < 8 ? 1 << v.apicId : undefined;
    if (id === undefined) continue;
    const key = `${v.domain}:${mode === 'x2apic' ? id >>> 16 : cluster ? id >> 4 : 0}`;
    const u = unions.get(key) ?? { mask: 0, members: 0 };
    unions.set(key, { mask: (u.mask | id) >>> 0, members: u.members + 1 });
  }
  return [...unions.values()].filter((u) => u.members > 1).map((u) => u.mask);
}

/** Field values below HOT are positions in a pool; values from HOT up are raw. */
export const HOT = 32;

/** One field of a choice: usually a small pool position, one time in 16 a raw 32-bit value. */
const field: fc.Arbitrary<number> = fc.oneof({ arbitrary: fc.nat({ max: HOT - 1 }), weight: 15 }, { arbitrary: fc.integer({ min: HOT, max: 0xffff_ffff }), weight: 1 });

/** An action before it is resolved: a kind roll and six fields, all numbers (see the module comment). */
export interface Choice {
  readonly kind: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
  readonly e: number;
  readonly f: number;
}

/** A run before resolution: the run's action weights (swarm testing) and its choices. */
export interface RunChoice {
  /** One weight (0..4) per kind of the threat model; all 0 means all equal. */
  readonly weights: readonly number[];
  readonly choices: readonly Choice[];
}

/** A generated step: a scenario step object (specs/scenario.schema.json `step`). */
export type AttackStep = Readonly<Record<string, unknown>>;

/** The scenario-step key of `step` (its action). */
export function stepKind(step: AttackStep): string {
  return Object.keys(step).find((k) => k !== 'note' && k !== 'expect') ?? '?';
}

/** The destination fields of a generated guest-msi step (physical is the schema's default, left out). */
function guestDestinationStep(d: GuestDestination): { destination: number; destinationMode?: 'logical' } {
  return d.logical ? { destination: d.destination, destinationMode: 'logical' } : { destination: d.destination };
}

/** `v` as a pool position when small, else `raw(v)`. */
function pick<T>(pool: readonly T[], v: number, raw: (v: number) => T): T {
  return v < HOT && pool.length > 0 ? pool[v % pool.length]! : raw(v);
}

const hex = (v: number): string => `0x${v.toString(16)}`;

/** A 64-bit step value as the hex string the schema accepts (`"0xfee00018"`), readable in a counterexample. */
const u64 = (v: number): string => hex(v);

/** The kind chosen by roll `roll` among `kinds` under `weights`. */
function kindOf(kinds: readonly ActionKind[], weights: readonly number[], roll: number): ActionKind {
  const w = weights.some((x) => x > 0) ? weights : kinds.map(() => 1);
  const total = w.reduce((s, x) => s + x, 0);
  let r = roll % total;
  for (let i = 0; i < kinds.length; i++) {
    r -= w[i] ?? 0;
    if (r < 0) return kinds[i]!;
  }
  return kinds[kinds.length - 1]!;
}

/** An MSI address/data pair chosen by fields x (format), y (handle or destination), z (data or vector), w (delivery mode / reserved bits). */
function message(pools: AttackPools, x: number, y: number, z: number, w: number): { address: number; data: number } {
  const format = x < HOT ? x % 8 : 7;
  if (format < 5 && pools.amdvi === true) {
    // AMD-Vi: the index is data[10:0], the address is left alone (z's high bits may set others).
    const index = pick(pools.handles, y, (v) => v & 0x7ff);
    return { address: 0xfee0_0000, data: (z < HOT ? index : (index | (z & ~0x7ff))) >>> 0 };
  }
  if (format < 5) {
    const handle = pick(pools.handles, y, (v) => v & 0xffff);
    const shv = format !== 4;
    const m = composeRemappableMsi({ handle, shv });
    // SHV: the data is the sub-handle (usually 0); a raw z sets reserved bits 31:16 too.
    const data = shv ? (z < HOT ? 0 : z >>> 0) : 0;
    return { address: Number(m.address), data: data >>> 0 };
  }
  if (format < 7) {
    const dest = pick(pools.apicIds, y, (v) => v) & 0xff;
    const vector = pick(pools.vectors, z, (v) => v) & 0xff;
    const mode = w < HOT ? 0 : (w >>> 8) & 7;
    return { address: 0xfee0_0000 + dest * 0x1000 + (format === 6 ? 4 : 0), data: vector | (mode << 8) };
  }
  return { address: 0xfee0_0000 + (y & 0xffffc), data: z >>> 0 };
}

/**
 * The requester ID `device`'s write carries: its own (field 0, or always with `own`);
 * with `alias` one the topology lets it present; with `any` another from the pool or a
 * raw one.
 */
function rid(pools: AttackPools, threat: ThreatModel, f: number, device: string): { rid?: string } {
  if (threat.requesterIds === 'own' || f === 0) return {};
  if (threat.requesterIds === 'alias') {
    const own = pools.presented[device] ?? [];
    return own.length < 2 ? {} : { rid: own[f % own.length]! };
  }
  return { rid: f < HOT ? pools.rids[(f - 1) % pools.rids.length]! : formatBdf(f & 0xffff) };
}

/**
 * The scenario step `c` names under `weights`. Every name it uses exists in the
 * scenario, so the step compiles; an action the platform refuses (an entry past the
 * table) is still a valid step and shows as `rejected` in the trace.
 */
export function resolveChoice(pools: AttackPools, threat: ThreatModel, weights: readonly number[], c: Choice): AttackStep {
  const kind = kindOf(threat.kinds, weights, c.kind);
  const dev = (filter: (d: AttackPools['devices'][number]) => boolean) => {
    const ds = pools.devices.filter(filter);
    return ds[c.a % ds.length]!;
  };
  switch (kind) {
    case 'msi': {
      const d = dev(() => true);
      const m = message(pools, c.b, c.c, c.d, c.e);
      return { msi: { device: d.bdf, ...rid(pools, threat, c.f, d.bdf), address: u64(m.address), data: m.data } };
    }
    case 'dma': {
      const d = dev(() => true);
      const sizes = [4, 8, 16, 1];
      const size = sizes[c.d % sizes.length]!;
      let address = pick(pools.dmaAddresses, c.b, (v) => v * 0x1000) + (c.c < HOT ? (c.c % 16) * 16 : c.c & 0xfff);
      if ((address % 0x1000) + size > 0x1000) address = address - (address % 0x1000) + 0x1000 - size;
      const write = c.e % 2 === 0;
      const value = size >= 4 ? c.e >>> 0 : c.e & 0xff;
      // With PASIDs mapped, the request carries none (k = 0) or one of them (the size field's high part picks it).
      const k = pools.dmaPasids.length === 0 ? 0 : Math.floor(c.d / sizes.length) % (pools.dmaPasids.length + 1);
      const pasid = k === 0 ? {} : { pasid: pools.dmaPasids[k - 1]! };
      return { dma: { device: d.bdf, ...rid(pools, threat, c.f, d.bdf), ...pasid, address: u64(address), size, write, ...(write ? { value: hex(value) } : {}) } };
    }
    case 'ims-signal': {
      const d = pools.imsDevices[c.a % pools.imsDevices.length]!;
      return { 'ims-signal': { device: d.bdf, slot: c.b % d.slots } };
    }
    case 'signal': {
      const d = pools.signalDevices[c.a % pools.signalDevices.length]!;
      const n = Math.max(d.msix, d.msi, 1);
      return { signal: { device: d.bdf, vector: c.b < HOT ? c.b % n : c.b % 2048 } };
    }
    case 'program-msix': {
      const d = dev((x) => x.msix > 0 && !x.vmm);
      const m = message(pools, c.c, c.d, c.e, c.f);
      return { 'program-msix': { device: d.bdf, entry: c.b % d.msix, address: u64(m.address), data: m.data, masked: c.f % 8 === 7 } };
    }
    case 'program-msi': {
      const d = dev((x) => x.msi > 0 && !x.vmm);
      const m = message(pools, c.c, c.d, c.e, c.f);
      return { 'program-msi': { device: d.bdf, enable: c.b % 4 !== 3, address: u64(m.address), data: m.data & 0xffff } };
    }
    case 'msix-control': {
      const d = dev((x) => x.msix > 0 && !x.vmm);
      return { 'msix-control': { device: d.bdf, enable: c.b % 4 !== 3, functionMask: c.c % 4 === 3 } };
    }
    case 'guest-msi': {
      const d = pools.requestDevices[c.a % pools.requestDevices.length]!;
      const mode = c.e < HOT ? undefined : DELIVERY_MODE_NAMES[(c.e >>> 8) & 7];
      return {
        'guest-msi': {
          device: d.bdf,
          vm: pools.guests[c.f % pools.guests.length]!,
          entry: c.b % d.msix,
          ...guestDestinationStep(pick(pools.guestDestinations, c.c, (v) => ({ destination: v >>> 0, logical: false }))),
          vector: pick(pools.vectors, c.d, (v) => v) & 0xff,
          ...(mode === undefined ? {} : { deliveryMode: mode }),
        },
      };
    }
    case 'halt':
    case 'guest-ack':
    case 'guest-eoi': {
      const v = pools.ownVcpus[c.a % pools.ownVcpus.length]!;
      return { [kind]: { vm: v.vm, vcpu: v.vcpu } };
    }
    case 'schedule': {
      const v = pools.vcpus[c.a % pools.vcpus.length]!;
      return { schedule: { vm: v.vm, vcpu: v.vcpu, pcpu: c.b % pools.pcpus } };
    }
    case 'preempt': {
      const v = pools.vcpus[c.a % pools.vcpus.length]!;
      return { preempt: { vm: v.vm, vcpu: v.vcpu } };
    }
    case 'guest-mmio':
      return { 'guest-mmio': guestMmio(pools, c) };
    case 'guest-config':
      return { 'guest-config': guestConfig(pools, c) };
    case 'device-model':
      return { 'device-model': deviceModelStep(pools, c) };
    case 'hypercall':
      return { hypercall: hypercallStep(pools, c) };
  }
}

/**
 * A malicious guest's hypercall (the VMM design's, src/vmm/design.ts `hypercalls`):
 * `get-msi-pair {device, slot, vcpu, vector}` or `set-interrupt {device, entry, vcpu, vector}`.
 * Fields: f the caller (a malicious guest), a the function (the caller's first, then every
 * other function the VMM manages, other guests' too), b the op, c the vCPU (the caller's
 * first, then every other guest vCPU, named with `vcpuOf`), d the vector (the hot vectors,
 * raw: any byte), e the slot or entry (below the function's table size, raw: any slot up to
 * 65535, any entry up to 2047). Shrinks toward the caller's own function, entry 0, its first
 * vCPU and the first hot vector: a well-formed call.
 */
function hypercallStep(pools: AttackPools, c: Choice): Record<string, unknown> {
  const vm = pools.guests[c.f % pools.guests.length]!;
  const devices = [...pools.hypercallDevices.filter((d) => d.vm === vm), ...pools.hypercallDevices.filter((d) => d.vm !== vm)];
  const d = devices[c.a % devices.length]!;
  const op = pools.hypercalls[c.b % pools.hypercalls.length]!;
  const vcpus = [...pools.vcpus.filter((v) => v.vm === vm), ...pools.vcpus.filter((v) => v.vm !== vm)];
  const v = vcpus[c.c % vcpus.length]!;
  const vector = pick(pools.vectors, c.d, (x) => x) & 0xff;
  const target = { vcpu: v.vcpu, ...(v.vm === vm ? {} : { vcpuOf: v.vm }) };
  if (op === 'get-msi-pair') return { vm, op, device: d.bdf, slot: c.e < HOT ? c.e % Math.max(1, d.entries) : c.e % 0x10000, ...target, vector };
  return { vm, op, device: d.bdf, entry: c.e < HOT ? c.e % Math.max(1, d.entries) : c.e % 2048, ...target, vector };
}

/**
 * The compatibility-format address a guest writes for destination `d` (SDM Vol. 3 §10.11.1:
 * 0xFEE in 31:20, destination ID 19:12, DM bit 2; a destination above 0xff carries its bits
 * 14:8 in the extended destination ID, bits 11:5, Linux `KVM_FEATURE_MSI_EXT_DEST_ID`).
 */
function guestAddress(d: GuestDestination): number {
  return (0xfee0_0000 | ((d.destination & 0xff) << 12) | (((d.destination >>> 8) & 0x7f) << 5) | (d.logical ? 4 : 0)) >>> 0;
}

/**
 * A guest access to the virtual MSI-X of one of its functions (src/vmm/virtual-msix.ts).
 * Fields: a the function, b the access (mostly aligned QWORD/DWORD table writes: the entry's
 * address, its data and vector control, one dword; then reads of the table and PBA, and
 * accesses the spec leaves undefined: narrow, straddling, elsewhere in the page; raw: any
 * offset and size), c the destination (the guest's vCPUs' APIC IDs, then logical unions), d
 * the vector, e the entry, f flags (bit 0 masked, bits 2:1 the dword, bit 3 lowest priority).
 * Shrinks toward an unmasked fixed message to the first vCPU in entry 0.
 */
function guestMmio(pools: AttackPools, c: Choice): Record<string, unknown> {
  const { bdf, layout: l } = pools.vmmDevices[c.a % pools.vmmDevices.length]!;
  const op = c.b < HOT ? c.b % 8 : 7;
  const k = c.e < HOT ? c.e % l.entries : c.e % 2048;
  const entry = l.tableOffset + k * MSIX_ENTRY_BYTES;
  const address = guestAddress(pick(pools.guestDestinations, c.c, (v) => ({ destination: v & 0xff, logical: false })));
  const data = ((pick(pools.vectors, c.d, (v) => v) & 0xff) | ((c.f >>> 3) % 2 === 1 ? 1 << 8 : 0)) >>> 0;
  const control = c.f % 2;
  const write = (offset: number, size: number, value: bigint) => ({ device: bdf, bar: l.tableBar, offset: u64(offset), size, value: `0x${value.toString(16)}` });
  const dword = (field: number): number => [address, 0, data, control][field]!;
  switch (op) {
    case 0:
    case 1:
      // Message Address (low | upper) as one QWORD.
      return write(entry, 8, BigInt(address));
    case 2:
    case 3:
      // Message Data and Vector Control as one QWORD (how Linux's __pci_write_msi_msg writes it as two dwords, here at once).
      return write(entry + 8, 8, BigInt(data) | (BigInt(control) << 32n));
    case 4: {
      const field = (c.f >>> 1) % 4;
      return write(entry + 4 * field, 4, BigInt(dword(field)));
    }
    case 5: {
      // Reads: a table dword or QWORD, or the PBA.
      if ((c.f >>> 1) % 2 === 1) return { device: bdf, bar: l.pbaBar, offset: u64(l.pbaOffset + 8 * (Math.floor(k / 64) % Math.max(1, pbaBytes(l) / 8))), size: 8, read: true };
      return { device: bdf, bar: l.tableBar, offset: u64(entry + 4 * ((c.f >>> 2) % 4)), size: (c.f >>> 4) % 2 === 1 ? 8 : 4, read: true };
    }
    case 6: {
      // Accesses the spec leaves undefined: narrow (1 or 2 bytes), straddling the table's end, elsewhere in the page.
      const how = (c.f >>> 1) % 3;
      if (how === 0) {
        const size = (c.f >>> 3) % 2 === 1 ? 2 : 1;
        const at = entry + 12 - ((c.f >>> 4) % 4) * 4 + ((c.f >>> 6) % 2) * 2;
        return write(at, size, BigInt(control) & ((1n << BigInt(8 * size)) - 1n));
      }
      if (how === 1) return write(l.tableOffset + l.entries * MSIX_ENTRY_BYTES - 4, 8, BigInt(data) | (BigInt(control) << 32n));
      const page = Math.floor(l.tableOffset / 0x1000) * 0x1000;
      const free = [0xffc, 0x800, 0x100].map((o) => page + o).find((o) => regionOf(l, l.tableBar, o) === 'page' && regionOf(l, l.tableBar, o + 3) === 'page');
      return free === undefined ? write(entry + 2, 2, BigInt(address & 0xffff)) : write(free, 4, BigInt(address));
    }
    default: {
      const sizes = [4, 8, 1, 2];
      const size = sizes[c.d % sizes.length]!;
      const value = BigInt(c.c >>> 0) & ((1n << BigInt(8 * size)) - 1n);
      return write(c.f & 0x1ffff, size, value);
    }
  }
}

/**
 * A guest write of the MSI-X Message Control register (capability + 2; bit 15 Enable, bit 14
 * Function Mask). Fields: a the function, b the combination (enable, enable + mask, disable,
 * mask only), c the width (the 16-bit register, its high byte, the capability's first dword).
 */
function guestConfig(pools: AttackPools, c: Choice): Record<string, unknown> {
  const { bdf, layout: l } = pools.vmmDevices[c.a % pools.vmmDevices.length]!;
  const control = [0x8000, 0xc000, 0x0000, 0x4000][c.b % 4]! | ((l.entries - 1) & 0x7ff);
  const form = c.c % 4;
  if (form === 2) return { device: bdf, offset: l.capability + 3, size: 1, value: control >>> 8 };
  // The capability's header dword: ID 0x11 (MSI-X), next pointer 0, Message Control above.
  if (form === 3) return { device: bdf, offset: l.capability, size: 4, value: ((control << 16) | 0x11) >>> 0 };
  return { device: bdf, offset: l.capability + 2, size: 2, value: control };
}

/**
 * What a malicious device model does (`check.adversary.deviceModel`): bind an entry to any
 * message, unbind it, tell the hypervisor any mask state, write the MSI-X page of the device
 * (the table's dwords, the PBA, the rest of the page), inject a message from userspace. Its
 * messages name any pCPU or vCPU APIC ID (pools.apicIds) with any pool vector. Fields: a the
 * function, b the op, c the APIC ID, d the vector, e the entry, f flags (bit 0 masked /
 * mask handling, bits 3:1 where write-page writes).
 */
function deviceModelStep(pools: AttackPools, c: Choice): Record<string, unknown> {
  const { bdf, layout: l } = pools.vmmDevices[c.a % pools.vmmDevices.length]!;
  const entry = c.e < HOT ? c.e % l.entries : c.e % 2048;
  const apicId = pick(pools.apicIds, c.c, (v) => v) & 0xff;
  const vector = pick(pools.vectors, c.d, (v) => v) & 0xff;
  const address = (0xfee0_0000 | (apicId << 12)) >>> 0;
  const op = c.b < HOT ? c.b % 5 : 4;
  switch (op) {
    case 0:
      return { device: bdf, op: 'bind', entry, address: u64(address), data: vector, maskHandling: c.f % 2 === 1 };
    case 1:
      return { device: bdf, op: 'unbind', entry };
    case 2:
      return { device: bdf, op: 'mask', entry, masked: c.f % 2 === 1 };
    case 3: {
      const where = (c.f >>> 1) % 6;
      const at = l.tableOffset + entry * MSIX_ENTRY_BYTES;
      // The entry's address, data, vector control (unmasked), address + data as QWORDs, the PBA, then elsewhere in the page.
      if (where === 0) return { device: bdf, op: 'write-page', bar: l.tableBar, offset: u64(at), size: 4, value: u64(address) };
      if (where === 1) return { device: bdf, op: 'write-page', bar: l.tableBar, offset: u64(at + 8), size: 4, value: u64(vector) };
      if (where === 2) return { device: bdf, op: 'write-page', bar: l.tableBar, offset: u64(at + 12), size: 4, value: u64(c.f % 2) };
      if (where === 3) return { device: bdf, op: 'write-page', bar: l.tableBar, offset: u64(at), size: 8, value: u64(address) };
      if (where === 4) return { device: bdf, op: 'write-page', bar: l.pbaBar, offset: u64(l.pbaOffset), size: 8, value: u64(0xffff_ffff) };
      const page = Math.floor(l.tableOffset / 0x1000) * 0x1000;
      return { device: bdf, op: 'write-page', bar: l.tableBar, offset: u64(page + 0xffc), size: 4, value: u64(address) };
    }
    default:
      return { device: bdf, op: 'signal-msi', address: u64(address), data: vector };
  }
}

/** Arbitrary of one {@link Choice}. */
export const choiceArbitrary: fc.Arbitrary<Choice> = fc.record({ kind: fc.nat({ max: 0xffff }), a: field, b: field, c: field, d: field, e: field, f: field });

/**
 * Arbitrary of one run: swarm weights and 1..`threat.budget.steps` choices. Shrinks
 * by dropping choices, then each field toward the first pool entry.
 */
export function runChoiceArbitrary(threat: ThreatModel, maxSteps = threat.budget.steps): fc.Arbitrary<RunChoice> {
  return fc.record({
    weights: fc.array(fc.nat({ max: 4 }), { minLength: threat.kinds.length, maxLength: threat.kinds.length }),
    choices: fc.array(choiceArbitrary, { minLength: 1, maxLength: maxSteps, size: 'max' }),
  });
}

/** The scenario steps of run `r`. */
export function resolveRun(pools: AttackPools, threat: ThreatModel, r: RunChoice): AttackStep[] {
  return r.choices.map((c) => resolveChoice(pools, threat, r.weights, c));
}

/**
 * A run whose steps may come between the scenario's own: besides the choices, a focus gap
 * and one place per choice. Gaps are counted back from the end (0: after the scenario's
 * last step, 1: after the one before it, ...); a place is 0 for the end, 1 for the focus
 * gap, and 2 + d for gap d.
 */
export interface InterleavedRunChoice extends RunChoice {
  readonly focus: number;
  readonly places: readonly number[];
}

/**
 * Arbitrary of one interleaved run over `gaps` gaps: as {@link runChoiceArbitrary}, with a
 * focus gap per run and each choice placed at the end about half the time, in the focus
 * gap about three times in eight and in any gap otherwise. Most gaps get no step, and a
 * race that needs several adversary steps in one window (poison a cache between two
 * stores, then use it) gets them together. Shrinks by dropping choices, then the focus
 * and the places toward the end, then the fields.
 */
export function interleavedRunArbitrary(threat: ThreatModel, gaps: number, maxSteps = threat.budget.steps): fc.Arbitrary<InterleavedRunChoice> {
  const last = Math.max(0, gaps - 1);
  const place = fc.oneof(
    { withCrossShrink: true },
    { arbitrary: fc.constant(0), weight: 4 },
    { arbitrary: fc.constant(1), weight: 3 },
    { arbitrary: fc.integer({ min: 2, max: 2 + last }), weight: 1 },
  );
  return fc
    .record({
      weights: fc.array(fc.nat({ max: 4 }), { minLength: threat.kinds.length, maxLength: threat.kinds.length }),
      focus: fc.nat({ max: last }),
      placed: fc.array(fc.record({ place, choice: choiceArbitrary }), { minLength: 1, maxLength: maxSteps, size: 'max' }),
    })
    .map(({ weights, focus, placed }) => ({ weights, focus, choices: placed.map((x) => x.choice), places: placed.map((x) => x.place) }));
}

/**
 * Adversary steps with their places: `at[i]` is the index of the scenario's own step after
 * which `steps[i]` runs (the last index: after all of them). Non-decreasing in `at`; steps
 * in one gap keep their order.
 */
export interface PlacedRun {
  readonly steps: readonly AttackStep[];
  readonly at: readonly number[];
}

/**
 * The placed steps of run `r`. `positions` are the gaps the adversary may use, as indices
 * of the scenario's steps in ascending order; a choice's gap (the end when `r` is not
 * interleaved) counts back from the last of them (clamped to the first).
 */
export function resolvePlacedRun(pools: AttackPools, threat: ThreatModel, r: RunChoice | InterleavedRunChoice, positions: readonly number[]): PlacedRun {
  const steps = resolveRun(pools, threat, r);
  const last = positions.length - 1;
  const back = (i: number): number => {
    if (!('places' in r)) return 0;
    const p = r.places[i] ?? 0;
    return p === 0 ? 0 : p === 1 ? r.focus : p - 2;
  };
  const at = steps.map((_, i) => positions[Math.max(0, last - back(i))]!);
  const order = steps.map((_, i) => i).sort((a, b) => at[a]! - at[b]! || a - b);
  return { steps: order.map((i) => steps[i]!), at: order.map((i) => at[i]!) };
}
