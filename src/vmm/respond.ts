/**
 * The VMM layer's answer to a request (called by the platform's transition, like a policy):
 * a guest access updates the guest's view (`vmm-guest-view`, the same for every design) and
 * then lets the design react (`vmm-react`); host interrupts of VMM host vectors, device-model
 * operations and reactions go to the design (src/vmm/design.ts).
 */
import type { Action, ActionOf, DeviceModelOp, HypercallOp } from '../platform/actions.ts';
import type { PlatformState } from '../platform/state.ts';
import { decodeGuestAccess } from './guest-access.ts';
import { vmmDesignNamed } from './index.ts';

export type VmmRequest = ActionOf<'guest-mmio'> | ActionOf<'guest-config'> | ActionOf<'vmm-react'> | ActionOf<'vmm-interrupt'> | ActionOf<'device-model'> | ActionOf<'hypercall'> | ActionOf<'vmm-start'>;

export const VMM_REQUEST_KINDS: ReadonlySet<Action['kind']> = new Set(['guest-mmio', 'guest-config', 'vmm-react', 'vmm-interrupt', 'device-model', 'hypercall', 'vmm-start']);

export function isVmmRequest(a: Action): a is VmmRequest {
  return VMM_REQUEST_KINDS.has(a.kind);
}

/** The operations of actions.ts `DeviceModelOp` and `HypercallOp`: another `op` names no operation a design answers. */
const DEVICE_MODEL_OPS: ReadonlySet<string> = new Set(['bind', 'unbind', 'mask', 'write-page', 'signal-msi'] satisfies DeviceModelOp['op'][]);
const HYPERCALL_OPS: ReadonlySet<string> = new Set(['set-interrupt', 'get-msi-pair'] satisfies HypercallOp['op'][]);

/** Why `request` cannot be served (no VMM, the device is not one the VMM manages, `vmm-start` of a domain that is not a guest), or undefined. */
export function vmmRefusal(state: PlatformState, request: VmmRequest): string | undefined {
  if (state.vmm === undefined) return 'the platform has no VMM design (platform.vmm)';
  if (request.kind === 'device-model' && !DEVICE_MODEL_OPS.has(request.op?.op)) return `device-model: '${String(request.op?.op)}' is no device-model operation (${[...DEVICE_MODEL_OPS].join(', ')})`;
  if (request.kind === 'hypercall' && !HYPERCALL_OPS.has(request.op?.op)) return `hypercall: '${String(request.op?.op)}' is no hypercall (${[...HYPERCALL_OPS].join(', ')})`;
  if (request.kind === 'vmm-start') {
    const d = state.domains[request.domain];
    return d?.kind === 'guest' ? undefined : `vmm-start: ${d === undefined ? `no domain ${request.domain}` : `${d.name} is the ${d.kind}, not a guest`}`;
  }
  const device = request.kind === 'vmm-react' ? request.access.device : request.device;
  if (state.vmm.devices[device] === undefined) return `${device} is not an assigned function with MSI-X that the VMM manages`;
  if (request.kind === 'device-model' && state.vmm.devices[device]!.domain !== request.domain) return `${device} is not assigned to domain ${request.domain}, whose device model this is`;
  // get-msi-pair's ownership check is the design's own (ims-hypercall-broken-no-owner-check leaves it out).
  if (request.kind === 'hypercall' && request.op.op !== 'get-msi-pair' && state.vmm.devices[device]!.domain !== request.domain) return `hypercall ${request.op.op} by domain ${request.domain}: ${device} is not assigned to it`;
  return undefined;
}

/** The actions answering `request` (see the module comment); [] when {@link vmmRefusal} says why not. */
export function vmmRespond(state: PlatformState, request: VmmRequest): Action[] {
  if (vmmRefusal(state, request) !== undefined) return [];
  const vmm = state.vmm!;
  const design = vmmDesignNamed(vmm.design);
  switch (request.kind) {
    case 'guest-mmio':
    case 'guest-config': {
      const device = vmm.devices[request.device]!;
      if (request.kind === 'guest-mmio' && !(Number.isInteger(request.size) && request.size >= 1 && request.size <= 8 && Number.isInteger(request.offset) && request.offset >= 0)) return [];
      const decoded = decodeGuestAccess(device, request, design.virtualPending(state, request.device));
      return [
        { kind: 'vmm-guest-view', device: request.device, guest: decoded.next },
        { kind: 'vmm-access', access: decoded.access },
        { kind: 'vmm-react', access: decoded.access },
      ];
    }
    case 'vmm-react':
      return design.onGuestAccess(state, request);
    case 'vmm-interrupt':
      return design.onDeviceInterrupt(state, request);
    case 'device-model':
      return design.onDeviceModel(state, request);
    case 'hypercall':
      return design.onHypercall?.(state, request) ?? [{ kind: 'vmm-note', note: `hypercall ${request.op.op} for ${request.device} refused: the ${design.name} design has no hypercall interface` }];
    case 'vmm-start':
      return design.onStart?.(state, request) ?? [{ kind: 'vmm-note', note: `vmm-start ${state.domains[request.domain]!.name}: the ${design.name} design sets nothing up per VM` }];
  }
}
