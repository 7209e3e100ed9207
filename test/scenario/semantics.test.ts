// Small hand-written scenarios that pin VT-d interrupt-remapping behaviour end to end
// (YAML → compile → run → `--json`), each checked on the outcome events it produces.
// References: Intel VT-d spec §5.1 (interrupt remapping), §9.10 (IRTE), PCI 3.0 §6.8 (MSI/MSI-X).
import { afterAll, describe, expect, it } from 'vitest';
import { cli, jsonLines, tempDir } from '../cli/cli-harness.ts';

const tmp = tempDir('semantics');
afterAll(() => tmp.cleanup());

type Event = Record<string, unknown>;
const OUTCOMES = new Set(['interrupt-delivered', 'interrupt-fault', 'msi-pending', 'msi-dropped', 'dma-access', 'dma-fault']);

interface Spec {
  readonly apicMode?: 'xapic' | 'x2apic';
  /** Extra fields of the single remapping unit, e.g. `iecCapacity: 1`. */
  readonly unit?: string;
  /** Device entries as YAML flow maps, e.g. `{ bdf: "00:03.0" }`. */
  readonly devices?: readonly string[];
  /** Grant entries as YAML flow maps. */
  readonly grants?: readonly string[];
  /** Step entries, one YAML line each (without the leading `- `). */
  readonly steps: readonly string[];
}

interface Run {
  readonly code: number;
  readonly events: readonly Event[];
  readonly trace: string;
  /** The outcome events (delivery, fault, pending, dropped, DMA) of scenario step `i`. */
  outcomes(i: number): Event[];
  /** The single outcome of scenario step `i`. */
  outcome(i: number): Event;
}

let n = 0;
async function run(spec: Spec): Promise<Run> {
  const yaml = [
    `name: semantics ${n}`,
    'platform:',
    '  hostAddressWidth: 39',
    `  apicMode: ${spec.apicMode ?? 'x2apic'}`,
    '  cpus: { count: 8 }',
    '  iommus:',
    `    - { registerBase: 0xfed90000, includePciAll: true${spec.unit ? `, ${spec.unit}` : ''} }`,
    'devices:',
    ...(spec.devices ?? ['{ bdf: "00:03.0" }']).map((d) => `  - ${d}`),
    'domains:',
    '  - { name: host, kind: host, cpus: [0, 1, 2, 3, 4, 5, 6, 7] }',
    ...(spec.grants?.length ? ['grants:', ...spec.grants.map((g) => `  - ${g}`)] : []),
    'steps:',
    ...spec.steps.map((s) => `  - ${s}`),
  ].join('\n');
  const file = tmp.write(`s${n++}.yaml`, yaml + '\n');
  const j = await cli(['run', file, '--json']);
  expect(j.err, yaml).toBe('');
  const t = await cli(['run', file]);
  const events = jsonLines(j.out);
  const outcomes = (i: number): Event[] => events.filter((e) => e['scenarioStep'] === i && OUTCOMES.has(e['kind'] as string));
  return {
    code: j.code,
    events,
    trace: t.out,
    outcomes,
    outcome: (i) => {
      const o = outcomes(i);
      expect(o, `outcomes of step ${i}`).toHaveLength(1);
      return o[0]!;
    },
  };
}

const grant = (bdf: string, vector: number, apicId: number): string => `{ device: "${bdf}", vector: ${vector}, apicId: ${apicId} }`;
const ENABLE = (eime: boolean, cfi = false): string => `enable-ir: { iommu: 0, base: 0x100000, eime: ${eime}, entries: 256${cfi ? ', cfi: true' : ''} }`;
/** A remappable-format address for `handle` (handle[14:0] → bits 19:5, handle[15] → bit 2), SHV=1. */
const remappable = (handle: number): string => `0x${((0xfee00000 | ((handle & 0x7fff) << 5) | ((handle >> 15) << 2) | 0x18) >>> 0).toString(16)}`;

describe('compatibility-format interrupts', () => {
  it('IR disabled (after reset): a compatibility MSI is delivered unchanged (path compatibility)', async () => {
    const r = await run({
      grants: [grant('00:03.0', 0x30, 1)],
      steps: ['msi: { device: "00:03.0", address: 0xfee01000, data: 0x30 }'],
    });
    expect(r.code).toBe(0);
    const e = r.outcome(0);
    expect(e).toMatchObject({ kind: 'interrupt-delivered', path: 'compatibility', iommu: 0, destination: 1, destinationMode: 'physical', vector: 0x30, deliveryMode: 0, triggerMode: 'edge', targets: [1] });
    expect(e).not.toHaveProperty('irteIndex');
    expect(e).not.toHaveProperty('iecHit');
  });

  it('IR disabled again with disable-ir: compatibility MSIs pass once more', async () => {
    const r = await run({
      grants: [grant('00:03.0', 0x30, 1)],
      steps: [ENABLE(false), 'msi: { device: "00:03.0", address: 0xfee01000, data: 0x30 }', 'disable-ir: { iommu: 0 }', 'msi: { device: "00:03.0", address: 0xfee01000, data: 0x30 }'],
    });
    expect(r.outcome(1)).toMatchObject({ kind: 'interrupt-fault', reason: 0x25 });
    expect(r.outcome(3)).toMatchObject({ kind: 'interrupt-delivered', path: 'compatibility', vector: 0x30, targets: [1] });
  });

  it('IR on, EIME=0, CFI clear: a compatibility MSI is blocked with 0x25 (recorded, not qualified)', async () => {
    const r = await run({ steps: [ENABLE(false), 'msi: { device: "00:03.0", address: 0xfee01000, data: 0x30 }'] });
    expect(r.code).toBe(0);
    const e = r.outcome(1);
    expect(e).toMatchObject({ kind: 'interrupt-fault', iommu: 0, reason: 0x25, qualified: false, frcd: 0, rid: 0x18 });
    expect(e).not.toHaveProperty('irteIndex');
  });

  it('IR on, EIME=0, CFI set: a compatibility MSI passes through (path compatibility)', async () => {
    const r = await run({
      grants: [grant('00:03.0', 0x30, 1)],
      steps: [ENABLE(false, true), 'msi: { device: "00:03.0", address: 0xfee01000, data: 0x30 }'],
    });
    expect(r.code).toBe(0);
    expect(r.events.filter((e) => e['kind'] === 'register-write' && e['register'] === 'GCMD').at(-1)!['changed']).toEqual(expect.arrayContaining(['IRES+', 'CFIS+']));
    expect(r.outcome(1)).toMatchObject({ kind: 'interrupt-delivered', path: 'compatibility', iommu: 0, vector: 0x30, destination: 1, targets: [1] });
  });

  it('IR on, EIME=1: a compatibility MSI is blocked with 0x25 even with CFI set', async () => {
    const r = await run({ steps: [ENABLE(true, true), 'msi: { device: "00:03.0", address: 0xfee01000, data: 0x30 }'] });
    expect(r.outcome(1)).toMatchObject({ kind: 'interrupt-fault', reason: 0x25, frcd: 0 });
  });
});

describe('source-ID verification', () => {
  const devices = ['01:00.0', '02:00.0', '03:00.0', '05:00.0', '06:00.0'].map((b) => `{ bdf: "${b}" }`);
  const msiFrom = (bdf: string): string => `msi: { device: "${bdf}", address: ${remappable(1)}, data: 0 }`;

  it('SVT=2: the bus range [first, last] is SID[15:8]..SID[7:0]; buses inside pass, outside fault 0x26', async () => {
    const r = await run({
      devices,
      grants: ['02:00.0', '03:00.0', '05:00.0'].map((b) => grant(b, 0x30, 1)),
      steps: [
        ENABLE(true),
        'irte: { iommu: 0, index: 1, vector: 0x30, destination: 1, svt: bus-range, busRange: [0x02, 0x05] }',
        ...['01:00.0', '02:00.0', '03:00.0', '05:00.0', '06:00.0'].map(msiFrom),
      ],
    });
    expect(r.code).toBe(0);
    // IRTE_high = SVT<<18 | SQ<<16 | SID with SID = first bus << 8 | last bus.
    const write = r.events.find((e) => e['kind'] === 'memory-write' && String(e['what']).startsWith('IRTE'))!;
    expect(BigInt(write['value'] as string) >> 64n).toBe((2n << 18n) | 0x0205n);
    expect(r.outcome(2)).toMatchObject({ kind: 'interrupt-fault', reason: 0x26, irteIndex: 1, rid: 0x0100 });
    for (const [step, rid] of [[3, 0x0200], [4, 0x0300], [5, 0x0500]] as const) {
      expect(r.outcome(step)).toMatchObject({ kind: 'interrupt-delivered', path: 'remapped', irteIndex: 1, rid, vector: 0x30, targets: [1] });
    }
    expect(r.outcome(6)).toMatchObject({ kind: 'interrupt-fault', reason: 0x26, irteIndex: 1, rid: 0x0600 });
  });

  it('SVT=2 with the bytes the other way round ([5, 2]) is an empty range: bus 3 faults 0x26', async () => {
    const r = await run({
      devices,
      steps: [ENABLE(true), 'irte: { iommu: 0, index: 1, vector: 0x30, destination: 1, svt: bus-range, busRange: [0x05, 0x02] }', msiFrom('03:00.0')],
    });
    expect(r.outcome(2)).toMatchObject({ kind: 'interrupt-fault', reason: 0x26 });
  });

  it('SVT=1 SQ=3 ignores all three function bits; another device number still faults', async () => {
    const fns = ['00:03.0', '00:03.5', '00:03.7', '00:04.0', '00:0b.0'];
    const r = await run({
      devices: fns.map((b) => `{ bdf: "${b}" }`),
      grants: fns.slice(0, 3).map((b) => grant(b, 0x30, 1)),
      steps: [
        ENABLE(true),
        'irte: { iommu: 0, index: 1, vector: 0x30, destination: 1, svt: requester-id, sq: 3, sid: "00:03.0" }',
        ...fns.map((b) => `msi: { device: "${b}", address: ${remappable(1)}, data: 0 }`),
      ],
    });
    expect(r.code).toBe(0);
    expect([2, 3, 4, 5, 6].map((i) => r.outcome(i)['kind'])).toEqual(['interrupt-delivered', 'interrupt-delivered', 'interrupt-delivered', 'interrupt-fault', 'interrupt-fault']);
    expect(r.outcome(5)).toMatchObject({ reason: 0x26, rid: 0x20 });
  });

  it('SQ=1 ignores only function bit 2, SQ=2 bits 2:1, SQ=0 none', async () => {
    const fns = ['00:03.0', '00:03.1', '00:03.2', '00:03.4', '00:03.6'];
    const outcomes = async (sq: number): Promise<string[]> => {
      const r = await run({
        devices: fns.map((b) => `{ bdf: "${b}" }`),
        grants: fns.map((b) => grant(b, 0x30, 1)),
        steps: [
          ENABLE(true),
          `irte: { iommu: 0, index: 1, vector: 0x30, destination: 1, svt: requester-id, sq: ${sq}, sid: "00:03.0" }`,
          ...fns.map((b) => `msi: { device: "${b}", address: ${remappable(1)}, data: 0 }`),
        ],
      });
      return [2, 3, 4, 5, 6].map((i) => (r.outcome(i)['kind'] === 'interrupt-delivered' ? 'ok' : String(r.outcome(i)['reason'])));
    };
    //                        .0    .1    .2    .4    .6
    expect(await outcomes(0)).toEqual(['ok', '38', '38', '38', '38']);
    expect(await outcomes(1)).toEqual(['ok', '38', '38', 'ok', '38']);
    expect(await outcomes(2)).toEqual(['ok', '38', 'ok', 'ok', 'ok']);
  });

  it('SVT=0 verifies nothing; SVT=3 (reserved) fails every request with 0x26', async () => {
    const r = await run({
      devices: ['{ bdf: "00:03.0" }'],
      grants: [grant('00:03.0', 0x30, 1)],
      steps: [
        ENABLE(true),
        'irte: { iommu: 0, index: 1, vector: 0x30, destination: 1, svt: none, sid: "7f:1f.7" }',
        `msi: { device: "00:03.0", address: ${remappable(1)}, data: 0 }`,
        'irte: { iommu: 0, index: 2, vector: 0x30, destination: 1, svt: reserved, sid: "00:03.0" }',
        `msi: { device: "00:03.0", address: ${remappable(2)}, data: 0 }`,
      ],
    });
    expect(r.outcome(2)).toMatchObject({ kind: 'interrupt-delivered', irteIndex: 1 });
    expect(r.outcome(4)).toMatchObject({ kind: 'interrupt-fault', reason: 0x26, irteIndex: 2 });
  });
});

describe('interrupt entry cache', () => {
  it('an IRTE changed in memory without invalidation: the cached (old) entry is used until invalidate-iec', async () => {
    const MSI = `msi: { device: "00:03.0", address: ${remappable(5)}, data: 0 }`;
    const r = await run({
      grants: [grant('00:03.0', 0x30, 1), grant('00:03.0', 0x31, 2)],
      steps: [
        ENABLE(true),
        'irte: { iommu: 0, index: 5, vector: 0x30, destination: 1 }',
        MSI, // 2: miss, fills the IEC
        MSI, // 3: hit
        'irte: { iommu: 0, index: 5, vector: 0x31, destination: 2 }', // 4: no invalidation
        MSI, // 5: still the cached entry
        'invalidate-iec: { iommu: 0, index: 5 }', // 6
        MSI, // 7: re-read from memory
        MSI, // 8: cached again
      ],
    });
    expect(r.code).toBe(0);
    expect(r.outcome(2)).toMatchObject({ kind: 'interrupt-delivered', irteIndex: 5, vector: 0x30, destination: 1, targets: [1], iecHit: false });
    expect(r.outcome(3)).toMatchObject({ vector: 0x30, iecHit: true });
    expect(r.outcome(5)).toMatchObject({ kind: 'interrupt-delivered', vector: 0x30, destination: 1, targets: [1], iecHit: true });
    expect(r.events.find((e) => e['scenarioStep'] === 6 && e['kind'] === 'iec-invalidate')).toMatchObject({ kind: 'iec-invalidate', granularity: 'index', index: 5, count: 1, dropped: [5] });
    expect(r.outcome(7)).toMatchObject({ kind: 'interrupt-delivered', vector: 0x31, destination: 2, targets: [2], iecHit: false });
    expect(r.outcome(8)).toMatchObject({ vector: 0x31, iecHit: true });
    expect(r.trace).toContain('(IEC hit)');
  });

  it('an index invalidation of another entry, or a mask that does not cover it, leaves the stale entry', async () => {
    const MSI = `msi: { device: "00:03.0", address: ${remappable(5)}, data: 0 }`;
    const r = await run({
      grants: [grant('00:03.0', 0x30, 1), grant('00:03.0', 0x31, 1)],
      steps: [
        ENABLE(true),
        'irte: { iommu: 0, index: 5, vector: 0x30, destination: 1 }',
        MSI,
        'irte: { iommu: 0, index: 5, vector: 0x31, destination: 1 }',
        'invalidate-iec: { iommu: 0, index: 4 }', // 4: index 4 only
        MSI, // 5
        'invalidate-iec: { iommu: 0, index: 4, mask: 1 }', // 6: indices 4 and 5
        MSI, // 7
      ],
    });
    expect(r.events.find((e) => e['scenarioStep'] === 4 && e['kind'] === 'iec-invalidate')).toMatchObject({ kind: 'iec-invalidate', dropped: [] });
    expect(r.outcome(5)).toMatchObject({ vector: 0x30, iecHit: true });
    expect(r.events.find((e) => e['scenarioStep'] === 6 && e['kind'] === 'iec-invalidate')).toMatchObject({ kind: 'iec-invalidate', index: 4, count: 2, dropped: [5] });
    expect(r.outcome(7)).toMatchObject({ vector: 0x31, iecHit: false });
  });

  it('an index-selective invalidation ignores the low IM bits of the index (aligned block of 2^IM)', async () => {
    const MSI = `msi: { device: "00:03.0", address: ${remappable(5)}, data: 0 }`;
    const r = await run({
      grants: [grant('00:03.0', 0x30, 1), grant('00:03.0', 0x31, 1)],
      steps: [
        ENABLE(true),
        'irte: { iommu: 0, index: 5, vector: 0x30, destination: 1 }',
        MSI,
        'irte: { iommu: 0, index: 5, vector: 0x31, destination: 1 }',
        'invalidate-iec: { iommu: 0, index: 6, mask: 1 }', // 4: block 6..7
        MSI, // 5: still stale
        'invalidate-iec: { iommu: 0, index: 6, mask: 2 }', // 6: block 4..7
        MSI, // 7
      ],
    });
    expect(r.events.find((e) => e['scenarioStep'] === 4 && e['kind'] === 'iec-invalidate')).toMatchObject({ kind: 'iec-invalidate', dropped: [] });
    expect(r.outcome(5)).toMatchObject({ vector: 0x30, iecHit: true });
    expect(r.events.find((e) => e['scenarioStep'] === 6 && e['kind'] === 'iec-invalidate')).toMatchObject({ kind: 'iec-invalidate', count: 4, dropped: [5] });
    expect(r.outcome(7)).toMatchObject({ vector: 0x31, iecHit: false });
  });

  it('an entry evicted from a full IEC is re-read from memory (iecCapacity 1)', async () => {
    const msi = (h: number): string => `msi: { device: "00:03.0", address: ${remappable(h)}, data: 0 }`;
    const r = await run({
      unit: 'iecCapacity: 1',
      grants: [grant('00:03.0', 0x30, 1), grant('00:03.0', 0x31, 1), grant('00:03.0', 0x40, 1)],
      steps: [
        ENABLE(true),
        'irte: { iommu: 0, index: 5, vector: 0x30, destination: 1 }',
        'irte: { iommu: 0, index: 6, vector: 0x40, destination: 1 }',
        msi(5), // 3: caches 5
        'irte: { iommu: 0, index: 5, vector: 0x31, destination: 1 }', // 4: stale now
        msi(6), // 5: caches 6, evicts 5
        msi(5), // 6: miss, new value
      ],
    });
    expect(r.code).toBe(0);
    expect(r.outcome(3)).toMatchObject({ vector: 0x30, iecHit: false });
    expect(r.outcome(5)).toMatchObject({ vector: 0x40, iecHit: false });
    expect(r.outcome(6)).toMatchObject({ vector: 0x31, iecHit: false });
  });

  it('a cleared IRTE keeps delivering from the IEC until a global invalidation, then faults 0x22', async () => {
    const MSI = `msi: { device: "00:03.0", address: ${remappable(5)}, data: 0 }`;
    const r = await run({
      grants: [grant('00:03.0', 0x30, 1)],
      steps: [ENABLE(true), 'irte: { iommu: 0, index: 5, vector: 0x30, destination: 1 }', MSI, 'clear-irte: { iommu: 0, index: 5 }', MSI, 'invalidate-iec: { iommu: 0 }', MSI],
    });
    expect(r.outcome(4)).toMatchObject({ kind: 'interrupt-delivered', vector: 0x30, iecHit: true });
    expect(r.events.find((e) => e['scenarioStep'] === 5 && e['kind'] === 'iec-invalidate')).toMatchObject({ kind: 'iec-invalidate', granularity: 'global', dropped: [5] });
    expect(r.outcome(6)).toMatchObject({ kind: 'interrupt-fault', reason: 0x22, irteIndex: 5 });
  });
});

describe('fault recording', () => {
  it('FPD=1 on a not-present IRTE: fault 0x22 is reported but not recorded (no frcd)', async () => {
    const r = await run({
      steps: [
        ENABLE(true),
        'irte: { iommu: 0, index: 7, present: false, fpd: true, vector: 0x30 }',
        `msi: { device: "00:03.0", address: ${remappable(7)}, data: 0 }`,
        'irte: { iommu: 0, index: 8, present: false, vector: 0x30 }',
        `msi: { device: "00:03.0", address: ${remappable(8)}, data: 0 }`,
      ],
    });
    expect(r.code).toBe(0);
    const suppressed = r.outcome(2);
    expect(suppressed).toMatchObject({ kind: 'interrupt-fault', reason: 0x22, irteIndex: 7, qualified: true });
    expect(suppressed['frcd']).toBeUndefined();
    expect(r.trace).toContain('not recorded (FPD or overflow)');
    // The same fault without FPD takes the first fault-recording register.
    expect(r.outcome(4)).toMatchObject({ kind: 'interrupt-fault', reason: 0x22, irteIndex: 8, qualified: true, frcd: 0 });
  });

  it('FPD=1 suppresses a source-ID fault (0x26, qualified) too', async () => {
    const r = await run({
      devices: ['{ bdf: "00:03.0" }', '{ bdf: "00:04.0" }'],
      steps: [ENABLE(true), 'irte: { iommu: 0, index: 1, fpd: true, vector: 0x30, destination: 1, svt: requester-id, sid: "00:03.0" }', `msi: { device: "00:04.0", address: ${remappable(1)}, data: 0 }`],
    });
    const e = r.outcome(2);
    expect(e).toMatchObject({ kind: 'interrupt-fault', reason: 0x26, qualified: true });
    expect(e['frcd']).toBeUndefined();
  });

  it('an index beyond the table (0x21) is not qualified and is recorded', async () => {
    const r = await run({ steps: [ENABLE(true), `msi: { device: "00:03.0", address: ${remappable(256)}, data: 0 }`] });
    expect(r.outcome(1)).toMatchObject({ kind: 'interrupt-fault', reason: 0x21, irteIndex: 256, qualified: false, frcd: 0 });
  });
});

describe('IRTE destination in xAPIC mode (EIME=0)', () => {
  const steps = (irte: string): string[] => [ENABLE(false), `irte: { iommu: 0, index: 1, vector: 0x30, ${irte} }`, `msi: { device: "00:03.0", address: ${remappable(1)}, data: 0 }`];

  it('DST bits 7:0 set is a reserved-field fault 0x24', async () => {
    const r = await run({ apicMode: 'xapic', steps: steps('dst: 0x0101') });
    expect(r.outcome(2)).toMatchObject({ kind: 'interrupt-fault', reason: 0x24, irteIndex: 1, qualified: true, frcd: 0 });
  });

  it('DST bits 31:16 set is a reserved-field fault 0x24', async () => {
    const r = await run({ apicMode: 'xapic', steps: steps('dst: 0x10100') });
    expect(r.outcome(2)).toMatchObject({ kind: 'interrupt-fault', reason: 0x24 });
  });

  it('the APIC ID sits in DST bits 15:8: dst 0x0100 and destination 1 both reach APIC 1', async () => {
    for (const irte of ['dst: 0x0100', 'destination: 1']) {
      const r = await run({ apicMode: 'xapic', grants: [grant('00:03.0', 0x30, 1)], steps: steps(irte) });
      expect(r.code).toBe(0);
      expect(r.outcome(2)).toMatchObject({ kind: 'interrupt-delivered', path: 'remapped', destination: 1, vector: 0x30, targets: [1] });
      const write = r.events.find((e) => e['kind'] === 'memory-write' && String(e['what']).startsWith('IRTE'))!;
      expect((BigInt(write['value'] as string) >> 32n) & 0xffff_ffffn).toBe(0x100n);
    }
  });

  it('with EIME=1 the same DST 0x0101 is the full 32-bit APIC ID 0x101 (no fault)', async () => {
    const r = await run({ steps: [ENABLE(true), 'irte: { iommu: 0, index: 1, vector: 0x30, dst: 0x0101 }', `msi: { device: "00:03.0", address: ${remappable(1)}, data: 0 }`] });
    expect(r.outcome(2)).toMatchObject({ kind: 'interrupt-delivered', destination: 0x101, targets: [] });
  });
});

describe('MSI and MSI-X function behaviour', () => {
  it('MSI multi-message: 4 vectors with data 0x30, signalling vector 3 sends data 0x33', async () => {
    const r = await run({
      devices: ['{ bdf: "00:03.0", msi: { vectors: 4 } }'],
      grants: [grant('00:03.0', 0x33, 1)],
      steps: ['program-msi: { device: "00:03.0", enable: true, address: 0xfee01000, data: 0x30, vectors: 4 }', 'signal: { device: "00:03.0", vector: 3 }', 'signal: { device: "00:03.0", vector: 4 }'],
    });
    expect(r.code).toBe(0);
    expect(r.outcome(1)).toMatchObject({ kind: 'interrupt-delivered', path: 'compatibility', address: '0xfee01000', data: 0x33, vector: 0x33, targets: [1] });
    expect(r.outcome(2)).toMatchObject({ kind: 'msi-dropped', vector: 4 });
  });

  it('MSI multi-message: the enabled count is capped by what the function supports (MME <= MMC)', async () => {
    const r = await run({
      devices: ['{ bdf: "00:03.0", msi: { vectors: 2 } }'],
      steps: ['program-msi: { device: "00:03.0", enable: true, address: 0xfee01000, data: 0x30, vectors: 4 }', 'signal: { device: "00:03.0", vector: 3 }'],
    });
    expect(r.events.find((e) => e['kind'] === 'msi-config')!['change']).toContain('vectors 2');
    expect(r.outcome(1)).toMatchObject({ kind: 'msi-dropped', vector: 3 });
  });

  it('MSI multi-message under IR: the vector number becomes the subhandle, selecting IRTE handle + k', async () => {
    const r = await run({
      devices: ['{ bdf: "00:03.0", msi: { vectors: 4 } }'],
      grants: [grant('00:03.0', 0x43, 3)],
      steps: [
        ENABLE(true),
        'irte: { iommu: 0, index: 0x13, vector: 0x43, destination: 3 }',
        `program-msi: { device: "00:03.0", enable: true, address: ${remappable(0x10)}, data: 0, vectors: 4 }`,
        'signal: { device: "00:03.0", vector: 3 }',
      ],
    });
    expect(r.code).toBe(0);
    expect(r.outcome(3)).toMatchObject({ kind: 'interrupt-delivered', path: 'remapped', data: 3, irteIndex: 0x13, vector: 0x43, targets: [3] });
  });

  it('MSI-X function mask: the message is pending; clearing the mask sends it', async () => {
    const r = await run({
      devices: ['{ bdf: "00:03.0", msix: { tableSize: 4 } }'],
      grants: [grant('00:03.0', 0x30, 1)],
      steps: [
        'program-msix: { device: "00:03.0", entry: 2, address: 0xfee01000, data: 0x30, masked: false }',
        'msix-control: { device: "00:03.0", enable: true, functionMask: true }',
        'signal: { device: "00:03.0", vector: 2 }',
        'msix-control: { device: "00:03.0", functionMask: false }',
        'signal: { device: "00:03.0", vector: 2 }',
      ],
    });
    expect(r.code).toBe(0);
    expect(r.outcome(2)).toMatchObject({ kind: 'msi-pending', capability: 'msix', vector: 2 });
    expect(r.outcome(3)).toMatchObject({ kind: 'interrupt-delivered', vector: 0x30, targets: [1] });
    // The pending bit was cleared: the next signal sends exactly one message.
    expect(r.outcomes(4)).toHaveLength(1);
    expect(r.outcome(4)).toMatchObject({ kind: 'interrupt-delivered', vector: 0x30 });
  });

  it('an MSI-X entry out of reset is masked: signalling it sets the pending bit', async () => {
    const r = await run({
      devices: ['{ bdf: "00:03.0", msix: { tableSize: 4 } }'],
      steps: ['msix-control: { device: "00:03.0", enable: true }', 'signal: { device: "00:03.0", vector: 0 }', 'signal: { device: "00:03.0", vector: 4 }'],
    });
    expect(r.outcome(1)).toMatchObject({ kind: 'msi-pending', capability: 'msix', vector: 0 });
    expect(r.outcome(2)).toMatchObject({ kind: 'msi-dropped', vector: 4 });
  });
});

describe('writes outside the interrupt window', () => {
  it.each([
    ['0x1000', '0x1000'],
    ['0xfedffffc', '0xfedffffc'],
    ['0xfef00000', '0xfef00000'],
    ['"0x1fee00000"', '0x1fee00000'],
  ])('a device write to %s is DMA (untranslated with TE off), not an interrupt, even with IR on', async (address, hex) => {
    const r = await run({ steps: [ENABLE(true), `msi: { device: "00:03.0", address: ${address}, data: 0xdeadbeef }`] });
    // With DMA remapping off the guest's device reaches host memory unchecked: P2 is violated (exit 1).
    expect(r.code).toBe(1);
    expect(r.outcome(1)).toMatchObject({ kind: 'dma-access', device: '00:03.0', rid: 0x18, iova: hex, hpa: hex, size: 4, write: true, translation: 'untranslated', value: '0xdeadbeef', scenarioStep: 1 });
  });

  it('the window edges 0xfee00000 and 0xfeeffffc are interrupts', async () => {
    const r = await run({ steps: [ENABLE(true), 'msi: { device: "00:03.0", address: 0xfee00000, data: 0 }', 'msi: { device: "00:03.0", address: 0xfeeffffc, data: 0 }'] });
    expect(r.outcome(1)).toMatchObject({ kind: 'interrupt-fault', reason: 0x25 });
    // 0xfeeffffc: bit 4 set → remappable, handle 0x7fff | (bit 2 → 0x8000) = 0xffff, beyond 256 entries.
    expect(r.outcome(2)).toMatchObject({ kind: 'interrupt-fault', reason: 0x21, irteIndex: 0xffff });
  });
});
