/**
 * Every decision is one span in a real Jaeger: the audit record's attributes, exactly;
 * continuing Envoy's trace; nothing secret; and decisions unaffected when Jaeger is gone.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { baseConfig, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { deniedBody, envoyCheckRequest } from '../helpers/envoy-request.ts';
import { CANARY_AGENT_TOKEN, expectNoCanary } from '../helpers/canary.ts';
import { findSpans, jaegerPorts, startJaeger, traceJson, type JaegerPorts, type RunningJaeger } from '../helpers/jaeger.ts';
import { ATTR } from '../../src/audit/span.ts';
import { ROOT } from '../helpers/process.ts';

const SERVICE = 'keybroker-audit-test';

describe('the audit record in a real Jaeger', function () {
  this.timeout(90_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-audit-'));
  let ports: JaegerPorts;
  let jaeger: RunningJaeger;
  let t: TestBroker;

  const telemetry = (protocol: 'grpc' | 'http/protobuf') => ({
    serviceName: SERVICE,
    traces: {
      exporter: 'otlp',
      protocol,
      endpoint: protocol === 'grpc' ? `http://127.0.0.1:${ports.otlpGrpc}` : `http://127.0.0.1:${ports.otlpHttp}`,
      flushInterval: '100ms',
      exportTimeout: '1s',
      queueSize: 100,
    },
  });
  const tagsOf = (span: { tags: Array<{ key: string; value: unknown }> }) =>
    Object.fromEntries(span.tags.filter((t) => !t.key.startsWith('otel.') && t.key !== 'span.kind' && t.key !== 'error' && t.key !== 'internal.span.format').map((t) => [t.key, String(t.value)]));

  before(async () => {
    ports = await jaegerPorts();
    jaeger = await startJaeger(dir, ports);
    t = await startTestBroker({ config: { ...baseConfig(), telemetry: telemetry('grpc') } });
  });
  after(async () => {
    await t?.stop();
    await jaeger?.stop();
  });

  it("records an allowed decision as one SERVER span with exactly the audit attributes, linking the agent's traceparent", async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const response = await t.check(envoyCheckRequest({ requestId: 'audit-allow-1', headers: { traceparent: `00-${traceId}-${parentId}-01`, authorization: `Bearer ${CANARY_AGENT_TOKEN}` } }));
    expect(response.status.code).to.equal(0);
    const [span, ...more] = await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: 'audit-allow-1' });
    expect(more).to.have.length(0);
    expect(span, 'span in Jaeger').to.not.equal(undefined);
    expect(span!.operationName).to.equal('keybroker.check');
    expect(span!.traceID, 'the agent does not choose the trace the record lands in').to.not.equal(traceId);
    expect(span!.references).to.deep.equal([{ refType: 'FOLLOWS_FROM', traceID: traceId, spanID: parentId }]);
    expect(span!.tags.find((x) => x.key === 'span.kind')?.value).to.equal('server');
    const tags = tagsOf(span!);
    expect(tags).to.deep.equal({
      [ATTR.decisionId]: 'audit-allow-1',
      [ATTR.decision]: 'allow',
      [ATTR.reason]: 'allowed',
      [ATTR.method]: 'POST',
      [ATTR.agentId]: 'spiffe://example.org/ns/research/summarizer',
      [ATTR.agentProof]: 'x509-svid',
      [ATTR.destination]: 'openai',
      [ATTR.upstream]: 'api.openai.com',
      [ATTR.classification]: 'confidential',
      [ATTR.policyVersion]: t.broker.runtime().policy.version,
      [ATTR.rule]: 'research-openai',
      [ATTR.keyId]: tags[ATTR.keyId],
    });
    expect(tags[ATTR.keyId]).to.match(/^file:openai\/prod#[0-9a-f]{12}$/);
  });

  it("exports the record whatever the sampled flags say: the agent's (00) and Envoy's own (00)", async () => {
    const agentTrace = randomBytes(16).toString('hex');
    const envoyTrace = randomBytes(16).toString('hex');
    const envoySpan = randomBytes(8).toString('hex');
    await t.check(envoyCheckRequest({ requestId: 'audit-unsampled-agent', headers: { traceparent: `00-${agentTrace}-${randomBytes(8).toString('hex')}-00` } }));
    await t.check(envoyCheckRequest({ requestId: 'audit-unsampled-envoy', headers: { traceparent: `00-${agentTrace}-${randomBytes(8).toString('hex')}-00` } }), {
      metadata: { traceparent: `00-${envoyTrace}-${envoySpan}-00` },
    });
    expect(await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: 'audit-unsampled-agent' }), 'agent says not sampled').to.have.length(1);
    const [underEnvoy, ...more] = await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: 'audit-unsampled-envoy' });
    expect(more).to.have.length(0);
    expect(underEnvoy!.traceID, "continues Envoy's trace, from the Check's gRPC metadata").to.equal(envoyTrace);
    expect(underEnvoy!.references).to.deep.include({ refType: 'CHILD_OF', traceID: envoyTrace, spanID: envoySpan });
  });

  it('records a denial, and an internal failure with status ERROR', async () => {
    await t.check(envoyCheckRequest({ requestId: 'audit-deny-1', principal: 'spiffe://example.org/ns/other/x' }));
    const [denied] = await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: 'audit-deny-1' });
    expect(tagsOf(denied!)).to.include({ [ATTR.decision]: 'deny', [ATTR.reason]: 'no_matching_grant' });
    expect(tagsOf(denied!)).to.not.have.property(ATTR.keyId);

    const unavailable = await t.check(envoyCheckRequest({ requestId: 'audit-503', destination: 'tools', host: 'tools.example.org', path: '/q' }));
    expect(deniedBody(unavailable).reason).to.equal('key_unavailable');
    const [failed] = await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: 'audit-503' });
    expect(failed!.tags.find((x) => x.key === 'otel.status_code')?.value).to.equal('ERROR');
    expect(tagsOf(failed!)).to.include({ [ATTR.errorType]: 'key_unavailable' });
  });

  it('exports one span per decision', async () => {
    for (let i = 0; i < 10; i++) await t.check(envoyCheckRequest({ requestId: `audit-many-${i}`, principal: i % 2 ? 'spiffe://example.org/ns/other/x' : undefined }));
    for (let i = 0; i < 10; i++) expect(await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: `audit-many-${i}` })).to.have.length(1);
  });

  it('puts no key and no token in any span, attribute, event or resource', async () => {
    expectNoCanary(await traceJson(ports.query, SERVICE), 'the traces in Jaeger');
    expectNoCanary(t.logs.text(), 'the log');
  });

  it('keeps deciding at full speed with Jaeger killed, counts the dropped records, and resumes when it returns', async () => {
    await jaeger.stop();
    const before = t.broker.telemetry.queue!.stats.dropped;
    const outcomes: number[] = [];
    for (let i = 0; i < 40; i++) {
      const response = await t.check(envoyCheckRequest({ requestId: `audit-down-${i}`, principal: i % 4 ? undefined : 'spiffe://example.org/ns/other/x' }));
      outcomes.push(response.status.code);
    }
    expect(outcomes.filter((c) => c === 0)).to.have.length(30);
    await t.broker.telemetry.queue!.forceFlush();
    expect(t.broker.telemetry.queue!.stats.dropped).to.be.greaterThan(before);
    expect(t.logs.text()).to.include('audit records dropped');

    // Back up: the exporter reconnects (after its gRPC backoff) and records flow again.
    jaeger = await startJaeger(dir, ports);
    let resumed = false;
    for (let i = 0; i < 30 && !resumed; i++) {
      await t.check(envoyCheckRequest({ requestId: `audit-after-restart-${i}` }));
      resumed = (await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: `audit-after-restart-${i}` }, 1, 1000)).length === 1;
    }
    expect(resumed, 'export resumed after Jaeger came back').to.equal(true);
  });

  it('puts what a shadow deny rule on the demo would have done on the span of the request it let through', async () => {
    const demo = parse(readFileSync(join(ROOT, 'examples/keybroker.yaml'), 'utf8')) as Record<string, unknown> & { policy: unknown[]; trust: Record<string, { bundle: { file: string } }> };
    demo.trust['demo.local']!.bundle.file = join(ROOT, 'examples/demo-jwt/bundle.jwks');
    delete demo['listen'];
    demo.policy.push({ id: 'shadow-pause-research', mode: 'shadow', effect: 'deny', identities: ['spiffe://demo.local/agent/research'], destinations: ['openai'] });
    const shadow = await startTestBroker({ config: { ...demo, telemetry: telemetry('grpc') } });
    try {
      const response = await shadow.check(envoyCheckRequest({ requestId: 'audit-shadow-1', principal: 'spiffe://demo.local/agent/research', host: 'localhost' }));
      expect(response.status.code, 'research stays allowed').to.equal(0);
      const [span] = await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: 'audit-shadow-1' });
      expect(tagsOf(span!)).to.include({
        [ATTR.decision]: 'allow',
        [ATTR.rule]: 'research-agents-openai',
        [ATTR.shadowDecision]: 'deny',
        [ATTR.shadowReason]: 'denied_by_rule',
        [ATTR.shadowRule]: 'shadow-pause-research',
      });
    } finally {
      await shadow.stop();
    }
  });

  it('exports over OTLP HTTP/protobuf too', async () => {
    const http = await startTestBroker({ config: { ...baseConfig(), telemetry: telemetry('http/protobuf') } });
    try {
      await http.check(envoyCheckRequest({ requestId: 'audit-http-1' }));
      expect(await findSpans(ports.query, SERVICE, { [ATTR.decisionId]: 'audit-http-1' })).to.have.length(1);
    } finally {
      await http.stop();
    }
  });
});
