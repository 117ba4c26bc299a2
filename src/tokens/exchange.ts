/**
 * The token exchange (RFC 8693 semantics): what the agent proves — the X.509-SVID its
 * TLS connection presented, or a Kubernetes service-account token — becomes a
 * short-lived gateway token for that identity, audience keybroker, optionally downscoped
 * to destinations the identity can already reach, and bound to the certificate when
 * there was one. Refusals carry RFC 8693 / RFC 6749 error codes.
 */
import { X509Certificate } from 'node:crypto';
import { decodeJwt } from 'jose';
import { Denial } from '../lib/denial.ts';
import { parseSpiffeId } from '../identity/spiffe-id.ts';
import { certificateThumbprint } from '../identity/gateway-token.ts';
import { whatCan } from '../policy/access-review.ts';
import type { Runtime } from '../pipeline/runtime.ts';
import type { Principal } from '../model/check.ts';
import type { ExchangeRequest__Output } from '../api/generated/keybroker/token/v1/ExchangeRequest.ts';
import type { ExchangeResponse } from '../api/generated/keybroker/token/v1/ExchangeResponse.ts';
import type { GatewayTokenSigner } from './signer.ts';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

export type ExchangeErrorCode = 'invalid_request' | 'unsupported_grant_type' | 'invalid_grant' | 'invalid_target' | 'invalid_scope';

/** A refused exchange: `code` as RFC 8693 §2.2.2 names it, `reason` keybroker's stable code when one applies. */
export class ExchangeError extends Error {
  override readonly name = 'ExchangeError';
  readonly code: ExchangeErrorCode;
  readonly reason: string | undefined;

  constructor(code: ExchangeErrorCode, message: string, reason?: string) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

/** What the TLS layer verified about the caller (nothing, over a plain or server-only connection). */
export interface ExchangeCaller {
  /** The DER of the client certificate, verified against the listener's clientCa. */
  readonly certificate?: Buffer | undefined;
  /** Its URI SANs. */
  readonly uris?: readonly string[] | undefined;
}

export interface Exchanged {
  readonly response: ExchangeResponse;
  readonly identity: string;
  readonly proof: 'x509-svid' | 'kubernetes';
  readonly bound: boolean;
  readonly kid: string;
}

export async function exchangeToken(request: ExchangeRequest__Output, caller: ExchangeCaller, runtime: Runtime, signer: GatewayTokenSigner): Promise<Exchanged> {
  if (request.grant_type !== TOKEN_EXCHANGE_GRANT) throw new ExchangeError('unsupported_grant_type', `grant_type must be ${TOKEN_EXCHANGE_GRANT}`);
  if (request.requested_token_type && request.requested_token_type !== JWT_TOKEN_TYPE) throw new ExchangeError('invalid_request', `requested_token_type must be ${JWT_TOKEN_TYPE}`);
  if (request.audience && request.audience !== signer.audience) throw new ExchangeError('invalid_target', `gateway tokens are issued for audience "${signer.audience}" only`);

  const fromCertificate = caller.certificate ? certificateIdentity(caller.uris ?? []) : undefined;
  const subject = request.subject_token ? await serviceAccountIdentity(request, runtime) : undefined;
  const fromToken = subject?.identity;
  if (!fromCertificate && !fromToken) {
    throw new ExchangeError('invalid_request', "present an X.509-SVID (mTLS with a certificate from the listener's clientCa) or a Kubernetes service-account token as subject_token");
  }
  if (fromCertificate && fromToken && fromCertificate !== fromToken) {
    throw new ExchangeError('invalid_grant', 'the client certificate and the subject token name different identities', 'identity_conflict');
  }
  const identity = (fromCertificate ?? fromToken) as string;
  const { trustDomain } = parseSpiffeId(identity);
  if (!runtime.trustDomains.has(trustDomain)) throw new ExchangeError('invalid_grant', `trust domain "${trustDomain}" is not trusted`, 'trust_domain_unknown');

  const scope = [...new Set(request.scope)].sort();
  if (scope.length > 0) {
    const reachable = new Set(whatCan(runtime.policy, { identity }).grants.flatMap((g) => g.destinations));
    const beyond = scope.filter((d) => !reachable.has(d));
    if (beyond.length > 0) throw new ExchangeError('invalid_scope', `no grant lets ${identity} reach ${beyond.join(', ')}; a token can only narrow access`, 'scope_exceeded');
  }

  const requested = request.requested_ttl_seconds > 0 ? request.requested_ttl_seconds * 1000 : signer.maxLifetimeMs;
  const boundCertificate = fromCertificate && caller.certificate ? certificateThumbprint(caller.certificate) : undefined;
  const now = Date.now();
  const ttlMs = Math.min(requested, signer.maxLifetimeMs, proofLeftMs(subject, fromCertificate ? caller.certificate : undefined, now));
  const issued = await signer.issue({ subject: identity, ttlMs, scope, boundCertificate }, now);
  return {
    response: { access_token: issued.token, issued_token_type: JWT_TOKEN_TYPE, token_type: 'Bearer', expires_in: issued.expiresIn, scope },
    identity,
    proof: fromCertificate ? 'x509-svid' : 'kubernetes',
    bound: Boolean(boundCertificate),
    kid: issued.kid,
  };
}

function certificateIdentity(uris: readonly string[]): string {
  if (uris.length !== 1) throw new ExchangeError('invalid_grant', 'the client certificate must carry exactly one URI SAN, a SPIFFE ID', 'certificate_mismatch');
  try {
    return parseSpiffeId(uris[0] as string).id;
  } catch (error) {
    throw new ExchangeError('invalid_grant', `the client certificate's URI SAN is not a SPIFFE ID: ${(error as Error).message}`, 'identity_malformed');
  }
}

/**
 * How long the proof presented stays good: a gateway token never outlives it, so an
 * exchange cannot stretch a credential past its own expiry — a service-account token
 * that verifies only thanks to the issuer's clock skew buys nothing. Under a second
 * left (tokens count whole seconds) is refused.
 */
function proofLeftMs(subject: SubjectToken | undefined, certificate: Buffer | undefined, now: number): number {
  let until = Infinity;
  if (subject) until = Math.min(until, subject.expiresAt);
  if (certificate) until = Math.min(until, new X509Certificate(certificate).validToDate.getTime());
  const left = until - now;
  if (left < 1000) throw new ExchangeError('invalid_grant', 'the credential presented expires within a second (or has expired): present a fresh one', 'token_expired');
  return left;
}

interface SubjectToken {
  readonly identity: string;
  /** The verified token's exp, ms since the epoch. */
  readonly expiresAt: number;
}

/** Only Kubernetes service-account tokens are exchanged: a gateway token or JWT-SVID already is one. */
async function serviceAccountIdentity(request: ExchangeRequest__Output, runtime: Runtime): Promise<SubjectToken> {
  if (request.subject_token_type !== JWT_TOKEN_TYPE) throw new ExchangeError('invalid_request', `subject_token_type must be ${JWT_TOKEN_TYPE}`);
  let principal: Principal;
  try {
    principal = await runtime.tokens.verifyIdentity(request.subject_token);
  } catch (error) {
    if (error instanceof Denial) throw new ExchangeError('invalid_grant', error.message, error.reason);
    throw error;
  }
  if (principal.proof !== 'kubernetes') {
    throw new ExchangeError('invalid_grant', `only Kubernetes service-account tokens are exchanged; this is a ${principal.proof}`, 'token_not_exchangeable');
  }
  // Verified above (exp is a required claim), so its exp is the issuer's.
  return { identity: principal.id, expiresAt: (decodeJwt(request.subject_token).exp as number) * 1000 };
}
