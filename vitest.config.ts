import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Test files run without module isolation (`isolate: false`): each worker imports src/ once and
 * its files share those modules, instead of every file importing the whole model afresh — about
 * half the CPU of a small test file (30 of the suite's smallest files, 2 workers, 2026-12-02:
 * 20.1 s and 23.5 s user CPU isolated, 9.9 s shared; all pass either way). Only directories
 * whose tests are pure functions of their inputs: no vi.mock, no process.chdir, no environment
 * or global writes, no tests of module-level caches (test/dma/ tests the DMA walk's caches and
 * stays isolated). A test file here that needs any of these belongs in ISOLATED.
 */
const SHARED = [
  'test/amdvi/**/*.test.ts',
  'test/codecs/**/*.test.ts',
  'test/vtd/**/*.test.ts',
  'test/x86/**/*.test.ts',
  'test/fabric/**/*.test.ts',
  'test/memory/**/*.test.ts',
  'test/inputs/**/*.test.ts',
  'test/mutation-kill/**/*.test.ts',
  'test/hypothetical/**/*.test.ts',
  'test/explorer/**/*.test.ts',
  'test/attacks/**/*.test.ts',
  'test/properties/**/*.test.ts',
];
/** Files in SHARED's directories that need a fresh module graph. */
const ISOLATED = [
  // vi.mock of src/vtd/fault-recording.ts: the mock must not leak into other files, nor theirs into it.
  'test/properties/p6.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    // Processes, not worker threads: tests call process.chdir (test/checker/check.test.ts,
    // test/report/report.test.ts, test/cli/fixes.test.ts), which worker threads do not support.
    // (Threads took 17 s user CPU on the 30 files above, forks 20-23 s; not isolating saves more.)
    pool: 'forks',
    // vitest's default is one worker fewer than the cores: one on the 2-core CI machine. Both cores
    // halve the wall time; the tests that measure time budgets allow for a busy machine.
    maxWorkers: 2,
    // Debug freezing of platform states (src/platform/freeze-mode.ts): every test runs with
    // states deep-frozen, so a write into a returned state throws.
    env: { REMAPSIM_FREEZE: '1' },
    projects: [
      { extends: true, test: { name: 'shared', include: SHARED, exclude: [...configDefaults.exclude, ...ISOLATED], isolate: false } },
      { extends: true, test: { name: 'isolated', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...SHARED] } },
      { extends: true, test: { name: 'isolated-listed', include: ISOLATED } },
    ],
  },
});
