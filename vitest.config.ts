import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    // Debug freezing of platform states (src/platform/freeze-mode.ts): every test runs with
    // states deep-frozen, so a write into a returned state throws.
    env: { REMAPSIM_FREEZE: '1' },
  },
});
