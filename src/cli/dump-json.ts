/**
 * `remapsim dump --json`: the interrupt-remapping state `remapsim dump` prints, as JSON lines
 * (specs/output.schema.json `dump-unit`, `dump-irte`, `dump-pid`; the text form is
 * src/scenario/dump.ts `formatIrtDump`, whose sources it reads the same way):
 *
 * - VT-d: per unit a `dump-unit` line (IRES/IRTPS from GSTS, the latched IRTA's base and entry
 *   count), then one `dump-irte` line per present entry (P = 1) of the latched table, read from
 *   memory (VT-d §9.10), decoded (src/vtd/irte.ts `decodeIrte`), with the IEC's copy when it
 *   differs; after each posted entry a `dump-pid` line for the descriptor it names (VT-d §9.11,
 *   src/vtd/pid-memory.ts `readPid`) and the vCPU that owns it;
 * - AMD-Vi: per unit a `dump-unit` line, then per DTE with IV = 1 and a valid IntTabLen the
 *   `dump-irte` lines of its interrupt table, entries with RemapEn = 1 (as Linux's debugfs
 *   `irqtbl`, drivers/iommu/amd/debugfs.c `dump_irte`), decoded by src/amdvi/irte.ts.
 *
 * DMA-remapping structures and registers stay in the text dump only.
 * Types follow the schema's rule: bigints (raw entries, addresses) as 0x-hex strings, every other
 * field a number, a boolean or a string; devices `bb:dd.f`; vCPUs `vm1.vcpu0`.
 */
import type { PlatformState, IommuUnit } from '../platform/state.ts';
import type { AmdViUnit } from '../amdvi/unit.ts';
import { decodeIrte, IRTE_BYTES } from '../vtd/irte.ts';
import { iecLookup } from '../vtd/iec.ts';
import { decodeIrta, irtEntries, GLOBAL_STATUS_BITS } from '../vtd/registers.ts';
import { readPid } from '../vtd/pid-memory.ts';
import { pirVectors } from '../vtd/pid.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import { formatBdf } from '../pci/bdf.ts';
import { CONTROL_BITS, deviceTableAddress, deviceTableBytes, regBit } from '../amdvi/registers.ts';
import { decodeDte, DTE_BYTES, dteInterruptTableRoot } from '../amdvi/dte.ts';
import { decodeAmdIrte, irteBytes } from '../amdvi/irte.ts';
import { cacheLookup, irteKey } from '../amdvi/caches.ts';
import { toJsonValue, vcpuName } from '../scenario/trace.ts';

type Row = Record<string, unknown>;

/** The vCPU whose descriptor (VT-d) or backing page (AMD-Vi) is at `address`, as `vm1.vcpu0`, or null. */
function ownerOf(state: PlatformState, address: bigint): string | null {
  const v = vcpuList(state.vcpus).find((c) => c.pda === address);
  return v === undefined ? null : vcpuName(state, v.id);
}

function vtdRows(state: PlatformState, unit: IommuUnit): Row[] {
  const irta = decodeIrta(unit.regs.irtaLatched);
  const ires = (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRES)) !== 0;
  const irtps = (unit.regs.gsts & (1 << GLOBAL_STATUS_BITS.IRTPS)) !== 0;
  const n = irtEntries(irta.size);
  const rows: Row[] = [{ kind: 'dump-unit', vendor: 'intel', iommu: unit.index, unit: unit.name, segment: unit.segment, irEnabled: ires, tableLatched: irtps, table: irtps ? `0x${irta.base.toString(16)}` : null, entries: irtps ? n : 0 }];
  if (!irtps) return rows;
  for (let index = 0; index < n; index++) {
    const raw = state.memory.readLE(irta.base + BigInt(index * IRTE_BYTES), IRTE_BYTES);
    if ((raw & 1n) === 0n) continue;
    const { irte } = decodeIrte(raw);
    const cached = iecLookup(unit.iec, index);
    rows.push(
      toJsonValue({
        kind: 'dump-irte',
        iommu: unit.index,
        unit: unit.name,
        index,
        raw,
        ...irte,
        sidDevice: formatBdf(irte.sid),
        cacheStale: cached !== undefined && cached.raw !== raw ? cached.raw : null,
      }) as Row,
    );
    if (irte.mode !== 'posted') continue;
    const { pid } = readPid(state.memory, irte.pda);
    rows.push(toJsonValue({ kind: 'dump-pid', iommu: unit.index, irteIndex: index, pda: irte.pda, pir: pirVectors(pid.pir), on: pid.on, sn: pid.sn, nv: pid.nv, ndst: pid.ndst, vcpuName: ownerOf(state, irte.pda) }) as Row);
  }
  return rows;
}

function amdRows(state: PlatformState, u: AmdViUnit): Row[] {
  const base = u.regs.deviceTableBase;
  const ga = regBit(u.regs.control, CONTROL_BITS.GAEn);
  // AMD-Vi has no global IR enable: remapping is per device (DTE.IV, IntCtl), so irEnabled is null.
  const rows: Row[] = [{ kind: 'dump-unit', vendor: 'amd', iommu: u.index, unit: u.name, segment: u.segment, irEnabled: null, tableLatched: base !== 0n, table: base === 0n ? null : `0x${deviceTableAddress(base).toString(16)}`, entries: 0 }];
  if (base === 0n) return rows;
  const table = deviceTableAddress(base);
  const count = Number(deviceTableBytes(base) / BigInt(DTE_BYTES));
  const size = irteBytes(ga);
  let entries = 0;
  for (let id = 0; id < count; id++) {
    const dteRaw = state.memory.readLE(table + BigInt(id * DTE_BYTES), DTE_BYTES);
    if (dteRaw === 0n) continue;
    const dte = decodeDte(dteRaw);
    if (!dte.IV || (dte.IntTabLen !== 9 && dte.IntTabLen !== 11)) continue;
    const root = dteInterruptTableRoot(dte);
    for (let index = 0; index < 2 ** dte.IntTabLen; index++) {
      const raw = state.memory.readLE(root + BigInt(index * size), size);
      if ((raw & 1n) === 0n) continue; // RemapEn = 0: Linux's irqtbl skips it too
      entries++;
      const irte = decodeAmdIrte(raw, ga);
      const cached = cacheLookup(u.caches.irte, irteKey(id, index));
      rows.push(
        toJsonValue({
          kind: 'dump-irte',
          iommu: u.index,
          unit: u.name,
          device: formatBdf(id),
          index,
          raw,
          ...irte,
          ...(irte.format === 'ga-vapic' ? { vcpuName: ownerOf(state, irte.backingPage) } : {}),
          cacheStale: cached !== undefined && cached.raw !== raw ? cached.raw : null,
        }) as Row,
      );
    }
  }
  rows[0] = { ...rows[0], entries };
  return rows;
}

/** The JSON lines of `remapsim dump --json` for the state after a run. */
export function formatDumpJson(state: PlatformState): string {
  const rows = state.amdvi !== undefined ? state.amdvi.units.flatMap((u) => amdRows(state, u)) : state.iommus.flatMap((u) => vtdRows(state, u));
  return rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
}
