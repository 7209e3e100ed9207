/**
 * The AVIC vAPIC backing page (AMD APM vol. 2 §15.29 "Advanced Virtual Interrupt Controller"):
 * a 4 KiB page holding the guest's virtual APIC registers at their xAPIC MMIO offsets. An
 * IOMMU posting a guest interrupt (GA-mode IRTE, src/amdvi/interrupt-remapping.ts 'guest')
 * sets the vector's bit of the virtual IRR: IRR register n (vectors 32n..32n+31) is the 32-bit
 * word at 0x200 + 0x10·n, bit v & 31 (APM §15.29.3.1; Linux arch/x86/kvm/svm/avic.c accesses
 * `apic->regs` at APIC_IRR = 0x200 with the lapic.c `VEC_POS`/`REG_POS` rule). Pure.
 */
import type { PhysicalMemory } from '../memory/physical-memory.ts';

/** Offset of IRR register 0 in the backing page (APIC_IRR). */
export const AVIC_IRR_OFFSET = 0x200;

/** Bytes of a backing page. */
export const AVIC_BACKING_PAGE_BYTES = 4096;

/** Byte address of the 32-bit IRR word holding `vector`, and the bit in it. @throws RangeError for a vector outside 0..255. */
export function avicIrrLocation(backingPage: bigint, vector: number): { address: bigint; bit: number } {
  if (!Number.isInteger(vector) || vector < 0 || vector > 255) throw new RangeError(`vector ${vector} is not 0..255`);
  return { address: backingPage + BigInt(AVIC_IRR_OFFSET + 0x10 * (vector >> 5)), bit: vector & 31 };
}

/** The memory with `vector`'s IRR bit set in the backing page at `backingPage` (bytes). */
export function avicSetIrr(memory: PhysicalMemory, backingPage: bigint, vector: number): PhysicalMemory {
  const { address, bit } = avicIrrLocation(backingPage, vector);
  const word = memory.readLE(address, 4);
  return memory.writeLE(address, 4, word | (1n << BigInt(bit)));
}

/**
 * The 256-bit virtual IRR held by the backing page (bit v = vector v), and the memory with it
 * cleared: what a running vCPU takes into its vIRR when the doorbell arrives (APM §15.29.2.4:
 * the processor evaluates the backing page's IRR; the model keeps `Vcpu.virr` apart, so it moves).
 */
export function avicTakeIrr(memory: PhysicalMemory, backingPage: bigint): { irr: bigint; memory: PhysicalMemory } {
  let irr = 0n;
  let mem = memory;
  for (let n = 0; n < 8; n++) {
    const address = backingPage + BigInt(AVIC_IRR_OFFSET + 0x10 * n);
    const word = mem.readLE(address, 4);
    if (word === 0n) continue;
    irr |= word << BigInt(32 * n);
    mem = mem.writeLE(address, 4, 0n);
  }
  return { irr, memory: mem };
}
