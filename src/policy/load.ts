/**
 * Loading a user-written hypervisor policy (`platform.policy: ./my-policy.js`, docs/policies.md):
 * a module whose default export (or export `policy`) implements HypervisorPolicy
 * (src/policy/policy.ts), registered under the path as the scenario writes it.
 */
import type { HypervisorPolicy } from './policy.ts';
import { registerPolicy } from './index.ts';
import { importUserModule, type MemberRule } from '../scenario/user-module.ts';

/** The members HypervisorPolicy requires (src/policy/policy.ts). */
export const POLICY_MEMBERS: readonly MemberRule[] = [
  { name: 'name', type: 'string' },
  { name: 'summary', type: 'string' },
  { name: 'source', type: 'string' },
  { name: 'broken', type: 'boolean' },
  { name: 'postedVector', type: 'vector' },
  { name: 'wakeupVector', type: 'vector' },
  { name: 'initialPid', type: 'function' },
  { name: 'respond', type: 'function' },
];

/**
 * Import the policy module `spec` (relative to `scenarioFile`'s directory) and register it
 * under `spec`, so policyNamed(spec) finds it when the scenario is compiled and run.
 * @throws InputError (field platform.policy) for a missing module or one that does not implement the interface.
 */
export async function loadUserPolicy(spec: string, scenarioFile: string): Promise<HypervisorPolicy> {
  const policy = (await importUserModule(spec, scenarioFile, 'platform.policy', 'policy', 'policy', POLICY_MEMBERS)) as HypervisorPolicy;
  registerPolicy(spec, policy);
  return policy;
}
