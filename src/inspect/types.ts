/**
 * What the inspect phase learns from a request body: typed facts, the same shape for
 * every API family, so policy compares them without knowing which API it reads.
 */

export type { Api, BodyFacts, NameFact } from '../model/body.ts';
import type { Api, NameFact } from '../model/body.ts';

export const APIS = ['openai', 'anthropic', 'mcp'] as const satisfies readonly Api[];

/** A name keybroker compares: ASCII letters, digits and a few separators, bounded. */
const PLAIN_NAME = /^[A-Za-z0-9._:/@+-]{1,256}$/;

export function isPlainName(value: unknown): value is string {
  return typeof value === 'string' && PLAIN_NAME.test(value);
}

/** A name fact from a body value: the string when it is plain, else `null`. */
export function nameFact(value: unknown): NameFact {
  return isPlainName(value) ? value : null;
}

/** A body value as an object with own keys, or undefined. */
export function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** An own property only: a body never reaches the prototype. */
export function own(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}
