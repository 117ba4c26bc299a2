/** Signing keys, bundles and tokens for identity tests, made with jose. */
import { writeFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export interface Signer {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function makeSigner(kid: string, alg = 'ES256'): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

/** A JWKS; with `spiffe`, a SPIFFE bundle whose keys are marked for JWT-SVIDs. */
export function bundleJson(signers: readonly Signer[], options: { spiffe?: boolean; refreshHintSeconds?: number; extraKeys?: JWK[] } = {}): string {
  const keys = signers.map((s) => (options.spiffe ? { ...s.publicJwk, use: 'jwt-svid' } : s.publicJwk));
  return JSON.stringify({
    keys: [...keys, ...(options.extraKeys ?? [])],
    ...(options.refreshHintSeconds ? { spiffe_refresh_hint: options.refreshHintSeconds } : {}),
  });
}

export function writeBundle(file: string, signers: readonly Signer[], options: Parameters<typeof bundleJson>[1] = {}): void {
  writeFileSync(file, bundleJson(signers, options));
}

const now = () => Math.floor(Date.now() / 1000);

export interface MintOptions {
  sub?: string;
  aud?: string | string[] | null;
  ttlSeconds?: number;
  iat?: number | null;
  nbf?: number;
  exp?: number | null;
  header?: Record<string, unknown>;
  claims?: JWTPayload;
  kid?: string | null;
  /** Critical header names the signer declares it understands (jose refuses unknown ones). */
  crit?: string[];
}

export async function mint(signer: Signer, options: MintOptions = {}): Promise<string> {
  const iat = options.iat === undefined ? now() : options.iat;
  const payload: JWTPayload = {
    sub: options.sub ?? 'spiffe://example.org/ns/research/summarizer',
    ...(options.aud === null ? {} : { aud: options.aud ?? 'keybroker' }),
    ...(iat === null ? {} : { iat }),
    ...(options.exp === null ? {} : { exp: options.exp ?? (iat ?? now()) + (options.ttlSeconds ?? 300) }),
    ...(options.nbf !== undefined ? { nbf: options.nbf } : {}),
    ...options.claims,
  };
  const header = { alg: signer.alg, typ: 'JWT', ...(options.kid === null ? {} : { kid: options.kid ?? signer.kid }), ...options.header };
  const crit = options.crit ? { crit: Object.fromEntries(options.crit.map((c) => [c, true])) } : undefined;
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(signer.privateKey, crit);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token with any header, signed with HMAC over `secret` (or unsigned with alg none). */
export function forge(header: Record<string, unknown>, payload: JWTPayload, secret?: string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  if (secret === undefined) return `${input}.`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export const nowSeconds = now;
