/**
 * Read the PCI topology out of an `lspci -vvv` / `lspci -vvnn` dump (with or without `-D`
 * domain prefixes) as a {@link FabricDescription} for `buildFabric`, plus the machine's own
 * `IOMMU group: N` lines when the dump has them.
 *
 * What is taken from each function block (strings as pciutils prints them):
 *
 * - the header line `[dddd:]bb:dd.f CLASS NAME [cccc]: DESCRIPTION [vvvv:dddd] (rev rr)`:
 *   segment and requester ID, the class code `[cccc]` and the vendor:device pair (the last
 *   `[vvvv:dddd]` of the line; both only with `-nn`);
 * - `Capabilities: [xx] Express (v2) <type>, …` (pciutils ls-caps.c `cap_express`): the
 *   Device/Port Type — `Endpoint`, `Legacy Endpoint`, `Root Port (Slot±)`, `Upstream Port`,
 *   `Downstream Port (Slot±)`, `PCI-Express to PCI/PCI-X Bridge`, `PCI/PCI-X to PCI-Express
 *   Bridge (Slot±)`, `Root Complex Integrated Endpoint`, `Root Complex Event Collector`.
 *   Without an Express capability the function is conventional PCI: `pci-bridge` when it has a
 *   `Bus:` line or class 0604, `pci` otherwise;
 * - `Bus: primary=pp, secondary=ss, subordinate=uu, …` (type-1 header; lspci.c `show_htype1`).
 *   `primary` is passed on only when it is the bridge's own bus: VMD root ports read
 *   primary=00 while Linux numbers their bus from the VMD bus offset (e0);
 * - `ACSCap:` / `ACSCtl:` (ls-ecaps.c `cap_acs`): `SrcValid TransBlk ReqRedir CmpltRedir
 *   UpstreamFwd EgressCtrl DirectTrans` = SV TB RR CR UF EC DT;
 * - `DevCap: … PhantFunc N` (ls-caps.c `cap_express_dev` prints `(1 << field) - 1`, so N is
 *   0, 1, 3 or 7 for 0..3 Function-Number bits) and `DevCtl: … PhantFunc±`;
 * - `Region N: Memory at HEX (…) [size=S]` top-level lines: the memory BARs. A region marked
 *   `[disabled]` (memory decoding off) is left out, as are unassigned ones and the SR-IOV VF
 *   BARs printed inside the SR-IOV capability; `[virtual]` regions are kept (the kernel
 *   assigned them, the register just reads differently);
 * - `IOMMU group: N` (lspci.c `show_kernel`, from sysfs `iommu_group`).
 *
 * Multi-function: `multifunction` is left undefined and `buildFabric` derives it from the
 * sibling functions of the dump (lspci does not print Header Type bit 7).
 *
 * VMD (Intel Volume Management Device, Linux drivers/pci/controller/vmd.c): the devices behind
 * a VMD controller live in a synthetic PCI domain ≥ 0x10000 and their DMA carries the VMD
 * controller's own requester ID (`pci_real_dma_dev`), so every function of such a domain gets
 * `dmaDevice` = the key of its controller.
 *
 * Host bridges: every bus that holds functions and is no bridge's secondary bus becomes a
 * root bus of its segment. Trimmed and partial dumps lack bridges or their `Bus:` lines; the
 * buses that become root buses only for that reason are listed in
 * {@link LspciTopology.assumptions}, with the other guesses this importer had to make.
 *
 * Noise is skipped as in src/inputs/lspci.ts: lspci's stderr (`pcilib: …`, also in the middle
 * of a line — the text from `pcilib:` to the end of the line is dropped) and `#` comments.
 */

import { readInputText } from '../io/read-input.ts';
import { MAX_LSPCI_BYTES } from '../io/limits.ts';
import { LSPCI_HEADER_RE, lspciHeaderAddress, withoutLineTerminators } from './lspci-header.ts';
import { InputError } from '../io/input-error.ts';
import { formatBdf, requesterId, splitRequesterId, type RequesterId } from '../pci/bdf.ts';
import { ACS_BITS, BRIDGE_KINDS, type AcsBit, type AcsRegisters, type Bar, type FabricDescription, type FunctionDescription, type FunctionKind, type HostBridge, type PcieType, type PhantomFunctions } from '../fabric/model.ts';

/** A parsed lspci dump as a fabric description. */
export interface LspciTopology {
  readonly description: FabricDescription;
  /** Function key → the `IOMMU group: N` the machine reported (only functions that have the line). */
  readonly machineGroups: ReadonlyMap<string, number>;
  /** Function key → 1-based line of its header line. */
  readonly lines: ReadonlyMap<string, number>;
  /** Function key → its lspci description, `CLASS: DEVICE` (e.g. `PCI bridge: Intel Corporation Device`). */
  readonly names: ReadonlyMap<string, string>;
  /** Function key → the class code `[cccc]` of its header line (only with `-nn`; e.g. 0x0806 for an IOMMU). */
  readonly classCodes: ReadonlyMap<string, number>;
  /** What the importer had to guess, in words (missing bridges, trimmed capability lines, VMD domains …). */
  readonly assumptions: readonly string[];
}

/** The canonical key of a function: `bb:dd.f`, or `ssss:bb:dd.f` outside segment 0 (as `formatBdf`). */
export function functionKey(segment: number, rid: RequesterId): string {
  return formatBdf(rid, segment === 0 ? undefined : segment);
}

/**
 * Device IDs (vendor 8086) of the VMD controllers Linux drives (drivers/pci/controller/vmd.c
 * `vmd_ids`): 201d, 28c0, 467f, 4c3d, a77f, 7d0b, ad0b, 9a0b, b60b, b06f.
 */
export const VMD_DEVICE_IDS: ReadonlySet<number> = new Set([0x201d, 0x28c0, 0x467f, 0x4c3d, 0xa77f, 0x7d0b, 0xad0b, 0x9a0b, 0xb60b, 0xb06f]);

/** First VMD domain number (vmd.c `vmd_find_free_domain`: above every ACPI segment, from 0x10000). */
const VMD_FIRST_DOMAIN = 0x10000;

/** `Express (vN) <type>` strings of pciutils `cap_express`, longest first where one is a prefix of another. */
const EXPRESS_TYPES: readonly (readonly [string, PcieType])[] = [
  ['Root Complex Integrated Endpoint', 'rc-integrated-endpoint'],
  ['Root Complex Event Collector', 'rc-event-collector'],
  ['Legacy Endpoint', 'legacy-endpoint'],
  ['Endpoint', 'endpoint'],
  ['Root Port', 'root-port'],
  ['Upstream Port', 'switch-upstream'],
  ['Downstream Port', 'switch-downstream'],
  ['PCI-Express to PCI/PCI-X Bridge', 'pcie-to-pci-bridge'],
  ['PCI/PCI-X to PCI-Express Bridge', 'pci-to-pcie-bridge'],
];

/** ls-ecaps.c `cap_acs` flag names → {@link ACS_BITS}. */
const ACS_NAMES: readonly (readonly [string, AcsBit])[] = [
  ['SrcValid', 'SV'],
  ['TransBlk', 'TB'],
  ['ReqRedir', 'RR'],
  ['CmpltRedir', 'CR'],
  ['UpstreamFwd', 'UF'],
  ['EgressCtrl', 'EC'],
  ['DirectTrans', 'DT'],
];

/** A device header: a BDF-looking token in column 0 followed by text. Checked strictly afterwards. */
// Device headers: src/inputs/lspci-header.ts (shared with lspci.ts). Every line goes through
// withoutLineTerminators first, so no `(.*)$` below can backtrack; the class of a header is found
// by classOf (the expression /^(.*?)\s*\[([0-9a-fA-F]{4})\]:\s*(.*)$/ was quadratic on spaces).
const HEADER_RE = LSPCI_HEADER_RE;
const IDS_RE = /\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]/g;
const EXPRESS_RE = /^\s+Capabilities:\s+\[[0-9a-fA-F]+(?:\s+v\d+)?\]\s+Express\s+(?:\(v\d+\)\s+)?(.*)$/;
const BUS_LINE_RE = /^\s+Bus:/;
const BUS_RE = /^\s+Bus:\s+primary=([0-9a-fA-F]{2}),\s+secondary=([0-9a-fA-F]{2}),\s+subordinate=([0-9a-fA-F]{2})(?:,|\s|$)/;
const ACS_RE = /^\s+(ACSCap|ACSCtl):\s+(.*)$/;
const DEVCAP_RE = /^\s+DevCap:\s.*\bPhantFunc\s+(\d+)/;
const PHANT_CTL_RE = /\bPhantFunc([+-])/;
const REGION_RE = /^(\s+)Region\s+(\d+):\s+Memory at\s+(\S+)\s+\(([^)]*)\)(.*)$/;
const SIZE_RE = /\[size=(\d+)([KMGTPE]?)\]/;
const GROUP_RE = /^\s+IOMMU group:\s*(\S*)\s*$/;
const ACCESS_DENIED_RE = /^\s+Capabilities:\s+<access denied>/;
const STDERR_RE = /pcilib:.*$/;

const SIZE_UNITS: Readonly<Record<string, bigint>> = { '': 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n, P: 1n << 50n, E: 1n << 60n };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Block {
  readonly key: string;
  readonly segment: number;
  readonly rid: RequesterId;
  readonly line: number;
  readonly name: string;
  readonly classCode: number | undefined;
  readonly vendorId: number | undefined;
  readonly deviceId: number | undefined;
  express: PcieType | undefined;
  bus: { primary: number; secondary: number; subordinate: number; line: number } | undefined;
  acsCap: number | undefined;
  acsCtl: number | undefined;
  phantomSupported: number | undefined;
  phantomEnabled: boolean | undefined;
  readonly bars: Bar[];
  group: number | undefined;
  accessDenied: boolean;
}

/** Leading-whitespace width with a tab counted as 8 columns. */
function indentWidth(ws: string): number {
  let n = 0;
  for (const c of ws) n += c === '\t' ? 8 : 1;
  return n;
}

function parseAcsFlags(text: string, file: string, line: number, field: string): number {
  let v = 0;
  for (const [name, bit] of ACS_NAMES) {
    const m = new RegExp(`(?:^|\\s)${name}([+-])`).exec(text);
    if (!m) throw new InputError(`expected "${name}+" or "${name}-" in the ${field} line`, { file, line, field });
    if (m[1] === '+') v |= ACS_BITS[bit];
  }
  return v;
}

function hex2(text: string): string {
  return text.padStart(2, '0');
}

/** True when some line of `text` looks like an lspci device header (a BDF in column 0 followed by text). */
export function hasLspciHeader(text: string): boolean {
  return text.split(/\r?\n/).some((s) => !s.startsWith('#') && HEADER_RE.test(withoutLineTerminators(s)));
}

/**
 * Parse the text of an lspci `-vv`/`-vvv` dump.
 *
 * @param text the dump.
 * @param file name used in error messages.
 * @throws InputError naming file, line and field: no device header at all ("not an lspci -vvv
 *   dump"), a malformed BDF in a header (`00:20.0`, `100:00.0`), the same function twice, a
 *   malformed `Bus:` line, an `IOMMU group:` line without a number, an ACS line without its
 *   seven flags, an impossible `PhantFunc` count, an unreadable region size.
 */
export function parseLspciTopology(text: string, file: string): LspciTopology {
  const src = text.split(/\r?\n/);
  const blocks: Block[] = [];
  const byKey = new Map<string, Block>();
  let cur: Block | undefined;
  for (let i = 0; i < src.length; i++) {
    const ln = i + 1;
    const raw = withoutLineTerminators(src[i]!);
    if (raw.startsWith('#')) continue;
    const s = raw.replace(STDERR_RE, '');
    if (s.trim() === '') continue;
    const h = /^\S/.test(s) ? HEADER_RE.exec(s) : null;
    if (h) {
      cur = startBlock(h, s, file, ln);
      const dup = byKey.get(cur.key);
      if (dup) throw new InputError(`${cur.key} appears twice (first at line ${dup.line})`, { file, line: ln, field: 'device' });
      byKey.set(cur.key, cur);
      blocks.push(cur);
      continue;
    }
    if (!cur || /^\S/.test(s)) continue; // text before the first device, prompts, unindented continuations
    parseLine(cur, s, file, ln);
  }
  if (blocks.length === 0) {
    throw new InputError('not an lspci -vvv dump: no device line such as "00:14.0 USB controller [0c03]: …"', { file, line: 1 });
  }
  return assemble(blocks);
}

/** JavaScript `\s` for one character (the lines hold no line terminator but `\n`-free text). */
const isSpace = (ch: string): boolean => /\s/.test(ch);

/**
 * What /^(.*?)\s*\[([0-9a-fA-F]{4})\]:\s*(.*)$/ captures on `rest` (a line without line
 * terminators), in linear time: the class name before the first `[XXXX]:`, its code and the text
 * after it; undefined when there is no `[XXXX]:`.
 */
function classOf(rest: string): [string, string, string] | undefined {
  for (let i = rest.indexOf('['); i >= 0; i = rest.indexOf('[', i + 1)) {
    const code = rest.slice(i + 1, i + 5);
    if (code.length === 4 && /^[0-9a-fA-F]{4}$/.test(code) && rest.slice(i + 5, i + 7) === ']:') {
      let j = i;
      while (j > 0 && isSpace(rest[j - 1]!)) j--;
      let k = i + 7;
      while (k < rest.length && isSpace(rest[k]!)) k++;
      return [rest.slice(0, j), code, rest.slice(k)];
    }
  }
  return undefined;
}

function startBlock(h: RegExpExecArray, _s: string, file: string, ln: number): Block {
  const rest = h[5] ?? '';
  const { segment, rid } = lspciHeaderAddress(h, file, ln);
  const c = classOf(rest);
  let className: string;
  let classCode: number | undefined;
  let desc: string;
  if (c) {
    className = c[0];
    classCode = parseInt(c[1], 16);
    desc = c[2];
  } else {
    const k = rest.indexOf(': ');
    className = k < 0 ? '' : rest.slice(0, k);
    desc = k < 0 ? rest : rest.slice(k + 2);
  }
  let vendorId: number | undefined;
  let deviceId: number | undefined;
  for (const m of desc.matchAll(IDS_RE)) {
    vendorId = parseInt(m[1]!, 16);
    deviceId = parseInt(m[2]!, 16);
  }
  // The name without the -nn ids, revision and programming interface.
  const plain = desc
    .replace(/\s*\(prog-if [^)]*(?:\[[^\]]*\])?\)/g, '')
    .replace(/\s*\(rev [0-9a-fA-F]+\)/g, '')
    .replace(/\s*\[[0-9a-fA-F]{4}:[0-9a-fA-F]{4}\]/g, '')
    .trim();
  const name = className ? `${className}: ${plain}` : plain;
  return {
    key: functionKey(segment, rid),
    segment,
    rid,
    line: ln,
    name,
    classCode,
    vendorId,
    deviceId,
    express: undefined,
    bus: undefined,
    acsCap: undefined,
    acsCtl: undefined,
    phantomSupported: undefined,
    phantomEnabled: undefined,
    bars: [],
    group: undefined,
    accessDenied: false,
  };
}

function parseLine(b: Block, s: string, file: string, ln: number): void {
  const g = GROUP_RE.exec(s);
  if (g) {
    if (!/^\d+$/.test(g[1]!)) throw new InputError(`"${g[1]}" is not a group number`, { file, line: ln, field: 'IOMMU group' });
    b.group = parseInt(g[1]!, 10);
    return;
  }
  const e = EXPRESS_RE.exec(s);
  if (e) {
    const t = EXPRESS_TYPES.find(([p]) => e[1]!.startsWith(p));
    if (t) b.express = t[1];
    return;
  }
  if (BUS_LINE_RE.test(s)) {
    const m = BUS_RE.exec(s);
    if (!m) throw new InputError('expected "Bus: primary=pp, secondary=ss, subordinate=uu" with 2-digit hex bus numbers', { file, line: ln, field: 'Bus' });
    const [primary, secondary, subordinate] = [m[1]!, m[2]!, m[3]!].map((x) => parseInt(x, 16)) as [number, number, number];
    if (subordinate < secondary) throw new InputError(`subordinate bus ${m[3]} is below secondary bus ${m[2]}`, { file, line: ln, field: 'Bus' });
    b.bus = { primary, secondary, subordinate, line: ln };
    return;
  }
  const a = ACS_RE.exec(s);
  if (a) {
    const v = parseAcsFlags(a[2]!, file, ln, a[1]!);
    if (a[1] === 'ACSCap') b.acsCap = v;
    else b.acsCtl = v;
    return;
  }
  const dc = DEVCAP_RE.exec(s);
  if (dc) {
    const n = parseInt(dc[1]!, 10);
    const bits = [0, 1, 3, 7].indexOf(n);
    if (bits < 0) throw new InputError(`PhantFunc ${n}: lspci prints 0, 1, 3 or 7 phantom functions`, { file, line: ln, field: 'PhantFunc' });
    b.phantomSupported = bits;
    return;
  }
  // Only DevCtl's flag line prints "PhantFunc+"/"PhantFunc-" (DevCap prints "PhantFunc N").
  const p = PHANT_CTL_RE.exec(s);
  if (p) {
    b.phantomEnabled = p[1] === '+';
    return;
  }
  const r = REGION_RE.exec(s);
  if (r) {
    if (indentWidth(r[1]!) > 8) return; // a region inside a capability (SR-IOV VF BARs)
    const tail = r[5]!;
    if (/\[disabled\]/.test(tail)) return;
    if (!/^[0-9a-fA-F]+$/.test(r[3]!)) return; // <unassigned>, <ignored>
    const sz = SIZE_RE.exec(tail);
    if (!sz) throw new InputError('memory region without "[size=…]"', { file, line: ln, field: `Region ${r[2]}` });
    b.bars.push({ base: BigInt(`0x${r[3]}`), size: BigInt(sz[1]!) * SIZE_UNITS[sz[2]!]! });
    return;
  }
  if (ACCESS_DENIED_RE.test(s)) b.accessDenied = true;
}

function isVmdController(b: Block): boolean {
  if (b.segment >= VMD_FIRST_DOMAIN) return false;
  if (b.vendorId !== undefined) {
    if (b.vendorId !== 0x8086) return false;
    if (b.deviceId !== undefined && VMD_DEVICE_IDS.has(b.deviceId)) return true;
    return (b.classCode === undefined || b.classCode === 0x0104) && b.name.includes('Volume Management Device');
  }
  // Without -nn: the class and name as text.
  return b.name.startsWith('RAID bus controller: Intel Corporation') && b.name.includes('Volume Management Device');
}

function kindOf(b: Block): FunctionKind {
  if (b.express !== undefined) return b.express;
  return b.bus !== undefined || b.classCode === 0x0604 ? 'pci-bridge' : 'pci';
}

const busName = (segment: number, bus: number): string => (segment === 0 ? hex2(bus.toString(16)) : `${segment.toString(16).padStart(4, '0')}:${hex2(bus.toString(16))}`);

function assemble(blocks: readonly Block[]): LspciTopology {
  const assumptions: string[] = [];

  // VMD domains → controllers, both in ascending order. Linux numbers VMD domains in probe
  // order (vmd_find_free_domain: one above the highest domain in use), and the VMD
  // controllers are probed in PCI enumeration order, i.e. by BDF.
  const controllers = blocks.filter(isVmdController).sort((x, y) => x.segment - y.segment || x.rid - y.rid);
  const vmdDomains = [...new Set(blocks.filter((b) => b.segment >= VMD_FIRST_DOMAIN).map((b) => b.segment))].sort((x, y) => x - y);
  const dmaOf = new Map<number, string>();
  vmdDomains.forEach((d, i) => {
    const c = controllers[i];
    if (c) {
      dmaOf.set(d, c.key);
      if (vmdDomains.length > 1) assumptions.push(`VMD domain ${d.toString(16)} is taken to belong to VMD controller ${c.key} (Linux numbers VMD domains in probe order)`);
    } else {
      assumptions.push(`domain ${d.toString(16)} looks like a VMD domain but the dump has no VMD controller for it: its functions' DMA is treated as their own`);
    }
  });

  // Bridges and what they provide. buildFabric needs a bridge's secondary bus; a bridge
  // without a "Bus:" line (trimmed dumps) has nothing below it in the dump. When its bridge
  // kind is only guessed from class 0604 it is passed as a plain function (for IOMMU groups a
  // conventional PCI bridge and function with nothing below them are alike: no ACS, same
  // multi-function rules); a PCIe port keeps its type and gets an empty secondary bus that no
  // function of the dump uses.
  const kinds = new Map<Block, FunctionKind>();
  for (const b of blocks) kinds.set(b, kindOf(b));
  const bridges = blocks.filter((b) => BRIDGE_KINDS.has(kinds.get(b)!));
  const withBus = bridges.filter((b) => b.bus !== undefined);
  const withoutBus = bridges.filter((b) => b.bus === undefined);
  const secondaries = new Set(withBus.map((b) => `${b.segment}:${b.bus!.secondary}`));
  const invented = new Map<Block, number>();
  const guessed = withoutBus.filter((b) => b.express === undefined);
  for (const b of guessed) kinds.set(b, 'pci');
  if (guessed.length > 0) {
    assumptions.push(`${guessed.length} bridge(s) have no "Bus:" line in the dump (${guessed.map((b) => b.key).join(' ')}): the buses below them are unknown; taken as functions with nothing below them`);
  }
  for (const b of withoutBus.filter((x) => x.express !== undefined)) {
    const used = (bus: number): boolean =>
      blocks.some((x) => x.segment === b.segment && splitRequesterId(x.rid).bus === bus) ||
      withBus.some((x) => x.segment === b.segment && bus >= x.bus!.secondary && bus <= x.bus!.subordinate) ||
      [...invented].some(([x, v]) => x.segment === b.segment && v === bus);
    let free = 0xff;
    while (free > 0 && used(free)) free--;
    if (free === 0) {
      kinds.set(b, 'pci');
      assumptions.push(`${b.key} has no "Bus:" line in the dump and no bus number is free: taken as a function with nothing below it`);
      continue;
    }
    invented.set(b, free);
    assumptions.push(`${b.key} (${b.express}) has no "Bus:" line in the dump: given the empty secondary bus ${hex2(free.toString(16))}`);
  }

  const denied = blocks.filter((b) => b.accessDenied);
  if (denied.length > 0) {
    assumptions.push(`${denied.length} function(s) show "Capabilities: <access denied>" (lspci run without root): their PCIe type, ACS and phantom functions are unknown, taken as conventional PCI without ACS`);
  }
  if (denied.length === 0 && blocks.every((b) => b.express === undefined)) {
    assumptions.push('no function of the dump has an "Express" capability line (trimmed dump?): every function is taken as conventional PCI (pci / pci-bridge)');
  }

  // Root buses: every bus with functions that no bridge's secondary is.
  const rootBuses: HostBridge[] = [];
  const seenRoot = new Set<string>();
  for (const b of [...blocks].sort((x, y) => x.segment - y.segment || x.rid - y.rid)) {
    const bus = splitRequesterId(b.rid).bus;
    const id = `${b.segment}:${bus}`;
    if (secondaries.has(id) || seenRoot.has(id)) continue;
    seenRoot.add(id);
    rootBuses.push({ segment: b.segment, bus });
    const inside = withBus.find((x) => x.segment === b.segment && bus > x.bus!.secondary && bus <= x.bus!.subordinate);
    const lowest = blocks.filter((x) => x.segment === b.segment).reduce((m, x) => Math.min(m, splitRequesterId(x.rid).bus), 0xff);
    if (inside) {
      assumptions.push(`bus ${busName(b.segment, bus)} has no bridge in the dump (it is inside ${inside.key}'s bus range ${hex2(inside.bus!.secondary.toString(16))}-${hex2(inside.bus!.subordinate.toString(16))}): treated as a root bus`);
    } else if (bus !== lowest && withoutBus.length > 0) {
      assumptions.push(`bus ${busName(b.segment, bus)} has no bridge in the dump: treated as a root bus`);
    }
  }

  const functions: FunctionDescription[] = [];
  const machineGroups = new Map<string, number>();
  const lines = new Map<string, number>();
  const names = new Map<string, string>();
  const classCodes = new Map<string, number>();
  for (const b of blocks) {
    const kind = kinds.get(b)!;
    const f: Mutable<FunctionDescription> = { segment: b.segment, rid: b.rid, kind };
    if (b.vendorId !== undefined) f.vendorId = b.vendorId;
    if (b.deviceId !== undefined) f.deviceId = b.deviceId;
    if (b.bus && BRIDGE_KINDS.has(kind)) {
      const ownBus = splitRequesterId(b.rid).bus;
      if (b.bus.primary === ownBus) f.primary = b.bus.primary;
      else if (b.segment >= VMD_FIRST_DOMAIN) {
        // VMD root ports read primary=00 while Linux numbers their bus from the VMD bus offset (e.g. e0).
      } else {
        assumptions.push(`${b.key}: its Bus line says primary=${hex2(b.bus.primary.toString(16))} but the bridge is on bus ${hex2(ownBus.toString(16))}: primary ignored`);
      }
      f.secondary = b.bus.secondary;
      f.subordinate = b.bus.subordinate;
    }
    const empty = invented.get(b);
    if (empty !== undefined) {
      f.secondary = empty;
      f.subordinate = empty;
    }
    if (b.acsCap !== undefined || b.acsCtl !== undefined) {
      const acs: AcsRegisters = { cap: b.acsCap ?? 0, ctrl: b.acsCtl ?? 0 };
      f.acs = acs;
    }
    if (b.phantomSupported !== undefined && (b.phantomSupported > 0 || b.phantomEnabled === true)) {
      const ph: PhantomFunctions = { supported: b.phantomSupported, enabled: b.phantomEnabled ?? false };
      f.phantom = ph;
    }
    const dma = dmaOf.get(b.segment);
    if (dma !== undefined) f.dmaDevice = dma;
    if (b.bars.length > 0) f.bars = b.bars;
    functions.push(f);
    lines.set(b.key, b.line);
    names.set(b.key, b.name);
    if (b.classCode !== undefined) classCodes.set(b.key, b.classCode);
    if (b.group !== undefined) machineGroups.set(b.key, b.group);
  }
  return { description: { hostBridges: rootBuses, functions }, machineGroups, lines, names, classCodes, assumptions };
}

/**
 * Read and parse an lspci dump file; see {@link parseLspciTopology}.
 * @throws InputError naming `path` when the file cannot be read, and the errors of `parseLspciTopology`.
 */
export function loadLspciTopology(path: string): LspciTopology {
  const text = readInputText(path, { maxBytes: MAX_LSPCI_BYTES, what: 'lspci dump' });
  return parseLspciTopology(text, path);
}
