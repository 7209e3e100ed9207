/**
 * `remapsim groups FILE [--json] [--compare LISTING]`: the IOMMU groups Linux would form for
 * a PCI fabric (src/fabric/groups.ts), each with the reasons its devices share it, and — when
 * the machine's own groups are known — whether the computed partition is the machine's.
 *
 * FILE is one of
 * - a scenario (`.yaml` / `.yml`): its topology, through `fabricOfScenario` (src/scenario/fabric.ts, passed in
 *   by the caller so that other inputs do not load the scenario parser);
 * - an `lspci -vvv` / `-vvnn` dump (src/inputs/lspci-topology.ts); its `IOMMU group: N` lines,
 *   when present, are the machine's groups;
 * - an IOMMU group listing (src/inputs/iommu-group-listing.ts): printed as the machine reported it.
 * A dump and a listing are told apart by content: listing lines (`IOMMU group 3 00:14.0 …`,
 * `IOMMU Group 3:`, `IOMMU: dmar0`) make it a listing, else lspci device headers make it a dump.
 *
 * `--compare LISTING` compares with a listing (or with another dump's `IOMMU group:` lines)
 * instead of the dump's own lines. Only devices present on both sides are compared; the others
 * are named. Exit status: 0 computed partition matches (or nothing to compare), 1 mismatch,
 * 2 bad input.
 */
import { readInputText } from '../io/read-input.ts';
import { MAX_LSPCI_BYTES } from '../io/limits.ts';
import { InputError } from '../io/input-error.ts';
import { FUNCTION_KIND_WORDS, FabricError, type Fabric, type FabricDescription } from '../fabric/model.ts';
import { buildFabric } from '../fabric/build.ts';
import { iommuGroups, samePartition, type GroupReason, type IommuGroup } from '../fabric/groups.ts';
import { functionKey, hasLspciHeader, parseLspciTopology, type LspciTopology } from '../inputs/lspci-topology.ts';
import { isGroupListing, parseGroupListing, type GroupListing } from '../inputs/iommu-group-listing.ts';
// Scenario topologies: the seam for the scenario branch (written by the scenario side).

/** What FILE turned out to be. */
export type GroupsInput =
  | { readonly kind: 'scenario'; readonly file: string; readonly description: FabricDescription }
  | { readonly kind: 'lspci'; readonly file: string; readonly topology: LspciTopology }
  | { readonly kind: 'listing'; readonly file: string; readonly listing: GroupListing };

/** The machine's groups, from wherever they came: group number → devices. */
export interface MachineGroups {
  readonly source: string;
  readonly groups: ReadonlyMap<number, readonly string[]>;
}

/** The computed partition against the machine's, over the devices both sides know. */
export interface MachineComparison {
  /** Number of machine groups (all of them, also those with no device in the fabric). */
  readonly groups: number;
  readonly match: boolean;
  /** Computed groups (restricted to the compared devices) that the machine does not have. */
  readonly onlyComputed: string[][];
  /** Machine groups (restricted to the compared devices) that were not computed. */
  readonly onlyMachine: string[][];
  /** Fabric functions the machine lists in no group. */
  readonly notInMachine: string[];
  /** Machine devices that are not in the fabric. */
  readonly notInFabric: string[];
}

function readText(file: string, what: string): string {
  // An lspci dump or a group listing: the larger of the two bounds (src/io/limits.ts).
  return readInputText(file, { maxBytes: MAX_LSPCI_BYTES, what });
}

/** Reads a scenario's fabric (src/scenario/fabric.ts `fabricOfScenario`; loaded only for a scenario, it brings in the scenario parser). */
export type ScenarioFabricReader = (file: string) => FabricDescription;

/** Whether FILE is read as a scenario (by its name). */
export function isScenarioFile(file: string): boolean {
  return /\.ya?ml$/i.test(file);
}

/** Read FILE and tell what it is. @throws InputError for an unreadable file or one of no known kind. */
export function readGroupsInput(file: string, scenarioFabric?: ScenarioFabricReader): GroupsInput {
  if (isScenarioFile(file)) {
    if (scenarioFabric === undefined) throw new InputError('a scenario needs its reader (fabricOfScenario)', { file });
    return { kind: 'scenario', file, description: scenarioFabric(file) };
  }
  const text = readText(file, 'input');
  if (isGroupListing(text)) return { kind: 'listing', file, listing: parseGroupListing(text, file) };
  if (hasLspciHeader(text)) return { kind: 'lspci', file, topology: parseLspciTopology(text, file) };
  throw new InputError('not a scenario (.yaml), an lspci -vvv dump or an IOMMU group listing: no lspci device line ("00:14.0 USB controller …") and no group line ("IOMMU group 3 00:14.0 …", "IOMMU Group 3:")', { file, line: 1 });
}

/** The machine groups of a `--compare` file: a listing, or an lspci dump with `IOMMU group:` lines. */
export function readMachineGroups(file: string): MachineGroups {
  const text = readText(file, 'group listing');
  if (isGroupListing(text)) return { source: file, groups: parseGroupListing(text, file).groups };
  if (hasLspciHeader(text)) {
    const t = parseLspciTopology(text, file);
    if (t.machineGroups.size === 0) throw new InputError('this lspci dump has no "IOMMU group:" lines to compare with', { file, field: '--compare' });
    return { source: file, groups: invert(t.machineGroups) };
  }
  throw new InputError('not an IOMMU group listing (no line such as "IOMMU group 3 00:14.0 …" or "IOMMU Group 3:") and not an lspci dump with "IOMMU group:" lines', { file, line: 1, field: '--compare' });
}

function invert(m: ReadonlyMap<string, number>): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const [k, n] of m) {
    let g = out.get(n);
    if (!g) out.set(n, (g = []));
    g.push(k);
  }
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

/**
 * Build the fabric of a description.
 * @throws InputError for a FabricError, naming the offending function's line (from `lines`) and field.
 */
export function buildOrExplain(description: FabricDescription, file: string, lines?: ReadonlyMap<string, number>): Fabric {
  try {
    return buildFabric(description);
  } catch (e) {
    if (!(e instanceof FabricError)) throw e;
    const f = e.index === undefined ? undefined : description.functions[e.index];
    const key = f === undefined ? undefined : functionKey(f.segment, f.rid);
    const line = key === undefined ? undefined : lines?.get(key);
    const field = e.field ?? (e.index === undefined ? 'hostBridges' : undefined);
    // buildFabric names the function by its index in the description; a dump's reader wants the key (and the line).
    const message = e.message.replace(/^functions\[\d+\](?: \S+)?: /, '');
    throw new InputError(key === undefined ? message : `${key}: ${message}`, { file, ...(line === undefined ? {} : { line }), ...(field === undefined ? {} : { field }) });
  }
}

/** Compare computed groups with the machine's over the devices both know. */
export function compareWithMachine(computed: readonly IommuGroup[], machine: MachineGroups): MachineComparison {
  const fabricKeys = new Set(computed.flatMap((g) => g.devices));
  const machineKeys = new Set([...machine.groups.values()].flat());
  const restrict = (groups: Iterable<readonly string[]>, keep: ReadonlySet<string>): string[][] => [...groups].map((g) => g.filter((k) => keep.has(k))).filter((g) => g.length > 0);
  const a = restrict(
    computed.map((g) => g.devices),
    machineKeys,
  );
  const b = restrict(machine.groups.values(), fabricKeys);
  const cmp = samePartition(a, b);
  const notInMachine = [...fabricKeys].filter((k) => !machineKeys.has(k)).sort();
  const notInFabric = [...machineKeys].filter((k) => !fabricKeys.has(k)).sort();
  // Nothing in common is no agreement.
  const match = cmp.equal && a.length > 0;
  return { groups: machine.groups.size, match, onlyComputed: cmp.onlyInA, onlyMachine: cmp.onlyInB, notInMachine, notInFabric };
}


function kindWord(fabric: Fabric, key: string): string {
  const f = fabric.functions[key];
  return f === undefined ? 'function' : FUNCTION_KIND_WORDS[f.kind];
}

const ALIAS_VIA: Readonly<Record<string, string>> = {
  'pcie-to-pci-bridge': 'PCIe-to-PCI bridge',
  'pci-to-pcie-bridge': 'PCI-to-PCIe bridge',
  'pci-bridge': 'conventional PCI bridge',
};

/**
 * One reason in words, or undefined for the founding `own` reason of a group with other
 * members (their reasons say why they joined).
 */
export function describeReason(r: GroupReason, fabric: Fabric, groupSize: number): string | undefined {
  switch (r.kind) {
    case 'own':
      return groupSize === 1 ? `${r.device}: isolated (no alias, no sibling or path without ACS)` : undefined;
    case 'alias': {
      const rid = functionKey(r.segment, r.rid);
      switch (r.aliasReason) {
        case 'dma-device':
          return `${r.device} aliases ${r.with}: its DMA carries ${r.with}'s requester ID (${kindWord(fabric, r.with)}, e.g. a VMD controller)`;
        case 'quirk':
          return `${r.device} aliases ${rid} via a DMA-alias quirk of ${r.with}`;
        case 'own':
          return `${r.device} and ${r.with} are DMA aliases of each other (requester ID ${rid})`;
        default: {
          const via = `${ALIAS_VIA[r.aliasReason] ?? r.aliasReason} ${r.with}`;
          return rid === r.device ? `${r.device}: its own requester ID is the alias ${via} gives the devices below it` : `${r.device} aliases ${rid} via ${via}`;
        }
      }
    }
    case 'multifunction-no-acs':
      return `${r.device} with ${r.with}: multi-function device without ACS${r.missing.length > 0 ? ` (${r.device} lacks ${r.missing.join(' ')})` : ''}`;
    case 'no-acs-path':
      return `${r.device}: no ACS on the path to the root: ${r.port} (${kindWord(fabric, r.port)}) lacks ${r.missing.join(' ')}${r.with === r.port ? '' : `; grouped with ${r.with}`}`;
  }
}

function formatListing(l: GroupListing, json: boolean, summary = true): string {
  const out: string[] = [];
  for (const [n, devices] of l.groups) {
    const unit = l.units?.get(n);
    if (json) out.push(JSON.stringify({ group: n, devices, ...(unit === undefined ? {} : { unit }) }));
    else out.push(`group ${n}${unit === undefined ? '' : ` (${unit})`}: ${devices.join(' ')}`);
  }
  if (!json && summary) out.push(`machine: ${l.groups.size} groups (as listed)`);
  return `${out.join('\n')}\n`;
}

function formatComparison(c: MachineComparison, source: string): string[] {
  const out = [`machine: ${c.groups} groups; ${c.match ? 'computed partition matches' : 'MISMATCH'} (${source})`];
  if (!c.match && c.onlyComputed.length === 0 && c.onlyMachine.length === 0) out.push('  no device in common');
  for (const g of c.onlyComputed) out.push(`  computed, not on the machine: ${g.join(' ')}`);
  for (const g of c.onlyMachine) out.push(`  on the machine, not computed: ${g.join(' ')}`);
  if (c.notInMachine.length > 0) out.push(`  not compared, in no machine group: ${c.notInMachine.join(' ')}`);
  if (c.notInFabric.length > 0) out.push(`  not compared, not in the input: ${c.notInFabric.join(' ')}`);
  return out;
}

export interface GroupsResult {
  readonly text: string;
  /** True unless the comparison with the machine failed. */
  readonly ok: boolean;
}

/** Run `groups` on FILE. @throws InputError for bad input. */
export function runGroups(file: string, o: { json?: boolean; compare?: string }, scenarioFabric?: ScenarioFabricReader): GroupsResult {
  const json = o.json ?? false;
  const input = readGroupsInput(file, scenarioFabric);
  const machineFromFlag = o.compare === undefined ? undefined : readMachineGroups(o.compare);
  if (input.kind === 'listing') {
    if (machineFromFlag === undefined) return { text: formatListing(input.listing, json), ok: true };
    // A listing against a listing: compare the two partitions.
    const groups: IommuGroup[] = [...input.listing.groups].map(([id, devices]) => ({ id, devices, reasons: [] }));
    const c = compareWithMachine(groups, machineFromFlag);
    const text = json ? `${formatListing(input.listing, true)}${JSON.stringify({ machine: c })}\n` : `${formatListing(input.listing, false, false)}${formatComparison(c, machineFromFlag.source).join('\n')}\n`;
    return { text, ok: c.match };
  }
  const description = input.kind === 'lspci' ? input.topology.description : input.description;
  const lines = input.kind === 'lspci' ? input.topology.lines : undefined;
  const names = input.kind === 'lspci' ? input.topology.names : undefined;
  const assumptions = input.kind === 'lspci' ? input.topology.assumptions : [];
  const fabric = buildOrExplain(description, file, lines);
  const groups = iommuGroups(fabric);
  const machine = machineFromFlag ?? (input.kind === 'lspci' && input.topology.machineGroups.size > 0 ? { source: `${file}: IOMMU group lines`, groups: invert(input.topology.machineGroups) } : undefined);
  const cmp = machine === undefined ? undefined : compareWithMachine(groups, machine);

  const out: string[] = [];
  if (json) {
    if (assumptions.length > 0) out.push(JSON.stringify({ assumptions }));
    for (const g of groups) out.push(JSON.stringify({ group: g.id, devices: g.devices, reasons: g.reasons }));
    if (cmp) out.push(JSON.stringify({ machine: cmp }));
  } else {
    for (const a of assumptions) out.push(`note: ${a}`);
    const machineOf = new Map<string, number>();
    for (const [n, ds] of machine?.groups ?? []) for (const d of ds) machineOf.set(d, n);
    for (const g of groups) {
      const on = [...new Set(g.devices.map((d) => machineOf.get(d)).filter((n) => n !== undefined))];
      out.push(`group ${g.id}: ${g.devices.join(' ')}${on.length === 0 ? '' : `  [machine group ${on.join(' ')}]`}`);
      for (const d of g.devices) {
        const n = names?.get(d);
        if (n !== undefined) out.push(`  ${d}  ${n}`);
      }
      for (const r of g.reasons) {
        const w = describeReason(r, fabric, g.devices.length);
        if (w !== undefined) out.push(`  - ${w}`);
      }
    }
    if (cmp) out.push(...formatComparison(cmp, machine!.source));
  }
  return { text: `${out.join('\n')}\n`, ok: cmp === undefined || cmp.match };
}
