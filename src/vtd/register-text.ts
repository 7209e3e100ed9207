/**
 * Decoded one-line views of the invalidation-queue, fault-event and register-invalidation
 * registers and of the events they produce, for the trace (src/scenario/trace.ts) and the dump
 * (src/scenario/dump.ts). Field names as in the VT-d spec §11.4 (src/vtd/registers.ts).
 */
import type { EventInterruptEvent, InvalidationEvent, RegisterName } from '../platform/events.ts';
import {
  CCMD_REG,
  EVENT_ADDRESS_REG,
  EVENT_DATA_REG,
  decodeFsts,
  IOTLB_REG,
  IQA_REG,
  IQEI_NAMES,
  IVA_REG,
} from './registers.ts';
import { GRANULARITY } from './dma/invalidation-dma.ts';
import { decodeCompatibilityAddress, decodeMsiData, DELIVERY_MODE_NAMES } from '../x86/msi.ts';
import { hexDigits } from '../bits/bits.ts';
import { formatBdf } from '../pci/bdf.ts';

const h = (v: number | bigint): string => `0x${v.toString(16)}`;

/** FSTS bits by name, low to high (sheet §5.4). */
const FSTS_BITS: readonly (readonly [string, number])[] = [
  ['PFO', 0],
  ['PPF', 1],
  ['AFO', 2],
  ['APF', 3],
  ['IQE', 4],
  ['ICE', 5],
  ['ITE', 6],
  ['PRO', 7],
];

/** `PFO=0 PPF=1 … FRI=3`: an FSTS value decoded. */
export function describeFsts(value: number): string {
  const f = decodeFsts(value);
  return `PFO=${+f.PFO} PPF=${+f.PPF} IQE=${+f.IQE} ICE=${+f.ICE} ITE=${+f.ITE} FRI=${f.FRI}`;
}

/** An interrupt message's data decoded: `vector 0x61 fixed edge`. */
export function describeEventData(value: number): string {
  const d = decodeMsiData(Number(EVENT_DATA_REG.decode(BigInt(value >>> 0)).IMD));
  return `vector ${h(d.vector)} ${DELIVERY_MODE_NAMES[d.deliveryMode] ?? d.deliveryMode} ${d.triggerLevel ? 'level' : 'edge'}`;
}

/** An interrupt message's address decoded: `destination 0x1 physical`. */
export function describeEventAddress(value: number): string {
  const a = decodeCompatibilityAddress(BigInt((EVENT_ADDRESS_REG.decode(BigInt(value >>> 0)).MA * 4) >>> 0));
  const base = a.base === 0xfee ? '' : ' (not in 0xFEEx_xxxx: a memory write)';
  return `destination ${h(a.destinationId)} ${a.destinationModeLogical ? 'logical' : 'physical'}${a.redirectionHint ? ' RH' : ''}${base}`;
}

/** IQA decoded: `base 0x64000000, DW=0 (128-bit), QS=0 (256 descriptors)`. */
export function describeIqa(value: bigint): string {
  const f = IQA_REG.decode(value);
  const entries = (4096 << f.QS) / (f.DW ? 32 : 16);
  return `base ${h(BigInt(f.IQA) << 12n)}, DW=${+f.DW} (${f.DW ? 256 : 128}-bit), QS=${f.QS} (${entries} descriptors)`;
}

/** The decoded part of a register-write line for `register`. */
export function describeRegisterValue(register: RegisterName, value: bigint): string {
  const v32 = Number(value & 0xffff_ffffn);
  switch (register) {
    case 'IQA':
      return describeIqa(value);
    case 'IQT':
      return `tail offset ${h(value & 0x7_fff0n)}`;
    case 'FSTS': {
      const names = FSTS_BITS.filter(([, b]) => (v32 >>> b) & 1).map(([n]) => n);
      return names.length ? `write 1 to clear ${names.join(' ')}` : 'clears nothing';
    }
    case 'FECTL':
    case 'IECTL':
      return `IM=${(v32 >>> 31) & 1}`;
    case 'FEDATA':
    case 'IEDATA':
      return describeEventData(v32);
    case 'FEADDR':
    case 'IEADDR':
      return describeEventAddress(v32);
    case 'FEUADDR':
    case 'IEUADDR':
      return `upper address; destination bits 31:8 = ${h(v32 >>> 8)}`;
    case 'ICS':
      return (v32 & 1) !== 0 ? 'write 1 to clear IWC' : 'clears nothing';
    case 'CCMD': {
      const f = CCMD_REG.decode(value);
      return `${f.ICC ? 'ICC ' : ''}CIRG=${GRANULARITY.contextCache[f.CIRG]} DID ${f.DID} SID ${formatBdf(f.SID)} FM ${f.FM}`;
    }
    case 'IVA': {
      const f = IVA_REG.decode(value);
      return `ADDR ${h(BigInt(f.ADDR) << 12n)} AM ${f.AM}${f.IH ? ' IH' : ''}`;
    }
    case 'IOTLB': {
      const f = IOTLB_REG.decode(value);
      return `${f.IVT ? 'IVT ' : ''}IIRG=${GRANULARITY.iotlb[f.IIRG]} DID ${f.DID}${f.DR ? ' DR' : ''}${f.DW ? ' DW' : ''}`;
    }
  }
}

/** `dmar0 IQT ← 0000000000000020 (tail offset 0x20)`. */
export function formatRegisterWrite(unit: string, register: RegisterName, value: bigint, changed: readonly string[], note: string | undefined): string {
  const digits = register === 'IQA' || register === 'IQT' || register === 'CCMD' || register === 'IVA' || register === 'IOTLB' ? 16 : 8;
  return `${unit} ${register} ← ${hexDigits(value, digits)} (${describeRegisterValue(register, value)})${changed.length ? ` [${changed.join(' ')}]` : ''}${note ? `  (${note})` : ''}`;
}

/** `dmar0 context-cache global (queue slot 2): dropped 3 context entries`. */
export function formatInvalidation(unit: string, e: InvalidationEvent): string {
  const where = e.via === 'queue' ? (e.slot === undefined ? ' (queue)' : ` (queue slot ${e.slot})`) : e.via === 'register' ? ' (register)' : '';
  if (e.outcome === 'error') return `${unit} invalidation queue ERROR at ${e.slot === undefined ? 'the tail' : `slot ${e.slot}`}: ${e.descriptor === 0n ? '' : `${e.what}, `}${e.note ?? `IQEI ${e.iqei} ${IQEI_NAMES[e.iqei ?? 0]}`}`;
  if (e.outcome === 'ignored') return `${unit} ${e.what}${where}: ignored — ${e.note ?? ''}`;
  const d = e.dropped;
  const parts = d === undefined ? [] : ([[d.context, 'context'], [d.pasid, 'PASID'], [d.iotlb, 'IOTLB'], [d.pagingStructure, 'paging-structure']] as const).filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`);
  const dropped = d === undefined ? '' : `: dropped ${parts.length ? `${parts.join(', ')} entr${parts.length === 1 && (d.context + d.pasid + d.iotlb + d.pagingStructure) === 1 ? 'y' : 'ies'}` : 'nothing'}`;
  return `${unit} ${e.what}${where}${dropped}${e.note ? `${dropped ? '; ' : ': '}${e.note}` : ''}`;
}

/** `dmar0 fault event → MSI 00000000fee01000/00000061, not remapped: vector 0x61 fixed edge physical dest 0x1 → cpu1`. */
export function formatEventInterrupt(unit: string, e: EventInterruptEvent): string {
  const name = e.event === 'fault' ? 'fault event' : 'invalidation completion event';
  const msg = `${hexDigits(e.address, e.address >> 32n === 0n ? 8 : 16)}/${hexDigits(e.data, 8)}`;
  if (e.delivery === 'memory') return `${unit} ${name} → ${msg}: the address is outside 0xFEEx_xxxx, a DWORD written to memory`;
  const cpus = e.targets.length ? e.targets.map((c) => `cpu${c}`).join(',') : 'no CPU accepts it';
  return `${unit} ${name} → MSI ${msg}, not remapped: vector ${h(e.vector ?? 0)} ${DELIVERY_MODE_NAMES[e.deliveryMode ?? 0] ?? e.deliveryMode} ${e.destinationMode} dest ${h(e.destination ?? 0)} → ${cpus}`;
}
