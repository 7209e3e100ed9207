/**
 * One generator per action kind of src/platform/actions.ts (the table's type makes a new kind
 * a compile error until it has one), for the transitions fuzz target (issue 16 item 1: every
 * action kind, malformed ones included, on reachable states). A generator builds an action
 * aimed at the state it is given — its units, devices, vCPUs, AMD-Vi rings and tables, VMM
 * bookkeeping — with each field drawn from plausible values (`Pick.n`, `Pick.big`) that
 * include the malformed ones: wrong widths, NaN, fractions, negative numbers, bigints beyond
 * 64 and 128 bits, indices one past the end, unknown devices, units and register names. The
 * target then raw-mutates some of them further (fuzz/targets.ts `rawMutate`).
 */
import type { Action, ActionKind, ActionOf, DeviceModelOp, GuestAccess, HypercallOp, VmmCostKind } from '../src/platform/actions.ts';
import type { RegisterName } from '../src/platform/events.ts';
import type { PlatformState, Vcpu } from '../src/platform/state.ts';
import type { VectorBinding } from '../src/vmm/state.ts';
import type { VirtualMsix } from '../src/vmm/virtual-msix.ts';
import { AMDVI_MMIO } from '../src/amdvi/registers.ts';
import { vcpuAt } from '../src/platform/vcpu-table.ts';
import { encodeDptInvalidation } from '../src/hypothetical/direct-post/table.ts';
import type { Rng } from './rng.ts';

/** Numbers no well-formed field holds, or holds only at an edge. */
export const RAW_NUMBERS = [0, 1, -1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 65, 255, 256, 0xfff, 0x1000, 0xffff, 0x10000, 0x7fffffff, 0xffffffff, 0x100000000, -0x80000000, 2 ** 53, 1.5, NaN, Infinity, -Infinity];
/** Bigints at the edges: page and 32/39/46/52/64/128-bit boundaries, negative ones. */
export const RAW_BIGINTS = [0n, 1n, -1n, 0xfffn, 0x1000n, 0xfffffffcn, 0xffffffffn, 0xfee00000n, 0xfeefffffn, (1n << 39n) - 1n, 1n << 39n, 1n << 46n, 1n << 52n, (1n << 64n) - 1n, (1n << 64n) - 4n, 1n << 64n, 1n << 128n, (1n << 128n) - 1n, -(1n << 64n), 1n << 256n, (1n << 256n) - 1n];
const RAW_STRINGS = ['', '00:00.0', 'ffff:ff:1f.7', 'nothing', '0000:00:00.0', 'constructor', '__proto__'];

const VTD_REGISTERS: readonly RegisterName[] = ['IQA', 'IQT', 'FSTS', 'FECTL', 'FEDATA', 'FEADDR', 'FEUADDR', 'ICS', 'IECTL', 'IEDATA', 'IEADDR', 'IEUADDR', 'CCMD', 'IVA', 'IOTLB'];
const AMD_REGISTERS = Object.keys(AMDVI_MMIO);
const MAP_MODES = ['legacy', 'legacy-pass-through', 'second-stage', 'first-stage', 'nested', 'pass-through'] as const;
const COSTS: readonly VmmCostKind[] = ['trap', 'vm-exit', 'dm-round-trip', 'hypercall', 'ioctl', 'table-write'];

/** What a generator knows of the state it aims at. */
export interface Aim {
  readonly state: PlatformState;
  readonly devices: readonly string[];
  readonly vmmDevices: readonly string[];
}

export function aimAt(state: PlatformState): Aim {
  return { state, devices: Object.keys(state.devices), vmmDevices: Object.keys(state.vmm?.devices ?? {}) };
}

/** Field values for one action: plausible for the state, malformed at the action's rate (none for half the actions). */
class Pick {
  /** How often a field is malformed: 0 for half the actions (so they reach deep into the handlers), else 1 in 5. */
  private readonly bad: number;
  constructor(
    private readonly rng: Rng,
    private readonly aim: Aim,
  ) {
    this.bad = rng.chance(0.5) ? 0 : 0.2;
  }
  /** An integer in 0..max (inclusive), or (at the malformed rate) a raw number (one past, negative, NaN, 2^53…). */
  n(max: number): number {
    if (!this.rng.chance(this.bad)) return this.rng.below(Math.max(1, Math.min(max, 0xffff_ffff) + 1));
    return this.rng.chance(0.3) ? max + 1 : this.rng.pick(RAW_NUMBERS);
  }
  /** A bigint of `bits` bits (often near `near` when given), or (at the malformed rate) a raw one: negative, beyond 64/128/256 bits. */
  big(bits: number, near?: bigint): bigint {
    const rng = this.rng;
    if (!rng.chance(this.bad)) {
      if (near !== undefined && rng.chance(0.6)) return (near + BigInt(rng.below(16) * 4) * BigInt(rng.pick([1, 4, 16, 0x100, 0x1000]))) & ((1n << BigInt(bits)) - 1n);
      let v = 0n;
      for (let b = 0; b < bits; b += 32) v |= BigInt(rng.u32()) << BigInt(b);
      const keep = rng.pick([bits, bits, 64, 32, 12, 8, 4]);
      return v & ((1n << BigInt(Math.min(bits, keep))) - 1n);
    }
    return rng.pick(RAW_BIGINTS) + (rng.chance(0.5) ? 0n : BigInt(rng.below(8)));
  }
  bool(): boolean {
    return this.rng.chance(0.5);
  }
  /** Present or absent. */
  maybe<T>(make: () => T): T | undefined {
    return this.rng.chance(0.5) ? make() : undefined;
  }
  /** A device of the state (a VMM-managed one 40% of the time when there are some), or (at the malformed rate) an unknown name. */
  device(): string {
    const { devices, vmmDevices } = this.aim;
    if (vmmDevices.length > 0 && this.rng.chance(0.4)) return this.rng.pick(vmmDevices);
    return devices.length > 0 && !this.rng.chance(this.bad) ? this.rng.pick(devices) : this.rng.pick(RAW_STRINGS);
  }
  one<T>(xs: readonly T[]): T {
    return this.rng.pick(xs);
  }
  vtdUnit(): number {
    return this.n(Math.max(0, this.aim.state.iommus.length - 1));
  }
  amdUnit(): number {
    return this.n(Math.max(0, (this.aim.state.amdvi?.units.length ?? 1) - 1));
  }
  vcpu(): number {
    return this.n(Math.max(0, this.aim.state.vcpus.count - 1));
  }
  pcpu(): number {
    return this.n(Math.max(0, this.aim.state.cpus.length - 1));
  }
  domain(): number {
    return this.n(Math.max(0, this.aim.state.domains.length - 1));
  }
  vector(): number {
    return this.n(0xff);
  }
  /** An MSI-X entry index of `device` (or of a small table). */
  entry(device: string): number {
    return this.n(Math.max(0, (this.aim.state.devices[device]?.msix?.table.length ?? 4) - 1));
  }
  /** An interrupt-window address 60% of the time, else any 64-bit one. */
  msiAddress(): bigint {
    return this.rng.chance(0.6) ? 0xfee0_0000n | (BigInt(this.rng.below(0x100)) << 12n) | (BigInt(this.rng.below(0x100)) << 4n) | BigInt(this.rng.pick([0, 4, 8, 0xc, 3])) : this.big(64);
  }
  binding(): VectorBinding {
    const b: { -readonly [K in keyof VectorBinding]: VectorBinding[K] } = {};
    if (this.bool()) b.hostVector = this.vector();
    if (this.bool()) b.hostPcpu = this.pcpu();
    if (this.bool()) b.irte = { iommu: this.rng.chance(0.5) ? this.vtdUnit() : this.amdUnit(), index: this.n(0xffff) };
    if (this.bool()) b.gsi = this.n(4096);
    if (this.bool()) b.bound = { address: this.msiAddress(), data: this.n(0xffff) };
    if (this.bool()) b.posted = this.bool();
    if (this.bool()) b.maskHandling = this.bool();
    return b;
  }
  /** A guest view: the device's own (perhaps with an entry changed), or a fresh small one. */
  guestView(device: string): VirtualMsix {
    const own = this.aim.state.vmm?.devices[device]?.guest;
    if (own !== undefined && this.rng.chance(0.7)) {
      const table = own.table.map((e) => (this.rng.chance(0.3) ? { addressLow: this.n(0xffff_ffff), addressHigh: this.n(0xffff_ffff), data: this.n(0xffff_ffff), control: this.n(0xffff_ffff) } : e));
      return { ...own, enabled: this.bool(), functionMask: this.bool(), table };
    }
    const entries = this.n(8);
    return {
      layout: { entries, tableBar: this.n(5), tableOffset: this.n(0x2000), pbaBar: this.n(5), pbaOffset: this.n(0x2000), capability: this.n(0xff) },
      enabled: this.bool(),
      functionMask: this.bool(),
      table: Array.from({ length: Math.max(0, Math.min(8, Number.isSafeInteger(entries) ? entries : 0)) }, () => ({ addressLow: this.n(0xffff_ffff), addressHigh: this.n(0xffff_ffff), data: this.n(0xffff_ffff), control: this.n(0xffff_ffff) })),
    };
  }
  access(): GuestAccess {
    const device = this.device();
    const region = this.one(['table', 'pba', 'page', 'direct', 'config'] as const);
    const size = this.one([1, 2, 4, 8, this.n(16)]);
    return {
      device,
      space: this.one(['mmio', 'config'] as const),
      write: this.bool(),
      bar: this.n(5),
      offset: this.n(0x1000),
      size,
      value: this.big(64),
      parts: [{ region, offset: this.n(0x1000), size, value: this.big(64) }],
      written: [this.entry(device)],
      unmasked: this.bool() ? [{ entry: this.entry(device), pending: this.bool() }] : [],
      masked: this.bool() ? [this.entry(device)] : [],
      before: this.guestView(device),
    };
  }
  /** A DMA address: in a granted IOVA range of the state, at a page's end, in the interrupt window, or any. */
  dmaAddress(): bigint {
    const grants = Object.values(this.aim.state.intent.dma).flatMap((d) => Object.values(d.spaces).flatMap((s) => s.grants));
    const g = grants.length > 0 && this.rng.chance(0.5) ? this.rng.pick(grants) : undefined;
    if (g !== undefined) return g.iova + BigInt(this.rng.below(0x2000));
    return this.rng.chance(0.3) ? this.msiAddress() : this.rng.chance(0.3) ? this.big(64) | 0xffcn : this.big(64);
  }
  /** The ring slot software fills next (a command buffer's tail). */
  ringSlot(base: bigint, tail: bigint): bigint {
    return (base & 0x000f_ffff_ffff_f000n) + tail;
  }
}

type Gen<K extends ActionKind> = (p: Pick, aim: Aim, rng: Rng) => ActionOf<K> | readonly Action[];

/** A vCPU of the state (or undefined when it has none). */
function someVcpu(aim: Aim, rng: Rng): Vcpu | undefined {
  const n = aim.state.vcpus.count;
  return n === 0 ? undefined : vcpuAt(aim.state.vcpus, rng.below(n));
}

/** AMD-Vi command opcodes 1..8 (spec 48882 §2.4) in bits 63:60 of the first qword, the rest random. */
function amdCommand(p: Pick, rng: Rng): bigint {
  const opcode = BigInt(rng.chance(0.9) ? 1 + rng.below(8) : rng.below(16));
  return (p.big(128) & ~(0xfn << 60n)) | (opcode << 60n);
}

const GENERATORS: { readonly [K in ActionKind]: Gen<K> } = {
  'write-irta': (p) => ({ kind: 'write-irta', iommu: p.vtdUnit(), value: p.big(64) }),
  'write-gcmd': (p, _a, rng) => ({ kind: 'write-gcmd', iommu: p.vtdUnit(), value: rng.chance(0.7) ? rng.pick([0x8000_0000, 0x0200_0000, 0x0100_0000, 0x0400_0000, 0x4000_0000, 0x0080_0000, 0x8200_0000, 0xc600_0000]) | 0 : p.n(0xffff_ffff) }),
  'write-memory': (p, aim, rng) => {
    // Aimed at AMD-Vi structures: a 256-bit DTE, a 128-bit command slot, an IRTE; else anywhere.
    const unit = aim.state.amdvi?.units[rng.below(aim.state.amdvi.units.length)];
    if (unit !== undefined && rng.chance(0.7)) {
      const r = unit.regs;
      switch (rng.below(4)) {
        case 0:
          return { kind: 'write-memory', address: (r.deviceTableBase & 0x000f_ffff_ffff_f000n) + BigInt(rng.below(0x10000)) * 32n, bytes: 32, value: p.big(256) | (rng.chance(0.7) ? 1n | (1n << 96n) : 0n), what: 'fuzzed DTE' };
        case 1: {
          const at = p.ringSlot(r.commandBufferBase, r.commandTail);
          return [
            { kind: 'write-memory', address: at, bytes: 16, value: amdCommand(p, rng), what: 'fuzzed command' },
            { kind: 'amdvi-write-register', iommu: unit.index, register: 'COMMAND_TAIL', value: rng.chance(0.8) ? r.commandTail + 16n : p.big(64) },
          ];
        }
        case 2:
          return { kind: 'write-memory', address: p.big(64, 0x1030_0000n), bytes: p.one([4, 8, 16]), value: p.big(128), what: 'fuzzed IRTE' };
        default:
          return { kind: 'write-memory', address: p.big(64, r.gaLogBase & 0x000f_ffff_ffff_f000n), bytes: p.one([8, 16]), value: p.big(64), what: 'fuzzed GA log' };
      }
    }
    return { kind: 'write-memory', address: p.big(64), bytes: p.one([1, 2, 4, 8, 16, 32, 64, 4096, p.n(8192)]), value: p.big(128) };
  },
  'write-irte': (p) => ({ kind: 'write-irte', iommu: p.vtdUnit(), index: p.n(0xffff), value: p.big(128) | 1n }),
  'invalidate-iec': (p, _a, rng) => ({ kind: 'invalidate-iec', iommu: p.vtdUnit(), descriptor: rng.chance(0.8) ? (p.big(128) & ~0xfn) | 4n : p.big(128) }),
  'write-dpta': (p) => ({ kind: 'write-dpta', iommu: p.vtdUnit(), value: p.big(64) }),
  'invalidate-dpt': (p, aim, rng) => {
    const sid = aim.state.devices[p.device()]?.busRid ?? p.n(0xffff);
    const well = rng.chance(0.6) && Number.isInteger(sid) && sid >= 0 && sid <= 0xffff;
    const vapicId = rng.below(4);
    return { kind: 'invalidate-dpt', iommu: p.vtdUnit(), descriptor: well ? encodeDptInvalidation({ granularity: p.one(['global', 'source', 'entry'] as const), sid, vapicId }) : (p.big(128) & ~0xfn) | 0xen };
  },
  'write-rtaddr': (p) => ({ kind: 'write-rtaddr', iommu: p.vtdUnit(), value: p.big(64) }),
  'invalidate-dma': (p, _a, rng) => ({ kind: 'invalidate-dma', iommu: p.vtdUnit(), descriptor: (p.big(128) & ~0xfn) | BigInt(rng.pick([1, 2, 6, 7, 3, 0xf])) }),
  'invalidation-wait': (p) => ({ kind: 'invalidation-wait', iommu: p.vtdUnit(), descriptor: (p.big(128) & ~0xfn) | 5n }),
  'write-iqt': (p) => ({ kind: 'write-iqt', iommu: p.vtdUnit(), value: p.big(19) }),
  'write-register': (p) => ({ kind: 'write-register', iommu: p.vtdUnit(), register: p.one(VTD_REGISTERS), value: p.big(64) }),
  'dma-root': (p) => ({ kind: 'dma-root', iommu: p.vtdUnit(), scalable: p.bool() }),
  'map-dma': (p, _a, rng) => {
    const mappings = Array.from({ length: 1 + rng.below(3) }, () => {
      const gpa = p.maybe(() => p.big(48));
      const structures = p.maybe(() => p.bool());
      // Page-aligned (the builder's requirement) unless the malformed rate says otherwise.
      const page = rng.chance(0.9) ? ~0xfffn : -1n;
      return { iova: p.big(48) & page, hpa: p.big(39) & page, size: rng.chance(0.8) ? BigInt(rng.pick([0x1000, 0x2000, 0x20_0000, 0x4000_0000])) : p.big(40), read: p.bool(), write: p.bool(), ...(gpa === undefined ? {} : { gpa }), ...(structures === undefined ? {} : { structures }) };
    });
    const firstStageLevels = p.maybe(() => p.one([4, 5, p.n(8)]));
    const pasid = p.maybe(() => (rng.chance(0.8) ? rng.below(4) : p.n(0xfffff)));
    const ridPasid = p.maybe(() => p.bool());
    const skipsInvalidation = p.maybe(() => p.bool());
    const contexts = p.maybe(() => p.one(['all', 'own'] as const));
    return {
      kind: 'map-dma',
      iommu: p.vtdUnit(),
      device: p.device(),
      did: p.n(0xffff),
      mode: p.one(MAP_MODES),
      levels: p.one([3, 4, 5, p.n(8)]),
      mappings,
      ...(firstStageLevels === undefined ? {} : { firstStageLevels }),
      ...(pasid === undefined ? {} : { pasid }),
      ...(ridPasid === undefined ? {} : { ridPasid }),
      ...(skipsInvalidation === undefined ? {} : { skipsInvalidation }),
      ...(contexts === undefined ? {} : { contexts }),
    };
  },
  'unmap-dma': (p) => {
    const pasid = p.maybe(() => p.n(0xfffff));
    const skipsInvalidation = p.maybe(() => p.bool());
    return { kind: 'unmap-dma', iommu: p.vtdUnit(), device: p.device(), iova: p.big(48), size: p.one([0x1000n, 0x20_0000n, p.big(40)]), ...(pasid === undefined ? {} : { pasid }), ...(skipsInvalidation === undefined ? {} : { skipsInvalidation }) };
  },
  dma: (p) => {
    const rid = p.maybe(() => p.n(0xffff));
    const pasid = p.maybe(() => p.n(0xfffff));
    const value = p.maybe(() => p.big(512));
    return { kind: 'dma', device: p.device(), address: p.dmaAddress(), size: p.one([1, 2, 4, 8, 64, p.n(128)]), write: p.bool(), ...(rid === undefined ? {} : { rid }), ...(pasid === undefined ? {} : { pasid }), ...(value === undefined ? {} : { value }) };
  },
  'clear-fault': (p) => ({ kind: 'clear-fault', iommu: p.vtdUnit(), record: p.n(255) }),
  'msi-write': (p) => {
    const rid = p.maybe(() => p.n(0xffff));
    return { kind: 'msi-write', device: p.device(), address: p.msiAddress(), data: p.n(0xffff_ffff), ...(rid === undefined ? {} : { rid }) };
  },
  'program-msi': (p) => {
    const o = { enabled: p.maybe(() => p.bool()), address: p.maybe(() => p.msiAddress()), data: p.maybe(() => p.n(0xffff)), mme: p.maybe(() => p.n(5)), mask: p.maybe(() => p.n(0xffff_ffff)) };
    return { kind: 'program-msi', device: p.device(), ...defined(o) };
  },
  'program-msix': (p) => {
    const device = p.device();
    return { kind: 'program-msix', device, entry: p.entry(device), ...defined({ address: p.maybe(() => p.msiAddress()), data: p.maybe(() => p.n(0xffff_ffff)), masked: p.maybe(() => p.bool()) }) };
  },
  'msix-control': (p) => ({ kind: 'msix-control', device: p.device(), ...defined({ enabled: p.maybe(() => p.bool()), functionMask: p.maybe(() => p.bool()) }) }),
  signal: (p) => {
    const device = p.device();
    return { kind: 'signal', device, vector: p.entry(device) };
  },
  'ims-signal': (p) => ({ kind: 'ims-signal', device: p.device(), slot: p.n(8) }),
  'assign-device': (p) => ({ kind: 'assign-device', device: p.device(), domain: p.domain() }),
  grant: (p) => {
    const lastVector = p.maybe(() => p.vector());
    return {
      kind: 'grant',
      grant: { requester: p.device(), target: p.bool() ? { kind: 'vcpu', vcpu: p.vcpu() } : { kind: 'pcpu', apicId: p.n(0xff) }, vector: p.vector(), deliveryModes: [p.n(7)], ...(lastVector === undefined ? {} : { lastVector }) },
    };
  },
  revoke: (p) => ({ kind: 'revoke', requester: p.device(), ...defined({ vector: p.maybe(() => p.vector()) }) }),
  schedule: (p) => ({ kind: 'schedule', vcpu: p.vcpu(), pcpu: p.pcpu() }),
  preempt: (p) => ({ kind: 'preempt', vcpu: p.vcpu() }),
  halt: (p) => ({ kind: 'halt', vcpu: p.vcpu() }),
  'guest-msi': (p) => {
    const device = p.device();
    return {
      kind: 'guest-msi',
      device,
      entry: p.entry(device),
      destination: p.n(0xff),
      vector: p.vector(),
      ...defined({ destinationMode: p.maybe(() => p.one(['physical', 'logical'] as const)), deliveryMode: p.maybe(() => p.n(7)), domain: p.maybe(() => p.domain()), bypass: p.maybe(() => p.bool()), irte: p.maybe(() => p.n(0xffff)) }),
    };
  },
  'host-interrupt': (p, aim) => ({ kind: 'host-interrupt', pcpu: p.pcpu(), vector: p.bool() ? aim.state.hypervisor.postedVector : p.vector() }),
  'guest-mmio': (p) => {
    const device = p.device();
    const size = p.one([4, 8, 4, 2, 1, p.n(16)]);
    return { kind: 'guest-mmio', device, bar: p.n(5), offset: p.bool() ? p.n(0x40) & ~3 : p.n(0x2000), size, write: p.bool(), value: p.big(64) };
  },
  'guest-config': (p) => ({ kind: 'guest-config', device: p.device(), offset: p.bool() ? 0x72 : p.n(0x1000), size: p.one([1, 2, 4, p.n(8)]), value: p.n(0xffff_ffff) }),
  'vmm-react': (p) => ({ kind: 'vmm-react', access: p.access() }),
  'vmm-interrupt': (p) => {
    const device = p.device();
    return { kind: 'vmm-interrupt', device, entry: p.entry(device), pcpu: p.pcpu(), hostVector: p.vector() };
  },
  'device-model': (p, aim) => {
    const device = p.device();
    const owner = aim.state.vmm?.devices[device]?.domain;
    const ops: DeviceModelOp[] = [
      { op: 'bind', entry: p.entry(device), address: p.msiAddress(), data: p.n(0xffff), ...defined({ maskHandling: p.maybe(() => p.bool()) }) },
      { op: 'unbind', entry: p.entry(device) },
      { op: 'mask', entry: p.entry(device), masked: p.bool() },
      { op: 'write-page', bar: p.n(5), offset: p.n(0x2000), size: p.one([4, 8, p.n(16)]), value: p.big(64) },
      { op: 'signal-msi', address: p.msiAddress(), data: p.n(0xffff) },
    ];
    return { kind: 'device-model', domain: owner !== undefined && p.bool() ? owner : p.domain(), device, op: p.one(ops) };
  },
  hypercall: (p, aim) => {
    const device = p.device();
    const owner = aim.state.vmm?.devices[device]?.domain;
    const ops: HypercallOp[] = [
      { op: 'set-interrupt', entry: p.entry(device), vcpu: p.n(3), vector: p.vector() },
      { op: 'get-msi-pair', slot: p.n(8), vcpu: p.n(3), vector: p.vector() },
    ];
    return { kind: 'hypercall', domain: owner !== undefined && p.bool() ? owner : p.domain(), device, op: p.one(ops) };
  },
  'vmm-start': (p) => ({ kind: 'vmm-start', domain: p.domain() }),
  'guest-ack': (p) => ({ kind: 'guest-ack', vcpu: p.vcpu() }),
  'guest-eoi': (p) => ({ kind: 'guest-eoi', vcpu: p.vcpu() }),
  'pid-write': (p) => ({ kind: 'pid-write', vcpu: p.vcpu(), ...defined({ on: p.maybe(() => p.bool()), sn: p.maybe(() => p.bool()), nv: p.maybe(() => p.vector()), ndst: p.maybe(() => p.n(0xffff_ffff)) }) }),
  'vcpu-set': (p) => ({ kind: 'vcpu-set', vcpu: p.vcpu(), run: p.one(['running', 'runnable', 'blocked'] as const), pcpu: p.pcpu() }),
  'sync-pir': (p, aim, rng) => {
    const v = someVcpu(aim, rng);
    return { kind: 'sync-pir', vcpu: v && p.bool() ? v.id : p.vcpu(), pcpu: v && p.bool() ? v.pcpu : p.pcpu() };
  },
  'blocked-list': (p) => ({ kind: 'blocked-list', pcpu: p.pcpu(), vcpu: p.vcpu(), add: p.bool() }),
  'ndst-stale': (p) => ({ kind: 'ndst-stale', vcpu: p.vcpu(), stale: p.bool() }),
  'irte-allocated': (p) => ({ kind: 'irte-allocated', iommu: p.bool() ? p.vtdUnit() : p.n(0x8_ffff), index: p.n(0xffff) }),
  'software-route': (p) => ({
    kind: 'software-route',
    hostVector: p.vector(),
    route: p.bool() ? undefined : { device: p.device(), domain: p.domain(), destination: p.n(0xff), logical: p.bool(), deliveryMode: p.n(7), vector: p.vector() },
  }),
  'inject-interrupt': (p) => ({ kind: 'inject-interrupt', vcpu: p.vcpu(), vector: p.vector(), device: p.device(), ...defined({ by: p.maybe(() => 'device-model' as const) }) }),
  'intend-route': (p) => ({ kind: 'intend-route', iommu: p.bool() ? p.vtdUnit() : p.n(0x8_ffff), index: p.n(0xffff), route: { device: p.device(), vector: p.vector(), vcpus: [p.vcpu()], oneOf: p.bool() } }),
  'vmm-guest-view': (p) => {
    const device = p.device();
    return { kind: 'vmm-guest-view', device, guest: p.guestView(device) };
  },
  'vmm-access': (p) => ({ kind: 'vmm-access', access: p.access() }),
  'vmm-binding': (p) => {
    const device = p.device();
    return { kind: 'vmm-binding', device, entry: p.entry(device), binding: p.binding() };
  },
  'vmm-dm-view': (p) => {
    const device = p.device();
    return { kind: 'vmm-dm-view', device, entry: p.entry(device), view: { masked: p.bool(), address: p.msiAddress(), data: p.n(0xffff), dirty: p.bool() } };
  },
  'vmm-ims-slot': (p) => {
    const device = p.device();
    return { kind: 'vmm-ims-slot', device, slot: p.n(8), ...defined({ guest: p.maybe(() => p.guestView(device)), binding: p.maybe(() => p.binding()) }) };
  },
  'vmm-pending': (p) => {
    const device = p.device();
    return { kind: 'vmm-pending', device, entry: p.entry(device), pending: p.bool() };
  },
  'vmm-host-vector': (p) => {
    const device = p.device();
    return { kind: 'vmm-host-vector', hostVector: p.vector(), target: p.bool() ? undefined : { device, entry: p.entry(device) } };
  },
  'kvm-route': (p) => {
    const device = p.device();
    return { kind: 'kvm-route', gsi: p.n(4096), route: p.bool() ? undefined : { address: p.msiAddress(), data: p.n(0xffff), device, entry: p.entry(device) } };
  },
  'vmm-cost': (p) => ({ kind: 'vmm-cost', cost: p.one(COSTS), detail: 'fuzzed' }),
  'vmm-note': () => ({ kind: 'vmm-note', note: 'fuzzed' }),
  'device-register-write': (p, aim) => {
    const device = p.device();
    const ims = aim.state.vmm?.devices[device]?.ims;
    return { kind: 'device-register-write', device, bar: ims && p.bool() ? ims.layout.bar : p.n(5), offset: ims && p.bool() ? ims.layout.offset + 4 * p.n(4 * ims.layout.slots) : p.n(0x2000), size: p.one([4, 8, 4, 2, p.n(16)]), value: p.big(64), by: p.one(['guest', 'device-model', 'vmm']) };
  },
  'msi-assign': (p) => {
    const device = p.device();
    return { kind: 'msi-assign', device, entry: p.entry(device), address: p.msiAddress(), data: p.n(0xffff) };
  },
  'self-ipi': (p) => ({ kind: 'self-ipi', pcpu: p.pcpu(), vector: p.vector() }),
  'amdvi-write-register': (p, aim, rng) => {
    const unit = aim.state.amdvi?.units[rng.below(aim.state.amdvi.units.length)];
    const register = rng.chance(0.9) ? p.one(['CONTROL', 'COMMAND_TAIL', 'COMMAND_BUFFER_BASE', 'DEVICE_TABLE_BASE', 'EVENT_LOG_BASE', 'EVENT_HEAD', 'GA_LOG_BASE', 'GA_LOG_HEAD', 'GA_LOG_TAIL_ADDRESS', 'STATUS', 'EXCLUSION_BASE', 'EXCLUSION_LIMIT', ...AMD_REGISTERS]) : p.one(RAW_STRINGS);
    // Control: the enables Linux sets (IommuEn, EventLogEn, CmdBufEn, GAEn, GALogEn, GAIntEn, IntCapXTEn …) with random others.
    const value = register === 'CONTROL' && rng.chance(0.7) ? (unit?.regs.control ?? 0n) ^ (1n << BigInt(rng.below(64))) : p.big(64, register === 'COMMAND_TAIL' && unit !== undefined ? unit.regs.commandTail : undefined);
    return { kind: 'amdvi-write-register', iommu: unit !== undefined && rng.chance(0.8) ? unit.index : p.amdUnit(), register, value };
  },
};

/** `o` without its undefined fields (`exactOptionalPropertyTypes`). */
function defined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

export const ACTION_KINDS = Object.keys(GENERATORS) as ActionKind[];

const VMM_KINDS: ReadonlySet<ActionKind> = new Set(['guest-mmio', 'guest-config', 'vmm-react', 'vmm-interrupt', 'device-model', 'hypercall', 'vmm-start', 'vmm-guest-view', 'vmm-access', 'vmm-binding', 'vmm-dm-view', 'vmm-ims-slot', 'vmm-pending', 'vmm-host-vector', 'kvm-route', 'device-register-write', 'ims-signal']);
const VTD_KINDS: ReadonlySet<ActionKind> = new Set(['write-irta', 'write-gcmd', 'write-irte', 'invalidate-iec', 'write-rtaddr', 'invalidate-dma', 'invalidation-wait', 'write-iqt', 'write-register', 'dma-root', 'map-dma', 'unmap-dma', 'clear-fault']);
const DIRECT_POST_KINDS: ReadonlySet<ActionKind> = new Set(['write-dpta', 'invalidate-dpt']);

/** The kinds that `state`'s hardware and software can take (the others are refused at once: still drawn, less often). */
export function applicableKinds(state: PlatformState): readonly ActionKind[] {
  return ACTION_KINDS.filter(
    (k) =>
      !(VMM_KINDS.has(k) && state.vmm === undefined) &&
      !(VTD_KINDS.has(k) && state.iommus.length === 0) &&
      !(DIRECT_POST_KINDS.has(k) && state.interrupts.directPost === undefined) &&
      !(k === 'amdvi-write-register' && state.amdvi === undefined),
  );
}

/** Action(s) of `kind` aimed at `aim`'s state: one, or a short script (a command written to the ring, then the tail). */
export function generateAction(rng: Rng, aim: Aim, kind: ActionKind): readonly Action[] {
  const p = new Pick(rng, aim);
  const out = (GENERATORS[kind] as Gen<ActionKind>)(p, aim, rng);
  return Array.isArray(out) ? out : [out as Action];
}
