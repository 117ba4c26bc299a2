/**
 * A budget through real Envoy (the shipped envoy/egress-gateway.yaml), a real Redis and
 * the real OpenAI SDK: the agent sees what it has left on allowed answers; each call's
 * reservation (its max_tokens) is settled to what the provider says it used, metered by
 * keybroker through Envoy's ext_proc; once the budget cannot hold a request it gets 429
 * with retry-after as an SDK RateLimitError and nothing reaches the provider; another
 * agent is unaffected.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { createCa, type Issued } from '../../scripts/dev-pki.ts';
import { FAKE_USAGE, startFakeProvider, usageAnswers, type FakeProvider } from '../helpers/fake-provider.ts';
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
  const ask = (svid: Issued, maxTokens = 64) =>
    client(svid)
      .chat.completions.create({ model: 'gpt-4o-mini', max_tokens: maxTokens, messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();
  /** Waits for keybroker to have metered (and so settled) the provider's last answer. */
  const metered = async () => {
    const decisionId = openai.headerValues(openai.received.at(-1)!, 'x-request-id')[0];
    for (let i = 0; i < 100; i++) {
      if (broker.logs.lines().some((l) => (l['usage'] as { decisionId?: string } | undefined)?.decisionId === decisionId)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no usage record for ${decisionId}`);
  };

  before(async () => {
    redis = await startRedis();
    openai = await startFakeProvider('openai', providerCa.issue('api.openai.com', { dns: ['api.openai.com'] }), usageAnswers('openai', 'hello there').respond);
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

  it('tells the agent what is left, settles each call to its metered use, then refuses with 429 and retry-after; another agent goes on', async () => {
    // 150 output tokens a day, 64 reserved per request (its max_tokens), 5 really used.
    const used = FAKE_USAGE.openai.completion_tokens;
    const first = await ask(research);
    expect(first.data).to.deep.include({ object: 'chat.completion' });
    expect(first.response.headers.get('x-keybroker-ratelimit-remaining-tokens')).to.equal('86');
    expect(first.response.headers.get('x-keybroker-ratelimit-limit')).to.equal('agent-output');
    await metered();
    expect((await ask(research)).response.headers.get('x-keybroker-ratelimit-remaining-tokens')).to.equal(String(150 - used - 64));
    await metered();
    // 150 − 2 × 5 = 140 left: a request that may use 141 does not fit.

    const reached = openai.received.length;
    const error = await ask(research, 141).then(
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
    expect(theOther.data).to.deep.include({ object: 'chat.completion' });
    expect(theOther.response.headers.get('x-keybroker-ratelimit-remaining-tokens')).to.equal('86');
  });
});
