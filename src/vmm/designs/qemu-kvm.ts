/** Placeholder until the qemu-kvm designs land (being written). */
import type { VmmDesign } from '../design.ts';
export const QEMU_KVM_DESIGNS: readonly VmmDesign[] = [];
