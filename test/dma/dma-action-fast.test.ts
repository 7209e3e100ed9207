/**
 * The `dma` action's quick field check (src/platform/dma-access.ts `dmaActionCarriable`, used by
 * src/platform/transition.ts before `malformedField`): it may only accept what the full check
 * (src/platform/action-fields.ts `malformedField`) accepts, and it accepts a well-formed DMA.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dmaActionCarriable } from '../../src/platform/dma-access.ts';
import { malformedField } from '../../src/platform/action-fields.ts';

/** Field values, carriable and not, for every field a `dma` action has (and one it has not). */
const FIELDS = {
  kind: fc.constantFrom<unknown>('dma', 'msi-write'),
  device: fc.constantFrom<unknown>('07:00.0', '__proto__', 'constructor', 'toString', 7),
  address: fc.constantFrom<unknown>(0n, 0x10008n, (1n << 64n) - 1n, 1n << 64n, -1n, 8),
  size: fc.constantFrom<unknown>(1, 8, 64, 65, 1.5, Number.NaN, 2 ** 60),
  write: fc.constantFrom<unknown>(true, false, 1, { x: 1.5 }),
  value: fc.constantFrom<unknown>(undefined, 0n, (1n << 128n) - 1n, 1n << 128n, -1n, 3),
  rid: fc.constantFrom<unknown>(undefined, 0, 0x700, 0xffff, 0x10000, -1, 1.5),
  pasid: fc.constantFrom<unknown>(undefined, 0, 0xfffff, 0x100000, -1),
  extra: fc.constantFrom<unknown>(undefined, 1.5, 1n << 200n, 'x'),
};

const actionArb = fc.record(FIELDS, { requiredKeys: ['kind', 'device', 'address', 'size', 'write'] });

const soundAgainstFullCheck = (quick: (a: object) => boolean) => fc.property(actionArb, (a) => !quick(a) || malformedField(a) === undefined);

describe('dmaActionCarriable', () => {
  it('accepts only actions malformedField finds nothing wrong with', () => {
    fc.assert(soundAgainstFullCheck(dmaActionCarriable), { seed: 1517, numRuns: 2000 });
    // A quick check that forgets the requester ID's 16 bits fails the property.
    const forgetsRid = (a: object): boolean => dmaActionCarriable({ ...a, rid: undefined });
    expect(fc.check(soundAgainstFullCheck(forgetsRid), { seed: 1517, numRuns: 2000 }).failed).toBe(true);
  });

  it('accepts a well-formed read and write (the hot path), with and without rid, PASID and value', () => {
    expect(dmaActionCarriable({ kind: 'dma', device: '07:00.0', address: 0x10008n, size: 8, write: false, value: 0n })).toBe(true);
    expect(dmaActionCarriable({ kind: 'dma', device: '07:00.0', address: 0x10008n, size: 4, write: true, value: 0xfeedn, rid: 0x701, pasid: 5 })).toBe(true);
    expect(dmaActionCarriable({ kind: 'dma', device: '07:00.0', address: 0x10008n, size: 4, write: true })).toBe(true);
  });
});
