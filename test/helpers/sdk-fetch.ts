/**
 * A `fetch` for the real SDKs (OpenAI, Anthropic and MCP clients all accept one as an
 * option) that reaches the test gateway: every host name resolves to 127.0.0.1 and the
 * gateway's certificate is checked against the test CA, so an SDK can be given
 * `https://gateway.local:PORT/...` as its base URL exactly as a deployment would, with
 * nothing else about it changed. With an X.509-SVID it presents it (the mTLS listener).
 * The response body is handed over as it arrives, so a streamed answer is seen streaming.
 */
import { request } from 'node:https';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';

const toLoopback: LookupFunction = (_host, options, callback) => {
  if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};

/** Statuses whose Response may not have a body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

export function gatewayFetch(gatewayCa: string, svid?: { cert: string; key: string }): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    const body = init.body === undefined || init.body === null ? undefined : typeof init.body === 'string' ? init.body : Buffer.from(await new Response(init.body).arrayBuffer());
    return new Promise<Response>((resolve, reject) => {
      const tls = { ca: gatewayCa, ...(svid ? { cert: svid.cert, key: svid.key } : {}) };
      const req = request(url, { method: init.method ?? 'GET', headers: Object.fromEntries(headers), ...tls, lookup: toLoopback, agent: false, timeout: 10_000 }, (res) => {
        const out = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const status = res.statusCode ?? 0;
        if (NULL_BODY.has(status)) res.resume();
        resolve(new Response(NULL_BODY.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, headers: out }));
      });
      req.on('timeout', () => req.destroy(new Error('SDK request through the gateway timed out')));
      req.on('error', reject);
      init.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')));
      req.end(body);
    });
  }) as typeof fetch;
}
