/**
 * HYPOTHETICAL direct-post hardware on the platform (src/platform/device-write.ts,
 * direct-post-handlers.ts), through scenarios and runScenario: direct posts into a running
 * vCPU (no exit) and a halted one (wakeup notification), faults recorded in FRCD with
 * FI = vAPIC ID, the cache stale until `invalidate-dpt` of each granularity, key vapic-id
 * posting a second device into the first device's vCPU, wide vectors through the PIR
 * extension into vIRR, and nothing changed without `platform.directPost`.
 */
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { formatEvent } from '../../src/scenario/trace.ts';
import { applyAction } from '../../src/platform/transition.ts';
import { vcpuAt } from '../../src/platform/vcpu-table.ts';
import { decodeFaultRecord, faultRecordInterruptIndex } from '../../src/vtd/fault-record.ts';
import { readPid } from '../../src/vtd/pid-memory.ts';
import { encodeDptInvalidation, encodeRootEntry, encodeVapicEntry } from '../../src/hypothetical/direct-post/table.ts';
import type { InterruptPostedEvent, PlatformEvent } from '../../src/platform/events.ts';
import { InputError } from '../../src/io/input-error.ts';
import { formatIrtDump } from '../../src/scenario/dump.ts';

const BASE = 0x2_0000_0000n;
const TABLE = BASE + 0x8_0000n;
const PID_BASE = 0x4000_0000n;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/**
 * vm1 (2 vCPUs, APIC IDs 0 and 1, on cpu1 and cpu2) owns 05:00.0; vm2 (1 vCPU) owns 06:00.0.
 * The hypervisor's tables for 05:00.0 (key source-id: root entry → TABLE; key vapic-id: TABLE
 * is the DPTA base) map vAPIC 0, 1 to vm1's PIDs; vm1.vcpu0 runs, vm1.vcpu1 halted.
 */
function scenario(o: { key?: string; vectorBits?: number; steps: string; directPost?: boolean }): string {
  const bits = o.vectorBits ?? 8;
  const stride = bits > 8 ? 64n + BigInt(Math.ceil((2 ** bits - 256) / 8 / 64) * 64) : 64n;
  const pid = (i: number) => PID_BASE + stride * BigInt(i);
  const key = o.key ?? 'source-id';
  const tables =
    key === 'source-id'
      ? `  - write-memory: { address: ${hex(BASE + 8n * 0x500n)}, bytes: 8, value: ${hex(encodeRootEntry({ present: true, ts: 1, table: TABLE }))} }\n`
      : '';
  return `
name: direct-post
platform:
  hostAddressWidth: 39
  cpus: { count: 4 }
  policy: kvm${o.directPost === false ? '' : `
  directPost: { key: ${key}, vectorBits: ${bits}, cacheCapacity: 8 }`}
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0xf020fe }
devices:
  - { bdf: "05:00.0", msix: { tableSize: 4 } }
  - { bdf: "06:00.0", msix: { tableSize: 4 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1, 2], vcpus: 2, devices: ["05:00.0"] }
  - { name: vm2, kind: guest, cpus: [3], vcpus: 1, devices: ["06:00.0"] }
steps:
${o.directPost === false ? '' : `${tables}  - write-memory: { address: ${hex(TABLE)}, bytes: 8, value: ${hex(encodeVapicEntry({ present: true, urgent: false, pda: pid(0) }))} }
  - write-memory: { address: ${hex(TABLE + 8n)}, bytes: 8, value: ${hex(encodeVapicEntry({ present: true, urgent: false, pda: pid(1) }))} }
`}  - schedule: { vm: vm1, vcpu: 0, pcpu: 1 }
  - schedule: { vm: vm1, vcpu: 1, pcpu: 2 }
  - halt: { vm: vm1, vcpu: 1 }
${o.directPost === false ? '' : `  - write-dpta: { iommu: 0, value: ${hex(key === 'source-id' ? BASE | 1n : TABLE | 0x3n)} }\n`}${o.steps}`;
}

const run = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'direct-post.yaml')));
/** Events of the scenario's last `n` steps. */
const lastEvents = (r: RunResult, n = 1): PlatformEvent[] => r.steps.slice(-n).flatMap((s) => [...s.events]);
const posted = (es: readonly PlatformEvent[]): InterruptPostedEvent[] => es.filter((e): e is InterruptPostedEvent => e.kind === 'interrupt-posted');
const msi = (dest: number, data: number, device = '05:00.0') => `  - msi: { device: "${device}", address: ${hex(0xfee0_0000 + dest * 4096)}, data: ${hex(data)} }\n`;

describe('direct posting (hypothetical)', () => {
  it('posts into the running vCPU: PIR → vIRR in guest mode, no exit; interrupt-posted without an IRTE', () => {
    const r = run(scenario({ steps: msi(0, 0x41) }));
    const es = lastEvents(r);
    const [p] = posted(es);
    expect(p).toMatchObject({ irteIndex: undefined, iecHit: false, pda: PID_BASE, virtualVector: 0x41, directPost: { vapicId: 0, cacheHit: false } });
    expect(p!.notification).toMatchObject({ vector: 0xf2, targets: [1] });
    expect(es.some((e) => e.kind === 'pir-processed' && e.vcpu === 0 && e.vectors.includes(0x41))).toBe(true);
    expect(vcpuAt(r.final.vcpus, 0)!.virr).toBe(1n << 0x41n);
    expect(formatEvent({ ...p!, step: 0 }, r.final)).toContain('direct-posted (hypothetical) vAPIC 0 → PID 0x40000000');
    expect(r.accountability).toEqual([]);
  });

  it('posts into the halted vCPU\'s PID and notifies the host with the wakeup vector, which wakes it', () => {
    const r = run(scenario({ steps: msi(1, 0x42) }));
    const es = lastEvents(r);
    const [p] = posted(es);
    expect(p).toMatchObject({ pda: PID_BASE + 64n, virtualVector: 0x42, directPost: { vapicId: 1 } });
    expect(p!.notification?.vector).not.toBe(0xf2);
    expect(es.some((e) => e.kind === 'vcpu-state' && e.vcpu === 1 && e.run !== 'blocked')).toBe(true);
  });

  it('leaves remappable-format requests to the IRTE path and DPE = 0 to the compatibility rules', () => {
    const remappable = run(scenario({ steps: `  - msi: { device: "05:00.0", address: 0xfee00010, data: 0 }\n` }));
    expect(lastEvents(remappable).some((e) => 'directPost' in e && e.directPost !== undefined)).toBe(false);
    const off = run(scenario({ steps: `  - write-dpta: { iommu: 0, value: ${hex(BASE)} }\n${msi(0, 0x41)}` }));
    expect(lastEvents(off).map((e) => e.kind)).toContain('interrupt-delivered');
    expect(posted(lastEvents(off))).toEqual([]);
  });

  it('records a fault in FRCD: FR, SID = requester ID, FI[63:48] = vAPIC ID; P6 accounts for it', () => {
    const r = run(scenario({ steps: msi(2, 0x41) + msi(0, 0x05) }));
    const faults = lastEvents(r, 2).filter((e) => e.kind === 'interrupt-fault');
    expect(faults.map((e) => e.kind === 'interrupt-fault' && [e.reason, e.frcd, e.qualified, e.irteIndex, e.directPost?.vapicId])).toEqual([
      [0xd2, 0, false, undefined, 2],
      [0xd5, 1, false, undefined, 0],
    ]);
    const rec = decodeFaultRecord(r.final.iommus[0]!.frcd[0]!).record;
    expect([rec.faultReason, rec.sourceId, faultRecordInterruptIndex(rec)]).toEqual([0xd2, 0x0500, 2]);
    expect(r.accountability).toEqual([]);
    const dump = formatIrtDump(r.final);
    expect(dump).toContain('[DIRECT-POST (hypothetical)] Request device [05:00.0] vAPIC ID 2 [fault reason 0xd2]');
    expect(dump).toMatch(/DPTA \(hypothetical\) +- +0x0000000200000001  hypothetical: DPE=1 TS=0 base 0x200000000/);
  });

  for (const [granularity, fields] of [
    ['global', ''],
    ['source', ', sid: "05:00.0"'],
    ['entry', ', sid: "05:00.0", vapicId: 0'],
  ] as const) {
    it(`a cached entry posts into the old PID after the table changed, until invalidate-dpt ${granularity}`, () => {
      const moved = hex(encodeVapicEntry({ present: true, urgent: false, pda: PID_BASE + 64n }));
      const r = run(
        scenario({
          steps:
            msi(0, 0x41) +
            `  - write-memory: { address: ${hex(TABLE)}, bytes: 8, value: ${moved} }\n` +
            msi(0, 0x42) +
            `  - invalidate-dpt: { iommu: 0, granularity: entry, sid: "06:00.0", vapicId: 0 }\n` +
            msi(0, 0x43) +
            `  - invalidate-dpt: { iommu: 0, granularity: ${granularity}${fields} }\n` +
            msi(0, 0x44),
        }),
      );
      const ps = posted(lastEvents(r, 6));
      expect(ps.map((p) => [p.virtualVector, p.pda, p.directPost?.cacheHit])).toEqual([
        [0x42, PID_BASE, true],
        [0x43, PID_BASE, true],
        [0x44, PID_BASE + 64n, false],
      ]);
      const invs = lastEvents(r, 6).filter((e) => e.kind === 'direct-post' && e.change === 'invalidation');
      expect(invs.map((e) => e.kind === 'direct-post' && e.dropped)).toEqual([0, 1]);
    });
  }

  it('the type-0xE descriptor also goes through the invalidation queue (submit-invalidation); a malformed one sets IQE', () => {
    const moved = hex(encodeVapicEntry({ present: true, urgent: false, pda: PID_BASE + 64n }));
    const global = hex(encodeDptInvalidation({ granularity: 'global' }));
    const r = run(
      scenario({
        steps:
          '  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }\n' +
          msi(0, 0x41) +
          `  - write-memory: { address: ${hex(TABLE)}, bytes: 8, value: ${moved} }\n` +
          msi(0, 0x42) +
          `  - submit-invalidation: { iommu: 0, descriptors: ["${global}"] }\n` +
          msi(0, 0x43) +
          `  - submit-invalidation: { iommu: 0, descriptors: ["0x3e"] }\n`,
      }),
    );
    const ps = posted(lastEvents(r, 5));
    expect(ps.map((p) => [p.virtualVector, p.pda])).toEqual([
      [0x42, PID_BASE],
      [0x43, PID_BASE + 64n],
    ]);
    const invs = lastEvents(r, 5).filter((e) => e.kind === 'invalidation' && e.what.startsWith('direct-post'));
    expect(invs.map((e) => e.kind === 'invalidation' && [e.via, e.outcome])).toEqual([
      ['queue', 'done'],
      ['queue', 'error'],
    ]);
  });

  it('key vapic-id: a second guest\'s device naming vAPIC 0 posts into the first guest\'s vCPU (the broken variant)', () => {
    const r = run(scenario({ key: 'vapic-id', steps: msi(0, 0x41, '06:00.0') }));
    const [p] = posted(lastEvents(r));
    expect(p).toMatchObject({ device: '06:00.0', pda: PID_BASE, directPost: { vapicId: 0 } });
    expect(r.violations.some((v) => v.message.includes('06:00.0'))).toBe(true); // P1 sees it
    const safe = run(scenario({ steps: msi(0, 0x41, '06:00.0') }));
    expect(lastEvents(safe).find((e) => e.kind === 'interrupt-fault')).toMatchObject({ reason: 0xd0, device: '06:00.0' });
  });

  it('wide vectors: ≥ 256 into the PIR extension and on into vIRR, for a running and for a halted vCPU', () => {
    const stride = 64n + 8192n;
    const r = run(scenario({ vectorBits: 16, steps: msi(0, 0x12_0041) + msi(1, 0x03_0010) }));
    const ps = posted(lastEvents(r, 2));
    expect(ps.map((p) => [p.virtualVector, p.pda])).toEqual([
      [0x1241, PID_BASE],
      [0x310, PID_BASE + stride],
    ]);
    expect(vcpuAt(r.final.vcpus, 0)!.virr).toBe(1n << 0x1241n);
    // vCPU 1 was halted: woken by the wakeup notification, its extension bit waits in memory (ON set)...
    const ext = PID_BASE + stride + 64n + BigInt((0x310 - 256) >> 3);
    const before = run(scenario({ vectorBits: 16, steps: msi(1, 0x03_0010) }));
    const v1 = vcpuAt(before.final.vcpus, 1)!;
    expect([v1.run, v1.virr]).toEqual(['runnable', 0n]);
    expect(before.final.memory.readBytes(ext, 1)[0]).toBe(1 << ((0x310 - 256) & 7));
    expect(readPid(before.final.memory, v1.pda).pid).toMatchObject({ on: true, pir: 0n });
    // ...and reaches vIRR bit 0x310 when it runs (the VM entry's sync).
    const later = run(scenario({ vectorBits: 16, steps: msi(1, 0x03_0010) + '  - schedule: { vm: vm1, vcpu: 1, pcpu: 2 }\n' }));
    expect(vcpuAt(later.final.vcpus, 1)!.virr & (1n << 0x310n)).toBe(1n << 0x310n);
    expect(later.final.memory.readBytes(ext, 1)[0]).toBe(0);
    // With vectorBits 8 the same data is not postable.
    const narrow = run(scenario({ steps: msi(0, 0x12_0041) }));
    expect(lastEvents(narrow).find((e) => e.kind === 'interrupt-fault')).toMatchObject({ reason: 0xd5 });
  });
});

describe('without platform.directPost (hypothetical hardware absent)', () => {
  it('units have no DPTA and the compatibility request is delivered as before', () => {
    const r = run(scenario({ directPost: false, steps: msi(1, 0x41) }));
    expect(r.final.interrupts).not.toHaveProperty('directPost');
    expect(r.final.iommus[0]!.directPost).toBeUndefined();
    expect(lastEvents(r).map((e) => e.kind)).toContain('interrupt-delivered');
  });

  it('write-dpta / invalidate-dpt steps are scenario errors; the primitives are rejected', () => {
    expect(() => run(scenario({ directPost: false, steps: '  - write-dpta: { iommu: 0, value: 0x200000001 }\n' }))).toThrow(InputError);
    expect(() => run(scenario({ directPost: false, steps: '  - invalidate-dpt: { iommu: 0, granularity: global }\n' }))).toThrow(/platform.directPost/);
    const r = run(scenario({ directPost: false, steps: '' }));
    for (const a of [
      { kind: 'write-dpta', iommu: 0, value: 1n },
      { kind: 'invalidate-dpt', iommu: 0, descriptor: encodeDptInvalidation({ granularity: 'global' }) },
    ] as const) {
      const t = applyAction(r.final, a);
      expect(t.events.map((e) => e.kind)).toEqual(['action-rejected']);
    }
  });

  it('a source or entry invalidation step without sid is a scenario error', () => {
    expect(() => run(scenario({ steps: '  - invalidate-dpt: { iommu: 0, granularity: source }\n' }))).toThrow(/sid/);
    expect(() => run(scenario({ steps: '  - invalidate-dpt: { iommu: 0, granularity: entry, sid: "05:00.0" }\n' }))).toThrow(/vapicId/);
  });
});
