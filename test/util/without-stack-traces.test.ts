// Error.stackTraceLimit is 0 only while the yaml package parses (src/util/without-stack-traces.ts),
// and a scenario that is not YAML is still refused with its first error's line.
import { describe, expect, it } from 'vitest';
import { withoutStackTraces } from '../../src/util/without-stack-traces.ts';
import { parseScenarioText } from '../../src/scenario/parse.ts';

describe('withoutStackTraces', () => {
  it('sets the limit to 0 inside and restores it after a return or a throw', () => {
    const before = Error.stackTraceLimit;
    expect(withoutStackTraces(() => Error.stackTraceLimit)).toBe(0);
    expect(Error.stackTraceLimit).toBe(before);
    expect(() => withoutStackTraces(() => { throw new RangeError('x'); })).toThrow(RangeError);
    expect(Error.stackTraceLimit).toBe(before);
  });

  it('a text full of tab-indented lines is refused at its first, the limit restored', () => {
    const before = Error.stackTraceLimit;
    const text = 'platform:\n' + Array.from({ length: 2000 }, (_, i) => `\tline${i}: ${i}`).join('\n');
    expect(() => parseScenarioText(text, 'tabs.yaml')).toThrow(/Tabs are not allowed/);
    try {
      parseScenarioText(text, 'tabs.yaml');
    } catch (e) {
      expect((e as { line?: number }).line).toBe(2);
    }
    expect(Error.stackTraceLimit).toBe(before);
  });
});
