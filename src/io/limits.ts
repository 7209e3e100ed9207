/**
 * Input size limits, one place for all loaders (documented in docs/limits.md, issue 17). The
 * numbers are far above any real input and far below what makes a load take more than 2 s or
 * 500 MB: real scenarios are a few KiB, real DMAR/IVRS tables under 16 KiB (the .dsl ~100 KiB),
 * `lspci -vvv` of a large server ~1 MiB.
 */

/** Scenario YAML files (and counterexamples, which are scenarios), in bytes. */
export const MAX_SCENARIO_BYTES = 1024 * 1024;
/** DMAR or IVRS table files, raw or iasl text, in bytes. */
export const MAX_ACPI_TABLE_BYTES = 1024 * 1024;
/** lspci dumps (`lspci -vvv`, `-nnvvv`, `-D`), in bytes. */
export const MAX_LSPCI_BYTES = 8 * 1024 * 1024;
/** IOMMU group listings, in bytes. */
export const MAX_GROUP_LISTING_BYTES = 4 * 1024 * 1024;
/** The guest-support YAML table of `explore`, in bytes. */
export const MAX_GUEST_SUPPORT_BYTES = 1024 * 1024;
