/**
 * What a hypervisor policy writes on an AMD-Vi platform (the policy side of the vendor seam,
 * src/policy/vendor.ts): the per-device interrupt remapping table, its DTE fields, 128-bit or
 * 32-bit IRTEs, the command buffer's invalidations, and AVIC's IsRun / Destination updates. The
 * hardware side is src/platform/amdvi-*.ts; the sources per operation:
 *
 * - table per DeviceID (Linux drivers/iommu/amd/iommu.c `alloc_irq_table` / `set_dte_irq_entry`:
 *   DTE IntTabRootPtr = the table, IntTabLen 9 (`DTE_INTTABLEN`, 512 entries,
 *   `MAX_IRQS_PER_TABLE`), IntCtl = 10b remapped (`DTE_IRQ_REMAP_INTCTL`), IV = 1, then
 *   `device_flush_dte` = INVALIDATE_DEVTAB_ENTRY + `iommu_completion_wait` = COMPLETION_WAIT;
 *   Xen xen/drivers/passthrough/amd/iommu_intr.c `amd_iommu_alloc_intremap_table`, per device
 *   since XSA-36 (`amd_iommu_perdev_intremap`));
 * - index allocation: the lowest index not yet handed out in the table (`alloc_irq_index`; the
 *   model never frees one). A (device, MSI-X entry) whose physical entry already carries an
 *   index we handed out keeps it and its IRTE is rewritten in place, as KVM's
 *   `avic_pi_update_irte` → `amd_ir_set_vcpu_affinity` modifies the IRTE of the existing host IRQ;
 * - IRTE writes: `modify_irte_ga` / `modify_irte` (one 128-bit cmpxchg, then
 *   `iommu_flush_irt_and_complete` = INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT);
 *   Xen `update_intremap_entry_from_msi_msg` (remapped to the host vector and pCPU);
 * - the physical MSI: address 0xFEE00000, data = the index (`fill_msi_msg`);
 * - AVIC: `amd_iommu_activate_guest_mode` (GuestMode = 1, RemapEn kept = 1, GA root = the
 *   vCPU's backing page, guest vector, GATag), then `__amd_iommu_update_ga` (IsRun and
 *   Destination = the pCPU's APIC ID when the vCPU runs; IsRun = 0 and GALogIntr when it does
 *   not); KVM arch/x86/kvm/svm/avic.c `avic_vcpu_load` / `avic_vcpu_put` /
 *   `avic_vcpu_blocking` → `amd_iommu_update_ga`, written with no invalidation (Destination,
 *   IsRun and GALogIntr are not cached: sheet amdvi-facts.md §3.4, §4.3).
 *
 * Tables live at {@link AMD_IRQ_TABLE_BASE} (one 8 KiB slot per unit and DeviceID: 512 ·
 * 16 bytes) with the COMPLETION_WAIT semaphores of the units in the page below.
 */
import type { Action, ActionOf } from '../platform/actions.ts';
import type { PlatformState, PciFunction, Vcpu } from '../platform/state.ts';
import type { AmdViUnit } from '../amdvi/unit.ts';
import { buildCommand, COMMAND_BYTES } from '../amdvi/commands.ts';
import { decodeDte, dteAddress, DTE_BYTES, encodeDte, INT_CTL } from '../amdvi/dte.ts';
import { decodeAmdIrte, encodeAmdIrte, irteBytes, type AmdIrte, type GaVapicIrte } from '../amdvi/irte.ts';
import { CONTROL_BITS, controlGamEn, regBit, ringAddress, ringBytes } from '../amdvi/registers.ts';
import { groupOf } from '../fabric/group-index.ts';
import { formatBdf } from '../pci/bdf.ts';
import { vcpuList } from '../platform/vcpu-table.ts';
import { AVIC_IRR_OFFSET } from '../x86/avic.ts';

/** Where the policies put AMD-Vi interrupt tables: above 4 GiB, clear of the AVIC backing pages and the DMA table arena. */
export const AMD_IRQ_TABLE_BASE = 0x1_0000_0000n;
/** The COMPLETION_WAIT semaphore of unit `n` is the quadword at this address + 8n (Linux `iommu->cmd_sem`). */
export const AMD_COMPLETION_SEMAPHORES = AMD_IRQ_TABLE_BASE;
/** IntTabLen: 2^9 = 512 entries (Linux `DTE_INTTABLEN`, "hardware only supports 512 IRTEs"). */
export const AMD_INT_TAB_LEN = 9;
/** Entries a table holds. */
export const AMD_IRQ_TABLE_ENTRIES = 1 << AMD_INT_TAB_LEN;
/** Bytes between tables: 512 · 16 (the 128-bit format; a legacy table uses its first quarter). */
const TABLE_STRIDE = BigInt(AMD_IRQ_TABLE_ENTRIES * 16);
/** The model's MSI address for a remapped AMD message (Linux `fill_msi_msg`: address_lo 0xFEE00000, DM = 0). */
export const AMD_MSI_ADDRESS = 0xfee0_0000n;

/** How a policy lays out interrupt tables (its bugs included). */
export interface AmdTableRules {
  /** One interrupt table for every device of a unit (bug: XSA-36 / CVE-2013-0153, Xen before per-device tables). */
  readonly shared?: boolean;
}

/** The unit `iommu` of the AMD-Vi platform, if any. */
export function amdUnit(state: PlatformState, iommu: number): AmdViUnit | undefined {
  return state.amdvi?.units[iommu];
}

/** The DeviceID a function's requests carry at the IOMMU (its alias behind a PCIe-to-PCI bridge): the DTE and table it uses. */
export function amdDeviceId(fn: PciFunction): number {
  return fn.busRid;
}

/**
 * The allocator key of a table (`HypervisorState.nextIrte` and `intent.interruptRoutes` are
 * keyed by it on AMD): `(unit + 1) · 0x10000 + DeviceID` per device, the unit itself for a shared table.
 */
export function amdTableKey(iommu: number, deviceId: number, rules: AmdTableRules = {}): number {
  return rules.shared ? iommu : (iommu + 1) * 0x1_0000 + deviceId;
}

/** The table address of allocator key `key` (bytes; 128-byte aligned as DTE IntTabRootPtr needs). */
export function amdTableAddress(key: number): bigint {
  return AMD_IRQ_TABLE_BASE + 0x1000n + BigInt(key) * TABLE_STRIDE;
}

/** Whether the unit remaps interrupts as Linux drives it: IommuEn, a device table and a running command buffer. */
export function amdRemappingOn(state: PlatformState, iommu: number): boolean {
  const u = amdUnit(state, iommu);
  return u !== undefined && regBit(u.regs.control, CONTROL_BITS.IommuEn) && regBit(u.regs.control, CONTROL_BITS.CmdBufEn) && u.regs.deviceTableBase !== 0n;
}

/** Whether the unit posts (AVIC): remapping on, GAEn (128-bit IRTEs) and GAMEn = 001 guest virtual APIC (Linux `AMD_IOMMU_GUEST_IR_VAPIC`). */
export function amdPostingCapable(state: PlatformState, iommu: number): boolean {
  const u = amdUnit(state, iommu);
  return u !== undefined && amdRemappingOn(state, iommu) && regBit(u.regs.control, CONTROL_BITS.GAEn) && controlGamEn(u.regs.control) === 1;
}

/** The unit's IRTE format: 128-bit with GAEn, else 32-bit. */
function gaOn(unit: AmdViUnit): boolean {
  return regBit(unit.regs.control, CONTROL_BITS.GAEn);
}

/** Writes commands at the tail of unit `iommu`'s command buffer, keeping its own tail across several (one per response). */
export class AmdCommandWriter {
  private tail: bigint;
  private readonly base: bigint;
  private readonly bytes: bigint;
  constructor(
    unit: AmdViUnit,
    private readonly iommu: number,
  ) {
    this.base = ringAddress(unit.regs.commandBufferBase);
    this.bytes = ringBytes(unit.regs.commandBufferBase);
    this.tail = unit.regs.commandTail;
  }

  /** The command's store at the tail and the COMMAND_TAIL write that makes the unit run it. */
  private put(raw: bigint, what: string): Action[] {
    const at = this.base + this.tail;
    this.tail = (this.tail + BigInt(COMMAND_BYTES)) % this.bytes;
    return [
      { kind: 'write-memory', address: at, bytes: COMMAND_BYTES, value: raw, what: `${what} command at ivhd${this.iommu} command buffer` },
      { kind: 'amdvi-write-register', iommu: this.iommu, register: 'COMMAND_TAIL', value: this.tail },
    ];
  }

  /** INVALIDATE_DEVTAB_ENTRY then COMPLETION_WAIT (Linux `device_flush_dte` + `iommu_completion_wait`). */
  flushDte(deviceId: number): Action[] {
    return [...this.put(buildCommand('INVALIDATE_DEVTAB_ENTRY', { DeviceID: deviceId }), `INVALIDATE_DEVTAB_ENTRY ${formatBdf(deviceId)}`), ...this.wait()];
  }

  /** INVALIDATE_INTERRUPT_TABLE then COMPLETION_WAIT (Linux `iommu_flush_irt_and_complete`). */
  flushIrt(deviceId: number): Action[] {
    return [...this.put(buildCommand('INVALIDATE_INTERRUPT_TABLE', { DeviceID: deviceId }), `INVALIDATE_INTERRUPT_TABLE ${formatBdf(deviceId)}`), ...this.wait()];
  }

  private wait(): Action[] {
    const store = AMD_COMPLETION_SEMAPHORES + BigInt(this.iommu * 8);
    return this.put(buildCommand('COMPLETION_WAIT', { S: true, I: false, F: false, StoreAddress: Number(store >> 3n), DataLo: 1, DataHi: 0 }), 'COMPLETION_WAIT');
  }
}

/** Where an IRTE goes: the unit, the table's allocator key and address, the DeviceID to invalidate, and the index. */
export interface AmdIrteSlot {
  readonly iommu: number;
  readonly key: number;
  readonly table: bigint;
  readonly deviceId: number;
  readonly index: number;
  /** Whether the index was handed out before (rewritten in place) or is allocated now. */
  readonly inPlace: boolean;
}

/**
 * The slot of `device`'s MSI-X `entry`: the index its physical entry already carries when we
 * handed it out (rewritten in place), else the table's next free index. Undefined when the
 * table is full.
 */
export function amdIrteSlot(state: PlatformState, fn: PciFunction, entry: number, iommu: number, rules: AmdTableRules = {}): AmdIrteSlot | undefined {
  const deviceId = amdDeviceId(fn);
  const key = amdTableKey(iommu, deviceId, rules);
  const next = state.hypervisor.nextIrte[key] ?? 0;
  const programmed = fn.msix?.table[entry];
  const held = programmed !== undefined && programmed.address === AMD_MSI_ADDRESS && (programmed.data & 0x7ff) < next ? programmed.data & 0x7ff : undefined;
  const index = held ?? next;
  if (index >= AMD_IRQ_TABLE_ENTRIES) return undefined;
  return { iommu, key, table: amdTableAddress(key), deviceId, index, inPlace: held !== undefined };
}

/**
 * The DTE store giving `deviceId` the table (IV = 1, IntCtl = remapped, IntTabLen 9), the other
 * fields as they are, with its INVALIDATE_DEVTAB_ENTRY (unless `flush` is false: bug); nothing
 * when the DTE already says so.
 */
export function amdDteSetup(state: PlatformState, slot: AmdIrteSlot, w: AmdCommandWriter, flush: boolean): Action[] {
  const unit = amdUnit(state, slot.iommu)!;
  const at = dteAddress(unit.regs.deviceTableBase, slot.deviceId);
  const old = decodeDte(state.memory.readLE(at, DTE_BYTES));
  const root = Number(slot.table >> 6n);
  if (old.IV && old.IntCtl === INT_CTL.REMAP && old.IntTabLen === AMD_INT_TAB_LEN && old.IntTabRootPtr === root) return [];
  const value = encodeDte({ ...old, IV: true, IntCtl: INT_CTL.REMAP, IntTabLen: AMD_INT_TAB_LEN, IntTabRootPtr: root });
  return [
    { kind: 'write-memory', address: at, bytes: DTE_BYTES, value, what: `AMD-Vi DTE of DeviceID ${formatBdf(slot.deviceId)} (ivhd${slot.iommu}): interrupt table 0x${slot.table.toString(16)}` },
    ...(flush ? w.flushDte(slot.deviceId) : []),
  ];
}

/** The store of `irte` into `slot` (16 or 4 bytes by the unit's GAEn). */
export function amdIrteWrite(state: PlatformState, slot: Pick<AmdIrteSlot, 'iommu' | 'table' | 'index'>, irte: AmdIrte, owner: string): Action {
  const ga = irte.format !== 'legacy';
  const bytes = irteBytes(ga);
  return { kind: 'write-memory', address: slot.table + BigInt(slot.index * bytes), bytes, value: encodeAmdIrte(irte), what: `AMD-Vi IRTE ${slot.index} of ${owner} (ivhd${slot.iommu}, ${ga ? '128-bit' : '32-bit'})` };
}

/**
 * The IRTE of a host delivery: remapped, fixed, physical, to APIC ID `apicId` with `hostVector`
 * (Linux `irte_ga_prepare` / `irte_prepare`; Xen `update_intremap_entry`). Undefined when the
 * destination does not fit the unit's format (8 bits legacy, 24 bits without XTEn, 32 with).
 */
export function amdHostIrte(unit: AmdViUnit, apicId: number, hostVector: number): AmdIrte | undefined {
  const common = { remapEn: true, supIopf: false, reserved: 0n };
  if (!gaOn(unit)) return apicId > 0xff ? undefined : { ...common, format: 'legacy', intType: 0, rqEoi: false, destinationModeLogical: false, guestMode: false, destination: apicId, vector: hostVector };
  const max = regBit(unit.regs.control, CONTROL_BITS.XTEn) ? 0xffff_ffff : 0xff_ffff;
  return apicId > max ? undefined : { ...common, format: 'ga-remapped', intType: 0, rqEoi: false, destinationModeLogical: false, destination: apicId, vector: hostVector };
}

/** KVM's GATag of a vCPU: `AVIC_GATAG(vm_id, vcpu_idx)`, the VM id above 8 vCPU-index bits (arch/x86/kvm/svm/avic.c, AVIC_VCPU_ID_BITS 8). */
export function gaTagOf(v: Vcpu): number {
  return ((v.domain << 8) | (v.index & 0xff)) >>> 0;
}

/** How a policy activates guest mode (its bugs included). */
export interface AvicRules {
  /** Clear RemapEn when activating guest mode (bug: Linux e52d58d54a32, fixed by e97685abd5d7 "iommu/amd: Restore IRTE.RemapEn bit for amd_iommu_activate_guest_mode"). */
  readonly dropRemapEn?: boolean;
}

/**
 * Everything a policy may do differently on AMD (its bugs included): table layout, RemapEn on
 * activation, whether IRTE / DTE changes are invalidated (`flush`, default true), and whether
 * it posts through AVIC at all (`avic`, default true; Xen does not, src/policy/xen.ts).
 */
export interface AmdPolicyRules extends AvicRules, AmdTableRules {
  /** Invalidate after DTE and IRTE changes (false: bug, stale cached entries). */
  readonly flush?: boolean;
  /** Post guest interrupts through GA-mode IRTEs when the unit can. */
  readonly avic?: boolean;
}

/** APIC ID of pCPU `pcpu` (0 when there is none). */
function apicIdOf(state: PlatformState, pcpu: number): number {
  return state.cpus[pcpu]?.apicId ?? 0;
}

/**
 * The GA-mode IRTE posting `vector` into `v`: its backing page (`v.pda`), GATag, and IsRun /
 * Destination / GALogIntr from its state (`__amd_iommu_update_ga`: running → IsRun = 1,
 * Destination = its pCPU; blocked → IsRun = 0, GALogIntr = 1; preempted → IsRun = 0).
 */
export function amdGuestIrte(state: PlatformState, v: Vcpu, vector: number, rules: AvicRules = {}): GaVapicIrte {
  return {
    format: 'ga-vapic',
    remapEn: !rules.dropRemapEn,
    supIopf: false,
    reserved: 0n,
    gaLogIntr: v.run === 'blocked',
    gaPpiDis: false,
    isRun: v.run === 'running',
    destination: apicIdOf(state, v.pcpu),
    gaTag: gaTagOf(v),
    vector,
    backingPage: v.pda,
  };
}

/**
 * Answer an admitted guest MSI-X write with a GA-mode IRTE into `v` (KVM `avic_pi_update_irte`
 * → `amd_ir_set_vcpu_affinity` → `amd_iommu_activate_guest_mode`): the table and DTE set up
 * first when needed, the IRTE, INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT (unless `flush` is
 * false: bug), the grants for the functions that share the DeviceID and the requester's
 * ownership, and the physical entry's AMD pair. Empty when the table is full.
 */
export function amdPostedSetup(state: PlatformState, req: ActionOf<'guest-msi'>, fn: PciFunction, iommu: number, requester: number | undefined, v: Vcpu, rules: AmdPolicyRules = {}): Action[] {
  const slot = amdIrteSlot(state, fn, req.entry, iommu, rules);
  if (slot === undefined) return [];
  const w = new AmdCommandWriter(amdUnit(state, iommu)!, iommu);
  const flush = rules.flush !== false;
  const grants = amdAcceptedRequesters(state, fn, requester).map(
    (key): Action => ({ kind: 'grant', grant: { requester: key, target: { kind: 'vcpu', vcpu: v.id }, vector: req.vector, deliveryModes: [0, 1] } }),
  );
  return [
    ...(slot.inPlace ? [] : [{ kind: 'irte-allocated', iommu: slot.key, index: slot.index } as const]),
    ...amdDteSetup(state, slot, w, flush),
    amdIrteWrite(state, slot, amdGuestIrte(state, v, req.vector, rules), fn.key),
    ...(flush ? w.flushIrt(slot.deviceId) : []),
    ...grants,
    ...(slot.inPlace ? [] : [{ kind: 'program-msix', device: req.device, entry: req.entry, address: AMD_MSI_ADDRESS, data: slot.index, masked: false } as const]),
  ];
}

/** The functions whose requests use `fn`'s DTE (same DeviceID) and that `requester` owns, `fn` first. */
export function amdAcceptedRequesters(state: PlatformState, fn: PciFunction, requester: number | undefined): string[] {
  const members = groupOf(state.fabric, fn.key)?.devices ?? [fn.key];
  const others = members
    .map((k) => state.devices[k])
    .filter((d): d is PciFunction => d !== undefined && d.key !== fn.key && requester !== undefined && state.intent.owners[d.key] === requester && d.busRid === fn.busRid)
    .map((d) => d.key);
  return [fn.key, ...others];
}

/**
 * The host's own delivery on AMD: an IRTE remapped to `hostVector` on the pCPU with APIC ID
 * `apicId` in `fn`'s table, its invalidation, and the AMD pair. Undefined when the table is
 * full or the APIC ID does not fit the format.
 */
export function amdHostDelivery(state: PlatformState, fn: PciFunction, entry: number, iommu: number, apicId: number, hostVector: number, reuse: number | undefined, rules: AmdPolicyRules = {}): { actions: Action[]; index: number; key: number } | undefined {
  const unit = amdUnit(state, iommu)!;
  const found = amdIrteSlot(state, fn, entry, iommu, rules);
  if (found === undefined) return undefined;
  const slot: AmdIrteSlot = reuse === undefined ? found : { ...found, index: reuse, inPlace: true };
  const irte = amdHostIrte(unit, apicId, hostVector);
  if (irte === undefined) return undefined;
  const w = new AmdCommandWriter(unit, iommu);
  const flush = rules.flush !== false;
  return {
    actions: [
      ...(slot.inPlace ? [] : [{ kind: 'irte-allocated', iommu: slot.key, index: slot.index } as const]),
      ...amdDteSetup(state, slot, w, flush),
      amdIrteWrite(state, slot, irte, fn.key),
      ...(flush ? w.flushIrt(slot.deviceId) : []),
      ...(slot.inPlace && reuse === undefined ? [] : [{ kind: 'program-msix', device: fn.key, entry, address: AMD_MSI_ADDRESS, data: slot.index, masked: false } as const]),
    ],
    index: slot.index,
    key: slot.key,
  };
}

/** A GA-mode IRTE the policy set up, where it is and what it holds. */
interface PostedIrte {
  readonly iommu: number;
  readonly table: bigint;
  readonly index: number;
  readonly device: string;
  readonly irte: GaVapicIrte;
}

/** IRTEs an AMD-Vi interrupt table holds at most (2^IntTabLen with IntTabLen ≤ 11 in 2K mode; Linux MAX_IRQS_PER_TABLE_2K; amdvi-facts.md). */
const AMD_MAX_IRTES = 2048;

/**
 * The GA-mode IRTEs that post into `v` (KVM keeps them on the vCPU's `ir_list`): the policy's
 * recorded routes (`intent.interruptRoutes`, keyed `<table key>:<index>`) whose IRTE in memory
 * is in guest mode with `v`'s backing page.
 */
export function postedIrtesOf(state: PlatformState, v: Vcpu): PostedIrte[] {
  const out: PostedIrte[] = [];
  for (const [k, route] of Object.entries(state.intent.interruptRoutes ?? {})) {
    const [keyText, indexText] = k.split(':');
    const key = Number(keyText);
    const index = Number(indexText);
    // A route recorded by hand (`intend-route`) may name no table: a key or an index no table has
    // (a table holds at most 2^11 IRTEs: DTE IntTabLen, bits 132:129, is at most 11 — the 2K mode; amdvi-facts.md §DTE) posts into nothing.
    if (!(Number.isSafeInteger(key) && key >= 0 && Number.isInteger(index) && index >= 0 && index < AMD_MAX_IRTES)) continue;
    const fn = state.devices[route.device];
    if (fn?.iommu === undefined) continue;
    const unit = amdUnit(state, fn.iommu);
    if (unit === undefined || !gaOn(unit)) continue;
    const table = amdTableAddress(key);
    if (table + BigInt((index + 1) * 16) > 1n << 64n) continue;
    const irte = decodeAmdIrte(state.memory.readLE(table + BigInt(index * 16), 16), true);
    if (irte.format === 'ga-vapic' && irte.backingPage === v.pda) out.push({ iommu: fn.iommu, table, index, device: route.device, irte });
  }
  return out;
}

/**
 * `amd_iommu_update_ga` for every IRTE posting into `v`: IsRun, Destination (when running) and
 * GALogIntr as `v` will be — `run` on `pcpu` — stored without invalidation (those fields are
 * not cached). Entries already saying so are left alone.
 */
export function amdUpdateGa(state: PlatformState, v: Vcpu, run: Vcpu['run'], pcpu: number): Action[] {
  return postedIrtesOf(state, v).flatMap((p): Action[] => {
    const isRun = run === 'running';
    const next: GaVapicIrte = { ...p.irte, isRun, gaLogIntr: run === 'blocked', destination: isRun ? apicIdOf(state, pcpu) : p.irte.destination };
    if (next.isRun === p.irte.isRun && next.gaLogIntr === p.irte.gaLogIntr && next.destination === p.irte.destination) return [];
    return [amdIrteWrite(state, p, next, p.device)];
  });
}

/** The vCPU's backing-page IRR (256 bits, bit n = vector n): what AVIC holds for it, not yet taken. */
export function avicIrr(state: PlatformState, v: Vcpu): bigint {
  let irr = 0n;
  for (let n = 0; n < 8; n++) irr |= state.memory.readLE(v.pda + BigInt(AVIC_IRR_OFFSET + 0x10 * n), 4) << BigInt(32 * n);
  return irr;
}

/**
 * The GA-log interrupt's handler (Linux `amd_iommu_int_thread_galog` → `iommu_poll_ga_log` →
 * KVM `avic_ga_log_notifier` → `kvm_vcpu_wake_up`): every blocked vCPU with a pending IRR bit in
 * its backing page is made runnable (the model reads the bits, not the log's GATags: the GATag
 * names the vCPU whose page the IOMMU wrote), and the GA-log head is moved to the tail (entries
 * consumed).
 */
export function gaLogWakeup(state: PlatformState): Action[] {
  const woken = vcpuList(state.vcpus)
    .filter((v) => v.run === 'blocked' && avicIrr(state, v) !== 0n)
    .map((v): Action => ({ kind: 'vcpu-set', vcpu: v.id, run: 'runnable', pcpu: v.pcpu }));
  const heads = (state.amdvi?.units ?? [])
    .map((u, iommu) => ({ u, iommu }))
    .filter(({ u }) => u.regs.gaLogHead !== u.regs.gaLogTail)
    .map(({ u, iommu }): Action => ({ kind: 'amdvi-write-register', iommu, register: 'GA_LOG_HEAD', value: u.regs.gaLogTail }));
  return [...woken, ...heads];
}
