// Issue 17, "safe output files": the temporary file is unpredictable and exclusive, a symlink,
// FIFO, device node or directory at the output is refused, replacing a file is said, and a file
// name with a newline cannot add keys to a generated scenario.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { UnsafeOutputError, writeFileAtomic } from '../../src/io/atomic-write.ts';
import { yamlQuoted } from '../../src/io/yaml-escape.ts';
import { importDmar } from '../../src/cli/import-dmar.ts';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';
import fc from 'fast-check';

const tmp = tempDir('hostile-out');
afterAll(() => tmp.cleanup());

const DSL = repo('data/real-inputs/dmar/dell-latitude-9420.dsl');

describe('writeFileAtomic', () => {
  it('writes through a temporary file whose name is not OUT.PID.tmp: a symlink planted there is not followed', () => {
    const victim = tmp.write('victim.txt', 'precious\n');
    const out = join(tmp.dir, 'out.yaml');
    symlinkSync(victim, `${out}.${process.pid}.tmp`);
    expect(writeFileAtomic(out, 'new\n')).toEqual({ replaced: false });
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readFileSync(out, 'utf8')).toBe('new\n');
  });

  it('refuses a symlink at the output itself (never writes through it)', () => {
    const victim = tmp.write('victim2.txt', 'precious\n');
    const out = join(tmp.dir, 'link.yaml');
    symlinkSync(victim, out);
    expect(() => writeFileAtomic(out, 'x')).toThrow(/refusing to replace .*link\.yaml: it is a symbolic link/);
    expect(lstatSync(out).isSymbolicLink()).toBe(true);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it('refuses a FIFO and a directory, leaving them and no temporary file', () => {
    const fifo = join(tmp.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(() => writeFileAtomic(fifo, 'x')).toThrow(UnsafeOutputError);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    const dir = join(tmp.dir, 'adir');
    mkdirSync(dir);
    expect(() => writeFileAtomic(dir, 'x')).toThrow(/it is a directory/);
    expect(readdirSync(tmp.dir).filter((n) => /\.[0-9a-f]{16}\.tmp$/.test(n))).toEqual([]);
  });

  it('refuses /dev/full (a character device) before creating anything in /dev', () => {
    const before = readdirSync('/dev').length;
    expect(() => writeFileAtomic('/dev/full', 'x')).toThrow(/\/dev\/full: it is a character device, not a regular file/);
    expect(statSync('/dev/full').isCharacterDevice()).toBe(true);
    expect(readdirSync('/dev').length).toBe(before);
  });

  it('says when it replaced a regular file, and keeps that file\'s mode', () => {
    const out = tmp.write('existing.yaml', 'old\n');
    execFileSync('chmod', ['640', out]);
    expect(writeFileAtomic(out, 'new\n')).toEqual({ replaced: true });
    expect(statSync(out).mode & 0o777).toBe(0o640);
    const fresh = join(tmp.dir, 'fresh.yaml');
    writeFileAtomic(fresh, 'x');
    expect(statSync(fresh).mode & 0o777).toBe(0o666 & ~process.umask());
  });

  it('leaves no partial output and no temporary file when the directory does not exist', () => {
    const out = join(tmp.dir, 'missing-dir', 'out.yaml');
    expect(() => writeFileAtomic(out, 'x')).toThrow(/ENOENT/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('generated files escape what they copy from input', () => {
  it('yamlQuoted: any string reads back exactly, on one printable-ASCII line, as a value and inside a comment', () => {
    const roundTrips = (quote: (s: string) => string) =>
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const q = quote(s);
        const doc = parseDocument(`# from ${q}.\nk: ${q}\n`);
        return doc.errors.length === 0 && doc.toJS().k === s && Object.keys(doc.toJS()).length === 1 && !/[^\x20-\x7e]/.test(q);
      });
    fc.assert(roundTrips(yamlQuoted), { seed: 17, numRuns: 2000 });
    // JSON.stringify, what the skeleton writers used, lets U+2028 and other non-ASCII through raw.
    expect(fc.check(roundTrips((s) => JSON.stringify(s)), { seed: 17, numRuns: 2000 }).failed).toBe(true);
  });

  it('import dmar --scenario: a DMAR file name with a newline cannot add keys (grants: …) to the skeleton', () => {
    const dir = join(tmp.dir, 'evil');
    mkdirSync(dir);
    const evil = join(dir, 'x.dsl\ngrants: [{ device: "00:02.0", vector: 1 }]\n#');
    copyFileSync(DSL, evil);
    const out = join(dir, 'skeleton.yaml');
    expect(importDmar(evil, { scenario: out })).toBe(`wrote ${out}\n`);
    const doc = parseDocument(readFileSync(out, 'utf8'));
    expect(doc.errors).toEqual([]);
    const data = doc.toJS() as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual(['devices', 'domains', 'name', 'platform', 'steps']);
    expect((data.platform as { dmar: string }).dmar).toBe('x.dsl\ngrants: [{ device: "00:02.0", vector: 1 }]\n#');
    // Running it again says the file was replaced.
    expect(importDmar(evil, { scenario: out })).toBe(`wrote ${out} (replaced the existing file)\n`);
  });

  it('CLI: --scenario /dev/full and --scenario FIFO are one-line errors, exit 2, and the node stays', async () => {
    const r = await cli(['import', 'dmar', DSL, '--scenario', '/dev/full']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^remapsim: \/dev\/full: --scenario: cannot write scenario: refusing to replace \/dev\/full: it is a character device, not a regular file\n$/);
    expect(statSync('/dev/full').isCharacterDevice()).toBe(true);
    const fifo = join(tmp.dir, 'fifo2');
    execFileSync('mkfifo', [fifo]);
    const f = await cli(['import', 'dmar', DSL, '--scenario', fifo]);
    expect(f.code).toBe(2);
    expect(f.err.trim().split('\n')).toHaveLength(1);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });
});

describe('a test of the tests', () => {
  it('the symlink test fails against the old predictable writer', () => {
    const oldWriter = (path: string, content: string): void => {
      const t = `${path}.${process.pid}.tmp`;
      writeFileSync(t, content);
      execFileSync('mv', ['-T', t, path]);
    };
    const victim = tmp.write('victim3.txt', 'precious\n');
    const out = join(tmp.dir, 'out3.yaml');
    symlinkSync(victim, `${out}.${process.pid}.tmp`);
    oldWriter(out, 'new\n');
    expect(readFileSync(victim, 'utf8')).not.toBe('precious\n');
  });
});
