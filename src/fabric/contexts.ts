/**
 * Every requester ID a function's DMA may carry at the IOMMU — its own, its DMA aliases
 * (Linux `pci_for_each_dma_alias`) and its phantom functions — for trusted software that
 * must give each one the same translation (Linux `domain_context_mapping`, Xen's
 * `phantom_stride` loop in xen/drivers/passthrough/pci.c).
 */
import type { Fabric } from './model.ts';
import { dmaAliases, phantomRequesterIds } from './aliases.ts';

/** `own` first, then the aliases, then the phantom functions, each once. */
export function deviceRequesterIds(fabric: Fabric, key: string, own: number): number[] {
  const fn = fabric.functions[key];
  const phantoms = fn === undefined ? [] : phantomRequesterIds(fn);
  return [...new Set([own, ...dmaAliases(fabric, key).map((x) => x.rid), ...phantoms])];
}
