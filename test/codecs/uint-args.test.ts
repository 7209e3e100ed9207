/**
 * The public codecs take register-sized arguments as a JS number or a bigint
 * (src/bits/uint-arg.ts): a safe integer number decodes exactly as the same bigint does
 * (wide and negative values included), and any other number is a RangeError naming the argument.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { u32Arg, uintArg } from '../../src/bits/uint-arg.ts';
import { decodeMsi, decodeRemappableAddress, decodeRemappableData } from '../../src/vtd/remappable-msi.ts';
import { decodeCompatibilityAddress, decodeMsiData } from '../../src/x86/msi.ts';
import { decodeIrte } from '../../src/vtd/irte.ts';
import { decodePid } from '../../src/vtd/pid.ts';
import { decodeAmdMsi } from '../../src/amdvi/remappable-msi.ts';
import { decodeAmdIrte, decodeGaIrte, decodeLegacyIrte } from '../../src/amdvi/irte.ts';

const RUNS = { seed: 14_005, numRuns: 300 };
const safeUint = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
/** Any exact number: negative and wider than the field included. */
const safeInt = fc.oneof(fc.maxSafeInteger(), fc.integer({ min: -1, max: 0xffff_ffff }));

/** Number forms of every codec entry point, each beside its bigint form. */
const PAIRS: readonly { name: string; byNumber: (x: number) => unknown; byBigint: (x: bigint) => unknown; arg: string }[] = [
  { name: 'decodeMsi address', byNumber: (x) => decodeMsi(x, 0x1234), byBigint: (x) => decodeMsi(x, 0x1234n), arg: 'address' },
  { name: 'decodeMsi data', byNumber: (x) => decodeMsi(0xfee00018, x), byBigint: (x) => decodeMsi(0xfee00018n, x), arg: 'data' },
  { name: 'decodeRemappableAddress', byNumber: decodeRemappableAddress, byBigint: decodeRemappableAddress, arg: 'address' },
  { name: 'decodeRemappableData', byNumber: decodeRemappableData, byBigint: decodeRemappableData, arg: 'data' },
  { name: 'decodeCompatibilityAddress', byNumber: decodeCompatibilityAddress, byBigint: decodeCompatibilityAddress, arg: 'address' },
  { name: 'decodeMsiData', byNumber: decodeMsiData, byBigint: decodeMsiData, arg: 'data' },
  { name: 'decodeIrte', byNumber: decodeIrte, byBigint: decodeIrte, arg: 'raw' },
  { name: 'decodePid', byNumber: decodePid, byBigint: decodePid, arg: 'raw' },
  { name: 'decodeAmdMsi address', byNumber: (x) => decodeAmdMsi(x, 0x401), byBigint: (x) => decodeAmdMsi(x, 0x401n), arg: 'address' },
  { name: 'decodeAmdMsi data', byNumber: (x) => decodeAmdMsi(0xfee00000, x), byBigint: (x) => decodeAmdMsi(0xfee00000n, x), arg: 'data' },
  { name: 'decodeLegacyIrte', byNumber: decodeLegacyIrte, byBigint: decodeLegacyIrte, arg: 'raw' },
  { name: 'decodeGaIrte', byNumber: decodeGaIrte, byBigint: decodeGaIrte, arg: 'raw' },
  { name: 'decodeAmdIrte (GA)', byNumber: (x) => decodeAmdIrte(x, true), byBigint: (x) => decodeAmdIrte(x, true), arg: 'raw' },
];

/** True when a number and the same value as a bigint decode alike, for every entry point. */
function numberAgreesWithBigint(byNumber: (x: number) => unknown, byBigint: (x: bigint) => unknown, x: number): boolean {
  expect(byNumber(x)).toEqual(byBigint(BigInt(x)));
  return true;
}

describe('codec arguments: number or bigint', () => {
  it('the issue 14 example: decodeMsi(0xfee00538, 0) is decodeMsi(0xfee00538n, 0)', () => {
    expect(decodeMsi(0xfee00538, 0)).toEqual(decodeMsi(0xfee00538n, 0));
    expect(decodeMsi(0xfee00538, 0)).toMatchObject({ format: 'remappable', handle: 0x29, shv: true, irteIndex: 0x29 });
  });

  for (const p of PAIRS) {
    it(`${p.name}: a safe integer number decodes as the same bigint`, () => {
      fc.assert(fc.property(safeInt, (x) => numberAgreesWithBigint(p.byNumber, p.byBigint, x)), RUNS);
    });
    it(`${p.name}: a number that is not a safe integer is a RangeError naming the argument`, () => {
      for (const x of [1.5, -0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, -(2 ** 60)]) {
        expect(() => p.byNumber(x), `${p.name}(${x})`).toThrow(RangeError);
        expect(() => p.byNumber(x), `${p.name}(${x})`).toThrow(new RegExp(`^${p.arg} must be an integer \\(a bigint, or a number from -\\(2\\^53 - 1\\) to 2\\^53 - 1\\), got `));
      }
    });
  }

  it('a bigint keeps the documented behaviour: bits above the width are dropped, never a throw', () => {
    fc.assert(
      fc.property(fc.bigInt(), (x) => {
        expect(decodeMsi(x, x).address).toBe(BigInt.asUintN(64, x));
        expect(decodeMsi(x, x).data).toBe(Number(BigInt.asUintN(32, x)));
        return true;
      }),
      RUNS,
    );
  });

  it('uintArg and u32Arg', () => {
    expect(uintArg(0xfee00538, 'address')).toBe(0xfee00538n);
    expect(uintArg(-5n, 'address')).toBe(-5n); // bigints pass through; the codec masks them
    expect(u32Arg(0xffff_ffff, 'data')).toBe(0xffff_ffff);
    expect(u32Arg(-1, 'data')).toBe(0xffff_ffff);
    expect(u32Arg(0x1_0000_0005, 'data')).toBe(5);
    expect(u32Arg(0x1_0000_0005n, 'data')).toBe(5);
    expect(() => uintArg(0.5, 'vector')).toThrow('vector must be an integer (a bigint, or a number from -(2^53 - 1) to 2^53 - 1), got 0.5');
    expect(() => u32Arg('7' as unknown as number, 'data')).toThrow('data must be an integer (a bigint, or a number from -(2^53 - 1) to 2^53 - 1), got a string');
  });

  it('the agreement property fails against a deliberately broken codec (a number rounded through 32 bits)', () => {
    const broken = (x: number) => decodeMsi(x >>> 0, 0);
    expect(() =>
      fc.assert(fc.property(safeUint, (x) => numberAgreesWithBigint(broken, (b) => decodeMsi(b, 0), x)), RUNS),
    ).toThrow();
  });
});
