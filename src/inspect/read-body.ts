/**
 * The request body as JSON the upstream will read, or a `body_unreadable` denial. Every
 * way the bytes keybroker sees could differ from what the upstream reads is refused:
 * a body Envoy did not send or sent only in part, a length that disagrees with
 * `content-length`, a `content-encoding` keybroker cannot undo within the size limit,
 * a `content-type` other than JSON, bytes that are not UTF-8, and JSON that is not
 * strict (see parse-json.ts).
 */
import { gunzipSync } from 'node:zlib';
import { Denial } from '../lib/denial.ts';
import type { RequestFacts } from '../model/check.ts';
import { parseStrictJson } from './parse-json.ts';

/**
 * The largest body keybroker reads, decoded. Envoy's `max_request_bytes` on inspected
 * routes is set to the same 1 MiB (envoy/egress-gateway.yaml): larger requests get 413
 * from Envoy before a Check is made.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

// Keeps a byte-order mark: JSON has none, and an upstream may refuse or skip it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const JSON_TYPE = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * The headers of a body Envoy buffered whole and sends as JSON, its length declared: what
 * the offline commands (explain, test, who-can) present with a body they describe.
 */
export function wholeJsonBodyHeaders(body: Uint8Array): Map<string, string> {
  return new Map([
    ['content-type', 'application/json'],
    ['content-length', String(body.length)],
  ]);
}

function unreadable(detail: string): never {
  throw new Denial('body_unreadable', detail);
}

export function readJsonBody(facts: Pick<RequestFacts, 'body' | 'headers'>): unknown {
  const { body, headers } = facts;
  if (headers.get('x-envoy-auth-partial-body') === 'true') unreadable('Envoy sent only part of the request body');
  if (!body || body.length === 0) unreadable('the request has no body, or its route does not send it to keybroker (with_request_body)');
  if (body.length > MAX_BODY_BYTES) unreadable(`the request body is larger than ${MAX_BODY_BYTES} bytes`);

  const length = headers.get('content-length');
  if (length !== undefined && (!/^\d{1,10}$/.test(length) || Number(length) !== body.length)) {
    unreadable('the request body is not as long as its content-length says');
  }

  const contentType = headers.get('content-type');
  if (contentType === undefined || !JSON_TYPE.test(contentType)) unreadable('the request content-type is not application/json (charset utf-8)');

  const bytes = decode(body, headers.get('content-encoding'));
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    unreadable('the request body is not UTF-8');
  }
  return parseStrictJson(text);
}

/** gzip, the one content coding clients send to these APIs; anything else is refused. */
function decode(body: Uint8Array, encoding: string | undefined): Uint8Array {
  if (encoding === undefined || encoding === '' || /^identity$/i.test(encoding)) return body;
  if (!/^gzip$/i.test(encoding.trim())) unreadable('the request content-encoding is not one keybroker decodes (gzip)');
  try {
    return gunzipSync(body, { maxOutputLength: MAX_BODY_BYTES });
  } catch {
    return unreadable(`the gzip request body does not decode to at most ${MAX_BODY_BYTES} bytes`);
  }
}
