/**
 * On a metered route the agent's `accept-encoding` must not reach the provider: a provider
 * that compresses (OpenAI and Anthropic do when asked; Node's fetch and Python's httpx ask
 * by default) would answer gzip, which the meter records unmetered (cause `encoding`),
 * and the budget would keep only the Check-time estimate. keybroker's allowed answer sets
 * `accept-encoding: identity` on destinations with `api: openai|anthropic`.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { createCa } from '../../scripts/dev-pki.ts';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.ts';
import { fakeProviderValues, gatewayValues, startEnvoy, type RunningEnvoy } from '../helpers/envoy.ts';
import { agentRequest } from '../helpers/agent.ts';
import { RESEARCH, bodyRulesConfig } from '../helpers/body-config.ts';
import { destinationsReadingBody } from '../../src/pipeline/body-destinations.ts';

describe('metered routes: the provider is asked for an identity-encoded answer', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'keybroker-enc-'));
  const trust = createCa('example.org');
  const gateway = trust.issue('gateway', { uris: ['spiffe://example.org/envoy/egress'], dns: ['gateway.local'] });
  const research = trust.issue('research', { uris: [RESEARCH] });
  const providerCa = createCa('providers');
  let broker: TestBroker;
  let openai: FakeProvider;
  let envoy: RunningEnvoy;

  before(async () => {
    openai = await startFakeProvider('openai', providerCa.issue('api.openai.com', { dns: ['api.openai.com'] }));
    broker = await startTestBroker({ dir, config: bodyRulesConfig() });
    envoy = await startEnvoy(dir, { ...gatewayValues(gateway, trust.certFile, broker.broker.address), ...fakeProviderValues(providerCa.certFile, openai.port, openai.port) }, undefined, undefined, {
      bodyFor: [...destinationsReadingBody(broker.broker.runtime().config)],
    });
  });
  after(async () => {
    await envoy?.stop();
    await broker?.stop();
    await openai?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('never asks the provider of a metered route for a compressed answer', async () => {
    const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    const response = await agentRequest({ port: envoy.port, gatewayCa: trust.cert, svid: research, path: '/openai/v1/chat/completions', headers: { 'accept-encoding': 'gzip, br' }, body });
    expect(response.status, response.body).to.equal(200);
    const asked = openai.headerValues(openai.received.at(-1)!, 'accept-encoding');
    expect(
      asked.filter((v) => !/^\s*identity\s*$/i.test(v)),
      'accept-encoding the provider received',
    ).to.deep.equal([]);
  });
});
