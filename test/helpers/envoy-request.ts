/**
 * CheckRequests shaped as Envoy's ext_authz filter sends them: lower-case header names,
 * pseudo-headers, repeats comma-joined, x-request-id set, the route's context extensions,
 * the mTLS principal and (with include_peer_certificate) the URL-encoded PEM.
 */

/** A CheckRequest as a proto-loader client sends it (keepCase field names). */
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
        body?: string;
        raw_body?: Uint8Array;
      };
    };
    context_extensions?: Record<string, string>;
  };
}

export interface RequestShape {
  principal?: string;
  certificate?: string;
  method?: string;
  host?: string;
  path?: string;
  destination?: string | null;
  headers?: Record<string, string>;
  requestId?: string | null;
  /** Sent as `raw_body`, as Envoy does with `pack_as_bytes: true`. */
  body?: string | Uint8Array | object;
}

export function envoyCheckRequest(shape: RequestShape = {}): CheckRequestMessage {
  const method = shape.method ?? 'POST';
  const host = shape.host ?? 'gateway.local';
  const path = shape.path ?? '/openai/v1/chat/completions';
  const requestId = shape.requestId === undefined ? 'req-0123456789abcdef' : shape.requestId;
  const headers: Record<string, string> = {
    ':method': method,
    ':authority': host,
    ':path': path,
    ':scheme': 'https',
    'content-type': 'application/json',
    'user-agent': 'OpenAI/Python 1.54.0',
    ...(requestId === null ? {} : { 'x-request-id': requestId }),
    'x-forwarded-proto': 'https',
    ...shape.headers,
  };
  const destination = shape.destination === undefined ? 'openai' : shape.destination;
  return {
    attributes: {
      source: {
        principal: shape.principal ?? 'spiffe://example.org/ns/research/summarizer',
        ...(shape.certificate ? { certificate: encodeURIComponent(shape.certificate) } : {}),
      },
      request: { http: { id: '1234567890', method, headers, path, host, ...(shape.body === undefined ? {} : { raw_body: bodyBytes(shape.body) }) } },
      context_extensions: destination === null ? {} : { destination },
    },
  };
}

function bodyBytes(body: string | Uint8Array | object): Uint8Array {
  if (body instanceof Uint8Array) return body;
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
}

/** The denial body Envoy would send the agent, with its reason read from whichever shape it has. */
export function deniedBody(response: { denied_response?: { body: string } }): { reason: string; decision_id: string; [field: string]: unknown } {
  return readDenial(response.denied_response?.body ?? '{}');
}

/**
 * A denial body in any of keybroker's shapes: generic `{error, reason, message, decision_id}`,
 * OpenAI `{error: {message, type, code}, decision_id}`, Anthropic `{type: "error", error:
 * {type, message}, decision_id}`. `reason` is the generic field, OpenAI's `code`, or the
 * code named in the message.
 */
export function readDenial(text: string): { reason: string; decision_id: string; [field: string]: unknown } {
  const body = JSON.parse(text) as Record<string, unknown>;
  const error = body['error'];
  let reason = body['reason'];
  if (reason === undefined && error && typeof error === 'object') {
    const { code, message, details } = error as Record<string, unknown>;
    reason = code ?? (details as Record<string, unknown> | undefined)?.['error_code'] ?? /\(([a-z_]+)\)/.exec(String(message))?.[1];
  }
  return { ...body, reason: String(reason), decision_id: String(body['decision_id']) };
}
