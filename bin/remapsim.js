#!/usr/bin/env node
// The remapsim command. It runs the compiled CLI in dist/ (built by `npm run build`, which
// `npm ci` / `npm install` run as `prepare`): plain Node, no TypeScript loader to start.
//
// In a source checkout (tsconfig.build.json sits beside bin/; the published package has no
// such file) dist/ may be older than src/: the CLI would then run yesterday's code. So
// there, when a file under src/ is newer than dist/'s build stamp, or dist/ is missing, or
// REMAPSIM_FROM_SOURCE=1, it runs src/ through tsx (a dev dependency) instead — tests that
// spawn this file always exercise the current sources. See bin/dist-freshness.js.
//
// Compiled, it loads the build's one-file bundle of the CLI (dist/bundle/main.js, scripts/build.mjs)
// when there is one: ≈ 160 separate modules took longer to load than most commands take to run.
import { existsSync } from 'node:fs';
import { runFromSource } from './dist-freshness.js';

const bundled = new URL('../dist/bundle/main.js', import.meta.url);
const { main } = runFromSource()
  ? await (async () => {
      const { register } = await import('tsx/esm/api');
      register();
      return import('../src/cli/main.ts');
    })()
  : await import(existsSync(bundled) ? bundled.href : '../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
