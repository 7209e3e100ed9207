/** The topology example of docs/topology.md is a valid scenario fragment with the aliasing it describes. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { buildPlatform } from '../../src/platform/build.ts';
import { repo } from '../cli/cli-harness.ts';

const doc = readFileSync(repo('docs/topology.md'), 'utf8');
const fragment = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;

describe('docs/topology.md', () => {
  it('its YAML example compiles, and both devices behind the bridge reach the IOMMU as 05:00.0', () => {
    const text = `name: doc\nplatform:\n  cpus: { count: 1 }\n  iommus: [{ registerBase: 0xfed90000, includePciAll: true }]\n${fragment}steps: []\n`;
    const compiled = compileScenario(parseScenarioText(text, 'docs/topology.md'));
    const state = buildPlatform(compiled.platform);
    expect(state.devices['05:00.0']!.busRid).toBe(0x0500);
    expect(state.devices['05:01.0']!.busRid).toBe(0x0500);
    expect(state.devices['05:01.0']!.upstream).toEqual([0x00e0, 0x0100]);
  });
});
