/**
 * Mutation operators over real inputs: bytes (ACPI tables) and text (YAML, iasl .dsl,
 * lspci, debugfs dumps, group listings). Each mutant applies 1..4 operators; the
 * operators favour what parsers get wrong: boundary numbers (0, 7/8, 31/32, 255/256,
 * 0xffff/0x10000, 2^32, 2^64), truncation, duplication (of a structure or line),
 * and, for YAML, aliases, anchors, tags, tabs and duplicate keys.
 */
import type { Rng } from './rng.ts';

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x10, 0x20, 0x40];
const INTERESTING_NUMBERS = [
  '0', '1', '-1', '7', '8', '31', '32', '255', '256', '0xff', '0x100', '0xffff', '0x10000', '0xffffffff', '0x100000000',
  '0xffffffffffffffff', '0x10000000000000000', '4294967296', '1e308', '-0', '0x', '9999999999999999999999', 'NaN', '.inf', '0xfffffffffffff000',
];
const TEXT_TOKENS = [
  ':', ': ', '- ', '\t', '  ', '{', '}', '[', ']', ',', '#', '*a', '&a ', '*a#', '!!binary ', '!!str ', '!foo ', '? ', '|', '>', '"', "'",
  '\n', '\r\n', '\0', '\u00a0', '%YAML 1.2\n', '---\n', '...\n', '<<: *a\n', 'null', '~', 'true', '0x', '=', ' ', '.', 'ffff:', '100:00.0', '00:20.0', '00:00.9',
];

/** A byte-level mutant of `input` (never longer than 2 × input + 64 bytes). */
export function mutateBytes(rng: Rng, input: Uint8Array): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  for (let n = 1 + rng.below(4); n > 0; n--) {
    const at = rng.below(b.length + 1);
    switch (rng.below(8)) {
      case 0: // flip a bit
        if (b.length) b[at % b.length]! ^= 1 << rng.below(8);
        break;
      case 1: // an interesting byte
        if (b.length) b[at % b.length] = rng.pick(INTERESTING_BYTES);
        break;
      case 2: // a random byte
        if (b.length) b[at % b.length] = rng.below(256);
        break;
      case 3: // truncate
        b = b.slice(0, at);
        break;
      case 4: { // duplicate a chunk (a repeated structure)
        const len = 1 + rng.below(Math.min(64, b.length + 1));
        const from = rng.below(Math.max(1, b.length - len));
        const chunk = b.slice(from, from + len);
        b = concat(b.slice(0, at), chunk, b.slice(at));
        break;
      }
      case 5: { // delete a chunk
        const len = 1 + rng.below(16);
        b = concat(b.slice(0, at), b.slice(at + len));
        break;
      }
      case 6: { // a 16- or 32-bit boundary value, little-endian
        const v = rng.pick([0, 0xffff, 0xffffffff, 0x8000, 0x80000000, 1, 2, 0x1000]);
        for (let i = 0; i < (rng.chance(0.5) ? 2 : 4) && at + i < b.length; i++) b[at + i] = (v >>> (8 * i)) & 0xff;
        break;
      }
      default: // insert random bytes
        b = concat(b.slice(0, at), Uint8Array.from({ length: 1 + rng.below(8) }, () => rng.below(256)), b.slice(at));
    }
    if (b.length > 2 * input.length + 64) b = b.slice(0, 2 * input.length + 64);
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A text mutant of `input`, by lines, numbers and tokens. */
export function mutateText(rng: Rng, input: string): string {
  let lines = input.split('\n');
  for (let n = 1 + rng.below(4); n > 0; n--) {
    const i = rng.below(lines.length);
    const line = lines[i] ?? '';
    switch (rng.below(9)) {
      case 0: // delete a line
        lines.splice(i, 1);
        break;
      case 1: // duplicate a line (duplicate keys, devices, structures)
        lines.splice(i, 0, line);
        break;
      case 2: // swap two lines
        {
          const j = rng.below(lines.length);
          lines[i] = lines[j] ?? '';
          lines[j] = line;
        }
        break;
      case 3: case 4: { // replace a number with a boundary value
        const nums = [...line.matchAll(/0x[0-9a-fA-F]+|\b[0-9a-fA-F]{2,}\b|\b\d+\b/g)];
        if (nums.length === 0) break;
        const m = rng.pick(nums);
        lines[i] = line.slice(0, m.index) + rng.pick(INTERESTING_NUMBERS) + line.slice(m.index + m[0].length);
        break;
      }
      case 5: { // insert a token
        const at = rng.below(line.length + 1);
        lines[i] = line.slice(0, at) + rng.pick(TEXT_TOKENS) + line.slice(at);
        break;
      }
      case 6: { // delete characters
        const at = rng.below(line.length + 1);
        lines[i] = line.slice(0, at) + line.slice(at + 1 + rng.below(4));
        break;
      }
      case 7: // truncate the file
        lines = lines.slice(0, i);
        break;
      default: { // replace a character
        const at = rng.below(Math.max(1, line.length));
        lines[i] = line.slice(0, at) + String.fromCharCode(rng.pick([0x20, 0x09, 0x3a, 0x2d, 0x30 + rng.below(10), 0x61 + rng.below(26), rng.below(128)])) + line.slice(at + 1);
      }
    }
  }
  return lines.join('\n');
}
