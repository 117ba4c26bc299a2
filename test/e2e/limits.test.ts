/**
 * A budget through real Envoy (the shipped envoy/egress-gateway.yaml), a real Redis and
 * the real OpenAI SDK: the agent sees what it has left on allowed answers; once its
 * budget is spent it gets 429 with retry-after as an SDK RateLimitError and nothing
 * reaches the provider; another agent is unaffected.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { createCa, type Issued } from '../../scripts/dev-pki.ts';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.ts';
import { destinationsReadingBody } from '../../src/pipeline/body-destinations.ts';
import { fakeProviderValues, startEnvoy, type RunningEnvoy } from '../helpers/envoy.ts';
import { gatewayFetch } from '../helpers/sdk-fetch.ts';
import { startRedis, type RunningRedis } from '../helpers/redis.ts';
import { expectNoCanary } from '../helpers/canary.ts';
import { RESEARCH, bodyRulesConfig } from '../helpers/body-config.ts';

const OTHER = 'spiffe://example.org/ns/research/other';

describe('a budget through real Envoy, Redis and the OpenAI SDK', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-e2e-limits-'));
  const trust = createCa('example.org');
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: [RESEARCH] });
  const other = trust.issue('other', { uris: [OTHER] });
  const providerCa = createCa('providers');
  let redis: RunningRedis;
  let broker: TestBroker;
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let envoy: RunningEnvoy;

  const client = (svid: Issued) =>
    new OpenAI({ apiKey: 'sk-placeholder', baseURL: `https://gateway.local:${envoy.port}/openai/v1`, fetch: gatewayFetch(trust.cert, svid), maxRetries: 0, timeout: 10_000 });
  const ask = (svid: Issued) =>
    client(svid)
      .chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();

  before(async () => {
    redis = await startRedis();
    openai = await startFakeProvider('openai', providerCa.issue('api.openai.com', { dns: ['api.openai.com'] }));
    anthropic = await startFakeProvider('anthropic', providerCa.issue('api.anthropic.com', { dns: ['api.anthropic.com'] }));
    broker = await startTestBroker({
      dir,
      config: {
        ...bodyRulesConfig(),
        limits: {
          store: { redis: { url: redis.url, prefix: 'e2e:', timeout: '2s' } },
          rules: [{ id: 'agent-output', identities: ['spiffe://example.org/ns/research/*'], destinations: ['openai'], per: 'identity', tokens: { output: 150, per: '1d' } }],
        },
      },
    });
    envoy = await startEnvoy(
      dir,
      {
        GATEWAY_CERT: gateway.certFile,
        GATEWAY_KEY: gateway.keyFile,
        AGENT_CA: trust.certFile,
        TRUST_DOMAIN: 'example.org',
        KEYBROKER_SOCKET: broker.broker.address.replace('unix://', ''),
        ...fakeProviderValues(providerCa.certFile, openai.port, anthropic.port),
      },
      undefined,
      undefined,
      // The body on the routes whose destinations' rules and limits read it, as an operator sets it up.
      { bodyFor: [...destinationsReadingBody(broker.broker.runtime().config)] },
    );
  });

  after(async () => {
    await envoy?.stop();
    await broker?.stop();
    await openai?.close();
    await anthropic?.close();
    await redis?.stop();
    expectNoCanary(broker.logs.text(), 'keybroker log');
    rmSync(dir, { recursive: true, force: true });
  });

  it('tells the agent what is left, then refuses with 429 and retry-after; another agent goes on', async () => {
    // 150 output tokens a day, 64 reserved per request (its max_tokens): two requests.
    const first = await ask(research);
    expect(first.data).to.deep.include({ provider: 'openai', ok: true });
    expect(first.response.headers.get('x-keybroker-ratelimit-remaining-tokens')).to.equal('86');
    expect(first.response.headers.get('x-keybroker-ratelimit-limit')).to.equal('agent-output');
    expect((await ask(research)).response.headers.get('x-keybroker-ratelimit-remaining-tokens')).to.equal('22');

    const reached = openai.received.length;
    const error = await ask(research).then(
      () => expect.fail('the third request was allowed'),
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect(error).to.be.instanceOf(OpenAI.RateLimitError);
    expect(error.status).to.equal(429);
    expect(error.message).to.match(/^429 /);
    expect(error.message).to.include('budget_exhausted');
    const retryAfter = Number(error.headers?.get('retry-after'));
    expect(retryAfter).to.be.greaterThan(0).and.at.most(86_400);
    expect(error.code).to.equal('budget_exhausted');
    expect(openai.received.length, 'a refused request never reaches the provider').to.equal(reached);
    const record = broker.logs
      .lines()
      .map((l) => l['decision'] as { reason?: string; attributes?: Record<string, unknown> } | undefined)
      .filter((d) => d?.reason === 'budget_exhausted')
      .at(-1);
    expect(record?.attributes?.['keybroker.limit.id']).to.equal('agent-output');

    const theOther = await ask(other);
    expect(theOther.data).to.deep.include({ ok: true });
    expect(theOther.response.headers.get('x-keybroker-ratelimit-remaining-tokens')).to.equal('86');
  });
});
