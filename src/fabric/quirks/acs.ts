/**
 * Device-specific ACS: the functions that do not expose (or expose wrongly) a PCIe ACS
 * capability but isolate peer-to-peer traffic anyway, as data.
 *
 * Source: Linux drivers/pci/quirks.c, the `pci_dev_acs_enabled[]` table walked by
 * `pci_dev_specific_acs_enabled()`, and the quirk function each row names (read in
 * linux-next at commit 26f71eab75e2 and in a 6.18 tree, 11c8cf7a814e; the two tables are
 * identical except for the two QCOM rows marked "linux-next"). Facts are carried over, not
 * code: each row is `{ vendor, device, rule }`, the rule a small description of what the
 * quirk function computes.
 *
 * How the table is walked (`pci_dev_specific_acs_enabled`): rows in order; a row matches when
 * its vendor and device equal the function's (`'any'` is `PCI_ANY_ID`); the first matching
 * row whose rule *applies* decides (returns 0 or 1); a rule that does not apply (the quirk
 * function returned -ENOTTY / -ENODEV) lets the walk go on; no deciding row means "no
 * quirk", and `pci_acs_enabled` falls back to the standard rules (see ../acs.ts).
 *
 * Every rule is "the device behaves as if these ACS controls are enabled" in Linux's
 * `pci_acs_ctrl_enabled(acs_ctrl_req, acs_ctrl_ena)` form: enabled iff
 * `(req & ena) === req`, i.e. `(req & ~ena) === 0`, after the quirk's own filtering of the
 * requested flags (`mask`). Conditions on the device (PCIe type, multi-function, root bus,
 * device-id ranges) are data too.
 */
import { ACS_BITS, type PcieType } from '../model.ts';

const { SV, TB, RR, CR, UF, EC, DT } = ACS_BITS;

/** SV | RR | CR | UF: what most "isolated root port" quirks claim (the same set as `REQ_ACS_FLAGS`). */
const ISOLATED = SV | RR | CR | UF;

/** Device IDs: single IDs and inclusive ranges (C `case a ... b:`). */
export type DeviceIdSet = readonly (number | readonly [number, number])[];

/** Conditions a quirk function tests on the device before computing its answer. All given conditions must hold. */
export interface AcsQuirkMatch {
  /** `pci_is_pcie(dev)` and `pci_pcie_type(dev)` is one of these. */
  readonly pcieTypes?: readonly PcieType[];
  /** `dev->device` is in this set. */
  readonly deviceIds?: DeviceIdSet;
  /** `dev->multifunction` equals this. */
  readonly multifunction?: boolean;
  /** `pci_is_root_bus(dev->bus)` equals this. */
  readonly rootBus?: boolean;
}

/**
 * What a quirk function computes.
 *
 * - `flags`: when the device matches `when` (else: not applicable, the walk goes on) and
 *   `only` (else: the quirk answers "not enabled", returns 0), the answer is
 *   `pci_acs_ctrl_enabled(acs_flags & mask, flags)`: every requested control (after `mask`,
 *   default all) is among `flags`.
 * - `registers`: the device has the standard ACS capability but its control register sits at
 *   another offset (Intel Sunrise Point and successors, `INTEL_SPT_ACS_CTRL`); when `when`
 *   holds and the device has an ACS capability (else: not applicable), the answer is
 *   `pci_acs_flags_enabled` computed on the capability and on the real control register, which
 *   the enable quirk (`pci_quirk_enable_intel_spt_pch_acs`) has set to include
 *   `cap & enabledByQuirk`.
 */
export type AcsQuirkRule =
  | {
      readonly kind: 'flags';
      readonly flags: number;
      readonly mask?: number;
      readonly when?: AcsQuirkMatch;
      readonly only?: AcsQuirkMatch;
    }
  | {
      readonly kind: 'registers';
      readonly when: AcsQuirkMatch;
      readonly enabledByQuirk: number;
    };

/** One row of `pci_dev_acs_enabled[]`. */
export interface AcsQuirk {
  readonly vendor: number;
  readonly device: number | 'any';
  readonly rule: AcsQuirkRule;
  /** Linux file and quirk function, and the devices the row is for. */
  readonly source: string;
  /** What the model takes for granted where Linux consults state this model does not hold. */
  readonly assumes?: string;
}

// Vendor IDs (include/linux/pci_ids.h).
const ATI = 0x1002;
const AMD = 0x1022;
const SOLARFLARE = 0x1924;
const INTEL = 0x8086;
const QCOM = 0x17cb;
const HXT = 0x1dbf;
const CAVIUM = 0x177d;
const AMCC = 0x10e8;
const AMPERE = 0x1def;
const BROADCOM = 0x14e4;
const LOONGSON = 0x0014;
const AMAZON_ANNAPURNA_LABS = 0x1c36;
const ZHAOXIN = 0x1d17;
const NXP = 0x1957;
const WANGXUN = 0x8088;
const EMULEX_BE3R = 0x19a2; // vendor as written in the row: 0x19a2 (ServerEngines / Emulex)
const EMULEX = 0x10df;

const Q = 'drivers/pci/quirks.c';

// ---- The quirk functions, as rules ------------------------------------------------------

/**
 * pci_quirk_amd_sb_acs: multifunction devices on the root bus of an AMD southbridge, only when
 * an IVRS table (AMD IOMMU) exists; filters the request to RR|CR|EC|DT, then claims RR|CR
 * ("all transactions are redirected to the upstream root complex"). Returns -ENODEV otherwise.
 */
const AMD_SB: AcsQuirkRule = { kind: 'flags', flags: RR | CR, mask: RR | CR | EC | DT, when: { multifunction: true, rootBus: true } };
const AMD_SB_ASSUMES = 'an ACPI IVRS table exists (AMD IOMMU present): groups are only computed under an IOMMU, and these southbridges are only found on AMD platforms';

/** pci_quirk_mf_endpoint_acs: "verified by the vendor to not perform peer-to-peer with other functions": SV|TB|RR|CR|UF|DT. */
const MF_ENDPOINT: AcsQuirkRule = { kind: 'flags', flags: SV | TB | RR | CR | UF | DT };

/** pci_quirk_rciep_acs: Intel RCiEPs may peer-to-peer only on translated addresses (VT-d r3.1 §3.16): SV|RR|CR|UF; -ENOTTY for other types. */
const INTEL_RCIEP: AcsQuirkRule = { kind: 'flags', flags: ISOLATED, when: { pcieTypes: ['rc-integrated-endpoint'] } };

/** pci_quirk_qcom_rp_acs: QCOM root ports (each its own root complex / segment): SV|RR|CR|UF. */
const QCOM_RP: AcsQuirkRule = { kind: 'flags', flags: ISOLATED };

/** pci_quirk_intel_pch_acs_ids[]: Intel PCH root ports with ACS-like features but no ACS capability (Red Hat bugzilla 1037684). */
export const INTEL_PCH_ACS_IDS: readonly number[] = [
  // Ibexpeak PCH
  0x3b42, 0x3b43, 0x3b44, 0x3b45, 0x3b46, 0x3b47, 0x3b48, 0x3b49, 0x3b4a, 0x3b4b, 0x3b4c, 0x3b4d, 0x3b4e, 0x3b4f, 0x3b50, 0x3b51,
  // Cougarpoint PCH
  0x1c10, 0x1c11, 0x1c12, 0x1c13, 0x1c14, 0x1c15, 0x1c16, 0x1c17, 0x1c18, 0x1c19, 0x1c1a, 0x1c1b, 0x1c1c, 0x1c1d, 0x1c1e, 0x1c1f,
  // Pantherpoint PCH
  0x1e10, 0x1e11, 0x1e12, 0x1e13, 0x1e14, 0x1e15, 0x1e16, 0x1e17, 0x1e18, 0x1e19, 0x1e1a, 0x1e1b, 0x1e1c, 0x1e1d, 0x1e1e, 0x1e1f,
  // Lynxpoint-H PCH
  0x8c10, 0x8c11, 0x8c12, 0x8c13, 0x8c14, 0x8c15, 0x8c16, 0x8c17, 0x8c18, 0x8c19, 0x8c1a, 0x8c1b, 0x8c1c, 0x8c1d, 0x8c1e, 0x8c1f,
  // Lynxpoint-LP PCH
  0x9c10, 0x9c11, 0x9c12, 0x9c13, 0x9c14, 0x9c15, 0x9c16, 0x9c17, 0x9c18, 0x9c19, 0x9c1a, 0x9c1b,
  // Wildcat PCH
  0x9c90, 0x9c91, 0x9c92, 0x9c93, 0x9c94, 0x9c95, 0x9c96, 0x9c97, 0x9c98, 0x9c99, 0x9c9a, 0x9c9b,
  // Patsburg (X79) PCH
  0x1d10, 0x1d12, 0x1d14, 0x1d16, 0x1d18, 0x1d1a, 0x1d1c, 0x1d1e,
  // Wellsburg (X99) PCH
  0x8d10, 0x8d11, 0x8d12, 0x8d13, 0x8d14, 0x8d15, 0x8d16, 0x8d17, 0x8d18, 0x8d19, 0x8d1a, 0x8d1b, 0x8d1c, 0x8d1d, 0x8d1e,
  // Lynx Point (9 series) PCH
  0x8c90, 0x8c92, 0x8c94, 0x8c96, 0x8c98, 0x8c9a, 0x8c9c, 0x8c9e,
];

/**
 * pci_quirk_intel_pch_acs: root ports in {@link INTEL_PCH_ACS_IDS} (pci_quirk_intel_pch_acs_match,
 * -ENOTTY otherwise) claim SV|RR|CR|UF when PCI_DEV_FLAGS_ACS_ENABLED_QUIRK is set, nothing
 * (`pci_acs_ctrl_enabled(acs_flags, 0)`) when not.
 */
const INTEL_PCH: AcsQuirkRule = { kind: 'flags', flags: ISOLATED, when: { pcieTypes: ['root-port'], deviceIds: INTEL_PCH_ACS_IDS } };
const INTEL_PCH_ASSUMES =
  'PCI_DEV_FLAGS_ACS_ENABLED_QUIRK is set: the IOMMU driver requested ACS (pci_request_acs) and pci_quirk_enable_intel_pch_acs succeeded (RCBA enabled in the LPC bridge 00:1f.0, UPDCR peer decodes disabled, MPC IRBNCE set)';

/** pci_quirk_intel_spt_pch_acs_match: Sunrise Point, Union Point and 7th/8th Gen mobile PCH root ports. */
export const INTEL_SPT_PCH_ACS_IDS: DeviceIdSet = [
  [0xa110, 0xa11f],
  [0xa167, 0xa16a], // Sunrise Point
  [0xa290, 0xa29f],
  [0xa2e7, 0xa2ee], // Union Point
  [0x9d10, 0x9d1b], // 7th & 8th Gen Mobile
];

/**
 * pci_quirk_intel_spt_pch_acs: the ACS capability and control registers are dwords, control at
 * offset 8 (INTEL_SPT_ACS_CTRL) instead of 6; Linux reads them there: acs_flags &= (cap | EC),
 * then pci_acs_ctrl_enabled(acs_flags, ctrl). -ENOTTY without an ACS capability.
 */
const INTEL_SPT_PCH: AcsQuirkRule = { kind: 'registers', when: { pcieTypes: ['root-port'], deviceIds: INTEL_SPT_PCH_ACS_IDS }, enabledByQuirk: ISOLATED };
const INTEL_SPT_ASSUMES =
  'pci_quirk_enable_intel_spt_pch_acs ran (the IOMMU driver requested ACS): it sets cap & (SV|RR|CR|UF) in the real control register at offset 8, which lspci does not show ("N.B. This doesn\'t fix what lspci shows"), so the model\'s `acs.ctrl` is taken as the offset-6 word and the quirk-enabled bits are added';

/** pci_quirk_cavium_acs_match: ThunderX1 (0xa000..0xa7ff, 8 SoCs), ThunderX2 0xaf84, ThunderX3 0xb884 root ports. */
const CAVIUM_IDS: DeviceIdSet = [[0xa000, 0xa7ff], 0xaf84, 0xb884];
/** pci_quirk_cavium_acs: "the RTL internally implements similar protection as if ACS had SV, RR, CR and UF enabled". */
const CAVIUM_RP: AcsQuirkRule = { kind: 'flags', flags: ISOLATED, when: { pcieTypes: ['root-port'], deviceIds: CAVIUM_IDS } };

/** pci_quirk_xgene_acs: X-Gene (and Ampere) root ports "do not allow peer-to-peer transactions with others": SV|RR|CR|UF. */
const XGENE: AcsQuirkRule = { kind: 'flags', flags: ISOLATED };

/** pci_quirk_brcm_acs: iProc PAXB root ports do not allow peer-to-peer between root ports: SV|RR|CR|UF. */
const BRCM: AcsQuirkRule = { kind: 'flags', flags: ISOLATED };

/** pci_quirk_loongson_acs: Loongson root ports do not allow peer-to-peer between root ports: SV|RR|CR|UF. */
const LOONGSON_RP: AcsQuirkRule = { kind: 'flags', flags: ISOLATED };

/**
 * pci_quirk_al_acs: Annapurna Labs root ports (-ENOTTY for other types — Linux tests only
 * pci_pcie_type, which is 0 for a conventional function, so a non-PCIe function does not
 * match either): acs_flags &= ~(SV|RR|CR|UF); enabled iff nothing is left.
 */
const AL: AcsQuirkRule = { kind: 'flags', flags: ISOLATED, when: { pcieTypes: ['root-port'] } };

/** pci_quirk_nxp_rp_acs: NXP LX2xxx root ports, each in its own root complex / segment: SV|RR|CR|UF. */
const NXP_RP: AcsQuirkRule = { kind: 'flags', flags: ISOLATED };

/**
 * pci_quirk_zhaoxin_pcie_ports_acs: root ports and switch downstream ports (-ENOTTY for other
 * functions); SV|RR|CR|UF for device IDs 0x0710..0x071e, 0x0721, 0x0723..0x0752; every other
 * Zhaoxin port gets `false` (0), not -ENOTTY ("Future Zhaoxin Root Ports and Switch Downstream
 * Ports will implement ACS capability in accordance with the PCIe Spec").
 */
const ZHAOXIN_PORTS: AcsQuirkRule = {
  kind: 'flags',
  flags: ISOLATED,
  when: { pcieTypes: ['root-port', 'switch-downstream'] },
  only: { deviceIds: [[0x0710, 0x071e], 0x0721, [0x0723, 0x0752]] },
};

/**
 * pci_quirk_wangxun_nic_acs: SFxxx 1G (EM 0x0100..0x010f), RP1000/RP2000 10G (SP 0x1001,
 * 0x2001), FF5xxx 40G/25G/10G (AML 0x5010, 0x5025, 0x5040, 0x5110, 0x5125, 0x5140):
 * SV|RR|CR|UF; every other Wangxun function gets `false` (0).
 */
const WANGXUN_NIC: AcsQuirkRule = {
  kind: 'flags',
  flags: ISOLATED,
  only: { deviceIds: [[0x0100, 0x010f], 0x1001, 0x2001, 0x5010, 0x5025, 0x5040, 0x5110, 0x5125, 0x5140] },
};

// ---- The table, in Linux's order --------------------------------------------------------

const amdSb = (vendor: number, device: number, name: string): AcsQuirk => ({
  vendor,
  device,
  rule: AMD_SB,
  source: `${Q} pci_dev_acs_enabled[] → pci_quirk_amd_sb_acs; ${name}`,
  assumes: AMD_SB_ASSUMES,
});
const mf = (vendor: number, device: number, name: string): AcsQuirk => ({
  vendor,
  device,
  rule: MF_ENDPOINT,
  source: `${Q} pci_dev_acs_enabled[] → pci_quirk_mf_endpoint_acs; ${name}`,
});
const row = (vendor: number, device: number | 'any', rule: AcsQuirkRule, fn: string, name: string, assumes?: string): AcsQuirk =>
  assumes === undefined
    ? { vendor, device, rule, source: `${Q} pci_dev_acs_enabled[] → ${fn}; ${name}` }
    : { vendor, device, rule, source: `${Q} pci_dev_acs_enabled[] → ${fn}; ${name}`, assumes };

const IXGBE = 'Intel 82598/82599 10 GbE (ixgbe, drivers/net/ethernet/intel/ixgbe/ixgbe_type.h)';

/** Linux `pci_dev_acs_enabled[]`, row for row and in order. */
export const ACS_QUIRKS: readonly AcsQuirk[] = [
  amdSb(ATI, 0x4385, 'ATI 1002:4385 SBx00 SMBus Controller'),
  amdSb(ATI, 0x439c, 'ATI 1002:439c SB7x0/SB8x0/SB9x0 IDE Controller'),
  amdSb(ATI, 0x4383, 'ATI 1002:4383 SBx00 Azalia (Intel HDA)'),
  amdSb(ATI, 0x439d, 'ATI 1002:439d SB7x0/SB8x0/SB9x0 LPC host controller'),
  amdSb(ATI, 0x4384, 'ATI 1002:4384 SBx00 PCI to PCI Bridge'),
  amdSb(ATI, 0x4399, 'ATI 1002:4399 SB7x0/SB8x0/SB9x0 USB OHCI2 Controller'),
  amdSb(AMD, 0x780f, 'AMD 1022:780f FCH PCI Bridge'),
  amdSb(AMD, 0x7809, 'AMD 1022:7809 FCH USB OHCI Controller'),
  mf(SOLARFLARE, 0x0903, 'Solarflare 1924:0903'),
  mf(SOLARFLARE, 0x0923, 'Solarflare 1924:0923'),
  mf(SOLARFLARE, 0x0a03, 'Solarflare 1924:0a03'),
  mf(INTEL, 0x10c6, `${IXGBE}: 82598AF_DUAL_PORT`),
  mf(INTEL, 0x10db, `${IXGBE}: 82598EB_SFP_LOM`),
  mf(INTEL, 0x10dd, `${IXGBE}: 82598EB_CX4`),
  mf(INTEL, 0x10e1, `${IXGBE}: 82598_SR_DUAL_PORT_EM`),
  mf(INTEL, 0x10f1, `${IXGBE}: 82598_DA_DUAL_PORT`),
  mf(INTEL, 0x10f7, `${IXGBE}: 82599_KX4`),
  mf(INTEL, 0x10f8, `${IXGBE}: 82599_COMBO_BACKPLANE`),
  mf(INTEL, 0x10f9, `${IXGBE}: 82599_CX4`),
  mf(INTEL, 0x10fa, 'Intel 8086:10fa 10 GbE (no name in the table)'),
  mf(INTEL, 0x10fb, `${IXGBE}: 82599_SFP`),
  mf(INTEL, 0x10fc, `${IXGBE}: 82599_XAUI_LOM`),
  mf(INTEL, 0x1507, `${IXGBE}: 82599_SFP_EM`),
  mf(INTEL, 0x1514, `${IXGBE}: 82599_KX4_MEZZ`),
  mf(INTEL, 0x151c, `${IXGBE}: 82599_T3_LOM`),
  mf(INTEL, 0x1529, `${IXGBE}: 82599_SFP_FCOE`),
  mf(INTEL, 0x152a, `${IXGBE}: 82599_BACKPLANE_FCOE`),
  mf(INTEL, 0x154d, `${IXGBE}: 82599_SFP_SF2`),
  mf(INTEL, 0x154f, `${IXGBE}: 82599_LS`),
  mf(INTEL, 0x1551, 'Intel 8086:1551 10 GbE (no name in the table)'),
  mf(INTEL, 0x1558, `${IXGBE}: 82599_QSFP_SF_QP`),
  mf(INTEL, 0x1509, 'Intel 82580 (8086:1509)'),
  mf(INTEL, 0x150e, 'Intel 82580 (8086:150e)'),
  mf(INTEL, 0x150f, 'Intel 82580 (8086:150f)'),
  mf(INTEL, 0x1510, 'Intel 82580 (8086:1510)'),
  mf(INTEL, 0x1511, 'Intel 82580 (8086:1511)'),
  mf(INTEL, 0x1516, 'Intel 82580 (8086:1516)'),
  mf(INTEL, 0x1527, 'Intel 82580 (8086:1527)'),
  mf(INTEL, 0x10c9, 'Intel 82576 (8086:10c9)'),
  mf(INTEL, 0x10e6, 'Intel 82576 (8086:10e6)'),
  mf(INTEL, 0x10e7, 'Intel 82576 (8086:10e7)'),
  mf(INTEL, 0x10e8, 'Intel 82576 (8086:10e8)'),
  mf(INTEL, 0x150a, 'Intel 82576 (8086:150a)'),
  mf(INTEL, 0x150d, 'Intel 82576 (8086:150d)'),
  mf(INTEL, 0x1518, 'Intel 82576 (8086:1518)'),
  mf(INTEL, 0x1526, 'Intel 82576 (8086:1526)'),
  mf(INTEL, 0x10a7, 'Intel 82575 (8086:10a7)'),
  mf(INTEL, 0x10a9, 'Intel 82575 (8086:10a9)'),
  mf(INTEL, 0x10d6, 'Intel 82575 (8086:10d6)'),
  mf(INTEL, 0x1521, 'Intel I350 (8086:1521)'),
  mf(INTEL, 0x1522, 'Intel I350 (8086:1522)'),
  mf(INTEL, 0x1523, 'Intel I350 (8086:1523)'),
  mf(INTEL, 0x1524, 'Intel I350 (8086:1524)'),
  mf(INTEL, 0x105e, 'Intel 82571 (8086:105e; "Quads omitted due to non-ACS switch")'),
  mf(INTEL, 0x105f, 'Intel 82571 (8086:105f)'),
  mf(INTEL, 0x1060, 'Intel 82571 (8086:1060)'),
  mf(INTEL, 0x10d9, 'Intel 82571 (8086:10d9)'),
  mf(INTEL, 0x15b7, 'Intel I219 (8086:15b7)'),
  mf(INTEL, 0x15b8, 'Intel I219 (8086:15b8)'),
  row(INTEL, 'any', INTEL_RCIEP, 'pci_quirk_rciep_acs', 'every Intel Root Complex Integrated Endpoint'),
  row(QCOM, 0x0400, QCOM_RP, 'pci_quirk_qcom_rp_acs', 'QCOM QDF2xxx root port 17cb:0400'),
  row(QCOM, 0x0401, QCOM_RP, 'pci_quirk_qcom_rp_acs', 'QCOM QDF2xxx root port 17cb:0401'),
  row(QCOM, 0x0115, QCOM_RP, 'pci_quirk_qcom_rp_acs', 'QCOM SA8775P root port 17cb:0115'),
  row(QCOM, 0x0111, QCOM_RP, 'pci_quirk_qcom_rp_acs', 'QCOM Hamoa root port 17cb:0111 (linux-next)'),
  row(QCOM, 0x0120, QCOM_RP, 'pci_quirk_qcom_rp_acs', 'QCOM Glymur root port 17cb:0120 (linux-next)'),
  row(HXT, 0x0401, QCOM_RP, 'pci_quirk_qcom_rp_acs', 'HXT SD4800 root ports 1dbf:0401 ("same as QCOM QDF2xxx")'),
  row(INTEL, 'any', INTEL_PCH, 'pci_quirk_intel_pch_acs', 'Intel PCH root ports (Ibexpeak … Lynx Point 9 series, pci_quirk_intel_pch_acs_ids[])', INTEL_PCH_ASSUMES),
  row(INTEL, 'any', INTEL_SPT_PCH, 'pci_quirk_intel_spt_pch_acs', 'Intel Sunrise Point / Union Point / 7th-8th Gen mobile PCH root ports', INTEL_SPT_ASSUMES),
  row(EMULEX_BE3R, 0x0710, MF_ENDPOINT, 'pci_quirk_mf_endpoint_acs', 'Emulex BE3-R 19a2:0710'),
  row(EMULEX, 0x0720, MF_ENDPOINT, 'pci_quirk_mf_endpoint_acs', 'Emulex Skyhawk-R 10df:0720'),
  row(CAVIUM, 'any', CAVIUM_RP, 'pci_quirk_cavium_acs', 'Cavium ThunderX1/X2/X3 root ports'),
  row(CAVIUM, 0xa026, MF_ENDPOINT, 'pci_quirk_mf_endpoint_acs', 'Cavium multi-function device 177d:a026'),
  row(CAVIUM, 0xa059, MF_ENDPOINT, 'pci_quirk_mf_endpoint_acs', 'Cavium multi-function device 177d:a059'),
  row(CAVIUM, 0xa060, MF_ENDPOINT, 'pci_quirk_mf_endpoint_acs', 'Cavium multi-function device 177d:a060'),
  row(AMCC, 0xe004, XGENE, 'pci_quirk_xgene_acs', 'APM X-Gene root port 10e8:e004'),
  ...[0xe005, 0xe006, 0xe007, 0xe008, 0xe009, 0xe00a, 0xe00b, 0xe00c].map((d) =>
    row(AMPERE, d, XGENE, 'pci_quirk_xgene_acs', `Ampere Computing root port 1def:${d.toString(16)}`),
  ),
  ...[0x16d7, 0x1750, 0x1751, 0x1752, 0x1760, 0x1761, 0x1762, 0x1763].map((d) =>
    row(BROADCOM, d, MF_ENDPOINT, 'pci_quirk_mf_endpoint_acs', `Broadcom multi-function device 14e4:${d.toString(16)}`),
  ),
  row(BROADCOM, 0xd714, BRCM, 'pci_quirk_brcm_acs', 'Broadcom iProc PAXB root port 14e4:d714'),
  ...[0x3c09, 0x3c19, 0x3c29, 0x7a09, 0x7a19, 0x7a29, 0x7a39, 0x7a49, 0x7a59, 0x7a69].map((d) =>
    row(LOONGSON, d, LOONGSON_RP, 'pci_quirk_loongson_acs', `Loongson PCIe root port 0014:${d.toString(16)}`),
  ),
  row(AMAZON_ANNAPURNA_LABS, 0x0031, AL, 'pci_quirk_al_acs', 'Amazon Annapurna Labs root port 1c36:0031'),
  row(ZHAOXIN, 0x3038, MF_ENDPOINT, 'pci_quirk_mf_endpoint_acs', 'Zhaoxin multi-function device 1d17:3038'),
  row(ZHAOXIN, 0x3104, MF_ENDPOINT, 'pci_quirk_mf_endpoint_acs', 'Zhaoxin multi-function device 1d17:3104'),
  row(ZHAOXIN, 0x9083, MF_ENDPOINT, 'pci_quirk_mf_endpoint_acs', 'Zhaoxin multi-function device 1d17:9083'),
  ...(
    [
      [0x8d81, 'LX2xx0A (no security features, CAN-FD)'],
      [0x8da1, 'LX2xx0A (no security features, CAN-FD)'],
      [0x8d83, 'LX2xx0A (no security features, CAN-FD)'],
      [0x8d80, 'LX2xx0C (security features, CAN-FD)'],
      [0x8da0, 'LX2xx0C (security features, CAN-FD)'],
      [0x8d82, 'LX2xx0C (security features, CAN-FD)'],
      [0x8d90, 'LX2xx0E (security features, CAN)'],
      [0x8db0, 'LX2xx0E (security features, CAN)'],
      [0x8d92, 'LX2xx0E (security features, CAN)'],
      [0x8d91, 'LX2xx0N (no security features, CAN)'],
      [0x8db1, 'LX2xx0N (no security features, CAN)'],
      [0x8d93, 'LX2xx0N (no security features, CAN)'],
      [0x8d89, 'LX2xx2A (no security features, CAN-FD)'],
      [0x8da9, 'LX2xx2A (no security features, CAN-FD)'],
      [0x8d8b, 'LX2xx2A (no security features, CAN-FD)'],
      [0x8d88, 'LX2xx2C (security features, CAN-FD)'],
      [0x8da8, 'LX2xx2C (security features, CAN-FD)'],
      [0x8d8a, 'LX2xx2C (security features, CAN-FD)'],
      [0x8d98, 'LX2xx2E (security features, CAN)'],
      [0x8db8, 'LX2xx2E (security features, CAN)'],
      [0x8d9a, 'LX2xx2E (security features, CAN)'],
      [0x8d99, 'LX2xx2N (no security features, CAN)'],
      [0x8db9, 'LX2xx2N (no security features, CAN)'],
      [0x8d9b, 'LX2xx2N (no security features, CAN)'],
    ] as const
  ).map(([d, name]) => row(NXP, d, NXP_RP, 'pci_quirk_nxp_rp_acs', `NXP ${name} root port 1957:${d.toString(16)}`)),
  row(ZHAOXIN, 'any', ZHAOXIN_PORTS, 'pci_quirk_zhaoxin_pcie_ports_acs', 'Zhaoxin root ports and switch downstream ports'),
  row(WANGXUN, 'any', WANGXUN_NIC, 'pci_quirk_wangxun_nic_acs', 'Wangxun SFxxx / RP1000 / RP2000 / FF5xxx NICs'),
];
