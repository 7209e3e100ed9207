/**
 * A request on its way from the function to the root complex (DESIGN.md §1): the
 * fabric decides whether it goes up at all — a switch without ACS redirect may route a
 * memory request to a peer's BAR, a port with ACS Source Validation drops a requester ID
 * that does not belong below it — and which requester ID it carries when it arrives (a
 * PCIe-to-PCI bridge replaces it with its own alias). Only what arrives reaches the
 * remapping unit (src/platform/device-write.ts, src/platform/dma-access.ts).
 *
 * A function's own requests take a precomputed answer (`PciFunction.busRid`); only a
 * request with another requester ID, or a fabric with BARs, walks the function's path
 * (O(depth): src/fabric/routing.ts).
 */
import type { PlatformEvent } from './events.ts';
import type { PciFunction, PlatformState } from './state.ts';
import { requesterIdAtRoot, routeRequest, type RequestRoute } from '../fabric/routing.ts';
import { isInterruptAddress } from '../x86/msi.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Emit = (event: DistributiveOmit<PlatformEvent, 'step'>) => void;

/** A request as it leaves the function. */
export interface OutboundRequest {
  readonly address: bigint;
  readonly size: number;
  readonly write: boolean;
}

const UPSTREAM: RequestRoute = { kind: 'upstream' };

/**
 * Carry a request `fn` emitted with requester ID `emitted` through the fabric. Returns
 * the requester ID it carries at the root complex, or undefined when it never got
 * there — blocked by a port (`request-blocked`) or routed to a peer (`dma-peer`), both
 * reported here. The interrupt window 0xFEEx_xxxx is never a BAR (it is the root
 * complex's), so a message there is not routed peer to peer.
 */
export function traverseFabric(state: PlatformState, fn: PciFunction, emitted: number, request: OutboundRequest, emit: Emit): number | undefined {
  // A function the fabric does not hold (a hand-built PlatformDescription may leave it out):
  // alone on a root bus, as the default topology would have it; its requests go up unchanged.
  if (!Object.hasOwn(state.fabric.functions, fn.key)) return emitted & 0xffff;
  const route = isInterruptAddress(request.address) ? UPSTREAM : routeRequest(state.fabric, fn.key, request.address, request.size);
  if (emitted === fn.rid && route.kind === 'upstream') return fn.busRid;
  const arrival = requesterIdAtRoot(state.fabric, fn.key, emitted);
  const blocked = arrival.blocked;
  // Source Validation is checked by the ports a request passes: all of them on the way up,
  // only those at or below the switch port that turns a peer request around.
  if (blocked !== undefined && (route.kind === 'upstream' || checkedBefore(state, fn, blocked.port, route.at))) {
    emit({ kind: 'request-blocked', device: fn.key, rid: emitted, address: request.address, write: request.write, port: blocked.port, range: blocked.range, reason: blocked.reason });
    return undefined;
  }
  if (route.kind === 'upstream') return arrival.rid;
  emit({ kind: 'dma-peer', device: fn.key, rid: emitted, address: request.address, size: request.size, write: request.write, target: route.target, at: route.at, why: route.why });
  return undefined;
}

/** Whether port `port` lies at or below `at` on `fn`'s path (the request passes it before turning at `at`). */
function checkedBefore(state: PlatformState, fn: PciFunction, port: string, at: string): boolean {
  const path = state.fabric.functions[fn.key]?.path ?? [];
  const turn = path.indexOf(at);
  return turn >= 0 && path.indexOf(port) >= turn;
}
