/**
 * Register semantics of a remapping unit's interrupt-remapping controls (VT-d §10.4.4
 * GCMD_REG, §10.4.5 GSTS_REG, §10.4.29 IRTA_REG; Linux `iommu_set_irq_remapping`).
 *
 * GCMD is write-only: every write carries the persistent bits (TE, EAFL, QIE, IRE,
 * CFI) as software wants them, plus one-shot bits (SRTP, SFL, WBF, SIRTP). The
 * hardware mirrors persistent bits into GSTS and performs one-shots: SIRTP latches
 * IRTA_REG — only the latched value is used to remap — and sets GSTS.IRTPS; with
 * CAP.ESIRTPS it also invalidates the IEC globally.
 */
import type { IommuUnit } from '../platform/state.ts';
import { decodeCap, decodeEcap, decodeIrta, encodeIrta, GLOBAL_COMMAND_BITS, GLOBAL_STATUS_BITS } from './registers.ts';
import { iecInvalidate } from './iec.ts';

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
  for (const [cmd, status] of PERSISTENT) {
    const on = wants(cmd) && supported(cmd);
    if (wants(cmd) && !on) notes.push(`${cmd} ignored: not supported by ECAP`);
    if (on) gcmd |= bit(GLOBAL_COMMAND_BITS[cmd]);
    gsts = on ? gsts | bit(GLOBAL_STATUS_BITS[status]) : gsts & ~bit(GLOBAL_STATUS_BITS[status]);
  }

  let regs = { ...unit.regs };
  let iec = unit.iec;
  for (const [cmd, status] of ONE_SHOT) {
    if (!wants(cmd)) continue;
    if (!supported(cmd)) {
      notes.push(`${cmd} ignored: not supported by ECAP`);
      continue;
    }
    gsts |= bit(GLOBAL_STATUS_BITS[status]);
    if (cmd === 'SRTP') regs = { ...regs, rtaddrLatched: regs.rtaddr };
    if (cmd === 'SIRTP') {
      let latched = regs.irta;
      const irta = decodeIrta(latched);
      if (irta.eime && !ecap.EIM) {
        notes.push('IRTA.EIME ignored: ECAP.EIM = 0');
        latched = encodeIrta({ base: irta.base, eime: false, size: irta.size });
      }
      regs = { ...regs, irtaLatched: latched };
      if (cap.ESIRTPS) iec = iecInvalidate(iec).iec;
    }
  }
  if (wants('IRE') && supported('IRE') && (unit.regs.gsts & bit(GLOBAL_STATUS_BITS.IRTPS)) === 0 && !wants('SIRTP')) {
    notes.push('IRE set before any SIRTP: the unit remaps through IRTA 0');
  }
  gsts >>>= 0;
  return {
    unit: { ...unit, regs: { ...regs, gcmd: gcmd >>> 0, gsts }, iec },
    changed: gstsChanges(unit.regs.gsts, gsts),
    note: notes.length > 0 ? notes.join('; ') : undefined,
  };
}

/** Apply a 64-bit write to RTADDR_REG (takes effect at the next SRTP). */
export function writeRtaddr(unit: IommuUnit, value: bigint): RegisterWriteResult {
  return { unit: { ...unit, regs: { ...unit.regs, rtaddr: value } }, changed: [], note: undefined };
}

/** Apply a 64-bit write to IRTA_REG (takes effect at the next SIRTP). */
export function writeIrta(unit: IommuUnit, value: bigint): RegisterWriteResult {
  const irta = decodeIrta(value);
  const note = irta.reserved !== 0n ? `reserved IRTA bits 0x${irta.reserved.toString(16)} set` : undefined;
  return { unit: { ...unit, regs: { ...unit.regs, irta: value } }, changed: [], note };
}
