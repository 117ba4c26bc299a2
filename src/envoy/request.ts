/**
 * Envoy's CheckRequest (as the codec reads it off the wire) → RequestFacts. This is the
 * network boundary: sizes are bounded, text must be valid UTF-8, and anything unreadable
 * marks the facts malformed so the pipeline denies — it never throws.
 */
import { randomUUID } from 'node:crypto';
import type { RequestFacts } from '../model/check.ts';
import type { CheckRequestView, HttpView } from './codec.ts';

export const LIMITS = {
  headerBytes: 64 * 1024,
  headerCount: 256,
  certificateBytes: 16 * 1024,
  pathBytes: 8 * 1024,
} as const;

export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const METHOD = /^[A-Z]{1,32}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseCheckRequest(view: CheckRequestView): RequestFacts {
  const { http } = view;
  let malformed: string | undefined;
  const flag = (why: string) => {
    malformed ??= why;
  };

  const headers = http ? readHeaders(http, flag) : new Map<string, string>();
  if (!http) flag('the CheckRequest has no HTTP attributes');

  const requestId = headers.get('x-request-id');
  const decisionId = requestId && REQUEST_ID.test(requestId) ? requestId : randomUUID();

  // Unset strings arrive as '': fall back to the pseudo-headers then.
  const method = http?.method || headers.get(':method') || '';
  if (http && !METHOD.test(method)) flag('the request method is missing or not an HTTP method');

  const rawPath = http?.path || headers.get(':path') || '';
  if (rawPath.length > LIMITS.pathBytes) flag('the request path is too long');
  if (overridesMethod(rawPath)) flag('the query names a method override (_method, x-http-method-override…): the upstream could act on another method than the one decided');
  const path = stripQuery(rawPath.slice(0, LIMITS.pathBytes));

  const authority = (http?.host || headers.get(':authority') || '').toLowerCase();

  const principal = view.principal;
  const certificate = readCertificate(view.certificate, flag);

  const body = http ? readBody(http, flag) : undefined;

  const { contextExtensions } = view;
  if (hasReplacement(method) || hasReplacement(rawPath) || hasReplacement(authority) || hasReplacement(principal)) flag(NOT_UTF8);
  for (const value of contextExtensions.values()) if (hasReplacement(value)) flag(NOT_UTF8);

  return {
    decisionId,
    method,
    authority,
    path,
    headers,
    sourcePrincipal: principal,
    sourceCertificate: certificate,
    contextExtensions,
    ...(body ? { body } : {}),
    ...(malformed ? { malformed } : {}),
  };
}

const NOT_UTF8 = 'the request carries text that is not valid UTF-8';

/** Invalid UTF-8 on the wire decodes to U+FFFD. */
function hasReplacement(text: string): boolean {
  return text.includes('\uFFFD');
}

/**
 * Envoy sends either `headers` (lower-case names, repeats comma-joined) or, with
 * `encode_raw_headers`, `header_map` with raw bytes. Both end up as one lower-case map.
 */
function readHeaders(http: HttpView, flag: (why: string) => void): ReadonlyMap<string, string> {
  if (http.headerMap.length === 0 && asSent(http.headers, flag)) return http.headers;
  const headers = new Map<string, string>();
  let bytes = 0;
  const add = (name: string, value: string) => {
    bytes += name.length + value.length;
    if (headers.size >= LIMITS.headerCount || bytes > LIMITS.headerBytes) {
      flag('the request headers exceed the size keybroker accepts');
      return;
    }
    if (hasReplacement(value) || hasReplacement(name)) flag('a request header is not valid UTF-8');
    const key = name.toLowerCase();
    const existing = headers.get(key);
    headers.set(key, existing === undefined ? value : `${existing},${value}`);
  };

  if (http.headerMap.length > 0) {
    for (const entry of http.headerMap) {
      let value = entry.value;
      if (entry.rawValue && entry.rawValue.length > 0) {
        try {
          value = utf8.decode(entry.rawValue);
        } catch {
          flag('a request header is not valid UTF-8');
          value = '';
        }
      }
      add(entry.key, value);
    }
  } else {
    for (const [name, value] of http.headers) add(name, value);
  }
  return headers;
}

/**
 * Whether Envoy's own header map can be the request's as it is — lower-case names (so no
 * two to join) within the bounds — rather than copied; flags any text that is not UTF-8.
 */
function asSent(headers: ReadonlyMap<string, string>, flag: (why: string) => void): boolean {
  if (headers.size > LIMITS.headerCount) return false;
  let bytes = 0;
  // Over the keys, and a test rather than toLowerCase(): entries and lower-cased copies
  // would be garbage, several hundred bytes per Check.
  for (const name of headers.keys()) {
    const value = headers.get(name) as string;
    bytes += name.length + value.length;
    if (hasReplacement(value) || hasReplacement(name)) flag('a request header is not valid UTF-8');
    if (UPPER_CASE.test(name)) return false;
  }
  return bytes <= LIMITS.headerBytes;
}

/** What toLowerCase() could change (names are ASCII tokens; anything else takes the copy). */
const UPPER_CASE = /[A-Z]|[^\x00-\x7f]/;

/**
 * Envoy fills one of the two body fields (`pack_as_bytes` picks which). Both at once is
 * not a request Envoy sends: which one the upstream got could not be told.
 */
function readBody(http: HttpView, flag: (why: string) => void): Uint8Array | undefined {
  const { rawBody, body } = http;
  if (rawBody && rawBody.length > 0) {
    if (body && body.length > 0) flag('the CheckRequest carries both body and raw_body');
    return rawBody;
  }
  return body && body.length > 0 ? body : undefined;
}

/**
 * Query parameters by which frameworks let a request name another method than its own:
 * Laravel and Symfony read `_method`, ASP.NET `X-HTTP-Method-Override`. As with the
 * override headers (removed on every allowed request), a POST-only grant would become a
 * DELETE upstream. Names are compared decoded (`%5Fmethod`) and case-insensitively.
 */
const METHOD_OVERRIDE_PARAMS = new Set(['_method', 'x-http-method-override', 'x-http-method', 'x-method-override']);

function overridesMethod(path: string): boolean {
  const start = path.indexOf('?');
  if (start === -1) return false;
  const end = path.indexOf('#', start);
  for (const name of new URLSearchParams(path.slice(start + 1, end === -1 ? undefined : end)).keys()) {
    if (METHOD_OVERRIDE_PARAMS.has(name.toLowerCase())) return true;
  }
  return false;
}

function stripQuery(path: string): string {
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

/**
 * Decoded certificates by their URL-encoded form. The codec hands over the same string
 * for the same bytes (its hash computed once), so a repeat costs one lookup rather than a
 * decode of a kilobyte and a new string; bounded, the oldest entry goes first.
 */
const decodedCertificates = new Map<string, string>();
const MAX_DECODED_CERTIFICATES = 64;

/** Envoy URL-encodes the PEM (`include_peer_certificate`). */
function readCertificate(encoded: string, flag: (why: string) => void): string {
  if (encoded === '') return '';
  if (encoded.length > LIMITS.certificateBytes * 3) {
    flag('the peer certificate is too large');
    return '';
  }
  const known = decodedCertificates.get(encoded);
  if (known !== undefined) return known;
  try {
    const pem = decodeURIComponent(encoded);
    if (decodedCertificates.size >= MAX_DECODED_CERTIFICATES) decodedCertificates.delete(decodedCertificates.keys().next().value as string);
    decodedCertificates.set(encoded, pem);
    return pem;
  } catch {
    flag('the peer certificate is not URL-encoded PEM');
    return '';
  }
}
