/**
 * Vitest configuration for mutation testing only (`npm run mutate`, stryker.config.json;
 * docs/mutation.md). It lists just the test files that exercise the mutated modules — the
 * properties (src/properties/) and the interrupt pipeline (src/vtd/interrupt-remapping.ts,
 * irte.ts, remappable-msi.ts, posting.ts, pid.ts) — so that Stryker's dry run and each
 * mutant's run stay within reach of a 2-core machine. `npm test` uses vitest.config.ts.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      // The properties' own tests (not the long random searches below).
      'test/properties/**/*.test.ts',
      // Interrupt remapping, posting and fault recording through the platform.
      'test/vtd/**/*.test.ts',
      'test/platform/**/*.test.ts',
      // The codecs of the pipeline's formats (IRTE, PID, remappable MSI, fault reasons).
      'test/codecs/irte.test.ts',
      'test/codecs/pid.test.ts',
      'test/codecs/remappable-msi.test.ts',
      'test/codecs/faults.test.ts',
      'test/codecs/properties-can-fail.test.ts',
      // P2 per (device, PASID).
      'test/dma/multi-pasid.test.ts',
      // Tests written to kill mutants of these modules.
      'test/mutation-kill/**/*.test.ts',
    ],
    // The long random searches (tens of seconds each, every one covering most of the
    // properties' code): each surviving mutant would run them all. The targeted tests
    // above and in test/mutation-kill/ pin the same code down in milliseconds.
    exclude: ['test/properties/dma-properties.test.ts', 'test/properties/posted-policies.test.ts', 'test/properties/dma-counterexamples.test.ts'],
    testTimeout: 60_000,
  },
});
