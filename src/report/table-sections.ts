/**
 * The interrupt-remapping structures as the hardware reads them from memory, decoded:
 *
 * - VT-d: every present IRTE of each unit's table (through the latched IRTA; VT-d spec §9.10
 *   "Interrupt Remapping Table Entry", remapped and posted formats, decoded by src/vtd/irte.ts;
 *   the same entries as `remapsim dump`, src/scenario/dump.ts), and every posted-interrupt
 *   descriptor a posted IRTE names or a vCPU owns (VT-d spec §9.12, src/vtd/pid.ts: PIR, ON,
 *   SN, NV, NDST) with the vCPU that owns it.
 * - AMD-Vi: the DTE of each device behind a unit (spec 48882 §2.2.2.1, src/amdvi/dte.ts), read
 *   at Device Table Base + DeviceID × 32 as the unit reads it (src/amdvi/interrupt-remapping.ts
 *   `remapInterruptAmd`), and the present IRTEs of its interrupt table (legacy 32-bit or GA
 *   128-bit as Control.GAEn selects, spec 48882 §2.2.5, src/amdvi/irte.ts), with the vAPIC backing page of a GA
 *   vAPIC entry and the vCPU that owns it.
 */
import type { PlatformState, IommuUnit } from '../platform/state.ts';
import { decodeIrte, IRTE_BYTES } from '../vtd/irte.ts';
import { iecLookup } from '../vtd/iec.ts';
import { decodeIrta, irtEntries } from '../vtd/registers.ts';
import { readPid } from '../vtd/pid-memory.ts';
import { pirVectors } from '../vtd/pid.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import { describeIrte, vcpuName } from '../scenario/trace.ts';
import { formatBdf } from '../pci/bdf.ts';
import { DELIVERY_MODE_NAMES } from '../x86/msi.ts';
import { decodeDte, dteAddress, deviceIdInTable, dteInterruptTableRoot, DTE_BYTES, INT_CTL } from '../amdvi/dte.ts';
import { decodeAmdIrte, irteBytes, LEGACY_IRTE_ALLOCATED } from '../amdvi/irte.ts';
import { CONTROL_BITS, regBit } from '../amdvi/registers.ts';
import { hex, hexPad, table, text, type Block, type Cell, type Section } from './model.ts';

const SVT = ['none', 'requester-id', 'bus-range', 'reserved'];

/** Present IRTE rows of one VT-d unit (index, format, source check, target, raw halves, decoded). */
function irteRows(state: PlatformState, unit: IommuUnit): { rows: Cell[][]; pdas: bigint[] } {
  const irta = decodeIrta(unit.regs.irtaLatched);
  const rows: Cell[][] = [];
  const pdas: bigint[] = [];
  for (let index = 0; index < irtEntries(irta.size); index++) {
    const raw = state.memory.readLE(irta.base + BigInt(index * IRTE_BYTES), IRTE_BYTES);
    if ((raw & 1n) === 0n) continue;
    const { irte } = decodeIrte(raw);
    const sid = irte.svt === 2 ? `buses ${hexPad(irte.sid >> 8, 2)}-${hexPad(irte.sid & 0xff, 2)}` : formatBdf(irte.sid);
    const cached = iecLookup(unit.iec, index);
    const iec = cached === undefined ? 'not cached' : cached.raw === raw ? 'cached' : `STALE: holds ${hexPad(cached.raw, 32)}`;
    const target =
      irte.mode === 'remapped'
        ? `vector ${hex(irte.vector)} → ${irte.destinationModeLogical ? 'logical' : 'APIC'} ${hex(irte.destination)} (${DELIVERY_MODE_NAMES[irte.deliveryMode] ?? irte.deliveryMode}, ${irte.triggerLevel ? 'level' : 'edge'})`
        : `vector ${hex(irte.virtualVector)} → PID ${hex(irte.pda)}${irte.urgent ? ' (URG)' : ''}`;
    if (irte.mode === 'posted') pdas.push(irte.pda);
    rows.push([hex(index), irte.mode, `SVT=${irte.svt} (${SVT[irte.svt]}), SQ=${irte.sq}, SID ${sid}`, target, irte.fpd ? 'yes' : 'no', hexPad(raw >> 64n, 16), hexPad(raw & 0xffff_ffff_ffff_ffffn, 16), iec, describeIrte(raw)]);
  }
  return { rows, pdas };
}

/** One row per posted-interrupt descriptor: where it is, who owns it, what it holds. */
function pidRows(state: PlatformState, pdas: readonly bigint[]): Cell[][] {
  const vcpus = vcpuList(state.vcpus);
  return [...new Set(pdas)]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((pda) => {
      const { pid, reserved } = readPid(state.memory, pda);
      const owner = vcpus.find((v) => v.pda === pda);
      const vectors = pirVectors(pid.pir).map(hex).join(', ');
      return [
        hexPad(pda, 16),
        owner === undefined ? 'no vCPU owns it' : `${vcpuName(state, owner.id)} (${owner.run} on cpu${owner.pcpu}, APIC ${hex(owner.apicId)})`,
        vectors === '' ? 'empty' : vectors,
        pid.on ? 1 : 0,
        pid.sn ? 1 : 0,
        hex(pid.nv),
        hexPad(pid.ndst, 8),
        reserved === 0n ? 'clear' : `SET: ${hex(reserved)}`,
      ];
    });
}

function vtdBlocks(state: PlatformState): Block[] {
  const blocks: Block[] = [];
  const pdas: bigint[] = [];
  for (const u of state.iommus) {
    const r = irteRows(state, u);
    pdas.push(...r.pdas);
    blocks.push(
      table({
        id: `irt-${u.name}`,
        caption: `${u.name}: present IRTEs (from the table the latched IRTA names)`,
        columns: ['Index', 'Format', 'Source check', 'Target', 'FPD', 'IRTE high', 'IRTE low', 'IEC', 'Decoded'],
        rows: r.rows,
        empty: `${u.name}: no present IRTE`,
      }),
    );
  }
  // Descriptors the vCPUs own but no IRTE names yet are shown too: the notification state matters.
  for (const v of vcpuList(state.vcpus)) pdas.push(v.pda);
  blocks.push(
    table({
      id: 'pid',
      caption: 'Posted-interrupt descriptors (named by posted IRTEs or owned by vCPUs)',
      columns: ['PDA', 'Owner', 'PIR vectors', 'ON', 'SN', 'NV', 'NDST', 'Reserved bits'],
      rows: state.vcpus.count === 0 && pdas.length === 0 ? [] : pidRows(state, pdas),
      empty: 'no posted-interrupt descriptor (no vCPU, no posted IRTE)',
    }),
  );
  return blocks;
}

const INT_CTL_NAMES: Readonly<Record<number, string>> = { [INT_CTL.TARGET_ABORT]: 'target abort', [INT_CTL.FORWARD]: 'forward unmapped', [INT_CTL.REMAP]: 'remap', [INT_CTL.RESERVED]: 'reserved' };

/** AMD-Vi: the DTE of every device behind a unit, then the present IRTEs of each remapping DTE. */
function amdBlocks(state: PlatformState): Block[] {
  const units = state.amdvi!.units;
  const dtes: Cell[][] = [];
  const irtes: Cell[][] = [];
  const devices = Object.values(state.devices).sort((a, b) => a.segment - b.segment || a.rid - b.rid);
  for (const d of devices) {
    const u = d.iommu === undefined ? undefined : units[d.iommu];
    if (u === undefined) continue;
    const base = u.regs.deviceTableBase;
    if (!deviceIdInTable(base, d.busRid)) {
      dtes.push([d.key, formatBdf(d.busRid), u.name, 'beyond the device table', '—', '—', '—', '—', '—']);
      continue;
    }
    const raw = state.memory.readLE(dteAddress(base, d.busRid), DTE_BYTES);
    const dte = decodeDte(raw);
    const root = dteInterruptTableRoot(dte);
    dtes.push([d.key, formatBdf(d.busRid), u.name, `V=${+dte.V} TV=${+dte.TV} IV=${+dte.IV}`, INT_CTL_NAMES[dte.IntCtl] ?? String(dte.IntCtl), 2 ** dte.IntTabLen, hexPad(root, 16), dte.DomainID, hexPad(raw, 64)]);
    if (!dte.IV || dte.IntCtl !== INT_CTL.REMAP || dte.IntTabLen >= 12) continue;
    const ga = regBit(u.regs.control, CONTROL_BITS.GAEn);
    const size = irteBytes(ga);
    for (let index = 0; index < 2 ** dte.IntTabLen; index++) {
      const at = root + BigInt(index * size);
      const e = state.memory.readLE(at, size);
      // Zero is an unused slot, and so is an allocated one Linux has not written yet (legacy
      // 0xFFFFFFFE, GA RemapEn = 0 with vector 0xFF: drivers/iommu/amd/iommu.c
      // `irte_set_allocated`, `irte_ga_set_allocated`). Every other entry is listed, RemapEn or not.
      if (e === 0n || (!ga && e === LEGACY_IRTE_ALLOCATED)) continue;
      const irte = decodeAmdIrte(e, ga);
      if (ga && !irte.remapEn && irte.vector === 0xff) continue;
      const target =
        irte.format === 'ga-vapic'
          ? `vector ${hex(irte.vector)} → vAPIC backing page ${hex(irte.backingPage)} (${vcpuList(state.vcpus).find((v) => v.pda === irte.backingPage) === undefined ? 'no vCPU' : vcpuName(state, vcpuList(state.vcpus).find((v) => v.pda === irte.backingPage)!.id)}), IsRun=${+irte.isRun}, doorbell APIC ${hex(irte.destination)}, GATag ${hex(irte.gaTag)}`
          : `vector ${hex(irte.vector)} → ${irte.destinationModeLogical ? 'logical' : 'APIC'} ${hex(irte.destination)} (${DELIVERY_MODE_NAMES[irte.intType] ?? irte.intType})`;
      irtes.push([d.key, u.name, hex(index), irte.format, irte.remapEn ? 'yes' : 'no', target, hexPad(e, size * 2), irte.reserved === 0n ? 'clear' : `SET: ${hex(irte.reserved)}`]);
    }
  }
  return [
    table({ id: 'dte', caption: 'Device table entries (DTE) of the devices behind each unit', columns: ['Device', 'DeviceID', 'Unit', 'Valid bits', 'IntCtl', 'IRT entries', 'IRT root', 'DomainID', 'Raw (256 bits)'], rows: dtes, empty: 'no device behind an AMD-Vi unit' }),
    table({ id: 'irt-amd', caption: 'IRTEs in use in the interrupt table of each remapping DTE', columns: ['Device', 'Unit', 'Index', 'Format', 'RemapEn', 'Target', 'Raw', 'Reserved bits'], rows: irtes, empty: 'no present IRTE' }),
  ];
}

/** The interrupt-remapping tables section (VT-d IRT and PIDs, or AMD-Vi DTEs and IRTs). */
export function tablesSection(state: PlatformState): Section {
  const amd = state.amdvi !== undefined;
  return {
    id: 'irt',
    title: amd ? 'Interrupt remapping: DTEs and IRTEs (AMD-Vi)' : 'Interrupt remapping: IRTEs and PI descriptors (VT-d)',
    blocks: [
      text(
        amd
          ? 'Read from simulated memory after the last step, as the IOMMU would read them: the DTE of each device behind a unit (through the Device Table Base register), then the entries of each interrupt table a DTE with IV=1 and IntCtl=remap names.'
          : 'Read from simulated memory after the last step, as the hardware would read them: only present entries are listed. "IEC" compares the interrupt entry cache with memory (a stale entry is what a missing invalidation leaves).',
      ),
      ...(amd ? amdBlocks(state) : vtdBlocks(state)),
    ],
  };
}
