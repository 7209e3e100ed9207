/**
 * Compiling the AMD-Vi scenario steps into the writes the hardware sees (register writes and CPU
 * stores), as the driver would make them, tracking what the driver knows per unit (its device
 * table, command buffer tail, IRTE format, the interrupt table each DTE points at):
 *
 * - `amdvi-register`: one `amdvi-write-register`;
 * - `amdvi-enable`: Linux `early_enable_iommu` (drivers/iommu/amd/init.c), in its order:
 *   `iommu_disable` (Control = 0), `iommu_init_flags` (Coherent, InvTimeout = 1 s),
 *   `iommu_set_device_table` (a 2 MiB table: the 01h "all" entry makes Linux size it for
 *   DeviceID 0xFFFF), `iommu_enable_command_buffer` (512 entries, Len 9, then CmdBufEn),
 *   `iommu_enable_event_buffer` (512 entries, then EventLogEn), `iommu_enable_ga` (GAEn),
 *   `iommu_enable_xt` (XTEn, IntCapXTEn), `iommu_enable` (IommuEn); with `gaLog`, then
 *   `iommu_init_ga_log` / `iommu_ga_log_enable` (GA log base with Len 8 = 512 8-byte entries,
 *   `GA_LOG_SIZE_512`; the tail address right after the 4 KiB log; GAIntEn, GALogEn) and
 *   `enable_iommus_vapic` (GAMEn = 001). Each Control change is its own write, as
 *   `iommu_feature_enable` makes it. The IVHD flags Linux copies into Control (HtTunEn, PassPW,
 *   ResPassPW, Isoc) and EventIntEn (set once the IOMMU's MSI is set up) are left out: the
 *   model delivers no IOMMU interrupts;
 * - `dte`: the 32 bytes at device table base + 32 · DeviceID (src/amdvi/dte.ts), defaults V = TV
 *   = 1, Mode 0 (Linux's blocked DTE), IV = 1 with IntCtl remap and IntTabLen 9 when a table is given;
 * - `amd-irte`: the IRTE bytes (src/amdvi/irte.ts; 4 or 16 by the unit's GAEn) at the device's
 *   interrupt table (from its `dte` step) or `table`;
 * - `amd-command`: the command (src/amdvi/commands.ts `buildCommand`, fields as Linux
 *   `build_completion_wait` / `build_inv_dte` / `build_inv_irt` / `build_inv_iommu_pages` (all
 *   pages: address 0x7FFF_FFFF_FFFF_F000, S = PDE = 1) / `build_inv_all`) written at the tail,
 *   then the tail register write that makes the unit process it.
 */
import type { Action } from '../platform/actions.ts';
import type { AmdViUnitSpec } from '../platform/amdvi-build.ts';
import { avicBackingPage } from '../platform/amdvi-build.ts';
import { amdUnitFor } from '../platform/topology.ts';
import type { AmdViSteps } from './amdvi-types.ts';
import type { U64, VcpuRef } from './types.ts';
import { buildCommand } from '../amdvi/commands.ts';
import { decodeDte, dteAddress, encodeDte, INT_CTL } from '../amdvi/dte.ts';
import { encodeAmdIrte, irteBytes, type AmdIrte } from '../amdvi/irte.ts';
import { CONTROL_BITS, encodeDeviceTableBase, encodeRingBase, ringBytes } from '../amdvi/registers.ts';
import { formatBdf } from '../pci/bdf.ts';

export const AMDVI_STEP_KEYS = ['amdvi-register', 'amdvi-enable', 'dte', 'amd-irte', 'amd-command'] as const;
export type AmdViStepKey = (typeof AMDVI_STEP_KEYS)[number];

type Path = (string | number)[];

/** What the step compiler needs from the scenario compiler (src/scenario/compile.ts). */
export interface AmdCompileContext {
  fail(message: string, path: Path): never;
  /** Canonical key, requester ID and segment of a BDF string. */
  key(text: string, path: Path): { key: string; rid: number; segment: number };
  /** Key of a device the scenario declares. */
  device(text: string, path: Path): string;
  /** Global vCPU id of a reference. */
  vcpu(ref: VcpuRef, path: Path): number;
}

const u64 = (v: U64): bigint => BigInt(v);
const bit = (n: number): bigint => 1n << BigInt(n);
/** Control.Coherent (bit 10) and InvTimeOut = 4 (1 s, bits 7:5): Linux `iommu_init_flags`. */
const INIT_FLAGS = bit(10) | (4n << 5n);
/** Linux's device table for DeviceIDs up to 0xFFFF: 65536 · 32 bytes. */
const DEVICE_TABLE_BYTES = 0x20_0000n;
/** Linux's ring Lens: 512 command / event entries (Len 9), 512 GA-log entries (`GA_LOG_SIZE_512`, Len 8). */
const RING_LEN = 9;
const GA_LOG_LEN = 8;
/** `CMD_INV_IOMMU_ALL_PAGES_ADDRESS` page bits (Linux). */
const ALL_PAGES = 0x7fff_ffff_ffff_f000n;

interface UnitKnowledge {
  control: bigint;
  deviceTable?: bigint;
  commandBuffer?: { base: bigint; bytes: bigint; tail: bigint };
  ga: boolean;
}

export class AmdStepCompiler {
  private readonly known: UnitKnowledge[];
  /** `unit:deviceId` → the interrupt table address its DTE was given. */
  private readonly tables = new Map<string, bigint>();

  constructor(
    private readonly ctx: AmdCompileContext,
    private readonly units: readonly AmdViUnitSpec[],
    private readonly backingBase: bigint,
  ) {
    this.known = units.map(() => ({ control: 0n, ga: false }));
  }

  private unit(iommu: number, path: Path): UnitKnowledge {
    const k = this.known[iommu];
    if (k === undefined) this.ctx.fail(this.units.length === 0 ? 'an AMD-Vi step needs an AMD-Vi platform (platform.ivrs or platform.amdvi)' : `no AMD-Vi unit ${iommu}: the platform has ${this.units.length}`, path);
    return k;
  }

  /** The unit covering device `key` (or `iommu` when given). */
  private unitOf(rid: number, segment: number, iommu: number | undefined, path: Path): number {
    if (iommu !== undefined) {
      this.unit(iommu, path);
      return iommu;
    }
    const u = amdUnitFor(this.units, segment, rid);
    if (u === undefined) this.ctx.fail(`no AMD-Vi unit's scope covers ${formatBdf(rid, segment === 0 ? undefined : segment)}: give iommu`, path);
    return u;
  }

  private register(iommu: number, register: string, value: bigint): Action {
    const k = this.known[iommu]!;
    if (register === 'CONTROL') k.control = value;
    if (register === 'DEVICE_TABLE_BASE') k.deviceTable = value;
    if (register === 'COMMAND_BUFFER_BASE') k.commandBuffer = { base: value & 0x000f_ffff_ffff_f000n, bytes: ringBytes(value), tail: 0n };
    if (register === 'COMMAND_TAIL' && k.commandBuffer !== undefined) k.commandBuffer.tail = value & 0x7fff0n;
    if (register === 'CONTROL') k.ga = ((value >> BigInt(CONTROL_BITS.GAEn)) & 1n) === 1n;
    return { kind: 'amdvi-write-register', iommu, register, value };
  }

  /** Compile one AMD-Vi step. */
  compile(label: AmdViStepKey, step: AmdViSteps, at: Path): Action[] {
    switch (label) {
      case 'amdvi-register': {
        const s = step['amdvi-register']!;
        this.unit(s.iommu, [...at, 'iommu']);
        return [this.register(s.iommu, s.register, u64(s.value))];
      }
      case 'amdvi-enable':
        return this.enable(step['amdvi-enable']!, at);
      case 'dte':
        return this.dte(step.dte!, at);
      case 'amd-irte':
        return this.irte(step['amd-irte']!, at);
      case 'amd-command':
        return this.command(step['amd-command']!, at);
    }
  }

  private enable(s: NonNullable<AmdViSteps['amdvi-enable']>, at: Path): Action[] {
    const iommu = s.iommu;
    this.unit(iommu, [...at, 'iommu']);
    const out: Action[] = [];
    let control = 0n;
    const set = (bits: bigint): void => {
      control |= bits;
      out.push(this.register(iommu, 'CONTROL', control));
    };
    const encode = (f: () => bigint, field: string): bigint => {
      try {
        return f();
      } catch (e) {
        this.ctx.fail((e as Error).message, [...at, field]);
      }
    };
    out.push(this.register(iommu, 'CONTROL', 0n));
    set(INIT_FLAGS);
    out.push(this.register(iommu, 'DEVICE_TABLE_BASE', encode(() => encodeDeviceTableBase(u64(s.deviceTable), DEVICE_TABLE_BYTES), 'deviceTable')));
    out.push(this.register(iommu, 'COMMAND_BUFFER_BASE', encode(() => encodeRingBase(u64(s.commandBuffer), RING_LEN), 'commandBuffer')));
    set(bit(CONTROL_BITS.CmdBufEn));
    out.push(this.register(iommu, 'EVENT_LOG_BASE', encode(() => encodeRingBase(u64(s.eventLog), RING_LEN), 'eventLog')));
    set(bit(CONTROL_BITS.EventLogEn));
    if (s.ga) set(bit(CONTROL_BITS.GAEn));
    if (s.xt) {
      set(bit(CONTROL_BITS.XTEn));
      set(bit(CONTROL_BITS.IntCapXTEn));
    }
    set(bit(CONTROL_BITS.IommuEn));
    if (s.gaLog !== undefined) {
      if (!s.ga) this.ctx.fail('a GA log needs ga: true (guest vAPIC mode uses 128-bit IRTEs)', [...at, 'gaLog']);
      const base = u64(s.gaLog);
      out.push(this.register(iommu, 'GA_LOG_BASE', encode(() => encodeRingBase(base, GA_LOG_LEN), 'gaLog')));
      out.push(this.register(iommu, 'GA_LOG_TAIL_ADDRESS', base + 0x1000n));
      set(bit(CONTROL_BITS.GAIntEn));
      set(bit(CONTROL_BITS.GALogEn));
      set(1n << 25n); // GAMEn = 001: guest virtual APIC
    }
    return out;
  }

  private dte(s: NonNullable<AmdViSteps['dte']>, at: Path): Action[] {
    const device = this.ctx.device(s.device, [...at, 'device']);
    const id = s.deviceId === undefined ? this.ctx.key(device, [...at, 'device']) : this.ctx.key(s.deviceId, [...at, 'deviceId']);
    const iommu = this.unitOf(id.rid, id.segment, s.iommu, [...at, 'iommu']);
    const k = this.known[iommu]!;
    if (k.deviceTable === undefined) this.ctx.fail(`unit ${iommu} has no device table yet: amdvi-enable it (or write DEVICE_TABLE_BASE) first`, at);
    const address = dteAddress(k.deviceTable, id.rid);
    let value: bigint;
    if (s.raw !== undefined) value = BigInt(s.raw);
    else {
      const table = s.table === undefined ? undefined : u64(s.table);
      if (table !== undefined && (table & 0x3fn) !== 0n) this.ctx.fail('the interrupt table is 64-byte aligned (DTE IntTabRootPtr is address bits 51:6)', [...at, 'table']);
      const root = s.root === undefined ? 0n : u64(s.root);
      if ((root & 0xfffn) !== 0n) this.ctx.fail('the page-table root is 4 KiB aligned', [...at, 'root']);
      const iv = s.iv ?? (table !== undefined || s.intCtl !== undefined);
      const intCtl = s.intCtl === undefined ? (table !== undefined ? INT_CTL.REMAP : INT_CTL.TARGET_ABORT) : s.intCtl === 'abort' ? INT_CTL.TARGET_ABORT : s.intCtl === 'forward' ? INT_CTL.FORWARD : INT_CTL.REMAP;
      try {
        value = encodeDte({
          ...decodeDte(0n),
          V: s.v ?? true,
          TV: s.tv ?? true,
          Mode: s.mode ?? 0,
          PtRoot: Number(root >> 12n),
          IR: s.ir ?? false,
          IW: s.iw ?? false,
          DomainID: s.domainId ?? 0,
          EX: s.ex ?? false,
          SA: s.sa ?? false,
          SysMgt: s.sysMgt ?? 0,
          IV: iv,
          IntTabLen: s.intTabLen ?? 9,
          IG: s.ig ?? false,
          IntTabRootPtr: Number((table ?? 0n) >> 6n),
          InitPass: s.initPass ?? false,
          EIntPass: s.eIntPass ?? false,
          NMIPass: s.nmiPass ?? false,
          IntCtl: intCtl,
          Lint0Pass: s.lint0Pass ?? false,
          Lint1Pass: s.lint1Pass ?? false,
        });
      } catch (e) {
        this.ctx.fail((e as Error).message, at);
      }
      if (table !== undefined) this.tables.set(`${iommu}:${id.rid}`, table);
    }
    return [{ kind: 'write-memory', address, bytes: 32, value, what: `AMD-Vi DTE of DeviceID ${formatBdf(id.rid)} (ivhd${iommu})` }];
  }

  private irte(s: NonNullable<AmdViSteps['amd-irte']>, at: Path): Action[] {
    let iommu: number;
    let table: bigint;
    let owner = 'table';
    if (s.table !== undefined) {
      table = u64(s.table);
      iommu = s.iommu ?? 0;
      this.unit(iommu, [...at, 'iommu']);
    } else {
      if (s.device === undefined) this.ctx.fail('amd-irte names its device (whose DTE gives the table) or the table address', at);
      const device = this.ctx.device(s.device, [...at, 'device']);
      const id = this.ctx.key(device, [...at, 'device']);
      iommu = this.unitOf(id.rid, id.segment, s.iommu, [...at, 'iommu']);
      const t = this.tables.get(`${iommu}:${id.rid}`);
      if (t === undefined) this.ctx.fail(`no dte step gave ${device} an interrupt table yet: write its DTE first, or give table`, [...at, 'device']);
      table = t;
      owner = device;
    }
    const ga = s.format === undefined ? this.known[iommu]!.ga : s.format === 'ga';
    const bytes = irteBytes(ga);
    const address = table + BigInt(s.index * bytes);
    let value: bigint;
    if (s.raw !== undefined) value = BigInt(s.raw);
    else {
      const common = { remapEn: s.remapEn ?? true, supIopf: s.supIopf ?? false, reserved: 0n };
      const intType = s.deliveryMode === 'lowest-priority' ? 1 : 0;
      let irte: AmdIrte;
      if (!ga) {
        if (s.guestMode) this.ctx.fail('guest mode needs the 128-bit format (amdvi-enable ga: true)', [...at, 'guestMode']);
        irte = { ...common, format: 'legacy', intType, rqEoi: s.rqEoi ?? false, destinationModeLogical: s.destinationMode === 'logical', guestMode: false, destination: s.destination ?? 0, vector: s.vector ?? 0 };
      } else if (s.guestMode) {
        const page = s.vcpu !== undefined ? avicBackingPage(this.backingBase, this.ctx.vcpu(s.vcpu, [...at, 'vcpu'])) : s.backingPage === undefined ? this.ctx.fail('a guest-mode IRTE names its vCPU or backingPage', at) : u64(s.backingPage);
        irte = { ...common, format: 'ga-vapic', gaLogIntr: s.gaLogIntr ?? false, gaPpiDis: false, isRun: s.isRun ?? false, destination: s.destination ?? 0, gaTag: s.gaTag ?? 0, vector: s.vector ?? 0, backingPage: page };
      } else {
        irte = { ...common, format: 'ga-remapped', intType, rqEoi: s.rqEoi ?? false, destinationModeLogical: s.destinationMode === 'logical', destination: s.destination ?? 0, vector: s.vector ?? 0 };
      }
      try {
        value = encodeAmdIrte(irte);
      } catch (e) {
        this.ctx.fail((e as Error).message, at);
      }
    }
    return [{ kind: 'write-memory', address, bytes, value, what: `AMD-Vi IRTE ${s.index} of ${owner} (ivhd${iommu}, ${ga ? '128-bit' : '32-bit'})` }];
  }

  private command(s: NonNullable<AmdViSteps['amd-command']>, at: Path): Action[] {
    const k = this.unit(s.iommu, [...at, 'iommu']);
    const cb = k.commandBuffer;
    if (cb === undefined) this.ctx.fail(`unit ${s.iommu} has no command buffer yet: amdvi-enable it first`, at);
    const deviceId = (): number => (s.deviceId === undefined ? this.ctx.fail(`${s.command} names its deviceId`, [...at, 'deviceId']) : this.ctx.key(s.deviceId, [...at, 'deviceId']).rid);
    let raw: bigint;
    switch (s.command) {
      case 'completion-wait': {
        const store = s.storeAddress === undefined ? undefined : u64(s.storeAddress);
        if (store !== undefined && (store & 7n) !== 0n) this.ctx.fail('the completion-wait store address is 8-byte aligned', [...at, 'storeAddress']);
        const data = s.data === undefined ? 0n : u64(s.data);
        raw = buildCommand('COMPLETION_WAIT', { S: store !== undefined, I: s.interrupt ?? false, F: false, StoreAddress: Number((store ?? 0n) >> 3n), DataLo: Number(data & 0xffff_ffffn), DataHi: Number(data >> 32n) });
        break;
      }
      case 'invalidate-devtab-entry':
        raw = buildCommand('INVALIDATE_DEVTAB_ENTRY', { DeviceID: deviceId() });
        break;
      case 'invalidate-interrupt-table':
        raw = buildCommand('INVALIDATE_INTERRUPT_TABLE', { DeviceID: deviceId() });
        break;
      case 'invalidate-iommu-pages': {
        const all = s.address === undefined;
        const page = all ? ALL_PAGES : u64(s.address!) & ~0xfffn;
        raw = buildCommand('INVALIDATE_IOMMU_PAGES', { PASID: 0, DomainID: s.domainId ?? 0, S: all, PDE: all, GN: false, Address: Number(page >> 12n) });
        break;
      }
      case 'invalidate-iommu-all':
        raw = buildCommand('INVALIDATE_IOMMU_ALL', {});
        break;
    }
    const address = cb.base + cb.tail;
    const tail = (cb.tail + 16n) % cb.bytes;
    return [
      { kind: 'write-memory', address, bytes: 16, value: raw, what: `${s.command} command at ivhd${s.iommu} command buffer offset 0x${cb.tail.toString(16)}` },
      this.register(s.iommu, 'COMMAND_TAIL', tail),
    ];
  }
}
