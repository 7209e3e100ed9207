/**
 * Where a function's request goes before the root complex, and which requester ID it
 * carries when it gets there.
 *
 * Requester IDs on the way up (nearest bridge first):
 * - a PCIe-to-PCI/PCI-X bridge takes ownership of transactions from its conventional side
 *   and forwards them with the requester ID (secondary bus, device 0, function 0) (PCI
 *   Express to PCI/PCI-X Bridge Specification 1.0 §2.3; Linux drivers/pci/search.c
 *   `pci_for_each_dma_alias` relies on the same) — except a bridge with the
 *   `pci-bridge-no-alias` quirk (ASPEED AST1150, src/fabric/quirks/dma-alias.ts);
 * - a PCI/PCI-X-to-PCIe bridge forwards with its own requester ID, and so does a
 *   conventional PCI-to-PCI bridge ("For all cases where the upstream bus is PCI/X we alias
 *   to the bridge", search.c), or with (secondary, 0) when it is a PCIe-to-PCI bridge
 *   without a PCIe capability (`PCI_DEV_FLAG_PCIE_BRIDGE_ALIAS`, quirk_use_pcie_bridge_dma_alias);
 * - a Root Port or Switch Downstream Port with ACS Source Validation implemented and
 *   enabled checks that the bus number of an upstream request's requester ID lies in its
 *   [secondary, subordinate] range; a request that fails is an ACS Violation and goes no
 *   further (PCIe 6.0 §6.12.1.1). Checked with the requester ID as it reaches the port.
 * - Switch Upstream Ports forward unchanged; at a `PCI_DEV_FLAGS_BRIDGE_XLATE_ROOT`
 *   bridge the translation unit sees the request, so the walk ends there (after the port's
 *   own Source Validation).
 *
 * Peer-to-peer routing of memory requests:
 * - within a multi-function device: ACS P2P Request Redirect of the function decides
 *   whether a request to a sibling function's BAR is redirected upstream (PCIe 6.0
 *   §6.12.1.2; without ACS the device may route it internally);
 * - on a conventional PCI bus (shared: every agent sees every transaction, no ACS is
 *   possible) the target decodes the address and claims it (PCI Local Bus 3.0 §3.2.2;
 *   a bridge claims what its window below it holds: PCI-to-PCI Bridge Architecture 1.2 §4.1);
 * - at a switch: a Downstream Port routes a request whose address a BAR below another
 *   Downstream Port of the same switch holds to that port, unless ACS P2P Request
 *   Redirect and Upstream Forwarding are both in effect (redirected to the Upstream Port
 *   and on up; Linux requires both in REQ_ACS_FLAGS for the same reason);
 * - a Root Port hands it to the root complex.
 * "In effect" as Linux drivers/pci/pci.c `pci_acs_flags_enabled`: the function has an ACS
 * capability and the feature is either absent from the capability register ("Features
 * missing from the capability field can therefore be assumed as hard-wired enabled") or
 * enabled in the control register.
 *
 * Cost: O(depth) per requester ID; a routed request O(depth · log bars) with per-fabric
 * indexes built lazily (WeakMap on the Fabric object).
 */
import { ACS_BITS, type Fabric, type FabricFunction } from './model.ts';
import { fabricFunction } from './build.ts';
import { isPciBridgeNoAlias, isXlateRoot, pcieBridgeAliasApplies } from './quirks/dma-alias.ts';

export interface RootArrival {
  /** Requester ID as it reaches the root complex (or, when blocked, the port that dropped it). */
  readonly rid: number;
  readonly blocked?: { readonly port: string; readonly reason: 'acs-source-validation'; readonly range: readonly [number, number] };
  /** Key of the topmost bridge that replaced the requester ID. */
  readonly rewrittenBy?: string;
}

export type RequestRoute =
  | { readonly kind: 'upstream' }
  | {
      readonly kind: 'peer';
      /** Key of the function whose BAR claims the address. */
      readonly target: string;
      /** Key of the switch downstream port, bridge, or the device whose internal routing delivers it. */
      readonly at: string;
      readonly why: string;
    };

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

/** ACS Source Validation implemented and enabled (both the capability and control bit). */
function sourceValidation(fn: FabricFunction): boolean {
  return fn.acs !== undefined && (fn.acs.cap & ACS_BITS.SV) !== 0 && (fn.acs.ctrl & ACS_BITS.SV) !== 0;
}

/** An ACS feature in effect, as Linux `pci_acs_flags_enabled`: ACS capability present, and the bit missing from cap (hard-wired) or set in ctrl. */
export function acsInEffect(fn: FabricFunction, bit: number): boolean {
  return fn.acs !== undefined && ((fn.acs.cap & bit) === 0 || (fn.acs.ctrl & bit) !== 0);
}

/**
 * The requester ID `emitted` by function `key` as it reaches the root complex, or the port that blocks it.
 *
 * A function whose DMA another function carries (`dmaDevice`: a VMD domain's device, Linux
 * `pci_real_dma_dev`) sends its requests through its own domain's ports, which check Source
 * Validation on what it emitted; the carrier then forwards them under its own requester ID,
 * from where the carrier is — so nothing the function emits reaches the IOMMU under any other
 * ID (not its BDF of another segment, nor its phantom functions). Emitting the carrier's ID is
 * the function's own request (as `presentedRequesterIds` lists it).
 */
export function requesterIdAtRoot(fabric: Fabric, key: string, emitted: number): RootArrival {
  const fn = fabricFunction(fabric, key);
  if (fn.dmaDevice === undefined || fn.dmaDevice === fn.key) return walkUp(fabric, fn, emitted);
  const carrier = fabricFunction(fabric, fn.dmaDevice);
  const below = walkUp(fabric, fn, (emitted & 0xffff) === carrier.rid ? fn.rid : emitted);
  if (below.blocked !== undefined) return below;
  const up = walkUp(fabric, carrier, carrier.rid);
  return { ...up, rewrittenBy: up.rewrittenBy ?? carrier.key };
}

/** `emitted` carried from `fn` up its path (nearest bridge first): rewritten by bridges, checked by ACS SV. */
function walkUp(fabric: Fabric, fn: FabricFunction, emitted: number): RootArrival {
  let rid = emitted & 0xffff;
  let rewrittenBy: string | undefined;
  const arrival = (): RootArrival => (rewrittenBy === undefined ? { rid } : { rid, rewrittenBy });
  for (let i = fn.path.length - 1; i >= 0; i--) {
    const b = fabric.functions[fn.path[i]!]!;
    const secondary = b.bridge?.secondary ?? 0;
    const subordinate = b.bridge?.subordinate ?? secondary;
    if ((b.kind === 'root-port' || b.kind === 'switch-downstream') && sourceValidation(b)) {
      const bus = rid >> 8;
      if (bus < secondary || bus > subordinate) {
        return { ...arrival(), blocked: { port: b.key, reason: 'acs-source-validation', range: [secondary, subordinate] } };
      }
    }
    // The translation unit is at this bridge: what it sees is the requester ID as it is here.
    if (isXlateRoot(b)) break;
    switch (b.kind) {
      case 'pcie-to-pci-bridge':
        if (!isPciBridgeNoAlias(b)) {
          rid = secondary << 8;
          rewrittenBy = b.key;
        }
        break;
      case 'pci-to-pcie-bridge':
        rid = b.rid;
        rewrittenBy = b.key;
        break;
      case 'pci-bridge':
        rid = pcieBridgeAliasApplies(fabric, b) ? secondary << 8 : b.rid;
        rewrittenBy = b.key;
        break;
      default:
        // Root Ports, Switch Upstream and Downstream Ports forward the requester ID unchanged.
        break;
    }
  }
  return arrival();
}

// ---------------------------------------------------------------------------------------
// Peer-to-peer routing.

/** BAR intervals of a set of functions, sorted by base, with the running maximum end. */
interface BarIndex {
  readonly base: readonly bigint[];
  readonly end: readonly bigint[];
  readonly maxEnd: readonly bigint[];
  readonly fn: readonly FabricFunction[];
}

interface FabricIndex {
  /** Functions per device (segment, bus, device). */
  readonly slots: ReadonlyMap<string, readonly FabricFunction[]>;
  /** Functions per bus (segment, bus). */
  readonly onBus: ReadonlyMap<string, readonly FabricFunction[]>;
  /** BARs of every function below a bridge (its [secondary, subordinate] buses), built on first use. */
  readonly subtree: Map<string, BarIndex>;
}

const INDEXES = new WeakMap<Fabric, FabricIndex>();

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

function indexOf(fabric: Fabric): FabricIndex {
  let idx = INDEXES.get(fabric);
  if (idx === undefined) {
    const slots = new Map<string, FabricFunction[]>();
    const onBus = new Map<string, FabricFunction[]>();
    for (const fn of Object.values(fabric.functions)) {
      push(slots, `${fn.segment}:${fn.rid >> 3}`, fn);
      push(onBus, `${fn.segment}:${fn.rid >> 8}`, fn);
    }
    idx = { slots, onBus, subtree: new Map() };
    INDEXES.set(fabric, idx);
  }
  return idx;
}

function subtreeBars(idx: FabricIndex, bridge: FabricFunction): BarIndex {
  let bi = idx.subtree.get(bridge.key);
  if (bi !== undefined) return bi;
  const bars: { base: bigint; end: bigint; fn: FabricFunction }[] = [];
  const buses = [bridge.bridge!.secondary];
  for (let bus = buses.pop(); bus !== undefined; bus = buses.pop()) {
    for (const fn of idx.onBus.get(`${bridge.segment}:${bus}`) ?? []) {
      for (const b of fn.bars) bars.push({ base: b.base, end: b.base + b.size, fn });
      if (fn.bridge !== undefined) buses.push(fn.bridge.secondary);
    }
  }
  bars.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  const maxEnd: bigint[] = [];
  let m = -1n;
  for (const b of bars) maxEnd.push((m = b.end > m ? b.end : m));
  bi = { base: bars.map((b) => b.base), end: bars.map((b) => b.end), maxEnd, fn: bars.map((b) => b.fn) };
  idx.subtree.set(bridge.key, bi);
  return bi;
}

/** A function of `bi` one of whose BARs overlaps [lo, hi) and that `accept`s, or undefined. */
function claim(bi: BarIndex, lo: bigint, hi: bigint, accept: (fn: FabricFunction) => boolean): FabricFunction | undefined {
  // First index whose base is >= hi: only BARs before it can overlap.
  let a = 0;
  let z = bi.base.length;
  while (a < z) {
    const mid = (a + z) >> 1;
    if (bi.base[mid]! < hi) a = mid + 1;
    else z = mid;
  }
  for (let j = a - 1; j >= 0 && bi.maxEnd[j]! > lo; j--) {
    if (bi.end[j]! > lo && accept(bi.fn[j]!)) return bi.fn[j];
  }
  return undefined;
}

const holds = (fn: FabricFunction, lo: bigint, hi: bigint): boolean => fn.bars.some((b) => b.base < hi && b.base + b.size > lo);

const UPSTREAM: RequestRoute = { kind: 'upstream' };

/**
 * Route a memory request of `size` bytes at `address` from function `key`: to a peer
 * whose BAR claims it before the root complex, or upstream.
 */
export function routeRequest(fabric: Fabric, key: string, address: bigint, size: number): RequestRoute {
  const src = fabricFunction(fabric, key);
  const idx = indexOf(fabric);
  const lo = address;
  const hi = address + BigInt(Math.max(1, Math.ceil(size)));

  // (a) Another function of the same device, without ACS P2P Request Redirect (PCIe §6.12.1.2).
  if (!acsInEffect(src, ACS_BITS.RR)) {
    for (const other of idx.slots.get(`${src.segment}:${src.rid >> 3}`) ?? []) {
      if (other !== src && holds(other, lo, hi)) {
        return { kind: 'peer', target: other.key, at: src.key, why: `function ${src.key} has no ACS P2P Request Redirect in effect: the multi-function device routes the request to ${other.key} internally (PCIe §6.12.1.2)` };
      }
    }
  }

  for (let i = src.path.length - 1; i >= 0; i--) {
    const b = fabric.functions[src.path[i]!]!;
    switch (b.kind) {
      case 'pcie-to-pci-bridge':
      case 'pci-bridge': {
        // (b) A conventional bus: any other agent on it or below it claims the address.
        const hit = claim(subtreeBars(idx, b), lo, hi, (fn) => fn !== src);
        if (hit !== undefined) {
          return { kind: 'peer', target: hit.key, at: b.key, why: `bus ${hex2(b.bridge!.secondary)} below ${b.key} is a conventional PCI bus: ${hit.key} decodes the address and claims it before the bridge forwards it (no ACS on a shared bus)` };
        }
        break;
      }
      case 'switch-downstream': {
        // (c) The switch: a BAR below another Downstream Port of the same Upstream Port.
        if (b.parent === undefined) break;
        const up = fabric.functions[b.parent]!;
        const rr = acsInEffect(b, ACS_BITS.RR);
        const uf = acsInEffect(b, ACS_BITS.UF);
        if (rr && uf) break; // redirected to the Upstream Port, and on up
        const internal = up.bridge!.secondary;
        const { secondary: pLo, subordinate: pHi } = b.bridge!;
        const hit = claim(subtreeBars(idx, up), lo, hi, (fn) => {
          const bus = fn.rid >> 8;
          return bus !== internal && (bus < pLo || bus > pHi);
        });
        if (hit !== undefined) {
          const missing = !rr && !uf ? 'ACS P2P Request Redirect and Upstream Forwarding' : !rr ? 'ACS P2P Request Redirect' : 'ACS Upstream Forwarding';
          return { kind: 'peer', target: hit.key, at: b.key, why: `switch downstream port ${b.key} lacks ${missing} in effect: the switch routes the request to ${hit.key} below another downstream port (PCIe §6.12.1.2)` };
        }
        break;
      }
      case 'root-port':
        // (d) The root complex takes it.
        return UPSTREAM;
      default:
        break;
    }
  }
  return UPSTREAM;
}
