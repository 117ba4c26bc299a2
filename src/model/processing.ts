/**
 * What keybroker learns from Envoy's external-processing stream (ext_proc), as plain
 * values: `envoy/processing-request.ts` produces them from the wire, `usage/exchange.ts`
 * turns them into a usage record. Neither knows the other; no gRPC here.
 */

/**
 * The decision a response belongs to, as Envoy forwards it: the ext_authz filter's dynamic
 * metadata (what keybroker's Check answered, `envoy/response.ts`), which Envoy hands to the
 * ext_proc filter through `metadata_options`. An agent can write none of it.
 */
export interface ForwardedDecision {
  readonly decisionId: string;
  readonly decision: 'allow' | 'deny';
  readonly identity?: string;
  readonly person?: string;
  readonly destination?: string;
  readonly keyId?: string;
  /** The limits phase's reservation for this request, to settle with the real use. */
  readonly reservationId?: string;
  /** The `keybroker.check` span (W3C traceparent), when the Check was traced. */
  readonly checkSpan?: string;
}

export interface ResponseHeadFacts {
  readonly status: number;
  readonly contentType?: string;
  readonly contentEncoding?: string;
}

/** One ProcessingRequest, validated. Parts keybroker does not meter arrive as `ignored`. */
export type ProcessingEvent =
  | {
      readonly kind: 'request_headers';
      /** Absent when Envoy forwarded no (readable) ext_authz metadata. */
      readonly decision: ForwardedDecision | undefined;
      /** The request's `x-request-id` header, the cross-check of the forwarded decision id. */
      readonly requestId: string | undefined;
      readonly endOfStream: boolean;
      /** Envoy runs the filter in observability mode: it expects no answer. */
      readonly observability: boolean;
    }
  | {
      readonly kind: 'response_headers';
      readonly head: ResponseHeadFacts;
      /** Forwarded again with the response headers (a denial's local reply arrives with only these). */
      readonly decision: ForwardedDecision | undefined;
      /**
       * The request's id (the `request.id` attribute: its `x-request-id`), when Envoy sends
       * it with the response headers (`response_attributes`) — the cross-check of the
       * forwarded decision id when the request headers are not sent at all.
       */
      readonly requestId?: string;
      /** Epoch ms the request reached Envoy (the `request.time` attribute), when sent. */
      readonly requestTime?: number;
      readonly endOfStream: boolean;
      readonly observability: boolean;
    }
  | { readonly kind: 'response_body'; readonly chunk: Uint8Array; readonly endOfStream: boolean; readonly observability: boolean }
  | { readonly kind: 'response_trailers'; readonly observability: boolean }
  | { readonly kind: 'ignored'; readonly part: 'request_body' | 'request_trailers' | 'none'; readonly observability: boolean }
  /** Not a message Envoy sends: the stream is dropped, and counted. */
  | { readonly kind: 'malformed'; readonly why: string };
