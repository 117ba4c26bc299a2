/**
 * The JSON objects keybroker reads fields of, with their keys checked against variants of
 * those fields that a lenient upstream could read instead (`foldKey`).
 */
import { Denial } from '../lib/denial.ts';
import { foldKey } from '../lib/fold-key.ts';
import { describeKey } from './parse-json.ts';
import { asObject } from './types.ts';

/** The fields keybroker reads from one kind of object, by name and by fold. */
export interface ReadKeys {
  readonly exact: ReadonlySet<string>;
  readonly folds: ReadonlyMap<string, string>;
}

export function readKeys(names: readonly string[]): ReadKeys {
  return { exact: new Set(names), folds: new Map(names.map((name) => [foldKey(name), name])) };
}

/** The body as a JSON object, its keys checked against variants of those read. */
export function topLevelObject(json: unknown, read: ReadKeys): Record<string, unknown> {
  const body = asObject(json);
  if (!body) throw new Denial('body_unreadable', 'the request body is not a JSON object');
  refuseKeyVariants(body, read);
  return body;
}

/**
 * Go's encoding/json matches `"Model"` or `"ſtream"` to the fields `model` and `stream`,
 * and keeps the last of two that match: a variant beside or instead of a key keybroker
 * reads could be served as that field. Refused wherever keybroker reads.
 */
export function refuseKeyVariants(object: Record<string, unknown>, read: ReadKeys): void {
  for (const key in object) {
    if (read.exact.has(key)) continue;
    const field = read.folds.get(foldKey(key));
    if (field !== undefined) {
      throw new Denial('body_unreadable', `the request body has the key ${describeKey(key)}, which differs from "${field}" only in case or separators`);
    }
  }
}

/** Refuses two keys with the same fold (`state` and `ſtate`): a lenient decoder reads them as one. */
export function refuseFoldedTwins(object: Record<string, unknown>, where: string): void {
  let folds: Map<string, string> | undefined;
  for (const key in object) {
    const fold = foldKey(key);
    const twin = (folds ??= new Map()).get(fold);
    if (twin !== undefined) throw new Denial('body_unreadable', `${where} have the keys ${describeKey(twin)} and ${describeKey(key)}, which differ only in case or separators`);
    folds.set(fold, key);
  }
}
