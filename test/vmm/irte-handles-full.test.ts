// When the allocator's next IRTE index would be past the 16-bit handle space (VT-d §5.1.5.2), a
// policy or VMM that allocates refuses instead of throwing from the MSI composer (found by the
// transitions fuzzer, seed 24: an `irte-allocated` of index 2^32 then a get-msi-pair hypercall).
import { describe, expect, it } from 'vitest';
import { parseScenarioFile } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { applyAction, applyActions } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';

const base = runScenario(compileScenario(parseScenarioFile('specs/attacks/ims-unbound-insecure.yaml'))).final;
const hypercall: Action = { kind: 'hypercall', domain: 2, device: '06:00.0', op: { op: 'get-msi-pair', slot: 5, vcpu: 1, vector: 0x22 } } as Action;
const iommu = base.devices['06:00.0']?.iommu ?? 0;

describe('a full IRTE handle space', () => {
  it('irte-allocated past 16 bits is rejected as malformed', () => {
    const r = applyAction(base, { kind: 'irte-allocated', iommu, index: 0x1_0000_0000 });
    expect(r.events.map((e) => (e.kind === 'action-rejected' ? e.why : e.kind))).toEqual(['irte-allocated: index: 4294967296 is not an unsigned 16-bit value']);
  });

  it('after handle 0xffff the get-msi-pair hypercall is refused, not a throw', () => {
    const full = applyActions(base, [{ kind: 'irte-allocated', iommu, index: 0xffff }]).state;
    expect(full.hypervisor.nextIrte[iommu]).toBe(0x1_0000);
    const r = applyAction(full, hypercall);
    expect(r.events.some((e) => e.kind === 'vmm' && /no free IRTE/.test(JSON.stringify(e)))).toBe(true);
    expect(r.events.some((e) => e.kind === 'memory-write')).toBe(false);
  });

  it('with handles left the same hypercall binds one', () => {
    const r = applyAction(base, hypercall);
    expect(r.events.some((e) => e.kind === 'memory-write')).toBe(true);
  });
});
