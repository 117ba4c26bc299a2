/**
 * The Vault faults a real server cannot be made to produce, against the STAND-IN in
 * test/stand-ins/vault.ts over real sockets, through the real gRPC server: a dripping
 * answer, a body that is not JSON, and a server whose certificate is not trusted while the
 * environment asks for verification to be skipped. (Everything else about Vault runs
 * against a real OpenBao in test/e2e/vault.test.ts.)
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';
import { startFaultyVault, type FaultyVault } from '../stand-ins/vault.ts';
import { createCa } from '../../scripts/dev-pki.ts';

describe('Vault faults (stand-in)', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-vault-faults-'));
  const running: Array<TestBroker | FaultyVault> = [];
  after(async () => {
    for (const r of running) await ('stop' in r ? r.stop() : r.close());
    rmSync(dir, { recursive: true, force: true });
  });

  async function brokerOn(vault: FaultyVault, keys: Record<string, unknown> = {}): Promise<TestBroker> {
    writeFileSync(join(dir, 'token'), vault.token, { mode: 0o600 });
    const config = baseConfig();
    config['keys'] = { store: 'vault', address: vault.address, auth: { method: 'token', tokenFile: join(dir, 'token') }, refreshInterval: '300ms', maxStaleness: '1m', timeout: '1s', ...keys };
    const t = await startTestBroker({ config });
    running.push(t);
    return t;
  }
  const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
    const started = Date.now();
    const result = await work();
    return [result, Date.now() - started];
  };

  it('bounds a dripping read by keys.timeout overall: the Check is denied in time, and the next read is not stuck behind it', async () => {
    const vault = await startFaultyVault({ 'openai/prod': CANARY_KEY }, { dripMs: 300 });
    running.push(vault);
    vault.fault = 'drip';
    const t = await brokerOn(vault);
    const [denied, tookMs] = await timed(() => t.check(envoyCheckRequest()));
    expect(deniedBody(denied).reason).to.equal('key_unavailable');
    expect(tookMs, 'denied within keys.timeout (1 s), not when the drip ends').to.be.below(2500);
    expect(t.logs.text()).to.include('Vault did not answer in time');

    vault.fault = 'ok';
    const [allowed, againMs] = await timed(() => t.check(envoyCheckRequest()));
    expect(allowed.status.code, 'served once Vault answers').to.equal(0);
    expect(againMs).to.be.below(1000);
    expectNoCanary(t.logs.text(), 'the log');
  });

  it('keeps serving the cached key while a scheduled refresh drips, and refreshes again afterwards', async () => {
    const vault = await startFaultyVault({ 'openai/prod': CANARY_KEY }, { dripMs: 300 });
    running.push(vault);
    const t = await brokerOn(vault);
    expect((await t.check(envoyCheckRequest())).status.code).to.equal(0);
    vault.fault = 'drip';
    const before = vault.requests.length;
    await new Promise((r) => setTimeout(r, 2600));
    const [allowed, tookMs] = await timed(() => t.check(envoyCheckRequest()));
    expect(allowed.status.code).to.equal(0);
    expect(tookMs, 'a Check never waits on the refresh').to.be.below(200);
    // A refresh every 300 ms, each abandoned after 1 s: several started, none stuck for good.
    expect(vault.requests.length - before, 'refreshes went on').to.be.at.least(2);
  });

  it('denies with a clear reason when Vault answers something that is not JSON', async () => {
    const vault = await startFaultyVault({ 'openai/prod': CANARY_KEY });
    running.push(vault);
    vault.fault = 'malformed';
    const t = await brokerOn(vault);
    const response = await t.check(envoyCheckRequest());
    expect(response.denied_response?.status.code).to.equal(503);
    expect(deniedBody(response).reason).to.equal('key_unavailable');
    expect(t.logs.text()).to.include('with a body that is not JSON');
  });

  describe("TLS to Vault is keybroker's alone to set", () => {
    const saved = { skip: process.env['VAULT_SKIP_VERIFY'], reject: process.env['NODE_TLS_REJECT_UNAUTHORIZED'] };
    const ca = createCa('vault-test');
    const serverCert = ca.issue('vault', { ips: ['127.0.0.1'] });
    afterEach(() => {
      for (const [name, value] of [
        ['VAULT_SKIP_VERIFY', saved.skip],
        ['NODE_TLS_REJECT_UNAUTHORIZED', saved.reject],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });

    for (const skip of ['1', 'true', 'false']) {
      it(`refuses an untrusted Vault certificate with VAULT_SKIP_VERIFY=${skip} and NODE_TLS_REJECT_UNAUTHORIZED=0 set`, async () => {
        const vault = await startFaultyVault({ 'openai/prod': CANARY_KEY }, { tls: serverCert });
        running.push(vault);
        process.env['VAULT_SKIP_VERIFY'] = skip;
        process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
        const t = await brokerOn(vault);
        const response = await t.check(envoyCheckRequest());
        expect(response.ok_response, 'no key from an untrusted server').to.equal(undefined);
        expect(deniedBody(response).reason).to.equal('key_unavailable');
        expect(vault.requests, 'the Vault token was never sent').to.deep.equal([]);
        expect(t.logs.text()).to.match(/self[- ]signed|unable to verify|UNABLE_TO_VERIFY|SELF_SIGNED/i);
      });
    }

    it('trusts the same server through keys.caFile', async () => {
      const vault = await startFaultyVault({ 'openai/prod': CANARY_KEY }, { tls: serverCert });
      running.push(vault);
      const t = await brokerOn(vault, { caFile: ca.certFile });
      expect((await t.check(envoyCheckRequest())).status.code).to.equal(0);
    });
  });
});
