// Whether bin/remapsim.js (and test/package/) must run src/ through tsx rather than the
// compiled dist/: never in the published package; in a source checkout, when dist/ is
// missing or older than src/. Plain JavaScript (no loader needed) and cheap: one stat per
// source file (about 200), a millisecond or two.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (the directory holding bin/, src/, dist/). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Written by `npm run build` after tsc succeeds (scripts.build in package.json). */
export const BUILD_STAMP = join(ROOT, 'dist', '.build-stamp');

/** True in a source checkout: tsconfig.build.json is not in the package's `files`. */
export function isSourceCheckout(root = ROOT) {
  return existsSync(join(root, 'tsconfig.build.json')) && existsSync(join(root, 'src'));
}

/** Newest modification time (ms) of any file under `dir`, 0 when empty. */
export function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const t = e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

/**
 * True when dist/ does not hold a build of the current src/ (or of tsconfig.build.json):
 * no build stamp, or a source file (or the scenario schema) modified after it.
 */
export function distIsStale(root = ROOT) {
  const stamp = join(root, 'dist', '.build-stamp');
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  // The build compiles the scenario schema into dist/ too (src/scenario/schema-validator.ts).
  const schema = join(root, 'specs', 'scenario.schema.json');
  return newestMtime(join(root, 'src')) > built || statSync(join(root, 'tsconfig.build.json')).mtimeMs > built || (existsSync(schema) && statSync(schema).mtimeMs > built);
}

/** Whether bin/remapsim.js runs src/ through tsx: forced by REMAPSIM_FROM_SOURCE=1, else a checkout with a stale dist/. */
export function runFromSource() {
  if (process.env.REMAPSIM_FROM_SOURCE === '1') return true;
  return isSourceCheckout() && distIsStale();
}
