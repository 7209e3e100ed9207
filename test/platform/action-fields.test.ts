// The allocation-free field check (`carriable`, src/platform/action-fields.ts) gives the same
// verdict as the walks that name the malformed field (`describeMalformed`), on every shape of
// action: numbers of every sort, bigints around 64 and 128 bits at address and other keys,
// name fields that are Object.prototype properties, nesting past the depth bound, typed arrays,
// the fixed-width fields of FIELD_BITS and the wide `write-memory` store.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { carriable, describeMalformed, malformedField } from '../../src/platform/action-fields.ts';

const SEED = 0x15_0005;
const KINDS = ['dma', 'msi-write', 'map-dma', 'pid-write', 'grant', 'guest-msi', 'vmm-binding', 'write-memory', 'program-msix', 'toString', 'constructor', 'no-such-kind'];
const KEYS = ['address', 'iova', 'hpa', 'value', 'rid', 'pasid', 'did', 'nv', 'ndst', 'vector', 'lastVector', 'irte', 'index', 'device', 'requester', 'register', 'bytes', 'grant', 'binding', 'mappings', 'entry', 'data', 'x'];
const number = fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.constantFrom(Number.NaN, Infinity, -Infinity, 1.5, 2 ** 53, 2 ** 32, 255, 256, 2 ** 20, -0), fc.double());
const bigint = fc.oneof(
  fc.bigInt({ min: -3n, max: 3n }),
  fc.constantFrom((1n << 64n) - 1n, 1n << 64n, (1n << 128n) - 1n, 1n << 128n, 1n << 200n, -(1n << 64n)),
  fc.bigInt({ min: 0n, max: (1n << 130n) }),
);
const name = fc.constantFrom('03:00.0', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'IRTA', 'valueOf', '');
const leaf = fc.oneof(number, bigint, name, fc.boolean(), fc.constant(undefined), fc.constant(null), fc.constant(new Uint8Array(4)));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('object'), tie('array')),
  object: fc.dictionary(fc.constantFrom(...KEYS), tie('node'), { maxKeys: 4 }),
  array: fc.array(tie('node'), { maxLength: 3 }),
})).node;
const action = fc.record({ kind: fc.constantFrom(...KINDS), fields: fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 6 }) }).map(({ kind, fields }) => ({ ...fields, kind }));

/** An object nested `n` levels below the action, holding `leaf`. */
function nested(n: number, leafValue: unknown): Record<string, unknown> {
  let o: Record<string, unknown> = { x: leafValue };
  for (let i = 1; i < n; i++) o = { x: o };
  return o;
}

describe('action field checks', () => {
  it('carriable agrees with the walks that name the field, on every shape of action', () => {
    fc.assert(
      fc.property(action, (a) => {
        expect(carriable(a)).toBe(describeMalformed(a) === undefined);
        expect(malformedField(a)).toBe(describeMalformed(a));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it.each([
    ['a fractional number', { kind: 'program-msix', entry: 1.5 }, 'entry: 1.5 is not an integer'],
    ['NaN', { kind: 'program-msix', data: Number.NaN }, 'data: NaN is not an integer'],
    ['a 65-bit address', { kind: 'dma', address: 1n << 64n }, 'address: 0x10000000000000000 is not an unsigned value of at most 64 bits'],
    ['a 129-bit value', { kind: 'write-irte', value: 1n << 128n }, 'value: 0x100000000000000000000000000000000 is not an unsigned value of at most 128 bits'],
    ['a 17-bit requester ID', { kind: 'dma', rid: 0x10000 }, 'rid: 65536 is not an unsigned 16-bit value'],
    ['a grant vector of 9 bits', { kind: 'grant', grant: { vector: 256 } }, 'grant.vector: 256 is not an unsigned 8-bit value'],
    ['a device named __proto__', { kind: 'signal', device: '__proto__' }, "device: '__proto__' names no PCI function or register (a property of every object)"],
    ['a nested fraction at depth 4', { kind: 'map-dma', mappings: nested(3, 0.5) }, 'mappings.x.x.x: 0.5 is not an integer'],
  ])('rejects %s, naming the field', (_what, a, why) => {
    expect(carriable(a)).toBe(false);
    expect(malformedField(a)).toBe(why);
  });

  it('accepts what the bounds allow: objects past depth 4 are not walked, typed arrays are skipped, a wide store has its own width', () => {
    expect(malformedField({ kind: 'map-dma', mappings: nested(4, { x: 0.5 }) })).toBeUndefined();
    expect(malformedField({ kind: 'x', data: new Float64Array([0.5]) })).toBeUndefined();
    expect(malformedField({ kind: 'write-memory', bytes: 32, value: (1n << 256n) - 1n })).toBeUndefined();
    expect(malformedField({ kind: 'write-memory', bytes: 32, value: 1n << 256n })).toMatch(/^value: .* at most 256 bits$/);
    expect(malformedField({ kind: 'toString', value: 1n })).toBeUndefined();
    expect(malformedField({ kind: 'dma', rid: 0xffff, address: (1n << 64n) - 1n, pasid: 0xfffff })).toBeUndefined();
  });
});
