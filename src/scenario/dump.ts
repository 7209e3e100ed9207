/**
 * The IRT of each remapping unit as the hardware would read it, in the layout of
 * Linux's debugfs `/sys/kernel/debug/iommu/intel/ir_translation_struct`
 * (drivers/iommu/intel/debugfs.c `ir_tbl_remap_entry_show` / `ir_tbl_posted_entry_show`):
 * one row per present entry with the index, SrcID, DstID, vector and the raw halves
 * IRTE_high / IRTE_low, followed here by the decoded fields. Posted entries get their
 * own section as Linux prints them. A unit with IR disabled is listed as such.
 *
 * Then the same table in the layout of Xen's 'V' debug key (xen/drivers/passthrough/
 * vtd/utils.c `dump_iommu_info`: `SVT SQ SID DST V AVL DLM TM RH DM FPD P` rows; newer
 * Xen prefixes remapped rows with "R:" and posted ones with "P:"), where each posted
 * entry is followed by the posted-interrupt descriptor it points at: PIR as a vector
 * list, ON, SN, NV, NDST, and the vCPU that owns it.
 */
import type { PlatformState, IommuUnit } from '../platform/state.ts';
import { decodeIrte, IRTE_BYTES } from '../vtd/irte.ts';
import { decodeIrta, irtEntries, GLOBAL_STATUS_BITS } from '../vtd/registers.ts';
import { formatBdf } from '../pci/bdf.ts';
import { hexDigits } from '../bits/bits.ts';
import { describeIrte, vcpuName } from './trace.ts';
import { readPid } from '../vtd/pid-memory.ts';
import { pirVectors } from '../vtd/pid.ts';
import { vcpuList } from '../platform/vcpu-table.ts';

const x = (v: number | bigint, digits: number): string => v.toString(16).padStart(digits, '0');

/** Xen 'V'-key rows for the present entries of `unit`'s table, with the PID under each posted entry. */
function xenRows(state: PlatformState, unit: IommuUnit): string[] {
  const irta = decodeIrta(unit.regs.irtaLatched);
  const n = irtEntries(irta.size);
  const lines = [
    ` iommu ${unit.index} (${unit.name}): Interrupt remapping table (nr_entry=0x${n.toString(16)}. Only dump P=1 entries here):`,
    '  R means remapped format, P means posted format.',
    '  R:       SVT  SQ   SID      DST  V  AVL DLM TM RH DM FPD P',
    '  P:       SVT  SQ   SID  V  AVL FPD              PDA  URG P',
  ];
  for (let index = 0; index < n; index++) {
    const raw = state.memory.readLE(irta.base + BigInt(index * IRTE_BYTES), IRTE_BYTES);
    if ((raw & 1n) === 0n) continue;
    const { irte } = decodeIrte(raw);
    const head = `${x(index, 4)}:  ${irte.svt}   ${irte.sq}  ${x(irte.sid, 4)}`;
    if (irte.mode === 'remapped') {
      lines.push(`  R:  ${head} ${x(irte.destination, 8)} ${x(irte.vector, 2)}    ${irte.avail.toString(16)}   ${irte.deliveryMode}  ${+irte.triggerLevel}  ${+irte.redirectionHint}  ${+irte.destinationModeLogical}   ${+irte.fpd} 1`);
      continue;
    }
    lines.push(`  P:  ${head} ${x(irte.virtualVector, 2)}    ${irte.avail.toString(16)}   ${+irte.fpd} ${x(irte.pda, 16)}    ${+irte.urgent} 1`);
    const { pid } = readPid(state.memory, irte.pda);
    const owner = vcpuList(state.vcpus).find((v) => v.pda === irte.pda);
    const vectors = pirVectors(pid.pir).map((v) => `0x${v.toString(16)}`).join(',');
    lines.push(
      `        PID ${x(irte.pda, 16)}${owner === undefined ? ' (no vCPU owns it)' : ` (${vcpuName(state, owner.id)}, ${owner.run} on cpu${owner.pcpu})`}: PIR {${vectors}} ON=${+pid.on} SN=${+pid.sn} NV=0x${x(pid.nv, 2)} NDST=0x${x(pid.ndst, 8)}`,
    );
  }
  return lines;
}

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
  lines.push('', ...xenRows(state, unit));
  const faults = unit.frcd.map((r, i) => [r, i] as const).filter(([r]) => r >> 127n === 1n);
  if (faults.length) lines.push('', ` Pending fault records: ${faults.map(([r, i]) => `FRCD${i}=${hexDigits(r, 32)}`).join(' ')}`);
  return lines;
}

/** The dump of every unit, blank line between units. */
export function formatIrtDump(state: PlatformState): string {
  return state.iommus.map((u) => unitDump(state, u).join('\n')).join('\n\n') + '\n';
}
