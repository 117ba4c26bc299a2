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
  destination_missing: { status: 403, error: 'the route names no destination' },
  destination_unknown: { status: 403, error: 'the route names a destination that is not configured' },
  authority_mismatch: { status: 403, error: 'the request host does not belong to the destination' },
  path_not_normalized: { status: 403, error: 'the request path is not in normal form' },
  path_outside_route: { status: 403, error: 'the request path is outside the route of the destination' },
  no_matching_grant: { status: 403, error: 'no grant allows this request' },
  denied_by_rule: { status: 403, error: 'a deny rule forbids this request' },
  key_unavailable: { status: 503, error: 'the credential for this destination is unavailable' },
  internal_error: { status: 500, error: 'the request could not be authorized' },
} as const satisfies Record<string, { status: number; error: string }>;

export type Reason = keyof typeof REASONS;

/**
 * Thrown by a pipeline phase to deny. `detail` is for operators (decision log) and must
 * never contain a key, a token or a header value the agent sent.
 */
export class Denial extends Error {
  readonly reason: Reason;
  readonly status: number;

  constructor(reason: Reason, detail?: string) {
    super(detail ?? REASONS[reason].error);
    this.name = 'Denial';
    this.reason = reason;
    this.status = REASONS[reason].status;
  }
}
