/**
 * The JSON object a request body must be, with its keys checked against case variants
 * of the keys keybroker reads.
 */
import { Denial } from '../lib/denial.ts';
import { describeKey } from './parse-json.ts';
import { asObject } from './types.ts';

/** The body as a JSON object, its keys checked against case variants of those read. */
export function topLevelObject(json: unknown, read: ReadonlySet<string>): Record<string, unknown> {
  const body = asObject(json);
  if (!body) throw new Denial('body_unreadable', 'the request body is not a JSON object');
  refuseCaseVariants(body, read);
  return body;
}

/**
 * Some parsers match keys ignoring case: Go's encoding/json folds `"Model"` to `model`,
 * and the long s `ſ` to `s` (the Kelvin sign `K`, which lower-cases to `k`, too). A
 * variant beside or instead of a key keybroker reads could be served as it: refused.
 */
export function refuseCaseVariants(object: Record<string, unknown>, read: ReadonlySet<string>): void {
  for (const key in object) {
    if (!mayFold(key)) continue;
    const folded = key.toLowerCase().replaceAll('\u017f', 's');
    if (folded !== key && read.has(folded)) {
      throw new Denial('body_unreadable', `the request body has the key ${describeKey(key)}, which differs from "${folded}" only in case`);
    }
  }
}

/** Whether a key has a character case folding could change (most keys are lower-case ASCII). */
function mayFold(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c > 0x7f) return true;
  }
  return false;
}
