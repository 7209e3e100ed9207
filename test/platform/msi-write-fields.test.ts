// The msi-write fast path (src/platform/transition.ts) checks the fields the full check would:
// a requester ID is 16 bits (PCIe), and a device is an own key of the platform's functions, so
// a built-in property name (`__proto__`, `constructor`) names no function (found by fuzz/actions.ts).
import { describe, expect, it } from 'vitest';
import { parseScenarioFile } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';

const state = runScenario(compileScenario(parseScenarioFile('specs/default.yaml'))).final;
const kinds = (extra: Partial<Extract<Action, { kind: 'msi-write' }>>): string[] =>
  applyAction(state, { kind: 'msi-write', device: '81:00.0', address: 0xfee00000n, data: 0, ...extra }).events.map((e) => (e.kind === 'action-rejected' ? `rejected: ${e.why}` : e.kind));

describe('msi-write fields', () => {
  it.each([['__proto__'], ['constructor'], ['toString']])('device %s is no PCI function', (device) => {
    expect(kinds({ device })).toEqual([`rejected: no PCI function ${device}`]);
  });
  it.each([[0x10000], [-1], [1.5]])('rid %s is not a 16-bit requester ID', (rid) => {
    expect(kinds({ rid })[0]).toMatch(/^rejected: msi-write: rid: .* is not an unsigned 16-bit value|^rejected: msi-write: rid/);
  });
  it('a 16-bit rid other than the function\'s own reaches the unit (and faults there)', () => {
    expect(kinds({ rid: 0xffff })).not.toContainEqual(expect.stringMatching(/^rejected/));
  });
});
