/**
 * Token verification state for one configuration: the bundles and issuers, and the cache
 * of verified tokens. An ES256 verification costs far more than the rest of a Check, so a
 * token is verified once and then served from the cache until it expires or its signing
 * key leaves the bundle.
 */
import { Denial } from '../lib/denial.ts';
import type { Person, Principal } from '../model/check.ts';
import type { JwtBundle } from './bundle.ts';
import { verifyJwtSvid, type TrustDomainTokens, type VerifiedToken } from './jwt-svid.ts';
import { verifyKubernetesToken, type KubernetesIssuer } from './kubernetes.ts';
import { verifyPersonToken, type PersonIssuer } from './person.ts';
import { readUnverified } from './jwt-header.ts';
import { verifyGatewayToken, type GatewayTokenKeys } from './gateway-token.ts';
import { TokenCache } from './token-cache.ts';
import type { MaybePromise } from '../lib/maybe-async.ts';

export interface VerifierSettings {
  readonly trustDomains: ReadonlyMap<string, TrustDomainTokens>;
  readonly kubernetes: readonly KubernetesIssuer[];
  readonly person: PersonIssuer | undefined;
  readonly tokenHeaders: readonly string[];
  readonly cacheEntries: number;
  /** keybroker's own gateway tokens, when it issues them. */
  readonly gateway?: GatewayTokenKeys | undefined;
}

export class TokenVerifier {
  readonly settings: VerifierSettings;
  readonly #identities: TokenCache<Principal>;
  readonly #people: TokenCache<Person>;
  readonly #kubernetesByIssuer: ReadonlyMap<string, KubernetesIssuer>;
  /** Signature verifications performed (cache misses that reached jose). */
  verifications = 0;

  constructor(settings: VerifierSettings) {
    this.settings = settings;
    this.#identities = new TokenCache(settings.cacheEntries);
    this.#people = new TokenCache(settings.cacheEntries);
    this.#kubernetesByIssuer = new Map(settings.kubernetes.map((k) => [k.issuer, k]));
  }

  /** Every bundle this verifier reads, for readiness and shutdown. */
  bundles(): JwtBundle[] {
    return [...[...this.settings.trustDomains.values()].map((t) => t.bundle), ...this.settings.kubernetes.map((k) => k.bundle), ...(this.settings.person ? [this.settings.person.bundle] : [])];
  }

  async ready(): Promise<void> {
    await Promise.all(this.bundles().map((b) => b.ready()));
  }

  close(): void {
    for (const bundle of this.bundles()) bundle.close();
  }

  /** Synchronous when the token is cached. */
  verifyIdentity(token: string): MaybePromise<Principal> {
    const key = TokenCache.keyOf(token);
    return this.#identities.get(key) ?? this.#verifyIdentity(token, key);
  }

  async #verifyIdentity(token: string, key: string): Promise<Principal> {
    const unverified = readUnverified(token, 'identity token');
    const kubernetes = typeof unverified.claims.iss === 'string' ? this.#kubernetesByIssuer.get(unverified.claims.iss) : undefined;
    this.verifications++;
    const gateway = this.settings.gateway;
    const verified =
      gateway && unverified.claims.iss === gateway.issuer
        ? await verifyGatewayToken(token, unverified, gateway)
        : kubernetes
          ? await verifyKubernetesToken(token, unverified, kubernetes)
          : await verifyJwtSvid(token, unverified, this.settings.trustDomains);
    this.#remember(this.#identities, key, verified);
    return verified.value;
  }

  /** Synchronous when the token is cached. */
  verifyPerson(value: string): MaybePromise<Person> {
    const issuer = this.settings.person;
    if (!issuer) throw new Denial('person_invalid', 'a user token was sent but no person issuer is configured');
    const key = TokenCache.keyOf(value);
    return this.#people.get(key) ?? this.#verifyPerson(value, key, issuer);
  }

  async #verifyPerson(value: string, key: string, issuer: PersonIssuer): Promise<Person> {
    this.verifications++;
    const verified = await verifyPersonToken(value, issuer);
    this.#remember(this.#people, key, verified);
    return verified.value;
  }

  #remember<T>(cache: TokenCache<T>, key: string, verified: VerifiedToken<T>): void {
    const { bundle, kid } = verified;
    cache.set(key, { value: verified.value, expiresAt: verified.expiresAt, stillTrusted: () => bundle.has(kid) });
  }
}
