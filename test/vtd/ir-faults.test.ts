/**
 * Fault reason 0x21 covers both an index beyond the table size and an IRTE whose address
 * lies at or above the host address width (VT-d fault reason 0x21; reference sheet §5.1).
 */
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';

const scenario = (steps: string) => `name: ir-haw
platform:
  hostAddressWidth: 39
  cpus: { count: 2 }
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true }
devices:
  - { bdf: "05:00.0" }
domains:
  - { name: host, kind: host, cpus: [0, 1], devices: ["05:00.0"] }
steps:
  # 512 entries (8 KiB) from 4 KiB below 2^39: entries 256 and up lie above the HAW.
  - enable-ir: { iommu: 0, base: 0x7ffffff000, eime: true, entries: 512 }
${steps}`;

function faults(steps: string) {
  const r = runScenario(compileScenario(parseScenarioText(scenario(steps), 'ir-haw.yaml')));
  return r.steps.flatMap((s) => s.events.filter((e) => e.kind === 'interrupt-fault'));
}

describe('interrupt index faults', () => {
  it('an IRTE above the host address width is fault 0x21 with its index', () => {
    // handle 300: address bits 19:5 = 300, bit 4 = remappable format.
    const f = faults(`  - msi: { device: "05:00.0", address: ${0xfee00000 + (300 << 5) + 0x10}, data: 0 }`);
    expect(f).toMatchObject([{ reason: 0x21, irteIndex: 300 }]);
  });
  it('an index within the HAW but not present is fault 0x22', () => {
    const f = faults(`  - msi: { device: "05:00.0", address: ${0xfee00000 + (5 << 5) + 0x10}, data: 0 }`);
    expect(f).toMatchObject([{ reason: 0x22, irteIndex: 5 }]);
  });
  it('an index beyond the table size is fault 0x21', () => {
    const f = faults(`  - msi: { device: "05:00.0", address: ${0xfee00000 + (600 << 5) + 0x10}, data: 0 }`);
    expect(f).toMatchObject([{ reason: 0x21, irteIndex: 600 }]);
  });
});
