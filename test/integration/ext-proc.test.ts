/**
 * keybroker's ExternalProcessor/Process over its real socket, spoken to as Envoy's ext_proc
 * filter does — and as Envoy never would: no metadata, a forged decision id, a denied
 * decision, garbage bytes, an oversized message, a stream cut short. Every stream either
 * yields one usage record joined to its decision or is dropped and counted; none of them
 * affects Check or the server.
 */
import { expect } from 'chai';
import { Client, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { envoyCheckRequest } from '../helpers/envoy-request.ts';
import { freePort } from '../helpers/envoy.ts';
import { CANARY_KEY, CANARY_PROMPT, expectNoCanary } from '../helpers/canary.ts';
import { ALLOWED, joinedResponseHeaders, processorClient, requestHeaders, responseBody, responseHeaders, runStream } from '../helpers/ext-proc.ts';
import type { UsageRecord } from '../../src/usage/record.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startServer } from '../../src/server/grpc.ts';
import { Exchange } from '../../src/usage/exchange.ts';
import { createCa } from '../../scripts/dev-pki.ts';

const BODY = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: `the answer ${CANARY_PROMPT}` }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
});
const PRICES = [{ destination: 'openai', model: 'gpt-4o-mini*', inputPerMillion: '0.15', outputPerMillion: '0.60' }];
const chunks = (text: string, n: number) => Array.from({ length: n }, (_, i) => text.slice((i * text.length) / n, ((i + 1) * text.length) / n));

describe('ExternalProcessor/Process (usage metering) over the real socket', function () {
  this.timeout(20_000);
  let t: TestBroker;
  let client: Client;
  let metricsUrl: string;
  const records: UsageRecord[] = [];

  before(async () => {
    const port = await freePort();
    t = await startTestBroker({
      config: {
        ...baseConfig(),
        destinations: { ...(baseConfig()['destinations'] as object), openai: { ...(baseConfig()['destinations'] as Record<string, object>)['openai'], api: 'openai' } },
        prices: PRICES,
        telemetry: { metrics: { prometheus: { port } } },
      },
      start: { usageSinks: [(r) => records.push(r)] },
    });
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    client = processorClient(t.broker.address);
  });
  after(async () => {
    client.close();
    await t.stop();
    expectNoCanary(t.logs.text(), 'keybroker log');
  });
  beforeEach(() => {
    records.length = 0;
  });

  const dropped = async (cause: string) => {
    const line = (await (await fetch(metricsUrl)).text()).split('\n').find((l) => l.startsWith('keybroker_usage_streams_dropped_total{') && l.includes(`cause="${cause}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  const usageLines = () => t.logs.lines().filter((l) => l['msg'] === 'usage');

  it('records one usage record per response, joined to its decision by what Envoy forwards, then ends the stream', async () => {
    const metadata = { ...ALLOWED, person: 'alice@example.org', limit_reservation: 'decision-1.r', check_span: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    const result = await runStream(client, [requestHeaders({ metadata }), responseHeaders(), ...chunks(BODY, 3).map((c, i) => responseBody(c, i === 2))]);
    expect(result.code, 'keybroker ends the stream once the response ended').to.equal(GrpcStatus.OK);
    expect(result.responses, 'observability mode: no answers').to.deep.equal([]);
    expect(records).to.have.length(1);
    const record = records[0]!;
    expect(record).to.deep.include({
      decisionId: 'decision-1',
      identity: ALLOWED.identity,
      person: 'alice@example.org',
      destination: 'openai',
      api: 'openai',
      model: 'gpt-4o-mini',
      metered: true,
      inputTokens: 12,
      cachedInputTokens: 0,
      outputTokens: 5,
      cost: { usd: '0.0000048', micros: 5 },
      reservationId: 'decision-1.r',
      keyId: ALLOWED.key_id,
      checkSpan: metadata.check_span,
    });
    expect(record.endTime).to.be.at.least(record.startTime);
    await new Promise((r) => setTimeout(r, 20));
    const line = usageLines().at(-1)!;
    expect(Object.keys(line)).to.deep.equal(['level', 'time', 'service', 'usage', 'msg']);
    expect(line['usage']).to.deep.equal({
      decisionId: 'decision-1',
      identity: ALLOWED.identity,
      person: 'alice@example.org',
      destination: 'openai',
      api: 'openai',
      model: 'gpt-4o-mini',
      metered: true,
      inputTokens: 12,
      cachedInputTokens: 0,
      outputTokens: 5,
      costUsd: '0.0000048',
    });
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).to.match(/^keybroker_gen_ai_tokens_total\{[^}]*destination="openai"[^}]*model="gpt-4o-mini"[^}]*direction="output"[^}]*\} 5$/m);
    expect(metrics).to.match(/^keybroker_cost_usd_total\{[^}]*model="gpt-4o-mini"[^}]*\} 0\.0000048$/m);
  });

  it('records an unmetered response with its cause, and a stream cut short as cut', async () => {
    await runStream(client, [requestHeaders(), responseHeaders(500), responseBody('{"error":{}}', true)]);
    const cut = await runStream(client, [requestHeaders({ metadata: { ...ALLOWED, decision_id: 'decision-2' } }), responseHeaders(), responseBody(BODY.slice(0, 10), false)], { cancel: true });
    // A response that ends in trailers (its last body chunk without end_of_stream) is complete.
    const trailed = await runStream(client, [
      requestHeaders({ metadata: { ...ALLOWED, decision_id: 'decision-3' } }),
      responseHeaders(),
      responseBody(BODY, false),
      { response_trailers: { trailers: { headers: [{ key: 'x-trailer', raw_value: Buffer.from('1') }] } }, observability_mode: true },
    ]);
    expect(trailed.code).to.equal(GrpcStatus.OK);
    expect(cut.code).to.equal(GrpcStatus.CANCELLED);
    await new Promise((r) => setTimeout(r, 50));
    expect(records.map((r) => [r.decisionId, r.metered, r.cause, r.outputTokens])).to.deep.equal([
      ['decision-1', false, 'status', 0],
      ['decision-2', false, 'cut', 0],
      ['decision-3', true, undefined, 5],
    ]);
    expect(records[0]!.cost).to.equal(undefined);
  });

  it('drops, without a record, a stream whose decision Envoy did not forward — whatever the headers claim', async () => {
    const before = await dropped('no_decision');
    const result = await runStream(client, [
      requestHeaders({ metadata: undefined, requestId: 'decision-1', headers: { 'x-keybroker-decision-id': 'decision-1', decision_id: 'decision-1' } }),
      responseHeaders(),
      responseBody(BODY, true),
    ]);
    expect(result.code).to.equal(GrpcStatus.OK);
    expect(records).to.deep.equal([]);
    expect(await dropped('no_decision')).to.equal(before + 1);
  });

  it('drops a stream whose x-request-id is not the forwarded decision id (a forged or mixed-up join)', async () => {
    const before = await dropped('id_mismatch');
    await runStream(client, [requestHeaders({ requestId: 'decision-someone-else' }), responseHeaders(), responseBody(BODY, true)]);
    await runStream(client, [requestHeaders({ requestId: null }), responseHeaders(), responseBody(BODY, true)]);
    expect(records).to.deep.equal([]);
    expect(await dropped('id_mismatch')).to.equal(before + 2);
  });

  it('drops a denied decision, a destination without api, and metadata that is not what a Check writes', async () => {
    const denied = await dropped('not_allowed');
    const notMetered = await dropped('not_metered');
    const noDecision = await dropped('no_decision');
    await runStream(client, [requestHeaders({ metadata: { ...ALLOWED, decision: 'deny' } }), responseHeaders(403), responseBody('{}', true)]);
    await runStream(client, [requestHeaders({ metadata: { ...ALLOWED, destination: 'tools' } }), responseHeaders(), responseBody(BODY, true)]);
    await runStream(client, [requestHeaders({ metadata: { ...ALLOWED, decision: 'maybe' } }), responseHeaders(), responseBody(BODY, true)]);
    await runStream(client, [requestHeaders({ metadata: { ...ALLOWED, decision_id: 'not an id', identity: 'x' } }), responseHeaders(), responseBody(BODY, true)]);
    expect(records).to.deep.equal([]);
    expect(await dropped('not_allowed')).to.equal(denied + 1);
    expect(await dropped('not_metered')).to.equal(notMetered + 1);
    expect(await dropped('no_decision')).to.equal(noDecision + 2);
  });

  it('joins with the response headers when a config skips the request headers', async () => {
    const mismatch = await dropped('id_mismatch');
    const denied = await dropped('not_allowed');
    const noDecision = await dropped('no_decision');
    const requestTime = '2026-11-29T04:11:13.051453+00:00';
    const result = await runStream(client, [joinedResponseHeaders({ requestTime }), ...chunks(BODY, 2).map((c, i) => responseBody(c, i === 1))]);
    expect(result.code).to.equal(GrpcStatus.OK);
    // request.id (the request's x-request-id) cross-checks the decision id as the header does.
    await runStream(client, [joinedResponseHeaders({ requestId: 'decision-someone-else' }), responseBody(BODY, true)]);
    // A denial's local reply, and a request.id without a forwarded decision: never recorded.
    await runStream(client, [joinedResponseHeaders({ metadata: { ...ALLOWED, decision: 'deny' }, status: 403 }), responseBody('{}', true)]);
    await runStream(client, [joinedResponseHeaders({ metadata: undefined, requestId: 'decision-1' }), responseBody(BODY, true)]);
    expect(records.map((r) => [r.decisionId, r.metered, r.outputTokens, r.startTime])).to.deep.equal([['decision-1', true, 5, Date.parse(requestTime)]]);
    expect(await dropped('id_mismatch')).to.equal(mismatch + 1);
    expect(await dropped('not_allowed')).to.equal(denied + 1);
    expect(await dropped('no_decision')).to.equal(noDecision + 1);
  });

  it('ends the stream at the response headers when they decide the reading: no body is read', async () => {
    // Not 200, compressed, not JSON: the record is known; Envoy stops copying the body.
    const failed = await runStream(client, [joinedResponseHeaders({ status: 429 })], { waitMs: 2000 });
    const image = await runStream(client, [joinedResponseHeaders({ metadata: { ...ALLOWED, decision_id: 'decision-2' }, contentType: 'image/png' })], { waitMs: 2000 });
    expect([failed.code, image.code]).to.deep.equal([GrpcStatus.OK, GrpcStatus.OK]);
    expect(records.map((r) => [r.decisionId, r.metered, r.cause])).to.deep.equal([
      ['decision-1', false, 'status'],
      ['decision-2', false, 'content_type'],
    ]);
  });

  it('drops a response out of order (not what Envoy sends)', async () => {
    const before = await dropped('out_of_order');
    const result = await runStream(client, [responseHeaders(), responseBody(BODY, true)]);
    expect(result.code).to.equal(GrpcStatus.OK);
    expect(records).to.deep.equal([]);
    expect(await dropped('out_of_order')).to.equal(before + 1);
  });

  it('answers "continue" to every part when Envoy waits for answers (no observability mode), never changing anything', async () => {
    const result = await runStream(client, [requestHeaders({ observability: false }), responseHeaders(200, 'application/json', {}, false), responseBody(BODY, true, false)]);
    expect(result.code).to.equal(GrpcStatus.OK);
    expect(result.responses.map((r) => r['response'])).to.deep.equal(['request_headers', 'response_headers', 'response_body']);
    for (const response of result.responses) {
      const part = response[response['response'] as string] as Record<string, unknown>;
      expect(part['response'] ?? null, 'no mutation').to.equal(null);
    }
    expect(records).to.have.length(1);
  });

  it('drops a message that does not decode and one over the size limit; Check and Process go on', async () => {
    const malformed = await dropped('malformed');
    // A body field whose length runs past the message: not protobuf Envoy sends.
    const raw = new Client(t.broker.address, credentials.createInsecure());
    const garbage = await new Promise<{ code: number }>((resolve) => {
      const call = raw.makeBidiStreamRequest(
        '/envoy.service.ext_proc.v3.ExternalProcessor/Process',
        (b: Buffer) => b,
        (b: Buffer) => b,
      );
      call.on('status', resolve);
      call.on('error', () => {});
      call.write(Buffer.from([0x2a, 0xff, 0x01, 0x00]));
    });
    raw.close();
    expect(garbage.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
    expect(await dropped('malformed')).to.equal(malformed + 1);

    // Over the 2 MiB message limit: refused by gRPC itself; the exchange it cut short is recorded as cut.
    const huge = await runStream(client, [requestHeaders(), responseHeaders(), responseBody(Buffer.alloc(3 * 1024 * 1024, 0x61), true)]);
    expect(huge.code).to.equal(GrpcStatus.RESOURCE_EXHAUSTED);

    // Many large chunks: each is metered and let go; the stream still ends with a record.
    const big = await runStream(client, [
      requestHeaders(),
      responseHeaders(200, 'text/plain'),
      ...Array.from({ length: 16 }, () => responseBody(Buffer.alloc(1024 * 1024, 0x61), false)),
      responseBody('', true),
    ]);
    expect(big.code).to.equal(GrpcStatus.OK);
    expect(records.map((r) => r.cause)).to.deep.equal(['cut', 'content_type']);

    const check = await t.check(envoyCheckRequest());
    expect(check.status.code).to.equal(0);
    expect((await runStream(client, [requestHeaders(), responseHeaders(), responseBody(BODY, true)])).code).to.equal(GrpcStatus.OK);
    expect(records.map((r) => r.metered)).to.deep.equal([false, false, true]);
    expectNoCanary(JSON.stringify(records), 'usage records');
    expect(JSON.stringify(records)).to.not.include(CANARY_KEY);
  });
});

describe('ExternalProcessor/Process over TCP with mTLS: the same caller allowlist as Check', () => {
  it('refuses a caller that is not on the allowlist', async () => {
    const ca = createCa('mesh.local');
    const serverCert = ca.issue('keybroker', { uris: ['spiffe://mesh.local/keybroker'], dns: ['keybroker.local'], ips: ['127.0.0.1'] });
    const envoy = ca.issue('envoy', { uris: ['spiffe://mesh.local/envoy/egress'] });
    const intruder = ca.issue('intruder', { uris: ['spiffe://mesh.local/agent/research'] });
    const port = await freePort();
    const t = await startTestBroker({
      listen: { address: `127.0.0.1:${port}`, tls: { cert: serverCert.certFile, key: serverCert.keyFile, clientCa: ca.certFile, allowedCallers: ['spiffe://mesh.local/envoy/*'] } },
      clientCredentials: credentials.createSsl(Buffer.from(ca.cert), Buffer.from(envoy.key), Buffer.from(envoy.cert)),
      clientOptions: { 'grpc.ssl_target_name_override': 'keybroker.local' },
    });
    const options = { 'grpc.ssl_target_name_override': 'keybroker.local' };
    const allowed = processorClient(t.broker.address, credentials.createSsl(Buffer.from(ca.cert), Buffer.from(envoy.key), Buffer.from(envoy.cert)), options);
    const refused = processorClient(t.broker.address, credentials.createSsl(Buffer.from(ca.cert), Buffer.from(intruder.key), Buffer.from(intruder.cert)), options);
    try {
      expect((await runStream(refused, [requestHeaders()])).code).to.equal(GrpcStatus.PERMISSION_DENIED);
      // The allowlisted caller's stream is served (and dropped: openai has no api here).
      expect((await runStream(allowed, [requestHeaders()])).code).to.equal(GrpcStatus.OK);
    } finally {
      allowed.close();
      refused.close();
      await t.stop();
    }
  });
});

describe('ExternalProcessor/Process: bounded open streams, and a failing exchange never takes the server down', () => {
  it('refuses streams beyond the cap, counts them, and serves again once one ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybroker-ext-proc-cap-'));
    const drops: string[] = [];
    let broken = false;
    const server = await startServer(
      { kind: 'unix', path: join(dir, 'authz.sock') },
      () => {
        throw new Error('no Check here');
      },
      pino({ level: 'silent' }),
      () => 'essential',
      {
        exchange: () =>
          new Exchange({
            apiOf: () => 'openai',
            meter: () => {
              if (broken) throw new Error('a bug in a meter');
              return { write: () => {}, end: () => ({ metered: false, cause: 'no_usage' }) };
            },
            cost: () => undefined,
            record: () => {},
          }),
        dropped: (cause) => drops.push(cause),
        maxStreams: 1,
      },
    );
    const client = processorClient(server.address);
    try {
      // The first stream stays open (no response yet); the second is over the cap.
      const first = runStream(client, [requestHeaders()], { waitMs: 1500 });
      await new Promise((r) => setTimeout(r, 200));
      expect((await runStream(client, [requestHeaders()])).code).to.equal(GrpcStatus.RESOURCE_EXHAUSTED);
      expect(drops).to.deep.equal(['too_many_streams']);
      expect((await first).code, 'the open stream was left alone (the client gave up on it)').to.equal(undefined);
      await new Promise((r) => setTimeout(r, 100));
      expect((await runStream(client, [requestHeaders(), responseHeaders(), responseBody('{}', true)])).code).to.equal(GrpcStatus.OK);
      broken = true;
      expect((await runStream(client, [requestHeaders(), responseHeaders()])).code).to.equal(GrpcStatus.INTERNAL);
      expect(drops).to.deep.equal(['too_many_streams', 'malformed']);
      broken = false;
      expect((await runStream(client, [requestHeaders(), responseHeaders(), responseBody('{}', true)])).code).to.equal(GrpcStatus.OK);
    } finally {
      client.close();
      await server.shutdown({ graceMs: 500 });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
