/**
 * Loading a user-written VMM design (`platform.vmm: ./my-design.js`, docs/vmm.md): a module
 * whose default export (or export `design`) implements VmmDesign (src/vmm/design.ts),
 * registered under the path as the scenario writes it.
 */
import type { VmmDesign } from './design.ts';
import { registerVmmDesign } from './index.ts';
import { importUserModule, type MemberRule } from '../scenario/user-module.ts';

/** The members VmmDesign requires, and the optional ones checked when present (src/vmm/design.ts). */
export const VMM_DESIGN_MEMBERS: readonly MemberRule[] = [
  { name: 'name', type: 'string' },
  { name: 'summary', type: 'string' },
  { name: 'source', type: 'string' },
  { name: 'broken', type: 'boolean' },
  { name: 'guestAddressing', type: 'string' },
  { name: 'onGuestAccess', type: 'function' },
  { name: 'onDeviceInterrupt', type: 'function' },
  { name: 'onDeviceModel', type: 'function' },
  { name: 'virtualPending', type: 'function' },
  { name: 'onHypercall', type: 'function', optional: true },
  { name: 'hypercalls', type: 'string[]', optional: true },
  { name: 'onStart', type: 'function', optional: true },
  { name: 'tableRead', type: 'function', optional: true },
  { name: 'imsSend', type: 'function', optional: true },
];

/**
 * Import the design module `spec` (relative to `scenarioFile`'s directory) and register it
 * under `spec`, so vmmDesignNamed(spec) finds it when the scenario is compiled and run.
 * @throws InputError (field platform.vmm) for a missing module or one that does not implement the interface.
 */
export async function loadUserVmmDesign(spec: string, scenarioFile: string): Promise<VmmDesign> {
  const design = (await importUserModule(spec, scenarioFile, 'platform.vmm', 'VMM design', 'design', VMM_DESIGN_MEMBERS)) as VmmDesign;
  registerVmmDesign(spec, design);
  return design;
}
