/**
 * STAND-IN for HashiCorp Vault, used only because no Vault could be built here (see the
 * README, "Tests"). It implements exactly the HTTP API that keybroker and its test suite
 * use, with Vault's documented paths, status codes and JSON shapes:
 *
 *   sys:   GET health, PUT seal, PUT unseal, POST auth/:mount (enable), PUT policies/acl/:name
 *   auth:  approle role, role-id, secret-id and login; token create, lookup-self, renew-self
 *   KV v2: GET/POST secret/data/:path (?version=N), GET secret/metadata/:path
 *
 * Tokens expire at their TTL and cannot be renewed past their max TTL; a sealed server
 * answers 503 {"errors":["Vault is sealed"]}; a policy grants `read` on `secret/data/...`
 * and `secret/metadata/...` paths (exact, or a prefix ending in `*`), anything else is
 * 403 permission denied. The same suite runs against a real Vault (KEYBROKER_VAULT_ADDR).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Token { policies: string[]; expiresAt: number; maxExpiresAt: number; ttlMs: number; renewable: boolean }
interface Role { roleId: string; secretIds: Set<string>; policies: string[]; ttlMs: number; maxTtlMs: number }
interface Version { data: Record<string, string>; created: string }

export interface VaultStandIn {
  readonly address: string;
  readonly rootToken: string;
  readonly unsealKey: string;
  close(): Promise<void>;
}

const seconds = (v: unknown, fallback: number): number => {
  if (typeof v === 'number') return v * 1000;
  const m = /^(\d+)(s|m|h)?$/.exec(String(v ?? ''));
  if (!m) return fallback;
  return Number(m[1]) * ({ s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 's' | 'm' | 'h']);
};

export async function startVaultStandIn(rootToken = `root-${randomBytes(8).toString('hex')}`): Promise<VaultStandIn> {
  const unsealKey = randomBytes(16).toString('base64');
  const tokens = new Map<string, Token>([[rootToken, { policies: ['root'], expiresAt: Infinity, maxExpiresAt: Infinity, ttlMs: 0, renewable: false }]]);
  const policies = new Map<string, string[]>();
  const roles = new Map<string, Role>();
  const secrets = new Map<string, Version[]>();
  const authMounts = new Set<string>(['token']);
  let sealed = false;

  const send = (res: ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body === undefined ? '' : JSON.stringify(body));
  };
  const errors = (res: ServerResponse, status: number, ...messages: string[]) => send(res, status, { errors: messages });
  const denied = (res: ServerResponse) => errors(res, 403, '1 error occurred:\n\t* permission denied\n\n');

  const issue = (policyNames: string[], ttlMs: number, maxTtlMs: number) => {
    const token = `hvs.${randomBytes(18).toString('base64url')}`;
    const now = Date.now();
    tokens.set(token, { policies: policyNames, expiresAt: now + ttlMs, maxExpiresAt: now + maxTtlMs, ttlMs, renewable: true });
    return { client_token: token, accessor: randomUUID(), policies: policyNames, token_policies: policyNames, lease_duration: Math.round(ttlMs / 1000), renewable: true };
  };
  const live = (req: IncomingMessage): [string, Token] | undefined => {
    const id = String(req.headers['x-vault-token'] ?? '');
    const token = tokens.get(id);
    if (!token || token.expiresAt <= Date.now()) return undefined;
    return [id, token];
  };
  const allowed = (token: Token, path: string) =>
    token.policies.includes('root') ||
    token.policies.some((p) => (policies.get(p) ?? []).some((pattern) => (pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern)));

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => {
    const url = new URL(req.url ?? '/', 'http://vault');
    const path = url.pathname.replace(/^\/v1\//, '');
    const method = req.method ?? 'GET';

    if (path === 'sys/health') return send(res, sealed ? 503 : 200, { initialized: true, sealed, standby: false, version: '1.14.0+stand-in' });
    if (path === 'sys/unseal' && method === 'PUT') {
      if (body['key'] !== unsealKey) return errors(res, 400, 'unseal failed, invalid key');
      sealed = false;
      return send(res, 200, { sealed: false, t: 1, n: 1, progress: 0 });
    }
    if (sealed) return errors(res, 503, 'Vault is sealed');

    const caller = live(req);
    if (path === 'auth/approle/login' && method === 'POST') {
      const role = [...roles.values()].find((r) => r.roleId === body['role_id']);
      if (!role || !role.secretIds.has(String(body['secret_id']))) return errors(res, 400, 'invalid role or secret ID');
      return send(res, 200, { auth: issue(role.policies, role.ttlMs, role.maxTtlMs) });
    }
    if (!caller) return denied(res);
    const [callerId, token] = caller;
    const root = token.policies.includes('root');

    if (path === 'auth/token/lookup-self' && method === 'GET') {
      const ttl = token.expiresAt === Infinity ? 0 : Math.round((token.expiresAt - Date.now()) / 1000);
      return send(res, 200, { data: { ttl, renewable: token.renewable, policies: token.policies } });
    }
    if (path === 'auth/token/renew-self' && method === 'POST') {
      if (!token.renewable) return errors(res, 400, 'lease is not renewable');
      token.expiresAt = Math.min(Date.now() + token.ttlMs, token.maxExpiresAt);
      return send(res, 200, { auth: { client_token: callerId, policies: token.policies, lease_duration: Math.round((token.expiresAt - Date.now()) / 1000), renewable: true } });
    }
    if (path === 'auth/token/create' && method === 'POST' && root) {
      const ttl = seconds(body['ttl'], 3_600_000);
      return send(res, 200, { auth: issue((body['policies'] as string[]) ?? ['default'], ttl, ttl) });
    }
    if (root && path.startsWith('sys/auth/') && method === 'POST') {
      const mount = path.slice('sys/auth/'.length);
      if (authMounts.has(mount)) return errors(res, 400, `path is already in use at ${mount}/`);
      authMounts.add(mount);
      return send(res, 204);
    }
    if (root && path.startsWith('sys/seal') && method === 'PUT') {
      sealed = true;
      return send(res, 204);
    }
    if (root && path.startsWith('sys/policies/acl/') && method === 'PUT') {
      const read = [...String(body['policy']).matchAll(/path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]/g)].filter((m) => m[2]!.includes('"read"')).map((m) => m[1]!);
      policies.set(path.slice('sys/policies/acl/'.length), read);
      return send(res, 204);
    }
    const roleMatch = /^auth\/approle\/role\/([^/]+)(\/role-id|\/secret-id)?$/.exec(path);
    if (root && roleMatch) {
      const name = roleMatch[1]!;
      if (!roleMatch[2] && method === 'POST') {
        roles.set(name, { roleId: roles.get(name)?.roleId ?? randomUUID(), secretIds: roles.get(name)?.secretIds ?? new Set(), policies: (body['token_policies'] as string[]) ?? [], ttlMs: seconds(body['token_ttl'], 3_600_000), maxTtlMs: seconds(body['token_max_ttl'], 86_400_000) });
        return send(res, 204);
      }
      const role = roles.get(name);
      if (!role) return errors(res, 404, `role "${name}" not found`);
      if (roleMatch[2] === '/role-id') return send(res, 200, { data: { role_id: role.roleId } });
      const secretId = randomUUID();
      role.secretIds.add(secretId);
      return send(res, 200, { data: { secret_id: secretId, secret_id_accessor: randomUUID(), secret_id_ttl: 0 } });
    }

    const kv = /^secret\/(data|metadata)\/(.+)$/.exec(path);
    if (kv) {
      const [, kind, key] = kv as unknown as [string, 'data' | 'metadata', string];
      if (method === 'POST' && kind === 'data') {
        if (!root) return denied(res);
        const versions = secrets.get(key) ?? [];
        versions.push({ data: (body['data'] as Record<string, string>) ?? {}, created: new Date().toISOString() });
        secrets.set(key, versions);
        return send(res, 200, { data: { version: versions.length, created_time: versions.at(-1)!.created, deletion_time: '', destroyed: false } });
      }
      if (method !== 'GET') return errors(res, 405, 'unsupported operation');
      if (!allowed(token, path)) return denied(res);
      const versions = secrets.get(key);
      if (!versions) return errors(res, 404);
      if (kind === 'metadata') {
        return send(res, 200, { data: { current_version: versions.length, oldest_version: 1, versions: Object.fromEntries(versions.map((v, i) => [String(i + 1), { created_time: v.created, deletion_time: '', destroyed: false }])) } });
      }
      const wanted = url.searchParams.has('version') ? Number(url.searchParams.get('version')) : versions.length;
      const version = versions[wanted - 1];
      if (!version) return errors(res, 404);
      return send(res, 200, { data: { data: version.data, metadata: { version: wanted, created_time: version.created, deletion_time: '', destroyed: false } } });
    }
    return errors(res, 404, `no handler for route "${path}"`);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {};
      } catch {
        return errors(res, 400, 'failed to parse JSON input');
      }
      handle(req, res, body).catch(() => errors(res, 500, 'internal error'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    rootToken,
    unsealKey,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
