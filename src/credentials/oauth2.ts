/**
 * OAuth2 client credentials (RFC 6749 §4.4): keybroker exchanges a destination's client
 * secret (or, with private_key_jwt, an assertion signed by its private key, RFC 7523) for
 * an access token at the token endpoint and injects the token as Bearer.
 *
 * - Cached per (destination, token endpoint, client, scopes, audience, client-secret
 *   version) until shortly before it expires; a token is never served past
 *   `expires_in - margin`.
 * - Refreshed ahead, in the background, at 75–85% of its lifetime (jittered, so replicas
 *   and destinations do not refresh in step), and only while it is being used: a token
 *   nobody asked for since the last refresh is dropped instead.
 * - Single-flight: however many Checks want a token at once, one request goes out.
 * - Bounded: a request has `timeout` for the whole exchange (connect, slow headers, a
 *   dripping body), a body larger than 64 KiB is refused; each Check waits at most until
 *   its own deadline. Failure is KeyUnavailableError, which the Check denies as
 *   `key_unavailable` (503): fail closed.
 * - The token is a Secret (id `oauth2:<client id>#<fingerprint>`); neither it nor the
 *   client secret appears in a log line or an error.
 */
import { readFileSync } from 'node:fs';
import { BoundedRequestError, boundedRequest, type BoundedResponse } from '../lib/bounded-request.ts';
import { clientAssertion } from './client-assertion.ts';
import type { Logger } from 'pino';
import { checkKeyValue, Secret } from './secret.ts';
import { KeyUnavailableError } from './store.ts';
import type { OAuth2Settings } from '../model/check.ts';

/** `inject: { oauth2: … }` as the config schema accepts it. */
export type OAuth2Spec = OAuth2Settings;

export interface OAuth2Stats {
  /** Token requests sent. */
  requests: number;
  failures: number;
}

interface Entry {
  token?: Secret;
  /** When the token must no longer be served (ms since the epoch). */
  usableUntil: number;
  refreshTimer?: NodeJS.Timeout;
  inflight?: Promise<Secret>;
  /** Whether a Check used the token since it was fetched. */
  used: boolean;
}

const MAX_BODY = 64 * 1024;
/** Without expires_in (RFC 6749 §5.1: RECOMMENDED), a token is assumed to live this long. */
const DEFAULT_LIFETIME_MS = 5 * 60_000;

export class OAuth2Tokens {
  readonly stats: OAuth2Stats = { requests: 0, failures: 0 };
  readonly #entries = new Map<string, Entry>();
  readonly #log: Logger | undefined;
  readonly #cas = new Map<string, Buffer>();
  #closed = false;
  readonly #closing = new AbortController();

  constructor(options: { log?: Logger } = {}) {
    this.#log = options.log;
  }

  /**
   * The access token for `destination`, now if cached, else once fetched. `deadline`
   * (ms since the epoch) bounds this caller's wait; the shared fetch carries on for the
   * others and the cache.
   */
  token(destination: string, spec: OAuth2Spec, clientSecret: Secret, deadline?: number): Secret | Promise<Secret> {
    const cacheKey = [destination, spec.tokenUrl, spec.clientId, spec.scopes.join(' '), spec.audience ?? '', clientSecret.id].join('\n');
    let entry = this.#entries.get(cacheKey);
    if (entry?.token && Date.now() < entry.usableUntil) {
      entry.used = true;
      return entry.token;
    }
    if (!entry) this.#entries.set(cacheKey, (entry = { usableUntil: 0, used: true }));
    entry.used = true;
    const pending = this.#fetch(cacheKey, entry, destination, spec, clientSecret);
    return deadline === undefined ? pending : withDeadline(pending, deadline, destination);
  }

  close(): void {
    this.#closed = true;
    this.#closing.abort();
    for (const entry of this.#entries.values()) clearTimeout(entry.refreshTimer);
    this.#entries.clear();
  }

  #fetch(cacheKey: string, entry: Entry, destination: string, spec: OAuth2Spec, clientSecret: Secret): Promise<Secret> {
    entry.inflight ??= this.#exchange(destination, spec, clientSecret)
      .then(({ token, lifetimeMs }) => {
        const now = Date.now();
        // Never served in the last tenth of its life (at most 30 s): clocks and the trip upstream.
        entry.token = token;
        entry.usableUntil = now + lifetimeMs - Math.min(30_000, lifetimeMs / 10);
        entry.used = false;
        this.#scheduleRefresh(cacheKey, entry, destination, spec, clientSecret, lifetimeMs * (0.75 + Math.random() * 0.1));
        return token;
      })
      .catch((error: unknown) => {
        this.stats.failures++;
        const why = (error as Error).message;
        this.#log?.error({ destination, tokenUrl: spec.tokenUrl, clientId: spec.clientId, err: why }, 'OAuth2 token request failed');
        // A background refresh that fails leaves a still-usable token in place; try again soon.
        if (entry.token && Date.now() < entry.usableUntil) {
          this.#scheduleRefresh(cacheKey, entry, destination, spec, clientSecret, Math.max(1000, Math.min(10_000, (entry.usableUntil - Date.now()) / 4)));
          return entry.token;
        }
        throw new KeyUnavailableError(`${destination} (oauth2 ${spec.clientId})`, why);
      })
      .finally(() => (entry.inflight = undefined));
    return entry.inflight;
  }

  #scheduleRefresh(cacheKey: string, entry: Entry, destination: string, spec: OAuth2Spec, clientSecret: Secret, inMs: number): void {
    clearTimeout(entry.refreshTimer);
    if (this.#closed) return;
    entry.refreshTimer = setTimeout(() => {
      // Nobody asked since the last fetch: let it lapse rather than refresh it forever.
      if (!entry.used) this.#entries.delete(cacheKey);
      else void this.#fetch(cacheKey, entry, destination, spec, clientSecret).catch(() => undefined);
    }, inMs);
    entry.refreshTimer.unref();
  }

  /** One token request (RFC 6749 §4.4.2) and its answer (§5.1, §5.2). */
  async #exchange(destination: string, spec: OAuth2Spec, clientSecret: Secret): Promise<{ token: Secret; lifetimeMs: number }> {
    this.stats.requests++;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (spec.scopes.length > 0) form.set('scope', spec.scopes.join(' '));
    if (spec.audience) form.set('audience', spec.audience);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (spec.auth === 'private_key_jwt') {
      form.set('client_id', spec.clientId);
      form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      form.set('client_assertion', await clientAssertion(spec, clientSecret));
    } else if (spec.auth === 'client_secret_basic') {
      // §2.3.1: the id and secret are form-encoded before they are joined and base64-encoded.
      const pair = `${formEncode(spec.clientId)}:${formEncode(clientSecret.reveal())}`;
      headers['authorization'] = `Basic ${Buffer.from(pair).toString('base64')}`;
    } else {
      form.set('client_id', spec.clientId);
      form.set('client_secret', clientSecret.reveal());
    }
    const { status, body } = await this.#post(spec, headers, form.toString());
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(body) as Record<string, unknown>;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    } catch {
      throw new Error(`the token endpoint answered ${status} with a body that is not a JSON object`);
    }
    if (status !== 200) {
      const code = typeof parsed['error'] === 'string' && /^[\x20-\x7e]{1,64}$/.test(parsed['error']) ? parsed['error'] : 'no error code';
      throw new Error(`the token endpoint refused the client (${status}, ${code})`);
    }
    const token = parsed['access_token'];
    const problem = checkKeyValue(token);
    if (problem) throw new Error(`the token endpoint's access_token ${problem}`);
    const type = parsed['token_type'];
    if (typeof type !== 'string' || type.toLowerCase() !== 'bearer') throw new Error('the token endpoint issued a token that is not of type Bearer');
    const expiresIn = parsed['expires_in'];
    if (expiresIn !== undefined && (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0)) {
      throw new Error('the token endpoint answered an expires_in that is not a positive number of seconds');
    }
    const lifetimeMs = expiresIn === undefined ? DEFAULT_LIFETIME_MS : Math.min(expiresIn * 1000, 24 * 3600_000);
    const secret = new Secret('oauth2', spec.clientId, token as string);
    this.#log?.info({ destination, key: secret.id, expiresInSeconds: Math.round(lifetimeMs / 1000) }, 'OAuth2 access token issued');
    return { token: secret, lifetimeMs };
  }

  /** POST with one deadline over the whole exchange: connect, headers, every byte of the body. */
  async #post(spec: OAuth2Spec, headers: Record<string, string>, body: string): Promise<BoundedResponse> {
    try {
      return await boundedRequest(spec.tokenUrl, {
        method: 'POST',
        headers,
        body,
        tls: { ca: spec.ca ? this.#ca(spec.ca) : undefined },
        deadlineMs: spec.timeout,
        signal: this.#closing.signal,
        maxBytes: MAX_BODY,
      });
    } catch (error) {
      if (!(error instanceof BoundedRequestError)) throw error;
      switch (error.failure) {
        case 'timeout':
          throw new Error(`the token endpoint did not answer within ${spec.timeout} ms`);
        case 'too_large':
          throw new Error(`the token endpoint's answer is larger than ${MAX_BODY} bytes`);
        case 'aborted':
          throw new Error('keybroker is shutting down');
        default:
          throw new Error(`the token endpoint is unreachable${error.transportCode ? ` (${error.transportCode})` : ''}`);
      }
    }
  }

  #ca(file: string): Buffer {
    let ca = this.#cas.get(file);
    if (!ca) this.#cas.set(file, (ca = readFileSync(file)));
    return ca;
  }
}

/** application/x-www-form-urlencoded, as RFC 6749 Appendix B asks for the Basic pair. */
function formEncode(text: string): string {
  return new URLSearchParams({ x: text }).toString().slice(2);
}

function withDeadline(pending: Promise<Secret>, deadline: number, destination: string): Promise<Secret> {
  const left = deadline - Date.now();
  if (left <= 0) return Promise.reject(new KeyUnavailableError(destination, 'no time left before the Check deadline to fetch an OAuth2 token'));
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KeyUnavailableError(destination, 'the OAuth2 token did not arrive before the Check deadline')), left);
  });
  return Promise.race([pending, expired]).finally(() => clearTimeout(timer));
}
