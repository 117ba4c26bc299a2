/**
 * JSON as the upstream will read it, or a refusal. JSON.parse (native, strict RFC 8259)
 * builds the value; comparing it with the text refuses a key that appears twice in one
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
  let colons = colonsInValue(value, 0);
  if (Number.isNaN(colons)) {
    // A key holds a backslash. V8 13.6 (Node 24) can read an escaped key (`"mode\u006c"`)
    // as a different key that an earlier object in the process had, one with a backslash
    // where the escape begins (`mode\`): `model` would go unread while the upstream reads
    // it. Every such misreading yields a key with a backslash, so only then is the value
    // built again, each key decoded on its own.
    value = parseKeysApart(text);
    colons = colonsInValue(value, 0, true);
  }
  // Counting is cheaper than collecting: JSON.parse keeps one member per key, so the value
  // holds fewer colons than the text exactly when a key repeats. Only then is it named.
  if (colonsInText(text) !== colons) {
    const duplicate = findDuplicateKey(text);
    const key = duplicate === undefined ? 'a key' : `the key ${describeKey(duplicate)}`;
    throw new Denial('body_unreadable', `the request body repeats ${key} in one object: which one the upstream reads is not defined`);
  }
  return value;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
/** Deeper than this a body is refused rather than walked (the walks recurse). */
export const MAX_DEPTH = 512;

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

/**
 * Colons in JSON text that JSON.parse accepted, decoded. Outside strings a colon only ever
 * separates a member's key from its value (one per member); inside a string it is a colon
 * written as is or as `\u003a`. Counting them needs no walk of the structure: indexOf
 * does it.
 */
function colonsInText(text: string): number {
  let count = colonsIn(text);
  // `\u003a` is an escaped colon when its backslash is not itself escaped (an odd run).
  for (let at = text.indexOf('u003', 0); at !== -1; at = text.indexOf('u003', at + 4)) {
    const digit = text.charCodeAt(at + 4);
    if (digit !== 0x61 && digit !== 0x41) continue;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 1) count++;
  }
  return count;
}

/**
 * The same count in the parsed value: one per member, plus the colons in every key and
 * string. Equal to the text's exactly when no member was dropped, since a dropped member
 * takes at least its own separator with it. NaN when a key holds a backslash, unless
 * `keysApart` (the value came from parseKeysApart).
 */
function colonsInValue(value: unknown, depth: number, keysApart = false): number {
  if (typeof value === 'string') return colonsIn(value);
  if (typeof value !== 'object' || value === null) return 0;
  if (depth === MAX_DEPTH) throw tooDeep();
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += colonsInValue(item, depth + 1, keysApart);
    return count;
  }
  for (const key in value) count += 1 + colonsInKey(key, keysApart) + colonsInValue((value as Record<string, unknown>)[key], depth + 1, keysApart);
  return count;
}

/** Keys are short: one pass finds their colons, and a backslash (NaN unless `keysApart`). */
function colonsInKey(key: string, keysApart: boolean): number {
  let count = 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c === COLON) count++;
    else if (c === BACKSLASH && !keysApart) return Number.NaN;
  }
  return count;
}

function tooDeep(): Denial {
  return new Denial('body_unreadable', `the request body nests more than ${MAX_DEPTH} levels deep`);
}

/**
 * The value of text JSON.parse accepted, built again with each key decoded as a string
 * literal of its own (V8 reads those right). Slower than JSON.parse; only for a body with
 * a key holding a backslash. The text is known to be JSON, so only its structure is read.
 */
function parseKeysApart(text: string): unknown {
  let at = 0;
  const skipSpace = () => {
    for (let c = text.charCodeAt(at); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d; c = text.charCodeAt(++at));
  };
  const string = (): string => {
    const end = stringEnd(text, at);
    const decoded = JSON.parse(text.slice(at, end + 1)) as string;
    at = end + 1;
    return decoded;
  };
  const value = (depth: number): unknown => {
    skipSpace();
    const c = text.charCodeAt(at);
    if (c === QUOTE) return string();
    if (c !== OPEN_OBJECT && c !== OPEN_ARRAY) {
      // A number, true, false or null: up to the next delimiter.
      const start = at;
      while (at < text.length && !DELIMITERS.has(text.charCodeAt(at))) at++;
      return JSON.parse(text.slice(start, at));
    }
    if (depth === MAX_DEPTH) throw tooDeep();
    at++;
    skipSpace();
    if (c === OPEN_ARRAY) {
      const array: unknown[] = [];
      if (text.charCodeAt(at) === CLOSE_ARRAY) at++;
      else
        do array.push(value(depth + 1));
        while (next() === COMMA);
      return array;
    }
    const object: Record<string, unknown> = {};
    if (text.charCodeAt(at) === CLOSE_OBJECT) at++;
    else
      do {
        skipSpace();
        const key = string();
        skipSpace();
        at++; // the colon
        // As JSON.parse does: an own property even for "__proto__"; a repeated key keeps its place.
        Object.defineProperty(object, key, { value: value(depth + 1), writable: true, enumerable: true, configurable: true });
      } while (next() === COMMA);
    return object;
  };
  /** The comma or closing bracket after a value, consumed. */
  const next = (): number => {
    skipSpace();
    return text.charCodeAt(at++);
  };
  return value(0);
}

const DELIMITERS = new Set([COMMA, CLOSE_OBJECT, CLOSE_ARRAY, 0x20, 0x09, 0x0a, 0x0d]);

function colonsIn(text: string): number {
  let count = 0;
  for (let at = text.indexOf(':'); at !== -1; at = text.indexOf(':', at + 1)) count++;
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
