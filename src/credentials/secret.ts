import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { KeyUnavailableError } from './key-unavailable.ts';

/** A secret's content: one value, or named fields (Vault KV v2 data, a map in the key file). */
export type SecretValue = string | ReadonlyMap<string, string>;

/**
 * A provider key. The value is reachable only through `reveal()` and `field()`; every
 * other way an object turns into text (string coercion, JSON, util.inspect, pino) yields
 * the key's identifier, so an accidental log line carries `store:path#version`, never
 * the key.
 *
 * A secret may have fields: `stripe/prod: { secret_key: …, publishable_key: … }`.
 * `select(field)` is the secret seen through one field (`key: stripe/prod#secret_key`):
 * its `reveal()` is that field, its id names it, and it is the same object every time,
 * so what is cached per secret stays cached.
 */
export class Secret {
  /** `store:path#version`, or `store:path[field]#version` for one field: safe to log, trace and return. */
  readonly id: string;
  readonly #value: string | undefined;
  readonly #fields: ReadonlyMap<string, string>;
  readonly #store: string;
  readonly #path: string;
  readonly #version: string;
  readonly #primary: string | undefined;
  #selected: Map<string, Secret> | undefined;

  /**
   * `version`: what the store calls this value (default: a fingerprint of it). `field`:
   * the secret seen through that field (see `select`). `primary`: the field that is also
   * the secret's single value (Vault's configured field), without naming it in the id.
   */
  constructor(store: string, path: string, value: SecretValue, options: { version?: string | undefined; field?: string; primary?: string } = {}) {
    this.#fields = typeof value === 'string' ? new Map() : value;
    this.#store = store;
    this.#path = path;
    this.#version = options.version ?? fingerprint(value);
    this.#primary = options.primary;
    if (options.field !== undefined) {
      this.#value = this.field(options.field);
      this.id = `${store}:${path}[${options.field}]#${this.#version}`;
    } else {
      this.#value = typeof value === 'string' ? value : options.primary === undefined ? undefined : value.get(options.primary);
      this.id = `${store}:${path}#${this.#version}`;
    }
  }

  /** The key itself: for the CheckResponse and nothing else. */
  reveal(): string {
    if (this.#value === undefined) {
      if (this.#primary !== undefined) this.field(this.#primary); // throws, naming the missing field
      throw new KeyUnavailableError(
        this.#path,
        `it has fields (${[...this.#fields.keys()].join(', ')}) and no single value: name one in the key reference ("${this.#path}#<field>") or use \${key.<field>}`,
      );
    }
    return this.#value;
  }

  /** One named field (`${key.sid}`); for the CheckResponse and nothing else. */
  field(name: string): string {
    const value = this.#fields.get(name);
    if (value === undefined) throw new KeyUnavailableError(this.#path, `it has no field "${name}"${this.#fields.size > 0 ? ` (its fields: ${[...this.#fields.keys()].join(', ')})` : ''}`);
    return value;
  }

  /** Whether this secret holds exactly `value` (a store re-reading it can keep this object). */
  holds(value: SecretValue): boolean {
    if (typeof value === 'string') return this.#fields.size === 0 && this.#value === value;
    if (value.size !== this.#fields.size) return false;
    for (const [name, fieldValue] of value) if (this.#fields.get(name) !== fieldValue) return false;
    return true;
  }

  /** This secret seen through one of its fields; the same object every time. Throws KeyUnavailableError without it. */
  select(field: string): Secret {
    let view = this.#selected?.get(field);
    if (!view) {
      view = new Secret(this.#store, this.#path, this.#fields, { version: this.#version, field });
      (this.#selected ??= new Map()).set(field, view);
    }
    return view;
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
export function fingerprint(value: SecretValue): string {
  const text = typeof value === 'string' ? value : JSON.stringify([...value].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
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

export function isProblem(value: SecretValue | { problem: string }): value is { problem: string } {
  return typeof value === 'object' && !(value instanceof Map);
}

export const FIELD_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A stored secret: one value, or a mapping of field names to values (each checked as a
 * key). Returns the SecretValue, or `{ problem }` saying what is wrong without quoting it.
 */
export function readSecretValue(value: unknown): SecretValue | { problem: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const problem = checkKeyValue(value);
    return problem ? { problem } : (value as string);
  }
  const fields = new Map<string, string>();
  for (const [name, fieldValue] of Object.entries(value)) {
    if (!FIELD_NAME.test(name)) return { problem: `has a field whose name is not letters, digits, "_" and "-" (at most 64)` };
    const problem = checkKeyValue(fieldValue);
    if (problem) return { problem: `field "${name}" ${problem}` };
    fields.set(name, fieldValue as string);
  }
  return fields.size > 0 ? fields : { problem: 'has no fields' };
}
