/**
 * Posted-interrupt descriptors as they sit in simulated memory: read one, or update
 * its fields with one atomic read-modify-write of the 64 bytes (VT-d §9.12 requires
 * software to update ON/SN/NV/NDST with locked cmpxchg, and the IOMMU updates PIR and
 * ON atomically; the model's writes are whole-descriptor, which is at least that).
 */
import { PhysicalMemory } from '../memory/physical-memory.ts';
import { decodePid, encodePid, PID_BYTES, PID_LAYOUT, type PostedInterruptDescriptor } from './pid.ts';

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

// Word-level access to the fields the IOMMU and the CPU update on every posting: the
// PIR dwords and the control dword holding ON, SN and NV (positions from PID_LAYOUT).
const PID_WORDS = PID_BYTES / 4;
const PIR_WORDS = 256 / 32;
const f = PID_LAYOUT.spec.fields;
const CONTROL_WORD = f.ON.lo >> 5;
const NDST_WORD = f.NDST.lo >> 5;
const ON_BIT = 1 << (f.ON.lo & 31);
const SN_BIT = 1 << (f.SN.lo & 31);
const NV_SHIFT = f.NV.lo & 31;
/** Reserved bits of the control dword (271:258 and 287:280), which the IOMMU checks (fault 0x28). */
const CONTROL_RESERVED = (PID_LAYOUT.spec.reserved ?? [])
  .filter((r) => r.lo >> 5 === CONTROL_WORD && r.hi >> 5 === CONTROL_WORD)
  .reduce((m, r) => m | (((2 ** (r.hi - r.lo + 1) - 1) << (r.lo & 31)) >>> 0), 0) >>> 0;

/** The control fields of the PID at `pda`, read word-wise. */
export function readPidControl(memory: PhysicalMemory, pda: bigint): { on: boolean; sn: boolean; nv: number; ndst: number; reservedSet: boolean } {
  let c: number;
  let ndst: number;
  const offset = Number(pda & 0xfffn);
  if (PhysicalMemory.isDirect(memory) && (offset & 3) === 0 && (offset & 0xff) + (NDST_WORD + 1) * 4 <= 256 && pda >= 0n && pda >> 64n === 0n) {
    // The same two dwords as below, without allocating the typed array (a counting proxy
    // around the memory sees the readWords call below, as before).
    const frame = Number(pda >> 12n);
    c = memory.readWord(frame, (offset >> 2) + CONTROL_WORD);
    ndst = memory.readWord(frame, (offset >> 2) + NDST_WORD);
  } else {
    const w = memory.readWords(pda + BigInt(CONTROL_WORD * 4), NDST_WORD - CONTROL_WORD + 1);
    c = w[0]!;
    ndst = w[NDST_WORD - CONTROL_WORD]!;
  }
  return { on: (c & ON_BIT) !== 0, sn: (c & SN_BIT) !== 0, nv: (c >>> NV_SHIFT) & 0xff, ndst: ndst >>> 0, reservedSet: (c & CONTROL_RESERVED) !== 0 };
}

/** Set PIR bit `vector` and, if `setOn`, ON — one atomic update of the descriptor at `pda`. */
export function postToPid(memory: PhysicalMemory, pda: bigint, vector: number, setOn: boolean): PhysicalMemory {
  return memory.modifyWords(pda, PID_WORDS, (w, first) => {
    w[first + (vector >> 5)] = (w[first + (vector >> 5)]! | (1 << (vector & 31))) >>> 0;
    if (setOn) w[first + CONTROL_WORD] = (w[first + CONTROL_WORD]! | ON_BIT) >>> 0;
  });
}

/**
 * Take PIR and clear it and ON — one atomic update (SDM §30.6; KVM `pi_test_and_clear_on` +
 * `pi_harvest_pir`). With `onlyIfOn`, nothing happens unless ON is set. Returns the PIR taken (256 bits).
 */
export function takePir(memory: PhysicalMemory, pda: bigint, onlyIfOn: boolean): { memory: PhysicalMemory; pir: bigint } {
  const control = memory.readWords(pda + BigInt(CONTROL_WORD * 4), 1)[0]!;
  if (onlyIfOn && (control & ON_BIT) === 0) return { memory, pir: 0n };
  let pir = 0n;
  const next = memory.modifyWords(pda, PID_WORDS, (w, first) => {
    for (let i = PIR_WORDS - 1; i >= 0; i--) {
      pir = (pir << 32n) | BigInt(w[first + i]!);
      w[first + i] = 0;
    }
    w[first + CONTROL_WORD] = (w[first + CONTROL_WORD]! & ~ON_BIT) >>> 0;
  });
  return { memory: next, pir };
}

/**
 * A posting immediately followed by its processing, as one atomic update of the
 * descriptor at `pda`: the net effect of `postToPid(memory, pda, vector, true)` then
 * `takePir(memory, pda, false)` — PIR bit `vector` set, then PIR taken and cleared, ON
 * cleared — with one copy of the chunk instead of two. For a notification that the
 * CPU running the descriptor's own vCPU processes at once (src/platform/device-write.ts).
 * Returns the PIR taken (256 bits) and its vectors in ascending order (as `pirVectors`).
 */
export function postAndTakePir(memory: PhysicalMemory, pda: bigint, vector: number): { memory: PhysicalMemory; pir: bigint; vectors: number[] } {
  let pir = 0n;
  const vectors: number[] = [];
  const next = memory.modifyWords(pda, PID_WORDS, (w, first) => {
    w[first + (vector >> 5)] = (w[first + (vector >> 5)]! | (1 << (vector & 31))) >>> 0;
    for (let i = 0; i < PIR_WORDS; i++) {
      const word = w[first + i]!;
      if (word === 0) continue;
      // Only the non-zero dwords are converted: usually just the one posted to.
      pir |= BigInt(word) << BigInt(32 * i);
      for (let x = word | 0; x !== 0; x &= x - 1) vectors.push(32 * i + (31 - Math.clz32(x & -x)));
      w[first + i] = 0;
    }
    w[first + CONTROL_WORD] = ((w[first + CONTROL_WORD]! | ON_BIT) & ~ON_BIT) >>> 0;
  });
  return { memory: next, pir, vectors };
}

// HYPOTHETICAL wide vectors (remapsim's direct-post extension, src/hypothetical/direct-post;
// seed thread 000's footnote "expand the vector space past 8 bits"): with a platform vector
// width of `vectorBits` > 8, vectors 256 .. 2^vectorBits − 1 have their posted bits in a PIR
// extension right after the 64-byte descriptor — vector v at byte PDA + 64 + (v − 256) / 8,
// bit (v − 256) % 8. No real PID has one; nothing touches it with vectorBits = 8.

/** Offset of the (hypothetical) PIR extension from the PDA, in bytes. */
export const PIR_EXTENSION_OFFSET = PID_BYTES;

/** Size in bytes of the (hypothetical) PIR extension for a vector width of `vectorBits` (0 when ≤ 8). */
export function pirExtensionBytes(vectorBits: number): number {
  return vectorBits > 8 ? (2 ** vectorBits - 256) / 8 : 0;
}

/**
 * Post wide vector `vector` (≥ 256, hypothetical): set its bit in the PIR extension and, if
 * `setOn`, ON in the descriptor at `pda` (one update as far as the model is concerned).
 * @throws RangeError when `vector` < 256.
 */
export function postToPidExtension(memory: PhysicalMemory, pda: bigint, vector: number, setOn: boolean): PhysicalMemory {
  if (!Number.isInteger(vector) || vector < 256) throw new RangeError(`vector ${vector} is not a wide vector (≥ 256)`);
  const address = pda + BigInt(PIR_EXTENSION_OFFSET + ((vector - 256) >> 3));
  const byte = memory.readBytes(address, 1)[0]! | (1 << ((vector - 256) & 7));
  let next = memory.writeBytes(address, Uint8Array.of(byte));
  if (setOn) {
    next = next.modifyWords(pda, PID_WORDS, (w, first) => {
      w[first + CONTROL_WORD] = (w[first + CONTROL_WORD]! | ON_BIT) >>> 0;
    });
  }
  return next;
}

/**
 * Take and clear the (hypothetical) PIR extension of the descriptor at `pda` for a vector
 * width of `vectorBits`. Returns the bits as vectors (bit v = vector v, so every bit is
 * ≥ 256); the memory is unchanged (same object) when the extension is empty or
 * `vectorBits` ≤ 8.
 */
export function takePirExtension(memory: PhysicalMemory, pda: bigint, vectorBits: number): { memory: PhysicalMemory; bits: bigint } {
  const bytes = pirExtensionBytes(vectorBits);
  if (bytes === 0) return { memory, bits: 0n };
  const address = pda + BigInt(PIR_EXTENSION_OFFSET);
  const ext = memory.readBytes(address, bytes);
  let bits = 0n;
  for (let i = bytes - 1; i >= 0; i--) if (ext[i] !== 0) bits |= BigInt(ext[i]!) << BigInt(8 * i);
  if (bits === 0n) return { memory, bits: 0n };
  return { memory: memory.writeBytes(address, new Uint8Array(bytes)), bits: bits << 256n };
}
