/**
 * CAP/ECAP honoured by the platform (issue #10 item 5): src/platform/dma-access.ts passes every
 * capability of the unit's CAP_REG / ECAP_REG to the walk (src/vtd/dma/walk.ts
 * `dmaCapabilitiesFromRegisters`), so a device's DMA through a unit WITHOUT a feature faults
 * with the reason the spec gives (the walk's own tests, test/dma/rules.test.ts, show the rules
 * on `translateDma`; these show them through the platform: scenario, unit registers, DMA).
 *
 * Each gate: the tables are built on a unit with the feature (the shared scalable-mode ECAP,
 * src/platform/build.ts SCALABLE_ECAP, or the default R820 ECAP for legacy mode), then the same
 * request is made on that state with the unit's ECAP (or CAP) as it is, and with the one bit
 * cleared — CAP/ECAP are read-only registers, so this is "the same memory on a unit without it".
 * Sources per gate in its title; docs/fidelity.md "DMA translation rules".
 */
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { DmaFaultEvent, PlatformEvent } from '../../src/platform/events.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import { DEFAULT_ECAP, SCALABLE_ECAP } from '../../src/platform/build.ts';
import { decodeCap, decodeEcap, encodeCap, encodeEcap, GLOBAL_COMMAND_BITS, GLOBAL_STATUS_BITS, type Ecap } from '../../src/vtd/registers.ts';
import { RTADDR, TTM, PTE_BITS } from '../../src/vtd/dma/structures.ts';
import type { MemoryReference } from '../../src/vtd/dma/walk.ts';
import { InputError } from '../../src/io/input-error.ts';

/** The R820 CAP with PI, as the shipped DMA scenarios give it. */
const CAP = 0x08d2078c106f0462n;
const DEVICE = '07:00.0';

type EcapFlag = { [K in keyof Ecap]: Ecap[K] extends boolean ? K : never }[keyof Ecap];
/** `ecap` with one feature bit cleared. */
const without = (ecap: bigint, field: EcapFlag): bigint => {
  const e = decodeEcap(ecap);
  expect(e[field], `${field} set in 0x${ecap.toString(16)}`).toBe(true);
  return encodeEcap({ ...e, [field]: false });
};

function scenario(ecap: bigint, steps: readonly object[], cap = CAP): string {
  return [
    'name: capability-gates',
    'platform:',
    '  hostAddressWidth: 46',
    '  cpus: { count: 2 }',
    `  iommus: [{ registerBase: 0xfed90000, includePciAll: true, cap: "0x${cap.toString(16)}", ecap: "0x${ecap.toString(16)}" }]`,
    `devices: [{ bdf: "${DEVICE}" }]`,
    'domains:',
    '  - { name: host, kind: host, cpus: [0] }',
    `  - { name: vm1, kind: guest, cpus: [1], devices: ["${DEVICE}"] }`,
    `steps: ${JSON.stringify(steps)}`,
  ].join('\n') + '\n';
}

/** The state after enabling DMA remapping (legacy or scalable) and one map-dma of 07:00.0. */
function mapped(ecap: bigint, map: Record<string, unknown>, o: { scalable?: boolean; cap?: bigint } = {}): PlatformState {
  const scalable = o.scalable ?? !String(map['mode']).startsWith('legacy');
  const steps = [{ 'enable-dma': { iommu: 0, scalable } }, { 'map-dma': { iommu: 0, device: DEVICE, did: 1, ...map } }];
  const r = runScenario(compileScenario(parseScenarioText(scenario(ecap, steps, o.cap), 'capability-gates.yaml')));
  expect(r.steps.flatMap((s) => s.events).filter((e) => e.kind === 'action-rejected')).toEqual([]);
  return r.final;
}

const withUnit = (s: PlatformState, regs: { cap?: bigint; ecap?: bigint }): PlatformState => {
  const iommus = s.iommus.slice();
  iommus[0] = { ...s.iommus[0]!, ...regs };
  return { ...s, iommus };
};

/** The DMA outcome event of one access by 07:00.0 (`dma-access` or `dma-fault`). */
function access(s: PlatformState, address: bigint, o: { write?: boolean; pasid?: number } = {}): { event: PlatformEvent; state: PlatformState } {
  const write = o.write ?? true;
  const a: Action = { kind: 'dma', device: DEVICE, address, size: 8, write, value: write ? 0x1234n : 0n, ...(o.pasid === undefined ? {} : { pasid: o.pasid }) };
  const r = applyAction(s, a);
  const out = r.events.filter((e) => e.kind === 'dma-access' || e.kind === 'dma-fault');
  expect(out, r.events.map((e) => e.kind).join(', ')).toHaveLength(1);
  return { event: out[0]!, state: r.state };
}

const hpaOf = (e: PlatformEvent): bigint | undefined => (e.kind === 'dma-access' ? e.hpa : undefined);
const faultOf = (e: PlatformEvent): DmaFaultEvent => {
  expect(e.kind, JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))).toBe('dma-fault');
  return e as DmaFaultEvent;
};

/** The structures a successful access of `s` read (a probe on a copy: `s` keeps its empty caches). */
function referencesOf(s: PlatformState, address: bigint, pasid?: number): readonly MemoryReference[] {
  const e = access(s, address, pasid === undefined ? {} : { pasid }).event;
  expect(e.kind).toBe('dma-access');
  return e.kind === 'dma-access' ? e.references : [];
}
const entry = (refs: readonly MemoryReference[], stage: MemoryReference['stage']): bigint => {
  const r = refs.filter((x) => x.stage === stage);
  expect(r.length, stage).toBeGreaterThan(0);
  return r[r.length - 1]!.entryAddress;
};
/** `s` with the 64-bit word at `address` changed by `f`. */
const patch = (s: PlatformState, address: bigint, f: (v: bigint) => bigint): PlatformState => ({ ...s, memory: s.memory.writeLE(address, 8, f(s.memory.readLE(address, 8))) });

/** The request translates on `on` and faults `reason` (`condition`), recorded in an FRCD, on `off`. */
function gate(on: PlatformState, off: PlatformState, address: bigint, hpa: bigint, reason: number, condition: string, o: { pasid?: number } = {}): void {
  expect(hpaOf(access(on, address, o).event)).toBe(hpa);
  const f = faultOf(access(off, address, o).event);
  expect({ reason: f.reason, condition: f.condition }).toEqual({ reason, condition });
  expect(f.frcd).toBe(0);
}

const page = (iova: number, hpa: number): object => ({ iova, hpa, size: 0x1000 });

describe('the shared scalable-mode ECAP is a real unit with every gate open', () => {
  it('SCALABLE_ECAP 0x3fef9ea6f0efdf (Dell R770, Xeon 6515P): SMTS FLTS SLTS NEST SLADS PT DT SC RPS RPRIVS ADMS; the default R820 ECAP has none of the scalable-mode ones', () => {
    const e = decodeEcap(SCALABLE_ECAP);
    for (const f of ['SMTS', 'FLTS', 'SLTS', 'NEST', 'SLADS', 'PT', 'DT', 'SC', 'RPS', 'RPRIVS', 'ADMS', 'QI', 'IR', 'EIM', 'PASID'] as const) expect(e[f], f).toBe(true);
    expect(e.PSS).toBe(19);
    const d = decodeEcap(DEFAULT_ECAP);
    for (const f of ['SMTS', 'FLTS', 'SLTS', 'NEST', 'SLADS', 'RPS', 'RPRIVS', 'ADMS', 'PASID'] as const) expect(d[f], f).toBe(false);
    for (const f of ['DT', 'PT', 'SC'] as const) expect(d[f], f).toBe(true);
  });
});

describe('legacy mode (TTM = 00): the context entry TT and the second-stage leaf', () => {
  it('TT = 01 (device-TLB) needs ECAP.DT: without it 0x03 context-invalid (QEMU vtd_ce_type_check "DT specified but not supported" → VTD_FR_CONTEXT_ENTRY_INV; VirtualBox LCT.4.2)', () => {
    const s = mapped(DEFAULT_ECAP, { mode: 'legacy', mappings: [page(0x10000, 0x8000_0000)] });
    // TT (context entry bits 3:2) = 01b: untranslated requests are translated as with TT = 00b.
    const ctx = entry(referencesOf(s, 0x10000n), 'context');
    const tt1 = patch(s, ctx, (v) => (v & ~0xcn) | 0x4n);
    gate(tt1, withUnit(tt1, { ecap: without(DEFAULT_ECAP, 'DT') }), 0x10008n, 0x8000_0008n, 0x03, 'context-invalid');
  });

  it('TT = 10 (pass-through) needs ECAP.PT: without it 0x03 context-invalid (QEMU vtd_ce_type_check "PT specified but not supported"; VirtualBox LCT.4.2)', () => {
    const s = mapped(DEFAULT_ECAP, { mode: 'legacy-pass-through', mappings: [page(0x7000_0000, 0x7000_0000)] });
    gate(s, withUnit(s, { ecap: without(DEFAULT_ECAP, 'PT') }), 0x7000_0010n, 0x7000_0010n, 0x03, 'context-invalid');
  });

  it('SNP (bit 11) in a second-stage leaf needs ECAP.SC: without it a reserved field, 0x0C (ECAP.SC "no 1-setting of SNP"; QEMU reserves it in legacy leaves without SC)', () => {
    const s = mapped(DEFAULT_ECAP, { mode: 'legacy', mappings: [page(0x10000, 0x8000_0000)] });
    const snp = patch(s, entry(referencesOf(s, 0x10000n), 'second'), (v) => v | (1n << 11n));
    gate(snp, withUnit(snp, { ecap: without(DEFAULT_ECAP, 'SC') }), 0x10008n, 0x8000_0008n, 0x0c, 'ss-reserved');
  });

  it('CAP.MGAW bounds the input: an IOVA at or above 2^(MGAW+1) is 0x04 beyond-aw even under a 4-level (48-bit) table (CAP.MGAW; QEMU vtd_iova_limit / vtd_iova_sl_range_check)', () => {
    // The R820's MGAW is 47 (48 bits); a unit with MGAW 38 (39 bits, as Alder Lake's cap 1c0000c40660462) cannot take IOVA 2^39.
    const s = mapped(DEFAULT_ECAP, { mode: 'legacy', mappings: [page(0x80_0000_0000, 0x8000_0000)] });
    expect(decodeCap(CAP).MGAW).toBe(47);
    gate(s, withUnit(s, { cap: encodeCap({ ...decodeCap(CAP), MGAW: 38 }) }), 0x80_0000_0008n, 0x8000_0008n, 0x04, 'beyond-aw');
  });
});

describe('scalable mode (TTM = 01): PGTT needs its ECAP bit, 0x5B otherwise (QEMU vtd_pe_type_check → VTD_FR_PASID_TABLE_ENTRY_INV)', () => {
  const cases = [
    ['first-stage', 'FLTS', 'PGTT = 001 (first stage) needs ECAP.FLTS'],
    ['second-stage', 'SLTS', 'PGTT = 010 (second stage) needs ECAP.SLTS'],
    ['nested', 'NEST', 'PGTT = 011 (nested) needs ECAP.NEST (the spec; QEMU rejects nested always: docs/fidelity.md)'],
    ['pass-through', 'PT', 'PGTT = 100 (pass-through) needs ECAP.PT'],
  ] as const;
  for (const [mode, bit, title] of cases) {
    it(`${title}: without it 0x5B pasid-entry-invalid`, () => {
      const pt = mode === 'pass-through';
      const s = mapped(SCALABLE_ECAP, { mode, mappings: [{ ...page(pt ? 0x7000_0000 : 0x10000, 0x7000_0000), ...(mode === 'nested' ? { gpa: 0x20_0000 } : {}) }] });
      gate(s, withUnit(s, { ecap: without(SCALABLE_ECAP, bit) }), pt ? 0x7000_0008n : 0x10008n, 0x7000_0008n, 0x5b, 'pasid-entry-invalid');
    });
  }

  it('SLADE = 1 in a PASID entry needs ECAP.SLADS: without it a reserved field, 0x5A (PASID-entry SLADE "reserved if ECAP.SLADS = 0"; no emulator checks it: docs/fidelity.md)', () => {
    const s = mapped(SCALABLE_ECAP, { mode: 'second-stage', mappings: [page(0x10000, 0x8000_0000)] });
    const slade = patch(s, entry(referencesOf(s, 0x10000n), 'pasid'), (v) => v | (1n << 9n));
    gate(slade, withUnit(slade, { ecap: without(SCALABLE_ECAP, 'SLADS') }), 0x10008n, 0x8000_0008n, 0x5a, 'pasid-entry-reserved');
    // With SLADS the second stage's A/D flags are set: the leaf is now accessed and dirty.
    const leaf = entry(referencesOf(s, 0x10000n), 'second');
    const after = access(slade, 0x10008n).state.memory.readLE(leaf, 8);
    expect(after & (PTE_BITS.SL_A | PTE_BITS.SL_D)).toBe(PTE_BITS.SL_A | PTE_BITS.SL_D);
  });

  it('PGSNP = 1 in a PASID entry needs ECAP.SC: without it a reserved field, 0x5A (ECAP.SC; PASID-entry PGSNP)', () => {
    const s = mapped(SCALABLE_ECAP, { mode: 'first-stage', mappings: [page(0x10000, 0x8000_0000)] });
    // PGSNP is bit 88: bit 24 of the entry's second quadword.
    const pgsnp = patch(s, entry(referencesOf(s, 0x10000n), 'pasid') + 8n, (v) => v | (1n << 24n));
    gate(pgsnp, withUnit(pgsnp, { ecap: without(SCALABLE_ECAP, 'SC') }), 0x10008n, 0x8000_0008n, 0x5a, 'pasid-entry-reserved');
  });

  it('RID_PASID needs ECAP.RPS: without it requests without PASID use PASID 0 ("uses the value of 0 for RID_PASID", ECAP.RPS; QEMU PASID_0) — here PASID 0 has no entry: 0x59', () => {
    const s = mapped(SCALABLE_ECAP, { mode: 'second-stage', pasid: 5, ridPasid: true, mappings: [page(0x10000, 0x8000_0000)] });
    gate(s, withUnit(s, { ecap: without(SCALABLE_ECAP, 'RPS') }), 0x10008n, 0x8000_0008n, 0x59, 'pasid-entry-not-present');
    // A request with PASID 5 is unaffected.
    expect(hpaOf(access(withUnit(s, { ecap: without(SCALABLE_ECAP, 'RPS') }), 0x10008n, { pasid: 5 }).event)).toBe(0x8000_0008n);
  });

  it('RID_PRIV needs ECAP.RPRIVS: without it requests without PASID are user requests (ECAP.RPRIVS) — a supervisor-only first-stage page then faults 0x81 user-supervisor', () => {
    const s = mapped(SCALABLE_ECAP, { mode: 'first-stage', mappings: [page(0x10000, 0x8000_0000)] });
    const refs = referencesOf(s, 0x10000n);
    // RID_PRIV is context-entry bit 84 (bit 20 of the second quadword); the leaf loses U/S.
    let priv = patch(s, entry(refs, 'context') + 8n, (v) => v | (1n << 20n));
    priv = patch(priv, entry(refs, 'first'), (v) => v & ~PTE_BITS.FL_US);
    gate(priv, withUnit(priv, { ecap: without(SCALABLE_ECAP, 'RPRIVS') }), 0x10008n, 0x8000_0008n, 0x81, 'user-supervisor');
  });
});

/** `s` with RTADDR rewritten to `ttm` (same root table) and latched by SRTP, the unit's persistent GCMD bits kept. */
function withTtm(s: PlatformState, ttm: number): PlatformState {
  const unit = s.iommus[0]!;
  const rtaddr = RTADDR.encode({ RTA: RTADDR.decode(unit.regs.rtaddr).RTA, TTM: ttm });
  const persistent = (['TES', 'QIES', 'IRES', 'CFIS'] as const).reduce((v, b) => v | (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS[b])), 0);
  let next = applyAction(s, { kind: 'write-rtaddr', iommu: 0, value: rtaddr }).state;
  next = applyAction(next, { kind: 'write-gcmd', iommu: 0, value: (persistent | (1 << GLOBAL_COMMAND_BITS.SRTP)) >>> 0 }).state;
  expect(RTADDR.decode(next.iommus[0]!.regs.rtaddrLatched).TTM).toBe(ttm);
  return next;
}

describe('RTADDR.TTM and the root-table modes', () => {
  it('TTM = 01 (scalable) on a unit without ECAP.SMTS: every request faults 0x30, recorded (VT-d §11.4.5 TTM 01b "reserved if ECAP.SMTS is 0"; VirtualBox RTA.1.3 `dmarDrScalableModeRemapAddr`; QEMU instead ignores the TTM bit, `vtd_update_scalable_state`, and walks legacy tables: docs/fidelity.md)', () => {
    const s = mapped(SCALABLE_ECAP, { mode: 'second-stage', mappings: [page(0x10000, 0x8000_0000)] });
    gate(s, withUnit(s, { ecap: without(SCALABLE_ECAP, 'SMTS') }), 0x10008n, 0x8000_0008n, 0x30, 'scalable-mode-unsupported');
    // The R820 unit, its RTADDR written with TTM = 01 by hand: the same.
    const legacy = mapped(DEFAULT_ECAP, { mode: 'legacy', mappings: [page(0x10000, 0x8000_0000)] });
    expect(hpaOf(access(legacy, 0x10008n).event)).toBe(0x8000_0008n);
    const f = faultOf(access(withTtm(legacy, TTM.SCALABLE), 0x10008n).event);
    expect({ reason: f.reason, condition: f.condition, frcd: f.frcd }).toEqual({ reason: 0x30, condition: 'scalable-mode-unsupported', frcd: 0 });
  });

  it('enable-dma scalable on a unit without ECAP.SMTS is a scenario error (Linux sets TTM = 01 only where sm_supported(): ecap_smts); the dma-root action is rejected', () => {
    const text = scenario(DEFAULT_ECAP, [{ 'enable-dma': { iommu: 0, scalable: true } }]);
    expect(() => compileScenario(parseScenarioText(text, 'no-smts.yaml'))).toThrow(InputError);
    expect(() => compileScenario(parseScenarioText(text, 'no-smts.yaml'))).toThrow(/unit 0 has no ECAP\.SMTS \(ECAP 0xf020fe\): scalable mode needs a scalable-mode unit, e.g\. ecap: 0x3fef9ea6f0efdf/);
    // Legacy mode on that unit, and scalable mode on a scalable-mode one, compile.
    expect(() => compileScenario(parseScenarioText(scenario(DEFAULT_ECAP, [{ 'enable-dma': { iommu: 0, scalable: false } }]), 'legacy.yaml'))).not.toThrow();
    expect(() => compileScenario(parseScenarioText(scenario(SCALABLE_ECAP, [{ 'enable-dma': { iommu: 0, scalable: true } }]), 'sm.yaml'))).not.toThrow();
    const base = runScenario(compileScenario(parseScenarioText(scenario(DEFAULT_ECAP, []), 'base.yaml'))).final;
    const r = applyAction(base, { kind: 'dma-root', iommu: 0, scalable: true });
    expect(r.events).toEqual([expect.objectContaining({ kind: 'action-rejected', why: expect.stringMatching(/no ECAP\.SMTS/) })]);
    expect(r.state.iommus[0]!.regs.rtaddr).toBe(base.iommus[0]!.regs.rtaddr);
    expect(applyAction(base, { kind: 'dma-root', iommu: 0, scalable: false }).events.map((e) => e.kind)).toEqual(['register-write']);
  });

  it('TTM = 11 (abort DMA) needs ECAP.ADMS: with it every request is aborted unrecorded, without it 0x30 recorded (VT-d §11.4.5 TTM 11b "reserved if ECAP.ADMS is 0"; VirtualBox RTA.1.1 / `dmarDrTargetAbort`)', () => {
    const s = withTtm(mapped(SCALABLE_ECAP, { mode: 'second-stage', mappings: [page(0x10000, 0x8000_0000)] }), TTM.ABORT_DMA);
    const aborted = faultOf(access(s, 0x10008n).event);
    expect({ reason: aborted.reason, condition: aborted.condition, frcd: aborted.frcd }).toEqual({ reason: 0x30, condition: 'abort-dma', frcd: undefined });
    const f = faultOf(access(withUnit(s, { ecap: without(SCALABLE_ECAP, 'ADMS') }), 0x10008n).event);
    expect({ reason: f.reason, condition: f.condition, frcd: f.frcd }).toEqual({ reason: 0x30, condition: 'abort-dma', frcd: 0 });
  });
});

describe('the platform decodes CAP/ECAP once per value', () => {
  it('a unit whose ECAP changes gets the new gates at once (the cache is keyed by CAP, ECAP and HAW)', () => {
    const s = mapped(SCALABLE_ECAP, { mode: 'first-stage', mappings: [page(0x10000, 0x8000_0000)] });
    const off = withUnit(s, { ecap: without(SCALABLE_ECAP, 'FLTS') });
    for (let i = 0; i < 2; i++) {
      expect(hpaOf(access(s, 0x10008n).event)).toBe(0x8000_0008n);
      expect(faultOf(access(off, 0x10008n).event).reason).toBe(0x5b);
    }
  });
});
