/**
 * Through a real Envoy running the shipped envoy/egress-gateway.yaml: agents with
 * X.509-SVIDs, keybroker on a Unix socket, fake providers behind verified TLS.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { startFakeProvider, SSE_EVENTS, type FakeProvider } from '../helpers/fake-provider.ts';
import { fakeProviderValues, startEnvoy, validateEnvoyConfig, GATEWAY_TEMPLATE, type RunningEnvoy } from '../helpers/envoy.ts';
import { agentRequest, type AgentCall, type AgentResponse } from '../helpers/agent.ts';
import { CANARY_AGENT_TOKEN, CANARY_ANTHROPIC_KEY, CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';
import { makeSigner, mint, writeBundle, type Signer } from '../helpers/tokens.ts';
import { renderTemplate } from '../../envoy/render.ts';
import { readDenial } from '../helpers/envoy-request.ts';
import { gatewayFetch } from '../helpers/sdk-fetch.ts';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

describe('the egress gateway through real Envoy', function () {
  this.timeout(60_000);

  const dir = mkdtempSync(join(tmpdir(), 'keybroker-e2e-'));
  const trust = createCa('example.org');
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: ['spiffe://example.org/ns/research/summarizer'] });
  const writer = trust.issue('writer', { uris: ['spiffe://example.org/ns/writing/writer'] });
  const foreignDomainSameCa = trust.issue('foreign', { uris: ['spiffe://partner.example/ns/research/summarizer'] });
  const otherCa = createCa('partner.example');
  const stranger = otherCa.issue('stranger', { uris: ['spiffe://example.org/ns/research/summarizer'] });
  const providerCa = createCa('providers');
  const openaiCert = providerCa.issue('api.openai.com', { dns: ['api.openai.com'] });
  const anthropicCert = providerCa.issue('api.anthropic.com', { dns: ['api.anthropic.com'] });

  let broker: TestBroker;
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let envoy: RunningEnvoy;
  let signer: Signer;
  const responses: AgentResponse[] = [];

  const values = (keybrokerSocket: string) => ({
    GATEWAY_CERT: gateway.certFile,
    GATEWAY_KEY: gateway.keyFile,
    AGENT_CA: trust.certFile,
    TRUST_DOMAIN: 'example.org',
    KEYBROKER_SOCKET: keybrokerSocket,
    ...fakeProviderValues(providerCa.certFile, openai.port, anthropic.port),
  });

  const send = async (call: Partial<AgentCall> & { path: string }, through: RunningEnvoy = envoy): Promise<AgentResponse> => {
    const response = await agentRequest({ port: through.port, gatewayCa: trust.cert, svid: research, ...call });
    responses.push(response);
    return response;
  };
  const received = () => openai.received.length + anthropic.received.length;

  before(async () => {
    openai = await startFakeProvider('openai', openaiCert);
    anthropic = await startFakeProvider('anthropic', anthropicCert);
    signer = await makeSigner('gateway-e2e');
    writeBundle(join(dir, 'example.org.jwks'), [signer]);
    const config = baseConfig();
    config['trust'] = { 'example.org': { bundle: { file: join(dir, 'example.org.jwks') }, audiences: ['keybroker'] }, 'partner.example': {} };
    broker = await startTestBroker({ dir, config });
    envoy = await startEnvoy(dir, values(broker.broker.address.replace('unix://', '')));
  });

  after(async () => {
    await envoy?.stop();
    await broker?.stop();
    await openai?.close();
    await anthropic?.close();
    // No response the agent received, headers or body, carries a key.
    for (const r of responses) expectNoCanary(JSON.stringify(r), 'a response to the agent');
    expectNoCanary(broker.logs.text(), 'keybroker log');
    expectNoCanary(envoy.process.output(), 'Envoy output');
    expectNoCanary(readFileSync(envoy.accessLog, 'utf8'), 'Envoy access log');
  });

  it('passes envoy --mode validate', () => {
    const file = join(dir, 'validate.yaml');
    writeFileSync(
      file,
      renderTemplate(readFileSync(GATEWAY_TEMPLATE, 'utf8'), {
        ...values('/run/keybroker/authz.sock'),
        LISTEN_ADDRESS: '127.0.0.1',
        LISTEN_PORT: 10000,
        TOKEN_LISTEN_PORT: 10001,
        ADMIN_PORT: 9901,
        ACCESS_LOG: join(dir, 'validate.log'),
      }),
    );
    expect(validateEnvoyConfig(file)).to.match(/configuration .* OK/);
  });

  it('delivers an allowed request with the key injected exactly once and no agent credential', async () => {
    const before = openai.received.length;
    const response = await send({
      path: '/openai/v1/chat/completions',
      headers: {
        authorization: `Bearer ${CANARY_AGENT_TOKEN}`,
        'x-api-key': CANARY_AGENT_TOKEN,
        'api-key': CANARY_AGENT_TOKEN,
        'proxy-authorization': `Basic ${CANARY_AGENT_TOKEN}`,
        'x-goog-api-key': CANARY_AGENT_TOKEN,
      },
    });
    expect(response.status, response.body).to.equal(200);
    expect(JSON.parse(response.body)).to.deep.equal({ provider: 'openai', ok: true });
    expect(openai.received.length).to.equal(before + 1);
    const upstream = openai.received.at(-1)!;
    expect(upstream.path).to.equal('/v1/chat/completions');
    expect(openai.headerValues(upstream, 'host')).to.deep.equal(['api.openai.com']);
    expect(openai.headerValues(upstream, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);
    for (const h of ['x-api-key', 'api-key', 'proxy-authorization', 'x-goog-api-key']) expect(openai.headerValues(upstream, h), h).to.deep.equal([]);
    expect(JSON.stringify(upstream.headers)).to.not.include(CANARY_AGENT_TOKEN);
  });

  it('injects the Anthropic key in x-api-key for an agent granted Anthropic', async () => {
    const response = await send({ svid: writer, path: '/anthropic/v1/messages', headers: { 'x-api-key': CANARY_AGENT_TOKEN } });
    expect(response.status, response.body).to.equal(200);
    const upstream = anthropic.received.at(-1)!;
    expect(anthropic.headerValues(upstream, 'x-api-key')).to.deep.equal([CANARY_ANTHROPIC_KEY]);
    expect(anthropic.headerValues(upstream, 'authorization')).to.deep.equal([]);
  });

  it("answers a denied request with keybroker's JSON denial and forwards nothing", async () => {
    const before = received();
    const response = await send({ path: '/openai/v1/files' });
    expect(response.status).to.equal(403);
    const body = readDenial(response.body);
    expect(body['reason']).to.equal('no_matching_grant');
    expect(body['decision_id']).to.match(/^[0-9a-f-]{36}$/);
    expect(received()).to.equal(before);
  });

  it('refuses a client without a certificate, or with one from elsewhere', async () => {
    const before = received();
    for (const svid of [undefined, stranger, foreignDomainSameCa]) {
      const outcome = await agentRequest({ port: envoy.port, gatewayCa: trust.cert, path: '/openai/v1/chat/completions', ...(svid ? { svid } : {}) }).then(
        (r) => `status ${r.status}`,
        (e: Error) => `refused: ${e.message}`,
      );
      expect(outcome, svid?.certFile ?? 'no certificate').to.match(/^refused/);
    }
    expect(received()).to.equal(before);
  });

  it('never yields the Anthropic key to an agent granted only OpenAI, whatever it sends', async () => {
    const tricks: Array<Partial<AgentCall> & { path: string }> = [
      { path: '/anthropic/v1/messages' },
      { path: '/openai/../anthropic/v1/messages' },
      { path: '/openai/%2e%2e/anthropic/v1/messages' },
      { path: '/openai%2F..%2Fanthropic/v1/messages' },
      { path: '/openai/..%2fanthropic/v1/messages' },
      { path: '//anthropic//v1/messages' },
      { path: '/openai/v1/chat/completions', host: 'api.anthropic.com' },
      { path: '/anthropic/v1/messages', host: 'api.openai.com' },
    ];
    const before = anthropic.received.length;
    for (const trick of tricks) {
      const response = await send(trick);
      expect(response.status, `${JSON.stringify(trick)} → ${response.body}`).to.be.oneOf([400, 403, 404]);
    }
    // Headers can't choose the route either: this goes to OpenAI with the OpenAI key.
    const spoofed = await send({
      path: '/openai/v1/chat/completions',
      headers: { 'x-envoy-original-path': '/anthropic/v1/messages', 'x-destination': 'anthropic', 'x-envoy-upstream-cluster': 'anthropic' },
    });
    expect(spoofed.status).to.equal(200);
    expect(openai.headerValues(openai.received.at(-1)!, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);

    expect(anthropic.received.length, 'the Anthropic provider got a request').to.equal(before);
    for (const r of openai.received) expect(JSON.stringify(r.headers)).to.not.include(CANARY_ANTHROPIC_KEY);
  });

  it('forwards no method override, no agent address and no Envoy-internal header to the provider', async () => {
    const response = await send({
      path: '/openai/v1/chat/completions',
      headers: {
        'x-http-method-override': 'DELETE',
        'x-http-method': 'DELETE',
        'x-method-override': 'DELETE',
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-host': 'evil.example',
        'x-envoy-upstream-cluster': 'anthropic',
        'x-envoy-original-path': '/anthropic/v1/messages',
        'x-envoy-made-up': '1',
      },
    });
    expect(response.status, response.body).to.equal(200);
    const upstream = openai.received.at(-1)!;
    expect(upstream.method).to.equal('POST');
    const names = upstream.headers.map(([name]) => name);
    for (const name of ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-forwarded-for', 'x-forwarded-host', 'forwarded']) {
      expect(names, `${name} reached the provider`).to.not.include(name);
    }
    expect(
      names.filter((n) => n.startsWith('x-envoy-')),
      'x-envoy-* headers reached the provider',
    ).to.deep.equal([]);
    expect(JSON.stringify(upstream.headers), 'the agent address reached the provider').to.not.include('127.0.0.1');
    expect(openai.headerValues(upstream, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);
  });

  it('refuses header names with underscores (x_api_key) before anything is checked or forwarded', async () => {
    const before = received();
    const response = await send({ path: '/openai/v1/chat/completions', headers: { x_api_key: CANARY_AGENT_TOKEN } });
    expect(response.status).to.equal(400);
    expect(received()).to.equal(before);
  });

  describe('the token listener (no client certificate)', () => {
    const viaToken = (call: Partial<AgentCall> & { path: string }) => send({ ...call, svid: undefined }, { ...envoy, port: envoy.tokenPort });

    it('lets an SDK-shaped agent through on its JWT-SVID alone, the key injected over it', async () => {
      const token = await mint(signer);
      const response = await viaToken({ path: '/openai/v1/chat/completions', headers: { authorization: `Bearer ${token}` } });
      expect(response.status, response.body).to.equal(200);
      const upstream = openai.received.at(-1)!;
      expect(openai.headerValues(upstream, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);
      expect(JSON.stringify(upstream.headers)).to.not.include(token.split('.')[2]);
    });

    it("does the same for the Anthropic SDK's x-api-key", async () => {
      const token = await mint(signer, { sub: 'spiffe://example.org/ns/writing/writer' });
      const response = await viaToken({ path: '/anthropic/v1/messages', headers: { 'x-api-key': token } });
      expect(response.status, response.body).to.equal(200);
      expect(anthropic.headerValues(anthropic.received.at(-1)!, 'x-api-key')).to.deep.equal([CANARY_ANTHROPIC_KEY]);
    });

    it('denies 401 and forwards nothing without a token', async () => {
      const before = received();
      const response = await viaToken({ path: '/openai/v1/chat/completions', headers: { authorization: 'Bearer sk-placeholder' } });
      expect(response.status).to.equal(401);
      expect(readDenial(response.body).reason).to.equal('identity_missing');
      expect(received()).to.equal(before);
    });
  });

  describe('the real OpenAI and Anthropic SDKs, refused', () => {
    const baseURL = (path: string) => `https://gateway.local:${envoy.tokenPort}${path}`;
    const sdkOptions = () => ({ fetch: gatewayFetch(trust.cert), maxRetries: 0, timeout: 10_000 });
    const refusal = async (call: () => Promise<unknown>): Promise<Error & Record<string, unknown>> => {
      const before = received();
      const error = await call().then(
        () => expect.fail('the SDK call was allowed'),
        (e: unknown) => e as Error & Record<string, unknown>,
      );
      expect(received(), 'a refused call reached a provider').to.equal(before);
      return error;
    };
    const accessLogFor = async (decisionId: string) => {
      for (let i = 0; i < 50; i++) {
        const line = envoy.accessLogLines().find((l) => l['decision_id'] === decisionId);
        if (line) return line;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no access log line for decision ${decisionId}`);
    };

    it('OpenAI: err.message and err.code name the reason, err.requestID is the decision id', async () => {
      const token = await mint(signer);
      const openaiSdk = new OpenAI({ apiKey: token, baseURL: baseURL('/openai/v1'), ...sdkOptions() });
      const error = await refusal(() => openaiSdk.files.list());
      expect(error).to.be.instanceOf(OpenAI.PermissionDeniedError);
      expect(error['status']).to.equal(403);
      expect(error.message).to.equal('403 keybroker denied this request (no_matching_grant): no grant allows this request');
      expect(error['code']).to.equal('no_matching_grant');
      expect(error['type']).to.equal('permission_error');
      expect(error['requestID']).to.match(/^[0-9a-f-]{36}$/);
      expect(await accessLogFor(error['requestID'] as string)).to.include({ decision: 'deny', reason: 'no_matching_grant', request_id: error['requestID'] });
      expectNoCanary(JSON.stringify({ message: error.message, error: error['error'] }), 'an SDK error');

      const placeholder = new OpenAI({ apiKey: 'sk-placeholder', baseURL: baseURL('/openai/v1'), ...sdkOptions() });
      const unauthenticated = await refusal(() => placeholder.chat.completions.create({ model: 'gpt-4o', messages: [] }));
      expect(unauthenticated).to.be.instanceOf(OpenAI.AuthenticationError);
      expect(unauthenticated.message).to.include('identity_missing');
      expect(unauthenticated['requestID']).to.match(/^[0-9a-f-]{36}$/);
    });

    it('Anthropic: err.message and err.errorCode name the reason, err.requestID is the decision id', async () => {
      const research = await mint(signer);
      const anthropicSdk = new Anthropic({ apiKey: research, baseURL: baseURL('/anthropic'), ...sdkOptions() });
      const error = await refusal(() => anthropicSdk.messages.create({ model: 'claude-test-model', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }));
      expect(error).to.be.instanceOf(Anthropic.PermissionDeniedError);
      expect(error['status']).to.equal(403);
      expect(error.message).to.include('no_matching_grant');
      expect(error['errorCode']).to.equal('no_matching_grant');
      expect(error['type']).to.equal('permission_error');
      expect(error['requestID']).to.match(/^[0-9a-f-]{36}$/);
      expect(await accessLogFor(error['requestID'] as string)).to.include({ decision: 'deny', reason: 'no_matching_grant' });
      expectNoCanary(error.message, 'an SDK error');
    });

    it('and the same SDKs are let through on a granted call', async () => {
      const writerToken = await mint(signer, { sub: 'spiffe://example.org/ns/writing/writer' });
      const anthropicSdk = new Anthropic({ apiKey: writerToken, baseURL: baseURL('/anthropic'), ...sdkOptions() });
      const message = await anthropicSdk.messages.create({ model: 'claude-test-model', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
      expect(message).to.deep.include({ provider: 'anthropic', ok: true });
      expect(anthropic.headerValues(anthropic.received.at(-1)!, 'x-api-key')).to.deep.equal([CANARY_ANTHROPIC_KEY]);
      const openaiSdk = new OpenAI({ apiKey: await mint(signer), baseURL: baseURL('/openai/v1'), ...sdkOptions() });
      expect(await openaiSdk.chat.completions.create({ model: 'gpt-4o', messages: [] })).to.deep.include({ provider: 'openai', ok: true });
      expect(openai.headerValues(openai.received.at(-1)!, 'authorization')).to.deep.equal([`Bearer ${CANARY_KEY}`]);
    });
  });

  it('forwards nothing for a path with no route', async () => {
    const before = received();
    const response = await send({ path: '/azure/openai/deployments' });
    expect(response.status).to.equal(404);
    expect(received()).to.equal(before);
  });

  it('delivers a streamed (SSE) response intact', async () => {
    const response = await send({ path: '/openai/v1/chat/completions', headers: { accept: 'text/event-stream' }, body: '{"stream":true}' });
    expect(response.status).to.equal(200);
    expect(response.body).to.equal(SSE_EVENTS.join('') + 'data: [DONE]\n\n');
    expect(response.chunks.length).to.be.greaterThan(1);
  });

  it("logs the decision id and decision in Envoy's access log", async () => {
    const denied = await send({ path: '/openai/v1/files' });
    const decisionId = readDenial(denied.body).decision_id;
    let line: Record<string, string | number> | undefined;
    for (let i = 0; i < 50 && !line; i++) {
      line = envoy.accessLogLines().find((l) => l['decision_id'] === decisionId);
      if (!line) await new Promise((r) => setTimeout(r, 100));
    }
    expect(line, `access log line for the denial in:\n${readFileSync(envoy.accessLog, 'utf8')}`).to.not.equal(undefined);
    expect(line).to.include({ decision: 'deny', reason: 'no_matching_grant', request_id: decisionId, status: 403 });
    const allowed = envoy.accessLogLines().find((l) => l['decision'] === 'allow');
    expect(allowed?.['key_id']).to.match(/^file:openai\/prod#/);
  });

  describe('when keybroker is not there', () => {
    let hung: NetServer;
    const held: Socket[] = [];
    const hungSocket = join(dir, 'hung.sock');

    before(async () => {
      // Accepts connections and never answers: a keybroker that hangs.
      hung = createNetServer((socket) => held.push(socket)).listen(hungSocket);
      await new Promise((r) => hung.once('listening', r));
    });
    after(() => {
      for (const socket of held) socket.destroy();
      return new Promise<void>((r) => hung.close(() => r()));
    });

    for (const [what, socket] of [
      ['hung', () => hungSocket],
      ['stopped', () => join(dir, 'nobody-listens.sock')],
    ] as const) {
      it(`denies when keybroker is ${what}, and nothing reaches the provider`, async () => {
        const failing = await startEnvoy(mkdtempSync(join(tmpdir(), `keybroker-e2e-${what}-`)), values(socket()));
        try {
          const before = received();
          const response = await send({ path: '/openai/v1/chat/completions' }, failing);
          expect(response.status).to.be.oneOf([403, 503]);
          expect(received()).to.equal(before);
        } finally {
          await failing.stop();
        }
      });
    }
  });
});
