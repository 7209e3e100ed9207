/**
 * Effective PCIe Access Control Services of a function, as Linux decides it for IOMMU grouping.
 *
 * Sources (facts carried over, not code):
 * - Linux drivers/pci/pci.c `pci_acs_enabled()`: first the device-specific quirk
 *   (`pci_dev_specific_acs_enabled`, table in ./quirks/acs.ts); a quirk that does not apply falls
 *   through. Then: conventional PCI / PCI-X (no PCI Express capability) → false ("the shared bus
 *   topology implies that any device on the bus can receive or snoop DMA"); PCI/PCI-X-to-PCIe
 *   bridges, PCIe-to-PCI/PCI-X bridges and Root Complex Event Collectors → false (PCIe 3.0
 *   §6.12.1 excludes ACS on them; Linux takes the conservative reading); Downstream and Root
 *   Ports → `pci_acs_flags_enabled` whether single- or multi-function (§6.12.1.1); Endpoints,
 *   Upstream Ports, Legacy Endpoints and RCiEPs → `pci_acs_flags_enabled` when multi-function,
 *   else true (§6.12.1.2–3: no ACS applicable to single-function devices except downstream ports).
 * - `pci_acs_flags_enabled()`: no ACS capability → false; otherwise
 *   `flags &= (cap | PCI_ACS_EC)` ("capabilities are either required or only required if
 *   controllable. Features missing from the capability field can therefore be assumed as
 *   hard-wired enabled", except Egress Control) and enabled iff `(ctrl & flags) === flags`.
 * - `pci_acs_path_enabled(start, end, flags)`: every function from `start` up through the
 *   bridges above it must be ACS-enabled; reaching the root bus answers `end === NULL`.
 *
 * The model's `acs.ctrl` is the ACS Control register as it is once the kernel has booted (what
 * lspci prints), i.e. after `pci_enable_acs`; this module does not re-apply
 * `pci_std_enable_acs`.
 */
import { ACS_BITS, type AcsBit, type Fabric, type FabricFunction } from './model.ts';
import { ACS_QUIRKS, type AcsQuirk, type AcsQuirkMatch, type DeviceIdSet } from './quirks/acs.ts';

/** Every bit of the 16-bit ACS Control register: a quirk without a `mask` filters nothing out. */
const ALL_BITS = 0xffff;

/** The quirk rows by vendor, in table order (the walk only ever looks at rows of the function's vendor; no row uses PCI_ANY_ID as vendor). */
const QUIRKS_BY_VENDOR: ReadonlyMap<number, readonly AcsQuirk[]> = (() => {
  const m = new Map<number, AcsQuirk[]>();
  for (const q of ACS_QUIRKS) {
    const list = m.get(q.vendor);
    if (list === undefined) m.set(q.vendor, [q]);
    else list.push(q);
  }
  return m;
})();

/** Why {@link acsVerdict} decided what it did. */
export type AcsBasis =
  /** A row of the quirk table decided. */
  | { readonly kind: 'quirk'; readonly quirk: AcsQuirk }
  /** Conventional PCI / PCI-X function: never isolated. */
  | { readonly kind: 'conventional-pci' }
  /** PCIe-to-PCI bridge, PCI-to-PCIe bridge or RC Event Collector: ACS "never applicable", taken as not isolated. */
  | { readonly kind: 'not-applicable-type' }
  /** Single-function endpoint, upstream port, legacy endpoint or RCiEP: no ACS required, isolated. */
  | { readonly kind: 'single-function' }
  /** The function's ACS capability and control registers decided. */
  | { readonly kind: 'acs-registers' }
  /** A root port, downstream port or multi-function device without an ACS capability. */
  | { readonly kind: 'no-acs-capability' };

export interface AcsVerdict {
  readonly enabled: boolean;
  readonly basis: AcsBasis;
}

function getFunction(fabric: Fabric, key: string): FabricFunction {
  const f = fabric.functions[key];
  if (f === undefined) throw new RangeError(`no function ${key} in the fabric`);
  return f;
}

function inIdSet(id: number | undefined, set: DeviceIdSet): boolean {
  if (id === undefined) return false;
  return set.some((e) => (typeof e === 'number' ? e === id : id >= e[0] && id <= e[1]));
}

function matches(f: FabricFunction, m: AcsQuirkMatch | undefined): boolean {
  if (m === undefined) return true;
  if (m.pcieTypes !== undefined && !(m.pcieTypes as readonly string[]).includes(f.kind)) return false;
  if (m.deviceIds !== undefined && !inIdSet(f.deviceId, m.deviceIds)) return false;
  if (m.multifunction !== undefined && f.multifunction !== m.multifunction) return false;
  if (m.rootBus !== undefined && (f.parent === undefined) !== m.rootBus) return false;
  return true;
}

/** One quirk row's answer: true/false, or undefined when the rule does not apply (-ENOTTY). */
function evalQuirk(f: FabricFunction, q: AcsQuirk, flags: number): boolean | undefined {
  const r = q.rule;
  if (!matches(f, r.when)) return undefined;
  if (r.kind === 'flags') {
    if (!matches(f, r.only)) return false;
    const req = flags & (r.mask ?? ALL_BITS);
    return (req & ~r.flags) === 0;
  }
  // 'registers' (Intel SPT): not applicable without an ACS capability.
  if (f.acs === undefined) return undefined;
  const req = flags & (f.acs.cap | ACS_BITS.EC);
  const ctrl = f.acs.ctrl | (f.acs.cap & r.enabledByQuirk);
  return (ctrl & req) === req;
}

/** Linux pci_dev_specific_acs_enabled: the first applicable row of the quirk table, or undefined. */
function deviceSpecific(f: FabricFunction, flags: number): { enabled: boolean; quirk: AcsQuirk } | undefined {
  if (f.vendorId === undefined) return undefined;
  for (const q of QUIRKS_BY_VENDOR.get(f.vendorId) ?? []) {
    if (q.device !== 'any' && q.device !== f.deviceId) continue;
    const r = evalQuirk(f, q, flags);
    if (r !== undefined) return { enabled: r, quirk: q };
  }
  return undefined;
}

/** Linux pci_acs_flags_enabled on the function's ACS registers. */
function flagsEnabled(f: FabricFunction, flags: number): AcsVerdict {
  if (f.acs === undefined) return { enabled: false, basis: { kind: 'no-acs-capability' } };
  const req = flags & (f.acs.cap | ACS_BITS.EC);
  return { enabled: (f.acs.ctrl & req) === req, basis: { kind: 'acs-registers' } };
}

/** {@link acsEnabled} with the reason for the answer. */
export function acsVerdict(fabric: Fabric, key: string, flags: number): AcsVerdict {
  const f = getFunction(fabric, key);
  const q = deviceSpecific(f, flags);
  if (q !== undefined) return { enabled: q.enabled, basis: { kind: 'quirk', quirk: q.quirk } };
  switch (f.kind) {
    case 'pci':
    case 'pci-bridge':
      return { enabled: false, basis: { kind: 'conventional-pci' } };
    case 'pci-to-pcie-bridge':
    case 'pcie-to-pci-bridge':
    case 'rc-event-collector':
      return { enabled: false, basis: { kind: 'not-applicable-type' } };
    case 'root-port':
    case 'switch-downstream':
      return flagsEnabled(f, flags);
    case 'endpoint':
    case 'switch-upstream':
    case 'legacy-endpoint':
    case 'rc-integrated-endpoint':
      return f.multifunction ? flagsEnabled(f, flags) : { enabled: true, basis: { kind: 'single-function' } };
  }
}

/**
 * Linux pci_acs_enabled: whether the function provides (effectively) every ACS control in
 * `flags` (bits as `ACS_BITS`). @throws RangeError for an unknown key.
 */
export function acsEnabled(fabric: Fabric, key: string, flags: number): boolean {
  return acsVerdict(fabric, key, flags).enabled;
}

/**
 * Linux pci_acs_path_enabled: walk from `startKey` up through the bridges above it; every
 * function on the way must have {@link acsEnabled}. Stops after checking `endKey`; reaching a
 * function on a root bus answers `endKey === undefined` (as Linux, also when that function is
 * `endKey` itself: the root-bus test comes first).
 */
export function acsPathEnabled(fabric: Fabric, startKey: string, endKey: string | undefined, flags: number): boolean {
  let key = startKey;
  for (;;) {
    const f = getFunction(fabric, key);
    if (!acsEnabled(fabric, key, flags)) return false;
    if (f.parent === undefined) return endKey === undefined;
    if (key === endKey) return true;
    key = f.parent;
  }
}

/** The bits of `flags` the function does not effectively provide, in `ACS_BITS` order (for explanations). */
export function missingAcs(fabric: Fabric, key: string, flags: number): AcsBit[] {
  const out: AcsBit[] = [];
  for (const [name, bit] of Object.entries(ACS_BITS) as [AcsBit, number][]) {
    if ((flags & bit) !== 0 && !acsEnabled(fabric, key, bit)) out.push(name);
  }
  return out;
}
