/**
 * A VM's vIOMMU settings read from what engineers already have — a QEMU command line or a
 * libvirt domain XML — and which of the explorer's addressing schemes (src/explorer/schemes.ts)
 * that configuration gives the guest (`remapsim explore --qemu "…"` / `--libvirt FILE.xml`).
 * The reverse of src/explorer/config.ts (scheme → options); the facts and their sources are the same:
 *
 * - `kernel-irqchip` (`-machine …,kernel-irqchip=on|split|off` or `-accel kvm,kernel-irqchip=…`;
 *   libvirt `<features><ioapic driver='qemu'/>` = split, `driver='kvm'` = on). QEMU's default for
 *   pc/q35 under KVM is on (hw/i386/pc.c, hw/i386/pc_q35.c: default_kernel_irqchip_split = false).
 * - `intel-iommu` / `amd-iommu` `intremap` (OnOffAuto, default auto): auto is on unless the whole
 *   irqchip is in the kernel; IR with kernel-irqchip=on is refused (qemu/qemu hw/i386/x86-iommu.c
 *   x86_iommu_realize: "Interrupt Remapping cannot work with kernel-irqchip=on, please use 'split|off'").
 * - `intel-iommu` `eim` (OnOffAuto): auto is on when the irqchip is in the kernel (split) and IR is on;
 *   eim=on without intremap is refused (hw/i386/intel_iommu.c vtd_decide_config).
 * - `intel-iommu` `dma-translation` (default on; off = IR only, D. Woodhouse 2021-12-09),
 *   `caching-mode` (needed for vfio-pci with DMA translation).
 * - `amd-iommu` `xtsup` (default off: EFR.XTSup, 32-bit destinations), `dma-remap` (default off)
 *   (hw/i386/amd_iommu.c amdvi_properties; amdvi-facts.md §8).
 * - `-cpu …,kvm-msi-ext-dest-id=on|off` (or `+`/`-kvm-msi-ext-dest-id`): KVM_FEATURE_MSI_EXT_DEST_ID,
 *   advertised only with kernel-irqchip=split and on by default there (target/i386/kvm/kvm-cpu.c
 *   kvm_cpu_instance_init); `x2apic=off` / `-x2apic` leaves the guest in xAPIC mode.
 * - libvirt `<devices><iommu model='intel|amd'><driver intremap eim caching_mode xtsup/>`
 *   (libvirt formatdomain "IOMMU devices"); `<qemu:commandline>` arguments are read as QEMU's.
 */
import { convert } from 'xmlbuilder2';
import { InputError } from '../io/input-error.ts';
import { readInputText } from '../io/read-input.ts';
import { MAX_SCENARIO_BYTES } from '../io/limits.ts';
import { ALL_SCHEME_IDS, type SchemeId } from './schemes.ts';

/** kernel-irqchip: the whole irqchip in KVM, the I/O APIC in QEMU (split), or all in QEMU. */
export type Irqchip = 'on' | 'split' | 'off';

/** A vIOMMU's settings: each as given (true/false), or undefined when left to QEMU's default. */
export interface IntelVIommu {
  readonly intremap: boolean | undefined;
  readonly eim: boolean | undefined;
  readonly dmaTranslation: boolean | undefined;
  readonly cachingMode: boolean | undefined;
}

export interface AmdVIommu {
  readonly intremap: boolean | undefined;
  readonly xtsup: boolean | undefined;
  readonly dmaRemap: boolean | undefined;
}

/** What the command line or domain XML says about interrupt addressing (undefined = not given). */
export interface VIommuSettings {
  readonly from: 'qemu' | 'libvirt';
  readonly irqchip: Irqchip | undefined;
  readonly intel: IntelVIommu | undefined;
  readonly amd: AmdVIommu | undefined;
  readonly kvmMsiExtDestId: boolean | undefined;
  readonly x2apic: boolean | undefined;
  /** vCPUs (`-smp N` / `-smp cpus=N`, libvirt `<vcpu>`), when given. */
  readonly vcpus: number | undefined;
}

/** One scheme under the settings: available or not, and why (the deciding options). */
export interface SchemeAvailability {
  readonly scheme: SchemeId;
  readonly available: boolean;
  readonly why: string;
}

const ON = new Set(['on', 'true', 'yes', 'y']);
const OFF = new Set(['off', 'false', 'no', 'n']);

function flag(value: string, field: string): boolean {
  const v = value.toLowerCase();
  if (ON.has(v)) return true;
  if (OFF.has(v)) return false;
  throw new InputError(`expected on or off, got ${JSON.stringify(value)}`, { field });
}

/**
 * Split a command line as a POSIX shell would for these purposes: whitespace separates words,
 * '…' and "…" quote, a backslash escapes the next character (a backslash-newline continues the line).
 * @throws InputError (field --qemu) for an unterminated quote.
 */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word = (word ?? '') + line[++i];
      else word = (word ?? '') + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < line.length) {
      const next = line[++i]!;
      if (next !== '\n') word = (word ?? '') + next;
    } else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (quote !== undefined) throw new InputError(`unterminated ${quote} quote`, { field: '--qemu' });
  if (word !== undefined) out.push(word);
  return out;
}

/** `a=b,c,d=e` → map (a bare word is `on`; `,,` escapes a comma as in QEMU's option syntax). */
function optionList(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.replace(/,,/g, '\0').split(',')) {
    if (part === '') continue;
    const at = part.indexOf('=');
    out.set((at < 0 ? part : part.slice(0, at)).replace(/\0/g, ','), at < 0 ? 'on' : part.slice(at + 1).replace(/\0/g, ','));
  }
  return out;
}

interface Mutable {
  irqchip?: Irqchip;
  intel?: { intremap?: boolean; eim?: boolean; dmaTranslation?: boolean; cachingMode?: boolean };
  amd?: { intremap?: boolean; xtsup?: boolean; dmaRemap?: boolean };
  kvmMsiExtDestId?: boolean;
  x2apic?: boolean;
  vcpus?: number;
}

function setIrqchip(m: Mutable, value: string): void {
  const v = value.toLowerCase();
  if (v === 'split') m.irqchip = 'split';
  else m.irqchip = flag(v, 'kernel-irqchip') ? 'on' : 'off';
}

function intelProp(m: Mutable, key: string, value: string): void {
  const d = (m.intel ??= {});
  if (key === 'intremap') d.intremap = flag(value, 'intel-iommu.intremap');
  else if (key === 'eim') d.eim = flag(value, 'intel-iommu.eim');
  else if (key === 'dma-translation') d.dmaTranslation = flag(value, 'intel-iommu.dma-translation');
  else if (key === 'caching-mode' || key === 'caching_mode') d.cachingMode = flag(value, 'intel-iommu.caching-mode');
}

function amdProp(m: Mutable, key: string, value: string): void {
  const d = (m.amd ??= {});
  if (key === 'intremap') d.intremap = flag(value, 'amd-iommu.intremap');
  else if (key === 'xtsup') d.xtsup = flag(value, 'amd-iommu.xtsup');
  else if (key === 'dma-remap') d.dmaRemap = flag(value, 'amd-iommu.dma-remap');
}

/** Apply QEMU arguments (already split into words) to `m`. */
function applyQemuArgs(m: Mutable, args: readonly string[]): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!.replace(/^--/, '-');
    const value = args[i + 1];
    if (value === undefined) continue;
    if (a === '-machine' || a === '-M' || a === '-accel') {
      const o = optionList(value);
      const ic = o.get('kernel-irqchip') ?? o.get('kernel_irqchip');
      if (ic !== undefined) setIrqchip(m, ic);
      i++;
    } else if (a === '-device') {
      const [driver = '', ...rest] = value.split(',');
      const o = optionList(rest.join(','));
      if (driver === 'intel-iommu') {
        m.intel ??= {};
        for (const [k, v] of o) intelProp(m, k, v);
      } else if (driver === 'amd-iommu') {
        m.amd ??= {};
        for (const [k, v] of o) amdProp(m, k, v);
      }
      i++;
    } else if (a === '-global') {
      const g = /^(intel-iommu|amd-iommu)\.([\w-]+)=(.*)$/.exec(value);
      if (g?.[1] === 'intel-iommu') intelProp(m, g[2]!, g[3]!);
      else if (g?.[1] === 'amd-iommu') amdProp(m, g[2]!, g[3]!);
      i++;
    } else if (a === '-cpu') {
      for (const p of value.split(',').slice(1)) {
        const named = /^([+-])([\w-]+)$/.exec(p);
        const [key, v] = named !== null ? [named[2]!, named[1] === '+' ? 'on' : 'off'] : [p.split('=')[0]!, p.includes('=') ? p.slice(p.indexOf('=') + 1) : 'on'];
        if (key === 'kvm-msi-ext-dest-id') m.kvmMsiExtDestId = flag(v, '-cpu kvm-msi-ext-dest-id');
        else if (key === 'x2apic') m.x2apic = flag(v, '-cpu x2apic');
      }
      i++;
    } else if (a === '-smp') {
      const first = value.split(',')[0]!;
      const cpus = /^\d+$/.test(first) ? first : optionList(value).get('cpus');
      if (cpus !== undefined && /^\d+$/.test(cpus)) m.vcpus = Number(cpus);
      i++;
    }
  }
}

function freeze(m: Mutable, from: 'qemu' | 'libvirt'): VIommuSettings {
  return {
    from,
    irqchip: m.irqchip,
    intel: m.intel === undefined ? undefined : { intremap: m.intel.intremap, eim: m.intel.eim, dmaTranslation: m.intel.dmaTranslation, cachingMode: m.intel.cachingMode },
    amd: m.amd === undefined ? undefined : { intremap: m.amd.intremap, xtsup: m.amd.xtsup, dmaRemap: m.amd.dmaRemap },
    kvmMsiExtDestId: m.kvmMsiExtDestId,
    x2apic: m.x2apic,
    vcpus: m.vcpus,
  };
}

/**
 * The settings of a QEMU command line (the program name may be included; `\`-newlines allowed).
 * @throws InputError (field --qemu or the option) for a bad quote or a non-boolean value of a flag read here.
 */
export function parseQemuCommandLine(line: string): VIommuSettings {
  const m: Mutable = {};
  applyQemuArgs(m, shellWords(line));
  return freeze(m, 'qemu');
}

type XmlNode = Record<string, unknown>;
const asList = (v: unknown): XmlNode[] => (v === undefined ? [] : Array.isArray(v) ? (v as XmlNode[]) : [v as XmlNode]);
const attr = (n: XmlNode | undefined, name: string): string | undefined => {
  const v = n?.[`@${name}`];
  return typeof v === 'string' ? v : undefined;
};

/**
 * The settings of a libvirt domain XML document `xml` (read from `file`).
 * @throws InputError (file, field) when it is not XML with a `<domain>` root, or an attribute read here is not on/off.
 */
export function parseLibvirtXml(xml: string, file: string): VIommuSettings {
  let doc: XmlNode;
  try {
    doc = convert(xml, { format: 'object' }) as XmlNode;
  } catch (e) {
    throw new InputError(`not XML: ${(e as Error).message.split('\n')[0]}`, { file, field: '--libvirt' });
  }
  const domain = doc['domain'];
  if (domain === null || typeof domain !== 'object' || Array.isArray(domain)) throw new InputError(`expected a libvirt <domain> document, found <${Object.keys(doc)[0] || 'nothing'}>`, { file, field: '--libvirt' });
  const d = domain as XmlNode;
  const m: Mutable = {};
  const wrap = (f: () => void): void => {
    try {
      f();
    } catch (e) {
      if (e instanceof InputError) throw new InputError(e.message, { file, ...(e.field === undefined ? {} : { field: e.field }) });
      throw e;
    }
  };
  wrap(() => {
    const vcpu = asList(d['vcpu'])[0];
    const count = typeof vcpu === 'string' ? vcpu : (vcpu?.['#'] as string | undefined);
    if (count !== undefined && /^\s*\d+\s*$/.test(count)) m.vcpus = Number(count);
    const ioapic = asList((asList(d['features'])[0] ?? {})['ioapic'])[0];
    const driver = attr(ioapic, 'driver');
    if (driver === 'qemu') m.irqchip = 'split';
    else if (driver === 'kvm') m.irqchip = 'on';
    for (const iommu of asList((asList(d['devices'])[0] ?? {})['iommu'])) {
      const model = attr(iommu, 'model');
      const drv = asList(iommu['driver'])[0];
      if (model === 'intel') {
        m.intel ??= {};
        for (const k of ['intremap', 'eim', 'caching_mode']) {
          const v = attr(drv, k);
          if (v !== undefined) intelProp(m, k, v);
        }
      } else if (model === 'amd') {
        m.amd ??= {};
        for (const k of ['intremap', 'xtsup']) {
          const v = attr(drv, k);
          if (v !== undefined) amdProp(m, k, v);
        }
      }
    }
    for (const f of asList((asList(d['cpu'])[0] ?? {})['feature'])) {
      const name = attr(f, 'name');
      const policy = attr(f, 'policy') ?? 'require';
      const on = policy === 'require' || policy === 'force' ? true : policy === 'disable' || policy === 'forbid' ? false : undefined;
      if (on === undefined) continue;
      if (name === 'x2apic') m.x2apic = on;
      else if (name === 'kvm-msi-ext-dest-id') m.kvmMsiExtDestId = on;
    }
    const args = asList(d['qemu:commandline']).flatMap((c) => asList(c['qemu:arg']).flatMap((a) => (attr(a, 'value') === undefined ? [] : [attr(a, 'value')!])));
    applyQemuArgs(m, args);
  });
  return freeze(m, 'libvirt');
}

/** The settings after QEMU's defaults (see the module comment), and what QEMU would refuse. */
export function effectiveSettings(s: VIommuSettings): { irqchip: Irqchip; intremap: boolean; eim: boolean; dma: boolean; xtsup: boolean; extDestId: boolean; x2apic: boolean; problems: string[] } {
  const problems: string[] = [];
  const irqchip = s.irqchip ?? 'on';
  const iommu = s.intel ?? s.amd;
  let intremap = false;
  if (iommu !== undefined) {
    intremap = iommu.intremap ?? irqchip !== 'on';
    if (intremap && irqchip === 'on') {
      problems.push("QEMU refuses interrupt remapping with kernel-irqchip=on: use -machine kernel-irqchip=split (libvirt <ioapic driver='qemu'/>)");
      intremap = false;
    }
  }
  if (s.intel !== undefined && s.amd !== undefined) problems.push('both intel-iommu and amd-iommu are given: QEMU takes one vIOMMU per machine; the Intel one is read');
  let eim = false;
  if (s.intel !== undefined) {
    eim = s.intel.eim ?? (intremap && irqchip !== 'off');
    if (eim && !intremap) {
      problems.push('QEMU refuses eim=on without intremap=on');
      eim = false;
    }
  }
  const dma = s.intel !== undefined ? (s.intel.dmaTranslation ?? true) : (s.amd?.dmaRemap ?? false);
  if (s.intel !== undefined && dma && intremap && s.intel.cachingMode !== true) problems.push('with DMA translation, assigned devices (vfio-pci) need intel-iommu caching-mode=on');
  const xtsup = s.intel === undefined && (s.amd?.xtsup ?? false);
  let extDestId = irqchip === 'split' && (s.kvmMsiExtDestId ?? true);
  if (s.kvmMsiExtDestId === true && irqchip !== 'split') {
    problems.push('kvm-msi-ext-dest-id is advertised only with kernel-irqchip=split');
    extDestId = false;
  }
  const x2apic = s.x2apic ?? true;
  if (!x2apic) extDestId = false;
  return { irqchip, intremap, eim, dma, xtsup, extDestId, x2apic, problems };
}

/**
 * Which schemes the settings give the guest, each with the deciding options. The xAPIC schemes
 * are the guest's own choice (always available); the hypothetical direct scheme never is.
 */
export function schemesForSettings(s: VIommuSettings): { schemes: SchemeAvailability[]; problems: string[] } {
  const e = effectiveSettings(s);
  const intel = s.intel !== undefined && e.intremap;
  const amd = s.intel === undefined && s.amd !== undefined && e.intremap;
  const rule = (scheme: SchemeId): [boolean, string] => {
    switch (scheme) {
      case 'xapic-physical':
      case 'xapic-logical-flat':
      case 'xapic-logical-cluster':
        return [true, 'the guest chooses its xAPIC mode itself'];
      case 'x2apic-compat':
        return [e.x2apic, e.x2apic ? 'x2APIC is on (the KVM default)' : 'x2apic=off'];
      case 'ext-dest-id':
        return [e.extDestId, e.extDestId ? `kernel-irqchip=split and kvm-msi-ext-dest-id ${s.kvmMsiExtDestId === true ? 'on' : 'on by default'}` : e.irqchip !== 'split' ? `kernel-irqchip=${e.irqchip} (needs split)` : !e.x2apic ? 'x2apic=off' : 'kvm-msi-ext-dest-id=off'];
      case 'viommu-ir':
        return [intel && e.eim && !e.dma, !intel ? 'no intel-iommu with interrupt remapping' : !e.eim ? 'eim is off' : e.dma ? 'dma-translation is on (that is viommu-ir-dma)' : 'intel-iommu intremap=on, eim=on, dma-translation=off'];
      case 'viommu-ir-dma':
        return [intel && e.eim && e.dma, !intel ? 'no intel-iommu with interrupt remapping' : !e.eim ? 'eim is off' : !e.dma ? 'dma-translation=off (that is viommu-ir)' : 'intel-iommu intremap=on, eim=on, DMA translation on'];
      case 'direct-vcpu-msi':
        return [false, 'HYPOTHETICAL: no VMM implements it'];
      case 'amd-viommu-xapic':
        return [amd && !e.xtsup, !amd ? 'no amd-iommu with interrupt remapping' : e.xtsup ? 'xtsup=on (that is amd-viommu-xt)' : 'amd-iommu intremap=on without xtsup'];
      case 'amd-viommu-xt':
        return [amd && e.xtsup && !e.dma, !amd ? 'no amd-iommu with interrupt remapping' : !e.xtsup ? 'xtsup is off' : e.dma ? 'dma-remap=on (that is amd-viommu-xt-dma)' : 'amd-iommu intremap=on, xtsup=on'];
      case 'amd-viommu-xt-dma':
        return [amd && e.xtsup && e.dma, !amd ? 'no amd-iommu with interrupt remapping' : !e.xtsup ? 'xtsup is off' : !e.dma ? 'dma-remap is off' : 'amd-iommu intremap=on, xtsup=on, dma-remap=on'];
    }
  };
  return { schemes: ALL_SCHEME_IDS.map((scheme) => { const [available, why] = rule(scheme); return { scheme, available, why }; }), problems: e.problems };
}

/** Text lines describing the settings and the schemes they give (for `explore`'s report). */
export function formatVmmConfig(s: VIommuSettings): string {
  const e = effectiveSettings(s);
  const { schemes, problems } = schemesForSettings(s);
  const iommu = s.intel !== undefined ? `intel-iommu intremap=${e.intremap ? 'on' : 'off'} eim=${e.eim ? 'on' : 'off'} dma-translation=${e.dma ? 'on' : 'off'}` : s.amd !== undefined ? `amd-iommu intremap=${e.intremap ? 'on' : 'off'} xtsup=${e.xtsup ? 'on' : 'off'} dma-remap=${e.dma ? 'on' : 'off'}` : 'no vIOMMU';
  const lines = [
    `VM configuration (${s.from === 'qemu' ? 'QEMU command line' : 'libvirt domain XML'}): kernel-irqchip=${e.irqchip}${s.irqchip === undefined ? ' (default)' : ''}, ${iommu}, kvm-msi-ext-dest-id ${e.extDestId ? 'on' : 'off'}, x2apic ${e.x2apic ? 'on' : 'off'}${s.vcpus === undefined ? '' : `, ${s.vcpus} vCPUs`}`,
    ...problems.map((p) => `  problem: ${p}`),
    ...schemes.map((x) => `  ${x.available ? 'yes' : 'no '} ${x.scheme}: ${x.why}`),
  ];
  return lines.join('\n') + '\n';
}

/**
 * The settings `explore --qemu "…"` or `--libvirt FILE` gives (undefined with neither).
 * @throws InputError when both are given, the XML file cannot be read, or as the parsers.
 */
export function vmmConfigOf(o: { readonly qemu?: string; readonly libvirt?: string }): VIommuSettings | undefined {
  if (o.qemu !== undefined && o.libvirt !== undefined) throw new InputError('give at most one of --qemu and --libvirt', { field: '--qemu' });
  if (o.qemu !== undefined) return parseQemuCommandLine(o.qemu);
  if (o.libvirt === undefined) return undefined;
  return parseLibvirtXml(readInputText(o.libvirt, { maxBytes: MAX_SCENARIO_BYTES, what: 'libvirt domain XML' }), o.libvirt);
}

/** The schemes to explore under `s`: the available ones, in report order, narrowed to `requested` when given. */
export function schemesToExplore(s: VIommuSettings, requested: readonly SchemeId[] | undefined): SchemeId[] {
  return schemesForSettings(s).schemes.filter((x) => x.available && (requested === undefined || requested.includes(x.scheme))).map((x) => x.scheme);
}

/** `explore`'s output with the configuration added: a text block before the report, or a `vmmConfig` member of the JSON. */
export function withVmmConfig(output: string, s: VIommuSettings, json: boolean): string {
  if (!json) return formatVmmConfig(s) + '\n' + output;
  const { schemes, problems } = schemesForSettings(s);
  return `${JSON.stringify({ vmmConfig: { settings: s, effective: effectiveSettings(s), schemes, problems }, ...(JSON.parse(output) as object) }, null, 2)}\n`;
}
