// Linux intel-iommu debugfs dumps (src/inputs/debugfs.ts) and `remapsim import debugfs`
// (src/cli/import-debugfs.ts): the real Kaby Lake examples parse with every field checked
// against its raw IRTE, a tampered row is bad input naming the line, and the generated
// scenario runs with the machine's IRTEs and answers P1 for the owners given.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';
import { parseDebugfs } from '../../src/inputs/debugfs.ts';
import { irteApicIds, impliedEime } from '../../src/cli/import-debugfs.ts';
import { InputError } from '../../src/io/input-error.ts';
import { encodeIrte } from '../../src/vtd/irte.ts';

const FILE = repo('data/real-inputs/debugfs/intel-iommu-debugfs-kabylake-examples.txt');
const text = readFileSync(FILE, 'utf8');
const tmp = tempDir('debugfs');
afterAll(() => tmp.cleanup());

describe('parseDebugfs on the real Kaby Lake examples', () => {
  const d = parseDebugfs(text, FILE);

  it('reads both IR tables with their raw entries, the posted section, root/context entries and the register bases', () => {
    expect(d.elided).toBe(true);
    expect(d.ir.map((u) => [u.name, u.tableAddress, u.posted, u.entries.length])).toEqual([
      ['dmar0', 0x100900000n, true, 2],
      ['dmar1', 0x100300000n, false, 1],
    ]);
    expect(d.ir[0]!.entries[0]).toMatchObject({ index: 0, sid: 0x50, mode: 'remapped', destination: 0x80, vector: 0x24, raw: (0x0000000000040050n << 64n) | 0x000000800024000dn, line: 51 });
    expect(d.ir[1]!.entries[0]).toMatchObject({ index: 0, sid: 0x10, destination: 2, vector: 0x26 });
    expect(d.dmar.map((u) => [u.name, u.rootTableAddress, u.contexts.map((c) => [c.rid, c.pasid])])).toEqual([
      ['dmar1', 0x103027000n, [[0x10, -1]]],
      ['dmar0', 0x103028000n, [[0x50, 0]]],
    ]);
    expect(d.dmar[0]!.contexts[0]!.context).toEqual([0x102n, 0x10303f005n]);
    expect(d.dmar[1]!.contexts[0]!.pasidEntry).toEqual([0n, 0x800002n, 0x1038a5089n]);
    expect(d.regsets.map((r) => [r.name, r.registerBase, r.registers['GSTS']])).toEqual([
      ['dmar0', 0x26be37000n, 0xc7000000n],
      ['dmar1', 0xfed90000n, 0xc7000000n],
      ['dmar2', 0xfed91000n, 0xc7000000n],
    ]);
  });

  it("reads the kernel's own one-line print_tbl_walk layout (tabs) as the documentation's split one", () => {
    const real = 'IOMMU dmar1: Root Table Address: 0x103027000\nB.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry\n00:02.0\t0x0000000000000000:0x000000010303e001\t0x0000000000000102:0x000000010303f005\t-1    \t0x0000000000000000:0x0000000000000000:0x0000000000000000\n';
    const a = parseDebugfs(real, 'x').dmar[0]!.contexts[0]!;
    const b = d.dmar[0]!.contexts[0]!;
    expect({ ...a, line: 0 }).toEqual({ ...b, line: 0 });
  });

  it('a row whose printed field disagrees with its raw value is an InputError naming the line (each field)', () => {
    const cases: [string, string, RegExp][] = [
      [' 0     00:0a.0 00000080 24  ', ' 0     00:0a.0 00000080 25  ', /Vct/],
      [' 0     00:0a.0 00000080 24  ', ' 0     00:0b.0 00000080 24  ', /SrcID/],
      [' 0     00:0a.0 00000080 24  ', ' 0     00:0a.0 00000081 24  ', /DstID/],
      ['0000000000040050    000000800024000d', '0000000000040050    000000800024800d', /format/],
    ];
    for (const [from, to, what] of cases) {
      const bad = text.replace(from, to);
      expect(bad).not.toBe(text);
      let err: unknown;
      try {
        parseDebugfs(bad, FILE);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).format()).toMatch(new RegExp(`:51: ir_translation_struct \\(remapped\\): IRTE 0: the printed ${what.source}`));
    }
    expect(() => parseDebugfs('hello\n', 'x.txt')).toThrow(/no intel-iommu debugfs output found/);
    expect(() => parseDebugfs('Remapped Interrupt supported on IOMMU: dmar0\n IR table address:1000\n 0     00:0a.0 zz\n', 'x.txt')).toThrow(/malformed remapped IRTE row/);
  });

  it('any remapped IRTE printed as Linux prints it parses back to its fields (fixed seed)', () => {
    const arb = fc.record({ index: fc.integer({ min: 0, max: 0xffff }), sid: fc.integer({ min: 0, max: 0xffff }), dst: fc.integer({ min: 0, max: 0xffffffff }), vector: fc.integer({ min: 0, max: 255 }) });
    fc.assert(
      fc.property(arb, ({ index, sid, dst, vector }) => {
        const raw = encodeIrte({ mode: 'remapped', present: true, fpd: false, destinationModeLogical: false, redirectionHint: false, triggerLevel: false, deliveryMode: 0, avail: 0, vector, destination: dst, sid, sq: 0, svt: 1 });
        const h = (v: bigint, n: number) => v.toString(16).padStart(n, '0');
        const bdf = `${h(BigInt(sid >> 8), 2)}:${h(BigInt((sid >> 3) & 0x1f), 2)}.${sid & 7}`;
        const row = ` ${String(index).padEnd(5)} ${bdf} ${h(BigInt(dst), 8)} ${h(BigInt(vector), 2)}  ${h(raw >> 64n, 16)}\t${h(raw & ((1n << 64n) - 1n), 16)}`;
        const e = parseDebugfs(`Remapped Interrupt supported on IOMMU: dmar0\n IR table address:1000\n${row}\n`, 'x').ir[0]!.entries[0]!;
        return e.index === index && e.sid === sid && e.destination === dst && e.vector === vector && e.raw === raw;
      }),
      { seed: 14, numRuns: 200 },
    );
  });

  it('destinations: logical x2APIC DST names cluster members; EIME is implied by the DST values', () => {
    expect(irteApicIds(d.ir[0]!.entries[0]!.raw, true)).toEqual([7]);
    expect(irteApicIds(d.ir[0]!.entries[1]!.raw, true)).toEqual([0]);
    expect(irteApicIds((0n << 64n) | (0x0003_0005n << 32n) | 0x0004n | 1n, true)).toEqual([0x30, 0x32]);
    expect(impliedEime(d.ir)).toBe(true);
    expect(impliedEime([{ ...d.ir[0]!, entries: [{ ...d.ir[0]!.entries[0]!, destination: 0x0300 }] }])).toBe(false);
  });
});

describe('remapsim import debugfs', () => {
  it('prints the tables decoded, and --json with hex strings', async () => {
    const r = await cli(['import', 'debugfs', FILE]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('dmar0: IR table 0x100900000, CAP.PI, register base 0x26be37000: 2 present IRTE(s)');
    expect(r.out).toContain('  IRTE 0x0: P V=0x24 DST=00000080 fixed edge logical RH SVT=1(requester-id) SQ=0 SID=00:0a.0');
    expect(r.out).toContain('  00:02.0: context table 0x10303e000, DID 1, TT=1 (second-stage + device-TLB), AW=2, SLPTPTR 0x10303f000');
    const j = JSON.parse((await cli(['import', 'debugfs', FILE, '--json'])).out) as { ir: { entries: { raw: string; sid: string }[] }[] };
    expect(j.ir[0]!.entries[0]).toMatchObject({ raw: '0x40050000000800024000d', sid: '00:0a.0' });
  });

  it('--scenario writes the machine IRT: P1 holds when the owner has the CPUs the IRTEs name, and names the IRTE otherwise', async () => {
    const ok = tmp.dir + '/ok.yaml';
    const w = await cli(['import', 'debugfs', FILE, '--scenario', ok, '--owners', '00:0a.0=vm1', '--cpus', 'vm1=0+7']);
    expect(w.code).toBe(0);
    const scenario = readFileSync(ok, 'utf8');
    expect(scenario).toContain('enable-ir: { iommu: 0, base: 0x100900000, eime: true, entries: 65536 }');
    expect(scenario).toContain('irte: { iommu: 0, index: 0x0, raw: 0x40050000000800024000d }');
    expect(scenario).toContain('- { name: vm1, kind: guest, cpus: [0, 7], devices: ["00:0a.0"] }');
    const run = await cli(['run', ok]);
    expect(run.code).toBe(0);
    expect(run.out).toContain('remapped by dmar0 IRTE 0x0 (IEC miss): vector 0x24 fixed edge logical dest 0x80 → cpu7');
    expect(run.out).toContain('P1 interrupt isolation: HELD (3 deliveries, 0 blocked)');
    const bad = tmp.dir + '/bad.yaml';
    await cli(['import', 'debugfs', FILE, '--scenario', bad, '--owners', '00:0a.0=vm1', '--cpus', 'vm1=7']);
    const r = await cli(['run', bad]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/VIOLATION P1 .*00:0a\.0 .*reached cpu0 \(APIC 0\) with vector 0xef fixed via the remapped path \(IRTE 1\): no grant covers it/);
  });

  it('bad options are exit 2 naming the option', async () => {
    const a = await cli(['import', 'debugfs', FILE, '--scenario', tmp.dir + '/x.yaml', '--owners', '00:1f.0=vm1']);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--owners: 00:1f\.0 has no IRTE or context entry in the dump \(devices: 00:02\.0, 00:0a\.0\)/);
    const b = await cli(['import', 'debugfs', FILE, '--scenario', tmp.dir + '/x.yaml', '--cpus', 'vm1=a-b']);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/--cpus: expected APIC IDs/);
  });
});
