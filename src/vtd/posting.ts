/**
 * Interrupt posting through a posted-format IRTE (IM = 1), VT-d §9.11–§9.12 and the
 * sheet's §6.1: read the 64-byte posted-interrupt descriptor at PDA, set the PIR bit
 * of the IRTE's virtual vector, and if ON was clear and either SN is clear or the IRTE
 * is urgent (URG), set ON and send the notification event: vector NV, physical, fixed,
 * edge, to NDST. The read-modify-write is one atomic update of the descriptor.
 *
 * Faults: a descriptor the unit cannot read (PDA + 64 above the host address width)
 * → 0x27; reserved control bits set (271:258 and 287:280) → 0x28. Bits 511:320 are left
 * to software (KVM and Xen keep their own data there), so the model does not check them.
 * NDST is an x2APIC ID when IRTA.EIME = 1, else the xAPIC ID in NDST[15:8].
 */
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import type { PostedIrte } from './irte.ts';
import { PID_BYTES, apicIdFromNdst } from './pid.ts';
import { readPidControl } from './pid-memory.ts';
import { IR_FAULT } from './fault-reasons.ts';

export type PostingOutcome =
  | {
      readonly kind: 'posted';
      readonly pda: bigint;
      readonly virtualVector: number;
      /** PID.SN as read. */
      readonly snSet: boolean;
      /** The notification the unit sent, if any. */
      readonly notification: { readonly vector: number; readonly apicId: number } | undefined;
      /** Why no notification was sent, if none was. */
      readonly suppressed: 'on-already-set' | 'sn-set' | undefined;
    }
  | { readonly kind: 'fault'; readonly reason: number };

/** 2^haw as a bigint, for the last host address width asked about. */
let limitMemo = { haw: -1, limit: 0n };

/**
 * The outcome of posting `irte`'s virtual vector, from the descriptor as it is now,
 * without the write: the caller performs it, as `postToPid(memory, pda, virtualVector,
 * notification !== undefined)` or fused with the notification's processing
 * (`postAndTakePir`).
 */
export function planPosting(memory: PhysicalMemory, hostAddressWidth: number, irte: PostedIrte, eime: boolean): PostingOutcome {
  if (limitMemo.haw !== hostAddressWidth) limitMemo = { haw: hostAddressWidth, limit: 1n << BigInt(hostAddressWidth) };
  if (irte.pda + PID_BYTES_BIG > limitMemo.limit) return { kind: 'fault', reason: IR_FAULT.PID_READ_ERROR };
  const pid = readPidControl(memory, irte.pda);
  if (pid.reservedSet) return { kind: 'fault', reason: IR_FAULT.PID_RESERVED };

  const notify = !pid.on && (irte.urgent || !pid.sn);
  return {
    kind: 'posted',
    pda: irte.pda,
    virtualVector: irte.virtualVector,
    snSet: pid.sn,
    notification: notify ? { vector: pid.nv, apicId: apicIdFromNdst(pid.ndst, eime) } : undefined,
    suppressed: notify ? undefined : pid.on ? 'on-already-set' : 'sn-set',
  };
}

const PID_BYTES_BIG = BigInt(PID_BYTES);
