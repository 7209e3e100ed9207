// Primary fault logging by bits (src/vtd/fault-recording.ts recordInterruptFault, with
// interruptFaultRaw) against the same rule spelt with the layout codecs (FSTS decoded and
// re-encoded, the record built by interruptFaultRecord and encodeFaultRecord; VT-d §7.2.1,
// §11.4.9, §11.4.14): same FRCD array, same FSTS (reserved bits 31:16 and every status bit
// kept), same FECTL.IP, same record index, on any FSTS value and any F bits of 1..256 records.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { IommuUnit } from '../../src/platform/state.ts';
import { recordInterruptFault } from '../../src/vtd/fault-recording.ts';
import { encodeFaultRecord, interruptFaultRaw, interruptFaultRecord } from '../../src/vtd/fault-record.ts';
import { decodeFsts, encodeFsts } from '../../src/vtd/registers.ts';
import { faultCondition } from '../../src/vtd/fault-event.ts';

const SEED = 0x15_0006;
const F = 1n << 127n;

/** The rule through the codecs: what recordInterruptFault did before it worked on bits. */
function byCodecs(unit: IommuUnit, fault: { reason: number; sid: number; index: number }): { unit: IommuUnit; record: number | undefined } {
  const fsts = decodeFsts(unit.regs.fsts);
  const fri = fsts.FRI % unit.frcd.length;
  if ((unit.frcd[fri]! & F) !== 0n) return { unit: { ...unit, regs: { ...unit.regs, fsts: encodeFsts({ ...fsts, PFO: true }) } }, record: undefined };
  const frcd = unit.frcd.slice();
  frcd[fri] = encodeFaultRecord(interruptFaultRecord({ reason: fault.reason, sourceId: fault.sid, index: fault.index }));
  const regs = { ...unit.regs, fsts: encodeFsts({ ...fsts, PPF: true, FRI: (fri + 1) % frcd.length }) };
  return { unit: faultCondition({ ...unit, frcd, regs }, unit.regs.fsts), record: fri };
}

const unitArb = fc
  .record({
    fsts: fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff })),
    fectl: fc.constantFrom(0, 0x4000_0000, 0x8000_0000, 0xc000_0000),
    frcd: fc.array(fc.oneof(fc.constant(0n), fc.constant(F), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n })), { minLength: 1, maxLength: 256 }),
  })
  .map(({ fsts, fectl, frcd }) => ({ index: 0, frcd, regs: { fsts, fectl } }) as unknown as IommuUnit);
const faultArb = fc.record({ reason: fc.integer({ min: 0, max: 0xff }), sid: fc.integer({ min: 0, max: 0xffff }), index: fc.integer({ min: 0, max: 0xffff }) });

describe('interrupt fault recording by bits', () => {
  it('gives what the codecs give: FRCD, FSTS, FECTL and the record index', () => {
    fc.assert(
      fc.property(unitArb, faultArb, (unit, fault) => {
        expect(recordInterruptFault(unit, fault)).toEqual(byCodecs(unit, fault));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('encodes the record as the layout does, and refuses what does not fit', () => {
    fc.assert(
      fc.property(faultArb, (f) => {
        expect(interruptFaultRaw({ reason: f.reason, sourceId: f.sid, index: f.index })).toBe(encodeFaultRecord(interruptFaultRecord({ reason: f.reason, sourceId: f.sid, index: f.index })));
      }),
      { seed: SEED + 1, numRuns: 500 },
    );
    expect(interruptFaultRaw({ reason: 0x26, sourceId: 0x0300, index: 5 })).toBe((1n << 127n) | (0x26n << 96n) | (0x0300n << 64n) | (5n << 48n));
    for (const bad of [{ reason: 0x100, sourceId: 0, index: 0 }, { reason: 0, sourceId: 0x10000, index: 0 }, { reason: 0, sourceId: 0, index: 0x10000 }, { reason: 1.5, sourceId: 0, index: 0 }]) {
      expect(() => interruptFaultRaw(bad)).toThrow(RangeError);
    }
  });
});
