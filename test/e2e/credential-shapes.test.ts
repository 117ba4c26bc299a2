/**
 * Credential shapes through a real Envoy: the shipped gateway configuration with two
 * more routes, to a Basic-auth destination (Stripe's shape: the key as username) and a
 * query-parameter destination (Google Maps' shape: `?key=`), both served by one fake
 * provider behind verified TLS. What arrives upstream is keybroker's credential, once,
 * and nothing the agent sent in its place.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.ts';
import { fakeProviderValues, gatewayValues, GATEWAY_TEMPLATE, startEnvoy, type RunningEnvoy } from '../helpers/envoy.ts';
import { agentRequest, type AgentResponse } from '../helpers/agent.ts';
import { poll } from '../helpers/poll.ts';
import { toolRoute, withToolRoutes } from '../helpers/tool-routes.ts';
import { CANARY_AGENT_TOKEN, CANARY_FIELD_SECRET, CANARY_KEY, expectNoCanary } from '../helpers/canary.ts';

/** Routes to the `tools` cluster, inserted before the gateway's catch-all route. */
const TOOL_ROUTES = (['stripe', 'maps', 'odd'] as const).map((name) => toolRoute(name, name, `{{${name.toUpperCase()}_HOST}}`)).join('');

describe('Basic-auth and query-parameter credentials through real Envoy', function () {
  this.timeout(60_000);

  const dir = mkdtempSync(join(tmpdir(), 'keybroker-e2e-shapes-'));
  const trust = createCa('example.org');
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: ['spiffe://example.org/ns/research/summarizer'] });
  const providerCa = createCa('providers');
  // Every character Envoy takes unencoded in a query parameter (ALPHA, DIGIT, "*-._").
  const MAPS_KEY = `${CANARY_KEY}_x.y*z`;

  let broker: TestBroker;
  let tools: FakeProvider;
  let openai: FakeProvider;
  let envoy: RunningEnvoy;
  const responses: AgentResponse[] = [];

  before(async () => {
    tools = await startFakeProvider('tools', providerCa.issue('tools.example', { dns: ['tools.example'] }));
    openai = await startFakeProvider('openai', providerCa.issue('api.openai.com', { dns: ['api.openai.com'] }));
    const config = baseConfig();
    const destinations = config['destinations'] as Record<string, unknown>;
    destinations['stripe'] = {
      upstream: 'api.stripe.com',
      authorities: ['gateway.local'],
      routePrefix: '/stripe',
      inject: { basic: { username: '${key}', password: '' } },
      key: 'stripe/prod#secret_key',
    };
    destinations['maps'] = { upstream: 'maps.googleapis.com', authorities: ['gateway.local'], routePrefix: '/maps', inject: { query: 'key' }, key: 'google/maps' };
    destinations['odd'] = { upstream: 'maps.googleapis.com', authorities: ['gateway.local'], routePrefix: '/odd', inject: { query: 'key' }, key: 'google/odd' };
    (config['policy'] as unknown[]).push({ id: 'research-tools-shapes', identities: ['spiffe://example.org/ns/research/*'], destinations: ['stripe', 'maps', 'odd'], methods: ['*'], paths: ['/*'] });
    broker = await startTestBroker({
      dir,
      config,
      keys: {
        'openai/prod': CANARY_KEY,
        'stripe/prod': { secret_key: CANARY_FIELD_SECRET, publishable_key: 'pk_test' },
        'google/maps': MAPS_KEY,
        'google/odd': `${CANARY_KEY}+/=`,
      } as unknown as Record<string, string>,
    });

    const template = join(dir, 'gateway-with-tools.yaml');
    const text = readFileSync(GATEWAY_TEMPLATE, 'utf8');
    writeFileSync(template, withToolRoutes(text, TOOL_ROUTES));
    envoy = await startEnvoy(
      dir,
      {
        ...gatewayValues(gateway, trust.certFile, broker.broker.address),
        ...fakeProviderValues(providerCa.certFile, openai.port, openai.port),
        STRIPE_HOST: 'api.stripe.com',
        MAPS_HOST: 'maps.googleapis.com',
        ODD_HOST: 'maps.googleapis.com',
        TOOLS_PORT: tools.port,
      },
      template,
    );
  });

  after(async () => {
    await envoy?.stop();
    await broker?.stop();
    await tools?.close();
    await openai?.close();
    for (const r of responses) expectNoCanary(JSON.stringify(r), 'a response to the agent');
    expectNoCanary(broker.logs.text(), 'keybroker log');
    expectNoCanary(envoy.process.output(), 'Envoy output');
    expectNoCanary(readFileSync(envoy.accessLog, 'utf8'), 'Envoy access log');
  });

  const call = async (method: string, path: string, headers: Record<string, string>) => {
    const response = await agentRequest({ port: envoy.port, gatewayCa: trust.cert, svid: research, method, path, headers });
    responses.push(response);
    return response;
  };
  const send = async (method: string, path: string, headers: Record<string, string>) => {
    const response = await call(method, path, headers);
    expect(response.status, response.body).to.equal(200);
    return tools.received.at(-1)!;
  };
  const agentCredentials = {
    authorization: `Basic ${Buffer.from(`${CANARY_AGENT_TOKEN}:`).toString('base64')}`,
    'x-api-key': CANARY_AGENT_TOKEN,
    'x-goog-api-key': CANARY_AGENT_TOKEN,
    'proxy-authorization': `Bearer ${CANARY_AGENT_TOKEN}`,
  };

  it("Basic: delivers base64(key:) as the only authorization, and none of the agent's credentials", async () => {
    const upstream = await send('POST', '/stripe/v1/charges', agentCredentials);
    expect(upstream.path).to.equal('/v1/charges');
    expect(tools.headerValues(upstream, 'host')).to.deep.equal(['api.stripe.com']);
    expect(tools.headerValues(upstream, 'authorization')).to.deep.equal([`Basic ${Buffer.from(`${CANARY_FIELD_SECRET}:`).toString('base64')}`]);
    for (const h of ['x-api-key', 'x-goog-api-key', 'proxy-authorization']) expect(tools.headerValues(upstream, h), h).to.deep.equal([]);
    expect(JSON.stringify(upstream))
      .to.not.include(CANARY_AGENT_TOKEN)
      .and.not.include(Buffer.from(`${CANARY_AGENT_TOKEN}:`).toString('base64'));
  });

  it('query: delivers ?key= with the key, once, in place of every copy the agent sent, and no credential header', async () => {
    const upstream = await send('GET', `/maps/maps/api/geocode/json?address=Main+St&key=${CANARY_AGENT_TOKEN}&language=en&key=again`, agentCredentials);
    const url = new URL(upstream.path, 'https://maps.googleapis.com');
    expect(url.pathname).to.equal('/maps/api/geocode/json');
    expect(url.searchParams.getAll('key')).to.deep.equal([MAPS_KEY]);
    expect(url.searchParams.get('address')).to.equal('Main St');
    expect(url.searchParams.get('language')).to.equal('en');
    expect(tools.headerValues(upstream, 'host')).to.deep.equal(['maps.googleapis.com']);
    for (const h of ['authorization', 'x-api-key', 'x-goog-api-key', 'proxy-authorization']) expect(tools.headerValues(upstream, h), h).to.deep.equal([]);
    expect(JSON.stringify(upstream)).to.not.include(CANARY_AGENT_TOKEN);
  });

  it('query: a key Envoy would refuse in a query string is key_unavailable, and nothing is forwarded', async () => {
    const before = tools.received.length;
    const response = await call('GET', '/odd/maps/api/geocode/json?address=x', {});
    expect(response.status).to.equal(503);
    expect(JSON.parse(response.body)).to.include({ reason: 'key_unavailable' });
    expect(tools.received.length).to.equal(before);
  });

  it("logs no query string in Envoy's access log: neither the agent's nor the injected key", async () => {
    // Envoy flushes its access log every 100 ms: wait for the lines rather than race them.
    // As forwarded (the route's /maps prefix removed): Envoy keeps no x-envoy-original-path.
    const paths = await poll(
      () => {
        const logged = envoy.accessLogLines().map((l) => String(l['path']));
        expect(logged).to.include('/maps/api/geocode/json');
        return logged;
      },
      { timeoutMs: 5000, intervalMs: 100 },
    );
    expect(paths.some((p) => p.includes('?'))).to.equal(false);
  });

  it('query: adds the parameter when the agent sent none', async () => {
    const upstream = await send('GET', '/maps/maps/api/place/details/json', {});
    expect(new URL(upstream.path, 'https://x').searchParams.getAll('key')).to.deep.equal([MAPS_KEY]);
  });
});
