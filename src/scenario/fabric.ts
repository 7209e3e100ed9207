/**
 * A scenario's PCI fabric (docs/topology.md): its `topology` section and the fabric
 * fields of its `devices`, as the FabricDescription that src/fabric/build.ts validates
 * and resolves. A topology that cannot exist is an InputError naming the file, line and
 * field. Without a `topology` section every device sits alone on a root bus of its
 * segment and is single-function unless it says otherwise (remapsim's model before it
 * had a fabric: no aliases, no shared groups).
 */
import { InputError } from '../io/input-error.ts';
import { formatBdf, parseBdf } from '../pci/bdf.ts';
import { ACS_BITS, FabricError, type AcsRegisters, type Fabric, type FabricDescription, type FunctionDescription } from '../fabric/model.ts';
import { buildFabric } from '../fabric/build.ts';
import { iommuGroups } from '../fabric/groups.ts';
import type { DomainDescription } from '../platform/build.ts';
import { fieldName, parseScenarioFile, type ParsedScenario } from './parse.ts';
import type * as S from './types.ts';

/** Every ACS control bit: what a capability written as a plain list of enabled bits implements. */
const ALL_ACS = Object.values(ACS_BITS).reduce((a, b) => a | b, 0);

/** FunctionDescription field → the scenario field it comes from. */
const SCENARIO_FIELD: Readonly<Record<string, string>> = { rid: 'bdf', segment: 'bdf', phantom: 'phantomFunctions', vendorId: 'id', deviceId: 'id' };

type Path = (string | number)[];

function fail(parsed: ParsedScenario, message: string, path: Path): never {
  const line = parsed.lineAt(path);
  throw new InputError(message, { file: parsed.file, ...(line === undefined ? {} : { line }), field: fieldName(path) });
}

function bits(names: readonly S.AcsBitName[]): number {
  return names.reduce((v, n) => v | ACS_BITS[n], 0);
}

function acsOf(parsed: ParsedScenario, acs: NonNullable<S.FabricFields['acs']>, path: Path): AcsRegisters {
  if (Array.isArray(acs)) return { cap: ALL_ACS, ctrl: bits(acs) };
  const cap = acs.capable === undefined ? ALL_ACS : bits(acs.capable);
  const ctrl = bits(acs.enabled);
  if ((ctrl & ~cap) !== 0) fail(parsed, 'an enabled ACS control must be in capable', [...path, 'enabled']);
  return { cap, ctrl };
}

/** One function of the topology or of `devices`, as a FunctionDescription. */
function describeFunction(parsed: ParsedScenario, f: S.FabricFields & { bdf: string }, path: Path, defaultMultifunction: boolean | undefined): FunctionDescription {
  const b = parseBdf(f.bdf);
  if (b === undefined) fail(parsed, `'${f.bdf}' is not a BDF (bb:dd.f)`, [...path, 'bdf']);
  const id = f.id === undefined ? undefined : f.id.split(':').map((x) => parseInt(x, 16));
  const multifunction = f.multifunction ?? defaultMultifunction;
  const aliases = (f.dmaAliases ?? []).map((text, j) => {
    const a = parseBdf(text);
    if (a === undefined) fail(parsed, `'${text}' is not a BDF (bb:dd.f)`, [...path, 'dmaAliases', j]);
    if (a.segment !== b.segment || a.rid >> 8 !== b.rid >> 8) fail(parsed, `a DMA alias is a device/function on the function's own bus ${formatBdf(b.rid).slice(0, 2)}`, [...path, 'dmaAliases', j]);
    return a.rid & 0xff;
  });
  let dmaDevice: string | undefined;
  if (f.dmaDevice !== undefined) {
    const d = parseBdf(f.dmaDevice);
    if (d === undefined) fail(parsed, `'${f.dmaDevice}' is not a BDF (bb:dd.f)`, [...path, 'dmaDevice']);
    dmaDevice = formatBdf(d.rid, d.segment === 0 ? undefined : d.segment);
  }
  return {
    segment: b.segment,
    rid: b.rid,
    kind: f.type ?? 'endpoint',
    ...(id === undefined ? {} : { vendorId: id[0]!, deviceId: id[1]! }),
    ...(multifunction === undefined ? {} : { multifunction }),
    ...(f.primary === undefined ? {} : { primary: f.primary }),
    ...(f.secondary === undefined ? {} : { secondary: f.secondary }),
    ...(f.subordinate === undefined ? {} : { subordinate: f.subordinate }),
    ...(f.acs === undefined ? {} : { acs: acsOf(parsed, f.acs, [...path, 'acs']) }),
    ...(f.phantomFunctions === undefined ? {} : { phantom: { supported: f.phantomFunctions.supported, enabled: f.phantomFunctions.enabled ?? true } }),
    ...(aliases.length === 0 ? {} : { dmaAliases: aliases }),
    ...(dmaDevice === undefined ? {} : { dmaDevice }),
    ...(f.bars === undefined ? {} : { bars: f.bars.map((x) => ({ base: BigInt(x.base), size: BigInt(x.size) })) }),
  };
}

/** The scenario paths of the functions, in FabricDescription order: topology functions, then devices. */
function functionPaths(data: S.Scenario): Path[] {
  return [...(data.topology?.functions ?? []).map((_, i): Path => ['topology', 'functions', i]), ...(data.devices ?? []).map((_, i): Path => ['devices', i])];
}

/** The FabricDescription of a schema-valid scenario. @throws InputError for a malformed field. */
export function scenarioFabricDescription(parsed: ParsedScenario, data: S.Scenario): FabricDescription {
  const topology = data.topology;
  // Without a topology every device is alone: single-function unless it says otherwise.
  const isolated = topology === undefined ? false : undefined;
  const functions = [
    ...(topology?.functions ?? []).map((f, i) => describeFunction(parsed, f, ['topology', 'functions', i], undefined)),
    ...(data.devices ?? []).map((d, i) => describeFunction(parsed, d, ['devices', i], isolated)),
  ];
  const roots = new Map<string, { segment: number; bus: number }>();
  if (topology === undefined) for (const f of functions) roots.set(`${f.segment}:${f.rid >> 8}`, { segment: f.segment, bus: f.rid >> 8 });
  const hostBridges = topology?.hostBridges?.map((h) => ({ segment: h.segment ?? 0, bus: h.bus, ...(h.name === undefined ? {} : { name: h.name }) })) ?? (topology === undefined ? [...roots.values()] : undefined);
  return { ...(hostBridges === undefined ? {} : { hostBridges }), functions };
}

/**
 * The scenario's fabric, built and validated.
 * @throws InputError naming the line and field of a topology that cannot exist.
 */
export function fabricOfDescription(parsed: ParsedScenario, data: S.Scenario): Fabric {
  const description = scenarioFabricDescription(parsed, data);
  try {
    return buildFabric(description);
  } catch (e) {
    if (!(e instanceof FabricError)) throw e;
    if (e.index === undefined) {
      // A host-bridge problem: the field names the entry of topology.hostBridges, so the message need not.
      const at: Path = ['topology', 'hostBridges', ...(e.hostBridge === undefined ? [] : [e.hostBridge])];
      return fail(parsed, e.hostBridge === undefined ? e.message : e.message.replace(/^hostBridges\[\d+\]: /, ''), at);
    }
    const paths = functionPaths(data);
    const base = paths[e.index] ?? ['topology'];
    const field = e.field === undefined ? [] : [SCENARIO_FIELD[e.field] ?? e.field];
    // buildFabric names the function by its index in the description (topology functions, then
    // devices), which the scenario does not show: name it by its key, as the field names its entry.
    const f = description.functions[e.index];
    const key = f === undefined ? undefined : formatBdf(f.rid, f.segment === 0 ? undefined : f.segment);
    const message = e.message
      .replace(/^functions\[\d+\](?: \S+)?: /, '')
      .replace(/functions\[(\d+)\]/g, (all, i: string) => (paths[Number(i)] === undefined ? all : fieldName(paths[Number(i)]!)));
    return fail(parsed, key === undefined ? message : `${key}: ${message}`, [...base, ...field]);
  }
}

/**
 * The FabricDescription of the scenario file `file` (for `remapsim groups`).
 * @throws InputError when the scenario cannot be read, is invalid, or its topology cannot exist.
 */
export function fabricOfScenario(file: string): FabricDescription {
  const parsed = parseScenarioFile(file);
  const data = parsed.data as S.Scenario;
  fabricOfDescription(parsed, data);
  return scenarioFabricDescription(parsed, data);
}

/**
 * One warning per IOMMU group whose devices the domains assign to more than one domain:
 * VFIO would refuse such a group (it is not viable), and the devices can reach each
 * other's DMA or requester IDs.
 */
export function splitGroupWarnings(fabric: Fabric, domains: readonly DomainDescription[]): string[] {
  const owner = new Map<string, string>();
  for (const d of domains) for (const key of d.devices) owner.set(key, d.name);
  const out: string[] = [];
  for (const g of iommuGroups(fabric)) {
    const owners = [...new Set(g.devices.map((k) => owner.get(k)).filter((x): x is string => x !== undefined))];
    if (owners.length < 2) continue;
    const who = g.devices.filter((k) => owner.has(k)).map((k) => `${k} (${owner.get(k)})`).join(', ');
    out.push(`IOMMU group ${g.id} [${g.devices.join(' ')}] is split between domains: ${who} — VFIO would refuse it (group not viable); its devices share requester IDs or peer-to-peer paths`);
  }
  return out;
}
