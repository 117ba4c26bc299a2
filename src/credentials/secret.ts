import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

/**
 * A provider key. The value is reachable only through `reveal()`; every other way an
 * object turns into text (string coercion, JSON, util.inspect, pino) yields the key's
 * identifier, so an accidental log line carries `store:path#version`, never the key.
 */
export class Secret {
  /** `store:path#version`: safe to log, trace and return. */
  readonly id: string;
  readonly #value: string;

  constructor(store: string, path: string, value: string, version?: string) {
    this.#value = value;
    this.id = `${store}:${path}#${version ?? fingerprint(value)}`;
  }

  /** The key itself: for the CheckResponse and nothing else. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return `[secret ${this.id}]`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** A short, stable, one-way label for a key value, so a rotation shows in the key id. */
function fingerprint(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 12);
}

/**
 * Header values cannot carry CR, LF or other control characters; a key that holds one is
 * refused at load rather than becoming a header-injection vector at request time.
 */
export function checkKeyValue(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return 'must be a non-empty string';
  if (value.length > 8192) return 'is longer than 8192 characters';
  if (!/^[\x21-\x7e]+( [\x21-\x7e]+)*$/.test(value)) return 'may contain only printable ASCII characters (and single inner spaces)';
  return undefined;
}
