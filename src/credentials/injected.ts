/**
 * Injected is what an allowed answer puts on the upstream request: header values and
 * query parameters, rendered from one destination's injection and one key version. It
 * is built once per (injection, key version) and reused, so the Check's fast path does
 * not render, base64 or encode anything; a rotated key is a new Secret and so a new
 * Injected. Like a Secret, it never turns into text that shows its values.
 */
import { inspect } from 'node:util';
import type { Credential, Injected as InjectedShape, Injection } from '../model/check.ts';

export class Injected implements InjectedShape {
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  readonly query: ReadonlyArray<readonly [name: string, value: string]>;
  readonly #label: string;

  constructor(injection: Injection, secret: Credential) {
    this.headers = injection.headers.map((h) => [h.name, h.render(secret)] as const);
    this.query = injection.query.map((q) => [q.name, q.render(secret)] as const);
    this.#label = `[injected ${secret.id}]`;
  }

  toString(): string {
    return this.#label;
  }

  toJSON(): string {
    return this.#label;
  }

  [inspect.custom](): string {
    return this.#label;
  }
}

const rendered = new WeakMap<Injection, WeakMap<Credential, Injected>>();

/** What this injection puts on the request with this key; throws KeyUnavailableError when the key lacks a field it needs. */
export function injectedFor(injection: Injection, secret: Credential): Injected {
  let bySecret = rendered.get(injection);
  if (!bySecret) rendered.set(injection, (bySecret = new WeakMap()));
  let injected = bySecret.get(secret);
  if (!injected) bySecret.set(secret, (injected = new Injected(injection, secret)));
  return injected;
}
