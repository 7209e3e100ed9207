/**
 * The device header lines of an lspci dump (`00:14.0 USB controller [0c03]: …`, `0000:00:0d.0 …`,
 * VMD `10000:e0:06.0 …`), shared by src/inputs/lspci.ts and src/inputs/lspci-topology.ts so that
 * both, and so the text and JSON outputs, agree on what a header is (issue 17, item 4).
 *
 * Anything in column 0 shaped like `[X:]X:X.X` with hex digits of any length "looks like" a header;
 * it must then be a valid address as lspci prints it (pciutils `lspci.c` `show_slot_name`:
 * `%04x:` domain when shown — 4 to 8 hex digits, Linux VMD domains are 0x10000 and up — then
 * `%02x:%02x.%d`), or it is an input error naming the line. A malformed header is never skipped,
 * so the lines after it cannot be attributed to the previous device.
 */
import { InputError } from '../io/input-error.ts';
import { requesterId, type RequesterId } from '../pci/bdf.ts';

/**
 * A line that looks like a device header: groups 1–4 the domain (or undefined), bus, device and
 * function as written, group 5 the rest of the line ('' when none). Call on a line without line
 * terminators ({@link withoutLineTerminators}): no quantifier here can then backtrack more than
 * linearly (each `+` is bounded by a different delimiter).
 */
export const LSPCI_HEADER_RE = /^(?:([0-9a-fA-F]+):)?([0-9a-fA-F]+):([0-9a-fA-F]+)\.([0-9a-fA-F]+)(?:\s+(.*))?$/;

/**
 * `s` with every line terminator other than `\n` (CR, U+2028, U+2029: lspci never prints them) made
 * a space, so that `.` matches every character and a `(.*)$` never backtracks.
 */
export function withoutLineTerminators(s: string): string {
  return /[\r\u2028\u2029]/.test(s) ? s.replace(/[\r\u2028\u2029]/g, ' ') : s;
}

/** A header's validated address. */
export interface LspciHeaderAddress {
  /** The address as printed (`00:14.0`). */
  readonly token: string;
  readonly segment: number;
  readonly rid: RequesterId;
}

/**
 * Validate the address of a header matched by {@link LSPCI_HEADER_RE}.
 * @throws InputError naming `file`, `line` and field `device`: a domain not of 4–8 hex digits, a bus
 *   or device not of 2, a device above 0x1f, a function not a single digit 0–7 (`00:00.9`,
 *   `100:00.0`, `00:20.0`, `12345678a:00:00.0`).
 */
export function lspciHeaderAddress(h: RegExpExecArray, file: string, line: number): LspciHeaderAddress {
  const [, seg, bus, dev, fn] = h;
  const token = `${seg === undefined ? '' : `${seg}:`}${bus}:${dev}.${fn}`;
  const bad = (why: string): InputError => new InputError(`"${token}" is not a valid PCI address: ${why}`, { file, line, field: 'device' });
  if (seg !== undefined && (seg.length < 4 || seg.length > 8)) throw bad('the domain has 4 to 8 hex digits');
  if (bus!.length !== 2) throw bad('the bus number has 2 hex digits');
  if (dev!.length !== 2) throw bad('the device number has 2 hex digits');
  if (fn!.length !== 1 || parseInt(fn!, 16) > 7) throw bad('the function number is 0 to 7');
  const device = parseInt(dev!, 16);
  if (device > 0x1f) throw bad(`device ${dev} is above 1f`);
  return { token, segment: seg === undefined ? 0 : parseInt(seg, 16), rid: requesterId(parseInt(bus!, 16), device, parseInt(fn!, 10)) };
}
