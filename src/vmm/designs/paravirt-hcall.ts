/**
 * `paravirt-hcall`: the guest sets up each interrupt of its assigned function by hypercall
 * and the VMM never emulates the MSI-X table — the POWER (pSeries / PAPR) model of seed thread
 * 003 (kvm@vger, July 2011, the VFIO design review "POWER vs x86": Benjamin Herrenschmidt:
 * "Due to our paravirt nature, we don't need to masquerade the MSI-X table for example. At
 * all. If the guest configures crap into it, too bad, it can only shoot itself in the foot
 * since the host bridge enforce validation anyways as I explained earlier. Because it's all
 * paravirt, we don't need to "translate" the interrupt vectors & addresses, the guest will
 * call hyercalls to configure things anyways."; Avi Kivity: "So, you have interrupt
 * redirection? That is, MSI-x table values encode the vcpu, not pcpu?"). On PAPR the call is
 * RTAS `ibm,change-msi` (QEMU hw/ppc/spapr_pci.c `rtas_ibm_change_msi`, which programs the
 * function's MSI/MSI-X itself with `spapr_msi_setmsg` / `msix_set_message`; Linux
 * arch/powerpc/platforms/pseries/msi.c `rtas_change_msi`), the interrupt then routed to a
 * server (vCPU) by `ibm,set-xive` / H_INT_SET_SOURCE_CONFIG. Issue 12 item 3.
 *
 * - **The hypercall** `set-interrupt {device, entry, vcpu, vector}` (the `hypercall` request,
 *   a `hypercall` cost): the hypervisor checks that the caller owns the function (the VMM
 *   layer refuses another domain's, src/vmm/respond.ts), that `vcpu` is the caller's and the
 *   vector is not an exception vector, then programs the PHYSICAL entry itself — the host IRQ
 *   domain's setup (src/vmm/host-irq.ts: with IR on an IRTE remapped to a host vector with
 *   source validation, with IR off a compatibility message to the pCPU), the pair assigned to
 *   the function's partitionable endpoint for host-bridge validation (`msi-assign`, a no-op
 *   when `platform.msiValidation` is off), the grant for the named vCPU and guest vector —
 *   and asks the policy to post it (`guest-msi` with `bypass`: IR on and CAP.PI). What the
 *   guest asked is kept as the guest's view of the entry (the message naming the vCPU,
 *   unmasked, MSI-X enabled: `ibm,change-msi` enables MSI-X on the function itself), which
 *   is what P7 judges; the entry names a vCPU, not a pCPU ("interrupt redirection").
 * - **The MSI-X table is not emulated.** A guest write to the table or to Message Control is
 *   ignored (the view is put back; on POWER the table is the hypervisor's, programmed only by
 *   `ibm,change-msi`), a table read returns 0 (the `guest-access` line shows the VMM layer's
 *   decode; the design's note says 0). Device registers on the page pass through; the PBA is
 *   the hardware's (the physical entry is never masked by the host).
 * - **Interrupts** reach the host vector and are injected into the vCPU the call named (a VM
 *   exit and a software injection), unless the policy posted them.
 * - **No device model** takes part: its operations are refused.
 */
import type { Action, ActionOf, GuestAccess, HypercallOp } from '../../platform/actions.ts';
import type { PlatformState } from '../../platform/state.ts';
import type { VmmDesign } from '../design.ts';
import { vcpuAt, vcpuList } from '../../platform/vcpu-table.ts';
import { composeCompatibilityMsi } from '../../x86/msi.ts';
import { hostIrqSetup } from '../host-irq.ts';
import { guestMasked, type VirtualMsix } from '../virtual-msix.ts';
import { FIRST_DEVICE_VECTOR } from '../../policy/common.ts';
import { cost, hex, note } from './kvm-irq.ts';

/** The guest's view after the call: entry `entry` = the compatibility message naming APIC ID `apicId` with `vector`, unmasked; MSI-X enabled, no Function Mask. */
function viewAfterCall(v: VirtualMsix, entry: number, apicId: number, vector: number): VirtualMsix {
  const msg = composeCompatibilityMsi({ destination: apicId, vector });
  const table = v.table.slice();
  table[entry] = { addressLow: Number(msg.address & 0xffff_ffffn) >>> 0, addressHigh: Number(msg.address >> 32n) >>> 0, data: msg.data >>> 0, control: 0 };
  return { ...v, enabled: true, functionMask: false, table };
}

/**
 * The answer to `set-interrupt` (see the module comment). A refused call costs the hypercall
 * and says why in a note: no such vCPU of the caller, an exception vector, no such entry, an
 * APIC ID a compatibility message cannot carry, no free host vector.
 */
function setInterrupt(state: PlatformState, request: ActionOf<'hypercall'>, op: Extract<HypercallOp, { op: 'set-interrupt' }>): Action[] {
  const { device, domain } = request;
  const { entry, vcpu: vcpuId, vector } = op;
  const head = cost('hypercall', `set-interrupt ${device} entry ${entry} → vCPU ${vcpuId}, vector ${hex(vector)} (RTAS ibm,change-msi + ibm,set-xive)`);
  const d = state.vmm!.devices[device]!;
  const vcpu = vcpuAt(state.vcpus, vcpuId);
  const refuse = (why: string): Action[] => [head, note(`set-interrupt refused: ${why}`)];
  if (vcpu === undefined || vcpu.domain !== domain) return refuse(`vCPU ${vcpuId} is not one of domain ${domain}'s`);
  if (!(Number.isInteger(vector) && vector >= FIRST_DEVICE_VECTOR && vector <= 0xff)) return refuse(`vector ${hex(vector)} is an exception vector`);
  if (!(Number.isInteger(entry) && entry >= 0 && entry < d.guest.layout.entries)) return refuse(`${device} has no MSI-X entry ${entry}`);
  if (vcpu.apicId > 0xff) return refuse(`vCPU ${vcpuId}'s APIC ID ${vcpu.apicId} does not fit a compatibility message`);
  const previous = d.vectors[entry] ?? {};
  const setup = hostIrqSetup(state, device, entry, vcpu.pcpu, previous);
  if (setup === undefined) return refuse('the host could not set up the physical entry (no free host vector, or no APIC ID for the pCPU)');
  const program = setup.actions.find((a): a is ActionOf<'program-msix'> => a.kind === 'program-msix');
  const physical = state.devices[device]?.msix?.table[entry];
  const pair = program?.address !== undefined && program.data !== undefined ? { address: program.address, data: program.data } : physical === undefined ? undefined : { address: physical.address, data: physical.data };
  const guest = viewAfterCall(d.guest, entry, vcpu.apicId, vector);
  const msg = composeCompatibilityMsi({ destination: vcpu.apicId, vector });
  const bound = { address: msg.address, data: msg.data };
  const fn = state.devices[device]?.msix;
  return [
    head,
    // ibm,change-msi enables MSI-X on the function itself (spapr_msi_setmsg / msix_set_message, then the enable).
    ...(fn !== undefined && (!fn.enabled || fn.functionMask) ? [{ kind: 'msix-control', device, enabled: true, functionMask: false } as const] : []),
    // Assigned before the physical entry is unmasked: a pending bit it releases is sent at once.
    ...(pair === undefined ? [] : [{ kind: 'msi-assign', device, entry, address: pair.address, data: pair.data } as const]),
    ...setup.actions,
    { kind: 'grant', grant: { requester: device, target: { kind: 'vcpu', vcpu: vcpu.id }, vector, deliveryModes: [0, 1] } },
    { kind: 'vmm-binding', device, entry, binding: { ...setup.binding, bound } },
    { kind: 'vmm-guest-view', device, guest },
    note(
      `set-interrupt: the hypervisor programs ${device}'s physical entry ${entry} itself (${pair === undefined ? 'no pair' : `${hex(pair.address)}/${hex(pair.data)}`}, host vector ${hex(setup.binding.hostVector!)} on cpu${vcpu.pcpu}) for vector ${hex(vector)} at vCPU ${vcpu.id} (domain ${domain} vCPU ${vcpu.index})${state.interrupts.msiValidation === undefined ? '' : ', the pair assigned to its partitionable endpoint at the host bridge'}; the guest never writes the table`,
    ),
    // IRQ bypass: posted when the function's unit posts (IR on and CAP.PI), else nothing.
    {
      kind: 'guest-msi',
      device,
      entry,
      destination: vcpu.apicId,
      destinationMode: 'physical',
      vector,
      deliveryMode: 0,
      domain,
      bypass: true,
      ...(setup.binding.irte === undefined ? {} : { irte: setup.binding.irte.index }),
    },
  ];
}

/** Writes to the table or Message Control are ignored (the view is put back); table reads return 0; device registers pass through. */
function onGuestAccess(_state: PlatformState, request: ActionOf<'vmm-react'>): Action[] {
  const x: GuestAccess = request.access;
  const out: Action[] = [];
  const touched = x.parts.some((p) => p.region === 'table' || p.region === 'config');
  if (x.write && touched) {
    out.push(
      { kind: 'vmm-guest-view', device: x.device, guest: x.before },
      note(`${x.space === 'config' ? 'Message Control' : 'MSI-X table'} write ignored: the table is the hypervisor's (PAPR: programmed only by RTAS ibm,change-msi); interrupts are set up by hypercall`),
    );
  }
  if (!x.write && x.parts.some((p) => p.region === 'table')) out.push(note(`MSI-X table read of ${x.size} bytes at BAR${x.bar} ${hex(x.offset)} returns 0: the table is not emulated`));
  for (const p of x.parts) {
    if (x.write && (p.region === 'page' || p.region === 'direct')) out.push({ kind: 'device-register-write', device: x.device, bar: x.bar, offset: p.offset, size: p.size, value: p.value, by: 'the guest (mapped BAR)' });
  }
  return out;
}

/** The host vector of an entry the hypercall set up: a VM exit and the injection into the vCPU it named (unless the guest's view masks it: never, the view is the call's). */
function onDeviceInterrupt(state: PlatformState, request: ActionOf<'vmm-interrupt'>): Action[] {
  const d = state.vmm!.devices[request.device]!;
  const bound = d.vectors[request.entry]?.bound;
  if (bound === undefined || guestMasked(d.guest, request.entry)) return [note(`host vector ${hex(request.hostVector)} for ${request.device} entry ${request.entry}: no interrupt set up by hypercall, dropped`)];
  const apicId = Number((bound.address >> 12n) & 0xffn);
  const vector = bound.data & 0xff;
  const vcpu = vcpuList(state.vcpus).find((v) => v.domain === d.domain && v.apicId === apicId);
  if (vcpu === undefined) return [note(`no vCPU with APIC ID ${apicId} in domain ${d.domain}: dropped`)];
  return [
    cost('vm-exit', `external interrupt ${hex(request.hostVector)} on cpu${request.pcpu} for ${request.device} entry ${request.entry}`),
    { kind: 'inject-interrupt', vcpu: vcpu.id, vector, device: request.device },
    ...(vcpu.run === 'blocked' ? [{ kind: 'vcpu-set', vcpu: vcpu.id, run: 'runnable', pcpu: vcpu.pcpu } as const] : []),
  ];
}

export const paravirtHcall: VmmDesign = {
  name: 'paravirt-hcall',
  summary:
    'POWER-style paravirtual interrupts: the guest sets each MSI-X entry up by hypercall (set-interrupt: entry → its vCPU + vector), the hypervisor programs the physical entry itself and never emulates the table (guest writes ignored, reads 0); pairs are assigned to the partitionable endpoint for host-bridge MSI validation',
  source:
    'seed thread 003 (Herrenschmidt, kvm@vger 2011-07-30: "we don\'t need to masquerade the MSI-X table … the host bridge enforce validation anyways … the guest will call hyercalls"; Kivity: "MSI-x table values encode the vcpu, not pcpu?"); QEMU hw/ppc/spapr_pci.c rtas_ibm_change_msi, spapr_msi_setmsg; Linux arch/powerpc/platforms/pseries/msi.c rtas_change_msi; host IRQ setup as src/vmm/host-irq.ts',
  broken: false,
  guestAddressing: 'the set-interrupt hypercall names the vCPU; the model keeps the guest\'s view as a compatibility message, so it refuses vCPUs with APIC IDs above 255 (PAPR names interrupt servers, not APIC IDs)',
  // Its guest programs interrupts by hypercall: compare's scenarios (a trapped table) do not apply.
  comparedByDefault: false,
  onGuestAccess,
  onDeviceInterrupt,
  onDeviceModel: (_state, request) => [note(`device-model ${request.op.op} for ${request.device} refused: paravirt-hcall has no device model for MSI-X (the hypervisor programs the table)`)],
  virtualPending: (state, device) => (state.devices[device]?.msix?.pending ?? []).reduce((bits, k) => bits | (1n << BigInt(k)), 0n),
  hypercalls: ['set-interrupt'],
  // The table is not emulated: a guest read returns 0 (see onGuestAccess).
  tableRead: () => ({ address: 0n, data: 0 }),
  onHypercall: (state, request) => (request.op.op === 'set-interrupt' ? setInterrupt(state, request, request.op) : [note(`hypercall ${request.op.op} for ${request.device} refused: paravirt-hcall offers set-interrupt only`)]),
};

export const PARAVIRT_HCALL_DESIGNS: readonly VmmDesign[] = [paravirtHcall];
