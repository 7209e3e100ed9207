/** The policy modules by name (the scenario's `platform.policy`). */
import type { HypervisorPolicy } from './policy.ts';
import { kvm, kvmBrokenAmdGaRemapEn, kvmBrokenAmdNoIrtFlush, kvmBrokenNdstAfterMove, kvmBrokenNoOwnerCheck, kvmBrokenNoWakeupList, kvmBrokenPdaAnyVm, kvmBrokenSnWithoutOn, kvmBrokenSplitGroup, kvmBrokenPostMulticast } from './kvm.ts';
import { xen, xenBrokenAmdSharedIrt } from './xen.ts';

export const POLICIES: Readonly<Record<string, HypervisorPolicy>> = Object.fromEntries(
  [kvm, xen, kvmBrokenSnWithoutOn, kvmBrokenNdstAfterMove, kvmBrokenPdaAnyVm, kvmBrokenNoWakeupList, kvmBrokenNoOwnerCheck, kvmBrokenSplitGroup, kvmBrokenPostMulticast, kvmBrokenAmdNoIrtFlush, kvmBrokenAmdGaRemapEn, xenBrokenAmdSharedIrt].map((p) => [p.name, p]),
);

export const DEFAULT_POLICY = 'kvm';

/**
 * User-written policies (`platform.policy: ./my-policy.js`), keyed by the path as the scenario
 * writes it. Filled by src/policy/load.ts `loadUserPolicy` before a scenario naming one is
 * compiled: loading is async (import()) while compile and run are sync.
 */
const USER_POLICIES = new Map<string, HypervisorPolicy>();

/** Register `policy` under `key` (the scenario's `platform.policy` path); replaces an earlier one under the same key. */
export function registerPolicy(key: string, policy: HypervisorPolicy): void {
  USER_POLICIES.set(key, policy);
}

/** Whether `name` names a built-in policy or a registered user module. */
export function hasPolicy(name: string): boolean {
  return POLICIES[name] !== undefined || USER_POLICIES.has(name);
}

/** Whether `name` is a module path (`./x.js`, `../x.js`, `/abs/x.js`) rather than a built-in policy name. */
export function isModulePath(name: string): boolean {
  return name.startsWith('./') || name.startsWith('../') || name.startsWith('/');
}

/**
 * The policy named `name`: a built-in one, or a user module registered under that path.
 * @throws Error for an unknown name, or a module path that was not loaded (registerPolicy).
 */
export function policyNamed(name: string): HypervisorPolicy {
  const p = POLICIES[name] ?? USER_POLICIES.get(name);
  if (p === undefined) throw new Error(isModulePath(name) ? `hypervisor policy module '${name}' is not loaded (src/policy/load.ts loadUserPolicy)` : `unknown hypervisor policy '${name}'`);
  return p;
}
