/**
 * A JSON key as a lenient decoder matches it against a field name. Go's encoding/json
 * folds case with Unicode simple folding (`ſ` matches `s`, the Kelvin sign `k`); Go
 * libraries that lower-case with strings.ToLower (jsoniter) read `İ` as `i`; and
 * encoding/json/v2's case-insensitive matching also ignores `_` and `-`. Keys with the
 * same fold may be read as the same field.
 */
export function foldKey(key: string): string {
  if (isFolded(key)) return key;
  return key.replaceAll('\u0130', 'i').toLowerCase().replaceAll('\u017f', 's').replace(/[-_]/g, '');
}

/** Lower-case ASCII letters and digits only: nothing to fold (most keys). */
function isFolded(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39))) return false;
  }
  return true;
}
