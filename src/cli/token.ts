/**
 * `keybroker token`: mints a JWT-SVID with a local signing key (the demo's, by default)
 * so that a walk-through can send an SDK-shaped request. Not for production: real
 * JWT-SVIDs come from SPIRE's Workload API.
 */
import { readFileSync } from 'node:fs';
import { importJWK, SignJWT, type JWK } from 'jose';
import { parseSpiffeId } from '../identity/spiffe-id.ts';
import { parseDuration } from '../config/duration.ts';

export interface TokenRequest {
  readonly identity: string;
  readonly keyFile: string;
  readonly audience: string;
  readonly ttl: string;
}

export async function mintToken(request: TokenRequest): Promise<string> {
  const id = parseSpiffeId(request.identity);
  const ttlMs = parseDuration(request.ttl);
  if (ttlMs === undefined || ttlMs <= 0) throw new Error(`--ttl "${request.ttl}" is not a duration such as 5m`);
  const jwk = JSON.parse(readFileSync(request.keyFile, 'utf8')) as JWK & { _comment?: string };
  if (typeof jwk.kid !== 'string' || typeof jwk.alg !== 'string') throw new Error(`${request.keyFile} must be a private JWK with "kid" and "alg"`);
  const key = await importJWK(jwk, jwk.alg);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: 'JWT' })
    .setSubject(id.id)
    .setAudience(request.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.floor(ttlMs / 1000))
    .sign(key);
}
