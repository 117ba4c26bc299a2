/**
 * A local OAuth2 token endpoint (RFC 6749 §4.4) on loopback, plain HTTP or HTTPS under a
 * test CA: it issues canary access tokens, records what it was sent, and can be told to
 * fail in the ways real ones do (refuse, hang, drip, flood, answer garbage).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Issued } from '../../scripts/dev-pki.ts';
import { CANARY_ACCESS_TOKEN } from './canary.ts';

export type TokenEndpointMode = 'ok' | 'refuse' | 'hang' | 'drip' | 'flood' | 'garbage' | 'not-bearer';

export interface TokenRequest {
  readonly authorization: string | undefined;
  readonly form: URLSearchParams;
}

export interface TokenEndpoint {
  readonly url: string;
  readonly requests: TokenRequest[];
  mode: TokenEndpointMode;
  /** expires_in of the next tokens, in seconds. */
  expiresIn: number;
  /** Delay before answering, in ms. */
  delayMs: number;
  /** The last token issued. */
  lastToken(): string;
  close(): Promise<void>;
}

export async function startTokenEndpoint(options: { tls?: Issued; host?: string } = {}): Promise<TokenEndpoint> {
  let issued = 0;
  const requests: TokenRequest[] = [];
  const endpoint = { mode: 'ok' as TokenEndpointMode, expiresIn: 3600, delayMs: 0 };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ authorization: req.headers.authorization, form: new URLSearchParams(Buffer.concat(chunks).toString()) });
      setTimeout(() => answer(res), endpoint.delayMs);
    });
  };
  const answer = (res: ServerResponse) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    switch (endpoint.mode) {
      case 'refuse':
        return json(401, { error: 'invalid_client', error_description: 'client authentication failed' });
      case 'hang':
        return; // never answers
      case 'drip': {
        res.writeHead(200, { 'content-type': 'application/json' });
        const timer = setInterval(() => (res.writableEnded ? clearInterval(timer) : res.write(' ')), 50);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case 'flood':
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(`{"access_token":"${'x'.repeat(200_000)}","token_type":"Bearer"}`);
      case 'garbage':
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end('<html>login</html>');
      case 'not-bearer':
        return json(200, { access_token: `${CANARY_ACCESS_TOKEN}-mac`, token_type: 'mac', expires_in: endpoint.expiresIn });
      default:
        issued++;
        return json(200, { access_token: `${CANARY_ACCESS_TOKEN}-${issued}`, token_type: 'Bearer', expires_in: endpoint.expiresIn });
    }
  };
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(endpoint, {
    url: `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/oauth2/token`,
    requests,
    lastToken: () => `${CANARY_ACCESS_TOKEN}-${issued}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
