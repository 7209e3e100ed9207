/**
 * `remapsim dump` on an AMD-Vi platform (the vendor seam: `state.amdvi`), per unit, blank line
 * between units:
 *
 * 1. the unit and its EFR as Linux names it at boot (`AMD-Vi: Extended features (…): …`,
 *    drivers/iommu/amd/init.c `print_iommu_info`; src/amdvi/efr.ts `efrFeatureNames`);
 * 2. its MMIO registers as Linux's amd debugfs `iommuNN/mmio` file prints one
 *    (drivers/iommu/amd/debugfs.c `iommu_mmio_show`: `Offset:0x%x Value:0x%016llx`), one row per
 *    register the model implements, each followed here by its name and decoded fields
 *    (src/amdvi/registers.ts codecs);
 * 3. the command buffer as debugfs `iommuNN/cmdbuf` (`iommu_cmdbuf_show`: `CMD Buffer Head
 *    Offset:%d Tail Offset:%d`, then `%3d: %08x %08x %08x %08x` per entry, dwords 0..3) — here
 *    only the entries that are not zero, each with its decoded command;
 * 4. every DTE in use (not zero) in the layout of debugfs `devtbl` (`dump_dte`: a `%-12s %16s
 *    %16s %16s %16s iommu` header `DeviceId QWORD[3] … QWORD[0]`, then `%04x:%02x:%02x.%x `,
 *    the four qwords as `%016llx ` high first, and `iommu%d`), followed by the decoded fields and,
 *    when the unit's DTE cache holds another value, the stale copy;
 * 5. each such device's interrupt remapping table as debugfs `irqtbl` (`dump_irte`: `DeviceId
 *    %04x:%02x:%02x.%x`, then `IRT[%04d] %016llx %016llx` (hi, lo) for 128-bit entries or
 *    `IRT[%04d] %08x` for 32-bit ones — the unit's Control.GAEn decides, as Linux's
 *    `amd_iommu_guest_ir` — only entries with RemapEn = 1, 2^IntTabLen of them; a DTE whose
 *    IntTabLen is neither 9 nor 11 gets Linux's "The device's DTE contains an invalid IRT length
 *    value."), each row followed by its decoding, the vCPU whose backing page a guest-mode entry
 *    names, and any stale IRTE-cache copy;
 * 6. the same tables in the layout of Xen's AMD 'V' debug key (xen/drivers/passthrough/amd/
 *    iommu_intr.c `amd_iommu_dump_intremap_tables` / `dump_intremap_table`: `--- Dumping Per-dev
 *    IOMMU Interrupt Remapping Table ---`, `  ssss:bb:dd.f:` before a device's first non-zero
 *    entry, `    IRTE[%03x] %016lx_%016lx` (hi_lo) with GAEn or `    IRTE[%03x] %08x`; every
 *    entry that is not zero, RemapEn or not);
 * 7. the event log from head to tail, each entry as Linux logs it (`AMD-Vi: Event logged […]`,
 *    src/amdvi/event-log.ts `formatEventLinux`; the raw entry for codes whose format is not
 *    modelled), and every GA-log entry written (8 bytes: GATag 31:0, DeviceID 47:32, type 63:60;
 *    src/amdvi/ga-log.ts), marked when the hypervisor has consumed it.
 *
 * Pure: reads the state. A unit whose device table base is 0 gets one line instead of 4–6.
 */
import type { PlatformState } from '../platform/state.ts';
import type { AmdViUnit } from '../amdvi/unit.ts';
import { hexDigits } from '../bits/bits.ts';
import { efrFeatureNames } from '../amdvi/efr.ts';
import {
  AMDVI_MMIO,
  CONTROL_BITS,
  CONTROL_REGISTER,
  DEVICE_TABLE_BASE_REGISTER,
  EXCLUSION_BASE_REGISTER,
  EXCLUSION_LIMIT_REGISTER,
  GA_LOG_BASE_REGISTER,
  GA_LOG_POINTER_REGISTER,
  GA_LOG_TAIL_ADDRESS_REGISTER,
  RING_BASE_REGISTER,
  RING_POINTER_REGISTER,
  STATUS_REGISTER,
  deviceTableAddress,
  deviceTableBytes,
  regBit,
  ringAddress,
  ringBytes,
  ringEntries,
  ringOffset,
} from '../amdvi/registers.ts';
import { decodeDte, DTE_BYTES, dteInterruptTableRoot } from '../amdvi/dte.ts';
import { decodeAmdIrte, irteBytes } from '../amdvi/irte.ts';
import { decodeCommand, COMMAND_BYTES } from '../amdvi/commands.ts';
import { readEventLog, encodeEvent, formatEventLinux, eventCodeName } from '../amdvi/event-log.ts';
import { GA_LOG_ENTRY_BYTES } from '../amdvi/ga-log.ts';
import { cacheLookup, dteKey, irteKey } from '../amdvi/caches.ts';
import { describeAmdDte, describeAmdIrte } from './amdvi-trace.ts';
import { vcpuName } from './trace.ts';
import { vcpuList } from '../platform/vcpu-table.ts';

const x = (v: number | bigint, digits: number): string => v.toString(16).padStart(digits, '0');
const h = (v: number | bigint): string => `0x${v.toString(16)}`;
const QWORD = (1n << 64n) - 1n;

/** `ssss:bb:dd.f` as Linux and Xen print a DeviceID. */
function sbdf(segment: number, deviceId: number): string {
  return `${x(segment, 4)}:${x(deviceId >> 8, 2)}:${x((deviceId >> 3) & 0x1f, 2)}.${(deviceId & 7).toString(16)}`;
}

/** Named fields of a decoded register that are set: one-bit fields by name, wider ones as `Name=0x…`. */
function setFields(decoded: Record<string, unknown>): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(decoded)) {
    if (v === true) out.push(k);
    else if ((typeof v === 'number' || typeof v === 'bigint') && v !== 0 && v !== 0n) out.push(`${k}=${h(v)}`);
  }
  return out.length === 0 ? '(all zero)' : out.join(' ');
}

/** One `mmio` row: Linux's `Offset:0x%x Value:0x%016llx`, then the register's name and decoding. */
function mmioRow(name: keyof typeof AMDVI_MMIO, value: bigint, decoded: string): string {
  return ` Offset:0x${AMDVI_MMIO[name].toString(16)} Value:0x${x(value & QWORD, 16)}  ${name}: ${decoded}`;
}

function registerRows(u: AmdViUnit): string[] {
  const r = u.regs;
  const ring = (v: bigint): string => (v === 0n ? '(all zero)' : `${setFields(RING_BASE_REGISTER.decode(v))} → ${ringEntries(v)} entries at ${h(ringAddress(v))}`);
  const ptr = (v: bigint): string => `offset ${h(ringOffset(v))} (entry ${Number(ringOffset(v) / 16n)})`;
  return [
    mmioRow('DEVICE_TABLE_BASE', r.deviceTableBase, r.deviceTableBase === 0n ? '(all zero)' : `${setFields(DEVICE_TABLE_BASE_REGISTER.decode(r.deviceTableBase))} → ${deviceTableBytes(r.deviceTableBase)} bytes (${deviceTableBytes(r.deviceTableBase) / 32n} DTEs) at ${h(deviceTableAddress(r.deviceTableBase))}`),
    mmioRow('COMMAND_BUFFER_BASE', r.commandBufferBase, ring(r.commandBufferBase)),
    mmioRow('EVENT_LOG_BASE', r.eventLogBase, ring(r.eventLogBase)),
    mmioRow('CONTROL', r.control, setFields(CONTROL_REGISTER.decode(r.control))),
    mmioRow('EXCLUSION_BASE', r.exclusionBase, setFields(EXCLUSION_BASE_REGISTER.decode(r.exclusionBase))),
    mmioRow('EXCLUSION_LIMIT', r.exclusionLimit, setFields(EXCLUSION_LIMIT_REGISTER.decode(r.exclusionLimit))),
    mmioRow('EXTENDED_FEATURES', u.efr, efrFeatureNames(u.efr, u.efr2) || '(none of the names Linux prints)'),
    mmioRow('PPR_LOG_BASE', r.pprLogBase, ring(r.pprLogBase)),
    mmioRow('GA_LOG_BASE', r.gaLogBase, setFields(GA_LOG_BASE_REGISTER.decode(r.gaLogBase))),
    mmioRow('GA_LOG_TAIL_ADDRESS', r.gaLogTailAddress, setFields(GA_LOG_TAIL_ADDRESS_REGISTER.decode(r.gaLogTailAddress))),
    mmioRow('EXTENDED_FEATURES_2', u.efr2, u.efr2 === 0n ? '(all zero)' : h(u.efr2)),
    mmioRow('COMMAND_HEAD', r.commandHead, ptr(r.commandHead)),
    mmioRow('COMMAND_TAIL', r.commandTail, ptr(r.commandTail)),
    mmioRow('EVENT_HEAD', r.eventHead, ptr(r.eventHead)),
    mmioRow('EVENT_TAIL', r.eventTail, ptr(r.eventTail)),
    mmioRow('STATUS', r.status, setFields(STATUS_REGISTER.decode(r.status))),
    mmioRow('PPR_HEAD', r.pprHead, setFields(RING_POINTER_REGISTER.decode(r.pprHead))),
    mmioRow('PPR_TAIL', r.pprTail, setFields(RING_POINTER_REGISTER.decode(r.pprTail))),
    mmioRow('GA_LOG_HEAD', r.gaLogHead, setFields(GA_LOG_POINTER_REGISTER.decode(r.gaLogHead))),
    mmioRow('GA_LOG_TAIL', r.gaLogTail, setFields(GA_LOG_POINTER_REGISTER.decode(r.gaLogTail))),
  ];
}

function commandRows(state: PlatformState, u: AmdViUnit): string[] {
  const r = u.regs;
  if (r.commandBufferBase === 0n) return [];
  const base = ringAddress(r.commandBufferBase);
  const n = ringEntries(r.commandBufferBase);
  const lines = [` CMD Buffer Head Offset:${Number(ringOffset(r.commandHead) >> 4n)} Tail Offset:${Number(ringOffset(r.commandTail) >> 4n)}`];
  let shown = 0;
  for (let i = 0; i < n; i++) {
    const raw = state.memory.readLE(base + BigInt(i * COMMAND_BYTES), COMMAND_BYTES);
    if (raw === 0n) continue;
    shown++;
    const dw = (k: number): string => x((raw >> BigInt(32 * k)) & 0xffff_ffffn, 8);
    const c = decodeCommand(raw);
    const what = c.name === 'UNKNOWN' ? `opcode ${h(c.opcode)} (unknown)` : `${c.name} ${setFields(c.fields as unknown as Record<string, unknown>)}`;
    lines.push(` ${String(i).padStart(3)}: ${dw(0)} ${dw(1)} ${dw(2)} ${dw(3)}  ${what}`);
  }
  if (shown === 0) lines.push(' (every entry is zero)');
  return lines;
}

/** DeviceIDs whose DTE is not zero, ascending. */
function dtesInUse(state: PlatformState, u: AmdViUnit): { deviceId: number; raw: bigint }[] {
  const base = u.regs.deviceTableBase;
  if (base === 0n) return [];
  const table = deviceTableAddress(base);
  const count = Number(deviceTableBytes(base) / BigInt(DTE_BYTES));
  const out: { deviceId: number; raw: bigint }[] = [];
  for (let id = 0; id < count; id++) {
    const raw = state.memory.readLE(table + BigInt(id * DTE_BYTES), DTE_BYTES);
    if (raw !== 0n) out.push({ deviceId: id, raw });
  }
  return out;
}

function devtblRows(u: AmdViUnit, dtes: readonly { deviceId: number; raw: bigint }[]): string[] {
  const lines = [` ${'DeviceId'.padEnd(12)} ${'QWORD[3]'.padStart(16)} ${'QWORD[2]'.padStart(16)} ${'QWORD[1]'.padStart(16)} ${'QWORD[0]'.padStart(16)} iommu`];
  for (const { deviceId, raw } of dtes) {
    const qw = [3, 2, 1, 0].map((k) => `${x((raw >> BigInt(64 * k)) & QWORD, 16)} `).join('');
    lines.push(` ${sbdf(u.segment, deviceId)} ${qw}iommu${u.index}`);
    const cached = cacheLookup(u.caches.dte, dteKey(deviceId));
    const stale = cached !== undefined && cached.raw !== raw ? `  [DTE cache holds stale ${x(cached.raw, 64)}]` : '';
    lines.push(`   ${describeAmdDte(raw)}${stale}`);
  }
  if (dtes.length === 0) lines.push(' (no DTE in use)');
  return lines;
}

/** What the vCPU table says about the backing page a guest-mode IRTE names. */
function backingOwner(state: PlatformState, page: bigint): string {
  const v = vcpuList(state.vcpus).find((c) => c.pda === page);
  return v === undefined ? ' (no vCPU has this backing page)' : ` (${vcpuName(state, v.id)}, ${v.run}${v.run === 'running' ? ` on cpu${v.pcpu}` : ''})`;
}

/** The interrupt tables of the DTEs with IV = 1: Linux `irqtbl` rows and Xen 'V' rows. */
function tableRows(state: PlatformState, u: AmdViUnit, dtes: readonly { deviceId: number; raw: bigint }[]): { linux: string[]; xen: string[] } {
  const ga = regBit(u.regs.control, CONTROL_BITS.GAEn);
  const size = irteBytes(ga);
  const linux: string[] = [];
  const xen: string[] = [];
  for (const { deviceId, raw } of dtes) {
    const dte = decodeDte(raw);
    if (!dte.IV) continue;
    const id = sbdf(u.segment, deviceId);
    if (dte.IntTabLen !== 9 && dte.IntTabLen !== 11) {
      linux.push(" The device's DTE contains an invalid IRT length value.", '');
      continue;
    }
    const root = dteInterruptTableRoot(dte);
    const entries = 2 ** dte.IntTabLen;
    linux.push(` DeviceId ${id}`);
    let xenHead = false;
    for (let index = 0; index < entries; index++) {
      const value = state.memory.readLE(root + BigInt(index * size), size);
      if (value === 0n) continue;
      const hi = x((value >> 64n) & QWORD, 16);
      const lo = x(value & QWORD, 16);
      if (!xenHead) {
        xen.push(`   ${id}:`);
        xenHead = true;
      }
      xen.push(`     IRTE[${x(index, 3)}] ${ga ? `${hi}_${lo}` : x(value, 8)}`);
      if ((value & 1n) === 0n) continue; // Linux prints only valid (RemapEn) entries
      const irte = decodeAmdIrte(value, ga);
      const cached = cacheLookup(u.caches.irte, irteKey(deviceId, index));
      const stale = cached !== undefined && cached.raw !== value ? `  [IRTE cache holds stale ${x(cached.raw, ga ? 32 : 8)}]` : '';
      const owner = irte.format === 'ga-vapic' ? backingOwner(state, irte.backingPage) : '';
      linux.push(` IRT[${String(index).padStart(4, '0')}] ${ga ? `${hi} ${lo}` : x(value, 8)}  ${describeAmdIrte(value, ga)}${owner}${stale}`);
    }
    linux.push('');
  }
  return { linux, xen };
}

function logRows(state: PlatformState, u: AmdViUnit): string[] {
  const r = u.regs;
  const lines: string[] = [];
  if (r.eventLogBase !== 0n) {
    const events = readEventLog(state.memory, r);
    lines.push(` Event log (${ringEntries(r.eventLogBase)} entries at ${h(ringAddress(r.eventLogBase))}): ${events.length} between head and tail`);
    for (const e of events) lines.push(`   AMD-Vi: ${formatEventLinux(e, u.segment) ?? `Event logged [${eventCodeName(e.code)} raw=${x(encodeEvent(e), 32)}]`}`);
  }
  if (r.gaLogBase !== 0n) {
    // Every entry written so far: the hypervisor's GA-log handler may already have consumed them (head = tail).
    const base = ringAddress(r.gaLogBase);
    const bytes = ringBytes(r.gaLogBase); // as src/amdvi/ga-log.ts appendGaLog sizes it
    const tail = (r.gaLogTail & 0xfff8n) % bytes;
    const head = (r.gaLogHead & 0xfff8n) % bytes;
    const pending = (at: bigint): boolean => (head <= tail ? at >= head && at < tail : at >= head || at < tail);
    const rows: string[] = [];
    for (let at = 0n; at < bytes; at += BigInt(GA_LOG_ENTRY_BYTES)) {
      const entry = state.memory.readLE(base + at, GA_LOG_ENTRY_BYTES);
      if (entry === 0n) continue;
      rows.push(`   GA log ${h(base + at)}: ${x(entry, 16)}  GATag=${h(entry & 0xffff_ffffn)} DeviceID=${sbdf(u.segment, Number((entry >> 32n) & 0xffffn))} type=${Number(entry >> 60n)}${pending(at) ? '' : ' (consumed: before head)'}`);
    }
    lines.push(` GA log (${Number(bytes) / GA_LOG_ENTRY_BYTES} entries at ${h(base)}, head ${h(head)}, tail ${h(tail)}): ${rows.length} written`, ...rows);
  }
  return lines;
}

function unitDump(state: PlatformState, u: AmdViUnit): string {
  const dtes = dtesInUse(state, u);
  const tables = tableRows(state, u, dtes);
  const dir = `/sys/kernel/debug/iommu/amd/iommu${x(u.index, 2)}`;
  const lines = [
    ` AMD-Vi IOMMU: ${u.name} (iommu${u.index}) at ${sbdf(u.segment, u.deviceId)} cap ${h(u.capabilityOffset)} Register Base Address: ${h(u.registerBase)}${regBit(u.regs.control, CONTROL_BITS.IommuEn) ? '' : ' (Control.IommuEn = 0: disabled)'}`,
    ` AMD-Vi: Extended features (${h(u.efr)}, ${h(u.efr2)}): ${efrFeatureNames(u.efr, u.efr2)}`,
    '',
    `$ cat ${dir}/mmio  (for each register's offset)`,
    ...registerRows(u),
  ];
  const cmd = commandRows(state, u);
  if (cmd.length > 0) lines.push('', `$ cat ${dir}/cmdbuf`, ...cmd);
  if (u.regs.deviceTableBase === 0n) {
    lines.push('', ' (no device table: DEVICE_TABLE_BASE = 0, so no DTE or interrupt table to show)');
  } else {
    lines.push('', '$ cat /sys/kernel/debug/iommu/amd/devtbl  (for each DeviceID in use, written to devid)', ...devtblRows(u, dtes));
    if (tables.linux.length > 0) lines.push('', '$ cat /sys/kernel/debug/iommu/amd/irqtbl  (for each DeviceID with IV = 1)', ...tables.linux);
    else lines.push('');
    lines.push(" Xen 'V' key:", ' --- Dumping Per-dev IOMMU Interrupt Remapping Table ---', ...(tables.xen.length ? tables.xen : ['   (no non-zero entry)']));
  }
  const logs = logRows(state, u);
  if (logs.length > 0) lines.push('', ...logs);
  return lines.join('\n');
}

/** The dump of every AMD-Vi unit of `state` (see the module comment); '' when the platform is not an AMD one. */
export function formatAmdViDump(state: PlatformState): string {
  if (state.amdvi === undefined) return '';
  return `${state.amdvi.units.map((u) => unitDump(state, u)).join('\n\n')}\n`;
}
