/**
 * Every injection shape, keys chosen per team and per grant, and OAuth2 client
 * credentials, through a real keybroker over gRPC: what Envoy would apply (headers set
 * and removed, query parameters set) and what the record says (the key id).
 */
import { expect } from 'chai';
import { stringify } from 'yaml';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest, type RequestShape } from '../helpers/envoy-request.ts';
import { startTokenEndpoint, type TokenEndpoint } from '../helpers/token-endpoint.ts';
import { CANARY_AGENT_TOKEN, CANARY_ANTHROPIC_KEY, CANARY_CLIENT_SECRET, CANARY_FIELD_SECRET, CANARY_KEY, CANARY_SID, expectNoCanary } from '../helpers/canary.ts';
import type { CheckResponseMessage } from '../../src/envoy/response.ts';

const RESEARCH = 'spiffe://example.org/ns/research/summarizer';
const WRITER = 'spiffe://example.org/ns/writing/writer';
const LONER = 'spiffe://example.org/ns/loner/agent';
const BOTH = 'spiffe://example.org/ns/shared/agent';
const ANY = ['spiffe://example.org/*'];

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('credential shapes, keys per team, OAuth2', function () {
  this.timeout(30_000);
  let t: TestBroker;
  let endpoint: TokenEndpoint;
  const responses: CheckResponseMessage[] = [];

  const grant = (id: string, destinations: string[], extra: Record<string, unknown> = {}) => ({ id, identities: ANY, destinations, methods: ['*'], paths: ['/*'], ...extra });

  before(async () => {
    endpoint = await startTokenEndpoint();
    const destination = (name: string, inject: unknown, key: string, extra: Record<string, unknown> = {}) => [name, { upstream: `${name}.example`, inject, key, ...extra }] as const;
    const config = {
      trust: { 'example.org': {} },
      keys: { store: 'file', file: './keys.yaml' },
      teams: {
        research: ['spiffe://example.org/ns/research/*', BOTH],
        writing: ['spiffe://example.org/ns/writing/*', BOTH],
      },
      destinations: Object.fromEntries([
        destination('bearer', 'bearer', 'openai/research'),
        destination('header', { header: 'x-tool-token', prefix: 'Token ', suffix: '; v=1' }, 'openai/research'),
        destination('stripe', { basic: { username: '${key}', password: '' } }, 'stripe/prod#secret_key'),
        destination('twilio', { basic: { username: '${key.sid}', password: '${key.secret}' } }, 'twilio/prod'),
        destination('maps', { query: 'key' }, 'google/maps'),
        destination('odd', { query: 'key' }, 'google/odd'),
        destination('pair', { headers: { 'x-client-id': '${key.sid}', 'x-client-secret': '${key.secret}', 'x-api-version': '2' } }, 'twilio/prod'),
        destination('anthropic', 'anthropic', 'anthropic/prod'),
        destination('azure', 'azure-openai', 'openai/research'),
        destination('gemini', 'google', 'openai/research'),
        destination('openai', 'openai', 'openai/{team}'),
        destination('missingfield', { basic: { username: '${key.nope}', password: '' } }, 'twilio/prod'),
        ...['saas', 'saas-burst', 'saas-down'].map((name) => destination(name, { oauth2: { tokenUrl: endpoint.url, clientId: 'keybroker', scopes: ['read'], timeout: '1s' } }, 'saas/client-secret')),
        destination('saas-slow', { oauth2: { tokenUrl: endpoint.url, clientId: 'keybroker', scopes: ['slow'], timeout: '30s' } }, 'saas/client-secret'),
      ]),
      policy: [
        grant('writers-special', ['openai'], { identities: [WRITER], key: 'openai/writers-special' }),
        grant('loner-explicit', ['openai'], { identities: [LONER], key: 'openai/shared' }),
        grant('everyone', ['bearer', 'header', 'stripe', 'twilio', 'maps', 'pair', 'anthropic', 'azure', 'gemini', 'openai', 'missingfield', 'odd', 'saas-slow', 'saas', 'saas-burst', 'saas-down']),
      ],
    };
    const keys = stringify({
      'openai/research': CANARY_KEY,
      'openai/shared': `${CANARY_KEY}-shared`,
      'openai/writers-special': `${CANARY_KEY}-writers`,
      'anthropic/prod': CANARY_ANTHROPIC_KEY,
      'stripe/prod': { secret_key: CANARY_FIELD_SECRET, publishable_key: 'pk_test_public' },
      'twilio/prod': { sid: CANARY_SID, secret: CANARY_FIELD_SECRET },
      'google/maps': `${CANARY_KEY}_x.y*z`,
      'google/odd': `${CANARY_KEY}+/=`,
      'saas/client-secret': CANARY_CLIENT_SECRET,
    });
    t = await startTestBroker({ config, keys });
  });

  after(async () => {
    await t?.stop();
    await endpoint?.close();
    expectNoCanary(t.logs.text(), 'the log');
    for (const r of responses) if (r.denied_response) expectNoCanary(JSON.stringify(r), 'a denial');
  });

  const check = async (destination: string, shape: RequestShape = {}, options: { deadlineMs?: number } = {}) => {
    const response = await t.check(envoyCheckRequest({ destination, host: `${destination}.example`, path: '/v1/things', principal: RESEARCH, ...shape }), options);
    responses.push(response);
    return response;
  };
  const allowed = async (destination: string, shape: RequestShape = {}) => {
    const response = await check(destination, shape);
    expect(response.status.code, JSON.stringify(response.denied_response)).to.equal(0);
    const ok = response.ok_response!;
    return {
      set: Object.fromEntries((ok.headers ?? []).map((h) => [h.header.key, h.header.value])),
      appends: (ok.headers ?? []).map((h) => h.append.value),
      removed: ok.headers_to_remove ?? [],
      query: Object.fromEntries((ok.query_parameters_to_set ?? []).map((q) => [q.key, q.value])),
      queryRemoved: ok.query_parameters_to_remove ?? [],
      keyId: response.dynamic_metadata.fields['key_id']?.stringValue,
    };
  };
  const unavailable = async (destination: string, shape: RequestShape = {}) => {
    const response = await check(destination, shape);
    expect(response.denied_response?.status.code).to.equal(503);
    expect(deniedBody(response).reason).to.equal('key_unavailable');
    return t.logs
      .lines()
      .map((l) => l['decision'] as { decisionId?: string; detail?: string } | undefined)
      .filter((d) => d?.decisionId === deniedBody(response).decision_id)
      .map((d) => d?.detail ?? '')
      .join('\n');
  };
  const agentCredentials = {
    authorization: `Bearer ${CANARY_AGENT_TOKEN}`,
    'x-api-key': CANARY_AGENT_TOKEN,
    'api-key': CANARY_AGENT_TOKEN,
    'x-goog-api-key': CANARY_AGENT_TOKEN,
    'proxy-authorization': 'Basic eA==',
  };

  it('bearer: sets authorization with append=false and strips every other agent credential header', async () => {
    const a = await allowed('bearer', { headers: agentCredentials });
    expect(a.set).to.deep.equal({ authorization: `Bearer ${CANARY_KEY}` });
    expect(a.appends).to.deep.equal([false]);
    expect(a.removed).to.include.members(['x-api-key', 'api-key', 'x-goog-api-key', 'proxy-authorization']).and.not.include('authorization');
    expect(a.keyId).to.match(/^file:openai\/research#[0-9a-f]{12}$/);
  });

  it("header: any name, with a prefix and a suffix; the agent's copy is overwritten and authorization stripped", async () => {
    const a = await allowed('header', { headers: { ...agentCredentials, 'x-tool-token': CANARY_AGENT_TOKEN } });
    expect(a.set).to.deep.equal({ 'x-tool-token': `Token ${CANARY_KEY}; v=1` });
    expect(a.removed).to.include.members(['authorization', 'x-api-key', 'api-key']).and.not.include('x-tool-token');
  });

  it('basic from one field of a secret (Stripe: key as username, empty password), base64 by keybroker', async () => {
    const a = await allowed('stripe', { headers: agentCredentials });
    expect(a.set).to.deep.equal({ authorization: basic(CANARY_FIELD_SECRET, '') });
    expect(a.keyId).to.match(/^file:stripe\/prod\[secret_key\]#[0-9a-f]{12}$/);
    expect(a.removed).to.not.include('authorization');
  });

  it('basic from two fields of a secret (Twilio: account sid and secret)', async () => {
    const a = await allowed('twilio', { headers: agentCredentials });
    expect(a.set).to.deep.equal({ authorization: basic(CANARY_SID, CANARY_FIELD_SECRET) });
    expect(a.keyId).to.match(/^file:twilio\/prod#[0-9a-f]{12}$/);
  });

  it("query: sets the parameter (overwriting the agent's) and strips every credential header", async () => {
    const a = await allowed('maps', { path: `/v1/things?key=${CANARY_AGENT_TOKEN}&q=x`, headers: agentCredentials });
    expect(a.set).to.deep.equal({});
    expect(a.query).to.deep.equal({ key: `${CANARY_KEY}_x.y*z` });
    // Envoy applies removals after sets: removing "key" too would remove keybroker's own.
    expect(a.queryRemoved).to.deep.equal([]);
    expect(a.removed).to.include.members(['authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'proxy-authorization']);
  });

  it('query: a key Envoy would refuse in a query string is key_unavailable, saying why', async () => {
    expect(await unavailable('odd')).to.match(/characters Envoy does not accept unencoded in the query parameter "key"/);
  });

  it('several headers at once, each from its own field, with a constant beside them', async () => {
    const a = await allowed('pair', { headers: { ...agentCredentials, 'x-client-secret': CANARY_AGENT_TOKEN } });
    expect(a.set).to.deep.equal({ 'x-client-id': CANARY_SID, 'x-client-secret': CANARY_FIELD_SECRET, 'x-api-version': '2' });
    expect(a.appends).to.deep.equal([false, false, false]);
    expect(a.removed).to.include('authorization');
  });

  it('the provider templates are these shapes: anthropic, azure-openai, google', async () => {
    expect((await allowed('anthropic')).set).to.deep.equal({ 'x-api-key': CANARY_ANTHROPIC_KEY });
    expect((await allowed('azure')).set).to.deep.equal({ 'api-key': CANARY_KEY });
    const gemini = await allowed('gemini');
    expect(gemini.set).to.deep.equal({ 'x-goog-api-key': CANARY_KEY });
    expect(gemini.removed).to.include('authorization').and.not.include('x-goog-api-key');
  });

  it('a field the secret lacks is key_unavailable, naming the field, never the secret', async () => {
    const detail = await unavailable('missingfield');
    expect(detail).to.match(/twilio\/prod.*no field "nope" \(its fields: sid, secret\)/);
  });

  describe('keys per team', () => {
    it("chooses the caller's team key, and the record shows which", async () => {
      const research = await allowed('openai', { principal: RESEARCH });
      expect(research.set).to.deep.equal({ authorization: `Bearer ${CANARY_KEY}` });
      expect(research.keyId).to.match(/^file:openai\/research#/);
    });

    it("a grant's own key: overrides the team key", async () => {
      const writer = await allowed('openai', { principal: WRITER });
      expect(writer.set).to.deep.equal({ authorization: `Bearer ${CANARY_KEY}-writers` });
      expect(writer.keyId).to.match(/^file:openai\/writers-special#/);
      const loner = await allowed('openai', { principal: LONER });
      expect(loner.keyId).to.match(/^file:openai\/shared#/);
    });

    it('a team without a key is key_unavailable, never a broader key', async () => {
      const other = 'spiffe://example.org/ns/writing/editor';
      const detail = await unavailable('openai', { principal: other });
      expect(detail).to.match(/openai\/writing/);
    });

    it('no team, or several, is key_unavailable', async () => {
      expect(await unavailable('openai', { principal: 'spiffe://example.org/ns/nobody/x' })).to.match(/is in no team/);
      expect(await unavailable('openai', { principal: BOTH })).to.match(/several teams \(research, writing\)/);
    });
  });

  describe('OAuth2 client credentials', () => {
    it('injects the access token as Bearer, keyed by client id and token fingerprint, and caches it', async () => {
      const before = endpoint.requests.length;
      const a = await allowed('saas', { headers: agentCredentials });
      expect(a.set).to.deep.equal({ authorization: `Bearer ${endpoint.lastToken()}` });
      expect(a.keyId).to.match(/^oauth2:keybroker#[0-9a-f]{12}$/);
      expect(a.removed).to.include('x-api-key').and.not.include('authorization');
      const again = await allowed('saas');
      expect(again.keyId).to.equal(a.keyId);
      expect(endpoint.requests.length - before).to.equal(1);
      expect(endpoint.requests.at(-1)!.authorization).to.equal(basic('keybroker', CANARY_CLIENT_SECRET));
    });

    it('sends one token request for 500 concurrent Checks', async () => {
      const before = endpoint.requests.length;
      endpoint.delayMs = 150;
      const all = await Promise.all(Array.from({ length: 500 }, () => check('saas-burst')));
      endpoint.delayMs = 0;
      expect(all.every((r) => r.status.code === 0)).to.equal(true);
      expect(endpoint.requests.length - before).to.equal(1);
      expect(new Set(all.map((r) => r.ok_response!.headers[0]!.header.value)).size).to.equal(1);
    });

    it("ends a slow token request's wait by the Check's deadline: key_unavailable, in time", async () => {
      endpoint.mode = 'hang';
      try {
        const started = Date.now();
        const response = await check('saas-slow', { requestId: 'slow-token-1' }, { deadlineMs: 400 });
        expect(Date.now() - started).to.be.below(1000);
        expect(response.denied_response?.status.code).to.equal(503);
        expect(deniedBody(response).reason).to.equal('key_unavailable');
      } finally {
        endpoint.mode = 'ok';
      }
    });

    it('fails closed with key_unavailable while the token endpoint is down', async () => {
      endpoint.mode = 'refuse';
      try {
        expect(await unavailable('saas-down')).to.match(/refused the client \(401, invalid_client\)/);
      } finally {
        endpoint.mode = 'ok';
      }
    });
  });
});
