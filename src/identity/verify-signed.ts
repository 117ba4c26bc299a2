/**
 * The one place a token's signature and standard claims are checked: the signing key
 * must be in the bundle (refreshed, rate-limited, when it is not), the algorithm in the
 * allowed list, and jose's failures become keybroker's reason codes.
 */
import { jwtVerify, type JWTPayload } from 'jose';
import { Denial } from '../lib/denial.ts';
import type { JwtBundle } from './bundle.ts';
import { denialFromJose } from './jose-errors.ts';
import { ALLOWED_ALGS } from './jwt-header.ts';

export interface ClaimChecks {
  readonly issuer?: string;
  readonly audiences: readonly string[];
  readonly clockSkewMs: number;
  readonly requiredClaims: readonly string[];
}

export async function verifySigned(token: string, kid: string, bundle: JwtBundle, checks: ClaimChecks, what: string): Promise<JWTPayload> {
  if (!bundle.has(kid)) {
    await bundle.refreshForUnknownKid();
    if (!bundle.has(kid)) throw new Denial('kid_unknown', `${what} is signed by a key that is not in ${bundle.name}`);
  }
  const keySet = bundle.keySet();
  if (!keySet) throw new Denial('kid_unknown', `${bundle.name} has not loaded`);
  try {
    const { payload } = await jwtVerify(token, keySet, {
      algorithms: [...ALLOWED_ALGS],
      audience: [...checks.audiences],
      clockTolerance: checks.clockSkewMs / 1000,
      requiredClaims: [...checks.requiredClaims],
      ...(checks.issuer ? { issuer: checks.issuer } : {}),
    });
    return payload;
  } catch (error) {
    throw denialFromJose(error, what);
  }
}
