/**
 * Envoy's ext_proc side, for tests: a real gRPC client for ExternalProcessor/Process on
 * keybroker's socket (loaded from the vendored protos), and ProcessingRequests shaped as
 * Envoy 1.40's ext_proc filter sends them — header values in `raw_value`, the ext_authz
 * metadata under `metadata_context` (metadata_options.forwarding_namespaces), and
 * `observability_mode` set as the shipped configs set it.
 */
import { credentials as grpcCredentials, Metadata, type ChannelCredentials, type Client, type ClientDuplexStream } from '@grpc/grpc-js';
import { externalProcessorClientConstructor } from '../../src/envoy/proto.ts';

export function processorClient(address: string, channelCredentials?: ChannelCredentials, options: Record<string, unknown> = {}): Client {
  const Ctor = externalProcessorClientConstructor();
  return new Ctor(address, channelCredentials ?? grpcCredentials.createInsecure(), options);
}

export type ProcessingRequestMessage = Record<string, unknown>;

/** What keybroker's allowed answer puts in the ext_authz namespace, as Envoy forwards it. */
export interface ForwardedFields {
  decision_id?: string;
  decision?: string;
  identity?: string;
  person?: string;
  destination?: string;
  key_id?: string;
  limit_reservation?: string;
  check_span?: string;
  [field: string]: string | undefined;
}

export const ALLOWED: ForwardedFields = {
  decision_id: 'decision-1',
  decision: 'allow',
  reason: 'allowed',
  identity: 'spiffe://example.org/ns/research/summarizer',
  destination: 'openai',
  key_id: 'file:openai/prod#0123456789ab',
};

const headerMap = (headers: Record<string, string>) => ({ headers: Object.entries(headers).map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) });

export function metadataContext(fields: ForwardedFields | undefined): ProcessingRequestMessage {
  if (!fields) return {};
  const struct = { fields: Object.fromEntries(Object.entries(fields).flatMap(([k, v]) => (v === undefined ? [] : [[k, { stringValue: v }]]))) };
  return { metadata_context: { filter_metadata: { 'envoy.filters.http.ext_authz': struct } } };
}

export function requestHeaders(
  options: { metadata?: ForwardedFields | undefined; requestId?: string | null; headers?: Record<string, string>; observability?: boolean } = {},
): ProcessingRequestMessage {
  const metadata = 'metadata' in options ? options.metadata : ALLOWED;
  const requestId = options.requestId === undefined ? metadata?.decision_id : options.requestId;
  const headers = {
    ':method': 'POST',
    ':path': '/v1/chat/completions',
    ':authority': 'api.openai.com',
    'content-type': 'application/json',
    ...(requestId === null || requestId === undefined ? {} : { 'x-request-id': requestId }),
    ...options.headers,
  };
  return { request_headers: { headers: headerMap(headers), end_of_stream: false }, ...metadataContext(metadata), observability_mode: options.observability ?? true };
}

export function responseHeaders(status = 200, contentType = 'application/json', extra: Record<string, string> = {}, observability = true): ProcessingRequestMessage {
  return {
    response_headers: { headers: headerMap({ ':status': String(status), 'content-type': contentType, ...extra }), end_of_stream: false },
    ...metadataContext(ALLOWED),
    observability_mode: observability,
  };
}

/**
 * Response headers as a config that skips the request headers sends them: the
 * forwarded decision, and `request.id` / `request.time` under the filter's name
 * (`response_attributes`).
 */
export function joinedResponseHeaders(
  options: { metadata?: ForwardedFields | undefined; requestId?: string; requestTime?: string; status?: number; contentType?: string } = {},
): ProcessingRequestMessage {
  const metadata = 'metadata' in options ? options.metadata : ALLOWED;
  const fields: Record<string, { stringValue: string }> = { 'request.id': { stringValue: options.requestId ?? metadata?.decision_id ?? 'none' } };
  if (options.requestTime !== undefined) fields['request.time'] = { stringValue: options.requestTime };
  return {
    response_headers: { headers: headerMap({ ':status': String(options.status ?? 200), 'content-type': options.contentType ?? 'application/json' }), end_of_stream: false },
    ...metadataContext(metadata),
    attributes: { 'envoy.filters.http.ext_proc': { fields } },
    observability_mode: true,
  };
}

export function responseBody(chunk: string | Uint8Array, endOfStream: boolean, observability = true): ProcessingRequestMessage {
  return { response_body: { body: typeof chunk === 'string' ? Buffer.from(chunk) : chunk, end_of_stream: endOfStream }, observability_mode: observability };
}

export interface StreamResult {
  /** The gRPC status the server ended the stream with; undefined when it did not end it. */
  readonly code: number | undefined;
  readonly details: string | undefined;
  readonly responses: Array<Record<string, unknown>>;
}

/**
 * Writes `messages` on one Process stream and waits (up to `waitMs`) for keybroker to end
 * it; with `cancel`, cancels it after writing, as Envoy resets a stream it gives up on.
 * Like Envoy in observability mode, it never half-closes first.
 */
export function runStream(client: Client, messages: readonly ProcessingRequestMessage[], options: { cancel?: boolean; waitMs?: number; halfClose?: boolean } = {}): Promise<StreamResult> {
  const call = (client as unknown as Record<string, (m: Metadata) => ClientDuplexStream<unknown, Record<string, unknown>>>)['Process']!(new Metadata());
  const responses: Array<Record<string, unknown>> = [];
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (code: number | undefined, details: string | undefined) => {
      clearTimeout(timer);
      resolve({ code, details, responses });
    };
    call.on('data', (response: Record<string, unknown>) => responses.push(response));
    call.on('status', (status: { code: number; details: string }) => done(status.code, status.details));
    call.on('error', () => {});
    for (const message of messages) call.write(message);
    if (options.halfClose) call.end();
    if (options.cancel) setTimeout(() => call.cancel(), 50);
    timer = setTimeout(() => {
      done(undefined, undefined);
      call.cancel();
    }, options.waitMs ?? 3000);
  });
}
