/**
 * Host-bridge MSI validation (POWER's PHB, seed thread 003; `platform.msiValidation`): the
 * bridge keeps, per requester ID of a partitionable endpoint, the address/data pairs the
 * hypervisor assigned, and accepts an interrupt write only with one of them.
 */

/** The key of an assigned pair in the bridge's per-requester index (`state.interrupts.msiValidation.byRequester`). */
export function msiPairKey(address: bigint, data: number): string {
  return `${address.toString(16)}:${(data >>> 0).toString(16)}`;
}
