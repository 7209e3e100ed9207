// A deliberately WRONG user-written policy (docs/policies.md): refuse-logical built on
// kvm-broken-no-owner-check, which sets up a guest's interrupt request for a device the guest
// does not own (XSA-237). `remapsim check examples/refuse-logical-broken.yaml` finds the
// counterexample: refusing logical destinations does not make up for a missing owner check.
import { POLICIES } from 'remapsim';
import { refuseLogical } from './refuse-logical-policy.js';

/** @typedef {import('remapsim').HypervisorPolicy} HypervisorPolicy */

export default refuseLogical(/** @type {HypervisorPolicy} */ (POLICIES['kvm-broken-no-owner-check']), 'refuse-logical-no-owner-check');
