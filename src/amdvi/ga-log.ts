/**
 * The AMD-Vi guest virtual APIC (GA) log: the ring of 8-byte entries the IOMMU writes when an
 * interrupt for a vCPU that is not running arrives at a GA-mode IRTE with GALogIntr = 1 (spec
 * 48882 §2.2.5.x "guest virtual APIC"; Linux `drivers/iommu/amd/amd_iommu_types.h` `GA_TAG`,
 * `GA_DEVID`, `GA_REQ_TYPE`, `GA_GUEST_NR`, `iommu.c` `iommu_poll_ga_log`; sheet amdvi-facts.md
 * §4.3, §2.3). Pure.
 *
 * Ring geometry [derived]: Linux allocates 512 entries of 8 bytes (`GA_LOG_SIZE` 4096) and writes
 * GA Log Base = address | `GA_LOG_SIZE_512` (8 << 56), i.e. Len = 8 read as 16 · 2^Len bytes, the
 * same rule as the command buffer and event log (src/amdvi/registers.ts `ringBytes`); the sheet
 * marks the Len encoding [UNSURE]. Head and tail (MMIO 0x2040 / 0x2048) are byte offsets, bits
 * 15:3. Full when tail + 8 ≡ head: the entry is dropped and Status.GALOverflow set (as the event
 * log, src/amdvi/event-log.ts); otherwise Status.GAInt is set and the GA-log interrupt fires with
 * Control.GAIntEn.
 */
import { defineLayout } from '../bits/layout.ts';
import type { PhysicalMemory } from '../memory/physical-memory.ts';
import { CONTROL_BITS, STATUS_BITS, regBit, ringAddress, ringBytes } from './registers.ts';
import type { AmdViRegisters } from './unit.ts';

/** Bytes per GA-log entry. */
export const GA_LOG_ENTRY_BYTES = 8;

/** GA_REQ_TYPE of an entry for a guest interrupt to a non-running vCPU (Linux `GA_GUEST_NR`). */
export const GA_GUEST_NR = 0x1;

/** GA-log entry (Linux `GA_TAG(x)` = x[31:0], `GA_DEVID(x)` = x[47:32], `GA_REQ_TYPE(x)` = x[63:60]). */
export const GA_LOG_ENTRY_LAYOUT = defineLayout({
  name: 'AMD-Vi GA log entry',
  width: 64,
  fields: {
    GATag: { hi: 31, lo: 0 },
    DeviceID: { hi: 47, lo: 32 },
    Type: { hi: 63, lo: 60 },
  },
  reserved: [{ hi: 59, lo: 48 }],
});

/** The entry for a guest interrupt (type GUEST_NR) of `deviceId` with `gaTag`. @throws RangeError when a field does not fit. */
export function encodeGaLogEntry(gaTag: number, deviceId: number): bigint {
  return GA_LOG_ENTRY_LAYOUT.encode({ GATag: gaTag >>> 0, DeviceID: deviceId, Type: GA_GUEST_NR });
}

export type GaLogResult = 'logged' | 'full' | 'disabled';

/**
 * Append a GA-log entry. Only with Control.GALogEn = 1 (else `disabled`, nothing written).
 * Returns the memory and registers after it, where the entry went (`at`, bytes) and whether the
 * GA-log interrupt fires (logged and Control.GAIntEn).
 */
export function appendGaLog(
  memory: PhysicalMemory,
  regs: AmdViRegisters,
  entry: bigint,
): { memory: PhysicalMemory; regs: AmdViRegisters; result: GaLogResult; at: bigint | undefined; interrupt: boolean } {
  if (!regBit(regs.control, CONTROL_BITS.GALogEn)) return { memory, regs, result: 'disabled', at: undefined, interrupt: false };
  const size = ringBytes(regs.gaLogBase);
  const tail = (regs.gaLogTail & 0xfff8n) % size;
  const head = (regs.gaLogHead & 0xfff8n) % size;
  const next = (tail + BigInt(GA_LOG_ENTRY_BYTES)) % size;
  if (next === head) {
    return { memory, regs: { ...regs, status: regs.status | (1n << BigInt(STATUS_BITS.GALOverflow)) }, result: 'full', at: undefined, interrupt: false };
  }
  const at = ringAddress(regs.gaLogBase) + tail;
  return {
    memory: memory.writeLE(at, GA_LOG_ENTRY_BYTES, entry),
    regs: { ...regs, gaLogTail: next, status: regs.status | (1n << BigInt(STATUS_BITS.GAInt)) },
    result: 'logged',
    at,
    interrupt: regBit(regs.control, CONTROL_BITS.GAIntEn),
  };
}
