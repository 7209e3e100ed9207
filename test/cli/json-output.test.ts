/**
 * specs/output.schema.json against real output: `run`, `check`, `explore`, `dump` and `decode`
 * with `--json` print what the schema says (one rule for types: addresses and 64-bit values as
 * 0x-hex strings, small fields as numbers, `bb:dd.f`, `vm1.vcpu0`, verdicts in P1..P7 order),
 * and the schema rejects each deliberately broken line.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import AjvModule from 'ajv';
import { cli, jsonLines, repo } from './cli-harness.ts';

type AjvCtor = typeof AjvModule.default;
const Ajv = ((AjvModule as unknown as { default?: AjvCtor }).default ?? AjvModule) as AjvCtor;
const schema = JSON.parse(readFileSync(repo('specs/output.schema.json'), 'utf8')) as Record<string, unknown>;
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowMatchingProperties: true });
ajv.addSchema(schema);
const ID = 'https://remapsim.dev/specs/output.schema.json';

/** The validation errors of `value` against definition `def`, as text ('' when valid). */
function errors(def: string, value: unknown): string {
  const v = ajv.getSchema(`${ID}#/definitions/${def}`);
  if (v === undefined) throw new Error(`no definition ${def}`);
  return v(value) ? '' : ajv.errorsText(v.errors);
}

const ORDER = ['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7'];
/** True when `props` is in P1..P7 order. */
const inOrder = (props: readonly string[]): boolean => props.every((p, i) => i === 0 || ORDER.indexOf(props[i - 1]!) < ORDER.indexOf(p));

describe('specs/output.schema.json', () => {
  it('compiles in ajv strict mode, and the root accepts any documented output', () => {
    const root = ajv.getSchema(ID)!;
    expect(root({ kind: 'verdict', property: 'P1', held: true, violations: [] })).toBe(true);
    expect(root({ kind: 'verdict', property: 'P9', held: true, violations: [] })).toBe(false);
  });

  it.each([
    ['specs/default.yaml'],
    ['specs/examples/posted-kvm.yaml'],
    ['specs/amd/avic-posted.yaml'],
    ['specs/dma/nested.yaml'],
    ['specs/vmm/qemu-kvm-posted.yaml'],
    ['specs/policies/counterexample-kvm-broken-ndst-after-move.yaml'],
  ])('run %s --json: every line valid, verdicts last in P1..P7 order, vCPUs named', async (file) => {
    const r = await cli(['run', repo(file), '--json']);
    const rows = jsonLines(r.out);
    for (const row of rows) expect(errors('runLine', row), JSON.stringify(row)).toBe('');
    const verdicts = rows.filter((x) => x['kind'] === 'verdict');
    expect(verdicts[0]!['property']).toBe('P1');
    expect(inOrder(verdicts.map((x) => String(x['property'])))).toBe(true);
    expect(rows.slice(-verdicts.length)).toEqual(verdicts);
    for (const row of rows) if (typeof row['vcpu'] === 'number') expect(row['vcpuName']).toMatch(/^[\w-]+\.vcpu\d+$/);
  });

  it('check --json: a counterexample (not written) and a held check', async () => {
    const cx = await cli(['check', repo('specs/attacks/stale-iec-insecure.yaml'), '--json', '--no-write', '--workers', '1']);
    expect(cx.code).toBe(1);
    const j = JSON.parse(cx.out) as Record<string, unknown>;
    expect(errors('check', j)).toBe('');
    expect(j).toMatchObject({ kind: 'check', outcome: 'counterexample', properties: ['P1', 'P5'], counterexample: { property: 'P1', step: 9, written: null, replayed: true } });
    const held = await cli(['check', repo('specs/default.yaml'), '--json', '--runs', '20', '--steps', '8', '--workers', '1']);
    expect(held.code).toBe(0);
    const h = JSON.parse(held.out) as Record<string, unknown>;
    expect(errors('check', h)).toBe('');
    expect(h).toMatchObject({ outcome: 'held', runs: 20, counterexample: null });
    expect(inOrder(h['properties'] as string[])).toBe(true);
  });

  it('explore --json', async () => {
    const r = await cli(['explore', '--topology', '1s:4c:1t', '--schemes', 'xapic-physical,x2apic-compat', '--sweep', '1..4', '--json']);
    expect(r.code).toBe(0);
    expect(errors('explore', JSON.parse(r.out))).toBe('');
  });

  it.each([['specs/default.yaml'], ['specs/examples/posted-kvm.yaml'], ['specs/amd/avic-posted.yaml']])('dump %s --json', async (file) => {
    const r = await cli(['dump', repo(file), '--json']);
    expect(r.code).toBe(0);
    const rows = jsonLines(r.out);
    expect(rows.filter((x) => x['kind'] === 'dump-irte').length).toBeGreaterThan(0);
    for (const row of rows) expect(errors('dumpLine', row), JSON.stringify(row)).toBe('');
  });

  it('dump --json of a posted VT-d scenario names each descriptor\'s vCPU', async () => {
    const rows = jsonLines((await cli(['dump', repo('specs/examples/posted-kvm.yaml'), '--json'])).out);
    const pids = rows.filter((x) => x['kind'] === 'dump-pid');
    expect(pids.map((x) => x['vcpuName'])).toEqual(['vm1.vcpu1', 'vm2.vcpu0']);
    expect(rows.find((x) => x['kind'] === 'dump-irte')).toMatchObject({ mode: 'posted', virtualVector: 0x41, sidDevice: '05:00.0', pda: '0x40000040' });
  });

  it('decode --json: data is a number, devices bb:dd.f (the segment only when not 0)', async () => {
    const one = JSON.parse((await cli(['decode', 'msi', 'fee00538', '0', '--json'])).out) as Record<string, unknown>;
    expect(errors('decode', one)).toBe('');
    expect(one).toMatchObject({ address: '0xfee00538', data: 0 });
    const rows = jsonLines((await cli(['decode', 'lspci', repo('data/real-inputs/lspci/dell-latitude-9420_8A77983183EB_arch-6.2.10_lspci-vvnn.txt'), '--json'])).out);
    for (const row of rows) expect(errors('decode', row), JSON.stringify(row)).toBe('');
    expect(rows.map((x) => x['device'])).toEqual(expect.arrayContaining(['00:14.0', '10000:e0:06.0']));
    expect(rows.some((x) => String(x['device']).startsWith('0000:'))).toBe(false);
  });

  it('groups --json: every device in the one BDF form', async () => {
    for (const file of [repo('specs/default.yaml'), repo('data/real-inputs/lspci/dell-latitude-9420_8A77983183EB_arch-6.2.10_lspci-vvnn.txt')]) {
      const rows = jsonLines((await cli(['groups', file, '--json'])).out).filter((x) => Array.isArray(x['devices']));
      expect(rows.length).toBeGreaterThan(0);
      for (const d of rows.flatMap((x) => x['devices'] as string[])) expect(errors('bdf', d), d).toBe('');
    }
  });

  it('rejects what breaks the rule', () => {
    const event = { kind: 'interrupt-delivered', device: '03:00.1', rid: 769, address: '0xfee00458', data: 0, vector: 50, step: 1, scenarioStep: 1 };
    expect(errors('event', event)).toBe('');
    expect(errors('event', { ...event, data: '0x0000' })).not.toBe(''); // data is a number
    expect(errors('event', { ...event, address: 4276094040 })).not.toBe(''); // an address is hex
    expect(errors('event', { ...event, device: '0000:03:00.1' })).not.toBe(''); // one BDF form: no 0000:
    expect(errors('event', { ...event, device: '10000:e0:06.0' })).toBe(''); // a segment other than 0 is kept
    expect(errors('event', { ...event, device: '03:00.1 ' })).not.toBe('');
    expect(errors('event', { ...event, vcpu: 0, vcpuName: 'vCPU 0' })).not.toBe(''); // one vCPU name
    expect(errors('event', { ...event, extra: { deep: [2 ** 60] } })).not.toBe(''); // > 2^53: a hex string
    expect(errors('runLine', { kind: 'verdict', property: 'P5', held: true, violations: [] })).not.toBe(''); // run has no P5 verdict
    expect(errors('decode', { address: '0xfee00538', data: '0x0000', format: 'remappable' })).not.toBe('');
    expect(errors('dumpLine', { kind: 'dump-pid', iommu: 0, irteIndex: 0, pda: '0x40', pir: [], on: false, sn: false, nv: 242, ndst: 1, vcpuName: 'vCPU 1' })).not.toBe('');
    expect(inOrder(['P1', 'P6'])).toBe(true);
    expect(inOrder(['P6', 'P1'])).toBe(false);
  });
});
