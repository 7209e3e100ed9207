// `npm run build` (and `prepare`, so `npm ci` builds it): compile src/ into dist/ with
// tsconfig.build.json (ESM JavaScript, .d.ts, source maps), from an empty dist/ so no file
// of a deleted source survives. On success it writes dist/.build-stamp dated to the build's
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
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`build: tsc -p tsconfig.build.json failed (exit ${r.status ?? r.signal}); dist/ is incomplete and has no build stamp`);
  process.exit(1);
}
mkdirSync(dist, { recursive: true });
const stamp = join(dist, '.build-stamp');
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
