/**
 * Scaling fixtures: the IEC-hit interrupt with 1, 16 and 256 devices on 1 and 8 remapping
 * units, and the plain mutable JavaScript baseline of the same step.
 *
 * Platform: x2APIC, 8 CPUs; `devices` PCI functions, function i at bus 0x10 + i/32, device
 * i%32 (each a single-function endpoint on a root bus: the default fabric); `units` DRHDs,
 * function i covered by unit i % units: units 0..units−2 name their functions in their
 * device scope (type-1 endpoints), the last one is the segment's INCLUDE_PCI_ALL unit and
 * takes the rest — as on a multi-DRHD server. Every unit has its own IRT (65,536 entries,
 * EIME=1, at 0x1_0000_0000 + unit·1 MiB) enabled by Linux's sequence and an IEC of 256
 * entries, so every configuration has the same cache geometry and all IRTEs stay cached.
 * Function i owns IRTE i/units of its unit (allocated per unit, as Linux does): remapped,
 * SVT=1/SQ=0 against the function's own requester ID, vector 0x30 + i%0xc0, physical
 * destination i%8. The base state has had one msi-write per function, so every IRTE is in
 * its unit's IEC.
 *
 * A batch is SCALING_BATCH msi-writes, write k from function k % devices (so the writes
 * cycle over the functions, and over the units in turn), each applied to the same base.
 *
 * The baseline ({@link MutableIrPlatform}) does the same step on plain mutable data: a Map
 * from device key to its unit and requester ID, per unit a Map from IRTE index to the
 * decoded entry, the same checks in the same order (interrupt window, IR enabled,
 * remappable format, data bits 31:16, index bound, IEC lookup, present/reserved,
 * source-ID verification, destination → target CPU) and the same event object, numbered by
 * its own counter; it copies and freezes nothing.
 */
import { buildPlatform, type PlatformDescription, type UnitDescription } from '../src/platform/build.ts';
import type { PlatformState } from '../src/platform/state.ts';
import type { Action } from '../src/platform/actions.ts';
import type { PlatformEvent } from '../src/platform/events.ts';
import { applyAction, applyActions } from '../src/platform/transition.ts';
import { irEnableSequence } from '../src/platform/ir-enable.ts';
import { composeRemappableMsi } from '../src/vtd/remappable-msi.ts';
import { formatBdf } from '../src/pci/bdf.ts';
import { decodeIrta, irtEntries, GLOBAL_STATUS_BITS } from '../src/vtd/registers.ts';
import { deepStrictEqual } from 'node:assert/strict';
import { timeInterleaved, type TimedCase } from './interleaved.ts';
import { irteValue } from './platform.ts';
import { fileURLToPath } from 'node:url';
import { iecLookup } from '../src/vtd/iec.ts';

export const SCALING_DEVICES = [1, 16, 256] as const;
export const SCALING_UNITS = [1, 8] as const;
/** msi-writes per timed iteration (a multiple of every device count, so each function writes as often). */
export const SCALING_BATCH = 256;
export const SCALING_CPUS = 8;
export const SCALING_IEC_CAPACITY = 256;
const IRT_BASE = 0x1_0000_0000n;
const IRT_STRIDE = 0x10_0000n;
const IRT_ENTRIES = 65536;

const ridOf = (i: number): number => ((0x10 + (i >> 5)) << 8) | ((i & 31) << 3);
const keyOf = (i: number): string => formatBdf(ridOf(i));

/** The IRTE of function i (on its unit, at index i / units). */
const irteOf = (i: number): bigint => irteValue(i, undefined, { cpus: SCALING_CPUS, sid: ridOf(i) });

export interface ScalingFixture {
  readonly devices: number;
  readonly units: number;
  /** The base state: IR on every unit, every function's IRTE written and in its unit's IEC. */
  readonly warm: PlatformState;
  /** The batch: write k from function k % devices. */
  readonly msis: readonly Action[];
  /** Per write of the batch: its function, unit and IRTE index (what the outcome must name). */
  readonly expected: readonly { readonly device: string; readonly iommu: number; readonly irteIndex: number; readonly target: number; readonly vector: number }[];
}

function description(devices: number, units: number): PlatformDescription {
  const unitOf = (i: number): number => i % units;
  const iommus: UnitDescription[] = Array.from({ length: units }, (_, u) => ({
    segment: 0,
    registerBase: 0xfed9_0000n + BigInt(u) * 0x1000n,
    includePciAll: u === units - 1,
    scope: {
      endpoints: u === units - 1 ? [] : Array.from({ length: devices }, (_, i) => i).filter((i) => unitOf(i) === u).map(ridOf),
      bridges: [],
      busRanges: [],
      ioapics: [],
      hpets: [],
    },
    iecCapacity: SCALING_IEC_CAPACITY,
  }));
  const keys = Array.from({ length: devices }, (_, i) => keyOf(i));
  return {
    hostAddressWidth: 46,
    apicMode: 'x2apic',
    extendedDestinationId: false,
    apicIds: Array.from({ length: SCALING_CPUS }, (_, i) => i),
    iommus,
    devices: keys.map((key, i) => ({ segment: 0, rid: ridOf(i), key, name: `nic${i}`, upstream: [], msix: { tableSize: 8 } })),
    domains: [{ name: 'host', kind: 'host', cpus: Array.from({ length: SCALING_CPUS }, (_, i) => i), devices: keys }],
    grants: [],
  };
}

/** The fixture for `devices` functions on `units` units (see the module comment). */
export function scalingFixture(devices: number, units: number): ScalingFixture {
  if (SCALING_BATCH % devices !== 0) throw new RangeError(`batch ${SCALING_BATCH} is not a multiple of ${devices} devices`);
  const enable = Array.from({ length: units }, (_, u) => irEnableSequence(u, { base: IRT_BASE + BigInt(u) * IRT_STRIDE, eime: true, entries: IRT_ENTRIES }).actions).flat();
  const writes: Action[] = Array.from({ length: devices }, (_, i) => ({ kind: 'write-irte', iommu: i % units, index: Math.floor(i / units), value: irteOf(i) }));
  const msiOf = (i: number): Action => {
    const m = composeRemappableMsi({ handle: Math.floor(i / units), shv: false });
    return { kind: 'msi-write', device: keyOf(i), address: m.address, data: m.data };
  };
  const written = applyActions(buildPlatform(description(devices, units)), [...enable, ...writes]).state;
  const warm = Array.from({ length: devices }, (_, i) => msiOf(i)).reduce((s, a) => applyAction(s, a).state, written);
  const msis = Array.from({ length: SCALING_BATCH }, (_, k) => msiOf(k % devices));
  const expected = Array.from({ length: SCALING_BATCH }, (_, k) => {
    const i = k % devices;
    return { device: keyOf(i), iommu: i % units, irteIndex: Math.floor(i / units), target: i % SCALING_CPUS, vector: 0x30 + (i % 0xc0) };
  });
  return { devices, units, warm, msis, expected };
}

/** One cached IRTE as the baseline keeps it: the decoded fields the IEC-hit step reads. */
interface PlainIrte {
  present: boolean;
  reserved: boolean;
  destinationLogical: boolean;
  redirectionHint: boolean;
  triggerLevel: boolean;
  deliveryMode: number;
  vector: number;
  destination: number;
  svt: number;
  sq: number;
  sid: number;
}

interface PlainUnit {
  irEnabled: boolean;
  eime: boolean;
  entries: number;
  iec: Map<number, PlainIrte>;
}

interface PlainDevice {
  key: string;
  rid: number;
  busRid: number;
  unit: number;
}

const SQ_MASKS = [0xffff, 0xfffb, 0xfff9, 0xfff8];

/**
 * The IEC-hit interrupt on plain mutable data (the baseline of the scaling benchmark),
 * loaded from a platform state. Only the IEC-hit remapped path: anything else throws,
 * so a fixture that does not hit is caught by the check before timing.
 */
export class MutableIrPlatform {
  step: number;
  private readonly devices = new Map<string, PlainDevice>();
  private readonly units: PlainUnit[] = [];
  private readonly apicIds: number[];

  constructor(s: PlatformState) {
    // The model stamps the bench's actions as step 0 (applyAction's default); so does this, from 0.
    this.step = 0;
    this.apicIds = s.cpus.map((c) => c.apicId);
    for (const u of s.iommus) {
      const irta = decodeIrta(u.regs.irtaLatched);
      const iec = new Map<number, PlainIrte>();
      for (const index of u.iec.order) {
        const e = iecLookup(u.iec, index)!;
        const t = e.irte;
        if (t.mode !== 'remapped') throw new Error('baseline: posted IRTEs are not modelled');
        iec.set(index, {
          present: t.present,
          reserved: e.reserved !== 0n,
          destinationLogical: t.destinationModeLogical,
          redirectionHint: t.redirectionHint,
          triggerLevel: t.triggerLevel,
          deliveryMode: t.deliveryMode,
          vector: t.vector,
          destination: t.destination >>> 0,
          svt: t.svt,
          sq: t.sq,
          sid: t.sid,
        });
      }
      this.units.push({ irEnabled: (u.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRES)) !== 0, eime: irta.eime, entries: irtEntries(irta.size), iec });
    }
    for (const [key, fn] of Object.entries(s.devices)) {
      if (fn.iommu === undefined) throw new Error(`baseline: ${key} has no remapping unit`);
      this.devices.set(key, { key, rid: fn.rid, busRid: fn.busRid, unit: fn.iommu });
    }
  }

  /** Apply one msi-write (IEC hit, remapped, physical x2APIC destination); returns its events. */
  msiWrite(a: Action): PlatformEvent[] {
    if (a.kind !== 'msi-write') throw new Error(`baseline: ${a.kind}`);
    const d = this.devices.get(a.device);
    if (d === undefined) throw new Error(`baseline: no device ${a.device}`);
    const address = a.address;
    const data = a.data >>> 0;
    if (address >> 20n !== 0xfeen || (a.rid !== undefined && a.rid !== d.rid)) throw new Error('baseline: not an interrupt from the function itself');
    const rid = d.busRid;
    const u = this.units[d.unit]!;
    if (!u.irEnabled) throw new Error('baseline: IR disabled');
    const low = Number(address & 0xffff_ffffn);
    if ((low & 0x10) === 0 || data >>> 16 !== 0) throw new Error('baseline: not a valid remappable request');
    const handle = (((low >>> 2) & 1) << 15) | ((low >>> 5) & 0x7fff);
    const index = (low & 0x8) !== 0 ? (handle + (data & 0xffff)) & 0xffff : handle;
    if (index >= u.entries) throw new Error('baseline: index over');
    const e = u.iec.get(index);
    if (e === undefined) throw new Error(`baseline: IEC miss at ${index}`);
    if (!e.present || e.reserved || e.destinationLogical || !u.eime) throw new Error('baseline: path not modelled');
    let sidOk: boolean;
    if (e.svt === 0) sidOk = true;
    else if (e.svt === 1) sidOk = (rid & SQ_MASKS[e.sq & 3]!) === (e.sid & SQ_MASKS[e.sq & 3]!);
    else if (e.svt === 2) sidOk = rid >> 8 >= e.sid >> 8 && rid >> 8 <= (e.sid & 0xff);
    else sidOk = false;
    if (!sidOk) throw new Error('baseline: source-ID mismatch');
    const targets: number[] = [];
    for (let c = 0; c < this.apicIds.length; c++) if (this.apicIds[c] === e.destination) targets.push(c);
    const step = this.step++;
    return [
      {
        kind: 'interrupt-delivered',
        device: d.key,
        rid,
        address,
        data,
        path: 'remapped',
        iommu: d.unit,
        irteIndex: index,
        iecHit: true,
        destination: e.destination,
        destinationMode: 'physical',
        vector: e.vector,
        deliveryMode: e.deliveryMode,
        triggerMode: e.triggerLevel ? 'level' : 'edge',
        redirectionHint: e.redirectionHint,
        targets,
        // A fixed-delivery physical message: the one APIC with the ID is the whole candidate set.
        candidates: targets,
        step,
      },
    ];
  }
}

function fail(message: string): never {
  throw new Error(`bench fixture check failed: scaling: ${message}`);
}

/**
 * Check that a fixture is what its name says before it is timed: every function on the
 * unit its DRHD scope gives it, every IRTE in its unit's IEC, and every write of the batch
 * an IEC hit, remapped through the function's own IRTE to its CPU, returning the very
 * state it was given; and that the baseline gives the same events.
 */
export function verifyScaling(f: ScalingFixture): void {
  const { warm, devices, units } = f;
  for (let i = 0; i < devices; i++) {
    const fn = warm.devices[keyOf(i)];
    if (fn === undefined || fn.iommu !== i % units || fn.busRid !== ridOf(i)) fail(`${keyOf(i)} on unit ${fn?.iommu} with requester ID ${fn?.busRid}`);
  }
  warm.iommus.forEach((u, k) => {
    const expected = Array.from({ length: devices }, (_, i) => i).filter((i) => i % units === k).map((i) => Math.floor(i / units));
    if (JSON.stringify(u.iec.order) !== JSON.stringify(expected)) fail(`unit ${k} IEC holds ${u.iec.order.length} entries`);
  });
  const baseline = new MutableIrPlatform(warm);
  f.msis.forEach((a, k) => {
    const x = f.expected[k]!;
    const r = applyAction(warm, a);
    const e = r.events[0];
    if (r.events.length !== 1 || e === undefined || e.kind !== 'interrupt-delivered') fail(`write ${k}: ${r.events.map((v) => v.kind).join(',')}`);
    if (e.path !== 'remapped' || e.iecHit !== true || e.device !== x.device || e.iommu !== x.iommu || e.irteIndex !== x.irteIndex || e.vector !== x.vector || e.targets.length !== 1 || e.targets[0] !== x.target) {
      fail(`write ${k} from ${x.device}: ${JSON.stringify({ ...e, address: undefined })}`);
    }
    if (r.state !== warm) fail(`write ${k}: an IEC hit changed the state`);
    baseline.step = 0;
    try {
      deepStrictEqual(baseline.msiWrite(a), r.events);
    } catch (err) {
      fail(`write ${k}: the baseline's events differ from applyAction's: ${(err as Error).message}`);
    }
  });
}

let sink: unknown;

/** The configuration's name, e.g. `256 devices, 8 units`. */
export const scalingName = (devices: number, units: number): string => `${devices} device${devices === 1 ? '' : 's'}, ${units} unit${units === 1 ? '' : 's'}`;

/**
 * Every configuration, checked, with its two timed cases: the batch through `applyAction`
 * on the frozen base state, and the same batch on the baseline.
 */
export function scalingCases(): { fixture: ScalingFixture; model: TimedCase; baseline: TimedCase }[] {
  return SCALING_UNITS.flatMap((units) =>
    SCALING_DEVICES.map((devices) => {
      const fixture = scalingFixture(devices, units);
      verifyScaling(fixture);
      const { warm, msis } = fixture;
      const plain = new MutableIrPlatform(warm);
      const name = scalingName(devices, units);
      return {
        fixture,
        model: { name: `${name}: applyAction`, ops: msis.length, run: () => { for (const a of msis) sink = applyAction(warm, a); } },
        baseline: { name: `${name}: mutable baseline`, ops: msis.length, run: () => { for (const a of msis) sink = plain.msiWrite(a); } },
      };
    }),
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  // `tsx bench/scaling.ts [ROUNDS] [SLICE_MS]`: this section alone, printed (BENCHMARKS.md is left as it is).
  const rounds = Number(process.argv[2] ?? 10);
  const sliceMs = Number(process.argv[3] ?? 100);
  const configs = scalingCases();
  const t = timeInterleaved(configs.flatMap((c) => [c.model, c.baseline]), rounds, sliceMs);
  const ns = (devices: number, units: number): [number, number] => {
    const i = configs.findIndex((c) => c.fixture.devices === devices && c.fixture.units === units);
    return [t[2 * i]!.nsPerOp, t[2 * i + 1]!.nsPerOp];
  };
  configs.forEach((c, i) => console.log(`${scalingName(c.fixture.devices, c.fixture.units).padEnd(21)} applyAction ${t[2 * i]!.nsPerOp.toFixed(0).padStart(5)} ns  baseline ${t[2 * i + 1]!.nsPerOp.toFixed(0).padStart(4)} ns  ${(t[2 * i]!.nsPerOp / t[2 * i + 1]!.nsPerOp).toFixed(2)}×`));
  for (const u of SCALING_UNITS) console.log(`256 vs 1 device, ${u} unit(s): applyAction ${(ns(256, u)[0] / ns(1, u)[0]).toFixed(2)}×, baseline ${(ns(256, u)[1] / ns(1, u)[1]).toFixed(2)}×`);
  for (const d of SCALING_DEVICES) console.log(`8 vs 1 unit, ${d} device(s): applyAction ${(ns(d, 8)[0] / ns(d, 1)[0]).toFixed(2)}×, baseline ${(ns(d, 8)[1] / ns(d, 1)[1]).toFixed(2)}×`);
}
