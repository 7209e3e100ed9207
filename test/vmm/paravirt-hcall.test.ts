/**
 * The paravirt-hcall VMM design (src/vmm/designs/paravirt-hcall.ts; seed thread 003, POWER vs
 * x86 VFIO design review) and host-bridge MSI validation (`platform.msiValidation`,
 * src/platform/device-write.ts): the guest sets interrupts up by hypercall and they reach the
 * vCPU it named; its MSI-X table writes are ignored, reads return 0; the host bridge passes
 * the pairs the hypervisor assigned to the endpoint and blocks any other, with IR off, IR on,
 * or no IOMMU at all. Scenarios run end to end (inline ones, specs/vmm/paravirt-hcall-ir-off.yaml,
 * specs/attacks/pe-msi-validation-*.yaml).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseScenarioFile, parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { formatEvent } from '../../src/scenario/trace.ts';
import { VMM_DESIGNS } from '../../src/vmm/index.ts';

const repo = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const runText = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'paravirt-hcall.yaml')));
const lines = (r: RunResult, from = 0): string[] => r.steps.slice(from).flatMap((s) => s.events.map((e) => formatEvent(e, r.final)));
const kinds = (r: RunResult, step: number): string[] => r.steps[step]!.events.map((e) => e.kind);

/** vm1 (vCPUs 0, 1 on cpu1, cpu2) owns 05:00.0 (2 entries); `iommu`: 'ir-on' (x2APIC, EIME=1), 'ir-off', or 'none' (no remapping unit). */
function scenario(steps: string, o: { iommu?: 'ir-on' | 'ir-off' | 'none'; validation?: boolean; vmm?: string } = {}): string {
  const iommu = o.iommu ?? 'ir-off';
  return `
name: paravirt
platform:
  hostAddressWidth: 39
  apicMode: ${iommu === 'ir-on' ? 'x2apic' : 'xapic'}
  cpus: { count: 3 }
  policy: kvm
  vmm: ${o.vmm ?? 'paravirt-hcall'}
${o.validation === false ? '' : '  msiValidation: partitionable-endpoint\n'}${iommu === 'none' ? '' : '  iommus:\n    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0xf020fe }\n'}devices:
  - { bdf: "05:00.0", msix: { tableSize: 2 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["05:00.0"] }
steps:
${iommu === 'ir-on' ? '  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }\n' : ''}  - schedule: { vm: vm1, vcpu: 0, pcpu: 1 }
  - schedule: { vm: vm1, vcpu: 1, pcpu: 2 }
  - hypercall: { vm: vm1, op: set-interrupt, device: "05:00.0", entry: 0, vcpu: 1, vector: 0x41 }
${steps}`;
}
/** Index of the hypercall step. */
const CALL = (iommu: 'ir-on' | 'ir-off' | 'none' = 'ir-off'): number => (iommu === 'ir-on' ? 3 : 2);

describe('paravirt-hcall: set-interrupt', () => {
  it('is registered and not broken', () => {
    expect(VMM_DESIGNS['paravirt-hcall']?.broken).toBe(false);
  });

  it('IR off: the hypervisor programs the physical entry itself and the raise reaches the named vCPU', () => {
    const r = runText(scenario('  - signal: { device: "05:00.0", vector: 0 }\n    expect: { injected: 0x41, injectedInto: [vm1.vcpu1] }\n'));
    expect(r.ok, lines(r).join('\n')).toBe(true);
    const call = lines(r, CALL()).slice(0, 8);
    expect(call[0]).toMatch(/^cost: hypercall — set-interrupt 05:00.0 entry 0 → vCPU 1, vector 0x41/);
    expect(call).toContain('05:00.0 MSI-X entry 0 ← address fee02000 data 000000d0 unmasked');
    expect(call).toContain('intent: grant 05:00.0 vector 0x41 → vCPU 1');
    expect(call.some((l) => l.includes('the pair assigned to its partitionable endpoint at the host bridge'))).toBe(true);
    expect(lines(r, CALL() + 1)).toEqual([
      '05:00.0 raises MSI-X entry 0',
      '05:00.0 MSI fee02000/000000d0 → compatibility format, not remapped: vector 0xd0 fixed edge physical dest 0x2 → cpu2',
      'cost: vm-exit — external interrupt 0xd0 on cpu2 for 05:00.0 entry 0',
      "05:00.0's interrupt injected in software: vector 0x41 → vm1.vcpu1 vIRR",
    ]);
    expect(r.final.interrupts.msiValidation?.assigned['05:00.0']).toEqual({ 0: { address: 0xfee02000n, data: 0xd0 } });
  });

  it('IR on with CAP.PI: the policy posts the entry into the named vCPU (IRQ bypass)', () => {
    const r = runText(scenario('  - signal: { device: "05:00.0", vector: 0 }\n    expect: { posted: { virtualVector: 0x41 } }\n', { iommu: 'ir-on' }));
    expect(r.ok, lines(r).join('\n')).toBe(true);
    expect(kinds(r, CALL('ir-on') + 1)).toContain('interrupt-posted');
  });

  it('refuses a vCPU of another domain and an exception vector, with a note', () => {
    const r = runText(
      scenario('  - hypercall: { vm: vm1, op: set-interrupt, device: "05:00.0", entry: 1, vcpu: 0, vector: 0x2 }\n  - hypercall: { vm: vm1, op: set-interrupt, device: "05:00.0", entry: 7, vcpu: 0, vector: 0x42 }\n'),
    );
    expect(lines(r, CALL() + 1)).toEqual([
      'cost: hypercall — set-interrupt 05:00.0 entry 1 → vCPU 0, vector 0x2 (RTAS ibm,change-msi + ibm,set-xive)',
      'vmm (paravirt-hcall): set-interrupt refused: vector 0x2 is an exception vector',
      'cost: hypercall — set-interrupt 05:00.0 entry 7 → vCPU 0, vector 0x42 (RTAS ibm,change-msi + ibm,set-xive)',
      'vmm (paravirt-hcall): set-interrupt refused: 05:00.0 has no MSI-X entry 7',
    ]);
  });

  it('a design without hypercalls refuses set-interrupt with a note', () => {
    const r = runText(scenario('', { vmm: 'qemu-kvm' }));
    expect(lines(r, CALL())).toEqual(['vmm (qemu-kvm): hypercall set-interrupt for 05:00.0 refused: the qemu-kvm design has no hypercall interface']);
  });
});

describe('paravirt-hcall: the MSI-X table is not emulated', () => {
  it('a table write is ignored (the guest view is put back, the physical entry unchanged) and the interrupt still reaches vCPU 1', () => {
    const r = runText(
      scenario(
        '  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x0, size: 8, value: 0xfee00000 }\n  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0xc, size: 4, value: 1 }\n  - guest-config: { device: "05:00.0", offset: 0x72, size: 2, value: 0x4000 }\n  - signal: { device: "05:00.0", vector: 0 }\n    expect: { injected: 0x41, injectedInto: [vm1.vcpu1] }\n',
      ),
    );
    expect(r.ok, lines(r).join('\n')).toBe(true);
    const w = lines(r, CALL() + 1);
    expect(w.filter((l) => l.includes('write ignored'))).toHaveLength(3);
    expect(w.some((l) => l.includes('MSI-X entry 0 ←'))).toBe(false);
    expect(r.final.devices['05:00.0']!.msix!.table[0]).toMatchObject({ address: 0xfee02000n, data: 0xd0, masked: false });
  });

  it('a table read returns 0 (the design says so)', () => {
    const r = runText(scenario('  - guest-mmio: { device: "05:00.0", bar: 0, offset: 0x0, size: 8, read: true }\n'));
    expect(lines(r, CALL() + 1)).toContain('vmm (paravirt-hcall): MSI-X table read of 8 bytes at BAR0 0x0 returns 0: the table is not emulated');
  });
});

describe('host-bridge MSI validation', () => {
  const crafted = '  - msi: { device: "05:00.0", address: 0xfee00000, data: 0xd0 }\n';
  const assigned = '  - msi: { device: "05:00.0", address: 0xfee02000, data: 0xd0 }\n    expect: { injected: 0x41, injectedInto: [vm1.vcpu1] }\n';

  for (const iommu of ['ir-off', 'none'] as const) {
    it(`${iommu === 'none' ? 'without an IOMMU' : 'with IR off'}: blocks a pair not assigned, passes the assigned one`, () => {
      const r = runText(scenario(crafted + assigned, { iommu }));
      expect(r.ok, lines(r).join('\n')).toBe(true);
      expect(kinds(r, CALL(iommu) + 1)).toEqual(['msi-validation']);
      expect(lines(r, CALL(iommu) + 1)[0]).toBe(
        '05:00.0 MSI 00000000fee00000/000000d0 as requester 05:00.0 → BLOCKED by host-bridge MSI validation: not a pair assigned to its partitionable endpoint (1 assigned), error recorded, never reaches the IOMMU',
      );
      expect(kinds(r, CALL(iommu) + 2)).toContain('interrupt-injected');
    });
  }

  it('with IR on: blocks an unassigned handle before the IOMMU (no fault recorded), passes the assigned handle', () => {
    const r = runText(scenario('  - msi: { device: "05:00.0", address: 0xfee00038, data: 0 }\n  - msi: { device: "05:00.0", address: 0xfee00018, data: 0 }\n    expect: { posted: { virtualVector: 0x41 } }\n', { iommu: 'ir-on' }));
    expect(r.ok, lines(r).join('\n')).toBe(true);
    expect(kinds(r, CALL('ir-on') + 1)).toEqual(['msi-validation']);
    expect(kinds(r, CALL('ir-on') + 2)).toContain('interrupt-posted');
  });

  it('off: the crafted pair is delivered as written (P1)', () => {
    const r = runText(scenario(crafted, { validation: false }));
    expect(kinds(r, CALL() + 1)).toContain('interrupt-delivered');
    expect(r.violations.map((v) => v.property)).toEqual(['P1']);
    expect(r.final.interrupts.msiValidation).toBeUndefined();
  });

  it('the example specs/vmm/paravirt-hcall-ir-off.yaml runs clean', () => {
    const r = runScenario(compileScenario(parseScenarioFile(repo('specs/vmm/paravirt-hcall-ir-off.yaml'))));
    expect(r.ok, lines(r).join('\n')).toBe(true);
    expect(lines(r).filter((l) => l.includes('BLOCKED by host-bridge MSI validation'))).toHaveLength(1);
  });

  it('the catalog pair differs only in the mode (and its notes and check)', () => {
    const strip = (f: string): string => readFileSync(repo(`specs/attacks/${f}`), 'utf8').replace(/^#.*\n/gm, '').replace(/\ncheck:[\s\S]*$/, '');
    const insecure = strip('pe-msi-validation-insecure.yaml');
    const secure = strip('pe-msi-validation-secure.yaml');
    expect(secure).toContain('msiValidation: partitionable-endpoint');
    expect(insecure).not.toContain('msiValidation');
  });
});

describe('remapsim compare', () => {
  it('leaves paravirt-hcall out of its default designs (its guest sets interrupts up by hypercall)', async () => {
    const { designsOf } = await import('../../src/cli/compare.ts');
    expect(designsOf(undefined)).not.toContain('paravirt-hcall');
    expect(designsOf('paravirt-hcall')).toEqual(['paravirt-hcall']);
  });
});
