/**
 * A fake provider API: HTTPS under its own CA, recording exactly what it receives (raw
 * header list, so duplicates show), answering JSON, or a server-sent-event stream on
 * requests that accept `text/event-stream` or ask for `"stream": true`. A stand-in for api.openai.com and
 * api.anthropic.com, which cannot be reached here; the tests and `npm run demo` use it.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Issued } from './dev-pki.ts';

export interface Received {
  readonly method: string;
  readonly path: string;
  /** [name, value] pairs exactly as received, names lower-cased. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
}

export interface FakeProvider {
  readonly name: string;
  readonly port: number;
  readonly received: Received[];
  /** All values received for a header, across duplicates. */
  headerValues(request: Received, name: string): string[];
  close(): Promise<void>;
}

export const SSE_EVENTS = Array.from({ length: 20 }, (_, i) => `data: {"id":${i},"delta":"chunk-${i}-${'x'.repeat(100)}"}\n\n`);

/** What the provider answers with (JSON); by default `{provider, ok: true}`. */
export type Responder = (request: Received) => unknown;

export async function startFakeProvider(
  name: string,
  certificate: Pick<Issued, 'cert' | 'key'>,
  respond?: Responder,
  listen: { host: string; port: number } = { host: '127.0.0.1', port: 0 },
): Promise<FakeProvider> {
  const received: Received[] = [];
  const server: Server = createServer({ cert: certificate.cert, key: certificate.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Array<[string, string]> = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
      const request: Received = { method: req.method ?? '', path: req.url ?? '', headers, body: Buffer.concat(chunks).toString() };
      received.push(request);
      if (req.headers.accept === 'text/event-stream' || /"stream"\s*:\s*true/.test(request.body)) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        let i = 0;
        const timer = setInterval(() => {
          if (i < SSE_EVENTS.length) res.write(SSE_EVENTS[i++]);
          else {
            clearInterval(timer);
            res.end('data: [DONE]\n\n');
          }
        }, 5);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(respond ? respond(request) : { provider: name, ok: true }));
    });
  });
  await new Promise<void>((resolve) => server.listen(listen.port, listen.host, resolve));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    received,
    headerValues: (request, header) => request.headers.filter(([n]) => n === header).map(([, v]) => v),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
