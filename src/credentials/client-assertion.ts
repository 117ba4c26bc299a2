/**
 * private_key_jwt client authentication (RFC 7523 §2.2, §3): a short-lived JWT signed by
 * the client's private key — the destination's key, a private JWK on one line — with
 * iss = sub = the client id, aud = the token endpoint (or `assertionAudience`), a fresh
 * jti and a 60 s lifetime. Symmetric and public-only keys are refused, and nothing about
 * the key is ever quoted in an error.
 */
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import type { Credential, OAuth2Settings } from '../model/check.ts';

type SigningKey = Awaited<ReturnType<typeof importJWK>>;

const imported = new WeakMap<Credential, Promise<{ key: SigningKey; alg: string; kid: string | undefined }>>();

export async function clientAssertion(spec: OAuth2Settings, privateKey: Credential): Promise<string> {
  let pending = imported.get(privateKey);
  if (!pending) imported.set(privateKey, (pending = importKey(privateKey)));
  const { key, alg, kid } = await pending;
  return new SignJWT({})
    .setProtectedHeader({ alg, typ: 'JWT', ...(kid ? { kid } : {}) })
    .setIssuer(spec.clientId)
    .setSubject(spec.clientId)
    .setAudience(spec.assertionAudience ?? spec.tokenUrl)
    .setIssuedAt()
    .setExpirationTime('60s')
    .setJti(randomUUID())
    .sign(key);
}

async function importKey(privateKey: Credential): Promise<{ key: SigningKey; alg: string; kid: string | undefined }> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(privateKey.reveal()) as JWK;
    if (jwk === null || typeof jwk !== 'object') throw new Error();
  } catch {
    // JSON.parse's message quotes the text: say only what is wrong.
    throw new Error(`the private_key_jwt key ${privateKey.id} is not a JWK (a JSON object on one line)`);
  }
  if (jwk.kty === 'oct' || typeof jwk.d !== 'string') throw new Error(`the private_key_jwt key ${privateKey.id} is not an asymmetric private key (EC, RSA or OKP with "d")`);
  const alg = jwk.alg ?? defaultAlg(jwk);
  if (!alg) throw new Error(`the private_key_jwt key ${privateKey.id} does not say its algorithm: give the JWK an "alg"`);
  try {
    return { key: await importJWK(jwk, alg), alg, kid: jwk.kid };
  } catch {
    throw new Error(`the private_key_jwt key ${privateKey.id} cannot sign with ${alg}`);
  }
}

function defaultAlg(jwk: JWK): string | undefined {
  if (jwk.kty === 'EC') return { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[jwk.crv ?? ''];
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined;
}
