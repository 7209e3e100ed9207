/**
 * The AMD-Vi properties are only evidence if they can fail: each is run against the real
 * code (must hold) and against a deliberately broken variant (fc.check must find a
 * counterexample).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { defineLayout } from '../../src/bits/layout.ts';
import { defineRecord } from '../../src/bits/record.ts';
import { DTE_LAYOUT, decodeDte, encodeDte } from '../../src/amdvi/dte.ts';
import { LEGACY_IRTE_LAYOUT, GA_VAPIC_IRTE_LAYOUT, decodeGaIrte, decodeLegacyIrte, encodeAmdIrte } from '../../src/amdvi/irte.ts';
import { EVENT_ENTRY_LAYOUT, decodeEvent, encodeEvent, eventFlagsValue, type AmdEvent } from '../../src/amdvi/event-log.ts';
import { COMMAND_LAYOUTS, decodeCommand, encodeCommand } from '../../src/amdvi/commands.ts';
import { CONTROL_REGISTER } from '../../src/amdvi/registers.ts';
import { remapInterruptAmd } from '../../src/amdvi/interrupt-remapping.ts';
import { RUNS, bitsN } from '../codecs/arbitraries.ts';
import { CTRL, IRT, RID, emptyMemory, expectedLegacy, irDte, makeUnit, withDte } from './fixtures.ts';

/** encode(decode(x)) === x over every `width`-bit pattern. */
const rawRoundTrip = (decode: (x: bigint) => unknown, encode: (v: never) => bigint, width: number) =>
  fc.property(bitsN(width), (x) => encode(decode(x) as never) === x);

const failed = (p: fc.IPropertyWithHooks<[bigint]> | fc.IProperty<[bigint]>): boolean => fc.check(p, RUNS).failed;

describe('AMD-Vi round trips detect broken codecs', () => {
  it('DTE: fails when decode reads IntTabLen one bit too high', () => {
    const f = DTE_LAYOUT.layout.spec.fields;
    const broken = defineRecord('DTE broken', 256, { ...f, IntTabLen: { hi: 133, lo: 130 }, IG: { hi: 129, lo: 129 } }, DTE_LAYOUT.layout.spec.reserved ?? []);
    expect(failed(rawRoundTrip(decodeDte, encodeDte, 256))).toBe(false);
    expect(failed(rawRoundTrip((x) => broken.decode(x), encodeDte, 256))).toBe(true);
  });

  it('legacy IRTE: fails when Vector is read from 24:17', () => {
    const broken = defineLayout({ ...LEGACY_IRTE_LAYOUT.spec, fields: { ...LEGACY_IRTE_LAYOUT.spec.fields, Vector: { hi: 24, lo: 17 } }, reserved: [{ hi: 31, lo: 25 }, { hi: 16, lo: 16 }] });
    const brokenDecode = (x: bigint) => ({ ...decodeLegacyIrte(x), vector: broken.decode(x).Vector });
    expect(failed(rawRoundTrip(decodeLegacyIrte, encodeAmdIrte, 32))).toBe(false);
    expect(failed(rawRoundTrip(brokenDecode, encodeAmdIrte, 32))).toBe(true);
  });

  it('128-bit IRTE: fails when the GA root pointer loses its top bit', () => {
    const brokenDecode = (x: bigint) => {
      const v = decodeGaIrte(x);
      return v.format === 'ga-vapic' ? { ...v, backingPage: v.backingPage & ~(1n << 51n) } : v;
    };
    expect(GA_VAPIC_IRTE_LAYOUT.spec.fields.GARootPtr).toEqual({ hi: 115, lo: 76 });
    expect(failed(rawRoundTrip(decodeGaIrte, encodeAmdIrte, 128))).toBe(false);
    expect(failed(rawRoundTrip(brokenDecode, encodeAmdIrte, 128))).toBe(true);
  });

  it('event entry: the Linux cross-check fails when the flags are placed one bit low', () => {
    const linuxFlags = (x: bigint): number => Number((x >> 48n) & 0xfffn);
    const agrees = (decode: (x: bigint) => AmdEvent) => fc.property(bitsN(128), (x) => eventFlagsValue(decode(x).flags) === linuxFlags(x));
    // Reads flags from 58:47 instead of 59:48.
    const broken = (x: bigint): AmdEvent => decodeEvent((x & ~(0xfffn << 48n)) | (((x >> 47n) & 0xfffn) << 48n));
    expect(EVENT_ENTRY_LAYOUT.spec.fields.GN.lo).toBe(48);
    expect(fc.check(agrees(decodeEvent), RUNS).failed).toBe(false);
    expect(fc.check(agrees(broken), RUNS).failed).toBe(true);
    expect(failed(rawRoundTrip(decodeEvent, encodeEvent, 128))).toBe(false);
  });

  it('command: fails when COMPLETION_WAIT drops the store-address top bit', () => {
    const brokenDecode = (x: bigint) => {
      const c = decodeCommand(x);
      return c.name === 'COMPLETION_WAIT' ? { ...c, fields: { ...c.fields, StoreAddress: c.fields.StoreAddress % 2 ** 48 } } : c;
    };
    const cw = fc.property(bitsN(128), (x) => {
      const v = (x & ~(0xfn << 60n)) | (1n << 60n);
      return encodeCommand(brokenDecode(v) as never) === v;
    });
    expect(COMMAND_LAYOUTS.COMPLETION_WAIT.layout.spec.fields.StoreAddress).toEqual({ hi: 51, lo: 3 });
    expect(failed(rawRoundTrip(decodeCommand, encodeCommand, 128))).toBe(false);
    expect(fc.check(cw, RUNS).failed).toBe(true);
  });

  it('Control register: fails when GAMEn is decoded one bit narrow', () => {
    const brokenDecode = (x: bigint) => ({ ...CONTROL_REGISTER.decode(x), GAMEn: CONTROL_REGISTER.decode(x).GAMEn & 3 });
    expect(failed(rawRoundTrip((x) => CONTROL_REGISTER.decode(x), (v) => CONTROL_REGISTER.encode(v), 64))).toBe(false);
    expect(failed(rawRoundTrip(brokenDecode, (v) => CONTROL_REGISTER.encode(v), 64))).toBe(true);
  });
});

describe('the remapping property detects a rule the walk does not follow', () => {
  const holds = (expected: (raw: bigint) => string) =>
    fc.property(bitsN(32), (raw) => {
      const unit = makeUnit(CTRL.IommuEn);
      const memory = withDte(emptyMemory(), unit, RID, irDte()).writeLE(IRT + 20n, 4, raw);
      const o = remapInterruptAmd(unit, memory, 48, { rid: RID, address: 0xfee0_0000n, data: 5 }).outcome;
      return (o.kind === 'blocked' ? `blocked:${o.why}` : o.kind) === expected(raw);
    });
  it('holds for the sheet rule, fails for a rule that forgets IntType', () => {
    const forgetsIntType = (raw: bigint): string => {
      const e = expectedLegacy(raw);
      return e === 'blocked:int-type' ? 'remapped' : e;
    };
    expect(fc.check(holds(expectedLegacy), RUNS).failed).toBe(false);
    expect(fc.check(holds(forgetsIntType), RUNS).failed).toBe(true);
  });
});
