/**
 * VT-d posted-interrupt descriptor (PID): 64 bytes, 64-byte aligned (VT-d spec §9.12
 * "Posted Interrupt Descriptor"; Linux `arch/x86/include/asm/posted_intr.h` `struct pi_desc`).
 * Reference sheet §6.
 *
 * Representation: one 512-bit little-endian bigint (bit n of the descriptor = bit n of the
 * bigint; byte 0 is bits 7:0). {@link pidToQwords} / {@link pidFromQwords} convert to and from
 * the 8 little-endian qwords a memory model stores.
 */
import { defineLayout } from '../bits/layout.ts';
import { bitsOf, maskOf, U64_MASK } from '../bits/bits.ts';
import { uintArg, type UintInput } from '../bits/uint-arg.ts';

/** Size of a PID in bytes (and its required alignment). */
export const PID_BYTES = 64;

const PID_MASK = maskOf(512);
const PIR_MASK = maskOf(256);

/**
 * PID control fields (sheet §6). PIR, bits 255:0, is wider than a layout field can be and is
 * handled as its own bigint; it is left out of this table on purpose.
 */
export const PID_LAYOUT = defineLayout({
  name: 'posted-interrupt descriptor',
  width: 512,
  fields: {
    ON: { hi: 256, lo: 256 },
    SN: { hi: 257, lo: 257 },
    NV: { hi: 279, lo: 272 },
    NDST: { hi: 319, lo: 288 },
  },
  reserved: [
    { hi: 271, lo: 258 },
    { hi: 287, lo: 280 },
    // KVM names these rsvd[6]; software may use them, but the IOMMU does not (fault 0x28 if set).
    { hi: 511, lo: 320 },
  ],
});

/** PID fields. */
export interface PostedInterruptDescriptor {
  /** PIR, bits 255:0: bit n requests vector n. */
  pir: bigint;
  /** ON, bit 256: outstanding notification. */
  on: boolean;
  /** SN, bit 257: suppress notification. */
  sn: boolean;
  /** NV, bits 279:272: notification vector. */
  nv: number;
  /** NDST, bits 319:288: notification destination (format: {@link ndstForApicId}). */
  ndst: number;
}

/**
 * Decode a 512-bit PID. `reserved` = reserved bits that are set, in place (271:258, 287:280,
 * 511:320). A number is accepted when exact (a safe integer); bits above 511 are dropped.
 * @throws RangeError when `raw` is neither a bigint nor a safe integer number (src/bits/uint-arg.ts).
 */
export function decodePid(raw: UintInput): { pid: PostedInterruptDescriptor; reserved: bigint } {
  const v = uintArg(raw, 'raw') & PID_MASK;
  const f = PID_LAYOUT.decode(v);
  return {
    pid: { pir: v & PIR_MASK, on: f.ON === 1, sn: f.SN === 1, nv: f.NV, ndst: f.NDST },
    reserved: PID_LAYOUT.reservedSet(v),
  };
}

/**
 * Encode a PID to 512 bits, OR-ing in `reserved` (in place).
 * @throws RangeError when PIR is not a 256-bit value, NV/NDST do not fit, or `reserved` has
 *   bits outside the reserved ranges.
 */
export function encodePid(p: PostedInterruptDescriptor, reserved = 0n): bigint {
  if (typeof p.pir !== 'bigint' || p.pir < 0n || p.pir > PIR_MASK) {
    throw new RangeError(`PIR ${String(p.pir)} is not a 256-bit value`);
  }
  if (reserved < 0n || (reserved & ~PID_LAYOUT.reservedMask) !== 0n) {
    throw new RangeError(`PID reserved bits 0x${reserved.toString(16)} outside the reserved ranges`);
  }
  return (
    PID_LAYOUT.encode({ ON: p.on ? 1 : 0, SN: p.sn ? 1 : 0, NV: p.nv, NDST: p.ndst }, reserved) | p.pir
  );
}

/** Vectors whose PIR bit is set, ascending (bit n = vector n). */
export function pirVectors(pir: bigint): number[] {
  const out: number[] = [];
  // One conversion and a character scan: a bigint shift per bit costs ~50× more.
  const bits = (pir & PIR_MASK).toString(2);
  for (let i = bits.length - 1, n = 0; i >= 0; i--, n++) if (bits.charCodeAt(i) === 49) out.push(n);
  return out;
}

/** `pir` with the bit for `vector` set (or cleared when `value` is false). @throws RangeError unless 0 ≤ vector ≤ 255. */
export function withPirBit(pir: bigint, vector: number, value = true): bigint {
  if (!Number.isInteger(vector) || vector < 0 || vector > 255) {
    throw new RangeError(`vector ${vector} is not in 0..255`);
  }
  const bit = 1n << BigInt(vector);
  return value ? pir | bit : pir & ~bit;
}

/**
 * NDST value for a physical APIC ID. x2APIC: the 32-bit ID; xAPIC: ID in NDST[15:8]
 * (Linux `arch/x86/kvm/vmx/posted_intr.c`: `x2apic_mode ? dest : (dest << 8) & 0xFF00`).
 * Which flag applies: KVM keys it on host x2APIC mode, the spec on IRTA.EIME; they coincide
 * under Linux (sheet §6, [derived]).
 * @throws RangeError when the ID does not fit (> 0xFFFFFFFF, or > 0xFF in xAPIC mode).
 */
export function ndstForApicId(apicId: number, x2apic: boolean): number {
  const limit = x2apic ? 0xffff_ffff : 0xff;
  if (!Number.isInteger(apicId) || apicId < 0 || apicId > limit) {
    throw new RangeError(`APIC ID ${apicId} does not fit NDST in ${x2apic ? 'x2APIC' : 'xAPIC'} mode`);
  }
  return x2apic ? apicId : apicId << 8;
}

/** APIC ID named by NDST: all 32 bits in x2APIC mode, NDST[15:8] in xAPIC mode. Never throws. */
export function apicIdFromNdst(ndst: number, x2apic: boolean): number {
  const n = ndst >>> 0;
  return x2apic ? n : (n >>> 8) & 0xff;
}

/** Split a 512-bit PID into 8 little-endian qwords (qword i = bits 64i+63:64i, byte offset 8i). */
export function pidToQwords(raw: bigint): bigint[] {
  const v = raw & PID_MASK;
  return Array.from({ length: 8 }, (_, i) => bitsOf(v, 64 * i + 63, 64 * i));
}

/** Join 8 little-endian qwords into a 512-bit PID. @throws RangeError unless given 8 values in 0..2^64-1. */
export function pidFromQwords(qwords: readonly bigint[]): bigint {
  if (qwords.length !== 8) throw new RangeError(`a PID is 8 qwords, got ${qwords.length}`);
  let v = 0n;
  qwords.forEach((q, i) => {
    if (q < 0n || q > U64_MASK) throw new RangeError(`qword ${i} is not a 64-bit value`);
    v |= q << BigInt(64 * i);
  });
  return v;
}
