/**
 * Requests to the interrupt address range 0xFEE0_0000–0xFEEF_FFFF (src/platform/dma-access.ts;
 * docs/fidelity.md "The interrupt address range"):
 *
 * - a DWORD write without PASID is an interrupt request, with IR on or off, with or without a
 *   unit (VT-d §5.1.4), never DMA-remapped (VT-d §3.14);
 * - anything else without PASID there — 1-, 2-, 8-, 16-, 64-byte writes, a misaligned 4-byte
 *   write, a read — is a malformed MSI, aborted by the root complex as an Unsupported Request
 *   before interrupt remapping (XSA-59): no delivery, no memory access, no FRCD; with
 *   `urSignaling: serr-nmi` it raises an NMI on the BSP, which P1 catches;
 * - a PASID request there is translated like any other (VT-d §3.14), and aborted when nothing
 *   translates it; pass-through to the range is blocked (SGN.8, 0x87);
 * - a translation whose output lands in the range faults 0x0E (legacy) / 0x87 (scalable) for
 *   writes as for reads, recorded unless the context entry's FPD suppresses it; the access's
 *   own address decides, so a large page overlapping the range still reaches memory outside it;
 * - P6 holds through all of it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { formatTrace } from '../../src/scenario/trace.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import { decodeFaultRecord } from '../../src/vtd/fault-record.ts';
import { decodeFsts } from '../../src/vtd/registers.ts';
import { checkFaultAccountability } from '../../src/properties/p6-fault-accountability.ts';
import { SCALABLE_ECAP } from '../../src/platform/build.ts';

const run = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'window.yaml')));
const outcomes = (events: readonly PlatformEvent[]): string[] =>
  events.map((e) => e.kind).filter((k) => ['interrupt-delivered', 'interrupt-fault', 'interrupt-posted', 'dma-access', 'dma-fault', 'unsupported-request'].includes(k));
const only = <K extends PlatformEvent['kind']>(events: readonly PlatformEvent[], kind: K): Extract<PlatformEvent, { kind: K }> => {
  const found = events.filter((e): e is Extract<PlatformEvent, { kind: K }> => e.kind === kind);
  expect(found, `${kind} in ${events.map((e) => e.kind).join(', ')}`).toHaveLength(1);
  return found[0]!;
};
const last = (r: RunResult): readonly PlatformEvent[] => r.steps[r.steps.length - 1]!.events;
/** Pending FRCDs of unit 0 and its FSTS. */
const faultState = (s: PlatformState): { pending: number[]; fsts: number } => ({
  pending: s.iommus[0]!.frcd.flatMap((raw, i) => (decodeFaultRecord(raw).record.fault ? [i] : [])),
  fsts: s.iommus[0]!.regs.fsts,
});

/** A scalable-mode unit: the R820's CAP with PI, a real scalable-mode ECAP (src/platform/build.ts). */
const SCALABLE_CAPS = `cap: 0x08d2078c106f0462, ecap: 0x${SCALABLE_ECAP.toString(16)}`;

/** vm1 owns 07:00.0, granted 0x30 on cpu1. `setup` lines go first in `steps`. */
function scenario(o: { iommus?: string; urSignaling?: string; steps: string[] }): string {
  return [
    'name: window',
    'platform:',
    '  hostAddressWidth: 46',
    '  apicMode: x2apic',
    ...(o.urSignaling === undefined ? [] : [`  urSignaling: ${o.urSignaling}`]),
    '  cpus: { count: 2 }',
    `  iommus: ${o.iommus ?? '[{ registerBase: 0xfed90000, includePciAll: true }]'}`,
    'devices:',
    '  - { bdf: "07:00.0", msix: { tableSize: 2 } }',
    'domains:',
    '  - { name: host, kind: host, cpus: [0] }',
    '  - { name: vm1, kind: guest, cpus: [1], devices: ["07:00.0"] }',
    'grants:',
    '  - { device: "07:00.0", vector: 0x30, apicId: 1 }',
    o.steps.length === 0 ? 'steps: []' : 'steps:',
    ...o.steps.map((s) => `  - ${s}`),
  ].join('\n') + '\n';
}

const IR_ON = ['enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }', 'irte: { iommu: 0, index: 0, vector: 0x30, destination: 1, svt: requester-id, sq: 0, sid: "07:00.0" }', 'invalidate-iec: { iommu: 0, index: 0 }'];
const TE_ON = ['enable-dma: { iommu: 0 }', 'map-dma: { iommu: 0, device: "07:00.0", did: 1, mode: legacy, mappings: [{ iova: 0x10000, hpa: 0x80000000, size: 0x1000 }] }'];
const dma = (address: string, size: number, write = true, extra = ''): string => `dma: { device: "07:00.0", address: ${address}, size: ${size}${write ? ', value: 0x30' : ', write: false'}${extra} }`;

/** The malformed requests of the brief: every size but 4, a misaligned DWORD, a read. */
const MALFORMED: readonly { readonly what: string; readonly step: string; readonly why: string }[] = [
  ...[1, 2, 8, 16, 64].map((size) => ({ what: `${size}-byte write`, step: dma('0xfee01000', size), why: 'not-dword' })),
  { what: 'misaligned 4-byte write', step: dma('0xfee01002', 4), why: 'misaligned' },
  { what: 'read', step: dma('0xfee01000', 4, false), why: 'read' },
];

const CONFIGS: readonly { readonly name: string; readonly iommus?: string; readonly setup: readonly string[] }[] = [
  { name: 'IR off, DMA remapping off', setup: [] },
  { name: 'IR off, DMA remapping on', setup: TE_ON },
  { name: 'IR on (EIME=1), DMA remapping on', setup: [...TE_ON, ...IR_ON] },
  { name: 'no remapping unit', iommus: '[]', setup: [] },
];

describe('a DWORD write into the window is an interrupt request', () => {
  it('IR off: delivered in compatibility format, DMA remapping or not (VT-d §3.14, §5.1.4)', () => {
    for (const setup of [[], TE_ON]) {
      const r = run(scenario({ steps: [...setup, dma('0xfee01000', 4)] }));
      const e = only(last(r), 'interrupt-delivered');
      expect(e).toMatchObject({ path: 'compatibility', vector: 0x30, targets: [1] });
      expect(outcomes(last(r))).toEqual(['interrupt-delivered']);
    }
  });

  it('IR on: remapped through the IRTE, or blocked with the interrupt-remapping fault', () => {
    const r = run(scenario({ steps: [...TE_ON, ...IR_ON, dma('0xfee00010', 4, true).replace('0x30', '0x0'), dma('0xfee01000', 4)] }));
    expect(only(r.steps.at(-2)!.events, 'interrupt-delivered')).toMatchObject({ path: 'remapped', irteIndex: 0, vector: 0x30 });
    expect(only(last(r), 'interrupt-fault')).toMatchObject({ reason: 0x25, frcd: 0 });
  });

  it('no remapping unit: delivered in compatibility format', () => {
    const r = run(scenario({ iommus: '[]', steps: [dma('0xfee01000', 4)] }));
    expect(only(last(r), 'interrupt-delivered')).toMatchObject({ path: 'compatibility', iommu: undefined, vector: 0x30 });
  });
});

describe('a malformed request to the window is an Unsupported Request (XSA-59)', () => {
  for (const c of CONFIGS) {
    for (const m of MALFORMED) {
      it(`${c.name}: ${m.what} — aborted, never delivered, never memory, no fault recorded`, () => {
        const before = run(scenario({ ...(c.iommus === undefined ? {} : { iommus: c.iommus }), steps: [...c.setup] }));
        const r = run(scenario({ ...(c.iommus === undefined ? {} : { iommus: c.iommus }), steps: [...c.setup, m.step] }));
        expect(outcomes(last(r))).toEqual(['unsupported-request']);
        expect(only(last(r), 'unsupported-request')).toMatchObject({ device: '07:00.0', why: m.why, signalled: 'none' });
        if (c.iommus === undefined) expect(faultState(r.final)).toEqual(faultState(before.final));
        expect(r.final.memory.readLE(0xfee01000n, 8)).toBe(0n);
        expect(r.ok).toBe(true);
      });
    }
  }

  it('the trace names it and P6 counts it as the root complex\'s, not the IOMMU\'s', () => {
    const t = formatTrace(run(scenario({ steps: [...TE_ON, ...IR_ON, dma('0xfee00018', 8)] })));
    expect(t).toContain('07:00.0 DMA write 8 B at 00000000fee00018 ← 0000000000000030 → UNSUPPORTED REQUEST (not a DWORD write): aborted by the root complex before interrupt remapping, no fault recorded; UR signalling masked');
    expect(t).toContain('P6 fault accountability: HELD (1 rejected requests: 1 aborted by the root complex as Unsupported Requests)');
  });

  it('with UR reported as SERR#, the abort is an NMI on the BSP that no grant covers (P1)', () => {
    const r = run(scenario({ urSignaling: 'serr-nmi', steps: [...TE_ON, ...IR_ON, dma('0xfee00018', 8)] }));
    expect(outcomes(last(r))).toEqual(['unsupported-request', 'interrupt-delivered']);
    expect(only(last(r), 'unsupported-request').signalled).toBe('serr-nmi');
    expect(only(last(r), 'interrupt-delivered')).toMatchObject({ path: 'system-error', deliveryMode: 4, targets: [0], candidates: [0] });
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]!.message).toMatch(/reached cpu0 \(APIC 0\) with vector 0x2 nmi via the system-error path: no grant covers it/);
    expect(formatTrace(r)).toContain('07:00.0 Unsupported Request reported as SERR# → NMI dest 0x0 → cpu0 (interrupt remapping never saw it)');
  });

  it('any request to the window: a DWORD write is an interrupt request, anything else is aborted (1,000 random requests)', () => {
    const bases = CONFIGS.map((c) => run(scenario({ ...(c.iommus === undefined ? {} : { iommus: c.iommus }), steps: [...c.setup] })).final);
    fc.assert(
      fc.property(fc.nat({ max: bases.length - 1 }), fc.integer({ min: 0, max: 0xfffff }), fc.integer({ min: 1, max: 64 }), fc.boolean(), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (b, offset, size, write, value) => {
        // Within one 4 KiB page, as a request on the bus is.
        const within = Math.min(offset & 0xfff, 0x1000 - size);
        const at = 0xfee0_0000n + BigInt((offset & ~0xfff) + within);
        const v = value & ((1n << BigInt(8 * size)) - 1n);
        const { events } = applyAction(bases[b]!, { kind: 'dma', device: '07:00.0', address: at, size, write, value: v });
        const kinds = outcomes(events);
        const dword = write && size === 4 && (at & 3n) === 0n;
        if (dword) expect(kinds[0]).toMatch(/^interrupt-(delivered|fault)$/);
        else expect(kinds).toEqual(['unsupported-request']);
        expect(kinds).not.toContain('dma-access');
      }),
      { seed: 59, numRuns: 1000 },
    );
  });
});

describe('a request with PASID to the window is not an interrupt request (VT-d §3.14)', () => {
  const iommus = `[{ registerBase: 0xfed90000, includePciAll: true, ${SCALABLE_CAPS} }]`;
  const map = (mode: string, mapping: string): string => `map-dma: { iommu: 0, device: "07:00.0", did: 1, mode: ${mode}, pasid: 5, mappings: [${mapping}] }`;

  it('second stage: translated normally to memory', () => {
    const r = run(scenario({ iommus, steps: ['enable-dma: { iommu: 0, scalable: true }', map('second-stage', '{ iova: 0xfee00000, hpa: 0x80000000, size: 0x1000 }'), dma('0xfee00018', 4, true, ', pasid: 5')] }));
    expect(outcomes(last(r))).toEqual(['dma-access']);
    expect(only(last(r), 'dma-access')).toMatchObject({ hpa: 0x80000018n, pasid: 5, translation: 'walk' });
  });

  it('pass-through: the output is in the range, blocked with SGN.8 (0x87) and recorded', () => {
    const r = run(scenario({ iommus, steps: ['enable-dma: { iommu: 0, scalable: true }', map('pass-through', '{ iova: 0x0, hpa: 0x0, size: 0x1000 }'), dma('0xfee00018', 4, true, ', pasid: 5')] }));
    const f = only(last(r), 'dma-fault');
    expect(f).toMatchObject({ reason: 0x87, condition: 'interrupt-range-output', pasid: 5 });
    expect(f.frcd).toBeDefined();
    expect(r.accountability).toEqual([]);
  });

  it('with no DMA remapping to translate it: aborted as an Unsupported Request', () => {
    const r = run(scenario({ steps: [dma('0xfee00018', 4, true, ', pasid: 5')] }));
    expect(only(last(r), 'unsupported-request')).toMatchObject({ why: 'pasid-untranslated', pasid: 5 });
    expect(outcomes(last(r))).toEqual(['unsupported-request']);
  });
});

describe('a translation into the window faults, for writes as for reads (LGN.4 / SGN.8)', () => {
  const toWindow = ['enable-dma: { iommu: 0 }', 'map-dma: { iommu: 0, device: "07:00.0", did: 1, mode: legacy, mappings: [{ iova: 0x10000, hpa: 0xfee00000, size: 0x1000 }] }'];

  it('legacy mode: 0x0E, recorded; a remappable-looking write is not delivered even with IR on', () => {
    for (const write of [true, false]) {
      const r = run(scenario({ steps: [...toWindow, ...IR_ON, dma('0x10018', 4, write).replace('0x30', '0x0')] }));
      expect(outcomes(last(r))).toEqual(['dma-fault']);
      expect(only(last(r), 'dma-fault')).toMatchObject({ reason: 0x0e, condition: 'interrupt-range-output', write, frcd: 0 });
      const rec = decodeFaultRecord(r.final.iommus[0]!.frcd[0]!).record;
      expect(rec).toMatchObject({ fault: true, faultReason: 0x0e, sourceId: 0x0700, readOrAtomic: !write, faultInfo: 0x10000n });
      expect(r.ok).toBe(true);
    }
  });

  it('scalable mode: 0x87, recorded', () => {
    const iommus = `[{ registerBase: 0xfed90000, includePciAll: true, ${SCALABLE_CAPS} }]`;
    for (const write of [true, false]) {
      const r = run(scenario({ iommus, steps: ['enable-dma: { iommu: 0, scalable: true }', 'map-dma: { iommu: 0, device: "07:00.0", did: 1, mode: second-stage, levels: 4, mappings: [{ iova: 0x10000, hpa: 0xfee00000, size: 0x1000 }] }', dma('0x10018', 4, write)] }));
      expect(only(last(r), 'dma-fault')).toMatchObject({ reason: 0x87, condition: 'interrupt-range-output', write });
      expect(only(last(r), 'dma-fault').frcd).toBeDefined();
    }
  });

  it('the blocked translation is not cached: the next access walks again', () => {
    const r = run(scenario({ steps: [...toWindow, dma('0x10018', 4), dma('0x10018', 4)] }));
    expect(only(last(r), 'dma-fault').references.length).toBeGreaterThan(0);
  });

  it("the context entry's FPD suppresses recording (a qualified fault); P6 counts it as suppressed", () => {
    // Find the context entry the walk reads, then set its FPD (bit 1).
    const probe = run(scenario({ steps: [...toWindow, dma('0x10018', 4)] }));
    const ctx = only(last(probe), 'dma-fault').references.find((x) => x.stage === 'context')!;
    const fpdStep = `write-memory: { address: 0x${ctx.entryAddress.toString(16)}, bytes: 8, value: 0x${((ctx.entry & ((1n << 64n) - 1n)) | 2n).toString(16)} }`;
    const r = run(scenario({ steps: [...toWindow, fpdStep, dma('0x10018', 4)] }));
    expect(only(last(r), 'dma-fault')).toMatchObject({ reason: 0x0e, frcd: undefined });
    expect(faultState(r.final).pending).toEqual([]);
    expect(r.accountability).toEqual([]);
    expect(r.faults).toMatchObject({ suppressed: 1, recorded: 0 });
  });

  it('FPD does not suppress an unqualified fault: reserved bits in that context entry give 0x0B, recorded', () => {
    const probe = run(scenario({ steps: [...toWindow, dma('0x10018', 4)] }));
    const ctx = only(last(probe), 'dma-fault').references.find((x) => x.stage === 'context')!;
    // FPD (bit 1) and reserved bit 11 of the low qword.
    const bad = `write-memory: { address: 0x${ctx.entryAddress.toString(16)}, bytes: 8, value: 0x${((ctx.entry & ((1n << 64n) - 1n)) | 2n | (1n << 11n)).toString(16)} }`;
    const r = run(scenario({ steps: [...toWindow, bad, dma('0x10018', 4)] }));
    const f = only(last(r), 'dma-fault');
    expect(f.reason).toBe(0x0b);
    expect(f.frcd).toBe(0);
    expect(r.accountability).toEqual([]);
  });

  describe('a large page overlapping the window: the access\'s own address decides (VT-d §3.14)', () => {
    const big = (iova: string, hpa: string, size: string): string[] => ['enable-dma: { iommu: 0 }', `map-dma: { iommu: 0, device: "07:00.0", did: 1, mode: legacy, mappings: [{ iova: ${iova}, hpa: ${hpa}, size: ${size} }] }`];

    it('2 MiB page at 0xFEE0_0000: inside the window faults, the upper half reaches memory', () => {
      const r = run(scenario({ steps: [...big('0x200000', '0xfee00000', '0x200000'), dma('0x300010', 4), dma('0x300010', 4, false), dma('0x200010', 4)] }));
      expect(only(r.steps.at(-3)!.events, 'dma-access')).toMatchObject({ hpa: 0xfef00010n, translation: 'walk' });
      expect(only(r.steps.at(-2)!.events, 'dma-access')).toMatchObject({ hpa: 0xfef00010n, translation: 'iotlb-hit', value: 0x30n });
      // The 2 MiB translation is in the IOTLB: this access hits it, and its output is in the window.
      expect(only(last(r), 'dma-fault')).toMatchObject({ reason: 0x0e, condition: 'interrupt-range-output', frcd: 0, references: [] });
      expect(r.ok).toBe(true);
    });

    it('1 GiB page at 0xC000_0000: the window inside it faults, the rest reaches memory', () => {
      const r = run(scenario({ steps: [...big('0x40000000', '0xc0000000', '0x40000000'), dma('0x7ee00010', 4), dma('0x7f000010', 4), dma('0x7edff000', 4, false)] }));
      expect(only(r.steps.at(-3)!.events, 'dma-fault')).toMatchObject({ reason: 0x0e });
      expect(only(r.steps.at(-2)!.events, 'dma-access')).toMatchObject({ hpa: 0xff000010n });
      expect(only(last(r), 'dma-access')).toMatchObject({ hpa: 0xfedff000n });
      expect(r.accountability).toEqual([]);
    });
  });
});

describe('P6 holds on the window', () => {
  it('checkFaultAccountability finds nothing in any of the cases above', () => {
    const r = run(scenario({ urSignaling: 'serr-nmi', steps: [...TE_ON, ...IR_ON, ...MALFORMED.map((m) => m.step), dma('0xfee01000', 4)] }));
    expect(r.accountability).toEqual([]);
    expect(r.faults).toMatchObject({ aborted: MALFORMED.length, recorded: 1 });
    expect(checkFaultAccountability(r.final, r.steps.flatMap((s) => s.events))).toEqual([]);
    expect(decodeFsts(r.final.iommus[0]!.regs.fsts).PFO).toBe(false);
  });
});
