/**
 * The natural person an agent acts for: an OIDC token in a configured header, verified
 * against the issuer's keys. Any failure is `person_invalid`; the detail says why.
 */
import { Denial } from '../lib/denial.ts';
import type { Person } from '../model/check.ts';
import type { JwtBundle } from './bundle.ts';
import { checkTokenTime, readUnverified } from './jwt-header.ts';
import { verifySigned } from './verify-signed.ts';
import { tokenIn } from './find-token.ts';
import type { VerifiedToken } from './jwt-svid.ts';

export interface PersonIssuer {
  readonly name: string;
  readonly issuer: string;
  readonly bundle: JwtBundle;
  readonly audiences: readonly string[];
  readonly header: string;
  readonly groupsClaim: string;
  readonly maxLifetimeMs: number;
  readonly clockSkewMs: number;
}

export async function verifyPersonToken(value: string, issuer: PersonIssuer): Promise<VerifiedToken<Person>> {
  const what = 'user token';
  try {
    const token = tokenIn(value.replace(/^bearer\s+/i, ''), issuer.header);
    if (!token) throw new Denial('token_malformed', `${what} is not a JWT`);
    const unverified = readUnverified(token, what);
    const checks = { issuer: issuer.issuer, audiences: issuer.audiences, clockSkewMs: issuer.clockSkewMs, requiredClaims: ['exp', 'sub'] };
    const payload = await verifySigned(token, unverified.header.kid, issuer.bundle, checks, what);
    checkTokenTime(payload, { maxLifetimeMs: issuer.maxLifetimeMs, clockSkewMs: issuer.clockSkewMs }, what);
    const groups = payload[issuer.groupsClaim];
    const person: Person = {
      sub: payload.sub as string,
      // An address the issuer says it has not verified is whatever the user typed: the
      // audit would name someone else (OIDC Core §5.1, email_verified).
      ...(typeof payload['email'] === 'string' && payload['email_verified'] !== false ? { email: payload['email'] } : {}),
      groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [],
    };
    return { value: person, expiresAt: (payload.exp as number) * 1000, bundle: issuer.bundle, kid: unverified.header.kid };
  } catch (error) {
    if (error instanceof Denial) throw new Denial('person_invalid', `${error.reason}: ${error.message}`);
    throw error;
  }
}
