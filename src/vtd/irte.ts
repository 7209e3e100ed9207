/**
 * VT-d Interrupt Remapping Table Entry (IRTE), 128 bits = 16 bytes, in remapped format
 * (IM = 0) and posted format (IM = 1). VT-d spec §9.10 "Interrupt Remapping Table Entry";
 * Linux `include/linux/dmar.h` `struct irte`; VirtualBox `include/VBox/iommu-intel.h`
 * `VTD_BF_0_IRTE_*` / `VTD_BF_1_IRTE_*`. Reference sheet §3.
 *
 * An IRTE is handled as one 128-bit little-endian bigint: `qword1 << 64 | qword0`, which is
 * how the spec numbers its bits (127:0).
 */
import { defineLayout } from '../bits/layout.ts';
import { maskOf, U64_MASK } from '../bits/bits.ts';
import { uintArg, type UintInput } from '../bits/uint-arg.ts';

/** Size of one IRTE in bytes; entry address = IRTA base + index × 16. */
export const IRTE_BYTES = 16;

const IRTE_MASK = maskOf(128);

/** Remapped-format IRTE (IM = 0), sheet §3.1. */
export const REMAPPED_IRTE_LAYOUT = defineLayout({
  name: 'IRTE (remapped, IM=0)',
  width: 128,
  fields: {
    P: { hi: 0, lo: 0 },
    FPD: { hi: 1, lo: 1 },
    DM: { hi: 2, lo: 2 },
    RH: { hi: 3, lo: 3 },
    TM: { hi: 4, lo: 4 },
    DLM: { hi: 7, lo: 5 },
    AVAIL: { hi: 11, lo: 8 },
    IM: { hi: 15, lo: 15 },
    V: { hi: 23, lo: 16 },
    DST: { hi: 63, lo: 32 },
    SID: { hi: 79, lo: 64 },
    SQ: { hi: 81, lo: 80 },
    SVT: { hi: 83, lo: 82 },
  },
  reserved: [
    { hi: 14, lo: 12 },
    { hi: 31, lo: 24 },
    { hi: 127, lo: 84 },
  ],
});

/** Posted-format IRTE (IM = 1), sheet §3.3. VV is the virtual vector posted into PID.PIR. */
export const POSTED_IRTE_LAYOUT = defineLayout({
  name: 'IRTE (posted, IM=1)',
  width: 128,
  fields: {
    P: { hi: 0, lo: 0 },
    FPD: { hi: 1, lo: 1 },
    AVAIL: { hi: 11, lo: 8 },
    URG: { hi: 14, lo: 14 },
    IM: { hi: 15, lo: 15 },
    VV: { hi: 23, lo: 16 },
    PDA_L: { hi: 63, lo: 38 },
    SID: { hi: 79, lo: 64 },
    SQ: { hi: 81, lo: 80 },
    SVT: { hi: 83, lo: 82 },
    PDA_H: { hi: 127, lo: 96 },
  },
  reserved: [
    { hi: 7, lo: 2 },
    { hi: 13, lo: 12 },
    { hi: 37, lo: 24 },
    { hi: 95, lo: 84 },
  ],
});

interface IrteCommon {
  /** P, bit 0. */
  present: boolean;
  /** FPD, bit 1: suppress recording of qualified faults. */
  fpd: boolean;
  /** AVAIL, bits 11:8 (software use). */
  avail: number;
  /**
   * SID, bits 79:64: requester id to verify, or for SVT=2 a bus range with SID[15:8] = start
   * bus and SID[7:0] = end bus (Linux `set_irte_verify_bus` / VirtualBox reading; QEMU names
   * the bytes the other way round — sheet §3.2 [DISAGREE], we follow Linux/VirtualBox).
   */
  sid: number;
  /** SQ, bits 81:80: source-id qualifier. */
  sq: number;
  /** SVT, bits 83:82: source validation type. */
  svt: number;
}

/** Remapped-format IRTE fields (IM = 0). */
export interface RemappedIrte extends IrteCommon {
  mode: 'remapped';
  /** DM, bit 2. */
  destinationModeLogical: boolean;
  /** RH, bit 3. */
  redirectionHint: boolean;
  /** TM, bit 4. */
  triggerLevel: boolean;
  /** DLM, bits 7:5 (encoding as MSI data 10:8). */
  deliveryMode: number;
  /** V, bits 23:16. */
  vector: number;
  /** Raw 32-bit DST field, bits 63:32; see {@link irteDestinationApicId} for its meaning. */
  destination: number;
}

/** Posted-format IRTE fields (IM = 1). */
export interface PostedIrte extends IrteCommon {
  mode: 'posted';
  /** URG, bit 14: notify even when PID.SN = 1. */
  urgent: boolean;
  /** VV, bits 23:16: virtual vector set in PID.PIR. */
  virtualVector: number;
  /** Posted-interrupt descriptor address, 64-byte aligned: PDA_H << 32 | PDA_L << 6. */
  pda: bigint;
}

/** An IRTE in either format. */
export type Irte = RemappedIrte | PostedIrte;

/**
 * Decode a 128-bit IRTE (`qword1 << 64 | qword0`). IM (bit 15) selects the format.
 * `reserved` holds, in place, the reserved bits of that format that are set; the DST bits
 * that are reserved only in xAPIC mode are not counted here (see {@link irteDestinationApicId}).
 * A number is accepted when exact (a safe integer); bits above 127 are dropped.
 * @throws RangeError when `raw` is neither a bigint nor a safe integer number (src/bits/uint-arg.ts).
 */
export function decodeIrte(raw: UintInput): { irte: Irte; reserved: bigint } {
  const v = uintArg(raw, 'raw') & IRTE_MASK;
  if ((v & (1n << 15n)) === 0n) {
    const f = REMAPPED_IRTE_LAYOUT.decode(v);
    return {
      irte: {
        mode: 'remapped',
        present: f.P === 1,
        fpd: f.FPD === 1,
        destinationModeLogical: f.DM === 1,
        redirectionHint: f.RH === 1,
        triggerLevel: f.TM === 1,
        deliveryMode: f.DLM,
        avail: f.AVAIL,
        vector: f.V,
        destination: f.DST,
        sid: f.SID,
        sq: f.SQ,
        svt: f.SVT,
      },
      reserved: REMAPPED_IRTE_LAYOUT.reservedSet(v),
    };
  }
  const f = POSTED_IRTE_LAYOUT.decode(v);
  return {
    irte: {
      mode: 'posted',
      present: f.P === 1,
      fpd: f.FPD === 1,
      avail: f.AVAIL,
      urgent: f.URG === 1,
      virtualVector: f.VV,
      pda: (BigInt(f.PDA_H) << 32n) | (BigInt(f.PDA_L) << 6n),
      sid: f.SID,
      sq: f.SQ,
      svt: f.SVT,
    },
    reserved: POSTED_IRTE_LAYOUT.reservedSet(v),
  };
}

/** Reserved bits of each format per dword (w0 = bits 31:0 … w3 = bits 127:96), from the layouts above. */
const REMAPPED_RESERVED_WORDS = [0xff00_7000, 0, 0xfff0_0000, 0xffff_ffff] as const;
const POSTED_RESERVED_WORDS = [0xff00_30fc, 0x0000_003f, 0xfff0_0000, 0] as const;

/**
 * Decode an IRTE given as its four little-endian dwords (`w0` = bits 31:0, `w1` = 63:32,
 * `w2` = 95:64, `w3` = 127:96; each an unsigned 32-bit number), with number arithmetic: the
 * same result as {@link decodeIrte} of `w3 << 96 | w2 << 64 | w1 << 32 | w0` (a fixed-seed
 * property in test/vtd/irte-words.test.ts checks every field), without a bigint per field —
 * this is the IEC-miss path. The field positions are those of {@link REMAPPED_IRTE_LAYOUT}
 * and {@link POSTED_IRTE_LAYOUT} (VT-d §9.10); `reserved` is 0n unless a reserved bit is set.
 */
export function decodeIrteWords(w0: number, w1: number, w2: number, w3: number): { irte: Irte; reserved: bigint } {
  const sid = w2 & 0xffff;
  const sq = (w2 >>> 16) & 3;
  const svt = (w2 >>> 18) & 3;
  if ((w0 & 0x8000) === 0) {
    const m = REMAPPED_RESERVED_WORDS;
    return {
      irte: {
        mode: 'remapped',
        present: (w0 & 1) === 1,
        fpd: ((w0 >>> 1) & 1) === 1,
        destinationModeLogical: ((w0 >>> 2) & 1) === 1,
        redirectionHint: ((w0 >>> 3) & 1) === 1,
        triggerLevel: ((w0 >>> 4) & 1) === 1,
        deliveryMode: (w0 >>> 5) & 7,
        avail: (w0 >>> 8) & 0xf,
        vector: (w0 >>> 16) & 0xff,
        destination: w1 >>> 0,
        sid,
        sq,
        svt,
      },
      reserved: reservedOf((w0 & m[0]) >>> 0, 0, (w2 & m[2]) >>> 0, (w3 & m[3]) >>> 0),
    };
  }
  const m = POSTED_RESERVED_WORDS;
  return {
    irte: {
      mode: 'posted',
      present: (w0 & 1) === 1,
      fpd: ((w0 >>> 1) & 1) === 1,
      avail: (w0 >>> 8) & 0xf,
      urgent: ((w0 >>> 14) & 1) === 1,
      virtualVector: (w0 >>> 16) & 0xff,
      // PDA_H (127:96) << 32 | PDA_L (63:38) << 6: PDA_L << 6 is w1 with its low 6 bits clear.
      pda: (BigInt(w3 >>> 0) << 32n) | BigInt((w1 & 0xffff_ffc0) >>> 0),
      sid,
      sq,
      svt,
    },
    reserved: reservedOf((w0 & m[0]) >>> 0, (w1 & m[1]) >>> 0, (w2 & m[2]) >>> 0, 0),
  };
}

/** The set reserved bits in place as a 128-bit bigint; 0n (no bigint work) when none is set. */
function reservedOf(r0: number, r1: number, r2: number, r3: number): bigint {
  if ((r0 | r1 | r2 | r3) === 0) return 0n;
  return (BigInt(r3) << 96n) | (BigInt(r2) << 64n) | (BigInt(r1) << 32n) | BigInt(r0);
}

/**
 * Encode an IRTE to its 128-bit value, OR-ing in `reserved` (in place) so that
 * `encodeIrte(decodeIrte(x).irte, decodeIrte(x).reserved) === x`.
 * @throws RangeError when a field does not fit, `pda` is not a 64-byte aligned 64-bit
 *   address, or `reserved` has bits outside the format's reserved ranges.
 */
export function encodeIrte(irte: Irte, reserved = 0n): bigint {
  const common = {
    P: irte.present ? 1 : 0,
    FPD: irte.fpd ? 1 : 0,
    AVAIL: irte.avail,
    SID: irte.sid,
    SQ: irte.sq,
    SVT: irte.svt,
  };
  if (irte.mode === 'remapped') {
    checkReserved(reserved, REMAPPED_IRTE_LAYOUT.reservedMask, 'remapped IRTE');
    return REMAPPED_IRTE_LAYOUT.encode(
      {
        ...common,
        DM: irte.destinationModeLogical ? 1 : 0,
        RH: irte.redirectionHint ? 1 : 0,
        TM: irte.triggerLevel ? 1 : 0,
        DLM: irte.deliveryMode,
        IM: 0,
        V: irte.vector,
        DST: irte.destination,
      },
      reserved,
    );
  }
  checkReserved(reserved, POSTED_IRTE_LAYOUT.reservedMask, 'posted IRTE');
  const pda = irte.pda;
  if (typeof pda !== 'bigint' || pda < 0n || pda > U64_MASK || (pda & 0x3fn) !== 0n) {
    throw new RangeError(`posted IRTE PDA ${String(pda)} is not a 64-byte aligned 64-bit address`);
  }
  return POSTED_IRTE_LAYOUT.encode(
    {
      ...common,
      URG: irte.urgent ? 1 : 0,
      IM: 1,
      VV: irte.virtualVector,
      PDA_L: Number((pda >> 6n) & maskOf(26)),
      PDA_H: Number(pda >> 32n),
    },
    reserved,
  );
}

function checkReserved(reserved: bigint, mask: bigint, what: string): void {
  if (reserved < 0n || (reserved & ~mask) !== 0n) {
    throw new RangeError(`${what}: reserved bits 0x${reserved.toString(16)} outside the reserved ranges`);
  }
}

/** DST bits that are reserved when IRTA.EIME = 0 (xAPIC): 7:0 and 31:16 of the field. */
export const XAPIC_DST_RESERVED_MASK = 0xffff_00ff;

/**
 * DST field value for a physical APIC ID. EIME=1 (x2APIC): the 32-bit x2APIC ID itself;
 * EIME=0 (xAPIC): the 8-bit APIC ID in DST[15:8] (Linux irq_remapping.c
 * `IRTE_DEST(dest) = eim ? dest : dest << 8`; VirtualBox `DST_XAPIC`).
 * @throws RangeError when the ID does not fit (> 0xFFFFFFFF, or > 0xFF with EIME=0).
 */
export function irteDestinationField(apicId: number, eime: boolean): number {
  const limit = eime ? 0xffff_ffff : 0xff;
  if (!Number.isInteger(apicId) || apicId < 0 || apicId > limit) {
    throw new RangeError(`APIC ID ${apicId} does not fit the IRTE DST field with EIME=${eime ? 1 : 0}`);
  }
  return eime ? apicId : apicId << 8;
}

/**
 * Destination APIC ID named by a DST field. EIME=1: all 32 bits; EIME=0: DST[15:8], and
 * `dstReserved` = DST bits 7:0 and 31:16 that are set, in place (0 when none; always 0 with
 * EIME=1). Following the sheet's [DISAGREE] recommendation (§3.1), these bits are reported
 * as reserved as the VT-d spec and VirtualBox do (→ fault 0x24); QEMU ignores them.
 */
export function irteDestinationApicId(destination: number, eime: boolean): { apicId: number; dstReserved: number } {
  const dst = destination >>> 0;
  if (eime) return { apicId: dst, dstReserved: 0 };
  return { apicId: (dst >>> 8) & 0xff, dstReserved: (dst & XAPIC_DST_RESERVED_MASK) >>> 0 };
}
