/**
 * `buildFabric`: validate a {@link FabricDescription} and resolve it into a {@link Fabric} —
 * keys, parents and paths, derived subordinate bus numbers, the multi-function default,
 * and the DMA aliases of the quirk table (src/fabric/quirks/dma-alias.ts) merged with the
 * description's.
 *
 * Rules and their sources:
 * - A bridge's secondary bus is the bus its type-1 header forwards to; its subordinate bus
 *   the highest bus below it; configuration and ID-routed traffic for buses in
 *   [secondary, subordinate] is forwarded downstream (PCI-to-PCI Bridge Architecture
 *   Specification 1.2 §3.2.5.3–5). Hence bus ranges nest: two bridges' ranges are disjoint
 *   or one bridge is below the other, and a bridge's secondary bus is greater than the bus
 *   it sits on (bus numbers are assigned depth-first from the root bus, and a bridge never
 *   claims its own primary bus). Linux enumerates the same way (drivers/pci/probe.c
 *   `pci_scan_bridge_extend`).
 * - The parent of a function is the bridge whose secondary bus the function sits on
 *   (Linux `pdev->bus->self`); on a root bus there is none (`pci_is_root_bus`).
 * - Header Type bit 7 (multi-function) defaults as Linux's scan would find it: set when
 *   another function of the device exists or the function number is not 0 (a device with
 *   only function 0 need not set it; functions 1..7 are only scanned when it is set —
 *   drivers/pci/probe.c `pci_scan_slot` / `next_fn`).
 * - Phantom Functions (PCIe 6.0 §7.5.3.3, Device Capabilities bits 4:3): with n = 1 the most
 *   significant Function Number bit is used, "a multi-Function device can implement
 *   Functions 0-3"; n = 2: Functions 0-1; n = 3: a single-function device (Function 0).
 *   So when enabled, the top n bits of the function number must be 0.
 *
 * Cost: linear in the number of functions (maps keyed by segment/bus; bus numbers are
 * 8-bit, so the per-segment sweeps are bounded by 256).
 */
import { formatBdf, parseBdf } from '../pci/bdf.ts';
import {
  BRIDGE_KINDS,
  FabricError,
  PCIE_TYPES,
  type Bar,
  type Fabric,
  type FabricDescription,
  type FabricFunction,
  type FunctionDescription,
  type HostBridge,
} from './model.ts';
import { dmaAliasQuirks, quirkAliasDevfns } from './quirks/dma-alias.ts';

/** The canonical key of a function: `bb:dd.f` in segment 0, `ssss:bb:dd.f` elsewhere (as `formatBdf`). */
export function fabricKey(segment: number, rid: number): string {
  return formatBdf(rid, segment === 0 ? undefined : segment);
}

/** The canonical key for a BDF text (`bb:dd.f` or `ssss:bb:dd.f`), or undefined when it is not one. */
export function canonicalKey(text: string): string | undefined {
  const p = parseBdf(text);
  return p === undefined ? undefined : fabricKey(p.segment, p.rid);
}

/** The function with this key (canonical, or any BDF spelling of it). @throws RangeError when there is none. */
export function fabricFunction(fabric: Fabric, key: string): FabricFunction {
  const fns = fabric.functions;
  const k = Object.hasOwn(fns, key) ? key : canonicalKey(key);
  const fn = k !== undefined && Object.hasOwn(fns, k) ? fns[k] : undefined;
  if (fn === undefined) throw new RangeError(`no function ${key} in the fabric`);
  return fn;
}

const KINDS: ReadonlySet<string> = new Set([...Object.keys(PCIE_TYPES), 'pci', 'pci-bridge']);
const BRIDGE_NAMES = [...BRIDGE_KINDS].join(', ');
const EMPTY: readonly string[] = Object.freeze([]);
const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

const isInt = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

interface Node {
  readonly d: FunctionDescription;
  readonly index: number;
  readonly key: string;
  readonly segment: number;
  readonly bus: number;
  readonly bridge: boolean;
  /** Index of the parent bridge in `nodes`, or -1 on a root bus. */
  parent: number;
  subordinate: number;
}

/**
 * Validate and resolve a fabric description.
 * @throws FabricError naming the offending function (its index in `d.functions`) and field.
 */
export function buildFabric(d: FabricDescription): Fabric {
  const fns = d.functions;
  const nodes: Node[] = [];
  const byKey = new Map<string, number>();

  // 1. Per-function checks.
  for (let i = 0; i < fns.length; i++) {
    const f = fns[i]!;
    let key: string | undefined;
    const fail = (field: string, msg: string): never => {
      throw new FabricError(`functions[${i}]${key === undefined ? '' : ` ${key}`}: ${msg}`, i, field);
    };
    // ACPI segments are 16 bits; Linux numbers VMD domains from 0x10000 (drivers/pci/controller/vmd.c).
    if (!isInt(f.segment, 0, 0xffff_ffff)) fail('segment', `segment (PCI domain) must be an integer 0..0xffffffff, got ${String(f.segment)}`);
    if (!isInt(f.rid, 0, 0xffff)) fail('rid', `rid must be a 16-bit requester ID (bus << 8 | device << 3 | function), got ${String(f.rid)}`);
    key = fabricKey(f.segment, f.rid);
    if (!KINDS.has(f.kind)) fail('kind', `kind must be one of ${[...KINDS].join(', ')}, got ${JSON.stringify(f.kind)}`);
    const first = byKey.get(key);
    if (first !== undefined) fail('rid', `function declared twice (first at functions[${first}]); expected each segment/bus/device/function once`);
    byKey.set(key, i);

    const bridge = BRIDGE_KINDS.has(f.kind);
    const bus = f.rid >> 8;
    if (!bridge) {
      for (const field of ['secondary', 'subordinate', 'primary'] as const) {
        if (f[field] !== undefined) fail(field, `a ${f.kind} has no ${field} bus: only bridges (${BRIDGE_NAMES}) have bus numbers`);
      }
    } else {
      if (f.secondary === undefined) fail('secondary', `a ${f.kind} is a bridge and needs its secondary bus number`);
      for (const field of ['secondary', 'subordinate', 'primary'] as const) {
        const v = f[field];
        if (v !== undefined && !isInt(v, 0, 0xff)) fail(field, `${field} must be a bus number 0..255, got ${String(v)}`);
      }
      if (f.primary !== undefined && f.primary !== bus) fail('primary', `primary bus ${hex2(f.primary)} must equal the bridge's own bus ${hex2(bus)}`);
      if (f.subordinate !== undefined && f.subordinate < f.secondary!) {
        fail('subordinate', `subordinate bus ${hex2(f.subordinate)} must be at least the secondary bus ${hex2(f.secondary!)}`);
      }
    }
    if (f.vendorId !== undefined && !isInt(f.vendorId, 0, 0xffff)) fail('vendorId', `vendorId must be 16 bits, got ${String(f.vendorId)}`);
    if (f.deviceId !== undefined && !isInt(f.deviceId, 0, 0xffff)) fail('deviceId', `deviceId must be 16 bits, got ${String(f.deviceId)}`);
    if (f.acs !== undefined && !(isInt(f.acs.cap, 0, 0xffff) && isInt(f.acs.ctrl, 0, 0xffff))) fail('acs', 'acs cap and ctrl must be 16-bit register values');
    if (f.phantom !== undefined) {
      const n = f.phantom.supported;
      if (!isInt(n, 0, 3)) fail('phantom', `phantom.supported must be 0..3 (Function Number bits used, PCIe §7.5.3.3), got ${String(n)}`);
      const fn = f.rid & 7;
      if (f.phantom.enabled && n > 0 && fn >> (3 - n) !== 0) {
        fail('phantom', `phantom functions with ${n} bit${n > 1 ? 's' : ''} need function number 0..${(1 << (3 - n)) - 1} (its top ${n} bit${n > 1 ? 's' : ''} 0), got function ${fn}`);
      }
    }
    if (f.dmaAliases !== undefined) {
      for (const a of f.dmaAliases) if (!isInt(a, 0, 0xff)) fail('dmaAliases', `a DMA alias is a devfn 0..255 on the function's own bus, got ${String(a)}`);
    }
    if (f.bars !== undefined) {
      for (const b of f.bars) {
        if (!(typeof b.base === 'bigint' && typeof b.size === 'bigint' && b.base >= 0n && b.size > 0n && b.base + b.size <= 1n << 64n)) {
          fail('bars', `a BAR needs a base >= 0 and a size > 0 within the 64-bit address space, got base ${String(b.base)} size ${String(b.size)}`);
        }
      }
    }
    nodes.push({ d: f, index: i, key, segment: f.segment, bus, bridge, parent: -1, subordinate: bridge ? (f.subordinate ?? f.secondary!) : -1 });
  }

  // dmaDevice names another function (canonicalised).
  const dmaDevice: (string | undefined)[] = nodes.map((n) => {
    const t = n.d.dmaDevice;
    if (t === undefined) return undefined;
    const k = canonicalKey(t);
    if (k === undefined || !byKey.has(k)) {
      throw new FabricError(`functions[${n.index}] ${n.key}: dmaDevice ${JSON.stringify(t)} names no function of the fabric; expected the key of the function whose requester ID carries its DMA`, n.index, 'dmaDevice');
    }
    return k;
  });

  // Phantom function numbers are unclaimed ones: a device may use them only where no
  // function is implemented (PCIe 6.0 §2.2.6.2, Phantom Functions).
  for (const n of nodes) {
    const p = n.d.phantom;
    if (p === undefined || !p.enabled || p.supported === 0) continue;
    const fn = n.d.rid & 7;
    for (let k = 1; k < 1 << p.supported; k++) {
      const phantomKey = formatBdf((n.d.rid & ~7) | fn | (k << (3 - p.supported)), n.segment === 0 ? undefined : n.segment);
      if (byKey.has(phantomKey)) {
        throw new FabricError(`functions[${n.index}] ${n.key}: its phantom function ${phantomKey} is an implemented function; phantom functions use unclaimed function numbers (PCIe 6.0 §2.2.6.2)`, n.index, 'phantom');
      }
    }
  }

  // 2. Host bridges: the root buses.
  const hostBridges = resolveHostBridges(d.hostBridges, nodes);
  const roots = new Set(hostBridges.map((h) => `${h.segment}:${h.bus}`));

  // 3. Secondary buses: one bridge each, never a root bus.
  const bySecondary = new Map<string, number>();
  for (const n of nodes) {
    if (!n.bridge) continue;
    const sec = n.d.secondary!;
    const k = `${n.segment}:${sec}`;
    const other = bySecondary.get(k);
    if (other !== undefined) {
      throw new FabricError(`functions[${n.index}] ${n.key}: secondary bus ${hex2(sec)} is already the secondary bus of bridge ${nodes[other]!.key}; expected one bridge per bus`, n.index, 'secondary');
    }
    if (roots.has(k)) {
      throw new FabricError(`functions[${n.index}] ${n.key}: secondary bus ${hex2(sec)} is a root bus of a host bridge in segment ${n.segment}; expected a bus below the root`, n.index, 'secondary');
    }
    bySecondary.set(k, n.index);
  }

  // 4. Parents: the bridge whose secondary bus the function is on.
  for (const n of nodes) {
    const k = `${n.segment}:${n.bus}`;
    if (roots.has(k)) continue;
    const p = bySecondary.get(k);
    if (p === undefined) {
      throw new FabricError(
        `functions[${n.index}] ${n.key}: bus ${hex2(n.bus)} of segment ${n.segment} is neither a root bus of a host bridge nor the secondary bus of any bridge; expected the function on a bus that exists`,
        n.index,
        'rid',
      );
    }
    n.parent = p;
  }

  // 5. Paths, detecting cycles of parent links (a bridge below itself).
  const childPath: (readonly string[] | undefined)[] = new Array(nodes.length);
  const state = new Uint8Array(nodes.length); // 0 new, 1 on the current chain, 2 done
  const pathOf = (i: number): readonly string[] => {
    const p = nodes[i]!.parent;
    return p < 0 ? EMPTY : childPath[p]!;
  };
  for (const start of nodes) {
    if (!start.bridge || state[start.index] === 2) continue;
    const chain: number[] = [];
    let j = start.index;
    while (j >= 0 && state[j] === 0) {
      state[j] = 1;
      chain.push(j);
      j = nodes[j]!.parent;
    }
    if (j >= 0 && state[j] === 1) {
      const loop = chain.slice(chain.indexOf(j)).map((x) => nodes[x]!.key);
      throw new FabricError(
        `functions[${j}] ${nodes[j]!.key}: bridges form a cycle ${[...loop, loop[0]].join(' → ')} (each sits on the secondary bus of the next); expected every bridge to lead up to a root bus`,
        j,
        'secondary',
      );
    }
    for (let c = chain.length - 1; c >= 0; c--) {
      const x = chain[c]!;
      childPath[x] = Object.freeze([...pathOf(x), nodes[x]!.key]);
      state[x] = 2;
    }
  }

  // 6. A bridge's secondary bus is below it: numbered greater than its own bus.
  for (const n of nodes) {
    if (n.bridge && n.d.secondary! <= n.bus) {
      throw new FabricError(`functions[${n.index}] ${n.key}: secondary bus ${hex2(n.d.secondary!)} must be greater than the bridge's own bus ${hex2(n.bus)}`, n.index, 'secondary');
    }
  }

  // 7. Derived subordinate buses, deepest bridges first.
  const byDepth: number[][] = [];
  for (const n of nodes) {
    if (!n.bridge) continue;
    const depth = pathOf(n.index).length;
    (byDepth[depth] ??= []).push(n.index);
  }
  for (let depth = byDepth.length - 1; depth >= 0; depth--) {
    for (const i of byDepth[depth] ?? []) {
      const n = nodes[i]!;
      if (n.parent < 0) continue;
      const p = nodes[n.parent]!;
      if (p.d.subordinate === undefined && n.subordinate > p.subordinate) p.subordinate = n.subordinate;
    }
  }

  // 8. Bus ranges nest: a child's inside its parent's, others disjoint; no root bus inside a range.
  for (const n of nodes) {
    if (!n.bridge || n.parent < 0) continue;
    const p = nodes[n.parent]!;
    if (n.subordinate > p.subordinate) {
      throw new FabricError(
        `functions[${p.index}] ${p.key}: bus range [${hex2(p.d.secondary!)}, ${hex2(p.subordinate)}] must hold the range [${hex2(n.d.secondary!)}, ${hex2(n.subordinate)}] of bridge ${n.key} below it`,
        p.index,
        'subordinate',
      );
    }
  }
  checkNesting(nodes, bySecondary, hostBridges, pathOf);

  // 9. The multi-function default: count functions per device.
  const perDevice = new Map<string, number>();
  for (const n of nodes) {
    const k = `${n.segment}:${n.d.rid >> 3}`;
    perDevice.set(k, (perDevice.get(k) ?? 0) + 1);
  }

  const functions: Record<string, FabricFunction> = {};
  for (const n of nodes) {
    const f = n.d;
    const quirkDevfns = quirkAliasDevfns(dmaAliasQuirks(f.vendorId, f.deviceId), f.rid & 0xff);
    const aliases = new Set<number>(quirkDevfns);
    for (const a of f.dmaAliases ?? []) aliases.add(a);
    const bars: readonly Bar[] = f.bars ?? [];
    functions[n.key] = {
      key: n.key,
      segment: n.segment,
      rid: f.rid,
      kind: f.kind,
      vendorId: f.vendorId,
      deviceId: f.deviceId,
      multifunction: f.multifunction ?? ((perDevice.get(`${n.segment}:${f.rid >> 3}`) ?? 0) > 1 || (f.rid & 7) !== 0),
      bridge: n.bridge ? { secondary: f.secondary!, subordinate: n.subordinate } : undefined,
      acs: f.acs,
      phantom: f.phantom,
      dmaAliases: [...aliases].sort((a, b) => a - b),
      dmaDevice: dmaDevice[n.index],
      bars,
      parent: n.parent < 0 ? undefined : nodes[n.parent]!.key,
      path: pathOf(n.index),
    };
  }
  return { hostBridges, functions };
}

function resolveHostBridges(given: readonly HostBridge[] | undefined, nodes: readonly Node[]): readonly HostBridge[] {
  if (given === undefined) {
    const segments = [...new Set(nodes.map((n) => n.segment))].sort((a, b) => a - b);
    return segments.map((segment) => ({ segment, bus: 0 }));
  }
  const seen = new Set<string>();
  for (const [i, h] of given.entries()) {
    if (!isInt(h.segment, 0, 0xffff_ffff) || !isInt(h.bus, 0, 0xff)) {
      throw new FabricError(`hostBridges[${i}]: expected a segment (PCI domain) 0..0xffffffff and a root bus 0..255, got segment ${String(h.segment)} bus ${String(h.bus)}`, undefined, 'hostBridges', i);
    }
    const k = `${h.segment}:${h.bus}`;
    if (seen.has(k)) throw new FabricError(`hostBridges[${i}]: root bus ${hex2(h.bus)} of segment ${h.segment} declared twice`, undefined, 'hostBridges', i);
    seen.add(k);
  }
  return given;
}

/**
 * Sweep each segment's buses upward with a stack of the open bridge ranges: a range that
 * starts inside the innermost open one must end inside it and belong to a bridge below it;
 * a root bus must not be inside any range. Bus numbers are 8-bit, so each sweep is ≤ 256
 * steps plus the bridges.
 */
function checkNesting(nodes: readonly Node[], bySecondary: ReadonlyMap<string, number>, hostBridges: readonly HostBridge[], pathOf: (i: number) => readonly string[]): void {
  const segments = new Map<number, { roots: Set<number>; secs: Map<number, number> }>();
  const seg = (s: number) => {
    let e = segments.get(s);
    if (!e) segments.set(s, (e = { roots: new Set(), secs: new Map() }));
    return e;
  };
  for (const h of hostBridges) seg(h.segment).roots.add(h.bus);
  for (const i of bySecondary.values()) {
    const n = nodes[i]!;
    seg(n.segment).secs.set(n.d.secondary!, i);
  }
  for (const { roots, secs } of segments.values()) {
    if (secs.size === 0) continue;
    const open: Node[] = [];
    for (let bus = 0; bus <= 0xff; bus++) {
      while (open.length > 0 && open[open.length - 1]!.subordinate < bus) open.pop();
      const top = open[open.length - 1];
      if (roots.has(bus) && top !== undefined) {
        throw new FabricError(
          `functions[${top.index}] ${top.key}: bus range [${hex2(top.d.secondary!)}, ${hex2(top.subordinate)}] covers root bus ${hex2(bus)} of a host bridge; expected the range to end below it`,
          top.index,
          'subordinate',
        );
      }
      const i = secs.get(bus);
      if (i === undefined) continue;
      const n = nodes[i]!;
      if (top !== undefined) {
        const range = `[${hex2(bus)}, ${hex2(n.subordinate)}]`;
        const topRange = `[${hex2(top.d.secondary!)}, ${hex2(top.subordinate)}]`;
        if (n.subordinate > top.subordinate) {
          throw new FabricError(`functions[${i}] ${n.key}: bus range ${range} overlaps the range ${topRange} of bridge ${top.key}; expected disjoint or nested ranges`, i, 'subordinate');
        }
        const depth = pathOf(top.index).length;
        if (pathOf(i)[depth] !== top.key) {
          throw new FabricError(
            `functions[${i}] ${n.key}: bus range ${range} lies inside the range ${topRange} of bridge ${top.key}, which is not above it; expected sibling ranges to be disjoint`,
            i,
            'secondary',
          );
        }
      }
      open.push(n);
    }
  }
}
