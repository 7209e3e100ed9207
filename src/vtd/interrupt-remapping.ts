/**
 * The VT-d interrupt-remapping pipeline for one interrupt request (a DWORD write to
 * 0xFEEx_xxxx), as remapping hardware processes it (VT-d §5.1.2–§5.1.4). Pure: it
 * reads the unit and memory and returns the outcome, the IEC after any fill, and
 * nothing else changes. Order of checks (the sheet's §14 checklist; VirtualBox
 * `dmarIrRemapIntr`, QEMU `vtd_interrupt_remap_msi`):
 *
 * 1. IR disabled (GSTS.IRES = 0): the request passes unchanged.
 * 2. Compatibility format (address bit 4 = 0): blocked with 0x25 when IRTA.EIME = 1
 *    or GSTS.CFIS = 0, else passes unchanged (VirtualBox; QEMU ignores CFI, the sheet
 *    flags it as a disagreement and we follow the spec reading).
 * 3. Remappable format: data bits 31:16 non-zero → 0x20, whatever SHV (VirtualBox's
 *    reading; QEMU checks them only with SHV = 1).
 * 4. Index = handle (+ subhandle if SHV), ≥ 2^(S+1) → 0x21; an IRTE whose address (base
 *    from the IRTA latched by SIRTP) is at or above the host address width → 0x21 too
 *    (the spec's 0x21 covers both; 0x23 is an error in the IRTA-pointed access itself,
 *    which simulated memory never raises).
 * 5. IRTE from the IEC, or from memory (then cached).
 * 6. P = 0 → 0x22. Reserved bits set → 0x24: the format's reserved fields, DST bits
 *    7:0 and 31:16 in xAPIC mode (EIME = 0; the spec and VirtualBox; QEMU ignores
 *    them), the reserved delivery modes 011b and 110b, and IM = 1 on a unit without
 *    CAP.PI (VirtualBox).
 * 7. Source-ID verification by SVT/SQ/SID → 0x26 (Linux's and QEMU's code; VirtualBox
 *    uses 0x24). SVT = 11b is reserved and fails verification, as both QEMU and
 *    VirtualBox treat it.
 * 8. IM = 0: remapped, the interrupt takes its attributes from the IRTE. IM = 1:
 *    posted through the descriptor at PDA.
 *
 * Faults 0x22, 0x24, 0x26 are qualified: IRTE.FPD suppresses their recording.
 */
import type { IommuUnit, InterruptEntryCache, IecEntry } from '../platform/state.ts';
import { PhysicalMemory } from '../memory/physical-memory.ts';
import { irteIndexOf } from './remappable-msi.ts';
import { decodeIrteWords, XAPIC_DST_RESERVED_MASK, IRTE_BYTES, type PostedIrte, type RemappedIrte } from './irte.ts';
import { decodeIrta, irtEntries, GLOBAL_STATUS_BITS, CAP_LAYOUT } from './registers.ts';
import { IR_FAULT } from './fault-reasons.ts';
import { iecFill, iecLookup } from './iec.ts';

/** SQ → requester-ID mask (VT-d Table "SQ"; L-IR `SQ_ALL_16`…`SQ_13_IGNORE_3`). */
const SQ_MASKS = [0xffff, 0xfffb, 0xfff9, 0xfff8] as const;

const CAP_PI_BIT = BigInt(CAP_LAYOUT.spec.fields.PI.lo);

/** CAP.PI, without decoding the whole register on the posting path. */
function capHasPostedInterrupts(cap: bigint): boolean {
  return ((cap >> CAP_PI_BIT) & 1n) === 1n;
}

export interface InterruptRequest {
  readonly rid: number;
  readonly address: bigint;
  readonly data: number;
}

export type RemapOutcome =
  | { readonly kind: 'passthrough'; readonly why: 'ir-disabled' | 'cfi' }
  | {
      readonly kind: 'remapped';
      readonly irteIndex: number;
      readonly irte: RemappedIrte;
      readonly apicId: number;
      readonly iecHit: boolean;
    }
  | { readonly kind: 'posted'; readonly irteIndex: number; readonly irte: PostedIrte; readonly iecHit: boolean }
  | {
      readonly kind: 'fault';
      readonly reason: number;
      readonly irteIndex: number | undefined;
      readonly qualified: boolean;
      /** FPD of the IRTE involved: a qualified fault with FPD set is not recorded. */
      readonly fpd: boolean;
    };

export interface RemapResult {
  readonly outcome: RemapOutcome;
  /** The IEC after the lookup (a miss fills it). Same object when unchanged. */
  readonly iec: InterruptEntryCache;
}

/** Source-ID verification of an IRTE against the requester ID (VT-d §9.10 SVT/SQ/SID). */
export function sourceIdMatches(svt: number, sq: number, sid: number, rid: number): boolean {
  switch (svt) {
    case 0:
      return true;
    case 1: {
      const mask = SQ_MASKS[sq & 3]!;
      return (rid & mask) === (sid & mask);
    }
    case 2: {
      // Upper byte = first bus, lower byte = last bus (Linux set_irte_verify_bus,
      // VirtualBox); QEMU has the bytes swapped (sheet §3.2 DISAGREE).
      const bus = rid >> 8;
      return bus >= sid >> 8 && bus <= (sid & 0xff);
    }
    default:
      return false;
  }
}

/**
 * The latched IRTA as the pipeline uses it, decoded once per distinct value: the
 * register changes only at SIRTP, while every interrupt request needs EIME, the table
 * size and base. `lastReadable` (the highest index whose IRTE lies below 2^haw, -1 if
 * none) depends on the host address width too and is filled in on first use.
 */
interface LatchedIrta {
  readonly raw: bigint;
  readonly base: bigint;
  /** `base` as a 4 KiB frame number (exact: frame numbers are below 2^52). */
  readonly baseFrame: number;
  readonly eime: boolean;
  readonly entries: number;
  haw: number;
  lastReadable: number;
}

/** One-entry memo: a run has one or a few units, each with one latched IRTA at a time. */
let latchedMemo: LatchedIrta | undefined;

/**
 * Decoded latched IRTAs by raw value: each unit has its own IRT, so interrupts that
 * alternate between units alternate between IRTA values, and a one-entry memo alone
 * re-decoded the register on every switch (2.4× the IEC-hit cost with 8 units;
 * BENCHMARKS.md, scaling). Bounded: a value not seen recently is decoded again.
 */
const latchedByValue = new Map<bigint, LatchedIrta>();
const LATCHED_VALUES = 64;

/** IRTA.EIME of a latched IRTA value (decoded once per value, as {@link latchedIrta}). */
export function latchedEime(raw: bigint): boolean {
  return latchedIrta(raw).eime;
}

function latchedIrta(raw: bigint): LatchedIrta {
  const m = latchedMemo;
  if (m !== undefined && m.raw === raw) return m;
  let irta = latchedByValue.get(raw);
  if (irta === undefined) {
    const d = decodeIrta(raw);
    irta = { raw, base: d.base, baseFrame: Number(d.base >> 12n), eime: d.eime, entries: irtEntries(d.size), haw: NaN, lastReadable: -1 };
    if (latchedByValue.size >= LATCHED_VALUES) latchedByValue.clear();
    latchedByValue.set(raw, irta);
  }
  latchedMemo = irta;
  return irta;
}

/**
 * IRTE `index` of the table at the latched IRTA, read from memory and decoded (the IEC-miss
 * path). On a PhysicalMemory itself: four dword reads by frame number and
 * {@link decodeIrteWords}, no bigint but the entry's `raw`; through a proxy (the explorer
 * counts one reference per accessor call: src/explorer/memory-counter.ts) one 16-byte
 * `readLE`, as the IRTE read is one reference. Both decode the same bits.
 */
function readIrte(memory: PhysicalMemory, irta: LatchedIrta, index: number): IecEntry {
  let w0: number, w1: number, w2: number, w3: number;
  if (PhysicalMemory.isDirect(memory)) {
    // The table is 4 KiB aligned (IRTA bits 63:12), 256 IRTEs per frame, 4 dwords each.
    const frame = irta.baseFrame + (index >>> 8);
    const word = (index & 0xff) << 2;
    w0 = memory.readWord(frame, word);
    w1 = memory.readWord(frame, word + 1);
    w2 = memory.readWord(frame, word + 2);
    w3 = memory.readWord(frame, word + 3);
  } else {
    const v = memory.readLE(irta.base + BigInt(index * IRTE_BYTES), IRTE_BYTES);
    w0 = Number(v & 0xffff_ffffn);
    w1 = Number((v >> 32n) & 0xffff_ffffn);
    w2 = Number((v >> 64n) & 0xffff_ffffn);
    w3 = Number(v >> 96n);
  }
  const decoded = decodeIrteWords(w0, w1, w2, w3);
  const raw = (BigInt(w3) << 96n) | (BigInt(w2) << 64n) | (BigInt(w1) << 32n) | BigInt(w0);
  return { raw, irte: decoded.irte, reserved: decoded.reserved };
}

/**
 * Highest IRTE index of the table whose 16 bytes lie below 2^haw: IRTE i is readable
 * iff base + (i + 1) * 16 <= 2^haw. Indices are 16-bit, so the bound is capped at 65535.
 */
function lastReadableIndex(irta: LatchedIrta, hostAddressWidth: number): number {
  if (irta.haw !== hostAddressWidth) {
    const room = (1n << BigInt(hostAddressWidth)) - irta.base;
    const fit = room / BigInt(IRTE_BYTES);
    irta.lastReadable = room < BigInt(IRTE_BYTES) ? -1 : Number(fit > 65536n ? 65536n : fit) - 1;
    irta.haw = hostAddressWidth;
  }
  return irta.lastReadable;
}

/** Address bits 31:0 as a number (what the remappable format defines; bits 63:32 are not used here). */
function lowDword(address: bigint): number {
  // Number() of a bigint rounds monotonically and 2^32 is exact, so `n` is in 0..2^32−1 exactly
  // when `address` is: one conversion instead of two bigint comparisons on the hot path.
  const n = Number(address);
  return n >= 0 && n <= 0xffff_ffff ? n : Number(BigInt.asUintN(32, address));
}

const fault = (reason: number, irteIndex: number | undefined, fpd = false): RemapOutcome => ({
  kind: 'fault',
  reason,
  irteIndex,
  qualified: reason === IR_FAULT.ENTRY_NOT_PRESENT || reason === IR_FAULT.IRTE_RESERVED || reason === IR_FAULT.SID_MISMATCH,
  fpd,
});

/**
 * Process one interrupt request at `unit`.
 * @param hostAddressWidth the platform's host address width in bits (DMAR HAW + 1)
 */
export function remapInterrupt(
  unit: IommuUnit,
  memory: PhysicalMemory,
  hostAddressWidth: number,
  request: InterruptRequest,
): RemapResult {
  const iec = unit.iec;
  const gsts = unit.regs.gsts;
  if ((gsts & (1 << GLOBAL_STATUS_BITS.IRES)) === 0) return { outcome: { kind: 'passthrough', why: 'ir-disabled' }, iec };

  // The remappable-format fields (REMAPPABLE_ADDRESS_LAYOUT / REMAPPABLE_DATA_LAYOUT),
  // decoded with number arithmetic on the low dword: this is the hot path.
  const irta = latchedIrta(unit.regs.irtaLatched);
  const low = lowDword(request.address);
  if ((low & 0x10) === 0) {
    const cfis = (gsts & (1 << GLOBAL_STATUS_BITS.CFIS)) !== 0;
    if (irta.eime || !cfis) return { outcome: fault(IR_FAULT.COMPAT_BLOCKED, undefined), iec };
    return { outcome: { kind: 'passthrough', why: 'cfi' }, iec };
  }

  if (request.data >>> 16 !== 0) return { outcome: fault(IR_FAULT.RESERVED_REQUEST, undefined), iec };

  // handle[15] = address bit 2, handle[14:0] = bits 19:5; SHV = bit 3.
  const handle = (((low >>> 2) & 1) << 15) | ((low >>> 5) & 0x7fff);
  const index = irteIndexOf(handle, (low & 0x8) !== 0, request.data);
  if (index >= irta.entries) return { outcome: fault(IR_FAULT.INDEX_OVER, index), iec };
  if (index > lastReadableIndex(irta, hostAddressWidth)) return { outcome: fault(IR_FAULT.INDEX_OVER, index), iec };

  let entry: IecEntry | undefined = iecLookup(iec, index);
  const iecHit = entry !== undefined;
  let nextIec = iec;
  if (entry === undefined) {
    entry = readIrte(memory, irta, index);
    // Hardware caches only present entries; a not-present one is re-read next time.
    if (entry.irte.present) nextIec = iecFill(iec, index, entry);
  }
  const irte = entry.irte;
  if (!irte.present) return { outcome: fault(IR_FAULT.ENTRY_NOT_PRESENT, index, irte.fpd), iec: nextIec };

  let reserved = entry.reserved !== 0n;
  let apicId = 0;
  if (irte.mode === 'remapped') {
    // irteDestinationApicId's rule (src/vtd/irte.ts), without its result object on the hot path:
    // EIME=1 all 32 DST bits; EIME=0 DST[15:8], with DST bits 7:0 and 31:16 reserved.
    // Delivery modes 011b and 110b are reserved (VT-d §9.10 DLM).
    const dst = irte.destination >>> 0;
    apicId = irta.eime ? dst : (dst >>> 8) & 0xff;
    const dm = irte.deliveryMode;
    reserved ||= (!irta.eime && (dst & XAPIC_DST_RESERVED_MASK) !== 0) || dm === 3 || dm === 6;
  } else {
    reserved ||= !capHasPostedInterrupts(unit.cap);
  }
  if (reserved) return { outcome: fault(IR_FAULT.IRTE_RESERVED, index, irte.fpd), iec: nextIec };

  if (!sourceIdMatches(irte.svt, irte.sq, irte.sid, request.rid)) {
    return { outcome: fault(IR_FAULT.SID_MISMATCH, index, irte.fpd), iec: nextIec };
  }
  if (irte.mode === 'posted') return { outcome: { kind: 'posted', irteIndex: index, irte, iecHit }, iec: nextIec };
  return { outcome: { kind: 'remapped', irteIndex: index, irte, apicId, iecHit }, iec: nextIec };
}
