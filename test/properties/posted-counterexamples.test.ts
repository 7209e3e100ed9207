/**
 * The checked-in counterexamples (specs/policies/counterexample-<policy>.yaml, written by
 * src/checker/write-counterexamples.ts) still reproduce their violations through the
 * CLI, with no fast-check involved: `remapsim run FILE` exits 1 with the violation of
 * the variant's property, and only that one.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { main } from '../../src/cli/main.ts';
import { BROKEN_VARIANTS, counterexamplePath } from '../../src/checker/counterexample.ts';

describe('checked-in counterexamples reproduce their violations', () => {
  for (const variant of BROKEN_VARIANTS) {
    it(`counterexample-${variant.policy}.yaml: exit 1, VIOLATION ${variant.property}`, async () => {
      const file = counterexamplePath(variant.policy);
      expect(existsSync(file), `${file} missing: run npx tsx src/checker/write-counterexamples.ts`).toBe(true);
      let out = '';
      const code = await main(['run', file], (s) => void (out += s));
      expect(code).toBe(1);
      expect(out).toContain(`VIOLATION ${variant.property}`);
      expect(out).not.toContain(`VIOLATION ${variant.property === 'P1' ? 'P3' : 'P1'}`);
      // The file names its policy, so the replay uses the broken one, not the base's kvm.
      expect(out).toMatch(new RegExp(`hypervisor \\(${variant.policy}\\)`));
    });
  }
});
