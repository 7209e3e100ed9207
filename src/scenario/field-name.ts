/**
 * The dotted name of a scenario field from its path (`steps[3].msi.data`), as input errors
 * print it. Its own module so that the compiler (and the check workers that load it) need not
 * load the YAML parser and the schema validator that src/scenario/parse.ts imports.
 */

/** `['steps', 3, 'msi', 'data']` → `steps[3].msi.data`. */
export function fieldName(path: readonly (string | number)[]): string {
  return path.reduce<string>((acc, p) => (/^\d+$/.test(String(p)) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : String(p)), '');
}
