/**
 * JWT-SVID verification by the SPIFFE JWT-SVID spec: the `sub` names the workload, its
 * trust domain's bundle must hold the signing key, `aud` must include one of ours, `exp`
 * is required, and the lifetime is bounded.
 */
import { Denial } from '../lib/denial.ts';
import type { Principal } from '../model/check.ts';
import type { JwtBundle } from './bundle.ts';
import { checkTokenTime, type UnverifiedToken } from './jwt-header.ts';
import { verifySigned } from './verify-signed.ts';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.ts';

export interface TrustDomainTokens {
  readonly bundle: JwtBundle;
  readonly audiences: readonly string[];
  readonly maxLifetimeMs: number;
  readonly clockSkewMs: number;
}

export interface VerifiedToken<T> {
  readonly value: T;
  readonly expiresAt: number;
  /** Where the signing key came from: the token stays cached only while it holds the kid. */
  readonly bundle: Pick<JwtBundle, 'has'>;
  readonly kid: string;
}

export async function verifyJwtSvid(token: string, unverified: UnverifiedToken, trustDomains: ReadonlyMap<string, TrustDomainTokens>): Promise<VerifiedToken<Principal>> {
  const what = 'JWT-SVID';
  const sub = unverified.claims.sub;
  if (typeof sub !== 'string') throw new Denial('subject_invalid', `${what} has no sub`);
  let id: SpiffeId;
  try {
    id = parseSpiffeId(sub);
  } catch (error) {
    throw new Denial('subject_invalid', `${what} sub: ${(error as Error).message}`);
  }
  const domain = trustDomains.get(id.trustDomain);
  if (!domain) throw new Denial('trust_domain_unknown', `${what} sub is in trust domain "${id.trustDomain}", which has no JWT bundle configured`);

  const { kid } = unverified.header;
  if (!domain.bundle.has(kid)) {
    for (const [name, other] of trustDomains) {
      if (name !== id.trustDomain && other.bundle.has(kid)) {
        throw new Denial('trust_domain_mismatch', `${what} for trust domain "${id.trustDomain}" is signed with a key of "${name}"`);
      }
    }
  }
  const checks = { audiences: domain.audiences, clockSkewMs: domain.clockSkewMs, requiredClaims: ['exp', 'aud', 'sub'] };
  const payload = await verifySigned(token, kid, domain.bundle, checks, what);
  checkTokenTime(payload, { maxLifetimeMs: domain.maxLifetimeMs, clockSkewMs: domain.clockSkewMs }, what);
  return {
    value: { id: id.id, trustDomain: id.trustDomain, proof: 'jwt-svid' },
    expiresAt: (payload.exp as number) * 1000,
    bundle: domain.bundle,
    kid,
  };
}
