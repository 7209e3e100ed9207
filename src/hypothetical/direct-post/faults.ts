/**
 * HYPOTHETICAL direct-post fault reasons (FR values 0xD0–0xD5). They exist in no
 * specification: remapsim defines them for its direct-post extension of a VT-d unit
 * (/tmp/briefs/directpost.md; seed thread 000). They sit in a range VT-d leaves unused
 * (src/vtd/fault-reasons.ts lists 0x01–0x0E, 0x20–0x29 and 0x30–0x91) and are recorded in
 * the unit's FRCD registers like VT-d interrupt-remapping faults (src/vtd/fault-recording.ts
 * `recordInterruptFault`): SID = the requester ID, FI[63:48] = the vAPIC ID the request named.
 * None is qualified: there is no FPD in a direct-post entry, so every one is recorded.
 */

/** Direct-post fault codes (hypothetical). */
export const DIRECT_POST_FAULT = {
  /** Key source-id: the root entry for the requester ID has P = 0. */
  ROOT_NOT_PRESENT: 0xd0,
  /** Root entry reserved bits 11:5 set, or the DPTA base / vAPIC table base is beyond the host address width. */
  ROOT_INVALID: 0xd1,
  /** vAPIC ID ≥ the vAPIC table's 2^TS entries. */
  VAPIC_OVER: 0xd2,
  /** The vAPIC table entry has P = 0. */
  VAPIC_NOT_PRESENT: 0xd3,
  /** vAPIC entry reserved bits 5:2 set, or its PID (and wide-vector PIR extension) lies beyond the host address width. */
  VAPIC_INVALID: 0xd4,
  /** Not postable: logical destination mode, delivery mode other than fixed/lowest priority, vector < 16, or wide-vector bits the platform does not have. */
  NOT_POSTABLE: 0xd5,
} as const;

/** One row of the hypothetical reasons table (same shape as VT-d's FaultReason, minus `kind`). */
export interface DirectPostFaultReason {
  readonly code: number;
  readonly name: string;
  readonly description: string;
  /** Always false: nothing suppresses recording of these faults. */
  readonly qualified: false;
  readonly source: string;
}

const SRC = 'remapsim hypothetical direct-post (seed thread 000, docs/threads/)';

/** The reasons, ascending by code. */
export const DIRECT_POST_FAULT_REASONS: readonly DirectPostFaultReason[] = Object.freeze(
  (
    [
      [0xd0, 'dp-root-not-present', 'Direct-post root entry for the source-id is not present (hypothetical)'],
      [0xd1, 'dp-root-invalid', 'Direct-post root entry reserved bits set, or DPTA / vAPIC table base beyond the host address width (hypothetical)'],
      [0xd2, 'dp-vapic-over', 'vAPIC ID exceeds the direct-post vAPIC table size (hypothetical)'],
      [0xd3, 'dp-vapic-not-present', 'Direct-post vAPIC table entry is not present (hypothetical)'],
      [0xd4, 'dp-vapic-invalid', 'Direct-post vAPIC entry reserved bits set, or PDA beyond the host address width (hypothetical)'],
      [0xd5, 'dp-not-postable', 'Interrupt request cannot be direct-posted: logical mode, delivery mode not fixed/lowest priority, vector below 16 or unsupported wide-vector bits (hypothetical)'],
    ] as const
  ).map(([code, name, description]) => Object.freeze({ code, name, description, qualified: false as const, source: SRC })),
);

/** The row for `code`, or undefined when it is not a direct-post reason. */
export function directPostFaultReason(code: number): DirectPostFaultReason | undefined {
  return DIRECT_POST_FAULT_REASONS.find((r) => r.code === code);
}
