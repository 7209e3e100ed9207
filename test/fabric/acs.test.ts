// Effective ACS (src/fabric/acs.ts) and the device-specific ACS quirk table
// (src/fabric/quirks/acs.ts), on hand-built fabrics (plain data per src/fabric/model.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { acsEnabled, acsPathEnabled, acsVerdict, missingAcs } from '../../src/fabric/acs.ts';
import { ACS_BITS, REQ_ACS_FLAGS, type AcsRegisters, type Fabric, type FabricFunction, type FunctionKind } from '../../src/fabric/model.ts';
import { ACS_QUIRKS, INTEL_PCH_ACS_IDS } from '../../src/fabric/quirks/acs.ts';
import { formatBdf, parseBdf } from '../../src/pci/bdf.ts';

const { SV, TB, RR, CR, UF, EC, DT } = ACS_BITS;
const FULL: AcsRegisters = { cap: SV | TB | RR | CR | UF, ctrl: SV | TB | RR | CR | UF };

interface Spec {
  readonly bdf: string;
  readonly kind: FunctionKind;
  readonly vendor?: number;
  readonly device?: number;
  readonly mf?: boolean;
  readonly sec?: number;
  readonly acs?: AcsRegisters;
}

/** A fabric from a list of functions: parent = the bridge whose secondary bus holds the function. */
function fabric(specs: readonly Spec[]): Fabric {
  const parsed = specs.map((s) => ({ s, p: parseBdf(s.bdf)! }));
  const key = (seg: number, rid: number): string => formatBdf(rid, seg === 0 ? undefined : seg);
  const parentOf = new Map<string, string>();
  for (const { s, p } of parsed) if (s.sec !== undefined) parentOf.set(`${p.segment}:${s.sec}`, key(p.segment, p.rid));
  const functions: Record<string, FabricFunction> = {};
  for (const { s, p } of parsed) {
    const parent = parentOf.get(`${p.segment}:${p.rid >> 8}`);
    const path: string[] = [];
    for (let k = parent; k !== undefined; ) {
      path.unshift(k);
      const q = parseBdf(k)!;
      k = parentOf.get(`${q.segment}:${q.rid >> 8}`);
    }
    const slotMates = parsed.filter((o) => o.p.segment === p.segment && o.p.rid >> 3 === p.rid >> 3).length;
    functions[key(p.segment, p.rid)] = {
      key: key(p.segment, p.rid),
      segment: p.segment,
      rid: p.rid,
      kind: s.kind,
      vendorId: s.vendor ?? 0x1234,
      deviceId: s.device ?? 0x0001,
      multifunction: s.mf ?? (slotMates > 1 || (p.rid & 7) !== 0),
      bridge: s.sec === undefined ? undefined : { secondary: s.sec, subordinate: s.sec },
      acs: s.acs,
      phantom: undefined,
      dmaAliases: [],
      dmaDevice: undefined,
      bars: [],
      parent,
      path,
    };
  }
  return { hostBridges: [{ segment: 0, bus: 0 }], functions };
}

const one = (s: Omit<Spec, 'bdf'>): Fabric => fabric([{ bdf: '00:1c.0', ...s }]);
const enabled = (s: Omit<Spec, 'bdf'>, flags = REQ_ACS_FLAGS): boolean => acsEnabled(one(s), '00:1c.0', flags);

describe('pci_acs_enabled without quirks', () => {
  it('conventional PCI functions and bridges never have ACS, whatever their registers say', () => {
    expect(enabled({ kind: 'pci' })).toBe(false);
    expect(enabled({ kind: 'pci', acs: FULL })).toBe(false);
    expect(enabled({ kind: 'pci-bridge', sec: 1, acs: FULL })).toBe(false);
  });

  it('PCIe-to-PCI bridges, PCI-to-PCIe bridges and RC event collectors: never', () => {
    for (const kind of ['pcie-to-pci-bridge', 'pci-to-pcie-bridge', 'rc-event-collector'] as const) {
      expect(enabled({ kind, acs: FULL, ...(kind === 'rc-event-collector' ? {} : { sec: 1 }) })).toBe(false);
    }
  });

  it('root and downstream ports: the ACS registers decide, single-function or not', () => {
    for (const kind of ['root-port', 'switch-downstream'] as const) {
      expect(enabled({ kind, sec: 1 })).toBe(false); // no ACS capability
      expect(enabled({ kind, sec: 1, acs: FULL })).toBe(true);
      expect(enabled({ kind, sec: 1, acs: { cap: FULL.cap, ctrl: SV | CR | UF } })).toBe(false); // RR not enabled
    }
  });

  it('endpoints, upstream ports, legacy endpoints, RCiEPs: isolated when single-function, else the registers decide', () => {
    for (const kind of ['endpoint', 'switch-upstream', 'legacy-endpoint', 'rc-integrated-endpoint'] as const) {
      const sec = kind === 'switch-upstream' ? { sec: 1 } : {};
      expect(enabled({ kind, mf: false, ...sec })).toBe(true);
      expect(enabled({ kind, mf: true, ...sec })).toBe(false);
      expect(enabled({ kind, mf: true, acs: FULL, ...sec })).toBe(true);
    }
  });

  it('a capability bit that is not implemented counts as hard-wired enabled, except Egress Control', () => {
    // flags &= (cap | PCI_ACS_EC): RR missing from the capability → RR is not checked.
    expect(enabled({ kind: 'root-port', sec: 1, acs: { cap: SV | CR | UF, ctrl: SV | CR | UF } })).toBe(true);
    // An ACS capability with no bits at all (the AMD Rembrandt functions of the T14 dump): isolated.
    expect(enabled({ kind: 'endpoint', mf: true, acs: { cap: 0, ctrl: 0 } })).toBe(true);
    // EC is checked even when not in the capability.
    expect(enabled({ kind: 'root-port', sec: 1, acs: FULL }, EC)).toBe(false);
  });

  it('acsVerdict names the basis', () => {
    expect(acsVerdict(one({ kind: 'pci' }), '00:1c.0', REQ_ACS_FLAGS).basis.kind).toBe('conventional-pci');
    expect(acsVerdict(one({ kind: 'endpoint', mf: false }), '00:1c.0', REQ_ACS_FLAGS).basis.kind).toBe('single-function');
    expect(acsVerdict(one({ kind: 'root-port', sec: 1 }), '00:1c.0', REQ_ACS_FLAGS).basis.kind).toBe('no-acs-capability');
    expect(acsVerdict(one({ kind: 'root-port', sec: 1, acs: FULL }), '00:1c.0', REQ_ACS_FLAGS).basis.kind).toBe('acs-registers');
    expect(() => acsEnabled(one({ kind: 'pci' }), '00:1d.0', REQ_ACS_FLAGS)).toThrow(RangeError);
  });
});

describe('device-specific ACS (pci_dev_acs_enabled[])', () => {
  const INTEL = 0x8086;
  const quirkOf = (s: Omit<Spec, 'bdf'>): string | undefined => {
    const b = acsVerdict(one(s), '00:1c.0', REQ_ACS_FLAGS).basis;
    return b.kind === 'quirk' ? b.quirk.source : undefined;
  };

  it('Intel PCH root ports without an ACS capability are isolated (pci_quirk_intel_pch_acs)', () => {
    const rp = { kind: 'root-port', sec: 1, vendor: INTEL, device: 0x1c10 } as const;
    expect(enabled(rp)).toBe(true);
    expect(quirkOf(rp)).toMatch(/pci_quirk_intel_pch_acs/);
    expect(enabled(rp, TB)).toBe(false); // the quirk claims SV|RR|CR|UF only
    expect(enabled({ ...rp, device: 0x1c00 })).toBe(false); // not in the id list: no quirk, no ACS capability
    expect(enabled({ kind: 'endpoint', vendor: INTEL, device: 0x1c10, mf: true })).toBe(false); // match requires a root port
    expect(INTEL_PCH_ACS_IDS).toContain(0x8d1e);
    expect(INTEL_PCH_ACS_IDS).not.toContain(0x8d1f);
  });

  it('Intel Sunrise Point root ports: the registers with the enable quirk applied (pci_quirk_intel_spt_pch_acs)', () => {
    const rp = { kind: 'root-port', sec: 1, vendor: INTEL, device: 0xa110 } as const;
    expect(enabled({ ...rp, acs: { cap: SV | RR | CR | UF, ctrl: 0 } })).toBe(true);
    expect(quirkOf({ ...rp, acs: { cap: SV | RR | CR | UF, ctrl: 0 } })).toMatch(/pci_quirk_intel_spt_pch_acs/);
    expect(enabled({ ...rp, acs: { cap: FULL.cap, ctrl: 0 } }, TB)).toBe(false); // TB is not set by the enable quirk
    expect(enabled(rp)).toBe(false); // no ACS capability: -ENOTTY, then the standard rule
    expect(quirkOf(rp)).toBeUndefined();
  });

  it('Tiger Lake PCH root ports (8086:a0ba, a0b3) match no quirk: their registers decide', () => {
    const acs = { cap: SV | TB | RR | CR | UF, ctrl: SV | RR | CR | UF };
    expect(quirkOf({ kind: 'root-port', sec: 1, vendor: INTEL, device: 0xa0ba, acs })).toBeUndefined();
    expect(enabled({ kind: 'root-port', sec: 1, vendor: INTEL, device: 0xa0ba, acs })).toBe(true);
    expect(missingAcs(one({ kind: 'root-port', sec: 1, vendor: INTEL, device: 0xa0b3, acs }), '00:1c.0', SV | TB | RR | CR | UF)).toEqual(['TB']);
  });

  it('Intel RCiEPs (pci_quirk_rciep_acs) and multi-function endpoints (pci_quirk_mf_endpoint_acs)', () => {
    expect(enabled({ kind: 'rc-integrated-endpoint', mf: true, vendor: INTEL, device: 0x9999 })).toBe(true);
    expect(enabled({ kind: 'rc-integrated-endpoint', mf: true, vendor: 0x1234 })).toBe(false);
    const ixgbe = { kind: 'endpoint', mf: true, vendor: INTEL, device: 0x10fb } as const;
    expect(enabled(ixgbe)).toBe(true);
    expect(enabled(ixgbe, SV | TB | RR | CR | UF | DT)).toBe(true);
    expect(enabled(ixgbe, EC)).toBe(false);
  });

  it('AMD southbridge functions: multi-function on the root bus only, request filtered to RR|CR|EC|DT (pci_quirk_amd_sb_acs)', () => {
    const smbus = { kind: 'pci', mf: true, vendor: 0x1002, device: 0x4385 } as const;
    expect(enabled(smbus)).toBe(true); // SV and UF are filtered out, RR|CR claimed
    expect(enabled(smbus, EC)).toBe(false);
    expect(enabled({ ...smbus, mf: false })).toBe(false); // -ENODEV, then conventional PCI
    const below = fabric([
      { bdf: '00:01.0', kind: 'root-port', sec: 1, acs: FULL },
      { bdf: '01:00.0', kind: 'pci', mf: true, vendor: 0x1002, device: 0x4385 },
    ]);
    expect(acsEnabled(below, '01:00.0', REQ_ACS_FLAGS)).toBe(false); // not on a root bus
  });

  it('Zhaoxin and Wangxun quirks answer "not enabled" for devices outside their lists', () => {
    expect(enabled({ kind: 'root-port', sec: 1, vendor: 0x1d17, device: 0x0715 })).toBe(true);
    expect(enabled({ kind: 'root-port', sec: 1, vendor: 0x1d17, device: 0x0722, acs: FULL })).toBe(false);
    expect(enabled({ kind: 'endpoint', mf: false, vendor: 0x1d17, device: 0x0722 })).toBe(true); // not a port: -ENOTTY
    expect(enabled({ kind: 'endpoint', mf: true, vendor: 0x8088, device: 0x1001 })).toBe(true);
    expect(enabled({ kind: 'endpoint', mf: true, vendor: 0x8088, device: 0x1002, acs: FULL })).toBe(false);
    expect(enabled({ kind: 'endpoint', mf: false, vendor: 0x8088, device: 0x1002 })).toBe(false); // the quirk decides before the single-function rule
  });

  it('root-port quirks: Cavium ranges, Annapurna Labs type check, QCOM, NXP, Loongson, Ampere, Broadcom', () => {
    expect(enabled({ kind: 'root-port', sec: 1, vendor: 0x177d, device: 0xa123 })).toBe(true);
    expect(enabled({ kind: 'root-port', sec: 1, vendor: 0x177d, device: 0xa800 })).toBe(false);
    expect(enabled({ kind: 'root-port', sec: 1, vendor: 0x1c36, device: 0x0031 })).toBe(true);
    expect(enabled({ kind: 'root-port', sec: 1, vendor: 0x1c36, device: 0x0031 }, TB)).toBe(false);
    expect(enabled({ kind: 'endpoint', mf: true, vendor: 0x1c36, device: 0x0031 })).toBe(false);
    for (const [vendor, device] of [
      [0x17cb, 0x0400],
      [0x17cb, 0x0120],
      [0x1dbf, 0x0401],
      [0x1957, 0x8d9b],
      [0x0014, 0x7a69],
      [0x1def, 0xe00c],
      [0x10e8, 0xe004],
      [0x14e4, 0xd714],
    ] as const) {
      expect(enabled({ kind: 'root-port', sec: 1, vendor, device }), `${vendor.toString(16)}:${device.toString(16)}`).toBe(true);
    }
  });

  it('every row cites quirks.c and its quirk function; Linux order kept (RCiEP before PCH, Zhaoxin and Wangxun last)', () => {
    for (const q of ACS_QUIRKS) {
      expect(q.source).toMatch(/^drivers\/pci\/quirks\.c pci_dev_acs_enabled\[\] → pci_quirk_\w+; \S/);
      expect(q.vendor).toBeGreaterThanOrEqual(0);
      expect(q.vendor).toBeLessThanOrEqual(0xffff);
    }
    expect(ACS_QUIRKS).toHaveLength(132); // counted in linux-next pci_dev_acs_enabled[] (6.18 has 130: no QCOM Hamoa, Glymur)
    const at = (fn: string): number => ACS_QUIRKS.findIndex((q) => q.source.includes(`→ ${fn};`));
    expect(at('pci_quirk_rciep_acs')).toBeLessThan(at('pci_quirk_intel_pch_acs'));
    expect(at('pci_quirk_intel_pch_acs')).toBeLessThan(at('pci_quirk_intel_spt_pch_acs'));
    expect(ACS_QUIRKS.at(-2)!.source).toMatch(/zhaoxin/);
    expect(ACS_QUIRKS.at(-1)!.source).toMatch(/wangxun/);
  });
});

describe('pci_acs_path_enabled', () => {
  const f = fabric([
    { bdf: '00:01.0', kind: 'root-port', sec: 1 }, // no ACS
    { bdf: '01:00.0', kind: 'switch-upstream', sec: 2 },
    { bdf: '02:00.0', kind: 'switch-downstream', sec: 3, acs: FULL },
    { bdf: '03:00.0', kind: 'endpoint' },
    { bdf: '00:02.0', kind: 'root-port', sec: 4, acs: FULL },
    { bdf: '04:00.0', kind: 'endpoint' },
  ]);
  it('every function up to the root bus must be isolated', () => {
    expect(acsPathEnabled(f, '03:00.0', undefined, REQ_ACS_FLAGS)).toBe(false); // the root port lacks ACS
    expect(acsPathEnabled(f, '04:00.0', undefined, REQ_ACS_FLAGS)).toBe(true);
  });
  it('stops after `end`; a walk that reaches the root bus answers end === undefined, even at end itself', () => {
    expect(acsPathEnabled(f, '03:00.0', '01:00.0', REQ_ACS_FLAGS)).toBe(true);
    expect(acsPathEnabled(f, '04:00.0', '00:02.0', REQ_ACS_FLAGS)).toBe(false);
  });
});

describe('missingAcs', () => {
  it('names the bits of the request that are not effectively enabled', () => {
    expect(missingAcs(one({ kind: 'root-port', sec: 1, acs: { cap: FULL.cap, ctrl: SV | CR } }), '00:1c.0', REQ_ACS_FLAGS)).toEqual(['RR', 'UF']);
    expect(missingAcs(one({ kind: 'pci' }), '00:1c.0', REQ_ACS_FLAGS)).toEqual(['SV', 'RR', 'CR', 'UF']);
    expect(missingAcs(one({ kind: 'endpoint', mf: false }), '00:1c.0', REQ_ACS_FLAGS)).toEqual([]);
  });
});

describe('properties', () => {
  const RUNS = { seed: 20250112, numRuns: 400 } as const;
  const reg = fc.integer({ min: 0, max: 0x7f });
  const portCase = fc.record({ cap: reg, ctrl: reg, flags: fc.integer({ min: 1, max: 0x7f }) });
  const rootPortEnabled = ({ cap, ctrl, flags }: { cap: number; ctrl: number; flags: number }): boolean =>
    acsEnabled(one({ kind: 'root-port', sec: 1, acs: { cap, ctrl } }), '00:1c.0', flags);

  /** PCIe ACS: a control not in the capability is hard-wired (enabled), except Egress Control which is never assumed. */
  const specified = (ref: (c: { cap: number; ctrl: number; flags: number }) => boolean) =>
    fc.property(portCase, (c) => rootPortEnabled(c) === ref(c));
  const spec = ({ cap, ctrl, flags }: { cap: number; ctrl: number; flags: number }): boolean => ((ctrl | (~cap & ~EC)) & flags) === flags;
  const ignoresCap = ({ ctrl, flags }: { ctrl: number; flags: number }): boolean => (ctrl & flags) === flags;
  const assumesEc = ({ cap, ctrl, flags }: { cap: number; ctrl: number; flags: number }): boolean => ((ctrl | ~cap) & flags) === flags;

  it('a root port is enabled iff every requested control is set or not implemented (EC excepted); the property catches broken references', () => {
    expect(fc.check(specified(spec), RUNS).failed).toBe(false);
    expect(fc.check(specified(ignoresCap), RUNS).failed).toBe(true);
    expect(fc.check(specified(assumesEc), RUNS).failed).toBe(true);
  });

  const anyFunction = fc.record({
    kind: fc.constantFrom<FunctionKind>('endpoint', 'root-port', 'switch-downstream', 'rc-integrated-endpoint', 'pci', 'pcie-to-pci-bridge'),
    mf: fc.boolean(),
    acs: fc.option(fc.record({ cap: reg, ctrl: reg }), { nil: undefined }),
    id: fc.constantFrom<[number, number]>([0x1234, 1], [0x8086, 0x1c10], [0x8086, 0xa110], [0x8086, 0x10fb], [0x1002, 0x4385], [0x1d17, 0x0722], [0x8088, 0x1001], [0x1c36, 0x31]),
    flags: fc.integer({ min: 1, max: 0x7f }),
  });
  const missingIsExact = (missing: (f: Fabric, flags: number) => readonly string[]) =>
    fc.property(anyFunction, (c) => {
      const bridge = c.kind === 'root-port' || c.kind === 'switch-downstream' || c.kind === 'pcie-to-pci-bridge';
      const f = one({ kind: c.kind, mf: c.mf, vendor: c.id[0], device: c.id[1], ...(c.acs ? { acs: c.acs } : {}), ...(bridge ? { sec: 1 } : {}) });
      return acsEnabled(f, '00:1c.0', c.flags) === (missing(f, c.flags).length === 0);
    });

  it('missingAcs is empty exactly when acsEnabled holds (over kinds and quirk rows); a per-register shortcut fails', () => {
    expect(fc.check(missingIsExact((f, flags) => missingAcs(f, '00:1c.0', flags)), RUNS).failed).toBe(false);
    const registersOnly = (f: Fabric, flags: number): string[] => {
      const a = f.functions['00:1c.0']!.acs;
      return a === undefined ? ['all'] : Object.entries(ACS_BITS).filter(([, b]) => (flags & b) !== 0 && (a.ctrl & b) === 0 && ((a.cap & b) !== 0 || b === EC)).map(([n]) => n);
    };
    expect(fc.check(missingIsExact(registersOnly), RUNS).failed).toBe(true);
  });
});
