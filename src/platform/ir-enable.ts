/**
 * The register sequence Linux uses to turn interrupt remapping on
 * (drivers/iommu/intel/irq_remapping.c `iommu_set_irq_remapping`,
 * `iommu_enable_irq_remapping`): write IRTA, set SIRTP and wait for IRTPS, flush the
 * IEC globally, then set IRE (and CFI only when compatibility-format interrupts are
 * wanted — Linux clears it). `persistent` is the GCMD state software keeps (its
 * shadow `iommu->gcmd`); the returned value is the new shadow.
 */
import type { Action } from './actions.ts';
import { encodeIrta, irtaSizeForEntries, GLOBAL_COMMAND_BITS } from '../vtd/registers.ts';
import { encodeIec } from '../vtd/invalidation.ts';

export interface IrEnable {
  /** IRT base (4 KiB aligned HPA). */
  readonly base: bigint;
  readonly eime: boolean;
  /** Table size in entries, a power of two 2..65536. */
  readonly entries: number;
  readonly cfi?: boolean;
}

/** @throws RangeError when `entries` is not a power of two in 2..65536 or base is misaligned. */
export function irEnableSequence(iommu: number, e: IrEnable, persistent = 0): { actions: Action[]; gcmd: number } {
  const bit = (name: keyof typeof GLOBAL_COMMAND_BITS): number => (1 << GLOBAL_COMMAND_BITS[name]) >>> 0;
  const kept = (persistent & ~bit('CFI')) >>> 0;
  const gcmd = (kept | bit('IRE') | (e.cfi ? bit('CFI') : 0)) >>> 0;
  return {
    actions: [
      { kind: 'write-irta', iommu, value: encodeIrta({ base: e.base, eime: e.eime, size: irtaSizeForEntries(e.entries) }) },
      { kind: 'write-gcmd', iommu, value: (kept | bit('SIRTP')) >>> 0 },
      { kind: 'invalidate-iec', iommu, descriptor: encodeIec({ granularity: 'global', indexMask: 0, interruptIndex: 0 }) },
      { kind: 'write-gcmd', iommu, value: gcmd },
    ],
    gcmd,
  };
}
