import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    // vitest's default is one worker fewer than the cores: one on the 2-core CI machine. Both cores
    // halve the wall time; the tests that measure time budgets allow for a busy machine.
    maxWorkers: 2,
    // Debug freezing of platform states (src/platform/freeze-mode.ts): every test runs with
    // states deep-frozen, so a write into a returned state throws.
    env: { REMAPSIM_FREEZE: '1' },
  },
});
