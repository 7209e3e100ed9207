// The configuration table (src/explorer/config.ts) agrees with what each scheme simulates, a
// broken table is caught, and `remapsim explore` prints — for a 384-vCPU Linux guest — the exact
// QEMU and libvirt options of every scheme that reaches all vCPUs, in text and JSON.
import { beforeAll, describe, expect, it } from 'vitest';
import { configProblems, qemuCommandLine, qemuSmp, SCHEME_CONFIGS, VMM_LIMITS, type SchemeConfig } from '../../src/explorer/config.ts';
import { ALL_SCHEME_IDS, SCHEMES } from '../../src/explorer/schemes.ts';
import { parseSweep, sweepPoints } from '../../src/explorer/explore.ts';
import { loadGuestSupport, validateGuestSupport } from '../../src/explorer/guest-support.ts';
import { parseTopology } from '../../src/explorer/topology.ts';
import { InputError } from '../../src/io/input-error.ts';
import { cli } from '../cli/cli-harness.ts';

describe('configuration table', () => {
  it('every scheme has a configuration consistent with what it simulates, each entry sourced', () => {
    for (const id of ALL_SCHEME_IDS) {
      const c = SCHEME_CONFIGS[id];
      expect(configProblems(SCHEMES[id], c), id).toEqual([]);
      for (const part of [c.qemu, c.libvirt]) if (part !== undefined) expect(part.sources.length, id).toBeGreaterThan(0);
    }
    for (const v of VMM_LIMITS) {
      expect(v.sources.length).toBeGreaterThan(0);
      expect(v.limits.length).toBeGreaterThan(0);
    }
  });

  it('the check fails on deliberately broken entries', () => {
    const ir = SCHEME_CONFIGS['viommu-ir'];
    const withArgs = (c: SchemeConfig, args: string[]): SchemeConfig => ({ ...c, qemu: { ...c.qemu!, args } });
    const broken: [SchemeConfig, string][] = [
      [withArgs(ir, ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-device', 'intel-iommu,intremap=on,dma-translation=off']), 'eim'],
      [withArgs(ir, ['-machine', 'q35,accel=kvm', '-device', 'intel-iommu,intremap=on,eim=on,dma-translation=off']), 'kernel-irqchip=split'],
      [withArgs(ir, ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-device', 'intel-iommu,intremap=on,eim=on']), 'dma-translation'],
      [{ ...ir, libvirt: { ...ir.libvirt!, xml: ["<devices><iommu model='intel'><driver intremap='on'/></iommu></devices>"] } }, 'eim'],
      [withArgs(SCHEME_CONFIGS['ext-dest-id'], ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-cpu', 'host']), 'kvm-msi-ext-dest-id'],
    ];
    for (const [c, word] of broken) {
      const scheme = c.scheme;
      const problems = configProblems(SCHEMES[scheme], c);
      expect(problems.join(' | '), `${scheme} broken by ${word}`).toContain(word);
    }
    // AMD: XT without xtsup, and DMA remapping claimed without dma-remap=on.
    const xt = SCHEME_CONFIGS['amd-viommu-xt-dma'];
    expect(configProblems(SCHEMES['amd-viommu-xt-dma'], withArgs(xt, ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-device', 'amd-iommu,intremap=on,dma-remap=on'])).join(' ')).toContain('xtsup');
    expect(configProblems(SCHEMES['amd-viommu-xt-dma'], withArgs(xt, ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-device', 'amd-iommu,intremap=on,xtsup=on'])).join(' ')).toContain('dma-remap');
    // The hypothetical scheme must not pretend to have a VMM configuration.
    expect(configProblems(SCHEMES['direct-vcpu-msi'], { ...SCHEME_CONFIGS['direct-vcpu-msi'], qemu: ir.qemu })).not.toEqual([]);
  });

  it('-smp follows the topology (dies only when more than one); a list has none', () => {
    expect(qemuSmp(parseTopology('6s:32c:2t'), 384)).toBe('384,sockets=6,cores=32,threads=2');
    expect(qemuSmp(parseTopology('2s:2d:24c:4t'), 384)).toBe('384,sockets=2,dies=2,cores=24,threads=4');
    expect(qemuSmp(undefined, 384)).toBeUndefined();
    expect(qemuCommandLine(SCHEME_CONFIGS['viommu-ir'].qemu!, '8,sockets=1,cores=8,threads=1')).toBe(
      '-machine q35,accel=kvm,kernel-irqchip=split -device intel-iommu,intremap=on,eim=on,dma-translation=off -smp 8,sockets=1,cores=8,threads=1',
    );
  });

  it('--sweep takes any size: N is 1..N', () => {
    expect(parseSweep('384')).toEqual({ lo: 1, hi: 384 });
    expect(sweepPoints(1, 384)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 384]);
    for (const bad of ['0', '384..', '..384', '9000']) expect(() => parseSweep(bad)).toThrow(InputError);
  });

  it('guest-support `requires` is optional text; an empty one is refused naming the field', () => {
    expect(loadGuestSupport().rows.find((r) => r.guest === 'linux' && r.scheme === 'ext-dest-id')!.requires).toContain('5.10');
    const row = { guest: 'linux', scheme: 'viommu-ir', support: 'yes', confidence: 'reported', note: 'x', sources: ['a'] };
    expect(validateGuestSupport({ guests: { linux: 'L' }, rows: [row] }, 'f').rows[0]!.requires).toBeUndefined();
    try {
      validateGuestSupport({ guests: { linux: 'L' }, rows: [{ ...row, requires: ' ' }] }, 'f');
      expect.unreachable();
    } catch (e) {
      expect((e as InputError).field).toBe('rows[0].requires');
    }
  });
});

describe('remapsim explore names the configuration (384-vCPU Linux guest)', () => {
  let text = '';
  let json: { rows: { scheme: string; reachable: number; vcpus: number; configuration: { qemuCommandLine?: string; libvirt?: { xml: string[] } } }[]; vmms: { vmm: string; fits: boolean }[] };
  beforeAll(async () => {
    const [t, j] = await Promise.all([
      cli(['explore', '--topology', '6s:32c:2t', '--guest', 'linux', '--schemes', 'xapic-physical,ext-dest-id,viommu-ir,viommu-ir-dma']),
      cli(['explore', '--topology', '6s:32c:2t', '--guest', 'linux', '--schemes', 'xapic-physical,ext-dest-id,viommu-ir,viommu-ir-dma', '--json']),
    ]);
    expect(t.code).toBe(0);
    expect(j.code).toBe(0);
    text = t.out;
    json = JSON.parse(j.out) as typeof json;
  }, 120_000);

  it('prints the exact QEMU and libvirt options of each scheme that reaches all 384 vCPUs', () => {
    const smp = '-smp 384,sockets=6,cores=32,threads=2';
    const expected: Record<string, { qemu: string; libvirt: string[] }> = {
      'ext-dest-id': { qemu: `-machine q35,accel=kvm,kernel-irqchip=split -cpu host,kvm-msi-ext-dest-id=on ${smp}`, libvirt: ["<features><ioapic driver='qemu'/></features>"] },
      'viommu-ir': {
        qemu: `-machine q35,accel=kvm,kernel-irqchip=split -device intel-iommu,intremap=on,eim=on,dma-translation=off ${smp}`,
        libvirt: ["<features><ioapic driver='qemu'/></features>", "<devices><iommu model='intel'><driver intremap='on' eim='on'/></iommu></devices>"],
      },
      'viommu-ir-dma': {
        qemu: `-machine q35,accel=kvm,kernel-irqchip=split -device intel-iommu,intremap=on,eim=on,caching-mode=on ${smp}`,
        libvirt: ["<devices><iommu model='intel'><driver intremap='on' eim='on' caching_mode='on'/></iommu></devices>"],
      },
    };
    const all = json.rows.filter((r) => r.reachable === r.vcpus).map((r) => r.scheme);
    expect([...new Set(all)]).toEqual(Object.keys(expected));
    for (const [scheme, e] of Object.entries(expected)) {
      const block = text.slice(text.indexOf(`  ${SCHEMES[scheme as keyof typeof SCHEMES].label} — reaches all 384 vCPUs`));
      expect(block.length, scheme).toBeLessThan(text.length);
      expect(block).toContain(`QEMU:    ${e.qemu}`);
      for (const x of e.libvirt) expect(block).toContain(x);
      const row = json.rows.find((r) => r.scheme === scheme)!;
      expect(row.configuration.qemuCommandLine).toBe(e.qemu);
      for (const x of e.libvirt) expect(row.configuration.libvirt!.xml).toContain(x);
    }
    expect(text).toContain('xAPIC physical — reaches 255 of 384 vCPUs (remapped, posted)');
    expect(text).toContain('guest:   Linux (x86-64): Linux 5.10 or later on KVM');
    // The default table keeps its rows.
    expect(text).toMatch(/vIOMMU IR \(EIM\)\s+│ posted\s+│ 384\/384/);
  });

  it('says which other VMMs can run the VM at all', () => {
    expect(json.vmms.map((v) => [v.vmm, v.fits])).toEqual([
      ['cloud-hypervisor', true],
      ['Firecracker', false],
    ]);
    expect(text).toMatch(/Firecracker: at most 32 vCPUs.* — 384 vCPUs do not fit/);
  });
});
