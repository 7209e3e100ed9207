/**
 * The invalidation interfaces (src/vtd/invalidation-queue.ts, src/platform/ir-enable.ts): the
 * registers' layouts bit-exact (VT-d §11.4.9, §11.4.4.1, §11.4.8; VirtualBox iommu-intel.h;
 * Linux iommu.h macros), the queue processing its ring in order and wrapping, stopping on IQE
 * with IQH at the bad descriptor and resuming when IQE is cleared, the wait descriptor's
 * status write and ICS.IWC, QIE's preconditions, staleness between submission and processing,
 * register-based invalidation equivalent to queued invalidation (and the property shown able
 * to fail), ESIRTPS, and totality of the new actions.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildPlatform, type PlatformDescription } from '../../src/platform/build.ts';
import { applyAction, applyActions } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import type { IommuUnit, PlatformState } from '../../src/platform/state.ts';
import {
  CCMD_REG,
  EVENT_ADDRESS_REG,
  EVENT_DATA_REG,
  EVENT_UPPER_ADDRESS_REG,
  ICS_REG,
  IECTL_REG,
  IOTLB_REG,
  IQA_REG,
  IQERCD_REG,
  IQEI,
  IQH_REG,
  IQT_REG,
  IVA_REG,
  GLOBAL_STATUS_BITS,
} from '../../src/vtd/registers.ts';
import { defaultQueue, irEnableSequence, qiEnableSequence, qiSubmitSync, QI_LENGTH, type SoftwareQueue } from '../../src/platform/ir-enable.ts';
import { encodeIec, encodeWait, decodeWait, descriptorType, INV_DESC_TYPE } from '../../src/vtd/invalidation.ts';
import { encodeDmaInvalidation } from '../../src/vtd/dma/invalidation-dma.ts';
import { ccmdInvalidation, iotlbInvalidation, processDescriptor, QI_DONE, writeCcmd, writeIotlb, writeIva } from '../../src/vtd/invalidation-queue.ts';
import { emptyDmaCaches, type DmaCaches, type IotlbEntry } from '../../src/vtd/dma/caches.ts';
import { encodeIrte } from '../../src/vtd/irte.ts';
import { composeRemappableMsi } from '../../src/vtd/remappable-msi.ts';
import { DEFAULT_CAP, DEFAULT_ECAP } from '../../src/platform/build.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { bitsN, RUNS } from '../codecs/arbitraries.ts';

const DEV = '05:00.0';
const IRT = 0x1000_0000n;
const ESIRTPS = 1n << 62n;
const SMTS = 1n << 43n;
const QIES = 1 << GLOBAL_STATUS_BITS.QIES;

function description(cap = DEFAULT_CAP, ecap = DEFAULT_ECAP): PlatformDescription {
  return {
    hostAddressWidth: 46,
    apicMode: 'x2apic',
    extendedDestinationId: false,
    apicIds: [0, 1, 2, 3],
    iommus: [{ segment: 0, registerBase: 0xfed90000n, includePciAll: true, cap, ecap, scope: { endpoints: [], bridges: [], busRanges: [], ioapics: [], hpets: [] } }],
    devices: [{ segment: 0, rid: 0x500, key: DEV, name: 'nic', upstream: [] }],
    domains: [{ name: 'host', kind: 'host', cpus: [0, 1, 2, 3], devices: [DEV] }],
    grants: [],
  };
}

interface Run {
  state: PlatformState;
  events: PlatformEvent[];
}

function apply(state: PlatformState, actions: readonly Action[]): Run {
  const r = applyActions(state, actions);
  return { state: r.state, events: [...r.events] };
}

/** A platform with IR on (Linux's sequence: queued invalidation first) and the software queue. */
function irOn(cap = DEFAULT_CAP, ecap = DEFAULT_ECAP): { state: PlatformState; queue: SoftwareQueue } {
  const seq = irEnableSequence(0, { base: IRT, eime: true, entries: 256 }, 0, { wide: (ecap & SMTS) !== 0n, esirtps: (cap & ESIRTPS) !== 0n });
  return { state: apply(buildPlatform(description(cap, ecap)), seq.actions).state, queue: seq.queue! };
}

const irte = (index: number, vector: number, destination = 1): Action => ({
  kind: 'write-irte',
  iommu: 0,
  index,
  value: encodeIrte({ mode: 'remapped', present: true, fpd: false, avail: 0, destinationModeLogical: false, redirectionHint: false, triggerLevel: false, deliveryMode: 0, vector, destination, sid: 0x500, sq: 0, svt: 1 }),
});
const msi = (handle: number): Action => ({ kind: 'msi-write', device: DEV, ...composeRemappableMsi({ handle }) });
const iecIndex = (index: number): bigint => encodeIec({ granularity: 'index', indexMask: 0, interruptIndex: index });
const unit = (s: PlatformState): IommuUnit => s.iommus[0]!;
const of = <K extends PlatformEvent['kind']>(events: readonly PlatformEvent[], kind: K): Extract<PlatformEvent, { kind: K }>[] => events.filter((e): e is Extract<PlatformEvent, { kind: K }> => e.kind === kind);

// ---------------------------------------------------------------------------------------

describe('register layouts (VT-d §11.4; VirtualBox iommu-intel.h; Linux iommu.h)', () => {
  const codecs = { IQA_REG: [IQA_REG, 64], IQH_REG: [IQH_REG, 64], IQT_REG: [IQT_REG, 64], IQERCD_REG: [IQERCD_REG, 64], CCMD_REG: [CCMD_REG, 64], IOTLB_REG: [IOTLB_REG, 64], IVA_REG: [IVA_REG, 64], ICS_REG: [ICS_REG, 32], IECTL_REG: [IECTL_REG, 32], FEDATA_REG: [EVENT_DATA_REG, 32], FEADDR_REG: [EVENT_ADDRESS_REG, 32], FEUADDR_REG: [EVENT_UPPER_ADDRESS_REG, 32] } as const;
  for (const [name, [codec, width]] of Object.entries(codecs)) {
    it(`${name}: encode(decode(x)) === x for every ${width}-bit value`, () => {
      fc.assert(fc.property(bitsN(width), (x) => (codec.encode as (v: unknown) => bigint)(codec.decode(x)) === x), RUNS);
    });
  }

  it('IQA_REG: QS 2:0, DW 11, IQA 63:12, 10:3 reserved (VirtualBox VTD_BF_IQA_REG_*; QEMU VTD_IQA_DW_MASK 0x800, VTD_IQA_QS 7)', () => {
    expect(IQA_REG.decode(0x1_6400_0801n)).toEqual({ QS: 1, DW: true, IQA: 0x16_4000, reserved: 0n });
    expect(IQA_REG.decode(0x7f8n).reserved).toBe(0x7f8n);
    // Linux __dmar_enable_qi with SMTS: virt_to_phys(desc) | BIT(11) | BIT(0).
    expect(IQA_REG.encode({ QS: 1, DW: true, IQA: 0x64000 })).toBe(0x6400_0000n | (1n << 11n) | 1n);
  });
  it('IQH_REG / IQT_REG: the offset in 18:4 (VirtualBox VTD_BF_IQH_REG_QH_MASK 0x7fff0)', () => {
    expect(IQT_REG.decode(0x7fff0n)).toEqual({ QT: 0x7fff, reserved: 0n });
    expect(IQT_REG.decode(0x8000fn).reserved).toBe(0x8000fn);
    expect(IQH_REG.encode({ QH: 2 })).toBe(0x20n);
  });
  it('IQERCD_REG: IQEI 3:0, ITESID 47:32, ICESID 63:48 (Linux DMAR_IQER_REG_IQEI/ITESID/ICESID GENMASK)', () => {
    expect(IQERCD_REG.decode(0x1234_0567_0000_0004n)).toEqual({ IQEI: 4, ITESID: 0x0567, ICESID: 0x1234, reserved: 0n });
    expect(IQERCD_REG.decode(0xffff_fff0n).reserved).toBe(0xffff_fff0n);
  });
  it('ICS_REG IWC bit 0; IECTL_REG IM 31, IP 30 (QEMU VTD_ICS_IWC, VTD_IECTL_IM/IP)', () => {
    expect(ICS_REG.decode(1n)).toEqual({ IWC: true, reserved: 0n });
    expect(IECTL_REG.decode(0xc000_0000n)).toEqual({ IM: true, IP: true, reserved: 0n });
    expect(IECTL_REG.decode(0x3fff_ffffn).reserved).toBe(0x3fff_ffffn);
  });
  it('FEDATA IMD 15:0 (31:16 reserved), FEADDR MA 31:2 (1:0 reserved), FEUADDR 31:0 (VirtualBox VTD_BF_FEDATA/FEADDR/FEUADDR_REG)', () => {
    expect(EVENT_DATA_REG.decode(0xabcd_0061n)).toEqual({ IMD: 0x61, reserved: 0xabcd_0000n });
    expect(EVENT_ADDRESS_REG.decode(0xfee0_1003n)).toEqual({ MA: 0xfee0_1000 / 4, reserved: 3n });
    expect(EVENT_UPPER_ADDRESS_REG.decode(0x0000_0100n)).toEqual({ MUA: 0x100, reserved: 0n });
  });
  it('CCMD_REG: ICC 63, CIRG 62:61, CAIG 60:59, FM 33:32, SID 31:16, DID 15:0 (Linux DMA_CCMD_ICC, DMA_CCMD_DEVICE_INVL, DMA_CCMD_FM, DMA_CCMD_SID)', () => {
    const linux = (1n << 63n) | (3n << 61n) | (3n << 32n) | (0x0304n << 16n) | 7n;
    expect(CCMD_REG.decode(linux)).toEqual({ ICC: true, CIRG: 3, CAIG: 0, FM: 3, SID: 0x0304, DID: 7, reserved: 0n });
    expect(CCMD_REG.decode(3n << 59n).CAIG).toBe(3);
    expect(CCMD_REG.decode(1n << 34n).reserved).toBe(1n << 34n);
  });
  it('IOTLB_REG: IVT 63, IIRG 61:60, IAIG 58:57, DR 49, DW 48, DID 47:32; IVA_REG: ADDR 63:12, IH 6, AM 5:0 (Linux DMA_TLB_*)', () => {
    const linux = (1n << 63n) | (3n << 60n) | (1n << 49n) | (1n << 48n) | (9n << 32n);
    expect(IOTLB_REG.decode(linux)).toEqual({ IVT: true, IIRG: 3, IAIG: 0, DR: true, DW: true, DID: 9, reserved: 0n });
    expect(IOTLB_REG.decode(1n << 62n).reserved).toBe(1n << 62n);
    expect(IVA_REG.decode(0x4_0000_0000n | (1n << 6n) | 9n)).toEqual({ ADDR: 0x40_0000, IH: true, AM: 9, reserved: 0n });
  });
  it('the wait descriptor Linux qi_submit_sync writes reads back as a real debugfs dump shows it (qw0 0x0000000200000025)', () => {
    const w = decodeWait((0x1_672b_e804n << 64n) | 0x0000_0002_0000_0025n).desc;
    expect(w).toMatchObject({ statusWrite: true, interruptFlag: false, fence: false, statusData: QI_DONE, statusAddress: 0x1_672b_e804n });
    expect(encodeWait({ interruptFlag: false, statusWrite: true, fence: false, pageRequestDrain: false, statusData: QI_DONE, statusAddress: 0x1_672b_e804n })).toBe((0x1_672b_e804n << 64n) | 0x2_0000_0025n);
  });
});

// ---------------------------------------------------------------------------------------

describe('the invalidation queue', () => {
  it('processes its descriptors in ring order at the IQT write, and wraps', () => {
    let { state, queue } = irOn();
    const slots: number[] = [];
    const heads: bigint[] = [];
    for (let batch = 0; batch < 7; batch++) {
      const r = qiSubmitSync(queue, Array.from({ length: 50 }, (_, i) => iecIndex(batch * 50 + i)));
      queue = r.queue;
      const run = apply(state, r.actions);
      state = run.state;
      slots.push(...of(run.events, 'iec-invalidate').map((e) => e.slot!));
      expect(of(run.events, 'iec-invalidate').map((e) => e.index)).toEqual(Array.from({ length: 50 }, (_, i) => batch * 50 + i));
      heads.push(unit(state).regs.iqh);
      expect(unit(state).regs.iqh).toBe(unit(state).regs.iqt);
    }
    // 2 slots were used by enable-ir (IEC global and its wait); each batch is 50 descriptors and a wait.
    const expected: number[] = [];
    for (let batch = 0, slot = 2; batch < 7; batch++, slot = (slot + 51) % QI_LENGTH) for (let i = 0; i < 50; i++) expected.push((slot + i) % QI_LENGTH);
    expect(slots).toEqual(expected);
    expect(heads.at(-1)).toBe(BigInt(((2 + 7 * 51) % QI_LENGTH) * 16));
    expect(Math.max(...slots)).toBe(QI_LENGTH - 1); // it went round
  });

  it('stops on IQE with IQH at the bad descriptor, fetches nothing more, and resumes from IQH once IQE is cleared', () => {
    let { state, queue } = irOn();
    const bad = encodeIec({ granularity: 'global', indexMask: 0, interruptIndex: 0 }, 1n << 64n); // qword 1 is reserved
    const r = qiSubmitSync(queue, [iecIndex(1), bad, iecIndex(3)]);
    queue = r.queue;
    let run = apply(state, r.actions);
    state = run.state;
    expect(of(run.events, 'iec-invalidate').map((e) => e.index)).toEqual([1]);
    const err = of(run.events, 'invalidation').find((e) => e.outcome === 'error')!;
    expect(err).toMatchObject({ slot: 3, iqei: IQEI.RESERVED_FIELD });
    expect(unit(state).regs.fsts & 0x10).toBe(0x10);
    expect(IQERCD_REG.decode(unit(state).regs.iqer).IQEI).toBe(IQEI.RESERVED_FIELD);
    expect(unit(state).regs.iqh).toBe(3n * 16n); // the faulting descriptor
    // Another submission: written and IQT moved, but nothing fetched while IQE is set.
    const more = qiSubmitSync(queue, [iecIndex(7)]);
    queue = more.queue;
    run = apply(state, more.actions);
    state = run.state;
    expect(of(run.events, 'iec-invalidate')).toEqual([]);
    expect(of(run.events, 'register-write').at(-1)!.note).toMatch(/IQE is set/);
    // Software replaces the bad descriptor (Linux qi_check_fault copies its wait over it) and clears IQE.
    run = apply(state, [
      { kind: 'write-memory', address: queue.base + 3n * 16n, bytes: 16, value: iecIndex(2) },
      { kind: 'write-register', iommu: 0, register: 'FSTS', value: 0x10n },
    ]);
    state = run.state;
    expect(of(run.events, 'iec-invalidate').map((e) => e.index)).toEqual([2, 3, 7]);
    expect(unit(state).regs.fsts & 0x10).toBe(0);
    expect(unit(state).regs.iqh).toBe(unit(state).regs.iqt);
  });

  it('IQE for each malformed case the spec names (IQEI codes)', () => {
    const cases: [string, (s: PlatformState, q: SoftwareQueue) => Action[], number][] = [
      ['an unknown type', (_s, q) => qiSubmitSync(q, [0x0fn]).actions, IQEI.INVALID_DESCRIPTOR_TYPE],
      ['type 0', (_s, q) => qiSubmitSync(q, [0n]).actions, IQEI.INVALID_DESCRIPTOR_TYPE],
      ['a reserved granularity (context-cache G = 0)', (_s, q) => qiSubmitSync(q, [0x01n]).actions, IQEI.RESERVED_FIELD],
      ['IOTLB AM above CAP.MAMV', (_s, q) => qiSubmitSync(q, [encodeDmaInvalidation({ kind: 'iotlb', granularity: 'page', drainReads: false, drainWrites: false, did: 1, addressMask: 63, invalidationHint: false, address: 0n })]).actions, IQEI.RESERVED_FIELD],
      ['a wait with PD on a unit without ECAP.PDS', (_s, q) => qiSubmitSync(q, [encodeWait({ interruptFlag: false, statusWrite: false, fence: false, pageRequestDrain: true, statusData: 0, statusAddress: 0n })]).actions, IQEI.RESERVED_FIELD],
      ['IQT beyond the queue', () => [{ kind: 'write-iqt', iommu: 0, value: 0x1000n }], IQEI.INVALID_TAIL_POINTER],
    ];
    for (const [what, actions, iqei] of cases) {
      const { state, queue } = irOn();
      const run = apply(state, actions(state, queue));
      const err = of(run.events, 'invalidation').find((e) => e.outcome === 'error');
      expect(err, what).toBeDefined();
      expect(err!.iqei, what).toBe(iqei);
      expect(unit(run.state).regs.fsts & 0x10, what).toBe(0x10);
    }
  });

  it('256-bit descriptors (IQA.DW = 1): needs ECAP.SMTS (IQEI 5), a tail 256-bit aligned (IQEI 6), and bits 255:128 zero — two 128-bit descriptors written into one 256-bit slot are a reserved-field IQE', () => {
    // Without SMTS: DW = 1 is an invalid descriptor width.
    const noSmts = defaultQueue(0, true);
    let run = apply(buildPlatform(description()), [...qiEnableSequence(noSmts).actions, ...qiSubmitSync(noSmts, [iecIndex(1)]).actions]);
    expect(of(run.events, 'invalidation').find((e) => e.outcome === 'error')?.iqei).toBe(IQEI.INVALID_DESCRIPTOR_WIDTH);
    // With SMTS: a 256-bit queue works…
    const ecap = DEFAULT_ECAP | SMTS;
    const q = defaultQueue(0, true);
    run = apply(buildPlatform(description(DEFAULT_CAP, ecap)), [...irEnableSequence(0, { base: IRT, eime: true, entries: 256 }, 0, { wide: true }).actions]);
    expect(of(run.events, 'iec-invalidate')).toHaveLength(1);
    expect(IQA_REG.decode(unit(run.state).regs.iqa)).toMatchObject({ DW: true, QS: 1 });
    expect(unit(run.state).regs.iqt).toBe(2n << 5n);
    // … a tail with bit 4 set is IQEI 6 (and bit 4 is dropped) …
    let s2 = apply(run.state, [{ kind: 'write-iqt', iommu: 0, value: 0x50n }]);
    expect(of(s2.events, 'invalidation')[0]).toMatchObject({ outcome: 'error', iqei: IQEI.TAIL_NOT_ALIGNED });
    expect(unit(s2.state).regs.iqt).toBe(0x40n);
    // … and two 128-bit descriptors written back to back into a 256-bit slot read as one with qwords 2–3 set.
    s2 = apply(run.state, [
      { kind: 'write-memory', address: q.base + 2n * 32n, bytes: 16, value: iecIndex(1) },
      { kind: 'write-memory', address: q.base + 2n * 32n + 16n, bytes: 16, value: iecIndex(2) },
      { kind: 'write-iqt', iommu: 0, value: 3n << 5n },
    ]);
    expect(of(s2.events, 'invalidation')[0]).toMatchObject({ outcome: 'error', iqei: IQEI.RESERVED_FIELD, slot: 2 });
  });

  it('the wait descriptor: SW writes STDATA to STADDR; IF sets ICS.IWC and, with IECTL.IM = 0, sends the completion event to IEDATA/IEADDR', () => {
    let { state, queue } = irOn();
    const status = queue.statusBase + 4n * 2n;
    expect(state.memory.readLE(queue.statusBase + 4n, 4)).toBe(BigInt(QI_DONE)); // enable-ir's wait in slot 1
    // IF with IECTL.IM = 1 (its reset value): IWC and IP set, no message.
    const ifWait = encodeWait({ interruptFlag: true, statusWrite: true, fence: true, pageRequestDrain: false, statusData: 0xabc, statusAddress: status });
    let r = qiSubmitSync(queue, [ifWait], { wait: false });
    queue = r.queue;
    let run = apply(state, r.actions);
    state = run.state;
    expect(state.memory.readLE(status, 4)).toBe(0xabcn);
    expect(unit(state).regs.ics).toBe(1);
    expect(unit(state).regs.iectl >>> 0).toBe(0xc000_0000);
    expect(of(run.events, 'event-interrupt')).toEqual([]);
    // Programming the message and clearing IM sends it (VirtualBox dmarIectlRegWrite) and clears IP.
    run = apply(state, [
      { kind: 'write-register', iommu: 0, register: 'IEDATA', value: 0x62n },
      { kind: 'write-register', iommu: 0, register: 'IEADDR', value: 0xfee0_2000n },
      { kind: 'write-register', iommu: 0, register: 'IECTL', value: 0n },
    ]);
    state = run.state;
    expect(of(run.events, 'event-interrupt')).toMatchObject([{ event: 'invalidation-completion', vector: 0x62, destination: 2, targets: [2] }]);
    expect(unit(state).regs.iectl).toBe(0);
    // Another IF while IWC is still set is no new interrupt condition.
    r = qiSubmitSync(queue, [ifWait], { wait: false });
    queue = r.queue;
    run = apply(state, r.actions);
    state = run.state;
    expect(of(run.events, 'event-interrupt')).toEqual([]);
    // ICS is RW1C; once IWC is clear, the next IF interrupts at once (IM = 0).
    run = apply(state, [{ kind: 'write-register', iommu: 0, register: 'ICS', value: 1n }, ...qiSubmitSync(queue, [ifWait], { wait: false }).actions]);
    expect(of(run.events, 'event-interrupt')).toHaveLength(1);
  });

  it('QIE: needs ECAP.QI and IQT = 0 to be enabled; cannot be cleared while descriptors are pending; clearing it resets IQH', () => {
    const QIE = 1 << 26;
    // IQT written before enabling: QIES stays clear.
    let run = apply(buildPlatform(description()), [{ kind: 'write-register', iommu: 0, register: 'IQA', value: 0x6400_0000n }, { kind: 'write-iqt', iommu: 0, value: 0x20n }, { kind: 'write-gcmd', iommu: 0, value: QIE }]);
    expect(unit(run.state).regs.gsts & QIES).toBe(0);
    expect(of(run.events, 'register-write').at(-1)!.note).toMatch(/IQT = 0x20/);
    // No ECAP.QI: ignored.
    run = apply(buildPlatform(description(DEFAULT_CAP, DEFAULT_ECAP & ~2n)), [{ kind: 'write-gcmd', iommu: 0, value: QIE }]);
    expect(unit(run.state).regs.gsts & QIES).toBe(0);
    // Stopped by IQE with IQH ≠ IQT: QIE cannot be cleared.
    const { state, queue } = irOn();
    run = apply(state, qiSubmitSync(queue, [0n]).actions);
    run = apply(run.state, [{ kind: 'write-gcmd', iommu: 0, value: 1 << 25 }]);
    expect(unit(run.state).regs.gsts & QIES).toBe(QIES);
    expect(of(run.events, 'register-write')[0]!.note).toMatch(/not drained/);
    // Drained: cleared, and IQH reads 0.
    run = apply(state, [{ kind: 'write-gcmd', iommu: 0, value: 1 << 25 }]);
    expect(unit(run.state).regs.gsts & QIES).toBe(0);
    expect(unit(run.state).regs.iqh).toBe(0n);
  });

  it('IEC invalidation needs the queue: with QIE = 0 the request is ignored, traced, and the IEC keeps its entry', () => {
    // IR on without queued invalidation (the IEC flush of the sequence is ignored too).
    const seq = irEnableSequence(0, { base: IRT, eime: true, entries: 256 }, 0, { queue: null });
    let run = apply(buildPlatform(description()), [...seq.actions, irte(5, 0x30), msi(5)]);
    expect(of(run.events, 'invalidation')[0]).toMatchObject({ outcome: 'ignored', via: 'direct' });
    expect(unit(run.state).iec.order).toEqual([5]);
    run = apply(run.state, [{ kind: 'invalidate-iec', iommu: 0, descriptor: iecIndex(5) }]);
    expect(run.events).toMatchObject([{ kind: 'invalidation', outcome: 'ignored', note: expect.stringMatching(/QIES = 0/) }]);
    expect(unit(run.state).iec.order).toEqual([5]);
  });

  it('an invalidation takes effect when the hardware processes it: between the descriptor write and the IQT write the cached IRTE is still used', () => {
    let { state, queue } = irOn();
    let run = apply(state, [irte(5, 0x30), msi(5)]);
    expect(of(run.events, 'interrupt-delivered')[0]).toMatchObject({ vector: 0x30, iecHit: false });
    run = apply(run.state, [irte(5, 0x31)]);
    // Submitted: written into the ring, IQT not yet moved.
    const r = qiSubmitSync(queue, [iecIndex(5)], { doorbell: false });
    queue = r.queue;
    run = apply(run.state, [...r.actions, msi(5)]);
    expect(of(run.events, 'interrupt-delivered')[0]).toMatchObject({ vector: 0x30, iecHit: true });
    // The doorbell: processed now.
    run = apply(run.state, [{ kind: 'write-iqt', iommu: 0, value: BigInt(queue.head) << 4n }, msi(5)]);
    expect(of(run.events, 'iec-invalidate')[0]).toMatchObject({ via: 'queue', dropped: [5] });
    expect(of(run.events, 'interrupt-delivered')[0]).toMatchObject({ vector: 0x31, iecHit: false });
    state = run.state;
    expect(unit(state).regs.iqh).toBe(unit(state).regs.iqt);
  });

  it('the invalidate-* actions are "processed by the queue now": same effect as the ring, no ring involved', () => {
    const { state } = irOn();
    const run = apply(state, [irte(5, 0x30), msi(5), { kind: 'invalidate-iec', iommu: 0, descriptor: iecIndex(5) }]);
    expect(of(run.events, 'iec-invalidate')[0]).toMatchObject({ via: 'direct', dropped: [5] });
    expect(unit(run.state).regs.iqt).toBe(unit(state).regs.iqt);
  });
});

// ---------------------------------------------------------------------------------------

describe('ESIRTPS (CAP bit 62)', () => {
  const switchTable = (s: PlatformState): Run =>
    apply(s, [
      { kind: 'write-irta', iommu: 0, value: (IRT + 0x10_0000n) | (1n << 11n) | 7n },
      irte(5, 0x31, 2),
      { kind: 'write-gcmd', iommu: 0, value: (1 << 26) | (1 << 25) | (1 << 24) },
      msi(5),
    ]);
  it('clear: SIRTP leaves the old table\'s cached IRTE in use (asterinas #3920) until a global IEC invalidation', () => {
    const { state } = irOn();
    const cached = apply(state, [irte(5, 0x30), msi(5)]).state;
    const run = switchTable(cached);
    expect(of(run.events, 'register-write').at(-1)!.note).toMatch(/ESIRTPS = 0: the IEC keeps 1 entry/);
    expect(of(run.events, 'interrupt-delivered')[0]).toMatchObject({ vector: 0x30, iecHit: true, targets: [1] });
  });
  it('set: SIRTP invalidates the IEC, the new table is read; clearing IRE invalidates it too', () => {
    const { state } = irOn(DEFAULT_CAP | ESIRTPS);
    const cached = apply(state, [irte(5, 0x30), msi(5)]).state;
    const run = switchTable(cached);
    expect(of(run.events, 'register-write').at(-1)!.note).toMatch(/SIRTP invalidates the IEC \(1 dropped\)/);
    expect(of(run.events, 'interrupt-delivered')[0]).toMatchObject({ vector: 0x31, iecHit: false, targets: [2] });
    const off = apply(run.state, [{ kind: 'write-gcmd', iommu: 0, value: 1 << 26 }]);
    expect(unit(off.state).iec.order).toEqual([]);
  });
  it('the Linux sequence skips the global IEC flush after SIRTP on ESIRTPS hardware', () => {
    const kinds = (cap: bigint): string[] => irEnableSequence(0, { base: IRT, eime: true, entries: 256 }, 0, { esirtps: (cap & ESIRTPS) !== 0n }).actions.map((a) => a.kind);
    expect(kinds(DEFAULT_CAP)).toContain('write-memory');
    expect(kinds(DEFAULT_CAP | ESIRTPS)).not.toContain('write-memory');
  });
});

// ---------------------------------------------------------------------------------------

/** Random DMA caches from small pools, so that invalidations hit and miss. */
const RIDS = [0x0300, 0x0301, 0x0304, 0x0306, 0x0700, 0x0705] as const;
const DIDS = [0, 1, 2] as const;
const cachesArb: fc.Arbitrary<DmaCaches> = fc
  .record({
    context: fc.array(fc.record({ rid: fc.constantFrom(...RIDS), did: fc.constantFrom(...DIDS) }), { maxLength: 6 }),
    iotlb: fc.array(
      fc.record({
        did: fc.constantFrom(...DIDS),
        page: fc.integer({ min: 0, max: 40 }),
        big: fc.boolean(),
        type: fc.constantFrom('legacy-second-stage' as const, 'second-stage' as const, 'nested' as const, 'first-stage' as const),
      }),
      { maxLength: 8 },
    ),
    psc: fc.array(fc.record({ did: fc.constantFrom(...DIDS), level: fc.integer({ min: 2, max: 4 }), prefix: fc.integer({ min: 0, max: 3 }) }), { maxLength: 4 }),
  })
  .map(({ context, iotlb, psc }) => {
    const c = emptyDmaCaches({ context: 64, iotlb: 64, pagingStructure: 64 });
    return {
      ...c,
      context: context.map((x) => ({ rid: x.rid, mode: 'legacy' as const, did: x.did, entry: BigInt(x.rid) })),
      iotlb: iotlb.map((x): IotlbEntry => ({ did: x.did, privileged: false, type: x.type, page: BigInt(x.page), pageSize: x.big ? 2 ** 21 : 4096, hpaBase: 0x8000_0000n, permissions: { read: true, write: true, execute: false }, dirty: true })),
      pagingStructure: psc.map((x) => ({ did: x.did, root: 0x6000_1000n, prefix: BigInt(x.prefix), level: x.level, nextTable: 0x6000_2000n, permissions: { read: true, write: true, execute: false } })),
    };
  });

const ccmdArb = fc.record({ cirg: fc.integer({ min: 0, max: 3 }), did: fc.constantFrom(...DIDS), sid: fc.constantFrom(...RIDS), fm: fc.integer({ min: 0, max: 3 }) }).map((f) => CCMD_REG.encode({ ICC: true, CIRG: f.cirg, CAIG: 0, DID: f.did, SID: f.sid, FM: f.fm }));
const iotlbArb = fc.record({ iirg: fc.integer({ min: 0, max: 3 }), did: fc.constantFrom(...DIDS), dr: fc.boolean(), dw: fc.boolean() }).map((f) => IOTLB_REG.encode({ IVT: true, IIRG: f.iirg, IAIG: 0, DR: f.dr, DW: f.dw, DID: f.did }));
const ivaArb = fc.record({ page: fc.integer({ min: 0, max: 40 }), am: fc.integer({ min: 0, max: 20 }), ih: fc.boolean() }).map((f) => IVA_REG.encode({ ADDR: f.page, AM: f.am, IH: f.ih }));

type RegisterPath = (u: IommuUnit, value: bigint) => { unit: IommuUnit };

describe('register-based invalidation (CCMD_REG, IOTLB_REG/IVA_REG) equals queued invalidation', () => {
  const base = buildPlatform(description());
  const legacyUnit = (dma: DmaCaches): IommuUnit => ({ ...unit(base), dma });
  /** The caches after the same request made through the queue (the descriptor the register value stands for). */
  const viaQueue = (u: IommuUnit, descriptor: bigint): DmaCaches => {
    const r = processDescriptor(u, base.memory, 46, descriptor, false);
    return r.ok ? r.unit.dma : u.dma;
  };
  const ccmdEquivalent = (ccmd: RegisterPath) =>
    fc.property(cachesArb, ccmdArb, (caches, value) => {
      const u = legacyUnit(caches);
      const d = ccmdInvalidation(value);
      const queued = viaQueue(u, d.granularity === 'reserved-0' ? 0x01n : encodeDmaInvalidation(d));
      expect(ccmd(u, value).unit.dma).toEqual(queued);
    });
  const iotlbEquivalent = (iotlb: RegisterPath) =>
    fc.property(cachesArb, iotlbArb, ivaArb, (caches, value, iva) => {
      const u = writeIva(legacyUnit(caches), iva);
      const d = iotlbInvalidation(value, iva);
      const queued = viaQueue(u, d.granularity === 'reserved-0' ? 0x02n : encodeDmaInvalidation(d));
      expect(iotlb(u, value).unit.dma).toEqual(queued);
    });

  it('CCMD_REG: every granularity, DID, SID and function mask drops what the context-cache descriptor drops', () => {
    fc.assert(ccmdEquivalent(writeCcmd), RUNS);
  });
  it('IOTLB_REG with IVA_REG: global, domain and page-selective (AM, IH) drop what the IOTLB descriptor drops', () => {
    fc.assert(iotlbEquivalent(writeIotlb), RUNS);
  });
  it('and ICC / IVT read 0 afterwards, with CAIG / IAIG reporting what was done (0: not performed)', () => {
    const u = legacyUnit(emptyDmaCaches());
    const dev = writeCcmd(u, CCMD_REG.encode({ ICC: true, CIRG: 3, CAIG: 0, DID: 1, SID: 0x300, FM: 0 })).unit;
    expect(CCMD_REG.decode(dev.regs.ccmd)).toMatchObject({ ICC: false, CAIG: 3 });
    const reserved = writeCcmd(u, CCMD_REG.encode({ ICC: true, CIRG: 0, CAIG: 0, DID: 1, SID: 0, FM: 0 }));
    expect(CCMD_REG.decode(reserved.unit.regs.ccmd)).toMatchObject({ ICC: false, CAIG: 0 });
    expect(reserved.processed).toMatchObject({ outcome: 'ignored' });
    const page = writeIotlb(u, IOTLB_REG.encode({ IVT: true, IIRG: 3, IAIG: 0, DR: false, DW: false, DID: 1 })).unit;
    expect(IOTLB_REG.decode(page.regs.iotlb)).toMatchObject({ IVT: false, IAIG: 3 });
    // With queued invalidation enabled the unit does not perform register-based invalidation.
    const qi = { ...u, regs: { ...u.regs, gsts: QIES } };
    expect(writeCcmd(qi, CCMD_REG.encode({ ICC: true, CIRG: 1, CAIG: 0, DID: 0, SID: 0, FM: 0 })).processed).toMatchObject({ outcome: 'ignored', note: expect.stringMatching(/QIES = 1/) });
  });
  it('the property can fail: a register path that drops the function mask is caught', () => {
    const broken: RegisterPath = (u, value) => writeCcmd(u, value & ~(3n << 32n));
    const r = fc.check(ccmdEquivalent(broken), { ...RUNS, numRuns: 2000 });
    expect(r.failed).toBe(true);
  });
  it('the property can fail: a register path that performs page-selective as domain-selective is caught', () => {
    const broken: RegisterPath = (u, value) => writeIotlb(u, IOTLB_REG.decode(value).IIRG === 3 ? value & ~(1n << 60n) : value);
    expect(fc.check(iotlbEquivalent(broken), { ...RUNS, numRuns: 2000 }).failed).toBe(true);
  });
  it('a scenario without queued invalidation (ECAP.QI = 0) invalidates the DMA caches through CCMD_REG and IOTLB_REG', () => {
    const text = `name: no-qi
platform:
  cpus: { count: 1 }
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, ecap: 0xf020fc }
devices:
  - { bdf: "07:00.0" }
domains:
  - { name: host, kind: host, cpus: [0], devices: ["07:00.0"] }
steps:
  - enable-dma: { iommu: 0 }
  - map-dma: { iommu: 0, device: "07:00.0", did: 1, mode: legacy, mappings: [{ iova: 0x10000, hpa: 0x80000000, size: 0x1000 }] }
  - unmap-dma: { iommu: 0, device: "07:00.0", did: 1, iova: 0x10000, size: 0x1000 }
`;
    const c = compileScenario(parseScenarioText(text, 'no-qi.yaml'));
    const regs = c.steps.flatMap((s) => s.actions.filter((a) => a.kind === 'write-register').map((a) => (a as { register: string }).register));
    expect(regs).toEqual(['CCMD', 'IOTLB', 'CCMD', 'IOTLB', 'IVA', 'IOTLB']);
    expect(c.steps.flatMap((s) => s.actions).some((a) => a.kind === 'write-iqt' || a.kind === 'invalidate-dma')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------

describe('compile: Linux\'s sequences', () => {
  const scenario = (steps: string, unit = '{ registerBase: 0xfed90000, includePciAll: true }') => `name: qi
platform:
  cpus: { count: 2 }
  iommus:
    - ${unit}
devices:
  - { bdf: "07:00.0" }
domains:
  - { name: host, kind: host, cpus: [0, 1], devices: ["07:00.0"] }
steps:
${steps}`;
  const actions = (text: string): Action[] => compileScenario(parseScenarioText(text, 'qi.yaml')).steps.flatMap((s) => [...s.actions]);

  it('enable-ir turns queued invalidation on first (IQT = 0, IQA, QIE), then IRTA, SIRTP, the IEC flush through the ring with a status-write wait, IRE', () => {
    const a = actions(scenario('  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }'));
    expect(a.map((x) => (x.kind === 'write-register' ? `${x.kind}:${x.register}` : x.kind))).toEqual(['write-iqt', 'write-register:IQA', 'write-gcmd', 'write-irta', 'write-gcmd', 'write-memory', 'write-memory', 'write-iqt', 'write-gcmd']);
    const mem = a.filter((x): x is Extract<Action, { kind: 'write-memory' }> => x.kind === 'write-memory');
    expect(descriptorType(mem[0]!.value)).toBe(INV_DESC_TYPE.IEC);
    expect(decodeWait(mem[1]!.value).desc).toMatchObject({ statusWrite: true, statusData: QI_DONE, statusAddress: defaultQueue(0, false).statusBase + 4n });
  });
  it('enable-dma after enable-ir uses the same queue (no second QI enable); on ECAP.SMTS hardware the queue is 256-bit, two pages', () => {
    const a = actions(scenario('  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }\n  - enable-dma: { iommu: 0 }'));
    expect(a.filter((x) => x.kind === 'write-register' && x.register === 'IQA')).toHaveLength(1);
    const smts = actions(scenario('  - enable-dma: { iommu: 0, scalable: true }', `{ registerBase: 0xfed90000, includePciAll: true, ecap: "0x${(DEFAULT_ECAP | SMTS).toString(16)}" }`));
    const iqa = smts.find((x): x is Extract<Action, { kind: 'write-register' }> => x.kind === 'write-register' && x.register === 'IQA')!;
    expect(IQA_REG.decode(iqa.value)).toMatchObject({ DW: true, QS: 1 });
    expect(smts.filter((x): x is Extract<Action, { kind: 'write-memory' }> => x.kind === 'write-memory').every((x) => x.bytes === 32)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------

describe('totality of the queue and register actions', () => {
  const registers = ['IQA', 'IQT', 'FSTS', 'FECTL', 'FEDATA', 'FEADDR', 'FEUADDR', 'ICS', 'IECTL', 'IEDATA', 'IEADDR', 'IEUADDR', 'CCMD', 'IVA', 'IOTLB'] as const;
  const u64 = fc.oneof(bitsN(64), fc.bigInt({ min: 0n, max: 0x8_0000n }), fc.constantFrom(0n, 0x10n, 0x20n, 0x6400_0000n, 0x6400_0801n, 0xfee0_1000n, 1n << 63n));
  const action: fc.Arbitrary<Action> = fc.oneof(
    fc.record({ kind: fc.constant('write-register' as const), iommu: fc.integer({ min: -1, max: 1 }), register: fc.constantFrom(...registers), value: u64 }),
    fc.record({ kind: fc.constant('write-iqt' as const), iommu: fc.integer({ min: -1, max: 1 }), value: u64 }),
    fc.record({ kind: fc.constant('write-gcmd' as const), iommu: fc.constant(0), value: fc.integer({ min: 0, max: 0xffff_ffff }) }),
    fc.record({ kind: fc.constant('write-memory' as const), address: fc.bigInt({ min: 0x6400_0000n, max: 0x6400_0ff0n }).map((a) => a & ~0xfn), bytes: fc.constant(16), value: bitsN(128) }),
    fc.record({ kind: fc.constant('invalidate-dma' as const), iommu: fc.constant(0), descriptor: bitsN(128) }),
    fc.record({ kind: fc.constant('msi-write' as const), device: fc.constant(DEV), address: fc.constantFrom(0xfee00000n, 0xfee00010n), data: fc.integer({ min: 0, max: 0xff }) }),
  );
  it('no sequence throws; every event carries its step', () => {
    const { state } = irOn();
    fc.assert(
      fc.property(fc.array(action, { maxLength: 30 }), (actions) => {
        let s = state;
        for (let i = 0; i < actions.length; i++) {
          const r = applyAction(s, actions[i]!, i);
          for (const e of r.events) expect(e.step).toBe(i);
          s = r.state;
        }
      }),
      { ...RUNS, numRuns: 300 },
    );
  });
});
