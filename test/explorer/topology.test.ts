import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fieldWidth, parseApicIdList, parseTopology, topologyApicIds, topologyShifts, vcpuCount, MAX_VCPUS } from '../../src/explorer/topology.ts';
import { InputError } from '../../src/io/input-error.ts';

describe('CPUID-style APIC IDs from a topology (SDM CPUID 0BH/1FH; QEMU topology.h)', () => {
  it('rounds every level up to a power of two', () => {
    expect([1, 2, 3, 4, 5, 64, 65].map(fieldWidth)).toEqual([0, 1, 2, 2, 3, 6, 7]);
    expect(topologyShifts({ sockets: 2, dies: 3, cores: 20, threads: 2 })).toEqual({ coreShift: 1, dieShift: 6, socketShift: 8 });
  });

  it('2s:64c:2t is dense: APIC IDs 0..255, including 255', () => {
    const ids = topologyApicIds(parseTopology('2s:64c:2t'));
    expect(ids).toEqual(Array.from({ length: 256 }, (_, i) => i));
  });

  it('a 200-vCPU guest can have APIC IDs above 255 (5s:20c:2t: cores take 5 bits, sockets start at 64)', () => {
    const ids = topologyApicIds(parseTopology('5s:20c:2t'));
    expect(ids).toHaveLength(200);
    expect(ids[40]).toBe(64); // socket 1, core 0, thread 0
    expect(Math.max(...ids)).toBe(4 * 64 + 19 * 2 + 1);
    expect(ids.filter((id) => id > 255)).toHaveLength(40);
  });

  it('dies get their own field (2s:2d:3c:1t)', () => {
    expect(topologyApicIds(parseTopology('2s:2d:3c:1t'))).toEqual([0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14]);
  });

  it('a larger count keeps the per-socket shape and adds sockets', () => {
    const t = parseTopology('2s:48c:2t');
    const more = topologyApicIds(t, 4096);
    expect(more.slice(0, vcpuCount(t))).toEqual(topologyApicIds(t));
    expect(more[96]).toBe(128); // socket 1 starts at bit 7
    expect(new Set(more).size).toBe(4096);
  });

  it('IDs are distinct and each level is recoverable from its field (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 4 }), (s, d, c, t) => {
        const topo = { sockets: s, dies: d, cores: c, threads: t };
        const ids = topologyApicIds(topo);
        const { coreShift, dieShift, socketShift } = topologyShifts(topo);
        expect(new Set(ids).size).toBe(ids.length);
        ids.forEach((id, i) => {
          expect(id & ((1 << coreShift) - 1)).toBe(i % t);
          expect((id >> coreShift) & ((1 << (dieShift - coreShift)) - 1)).toBe(Math.floor(i / t) % c);
          expect(id >> socketShift).toBe(Math.floor(i / (t * c * d)));
        });
      }),
      { seed: 6, numRuns: 100 },
    );
  });

  it('parses levels in any order and defaults missing ones to 1', () => {
    expect(parseTopology('2t:64c:2s')).toEqual({ sockets: 2, dies: 1, cores: 64, threads: 2 });
    expect(parseTopology('8c')).toEqual({ sockets: 1, dies: 1, cores: 8, threads: 1 });
  });

  it.each(['', '2x', '2s:2s', '0s:4c', '2s-4c', `${MAX_VCPUS + 1}c`, '2s:64c:2t:'])('rejects %j with an InputError on --topology', (text) => {
    expect(() => parseTopology(text)).toThrow(InputError);
    try {
      parseTopology(text);
    } catch (e) {
      expect((e as InputError).field).toBe('--topology');
    }
  });

  it('explicit lists: IDs and ranges, decimal or hex; duplicates refused', () => {
    expect(parseApicIdList('0-3,0x100,300-301')).toEqual([0, 1, 2, 3, 256, 300, 301]);
    for (const bad of ['', '1,,2', '5-3', '1,1', 'x', '0x100000000', '1-2-3']) expect(() => parseApicIdList(bad)).toThrow(InputError);
  });
});
