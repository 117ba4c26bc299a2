/**
 * JSON as the upstream will read it, or a refusal. JSON.parse (native, strict RFC 8259)
 * builds the value; a second pass over the text refuses a key that appears twice in one
 * object. Parsers disagree on duplicates — JSON.parse and Python keep the last, others
 * the first, some refuse — so `{"model":"cheap","model":"expensive"}` could be checked as
 * one model and served as the other. Keys are compared decoded, so `"mod\u0065l"` is a
 * second `model`.
 */
import { Denial } from '../lib/denial.ts';

export function parseStrictJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Denial('body_unreadable', 'the request body is not JSON');
  }
  // Counting is cheaper than collecting: JSON.parse keeps one key per name, so the value
  // holds fewer keys than the text exactly when a key repeats. Only then is it named.
  if (countKeys(value) !== countSourceKeys(text)) {
    const duplicate = findDuplicateKey(text);
    const key = duplicate === undefined ? 'a key' : `the key ${describeKey(duplicate)}`;
    throw new Denial('body_unreadable', `the request body repeats ${key} in one object: which one the upstream reads is not defined`);
  }
  return value;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/** One open object (its keys so far) or array (`null`). */
type Frame = Set<string> | null;

/**
 * Walks text that JSON.parse accepted: strings are skipped with indexOf (chat bodies are
 * mostly string content), only structure is looked at character by character.
 */
export function findDuplicateKey(text: string): string | undefined {
  const stack: Frame[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      const keys = stack.length > 0 ? stack[stack.length - 1] : null;
      if (expectKey && keys) {
        let key = text.slice(i + 1, end);
        if (key.includes('\\')) key = JSON.parse(text.slice(i, end + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === OPEN_OBJECT) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === OPEN_ARRAY) {
      stack.push(null);
      expectKey = false;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
      expectKey = false;
    } else if (c === COMMA) {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
    }
  }
  return undefined;
}

/** Keys in the parsed value, at every depth. */
function countKeys(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += countKeys(item);
    return count;
  }
  for (const key in value) {
    count++;
    count += countKeys((value as Record<string, unknown>)[key]);
  }
  return count;
}

/** Keys in text that JSON.parse accepted, at every depth (as findDuplicateKey walks it). */
function countSourceKeys(text: string): number {
  // true: the innermost open container is an object.
  const objects: boolean[] = [];
  let expectKey = false;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      if (expectKey) {
        count++;
        expectKey = false;
      }
      i = stringEnd(text, i);
    } else if (c === OPEN_OBJECT) {
      objects.push(true);
      expectKey = true;
    } else if (c === OPEN_ARRAY) {
      objects.push(false);
      expectKey = false;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      objects.pop();
      expectKey = false;
    } else if (c === COMMA) {
      expectKey = objects.length > 0 && objects[objects.length - 1] === true;
    }
  }
  return count;
}

/** The index of the quote closing the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/** A key for a denial's detail: shown when it is a plain identifier, else only described. */
export function describeKey(key: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(key) ? `"${key}"` : '(a key that is not a plain name)';
}
