/**
 * `direct-post` (HYPOTHETICAL): the hypervisor side of the direct-post IOMMU of seed thread
 * 000 (David Woodhouse's <fantasy>, /work/shared/seeds/000_cbb8a241a5a9bbd6.txt lines
 * 50-100: the guest hands the device a standard MSI naming a guest APIC ID + vector, "the
 * IOMMU receives a <source-id, vCPU APIC ID, vector> tuple" and posts it by default; "If
 * receiving an interrupt for a vCPU which isn't currently running, that's when the IOMMU sets
 * a bit in a table somewhere and notifies the host OS"); issue 12 items 4 and 6. No
 * hypervisor and no hardware does this: the hardware is remapsim's own definition
 * (src/hypothetical/direct-post/table.ts, docs/vmm.md "direct-post (hypothetical)"), and this
 * design is what a hypervisor would do with it.
 *
 * - **Once per VM** (`vmm-start {domain}`, {@link directPostStart}): for every function of the
 *   domain that the VMM manages, on the function's unit, the root entry for the requester ID
 *   the unit sees from it (`fn.busRid`, the function's arriving requester ID after the fabric;
 *   its other DMA aliases are not given entries — a function behind a PCIe-to-PCI bridge
 *   arrives with the bridge's ID, which is the one written) names the domain's vAPIC table:
 *   one 8-byte entry per vCPU at index = the vCPU's guest APIC ID, PDA = its PID, URG = 0,
 *   P = 1; TS = the smallest log2 of entries holding the domain's largest APIC ID. Each entry
 *   is a `write-memory` (8 bytes) and a `table-write` cost; the vAPIC entries are written
 *   before the root entry that makes them reachable. Then one `invalidate-dpt` per source ID
 *   (G = 1, that SID) so that no cached entry survives, and `write-dpta` with DPE = 1 (TS = 0,
 *   base = the root table) if the unit's DPTA is not yet enabled. Grants: the function (and
 *   the functions of the same owner that arrive with the same requester ID,
 *   src/policy/common.ts acceptedRequesters) may post any vector 16..2^vectorBits − 1 into
 *   any vCPU of its owner — one range grant per vCPU (`Grant.lastVector`).
 * - **Table memory** (documented in docs/vmm.md): 4 KiB frames handed out from
 *   `platform.directPost.tableBase` (default 0x2_0000_0000, src/scenario/compile.ts
 *   DEFAULT_DIRECT_POST_TABLE_BASE) in a fixed order, so that the
 *   design stays a pure function of the platform: with key `source-id` the root table first
 *   (65536 × 8 bytes = 512 KiB, shared by every unit: a requester ID is unique in the segment),
 *   then one vAPIC table per guest domain in domain-id order, each 2^TS × 8 bytes rounded up
 *   to whole 4 KiB frames. A second `vmm-start` of the same domain rewrites the same table.
 * - **The MSI-X table is not trapped.** Nothing intercedes: the guest's writes go to the
 *   physical table as written (`program-msix` with the guest's address, data and Mask bit
 *   for every entry the access wrote; `msix-control` when Enable or Function Mask changed),
 *   no VM exit, no cost. The guest reads its own view (what it wrote, the same bytes as the
 *   physical entry), the PBA is the hardware's (as Xen passes PBA reads through).
 * - **No host vectors, no device model, no hypercall:** `onDeviceInterrupt` has nothing to
 *   do, device-model operations are refused.
 * - **Key `vapic-id`** (the broken hardware variant, `platform.directPost.key: vapic-id`):
 *   the hardware has one vAPIC table for everybody, keyed by vAPIC ID alone, at the DPTA base
 *   (its TS in DPTA[4:1], sized here for the largest guest APIC ID of the platform). The same
 *   design writes each guest's vCPUs into it: a second guest's vCPU with the same APIC ID
 *   overwrites the first guest's entry, and the first guest's device then posts into the other
 *   guest's vCPU (P1; catalog pair direct-post-vapic-key). The invalidation is global: the
 *   cache is keyed by vAPIC ID, so a per-source invalidation would not name it.
 *
 * Broken variant `direct-post-broken-no-invalidate`: rewrites the root entry (and table) and
 * returns without the `invalidate-dpt`. After a function moves to another domain (an
 * `assign-device`, then `vmm-start` of the new owner) a (SID, vAPIC ID) entry the cache still
 * holds posts into the old owner's vCPU (P1), the direct-post analogue of XSA-442 / the
 * stale-IEC attack.
 */
import type { Action, ActionOf } from '../../platform/actions.ts';
import type { Grant, PlatformState, Vcpu } from '../../platform/state.ts';
import type { VmmDesign } from '../design.ts';
import { vcpuList } from '../../platform/vcpu-table.ts';
import { acceptedRequesters, FIRST_DEVICE_VECTOR } from '../../policy/common.ts';
import {
  DIRECT_POST_ENTRY_BYTES,
  DIRECT_POST_MAX_TS,
  DIRECT_POST_ROOT_ENTRIES,
  decodeDpta,
  encodeDpta,
  encodeDptInvalidation,
  encodeRootEntry,
  encodeVapicEntry,
  rootEntryAddress,
  vapicEntryAddress,
} from '../../hypothetical/direct-post/table.ts';
import { formatBdf } from '../../pci/bdf.ts';
import { entryAddress, type VirtualMsix } from '../virtual-msix.ts';
import { cost, hex, note } from './kvm-irq.ts';

const FRAME = 0x1000n;
const framesFor = (bytes: bigint): bigint => ((bytes + FRAME - 1n) / FRAME) * FRAME;

/** TS for a vAPIC table that must hold index `maxId`: log2 of the smallest power-of-two entry count above it (0 → 0: one entry; 32767 → 15). */
export function tsFor(maxId: number): number {
  let ts = 0;
  while (2 ** ts <= maxId) ts++;
  return ts;
}

/** The vCPUs a vAPIC table can hold (APIC ID below 2^15: the largest table, TS = 15). */
const tableable = (v: Vcpu): boolean => v.apicId < 2 ** DIRECT_POST_MAX_TS;

/**
 * Where the vAPIC table of guest `domain` is, per the fixed layout of the module comment:
 * `table` its byte address (4 KiB aligned), `ts` log2 of its entry count (8 bytes an entry).
 * With key `vapic-id` the one shared table at the table base, sized for every guest's vCPUs.
 * Undefined without `platform.directPost` or when the domain has no vCPU a table can hold.
 */
export function vapicTableOf(state: PlatformState, domain: number): { table: bigint; ts: number } | undefined {
  const dp = state.interrupts.directPost;
  if (dp === undefined) return undefined;
  const vcpus = vcpuList(state.vcpus).filter(tableable);
  const tsOf = (d: number): number | undefined => {
    const ids = vcpus.filter((v) => v.domain === d).map((v) => v.apicId);
    return ids.length === 0 ? undefined : tsFor(Math.max(...ids));
  };
  if (dp.key === 'vapic-id') {
    const ids = vcpus.filter((v) => state.domains[v.domain]?.kind === 'guest').map((v) => v.apicId);
    return { table: dp.tableBase, ts: ids.length === 0 ? 0 : tsFor(Math.max(...ids)) };
  }
  let at = dp.tableBase + framesFor(BigInt(DIRECT_POST_ROOT_ENTRIES * DIRECT_POST_ENTRY_BYTES));
  for (const d of state.domains) {
    if (d.kind !== 'guest') continue;
    const ts = tsOf(d.id);
    if (d.id === domain) return ts === undefined ? undefined : { table: at, ts };
    if (ts !== undefined) at += framesFor(BigInt(2 ** ts * DIRECT_POST_ENTRY_BYTES));
  }
  return undefined;
}

/** What a variant gets wrong. */
interface DirectPostRules {
  /** Invalidate the direct-post cache after rewriting entries (false: the broken variant). */
  readonly invalidates: boolean;
}

const tableWrite = (address: bigint, value: bigint, what: string): Action[] => [
  { kind: 'write-memory', address, bytes: DIRECT_POST_ENTRY_BYTES, value, what },
  cost('table-write', what),
];

/**
 * The per-VM set-up of `vmm-start` (see the module comment): the vAPIC table, the root entry
 * of each managed function of the domain, the invalidations, DPTA and the grants. A domain
 * without vCPUs or functions, or a platform without direct-post hardware, gets a note.
 */
export function directPostStart(state: PlatformState, request: ActionOf<'vmm-start'>, rules: DirectPostRules): Action[] {
  const dp = state.interrupts.directPost;
  const domain = request.domain;
  const name = state.domains[domain]?.name ?? `domain ${domain}`;
  if (dp === undefined) return [note(`vmm-start ${name}: the platform has no direct-post hardware (platform.directPost): nothing set up`)];
  const all = vcpuList(state.vcpus).filter((v) => v.domain === domain);
  const vcpus = all.filter(tableable);
  const out: Action[] = [];
  for (const v of all.filter((x) => !tableable(x))) out.push(note(`vmm-start ${name}: vCPU ${v.index}'s APIC ID ${v.apicId} does not fit a vAPIC table (2^15 entries at most): it gets no entry`));
  const where = vapicTableOf(state, domain);
  const devices = Object.keys(state.vmm?.devices ?? {}).filter((k) => state.intent.owners[k] === domain && state.devices[k] !== undefined);
  if (where === undefined || vcpus.length === 0) return [...out, note(`vmm-start ${name}: no vCPU to post into: nothing set up`)];
  // The vAPIC entries first: the root entry (or DPTA) that makes them reachable comes after.
  for (const v of vcpus) {
    const value = encodeVapicEntry({ present: true, urgent: false, pda: v.pda });
    out.push(...tableWrite(vapicEntryAddress(where.table, v.apicId), value, `direct-post vAPIC entry ${v.apicId} (${name}.vcpu${v.index} → PID ${hex(v.pda)}) (hypothetical)`));
  }
  const grantsFor = (keys: readonly string[]): Action[] => {
    const lastVector = 2 ** dp.vectorBits - 1;
    const have = (g: Grant): boolean => state.intent.grants.some((x) => x.requester === g.requester && x.target.kind === 'vcpu' && g.target.kind === 'vcpu' && x.target.vcpu === g.target.vcpu && x.vector === g.vector && x.lastVector === g.lastVector);
    return keys.flatMap((requester) =>
      vcpus.map((v): Grant => ({ requester, target: { kind: 'vcpu', vcpu: v.id }, vector: FIRST_DEVICE_VECTOR, lastVector, deliveryModes: [0, 1] })).filter((g) => !have(g)).map((grant): Action => ({ kind: 'grant', grant })),
    );
  };
  const units = new Set<number>();
  const sids = new Map<number, Set<number>>();
  const granted = new Set<string>();
  for (const key of devices) {
    const fn = state.devices[key]!;
    if (fn.iommu === undefined) {
      out.push(note(`vmm-start ${name}: ${key} is behind no remapping unit: no direct posting for it`));
      continue;
    }
    const unit = state.iommus[fn.iommu];
    if (unit?.directPost === undefined) {
      out.push(note(`vmm-start ${name}: ${unit?.name ?? `unit ${fn.iommu}`} has no direct-post hardware: nothing written for ${key}`));
      continue;
    }
    units.add(fn.iommu);
    const sid = fn.busRid;
    if (dp.key === 'source-id') {
      const value = encodeRootEntry({ present: true, ts: where.ts, table: where.table });
      out.push(...tableWrite(rootEntryAddress(dp.tableBase, sid), value, `direct-post root entry ${formatBdf(sid)} of ${unit.name}${formatBdf(sid) === key ? '' : ` (${key})`} → ${name}'s vAPIC table ${hex(where.table)}, TS ${where.ts} (hypothetical)`));
      const set = sids.get(fn.iommu) ?? new Set<number>();
      set.add(sid);
      sids.set(fn.iommu, set);
    }
    for (const k of acceptedRequesters(state, key, domain, { sid, svt: 1 })) granted.add(k);
  }
  if (units.size === 0) return [...out, note(`vmm-start ${name}: no function of ${name} on a unit with direct-post hardware: the table is written but nothing reaches it`)];
  for (const iommu of units) {
    const unit = state.iommus[iommu]!;
    if (rules.invalidates) {
      if (dp.key === 'source-id') for (const sid of sids.get(iommu) ?? []) out.push({ kind: 'invalidate-dpt', iommu, descriptor: encodeDptInvalidation({ granularity: 'source', sid }) });
      else out.push({ kind: 'invalidate-dpt', iommu, descriptor: encodeDptInvalidation({ granularity: 'global' }) });
    } else {
      out.push(note(`vmm-start ${name}: ${unit.name}'s direct-post cache is NOT invalidated (the bug of direct-post-broken-no-invalidate)`));
    }
    if (!decodeDpta(unit.directPost!.dpta).enable) {
      const value = dp.key === 'source-id' ? encodeDpta({ enable: true, base: dp.tableBase }) : encodeDpta({ enable: true, ts: where.ts, base: where.table });
      out.push({ kind: 'write-dpta', iommu, value });
    }
  }
  out.push(...grantsFor([...granted]));
  const ids = vcpus.map((v) => v.apicId).join(', ');
  out.push(
    note(
      `vmm-start ${name} (hypothetical direct-post, key ${dp.key}): vAPIC table ${hex(where.table)} (2^${where.ts} entries) holds APIC IDs ${ids}; ${dp.key === 'source-id' ? `root entries for ${[...sids.values()].flatMap((s) => [...s]).map((s) => formatBdf(s)).join(', ')}` : 'the one table shared by every source'}; ${[...granted].join(', ')} may post vectors ${hex(FIRST_DEVICE_VECTOR)}..${hex(2 ** dp.vectorBits - 1)} into ${name}'s vCPUs`,
    ),
  );
  return out;
}

/** The guest's write reaches the physical table as written: the written entries and a changed Enable / Function Mask; device registers pass through. Nothing is trapped. */
function onGuestAccess(state: PlatformState, request: ActionOf<'vmm-react'>): Action[] {
  const x = request.access;
  if (!x.write) return [];
  const view: VirtualMsix | undefined = state.vmm?.devices[x.device]?.guest;
  if (view === undefined) return [];
  const out: Action[] = [];
  for (const k of x.written) {
    const e = view.table[k];
    if (e === undefined) continue;
    out.push({ kind: 'program-msix', device: x.device, entry: k, address: entryAddress(e), data: e.data >>> 0, masked: (e.control & 1) !== 0 });
  }
  if (view.enabled !== x.before.enabled || view.functionMask !== x.before.functionMask) out.push({ kind: 'msix-control', device: x.device, enabled: view.enabled, functionMask: view.functionMask });
  for (const p of x.parts) if (p.region === 'page' || p.region === 'direct') out.push({ kind: 'device-register-write', device: x.device, bar: x.bar, offset: p.offset, size: p.size, value: p.value, by: 'the guest (mapped BAR)' });
  return out;
}

function design(name: string, summary: string, broken: boolean, rules: DirectPostRules): VmmDesign {
  return {
    name,
    summary,
    source:
      "HYPOTHETICAL (no hardware or hypervisor does this): seed thread 000, David Woodhouse's <fantasy> (2024-08-13: \"the IOMMU receives a <source-id, vCPU APIC ID, vector> tuple\", post by default, notify the host only for a vCPU not running; wider vectors; docs/threads/); hardware as defined in src/hypothetical/direct-post/table.ts; PBA passed through as Xen does (xen/arch/x86/hvm/vmsi.c)",
    broken,
    guestAddressing:
      "the guest's own compatibility-format message in the untrapped table: vAPIC IDs 0–255, 0–32767 with the extended destination ID (the vAPIC table holds up to 2^15 entries); the hypothetical IOMMU posts by (source-id, vAPIC ID), so no vIOMMU is needed up to that",
    // Its scenarios need platform.directPost, which the trapped-table scenarios of compare lack.
    comparedByDefault: false,
    onGuestAccess,
    onDeviceInterrupt: (_state, request) => [note(`host vector ${hex(request.hostVector)} for ${request.device} entry ${request.entry}: direct-post sets up no host vectors, dropped`)],
    onDeviceModel: (_state, request) => [note(`device-model ${request.op.op} for ${request.device} refused: direct-post (hypothetical) involves no device model`)],
    virtualPending: (state, device) => (state.devices[device]?.msix?.pending ?? []).reduce((bits, k) => bits | (1n << BigInt(k)), 0n),
    onStart: (state, request) => directPostStart(state, request, rules),
  };
}

export const directPost = design(
  'direct-post',
  'HYPOTHETICAL direct-post IOMMU (seed thread 000, docs/threads/): at vmm-start the hypervisor writes a root entry per function and a vAPIC table per VM (APIC ID → PID); the guest programs standard MSIs naming its own APIC IDs and vectors into an untrapped MSI-X table, and the IOMMU posts them — no exit, no per-MSI hypervisor work',
  false,
  { invalidates: true },
);

export const directPostBrokenNoInvalidate = design(
  'direct-post-broken-no-invalidate',
  "direct-post (hypothetical) that rewrites the tables without invalidating the direct-post cache: after a function moves to another VM, a cached (SID, vAPIC ID) entry posts into the old owner's vCPU",
  true,
  { invalidates: false },
);

export const DIRECT_POST_DESIGNS: readonly VmmDesign[] = [directPost, directPostBrokenNoInvalidate];
