/**
 * The plain values that flow between the Check phases. Nothing here knows about gRPC
 * or Envoy's protos (`envoy/request.ts` produces RequestFacts, `envoy/response.ts`
 * consumes an Outcome), and no phase owns this module: phases import it, it imports
 * no phase.
 */
import type { Denial, Reason } from '../lib/denial.ts';
import type { Api } from './body.ts';

export interface RequestFacts {
  /** Envoy's `x-request-id`, or one generated here: the decision id. */
  readonly decisionId: string;
  readonly method: string;
  /** `:authority` as the agent sent it, lower-cased. */
  readonly authority: string;
  /** `:path` without query string or fragment. */
  readonly path: string;
  /** Lower-case header names; repeats comma-joined, as Envoy sends them. */
  readonly headers: ReadonlyMap<string, string>;
  /** The peer's identity as Envoy verified it from mTLS (first URI SAN), or ''. */
  readonly sourcePrincipal: string;
  /** The peer's certificate (PEM), when Envoy includes it. */
  readonly sourceCertificate: string;
  /** Per-route values from Envoy's config; `destination` selects the key. */
  readonly contextExtensions: ReadonlyMap<string, string>;
  /**
   * The request body, exactly as Envoy buffered it, when the route sends it
   * (`with_request_body`); read only by the inspect phase, and only when a rule needs it.
   */
  readonly body?: Uint8Array;
  /** Set when the request could not be read whole: the check denies with this as detail. */
  readonly malformed?: string;
}

export type Proof = 'x509-svid' | 'jwt-svid' | 'kubernetes' | 'gateway-token';

export interface Principal {
  /** A SPIFFE ID. */
  readonly id: string;
  readonly trustDomain: string;
  readonly proof: Proof;
  /** Gateway tokens: the destinations the token was downscoped to, if it was. */
  readonly scope?: readonly string[];
  /** Gateway tokens issued over mTLS: the SHA-256 thumbprint (base64url) of that certificate (RFC 8705). */
  readonly boundCertificate?: string;
}

/** The natural person an agent acts for, from a verified user token. */
export interface Person {
  readonly sub: string;
  readonly email?: string;
  readonly groups: readonly string[];
}

/**
 * How a key is put on the upstream request: header and query-parameter setters,
 * compiled from a destination's `inject:` (credentials/templates.ts).
 */
export interface Injection {
  readonly headers: readonly Setter[];
  readonly query: readonly Setter[];
  /** The key is a client secret to exchange for an access token first, which `headers` carry. */
  readonly oauth2?: OAuth2Settings;
}

export interface Setter {
  /** Header name (lower-case) or query parameter name. */
  readonly name: string;
  /** Throws KeyUnavailableError when the key lacks a value or field this needs. */
  render(secret: Credential): string;
}

/** OAuth2 client credentials (RFC 6749 §4.4), as `inject: { oauth2 }` configures them. */
export interface OAuth2Settings {
  readonly tokenUrl: string;
  readonly clientId: string;
  /** The client secret's key reference; default: the destination's `key`. */
  readonly clientSecret?: string | undefined;
  /** private_key_jwt (RFC 7523): the key is the client's private JWK, which signs an assertion. */
  readonly auth: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  /** private_key_jwt: the assertion's `aud`; default the token endpoint URL. */
  readonly assertionAudience?: string | undefined;
  readonly scopes: readonly string[];
  readonly audience?: string | undefined;
  /** CA certificate file (PEM) to verify the token endpoint with, instead of the system's. */
  readonly ca?: string | undefined;
  /** Bound on one token request, in ms. */
  readonly timeout: number;
}

/**
 * A key reference, parsed (credentials/key-ref.ts): `openai/prod`, `openai/prod@7`,
 * `stripe/prod#secret_key` (one field), `openai/{team}` (the caller's team's key).
 */
export interface KeyRef {
  /** As configured: what records and errors name. */
  readonly text: string;
  /** Whether `{team}` must be filled in from the caller's team. */
  readonly perTeam: boolean;
  /** The reference the key store resolves (`path` or `path@version`), `{team}` unfilled. */
  readonly store: string;
  /** The field of the secret that is `${key}`, if one is named. */
  readonly field: string | undefined;
}

/** Which SDK's error format a denial takes (`envoy/denial-body.ts`). */
export type DenialShape = 'openai' | 'anthropic' | 'generic';

export interface Destination {
  readonly name: string;
  readonly upstream: string;
  readonly authorities: readonly string[];
  readonly routePrefix: string;
  readonly injection: Injection;
  /** The key reference as configured. */
  readonly keyRef: string;
  readonly key: KeyRef;
  /** OAuth2: the client secret's reference, when it is not `key`. */
  readonly clientSecret?: KeyRef | undefined;
  readonly classification: string;
  /** The error shape its clients' SDKs read: `api`, or what the injection template implies. */
  readonly denialShape: DenialShape;
  /** Agent credential and identity headers removed from every allowed request. */
  readonly stripHeaders: readonly string[];
  /** How its request bodies are read, for rules that inspect them; absent: never read. */
  readonly api?: Api;
}

/**
 * A provider key as the pipeline carries it: an identifier that is safe to record, and
 * the value, reachable only through `reveal()` (credentials/secret.ts implements it).
 */
export interface Credential {
  /** `store:path#version`. */
  readonly id: string;
  reveal(): string;
  /** One named field of a secret with fields (`${key.sid}`). */
  field(name: string): string;
}

/**
 * What an allowed answer puts on the upstream request, rendered from a destination's
 * injection and one key version (credentials/injected.ts): built once, reused.
 */
export interface Injected {
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  readonly query: ReadonlyArray<readonly [name: string, value: string]>;
}

/** The grant that allowed, as the authorize phase leaves it for the later phases. */
export interface PolicyDecision {
  readonly allow: true;
  readonly rule: string;
}

/** A header keybroker adds to the answer the agent receives (not to the upstream request). */
export interface ResponseHeader {
  /** Lower-case header name. */
  readonly key: string;
  readonly value: string;
}

/** What a policy that is not enforced (shadow rules, the candidate) would have answered. */
export interface Divergence {
  readonly decision: 'allow' | 'deny';
  readonly reason: Reason | 'allowed';
  /** The rule that would have decided, if one would. */
  readonly rule?: string;
}

/** One decision's audit record (invariant 7). Carries a key id, never a key. */
export interface DecisionRecord {
  decisionId: string;
  decision: 'allow' | 'deny';
  reason: Reason | 'allowed';
  status: number;
  method: string;
  authority: string;
  path: string;
  identity?: string;
  proof?: Proof;
  person?: string;
  personEmail?: string;
  destination?: string;
  upstream?: string;
  classification?: string;
  policyVersion?: string;
  rule?: string;
  keyId?: string;
  /** From the body, when a rule read it: names only, never prompts or argument values. */
  model?: string;
  operation?: string;
  provider?: string;
  mcpMethod?: string;
  tool?: string;
  /** Present when the policy with its shadow rules enforced would answer otherwise. */
  shadow?: Divergence;
  /** Present when the candidate policy (`policyCandidate`) would answer otherwise. */
  candidate?: Divergence;
  /** Operator-facing explanation of a denial; never a secret. */
  detail?: string;
  /**
   * Facts a phase adds without the audit knowing the phase, named as the span
   * attributes they become (`keybroker.<phase>.<fact>`); the decision log carries them
   * under `attributes`. Identifiers and counts only: never a key, token or header value.
   */
  attributes?: Record<string, string | number | boolean>;
  durationMs: number;
  /** Envoy's own trace context for this Check (gRPC metadata): the audit span's parent. */
  traceContext?: TraceContext;
  /**
   * The `keybroker.check` span's own context (W3C traceparent) of an allowed decision, set
   * by the span sink when tracing is on; the answer forwards it to Envoy (`check_span`) so
   * that the usage record's span becomes its child.
   */
  checkSpan?: string;
  /**
   * The trace context the agent's request carried (its `traceparent` header): kept for
   * correlation as a span link, never as the parent and never deciding whether the
   * record is exported (invariant 9).
   */
  callerTraceContext?: TraceContext;
}

/** W3C trace context, as sent. */
export interface TraceContext {
  readonly traceparent: string;
  readonly tracestate?: string;
}

/**
 * What the transport knows of one Check call beside the request: by when it must be
 * answered, how a cancellation reaches it, and the caller's (Envoy's) own trace context.
 */
export interface CallContext {
  /** `performance.now()` by which the answer must be ready; Infinity when unbounded. */
  readonly answerBy: number;
  /** Runs `listener` if the caller abandons the call first. */
  readonly onCancel?: (listener: () => void) => void;
  readonly traceContext?: TraceContext;
}

export type Outcome =
  | {
      readonly allow: true;
      readonly record: DecisionRecord;
      /** The key (for OAuth2, the access token) whose id the record carries. */
      readonly secret: Credential;
      /** What goes on the upstream request: headers and query parameters. */
      readonly injected: Injected;
      /** Which agent headers are stripped. */
      readonly destination: Destination;
      /** Headers for the agent's response (e.g. remaining budget); absent when none. */
      readonly responseHeaders?: readonly ResponseHeader[];
    }
  | {
      readonly allow: false;
      readonly record: DecisionRecord;
      readonly denial: Denial;
      /** The route's destination's denial shape, when the route names a known one. */
      readonly shape?: DenialShape;
    };
