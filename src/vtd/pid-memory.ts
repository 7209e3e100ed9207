/**
 * Posted-interrupt descriptors as they sit in simulated memory: read one, or update
 * its fields with one atomic read-modify-write of the 64 bytes (VT-d §9.12 requires
 * software to update ON/SN/NV/NDST with locked cmpxchg, and the IOMMU updates PIR and
 * ON atomically; the model's writes are whole-descriptor, which is at least that).
 */
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import { decodePid, encodePid, PID_BYTES, type PostedInterruptDescriptor } from './pid.ts';

/** The descriptor at `pda` (64-byte aligned HPA) and its reserved bits. */
export function readPid(memory: PhysicalMemory, pda: bigint): { pid: PostedInterruptDescriptor; reserved: bigint } {
  return decodePid(memory.readLE(pda, PID_BYTES));
}

/** Memory with the descriptor at `pda` replaced by `update(old)`; reserved bits are kept. */
export function updatePid(
  memory: PhysicalMemory,
  pda: bigint,
  update: (pid: PostedInterruptDescriptor) => PostedInterruptDescriptor,
): { memory: PhysicalMemory; before: PostedInterruptDescriptor; after: PostedInterruptDescriptor } {
  const { pid, reserved } = readPid(memory, pda);
  const after = update(pid);
  return { memory: memory.writeLE(pda, PID_BYTES, encodePid(after, reserved)), before: pid, after };
}
