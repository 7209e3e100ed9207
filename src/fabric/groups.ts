/**
 * IOMMU groups: the sets of functions the IOMMU cannot tell apart or isolate from each other,
 * computed as Linux does for PCI devices.
 *
 * Source: Linux drivers/iommu/iommu.c `pci_device_group()` and its helpers (read in linux-next,
 * commit 01cfe5417a83), applied to every function in the order Linux probes them. For one
 * function `dev`:
 *
 * 1. `pci_for_each_dma_alias(dev, get_pci_alias_or_group)`: for every DMA alias in Linux order
 *    (./aliases.ts), remember the function the alias was yielded by (`data->pdev`) and stop when
 *    that function already has a group: `dev` joins it. "A device must not be aliased due to
 *    topology in order to have its own IOMMU group": afterwards `pdev` is the last function
 *    yielding an alias (a PCIe-to-PCI bridge, say), not `dev`.
 * 2. Walk up from `pdev`'s bus: for each bus with a bridge (`bus->self`), if
 *    `pci_acs_path_enabled(bridge, NULL, REQ_ACS_FLAGS)` stop; else `pdev = bridge`, and if the
 *    bridge has a group, join it.
 * 3. `get_pci_alias_group(pdev)`: `pdev`'s group, or the group of a function on the same bus
 *    that aliases `pdev` or that `pdev` aliases (`pci_devs_are_dma_aliases`: `dma_alias_mask`
 *    either way), recursively, with each such function's `get_pci_function_alias_group`; a
 *    devfn bitmap shared by the whole call prevents loops.
 * 4. `get_pci_function_alias_group(pdev)`: if `pdev` is multi-function and not ACS-isolated,
 *    the group of another function of the same slot that is not ACS-isolated either (through
 *    its aliases, step 3).
 * 5. Otherwise a new group.
 *
 * `REQ_ACS_FLAGS` = SV | RR | CR | UF ("devices cannot spoof their requester ID, requests and
 * completions cannot be redirected, and all transactions are forwarded upstream").
 *
 * Probe order: a bus's functions by devfn, then each bridge's secondary bus in the same order
 * (Linux `pci_scan_child_bus`: all slots of a bus are added, then `pci_scan_bridge` for each
 * bridge), host bridges by segment and bus. Functions with a `dmaDevice` (VMD child domains)
 * come last: their devices are only added when the vmd driver binds, after the boot-time scan.
 * Linux's result can depend on the order (a function probed before the bridge it aliases to
 * would get a group of its own); this order is the one in which parents come first.
 */
import { acsEnabled, missingAcs } from './acs.ts';
import { dmaAliases, type DmaAlias } from './aliases.ts';
import { FUNCTION_KIND_WORDS, REQ_ACS_FLAGS, type AcsBit, type Fabric, type FabricFunction } from './model.ts';
import { formatBdf, parseBdf } from '../pci/bdf.ts';

/** Why a function is in its group. Each reason names the functions involved so that it can be printed. */
export type GroupReason =
  /** `device` started the group (pci_device_group found no group to join). */
  | { readonly kind: 'own'; readonly device: string }
  /**
   * `device`'s DMA carries requester ID `rid` (segment `segment`), yielded by function `with`
   * (pci_for_each_dma_alias: a PCIe-to-PCI bridge, a VMD endpoint, …), or `device` and `with` are
   * DMA aliases of each other on one bus (dma_alias_mask, pci_devs_are_dma_aliases).
   */
  | {
      readonly kind: 'alias';
      readonly device: string;
      readonly with: string;
      readonly rid: number;
      readonly segment: number;
      readonly aliasReason: DmaAlias['reason'];
    }
  /** `device` and `with` are functions of one multi-function slot, neither ACS-isolated (`missing`: what `device` lacks of REQ_ACS_FLAGS). */
  | { readonly kind: 'multifunction-no-acs'; readonly device: string; readonly with: string; readonly missing: readonly AcsBit[] }
  /**
   * The path from bridge `with` (above `device`) to the root is not ACS-isolated: `port` is the
   * first function on it lacking `missing` of REQ_ACS_FLAGS; `device` is grouped with `with`.
   */
  | { readonly kind: 'no-acs-path'; readonly device: string; readonly with: string; readonly port: string; readonly missing: readonly AcsBit[] };

export interface IommuGroup {
  /** Allocation order, from 0 (as Linux's group ids at boot, but not necessarily the same numbers as a real machine's). */
  readonly id: number;
  /** Function keys, sorted by segment, bus, devfn. */
  readonly devices: readonly string[];
  /** The founding `own` reason first, then the reasons of the functions that joined, in probe order. */
  readonly reasons: readonly GroupReason[];
}

interface Found {
  readonly group: number;
  readonly trail: readonly GroupReason[];
}

const byBdf = (a: FabricFunction, b: FabricFunction): number => a.segment - b.segment || a.rid - b.rid;
const busOf = (f: FabricFunction): string => `${f.segment}:${f.rid >> 8}`;
const slotOf = (f: FabricFunction): string => `${f.segment}:${f.rid >> 3}`;

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l === undefined) m.set(k, [v]);
  else l.push(v);
}

/** Linux's probe order (see the module comment). */
function probeOrder(fabric: Fabric, fns: readonly FabricFunction[]): FabricFunction[] {
  const children = new Map<string, FabricFunction[]>();
  const roots = new Map<string, FabricFunction[]>();
  for (const f of fns) {
    if (f.parent !== undefined && fabric.functions[f.parent] !== undefined) push(children, f.parent, f);
    else push(roots, busOf(f), f);
  }
  for (const l of children.values()) l.sort(byBdf);
  for (const l of roots.values()) l.sort(byBdf);
  const rootKeys = [...roots.keys()].sort((a, b) => {
    const [sa, ba] = a.split(':').map(Number) as [number, number];
    const [sb, bb] = b.split(':').map(Number) as [number, number];
    return sa - sb || ba - bb;
  });
  const order: FabricFunction[] = [];
  const seen = new Set<string>();
  const scan = (bus: readonly FabricFunction[]): void => {
    const here = bus.filter((f) => !seen.has(f.key));
    for (const f of here) {
      seen.add(f.key);
      order.push(f);
    }
    for (const f of here) {
      const below = children.get(f.key);
      if (below !== undefined) scan(below);
    }
  };
  for (const k of rootKeys) scan(roots.get(k)!);
  // Anything not reached (a parent cycle in a hand-built fabric): by segment, bus, devfn.
  order.push(...fns.filter((f) => !seen.has(f.key)).sort(byBdf));
  return [...order.filter((f) => f.dmaDevice === undefined), ...order.filter((f) => f.dmaDevice !== undefined)];
}

/**
 * Linux pci_device_group applied to every function of the fabric (bridges and host bridges
 * too), in probe order. Every function ends in exactly one group.
 */
export function iommuGroups(fabric: Fabric): readonly IommuGroup[] {
  const fns = Object.values(fabric.functions);
  const fn = (key: string): FabricFunction => {
    const f = fabric.functions[key];
    if (f === undefined) throw new RangeError(`no function ${key} in the fabric`);
    return f;
  };

  // Functions by slot, and the DMA-alias neighbours of each function on its bus (both
  // directions of dma_alias_mask), each list in devfn order (for_each_pci_dev order on one bus).
  const bySlot = new Map<string, FabricFunction[]>();
  const byBusDevfn = new Map<string, FabricFunction>();
  for (const f of fns) {
    push(bySlot, slotOf(f), f);
    byBusDevfn.set(`${busOf(f)}:${f.rid & 0xff}`, f);
  }
  for (const l of bySlot.values()) l.sort(byBdf);
  const neighbours = new Map<string, FabricFunction[]>();
  for (const f of fns) {
    for (const devfn of f.dmaAliases) {
      const t = byBusDevfn.get(`${busOf(f)}:${devfn & 0xff}`);
      if (t === undefined || t === f) continue;
      push(neighbours, f.key, t);
      push(neighbours, t.key, f);
    }
  }
  for (const [k, l] of neighbours) neighbours.set(k, [...new Set(l)].sort(byBdf));

  const acsMemo = new Map<string, boolean>();
  const isolated = (key: string): boolean => {
    let v = acsMemo.get(key);
    if (v === undefined) acsMemo.set(key, (v = acsEnabled(fabric, key, REQ_ACS_FLAGS)));
    return v;
  };
  // pci_acs_path_enabled(key, NULL, REQ_ACS_FLAGS), memoised (a function's answer is its own
  // isolation and its parent's answer). A key being computed reads as false, so that a parent
  // cycle in a hand-built fabric cannot loop.
  const pathMemo = new Map<string, boolean>();
  const pathIsolated = (key: string): boolean => {
    const known = pathMemo.get(key);
    if (known !== undefined) return known;
    pathMemo.set(key, false);
    const parent = fn(key).parent;
    const v = isolated(key) && (parent === undefined || pathIsolated(parent));
    pathMemo.set(key, v);
    return v;
  };
  // The first function from `key` up that is not ACS-isolated (exists when !pathIsolated(key)).
  const firstUnisolated = (key: string): string => {
    for (let k: string | undefined = key; k !== undefined; k = fn(k).parent) if (!isolated(k)) return k;
    return key;
  };

  const groupOf = new Map<string, number>();
  const groups: { members: string[]; reasons: GroupReason[] }[] = [];

  // get_pci_function_alias_group
  const functionAliasGroup = (p: FabricFunction, devfns: Set<number>, trail: readonly GroupReason[]): Found | undefined => {
    if (!p.multifunction || isolated(p.key)) return undefined;
    let missing: readonly AcsBit[] | undefined;
    for (const t of bySlot.get(slotOf(p)) ?? []) {
      if (t === p || isolated(t.key)) continue;
      missing ??= missingAcs(fabric, p.key, REQ_ACS_FLAGS);
      const hop: GroupReason = { kind: 'multifunction-no-acs', device: p.key, with: t.key, missing };
      const r = aliasGroup(t, devfns, [...trail, hop]);
      if (r !== undefined) return r;
    }
    return undefined;
  };
  // get_pci_alias_group
  const aliasGroup = (p: FabricFunction, devfns: Set<number>, trail: readonly GroupReason[]): Found | undefined => {
    const devfn = p.rid & 0xff;
    if (devfns.has(devfn)) return undefined;
    devfns.add(devfn);
    const g = groupOf.get(p.key);
    if (g !== undefined) return { group: g, trail };
    for (const t of neighbours.get(p.key) ?? []) {
      const rid = p.dmaAliases.includes(t.rid & 0xff) ? t.rid : p.rid;
      const hop: GroupReason = { kind: 'alias', device: p.key, with: t.key, rid, segment: p.segment, aliasReason: 'quirk' };
      const r = aliasGroup(t, devfns, [...trail, hop]) ?? functionAliasGroup(t, devfns, [...trail, hop]);
      if (r !== undefined) return r;
    }
    return undefined;
  };

  const join = (key: string, found: Found): void => {
    const g = groups[found.group]!;
    g.members.push(key);
    g.reasons.push(...found.trail);
    groupOf.set(key, found.group);
  };

  // pci_device_group
  const probe = (dev: FabricFunction): void => {
    let pdev = dev;
    let trail: GroupReason[] = [];
    for (const a of dmaAliases(fabric, dev.key)) {
      pdev = fn(a.via);
      const hop: GroupReason | undefined =
        a.via === dev.key ? undefined : { kind: 'alias', device: dev.key, with: a.via, rid: a.rid, segment: a.segment, aliasReason: a.reason };
      const g = groupOf.get(a.via);
      if (g !== undefined) return join(dev.key, { group: g, trail: hop === undefined ? [] : [hop] });
      if (hop !== undefined) trail = [hop];
    }
    for (let b = pdev.parent; b !== undefined; b = fn(b).parent) {
      if (pathIsolated(b)) break;
      const port = firstUnisolated(b);
      trail.push({ kind: 'no-acs-path', device: pdev.key, with: b, port, missing: missingAcs(fabric, port, REQ_ACS_FLAGS) });
      pdev = fn(b);
      const g = groupOf.get(b);
      if (g !== undefined) return join(dev.key, { group: g, trail });
    }
    const devfns = new Set<number>();
    const found = aliasGroup(pdev, devfns, trail) ?? functionAliasGroup(pdev, devfns, trail);
    if (found !== undefined) return join(dev.key, found);
    groupOf.set(dev.key, groups.length);
    groups.push({ members: [dev.key], reasons: [{ kind: 'own', device: dev.key }, ...trail] });
  };

  for (const f of probeOrder(fabric, fns)) probe(f);

  return groups.map((g, id) => ({
    id,
    devices: g.members.map(fn).sort(byBdf).map((f) => f.key),
    reasons: g.reasons,
  }));
}


const ALIAS_NAMES: Readonly<Record<DmaAlias['reason'], string>> = {
  own: 'its own requester ID',
  'dma-device': 'DMA device',
  quirk: 'DMA alias quirk',
  'pcie-to-pci-bridge': 'PCIe-to-PCI bridge',
  'pci-to-pcie-bridge': 'PCI-to-PCIe bridge',
  'pci-bridge': 'PCI bridge',
};

/** One line for a {@link GroupReason}, e.g. "05:01.0 aliases to 05:00.0 via PCIe-to-PCI bridge 01:00.0". */
export function describeGroupReason(fabric: Fabric, r: GroupReason): string {
  const named = (key: string): string => {
    const f = fabric.functions[key];
    return f === undefined ? key : `${key} (${FUNCTION_KIND_WORDS[f.kind]})`;
  };
  const bits = (m: readonly AcsBit[]): string => (m.length === 0 ? 'ACS' : `ACS ${m.join(' ')}`);
  switch (r.kind) {
    case 'own':
      return `${r.device} starts the group`;
    case 'alias': {
      const rid = formatBdf(r.rid, r.segment === 0 ? undefined : r.segment);
      return r.aliasReason === 'quirk'
        ? `${r.device} and ${r.with} are DMA aliases (requester ID ${rid})`
        : `${r.device} aliases to ${rid} via ${ALIAS_NAMES[r.aliasReason]} ${r.with}`;
    }
    case 'multifunction-no-acs':
      return `${r.device} and ${r.with}: functions of a multi-function device without ${bits(r.missing)}`;
    case 'no-acs-path':
      return r.port === r.with
        ? `${r.device} is grouped with ${named(r.with)}, which lacks ${bits(r.missing)}`
        : `${r.device} is grouped with ${named(r.with)} because ${named(r.port)} above it lacks ${bits(r.missing)}`;
  }
}

/** Canonical key of a BDF text (`0000:00:1f.0` → `00:1f.0`), or the text itself. */
function canonical(key: string): string {
  const b = parseBdf(key);
  if (b === undefined) return key.trim();
  return formatBdf(b.rid, b.segment === 0 ? undefined : b.segment);
}

function compareKeys(a: string, b: string): number {
  const pa = parseBdf(a);
  const pb = parseBdf(b);
  if (pa !== undefined && pb !== undefined) return pa.segment - pb.segment || pa.rid - pb.rid;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Compare two partitions of function keys, ignoring group ids and order. Keys that parse as
 * BDFs are compared canonically (`0000:00:1f.0` equals `00:1f.0`). `onlyInA` / `onlyInB`: the
 * groups (canonical keys, sorted) present in one partition and not, exactly, in the other.
 */
export function samePartition(
  a: readonly (readonly string[])[],
  b: readonly (readonly string[])[],
): { equal: boolean; onlyInA: string[][]; onlyInB: string[][] } {
  const norm = (p: readonly (readonly string[])[]): Map<string, string[]> => {
    const m = new Map<string, string[]>();
    for (const g of p) {
      const keys = [...new Set(g.map(canonical))].sort(compareKeys);
      m.set(keys.join('\n'), keys);
    }
    return m;
  };
  const na = norm(a);
  const nb = norm(b);
  const byFirst = (x: string[], y: string[]): number => compareKeys(x[0] ?? '', y[0] ?? '');
  const onlyInA = [...na].filter(([k]) => !nb.has(k)).map(([, g]) => g).sort(byFirst);
  const onlyInB = [...nb].filter(([k]) => !na.has(k)).map(([, g]) => g).sort(byFirst);
  return { equal: onlyInA.length === 0 && onlyInB.length === 0, onlyInA, onlyInB };
}
