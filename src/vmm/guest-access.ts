/**
 * A guest's access to an assigned function, decoded against its view (src/vmm/virtual-msix.ts):
 * the parts per region, the new view, and what the access did to the guest's vectors. Pure;
 * the same for every design — designs only see the result (`vmm-react`).
 */
import type { ActionOf, GuestAccess } from '../platform/actions.ts';
import type { PlatformState } from '../platform/state.ts';
import type { VmmDevice } from './state.ts';
import { guestMasked, readPba, readTable, splitAccess, writeConfig, writeTable, type VirtualMsix } from './virtual-msix.ts';

/** The decoded access, the guest's new view, and for a read the value the guest gets back. */
export interface DecodedAccess {
  readonly access: GuestAccess;
  readonly next: VirtualMsix;
  /** Bytes the guest reads (a read), from the table, the PBA, and 0 for device registers (not modelled). */
  readonly read: bigint | undefined;
}

/** Vectors whose effective mask the change from `before` to `after` cleared or set. */
function maskChanges(before: VirtualMsix, after: VirtualMsix, pending: bigint): Pick<GuestAccess, 'unmasked' | 'masked'> {
  const unmasked: { entry: number; pending: boolean }[] = [];
  const masked: number[] = [];
  for (let k = 0; k < after.table.length; k++) {
    const was = guestMasked(before, k);
    const now = guestMasked(after, k);
    if (was && !now) unmasked.push({ entry: k, pending: ((pending >> BigInt(k)) & 1n) === 1n });
    else if (!was && now) masked.push(k);
  }
  return { unmasked, masked };
}

/**
 * Decode `request` against `device`'s view. `pending` is the PBA as the guest reads it
 * before the access (the design's {@link VmmDesign.virtualPending}).
 */
export function decodeGuestAccess(device: VmmDevice, request: ActionOf<'guest-mmio'> | ActionOf<'guest-config'>, pending: bigint): DecodedAccess {
  const before = device.guest;
  if (request.kind === 'guest-config') {
    const { next, touched } = writeConfig(before, request.offset, request.size, request.value);
    const changes = maskChanges(before, next, pending);
    const access: GuestAccess = {
      device: request.device,
      space: 'config',
      write: true,
      bar: -1,
      offset: request.offset,
      size: request.size,
      value: BigInt(request.value >>> 0),
      parts: [{ region: touched ? 'config' : 'direct', offset: request.offset, size: request.size, value: BigInt(request.value >>> 0) }],
      written: [],
      ...changes,
      before,
    };
    return { access, next, read: undefined };
  }
  const parts = splitAccess(before.layout, request.bar, request.offset, request.size, request.write ? request.value : 0n);
  let next = before;
  const written = new Set<number>();
  let read = 0n;
  for (const p of parts) {
    const shift = BigInt(8 * (p.offset - request.offset));
    if (p.region === 'table') {
      if (request.write) {
        // Only an access the spec defines reaches the table: a straddling or narrow access is ignored there.
        const whole = parts.length === 1 ? writeTable(next, p.offset, p.size, p.value) : { next, written: [] };
        next = whole.next;
        for (const k of whole.written) written.add(k);
      } else {
        read |= (parts.length === 1 ? readTable(next, p.offset, p.size) : (1n << BigInt(8 * p.size)) - 1n) << shift;
      }
    } else if (p.region === 'pba' && !request.write) {
      read |= (parts.length === 1 ? readPba(next, pending, p.offset, p.size) : (1n << BigInt(8 * p.size)) - 1n) << shift;
    }
  }
  const access: GuestAccess = {
    device: request.device,
    space: 'mmio',
    write: request.write,
    bar: request.bar,
    offset: request.offset,
    size: request.size,
    value: request.write ? request.value : read,
    parts,
    written: [...written].sort((a, b) => a - b),
    ...maskChanges(before, next, pending),
    before,
  };
  return { access, next, read: request.write ? undefined : read };
}

/** The VMM device record of `device` when the VMM layer manages it. */
export function vmmDevice(state: PlatformState, device: string): VmmDevice | undefined {
  return state.vmm?.devices[device];
}
