/**
 * Keys from HashiCorp Vault's KV v2, through node-vault. Values are held in memory and
 * refreshed ahead of need: every `refreshMs` the store reads each key's metadata and
 * fetches the data only when `current_version` moved, so a rotation is served within one
 * interval. While Vault is unreachable, sealed or refusing, a cached value is served up to
 * `maxStalenessMs` old, then the key is unavailable (a 503 denial) — never a request
 * without a key. Key ids carry the KV version: `vault:secret/openai/prod#7`.
 *
 * Nothing secret leaves this module in an error or a log line: not the Vault token, not a
 * secret_id, not a value. node-vault's own debug output is switched off for that reason.
 */
import { readFileSync } from 'node:fs';
import createVaultClient from 'node-vault';
import type { Logger } from 'pino';
import { checkKeyValue, Secret } from './secret.ts';
import { KeyUnavailableError, type KeyStore } from './store.ts';

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

interface CachedKey {
  secret: Secret;
  version: number;
  /** When Vault last confirmed this value (ms since the epoch). */
  confirmedAt: number;
}

interface VaultClient {
  token: string;
  read(path: string, options?: object): Promise<{ data?: Record<string, unknown> }>;
  tokenLookupSelf(): Promise<{ data?: { ttl?: number; renewable?: boolean } }>;
  tokenRenewSelf(args?: object): Promise<{ auth?: { lease_duration?: number; renewable?: boolean } }>;
  approleLogin(args: object): Promise<{ auth?: { lease_duration?: number; renewable?: boolean } }>;
  kubernetesLogin(args: object): Promise<{ auth?: { lease_duration?: number; renewable?: boolean } }>;
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
  readonly #client: VaultClient;
  readonly #cache = new Map<string, CachedKey>();
  readonly #inflight = new Map<string, Promise<Secret>>();
  readonly #refresher: NodeJS.Timeout;
  #renewTimer: NodeJS.Timeout | undefined;
  #login: Promise<void> | undefined;
  #closed = false;

  constructor(settings: VaultSettings, options: { log?: Logger } = {}) {
    this.#settings = settings;
    this.#log = options.log;
    this.#client = createVaultClient({
      apiVersion: 'v1',
      endpoint: settings.address,
      ...(settings.namespace ? { namespace: settings.namespace } : {}),
      requestOptions: { timeout: settings.timeoutMs, ...(settings.caFile ? { ca: readFileSync(settings.caFile) } : {}) },
      debug: () => {},
    }) as unknown as VaultClient;
    this.#client.token = '';
    this.#refresher = setInterval(() => void this.refreshAll(), settings.refreshMs);
    this.#refresher.unref();
  }

  /** Logs in and reads these keys now, so that the first Checks find them cached. */
  async warm(refs: readonly string[]): Promise<void> {
    await Promise.all(refs.map((ref) => this.#fetch(ref).catch(() => undefined)));
  }

  get(ref: string): Secret | Promise<Secret> {
    const cached = this.#cache.get(ref);
    if (cached && Date.now() - cached.confirmedAt <= this.#settings.maxStalenessMs) return cached.secret;
    return this.#fetch(ref);
  }

  /** How old the oldest cached value is, in ms (for the staleness metric). */
  staleness(): number {
    let oldest = 0;
    for (const entry of this.#cache.values()) oldest = Math.max(oldest, Date.now() - entry.confirmedAt);
    return oldest;
  }

  /** Re-checks every cached key: metadata first, data only when the version moved. */
  async refreshAll(): Promise<void> {
    await Promise.all([...this.#cache.keys()].map((ref) => this.#fetch(ref).catch(() => undefined)));
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#refresher);
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
  }

  /** One read at a time per key: concurrent Checks share it. */
  #fetch(ref: string): Promise<Secret> {
    let pending = this.#inflight.get(ref);
    if (!pending) {
      pending = this.#read(ref).finally(() => this.#inflight.delete(ref));
      this.#inflight.set(ref, pending);
    }
    return pending;
  }

  async #read(ref: string): Promise<Secret> {
    const { path, version: pinned } = parseVaultRef(ref);
    const where = `${this.#settings.mount}/${path}`;
    const cached = this.#cache.get(ref);
    try {
      await this.#ensureLogin();
      if (cached && pinned === undefined) {
        // Cheap check first: has the secret moved since we read it?
        const metadata = await this.#call(() => this.#client.read(`${this.#settings.mount}/metadata/${path}`));
        const current = Number((metadata.data as { current_version?: unknown } | undefined)?.current_version);
        if (current === cached.version) {
          cached.confirmedAt = Date.now();
          return cached.secret;
        }
      }
      const query = pinned === undefined ? '' : `?version=${pinned}`;
      const response = await this.#call(() => this.#client.read(`${this.#settings.mount}/data/${path}${query}`));
      const data = response.data as { data?: Record<string, unknown> | null; metadata?: { version?: number } } | undefined;
      if (!data?.data) throw new VaultReadError(`no live version at ${where}${pinned ? ` (version ${pinned})` : ''}: it is deleted or destroyed`);
      const value = data.data[this.#settings.field];
      if (value === undefined) throw new VaultReadError(`the secret at ${where} has no field "${this.#settings.field}"`);
      const problem = checkKeyValue(value);
      if (problem) throw new VaultReadError(`field "${this.#settings.field}" of ${where} ${problem}`);
      const version = Number(data.metadata?.version ?? 0);
      const secret = cached && cached.version === version ? cached.secret : new Secret('vault', where, value as string, String(version));
      if (cached && cached.version !== version) this.#log?.info({ key: secret.id, previous: cached.secret.id }, 'key rotated in Vault');
      this.#cache.set(ref, { secret, version, confirmedAt: Date.now() });
      this.stats.reads++;
      return secret;
    } catch (error) {
      this.stats.failures++;
      const why = describe(error, where);
      const age = cached ? Date.now() - cached.confirmedAt : Infinity;
      if (cached && age <= this.#settings.maxStalenessMs) {
        this.#log?.warn({ key: cached.secret.id, ageMs: age, err: why }, 'Vault read failed; serving the cached key within its staleness limit');
        return cached.secret;
      }
      this.#log?.error({ path: where, err: why }, 'Vault read failed; the key is unavailable');
      throw new KeyUnavailableError(ref, why);
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
      if (statusOf(error) !== 403 || this.#settings.auth.method === 'token') throw error;
      const tokenAlive = await this.#client.tokenLookupSelf().then(() => true, () => false);
      if (tokenAlive) throw error;
      this.#client.token = '';
      await this.#ensureLogin();
      return request();
    }
  }

  #ensureLogin(): Promise<void> {
    if (this.#client.token) return Promise.resolve();
    this.#login ??= this.#doLogin().finally(() => (this.#login = undefined));
    return this.#login;
  }

  async #doLogin(): Promise<void> {
    const auth = this.#settings.auth;
    let lease: { lease_duration?: number; renewable?: boolean } | undefined;
    try {
      if (auth.method === 'token') {
        const token = auth.tokenFile ? readFileSync(auth.tokenFile, 'utf8').trim() : (process.env['VAULT_TOKEN'] ?? '');
        if (!token) throw new VaultReadError(auth.tokenFile ? `the Vault token file ${auth.tokenFile} is empty` : 'no Vault token: set keys.vault.auth.tokenFile or VAULT_TOKEN');
        this.#client.token = token;
        const self = await this.#client.tokenLookupSelf();
        lease = { lease_duration: self.data?.ttl ?? 0, renewable: self.data?.renewable ?? false };
      } else if (auth.method === 'approle') {
        const response = await this.#client.approleLogin({
          mount_point: auth.mount,
          role_id: readFileSync(auth.roleIdFile, 'utf8').trim(),
          secret_id: readFileSync(auth.secretIdFile, 'utf8').trim(),
        });
        lease = response.auth;
      } else {
        // Re-read each time: the kubelet rotates projected service-account tokens.
        const response = await this.#client.kubernetesLogin({ mount_point: auth.mount, role: auth.role, jwt: readFileSync(auth.tokenFile, 'utf8').trim() });
        lease = response.auth;
      }
    } catch (error) {
      this.#client.token = '';
      throw new VaultReadError(`Vault login (${auth.method}) failed: ${describe(error, 'login')}`);
    }
    this.stats.logins++;
    this.#log?.info({ method: auth.method, ttlSeconds: lease?.lease_duration ?? 0 }, 'logged in to Vault');
    this.#scheduleRenewal(lease);
  }

  /** Renew at two thirds of the token's TTL; if renewal fails, log in again. */
  #scheduleRenewal(lease: { lease_duration?: number; renewable?: boolean } | undefined): void {
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    const ttl = lease?.lease_duration ?? 0;
    if (ttl <= 0 || this.#closed) return;
    this.#renewTimer = setTimeout(() => void this.#renew(Boolean(lease?.renewable)), Math.max(1000, (ttl * 1000 * 2) / 3));
    this.#renewTimer.unref();
  }

  async #renew(renewable: boolean): Promise<void> {
    try {
      if (!renewable) throw new VaultReadError('the token is not renewable');
      const response = await this.#client.tokenRenewSelf();
      this.stats.renewals++;
      this.#scheduleRenewal(response.auth);
    } catch (error) {
      this.#log?.warn({ method: this.#settings.auth.method, err: describe(error, 'token renewal') }, 'Vault token renewal failed; logging in again');
      this.#client.token = '';
      await this.#ensureLogin().catch((e: unknown) => this.#log?.error({ err: (e as Error).message }, 'Vault login failed'));
    }
  }
}

export class VaultReadError extends Error {
  override readonly name = 'VaultReadError';
  readonly code = 'ERR_VAULT';
}

function statusOf(error: unknown): number | undefined {
  return (error as { response?: { statusCode?: number } })?.response?.statusCode;
}

/**
 * A safe, actionable description of a failure. Vault's error bodies carry messages, not
 * secrets; transport errors are reduced to their code, because their objects hold the
 * request (and its X-Vault-Token header).
 */
function describe(error: unknown, where: string): string {
  if (error instanceof VaultReadError) return error.message;
  const status = statusOf(error);
  const errors = (error as { response?: { body?: { errors?: unknown } } })?.response?.body?.errors;
  const first = Array.isArray(errors) && typeof errors[0] === 'string' ? errors[0].slice(0, 200) : undefined;
  switch (status) {
    case 403: return `permission denied at ${where}${first ? ` (${first})` : ''}`;
    case 404: return `no secret at ${where}`;
    case 503: return `Vault is sealed or unavailable (503)${first ? `: ${first}` : ''}`;
    case undefined: {
      const code = (error as { code?: unknown })?.code;
      return `Vault is unreachable${typeof code === 'string' ? ` (${code})` : ''}`;
    }
    default: return `Vault answered ${status} at ${where}${first ? `: ${first}` : ''}`;
  }
}
