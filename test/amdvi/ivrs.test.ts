// IVRS parsing against the 7 real tables in data/real-inputs/ivrs (facts from
// data/real-inputs/PROVENANCE.md and the tables' own iasl decode), the bin/dsl agreement, the
// reserved/unknown skipping, and malformed input. Properties use fixed seeds and are each shown
// able to fail against a deliberately broken input.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/io/input-error.ts';
import { formatBdf } from '../../src/pci/bdf.ts';
import { efrFeatureNames } from '../../src/amdvi/efr.ts';
import { decodeIvrs, type TableSource } from '../../src/amdvi/ivrs/decode.ts';
import { ivrsToJson } from '../../src/amdvi/ivrs/json.ts';
import { loadIvrs, sniffAcpiTable } from '../../src/amdvi/ivrs/load.ts';
import { deviceRanges, linuxIvhdType, type DeviceEntry, type IvrsTable, type SpecialEntry } from '../../src/amdvi/ivrs/model.ts';
import { parseIvrsBinary } from '../../src/amdvi/ivrs/parse-binary.ts';
import { parseIvrsText } from '../../src/amdvi/ivrs/parse-dsl.ts';

const IVRS_DIR = fileURLToPath(new URL('../../data/real-inputs/ivrs/', import.meta.url));
const MACHINES = readdirSync(IVRS_DIR)
  .filter((f) => f.endsWith('.bin'))
  .map((f) => f.slice(0, -4))
  .sort();
const binPath = (m: string): string => join(IVRS_DIR, `${m}.bin`);
const dslPath = (m: string): string => join(IVRS_DIR, `${m}.dsl`);
const binBytes = (m: string): Uint8Array => new Uint8Array(readFileSync(binPath(m)));
const dslText = (m: string): string => readFileSync(dslPath(m), 'utf8');
const bin = (m: string): IvrsTable => loadIvrs(binPath(m));
const ZENITH = 'asus-rog-zenith-ii-extreme-alpha-trx40';
const T14 = 'lenovo-thinkpad-t14-gen3-amd';

function inputError(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw new Error(`expected an InputError, got ${String(e)}`);
  }
  throw new Error('expected an InputError, nothing was thrown');
}

function fixChecksum(b: Uint8Array): Uint8Array {
  b[9] = 0;
  let sum = 0;
  for (const x of b) sum = (sum + x) & 0xff;
  b[9] = (0x100 - sum) & 0xff;
  return b;
}

/** The iasl text without its "Raw Table Data" dump. */
const withoutRaw = (text: string): string => text.slice(0, text.indexOf('\nRaw Table Data:') + 1);

const entries = (t: IvrsTable): DeviceEntry[] => t.ivhd.flatMap((h) => [...h.entries]);

describe('the 7 real IVRS tables', () => {
  it('are the 7 machines of PROVENANCE.md', () => expect(MACHINES).toHaveLength(7));

  it.each(MACHINES)('%s: .bin and .dsl give the same model', (m) => {
    expect(loadIvrs(dslPath(m))).toEqual(bin(m));
  });

  // The dsl parser reads iasl's decoded lines, not just the dump: without the dump, the tables
  // that need nothing iasl left out still give the same model ...
  it.each(MACHINES.filter((m) => m !== T14 && !m.includes('coreboot')))('%s: .dsl without its raw dump gives the same model', (m) => {
    expect(parseIvrsText(withoutRaw(dslText(m)), dslPath(m))).toEqual(bin(m));
  });
  // ... and a decoded line that disagrees with the dump wins (so the lines are what is read).
  it('a decoded line is preferred to the raw dump', () => {
    const text = dslText(ZENITH).replace('[038h 0056   8]                 Base Address : 00000000B3180000', '[038h 0056   8]                 Base Address : 00000000B3190000');
    expect(parseIvrsText(text, 'edited.dsl').ivhd[0]!.baseAddress).toBe(0xb3190000n);
  });
  it('what iasl leaves out comes from the dump, and is refused without it', () => {
    // coreboot's AMDI0040 entry without UID: iasl prints no UID Format / Length.
    const cb = 'asrock-x370-killer-sli-coreboot';
    const e = inputError(() => parseIvrsText(withoutRaw(dslText(cb)), 'cb.dsl'));
    expect(e.message).toContain('no Raw Table Data');
    expect(e.field).toContain('UID Length');
    expect(e.line).toBeGreaterThan(600);
    const hid = entries(bin(cb)).find((x) => x.kind === 'acpi-hid' && x.hid === 'AMDI0040');
    expect(hid).toMatchObject({ uidFormat: 0, uidLength: 0, uid: null, deviceId: 0x0099, length: 22 });
  });

  it('header and IVinfo facts', () => {
    const z = bin(ZENITH);
    expect(z.header).toEqual({
      signature: 'IVRS', length: 0x1f0, revision: 2, checksum: 0xc7, oemId: 'AMD  ', oemTableId: 'AmdTable', oemRevision: 1, creatorId: 'AMD ', creatorRevision: 0,
    });
    expect(z.ivinfo).toMatchObject({ raw: 0x203041, EFRSup: 1, DmaRemap: 0, GVASize: 2, PASize: 48, VASize: 64, HtAtsResv: 0 });
    expect(bin(T14).ivinfo).toMatchObject({ raw: 0x203043, EFRSup: 1, DmaRemap: 1 });
    expect(bin('supermicro-h8dgu').ivinfo).toMatchObject({ raw: 0x203400, EFRSup: 0, PASize: 52 });
    expect(bin('supermicro-h8dgu').header.revision).toBe(1);
  });

  it('Zenith II: 4 IOMMUs, each an IVHD 10h + 11h pair, IOAPICs 128-132, HPET, EFR 0x58f77ef22294ade', () => {
    const z = bin(ZENITH);
    expect(z.ivhd.map((h) => `${h.type.toString(16)}:${formatBdf(h.deviceId)}`)).toEqual([
      '10:60:00.2', '11:60:00.2', '10:40:00.2', '11:40:00.2', '10:20:00.2', '11:20:00.2', '10:00:00.2', '11:00:00.2',
    ]);
    for (const h of z.ivhd) {
      expect(h.capabilityOffset).toBe(0x40);
      expect(h.flags).toMatchObject({ raw: 0xb0, IotlbSup: 1, Coherent: 1, PPRSup: 1, PrefSup: 0, HtTunEn: 0 });
      if (h.type === 0x10) {
        expect(h.featureWord).toBe(0x80048f6f);
        expect(h.features).toMatchObject({ XTSup: 1, NXSup: 1, GTSup: 1, GLXSup: 1, IASup: 1, GASup: 1, HESup: 0, PASMax: 15, HATS: 2 });
        expect(h.efrImage).toBeUndefined();
      } else {
        expect(h.attributes).toMatchObject({ HATDis: 0, PNBanks: 2 });
        expect(h.efrImage).toBe(0x58f77ef22294aden);
        expect(h.efr2Image).toBe(0n);
      }
    }
    const specials = entries(z).filter((e) => e.kind === 'special');
    const ioapics = [...new Set(specials.filter((s) => s.variety === 1).map((s) => s.handle))].sort((a, b) => a - b);
    expect(ioapics).toEqual([128, 129, 130, 131, 132]);
    expect(specials.some((s) => s.variety === 2)).toBe(true);
    // alias range ff:00.0 -> 00:14.4 in the 00:00.2 unit
    const unit0 = z.ivhd.find((h) => h.deviceId === 2 && h.type === 0x10)!;
    const alias = deviceRanges(unit0).ranges.find((r) => r.aliasTo !== undefined)!;
    expect([formatBdf(alias.first), formatBdf(alias.aliasTo!)]).toEqual(['ff:00.0', '00:14.4']);
    expect(linuxIvhdType(z)).toBe(0x11);
  });

  it('T14: IVHD 10h/11h/40h, IVMD 21h exclusion range, type 0x51 reported and skipped, AMDI0020 UARTs', () => {
    const t = bin(T14);
    expect(t.ivhd.map((h) => h.type)).toEqual([0x10, 0x11, 0x40]);
    expect(t.ivmd).toHaveLength(1);
    expect(t.ivmd[0]).toMatchObject({ type: 0x21, deviceId: 0x0300, startAddress: 0x7132f000n, memoryLength: 0x26000n, flags: { raw: 0x08, ExclusionRange: 1, Unity: 0, IR: 0, IW: 0 } });
    expect(t.unknown).toEqual([
      { offset: 0x1c4, type: 0x51, length: 32, rawHex: '5108200000030000000000000000000000f03271000000000060020000000000' },
    ]);
    const hids = t.ivhd[2]!.entries.filter((e) => e.kind === 'acpi-hid');
    expect(hids.map((e) => [e.hid, e.cid, e.uidFormat, e.uidLength, e.uid, e.deviceId, e.setting.raw])).toEqual(
      [0, 1, 2, 3].map((i) => ['AMDI0020', 0n, 2, 9, `\\_SB.FUR${i}`, 0x00a5, 0x40]),
    );
    expect(hids[0]!.setting).toMatchObject({ Lint0Pass: 1, Lint1Pass: 0, INITPass: 0 });
    expect(linuxIvhdType(t)).toBe(0x40);
    // the dsl has no decoded lines for the 0x51 subtable: it came from the dump
    expect(loadIvrs(dslPath(T14)).unknown).toEqual(t.unknown);
  });

  it('T14 special entry data settings decode per bit (0xd7)', () => {
    const s = entries(bin(T14)).find((e): e is SpecialEntry => e.kind === 'special' && e.setting.raw === 0xd7)!;
    expect(s.setting).toEqual({ raw: 0xd7, INITPass: 1, EIntPass: 1, NMIPass: 1, SysMgt: 1, Lint0Pass: 1, Lint1Pass: 1 });
    expect(s).toMatchObject({ kind: 'special', handle: 0x20, sourceId: 0x00a0, variety: 1 });
  });

  it('MECHREVO: 5 IVMD 22h device ranges 0000..0fff, exclusion, length 1, between IVHD 11h and 40h', () => {
    const t = bin('mechrevo-wujie14xa');
    expect(t.ivmd.map((m) => [m.type, m.deviceId, m.auxData, m.flags.raw, m.memoryLength])).toEqual(Array(5).fill([0x22, 0, 0x0fff, 0x08, 1n]));
    expect(t.ivmd[0]!.startAddress).toBe(0x9618e000n);
    const h11 = t.ivhd.find((h) => h.type === 0x11)!;
    const h40 = t.ivhd.find((h) => h.type === 0x40)!;
    for (const m of t.ivmd) expect(m.offset > h11.offset && m.offset < h40.offset).toBe(true);
  });

  it('H8DGU: one IVHD 10h flags 0x3e, alias range 01:00.0 -> 00:14.4, IOAPIC 0/1 + HPET, no EFR', () => {
    const t = bin('supermicro-h8dgu');
    expect(t.ivhd).toHaveLength(1);
    const h = t.ivhd[0]!;
    expect(h).toMatchObject({ type: 0x10, flags: { raw: 0x3e, PassPW: 1, ResPassPW: 1, Isoc: 1, IotlbSup: 1, Coherent: 1 }, featureWord: 0 });
    const alias = deviceRanges(h).ranges.find((r) => r.aliasTo !== undefined)!;
    expect([formatBdf(alias.first), formatBdf(alias.last), formatBdf(alias.aliasTo!)]).toEqual(['01:00.0', '01:1f.7', '00:14.4']);
    const specials = h.entries.filter((e) => e.kind === 'special').map((e) => `${e.variety}:${e.handle}`);
    expect(specials.sort()).toEqual(['1:0', '1:1', '2:0']);
    expect(deviceRanges(h).problems).toEqual([]);
  });

  it('padding entries (type 0) are kept as padding, never as devices', () => {
    const pads = entries(bin('asus-prime-x399-a')).filter((e) => e.kind === 'pad');
    expect(pads.length).toBeGreaterThan(0);
    for (const p of pads) expect(p).toEqual({ offset: p.offset, type: 0, length: 4, kind: 'pad' });
  });

  it('EFR names of every machine (what Linux print_iommu_info prints)', () => {
    const names = Object.fromEntries(
      MACHINES.map((m) => {
        const t = bin(m);
        const efrs = [...new Set(t.ivhd.filter((h) => h.efrImage !== undefined).map((h) => efrFeatureNames(h.efrImage!, h.efr2Image!)))];
        return [m, efrs];
      }),
    );
    expect(names).toEqual({
      'asrock-x370-killer-sli-coreboot': ['PPR NX GT IA GA PC GA_vAPIC'],
      'asus-prime-x399-a': ['PPR NX GT IA GA PC GA_vAPIC'],
      'asus-rog-zenith-ii-extreme-alpha-trx40': ['PPR X2APIC NX GT IA GA PC GA_vAPIC'],
      'framework-laptop16': ['PPR NX GT IA GA PC'],
      'lenovo-thinkpad-t14-gen3-amd': ['PPR NX GT [5] IA GA PC GA_vAPIC'],
      'mechrevo-wujie14xa': ['PPR NX GT IA GA PC'],
      'supermicro-h8dgu': [],
    });
  });

  it('JSON: bigints as 0x… 16-digit strings, device IDs as BDF + value; JSON-serialisable', () => {
    const j = ivrsToJson(bin(T14)) as { ivhd: { baseAddress: string; efrImage?: string; deviceId: unknown; entries: Record<string, unknown>[] }[]; ivmd: { startAddress: string }[] };
    expect(j.ivhd[1]!.baseAddress).toBe('0x00000000fe000000');
    expect(j.ivhd[1]!.efrImage).toBe('0x246577efa2254afa');
    expect(j.ivhd[0]!.deviceId).toEqual({ bdf: '00:00.2', value: 2 });
    expect(j.ivmd[0]!.startAddress).toBe('0x000000007132f000');
    const hid = j.ivhd[2]!.entries.find((e) => e.kind === 'acpi-hid')!;
    expect(hid).toMatchObject({ hid: 'AMDI0020', cid: '0x0000000000000000', uid: '\\_SB.FUR0', setting: { raw: '0x40' } });
    expect(() => JSON.stringify(j)).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// Reserved device entries and subtables, built by editing a real table

describe('reserved and unknown structures are reported and skipped', () => {
  // H8DGU: IVHD 10h at 0x30, entries from 0x48; its first entry is 4 bytes.
  const H8 = 'supermicro-h8dgu';

  it('a reserved 4-byte type (0x05) and 8-byte type (0x45) are kept as reserved with their bytes', () => {
    const b = binBytes(H8);
    const first = parseIvrsBinary(b, 'x').ivhd[0]!.entries;
    const i4 = first.findIndex((e) => e.length === 4 && e.kind !== 'pad');
    const i8 = first.findIndex((e) => e.length === 8);
    b[first[i4]!.offset] = 0x05;
    b[first[i8]!.offset] = 0x45;
    const t = parseIvrsBinary(fixChecksum(b), 'x');
    const es = t.ivhd[0]!.entries;
    expect(es).toHaveLength(first.length);
    expect(es[i4]).toMatchObject({ kind: 'reserved', type: 0x05, length: 4 });
    expect(es[i8]).toMatchObject({ kind: 'reserved', type: 0x45, length: 8 });
    expect((es[i8] as { rawHex: string }).rawHex).toHaveLength(16);
    // the rest of the walk is unchanged
    expect(es.filter((_, k) => k !== i4 && k !== i8)).toEqual(first.filter((_, k) => k !== i4 && k !== i8));
  });

  it('a reserved type of 80h or above (other than F0h) has no length: input error naming the offset', () => {
    const b = binBytes(H8);
    b[0x48] = 0x85;
    const e = inputError(() => parseIvrsBinary(fixChecksum(b), 'h8.bin'));
    expect(e.file).toBe('h8.bin');
    expect(e.field).toContain('device entry at offset 0x48');
    expect(e.message).toContain('0x85');
  });

  it('an unknown top-level subtable type is reported and skipped (T14 type 0x51 turned into 0x30)', () => {
    const b = binBytes(T14);
    b[0x1c4] = 0x30;
    const t = parseIvrsBinary(fixChecksum(b), 'x');
    expect(t.unknown).toMatchObject([{ offset: 0x1c4, type: 0x30, length: 32 }]);
    expect(t.ivhd).toHaveLength(3);
  });
});

// ---------------------------------------------------------------------------------------------
// Malformed input

describe('malformed input: an input error naming the file, the offset (bin) or line (dsl) and the field', () => {
  const Z = ZENITH;
  it.each([
    ['truncated header', (b: Uint8Array) => b.subarray(0, 20), 'header at offset 0x14: length', 'truncated'],
    ['truncated table', (b: Uint8Array) => b.subarray(0, b.length - 5), 'header at offset 0x4: Table Length', 'truncated'],
    ['trailing data', (b: Uint8Array) => new Uint8Array([...b, 0]), 'header at offset 0x4: Table Length', 'trailing data'],
    ['bad checksum', (b: Uint8Array) => ((b[100] = b[100]! ^ 1), b), 'header at offset 0x9: Checksum', 'sum to'],
    ['not IVRS', (b: Uint8Array) => (b.set([0x44, 0x4d, 0x41, 0x52]), b), 'header at offset 0x0: Signature', 'import dmar'],
    ['IVHD length 0', (b: Uint8Array) => fixChecksum(((b[0x32] = 0), (b[0x33] = 0), b)), 'IVHD 10h at offset 0x30: Length', 'less than the 24 bytes'],
    ['IVHD past the table end', (b: Uint8Array) => fixChecksum(((b[0x33] = 0x10), b)), 'IVHD 10h at offset 0x30: Length', 'runs past the end of the table'],
    ['11h shorter than its 40-byte header', (b: Uint8Array) => fixChecksum(((b[0x5a] = 24), b)), 'IVHD 11h at offset 0x58: Length', 'less than the 40 bytes'],
    // IVHD 10h at 0x30 is 40 bytes: its last entry starts at 0x50 (special, 8 bytes). Cut the IVHD to 0x54.
    ['entry past its IVHD', (b: Uint8Array) => fixChecksum(((b[0x32] = 0x24), b)), 'IVHD 10h at offset 0x30: device entry at offset 0x50: length', 'runs past the end of the IVHD'],
  ] as const)('%s', (_name, edit, field, msg) => {
    const e = inputError(() => parseIvrsBinary(edit(binBytes(Z)), 'z.bin'));
    expect(e.file).toBe('z.bin');
    expect(e.field).toBe(field);
    expect(e.message).toContain(msg);
  });

  it('an IVMD shorter than 32 bytes', () => {
    const b = binBytes(T14);
    b[0xd2] = 16;
    const e = inputError(() => parseIvrsBinary(fixChecksum(b), 't14.bin'));
    expect(e.field).toBe('IVMD 21h at offset 0xd0: Length');
  });

  it('an ACPI_HID entry whose UID runs past the IVHD', () => {
    const b = binBytes(T14);
    b[0x1bb - 1] = 0x40; // last AMDI0020 entry: UID Length at 0x1BA
    const e = inputError(() => parseIvrsBinary(fixChecksum(b), 't14.bin'));
    expect(e.field).toContain('device entry at offset 0x1a5: length');
  });

  it('dsl: wrong width, bad hex, wrong signature, raw dump checksum — each names the line', () => {
    const z = dslText(Z);
    const lineOf = (needle: string): number => z.slice(0, z.indexOf(needle)).split('\n').length;
    let e = inputError(() => parseIvrsText(z.replace('[032h 0050   2]                       Length : 0028', '[032h 0050   4]                       Length : 00000028'), 'z.dsl'));
    expect(e.line).toBe(lineOf('[032h 0050'));
    expect(e.message).toContain('printed 4 bytes wide');
    e = inputError(() => parseIvrsText(z.replace('Base Address : 00000000B3180000', 'Base Address : 00000000B318XYZ0'), 'z.dsl'));
    expect(e.line).toBe(lineOf('[038h 0056'));
    expect(e.field).toContain('Base Address');
    e = inputError(() => parseIvrsText(z.replace('Signature : "IVRS"', 'Signature : "DMAR"'), 'z.dsl'));
    expect([e.line, e.field]).toEqual([lineOf('Signature'), 'Signature']);
    e = inputError(() => parseIvrsText(z.replace('0000: 49 56 52 53', '0000: 49 56 52 54'), 'z.dsl'));
    expect(e.field).toBe('Raw Table Data: Checksum');
    expect(e.line).toBe(lineOf('\nRaw Table Data:') + 1);
    e = inputError(() => parseIvrsText('hello\n', 'x.dsl'));
    expect(e.field).toBe('Signature');
  });

  it('dsl: a subtable length running past the table names the subtable line', () => {
    const z = dslText(Z);
    const e = inputError(() => parseIvrsText(withoutRaw(z).replace('[032h 0050   2]                       Length : 0028', '[032h 0050   2]                       Length : 1028'), 'z.dsl'));
    expect(e.field).toBe('IVHD 10h at offset 0x30: Length');
    expect(e.line).toBe(z.slice(0, z.indexOf('[030h 0048')).split('\n').length);
  });

  it('missing file', () => {
    const e = inputError(() => loadIvrs('/nonexistent/IVRS'));
    expect(e.message).toContain('ENOENT');
  });
});

// ---------------------------------------------------------------------------------------------
// Sniffing

describe('sniffAcpiTable', () => {
  it('raw tables by their first bytes, iasl text by its Signature line', () => {
    expect(sniffAcpiTable(binBytes(ZENITH))).toEqual({ form: 'binary', signature: 'IVRS' });
    expect(sniffAcpiTable(Buffer.from(dslText(ZENITH)))).toEqual({ form: 'text', signature: 'IVRS' });
    const dmarDsl = readFileSync(fileURLToPath(new URL('../../data/real-inputs/dmar/hp-z240-sff.dsl', import.meta.url)));
    expect(sniffAcpiTable(dmarDsl)).toEqual({ form: 'text', signature: 'DMAR' });
  });
  it('a dsl whose first line is the title "IVRS" is text, not a raw table', () => {
    const text = dslText(ZENITH).split('\n').slice(5).join('\n'); // starts with "IVRS\n----"
    expect(text.startsWith('IVRS\n')).toBe(true);
    expect(sniffAcpiTable(Buffer.from(text))).toEqual({ form: 'text', signature: 'IVRS' });
    expect(parseIvrsText(text, 'titled.dsl')).toEqual(bin(ZENITH));
  });
});

// ---------------------------------------------------------------------------------------------
// Properties (fixed seeds); each is also run against a deliberately broken input and must fail.

const RUNS = { numRuns: 300, seed: 0x1a2b3c };

/** A TableSource with no bounds checks and no length checks: reads past the data throw RangeError. */
class UncheckedSource implements TableSource {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  int(o: number, w: 1 | 2 | 4 | 8): bigint {
    if (w === 1) return BigInt(this.view.getUint8(o));
    if (w === 2) return BigInt(this.view.getUint16(o, true));
    if (w === 4) return BigInt(this.view.getUint32(o, true));
    return this.view.getBigUint64(o, true);
  }
  blob(o: number, w: number): Uint8Array {
    return this.bytes.subarray(o, o + w);
  }
  rawHex(): string {
    return '';
  }
  fail(_o: number, field: string, message: string): never {
    throw new InputError(message, { field });
  }
}

/** Random edits of a real table: byte overwrites, then optionally a truncation; checksum fixed or not. */
const edits = fc.record({
  machine: fc.constantFrom(...MACHINES),
  writes: fc.array(fc.record({ at: fc.nat(), value: fc.nat(255) }), { minLength: 1, maxLength: 6 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  fix: fc.boolean(),
});
function edited(e: { machine: string; writes: { at: number; value: number }[]; cut: number | undefined; fix: boolean }): Uint8Array {
  let b = binBytes(e.machine);
  for (const w of e.writes) b[w.at % b.length] = w.value;
  if (e.cut !== undefined) b = b.slice(0, e.cut % (b.length + 1));
  return e.fix && b.length >= 10 ? fixChecksum(b) : b;
}

/** Parsing anything either succeeds or throws InputError — nothing else. */
const totality = (parse: (b: Uint8Array) => unknown) =>
  fc.property(edits, (e) => {
    try {
      parse(edited(e));
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
    }
  });

describe('properties', () => {
  it('parseIvrsBinary is total over edited real tables (input errors only)', () => {
    expect(fc.check(totality((b) => parseIvrsBinary(b, 'p.bin')), RUNS).failed).toBe(false);
  });
  it('... and the property fails for a walker without bounds checks', () => {
    const unchecked = (b: Uint8Array): unknown => decodeIvrs(new UncheckedSource(b), b.length >= 8 ? new DataView(b.buffer, b.byteOffset).getUint32(4, true) : 48);
    expect(fc.check(totality(unchecked), RUNS).failed).toBe(true);
  });

  // The iasl text of a table is the table: editing bytes in the raw dump of a dsl stripped of its
  // decoded lines gives the same model (or the same error) as the edited bin.
  const rawOnlyDsl = (b: Uint8Array): string => {
    const rows: string[] = [];
    for (let o = 0; o < b.length; o += 16) {
      rows.push(`    ${o.toString(16).toUpperCase().padStart(4, '0')}: ${[...b.subarray(o, o + 16)].map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ')}`);
    }
    const sig = Buffer.from(b.subarray(0, 4)).toString('latin1');
    return `[000h 0000 004h]                   Signature : "${sig}"\n\nRaw Table Data: Length ${b.length} (0x${b.length.toString(16)})\n\n${rows.join('\n')}\n`;
  };
  const outcome = (f: () => IvrsTable): string => {
    try {
      return JSON.stringify(ivrsToJson(f()));
    } catch (err) {
      if (err instanceof InputError) return `error: ${err.field}`;
      throw err;
    }
  };
  const checksummedEdits = edits.map((e) => ({ ...e, cut: undefined, fix: true }));
  const agree = (textOf: (b: Uint8Array) => string) =>
    fc.property(checksummedEdits, (e) => {
      const b = edited(e);
      fc.pre(b.length >= 48 && Buffer.from(b.subarray(0, 4)).toString('latin1') === 'IVRS' && new DataView(b.buffer, b.byteOffset).getUint32(4, true) === b.length);
      const fromBin = outcome(() => parseIvrsBinary(b, 'p'));
      const fromText = outcome(() => parseIvrsText(textOf(b), 'p'));
      // errors are located differently (offset vs line) but name the same structure
      expect(fromText.replace(/ at offset 0x[0-9a-f]+$/, '')).toBe(fromBin.replace(/ at offset 0x[0-9a-f]+$/, ''));
    });
  it('bin and dsl (raw dump) agree on edited tables', () => {
    expect(fc.check(agree(rawOnlyDsl), { ...RUNS, numRuns: 150 }).failed).toBe(false);
  });
  it('... and the property fails when the dump is off by one byte', () => {
    const shifted = (b: Uint8Array): string => rawOnlyDsl(new Uint8Array([...b.subarray(0, 48), ...b.subarray(49), b[48]!]));
    expect(fc.check(agree(shifted), { ...RUNS, numRuns: 150 }).failed).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Entry types no shipped table has (01h, 42h, 46h, 47h, 40h, integer UID, string CID), and IVMD
// 20h/22h: a table built byte by byte from the layouts of ACPICA actbl2.h.

/** A raw IVRS table with one IVHD of `type` holding `entryBytes`, then `more` subtables; checksum set. */
function buildTable(type: 0x10 | 0x11 | 0x40, entryBytes: number[], more: number[] = []): Uint8Array {
  const hdr = type === 0x10 ? 24 : 40;
  const ivhd = new Uint8Array(hdr + entryBytes.length);
  const v = new DataView(ivhd.buffer);
  ivhd[0] = type;
  ivhd[1] = 0x10; // IotlbSup
  v.setUint16(2, ivhd.length, true);
  v.setUint16(4, 0x0002, true);
  v.setUint16(6, 0x40, true);
  v.setBigUint64(8, 0xfeb80000n, true);
  v.setUint16(16, 1, true); // segment 1
  v.setUint16(18, 0x1305, true); // UnitID 0x13, MsiNum 5
  v.setUint32(20, type === 0x10 ? 0x45 : 0x1, true);
  if (type !== 0x10) {
    v.setBigUint64(24, 0x58f77ef22294aden, true);
    v.setBigUint64(32, 0x2n, true);
  }
  ivhd.set(entryBytes, hdr);
  const total = 48 + ivhd.length + more.length;
  const t = new Uint8Array(total);
  t.set([0x49, 0x56, 0x52, 0x53]);
  new DataView(t.buffer).setUint32(4, total, true);
  t[8] = 2;
  t.set(Buffer.from('TESTID'), 10);
  new DataView(t.buffer).setUint32(36, 0x203041, true);
  t.set(ivhd, 48);
  t.set(more, 48 + ivhd.length);
  return fixChecksum(t);
}
const ivmd = (type: number, flags: number, dev: number, aux: number, start: bigint, len: bigint): number[] => {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  b[0] = type;
  b[1] = flags;
  v.setUint16(2, 32, true);
  v.setUint16(4, dev, true);
  v.setUint16(6, aux, true);
  v.setUint16(8, 0, true);
  v.setBigUint64(16, start, true);
  v.setBigUint64(24, len, true);
  return [...b];
};

describe('every device entry type, built from the layout', () => {
  const entryBytes = [
    0x01, 0x00, 0x00, 0x01, // ALL, setting INITPass
    0x40, 0, 0, 0, 0, 0, 0, 0, // 8-byte padding
    0x42, 0x08, 0x01, 0x00, 0x00, 0xa0, 0x00, 0x00, // alias select 01:01.0 -> 00:14.0
    0x46, 0x10, 0x02, 0x02, 0x00, 0x00, 0x00, 0x80, // ext select 02:02.0, setting EIntPass, ext 0x80000000 (ATS disabled)
    0x47, 0x00, 0x03, 0x04, 0x01, 0x00, 0x00, 0x00, // ext range start 03:00.0, NMIPass, ext 1
    0x04, 0xff, 0x03, 0x00, // range end 03:1f.7
    0x48, 0x00, 0x00, 0x00, 0x07, 0xa0, 0x00, 0x01, // special IOAPIC 7 = 00:14.0
    0x48, 0x00, 0x00, 0x00, 0x02, 0xa0, 0x00, 0x02, // special HPET 2 = 00:14.0
    0xf0, 0xa5, 0x00, 0x30, ...Buffer.from('AMDI0010'), ...Buffer.from('PNP0C08\0'), 0x01, 0x02, 0x34, 0x12, // HID with string CID and integer UID 0x1234
  ];
  const t = parseIvrsBinary(buildTable(0x40, entryBytes, [...ivmd(0x20, 0x07, 0, 0, 0xe0000n, 0x20000n), ...ivmd(0x22, 0x01, 0x0100, 0x01ff, 0x1000n, 0x1000n)]), 'built.bin');
  const h = t.ivhd[0]!;

  it('IVHD header fields', () => {
    expect(h).toMatchObject({ type: 0x40, deviceId: 2, capabilityOffset: 0x40, baseAddress: 0xfeb80000n, segment: 1, info: { MsiNum: 5, UnitID: 0x13, raw: 0x1305 }, attributes: { HATDis: 1 }, efrImage: 0x58f77ef22294aden, efr2Image: 2n });
    expect(h.flags).toMatchObject({ IotlbSup: 1, raw: 0x10 });
    expect(efrFeatureNames(h.efrImage!, h.efr2Image!)).toBe('PPR X2APIC NX GT IA GA PC GA_vAPIC SEV-TIO');
  });

  it('each entry decodes to its kind and fields', () => {
    expect(h.entries.map((e) => e.kind)).toEqual(['all', 'pad', 'alias-select', 'ext-select', 'ext-range-start', 'range-end', 'special', 'special', 'acpi-hid']);
    expect(h.entries[2]).toMatchObject({ deviceId: 0x0108, sourceId: 0x00a0, length: 8 });
    expect(h.entries[3]).toMatchObject({ deviceId: 0x0210, extendedSetting: 0x80000000, setting: { EIntPass: 1, raw: 2 } });
    expect(h.entries[6]).toMatchObject({ handle: 7, sourceId: 0xa0, variety: 1 });
    expect(h.entries[7]).toMatchObject({ handle: 2, variety: 2 });
    expect(h.entries[8]).toMatchObject({ hid: 'AMDI0010', cid: BigInt(`0x${Buffer.from('PNP0C08\0').reverse().toString('hex')}`), uidFormat: 1, uidLength: 2, uid: '4660', length: 24, setting: { SysMgt: 3 } });
  });

  it('deviceRanges applies them as Linux does', () => {
    const { ranges, problems } = deviceRanges(h);
    expect(problems).toEqual([]);
    expect(ranges.map((r) => [r.first, r.last, r.setting.raw, r.aliasTo, r.extendedSetting, r.all])).toEqual([
      [0, 0xffff, 1, undefined, undefined, true],
      [0x0108, 0x0108, 0, 0xa0, undefined, undefined],
      [0x0210, 0x0210, 2, undefined, 0x80000000, undefined],
      [0x0300, 0x03ff, 4, undefined, 1, undefined],
    ]);
  });

  it('IVMD 20h and 22h', () => {
    expect(t.ivmd.map((m) => [m.type, m.flags.Unity, m.flags.IR, m.flags.IW, m.deviceId, m.auxData, m.startAddress, m.memoryLength])).toEqual([
      [0x20, 1, 1, 1, 0, 0, 0xe0000n, 0x20000n],
      [0x22, 1, 0, 0, 0x100, 0x1ff, 0x1000n, 0x1000n],
    ]);
  });

  it('range problems are reported, not thrown', () => {
    const u = parseIvrsBinary(buildTable(0x10, [0x04, 0, 1, 0, 0x03, 0, 2, 0]), 'x');
    expect(deviceRanges(u.ivhd[0]!).problems).toEqual(['range end at offset 0x48 has no start', 'range start at offset 0x4c has no end']);
  });

  it('an IVHD 10h with a reserved 8-byte entry at its end, and the summary names everything', async () => {
    const u = parseIvrsBinary(buildTable(0x10, [0x02, 0x08, 0x00, 0x00, 0x41, 1, 2, 3, 4, 5, 6, 7]), 'x');
    expect(u.ivhd[0]!.features).toMatchObject({ XTSup: 1, IASup: 0, GTSup: 1, GASup: 1 });
    expect(u.ivhd[0]!.entries[1]).toEqual({ offset: 0x48 + 4, type: 0x41, length: 8, kind: 'reserved', rawHex: '4101020304050607' });
    const { formatIvrsSummary } = await import('../../src/amdvi/ivrs/summary.ts');
    const s = formatIvrsSummary(t);
    expect(s).toContain('all devices, setting 0x1 INITPass');
    expect(s).toContain('device 0001:01:01.0, alias: requests seen as 0001:00:14.0');
    expect(s).toContain('devices 0001:03:00.0 - 0001:03:1f.7, extended setting 0x1, setting 0x4 NMIPass');
    expect(s).toContain('ACPI device AMDI0010 CID "PNP0C08" UID "4660" = 0001:00:14.5, setting 0x30 SysMgt=3');
    expect(s).toContain('IVMD 20h at offset 0x');
    expect(formatIvrsSummary(u)).toContain('skipped reserved device entry type 0x41 at offset 0x4c, 8 bytes: 4101020304050607');
  });
});
