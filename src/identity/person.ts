/**
 * The natural person an agent acts for: an OIDC token in a configured header, verified
 * against the issuer's keys. Any failure is `person_invalid`; the detail says why.
 */
import { jwtVerify, type JWTPayload } from 'jose';
import { Denial } from '../lib/denial.ts';
import type { Person } from '../pipeline/types.ts';
import type { JwtBundle } from './bundle.ts';
import { denialFromJose } from './jose-errors.ts';
import { ALLOWED_ALGS, readUnverified } from './jwt-header.ts';
import { tokenIn } from './find-token.ts';
import type { VerifiedToken } from './jwt-svid.ts';

export interface PersonIssuer {
  readonly name: string;
  readonly issuer: string;
  readonly bundle: JwtBundle;
  readonly audiences: readonly string[];
  readonly header: string;
  readonly groupsClaim: string;
  readonly clockSkewMs: number;
}

export async function verifyPersonToken(value: string, issuer: PersonIssuer): Promise<VerifiedToken<Person>> {
  const what = 'user token';
  try {
    const token = tokenIn(value.replace(/^bearer\s+/i, ''), issuer.header);
    if (!token) throw new Denial('token_malformed', `${what} is not a JWT`);
    const unverified = readUnverified(token, what);
    if (!issuer.bundle.has(unverified.header.kid)) await issuer.bundle.refreshForUnknownKid();
    const keySet = issuer.bundle.keySet();
    if (!keySet) throw new Denial('kid_unknown', `${what}: the issuer's keys have not loaded`);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keySet, {
        algorithms: [...ALLOWED_ALGS],
        issuer: issuer.issuer,
        audience: [...issuer.audiences],
        clockTolerance: issuer.clockSkewMs / 1000,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      throw denialFromJose(error, what);
    }
    const groups = payload[issuer.groupsClaim];
    const person: Person = {
      sub: payload.sub as string,
      ...(typeof payload['email'] === 'string' ? { email: payload['email'] } : {}),
      groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [],
    };
    return { value: person, expiresAt: (payload.exp as number) * 1000, bundle: issuer.bundle, kid: unverified.header.kid };
  } catch (error) {
    if (error instanceof Denial) throw new Denial('person_invalid', `${error.reason}: ${error.message}`);
    throw error;
  }
}
