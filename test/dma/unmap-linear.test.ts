/**
 * `unmap-dma` in time linear in the pages mapped (issue 17 leftover, issue 15): the handler
 * (src/platform/dma-handlers.ts `clearLeaves`) skips the IOVAs under an entry that maps nothing
 * instead of walking each 4 KiB page of the range, and keeps the cleared leaves in a set. It must
 * clear exactly what the former handler cleared — every 4 KiB step of the range walked on the
 * memory as cleared so far, a read and then a write, the leaf of each translation cleared once —
 * which {@link referenceUnmap} restates; and the limit is now map-dma's page count.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { buildPlatform, SCALABLE_ECAP } from '../../src/platform/build.ts';
import { applyAction } from '../../src/platform/transition.ts';
import type { Action } from '../../src/platform/actions.ts';
import type { PlatformState } from '../../src/platform/state.ts';
import type { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { dmaCapabilities } from '../../src/platform/dma-access.ts';
import { translateDma } from '../../src/vtd/dma/walk.ts';
import { MAX_MAP_PAGES, MAX_UNMAP_BYTES } from '../../src/scenario/limits.ts';
import { InputError } from '../../src/io/input-error.ts';

type Mode = 'legacy' | 'second-stage' | 'nested';
const DEVICE = '07:00.0';
const RID = 0x0700;

const scenarioText = (scalable: boolean, steps = ''): string => `
name: unmap-linear
platform:
  hostAddressWidth: 46
  cpus: { count: 2 }
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true, cap: 0x08d2078c106f0462, ecap: 0x${(scalable ? SCALABLE_ECAP : 0xf020fen).toString(16)} }
devices:
  - { bdf: "${DEVICE}" }
domains:
  - { name: host, kind: host, cpus: [0] }
  - { name: vm1, kind: guest, cpus: [1], devices: ["${DEVICE}"] }
steps:
  - enable-dma: { iommu: 0, scalable: ${scalable} }
${steps}`;

/** The platform with DMA remapping enabled (legacy or scalable mode), no mapping yet. */
function enabled(scalable: boolean): PlatformState {
  const compiled = compileScenario(parseScenarioText(scenarioText(scalable), 'unmap-linear.yaml'));
  let s = buildPlatform(compiled.platform);
  for (const step of compiled.steps) for (const a of step.actions) s = applyAction(s, a).state;
  return s;
}
const BASES = { legacy: enabled(false), scalable: enabled(true) };

interface Mapping {
  iova: bigint;
  gpa: bigint;
  hpa: bigint;
  size: bigint;
  read: boolean;
  write: boolean;
}

function mapped(mode: Mode, mappings: readonly Mapping[]): PlatformState {
  const base = mode === 'legacy' ? BASES.legacy : BASES.scalable;
  const a = {
    kind: 'map-dma',
    iommu: 0,
    device: DEVICE,
    did: 1,
    mode,
    levels: 4,
    ...(mode === 'nested' ? { firstStageLevels: 4 } : {}),
    mappings: mappings.map((m) => ({ iova: m.iova, ...(mode === 'nested' ? { gpa: m.gpa } : {}), hpa: m.hpa, size: m.size, read: m.read, write: m.write })),
  } as Action;
  return applyAction(base, a).state;
}

/** The former handler's clearing, restated: every 4 KiB step walked (a read, then a write), each leaf cleared once. */
function referenceUnmap(state: PlatformState, iova: bigint, size: bigint): { memory: PhysicalMemory; cleared: number } {
  const unit = state.iommus[0]!;
  const config = { rtaddr: unit.regs.rtaddr, cap: dmaCapabilities(unit, state.hostAddressWidth) };
  let memory = state.memory;
  const cleared: bigint[] = [];
  for (let at = iova; at < iova + size; at += 4096n) {
    let r = translateDma(memory, config, { rid: RID, iova: at, size: 1, read: true, write: false });
    if (!r.ok) r = translateDma(memory, config, { rid: RID, iova: at, size: 1, read: false, write: true });
    if (!r.ok) continue;
    const leaf = [...r.references].reverse().find((ref) => ref.stage === (r.type === 'nested' || r.type === 'first-stage' ? 'first' : 'second'));
    if (leaf === undefined || cleared.includes(leaf.entryAddress)) continue;
    memory = memory.writeLE(leaf.entryAddress, 8, 0n);
    cleared.push(leaf.entryAddress);
  }
  return { memory, cleared: cleared.length };
}

type Unmap = (state: PlatformState, iova: bigint, size: bigint) => { memory: PhysicalMemory; cleared: number };

/** The handler under test: the memory after the action and the leaf count its event reports. */
const handlerUnmap: Unmap = (state, iova, size) => {
  const r = applyAction(state, { kind: 'unmap-dma', iommu: 0, device: DEVICE, iova, size });
  const e = r.events.find((x) => x.kind === 'hypervisor');
  const count = e?.kind === 'hypervisor' ? /: (\d+) leaf entr/.exec(e.request)?.[1] : undefined;
  if (count === undefined) throw new Error(`no unmap event: ${JSON.stringify(r.events.map((x) => x.kind))}`);
  return { memory: r.state.memory, cleared: Number(count) };
};

const MIB2 = 0x20_0000n;
/** Up to three mappings in distinct 2 MiB slots of the low 16 MiB (4 KiB pages, or one 2 MiB page when aligned), some write-only. */
const mappingsArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 3 })
  .chain((slots) =>
    fc.tuple(
      ...slots.map((slot) =>
        fc.record({ huge: fc.boolean(), offset: fc.integer({ min: 0, max: 200 }), pages: fc.integer({ min: 1, max: 60 }), rights: fc.constantFrom([true, true], [true, false], [false, true]) }).map(({ huge, offset, pages, rights }): Mapping => {
          const iova = BigInt(slot) * MIB2 + (huge ? 0n : BigInt(offset) * 4096n);
          return { iova, gpa: 0x100_0000n + iova, hpa: 0x8000_0000n + iova, size: huge ? MIB2 : BigInt(pages) * 4096n, read: rights[0]!, write: rights[1]! };
        }),
      ),
    ),
  );
/**
 * A range around one of the mappings (from up to 40 pages before its start to 3 pages either side
 * of its end, so ranges cut mappings and end on their edges, or far past it over unmapped 2 MiB regions and
 * other mappings), 4 KiB-aligned or not (a raw action may be unaligned).
 */
const rangeArb = fc.record({ which: fc.nat(), before: fc.integer({ min: 0, max: 40 }), after: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: 520, max: 700 })), misalign: fc.constantFrom(0, 0, 0, 0x234) });

/** Same populated frames with the same words (read as numbers: a dump's per-byte bigints cost more than the unmap). */
function sameMemory(a: PhysicalMemory, b: PhysicalMemory): boolean {
  const frames = a.frames();
  if (JSON.stringify(frames) !== JSON.stringify(b.frames())) return false;
  return frames.every((f) => {
    for (let w = 0; w < 1024; w++) if (a.readWord(f, w) !== b.readWord(f, w)) return false;
    return true;
  });
}

function agrees(unmap: Unmap) {
  return fc.property(fc.constantFrom<Mode>('legacy', 'second-stage', 'nested'), mappingsArb, rangeArb, (mode, mappings, range) => {
    const state = mapped(mode, mappings);
    const m = mappings[range.which % mappings.length]!;
    const first = m.iova / 4096n - BigInt(Math.min(range.before, Number(m.iova / 4096n)));
    const end = (m.iova + m.size) / 4096n + BigInt(range.after);
    const iova = first * 4096n + BigInt(range.misalign);
    const size = (end > first ? end - first : 1n) * 4096n;
    const want = referenceUnmap(state, iova, size);
    const got = unmap(state, iova, size);
    return got.cleared === want.cleared && sameMemory(got.memory, want.memory);
  });
}

describe('unmap-dma', () => {
  it('clears the leaves the page-by-page walk cleared, in legacy, second-stage and nested mode', () => {
    fc.assert(agrees(handlerUnmap), { seed: 1517, numRuns: 12 });
    // A handler whose range ends one 4 KiB step early fails the property.
    const short: Unmap = (state, iova, size) => handlerUnmap(state, iova, size > 4096n ? size - 4096n : size);
    expect(fc.check(agrees(short), { seed: 1517, numRuns: 12, endOnFailure: true }).failed).toBe(true);
  });

  it(`a range of MAX_UNMAP_BYTES (${MAX_MAP_PAGES} pages) over a sparse map clears exactly its leaves`, () => {
    expect(MAX_UNMAP_BYTES).toBe(BigInt(MAX_MAP_PAGES) * 4096n);
    // 3 pages at 0, a 2 MiB page at 64 MiB, 2 pages just below 256 MiB; the rest of the range unmapped.
    const state = mapped('nested', [
      { iova: 0n, gpa: 0x100_0000n, hpa: 0x8000_0000n, size: 0x3000n, read: true, write: true },
      { iova: 0x400_0000n, gpa: 0x600_0000n, hpa: 0xa000_0000n, size: MIB2, read: true, write: true },
      { iova: MAX_UNMAP_BYTES - 0x2000n, gpa: 0x20_0000n, hpa: 0x9000_0000n, size: 0x2000n, read: true, write: false },
    ]);
    // Nested: the first stage's leaves are cleared (4 KiB ones, and the first stage maps the 2 MiB one with one leaf).
    const r = handlerUnmap(state, 0n, MAX_UNMAP_BYTES);
    const unit = state.iommus[0]!;
    const config = { rtaddr: unit.regs.rtaddr, cap: dmaCapabilities(unit, state.hostAddressWidth) };
    for (const iova of [0n, 0x2000n, 0x400_0000n, 0x41f_f000n, MAX_UNMAP_BYTES - 0x1000n]) {
      expect(translateDma(state.memory, config, { rid: RID, iova, size: 1, read: true, write: false }).ok).toBe(true);
      expect(translateDma(r.memory, config, { rid: RID, iova, size: 1, read: true, write: false }).ok).toBe(false);
    }
    expect(r.cleared).toBe(3 + 1 + 2);
  });

  it('the compiler accepts MAX_UNMAP_BYTES and refuses one page more', () => {
    const unmap = (size: bigint) => scenarioText(false, `  - unmap-dma: { iommu: 0, device: "${DEVICE}", did: 1, iova: 0x0, size: 0x${size.toString(16)} }\n`);
    expect(() => compileScenario(parseScenarioText(unmap(MAX_UNMAP_BYTES), 's.yaml'))).not.toThrow();
    expect(() => compileScenario(parseScenarioText(unmap(MAX_UNMAP_BYTES + 0x1000n), 's.yaml'))).toThrow(InputError);
  });
});
