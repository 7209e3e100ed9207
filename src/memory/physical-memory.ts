/**
 * Simulated host-physical memory: sparse 4 KiB frames behind a persistent radix
 * directory.
 *
 * Why a hand-written persistent structure instead of an immer-drafted Map: a write
 * must copy O(depth) small nodes whatever the amount of populated memory (DESIGN.md
 * §2), and a Map or a flat object would be copied whole. Each directory node has 64
 * slots (6 bits of frame number); the tree grows in height only as far as the
 * highest populated frame needs (at most 9 levels for 52-bit physical addresses).
 * Instances are immutable: every write returns a new PhysicalMemory sharing all
 * untouched nodes and frames. immer treats the class instance as an opaque value, so
 * platform transitions swap it in with one assignment.
 *
 * Unpopulated memory reads as zero. Multi-byte values are little-endian, as on x86.
 * Addresses are bigint (exact to 64 bits); accesses above 2^64 - 1 wrap like a 64-bit
 * bus address would not, so they throw RangeError instead.
 */

const FRAME_SHIFT = 12n;
export const FRAME_BYTES = 4096;
const WORDS_PER_FRAME = FRAME_BYTES / 4;
const SLOT_BITS = 6;
const SLOTS = 1 << SLOT_BITS;
const MAX_ADDRESS = (1n << 64n) - 1n;

type Frame = Uint32Array;
type Node = (Node | Frame | undefined)[];

const EMPTY_FRAME: Frame = new Uint32Array(WORDS_PER_FRAME);

function slotOf(frame: number, level: number): number {
  // level 0 indexes the lowest 6 bits of the frame number; division keeps it exact beyond 2^32
  return Math.floor(frame / 2 ** (SLOT_BITS * level)) % SLOTS;
}


function checkRange(address: bigint, bytes: number): void {
  if (address < 0n || address + BigInt(bytes) - 1n > MAX_ADDRESS) {
    throw new RangeError(`physical address 0x${address.toString(16)} (+${bytes} bytes) is outside 64 bits`);
  }
}

export class PhysicalMemory {
  private constructor(
    private readonly root: Node,
    /** Directory levels above the frames. */
    private readonly height: number,
    /** Number of populated 4 KiB frames. */
    readonly populatedFrames: number,
  ) {}

  static empty(): PhysicalMemory {
    return new PhysicalMemory(new Array(SLOTS), 1, 0);
  }

  /** The frame holding frame number `frame` (address >> 12), or undefined if never written. */
  private frameAt(frame: number): Frame | undefined {
    if (frame >= 2 ** (SLOT_BITS * this.height)) return undefined;
    let node: Node = this.root;
    for (let level = this.height - 1; level > 0; level--) {
      const next = node[slotOf(frame, level)];
      if (next === undefined) return undefined;
      node = next as Node;
    }
    return node[slotOf(frame, 0)] as Frame | undefined;
  }

  /** True if any byte of frame `frame` has been written. */
  isPopulated(frame: number): boolean {
    return this.frameAt(frame) !== undefined;
  }

  /**
   * Replace whole frames, copying only the directory nodes on their paths.
   * `update` receives a private copy of each frame (zeroes if unpopulated) to mutate.
   */
  private withFrames(frames: readonly number[], update: (frame: number, words: Uint32Array) => void): PhysicalMemory {
    let height = this.height;
    let root = this.root;
    const maxFrame = Math.max(...frames);
    while (maxFrame >= 2 ** (SLOT_BITS * height)) {
      const grown: Node = new Array(SLOTS);
      grown[0] = root;
      root = grown;
      height++;
    }
    let populated = this.populatedFrames;
    root = root.slice();
    const copied = new Set<Node>([root]);
    for (const frame of frames) {
      let node = root;
      for (let level = height - 1; level > 0; level--) {
        const slot = slotOf(frame, level);
        const child = node[slot] as Node | undefined;
        let next: Node;
        if (child === undefined) next = new Array(SLOTS);
        else if (copied.has(child)) next = child;
        else next = child.slice();
        copied.add(next);
        node[slot] = next;
        node = next;
      }
      const slot = slotOf(frame, 0);
      const old = node[slot] as Frame | undefined;
      if (old === undefined) populated++;
      const words = (old ?? EMPTY_FRAME).slice();
      update(frame, words);
      node[slot] = words;
    }
    return new PhysicalMemory(root, height, populated);
  }

  /** Read one aligned 32-bit word at `frame`/`wordIndex` (hot paths avoid bigint). */
  readWord(frame: number, wordIndex: number): number {
    const f = this.frameAt(frame);
    return f === undefined ? 0 : (f[wordIndex] ?? 0);
  }

  /** Read `length` bytes starting at `address`. @throws RangeError outside 64 bits. */
  readBytes(address: bigint, length: number): Uint8Array {
    checkRange(address, length);
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const a = address + BigInt(i);
      const f = this.frameAt(Number(a >> FRAME_SHIFT));
      if (f === undefined) continue;
      const offset = Number(a & 0xfffn);
      out[i] = ((f[offset >> 2] ?? 0) >>> ((offset & 3) * 8)) & 0xff;
    }
    return out;
  }

  /**
   * Read a little-endian unsigned integer of `bytes` bytes (1..64) at `address`.
   * Naturally aligned dword-multiple reads take a word-wise fast path.
   * @throws RangeError outside 64 bits.
   */
  readLE(address: bigint, bytes: number): bigint {
    checkRange(address, bytes);
    if ((bytes & 3) === 0 && (address & 3n) === 0n && (address & 0xfffn) + BigInt(bytes) <= 4096n) {
      const f = this.frameAt(Number(address >> FRAME_SHIFT));
      if (f === undefined) return 0n;
      const first = Number(address & 0xfffn) >> 2;
      let v = 0n;
      for (let i = bytes / 4 - 1; i >= 0; i--) v = (v << 32n) | BigInt(f[first + i] ?? 0);
      return v;
    }
    const b = this.readBytes(address, bytes);
    let v = 0n;
    for (let i = bytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] ?? 0);
    return v;
  }

  /** Read a 32-bit little-endian word. */
  readU32(address: bigint): number {
    return Number(this.readLE(address, 4));
  }

  /** Read a 64-bit little-endian qword. */
  readU64(address: bigint): bigint {
    return this.readLE(address, 8);
  }

  /**
   * Write `value` as a little-endian integer of `bytes` bytes (1..64) at `address`,
   * returning the new memory; frames the write touches are copied, nothing else.
   * @throws RangeError when value is negative or does not fit, or the range is outside 64 bits.
   */
  writeLE(address: bigint, bytes: number, value: bigint): PhysicalMemory {
    checkRange(address, bytes);
    if (value < 0n || value >> BigInt(bytes * 8) !== 0n) {
      throw new RangeError(`value 0x${value.toString(16)} does not fit in ${bytes} bytes`);
    }
    const data = new Uint8Array(bytes);
    let v = value;
    for (let i = 0; i < bytes; i++) {
      data[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return this.writeBytes(address, data);
  }

  /** Write raw bytes at `address`. @throws RangeError outside 64 bits. */
  writeBytes(address: bigint, data: Uint8Array): PhysicalMemory {
    if (data.length === 0) return this;
    checkRange(address, data.length);
    const firstFrame = Number(address >> FRAME_SHIFT);
    const lastFrame = Number((address + BigInt(data.length - 1)) >> FRAME_SHIFT);
    const frames: number[] = [];
    for (let f = firstFrame; f <= lastFrame; f++) frames.push(f);
    const base = Number(address & 0xfffn);
    return this.withFrames(frames, (frame, words) => {
      const frameStart = (frame - firstFrame) * FRAME_BYTES - base; // index into data of this frame's byte 0
      const from = Math.max(0, frameStart);
      const to = Math.min(data.length, frameStart + FRAME_BYTES);
      for (let i = from; i < to; i++) {
        const offset = i - frameStart;
        const shift = (offset & 3) * 8;
        const w = offset >> 2;
        words[w] = (((words[w] ?? 0) & ~(0xff << shift)) | ((data[i] ?? 0) << shift)) >>> 0;
      }
    });
  }

  /** Write a 32-bit little-endian word. */
  writeU32(address: bigint, value: number): PhysicalMemory {
    return this.writeLE(address, 4, BigInt(value >>> 0));
  }

  /** Write a 64-bit little-endian qword. */
  writeU64(address: bigint, value: bigint): PhysicalMemory {
    return this.writeLE(address, 8, value);
  }

  /** Populated frame numbers in ascending order (for dumps and serialisation). */
  frames(): number[] {
    const out: number[] = [];
    const walk = (node: Node, level: number, prefix: number): void => {
      for (let s = 0; s < SLOTS; s++) {
        const child = node[s];
        if (child === undefined) continue;
        const frame = prefix * SLOTS + s;
        if (level === 0) out.push(frame);
        else walk(child as Node, level - 1, frame);
      }
    };
    walk(this.root, this.height - 1, 0);
    return out;
  }

  /** A JSON-friendly view: populated frames as hex address → hex bytes. */
  toJSON(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const frame of this.frames()) {
      const bytes = this.readBytes(BigInt(frame) << FRAME_SHIFT, FRAME_BYTES);
      out['0x' + (BigInt(frame) << FRAME_SHIFT).toString(16)] = Buffer.from(bytes).toString('hex');
    }
    return out;
  }
}
