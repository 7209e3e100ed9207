/** Placeholder until the xen designs land (being written). */
import type { VmmDesign } from '../design.ts';
export const XEN_DESIGNS: readonly VmmDesign[] = [];
