/**
 * A copy of a VT-d remapping unit with its caches replaced, written field by field: every
 * field is a literal, so a new IommuUnit field is a compile error here (every unit has every
 * key, `directPost` undefined when off: src/platform/build.ts `buildUnit`). An object spread of
 * the unit was a sixth of a cold DMA's cost beside the walk and measurable on the IEC-miss
 * path (BENCHMARKS.md, issue 15 goals 2 and 4).
 */
import type { IommuUnit } from './state.ts';

/** `{ ...u, iec, dma, directPost }`. */
export function unitWith(u: IommuUnit, iec: IommuUnit['iec'], dma: IommuUnit['dma'], directPost: IommuUnit['directPost']): IommuUnit {
  const copy: { -readonly [K in keyof IommuUnit]-?: IommuUnit[K] } = {
    index: u.index,
    name: u.name,
    segment: u.segment,
    registerBase: u.registerBase,
    includePciAll: u.includePciAll,
    scope: u.scope,
    cap: u.cap,
    ecap: u.ecap,
    regs: u.regs,
    frcd: u.frcd,
    iec,
    dma,
    directPost,
  };
  return copy;
}

/**
 * `units` with entry `index` replaced by `unit` (a new array; `units` unchanged). Handlers
 * assign it at the root (`draft.iommus = unitsWith(before.iommus, i, u)`), which needs no
 * draft of the array and lets them take the plain root copy (src/platform/transition.ts
 * ROOT_FIELD_KINDS).
 */
export function unitsWith<U>(units: readonly U[], index: number, unit: U): readonly U[] {
  const copy = units.slice();
  copy[index] = unit;
  return copy;
}
