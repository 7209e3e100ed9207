/**
 * The requester IDs a function's DMA may carry: the DMA aliases software must map
 * (Linux `pci_for_each_dma_alias`), the Phantom Function requester IDs, and what the
 * function itself may put on its link.
 *
 * Sources:
 * - Linux drivers/pci/search.c `pci_for_each_dma_alias`: start from `pci_real_dma_dev(pdev)`;
 *   call back its own ID, then each devfn of its `dma_alias_mask` on its own bus (ascending:
 *   `for_each_set_bit`), then walk `bus = pdev->bus` up to the root bus with
 *   `tmp = bus->self`: stop at a `PCI_DEV_FLAGS_BRIDGE_XLATE_ROOT` bridge ("stop at bridge
 *   where translation unit is associated"); a Root Port, Switch Upstream or Downstream Port
 *   adds nothing; a PCIe-to-PCI/PCI-X bridge (PCI_EXP_TYPE_PCI_BRIDGE) adds
 *   (subordinate bus number, devfn 0) — "PCIe-to-PCI/X bridges alias transactions from
 *   downstream devices using the subordinate bus number (PCI Express to PCI/PCI-X Bridge
 *   Spec, rev 1.0, sec 2.3)" — unless `PCI_DEV_FLAGS_PCI_BRIDGE_NO_ALIAS`; a PCI/PCI-X-to-PCIe
 *   bridge (PCI_EXP_TYPE_PCIE_BRIDGE) adds its own ID; a conventional bridge adds
 *   (subordinate, 0) with `PCI_DEV_FLAG_PCIE_BRIDGE_ALIAS`, else its own ID ("For all cases
 *   where the upstream bus is PCI/X we alias to the bridge"). (`tmp->subordinate->number`
 *   there is the number of the bus below the bridge: its secondary bus.)
 * - pci_real_dma_dev: drivers/pci/pci.c (weak, returns the device itself) and
 *   arch/x86/pci/common.c (a device on a VMD domain returns the VMD endpoint).
 * - Phantom Functions: PCIe 6.0 §7.5.3.3 (Device Capabilities, Phantom Functions Supported:
 *   01b "Functions 0, 1, 2 and 3 may optionally use Function numbers 4, 5, 6 and 7",
 *   10b "Function 0 may use 2, 4, 6; Function 1 may use 3, 5, 7", 11b "Function 0 may use
 *   1..7"), §7.5.3.4 (Phantom Functions Enable), §2.2.6.2 (the Function Number of the
 *   Requester ID then carries tag bits).
 */
import type { Fabric, FabricFunction } from './model.ts';
import { fabricFunction } from './build.ts';
import { isPciBridgeNoAlias, isXlateRoot, pcieBridgeAliasApplies } from './quirks/dma-alias.ts';
import { requesterIdAtRoot } from './routing.ts';

export interface DmaAlias {
  readonly rid: number;
  readonly segment: number;
  /** Key of the function yielding it (the `pdev` Linux passes to the callback). */
  readonly via: string;
  readonly reason: 'own' | 'dma-device' | 'quirk' | 'pcie-to-pci-bridge' | 'pci-to-pcie-bridge' | 'pci-bridge';
}

/** Linux `pci_real_dma_dev`: the function whose requester ID carries this one's DMA. */
export function realDmaFunction(fabric: Fabric, fn: FabricFunction): FabricFunction {
  return fn.dmaDevice === undefined ? fn : fabricFunction(fabric, fn.dmaDevice);
}

/**
 * The DMA aliases of a function, exactly as Linux `pci_for_each_dma_alias` calls its
 * callback: same order, and a requester ID reported twice is reported twice (a device at
 * 00.0 of a PCIe-to-PCI bridge's secondary bus is its own ID and the bridge's alias;
 * Linux's callers, e.g. `set_msi_sid_cb`, count such repeats).
 */
export function dmaAliases(fabric: Fabric, key: string): readonly DmaAlias[] {
  const self = fabricFunction(fabric, key);
  const dev = realDmaFunction(fabric, self);
  const out: DmaAlias[] = [{ rid: dev.rid, segment: dev.segment, via: dev.key, reason: dev === self ? 'own' : 'dma-device' }];
  const bus = dev.rid & 0xff00;
  for (const devfn of dev.dmaAliases) out.push({ rid: bus | devfn, segment: dev.segment, via: dev.key, reason: 'quirk' });
  for (let i = dev.path.length - 1; i >= 0; i--) {
    const tmp = fabricFunction(fabric, dev.path[i]!);
    if (isXlateRoot(tmp)) break;
    const secondaryAlias = ((tmp.bridge?.secondary ?? 0) & 0xff) << 8;
    switch (tmp.kind) {
      case 'pcie-to-pci-bridge':
        if (!isPciBridgeNoAlias(tmp)) out.push({ rid: secondaryAlias, segment: tmp.segment, via: tmp.key, reason: 'pcie-to-pci-bridge' });
        break;
      case 'pci-to-pcie-bridge':
        out.push({ rid: tmp.rid, segment: tmp.segment, via: tmp.key, reason: 'pci-to-pcie-bridge' });
        break;
      case 'pci-bridge':
        out.push({ rid: pcieBridgeAliasApplies(fabric, tmp) ? secondaryAlias : tmp.rid, segment: tmp.segment, via: tmp.key, reason: 'pci-bridge' });
        break;
      default:
        // Root Ports, Switch Upstream/Downstream Ports: the requester ID passes unchanged.
        break;
    }
  }
  return out;
}

/**
 * The Phantom Function requester IDs of a function: with Phantom Functions enabled and
 * n = supported bits, the same bus and device with function numbers
 * fn | (k << (3 - n)) for k = 1 .. 2^n - 1. Empty when not enabled.
 */
export function phantomRequesterIds(fn: FabricFunction): readonly number[] {
  const p = fn.phantom;
  if (p === undefined || !p.enabled || p.supported <= 0) return [];
  const n = Math.min(p.supported, 3);
  const out: number[] = [];
  for (let k = 1; k < 1 << n; k++) out.push((fn.rid & ~7) | ((fn.rid & 7) | (k << (3 - n))));
  return out;
}

/**
 * The requester IDs the function itself may put on its link: its own (its dmaDevice's
 * when set), its phantom function IDs, and the quirk alias devfns on its bus — own first,
 * each once.
 */
export function presentedRequesterIds(fabric: Fabric, key: string): readonly number[] {
  const fn = fabricFunction(fabric, key);
  const own = fn.dmaDevice === undefined ? fn.rid : fabricFunction(fabric, fn.dmaDevice).rid;
  const bus = fn.rid & 0xff00;
  return [...new Set([own, ...phantomRequesterIds(fn), ...fn.dmaAliases.map((devfn) => bus | devfn)])];
}

/**
 * The requester ID the IOMMU sees for the function's ordinary requests: its own (or its
 * dmaDevice's, from where that function is) as it reaches the root complex.
 */
export function defaultRequesterId(fabric: Fabric, key: string): number {
  const fn = realDmaFunction(fabric, fabricFunction(fabric, key));
  return requesterIdAtRoot(fabric, fn.key, fn.rid).rid;
}
