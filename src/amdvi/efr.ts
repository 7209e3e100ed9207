/**
 * AMD-Vi Extended Feature Register (EFR, MMIO offset 0x30, 64 bits, read-only) and Extended Feature
 * Register 2 (EFR2, MMIO 0x1A0), as data tables, plus the feature list Linux prints at boot.
 *
 * The same 64-bit images appear in IVHD types 11h/40h (bytes 24..31 "EFR Register Image"; bytes
 * 32..39, see `src/amdvi/ivrs/model.ts` `Ivhd.efr2Image`). Bit positions: AMD I/O Virtualization
 * Technology spec 48882 §3.4.12 as quoted by Linux `drivers/iommu/amd/amd_iommu_types.h`
 * (`FEATURE_*`), VirtualBox `include/VBox/iommu-amd.h` (`IOMMU_EXT_FEAT_BF_*`), Xen
 * `xen/drivers/passthrough/amd/iommu-defs.h` (`union amd_iommu_ext_features`) and openvmm
 * `vm/devices/iommu/amd_iommu/src/spec` (fact sheet /work/shared/reference/amdvi-facts.md §2.5).
 * Where the sources disagree the name we chose is given with the alternative in its comment.
 * Fields 60:57 (Xen VMTableSize, reserved elsewhere) are left reserved.
 */
import { defineLayout } from '../bits/layout.ts';

/** EFR bit layout (fact sheet §2.5). Every field is at most 5 bits, so it decodes to a `number`. */
export const EFR_LAYOUT = defineLayout({
  name: 'AMD-Vi EFR (MMIO 0x30)',
  width: 64,
  fields: {
    PreFSup: { hi: 0, lo: 0 },
    PPRSup: { hi: 1, lo: 1 },
    XTSup: { hi: 2, lo: 2 },
    NXSup: { hi: 3, lo: 3 },
    GTSup: { hi: 4, lo: 4 },
    /** Xen, openvmm: GAPPISup; Linux and VirtualBox: reserved (Linux prints "[5]"). */
    GAPPISup: { hi: 5, lo: 5 },
    IASup: { hi: 6, lo: 6 },
    GASup: { hi: 7, lo: 7 },
    HESup: { hi: 8, lo: 8 },
    PCSup: { hi: 9, lo: 9 },
    /** Host address translation size: 00/01/10 = 4/5/6 levels; 11 = Linux disables v1 tables. */
    HATS: { hi: 11, lo: 10 },
    /** Guest address translation size: 01 = Linux uses 5-level guest tables. */
    GATS: { hi: 13, lo: 12 },
    GLXSup: { hi: 15, lo: 14 },
    SmiFSup: { hi: 17, lo: 16 },
    SmiFRC: { hi: 20, lo: 18 },
    /** Guest APIC modes: 001 = vAPIC (Linux `FEATURE_GAM_VAPIC` is bit 21). */
    GAMSup: { hi: 23, lo: 21 },
    DualPprLogSup: { hi: 25, lo: 24 },
    DualEventLogSup: { hi: 29, lo: 28 },
    /** Xen, openvmm: SATSSup; VirtualBox: reserved. */
    SATSSup: { hi: 31, lo: 31 },
    /** Linux: max PASIDs = 2^(PASmax+1) − 1. */
    PASmax: { hi: 36, lo: 32 },
    USSup: { hi: 37, lo: 37 },
    /** 0/1/2/3 = 1/2/4/8 device-table segments. */
    DevTblSegSup: { hi: 39, lo: 38 },
    PprOvrflwEarlySup: { hi: 40, lo: 40 },
    PprAutoRspSup: { hi: 41, lo: 41 },
    MarcSup: { hi: 43, lo: 42 },
    BlkStopMrkSup: { hi: 44, lo: 44 },
    PerfOptSup: { hi: 45, lo: 45 },
    MsiCapMmioSup: { hi: 46, lo: 46 },
    /** openvmm: SnoopAttrSup; VirtualBox, Xen: reserved. */
    SnoopAttrSup: { hi: 47, lo: 47 },
    GIoSup: { hi: 48, lo: 48 },
    HASup: { hi: 49, lo: 49 },
    EPHSup: { hi: 50, lo: 50 },
    AttrFWSup: { hi: 51, lo: 51 },
    HDSup: { hi: 52, lo: 52 },
    /** openvmm: V2HDDisSup; others reserved. */
    V2HDDisSup: { hi: 53, lo: 53 },
    InvIotlbTypeSup: { hi: 54, lo: 54 },
    vIommuSup: { hi: 55, lo: 55 },
    /** Xen, openvmm. */
    VMGuardIOSup: { hi: 56, lo: 56 },
    /** VirtualBox, Xen: GAUpdateDisSup; openvmm: V2HADDisSup. */
    GAUpdateDisSup: { hi: 61, lo: 61 },
    /** VirtualBox, openvmm; reserved in Xen. */
    ForcePhyDestSup: { hi: 62, lo: 62 },
    /** Linux `FEATURE_SNP`, openvmm; reserved in VirtualBox. */
    SNPSup: { hi: 63, lo: 63 },
  },
  reserved: [
    { hi: 27, lo: 26 },
    { hi: 30, lo: 30 },
    { hi: 60, lo: 57 },
  ],
});

/** Decoded EFR fields. */
export type EfrFields = ReturnType<typeof EFR_LAYOUT.decode>;

/** EFR2 bit layout (MMIO 0x1A0; Linux `FEATURE_*` of EFR2 in amd_iommu_types.h, FreeBSD amd_reg.h; fact sheet §2.5). */
export const EFR2_LAYOUT = defineLayout({
  name: 'AMD-Vi EFR2 (MMIO 0x1A0)',
  width: 64,
  fields: {
    /** Linux prints " SEV-TIO". */
    SevTioSup: { hi: 1, lo: 1 },
    TMPMSup: { hi: 2, lo: 2 },
    GCR3TRPModeSup: { hi: 3, lo: 3 },
    GAPPIDisSup: { hi: 4, lo: 4 },
    /** 001 = interrupt remapping with guest vAPIC under SNP. */
    SNPAVICSup: { hi: 7, lo: 5 },
    /** 00 = 512 IRTEs per table, 01 = 2048 (Linux `iommu_enable_2k_int`). */
    NumIntRemapSup: { hi: 9, lo: 8 },
    HTRangeIgnore: { hi: 11, lo: 11 },
  },
});

/** Decode every EFR field. Never throws. */
export function decodeEfr(efr: bigint): EfrFields {
  return EFR_LAYOUT.decode(efr);
}

/**
 * Linux `print_iommu_info()` (drivers/iommu/amd/init.c) names EFR bits 0..9 from this array, in
 * order; bit 5 has no name there and is printed as "[5]".
 */
export const LINUX_FEAT_STR = ['PreF', 'PPR', 'X2APIC', 'NX', 'GT', '[5]', 'IA', 'GA', 'HE', 'PC'] as const;

/**
 * The feature names Linux prints after `AMD-Vi: Extended features (EFR, EFR2):`, space-separated
 * and without the leading space: the {@link LINUX_FEAT_STR} name of each set bit 0..9, then
 * "GA_vAPIC" when EFR bit 21 (`FEATURE_GAM_VAPIC`) is set, "SNP" for bit 63 (`FEATURE_SNP`) and
 * "SEV-TIO" for EFR2 bit 1 (newer kernels). Source: Linux `print_iommu_info()`.
 * Example: 0x58f77ef22294ade → "PPR X2APIC NX GT IA GA PC GA_vAPIC". Returns "" when none is set.
 * Never throws.
 */
export function efrFeatureNames(efr: bigint, efr2 = 0n): string {
  const out: string[] = [];
  LINUX_FEAT_STR.forEach((name, bit) => {
    if ((efr >> BigInt(bit)) & 1n) out.push(name);
  });
  if ((efr >> 21n) & 1n) out.push('GA_vAPIC');
  if ((efr >> 63n) & 1n) out.push('SNP');
  if ((efr2 >> 1n) & 1n) out.push('SEV-TIO');
  return out.join(' ');
}
