#!/usr/bin/env node
// The remapsim command. It runs the compiled CLI in dist/ (built by `npm run build`, which
// `npm ci` / `npm install` run as `prepare`): plain Node, no TypeScript loader to start.
//
// In a source checkout (tsconfig.build.json sits beside bin/; the published package has no
// such file) dist/ may be older than src/: the CLI would then run yesterday's code. So
// there, when a file under src/ is newer than dist/'s build stamp, or dist/ is missing, or
// REMAPSIM_FROM_SOURCE=1, it runs src/ through tsx (a dev dependency) instead — tests that
// spawn this file always exercise the current sources. See bin/dist-freshness.js.
import { runFromSource } from './dist-freshness.js';

const { main } = runFromSource()
  ? await (async () => {
      const { register } = await import('tsx/esm/api');
      register();
      return import('../src/cli/main.ts');
    })()
  : await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
