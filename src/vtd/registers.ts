/**
 * VT-d remapping-hardware registers used by interrupt remapping: IRTA, GCMD/GSTS, CAP, ECAP,
 * FSTS, FECTL (VT-d spec §11.4; Linux `drivers/iommu/intel/iommu.h`; QEMU
 * `hw/i386/intel_iommu_internal.h`). Reference sheet §4, §5.4, §7.4 (end).
 *
 * 64-bit registers are bigint; 32-bit registers (GCMD, GSTS, FSTS, FECTL) are unsigned
 * 32-bit numbers. Every decoder reports bits this codec does not name as `reserved`, in place,
 * and every encoder accepts them back so that any bit pattern round-trips.
 */
import { defineLayout, type FieldSpec, type Layout } from '../bits/layout.ts';
import { defineRecord, type FieldTable, type RecordFields } from '../bits/record.ts';
import { U64_MASK } from '../bits/bits.ts';

/** MMIO offsets of the registers (sheet §4.1; Linux `DMAR_*_REG`, QEMU `DMAR_*_REG`). */
export const REGISTER_OFFSETS = Object.freeze({
  VER: 0x00,
  CAP: 0x08,
  ECAP: 0x10,
  GCMD: 0x18,
  GSTS: 0x1c,
  RTADDR: 0x20,
  CCMD: 0x28,
  FSTS: 0x34,
  FECTL: 0x38,
  FEDATA: 0x3c,
  FEADDR: 0x40,
  FEUADDR: 0x44,
  IQH: 0x80,
  IQT: 0x88,
  IQA: 0x90,
  ICS: 0x9c,
  IECTL: 0xa0,
  IEDATA: 0xa4,
  IEADDR: 0xa8,
  IEUADDR: 0xac,
  IQER: 0xb0,
  IRTA: 0xb8,
} as const);

// ---------------------------------------------------------------------------------------
// Registers are records (src/bits/record.ts): 1-bit fields decode to boolean, wider ones
// to number; every register bit is either named or reserved, so no `ignored` bits.

/** Decoded register fields: a one-bit field (hi === lo) is a boolean, a wider one a number. */
export type RegisterFields<T extends FieldTable> = RecordFields<T>;

interface RegisterCodec<T extends FieldTable> {
  readonly layout: Layout<Extract<keyof T, string>>;
  decode(raw: bigint): RegisterFields<T> & { reserved: bigint };
  encode(v: RegisterFields<T> & { reserved?: bigint }): bigint;
}

function defineRegister<const T extends FieldTable>(name: string, width: number, fields: T, reserved: readonly FieldSpec[]): RegisterCodec<T> {
  const record = defineRecord(name, width, fields, reserved);
  if (record.ignoredMask !== 0n) throw new Error(`${name}: bits 0x${record.ignoredMask.toString(16)} are neither named nor reserved`);
  return {
    layout: record.layout,
    decode(raw) {
      const { ignored: _, ...fieldsAndReserved } = record.decode(raw);
      return fieldsAndReserved as RegisterFields<T> & { reserved: bigint };
    },
    encode: (v) => record.encode(v),
  };
}

/** A bit-position map as a table of one-bit fields. */
function flagFields<N extends string>(bits: { readonly [K in N]: number }): { [K in N]: { hi: number; lo: number } } {
  const out = {} as { [K in N]: { hi: number; lo: number } };
  for (const k of Object.keys(bits) as N[]) out[k] = { hi: bits[k], lo: bits[k] };
  return out;
}

// ---------------------------------------------------------------------------------------
// IRTA_REG (0xB8), sheet §4.2.

/** IRTA_REG layout: S 3:0, EIME 11, IRTA (table base >> 12) 63:12; 10:4 reserved. */
export const IRTA_LAYOUT = defineLayout({
  name: 'IRTA_REG',
  width: 64,
  fields: {
    S: { hi: 3, lo: 0 },
    EIME: { hi: 11, lo: 11 },
    IRTA: { hi: 63, lo: 12 },
  },
  reserved: [{ hi: 10, lo: 4 }],
});

/** Decoded IRTA_REG. */
export interface Irta {
  /** Interrupt-remapping table base address: IRTA field << 12, 4 KiB aligned. */
  base: bigint;
  /** EIME, bit 11: 1 = x2APIC mode (32-bit DST), 0 = xAPIC (DST[15:8]). */
  eime: boolean;
  /** S, bits 3:0: the table has 2^(S+1) entries. */
  size: number;
  /** Reserved bits 10:4 that are set, in place. */
  reserved: bigint;
}

/** Decode IRTA_REG. Never throws: bits above 63 are dropped. */
export function decodeIrta(raw: bigint): Irta {
  const v = raw & U64_MASK;
  const f = IRTA_LAYOUT.decode(v);
  return { base: BigInt(f.IRTA) << 12n, eime: f.EIME === 1, size: f.S, reserved: IRTA_LAYOUT.reservedSet(v) };
}

/**
 * Encode IRTA_REG (Linux `iommu_set_irq_remapping` writes `base | EIME | S`); optional
 * `reserved` (bits 10:4, in place) lets decoded values round-trip.
 * @throws RangeError when base is not a 4 KiB-aligned 64-bit address, size is not 0..15, or
 *   reserved has bits outside 10:4.
 */
export function encodeIrta(i: { base: bigint; eime: boolean; size: number; reserved?: bigint }): bigint {
  if (i.base < 0n || i.base > U64_MASK || (i.base & 0xfffn) !== 0n) {
    throw new RangeError(`IRTA base 0x${i.base.toString(16)} is not a 4 KiB-aligned 64-bit address`);
  }
  const r = i.reserved ?? 0n;
  if (r < 0n || (r & ~IRTA_LAYOUT.reservedMask) !== 0n) {
    throw new RangeError(`IRTA reserved bits 0x${r.toString(16)} outside 10:4`);
  }
  return IRTA_LAYOUT.encode({ S: i.size, EIME: i.eime ? 1 : 0, IRTA: Number(i.base >> 12n) }, r);
}

/** Number of IRTEs for IRTA.S: 2^(S+1), so 2..65536 (Linux `INTR_REMAP_TABLE_ENTRIES`). @throws RangeError unless S is 0..15. */
export function irtEntries(size: number): number {
  if (!Number.isInteger(size) || size < 0 || size > 15) throw new RangeError(`IRTA.S ${size} is not in 0..15`);
  return 2 ** (size + 1);
}

/** IRTA.S for a table of `entries` IRTEs. @throws RangeError unless entries is a power of two in 2..65536. */
export function irtaSizeForEntries(entries: number): number {
  if (!Number.isInteger(entries) || entries < 2 || entries > 65536 || (entries & (entries - 1)) !== 0) {
    throw new RangeError(`${entries} IRTEs is not a power of two in 2..65536`);
  }
  return Math.log2(entries) - 1;
}

// ---------------------------------------------------------------------------------------
// GCMD_REG (0x18) / GSTS_REG (0x1C), sheet §4.3. Same positions; bits 22:0 reserved.

/** GCMD bit positions (Linux `DMA_GCMD_*`). IRE enables remapping, SIRTP latches IRTA, CFI lets compatibility-format interrupts bypass. */
export const GLOBAL_COMMAND_BITS = Object.freeze({
  TE: 31,
  SRTP: 30,
  SFL: 29,
  EAFL: 28,
  WBF: 27,
  QIE: 26,
  IRE: 25,
  SIRTP: 24,
  CFI: 23,
} as const);

/** GSTS bit positions (Linux `DMA_GSTS_*`), each reporting the GCMD bit at the same position. */
export const GLOBAL_STATUS_BITS = Object.freeze({
  TES: 31,
  RTPS: 30,
  FLS: 29,
  AFLS: 28,
  WBFS: 27,
  QIES: 26,
  IRES: 25,
  IRTPS: 24,
  CFIS: 23,
} as const);

const GCMD = defineRegister('GCMD_REG', 32, flagFields(GLOBAL_COMMAND_BITS), [{ hi: 22, lo: 0 }]);
const GSTS = defineRegister('GSTS_REG', 32, flagFields(GLOBAL_STATUS_BITS), [{ hi: 22, lo: 0 }]);

/** Decoded GCMD: one boolean per command bit, `reserved` = bits 22:0 in place. */
export type GlobalCommand = { [K in keyof typeof GLOBAL_COMMAND_BITS]: boolean } & { reserved: number };
/** Decoded GSTS: one boolean per status bit, `reserved` = bits 22:0 in place. */
export type GlobalStatus = { [K in keyof typeof GLOBAL_STATUS_BITS]: boolean } & { reserved: number };

/** Decode a 32-bit GCMD value. Never throws. */
export function decodeGcmd(value: number): GlobalCommand {
  const d = GCMD.decode(BigInt(value >>> 0));
  return { ...(d as unknown as GlobalCommand), reserved: Number(d.reserved) };
}
/** Encode GCMD (missing `reserved` = 0). @throws RangeError when reserved has bits outside 22:0. */
export function encodeGcmd(v: Omit<GlobalCommand, 'reserved'> & { reserved?: number }): number {
  return Number(GCMD.encode({ ...(v as unknown as Parameters<typeof GCMD.encode>[0]), reserved: BigInt(v.reserved ?? 0) }));
}
/** Decode a 32-bit GSTS value. Never throws. */
export function decodeGsts(value: number): GlobalStatus {
  const d = GSTS.decode(BigInt(value >>> 0));
  return { ...(d as unknown as GlobalStatus), reserved: Number(d.reserved) };
}
/** Encode GSTS (missing `reserved` = 0). @throws RangeError when reserved has bits outside 22:0. */
export function encodeGsts(v: Omit<GlobalStatus, 'reserved'> & { reserved?: number }): number {
  return Number(GSTS.encode({ ...(v as unknown as Parameters<typeof GSTS.encode>[0]), reserved: BigInt(v.reserved ?? 0) }));
}

// ---------------------------------------------------------------------------------------
// CAP_REG (0x08), sheet §7.4 end; positions from Linux iommu.h `cap_*` macros.

const CAP = defineRegister(
  'CAP_REG',
  64,
  {
    /** Number of domains supported: 2^(4+2·ND). */
    ND: { hi: 2, lo: 0 },
    AFL: { hi: 3, lo: 3 },
    RWBF: { hi: 4, lo: 4 },
    PLMR: { hi: 5, lo: 5 },
    PHMR: { hi: 6, lo: 6 },
    CM: { hi: 7, lo: 7 },
    /** Supported adjusted guest address widths (bitmap). */
    SAGAW: { hi: 12, lo: 8 },
    /** Maximum guest address width minus 1. */
    MGAW: { hi: 21, lo: 16 },
    ZLR: { hi: 22, lo: 22 },
    /** Linux `cap_isoch`; reserved in newer spec revisions. */
    ISOCH: { hi: 23, lo: 23 },
    /** Fault-recording register offset in 16-byte units. */
    FRO: { hi: 33, lo: 24 },
    SLLPS: { hi: 37, lo: 34 },
    PSI: { hi: 39, lo: 39 },
    /** Number of fault-recording registers minus 1. */
    NFR: { hi: 47, lo: 40 },
    MAMV: { hi: 53, lo: 48 },
    DWD: { hi: 54, lo: 54 },
    DRD: { hi: 55, lo: 55 },
    FL1GP: { hi: 56, lo: 56 },
    /** Posted interrupts supported (required for IM=1 IRTEs). */
    PI: { hi: 59, lo: 59 },
    FL5LP: { hi: 60, lo: 60 },
    ECMDS: { hi: 61, lo: 61 },
    /** SIRTP also invalidates the interrupt entry cache. */
    ESIRTPS: { hi: 62, lo: 62 },
    ESRTPS: { hi: 63, lo: 63 },
  } as const,
  [
    { hi: 15, lo: 13 },
    { hi: 38, lo: 38 },
    { hi: 58, lo: 57 },
  ],
);

/** CAP_REG layout (for inspection / tests). */
export const CAP_LAYOUT = CAP.layout;
/** Decoded CAP_REG: raw field values (see the `cap*` helpers for derived quantities); `reserved` = unnamed bits, in place. */
export type Cap = ReturnType<typeof CAP.decode>;
/** Decode CAP_REG. Never throws. */
export function decodeCap(raw: bigint): Cap {
  return CAP.decode(raw);
}
/** Encode CAP_REG. @throws RangeError when a field does not fit or reserved has bits outside the unnamed ranges. */
export function encodeCap(cap: Omit<Cap, 'reserved'> & { reserved?: bigint }): bigint {
  return CAP.encode(cap);
}
/** Domains supported: 2^(4+2·ND) (Linux `cap_ndoms`). */
export function capDomainCount(nd: number): number {
  return 2 ** (4 + 2 * nd);
}
/** Maximum guest address width in bits: MGAW + 1 (Linux `cap_mgaw`). */
export function capMgawBits(mgaw: number): number {
  return mgaw + 1;
}
/** Byte offset of the first fault-recording register: FRO × 16 (Linux `cap_fault_reg_offset`). */
export function capFaultRecordOffset(fro: number): number {
  return fro * 16;
}
/** Number of fault-recording registers: NFR + 1 (Linux `cap_num_fault_regs`). */
export function capFaultRecordCount(nfr: number): number {
  return nfr + 1;
}

// ---------------------------------------------------------------------------------------
// ECAP_REG (0x10), sheet §7.4 end; positions from Linux iommu.h `ecap_*` macros.

const ECAP = defineRegister(
  'ECAP_REG',
  64,
  {
    C: { hi: 0, lo: 0 },
    QI: { hi: 1, lo: 1 },
    DT: { hi: 2, lo: 2 },
    IR: { hi: 3, lo: 3 },
    /** Extended interrupt mode (x2APIC, IRTA.EIME=1) supported. */
    EIM: { hi: 4, lo: 4 },
    PT: { hi: 6, lo: 6 },
    SC: { hi: 7, lo: 7 },
    /** IOTLB register offset in 16-byte units. */
    IRO: { hi: 17, lo: 8 },
    /** Maximum handle mask value (bounds IEC IM). */
    MHMV: { hi: 23, lo: 20 },
    ECS: { hi: 24, lo: 24 },
    MTS: { hi: 25, lo: 25 },
    NEST: { hi: 26, lo: 26 },
    DIS: { hi: 27, lo: 27 },
    PRS: { hi: 29, lo: 29 },
    ERS: { hi: 30, lo: 30 },
    SRS: { hi: 31, lo: 31 },
    NWFS: { hi: 33, lo: 33 },
    EAFS: { hi: 34, lo: 34 },
    PSS: { hi: 39, lo: 35 },
    PASID: { hi: 40, lo: 40 },
    DIT: { hi: 41, lo: 41 },
    PDS: { hi: 42, lo: 42 },
    SMTS: { hi: 43, lo: 43 },
    VCS: { hi: 44, lo: 44 },
    SLADS: { hi: 45, lo: 45 },
    SLTS: { hi: 46, lo: 46 },
    FLTS: { hi: 47, lo: 47 },
    SMPWC: { hi: 48, lo: 48 },
    RPS: { hi: 49, lo: 49 },
    PMS: { hi: 51, lo: 51 },
    /** Abort DMA mode (RTADDR.TTM = 11b) supported (Intel ECAP_REG datasheet "ADMS"; VirtualBox `VTD_BF_ECAP_REG_ADMS`). */
    ADMS: { hi: 52, lo: 52 },
    /** RID_PRIV of the scalable-mode context entry supported (Intel ECAP_REG datasheet "RPRIVS"). */
    RPRIVS: { hi: 53, lo: 53 },
  } as const,
  [
    { hi: 5, lo: 5 },
    { hi: 19, lo: 18 },
    // Linux `ecap_broken_pasid` (old PASID bit); not a current field.
    { hi: 28, lo: 28 },
    { hi: 32, lo: 32 },
    // TDXIO in the Intel ECAP_REG datasheet; not modelled.
    { hi: 50, lo: 50 },
    { hi: 63, lo: 54 },
  ],
);

/** ECAP_REG layout (for inspection / tests). */
export const ECAP_LAYOUT = ECAP.layout;
/** Decoded ECAP_REG: raw field values; `reserved` = unnamed bits, in place. */
export type Ecap = ReturnType<typeof ECAP.decode>;
/** Decode ECAP_REG. Never throws. */
export function decodeEcap(raw: bigint): Ecap {
  return ECAP.decode(raw);
}
/** Encode ECAP_REG. @throws RangeError when a field does not fit or reserved has bits outside the unnamed ranges. */
export function encodeEcap(ecap: Omit<Ecap, 'reserved'> & { reserved?: bigint }): bigint {
  return ECAP.encode(ecap);
}
/** Byte offset of the IOTLB registers: IRO × 16 (Linux `ecap_iotlb_offset`). */
export function ecapIotlbOffset(iro: number): number {
  return iro * 16;
}

// ---------------------------------------------------------------------------------------
// FSTS_REG (0x34) and FECTL_REG (0x38), sheet §5.4.

const FSTS = defineRegister(
  'FSTS_REG',
  32,
  {
    PFO: { hi: 0, lo: 0 },
    PPF: { hi: 1, lo: 1 },
    AFO: { hi: 2, lo: 2 },
    APF: { hi: 3, lo: 3 },
    IQE: { hi: 4, lo: 4 },
    ICE: { hi: 5, lo: 5 },
    ITE: { hi: 6, lo: 6 },
    PRO: { hi: 7, lo: 7 },
    /** Fault record index: next FRCD hardware writes. */
    FRI: { hi: 15, lo: 8 },
  } as const,
  [{ hi: 31, lo: 16 }],
);

/** Decoded FSTS: `reserved` = bits 31:16 in place. */
export type Fsts = Omit<ReturnType<typeof FSTS.decode>, 'reserved'> & { reserved: number };
/** Decode a 32-bit FSTS value. Never throws. */
export function decodeFsts(value: number): Fsts {
  // By shifts, not the layout codec: P6 reads FSTS for every fault (test/vtd/fsts-frcd-decode.test.ts
  // checks it against FSTS.decode on every bit pattern class).
  const v = value >>> 0;
  return {
    PFO: (v & 0x01) !== 0,
    PPF: (v & 0x02) !== 0,
    AFO: (v & 0x04) !== 0,
    APF: (v & 0x08) !== 0,
    IQE: (v & 0x10) !== 0,
    ICE: (v & 0x20) !== 0,
    ITE: (v & 0x40) !== 0,
    PRO: (v & 0x80) !== 0,
    FRI: (v >>> 8) & 0xff,
    reserved: (v & 0xffff_0000) >>> 0,
  };
}

/** FSTS through the layout codec: the reference {@link decodeFsts} is tested against. */
export function decodeFstsByLayout(value: number): Fsts {
  const d = FSTS.decode(BigInt(value >>> 0));
  return { ...d, reserved: Number(d.reserved) };
}
/** Encode FSTS. @throws RangeError when FRI does not fit or reserved has bits outside 31:16. */
export function encodeFsts(v: Omit<Fsts, 'reserved'> & { reserved?: number }): number {
  return Number(FSTS.encode({ ...v, reserved: BigInt(v.reserved ?? 0) }));
}

const FECTL = defineRegister(
  'FECTL_REG',
  32,
  {
    /** Interrupt pending: an event was held back by IM. */
    IP: { hi: 30, lo: 30 },
    /** Interrupt mask: fault events are not signalled while set. */
    IM: { hi: 31, lo: 31 },
  } as const,
  [{ hi: 29, lo: 0 }],
);

/** Decoded FECTL: `reserved` = bits 29:0 in place. */
export type Fectl = Omit<ReturnType<typeof FECTL.decode>, 'reserved'> & { reserved: number };
/** Decode a 32-bit FECTL value. Never throws. */
export function decodeFectl(value: number): Fectl {
  const d = FECTL.decode(BigInt(value >>> 0));
  return { ...d, reserved: Number(d.reserved) };
}
/** Encode FECTL. @throws RangeError when reserved has bits outside 29:0. */
export function encodeFectl(v: Omit<Fectl, 'reserved'> & { reserved?: number }): number {
  return Number(FECTL.encode({ ...v, reserved: BigInt(v.reserved ?? 0) }));
}

// ---------------------------------------------------------------------------------------
// Queued-invalidation, fault-event, invalidation-event and register-based invalidation
// registers. Layouts: VT-d spec §11.4 (register descriptions); reference sheet §4.1, §7.1,
// §7.3, §7.4; VirtualBox include/VBox/iommu-intel.h `VTD_BF_IQA_REG_*`, `VTD_BF_IQH_REG_*`,
// `VTD_BF_IQT_REG_*`, `VTD_BF_ICS_REG_*`, `VTD_BF_IECTL_REG_*`, `VTD_BF_FEDATA_REG_*`,
// `VTD_BF_FEADDR_REG_*`, `VTD_BF_FEUADDR_REG_*`, `VTD_BF_IQERCD_REG_*`, `VTD_BF_CCMD_REG_*`,
// `VTD_BF_IOTLB_REG_*`, `VTD_BF_IVA_REG_*` (written "in accordance with the Intel spec");
// Intel EDC register pages (IQERCD_REG, IQH_REG); QEMU hw/i386/intel_iommu_internal.h
// `VTD_IQA_*`, `VTD_IQT_*`, `VTD_CCMD_*`, `VTD_TLB_*`. Each codec is a record: decode any
// pattern, encode it back bit-exactly, reserved bits reported in place.

/** A register codec: decode any pattern (reserved bits reported in place), encode it back. */
export type RegisterRecord<T extends FieldTable> = RegisterCodec<T>;

/**
 * IQA_REG (0x90, 64 bits): QS 2:0 (queue of 2^QS 4 KiB pages), DW 11 (1 = 256-bit
 * descriptors, ECAP.SMTS hardware only), IQA 63:12 (4 KiB-aligned base); 10:3 reserved.
 */
export const IQA_REG = defineRegister('IQA_REG', 64, { QS: { hi: 2, lo: 0 }, DW: { hi: 11, lo: 11 }, IQA: { hi: 63, lo: 12 } } as const, [{ hi: 10, lo: 3 }]);

/**
 * IQH_REG (0x80) and IQT_REG (0x88), 64 bits: QH / QT 18:4, the byte offset of the next
 * descriptor (128-bit aligned; with IQA.DW = 1 bit 4 is reserved); 3:0 and 63:19 reserved.
 */
export const IQH_REG = defineRegister('IQH_REG', 64, { QH: { hi: 18, lo: 4 } } as const, [{ hi: 3, lo: 0 }, { hi: 63, lo: 19 }]);
export const IQT_REG = defineRegister('IQT_REG', 64, { QT: { hi: 18, lo: 4 } } as const, [{ hi: 3, lo: 0 }, { hi: 63, lo: 19 }]);

/** ICS_REG (0x9C, 32 bits): IWC 0 (invalidation wait descriptor with IF complete, RW1C); 31:1 reserved. */
export const ICS_REG = defineRegister('ICS_REG', 32, { IWC: { hi: 0, lo: 0 } } as const, [{ hi: 31, lo: 1 }]);

/** IECTL_REG (0xA0, 32 bits): IP 30 (interrupt pending, RO), IM 31 (interrupt mask, reset 1); 29:0 reserved. Same layout as FECTL. */
export const IECTL_REG = defineRegister('IECTL_REG', 32, { IP: { hi: 30, lo: 30 }, IM: { hi: 31, lo: 31 } } as const, [{ hi: 29, lo: 0 }]);

/**
 * FEDATA_REG (0x3C) / IEDATA_REG (0xA4), 32 bits: IMD 15:0, the interrupt message data;
 * 31:16 reserved (EIMD, extended message data, in VT-d revisions before 2021 — VirtualBox).
 */
export const EVENT_DATA_REG = defineRegister('FEDATA_REG', 32, { IMD: { hi: 15, lo: 0 } } as const, [{ hi: 31, lo: 16 }]);

/** FEADDR_REG (0x40) / IEADDR_REG (0xA8), 32 bits: MA 31:2, the message address (dword aligned); 1:0 reserved. */
export const EVENT_ADDRESS_REG = defineRegister('FEADDR_REG', 32, { MA: { hi: 31, lo: 2 } } as const, [{ hi: 1, lo: 0 }]);

/**
 * FEUADDR_REG (0x44) / IEUADDR_REG (0xAC), 32 bits: MUA 31:0, the message upper address. With
 * x2APIC, Linux puts destination APIC ID bits 31:8 in bits 31:8 of it (arch/x86/include/asm/msi.h
 * `destid_8_31`, `__irq_msi_compose_msg(..., dmar = true)`); implemented by hardware with ECAP.EIM.
 */
export const EVENT_UPPER_ADDRESS_REG = defineRegister('FEUADDR_REG', 32, { MUA: { hi: 31, lo: 0 } } as const, []);

/**
 * IQERCD_REG (0xB0, 64 bits): IQEI 3:0 (what caused FSTS.IQE), ITESID 47:32 (requester of an
 * invalidation time-out), ICESID 63:48 (requester of an invalid completion); 31:4 reserved.
 */
export const IQERCD_REG = defineRegister('IQERCD_REG', 64, { IQEI: { hi: 3, lo: 0 }, ITESID: { hi: 47, lo: 32 }, ICESID: { hi: 63, lo: 48 } } as const, [{ hi: 31, lo: 4 }]);

/**
 * IQERCD.IQEI codes (Intel EDC IQERCD_REG page, VT-d §11.4.9.9; VirtualBox `kIqei_*`): 1 invalid
 * tail pointer, 2 descriptor fetch error, 3 invalid descriptor type, 4 reserved field violation
 * in a valid descriptor type, 5 invalid descriptor width programmed in IQA_REG, 6 queue tail not
 * 256-bit aligned with DW = 1 [6: VirtualBox `kIqei_QueueTailNotAligned`, value by its order].
 */
export const IQEI = Object.freeze({
  INFO_NOT_AVAILABLE: 0,
  INVALID_TAIL_POINTER: 1,
  FETCH_ERROR: 2,
  INVALID_DESCRIPTOR_TYPE: 3,
  RESERVED_FIELD: 4,
  INVALID_DESCRIPTOR_WIDTH: 5,
  TAIL_NOT_ALIGNED: 6,
} as const);

/** What each IQEI code means, for traces and the dump. */
export const IQEI_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'info not available',
  1: 'invalid tail pointer',
  2: 'descriptor fetch error',
  3: 'invalid descriptor type',
  4: 'reserved field violation',
  5: 'invalid descriptor width in IQA_REG',
  6: 'queue tail not 256-bit aligned',
});

/**
 * CCMD_REG (0x28, 64 bits): DID 15:0, SID 31:16, FM 33:32, CAIG 60:59 (actual granularity,
 * RO), CIRG 62:61 (requested: 1 global, 2 domain, 3 device), ICC 63 (invalidate; cleared by
 * hardware when done); 58:34 reserved.
 */
export const CCMD_REG = defineRegister(
  'CCMD_REG',
  64,
  { DID: { hi: 15, lo: 0 }, SID: { hi: 31, lo: 16 }, FM: { hi: 33, lo: 32 }, CAIG: { hi: 60, lo: 59 }, CIRG: { hi: 62, lo: 61 }, ICC: { hi: 63, lo: 63 } } as const,
  [{ hi: 58, lo: 34 }],
);

/**
 * IOTLB_REG (ECAP.IRO × 16 + 8, 64 bits): DID 47:32, DW 48, DR 49 (drain writes / reads), IAIG
 * 58:57 (actual granularity, RO), IIRG 61:60 (requested: 1 global, 2 domain, 3 page), IVT 63
 * (invalidate; cleared by hardware when done); 31:0, 56:50, 59 and 62 reserved.
 */
export const IOTLB_REG = defineRegister(
  'IOTLB_REG',
  64,
  { DID: { hi: 47, lo: 32 }, DW: { hi: 48, lo: 48 }, DR: { hi: 49, lo: 49 }, IAIG: { hi: 58, lo: 57 }, IIRG: { hi: 61, lo: 60 }, IVT: { hi: 63, lo: 63 } } as const,
  [
    { hi: 31, lo: 0 },
    { hi: 56, lo: 50 },
    { hi: 59, lo: 59 },
    { hi: 62, lo: 62 },
  ],
);

/** IVA_REG (ECAP.IRO × 16, 64 bits): AM 5:0 (2^AM pages), IH 6 (invalidation hint), ADDR 63:12 (page frame); 11:7 reserved. */
export const IVA_REG = defineRegister('IVA_REG', 64, { AM: { hi: 5, lo: 0 }, IH: { hi: 6, lo: 6 }, ADDR: { hi: 63, lo: 12 } } as const, [{ hi: 11, lo: 7 }]);

/** FSTS fields that are RW1C: software writes 1 to clear them (VirtualBox `VTD_FSTS_REG_RW1C_MASK`, plus PRO as Linux writes it). PPF and FRI are read-only. */
export const FSTS_RW1C_MASK = 0x0000_00fd;

/**
 * FSTS fields that are interrupt conditions of the fault event (VT-d §11.4.7.2 FECTL.IP): while
 * any is set, a new condition is not a new interrupt (QEMU `vtd_generate_fault_event` checks
 * PPF, PFO and IQE; the spec also names APF/AFO, ICE and ITE). PRO belongs to the page-request event.
 */
export const FSTS_EVENT_STATUS_MASK = 0x0000_007f;
