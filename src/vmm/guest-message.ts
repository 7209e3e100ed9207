/**
 * What a guest's MSI message asks for, read as the guest's virtual platform reads it: a
 * compatibility-format message (Intel SDM Vol. 3 §10.11: address 0xFEEx_xxxx, destination
 * ID in bits 19:12 — with the extended destination ID in bits 11:5 when the platform offers
 * it, Linux `KVM_FEATURE_MSI_EXT_DEST_ID` —, DM bit 2, RH bit 3; data: vector 7:0, delivery
 * mode 10:8) resolved among the vCPUs of the guest's domain (src/platform/guest-apic.ts).
 * The KVM route, Xen's gflags and P7 read the same answer.
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
  const targets = guestTargets(state, domain, destination, a.destinationModeLogical);
  if (targets.length === 0) return { deliverable: false, why: `destination 0x${destination.toString(16)} names no vCPU of the guest` };
  return { deliverable: true, destination, logical: a.destinationModeLogical, vector: d.vector, deliveryMode: d.deliveryMode, targets, recipients: recipients(targets, d.deliveryMode, d.vector) };
}
