/**
 * Kubernetes projected service-account tokens: verified against the cluster's OIDC
 * issuer, then mapped to a SPIFFE ID (default `spiffe://<td>/ns/<namespace>/sa/<name>`)
 * so that one policy covers SVIDs and service accounts alike.
 */
import { jwtVerify, type JWTPayload } from 'jose';
import { Denial } from '../lib/denial.ts';
import type { Principal } from '../pipeline/types.ts';
import type { JwtBundle } from './bundle.ts';
import { denialFromJose } from './jose-errors.ts';
import { ALLOWED_ALGS, checkLifetime, type UnverifiedToken } from './jwt-header.ts';
import type { VerifiedToken } from './jwt-svid.ts';
import { parseSpiffeId } from './spiffe-id.ts';

export interface KubernetesIssuer {
  readonly name: string;
  readonly issuer: string;
  readonly bundle: JwtBundle;
  readonly audiences: readonly string[];
  /** With `{namespace}` and `{serviceaccount}`. */
  readonly identityTemplate: string;
  readonly maxLifetimeMs: number;
  readonly clockSkewMs: number;
}

export async function verifyKubernetesToken(token: string, unverified: UnverifiedToken, issuer: KubernetesIssuer): Promise<VerifiedToken<Principal>> {
  const what = `service-account token (issuer "${issuer.name}")`;
  if (!issuer.bundle.has(unverified.header.kid)) {
    await issuer.bundle.refreshForUnknownKid();
    if (!issuer.bundle.has(unverified.header.kid)) throw new Denial('kid_unknown', `${what} kid is not in the issuer's keys`);
  }
  const keySet = issuer.bundle.keySet();
  if (!keySet) throw new Denial('kid_unknown', `${what}: the issuer's keys have not loaded`);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keySet, {
      algorithms: [...ALLOWED_ALGS],
      issuer: issuer.issuer,
      audience: [...issuer.audiences],
      clockTolerance: issuer.clockSkewMs / 1000,
      requiredClaims: ['exp', 'aud', 'sub'],
    }));
  } catch (error) {
    throw denialFromJose(error, what);
  }
  checkLifetime(payload, issuer.maxLifetimeMs, what);
  const id = identityFromKubernetesClaims(payload, issuer.identityTemplate);
  return { value: { id: id.id, trustDomain: id.trustDomain, proof: 'kubernetes' }, expiresAt: (payload.exp as number) * 1000, bundle: issuer.bundle, kid: unverified.header.kid };
}

export function identityFromKubernetesClaims(payload: JWTPayload, template: string) {
  const k8s = payload['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
  const namespace = k8s?.namespace;
  const serviceAccount = k8s?.serviceaccount?.name;
  if (typeof namespace !== 'string' || typeof serviceAccount !== 'string') {
    throw new Denial('subject_invalid', 'service-account token has no kubernetes.io namespace and service account');
  }
  try {
    return parseSpiffeId(template.replace('{namespace}', namespace).replace('{serviceaccount}', serviceAccount));
  } catch (error) {
    throw new Denial('subject_invalid', `service-account token maps to an invalid SPIFFE ID: ${(error as Error).message}`);
  }
}
