/**
 * A keybroker that fails to start holds nothing open: the runtime it built (here a Vault
 * key store, which polls Vault on a timer) is released with everything else before the
 * error reaches the caller, as `serve` exits or a supervisor retries.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startKeybroker } from '../../src/server/start.ts';
import { baseConfig } from '../helpers/broker.ts';
import { Capture } from '../helpers/capture.ts';
import { startFaultyVault, type FaultyVault } from '../stand-ins/vault.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a keybroker that fails to start', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-start-failure-'));
  let vault: FaultyVault;
  let taken: Server;
  before(async () => {
    vault = await startFaultyVault({ 'openai/prod': 'sk-start-failure-a', 'anthropic/prod': 'sk-start-failure-b', 'tools/search': 'sk-start-failure-c' });
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await vault.close();
    await new Promise((resolve) => taken.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('releases the runtime it built (its key store stops polling Vault) when the Check listener cannot bind', async () => {
    const port = (taken.address() as { port: number }).port;
    writeFileSync(join(dir, 'token'), vault.token, { mode: 0o600 });
    const configFile = join(dir, 'keybroker.yaml');
    writeFileSync(
      configFile,
      stringify({
        ...baseConfig(),
        listen: `127.0.0.1:${port}`,
        keys: { store: 'vault', address: vault.address, auth: { method: 'token', tokenFile: './token' }, refreshInterval: '100ms', maxStaleness: '1m', timeout: '1s' },
      }),
    );
    const error = await startKeybroker({ configFile, logDestination: new Capture(), watchIntervalMs: 50 }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/cannot listen on 127\.0\.0\.1:\d+/);
    // The keys were read at start (warm-up), so the store had them to refresh every 100 ms.
    expect(vault.requests.some((r) => r.includes('openai/prod'))).to.equal(true);
    const heard = vault.requests.length;
    await sleep(600);
    expect(vault.requests.length, 'requests to Vault after the failed start').to.equal(heard);
  });
});
