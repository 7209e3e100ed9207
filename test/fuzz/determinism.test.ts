/**
 * Determinism and interruption (issue 16 item 5), through the real CLI (bin/remapsim.js):
 * the same seed gives byte-identical `check` output with 1 and 2 workers, and SIGINT during a
 * long `check` exits 130 with what was found so far reported. Files go to os.tmpdir().
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/remapsim.js');
const SPEC = join(ROOT, 'specs/dma/property-base.yaml');

function check(workers: number): string {
  const cwd = mkdtempSync(join(tmpdir(), 'remapsim-det-'));
  const r = spawnSync(process.execPath, [BIN, 'check', SPEC, '--no-write', '--runs', '60', '--steps', '20', '--seed', '7', '--workers', String(workers), '--force-workers'], { cwd, encoding: 'utf8', timeout: 60_000 });
  expect(r.status === 0 || r.status === 1, r.stderr).toBe(true);
  // Wall-clock figures are the only thing allowed to differ.
  return r.stdout.replace(/\d+(\.\d+)? ?(ms|s)\b/g, 'T');
}

describe('check is deterministic and interruptible', () => {
  it('same seed: byte-identical output for 1 and 2 workers', () => {
    expect(check(2)).toBe(check(1));
  }, 120_000);

  it('SIGINT during check: exit 130 and the report of what was found', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'remapsim-int-'));
    const child = spawn(process.execPath, [BIN, 'check', SPEC, '--no-write', '--runs', '4000000000', '--seconds', '60', '--workers', '1', '--progress'], { cwd });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // Interrupt once the search is running (its first progress line), however slow the start-up.
    await new Promise<void>((r) => child.stderr.once('data', () => r()));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(130);
    expect(out).toMatch(/run/i);
  }, 60_000);
});
