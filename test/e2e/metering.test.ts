/**
 * Usage metering through real Envoy running the shipped envoy/egress-gateway.yaml (ext_proc
 * in observability mode after ext_authz, on provider routes), with the real OpenAI and
 * Anthropic SDKs against the fake providers answering as the real APIs do, usage included,
 * streamed and not: each response yields one usage span in real Jaeger with the provider's
 * numbers and the cost from the price table, the child of its decision's keybroker.check
 * span; the agent receives exactly the bytes the provider sent; no prompt, completion or
 * key reaches a record, a log line or a span.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { createCa, type Issued } from '../../scripts/dev-pki.ts';
import { FAKE_USAGE, startFakeProvider, usageAnswers, type FakeProvider } from '../helpers/fake-provider.ts';
import { destinationsReadingBody } from '../../src/pipeline/body-destinations.ts';
import { fakeProviderValues, gatewayValues, GATEWAY_TEMPLATE, startEnvoy, type RunningEnvoy } from '../helpers/envoy.ts';
import { gatewayFetch } from '../helpers/sdk-fetch.ts';
import { CANARY_COMPLETION, CANARY_PROMPT, expectNoCanary } from '../helpers/canary.ts';
import { findSpans, jaegerPorts, startJaeger, traceJson, type JaegerPorts, type JaegerSpan, type RunningJaeger } from '../helpers/jaeger.ts';
import { RESEARCH, WRITER, bodyRulesConfig } from '../helpers/body-config.ts';
import { ATTR } from '../../src/audit/span.ts';
import { runCli } from '../helpers/process.ts';
import { USAGE_ATTR } from '../../src/audit/usage-span.ts';

const SERVICE = 'keybroker-metering';
const TEXT = `The answer is 42. ${CANARY_COMPLETION} Have a good day.`;
const PRICES = [
  { destination: 'openai', model: 'gpt-4o-mini*', inputPerMillion: '0.15', cachedInputPerMillion: '0.075', outputPerMillion: '0.60' },
  { destination: 'anthropic', model: 'claude-3-5-haiku*', inputPerMillion: '0.80', cachedInputPerMillion: '0.08', outputPerMillion: '4' },
];
// Exact decimals: 8 uncached + 4 cached input and 5 output tokens, (8×0.15 + 4×0.075 + 5×0.60) / 10⁶;
// 20 uncached + 3 cached input (Anthropic counts them apart) and 7 output, (20×0.80 + 3×0.08 + 7×4) / 10⁶.
const OPENAI_COST = '0.0000045';
const ANTHROPIC_COST = '0.00004424';

describe('usage metering through real Envoy, Jaeger and the provider SDKs', function () {
  this.timeout(90_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-e2e-metering-'));
  const trust = createCa('example.org');
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: [RESEARCH] });
  const writer = trust.issue('writer', { uris: [WRITER] });
  const providerCa = createCa('providers');
  let ports: JaegerPorts;
  let jaeger: RunningJaeger;
  let broker: TestBroker;
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let envoy: RunningEnvoy;

  const openaiClient = () =>
    new OpenAI({ apiKey: 'sk-placeholder', baseURL: `https://gateway.local:${envoy.port}/openai/v1`, fetch: gatewayFetch(trust.cert, research), maxRetries: 0, timeout: 10_000 });
  const anthropicClient = () =>
    new Anthropic({ apiKey: 'sk-placeholder', baseURL: `https://gateway.local:${envoy.port}/anthropic`, fetch: gatewayFetch(trust.cert, writer), maxRetries: 0, timeout: 10_000 });

  before(async () => {
    ports = await jaegerPorts();
    jaeger = await startJaeger(dir, ports);
    const openaiAnswers = usageAnswers('openai', TEXT);
    const anthropicAnswers = usageAnswers('anthropic', TEXT);
    openai = await startFakeProvider('openai', providerCa.issue('api.openai.com', { dns: ['api.openai.com'] }), openaiAnswers.respond, undefined, openaiAnswers.stream);
    anthropic = await startFakeProvider('anthropic', providerCa.issue('api.anthropic.com', { dns: ['api.anthropic.com'] }), anthropicAnswers.respond, undefined, anthropicAnswers.stream);
    broker = await startTestBroker({
      dir,
      config: {
        ...bodyRulesConfig(),
        prices: PRICES,
        telemetry: { serviceName: SERVICE, traces: { exporter: 'otlp', protocol: 'grpc', endpoint: `http://127.0.0.1:${ports.otlpGrpc}`, flushInterval: '100ms', exportTimeout: '2s' } },
      },
    });
    envoy = await startEnvoy(dir, { ...gatewayValues(gateway, trust.certFile, broker.broker.address), ...fakeProviderValues(providerCa.certFile, openai.port, anthropic.port) }, undefined, undefined, {
      // The body on the routes whose destinations' rules read it, as an operator sets it up.
      bodyFor: [...destinationsReadingBody(broker.broker.runtime().config)],
    });
  });

  after(async () => {
    await envoy?.stop();
    await broker?.stop();
    await openai?.close();
    await anthropic?.close();
    expectNoCanary(broker.logs.text(), 'keybroker log');
    expectNoCanary(readFileSync(envoy.accessLog, 'utf8'), 'Envoy access log');
    expectNoCanary(await traceJson(ports.query, SERVICE), 'the traces in Jaeger');
    await jaeger?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The decision id of the provider's last request (Envoy forwards x-request-id upstream). */
  const lastDecision = (provider: FakeProvider) => provider.headerValues(provider.received.at(-1)!, 'x-request-id')[0]!;
  const usageLine = async (decisionId: string) => {
    for (let i = 0; i < 100; i++) {
      const line = broker.logs.lines().find((l) => (l['usage'] as { decisionId?: string } | undefined)?.decisionId === decisionId);
      if (line) return line['usage'] as Record<string, unknown>;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no usage line for ${decisionId}`);
  };
  const tag = (span: JaegerSpan, key: string) => span.tags.find((t) => t.key === key)?.value;
  /** The usage span and the check span of one decision, as Jaeger has them. */
  const spansOf = async (decisionId: string) => {
    const spans = await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: decisionId }, 2);
    const usage = spans.filter((s) => s.operationName === 'keybroker.usage');
    const check = spans.filter((s) => s.operationName === 'keybroker.check');
    expect(usage, 'one usage span per response').to.have.length(1);
    expect(check, 'one check span per decision').to.have.length(1);
    expect(usage[0]!.traceID, 'in the decision’s trace').to.equal(check[0]!.traceID);
    expect(usage[0]!.references).to.deep.equal([{ refType: 'CHILD_OF', traceID: check[0]!.traceID, spanID: check[0]!.spanID }]);
    return usage[0]!;
  };
  const expectUsage = (span: JaegerSpan, expected: { input: number; cached: number; output: number; model: string; provider: string; cost: string; agent: string; destination: string }) => {
    expect(tag(span, USAGE_ATTR.inputTokens)).to.equal(expected.input);
    expect(tag(span, USAGE_ATTR.cachedInputTokens)).to.equal(expected.cached);
    expect(tag(span, USAGE_ATTR.outputTokens)).to.equal(expected.output);
    expect(tag(span, USAGE_ATTR.model)).to.equal(expected.model);
    expect(tag(span, USAGE_ATTR.provider)).to.equal(expected.provider);
    expect(tag(span, USAGE_ATTR.cost)).to.equal(expected.cost);
    expect(tag(span, ATTR.agentId)).to.equal(expected.agent);
    expect(tag(span, ATTR.destination)).to.equal(expected.destination);
  };
  const openaiExpected = {
    input: FAKE_USAGE.openai.prompt_tokens,
    cached: FAKE_USAGE.openai.cached_tokens,
    output: FAKE_USAGE.openai.completion_tokens,
    model: FAKE_USAGE.openai.model,
    provider: 'openai',
    cost: OPENAI_COST,
    agent: RESEARCH,
    destination: 'openai',
  };
  const anthropicExpected = {
    input: FAKE_USAGE.anthropic.input_tokens + FAKE_USAGE.anthropic.cache_read_input_tokens,
    cached: FAKE_USAGE.anthropic.cache_read_input_tokens,
    output: FAKE_USAGE.anthropic.output_tokens,
    model: FAKE_USAGE.anthropic.model,
    provider: 'anthropic',
    cost: ANTHROPIC_COST,
    agent: WRITER,
    destination: 'anthropic',
  };

  it('meters an OpenAI chat completion (JSON) and a streamed one (SSE, final usage chunk)', async () => {
    const completion = await openaiClient().chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: CANARY_PROMPT }] });
    expect(completion.choices[0]!.message.content).to.equal(TEXT);
    expect(completion.usage?.completion_tokens).to.equal(5);
    const plain = lastDecision(openai);
    expectUsage(await spansOf(plain), openaiExpected);
    const line = await usageLine(plain);
    expect(Object.keys(line)).to.deep.equal(['decisionId', 'identity', 'destination', 'api', 'model', 'metered', 'inputTokens', 'cachedInputTokens', 'outputTokens', 'costUsd']);
    expect(line).to.deep.include({
      decisionId: plain,
      identity: RESEARCH,
      destination: 'openai',
      api: 'openai',
      model: FAKE_USAGE.openai.model,
      metered: true,
      inputTokens: 12,
      cachedInputTokens: 4,
      outputTokens: 5,
    });
    expect(line['costUsd']).to.equal(OPENAI_COST);

    const stream = await openaiClient().chat.completions.create({
      model: 'gpt-4o-mini',
      max_tokens: 64,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: CANARY_PROMPT }],
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).to.equal(TEXT);
    expect(usage?.prompt_tokens).to.equal(12);
    expectUsage(await spansOf(lastDecision(openai)), openaiExpected);
  });

  it('meters an Anthropic message (JSON) and a streamed one (message_start … message_delta)', async () => {
    const message = await anthropicClient().messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: [{ role: 'user', content: CANARY_PROMPT }] });
    expect(message.content[0]).to.deep.include({ type: 'text', text: TEXT });
    expectUsage(await spansOf(lastDecision(anthropic)), anthropicExpected);

    const stream = await anthropicClient().messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 64, stream: true, messages: [{ role: 'user', content: CANARY_PROMPT }] });
    let text = '';
    for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    expect(text).to.equal(TEXT);
    expectUsage(await spansOf(lastDecision(anthropic)), anthropicExpected);
  });

  /** The raw bytes the agent receives for one request through the gateway. */
  const raw = (svid: Issued, path: string, body: string) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: envoy.port,
          servername: 'gateway.local',
          method: 'POST',
          path,
          ca: trust.cert,
          cert: svid.cert,
          key: svid.key,
          headers: { host: 'gateway.local', 'content-type': 'application/json' },
          agent: false,
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  it('hands the agent exactly the bytes the provider sent, streamed and not', async () => {
    const chat = (stream: boolean) =>
      JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 64, stream, ...(stream ? { stream_options: { include_usage: true } } : {}), messages: [{ role: 'user', content: 'hi' }] });
    const json = await raw(research, '/openai/v1/chat/completions', chat(false));
    expect(json.status).to.equal(200);
    expect(json.body.equals(Buffer.from(openai.sent.at(-1)!)), 'JSON body byte-identical').to.equal(true);
    const sse = await raw(research, '/openai/v1/chat/completions', chat(true));
    expect(sse.body.equals(Buffer.from(openai.sent.at(-1)!)), 'SSE body byte-identical').to.equal(true);
    const messages = await raw(writer, '/anthropic/v1/messages', JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }));
    expect(messages.body.equals(Buffer.from(anthropic.sent.at(-1)!)), 'Anthropic SSE byte-identical').to.equal(true);
    // Envoy sent every part and waited for nothing: no stream failed, keybroker answered nothing.
    const stats = await (await fetch(`http://127.0.0.1:${envoy.adminPort}/stats?filter=ext_proc`)).text();
    const stat = (name: string) => Number(new RegExp(`ext_proc\\.${name}: (\\d+)`).exec(stats)?.[1]);
    expect(stat('streams_started')).to.be.greaterThan(0);
    expect([stat('streams_failed'), stat('failure_mode_allowed'), stat('stream_msgs_received'), stat('message_timeouts')]).to.deep.equal([0, 0, 0, 0]);
    await usageLine(lastDecision(anthropic));
  });

  it('writes no usage record for a denied request: nothing reached the provider', async () => {
    const reached = openai.received.length;
    const denied = await raw(research, '/openai/v1/chat/completions', JSON.stringify({ model: 'gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }));
    expect(denied.status).to.equal(403);
    expect(openai.received.length).to.equal(reached);
    const decisionId = (JSON.parse(denied.body.toString()) as { decision_id: string }).decision_id;
    expect(denied.headers['x-request-id']).to.equal(decisionId);
    const record = broker.logs.lines().find((l) => (l['decision'] as { decisionId?: string; decision?: string } | undefined)?.decisionId === decisionId);
    expect((record?.['decision'] as { decision?: string } | undefined)?.decision).to.equal('deny');
    await new Promise((r) => setTimeout(r, 300));
    expect(broker.logs.lines().filter((l) => (l['usage'] as { decisionId?: string } | undefined)?.decisionId === decisionId)).to.deep.equal([]);
  });

  it('records a response that states no usage as unmetered, with its cause, never a guess', async () => {
    // A stream without stream_options.include_usage: the provider sends no usage at all.
    const before = broker.logs.lines().filter((l) => l['msg'] === 'usage').length;
    const streamed = await raw(research, '/openai/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }));
    expect(streamed.status).to.equal(200);
    const lines = async () => broker.logs.lines().filter((l) => l['msg'] === 'usage');
    for (let i = 0; i < 100 && (await lines()).length === before; i++) await new Promise((r) => setTimeout(r, 50));
    const last = (await lines()).at(-1)!['usage'] as Record<string, unknown>;
    expect(last).to.deep.include({ metered: false, cause: 'no_usage', inputTokens: 0, outputTokens: 0 });
    expect(last['costUsd']).to.equal(undefined);
  });

  it('writes the log lines `keybroker usage` sums: spend per agent, without a trace backend', async () => {
    const log = join(dir, 'decisions.log');
    writeFileSync(log, broker.logs.text());
    const result = runCli(['usage', log, '--by', 'agent', '--json']);
    expect(result.code, result.stderr).to.equal(0);
    const summary = JSON.parse(result.stdout) as { groups: Array<Record<string, unknown>>; malformedLines: number };
    expect(summary.malformedLines).to.equal(0);
    const writerGroup = summary.groups.find((g) => Object.values(g).includes(WRITER));
    // Two metered Anthropic calls, plus the raw streamed one: three times the same usage and cost.
    expect(writerGroup, JSON.stringify(summary.groups)).to.not.equal(undefined);
    expect(JSON.stringify(writerGroup)).to.include('0.00013272');
    expectNoCanary(result.stdout, 'keybroker usage output');
  });

  it('never fails the agent when keybroker cannot be reached for metering (failure_mode_allow)', async () => {
    // The shipped template with the metering cluster pointed at a socket nothing serves.
    const shipped = readFileSync(GATEWAY_TEMPLATE, 'utf8');
    const DEAD = 'endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: /nonexistent/keybroker-metering.sock } } } }] }]';
    expect(shipped.split('endpoints: *keybroker_endpoints').length, 'the metering cluster aliases the keybroker endpoints once').to.equal(2);
    const sub = join(dir, 'unreachable');
    mkdirSync(sub);
    const template = join(sub, 'gateway.yaml');
    writeFileSync(template, shipped.replace('endpoints: *keybroker_endpoints', DEAD));
    const unmetered = await startEnvoy(
      sub,
      { ...gatewayValues(gateway, trust.certFile, broker.broker.address), ...fakeProviderValues(providerCa.certFile, openai.port, anthropic.port) },
      template,
      undefined,
      {
        bodyFor: [...destinationsReadingBody(broker.broker.runtime().config)],
      },
    );
    try {
      const before = broker.logs.lines().filter((l) => l['msg'] === 'usage').length;
      const client = new OpenAI({ apiKey: 'sk-placeholder', baseURL: `https://gateway.local:${unmetered.port}/openai/v1`, fetch: gatewayFetch(trust.cert, research), maxRetries: 0, timeout: 10_000 });
      const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
      expect(completion.choices[0]!.message.content).to.equal(TEXT);
      const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 64, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).to.equal(TEXT);
      await new Promise((r) => setTimeout(r, 200));
      expect(broker.logs.lines().filter((l) => l['msg'] === 'usage').length, 'nothing metered, nothing failed').to.equal(before);
      // Envoy tried, failed and let the response through: the failure path, not a skipped filter.
      // Both streams tried (they open with the request headers), both failed and were let
      // through; the metering cluster counts every try that failed.
      const stats = await (await fetch(`http://127.0.0.1:${unmetered.adminPort}/stats?filter=ext_proc|keybroker_metering`)).text();
      const stat = (name: string) => Number(new RegExp(`${name.replaceAll('.', '\\.')}: (\\d+)`).exec(stats)?.[1]);
      expect(stat('ext_proc.streams_started')).to.equal(2);
      expect(stat('cluster.keybroker_metering.upstream_rq_pending_failure_eject')).to.equal(2);
      expect(stat('ext_proc.failure_mode_allowed')).to.equal(2);
      expect(stat('ext_proc.streams_failed')).to.equal(2);
    } finally {
      await unmetered.stop();
    }
  });
});
