/** The VMM designs by name (the scenario's `platform.vmm`). */
import type { VmmDesign } from './design.ts';
import { QEMU_KVM_DESIGNS } from './designs/qemu-kvm.ts';
import { XEN_DESIGNS } from './designs/xen.ts';
import { VFIO_MSI_VIRT_OFF_DESIGNS } from './designs/vfio-msi-virt-off.ts';
import { IMS_HYPERCALL_DESIGNS } from './designs/ims-hypercall.ts';
import { IMS_EMULATED_DESIGNS } from './designs/ims-emulated.ts';
import { PARAVIRT_HCALL_DESIGNS } from './designs/paravirt-hcall.ts';
import { DIRECT_POST_DESIGNS } from './designs/direct-post.ts';

export const VMM_DESIGNS: Readonly<Record<string, VmmDesign>> = Object.fromEntries([...QEMU_KVM_DESIGNS, ...XEN_DESIGNS, ...VFIO_MSI_VIRT_OFF_DESIGNS, ...IMS_HYPERCALL_DESIGNS, ...IMS_EMULATED_DESIGNS, ...PARAVIRT_HCALL_DESIGNS, ...DIRECT_POST_DESIGNS].map((d) => [d.name, d]));

/**
 * User-written designs (`platform.vmm: ./my-design.js`), keyed by the path as the scenario
 * writes it. Filled by src/vmm/load.ts `loadUserVmmDesign` before a scenario naming one is
 * compiled: loading is async (import()) while compile and run are sync.
 */
const USER_DESIGNS = new Map<string, VmmDesign>();

/** Register `design` under `key` (the scenario's `platform.vmm` path); replaces an earlier one under the same key. */
export function registerVmmDesign(key: string, design: VmmDesign): void {
  USER_DESIGNS.set(key, design);
}

/** Whether `name` names a built-in design or a registered user module. */
export function hasVmmDesign(name: string): boolean {
  return VMM_DESIGNS[name] !== undefined || USER_DESIGNS.has(name);
}

/**
 * The design named `name`: a built-in one, or a user module registered under that path.
 * @throws Error for an unknown name, or a module path that was not loaded (registerVmmDesign).
 */
export function vmmDesignNamed(name: string): VmmDesign {
  const d = VMM_DESIGNS[name] ?? USER_DESIGNS.get(name);
  if (d === undefined) throw new Error(/^(\.{1,2})?\//.test(name) ? `VMM design module '${name}' is not loaded (src/vmm/load.ts loadUserVmmDesign)` : `unknown VMM design '${name}'`);
  return d;
}
