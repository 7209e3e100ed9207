/**
 * The transitions issue 15 goal 3 made cheaper with many devices, against what they did before:
 *
 * - `assign-device`, `grant`, `revoke` (now built from the state before the action and set at the
 *   root, src/platform/transition.ts): after every action of a random sequence the owners (entries
 *   and key order), the grants (in order) and the events equal a plain reference model's;
 * - `program-msix` (the devices record copied by src/util/keyed-record.ts): only the function
 *   programmed is a new object, every other one is shared, the key order is kept and the state
 *   before is unchanged;
 * - the memo of decoded latched IRTAs (src/vtd/interrupt-remapping.ts): interrupts that
 *   alternate between two units, or between two platforms whose unit 0 has different tables,
 *   are each remapped through their own unit's table.
 *
 * Fixed seeds; each check is shown able to fail against a deliberately broken transition or input.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyAction, applyActions } from '../../src/platform/transition.ts';
import { buildPlatform, type PlatformDescription } from '../../src/platform/build.ts';
import { irEnableSequence } from '../../src/platform/ir-enable.ts';
import { encodeIrte } from '../../src/vtd/irte.ts';
import { composeRemappableMsi } from '../../src/vtd/remappable-msi.ts';
import { grantCoversVector, type Grant, type PlatformState } from '../../src/platform/state.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';

const RUNS = { seed: 15_032, numRuns: 60 };
const DEVICES = [
  { key: '03:00.0', rid: 0x0300 },
  { key: '04:00.0', rid: 0x0400 },
  { key: '05:00.0', rid: 0x0500 },
];

/** x2APIC, 4 CPUs; `units` VT-d units (unit 0 names 03:00.0, the last takes the rest); host owns 03:00.0, guest 04:00.0, nobody 05:00.0. */
function description(units = 1): PlatformDescription {
  return {
    hostAddressWidth: 46,
    apicMode: 'x2apic',
    extendedDestinationId: false,
    apicIds: [0, 1, 2, 3],
    iommus: Array.from({ length: units }, (_, u) => ({
      segment: 0,
      registerBase: 0xfed9_0000n + BigInt(u) * 0x1000n,
      includePciAll: u === units - 1,
      scope: { endpoints: u === units - 1 ? [] : [0x0300], bridges: [], busRanges: [], ioapics: [], hpets: [] },
    })),
    devices: DEVICES.map((d) => ({ segment: 0, rid: d.rid, key: d.key, name: d.key, upstream: [], msix: { tableSize: 4 } })),
    domains: [
      { name: 'host', kind: 'host', cpus: [0, 1], devices: ['03:00.0'] },
      { name: 'guest', kind: 'guest', cpus: [2, 3], devices: ['04:00.0'] },
    ],
    grants: [{ requester: '03:00.0', target: { kind: 'pcpu', apicId: 0 }, vector: 0x30, deliveryModes: [0, 1] }],
  };
}

// --- The intent transitions against a reference model ----------------------------------------

class Reference {
  readonly owners = new Map<string, number>();
  grants: Grant[];
  constructor(s: PlatformState) {
    for (const [k, v] of Object.entries(s.intent.owners)) this.owners.set(k, v);
    this.grants = [...s.intent.grants];
  }
  /** The event kinds the action gives; the model updated as the transition must. */
  apply(a: Action, s: PlatformState): string[] {
    if (a.kind === 'assign-device') {
      if (s.devices[a.device] === undefined || !s.domains.some((d) => d.id === a.domain)) return ['action-rejected'];
      this.owners.set(a.device, a.domain);
      this.grants = this.grants.filter((g) => g.requester !== a.device);
    } else if (a.kind === 'grant') {
      this.grants = [...this.grants, a.grant];
    } else if (a.kind === 'revoke') {
      this.grants = this.grants.filter((g) => !(g.requester === a.requester && (a.vector === undefined || grantCoversVector(g, a.vector))));
    }
    return ['intent'];
  }
}

const device = fc.constantFrom('03:00.0', '04:00.0', '05:00.0', '06:00.0');
const vector = fc.integer({ min: 0x30, max: 0x33 });
const intentAction: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('assign-device' as const), device, domain: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ kind: fc.constant('grant' as const), grant: fc.record({ requester: device, target: fc.constant({ kind: 'pcpu' as const, apicId: 1 }), vector, deliveryModes: fc.constant([0]) }) }),
  fc.oneof(
    fc.record({ kind: fc.constant('revoke' as const), requester: device }),
    fc.record({ kind: fc.constant('revoke' as const), requester: device, vector }),
  ),
);

type Apply = (s: PlatformState, a: Action) => { state: PlatformState; events: readonly PlatformEvent[] };

const agreesWithReference = (apply: Apply) =>
  fc.property(fc.array(intentAction, { minLength: 1, maxLength: 25 }), (actions) => {
    let s = buildPlatform(description());
    const ref = new Reference(s);
    for (const a of actions) {
      const before = s;
      const kinds = ref.apply(a, before);
      const r = apply(before, a);
      s = r.state;
      expect(r.events.map((e) => e.kind)).toEqual(kinds);
      expect(Object.entries(s.intent.owners)).toEqual([...ref.owners]);
      expect(s.intent.grants).toEqual(ref.grants);
      expect(s.intent.dma).toBe(before.intent.dma);
      expect(s.devices).toBe(before.devices);
    }
  });

describe('assign-device, grant, revoke', () => {
  it('owners, grants and events equal the reference model after every action', () => {
    fc.assert(agreesWithReference(applyAction), RUNS);
  });

  it('is refuted for an assign-device that keeps the device’s grants', () => {
    const keepsGrants: Apply = (s, a) => {
      const r = applyAction(s, a);
      return a.kind === 'assign-device' ? { ...r, state: { ...r.state, intent: { ...r.state.intent, grants: s.intent.grants } } } : r;
    };
    expect(() => fc.assert(agreesWithReference(keepsGrants), RUNS)).toThrow();
  });
});

// --- program-msix: one function replaced, the rest shared -------------------------------------

/** Where program-msix may differ from the state before: only `devices[key]`; the checks fail otherwise. */
function checkOneFunctionReplaced(before: PlatformState, after: PlatformState, key: string): void {
  expect(Object.keys(after.devices)).toEqual(Object.keys(before.devices));
  for (const k of Object.keys(before.devices)) {
    if (k === key) expect(after.devices[k]).not.toBe(before.devices[k]);
    else expect(after.devices[k]).toBe(before.devices[k]);
  }
}

describe('program-msix', () => {
  it('replaces the function programmed and shares every other; the state before is unchanged', () => {
    fc.assert(
      fc.property(fc.constantFrom(...DEVICES.map((d) => d.key)), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0x30, max: 0xff }), (key, entry, data) => {
        const before = buildPlatform(description());
        const text = JSON.stringify(before.devices, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
        const r = applyAction(before, { kind: 'program-msix', device: key, entry, address: 0xfee0_0000n, data, masked: true });
        expect(r.events.map((e) => e.kind)).toEqual(['msi-config']);
        checkOneFunctionReplaced(before, r.state, key);
        expect(r.state.devices[key]!.msix!.table[entry]).toEqual({ address: 0xfee0_0000n, data, masked: true });
        expect(JSON.stringify(before.devices, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))).toBe(text);
      }),
      { seed: 15_033, numRuns: 20 },
    );
  });

  it('the check is refuted for a state that replaced another function too', () => {
    const before = buildPlatform(description());
    const r = applyAction(before, { kind: 'program-msix', device: '03:00.0', entry: 0, data: 0x41 });
    const alsoOther: PlatformState = { ...r.state, devices: { ...r.state.devices, '04:00.0': { ...r.state.devices['04:00.0']! } } };
    expect(() => checkOneFunctionReplaced(before, alsoOther, '03:00.0')).toThrow();
  });
});

// --- The latched IRTA memo across units and platforms ------------------------------------------------------------

const irte = (vector: number, sid: number, destination: number): bigint =>
  encodeIrte({ mode: 'remapped', present: true, fpd: false, avail: 0, destinationModeLogical: false, redirectionHint: false, triggerLevel: false, deliveryMode: 0, vector, destination, sid, sq: 0, svt: 1 });

/** A platform with IR on every unit, unit u's IRT at `bases[u]`, IRTE 0 of unit u giving `vectors[u]` (SID of the device on it). */
function remapping(bases: readonly bigint[], vectors: readonly number[]): PlatformState {
  const s = buildPlatform(description(bases.length));
  const sidOn = (u: number): number => (bases.length === 1 || u === 0 ? 0x0300 : 0x0400);
  const enable = bases.flatMap((base, u) => irEnableSequence(u, { base, eime: true, entries: 256 }).actions);
  const writes: Action[] = vectors.map((v, u) => ({ kind: 'write-irte', iommu: u, index: 0, value: irte(v, sidOn(u), 1) }));
  return applyActions(s, [...enable, ...writes]).state;
}

const m = composeRemappableMsi({ handle: 0, shv: false });
const write = (device: string): Action => ({ kind: 'msi-write', device, address: m.address, data: m.data });

/** The vector each write was delivered with (undefined: not delivered), the writes alternating over `runs`. */
function delivered(runs: readonly { state: PlatformState; device: string }[], rounds: number): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  for (let k = 0; k < rounds * runs.length; k++) {
    const { state, device } = runs[k % runs.length]!;
    const e = applyAction(state, write(device)).events.find((x) => x.kind === 'interrupt-delivered');
    out.push(e?.kind === 'interrupt-delivered' ? e.vector : undefined);
  }
  return out;
}

describe('latched IRTA memo', () => {
  it('interrupts alternating between two units are each remapped through their own table', () => {
    const s = remapping([0x1_0000_0000n, 0x1_0010_0000n], [0x41, 0x42]);
    expect(s.devices['03:00.0']!.iommu).toBe(0);
    expect(s.devices['04:00.0']!.iommu).toBe(1);
    expect(delivered([{ state: s, device: '03:00.0' }, { state: s, device: '04:00.0' }], 4)).toEqual([0x41, 0x42, 0x41, 0x42, 0x41, 0x42, 0x41, 0x42]);
  });

  it('two platforms whose unit 0 has different tables, alternating, each use their own', () => {
    const a = remapping([0x1_0000_0000n], [0x51]);
    const b = remapping([0x2_0000_0000n], [0x52]);
    expect(delivered([{ state: a, device: '03:00.0' }, { state: b, device: '03:00.0' }], 4)).toEqual([0x51, 0x52, 0x51, 0x52, 0x51, 0x52, 0x51, 0x52]);
  });

  it('the check is refuted for platforms whose tables are swapped', () => {
    const a = remapping([0x1_0000_0000n], [0x52]);
    const b = remapping([0x2_0000_0000n], [0x51]);
    expect(delivered([{ state: a, device: '03:00.0' }, { state: b, device: '03:00.0' }], 2)).not.toEqual([0x51, 0x52, 0x51, 0x52]);
  });
});
