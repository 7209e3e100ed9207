import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DTE_BYTES,
  DTE_HIGH_RESERVED_MASK,
  DTE_LAYOUT,
  DTE_LOW_RESERVED_MASK,
  decodeDte,
  deviceIdInTable,
  dteAddress,
  dteGcr3Root,
  dteInterruptTableEntries,
  dteInterruptTableRoot,
  dtePageTableRoot,
  encodeDte,
} from '../../src/amdvi/dte.ts';
import { RUNS, bitsN } from '../codecs/arbitraries.ts';

const qwords = (q0: bigint, q1: bigint, q2: bigint, q3: bigint): bigint => q0 | (q1 << 64n) | (q2 << 128n) | (q3 << 192n);
const qword = (v: bigint, n: number): bigint => (v >> BigInt(64 * n)) & ((1n << 64n) - 1n);

describe('DTE layout (sheet §3.1)', () => {
  it('is 32 bytes and names or reserves all 256 bits', () => {
    expect(DTE_BYTES).toBe(32);
    expect(DTE_LAYOUT.ignoredMask).toBe(0n);
  });

  it('encode(decode(x)) === x for every 256-bit pattern', () => {
    fc.assert(fc.property(bitsN(256), (x) => encodeDte(decodeDte(x)) === x), { ...RUNS, numRuns: 2000 });
  });

  it('decode(encode(d)) deep-equals d for decoded values', () => {
    fc.assert(
      fc.property(bitsN(256), (x) => {
        const d = decodeDte(x);
        expect(decodeDte(encodeDte(d))).toEqual(d);
      }),
      RUNS,
    );
  });

  it('decodes the interrupt fields Linux set_dte_irq_entry writes', () => {
    // qword2 = table phys | DTE_IRQ_REMAP_INTCTL (2 << 60) | DTE_INTTABLEN_512 (9 << 1) | DTE_IRQ_REMAP_ENABLE (1)
    const table = 0x1_2345_6780n; // 128-byte aligned
    const q2 = table | (2n << 60n) | (9n << 1n) | 1n;
    // qword0: V | TV | Mode 4 << 9 | root | IR (61) | IW (62); qword1: DomainID 0x2a
    const root = 0xfed_c000n;
    const q0 = 1n | 2n | (4n << 9n) | root | (1n << 61n) | (1n << 62n);
    const d = decodeDte(qwords(q0, 0x2an, q2, 0n));
    expect(d).toMatchObject({ V: true, TV: true, Mode: 4, IR: true, IW: true, DomainID: 0x2a, IV: true, IntTabLen: 9, IntCtl: 2, reserved: 0n });
    expect(dtePageTableRoot(d)).toBe(root);
    expect(dteInterruptTableRoot(d)).toBe(table);
    expect(dteInterruptTableEntries(d)).toBe(512);
  });

  it('puts the IVRS pass bits where QEMU reads them (qword2 bits 56, 57, 58, 62, 63; SysMgt q1 41:40)', () => {
    const d = decodeDte(qwords(0n, 3n << 40n, (1n << 56n) | (1n << 57n) | (1n << 58n) | (1n << 62n) | (1n << 63n), 0n));
    expect(d).toMatchObject({ InitPass: true, EIntPass: true, NMIPass: true, Lint0Pass: true, Lint1Pass: true, SysMgt: 3 });
  });

  it('assembles the GCR3 root from its three pieces', () => {
    const gcr3 = 0xf_ffff_ffff_f000n;
    const d = decodeDte(encodeDte({ ...decodeDte(0n), GCR3_14_12: 7, GCR3_30_15: 0xffff, GCR3_51_31: 0x1f_ffff }));
    expect(dteGcr3Root(d)).toBe(gcr3);
  });

  it('reserved masks match VirtualBox valid masks except the bits newer sources name', () => {
    const reserved = DTE_LOW_RESERVED_MASK | DTE_HIGH_RESERVED_MASK;
    expect(~qword(reserved, 0) & ((1n << 64n) - 1n)).toBe(0x7fff_ffff_ffff_ff83n);
    // VirtualBox reserves 106 (SATS, named by FreeBSD/openvmm) in qword1 …
    expect(~qword(reserved, 1) & ((1n << 64n) - 1n)).toBe(0xffff_fbff_ffff_ffffn | (1n << 42n));
    // … and 183:180 in qword2, of which 183:182 is Linux's DTE_GPT_LEVEL.
    expect(~qword(reserved, 2) & ((1n << 64n) - 1n)).toBe(0xff0f_ffff_ffff_ffffn | (3n << 54n));
    expect(~qword(reserved, 3) & ((1n << 64n) - 1n)).toBe(0xffc0_0000_0000_0000n);
  });
});

describe('device table addressing', () => {
  it('DTE address = base + 32 · DeviceID', () => {
    expect(dteAddress(0x1000_0000n | 0x1ffn, 0x00a0)).toBe(0x1000_0000n + 0xa0n * 32n);
  });
  it('a 4 KiB table (Size 0) holds DeviceIDs 0..127, 2 MiB all 65536', () => {
    expect(deviceIdInTable(0n, 127)).toBe(true);
    expect(deviceIdInTable(0n, 128)).toBe(false);
    expect(deviceIdInTable(0x1ffn, 0xffff)).toBe(true);
  });
});
