/**
 * The register section of `remapsim dump`, per unit, after its IRT: the registers this model
 * implements in the layout of Linux's debugfs `/sys/kernel/debug/iommu/intel/iommu_regset`
 * (drivers/iommu/intel/debugfs.c `iommu_regset_show`: "IOMMU: dmarN Register Base Address:
 * …", then `Name  Offset  Contents` rows, 32-bit registers first, contents as 16 hex digits;
 * the real Kaby Lake example is data/real-inputs/debugfs/intel-iommu-debugfs-kabylake-examples.txt),
 * each row followed here by its decoded fields; then every fault record with F set decoded as
 * Linux's `dmar_fault_do_one` logs it; then the invalidation queue in the layout of debugfs
 * `invalidation_queue` (`invalidation_queue_show`: Base, Head, Tail, then `Index qw0 qw1 status`
 * rows — here only the slots that are not zero).
 */
import type { IommuUnit, PlatformState } from '../platform/state.ts';
import { decodeFaultRecord, faultRecordInterruptIndex } from '../vtd/fault-record.ts';
import { faultReason, isInterruptRemappingFault } from '../vtd/fault-reasons.ts';
import { directPostFaultReason } from '../hypothetical/direct-post/faults.ts';
import { describeDpta } from '../hypothetical/direct-post/table.ts';
import {
  capFaultRecordOffset,
  decodeCap,
  decodeEcap,
  decodeGsts,
  ecapIotlbOffset,
  GLOBAL_STATUS_BITS,
  IQERCD_REG,
  IQEI_NAMES,
  REGISTER_OFFSETS,
} from '../vtd/registers.ts';
import { describeEventControl, describeIcs } from '../vtd/fault-event.ts';
import { describeEventAddress, describeEventData, describeFsts, describeIqa } from '../vtd/register-text.ts';
import { describeDescriptor, queueGeometry, slotOf } from '../vtd/invalidation-queue.ts';
import { defaultQueue } from '../platform/ir-enable.ts';
import { decodeIrta, irtEntries } from '../vtd/registers.ts';
import { RTADDR, frameAddress } from '../vtd/dma/structures.ts';
import { formatBdf } from '../pci/bdf.ts';
import { hexDigits } from '../bits/bits.ts';

const q = (v: bigint | number): string => `0x${hexDigits(BigInt(v) & 0xffff_ffff_ffff_ffffn, 16)}`;
const h = (v: bigint | number): string => `0x${v.toString(16)}`;

/** One `iommu_regset` row (name padded to 24 columns, offset to 16, as the debugfs example shows), then the decoded fields. */
function row(name: string, offset: number, value: bigint | number, decoded: string): string {
  return ` ${name.padEnd(24)}${`0x${hexDigits(offset, 2)}`.padEnd(16)}${q(value)}${decoded ? `  ${decoded}` : ''}`;
}

function gstsText(gsts: number): string {
  const g = decodeGsts(gsts);
  return (Object.keys(GLOBAL_STATUS_BITS) as (keyof typeof GLOBAL_STATUS_BITS)[]).map((k) => `${k}=${+g[k]}`).join(' ');
}

/** The `iommu_regset` section of `unit`. */
function regsetRows(unit: IommuUnit, hostAddressWidth: number): string[] {
  const r = unit.regs;
  const cap = decodeCap(unit.cap);
  const ecap = decodeEcap(unit.ecap);
  const irta = decodeIrta(r.irtaLatched);
  const rt = RTADDR.decode(r.rtaddrLatched);
  const g = queueGeometry(r.iqa, hostAddressWidth);
  const iqer = IQERCD_REG.decode(r.iqer);
  const o = REGISTER_OFFSETS;
  const iro = ecapIotlbOffset(ecap.IRO);
  return [
    ` IOMMU: ${unit.name} Register Base Address: ${unit.registerBase.toString(16)}`,
    '',
    ` ${'Name'.padEnd(24)}${'Offset'.padEnd(16)}Contents`,
    row('GSTS', o.GSTS, r.gsts, gstsText(r.gsts)),
    row('FSTS', o.FSTS, r.fsts, describeFsts(r.fsts)),
    row('FECTL', o.FECTL, r.fectl, describeEventControl(r.fectl)),
    row('FEDATA', o.FEDATA, r.fedata, describeEventData(r.fedata)),
    row('FEADDR', o.FEADDR, r.feaddr, describeEventAddress(r.feaddr)),
    row('FEUADDR', o.FEUADDR, r.feuaddr, ecap.EIM ? `destination bits 31:8 = ${h(r.feuaddr >>> 8)}` : 'ignored (ECAP.EIM = 0)'),
    row('ICS', o.ICS, r.ics, describeIcs(r.ics)),
    row('IECTL', o.IECTL, r.iectl, describeEventControl(r.iectl)),
    row('IEDATA', o.IEDATA, r.iedata, describeEventData(r.iedata)),
    row('IEADDR', o.IEADDR, r.ieaddr, describeEventAddress(r.ieaddr)),
    row('IEUADDR', o.IEUADDR, r.ieuaddr, ''),
    row('CAP', o.CAP, unit.cap, `NFR=${cap.NFR} (${cap.NFR + 1} FRCDs at ${h(capFaultRecordOffset(cap.FRO))}) PSI=${+cap.PSI} MAMV=${cap.MAMV} PI=${+cap.PI} ESIRTPS=${+cap.ESIRTPS} ESRTPS=${+cap.ESRTPS}`),
    row('ECAP', o.ECAP, unit.ecap, `QI=${+ecap.QI} DT=${+ecap.DT} IR=${+ecap.IR} EIM=${+ecap.EIM} PT=${+ecap.PT} SMTS=${+ecap.SMTS} IRO=${h(iro)}`),
    row('RTADDR', o.RTADDR, r.rtaddr, `latched: root table ${h(frameAddress(rt.RTA))} TTM=${rt.TTM}`),
    row('CCMD', o.CCMD, r.ccmd, ''),
    row('IQH', o.IQH, r.iqh, `slot ${slotOf(r.iqh, g.wide)}`),
    row('IQT', o.IQT, r.iqt, `slot ${slotOf(r.iqt, g.wide)}`),
    row('IQA', o.IQA, r.iqa, describeIqa(r.iqa)),
    row('IQER', o.IQER, r.iqer, (r.fsts & 0x10) !== 0 ? `IQEI=${iqer.IQEI} (${IQEI_NAMES[iqer.IQEI] ?? 'reserved'})` : 'IQEI valid only with FSTS.IQE'),
    row('IRTA', o.IRTA, r.irta, `latched: base ${h(irta.base)} EIME=${+irta.eime} S=${irta.size} (${irtEntries(irta.size)} entries)`),
    row('IVA', iro, r.iva, ''),
    row('IOTLB', iro + 8, r.iotlb, ''),
  ];
}

/** Every fault record with F set, as Linux `dmar_fault_do_one` prints it (drivers/iommu/intel/dmar.c). */
function faultRows(unit: IommuUnit): string[] {
  const base = capFaultRecordOffset(decodeCap(unit.cap).FRO);
  const out: string[] = [];
  unit.frcd.forEach((raw, i) => {
    const { record: f } = decodeFaultRecord(raw);
    if (!f.fault) return;
    const dev = formatBdf(f.sourceId);
    // HYPOTHETICAL direct-post reasons 0xD0–0xD5 (a unit with the extension): FI[63:48] is the vAPIC ID.
    const dp = unit.directPost === undefined ? undefined : directPostFaultReason(f.faultReason);
    const reason = `[fault reason 0x${hexDigits(f.faultReason, 2)}] ${dp?.description ?? faultReason(f.faultReason)?.description ?? 'Unknown'}`;
    const text = dp !== undefined
      ? `[DIRECT-POST (hypothetical)] Request device [${dev}] vAPIC ID ${faultRecordInterruptIndex(f)} ${reason}`
      : isInterruptRemappingFault(f.faultReason)
      ? `[INTR-REMAP] Request device [${dev}] fault index ${h(faultRecordInterruptIndex(f))} ${reason}`
      : `[${f.readOrAtomic ? 'DMA Read' : 'DMA Write'} ${f.pasidPresent ? `PASID ${h(f.pasidValue)}` : 'NO_PASID'}] Request device [${dev}] fault addr ${h(f.faultInfo)} ${reason}`;
    out.push(` FRCD${i} (${h(base + 16 * i)}) ${hexDigits(raw, 32)}: ${text}`);
  });
  return out;
}

/** The debugfs `invalidation_queue` section: Base, Head, Tail, then the slots that are not zero. */
function queueRows(state: PlatformState, unit: IommuUnit): string[] {
  const r = unit.regs;
  if (r.iqa === 0n && (r.gsts & (1 << GLOBAL_STATUS_BITS.QIES)) === 0) return [];
  const g = queueGeometry(r.iqa, state.hostAddressWidth);
  const statusBase = defaultQueue(unit.index, g.wide).base === g.base ? defaultQueue(unit.index, g.wide).statusBase : undefined;
  const lines = [
    ` Invalidation queue on IOMMU: ${unit.name}${(r.gsts & (1 << GLOBAL_STATUS_BITS.QIES)) === 0 ? ' (GSTS.QIES = 0: disabled)' : ''}`,
    ` Base: ${h(g.base)}\tHead: ${slotOf(r.iqh, g.wide)}\tTail: ${slotOf(r.iqt, g.wide)}`,
    g.wide ? ' Index\t\tqw0\t\t\tqw1\t\t\tqw2\t\t\tqw3\t\t\tstatus' : ' Index\t\tqw0\t\t\tqw1\t\t\tstatus',
  ];
  let shown = 0;
  for (let i = 0; i < g.entries; i++) {
    const raw = state.memory.readLE(g.base + BigInt(i * g.descriptorBytes), g.descriptorBytes);
    if (raw === 0n) continue;
    shown++;
    const qw = (n: number): string => hexDigits((raw >> BigInt(64 * n)) & 0xffff_ffff_ffff_ffffn, 16);
    const status = statusBase === undefined ? '-' : hexDigits(state.memory.readLE(statusBase + BigInt(4 * i), 4), 16);
    lines.push(` ${String(i).padStart(5)}\t${qw(0)}\t${qw(1)}\t${g.wide ? `${qw(2)}\t${qw(3)}\t` : ''}${status}  ${describeDescriptor(raw)}`);
  }
  if (shown === 0) lines.push(' (every slot is zero)');
  return lines;
}

/** The register, fault-record and invalidation-queue lines of `unit` (starting with a blank line). */
export function registerSection(state: PlatformState, unit: IommuUnit): string[] {
  const faults = faultRows(unit);
  const queue = queueRows(state, unit);
  // HYPOTHETICAL direct-post register: it has no MMIO offset of its own (the primitive write-dpta writes it).
  const dpta = unit.directPost === undefined ? [] : [` ${'DPTA (hypothetical)'.padEnd(24)}${'-'.padEnd(16)}0x${hexDigits(unit.directPost.dpta, 16)}  ${describeDpta(unit.directPost.dpta)}, ${unit.directPost.cache.order.length} cached entries`];
  return ['', ...regsetRows(unit, state.hostAddressWidth), ...dpta, ...(faults.length ? ['', ...faults] : []), ...(queue.length ? ['', ...queue] : [])];
}
