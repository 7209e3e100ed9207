/**
 * The IRT of each remapping unit as the hardware would read it, in the layout of
 * Linux's debugfs `/sys/kernel/debug/iommu/intel/ir_translation_struct`
 * (drivers/iommu/intel/debugfs.c `ir_tbl_remap_entry_show` / `ir_tbl_posted_entry_show`):
 * one row per present entry with the index, SrcID, DstID, vector and the raw halves
 * IRTE_high / IRTE_low, followed here by the decoded fields. Posted entries get their
 * own section as Linux prints them. A unit with IR disabled is listed as such.
 */
import type { PlatformState, IommuUnit } from '../platform/state.ts';
import { decodeIrte, IRTE_BYTES } from '../vtd/irte.ts';
import { decodeIrta, irtEntries, GLOBAL_STATUS_BITS } from '../vtd/registers.ts';
import { formatBdf } from '../pci/bdf.ts';
import { hexDigits } from '../bits/bits.ts';
import { describeIrte } from './trace.ts';

function unitDump(state: PlatformState, unit: IommuUnit): string[] {
  const enabled = (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRES)) !== 0;
  const irta = decodeIrta(unit.regs.irtaLatched);
  const latched = (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRTPS)) !== 0;
  if (!enabled && !latched) return [` Remapped Interrupt supported on IOMMU: ${unit.name} (IR disabled: GSTS.IRES=0, no table latched)`];
  const lines = [` Remapped Interrupt supported on IOMMU: ${unit.name}${enabled ? '' : ' (IR disabled: GSTS.IRES=0)'}`, ` IR table address:${irta.base.toString(16)}`, ''];
  const remapped: string[] = [];
  const posted: string[] = [];
  const n = irtEntries(irta.size);
  for (let index = 0; index < n; index++) {
    const raw = state.memory.readLE(irta.base + BigInt(index * IRTE_BYTES), IRTE_BYTES);
    if ((raw & 1n) === 0n) continue;
    const { irte } = decodeIrte(raw);
    const high = hexDigits(raw >> 64n, 16);
    const low = hexDigits(raw & ((1n << 64n) - 1n), 16);
    const cached = unit.iec.entries[index];
    const stale = cached !== undefined && cached.raw !== raw ? `  [IEC holds stale ${hexDigits(cached.raw, 32)}]` : '';
    const src = formatBdf(irte.sid).padEnd(8);
    const idx = String(index).padEnd(6);
    if (irte.mode === 'remapped') {
      remapped.push(` ${idx}${src}${hexDigits(irte.destination, 8)} ${hexDigits(irte.vector, 2)}  ${high}    ${low}    ${describeIrte(raw)}${stale}`);
    } else {
      posted.push(` ${idx}${src}${hexDigits(irte.virtualVector, 2)}  ${hexDigits(irte.pda >> 32n, 8)} ${hexDigits(irte.pda & 0xffff_ffffn, 8)}  ${high}    ${low}    ${describeIrte(raw)}${stale}`);
    }
  }
  lines.push(' Entry SrcID   DstID    Vct IRTE_high           IRTE_low            Decoded');
  lines.push(...(remapped.length ? remapped : [' (no present remapped-format entries)']));
  if (posted.length) {
    lines.push('', ` Posted Interrupt supported on IOMMU: ${unit.name}`, '', ' Entry SrcID   VV  PDA_high PDA_low   IRTE_high           IRTE_low            Decoded', ...posted);
  }
  const faults = unit.frcd.map((r, i) => [r, i] as const).filter(([r]) => r >> 127n === 1n);
  if (faults.length) lines.push('', ` Pending fault records: ${faults.map(([r, i]) => `FRCD${i}=${hexDigits(r, 32)}`).join(' ')}`);
  return lines;
}

/** The dump of every unit, blank line between units. */
export function formatIrtDump(state: PlatformState): string {
  return state.iommus.map((u) => unitDump(state, u).join('\n')).join('\n\n') + '\n';
}
