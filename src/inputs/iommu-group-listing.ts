/**
 * Parse a machine's IOMMU group listing: what Linux put in /sys/kernel/iommu_groups, as the
 * usual shell one-liners print it. Three forms are recognised, in plain text or inside
 * markdown code fences (fence and prose lines are skipped):
 *
 * 1. one line per device (the `for d in /sys/kernel/iommu_groups/*\/devices/*` loop with
 *    `printf 'IOMMU group %s '; lspci -nns …`):
 *
 *        IOMMU group 10 00:1f.0 ISA bridge [0601]: Intel Corporation …
 *
 * 2. a header per group with the devices indented below it (`list_iommu_groups.sh`):
 *
 *        IOMMU Group 7:
 *            00:14.0 USB controller [0c03]: Intel Corporation Device [8086:7ae0] (rev 11)
 *
 * 3. the per-unit tree of /sys/class/iommu/dmarN (`list_iommu_tree.sh`):
 *
 *        IOMMU: dmar15
 *          IOMMU Group: 15
 *            Group Device: 0000:6a:00.4 - Generic system peripheral [0807]: …
 *
 * Device keys are normalised as `formatBdf` does (`0000:` dropped, lower case). A device listed
 * twice in the same group (some scripts repeat them) counts once.
 *
 * lspci's own `\tIOMMU group: N` line inside an `lspci -v` dump is not a listing line: form 3's
 * `IOMMU Group: N` is only accepted under an `IOMMU: unit` line.
 */

import { readInputText } from '../io/read-input.ts';
import { MAX_GROUP_LISTING_BYTES } from '../io/limits.ts';
import { InputError } from '../io/input-error.ts';
import { formatBdf, parseBdf } from '../pci/bdf.ts';

/** A machine's IOMMU groups. */
export interface GroupListing {
  /** Group number → its devices (function keys as `formatBdf`), in listing order. */
  readonly groups: ReadonlyMap<number, readonly string[]>;
  /** Tree form only: group number → the IOMMU unit (`dmar15`) it was listed under. */
  readonly units?: ReadonlyMap<number, string>;
  /** Group number → 1-based line where the group (or its first device line) appears. */
  readonly lines: ReadonlyMap<number, number>;
}

const BDF = '(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]';
// The device token only has to look like an address here; add() then checks it strictly.
const ONE_LINE_RE = /^\s*IOMMU [Gg]roup (\d+) ((?:[0-9a-fA-F]+:)+[0-9a-fA-F]+\.[0-9a-fA-F]+)(?:\s|$)/;
const BLOCK_HEADER_RE = /^\s*IOMMU [Gg]roup (\d+):?\s*$/;
const UNIT_RE = /^\s*IOMMU: (\S+)\s*$/;
const TREE_GROUP_RE = /^\s+IOMMU Group: (\d+)\s*$/;
const TREE_DEVICE_RE = /^\s+Group Device: (\S+)(?:\s|$)/;
const INDENTED_DEVICE_RE = /^\s+((?:[0-9a-fA-F]+:)+[0-9a-fA-F]+\.[0-9a-fA-F]+)(?:\s|$)/;

/** True when `text` has at least one line of one of the three listing forms. */
export function isGroupListing(text: string): boolean {
  let unit = false;
  for (const s of text.split(/\r?\n/)) {
    if (ONE_LINE_RE.test(s)) return true;
    if (BLOCK_HEADER_RE.test(s)) return true;
    if (UNIT_RE.test(s)) unit = true;
    else if (unit && TREE_GROUP_RE.test(s)) return true;
  }
  return false;
}

/** Linux numbers groups with an IDA of `int`s (drivers/iommu/iommu.c `iommu_group_alloc`): 0 … 2^31 − 1. */
function groupNumber(token: string, file: string, ln: number): number {
  const n = Number(token);
  if (!(n <= 0x7fff_ffff)) throw new InputError(`group number ${token} is above 2147483647 (the kernel's group IDs are ints)`, { file, line: ln, field: 'group' });
  return n;
}

/**
 * Parse a group listing.
 * @param text the listing.
 * @param file name used in error messages.
 * @throws InputError when no line is a group line, when a device field is not a PCI address,
 *   when a device is listed in two groups, a group's header appears twice, or a group number is
 *   above 2^31 − 1.
 */
export function parseGroupListing(text: string, file: string): GroupListing {
  const groups = new Map<number, string[]>();
  const units = new Map<number, string>();
  const lines = new Map<number, number>();
  const where = new Map<string, { group: number; line: number }>();
  let open: number | undefined; // group of form 2 or 3 whose device lines follow
  let unit: string | undefined;

  // Block and tree headers: each group's appears once (the kernel lists /sys/kernel/iommu_groups/N
  // once per N); form 1 repeats the number on every device line, so it does not count here.
  const headers = new Map<number, number>();
  const header = (token: string, ln: number): number => {
    const n = groupNumber(token, file, ln);
    const first = headers.get(n);
    if (first !== undefined) throw new InputError(`group ${n} appears twice (first at line ${first})`, { file, line: ln, field: 'group' });
    headers.set(n, ln);
    return n;
  };
  const group = (n: number, ln: number): string[] => {
    let g = groups.get(n);
    if (!g) {
      g = [];
      groups.set(n, g);
      lines.set(n, ln);
    }
    return g;
  };
  const add = (n: number, token: string, ln: number): void => {
    const bdf = parseBdf(token);
    if (!bdf || !new RegExp(`^${BDF}$`).test(token)) throw new InputError(`"${token}" is not a PCI address`, { file, line: ln, field: 'device' });
    const key = formatBdf(bdf.rid, bdf.segment === 0 ? undefined : bdf.segment);
    const g = group(n, ln);
    const seen = where.get(key);
    if (seen && seen.group !== n) throw new InputError(`${key} is listed in group ${seen.group} (line ${seen.line}) and in group ${n}`, { file, line: ln, field: 'device' });
    if (!seen) {
      where.set(key, { group: n, line: ln });
      g.push(key);
    }
  };

  const src = text.split(/\r?\n/);
  for (let i = 0; i < src.length; i++) {
    const s = src[i]!;
    const ln = i + 1;
    const u = UNIT_RE.exec(s);
    if (u) {
      unit = u[1]!;
      open = undefined;
      continue;
    }
    if (unit !== undefined) {
      const tg = TREE_GROUP_RE.exec(s);
      if (tg) {
        open = header(tg[1]!, ln);
        group(open, ln);
        units.set(open, unit);
        continue;
      }
      const td = TREE_DEVICE_RE.exec(s);
      if (td && open !== undefined) {
        add(open, td[1]!, ln);
        continue;
      }
    }
    const bh = BLOCK_HEADER_RE.exec(s);
    if (bh) {
      open = header(bh[1]!, ln);
      unit = undefined;
      group(open, ln);
      continue;
    }
    const ol = ONE_LINE_RE.exec(s);
    if (ol) {
      open = undefined;
      add(groupNumber(ol[1]!, file, ln), ol[2]!, ln);
      continue;
    }
    if (open !== undefined && unit === undefined) {
      const d = INDENTED_DEVICE_RE.exec(s);
      if (d) {
        add(open, d[1]!, ln);
        continue;
      }
      // Any other non-blank line (a prompt, prose, a fence) ends the group's device lines.
      if (s.trim() !== '') open = undefined;
    }
  }
  if (groups.size === 0) {
    throw new InputError('not an IOMMU group listing: no line such as "IOMMU group 3 00:14.0 …", "IOMMU Group 3:" or "IOMMU Group: 3" under "IOMMU: dmar0"', { file, line: 1 });
  }
  const sorted = new Map([...groups].sort((a, b) => a[0] - b[0]));
  const sortedLines = new Map([...lines].sort((a, b) => a[0] - b[0]));
  return units.size > 0 ? { groups: sorted, units: new Map([...units].sort((a, b) => a[0] - b[0])), lines: sortedLines } : { groups: sorted, lines: sortedLines };
}

/**
 * Read and parse a group listing file; see {@link parseGroupListing}.
 * @throws InputError naming `path` when the file cannot be read, and the errors of `parseGroupListing`.
 */
export function loadGroupListing(path: string): GroupListing {
  const text = readInputText(path, { maxBytes: MAX_GROUP_LISTING_BYTES, what: 'group listing' });
  return parseGroupListing(text, path);
}
