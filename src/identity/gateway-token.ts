/**
 * Gateway tokens: short-lived JWTs keybroker itself issued (src/tokens/) in exchange for
 * an X.509-SVID or a Kubernetes service-account token. Verified against keybroker's own
 * signing keys — the current one and those still within their overlap — for issuer,
 * audience, lifetime and subject; the scope and certificate binding they carry are
 * enforced later (authorize phase; authenticate, against the connection's certificate).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { Denial } from '../lib/denial.ts';
import type { Principal } from '../model/check.ts';
import { checkTokenTime, type UnverifiedToken } from './jwt-header.ts';
import { denialFromJose } from './jose-errors.ts';
import type { VerifiedToken } from './jwt-svid.ts';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.ts';

/** What Check needs from the token issuer: its keys and the claims it stamps. */
export interface GatewayTokenKeys {
  readonly issuer: string;
  readonly audience: string;
  readonly maxLifetimeMs: number;
  readonly clockSkewMs: number;
  readonly algorithm: string;
  /** The verification keys in force (current and overlapping), or undefined before the first. */
  keySet(): JWTVerifyGetKey | undefined;
  has(kid: string): boolean;
}

const WHAT = 'gateway token';

export async function verifyGatewayToken(token: string, unverified: UnverifiedToken, keys: GatewayTokenKeys): Promise<VerifiedToken<Principal>> {
  const kid = unverified.header.kid;
  const keySet = keys.keySet();
  if (!keySet || !keys.has(kid)) throw new Denial('kid_unknown', `${WHAT} is signed by a key keybroker does not hold (retired past its overlap, or never its own)`);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keySet, {
      algorithms: [keys.algorithm],
      issuer: keys.issuer,
      audience: keys.audience,
      clockTolerance: keys.clockSkewMs / 1000,
      requiredClaims: ['exp', 'iat', 'sub', 'aud', 'jti'],
    }));
  } catch (error) {
    throw denialFromJose(error, WHAT);
  }
  checkTokenTime(payload, { maxLifetimeMs: keys.maxLifetimeMs, clockSkewMs: keys.clockSkewMs }, WHAT);
  let id: SpiffeId;
  try {
    id = parseSpiffeId(String(payload.sub));
  } catch (error) {
    throw new Denial('subject_invalid', `${WHAT} sub: ${(error as Error).message}`);
  }
  const scope = typeof payload['scope'] === 'string' ? payload['scope'].split(' ').filter(Boolean) : undefined;
  const cnf = payload['cnf'] as { 'x5t#S256'?: unknown } | undefined;
  const bound = typeof cnf?.['x5t#S256'] === 'string' ? cnf['x5t#S256'] : undefined;
  const principal: Principal = {
    id: id.id,
    trustDomain: id.trustDomain,
    proof: 'gateway-token',
    ...(scope ? { scope } : {}),
    ...(bound ? { boundCertificate: bound } : {}),
  };
  return { value: principal, expiresAt: (payload.exp as number) * 1000, bundle: keys, kid };
}

/** RFC 8705 §3.1: base64url(SHA-256(DER of the certificate)). */
export function certificateThumbprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('base64url');
}

/**
 * A token bound to a certificate is good only on a connection presenting that
 * certificate: Envoy sends it (URL-encoded PEM) with every mTLS Check.
 */
export function checkCertificateBinding(principal: Principal, sourceCertificate: string): void {
  if (!principal.boundCertificate) return;
  if (!sourceCertificate) throw new Denial('token_binding_mismatch', 'the token is bound to a client certificate and the request came without one');
  let der: Buffer;
  try {
    der = new X509Certificate(decodeURIComponent(sourceCertificate)).raw;
  } catch {
    throw new Denial('token_binding_mismatch', 'the client certificate Envoy sent cannot be read');
  }
  if (certificateThumbprint(der) !== principal.boundCertificate) {
    throw new Denial('token_binding_mismatch', 'the token is bound to another client certificate');
  }
}
