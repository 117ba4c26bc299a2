/**
 * The checks every token gets before any key is looked up: the header is read and its
 * algorithm checked first, so `none`, HMAC (a public key used as a secret) and anything
 * else outside the list never reach signature code.
 */
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { Denial } from '../lib/denial.ts';

export const ALLOWED_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'] as const;
const ALLOWED = new Set<string>(ALLOWED_ALGS);

export interface UnverifiedToken {
  readonly header: ProtectedHeaderParameters & { kid: string; alg: string };
  /** Claims before verification: only for choosing a verifier, never for a decision. */
  readonly claims: JWTPayload;
}

export function readUnverified(token: string, what: string): UnverifiedToken {
  let header: ProtectedHeaderParameters;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new Denial('token_malformed', `${what} header cannot be decoded`);
  }
  if (typeof header.alg !== 'string' || !ALLOWED.has(header.alg)) {
    throw new Denial('alg_not_allowed', `${what} alg ${JSON.stringify(header.alg ?? null)} is not one of ${ALLOWED_ALGS.join(', ')}`);
  }
  if (header.typ !== undefined && header.typ !== 'JWT' && header.typ !== 'JOSE') {
    throw new Denial('token_malformed', `${what} typ must be JWT or JOSE`);
  }
  if (typeof header.kid !== 'string' || header.kid === '') throw new Denial('kid_missing', `${what} has no kid`);
  try {
    claims = decodeJwt(token);
  } catch {
    throw new Denial('token_malformed', `${what} claims cannot be decoded`);
  }
  return { header: header as UnverifiedToken['header'], claims };
}

export interface TokenTimeLimits {
  readonly maxLifetimeMs: number;
  readonly clockSkewMs: number;
}

/**
 * The token's own clock claims, checked against ours. `iat` later than now (beyond the
 * skew) is refused: a token minted for the future would otherwise be good until its far
 * `exp`. The lifetime is measured from the earlier of `iat` and now, so a future `iat`
 * within the skew cannot stretch it; without `iat`, from now.
 */
export function checkTokenTime(claims: JWTPayload, limits: TokenTimeLimits, what: string, now = Date.now()): void {
  const exp = claims.exp as number;
  const iat = typeof claims.iat === 'number' ? claims.iat * 1000 : undefined;
  if (iat !== undefined && iat > now + limits.clockSkewMs) {
    throw new Denial('token_not_yet_valid', `${what} was issued ${Math.round((iat - now) / 1000)} s in the future; at most ${limits.clockSkewMs / 1000} s of clock skew is accepted`);
  }
  const start = iat === undefined ? now : Math.min(iat, now);
  if (exp * 1000 - start > limits.maxLifetimeMs) {
    throw new Denial('lifetime_too_long', `${what} lives ${Math.round((exp * 1000 - start) / 1000)} s; at most ${limits.maxLifetimeMs / 1000} s is accepted`);
  }
}
