/**
 * Keys from Vault's (or OpenBao's) KV v2. Values are held in memory and refreshed ahead of
 * need: every `refreshMs` the store reads each key's metadata and fetches the data only
 * when the current version moved or was re-created (its `created_time` changed: a
 * metadata delete and a new put reuse version numbers), so a rotation is served within one
 * interval. A current version that is deleted or destroyed is unavailable from the next
 * refresh on: Vault said so, it is not an outage. While Vault is unreachable, sealed or
 * refusing, a cached value is served up to `maxStalenessMs` old, then the key is
 * unavailable (a 503 denial) — never a request without a key. Every read, login and
 * renewal ends within `timeoutMs` whatever the server does. Key ids carry the KV version:
 * `vault:secret/openai/prod#7`.
 *
 * Nothing secret leaves this module in an error or a log line: not the Vault token, not a
 * secret_id, not a value.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { isProblem, readSecretValue, Secret } from './secret.ts';
import { KeyUnavailableError, type KeyStore } from './store.ts';
import { VaultApi, VaultMalformedError, VaultStatusError } from './vault-api.ts';
import { BoundedRequestError } from '../lib/bounded-request.ts';

export type VaultAuth =
  | { readonly method: 'token'; readonly tokenFile?: string | undefined }
  | { readonly method: 'approle'; readonly roleIdFile: string; readonly secretIdFile: string; readonly mount: string }
  | { readonly method: 'kubernetes'; readonly role: string; readonly tokenFile: string; readonly mount: string };

export interface VaultSettings {
  readonly address: string;
  readonly mount: string;
  readonly field: string;
  readonly namespace?: string | undefined;
  readonly caFile?: string | undefined;
  readonly auth: VaultAuth;
  readonly refreshMs: number;
  readonly maxStalenessMs: number;
  readonly timeoutMs: number;
}

export interface CachedKey {
  secret: Secret;
  version: number;
  /** The version's `created_time`: a value replaced under the same version number shows here. */
  createdTime: string;
  /** When Vault last confirmed this value (ms since the epoch). */
  confirmedAt: number;
}

/** Vault says the key is gone (deleted, destroyed, its metadata removed): never served from cache. */
class KeyGoneError extends Error {
  override readonly name = 'KeyGoneError';
  readonly code = 'ERR_VAULT_KEY_GONE';
}

interface Lease {
  lease_duration?: number;
  renewable?: boolean;
}

export interface VaultStats {
  reads: number;
  failures: number;
  logins: number;
  renewals: number;
}

/** `openai/prod` (latest) or `openai/prod@7` (pinned). */
export function parseVaultRef(ref: string): { path: string; version: number | undefined } {
  const at = ref.lastIndexOf('@');
  if (at === -1) return { path: ref, version: undefined };
  return { path: ref.slice(0, at), version: Number(ref.slice(at + 1)) };
}

export class VaultKeyStore implements KeyStore {
  readonly kind = 'vault';
  readonly stats: VaultStats = { reads: 0, failures: 0, logins: 0, renewals: 0 };
  readonly #settings: VaultSettings;
  readonly #log: Logger | undefined;
  readonly #api: VaultApi;
  readonly #cache: Map<string, CachedKey>;
  readonly #inflight = new Map<string, Promise<Secret>>();
  readonly #refresher: NodeJS.Timeout;
  readonly #closing = new AbortController();
  #renewTimer: NodeJS.Timeout | undefined;
  #login: Promise<void> | undefined;

  /** `carried`: values a previous store of the same Vault and key path confirmed (a reload). */
  constructor(settings: VaultSettings, options: { log?: Logger; carried?: ReadonlyMap<string, CachedKey> } = {}) {
    this.#settings = settings;
    this.#log = options.log;
    this.#api = new VaultApi({ address: settings.address, namespace: settings.namespace, ca: settings.caFile ? readFileSync(settings.caFile) : undefined });
    this.#cache = new Map(options.carried ?? []);
    this.#refresher = setInterval(() => void this.refreshAll(), settings.refreshMs);
    this.#refresher.unref();
  }

  /** Logs in and reads these keys now (those not already held), so that the first Checks find them cached. */
  async warm(refs: readonly string[]): Promise<void> {
    await Promise.all(refs.filter((ref) => !this.holds(ref)).map((ref) => this.#fetch(ref).catch(() => undefined)));
  }

  get(ref: string): Secret | Promise<Secret> {
    const cached = this.#cache.get(ref);
    if (cached && Date.now() - cached.confirmedAt <= this.#settings.maxStalenessMs) return cached.secret;
    return this.#fetch(ref);
  }

  /** Whether `ref` is cached and still within the staleness bound (reloads, health). */
  holds(ref: string): boolean {
    const cached = this.#cache.get(ref);
    return cached !== undefined && Date.now() - cached.confirmedAt <= this.#settings.maxStalenessMs;
  }

  /** The cached values, for a store that replaces this one on reload (same Vault, same paths). */
  carry(): ReadonlyMap<string, CachedKey> {
    return new Map([...this.#cache].filter(([ref]) => this.holds(ref)).map(([ref, entry]) => [ref, { ...entry }]));
  }

  /** Where a store reads from: a reload carries cached keys only between equal ones. */
  static sourceOf(settings: VaultSettings): string {
    const { address, namespace, mount, field } = settings;
    return JSON.stringify({ address, namespace: namespace ?? '', mount, field });
  }

  get source(): string {
    return VaultKeyStore.sourceOf(this.#settings);
  }

  /** How old the oldest cached value is, in ms (for the staleness metric). */
  staleness(): number {
    let oldest = 0;
    for (const entry of this.#cache.values()) oldest = Math.max(oldest, Date.now() - entry.confirmedAt);
    return oldest;
  }

  /** Re-checks every cached key: metadata first, data only when the version or its value moved. */
  async refreshAll(): Promise<void> {
    await Promise.all([...this.#cache.keys()].map((ref) => this.#fetch(ref).catch(() => undefined)));
  }

  close(): void {
    this.#closing.abort(new Error('the key store is closed'));
    clearInterval(this.#refresher);
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
  }

  /** One read at a time per key: concurrent Checks share it, and it ends within `timeoutMs`. */
  #fetch(ref: string): Promise<Secret> {
    let pending = this.#inflight.get(ref);
    if (!pending) {
      pending = this.#read(ref).finally(() => this.#inflight.delete(ref));
      this.#inflight.set(ref, pending);
    }
    return pending;
  }

  /** The bound of one whole read (login, metadata, data): `timeoutMs` from now, or the store closing. */
  #bound(): { signal: AbortSignal; deadline: number } {
    return { signal: AbortSignal.any([AbortSignal.timeout(this.#settings.timeoutMs), this.#closing.signal]), deadline: Date.now() + this.#settings.timeoutMs };
  }

  async #read(ref: string): Promise<Secret> {
    const { path, version: pinned } = parseVaultRef(ref);
    const where = `${this.#settings.mount}/${path}`;
    const cached = this.#cache.get(ref);
    const bound = this.#bound();
    const call = (deadline: { signal: AbortSignal; deadline: number }) => ({ signal: deadline.signal, deadlineMs: Math.max(1, deadline.deadline - Date.now()) });
    try {
      await this.#ensureLogin();
      if (cached && pinned === undefined) {
        // Cheap check first: is the version we hold still the current, live one?
        const metadata = await this.#call(() => this.#api.read(`${this.#settings.mount}/metadata/${path}`, call(bound)));
        if (metadata.status === 404) throw new KeyGoneError(`${where} no longer exists in Vault (its metadata was deleted)`);
        const current = currentVersion(metadata.body, where);
        if (current.version === cached.version && current.createdTime === cached.createdTime) {
          cached.confirmedAt = Date.now();
          return cached.secret;
        }
      }
      const query = pinned === undefined ? '' : `?version=${pinned}`;
      const response = await this.#call(() => this.#api.read(`${this.#settings.mount}/data/${path}${query}`, call(bound)));
      const data = response.body['data'] as
        | { data?: Record<string, unknown> | null; metadata?: { version?: unknown; created_time?: unknown; deletion_time?: unknown; destroyed?: unknown } }
        | null
        | undefined;
      if (response.status === 404 && !data?.metadata) throw new VaultReadError(`no secret at ${where}`, { absent: true });
      if (!data?.data || data.metadata?.destroyed === true || isPast(data.metadata?.deletion_time)) {
        throw new KeyGoneError(`no live version at ${where}${pinned ? ` (version ${pinned})` : ''}: it is deleted or destroyed`);
      }
      // Every string field is kept (`${key.sid}`, `key: path#field`); the configured field,
      // when present, is also the secret's single value (`${key}`).
      const value = readSecretValue(Object.fromEntries(Object.entries(data.data).filter(([, v]) => typeof v === 'string')));
      if (isProblem(value)) throw new VaultReadError(`the secret at ${where} ${value.problem}`);
      const version = Number(data.metadata?.version ?? 0);
      const createdTime = String(data.metadata?.created_time ?? '');
      const same = cached && cached.version === version && cached.createdTime === createdTime && cached.secret.holds(value);
      const secret = same ? cached.secret : new Secret('vault', where, value, { version: String(version), primary: this.#settings.field });
      if (cached && !same) {
        const replaced = cached.version === version;
        this.#log?.info({ key: secret.id, previous: cached.secret.id }, replaced ? 'key replaced in Vault under the same version number' : 'key rotated in Vault');
      }
      this.#cache.set(ref, { secret, version, createdTime, confirmedAt: Date.now() });
      this.stats.reads++;
      return secret;
    } catch (error) {
      this.stats.failures++;
      const why = describe(error, where);
      if (error instanceof KeyGoneError) {
        // Vault answered, and the answer is "no such key": a deleted key is revoked now,
        // not served for another staleness period.
        this.#cache.delete(ref);
        this.#log?.warn({ path: where, key: cached?.secret.id, err: why }, 'key deleted in Vault; it is unavailable');
        throw new KeyUnavailableError(ref, why, true);
      }
      const age = cached ? Date.now() - cached.confirmedAt : Infinity;
      if (cached && age <= this.#settings.maxStalenessMs) {
        this.#log?.warn({ key: cached.secret.id, ageMs: age, err: why }, 'Vault read failed; serving the cached key within its staleness limit');
        return cached.secret;
      }
      this.#log?.error({ path: where, err: why }, 'Vault read failed; the key is unavailable');
      const absent = (error instanceof VaultReadError && error.absent) || (error instanceof VaultStatusError && error.status === 404);
      throw new KeyUnavailableError(ref, why, absent);
    }
  }

  /**
   * A Vault call. A 403 means either that the policy refuses or that the token expired:
   * if the token no longer looks itself up, log in again once and retry.
   */
  async #call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (!(error instanceof VaultStatusError) || error.status !== 403 || this.#settings.auth.method === 'token') throw error;
      const tokenAlive = await this.#api.lookupSelf(this.#callBound()).then(
        () => true,
        () => false,
      );
      if (tokenAlive) throw error;
      this.#api.token = '';
      await this.#ensureLogin();
      return request();
    }
  }

  #callBound(): { signal: AbortSignal; deadlineMs: number } {
    return { signal: this.#closing.signal, deadlineMs: this.#settings.timeoutMs };
  }

  #ensureLogin(): Promise<void> {
    if (this.#api.token) return Promise.resolve();
    this.#login ??= this.#doLogin().finally(() => (this.#login = undefined));
    return this.#login;
  }

  async #doLogin(): Promise<void> {
    const auth = this.#settings.auth;
    let lease: Lease | undefined;
    try {
      if (auth.method === 'token') {
        const token = auth.tokenFile ? readFileSync(auth.tokenFile, 'utf8').trim() : (process.env['VAULT_TOKEN'] ?? '');
        if (!token) throw new VaultReadError(auth.tokenFile ? `the Vault token file ${auth.tokenFile} is empty` : 'no Vault token: set keys.vault.auth.tokenFile or VAULT_TOKEN');
        this.#api.token = token;
        const self = (await this.#api.lookupSelf(this.#callBound())).body['data'] as { ttl?: number; renewable?: boolean } | undefined;
        lease = { lease_duration: self?.ttl ?? 0, renewable: self?.renewable ?? false };
      } else if (auth.method === 'approle') {
        const response = await this.#api.login(auth.mount, { role_id: readFileSync(auth.roleIdFile, 'utf8').trim(), secret_id: readFileSync(auth.secretIdFile, 'utf8').trim() }, this.#callBound());
        lease = this.#takeToken(response.body);
      } else {
        // Re-read each time: the kubelet rotates projected service-account tokens.
        const response = await this.#api.login(auth.mount, { role: auth.role, jwt: readFileSync(auth.tokenFile, 'utf8').trim() }, this.#callBound());
        lease = this.#takeToken(response.body);
      }
    } catch (error) {
      this.#api.token = '';
      throw new VaultReadError(`Vault login (${auth.method}) failed: ${describe(error, 'login')}`);
    }
    this.stats.logins++;
    this.#log?.info({ method: auth.method, ttlSeconds: lease?.lease_duration ?? 0 }, 'logged in to Vault');
    this.#scheduleRenewal(lease);
  }

  #takeToken(body: Record<string, unknown>): Lease {
    const auth = body['auth'] as { client_token?: unknown; lease_duration?: number; renewable?: boolean } | undefined;
    if (typeof auth?.client_token !== 'string' || auth.client_token === '') throw new VaultReadError('the login answer carries no client token');
    this.#api.token = auth.client_token;
    return { ...(auth.lease_duration === undefined ? {} : { lease_duration: auth.lease_duration }), ...(auth.renewable === undefined ? {} : { renewable: auth.renewable }) };
  }

  /** Renew at two thirds of the token's TTL; if renewal fails, log in again. */
  #scheduleRenewal(lease: Lease | undefined): void {
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    const ttl = lease?.lease_duration ?? 0;
    if (ttl <= 0 || this.#closing.signal.aborted) return;
    this.#renewTimer = setTimeout(() => void this.#renew(Boolean(lease?.renewable)), Math.max(1000, (ttl * 1000 * 2) / 3));
    this.#renewTimer.unref();
  }

  async #renew(renewable: boolean): Promise<void> {
    try {
      if (!renewable) throw new VaultReadError('the token is not renewable');
      const response = await this.#api.renewSelf(this.#callBound());
      this.stats.renewals++;
      this.#scheduleRenewal(response.body['auth'] as Lease | undefined);
    } catch (error) {
      this.#log?.warn({ method: this.#settings.auth.method, err: describe(error, 'token renewal') }, 'Vault token renewal failed; logging in again');
      this.#api.token = '';
      await this.#ensureLogin().catch((e: unknown) => this.#log?.error({ err: (e as Error).message }, 'Vault login failed'));
    }
  }
}

export class VaultReadError extends Error {
  override readonly name = 'VaultReadError';
  readonly code = 'ERR_VAULT';
  /** Vault answered that there is no secret at the path. */
  readonly absent: boolean;

  constructor(message: string, options: { absent?: boolean } = {}) {
    super(message);
    this.absent = options.absent ?? false;
  }
}

/** The current version of a KV v2 metadata answer, and whether it is live. */
function currentVersion(body: Record<string, unknown>, where: string): { version: number; createdTime: string } {
  const data = body['data'] as { current_version?: unknown; versions?: Record<string, { created_time?: unknown; deletion_time?: unknown; destroyed?: unknown }> } | undefined;
  const version = Number(data?.current_version);
  if (!Number.isInteger(version) || version < 1) throw new VaultReadError(`the metadata of ${where} names no current version`);
  const entry = data?.versions?.[String(version)];
  if (entry && (entry.destroyed === true || isPast(entry.deletion_time))) throw new KeyGoneError(`version ${version} of ${where} is ${entry.destroyed === true ? 'destroyed' : 'deleted'}`);
  return { version, createdTime: String(entry?.created_time ?? '') };
}

/** KV v2's deletion_time: '' when live, a time (possibly ahead, for delete_version_after). */
function isPast(time: unknown): boolean {
  if (typeof time !== 'string' || time === '') return false;
  const at = Date.parse(time);
  return Number.isNaN(at) || at <= Date.now();
}

/**
 * A safe, actionable description of a failure. Vault's error bodies carry messages, not
 * secrets; transport errors carry their code and where, never the request's headers.
 */
function describe(error: unknown, where: string): string {
  if (error instanceof VaultReadError || error instanceof KeyGoneError || error instanceof VaultMalformedError) return error.message;
  if (error instanceof VaultStatusError) {
    const first = error.vaultError;
    switch (error.status) {
      case 403:
        return `permission denied at ${where}${first ? ` (${first})` : ''}`;
      case 404:
        return `no secret at ${where}`;
      case 503:
        return `Vault is sealed or unavailable (503)${first ? `: ${first}` : ''}`;
      default:
        return `Vault answered ${error.status} at ${where}${first ? `: ${first}` : ''}`;
    }
  }
  if (error instanceof BoundedRequestError) {
    if (error.failure === 'timeout' || error.failure === 'aborted') return `Vault did not answer in time (${error.message})`;
    return `Vault is unreachable${error.transportCode ? ` (${error.transportCode})` : ''}: ${error.message}`;
  }
  return `Vault is unreachable (${(error as Error)?.name ?? 'error'})`;
}
