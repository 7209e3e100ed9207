// `npm run build`: compile src/ into dist/ with tsconfig.build.json (ESM JavaScript, .d.ts,
// source maps), from an empty dist/ so no file of a deleted source survives; fails on a type
// error (run before publishing: prepublishOnly).
// `node scripts/build.mjs --no-check` (`prepare`, so `npm ci` / `npm install` build it): the
// same output without type-checking (tsc --noCheck, about half the time). A clone whose
// sources have a type error still installs and runs; `npm test` starts with the type check
// and reports it there. On success it writes dist/.build-stamp dated to the build's
// START, so a source saved while tsc ran counts as newer than the build
// (bin/dist-freshness.js then runs src/ instead of the stale dist/).
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
const stamp = join(dist, '.build-stamp');
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
