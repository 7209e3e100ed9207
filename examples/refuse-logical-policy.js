// A user-written hypervisor policy for remapsim (docs/policies.md, "Writing your own policy"):
// KVM's policy, except that a guest's MSI request with a LOGICAL destination is refused
// (no IRTE is written; the trace says why). A deployment might choose this to rule out
// multi-vCPU interrupts altogether (the multicast-posting bug class of
// specs/attacks/multicast-posting-insecure.yaml cannot arise). Plain JavaScript: the types
// come from the package through JSDoc, so `tsc --checkJs` (or an editor) checks it.
//
// Used by examples/refuse-logical.yaml:  platform: { policy: ./refuse-logical-policy.js }
import { POLICIES } from 'remapsim';

/** @typedef {import('remapsim').HypervisorPolicy} HypervisorPolicy */

/**
 * `base` with logical-destination guest MSI requests refused.
 * @param {HypervisorPolicy} base the policy that answers every other request
 * @param {string} name
 * @returns {HypervisorPolicy}
 */
export function refuseLogical(base, name = `refuse-logical(${base.name})`) {
  return {
    name,
    summary: `${base.name}, refusing guest MSI requests with a logical destination`,
    source: `examples/refuse-logical-policy.js over ${base.name} (${base.source})`,
    broken: base.broken,
    postedVector: base.postedVector,
    wakeupVector: base.wakeupVector,
    initialPid: (vcpu, state) => base.initialPid(vcpu, state),
    respond(state, request) {
      if (request.kind === 'guest-msi' && request.destinationMode === 'logical') {
        return [{ kind: 'vmm-note', note: `${name}: refused ${request.device} entry ${request.entry}: logical destination 0x${request.destination.toString(16)}` }];
      }
      return base.respond(state, request);
    },
  };
}

/** The policy this module provides: KVM's, refusing logical destinations. */
export default refuseLogical(/** @type {HypervisorPolicy} */ (POLICIES['kvm']), 'refuse-logical');
