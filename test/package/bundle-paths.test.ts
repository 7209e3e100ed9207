/**
 * The CLI bundle (dist/bundle/, scripts/build.mjs) puts every module's code in files two levels
 * below the package root. A module that finds a file of the package relative to itself
 * (`new URL('../../specs/…', import.meta.url)`) then still finds it only if it, too, sits two
 * levels down (src/<dir>/<file>.ts). This checks every such reference in src/: from the module's
 * own place and from dist/bundle/ it must name the same file of the package.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** `new URL('<literal>', import.meta.url)` references to files outside the module's own folder. */
const PACKAGE_FILE = /new URL\(\s*[`'"](\.\.\/[^`'"$]*)/g;

describe('the CLI bundle keeps package-relative paths', () => {
  it('every src/ module that finds a package file relative to itself sits two levels down', () => {
    const seen: string[] = [];
    for (const file of sources(join(ROOT, 'src'))) {
      const text = readFileSync(file, 'utf8');
      if (!text.includes('import.meta.url')) continue;
      for (const m of text.matchAll(PACKAGE_FILE)) {
        const ref = m[1]!;
        // The build's own output beside the compiled module (pool.ts: ../bundle/check-worker.js), not a package file.
        if (ref.startsWith('../bundle/')) continue;
        const fromModule = relative(ROOT, fileURLToPath(new URL(ref, pathToFileURL(file))));
        const fromBundle = relative(ROOT, fileURLToPath(new URL(ref, pathToFileURL(join(ROOT, 'dist', 'bundle', 'chunk.js')))));
        expect(fromBundle, `${relative(ROOT, file)}: ${ref}`).toBe(fromModule);
        seen.push(fromModule);
      }
    }
    // The scenario schema, the attack catalog, the policies' base scenario, the guest support table, package.json.
    expect(seen).toEqual(expect.arrayContaining(['specs/scenario.schema.json', 'package.json', 'data/guest-support.yaml', 'specs/policies/base.yaml']));
  });
});
