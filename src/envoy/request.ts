/**
 * Envoy's CheckRequest (as decoded by proto-loader) → RequestFacts. This is the network
 * boundary: sizes are bounded, text must be valid UTF-8, and anything unreadable marks the
 * facts malformed so the pipeline denies — it never throws.
 */
import { randomUUID } from 'node:crypto';
import type { RequestFacts } from '../pipeline/types.ts';

/** The subset of envoy.service.auth.v3.CheckRequest that keybroker reads. */
export interface CheckRequestMessage {
  attributes?: {
    source?: { principal?: string; certificate?: string };
    request?: {
      http?: {
        id?: string;
        method?: string;
        headers?: Record<string, string>;
        header_map?: { headers?: Array<{ key?: string; value?: string; raw_value?: Uint8Array }> };
        path?: string;
        host?: string;
      };
    };
    context_extensions?: Record<string, string>;
  };
}

export const LIMITS = {
  headerBytes: 64 * 1024,
  headerCount: 256,
  certificateBytes: 16 * 1024,
  pathBytes: 8 * 1024,
} as const;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const METHOD = /^[A-Z]{1,32}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseCheckRequest(message: CheckRequestMessage | null | undefined): RequestFacts {
  const attributes = message?.attributes;
  const http = attributes?.request?.http;
  let malformed: string | undefined;
  const flag = (why: string) => {
    malformed ??= why;
  };

  const headers = http ? readHeaders(http, flag) : new Map<string, string>();
  if (!http) flag('the CheckRequest has no HTTP attributes');

  const requestId = headers.get('x-request-id');
  const decisionId = requestId && REQUEST_ID.test(requestId) ? requestId : randomUUID();

  // Decoded messages hold '' for unset strings: fall back to the pseudo-headers then.
  const method = http?.method || headers.get(':method') || '';
  if (http && !METHOD.test(method)) flag('the request method is missing or not an HTTP method');

  const rawPath = http?.path || headers.get(':path') || '';
  if (rawPath.length > LIMITS.pathBytes) flag('the request path is too long');
  const path = stripQuery(rawPath.slice(0, LIMITS.pathBytes));

  const authority = (http?.host || headers.get(':authority') || '').toLowerCase();

  const principal = attributes?.source?.principal || '';
  const certificate = readCertificate(attributes?.source?.certificate || '', flag);

  const contextExtensions = new Map(Object.entries(attributes?.context_extensions ?? {}));
  for (const text of [method, rawPath, authority, principal, ...contextExtensions.values()]) {
    if (text.includes('\uFFFD')) flag('the request carries text that is not valid UTF-8');
  }

  return {
    decisionId,
    method,
    authority,
    path,
    headers,
    sourcePrincipal: principal,
    sourceCertificate: certificate,
    contextExtensions,
    ...(malformed ? { malformed } : {}),
  };
}

type Http = NonNullable<NonNullable<NonNullable<CheckRequestMessage['attributes']>['request']>['http']>;

/**
 * Envoy sends either `headers` (lower-case names, repeats comma-joined) or, with
 * `encode_raw_headers`, `header_map` with raw bytes. Both end up as one lower-case map.
 */
function readHeaders(http: Http, flag: (why: string) => void): Map<string, string> {
  const headers = new Map<string, string>();
  let bytes = 0;
  const add = (name: string, value: string) => {
    bytes += name.length + value.length;
    if (headers.size >= LIMITS.headerCount || bytes > LIMITS.headerBytes) {
      flag('the request headers exceed the size keybroker accepts');
      return;
    }
    if (value.includes('\uFFFD') || name.includes('\uFFFD')) flag('a request header is not valid UTF-8');
    const key = name.toLowerCase();
    const existing = headers.get(key);
    headers.set(key, existing === undefined ? value : `${existing},${value}`);
  };

  const raw = http.header_map?.headers;
  if (raw && raw.length > 0) {
    for (const entry of raw) {
      let value = entry.value ?? '';
      if (entry.raw_value && entry.raw_value.length > 0) {
        try {
          value = utf8.decode(entry.raw_value);
        } catch {
          flag('a request header is not valid UTF-8');
          value = '';
        }
      }
      add(entry.key ?? '', value);
    }
  } else {
    for (const [name, value] of Object.entries(http.headers ?? {})) add(name, value);
  }
  return headers;
}

function stripQuery(path: string): string {
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

/** Envoy URL-encodes the PEM (`include_peer_certificate`). */
function readCertificate(encoded: string, flag: (why: string) => void): string {
  if (encoded === '') return '';
  if (encoded.length > LIMITS.certificateBytes * 3) {
    flag('the peer certificate is too large');
    return '';
  }
  try {
    return decodeURIComponent(encoded);
  } catch {
    flag('the peer certificate is not URL-encoded PEM');
    return '';
  }
}
