// FSTS_REG and FRCD_REG decoded by shifts (src/vtd/registers.ts decodeFsts, src/vtd/fault-record.ts
// decodeFaultRecord) against the layout codecs they replace on the hot path (VT-d §11.4.9,
// §11.4.14): every field, the reserved bits in place, FRCD T2 present only when set.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeFsts, decodeFstsByLayout } from '../../src/vtd/registers.ts';
import { decodeFaultRecord, decodeFaultRecordByLayout } from '../../src/vtd/fault-record.ts';

const SEED = 0x15_0007;
/** 128-bit values: uniform, and sparse (a few bits set), so each field and reserved range is hit alone. */
const raw128 = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
  fc.array(fc.integer({ min: 0, max: 127 }), { maxLength: 4 }).map((bits) => bits.reduce((v, b) => v | (1n << BigInt(b)), 0n)),
  fc.bigInt({ min: 1n << 128n, max: 1n << 140n }),
);

describe('FSTS and FRCD by shifts', () => {
  it('decodeFsts equals the layout decode on any 32-bit value (and on what >>> 0 makes of others)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: -0x8000_0000, max: -1 }), fc.integer({ min: 0, max: 0xffff })), (v) => {
        expect(decodeFsts(v)).toEqual(decodeFstsByLayout(v));
      }),
      { seed: SEED, numRuns: 3000 },
    );
    expect(decodeFsts(0xdead_0a03)).toEqual({ PFO: true, PPF: true, AFO: false, APF: false, IQE: false, ICE: false, ITE: false, PRO: false, FRI: 0x0a, reserved: 0xdead_0000 });
  });

  it('decodeFaultRecord equals the layout decode on any value (bits above 127 dropped)', () => {
    fc.assert(
      fc.property(raw128, (v) => {
        expect(decodeFaultRecord(v)).toStrictEqual(decodeFaultRecordByLayout(v));
      }),
      { seed: SEED + 1, numRuns: 3000 },
    );
  });
});
