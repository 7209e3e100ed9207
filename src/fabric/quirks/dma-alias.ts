/**
 * Linux's DMA-alias quirks as data: devices that issue DMA with a requester ID other than
 * their own, bridges that alias differently from what their header says, and bridges at
 * which the translation unit sits.
 *
 * Every row is one `DECLARE_PCI_FIXUP_*` line of Linux drivers/pci/quirks.c (read at
 * v6.x, the section after `pci_dev_specific_reset`, and the Switchtec/PLX NTB section near
 * the end of the file), with the device names of the Linux comment. The rule kinds are the
 * effects of the quirk functions:
 *
 * - `func0` — `quirk_dma_func0_alias`: `pci_add_dma_alias(dev, PCI_DEVFN(PCI_SLOT(devfn), 0), 1)`
 *   when `PCI_FUNC(devfn) != 0`: DMA from any function also carries function 0's ID.
 * - `func1` — `quirk_dma_func1_alias`: the same with function 1, when `PCI_FUNC(devfn) != 1`.
 * - `fixed` — `quirk_fixed_dma_alias` (table `fixed_dma_alias_tbl`), `quirk_mic_x200_dma_alias`,
 *   `quirk_pex_vca_alias`, `quirk_plx_ntb_dma_alias`: fixed devfns on the device's own bus,
 *   independent of its own devfn.
 * - `pcie-bridge-alias` — `quirk_use_pcie_bridge_dma_alias` sets `PCI_DEV_FLAG_PCIE_BRIDGE_ALIAS`
 *   on a conventional bridge that is really a PCIe-to-PCI bridge without a PCIe capability,
 *   so `pci_for_each_dma_alias` aliases it as (secondary, 00.0). Linux only sets the flag when
 *   the bridge is not on a root bus, has a type-1 header, is not PCIe, and its upstream bridge
 *   is PCIe and not itself a PCIe-to-PCI bridge — {@link pcieBridgeAliasApplies}.
 * - `xlate-root` — `quirk_bridge_cavm_thrx2_pcie_root` sets `PCI_DEV_FLAGS_BRIDGE_XLATE_ROOT`:
 *   the IOMMU is associated with this bridge, `pci_for_each_dma_alias` stops there.
 * - `pci-bridge-no-alias` — `quirk_aspeed_pci_bridge_no_aliases` sets
 *   `PCI_DEV_FLAGS_PCI_BRIDGE_NO_ALIAS(ES)`: a PCIe-to-PCI bridge that forwards the
 *   downstream requester IDs unchanged (added to Linux in 2025/26 for the ASPEED AST1150;
 *   `pci_for_each_dma_alias` skips the (secondary, 00.0) alias for it). Not one of the
 *   kinds the first design listed; kept because it is a DMA-alias quirk row of Linux.
 * - `ntb-proxy-ids` — `quirk_switchtec_ntb_dma_alias`: the aliases are the devfns of the
 *   NTB's requester-ID tables, read from BAR 0 at enumeration; a topology description
 *   cannot know them, so this rule adds nothing by itself (list the proxy devfns in
 *   `FunctionDescription.dmaAliases`).
 *
 * Not here: AMD IOMMU `setup_aliases` (drivers/iommu/amd/iommu.c) also calls
 * `pci_add_dma_alias`, with the IVRS table's alias — firmware data, not a device quirk.
 */
import type { FabricFunction, Fabric } from '../model.ts';
import { PCIE_TYPES } from '../model.ts';

export type DmaAliasRule =
  | { readonly kind: 'func0' }
  | { readonly kind: 'func1' }
  | { readonly kind: 'fixed'; readonly devfns: readonly number[] }
  | { readonly kind: 'pcie-bridge-alias' }
  | { readonly kind: 'xlate-root' }
  | { readonly kind: 'pci-bridge-no-alias' }
  | { readonly kind: 'ntb-proxy-ids' };

export interface DmaAliasQuirk {
  readonly vendor: number;
  readonly device: number | 'any';
  /**
   * Class code without the programming interface (base class and sub-class, i.e. the
   * 24-bit class code >> 8), as `DECLARE_PCI_FIXUP_CLASS_*(…, class, 8, …)` matches it.
   */
  readonly class?: number;
  /** Subsystem vendor/device IDs, for rows Linux matches with `PCI_DEVICE_SUB`. */
  readonly subsystem?: { readonly vendor: number; readonly device: number };
  readonly rule: DmaAliasRule;
  /** The device, as the Linux comment names it. */
  readonly name: string;
  /** File and function (and bug link) the row comes from. */
  readonly source: string;
}

/** Linux `PCI_DEVFN(slot, fn)`. */
const devfn = (slot: number, fn: number): number => ((slot & 0x1f) << 3) | (fn & 7);

// Vendor IDs, as include/linux/pci_ids.h defines them.
const RICOH = 0x1180; // PCI_VENDOR_ID_RICOH
const GLENFLY = 0x6766; // PCI_VENDOR_ID_GLENFLY
const MARVELL_EXT = 0x1b4b; // PCI_VENDOR_ID_MARVELL_EXT
const TTI = 0x1103; // PCI_VENDOR_ID_TTI (HighPoint)
const JMICRON = 0x197b; // PCI_VENDOR_ID_JMICRON
const LITEON = 0x1c28; // "0x1c28, /* Lite-On */"
const ADAPTEC2 = 0x9005; // PCI_VENDOR_ID_ADAPTEC2
const ASMEDIA = 0x1b21; // PCI_VENDOR_ID_ASMEDIA
const TUNDRA = 0x10e3; // literal 0x10e3 in quirks.c
const ITE = 0x1283; // literal 0x1283 in quirks.c
const INTEL = 0x8086; // PCI_VENDOR_ID_INTEL
const BROADCOM = 0x14e4; // PCI_VENDOR_ID_BROADCOM
const ASPEED = 0x1a03; // PCI_VENDOR_ID_ASPEED
const PLX = 0x10b5; // PCI_VENDOR_ID_PLX
const MICROSEMI = 0x11f8; // PCI_VENDOR_ID_MICROSEMI
const EFAR = 0x1055; // PCI_VENDOR_ID_EFAR (Switchtec PCI100x parts)
const PCI_CLASS_BRIDGE_OTHER = 0x0680; // pci_ids.h

const Q = 'Linux drivers/pci/quirks.c';
const FUNC0 = { kind: 'func0' } as const;
const FUNC1 = { kind: 'func1' } as const;
const PCIE_ALIAS = { kind: 'pcie-bridge-alias' } as const;
const XLATE_ROOT = { kind: 'xlate-root' } as const;
const NTB_PROXY = { kind: 'ntb-proxy-ids' } as const;

const func0 = (vendor: number, device: number, name: string, source: string): DmaAliasQuirk => ({ vendor, device, rule: FUNC0, name, source: `${Q} quirk_dma_func0_alias; ${source}` });
const func1 = (vendor: number, device: number, name: string, source: string): DmaAliasQuirk => ({ vendor, device, rule: FUNC1, name, source: `${Q} quirk_dma_func1_alias; ${source}` });
const pcieAlias = (vendor: number, device: number, name: string, source: string): DmaAliasQuirk => ({ vendor, device, rule: PCIE_ALIAS, name, source: `${Q} quirk_use_pcie_bridge_dma_alias; ${source}` });
const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

/**
 * Intel VCA: `for (slot = 0; slot < 0x20; slot++) pci_add_dma_alias(pdev, PCI_DEVFN(slot, 0), 5)`,
 * i.e. functions 0..4 of every slot ("four for DMA channels and one additional").
 */
const VCA_DEVFNS: readonly number[] = range(0, 0x20).flatMap((slot) => range(devfn(slot, 0), 5));
const vca = (device: number): DmaAliasQuirk => ({
  vendor: INTEL,
  device,
  rule: { kind: 'fixed', devfns: VCA_DEVFNS },
  name: 'Intel Visual Compute Accelerator (VCA)',
  source: `${Q} quirk_pex_vca_alias: "All possible slot numbers (0x20) are used, since we are unable to tell what slot is used on other side"`,
});

/** MIC x200 NTB: `PCI_DEVFN(0x10, 0x0)` = 0x80, `PCI_DEVFN(0x11, 0x0)` = 0x88, `PCI_DEVFN(0x12, 0x3)` = 0x93 ("match RIT-LUT table programmed in the EEPROM"). */
const MIC_X200_DEVFNS: readonly number[] = [devfn(0x10, 0), devfn(0x11, 0), devfn(0x12, 3)];

const switchtec = (vendor: number, device: number, name: string): DmaAliasQuirk => ({
  vendor,
  device,
  class: PCI_CLASS_BRIDGE_OTHER,
  rule: NTB_PROXY,
  name: `Switchtec ${name}`,
  source: `${Q} quirk_switchtec_ntb_dma_alias (${vendor === EFAR ? 'SWITCHTEC_PCI100X_QUIRK' : 'SWITCHTEC_QUIRK'}, DECLARE_PCI_FIXUP_CLASS_FINAL PCI_CLASS_BRIDGE_OTHER)`,
});

/** Switchtec device IDs with the part names of the Linux comments (`SWITCHTEC_QUIRK(0x8531); /* PFX 24xG3 *\/` …). */
const SWITCHTEC_PARTS: ReadonlyArray<readonly [number, string]> = [
  [0x8531, 'PFX 24xG3'], [0x8532, 'PFX 32xG3'], [0x8533, 'PFX 48xG3'], [0x8534, 'PFX 64xG3'], [0x8535, 'PFX 80xG3'], [0x8536, 'PFX 96xG3'],
  [0x8541, 'PSX 24xG3'], [0x8542, 'PSX 32xG3'], [0x8543, 'PSX 48xG3'], [0x8544, 'PSX 64xG3'], [0x8545, 'PSX 80xG3'], [0x8546, 'PSX 96xG3'],
  [0x8551, 'PAX 24XG3'], [0x8552, 'PAX 32XG3'], [0x8553, 'PAX 48XG3'], [0x8554, 'PAX 64XG3'], [0x8555, 'PAX 80XG3'], [0x8556, 'PAX 96XG3'],
  [0x8561, 'PFXL 24XG3'], [0x8562, 'PFXL 32XG3'], [0x8563, 'PFXL 48XG3'], [0x8564, 'PFXL 64XG3'], [0x8565, 'PFXL 80XG3'], [0x8566, 'PFXL 96XG3'],
  [0x8571, 'PFXI 24XG3'], [0x8572, 'PFXI 32XG3'], [0x8573, 'PFXI 48XG3'], [0x8574, 'PFXI 64XG3'], [0x8575, 'PFXI 80XG3'], [0x8576, 'PFXI 96XG3'],
  [0x4000, 'PFX 100XG4'], [0x4084, 'PFX 84XG4'], [0x4068, 'PFX 68XG4'], [0x4052, 'PFX 52XG4'], [0x4036, 'PFX 36XG4'], [0x4028, 'PFX 28XG4'],
  [0x4100, 'PSX 100XG4'], [0x4184, 'PSX 84XG4'], [0x4168, 'PSX 68XG4'], [0x4152, 'PSX 52XG4'], [0x4136, 'PSX 36XG4'], [0x4128, 'PSX 28XG4'],
  [0x4200, 'PAX 100XG4'], [0x4284, 'PAX 84XG4'], [0x4268, 'PAX 68XG4'], [0x4252, 'PAX 52XG4'], [0x4236, 'PAX 36XG4'], [0x4228, 'PAX 28XG4'],
  [0x4352, 'PFXA 52XG4'], [0x4336, 'PFXA 36XG4'], [0x4328, 'PFXA 28XG4'],
  [0x4452, 'PSXA 52XG4'], [0x4436, 'PSXA 36XG4'], [0x4428, 'PSXA 28XG4'],
  [0x4552, 'PAXA 52XG4'], [0x4536, 'PAXA 36XG4'], [0x4528, 'PAXA 28XG4'],
  [0x5000, 'PFX 100XG5'], [0x5084, 'PFX 84XG5'], [0x5068, 'PFX 68XG5'], [0x5052, 'PFX 52XG5'], [0x5036, 'PFX 36XG5'], [0x5028, 'PFX 28XG5'],
  [0x5100, 'PSX 100XG5'], [0x5184, 'PSX 84XG5'], [0x5168, 'PSX 68XG5'], [0x5152, 'PSX 52XG5'], [0x5136, 'PSX 36XG5'], [0x5128, 'PSX 28XG5'],
  [0x5200, 'PAX 100XG5'], [0x5284, 'PAX 84XG5'], [0x5268, 'PAX 68XG5'], [0x5252, 'PAX 52XG5'], [0x5236, 'PAX 36XG5'], [0x5228, 'PAX 28XG5'],
  [0x5300, 'PFXA 100XG5'], [0x5384, 'PFXA 84XG5'], [0x5368, 'PFXA 68XG5'], [0x5352, 'PFXA 52XG5'], [0x5336, 'PFXA 36XG5'], [0x5328, 'PFXA 28XG5'],
  [0x5400, 'PSXA 100XG5'], [0x5484, 'PSXA 84XG5'], [0x5468, 'PSXA 68XG5'], [0x5452, 'PSXA 52XG5'], [0x5436, 'PSXA 36XG5'], [0x5428, 'PSXA 28XG5'],
  [0x5500, 'PAXA 100XG5'], [0x5584, 'PAXA 84XG5'], [0x5568, 'PAXA 68XG5'], [0x5552, 'PAXA 52XG5'], [0x5536, 'PAXA 36XG5'], [0x5528, 'PAXA 28XG5'],
];
const SWITCHTEC_PCI100X_PARTS: ReadonlyArray<readonly [number, string]> = [
  [0x1001, 'PCI1001XG4'], [0x1002, 'PCI1002XG4'], [0x1003, 'PCI1003XG4'], [0x1004, 'PCI1004XG4'], [0x1005, 'PCI1005XG4'], [0x1006, 'PCI1006XG4'],
];

const BZ42679 = 'https://bugzilla.kernel.org/show_bug.cgi?id=42679';
const BZ44881 = 'https://bugzilla.kernel.org/show_bug.cgi?id=44881';

/** Every DMA-alias quirk row of Linux drivers/pci/quirks.c, in the file's order. */
export const DMA_ALIAS_QUIRKS: readonly DmaAliasQuirk[] = [
  // "Some Ricoh devices use function 0 as the PCIe requester ID for DMA." (https://bugzilla.redhat.com/show_bug.cgi?id=605888)
  func0(RICOH, 0xe832, 'Ricoh e832 ("Some Ricoh devices")', 'https://bugzilla.redhat.com/show_bug.cgi?id=605888'),
  func0(RICOH, 0xe476, 'Ricoh e476 ("Some Ricoh devices")', 'https://bugzilla.redhat.com/show_bug.cgi?id=605888'),
  // "Some Glenfly chips use function 0 as the PCIe Requester ID for DMA"
  func0(GLENFLY, 0x3d40, 'Glenfly 3d40 ("Some Glenfly chips")', 'comment "Some Glenfly chips use function 0 as the PCIe Requester ID for DMA"'),
  func0(GLENFLY, 0x3d41, 'Glenfly 3d41 ("Some Glenfly chips")', 'comment "Some Glenfly chips use function 0 as the PCIe Requester ID for DMA"'),
  // "Marvell 88SE9123 uses function 1 as the requester ID for DMA. In some SKUs function 1 is
  // present and is a legacy IDE controller, in other SKUs this function is not present,
  // making this a ghost requester." Linux names only the 88SE9123; the other rows carry a
  // bugzilla comment number (or none) and no name, so they are named by ID.
  func1(MARVELL_EXT, 0x9120, 'Marvell 9120', BZ42679),
  func1(MARVELL_EXT, 0x9123, 'Marvell 88SE9123', BZ42679),
  func1(MARVELL_EXT, 0x9125, 'Marvell 9125', `${BZ42679}#c136`),
  func1(MARVELL_EXT, 0x9128, 'Marvell 9128', BZ42679),
  func1(MARVELL_EXT, 0x9130, 'Marvell 9130', `${BZ42679}#c14`),
  func1(MARVELL_EXT, 0x9170, 'Marvell 9170', BZ42679),
  func1(MARVELL_EXT, 0x9172, 'Marvell 9172', `${BZ42679}#c47 + c57`),
  func1(MARVELL_EXT, 0x917a, 'Marvell 917a', `${BZ42679}#c59`),
  func1(MARVELL_EXT, 0x9182, 'Marvell 9182', `${BZ42679}#c78`),
  func1(MARVELL_EXT, 0x9183, 'Marvell 9183', `${BZ42679}#c134`),
  func1(MARVELL_EXT, 0x91a0, 'Marvell 91a0', `${BZ42679}#c46`),
  func1(MARVELL_EXT, 0x9215, 'Marvell 9215', `${BZ42679}#c135`),
  func1(MARVELL_EXT, 0x9220, 'Marvell 9220', `${BZ42679}#c127`),
  func1(MARVELL_EXT, 0x9230, 'Marvell 9230', `${BZ42679}#c49`),
  func1(MARVELL_EXT, 0x9235, 'Marvell 9235', BZ42679),
  func1(TTI, 0x0642, 'HighPoint (PCI_VENDOR_ID_TTI) 0642', BZ42679),
  func1(TTI, 0x0645, 'HighPoint (PCI_VENDOR_ID_TTI) 0645', BZ42679),
  func1(JMICRON, 0x2392, 'JMicron JMB388 ESD (PCI_DEVICE_ID_JMICRON_JMB388_ESD)', 'https://bugs.gentoo.org/show_bug.cgi?id=497630'),
  func1(LITEON, 0x0122, 'Lite-On Plextor M6E (Marvell 88SS9183)', `${BZ42679}#c117`),
  // fixed_dma_alias_tbl: "the Adaptec 3405 is a PCIe card with an Intel 80333 I/O processor
  // ... a private device at 01.0 appears to be the DMA engine, which therefore needs to
  // become a DMA alias for the device." Matched by subsystem (PCI_DEVICE_SUB).
  {
    vendor: ADAPTEC2,
    device: 0x0285,
    subsystem: { vendor: ADAPTEC2, device: 0x02bb },
    rule: { kind: 'fixed', devfns: [devfn(1, 0)] }, // PCI_DEVFN(1, 0) = 0x08
    name: 'Adaptec 3405',
    source: `${Q} quirk_fixed_dma_alias, fixed_dma_alias_tbl`,
  },
  {
    vendor: ADAPTEC2,
    device: 0x0285,
    subsystem: { vendor: ADAPTEC2, device: 0x02bc },
    rule: { kind: 'fixed', devfns: [devfn(1, 0)] }, // PCI_DEVFN(1, 0) = 0x08
    name: 'Adaptec 3805',
    source: `${Q} quirk_fixed_dma_alias, fixed_dma_alias_tbl`,
  },
  // "A few PCIe-to-PCI bridges fail to expose a PCIe capability, resulting in using the wrong
  // DMA alias for the device."
  pcieAlias(ASMEDIA, 0x1080, 'ASM1083/1085', `${BZ44881}#c46`),
  pcieAlias(TUNDRA, 0x8113, 'Tundra 8113', `${BZ44881}#c43`),
  pcieAlias(ITE, 0x8892, 'ITE 8892', 'https://bugzilla.kernel.org/show_bug.cgi?id=73551'),
  pcieAlias(ITE, 0x8893, 'ITE 8893', '"ITE 8893 has the same problem as the 8892"'),
  pcieAlias(INTEL, 0x244e, 'Intel 82801', `${BZ44881}#c49`),
  // "MIC x200 NTB forwards PCIe traffic using multiple alien RIDs."
  { vendor: INTEL, device: 0x2260, rule: { kind: 'fixed', devfns: MIC_X200_DEVFNS }, name: 'MIC x200 NTB', source: `${Q} quirk_mic_x200_dma_alias` },
  { vendor: INTEL, device: 0x2264, rule: { kind: 'fixed', devfns: MIC_X200_DEVFNS }, name: 'MIC x200 NTB', source: `${Q} quirk_mic_x200_dma_alias` },
  vca(0x2954),
  vca(0x2955),
  vca(0x2956),
  vca(0x2958),
  vca(0x2959),
  vca(0x295a),
  // "The IOMMU and interrupt controller on Broadcom Vulcan/Cavium ThunderX2 are associated not
  // at the root bus, but at a bridge below. This quirk avoids generating invalid DMA aliases."
  { vendor: BROADCOM, device: 0x9000, rule: XLATE_ROOT, name: 'Broadcom Vulcan/Cavium ThunderX2', source: `${Q} quirk_bridge_cavm_thrx2_pcie_root (PCI_DEV_FLAGS_BRIDGE_XLATE_ROOT)` },
  { vendor: BROADCOM, device: 0x9084, rule: XLATE_ROOT, name: 'Broadcom Vulcan/Cavium ThunderX2', source: `${Q} quirk_bridge_cavm_thrx2_pcie_root (PCI_DEV_FLAGS_BRIDGE_XLATE_ROOT)` },
  // "AST1150 doesn't use a real PCI bus and always forwards the requester ID from downstream devices."
  {
    vendor: ASPEED,
    device: 0x1150,
    rule: { kind: 'pci-bridge-no-alias' },
    name: 'ASPEED AST1150',
    source: `${Q} quirk_aspeed_pci_bridge_no_aliases (PCI_DEV_FLAGS_PCI_BRIDGE_NO_ALIAS; Linux patch "PCI: Add ASPEED AST1150 no-alias quirk", N. Das, Dec 2025, with the check in drivers/pci/search.c)`,
  },
  // "Microsemi Switchtec NTB uses devfn proxy IDs to move TLPs between NT endpoints ... all
  // proxy IDs must be aliased to the NTB device" — read from the device at enumeration.
  ...SWITCHTEC_PARTS.map(([d, n]) => switchtec(MICROSEMI, d, n)),
  ...SWITCHTEC_PCI100X_PARTS.map(([d, n]) => switchtec(EFAR, d, n)),
  // "The PLX NTB uses devfn proxy IDs ... Alias all possible IDs to the NTB" — pci_add_dma_alias(pdev, 0, 256)
  { vendor: PLX, device: 0x87b0, rule: { kind: 'fixed', devfns: range(0, 256) }, name: 'PLX NTB', source: `${Q} quirk_plx_ntb_dma_alias ("PLX NTB may use all 256 devfns")` },
  { vendor: PLX, device: 0x87b1, rule: { kind: 'fixed', devfns: range(0, 256) }, name: 'PLX NTB', source: `${Q} quirk_plx_ntb_dma_alias ("PLX NTB may use all 256 devfns")` },
];

const byId = new Map<string, DmaAliasQuirk[]>();
for (const row of DMA_ALIAS_QUIRKS) {
  const k = `${row.vendor}:${row.device}`;
  const list = byId.get(k);
  if (list) list.push(row);
  else byId.set(k, [row]);
}
const NONE: readonly DmaAliasQuirk[] = [];

/**
 * The rows that apply to a function with these IDs. `classCode` is the 24-bit class code
 * (base class, sub-class, programming interface); rows with a `class` or `subsystem`
 * match only when the caller gives it and it is equal, as Linux requires.
 */
export function dmaAliasQuirks(vendorId: number | undefined, deviceId: number | undefined, classCode?: number, subsystem?: { readonly vendor: number; readonly device: number }): readonly DmaAliasQuirk[] {
  if (vendorId === undefined || deviceId === undefined) return NONE;
  const exact = byId.get(`${vendorId}:${deviceId}`);
  const any = byId.get(`${vendorId}:any`);
  if (!exact && !any) return NONE;
  const rows = [...(exact ?? NONE), ...(any ?? NONE)];
  return rows.filter(
    (r) =>
      (r.class === undefined || (classCode !== undefined && classCode >>> 8 === r.class)) &&
      (r.subsystem === undefined || (subsystem !== undefined && subsystem.vendor === r.subsystem.vendor && subsystem.device === r.subsystem.device)),
  );
}

/**
 * The `dma_alias_mask` devfns these rows give a function at `devfn` (ascending, no
 * duplicates): `func0` adds PCI_DEVFN(slot, 0) unless the function is function 0,
 * `func1` PCI_DEVFN(slot, 1) unless it is function 1, `fixed` its devfns.
 */
export function quirkAliasDevfns(rows: readonly DmaAliasQuirk[], ownDevfn: number): number[] {
  const set = new Set<number>();
  const slot = ownDevfn >> 3;
  for (const { rule } of rows) {
    if (rule.kind === 'func0' && (ownDevfn & 7) !== 0) set.add(devfn(slot, 0));
    else if (rule.kind === 'func1' && (ownDevfn & 7) !== 1) set.add(devfn(slot, 1));
    else if (rule.kind === 'fixed') for (const d of rule.devfns) set.add(d);
  }
  return [...set].sort((a, b) => a - b);
}

function hasRule(fn: FabricFunction, kind: DmaAliasRule['kind']): boolean {
  for (const r of dmaAliasQuirks(fn.vendorId, fn.deviceId)) if (r.rule.kind === kind) return true;
  return false;
}

/** `PCI_DEV_FLAGS_BRIDGE_XLATE_ROOT` (quirk_bridge_cavm_thrx2_pcie_root): alias iteration stops at this bridge. */
export function isXlateRoot(fn: FabricFunction): boolean {
  return hasRule(fn, 'xlate-root');
}

/** `PCI_DEV_FLAGS_PCI_BRIDGE_NO_ALIAS` (quirk_aspeed_pci_bridge_no_aliases): this PCIe-to-PCI bridge keeps downstream requester IDs. */
export function isPciBridgeNoAlias(fn: FabricFunction): boolean {
  return fn.kind === 'pcie-to-pci-bridge' && hasRule(fn, 'pci-bridge-no-alias');
}

/**
 * Whether Linux sets `PCI_DEV_FLAG_PCIE_BRIDGE_ALIAS` on this function
 * (quirk_use_pcie_bridge_dma_alias): it has a `pcie-bridge-alias` row, is not on a root
 * bus, has a type-1 header without a PCIe capability (kind `pci-bridge`), and the bridge
 * above it is PCIe but not a PCIe-to-PCI bridge.
 */
export function pcieBridgeAliasApplies(fabric: Fabric, fn: FabricFunction): boolean {
  if (fn.kind !== 'pci-bridge' || fn.parent === undefined || !hasRule(fn, 'pcie-bridge-alias')) return false;
  const up = fabric.functions[fn.parent];
  return up !== undefined && up.kind in PCIE_TYPES && up.kind !== 'pcie-to-pci-bridge';
}
