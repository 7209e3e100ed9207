// QEMU command lines and libvirt domain XML → vIOMMU settings → the explorer's schemes
// (src/explorer/vmm-config.ts), and `explore --qemu/--libvirt`.
import { describe, expect, it, afterAll } from 'vitest';
import { cli, tempDir } from '../cli/cli-harness.ts';
import { effectiveSettings, parseLibvirtXml, parseQemuCommandLine, schemesForSettings, shellWords } from '../../src/explorer/vmm-config.ts';
import { InputError } from '../../src/io/input-error.ts';

const available = (s: ReturnType<typeof parseQemuCommandLine>): string[] => schemesForSettings(s).schemes.filter((x) => x.available).map((x) => x.scheme);
const XAPIC = ['xapic-physical', 'xapic-logical-flat', 'xapic-logical-cluster'];
const tmp = tempDir('vmm-config');
afterAll(() => tmp.cleanup());

describe('QEMU command lines', () => {
  it('splits words as a shell does', () => {
    expect(shellWords(`qemu -device 'intel-iommu,intremap=on' \\\n -cpu "host,kvm-msi-ext-dest-id=on"`)).toEqual(['qemu', '-device', 'intel-iommu,intremap=on', '-cpu', 'host,kvm-msi-ext-dest-id=on']);
    expect(() => shellWords("qemu -device 'x")).toThrow(InputError);
  });

  it('maps each vIOMMU setting to the scheme it gives', () => {
    const split = '-machine q35,accel=kvm,kernel-irqchip=split';
    expect(available(parseQemuCommandLine('qemu-system-x86_64 -machine q35,accel=kvm'))).toEqual([...XAPIC, 'x2apic-compat']);
    expect(available(parseQemuCommandLine(`qemu ${split}`))).toEqual([...XAPIC, 'x2apic-compat', 'ext-dest-id']);
    expect(available(parseQemuCommandLine(`qemu ${split} -cpu host,kvm-msi-ext-dest-id=off`))).toEqual([...XAPIC, 'x2apic-compat']);
    expect(available(parseQemuCommandLine(`qemu ${split} -device intel-iommu,intremap=on,eim=on,dma-translation=off`))).toEqual([...XAPIC, 'x2apic-compat', 'ext-dest-id', 'viommu-ir']);
    expect(available(parseQemuCommandLine(`qemu ${split} -device intel-iommu,intremap=on,caching-mode=on`))).toEqual([...XAPIC, 'x2apic-compat', 'ext-dest-id', 'viommu-ir-dma']);
    expect(available(parseQemuCommandLine(`qemu ${split} -device intel-iommu,intremap=on,eim=off`))).toEqual([...XAPIC, 'x2apic-compat', 'ext-dest-id']);
    expect(available(parseQemuCommandLine(`qemu ${split} -device amd-iommu,intremap=on,xtsup=on`))).toEqual([...XAPIC, 'x2apic-compat', 'ext-dest-id', 'amd-viommu-xt']);
    expect(available(parseQemuCommandLine(`qemu ${split} -device amd-iommu`))).toEqual([...XAPIC, 'x2apic-compat', 'ext-dest-id', 'amd-viommu-xapic']);
    expect(available(parseQemuCommandLine(`qemu -accel kvm,kernel-irqchip=split -device amd-iommu,xtsup=on,dma-remap=on -cpu host,-x2apic`))).toEqual([...XAPIC, 'amd-viommu-xt-dma']);
  });

  it('says what QEMU would refuse: IR with kernel-irqchip=on, eim without intremap, ext-dest-id without split', () => {
    expect(schemesForSettings(parseQemuCommandLine('qemu -machine q35,kernel-irqchip=on -device intel-iommu,intremap=on')).problems[0]).toMatch(/refuses interrupt remapping with kernel-irqchip=on/);
    expect(schemesForSettings(parseQemuCommandLine('qemu -machine q35,kernel-irqchip=split -device intel-iommu,intremap=off,eim=on')).problems).toContain('QEMU refuses eim=on without intremap=on');
    expect(schemesForSettings(parseQemuCommandLine('qemu -cpu host,kvm-msi-ext-dest-id=on')).problems).toContain('kvm-msi-ext-dest-id is advertised only with kernel-irqchip=split');
    expect(effectiveSettings(parseQemuCommandLine('qemu -device intel-iommu')).intremap).toBe(false);
    let err: unknown;
    try {
      parseQemuCommandLine('qemu -device intel-iommu,eim=maybe');
    } catch (e) {
      err = e;
    }
    expect((err as InputError).format()).toBe('intel-iommu.eim: expected on or off, got "maybe"');
  });
});

describe('libvirt domain XML', () => {
  const domain = (inner: string) => `<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><vcpu placement='static'>384</vcpu>${inner}</domain>`;

  it("reads <ioapic driver='qemu'/>, <iommu model='intel'><driver …/>, cpu features and <qemu:commandline>", () => {
    const s = parseLibvirtXml(domain("<features><ioapic driver='qemu'/></features><devices><iommu model='intel'><driver intremap='on' eim='on'/></iommu></devices><qemu:commandline><qemu:arg value='-global'/><qemu:arg value='intel-iommu.dma-translation=off'/></qemu:commandline>"), 'd.xml');
    expect(s).toMatchObject({ from: 'libvirt', irqchip: 'split', intel: { intremap: true, eim: true, dmaTranslation: false }, vcpus: 384 });
    expect(available(s)).toContain('viommu-ir');
    const t = parseLibvirtXml(domain("<features><ioapic driver='kvm'/></features><cpu><feature policy='disable' name='x2apic'/></cpu>"), 'd.xml');
    expect(available(t)).toEqual(XAPIC);
  });

  it('a file that is not a domain is exit-2 input naming it', () => {
    expect(() => parseLibvirtXml('<network/>', 'n.xml')).toThrow(/expected a libvirt <domain> document, found <network>/);
    expect(() => parseLibvirtXml('not xml at all', 'n.xml')).toThrow(InputError);
  });
});

describe('remapsim explore --qemu / --libvirt', () => {
  it('explores the schemes the configuration gives and says why, in text and JSON', async () => {
    const q = '-machine q35,accel=kvm,kernel-irqchip=split -device intel-iommu,intremap=on,eim=on,dma-translation=off';
    const r = await cli(['explore', '--topology', '1s:8c:1t', '--qemu', q]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^VM configuration \(QEMU command line\): kernel-irqchip=split, intel-iommu intremap=on eim=on dma-translation=off/);
    expect(r.out).toContain('  no  viommu-ir-dma: dma-translation=off (that is viommu-ir)');
    expect(r.out).toContain('vIOMMU IR (EIM)');
    expect(r.out).not.toContain('vIOMMU IR+DMA');
    const file = tmp.write('d.xml', "<domain><features><ioapic driver='kvm'/></features></domain>");
    const j = JSON.parse((await cli(['explore', '--topology', '1s:8c:1t', '--libvirt', file, '--json'])).out) as { vmmConfig: { settings: { irqchip: string }; schemes: { scheme: string; available: boolean }[] } };
    expect(j.vmmConfig.settings.irqchip).toBe('on');
    expect(j.vmmConfig.schemes.find((x) => x.scheme === 'ext-dest-id')?.available).toBe(false);
    const both = await cli(['explore', '--topology', '1s:8c:1t', '--qemu', q, '--libvirt', file]);
    expect(both.code).toBe(2);
  });
});
