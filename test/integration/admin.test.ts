/**
 * The admin API (keybroker.admin.v1.AdminService) on its own listener, through a real
 * gRPC client: each method against the running keybroker, its access rule (Unix socket
 * 0600; on TCP, mTLS and an allowlist), and one audit line per call.
 */
import { expect } from 'chai';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { expectNoCanary } from '../helpers/canary.ts';
import { freePort } from '../helpers/envoy.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { connectAdmin, type AdminApi } from '../../src/admin/client.ts';
import { adminService } from '../../src/api/services.ts';
import { credentials } from '@grpc/grpc-js';
import { spawnCli } from '../helpers/process.ts';

const RESEARCH = 'spiffe://example.org/ns/research/analyst';

function adminLines(t: TestBroker): Array<Record<string, unknown>> {
  return t.logs.lines().filter((l) => l['audit'] === 'admin');
}

async function refusedWith(promise: Promise<unknown>): Promise<ServiceError> {
  const error = await promise.then(
    () => undefined,
    (e: ServiceError) => e,
  );
  expect(error, 'the call was answered').to.not.equal(undefined);
  return error!;
}

describe('admin API on a Unix socket', () => {
  let t: TestBroker;
  let admin: AdminApi;

  before(async () => {
    t = await startTestBroker({ config: { ...baseConfig(), admin: { listen: 'unix:admin.sock' } } });
    admin = connectAdmin(t.broker.adminAddress!);
  });
  after(async () => {
    admin.close();
    await t.stop();
  });
  afterEach(() => expectNoCanary(t.logs.text(), 'keybroker logs'));

  it('listens on its own socket, mode 0600, beside the Check socket', () => {
    expect(t.broker.adminAddress).to.equal(`unix://${join(t.dir, 'admin.sock')}`);
    expect(statSync(join(t.dir, 'admin.sock')).mode & 0o777).to.equal(0o600);
    expect(t.broker.address).to.not.equal(t.broker.adminAddress);
  });

  it("Explain: the running config's decision, with the key id and never the key", async () => {
    const allowed = await admin.Explain({ identity: RESEARCH, destination: 'openai', method: 'post', path: '/v1/chat/completions' });
    expect(allowed.decision).to.include({ decision: 'allow', reason: 'allowed', status: 200, rule: 'research-openai', identity: RESEARCH, destination: 'openai' });
    expect(allowed.decision!.key_id).to.match(/^file:openai\/prod#/);
    expect(allowed.decision!.policy_version).to.equal(t.broker.runtime().policy.version);
    // No shadow rules and no candidate: nothing to say of them.
    expect(allowed.decision).to.include({ shadow: '', candidate: '' });
    expectNoCanary(JSON.stringify(allowed), 'Explain response');

    const denied = await admin.Explain({ identity: 'spiffe://example.org/ns/research/quarantined', destination: 'openai', method: 'POST', path: '/v1/chat/completions' });
    expect(denied.decision).to.include({ decision: 'deny', reason: 'denied_by_rule', status: 403, rule: 'block-quarantined', key_id: '' });
  });

  it('Explain refuses malformed input with what was expected', async () => {
    const error = await refusedWith(admin.Explain({ identity: 'research', destination: 'openai', method: 'POST', path: '/v1/chat/completions' }));
    expect(error.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
    expect(error.details).to.match(/^identity: expected a SPIFFE ID/);
    const badPath = await refusedWith(admin.Explain({ identity: RESEARCH, destination: 'openai', method: 'POST', path: 'v1/x?y=1' }));
    expect(badPath.details).to.match(/^path: expected an absolute path/);
  });

  it('WhoCan: the grants for a destination, method and path, and the deny rules beside them', async () => {
    const answer = await admin.WhoCan({ destination: 'openai', method: 'POST', path: '/v1/chat/completions' });
    expect(answer.grants.map((g) => g.rule)).to.deep.equal(['research-openai']);
    expect(answer.grants[0]).to.deep.include({ identities: ['spiffe://example.org/ns/research/*'], methods: ['POST'], person_required: false, conditions: [] });
    expect(answer.denials.map((g) => g.rule)).to.deep.equal(['block-quarantined']);
    const models = await admin.WhoCan({ destination: 'openai', method: 'GET', path: '/v1/models/gpt-4o' });
    expect(models.grants.map((g) => g.rule)).to.deep.equal(['research-models']);
    expect((await admin.WhoCan({ destination: 'anthropic', method: 'GET', path: '' })).grants).to.deep.equal([]);
  });

  it('Can: what an identity may do, by exact and prefix grants', async () => {
    const research = await admin.Can({ identity: RESEARCH, destination: '' });
    expect(research.grants.map((g) => g.rule)).to.deep.equal(['research-openai', 'research-models', 'research-tools']);
    expect(research.denials).to.deep.equal([]);
    const writer = await admin.Can({ identity: 'spiffe://example.org/ns/writing/writer', destination: 'anthropic' });
    expect(writer.grants.map((g) => g.rule)).to.deep.equal(['writer-anthropic']);
    expect((await admin.Can({ identity: 'spiffe://example.org/ns/research/quarantined', destination: 'openai' })).denials.map((g) => g.rule)).to.deep.equal(['block-quarantined']);
  });

  it('Status: policy, config hash, key ids and health, listeners, reloads', async () => {
    const status = await admin.Status({});
    expect(status.policy_version).to.equal(t.broker.runtime().policy.version);
    expect(status.config_file).to.equal(t.configFile);
    expect(status.config_sha256).to.match(/^[0-9a-f]{64}$/);
    const keys = Object.fromEntries(status.keys.map((k) => [k.ref, k]));
    expect(keys['openai/prod']).to.include({ health: 'ok' });
    expect(keys['openai/prod']!.key_id).to.match(/^file:openai\/prod#/);
    expect(keys['tools/search']).to.include({ health: 'unavailable', key_id: '' });
    expect(keys['tools/search']!.error).to.include('tools/search');
    expect(status.listeners.map((l) => [l.name, l.address])).to.deep.equal([
      ['check', t.broker.address],
      ['admin', t.broker.adminAddress],
    ]);
    expect(status.audit).to.include({ tracing: false });
    expectNoCanary(JSON.stringify(status), 'Status response');
  });

  it('Reload: applies a valid config, rejects an invalid one whole with its errors', async () => {
    const before = t.broker.runtime().policy.version;
    const config = baseConfig();
    const next = { ...config, admin: { listen: 'unix:admin.sock' }, policy: (config['policy'] as object[]).slice(0, 1) };
    t.writeConfig(next);
    const applied = await admin.Reload({});
    expect(applied).to.include({ applied: true });
    expect(applied.errors).to.deep.equal([]);
    expect(applied.policy_version).to.not.equal(before);
    expect(applied.policy_version).to.equal(t.broker.runtime().policy.version);

    t.writeConfig({ ...next, destinations: { openai: { upstream: 'api.openai.com' } } });
    const rejected = await admin.Reload({});
    expect(rejected.applied).to.equal(false);
    expect(rejected.errors.join('\n')).to.include('destinations.openai');
    expect(rejected.policy_version).to.equal(applied.policy_version);
    // The gate stayed as it was: research is still allowed through Check.
    const check = await t.check(envoyCheckRequest({ principal: RESEARCH }));
    expect(check.status.code).to.equal(0);
    expect((await admin.Status({})).reloads).to.deep.equal({ applied: '1', rejected: '1' });
  });

  it('GetJwks: an empty key set while gateway tokens are off', async () => {
    expect(JSON.parse((await admin.GetJwks({})).jwks)).to.deep.equal({ keys: [] });
  });

  it('audits every call: who, what, the result', async () => {
    await admin.Explain({ identity: RESEARCH, destination: 'openai', method: 'POST', path: '/v1/embeddings' });
    await refusedWith(admin.Can({ identity: 'nobody', destination: '' }));
    const lines = adminLines(t);
    const explain = lines.findLast((l) => l['method'] === 'Explain')!;
    expect(explain).to.deep.include({ caller: `unix:${join(t.dir, 'admin.sock')}`, result: 'ok: allowed' });
    expect(explain['request']).to.deep.include({ identity: RESEARCH, path: '/v1/embeddings' });
    expect(lines.findLast((l) => l['method'] === 'Can')).to.deep.include({ result: 'invalid' });
    expect(lines.filter((l) => l['method'] === 'Reload').map((l) => l['result'])).to.deep.equal(['ok: applied', 'ok: rejected']);
  });

  it('is not served on the Check listener', async () => {
    const Ctor = adminService();
    const client = new Ctor(t.broker.address, credentials.createInsecure()) as unknown as Record<string, (r: object, cb: (e: ServiceError | null) => void) => void> & { close(): void };
    const error = await new Promise<ServiceError | null>((resolve) => client['Status']!({}, resolve));
    client.close();
    expect(error?.code).to.equal(GrpcStatus.UNIMPLEMENTED);
  });
});

describe('admin API over TCP with mTLS and an admin allowlist', () => {
  const ca = createCa('ops.local');
  const server = ca.issue('keybroker-admin', { uris: ['spiffe://ops.local/keybroker'], dns: ['keybroker.local'] });
  const operator = ca.issue('operator', { uris: ['spiffe://ops.local/admins/alice'] });
  const agent = ca.issue('agent', { uris: ['spiffe://ops.local/agents/research'] });
  const stranger = createCa('elsewhere').issue('stranger', { uris: ['spiffe://ops.local/admins/alice'] });
  let t: TestBroker;
  let port: number;

  before(async () => {
    port = await freePort();
    const tls = { cert: server.certFile, key: server.keyFile, clientCa: ca.certFile, allowedCallers: ['spiffe://ops.local/admins/*'] };
    t = await startTestBroker({ config: { ...baseConfig(), admin: { listen: { address: `127.0.0.1:${port}`, tls } } } });
  });
  after(() => t.stop());

  const as = (who: { certFile: string; keyFile: string }) => connectAdmin(`127.0.0.1:${port}`, { ca: ca.certFile, cert: who.certFile, key: who.keyFile, serverName: 'keybroker.local' });

  it("serves an allowlisted admin and records the caller's SPIFFE ID", async () => {
    const admin = as(operator);
    try {
      expect((await admin.Status({})).policy_version).to.equal(t.broker.runtime().policy.version);
    } finally {
      admin.close();
    }
    expect(adminLines(t).at(-1)).to.deep.include({ caller: 'spiffe://ops.local/admins/alice', method: 'Status', result: 'ok' });
  });

  it('refuses a caller of the same CA that is not on the allowlist, and audits the refusal', async () => {
    const admin = as(agent);
    try {
      expect((await refusedWith(admin.Reload({}))).code).to.equal(GrpcStatus.PERMISSION_DENIED);
    } finally {
      admin.close();
    }
    expect(adminLines(t).at(-1)).to.deep.include({ caller: 'spiffe://ops.local/agents/research', method: 'Reload', result: 'refused' });
    expect(t.broker.watcher.stats.applied + t.broker.watcher.stats.rejected).to.equal(0);
  });

  it('refuses a certificate from another CA and a caller without one', async () => {
    const foreign = as(stranger);
    try {
      expect((await refusedWith(foreign.Status({}))).code).to.equal(GrpcStatus.UNAVAILABLE);
    } finally {
      foreign.close();
    }
    expect(() => connectAdmin(`127.0.0.1:${port}`)).to.throw(/needs --tls-ca/);
  });
});

describe('admin listener rules', () => {
  const attempt = async (admin: unknown) => {
    const t = await startTestBroker({ config: { ...baseConfig(), admin } }).catch((e: Error) => e);
    if (!(t instanceof Error)) {
      await t.stop();
      return undefined;
    }
    return t.message;
  };

  it('refuses plain TCP, loopback included', async () => {
    expect(await attempt({ listen: `127.0.0.1:${await freePort()}` })).to.match(/admin\.listen: .* needs tls/);
  });

  it("refuses the Check listener's own address", async () => {
    const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'kb-admin-'));
    const t = await startTestBroker({ dir, config: { ...baseConfig(), admin: { listen: `unix://${join(dir, 'authz.sock')}` } } }).catch((e: Error) => e);
    expect(t).to.be.instanceOf(Error);
    expect((t as Error).message).to.match(/is the Check listener/);
  });
});

describe('the CLI with --server: asking a running keybroker', function () {
  // Each call starts a CLI process: seconds apiece on a loaded machine.
  this.timeout(90_000);
  let t: TestBroker;
  let server: string;
  const cli = async (...args: string[]) => {
    const run = spawnCli(args);
    const code = await run.exited();
    return { code, output: run.output() };
  };

  before(async () => {
    t = await startTestBroker({ config: { ...baseConfig(), admin: { listen: 'unix:admin.sock' } } });
    server = t.broker.adminAddress!;
  });
  after(() => t.stop());

  it("explain: the running config's answer and exit code, no -c needed", async () => {
    const allowed = await cli('explain', '--server', server, '--identity', RESEARCH, '--destination', 'openai', '--path', '/v1/chat/completions');
    expect(allowed.code, allowed.output).to.equal(0);
    expect(allowed.output)
      .to.match(/decision:\s+allow/)
      .and.match(/rule:\s+research-openai/)
      .and.match(/key id:\s+file:openai\/prod#/);
    const denied = await cli('explain', '--server', server, '--identity', 'spiffe://example.org/ns/research/quarantined', '--destination', 'openai', '--path', '/v1/chat/completions');
    expect(denied.code).to.equal(3);
    expect(denied.output).to.match(/reason:\s+denied_by_rule/);
    expectNoCanary(allowed.output + denied.output, 'CLI output');
  });

  it('who-can and can answer alike from the server and from the file', async () => {
    const remote = await cli('who-can', '--server', server, '--destination', 'openai', '--method', 'POST', '--path', '/v1/chat/completions', '--json');
    const local = await cli('who-can', '-c', t.configFile, '--destination', 'openai', '--method', 'POST', '--path', '/v1/chat/completions', '--json');
    expect(remote.code, remote.output).to.equal(0);
    expect(JSON.parse(remote.output)).to.deep.equal(JSON.parse(local.output));
    expect(JSON.parse(remote.output).grants.map((g: { rule: string }) => g.rule)).to.deep.equal(['research-openai']);
    const can = await cli('can', '--server', server, '--identity', 'spiffe://example.org/ns/writing/writer');
    expect(can.output).to.include('allow writer-anthropic: spiffe://example.org/ns/writing/writer → anthropic POST /v1/messages');
  });

  it('status and reload', async () => {
    const status = await cli('status', '--server', server);
    expect(status.code, status.output).to.equal(0);
    expect(status.output).to.include(`policy version: ${t.broker.runtime().policy.version}`).and.include('listener:       admin');
    expectNoCanary(status.output, 'status output');
    const reload = await cli('reload', '--server', server);
    expect(reload.code, reload.output).to.equal(0);
    expect(reload.output).to.match(/^applied: policy sha256:/);
  });

  it('says what is wrong when the server cannot be asked', async () => {
    const missing = await cli('status', '--server', `unix://${join(t.dir, 'nothing.sock')}`);
    expect(missing.code).to.equal(1);
    expect(missing.output).to.include('nothing.sock');
    const tcp = await cli('status', '--server', '127.0.0.1:1');
    expect(tcp.code).to.equal(2);
    expect(tcp.output).to.include('needs --tls-ca');
  });
});
