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

/** The design named `name`. @throws Error for an unknown name (the scenario schema admits only known ones). */
export function vmmDesignNamed(name: string): VmmDesign {
  const d = VMM_DESIGNS[name];
  if (d === undefined) throw new Error(`unknown VMM design '${name}'`);
  return d;
}
