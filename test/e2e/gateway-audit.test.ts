/**
 * The audit through real Envoy running the shipped envoy/egress-gateway.yaml: an agent's
 * own trace context (sampled flag off) neither suppresses nor places keybroker's record
 * (real Jaeger); a Check that cannot finish within Envoy's ext_authz timeout is a
 * recorded denial the agent receives, joined to Envoy's access log by the decision id; an
 * allow Envoy could not deliver shows in the access log under the same id; a request with
 * as many headers as the listener accepts still gets its key injected.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.ts';
import { fakeProviderValues, freePort, startEnvoy, type RunningEnvoy } from '../helpers/envoy.ts';
import { agentRequest, type AgentCall, type AgentResponse } from '../helpers/agent.ts';
import { CANARY_ANTHROPIC_KEY, CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';
import { findSpans, jaegerPorts, startJaeger, traceJson, type JaegerPorts, type RunningJaeger } from '../helpers/jaeger.ts';
import { startFaultyVault, type FaultyVault } from '../stand-ins/vault.ts';
import { ATTR } from '../../src/audit/span.ts';

const SERVICE = 'keybroker-gateway-audit';

describe('the audit through real Envoy', function () {
  this.timeout(90_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-gateway-audit-'));
  const trust = createCa('example.org');
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: ['spiffe://example.org/ns/research/summarizer'] });
  const writer = trust.issue('writer', { uris: ['spiffe://example.org/ns/writing/writer'] });
  const providerCa = createCa('providers');
  const keys: Record<string, string> = { 'openai/prod': CANARY_KEY };

  let ports: JaegerPorts;
  let jaeger: RunningJaeger;
  let vault: FaultyVault;
  let broker: TestBroker;
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let envoy: RunningEnvoy;
  const responses: AgentResponse[] = [];

  const values = (socket: string, openaiPort: number, anthropicPort: number) => ({
    GATEWAY_CERT: gateway.certFile,
    GATEWAY_KEY: gateway.keyFile,
    AGENT_CA: trust.certFile,
    TRUST_DOMAIN: 'example.org',
    KEYBROKER_SOCKET: socket,
    ...fakeProviderValues(providerCa.certFile, openaiPort, anthropicPort),
  });
  const send = async (call: Partial<AgentCall> & { path: string }, through: RunningEnvoy = envoy): Promise<AgentResponse> => {
    const response = await agentRequest({ port: through.port, gatewayCa: trust.cert, svid: research, ...call });
    responses.push(response);
    return response;
  };
  const decisions = () =>
    broker.logs
      .lines()
      .map((l) => l['decision'] as Record<string, unknown> | undefined)
      .filter((d): d is Record<string, unknown> => d !== undefined);
  const accessLine = async (through: RunningEnvoy, requestId: string) => {
    for (let i = 0; i < 50; i++) {
      const line = through.accessLogLines().find((l) => l['request_id'] === requestId);
      if (line) return line;
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  };

  before(async () => {
    ports = await jaegerPorts();
    jaeger = await startJaeger(dir, ports);
    openai = await startFakeProvider('openai', providerCa.issue('api.openai.com', { dns: ['api.openai.com'] }));
    anthropic = await startFakeProvider('anthropic', providerCa.issue('api.anthropic.com', { dns: ['api.anthropic.com'] }));
    // keys from a Vault stand-in, so that one key read can be made slower than Envoy waits.
    vault = await startFaultyVault(keys, { slowMs: 3000 });
    writeFileSync(join(dir, 'vault-token'), vault.token, { mode: 0o600 });
    const config = baseConfig();
    config['keys'] = { store: 'vault', address: vault.address, auth: { method: 'token', tokenFile: join(dir, 'vault-token') }, refreshInterval: '1h', maxStaleness: '1h', timeout: '5s' };
    config['telemetry'] = {
      serviceName: SERVICE,
      traces: { exporter: 'otlp', protocol: 'grpc', endpoint: `http://127.0.0.1:${ports.otlpGrpc}`, flushInterval: '100ms', exportTimeout: '2s', queueSize: 100 },
    };
    broker = await startTestBroker({ dir, config });
    envoy = await startEnvoy(dir, values(broker.broker.address.replace('unix://', ''), openai.port, anthropic.port));
  });

  after(async () => {
    await envoy?.stop();
    await broker?.stop();
    await openai?.close();
    await anthropic?.close();
    await vault?.close();
    await jaeger?.stop();
    for (const r of responses) expectNoCanary(JSON.stringify(r), 'a response to the agent');
    expectNoCanary(broker.logs.text(), 'keybroker log');
    expectNoCanary(readFileSync(envoy.accessLog, 'utf8'), 'Envoy access log');
  });

  it('exports exactly one span for an agent whose traceparent says "not sampled", in a trace the agent did not choose', async () => {
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    const response = await send({ path: '/openai/v1/chat/completions', headers: { traceparent: `00-${traceId}-${spanId}-00` } });
    expect(response.status, response.body).to.equal(200);
    const upstream = openai.received.at(-1)!;
    const decisionId = openai.headerValues(upstream, 'x-request-id')[0]!;
    expect(openai.headerValues(upstream, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);
    const spans = await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: decisionId });
    expect(spans, 'one exported span for the decision').to.have.length(1);
    const [span] = spans;
    expect(span!.tags.find((t) => t.key === ATTR.decision)?.value).to.equal('allow');
    expect(span!.traceID, 'the agent cannot put the record in a trace of its choosing').to.not.equal(traceId);
    expect(span!.references).to.deep.equal([{ refType: 'FOLLOWS_FROM', traceID: traceId, spanID: spanId }]);
    expect(broker.broker.telemetry.queue!.stats.dropped).to.equal(0);
    expectNoCanary(await traceJson(ports.query, SERVICE), 'the traces in Jaeger');
  });

  it("answers a Check slower than ext_authz's timeout with a recorded deadline_exceeded denial, joined to the access log", async () => {
    keys['anthropic/prod'] = CANARY_ANTHROPIC_KEY; // not read at start: the first Check waits on Vault
    vault.fault = 'slow';
    try {
      const started = Date.now();
      const response = await send({ path: '/anthropic/v1/messages', svid: writer });
      expect(Date.now() - started, "within Envoy's 0.5 s").to.be.below(1500);
      expect(response.status, response.body).to.equal(504);
      const body = JSON.parse(response.body) as Record<string, unknown>;
      expect(JSON.stringify(body)).to.include('deadline_exceeded');
      const decisionId = String(body['decision_id'] ?? (body['error'] as Record<string, unknown> | undefined)?.['decision_id'] ?? '');
      expect(decisionId).to.not.equal('');
      const line = await accessLine(envoy, decisionId);
      expect(line, 'Envoy logged the request under the decision id').to.not.equal(undefined);
      expect(line).to.include({ decision_id: decisionId, decision: 'deny', reason: 'deadline_exceeded', status: 504 });
      await new Promise((r) => setTimeout(r, 3500)); // the slow read ends: no second record, no allow
      const records = decisions().filter((d) => d['decisionId'] === decisionId);
      expect(records).to.have.length(1);
      expect(records[0]).to.include({ decision: 'deny', reason: 'deadline_exceeded' });
      expect(anthropic.received, 'nothing reached the provider').to.have.length(0);
    } finally {
      vault.fault = 'ok';
    }
  });

  it('shows an allow that Envoy could not deliver in the access log under the decision id', async () => {
    const closed = await freePort();
    const broken = await startEnvoy(mkdtempSync(join(dir, 'broken-')), values(broker.broker.address.replace('unix://', ''), closed, anthropic.port));
    try {
      const response = await send({ path: '/openai/v1/chat/completions' }, broken);
      expect(response.status).to.equal(503);
      const record = decisions()
        .filter((d) => d['destination'] === 'openai')
        .at(-1)!;
      expect(record['decision']).to.equal('allow');
      const line = await accessLine(broken, String(record['decisionId']));
      expect(line, 'the access log names the decision').to.include({ decision_id: record['decisionId'], decision: 'allow', status: 503 });
      expect(String(line!['flags'])).to.match(/U[FH]/);
    } finally {
      await broken.stop();
    }
  });

  it("never allows a request the injected key would push over Envoy's header limits: each is delivered with its key or refused before any Check", async () => {
    const before = decisions().length;
    const outcomes: string[] = [];
    const tryHeaders = async (label: string, headers: Record<string, string>) => {
      const response = await send({ path: '/openai/v1/chat/completions', headers });
      outcomes.push(`${label}: ${response.status}`);
      expect([200, 431], `${label}: ${response.status} ${response.body.slice(0, 80)}`).to.include(response.status);
      if (response.status === 200) expect(openai.headerValues(openai.received.at(-1)!, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);
      return response.status;
    };
    const statuses: number[] = [];
    for (let n = 70; n <= 100; n += 2) statuses.push(await tryHeaders(`${n} extra headers`, Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-extra-${i}`, 'v']))));
    for (const kb of [40, 44, 47, 50, 55, 59]) statuses.push(await tryHeaders(`${kb} KiB header`, { 'x-big': 'a'.repeat(kb * 1024) }));
    expect(statuses, outcomes.join(', ')).to.include(200);
    expect(
      responses.some((r) => r.status === 431 && r.body.includes('header_room')),
      'the room filter refused some',
    ).to.equal(true);
    // No allow that Envoy then failed: every allowed request went to the provider (which may
    // itself refuse a 44 KiB header: Node's limit is 16 KiB), none ended at ext_authz.
    const allows = decisions()
      .slice(before)
      .filter((d) => d['decision'] === 'allow');
    expect(allows.length).to.be.greaterThan(0);
    for (const d of allows) {
      const line = await accessLine(envoy, String(d['decisionId']));
      expect(line, String(d['decisionId'])).to.include({ upstream_cluster: 'openai' });
      expect(String(line!['flags'])).to.not.match(/UAEX/);
    }
  });
});
