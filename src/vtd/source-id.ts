/**
 * How trusted software fills an IRTE's source-ID fields (SVT, SQ, SID; VT-d §9.10) for
 * a device whose requests may reach the IOMMU under an alias: Linux
 * drivers/iommu/intel/irq_remapping.c `set_msi_sid` / `set_msi_sid_cb` over
 * `pci_for_each_dma_alias`. The last alias decides:
 *
 * - an alias on another bus than the function that yields it (a PCIe-to-PCI bridge's
 *   secondary bus): verify the bus only, SVT=2 with the range [alias bus, device bus];
 * - two or more aliases all on one bus (NTB proxy IDs): SVT=2, that bus only;
 * - an alias yielded by a function on another bus than the device (a topology alias,
 *   e.g. a VMD controller carrying its domain's requests): SVT=1, SQ=0, SID = the alias;
 * - otherwise SVT=1, SQ=0, SID = the device. (The set_msi_sid comment calls this the
 *   quirk-alias case, but since Linux 3f0c625c6ae7 the device's own ID and a quirk alias
 *   on its bus count as two same-bus aliases and take the SVT=2 branch above; this one is
 *   reached with no alias at all, or a carrier on the device's own bus.)
 */
import type { DmaAlias } from '../fabric/aliases.ts';
import type { Fabric } from '../fabric/model.ts';

/** IRTE source validation: SVT (1 requester ID, 2 bus range), SQ, and SID (a requester ID, or start bus << 8 | end bus). */
export interface IrteSourceValidation {
  readonly svt: 1 | 2;
  readonly sq: number;
  readonly sid: number;
}

/** Bus-range SID encoding of SVT=2: start bus in SID[15:8], end bus in SID[7:0] (VT-d §9.10). */
const busRange = (start: number, end: number): IrteSourceValidation => ({ svt: 2, sq: 0, sid: ((start & 0xff) << 8) | (end & 0xff) });

/**
 * The source validation Linux programs for the function `rid` with DMA aliases
 * `aliases` (in `pci_for_each_dma_alias` order, as src/fabric/aliases.ts gives them).
 */
export function msiSourceValidation(fabric: Fabric, rid: number, aliases: readonly DmaAlias[]): IrteSourceValidation {
  const deviceBus = rid >> 8;
  const last = aliases[aliases.length - 1];
  if (last === undefined) return { svt: 1, sq: 0, sid: rid };
  const busOf = (key: string): number => (fabric.functions[key]?.rid ?? rid) >> 8;
  const aliasBus = last.rid >> 8;
  const busMatches = aliases.filter((a, i) => i === 0 || a.rid >> 8 === aliases[i - 1]!.rid >> 8).length;
  if (aliasBus !== busOf(last.via)) return busRange(aliasBus, deviceBus);
  if (aliases.length >= 2 && busMatches === aliases.length) return busRange(deviceBus, deviceBus);
  if (busOf(last.via) !== deviceBus) return { svt: 1, sq: 0, sid: last.rid };
  return { svt: 1, sq: 0, sid: rid };
}
