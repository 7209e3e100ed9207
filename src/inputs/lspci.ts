/**
 * Extract the MSI and MSI-X capabilities from an `lspci -vvv` / `lspci -vvnn` dump.
 *
 * Only MSI prints the programmed message: `lspci` shows the MSI capability's Message Address and
 * Data registers (PCI Local Bus Spec §6.8.1; pciutils `ls-caps.c` `cap_msi`) as
 *
 *     Capabilities: [80] MSI: Enable+ Count=1/8 Maskable- 64bit+
 *             Address: 00000000fee00518  Data: 0000        (64-bit capability: 16 hex digits)
 *             Address: fee00518  Data: 0000                (32-bit capability: 8 hex digits)
 *
 * For MSI-X the messages live in the device's BAR-mapped vector table, which lspci does not read
 * (`cap_msix`), so an MSI-X entry has the table geometry but no address/data pair.
 *
 * Real dumps are messy: lspci's stderr (`pcilib: sysfs_read_vpd: read failed: …`) is often captured
 * into the same file, sometimes in the middle of a line; published excerpts are trimmed and start
 * with `#` comments. Those lines are skipped and never end a capability block.
 */

import { readInputText } from '../io/read-input.ts';
import { MAX_LSPCI_BYTES } from '../io/limits.ts';
import { InputError } from '../io/input-error.ts';
import { formatBdf, type RequesterId } from '../pci/bdf.ts';
import { LSPCI_HEADER_RE, lspciHeaderAddress, withoutLineTerminators } from './lspci-header.ts';

/** BAR-relative location of an MSI-X table or PBA. */
export interface BarOffset {
  readonly bar: number;
  readonly offset: number;
}

/** One MSI or MSI-X capability of one PCI function, as lspci printed it. */
export interface LspciMsiEntry {
  /** The function's address exactly as lspci printed it: `00:14.0`, `0000:00:0d.0`, `10000:e0:06.0`. */
  readonly device: string;
  /** PCI segment (domain); 0 when lspci printed no domain. VMD domains are ≥ 0x10000. */
  readonly segment: number;
  /** 16-bit requester ID of `device`. */
  readonly rid: RequesterId;
  readonly capability: 'MSI' | 'MSI-X';
  /** Config-space offset of the capability (the `[80]`). */
  readonly capOffset: number;
  /** Enable+ / Enable-. */
  readonly enabled: boolean;
  /** MSI: `"enabled/capable"` vector counts as printed (`"1/8"`); MSI-X: the table size as printed. */
  readonly count?: string;
  /** MSI only: Maskable+ (per-vector masking). */
  readonly maskable?: boolean;
  /** MSI only: 64bit+ (64-bit Message Address). */
  readonly is64bit?: boolean;
  /** MSI only: the Message Address register(s), when the Address line is present. */
  readonly address?: bigint;
  /** MSI only: the 16-bit Message Data register, when the Address line is present. */
  readonly data?: number;
  /** MSI-X only: number of table entries. */
  readonly tableSize?: number;
  /** MSI-X only: Masked+ (function mask). */
  readonly functionMasked?: boolean;
  /** MSI-X only: where the vector table is. */
  readonly table?: BarOffset;
  /** MSI-X only: where the pending-bit array is. */
  readonly pba?: BarOffset;
  /** 1-based line of the Address line for an MSI with address/data, of the Capabilities line otherwise. */
  readonly line: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// Headers: src/inputs/lspci-header.ts (shared with lspci-topology.ts). Lines go through
// withoutLineTerminators first, so no `(.*)$` below can backtrack.
const CAP_RE = /^\s+Capabilities:\s+\[([0-9a-fA-F]+)(?:\s+v\d+)?\]\s+(MSI-X|MSI):\s*(.*)$/;
/** Widest Message Address lspci prints: 16 hex digits (64-bit capability; pciutils `cap_msi`). */
const MAX_ADDRESS_DIGITS = 16;
/** Widest Message Data: 4 hex digits (the 16-bit register). */
const MAX_DATA_DIGITS = 4;
const ADDRESS_RE = /^\s+Address:\s+([0-9a-fA-F]+)\s+Data:\s+([0-9a-fA-F]+)/;
const BAR_RE = /^\s+(Vector table|PBA):\s+BAR=(\d+)\s+offset=([0-9a-fA-F]+)/;
// Sub-lines that belong to an MSI/MSI-X block without being parsed.
const OTHER_SUBLINE_RE = /^\s+(Masking|Pending):/;
const STDERR_RE = /^\s*pcilib:/;

function flag(text: string, name: string): boolean | undefined {
  const m = new RegExp(`(?:^|\\s)${name}([+-])`).exec(text);
  return m ? m[1] === '+' : undefined;
}

/**
 * Parse the text of an lspci `-vv`/`-vvv` dump (with or without `-nn`, `-D`).
 *
 * @param text the dump.
 * @param file name used in error messages.
 * @returns one entry per MSI or MSI-X capability, in file order.
 * @throws InputError when no line of the file is an lspci device header
 *   (message "not an lspci -vvv dump"), when a line looks like a device header but its address is
 *   malformed (src/inputs/lspci-header.ts: function 8 or 9, device above 0x1f, a 3-digit bus, a bad
 *   domain), and for an MSI Address of more than 16 hex digits or Data of more than 4.
 */
export function parseLspci(text: string, file: string): LspciMsiEntry[] {
  const lines = text.split(/\r?\n/);
  const out: Mutable<LspciMsiEntry>[] = [];
  let device: { name: string; segment: number; rid: number } | undefined;
  let open: Mutable<LspciMsiEntry> | undefined;
  let sawHeader = false;
  const headerLines = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const s = withoutLineTerminators(lines[i]!);
    const ln = i + 1;
    if (STDERR_RE.test(s) || s.startsWith('#')) continue;
    const h = LSPCI_HEADER_RE.exec(s);
    if (h) {
      // A malformed header is an error, never skipped: its lines would go to the previous device.
      const bdf = lspciHeaderAddress(h, file, ln);
      // One function per address: a second header for it is a spliced or corrupted dump (the
      // topology reader refuses it the same way, src/inputs/lspci-topology.ts).
      const at = `${bdf.segment}:${bdf.rid}`;
      const first = headerLines.get(at);
      if (first !== undefined) throw new InputError(`${formatBdf(bdf.rid, bdf.segment === 0 ? undefined : bdf.segment)} appears twice (first at line ${first})`, { file, line: ln, field: 'device' });
      headerLines.set(at, ln);
      device = { name: bdf.token, segment: bdf.segment, rid: bdf.rid };
      sawHeader = true;
      open = undefined;
      continue;
    }
    if (!device) continue;
    const c = CAP_RE.exec(s);
    if (c) {
      const rest = c[3]!;
      const kind = c[2] === 'MSI-X' ? 'MSI-X' : 'MSI';
      const count = /Count=(\d+(?:\/\d+)?)/.exec(rest)?.[1];
      const e: Mutable<LspciMsiEntry> = {
        device: device.name,
        segment: device.segment,
        rid: device.rid,
        capability: kind,
        capOffset: parseInt(c[1]!, 16),
        enabled: flag(rest, 'Enable') ?? false,
        line: ln,
      };
      if (count !== undefined) e.count = count;
      if (kind === 'MSI') {
        const m = flag(rest, 'Maskable');
        const w = flag(rest, '64bit');
        if (m !== undefined) e.maskable = m;
        if (w !== undefined) e.is64bit = w;
      } else {
        if (count !== undefined) e.tableSize = parseInt(count, 10);
        const fm = flag(rest, 'Masked');
        if (fm !== undefined) e.functionMasked = fm;
      }
      out.push(e);
      open = e;
      continue;
    }
    if (!open) continue;
    const a = ADDRESS_RE.exec(s);
    if (a && open.capability === 'MSI' && open.address === undefined) {
      if (a[1]!.length > MAX_ADDRESS_DIGITS) throw new InputError(`${a[1]!.length} hex digits; the Message Address has at most ${MAX_ADDRESS_DIGITS}`, { file, line: ln, field: 'Address' });
      if (a[2]!.length > MAX_DATA_DIGITS) throw new InputError(`${a[2]!.length} hex digits; the Message Data register has at most ${MAX_DATA_DIGITS}`, { file, line: ln, field: 'Data' });
      open.address = BigInt(`0x${a[1]}`);
      open.data = parseInt(a[2]!, 16);
      open.line = ln;
      continue;
    }
    const b = BAR_RE.exec(s);
    if (b && open.capability === 'MSI-X') {
      const loc = { bar: parseInt(b[2]!, 10), offset: parseInt(b[3]!, 16) };
      if (b[1] === 'PBA') open.pba = loc;
      else open.table = loc;
      continue;
    }
    if (OTHER_SUBLINE_RE.test(s)) continue;
    open = undefined; // any other line (next capability, "Kernel driver in use", …) ends the block
  }
  if (!sawHeader) {
    throw new InputError('not an lspci -vvv dump: no device line such as "00:14.0 USB controller [0c03]: …"', { file, line: 1 });
  }
  return out;
}

/**
 * Read and parse an lspci dump file; see {@link parseLspci}.
 * @throws InputError naming `path` when the file cannot be read, and the errors of `parseLspci`.
 */
export function loadLspci(path: string): LspciMsiEntry[] {
  const text = readInputText(path, { maxBytes: MAX_LSPCI_BYTES, what: 'lspci dump' });
  return parseLspci(text, path);
}
