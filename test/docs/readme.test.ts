/**
 * Every example marked `<!-- example: ARGS -->` in README.md and in docs/*.md is run through
 * the CLI: the lines of the code block that follows must appear in the command's output in
 * that order (`...` stands for lines left out of an abridged example).
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { cli, repo } from '../cli/cli-harness.ts';

interface Example {
  readonly args: string[];
  readonly lines: string[];
}

function examples(text: string): Example[] {
  const out: Example[] = [];
  const re = /<!-- example: (.+?) -->\n```[a-z]*\n([\s\S]*?)```/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push({ args: m[1]!.trim().split(/\s+/), lines: m[2]!.replace(/\n$/, '').split('\n') });
  return out;
}

/** The first shown line that is not found in order in `output`, or undefined. */
function firstMissing(output: string[], shown: string[]): string | undefined {
  let at = 0;
  for (const line of shown) {
    if (line.trim() === '...') continue;
    const found = output.indexOf(line, at);
    if (found < 0) return line;
    at = found + 1;
  }
  return undefined;
}

const readme = readFileSync(repo('README.md'), 'utf8');
const all = examples(readme);
const DOCS = readdirSync(repo('docs')).filter((f) => f.endsWith('.md')).sort();

/**
 * The CLI's output for each command line, run once: README.md and docs/vmm.md show the same
 * `compare specs/vmm/compare-all.yaml --vmm all` (every design on one scenario, ~3 s), and a
 * command's output is a function of its arguments (P5, test/scenario/default.test.ts).
 */
const outputs = new Map<string, ReturnType<typeof cli>>();
function cliOnce(args: readonly string[]): ReturnType<typeof cli> {
  const key = args.join(' ');
  let r = outputs.get(key);
  if (r === undefined) outputs.set(key, (r = cli(args.map((a) => (/^(specs|data)\//.test(a) ? repo(a) : a)))));
  return r;
}

function runsExample(e: Example): void {
  it(`remapsim ${e.args.join(' ')}`, async () => {
    const r = await cliOnce(e.args);
    const output = r.out.replaceAll(`${repo('')}/`, '').split('\n');
    expect(firstMissing(output, e.lines), r.out).toBeUndefined();
  });
}

describe('README examples are real output', () => {
  it('has marked examples', () => {
    expect(all.length).toBeGreaterThanOrEqual(9);
  });
  for (const e of all) runsExample(e);
  it('an example that differs from the output is caught', () => {
    expect(firstMissing(['a', 'b', 'c'], ['a', '...', 'c'])).toBeUndefined();
    expect(firstMissing(['a', 'b', 'c'], ['c', 'a'])).toBe('a');
    expect(firstMissing(['a', 'b'], ['a', 'x'])).toBe('x');
  });
});

for (const doc of DOCS) {
  const shown = examples(readFileSync(repo(`docs/${doc}`), 'utf8'));
  if (shown.length > 0) describe(`docs/${doc} examples are real output`, () => shown.forEach(runsExample));
}
