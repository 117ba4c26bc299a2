/**
 * The few Vault (and OpenBao) HTTP API calls the key store makes: KV v2 data and metadata
 * reads, token lookup and renewal, AppRole and Kubernetes login. Spoken directly over
 * `boundedRequest` rather than through a client library, so that keybroker alone decides
 * the TLS options (a library that reads VAULT_SKIP_VERIFY from the environment turned
 * verification off for any value) and every call has an overall deadline.
 */
import { boundedRequest, type RequestTls } from '../lib/bounded-request.ts';

export interface VaultApiSettings {
  readonly address: string;
  readonly namespace?: string | undefined;
  readonly ca?: Buffer | undefined;
}

export interface VaultCallOptions {
  /** The bound of this call, in ms. */
  readonly deadlineMs: number;
  readonly signal?: AbortSignal | undefined;
}

export interface VaultAnswer {
  readonly status: number;
  /** The parsed JSON body; `{}` for an empty one. */
  readonly body: Record<string, unknown>;
}

/** Vault answered, but not with success. Carries Vault's first error message, never a secret. */
export class VaultStatusError extends Error {
  override readonly name = 'VaultStatusError';
  readonly code = 'ERR_VAULT_STATUS';
  readonly status: number;
  readonly vaultError: string | undefined;

  constructor(status: number, vaultError: string | undefined) {
    super(`Vault answered ${status}${vaultError ? `: ${vaultError}` : ''}`);
    this.status = status;
    this.vaultError = vaultError;
  }
}

/** Vault answers JSON; anything else is refused, not half-read. */
export class VaultMalformedError extends Error {
  override readonly name = 'VaultMalformedError';
  readonly code = 'ERR_VAULT_MALFORMED';
}

const MAX_ANSWER_BYTES = 1024 * 1024;

export class VaultApi {
  token = '';
  readonly #settings: VaultApiSettings;
  readonly #tls: RequestTls;

  constructor(settings: VaultApiSettings) {
    this.#settings = settings;
    this.#tls = settings.ca ? { ca: settings.ca } : {};
  }

  /** GET /v1/<path>. 404 answers are returned (KV v2 says "deleted" with one), others thrown. */
  read(path: string, options: VaultCallOptions): Promise<VaultAnswer> {
    return this.#call('GET', path, undefined, options, [404]);
  }

  lookupSelf(options: VaultCallOptions): Promise<VaultAnswer> {
    return this.#call('GET', 'auth/token/lookup-self', undefined, options);
  }

  renewSelf(options: VaultCallOptions): Promise<VaultAnswer> {
    return this.#call('POST', 'auth/token/renew-self', {}, options);
  }

  /** POST /v1/auth/<mount>/login: AppRole and Kubernetes alike. */
  login(mount: string, body: Record<string, string>, options: VaultCallOptions): Promise<VaultAnswer> {
    return this.#call('POST', `auth/${mount}/login`, body, options);
  }

  async #call(method: string, path: string, body: unknown, options: VaultCallOptions, alsoOk: readonly number[] = []): Promise<VaultAnswer> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.token) headers['x-vault-token'] = this.token;
    if (this.#settings.namespace) headers['x-vault-namespace'] = this.#settings.namespace;
    const response = await boundedRequest(`${this.#settings.address.replace(/\/+$/, '')}/v1/${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      tls: this.#tls,
      deadlineMs: options.deadlineMs,
      signal: options.signal,
      maxBytes: MAX_ANSWER_BYTES,
    });
    let parsed: unknown = {};
    if (response.body.trim() !== '') {
      try {
        parsed = JSON.parse(response.body);
      } catch {
        throw new VaultMalformedError(`Vault answered ${response.status} with a body that is not JSON`);
      }
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new VaultMalformedError(`Vault answered ${response.status} with JSON that is not an object`);
    const answer = parsed as Record<string, unknown>;
    if ((response.status >= 200 && response.status < 300) || alsoOk.includes(response.status)) return { status: response.status, body: answer };
    const errors = answer['errors'];
    throw new VaultStatusError(response.status, Array.isArray(errors) && typeof errors[0] === 'string' ? errors[0].slice(0, 200) : undefined);
  }
}
