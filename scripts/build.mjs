// `npm run build`: compile src/ into dist/ with tsconfig.build.json (ESM JavaScript, .d.ts,
// source maps), from an empty dist/ so no file of a deleted source survives; fails on a type
// error (run before publishing: prepublishOnly). It then writes the scenario schema's validator
// as standalone JavaScript into dist/scenario/ (src/scenario/schema-validator.ts).
// `node scripts/build.mjs --no-check` (`prepare`, so `npm ci` / `npm install` build it): the
// same output without type-checking (tsc --noCheck, about half the time). A clone whose
// sources have a type error still installs and runs; `npm test` starts with the type check
// and reports it there. On success it writes dist/.build-stamp dated to the build's
// START, so a source saved while tsc ran counts as newer than the build
// (bin/dist-freshness.js then runs src/ instead of the stale dist/).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const started = new Date();
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const noCheck = process.argv.includes('--no-check');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), ...(noCheck ? ['--noCheck'] : [])], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`build: tsc -p tsconfig.build.json${noCheck ? ' --noCheck' : ''} failed (exit ${r.status ?? r.signal}); dist/ has no build stamp`);
  process.exit(1);
}
mkdirSync(dist, { recursive: true });
// The scenario schema compiled once, here, rather than at every start (src/scenario/schema-validator.ts).
const { standaloneScenarioValidatorSource, STANDALONE_VALIDATOR_FILE } = await import(pathToFileURL(join(dist, 'scenario', 'schema-validator.js')).href);
const validatorPath = join(dist, 'scenario', STANDALONE_VALIDATOR_FILE);
writeFileSync(`${validatorPath}.tmp`, await standaloneScenarioValidatorSource());
renameSync(`${validatorPath}.tmp`, validatorPath);
// The command line as one bundle, dist/bundle/ (esbuild over the compiled JavaScript): loading
// the CLI's ≈ 160 modules one by one was most of `remapsim decode`'s and half of `npm start`'s
// time (BENCHMARKS.md, issue 15 goal 6). Two entries, the CLI and the check pool's worker,
// sharing chunks. The bundle sits two levels down as the modules do, so their
// `new URL('../../specs/…', import.meta.url)` paths hold (test/package/bundle-paths.test.ts).
// Without esbuild (an install without dev dependencies), or if it fails, there is no bundle
// and bin/remapsim.js runs dist/cli/main.js.
const bundle = join(dist, 'bundle');
const esbuild = await import('esbuild').catch(() => undefined);
if (esbuild !== undefined) {
  try {
    await esbuild.build({
      entryPoints: { main: join(dist, 'cli', 'main.js'), 'check-worker': join(dist, 'checker', 'check-worker.js') },
      outdir: bundle,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // The packages go in too (yaml alone was ≈ 60 CommonJS files to load), except piscina, which
      // starts threads from a file of its own package. Their require()s of Node's modules need a
      // `require` in each ESM chunk.
      external: ['piscina'],
      banner: { js: "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);" },
      sourcemap: true,
      logLevel: 'warning',
    });
    copyFileSync(validatorPath, join(bundle, STANDALONE_VALIDATOR_FILE));
  } catch (e) {
    // No half-written bundle for bin/remapsim.js to load: without one it runs dist/cli/main.js.
    rmSync(bundle, { recursive: true, force: true });
    console.error(`build: no CLI bundle (esbuild failed: ${e instanceof Error ? e.message.split('\n')[0] : e}); bin/remapsim.js will run dist/cli/main.js`);
  }
}
const stamp = join(dist, '.build-stamp');
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
