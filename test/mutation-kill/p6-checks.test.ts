/**
 * P6 (src/properties/p6-fault-accountability.ts) judged fault by fault against the state of
 * the unit after the action, following VT-d §7.2.1 "Primary Fault Logging": a fault the event
 * says was recorded must be in that FRCD (F = 1, the same reason, source ID and interrupt index
 * — or faulting page, read/write type and PASID); one not recorded must be exempt (a qualified
 * interrupt fault with the FPD of the IRTE the unit used, §5.1.4.1; a DMA fault whose walk says
 * not to record, §7.1.3) or lost to an overflow (FSTS.PFO set and the FRCD at FSTS.FRI still
 * pending). The tally counts each way.
 */
import { describe, expect, it } from 'vitest';
import { checkFaultAccountability, emptyFaultTally, rejectedCount, type FaultTally } from '../../src/properties/p6-fault-accountability.ts';
import { encodeFaultRecord, interruptFaultRecord, type FaultRecord } from '../../src/vtd/fault-record.ts';
import { encodeFsts, encodeIrta, irtaSizeForEntries } from '../../src/vtd/registers.ts';
import { encodeIrte, decodeIrte, type RemappedIrte } from '../../src/vtd/irte.ts';
import { emptyIec, iecFill } from '../../src/vtd/iec.ts';
import type { DmaFaultEvent, InterruptFaultEvent, PlatformEvent } from '../../src/platform/events.ts';
import type { IommuUnit, PlatformState } from '../../src/platform/state.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { DEV_A, RID_A, platform } from './fixtures.ts';

const IRT_BASE = 0x1000_0000n;

function withUnit(s: PlatformState, patch: (u: IommuUnit) => Partial<IommuUnit>): PlatformState {
  const u = s.iommus[0]!;
  return { ...s, iommus: [{ ...u, ...patch(u) }] };
}
const fsts = (o: { PFO?: boolean; FRI?: number } = {}): number =>
  encodeFsts({ PFO: o.PFO ?? false, PPF: false, AFO: false, APF: false, IQE: false, ICE: false, ITE: false, PRO: false, FRI: o.FRI ?? 0 });
/** Unit 0's 8 FRCDs with `records` at the given indices, and FSTS. */
const frcds = (s: PlatformState, records: Record<number, bigint>, f = fsts()): PlatformState =>
  withUnit(s, (u) => ({ frcd: u.frcd.map((_, i) => records[i] ?? 0n), regs: { ...u.regs, fsts: f } }));
const irRecord = (reason: number, sourceId: number, index: number): bigint => encodeFaultRecord(interruptFaultRecord({ reason, sourceId, index }));

function ifault(o: Partial<InterruptFaultEvent> = {}): InterruptFaultEvent {
  return { kind: 'interrupt-fault', step: 2, device: DEV_A, rid: RID_A, address: 0xfee00050n, data: 0, iommu: 0, reason: 0x26, irteIndex: 2, qualified: true, frcd: undefined, ...o };
}
function judge(s: PlatformState, events: readonly PlatformEvent[]): { messages: string[]; tally: FaultTally } {
  const tally = emptyFaultTally();
  const messages = checkFaultAccountability(s, events, tally).map((v) => v.message);
  return { messages, tally };
}
const only = (how: keyof FaultTally): FaultTally => ({ ...emptyFaultTally(), [how]: 1 });
const IFAULT = "07:00.0's interrupt request 0xfee00050/0x0 blocked by dmar0 with fault 0x26 (index 0x2) is not accounted for: ";

describe('P6 tally', () => {
  it('starts at zero and counts every kind of rejection', () => {
    expect(emptyFaultTally()).toEqual({ recorded: 0, overflow: 0, suppressed: 0, unaccounted: 0, aborted: 0, blocked: 0, logged: 0, logOverflow: 0, logSuppressed: 0 });
    expect(rejectedCount({ recorded: 1, overflow: 2, suppressed: 4, unaccounted: 8, aborted: 16, blocked: 32, logged: 64, logOverflow: 128, logSuppressed: 256 })).toBe(511);
    expect(rejectedCount(emptyFaultTally())).toBe(0);
  });

  it('an Unsupported Request and a request a port dropped are counted, never violations, and need no tally', () => {
    const events: PlatformEvent[] = [
      { kind: 'unsupported-request', step: 1, device: DEV_A, rid: RID_A, address: 0xfee01000n, size: 2, write: true, why: 'not-dword', signalled: 'none' } as PlatformEvent,
      { kind: 'request-blocked', step: 2 } as unknown as PlatformEvent,
      { kind: 'unsupported-request', step: 3 } as unknown as PlatformEvent,
    ];
    expect(judge(platform(), events)).toEqual({ messages: [], tally: { ...emptyFaultTally(), aborted: 2, blocked: 1 } });
    expect(checkFaultAccountability(platform(), events)).toEqual([]);
    // Without a tally a rejection is still judged.
    expect(checkFaultAccountability(platform(), [ifault()])).toEqual([{ property: 'P6', step: 2, message: `${IFAULT}no FRCD holds it, FSTS.PFO is clear, and no FPD suppresses it` }]);
  });

  it('other events are not rejections', () => {
    expect(judge(platform(), [{ kind: 'intent', step: 0, change: 'x' }])).toEqual({ messages: [], tally: emptyFaultTally() });
  });
});

describe('P6: a fault the event says was recorded', () => {
  it('FRCD holds it: recorded', () => {
    const s = frcds(platform(), { 3: irRecord(0x26, RID_A, 2) });
    expect(judge(s, [ifault({ frcd: 3 })])).toEqual({ messages: [], tally: only('recorded') });
  });

  it('the event names an FRCD the unit does not have', () => {
    expect(judge(platform(), [ifault({ frcd: 8 })])).toEqual({ messages: [`${IFAULT}the event names FRCD8, but the unit has no FRCD8 (it has 8)`], tally: only('unaccounted') });
  });

  it('that FRCD is not pending', () => {
    const s = frcds(platform(), { 0: irRecord(0x26, RID_A, 2) & ~(1n << 127n) });
    expect(judge(s, [ifault({ frcd: 0 })]).messages).toEqual([`${IFAULT}the event names FRCD0, but FRCD0 is not pending (F = 0)`]);
  });

  it('that FRCD holds another interrupt fault: each differing field is named', () => {
    const s = frcds(platform(), { 1: irRecord(0x22, 0x701, 3), 2: irRecord(0x26, RID_A, 5), 3: irRecord(0x24, RID_A, 2), 4: irRecord(0x26, 0x800, 2) });
    expect(judge(s, [ifault({ frcd: 1 }), ifault({ frcd: 2 }), ifault({ frcd: 3 }), ifault({ frcd: 4 })]).messages).toEqual([
      `${IFAULT}the event names FRCD1, but FRCD1 holds another fault (FR 0x22, SID 07:00.1, index 0x3)`,
      `${IFAULT}the event names FRCD2, but FRCD2 holds another fault (index 0x5)`,
      `${IFAULT}the event names FRCD3, but FRCD3 holds another fault (FR 0x24)`,
      `${IFAULT}the event names FRCD4, but FRCD4 holds another fault (SID 08:00.0)`,
    ]);
  });

  it('a fault without an interrupt index is recorded with index 0', () => {
    const e = ifault({ reason: 0x20, irteIndex: undefined, qualified: false, frcd: 0 });
    expect(judge(frcds(platform(), { 0: irRecord(0x20, RID_A, 0) }), [e])).toEqual({ messages: [], tally: only('recorded') });
    expect(judge(frcds(platform(), { 0: irRecord(0x20, RID_A, 1) }), [e]).messages).toEqual([
      "07:00.0's interrupt request 0xfee00050/0x0 blocked by dmar0 with fault 0x20 is not accounted for: the event names FRCD0, but FRCD0 holds another fault (index 0x1)",
    ]);
  });

  it('a fault of no unit, or of a unit the platform does not have, is held by none', () => {
    expect(judge(platform(), [ifault({ iommu: undefined as unknown as number, frcd: 0 })]).messages).toEqual([
      "07:00.0's interrupt request 0xfee00050/0x0 blocked by no unit with fault 0x26 (index 0x2) is not accounted for: no remapping unit holds a record of it",
    ]);
    expect(judge(platform(), [ifault({ iommu: 4 })]).messages).toEqual([
      "07:00.0's interrupt request 0xfee00050/0x0 blocked by unit 4 with fault 0x26 (index 0x2) is not accounted for: no remapping unit holds a record of it",
    ]);
  });
});

describe('P6: an interrupt fault not recorded — FPD of the IRTE the unit used', () => {
  const irte = (fpd: boolean): RemappedIrte => ({
    mode: 'remapped', present: true, fpd, avail: 0, destinationModeLogical: false, redirectionHint: false, triggerLevel: false, deliveryMode: 0, vector: 0x30, destination: 1, sid: RID_A, sq: 0, svt: 1,
  });
  /** IRT at IRT_BASE with IRTE 2's FPD as given (IRTE 0 always with FPD), optionally an IEC copy of IRTE 2. */
  function state(memoryFpd: boolean, iecFpd?: boolean): PlatformState {
    const s = platform();
    const memory = s.memory.writeLE(IRT_BASE + 2n * 16n, 16, encodeIrte(irte(memoryFpd))).writeLE(IRT_BASE, 16, encodeIrte(irte(true)));
    return withUnit({ ...s, memory }, (u) => ({
      regs: { ...u.regs, irtaLatched: encodeIrta({ base: IRT_BASE, eime: true, size: irtaSizeForEntries(256) }) },
      iec: iecFpd === undefined ? u.iec : iecFill(emptyIec(64), 2, { raw: encodeIrte(irte(iecFpd)), ...decodeIrte(encodeIrte(irte(iecFpd))) }),
    }));
  }

  it('FPD set in the IRT entry: suppressed', () => {
    expect(judge(state(true), [ifault()])).toEqual({ messages: [], tally: only('suppressed') });
  });

  it('FPD clear: unaccounted', () => {
    expect(judge(state(false), [ifault()])).toEqual({ messages: [`${IFAULT}no FRCD holds it, FSTS.PFO is clear, and no FPD suppresses it`], tally: only('unaccounted') });
  });

  it('the IEC copy is what the unit used: its FPD decides, not the table in memory', () => {
    expect(judge(state(false, true), [ifault()]).tally).toEqual(only('suppressed'));
    expect(judge(state(true, false), [ifault()]).tally).toEqual(only('unaccounted'));
  });

  it('every qualified interrupt fault (0x22, 0x24, 0x26, 0x27, 0x28) may be suppressed', () => {
    for (const reason of [0x22, 0x24, 0x26, 0x27, 0x28]) expect(judge(state(true), [ifault({ reason })]).tally, `0x${reason.toString(16)}`).toEqual(only('suppressed'));
  });

  it('an unqualified fault is not suppressed by FPD', () => {
    expect(judge(state(true), [ifault({ reason: 0x21, qualified: false })]).messages).toEqual([
      "07:00.0's interrupt request 0xfee00050/0x0 blocked by dmar0 with fault 0x21 (index 0x2) is not accounted for: no FRCD holds it, FSTS.PFO is clear, and the fault is not qualified (FPD cannot suppress it)",
    ]);
  });

  it('a reason code the fault table does not know is not qualified', () => {
    expect(judge(state(true), [ifault({ reason: 0x2f })]).messages).toEqual([
      "07:00.0's interrupt request 0xfee00050/0x0 blocked by dmar0 with fault 0x2f (index 0x2) is not accounted for: no FRCD holds it, FSTS.PFO is clear, and the fault is not qualified (FPD cannot suppress it)",
    ]);
  });

  it('a qualified fault without an interrupt index has no IRTE to take FPD from', () => {
    expect(judge(state(true), [ifault({ irteIndex: undefined })]).messages).toEqual([
      "07:00.0's interrupt request 0xfee00050/0x0 blocked by dmar0 with fault 0x26 is not accounted for: no FRCD holds it, FSTS.PFO is clear, and no FPD suppresses it",
    ]);
  });
});

describe('P6: lost to an overflow (FSTS.PFO and the FRCD at FRI pending)', () => {
  const pending = irRecord(0x22, RID_A, 9);

  it('PFO set, FRCD[FRI] pending: overflow', () => {
    expect(judge(frcds(platform(), { 2: pending }, fsts({ PFO: true, FRI: 2 })), [ifault()])).toEqual({ messages: [], tally: only('overflow') });
  });

  it('FRI is taken modulo the number of records', () => {
    expect(judge(frcds(platform(), { 2: pending }, fsts({ PFO: true, FRI: 10 })), [ifault()]).tally).toEqual(only('overflow'));
  });

  it('PFO set but FRCD[FRI] free: the unit had room, so the fault is unaccounted', () => {
    const s = frcds(platform(), { 0: pending, 1: pending, 3: pending }, fsts({ PFO: true, FRI: 10 }));
    expect(judge(s, [ifault()])).toEqual({ messages: [`${IFAULT}no FRCD holds it, FSTS.PFO is set but FRCD2 (at FRI) is free, and no FPD suppresses it`], tally: only('unaccounted') });
  });

  it('every FRCD pending but PFO clear: unaccounted', () => {
    const all = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [i, pending]));
    expect(judge(frcds(platform(), all, fsts({ FRI: 2 })), [ifault()]).messages).toEqual([`${IFAULT}no FRCD holds it, FSTS.PFO is clear, and no FPD suppresses it`]);
  });

  it('a unit with no FRCD cannot overflow', () => {
    const s = withUnit(platform(), (u) => ({ frcd: [], regs: { ...u.regs, fsts: fsts({ PFO: true, FRI: 3 }) } }));
    expect(judge(s, [ifault()]).messages).toEqual([`${IFAULT}no FRCD holds it, FSTS.PFO is set but FRCD0 (at FRI) is free, and no FPD suppresses it`]);
  });
});

describe('P6: DMA faults', () => {
  function dfault(o: Partial<DmaFaultEvent> = {}): DmaFaultEvent {
    return { kind: 'dma-fault', step: 5, device: DEV_A, rid: RID_A, pasid: undefined, iova: 0x10234n, size: 4, write: true, iommu: 0, references: [], reason: 0x05, condition: 'no-write', frcd: 0, ...o };
  }
  const record = (o: Partial<FaultRecord> = {}): bigint =>
    encodeFaultRecord({ fault: true, readOrAtomic: false, addressType: 0, pasidValue: 0, faultReason: 0x05, pasidPresent: false, execute: false, privileged: false, sourceId: RID_A, faultInfo: 0x10000n, ...o });
  const DFAULT = "07:00.0's DMA write of IOVA 0x10234 blocked by dmar0 with fault 0x5 (no-write) is not accounted for: ";

  it('the FRCD holds the faulting page, type and source: recorded', () => {
    expect(judge(frcds(platform(), { 0: record() }), [dfault()])).toEqual({ messages: [], tally: only('recorded') });
  });

  it('a read is recorded with T = 1; a PASID with PP and PV', () => {
    const s = frcds(platform(), { 0: record({ readOrAtomic: true }), 1: record({ pasidPresent: true, pasidValue: 5 }) });
    expect(judge(s, [dfault({ write: false, frcd: 0 }), dfault({ pasid: 5, frcd: 1 })])).toEqual({ messages: [], tally: { ...emptyFaultTally(), recorded: 2 } });
  });

  it('each differing field of a DMA record is named', () => {
    const s = frcds(platform(), {
      0: record({ faultInfo: 0x11000n }),
      1: record({ readOrAtomic: true }),
      2: record(),
      3: record({ pasidPresent: true, pasidValue: 5 }),
      4: record({ pasidPresent: true, pasidValue: 6 }),
      5: record({ faultReason: 0x06, sourceId: 0x800 }),
    });
    expect(
      judge(s, [dfault({ frcd: 0 }), dfault({ frcd: 1 }), dfault({ write: false, frcd: 2 }), dfault({ frcd: 3 }), dfault({ pasid: 5, frcd: 4 }), dfault({ pasid: 5, frcd: 2 }), dfault({ frcd: 5 })]).messages,
    ).toEqual([
      `${DFAULT}the event names FRCD0, but FRCD0 holds another fault (FI 0x11000)`,
      `${DFAULT}the event names FRCD1, but FRCD1 holds another fault (T read)`,
      "07:00.0's DMA read of IOVA 0x10234 blocked by dmar0 with fault 0x5 (no-write) is not accounted for: the event names FRCD2, but FRCD2 holds another fault (T write)",
      `${DFAULT}the event names FRCD3, but FRCD3 holds another fault (PASID 0x5)`,
      "07:00.0's DMA write of IOVA 0x10234 PASID 0x5 blocked by dmar0 with fault 0x5 (no-write) is not accounted for: the event names FRCD4, but FRCD4 holds another fault (PASID 0x6)",
      "07:00.0's DMA write of IOVA 0x10234 PASID 0x5 blocked by dmar0 with fault 0x5 (no-write) is not accounted for: the event names FRCD2, but FRCD2 holds another fault (no PASID)",
      `${DFAULT}the event names FRCD5, but FRCD5 holds another fault (FR 0x6, SID 08:00.0)`,
    ]);
  });

  it('not recorded, and the walk (no translation tables: the root entry is not present) records: unaccounted', () => {
    expect(judge(platform(), [dfault({ frcd: undefined, reason: 0x01, condition: 'root-not-present' })])).toEqual({
      messages: ["07:00.0's DMA write of IOVA 0x10234 blocked by dmar0 with fault 0x1 (root-not-present) is not accounted for: no FRCD holds it, FSTS.PFO is clear, and the fault is not qualified (FPD cannot suppress it)"],
      tally: only('unaccounted'),
    });
  });

  it('lost to an overflow like an interrupt fault', () => {
    const s = frcds(platform(), { 7: record() }, fsts({ PFO: true, FRI: 7 }));
    expect(judge(s, [dfault({ frcd: undefined })]).tally).toEqual(only('overflow'));
  });
});

describe('P6: DMA faults judged by walking the request again', () => {
  const text = (steps: readonly string[]): string =>
    [
      'name: p6-dma',
      'platform:',
      '  hostAddressWidth: 46',
      '  cpus: { count: 2 }',
      '  iommus: [{ registerBase: 0xfed90000, includePciAll: true }]',
      'devices:',
      '  - { bdf: "07:00.0" }',
      'domains:',
      '  - { name: host, kind: host, cpus: [0] }',
      '  - { name: vm1, kind: guest, cpus: [1], devices: ["07:00.0"] }',
      'steps:',
      ...steps.map((s) => `  - ${s}`),
    ].join('\n') + '\n';
  const run = (steps: readonly string[]): RunResult => runScenario(compileScenario(parseScenarioText(text(steps), 'p6-dma.yaml')));
  /** 07:00.0: IOVA 0x10000 read-only to 0x80000000, IOVA 0x20000 to the interrupt window. */
  const TE = [
    'enable-dma: { iommu: 0 }',
    'map-dma: { iommu: 0, device: "07:00.0", did: 1, mode: legacy, mappings: [{ iova: 0x10000, hpa: 0x80000000, size: 0x1000, write: false }, { iova: 0x20000, hpa: 0xfee00000, size: 0x1000 }] }',
  ];
  const dma = (address: string, write = true): string => `dma: { device: "07:00.0", address: ${address}, size: 4${write ? ', value: 1' : ', write: false'} }`;
  const lastFault = (r: RunResult): DmaFaultEvent => {
    const e = r.steps.at(-1)!.events.find((x): x is DmaFaultEvent => x.kind === 'dma-fault');
    if (e === undefined) throw new Error('no DMA fault');
    return e;
  };
  /** The steps with the FPD bit (1) of the context entry the walk reads set. */
  function withFpd(steps: readonly string[]): RunResult {
    const ctx = lastFault(run(steps)).references.find((x) => x.stage === 'context')!;
    const fpd = `write-memory: { address: 0x${ctx.entryAddress.toString(16)}, bytes: 8, value: 0x${((ctx.entry & ((1n << 64n) - 1n)) | 2n).toString(16)} }`;
    return run([...steps.slice(0, -1), fpd, steps.at(-1)!]);
  }

  it('a write to a read-only page: recorded at the unit as the event says', () => {
    const r = run([...TE, dma('0x10008')]);
    expect(lastFault(r)).toMatchObject({ reason: 0x05, frcd: 0, write: true });
    expect(judge(r.final, [lastFault(r)]).tally).toEqual(only('recorded'));
  });

  it('the same with FPD in the context entry: the walk does not record (a qualified fault), so it is suppressed', () => {
    const r = withFpd([...TE, dma('0x10008')]);
    const e = lastFault(r);
    expect(e).toMatchObject({ reason: 0x05, frcd: undefined });
    expect(judge(r.final, [e])).toEqual({ messages: [], tally: only('suppressed') });
  });

  it('the walk is of the event\'s request: a read of that page translates, and an unrecorded fault there is unaccounted', () => {
    const r = withFpd([...TE, dma('0x10008')]);
    const e = lastFault(r);
    // A read succeeds, so only an output in the interrupt range could block it: not this page's.
    expect(judge(r.final, [{ ...e, write: false, reason: 0x05 }]).tally).toEqual(only('suppressed'));
    expect(judge(r.final, [{ ...e, write: false, reason: 0x0b }]).messages).toEqual([
      "07:00.0's DMA read of IOVA 0x10008 blocked by dmar0 with fault 0xb (no-write) is not accounted for: no FRCD holds it, FSTS.PFO is clear, and the fault is not qualified (FPD cannot suppress it)",
    ]);
    // Another device's request walks another (absent) context entry, which records.
    expect(judge(r.final, [{ ...e, rid: 0x0800 }]).tally).toEqual(only('unaccounted'));
  });

  it('a translation into the interrupt window (0x0E): suppressed only by FPD, and only for a qualified reason', () => {
    const plain = run([...TE, dma('0x20010')]);
    const e = lastFault(plain);
    expect(e).toMatchObject({ reason: 0x0e, condition: 'interrupt-range-output', frcd: 0 });
    expect(judge(plain.final, [{ ...e, frcd: undefined }]).messages).toEqual([
      "07:00.0's DMA write of IOVA 0x20010 blocked by dmar0 with fault 0xe (interrupt-range-output) is not accounted for: no FRCD holds it, FSTS.PFO is clear, and no FPD suppresses it",
    ]);
    const fpd = withFpd([...TE, dma('0x20010')]);
    const f = lastFault(fpd);
    expect(f).toMatchObject({ reason: 0x0e, frcd: undefined });
    expect(judge(fpd.final, [f]).tally).toEqual(only('suppressed'));
    expect(judge(fpd.final, [{ ...f, reason: 0x0b }]).tally).toEqual(only('unaccounted'));
  });

  it('the walk is of the event\'s access type: a read of a write-only page faults in the walk, whose FPD then decides whatever the event\'s reason', () => {
    const steps = [
      'enable-dma: { iommu: 0 }',
      'map-dma: { iommu: 0, device: "07:00.0", did: 1, mode: legacy, mappings: [{ iova: 0x30000, hpa: 0x80001000, size: 0x1000, read: false }] }',
      dma('0x30008', false),
    ];
    const plain = run(steps);
    expect(lastFault(plain)).toMatchObject({ write: false, frcd: 0 });
    const r = withFpd(steps);
    const e = lastFault(r);
    expect(e).toMatchObject({ write: false, frcd: undefined });
    expect(judge(r.final, [e]).tally).toEqual(only('suppressed'));
    // The walk faults and does not record: suppressed even if the event named an unqualified reason.
    expect(judge(r.final, [{ ...e, reason: 0x0b }]).tally).toEqual(only('suppressed'));
    // A write of that page translates: then only a qualified reason with FPD is suppressed.
    expect(judge(r.final, [{ ...e, write: true, reason: 0x0b }]).tally).toEqual(only('unaccounted'));
    expect(judge(r.final, [{ ...e, write: true }]).tally).toEqual(only('suppressed'));
  });

  it('a PASID request is walked with its PASID (legacy mode: no PASID translation, so it faults and records)', () => {
    const r = withFpd([...TE, dma('0x10008')]);
    expect(judge(r.final, [{ ...lastFault(r), pasid: 3 }]).tally).toEqual(only('unaccounted'));
  });
});
