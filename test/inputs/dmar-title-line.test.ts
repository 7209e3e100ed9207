// An iasl dump may start with the table's title line `DMAR` (issue 17: "a valid iasl dump whose
// first line is the DMAR title is sniffed as binary"); only binary data (a NUL byte) is the raw table.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDmar } from '../../src/vtd/dmar/load.ts';

const dsl = readFileSync(new URL('../../data/real-inputs/dmar/supermicro-x10dai.dsl', import.meta.url), 'utf8');
const bin = new URL('../../data/real-inputs/dmar/supermicro-x10dai.bin', import.meta.url);

describe('loadDmar: form by content', () => {
  it('reads an iasl dump whose first line is the title DMAR as text, the same table as the binary', () => {
    const dir = mkdtempSync(join(tmpdir(), 'remapsim-dmar-'));
    const file = join(dir, 'titled.dsl');
    writeFileSync(file, `DMAR\n${dsl}`);
    const fromText = loadDmar(file);
    const fromBinary = loadDmar(bin.pathname);
    expect(fromText.drhd.length).toBe(fromBinary.drhd.length);
    expect(fromText.drhd.map((d) => d.registerBase)).toEqual(fromBinary.drhd.map((d) => d.registerBase));
    expect(fromText.hostAddressWidth).toBe(fromBinary.hostAddressWidth);
  });

  it('still rejects binary data that is not a DMAR table', () => {
    const dir = mkdtempSync(join(tmpdir(), 'remapsim-dmar-'));
    const file = join(dir, 'junk.bin');
    writeFileSync(file, Buffer.from([0x41, 0x42, 0x43, 0x44, 0, 1, 2, 3]));
    expect(() => loadDmar(file)).toThrow(/not a DMAR table/);
  });
});
