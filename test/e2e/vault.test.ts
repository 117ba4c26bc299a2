/**
 * Keys from Vault (KV v2): rotation without restart, outages within and beyond
 * the staleness limit, token renewal and re-login, and every way a read can fail — each
 * a clear log line and a 503 denial, never a crash, never a key-less request.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { CANARY_FIELD_SECRET, CANARY_KEY, CANARY_SID, expectNoCanary } from '../helpers/canary.ts';
import { createAppRole, startOpenBao, startVault, type TestVault } from '../helpers/vault.ts';
import { runCli } from '../helpers/process.ts';
import type { VaultKeyStore } from '../../src/credentials/vault-store.ts';

const ROTATED = 'sk-canary-rotated-9f8e7d6c-KEY-MUST-NEVER-LEAK';

describe('the Vault key store against a real OpenBao (any real Vault via KEYBROKER_VAULT_ADDR)', function () {
  this.timeout(60_000);
  let vault: TestVault;
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-vault-'));
  const brokers: TestBroker[] = [];
  let secretId = '';

  before(async () => {
    vault = await startVault();
  });
  after(async () => {
    for (const b of brokers) await b.stop();
    await vault?.stop();
    for (const b of brokers) {
      expectNoCanary(b.logs.text(), 'the log');
      expect(b.logs.text()).to.not.include(vault.rootToken);
      if (secretId) expect(b.logs.text()).to.not.include(secretId);
    }
  });

  async function broker(
    prefix: string,
    options: { tokenTtl?: string; tokenMaxTtl?: string; staleness?: string; key?: string; field?: string; auth?: Record<string, unknown>; on?: TestVault; inject?: unknown } = {},
  ) {
    const on = options.on ?? vault;
    const role = await createAppRole(on, `kb-${prefix}`, { prefix, tokenTtl: options.tokenTtl ?? '1h', tokenMaxTtl: options.tokenMaxTtl ?? '2h' });
    secretId = role.secretId;
    writeFileSync(join(dir, `${prefix}.role-id`), role.roleId, { mode: 0o600 });
    writeFileSync(join(dir, `${prefix}.secret-id`), role.secretId, { mode: 0o600 });
    const config = baseConfig();
    config['keys'] = {
      store: 'vault',
      address: on.address,
      mount: 'secret',
      field: options.field ?? 'value',
      auth: options.auth ?? { method: 'approle', roleIdFile: join(dir, `${prefix}.role-id`), secretIdFile: join(dir, `${prefix}.secret-id`) },
      refreshInterval: '300ms',
      maxStaleness: options.staleness ?? '2s',
      timeout: '1s',
    };
    const destinations = config['destinations'] as Record<string, Record<string, unknown>>;
    destinations['openai']!['key'] = options.key ?? `${prefix}/openai`;
    if (options.inject) destinations['openai']!['inject'] = options.inject;
    const t = await startTestBroker({ config });
    brokers.push(t);
    return t;
  }
  const store = (t: TestBroker) => t.broker.runtime().keys as VaultKeyStore;
  const injected = async (t: TestBroker) => {
    const response = await t.check(envoyCheckRequest());
    return { value: response.ok_response?.headers[0]?.header.value, keyId: response.dynamic_metadata.fields['key_id']?.stringValue, response };
  };
  /** The broker's config file as written (relative paths and durations as given). */
  const readConfig = (t: TestBroker) => {
    const { listen: _listen, log: _log, ...rest } = parse(readFileSync(t.configFile, 'utf8')) as Record<string, unknown>;
    return rest;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('keybroker lint reads each key once: those Vault does not have are missing, those it refuses unread', async () => {
    await vault.writeSecret('lint/openai', { value: CANARY_KEY });
    const t = await broker('lint');
    // The role reads lint/*: lint/anthropic is absent there; tools/search is outside what it may read.
    const config = readConfig(t) as { destinations: Record<string, { key: string }> };
    config.destinations['anthropic']!.key = 'lint/anthropic';
    const file = join(t.dir, 'lint.yaml');
    writeFileSync(file, stringify(config));
    const result = runCli(['lint', '-c', file, '--json']);
    const findings = (JSON.parse(result.stdout) as { findings: Array<{ code: string; severity: string; message: string }> }).findings.filter((f) => f.code.startsWith('key-'));
    expect(findings.map((f) => [f.code, f.severity, /key "([^"]+)"/.exec(f.message)?.[1]])).to.deep.equal([
      ['key-missing', 'error', 'lint/anthropic'],
      ['key-unreadable', 'warning', 'tools/search'],
    ]);
    expect(findings[1]!.message).to.include('permission denied');
    expect(result.code, 'key-missing is an error').to.equal(1);
    expectNoCanary(result.stdout + result.stderr, 'lint output');
  });

  it('injects the key read from KV v2 and names its version in the key id', async () => {
    await vault.writeSecret('read/openai', { value: CANARY_KEY });
    const t = await broker('read');
    const { value, keyId } = await injected(t);
    expect(value).to.equal(`Bearer ${CANARY_KEY}`);
    expect(keyId).to.equal('vault:secret/read/openai#1');
    const line = t.logs
      .lines()
      .filter((l) => l['decision'])
      .at(-1)!['decision'] as Record<string, unknown>;
    expect(line['keyId']).to.equal('vault:secret/read/openai#1');
  });

  it('serves a rotation within the refresh interval, without restart, and the key id changes', async () => {
    await vault.writeSecret('rotate/openai', { value: CANARY_KEY });
    const t = await broker('rotate');
    expect((await injected(t)).keyId).to.equal('vault:secret/rotate/openai#1');
    await vault.writeSecret('rotate/openai', { value: ROTATED });
    await sleep(900);
    const after = await injected(t);
    expect(after.value).to.equal(`Bearer ${ROTATED}`);
    expect(after.keyId).to.equal('vault:secret/rotate/openai#2');
    expect(t.logs.text()).to.include('key rotated in Vault');
  });

  it('serves a pinned version', async () => {
    await vault.writeSecret('pinned/openai', { value: CANARY_KEY });
    await vault.writeSecret('pinned/openai', { value: ROTATED });
    const t = await broker('pinned', { key: 'pinned/openai@1' });
    const { value, keyId } = await injected(t);
    expect(value).to.equal(`Bearer ${CANARY_KEY}`);
    expect(keyId).to.equal('vault:secret/pinned/openai#1');
  });

  it('reads every field of a KV v2 secret: Basic from two fields, one field by key#field, a rotation of either', async () => {
    await vault.writeSecret('fields/twilio', { sid: CANARY_SID, secret: CANARY_FIELD_SECRET });
    const basic = await broker('fields', { key: 'fields/twilio', inject: { basic: { username: '${key.sid}', password: '${key.secret}' } } });
    const first = await injected(basic);
    expect(first.value).to.equal(`Basic ${Buffer.from(`${CANARY_SID}:${CANARY_FIELD_SECRET}`).toString('base64')}`);
    expect(first.keyId).to.equal('vault:secret/fields/twilio#1');

    const one = await broker('fields', { key: 'fields/twilio#sid', inject: 'bearer' });
    const sid = await injected(one);
    expect(sid.value).to.equal(`Bearer ${CANARY_SID}`);
    expect(sid.keyId).to.equal('vault:secret/fields/twilio[sid]#1');

    await vault.writeSecret('fields/twilio', { sid: CANARY_SID, secret: ROTATED });
    await sleep(900);
    const after = await injected(basic);
    expect(after.value).to.equal(`Basic ${Buffer.from(`${CANARY_SID}:${ROTATED}`).toString('base64')}`);
    expect(after.keyId).to.equal('vault:secret/fields/twilio#2');
    expect((await injected(one)).keyId).to.equal('vault:secret/fields/twilio[sid]#2');
  });

  it('denies with 503 when the path is missing, the field is missing, or the policy refuses', async () => {
    await vault.writeSecret('fail/openai', { other: CANARY_KEY });
    await vault.writeSecret('elsewhere/openai', { value: CANARY_KEY });
    const cases: Array<[string, Parameters<typeof broker>[1], string]> = [
      ['fail', { key: 'fail/missing' }, 'no secret at secret/fail/missing'],
      ['fail', { key: 'fail/openai' }, 'key "secret/fail/openai" is unavailable: it has no field "value" (its fields: other)'],
      ['fail', { key: 'elsewhere/openai' }, 'permission denied at secret/elsewhere/openai'],
    ];
    for (const [prefix, options, message] of cases) {
      const t = await broker(prefix, options);
      const response = await t.check(envoyCheckRequest());
      expect(response.ok_response, message).to.equal(undefined);
      expect(response.denied_response?.status.code).to.equal(503);
      expect(deniedBody(response).reason).to.equal('key_unavailable');
      expect(
        t.logs.lines().some((l) => String(l['err'] ?? (l['decision'] as { detail?: string } | undefined)?.detail ?? '').includes(message)),
        message,
      ).to.equal(true);
      expectNoCanary(JSON.stringify(response), 'the denial');
    }
  });

  it('renews its token before it expires', async () => {
    await vault.writeSecret('renew/openai', { value: CANARY_KEY });
    const t = await broker('renew', { tokenTtl: '3s', tokenMaxTtl: '1h' });
    await injected(t);
    await sleep(2600);
    expect(store(t).stats.renewals).to.be.greaterThan(0);
    expect(store(t).stats.logins).to.equal(1);
    expect((await injected(t)).value).to.equal(`Bearer ${CANARY_KEY}`);
  });

  it('logs in again when its token can no longer be renewed', async () => {
    await vault.writeSecret('relogin/openai', { value: CANARY_KEY });
    const t = await broker('relogin', { tokenTtl: '2s', tokenMaxTtl: '2s' });
    await injected(t);
    await sleep(3500);
    await vault.writeSecret('relogin/openai', { value: ROTATED });
    await sleep(700);
    expect(store(t).stats.logins).to.be.greaterThan(1);
    expect((await injected(t)).value).to.equal(`Bearer ${ROTATED}`);
  });

  it('authenticates with a token file too', async () => {
    await vault.writeSecret('token/openai', { value: CANARY_KEY });
    await createAppRole(vault, 'kb-token-policy', { prefix: 'token', tokenTtl: '1h', tokenMaxTtl: '1h' });
    const created = await vault.api<{ auth: { client_token: string } }>('POST', '/v1/auth/token/create', { policies: ['kb-token-policy'], ttl: '1h' });
    writeFileSync(join(dir, 'vault-token'), created.body.auth.client_token, { mode: 0o600 });
    const t = await broker('token', { auth: { method: 'token', tokenFile: join(dir, 'vault-token') } });
    expect((await injected(t)).value).to.equal(`Bearer ${CANARY_KEY}`);
    expect(t.logs.text()).to.not.include(created.body.auth.client_token);
  });

  it('makes a deleted, then a destroyed, current version unavailable within the refresh interval', async () => {
    await vault.writeSecret('deleted/openai', { value: CANARY_KEY });
    const t = await broker('deleted', { staleness: '1m' });
    expect((await injected(t)).value).to.equal(`Bearer ${CANARY_KEY}`);
    expect((await vault.api('DELETE', '/v1/secret/data/deleted/openai')).status).to.equal(204);
    await sleep(900);
    let { response } = await injected(t);
    expect(response.denied_response?.status.code, 'after kv delete').to.equal(503);
    expect(deniedBody(response).reason).to.equal('key_unavailable');
    expect(t.logs.text()).to.include('key deleted in Vault');

    expect(await vault.writeSecret('deleted/openai', { value: ROTATED })).to.equal(2);
    await sleep(900);
    expect((await injected(t)).value, 'a new live version is served again').to.equal(`Bearer ${ROTATED}`);
    expect((await vault.api('PUT', '/v1/secret/destroy/deleted/openai', { versions: [2] })).status).to.equal(204);
    await sleep(900);
    ({ response } = await injected(t));
    expect(response.denied_response?.status.code, 'after kv destroy').to.equal(503);
  });

  it('picks up a value replaced under the same version number (metadata delete, then put)', async () => {
    await vault.writeSecret('replaced/openai', { value: CANARY_KEY });
    const t = await broker('replaced', { staleness: '1m' });
    expect((await injected(t)).keyId).to.equal('vault:secret/replaced/openai#1');
    expect((await vault.api('DELETE', '/v1/secret/metadata/replaced/openai')).status).to.equal(204);
    expect(await vault.writeSecret('replaced/openai', { value: ROTATED })).to.equal(1);
    await sleep(900);
    const after = await injected(t);
    expect(after.value).to.equal(`Bearer ${ROTATED}`);
    expect(after.keyId).to.equal('vault:secret/replaced/openai#1');
  });

  it('refuses a reload that names an unreachable Vault, and keeps serving', async () => {
    await vault.writeSecret('unreachable/openai', { value: CANARY_KEY });
    const t = await broker('unreachable');
    expect((await injected(t)).value).to.equal(`Bearer ${CANARY_KEY}`);
    const config = structuredClone(t.broker.runtime().config) as unknown as Record<string, unknown>;
    const next = readConfig(t);
    (next['keys'] as Record<string, unknown>)['address'] = 'http://127.0.0.1:9';
    t.writeConfig(next);
    expect(await t.broker.watcher.reload()).to.equal(false);
    expect(t.logs.text()).to.include('could not provide \\"unreachable/openai\\"');
    expect((await injected(t)).value).to.equal(`Bearer ${CANARY_KEY}`);
    expect(t.broker.runtime().config.keys).to.deep.equal(config['keys']);
  });

  it('keeps cached keys through a reload during an outage (a real stop), within the staleness bound', async () => {
    const own = await startOpenBao();
    try {
      await own.writeSecret('reload/openai', { value: CANARY_KEY });
      const t = await broker('reload', { staleness: '6s', on: own });
      expect((await injected(t)).value).to.equal(`Bearer ${CANARY_KEY}`);
      await own.stop();
      const next = readConfig(t);
      (next['keys'] as Record<string, unknown>)['refreshInterval'] = '400ms';
      t.writeConfig(next);
      expect(await t.broker.watcher.reload(), 'the reload is applied').to.equal(true);
      expect(t.broker.runtime().config.keys).to.include({ refreshInterval: 400 });
      expect((await injected(t)).value, 'the cached key survived the reload').to.equal(`Bearer ${CANARY_KEY}`);
    } finally {
      await own.stop();
    }
  });

  it('serves the cached key through a sealed Vault up to the staleness limit, then denies 503', async () => {
    await vault.writeSecret('sealed/openai', { value: CANARY_KEY });
    const t = await broker('sealed', { staleness: '2s' });
    expect((await injected(t)).value).to.equal(`Bearer ${CANARY_KEY}`);
    await vault.seal();
    try {
      await sleep(800);
      expect((await injected(t)).value, 'within the staleness limit').to.equal(`Bearer ${CANARY_KEY}`);
      await sleep(2200);
      const { response } = await injected(t);
      expect(response.denied_response?.status.code).to.equal(503);
      expect(deniedBody(response).reason).to.equal('key_unavailable');
      expect(t.logs.text()).to.match(/sealed/);
    } finally {
      await vault.unseal();
    }
  });

  it('rides out a Vault outage within the staleness limit, then denies 503', async () => {
    await vault.writeSecret('outage/openai', { value: CANARY_KEY });
    const t = await broker('outage', { staleness: '2s' });
    expect((await injected(t)).value).to.equal(`Bearer ${CANARY_KEY}`);
    await vault.stop();
    await sleep(800);
    expect((await injected(t)).value, 'within the staleness limit').to.equal(`Bearer ${CANARY_KEY}`);
    await sleep(2200);
    const { response } = await injected(t);
    expect(response.denied_response?.status.code).to.equal(503);
    expect(t.logs.text()).to.include('Vault is unreachable');
  });
});
