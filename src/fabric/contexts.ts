/**
 * Every requester ID a function's DMA may carry at the IOMMU — its own, its DMA aliases
 * (Linux `pci_for_each_dma_alias`) and its phantom functions — for trusted software that
 * must give each one the same translation (Linux `domain_context_mapping`, Xen's
 * `phantom_stride` loop in xen/drivers/passthrough/pci.c).
 */
import type { Fabric } from './model.ts';
import { dmaAliases, phantomRequesterIds } from './aliases.ts';

/**
 * `own` first, then the aliases, then the phantom functions, each once (`contexts: 'own'`:
 * the first only — the XSA-449 class of bug, phantom functions left out). A function whose DMA
 * another carries (`dmaDevice`, VMD) reaches the IOMMU only as that function's aliases
 * (src/fabric/routing.ts), as Linux's `pci_for_each_dma_alias` starts from `pci_real_dma_dev`:
 * its own BDF and phantom functions (of another segment) are left out, lest a context entry be
 * written for a requester ID of the carrier's segment that another function owns.
 */
export function deviceRequesterIds(fabric: Fabric, key: string, own: number, contexts: 'all' | 'own' = 'all'): number[] {
  // `own`: only the first, the requester ID the function's ordinary requests arrive with.
  if (contexts === 'own') return deviceRequesterIds(fabric, key, own).slice(0, 1);
  const fn = Object.hasOwn(fabric.functions, key) ? fabric.functions[key] : undefined;
  // A function the fabric does not hold: alone on a root bus, its BDF only.
  if (fn === undefined) return [own];
  if (fn.dmaDevice !== undefined && fn.dmaDevice !== fn.key) return [...new Set(dmaAliases(fabric, key).map((x) => x.rid))];
  return [...new Set([own, ...dmaAliases(fabric, key).map((x) => x.rid), ...phantomRequesterIds(fn)])];
}
