/**
 * Escaping for text remapsim copies from its inputs (file paths, names) into the YAML files it
 * generates (scenario skeletons, counterexamples), so that no input can add keys or end a comment
 * (issue 17: a DMAR path with a newline injected `grants: …` into the generated scenario).
 */

/**
 * `s` as a YAML double-quoted scalar that is also a JSON string: `"` and `\` are escaped, and every
 * character outside printable ASCII (0x20–0x7e) — newline, CR, NEL U+0085, LS/PS U+2028/U+2029, tab,
 * other controls and all non-ASCII — becomes `\uXXXX` (YAML 1.2 §5.7 escape sequences). The result is
 * one line of printable ASCII, safe both as a value and inside a `#` comment. Never throws; lone
 * surrogates are escaped too, so `JSON.parse` and the `yaml` package read back exactly `s`.
 */
export function yamlQuoted(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c <= 0x7e) out += s[i];
    else out += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return out + '"';
}
