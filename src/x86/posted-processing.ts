/**
 * Posted-interrupt processing by a CPU (Intel SDM Vol. 3 §30.6): when a logical
 * processor in VMX non-root mode receives an interrupt whose vector is the VMCS's
 * posted-interrupt notification vector, it clears ON in the vCPU's descriptor,
 * ORs PIR into the virtual APIC's IRR and clears PIR — no VM exit. Software does the
 * same before VM entry when ON is set (KVM `vmx_sync_pir_to_irr`, Xen likewise).
 */
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import type { Vcpu } from '../platform/state.ts';
import { postAndTakePir, takePir, takePirExtension } from '../vtd/pid-memory.ts';
import { pirVectors } from '../vtd/pid.ts';

/**
 * Move `vcpu`'s PIR into its vIRR and clear ON. `onlyIfOn`: do nothing unless ON is set (the software harvest).
 * `vectorBits` > 8 (HYPOTHETICAL wide vectors, src/hypothetical/direct-post): the PIR extension
 * after the descriptor (src/vtd/pid-memory.ts `takePirExtension`) is moved too, vector v into vIRR bit v.
 */
export function processPir(
  memory: PhysicalMemory,
  vcpu: Vcpu,
  onlyIfOn: boolean,
  vectorBits = 8,
): { memory: PhysicalMemory; vcpu: Vcpu; vectors: number[] } {
  const r = takePir(memory, vcpu.pda, onlyIfOn);
  if (r.memory === memory) return { memory, vcpu, vectors: [] };
  if (vectorBits <= 8) return { memory: r.memory, vcpu: { ...vcpu, virr: vcpu.virr | r.pir }, vectors: pirVectors(r.pir) };
  const ext = takePirExtension(r.memory, vcpu.pda, vectorBits);
  const vectors = pirVectors(r.pir);
  for (let bits = ext.bits >> 256n, v = 256; bits !== 0n; bits >>= 1n, v++) if ((bits & 1n) === 1n) vectors.push(v);
  return { memory: ext.memory, vcpu: { ...vcpu, virr: vcpu.virr | r.pir | ext.bits }, vectors };
}

/**
 * A posting to `vcpu`'s own PID whose notification `vcpu`'s CPU processes at once, in
 * one update (`postAndTakePir`): the same memory, vCPU and vectors as posting with ON set
 * (`postToPid(…, true)`) and then `processPir(…, false)`. The vCPU is returned frozen.
 */
export function postAndProcessPir(memory: PhysicalMemory, vcpu: Vcpu, vector: number): { memory: PhysicalMemory; vcpu: Vcpu; vectors: number[] } {
  const r = postAndTakePir(memory, vcpu.pda, vector);
  return { memory: r.memory, vcpu: Object.freeze({ ...vcpu, virr: vcpu.virr | r.pir }), vectors: r.vectors };
}

/** Highest set bit of a 256-bit value, or -1. */
export function highestVector(bits: bigint): number {
  return bits === 0n ? -1 : bits.toString(2).length - 1;
}
