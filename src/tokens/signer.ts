/**
 * keybroker's gateway-token signing key: read from the key store (a private JWK, EC
 * P-256), re-read every `rotationCheck`, and rotated with overlap — when the store holds
 * a new key, it signs from then on, and the previous public key stays in the JWKS until
 * every token it signed has expired (ttl + clock skew). The private key never leaves
 * this module; its value is never logged, only its kid.
 */
import { randomUUID, type webcrypto } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, importJWK, SignJWT, type JWK, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import type { KeyStore } from '../credentials/store.ts';
import type { Secret } from '../credentials/secret.ts';
import type { GatewayTokenKeys } from '../identity/gateway-token.ts';
import type { GatewayTokensConfig } from './schema.ts';

const ALGORITHM = 'ES256';

/** The signing key cannot be used: the message names the key reference, never the value. */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
  readonly code = 'ERR_SIGNING_KEY';
}

interface PublicKey {
  readonly kid: string;
  readonly jwk: JWK;
  /** Retired keys: verify until this time (ms), then leave the JWKS. */
  readonly until?: number;
}

export interface IssueRequest {
  readonly subject: string;
  readonly ttlMs: number;
  readonly scope?: readonly string[] | undefined;
  /** RFC 8705 cnf.x5t#S256 of the certificate the token is bound to. */
  readonly boundCertificate?: string | undefined;
}

export class GatewayTokenSigner implements GatewayTokenKeys {
  readonly issuer: string;
  readonly audience: string;
  readonly maxLifetimeMs: number;
  readonly clockSkewMs: number;
  readonly algorithm = ALGORITHM;
  readonly #config: GatewayTokensConfig;
  readonly #keys: () => KeyStore;
  readonly #log: Logger | undefined;
  #current: { readonly secretId: string; readonly kid: string; readonly key: webcrypto.CryptoKey; readonly publicKey: PublicKey } | undefined;
  #retired: PublicKey[] = [];
  #keySet: JWTVerifyGetKey | undefined;
  #kids: ReadonlySet<string> = new Set();
  #timer: NodeJS.Timeout | undefined;

  constructor(config: GatewayTokensConfig, keys: () => KeyStore, log?: Logger) {
    this.#config = config;
    this.issuer = config.issuer;
    this.audience = config.audience;
    this.maxLifetimeMs = config.ttl;
    this.clockSkewMs = config.clockSkew;
    this.#keys = keys;
    this.#log = log;
  }

  /** Reads the key store; on a new value, rotates. Throws SigningKeyError if unusable. */
  async refresh(now = Date.now()): Promise<void> {
    const ref = this.#config.signingKey;
    let secret: Secret;
    try {
      secret = await this.#keys().get(ref);
    } catch (error) {
      throw new SigningKeyError(`gatewayTokens.signingKey "${ref}": ${(error as Error).message}`);
    }
    this.#expire(now);
    if (this.#current?.secretId === secret.id) return;
    const { key, publicJwk } = await importSigningKey(secret.reveal(), ref);
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
    const previous = this.#current;
    if (previous && previous.kid !== kid) {
      // Tokens it signed live at most ttl (+ skew): keep verifying them that long.
      this.#retired.push({ ...previous.publicKey, until: now + this.maxLifetimeMs + this.clockSkewMs });
    }
    this.#current = { secretId: secret.id, kid, key, publicKey: { kid, jwk: { ...publicJwk, kid, alg: ALGORITHM, use: 'sig' } } };
    this.#install();
    this.#log?.info({ kid, retired: this.#retired.map((r) => r.kid), keyId: secret.id }, previous ? 'gateway-token signing key rotated' : 'gateway-token signing key loaded');
  }

  /** Re-reads the key every rotationCheck; a failed read keeps the key in force and logs. */
  start(): void {
    this.#timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.#log?.error({ err: (error as Error).message }, 'gateway-token signing key could not be re-read; the current one stays in force'));
    }, this.#config.rotationCheck);
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  get currentKid(): string | undefined {
    return this.#current?.kid;
  }

  keySet(): JWTVerifyGetKey | undefined {
    return this.#keySet;
  }

  has(kid: string): boolean {
    this.#expire(Date.now());
    return this.#kids.has(kid);
  }

  /** The current and overlapping public keys, as a JWKS (JSON). */
  jwks(): string {
    this.#expire(Date.now());
    return JSON.stringify({ keys: this.#publicKeys().map((k) => k.jwk) });
  }

  async issue(request: IssueRequest, now = Date.now()): Promise<{ token: string; expiresIn: number; kid: string }> {
    await this.refresh(now);
    const current = this.#current;
    if (!current) throw new SigningKeyError('no gateway-token signing key is loaded');
    const iat = Math.floor(now / 1000);
    const expiresIn = Math.max(1, Math.floor(Math.min(request.ttlMs, this.maxLifetimeMs) / 1000));
    const claims: Record<string, unknown> = {};
    if (request.scope && request.scope.length > 0) claims['scope'] = request.scope.join(' ');
    if (request.boundCertificate) claims['cnf'] = { 'x5t#S256': request.boundCertificate };
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: ALGORITHM, kid: current.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject(request.subject)
      .setIssuedAt(iat)
      .setExpirationTime(iat + expiresIn)
      .setJti(randomUUID())
      .sign(current.key);
    return { token, expiresIn, kid: current.kid };
  }

  #publicKeys(): PublicKey[] {
    return [...(this.#current ? [this.#current.publicKey] : []), ...this.#retired];
  }

  #expire(now: number): void {
    const before = this.#retired.length;
    this.#retired = this.#retired.filter((k) => (k.until ?? 0) > now);
    if (this.#retired.length !== before) this.#install();
  }

  #install(): void {
    const keys = this.#publicKeys();
    this.#keySet = createLocalJWKSet({ keys: keys.map((k) => k.jwk) });
    this.#kids = new Set(keys.map((k) => k.kid));
  }
}

async function importSigningKey(value: string, ref: string): Promise<{ key: webcrypto.CryptoKey; publicJwk: JWK }> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(value) as JWK;
  } catch {
    throw new SigningKeyError(`gatewayTokens.signingKey "${ref}": expected a private JWK as JSON`);
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new SigningKeyError(`gatewayTokens.signingKey "${ref}": expected a private EC P-256 JWK (kty EC, crv P-256, x, y, d)`);
  }
  try {
    const key = (await importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }, ALGORITHM)) as webcrypto.CryptoKey;
    return { key, publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } };
  } catch (error) {
    throw new SigningKeyError(`gatewayTokens.signingKey "${ref}": not a usable P-256 key (${(error as Error).name})`);
  }
}
