/** Each insecure-*.yaml scenario reproduces the violation it documents (exit 1), and its secure twin holds. */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';

async function run(file: string): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await main(['run', file], (s) => void (out += s));
  return { code, out };
}

const CASES: [insecure: string, violations: RegExp[], secure: string][] = [
  ['specs/dma/insecure-irt-mapped.yaml', [/^VIOLATION P2 .* the IRT of dmar0/m, /^VIOLATION P1 .* vector 0x30 .* no grant covers it/m], 'specs/dma/irt-not-mapped.yaml'],
  ['specs/dma/insecure-stale-iotlb.yaml', [/^VIOLATION P4 .* stale IOTLB entry/m, /^VIOLATION P2 .* do not cover/m], 'specs/dma/unmap-invalidated.yaml'],
];

describe('insecure scenarios and their secure twins', () => {
  for (const [insecure, violations, secure] of CASES) {
    it(`${insecure} is caught`, async () => {
      const r = await run(insecure);
      expect(r.code).toBe(1);
      for (const v of violations) expect(r.out).toMatch(v);
      expect(r.out).not.toMatch(/EXPECTATION FAILED/);
    });
    it(`${secure} holds`, async () => {
      const r = await run(secure);
      expect(r.code).toBe(0);
      expect(r.out).not.toMatch(/VIOLATION/);
    });
  }
});
