/**
 * A trust domain's (or issuer's) JWT signing keys: a JWKS or SPIFFE bundle read from a
 * file or an HTTPS URL, refreshed on schedule and, rate-limited, when a token names an
 * unknown `kid`. A source that fails or serves something unparsable never replaces the
 * last good key set.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createLocalJWKSet, type JSONWebKeySet, type JWK } from 'jose';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { parseUriSans } from './x509-svid.ts';
import { boundedRequest } from '../lib/bounded-request.ts';

export type BundleFormat = 'jwks' | 'spiffe';

export type BundleSource =
  | { readonly file: string; readonly format?: BundleFormat | undefined }
  | {
      readonly url: string;
      readonly format?: BundleFormat | undefined;
      readonly refresh?: number | undefined;
      /** PEM roots for the endpoint's TLS; with `spiffeId`, the trust domain's X.509 bundle. */
      readonly ca?: string | undefined;
      /**
       * The SPIFFE bundle endpoint's `https_spiffe` profile: the server is authenticated by
       * this SPIFFE ID (its certificate's URI SAN) instead of a host name, against the
       * trust domain's own X.509 authorities — from `ca` at first, then from each bundle fetched.
       */
      readonly spiffeId?: string | undefined;
    };

export interface BundleOptions {
  readonly log?: Logger;
  /** Minimum time between refreshes triggered by unknown `kid`s. */
  readonly minRefreshMs?: number;
  /** How often a file source is checked for changes. */
  readonly fileCheckMs?: number;
  /** The whole of one fetch of a URL source, connect to last byte. */
  readonly fetchTimeoutMs?: number;
}

export interface ParsedBundle {
  readonly keys: JWK[];
  /** SPIFFE bundles say how often to refresh them. */
  readonly refreshHintMs?: number;
  /** X.509 authorities (PEM) a SPIFFE bundle carries, for the https_spiffe profile. */
  readonly x509Authorities?: string[];
}

const MAX_BUNDLE_BYTES = 1024 * 1024;
const DEFAULT_URL_REFRESH_MS = 5 * 60_000;
const DEFAULT_FETCH_TIMEOUT_MS = 5000;

export class BundleError extends Error {
  override readonly name = 'BundleError';
  readonly code = 'ERR_BUNDLE';
}

/** Parses a JWKS or SPIFFE bundle document; throws BundleError on anything doubtful. */
export function parseBundle(text: string, format: BundleFormat): ParsedBundle {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new BundleError('bundle is not JSON');
  }
  if (!doc || typeof doc !== 'object' || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw new BundleError('bundle has no "keys" array');
  }
  const keys: JWK[] = [];
  const x509Authorities: string[] = [];
  for (const [i, key] of (doc as { keys: unknown[] }).keys.entries()) {
    if (!key || typeof key !== 'object') throw new BundleError(`bundle key ${i} is not an object`);
    const jwk = key as JWK & { use?: string };
    if ('d' in jwk || 'k' in jwk) throw new BundleError(`bundle key ${i} holds private or symmetric key material`);
    if (format === 'spiffe' && jwk.use === 'x509-svid' && typeof jwk.x5c?.[0] === 'string') {
      x509Authorities.push(`-----BEGIN CERTIFICATE-----\n${jwk.x5c[0].replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`);
    }
    if (format === 'spiffe' ? jwk.use !== 'jwt-svid' : jwk.use !== undefined && jwk.use !== 'sig' && jwk.use !== 'jwt-svid') continue;
    if (typeof jwk.kid !== 'string' || jwk.kid === '') throw new BundleError(`bundle key ${i} has no "kid"`);
    if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') throw new BundleError(`bundle key ${i} ("${jwk.kid}") has kty "${String(jwk.kty)}"; RSA or EC expected`);
    // jose picks only keys whose `use` is "sig"; a SPIFFE bundle says "jwt-svid" instead.
    const { use: _use, ...signingKey } = jwk;
    keys.push(signingKey);
  }
  const hint = (doc as { spiffe_refresh_hint?: unknown }).spiffe_refresh_hint;
  return {
    keys,
    ...(typeof hint === 'number' && hint > 0 ? { refreshHintMs: hint * 1000 } : {}),
    ...(x509Authorities.length > 0 ? { x509Authorities } : {}),
  };
}

/** https_spiffe: the endpoint's certificate must carry exactly the expected SPIFFE ID. */
function spiffeServerIdentity(cert: PeerCertificate, spiffeId: string): Error | undefined {
  const uris = cert.subjectaltname ? parseUriSans(cert.subjectaltname) : [];
  return uris.length === 1 && uris[0] === spiffeId ? undefined : new BundleError(`the bundle endpoint is not ${spiffeId}`);
}

export class JwtBundle {
  readonly name: string;
  readonly #source: BundleSource;
  readonly #log: Logger | undefined;
  readonly #minRefreshMs: number;
  readonly #fetchTimeoutMs: number;
  readonly #closing = new AbortController();
  #kids: ReadonlySet<string> = new Set();
  #keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  #generation = 0;
  #lastRefresh = 0;
  #inflight: Promise<boolean> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ready: Promise<void>;
  #stats = { refreshes: 0, failures: 0 };
  /** When a key set was last installed (ms since the epoch); 0 before the first. */
  #loadedAt = 0;
  /** For https_spiffe: the trust domain's X.509 authorities, replaced by each good fetch. */
  #endpointRoots: string | Buffer | undefined;

  constructor(name: string, source: BundleSource, options: BundleOptions = {}) {
    this.name = name;
    this.#source = source;
    this.#log = options.log;
    this.#minRefreshMs = options.minRefreshMs ?? 10_000;
    this.#fetchTimeoutMs = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
    if ('url' in source && source.ca) this.#endpointRoots = readFileSync(source.ca);
    if ('file' in source) {
      // A file is local: its first read is synchronous and must succeed, so a bad
      // bundle file stops start-up (or a reload) with a clear message.
      this.#install(parseBundle(readFileSync(source.file, 'utf8'), source.format ?? 'jwks'));
      this.#ready = Promise.resolve();
      watchFile(source.file, { interval: options.fileCheckMs ?? 1000, persistent: false }, () => void this.refresh());
    } else {
      this.#ready = this.refresh().then(() => undefined);
    }
  }

  /** Resolves once the first load has been attempted (URL sources load in the background). */
  ready(): Promise<void> {
    return this.#ready;
  }

  get generation(): number {
    return this.#generation;
  }

  get stats(): Readonly<{ refreshes: number; failures: number }> {
    return this.#stats;
  }

  has(kid: string): boolean {
    return this.#kids.has(kid);
  }

  /** The key ids in force and when they were loaded, for the admin Status. */
  get loaded(): { readonly kids: readonly string[]; readonly at: number } {
    return { kids: [...this.#kids], at: this.#loadedAt };
  }

  /** jose's key lookup for the current key set, or undefined before the first good load. */
  keySet(): ReturnType<typeof createLocalJWKSet> | undefined {
    return this.#keySet;
  }

  /** Refresh because a token named a `kid` we lack; at most once per minRefreshMs. */
  async refreshForUnknownKid(): Promise<boolean> {
    if (Date.now() - this.#lastRefresh < this.#minRefreshMs) return false;
    return this.refresh();
  }

  /** Re-reads the source. Resolves to whether a new key set was installed. */
  refresh(): Promise<boolean> {
    this.#inflight ??= this.#load().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  close(): void {
    this.#closing.abort(new Error('the bundle is closed'));
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if ('file' in this.#source) unwatchFile(this.#source.file);
  }

  async #load(): Promise<boolean> {
    this.#lastRefresh = Date.now();
    const source = this.#source;
    let parsed: ParsedBundle | undefined;
    try {
      const text = 'file' in source ? await readFile(source.file, 'utf8') : await fetchText(source.url, this.#endpointRoots, source.spiffeId, this.#fetchTimeoutMs, this.#closing.signal);
      parsed = parseBundle(text, source.format ?? 'jwks');
      this.#install(parsed);
      if ('url' in source && source.spiffeId && parsed.x509Authorities) this.#endpointRoots = parsed.x509Authorities.join('');
      this.#stats.refreshes++;
      return true;
    } catch (error) {
      this.#stats.failures++;
      this.#log?.warn({ bundle: this.name, err: (error as Error).message, keys: this.#kids.size }, 'bundle refresh failed; keeping the last good keys');
      return false;
    } finally {
      if ('url' in source && !this.#closing.signal.aborted) this.#schedule(parsed?.refreshHintMs ?? source.refresh ?? DEFAULT_URL_REFRESH_MS);
    }
  }

  #install(parsed: ParsedBundle): void {
    const kids = new Set(parsed.keys.map((k) => k.kid as string));
    const changed = kids.size !== this.#kids.size || [...kids].some((k) => !this.#kids.has(k)) || this.#generation === 0;
    this.#keySet = createLocalJWKSet({ keys: parsed.keys } as JSONWebKeySet);
    this.#kids = kids;
    this.#loadedAt = Date.now();
    if (changed) this.#generation++;
    this.#log?.debug({ bundle: this.name, kids: [...kids] }, 'bundle loaded');
  }

  #schedule(ms: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.refresh(), Math.max(ms, 1000));
    this.#timer.unref();
  }
}

async function fetchText(url: string, ca: string | Buffer | undefined, spiffeId: string | undefined, deadlineMs: number, signal: AbortSignal): Promise<string> {
  const tls = {
    ...(ca ? { ca } : {}),
    ...(spiffeId ? { checkServerIdentity: (_host: string, cert: PeerCertificate) => spiffeServerIdentity(cert, spiffeId) } : {}),
  };
  let response: Awaited<ReturnType<typeof boundedRequest>>;
  try {
    response = await boundedRequest(url, { tls, deadlineMs, signal, maxBytes: MAX_BUNDLE_BYTES });
  } catch (error) {
    throw new BundleError((error as Error).message);
  }
  if (response.status !== 200) throw new BundleError(`GET ${url} answered ${response.status}`);
  return response.body;
}
