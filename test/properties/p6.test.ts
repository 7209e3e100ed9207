/**
 * P6 (fault accountability, src/properties/p6-fault-accountability.ts) over random device
 * requests: a platform with interrupt remapping (IRTEs with and without FPD, a not-present
 * one with FPD, one validated for another device) and DMA remapping (one mapped page, one
 * read-only page, one translated into the interrupt range), few fault records so they
 * overflow, and software clearing records at random. Every request the IOMMU rejects must be
 * in an FRCD, or lost with FSTS.PFO set, or suppressed by an FPD that allows it; P6 holds
 * over 300 random runs.
 *
 * It can fail: with a fault recorder that drops records (the unit unchanged, no FRCD, no
 * PFO) or one that claims a record it never wrote — both a test-only replacement of
 * src/vtd/fault-recording.ts through `vi.mock` — the same property is refuted, shrunk to one
 * rejected request, and replayed from the printed seed and path. `remapsim run` then prints
 * the P6 verdict as VIOLATED.
 */
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { formatTrace } from '../../src/scenario/trace.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import { checkFaultAccountability, emptyFaultTally, type FaultTally } from '../../src/properties/p6-fault-accountability.ts';
import { composeRemappableMsi } from '../../src/vtd/remappable-msi.ts';

/** Which recorder the platform uses: the real one, one that drops records, one that claims FRCD0 without writing it. */
const recorder = vi.hoisted(() => ({ mode: 'real' as 'real' | 'drop' | 'claim' }));

vi.mock('../../src/vtd/fault-recording.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/vtd/fault-recording.ts')>();
  const broken =
    <F extends (unit: never, fault: never) => { unit: unknown; record: number | undefined }>(f: F): F =>
    ((unit: never, fault: never) => (recorder.mode === 'drop' ? { unit, record: undefined } : recorder.mode === 'claim' ? { unit, record: 0 } : f(unit, fault))) as F;
  return { ...real, recordInterruptFault: broken(real.recordInterruptFault), recordDmaFault: broken(real.recordDmaFault) };
});

const SEED = 0x5eed_0006;

/** Two functions of vm1, IR on (x2APIC, EIME=1) and legacy DMA remapping; CAP.NFR gives 4 fault records. */
const BASE = `name: p6
platform:
  hostAddressWidth: 46
  apicMode: x2apic
  cpus: { count: 2 }
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x00d2038c106f0462 }
devices:
  - { bdf: "07:00.0" }
  - { bdf: "07:00.1" }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1], devices: ["07:00.0", "07:00.1"] }
grants:
  - { device: "07:00.0", vector: 0x30, apicId: 1 }
steps:
  - enable-dma: { iommu: 0 }
  - map-dma:
      iommu: 0
      device: "07:00.0"
      did: 1
      mode: legacy
      mappings:
        - { iova: 0x10000, hpa: 0x80000000, size: 0x1000 }
        - { iova: 0x11000, hpa: 0x80001000, size: 0x1000, write: false }
        - { iova: 0x12000, hpa: 0xfee00000, size: 0x1000 }
  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 16 }
  - irte: { iommu: 0, index: 0, vector: 0x30, destination: 1, svt: requester-id, sq: 0, sid: "07:00.0" }
  - irte: { iommu: 0, index: 1, vector: 0x31, destination: 1, svt: requester-id, sq: 0, sid: "07:00.0", fpd: true }
  - irte: { iommu: 0, index: 2, present: false, fpd: true }
  - irte: { iommu: 0, index: 3, vector: 0x32, destination: 1, svt: requester-id, sq: 0, sid: "07:00.1" }
  - invalidate-iec: { iommu: 0 }
`;

const base = runScenario(compileScenario(parseScenarioText(BASE, 'p6.yaml'))).final;
const DEVICES = ['07:00.0', '07:00.1'] as const;
const IOVAS = [0x10000n, 0x11000n, 0x12000n, 0x13000n, 0xfee00000n];

/** One request or software action: an interrupt request (handle 0..20, compatibility or reserved data), a DMA, or clearing a record. */
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ device: fc.constantFrom(...DEVICES), handle: fc.nat({ max: 20 }), compat: fc.boolean(), data: fc.constantFrom(0, 0, 0, 0x10000) }).map(
    ({ device, handle, compat, data }): Action => ({ kind: 'msi-write', device, address: compat ? 0xfee0_1000n : composeRemappableMsi({ handle, shv: false }).address, data: compat ? 0x30 : data }),
  ),
  fc.record({ device: fc.constantFrom(...DEVICES), iova: fc.constantFrom(...IOVAS), offset: fc.nat({ max: 0xff8 }), size: fc.constantFrom(1, 4, 8), write: fc.boolean() }).map(
    ({ device, iova, offset, size, write }): Action => ({ kind: 'dma', device, address: iova + BigInt(offset & ~7), size, write, value: 0x30n }),
  ),
  fc.nat({ max: 3 }).map((record): Action => ({ kind: 'clear-fault', iommu: 0, record })),
);

/** P6 judged after every action of a run from the base state; the first violation (its action's index and message), if any. */
function firstViolation(actions: readonly Action[], tally?: FaultTally): { index: number; message: string } | undefined {
  let s: PlatformState = base;
  for (let i = 0; i < actions.length; i++) {
    const r = applyAction(s, actions[i]!);
    s = r.state;
    const v = checkFaultAccountability(s, r.events, tally);
    if (v.length > 0) return { index: i, message: v[0]!.message };
  }
  return undefined;
}

const runs = fc.array(actionArb, { minLength: 1, maxLength: 30 });

describe('P6 fault accountability', () => {
  it('holds with the real recorder over random runs, and the runs reach every way of accounting', () => {
    recorder.mode = 'real';
    const tally = emptyFaultTally();
    fc.assert(
      fc.property(runs, (actions) => firstViolation(actions, tally) === undefined),
      { seed: SEED, numRuns: 300 },
    );
    expect(tally.recorded).toBeGreaterThan(0);
    expect(tally.overflow).toBeGreaterThan(0);
    expect(tally.suppressed).toBeGreaterThan(0);
    expect(tally.aborted).toBeGreaterThan(0);
    expect(tally.unaccounted).toBe(0);
  });

  for (const mode of ['drop', 'claim'] as const) {
    it(`is refuted with a recorder that ${mode === 'drop' ? 'drops records' : 'claims a record it never wrote'}: shrunk to one rejected request, replayed from seed and path`, () => {
      recorder.mode = mode;
      try {
        const result = fc.check(fc.property(runs, (actions) => firstViolation(actions) === undefined), { seed: SEED, numRuns: 300 });
        expect(result.failed).toBe(true);
        const [actions] = result.counterexample!;
        console.log(`P6 counterexample with the ${mode} recorder (seed ${result.seed}, path ${result.counterexamplePath}):`, JSON.stringify(actions, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)));
        // The first action already violates it: one rejected request.
        const v = firstViolation(actions)!;
        expect(v.index).toBe(0);
        expect(v.message).toMatch(mode === 'drop' ? /is not accounted for: no FRCD holds it/ : /the event names FRCD0, but FRCD0 is not pending/);
        const replay = fc.check(fc.property(runs, (a) => firstViolation(a) === undefined), { seed: result.seed, path: result.counterexamplePath!, numRuns: 1 });
        expect(replay.failed).toBe(true);
        expect(replay.counterexample![0]).toEqual(actions);
      } finally {
        recorder.mode = 'real';
      }
    });
  }

  it('remapsim run prints the verdict: HELD with the real recorder, VIOLATED with one that drops', () => {
    const text = BASE + '  - msi: { device: "07:00.1", address: 0xfee00010, data: 0 }\n  - dma: { device: "07:00.0", address: 0x11000, size: 4, value: 0x1 }\n  - msi: { device: "07:00.1", address: 0xfee00030, data: 0 }\n';
    recorder.mode = 'real';
    const held = runScenario(compileScenario(parseScenarioText(text, 'p6.yaml')));
    expect(held.ok).toBe(true);
    expect(formatTrace(held)).toContain('P6 fault accountability: HELD (3 rejected requests: 3 by the IOMMU (2 recorded in FRCDs, 0 lost to overflow with FSTS.PFO set, 1 suppressed by FPD))');
    recorder.mode = 'drop';
    try {
      const broken = runScenario(compileScenario(parseScenarioText(text, 'p6.yaml')));
      expect(broken.ok).toBe(false);
      const trace = formatTrace(broken);
      expect(trace).toMatch(/^VIOLATION P6 at action \d+: 07:00\.1's interrupt request 0xfee00010\/0x0 blocked by dmar0 with fault 0x26 \(index 0x0\) is not accounted for: no FRCD holds it, FSTS\.PFO is clear, and no FPD suppresses it$/m);
      expect(trace).toMatch(/^VIOLATION P6 at action \d+: 07:00\.0's DMA write of IOVA 0x11000 blocked by dmar0 with fault 0x5 \(no-write\) is not accounted for/m);
      expect(trace).toContain('P6 fault accountability: VIOLATED (2 violation(s); 3 rejected requests: 3 by the IOMMU (0 recorded in FRCDs, 0 lost to overflow with FSTS.PFO set, 1 suppressed by FPD, 2 unaccounted))');
    } finally {
      recorder.mode = 'real';
    }
  });
});
