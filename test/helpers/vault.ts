/**
 * The Vault for the key-store tests. By default the STAND-IN under test/stand-ins (no
 * Vault builds here: see the README); given KEYBROKER_VAULT_ADDR and VAULT_TOKEN (a
 * root-capable token; VAULT_UNSEAL_KEY too for the seal test), any real Vault, e.g. the
 * compose file's dev server. Everything is set up through Vault's HTTP API, so the suite
 * is the same either way.
 */
import { startVaultStandIn } from '../stand-ins/vault.ts';

export interface TestVault {
  readonly address: string;
  readonly rootToken: string;
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  writeSecret(path: string, data: Record<string, string>): Promise<number>;
  seal(): Promise<void>;
  unseal(): Promise<void>;
  stop(): Promise<void>;
}

export async function startVault(): Promise<TestVault> {
  const external = process.env['KEYBROKER_VAULT_ADDR'];
  if (external) {
    const token = process.env['VAULT_TOKEN'];
    if (!token) throw new Error('KEYBROKER_VAULT_ADDR is set but VAULT_TOKEN is not');
    return client(external, token, process.env['VAULT_UNSEAL_KEY'], undefined);
  }
  const standIn = await startVaultStandIn();
  return client(standIn.address, standIn.rootToken, standIn.unsealKey, () => standIn.close());
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
