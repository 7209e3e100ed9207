/**
 * Simulated host-physical memory: sparse 4 KiB frames behind a persistent radix
 * directory.
 *
 * Why a hand-written persistent structure instead of an immer-drafted Map: a write
 * must copy O(depth) small nodes whatever the amount of populated memory (DESIGN.md
 * §2), and a Map or a flat object would be copied whole. The leaves are 256-byte
 * chunks (16 per 4 KiB frame): copying a whole 4 KiB frame costs about 1 µs in V8,
 * more than the rest of a posted-interrupt write, while the structures the IOMMU
 * updates (PIDs, IRTEs, page-table entries) are at most 64 bytes. The directory is
 * keyed by 4 KiB frame number (at most 52 bits, so exact as a JavaScript number); each
 * directory node has 64 slots (6 bits); a populated frame is a 16-slot node of chunks.
 * The tree grows in height only as far as the highest populated frame needs (at most
 * 9 levels for 64-bit addresses).
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
const CHUNK_SHIFT = 8n;
const CHUNK_BYTES = 256;
const CHUNK_WORDS = CHUNK_BYTES / 4;
const CHUNKS_PER_FRAME = FRAME_BYTES / CHUNK_BYTES;
const SLOT_BITS = 6;
const SLOTS = 1 << SLOT_BITS;
const MAX_ADDRESS = (1n << 64n) - 1n;

/** A 256-byte chunk as 64 little-endian dwords. A plain array: V8 copies it several times faster than a Uint32Array. */
type Frame = number[];
/**
 * One populated 4 KiB frame: slots 0..15 its chunks as written since the frame was packed
 * (undefined: not written since), slot {@link PACKED} the packed frame — all 1,024 dwords in one
 * Uint32Array (4 KiB of backing store and one object, against 16 × ≈530 bytes as plain arrays:
 * issue 15 goal 7) — `undefined` while the frame was never packed, `null` once its every chunk
 * was written again (the packed copy was wholly shadowed and dropped). A chunk slot shadows the
 * packed copy. A frame is packed once, by the first write that reaches the end of a chunk once
 * its 16 chunks are all written (or by one write that covers them all), so that a structure
 * written over and over (a PID) costs no allocation beyond the first packing: later writes copy
 * one 256-byte chunk, as before. Waiting for a chunk's end is for software that fills a table
 * in order (IRTEs one at a time): packing on the first store into the last chunk left that
 * chunk shadowed by the 15 stores after it, ≈ 530 bytes a frame (issue 15 goal 7).
 */
type FrameNode = (Frame | Uint32Array | null | undefined)[];
type Node = (Node | FrameNode | undefined)[];
/** Slot of a frame node holding its packed copy. */
const PACKED = 16;

const EMPTY_CHUNK: Frame = new Array<number>(CHUNK_WORDS).fill(0);

/** Dword `w` (0..1023) of a frame node: its chunk if written since packing, else the packed copy, else 0. */
function wordOf(node: FrameNode, w: number): number {
  const c = node[w >> 6] as Frame | undefined;
  if (c !== undefined) return c[w & (CHUNK_WORDS - 1)]!;
  const p = node[PACKED] as Uint32Array | null | undefined;
  return p == null ? 0 : p[w]!;
}

/** A private, writable copy of chunk `k` of `node` (zeroes if unpopulated). */
function chunkCopy(node: FrameNode, k: number): Frame {
  const c = node[k] as Frame | undefined;
  if (c !== undefined) return c.slice();
  const p = node[PACKED] as Uint32Array | null | undefined;
  if (p == null) return EMPTY_CHUNK.slice();
  const out: Frame = [];
  const first = k * CHUNK_WORDS;
  for (let i = 0; i < CHUNK_WORDS; i++) out.push(p[first + i]!);
  return out;
}

/** A new, empty frame node (17 slots, no chunk). */
function emptyFrameNode(): FrameNode {
  return new Array(CHUNKS_PER_FRAME + 1);
}

/**
 * Pack `node` in place (a private node of the write being built, not yet shared) when all 16
 * chunks are written: the first time, into one Uint32Array, if the write reached the end of a
 * chunk of it (`reachedChunkEnd`); later, the packed copy is wholly shadowed and is dropped
 * (see {@link FrameNode}).
 */
function packIfFull(node: FrameNode, reachedChunkEnd: boolean): void {
  if (node[PACKED] === undefined && !reachedChunkEnd) return;
  for (let k = 0; k < CHUNKS_PER_FRAME; k++) if (node[k] === undefined) return;
  if (node[PACKED] !== undefined) {
    node[PACKED] = null;
    return;
  }
  const packed = new Uint32Array(FRAME_BYTES / 4);
  for (let k = 0; k < CHUNKS_PER_FRAME; k++) {
    const c = node[k] as Frame;
    packed.set(c, k * CHUNK_WORDS);
    node[k] = undefined;
  }
  node[PACKED] = packed;
}

/** 64^level, for levels 0..8 (frame numbers reach 2^52). */
const LEVEL_DIVISOR = Array.from({ length: 9 }, (_, level) => 2 ** (SLOT_BITS * level));

function slotOf(frame: number, level: number): number {
  // level 0 indexes the lowest 6 bits of the frame number; division keeps it exact beyond 2^32
  return Math.floor(frame / LEVEL_DIVISOR[level]!) % SLOTS;
}

/** Frame number and chunk-in-frame of a chunk address (address >> 8), exact for 64-bit addresses. */
function chunkOf(address: bigint): { frame: number; chunk: number } {
  return { frame: Number(address >> FRAME_SHIFT), chunk: Number((address >> CHUNK_SHIFT) & 0xfn) };
}


/**
 * Widest {@link PhysicalMemory.writeLE} store, in bytes: one 4 KiB page. The widest real store is a
 * 64-byte PASID entry (src/vtd/dma/builder.ts); the scenario schema's `write-memory` allows 16.
 */
export const MAX_WRITE_LE_BYTES = 4096;

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
    /** Number of 4 KiB frames with at least one populated chunk. */
    readonly populatedFrames: number,
  ) {}

  static empty(): PhysicalMemory {
    return new PhysicalMemory(new Array(SLOTS), 1, 0);
  }

  /**
   * The last frame looked up and its node: walks and posted-interrupt updates read the
   * same frame repeatedly. A memo of an immutable value, so not observable.
   */
  private memoFrame = -1;
  private memoNode: FrameNode | undefined;

  /** The 16-chunk node of 4 KiB frame `frame` (address >> 12), or undefined if never written. */
  private frameAt(frame: number): FrameNode | undefined {
    if (frame === this.memoFrame) return this.memoNode;
    const node = this.lookupFrame(frame);
    this.memoFrame = frame;
    this.memoNode = node;
    return node;
  }

  private lookupFrame(frame: number): FrameNode | undefined {
    if (frame >= 2 ** (SLOT_BITS * this.height)) return undefined;
    let node: Node = this.root;
    for (let level = this.height - 1; level > 0; level--) {
      const next = node[slotOf(frame, level)];
      if (next === undefined) return undefined;
      node = next as Node;
    }
    return node[slotOf(frame, 0)] as FrameNode | undefined;
  }

  /** The frame node holding `address`, or undefined if never written. */
  private nodeAt(address: bigint): FrameNode | undefined {
    return this.frameAt(chunkOf(address).frame);
  }

  /** True if any byte of 4 KiB frame `frame` has been written. */
  isPopulated(frame: number): boolean {
    return this.frameAt(frame) !== undefined;
  }

  /**
   * True for a PhysicalMemory itself, false for a Proxy around one (src/explorer/
   * memory-counter.ts counts the accessor calls a transition makes through such a proxy):
   * private names are not forwarded by proxies. Callers that may fuse several accessor
   * calls into one take the fused path only on direct memory, so counted references stay
   * what the unfused calls make.
   */
  static isDirect(memory: PhysicalMemory): boolean {
    return #brand in memory;
  }

  #brand(): void {}

  /** The root and height after growing the tree until frame `frame` fits (the root itself is not copied). */
  private grownTo(frame: number): { root: Node; height: number } {
    let height = this.height;
    let root = this.root;
    while (frame >= 2 ** (SLOT_BITS * height)) {
      const grown: Node = new Array(SLOTS);
      grown[0] = root;
      root = grown;
      height++;
    }
    return { root, height };
  }

  /**
   * One chunk replaced (withChunks for a single chunk, without its bookkeeping): the
   * path to chunk `k` of frame `frame` is copied, `update` mutates a private copy of the
   * chunk; `reachesChunkEnd` says whether the bytes it writes run to the chunk's end (packing,
   * {@link FrameNode}). The new memory remembers the frame it wrote (the next access is usually to it).
   */
  private withChunk(frame: number, k: number, reachesChunkEnd: boolean, update: (words: number[]) => void): PhysicalMemory {
    const grown = this.grownTo(frame);
    const height = grown.height;
    let populated = this.populatedFrames;
    const root = grown.root.slice();
    let node = root;
    for (let level = height - 1; level > 0; level--) {
      const slot = slotOf(frame, level);
      const child = node[slot] as Node | undefined;
      const next: Node = child === undefined ? new Array(SLOTS) : child.slice();
      node[slot] = next;
      node = next;
    }
    const slot = slotOf(frame, 0);
    const oldFrame = node[slot] as FrameNode | undefined;
    let frameNode: FrameNode;
    if (oldFrame === undefined) {
      populated++;
      frameNode = emptyFrameNode();
    } else frameNode = oldFrame.slice();
    node[slot] = frameNode;
    const words = chunkCopy(frameNode, k);
    update(words);
    frameNode[k] = words;
    packIfFull(frameNode, reachesChunkEnd);
    const memory = new PhysicalMemory(root, height, populated);
    memory.memoFrame = frame;
    memory.memoNode = frameNode;
    return memory;
  }

  /**
   * Replace whole chunks, copying only the directory nodes on their paths.
   * `chunks` are chunk addresses (address >> 8) as bigint; `update` receives a private
   * copy of each chunk (zeroes if unpopulated) and its index in `chunks`, to mutate. The chunks
   * are consecutive and every one but the last is written to its end; `lastReachesChunkEnd`
   * says whether the last one is too (packing, {@link FrameNode}).
   */
  private withChunks(chunks: readonly bigint[], lastReachesChunkEnd: boolean, update: (index: number, words: number[]) => void): PhysicalMemory {
    let maxFrame = 0;
    for (const c of chunks) maxFrame = Math.max(maxFrame, Number(c >> 4n));
    const grown = this.grownTo(maxFrame);
    const height = grown.height;
    let populated = this.populatedFrames;
    const root = grown.root.slice();
    // Nodes already copied by this write (a multi-chunk write shares path prefixes).
    const copied: unknown[] = [root];
    // Frame nodes this write wrote (private copies), packed at the end when full.
    const written: FrameNode[] = [];
    // Per frame node in `written`: whether the write reached the end of one of its chunks.
    const reachedEnd: boolean[] = [];
    chunks.forEach((c, index) => {
      const frame = Number(c >> 4n);
      let node = root;
      for (let level = height - 1; level > 0; level--) {
        const slot = slotOf(frame, level);
        const child = node[slot] as Node | undefined;
        let next: Node;
        if (child === undefined) next = new Array(SLOTS);
        else if (copied.includes(child)) next = child;
        else next = child.slice();
        copied.push(next);
        node[slot] = next;
        node = next;
      }
      const slot = slotOf(frame, 0);
      const oldFrame = node[slot] as FrameNode | undefined;
      let frameNode: FrameNode;
      if (oldFrame === undefined) {
        populated++;
        frameNode = emptyFrameNode();
      } else frameNode = copied.includes(oldFrame) ? oldFrame : oldFrame.slice();
      const ends = index < chunks.length - 1 || lastReachesChunkEnd;
      const at = written.indexOf(frameNode);
      if (at < 0) {
        written.push(frameNode);
        reachedEnd.push(ends);
      } else if (ends) reachedEnd[at] = true;
      copied.push(frameNode);
      node[slot] = frameNode;
      const k = Number(c & 0xfn);
      const words = chunkCopy(frameNode, k);
      update(index, words);
      frameNode[k] = words;
    });
    // Packed after the whole write: a multi-chunk write may write a frame's chunks in turn.
    written.forEach((f, i) => packIfFull(f, reachedEnd[i]!));
    return new PhysicalMemory(root, height, populated);
  }

  /** Read the aligned 32-bit word `wordIndex` (0..1023) of 4 KiB frame `frame` (hot paths avoid bigint). */
  readWord(frame: number, wordIndex: number): number {
    const node = this.frameAt(frame);
    return node === undefined ? 0 : wordOf(node, wordIndex);
  }

  /** Read `length` bytes starting at `address`. @throws RangeError outside 64 bits. */
  readBytes(address: bigint, length: number): Uint8Array {
    checkRange(address, length);
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const a = address + BigInt(i);
      const node = this.nodeAt(a);
      if (node === undefined) continue;
      const offset = Number(a & 0xfffn);
      out[i] = (wordOf(node, offset >> 2) >>> ((offset & 3) * 8)) & 0xff;
    }
    return out;
  }

  /**
   * Read a little-endian unsigned integer of `bytes` bytes (1..64) at `address`.
   * Naturally aligned dword-multiple reads take a word-wise fast path.
   * @throws RangeError outside 64 bits.
   */
  readLE(address: bigint, bytes: number): bigint {
    if (bytes === 8 && (address & 7n) === 0n && address >= 0n && address >> 64n === 0n) {
      // Paging entries: two words, one frame lookup, no loop.
      const offset = Number(address & 0xfffn);
      const node = this.frameAt(Number(address >> FRAME_SHIFT));
      if (node === undefined) return 0n;
      const w = offset >> 2;
      return (BigInt(wordOf(node, w + 1)) << 32n) | BigInt(wordOf(node, w));
    }
    checkRange(address, bytes);
    if ((bytes & 3) === 0 && (address & 3n) === 0n && (address & 0xffn) + BigInt(bytes) <= 256n) {
      const node = this.nodeAt(address);
      if (node === undefined) return 0n;
      const first = Number(address & 0xfffn) >> 2;
      let v = 0n;
      for (let i = bytes / 4 - 1; i >= 0; i--) v = (v << 32n) | BigInt(wordOf(node, first + i));
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
   * @throws RangeError when `bytes` is not an integer 1..{@link MAX_WRITE_LE_BYTES} (checked before
   *   the value, whose fit test would otherwise shift by `8 * bytes` bits: 7.6·10⁸ bytes took GBs, issue 17),
   *   when value is negative or does not fit, or the range is outside 64 bits.
   */
  writeLE(address: bigint, bytes: number, value: bigint): PhysicalMemory {
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_WRITE_LE_BYTES) {
      throw new RangeError(`a write of ${bytes} bytes: a little-endian store is 1 to ${MAX_WRITE_LE_BYTES} bytes (use writeBytes for more)`);
    }
    checkRange(address, bytes);
    if (value < 0n || value >> BigInt(bytes * 8) !== 0n) {
      throw new RangeError(`value 0x${value.toString(16)} does not fit in ${bytes} bytes`);
    }
    if ((bytes & 3) === 0 && (address & 3n) === 0n && (address & 0xffn) + BigInt(bytes) <= 256n) {
      // Aligned dwords inside one chunk (IRTEs, PIDs, page-table entries): store whole words.
      const first = Number(address & 0xffn) >> 2;
      // One hex conversion instead of a 32-bit shift and mask of a wide bigint per word.
      const digits = value.toString(16).padStart(bytes * 2, '0');
      const count = bytes / 4;
      return this.withChunks([address >> CHUNK_SHIFT], first + count === CHUNK_WORDS, (_index, words) => {
        for (let i = 0; i < count; i++) {
          const end = digits.length - 8 * i;
          words[first + i] = parseInt(digits.slice(end - 8, end), 16);
        }
      });
    }
    const data = new Uint8Array(bytes);
    let v = value;
    for (let i = 0; i < bytes; i++) {
      data[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return this.writeBytes(address, data);
  }

  /**
   * Atomic read-modify-write of `count` aligned dwords at `address` (one locked
   * update, as the IOMMU's PIR/ON update or software's cmpxchg): `modify` gets a copy of
   * the words (`words[first]` .. `words[first + count - 1]`, little-endian dwords) to
   * change in place. The range must lie in one 256-byte chunk — any naturally aligned
   * structure of up to 256 bytes does (PIDs, IRTEs, page-table entries).
   * @throws RangeError when the address is not dword-aligned or the range crosses a chunk.
   */
  modifyWords(address: bigint, count: number, modify: (words: number[], first: number) => void): PhysicalMemory {
    checkRange(address, count * 4);
    const first = Number(address & 0xffn) >> 2;
    if ((address & 3n) !== 0n || first + count > CHUNK_WORDS) {
      throw new RangeError(`${count} dwords at 0x${address.toString(16)} are not aligned within one 256-byte chunk`);
    }
    return this.withChunk(Number(address >> FRAME_SHIFT), Number((address >> CHUNK_SHIFT) & 0xfn), first + count === CHUNK_WORDS, (words) => modify(words, first));
  }

  /** Read `count` aligned dwords at `address` into `out` (a zero-copy view is not exposed: memory is immutable). */
  readWords(address: bigint, count: number): Uint32Array {
    const out = new Uint32Array(count);
    const first = Number(address & 0xffn) >> 2;
    if ((address & 3n) === 0n && first + count <= CHUNK_WORDS) {
      const node = this.nodeAt(address);
      const w = Number(address & 0xfffn) >> 2;
      if (node !== undefined) for (let i = 0; i < count; i++) out[i] = wordOf(node, w + i);
      return out;
    }
    for (let i = 0; i < count; i++) out[i] = this.readU32(address + BigInt(4 * i));
    return out;
  }

  /** Write raw bytes at `address`. @throws RangeError outside 64 bits. */
  writeBytes(address: bigint, data: Uint8Array): PhysicalMemory {
    if (data.length === 0) return this;
    checkRange(address, data.length);
    const firstChunk = address >> CHUNK_SHIFT;
    const lastChunk = (address + BigInt(data.length - 1)) >> CHUNK_SHIFT;
    const chunks: bigint[] = [];
    for (let c = firstChunk; c <= lastChunk; c++) chunks.push(c);
    const base = Number(address & 0xffn);
    const lastEnds = ((address + BigInt(data.length)) & 0xffn) === 0n;
    return this.withChunks(chunks, lastEnds, (index, words) => {
      const chunkStart = index * CHUNK_BYTES - base; // index into data of this chunk's byte 0
      const from = Math.max(0, chunkStart);
      const to = Math.min(data.length, chunkStart + CHUNK_BYTES);
      for (let i = from; i < to; i++) {
        const offset = i - chunkStart;
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

  /** Populated 4 KiB frame numbers in ascending order (for dumps and serialisation). */
  frames(): number[] {
    const out: number[] = [];
    const walk = (node: Node, level: number, prefix: number): void => {
      for (let s = 0; s < SLOTS; s++) {
        const child = node[s];
        if (child === undefined) continue;
        const index = prefix * SLOTS + s;
        if (level > 0) walk(child as Node, level - 1, index);
        else out.push(index);
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
