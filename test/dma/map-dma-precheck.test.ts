// map-dma refuses, before building any table, what no entry can encode (levels, alignment,
// rights: the builder's rules, src/vtd/dma/builder.ts), and counts a non-nested map's pages
// IOVA → HPA whatever `gpa` says (found by the transitions fuzzer: a misaligned, unused `gpa`
// let a 2^27-page second-stage map through the page limit and out of memory).
import { describe, expect, it } from 'vitest';
import { parseScenarioFile } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';

const state = runScenario(compileScenario(parseScenarioFile('specs/dma/second-stage.yaml'))).final;
type MapDma = Extract<Action, { kind: 'map-dma' }>;
const base: MapDma = { kind: 'map-dma', iommu: 0, device: '07:00.0', did: 1, mode: 'second-stage', levels: 4, mappings: [{ iova: 0x100000n, hpa: 0x9000_0000n, size: 0x2000n, read: true, write: true }] };
const why = (a: Partial<MapDma>): string[] => applyAction(state, { ...base, ...a } as MapDma).events.flatMap((e) => (e.kind === 'action-rejected' ? [e.why] : []));

describe('map-dma precheck', () => {
  it('a well-formed map is built', () => {
    expect(why({})).toEqual([]);
  });
  it.each([
    [{ levels: 6 } as object, '6-level tables cannot be encoded (second stage: 3, 4 or 5 levels)'],
    [{ levels: 2 }, '2-level tables cannot be encoded'],
    [{ mode: 'first-stage' as const, levels: 3 }, '3-level tables cannot be encoded (first stage: 4 or 5 levels)'],
    [{ mode: 'nested' as const, firstStageLevels: 3 }, 'a 3-level first stage cannot be encoded (4 or 5 levels)'],
    [{ mappings: [{ ...base.mappings[0]!, hpa: 0x9000_0800n }] }, 'mapping 0x100000 → 0x90000800 (+0x2000) is not 4 KiB aligned'],
    [{ mappings: [{ ...base.mappings[0]!, size: 0n }] }, 'mapping 0x100000 → 0x90000000 (+0x0) is not 4 KiB aligned'],
    [{ mappings: [{ ...base.mappings[0]!, read: false, write: false }] }, 'second-stage mapping at 0x100000 grants neither read nor write'],
    [{ mode: 'nested' as const, mappings: [{ ...base.mappings[0]!, gpa: 0x5000_0010n }] }, 'mapping 0x100000 → 0x50000010 (+0x2000) is not 4 KiB aligned'],
    [{ mode: 'nested' as const, mappings: [{ ...base.mappings[0]!, read: false }] }, 'first-stage mapping at 0x100000: a present x86 entry is always readable'],
  ])('case %# is refused: %s', (a, text) => {
    const r = why(a as Partial<MapDma>);
    expect(r).toHaveLength(1);
    expect(r[0]).toContain(`map-dma for 07:00.0: ${text}`);
  });
  it('outside nested mode the page count is IOVA → HPA, whatever an unused gpa says', () => {
    const huge = { ...base.mappings[0]!, size: 0x80_0000_0000n, gpa: 0xc03e26d7ddd3n };
    expect(why({ mappings: [huge] })).toEqual(['map-dma for 07:00.0: the mappings need more than 131072 pages']);
    // The same gpa in a small map is not used, so the map is built.
    expect(why({ mappings: [{ ...base.mappings[0]!, gpa: 0xc03e26d7ddd3n }] })).toEqual([]);
  });
});
