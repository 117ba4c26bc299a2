/**
 * Check over real gRPC on a Unix socket, with CheckRequests shaped as Envoy sends them.
 */
import { expect } from 'chai';
import { statSync } from 'node:fs';
import { credentials, type Client } from '@grpc/grpc-js';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { baseConfig, startTestBroker, TEST_KEYS, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { CANARY_AGENT_TOKEN, CANARY_KEY, CANARY_TOOL_KEY, expectNoCanary } from '../helpers/canary.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import type { CheckResponseMessage } from '../../src/envoy/response.ts';

describe('Check over a Unix socket', () => {
  let t: TestBroker;
  const denials: CheckResponseMessage[] = [];

  before(async () => {
    t = await startTestBroker();
  });
  after(async () => {
    await t.stop();
    // Invariant 1: nothing the broker logged, and no denial it sent, carries a key.
    expectNoCanary(t.logs.text(), 'the log');
    for (const d of denials) expectNoCanary(JSON.stringify(d), 'a denial');
  });

  async function deny(shape: Parameters<typeof envoyCheckRequest>[0], status: number, reason: string) {
    const response = await t.check(envoyCheckRequest(shape));
    denials.push(response);
    expect(response.ok_response, 'must not be allowed').to.equal(undefined);
    expect(response.status.code).to.not.equal(0);
    expect(response.denied_response?.status.code).to.equal(status);
    expect(deniedBody(response).reason).to.equal(reason);
    return response;
  }

  it('listens on a socket with mode 0660', () => {
    const socket = t.broker.address.replace('unix://', '');
    expect(statSync(socket).isSocket()).to.equal(true);
    expect(statSync(socket).mode & 0o777).to.equal(0o660);
  });

  it('reports SERVING for the Authorization service over gRPC health', async () => {
    const pkg = loadPackageDefinition(loadSync(healthProtoPath, { keepCase: true, enums: String })) as unknown as {
      grpc: { health: { v1: { Health: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => Client } } };
    };
    const client = new pkg.grpc.health.v1.Health(t.broker.address, credentials.createInsecure());
    const status = await new Promise<string>((resolve, reject) =>
      (client as unknown as { check: (r: object, cb: (e: Error | null, r: { status: string }) => void) => void }).check({ service: 'envoy.service.auth.v3.Authorization' }, (error, response) =>
        error ? reject(error) : resolve(response.status),
      ),
    );
    client.close();
    expect(status).to.equal('SERVING');
  });

  it('allows a granted request and injects the key with append=false', async () => {
    const response = await t.check(envoyCheckRequest());
    expect(response.status.code).to.equal(0);
    expect(response.denied_response).to.equal(undefined);
    const headers = response.ok_response?.headers ?? [];
    expect(headers).to.have.length(1);
    expect(headers[0]?.header).to.deep.equal({ key: 'authorization', value: `Bearer ${CANARY_KEY}` });
    expect(headers[0]?.append).to.deep.equal({ value: false });
  });

  it('removes every agent credential header but never the injected one', async () => {
    const response = await t.check(
      envoyCheckRequest({ headers: { authorization: `Bearer ${CANARY_AGENT_TOKEN}`, 'x-api-key': CANARY_AGENT_TOKEN, 'api-key': 'x', 'proxy-authorization': 'Basic eA==' } }),
    );
    const removed = response.ok_response?.headers_to_remove ?? [];
    expect(removed).to.include.members(['x-api-key', 'api-key', 'proxy-authorization', 'x-goog-api-key']);
    expect(removed).to.not.include('authorization');
    expect(JSON.stringify(response)).to.not.include(CANARY_AGENT_TOKEN);
  });

  it('injects by template: anthropic in x-api-key, and strips authorization', async () => {
    const response = await t.check(envoyCheckRequest({ principal: 'spiffe://example.org/ns/writing/writer', destination: 'anthropic', path: '/anthropic/v1/messages' }));
    expect(response.ok_response?.headers[0]?.header.key).to.equal('x-api-key');
    expect(response.ok_response?.headers_to_remove).to.include('authorization');
    expect(response.ok_response?.headers_to_remove).to.not.include('x-api-key');
  });

  it('removes the method override headers from every allowed request', async () => {
    for (const destination of ['openai', 'anthropic'] as const) {
      const shape = destination === 'openai' ? {} : { principal: 'spiffe://example.org/ns/writing/writer', destination, path: '/anthropic/v1/messages' };
      const response = await t.check(envoyCheckRequest({ ...shape, headers: { 'x-http-method-override': 'DELETE' } }));
      expect(response.status.code).to.equal(0);
      expect(response.ok_response?.headers_to_remove, destination).to.include.members(['x-http-method-override', 'x-http-method', 'x-method-override']);
    }
  });

  it('puts decision facts in dynamic_metadata, with the key id and never the key', async () => {
    const response = await t.check(envoyCheckRequest({ requestId: 'decision-42' }));
    const fields = response.dynamic_metadata.fields;
    expect(fields['decision_id']?.stringValue).to.equal('decision-42');
    expect(fields['decision']?.stringValue).to.equal('allow');
    expect(fields['identity']?.stringValue).to.equal('spiffe://example.org/ns/research/summarizer');
    expect(fields['key_id']?.stringValue).to.match(/^file:openai\/prod#[0-9a-f]{12}$/);
    // By default only what the shipped access log and metering read; `envoy.dynamicMetadata: full` adds the rest.
    expect(fields['destination']?.stringValue).to.equal('openai');
    expect(fields['rule']).to.equal(undefined);
    expectNoCanary(JSON.stringify(response.dynamic_metadata), 'dynamic metadata');
    t.writeConfig({ ...baseConfig(), envoy: { dynamicMetadata: 'full' } });
    expect(await t.broker.watcher.reload()).to.equal(true);
    try {
      const full = (await t.check(envoyCheckRequest())).dynamic_metadata.fields;
      expect(full['rule']?.stringValue).to.equal('research-openai');
      expect(full['destination']?.stringValue).to.equal('openai');
      expect(full['policy_version']?.stringValue).to.equal(t.broker.runtime().policy.version);
    } finally {
      t.writeConfig(baseConfig());
      await t.broker.watcher.reload();
    }
  });

  it('uses x-request-id as the decision id and generates one when absent', async () => {
    const withId = await deny({ principal: 'spiffe://example.org/ns/other/x', requestId: 'abc-123' }, 403, 'no_matching_grant');
    expect(deniedBody(withId).decision_id).to.equal('abc-123');
    const without = await deny({ principal: 'spiffe://example.org/ns/other/x', requestId: null }, 403, 'no_matching_grant');
    expect(deniedBody(without).decision_id).to.match(/^[0-9a-f-]{36}$/);
  });

  it("answers a denial as JSON in the shape of the route's API, with the decision id as x-request-id", async () => {
    const headersOf = (r: CheckResponseMessage) => Object.fromEntries((r.denied_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
    // openai (inject: openai): what the OpenAI SDKs read, reason as error.code.
    const openai = await deny({ principal: 'spiffe://example.org/ns/other/x', requestId: 'deny-openai' }, 403, 'no_matching_grant');
    expect(headersOf(openai)).to.deep.equal({ 'content-type': 'application/json', 'x-request-id': 'deny-openai' });
    expect(JSON.parse(openai.denied_response!.body)).to.deep.equal({
      error: { message: 'keybroker denied this request (no_matching_grant): no grant allows this request', type: 'permission_error', code: 'no_matching_grant' },
      decision_id: 'deny-openai',
    });
    // anthropic: Anthropic's error shape, and request-id, which its SDK reads. A denial
    // before routing (no identity) still takes the route's shape.
    const anthropic = await deny({ principal: '', destination: 'anthropic', path: '/anthropic/v1/messages', requestId: 'deny-anthropic' }, 401, 'identity_missing');
    expect(headersOf(anthropic)).to.deep.equal({ 'content-type': 'application/json', 'x-request-id': 'deny-anthropic', 'request-id': 'deny-anthropic' });
    expect(JSON.parse(anthropic.denied_response!.body)).to.deep.equal({
      type: 'error',
      error: { type: 'authentication_error', message: 'keybroker denied this request (identity_missing): no workload identity was presented', details: { error_code: 'identity_missing' } },
      decision_id: 'deny-anthropic',
    });
    // tools (a generic template, no api): keybroker's own JSON.
    const tools = await deny({ principal: 'spiffe://example.org/ns/other/x', destination: 'tools', host: 'tools.example.org', path: '/search', requestId: 'deny-tools' }, 403, 'no_matching_grant');
    expect(headersOf(tools)).to.deep.equal({ 'content-type': 'application/json', 'x-request-id': 'deny-tools' });
    expect(JSON.parse(tools.denied_response!.body)).to.deep.equal({
      error: 'forbidden',
      reason: 'no_matching_grant',
      message: 'keybroker denied this request (no_matching_grant): no grant allows this request',
      decision_id: 'deny-tools',
    });
  });

  it('denies no identity with 401', () => deny({ principal: '' }, 401, 'identity_missing'));
  it('denies an unknown identity with 403', () => deny({ principal: 'spiffe://example.org/ns/finance/bot' }, 403, 'no_matching_grant'));
  it('denies a foreign trust domain with 401', () => deny({ principal: 'spiffe://evil.example/ns/research/summarizer' }, 401, 'trust_domain_unknown'));
  it('denies a malformed SPIFFE ID with 401', async () => {
    for (const principal of [
      'spiffe://example.org/ns/research/../admin',
      'spiffe://Example.org/ns/research/x',
      'https://example.org/ns/research/x',
      'spiffe://example.org/ns/research/x/',
      'spiffe://example.org/ns/research/%41',
    ]) {
      await deny({ principal }, 401, 'identity_malformed');
    }
  });
  it('denies a route with no destination and an unknown destination', async () => {
    await deny({ destination: null }, 403, 'destination_missing');
    await deny({ destination: 'azure' }, 403, 'destination_unknown');
  });
  it('denies the wrong destination for the identity', () => deny({ destination: 'anthropic', path: '/anthropic/v1/messages' }, 403, 'no_matching_grant'));
  it('denies the wrong method', () => deny({ method: 'DELETE' }, 403, 'no_matching_grant'));
  it('denies the wrong path, and a query string never widens a match', async () => {
    await deny({ path: '/openai/v1/files' }, 403, 'no_matching_grant');
    await deny({ path: '/openai/v1/files?x=/v1/chat/completions' }, 403, 'no_matching_grant');
    const allowed = await t.check(envoyCheckRequest({ path: '/openai/v1/chat/completions?stream=true' }));
    expect(allowed.status.code).to.equal(0);
  });
  it('matches path prefixes only below the prefix', async () => {
    expect((await t.check(envoyCheckRequest({ method: 'GET', path: '/openai/v1/models/gpt-4o' }))).status.code).to.equal(0);
    await deny({ method: 'GET', path: '/openai/v1/models' }, 403, 'no_matching_grant');
  });
  it('denies paths that are not in normal form', async () => {
    for (const path of ['/openai/v1/../v1/chat/completions', '/openai//v1/chat/completions', '/openai/v1%2fchat/completions', '/openai/v1/chat/completions/.', '/openai\\v1']) {
      await deny({ path }, 403, 'path_not_normalized');
    }
  });
  it('denies path parameters (";"), which servlet containers strip before routing', async () => {
    // The grant covers /v1/chat/completions only, so only the reason tells these apart: a
    // path that matched a grant by prefix ("/*" on tools) would otherwise be allowed while
    // the upstream acts on "/admin", past any deny rule naming it.
    await deny({ path: '/openai/v1/chat/completions;jsessionid=1' }, 403, 'path_not_normalized');
    await deny({ destination: 'tools', host: 'tools.example.org', path: '/admin;x/users' }, 403, 'path_not_normalized');
  });
  it('never forwards TRACE or TRACK, whose answer echoes the injected key, even on a grant of every method', async () => {
    // research-tools grants methods ["*"] on tools.
    for (const method of ['TRACE', 'TRACK']) await deny({ method, destination: 'tools', host: 'tools.example.org', path: '/search' }, 403, 'method_not_forwarded');
  });
  it('denies a method override in the query, which some frameworks honour as the method', async () => {
    // research-tools grants every method on /*, so only a POST-only grant shows the stake:
    // POST /v1/chat/completions?_method=DELETE is a DELETE to Laravel, Symfony or ASP.NET.
    for (const query of ['_method=DELETE', 'x=1&%5Fmethod=DELETE', 'X-HTTP-Method-Override=DELETE', 'x-http-method=DELETE', 'x-method-override=PUT']) {
      await deny({ path: `/openai/v1/chat/completions?${query}` }, 400, 'request_malformed');
    }
    // A parameter that merely mentions it is not one.
    expect((await t.check(envoyCheckRequest({ path: '/openai/v1/chat/completions?q=_method%3DDELETE' }))).status.code).to.equal(0);
  });
  it('denies a path outside the route prefix', () => deny({ path: '/anthropic/v1/chat/completions' }, 403, 'path_outside_route'));
  it('lets an explicit deny beat a grant', () => deny({ principal: 'spiffe://example.org/ns/research/quarantined' }, 403, 'denied_by_rule'));
  it('denies an :authority that belongs to neither the destination nor the gateway', async () => {
    await deny({ host: 'api.anthropic.com' }, 403, 'authority_mismatch');
    await deny({ host: 'evil.example' }, 403, 'authority_mismatch');
    expect((await t.check(envoyCheckRequest({ host: 'api.openai.com' }))).status.code).to.equal(0);
    expect((await t.check(envoyCheckRequest({ host: 'GATEWAY.local:10000' }))).status.code).to.equal(0);
  });
  it('never lets a header pick the destination', async () => {
    const response = await deny(
      { destination: 'anthropic', path: '/anthropic/v1/messages', headers: { 'x-destination': 'openai', 'x-envoy-original-path': '/openai/v1/chat/completions' } },
      403,
      'no_matching_grant',
    );
    expect(response.ok_response).to.equal(undefined);
  });

  describe('with an Envoy peer certificate', () => {
    const ca = createCa('example.org');
    const svid = ca.issue('summarizer', { uris: ['spiffe://example.org/ns/research/summarizer'] });
    const twoUris = ca.issue('two-uris', { uris: ['spiffe://example.org/ns/research/summarizer', 'spiffe://example.org/ns/research/other'] });
    const other = ca.issue('other', { uris: ['spiffe://example.org/ns/research/other'] });

    it('accepts a certificate whose single URI SAN is the principal', async () => {
      expect((await t.check(envoyCheckRequest({ certificate: svid.cert }))).status.code).to.equal(0);
    });
    it('denies a certificate with two URI SANs', () => deny({ certificate: twoUris.cert }, 401, 'certificate_mismatch'));
    it('denies a certificate naming another identity', () => deny({ certificate: other.cert }, 401, 'certificate_mismatch'));
    it('denies a certificate that does not parse', () => deny({ certificate: '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----' }, 401, 'certificate_mismatch'));
  });

  describe('malformed CheckRequests are denials, never crashes', () => {
    it('no http attributes', async () => {
      const response = await t.check({ attributes: { source: { principal: 'spiffe://example.org/ns/research/summarizer' }, context_extensions: { destination: 'openai' } } });
      expect(deniedBody(response).reason).to.equal('request_malformed');
    });
    it('an empty CheckRequest', async () => {
      expect(deniedBody(await t.check({})).reason).to.equal('request_malformed');
    });
    it('absurd header sizes', () => deny({ headers: { 'x-big': 'a'.repeat(70 * 1024) } }, 400, 'request_malformed'));
    it('too many headers', () => deny({ headers: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`x-h${i}`, 'v'])) }, 400, 'request_malformed'));
    it('a method that is not an HTTP method', () => deny({ method: 'PO ST' }, 400, 'request_malformed'));
    it('non-UTF-8 header bytes', async () => {
      const request = envoyCheckRequest();
      request.attributes!.request!.http!.header_map = { headers: [{ key: ':authority', raw_value: new Uint8Array([0x67, 0xff, 0xfe]) }] };
      const response = await t.check(request);
      expect(deniedBody(response).reason).to.equal('request_malformed');
    });
  });

  it('writes one decision log line per Check, without secrets', async () => {
    const before = t.logs.lines().filter((l) => l['decision']).length;
    await t.check(envoyCheckRequest({ requestId: 'log-line-1', headers: { authorization: `Bearer ${CANARY_AGENT_TOKEN}` } }));
    const lines = t.logs.lines().filter((l) => l['decision']);
    expect(lines.length - before).to.equal(1);
    const record = lines.at(-1)!['decision'] as Record<string, unknown>;
    expect(record).to.include({
      decisionId: 'log-line-1',
      decision: 'allow',
      identity: 'spiffe://example.org/ns/research/summarizer',
      proof: 'x509-svid',
      destination: 'openai',
      rule: 'research-openai',
    });
    expect(record['keyId']).to.match(/^file:openai\/prod#/);
    expectNoCanary(t.logs.text(), 'the log');
  });
});

describe('Check: what is injected and what is stripped', () => {
  const BUILT_IN = ['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'x-goog-api-key'];
  let t: TestBroker;
  const config = baseConfig();
  Object.assign(config['destinations'] as Record<string, unknown>, {
    azure: { upstream: 'contoso.openai.azure.com', inject: 'azure-openai', key: 'azure/prod' },
    gemini: { upstream: 'generativelanguage.googleapis.com', inject: 'google', key: 'google/prod' },
  });
  (config['policy'] as unknown[]).push({ id: 'research-more', identities: ['spiffe://example.org/ns/research/*'], destinations: ['azure', 'gemini'], methods: ['POST'], paths: ['/*'] });
  // Only authorization is looked at for tokens: the built-in credential headers must be
  // stripped all the same.
  config['tokens'] = { headers: ['authorization'] };
  config['removeHeaders'] = ['x-http-method-override', 'x-debug-upstream'];

  before(async () => {
    t = await startTestBroker({ config, keys: { ...TEST_KEYS, 'tools/search': CANARY_TOOL_KEY, 'azure/prod': CANARY_TOOL_KEY, 'google/prod': CANARY_TOOL_KEY } });
  });
  after(async () => {
    await t.stop();
    expectNoCanary(t.logs.text(), 'the log');
  });

  const allowed = async (shape: Parameters<typeof envoyCheckRequest>[0]) => {
    const response = await t.check(envoyCheckRequest(shape));
    expect(response.status.code, JSON.stringify(response.denied_response)).to.equal(0);
    return response.ok_response!;
  };

  for (const [destination, host, header, value] of [
    ['openai', 'gateway.local', 'authorization', `Bearer ${CANARY_KEY}`],
    ['tools', 'tools.example.org', 'x-tool-token', `Token ${CANARY_TOOL_KEY}`],
    ['azure', 'contoso.openai.azure.com', 'api-key', CANARY_TOOL_KEY],
    ['gemini', 'generativelanguage.googleapis.com', 'x-goog-api-key', CANARY_TOOL_KEY],
  ] as const) {
    it(`${destination}: injects ${header} and strips every built-in credential header but that one, whatever tokens.headers says`, async () => {
      const ok = await allowed({ destination, host, path: destination === 'openai' ? '/openai/v1/chat/completions' : '/v1/x' });
      expect(ok.headers.map((h) => h.header)).to.deep.equal([{ key: header, value }]);
      expect(ok.headers_to_remove).to.include.members(BUILT_IN.filter((h) => h !== header));
      expect(ok.headers_to_remove).to.not.include(header);
    });
  }

  it('removes the configured removeHeaders instead of the default list', async () => {
    const ok = await allowed({});
    expect(ok.headers_to_remove).to.include.members(['x-http-method-override', 'x-debug-upstream']);
    expect(ok.headers_to_remove).to.not.include('x-method-override');
  });

  it('answers azure-openai destinations in the OpenAI shape', async () => {
    const response = await t.check(envoyCheckRequest({ principal: 'spiffe://example.org/ns/other/x', destination: 'azure', host: 'contoso.openai.azure.com', path: '/v1/x' }));
    expect(JSON.parse(response.denied_response!.body)).to.deep.include({
      error: { message: 'keybroker denied this request (no_matching_grant): no grant allows this request', type: 'permission_error', code: 'no_matching_grant' },
    });
  });
});

describe('Check when the key store fails', () => {
  it('denies with 503 key_unavailable when the key is missing', async () => {
    const t = await startTestBroker({ keys: { 'anthropic/prod': 'sk-other' } });
    try {
      const response = await t.check(envoyCheckRequest());
      expect(response.denied_response?.status.code).to.equal(503);
      expect(deniedBody(response).reason).to.equal('key_unavailable');
    } finally {
      await t.stop();
    }
  });
});
