/**
 * Kubernetes projected service-account tokens: verified against the cluster's OIDC
 * issuer, then mapped to a SPIFFE ID (default `spiffe://<td>/ns/<namespace>/sa/<name>`)
 * so that one policy covers SVIDs and service accounts alike.
 */
import type { JWTPayload } from 'jose';
import { Denial } from '../lib/denial.ts';
import type { Principal } from '../model/check.ts';
import type { JwtBundle } from './bundle.ts';
import { checkTokenTime, type UnverifiedToken } from './jwt-header.ts';
import { verifySigned } from './verify-signed.ts';
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
  const checks = { issuer: issuer.issuer, audiences: issuer.audiences, clockSkewMs: issuer.clockSkewMs, requiredClaims: ['exp', 'aud', 'sub'] };
  const payload = await verifySigned(token, unverified.header.kid, issuer.bundle, checks, what);
  checkTokenTime(payload, { maxLifetimeMs: issuer.maxLifetimeMs, clockSkewMs: issuer.clockSkewMs }, what);
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
