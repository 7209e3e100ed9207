/**
 * P1 (interrupt isolation) over random IRT contents and random device writes.
 *
 * The hypervisor is correct: it programs an IRTE for each grant it issues, with
 * SVT=1, SQ=0 and SID = the granted device, IR on in x2APIC mode, CFI clear. Devices
 * are adversarial: any of them writes any dword anywhere in the interrupt window (any
 * handle, SHV, subhandle, compatibility or remappable format, reserved bits). P1 must
 * hold. The same property against a hypervisor that sets SVT=0 must be refuted: a
 * device that uses another device's handle gets its interrupt delivered.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildPlatform, type PlatformDescription } from '../../src/platform/build.ts';
import { applyAction, applyActions } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { Grant } from '../../src/platform/state.ts';
import { checkInterruptIsolation } from '../../src/properties/p1-interrupt-isolation.ts';
import { encodeIrte, irteDestinationField } from '../../src/vtd/irte.ts';
import { irEnableSequence } from '../../src/platform/ir-enable.ts';
import { requesterId, formatBdf } from '../../src/pci/bdf.ts';

const SEED = 0x5eed_0001;
const DEVICES = [requesterId(1, 0, 0), requesterId(1, 0, 1), requesterId(2, 0, 0)];
const KEYS = DEVICES.map((rid) => formatBdf(rid));
const APIC_IDS = [0, 1, 2, 3, 0x100, 0x1234];
const IRT_BASE = 0x1000_0000n;

function platform(grants: Grant[]): PlatformDescription {
  return {
    hostAddressWidth: 39,
    apicMode: 'x2apic',
    extendedDestinationId: false,
    apicIds: APIC_IDS,
    iommus: [{ segment: 0, registerBase: 0xfed90000n, includePciAll: true, scope: { endpoints: [], bridges: [], busRanges: [], ioapics: [], hpets: [] } }],
    devices: DEVICES.map((rid, i) => ({ key: KEYS[i]!, rid, segment: 0, name: `dev${i}`, upstream: [] })),
    domains: [
      { name: 'host', kind: 'host', cpus: [0, 1], devices: [] },
      { name: 'vm1', kind: 'guest', cpus: [2, 3], devices: [KEYS[0]!, KEYS[1]!] },
      { name: 'vm2', kind: 'guest', cpus: [4, 5], devices: [KEYS[2]!] },
    ],
    grants,
  };
}

/** One IRTE the hypervisor programs: index, owner device, vector, target APIC ID. */
const irteArb = fc.record({
  index: fc.integer({ min: 0, max: 255 }),
  device: fc.integer({ min: 0, max: DEVICES.length - 1 }),
  vector: fc.integer({ min: 16, max: 255 }),
  apic: fc.integer({ min: 0, max: APIC_IDS.length - 1 }),
  deliveryMode: fc.constantFrom(0, 1),
});

/** An adversarial device write into the interrupt window, biased toward programmed handles. */
const writeArb = fc.record({
  device: fc.integer({ min: 0, max: DEVICES.length - 1 }),
  address: fc.oneof(
    // remappable, a handle in the programmed range, SHV either way
    fc.record({ handle: fc.integer({ min: 0, max: 300 }), shv: fc.boolean(), low: fc.integer({ min: 0, max: 3 }) }).map(
      ({ handle, shv, low }) => 0xfee0_0000n | BigInt((handle & 0x7fff) << 5) | BigInt((handle >> 15) << 2) | 0x10n | (shv ? 8n : 0n) | BigInt(low),
    ),
    // anything in the window: compatibility format, any handle
    fc.integer({ min: 0, max: 0xf_ffff }).map((low) => 0xfee0_0000n | BigInt(low)),
  ),
  data: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffff_ffff })),
});

type ArbValue<A> = A extends fc.Arbitrary<infer T> ? T : never;
interface Config {
  irtes: ArbValue<typeof irteArb>[];
  writes: ArbValue<typeof writeArb>[];
}

const configArb: fc.Arbitrary<Config> = fc.record({
  irtes: fc.array(irteArb, { minLength: 1, maxLength: 12 }),
  writes: fc.array(writeArb, { minLength: 1, maxLength: 20 }),
});

/** Run a configuration; `svt` is what the hypervisor writes in every IRTE. Returns P1 violations. */
function violations(config: Config, svt: number) {
  const byIndex = new Map(config.irtes.map((e) => [e.index, e])); // last write wins, as in memory
  const grants: Grant[] = [...byIndex.values()].flatMap((e) => {
    return [{ requester: KEYS[e.device]!, target: { kind: 'pcpu' as const, apicId: APIC_IDS[e.apic]! }, vector: e.vector, deliveryModes: [0, 1] }];
  });
  const setup: Action[] = [
    ...irEnableSequence(0, { base: IRT_BASE, eime: true, entries: 256 }).actions,
    ...[...byIndex.values()].map((e): Action => ({
        kind: 'write-irte',
        iommu: 0,
        index: e.index,
        value: encodeIrte({
          mode: 'remapped',
          present: true,
          fpd: false,
          avail: 0,
          destinationModeLogical: false,
          redirectionHint: false,
          triggerLevel: false,
          deliveryMode: e.deliveryMode,
          vector: e.vector,
          destination: irteDestinationField(APIC_IDS[e.apic]!, true),
          sid: DEVICES[e.device]!,
          sq: 0,
          svt,
        }),
      })),
  ];
  let { state } = applyActions(buildPlatform(platform(grants)), setup);
  const found = [];
  for (const w of config.writes) {
    const r = applyAction(state, { kind: 'msi-write', device: KEYS[w.device]!, address: w.address, data: w.data });
    state = r.state;
    found.push(...checkInterruptIsolation(state, r.events));
  }
  return found;
}

describe('P1 interrupt isolation', () => {
  it('holds with SVT=1, SQ=0, CFI=0 for random IRT contents and adversarial device writes', () => {
    fc.assert(
      fc.property(configArb, (config) => {
        expect(violations(config, 1)).toEqual([]);
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('is refuted with SVT=0: fast-check finds a device using another device\'s handle', () => {
    const result = fc.check(
      fc.property(configArb, (config) => violations(config, 0).length === 0),
      { seed: SEED, numRuns: 400 },
    );
    expect(result.failed).toBe(true);
    const counterexample = result.counterexample?.[0] as Config | undefined;
    expect(counterexample).toBeDefined();
    const found = violations(counterexample!, 0);
    expect(found.length).toBeGreaterThan(0);
    // The forged delivery is attributed to a device that was not granted it.
    expect(found[0]!.message).toMatch(/no grant covers it/);
    console.log(`P1 counterexample with SVT=0 (seed ${result.seed}, path ${result.counterexamplePath}):`, JSON.stringify(counterexample, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)));
    // The shrunk counterexample is small: one IRTE, and a forged write by a device that does not own it.
    expect(counterexample!.irtes.length).toBe(1);
    expect(counterexample!.writes.length).toBeLessThanOrEqual(2);
    expect(counterexample!.writes.some((w) => w.device !== counterexample!.irtes[0]!.device)).toBe(true);
    // Replayable: the seed and path reproduce it.
    const replay = fc.check(fc.property(configArb, (config) => violations(config, 0).length === 0), {
      seed: result.seed,
      path: result.counterexamplePath!,
    });
    expect(replay.failed).toBe(true);
  });
});
