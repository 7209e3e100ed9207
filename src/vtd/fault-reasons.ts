/**
 * VT-d fault reasons (the 8-bit FR field of a fault record), as one data table: interrupt-
 * remapping faults 0x20–0x29, legacy-mode DMA faults 0x01–0x0E and scalable-mode DMA faults
 * 0x30–0x91. Reference sheet §5.1–§5.3.
 *
 * `description` is Linux's message text (`drivers/iommu/intel/dmar.c`
 * `irq_remap_fault_reasons`, `dma_remap_fault_reasons`, `dma_remap_sm_fault_reasons`) where
 * Linux has one, otherwise the sheet's wording. `qualified` says whether FPD (IRTE.FPD for
 * interrupt faults, the context/PASID entry's FPD for DMA faults) suppresses recording:
 * interrupt faults follow the sheet (VirtualBox `vtdIrFaultIsQualified`); DMA faults follow
 * QEMU `hw/i386/intel_iommu.c` `vtd_qualified_faults`, and codes QEMU does not list are
 * recorded as not qualified. `source` names where each row comes from.
 */

/** One fault reason. */
export interface FaultReason {
  /** FR value (FRCD bits 103:96). */
  code: number;
  /** Short identifier. */
  name: string;
  /** Human-readable text (Linux's string when it has one). */
  description: string;
  /** True when FPD suppresses recording of this fault ("qualified" fault). */
  qualified: boolean;
  kind: 'interrupt-remapping' | 'dma-legacy' | 'dma-scalable';
  /** Provenance of the row (sheet abbreviations expanded). */
  source: string;
}

/** Interrupt-remapping fault codes (sheet §5.1; QEMU `VTD_FR_IR_*`). */
export const IR_FAULT = {
  RESERVED_REQUEST: 0x20,
  INDEX_OVER: 0x21,
  ENTRY_NOT_PRESENT: 0x22,
  IRTA_READ_ERROR: 0x23,
  IRTE_RESERVED: 0x24,
  COMPAT_BLOCKED: 0x25,
  SID_MISMATCH: 0x26,
  PID_READ_ERROR: 0x27,
  PID_RESERVED: 0x28,
  /** Only VirtualBox lists it (sheet [UNSURE]). */
  WITHOUT_PASID_INVALID: 0x29,
} as const;

const L = 'Linux drivers/iommu/intel/dmar.c';
const Q = 'QEMU hw/i386/intel_iommu.c vtd_qualified_faults';
const V = 'VirtualBox include/VBox/iommu-intel.h';
/** Codes Linux's table lists as "Unknown" that VirtualBox's `VTDATFAULT` assigns to a spec condition code. */
const VL = `${V} VTDATFAULT; ${L} lists it as "Unknown"`;

type Row = readonly [code: number, name: string, description: string, qualified: boolean, source: string];

const IR_ROWS: readonly Row[] = [
  [0x20, 'ir-request-reserved', 'Detected reserved fields in the decoded interrupt-remapped request', false, `${L}; QEMU VTD_FR_IR_REQ_RSVD`],
  [0x21, 'ir-index-over', 'Interrupt index exceeded the interrupt-remapping table size', false, `${L}; QEMU VTD_FR_IR_INDEX_OVER`],
  [0x22, 'ir-entry-not-present', 'Present field in the IRTE entry is clear', true, `${L}; VirtualBox vtdIrFaultIsQualified`],
  [0x23, 'ir-irta-read-error', 'Error accessing interrupt-remapping table pointed by IRTA_REG', false, `${L}; QEMU VTD_FR_IR_ROOT_INVAL`],
  [0x24, 'ir-irte-reserved', 'Detected reserved fields in the IRTE entry', true, `${L}; VirtualBox vtdIrFaultIsQualified`],
  [0x25, 'ir-compat-blocked', 'Blocked a compatibility format interrupt request', false, `${L}; QEMU VTD_FR_IR_REQ_COMPAT`],
  // Sheet [DISAGREE]: VirtualBox records SID failures as 0x24; spec/QEMU/Linux use 0x26.
  [0x26, 'ir-sid-mismatch', 'Blocked an interrupt request due to source-id verification failure', true, `${L}; QEMU VTD_FR_IR_SID_ERR`],
  [0x27, 'ir-pid-read-error', 'Error reading the posted-interrupt descriptor', true, `${V} VTDINTRFAULT_PID_READ_FAILED`],
  [0x28, 'ir-pid-reserved', 'Reserved fields set in the posted-interrupt descriptor', true, `${V} VTDINTRFAULT_PID_RSVD`],
  // Qualification not documented by any source the sheet uses [UNSURE]; recorded as not qualified.
  [0x29, 'ir-without-pasid-invalid', 'Untranslated interrupt request without PASID is invalid', false, `${V} VTDINTRFAULT_IR_WITHOUT_PASID_INVALID`],
];

const DMA_LEGACY_ROWS: readonly Row[] = [
  [0x01, 'root-entry-not-present', 'Present bit in root entry is clear', false, `${L}; ${Q}`],
  [0x02, 'context-entry-not-present', 'Present bit in context entry is clear', true, `${L}; ${Q}`],
  [0x03, 'context-entry-invalid', 'Invalid context entry', true, `${L}; ${Q}`],
  [0x04, 'address-beyond-mgaw', 'Access beyond MGAW', true, `${L}; ${Q}`],
  [0x05, 'write-not-permitted', 'PTE Write access is not set', true, `${L}; ${Q}`],
  [0x06, 'read-not-permitted', 'PTE Read access is not set', true, `${L}; ${Q}`],
  [0x07, 'paging-entry-access-error', 'Next page table ptr is invalid', true, `${L}; ${Q}`],
  [0x08, 'root-table-access-error', 'Root table address invalid', false, `${L}; ${Q}`],
  [0x09, 'context-table-access-error', 'Context table ptr is invalid', false, `${L}; ${Q}`],
  [0x0a, 'root-entry-reserved', 'non-zero reserved fields in RTP', false, `${L}; ${Q}`],
  [0x0b, 'context-entry-reserved', 'non-zero reserved fields in CTP', false, `${L}; not listed in ${Q}`],
  [0x0c, 'paging-entry-reserved', 'non-zero reserved fields in PTE', true, `${L}; ${Q}`],
  [0x0d, 'context-entry-tt-blocked', 'PCE for translation request specifies blocking', true, `${L}; ${Q}`],
  // Linux's table stops at 0x0D; QEMU VTD_FR_INTERRUPT_ADDR = 0xE (VirtualBox LGN.4).
  [0x0e, 'interrupt-address', 'Translated address falls in the interrupt address range (LGN.4)', true, `QEMU VTD_FR_INTERRUPT_ADDR; ${Q}; ${V} VTDADDRFAULT_LGN_4`],
];

const DMA_SM_ROWS: readonly Row[] = [
  [0x30, 'sm-root-table-invalid', 'SM: Invalid Root Table Address', false, L],
  [0x31, 'sm-ttm0-pasid', 'SM: TTM 0 for request with PASID', false, L],
  [0x32, 'sm-ttm0-page-group', 'SM: TTM 0 for page group request', false, L],
  // The next four: the condition codes are VirtualBox's; no source here states the condition
  // itself (docs/fidelity.md), so the description names the code only. Not qualified: no
  // source lists them as qualified. The walk never reports them.
  [0x33, 'sm-rta-4', 'Root-table address fault RTA.4 (condition not stated by the available sources)', false, `${VL} (RTA_4)`],
  [0x38, 'sm-root-entry-access-error', 'SM: Error attempting to access Root Entry', false, L],
  [0x39, 'sm-root-entry-not-present', 'SM: Present bit in Root Entry is clear', false, L],
  [0x3a, 'sm-root-entry-reserved', 'SM: Non-zero reserved field set in Root Entry', false, L],
  [0x40, 'sm-context-entry-access-error', 'SM: Error attempting to access Context Entry', false, L],
  [0x41, 'sm-context-entry-not-present', 'SM: Present bit in Context Entry is clear', false, L],
  [0x42, 'sm-context-entry-reserved', 'SM: Non-zero reserved field set in the Context Entry', false, L],
  [0x43, 'sm-context-entry-invalid', 'SM: Invalid Context Entry', false, L],
  [0x44, 'sm-context-dte-clear', 'SM: DTE field in Context Entry is clear', false, L],
  [0x45, 'sm-context-paside-clear', 'SM: PASID Enable field in Context Entry is clear', false, L],
  [0x46, 'sm-pasid-too-large', 'SM: PASID is larger than the max in Context Entry', false, L],
  [0x47, 'sm-context-pre-clear', 'SM: PRE field in Context-Entry is clear', false, L],
  [0x48, 'sm-rid-pasid-error', 'SM: RID_PASID field error in Context-Entry', false, L],
  [0x50, 'sm-pasid-dir-access-error', 'SM: Error attempting to access the PASID Directory Entry', false, `${L}; ${Q}`],
  [0x51, 'sm-pasid-dir-not-present', 'SM: Present bit in Directory Entry is clear', true, `${L}; ${Q}`],
  [0x52, 'sm-pasid-dir-reserved', 'SM: Non-zero reserved field set in PASID Directory Entry', false, L],
  [0x58, 'sm-pasid-entry-access-error', 'SM: Error attempting to access PASID Table Entry', false, `${L}; ${Q}`],
  [0x59, 'sm-pasid-entry-not-present', 'SM: Present bit in PASID Table Entry is clear', true, `${L}; ${Q}`],
  [0x5a, 'sm-pasid-entry-reserved', 'SM: Non-zero reserved field set in PASID Table Entry', false, L],
  // Sheet [DISAGREE]: older QEMU used 0x58 for "invalid PASID table entry"; current QEMU and Linux use 0x5B.
  [0x5b, 'sm-pasid-entry-invalid', 'SM: Invalid Scalable-Mode PASID Table Entry', true, `${L}; ${Q}`],
  [0x5c, 'sm-pasid-ere-clear', 'SM: ERE field is clear in PASID Table Entry', false, L],
  [0x5d, 'sm-pasid-sre-clear', 'SM: SRE field is clear in PASID Table Entry', false, L],
  [0x70, 'sm-fl-entry-access-error', 'SM: Error attempting to access first-level paging entry', true, `${L}; ${Q}`],
  [0x71, 'sm-fl-entry-not-present', 'SM: Present bit in first-level paging entry is clear', true, `${L}; ${Q}`],
  [0x72, 'sm-fl-entry-reserved', 'SM: Non-zero reserved field set in first-level paging entry', true, `${L}; ${Q}`],
  [0x73, 'sm-fl-pml4-access-error', 'SM: Error attempting to access FL-PML4 entry', true, `${L}; ${Q} (VTD_FR_PASID_ENTRY_FSPTPTR_INV)`],
  [0x74, 'sm-fl-beyond-mgaw-nested', 'SM: First-level entry address beyond MGAW in Nested translation', false, L],
  [0x75, 'sm-fl-pml4-read-nested', 'SM: Read permission error in FL-PML4 entry in Nested translation', false, L],
  [0x76, 'sm-fl-read-nested', 'SM: Read permission error in first-level paging entry in Nested translation', false, L],
  [0x77, 'sm-fl-write-nested', 'SM: Write permission error in first-level paging entry in Nested translation', false, L],
  [0x78, 'sm-sl-entry-access-error', 'SM: Error attempting to access second-level paging entry', false, L],
  [0x79, 'sm-sl-permission', 'SM: Read/Write permission error in second-level paging entry', false, L],
  [0x7a, 'sm-sl-entry-reserved', 'SM: Non-zero reserved field set in second-level paging entry', false, L],
  [0x7b, 'sm-sl-pointer-invalid', 'SM: Invalid second-level page table pointer', false, L],
  [0x7c, 'sm-sl-ad-no-snoop', 'SM: A/D bit update needed in second-level entry when set up in no snoop', false, L],
  [0x7d, 'sm-ssl-6', 'Second-stage table fault SSL.6 (condition not stated by the available sources)', false, `${VL} (SSL_6)`],
  [0x80, 'sm-fl-non-canonical', 'SM: Address in first-level translation is not canonical', true, `${L}; ${Q}`],
  [0x81, 'sm-fl-user-supervisor', 'SM: U/S set 0 for first-level translation with user privilege', true, `${L}; ${Q}`],
  [0x82, 'sm-no-execute', 'SM: No execute permission for request with PASID and ER=1', false, L],
  [0x83, 'sm-beyond-hardware-max', 'SM: Address beyond the DMA hardware max', false, L],
  [0x84, 'sm-sl-beyond-max', 'SM: Second-level entry address beyond the max', false, L],
  [0x85, 'sm-no-write', 'SM: No write permission for Write/AtomicOp request', true, `${L}; ${Q}`],
  [0x86, 'sm-no-read', 'SM: No read permission for Read/AtomicOp request', false, L],
  [0x87, 'sm-interrupt-address', 'SM: Invalid address-interrupt address', true, `${L}; ${Q}`],
  [0x88, 'sm-sgn-9', 'Scalable-mode general fault SGN.9 (condition not stated by the available sources)', false, `${VL} (SGN_9)`],
  [0x89, 'sm-sgn-10', 'Scalable-mode general fault SGN.10 (condition not stated by the available sources)', false, `${VL} (SGN_10)`],
  [0x90, 'sm-fl-ad-no-snoop', 'SM: A/D bit update needed in first-level entry when set up in no snoop', false, L],
  // Linux's table ends at 0x90; QEMU VTD_FR_FS_BIT_UPDATE_FAILED = 0x91 ("SFS.10").
  [0x91, 'sm-fl-ad-update-failed', 'First-stage A/D bit update failed (SFS.10)', true, `QEMU VTD_FR_FS_BIT_UPDATE_FAILED; ${Q}`],
];

function rows(kind: FaultReason['kind'], table: readonly Row[]): FaultReason[] {
  return table.map(([code, name, description, qualified, source]) =>
    Object.freeze({ code, name, description, qualified, kind, source }),
  );
}

/** Every known fault reason, ascending by code. */
export const FAULT_REASONS: readonly FaultReason[] = Object.freeze(
  [
    ...rows('dma-legacy', DMA_LEGACY_ROWS),
    ...rows('interrupt-remapping', IR_ROWS),
    ...rows('dma-scalable', DMA_SM_ROWS),
  ].sort((a, b) => a.code - b.code),
);

const BY_CODE = new Map(FAULT_REASONS.map((r) => [r.code, r]));

/** The fault reason for an FR code, or undefined for codes no source defines (0x00, gaps, > 0x91). */
export function faultReason(code: number): FaultReason | undefined {
  return BY_CODE.get(code);
}

/** True for the interrupt-remapping fault codes of this table (0x20–0x29), whose FRCD carries the interrupt index in bits 63:48. */
export function isInterruptRemappingFault(code: number): boolean {
  return faultReason(code)?.kind === 'interrupt-remapping';
}
