import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { formatTrace } from '../../src/scenario/trace.ts';
import { CONTROL_BITS } from '../../src/amdvi/registers.ts';

// specs/amd/remapped.yaml ends with an MSI to IRTE 6 (RemapEn = 0): an IO_PAGE_FAULT that the
// unit writes to its event log (spec 48882 §2.5), which is how P6 accounts for it on AMD-Vi.
const FILE = 'specs/amd/remapped.yaml';
const TEXT = readFileSync(FILE, 'utf8');
const run = (text: string) => runScenario(compileScenario(parseScenarioText(text, FILE)));

describe('P6 on an AMD-Vi unit: rejections accounted for in the event log', () => {
  it('counts the IO_PAGE_FAULT as written to the event log, not as an FRCD record', () => {
    const r = run(TEXT);
    expect(r.faults).toMatchObject({ logged: 1, logOverflow: 0, logSuppressed: 0, recorded: 0, overflow: 0, suppressed: 0, unaccounted: 0 });
    expect(r.accountability).toEqual([]);
    const trace = formatTrace(r);
    expect(trace).toContain('P6 fault accountability: HELD (1 rejected requests: 1 by the IOMMU (1 written to the event log, 0 lost to event-log overflow with Status.EventOverflow set, 0 suppressed by DTE.IG/SA, IRTE.SupIOPF or never logged))');
    expect(trace).not.toContain('FRCD');
  });

  it('is violated when software clears Control.EventLogEn with the unit enabled (the fault is lost)', () => {
    const control = run(TEXT).final.amdvi!.units[0]!.regs.control & ~(1n << BigInt(CONTROL_BITS.EventLogEn));
    const broken = TEXT.replace(
      '  - note: the device\'s DTE',
      `  - amdvi-register: { iommu: 0, register: CONTROL, value: 0x${control.toString(16)} }\n  - note: the device's DTE`,
    );
    expect(broken).not.toBe(TEXT);
    const r = run(broken);
    expect(r.faults.unaccounted).toBe(1);
    expect(r.accountability).toHaveLength(1);
    expect(r.accountability[0]!.message).toContain('Control.EventLogEn = 0');
    expect(formatTrace(r)).toContain('P6 fault accountability: VIOLATED (1 violation(s); 1 rejected requests: 1 by the IOMMU (1 unaccounted))');
  });
});
