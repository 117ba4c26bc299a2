/**
 * Every way a Check can end in "no", with the HTTP status the agent sees and the stable
 * reason code that the denial body, the decision log and the audit record carry.
 * Codes are API: dashboards and alerts key on them, so never rename one.
 */
export const REASONS = {
  request_malformed: { status: 400, error: 'the request could not be read' },
  identity_missing: { status: 401, error: 'no workload identity was presented' },
  identity_malformed: { status: 401, error: 'the workload identity is not a valid SPIFFE ID' },
  trust_domain_unknown: { status: 401, error: 'the identity belongs to a trust domain this gateway does not trust' },
  certificate_mismatch: { status: 401, error: 'the client certificate does not match the identity' },
  token_malformed: { status: 401, error: 'the identity token is malformed' },
  alg_not_allowed: { status: 401, error: 'the identity token is signed with an algorithm that is not allowed' },
  kid_missing: { status: 401, error: 'the identity token does not name its signing key' },
  kid_unknown: { status: 401, error: 'the identity token is signed by an unknown key' },
  bad_signature: { status: 401, error: 'the identity token signature does not verify' },
  token_expired: { status: 401, error: 'the identity token has expired' },
  token_not_yet_valid: { status: 401, error: 'the identity token is not valid yet' },
  lifetime_too_long: { status: 401, error: 'the identity token lives longer than allowed' },
  audience_mismatch: { status: 401, error: 'the identity token is not meant for this gateway' },
  trust_domain_mismatch: { status: 401, error: 'the identity token is signed by another trust domain' },
  issuer_unknown: { status: 401, error: 'the token issuer is not trusted' },
  subject_invalid: { status: 401, error: 'the identity token does not name a valid workload identity' },
  identity_conflict: { status: 401, error: 'the request carries conflicting identities' },
  token_binding_mismatch: { status: 401, error: 'the token is bound to a client certificate this connection does not present' },
  person_invalid: { status: 401, error: 'the user token is not valid' },
  destination_missing: { status: 403, error: 'the route names no destination' },
  destination_unknown: { status: 403, error: 'the route names a destination that is not configured' },
  authority_mismatch: { status: 403, error: 'the request host does not belong to the destination' },
  path_not_normalized: { status: 403, error: 'the request path is not in normal form' },
  path_outside_route: { status: 403, error: 'the request path is outside the route of the destination' },
  method_not_forwarded: { status: 403, error: 'the request method echoes the request, key included, back to the caller; it is never forwarded' },
  scope_exceeded: { status: 403, error: 'the token is not scoped to this destination' },
  no_matching_grant: { status: 403, error: 'no grant allows this request' },
  denied_by_rule: { status: 403, error: 'a deny rule forbids this request' },
  body_unreadable: { status: 400, error: 'the request body could not be read whole as JSON' },
  model_not_allowed: { status: 403, error: 'the request asks for a model that is not allowed' },
  output_tokens_over_limit: { status: 403, error: 'the request asks for more output tokens than allowed' },
  stream_not_allowed: { status: 403, error: 'the request asks for a streamed response, which is not allowed' },
  mcp_method_not_allowed: { status: 403, error: 'the MCP method is not allowed' },
  tool_not_allowed: { status: 403, error: 'the request names a tool that is not allowed' },
  argument_not_allowed: { status: 403, error: 'a tool argument is outside what is allowed' },
  key_unavailable: { status: 503, error: 'the credential for this destination is unavailable' },
  rate_limited: { status: 429, error: 'too many requests for this identity; retry after the time given' },
  budget_exhausted: { status: 429, error: 'the token or cost budget for this identity is used up until the window ends' },
  limits_unavailable: { status: 503, error: 'the limit store is unavailable, so the request cannot be counted' },
  internal_error: { status: 500, error: 'the request could not be authorized' },
  deadline_exceeded: { status: 504, error: 'the request could not be authorized in time' },
  cancelled: { status: 503, error: 'the authorization was abandoned by the gateway' },
} as const satisfies Record<string, { status: number; error: string }>;

export type Reason = keyof typeof REASONS;

/**
 * Thrown by a pipeline phase to deny. `detail` is for operators (decision log) and must
 * never contain a key, a token or a header value the agent sent.
 */
export class Denial extends Error {
  readonly reason: Reason;
  readonly status: number;
  /** Headers for the agent's denied response (`retry-after`); never a secret. */
  readonly headers?: ReadonlyArray<{ readonly key: string; readonly value: string }>;

  constructor(reason: Reason, detail?: string, headers?: ReadonlyArray<{ readonly key: string; readonly value: string }>) {
    // A denial is an answer, not a fault: its stack says nothing, and capturing one cost
    // more than the rest of a denied Check.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detail ?? REASONS[reason].error);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'Denial';
    this.reason = reason;
    this.status = REASONS[reason].status;
    if (headers) this.headers = headers;
  }
}
