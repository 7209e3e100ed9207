/** The policy modules by name (the scenario's `platform.policy`). */
import type { HypervisorPolicy } from './policy.ts';
import { kvm, kvmBrokenAmdGaRemapEn, kvmBrokenAmdNoIrtFlush, kvmBrokenNdstAfterMove, kvmBrokenNoOwnerCheck, kvmBrokenNoWakeupList, kvmBrokenPdaAnyVm, kvmBrokenSnWithoutOn, kvmBrokenSplitGroup, kvmBrokenPostMulticast } from './kvm.ts';
import { xen, xenBrokenAmdSharedIrt } from './xen.ts';

export const POLICIES: Readonly<Record<string, HypervisorPolicy>> = Object.fromEntries(
  [kvm, xen, kvmBrokenSnWithoutOn, kvmBrokenNdstAfterMove, kvmBrokenPdaAnyVm, kvmBrokenNoWakeupList, kvmBrokenNoOwnerCheck, kvmBrokenSplitGroup, kvmBrokenPostMulticast, kvmBrokenAmdNoIrtFlush, kvmBrokenAmdGaRemapEn, xenBrokenAmdSharedIrt].map((p) => [p.name, p]),
);

export const DEFAULT_POLICY = 'kvm';

/** The policy named `name`. @throws Error for an unknown name (the scenario schema admits only known ones). */
export function policyNamed(name: string): HypervisorPolicy {
  const p = POLICIES[name];
  if (p === undefined) throw new Error(`unknown hypervisor policy '${name}'`);
  return p;
}
