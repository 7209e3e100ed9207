/**
 * The walk's memo of entries and structures across walks (src/vtd/dma/walk.ts `ENTRY_MEMO`,
 * `STRUCTURE_MEMO`, epochs): a walk on another memory sees that memory's words — a changed
 * paging entry, one changed dword of a 512-bit PASID entry — and a walk on an older memory again
 * sees the older words; behind a proxy (the explorer's reference counter) every read reaches memory.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { dmaCapabilities } from '../../src/platform/dma-access.ts';
import { translateDma, type DmaRequest, type DmaWalkResult } from '../../src/vtd/dma/walk.ts';
import type { PhysicalMemory } from '../../src/memory/physical-memory.ts';
import { PASID_ENTRY } from '../../src/vtd/dma/structures.ts';

const path = new URL('../../specs/dma/nested.yaml', import.meta.url);
const state = runScenario(compileScenario(parseScenarioText(readFileSync(path, 'utf8'), 'nested.yaml'))).final;
const unit = state.iommus[0]!;
const config = { rtaddr: unit.regs.rtaddrLatched, cap: dmaCapabilities(unit, state.hostAddressWidth) };
const request: DmaRequest = { rid: 0x0700, iova: 0x10008n, size: 8, read: true, write: false };
const walk = (m: PhysicalMemory): DmaWalkResult => translateDma(m, config, request);
const ok = (r: DmaWalkResult) => {
  if (!r.ok) throw new Error(`fault ${r.fault.condition}`);
  return r;
};

describe('walk memo', () => {
  const first = ok(walk(state.memory));
  const leaf = first.references.filter((r) => r.stage === 'first').at(-1)!;
  const pasid = first.references.find((r) => r.stage === 'pasid')!;

  it('a changed first-stage leaf is seen on the new memory, the old one on the old memory', () => {
    // The leaf now points one page further (GPA 0x201000, which the second stage does not map).
    const moved = state.memory.writeLE(leaf.entryAddress, 8, leaf.entry + 0x1000n);
    const r = walk(moved);
    expect(r.ok).toBe(false);
    expect(r.references.filter((x) => x.stage === 'first').at(-1)!.entry).toBe(leaf.entry + 0x1000n);
    expect(ok(walk(state.memory)).hpa).toBe(first.hpa);
    expect(ok(walk(state.memory)).references).toEqual(first.references);
  });

  it('one changed dword of the 512-bit PASID entry (its DID) is seen, and undone', () => {
    const entry = PASID_ENTRY.decode(pasid.entry);
    const raw = PASID_ENTRY.encode({ ...entry, DID: entry.DID + 1 });
    const changed = state.memory.writeLE(pasid.entryAddress, 64, raw);
    expect(ok(walk(changed)).did).toBe(first.did + 1);
    expect(ok(walk(state.memory)).did).toBe(first.did);
    expect(ok(walk(changed)).references.find((r) => r.stage === 'pasid')!.entry).toBe(raw);
  });

  it('behind a proxy every structure is one readLE and every entry read reaches memory', () => {
    const calls: string[] = [];
    const proxy = new Proxy(state.memory, {
      get(target, key) {
        const v = Reflect.get(target, key, target) as unknown;
        return typeof v === 'function' ? (...args: unknown[]) => (calls.push(String(key)), (v as (...a: unknown[]) => unknown).apply(target, args)) : v;
      },
    });
    for (let i = 0; i < 2; i++) {
      calls.length = 0;
      expect(walk(proxy).references).toEqual(first.references);
      // root, context and PASID entry by readLE; PASID-directory entry and the 12 distinct paging entries by two readWords each.
      expect(calls.filter((c) => c === 'readLE')).toHaveLength(3);
      expect(calls.filter((c) => c === 'readWord')).toHaveLength(2 * (1 + new Set(first.references.filter((r) => r.stage === 'first' || r.stage === 'second').map((r) => r.entryAddress)).size));
    }
  });
});
