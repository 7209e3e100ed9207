/**
 * What a guest's MSI message asks for, read as the guest's virtual platform reads it: a
 * compatibility-format message (Intel SDM Vol. 3 §10.11: address 0xFEEx_xxxx, destination
 * ID in bits 19:12 — with the extended destination ID in bits 11:5 when the platform offers
 * it, Linux `KVM_FEATURE_MSI_EXT_DEST_ID` —, DM bit 2, RH bit 3; data: vector 7:0, delivery
 * mode 10:8) resolved among the vCPUs of the guest's domain (src/platform/guest-apic.ts).
 * The KVM route, Xen's gflags and P7 read the same answer.
 *
 * Under the HYPOTHETICAL direct-post design (`platform.vmm: direct-post…`, src/vmm/designs/
 * direct-post.ts) the guest's MSI-X table is not virtualized: its message goes to the
 * direct-post hardware as written, so it is read by that hardware's rules
 * (src/hypothetical/direct-post/table.ts; /tmp/briefs/directpost.md "Which requests use
 * it"): only physical destination mode is postable (a logical message asks for nothing), and
 * with `vectorBits` > 8 the vector's bits [vectorBits−1:8] come from data[23:16] (any other
 * bit of data[23:16] set, or any with 8-bit vectors, makes it not postable).
 */
import type { PlatformState, Vcpu } from '../platform/state.ts';
import { compatibilityDestination, decodeCompatibilityAddress, decodeMsiData, DELIVERY_MODE_NAMES } from '../x86/msi.ts';
import { guestTargets, recipients } from '../platform/guest-apic.ts';

/** A guest message the platform can deliver, or why not. */
export type GuestMessage =
  | {
      readonly deliverable: true;
      readonly destination: number;
      readonly logical: boolean;
      readonly vector: number;
      /** 0 fixed, 1 lowest priority. */
      readonly deliveryMode: number;
      /** Every vCPU of the domain the destination names. */
      readonly targets: readonly Vcpu[];
      /** The vCPUs it goes to: all targets (fixed) or the one vector hashing picks (lowest priority). */
      readonly recipients: readonly Vcpu[];
    }
  | { readonly deliverable: false; readonly why: string };

/** Interrupt messages are DWORD writes into 0xFEE0_0000–0xFEEF_FFFF (SDM §10.11.1). */
const INTERRUPT_WINDOW = 0xfeen;

/** Read `address`/`data` as the guest of `domain` programmed them (see the module comment). */
export function guestMessage(state: PlatformState, domain: number, address: bigint, data: number): GuestMessage {
  if (address >> 20n !== INTERRUPT_WINDOW) return { deliverable: false, why: `address 0x${address.toString(16)} is not in the interrupt window 0xFEEx_xxxx` };
  const a = decodeCompatibilityAddress(address);
  if (a.interruptFormat === 1) return { deliverable: false, why: 'remappable format (bit 4) without a vIOMMU' };
  const d = decodeMsiData(data);
  if (d.deliveryMode !== 0 && d.deliveryMode !== 1) return { deliverable: false, why: `delivery mode ${DELIVERY_MODE_NAMES[d.deliveryMode] ?? d.deliveryMode} is not modelled for guests` };
  const destination = compatibilityDestination(a, state.interrupts.extendedDestinationId);
  const direct = directPostVector(state, data, a.destinationModeLogical);
  if (typeof direct === 'string') return { deliverable: false, why: direct };
  const targets = guestTargets(state, domain, destination, a.destinationModeLogical);
  if (targets.length === 0) return { deliverable: false, why: `destination 0x${destination.toString(16)} names no vCPU of the guest` };
  const vector = direct ?? d.vector;
  return { deliverable: true, destination, logical: a.destinationModeLogical, vector, deliveryMode: d.deliveryMode, targets, recipients: recipients(targets, d.deliveryMode, d.vector) };
}

/**
 * With the HYPOTHETICAL direct-post design, the vector the direct-post hardware reads from
 * `data` (data[7:0], and data[23:16] as vector bits 15:8 up to `vectorBits`), or why the
 * hardware does not post the message (fault 0xD5); undefined for any other design.
 */
function directPostVector(state: PlatformState, data: number, logical: boolean): number | string | undefined {
  const dp = state.interrupts.directPost;
  if (dp === undefined || state.vmm?.design.startsWith('direct-post') !== true) return undefined;
  if (logical) return 'logical destination mode: the direct-post hardware (hypothetical) posts physical destinations only (fault 0xD5)';
  const high = (data >>> 16) & 0xff;
  const wide = Math.max(0, dp.vectorBits - 8);
  if ((high >> wide) !== 0) return `data[23:16] = 0x${high.toString(16)} has bits beyond the platform's ${dp.vectorBits}-bit vectors (fault 0xD5, hypothetical)`;
  return (data & 0xff) | (high << 8);
}
