/**
 * The limit phase through a real keybroker on a real socket (memory store): rate limits
 * and budgets per identity, team and tenant, the tightest winning; 429 with retry-after;
 * remaining-budget headers on allowed answers; the audit record, metrics and reloads.
 */
import { expect } from 'chai';
import { baseConfig, startTestBroker, TEST_KEYS, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { freePort } from '../helpers/envoy.ts';
import { expectNoCanary } from '../helpers/canary.ts';
import type { CheckResponseMessage } from '../../src/envoy/response.ts';
import { processorClient, requestHeaders, responseBody, responseHeaders as processingResponseHeaders, runStream } from '../helpers/ext-proc.ts';

const RESEARCH = 'spiffe://example.org/ns/research/summarizer';
const OTHER = 'spiffe://example.org/ns/research/analyst';

function limitsConfig(rules: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = baseConfig();
  const destinations = base['destinations'] as Record<string, Record<string, unknown>>;
  destinations['openai'] = { ...destinations['openai'], api: 'openai' };
  return { ...base, teams: { research: ['spiffe://example.org/ns/research/*'] }, limits: { estimate: { inputTokens: 100, outputTokens: 400, costUsd: '0.05' }, rules, ...extra } };
}

const responseHeaders = (r: CheckResponseMessage) => Object.fromEntries((r.ok_response?.response_headers_to_add ?? []).map((h) => [h.header.key, h.header.value]));
const deniedHeaders = (r: CheckResponseMessage) => Object.fromEntries((r.denied_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
const chat = (principal: string, body: object = { model: 'gpt-4o', messages: [] }) => envoyCheckRequest({ principal, body });

describe('limits through a real keybroker (memory store)', function () {
  this.timeout(20_000);
  let t: TestBroker;
  afterEach(async () => {
    await t?.stop();
  });

  it('rate-limits one identity with 429 and retry-after, leaving others alone', async () => {
    t = await startTestBroker({
      config: limitsConfig([{ id: 'research-rate', identities: ['spiffe://example.org/ns/research/*'], destinations: ['openai'], per: 'identity', requests: { rate: 2, per: '1m', burst: 2 } }]),
      keys: { ...TEST_KEYS, 'tools/search': 'a-tool-key' },
    });
    const first = await t.check(chat(RESEARCH));
    const second = await t.check(chat(RESEARCH));
    const third = await t.check(chat(RESEARCH));
    expect(first.status.code).to.equal(0);
    expect(responseHeaders(first)).to.deep.equal({ 'x-keybroker-ratelimit-limit': 'research-rate', 'x-keybroker-ratelimit-remaining-requests': '1' });
    // A request rate holds nothing to settle: no reservation for the usage record.
    expect(first.dynamic_metadata.fields).to.not.have.property('limit_reservation');
    expect(responseHeaders(second)['x-keybroker-ratelimit-remaining-requests']).to.equal('0');
    expect(third.denied_response?.status.code).to.equal(429);
    expect(deniedBody(third)).to.include({ reason: 'rate_limited' });
    // 2 a minute: the next token in 30 s.
    expect(deniedHeaders(third)).to.include({ 'retry-after': '30' });
    expect(third.ok_response).to.equal(undefined);
    // Another identity has its own counter; a destination outside the scope has none.
    expect((await t.check(chat(OTHER))).status.code).to.equal(0);
    const tools = await t.check(envoyCheckRequest({ principal: RESEARCH, destination: 'tools', host: 'tools.example.org', path: '/search' }));
    expect(tools.status.code).to.equal(0);
    expect(tools.ok_response?.response_headers_to_add ?? []).to.have.length(0);

    const decisions = t.logs
      .lines()
      .filter((l) => l['decision'])
      .map((l) => l['decision'] as { reason: string; attributes?: Record<string, unknown>; detail?: string });
    const denied = decisions.find((d) => d.reason === 'rate_limited')!;
    expect(denied.attributes).to.deep.include({ 'keybroker.limit.id': 'research-rate', 'keybroker.limit.retry_after_s': 30 });
    expect(denied.detail).to.match(/limit "research-rate" \(request rate of identity:spiffe:\/\/example.org\/ns\/research\/summarizer\)/);
    expect(decisions[0]!.attributes).to.deep.include({ 'keybroker.limit.id': 'research-rate', 'keybroker.limit.remaining.requests': 1 });
    expectNoCanary(t.logs.text(), 'the decision log');
  });

  it('applies identity, team and tenant limits together: the tightest wins', async () => {
    t = await startTestBroker({
      config: limitsConfig([
        { id: 'agent-day', identities: ['spiffe://example.org/ns/research/*'], per: 'identity', costUsd: { max: '0.20', per: '1d' } },
        { id: 'team-month', teams: ['research'], per: 'team', costUsd: { max: '0.25', per: 'month' } },
        { id: 'tenant-hour', per: 'tenant', tokens: { output: 100_000, per: '1h' } },
      ]),
    });
    // $0.05 a request: the agent's $0.20 allows 4, but the team's $0.25 is shared.
    const summarizer = [];
    for (let i = 0; i < 4; i++) summarizer.push(await t.check(chat(RESEARCH)));
    expect(summarizer.map((r) => r.status.code)).to.deep.equal([0, 0, 0, 0]);
    expect(responseHeaders(summarizer[3]!)).to.deep.include({ 'x-keybroker-ratelimit-limit': 'agent-day', 'x-keybroker-ratelimit-remaining-usd': '0.00' });
    expect(responseHeaders(summarizer[0]!)).to.deep.include({ 'x-keybroker-ratelimit-remaining-usd': '0.15', 'x-keybroker-ratelimit-remaining-tokens': '99600' });
    const fifth = await t.check(chat(RESEARCH));
    expect(deniedBody(fifth).reason).to.equal('budget_exhausted');
    expect(Number(deniedHeaders(fifth)['retry-after'])).to.be.greaterThan(0);
    // The analyst has its own agent budget, but only $0.05 of the team's is left.
    expect((await t.check(chat(OTHER))).status.code).to.equal(0);
    const analystAgain = await t.check(chat(OTHER));
    expect(deniedBody(analystAgain).reason).to.equal('budget_exhausted');
    const record = t.logs
      .lines()
      .map((l) => l['decision'] as { reason?: string; attributes?: Record<string, unknown> } | undefined)
      .filter((d) => d?.reason === 'budget_exhausted')
      .at(-1)!;
    expect(record.attributes?.['keybroker.limit.id']).to.equal('team-month');
  });

  it("reserves the body's max_tokens as the output estimate, and scopes limits by model", async () => {
    t = await startTestBroker({
      config: limitsConfig([
        { id: 'gpt4-output', models: ['gpt-4*'], tokens: { output: 1000, per: '1d' } },
        { id: 'mini-output', models: ['gpt-4o-mini'], tokens: { output: 10, per: '1d' } },
      ]),
    });
    const big = await t.check(chat(RESEARCH, { model: 'gpt-4o', max_tokens: 600, messages: [] }));
    expect(responseHeaders(big)).to.deep.include({ 'x-keybroker-ratelimit-remaining-tokens': '400' });
    expect(deniedBody(await t.check(chat(RESEARCH, { model: 'gpt-4o', max_tokens: 600, messages: [] }))).reason).to.equal('budget_exhausted');
    expect((await t.check(chat(RESEARCH, { model: 'gpt-4o', max_completion_tokens: 400, messages: [] }))).status.code).to.equal(0);
    // Another model, another scope: the gpt-4* budget is spent, the mini one is not consulted for gpt-3.5.
    expect((await t.check(chat(RESEARCH, { model: 'gpt-3.5-turbo', max_tokens: 5000, messages: [] }))).status.code).to.equal(0);
  });

  it('gives the reservation back when a later phase denies, and names it in the allowed answer for settling', async () => {
    // 1000 tokens a day at 500 reserved a request: two requests' worth.
    t = await startTestBroker({ config: limitsConfig([{ id: 'agent-tokens', identities: ['spiffe://example.org/ns/research/*'], per: 'identity', tokens: { total: 1000, per: '1d' } }]) });
    // The tools key is missing from the store: the credential phase, after limit, denies.
    const tools = () => t.check(envoyCheckRequest({ principal: RESEARCH, destination: 'tools', host: 'tools.example.org', path: '/search', requestId: 'tools-1' }));
    const unavailable = [await tools(), await tools(), await tools()];
    expect(unavailable.map((r) => deniedBody(r).reason)).to.deep.equal(['key_unavailable', 'key_unavailable', 'key_unavailable']);
    expect(unavailable[0]!.dynamic_metadata.fields).to.not.have.property('limit_reservation');
    // Nothing of the budget was spent by them.
    const chats = [await t.check(chat(RESEARCH)), await t.check(chat(RESEARCH)), await t.check(chat(RESEARCH))];
    expect(chats.map((r) => r.status.code)).to.deep.equal([0, 0, 8]);
    expect(deniedBody(chats[2]!).reason).to.equal('budget_exhausted');
    const reservation = chats[0]!.dynamic_metadata.fields['limit_reservation']?.stringValue;
    expect(reservation).to.match(/^req-0123456789abcdef#[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(chats[1]!.dynamic_metadata.fields['limit_reservation']?.stringValue).to.not.equal(reservation);
    const allowed = t.logs
      .lines()
      .map((l) => l['decision'] as { decision?: string; attributes?: Record<string, unknown> } | undefined)
      .find((d) => d?.decision === 'allow');
    expect(allowed?.attributes?.['keybroker.limit.reservation']).to.equal(reservation);
  });

  it("reserves at the model's price, and settles to the response's metered use (ExternalProcessor/Process)", async () => {
    const config = limitsConfig([{ id: 'agent', identities: ['spiffe://example.org/ns/research/*'], per: 'identity', tokens: { output: 1000, per: '1d' }, costUsd: { max: '1.00', per: '1d' } }]);
    // $2.50 per million input tokens is 2.5 µUSD a token; $10.00 per million output, 10 µUSD.
    config['prices'] = [{ destination: 'openai', model: 'gpt-4o*', inputPerMillion: '2.50', outputPerMillion: '10.00' }];
    t = await startTestBroker({ config });
    const processor = processorClient(t.broker.address);
    try {
      // As Envoy forwards the allowed answer's metadata to ext_proc, then the provider's response (the real meter reads it).
      const respond = async (answer: CheckResponseMessage, status: number, body: object) => {
        const forwarded = Object.fromEntries(Object.entries(answer.dynamic_metadata.fields).map(([k, v]) => [k, v.stringValue]));
        const result = await runStream(processor, [requestHeaders({ metadata: forwarded }), processingResponseHeaders(status), responseBody(JSON.stringify(body), true)]);
        expect(result.code).to.equal(0);
      };
      const ask = (model: string, maxTokens: number) => t.check(chat(RESEARCH, { model, max_tokens: maxTokens, messages: [] }));
      // Reserved: 100 input tokens (the configured estimate) and max_tokens 600, priced: 250 + 6,000 µUSD.
      const first = await ask('gpt-4o', 600);
      expect(responseHeaders(first)).to.deep.include({ 'x-keybroker-ratelimit-remaining-tokens': '400', 'x-keybroker-ratelimit-remaining-usd': '0.99375' });
      await respond(first, 200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        model: 'gpt-4o-2024-08-06',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 30, completion_tokens: 25, total_tokens: 55 },
      });
      // Settled to 25 output tokens and 30 × 2.5 + 25 × 10 = 325 µUSD, then 6,250 µUSD reserved again.
      const second = await ask('gpt-4o', 600);
      expect(responseHeaders(second)).to.deep.include({ 'x-keybroker-ratelimit-remaining-tokens': '375', 'x-keybroker-ratelimit-remaining-usd': '0.993425' });
      // An unmetered response (a provider error) keeps its whole estimate.
      await respond(second, 500, { error: { message: 'overloaded' } });
      const third = await ask('gpt-4o', 300);
      expect(responseHeaders(third)).to.deep.include({ 'x-keybroker-ratelimit-remaining-tokens': '75', 'x-keybroker-ratelimit-remaining-usd': '0.990175' });
      // A model the table does not price reserves the configured $0.05.
      const fourth = await ask('o1-mini', 50);
      expect(responseHeaders(fourth)).to.deep.include({ 'x-keybroker-ratelimit-remaining-tokens': '25', 'x-keybroker-ratelimit-remaining-usd': '0.940175' });
    } finally {
      processor.close();
    }
  });

  it('says through the process log when it cannot reach Redis, and denies limits_unavailable', async () => {
    t = await startTestBroker({
      config: limitsConfig([{ id: 'rate', per: 'identity', requests: { rate: 5, per: '1m' } }], { store: { redis: { url: 'redis://127.0.0.1:1', connectTimeout: '200ms' } } }),
    });
    const answer = await t.check(chat(RESEARCH));
    expect(answer.denied_response?.status.code).to.equal(503);
    expect(deniedBody(answer).reason).to.equal('limits_unavailable');
    const warning = () => t.logs.lines().find((l) => l['msg'] === 'limit store (Redis) unavailable');
    for (let i = 0; i < 100 && !warning(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(warning()).to.deep.include({ level: 40, service: 'keybroker', store: 'redis://127.0.0.1:1' });
  });

  it('keeps its counters across a reload, and counts refusals in keybroker_limited_total', async () => {
    const port = await freePort();
    const config: Record<string, unknown> = { ...limitsConfig([{ id: 'rate', per: 'identity', requests: { rate: 1, per: '1h' } }]), telemetry: { metrics: { prometheus: { port } } } };
    t = await startTestBroker({ config });
    expect((await t.check(chat(RESEARCH))).status.code).to.equal(0);
    // A reload that changes the policy but not the store must not hand out a fresh bucket.
    t.writeConfig({
      ...config,
      policy: [...(config['policy'] as unknown[]), { id: 'extra', identities: ['spiffe://example.org/ns/x'], destinations: ['openai'], methods: ['GET'], paths: ['/v1/models'] }],
    });
    expect(await t.broker.watcher.reload()).to.equal(true);
    expect(deniedBody(await t.check(chat(RESEARCH))).reason).to.equal('rate_limited');
    expect(deniedBody(await t.check(chat(RESEARCH))).reason).to.equal('rate_limited');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).to.match(/^keybroker_limited_total\{limit="rate",reason="rate_limited"\} 2$/m);
  });
});
