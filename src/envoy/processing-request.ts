/**
 * Envoy's ProcessingRequest (as the ext_proc codec reads it off the wire) → a
 * ProcessingEvent. The network boundary of metering: header sizes and counts are bounded,
 * text must be valid UTF-8, and the forwarded decision is read only from the ext_authz
 * filter's dynamic metadata — which Envoy writes from keybroker's own Check answer —
 * never from a header the agent sends. `x-request-id` is returned for the cross-check.
 */
import type { ForwardedDecision, ProcessingEvent, ResponseHeadFacts } from '../model/processing.ts';
import type { HeaderEntry, ProcessingRequestView } from './ext-proc-codec.ts';
import { LIMITS, REQUEST_ID } from './request.ts';

/** The namespace Envoy's ext_authz filter writes keybroker's dynamic metadata under. */
export const EXT_AUTHZ_NAMESPACE = 'envoy.filters.http.ext_authz';

/** The most any forwarded metadata value may be (a SPIFFE ID is at most 2048 bytes). */
const VALUE_BYTES = 2048;
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const DESTINATION = /^[a-z0-9][a-z0-9_-]{0,127}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function toProcessingEvent(view: ProcessingRequestView): ProcessingEvent {
  const observability = view.observabilityMode;
  switch (view.part) {
    case 'request_headers': {
      const headers = readHeaders(view.headers);
      if (typeof headers === 'string') return { kind: 'malformed', why: headers };
      const requestId = headers.get('x-request-id');
      return { kind: 'request_headers', decision: forwardedDecision(view.metadata.get(EXT_AUTHZ_NAMESPACE)), requestId, endOfStream: view.endOfStream, observability };
    }
    case 'response_headers': {
      const headers = readHeaders(view.headers);
      if (typeof headers === 'string') return { kind: 'malformed', why: headers };
      const status = Number(headers.get(':status'));
      if (!Number.isInteger(status) || status < 100 || status > 599) return { kind: 'malformed', why: 'the response headers carry no valid :status' };
      const head: ResponseHeadFacts = {
        status,
        ...optional('contentType', headers.get('content-type')),
        ...optional('contentEncoding', headers.get('content-encoding')),
      };
      return {
        kind: 'response_headers',
        head,
        decision: forwardedDecision(view.metadata.get(EXT_AUTHZ_NAMESPACE)),
        ...requestAttributes(view.attributes),
        endOfStream: view.endOfStream,
        observability,
      };
    }
    case 'response_body':
      return { kind: 'response_body', chunk: view.body ?? EMPTY, endOfStream: view.endOfStream, observability };
    case 'response_trailers': {
      const trailers = readHeaders(view.headers);
      if (typeof trailers === 'string') return { kind: 'malformed', why: trailers };
      return { kind: 'response_trailers', observability };
    }
    case 'request_body':
    case 'request_trailers':
      return { kind: 'ignored', part: view.part, observability };
    default:
      return { kind: 'ignored', part: 'none', observability };
  }
}

const EMPTY = new Uint8Array(0);
/** A timestamp as Envoy writes one; Date.parse alone also reads "1" or "foo 12" as dates. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * `request.id` and `request.time` from the attributes Envoy sends with the response
 * headers (`response_attributes`), under the ext_proc filter's name; Envoy computes them,
 * the agent cannot set an attribute. A time that is not RFC 3339 is left out.
 */
function requestAttributes(attributes: ReadonlyMap<string, ReadonlyMap<string, string>>): { requestId?: string; requestTime?: number } {
  const found: { requestId?: string; requestTime?: number } = {};
  for (const fields of attributes.values()) {
    const id = fields.get('request.id');
    if (id !== undefined && found.requestId === undefined) found.requestId = id;
    const time = fields.get('request.time');
    const at = time === undefined || !RFC3339.test(time) ? NaN : Date.parse(time);
    if (Number.isFinite(at) && found.requestTime === undefined) found.requestTime = at;
  }
  return found;
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

/** Lower-case names, repeats comma-joined; a string says why the headers are refused. */
function readHeaders(entries: readonly HeaderEntry[]): Map<string, string> | string {
  if (entries.length > LIMITS.headerCount) return 'too many headers';
  const headers = new Map<string, string>();
  let bytes = 0;
  for (const entry of entries) {
    let value = entry.value;
    if (entry.rawValue && entry.rawValue.length > 0) {
      try {
        value = utf8.decode(entry.rawValue);
      } catch {
        return 'a header value is not valid UTF-8';
      }
    }
    bytes += entry.key.length + value.length;
    if (bytes > LIMITS.headerBytes) return 'the headers exceed the size keybroker accepts';
    if (entry.key.includes('\uFFFD')) return 'a header name is not valid UTF-8';
    const key = entry.key.toLowerCase();
    const existing = headers.get(key);
    headers.set(key, existing === undefined ? value : `${existing},${value}`);
  }
  return headers;
}

/**
 * keybroker's decision as Envoy forwarded it; undefined when absent or not what a Check
 * writes (a value too long, not UTF-8, an unknown decision). Values are identifiers: a
 * field that is not one is left out rather than trusted.
 */
export function forwardedDecision(fields: ReadonlyMap<string, string> | undefined): ForwardedDecision | undefined {
  if (!fields) return undefined;
  const decisionId = fields.get('decision_id');
  const decision = fields.get('decision');
  if (!decisionId || !REQUEST_ID.test(decisionId)) return undefined;
  if (decision !== 'allow' && decision !== 'deny') return undefined;
  const text = (name: string, pattern?: RegExp): string | undefined => {
    const value = fields.get(name);
    if (value === undefined || value === '' || Buffer.byteLength(value) > VALUE_BYTES || value.includes('\uFFFD') || /[\u0000-\u001f\u007f]/.test(value)) return undefined;
    return pattern && !pattern.test(value) ? undefined : value;
  };
  const found = {
    identity: text('identity'),
    person: text('person'),
    destination: text('destination', DESTINATION),
    keyId: text('key_id'),
    reservationId: text('limit_reservation'),
    checkSpan: text('check_span', TRACEPARENT),
  };
  const decided: Record<string, string> = { decisionId, decision };
  for (const [key, value] of Object.entries(found)) if (value !== undefined) decided[key] = value;
  return decided as unknown as ForwardedDecision;
}
