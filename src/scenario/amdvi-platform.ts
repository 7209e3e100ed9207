/**
 * The AMD-Vi units of a scenario's platform: from an IVRS table (`platform.ivrs`) as Linux reads
 * it, or by hand (`platform.amdvi`). Pure apart from the IVRS file read.
 *
 * From the IVRS (drivers/iommu/amd/init.c): only the IVHDs of the type Linux picks
 * (`get_highest_supported_ivhd_type`, src/amdvi/ivrs/model.ts `linuxIvhdType`: 11h/40h over 10h
 * for the same unit) become units, in table order; MMIO base, the IOMMU's DeviceID, segment and
 * capability offset from the IVHD header; EFR / EFR2 from the 11h/40h images (Linux
 * `early_iommu_features_init` with IVinfo.EFRSup; the MMIO register holds the same value). A 10h
 * IVHD has no EFR image: its feature-reporting bits go to the EFR bits of the same name (XTSup 2,
 * NXSup 3, GTSup 4, IASup 6, GASup 7, HESup 8, GLXSup 15:14, PASmax 36:32, GATS 13:12, HATS
 * 11:10) [derived: the feature word mirrors those EFR fields, sheet §1.2/§2.5]. The scope is every
 * device range of the IVHD (`deviceRanges`) and its special (IOAPIC / HPET) entries. The host
 * address width is IVinfo.PASize (48 when 0).
 */
import { dirname, resolve } from 'node:path';
import type { IvrsTable, Ivhd } from '../amdvi/ivrs/model.ts';
import { deviceRanges, linuxIvhdType } from '../amdvi/ivrs/model.ts';
import { loadIvrs } from '../amdvi/ivrs/load.ts';
import { InputError } from '../io/input-error.ts';
import type { AmdViScope, AmdViUnitSpec } from '../platform/amdvi-build.ts';
import type { AmdViUnitSpecYaml } from './amdvi-types.ts';

/**
 * EFR when a scenario gives none: the ASUS ROG Zenith II Extreme (TRX40) IOMMU, `AMD-Vi: Extended
 * features (0x58f77ef22294ade): PPR X2APIC NX GT IA GA PC GA_vAPIC` (data/real-inputs dmesg
 * excerpt; issue 13).
 */
export const DEFAULT_AMDVI_EFR = 0x58f77ef22294aden;

/** EFR value for a 10h IVHD from its feature-reporting word (see the module comment). */
export function efrFromIvhd10(h: Ivhd): bigint {
  const f = h.features;
  if (f === undefined) return 0n;
  const b = (v: number, at: number): bigint => BigInt(v) << BigInt(at);
  return b(f.XTSup, 2) | b(f.NXSup, 3) | b(f.GTSup, 4) | b(f.IASup, 6) | b(f.GASup, 7) | b(f.HESup, 8) | b(f.HATS, 10) | b(f.GATS, 12) | b(f.GLXSup, 14) | b(f.PASMax, 32);
}

/** The scope an IVHD's device entries give (src/platform/amdvi-build.ts AmdViScope). */
export function scopeOfIvhd(h: Ivhd): AmdViScope {
  const ranges = deviceRanges(h).ranges.map((r) => ({ first: r.first, last: r.last, ...(r.aliasTo === undefined ? {} : { aliasTo: r.aliasTo }) }));
  const specials = h.entries.flatMap((e) =>
    e.kind === 'special' && (e.variety === 1 || e.variety === 2) ? [{ variety: e.variety === 1 ? ('ioapic' as const) : ('hpet' as const), handle: e.handle, rid: e.sourceId }] : [],
  );
  return { ranges, specials };
}

/** The IVHDs Linux uses, in table order. */
export function ivhdsLinuxUses(t: IvrsTable): Ivhd[] {
  const type = linuxIvhdType(t);
  return t.ivhd.filter((h) => h.type === type);
}

/** Units of an IVRS table (see the module comment). */
export function unitsFromIvrs(t: IvrsTable): { units: AmdViUnitSpec[]; hostAddressWidth: number } {
  const units = ivhdsLinuxUses(t).map((h) => ({
    segment: h.segment,
    registerBase: h.baseAddress,
    deviceId: h.deviceId,
    capabilityOffset: h.capabilityOffset,
    efr: h.efrImage ?? efrFromIvhd10(h),
    efr2: h.efr2Image ?? 0n,
    scope: scopeOfIvhd(h),
  }));
  return { units, hostAddressWidth: t.ivinfo.PASize === 0 ? 48 : t.ivinfo.PASize };
}

/**
 * Load `platform.ivrs` (relative to the scenario file `scenarioFile`).
 * @throws InputError naming the table file for an unreadable or malformed table.
 */
export function loadIvrsUnits(scenarioFile: string, ivrs: string): { units: AmdViUnitSpec[]; hostAddressWidth: number } {
  const path = resolve(dirname(scenarioFile), ivrs);
  const table = loadIvrs(path);
  const clash = sharedMmioBase(table);
  if (clash !== undefined) throw new InputError(clash, { file: path, field: 'IVHD Base Address' });
  return unitsFromIvrs(table);
}

/**
 * Two IVHDs Linux uses with one MMIO base: Linux maps each unit's MMIO region with
 * `request_mem_region` (drivers/iommu/amd/init.c `iommu_map_mmio_space`), which fails for the
 * second ("Can not reserve memory region … for mmio … This is a BIOS bug"), `init_iommu_one` fails with
 * -ENOMEM and AMD-Vi initialisation gives up;
 * a machine has one unit at one base, so a scenario cannot be built from it. Undefined when the
 * bases are distinct.
 */
export function sharedMmioBase(t: IvrsTable): string | undefined {
  const seen = new Map<bigint, Ivhd>();
  for (const h of ivhdsLinuxUses(t)) {
    const first = seen.get(h.baseAddress);
    if (first !== undefined) {
      return `the IVHD (type ${h.type.toString(16)}h) at offset 0x${h.offset.toString(16)} has the MMIO base 0x${h.baseAddress.toString(16)} of the one at offset 0x${first.offset.toString(16)}: Linux cannot reserve one MMIO region twice (iommu_map_mmio_space) and leaves AMD-Vi off`;
    }
    seen.set(h.baseAddress, h);
  }
  return undefined;
}

/** What {@link amdUnitOfSpec} needs from the scenario compiler. */
export interface AmdUnitSpecContext {
  fail(message: string, path: (string | number)[]): never;
  key(text: string, path: (string | number)[]): { key: string; rid: number; segment: number };
}

/**
 * A `platform.amdvi.units[i]` entry: BDFs to requester IDs, `all` to 0000..FFFF, EFR default
 * {@link DEFAULT_AMDVI_EFR}, capability offset default 0x40 (the AMD IOMMU function's, as every
 * shipped IVHD gives it).
 */
export function amdUnitOfSpec(u: AmdViUnitSpecYaml, path: (string | number)[], ctx: AmdUnitSpecContext): AmdViUnitSpec {
  const rid = (t: string, p: (string | number)[]): number => ctx.key(t, p).rid;
  const s = u.scope;
  const ranges: { first: number; last: number; aliasTo?: number }[] = [];
  if (s.all) ranges.push({ first: 0, last: 0xffff });
  (s.ranges ?? []).forEach((r, i) => {
    const at = [...path, 'scope', 'ranges', i];
    const first = rid(r.first, [...at, 'first']);
    const last = r.last === undefined ? first : rid(r.last, [...at, 'last']);
    if (last < first) ctx.fail('a range ends before it starts', [...at, 'last']);
    ranges.push({ first, last, ...(r.alias === undefined ? {} : { aliasTo: rid(r.alias, [...at, 'alias']) }) });
  });
  const specials = [
    ...(s.ioapics ?? []).map((x, i) => ({ variety: 'ioapic' as const, handle: x.id, rid: rid(x.bdf, [...path, 'scope', 'ioapics', i, 'bdf']) })),
    ...(s.hpets ?? []).map((x, i) => ({ variety: 'hpet' as const, handle: x.id, rid: rid(x.bdf, [...path, 'scope', 'hpets', i, 'bdf']) })),
  ];
  return {
    segment: u.segment ?? 0,
    registerBase: BigInt(u.registerBase),
    deviceId: rid(u.deviceId, [...path, 'deviceId']),
    capabilityOffset: u.capabilityOffset ?? 0x40,
    efr: u.efr === undefined ? DEFAULT_AMDVI_EFR : BigInt(u.efr),
    ...(u.efr2 === undefined ? {} : { efr2: BigInt(u.efr2) }),
    ...(u.dteCacheCapacity === undefined ? {} : { dteCacheCapacity: u.dteCacheCapacity }),
    ...(u.irteCacheCapacity === undefined ? {} : { irteCacheCapacity: u.irteCacheCapacity }),
    scope: { ranges, specials },
  };
}
