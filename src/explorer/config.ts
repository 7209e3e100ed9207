/**
 * What to configure for each addressing scheme, as data with sources: the QEMU options, the
 * libvirt domain XML, and what other VMMs allow (cloud-hypervisor, Firecracker). The explorer
 * prints these next to each scheme row (`remapsim explore`, text and JSON); the guest side
 * (kernel versions, Windows and FreeBSD status) is data/guest-support.yaml's `requires`.
 *
 * Every entry names where its facts come from; `confidence` uses the guest-support table's
 * vocabulary (src/explorer/guest-support.ts CONFIDENCE_VALUES): `source-code` read in the cited
 * source, `documented` in vendor or project docs, `reported` in issue trackers or review
 * threads (not verified here), `derived` from cited code. Nothing here is simulated: the
 * simulation (src/explorer/explore.ts) decides reach; this table says how to get that scheme.
 */
import type { Confidence } from './guest-support.ts';
import type { SchemeId } from './schemes.ts';
import type { Topology } from './topology.ts';

/** QEMU options for one scheme, each argument exactly as typed on the command line. */
export interface QemuConfig {
  /** Arguments in order, flag and value separate: `['-machine', 'q35,kernel-irqchip=split', …]`. */
  readonly args: readonly string[];
  readonly notes: readonly string[];
  readonly confidence: Confidence;
  readonly sources: readonly string[];
}

/**
 * libvirt's side: `supported` (the XML below gives the scheme), `passthrough` (no libvirt
 * element known here: the XML passes the QEMU option through `<qemu:commandline>`), `refused`
 * (libvirt rejects the configuration above 255 vCPUs), `none` (nothing to configure).
 */
export type LibvirtStatus = 'supported' | 'passthrough' | 'refused' | 'none';

/** libvirt domain XML for one scheme: fragments, each under the element it names. */
export interface LibvirtConfig {
  readonly status: LibvirtStatus;
  /** XML fragments, each complete (`<features><ioapic driver='qemu'/></features>`). */
  readonly xml: readonly string[];
  readonly notes: readonly string[];
  readonly confidence: Confidence;
  readonly sources: readonly string[];
}

/** The configuration of one scheme (one per scheme: every delivery of it is configured alike). */
export interface SchemeConfig {
  readonly scheme: SchemeId;
  /** Absent for the hypothetical scheme: no VMM implements it. */
  readonly qemu: QemuConfig | undefined;
  readonly libvirt: LibvirtConfig | undefined;
  /** For the hypothetical scheme: what models it in remapsim instead. */
  readonly remapsim?: string;
}

// Sources used by several rows.
const Q_SPLIT = "qemu/qemu: hw/i386/x86-iommu.c (x86_iommu_realize: \"Interrupt Remapping cannot work with kernel-irqchip=on, please use 'split|off'\"); hw/i386/intel_iommu.c (vtd_decide_config: \"eim=on requires accel=kvm,kernel-irqchip=split\", and KVM's X2APIC_API)";
const Q_EXT_DEST = 'qemu/qemu: D. Woodhouse, "target/i386: Support up to 32768 CPUs without IRQ remapping" (2020-10-05): kvm-msi-ext-dest-id, advertised only with kernel-irqchip=split; pc_compat_5_1 turns it off for machine types before 5.2';
const Q_EXT_DEFAULT = 'qemu/qemu: target/i386/kvm/kvm-cpu.c (kvm_cpu_instance_init: with kernel-irqchip=split, kvm-msi-ext-dest-id defaults to on)';
const Q_IR_ONLY = 'qemu/qemu: D. Woodhouse, "intel_iommu: Support IR-only mode without DMA translation" (2021-12-09): dma-translation=off advertises no SAGAW bits; tested with Windows 10 and Linux with torvalds/linux c40aaaac10';
const Q_X2APIC_API = 'qemu/qemu: hw/i386/x86.c (x86_cpus_init: "current -smp configuration requires kernel irqchip and X2APIC API support" above APIC ID 255)';
const AMD_QEMU = 'amdvi-facts.md §8 (QEMU amd-iommu: xtsup sets EFR.XTSup; dma-remap shadows the guest\'s v1 tables); qemu/qemu: hw/i386/amd_iommu.c (amdvi_properties); qemu/qemu: qemu-options.hx "-device amd-iommu" (intremap only with kernel-irqchip=off|split and required for x2APIC; xtsup required for APIC IDs above 0xff; dma-remap default off)';
const LV_AMD = 'lists.libvirt.org devel: "[RFC PATCH 2/5] qemu_capabilities: Introduce QEMU_CAPS_AMD_IOMMU_INTREMAP" (AMD IOMMU interrupt remapping in libvirt still an RFC there); avocado-framework/avocado-vt#4015 (2024-10)';
const LV_IOMMU = 'libvirt docs formatdomain "IOMMU devices": <driver intremap> needs a split I/O APIC (<ioapic driver=\'qemu\'/>), since 3.4.0; eim, caching_mode attributes (QEMU/KVM only)';
const LV_PASSTHROUGH = 'libvirt docs drvqemu "Pass-through of arbitrary qemu commands" (<qemu:commandline>, xmlns:qemu=\'http://libvirt.org/schemas/domain/qemu/1.0\')';
const LV_EIM_REQUIRED = 'kubevirt/kubevirt#13971 (libvirt: "more than 255 vCPUs require extended interrupt mode enabled on the iommu device"); libvirt commit b15047ff26 (qemu: Turn EIM IOMMU on automagically)';
const IOAPIC_SPLIT = "<features><ioapic driver='qemu'/></features>";

/** `<qemu:commandline>` passing `-global DRIVER.PROP=VALUE` or `-device …` through (the domain element needs xmlns:qemu). */
function passthrough(...args: string[]): string {
  return `<qemu:commandline>${args.map((a) => `<qemu:arg value='${a}'/>`).join('')}</qemu:commandline>`;
}

const NO_LIBVIRT: LibvirtConfig = {
  status: 'none',
  xml: [],
  notes: ['nothing beyond <vcpu>: the default (in-kernel) irqchip'],
  confidence: 'derived',
  sources: ['libvirt docs formatdomain (<vcpu>, <features>)'],
};

/** Schemes QEMU gives with no extra option: an emulated xAPIC / x2APIC, no IOMMU. */
function plainQemu(notes: string[], sources: string[]): QemuConfig {
  return { args: ['-machine', 'q35,accel=kvm', '-cpu', 'host'], notes, confidence: 'derived', sources };
}

/** Every scheme's configuration, by id. */
export const SCHEME_CONFIGS: Readonly<Record<SchemeId, SchemeConfig>> = {
  'xapic-physical': {
    scheme: 'xapic-physical',
    qemu: plainQemu(['the scheme is a guest in xAPIC mode (x2APIC hidden, e.g. -cpu host,x2apic=off, or a guest booted with nox2apic): 8-bit destinations, so only APIC IDs 0..254 are named'], ['torvalds/linux: arch/x86/kernel/apic/apic_flat_64.c (apic_physflat, max_apic_id 0xFE)']),
    libvirt: NO_LIBVIRT,
  },
  'xapic-logical-flat': {
    scheme: 'xapic-logical-flat',
    qemu: plainQemu(['a guest in xAPIC mode that chooses logical flat mode itself (at most 8 CPUs); QEMU has no option for it'], ['Intel SDM Vol. 3 §11.6.2.2 (flat model)']),
    libvirt: NO_LIBVIRT,
  },
  'xapic-logical-cluster': {
    scheme: 'xapic-logical-cluster',
    qemu: plainQemu(['a guest in xAPIC mode that chooses cluster mode itself; QEMU has no option for it'], ['Intel SDM Vol. 3 §11.6.2.2 (cluster model)']),
    libvirt: NO_LIBVIRT,
  },
  'x2apic-compat': {
    scheme: 'x2apic-compat',
    qemu: {
      args: ['-machine', 'q35,accel=kvm', '-cpu', 'host,x2apic=on'],
      notes: ['x2apic=on is the KVM default; above APIC ID 255 QEMU needs the in-kernel irqchip and KVM\'s X2APIC API, and the guest still names only IDs up to 255'],
      confidence: 'source-code',
      sources: [Q_X2APIC_API, 'torvalds/linux: arch/x86/kernel/apic/apic.c (try_to_enable_x2apic: apic_limit = 255)'],
    },
    libvirt: NO_LIBVIRT,
  },
  'ext-dest-id': {
    scheme: 'ext-dest-id',
    qemu: {
      args: ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-cpu', 'host,kvm-msi-ext-dest-id=on'],
      notes: ['kvm-msi-ext-dest-id (KVM_FEATURE_MSI_EXT_DEST_ID, CPUID 0x40000001 bit 15) is advertised only with kernel-irqchip=split, and on by default there for machine types 5.2 and later'],
      confidence: 'source-code',
      sources: [Q_EXT_DEST, Q_EXT_DEFAULT],
    },
    libvirt: {
      status: 'refused',
      xml: [IOAPIC_SPLIT],
      notes: ["<ioapic driver='qemu'/> gives the split irqchip, with which QEMU turns kvm-msi-ext-dest-id on; but libvirt refuses more than 255 vCPUs without an IOMMU with eim='on' (reported), so above 255 this scheme needs QEMU directly or the vIOMMU XML"],
      confidence: 'reported',
      sources: [Q_EXT_DEFAULT, LV_EIM_REQUIRED],
    },
  },
  'viommu-ir': {
    scheme: 'viommu-ir',
    qemu: {
      args: ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-device', 'intel-iommu,intremap=on,eim=on,dma-translation=off'],
      notes: ['dma-translation=off: interrupt remapping only, no DMA translation exposed (the row models none)', 'a split irqchip also turns kvm-msi-ext-dest-id on; a guest with IR enabled uses IR'],
      confidence: 'source-code',
      sources: [Q_SPLIT, Q_IR_ONLY],
    },
    libvirt: {
      status: 'supported',
      xml: [IOAPIC_SPLIT, "<devices><iommu model='intel'><driver intremap='on' eim='on'/></iommu></devices>", passthrough('-global', 'intel-iommu.dma-translation=off')],
      notes: ['no libvirt attribute for dma-translation is known here: passed through as a QEMU global (the <domain> element needs xmlns:qemu)'],
      confidence: 'documented',
      sources: [LV_IOMMU, LV_PASSTHROUGH],
    },
  },
  'viommu-ir-dma': {
    scheme: 'viommu-ir-dma',
    qemu: {
      args: ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-device', 'intel-iommu,intremap=on,eim=on,caching-mode=on'],
      notes: ['DMA translation on (the default); caching-mode=on lets QEMU see every guest mapping, which VFIO needs to shadow it for the assigned device'],
      confidence: 'documented',
      sources: [Q_SPLIT, 'wiki.qemu.org/Features/VT-d (caching-mode=on for assigned devices)'],
    },
    libvirt: {
      status: 'supported',
      xml: [IOAPIC_SPLIT, "<devices><iommu model='intel'><driver intremap='on' eim='on' caching_mode='on'/></iommu></devices>"],
      notes: [],
      confidence: 'documented',
      sources: [LV_IOMMU],
    },
  },
  'direct-vcpu-msi': {
    scheme: 'direct-vcpu-msi',
    qemu: undefined,
    libvirt: undefined,
    remapsim: 'HYPOTHETICAL: no VMM or IOMMU implements it; in a remapsim scenario: platform.directPost and platform.vmm.design: direct-post (docs/vmm.md)',
  },
  'amd-viommu-xapic': {
    scheme: 'amd-viommu-xapic',
    qemu: {
      args: ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-device', 'amd-iommu,intremap=on'],
      notes: ['without xtsup the guest stays in xAPIC mode: APIC IDs up to 254'],
      confidence: 'source-code',
      sources: [AMD_QEMU],
    },
    libvirt: {
      status: 'passthrough',
      xml: [IOAPIC_SPLIT, passthrough('-device', 'amd-iommu,intremap=on')],
      notes: ["libvirt's <iommu model='amd'> with intremap is not confirmed in the sources read here (only an RFC on libvirt's list); passed through instead"],
      confidence: 'reported',
      sources: [LV_PASSTHROUGH, LV_AMD],
    },
  },
  'amd-viommu-xt': {
    scheme: 'amd-viommu-xt',
    qemu: {
      args: ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-device', 'amd-iommu,intremap=on,xtsup=on'],
      notes: ['xtsup=on advertises EFR.XTSup: 128-bit IRTEs with 32-bit destinations'],
      confidence: 'source-code',
      sources: [AMD_QEMU],
    },
    libvirt: {
      status: 'passthrough',
      xml: [IOAPIC_SPLIT, passthrough('-device', 'amd-iommu,intremap=on,xtsup=on')],
      notes: ["libvirt's <iommu model='amd'> and an xtsup attribute are not confirmed in the sources read here; passed through instead"],
      confidence: 'reported',
      sources: [LV_PASSTHROUGH, LV_AMD],
    },
  },
  'amd-viommu-xt-dma': {
    scheme: 'amd-viommu-xt-dma',
    qemu: {
      args: ['-machine', 'q35,accel=kvm,kernel-irqchip=split', '-device', 'amd-iommu,intremap=on,xtsup=on,dma-remap=on'],
      notes: ['dma-remap=on: QEMU shadows the guest\'s v1 tables into the host IOMMU for the assigned device (2025 QEMU)'],
      confidence: 'source-code',
      sources: [AMD_QEMU],
    },
    libvirt: {
      status: 'passthrough',
      xml: [IOAPIC_SPLIT, passthrough('-device', 'amd-iommu,intremap=on,xtsup=on,dma-remap=on')],
      notes: ["libvirt's <iommu model='amd'> is not confirmed in the sources read here; passed through instead"],
      confidence: 'reported',
      sources: [LV_PASSTHROUGH, LV_AMD],
    },
  },
};

/** Configuration of `scheme`. @throws RangeError for an unknown id. */
export function schemeConfig(scheme: SchemeId): SchemeConfig {
  const c = SCHEME_CONFIGS[scheme];
  if (c === undefined) throw new RangeError(`no configuration for scheme '${String(scheme)}'`);
  return c;
}

/**
 * QEMU's `-smp` for a topology: `384,sockets=6,cores=32,threads=2` (dies only when more than
 * one). QEMU numbers APIC IDs from it as src/explorer/topology.ts does (QEMU
 * include/hw/i386/topology.h `x86_apicid_from_topo_ids`). An explicit APIC ID list has no
 * QEMU form: undefined.
 */
export function qemuSmp(t: Topology | undefined, vcpus: number): string | undefined {
  if (t === undefined) return undefined;
  return `${vcpus},sockets=${t.sockets}${t.dies > 1 ? `,dies=${t.dies}` : ''},cores=${t.cores},threads=${t.threads}`;
}

/** The QEMU command-line fragment of a scheme for a VM: its arguments plus `-smp` when the VM is a topology. */
export function qemuCommandLine(c: QemuConfig, smp: string | undefined): string {
  const args = smp === undefined ? c.args : [...c.args, '-smp', smp];
  const out: string[] = [];
  for (let i = 0; i < args.length; i += 2) out.push(`${args[i]!} ${args[i + 1] ?? ''}`.trim());
  return out.join(' ');
}

/** One limit of a VMM: the most vCPUs under a condition. */
export interface VcpuLimit {
  readonly maxVcpus: number;
  readonly when: string;
}

/** What another VMM allows (not simulated): vCPU limits and the interrupt addressing it offers. */
export interface VmmLimits {
  readonly vmm: string;
  readonly limits: readonly VcpuLimit[];
  /** How it names vCPUs in interrupts, and which vIOMMU (if any) it emulates. */
  readonly addressing: string;
  readonly confidence: Confidence;
  readonly sources: readonly string[];
}

/** Other VMMs' limits where known. */
export const VMM_LIMITS: readonly VmmLimits[] = [
  {
    vmm: 'cloud-hypervisor',
    limits: [
      { maxVcpus: 254, when: 'x86_64 before the 2025 work, and still on AMD hosts and other hypervisors (an MP table and 8-bit xAPIC IDs: 255 IDs, one taken by the I/O APIC)' },
      { maxVcpus: 65535, when: 'KVM on Intel x86_64 after the 2025 work (x2APIC mode when the largest APIC ID exceeds 254, KVM\'s x2APIC API; reported tested up to 512 vCPUs)' },
    ],
    addressing: 'no emulated VT-d or AMD-Vi (its vIOMMU is virtio-iommu, DMA only), so no IR vIOMMU scheme; above 254 vCPUs it relies on KVM\'s x2APIC API with extended interrupt handling (which MSI scheme it advertises is not verified here)',
    confidence: 'reported',
    sources: [
      'cloud-hypervisor/cloud-hypervisor#5345 (max vCPU limit 255 too low; u8 config), #6446 (2024-05: "254 vCPUs (the current max on x86_64 cloud-hypervisor)")',
      'cloud-hypervisor/cloud-hypervisor#7265 (x2APIC mode if max APIC ID > 254), #7268 (no MP table above 254), #7282 (KVM x2APIC API), #7299 (raise the limit on KVM/Intel/x86_64 to 65535)',
      'cloud-hypervisor/cloud-hypervisor#7341 (2025-09: "we now have the support of more than 255 vCPUs on x86_64 with kvm")',
      'cloud-hypervisor/cloud-hypervisor#314 (virtio-iommu)',
    ],
  },
  {
    vmm: 'Firecracker',
    limits: [{ maxVcpus: 32, when: 'any host (the configured vcpu_count limit)' }],
    addressing: 'xAPIC through an MP table, no vIOMMU: only the 8-bit schemes, all vCPUs named well below APIC ID 255',
    confidence: 'source-code',
    sources: ['firecracker-microvm/firecracker: integration test "microvms with max vcpus(32)" (MAX_VCPUS = 32)', 'cloud-hypervisor/cloud-hypervisor#7268 (the MP table code shared with Firecracker: at most 254 CPUs)'],
  },
];

/** The largest vCPU count a VMM allows under any condition. */
export function vmmMaxVcpus(v: VmmLimits): number {
  return v.limits.reduce((m, l) => Math.max(m, l.maxVcpus), 0);
}

/** `-device NAME,k=v,…` options of a QEMU config as `NAME` → { k: v }. */
function deviceOptions(c: QemuConfig): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (let i = 0; i + 1 < c.args.length; i += 2) {
    if (c.args[i] !== '-device' && c.args[i] !== '-machine' && c.args[i] !== '-cpu') continue;
    const [name, ...kv] = c.args[i + 1]!.split(',');
    const key = c.args[i] === '-device' ? name! : c.args[i]!;
    const opts: Record<string, string> = {};
    for (const p of c.args[i] === '-device' ? kv : [name!, ...kv]) {
      const [k, v] = p.split('=');
      opts[k!] = v ?? 'on';
    }
    out.set(key, opts);
  }
  return out;
}

/**
 * What in a scheme's configuration contradicts what the scheme simulates (src/explorer/schemes.ts),
 * as sentences; empty when consistent. Checked: a 32-bit-destination vIOMMU scheme turns on EIM
 * (Intel) or XT (AMD); an IR vIOMMU has a split irqchip (QEMU refuses IR with kernel-irqchip=on);
 * DMA translation is exposed exactly when the scheme models it (`dma-translation=off` /
 * `dma-remap=on`); the extended destination ID has `kvm-msi-ext-dest-id=on` and a split irqchip;
 * libvirt XML, when supported, carries the same IOMMU settings.
 */
export function configProblems(info: { id: SchemeId; destinationBits: number; exposesDmaRemapping: boolean; hypothetical: boolean; vendor?: 'amd' }, c: SchemeConfig): string[] {
  const problems: string[] = [];
  if (c.scheme !== info.id) problems.push(`configuration is for '${c.scheme}', not '${info.id}'`);
  if (info.hypothetical) {
    if (c.qemu !== undefined || c.libvirt !== undefined) problems.push('a hypothetical scheme has no QEMU or libvirt configuration');
    return problems;
  }
  if (c.qemu === undefined || c.libvirt === undefined) return [...problems, 'an existing scheme needs QEMU and libvirt entries'];
  if (c.qemu.sources.length === 0 || c.libvirt.sources.length === 0) problems.push('every entry needs a source');
  const d = deviceOptions(c.qemu);
  const split = d.get('-machine')?.['kernel-irqchip'] === 'split';
  const intel = d.get('intel-iommu');
  const amd = d.get('amd-iommu');
  const iommu = intel ?? amd;
  if (iommu !== undefined && iommu.intremap !== 'on') problems.push('the vIOMMU must have intremap=on');
  if (iommu !== undefined && !split) problems.push('interrupt remapping needs -machine kernel-irqchip=split');
  if (intel !== undefined) {
    if ((intel.eim === 'on') !== info.destinationBits > 8) problems.push(`eim=${intel.eim ?? 'unset'} does not match a ${info.destinationBits}-bit destination`);
    if ((intel['dma-translation'] !== 'off') !== info.exposesDmaRemapping) problems.push(`dma-translation=${intel['dma-translation'] ?? 'on (default)'} does not match exposesDmaRemapping=${info.exposesDmaRemapping}`);
  }
  if (amd !== undefined) {
    if ((amd.xtsup === 'on') !== info.destinationBits > 8) problems.push(`xtsup=${amd.xtsup ?? 'unset'} does not match a ${info.destinationBits}-bit destination`);
    if ((amd['dma-remap'] === 'on') !== info.exposesDmaRemapping) problems.push(`dma-remap=${amd['dma-remap'] ?? 'off (default)'} does not match exposesDmaRemapping=${info.exposesDmaRemapping}`);
  }
  if ((info.vendor === 'amd') !== (amd !== undefined)) problems.push(info.vendor === 'amd' ? 'an AMD-Vi scheme needs -device amd-iommu' : 'only AMD-Vi schemes use -device amd-iommu');
  if (info.destinationBits === 32 && info.vendor !== 'amd' && intel === undefined) problems.push('a 32-bit-destination Intel scheme needs -device intel-iommu');
  if (info.id === 'ext-dest-id' && (d.get('-cpu')?.['kvm-msi-ext-dest-id'] !== 'on' || !split)) problems.push('the extended destination ID needs -cpu …,kvm-msi-ext-dest-id=on and kernel-irqchip=split');
  const xml = c.libvirt.xml.join('');
  if (intel !== undefined && c.libvirt.status === 'supported') {
    if (!xml.includes("<iommu model='intel'>") || !xml.includes("intremap='on'")) problems.push("libvirt XML lacks <iommu model='intel'> with intremap='on'");
    if ((intel.eim === 'on') !== xml.includes("eim='on'")) problems.push('libvirt XML and QEMU disagree on eim');
    if (!xml.includes("<ioapic driver='qemu'/>")) problems.push("libvirt IR needs <ioapic driver='qemu'/>");
    if (intel['dma-translation'] === 'off' && !xml.includes('dma-translation=off')) problems.push('libvirt XML does not turn DMA translation off');
  }
  if (amd !== undefined && !xml.includes(c.qemu.args[c.qemu.args.indexOf('-device') + 1]!)) problems.push('libvirt passthrough differs from the QEMU -device');
  return problems;
}
