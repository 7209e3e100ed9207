/**
 * `remapsim decode lspci FILE` and `remapsim decode msi ADDRESS DATA`: decode MSI
 * address/data pairs for the machine's IOMMU.
 *
 * - Intel (VT-d): compatibility format (destination ID, extended destination bits, mode,
 *   vector, delivery mode, trigger) or VT-d remappable format (handle, SHV, subhandle, IRTE
 *   index) — src/vtd/remappable-msi.ts `decodeMsi`.
 * - AMD (AMD-Vi): there is no remappable format; the device writes an ordinary MSI to
 *   0xFEEx_xxxx and the IRTE index is data[10:0] into the device's own interrupt table, the
 *   address playing no part (src/amdvi/remappable-msi.ts `decodeAmdMsi`; amdvi-facts.md
 *   §3.2, §4.1; Linux drivers/iommu/amd/iommu.c `fill_msi_msg`). The IOMMU's own MSI is not
 *   remapped (VirtualBox never remaps it, amdvi-facts.md §3.2) and decodes as compatibility.
 *
 * `--iommu auto` on `decode lspci` picks AMD when the dump holds an AMD IOMMU function
 * (class 0806 with vendor 1022 under `-nn`, or the text `IOMMU: Advanced Micro Devices`
 * without it, read by src/inputs/lspci-topology.ts), Intel otherwise; `decode msi` has
 * nothing to detect and auto means Intel.
 */
import { decodeMsi, type DecodedMsi } from '../vtd/remappable-msi.ts';
import { decodeAmdMsi, amdIrteIndexOf, AMD_REMAPPED_MSI_ADDRESS } from '../amdvi/remappable-msi.ts';
import { DELIVERY_MODE_NAMES, type DeliveryModeName } from '../x86/msi.ts';
import { loadLspci } from '../inputs/lspci.ts';
import { functionKey, parseLspciTopology } from '../inputs/lspci-topology.ts';
import { InputError } from '../io/input-error.ts';
import { hexDigits } from '../bits/bits.ts';
import { formatMsiAddress } from '../scenario/trace.ts';
import { readInputText } from '../io/read-input.ts';
import { MAX_LSPCI_BYTES } from '../io/limits.ts';

const h = (v: number): string => `0x${v.toString(16)}`;

/**
 * `device` (as lspci prints it: `bb:dd.f`, or `ssss:bb:dd.f` with -D or a VMD domain) in the one
 * BDF form of every JSON output (specs/output.schema.json `bdf`, the fabric's canonical key):
 * `bb:dd.f`, with the segment prepended only when it is not 0 (`10000:e0:06.0`, never `0000:`).
 */
export function deviceJson(device: string | undefined): { device?: string } {
  if (device === undefined) return {};
  const m = /^([0-9a-f]+):([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/i.exec(device);
  if (m === null) return { device: device.toLowerCase() };
  const segment = parseInt(m[1]!, 16);
  return { device: segment === 0 ? m[2]!.toLowerCase() : `${segment.toString(16)}:${m[2]!.toLowerCase()}` };
}

/**
 * The JSON object for one pair (keys as the README documents them; types as every JSON output:
 * the address a 0x-hex string, data and the decoded fields numbers, specs/output.schema.json).
 */
export function decodedToJson(device: string | undefined, m: DecodedMsi): Record<string, unknown> {
  const base = { ...deviceJson(device), address: `0x${formatMsiAddress(m.address)}`, data: m.data, format: m.format };
  switch (m.format) {
    case 'compatibility':
      return {
        ...base,
        destinationId: m.destinationId,
        extendedDestinationId: m.extendedDestinationId,
        vector: m.vector,
        deliveryMode: m.deliveryMode,
        destinationMode: m.destinationModeLogical ? 'logical' : 'physical',
        triggerMode: m.triggerMode,
        redirectionHint: m.redirectionHint,
      };
    case 'remappable':
      return { ...base, handle: m.handle, shv: m.shv, subhandle: m.subhandle, irteIndex: m.irteIndex };
    case 'not-interrupt':
      return base;
  }
}

/** One human line for one pair. */
export function describeDecoded(m: DecodedMsi): string {
  switch (m.format) {
    case 'compatibility': {
      const ext = m.extendedDestinationId === 0 ? '' : ` (extended destination bits 14:8 = ${h(m.extendedDestinationId)}: APIC ID ${h((m.extendedDestinationId << 8) | m.destinationId)} if the hypervisor advertises the extended destination ID)`;
      return `compatibility: destination ${h(m.destinationId)}${ext} ${m.destinationModeLogical ? 'logical' : 'physical'}${m.redirectionHint ? ' RH' : ''}, vector ${h(m.vector)} ${m.deliveryMode} ${m.triggerMode}`;
    }
    case 'remappable':
      return `remappable: handle ${h(m.handle)} SHV=${m.shv ? 1 : 0} subhandle ${h(m.subhandle)} → IRTE index ${h(m.irteIndex)}`;
    case 'not-interrupt':
      return 'not an interrupt address (outside 0xFEE00000-0xFEEFFFFF): an ordinary DMA write';
  }
}

/** `--iommu`: whose interrupt remapping the pairs are decoded for. */
export type IommuOption = 'amd' | 'intel' | 'auto';

/** The vendor a dump is decoded for, and why (printed first by `decode lspci`). */
export interface IommuChoice {
  readonly vendor: 'amd' | 'intel';
  /** In words, e.g. `auto: 00:00.2 is an AMD IOMMU function, class 0806 vendor 1022`. */
  readonly reason: string;
  /** AMD: keys (`functionKey`) of the dump's AMD IOMMU functions, whose own MSIs are not remapped. */
  readonly iommuFunctions: ReadonlySet<string>;
}

/** PCI class 08h subclass 06h: IOMMU (pci.ids; pciutils prints it as `IOMMU [0806]`). */
const CLASS_IOMMU = 0x0806;
/** PCI vendor ID of Advanced Micro Devices. */
const VENDOR_AMD = 0x1022;
/** How lspci without `-nn` names an AMD IOMMU function (class name, then vendor name). */
const AMD_IOMMU_NAME = 'IOMMU: Advanced Micro Devices';

/**
 * Decide the vendor for an lspci dump. `auto` looks for an AMD IOMMU function with
 * {@link parseLspciTopology} (class code and vendor under `-nn`, the description otherwise).
 * A dump that parser refuses (it is stricter than the MSI extractor) decodes as Intel, the
 * refusal named in the reason. Never throws.
 */
export function chooseIommu(option: IommuOption, text: string, file: string): IommuChoice {
  if (option !== 'auto') return { vendor: option, reason: `--iommu ${option}`, iommuFunctions: new Set() };
  let topology;
  try {
    topology = parseLspciTopology(text, file);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return { vendor: 'intel', reason: `auto: the device headers could not be read (${e.message}), so no AMD IOMMU function was found`, iommuFunctions: new Set() };
  }
  const amd: string[] = [];
  let numeric = false;
  for (const f of topology.description.functions) {
    const key = functionKey(f.segment, f.rid);
    const classCode = topology.classCodes.get(key);
    if (classCode !== undefined && f.vendorId !== undefined) {
      if (classCode === CLASS_IOMMU && f.vendorId === VENDOR_AMD) {
        amd.push(key);
        numeric = true;
      }
    } else if (topology.names.get(key)?.startsWith(AMD_IOMMU_NAME)) amd.push(key);
  }
  if (amd.length === 0) return { vendor: 'intel', reason: 'auto: no AMD IOMMU function (class 0806, vendor 1022) in the dump', iommuFunctions: new Set() };
  const why = numeric ? 'class 0806 vendor 1022' : `named "${AMD_IOMMU_NAME}…"`;
  return { vendor: 'amd', reason: `auto: ${amd.join(', ')} ${amd.length === 1 ? 'is an AMD IOMMU function' : 'are AMD IOMMU functions'}, ${why}`, iommuFunctions: new Set(amd) };
}

/** An MSI as AMD-Vi remaps it (src/amdvi/remappable-msi.ts `decodeAmdMsi`). */
export interface AmdRemappedMsi {
  readonly format: 'amd-remapped';
  readonly address: bigint;
  readonly data: number;
  /** data[10:0] (`amdIrteIndexOf`). */
  readonly irteIndex: number;
  /** data[10:8] read as the delivery mode. */
  readonly deliveryMode: DeliveryModeName;
  /**
   * Fixed / arbitrated (000, 001): the only modes looked up in the IRTE outside 2K interrupt
   * mode (amdvi-facts.md §3.2). In 2K mode Linux writes indices up to 2047 as data, so the
   * other modes then reach the IRTE too [derived from Linux `fill_msi_msg`, sheet §4.1].
   */
  readonly reachesIrte: boolean;
  /** Address bit 2. */
  readonly destinationModeLogical: boolean;
  /** Where this message differs from what Linux `fill_msi_msg` writes, in words. */
  readonly notLinux: readonly string[];
}

/**
 * What happens to an MSI whose data[10:8] is `mode` under a DTE with IV=1 (amdvi-facts.md
 * §3.2: VirtualBox `iommuAmdIntrTableLookup`, QEMU `__amdvi_int_remap_msi`).
 */
function amdModeAction(mode: number): string {
  switch (mode) {
    case 0:
    case 1:
      return 'reaches the IRTE (remapped when the DTE has IntCtl=10b)';
    case 2:
      return 'not looked up; the DTE\'s SysMgt bits decide (QEMU refuses SMI)';
    case 4:
      return 'not looked up: passed unchanged if the DTE\'s NMIPass is set, else target abort';
    case 5:
      return 'not looked up: passed unchanged if the DTE\'s InitPass is set, else target abort';
    case 7:
      return 'not looked up: passed unchanged if the DTE\'s EIntPass is set, else target abort';
    default:
      return 'reserved: target abort (VirtualBox) / error (QEMU)';
  }
}

/**
 * Decode one pair for AMD-Vi and list how it differs from Linux's message: address
 * 0xFEE00000 (0xFEE00004 in 2K mode, DM=1), data = the index with bits 15:11 clear, index
 * below 512 unless in 2K mode (amdvi-facts.md §4.1; Linux `fill_msi_msg`, L-T "hardware only
 * supports 512 IRTEs"). Never throws.
 */
export function decodeAmdRemapped(address: bigint, data: number): AmdRemappedMsi {
  const m = decodeAmdMsi(address, data);
  const notLinux: string[] = [];
  if (address !== AMD_REMAPPED_MSI_ADDRESS && address !== (AMD_REMAPPED_MSI_ADDRESS | 4n)) {
    notLinux.push(`address is not 0xfee00000 (Linux writes 0xfee00000, 0xfee00004 in 2K mode)`);
  }
  const high = (data >>> 0) >>> 11;
  if (high !== 0) notLinux.push(`data bits above 10 are ${h(high << 11)} (Linux writes data = the index)`);
  if (m.index >= 512 && !m.addressDestinationModeLogical) notLinux.push('index 512 or more without DM=1 (Linux uses 2048-entry tables only in 2K mode, and sets DM=1 there)');
  return {
    format: 'amd-remapped',
    address,
    data,
    irteIndex: amdIrteIndexOf(data),
    deliveryMode: DELIVERY_MODE_NAMES[m.deliveryMode] ?? 'fixed',
    reachesIrte: m.deliveryMode <= 1,
    destinationModeLogical: m.addressDestinationModeLogical,
    notLinux,
  };
}

/** The JSON object for one AMD-Vi remapped pair (conventions of {@link decodedToJson}). */
export function amdRemappedToJson(device: string | undefined, m: AmdRemappedMsi): Record<string, unknown> {
  return {
    ...deviceJson(device),
    address: `0x${formatMsiAddress(m.address)}`,
    data: m.data,
    format: m.format,
    irteIndex: m.irteIndex,
    deliveryMode: m.deliveryMode,
    reachesIrte: m.reachesIrte,
    destinationMode: m.destinationModeLogical ? 'logical' : 'physical',
    notLinux: m.notLinux,
  };
}

/** One human line for one AMD-Vi remapped pair. */
export function describeAmdRemapped(m: AmdRemappedMsi): string {
  const mode = (m.data >>> 8) & 7;
  const parts = [
    `AMD-Vi remapped: IRTE index ${h(m.irteIndex)} of the device's interrupt table (data[10:0]); address 0x${formatMsiAddress(m.address)} not used for the index`,
    `data[10:8] ${mode.toString(2).padStart(3, '0')} ${m.deliveryMode}: ${amdModeAction(mode)}`,
  ];
  if (m.destinationModeLogical) {
    parts.push(m.reachesIrte ? 'DM=1: Linux sets it in 2K interrupt mode (EFR2[9:8]=01), whatever the IRTE\'s DM' : 'DM=1: target abort for this mode outside 2K interrupt mode; in 2K mode (Linux sets DM=1, 2048-entry tables) data[10:8] is part of the index');
  }
  if (m.notLinux.length > 0) parts.push(`not what Linux writes: ${m.notLinux.join('; ')}`);
  return parts.join('; ');
}

/** The decoded pair of one lspci entry under `choice`. */
function decodeFor(choice: IommuChoice, key: string | undefined, address: bigint, data: number): DecodedMsi | AmdRemappedMsi {
  const intel = decodeMsi(address, data);
  if (choice.vendor === 'intel' || intel.format === 'not-interrupt') return intel;
  // The IOMMU's own MSI is not remapped: an ordinary compatibility-format interrupt.
  if (key !== undefined && choice.iommuFunctions.has(key) && intel.format === 'compatibility') return intel;
  return decodeAmdRemapped(intel.address, intel.data);
}

const toJson = (device: string | undefined, m: DecodedMsi | AmdRemappedMsi): Record<string, unknown> => (m.format === 'amd-remapped' ? amdRemappedToJson(device, m) : decodedToJson(device, m));
const describe = (m: DecodedMsi | AmdRemappedMsi, ownIommu: boolean): string => (m.format === 'amd-remapped' ? describeAmdRemapped(m) : describeDecoded(m) + (ownIommu ? ' (the IOMMU\'s own interrupt: not remapped)' : ''));

const VENDOR_NAMES = { amd: 'AMD-Vi', intel: 'Intel VT-d' } as const;

/**
 * Output of `decode lspci`: text starts with `IOMMU: <vendor> (<reason>)` when the dump decodes as
 * AMD-Vi or `--iommu` chose the vendor (an auto-detected Intel dump prints as it always did); JSON
 * lines carry `iommu` (`amd` / `intel`) and `iommuReason` on every row.
 * @throws InputError for an unreadable or non-lspci file.
 */
export function decodeLspci(file: string, json: boolean, iommu: IommuOption = 'auto'): string {
  const entries = loadLspci(file);
  // loadLspci has read the file, so reading it again succeeds.
  const choice = iommu === 'auto' ? chooseIommu('auto', readInputText(file, { maxBytes: MAX_LSPCI_BYTES, what: 'lspci dump' }), file) : chooseIommu(iommu, '', file);
  const out: string[] = [];
  // The Intel decode of a dump with no AMD IOMMU is what decode lspci always printed: say the choice only when it changes something or was asked for.
  if (!json && (choice.vendor === 'amd' || iommu !== 'auto')) out.push(`IOMMU: ${VENDOR_NAMES[choice.vendor]} (${choice.reason})`);
  for (const e of entries) {
    if (e.address === undefined || e.data === undefined) {
      if (!json) out.push(`${e.device} ${e.capability.padEnd(5)} ${e.enabled ? 'enabled ' : 'disabled'} (lspci does not print MSI-X table contents)`);
      continue;
    }
    const key = functionKey(e.segment, e.rid);
    const m = decodeFor(choice, key, e.address, e.data);
    if (!json && !e.enabled && e.address === 0n && e.data === 0) {
      out.push(`${e.device} ${e.capability.padEnd(5)} ${formatMsiAddress(e.address)}/${hexDigits(e.data, 4)} (disabled, never programmed)`);
      continue;
    }
    const ownIommu = m.format === 'compatibility' && choice.iommuFunctions.has(key);
    if (json) out.push(JSON.stringify({ ...toJson(e.device, m), capability: e.capability, enabled: e.enabled, line: e.line, iommu: choice.vendor, iommuReason: choice.reason, ...(ownIommu ? { ownIommuInterrupt: true } : {}) }));
    else out.push(`${e.device} ${e.capability.padEnd(5)} ${formatMsiAddress(e.address)}/${hexDigits(e.data, 4)} ${e.enabled ? '' : '(disabled) '}${describe(m, ownIommu)}`);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}

function parseHexArg(text: string, what: string, maxBits: number): bigint {
  const t = text.trim().toLowerCase();
  if (!/^(0x)?[0-9a-f]+$/.test(t)) throw new InputError(`expected a hex number, got '${text}'`, { field: what });
  const v = BigInt(t.startsWith('0x') ? t : `0x${t}`);
  if (v >> BigInt(maxBits) !== 0n) throw new InputError(`'${text}' does not fit in ${maxBits} bits`, { field: what });
  return v;
}

/**
 * Output of `decode msi ADDRESS DATA` (both hex, with or without 0x). `iommu` `auto` means
 * Intel (one pair says nothing about the machine). @throws InputError on bad numbers.
 */
export function decodeMsiPair(address: string, data: string, json: boolean, iommu: IommuOption = 'auto'): string {
  const a = parseHexArg(address, 'ADDRESS', 64);
  const d = Number(parseHexArg(data, 'DATA', 32));
  const m = decodeFor(chooseIommu(iommu === 'auto' ? 'intel' : iommu, '', ''), undefined, a, d);
  return (json ? JSON.stringify(toJson(undefined, m)) : `${formatMsiAddress(m.address)}/${hexDigits(m.data, 4)} ${describe(m, false)}`) + '\n';
}
