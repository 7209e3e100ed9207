/**
 * Text for xmlbuilder2. Its serializer escapes `<`, `>` and `"` but leaves an `&` that already
 * looks like a reference (`&amp;`, `&lt;`, `&#60;`: lib/constants.js `nonEntityAmpersandRegex`
 * = /&(?![A-Za-z]+;|#\d+;)/), so a scenario saying "&amp;" would be shown as "&". Escaping
 * every `&` first makes each one a reference xmlbuilder2 leaves alone: the page then shows
 * exactly the input text.
 */
export function xmlText(s: string | number): string {
  return String(s).replaceAll('&', '&amp;');
}
