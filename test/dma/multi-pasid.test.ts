/**
 * Several PASIDs of one device (issue #10 item 6): `map-dma` installs into the device's
 * existing scalable context entry, PASID directory and PASID table, so a second PASID keeps the
 * first (before, the directory was rebuilt and the first PASID faulted 0x59); RID_PASID only
 * when asked (`ridPasid`); the hypervisor's DMA intent per (device, PASID) and domain, so
 * unmapping one PASID does not flag the other (P2 judges an access by the device and the PASID
 * it carried); and the stand-alone invalidation steps, compiled to bit-exact descriptors.
 */
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario, type CompiledScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import { checkDmaIsolation } from '../../src/properties/p2-dma-isolation.ts';
import { decodeDmaInvalidation, encodeDmaInvalidation } from '../../src/vtd/dma/invalidation-dma.ts';
import { decodeWait, descriptorType, encodeWait, INV_DESC_TYPE } from '../../src/vtd/invalidation.ts';
import type { Action } from '../../src/platform/actions.ts';
import { RTADDR, SCALABLE_CONTEXT_ENTRY, SCALABLE_ROOT_ENTRY, frameAddress } from '../../src/vtd/dma/structures.ts';
import { InputError } from '../../src/io/input-error.ts';
import { SCALABLE_ECAP } from '../../src/platform/build.ts';

/** ECAP of a real scalable-mode unit (src/platform/build.ts SCALABLE_ECAP), without and with RPS (bit 49). */
const ECAP_SM_RPS = SCALABLE_ECAP;
const ECAP_SM = SCALABLE_ECAP & ~(1n << 49n);

const scenario = (steps: readonly object[], ecap = ECAP_SM): string =>
  [
    'name: multi-pasid',
    'platform:',
    '  hostAddressWidth: 46',
    '  cpus: { count: 3 }',
    `  iommus: [{ registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: "0x${ecap.toString(16)}" }]`,
    'devices: [{ bdf: "07:00.0" }, { bdf: "08:00.0" }]',
    'domains:',
    '  - { name: host, kind: host, cpus: [0] }',
    '  - { name: vm1, kind: guest, cpus: [1], devices: ["07:00.0"] }',
    '  - { name: vm2, kind: guest, cpus: [2], devices: ["08:00.0"] }',
    `steps: ${JSON.stringify([{ 'enable-dma': { iommu: 0, scalable: true } }, ...steps])}`,
  ].join('\n') + '\n';

const compile = (text: string): CompiledScenario => compileScenario(parseScenarioText(text, 'multi-pasid.yaml'));
const run = (steps: readonly object[], ecap?: bigint): RunResult => runScenario(compile(scenario(steps, ecap)));
const outcome = (r: RunResult, step: number): PlatformEvent => {
  const e = r.steps[step + 1]!.events.filter((x) => x.kind === 'dma-access' || x.kind === 'dma-fault' || x.kind === 'action-rejected');
  expect(e, JSON.stringify(r.steps[step + 1]!.events.map((x) => x.kind))).toHaveLength(1);
  return e[0]!;
};
const hpaOf = (e: PlatformEvent): bigint | undefined => (e.kind === 'dma-access' ? e.hpa : undefined);
const reasonOf = (e: PlatformEvent): number | undefined => (e.kind === 'dma-fault' ? e.reason : undefined);

const map = (pasid: number | undefined, mode: string, did: number, iova: number, hpa: number, extra: object = {}): object => ({
  'map-dma': { iommu: 0, device: '07:00.0', did, mode, ...(pasid === undefined ? {} : { pasid }), mappings: [{ iova, hpa, ...(mode === 'nested' ? { gpa: iova + 0x100000 } : {}), size: 0x1000 }], ...extra },
});
const dma = (pasid: number | undefined, address: number, write = true): object => ({ dma: { device: '07:00.0', ...(pasid === undefined ? {} : { pasid }), address, size: 8, ...(write ? { value: 1 } : { write: false }) } });

/** The scalable context entry of 07:00.0 in memory. */
function context(state: PlatformState): ReturnType<typeof SCALABLE_CONTEXT_ENTRY.decode> {
  const root = frameAddress(RTADDR.decode(state.iommus[0]!.regs.rtaddrLatched).RTA) + 7n * 16n;
  const re = SCALABLE_ROOT_ENTRY.decode(state.memory.readLE(root, 16));
  return SCALABLE_CONTEXT_ENTRY.decode(state.memory.readLE(frameAddress(re.LCTP), 32));
}

describe('a second map-dma for another PASID of the same device keeps the first', () => {
  for (const [first, second] of [['first-stage', 'second-stage'], ['second-stage', 'nested'], ['nested', 'first-stage'], ['pass-through', 'second-stage']] as const) {
    it(`${first} PASID 1, then ${second} PASID 2: both translate, the context and PASID directory are the same`, () => {
      // Pass-through maps IOVA = HPA: its intent says so.
      const r = run([map(1, first, 1, 0x10000, first === 'pass-through' ? 0x10000 : 0x8000_0000), map(2, second, 2, 0x10000, 0x8100_0000), dma(1, 0x10008), dma(2, 0x10010)]);
      expect(r.steps.flatMap((s) => s.events).filter((e) => e.kind === 'action-rejected')).toEqual([]);
      expect(hpaOf(outcome(r, 2))).toBe(first === 'pass-through' ? 0x10008n : 0x8000_0008n);
      expect(hpaOf(outcome(r, 3))).toBe(0x8100_0010n);
      expect(r.dmaIsolation).toEqual([]);
      expect(r.coherence).toEqual([]);
    });
  }

  it('the context entry is written once: the second map reuses its PASID directory (and the PASID table under it)', () => {
    const c = compile(scenario([map(1, 'second-stage', 1, 0x10000, 0x8000_0000), map(2, 'second-stage', 1, 0x20000, 0x8000_1000)]));
    let s = runScenario({ ...c, steps: c.steps.slice(0, 2) }).final;
    const before = context(s);
    for (const a of c.steps[2]!.actions) s = applyAction(s, a).state;
    expect(context(s)).toEqual(before);
    expect(before.PASIDDIRPTR).not.toBe(0);
  });

  it('a PASID beyond the first 128 directory entries grows PDTS in place; one beyond a directory page is refused', () => {
    const r = run([map(1, 'second-stage', 1, 0x10000, 0x8000_0000), map(10_000, 'second-stage', 1, 0x20000, 0x8000_1000), dma(10_000, 0x20000), dma(1, 0x10000)]);
    expect(hpaOf(outcome(r, 2))).toBe(0x8000_1000n);
    expect(hpaOf(outcome(r, 3))).toBe(0x8000_0000n);
    expect(context(r.final).PDTS).toBe(1);
    const big = run([map(40_000, 'second-stage', 1, 0x10000, 0x8000_0000)]);
    expect(big.steps[1]!.events.find((e) => e.kind === 'action-rejected')).toMatchObject({ why: expect.stringMatching(/PDTS 3 needs a PASID directory of 1024 entries/) });
  });
});

describe('RID_PASID only when asked', () => {
  it('a map with a PASID leaves requests without PASID on RID_PASID 0: they fault 0x59 (no PASID 0 entry)', () => {
    const r = run([map(5, 'second-stage', 1, 0x10000, 0x8000_0000), dma(undefined, 0x10000), dma(5, 0x10000)]);
    expect(reasonOf(outcome(r, 1))).toBe(0x59);
    expect(hpaOf(outcome(r, 2))).toBe(0x8000_0000n);
    expect(context(r.final).RID_PASID).toBe(0);
  });

  it('a map without PASID is the one for requests without PASID (PASID 0); it keeps a PASID mapped before', () => {
    const r = run([map(5, 'first-stage', 1, 0x10000, 0x8000_0000), map(undefined, 'second-stage', 2, 0x10000, 0x8100_0000), dma(undefined, 0x10000), dma(5, 0x10000), dma(0, 0x10000)]);
    expect(hpaOf(outcome(r, 2))).toBe(0x8100_0000n);
    expect(hpaOf(outcome(r, 3))).toBe(0x8000_0000n);
    // A request with PASID 0 reaches the same entry (PASID 0 is RID_PASID).
    expect(hpaOf(outcome(r, 4))).toBe(0x8100_0000n);
    expect(r.dmaIsolation).toEqual([]);
  });

  it('ridPasid: requests without PASID use the map’s PASID (needs ECAP.RPS; refused without it)', () => {
    const steps = [map(5, 'second-stage', 1, 0x10000, 0x8000_0000, { ridPasid: true }), dma(undefined, 0x10000), dma(5, 0x10008)];
    const r = run(steps, ECAP_SM_RPS);
    expect(context(r.final).RID_PASID).toBe(5);
    expect(hpaOf(outcome(r, 1))).toBe(0x8000_0000n);
    expect(hpaOf(outcome(r, 2))).toBe(0x8000_0008n);
    expect(r.dmaIsolation).toEqual([]);
    const refused = run(steps, ECAP_SM);
    expect(refused.steps[1]!.events.find((e) => e.kind === 'action-rejected')).toMatchObject({ why: expect.stringMatching(/no ECAP\.RPS/) });
    // A later map without PASID then goes to PASID 5, the one requests without PASID use.
    const again = run([...steps.slice(0, 1), map(undefined, 'second-stage', 1, 0x20000, 0x8000_1000), dma(5, 0x20000), dma(undefined, 0x20000)], ECAP_SM_RPS);
    expect(hpaOf(outcome(again, 2))).toBe(0x8000_1000n);
    expect(hpaOf(outcome(again, 3))).toBe(0x8000_1000n);
  });

  it('the scenario refuses pasid in legacy mode and ridPasid without pasid', () => {
    const legacy = scenario([map(1, 'legacy', 1, 0x10000, 0x8000_0000)]).replace('scalable: true', 'scalable: false');
    expect(() => compile(legacy)).toThrow(InputError);
    expect(() => compile(scenario([map(undefined, 'second-stage', 1, 0x10000, 0x8000_0000, { ridPasid: true })]))).toThrow(/ridPasid names the PASID/);
  });
});

describe('the DMA intent per (device, PASID) and domain (P2)', () => {
  it('unmapping one PASID’s IOVA does not flag the other PASID mapping the same IOVA (before: a false P2)', () => {
    const r = run([
      map(1, 'second-stage', 1, 0x10000, 0x8000_0000),
      map(2, 'first-stage', 2, 0x10000, 0x8100_0000),
      dma(2, 0x10000),
      { 'unmap-dma': { iommu: 0, device: '07:00.0', did: 1, pasid: 1, iova: 0x10000, size: 0x1000 } },
      dma(2, 0x10008),
      dma(1, 0x10000),
    ]);
    expect(hpaOf(outcome(r, 4))).toBe(0x8100_0008n);
    expect(reasonOf(outcome(r, 5))).toBe(0x79);
    expect(r.dmaIsolation).toEqual([]);
    expect(r.final.intent.dma['07:00.0']).toMatchObject({ domain: 1, ridPasid: 0, spaces: { '1': { did: 1, grants: [] }, '2': { did: 2, grants: [{ iova: 0x10000n, hpa: 0x8100_0000n }] } } });
  });

  it('an access is judged by the PASID it carried: PASID 2 reaching PASID 1’s page is a P2 violation', () => {
    const c = compile(scenario([map(1, 'second-stage', 1, 0x10000, 0x8000_0000), map(2, 'second-stage', 2, 0x20000, 0x8100_0000), dma(2, 0x20000)]));
    const r = runScenario(c);
    const walk = outcome(r, 2);
    if (walk.kind !== 'dma-access') throw new Error(walk.kind);
    // A hypervisor bug: PASID 2's leaf rewritten to PASID 1's page (no intent change), then flushed.
    const leaf = walk.references.at(-1)!;
    let s = r.final;
    const events: PlatformEvent[] = [];
    const iotlbGlobal = encodeDmaInvalidation({ kind: 'iotlb', granularity: 'global', drainReads: true, drainWrites: true, did: 0, addressMask: 0, invalidationHint: false, address: 0n });
    const wait = encodeWait({ interruptFlag: false, statusWrite: false, fence: true, pageRequestDrain: false, statusData: 0, statusAddress: 0n });
    for (const a of [
      { kind: 'write-memory', address: leaf.entryAddress, bytes: 8, value: (leaf.entry & 0xfffn) | 0x8000_0000n },
      { kind: 'invalidate-dma', iommu: 0, descriptor: iotlbGlobal },
      { kind: 'invalidation-wait', iommu: 0, descriptor: wait },
      { kind: 'dma', device: '07:00.0', pasid: 2, address: 0x20000n, size: 8, write: true, value: 2n },
    ] satisfies Action[]) {
      const x = applyAction(s, a);
      s = x.state;
      events.push(...x.events);
    }
    const v = checkDmaIsolation(s, events);
    expect(v.map((x) => x.message)).toEqual([expect.stringMatching(/^07:00\.0 \(vm1\) wrote HPA 0x80000000\+8 \(IOVA 0x20000 PASID 2, walk\), which its mappings for PASID 2 do not cover/)]);
  });

  it('after assign, what was built for the old owner covers nothing', () => {
    const r = run([map(1, 'second-stage', 1, 0x10000, 0x8000_0000), { assign: { device: '07:00.0', domain: 'vm2' } }, dma(1, 0x10000)]);
    expect(r.dmaIsolation.map((v) => v.message)).toEqual([expect.stringMatching(/^07:00\.0 \(vm2\) wrote HPA 0x80000000\+8/)]);
  });
});

/**
 * The descriptors a compiled step submits, in order: `invalidate-dma` / `invalidation-wait`
 * actions as compile.ts makes them, or — once the compiler lowers them onto the unit's
 * invalidation queue (src/platform/ir-enable.ts) — the descriptors it writes into the ring
 * (16- or 32-byte stores; qwords 2–3 of a 256-bit one are zero).
 */
function descriptorsOf(actions: readonly Action[]): bigint[] {
  return actions.flatMap((a) => {
    if (a.kind === 'invalidate-dma' || a.kind === 'invalidation-wait') return [a.descriptor];
    if (a.kind === 'write-memory' && (a.bytes === 16 || a.bytes === 32)) return [a.value & ((1n << 128n) - 1n)];
    return [];
  });
}

describe('stand-alone invalidation steps', () => {
  const actions = (step: object): readonly Action[] => compile(scenario([step])).steps[1]!.actions;
  const descriptors = (step: object): bigint[] => descriptorsOf(actions(step));
  const desc = (step: object): ReturnType<typeof decodeDmaInvalidation> => decodeDmaInvalidation(descriptors(step)[0]!);

  it('each compiles to its descriptor (bit-exact, invalidation-dma.ts) and an invalidation wait', () => {
    const cases: [object, Parameters<typeof encodeDmaInvalidation>[0]][] = [
      [{ 'invalidate-context-cache': { iommu: 0, granularity: 'global' } }, { kind: 'context-cache', granularity: 'global', did: 0, sid: 0, functionMask: 0 }],
      [{ 'invalidate-context-cache': { iommu: 0, granularity: 'domain', did: 7 } }, { kind: 'context-cache', granularity: 'domain', did: 7, sid: 0, functionMask: 0 }],
      [{ 'invalidate-context-cache': { iommu: 0, granularity: 'device', did: 7, sid: '07:00.4', fm: 3 } }, { kind: 'context-cache', granularity: 'device', did: 7, sid: 0x0704, functionMask: 3 }],
      [{ 'invalidate-iotlb': { iommu: 0, granularity: 'global' } }, { kind: 'iotlb', granularity: 'global', drainReads: true, drainWrites: true, did: 0, addressMask: 0, invalidationHint: false, address: 0n }],
      [{ 'invalidate-iotlb': { iommu: 0, granularity: 'domain', did: 3, drain: false } }, { kind: 'iotlb', granularity: 'domain', drainReads: false, drainWrites: false, did: 3, addressMask: 0, invalidationHint: false, address: 0n }],
      [{ 'invalidate-iotlb': { iommu: 0, granularity: 'page', did: 3, address: '0x40000000', am: 9, ih: true } }, { kind: 'iotlb', granularity: 'page', drainReads: true, drainWrites: true, did: 3, addressMask: 9, invalidationHint: true, address: 0x4000_0000n }],
      [{ 'invalidate-pasid-cache': { iommu: 0, granularity: 'global' } }, { kind: 'pasid-cache', granularity: 'global', did: 0, pasid: 0 }],
      [{ 'invalidate-pasid-cache': { iommu: 0, granularity: 'domain', did: 4 } }, { kind: 'pasid-cache', granularity: 'domain', did: 4, pasid: 0 }],
      [{ 'invalidate-pasid-cache': { iommu: 0, granularity: 'pasid', did: 4, pasid: 0xfffff } }, { kind: 'pasid-cache', granularity: 'pasid', did: 4, pasid: 0xfffff }],
      [{ 'invalidate-pasid-iotlb': { iommu: 0, granularity: 'pasid', did: 4, pasid: 9 } }, { kind: 'pasid-iotlb', granularity: 'pasid', did: 4, pasid: 9, addressMask: 0, invalidationHint: false, address: 0n }],
      [{ 'invalidate-pasid-iotlb': { iommu: 0, granularity: 'page', did: 4, pasid: 9, address: 0x12000, am: 1, ih: true } }, { kind: 'pasid-iotlb', granularity: 'page', did: 4, pasid: 9, addressMask: 1, invalidationHint: true, address: 0x12000n }],
    ];
    for (const [step, want] of cases) {
      const d = descriptors(step);
      expect(d).toHaveLength(2);
      expect(d[0]).toBe(encodeDmaInvalidation(want));
      expect(desc(step)).toEqual({ desc: want, reserved: 0n });
      expect(descriptorType(d[1]!)).toBe(INV_DESC_TYPE.WAIT);
      expect(decodeWait(d[1]!).desc.kind).toBe('wait');
    }
    // Known patterns: a device-selective context-cache flush of 07:00.4 under FM 3, DID 7 (sheet §7.3 bit positions).
    expect(descriptors(cases[2]![0])[0]).toBe((3n << 48n) | (0x0704n << 32n) | (7n << 16n) | (3n << 4n) | 1n);
  });

  it('wait: false batches the descriptor with the next step’s wait', () => {
    const d = descriptors({ 'invalidate-iotlb': { iommu: 0, granularity: 'global', wait: false } });
    expect(d.map(descriptorType)).toEqual([INV_DESC_TYPE.IOTLB]);
  });

  it('what each granularity needs is asked for: did, sid, pasid, a 4 KiB-aligned address', () => {
    expect(() => actions({ 'invalidate-context-cache': { iommu: 0, granularity: 'domain' } })).toThrow(/names its domain/);
    expect(() => actions({ 'invalidate-context-cache': { iommu: 0, granularity: 'device', did: 1 } })).toThrow(/source ID/);
    expect(() => actions({ 'invalidate-iotlb': { iommu: 0, granularity: 'page', did: 1 } })).toThrow(/names its address/);
    expect(() => actions({ 'invalidate-iotlb': { iommu: 0, granularity: 'page', did: 1, address: 0x1008 } })).toThrow(/4 KiB aligned/);
    expect(() => actions({ 'invalidate-pasid-cache': { iommu: 0, granularity: 'pasid', did: 1 } })).toThrow(/names its PASID/);
    expect(() => compile(scenario([{ 'invalidate-pasid-iotlb': { iommu: 0, granularity: 'page', did: 1 } }]))).toThrow(InputError);
  });

  it('a map-dma moved to another DID also flushes the old one (PASID cache and IOTLB)', () => {
    const c = compile(scenario([map(1, 'second-stage', 1, 0x10000, 0x8000_0000), map(1, 'second-stage', 2, 0x10000, 0x8100_0000)]));
    const flushed = descriptorsOf(c.steps[2]!.actions).flatMap((d) => decodeDmaInvalidation(d)?.desc ?? []);
    expect(flushed.filter((d) => d.kind === 'iotlb').map((d) => d.did)).toEqual([1, 2]);
    expect(flushed.filter((d) => d.kind === 'pasid-cache').map((d) => d.did)).toEqual([1, 2]);
  });
});
