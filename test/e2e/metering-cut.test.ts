/**
 * An agent cannot suppress the usage record of a request that reached the provider by
 * going away before the provider answers: through real Envoy running the shipped
 * envoy/egress-gateway.yaml, the agent's request reaches a provider stand-in that holds its
 * answer, the agent hangs up, and keybroker still records the exchange (unmetered, `cut`)
 * so its budget reservation is settled as charged, not left to time out. The request id
 * that joins the record is Envoy's own: the one the agent sent is replaced.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { destinationsReadingBody } from '../../src/pipeline/body-destinations.ts';
import { fakeProviderValues, gatewayValues, startEnvoy, type RunningEnvoy } from '../helpers/envoy.ts';
import { RESEARCH, bodyRulesConfig } from '../helpers/body-config.ts';

describe('a metered request the agent abandons before the provider answers', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-e2e-metering-cut-'));
  const trust = createCa('example.org');
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: [RESEARCH] });
  const providerCa = createCa('providers');
  let broker: TestBroker;
  let envoy: RunningEnvoy;
  // A stand-in provider that takes the request and holds its answer until the test ends.
  const received: Array<{ requestId: string | undefined }> = [];
  let provider: Server;

  before(async () => {
    const issued = providerCa.issue('api.openai.com', { dns: ['api.openai.com', 'api.anthropic.com'] });
    provider = createServer({ cert: issued.cert, key: issued.key }, (req) => {
      req.resume();
      req.on('end', () => received.push({ requestId: req.headers['x-request-id'] as string | undefined }));
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    const port = (provider.address() as AddressInfo).port;
    broker = await startTestBroker({ dir, config: bodyRulesConfig() });
    envoy = await startEnvoy(dir, { ...gatewayValues(gateway, trust.certFile, broker.broker.address), ...fakeProviderValues(providerCa.certFile, port, port) }, undefined, undefined, {
      bodyFor: [...destinationsReadingBody(broker.broker.runtime().config)],
    });
  });

  after(async () => {
    await envoy?.stop();
    await broker?.stop();
    provider?.closeAllConnections();
    await new Promise<void>((resolve) => (provider ? provider.close(() => resolve()) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('records it as cut, joined by the request id Envoy set, not the one the agent sent', async () => {
    const req = request({
      host: '127.0.0.1',
      port: envoy.port,
      servername: 'gateway.local',
      method: 'POST',
      path: '/openai/v1/chat/completions',
      ca: trust.cert,
      cert: research.cert,
      key: research.key,
      headers: { host: 'gateway.local', 'content-type': 'application/json', 'x-request-id': 'agent-chosen-id' },
      agent: false,
    });
    req.on('error', () => undefined);
    req.end(JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }));
    for (let i = 0; i < 200 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(received, 'the request reached the provider').to.have.length(1);
    const decisionId = received[0]!.requestId!;
    expect(decisionId).to.be.a('string').and.not.equal('agent-chosen-id');
    // The agent hangs up before the provider's response headers.
    req.destroy();
    let usage: Record<string, unknown> | undefined;
    for (let i = 0; i < 240 && !usage; i++) {
      usage = broker.logs.lines().find((l) => (l['usage'] as { decisionId?: string } | undefined)?.decisionId === decisionId)?.['usage'] as Record<string, unknown> | undefined;
      if (!usage) await new Promise((r) => setTimeout(r, 50));
    }
    expect(usage, 'a usage record for the abandoned request').to.deep.include({ decisionId, identity: RESEARCH, destination: 'openai', metered: false, cause: 'cut' });
  });
});
