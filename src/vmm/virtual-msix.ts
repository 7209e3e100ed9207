/**
 * The guest's view of an assigned function's MSI-X: the virtual table and PBA in a BAR and
 * the Message Control register in configuration space, as bytes, separate from the
 * physical ones (which the host programs). What the guest wrote is what it reads back: this
 * module is the PCI-spec semantics of the structures, the same for every VMM design
 * (src/vmm/designs/*), which only decide what the host does about a change.
 *
 * Layout (PCI Local Bus Spec 3.0 §6.8.2; sheet §12.2): the table is `entries` × 16 bytes —
 * Message Address (low dword), Message Upper Address, Message Data, Vector Control (bit 0 =
 * Mask) — at `tableOffset` of BAR `tableBar`; the PBA is one bit per entry in QWORDs at
 * `pbaOffset` of BAR `pbaBar`. Both offsets are QWORD-aligned (their low 3 bits hold the
 * BIR). Message Control is at capability offset + 2: bit 15 MSI-X Enable, bit 14 Function
 * Mask, bits 10:0 Table Size − 1 (read-only).
 *
 * Accesses (§6.8.2: "software must use aligned full DWORD or aligned full QWORD transactions"
 * to the table and PBA; anything else is undefined): an access that is not an aligned
 * DWORD/QWORD is ignored within the table, as QEMU's `msix_table_mmio_ops` (.valid 4..8
 * bytes) and Xen's `msixtbl_write` (len 4 or 8, naturally aligned) do; the PBA is read-only
 * (writes ignored, QEMU `msix_pba_mmio_write`); the rest of a 4 KiB page the table or the PBA
 * occupies is the device's own registers, which the VMM must pass to the hardware; pages
 * without them are mapped through and never trapped. A write that straddles regions is split
 * byte by byte into its parts.
 */

/** Where the MSI-X structures are (bytes; the same for the virtual and the physical view). */
export interface MsixLayout {
  readonly entries: number;
  readonly tableBar: number;
  readonly tableOffset: number;
  readonly pbaBar: number;
  readonly pbaOffset: number;
  /** Configuration-space offset of the MSI-X capability (Message Control at +2). */
  readonly capability: number;
}

/** One virtual table entry as the four dwords the guest wrote. */
export interface VirtualMsixEntry {
  readonly addressLow: number;
  readonly addressHigh: number;
  readonly data: number;
  readonly control: number;
}

/** The guest's MSI-X state of one function. */
export interface VirtualMsix {
  readonly layout: MsixLayout;
  readonly enabled: boolean;
  readonly functionMask: boolean;
  readonly table: readonly VirtualMsixEntry[];
}

/** Bytes per table entry and per PBA QWORD. */
export const MSIX_ENTRY_BYTES = 16;
const PBA_QWORD_BYTES = 8;
const PAGE = 0x1000;
/** Entries come out of reset masked, address and data 0 (§6.8.2.9). */
const RESET_ENTRY: VirtualMsixEntry = { addressLow: 0, addressHigh: 0, data: 0, control: 1 };

/**
 * The default layout for a function with `entries` vectors: table at offset 0 of BAR 0,
 * PBA right after it (QWORD-aligned), as QEMU's `msix_init_exclusive_bar` lays out an
 * MSI-X-only BAR; capability at 0x70.
 */
export function defaultMsixLayout(entries: number): MsixLayout {
  const tableBytes = entries * MSIX_ENTRY_BYTES;
  return { entries, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: Math.ceil(tableBytes / PBA_QWORD_BYTES) * PBA_QWORD_BYTES, capability: 0x70 };
}

/** Size of the PBA in bytes: one bit per entry, whole QWORDs. */
export function pbaBytes(layout: MsixLayout): number {
  return Math.ceil(layout.entries / 64) * PBA_QWORD_BYTES;
}

/** A fresh virtual MSI-X: disabled, every entry masked. */
export function resetVirtualMsix(layout: MsixLayout): VirtualMsix {
  return { layout, enabled: false, functionMask: false, table: Array.from({ length: layout.entries }, () => RESET_ENTRY) };
}

/**
 * Why a layout cannot be: overlapping table and PBA, an offset not QWORD-aligned, or no
 * entries. Undefined when it is valid (PCI spec §6.8.2.4–6.8.2.5).
 */
export function layoutProblem(l: MsixLayout): string | undefined {
  if (!(Number.isInteger(l.entries) && l.entries >= 1 && l.entries <= 2048)) return `table size ${l.entries} is not 1..2048`;
  if (l.tableOffset % PBA_QWORD_BYTES !== 0) return `table offset 0x${l.tableOffset.toString(16)} is not QWORD-aligned (its low 3 bits are the BIR)`;
  if (l.pbaOffset % PBA_QWORD_BYTES !== 0) return `PBA offset 0x${l.pbaOffset.toString(16)} is not QWORD-aligned (its low 3 bits are the BIR)`;
  if (l.tableBar === l.pbaBar) {
    const t: [number, number] = [l.tableOffset, l.tableOffset + l.entries * MSIX_ENTRY_BYTES];
    const p: [number, number] = [l.pbaOffset, l.pbaOffset + pbaBytes(l)];
    if (t[0] < p[1] && p[0] < t[1]) return `table [0x${t[0].toString(16)}, 0x${t[1].toString(16)}) and PBA [0x${p[0].toString(16)}, 0x${p[1].toString(16)}) overlap`;
  }
  return undefined;
}

/** Which structure a BAR byte belongs to. `page`: the rest of a page holding the table or PBA; `direct`: a page without them. */
export type MsixRegion = 'table' | 'pba' | 'page' | 'direct';

/** The region of byte `offset` of BAR `bar`. */
export function regionOf(l: MsixLayout, bar: number, offset: number): MsixRegion {
  const tableEnd = l.tableOffset + l.entries * MSIX_ENTRY_BYTES;
  const pbaEnd = l.pbaOffset + pbaBytes(l);
  if (bar === l.tableBar && offset >= l.tableOffset && offset < tableEnd) return 'table';
  if (bar === l.pbaBar && offset >= l.pbaOffset && offset < pbaEnd) return 'pba';
  const page = Math.floor(offset / PAGE);
  const touches = (b: number, start: number, end: number): boolean => bar === b && page >= Math.floor(start / PAGE) && page <= Math.floor((end - 1) / PAGE);
  return touches(l.tableBar, l.tableOffset, tableEnd) || touches(l.pbaBar, l.pbaOffset, pbaEnd) ? 'page' : 'direct';
}

/** A run of consecutive bytes of one access in one region: `offset` in the BAR, `value` its bytes (little-endian). */
export interface AccessPart {
  readonly region: MsixRegion;
  readonly offset: number;
  readonly size: number;
  readonly value: bigint;
}

/**
 * Split an access of `size` bytes (1..8) at `offset` of `bar` into its parts per region, in
 * address order. @throws RangeError for a size outside 1..8 or a negative offset
 */
export function splitAccess(l: MsixLayout, bar: number, offset: number, size: number, value: bigint): AccessPart[] {
  if (!(Number.isInteger(size) && size >= 1 && size <= 8)) throw new RangeError(`access size ${size} is not 1..8 bytes`);
  if (!(Number.isInteger(offset) && offset >= 0)) throw new RangeError(`offset ${offset} is not a byte offset`);
  const parts: AccessPart[] = [];
  for (let i = 0; i < size; i++) {
    const region = regionOf(l, bar, offset + i);
    const byte = (value >> BigInt(8 * i)) & 0xffn;
    const last = parts.at(-1);
    if (last !== undefined && last.region === region) parts[parts.length - 1] = { ...last, size: last.size + 1, value: last.value | (byte << BigInt(8 * last.size)) };
    else parts.push({ region, offset: offset + i, size: 1, value: byte });
  }
  return parts;
}

/** Whether an access is one the spec defines for the table and PBA: an aligned DWORD or QWORD. */
export function isDefinedAccess(offset: number, size: number): boolean {
  return (size === 4 || size === 8) && offset % size === 0;
}

/** The 64-bit Message Address of a virtual entry. */
export function entryAddress(e: VirtualMsixEntry): bigint {
  return (BigInt(e.addressHigh >>> 0) << 32n) | BigInt(e.addressLow >>> 0);
}

/** Whether vector `k` is masked in the guest's view: its Mask bit, the Function Mask, or MSI-X disabled. */
export function guestMasked(v: VirtualMsix, k: number): boolean {
  const e = v.table[k];
  return e === undefined || !v.enabled || v.functionMask || (e.control & 1) !== 0;
}

/** What a write did to the guest's table: the entries whose fields changed, and which of them the guest unmasked or masked. */
export interface TableWrite {
  readonly next: VirtualMsix;
  /** Entries with any dword written (even to the same value). */
  readonly written: readonly number[];
}

const FIELDS = ['addressLow', 'addressHigh', 'data', 'control'] as const;

/**
 * Apply a table write of `size` bytes (4 or 8, aligned: see {@link isDefinedAccess}) at BAR
 * `offset`. Vector Control bits 31:1 are reserved (software writes 0; the model keeps bit 0
 * only, as QEMU does when it reads the entry back, `PCI_MSIX_ENTRY_CTRL_MASKBIT`).
 * Message Address bits 1:0 are 0 (DWORD-aligned): written ones are dropped. Undefined
 * accesses change nothing.
 */
export function writeTable(v: VirtualMsix, offset: number, size: number, value: bigint): TableWrite {
  if (!isDefinedAccess(offset, size)) return { next: v, written: [] };
  const table = v.table.slice();
  const written = new Set<number>();
  for (let d = 0; d < size / 4; d++) {
    const at = offset + 4 * d - v.layout.tableOffset;
    const k = Math.floor(at / MSIX_ENTRY_BYTES);
    const field = FIELDS[(at % MSIX_ENTRY_BYTES) / 4]!;
    const e = table[k];
    if (e === undefined) continue;
    let dword = Number((value >> BigInt(32 * d)) & 0xffff_ffffn) >>> 0;
    if (field === 'control') dword &= 1;
    if (field === 'addressLow') dword = (dword & ~3) >>> 0;
    table[k] = { ...e, [field]: dword };
    written.add(k);
  }
  return { next: { ...v, table }, written: [...written].sort((a, b) => a - b) };
}

/** Read `size` bytes (an aligned DWORD/QWORD) of the table; an undefined access reads all ones (master abort), as QEMU returns for an invalid access. */
export function readTable(v: VirtualMsix, offset: number, size: number): bigint {
  if (!isDefinedAccess(offset, size)) return (1n << BigInt(8 * size)) - 1n;
  let out = 0n;
  for (let d = 0; d < size / 4; d++) {
    const at = offset + 4 * d - v.layout.tableOffset;
    const e = v.table[Math.floor(at / MSIX_ENTRY_BYTES)];
    const dword = e === undefined ? 0 : e[FIELDS[(at % MSIX_ENTRY_BYTES) / 4]!];
    out |= BigInt(dword >>> 0) << BigInt(32 * d);
  }
  return out;
}

/** The PBA bytes at `offset` (a DWORD/QWORD of it) for pending bits `pending` (bit k = entry k). */
export function readPba(v: VirtualMsix, pending: bigint, offset: number, size: number): bigint {
  if (!isDefinedAccess(offset, size)) return (1n << BigInt(8 * size)) - 1n;
  const bit = BigInt(8 * (offset - v.layout.pbaOffset));
  return (pending >> bit) & ((1n << BigInt(8 * size)) - 1n);
}

/** Message Control as the guest reads it: enable (15), function mask (14), table size − 1 (10:0). */
export function messageControl(v: VirtualMsix): number {
  return ((v.enabled ? 0x8000 : 0) | (v.functionMask ? 0x4000 : 0) | ((v.layout.entries - 1) & 0x7ff)) >>> 0;
}

/**
 * A configuration write of `size` bytes at `offset`: only Message Control's bits 15:14 are
 * writable (bits 13:11 reserved, 10:0 read-only). Bytes outside Message Control are not the
 * MSI-X structures' (`touched` false); the caller passes them on.
 */
export function writeConfig(v: VirtualMsix, offset: number, size: number, value: number): { next: VirtualMsix; touched: boolean } {
  const control = v.layout.capability + 2;
  // The high byte of Message Control (offset +3) holds bits 15:8.
  const highByte = control + 1;
  if (!(offset <= highByte && offset + size > highByte)) return { next: v, touched: offset <= control + 1 && offset + size > control };
  const byte = (value >>> (8 * (highByte - offset))) & 0xff;
  return { next: { ...v, enabled: (byte & 0x80) !== 0, functionMask: (byte & 0x40) !== 0 }, touched: true };
}
