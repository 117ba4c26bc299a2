/**
 * STAND-IN for a misbehaving Vault: the faults a real server (OpenBao, in the Vault suite)
 * cannot be made to produce. Just enough of Vault's HTTP API for keybroker's token auth
 * and KV v2 reads — token lookup-self, `secret/data/:path` and `secret/metadata/:path` for
 * the keys it is given, Vault's JSON shapes — and then, switched at run time:
 *
 *   drip       headers at once, then the body one byte every `dripMs` (an idle timeout
 *              never fires)
 *   malformed  200 with a body that is not JSON
 *   sealed     503 {"errors":["Vault is sealed"]} to everything
 *   slow       the right answer, whole, after `slowMs`
 *   ok         answers properly
 *
 * With `tls`, it serves HTTPS with that certificate (an untrusted one, for the TLS tests).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export type VaultFault = 'ok' | 'drip' | 'malformed' | 'sealed' | 'slow';

export interface FaultyVault {
  readonly address: string;
  readonly token: string;
  fault: VaultFault;
  /** Requests received, by path. */
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startFaultyVault(keys: Record<string, string>, options: { dripMs?: number; slowMs?: number; tls?: { certFile: string; keyFile: string } } = {}): Promise<FaultyVault> {
  const token = 'stand-in-token';
  const created = new Date().toISOString();
  const timers = new Set<NodeJS.Timeout>();
  const state: FaultyVault = {
    address: '',
    token,
    fault: 'ok',
    requests: [],
    close: () =>
      new Promise((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    if (state.fault === 'malformed' && status === 200) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"data": {"data": <html>');
      return;
    }
    if (state.fault === 'drip') {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(text.length) });
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed || i >= text.length) {
          clearInterval(timer);
          timers.delete(timer);
          if (!res.destroyed) res.end();
          return;
        }
        res.write(text[i++]);
      }, options.dripMs ?? 1000);
      timers.add(timer);
      return;
    }
    const answer = () => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(text);
    };
    if (state.fault !== 'slow') return answer();
    const timer = setTimeout(() => {
      timers.delete(timer);
      answer();
    }, options.slowMs ?? 2000);
    timers.add(timer);
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://vault').pathname.replace(/^\/v1\//, '');
    state.requests.push(path);
    req.resume();
    if (state.fault === 'sealed') return send(res, 503, { errors: ['Vault is sealed'] });
    if (req.headers['x-vault-token'] !== token) return send(res, 403, { errors: ['permission denied'] });
    if (path === 'auth/token/lookup-self') return send(res, 200, { data: { ttl: 0, renewable: false } });
    const kv = /^secret\/(data|metadata)\/(.+)$/.exec(path);
    const value = kv ? keys[kv[2]!] : undefined;
    if (!kv || value === undefined) return send(res, 404, { errors: [] });
    if (kv[1] === 'metadata') return send(res, 200, { data: { current_version: 1, versions: { '1': { created_time: created, deletion_time: '', destroyed: false } } } });
    return send(res, 200, { data: { data: { value }, metadata: { version: 1, created_time: created, deletion_time: '', destroyed: false } } });
  };
  const server: Server = options.tls ? createTlsServer({ cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) }, handle) : createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, { address: `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}` });
}
