/**
 * What a PCI function does when it signals an interrupt, given its MSI / MSI-X
 * capability state (PCI Local Bus Spec 3.0 §6.8; sheet §12; Linux pci_regs.h).
 *
 * - MSI with Multiple Message Enable = n sends vector k (k < 2^n) by replacing the
 *   low n bits of the programmed data with k.
 * - A vector masked by its mask bit (MSI per-vector masking; MSI-X entry mask or the
 *   Function Mask) sets its pending bit instead of sending; unmasking a vector with
 *   its pending bit set sends the message and clears the bit.
 * - MSI-X takes precedence when both capabilities are enabled (a function must not
 *   use both; the PCI spec leaves that case undefined, we pick MSI-X and note it).
 */
import type { MsiCapability, MsixCapability, PciFunction } from '../platform/state.ts';

export interface Message {
  readonly address: bigint;
  readonly data: number;
}

export type SignalResult =
  | { readonly kind: 'send'; readonly message: Message; readonly fn: PciFunction }
  | { readonly kind: 'pending'; readonly capability: 'msi' | 'msix'; readonly fn: PciFunction }
  | { readonly kind: 'dropped'; readonly why: string; readonly fn: PciFunction };

export function emptyMsi(mmc = 0, perVectorMasking = false): MsiCapability {
  return { enabled: false, mmc, mme: 0, address: 0n, data: 0, perVectorMasking, mask: 0, pending: 0 };
}

export function emptyMsix(tableSize: number): MsixCapability {
  // Entries come out of reset masked (PCI spec §6.8.2.9).
  return {
    enabled: false,
    functionMask: false,
    table: Array.from({ length: tableSize }, () => ({ address: 0n, data: 0, masked: true })),
    pending: [],
  };
}

function msiMessage(msi: MsiCapability, vector: number): Message {
  const low = (1 << msi.mme) - 1;
  return { address: msi.address, data: ((msi.data & ~low & 0xffff) | (vector & low)) >>> 0 };
}

/** The function signals `vector` (MSI vector number or MSI-X table entry index). */
export function signal(fn: PciFunction, vector: number): SignalResult {
  const { msi, msix } = fn;
  if (msix?.enabled) {
    const entry = msix.table[vector];
    if (entry === undefined) return { kind: 'dropped', why: `MSI-X table has ${msix.table.length} entries`, fn };
    if (entry.masked || msix.functionMask) {
      // A vector already pending stays so: the function is unchanged (the same object).
      if (msix.pending.includes(vector)) return { kind: 'pending', capability: 'msix', fn };
      const pending = [...msix.pending, vector].sort((a, b) => a - b);
      return { kind: 'pending', capability: 'msix', fn: { ...fn, msix: { ...msix, pending } } };
    }
    return { kind: 'send', message: { address: entry.address, data: entry.data }, fn };
  }
  if (msi?.enabled) {
    if (vector >= 1 << msi.mme) return { kind: 'dropped', why: `MSI has ${1 << msi.mme} vectors enabled`, fn };
    if (msi.perVectorMasking && (msi.mask >>> vector) & 1) {
      const pending = (msi.pending | (1 << vector)) >>> 0;
      return { kind: 'pending', capability: 'msi', fn: pending === msi.pending ? fn : { ...fn, msi: { ...msi, pending } } };
    }
    return { kind: 'send', message: msiMessage(msi, vector), fn };
  }
  return { kind: 'dropped', why: 'neither MSI nor MSI-X is enabled', fn };
}

/**
 * Messages that became sendable after a change of masks: pending vectors that are now
 * unmasked, in ascending order, with the function's pending bits cleared; `fn` itself when
 * none is released.
 */
export function releasePending(fn: PciFunction): { fn: PciFunction; messages: Message[] } {
  const messages: Message[] = [];
  let next = fn;
  const { msix, msi } = fn;
  if (msix?.enabled && !msix.functionMask && msix.pending.length > 0) {
    const still: number[] = [];
    for (const v of msix.pending) {
      const e = msix.table[v];
      if (e !== undefined && !e.masked) messages.push({ address: e.address, data: e.data });
      else still.push(v);
    }
    // Nothing released: the function is returned as it was (the same object).
    if (messages.length > 0) next = { ...next, msix: { ...msix, pending: still } };
  } else if (!msix?.enabled && msi?.enabled && msi.pending !== 0) {
    let pending = msi.pending;
    for (let v = 0; v < 32; v++) {
      if ((pending >>> v) & 1 && !((msi.mask >>> v) & 1)) {
        messages.push(msiMessage(msi, v));
        pending = (pending & ~(1 << v)) >>> 0;
      }
    }
    if (pending !== msi.pending) next = { ...next, msi: { ...msi, pending } };
  }
  return { fn: next, messages };
}
