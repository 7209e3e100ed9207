// Issue 16 item 2: every YAML error of a scenario is one line naming the file, the line and the
// field it is in (or `(YAML syntax)` where the parser could give none) — duplicate keys, tabs,
// tags, broken flow collections — a BDF out of range is refused with what a BDF is, and a device
// given to two domains is refused (what a scenario cannot mean).
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { InputError } from '../../src/io/input-error.ts';
import { compileScenario } from '../../src/scenario/compile.ts';

const HEAD = ['name: hostile', 'platform:', '  apicMode: x2apic', '  cpus: { count: 2 }', 'domains:', '  - { name: host, kind: host, cpus: [0] }'];

const formatted = (lines: readonly string[]): string => {
  try {
    parseScenarioText([...lines, ''].join('\n'), 'h.yaml');
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
  throw new Error('accepted');
};

describe('YAML errors name the field they are in', () => {
  it('a duplicate key names the key', () => {
    expect(formatted([...HEAD.slice(0, 3), '  apicMode: xapic', ...HEAD.slice(3)])).toBe('h.yaml:4: platform.apicMode: duplicate key: map keys must be unique (a second value would silently replace the first)');
  });
  it('a duplicate key inside a list item names the item', () => {
    expect(formatted([...HEAD, '  - { name: vm1, name: vm2, kind: guest, cpus: [1] }'])).toMatch(/^h\.yaml:7: domains\[1\]\.name: duplicate key/);
  });
  it('a tab used as indentation names the mapping it breaks', () => {
    expect(formatted([HEAD[0]!, HEAD[1]!, '\tapicMode: x2apic', ...HEAD.slice(3)])).toMatch(/^h\.yaml:3: [^:]+: Tabs are not allowed as indentation$/);
  });
  it('a tag is refused (the yaml package only warns and reads a string)', () => {
    expect(formatted([HEAD[0]!, HEAD[1]!, HEAD[2]!, '  cpus: !!js/function "x"', ...HEAD.slice(4)])).toBe('h.yaml:4: platform.cpus: Unresolved tag: tag:yaml.org,2002:js/function: a scenario uses no YAML tags');
    expect(formatted([...HEAD.slice(0, 3), '  cpus: !custom { count: 2 }', ...HEAD.slice(4)])).toMatch(/^h\.yaml:4: platform\.cpus: Unresolved tag: !custom: a scenario uses no YAML tags$/);
  });
  it('an unclosed flow collection names the key it belongs to', () => {
    expect(formatted(['name: [1, 2', 'steps: 3'])).toMatch(/^h\.yaml:2: name: Flow sequence/);
  });
  it('a line the parser cannot give a key to is (YAML syntax)', () => {
    expect(formatted(['name: x', '- a'])).toBe('h.yaml:2: (YAML syntax): Implicit keys need to be on a single line');
  });
});

describe('BDFs out of range', () => {
  const withDevice = (bdf: string) => [...HEAD, 'devices:', `  - { bdf: "${bdf}" }`, 'steps: []'];
  for (const bdf of ['00:00.8', '00:20.0', '100:00.0', '100000000:00:00.0', 'zz:00.0', '00:1f']) {
    it(`${bdf} is refused with what a BDF is`, () => {
      expect(formatted(withDevice(bdf))).toBe('h.yaml:8: devices[0].bdf: expected a BDF bb:dd.f or ssss:bb:dd.f in hex (domain at most 8 digits, bus ff, device 1f, function 7)');
    });
  }
  // A VMD domain (Linux vmd_find_free_domain numbers them from 0x10000) is a domain too.
  for (const bdf of ['ffff:ff:1f.7', '00:1f.7', '0:0.0', '10000:e1:00.0']) {
    it(`${bdf} is a BDF`, () => {
      expect(() => parseScenarioText([...withDevice(bdf), ''].join('\n'), 'h.yaml')).not.toThrow();
    });
  }
});

describe('a function has one owner', () => {
  it('a device in two domains is refused at its second mention', () => {
    const lines = ['name: hostile', 'platform:', '  cpus: { count: 4 }', 'devices:', '  - { bdf: "01:00.0" }', 'domains:', '  - { name: host, kind: host, cpus: [0] }', '  - { name: vm1, kind: guest, cpus: [1], devices: ["01:00.0"] }', '  - { name: vm2, kind: guest, cpus: [2], devices: ["01:00.0"] }', 'steps: []'];
    expect(() => compileScenario(parseScenarioText(lines.join('\n'), 'h.yaml'))).toThrow(/device 01:00\.0 is already given to domain vm1/);
    const e = (() => { try { compileScenario(parseScenarioText(lines.join('\n'), 'h.yaml')); } catch (x) { return x as InputError; } return undefined; })();
    expect(e?.format()).toMatch(/^h\.yaml:9: domains\[2\]\.devices\[0\]: /);
    expect(() => compileScenario(parseScenarioText(lines.slice(0, 8).concat('steps: []').join('\n'), 'h.yaml'))).not.toThrow();
  });
});
