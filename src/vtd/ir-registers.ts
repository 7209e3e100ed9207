/**
 * Register semantics of a remapping unit's interrupt-remapping controls (VT-d §10.4.4
 * GCMD_REG, §10.4.5 GSTS_REG, §10.4.29 IRTA_REG; Linux `iommu_set_irq_remapping`).
 *
 * GCMD is write-only: every write carries the persistent bits (TE, EAFL, QIE, IRE,
 * CFI) as software wants them, plus one-shot bits (SRTP, SFL, WBF, SIRTP). The
 * hardware mirrors persistent bits into GSTS and performs one-shots: SIRTP latches
 * IRTA_REG — only the latched value is used to remap — and sets GSTS.IRTPS; with
 * CAP.ESIRTPS (bit 62) it also invalidates the IEC globally, and so does clearing IRE
 * (Linux `iommu_set_irq_remapping` / `iommu_disable_irq_remapping` skip their global IEC
 * flush on such hardware, quoting the spec: "hardware performs global invalidation on all
 * Interrupt remapping caches as part of Interrupt Remapping Disable operation"). Without it
 * the IEC keeps the previous table's entries after SIRTP until software invalidates them
 * (asterinas/asterinas#3920; QEMU and VirtualBox implement no ESIRTPS). Likewise SRTP with
 * CAP.ESRTPS (bit 63) invalidates the DMA-remapping caches (Linux `iommu_set_root_entry`
 * returns early on `cap_esrtps`; QEMU `vtd_handle_gcmd_srtp` always resets its caches).
 *
 * QIE (queued invalidation, VT-d §6.5.2, §11.4.4.1): enabling needs ECAP.QI and an empty queue
 * with IQT = 0 (Linux `__dmar_enable_qi` writes IQT = 0 before IQA and QIE); otherwise QIES
 * stays clear [derived: the spec leaves it undefined; QEMU `vtd_handle_gcmd_qie` enables and
 * processes 0..IQT for Windows guests]. Disabling needs the queue drained (IQH = IQT; QEMU
 * `vtd_queued_inv_disable_check` also wants the last descriptor to be a wait) and resets IQH
 * to 0 ("Hardware resets this field to 0 whenever the queued invalidation is disabled",
 * IQH_REG).
 */
import type { IommuUnit, IrRegisters } from '../platform/state.ts';
import { decodeCap, decodeEcap, decodeIrta, encodeIrta, GLOBAL_COMMAND_BITS, GLOBAL_STATUS_BITS } from './registers.ts';
import { iecInvalidate } from './iec.ts';
import { emptyDmaCaches } from './dma/caches.ts';
import { EVENT_IM } from './fault-event.ts';
import { U64_MASK } from '../bits/bits.ts';

/**
 * Register values after reset (VT-d §11.4): everything 0 but FECTL.IM and IECTL.IM, which
 * hardware sets on reset ("1: This is the value on reset"; QEMU `vtd_define_long(s,
 * DMAR_FECTL_REG, 0x80000000, ...)`, `DMAR_IECTL_REG` likewise).
 */
export function resetRegisters(): IrRegisters {
  return {
    irta: 0n,
    irtaLatched: 0n,
    rtaddr: 0n,
    rtaddrLatched: 0n,
    gcmd: 0,
    gsts: 0,
    fsts: 0,
    fectl: EVENT_IM,
    fedata: 0,
    feaddr: 0,
    feuaddr: 0,
    iqa: 0n,
    iqh: 0n,
    iqt: 0n,
    iqer: 0n,
    ics: 0,
    iectl: EVENT_IM,
    iedata: 0,
    ieaddr: 0,
    ieuaddr: 0,
    ccmd: 0n,
    iva: 0n,
    iotlb: 0n,
  };
}

/** Persistent GCMD bit → the GSTS bit that reports it. */
const PERSISTENT: readonly (readonly [keyof typeof GLOBAL_COMMAND_BITS, keyof typeof GLOBAL_STATUS_BITS])[] = [
  ['TE', 'TES'],
  ['EAFL', 'AFLS'],
  ['QIE', 'QIES'],
  ['IRE', 'IRES'],
  ['CFI', 'CFIS'],
];

/** One-shot GCMD bit → the GSTS bit set when it completes. */
const ONE_SHOT: readonly (readonly [keyof typeof GLOBAL_COMMAND_BITS, keyof typeof GLOBAL_STATUS_BITS])[] = [
  ['SRTP', 'RTPS'],
  ['SFL', 'FLS'],
  ['SIRTP', 'IRTPS'],
];

/** GCMD bits that need an ECAP capability, and the capability. */
const NEEDS_IR: ReadonlySet<string> = new Set(['IRE', 'SIRTP', 'CFI']);

const bit = (n: number): number => (1 << n) >>> 0;

/** GSTS bits that differ between `before` and `after`, as `NAME+` / `NAME-`. */
export function gstsChanges(before: number, after: number): string[] {
  return Object.entries(GLOBAL_STATUS_BITS)
    .filter(([, n]) => ((before ^ after) & bit(n)) !== 0)
    .map(([name, n]) => `${name}${after & bit(n) ? '+' : '-'}`);
}

export interface RegisterWriteResult {
  readonly unit: IommuUnit;
  readonly changed: string[];
  readonly note: string | undefined;
}

/** Apply a 32-bit write to GCMD_REG. */
export function writeGcmd(unit: IommuUnit, value: number): RegisterWriteResult {
  const ecap = decodeEcap(unit.ecap);
  const cap = decodeCap(unit.cap);
  const notes: string[] = [];
  const supported = (name: string): boolean => {
    if (NEEDS_IR.has(name) && !ecap.IR) return false;
    if (name === 'QIE' && !ecap.QI) return false;
    return true;
  };
  const wants = (name: keyof typeof GLOBAL_COMMAND_BITS): boolean => (value & bit(GLOBAL_COMMAND_BITS[name])) !== 0;

  let gsts = unit.regs.gsts;
  let gcmd = 0;
  let regs = { ...unit.regs };
  let iec = unit.iec;
  let dma = unit.dma;
  const was = (status: keyof typeof GLOBAL_STATUS_BITS): boolean => (unit.regs.gsts & bit(GLOBAL_STATUS_BITS[status])) !== 0;
  for (const [cmd, status] of PERSISTENT) {
    let on = wants(cmd) && supported(cmd);
    if (wants(cmd) && !on) notes.push(`${cmd} ignored: not supported by ECAP`);
    if (cmd === 'QIE' && on && !was('QIES') && regs.iqt !== 0n) {
      notes.push(`QIE not enabled: IQT = 0x${regs.iqt.toString(16)} (software must write IQT = 0 before enabling queued invalidation)`);
      on = false;
    }
    if (cmd === 'QIE' && !on && was('QIES') && regs.iqh !== regs.iqt) {
      notes.push(`QIE not cleared: the queue is not drained (IQH 0x${regs.iqh.toString(16)}, IQT 0x${regs.iqt.toString(16)})`);
      on = true;
    }
    if (cmd === 'QIE' && !on && was('QIES')) regs = { ...regs, iqh: 0n };
    if (cmd === 'IRE' && !on && was('IRES') && cap.ESIRTPS) {
      const r = iecInvalidate(iec);
      iec = r.iec;
      notes.push(`CAP.ESIRTPS: interrupt-remapping disable invalidates the IEC (${r.dropped.length} dropped)`);
    }
    if (on) gcmd |= bit(GLOBAL_COMMAND_BITS[cmd]);
    gsts = on ? gsts | bit(GLOBAL_STATUS_BITS[status]) : gsts & ~bit(GLOBAL_STATUS_BITS[status]);
  }

  for (const [cmd, status] of ONE_SHOT) {
    if (!wants(cmd)) continue;
    if (!supported(cmd)) {
      notes.push(`${cmd} ignored: not supported by ECAP`);
      continue;
    }
    gsts |= bit(GLOBAL_STATUS_BITS[status]);
    if (cmd === 'SRTP') {
      regs = { ...regs, rtaddrLatched: regs.rtaddr };
      if (cap.ESRTPS) {
        dma = emptyDmaCaches(dma.capacities);
        notes.push('CAP.ESRTPS: SRTP invalidates the context, PASID, IOTLB and paging-structure caches');
      }
    }
    if (cmd === 'SIRTP') {
      let latched = regs.irta;
      const irta = decodeIrta(latched);
      if (irta.eime && !ecap.EIM) {
        notes.push('IRTA.EIME ignored: ECAP.EIM = 0');
        latched = encodeIrta({ base: irta.base, eime: false, size: irta.size });
      }
      regs = { ...regs, irtaLatched: latched };
      if (cap.ESIRTPS) {
        const r = iecInvalidate(iec);
        iec = r.iec;
        notes.push(`CAP.ESIRTPS: SIRTP invalidates the IEC (${r.dropped.length} dropped)`);
      } else if (iec.order.length > 0) {
        notes.push(`CAP.ESIRTPS = 0: the IEC keeps ${iec.order.length} entr${iec.order.length === 1 ? 'y' : 'ies'} read from the previous table until a global IEC invalidation`);
      }
    }
  }
  if (wants('IRE') && supported('IRE') && (unit.regs.gsts & bit(GLOBAL_STATUS_BITS.IRTPS)) === 0 && !wants('SIRTP')) {
    notes.push('IRE set before any SIRTP: the unit remaps through IRTA 0');
  }
  gsts >>>= 0;
  return {
    unit: { ...unit, regs: { ...regs, gcmd: gcmd >>> 0, gsts }, iec, dma },
    changed: gstsChanges(unit.regs.gsts, gsts),
    note: notes.length > 0 ? notes.join('; ') : undefined,
  };
}

/** Apply a 64-bit write to RTADDR_REG (takes effect at the next SRTP). */
export function writeRtaddr(unit: IommuUnit, value: bigint): RegisterWriteResult {
  return { unit: { ...unit, regs: { ...unit.regs, rtaddr: value } }, changed: [], note: undefined };
}

/**
 * The 64-bit value software writes to IRTA_REG for a table at `base` (bytes): Linux
 * `iommu_set_irq_remapping` writes `addr | IR_X2APIC_MODE(mode) | INTR_REMAP_TABLE_REG_SIZE`
 * unmasked, so a base that is not 4 KiB-aligned puts its low 12 bits into EIME (bit 11),
 * the reserved bits 10:4 and S (3:0) — VT-d §11.4.8.1 IRTA_REG: the table address is
 * bits 63:12 only, so the register keeps the base truncated to its 4 KiB frame, and the
 * low bits are what the write says they are (a reserved-bit note on the write, a larger S
 * or EIME). Bits above 63 are not part of a 64-bit register write and are dropped. Never throws.
 */
export function irtaRegisterWrite(base: bigint, eime: boolean, size: number): bigint {
  return ((base & U64_MASK) | (eime ? 1n << 11n : 0n) | BigInt(size & 0xf)) & U64_MASK;
}

/** Apply a 64-bit write to IRTA_REG (takes effect at the next SIRTP). */
export function writeIrta(unit: IommuUnit, value: bigint): RegisterWriteResult {
  const irta = decodeIrta(value);
  const note = irta.reserved !== 0n ? `reserved IRTA bits 0x${irta.reserved.toString(16)} set` : undefined;
  return { unit: { ...unit, regs: { ...unit.regs, irta: value } }, changed: [], note };
}
