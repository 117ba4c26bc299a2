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
 * Some parsers match keys ignoring case (Go's encoding/json does): `"Model"` beside or
 * instead of `"model"` could be served as the model. Refused wherever keybroker reads.
 */
export function refuseCaseVariants(object: Record<string, unknown>, read: ReadonlySet<string>): void {
  for (const key of Object.keys(object)) {
    const lower = key.toLowerCase();
    if (lower !== key && read.has(lower)) {
      throw new Denial('body_unreadable', `the request body has the key ${describeKey(key)}, which differs from "${lower}" only in case`);
    }
  }
}
