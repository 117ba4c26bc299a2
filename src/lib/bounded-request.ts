/**
 * One HTTP(S) request whose whole life — connect, TLS, send, every byte of the answer — is
 * bounded by one deadline, and by the caller's AbortSignal. A socket timeout alone is not
 * enough: it fires only while the socket is idle, so a server that drips one byte a second
 * would hold the request (and everyone sharing it) for ever.
 *
 * TLS is set here, whole, for every request: certificates are verified (against `ca` when
 * given, the system roots otherwise), TLS 1.2 at least, on a connection of its own. No
 * environment variable — NODE_TLS_REJECT_UNAUTHORIZED, a client library's SKIP_VERIFY, a
 * proxy variable — changes any of it: explicit options win over Node's environment defaults,
 * and a fresh agent never takes a proxy from the environment.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { PeerCertificate } from 'node:tls';

export interface RequestTls {
  /** PEM roots to verify the server against, instead of the system's. */
  readonly ca?: string | Buffer | undefined;
  /** Replaces the host-name check (e.g. a SPIFFE ID check); returns an Error to refuse. */
  readonly checkServerIdentity?: ((host: string, cert: PeerCertificate) => Error | undefined) | undefined;
}

export interface BoundedRequestOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly tls?: RequestTls;
  /** The whole request, first byte to last, in ms. */
  readonly deadlineMs: number;
  /** The caller's own bound (a Check's deadline, a shutdown): aborts the request with it. */
  readonly signal?: AbortSignal | undefined;
  /** An answer larger than this is refused. */
  readonly maxBytes: number;
}

export interface BoundedResponse {
  readonly status: number;
  readonly body: string;
}

export type RequestFailure = 'timeout' | 'aborted' | 'too_large' | 'transport';

/** Never carries a header, a body or a URL's query: only what failed, and where. */
export class BoundedRequestError extends Error {
  override readonly name = 'BoundedRequestError';
  readonly code = 'ERR_BOUNDED_REQUEST';
  readonly failure: RequestFailure;
  /** The transport's error code (ECONNREFUSED, CERT_HAS_EXPIRED…), when it had one. */
  readonly transportCode: string | undefined;

  constructor(failure: RequestFailure, message: string, transportCode?: string) {
    super(message);
    this.failure = failure;
    this.transportCode = transportCode;
  }
}

export function boundedRequest(url: string, options: BoundedRequestOptions): Promise<BoundedResponse> {
  const target = new URL(url);
  const where = `${options.method ?? 'GET'} ${target.origin}${target.pathname}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    let req: ClientRequest | undefined;
    const finish = (error: BoundedRequestError | undefined, response?: BoundedResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        req?.destroy();
        reject(error);
      } else resolve(response as BoundedResponse);
    };
    const timer = setTimeout(() => finish(new BoundedRequestError('timeout', `${where} did not complete within ${options.deadlineMs} ms`)), options.deadlineMs);
    const onAbort = () => finish(new BoundedRequestError('aborted', `${where} was abandoned: ${abortReason(options.signal)}`));
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const common = {
      method: options.method ?? 'GET',
      headers: { accept: 'application/json', ...options.headers, ...(options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) }) },
      // A connection of its own, from an agent that takes nothing from the environment.
      agent: false as const,
    };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) finish(new BoundedRequestError('too_large', `${where} answered more than ${options.maxBytes} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error: NodeJS.ErrnoException) => finish(transportError(where, error)));
    };
    try {
      req =
        target.protocol === 'https:'
          ? httpsRequest(
              target,
              {
                ...common,
                rejectUnauthorized: true,
                minVersion: 'TLSv1.2',
                ...(options.tls?.ca ? { ca: options.tls.ca } : {}),
                ...(options.tls?.checkServerIdentity ? { checkServerIdentity: options.tls.checkServerIdentity } : {}),
              },
              onResponse,
            )
          : httpRequest(target, common, onResponse);
    } catch (error) {
      finish(transportError(where, error as NodeJS.ErrnoException));
      return;
    }
    req.on('error', (error: NodeJS.ErrnoException) => finish(transportError(where, error)));
    req.end(options.body);
  });
}

function transportError(where: string, error: NodeJS.ErrnoException): BoundedRequestError {
  // The error object may hold the request (and its headers): keep only its code and message.
  const code = typeof error?.code === 'string' ? error.code : undefined;
  return new BoundedRequestError('transport', `${where} failed${code ? ` (${code})` : ''}: ${String(error?.message ?? error).slice(0, 200)}`, code);
}

function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
}
