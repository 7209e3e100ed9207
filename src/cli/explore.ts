/**
 * `remapsim explore`: which interrupt addressing schemes reach which vCPUs of a VM, verified
 * by simulation, with their cost (issue #6; src/explorer/). Bad arguments are InputErrors
 * (exit 2, one line).
 */
import { errnoText } from '../io/errno-text.ts';
import { InputError } from '../io/input-error.ts';
import { replacedNote, writeFileAtomic } from '../io/atomic-write.ts';
import { explore, parseSweep, sweepPoints } from '../explorer/explore.ts';
import { formatJson, formatReport } from '../explorer/format.ts';
import { sweepSvg } from '../explorer/svg.ts';
import { loadGuestSupport } from '../explorer/guest-support.ts';
import { formatTopology, parseApicIdList, parseTopology, topologyApicIds, vcpuCount, MAX_VCPUS, type Topology } from '../explorer/topology.ts';
import { ALL_SCHEME_IDS, type ExploreVendor, type SchemeId } from '../explorer/schemes.ts';
import { schemesToExplore, vmmConfigOf, withVmmConfig } from '../explorer/vmm-config.ts';

interface ExploreFlags {
  topology?: string;
  apicIds?: string;
  guest: string;
  json?: boolean;
  svg?: string;
  sweep?: string;
  schemes?: string;
  vendor?: string;
  /** A QEMU command line / libvirt domain XML file: explore the schemes that configuration gives (src/explorer/vmm-config.ts). */
  qemu?: string;
  libvirt?: string;
}

const VENDORS: readonly ExploreVendor[] = ['intel', 'amd', 'both'];

/** `--vendor intel|amd|both` (default intel). @throws InputError (field `--vendor`). */
function parseVendor(text: string | undefined): ExploreVendor {
  if (text === undefined) return 'intel';
  if (!(VENDORS as readonly string[]).includes(text)) throw new InputError(`unknown vendor '${text}' (one of ${VENDORS.join(', ')})`, { field: '--vendor' });
  return text as ExploreVendor;
}

/** The sweep the flags ask for: `--sweep A..B` or `--sweep N` (1..N), or 1..4096 implied by `--svg`. */
function sweepRange(o: ExploreFlags): { lo: number; hi: number } | undefined {
  if (o.sweep !== undefined) return parseSweep(o.sweep);
  return o.svg === undefined ? undefined : { lo: 1, hi: 4096 };
}

function parseSchemes(text: string): SchemeId[] {
  const ids = text.split(',').map((s) => s.trim());
  for (const id of ids) {
    if (!(ALL_SCHEME_IDS as readonly string[]).includes(id)) throw new InputError(`unknown scheme '${id}' (one of ${ALL_SCHEME_IDS.join(', ')})`, { field: '--schemes' });
  }
  return ids as SchemeId[];
}

/** Run `explore` with parsed flags; returns the text to print. */
export function runExplore(o: ExploreFlags): string {
  if ((o.topology === undefined) === (o.apicIds === undefined)) throw new InputError('give exactly one of --topology and --apic-ids', { field: '--topology' });
  const vendor = parseVendor(o.vendor);
  const guestSupport = loadGuestSupport();
  const range = sweepRange(o);
  let apicIds: number[];
  let vm: string;
  let sweepIds: number[] | undefined;
  let topology: Topology | undefined;
  if (o.topology !== undefined) {
    const t = (topology = parseTopology(o.topology));
    apicIds = topologyApicIds(t);
    vm = `${formatTopology(t)} (${vcpuCount(t)} vCPUs)`;
    // The sweep's VMs are prefixes of one shape, so the largest is built by adding sockets (same per-socket IDs).
    if (range !== undefined) sweepIds = topologyApicIds(t, range.hi);
  } else {
    apicIds = parseApicIdList(o.apicIds!);
    vm = `explicit APIC ID list (${apicIds.length} vCPUs)`;
    if (range !== undefined) {
      if (range.hi > apicIds.length) throw new InputError(`the sweep goes to ${range.hi} vCPUs but the list has ${apicIds.length}`, { field: '--sweep' });
      sweepIds = apicIds;
    }
  }
  if (apicIds.length > MAX_VCPUS) throw new InputError(`more than ${MAX_VCPUS} vCPUs`, { field: '--topology' });
  const vmmConfig = vmmConfigOf(o);
  const requested = o.schemes === undefined ? undefined : parseSchemes(o.schemes);
  const schemes = vmmConfig === undefined ? requested : schemesToExplore(vmmConfig, requested);
  const result = explore({
    apicIds,
    vm,
    ...(topology === undefined ? {} : { topology }),
    guest: o.guest,
    guestSupport,
    vendor,
    ...(schemes === undefined ? {} : { schemes }),
    ...(range === undefined || sweepIds === undefined ? {} : { sweep: { apicIds: sweepIds, points: sweepPoints(range.lo, range.hi) } }),
  });
  let svgNote = '';
  if (o.svg !== undefined) {
    try {
      svgNote = replacedNote(writeFileAtomic(o.svg, sweepSvg(result.sweep!, { vm, guest: result.guestName, vcpus: apicIds.length })));
    } catch (e) {
      throw new InputError(`cannot write: ${errnoText(e)}`, { file: o.svg, field: '--svg' });
    }
  }
  const output = o.json ? formatJson(result) : formatReport(result) + (o.svg === undefined ? '' : `Plot written to ${o.svg}${svgNote}.\n`);
  return vmmConfig === undefined ? output : withVmmConfig(output, vmmConfig, o.json === true);
}
