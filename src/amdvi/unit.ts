/**
 * The state of one AMD-Vi IOMMU (an IVHD block's unit): identity from the IVRS, its MMIO
 * registers as they read, and the DTE / IRTE caches. Readonly and serialisable (plain
 * objects, bigint registers), parallel to the VT-d `IommuUnit` of src/platform/state.ts but
 * vendor-specific; the platform integrates it through the vendor seam.
 *
 * Sources: IVHD fields (sheet §1.2; Linux `drivers/iommu/amd/init.c` `struct ivhd_header`,
 * `init_iommu_one`), MMIO map (sheet §2.2; registers.ts), reset values (all registers 0
 * except the read-only EFR/EFR2; QEMU `amdvi_init`, VirtualBox `iommuAmdR3Reset`).
 */
import { DEFAULT_DTE_CACHE_CAPACITY, DEFAULT_IRTE_CACHE_CAPACITY, emptyCache, type FifoCache } from './caches.ts';
import type { Dte } from './dte.ts';
import type { AmdIrte } from './irte.ts';
import { CONTROL_BITS, STATUS_BITS, regBit } from './registers.ts';

/** The MMIO registers, each as software reads it (64-bit raw values; layouts in registers.ts). */
export interface AmdViRegisters {
  /** 0x000: base [51:12], Size [8:0]. */
  readonly deviceTableBase: bigint;
  /** 0x008: base [51:12], Len [59:56]. */
  readonly commandBufferBase: bigint;
  /** 0x010: base [51:12], Len [59:56]. */
  readonly eventLogBase: bigint;
  /** 0x018 (CONTROL_REGISTER). */
  readonly control: bigint;
  /** 0x020 / 0x028. */
  readonly exclusionBase: bigint;
  readonly exclusionLimit: bigint;
  /** 0x038. */
  readonly pprLogBase: bigint;
  /** 0x0E0 / 0x0E8. */
  readonly gaLogBase: bigint;
  readonly gaLogTailAddress: bigint;
  /** 0x2000 / 0x2008: byte offsets [18:4]. */
  readonly commandHead: bigint;
  readonly commandTail: bigint;
  /** 0x2010 / 0x2018. */
  readonly eventHead: bigint;
  readonly eventTail: bigint;
  /** 0x2020 (STATUS_REGISTER). */
  readonly status: bigint;
  /** 0x2030 / 0x2038. */
  readonly pprHead: bigint;
  readonly pprTail: bigint;
  /** 0x2040 / 0x2048: byte offsets [15:3]. */
  readonly gaLogHead: bigint;
  readonly gaLogTail: bigint;
}

/** A cached DTE: the 256-bit value read from the device table, and its decoding. */
export interface DteCacheEntry {
  readonly raw: bigint;
  readonly dte: Dte;
}

/** A cached IRTE: the value read (32 or 128 bits) and its decoding. */
export interface IrteCacheEntry {
  readonly raw: bigint;
  readonly irte: AmdIrte;
}

/** DTE cache (key: DeviceID) and IRTE cache (key: `deviceId:index`), see caches.ts. */
export interface AmdViCaches {
  readonly dte: FifoCache<DteCacheEntry>;
  readonly irte: FifoCache<IrteCacheEntry>;
}

/** One AMD-Vi IOMMU. */
export interface AmdViUnit {
  readonly vendor: 'amd';
  readonly index: number;
  /** Linux's name, `ivhd<index>` (init.c `iommu_device_sysfs_add(..., "ivhd%d", iommu->index)`). */
  readonly name: string;
  readonly segment: number;
  /** MMIO register base (IVHD bytes 8..15). */
  readonly registerBase: bigint;
  /** The IOMMU's own requester ID (IVHD bytes 4..5). */
  readonly deviceId: number;
  /** PCI capability offset (IVHD bytes 6..7). */
  readonly capabilityOffset: number;
  /** Extended Feature Register, MMIO 0x30 (read-only; src/amdvi/efr.ts decodes it). */
  readonly efr: bigint;
  /** Extended Feature Register 2, MMIO 0x1A0 (read-only). */
  readonly efr2: bigint;
  readonly regs: AmdViRegisters;
  readonly caches: AmdViCaches;
}

/** What an IVRS IVHD (or a scenario) says about a unit. */
export interface AmdViUnitDescription {
  readonly index: number;
  readonly segment: number;
  readonly registerBase: bigint;
  readonly deviceId: number;
  readonly capabilityOffset: number;
  readonly efr: bigint;
  readonly efr2?: bigint;
  readonly name?: string;
  readonly dteCacheCapacity?: number;
  readonly irteCacheCapacity?: number;
}

/** Every register 0, as after reset. */
export const RESET_REGISTERS: AmdViRegisters = Object.freeze({
  deviceTableBase: 0n,
  commandBufferBase: 0n,
  eventLogBase: 0n,
  control: 0n,
  exclusionBase: 0n,
  exclusionLimit: 0n,
  pprLogBase: 0n,
  gaLogBase: 0n,
  gaLogTailAddress: 0n,
  commandHead: 0n,
  commandTail: 0n,
  eventHead: 0n,
  eventTail: 0n,
  status: 0n,
  pprHead: 0n,
  pprTail: 0n,
  gaLogHead: 0n,
  gaLogTail: 0n,
});

/**
 * A unit just out of reset: registers 0, caches empty (capacities default to VirtualBox's 16
 * DTEs and 32 IRTEs).
 * @throws RangeError when deviceId is not 16-bit, capabilityOffset not 8-bit, efr/efr2 not
 *   64-bit, registerBase not a 64-bit address, or a capacity is negative.
 */
export function emptyAmdViUnit(desc: AmdViUnitDescription): AmdViUnit {
  const u16 = (x: number): boolean => Number.isInteger(x) && x >= 0 && x <= 0xffff;
  const u64 = (x: bigint): boolean => x >= 0n && x < 1n << 64n;
  if (!u16(desc.deviceId)) throw new RangeError(`AMD-Vi unit deviceId ${desc.deviceId} is not a 16-bit requester ID`);
  if (!Number.isInteger(desc.capabilityOffset) || desc.capabilityOffset < 0 || desc.capabilityOffset > 0xff) {
    throw new RangeError(`AMD-Vi unit capability offset ${desc.capabilityOffset} is not 0..0xFF`);
  }
  if (!u16(desc.segment)) throw new RangeError(`AMD-Vi unit segment ${desc.segment} is not 16-bit`);
  if (!u64(desc.registerBase)) throw new RangeError(`AMD-Vi register base ${desc.registerBase} is not a 64-bit address`);
  if (!u64(desc.efr) || !u64(desc.efr2 ?? 0n)) throw new RangeError('AMD-Vi EFR/EFR2 is not a 64-bit value');
  const dteCap = desc.dteCacheCapacity ?? DEFAULT_DTE_CACHE_CAPACITY;
  const irteCap = desc.irteCacheCapacity ?? DEFAULT_IRTE_CACHE_CAPACITY;
  if (!Number.isInteger(dteCap) || dteCap < 0 || !Number.isInteger(irteCap) || irteCap < 0) {
    throw new RangeError('AMD-Vi cache capacities must be non-negative integers');
  }
  return {
    vendor: 'amd',
    index: desc.index,
    name: desc.name ?? `ivhd${desc.index}`,
    segment: desc.segment,
    registerBase: desc.registerBase,
    deviceId: desc.deviceId,
    capabilityOffset: desc.capabilityOffset,
    efr: desc.efr,
    efr2: desc.efr2 ?? 0n,
    regs: RESET_REGISTERS,
    caches: { dte: emptyCache<DteCacheEntry>(dteCap), irte: emptyCache<IrteCacheEntry>(irteCap) },
  };
}

/**
 * The registers after software writes Control (MMIO 0x18), with the run bits of Status
 * following the enables (spec 48882 §3.4.2/§3.4.7; VirtualBox `iommuAmdCtrl_w`): CmdBufRun
 * turns on when IommuEn and CmdBufEn become both 1 and off when either is 0; EventLogRun
 * likewise with EventLogEn. A buffer halted by an illegal command (CmdBufRun = 0 while the
 * enables stay 1) restarts only when software toggles CmdBufEn (or IommuEn).
 */
export function writeControl(regs: AmdViRegisters, control: bigint): AmdViRegisters {
  const before = regs.control;
  const on = (v: bigint, b: number): boolean => regBit(v, CONTROL_BITS.IommuEn) && regBit(v, b);
  let status = regs.status;
  const follow = (enable: number, run: number): void => {
    const runBit = 1n << BigInt(run);
    if (!on(control, enable)) status &= ~runBit;
    else if (!on(before, enable)) status |= runBit;
  };
  follow(CONTROL_BITS.CmdBufEn, STATUS_BITS.CmdBufRun);
  follow(CONTROL_BITS.EventLogEn, STATUS_BITS.EventLogRun);
  return { ...regs, control, status };
}
