/**
 * The Vault key store's staleness bound, on its own: a cached key is served while Vault is
 * down only up to `maxStalenessMs` after Vault last confirmed it, from the cache and from a
 * failed read alike; past it, the key is unavailable. (The STAND-IN Vault on loopback plays
 * the sealed server; the same behaviour against a real OpenBao is in test/e2e/vault.test.ts.)
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VaultKeyStore } from '../../src/credentials/vault-store.ts';
import { KeyUnavailableError } from '../../src/credentials/store.ts';
import { Secret } from '../../src/credentials/secret.ts';
import { startFaultyVault, type FaultyVault } from '../stand-ins/vault.ts';
import { CANARY_KEY } from '../helpers/canary.ts';

describe('VaultKeyStore staleness bound', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-staleness-'));
  let vault: FaultyVault;
  let store: VaultKeyStore;

  beforeEach(async () => {
    vault = await startFaultyVault({ 'openai/prod': CANARY_KEY });
    writeFileSync(join(dir, 'token'), vault.token, { mode: 0o600 });
    store = new VaultKeyStore({
      address: vault.address,
      mount: 'secret',
      field: 'value',
      auth: { method: 'token', tokenFile: join(dir, 'token') },
      refreshMs: 3_600_000,
      maxStalenessMs: 400,
      timeoutMs: 1000,
    });
  });
  afterEach(async () => {
    store.close();
    await vault.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the cached key within the bound, from the cache and from a failed refresh', async () => {
    const first = await store.get('openai/prod');
    expect(first).to.be.instanceOf(Secret);
    vault.fault = 'sealed';
    expect(store.get('openai/prod'), 'answered from the cache, without waiting').to.equal(first);
    await store.refreshAll();
    expect(store.holds('openai/prod')).to.equal(true);
    expect(await store.get('openai/prod')).to.equal(first);
  });

  it('makes the key unavailable once Vault has not confirmed it for longer than the bound', async () => {
    await store.get('openai/prod');
    vault.fault = 'sealed';
    await new Promise((r) => setTimeout(r, 500));
    expect(store.holds('openai/prod')).to.equal(false);
    const pending = store.get('openai/prod');
    expect(pending, 'past the bound the cache is not answered from').to.be.instanceOf(Promise);
    const error = await Promise.resolve(pending).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(KeyUnavailableError);
    expect((error as Error).message).to.include('sealed');
  });

  it('counts the bound from the last confirmation, which a successful refresh renews', async () => {
    await store.get('openai/prod');
    await new Promise((r) => setTimeout(r, 300));
    await store.refreshAll();
    vault.fault = 'sealed';
    await new Promise((r) => setTimeout(r, 250));
    expect(store.holds('openai/prod'), '550 ms after the first read, 250 ms after the refresh').to.equal(true);
  });
});
