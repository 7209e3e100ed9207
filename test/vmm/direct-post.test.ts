/**
 * The HYPOTHETICAL direct-post VMM design (src/vmm/designs/direct-post.ts; seed thread 000,
 * David Woodhouse's <fantasy>): `vmm-start` writes the root entries and the vAPIC table as
 * bytes (decoded back with the hardware's own decoders), invalidates, enables DPTA and grants
 * a vector range; the untrapped MSI-X table is written through; interrupts are posted into a
 * running vCPU (no exit) and a blocked one (the host is notified); key vapic-id lets a guest's
 * function post into another guest (P1); the no-invalidate variant posts through a stale cache
 * entry after the function moved (P1). Scenarios run end to end (specs/vmm/direct-post.yaml,
 * specs/attacks/direct-post-vapic-key-*.yaml, inline ones).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseScenarioFile, parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario, type RunResult } from '../../src/scenario/run.ts';
import { formatEvent } from '../../src/scenario/trace.ts';
import { InputError } from '../../src/io/input-error.ts';
import { VMM_DESIGNS } from '../../src/vmm/index.ts';
import { DIRECT_POST_DESIGNS, tsFor, vapicTableOf } from '../../src/vmm/designs/direct-post.ts';
import { vmmRefusal } from '../../src/vmm/respond.ts';
import { vmmCosts } from '../../src/vmm/costs.ts';
import { grantCoversVector, type Grant } from '../../src/platform/state.ts';
import { vcpuList } from '../../src/platform/vcpu-table.ts';
import { checkPosting } from '../../src/properties/p1-interrupt-isolation.ts';
import { decodeDpta, decodeRootEntry, decodeVapicEntry, rootEntryAddress, vapicEntryAddress } from '../../src/hypothetical/direct-post/table.ts';

const repo = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const runFile = (p: string): RunResult => runScenario(compileScenario(parseScenarioFile(repo(p))));
const runText = (text: string): RunResult => runScenario(compileScenario(parseScenarioText(text, 'direct-post.yaml')));
const lines = (r: RunResult, from = 0): string[] => r.steps.slice(from).flatMap((s) => s.events.map((e) => formatEvent(e, r.final)));
const violationsOf = (r: RunResult): string[] => [...r.violations.map((v) => `P1 ${v.message}`), ...r.guestIntent.map((v) => `P7 ${v.message}`), ...r.accountability.map((v) => `P6 ${v.message}`)];
const TABLE_BASE = 0x2_0000_0000n;

/** vm1 (vCPUs with APIC IDs `ids1` on cpu1..) owns 05:00.0; vm2 (one vCPU, APIC 0) owns 06:00.0. */
function platform(o: { vmm?: string; key?: 'source-id' | 'vapic-id'; directPost?: boolean; ids1?: readonly number[]; vectorBits?: number } = {}): string {
  const ids1 = o.ids1 ?? [0, 2];
  const dp = o.directPost === false ? '' : `  directPost: { key: ${o.key ?? 'source-id'}${o.vectorBits === undefined ? '' : `, vectorBits: ${o.vectorBits}`} }\n`;
  return `
name: dp
platform:
  hostAddressWidth: 39
  apicMode: x2apic
  cpus: { count: ${2 + ids1.length} }
  policy: kvm
  vmm: ${o.vmm ?? 'direct-post'}
${dp}  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0xf020fe }
devices:
  - { bdf: "05:00.0", msix: { tableSize: 2 } }
  - { bdf: "06:00.0", msix: { tableSize: 1 } }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [${ids1.map((_, i) => i + 1).join(', ')}], vcpus: [${ids1.join(', ')}], devices: ["05:00.0"] }
  - { name: vm2, kind: guest, cpus: [${ids1.length + 1}], vcpus: 1, devices: ["06:00.0"] }
steps:
  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }
${ids1.map((_, i) => `  - schedule: { vm: vm1, vcpu: ${i}, pcpu: ${i + 1} }\n`).join('')}  - schedule: { vm: vm2, vcpu: 0, pcpu: ${ids1.length + 1} }
`;
}
/** vm1's driver: Enable, entry `k` → APIC ID `apic` vector `data` (low dword of data), unmasked. */
const program = (device: string, k: number, apic: number, data: number): string =>
  `  - guest-mmio: { device: "${device}", bar: 0, offset: ${0x10 * k}, size: 8, value: ${0xfee00000 + apic * 0x1000} }\n  - guest-mmio: { device: "${device}", bar: 0, offset: ${0x10 * k + 8}, size: 8, value: ${data} }\n`;
const ENABLE = (device: string): string => `  - guest-config: { device: "${device}", offset: 0x72, size: 2, value: 0x8000 }\n`;

describe('the registry and the scenario', () => {
  it('has direct-post and its broken variant, both hypothetical, not compared by default, and the schema admits them', () => {
    expect(DIRECT_POST_DESIGNS.map((d) => [d.name, d.broken, d.comparedByDefault])).toEqual([
      ['direct-post', false, false],
      ['direct-post-broken-no-invalidate', true, false],
    ]);
    for (const d of DIRECT_POST_DESIGNS) {
      expect(VMM_DESIGNS[d.name]).toBe(d);
      expect(d.source).toMatch(/HYPOTHETICAL/);
      expect(d.source).toMatch(/seed thread 000/);
      expect(d.onStart).toBeTypeOf('function');
    }
    const schema = JSON.parse(readFileSync(repo('specs/scenario.schema.json'), 'utf8')) as { definitions: { platform: { properties: { vmm: { else: { enum: string[] } } } } } };
    expect(schema.definitions.platform.properties.vmm.else.enum).toEqual(expect.arrayContaining(DIRECT_POST_DESIGNS.map((d) => d.name)));
  });

  it('platform.vmm direct-post without platform.directPost is a compile error naming platform.vmm', () => {
    let err: unknown;
    try {
      compileScenario(parseScenarioText(platform({ directPost: false }), 'x.yaml'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).format()).toMatch(/platform\.vmm/);
    expect((err as InputError).format()).toMatch(/directPost/);
  });

  it('vmm-start names a guest: the host is a compile error; the request is refused for a non-guest', () => {
    expect(() => compileScenario(parseScenarioText(platform() + '  - vmm-start: { vm: host }\n', 'x.yaml'))).toThrow(/not a guest/);
    expect(() => compileScenario(parseScenarioText(platform() + '  - vmm-start: { vm: vm9 }\n', 'x.yaml'))).toThrow(/no domain vm9/);
    const r = runText(platform());
    expect(vmmRefusal(r.final, { kind: 'vmm-start', domain: 0 })).toMatch(/host, not a guest/);
    expect(vmmRefusal(r.final, { kind: 'vmm-start', domain: 1 })).toBeUndefined();
  });

  it('a design without onStart answers vmm-start with a note', () => {
    const r = runText(platform({ vmm: 'qemu-kvm' }) + '  - vmm-start: { vm: vm1 }\n');
    expect(lines(r, r.steps.length - 1).join('\n')).toMatch(/qemu-kvm design sets nothing up per VM/);
  });
});

describe('vmm-start (key source-id)', () => {
  const r = runText(platform({ ids1: [0, 2, 5] }) + '  - vmm-start: { vm: vm1 }\n');
  const s = r.final;
  const start = r.steps[r.steps.length - 1]!;

  it('writes the vAPIC table (index = APIC ID, PDA = the PID, URG 0) and then the root entry for the arriving requester ID, as bytes', () => {
    const where = vapicTableOf(s, 1)!;
    expect(where).toEqual({ table: TABLE_BASE + 0x80000n, ts: tsFor(5) });
    expect(where.ts).toBe(3);
    const vm1 = vcpuList(s.vcpus).filter((v) => v.domain === 1);
    for (const v of vm1) {
      expect(decodeVapicEntry(s.memory.readLE(vapicEntryAddress(where.table, v.apicId), 8))).toEqual({ present: true, urgent: false, pda: v.pda, reserved: 0n });
    }
    // APIC IDs no vCPU has are not present.
    for (const id of [1, 3, 4, 6, 7]) expect(decodeVapicEntry(s.memory.readLE(vapicEntryAddress(where.table, id), 8)).present).toBe(false);
    const root = decodeRootEntry(s.memory.readLE(rootEntryAddress(TABLE_BASE, s.devices['05:00.0']!.busRid), 8));
    expect(root).toEqual({ present: true, ts: 3, table: where.table, reserved: 0n });
    // vm2's function has no root entry yet.
    expect(decodeRootEntry(s.memory.readLE(rootEntryAddress(TABLE_BASE, 0x0600), 8)).present).toBe(false);
    // Order: every vAPIC entry before the root entry, the invalidation after it, DPTA last.
    const kinds = start.events.filter((e) => e.kind === 'memory-write' || e.kind === 'direct-post').map((e) => (e.kind === 'memory-write' ? (e.what ?? '') : e.change));
    const rootAt = kinds.findIndex((k) => k.startsWith('direct-post root entry'));
    expect(kinds.slice(0, rootAt).every((k) => k.startsWith('direct-post vAPIC entry'))).toBe(true);
    expect(rootAt).toBe(3);
    expect(kinds.slice(rootAt + 1)).toEqual(['invalidation', 'dpta']);
  });

  it('enables DPTA (DPE=1, base = the root table), counts one table-write per entry, and grants 0x10..0xff into each vCPU of the owner', () => {
    expect(decodeDpta(s.iommus[0]!.directPost!.dpta)).toMatchObject({ enable: true, base: TABLE_BASE });
    expect(vmmCosts(r.steps, s).all.tableWrites).toBe(4);
    const grants = s.intent.grants.filter((g) => g.requester === '05:00.0');
    expect(grants.map((g) => [g.target, g.vector, g.lastVector])).toEqual(vcpuList(s.vcpus).filter((v) => v.domain === 1).map((v) => [{ kind: 'vcpu', vcpu: v.id }, 0x10, 0xff]));
  });

  it('a second vmm-start rewrites the same table and adds no duplicate grant', () => {
    const again = runText(platform({ ids1: [0, 2, 5] }) + '  - vmm-start: { vm: vm1 }\n  - vmm-start: { vm: vm1 }\n');
    expect(again.final.intent.grants.length).toBe(s.intent.grants.length);
    expect(vapicTableOf(again.final, 1)).toEqual(vapicTableOf(s, 1));
  });

  it('vm2 gets its own table after vm1\'s, in whole 4 KiB frames', () => {
    const where = vapicTableOf(s, 2)!;
    expect(where).toEqual({ table: TABLE_BASE + 0x80000n + 0x1000n, ts: 0 });
  });
});

describe('interrupts', () => {
  it('the example (specs/vmm/direct-post.yaml): every expectation holds and every property holds', () => {
    const r = runFile('specs/vmm/direct-post.yaml');
    expect(r.steps.flatMap((s) => s.failures)).toEqual([]);
    expect(violationsOf(r)).toEqual([]);
    expect(r.ok).toBe(true);
    const text = lines(r).join('\n');
    expect(text).toMatch(/hypothetical/i);
    // The guest's MSI-X programming cost nothing: no trap, no exit, no hypercall.
    const c = vmmCosts(r.steps, r.final);
    expect([c.all.traps, c.all.vmExits, c.all.hypercalls, c.all.dmRoundTrips]).toEqual([0, 0, 0, 0]);
  });

  it('the guest\'s MSI-X writes reach the physical table as written (address, data, mask, enable)', () => {
    const r = runText(platform() + '  - vmm-start: { vm: vm1 }\n' + program('05:00.0', 1, 2, 0x46) + ENABLE('05:00.0'));
    const fn = r.final.devices['05:00.0']!.msix!;
    expect(fn.enabled).toBe(true);
    expect(fn.table[1]).toEqual({ address: 0xfee02000n, data: 0x46, masked: false });
    expect(fn.table[0]!.masked).toBe(true);
  });

  it('a raise posts into the vCPU the entry names, on behalf of the function; P1 accepts it through the range grant', () => {
    const r = runText(platform() + '  - vmm-start: { vm: vm1 }\n' + program('05:00.0', 0, 2, 0x77) + ENABLE('05:00.0') + '  - signal: { device: "05:00.0", vector: 0 }\n');
    const posted = r.steps[r.steps.length - 1]!.events.find((e) => e.kind === 'interrupt-posted');
    expect(posted?.kind).toBe('interrupt-posted');
    if (posted?.kind !== 'interrupt-posted') return;
    const vcpu1 = vcpuList(r.final.vcpus).find((v) => v.domain === 1 && v.apicId === 2)!;
    expect([posted.pda, posted.virtualVector, posted.device]).toEqual([vcpu1.pda, 0x77, '05:00.0']);
    expect(violationsOf(r)).toEqual([]);
    // Without the range grant the same posting is a forgery: the check can fail.
    const without = { ...r.final, intent: { ...r.final.intent, grants: r.final.intent.grants.filter((g) => g.lastVector === undefined) } };
    expect(checkPosting(without, posted).map((v) => v.message)).toEqual([expect.stringMatching(/no grant covers it/)]);
  });

  it('another guest\'s function cannot reach vm1: its own root entry names vm2\'s table (vAPIC 2 is not present there: 0xD2)', () => {
    const r = runText(platform() + '  - vmm-start: { vm: vm1 }\n  - vmm-start: { vm: vm2 }\n  - msi: { device: "06:00.0", address: 0xfee02000, data: 0x45 }\n');
    const last = r.steps[r.steps.length - 1]!.events;
    expect(last.some((e) => e.kind === 'interrupt-posted')).toBe(false);
    expect(last.some((e) => e.kind === 'interrupt-fault')).toBe(true);
    expect(r.violations).toEqual([]);
  });
});

describe('grantCoversVector', () => {
  const g: Grant = { requester: 'd', target: { kind: 'vcpu', vcpu: 0 }, vector: 0x10, lastVector: 0xff, deliveryModes: [0, 1] };
  it('covers [vector, lastVector], or the vector alone without lastVector', () => {
    expect([0x0f, 0x10, 0x80, 0xff, 0x100].map((v) => grantCoversVector(g, v))).toEqual([false, true, true, true, false]);
    const { lastVector: _, ...single } = g;
    expect([0x0f, 0x10, 0x11].map((v) => grantCoversVector(single, v))).toEqual([false, true, false]);
  });
});

describe('key vapic-id (the broken hardware): catalog pair direct-post-vapic-key', () => {
  const attackText = (which: 'insecure' | 'secure', steps: string): string => readFileSync(repo(`specs/attacks/direct-post-vapic-key-${which}.yaml`), 'utf8').replace('\ncheck:', `\n${steps}check:`);
  const VM1_SENDS = '  - msi: { device: "05:00.0", address: 0xfee00000, data: 0x45 }\n';

  it('insecure: vm2\'s vmm-start overwrote entry 0 of the shared table; vm1\'s function posts into vm2\'s vCPU (P1)', () => {
    const r = runText(attackText('insecure', VM1_SENDS));
    expect(r.steps.flatMap((s) => s.failures)).toEqual([]);
    expect(r.violations.map((v) => v.message)).toEqual([expect.stringMatching(/05:00\.0 \(owned by vm1\) posted vector 0x45 into vm2\.vcpu0 of another domain/)]);
  });

  it('secure: the same request reaches vm1\'s own vCPU 0', () => {
    const r = runText(attackText('secure', VM1_SENDS));
    expect(r.ok).toBe(true);
    const posted = r.steps[r.steps.length - 1]!.events.find((e) => e.kind === 'interrupt-posted');
    const vm1 = vcpuList(r.final.vcpus).find((v) => v.domain === 1)!;
    expect(posted?.kind === 'interrupt-posted' && posted.pda).toBe(vm1.pda);
  });

  it('the pair differs only in the key (and its notes)', () => {
    const strip = (t: string): string => t.split('\n').filter((l) => !l.startsWith('#') && !l.includes('note:') && !l.startsWith('name:') && !l.includes('directPost:') && !l.includes('HYPOTHETICAL')).join('\n');
    expect(strip(readFileSync(repo('specs/attacks/direct-post-vapic-key-secure.yaml'), 'utf8'))).toBe(strip(readFileSync(repo('specs/attacks/direct-post-vapic-key-insecure.yaml'), 'utf8')));
  });
});

describe('direct-post-broken-no-invalidate: a stale cached entry after the function moved', () => {
  // 05:00.0 posts into vm1's vCPU 0 (cached: (05:00.0, vAPIC 0) → vm1's PID), is reassigned to
  // vm2, and vm2's vmm-start rewrites its root entry to vm2's table; without the invalidation
  // the cached entry still posts into vm1's vCPU.
  const steps =
    '  - vmm-start: { vm: vm1 }\n' +
    '  - msi: { device: "05:00.0", address: 0xfee00000, data: 0x45 }\n' +
    '  - assign: { device: "05:00.0", domain: vm2 }\n' +
    '  - vmm-start: { vm: vm2 }\n' +
    '  - msi: { device: "05:00.0", address: 0xfee00000, data: 0x45 }\n';
  const run = (vmm: string): RunResult => runText(platform({ vmm }) + steps);

  it('broken: the stale entry posts into vm1, which no longer owns the function (P1)', () => {
    const r = run('direct-post-broken-no-invalidate');
    const last = r.steps[r.steps.length - 1]!.events.find((e) => e.kind === 'interrupt-posted');
    expect(last?.kind === 'interrupt-posted' && last.directPost?.cacheHit).toBe(true);
    expect(r.violations.map((v) => v.message)).toEqual([expect.stringMatching(/05:00\.0 \(owned by vm2\) posted vector 0x45 into vm1\.vcpu0 of another domain/)]);
    expect(lines(r).join('\n')).toMatch(/NOT invalidated/);
  });

  it('correct: the invalidation drops it, and the request reaches vm2\'s vCPU', () => {
    const r = run('direct-post');
    expect(r.violations).toEqual([]);
    const last = r.steps[r.steps.length - 1]!.events.find((e) => e.kind === 'interrupt-posted');
    const vm2 = vcpuList(r.final.vcpus).find((v) => v.domain === 2)!;
    expect(last?.kind === 'interrupt-posted' && last.pda).toBe(vm2.pda);
  });
});

describe('properties (fixed seeds)', () => {
  /** vm1 with vCPUs at `ids` (distinct APIC IDs), vmm-start, then 05:00.0 sends a compatibility MSI (extended destination ID) to each; `corrupt`: a step zeroing the vAPIC entry of ids[0] after the start. */
  const reachAll = (ids: readonly number[], vector: number, corrupt: boolean): RunResult => {
    let text = platform({ ids1: ids }).replace('apicMode: x2apic', 'apicMode: x2apic\n  extendedDestinationId: true') + '  - vmm-start: { vm: vm1 }\n';
    if (corrupt) {
      const r0 = runText(text);
      const at = vapicEntryAddress(vapicTableOf(r0.final, 1)!.table, ids[0]!);
      text += `  - write-memory: { address: 0x${at.toString(16)}, bytes: 8, value: 0 }\n`;
    }
    for (const id of ids) text += `  - msi: { device: "05:00.0", address: 0x${(0xfee00000 + (id & 0xff) * 0x1000 + ((id >> 8) & 0x7f) * 0x20).toString(16)}, data: 0x${vector.toString(16)} }\n`;
    return runText(text);
  };
  const reachedAll = (r: RunResult, ids: readonly number[]): boolean => {
    const vm1 = vcpuList(r.final.vcpus).filter((v) => v.domain === 1);
    const tail = r.steps.slice(r.steps.length - ids.length);
    return ids.every((id, i) => {
      const p = tail[i]!.events.find((e) => e.kind === 'interrupt-posted');
      return p?.kind === 'interrupt-posted' && p.pda === vm1.find((v) => v.apicId === id)!.pda;
    });
  };
  const idsArb = fc.uniqueArray(fc.integer({ min: 0, max: 0x7fff }), { minLength: 1, maxLength: 5 });

  it('after vmm-start every vCPU of the guest is reached at its own APIC ID, with any device vector, and P1 holds', () => {
    fc.assert(
      fc.property(idsArb, fc.integer({ min: 16, max: 255 }), (ids, vector) => {
        const r = reachAll(ids, vector, false);
        expect(reachedAll(r, ids)).toBe(true);
        expect(r.violations).toEqual([]);
        // The table is as small as it can be: TS holds the largest APIC ID and no smaller TS does.
        const ts = vapicTableOf(r.final, 1)!.ts;
        expect(2 ** ts > Math.max(...ids) && (ts === 0 || 2 ** (ts - 1) <= Math.max(...ids))).toBe(true);
      }),
      { seed: 0xd1ec, numRuns: 25 },
    );
  });

  it('the same check fails against a broken table (one vAPIC entry cleared after the start)', () => {
    fc.assert(
      fc.property(idsArb, (ids) => {
        const r = reachAll(ids, 0x41, true);
        expect(reachedAll(r, ids)).toBe(false);
      }),
      { seed: 0xbad, numRuns: 10 },
    );
  });
});
